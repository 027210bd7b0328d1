#include "server/auth/crypto.h"

#include <gtest/gtest.h>

#include "test_util.h"

namespace cyr::auth {
namespace {

using testing::unhex;

// RFC 7914 s11: PBKDF2-HMAC-SHA-256 test vectors.
TEST(Pbkdf2, Rfc7914VectorOneIteration) {
  auto dk = pbkdf2_hmac_sha256("passwd", "salt", 1, 64);
  ASSERT_TRUE(dk.ok());
  EXPECT_EQ(to_hex(*dk),
            "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc"
            "49ca9cccf179b645991664b39d77ef317c71b845b1e30bd509112041d3a19783");
}

TEST(Pbkdf2, Rfc7914Vector80000Iterations) {
  auto dk = pbkdf2_hmac_sha256("Password", "NaCl", 80000, 64);
  ASSERT_TRUE(dk.ok());
  EXPECT_EQ(to_hex(*dk),
            "4ddcd8f60b98be21830cee5ef22701f9641a4418d04c0414aeff08876b34ab56"
            "a1d425a1225833549adb841b51c9b3176a272bdebba1d078478f62b397f33c8d");
}

TEST(Pbkdf2, RejectsOutOfRangeParameters) {
  EXPECT_EQ(pbkdf2_hmac_sha256("p", "s", 0, 32).error().code, Errc::Invalid);
  EXPECT_EQ(pbkdf2_hmac_sha256("p", "s", kMaxIterations + 1, 32).error().code, Errc::Invalid);
  EXPECT_EQ(pbkdf2_hmac_sha256("p", "s", 1, 0).error().code, Errc::Invalid);
}

// RFC 4231 test case 2.
TEST(HmacSha256, Rfc4231Case2) {
  EXPECT_EQ(to_hex(hmac_sha256("Jefe", "what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST(Sha256, EmptyString) {
  EXPECT_EQ(to_hex(sha256("")), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(ConstantTimeEqual, ComparesContentAndLength) {
  EXPECT_TRUE(constant_time_equal("abc", "abc"));
  EXPECT_TRUE(constant_time_equal("", ""));
  EXPECT_FALSE(constant_time_equal("abc", "abd"));
  EXPECT_FALSE(constant_time_equal("abc", "ab"));
  EXPECT_FALSE(constant_time_equal(std::string("a\0b", 3), std::string("a\0c", 3)));
}

TEST(RandomBytes, DistinctAndSized) {
  auto a = random_bytes(16), b = random_bytes(16);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->size(), 16u);
  EXPECT_NE(*a, *b);
}

// RFC 7677 s3's salt and password give the keys that make its exchange work;
// the exchange itself is checked in mechanism_test.cpp.
TEST(ScramKeys, VerifyPasswordAgainstStoredKey) {
  auto keys = derive_scram_keys("pencil", base64_decode("W22ZaJ0SNY7soEsUEjb6gQ==", 64).value(), 4096);
  ASSERT_TRUE(keys.ok());
  EXPECT_EQ(keys->stored_key.size(), 32u);
  EXPECT_EQ(keys->server_key.size(), 32u);
  EXPECT_TRUE(verify_password_against(*keys, "pencil").ok());
  auto bad = verify_password_against(*keys, "pencil2");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, Errc::Perm);
  // StoredKey is a hash of ClientKey, not SaltedPassword itself.
  std::string salted = pbkdf2_hmac_sha256("pencil", keys->salt, 4096, 32).value();
  EXPECT_NE(keys->stored_key, salted);
  EXPECT_EQ(keys->stored_key, sha256(hmac_sha256(salted, "Client Key")));
}

TEST(SecureWipe, ClearsString) {
  std::string s = "secret";
  secure_wipe(s);
  EXPECT_TRUE(s.empty());
}

}  // namespace
}  // namespace cyr::auth
