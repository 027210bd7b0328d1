// SEARCH evaluation: does one message match a parsed SearchKey?
//
// The evaluator sees a message through SearchMessage: its index record and
// sequence number (always known) and, only when a key needs them, its parsed
// structure and bytes, loaded on demand through callbacks (so a flag-only
// search never opens a message file). Text keys (FROM, SUBJECT, BODY, TEXT,
// HEADER ...) match case-insensitively on decoded text: RFC 2047 encoded
// words in headers, quoted-printable / base64 and the part's charset in
// bodies, all compared as UTF-8.
//
// Pure apart from the callbacks; the caller runs it where blocking is fine
// (the loaders read files). Not thread-safe per SearchMessage.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "server/imap/command.h"
#include "store/mail/message.h"
#include "store/types.h"

namespace cyr::imapd {

struct SearchMessage {
  const store::MessageRecord* record = nullptr;
  uint32_t seq = 0;
  uint32_t max_seq = 0;       // "*" in a sequence-set key
  store::Uid max_uid = 0;     // "*" in a UID key
  int64_t now = 0;            // for OLDER / YOUNGER
  bool recent = false;  // \Recent in this session (RECENT, NEW, OLD)
  // Loaders; each may return nullptr when the message cannot be read (the
  // key then does not match).
  std::function<const mail::MessageStructure*()> structure;
  std::function<const std::string*()> bytes;
  // UIDs of the saved search result ("$"), ascending.
  const std::vector<store::Uid>* saved = nullptr;
};

// Checks a key's charset argument: UTF-8 and US-ASCII (and none) are
// supported; anything else is Errc::Invalid with the BADCHARSET meaning.
bool search_charset_supported(const std::optional<std::string>& charset);

bool search_matches(const imap::SearchKey& key, SearchMessage& msg);

// True if the key needs the message structure or bytes (so the caller can
// decide to evaluate it on the blocking pool).
bool search_needs_content(const imap::SearchKey& key);

// Case-insensitive (ASCII and common Latin letters folded) substring test
// on UTF-8 text.
bool contains_folded(std::string_view haystack, std::string_view needle);

// RFC 8474 EMAILID of a message: "M" and the first 24 lowercase hex digits
// of its GUID, as Cyrus 3.6 forms it; "" for the null GUID.
std::string email_id(const mail::MessageGuid& guid);

// The save date SAVEDBEFORE/SAVEDON/SAVEDSINCE compare: the record's save
// date, or its internal date when it has none (savedate 0).
int64_t save_date_for_search(const store::MessageRecord& r);

// The text of a leaf part for searching and previews: its
// Content-Transfer-Encoding undone and, for text/*, its charset converted to
// UTF-8 (bytes in an unknown charset are kept as they are). `raw` is the
// part's body as stored, or a prefix of it.
std::string decoded_part_text(const mail::BodyPart& part, std::string_view raw);

// The date part of a time in UTC, as (year, month, day), for BEFORE/ON/SINCE.
imap::Date date_of(int64_t t);

}  // namespace cyr::imapd
