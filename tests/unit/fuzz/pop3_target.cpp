// Fuzz target: POP3 command lines from any client, and RETR/TOP of a
// message any sender made (server/pop3d/pop3_protocol.h). A line "." inside
// a multi-line response would end it early and let the message's text be
// read as the server's next replies, so the stuffed output is read back the
// way a client reads it (RFC 1939 3).
#include <string>
#include <string_view>

#include "server/pop3d/pop3_protocol.h"
#include "tests/unit/fuzz/targets.h"

namespace cyr::fuzz {
namespace {

// What RETR sends after "+OK": the message stuffed in pieces of `piece`
// bytes, then the end.
std::string retr(std::string_view msg, size_t piece) {
  std::string out;
  pop3d::DotStuffState st;
  for (size_t i = 0; i < msg.size(); i += piece) pop3d::dot_stuff(msg.substr(i, piece), out, st);
  out += pop3d::end_of_stuffed(st);
  return out;
}

// A client's reading of a multi-line response: CRLF lines up to the line
// ".", each with a leading '.' removed. Returns the lines joined with CRLF
// and how many bytes of `wire` that took.
std::string client_reads(std::string_view wire, size_t* used) {
  std::string body;
  size_t pos = 0;
  for (;;) {
    size_t crlf = wire.find("\r\n", pos);
    FUZZ_CHECK(crlf != std::string_view::npos);  // the response ends with a line
    std::string_view line = wire.substr(pos, crlf - pos);
    pos = crlf + 2;
    if (line == ".") break;
    if (!line.empty() && line[0] == '.') line.remove_prefix(1);
    body.append(line);
    body.append("\r\n");
  }
  *used = pos;
  return body;
}

// The message as the client should get it: every line ended by CRLF (bare
// LFs become CRLF, and an unterminated last line gets one).
std::string expected(std::string_view msg) {
  std::string out;
  char prev = 0;
  for (char c : msg) {
    if (c == '\n' && prev != '\r') out += '\r';
    out += c;
    prev = c;
  }
  if (!out.empty() && !out.ends_with("\r\n")) out += "\r\n";
  return out;
}

}  // namespace

int pop3(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const size_t piece = 1 + data[0] % 64;
  std::string_view in(reinterpret_cast<const char*>(data + 1), std::min(size - 1, kMaxInput));

  // As command lines.
  for (std::string_view line : command_lines(in)) {
    auto cmd = pop3d::parse_command(line);
    if (!cmd.ok()) continue;
    if (cmd->verb == pop3d::Verb::Pass) {
      FUZZ_CHECK(cmd->args.size() <= 1);
    } else {
      FUZZ_CHECK(cmd->args.size() <= pop3d::kMaxArgs);
    }
    for (auto& a : cmd->args) {
      FUZZ_CHECK(!a.empty());
      if (auto m = pop3d::parse_msgno(a, 1000)) FUZZ_CHECK(*m >= 1 && *m <= 1000);
    }
  }

  // As a message: RETR in any pieces is the same, and a client reads back
  // exactly the message, ending where the server meant.
  std::string whole = retr(in, in.size() + 1);
  FUZZ_CHECK(retr(in, piece) == whole);
  size_t used = 0;
  std::string got = client_reads(whole, &used);
  FUZZ_CHECK(used == whole.size());
  FUZZ_CHECK(got == expected(in));

  // TOP: the header and the first lines of the body, a prefix of the message.
  for (uint64_t lines : {0ull, 1ull, 3ull, 1000000ull}) {
    std::string top = pop3d::top_of_message(in, lines);
    FUZZ_CHECK(in.substr(0, top.size()) == top);
    std::string wire = retr(top, piece);
    FUZZ_CHECK(client_reads(wire, &used) == expected(top));
    FUZZ_CHECK(used == wire.size());
  }
  return 0;
}

}  // namespace cyr::fuzz
