#include "store/mail/message.h"
#include "store/base/ascii.h"
#include "store/mail/utf8.h"

#include <iconv.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>

namespace cyr::mail {

namespace {

// ---------------------------------------------------------------------------
// Small text helpers

char lower(char c) { return static_cast<char>(std::tolower(static_cast<unsigned char>(c))); }

std::string to_lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = lower(c);
  return out;
}

bool is_wsp(char c) { return c == ' ' || c == '\t'; }
bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

// End of the line starting at `pos` (index just past its LF, or the end).
size_t line_end(std::string_view s, size_t pos) {
  size_t lf = s.find('\n', pos);
  return lf == std::string_view::npos ? s.size() : lf + 1;
}

// True if s[pos..] is an empty line ("\r\n" or "\n").
bool is_blank_line_at(std::string_view s, size_t pos) {
  if (pos < s.size() && s[pos] == '\n') return true;
  return pos + 1 < s.size() && s[pos] == '\r' && s[pos + 1] == '\n';
}

// A body's size in text lines (BODYSTRUCTURE): its line ends, as Cyrus and
// Dovecot count them. A part's last line before a boundary has none (the CRLF
// belongs to the boundary, RFC 2046 5.1.1) and is not counted.
uint64_t count_lines(std::string_view body) {
  return static_cast<uint64_t>(std::count(body.begin(), body.end(), '\n'));
}

// ---------------------------------------------------------------------------
// RFC 5322 / 2045 lexical scanning: comments, quoted strings, tokens.

constexpr int kMaxCommentDepth = 64;

// Skips whitespace and (nested) comments from s[i]; an unterminated or
// too-deep comment runs to the end.
// Skips the one comment starting at s[i] == '('; an unterminated or too-deep
// comment runs to the end.
void skip_comment(std::string_view s, size_t& i) {
  int depth = 0;
  while (i < s.size()) {
    char c = s[i++];
    if (c == '\\' && i < s.size()) {
      ++i;
    } else if (c == '(') {
      if (++depth > kMaxCommentDepth) {
        i = s.size();
        return;
      }
    } else if (c == ')') {
      if (--depth == 0) return;
    }
  }
}

void skip_cfws(std::string_view s, size_t& i) {
  while (i < s.size()) {
    if (is_space(s[i])) {
      ++i;
    } else if (s[i] == '(') {
      skip_comment(s, i);
    } else {
      return;
    }
  }
}

// Reads a quoted string at s[i] == '"'; returns its unescaped content.
std::string read_quoted(std::string_view s, size_t& i) {
  std::string out;
  ++i;  // opening quote
  while (i < s.size()) {
    char c = s[i++];
    if (c == '"') return out;
    if (c == '\\' && i < s.size()) c = s[i++];
    if (c == '\r' || c == '\n') continue;  // folding inside quotes
    out += c;
  }
  return out;
}

bool is_mime_tspecial(char c) { return std::strchr("()<>@,;:\\\"/[]?=", c) != nullptr; }

std::string read_mime_token(std::string_view s, size_t& i) {
  size_t start = i;
  while (i < s.size() && !is_space(s[i]) && !is_mime_tspecial(s[i]) &&
         static_cast<unsigned char>(s[i]) > 0x20 && static_cast<unsigned char>(s[i]) != 0x7f)
    ++i;
  return std::string(s.substr(start, i - start));
}

// "; name=value; name="value"" after the main value of Content-Type or
// Content-Disposition. Lenient: a value may be an unquoted run up to ';'.
MimeParams parse_mime_params(std::string_view s, size_t i, size_t max_params) {
  MimeParams params;
  while (i < s.size() && params.size() < max_params) {
    skip_cfws(s, i);
    if (i >= s.size()) break;
    if (s[i] != ';') {
      // Junk between parameters: skip to the next ';'.
      size_t semi = s.find(';', i);
      if (semi == std::string_view::npos) break;
      i = semi;
    }
    ++i;  // ';'
    skip_cfws(s, i);
    std::string name = to_lower(read_mime_token(s, i));
    skip_cfws(s, i);
    if (name.empty() || i >= s.size() || s[i] != '=') continue;
    ++i;
    skip_cfws(s, i);
    std::string value;
    if (i < s.size() && s[i] == '"') {
      value = read_quoted(s, i);
    } else {
      size_t start = i;
      while (i < s.size() && s[i] != ';') ++i;
      value = std::string(trim(s.substr(start, i - start)));
      // A trailing comment after an unquoted value is not part of it.
      if (size_t paren = value.find('('); paren != std::string::npos)
        value = std::string(trim(std::string_view(value).substr(0, paren)));
    }
    params.emplace_back(std::move(name), std::move(value));
  }
  return params;
}

constexpr size_t kMaxParams = 256;

// ---------------------------------------------------------------------------
// Charsets for RFC 2047

constexpr uint32_t kReplacement = 0xfffd;

// Length of a valid UTF-8 sequence at s[i], or 0.
size_t utf8_seq_len(std::string_view s, size_t i) {
  size_t next = i;
  return next_utf8(s, next) ? next - i : 0;
}

// Copies s to out, replacing invalid UTF-8 with U+FFFD.
void append_sanitized_utf8(std::string& out, std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    size_t len = utf8_seq_len(s, i);
    if (len == 0) {
      append_utf8(out, kReplacement);
      ++i;
    } else {
      out.append(s.substr(i, len));
      i += len;
    }
  }
}

// windows-1252 0x80..0x9f (0 = undefined).
constexpr uint16_t kCp1252High[32] = {
    0x20ac, 0,      0x201a, 0x0192, 0x201e, 0x2026, 0x2020, 0x2021, 0x02c6, 0x2030, 0x0160,
    0x2039, 0x0152, 0,      0x017d, 0,      0,      0x2018, 0x2019, 0x201c, 0x201d, 0x2022,
    0x2013, 0x2014, 0x02dc, 0x2122, 0x0161, 0x203a, 0x0153, 0,      0x017e, 0x0178};

