// Shared pieces of the housekeeping commands (cyr_expire, cyr_ipurge,
// cyr_unexpunge, cyr_userseen): Cyrus's duration syntax and the choice of
// mailboxes by pattern, prefix or user. Header-only, like ops/adm/common.h.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "store/store.h"

namespace cyr::ops::adm {

// Cyrus cyr_expire durations: a non-negative number (a fraction is allowed)
// with an optional unit suffix d, h, m or s; no suffix means days. Returns
// seconds, or nullopt for anything else ("", "-1", "3x", "1e400").
inline std::optional<int64_t> parse_duration_days(std::string_view text) {
  if (text.empty() || text.size() > 32) return std::nullopt;
  std::string s(text);
  int64_t unit = 86400;
  switch (s.back()) {
    case 'd': case 'D': unit = 86400; s.pop_back(); break;
    case 'h': case 'H': unit = 3600; s.pop_back(); break;
    case 'm': case 'M': unit = 60; s.pop_back(); break;
    case 's': case 'S': unit = 1; s.pop_back(); break;
    default: break;
  }
  if (s.empty()) return std::nullopt;
  for (char c : s)
    if (!(c >= '0' && c <= '9') && c != '.') return std::nullopt;
  char* end = nullptr;
  double v = std::strtod(s.c_str(), &end);
  if (end != s.c_str() + s.size() || !std::isfinite(v) || v < 0) return std::nullopt;
  double secs = v * static_cast<double>(unit);
  if (secs > 100.0 * 365 * 86400) return std::nullopt;  // a century is surely a typo
  return static_cast<int64_t>(secs);
}

// Every mailbox matching one of `patterns` (IMAP LIST syntax on internal
// names, '*' and '%'), or all mailboxes when there is none. Sorted, unique.
inline Result<std::vector<std::string>> select_mailboxes(store::Store& store,
                                                         const std::vector<std::string>& patterns) {
  std::vector<std::string> out;
  if (patterns.empty()) return store.list("*");
  for (const auto& p : patterns) {
    auto names = store.list(p);
    if (!names.ok()) return names.take_error();
    out.insert(out.end(), names->begin(), names->end());
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

// True for user mailboxes ("user.fred", "user.fred.Sent", "example.com!user.fred").
inline bool is_user_mailbox(std::string_view name) {
  if (auto bang = name.find('!'); bang != std::string_view::npos) name.remove_prefix(bang + 1);
  return name.starts_with("user.");
}

}  // namespace cyr::ops::adm
