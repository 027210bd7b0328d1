// METADATA (RFC 5464): entry names, their mapping onto the store's
// annotations, DEPTH matching, and the METADATA response.
//
// An IMAP entry is "/shared/<name>" or "/private/<name>"; the store keeps
// <name> (with its leading '/') and the owner of the value: userid "" for
// /shared, the user for /private (Cyrus's annotation db does the same, so
// the values replicate as ANNOTATION records). Entry names are
// case-insensitive (RFC 5464 3.2); they are kept lower-case, as Cyrus does.
//
// Pure functions over values (no store, no I/O); thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "server/imap/response.h"
#include "store/base/result.h"

namespace cyr::imapd {

// Bounds. A value is at most kMaxMetadataValue octets (NO [METADATA MAXSIZE]):
// below both the store's kMaxAnnotationValue and the parser's literal bound,
// so a too-large value gets the METADATA answer, not a literal error.
inline constexpr size_t kMaxMetadataEntryLength = 1024;
inline constexpr size_t kMaxMetadataValue = 32 * 1024;
// Entries of one owner (the shared ones, or one user's private ones) on one
// mailbox or on the server; more is NO [METADATA TOOMANY].
inline constexpr size_t kMaxMetadataEntries = 256;

struct MetadataEntry {
  bool shared = false;  // "/shared/..." (else "/private/...")
  std::string name;     // "/comment": the store's entry; "" for the bare prefix
  std::string imap() const { return (shared ? "/shared" : "/private") + name; }
  bool operator==(const MetadataEntry&) const = default;
};

// Parses and checks an entry name (RFC 5464 3.2 / 5.  entry syntax): it
// starts with "/private" or "/shared" (any case), has no empty component,
// no trailing '/', no '*' or '%', no control or 8-bit characters, and is at
// most kMaxMetadataEntryLength long. The bare prefix ("/shared") is accepted
// only with allow_prefix (a GETMETADATA with DEPTH). Errc::Invalid (BAD).
Result<MetadataEntry> parse_metadata_entry(std::string_view entry, bool allow_prefix = false);

// Does `candidate` answer a request for `requested` with this depth
// ("0", "1" or "infinity")? Depth 0: only the entry itself; 1: also its
// direct children; infinity: every descendant (RFC 5464 4.2.2). Both
// names are store names ("/comment", "/vendor/x/y") in the same scope.
bool metadata_depth_matches(std::string_view requested, std::string_view candidate,
                            std::string_view depth);

// "* METADATA <mailbox> (entry value entry value ...)". A value is a
// string, a literal8 when it holds a NUL, or NIL for an entry that does not
// exist. mailbox "" is the server.
void write_metadata_response(
    imap::ResponseWriter& w, std::string_view mailbox,
    const std::vector<std::pair<std::string, std::optional<std::string>>>& entries);

}  // namespace cyr::imapd
