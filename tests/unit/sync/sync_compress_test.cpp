// zstd stream codec of csync's X-CYR-COMPRESS (sync/sync_compress.h).
#include <gtest/gtest.h>

#include <random>
#include <string>

#include "sync/sync_compress.h"

namespace cyr::sync {
namespace {

std::string sample(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string s;
  while (s.size() < n) {
    s += "APPLY MESSAGE line " + std::to_string(rng() % 1000) + " ";
    s.push_back(static_cast<char>('a' + rng() % 26));
  }
  s.resize(n);
  return s;
}

// Each flush decodes on its own, fed in small pieces, with a small output
// bound: exactly the bytes sent, in order, nothing held back.
TEST(SyncCompress, EveryFlushDecodesCompletelyInPieces) {
  ZstdEncoder enc;
  ZstdDecoder dec;
  std::string decoded;
  for (int msg = 0; msg < 5; ++msg) {
    std::string plain = sample(300000 + msg * 1000, msg);
    std::string wire;
    ASSERT_TRUE(enc.encode_flush(plain, wire).ok());
    EXPECT_LT(wire.size(), plain.size());
    std::string got;
    std::string_view in = wire;
    for (int guard = 0; guard < 100000 && (got.size() < plain.size()); ++guard) {
      std::string_view piece = in.substr(0, std::min<size_t>(in.size(), 777));
      auto used = dec.decode(piece, got, 4096);
      ASSERT_TRUE(used.ok()) << used.error().describe();
      in.remove_prefix(*used);
    }
    EXPECT_TRUE(got == plain) << "message " << msg << ": " << got.size() << " of " << plain.size();
    EXPECT_TRUE(in.empty());
    decoded += got;
  }
  EXPECT_EQ(enc.plain_bytes(), decoded.size());
}

// All input consumed while zstd still holds output: pending_output() says so
// and an empty decode() drains it (the case that would otherwise wait on the
// socket forever).
TEST(SyncCompress, PendingOutputIsReportedAndDrainedWithoutInput) {
  ZstdEncoder enc;
  ZstdDecoder dec;
  std::string plain(1 << 20, 'x');  // compresses to a few hundred bytes
  std::string wire;
  ASSERT_TRUE(enc.encode_flush(plain, wire).ok());
  std::string got;
  auto used = dec.decode(wire, got, 1000);
  ASSERT_TRUE(used.ok());
  EXPECT_EQ(got.size(), 1000u);
  std::string_view rest = std::string_view(wire).substr(*used);
  for (int guard = 0; guard < 10000 && got.size() < plain.size(); ++guard) {
    ASSERT_TRUE(dec.pending_output() || !rest.empty());
    auto u = dec.decode(rest, got, 65536);
    ASSERT_TRUE(u.ok());
    rest.remove_prefix(*u);
  }
  EXPECT_TRUE(got == plain) << got.size() << " of " << plain.size();
}

TEST(SyncCompress, GarbageIsCorruptedNotACrash) {
  ZstdDecoder dec;
  std::string out;
  auto r = dec.decode("this is not a zstd frame at all", out, 1 << 20);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::Corrupted);
}

}  // namespace
}  // namespace cyr::sync
