// Authentication of the failover control port and of the witness: a shared
// secret (imapd.conf failover_secret) proven by HMAC-SHA256 challenge-response
// in both directions, so that neither a stranger who can reach a port nor a
// stranger who answers in the peer's or the witness's place can move roles,
// leases or epochs; and every request and reply after that carries a MAC, so
// that nobody on the path can alter, replay or reorder them either.
//
// Every connection starts with the server's greeting (a wire.h reply):
//   OK CYRFO <version> HMAC-SHA256 <Ns>     a secret is configured
//   OK CYRFO <version> OPEN                 none: anyone may send requests
// With a secret the client's first line must be
//   AUTH HMAC-SHA256 <Nc> <proof>     proof = HMAC(secret, kClientLabel || Ns || Nc)
// and the server answers
//   OK AUTHENTICATED <sproof>         sproof = HMAC(secret, kServerLabel || Ns || Nc)
// which the client checks before it sends its request, or "NO AUTH-..." and
// closes. Nonces are 32 random bytes, in hex; proofs are compared with
// CRYPTO_memcmp. The two labels differ, so a proof one side computes is
// never an answer the other side accepts (no reflection), and a fresh Ns per
// connection makes a recorded answer worthless on the next one (no replay).
//
// Then both sides hold a key of this connection alone,
//   K = HMAC(secret, kSessionLabel || Ns || Nc),
// and the n-th request (n = 0, 1, ...) and its reply travel sealed:
//   MAC <HMAC(K, "request " n LF request)> <request>
//   * MAC <HMAC(K, "reply " n LF reply)>      followed by the reply's lines
// A request or reply that was changed, replayed, dropped or moved (n is
// counted by both sides, never sent) fails its MAC: the server refuses and
// closes, the client reports an error and uses nothing of the reply.
// The traffic is not encrypted: role, epoch and lease figures are not
// secret, their integrity is what keeps two nodes from both taking writes.
//
// Mismatched configurations fail at once and both sides log why: a client
// without a secret that meets a challenge sends "AUTH NONE"; a client with a
// secret that meets an OPEN service sends "AUTH HMAC-SHA256" without a proof
// (it never talks to an unauthenticated service). The version in the
// greeting lets a later format be told apart instead of misread (and the
// labels carry it, so an altered version number fails the proofs).
// Pure state machines, no I/O: the Asio service (ops/failover.cpp),
// LineServer and exchange() (net.cpp) drive them.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "failover/wire.h"
#include "store/base/result.h"

namespace cyr::failover {

inline constexpr int kProtocolVersion = 3;
inline constexpr size_t kMinSecretLength = 16;
inline constexpr size_t kMaxSecretLength = 1024;
inline constexpr size_t kNonceBytes = 32;
// Bytes a server reads from a client that has not authenticated yet (one
// AUTH line is 4 + 1 + 11 + 1 + 64 + 1 + 64 = 146 bytes).
inline constexpr size_t kMaxAuthLine = 200;
// How long a server waits for that line.
inline constexpr std::chrono::seconds kAuthTimeout{10};
// A sealed request line: "MAC " + 64 hex digits + " " + the request.
inline constexpr size_t kMacHexLength = 2 * 32;
inline constexpr size_t kMaxSealedLine = kMaxLine + 4 + kMacHexLength + 1;

inline constexpr std::string_view kClientLabel{"cyrus-failover-3 client", 24};  // with its NUL
inline constexpr std::string_view kServerLabel{"cyrus-failover-3 server", 24};
inline constexpr std::string_view kSessionLabel{"cyrus-failover-3 session", 25};

// "" (no authentication) or kMinSecretLength..kMaxSecretLength bytes of
// printable ASCII; otherwise Errc::Invalid with what is wrong.
Status check_secret(std::string_view secret);

// The proofs, in lower-case hex (for tests and the two state machines).
std::string client_proof(std::string_view secret, std::string_view ns_hex, std::string_view nc_hex);
std::string server_proof(std::string_view secret, std::string_view ns_hex, std::string_view nc_hex);

// One connection's server side. Created per connection (a fresh nonce each).
class ServerAuth {
 public:
  // secret "" = an open service. Fails only if the CSPRNG does.
  static Result<ServerAuth> create(std::string secret);

  const std::string& greeting() const { return greeting_; }  // send first
  bool authenticated() const { return done_; }
  // The longest line to read from the client next.
  size_t max_line() const { return !done_ ? kMaxAuthLine : key_.empty() ? kMaxLine : kMaxSealedLine; }

  struct Step {
    enum Kind {
      Request,        // hand `request` to the service; send seal(its reply)
      Authenticated,  // send `reply`, then serve requests
      Refused,        // send `reply`, log `why` with the peer's address, close
    } kind = Request;
    std::string reply;
    std::string why;
    std::string request;  // Request: the line without its MAC
  };
  // Each line the client sends, before and after authentication.
  Step on_line(std::string_view line);
  // The reply to the request on_line() just passed, as it is to be sent
  // (with its MAC line first on an authenticated connection).
  std::string seal(std::string reply);

 private:
  ServerAuth() = default;
  std::string secret_;
  std::string nonce_hex_;
  std::string greeting_;
  bool done_ = false;  // authenticated, or open
  std::string key_;    // this connection's MAC key, once authenticated
  uint64_t seq_ = 0;   // the number of the next request
  bool sealing_ = false;  // a request passed and its reply is not sealed yet
};

// One connection's client side.
class ClientAuth {
 public:
  explicit ClientAuth(std::string secret) : secret_(std::move(secret)) {}

  // The greeting -> the line to send before the request (nullopt: none, the
  // service is open and so is this side). An error is what to report; when
  // `*tell` is set, send that line anyway first, so the server logs the
  // mismatch too, then give up.
  Result<std::optional<std::string>> on_greeting(const Reply& greeting, std::string* tell);
  // The server's answer to our AUTH line: checks the server's own proof.
  Status on_answer(const Reply& answer);

  // The request line to send (sealed once authenticated), and the server's
  // whole reply text to it (read_reply's) -> the reply, if its MAC holds.
  std::string seal(std::string_view request);
  Result<Reply> open(std::string_view reply_text);

 private:
  std::string secret_;
  std::string ns_hex_;
  std::string nc_hex_;
  std::string key_;   // this connection's MAC key, once authenticated
  uint64_t seq_ = 0;  // the number of the next request
};

// HMAC(key, what " " seq LF text) in lower-case hex: the MAC of the seq-th
// request ("request") or reply ("reply") on a connection (for tests).
std::string message_mac(std::string_view key, std::string_view what, uint64_t seq, std::string_view text);
// K of a connection (for tests).
std::string session_key(std::string_view secret, std::string_view ns_hex, std::string_view nc_hex);

// One warning line for a refused connection, with the peer's address; the
// same peer and reason are logged at most once every 10 s (with a count of
// what was left out), so a misconfigured peer does not flood the log.
void log_refusal(const std::string& peer, const std::string& why);

}  // namespace cyr::failover
