// Parser: the incremental, pure IMAP command parser (bytes in, events out).
//
// The session feeds whatever bytes it read (feed()) and then calls next()
// until it returns NeedMore. Each call returns one event:
//
//   NeedMore        all buffered input is used; read more and feed it.
//   NeedLiteral     a synchronizing literal {N} was announced: the session
//                   sends "+ Ready" (or calls cancel_command() and answers
//                   NO/BAD; the client then abandons the command).
//   MessageLiteral  APPEND's (or REPLACE's) message literal, or the literal
//                   of a CATENATE TEXT part: the next `size` bytes are the
//                   message (or part). If synchronizing, send "+ Ready" first. The bytes
//                   then come as MessageData chunks (never all at once in
//                   memory); literal i of a command is AppendMessage::literal i.
//   MessageData     a chunk of that message, pointing into the parser's buffer:
//                   valid until the next call to feed() or next().
//   Request         a complete, typed command.
//   Error           the command was rejected (BAD, NO or BYE). Unless kind is
//                   Bye the parser has already skipped (or will skip, silently)
//                   the rest of the offending command, announced literals
//                   included, and is ready for the next one. After Bye the
//                   session closes the connection; next() keeps returning it.
//   ContinuationLine  a line read in a mode set by expect_line(): the DONE
//                   that ends IDLE, or a SASL response line of AUTHENTICATE.
//
// Feeding input in pieces of any size gives exactly the same events as
// feeding it at once. Every bound in ParserLimits is enforced; memory use is
// bounded by max_line + max_literal_total (+ max_raw_command for SYNC* commands).
// Not thread-safe: one Parser belongs to one session.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "server/imap/command.h"

namespace cyr::imap {

struct ParserLimits {
  size_t max_line = 64 * 1024;             // non-literal bytes of one command
  uint64_t max_literal = 64 * 1024;        // a literal that is not an APPEND message
  uint64_t max_literal_total = 4ull << 20; // all such literals of one command together
  uint64_t max_message = 64ull << 20;      // an APPEND message literal (maxmessagesize)
  size_t max_depth = 64;                   // parentheses nesting (lists, SEARCH)
  size_t max_items = 10000;                // tokens in one command (list items, keys)
  uint64_t max_raw_command = 256ull << 20; // a SYNCAPPLY/SYNCGET/SYNCRESTART command
  // A rejected non-synchronizing literal up to this size is read and thrown
  // away so the session can go on; beyond it the parser answers BYE.
  uint64_t max_skip = 64ull << 20;
  // LITERAL- (RFC 7888): non-synchronizing literals over 4096 bytes are refused.
  bool literal_minus = false;
};

struct NeedMore {};
struct NeedLiteral {
  uint64_t size = 0;
};
struct MessageLiteral {
  uint64_t size = 0;
  bool synchronizing = false;
  uint32_t index = 0;  // 0 for the first message of this command
  bool binary = false; // literal8 "~{N}" (RFC 3516): the message may hold NULs
};
struct MessageData {
  std::string_view bytes;
  bool last = false;  // this chunk ends the message
};
struct Request {
  std::string tag;
  Command command;
  bool operator==(const Request&) const = default;
};
struct ParseError {
  enum class Kind { Bad, No, Bye };
  std::string tag;   // "*" when the tag itself could not be read
  Kind kind = Kind::Bad;
  std::string code;  // response code without brackets ("TOOBIG"), may be empty
  std::string text;  // human-readable, safe to send
  bool operator==(const ParseError&) const = default;
};
struct ContinuationLine {
  std::string text;  // without CRLF
};

using ParseResult = std::variant<NeedMore, NeedLiteral, MessageLiteral, MessageData, Request,
                                 ParseError, ContinuationLine>;

class Parser {
 public:
  explicit Parser(ParserLimits limits = {});

  // Append received bytes. Invalidates the bytes of an earlier MessageData.
  void feed(std::string_view bytes);

  // The next event; see the header comment.
  ParseResult next();

  // Read the next line as a ContinuationLine (bounded by max_line) instead of
  // as a command: for the DONE ending IDLE, or an AUTHENTICATE response.
  void expect_line();

