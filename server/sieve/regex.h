// The regex match type (draft-ietf-sieve-regex-01, as Cyrus implements it):
// POSIX extended regular expressions through <regex.h>. Internal to
// server/sieve.
//
// Bounded: a pattern is at most Limits::max_regex_bytes long, has no
// back-references (\1..\9: the one construct that makes glibc's regexec
// exponential) and no nesting of repetition counts that would expand past
// kMaxRegexExpansion atoms (glibc compiles "(a{255}){255}" by copying the
// group 255 times). A compiled Regex does not change once built (glibc
// does cache DFA states inside the regex_t, under its own lock): regexec
// on a shared regex_t is thread-safe, so a Script holding Regexes stays
// shareable.
#pragma once

#include <regex.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "server/sieve/ast.h"
#include "store/base/result.h"

namespace cyr::sieve {

// How far repetition counts may multiply a pattern, in atoms.
inline constexpr size_t kMaxRegexExpansion = 8192;

// glibc's regexec is no linear matcher even without back-references: an
// unanchored search starts again at every position a match could begin,
// and each attempt may run to the end of the text while building DFA
// states over the pattern's atoms. Measured worst cases (say
// "(a|b)*a(a|b){20}x" over random a/b text) take about a nanosecond per
// text-length squared times atoms. A match is therefore charged
// n * n * atoms / kRegexCostDivisor steps (plus n), which keeps one
// comparison's max_match_work (1M) to tens of milliseconds at worst; in
// practice :regex is for header values and short bodies.
inline constexpr size_t kRegexCostDivisor = 16;

class Regex {
 public:
  // Errc::Invalid with a message without line ("bad regular expression:
  // ...") for a pattern that does not compile or has back-references;
  // Errc::TooBig for one too long or too complex.
  // i;ascii-casemap matches case-insensitively, i;octet exactly;
  // i;ascii-numeric cannot do :regex (the parser refuses it first).
  static Result<std::shared_ptr<const Regex>> compile(std::string_view pattern, Comparator comparator,
                                                      size_t max_pattern_bytes);

  ~Regex();
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;

  // Does the pattern match anywhere in `text` (which may hold NUL bytes)?
  // On a match, `captures` (if not null) gets the whole match and groups
  // 1..9 ("" for a group that took no part).
  bool match(std::string_view text, std::vector<std::string>* captures) const;

  // The steps match() is charged for a text of this length (see
  // kRegexCostDivisor).
  size_t cost(size_t text_bytes) const;

 private:
  Regex() = default;
  regex_t compiled_{};
  bool failed_ = false;  // regcomp failed: nothing to regfree
  size_t atoms_ = 1;     // the pattern's size after repetition counts
};

}  // namespace cyr::sieve
