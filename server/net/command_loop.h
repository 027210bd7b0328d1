// The command loop that LMTP and POP3 sessions share: read one bounded line,
// hand it to the session, flush its replies; until the session or the
// connection ends it. What the protocols say when a line is too long, when
// the server shuts down and when the client idles is theirs (LinePolicy).
#pragma once

#include <string>
#include <string_view>

#include "server/net/connection.h"

namespace cyr::server::net {

struct LinePolicy {
  size_t max_line = 0;
  // Sent for a line over max_line; the session goes on (read_line has
  // skipped the rest of the line), unless close_on_too_long.
  std::string_view too_long;
  // Close after `too_long` instead: for a protocol whose clients send
  // literals without waiting (ManageSieve), the skipped rest may have
  // announced one, whose octets would then be read as commands.
  bool close_on_too_long = false;
  // Sent before closing when the server shuts down.
  std::string_view shutdown;
  // Sent before closing on idle timeout; empty closes without a word (POP3:
  // RFC 1939 wants an autologout to close without a response).
  std::string_view idle;
};

// on_line(const std::string& line) -> awaitable<bool>: false ends the session
// after its replies are flushed. Returns when the session ends, the peer
// goes away or a flush fails.
template <class OnLine>
awaitable<void> serve_command_lines(Connection& conn, LinePolicy policy, OnLine on_line) {
  for (;;) {
    auto line = co_await conn.read_line(policy.max_line);
    if (!line) {
      const EndReason why = conn.end_reason();
      if (why == EndReason::LineTooLong) {
        conn.write(policy.too_long);
        Status sent = co_await conn.flush();
        if (!sent.ok() || policy.close_on_too_long) co_return;
        continue;
      }
      std::string_view last;
      if (why == EndReason::Shutdown) last = policy.shutdown;
      else if (why == EndReason::IdleTimeout) last = policy.idle;
      if (!last.empty()) {
        conn.write(last);
        co_await conn.flush();
      }
      co_return;
    }
    const bool go_on = co_await on_line(*line);
    Status sent = co_await conn.flush();
    if (!sent.ok() || !go_on) co_return;
  }
}

}  // namespace cyr::server::net
