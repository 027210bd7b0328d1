#include "store/mail/mboxname.h"
#include "store/base/ascii.h"
#include "store/mail/utf8.h"

#include <cctype>
#include <cstdint>

namespace cyr::mail {

namespace {

constexpr size_t kMaxUtf7Input = kMaxMailboxName * 4;

constexpr char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

int b64_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == ',') return 63;
  return -1;
}

Error bad_utf7(const char* why) { return Error(Errc::Invalid, "Invalid modified UTF-7 in mailbox name", why); }

bool is_domain_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_';
}

Status validate_domain(std::string_view d) {
  if (d.empty()) return Error(Errc::Invalid, "Invalid mailbox name", "empty domain");
  if (d.size() > kMaxDomainName) return Error(Errc::Limit, "Mailbox name too long", "domain too long");
  if (d.front() == '.' || d.back() == '.' || d.find("..") != std::string_view::npos) {
    return Error(Errc::Invalid, "Invalid mailbox name", "bad domain");
  }
  for (char c : d)
    if (!is_domain_char(c)) return Error(Errc::Invalid, "Invalid mailbox name", "bad domain character");
  return {};
}

// Characters no internal component may hold: they would escape a partition
// directory, confuse LIST wildcards, or break the "<domain>!" prefix.
bool is_forbidden_name_char(unsigned char c) {
  return c < 0x20 || c >= 0x7f || c == '/' || c == '%' || c == '*' || c == '!';
}

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (true) {
    size_t p = s.find(sep, start);
    out.push_back(s.substr(start, p == std::string_view::npos ? std::string_view::npos : p - start));
    if (p == std::string_view::npos) break;
    start = p + 1;
    if (out.size() > kMaxMailboxLevels + 1) break;  // caller reports the limit
  }
  return out;
}

// Splits "dom!rest" without validating.
std::pair<std::string_view, std::string_view> split_domain(std::string_view internal) {
  size_t bang = internal.find('!');
  if (bang == std::string_view::npos) return {{}, internal};
  return {internal.substr(0, bang), internal.substr(bang + 1)};
}

std::string with_domain(std::string_view domain, std::string_view rest) {
  if (domain.empty()) return std::string(rest);
  std::string out(domain);
  out += '!';
  out += rest;
  return out;
}

}  // namespace

// ---------------------------------------------------------------------------
// Modified UTF-7

Result<std::string> mutf7_to_utf8(std::string_view in) {
  if (in.size() > kMaxUtf7Input) return Error(Errc::Limit, "Mailbox name too long");
  std::string out;
  bool just_closed_shift = false;  // previous char was the '-' ending a base64 run
  size_t i = 0;
  while (i < in.size()) {
    unsigned char c = static_cast<unsigned char>(in[i]);
    if (c < 0x20 || c >= 0x7f) return bad_utf7("raw control or 8-bit byte");
    if (c != '&') {
      out += static_cast<char>(c);
      just_closed_shift = false;
      ++i;
      continue;
    }
    if (i + 1 < in.size() && in[i + 1] == '-') {
      out += '&';
      i += 2;
      just_closed_shift = false;
      continue;
    }
    // RFC 3501: a run of non-ASCII is one shift sequence, never two adjacent.
    if (just_closed_shift) return bad_utf7("adjacent shift sequences");
    ++i;
    uint32_t bits = 0;
    int nbits = 0;
    uint32_t high_surrogate = 0;
    size_t units = 0;
    while (true) {
      if (i >= in.size()) return bad_utf7("unterminated shift sequence");
      char ch = in[i++];
      if (ch == '-') break;
      int v = b64_value(ch);
      if (v < 0) return bad_utf7("bad base64 character");
      bits = (bits << 6) | static_cast<uint32_t>(v);
      nbits += 6;
      if (nbits >= 16) {
        nbits -= 16;
        uint32_t unit = (bits >> nbits) & 0xffff;
        bits &= (1u << nbits) - 1;
        ++units;
        if (high_surrogate) {
          if (unit < 0xdc00 || unit > 0xdfff) return bad_utf7("unpaired surrogate");
          append_utf8(out, 0x10000 + ((high_surrogate - 0xd800) << 10) + (unit - 0xdc00));
          high_surrogate = 0;
        } else if (unit >= 0xd800 && unit <= 0xdbff) {
          high_surrogate = unit;
        } else if (unit >= 0xdc00 && unit <= 0xdfff) {
          return bad_utf7("unpaired surrogate");
        } else if (unit >= 0x20 && unit <= 0x7e) {
          return bad_utf7("printable ASCII must not be encoded");
        } else if (unit < 0x20 || unit == 0x7f) {
          return bad_utf7("control character");
        } else {
          append_utf8(out, unit);
        }
      }
    }
    if (units == 0) return bad_utf7("empty shift sequence");
    if (high_surrogate) return bad_utf7("unpaired surrogate");
    if (nbits >= 6 || bits != 0) return bad_utf7("bad padding bits");
    just_closed_shift = true;
  }
  return out;
}

