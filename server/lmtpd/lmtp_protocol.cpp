#include "server/lmtpd/lmtp_protocol.h"

#include <algorithm>
#include <charconv>
#include <cstring>

#include "store/base/ascii.h"

namespace cyr::lmtpd {

namespace {

char ascii_upper(char c) { return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 32) : c; }
char ascii_lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }

std::string upper(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = ascii_upper(c);
  return out;
}

Error syntax(std::string text) { return Error(Errc::Invalid, std::move(text)); }

struct VerbName {
  std::string_view name;
  Verb verb;
};
constexpr VerbName kVerbs[] = {
    {"LHLO", Verb::Lhlo}, {"MAIL", Verb::Mail},         {"RCPT", Verb::Rcpt}, {"DATA", Verb::Data},
    {"RSET", Verb::Rset}, {"NOOP", Verb::Noop},         {"QUIT", Verb::Quit}, {"VRFY", Verb::Vrfy},
    {"STARTTLS", Verb::StartTls}, {"AUTH", Verb::Auth}, {"HELO", Verb::Helo}, {"EHLO", Verb::Ehlo},
};

// "<path>" at the start of s; returns the inside and advances s past '>'.
Result<std::string> take_path(std::string_view& s) {
  if (s.empty() || s.front() != '<') return syntax("501 5.5.4 Syntax error: address must be in <>");
  bool quoted = false;
  size_t i = 1;
  for (; i < s.size(); ++i) {
    char c = s[i];
    if (quoted && c == '\\') {
      ++i;
      continue;
    }
    if (c == '"') quoted = !quoted;
    else if (c == '>' && !quoted) break;
  }
  if (i >= s.size()) return syntax("501 5.5.4 Syntax error: unterminated address");
  std::string_view inside = s.substr(1, i - 1);
  s.remove_prefix(i + 1);
  if (inside.size() > kMaxPathLength) return syntax("501 5.1.3 Address too long");
  // Source routes ("@a,@b:user@host", RFC 5321 4.1.2) are obsolete: drop them.
  if (!inside.empty() && inside.front() == '@') {
    auto colon = inside.find(':');
    if (colon == std::string_view::npos) return syntax("501 5.1.3 Bad source route");
    inside.remove_prefix(colon + 1);
  }
  for (unsigned char c : inside)
    if (c < 0x20 || c == 0x7f) return syntax("501 5.1.3 Control character in address");
  return std::string(inside);
}

Status take_params(std::string_view rest, std::vector<EsmtpParam>& out) {
  size_t pos = 0;
  while (pos < rest.size()) {
    while (pos < rest.size() && rest[pos] == ' ') ++pos;
    if (pos >= rest.size()) break;
    size_t end = rest.find(' ', pos);
    if (end == std::string_view::npos) end = rest.size();
    std::string_view word = rest.substr(pos, end - pos);
    pos = end;
    if (out.size() >= kMaxParams) return syntax("501 5.5.4 Too many parameters");
    EsmtpParam p;
    auto eq = word.find('=');
    p.keyword = upper(word.substr(0, eq));
    if (eq != std::string_view::npos) p.value = std::string(word.substr(eq + 1));
    if (p.keyword.empty()) return syntax("501 5.5.4 Syntax error in parameters");
    for (char c : p.keyword)
      if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-'))
        return syntax("501 5.5.4 Syntax error in parameters");
    out.push_back(std::move(p));
  }
  return {};
}

}  // namespace

