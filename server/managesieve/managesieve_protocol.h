// ManageSieve syntax (RFC 5804): the incremental command parser, response
// and string formatting, capability lines, script-name rules and the
// SIEVE extension list. Pure and bounded, no I/O (as pop3d/pop3_protocol.h
// is for POP3); the session is managesieve_service.h.
//
// A command is a case-insensitive atom followed by arguments: quoted strings
// ("..." with \" and \\ escapes, UTF-8, no CR/LF), literals ({N+} or {N}
// at the end of a line, then N octets, then the rest of the command; the
// client never waits for a continuation, so the server must take the
// octets whatever it thinks of the command), numbers and atoms.
//
// Thread-safety: a CommandParser belongs to one session; the free functions
// are reentrant.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "store/base/result.h"

namespace cyr::managesieve {

// RFC 5804 4: a quoted string holds at most 1024 octets; longer strings go
// out as literals.
inline constexpr size_t kMaxQuotedOut = 1024;

struct ParserLimits {
  // One line of a command, literals excluded. Room for AUTHENTICATE with a
  // maximal base64 initial response (auth::kMaxSaslMessage decoded).
  size_t max_line = 16 * 1024;
  // A literal this large or smaller is kept; a larger one is read and
  // thrown away, and the command fails.
  size_t max_literal = 33 * 1024;
  // A literal larger than this is not even read: the session says BYE and
  // closes (a client uploading gigabytes gets no useful answer by waiting).
  uint64_t max_discard = uint64_t{16} << 20;
  // Arguments of one command (the most any command takes is 2).
  size_t max_args = 4;
  // Lines of one command (a literal starts a new line); bounds the loop
  // that skips a bad command's literals too.
  size_t max_lines = 16;
};

struct Argument {
  enum class Kind { Atom, Number, String };
  Kind kind = Kind::String;
  std::string text;     // the atom, the decoded string, or the number's digits
  uint64_t number = 0;  // Number only
  bool literal = false;  // String sent as a literal
};

struct Command {
  std::string name;  // upper-cased; "" for a SASL response line
  std::vector<Argument> args;
};

enum class Code {
  None,
  AuthTooWeak,
  EncryptNeeded,
  Quota,
  QuotaMaxScripts,
  QuotaMaxSize,
  Referral,
  Sasl,
  TransitionNeeded,
  TryLater,
  Active,
  Nonexistent,
  AlreadyExists,
  Warnings,
  Tag,
};

// "QUOTA/MAXSIZE" etc.; "" for None.
std::string_view code_name(Code code);

struct Response {
  enum class Kind { Ok, No, Bye };
  Kind kind = Kind::Ok;
  Code code = Code::None;
  std::string code_arg;  // SASL and TAG: a string (formatted); REFERRAL: the URL as is
  std::string text;      // human-readable; "" sends none

  static Response ok(std::string text, Code code = Code::None, std::string arg = {}) {
    return Response{Kind::Ok, code, std::move(arg), std::move(text)};
  }
  static Response no(std::string text, Code code = Code::None, std::string arg = {}) {
    return Response{Kind::No, code, std::move(arg), std::move(text)};
  }
  static Response bye(std::string text, Code code = Code::None) {
    return Response{Kind::Bye, code, {}, std::move(text)};
  }
};

// `OK (TAG "x") "Done"\r\n`.
std::string format_response(const Response& r);

// A string as the server sends it: quoted when that is allowed (at most
// kMaxQuotedOut octets of UTF-8 without CR, LF or NUL), else a literal.
std::string format_string(std::string_view s);
// `{N}\r\n` followed by the octets (GETSCRIPT sends scripts this way, so
// that they come back byte for byte).
std::string format_literal(std::string_view s);

// The capability list (RFC 5804 1.7), sent as the greeting, after STARTTLS
// and for CAPABILITY; the caller adds the OK.
struct Capabilities {
  std::string implementation;
  std::optional<std::vector<std::string>> sasl;  // nullopt: not listed (after authentication)
  std::vector<std::string> sieve;                // extension names
  bool starttls = false;
  size_t max_redirects = 0;  // 0: not listed
  std::string owner;         // the authenticated user; "" : not listed
  bool unauthenticate = false;
};
std::string format_capabilities(const Capabilities& caps);

// The incremental parser. The session feeds it the command's first line,
// then does what each step asks (read N octets, read the next line) until
// it gets Complete or Failed. After Failed, every octet of the bad command
// has been consumed (its literals skipped), so the session stays usable.
class CommandParser {
 public:
  struct NeedLine {};  // read the next line (what follows a literal) and feed_line() it
  struct NeedLiteral {
    uint64_t size = 0;
    bool discard = false;  // read and drop the octets, then literal_skipped()
  };
  struct Complete {
    Command command;
  };
  struct Failed {
    Response response;   // NO (or BYE when close)
    bool close = false;  // the stream cannot be resynchronised: say BYE and close
  };
  using Step = std::variant<NeedLine, NeedLiteral, Complete, Failed>;

  enum class Mode {
    Command,       // a verb, then arguments
    SaslResponse,  // arguments only: a client's answer to a SASL challenge
  };

  explicit CommandParser(ParserLimits limits = {}) : limits_(limits) {}

  // Starts a new command (or SASL response) and feeds its first line.
  Step start(std::string_view line, Mode mode = Mode::Command);
  // The line after a literal (what follows it, up to CRLF).
  Step feed_line(std::string_view line);
  // The octets NeedLiteral asked for (not discarded).
  Step feed_literal(std::string octets);
  // The octets of a discarded literal were consumed.
  Step literal_skipped();
  // The line after a literal was over max_line (the connection skipped it):
  // the command fails and the parser is ready for the next one. timsieved
  // closes the session instead (the skipped rest may have announced a
  // literal); the step is for a reader that can tell it did not.
  Step line_too_long();

  const ParserLimits& limits() const { return limits_; }

 private:
  Step parse_tokens(std::string_view line, size_t pos);
  Step fail_and_skip(std::string_view line, Response why);
  Step finish();
  Step literal_marker(uint64_t size);
  bool count_line();

  ParserLimits limits_;
  Mode mode_ = Mode::Command;
  Command command_;
  std::optional<Response> error_;  // the first problem; later octets are only skipped
  size_t lines_ = 0;
};

// Checks a command's arguments against a shape: one letter per argument,
// 's' a string, 'n' a number, 'w' an atom or a string (a mechanism name),
// each optionally followed by '?' (that and every later one may be
// missing). "ss" for PUTSCRIPT, "ws?" for AUTHENTICATE.
bool arguments_match(const Command& cmd, std::string_view shape);


}  // namespace cyr::managesieve
