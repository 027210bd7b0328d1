#include "server/sieve/regex.h"

#include <algorithm>
#include <limits>

namespace cyr::sieve {

namespace {

size_t saturating_add(size_t a, size_t b) { return a > SIZE_MAX - b ? SIZE_MAX : a + b; }
size_t saturating_mul(size_t a, size_t b) { return (a != 0 && b > SIZE_MAX / a) ? SIZE_MAX : a * b; }

// Repetition operators applied on top of each other ("a++", "(a*)+",
// "((a+)*)+"): glibc's regcomp needs memory exponential in their nesting
// (measured: 12 stacked "+" 4 MB, 16 42 MB, 28 more than 2 GB; 12 nested
// quantified groups 26 MB, 16 did not finish). Real patterns nest two or
// three.
constexpr size_t kMaxRepetitionNesting = 6;

// What glibc would make of the pattern's repetition counts, roughly: the
// number of atoms after every "x{n,m}" is copied max(n, m) times. Also
// refuses back-references and repetitions nested deeper than
// kMaxRepetitionNesting. Syntax errors are left to regcomp.
Result<size_t> check_pattern(std::string_view p) {
  struct Group {
    size_t sum = 0;     // atoms before the last one
    size_t last = 0;    // the last atom (a repetition count applies to it)
    size_t last_q = 0;  // repetitions nested in and on the last atom
    size_t max_q = 0;   // the most nested anywhere in the group
  };
  std::vector<Group> groups(1);
  size_t deepest = 0;
  auto atom = [&](size_t size, size_t nesting = 0) {
    Group& g = groups.back();
    g.sum = saturating_add(g.sum, g.last);
    g.last = size;
    g.last_q = nesting;
    g.max_q = std::max(g.max_q, nesting);
  };
  auto repeat = [&] {
    Group& g = groups.back();
    g.last_q += 1;
    g.max_q = std::max(g.max_q, g.last_q);
    deepest = std::max(deepest, g.last_q);
  };
  size_t i = 0;
  while (i < p.size()) {
    char c = p[i];
    if (c == '\\') {
      if (i + 1 < p.size() && p[i + 1] >= '1' && p[i + 1] <= '9')
        return Error(Errc::Invalid, "back-references (\\1 .. \\9) are not allowed in :regex");
      atom(1);
      i += 2;
    } else if (c == '[') {
      // A bracket expression is one atom; a backslash in it is literal.
      size_t j = i + 1;
      if (j < p.size() && p[j] == '^') ++j;
      if (j < p.size() && p[j] == ']') ++j;
      while (j < p.size() && p[j] != ']') {
        if (p[j] == '[' && j + 1 < p.size() && (p[j + 1] == ':' || p[j + 1] == '=' || p[j + 1] == '.')) {
          size_t close = p.find(std::string{p[j + 1], ']'}, j + 2);
          if (close == std::string_view::npos) break;
          j = close + 2;
        } else {
          ++j;
        }
      }
      atom(1);
      i = j + 1;
    } else if (c == '(') {
      groups.emplace_back();
      ++i;
    } else if (c == ')' && groups.size() > 1) {
      Group g = groups.back();
      groups.pop_back();
      atom(std::max<size_t>(saturating_add(g.sum, g.last), 1), g.max_q);
      ++i;
    } else if (c == '{') {
      // "{n}", "{n,}" or "{n,m}"; anything else is a literal (or regcomp's
      // error).
      size_t j = i + 1;
      size_t bound = 0, number = 0;
      bool digits = false;
      while (j < p.size() && (p[j] == ',' || (p[j] >= '0' && p[j] <= '9'))) {
        if (p[j] == ',') {
          bound = std::max(bound, number);
          number = 0;
        } else {
          number = std::min<size_t>(number * 10 + static_cast<size_t>(p[j] - '0'), 1000000);
          digits = true;
        }
        ++j;
      }
      bound = std::max(bound, number);
      if (digits && j < p.size() && p[j] == '}') {
        groups.back().last = saturating_mul(groups.back().last, std::max<size_t>(bound, 1));
        repeat();
        i = j + 1;
      } else {
        atom(1);
        ++i;
      }
    } else if (c == '|') {
      Group& g = groups.back();
      g.sum = saturating_add(g.sum, g.last);
      g.last = 0;
      g.last_q = 0;
      ++i;
    } else if (c == '*' || c == '+' || c == '?') {
      repeat();
      ++i;
    } else if (c == '^' || c == '$') {
      ++i;
    } else {
      atom(1);
      ++i;
    }
  }
  if (deepest > kMaxRepetitionNesting)
    return Error(Errc::TooBig, "regular expression too complex (repetitions nested " + std::to_string(deepest) +
                                    " deep; at most " + std::to_string(kMaxRepetitionNesting) + ")");
  size_t total = 0;
  for (const Group& g : groups) total = saturating_add(total, saturating_add(g.sum, g.last));
  if (total > kMaxRegexExpansion)
    return Error(Errc::TooBig, "regular expression too complex (its repetition counts expand it past " +
                                    std::to_string(kMaxRegexExpansion) + " atoms)");
  return total;
}

}  // namespace

Result<std::shared_ptr<const Regex>> Regex::compile(std::string_view pattern, Comparator comparator,
                                                    size_t max_pattern_bytes) {
  if (pattern.size() > max_pattern_bytes)
    return Error(Errc::TooBig, "regular expression longer than " + std::to_string(max_pattern_bytes) + " bytes");
  if (pattern.find('\0') != std::string_view::npos)
    return Error(Errc::Invalid, "regular expression contains a NUL character");
  if (comparator == Comparator::AsciiNumeric)
    return Error(Errc::Invalid, "comparator i;ascii-numeric cannot do :regex");
  auto atoms = check_pattern(pattern);
  if (!atoms.ok()) return atoms.take_error();
  int flags = REG_EXTENDED;
  if (comparator == Comparator::AsciiCasemap) flags |= REG_ICASE;
  std::shared_ptr<Regex> regex(new Regex());
  regex->atoms_ = std::max<size_t>(*atoms, 1);
  std::string text(pattern);
  int rc = regcomp(&regex->compiled_, text.c_str(), flags);
  if (rc != 0) {
    char message[256];
    regerror(rc, &regex->compiled_, message, sizeof message);
    // regcomp failed: there is nothing to regfree, and the destructor
    // must not try.
    regex->compiled_ = regex_t{};
    regex->failed_ = true;
    return Error(Errc::Invalid, std::string("bad regular expression: ") + message);
  }
  return std::shared_ptr<const Regex>(std::move(regex));
}

Regex::~Regex() {
  if (!failed_) regfree(&compiled_);
}

size_t Regex::cost(size_t text_bytes) const {
  size_t n = text_bytes + 1;
  return saturating_mul(saturating_mul(n, n), atoms_) / kRegexCostDivisor + n;
}

bool Regex::match(std::string_view text, std::vector<std::string>* captures) const {
  constexpr size_t kGroups = 10;  // ${0} .. ${9}
  regmatch_t m[kGroups];
  // REG_STARTEND: the text is text[0, size), NUL bytes included; no
  // terminating NUL is needed.
  if (text.size() > static_cast<size_t>(std::numeric_limits<regoff_t>::max())) return false;
  m[0].rm_so = 0;
  m[0].rm_eo = static_cast<regoff_t>(text.size());
  const char* data = text.empty() ? "" : text.data();
  // Without captures glibc need not track groups (nmatch 0; REG_STARTEND
  // still reads m[0]).
  if (regexec(&compiled_, data, captures ? kGroups : 0, m, REG_STARTEND) != 0) return false;
  if (captures) {
    captures->clear();
    for (size_t g = 0; g < kGroups; ++g) {
      if (m[g].rm_so < 0 || m[g].rm_eo < m[g].rm_so) {
        captures->emplace_back();
        continue;
      }
      captures->emplace_back(text.substr(static_cast<size_t>(m[g].rm_so), static_cast<size_t>(m[g].rm_eo - m[g].rm_so)));
    }
  }
  return true;
}

}  // namespace cyr::sieve
