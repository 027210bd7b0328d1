// ResponseWriter: builds IMAP responses into a byte buffer the caller owns.
//
// Status lines (tagged, untagged, continuation) are written whole; data lines
// are built item by item (begin_untagged() ... end_line()) and the writer puts
// one space between items, none after "(" or before ")". Strings are written
// as an atom, a quoted string or a literal, whichever is correct for the bytes
// (8-bit data, CR, LF or NUL, or many quotes/backslashes => literal). Human
// text is cleaned of CR/LF so it cannot break the line. No I/O: the session
// sends the buffer. A writer borrows its buffer; not thread-safe.
//
// Also here: ResponseCode (the "[...]" part of a status response), sequence-set
// formatting, and imap_error_for(), the one place where a cyr::Error becomes
// an IMAP NO/BAD with a response code (as Dovecot's imap_get_error_string).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "server/imap/command.h"
#include "server/imap/parser.h"
#include "store/base/result.h"

namespace cyr::imap {

enum class StatusKind { Ok, No, Bad, Bye, PreAuth };

const char* status_kind_name(StatusKind k);  // "OK", "NO", ...

// "1:3,5,7:*" from a parsed set ("$" for the saved result).
std::string format_sequence_set(const SequenceSet& set);

// Sorts and de-duplicates numbers, then compresses runs: {5,1,2,3} -> "1:3,5".
// Empty input gives "".
std::string format_uid_set(std::vector<uint32_t> numbers);

// Compresses ascending runs but keeps the order: {7,8,9,3} -> "7:9,3". Used for
// the destination set of COPYUID, whose order must match the source set.
std::string format_uid_sequence(const std::vector<uint32_t>& numbers);

// The content of a response code, without brackets. Built only through the
// named constructors so its syntax is always valid.
class ResponseCode {
 public:
  ResponseCode() = default;  // no code

  static ResponseCode alert() { return ResponseCode("ALERT"); }
  static ResponseCode parse() { return ResponseCode("PARSE"); }
  static ResponseCode read_write() { return ResponseCode("READ-WRITE"); }
  static ResponseCode read_only() { return ResponseCode("READ-ONLY"); }
  static ResponseCode try_create() { return ResponseCode("TRYCREATE"); }
  static ResponseCode closed() { return ResponseCode("CLOSED"); }  // RFC 7162
  static ResponseCode uid_not_sticky() { return ResponseCode("UIDNOTSTICKY"); }
  static ResponseCode no_modseq() { return ResponseCode("NOMODSEQ"); }
  static ResponseCode not_saved() { return ResponseCode("NOTSAVED"); }
  static ResponseCode too_big() { return ResponseCode("TOOBIG"); }  // RFC 7889
  // RFC 5530
  static ResponseCode unavailable() { return ResponseCode("UNAVAILABLE"); }
  static ResponseCode authentication_failed() { return ResponseCode("AUTHENTICATIONFAILED"); }
  static ResponseCode authorization_failed() { return ResponseCode("AUTHORIZATIONFAILED"); }
  static ResponseCode expired() { return ResponseCode("EXPIRED"); }
  static ResponseCode privacy_required() { return ResponseCode("PRIVACYREQUIRED"); }
  static ResponseCode contact_admin() { return ResponseCode("CONTACTADMIN"); }
  static ResponseCode no_perm() { return ResponseCode("NOPERM"); }
  static ResponseCode in_use() { return ResponseCode("INUSE"); }
  static ResponseCode expunge_issued() { return ResponseCode("EXPUNGEISSUED"); }
  static ResponseCode corruption() { return ResponseCode("CORRUPTION"); }
  static ResponseCode server_bug() { return ResponseCode("SERVERBUG"); }
  static ResponseCode client_bug() { return ResponseCode("CLIENTBUG"); }
  static ResponseCode cannot() { return ResponseCode("CANNOT"); }
  static ResponseCode limit() { return ResponseCode("LIMIT"); }
  static ResponseCode over_quota() { return ResponseCode("OVERQUOTA"); }
  static ResponseCode already_exists() { return ResponseCode("ALREADYEXISTS"); }
  static ResponseCode nonexistent() { return ResponseCode("NONEXISTENT"); }
  static ResponseCode has_children() { return ResponseCode("HASCHILDREN"); }  // RFC 9051
  static ResponseCode use_attr() { return ResponseCode("USEATTR"); }          // RFC 6154
  static ResponseCode unknown_cte() { return ResponseCode("UNKNOWN-CTE"); }   // RFC 3516

