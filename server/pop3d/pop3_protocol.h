// POP3 syntax (RFC 1939, RFC 2449): command lines, message numbers, and the
// dot-stuffing of multi-line responses. Pure and bounded, no I/O (as
// lmtpd/lmtp_protocol.h is for LMTP); the session is pop3d_service.h.
// Thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "store/base/result.h"

namespace cyr::pop3d {

inline constexpr size_t kMaxCommandLine = 512;  // RFC 2449: 255 for commands; AUTH lines longer
inline constexpr size_t kMaxArgs = 2;

enum class Verb { User, Pass, Apop, Auth, Capa, Stls, Quit, Stat, List, Retr, Dele, Rset, Top, Uidl, Noop, Unknown };

struct Command {
  Verb verb = Verb::Unknown;
  std::vector<std::string> args;  // at most kMaxArgs, except PASS (the rest of the line)
};

// Parses one line. Keywords are case-insensitive; PASS takes the rest of
// the line as the password (it may contain spaces). Invalid: bad
// characters, too many arguments, too long.
Result<Command> parse_command(std::string_view line);

// A message number argument: 1..count, decimal, no sign. nullopt if bad.
std::optional<uint32_t> parse_msgno(std::string_view s, size_t count);

// Where dot_stuff() left off, so a message can be stuffed chunk by chunk.
struct DotStuffState {
  bool line_start = true;
  bool prev_cr = false;
};
// "abc\r\n.x\r\n" -> "abc\r\n..x\r\n": dot-stuffing for RETR/TOP, with bare
// LFs written as CRLF.
void dot_stuff(std::string_view in, std::string& out, DotStuffState& st);
// What ends a multi-line response after the last stuffed chunk: ".\r\n",
// with a CRLF first if the message did not end its last line.
std::string_view end_of_stuffed(const DotStuffState& st);

// The first `lines` body lines of a message with its whole header (TOP).
std::string top_of_message(std::string_view message, uint64_t lines);

}  // namespace cyr::pop3d
