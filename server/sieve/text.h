// String helpers shared by the Sieve compiler and interpreter: variable
// references (RFC 5229), encoded characters (RFC 5228 2.4.2.4), UTF-8
// stepping, and address syntax checks. Internal to server/sieve.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "store/base/result.h"

namespace cyr::sieve {

// Length of the UTF-8 character starting at s[i] (1 for a stray byte), so
// that "?" and "${name}" never split a character.
size_t utf8_char_length(std::string_view s, size_t i);

// s cut to at most `max` bytes without splitting a UTF-8 character.
std::string truncate_utf8(std::string s, size_t max);

std::string ascii_lowercase(std::string_view s);
std::string ascii_uppercase(std::string_view s);

// identifier = (ALPHA / "_") *(ALPHA / DIGIT / "_")
bool is_identifier(std::string_view s);

// Expands "${name}" and "${N}" in `text`: `lookup` gets the name (as
// written; variable names compare case-insensitively, which is the
// lookup's business) and returns the value, "" when unset. Anything that
// is not a well-formed reference stays as written. Output is cut at
// `max_bytes`.
std::string expand_variables(std::string_view text, const std::function<std::string(std::string_view)>& lookup,
                             size_t max_bytes);

// The first well-formed reference with a namespace ("${env.x}") in text,
// for compile-time refusal (RFC 5229 3). With `allow_global`, references
// to the include extension's "global" namespace ("${global.name}", RFC
// 6609 3.5) are not counted.
std::optional<std::string> first_namespaced_reference(std::string_view text, bool allow_global = false);

// "global.name" (any case of "global", name an identifier): name; RFC
// 6609 3.5's namespace of global variables.
std::optional<std::string_view> global_variable_name(std::string_view name);

// A script name as ManageSieve allows it (RFC 5804 1.6): 1-512 octets of
// UTF-8 without control characters (U+0000-001F, U+007F-009F), U+2028/2029
// or "/", which include (RFC 6609) must refuse too.
bool is_script_name(std::string_view name);

// RFC 5228 2.4.2.4: "${hex:...}" and "${unicode:...}" decoded; a malformed
// sequence stays as written; a code point that is not a Unicode scalar
// value is an error (message without line).
Result<std::string> decode_encoded_characters(std::string_view text);

// The addr-spec of "local@domain" or "Name <local@domain>" when it is a
// plausible mail address (no white space or controls, one '@', non-empty
// parts); nullopt otherwise.
std::optional<std::string> mail_address(std::string_view text);

// RFC 5322 field-name: printable ASCII except ':' , at least one.
bool is_header_name(std::string_view s);

// editheader (RFC 5293 6): the fields no script may add or delete,
// "Received" (trace) and "Auto-Submitted" (loop prevention).
bool is_protected_header(std::string_view name);

}  // namespace cyr::sieve
