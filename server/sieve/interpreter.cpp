// evaluate(): runs a validated Script against one message. The only
// recursion is over the script's own nesting (blocks and tests), which
// compile() bounded by Limits::max_nesting; every loop is over the script
// or the message, both bounded.
#include <algorithm>
#include <map>

#include "server/sieve/ast.h"
#include "server/sieve/match.h"
#include "server/sieve/support.h"
#include "server/sieve/text.h"
#include "store/base/ascii.h"
#include "store/mail/message.h"

namespace cyr::sieve {

namespace {

// How many :matches steps one whole run may take, in units of one
// comparison's bound: a script of many small comparisons stays cheap, and
// no script can spend more than this.
constexpr size_t kRunMatchBudget = 64;

constexpr const char* kRejectConflict = "reject cannot be combined with keep, fileinto, redirect or vacation";

std::vector<std::string> split_words(std::string_view s) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n')) ++i;
    size_t start = i;
    while (i < s.size() && !(s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n')) ++i;
    if (i > start) out.emplace_back(s.substr(start, i - start));
  }
  return out;
}

// RFC 5232 3: a flag list is a space-separated string; duplicates
// (case-insensitive) collapse.
std::string join_flags(const std::vector<std::string>& flags) {
  std::vector<std::string> unique;
  for (const auto& f : flags) {
    bool dup = std::any_of(unique.begin(), unique.end(), [&](const std::string& u) { return iequals(u, f); });
    if (!dup) unique.push_back(f);
  }
  std::string out;
  for (const auto& f : unique) {
    if (!out.empty()) out += ' ';
    out += f;
  }
  return out;
}

// The flags an action carries: system flags in their canonical spelling,
// keywords that are IMAP atoms; anything else (a bad "\Foo", "(x)") is
// dropped, as RFC 5232 allows.
std::vector<std::string> action_flags(std::string_view list) {
  static const char* const kSystem[] = {"\\Seen", "\\Answered", "\\Flagged", "\\Deleted", "\\Draft"};
  std::vector<std::string> out;
  for (auto& word : split_words(list)) {
    std::string flag;
    if (word[0] == '\\') {
      for (const char* s : kSystem)
        if (iequals(word, s)) flag = s;
    } else {
      bool atom = std::all_of(word.begin(), word.end(), [](char c) {
        unsigned char u = static_cast<unsigned char>(c);
        return u > 0x20 && u < 0x7f && c != '(' && c != ')' && c != '{' && c != '%' && c != '*' && c != '"' &&
               c != '\\' && c != ']';
      });
      if (atom) flag = word;
    }
    if (flag.empty()) continue;
    if (std::none_of(out.begin(), out.end(), [&](const std::string& f) { return iequals(f, flag); }))
      out.push_back(std::move(flag));
  }
  return out;
}

void merge_flags(std::vector<std::string>& into, const std::vector<std::string>& more) {
  for (const auto& f : more)
    if (std::none_of(into.begin(), into.end(), [&](const std::string& g) { return iequals(g, f); })) into.push_back(f);
}

bool is_inbox(std::string_view mailbox) { return iequals(mailbox, "INBOX"); }

// The address part of local@domain (RFC 5228 2.7.4, RFC 5233 subaddress
// with "+"); nullopt when the part does not exist (:detail without "+").
std::optional<std::string> address_part(std::string_view local, std::string_view domain, AddressPart part) {
  switch (part) {
    case AddressPart::All:
      return domain.empty() ? std::string(local) : std::string(local) + "@" + std::string(domain);
    case AddressPart::LocalPart:
      return std::string(local);
    case AddressPart::Domain:
      return std::string(domain);
    case AddressPart::User:
      return std::string(local.substr(0, local.find('+')));
    case AddressPart::Detail: {
      size_t plus = local.find('+');
      if (plus == std::string_view::npos) return std::nullopt;
      return std::string(local.substr(plus + 1));
    }
  }
  return std::nullopt;
}

class Run {
 public:
  Run(const Script& script, const MessageInput& msg, const Limits& limits)
      : script_(script), msg_(msg), limits_(limits), match_budget_(limits.max_match_work * kRunMatchBudget) {}

  Outcome go() {
    block(script_.commands);
    Outcome out;
    if (error_) {
      // RFC 5228 2.10.6: a run-time error cancels what the script did;
      // the message is kept.
      Action keep;
      keep.implicit = true;
      out.actions.push_back(std::move(keep));
      out.errors.push_back(*error_);
      return out;
    }
    if (implicit_keep_) {
      Action keep;
      keep.implicit = true;
      keep.flags = action_flags(internal_flags_);
      add_delivery(std::move(keep));
    }
    out.actions = std::move(actions_);
    return out;
  }

