// See list_pattern.h.
#include "store/mail/list_pattern.h"

#include <algorithm>
#include <vector>

namespace cyr::mail {

namespace {

bool is_wild(char c) { return c == '*' || c == '%'; }

}  // namespace

bool list_pattern_match(std::string_view pattern, std::string_view name, char separator) {
  // cur[j]: the name read so far can be matched by pattern[0..j). One pass
  // over the name, each step O(|pattern|).
  const size_t m = pattern.size();
  std::vector<char> cur(m + 1, 0), next(m + 1, 0);
  cur[0] = 1;
  // Leading wildcards may match the empty string.
  for (size_t j = 0; j < m && is_wild(pattern[j]); ++j) cur[j + 1] = 1;
  for (char c : name) {
    std::fill(next.begin(), next.end(), 0);
    for (size_t j = 0; j < m; ++j) {
      if (!cur[j]) continue;
      char p = pattern[j];
      if (p == '*' || (p == '%' && c != separator)) {
        next[j] = 1;  // the wildcard consumes c and stays
      } else if (p == c) {
        next[j + 1] = 1;
      }
    }
    // Wildcards may also match the empty string: propagate forward.
    for (size_t j = 0; j < m; ++j)
      if (next[j] && is_wild(pattern[j])) next[j + 1] = 1;
    cur.swap(next);
  }
  return cur[m] != 0;
}

}  // namespace cyr::mail
