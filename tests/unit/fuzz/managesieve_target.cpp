// Fuzz target: what a ManageSieve client sends (server/managesieve/
// managesieve_protocol.h), which anyone who reaches the sieve port may do
// before logging in. The parser is driven the way managesieve_service.cpp's
// complete() drives it: the first line starts a command, a literal the
// parser asks for is read (or skipped when it says discard) from the bytes
// that follow, then the next line is fed, until Complete or Failed; after
// a completed AUTHENTICATE the next command is read as a SASL response, as
// read_sasl_response() does.
//
// Checks: the parser asks for a literal exactly when the line ends with
// one (so after Failed nothing of the bad command is left to be read as the
// next command), never above max_literal unless it says discard, never
// above max_discard at all; every command ends within max_lines lines;
// a command that had a literal discarded fails; what completes is well
// formed (atoms, numbers, UTF-8 quoted strings) and matches the argument
// shapes the session checks. Every string parsed is then formatted as the
// server would send it (format_string, format_response, format_capabilities)
// and read back, by a reader written here and by the parser itself: the
// same text, quoted only when RFC 5804 allows it, in one response that
// ends where it should.
//
// The first input byte chooses the parser's limits: the defaults (even)
// or small ones (odd), so that every bound is within reach.
#include <algorithm>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "server/managesieve/managesieve_protocol.h"
#include "tests/unit/fuzz/targets.h"

