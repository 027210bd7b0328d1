#include "server/sieve/text.h"

#include "store/base/ascii.h"
#include "store/mail/utf8.h"

namespace cyr::sieve {

namespace {

bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// A well-formed reference at text[i] ("${" name "}"): returns the length of
// the whole reference and sets `name` (which may hold '.'-separated
// namespace parts), or 0.
size_t reference_at(std::string_view text, size_t i, std::string_view& name) {
  if (text.compare(i, 2, "${") != 0) return 0;
  size_t j = i + 2;
  if (j < text.size() && is_digit(text[j])) {
    while (j < text.size() && is_digit(text[j])) ++j;
  } else {
    // identifier *("." identifier)
    for (;;) {
      if (j >= text.size() || !is_alpha(text[j])) return 0;
      while (j < text.size() && (is_alpha(text[j]) || is_digit(text[j]))) ++j;
      if (j < text.size() && text[j] == '.') {
        ++j;
        continue;
      }
      break;
    }
  }
  if (j >= text.size() || text[j] != '}') return 0;
  name = text.substr(i + 2, j - i - 2);
  return j + 1 - i;
}

bool is_encoding_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

}  // namespace

size_t utf8_char_length(std::string_view s, size_t i) {
  unsigned char c = static_cast<unsigned char>(s[i]);
  size_t len = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 : (c & 0xf8) == 0xf0 ? 4 : 1;
  if (i + len > s.size()) return 1;
  for (size_t k = 1; k < len; ++k)
    if ((static_cast<unsigned char>(s[i + k]) & 0xc0) != 0x80) return 1;
  return len;
}

std::string truncate_utf8(std::string s, size_t max) {
  if (s.size() <= max) return s;
  size_t cut = max;
  while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xc0) == 0x80) --cut;
  s.resize(cut);
  return s;
}

std::string ascii_lowercase(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = ascii_lower(c);
  return out;
}

std::string ascii_uppercase(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 32);
  return out;
}

bool is_identifier(std::string_view s) {
  if (s.empty() || !is_alpha(s[0])) return false;
  for (char c : s)
    if (!is_alpha(c) && !is_digit(c)) return false;
  return true;
}

std::string expand_variables(std::string_view text, const std::function<std::string(std::string_view)>& lookup,
                             size_t max_bytes) {
  std::string out;
  size_t i = 0;
  while (i < text.size() && out.size() < max_bytes) {
    std::string_view name;
    size_t len = text[i] == '$' ? reference_at(text, i, name) : 0;
    if (len == 0) {
      out += text[i++];
      continue;
    }
    out += lookup(name);
    i += len;
  }
  return truncate_utf8(std::move(out), max_bytes);
}

std::optional<std::string> first_namespaced_reference(std::string_view text, bool allow_global) {
  for (size_t i = text.find("${"); i != std::string_view::npos; i = text.find("${", i + 1)) {
    std::string_view name;
    if (!reference_at(text, i, name) || name.find('.') == std::string_view::npos) continue;
    if (allow_global && global_variable_name(name)) continue;
    return std::string(name);
  }
  return std::nullopt;
}

std::optional<std::string_view> global_variable_name(std::string_view name) {
  if (name.size() <= 7 || !iequals(name.substr(0, 7), "global.")) return std::nullopt;
  std::string_view rest = name.substr(7);
  if (!is_identifier(rest)) return std::nullopt;
  return rest;
}

bool is_script_name(std::string_view name) {
  if (name.empty() || name.size() > 512) return false;
  for (size_t i = 0; i < name.size();) {
    unsigned char c = static_cast<unsigned char>(name[i]);
    size_t len = utf8_char_length(name, i);
    if (c >= 0x80 && len == 1) return false;  // not UTF-8
    if (c < 0x20 || c == 0x7f || c == '/') return false;
    if (len == 2 && c == 0xc2 && static_cast<unsigned char>(name[i + 1]) <= 0x9f) return false;  // U+0080-009F
    if (len == 3 && c == 0xe2 && static_cast<unsigned char>(name[i + 1]) == 0x80 &&
        (static_cast<unsigned char>(name[i + 2]) == 0xa8 || static_cast<unsigned char>(name[i + 2]) == 0xa9))
      return false;  // U+2028, U+2029
    i += len;
  }
  return true;
}

