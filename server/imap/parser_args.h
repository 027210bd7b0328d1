// ArgReader: typed reading of a command's arguments from its tokens.
//
// The framer in parser.cpp turns a command into tokens (atoms, strings,
// literals, parentheses); the per-command parsers in command_parsers.cpp read
// typed values from them through this class. Every method returns an Error
// (Errc::Invalid, text fit for a BAD response) instead of guessing. The reader
// borrows the token vector; it is a short-lived local, not thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "server/imap/command.h"
#include "server/imap/parser.h"
#include "store/base/ascii.h"
#include "store/base/result.h"

namespace cyr::imap {

// "1:3,5,7:*" (or "$" if allow_saved) -> SequenceSet. Bounded by max_ranges.
Result<SequenceSet> parse_sequence_set(std::string_view text, bool allow_saved = true,
                                       size_t max_ranges = 10000);

class ArgReader {
 public:
  using Token = Parser::Token;

  ArgReader(const std::vector<Token>& tokens, size_t first, const ParserLimits& limits)
      : tokens_(tokens), pos_(first), limits_(limits) {}

  bool at_end() const { return pos_ >= tokens_.size(); }
  const Token* peek() const { return at_end() ? nullptr : &tokens_[pos_]; }
  bool peek_open() const;
  bool peek_close() const;
  // True if the next token is an atom equal to word (any case); does not consume.
  bool peek_atom(std::string_view word) const;
  // Consumes the next token if it is an atom equal to word (any case).
  bool take_atom(std::string_view word);

  Status open();   // "("
  Status close();  // ")"
  bool take_open();
  bool take_close();
  Status end();    // no arguments left

  Result<std::string> atom();  // as sent
  Result<std::string> upper_atom();
  Result<std::string> astring();
  Result<std::string> string();  // quoted or literal only
  Result<std::optional<std::string>> nstring();
  Result<std::string> mailbox();  // astring, INBOX normalised
  Result<uint32_t> number();      // 32-bit
  Result<uint32_t> nz_number();
  Result<uint64_t> number64();    // 63-bit (mod-sequence-value, RFC 7162)
  Result<SequenceSet> sequence_set(bool allow_saved = true);
  Result<std::vector<std::string>> flag_list();  // "(" [flag *(SP flag)] ")"
  Result<std::string> flag();
  Result<Date> date();          // date-text or quoted date-text
  Result<DateTime> date_time(); // quoted "dd-Mon-yyyy hh:mm:ss +zzzz"
  Result<Token> message_literal();  // APPEND's message (size and index only)

  const ParserLimits& limits() const { return limits_; }

 private:
  const std::vector<Token>& tokens_;
  size_t pos_;
  const ParserLimits& limits_;
};

// Helpers shared by the parser and tests.
using ::cyr::iequals;  // store/base/ascii.h
std::string to_upper(std::string_view s);
Result<Date> parse_date_text(std::string_view text);
Result<DateTime> parse_date_time_text(std::string_view text);
// The section-spec inside BODY[...] ("1.2.HEADER.FIELDS (FROM)", "TEXT", ""),
// as FETCH reads it; also what an IMAP URL's ;SECTION= names (imap_url.h).
Result<Section> parse_section_spec(std::string_view text, size_t max_items = 10000);

}  // namespace cyr::imap