namespace cyr::fuzz {
namespace {

using managesieve::Argument;
using managesieve::Capabilities;
using managesieve::Code;
using managesieve::Command;
using managesieve::CommandParser;
using managesieve::ParserLimits;
using managesieve::Response;

bool atom_char(char c) {
  unsigned char u = static_cast<unsigned char>(c);
  return u > 0x20 && u < 0x7f && std::string_view("\"{}()\\").find(c) == std::string_view::npos;
}

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}


// RFC 5804 4: what may go out as a quoted string.
bool may_quote(std::string_view s) {
  return s.size() <= managesieve::kMaxQuotedOut && s.find_first_of(std::string_view("\r\n\0", 3)) == s.npos &&
         valid_utf8(s);
}

// "{N}" or "{N+}" at the very end of a line: N (UINT64_MAX if it does not
// fit).
std::optional<uint64_t> trailing_marker(std::string_view line) {
  if (line.empty() || line.back() != '}') return std::nullopt;
  size_t open = line.rfind('{');
  if (open == std::string_view::npos) return std::nullopt;
  std::string_view digits = line.substr(open + 1, line.size() - open - 2);
  if (!digits.empty() && digits.back() == '+') digits.remove_suffix(1);
  if (!all_digits(digits)) return std::nullopt;
  uint64_t n = 0;
  for (char d : digits) {
    uint64_t next = n * 10 + static_cast<uint64_t>(d - '0');
    if (n > UINT64_MAX / 10 || next < n * 10) return UINT64_MAX;
    n = next;
  }
  return n;
}

// ---- reading back what the server sends ----------------------------------------

// A string at wire[pos]: quoted (\" and \\ escapes, no line break) or a
// literal {N} CRLF octets. nullopt if it is neither.
std::optional<std::string> read_string(std::string_view wire, size_t& pos, bool* was_literal = nullptr) {
  if (pos >= wire.size()) return std::nullopt;
  if (wire[pos] == '"') {
    std::string out;
    for (size_t i = pos + 1; i < wire.size(); ++i) {
      char c = wire[i];
      if (c == '\r' || c == '\n' || c == '\0') return std::nullopt;
      if (c == '"') {
        pos = i + 1;
        if (was_literal) *was_literal = false;
        return out;
      }
      if (c == '\\') {
        if (i + 1 >= wire.size() || (wire[i + 1] != '"' && wire[i + 1] != '\\')) return std::nullopt;
        c = wire[++i];
      }
      out += c;
    }
    return std::nullopt;
  }
  if (wire[pos] == '{') {
    size_t close = wire.find("}\r\n", pos);
    if (close == std::string_view::npos) return std::nullopt;
    std::string_view digits = wire.substr(pos + 1, close - pos - 1);
    if (!all_digits(digits) || digits.size() > 9) return std::nullopt;
    size_t n = std::stoul(std::string(digits));
    size_t start = close + 3;
    if (wire.size() - start < n) return std::nullopt;
    pos = start + n;
    if (was_literal) *was_literal = true;
    return std::string(wire.substr(start, n));
  }
  return std::nullopt;
}

// format_string(s) reads back as s, quoted exactly when it may be.
void check_string_wire(std::string_view s) {
  std::string wire = managesieve::format_string(s);
  size_t pos = 0;
  bool literal = false;
  auto back = read_string(wire, pos, &literal);
  FUZZ_CHECK(back && *back == s && pos == wire.size());
  FUZZ_CHECK(literal == !may_quote(s));

  // And the parser reads it too, as a client's SASL response would be.
  ParserLimits limits;
  limits.max_literal = std::max(limits.max_literal, s.size());
  CommandParser p(limits);
  CommandParser::Step step;
  if (literal) {
    size_t crlf = wire.find("\r\n");
    step = p.start(std::string_view(wire).substr(0, crlf), CommandParser::Mode::SaslResponse);
    auto* need = std::get_if<CommandParser::NeedLiteral>(&step);
    FUZZ_CHECK(need && need->size == s.size() && !need->discard);
    step = p.feed_literal(std::string(s));
    FUZZ_CHECK(std::holds_alternative<CommandParser::NeedLine>(step));
    step = p.feed_line("");
  } else {
    step = p.start(wire, CommandParser::Mode::SaslResponse);
  }
  auto* done = std::get_if<CommandParser::Complete>(&step);
  FUZZ_CHECK(done && done->command.args.size() == 1);
  FUZZ_CHECK(done->command.args[0].kind == Argument::Kind::String && done->command.args[0].text == s);
  FUZZ_CHECK(done->command.args[0].literal == literal);
}

// One response: kind [SP "(" code [SP string] ")"] [SP string] CRLF, the
// whole of `wire`.
void check_response_wire(const Response& r) {
  const std::string wire = managesieve::format_response(r);
  std::string_view w = wire;
  size_t pos = 0;
  std::string_view kind = r.kind == Response::Kind::Ok ? "OK" : r.kind == Response::Kind::No ? "NO" : "BYE";
  FUZZ_CHECK(w.starts_with(kind));
  pos = kind.size();
  if (r.code != Code::None) {
    FUZZ_CHECK(w.substr(pos, 2) == " (");
    pos += 2;
    size_t end = pos;
    while (end < w.size() && w[end] != ' ' && w[end] != ')') ++end;
    FUZZ_CHECK(w.substr(pos, end - pos) == managesieve::code_name(r.code));
    pos = end;
    if (r.code == Code::Sasl || r.code == Code::Tag) {
      FUZZ_CHECK(w.substr(pos, 1) == " ");
      ++pos;
      auto arg = read_string(w, pos);
      FUZZ_CHECK(arg && *arg == r.code_arg);
    }
    FUZZ_CHECK(w.substr(pos, 1) == ")");
    ++pos;
  }
  if (!r.text.empty()) {
    FUZZ_CHECK(w.substr(pos, 1) == " ");
    ++pos;
    auto text = read_string(w, pos);
    FUZZ_CHECK(text && *text == r.text);
  }
  FUZZ_CHECK(w.substr(pos) == "\r\n");
}

// The capability lines: "NAME" [SP string] CRLF each, read back.
void check_capabilities_wire(const Capabilities& caps) {
  const std::string wire = managesieve::format_capabilities(caps);
  std::string_view w = wire;
  std::vector<std::pair<std::string, std::optional<std::string>>> got;
  size_t pos = 0;
  while (pos < w.size()) {
    auto name = read_string(w, pos);
    FUZZ_CHECK(name && !name->empty());
    std::optional<std::string> value;
    if (w.substr(pos, 1) == " ") {
      ++pos;
      value = read_string(w, pos);
      FUZZ_CHECK(value.has_value());
    }
    FUZZ_CHECK(w.substr(pos, 2) == "\r\n");
    pos += 2;
    got.emplace_back(std::move(*name), std::move(value));
  }
  auto joined = [](const std::vector<std::string>& v) {
    std::string s;
    for (size_t i = 0; i < v.size(); ++i) s += (i ? " " : "") + v[i];
    return s;
  };
  std::vector<std::pair<std::string, std::optional<std::string>>> want;
  want.emplace_back("IMPLEMENTATION", caps.implementation);
  if (caps.sasl) want.emplace_back("SASL", joined(*caps.sasl));
  want.emplace_back("SIEVE", joined(caps.sieve));
  if (caps.starttls) want.emplace_back("STARTTLS", std::nullopt);
  if (caps.max_redirects > 0) want.emplace_back("MAXREDIRECTS", std::to_string(caps.max_redirects));
  if (!caps.owner.empty()) want.emplace_back("OWNER", caps.owner);
  if (caps.unauthenticate) want.emplace_back("UNAUTHENTICATE", std::nullopt);
  want.emplace_back("VERSION", "1.0");
  FUZZ_CHECK(got == want);
}

// arguments_match(), stated independently for the shapes the session uses.
bool shape_matches(const Command& cmd, std::string_view shape) {
  using K = Argument::Kind;
  const auto& a = cmd.args;
  if (shape == "") return a.empty();
  if (shape == "s") return a.size() == 1 && a[0].kind == K::String;
  if (shape == "s?") return a.empty() || (a.size() == 1 && a[0].kind == K::String);
  if (shape == "ss") return a.size() == 2 && a[0].kind == K::String && a[1].kind == K::String;
  if (shape == "sn") return a.size() == 2 && a[0].kind == K::String && a[1].kind == K::Number;
  if (shape == "ws?") return (a.size() == 1 || a.size() == 2) && a[0].kind != K::Number && (a.size() == 1 || a[1].kind == K::String);
  return false;
}

void check_command(const Command& cmd, CommandParser::Mode mode, const ParserLimits& limits, size_t kept_literals) {
  if (mode == CommandParser::Mode::SaslResponse) {
    FUZZ_CHECK(cmd.name.empty());
  } else {
    FUZZ_CHECK(!cmd.name.empty());
    for (char c : cmd.name) FUZZ_CHECK(atom_char(c) && !(c >= 'a' && c <= 'z'));
  }
  FUZZ_CHECK(cmd.args.size() <= limits.max_args);
  size_t literals = 0;
  for (const auto& a : cmd.args) {
    switch (a.kind) {
      case Argument::Kind::Atom:
        FUZZ_CHECK(!a.text.empty() && !all_digits(a.text) && !a.literal);
        for (char c : a.text) FUZZ_CHECK(atom_char(c));
        break;
      case Argument::Kind::Number: {
        FUZZ_CHECK(all_digits(a.text) && !a.literal);
        FUZZ_CHECK(a.number <= 4294967295u);
        uint64_t n = 0;
        for (char d : a.text) n = n * 10 + static_cast<uint64_t>(d - '0');
        FUZZ_CHECK(n == a.number);
        break;
      }
      case Argument::Kind::String:
        if (a.literal) {
          ++literals;
          FUZZ_CHECK(a.text.size() <= limits.max_literal);
        } else {
          FUZZ_CHECK(valid_utf8(a.text));
          FUZZ_CHECK(a.text.find_first_of(std::string_view("\r\n\0", 3)) == std::string::npos);
        }
        break;
    }
  }
  FUZZ_CHECK(literals == kept_literals);
  for (std::string_view shape : {"", "s", "s?", "ss", "sn", "ws?"})
    FUZZ_CHECK(managesieve::arguments_match(cmd, shape) == shape_matches(cmd, shape));

  // What the server would send about these strings reads back.
  std::vector<std::string> strings = {cmd.name};
  for (const auto& a : cmd.args) strings.push_back(a.text);
  for (size_t i = 0; i < strings.size(); ++i) {
    const std::string& s = strings[i];
    const std::string& other = strings[(i + 1) % strings.size()];
    check_string_wire(s);
    check_response_wire(Response::no(s));
    check_response_wire(Response::ok(s, Code::Tag, other));
    check_response_wire(Response::ok("", Code::Sasl, s));
    check_response_wire(Response::no(s, Code::QuotaMaxSize));
    check_response_wire(Response::bye(s, Code::TryLater));
  }
  Capabilities caps;
  caps.implementation = strings.back();
  std::vector<std::string> words;
  for (const auto& a : cmd.args)
    if (a.kind == Argument::Kind::Atom) words.push_back(a.text);
  if (!words.empty()) caps.sasl = words;
  // Lists of names (mechanisms, extensions), which are never empty.
  for (const auto& s : strings)
    if (!s.empty()) caps.sieve.push_back(s);
  caps.starttls = strings.size() % 2 == 0;
  caps.max_redirects = cmd.args.size();
  caps.owner = strings.front();
  caps.unauthenticate = !words.empty();
  check_capabilities_wire(caps);
}

// The session's side of the connection over the input.
class Session {
 public:
  Session(std::string_view in, ParserLimits limits) : in_(in), parser_(limits), limits_(limits) {}