Result<Command> parse_command(std::string_view line) {
  if (line.size() > kMaxCommandLine) return syntax("500 5.5.2 Line too long");
  for (unsigned char c : line)
    if (c == 0 || c == '\r' || c == '\n') return syntax("500 5.5.2 Syntax error");
  Command cmd;
  size_t sp = line.find(' ');
  std::string_view verb = line.substr(0, sp);
  std::string_view rest = sp == std::string_view::npos ? std::string_view{} : line.substr(sp + 1);
  cmd.verb_text = std::string(verb.substr(0, 32));
  for (const auto& v : kVerbs)
    if (iequals(verb, v.name)) cmd.verb = v.verb;
  switch (cmd.verb) {
    case Verb::Mail:
    case Verb::Rcpt: {
      std::string_view kw = cmd.verb == Verb::Mail ? "FROM:" : "TO:";
      if (rest.size() < kw.size() || !iequals(rest.substr(0, kw.size()), kw))
        return syntax(cmd.verb == Verb::Mail ? "501 5.5.4 Syntax: MAIL FROM:<address>"
                                             : "501 5.5.4 Syntax: RCPT TO:<address>");
      rest.remove_prefix(kw.size());
      while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);  // lenient, as Postfix
      auto path = take_path(rest);
      if (!path) return path.take_error();
      cmd.path = std::move(*path);
      if (!rest.empty() && rest.front() != ' ') return syntax("501 5.5.4 Syntax error after address");
      CYR_TRY(take_params(rest, cmd.params));
      break;
    }
    case Verb::Lhlo:
    case Verb::Helo:
    case Verb::Ehlo:
    case Verb::Auth:
    case Verb::Vrfy:
      cmd.arg = std::string(rest);
      break;
    case Verb::Data:
    case Verb::Rset:
    case Verb::Quit:
    case Verb::StartTls:
      if (!rest.empty()) return syntax("501 5.5.4 Syntax error: no parameters allowed");
      break;
    case Verb::Noop:
    case Verb::Unknown:
      cmd.arg = std::string(rest);
      break;
  }
  return cmd;
}

Result<std::string> decode_xtext(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c != '+') {
      if (static_cast<unsigned char>(c) < 0x21 || static_cast<unsigned char>(c) > 0x7e || c == '=')
        return syntax("501 5.5.4 Bad xtext");
      out += c;
      continue;
    }
    if (i + 2 >= s.size()) return syntax("501 5.5.4 Bad xtext");
    auto hex = [](char h) -> int {
      if (h >= '0' && h <= '9') return h - '0';
      if (h >= 'A' && h <= 'F') return h - 'A' + 10;
      return -1;
    };
    int hi = hex(s[i + 1]), lo = hex(s[i + 2]);
    if (hi < 0 || lo < 0) return syntax("501 5.5.4 Bad xtext");
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return out;
}

Result<MailParams> parse_mail_params(const std::vector<EsmtpParam>& params) {
  MailParams mp;
  for (const auto& p : params) {
    if (p.keyword == "SIZE") {
      uint64_t v = 0;
      auto [ptr, ec] = std::from_chars(p.value.data(), p.value.data() + p.value.size(), v);
      if (p.value.empty() || p.value.size() > 20 || ec != std::errc() || ptr != p.value.data() + p.value.size())
        return syntax("501 5.5.4 Bad SIZE parameter");
      mp.size = v;
    } else if (p.keyword == "BODY") {
      if (iequals(p.value, "8BITMIME")) mp.body_8bitmime = true;
      else if (!iequals(p.value, "7BIT")) return syntax("501 5.5.4 Unknown BODY type");
    } else if (p.keyword == "AUTH") {
      auto v = decode_xtext(p.value);
      if (!v) return v.take_error();
      mp.auth = std::move(*v);
    } else {
      return syntax("555 5.5.4 Unsupported parameter " + p.keyword);
    }
  }
  return mp;
}

Result<RecipientAddress> split_recipient(std::string_view path, bool downcase) {
  if (path.empty()) return syntax("501 5.1.3 Empty recipient address");
  if (path.size() > kMaxPathLength) return syntax("501 5.1.3 Address too long");
  std::string local;
  std::string_view domain;
  if (path.front() == '"') {
    size_t i = 1;
    for (; i < path.size() && path[i] != '"'; ++i) {
      if (path[i] == '\\' && i + 1 < path.size()) ++i;
      local += path[i];
    }
    if (i >= path.size()) return syntax("501 5.1.3 Unterminated quoted local part");
    std::string_view after = path.substr(i + 1);
    if (!after.empty()) {
      if (after.front() != '@') return syntax("501 5.1.3 Bad address");
      domain = after.substr(1);
    }
  } else {
    auto at = path.rfind('@');
    local = std::string(path.substr(0, at));
    if (at != std::string_view::npos) domain = path.substr(at + 1);
  }
  for (unsigned char c : local)
    if (c < 0x20 || c >= 0x7f) return syntax("501 5.1.3 Bad character in address");
  for (unsigned char c : domain)
    if (c <= 0x20 || c >= 0x7f || c == '@' || c == '/') return syntax("501 5.1.3 Bad domain in address");
  RecipientAddress r;
  auto plus = local.find('+');
  r.user = local.substr(0, plus);
  if (plus != std::string::npos) r.detail = local.substr(plus + 1);
  r.domain = std::string(domain);
  if (downcase) {
    for (auto& c : r.user) c = ascii_lower(c);
    for (auto& c : r.domain) c = ascii_lower(c);
  }
  if (r.user.empty() && !r.detail) return syntax("501 5.1.3 Empty local part");
  return r;
}

