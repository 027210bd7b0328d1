#include "store/mail/acl.h"

#include <algorithm>

#include "store/base/ascii.h"

namespace cyr::mail {

namespace {

// Canonical output order: RFC 4314 letters, then where Cyrus puts the
// legacy ones ("lrswipkxte" + "c" + "d" + "a" + "n").
struct RightLetter {
  char letter;
  Rights mask;
};
constexpr RightLetter kLetters[] = {
    {'l', right::kLookup},     {'r', right::kRead},      {'s', right::kSeen},
    {'w', right::kWrite},      {'i', right::kInsert},    {'p', right::kPost},
    {'k', right::kCreate},     {'x', right::kDeleteMbox}, {'t', right::kDeleteMsg},
    {'e', right::kExpunge},    {'a', right::kAdmin},    {'n', right::kAnnotate},
};

std::optional<Rights> letter_mask(char c) {
  for (const auto& rl : kLetters)
    if (rl.letter == c) return rl.mask;
  return std::nullopt;
}

struct Abbreviation {
  std::string_view name;
  std::string_view letters;
};
// cyradm's names for common sets (seed 003, Table 9-3, in RFC 4314 letters).
constexpr Abbreviation kAbbreviations[] = {
    {"none", ""},          {"read", "lrs"},          {"post", "lrsp"},
    {"append", "lrsip"},   {"write", "lrswipkxte"},  {"delete", "lrxte"},
    {"all", "lrswipkxtean"},
};

// Splits "-fred" into ("fred", negative).
std::pair<std::string_view, bool> split_negative(std::string_view identifier) {
  if (!identifier.empty() && identifier[0] == '-') return {identifier.substr(1), true};
  return {identifier, false};
}

// The entry "fred" or "-fred" names, or end().
std::vector<AclEntry>::iterator find_entry(std::vector<AclEntry>& entries, std::string_view identifier) {
  const auto split = split_negative(identifier);
  return std::find_if(entries.begin(), entries.end(), [&](const AclEntry& e) {
    return e.negative == split.second && e.identifier == split.first;
  });
}

}  // namespace

Result<Rights> parse_rights(std::string_view letters) {
  if (letters.size() > 64) return Error(Errc::Limit, "Rights string too long");
  Rights mask = 0;
  Rights macros = 0;  // members of the legacy macros named in the string
  for (char c : letters) {
    if (c == 'c') {
      macros |= right::kLegacyC;
      continue;
    }
    if (c == 'd') {
      macros |= right::kLegacyD;
      continue;
    }
    auto m = letter_mask(c);
    if (!m) {
      return Error(Errc::Invalid, "Invalid rights letter",
                   std::string("rights '") + std::string(letters) + "'");
    }
    mask |= *m;
  }
  // A macro stands for its members only when none of them is spelled out
  // (RFC 4314 2.1.1; Cyrus does the same): Cyrus stores "lrswite" as
  // "lrswited", and that 'd' must not bring back the 'x' it never had.
  for (Rights members : {right::kLegacyC, right::kLegacyD})
    if ((macros & members) && !(mask & members)) mask |= members;
  return mask;
}

Result<Rights> parse_rights_or_abbreviation(std::string_view text) {
  for (const auto& a : kAbbreviations)
    if (iequals(text, a.name)) return parse_rights(a.letters);
  return parse_rights(text);
}

std::string format_rights(Rights rights, bool legacy) {
  std::string out;
  for (const auto& rl : kLetters) {
    if (rl.letter == 'a' && legacy) {
      // Cyrus writes the legacy letters just before 'a', each when any of
      // its members is granted (RFC 4314 2.1.1).
      if (rights & right::kLegacyC) out += 'c';
      if (rights & right::kLegacyD) out += 'd';
    }
    if (rights & rl.mask) out += rl.letter;
  }
  return out;
}

Result<RightsModification> parse_rights_modification(std::string_view text) {
  RightsModification mod;
  if (!text.empty() && (text[0] == '+' || text[0] == '-')) {
    mod.op = text[0] == '+' ? RightsModification::Op::Add : RightsModification::Op::Remove;
    text.remove_prefix(1);
  }
  auto rights = parse_rights_or_abbreviation(text);
  CYR_TRY(rights);
  mod.rights = *rights;
  return mod;
}

Rights apply_modification(Rights current, const RightsModification& mod) {
  switch (mod.op) {
    case RightsModification::Op::Add: return current | mod.rights;
    case RightsModification::Op::Remove: return current & ~mod.rights;
    case RightsModification::Op::Replace: break;
  }
  return mod.rights;
}

bool is_valid_acl_identifier(std::string_view identifier) {
  auto [id, negative] = split_negative(identifier);
  if (id.empty() || id.size() > kMaxAclIdentifier) return false;
  if (id[0] == '-') return false;  // "--fred" is not a thing
  for (unsigned char c : id)
    if (c < 0x20 || c == 0x7f) return false;  // includes the tab separator
  if (id.starts_with("group:") && id.size() == 6) return false;
  return true;
}

Result<Acl> Acl::parse(std::string_view stored) {
  if (stored.size() > kMaxAclString) return Error(Errc::Limit, "ACL too long");
  Acl acl;
  size_t pos = 0;
  while (pos < stored.size()) {
    size_t tab1 = stored.find('\t', pos);
    if (tab1 == std::string_view::npos) {
      return Error(Errc::Invalid, "Malformed ACL", "identifier without rights");
    }
    std::string_view id = stored.substr(pos, tab1 - pos);
    size_t tab2 = stored.find('\t', tab1 + 1);
    std::string_view letters = stored.substr(tab1 + 1, tab2 == std::string_view::npos
                                                           ? std::string_view::npos
                                                           : tab2 - tab1 - 1);
    pos = tab2 == std::string_view::npos ? stored.size() : tab2 + 1;

    if (!is_valid_acl_identifier(id)) {
      return Error(Errc::Invalid, "Malformed ACL", "bad identifier '" + std::string(id) + "'");
    }
    auto rights = parse_rights(letters);
    if (!rights.ok()) {
      return Error(Errc::Invalid, "Malformed ACL", "bad rights for '" + std::string(id) + "'");
    }
    if (acl.entries_.size() >= kMaxAclEntries) return Error(Errc::Limit, "Too many ACL entries");
    auto [name, negative] = split_negative(id);
    for (const auto& e : acl.entries_) {
      if (e.negative == negative && e.identifier == name) {
        return Error(Errc::Invalid, "Malformed ACL", "duplicate entry '" + std::string(id) + "'");
      }
    }
    acl.entries_.push_back(AclEntry{std::string(name), negative, *rights});
  }
  return acl;
}

std::string Acl::to_string() const {
  std::string out;
  for (const auto& e : entries_) {
    if (e.negative) out += '-';
    out += e.identifier;
    out += '\t';
    out += format_rights(e.rights, true);
    out += '\t';
  }
  return out;
}

std::optional<Rights> Acl::rights_of(std::string_view identifier) const {
  auto [name, negative] = split_negative(identifier);
  for (const auto& e : entries_)
    if (e.negative == negative && e.identifier == name) return e.rights;
  return std::nullopt;
}

Status Acl::set(std::string_view identifier, Rights rights) {
  if (!is_valid_acl_identifier(identifier)) {
    return Error(Errc::Invalid, "Invalid identifier", std::string(identifier));
  }
  rights &= right::kAll;
  auto it = find_entry(entries_, identifier);
  if (rights == 0) {
    if (it != entries_.end()) entries_.erase(it);
    return {};
  }
  if (it != entries_.end()) {
    it->rights = rights;
    return {};
  }
  if (entries_.size() >= kMaxAclEntries) return Error(Errc::Limit, "Too many ACL entries");
  auto [name, negative] = split_negative(identifier);
  entries_.push_back(AclEntry{std::string(name), negative, rights});
  return {};
}

Status Acl::modify(std::string_view identifier, const RightsModification& mod) {
  Rights current = rights_of(identifier).value_or(0);
  return set(identifier, apply_modification(current, mod));
}

bool Acl::remove(std::string_view identifier) {
  auto it = find_entry(entries_, identifier);
  if (it == entries_.end()) return false;
  entries_.erase(it);
  return true;
}

Rights effective_rights(const Acl& acl, const AclSubject& who, Rights implicit) {
  const bool anonymous = who.is_anonymous || who.userid.empty() || who.userid == "anonymous";
  auto applies = [&](const std::string& id) {
    if (id == "anyone") return true;
    if (id == "anonymous") return anonymous;
    if (id.starts_with("group:")) {
      std::string_view g = std::string_view(id).substr(6);
      return std::find(who.groups.begin(), who.groups.end(), g) != who.groups.end();
    }
    return !anonymous && id == who.userid;
  };
  Rights positive = implicit;
  Rights negative = 0;
  for (const auto& e : acl.entries()) {
    if (!applies(e.identifier)) continue;
    (e.negative ? negative : positive) |= e.rights;
  }
  Rights result = positive & ~negative & right::kAll;
  if (who.is_admin) result |= right::kLookup | right::kAdmin;
  return result;
}

}  // namespace cyr::mail
