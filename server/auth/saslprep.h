// SASLprep (RFC 4013) for passwords and SCRAM user names, as far as this server
// implements it. Pure function; thread-safe.
//
// Implemented: strict UTF-8 validation; the mapping steps (B.1 "commonly mapped
// to nothing" removed, C.1.2 non-ASCII spaces mapped to U+0020); every
// prohibition table of RFC 4013 s2.3 (ASCII and non-ASCII controls, private
// use, non-characters, surrogates, ..., tagging characters); an empty result is
// rejected.
//
// Limitation: Unicode normalisation (NFKC) and the bidirectional check are not
// applied, and unassigned code points are not rejected. ASCII input is
// therefore handled exactly, and non-ASCII input is used as given after the
// mapping: a client that normalises a non-NFKC password differently will fail
// SCRAM (PLAIN and LOGIN are unaffected, since both sides use this function).
#pragma once

#include <string>
#include <string_view>

#include "store/base/result.h"

namespace cyr::auth {

// True if s is well-formed UTF-8 (no overlong forms, surrogates or values
// above U+10FFFF).
bool is_valid_utf8(std::string_view s);

// Returns the prepared string, or Invalid naming the offending code point.
Result<std::string> saslprep(std::string_view in);

}  // namespace cyr::auth
