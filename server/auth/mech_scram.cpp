// SCRAM-SHA-256 server (RFC 5802, RFC 7677), without channel binding.
//
//   client-first  = gs2-header client-first-bare
//   gs2-header    = ("n" / "y" / "p=" cb-name) "," ["a=" saslname] ","
//   client-first-bare = ["m=" ext ","] "n=" saslname ",r=" c-nonce ["," ext]*
//   server-first  = "r=" c-nonce s-nonce ",s=" base64(salt) ",i=" iterations
//   client-final  = "c=" base64(gs2-header) ",r=" nonce ["," ext]* ",p=" base64(proof)
//   server-final  = "v=" base64(ServerSignature)
#include <vector>

#include "server/auth/base64.h"
#include "server/auth/mechanism.h"
#include "server/auth/saslprep.h"

namespace cyr::auth {
namespace {

constexpr size_t kServerNonceBytes = 18;  // 24 base64 characters

Error malformed(const std::string& why) {
  return Error(Errc::Invalid, "Invalid authentication message", "SCRAM-SHA-256: " + why);
}

Error auth_failed(const std::string& why) {
  return Error(Errc::Perm, "Authentication failed", "SCRAM-SHA-256: " + why);
}

std::vector<std::string_view> split_commas(std::string_view s) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  for (;;) {
    size_t comma = s.find(',', start);
    parts.push_back(s.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start));
    if (comma == std::string_view::npos) return parts;
    start = comma + 1;
  }
}

// saslname: "=2C" stands for ',' and "=3D" for '='; any other '=' is an error.
Result<std::string> decode_saslname(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '=') {
      out.push_back(s[i]);
      continue;
    }
    std::string_view esc = s.substr(i, 3);
    if (esc == "=2C") out.push_back(',');
    else if (esc == "=3D") out.push_back('=');
    else return malformed("bad '=' escape in a name");
    i += 2;
  }
  if (out.find('\0') != std::string::npos || !is_valid_utf8(out)) return malformed("NUL or bad UTF-8 in a name");
  return out;
}

bool valid_nonce(std::string_view n) {
  if (n.empty()) return false;
  for (unsigned char c : n)
    if (c < 0x21 || c > 0x7E || c == ',') return false;
  return true;
}

// An extension attribute: one ASCII letter, '=', a value (RFC 5802 s7).
bool valid_extension(std::string_view part) {
  if (part.size() < 3 || part[1] != '=') return false;
  char a = part[0];
  return (a >= 'a' && a <= 'z') || (a >= 'A' && a <= 'Z');
}

class ScramSha256Mechanism final : public SaslMechanism {
 public:
  ScramSha256Mechanism(CredentialVerifier& v, ScramServerOptions o) : verifier_(v), opts_(std::move(o)) {}
  ~ScramSha256Mechanism() override {
    secure_wipe(keys_.stored_key);
    secure_wipe(keys_.server_key);
  }
  std::string_view name() const override { return "SCRAM-SHA-256"; }

  Result<SaslStep> step(std::optional<std::string_view> response) override {
    State state = state_;
    state_ = State::Finished;  // any error ends the exchange; success paths set the next state
    switch (state) {
      case State::Start:
        if (!response) {
          state_ = State::AwaitClientFirst;
          return SaslStep{false, ""};
        }
        return client_first(*response);
      case State::AwaitClientFirst:
        if (!response) return malformed("missing client-first message");
        return client_first(*response);
      case State::AwaitClientFinal:
        if (!response) return malformed("missing client-final message");
        return client_final(*response);
      case State::Finished:
        break;
    }
    return Error(Errc::Invalid, "Authentication exchange already finished", "SCRAM-SHA-256: step after the end");
  }

 private:
  enum class State { Start, AwaitClientFirst, AwaitClientFinal, Finished };

