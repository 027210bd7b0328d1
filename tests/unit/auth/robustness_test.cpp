// Random and mutated input never crashes a mechanism, and a malformed message
// never authenticates anyone.
#include <random>

#include <gtest/gtest.h>

#include "server/auth/base64.h"
#include "server/auth/mechanism.h"
#include "test_util.h"

namespace cyr::auth {
namespace {

std::string random_message(std::mt19937& rng) {
  std::uniform_int_distribution<int> len(0, 80), byte(0, 255), pick(0, 9);
  const char* alphabet = "nyrpcsiam=,\0uU";
  std::string s;
  int n = len(rng);
  for (int i = 0; i < n; ++i)
    s.push_back(pick(rng) < 6 ? alphabet[byte(rng) % 14] : static_cast<char>(byte(rng)));
  return s;
}

TEST(Robustness, RandomInputNeverAuthenticates) {
  testing::FakeVerifier v;
  v.add("user", "pencil");
  ScramServerOptions scram_opts;
  scram_opts.unknown_user_iterations = 8;
  std::mt19937 rng(4711);
  for (int i = 0; i < 3000; ++i) {
    std::unique_ptr<SaslMechanism> m;
    switch (i % 3) {
      case 0: m = make_plain_mechanism(v); break;
      case 1: m = make_login_mechanism(v); break;
      default: m = make_scram_sha256_mechanism(v, scram_opts); break;
    }
    for (int step = 0; step < 4; ++step) {
      auto r = m->step(random_message(rng));
      if (!r) break;
      ASSERT_FALSE(r->done) << "random input authenticated via " << m->name();
    }
  }
}

// Every single-byte change to a valid SCRAM client-final message is refused.
TEST(Robustness, EveryMutationOfTheScramProofFails) {
  testing::FakeVerifier v;
  v.add("user", "pencil", 16);
  ScramServerOptions o;
  o.fixed_server_nonce = "servernonce";
  testing::ScramClient c("user", "pencil", "clientnonce");
  std::string first = c.first();
  std::string server_first;
  {
    auto m = make_scram_sha256_mechanism(v, o);
    server_first = m->step(first).value().data;
  }
  std::string final_msg = c.final_message(server_first);
  for (size_t i = 0; i < final_msg.size(); ++i) {
    std::string mutated = final_msg;
    mutated[i] = static_cast<char>(mutated[i] ^ 0x01);
    auto m = make_scram_sha256_mechanism(v, o);
    ASSERT_TRUE(m->step(first).ok());
    auto r = m->step(mutated);
    EXPECT_FALSE(r.ok() && r->done) << "mutation at " << i << " accepted: " << mutated;
  }
  auto m = make_scram_sha256_mechanism(v, o);
  ASSERT_TRUE(m->step(first).ok());
  EXPECT_TRUE(m->step(final_msg).ok());  // the unmutated message does pass
}

TEST(Robustness, RandomBase64NeverCrashes) {
  std::mt19937 rng(42);
  std::uniform_int_distribution<int> byte(0, 127), len(0, 24);
  int accepted = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string s;
    int n = len(rng);
    for (int k = 0; k < n; ++k) s.push_back(static_cast<char>(byte(rng)));
    auto d = base64_decode(s, 64);
    if (d) {
      ++accepted;
      EXPECT_EQ(base64_encode(*d), s);  // canonical: decode then encode is the identity
    }
  }
  EXPECT_GT(accepted, 0);
}

}  // namespace
}  // namespace cyr::auth