  void run() {
    bool sasl_next = false;
    for (int commands = 0; commands < 1000 && pos_ < in_.size(); ++commands) {
      auto line = read_line();
      if (!line) return;
      if (too_long_) continue;  // the command loop answers "Line too long"
      auto mode = sasl_next ? CommandParser::Mode::SaslResponse : CommandParser::Mode::Command;
      lines_ = 1;
      literals_ = kept_ = 0;
      discarded_ = false;
      auto step = parser_.start(*line, mode);
      check_line_step(*line, step);
      if (!complete(step)) return;
      if (auto* failed = std::get_if<CommandParser::Failed>(&step)) {
        FUZZ_CHECK(failed->response.kind != Response::Kind::Ok);
        check_response_wire(failed->response);
        if (failed->close) return;  // BYE
        sasl_next = false;
        continue;
      }
      const Command& cmd = std::get<CommandParser::Complete>(step).command;
      FUZZ_CHECK(!discarded_);
      check_command(cmd, mode, limits_, kept_);
      sasl_next = mode == CommandParser::Mode::Command && cmd.name == "AUTHENTICATE";
    }
  }

 private:
  // A step right after a line: a literal is asked for exactly when the
  // line ends with one (a command that fails still has its literal read),
  // unless the connection is to be closed.
  void check_line_step(std::string_view line, const CommandParser::Step& step) {
    auto marker = trailing_marker(line);
    if (auto* need = std::get_if<CommandParser::NeedLiteral>(&step)) {
      FUZZ_CHECK(marker && need->size == *marker);
      return;
    }
    if (auto* failed = std::get_if<CommandParser::Failed>(&step); failed && failed->close) {
      FUZZ_CHECK(lines_ > limits_.max_lines || (marker && *marker > limits_.max_discard));
      return;
    }
    FUZZ_CHECK(!marker);
  }

