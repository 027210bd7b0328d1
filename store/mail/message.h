// MessageStructure: an RFC 5322 / MIME message parsed once, at append time.
//
// FETCH ENVELOPE, BODYSTRUCTURE, BODY[section] and SEARCH all need the shape
// of a message; parsing it on every FETCH would be slow, so the store parses
// it once with parse_message(), keeps serialize()'d bytes in its index, and
// hands deserialize()'d structures to the protocol layers. This module knows
// nothing about IMAP syntax: it records facts (byte ranges, raw header
// values, parsed addresses) and the IMAP layer formats them.
//
// Conventions:
//  - Offsets and sizes are in octets of the message exactly as stored.
//  - Header values are kept raw (not RFC 2047 decoded, as IMAP requires), but
//    unfolded: each CRLF or LF followed by whitespace is removed, leading
//    whitespace is trimmed, and trailing CR/LF removed.
//  - MIME type, subtype, encoding, disposition and parameter names are
//    lower-cased; parameter values are unquoted (RFC 2231 continuations are
//    left as separate parameters, as Cyrus does).
//  - RFC 3501 defaults are applied at parse time, so consumers need not:
//    text/plain; charset=us-ascii (message/rfc822 inside multipart/digest),
//    encoding 7bit, sender and reply-to default to from.
//
// Real mail is messy: parse_message() never fails and never crashes on any
// input; it returns the best structure it can and sets flags saying what was
// odd. It is bounded: nesting depth, part count and header size (ParseLimits);
// beyond a bound the part is kept as an opaque leaf.
//
// All types are plain values (copyable, no shared state); all functions are
// pure and thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <ctime>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "store/base/result.h"

namespace cyr::mail {

struct ParseLimits {
  size_t max_depth = 64;           // MIME nesting (multipart and message/rfc822)
  size_t max_parts = 10000;        // body parts in the whole message
  size_t max_header_bytes = 1024 * 1024;  // one part's header block
  size_t max_header_fields = 10000;       // fields in one header block
  size_t max_addresses = 10000;    // addresses in one address header
};

// One element of an address list, the way IMAP ENVELOPE models it:
// a mailbox (name?, adl?, mailbox, host), or a group start (mailbox = the
// group's display name, host absent) or a group end (everything absent).
struct Address {
  enum class Kind : uint8_t { Mailbox = 0, GroupStart = 1, GroupEnd = 2 };
  Kind kind = Kind::Mailbox;
  std::optional<std::string> name;     // display name, raw (may hold encoded words)
  std::optional<std::string> adl;      // obsolete source route "@a,@b"
  std::optional<std::string> mailbox;  // local part, or group name
  std::optional<std::string> host;     // domain; absent for group markers

  friend bool operator==(const Address&, const Address&) = default;
};

struct Envelope {
  std::optional<std::string> date;         // raw, unfolded header values;
  std::optional<std::string> subject;      // absent when the header is absent
  std::vector<Address> from;
  std::vector<Address> sender;             // = from when absent
  std::vector<Address> reply_to;           // = from when absent
  std::vector<Address> to;
  std::vector<Address> cc;
  std::vector<Address> bcc;
  std::optional<std::string> in_reply_to;
  std::optional<std::string> message_id;

  friend bool operator==(const Envelope&, const Envelope&) = default;
};

using MimeParams = std::vector<std::pair<std::string, std::string>>;

// A MIME part. For the whole message this is the root part: its header is
// the message header. Its body ranges serve BODY[n], BODY[n.MIME] (the
// part's own header) and, for a message/rfc822 part, BODY[n.HEADER] and
// BODY[n.TEXT] (the encapsulated message's header and body).
struct BodyPart {
  std::string type = "text";       // lower-case
  std::string subtype = "plain";   // lower-case
  MimeParams params;               // names lower-case, values unquoted
  std::optional<std::string> id;           // Content-ID, raw
  std::optional<std::string> description;  // Content-Description, raw
  std::string encoding = "7bit";           // Content-Transfer-Encoding, lower-case
  std::optional<std::string> md5;          // Content-MD5, raw (usually absent)
  std::optional<std::string> disposition;  // lower-case token
  MimeParams disposition_params;
  std::vector<std::string> languages;      // Content-Language, split on ','
  std::optional<std::string> location;     // Content-Location, raw

  uint64_t header_offset = 0;  // start of this part's header
  uint64_t header_size = 0;    // including the blank line that ends it
  uint64_t body_offset = 0;    // = header_offset + header_size
  uint64_t body_size = 0;      // octets, excluding the CRLF before a boundary
  uint64_t body_lines = 0;     // lines in the body (LFs, +1 for an unterminated last line)

