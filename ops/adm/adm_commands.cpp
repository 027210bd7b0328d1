#include "ops/adm/adm_commands.h"

#include <algorithm>
#include <cctype>
#include <charconv>

namespace cyr::ops::adm {

namespace {

constexpr size_t kMaxLineBytes = 64 * 1024;
constexpr size_t kMaxWords = 10000;

const std::vector<AdmCommandSpec>& table() {
  // Names, aliases and argument forms follow cyradm (Cyrus::IMAP::Shell).
  static const std::vector<AdmCommandSpec> kTable = {
      {AdmOp::Authenticate, "authenticate", {"auth", "login"}, "[--mechanisms mech] [user]",
       "authenticate to the server (reconnecting first)"},
      {AdmOp::CreateMailbox, "createmailbox", {"create", "cm"},
       "[--partition partition] [--specialuse use] mailbox [partition]", "create mailbox"},
      {AdmOp::DeleteAcl, "deleteaclmailbox", {"deleteacl", "dam"}, "mailbox id [id ...]",
       "remove ACL entries from mailbox"},
      {AdmOp::DeleteMailbox, "deletemailbox", {"delete", "dm"}, "mailbox",
       "delete mailbox (and its children)"},
      {AdmOp::Disconnect, "disconnect", {"disc"}, "", "disconnect from the current server"},
      {AdmOp::Quit, "exit", {"quit"}, "[number]", "exit cyr_adm"},
      {AdmOp::GetMetadata, "getmetadata", {"getmd", "info"}, "[mailbox]",
       "display mailbox or server metadata"},
      {AdmOp::Help, "help", {"?"}, "[command]", "show commands, or one command's usage"},
      {AdmOp::History, "history", {}, "", "show the commands typed in this session"},
      {AdmOp::ListAcl, "listaclmailbox", {"listacl", "lam"}, "mailbox",
       "list the ACL of mailbox"},
      {AdmOp::ListMailbox, "listmailbox", {"list", "lm"}, "[--subscribed] [pattern [reference]]",
       "list mailboxes"},
      {AdmOp::ListQuota, "listquota", {"lq"}, "root", "list the limits and usage of a quota root"},
      {AdmOp::ListQuotaRoot, "listquotaroot", {"lqr", "lqm", "quotaroot"}, "mailbox",
       "show the quota roots of mailbox and their quotas"},
      {AdmOp::RenameMailbox, "renamemailbox", {"rename", "renm"},
       "[--partition partition] oldname newname [partition]",
       "rename (and optionally move) mailbox and its children"},
      {AdmOp::Connect, "server", {"servername", "connect"}, "[--noauthenticate] [host[:port]]",
       "connect to a server, or show the current one"},
      {AdmOp::SetAcl, "setaclmailbox", {"setacl", "sam"}, "mailbox id rights [id rights ...]",
       "set ACL entries (rights: letters, or none read post append write delete all)"},
      {AdmOp::SetQuota, "setquota", {"sq"}, "root resource value [resource value ...]",
       "set quota limits (value \"none\" removes one; \"sq root none\" removes all)"},
      {AdmOp::Subscribe, "subscribe", {"sub"}, "mailbox", "subscribe to mailbox"},
      {AdmOp::Unsubscribe, "unsubscribe", {"unsub"}, "mailbox", "unsubscribe from mailbox"},
      {AdmOp::Version, "version", {"ver"}, "", "show the server's ID"},
  };
  return kTable;
}

Error usage_error(const AdmCommandSpec& spec) {
  return Error(Errc::Invalid, "usage: " + std::string(spec.name) +
                                  (spec.usage.empty() ? "" : " ") + std::string(spec.usage));
}

// cyradm accepts "--name", and "-n..." for any prefix of "-name" (Tcl style).
bool is_option(std::string_view word, std::string_view name) {
  if (word.size() > 2 && word.starts_with("--")) return word.substr(2) == name;
  if (word.size() < 2 || word[0] != '-') return false;
  return name.starts_with(word.substr(1));
}

// Options first, then positional words; "--" ends the options. Each entry of
// `takes_value` names an option that takes the next word as its value.
struct OptionSpec {
  std::string_view name;
  bool takes_value;
};

Result<std::vector<std::string>> take_options(
    const AdmCommandSpec& spec, std::span<const std::string> words,
    std::initializer_list<OptionSpec> allowed,
    std::vector<std::pair<std::string, std::string>>& found) {
  size_t i = 0;
  for (; i < words.size(); ++i) {
    const std::string& w = words[i];
    if (w == "--") { ++i; break; }
    if (w.size() < 2 || w[0] != '-') break;
    const OptionSpec* match = nullptr;
    for (const auto& o : allowed)
      if (is_option(w, o.name)) { match = &o; break; }
    if (!match) return usage_error(spec);
    std::string value;
    if (match->takes_value) {
      if (i + 1 >= words.size()) return usage_error(spec);
      value = words[++i];
    }
    found.emplace_back(std::string(match->name), value);
  }
  return std::vector<std::string>(words.begin() + static_cast<ptrdiff_t>(i), words.end());
}

std::string upper(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

Result<std::optional<int64_t>> parse_limit(std::string_view v) {
  if (lower(v) == "none") return std::optional<int64_t>();
  int64_t n = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (ec != std::errc() || p != v.data() + v.size() || n < 0)
    return Error(Errc::Invalid, "quota limit must be a number or \"none\": '" + std::string(v) + "'");
  return std::optional<int64_t>(n);
}

bool valid_resource(std::string_view r) {
  if (r.empty() || r.size() > 64) return false;
  return std::all_of(r.begin(), r.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_';
  });
}

}  // namespace

std::span<const AdmCommandSpec> adm_commands() { return table(); }

const AdmCommandSpec* find_adm_command(std::string_view word) {
  for (const auto& c : table()) {
    if (c.name == word) return &c;
    for (auto a : c.aliases)
      if (a == word) return &c;
  }
  return nullptr;
}

std::string expand_rights(std::string_view rights) {
  static const std::pair<std::string_view, std::string_view> kAliases[] = {
      {"none", ""},           {"read", "lrs"},          {"post", "lrsp"},
      {"append", "lrsip"},    {"write", "lrswipkxte"},  {"delete", "lrxte"},
      {"all", "lrswipkxtea"},
  };
  for (auto [name, letters] : kAliases)
    if (rights == name) return std::string(letters);
  return std::string(rights);
}

bool is_mailbox_pattern(std::string_view name) {
  return name.find_first_of("*%") != std::string_view::npos;
}

Result<std::vector<std::string>> split_adm_words(std::string_view line) {
  if (line.size() > kMaxLineBytes)
    return Error(Errc::Limit, "line longer than " + std::to_string(kMaxLineBytes) + " bytes");
  std::vector<std::string> words;
  size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r' || line[i] == '\n')) ++i;
    if (i >= line.size()) break;
    if (line[i] == '#') break;  // a comment to the end of the line
    std::string w;
    bool in_word = true;
    while (i < line.size() && in_word) {
      char c = line[i];
      if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
        in_word = false;
      } else if (c == '\'') {
        auto close = line.find('\'', i + 1);
        if (close == std::string_view::npos) return Error(Errc::Invalid, "unterminated ' quote");
        w.append(line.substr(i + 1, close - i - 1));
        i = close + 1;
      } else if (c == '"') {
        ++i;
        bool closed = false;
        while (i < line.size()) {
          char d = line[i++];
          if (d == '"') { closed = true; break; }
          if (d == '\\' && i < line.size() && (line[i] == '"' || line[i] == '\\')) d = line[i++];
          w.push_back(d);
        }
        if (!closed) return Error(Errc::Invalid, "unterminated \" quote");
      } else if (c == '\\') {
        if (i + 1 >= line.size()) return Error(Errc::Invalid, "backslash at the end of the line");
        w.push_back(line[i + 1]);
        i += 2;
      } else {
        w.push_back(c);
        ++i;
      }
    }
    words.push_back(std::move(w));
    if (words.size() > kMaxWords) return Error(Errc::Limit, "too many words on one line");
  }
  return words;
}