 private:
  bool done() const { return stopped_ || error_.has_value(); }

  void fail(int line, std::string message) {
    if (!error_) error_ = "line " + std::to_string(line) + ": " + message;
  }

  // ---- strings and variables

  std::string lookup(std::string_view name) const {
    if (!name.empty() && name[0] >= '0' && name[0] <= '9') {
      size_t index = 0;
      for (char c : name) {
        index = index * 10 + static_cast<size_t>(c - '0');
        if (index > 9) return {};
      }
      return index < match_vars_.size() ? match_vars_[index] : std::string();
    }
    auto it = variables_.find(ascii_lowercase(name));
    return it == variables_.end() ? std::string() : it->second;
  }

  std::string expand(const ScriptString& s) const {
    if (!s.variables) return s.text;
    return expand_variables(
        s.text, [this](std::string_view n) { return lookup(n); }, limits_.max_string_bytes);
  }

  std::vector<std::string> expand(const Value& v) const {
    std::vector<std::string> out;
    out.reserve(v.strings.size());
    for (const auto& s : v.strings) out.push_back(expand(s));
    return out;
  }

  std::string& variable(const std::string& name) { return variables_[ascii_lowercase(name)]; }

  void set_variable(const std::string& name, std::string value) {
    variable(name) = truncate_utf8(std::move(value), limits_.max_variable_bytes);
  }

  // ---- message access

  const std::vector<mail::HeaderField>& fields() {
    if (!fields_) fields_ = mail::parse_header_fields(msg_.header);
    return *fields_;
  }

  // Every value of the named header fields, unfolded (and RFC 2047 decoded).
  std::vector<std::string> header_values(const std::vector<std::string>& names, bool decode) {
    std::vector<std::string> out;
    for (const auto& field : fields()) {
      bool wanted =
          std::any_of(names.begin(), names.end(), [&](const std::string& n) { return iequals(n, field.name); });
      if (!wanted) continue;
      std::string value = mail::unfold_header_value(field.raw_value);
      out.push_back(decode ? mail::decode_rfc2047(value) : std::move(value));
    }
    return out;
  }

  const mail::MessageStructure* structure() {
    if (!structure_tried_) {
      structure_tried_ = true;
      if (msg_.whole_message) {
        whole_ = msg_.whole_message();
        if (whole_) structure_ = mail::parse_message(*whole_);
      }
    }
    return structure_ ? &*structure_ : nullptr;
  }

  // ---- actions

  Status check_action_room(int line, bool redirect) {
    if (explicit_actions_ >= limits_.max_actions)
      return Error(Errc::Limit,
                   "line " + std::to_string(line) + ": more than " + std::to_string(limits_.max_actions) + " actions");
    if (redirect && redirects_ >= limits_.max_redirects)
      return Error(Errc::Limit, "line " + std::to_string(line) + ": more than " +
                                    std::to_string(limits_.max_redirects) + " redirects");
    return ok_status();
  }

  bool has(Action::Kind kind) const {
    return std::any_of(actions_.begin(), actions_.end(), [&](const Action& a) { return a.kind == kind; });
  }

  // RFC 5429 2.1: reject refuses the message, so it cannot go with
  // anything that delivers or answers it.
  bool conflicts_with_reject(const Action& a) const {
    if (a.kind == Action::Kind::Reject)
      return has(Action::Kind::Reject) || has(Action::Kind::FileInto) || has(Action::Kind::Redirect) ||
             has(Action::Kind::Vacation) || std::any_of(actions_.begin(), actions_.end(), [](const Action& x) {
               return x.kind == Action::Kind::Keep && !x.implicit;
             });
    if (a.kind == Action::Kind::Keep || a.kind == Action::Kind::FileInto || a.kind == Action::Kind::Redirect ||
        a.kind == Action::Kind::Vacation)
      return has(Action::Kind::Reject);
    return false;
  }

  // Keep and fileinto: one copy per mailbox (RFC 5228 2.10.3). The
  // delivery `a` would repeat, if any.
  Action* same_delivery(const Action& a) {
    if (a.kind != Action::Kind::Keep && a.kind != Action::Kind::FileInto) return nullptr;
    std::string_view target = a.kind == Action::Kind::Keep ? std::string_view("INBOX") : a.mailbox;
    for (auto& existing : actions_) {
      bool same = false;
      if (existing.kind == Action::Kind::Keep) same = is_inbox(target);
      if (existing.kind == Action::Kind::FileInto)
        same = existing.mailbox == target || (is_inbox(existing.mailbox) && is_inbox(target));
      if (same) return &existing;
    }
    return nullptr;
  }