bool is_safe_charset_name(std::string_view cs) {
  if (cs.empty() || cs.size() > 40) return false;
  for (char c : cs)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.' && c != ':')
      return false;
  return true;
}

// Converts bytes in `charset` to UTF-8; false if the charset is unknown or the
// bytes are not valid in it.
bool charset_to_utf8(std::string_view charset, std::string_view bytes, std::string& out) {
  std::string cs = to_lower(charset);
  if (size_t star = cs.find('*'); star != std::string::npos) cs.resize(star);  // RFC 2231 language
  if (cs == "utf-8" || cs == "utf8") {
    append_sanitized_utf8(out, bytes);
    return true;
  }
  if (cs == "us-ascii" || cs == "ascii") {
    for (unsigned char c : bytes) append_utf8(out, c < 0x80 ? c : kReplacement);
    return true;
  }
  if (cs == "iso-8859-1" || cs == "latin1" || cs == "iso8859-1" || cs == "l1") {
    for (unsigned char c : bytes) append_utf8(out, c);
    return true;
  }
  if (cs == "windows-1252" || cs == "cp1252") {
    for (unsigned char c : bytes) {
      uint32_t cp = c;
      if (c >= 0x80 && c < 0xa0) cp = kCp1252High[c - 0x80] ? kCp1252High[c - 0x80] : kReplacement;
      append_utf8(out, cp);
    }
    return true;
  }
  if (!is_safe_charset_name(cs)) return false;
  iconv_t cd = iconv_open("UTF-8", cs.c_str());
  if (cd == reinterpret_cast<iconv_t>(-1)) return false;
  std::string buf(bytes.size() * 4 + 16, '\0');
  char* in = const_cast<char*>(bytes.data());
  size_t in_left = bytes.size();
  char* outp = buf.data();
  size_t out_left = buf.size();
  size_t rc = iconv(cd, &in, &in_left, &outp, &out_left);
  if (rc != static_cast<size_t>(-1)) rc = iconv(cd, nullptr, nullptr, &outp, &out_left);
  iconv_close(cd);
  if (rc == static_cast<size_t>(-1) || in_left != 0) return false;
  buf.resize(buf.size() - out_left);
  append_sanitized_utf8(out, buf);
  return true;
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

int base64_digit(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

bool decode_b(std::string_view text, std::string& out) {
  uint32_t bits = 0;
  int nbits = 0;
  size_t i = 0;
  for (; i < text.size() && text[i] != '='; ++i) {
    int v = base64_digit(text[i]);
    if (v < 0) return false;
    bits = (bits << 6) | static_cast<uint32_t>(v);
    nbits += 6;
    if (nbits >= 8) {
      nbits -= 8;
      out += static_cast<char>((bits >> nbits) & 0xff);
      bits &= (1u << nbits) - 1;
    }
  }
  for (; i < text.size(); ++i)
    if (text[i] != '=') return false;
  return true;
}

bool decode_q(std::string_view text, std::string& out) {
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '_') {
      out += ' ';
    } else if (c == '=') {
      if (i + 2 >= text.size()) return false;
      int hi = hex_digit(text[i + 1]);
      int lo = hex_digit(text[i + 2]);
      if (hi < 0 || lo < 0) return false;
      out += static_cast<char>(hi << 4 | lo);
      i += 2;
    } else {
      out += c;
    }
  }
  return true;
}

// Tries to read one encoded word at s[i] ("=?cs?e?text?="). On success
// appends its UTF-8 to out, advances i past it and returns true.
bool try_encoded_word(std::string_view s, size_t& i, std::string& out) {
  if (s.compare(i, 2, "=?") != 0) return false;
  size_t cs_end = s.find('?', i + 2);
  if (cs_end == std::string_view::npos || cs_end == i + 2 || cs_end - i > 80) return false;
  if (cs_end + 2 >= s.size() || s[cs_end + 2] != '?') return false;
  char enc = lower(s[cs_end + 1]);
  if (enc != 'q' && enc != 'b') return false;
  size_t text_start = cs_end + 3;
  // RFC 2047 words are at most 75 characters; looking much further would
  // make a header full of "=?" quadratic.
  constexpr size_t kMaxEncodedText = 1000;
  size_t text_end = s.substr(0, std::min(s.size(), text_start + kMaxEncodedText + 2)).find("?=", text_start);
  if (text_end == std::string_view::npos) return false;
  std::string_view charset = s.substr(i + 2, cs_end - i - 2);
  std::string_view text = s.substr(text_start, text_end - text_start);
  for (char c : text)
    if (is_space(c) || static_cast<unsigned char>(c) < 0x20) return false;
  std::string bytes;
  if (!(enc == 'b' ? decode_b(text, bytes) : decode_q(text, bytes))) return false;
  std::string decoded;
  if (!charset_to_utf8(charset, bytes, decoded)) return false;
  out += decoded;
  i = text_end + 2;
  return true;
}

}  // namespace

// ---------------------------------------------------------------------------
// Header helpers

namespace {
// header_block_size(), also saying whether a blank line ended the header.
size_t find_header_end(std::string_view message, bool& found_blank_line) {
  size_t pos = 0;
  while (pos < message.size()) {
    if (is_blank_line_at(message, pos)) {
      found_blank_line = true;
      return line_end(message, pos);
    }
    pos = line_end(message, pos);
  }
  found_blank_line = false;
  return message.size();
}
}  // namespace