  static ResponseCode uid_validity(uint32_t v);
  static ResponseCode uid_next(uint32_t v);
  static ResponseCode unseen(uint32_t seq);
  static ResponseCode highest_modseq(uint64_t v);
  // RFC 8474: "MAILBOXID (id)"; no code for an id that is not an objectid.
  static ResponseCode mailbox_id(std::string_view id);
  static ResponseCode modified(const std::vector<uint32_t>& numbers);  // RFC 7162
  static ResponseCode permanent_flags(const std::vector<std::string>& flags);
  static ResponseCode capability(const std::vector<std::string>& caps);
  static ResponseCode bad_charset(const std::vector<std::string>& charsets = {});
  // RFC 4315: APPENDUID uidvalidity uid-set; COPYUID uidvalidity src dst, where
  // src[i] was copied to dst[i] (the pairs are sorted by source UID here).
  static ResponseCode append_uid(uint32_t uidvalidity, const std::vector<uint32_t>& uids);
  static ResponseCode copy_uid(uint32_t uidvalidity, const std::vector<uint32_t>& src,
                               const std::vector<uint32_t>& dst);
  // RFC 5464 4.2.1 / 4.3: METADATA LONGENTRIES n, METADATA MAXSIZE n,
  // METADATA TOOMANY, METADATA NOPRIVATE.
  static ResponseCode metadata_long_entries(uint64_t size);
  static ResponseCode metadata_max_size(uint64_t size);
  static ResponseCode metadata_too_many() { return ResponseCode("METADATA TOOMANY"); }
  static ResponseCode metadata_no_private() { return ResponseCode("METADATA NOPRIVATE"); }
  // RFC 4469 5: "BADURL " and the URL as sent, bare (erratum 4046), with
  // any octet a response code cannot carry ("]", controls, space, 8-bit)
  // %-escaped so the code stays one well-formed token.
  static ResponseCode bad_url(std::string_view url);
  // RFC 4978 / other extensions: a bare atom code (must be a valid atom).
  static ResponseCode named(std::string_view atom);

  bool empty() const { return text_.empty(); }
  const std::string& text() const { return text_; }

 private:
  explicit ResponseCode(std::string text) : text_(std::move(text)) {}
  std::string text_;
};

struct WriterOptions {
  bool utf8 = false;        // UTF8=ACCEPT enabled: 8-bit text may be quoted
  size_t max_quoted = 1024; // longer strings are sent as literals
};

class ResponseWriter {
 public:
  explicit ResponseWriter(std::string& out, WriterOptions options = {})
      : out_(out), options_(options) {}

  // "<tag> OK [code] text\r\n"
  void tagged(std::string_view tag, StatusKind kind, const ResponseCode& code,
              std::string_view text);
  // "* OK [code] text\r\n" (also NO, BAD, BYE, PREAUTH)
  void untagged_status(StatusKind kind, const ResponseCode& code, std::string_view text);
  // "+ text\r\n" ("+ " alone for an empty SASL challenge: pass base64 as text)
  void continuation(std::string_view text);
  // The answer to a parser error: "<tag> BAD [code] text", "<tag> NO ...", or
  // "* BYE [code] text" (after which the session closes the connection).
  void parse_error(const ParseError& error);

  // Data lines: begin_untagged(), items, end_line().
  ResponseWriter& begin_untagged();                   // "* "
  ResponseWriter& atom(std::string_view a);           // written as is: caller's atom
  ResponseWriter& number(uint64_t n);
  ResponseWriter& string(std::string_view s);         // quoted or literal
  ResponseWriter& astring(std::string_view s);        // atom when possible
  ResponseWriter& nstring(const std::optional<std::string>& s);
  ResponseWriter& nil();
  ResponseWriter& literal(std::string_view s);        // always a literal
  // Data that may hold NULs (BINARY[...], METADATA values): a literal8
  // "~{N}" when it does (RFC 3516 4.3, the only form that can carry one),
  // otherwise a plain literal.
  ResponseWriter& binary(std::string_view s);
  ResponseWriter& mailbox(std::string_view name);     // astring (INBOX as atom)
  ResponseWriter& begin_list();                       // "("
  ResponseWriter& end_list();                         // ")"
  ResponseWriter& flag_list(const std::vector<std::string>& flags);  // "(\\Seen $Foo)"
  ResponseWriter& sequence_set(const SequenceSet& set);
  ResponseWriter& uid_set(const std::vector<uint32_t>& numbers);
  ResponseWriter& raw(std::string_view bytes);        // trusted syntax, with separator
  // The next item follows the previous one without a space: the grammar's
  // runs of lists with nothing between them ("1*address" in ENVELOPE).
  ResponseWriter& adjoin() {
    need_space_ = false;
    return *this;
  }
  void end_line();                                    // "\r\n"

  std::string& buffer() { return out_; }

 private:
  void separator();
  void text_line(std::string_view text);

  std::string& out_;
  WriterOptions options_;
  bool need_space_ = false;
};

// True if s can be sent as an atom (ATOM-CHAR only, not empty, not NIL).
bool is_atom(std::string_view s);

// How a store error is reported to an IMAP client.
struct ImapError {
  StatusKind kind = StatusKind::No;
  ResponseCode code;
  std::string text;  // safe to send
};

// The one mapping from cyr::Errc to IMAP (RFC 5530 codes): NotFound ->
// NO [NONEXISTENT], Exists -> NO [ALREADYEXISTS], Invalid -> BAD, and so on.
// Internal and I/O details never reach the client; it gets a fixed text.
ImapError imap_error_for(const Error& error);

}  // namespace cyr::imap
