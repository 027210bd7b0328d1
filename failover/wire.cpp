#include "failover/wire.h"

#include <cctype>

namespace cyr::failover {

bool valid_token(std::string_view t) {
  if (t.empty() || t.size() > 64) return false;
  for (unsigned char c : t)
    if (!(std::isalnum(c) || c == '.' || c == '_' || c == ':' || c == '@' || c == '-')) return false;
  return true;
}

std::optional<uint64_t> parse_u64(std::string_view s) {
  if (s.empty() || s.size() > 20) return std::nullopt;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    uint64_t d = static_cast<uint64_t>(c - '0');
    if (v > (UINT64_MAX - d) / 10) return std::nullopt;
    v = v * 10 + d;
  }
  return v;
}

std::vector<std::string> split_words(std::string_view text) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < text.size() && out.size() <= kMaxArgs + 8) {
    while (i < text.size() && text[i] == ' ') ++i;
    size_t j = i;
    while (j < text.size() && text[j] != ' ') ++j;
    if (j > i) out.emplace_back(text.substr(i, j - i));
    i = j;
  }
  return out;
}

Result<Request> parse_request(std::string_view line) {
  if (line.empty()) return Error(Errc::Invalid, "empty request");
  if (line.size() > kMaxLine) return Error(Errc::Limit, "request line too long");
  for (unsigned char c : line)
    if (c < 0x20 || c == 0x7f) return Error(Errc::Invalid, "control character in request");
  Request r;
  size_t i = 0;
  bool first = true;
  while (i <= line.size()) {
    size_t j = line.find(' ', i);
    if (j == std::string_view::npos) j = line.size();
    std::string_view tok = line.substr(i, j - i);
    if (tok.empty()) return Error(Errc::Invalid, "empty token in request");
    if (first) {
      if (tok.size() > 16) return Error(Errc::Invalid, "unknown request");
      for (char c : tok) r.verb.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
      first = false;
    } else {
      if (r.args.size() == kMaxArgs) return Error(Errc::Limit, "too many arguments");
      if (tok.size() > 64) return Error(Errc::Limit, "argument too long");
      r.args.emplace_back(tok);
    }
    i = j + 1;
  }
  return r;
}

namespace {
// A reply line never breaks the reader's bounds: cut, and no CR/LF inside.
std::string one_line(std::string_view s) {
  std::string out(s.substr(0, kMaxLine - 8));
  for (char& c : out)
    if (c == '\r' || c == '\n') c = ' ';
  return out;
}
}  // namespace

std::string format_reply(const Reply& r) {
  std::string out;
  size_t n = 0;
  for (const auto& l : r.lines)
    if (++n <= kMaxReplyLines) out += "* " + one_line(l) + "\r\n";
  out += r.ok ? "OK" : "NO";
  if (!r.text.empty()) out += " " + one_line(r.text);
  out += "\r\n";
  return out;
}

Result<Reply> parse_reply(std::string_view text) {
  Reply r;
  size_t i = 0;
  size_t n = 0;
  while (i < text.size()) {
    size_t j = text.find('\n', i);
    if (j == std::string_view::npos) return Error(Errc::Invalid, "reply not terminated");
    std::string_view line = text.substr(i, j - i);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    i = j + 1;
    if (++n > kMaxReplyLines + 1) return Error(Errc::Limit, "reply has too many lines");
    if (line.size() > kMaxLine) return Error(Errc::Limit, "reply line too long");
    if (line.starts_with("* ")) {
      r.lines.emplace_back(line.substr(2));
      continue;
    }
    if (line == "OK" || line.starts_with("OK ")) r.ok = true;
    else if (line == "NO" || line.starts_with("NO ")) r.ok = false;
    else return Error(Errc::Invalid, "malformed reply line");
    r.text = line.size() > 3 ? std::string(line.substr(3)) : std::string();
    if (i != text.size()) return Error(Errc::Invalid, "data after the final reply line");
    return r;
  }
  return Error(Errc::Invalid, "reply without a final line");
}

}  // namespace cyr::failover
