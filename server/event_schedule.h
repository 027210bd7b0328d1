// EventSchedule: when a cyrus.conf EVENTS entry runs.
//
// Cyrus semantics (cyrus.conf(5)): `at=HHMM` runs the entry every day at that
// local time (and implies period=1440); `period=N` runs it at start-up and
// then every N minutes; neither (or period=0) runs it once, at start-up.
// Computation is pure (the current time is a parameter) so it can be tested
// without waiting. Value type; thread-compatible.
#pragma once

#include <chrono>
#include <optional>

#include "store/base/result.h"

namespace cyr::server {

using WallClock = std::chrono::system_clock;

struct EventSchedule {
  int period_minutes = 0;       // 0: once (unless at_minute_of_day is set)
  std::optional<int> at_minute_of_day;  // 0..1439, local time

  // Validates cyrus.conf values: period >= 0 (at most a year), at in 0000..2359
  // with minutes < 60. Fails with Errc::Invalid naming the bad value.
  static Result<EventSchedule> from_conf(std::optional<int> period, std::optional<int> at);

  // When the entry first runs after the master starts at `now`.
  WallClock::time_point first_run(WallClock::time_point now) const;

  // When it runs next, given the run that was due at `last_due`; never in the
  // past of `now` (runs missed while the machine slept are not replayed).
  // Empty when the entry runs only once.
  std::optional<WallClock::time_point> next_run(WallClock::time_point last_due,
                                                WallClock::time_point now) const;
};

// The first local time at hh:mm (minute_of_day) strictly after `after`.
WallClock::time_point next_local_time_of_day(WallClock::time_point after, int minute_of_day);

}  // namespace cyr::server
