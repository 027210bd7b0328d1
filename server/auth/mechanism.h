// SASL server mechanisms (PLAIN, LOGIN, SCRAM-SHA-256) as small state machines
// with no I/O. A protocol session feeds each client response (already base64
// decoded) to step() and sends back what it returns; the mechanism never sees a
// socket, a tag or a wire format, so IMAP, POP3, LMTP and csync share it.
//
// A mechanism only authenticates: it reports who proved their identity
// (authcid) and whom they asked to act as (authzid, empty if none). Whether that
// authorization is allowed, logging and failure delays are the caller's job:
// use SaslExchange from authenticator.h rather than a bare mechanism.
//
// A mechanism object is one exchange, used by one session at a time (not
// thread-safe). It keeps a reference to its CredentialVerifier, which must
// outlive it. step() may block (password checks): run it where blocking is fine.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "server/auth/crypto.h"
#include "store/base/result.h"

namespace cyr::auth {

// Bound on one decoded client message; longer input is rejected (Limit).
inline constexpr size_t kMaxSaslMessage = 8192;

// What the mechanisms need from the password backend. Authenticator implements it.
class CredentialVerifier {
 public:
  virtual ~CredentialVerifier() = default;
  // ok if password is authcid's password; Perm if not (or no such user);
  // Temp if the backend cannot answer now.
  virtual Status check_plaintext(std::string_view authcid, std::string_view password) = 0;
  // authcid's SCRAM record. NotFound if there is no such user; Unavailable if
  // the backend keeps no SCRAM records (saslauthd).
  virtual Result<ScramKeys> scram_keys(std::string_view authcid) = 0;
};

struct SaslStep {
  bool done = false;  // true: authenticated
  std::string data;   // the challenge to send, or (done) additional data for the client
};

class SaslMechanism {
 public:
  virtual ~SaslMechanism() = default;
  virtual std::string_view name() const = 0;

  // The first call gets the initial response, or nullopt if the client sent
  // none; every later call gets the client's answer to the last challenge.
  // Returns the next challenge or done; an Error ends the exchange (Invalid:
  // malformed message, Limit: too long, Perm: bad credentials or refused,
  // Temp: backend down). Calling step() after done or after an Error is Invalid.
  virtual Result<SaslStep> step(std::optional<std::string_view> response) = 0;

  // Valid once step() returned done (SCRAM and PLAIN also know them earlier).
  const std::string& authcid() const { return authcid_; }
  const std::string& authzid() const { return authzid_; }

 protected:
  std::string authcid_;
  std::string authzid_;
};

// RFC 4616: message = [authzid] NUL authcid NUL passwd.
std::unique_ptr<SaslMechanism> make_plain_mechanism(CredentialVerifier& verifier);

// The de-facto LOGIN exchange: "Username:" then "Password:" challenges; a
// SASL-IR initial response is the user name.
std::unique_ptr<SaslMechanism> make_login_mechanism(CredentialVerifier& verifier);

struct ScramServerOptions {
  // Iteration count announced for unknown users (RFC 5802 s5.1: answer as if
  // the user existed, so that SCRAM does not reveal which users exist).
  uint32_t unknown_user_iterations = kDefaultIterations;
  // Key for the fake salt of unknown users (HMAC of the user name), so the fake
  // salt is stable across attempts. Empty: a random key per mechanism object.
  std::string unknown_user_salt_key;
  // Tests only: a fixed server nonce part. Empty (always in production): 18
  // bytes from the CSPRNG, base64-encoded.
  std::string fixed_server_nonce;
};

// RFC 5802 with RFC 7677's SHA-256, without channel binding ("n" and "y"
// gs2 flags; "p=" is refused, as this server offers no -PLUS variant).
std::unique_ptr<SaslMechanism> make_scram_sha256_mechanism(CredentialVerifier& verifier,
                                                           ScramServerOptions options = {});

}  // namespace cyr::auth