Result<std::optional<AdmCommand>> parse_adm_line(std::string_view line) {
  auto split = split_adm_words(line);
  if (!split.ok()) return split.take_error();
  auto& words = *split;
  if (words.empty()) return std::optional<AdmCommand>();
  const AdmCommandSpec* spec = find_adm_command(words[0]);
  if (!spec)
    return Error(Errc::Invalid, "unknown command '" + words[0] + "' (try \"help\")");
  AdmCommand cmd;
  cmd.op = spec->op;
  cmd.spec = spec;
  std::span<const std::string> rest(words.data() + 1, words.size() - 1);
  std::vector<std::pair<std::string, std::string>> opts;

  switch (spec->op) {
    case AdmOp::Help: {
      if (rest.size() > 1) return usage_error(*spec);
      if (!rest.empty()) {
        if (!find_adm_command(rest[0]))
          return Error(Errc::Invalid, "help: no command '" + rest[0] + "'");
        cmd.topic = rest[0];
      }
      break;
    }
    case AdmOp::Quit: {
      if (rest.size() > 1) return usage_error(*spec);
      if (!rest.empty()) {
        int n = 0;
        auto [p, ec] = std::from_chars(rest[0].data(), rest[0].data() + rest[0].size(), n);
        if (ec != std::errc() || p != rest[0].data() + rest[0].size() || n < 0 || n > 255)
          return usage_error(*spec);
        cmd.exit_code = n;
      }
      break;
    }
    case AdmOp::History:
    case AdmOp::Disconnect:
    case AdmOp::Version:
      if (!rest.empty()) return usage_error(*spec);
      break;
    case AdmOp::Connect: {
      auto pos = take_options(*spec, rest, {{"noauthenticate", false}}, opts);
      if (!pos.ok()) return pos.take_error();
      cmd.no_authenticate = !opts.empty();
      if (pos->size() > 2) return usage_error(*spec);
      if (!pos->empty()) {
        std::string host = (*pos)[0];
        std::string port;
        if (pos->size() == 2) {
          port = (*pos)[1];
        } else if (auto colon = host.rfind(':');
                   colon != std::string::npos && host.find(':') == colon) {
          port = host.substr(colon + 1);  // host:port (one colon: not an IPv6 address)
          host.resize(colon);
        }
        if (host.empty()) return usage_error(*spec);
        cmd.server = host;
        if (!port.empty()) {
          unsigned n = 0;
          auto [p, ec] = std::from_chars(port.data(), port.data() + port.size(), n);
          if (ec != std::errc() || p != port.data() + port.size() || n == 0 || n > 65535)
            return Error(Errc::Invalid, "bad port '" + port + "'");
          cmd.port = static_cast<uint16_t>(n);
        }
      }
      break;
    }
    case AdmOp::Authenticate: {
      auto pos = take_options(*spec, rest, {{"mechanisms", true}}, opts);
      if (!pos.ok()) return pos.take_error();
      for (auto& [k, v] : opts) cmd.mechanism = v;
      if (pos->size() > 1) return usage_error(*spec);
      if (!pos->empty()) cmd.user = (*pos)[0];
      break;
    }
    case AdmOp::ListMailbox: {
      auto pos = take_options(*spec, rest, {{"subscribed", false}}, opts);
      if (!pos.ok()) return pos.take_error();
      cmd.subscribed = !opts.empty();
      if (pos->size() > 2) return usage_error(*spec);
      cmd.mailbox = pos->empty() ? "*" : (*pos)[0];
      if (pos->size() == 2) cmd.reference = (*pos)[1];
      break;
    }
    case AdmOp::CreateMailbox: {
      auto pos = take_options(*spec, rest, {{"partition", true}, {"specialuse", true}}, opts);
      if (!pos.ok()) return pos.take_error();
      for (auto& [k, v] : opts) (k == "partition" ? cmd.partition : cmd.specialuse) = v;
      if (pos->empty() || pos->size() > 2) return usage_error(*spec);
      if (pos->size() == 2) {
        if (!cmd.partition.empty()) return usage_error(*spec);  // two partitions
        cmd.partition = (*pos)[1];
      }
      cmd.mailbox = (*pos)[0];
      break;
    }
    case AdmOp::RenameMailbox: {
      auto pos = take_options(*spec, rest, {{"partition", true}}, opts);
      if (!pos.ok()) return pos.take_error();
      for (auto& [k, v] : opts) cmd.partition = v;
      if (pos->size() == 3 && cmd.partition.empty()) {
        cmd.partition = (*pos)[2];
        pos->pop_back();
      }
      if (pos->size() != 2) return usage_error(*spec);
      cmd.mailbox = (*pos)[0];
      cmd.new_name = (*pos)[1];
      break;
    }
    case AdmOp::DeleteMailbox:
    case AdmOp::ListAcl:
    case AdmOp::ListQuota:
    case AdmOp::ListQuotaRoot:
    case AdmOp::Subscribe:
    case AdmOp::Unsubscribe: {
      auto pos = take_options(*spec, rest, {}, opts);
      if (!pos.ok()) return pos.take_error();
      if (pos->size() != 1) return usage_error(*spec);
      cmd.mailbox = (*pos)[0];
      break;
    }
    case AdmOp::GetMetadata: {
      auto pos = take_options(*spec, rest, {}, opts);
      if (!pos.ok()) return pos.take_error();
      if (pos->size() > 1) return usage_error(*spec);
      if (!pos->empty()) cmd.mailbox = (*pos)[0];  // empty: server metadata
      break;
    }
    case AdmOp::SetAcl: {
      auto pos = take_options(*spec, rest, {}, opts);
      if (!pos.ok()) return pos.take_error();
      if (pos->size() < 3 || (pos->size() - 1) % 2 != 0) return usage_error(*spec);
      cmd.mailbox = (*pos)[0];
      for (size_t i = 1; i + 1 < pos->size(); i += 2) {
        std::string rights = expand_rights((*pos)[i + 1]);
        // Rights are letters (RFC 4314 and Cyrus's old c/d), optionally
        // prefixed by + or - to add or remove; refuse anything else here
        // rather than have the server guess.
        std::string_view letters = rights;
        if (!letters.empty() && (letters[0] == '+' || letters[0] == '-')) letters.remove_prefix(1);
        if (!std::all_of(letters.begin(), letters.end(),
                         [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }))
          return Error(Errc::Invalid, "bad rights '" + (*pos)[i + 1] +
                                          "': letters like lrswipkxtea, or one of none read post "
                                          "append write delete all");
        if ((*pos)[i].empty()) return Error(Errc::Invalid, "empty identifier");
        cmd.acl.emplace_back((*pos)[i], rights);
      }
      break;
    }
    case AdmOp::DeleteAcl: {
      auto pos = take_options(*spec, rest, {}, opts);
      if (!pos.ok()) return pos.take_error();
      if (pos->size() < 2) return usage_error(*spec);
      cmd.mailbox = (*pos)[0];
      cmd.ids.assign(pos->begin() + 1, pos->end());
      break;
    }
    case AdmOp::SetQuota: {
      auto pos = take_options(*spec, rest, {}, opts);
      if (!pos.ok()) return pos.take_error();
      if (pos->empty()) return usage_error(*spec);
      cmd.mailbox = (*pos)[0];
      if (pos->size() == 2) {
        // cyradm's short forms: "sq root none" (no quota), "sq root N" (STORAGE N).
        if (lower((*pos)[1]) == "none") break;
        auto limit = parse_limit((*pos)[1]);
        if (!limit.ok()) return limit.take_error();
        cmd.quota.push_back({"STORAGE", *limit});
        break;
      }
      if (pos->size() < 3 || (pos->size() - 1) % 2 != 0) return usage_error(*spec);
      for (size_t i = 1; i + 1 < pos->size(); i += 2) {
        std::string res = upper((*pos)[i]);
        if (!valid_resource(res)) return Error(Errc::Invalid, "bad quota resource '" + (*pos)[i] + "'");
        auto limit = parse_limit((*pos)[i + 1]);
        if (!limit.ok()) return limit.take_error();
        cmd.quota.push_back({res, *limit});
      }
      break;
    }
  }
  return std::optional<AdmCommand>(std::move(cmd));
}

}  // namespace cyr::ops::adm