// ---------------------------------------------------------------------------
// DataDecoder

void DataDecoder::emit(char c, std::string& out) {
  unsigned char u = static_cast<unsigned char>(c);
  if (c == '\n' && !prev_cr_) bare_lf_ = true;
  if (c == 0) nul_ = true;
  if (in_header_) {
    if (u >= 0x80) {
      header_8bit_ = true;
      if (munge_8bit_) {
        c = 'X';
        ++munged_;
      }
    }
    if (header_.size() < kMaxKeptHeader) header_ += c;
    if (c == '\n') {
      if (header_line_empty_) in_header_ = false;  // the blank line ends the header
      header_line_empty_ = true;
    } else if (c != '\r') {
      header_line_empty_ = false;
    }
  }
  prev_cr_ = (c == '\r');
  ++size_;
  out += c;
}

size_t DataDecoder::feed(std::string_view in, std::string& out) {
  size_t i = 0;
  while (i < in.size()) {
    if (state_ == State::Done) return i;  // the rest belongs to the next command
    if (state_ == State::Mid && !in_header_) {
      // Body bytes inside a line need no decoding: copy up to and including
      // the line's LF in one piece, noting NULs and a bare LF on the way.
      // (Per byte, a 30 MiB message costs seconds of CPU.)
      const char* p = in.data() + i;
      size_t rest = in.size() - i;
      const char* lf = static_cast<const char*>(std::memchr(p, '\n', rest));
      size_t n = lf ? static_cast<size_t>(lf - p) + 1 : rest;
      if (!nul_ && std::memchr(p, '\0', n)) nul_ = true;
      if (lf) {
        bool cr_before = n >= 2 ? p[n - 2] == '\r' : prev_cr_;
        if (!cr_before) bare_lf_ = true;
        state_ = State::LineStart;
      }
      prev_cr_ = p[n - 1] == '\r';
      size_ += n;
      out.append(p, n);
      i += n;
      continue;
    }
    char c = in[i++];
    switch (state_) {
      case State::Done:
        return i - 1;
      case State::LineStart:
        if (c == '.') {
          state_ = State::Dot;
        } else {
          emit(c, out);
          state_ = c == '\n' ? State::LineStart : State::Mid;
        }
        break;
      case State::Dot:
        if (c == '\n') {
          state_ = State::Done;
        } else if (c == '\r') {
          state_ = State::DotCr;
        } else {
          // A dot-stuffed line: the leading dot is dropped (RFC 5321 4.5.2).
          emit(c, out);
          state_ = State::Mid;
        }
        break;
      case State::DotCr:
        if (c == '\n') {
          state_ = State::Done;
        } else {
          emit('\r', out);
          emit(c, out);
          state_ = c == '\n' ? State::LineStart : State::Mid;
        }
        break;
      case State::Mid:
        emit(c, out);
        if (c == '\n') state_ = State::LineStart;
        break;
    }
  }
  return i;
}

size_t DataDecoder::min_bytes_to_end() const {
  switch (state_) {
    case State::Done: return 0;
    case State::LineStart: return 2;  // ".\n"
    case State::Dot:
    case State::DotCr: return 1;      // "\n"
    case State::Mid: return 3;        // "\n.\n"
  }
  return 1;
}

std::string Reply::format() const {
  std::string t = text.substr(0, text.find_first_of("\r\n"));
  std::string out = std::to_string(code);
  out += ' ';
  if (!enhanced.empty()) {
    out += enhanced;
    out += ' ';
  }
  out += t;
  out += "\r\n";
  return out;
}

}  // namespace cyr::lmtpd
