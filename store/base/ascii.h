// ASCII case-insensitive comparison for protocol keywords, header and
// parameter names, charset names and the like. Only A-Z and a-z fold, in
// any locale (std::tolower would follow the process's C locale).
#pragma once

#include <string>
#include <string_view>

namespace cyr {

constexpr char ascii_lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }

constexpr bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
  return true;
}

inline std::string ascii_lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = ascii_lower(c);
  return out;
}

}  // namespace cyr
