#include "store/mail/guid.h"

#include <gtest/gtest.h>

#include <unordered_set>

namespace cyr::mail {
namespace {

// FIPS 180 / RFC 3174 test vectors.
TEST(Guid, KnownSha1Vectors) {
  EXPECT_EQ(MessageGuid::of("").to_hex(), "da39a3ee5e6b4b0d3255bfef95601890afd80709");
  EXPECT_EQ(MessageGuid::of("abc").to_hex(), "a9993e364706816aba3e25717850c26c9cd0d89d");
  EXPECT_EQ(MessageGuid::of("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq").to_hex(),
            "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
  EXPECT_EQ(MessageGuid::of(std::string(1000000, 'a')).to_hex(),
            "34aa973cd4c4daa4f61eeb2bdbad27316534016f");
}

TEST(Guid, IncrementalEqualsOneShot) {
  std::string msg = "From: a@b\r\nSubject: x\r\n\r\nbody\r\n";
  GuidHasher h;
  for (char c : msg) h.update(std::string_view(&c, 1));
  EXPECT_EQ(h.finish(), MessageGuid::of(msg));
  // finish() resets: a second stream hashes independently.
  h.update("abc");
  EXPECT_EQ(h.finish().to_hex(), "a9993e364706816aba3e25717850c26c9cd0d89d");
}

TEST(Guid, MovedHasherKeepsState) {
  GuidHasher a;
  a.update("ab");
  GuidHasher b(std::move(a));
  b.update("c");
  EXPECT_EQ(b.finish().to_hex(), "a9993e364706816aba3e25717850c26c9cd0d89d");
}

TEST(Guid, HexRoundTripAndStrictness) {
  auto g = MessageGuid::of("abc");
  auto back = MessageGuid::from_hex(g.to_hex());
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, g);
  auto upper = MessageGuid::from_hex("A9993E364706816ABA3E25717850C26C9CD0D89D");
  ASSERT_TRUE(upper.ok());
  EXPECT_EQ(*upper, g);
  EXPECT_FALSE(MessageGuid::from_hex("").ok());
  EXPECT_FALSE(MessageGuid::from_hex("a9993e364706816aba3e25717850c26c9cd0d89").ok());    // 39
  EXPECT_FALSE(MessageGuid::from_hex("a9993e364706816aba3e25717850c26c9cd0d89d0").ok());  // 41
  EXPECT_FALSE(MessageGuid::from_hex("g9993e364706816aba3e25717850c26c9cd0d89d").ok());
  EXPECT_FALSE(MessageGuid::from_hex(" 9993e364706816aba3e25717850c26c9cd0d89d").ok());
  EXPECT_EQ(MessageGuid::from_hex("zz").error().code, Errc::Invalid);
}

TEST(Guid, NullComparisonAndHash) {
  MessageGuid null;
  EXPECT_TRUE(null.is_null());
  EXPECT_EQ(null.to_hex(), std::string(40, '0'));
  auto a = MessageGuid::of("a");
  auto b = MessageGuid::of("b");
  EXPECT_FALSE(a.is_null());
  EXPECT_NE(a, b);
  EXPECT_TRUE((a < b) != (b < a));
  std::unordered_set<MessageGuid> set{a, b, a};
  EXPECT_EQ(set.size(), 2u);
}

}  // namespace
}  // namespace cyr::mail