size_t header_block_size(std::string_view message) {
  bool found;
  return find_header_end(message, found);
}

std::vector<HeaderField> parse_header_fields(std::string_view header, size_t max_fields) {
  std::vector<HeaderField> fields;
  size_t pos = 0;
  while (pos < header.size() && fields.size() < max_fields) {
    if (is_blank_line_at(header, pos)) break;
    size_t end = line_end(header, pos);
    // A field name: printable ASCII except ':' and space, then optional WSP, ':'.
    size_t n = pos;
    while (n < end && header[n] > 0x20 && header[n] < 0x7f && header[n] != ':') ++n;
    size_t colon = n;
    while (colon < end && is_wsp(header[colon])) ++colon;
    bool is_field = n > pos && colon < end && header[colon] == ':';
    // The field runs on over continuation lines (starting with WSP).
    while (end < header.size() && is_wsp(header[end])) end = line_end(header, end);
    if (is_field) {
      std::string_view value = header.substr(colon + 1, end - colon - 1);
      while (!value.empty() && (value.back() == '\n' || value.back() == '\r')) value.remove_suffix(1);
      fields.push_back(HeaderField{header.substr(pos, n - pos), value});
    }
    pos = end;
  }
  return fields;
}

std::string unfold_header_value(std::string_view raw) {
  std::string out;
  out.reserve(raw.size());
  for (size_t i = 0; i < raw.size(); ++i) {
    char c = raw[i];
    if (c == '\r' && i + 1 < raw.size() && raw[i + 1] == '\n') continue;
    if (c == '\n') continue;
    out += c;
  }
  return std::string(trim(out));
}

std::optional<std::string> find_header(std::string_view header_block, std::string_view name) {
  for (const auto& f : parse_header_fields(header_block))
    if (iequals(f.name, name)) return unfold_header_value(f.raw_value);
  return std::nullopt;
}

std::vector<std::string> find_all_headers(std::string_view header_block, std::string_view name) {
  std::vector<std::string> out;
  for (const auto& f : parse_header_fields(header_block))
    if (iequals(f.name, name)) out.push_back(unfold_header_value(f.raw_value));
  return out;
}

std::string decode_rfc2047(std::string_view raw_in) {
  const std::string raw = unfold_header_value(raw_in);
  const std::string_view s = raw;
  std::string out;
  std::string pending_space;  // whitespace after an encoded word, held back
  bool last_was_encoded = false;
  size_t i = 0;
  size_t plain_start = 0;
  auto flush_plain = [&](size_t upto) {
    if (upto > plain_start) append_sanitized_utf8(out, s.substr(plain_start, upto - plain_start));
  };
  while (i < s.size()) {
    if (s[i] == '=' && i + 1 < s.size() && s[i + 1] == '?') {
      size_t word_start = i;
      std::string decoded;
      if (try_encoded_word(s, i, decoded)) {
        // Drop whitespace between two encoded words (RFC 2047 6.2).
        size_t plain_end = word_start;
        if (last_was_encoded) {
          std::string_view between = s.substr(plain_start, word_start - plain_start);
          if (trim(between).empty()) plain_end = plain_start;
        }
        flush_plain(plain_end);
        out += decoded;
        plain_start = i;
        last_was_encoded = true;
        continue;
      }
      i = word_start + 1;
      last_was_encoded = false;
      continue;
    }
    if (!is_space(s[i])) last_was_encoded = false;
    ++i;
  }
  flush_plain(s.size());
  return out;
}

// ---------------------------------------------------------------------------
// Decoding helpers

std::optional<std::string> convert_to_utf8(std::string_view charset, std::string_view bytes) {
  std::string out;
  if (!charset_to_utf8(charset, bytes, out)) return std::nullopt;
  return out;
}

std::string decode_transfer_encoding(std::string_view body, std::string_view encoding) {
  std::string out;
  if (iequals(encoding, "base64")) {
    out.reserve(body.size() / 4 * 3 + 3);
    uint32_t bits = 0;
    int nbits = 0;
    for (char c : body) {
      if (c == '=') break;
      int v = base64_digit(c);
      if (v < 0) continue;  // line breaks and junk
      bits = (bits << 6) | static_cast<uint32_t>(v);
      nbits += 6;
      if (nbits >= 8) {
        nbits -= 8;
        out += static_cast<char>((bits >> nbits) & 0xff);
        bits &= (1u << nbits) - 1;
      }
    }
    return out;
  }
  if (iequals(encoding, "quoted-printable")) {
    out.reserve(body.size());
    for (size_t i = 0; i < body.size(); ++i) {
      char c = body[i];
      if (c != '=') {
        out += c;
        continue;
      }
      // Soft line break: '=' then optional trailing whitespace, then CRLF or LF.
      size_t j = i + 1;
      while (j < body.size() && is_wsp(body[j])) ++j;
      if (j < body.size() && body[j] == '\n') {
        i = j;
        continue;
      }
      if (j + 1 < body.size() && body[j] == '\r' && body[j + 1] == '\n') {
        i = j + 1;
        continue;
      }
      if (j == body.size()) {
        i = j;  // '=' at the very end: a soft break with no line after it
        continue;
      }
      if (i + 2 < body.size() && hex_digit(body[i + 1]) >= 0 && hex_digit(body[i + 2]) >= 0) {
        out += static_cast<char>(hex_digit(body[i + 1]) << 4 | hex_digit(body[i + 2]));
        i += 2;
        continue;
      }
      out += c;  // malformed: keep the '='
    }
    return out;
  }
  return std::string(body);
}

