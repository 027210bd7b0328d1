#include "server/event_schedule.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <ctime>

namespace cyr::server {
namespace {

using std::chrono::hours;
using std::chrono::minutes;
using std::chrono::seconds;

// A fixed local time zone, so "at=" results do not depend on the machine.
class EventScheduleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* tz = getenv("TZ");
    saved_ = tz ? tz : "";
    had_ = tz != nullptr;
    setenv("TZ", "UTC", 1);
    tzset();
  }
  void TearDown() override {
    if (had_) setenv("TZ", saved_.c_str(), 1);
    else unsetenv("TZ");
    tzset();
  }
  // 2026-11-23 hh:mm:ss UTC
  static WallClock::time_point at(int hh, int mm, int ss = 0, int day = 23) {
    struct tm tm = {};
    tm.tm_year = 2026 - 1900;
    tm.tm_mon = 10;
    tm.tm_mday = day;
    tm.tm_hour = hh;
    tm.tm_min = mm;
    tm.tm_sec = ss;
    return WallClock::from_time_t(timegm(&tm));
  }
  std::string saved_;
  bool had_ = false;
};

TEST_F(EventScheduleTest, PeriodRunsAtStartThenEveryPeriod) {
  auto s = EventSchedule::from_conf(30, std::nullopt);
  ASSERT_TRUE(s.ok());
  auto now = at(10, 7, 13);
  EXPECT_EQ(s->first_run(now), now);
  auto next = s->next_run(now, now + seconds(5));
  ASSERT_TRUE(next.has_value());
  EXPECT_EQ(*next, now + minutes(30));
}

TEST_F(EventScheduleTest, PeriodSkipsMissedRunsButStaysOnGrid) {
  auto s = EventSchedule::from_conf(10, std::nullopt);
  ASSERT_TRUE(s.ok());
  auto due = at(10, 0);
  // The machine slept for 35 minutes: runs at 10:10, 10:20, 10:30 are not replayed.
  auto next = s->next_run(due, at(10, 35));
  ASSERT_TRUE(next.has_value());
  EXPECT_EQ(*next, at(10, 40));
  // Exactly on a grid point: the next one, never "now" again.
  EXPECT_EQ(*s->next_run(due, at(10, 20)), at(10, 30));
}

TEST_F(EventScheduleTest, NoPeriodRunsOnce) {
  auto s = EventSchedule::from_conf(std::nullopt, std::nullopt);
  ASSERT_TRUE(s.ok());
  auto now = at(9, 0);
  EXPECT_EQ(s->first_run(now), now);
  EXPECT_FALSE(s->next_run(now, now).has_value());
  auto zero = EventSchedule::from_conf(0, std::nullopt);
  ASSERT_TRUE(zero.ok());
  EXPECT_FALSE(zero->next_run(now, now).has_value());
}

TEST_F(EventScheduleTest, AtRunsDailyAtThatTime) {
  auto s = EventSchedule::from_conf(std::nullopt, 400);  // at=0400
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->period_minutes, 1440);
  // Started before 04:00: today.
  EXPECT_EQ(s->first_run(at(1, 30)), at(4, 0));
  // Started after 04:00: tomorrow.
  EXPECT_EQ(s->first_run(at(9, 15)), at(4, 0, 0, 24));
  // Started exactly at 04:00:00: the next one (strictly after).
  EXPECT_EQ(s->first_run(at(4, 0)), at(4, 0, 0, 24));
  // After running today at 04:00, the next is tomorrow.
  auto next = s->next_run(at(4, 0), at(4, 0, 2));
  ASSERT_TRUE(next.has_value());
  EXPECT_EQ(*next, at(4, 0, 0, 24));
}

TEST_F(EventScheduleTest, AtWinsOverPeriod) {
  auto s = EventSchedule::from_conf(5, 2359);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->first_run(at(23, 58)), at(23, 59));
  EXPECT_EQ(*s->next_run(at(23, 59), at(23, 59, 1)), at(23, 59, 0, 24));
}

TEST_F(EventScheduleTest, Midnight) {
  auto s = EventSchedule::from_conf(std::nullopt, 0);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->first_run(at(23, 0)), at(0, 0, 0, 24));
}

TEST_F(EventScheduleTest, RejectsBadValues) {
  EXPECT_FALSE(EventSchedule::from_conf(-1, std::nullopt).ok());
  EXPECT_FALSE(EventSchedule::from_conf(10'000'000, std::nullopt).ok());
  EXPECT_FALSE(EventSchedule::from_conf(std::nullopt, 2400).ok());
  EXPECT_FALSE(EventSchedule::from_conf(std::nullopt, 1260).ok());
  EXPECT_FALSE(EventSchedule::from_conf(std::nullopt, -5).ok());
  auto e = EventSchedule::from_conf(std::nullopt, 1275);
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.error().code, Errc::Invalid);
  EXPECT_NE(e.error().user_message.find("1275"), std::string::npos);
}

}  // namespace
}  // namespace cyr::server
