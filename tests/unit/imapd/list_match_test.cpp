#include "server/imapd/list_match.h"

#include <gtest/gtest.h>

namespace cyr::imapd {
namespace {

TEST(ListMatch, StarMatchesEverything) {
  EXPECT_TRUE(list_pattern_match("*", "INBOX", '/'));
  EXPECT_TRUE(list_pattern_match("*", "a/b/c", '/'));
  EXPECT_TRUE(list_pattern_match("a/*", "a/b/c", '/'));
  EXPECT_FALSE(list_pattern_match("a/*", "b/c", '/'));
  EXPECT_TRUE(list_pattern_match("*c", "a/b/c", '/'));
}

TEST(ListMatch, PercentStopsAtSeparator) {
  EXPECT_TRUE(list_pattern_match("%", "Sent", '/'));
  EXPECT_FALSE(list_pattern_match("%", "Sent/2024", '/'));
  EXPECT_TRUE(list_pattern_match("%/%", "Sent/2024", '/'));
  EXPECT_TRUE(list_pattern_match("S%t", "Sent", '/'));
  EXPECT_FALSE(list_pattern_match("S%t", "S/t", '/'));
  EXPECT_TRUE(list_pattern_match("S%t", "S/t", '.'));
}

TEST(ListMatch, Literal) {
  EXPECT_TRUE(list_pattern_match("Drafts", "Drafts", '/'));
  EXPECT_FALSE(list_pattern_match("Drafts", "drafts", '/'));
  EXPECT_FALSE(list_pattern_match("Draft", "Drafts", '/'));
  EXPECT_TRUE(list_pattern_match("", "", '/'));
}

TEST(ListMatch, LongPatternsAreNotExponential) {
  std::string pattern(200, '*');
  pattern += "x";
  std::string name(400, 'a');
  EXPECT_FALSE(list_pattern_match(pattern, name, '/'));
}

TEST(ListMatch, FullPatternNormalisesInbox) {
  EXPECT_EQ(list_full_pattern("", "inbox"), "INBOX");
  EXPECT_EQ(list_full_pattern("", "InBox/*"), "INBOX/*");
  EXPECT_EQ(list_full_pattern("", "inboxes"), "inboxes");
  EXPECT_EQ(list_full_pattern("Archive/", "%"), "Archive/%");
}

}  // namespace
}  // namespace cyr::imapd
