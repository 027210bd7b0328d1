#include "server/event_schedule.h"

#include <ctime>
#include <string>

namespace cyr::server {

Result<EventSchedule> EventSchedule::from_conf(std::optional<int> period, std::optional<int> at) {
  EventSchedule s;
  if (period) {
    if (*period < 0 || *period > 366 * 1440)
      return Error(Errc::Invalid, "period=" + std::to_string(*period) +
                                      " out of range (0 to 527040 minutes)");
    s.period_minutes = *period;
  }
  if (at) {
    int hh = *at / 100, mm = *at % 100;
    if (*at < 0 || hh > 23 || mm > 59)
      return Error(Errc::Invalid, "at=" + std::to_string(*at) + " is not a time HHMM (0000-2359)");
    s.at_minute_of_day = hh * 60 + mm;
    s.period_minutes = 1440;  // as Cyrus: at= means daily
  }
  return s;
}

WallClock::time_point next_local_time_of_day(WallClock::time_point after, int minute_of_day) {
  time_t t = WallClock::to_time_t(after);
  struct tm tm;
  localtime_r(&t, &tm);
  // Try today, then the following days; mktime normalises day overflow and
  // DST (tm_isdst = -1), so a 02:30 on a spring-forward day still resolves.
  for (int day = 0; day < 3; ++day) {
    struct tm cand = tm;
    cand.tm_mday += day;
    cand.tm_hour = minute_of_day / 60;
    cand.tm_min = minute_of_day % 60;
    cand.tm_sec = 0;
    cand.tm_isdst = -1;
    time_t c = mktime(&cand);
    if (c != static_cast<time_t>(-1) && WallClock::from_time_t(c) > after)
      return WallClock::from_time_t(c);
  }
  return after + std::chrono::hours(24);  // unreachable for a sane clock
}

WallClock::time_point EventSchedule::first_run(WallClock::time_point now) const {
  if (at_minute_of_day) return next_local_time_of_day(now, *at_minute_of_day);
  return now;
}

std::optional<WallClock::time_point> EventSchedule::next_run(WallClock::time_point last_due,
                                                             WallClock::time_point now) const {
  if (at_minute_of_day) return next_local_time_of_day(std::max(last_due, now), *at_minute_of_day);
  if (period_minutes <= 0) return std::nullopt;
  const auto period = std::chrono::minutes(period_minutes);
  auto next = last_due + period;
  if (next <= now) {
    // Skip the runs missed (suspended machine, clock jump): stay on the grid.
    auto missed = (now - last_due) / period;
    next = last_due + period * (missed + 1);
  }
  return next;
}

}  // namespace cyr::server
