#include "server/auth/base64.h"

#include <gtest/gtest.h>

namespace cyr::auth {
namespace {

// RFC 4648 s10.
TEST(Base64, Rfc4648Vectors) {
  const std::pair<const char*, const char*> vectors[] = {
      {"", ""}, {"f", "Zg=="}, {"fo", "Zm8="}, {"foo", "Zm9v"},
      {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"}};
  for (auto [plain, encoded] : vectors) {
    EXPECT_EQ(base64_encode(plain), encoded);
    auto d = base64_decode(encoded, 100);
    ASSERT_TRUE(d.ok()) << encoded;
    EXPECT_EQ(*d, plain);
  }
}

TEST(Base64, RoundTripsEveryByte) {
  std::string all;
  for (int i = 0; i < 256; ++i) all.push_back(static_cast<char>(i));
  for (size_t n = 0; n <= all.size(); n += 37) {
    std::string part = all.substr(0, n);
    auto d = base64_decode(base64_encode(part), 1000);
    ASSERT_TRUE(d.ok());
    EXPECT_EQ(*d, part);
  }
}

TEST(Base64, DecodesNuls) {
  auto d = base64_decode("AHVzZXIAcGFzcw==", 100);  // "\0user\0pass"
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(*d, std::string("\0user\0pass", 10));
}

TEST(Base64, RejectsNonCanonicalInput) {
  const char* bad[] = {
      "Zg",        // not a multiple of 4
      "Zg=",       // ditto
      "Z===",      // three pad characters
      "=Zg=",      // padding first
      "Zg==Zg==",  // padding in the middle
      "Zm9v\r\n",  // white space
      "Zm 9",      // space
      "Zh==",      // non-zero trailing bits ("Zg==" is canonical)
      "Zm9=",      // non-zero trailing bits ("Zm8=" is canonical)
      "Zm9v!A==",  // outside the alphabet
      "Zm9-",      // URL-safe alphabet is not accepted
  };
  for (const char* s : bad) {
    auto d = base64_decode(s, 100);
    ASSERT_FALSE(d.ok()) << s;
    EXPECT_EQ(d.error().code, Errc::Invalid) << s;
  }
}

TEST(Base64, EnforcesDecodedLimit) {
  EXPECT_TRUE(base64_decode("Zm9vYmFy", 6).ok());
  auto d = base64_decode("Zm9vYmFy", 5);
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.error().code, Errc::Limit);
  // Oversized input is refused by its length alone.
  std::string huge(4 * 100000, 'A');
  EXPECT_EQ(base64_decode(huge, 1000).error().code, Errc::Limit);
}

}  // namespace
}  // namespace cyr::auth