MimeParams decode_rfc2231_params(const MimeParams& params) {
  constexpr int kMaxSegments = 100;
  struct Segment {
    int index;
    bool extended;
    std::string_view value;
  };
  struct Joined {
    std::string name;
    std::vector<Segment> segments;
  };
  MimeParams out;
  std::vector<Joined> joined;
  for (const auto& [name, value] : params) {
    size_t star = name.find('*');
    if (star == std::string::npos) {
      out.emplace_back(name, value);
      continue;
    }
    std::string base = name.substr(0, star);
    std::string_view rest = std::string_view(name).substr(star + 1);
    Segment seg{0, false, value};
    if (rest.empty()) {
      seg.extended = true;  // "name*": single extended value
    } else {
      size_t k = 0;
      int index = 0;
      while (k < rest.size() && std::isdigit(static_cast<unsigned char>(rest[k])) && index < 1000)
        index = index * 10 + (rest[k++] - '0');
      if (k == 0 || index >= kMaxSegments) continue;
      if (k < rest.size() && rest[k] == '*') seg.extended = true, ++k;
      if (k != rest.size()) continue;  // not RFC 2231 syntax: drop
      seg.index = index;
    }
    auto it = std::find_if(joined.begin(), joined.end(), [&](const Joined& j) { return j.name == base; });
    if (it == joined.end()) {
      joined.push_back(Joined{base, {}});
      it = joined.end() - 1;
    }
    if (it->segments.size() < static_cast<size_t>(kMaxSegments)) it->segments.push_back(seg);
  }
  for (auto& j : joined) {
    std::stable_sort(j.segments.begin(), j.segments.end(),
                     [](const Segment& a, const Segment& b) { return a.index < b.index; });
    std::string charset;
    std::string bytes;
    for (size_t n = 0; n < j.segments.size(); ++n) {
      std::string_view v = j.segments[n].value;
      if (!j.segments[n].extended) {
        bytes.append(v);
        continue;
      }
      if (n == 0) {
        // charset'language'value
        size_t q1 = v.find('\'');
        size_t q2 = q1 == std::string_view::npos ? q1 : v.find('\'', q1 + 1);
        if (q2 != std::string_view::npos) {
          charset = std::string(v.substr(0, q1));
          v = v.substr(q2 + 1);
        }
      }
      for (size_t i = 0; i < v.size(); ++i) {
        if (v[i] == '%' && i + 2 < v.size() && hex_digit(v[i + 1]) >= 0 && hex_digit(v[i + 2]) >= 0) {
          bytes += static_cast<char>(hex_digit(v[i + 1]) << 4 | hex_digit(v[i + 2]));
          i += 2;
        } else {
          bytes += v[i];
        }
      }
    }
    std::string value;
    if (charset.empty() || !charset_to_utf8(charset, bytes, value)) {
      value.clear();
      append_sanitized_utf8(value, bytes);
    }
    auto plain = std::find_if(out.begin(), out.end(), [&](const auto& p) { return p.first == j.name; });
    if (plain != out.end()) {
      plain->second = std::move(value);
    } else {
      out.emplace_back(j.name, std::move(value));
    }
  }
  return out;
}

// ---------------------------------------------------------------------------
// Addresses

namespace {

struct AddressScanner {
  std::string_view s;
  size_t i = 0;

  // Collects words of a phrase or local part until one of `stops` at the top
  // level. Returns the text with quoted strings unquoted and whitespace runs
  // and comments collapsed to one space.
  std::string read_phrase(const char* stops) {
    std::string out;
    bool need_space = false;
    while (true) {
      size_t before = i;
      skip_cfws(s, i);
      if (i > before && !out.empty()) need_space = true;
      if (i >= s.size() || std::strchr(stops, s[i])) break;
      if (need_space) out += ' ';
      need_space = false;
      if (s[i] == '"') {
        out += read_quoted(s, i);
      } else {
        size_t start = i;
        while (i < s.size() && !is_space(s[i]) && s[i] != '"' && s[i] != '(' && !std::strchr(stops, s[i])) ++i;
        out.append(s.substr(start, i - start));
      }
    }
    return out;
  }
};

// Splits an addr-spec "local@domain" (comments and folding already removed
// by the scanner) into mailbox and host.
void split_addr_spec(const std::string& spec, Address& a) {
  size_t at = spec.rfind('@');
  if (at == std::string::npos) {
    a.mailbox = spec;
    a.host = std::string();  // no domain: empty, never absent (absent means a group marker)
  } else {
    a.mailbox = spec.substr(0, at);
    a.host = spec.substr(at + 1);
  }
}

// Reads an addr-spec with quoted local parts kept quoted, up to one of stops.
std::string read_addr_spec(AddressScanner& sc, const char* stops) {
  std::string out;
  while (true) {
    skip_cfws(sc.s, sc.i);
    if (sc.i >= sc.s.size() || std::strchr(stops, sc.s[sc.i])) break;
    if (sc.s[sc.i] == '"') {
      size_t start = sc.i;
      read_quoted(sc.s, sc.i);
      out.append(sc.s.substr(start, sc.i - start));
    } else if (sc.s[sc.i] == '[') {
      size_t close = sc.s.find(']', sc.i);
      size_t end = close == std::string_view::npos ? sc.s.size() : close + 1;
      out.append(sc.s.substr(sc.i, end - sc.i));
      sc.i = end;
    } else {
      size_t start = sc.i;
      while (sc.i < sc.s.size() && !is_space(sc.s[sc.i]) && sc.s[sc.i] != '"' && sc.s[sc.i] != '(' &&
             sc.s[sc.i] != '[' && !std::strchr(stops, sc.s[sc.i]))
        ++sc.i;
      out.append(sc.s.substr(start, sc.i - start));
    }
  }
  return out;
}

// The text of the first top-level comment in s (outside quoted strings),
// with nested parentheses kept and the outer ones removed; trimmed.
std::optional<std::string> first_comment(std::string_view s) {
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '"') {
      read_quoted(s, i);
      --i;  // read_quoted left i after the closing quote
      continue;
    }
    if (s[i] != '(') continue;
    size_t start = i + 1;
    skip_comment(s, i);
    size_t end = i;
    if (end > start && s[end - 1] == ')') --end;
    return std::string(trim(s.substr(start, end - start)));
  }
  return std::nullopt;
}

}  // namespace

