// The shared pieces of the housekeeping commands: Cyrus's duration syntax
// (cyr_expire -E/-X/-D, cyr_unexpunge -t) and user-mailbox detection
// (cyr_ipurge skips user mailboxes without -f).
#include <gtest/gtest.h>

#include "ops/adm/housekeeping.h"

using cyr::ops::adm::is_user_mailbox;
using cyr::ops::adm::parse_duration_days;

TEST(Duration, PlainNumberIsDays) {
  EXPECT_EQ(parse_duration_days("3"), 3 * 86400);
  EXPECT_EQ(parse_duration_days("0"), 0);
  EXPECT_EQ(parse_duration_days("0.5"), 43200);
}

TEST(Duration, UnitSuffixes) {
  EXPECT_EQ(parse_duration_days("2d"), 2 * 86400);
  EXPECT_EQ(parse_duration_days("12h"), 12 * 3600);
  EXPECT_EQ(parse_duration_days("90m"), 90 * 60);
  EXPECT_EQ(parse_duration_days("45s"), 45);
  EXPECT_EQ(parse_duration_days("1.5H"), 5400);
}

TEST(Duration, RejectsGarbage) {
  for (const char* bad : {"", "d", "-1", "3x", "1e3", "1,5", "3dd", " 3", "nan", "inf",
                          "99999999999999999999999999999999999", "40000"}) {
    EXPECT_FALSE(parse_duration_days(bad).has_value()) << bad;
  }
}

TEST(UserMailbox, Detection) {
  EXPECT_TRUE(is_user_mailbox("user.fred"));
  EXPECT_TRUE(is_user_mailbox("user.fred.Sent"));
  EXPECT_TRUE(is_user_mailbox("example.com!user.fred"));
  EXPECT_FALSE(is_user_mailbox("shared.news"));
  EXPECT_FALSE(is_user_mailbox("archive"));
  EXPECT_FALSE(is_user_mailbox("users.x"));
}
