#include "server/sieve/match.h"

#include <algorithm>

#include "server/sieve/text.h"
#include "store/base/ascii.h"

namespace cyr::sieve {

namespace {

char ascii_upper(char c) { return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 32) : c; }

// i;ascii-numeric: the number is the leading digits; a string that does
// not start with a digit is positive infinity (RFC 4790 9.1).
int compare_numeric(std::string_view a, std::string_view b) {
  auto digits = [](std::string_view s) {
    size_t n = 0;
    while (n < s.size() && s[n] >= '0' && s[n] <= '9') ++n;
    std::string_view d = s.substr(0, n);
    bool number = n > 0;
    while (d.size() > 1 && d.front() == '0') d.remove_prefix(1);
    return std::pair{number, d};
  };
  auto [a_num, ad] = digits(a);
  auto [b_num, bd] = digits(b);
  if (!a_num || !b_num) {
    if (!a_num && !b_num) return 0;
    return a_num ? -1 : 1;  // every number is below infinity
  }
  if (ad.size() != bd.size()) return ad.size() < bd.size() ? -1 : 1;
  int c = ad.compare(bd);
  return c < 0 ? -1 : c > 0 ? 1 : 0;
}

bool same_char(char a, char b, Comparator comparator) {
  return comparator == Comparator::Octet ? a == b : ascii_lower(a) == ascii_lower(b);
}

struct GlobElement {
  enum class Kind : uint8_t { Literal, Star, One };
  Kind kind;
  char c = 0;
};

std::vector<GlobElement> parse_glob(std::string_view pattern) {
  std::vector<GlobElement> out;
  out.reserve(pattern.size());
  for (size_t i = 0; i < pattern.size(); ++i) {
    char c = pattern[i];
    if (c == '\\' && i + 1 < pattern.size()) {
      out.push_back({GlobElement::Kind::Literal, pattern[++i]});
    } else if (c == '*') {
      // "**" is the same as "*" for matching, but each is its own match
      // variable (RFC 5229 3.2), so keep both.
      out.push_back({GlobElement::Kind::Star});
    } else if (c == '?') {
      out.push_back({GlobElement::Kind::One});
    } else {
      out.push_back({GlobElement::Kind::Literal, c});
    }
  }
  return out;
}

}  // namespace

int compare(std::string_view a, std::string_view b, Comparator comparator) {
  if (comparator == Comparator::AsciiNumeric) return compare_numeric(a, b);
  size_t n = std::min(a.size(), b.size());
  for (size_t i = 0; i < n; ++i) {
    unsigned char x = static_cast<unsigned char>(a[i]);
    unsigned char y = static_cast<unsigned char>(b[i]);
    if (comparator == Comparator::AsciiCasemap) {
      x = static_cast<unsigned char>(ascii_upper(static_cast<char>(x)));
      y = static_cast<unsigned char>(ascii_upper(static_cast<char>(y)));
    }
    if (x != y) return x < y ? -1 : 1;
  }
  return a.size() == b.size() ? 0 : a.size() < b.size() ? -1 : 1;
}