  // multipart/*: the parts in order. message/rfc822 (and message/global):
  // exactly one child, the encapsulated message as a part (its header is the
  // encapsulated header), and `envelope` is that message's envelope.
  std::vector<BodyPart> children;
  std::optional<Envelope> envelope;

  bool is_multipart() const { return type == "multipart"; }
  // An encapsulated message whose header and body IMAP4rev1 addresses as
  // sections (BODY[n.HEADER], BODY[n.1]) and shows with an envelope in
  // BODYSTRUCTURE. Only message/rfc822: message/global (RFC 6532) gets that
  // treatment in IMAP4rev2 only, and a rev1 client parsing its BODYSTRUCTURE
  // would read the envelope as the MD5 field (Cyrus 3.6 shows it as a
  // basic part too).
  bool is_message() const { return type == "message" && subtype == "rfc822"; }
  // The value of a Content-Type parameter (name compared case-insensitively).
  std::optional<std::string_view> param(std::string_view name) const;

  friend bool operator==(const BodyPart&, const BodyPart&) = default;
};

// What parse_message() found odd, as bits (for logs and tests; never fatal).
namespace parse_flag {
inline constexpr uint32_t kNoHeaderEnd = 1u << 0;        // no blank line: all header
inline constexpr uint32_t kMissingBoundary = 1u << 1;    // multipart without boundary
inline constexpr uint32_t kUnterminatedMultipart = 1u << 2;  // no close delimiter
inline constexpr uint32_t kDepthLimit = 1u << 3;
inline constexpr uint32_t kPartLimit = 1u << 4;
inline constexpr uint32_t kHeaderLimit = 1u << 5;
inline constexpr uint32_t kBadHeaderLine = 1u << 6;      // a line that is not a field
inline constexpr uint32_t kBareLf = 1u << 7;             // LF not preceded by CR
inline constexpr uint32_t kNul = 1u << 8;                // NUL byte in the message
}  // namespace parse_flag

struct MessageStructure {
  uint64_t size = 0;     // octets of the whole message
  Envelope envelope;     // of the top-level message
  BodyPart root;         // header_offset == 0
  uint32_t flags = 0;    // parse_flag bits

  // Versioned, compact binary form for the store's index; format in
  // docs/formats/message-structure.md.
  std::string serialize() const;
  // Every length and count is checked against the blob and the bounds;
  // a bad, truncated or newer-version blob is Errc::Corrupted.
  static Result<MessageStructure> deserialize(std::string_view blob);

  friend bool operator==(const MessageStructure&, const MessageStructure&) = default;
};

MessageStructure parse_message(std::string_view message, const ParseLimits& limits = {});

// The top-level envelope as views: into a serialized structure
// (decode_envelope()) or into an Envelope (of()). FETCH ENVELOPE of a large
// mailbox needs nothing else, and decoding the whole structure (body parts,
// one string per field) was most of its cost. A view is valid only while
// what it points into lives.
struct AddressView {
  Address::Kind kind = Address::Kind::Mailbox;
  std::optional<std::string_view> name, adl, mailbox, host;
};
struct EnvelopeView {
  std::optional<std::string_view> date, subject;
  std::vector<AddressView> from, sender, reply_to, to, cc, bcc;
  std::optional<std::string_view> in_reply_to, message_id;

