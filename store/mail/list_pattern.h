// The one LIST pattern matcher (RFC 3501 6.3.8), for internal names (the
// store, separator '.') and client-visible names (imapd, the session's
// separator): '*' matches any run of characters, '%' any run without the
// separator, every other character itself, case-sensitively (INBOX
// normalisation is the caller's). Pure and thread-safe; the time is
// O(|pattern| * |name|), so hostile patterns ("*%*%...") cannot make it
// backtrack exponentially.
#pragma once

#include <string_view>

namespace cyr::mail {

bool list_pattern_match(std::string_view pattern, std::string_view name, char separator);

}  // namespace cyr::mail