Result<std::string> utf8_to_mutf7(std::string_view in) {
  if (in.size() > kMaxUtf7Input) return Error(Errc::Limit, "Mailbox name too long");
  std::string out;
  size_t i = 0;
  while (i < in.size()) {
    unsigned char c = static_cast<unsigned char>(in[i]);
    if (c >= 0x20 && c <= 0x7e) {
      out += static_cast<char>(c);
      if (c == '&') out += '-';
      ++i;
      continue;
    }
    if (c < 0x20 || c == 0x7f) return Error(Errc::Invalid, "Invalid mailbox name", "control character");
    // A run of non-ASCII code points becomes one base64 run of UTF-16.
    out += '&';
    uint32_t bits = 0;
    int nbits = 0;
    auto put_unit = [&](uint32_t unit) {
      bits = (bits << 16) | unit;
      nbits += 16;
      while (nbits >= 6) {
        nbits -= 6;
        out += kB64[(bits >> nbits) & 0x3f];
      }
      bits &= (1u << nbits) - 1;
    };
    while (i < in.size() && static_cast<unsigned char>(in[i]) >= 0x80) {
      auto cp = next_utf8(in, i);
      if (!cp) return Error(Errc::Invalid, "Invalid UTF-8 in mailbox name");
      if (*cp >= 0x10000) {
        uint32_t v = *cp - 0x10000;
        put_unit(0xd800 + (v >> 10));
        put_unit(0xdc00 + (v & 0x3ff));
      } else {
        put_unit(*cp);
      }
    }
    if (nbits > 0) out += kB64[(bits << (6 - nbits)) & 0x3f];
    out += '-';
  }
  // Non-ASCII grows in modified UTF-7 (4 UTF-8 bytes can take 6): keep the
  // output within what mutf7_to_utf8() reads back.
  if (out.size() > kMaxUtf7Input) return Error(Errc::Limit, "Mailbox name too long");
  return out;
}

bool is_valid_mutf7(std::string_view s) { return mutf7_to_utf8(s).ok(); }

// ---------------------------------------------------------------------------
// Internal names

std::string MailboxName::to_internal() const {
  std::string rest;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (i) rest += '.';
    rest += parts[i];
  }
  return with_domain(domain, rest);
}

Status validate_mboxname(std::string_view internal) {
  auto bad = [&](const char* why) {
    return Error(Errc::Invalid, "Invalid mailbox name", std::string(why) + ": '" +
                                                           std::string(internal.substr(0, 100)) + "'");
  };
  if (internal.empty()) return bad("empty name");
  if (internal.size() > kMaxMailboxName) return Error(Errc::Limit, "Mailbox name too long");
  auto [domain, rest] = split_domain(internal);
  if (internal.find('!') != std::string_view::npos) CYR_TRY(validate_domain(domain));
  if (rest.empty()) return bad("empty name");
  for (unsigned char c : rest)
    if (is_forbidden_name_char(c)) return bad("forbidden character");
  auto parts = split(rest, '.');
  if (parts.size() > kMaxMailboxLevels) return Error(Errc::Limit, "Mailbox name has too many levels");
  for (auto p : parts) {
    if (p.empty()) return bad("empty component");
    // '^' stands for '.', so these would be "." and ".." to a client.
    if (p == "^" || p == "^^") return bad("dot component");
  }
  if (parts[0] == "user" && parts.size() == 1) return bad("no user");
  if (!is_valid_mutf7(rest)) return bad("invalid modified UTF-7");
  return {};
}

Result<MailboxName> parse_mboxname(std::string_view internal) {
  CYR_TRY(validate_mboxname(internal));
  auto [domain, rest] = split_domain(internal);
  MailboxName n;
  n.domain = std::string(domain);
  for (auto p : split(rest, '.')) n.parts.emplace_back(p);
  return n;
}

std::optional<std::string> mboxname_owner(std::string_view internal) {
  auto n = parse_mboxname(internal);
  if (!n.ok() || n->parts.size() < 2 || n->parts[0] != "user") return std::nullopt;
  std::string owner = n->parts[1];
  for (char& c : owner)
    if (c == '^') c = '.';
  if (!n->domain.empty()) owner += "@" + n->domain;
  return owner;
}

std::string mboxname_owner_key(std::string_view internal) {
  auto n = parse_mboxname(internal);
  if (!n.ok()) return {};
  if (n->parts[0] == "user") return with_domain(n->domain, "user." + n->parts[1]);
  return with_domain(n->domain, n->parts[0]);
}