  static EnvelopeView of(const Envelope& e);
};

// Reads only the top-level envelope of a MessageStructure::serialize() blob.
// The whole blob's checksum, magic and version are checked as deserialize()
// checks them, and the envelope's lengths and counts against the blob; the
// body structure after it is not decoded. `out` is overwritten (its vectors
// keep their capacity, so one view reused over many blobs allocates once).
// Errc::Corrupted on a bad blob (out is then unspecified).
Status decode_envelope(std::string_view blob, EnvelopeView& out);

// ---------------------------------------------------------------------------
// Sections (RFC 3501 6.4.5 part numbers, protocol-free).

// The part a section path names, following IMAP's rules: for a multipart,
// n selects its n-th child (1-based); for a message/rfc822 part, the path
// continues inside the encapsulated message (so "2.1" of a message/rfc822
// part 2 whose message is multipart is that message's first part); for any
// other part, 1 names the part itself. The empty path names the root.
// nullptr if the path does not exist.
const BodyPart* find_section(const MessageStructure& msg, std::span<const uint32_t> path);

// Byte ranges within the stored message: [offset, offset + size).
struct ByteRange {
  uint64_t offset = 0;
  uint64_t size = 0;
  friend bool operator==(const ByteRange&, const ByteRange&) = default;
};
// BODY[path]: the part's body (for the root: the whole message).
std::optional<ByteRange> section_body(const MessageStructure& msg, std::span<const uint32_t> path);
// BODY[path.MIME]: the part's own header (nullopt for the root, which has none).
std::optional<ByteRange> section_mime(const MessageStructure& msg, std::span<const uint32_t> path);
// BODY[path.HEADER] / BODY[path.TEXT]: header or body of the message the path
// names (the root, or a message/rfc822 part's encapsulated message); nullopt
// when the path names a non-message part.
std::optional<ByteRange> section_header(const MessageStructure& msg, std::span<const uint32_t> path);
std::optional<ByteRange> section_text(const MessageStructure& msg, std::span<const uint32_t> path);

// ---------------------------------------------------------------------------
// Header helpers over raw bytes.

// Length of the header block at the start of `message`, including the blank
// line that ends it; the whole input if there is no blank line.
size_t header_block_size(std::string_view message);

// One header field as it appears: name as written, raw value (folded, from
// after the colon to before the final line break).
struct HeaderField {
  std::string_view name;
  std::string_view raw_value;
};

// The fields of a header block, in order, at most `max_fields`; lines that are
// not fields (no colon, bad name) are skipped.
std::vector<HeaderField> parse_header_fields(std::string_view header_block, size_t max_fields = 10000);

// The first field named `name` (case-insensitive), unfolded and trimmed; or
// every such field.
std::optional<std::string> find_header(std::string_view header_block, std::string_view name);
std::vector<std::string> find_all_headers(std::string_view header_block, std::string_view name);

// Removes CRLF/LF line breaks that are followed by whitespace, and trims
// leading and trailing whitespace.
std::string unfold_header_value(std::string_view raw);

// RFC 2047 encoded words ("=?utf-8?Q?caf=C3=A9?=") decoded to UTF-8, for
// SEARCH and display. Whitespace between adjacent encoded words is dropped;
// charsets: utf-8, us-ascii, iso-8859-1 (latin1) and windows-1252 natively,
// others through iconv; a word in an unknown charset or with bad encoding is
// left as written. Bytes outside encoded words are passed through, with
// invalid UTF-8 replaced by U+FFFD. Output is bounded by 4 * input size.
std::string decode_rfc2047(std::string_view raw);

// ---------------------------------------------------------------------------
// Decoding helpers for SEARCH and display (never used to build the stored
// structure, which stays raw).

// Bytes in `charset` to UTF-8, with the same charset support as
// decode_rfc2047(); nullopt for an unknown charset or bytes invalid in it.
// Invalid UTF-8 in a "utf-8" input is replaced by U+FFFD, not refused.
std::optional<std::string> convert_to_utf8(std::string_view charset, std::string_view bytes);

// A part body with its Content-Transfer-Encoding undone: "base64" (lenient:
// characters outside the alphabet are skipped, decoding stops at '=') and
// "quoted-printable" (soft line breaks removed, a malformed '=' kept as is);
// any other encoding returns the bytes unchanged. Output is never larger
// than the input.
std::string decode_transfer_encoding(std::string_view body, std::string_view encoding);

// RFC 2231 parameters joined and decoded to UTF-8: "name*0", "name*1*", ...
// continuations are concatenated in order, and "name*" values with a
// "charset'language'" prefix are %-decoded and converted; the result uses the
// plain name ("filename"). An RFC 2231 value wins over a plain one of the same
// name. Other parameters pass through. At most 100 segments per name.
MimeParams decode_rfc2231_params(const MimeParams& params);

// Parses addresses from a raw header value (unfolded or not). Best effort:
// garbage yields what could be recognised; at most `max_addresses`.
std::vector<Address> parse_address_list(std::string_view raw, size_t max_addresses = 10000);

// RFC 5322 date-time (and the obsolete forms real mail uses: missing
// weekday, 2-digit years, named zones like "GMT"/"EST", missing seconds) to
// a UTC time_t. nullopt if it is not a date. `zone_minutes`, when given,
// receives the date's own zone (minutes east of UTC): the date as its
// writer saw it is the result plus that many minutes (SEARCH SENTON).
std::optional<std::time_t> parse_rfc5322_date(std::string_view raw, int* zone_minutes = nullptr);

// `t` as an RFC 5322 date-time in the zone `zone_minutes` east of UTC:
// "Tue, 24 Nov 2026 23:10:00 +0000" (a Received or Date header field).
std::string format_rfc5322_date(std::time_t t, int zone_minutes = 0);

// ---------------------------------------------------------------------------
// Line-ending and 8-bit checks for LMTP delivery (bounded by the input).

// A LF that is not preceded by CR.
bool has_bare_lf(std::string_view bytes);
// A CR that is not followed by LF.
bool has_bare_cr(std::string_view bytes);
// Any byte >= 0x80 in the header block (header_block_size()).
bool header_has_8bit(std::string_view message);
// Replaces every byte >= 0x80 in the header block with 'X' (Cyrus's
// munge_8bit for reject8bit: no); returns how many bytes were replaced.
size_t munge_8bit_header(std::string& message);

}  // namespace cyr::mail
