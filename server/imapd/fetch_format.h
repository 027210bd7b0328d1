// FETCH formatting: ENVELOPE, BODY and BODYSTRUCTURE from a parsed
// MessageStructure, flag lists, INTERNALDATE, and the byte ranges of
// BODY[section] items (HEADER.FIELDS filtering included).
//
// Pure functions over values (no I/O, no store): the FETCH handler loads the
// structure and the bytes, these turn them into IMAP syntax through a
// ResponseWriter. Thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "server/imap/command.h"
#include "server/imap/response.h"
#include "store/mail/message.h"
#include "store/types.h"

namespace cyr::imapd {

// "(" date subject from sender reply-to to cc bcc in-reply-to message-id ")"
void write_envelope(imap::ResponseWriter& w, const mail::Envelope& env);
// The same from views (FETCH ENVELOPE straight from the stored blob).
void write_envelope(imap::ResponseWriter& w, const mail::EnvelopeView& env);

// BODY (extensible = false) or BODYSTRUCTURE (extensible = true) of a part.
void write_body_structure(imap::ResponseWriter& w, const mail::BodyPart& part, bool extensible);

// "\Seen \Flagged $Label" for the system bits and keywords (no parentheses).
std::vector<std::string> flag_names(const store::Flags& flags);
// The same names written as atoms, without building strings (FETCH FLAGS
// of every message of a large mailbox).
void write_flag_names(imap::ResponseWriter& w, const store::Flags& flags);

// Parses client flag names into store flags. \Recent and unknown
// backslash-flags are Invalid (the caller answers BAD); keywords are kept.
Result<store::Flags> parse_flag_names(const std::vector<std::string>& names);

// "17-Jul-1996 02:44:25 +0000" for a UTC time (INTERNALDATE).
std::string format_internal_date(int64_t t);

// A DateTime from APPEND to seconds since the epoch (UTC).
int64_t datetime_to_epoch(const imap::DateTime& dt);

// The bytes of BODY[section] from a whole message and its structure: the
// selected range, with HEADER.FIELDS(.NOT) filtering applied. Returns
// nullopt for a section that does not exist (the item is then sent as an
// empty string, as Cyrus does).
std::optional<std::string> extract_section(const mail::MessageStructure& msg,
                                           std::string_view message,
                                           const imap::Section& section);

// BINARY[part] (RFC 3516): the part's body with its Content-Transfer-Encoding
// undone (base64, quoted-printable; 7bit, 8bit and binary as they are). The
// empty part path is the whole message, as stored. Multipart and message
// parts are returned as they are (they cannot be encoded).
struct BinaryContent {
  enum class Status { Ok, NoSuchPart, UnknownCte };
  Status status = Status::Ok;
  std::string data;
  std::string encoding;  // UnknownCte: the encoding we do not know
};
BinaryContent extract_binary(const mail::MessageStructure& msg, std::string_view message,
                             const std::vector<uint32_t>& part);

// Keeps (or, with exclude, drops) the header fields named in `names`
// (upper-case) from a header block; the blank line ending the block is kept.
std::string filter_header_fields(std::string_view header_block,
                                 const std::vector<std::string>& names, bool exclude);

// ---- PREVIEW (RFC 8970)

// At most this many characters (code points) of text in a preview.
inline constexpr size_t kPreviewMaxChars = 200;
// At most this many bytes of the chosen part's body are read and decoded:
// 200 characters never need more, whatever the encoding or markup around
// them, and a huge text part costs no more than a small one.
inline constexpr uint64_t kPreviewMaxRawBytes = 64 * 1024;

// The part a preview is made of: the first text/plain part that is not an
// attachment, else the first such text/html part (multipart/alternative
// included), not looking into attached messages. nullptr if there is none.
const mail::BodyPart* preview_part(const mail::MessageStructure& msg);

// The preview text of `part` from the start of its body as stored (`raw`,
// at most kPreviewMaxRawBytes of it; `truncated` when that is not all of
// it): transfer encoding and charset undone (decoded_part_text, the
// decoder SEARCH BODY uses), HTML tags dropped and the common entities
// replaced for text/html, whitespace runs made one space and trimmed, then
// cut to kPreviewMaxChars characters, never inside a UTF-8 sequence.
// Always valid UTF-8; "" when the part has no text.
std::string make_preview(const mail::BodyPart& part, std::string_view raw, bool truncated);

// Text of an HTML document without its markup: tags and comments dropped,
// the contents of <head>, <style> and <script> dropped, block elements
// (p, br, div, li, tr, td, h1..h6 ...) as a space, and &amp; &lt; &gt;
// &quot; &apos; &nbsp; and numeric character references decoded.
std::string html_to_text(std::string_view html);

// "BODY[1.2.HEADER.FIELDS (FROM TO)]<0>": the name of a section item in a
// response (peek is never echoed; the origin octet only with a partial).
// Also "BINARY[1.2]<0>" and "BINARY.SIZE[1.2]".
std::string section_item_name(const imap::FetchItem& item);

}  // namespace cyr::imapd
