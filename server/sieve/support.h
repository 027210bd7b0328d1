// Helpers the interpreter shares with vacation.cpp and date.cpp. Internal
// to server/sieve.
#pragma once

#include <ctime>
#include <optional>
#include <string>
#include <string_view>

namespace cyr::sieve {

// RFC 5230 4.2: the handle a vacation without :handle gets, from what
// makes two vacation actions "the same" response.
std::string default_vacation_handle(std::string_view reason, std::string_view subject, std::string_view from,
                                    bool mime);

// editheader (RFC 5293 4): "Name: value" CRLF as addheader writes it. Line
// breaks in the value become white space; a value with non-ASCII or
// control characters is written as RFC 2047 encoded words (UTF-8, "B");
// the field is folded at white space to stay within 78 characters where
// the value allows it.
std::string script_header_field(std::string_view name, std::string_view value);

// lower(local without "+detail") "@" lower(domain), for comparing the
// recipient's addresses in vacation_may_answer().
std::string normalized_address(std::string_view local, std::string_view domain);

// A time and the zone it is shown in (minutes east of UTC).
struct ZonedTime {
  std::time_t utc = 0;
  int zone_minutes = 0;
};

// A Date-style header value (RFC 5322) with its own zone; nullopt if it is
// not a date.
std::optional<ZonedTime> parse_zoned_date(std::string_view value);

// "+hhmm"/"-hhmm" to minutes east of UTC.
std::optional<int> parse_zone_offset(std::string_view zone);

// RFC 5260 2.3 date-part of t in its zone ("year", "iso8601", ...), or
// nullopt for an unknown part name.
std::optional<std::string> date_part(const ZonedTime& t, std::string_view part);

// "Tue, 01 Nov 2022 10:15:30 +0100"
std::string rfc5322_date(const ZonedTime& t);

}  // namespace cyr::sieve