  // A repeated delivery adds its flags (and :create) to the first one.
  void add_delivery(Action a) {
    if (Action* existing = same_delivery(a)) {
      merge_flags(existing->flags, a.flags);
      existing->create = existing->create || a.create;
      return;
    }
    actions_.push_back(std::move(a));
  }

  void add(Action a, int line) {
    if (conflicts_with_reject(a)) {
      fail(line, kRejectConflict);
      return;
    }
    if (same_delivery(a)) {
      add_delivery(std::move(a));  // merges; not a new action
      return;
    }
    bool redirect = a.kind == Action::Kind::Redirect;
    if (redirect && std::any_of(actions_.begin(), actions_.end(), [&](const Action& x) {
          return x.kind == Action::Kind::Redirect && iequals(x.address, a.address);
        }))
      return;  // the same address once only
    if (a.kind == Action::Kind::Discard && has(Action::Kind::Discard)) return;
    if (auto room = check_action_room(line, redirect); !room.ok()) {
      error_ = room.error().user_message;
      return;
    }
    ++explicit_actions_;
    if (redirect) ++redirects_;
    actions_.push_back(std::move(a));
  }

  // ---- commands

  void block(const std::vector<Node>& nodes) {
    for (const auto& node : nodes) {
      if (done()) return;
      command(node);
    }
  }

  void command(const Node& node) {
    switch (node.kind) {
      case NodeKind::Require:
        return;
      case NodeKind::If:
        for (const auto& branch : node.branches) {
          if (branch.test.empty() || test(branch.test.front())) {
            if (!done()) block(branch.body);
            return;
          }
          if (done()) return;
        }
        return;
      case NodeKind::Stop:
        stopped_ = true;
        return;
      case NodeKind::Keep: {
        Action a;
        a.kind = Action::Kind::Keep;
        a.flags = flags_for(node);
        implicit_keep_ = false;
        add(std::move(a), node.line);
        return;
      }
      case NodeKind::Discard: {
        Action a;
        a.kind = Action::Kind::Discard;
        implicit_keep_ = false;
        add(std::move(a), node.line);
        return;
      }
      case NodeKind::FileInto: {
        Action a;
        a.kind = Action::Kind::FileInto;
        a.mailbox = expand(node.args[0].strings[0]);
        a.flags = flags_for(node);
        a.create = node.has_tag(":create");
        if (a.mailbox.empty()) return fail(node.line, "fileinto: empty mailbox name");
        if (!node.has_tag(":copy")) implicit_keep_ = false;
        add(std::move(a), node.line);
        return;
      }
      case NodeKind::Redirect: {
        Action a;
        a.kind = Action::Kind::Redirect;
        std::string written = expand(node.args[0].strings[0]);
        auto address = mail_address(written);
        if (!address) return fail(node.line, "redirect: \"" + written + "\" is not a valid address");
        a.address = *address;
        if (!node.has_tag(":copy")) implicit_keep_ = false;
        add(std::move(a), node.line);
        return;
      }
      case NodeKind::Reject:
      case NodeKind::EReject: {
        Action a;
        a.kind = Action::Kind::Reject;
        a.ereject = node.kind == NodeKind::EReject;
        a.reason = expand(node.args[0].strings[0]);
        implicit_keep_ = false;
        add(std::move(a), node.line);
        return;
      }
      case NodeKind::SetFlag:
      case NodeKind::AddFlag:
      case NodeKind::RemoveFlag:
        return change_flags(node);
      case NodeKind::Vacation:
        return vacation(node);
      case NodeKind::Set:
        return set(node);
      default:
        return;  // tests never appear as commands (the parser saw to it)
    }
  }

  std::vector<std::string> flags_for(const Node& node) {
    if (const Value* flags = node.tag(":flags")) {
      std::vector<std::string> words;
      for (const auto& s : expand(*flags))
        for (auto& w : split_words(s)) words.push_back(std::move(w));
      return action_flags(join_flags(words));
    }
    return action_flags(internal_flags_);
  }

  std::string& flag_variable(const Value& name) {
    if (name.kind == Value::Kind::None) return internal_flags_;
    return variable(expand(name.strings[0]));
  }