Result<std::string> decode_encoded_characters(std::string_view text) {
  std::string out;
  size_t i = 0;
  while (i < text.size()) {
    size_t start = text.find("${", i);
    if (start == std::string_view::npos) break;
    out.append(text.substr(i, start - i));
    size_t j = start + 2;
    bool is_hex = text.size() - j >= 4 && iequals(text.substr(j, 4), "hex:");
    bool is_unicode = !is_hex && text.size() - j >= 8 && iequals(text.substr(j, 8), "unicode:");
    if (!is_hex && !is_unicode) {
      out += "${";
      i = start + 2;
      continue;
    }
    j += is_hex ? 4 : 8;
    std::string decoded;
    bool well_formed = true;
    bool any = false;
    for (;;) {
      while (j < text.size() && is_encoding_space(text[j])) ++j;
      if (j >= text.size()) {
        well_formed = false;
        break;
      }
      if (text[j] == '}') break;
      size_t k = j;
      uint64_t value = 0;
      while (k < text.size() && hex_value(text[k]) >= 0 && k - j < 16) value = value * 16 + hex_value(text[k++]);
      size_t digits = k - j;
      if (digits == 0 || (k < text.size() && !is_encoding_space(text[k]) && text[k] != '}')) {
        well_formed = false;
        break;
      }
      if (is_hex) {
        // hex-pair: one or two digits per octet.
        if (digits > 2) {
          well_formed = false;
          break;
        }
        decoded += static_cast<char>(value);
      } else {
        if (value > 0x10ffff || (value >= 0xd800 && value <= 0xdfff))
          return Error(Errc::Invalid, "invalid unicode character in encoded-character string");
        mail::append_utf8(decoded, static_cast<uint32_t>(value));
      }
      any = true;
      j = k;
    }
    // At least one octet or character: "${hex:}" stays as written.
    if (!well_formed || !any) {
      out += "${";
      i = start + 2;
      continue;
    }
    out += decoded;
    i = j + 1;
  }
  out.append(text.substr(std::min(i, text.size())));
  return out;
}

std::optional<std::string> mail_address(std::string_view text) {
  // No control character anywhere, the display name included: it is
  // written into header fields (vacation :from), where a line break would
  // end the field.
  for (char c : text) {
    unsigned char u = static_cast<unsigned char>(c);
    if ((u < 0x20 && c != '\t') || u == 0x7f) return std::nullopt;
  }
  std::string_view addr = text;
  size_t open = text.rfind('<');
  if (open != std::string_view::npos) {
    size_t close = text.find('>', open);
    if (close == std::string_view::npos || close + 1 != text.find_last_not_of(" \t") + 1) return std::nullopt;
    addr = text.substr(open + 1, close - open - 1);
  }
  while (!addr.empty() && (addr.front() == ' ' || addr.front() == '\t')) addr.remove_prefix(1);
  while (!addr.empty() && (addr.back() == ' ' || addr.back() == '\t')) addr.remove_suffix(1);
  size_t at = addr.rfind('@');
  if (at == std::string_view::npos || at == 0 || at + 1 == addr.size()) return std::nullopt;
  std::string_view local = addr.substr(0, at);
  std::string_view domain = addr.substr(at + 1);
  bool quoted_local = local.size() >= 2 && local.front() == '"' && local.back() == '"';
  for (char c : local) {
    unsigned char u = static_cast<unsigned char>(c);
    if (u < 0x21 || u == 0x7f) {
      if (!(quoted_local && c == ' ')) return std::nullopt;
    }
    if (!quoted_local && (c == '<' || c == '>' || c == '(' || c == ')' || c == ',' || c == ';' || c == ':' ||
                          c == '@' || c == '[' || c == ']' || c == '\\' || c == '"'))
      return std::nullopt;
  }
  for (char c : domain) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) || c == '-' || c == '.' || c == '[' ||
              c == ']' || c == ':' || static_cast<unsigned char>(c) >= 0x80;
    if (!ok) return std::nullopt;
  }
  if (domain.front() == '.' || domain.back() == '.' || domain.find("..") != std::string_view::npos) return std::nullopt;
  return std::string(addr);
}

bool is_protected_header(std::string_view name) {
  return iequals(name, "Received") || iequals(name, "Auto-Submitted");
}

bool is_header_name(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    unsigned char u = static_cast<unsigned char>(c);
    if (u < 33 || u > 126 || c == ':') return false;
  }
  return true;
}

}  // namespace cyr::sieve
