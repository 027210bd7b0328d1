// Sieve lexer (RFC 5228 2.2-2.4, 8.1): script text to tokens with lines.
// Internal to server/sieve.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "server/sieve/sieve.h"

namespace cyr::sieve {

struct Token {
  enum class Kind : uint8_t {
    Identifier,
    Tag,
    Number,
    String,
    LBracket,
    RBracket,
    LParen,
    RParen,
    LBrace,
    RBrace,
    Comma,
    Semicolon,
    End,
  };
  Kind kind = Kind::End;
  std::string text;     // Identifier and Tag (lower-case, without ":"), String (decoded)
  uint64_t number = 0;  // Number, with K/M/G applied
  int line = 0;
};

// "line N: what" errors (Errc::Invalid; Errc::TooBig for a string past
// limits.max_string_bytes). Strings come out with \\ and \" escapes undone
// (quoted) or dot-stuffing undone (text:); line breaks are kept as written.
Result<std::vector<Token>> tokenize(std::string_view text, const Limits& limits);

// "line N: message" as an Error.
Error script_error(int line, std::string message, Errc code = Errc::Invalid);

}  // namespace cyr::sieve
