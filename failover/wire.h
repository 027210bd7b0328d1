// The failover line protocol, spoken between the two nodes' controllers,
// between a controller and the witness, and by cyr_failover to its node.
//
// One request is one line: a verb and at most kMaxArgs tokens separated by
// single spaces, at most kMaxLine bytes, tokens of printable ASCII without
// spaces. A reply is zero or more "* <text>" lines and one final line
// "OK <text>" or "NO <text>". Everything is bounded so that a confused or
// hostile sender costs a few hundred bytes, never memory or a stuck thread.
//
// Requests (see docs/failover.md for who sends which):
//   node -> node     PING <node> <role> <epoch> <in_charge> <rejoin> <promoting>
//                    (answered "OK PONG <node>" and the same four fields)
//                    TAKEOVER <node> <epoch>      (switchover / handover)
//                    RECONCILE <node> <epoch>     (rejoin: copy back, then follow)
//   node -> witness  ACQUIRE <node> <epoch> <ttl_ms>
//                    RELEASE <node> <epoch>
//                    QUERY
//   admin -> node    STATUS | SWITCHOVER | PROMOTE FORCE
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "store/base/result.h"

namespace cyr::failover {

inline constexpr size_t kMaxLine = 512;
inline constexpr size_t kMaxArgs = 8;
inline constexpr size_t kMaxReplyLines = 64;

struct Request {
  std::string verb;               // upper-cased
  std::vector<std::string> args;  // as sent
};

// Parses one request line (without CRLF). Invalid: empty, too long, too many
// tokens, a control character or an empty token.
Result<Request> parse_request(std::string_view line);

// A node id or other token is valid if it is 1..64 bytes of [A-Za-z0-9._:@-].
bool valid_token(std::string_view t);

// Decimal uint64 without sign or leading garbage; nullopt otherwise.
std::optional<uint64_t> parse_u64(std::string_view s);

struct Reply {
  bool ok = false;
  std::string text;                // of the final line, after "OK "/"NO "
  std::vector<std::string> lines;  // the "* " lines, without the prefix
};

// Reply text <-> lines. parse_reply takes the whole reply (lines separated by
// "\r\n" or "\n") and fails on anything but the grammar above.
std::string format_reply(const Reply& r);
Result<Reply> parse_reply(std::string_view text);

// The final line's text split on spaces ("PONG n1 primary 3 1 0").
std::vector<std::string> split_words(std::string_view text);

}  // namespace cyr::failover
