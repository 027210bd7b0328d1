// Small text helpers shared by the configuration parsers (ASCII only: the
// files are ASCII by specification; other bytes pass through unchanged).
// Internal to store/config. Stateless, thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "store/base/ascii.h"

namespace cyr::config::text {

inline bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v';
}

inline std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

inline char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }

inline std::string ascii_lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = lower(c);
  return out;
}

using ::cyr::iequals;  // store/base/ascii.h

// Words separated by white space; views into s.
inline std::vector<std::string_view> split_ws(std::string_view s) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && is_space(s[i])) ++i;
    size_t start = i;
    while (i < s.size() && !is_space(s[i])) ++i;
    if (i > start) out.push_back(s.substr(start, i - start));
  }
  return out;
}

// 'value' for an error message: at most 80 bytes, control and non-ASCII
// bytes as \xNN, so that garbage input cannot garble a terminal or a log.
inline std::string quote_for_message(std::string_view v) {
  constexpr size_t kMax = 80;
  static const char kHex[] = "0123456789abcdef";
  std::string out = "'";
  for (size_t i = 0; i < v.size() && i < kMax; ++i) {
    unsigned char c = static_cast<unsigned char>(v[i]);
    if (c < 0x20 || c >= 0x7f || c == '\\') {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  if (v.size() > kMax) out += "...";
  out += "'";
  return out;
}

}  // namespace cyr::config::text