std::vector<Address> parse_address_list(std::string_view raw, size_t max_addresses) {
  const std::string unfolded = unfold_header_value(raw);
  AddressScanner sc{unfolded};
  std::vector<Address> out;
  bool in_group = false;
  while (sc.i < sc.s.size() && out.size() < max_addresses) {
    skip_cfws(sc.s, sc.i);
    if (sc.i >= sc.s.size()) break;
    char c = sc.s[sc.i];
    if (c == ',') {
      ++sc.i;
      continue;
    }
    if (c == ';') {
      ++sc.i;
      if (in_group) {
        out.push_back(Address{Address::Kind::GroupEnd, {}, {}, {}, {}});
        in_group = false;
      }
      continue;
    }
    size_t start = sc.i;
    std::string phrase = sc.read_phrase(in_group ? ",;<" : ",;:<");
    char stop = sc.i < sc.s.size() ? sc.s[sc.i] : '\0';
    if (stop == ':') {
      ++sc.i;
      Address g;
      g.kind = Address::Kind::GroupStart;
      g.mailbox = phrase;
      out.push_back(std::move(g));
      in_group = true;
      continue;
    }
    Address a;
    if (stop == '<') {
      ++sc.i;
      if (!phrase.empty()) a.name = phrase;
      skip_cfws(sc.s, sc.i);
      // Obsolete source route "@a,@b:" before the addr-spec.
      if (sc.i < sc.s.size() && sc.s[sc.i] == '@') {
        size_t colon = sc.s.find(':', sc.i);
        size_t close = sc.s.find('>', sc.i);
        if (colon != std::string_view::npos && (close == std::string_view::npos || colon < close)) {
          std::string adl;
          for (char ch : sc.s.substr(sc.i, colon - sc.i))
            if (!is_space(ch)) adl += ch;
          a.adl = adl;
          sc.i = colon + 1;
        }
      }
      split_addr_spec(read_addr_spec(sc, ">,;"), a);
      if (sc.i < sc.s.size() && sc.s[sc.i] == '>') ++sc.i;
    } else {
      // A bare addr-spec: re-read it keeping quoted local parts quoted.
      sc.i = start;
      std::string spec = read_addr_spec(sc, in_group ? ",;" : ",;:");
      if (spec.empty()) {
        if (sc.i == start) ++sc.i;  // stray character: make progress
        continue;
      }
      split_addr_spec(spec, a);
      // Old style "fred@example.com (Fred Smith)": the comment is the name.
      if (auto comment = first_comment(sc.s.substr(start, sc.i - start)); comment && !comment->empty())
        a.name = std::move(*comment);
    }
    out.push_back(std::move(a));
  }
  if (in_group && out.size() < max_addresses) out.push_back(Address{Address::Kind::GroupEnd, {}, {}, {}, {}});
  return out;
}

// ---------------------------------------------------------------------------
// Dates

namespace {

// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
// days_from_civil algorithm).
int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

bool is_leap(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

unsigned days_in_month(int64_t y, unsigned m) {
  static constexpr unsigned kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && is_leap(y) ? 29 : kDays[m - 1];
}

struct DateLexer {
  std::string_view s;
  size_t i = 0;
  void skip() {
    skip_cfws(s, i);
  }
  bool number(int max_digits, int& value, int& digits) {
    skip();
    value = 0;
    digits = 0;
    while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i])) && digits < max_digits) {
      value = value * 10 + (s[i] - '0');
      ++i;
      ++digits;
    }
    return digits > 0;
  }
  std::string word() {
    skip();
    size_t start = i;
    while (i < s.size() && std::isalpha(static_cast<unsigned char>(s[i]))) ++i;
    return to_lower(s.substr(start, i - start));
  }
  bool consume(char c) {
    skip();
    if (i < s.size() && s[i] == c) {
      ++i;
      return true;
    }
    return false;
  }
};

}  // namespace