std::optional<std::string> mboxname_parent(std::string_view internal) {
  if (!validate_mboxname(internal).ok()) return std::nullopt;
  auto [domain, rest] = split_domain(internal);
  size_t dot = rest.rfind('.');
  if (dot == std::string_view::npos) return std::nullopt;
  return with_domain(domain, rest.substr(0, dot));
}

bool mboxname_is_user_inbox(std::string_view internal) {
  auto n = parse_mboxname(internal);
  return n.ok() && n->parts.size() == 2 && n->parts[0] == "user";
}

bool mboxname_is_same_or_below(std::string_view internal, std::string_view ancestor) {
  if (ancestor.empty()) return false;
  if (internal == ancestor) return true;
  return internal.size() > ancestor.size() && internal.starts_with(ancestor) &&
         internal[ancestor.size()] == '.';
}

Result<std::string> user_inbox_name(std::string_view userid, bool virtdomains) {
  std::string_view local = userid;
  std::string domain;
  if (virtdomains) {
    size_t at = userid.rfind('@');
    if (at != std::string_view::npos) {
      local = userid.substr(0, at);
      for (char c : userid.substr(at + 1)) domain += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      CYR_TRY(validate_domain(domain));
    }
  }
  if (local.empty() || local.size() > kMaxMailboxName) {
    return Error(Errc::Invalid, "Invalid user name", "bad length");
  }
  std::string name = "user.";
  for (char c : local) {
    // '^' is how a '.' in a user id is stored; a literal '^' would come back
    // as a different user id.
    if (c == '^') return Error(Errc::Invalid, "Invalid user name", "'^' in user id");
    name += c == '.' ? '^' : c;
  }
  name = with_domain(domain, name);
  auto st = validate_mboxname(name);
  if (!st.ok()) return Error(st.error().code, "Invalid user name", st.error().detail);
  // A user id must name exactly one level below "user".
  if (!mboxname_is_user_inbox(name)) return Error(Errc::Invalid, "Invalid user name", "id spans levels");
  return name;
}

// ---------------------------------------------------------------------------
// Namespace

