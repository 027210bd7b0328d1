// evaluate(): runs a validated Script against one message. The only
// recursion is over the script's own nesting (blocks and tests), which
// compile() bounded by Limits::max_nesting; every loop is over the script
// or the message, both bounded.
#include <algorithm>
#include <map>
#include <set>

#include "server/sieve/ast.h"
#include "server/sieve/match.h"
#include "server/sieve/regex.h"
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

// RFC 7352 leaves the default to the implementation; Cyrus keeps a
// duplicate record for a week unless :seconds says otherwise.
constexpr int64_t kDefaultDuplicateSeconds = 7 * 86400;

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
    frames_.push_back(Frame{&script_, std::nullopt, {}, {}});
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
    if (edited_header_ && *edited_header_ != msg_.header) out.edited_header = std::move(edited_header_);
    // RFC 7352 3: the tracking list is updated only for a message that was
    // delivered as the script said; a rejected one was not delivered.
    if (!has_reject(out.actions)) out.duplicates = std::move(duplicates_);
    return out;
  }

 private:
  // `returning_` ends only the current script (include's "return").
  bool done() const { return stopped_ || returning_ || error_.has_value(); }

  void fail(int line, std::string message) {
    if (error_) return;
    const Frame& frame = frames_.back();
    std::string where = "line " + std::to_string(line) + ": ";
    if (frame.name) where = "script \"" + frame.name->second + "\" " + where;
    error_ = where + message;
  }

  const Script& current_script() const { return *frames_.back().script; }

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
    const auto& map = variables_for(name);
    auto it = map.find(variable_key(name));
    return it == map.end() ? std::string() : it->second;
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

  // include (RFC 6609 3.3-3.5): "global.x", or a name the current script
  // declared with "global", is shared by every script of the run; any
  // other name is the current script's own.
  static std::string variable_key(std::string_view name) {
    if (auto global = global_variable_name(name)) return ascii_lowercase(*global);
    return ascii_lowercase(name);
  }

  bool is_global(std::string_view name) const {
    return global_variable_name(name) || frames_.back().globals.count(ascii_lowercase(name));
  }

  const std::map<std::string, std::string>& variables_for(std::string_view name) const {
    return is_global(name) ? global_variables_ : frames_.back().variables;
  }

  std::string& variable(const std::string& name) {
    auto& map = is_global(name) ? global_variables_ : frames_.back().variables;
    return map[variable_key(name)];
  }

  void set_variable(const std::string& name, std::string value) {
    variable(name) = truncate_utf8(std::move(value), limits_.max_variable_bytes);
  }

  // ---- message access

  // The header block as the script has edited it so far (editheader).
  std::string_view header_block() const { return edited_header_ ? std::string_view(*edited_header_) : msg_.header; }

  const std::vector<mail::HeaderField>& fields() {
    if (!fields_) fields_ = mail::parse_header_fields(header_block());
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

  // index (RFC 5260 6): with :index n only the n-th field (of all those
  // named, in header order; from the bottom with :last) is looked at.
  static std::vector<std::string> indexed(const Node& node, std::vector<std::string> values) {
    const Value* index = node.tag(":index");
    if (!index) return values;
    if (index->number == 0 || index->number > values.size()) return {};
    size_t at = node.has_tag(":last") ? values.size() - index->number : index->number - 1;
    std::vector<std::string> one;
    one.push_back(std::move(values[at]));
    return one;
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

  Status check_action_room(bool redirect) {
    if (explicit_actions_ >= limits_.max_actions)
      return Error(Errc::Limit, "more than " + std::to_string(limits_.max_actions) + " actions");
    if (redirect && redirects_ >= limits_.max_redirects)
      return Error(Errc::Limit, "more than " + std::to_string(limits_.max_redirects) + " redirects");
    return ok_status();
  }

  static bool has_reject(const std::vector<Action>& actions) {
    return std::any_of(actions.begin(), actions.end(), [](const Action& a) { return a.kind == Action::Kind::Reject; });
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
    if (auto room = check_action_room(redirect); !room.ok()) {
      fail(line, room.error().user_message);
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
      case NodeKind::Include:
        return include(node);
      case NodeKind::Return:
        returning_ = true;
        return;
      case NodeKind::AddHeader:
        return add_header(node);
      case NodeKind::DeleteHeader:
        return delete_header(node);
      case NodeKind::Error:
        // RFC 5463 5: the script ends in error, with its message.
        return fail(node.line, "error: " + expand(node.args[0].strings[0]));
      case NodeKind::Global:
        for (const auto& name : node.args[0].strings) frames_.back().globals.insert(ascii_lowercase(name.text));
        return;
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
      // The message as received, whatever editheader did (RFC 5293 7).
      auto subject = mail::find_header(msg_.header, "Subject");
      v.subject = subject ? "Auto: " + mail::decode_rfc2047(*subject) : "Automated reply";
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

  // A test's keys as the run sees them: expanded, and for :regex compiled
  // (constant ones by compile(), the others here).
  struct Keys {
    std::vector<std::string> text;
    std::vector<std::shared_ptr<const Regex>> regexes;
  };

  // nullopt after a runtime error (a pattern with variables that does not
  // compile). `split` splits each key into words (hasflag's flag lists;
  // not for :regex, whose patterns may hold spaces).
  std::optional<Keys> keys_of(const Node& node, const Value& v, bool split = false) {
    Keys keys;
    bool regex = node.comparison.match == MatchType::Regex;
    for (const auto& s : v.strings) {
      std::string text = expand(s);
      if (!regex) {
        if (!split) {
          keys.text.push_back(std::move(text));
          continue;
        }
        for (auto& w : split_words(text)) keys.text.push_back(std::move(w));
        continue;
      }
      std::shared_ptr<const Regex> compiled = s.regex;
      if (!compiled) {
        // Compiling costs about what a match over the pattern does.
        if (text.size() + 1 > match_budget_) {
          fail(node.line, ":regex needed more than the run's matching budget");
          return std::nullopt;
        }
        match_budget_ -= text.size() + 1;
        auto r = Regex::compile(text, node.comparison.comparator, limits_.max_regex_bytes);
        if (!r.ok()) {
          fail(node.line, r.error().user_message);
          return std::nullopt;
        }
        compiled = std::move(*r);
      }
      keys.text.push_back(std::move(text));
      keys.regexes.push_back(std::move(compiled));
    }
    return keys;
  }

  bool compare(const Node& node, const std::vector<std::string>& values, const Value& keys) {
    auto k = keys_of(node, keys);
    if (!k) return false;
    return compare(node, values, *k);
  }

  bool compare(const Node& node, const std::vector<std::string>& values, const Keys& keys) {
    bool want_captures = (node.comparison.match == MatchType::Matches || node.comparison.match == MatchType::Regex) &&
                         current_script().uses("variables");
    Matcher matcher(node.comparison, limits_.max_match_work, match_budget_, want_captures);
    if (node.comparison.match == MatchType::Regex) matcher.set_regexes(&keys.regexes);
    bool result = matcher.test(values, keys.text);
    if (matcher.work_exceeded()) {
      fail(node.line, std::string(node.comparison.match == MatchType::Regex ? ":regex" : ":matches") +
                          " needed more than " + std::to_string(limits_.max_match_work) + " steps");
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
        return compare(node, indexed(node, header_values(expand(node.args[0]), true)), node.args[1]);
      case NodeKind::Address:
        return compare(node, addresses(node), node.args[1]);
      case NodeKind::Envelope:
        return compare(node, envelope_values(node), node.args[1]);
      case NodeKind::String: {
        std::vector<std::string> values = expand(node.args[0]);
        // RFC 5229 5: :count counts the non-empty strings.
        if (node.comparison.match == MatchType::Count)
          std::erase_if(values, [](const std::string& v) { return v.empty(); });
        return compare(node, values, node.args[1]);
      }
      case NodeKind::HasFlag: {
        std::vector<std::string> flags;
        if (node.args[0].kind == Value::Kind::None) {
          flags = split_words(internal_flags_);
        } else {
          for (const auto& name : expand(node.args[0]))
            for (auto& f : split_words(lookup(name))) flags.push_back(std::move(f));
        }
        auto keys = keys_of(node, node.args[1], /*split=*/true);
        if (!keys) return false;
        return compare(node, flags, *keys);
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
      case NodeKind::Duplicate:
        return duplicate(node);
      case NodeKind::IHave:
        return node.available;
      case NodeKind::Environment:
        return environment(node);
      default:
        return false;
    }
  }

  std::vector<std::string> addresses(const Node& node) {
    std::vector<std::string> out;
    for (const auto& value : indexed(node, header_values(expand(node.args[0]), false))) {
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
  void include(const Node& node);
  bool duplicate(const Node& node);
  void add_header(const Node& node);
  void delete_header(const Node& node);
  void replace_header(std::string header) {
    edited_header_ = std::move(header);
    fields_.reset();  // string_views into the old block
  }

  // RFC 5183: the item's value, from the caller, or the defaults of an
  // MDA filtering during delivery; an unknown item matches nothing (not
  // even :count "eq" "0").
  bool environment(const Node& node) {
    std::string name = expand(node.args[0].strings[0]);
    std::optional<std::string> value;
    for (const auto& [n, v] : msg_.environment)
      if (iequals(n, name)) {
        value = v;
        break;
      }
    if (!value && iequals(name, "location")) value = "MDA";
    if (!value && iequals(name, "phase")) value = "during";
    if (!value) return false;
    return compare(node, {*value}, node.args[1]);
  }

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

  // One per script being run: the main one, then each include inside the
  // one before.
  struct Frame {
    const Script* script;
    std::optional<std::pair<IncludeScope, std::string>> name;  // nullopt: the main script
    std::map<std::string, std::string> variables;              // its own; names lower-case
    std::set<std::string> globals;                             // declared with "global", lower-case
  };
  std::vector<Frame> frames_;
  std::map<std::string, std::string> global_variables_;  // names lower-case
  std::set<std::pair<IncludeScope, std::string>> included_;
  size_t includes_ = 0;
  std::vector<DuplicateRecord> duplicates_;
  std::optional<std::string> edited_header_;  // editheader: the header block once changed
  size_t added_headers_ = 0;
  bool returning_ = false;
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
    return compare(node, values, node.args[0]);
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
  return compare(node, values, node.args[0]);
}

// RFC 6609 3.2: the included script runs where the include stands, with
// its own variables (but the global ones) and match variables; "return"
// ends it, "stop" the whole run. Actions and the implicit keep are the
// run's, across all scripts.
void Run::include(const Node& node) {
  IncludeScope scope = node.has_tag(":global") ? IncludeScope::Global : IncludeScope::Personal;
  std::pair<IncludeScope, std::string> name{scope, node.args[0].strings[0].text};
  const std::string quoted_name = "\"" + name.second + "\"";
  // A script including itself is an error even with :once (RFC 6609 3.2
  // forbids recursion outright); :once skips only finished includes.
  for (const auto& frame : frames_)
    if (frame.name == name) return fail(node.line, "include loop: script " + quoted_name + " includes itself");
  if (node.has_tag(":once") && included_.count(name)) return;
  if (frames_.size() > limits_.max_include_depth)
    return fail(node.line, "includes nested deeper than " + std::to_string(limits_.max_include_depth));
  if (includes_ >= limits_.max_includes)
    return fail(node.line, "more than " + std::to_string(limits_.max_includes) + " includes");
  ++includes_;
  Result<std::shared_ptr<const Script>> loaded = Error(Errc::NotFound, "no script loader");
  if (msg_.load_script) loaded = msg_.load_script(scope, name.second);
  if (!loaded.ok()) {
    if (loaded.error().code != Errc::NotFound)
      return fail(node.line, "include: script " + quoted_name + ": " + loaded.error().user_message);
    if (node.has_tag(":optional")) return;
    return fail(node.line, "include: script " + quoted_name + " not found");
  }
  std::shared_ptr<const Script> included = std::move(*loaded);
  if (!included) return fail(node.line, "include: script " + quoted_name + " not found");
  // The same compiled script under another name (the loader's cache):
  // also a loop.
  for (const auto& frame : frames_)
    if (frame.script == included.get())
      return fail(node.line, "include loop: script " + quoted_name + " includes itself");
  included_.insert(name);
  std::vector<std::string> saved_match_vars = std::move(match_vars_);
  match_vars_.clear();
  frames_.push_back(Frame{included.get(), name, {}, {}});
  block(included->commands);
  frames_.pop_back();
  match_vars_ = std::move(saved_match_vars);
  returning_ = false;
}

// RFC 7352: has this message's unique id (Message-ID, :header's value or
// :uniqueid) been seen under this handle? Only what earlier deliveries
// recorded counts, never an earlier test of this run (3.1). The record to
// make is kept for the caller: for an id not seen before, and with :last
// also for a seen one (its expiry starts again).
bool Run::duplicate(const Node& node) {
  std::string handle;
  if (const Value* h = node.tag(":handle")) handle = expand(h->strings[0]);
  // The handle ends the key's first part: a NUL in it would make two
  // handles one.
  handle.resize(std::min(handle.size(), handle.find('\0')));
  std::string id;
  if (const Value* u = node.tag(":uniqueid")) {
    id = expand(u->strings[0]);
  } else {
    const Value* h = node.tag(":header");
    std::string name = h ? expand(h->strings[0]) : std::string("Message-ID");
    auto values = header_values({name}, false);
    // No such field (or an empty one): no id, so no duplicate and nothing
    // to record.
    if (values.empty() || values.front().empty()) return false;
    id = std::move(values.front());  // unfolded, surrounding white space trimmed
  }
  std::string key = handle;
  key += '\0';
  key += id;
  int64_t seconds = kDefaultDuplicateSeconds;
  if (const Value* s = node.tag(":seconds"))
    seconds = static_cast<int64_t>(std::min<uint64_t>(s->number, uint64_t{1} << 40));
  seconds = std::max<int64_t>(0, std::min(seconds, limits_.max_duplicate_seconds));
  bool seen = msg_.duplicate_seen && msg_.duplicate_seen(key);
  if (!seen || node.has_tag(":last")) {
    auto same = std::find_if(duplicates_.begin(), duplicates_.end(),
                             [&](const DuplicateRecord& r) { return r.key == key; });
    if (same == duplicates_.end()) {
      duplicates_.push_back(DuplicateRecord{std::move(key), seconds});
    } else {
      same->seconds = std::max(same->seconds, seconds);
    }
  }
  return seen;
}

// Where fields end in a header block: before the empty line that ends it
// (or at the end, when there is none).
size_t end_of_fields(std::string_view h) {
  if (h == "\r\n" || h == "\n") return 0;
  if (h.ends_with("\r\n\r\n")) return h.size() - 2;
  if (h.ends_with("\n\n")) return h.size() - 1;
  return h.size();
}

// RFC 5293 4: the field goes first, or with :last after the others. Later
// tests see it; Outcome::edited_header carries it to the delivery.
void Run::add_header(const Node& node) {
  std::string name = expand(node.args[0].strings[0]);
  if (!is_header_name(name)) return fail(node.line, "addheader: \"" + name + "\" is not a valid header name");
  // RFC 5293 6: a name from variables that may not be added is ignored
  // (a constant one was refused by compile()).
  if (is_protected_header(name)) return;
  if (added_headers_ >= limits_.max_added_headers)
    return fail(node.line, "more than " + std::to_string(limits_.max_added_headers) + " addheader");
  std::string field = script_header_field(name, expand(node.args[1].strings[0]));
  std::string header(header_block());
  if (header.size() + field.size() > msg_.header.size() + limits_.max_header_growth)
    return fail(node.line, "addheader: the header would grow by more than " +
                               std::to_string(limits_.max_header_growth) + " bytes");
  ++added_headers_;
  if (node.has_tag(":last")) {
    size_t end = end_of_fields(header);
    // A header block without its final line break: end the last field.
    if (end == header.size() && !header.empty() && header.back() != '\n') {
      header += "\r\n";
      end = header.size();
    }
    header.insert(end, field);
  } else {
    header.insert(0, field);
  }
  replace_header(std::move(header));
}

// RFC 5293 5: every field of that name, or only those whose (decoded)
// value matches one of the patterns; :index picks one occurrence of the
// name (from the bottom with :last) before the patterns are tried. Match
// variables are not set (deleteheader is no test).
void Run::delete_header(const Node& node) {
  std::string name = expand(node.args[0].strings[0]);
  if (!is_header_name(name)) return fail(node.line, "deleteheader: \"" + name + "\" is not a valid header name");
  if (is_protected_header(name)) return;
  std::optional<Keys> keys;
  if (node.args[1].kind == Value::Kind::Strings) {
    keys = keys_of(node, node.args[1]);
    if (!keys) return;
  }
  std::string_view block = header_block();
  std::vector<const mail::HeaderField*> named;
  for (const auto& f : fields())
    if (iequals(f.name, name)) named.push_back(&f);
  if (const Value* index = node.tag(":index")) {
    if (index->number == 0 || index->number > named.size()) return;
    size_t at = node.has_tag(":last") ? named.size() - index->number : index->number - 1;
    named = {named[at]};
  }
  // Byte ranges of the fields to drop, in order.
  std::vector<std::pair<size_t, size_t>> drop;
  for (const mail::HeaderField* f : named) {
    if (keys) {
      std::vector<std::string> value = {mail::decode_rfc2047(mail::unfold_header_value(f->raw_value))};
      Matcher matcher(node.comparison, limits_.max_match_work, match_budget_, false);
      if (node.comparison.match == MatchType::Regex) matcher.set_regexes(&keys->regexes);
      bool matched = matcher.test(value, keys->text);
      if (matcher.work_exceeded())
        return fail(node.line, "deleteheader: matching needed more than " + std::to_string(limits_.max_match_work) +
                                   " steps");
      if (!matched) continue;
    }
    size_t start = static_cast<size_t>(f->name.data() - block.data());
    size_t end = static_cast<size_t>(f->raw_value.data() + f->raw_value.size() - block.data());
    if (end < block.size() && block[end] == '\r') ++end;
    if (end < block.size() && block[end] == '\n') ++end;
    drop.emplace_back(start, end);
  }
  if (drop.empty()) return;
  std::string header;
  header.reserve(block.size());
  size_t at = 0;
  for (const auto& [start, end] : drop) {
    header.append(block.substr(at, start - at));
    at = end;
  }
  header.append(block.substr(at));
  replace_header(std::move(header));
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
  if (node.kind == NodeKind::CurrentDate) {
    times.push_back(ZonedTime{msg_.now, zone.value_or(msg_.local_zone_minutes)});
    part = expand(node.args[0].strings[0]);
  } else {
    for (const auto& value : indexed(node, header_values({expand(node.args[0].strings[0])}, false))) {
      // Received: the date follows the last ';' (RFC 5260 4).
      std::string_view v = value;
      if (size_t semi = v.rfind(';'); semi != std::string_view::npos) v.remove_prefix(semi + 1);
      auto t = parse_zoned_date(v);
      if (!t) continue;
      if (!node.has_tag(":originalzone")) t->zone_minutes = zone.value_or(msg_.local_zone_minutes);
      times.push_back(*t);
    }
    part = expand(node.args[1].strings[0]);
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
  return compare(node, values, node.args.back());
}

}  // namespace

Outcome evaluate(const Script& script, const MessageInput& msg, const Limits& limits) {
  return Run(script, msg, limits).go();
}

}  // namespace cyr::sieve
