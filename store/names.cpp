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
  }
  return "?";
}

const char* role_name(Role r) { return r == Role::Primary ? "primary" : "replica"; }

}  // namespace cyr::store
