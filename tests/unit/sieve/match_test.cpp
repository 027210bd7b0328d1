// :matches globbing, its match variables and its work bound; comparator
// ordering.
#include "server/sieve/match.h"

#include <gtest/gtest.h>

#include <chrono>

#include "tests/unit/sieve/sieve_test_util.h"

namespace cyr::sieve {
namespace {

struct Glob {
  bool matched = false;
  bool exceeded = false;
  size_t work = 0;
  std::vector<std::string> captures;
};

Glob glob(std::string_view text, std::string_view pattern, Comparator c = Comparator::AsciiCasemap,
          size_t max_work = 1u << 20) {
  Glob g;
  g.matched = glob_match(text, pattern, c, max_work, g.work, g.exceeded, &g.captures);
  return g;
}

TEST(SieveGlob, Basics) {
  EXPECT_TRUE(glob("", "").matched);
  EXPECT_TRUE(glob("", "*").matched);
  EXPECT_FALSE(glob("", "?").matched);
  EXPECT_FALSE(glob("a", "").matched);
  EXPECT_TRUE(glob("abc", "abc").matched);
  EXPECT_TRUE(glob("ABC", "abc").matched);
  EXPECT_FALSE(glob("ABC", "abc", Comparator::Octet).matched);
  EXPECT_TRUE(glob("abc", "a*").matched);
  EXPECT_TRUE(glob("abc", "*c").matched);
  EXPECT_TRUE(glob("abc", "a?c").matched);
  EXPECT_FALSE(glob("abc", "a?").matched);
  EXPECT_TRUE(glob("abcabc", "*bc*bc").matched);
  EXPECT_FALSE(glob("abcab", "*bc*bc").matched);
  EXPECT_TRUE(glob("mississippi", "m*iss*ppi").matched);
  EXPECT_TRUE(glob("mississippi", "*s*s*s*s*").matched);
  EXPECT_FALSE(glob("mississippi", "*s*s*s*s*s*").matched);
}

TEST(SieveGlob, Escapes) {
  EXPECT_TRUE(glob("a*b", "a\\*b").matched);
  EXPECT_FALSE(glob("axb", "a\\*b").matched);
  EXPECT_TRUE(glob("a?b", "a\\?b").matched);
  EXPECT_FALSE(glob("axb", "a\\?b").matched);
  EXPECT_TRUE(glob("a\\b", "a\\\\b").matched);
  // A lone trailing backslash is literal.
  EXPECT_TRUE(glob("a\\", "a\\").matched);
}

TEST(SieveGlob, QuestionMarkIsOneCharacter) {
  EXPECT_TRUE(glob("caf\xC3\xA9", "caf?").matched);
  EXPECT_FALSE(glob("caf\xC3\xA9", "caf??").matched);
  auto g = glob("\xC3\xA9t\xC3\xA9", "?t*");
  ASSERT_TRUE(g.matched);
  EXPECT_EQ(g.captures, (std::vector<std::string>{"\xC3\xA9t\xC3\xA9", "\xC3\xA9", "\xC3\xA9"}));
}

TEST(SieveGlob, CapturesLeftmostShortest) {
  auto g = glob("coyote@ACME.Example.COM", "coyote@**.com");
  ASSERT_TRUE(g.matched);
  EXPECT_EQ(g.captures, (std::vector<std::string>{"coyote@ACME.Example.COM", "", "ACME.Example"}));
  g = glob("a.b.c", "*.*");
  ASSERT_TRUE(g.matched);
  EXPECT_EQ(g.captures, (std::vector<std::string>{"a.b.c", "a", "b.c"}));
  g = glob("xaaay", "*a?*");
  ASSERT_TRUE(g.matched);
  EXPECT_EQ(g.captures, (std::vector<std::string>{"xaaay", "x", "a", "ay"}));
  g = glob("abc", "a*");
  EXPECT_EQ(g.captures, (std::vector<std::string>{"abc", "bc"}));
  g = glob("abc", "*");
  EXPECT_EQ(g.captures, (std::vector<std::string>{"abc", "abc"}));
}

TEST(SieveGlob, PathologicalPatternIsFast) {
  std::string text(10 * 1024, 'a');
  auto start = std::chrono::steady_clock::now();
  auto g = glob(text, "*a*a*a*a*a*b");
  auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_FALSE(g.matched);
  EXPECT_FALSE(g.exceeded);
  EXPECT_LT(g.work, 100000u);  // linear here, not exponential
  EXPECT_LT(elapsed, std::chrono::milliseconds(200));

  g = glob(text + "b", "*a*a*a*a*a*b");
  EXPECT_TRUE(g.matched);

  // The worst case for one backtracking point is |text| * |pattern|: the
  // bound stops it.
  std::string pattern = "*" + std::string(2000, 'a') + "b";
  start = std::chrono::steady_clock::now();
  g = glob(text, pattern, Comparator::AsciiCasemap, 100000);
  elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_FALSE(g.matched);
  EXPECT_TRUE(g.exceeded);
  EXPECT_LT(elapsed, std::chrono::milliseconds(200));
}

TEST(SieveGlob, WorkBoundIsARuntimeError) {
  std::string value(8000, 'a');
  testing::Mail mail("Subject: " + value + "\r\n\r\n");
  Limits limits;
  limits.max_match_work = 10000;
  std::string pattern = "*" + std::string(100, 'a') + "b";
  auto out = testing::run("if header :matches \"subject\" \"" + pattern + "\" { discard; }", mail, limits);
  EXPECT_EQ(testing::describe(out), "implicit-keep !error");
  EXPECT_EQ(out.errors.at(0), "line 1: :matches needed more than 10000 steps");
  // The pathological pattern of the RFC discussion runs in linear time
  // and well within the default bound.
  std::string big(10 * 1024, 'a');
  testing::Mail big_mail("Subject: " + big + "\r\n\r\n");
  auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(testing::actions("if header :matches \"subject\" \"*a*a*a*a*a*b\" { discard; }", big_mail),
            "implicit-keep");
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(500));
}

TEST(SieveCompare, Orderings) {
  EXPECT_LT(compare("a", "B", Comparator::AsciiCasemap), 0);
  EXPECT_GT(compare("a", "B", Comparator::Octet), 0);
  EXPECT_EQ(compare("abc", "ABC", Comparator::AsciiCasemap), 0);
  EXPECT_LT(compare("ab", "abc", Comparator::Octet), 0);
  EXPECT_EQ(compare("007", "7", Comparator::AsciiNumeric), 0);
  EXPECT_LT(compare("9", "10", Comparator::AsciiNumeric), 0);
  EXPECT_GT(compare("123456789012345678901234567890", "99", Comparator::AsciiNumeric), 0);
  EXPECT_LT(compare("5", "x", Comparator::AsciiNumeric), 0);  // a number is below "infinity"
  EXPECT_EQ(compare("x", "y", Comparator::AsciiNumeric), 0);
  EXPECT_EQ(compare("12abc", "12", Comparator::AsciiNumeric), 0);
}

}  // namespace
}  // namespace cyr::sieve