  void change_flags(const Node& node) {
    std::vector<std::string> listed;
    for (const auto& s : expand(node.args[1]))
      for (auto& w : split_words(s)) listed.push_back(std::move(w));
    if (node.args[0].kind != Value::Kind::None && !is_identifier(expand(node.args[0].strings[0])))
      return fail(node.line, "not a variable name");
    std::string& target = flag_variable(node.args[0]);
    std::vector<std::string> current = split_words(target);
    if (node.kind == NodeKind::SetFlag) {
      current = std::move(listed);
    } else if (node.kind == NodeKind::AddFlag) {
      for (auto& f : listed) current.push_back(std::move(f));
    } else {
      std::erase_if(current, [&](const std::string& f) {
        return std::any_of(listed.begin(), listed.end(), [&](const std::string& r) { return iequals(r, f); });
      });
    }
    target = truncate_utf8(join_flags(current), limits_.max_variable_bytes);
  }

  void set(const Node& node) {
    std::string value = expand(node.args[1].strings[0]);
    // RFC 5229 4.1: modifiers apply from the highest precedence down.
    if (node.has_tag(":lower")) value = ascii_lowercase(value);
    if (node.has_tag(":upper")) value = ascii_uppercase(value);
    if (!value.empty() && node.has_tag(":lowerfirst")) value[0] = ascii_lower(value[0]);
    if (!value.empty() && node.has_tag(":upperfirst")) value[0] = ascii_uppercase(value.substr(0, 1))[0];
    if (node.has_tag(":quotewildcard")) {
      std::string quoted;
      for (char c : value) {
        if (c == '*' || c == '?' || c == '\\') quoted += '\\';
        quoted += c;
      }
      value = std::move(quoted);
    }
    if (node.has_tag(":length")) {
      size_t chars = 0;
      for (size_t i = 0; i < value.size(); i += utf8_char_length(value, i)) ++chars;
      value = std::to_string(chars);
    }
    set_variable(node.args[0].strings[0].text, std::move(value));
  }

  void vacation(const Node& node) {
    if (vacation_seen_) return fail(node.line, "vacation used more than once");
    vacation_seen_ = true;
    VacationRequest v;
    v.reason = expand(node.args[0].strings[0]);
    v.mime = node.has_tag(":mime");
    std::string explicit_subject;
    if (const Value* subject = node.tag(":subject")) explicit_subject = expand(subject->strings[0]);
    if (const Value* from = node.tag(":from")) {
      v.from = expand(from->strings[0]);
      if (!mail_address(v.from)) return fail(node.line, "vacation :from \"" + v.from + "\" is not a valid address");
    }
    if (const Value* addresses = node.tag(":addresses")) v.addresses = expand(*addresses);
    if (const Value* days = node.tag(":days")) {
      v.seconds = static_cast<int64_t>(std::min<uint64_t>(days->number, 1u << 20) * 86400);
    } else if (const Value* seconds = node.tag(":seconds")) {
      v.seconds = static_cast<int64_t>(std::min<uint64_t>(seconds->number, uint64_t{1} << 40));
    }
    if (const Value* handle = node.tag(":handle")) {
      v.handle = expand(handle->strings[0]);
    } else {
      v.handle = default_vacation_handle(v.reason, explicit_subject, v.from, v.mime);
    }
    if (!explicit_subject.empty()) {
      v.subject = explicit_subject;
    } else {
      auto subjects = header_values({"Subject"}, true);
      v.subject = subjects.empty() ? "Automated reply" : "Auto: " + subjects.front();
    }
    v.reply_to = msg_.envelope.from;
    Action a;
    a.kind = Action::Kind::Vacation;
    a.vacation = std::move(v);
    // Checked before eligibility: the script is wrong even when this
    // message would get no answer.
    if (conflicts_with_reject(a)) return fail(node.line, kRejectConflict);
    if (!vacation_may_answer(msg_, *a.vacation)) return;
    add(std::move(a), node.line);
  }

  // ---- tests

  bool compare(const Node& node, const std::vector<std::string>& values, const std::vector<std::string>& keys) {
    bool want_captures = node.comparison.match == MatchType::Matches && script_.uses("variables");
    Matcher matcher(node.comparison, limits_.max_match_work, match_budget_, want_captures);
    bool result = matcher.test(values, keys);
    if (matcher.work_exceeded()) {
      fail(node.line, ":matches needed more than " + std::to_string(limits_.max_match_work) + " steps");
      return false;
    }
    if (result && matcher.captured()) {
      match_vars_ = std::move(matcher.captures());
      if (match_vars_.size() > 10) match_vars_.resize(10);
      for (auto& v : match_vars_) v = truncate_utf8(std::move(v), limits_.max_variable_bytes);
    }
    return result;
  }

