// Client for a running saslauthd (sasl_pwcheck_method: saslauthd), over its
// unix socket (sasl_saslauthd_path, default /var/run/saslauthd/mux).
//
// The wire protocol: the client sends four counted strings, each a 2-byte
// big-endian length and that many bytes: login, password, service, realm. The
// daemon answers with one counted string that starts "OK" (accepted) or "NO"
// (refused), optionally followed by a reason. One request per connection.
//
// Every field and the reply are bounded, and the whole exchange (connect, send,
// receive) has one deadline. Blocking: call from a blocking-work pool. A free
// function with no shared state; thread-safe.
#pragma once

#include <chrono>
#include <filesystem>
#include <string>

#include "store/base/result.h"

namespace cyr::auth {

inline constexpr const char* kDefaultSaslauthdPath = "/var/run/saslauthd/mux";
inline constexpr size_t kMaxSaslauthdField = 1024;  // saslauthd's own per-field buffer bound
inline constexpr size_t kMaxSaslauthdReply = 1024;

struct SaslauthdRequest {
  std::string login;
  std::string password;
  std::string service;  // "imap", "pop", "lmtp", ...
  std::string realm;    // often empty
};

struct SaslauthdReply {
  bool accepted = false;
  std::string text;  // the whole reply, e.g. "OK" or "NO authentication failed"
};

// Asks saslauthd. A definite answer (OK or NO) is a value; failing to get one
// is an Error: Limit (a field over kMaxSaslauthdField), Temp (cannot connect,
// timeout, connection closed early) or Io (a reply that is not "OK"/"NO" or is
// oversized).
Result<SaslauthdReply> saslauthd_check(const std::filesystem::path& socket_path,
                                       const SaslauthdRequest& request,
                                       std::chrono::milliseconds timeout);

}  // namespace cyr::auth
