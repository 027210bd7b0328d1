#include "server/imapd/list_match.h"

#include <vector>

#include "server/imap/parser_args.h"

namespace cyr::imapd {

bool list_pattern_match(std::string_view p, std::string_view n, char sep) {
  // Dynamic programming over (pattern position, name position): O(|p|*|n|).
  const size_t P = p.size(), N = n.size();
  std::vector<char> cur(N + 1, 0), next(N + 1, 0);
  cur[0] = 1;
  for (size_t i = 0; i < P; ++i) {
    std::fill(next.begin(), next.end(), 0);
    char c = p[i];
    if (c == '*' || c == '%') {
      // reach: some k <= j matched so far, and (for '%') n[k..j) holds no
      // separator.
      bool reach = false;
      for (size_t j = 0; j <= N; ++j) {
        if (j > 0 && c == '%' && n[j - 1] == sep) reach = false;
        if (cur[j]) reach = true;
        next[j] = reach ? 1 : 0;
      }
    } else {
      for (size_t j = 0; j < N; ++j)
        if (cur[j] && n[j] == c) next[j + 1] = 1;
    }
    std::swap(cur, next);
  }
  return cur[N] != 0;
}

std::string list_full_pattern(std::string_view reference, std::string_view pattern) {
  std::string full(reference);
  full += pattern;
  if (full.size() >= 5 && imap::iequals(full.substr(0, 5), "INBOX") &&
      (full.size() == 5 || full[5] == '/' || full[5] == '.' || full[5] == '*' || full[5] == '%'))
    full.replace(0, 5, "INBOX");
  return full;
}

}  // namespace cyr::imapd
