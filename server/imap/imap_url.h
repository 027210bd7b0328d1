// IMAP URLs (RFC 5092) as CATENATE's URL parts name them (RFC 4469 5):
// a message, or a section of one, on this server.
//
// Two forms are read:
//   absolute path  /INBOX;UIDVALIDITY=785799047/;UID=113330/;SECTION=1.5.9
//   full           imap://fred;AUTH=*@mail.example.com:143/INBOX/;UID=20
// each with optional ;SECTION= and ;PARTIAL=offset[.length]. Relative
// references, URLAUTH (;EXPIRE= / ;URLAUTH=), search and list URLs are
// refused: CATENATE names one message of a mailbox of this server. Whether a
// full URL's user and host are the session's own is the caller's question.
//
// Pure syntax (no store, no I/O); thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "server/imap/command.h"
#include "store/base/result.h"

namespace cyr::imap {

struct ImapUrlPartial {
  uint32_t offset = 0;
  std::optional<uint32_t> length;  // nullopt: to the end
  bool operator==(const ImapUrlPartial&) const = default;
};

struct ImapUrl {
  // Full form only: the server part. user is nullopt when the URL names
  // none (anonymous access, RFC 5092 3.2), which this server does not offer.
  bool has_server = false;
  std::optional<std::string> user;  // percent-decoded
  std::string host;                 // as written, without the port
  std::string mailbox;              // percent-decoded: UTF-8 (RFC 5092 3.3)
  std::optional<uint32_t> uidvalidity;
  uint32_t uid = 0;
  std::optional<Section> section;  // nullopt: the whole message
  std::optional<ImapUrlPartial> partial;
  bool operator==(const ImapUrl&) const = default;
};

// Parses a URL as above. Errc::Invalid with a short reason otherwise.
Result<ImapUrl> parse_imap_url(std::string_view url);

// "%41" -> "A". Invalid: a bad escape, or a decoded NUL, CR or LF.
Result<std::string> percent_decode(std::string_view s);

}  // namespace cyr::imap
