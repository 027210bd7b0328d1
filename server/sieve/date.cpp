// Dates for the date extension (RFC 5260) and the vacation answer's Date.
#include <cstdio>

#include "server/sieve/support.h"
#include "server/sieve/text.h"
#include "store/base/ascii.h"
#include "store/mail/message.h"

namespace cyr::sieve {

namespace {

constexpr int64_t kSecondsPerDay = 86400;

int64_t floor_div(int64_t a, int64_t b) { return a / b - ((a % b != 0) && ((a < 0) != (b < 0))); }

// Civil date from days since 1970-01-01 (proleptic Gregorian), so that no
// gmtime_r (and no platform time_t quirk) is needed.
void civil_from_days(int64_t days, int& year, int& month, int& day) {
  days += 719468;
  int64_t era = floor_div(days, 146097);
  int64_t doe = days - era * 146097;
  int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t y = yoe + era * 400;
  int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  int64_t mp = (5 * doy + 2) / 153;
  day = static_cast<int>(doy - (153 * mp + 2) / 5 + 1);
  month = static_cast<int>(mp < 10 ? mp + 3 : mp - 9);
  year = static_cast<int>(y + (month <= 2));
}

struct Fields {
  int year, month, day, hour, minute, second, weekday;  // weekday 0 = Sunday
  int64_t days;                                         // since 1970-01-01 in the zone
};

Fields fields_of(const ZonedTime& t) {
  int64_t local = static_cast<int64_t>(t.utc) + int64_t{t.zone_minutes} * 60;
  Fields f{};
  f.days = floor_div(local, kSecondsPerDay);
  int64_t secs = local - f.days * kSecondsPerDay;
  civil_from_days(f.days, f.year, f.month, f.day);
  f.hour = static_cast<int>(secs / 3600);
  f.minute = static_cast<int>(secs / 60 % 60);
  f.second = static_cast<int>(secs % 60);
  f.weekday = static_cast<int>(((f.days % 7) + 7 + 4) % 7);  // 1970-01-01 was a Thursday
  return f;
}

std::string zone_string(int minutes, bool colon) {
  char buf[16];
  int m = minutes < 0 ? -minutes : minutes;
  std::snprintf(buf, sizeof buf, colon ? "%c%02d:%02d" : "%c%02d%02d", minutes < 0 ? '-' : '+', m / 60, m % 60);
  return buf;
}

}  // namespace

std::optional<int> parse_zone_offset(std::string_view zone) {
  if (zone.size() != 5 || (zone[0] != '+' && zone[0] != '-')) return std::nullopt;
  for (size_t i = 1; i < 5; ++i)
    if (zone[i] < '0' || zone[i] > '9') return std::nullopt;
  int hours = (zone[1] - '0') * 10 + (zone[2] - '0');
  int minutes = (zone[3] - '0') * 10 + (zone[4] - '0');
  if (hours > 23 || minutes > 59) return std::nullopt;
  int total = hours * 60 + minutes;
  return zone[0] == '-' ? -total : total;
}

std::optional<ZonedTime> parse_zoned_date(std::string_view value) {
  // The header's own zone is what the parser read: "+0100", or an obsolete
  // name (EST, ...), 0 for those it does not know.
  ZonedTime t;
  auto utc = mail::parse_rfc5322_date(value, &t.zone_minutes);
  if (!utc) return std::nullopt;
  t.utc = *utc;
  return t;
}

std::optional<std::string> date_part(const ZonedTime& t, std::string_view part) {
  Fields f = fields_of(t);
  char buf[64];
  auto out = [&](const char* fmt, auto... args) {
    std::snprintf(buf, sizeof buf, fmt, args...);
    return std::string(buf);
  };
  std::string p = ascii_lowercase(part);
  if (p == "year") return out("%04d", f.year);
  if (p == "month") return out("%02d", f.month);
  if (p == "day") return out("%02d", f.day);
  if (p == "date") return out("%04d-%02d-%02d", f.year, f.month, f.day);
  if (p == "julian") return std::to_string(f.days + 40587);  // Modified Julian Day: 1970-01-01 is 40587
  if (p == "hour") return out("%02d", f.hour);
  if (p == "minute") return out("%02d", f.minute);
  if (p == "second") return out("%02d", f.second);
  if (p == "time") return out("%02d:%02d:%02d", f.hour, f.minute, f.second);
  if (p == "iso8601")
    return out("%04d-%02d-%02dT%02d:%02d:%02d", f.year, f.month, f.day, f.hour, f.minute, f.second) +
           zone_string(t.zone_minutes, true);
  if (p == "std11") return rfc5322_date(t);
  if (p == "zone") return zone_string(t.zone_minutes, false);
  if (p == "weekday") return std::to_string(f.weekday);
  return std::nullopt;
}

std::string rfc5322_date(const ZonedTime& t) { return mail::format_rfc5322_date(t.utc, t.zone_minutes); }

}  // namespace cyr::sieve