  bool test(const Node& node) {
    if (done()) return false;
    switch (node.kind) {
      case NodeKind::True:
        return true;
      case NodeKind::False:
        return false;
      case NodeKind::Not:
        return !test(node.tests.front()) && !done();
      case NodeKind::AllOf:
        for (const auto& t : node.tests)
          if (!test(t)) return false;
        return true;
      case NodeKind::AnyOf:
        for (const auto& t : node.tests)
          if (test(t)) return true;
        return false;
      case NodeKind::Exists: {
        for (const auto& name : expand(node.args[0]))
          if (header_values({name}, false).empty()) return false;
        return true;
      }
      case NodeKind::Size: {
        if (const Value* over = node.tag(":over")) return msg_.size > over->number;
        return msg_.size < node.tag(":under")->number;
      }
      case NodeKind::Header:
        return compare(node, header_values(expand(node.args[0]), true), expand(node.args[1]));
      case NodeKind::Address:
        return compare(node, addresses(node), expand(node.args[1]));
      case NodeKind::Envelope:
        return compare(node, envelope_values(node), expand(node.args[1]));
      case NodeKind::String: {
        std::vector<std::string> values = expand(node.args[0]);
        // RFC 5229 5: :count counts the non-empty strings.
        if (node.comparison.match == MatchType::Count)
          std::erase_if(values, [](const std::string& v) { return v.empty(); });
        return compare(node, values, expand(node.args[1]));
      }
      case NodeKind::HasFlag: {
        std::vector<std::string> flags;
        if (node.args[0].kind == Value::Kind::None) {
          flags = split_words(internal_flags_);
        } else {
          for (const auto& name : expand(node.args[0]))
            for (auto& f : split_words(lookup(name))) flags.push_back(std::move(f));
        }
        std::vector<std::string> keys;
        for (const auto& k : expand(node.args[1]))
          for (auto& w : split_words(k)) keys.push_back(std::move(w));
        return compare(node, flags, keys);
      }
      case NodeKind::MailboxExists: {
        for (const auto& name : expand(node.args[0]))
          if (msg_.mailbox_exists && !msg_.mailbox_exists(name)) return false;
        return true;
      }
      case NodeKind::Body:
        return body(node);
      case NodeKind::Date:
      case NodeKind::CurrentDate:
        return date(node);
      default:
        return false;
    }
  }

  std::vector<std::string> addresses(const Node& node) {
    std::vector<std::string> out;
    for (const auto& value : header_values(expand(node.args[0]), false)) {
      for (const auto& a : mail::parse_address_list(value)) {
        if (a.kind != mail::Address::Kind::Mailbox) continue;
        std::string local = a.mailbox.value_or("");
        std::string domain = a.host.value_or("");
        if (local.empty() && domain.empty()) continue;
        if (auto part = address_part(local, domain, node.comparison.part)) out.push_back(std::move(*part));
      }
    }
    return out;
  }

  std::vector<std::string> envelope_values(const Node& node) {
    std::vector<std::string> out;
    for (const auto& part_name : expand(node.args[0])) {
      std::string_view address;
      if (iequals(part_name, "from")) {
        // RFC 5228 5.4: the null reverse-path matches "" whatever the part.
        if (msg_.envelope.from.empty()) {
          out.emplace_back();
          continue;
        }
        address = msg_.envelope.from;
      } else if (iequals(part_name, "to")) {
        address = msg_.envelope.to;
      } else if (iequals(part_name, "auth")) {
        address = msg_.envelope.auth;
      } else {
        continue;
      }
      if (address.empty()) continue;
      size_t at = address.rfind('@');
      std::string_view local = at == std::string_view::npos ? address : address.substr(0, at);
      std::string_view domain = at == std::string_view::npos ? std::string_view() : address.substr(at + 1);
      if (auto part = address_part(local, domain, node.comparison.part)) out.push_back(std::move(*part));
    }
    return out;
  }

  bool body(const Node& node);
  bool date(const Node& node);

  const Script& script_;
  const MessageInput& msg_;
  const Limits& limits_;
  size_t match_budget_;

  std::vector<Action> actions_;
  size_t explicit_actions_ = 0;
  size_t redirects_ = 0;
  bool implicit_keep_ = true;
  bool stopped_ = false;
  bool vacation_seen_ = false;
  std::optional<std::string> error_;

