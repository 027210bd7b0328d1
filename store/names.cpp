// Name rules of the store (validation, owner shard, LIST matching) and the
// small value-type helpers declared in store/types.h.
#include <algorithm>
#include <cstdio>

#include "store/mail/list_pattern.h"
#include "store/mail/mboxname.h"
#include "store/store.h"

namespace cyr::store {

Status validate_mailbox_name(std::string_view name) {
  // One set of name rules for the whole server: store/mail's.
  return mail::validate_mboxname(name);
}

Result<std::string> shard_of(std::string_view name) {
  CYR_TRY(validate_mailbox_name(name));
  std::string key = mail::mboxname_owner_key(name);
  if (key.empty()) return Error(Errc::Invalid, "Invalid mailbox name", "no owner key: " + std::string(name));
  return key;
}

bool list_match(std::string_view pattern, std::string_view name) {
  return mail::list_pattern_match(pattern, name, '.');
}

void UidSet::add(Uid lo, Uid hi) {
  if (lo > hi) std::swap(lo, hi);
  auto it = std::lower_bound(ranges_.begin(), ranges_.end(), std::make_pair(lo, Uid{0}));
  // Merge with the previous range when adjacent or overlapping.
  if (it != ranges_.begin()) {
    auto prev = std::prev(it);
    if (prev->second == UINT32_MAX || prev->second + 1 >= lo) it = prev;
  }
  if (it == ranges_.end() || (it->first > hi && (hi == UINT32_MAX || it->first > hi + 1))) {
    ranges_.insert(it, {lo, hi});
    return;
  }
  it->first = std::min(it->first, lo);
  it->second = std::max(it->second, hi);
  auto next = std::next(it);
  while (next != ranges_.end() && (it->second == UINT32_MAX || next->first <= it->second + 1)) {
    it->second = std::max(it->second, next->second);
    next = ranges_.erase(next);
  }
}

bool UidSet::contains(Uid uid) const {
  auto it = std::upper_bound(ranges_.begin(), ranges_.end(), std::make_pair(uid, UINT32_MAX));
  if (it == ranges_.begin()) return false;
  --it;
  return uid >= it->first && uid <= it->second;
}

uint64_t UidSet::count() const {
  uint64_t n = 0;
  for (auto& r : ranges_) n += uint64_t(r.second) - r.first + 1;
  return n;
}

std::vector<Uid> UidSet::to_vector() const {
  std::vector<Uid> v;
  for (auto& r : ranges_)
    for (uint64_t u = r.first; u <= r.second; ++u) v.push_back(static_cast<Uid>(u));
  return v;
}

std::string UidSet::to_string() const {
  std::string s;
  char buf[32];
  for (auto& r : ranges_) {
    if (!s.empty()) s += ',';
    if (r.first == r.second)
      std::snprintf(buf, sizeof buf, "%u", r.first);
    else
      std::snprintf(buf, sizeof buf, "%u:%u", r.first, r.second);
    s += buf;
  }
  return s;
}

Status validate_sieve_script_name(std::string_view name) {
  constexpr size_t kMaxSieveScriptName = 512;
  if (name.empty()) return Error(Errc::Invalid, "Script name is empty");
  if (name.size() > kMaxSieveScriptName) return Error(Errc::Invalid, "Script name is too long");
  size_t i = 0;
  while (i < name.size()) {
    auto c = static_cast<unsigned char>(name[i]);
    auto at = [&](size_t k) { return static_cast<unsigned char>(name[i + k]); };
    size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (n == 0 || i + n > name.size()) return Error(Errc::Invalid, "Script name is not UTF-8");
    for (size_t k = 1; k < n; ++k)
      if ((at(k) >> 6) != 2) return Error(Errc::Invalid, "Script name is not UTF-8");
    // Overlong forms, surrogates and code points past U+10FFFF.
    if ((n == 2 && c < 0xc2) || (n == 3 && c == 0xe0 && at(1) < 0xa0) || (n == 3 && c == 0xed && at(1) >= 0xa0) ||
        (n == 4 && c == 0xf0 && at(1) < 0x90) || (n == 4 && (c > 0xf4 || (c == 0xf4 && at(1) >= 0x90))))
      return Error(Errc::Invalid, "Script name is not UTF-8");
    if (c < 0x20 || c == 0x7f || (c == 0xc2 && at(1) <= 0x9f))
      return Error(Errc::Invalid, "Script name contains a control character");
    if (c == '/') return Error(Errc::Invalid, "Script name contains '/'");
    if (c == 0xe2 && at(1) == 0x80 && (at(2) == 0xa8 || at(2) == 0xa9))
      return Error(Errc::Invalid, "Script name contains a line separator");
    i += n;
  }
  return {};
}

const char* change_kind_name(ChangeKind k) {
  switch (k) {
    case ChangeKind::User: return "USER";
    case ChangeKind::Mailbox: return "MAILBOX";
    case ChangeKind::Append: return "APPEND";
    case ChangeKind::Seen: return "SEEN";
    case ChangeKind::Sub: return "SUB";
    case ChangeKind::Quota: return "QUOTA";
    case ChangeKind::Unmailbox: return "UNMAILBOX";
    case ChangeKind::Rename: return "RENAME";
    case ChangeKind::Annotation: return "ANNOTATION";
    case ChangeKind::Sieve: return "SIEVE";
  }
  return "?";
}

const char* role_name(Role r) { return r == Role::Primary ? "primary" : "replica"; }

}  // namespace cyr::store