  Result<SaslStep> client_first(std::string_view msg) {
    if (msg.size() > kMaxSaslMessage)
      return Error(Errc::Limit, "Authentication message too long", "SCRAM-SHA-256: client-first over limit");
    if (msg.find('\0') != std::string_view::npos) return malformed("NUL in client-first");

    // gs2-header: the channel-binding flag, then the optional authzid.
    size_t comma1 = msg.find(',');
    if (comma1 == std::string_view::npos) return malformed("no gs2 header");
    std::string_view flag = msg.substr(0, comma1);
    if (flag.starts_with("p="))
      return auth_failed("client requires channel binding, which this server does not offer");
    // "y": the client could bind but thinks we cannot. We offer no -PLUS
    // mechanism, so that belief is right and there is no downgrade to detect.
    if (flag != "n" && flag != "y") return malformed("bad channel-binding flag");
    size_t comma2 = msg.find(',', comma1 + 1);
    if (comma2 == std::string_view::npos) return malformed("gs2 header not terminated");
    std::string_view authz = msg.substr(comma1 + 1, comma2 - comma1 - 1);
    if (!authz.empty()) {
      if (!authz.starts_with("a=") || authz.size() == 2) return malformed("bad authzid");
      auto decoded = decode_saslname(authz.substr(2));
      if (!decoded) return decoded.take_error();
      authzid_ = std::move(*decoded);
    }
    gs2_header_ = std::string(msg.substr(0, comma2 + 1));
    client_first_bare_ = std::string(msg.substr(comma2 + 1));

    auto parts = split_commas(client_first_bare_);
    if (parts[0].starts_with("m=")) return malformed("unsupported mandatory extension");
    if (parts.size() < 2 || !parts[0].starts_with("n=") || !parts[1].starts_with("r="))
      return malformed("client-first must be n=...,r=...");
    auto user = decode_saslname(parts[0].substr(2));
    if (!user) return user.take_error();
    if (user->empty()) return malformed("empty user name");
    // The user name is SASLprep'ed by the client (RFC 5802 s5.1); we apply
    // the same preparation so both spell it alike.
    auto prepared = saslprep(*user);
    if (!prepared) return malformed("user name fails SASLprep");
    authcid_ = std::move(*prepared);
    std::string_view client_nonce = parts[1].substr(2);
    if (!valid_nonce(client_nonce)) return malformed("bad client nonce");
    for (size_t i = 2; i < parts.size(); ++i)
      if (!valid_extension(parts[i])) return malformed("bad extension attribute");

    CYR_TRY(load_keys());

    std::string server_nonce = opts_.fixed_server_nonce;
    if (server_nonce.empty()) {
      auto rnd = random_bytes(kServerNonceBytes);
      if (!rnd) return rnd.take_error();
      server_nonce = base64_encode(*rnd);
    }
    nonce_ = std::string(client_nonce) + server_nonce;
    server_first_ = "r=" + nonce_ + ",s=" + base64_encode(keys_.salt) + ",i=" + std::to_string(keys_.iterations);
    state_ = State::AwaitClientFinal;
    return SaslStep{false, server_first_};
  }

  // The user's record, or for an unknown user a fake one that no proof can
  // match, with a salt that stays the same across attempts.
  Status load_keys() {
    auto keys = verifier_.scram_keys(authcid_);
    if (keys) {
      keys_ = std::move(*keys);
      return ok_status();
    }
    if (keys.error().code != Errc::NotFound) return keys.take_error();
    unknown_user_ = true;
    if (opts_.unknown_user_salt_key.empty()) {
      auto k = random_bytes(32);
      if (!k) return k.take_error();
      opts_.unknown_user_salt_key = std::move(*k);
    }
    keys_.salt = hmac_sha256(opts_.unknown_user_salt_key, authcid_).substr(0, kSaltSize);
    keys_.iterations = opts_.unknown_user_iterations;
    auto rnd = random_bytes(2 * kSha256Size);
    if (!rnd) return rnd.take_error();
    keys_.stored_key = rnd->substr(0, kSha256Size);
    keys_.server_key = rnd->substr(kSha256Size);
    return ok_status();
  }

  Result<SaslStep> client_final(std::string_view msg) {
    if (msg.size() > kMaxSaslMessage)
      return Error(Errc::Limit, "Authentication message too long", "SCRAM-SHA-256: client-final over limit");
    if (msg.find('\0') != std::string_view::npos) return malformed("NUL in client-final");
    // The proof is the last attribute; a value never holds a ',', so the last
    // ",p=" starts it.
    size_t proof_at = msg.rfind(",p=");
    if (proof_at == std::string_view::npos) return malformed("no proof");
    std::string_view without_proof = msg.substr(0, proof_at);
    auto proof = base64_decode(msg.substr(proof_at + 3), kSha256Size);
    if (!proof || proof->size() != kSha256Size) return malformed("bad proof encoding");

    auto parts = split_commas(without_proof);
    if (parts.size() < 2 || !parts[0].starts_with("c=") || !parts[1].starts_with("r="))
      return malformed("client-final must be c=...,r=...,p=...");
    auto cbind = base64_decode(parts[0].substr(2), 1024);
    if (!cbind) return malformed("bad channel-binding encoding");
    // Without channel binding, c= carries exactly the gs2 header sent first.
    if (*cbind != gs2_header_) return auth_failed("channel-binding data does not match the gs2 header");
    if (parts[1].substr(2) != nonce_) return auth_failed("nonce mismatch");
    for (size_t i = 2; i < parts.size(); ++i)
      if (!valid_extension(parts[i])) return malformed("bad extension attribute");

    std::string auth_message = client_first_bare_ + "," + server_first_ + "," + std::string(without_proof);
    std::string client_signature = hmac_sha256(keys_.stored_key, auth_message);
    std::string client_key = xor_bytes(*proof, client_signature);
    bool match = constant_time_equal(sha256(client_key), keys_.stored_key);
    secure_wipe(client_key);
    if (unknown_user_) return auth_failed("unknown user");
    if (!match) return auth_failed("invalid proof");
    std::string server_signature = hmac_sha256(keys_.server_key, auth_message);
    return SaslStep{true, "v=" + base64_encode(server_signature)};
  }

  CredentialVerifier& verifier_;
  ScramServerOptions opts_;
  State state_ = State::Start;
  std::string gs2_header_;
  std::string client_first_bare_;
  std::string server_first_;
  std::string nonce_;
  ScramKeys keys_;
  bool unknown_user_ = false;
};

}  // namespace

std::unique_ptr<SaslMechanism> make_scram_sha256_mechanism(CredentialVerifier& verifier,
                                                           ScramServerOptions options) {
  return std::make_unique<ScramSha256Mechanism>(verifier, std::move(options));
}

}  // namespace cyr::auth