  std::map<std::string, std::string> variables_;  // names lower-case
  std::vector<std::string> match_vars_;
  std::string internal_flags_;  // imap4flags' internal variable

  std::optional<std::vector<mail::HeaderField>> fields_;
  bool structure_tried_ = false;
  std::optional<std::string_view> whole_;
  std::optional<mail::MessageStructure> structure_;
};

bool content_type_matches(const mail::BodyPart& part, std::string_view spec) {
  // RFC 5173 5: "type" matches every subtype, "type/subtype" exactly.
  size_t slash = spec.find('/');
  if (slash == std::string_view::npos) return iequals(part.type, spec);
  return iequals(part.type, spec.substr(0, slash)) && iequals(part.subtype, spec.substr(slash + 1));
}

bool Run::body(const Node& node) {
  const mail::MessageStructure* msg = structure();
  if (!msg) return false;
  std::string_view whole = *whole_;
  auto slice = [&](uint64_t offset, uint64_t size) {
    if (offset > whole.size()) return std::string_view();
    return whole.substr(offset, std::min<uint64_t>(size, whole.size() - offset));
  };

  std::vector<std::string> values;
  if (node.has_tag(":raw")) {
    values.emplace_back(slice(msg->root.body_offset, msg->root.body_size));
    return compare(node, values, expand(node.args[0]));
  }
  std::vector<std::string> types = {"text"};
  if (const Value* content = node.tag(":content")) types = expand(*content);

  // Walk the MIME tree with an explicit stack: a message may nest deeper
  // than any script.
  std::vector<const mail::BodyPart*> stack = {&msg->root};
  while (!stack.empty()) {
    const mail::BodyPart* part = stack.back();
    stack.pop_back();
    for (auto it = part->children.rbegin(); it != part->children.rend(); ++it) stack.push_back(&*it);
    if (part->is_multipart()) continue;
    bool wanted = std::any_of(types.begin(), types.end(),
                              [&](const std::string& t) { return t.empty() || content_type_matches(*part, t); });
    if (!wanted) continue;
    if (part->is_message()) {
      // The encapsulated message's header stands for the part (its body
      // parts are visited on their own).
      if (!part->children.empty())
        values.push_back(
            mail::unfold_header_value(slice(part->children.front().header_offset, part->children.front().header_size)));
      continue;
    }
    std::string decoded = mail::decode_transfer_encoding(slice(part->body_offset, part->body_size), part->encoding);
    if (part->type == "text") {
      auto charset = part->param("charset");
      if (auto utf8 = mail::convert_to_utf8(charset ? *charset : "us-ascii", decoded)) decoded = std::move(*utf8);
    }
    values.push_back(std::move(decoded));
  }
  return compare(node, values, expand(node.args[0]));
}

bool Run::date(const Node& node) {
  std::optional<int> zone;
  if (const Value* z = node.tag(":zone")) {
    zone = parse_zone_offset(expand(z->strings[0]));
    if (!zone) {
      fail(node.line, "bad time zone");
      return false;
    }
  }
  std::vector<ZonedTime> times;
  std::string part;
  std::vector<std::string> keys;
  if (node.kind == NodeKind::CurrentDate) {
    times.push_back(ZonedTime{msg_.now, zone.value_or(msg_.local_zone_minutes)});
    part = expand(node.args[0].strings[0]);
    keys = expand(node.args[1]);
  } else {
    for (const auto& value : header_values({expand(node.args[0].strings[0])}, false)) {
      // Received: the date follows the last ';' (RFC 5260 4).
      std::string_view v = value;
      if (size_t semi = v.rfind(';'); semi != std::string_view::npos) v.remove_prefix(semi + 1);
      auto t = parse_zoned_date(v);
      if (!t) continue;
      if (!node.has_tag(":originalzone")) t->zone_minutes = zone.value_or(msg_.local_zone_minutes);
      times.push_back(*t);
    }
    part = expand(node.args[1].strings[0]);
    keys = expand(node.args[2]);
  }
  std::vector<std::string> values;
  for (const auto& t : times) {
    auto v = date_part(t, part);
    if (!v) {
      fail(node.line, "unknown date part \"" + part + "\"");
      return false;
    }
    values.push_back(std::move(*v));
  }
  return compare(node, values, keys);
}

}  // namespace

Outcome evaluate(const Script& script, const MessageInput& msg, const Limits& limits) {
  return Run(script, msg, limits).go();
}

}  // namespace cyr::sieve
