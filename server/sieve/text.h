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
// for compile-time refusal (RFC 5229 3: no namespace is supported).
std::optional<std::string> first_namespaced_reference(std::string_view text);

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

}  // namespace cyr::sieve