std::string format_rfc5322_date(std::time_t t, int zone_minutes) {
  static const char* const kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static const char* const kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                        "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  zone_minutes = std::clamp(zone_minutes, -(99 * 60 + 59), 99 * 60 + 59);
  std::time_t shifted = t + static_cast<std::time_t>(zone_minutes) * 60;
  std::tm tm{};
  gmtime_r(&shifted, &tm);
  int z = zone_minutes < 0 ? -zone_minutes : zone_minutes;
  char buf[64];
  std::snprintf(buf, sizeof buf, "%s, %02d %s %04d %02d:%02d:%02d %c%02d%02d", kDays[tm.tm_wday], tm.tm_mday,
                kMonths[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec, zone_minutes < 0 ? '-' : '+',
                z / 60, z % 60);
  return buf;
}

std::optional<std::time_t> parse_rfc5322_date(std::string_view raw, int* zone_minutes) {
  if (raw.size() > 1000) return std::nullopt;
  DateLexer lx{raw};
  lx.skip();
  // Optional day of week, "Mon," (the comma is sometimes missing).
  if (lx.i < raw.size() && std::isalpha(static_cast<unsigned char>(raw[lx.i]))) {
    std::string dow = lx.word();
    if (dow.size() < 3) return std::nullopt;
    lx.consume(',');
  }
  int day, digits;
  if (!lx.number(2, day, digits)) return std::nullopt;
  lx.consume('-');  // "1-Jan-2020" appears in the wild
  std::string mon = lx.word();
  static constexpr const char* kMonths[] = {"jan", "feb", "mar", "apr", "may", "jun",
                                            "jul", "aug", "sep", "oct", "nov", "dec"};
  unsigned month = 0;
  if (mon.size() >= 3)
    for (unsigned m = 0; m < 12; ++m)
      if (mon.compare(0, 3, kMonths[m]) == 0) month = m + 1;
  if (month == 0) return std::nullopt;
  lx.consume('-');
  int year;
  if (!lx.number(4, year, digits)) return std::nullopt;
  if (digits == 2) year += year < 50 ? 2000 : 1900;  // RFC 5322 4.3
  else if (digits == 3) year += 1900;
  int hour, minute, second = 0;
  if (!lx.number(2, hour, digits) || !lx.consume(':') || !lx.number(2, minute, digits)) return std::nullopt;
  if (lx.consume(':') && !lx.number(2, second, digits)) return std::nullopt;
  if (day < 1 || static_cast<unsigned>(day) > days_in_month(year, month) || hour > 23 || minute > 59 ||
      second > 60)
    return std::nullopt;

  int offset_minutes = 0;
  lx.skip();
  if (lx.i < raw.size() && (raw[lx.i] == '+' || raw[lx.i] == '-')) {
    int sign = raw[lx.i] == '-' ? -1 : 1;
    ++lx.i;
    int hhmm;
    if (!lx.number(4, hhmm, digits) || digits != 4) return std::nullopt;
    if (hhmm % 100 > 59) return std::nullopt;
    offset_minutes = sign * ((hhmm / 100) * 60 + hhmm % 100);
  } else if (lx.i < raw.size() && std::isalpha(static_cast<unsigned char>(raw[lx.i]))) {
    std::string zone = lx.word();
    struct Zone {
      const char* name;
      int hours;
    };
    static constexpr Zone kZones[] = {{"ut", 0},   {"utc", 0},  {"gmt", 0},  {"z", 0},   {"est", -5},
                                      {"edt", -4}, {"cst", -6}, {"cdt", -5}, {"mst", -7}, {"mdt", -6},
                                      {"pst", -8}, {"pdt", -7}};
    for (const auto& z : kZones)
      if (zone == z.name) offset_minutes = z.hours * 60;
    // Unknown and military zones are treated as +0000 (RFC 5322 4.3).
  }
  if (second == 60) second = 59;  // leap second: time_t cannot say it
  int64_t t = days_from_civil(year, month, static_cast<unsigned>(day)) * 86400 + hour * 3600 +
              minute * 60 + second - offset_minutes * 60;
  if (zone_minutes) *zone_minutes = offset_minutes;
  return static_cast<std::time_t>(t);
}

// ---------------------------------------------------------------------------
// MIME parsing

namespace {

struct Parser {
  std::string_view msg;
  const ParseLimits& limits;
  uint32_t flags = 0;
  size_t parts = 0;

  Envelope parse_envelope(std::string_view header) {
    Envelope env;
    bool have_sender = false;
    bool have_reply_to = false;
    auto addresses = [&](std::string_view raw) { return parse_address_list(raw, limits.max_addresses); };
    for (const auto& f : parse_header_fields(header, limits.max_header_fields)) {
      std::string name = to_lower(f.name);
      if (name == "date" && !env.date) env.date = unfold_header_value(f.raw_value);
      else if (name == "subject" && !env.subject) env.subject = unfold_header_value(f.raw_value);
      else if (name == "in-reply-to" && !env.in_reply_to) env.in_reply_to = unfold_header_value(f.raw_value);
      else if (name == "message-id" && !env.message_id) env.message_id = unfold_header_value(f.raw_value);
      else if (name == "from" && env.from.empty()) env.from = addresses(f.raw_value);
      else if (name == "sender" && !have_sender) env.sender = addresses(f.raw_value), have_sender = true;
      else if (name == "reply-to" && !have_reply_to) env.reply_to = addresses(f.raw_value), have_reply_to = true;
      else if (name == "to" && env.to.empty()) env.to = addresses(f.raw_value);
      else if (name == "cc" && env.cc.empty()) env.cc = addresses(f.raw_value);
      else if (name == "bcc" && env.bcc.empty()) env.bcc = addresses(f.raw_value);
    }
    // RFC 3501 7.4.2: absent or empty Sender / Reply-To default to From.
    if (env.sender.empty()) env.sender = env.from;
    if (env.reply_to.empty()) env.reply_to = env.from;
    return env;
  }

  void apply_mime_headers(std::string_view header, BodyPart& part, bool digest_child) {
    bool have_type = false;
    for (const auto& f : parse_header_fields(header, limits.max_header_fields)) {
      std::string name = to_lower(f.name);
      if (!name.starts_with("content-")) continue;
      std::string value = unfold_header_value(f.raw_value);
      std::string_view v = value;
      if (name == "content-type" && !have_type) {
        size_t i = 0;
        skip_cfws(v, i);
        std::string type = to_lower(read_mime_token(v, i));
        skip_cfws(v, i);
        if (type.empty() || i >= v.size() || v[i] != '/') continue;  // unparseable: keep the default
        ++i;
        skip_cfws(v, i);
        std::string subtype = to_lower(read_mime_token(v, i));
        if (subtype.empty()) continue;
        part.type = std::move(type);
        part.subtype = std::move(subtype);
        part.params = parse_mime_params(v, i, kMaxParams);
        have_type = true;
      } else if (name == "content-transfer-encoding") {
        size_t i = 0;
        skip_cfws(v, i);
        std::string enc = to_lower(read_mime_token(v, i));
        if (!enc.empty()) part.encoding = std::move(enc);
      } else if (name == "content-id" && !part.id) {
        part.id = value;
      } else if (name == "content-description" && !part.description) {
        part.description = value;
      } else if (name == "content-md5" && !part.md5) {
        part.md5 = value;
      } else if (name == "content-disposition" && !part.disposition) {
        size_t i = 0;
        skip_cfws(v, i);
        std::string disp = to_lower(read_mime_token(v, i));
        if (disp.empty()) continue;
        part.disposition = std::move(disp);
        part.disposition_params = parse_mime_params(v, i, kMaxParams);
      } else if (name == "content-language" && part.languages.empty()) {
        size_t i = 0;
        while (i < v.size() && part.languages.size() < kMaxParams) {
          skip_cfws(v, i);
          size_t start = i;
          while (i < v.size() && v[i] != ',' && !is_space(v[i]) && v[i] != '(') ++i;
          if (i > start) part.languages.emplace_back(v.substr(start, i - start));
          skip_cfws(v, i);
          if (i < v.size() && v[i] == ',') ++i;
          else if (i < v.size() && i == start) ++i;
        }
      } else if (name == "content-location" && !part.location) {
        // Folding may have split a long URL; RFC 2557 says remove the whitespace.
        std::string loc;
        for (char c : value)
          if (!is_space(c)) loc += c;
        part.location = std::move(loc);
      }
    }
    if (!have_type) {
      if (digest_child) {
        part.type = "message";
        part.subtype = "rfc822";
      } else {
        part.params = {{"charset", "us-ascii"}};
      }
    }
  }

  // Turns a part the limits stop us from descending into into a leaf the
  // protocol layers can describe without children.
  static void make_opaque(BodyPart& part) {
    part.type = "application";
    part.subtype = "octet-stream";
    part.params.clear();
    part.children.clear();
    part.envelope.reset();
  }

  // Parses the part occupying msg[begin, end).
  BodyPart parse_part(size_t begin, size_t end, size_t depth, bool digest_child) {
    ++parts;
    BodyPart part;
    std::string_view range = msg.substr(begin, end - begin);
    bool found_blank_line;
    size_t hsize = find_header_end(range, found_blank_line);
    // No blank line: everything is header (RFC 5322 allows an absent body).
    if (!found_blank_line && !range.empty()) flags |= parse_flag::kNoHeaderEnd;
    part.header_offset = begin;
    part.header_size = hsize;
    part.body_offset = begin + hsize;
    part.body_size = end - part.body_offset;
    std::string_view header = range.substr(0, hsize);
    if (header.size() > limits.max_header_bytes) {
      flags |= parse_flag::kHeaderLimit;
      header = header.substr(0, limits.max_header_bytes);
    }
    apply_mime_headers(header, part, digest_child);
    std::string_view body = msg.substr(part.body_offset, part.body_size);
    part.body_lines = count_lines(body);

    if (part.is_multipart()) {
      auto boundary = part.param("boundary");
      if (!boundary || boundary->empty() || boundary->size() > 200) {
        flags |= parse_flag::kMissingBoundary;
        // RFC 2046 5.1.1 gives no way to find the parts: treat as text.
        part.type = "text";
        part.subtype = "plain";
        part.params = {{"charset", "us-ascii"}};
        return part;
      }
      if (depth >= limits.max_depth) {
        flags |= parse_flag::kDepthLimit;
        make_opaque(part);
        return part;
      }
      parse_multipart(part, std::string(*boundary), depth);
      if (part.children.empty()) {
        flags |= parse_flag::kUnterminatedMultipart;
        part.type = "text";
        part.subtype = "plain";
        part.params = {{"charset", "us-ascii"}};
      }
    } else if (part.is_message()) {
      if (depth >= limits.max_depth || parts >= limits.max_parts) {
        flags |= depth >= limits.max_depth ? parse_flag::kDepthLimit : parse_flag::kPartLimit;
        make_opaque(part);
        return part;
      }
      BodyPart inner = parse_part(part.body_offset, end, depth + 1, false);
      std::string_view inner_header = msg.substr(inner.header_offset, inner.header_size);
      part.envelope = parse_envelope(inner_header.substr(0, std::min(inner_header.size(), limits.max_header_bytes)));
      part.children.push_back(std::move(inner));
    }
    return part;
  }

  // Finds delimiter lines of `boundary` in the body of `part` and parses
  // the parts between them.
  void parse_multipart(BodyPart& part, const std::string& boundary, size_t depth) {
    const size_t body_begin = part.body_offset;
    const size_t body_end = part.body_offset + part.body_size;
    const bool digest = part.subtype == "digest";
    const std::string delim = "--" + boundary;

    // Returns 0 if the line at pos is not a delimiter, 1 for a part
    // delimiter, 2 for the close delimiter.
    auto delimiter_kind = [&](size_t pos) -> int {
      if (msg.compare(pos, delim.size(), delim) != 0 || pos + delim.size() > body_end) return 0;
      size_t p = pos + delim.size();
      int kind = 1;
      if (p + 1 < body_end && msg[p] == '-' && msg[p + 1] == '-') {
        kind = 2;
        p += 2;
      }
      while (p < body_end && is_wsp(msg[p])) ++p;  // transport padding
      if (p == body_end || msg[p] == '\n' || (msg[p] == '\r' && p + 1 < body_end && msg[p + 1] == '\n'))
        return kind;
      return 0;
    };

    size_t part_start = std::string::npos;  // start of the current part's content
    size_t pos = body_begin;
    bool closed = false;
    while (pos < body_end) {
      size_t next = std::min(line_end(msg, pos), body_end);
      int kind = delimiter_kind(pos);
      if (kind) {
        if (part_start != std::string::npos) {
          // The line break before the delimiter belongs to the delimiter.
          size_t content_end = pos;
          if (content_end > part_start && msg[content_end - 1] == '\n') {
            --content_end;
            if (content_end > part_start && msg[content_end - 1] == '\r') --content_end;
          }
          if (!add_child(part, part_start, content_end, depth, digest)) return;
        }
        if (kind == 2) {
          closed = true;
          break;
        }
        part_start = next;
      }
      pos = next;
    }
    if (!closed) {
      if (part_start != std::string::npos) add_child(part, part_start, body_end, depth, digest);
      flags |= parse_flag::kUnterminatedMultipart;
    }
  }

  bool add_child(BodyPart& part, size_t begin, size_t end, size_t depth, bool digest) {
    if (parts >= limits.max_parts) {
      flags |= parse_flag::kPartLimit;
      return false;
    }
    part.children.push_back(parse_part(begin, std::max(begin, end), depth + 1, digest));
    return true;
  }
};

}  // namespace

std::optional<std::string_view> BodyPart::param(std::string_view name) const {
  for (const auto& [k, v] : params)
    if (iequals(k, name)) return std::string_view(v);
  return std::nullopt;
}

MessageStructure parse_message(std::string_view message, const ParseLimits& requested) {
  // Parsing recurses once per level: cap the depth whatever the caller asks
  // (deserialize() accepts at most 256 levels too).
  ParseLimits limits = requested;
  limits.max_depth = std::min<size_t>(limits.max_depth, 255);
  MessageStructure ms;
  ms.size = message.size();
  Parser p{message, limits};
  ms.root = p.parse_part(0, message.size(), 0, false);
  std::string_view header = message.substr(0, ms.root.header_size);
  ms.envelope = p.parse_envelope(header.substr(0, std::min(header.size(), limits.max_header_bytes)));
  if (has_bare_lf(message)) p.flags |= parse_flag::kBareLf;
  if (message.find('\0') != std::string_view::npos) p.flags |= parse_flag::kNul;
  ms.flags = p.flags;
  return ms;
}

// ---------------------------------------------------------------------------
// Sections

const BodyPart* find_section(const MessageStructure& msg, std::span<const uint32_t> path) {
  const BodyPart* cur = nullptr;
  // Selects part n of a message whose body is described by `m`.
  auto select_in_message = [](const BodyPart* m, uint32_t n) -> const BodyPart* {
    if (m->is_multipart()) return n <= m->children.size() ? &m->children[n - 1] : nullptr;
    return n == 1 ? m : nullptr;
  };
  for (uint32_t n : path) {
    if (n == 0) return nullptr;
    if (!cur) {
      cur = select_in_message(&msg.root, n);
    } else if (cur->is_message() && cur->children.size() == 1) {
      cur = select_in_message(&cur->children[0], n);
    } else if (cur->is_multipart()) {
      cur = n <= cur->children.size() ? &cur->children[n - 1] : nullptr;
    } else {
      cur = nullptr;
    }
    if (!cur) return nullptr;
  }
  return cur ? cur : &msg.root;
}

std::optional<ByteRange> section_body(const MessageStructure& msg, std::span<const uint32_t> path) {
  if (path.empty()) return ByteRange{0, msg.size};
  const BodyPart* p = find_section(msg, path);
  if (!p) return std::nullopt;
  return ByteRange{p->body_offset, p->body_size};
}

std::optional<ByteRange> section_mime(const MessageStructure& msg, std::span<const uint32_t> path) {
  if (path.empty()) return std::nullopt;
  const BodyPart* p = find_section(msg, path);
  if (!p) return std::nullopt;
  return ByteRange{p->header_offset, p->header_size};
}

namespace {
const BodyPart* message_at(const MessageStructure& msg, std::span<const uint32_t> path) {
  if (path.empty()) return &msg.root;
  const BodyPart* p = find_section(msg, path);
  if (!p || !p->is_message() || p->children.size() != 1) return nullptr;
  return &p->children[0];
}
}  // namespace

std::optional<ByteRange> section_header(const MessageStructure& msg, std::span<const uint32_t> path) {
  const BodyPart* m = message_at(msg, path);
  if (!m) return std::nullopt;
  return ByteRange{m->header_offset, m->header_size};
}

std::optional<ByteRange> section_text(const MessageStructure& msg, std::span<const uint32_t> path) {
  const BodyPart* m = message_at(msg, path);
  if (!m) return std::nullopt;
  return ByteRange{m->body_offset, m->body_size};
}

// ---------------------------------------------------------------------------
// LMTP checks

bool has_bare_lf(std::string_view bytes) {
  size_t pos = 0;
  while ((pos = bytes.find('\n', pos)) != std::string_view::npos) {
    if (pos == 0 || bytes[pos - 1] != '\r') return true;
    ++pos;
  }
  return false;
}

bool has_bare_cr(std::string_view bytes) {
  size_t pos = 0;
  while ((pos = bytes.find('\r', pos)) != std::string_view::npos) {
    if (pos + 1 >= bytes.size() || bytes[pos + 1] != '\n') return true;
    ++pos;
  }
  return false;
}

bool header_has_8bit(std::string_view message) {
  std::string_view header = message.substr(0, header_block_size(message));
  return std::any_of(header.begin(), header.end(), [](char c) { return static_cast<unsigned char>(c) >= 0x80; });
}

size_t munge_8bit_header(std::string& message) {
  size_t n = 0;
  size_t hsize = header_block_size(message);
  for (size_t i = 0; i < hsize; ++i) {
    if (static_cast<unsigned char>(message[i]) >= 0x80) {
      message[i] = 'X';
      ++n;
    }
  }
  return n;
}

}  // namespace cyr::mail