  // Abandon the command being read, after NeedLiteral or MessageLiteral (e.g.
  // the session refuses the message with NO [TOOBIG]). A synchronizing literal
  // will not be sent by the client; a non-synchronizing one, and the rest of
  // the command, is skipped silently.
  void cancel_command();

  // Bytes buffered but not yet consumed (for tests and STARTTLS: input after
  // the STARTTLS line must not be read as plain text; see RFC 3501 6.2.1).
  size_t buffered() const { return in_.size() - pos_; }

  // Throws away all buffered input and any half-read command (after STARTTLS
  // succeeds, plain text the client pipelined must not be executed).
  void discard_input();

  const ParserLimits& limits() const { return limits_; }

  // Internal token of a command (also used by parser_args.h).
  struct Token {
    enum class Kind { Atom, Quoted, Literal, ListOpen, ListClose, MessageLiteral };
    Kind kind = Kind::Atom;
    std::string text;   // atom, quoted or literal content
    uint64_t size = 0;  // MessageLiteral: size
    uint32_t index = 0; // MessageLiteral: index in the command
    bool binary = false; // Literal / MessageLiteral sent as literal8 "~{N}"
  };

 private:
  enum class Phase {
    Line,           // reading a line of the command (or the start of one)
    Literal,        // reading literal bytes into the last token
    Message,        // handing out message bytes
    SkipLine,       // throwing away the rest of a rejected command
    SkipLiteral,    // throwing away a literal of a rejected command
    Closed,         // after a Bye
  };

  struct MessageContext {
    bool is_message = false;          // streamed as a MessageLiteral
    bool catenate_text_part = false;  // a CATENATE TEXT part (RFC 4469)
    size_t catenate_parts = 0;        // parts of that list so far, this one included
    uint64_t catenate_text = 0;       // octets of the list's earlier TEXT parts
  };
  MessageContext message_context() const;

  // nullopt: nothing to report yet, keep reading.
  std::optional<ParseResult> on_line_end();
  std::optional<ParseResult> on_literal_announced(uint64_t size, bool sync, bool binary = false);
  ParseResult finish_command();
  ParseResult fail(ParseError::Kind kind, std::string code, std::string text);
  ParseResult fail_and_skip(std::string code, std::string text, bool line_done);
  std::string current_tag() const;
  std::string line_prefix(size_t take) const;
  void reset_command();
  bool raw_mode() const { return raw_capture_; }

  ParserLimits limits_;
  std::string in_;
  size_t pos_ = 0;

  Phase phase_ = Phase::Line;
  bool expect_line_ = false;

  // Current command.
  std::string line_;           // the current line segment, without CRLF
  size_t line_total_ = 0;      // non-literal bytes of this command so far
  std::vector<Token> tokens_;
  size_t depth_ = 0;           // open parentheses
  bool after_literal_ = false; // the segment continues a line after a literal
  uint64_t literal_left_ = 0;  // Literal / Message / SkipLiteral
  uint64_t literal_total_ = 0; // bytes of buffered (non-message) literals so far
  uint32_t messages_ = 0;      // message literals so far in this command
  bool raw_capture_ = false;   // SYNC* command: capturing raw bytes
  // Inside a CATENATE list: the token index of its first part, and the
  // octets of its TEXT literals so far (bounded together by max_message).
  std::optional<size_t> catenate_open_;
  uint64_t catenate_text_ = 0;
  std::string raw_;
  std::string skip_tail_;      // SkipLine: last bytes, to find a literal announcement
  bool pending_sync_literal_ = false;  // literal announced, not yet started
  std::string error_tag_;      // tag of a command being skipped
  ParseError bye_;
};

// True if a ContinuationLine read during IDLE is the "DONE" that ends it
// (RFC 2177: case-insensitive). Anything else is a client error.
bool is_idle_done(std::string_view line);

// Reads one command from a complete buffer with default limits, answering every
// synchronizing literal itself; for tests and tools. Returns the first Request
// or ParseError; message literals are skipped.
ParseResult parse_one(std::string_view bytes, ParserLimits limits = {});

}  // namespace cyr::imap
