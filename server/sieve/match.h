// Comparators (RFC 4790 as used by RFC 5228 2.7.3), match types (:is
// :contains :matches, RFC 5231 :count :value) and match variables
// (RFC 5229 3.2), and :regex (regex.h). Internal to server/sieve.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "server/sieve/ast.h"
#include "server/sieve/regex.h"

namespace cyr::sieve {

// <0, 0, >0 as a orders before, equal to, after b under the comparator.
int compare(std::string_view a, std::string_view b, Comparator comparator);

// :matches of `text` against a glob `pattern` ("*" any run, "?" one UTF-8
// character, "\" quotes the next character). Iterative with one
// backtracking point, so at most O(|text| * |pattern|) steps; `work` is
// charged one per step and the match fails (work_exceeded set) past
// max_work. On a match, `captures` (if not null) gets the whole text, then
// what each wildcard matched, leftmost wildcards as short as possible.
bool glob_match(std::string_view text, std::string_view pattern, Comparator comparator, size_t max_work, size_t& work,
                bool& work_exceeded, std::vector<std::string>* captures);

// One test's comparison: does any value match any key? (For :count, the
// number of values against each key.) Keeps the captures of the first
// successful :matches. Each :matches comparison may take max_work steps,
// and all of them together what is left of `budget` (the whole run's).
class Matcher {
 public:
  Matcher(const Comparison& comparison, size_t max_work, size_t& budget, bool want_captures)
      : cmp_(comparison), max_work_(max_work), budget_(budget), want_captures_(want_captures) {}

  bool test(const std::vector<std::string>& values, const std::vector<std::string>& keys);

  // :regex: the compiled form of each key, in the order of `keys` (set
  // before test()). A regexec over a value is charged Regex::cost() steps
  // (quadratic in the value's length), like :matches steps.
  void set_regexes(const std::vector<std::shared_ptr<const Regex>>* regexes) { regexes_ = regexes; }

  bool work_exceeded() const { return work_exceeded_; }
  // Set when a :matches succeeded and captures were wanted.
  bool captured() const { return captured_; }
  std::vector<std::string>& captures() { return captures_; }

 private:
  bool one(std::string_view value, std::string_view key, size_t key_index);

  const Comparison& cmp_;
  size_t max_work_;
  size_t& budget_;
  bool want_captures_;
  bool work_exceeded_ = false;
  bool captured_ = false;
  std::vector<std::string> captures_;
  const std::vector<std::shared_ptr<const Regex>>* regexes_ = nullptr;
};

}  // namespace cyr::sieve