  // complete(): false when the input ends inside the command.
  bool complete(CommandParser::Step& step) {
    for (;;) {
      if (auto* lit = std::get_if<CommandParser::NeedLiteral>(&step)) {
        FUZZ_CHECK(lit->size <= limits_.max_discard);
        FUZZ_CHECK(lit->discard || lit->size <= limits_.max_literal);
        FUZZ_CHECK(++literals_ <= limits_.max_lines);
        if (in_.size() - pos_ < lit->size) return false;
        std::string_view octets = in_.substr(pos_, static_cast<size_t>(lit->size));
        pos_ += static_cast<size_t>(lit->size);
        if (lit->discard) {
          discarded_ = true;
          step = parser_.literal_skipped();
        } else {
          ++kept_;
          step = parser_.feed_literal(std::string(octets));
        }
        FUZZ_CHECK(std::holds_alternative<CommandParser::NeedLine>(step));
        continue;
      }
      if (std::holds_alternative<CommandParser::NeedLine>(step)) {
        auto line = read_line();
        if (!line) return false;
        ++lines_;
        FUZZ_CHECK(lines_ <= limits_.max_lines + 1);
        if (too_long_) {
          step = parser_.line_too_long();
          FUZZ_CHECK(std::holds_alternative<CommandParser::Failed>(step));
        } else {
          step = parser_.feed_line(*line);
          check_line_step(*line, step);
        }
        continue;
      }
      return true;
    }
  }

  // Connection::read_line: up to LF, without CRLF; a line over max_line is
  // skipped whole (too_long_).
  std::optional<std::string_view> read_line() {
    size_t nl = in_.find('\n', pos_);
    if (nl == std::string_view::npos) return std::nullopt;
    std::string_view line = in_.substr(pos_, nl - pos_);
    pos_ = nl + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    too_long_ = line.size() > limits_.max_line;
    return line;
  }

  std::string_view in_;
  size_t pos_ = 0;
  bool too_long_ = false;
  CommandParser parser_;
  ParserLimits limits_;
  size_t lines_ = 0, literals_ = 0, kept_ = 0;
  bool discarded_ = false;
};

}  // namespace

int managesieve(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  ParserLimits limits;
  if (data[0] & 1) {
    limits.max_line = 40 + (data[0] >> 1) % 64;
    limits.max_literal = 4 + (data[0] >> 2) % 32;
    limits.max_discard = 600;
    limits.max_args = 1 + (data[0] >> 3) % 4;
    limits.max_lines = 2 + (data[0] >> 5) % 6;
  }
  std::string_view in(reinterpret_cast<const char*>(data + 1), std::min(size - 1, kMaxInput));
  Session(in, limits).run();
  return 0;
}

}  // namespace cyr::fuzz
