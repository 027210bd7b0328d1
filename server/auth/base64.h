// Base64 (RFC 4648 s4, standard alphabet, padded) for SASL exchanges and SCRAM
// attributes. Decoding is strict: it accepts only the canonical encoding (length
// a multiple of 4, '=' only as final padding, unused trailing bits zero, no
// white space), so one value has one spelling, and it is bounded.
//
// Pure functions; thread-safe.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "store/base/result.h"

namespace cyr::auth {

std::string base64_encode(std::string_view bytes);

// Decodes text; fails (Invalid) on any non-canonical input, and (Limit) if the
// decoded form would exceed max_decoded bytes. The empty string decodes to "".
Result<std::string> base64_decode(std::string_view text, size_t max_decoded);

}  // namespace cyr::auth
