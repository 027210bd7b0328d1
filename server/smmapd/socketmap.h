// The socketmap protocol (Sendmail 8.13's socket map, Postfix's
// socketmap: table type): each request and reply is a netstring
// ("<length>:<bytes>,"), a request "<mapname> <key>", a reply "OK <value>",
// "NOTFOUND ", "TEMP <reason>", "TIMEOUT <reason>" or "PERM <reason>".
// Pure functions, no I/O; server/smmapd/smmapd_service.cpp drives them.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "store/base/result.h"

namespace cyr::smmapd {

// Requests longer than this are refused (an address is at most a few
// hundred bytes; Postfix's own limit on a reply is 100,000).
inline constexpr size_t kMaxRequest = 4096;

struct NetstringScan {
  enum class State { NeedMore, Done, Bad } state = State::NeedMore;
  size_t used = 0;        // Done: bytes of `in` the netstring took
  std::string_view body;  // Done: its payload (a view into `in`)
  std::string why;        // Bad: what was wrong
};

// Reads one netstring from the front of `in`: at most 5 length digits, no
// leading zeros (except "0"), ':', the payload, ','. A payload above
// `max_len` is Bad before it is received.
NetstringScan scan_netstring(std::string_view in, size_t max_len = kMaxRequest);

std::string netstring(std::string_view payload);

struct SocketmapRequest {
  std::string map;  // the table name the client was configured with
  std::string key;  // the address to look up
};

// "<map> <key>": both non-empty, no control characters. Errc::Invalid.
Result<SocketmapRequest> parse_request(std::string_view payload);

}  // namespace cyr::smmapd
