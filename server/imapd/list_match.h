// LIST pattern matching on client-visible mailbox names (RFC 3501 6.3.8).
// The matcher is the store's (store/mail/list_pattern.h), given the session's
// hierarchy separator; a leading "INBOX" matches case-insensitively because
// list_full_pattern normalises it. Patterns are bounded by the caller's line
// limit.
#pragma once

#include <string>
#include <string_view>

#include "store/mail/list_pattern.h"

namespace cyr::imapd {

using mail::list_pattern_match;

// The pattern the client meant: reference and mailbox pattern joined, with
// "inbox" at its start normalised to "INBOX".
std::string list_full_pattern(std::string_view reference, std::string_view pattern);

}  // namespace cyr::imapd