bool glob_match(std::string_view text, std::string_view pattern, Comparator comparator, size_t max_work, size_t& work,
                bool& work_exceeded, std::vector<std::string>* captures) {
  const std::vector<GlobElement> glob = parse_glob(pattern);
  constexpr size_t kNone = static_cast<size_t>(-1);
  // start[e]: where element e matched in the latest attempt; a wildcard's
  // match is text[start[e], start[e + 1]).
  std::vector<size_t> start(glob.size() + 1, 0);
  size_t p = 0, t = 0;
  size_t star = kNone;  // the last star seen: the only backtracking point
  size_t star_text = 0;
  while (t < text.size()) {
    if (++work > max_work) {
      work_exceeded = true;
      return false;
    }
    if (p < glob.size() && glob[p].kind == GlobElement::Kind::Literal && same_char(glob[p].c, text[t], comparator)) {
      start[p++] = t++;
    } else if (p < glob.size() && glob[p].kind == GlobElement::Kind::One) {
      start[p++] = t;
      t += utf8_char_length(text, t);
    } else if (p < glob.size() && glob[p].kind == GlobElement::Kind::Star) {
      // A later star makes backtracking into an earlier one pointless:
      // whatever the earlier one could absorb, this one can.
      star = p;
      star_text = t;
      start[p++] = t;
    } else if (star != kNone) {
      star_text += utf8_char_length(text, star_text);
      t = star_text;
      p = star + 1;
    } else {
      return false;
    }
  }
  while (p < glob.size() && glob[p].kind == GlobElement::Kind::Star) start[p++] = t;
  if (p != glob.size()) return false;
  start[glob.size()] = text.size();
  if (captures) {
    captures->clear();
    captures->emplace_back(text);
    for (size_t e = 0; e < glob.size(); ++e) {
      if (glob[e].kind == GlobElement::Kind::Literal) continue;
      size_t from = start[e], to = start[e + 1];
      captures->emplace_back(text.substr(from, to > from ? to - from : 0));
    }
  }
  return true;
}

bool Matcher::one(std::string_view value, std::string_view key, size_t key_index) {
  switch (cmp_.match) {
    case MatchType::Regex: {
      if (!regexes_ || key_index >= regexes_->size() || !(*regexes_)[key_index]) return false;
      size_t cost = (*regexes_)[key_index]->cost(value.size());
      if (cost > std::min(max_work_, budget_)) {
        work_exceeded_ = true;
        return false;
      }
      budget_ -= cost;
      std::vector<std::string> caps;
      bool ok = (*regexes_)[key_index]->match(value, want_captures_ ? &caps : nullptr);
      if (ok && want_captures_) {
        captures_ = std::move(caps);
        captured_ = true;
      }
      return ok;
    }
    case MatchType::Is:
      if (cmp_.comparator == Comparator::AsciiNumeric) return compare(value, key, cmp_.comparator) == 0;
      return value.size() == key.size() && std::equal(value.begin(), value.end(), key.begin(),
                                                      [&](char a, char b) { return same_char(a, b, cmp_.comparator); });
    case MatchType::Contains:
      return std::search(value.begin(), value.end(), key.begin(), key.end(),
                         [&](char a, char b) { return same_char(a, b, cmp_.comparator); }) != value.end();
    case MatchType::Matches: {
      std::vector<std::string> caps;
      size_t work = 0;
      bool ok = glob_match(value, key, cmp_.comparator, std::min(max_work_, budget_), work, work_exceeded_,
                           want_captures_ ? &caps : nullptr);
      budget_ -= std::min(work, budget_);
      if (ok && want_captures_) {
        captures_ = std::move(caps);
        captured_ = true;
      }
      return ok;
    }
    case MatchType::Value:
    case MatchType::Count: {
      int c = compare(value, key, cmp_.comparator);
      switch (cmp_.relation) {
        case Relation::Gt:
          return c > 0;
        case Relation::Ge:
          return c >= 0;
        case Relation::Lt:
          return c < 0;
        case Relation::Le:
          return c <= 0;
        case Relation::Eq:
          return c == 0;
        case Relation::Ne:
          return c != 0;
      }
      return false;
    }
  }
  return false;
}

bool Matcher::test(const std::vector<std::string>& values, const std::vector<std::string>& keys) {
  if (cmp_.match == MatchType::Count) {
    std::string count = std::to_string(values.size());
    for (size_t k = 0; k < keys.size(); ++k)
      if (one(count, keys[k], k)) return true;
    return false;
  }
  for (const auto& value : values) {
    for (size_t k = 0; k < keys.size(); ++k) {
      if (one(value, keys[k], k)) return true;
      if (work_exceeded_) return false;
    }
  }
  return false;
}

}  // namespace cyr::sieve
