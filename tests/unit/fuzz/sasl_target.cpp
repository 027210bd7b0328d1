// Fuzz target: SASL exchanges as any client can start them before it has
// authenticated (server/auth/mechanism.h): PLAIN, LOGIN, SCRAM-SHA-256.
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "server/auth/crypto.h"
#include "server/auth/mechanism.h"
#include "tests/unit/fuzz/targets.h"

namespace cyr::fuzz {
namespace {

constexpr std::string_view kUser = "fred";
constexpr std::string_view kPassword = "pencil";

// One user, fred, whose password is "pencil"; everyone else is unknown.
class OneUser : public auth::CredentialVerifier {
 public:
  OneUser() {
    auto k = auth::derive_scram_keys(kPassword, "fixed-salt-0123", 4096);
    FUZZ_CHECK(k.ok());
    keys_ = *k;
  }
  Status check_plaintext(std::string_view authcid, std::string_view password) override {
    if (authcid == kUser && password == kPassword) return {};
    return Error(Errc::Perm, "bad credentials");
  }
  Result<auth::ScramKeys> scram_keys(std::string_view authcid) override {
    if (authcid == kUser) return keys_;
    return Error(Errc::NotFound, "no such user");
  }

 private:
  auth::ScramKeys keys_;
};

// The messages of one exchange: the input cut at "\xff\xfe" (at most 6).
std::vector<std::string_view> messages(std::string_view in) {
  std::vector<std::string_view> out;
  while (out.size() < 5) {
    size_t cut = in.find("\xff\xfe");
    if (cut == std::string_view::npos) break;
    out.push_back(in.substr(0, cut));
    in.remove_prefix(cut + 2);
  }
  out.push_back(in);
  return out;
}

}  // namespace

int sasl(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  static OneUser verifier;
  const unsigned mode = data[0];
  std::string_view in(reinterpret_cast<const char*>(data + 1), std::min<size_t>(size - 1, 4 * auth::kMaxSaslMessage));
  std::unique_ptr<auth::SaslMechanism> mech;
  // The low two bits pick the mechanism, bit 2 leaves the initial response out.
  const unsigned mech_id = mode & 3;
  switch (mech_id) {
    case 0: mech = auth::make_plain_mechanism(verifier); break;
    case 1: mech = auth::make_login_mechanism(verifier); break;
    default: {
      auth::ScramServerOptions o;
      o.unknown_user_iterations = 4096;
      o.unknown_user_salt_key = "fuzz";
      o.fixed_server_nonce = "fuzznonce";
      mech = auth::make_scram_sha256_mechanism(verifier, o);
    }
  }
  auto msgs = messages(in);
  bool first = true, ended = false;
  for (std::string_view m : msgs) {
    // The first call may carry no initial response at all (mode bit 2).
    std::optional<std::string_view> response = m;
    if (first && (mode & 4)) response = std::nullopt;
    first = false;
    auto step = mech->step(response);
    if (!step.ok()) {
      ended = true;
      // After an error the exchange is over.
      auto again = mech->step(std::string_view("x"));
      FUZZ_CHECK(!again.ok());
      break;
    }
    FUZZ_CHECK(step->data.size() <= 4 * auth::kMaxSaslMessage);
    if (step->done) {
      ended = true;
      // Nobody gets in without fred's password (the fuzzer may find it for
      // PLAIN and LOGIN, which send it; never a SCRAM proof).
      FUZZ_CHECK(mech->authcid() == kUser);
      FUZZ_CHECK(mech_id < 2 || in.find("p=") != std::string_view::npos);
      FUZZ_CHECK(!mech->step(std::string_view("")).ok());
      break;
    }
  }
  (void)ended;
  return 0;
}

}  // namespace cyr::fuzz
