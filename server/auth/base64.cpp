#include "server/auth/base64.h"

#include <array>

namespace cyr::auth {
namespace {

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

constexpr std::array<signed char, 256> make_reverse() {
  std::array<signed char, 256> t{};
  for (auto& v : t) v = -1;
  for (int i = 0; i < 64; ++i) t[static_cast<unsigned char>(kAlphabet[i])] = static_cast<signed char>(i);
  return t;
}
constexpr auto kReverse = make_reverse();

Error bad_base64(const char* why) {
  return Error(Errc::Invalid, "Invalid base64 data", std::string("base64: ") + why);
}

}  // namespace

std::string base64_encode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    uint32_t v = (uint32_t(uint8_t(bytes[i])) << 16) | (uint32_t(uint8_t(bytes[i + 1])) << 8) |
                 uint8_t(bytes[i + 2]);
    out.push_back(kAlphabet[(v >> 18) & 63]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    out.push_back(kAlphabet[(v >> 6) & 63]);
    out.push_back(kAlphabet[v & 63]);
  }
  size_t rest = bytes.size() - i;
  if (rest == 1) {
    uint32_t v = uint32_t(uint8_t(bytes[i])) << 16;
    out.push_back(kAlphabet[(v >> 18) & 63]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    out += "==";
  } else if (rest == 2) {
    uint32_t v = (uint32_t(uint8_t(bytes[i])) << 16) | (uint32_t(uint8_t(bytes[i + 1])) << 8);
    out.push_back(kAlphabet[(v >> 18) & 63]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    out.push_back(kAlphabet[(v >> 6) & 63]);
    out.push_back('=');
  }
  return out;
}

Result<std::string> base64_decode(std::string_view text, size_t max_decoded) {
  if (text.size() % 4 != 0) return bad_base64("length not a multiple of 4");
  // Checked before decoding anything, so an oversized input costs nothing.
  if (text.size() / 4 * 3 > max_decoded + 2)
    return Error(Errc::Limit, "Data too long", "base64: decoded size over limit");
  size_t pad = 0;
  if (!text.empty() && text.back() == '=') pad = (text.size() >= 2 && text[text.size() - 2] == '=') ? 2 : 1;
  std::string out;
  out.reserve(text.size() / 4 * 3);
  for (size_t i = 0; i < text.size(); i += 4) {
    bool last = i + 4 == text.size();
    uint32_t v = 0;
    for (size_t j = 0; j < 4; ++j) {
      unsigned char c = static_cast<unsigned char>(text[i + j]);
      if (c == '=') {
        if (!last || j < 4 - pad) return bad_base64("misplaced padding");
        v <<= 6;
        continue;
      }
      int d = kReverse[c];
      if (d < 0) return bad_base64("character outside the alphabet");
      v = (v << 6) | static_cast<uint32_t>(d);
    }
    if (last && pad == 2) {
      if (v & 0xFFFF) return bad_base64("non-zero trailing bits");
      out.push_back(static_cast<char>(v >> 16));
    } else if (last && pad == 1) {
      if (v & 0xFF) return bad_base64("non-zero trailing bits");
      out.push_back(static_cast<char>(v >> 16));
      out.push_back(static_cast<char>((v >> 8) & 0xFF));
    } else {
      out.push_back(static_cast<char>(v >> 16));
      out.push_back(static_cast<char>((v >> 8) & 0xFF));
      out.push_back(static_cast<char>(v & 0xFF));
    }
  }
  if (out.size() > max_decoded)
    return Error(Errc::Limit, "Data too long", "base64: decoded size over limit");
  return out;
}

}  // namespace cyr::auth
