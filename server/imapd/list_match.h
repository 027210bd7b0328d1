// LIST pattern matching on client-visible mailbox names (RFC 3501 6.3.8):
// '*' matches any run of characters, '%' any run without the hierarchy
// separator. A leading "INBOX" in the pattern matches case-insensitively.
// Pure and thread-safe; patterns are bounded by the caller's line limit and
// matching is iterative (no exponential backtracking on long patterns).
#pragma once

#include <string>
#include <string_view>

namespace cyr::imapd {

bool list_pattern_match(std::string_view pattern, std::string_view name, char separator);

// The pattern the client meant: reference and mailbox pattern joined, with
// "inbox" at its start normalised to "INBOX".
std::string list_full_pattern(std::string_view reference, std::string_view pattern);

}  // namespace cyr::imapd
