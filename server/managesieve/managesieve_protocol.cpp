// ManageSieve syntax: see managesieve_protocol.h.
#include "server/managesieve/managesieve_protocol.h"

#include <algorithm>

#include "server/auth/saslprep.h"

namespace cyr::managesieve {

namespace {

bool is_atom_char(char c) {
  auto u = static_cast<unsigned char>(c);
  if (u <= 0x20 || u >= 0x7f) return false;
  return c != '"' && c != '{' && c != '}' && c != '(' && c != ')' && c != '\\';
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

std::string upper(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  return out;
}

// The whole of `s` is "{123}" or "{123+}": the literal's size. A size too
// long to represent comes back as UINT64_MAX (the caller refuses it).
std::optional<uint64_t> literal_marker_size(std::string_view s) {
  if (s.size() < 3 || s.front() != '{' || s.back() != '}') return std::nullopt;
  std::string_view digits = s.substr(1, s.size() - 2);
  if (!digits.empty() && digits.back() == '+') digits.remove_suffix(1);
  if (digits.empty() || !std::all_of(digits.begin(), digits.end(), is_digit)) return std::nullopt;
  uint64_t n = 0;
  for (char d : digits) {
    if (n > (UINT64_MAX - 9) / 10) return UINT64_MAX;
    n = n * 10 + static_cast<uint64_t>(d - '0');
  }
  return n;
}

// A literal announced at the end of a line, whatever precedes it.
std::optional<uint64_t> trailing_literal(std::string_view line) {
  size_t open = line.rfind('{');
  if (open == std::string_view::npos) return std::nullopt;
  return literal_marker_size(line.substr(open));
}

Response syntax_error(std::string text) { return Response::no(std::move(text)); }

bool quotable(std::string_view s) {
  if (s.size() > kMaxQuotedOut) return false;
  if (s.find_first_of(std::string_view("\r\n\0", 3)) != std::string_view::npos) return false;
  return auth::is_valid_utf8(s);
}

}  // namespace

std::string_view code_name(Code code) {
  switch (code) {
    case Code::None: return "";
    case Code::AuthTooWeak: return "AUTH-TOO-WEAK";
    case Code::EncryptNeeded: return "ENCRYPT-NEEDED";
    case Code::Quota: return "QUOTA";
    case Code::QuotaMaxScripts: return "QUOTA/MAXSCRIPTS";
    case Code::QuotaMaxSize: return "QUOTA/MAXSIZE";
    case Code::Referral: return "REFERRAL";
    case Code::Sasl: return "SASL";
    case Code::TransitionNeeded: return "TRANSITION-NEEDED";
    case Code::TryLater: return "TRYLATER";
    case Code::Active: return "ACTIVE";
    case Code::Nonexistent: return "NONEXISTENT";
    case Code::AlreadyExists: return "ALREADYEXISTS";
    case Code::Warnings: return "WARNINGS";
    case Code::Tag: return "TAG";
  }
  return "";
}

std::string format_literal(std::string_view s) {
  std::string out = "{" + std::to_string(s.size()) + "}\r\n";
  out.append(s);
  return out;
}

std::string format_string(std::string_view s) {
  if (!quotable(s)) return format_literal(s);
  std::string out;
  out.reserve(s.size() + 2);
  out += '"';
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  out += '"';
  return out;
}

std::string format_response(const Response& r) {
  std::string out = r.kind == Response::Kind::Ok ? "OK" : r.kind == Response::Kind::No ? "NO" : "BYE";
  if (r.code != Code::None) {
    out += " (";
    out += code_name(r.code);
    if (r.code == Code::Sasl || r.code == Code::Tag) {
      out += ' ';
      out += format_string(r.code_arg);
    } else if (r.code == Code::Referral && !r.code_arg.empty()) {
      out += ' ';
      out += r.code_arg;
    }
    out += ')';
  }
  if (!r.text.empty()) {
    out += ' ';
    out += format_string(r.text);
  }
  out += "\r\n";
  return out;
}

std::string format_capabilities(const Capabilities& caps) {
  auto joined = [](const std::vector<std::string>& v) {
    std::string s;
    for (const auto& x : v) {
      if (!s.empty()) s += ' ';
      s += x;
    }
    return s;
  };
  std::string out = "\"IMPLEMENTATION\" " + format_string(caps.implementation) + "\r\n";
  if (caps.sasl) out += "\"SASL\" " + format_string(joined(*caps.sasl)) + "\r\n";
  out += "\"SIEVE\" " + format_string(joined(caps.sieve)) + "\r\n";
  if (caps.starttls) out += "\"STARTTLS\"\r\n";
  if (caps.max_redirects > 0) out += "\"MAXREDIRECTS\" \"" + std::to_string(caps.max_redirects) + "\"\r\n";
  if (!caps.owner.empty()) out += "\"OWNER\" " + format_string(caps.owner) + "\r\n";
  if (caps.unauthenticate) out += "\"UNAUTHENTICATE\"\r\n";
  out += "\"VERSION\" \"1.0\"\r\n";
  return out;
}

// ---- CommandParser ----------------------------------------------------------

bool CommandParser::count_line() { return ++lines_ <= limits_.max_lines; }

CommandParser::Step CommandParser::start(std::string_view line, Mode mode) {
  mode_ = mode;
  command_ = Command{};
  error_.reset();
  lines_ = 0;
  count_line();
  if (mode_ == Mode::SaslResponse) return parse_tokens(line, 0);
  size_t end = 0;
  while (end < line.size() && is_atom_char(line[end])) ++end;
  if (end == 0) return fail_and_skip(line, syntax_error(line.empty() ? "Empty command" : "Expected a command"));
  command_.name = upper(line.substr(0, end));
  return parse_tokens(line, end);
}

CommandParser::Step CommandParser::feed_line(std::string_view line) {
  if (!count_line()) return Failed{Response::bye("Too many literals in one command"), true};
  if (error_) return fail_and_skip(line, *error_);
  return parse_tokens(line, 0);
}

CommandParser::Step CommandParser::feed_literal(std::string octets) {
  Argument a;
  a.kind = Argument::Kind::String;
  a.text = std::move(octets);
  a.literal = true;
  command_.args.push_back(std::move(a));
  return NeedLine{};
}

CommandParser::Step CommandParser::literal_skipped() { return NeedLine{}; }

CommandParser::Step CommandParser::line_too_long() {
  if (!error_) error_ = syntax_error("Line too long");
  return Failed{*error_, false};
}

CommandParser::Step CommandParser::finish() {
  if (error_) return Failed{*error_, false};
  return Complete{std::move(command_)};
}

CommandParser::Step CommandParser::fail_and_skip(std::string_view line, Response why) {
  if (!error_) error_ = std::move(why);
  // The client sends a literal's octets without waiting for us: if this
  // line announces one, it must be read (and dropped) before the next
  // command starts.
  if (auto size = trailing_literal(line)) return literal_marker(*size);
  return Failed{*error_, false};
}

CommandParser::Step CommandParser::literal_marker(uint64_t size) {
  if (size > limits_.max_discard) return Failed{Response::bye("Literal too large"), true};
  if (!error_ && command_.args.size() >= limits_.max_args) error_ = syntax_error("Too many arguments");
  if (!error_ && size > limits_.max_literal) {
    if (command_.name == "PUTSCRIPT" || command_.name == "CHECKSCRIPT")
      error_ = Response::no("Script too large", Code::QuotaMaxSize);
    else
      error_ = syntax_error("Literal too large");
  }
  return NeedLiteral{size, error_.has_value()};
}

CommandParser::Step CommandParser::parse_tokens(std::string_view line, size_t pos) {
  // A command's first line in SASL mode starts with its argument; anywhere
  // else an argument follows a space.
  bool need_space = !(mode_ == Mode::SaslResponse && lines_ == 1 && pos == 0);
  for (;;) {
    if (pos == line.size()) return finish();
    if (need_space) {
      if (line[pos] != ' ') return fail_and_skip(line, syntax_error("Expected a space between arguments"));
      while (pos < line.size() && line[pos] == ' ') ++pos;
      if (pos == line.size()) return finish();  // trailing spaces: tolerated
    }
    need_space = true;
    const char c = line[pos];
    Argument arg;
    if (c == '"') {
      std::string text;
      size_t i = pos + 1;
      bool closed = false;
      while (i < line.size()) {
        char q = line[i];
        if (q == '"') {
          closed = true;
          ++i;
          break;
        }
        if (q == '\\') {
          if (i + 1 < line.size() && (line[i + 1] == '"' || line[i + 1] == '\\')) {
            text += line[i + 1];
            i += 2;
            continue;
          }
          return fail_and_skip(line, syntax_error("Invalid escape in quoted string"));
        }
        if (q == '\0' || q == '\r') return fail_and_skip(line, syntax_error("Invalid character in quoted string"));
        text += q;
        ++i;
      }
      if (!closed) return fail_and_skip(line, syntax_error("Unterminated quoted string"));
      if (!auth::is_valid_utf8(text)) return fail_and_skip(line, syntax_error("Quoted string is not UTF-8"));
      arg.kind = Argument::Kind::String;
      arg.text = std::move(text);
      pos = i;
    } else if (c == '{') {
      auto size = literal_marker_size(line.substr(pos));
      if (!size) return fail_and_skip(line, syntax_error("A literal must be {N} or {N+} at the end of a line"));
      return literal_marker(*size);
    } else if (is_atom_char(c)) {
      size_t end = pos;
      while (end < line.size() && is_atom_char(line[end])) ++end;
      std::string_view word = line.substr(pos, end - pos);
      if (std::all_of(word.begin(), word.end(), is_digit)) {
        // RFC 5804 4: number = 1*DIGIT, at most 4294967295.
        uint64_t n = 0;
        for (char d : word) {
          n = n * 10 + static_cast<uint64_t>(d - '0');
          if (n > 4294967295u) return fail_and_skip(line, syntax_error("Number too large"));
        }
        arg.kind = Argument::Kind::Number;
        arg.number = n;
      } else {
        arg.kind = Argument::Kind::Atom;
      }
      arg.text = std::string(word);
      pos = end;
    } else {
      return fail_and_skip(line, syntax_error("Unexpected character in command"));
    }
    if (command_.args.size() >= limits_.max_args) return fail_and_skip(line, syntax_error("Too many arguments"));
    command_.args.push_back(std::move(arg));
  }
}

// ---- arguments, names, extensions -----------------------------------------

bool arguments_match(const Command& cmd, std::string_view shape) {
  size_t i = 0;  // argument index
  size_t p = 0;  // shape position
  bool optional = false;
  while (p < shape.size()) {
    char want = shape[p++];
    if (p < shape.size() && shape[p] == '?') {
      optional = true;
      ++p;
    }
    if (i == cmd.args.size()) return optional;
    const Argument& a = cmd.args[i++];
    switch (want) {
      case 's':
        if (a.kind != Argument::Kind::String) return false;
        break;
      case 'n':
        if (a.kind != Argument::Kind::Number) return false;
        break;
      case 'w':
        if (a.kind == Argument::Kind::Number) return false;
        break;
      default:
        return false;
    }
  }
  return i == cmd.args.size();
}

}  // namespace cyr::managesieve
