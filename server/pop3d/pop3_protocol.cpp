#include "server/pop3d/pop3_protocol.h"

#include <charconv>

#include "store/base/ascii.h"
#include "store/mail/message.h"

namespace cyr::pop3d {
namespace {

struct VerbName {
  std::string_view name;
  Verb verb;
};
constexpr VerbName kVerbs[] = {
    {"USER", Verb::User}, {"PASS", Verb::Pass}, {"APOP", Verb::Apop}, {"AUTH", Verb::Auth},
    {"CAPA", Verb::Capa}, {"STLS", Verb::Stls}, {"QUIT", Verb::Quit}, {"STAT", Verb::Stat},
    {"LIST", Verb::List}, {"RETR", Verb::Retr}, {"DELE", Verb::Dele}, {"RSET", Verb::Rset},
    {"TOP", Verb::Top},   {"UIDL", Verb::Uidl}, {"NOOP", Verb::Noop},
};

}  // namespace

Result<Command> parse_command(std::string_view line) {
  if (line.size() > kMaxCommandLine) return Error(Errc::Limit, "Command line too long");
  for (unsigned char c : line)
    if (c == 0 || c == '\r' || c == '\n') return Error(Errc::Invalid, "Bad character in command");
  Command cmd;
  size_t sp = line.find(' ');
  std::string_view kw = line.substr(0, sp);
  for (const auto& v : kVerbs)
    if (iequals(kw, v.name)) cmd.verb = v.verb;
  if (cmd.verb == Verb::Unknown) return cmd;
  std::string_view rest = sp == std::string_view::npos ? std::string_view{} : line.substr(sp + 1);
  if (cmd.verb == Verb::Pass) {
    // RFC 1939 7: the password may contain spaces.
    if (!rest.empty()) cmd.args.emplace_back(rest);
    return cmd;
  }
  while (!rest.empty()) {
    size_t e = rest.find(' ');
    std::string_view w = rest.substr(0, e);
    if (!w.empty()) {
      if (cmd.args.size() >= kMaxArgs) return Error(Errc::Invalid, "Too many arguments");
      cmd.args.emplace_back(w);
    }
    if (e == std::string_view::npos) break;
    rest.remove_prefix(e + 1);
  }
  return cmd;
}

std::optional<uint32_t> parse_msgno(std::string_view s, size_t count) {
  if (s.empty() || s.size() > 10) return std::nullopt;
  uint32_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || v == 0 || v > count) return std::nullopt;
  return v;
}

void dot_stuff(std::string_view in, std::string& out, DotStuffState& st) {
  for (char c : in) {
    if (st.line_start && c == '.') out += '.';
    if (c == '\n' && !st.prev_cr) out += '\r';
    out += c;
    st.line_start = (c == '\n');
    st.prev_cr = (c == '\r');
  }
}

std::string top_of_message(std::string_view message, uint64_t lines) {
  size_t hdr = mail::header_block_size(message);
  size_t pos = hdr;
  for (uint64_t n = 0; n < lines && pos < message.size(); ++n) {
    size_t lf = message.find('\n', pos);
    pos = lf == std::string_view::npos ? message.size() : lf + 1;
  }
  return std::string(message.substr(0, pos));
}

std::string_view end_of_stuffed(const DotStuffState& st) { return st.line_start ? ".\r\n" : "\r\n.\r\n"; }

}  // namespace cyr::pop3d
