#include "server/auth/saslprep.h"

#include <cstdint>
#include <cstdio>

namespace cyr::auth {
namespace {

// Decodes one UTF-8 sequence at s[i]; returns the code point and advances i,
// or returns -1 for malformed input (overlong forms, surrogates, > U+10FFFF).
int32_t next_code_point(std::string_view s, size_t& i) {
  auto byte = [&](size_t k) { return static_cast<uint8_t>(s[k]); };
  uint8_t b0 = byte(i);
  if (b0 < 0x80) {
    ++i;
    return b0;
  }
  int len;
  int32_t cp;
  if (b0 >= 0xC2 && b0 <= 0xDF) { len = 2; cp = b0 & 0x1F; }
  else if (b0 >= 0xE0 && b0 <= 0xEF) { len = 3; cp = b0 & 0x0F; }
  else if (b0 >= 0xF0 && b0 <= 0xF4) { len = 4; cp = b0 & 0x07; }
  else return -1;
  if (i + len > s.size()) return -1;
  for (int k = 1; k < len; ++k) {
    uint8_t b = byte(i + k);
    if ((b & 0xC0) != 0x80) return -1;
    cp = (cp << 6) | (b & 0x3F);
  }
  if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10FFFF) return -1;
  if (cp >= 0xD800 && cp <= 0xDFFF) return -1;
  i += len;
  return cp;
}

void append_utf8(std::string& out, int32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

bool in(int32_t cp, int32_t lo, int32_t hi) { return cp >= lo && cp <= hi; }

// RFC 3454 table B.1.
bool mapped_to_nothing(int32_t cp) {
  return cp == 0x00AD || cp == 0x034F || cp == 0x1806 || in(cp, 0x180B, 0x180D) ||
         in(cp, 0x200B, 0x200D) || cp == 0x2060 || in(cp, 0xFE00, 0xFE0F) || cp == 0xFEFF;
}

// RFC 3454 table C.1.2 (B.1 has already taken U+200B).
bool non_ascii_space(int32_t cp) {
  return cp == 0x00A0 || cp == 0x1680 || in(cp, 0x2000, 0x200B) || cp == 0x202F ||
         cp == 0x205F || cp == 0x3000;
}

// RFC 4013 s2.3: tables C.2.1, C.2.2, C.3, C.4, C.5, C.6, C.7, C.8, C.9.
bool prohibited(int32_t cp) {
  if (cp < 0x20 || cp == 0x7F) return true;                                    // C.2.1
  if (in(cp, 0x80, 0x9F) || cp == 0x06DD || cp == 0x070F || cp == 0x180E ||    // C.2.2
      cp == 0x200C || cp == 0x200D || cp == 0x2028 || cp == 0x2029 ||
      in(cp, 0x2060, 0x2063) || in(cp, 0x206A, 0x206F) || cp == 0xFEFF ||
      in(cp, 0xFFF9, 0xFFFC) || in(cp, 0x1D173, 0x1D17A))
    return true;
  if (in(cp, 0xE000, 0xF8FF) || in(cp, 0xF0000, 0xFFFFD) || in(cp, 0x100000, 0x10FFFD))
    return true;                                                               // C.3
  if (in(cp, 0xFDD0, 0xFDEF) || (cp & 0xFFFE) == 0xFFFE) return true;          // C.4
  if (in(cp, 0xD800, 0xDFFF)) return true;                                     // C.5
  if (in(cp, 0xFFF9, 0xFFFD)) return true;                                     // C.6
  if (in(cp, 0x2FF0, 0x2FFB)) return true;                                     // C.7
  if (cp == 0x0340 || cp == 0x0341 || cp == 0x200E || cp == 0x200F ||          // C.8
      in(cp, 0x202A, 0x202E))
    return true;
  if (cp == 0xE0001 || in(cp, 0xE0020, 0xE007F)) return true;                  // C.9
  return false;
}

}  // namespace

bool is_valid_utf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size())
    if (next_code_point(s, i) < 0) return false;
  return true;
}

Result<std::string> saslprep(std::string_view in_text) {
  std::string out;
  out.reserve(in_text.size());
  size_t i = 0;
  while (i < in_text.size()) {
    int32_t cp = next_code_point(in_text, i);
    if (cp < 0) return Error(Errc::Invalid, "Invalid UTF-8 in string", "saslprep: malformed UTF-8");
    if (mapped_to_nothing(cp)) continue;
    if (non_ascii_space(cp)) cp = 0x20;
    if (prohibited(cp)) {
      char buf[64];
      snprintf(buf, sizeof buf, "saslprep: prohibited code point U+%04X", static_cast<unsigned>(cp));
      return Error(Errc::Invalid, "Prohibited character in string", buf);
    }
    append_utf8(out, cp);
  }
  if (out.empty()) return Error(Errc::Invalid, "Empty string", "saslprep: empty after preparation");
  return out;
}

}  // namespace cyr::auth