Namespace::Namespace(NamespaceOptions options, std::string userid, bool is_admin)
    : options_(std::move(options)), userid_(std::move(userid)), is_admin_(is_admin) {
  alt_ = options_.altnamespace && !is_admin_;
  user_local_ = userid_;
  if (options_.virtdomains) {
    size_t at = userid_.rfind('@');
    if (at != std::string::npos) {
      user_local_ = userid_.substr(0, at);
      for (char c : userid_.substr(at + 1)) user_domain_ += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
  }
  if (user_local_ == "anonymous") user_local_.clear();
}

NamespacePrefixes Namespace::prefixes() const {
  const char sep = separator();
  if (alt_) {
    return {{"", sep}, {options_.userprefix + sep, sep}, {options_.sharedprefix + sep, sep}};
  }
  return {{std::string("INBOX") + sep, sep}, {std::string("user") + sep, sep}, {"", sep}};
}

Result<std::string> Namespace::to_internal(std::string_view external) const {
  if (external.empty()) return Error(Errc::Invalid, "Invalid mailbox name", "empty name");
  if (external.size() > kMaxMailboxName) return Error(Errc::Limit, "Mailbox name too long");
  const char sep = separator();

  std::string domain = user_domain_;
  if (options_.virtdomains && is_admin_ && user_domain_.empty()) {
    size_t at = external.rfind('@');
    if (at != std::string_view::npos) {
      for (char c : external.substr(at + 1)) domain += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      CYR_TRY(validate_domain(domain));
      external = external.substr(0, at);
      if (external.empty()) return Error(Errc::Invalid, "Invalid mailbox name", "empty name");
    }
  }

  // Which namespace: match the alternate prefixes before splitting, since
  // they may contain characters (spaces) but not the separator.
  enum class Kind { Personal, OtherUsers, Shared, AsIs } kind = Kind::AsIs;
  std::string_view rest = external;
  bool trailing_separator = false;
  // Matches `prefix` as the whole first component(s) of the name.
  auto strip_prefix = [&](std::string_view prefix, bool case_insensitive) {
    if (prefix.empty() || rest.size() < prefix.size()) return false;
    std::string_view head = rest.substr(0, prefix.size());
    if (case_insensitive ? !iequals(head, prefix) : head != prefix) return false;
    if (rest.size() == prefix.size()) {
      rest = {};
      return true;
    }
    if (rest[prefix.size()] != sep) return false;
    rest = rest.substr(prefix.size() + 1);
    trailing_separator = rest.empty();
    return true;
  };
  bool inbox_prefix = false;
  if (strip_prefix("INBOX", true)) {
    kind = Kind::Personal;
    inbox_prefix = true;
  } else if (alt_ && strip_prefix(options_.userprefix, false)) {
    kind = Kind::OtherUsers;
  } else if (alt_ && strip_prefix(options_.sharedprefix, false)) {
    kind = Kind::Shared;
  } else if (alt_) {
    kind = Kind::Personal;
  }
  if (trailing_separator) return Error(Errc::Invalid, "Invalid mailbox name", "empty component");
  if ((kind == Kind::OtherUsers || kind == Kind::Shared) && rest.empty()) {
    return Error(Errc::NotFound, "Mailbox does not exist", "namespace prefix alone");
  }

  std::vector<std::string> parts;
  if (kind == Kind::Personal) {
    if (user_local_.empty()) return Error(Errc::NotFound, "Mailbox does not exist", "anonymous INBOX");
    auto inbox = user_inbox_name(user_local_, false);
    CYR_TRY(inbox);
    parts = {"user", inbox->substr(5)};
    // The alternate namespace shows the user's folders beside INBOX, so a
    // name below INBOX is a folder of its own, stored below a level named
    // INBOX (as Cyrus does: "INBOX/x" is user.NAME.INBOX.x, while "x" is
    // user.NAME.x).
    if (alt_ && inbox_prefix && !rest.empty()) parts.push_back("INBOX");
  } else if (kind == Kind::OtherUsers) {
    parts = {"user"};
  }
  if (!rest.empty()) {
    auto comps = split(rest, sep);
    if (comps.size() > kMaxMailboxLevels) return Error(Errc::Limit, "Mailbox name has too many levels");
    for (auto c : comps) {
      if (c.empty()) return Error(Errc::Invalid, "Invalid mailbox name", "empty component");
      if (c == "." || c == "..") return Error(Errc::Invalid, "Invalid mailbox name", "dot component");
      std::string comp;
      for (char ch : c) {
        if (options_.unixhierarchysep) {
          if (ch == '^') return Error(Errc::Invalid, "Invalid mailbox name", "'^' not allowed");
          comp += ch == '.' ? '^' : ch;
        } else {
          if (ch == '/') return Error(Errc::Invalid, "Invalid mailbox name", "'/' not allowed");
          comp += ch;
        }
      }
      parts.push_back(std::move(comp));
    }
  }
  MailboxName name{domain, std::move(parts)};
  std::string internal = name.to_internal();
  CYR_TRY(validate_mboxname(internal));
  return internal;
}

Result<std::string> Namespace::to_external(std::string_view internal) const {
  auto parsed = parse_mboxname(internal);
  CYR_TRY(parsed);
  const MailboxName& n = *parsed;
  const bool global_admin = is_admin_ && user_domain_.empty();
  if (n.domain != user_domain_ && !(global_admin && options_.virtdomains)) {
    return Error(Errc::Perm, "Permission denied", "mailbox in another domain");
  }
  const char sep = separator();
  auto ext = [&](const std::string& comp) {
    std::string out = comp;
    if (options_.unixhierarchysep)
      for (char& c : out)
        if (c == '^') c = '.';
    return out;
  };
  auto join_from = [&](size_t first) {
    std::string out;
    for (size_t i = first; i < n.parts.size(); ++i) {
      if (i > first) out += sep;
      out += ext(n.parts[i]);
    }
    return out;
  };

  std::string out;
  std::string own_key;
  if (!user_local_.empty()) {
    auto inbox = user_inbox_name(user_local_, false);
    if (inbox.ok()) own_key = inbox->substr(5);
  }
  if (n.parts[0] == "user" && !own_key.empty() && n.parts[1] == own_key && n.domain == user_domain_) {
    if (n.parts.size() == 2) {
      out = "INBOX";
    } else if (alt_ && n.parts.size() > 3 && n.parts[2] == "INBOX") {
      out = std::string("INBOX") + sep + join_from(3);
    } else if (alt_) {
      out = join_from(2);
    } else {
      out = std::string("INBOX") + sep + join_from(2);
    }
  } else if (n.parts[0] == "user") {
    out = alt_ ? options_.userprefix + sep + join_from(1) : std::string("user") + sep + join_from(1);
  } else {
    out = alt_ ? options_.sharedprefix + sep + join_from(0) : join_from(0);
  }
  if (global_admin && !n.domain.empty()) out += "@" + n.domain;
  // Some internal names have no name of their own in this view: a shared
  // mailbox "INBOX.Sent" would show as the user's own INBOX.Sent. A name LIST
  // shows must name the mailbox it was shown for (a DELETE of it must not
  // hit another one), so such a mailbox is not shown at all, as one of
  // another domain is not. (Found by fuzzing, tests/fuzz.)
  auto back = to_internal(out);
  if (!back.ok() || *back != internal)
    return Error(Errc::Perm, "Permission denied", "the mailbox has no name of its own in this namespace");
  return out;
}

}  // namespace cyr::mail
