// LMTP syntax (RFC 2033 over RFC 5321): command lines, envelope addresses,
// the recipient local-part conventions Cyrus uses, and the DATA decoder.
//
// Everything here is pure and bounded: no I/O, no store, no configuration
// object. The session (lmtp_session.h) reads lines, calls these parsers and
// acts on the typed results; bad input is an Error with a reply for the
// client, and nothing has changed.
//
// Thread-safety: free functions are thread-safe; a DataDecoder is a plain
// object used by one session at a time.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "store/base/result.h"

namespace cyr::lmtpd {

// RFC 5321 4.5.3.1: command line 512 octets including CRLF; we allow ESMTP
// parameters generously but still bound the line.
inline constexpr size_t kMaxCommandLine = 4096;
inline constexpr size_t kMaxPathLength = 256;   // RFC 5321 4.5.3.1.3
inline constexpr size_t kMaxParams = 16;         // ESMTP parameters on one command
inline constexpr size_t kMaxRecipients = 1000;  // RCPTs in one transaction

enum class Verb { Lhlo, Mail, Rcpt, Data, Rset, Noop, Quit, Vrfy, StartTls, Auth, Helo, Ehlo, Unknown };

struct EsmtpParam {
  std::string keyword;  // upper-case
  std::string value;    // as sent ("" when absent)
};

struct Command {
  Verb verb = Verb::Unknown;
  std::string verb_text;  // as sent, for the reply to an unknown command
  std::string arg;        // LHLO domain, AUTH mechanism + initial response, ...
  std::string path;       // MAIL FROM / RCPT TO: the address inside <>, "" for <>
  std::vector<EsmtpParam> params;
};

// Parses one command line (without CRLF). Errors carry the reply text in
// user_message ("501 5.5.4 Syntax error in parameters"); Errc::Invalid.
Result<Command> parse_command(std::string_view line);

// The parsed MAIL FROM parameters we act on.
struct MailParams {
  std::optional<uint64_t> size;  // SIZE=
  bool body_8bitmime = false;    // BODY=8BITMIME
  std::string auth;              // AUTH= (xtext-decoded), "<>" when unknown
};
// Validates MAIL FROM's parameters: SIZE digits, BODY 7BIT|8BITMIME, AUTH;
// anything else is refused (555 5.5.4).
Result<MailParams> parse_mail_params(const std::vector<EsmtpParam>& params);

// RFC 3461 xtext ("+2B" -> "+"); Invalid on a bad escape.
Result<std::string> decode_xtext(std::string_view s);

// A recipient address split the way Cyrus's lmtpd does:
//   "fred+Lists/cyrus@example.com" -> user "fred", detail "Lists/cyrus",
//   domain "example.com". "+detail" (empty user) addresses postuser.
struct RecipientAddress {
  std::string user;
  std::optional<std::string> detail;  // after the first '+'
  std::string domain;                 // "" when absent
};
// downcase: lmtp_downcase_rcpt (lower-cases user and domain, never the
// detail: folder names are case-sensitive). Refuses quoted local parts with
// control characters, 8-bit bytes (RFC 5321 without SMTPUTF8), empty
// addresses and oversized ones (Errc::Invalid).
Result<RecipientAddress> split_recipient(std::string_view path, bool downcase);

// DataDecoder: turns the DATA stream (dot-stuffed lines, ending with a line
// holding a single ".") into message bytes, incrementally, without keeping
// the message: the caller feeds what it reads and writes out() to a file.
//
// While decoding it notes what Cyrus's delivery checks need: bare LF (a LF
// not preceded by CR), NUL bytes, 8-bit bytes in the header, the total
// size; it keeps the header block (bounded by kMaxKeptHeader) for
// Message-ID lookup; and, when munge_8bit is set, replaces 8-bit header
// bytes with 'X' as they pass. The end line is recognised after CRLF or a
// bare LF, so a client that sends bare newlines still ends its message
// where it meant to (and is then refused for the bare newlines).
class DataDecoder {
 public:
  static constexpr size_t kMaxKeptHeader = 256 * 1024;

  explicit DataDecoder(bool munge_8bit) : munge_8bit_(munge_8bit) {}

  // Decodes `in` up to and including the end line and appends the decoded
  // bytes to `out`. Returns how many bytes of `in` it used: all of them
  // unless the end line was among them, then the bytes after it (a
  // pipelined command) are left to the caller.
  size_t feed(std::string_view in, std::string& out);
  bool finished() const { return state_ == State::Done; }

  // The fewest bytes that must still arrive before the data can end. A
  // reader that cannot push bytes back asks for at most this many, so it
  // never reads a pipelined command that follows the end line.
  size_t min_bytes_to_end() const;

  uint64_t size() const { return size_; }          // decoded bytes so far
  bool bare_lf() const { return bare_lf_; }
  bool has_nul() const { return nul_; }
  bool header_8bit() const { return header_8bit_; }
  size_t munged() const { return munged_; }
  // The header block (up to kMaxKeptHeader bytes), after munging.
  const std::string& header() const { return header_; }

 private:
  enum class State { LineStart, Dot, DotCr, Mid, Done };
  void emit(char c, std::string& out);

  bool munge_8bit_;
  State state_ = State::LineStart;
  bool in_header_ = true;
  bool prev_cr_ = false;       // the last emitted byte was CR
  bool header_line_empty_ = true;  // no byte yet on the current header line
  uint64_t size_ = 0;
  bool bare_lf_ = false, nul_ = false, header_8bit_ = false;
  size_t munged_ = 0;
  std::string header_;
};

// "250 2.1.5 Ok" style reply lines.
struct Reply {
  int code = 250;
  std::string enhanced;  // "2.1.5"; empty for replies without one (220, 354)
  std::string text;

  bool positive() const { return code >= 200 && code < 400; }
  bool temporary() const { return code >= 400 && code < 500; }
  // One line with CRLF. Text is cut at any CR/LF it might hold.
  std::string format() const;
};

}  // namespace cyr::lmtpd
