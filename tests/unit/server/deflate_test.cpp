// The COMPRESS=DEFLATE layer (RFC 4978): DeflateCodec on its own, and a
// Connection after start_compress(), against a client using zlib directly.
#include "server/net/deflate.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <cstdio>
#include <string>

#include "server/net/connection.h"
#include "server_test_util.h"

namespace cyr::server::net {
namespace {

namespace asio = boost::asio;
using cyr::server::testing::connection_pair;
using cyr::server::testing::run_coroutine;

// The client's side: a raw DEFLATE stream each way, as an IMAP client has.
struct Peer {
  z_stream def{}, inf{};
  Peer() {
    EXPECT_EQ(deflateInit2(&def, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY),
              Z_OK);
    EXPECT_EQ(inflateInit2(&inf, -15), Z_OK);
  }
  ~Peer() {
    deflateEnd(&def);
    inflateEnd(&inf);
  }
  std::string compress(std::string_view in, int flush = Z_SYNC_FLUSH) {
    std::string out(in.size() + 1024, '\0');
    def.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
    def.avail_in = static_cast<uInt>(in.size());
    def.next_out = reinterpret_cast<Bytef*>(out.data());
    def.avail_out = static_cast<uInt>(out.size());
    int rc = deflate(&def, flush);
    EXPECT_TRUE(rc == Z_OK || (flush == Z_FINISH && rc == Z_STREAM_END)) << rc;
    EXPECT_EQ(def.avail_in, 0u);
    out.resize(out.size() - def.avail_out);
    return out;
  }
  // Everything decodable from `in` right now (no more input given).
  std::string decompress(std::string_view in) {
    std::string out;
    inf.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
    inf.avail_in = static_cast<uInt>(in.size());
    char buf[4096];
    do {
      inf.next_out = reinterpret_cast<Bytef*>(buf);
      inf.avail_out = sizeof buf;
      int rc = inflate(&inf, Z_SYNC_FLUSH);
      EXPECT_TRUE(rc == Z_OK || rc == Z_BUF_ERROR) << rc;
      out.append(buf, sizeof buf - inf.avail_out);
    } while (inf.avail_out == 0);
    return out;
  }
};

// Drains the codec's input into a string, cap bytes per call.
Result<std::string> inflate_all(DeflateCodec& c, std::string_view in, size_t cap) {
  std::string out;
  std::string buf(cap, '\0');
  while (!in.empty() || c.output_pending()) {
    size_t used = 0;
    auto n = c.decompress(in, used, buf.data(), cap);
    if (!n) return n.take_error();
    in.remove_prefix(used);
    out.append(buf, 0, *n);
    if (*n == 0 && used == 0) break;
  }
  return out;
}

TEST(DeflateCodec, RoundTripBothDirections) {
  auto c = DeflateCodec::create();
  ASSERT_TRUE(c.ok());
  Peer peer;
  std::string big;
  for (int i = 0; i < 20000; ++i) big += "* " + std::to_string(i) + " FETCH (FLAGS (\\Seen))\r\n";
  std::string wire;
  ASSERT_TRUE((*c)->compress(big, wire).ok());
  EXPECT_LT(wire.size(), big.size() / 4);
  EXPECT_EQ(peer.decompress(wire), big);

  std::string sent = peer.compress(big);
  auto got = inflate_all(**c, sent, 16 * 1024);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(*got, big);
}

TEST(DeflateCodec, EverySyncFlushIsDecodableAtOnce) {
  auto c = DeflateCodec::create();
  ASSERT_TRUE(c.ok());
  Peer peer;
  // Each response must come out whole from the bytes sent so far: nothing
  // may stay inside the compressor until a later flush.
  for (int i = 0; i < 50; ++i) {
    std::string resp = "a" + std::to_string(i) + " OK Noop completed\r\n";
    std::string wire;
    ASSERT_TRUE((*c)->compress(resp, wire).ok());
    EXPECT_EQ(peer.decompress(wire), resp) << i;
    // A sync flush ends with the empty stored block 00 00 ff ff.
    ASSERT_GE(wire.size(), 4u);
    EXPECT_EQ(wire.substr(wire.size() - 4), std::string("\0\0\xff\xff", 4));
  }
  // The client's sync flushes are decodable at once too.
  std::string sent = peer.compress("b1 NOOP\r\n");
  auto got = inflate_all(**c, sent, 1024);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(*got, "b1 NOOP\r\n");
}

TEST(DeflateCodec, CorruptInputIsAnError) {
  auto c = DeflateCodec::create();
  ASSERT_TRUE(c.ok());
  // Block type 3 is reserved in RFC 1951.
  std::string junk = "\xff\xff\xff\xff garbage";
  auto got = inflate_all(**c, junk, 1024);
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(got.error().code, Errc::Corrupted);

  // A stream the client ends (BFINAL) is refused: RFC 4978 has no end.
  auto c2 = DeflateCodec::create();
  ASSERT_TRUE(c2.ok());
  Peer peer;
  std::string finished = peer.compress("a NOOP\r\n", Z_FINISH);
  auto got2 = inflate_all(**c2, finished, 1024);
  ASSERT_FALSE(got2.ok());
  EXPECT_EQ(got2.error().code, Errc::Corrupted);
}

TEST(DeflateCodec, BombIsInflatedInBoundedPieces) {
  auto c = DeflateCodec::create();
  ASSERT_TRUE(c.ok());
  Peer peer;
  // 64 MiB of zeros compress to about 64 KiB.
  std::string zeros(size_t{64} << 20, '\0');
  std::string bomb = peer.compress(zeros);
  zeros = std::string();
  ASSERT_LT(bomb.size(), size_t{128} << 10);
  const size_t before = (*c)->allocated_bytes();
  char buf[16 * 1024];
  size_t used = 0;
  auto n = (*c)->decompress(bomb, used, buf, sizeof buf);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, sizeof buf);  // never more than the caller's room
  EXPECT_TRUE((*c)->output_pending());
  // Pieces keep coming out of the same state: memory does not grow.
  std::string_view rest = std::string_view(bomb).substr(used);
  size_t total = *n;
  for (int i = 0; i < 100; ++i) {
    auto m = (*c)->decompress(rest, used, buf, sizeof buf);
    ASSERT_TRUE(m.ok());
    EXPECT_LE(*m, sizeof buf);
    rest.remove_prefix(used);
    total += *m;
  }
  EXPECT_EQ(total, 101 * sizeof buf);
  // The inflate window is allocated on first output; after that, nothing.
  EXPECT_LE((*c)->allocated_bytes(), before + 33 * 1024);
}

TEST(DeflateCodec, StateIsSmallerThanZlibsDefault) {
  auto c = DeflateCodec::create();
  ASSERT_TRUE(c.ok());
  std::string wire;
  ASSERT_TRUE((*c)->compress("* OK\r\n", wire).ok());
  Peer peer;
  auto got = inflate_all(**c, peer.compress("a NOOP\r\n"), 1024);  // allocates the window
  ASSERT_TRUE(got.ok());
  // Both directions, windows included; zlib's defaults would need 256 KiB
  // for deflate alone.
  EXPECT_GT((*c)->allocated_bytes(), size_t{96} << 10);
  EXPECT_LT((*c)->allocated_bytes(), size_t{120} << 10);
  std::printf("DEFLATE state per connection: %zu bytes\n", (*c)->allocated_bytes());
}

TEST(Connection, CompressInflatesPipelinedBytesAndSyncFlushesOutput) {
  asio::io_context ioc;
  auto p = connection_pair(ioc);
  Peer peer;
  // The client pipelines: its next command, compressed, right behind COMPRESS.
  std::string wire = "c1 COMPRESS DEFLATE\r\n" + peer.compress("c2 NOOP\r\n");
  asio::write(p.client, asio::buffer(wire));
  std::string reply;
  run_coroutine(ioc, [&]() -> asio::awaitable<void> {
    auto l1 = co_await p.server->read_line(100);
    EXPECT_TRUE(l1.ok() && *l1 == "c1 COMPRESS DEFLATE");
    EXPECT_TRUE((co_await p.server->write_and_flush("c1 OK DEFLATE active\r\n")).ok());
    EXPECT_TRUE(p.server->start_compress().ok());
    EXPECT_TRUE(p.server->is_compressed());
    EXPECT_FALSE(p.server->start_compress().ok());
    auto l2 = co_await p.server->read_line(100);
    EXPECT_TRUE(l2.ok() && *l2 == "c2 NOOP");
    EXPECT_TRUE((co_await p.server->write_and_flush("c2 OK Noop completed\r\n")).ok());
  }());
  std::string got(4096, '\0');
  size_t n = p.client.read_some(asio::buffer(got));
  got.resize(n);
  const std::string plain = "c1 OK DEFLATE active\r\n";
  ASSERT_GE(got.size(), plain.size());
  EXPECT_EQ(got.substr(0, plain.size()), plain);
  EXPECT_EQ(peer.decompress(got.substr(plain.size())), "c2 OK Noop completed\r\n");
}

TEST(Connection, CorruptCompressedInputEndsTheReadCleanly) {
  asio::io_context ioc;
  auto p = connection_pair(ioc);
  std::string wire = "c1 COMPRESS DEFLATE\r\n\xff\xff\xff\xff junk\r\n";
  asio::write(p.client, asio::buffer(wire));
  run_coroutine(ioc, [&]() -> asio::awaitable<void> {
    auto l1 = co_await p.server->read_line(100);
    EXPECT_TRUE(l1.ok());
    EXPECT_TRUE(p.server->start_compress().ok());
    auto l2 = co_await p.server->read_line(100);
    EXPECT_FALSE(l2.ok());
    EXPECT_EQ(p.server->end_reason(), EndReason::Compression);
  }());
}

TEST(Connection, CompressedBombHitsTheLineBound) {
  asio::io_context ioc;
  auto p = connection_pair(ioc);
  Peer peer;
  asio::write(p.client, asio::buffer(std::string("c1 COMPRESS DEFLATE\r\n")));
  std::string line(size_t{8} << 20, 'x');
  line += "\r\nc2 NOOP\r\n";
  std::string bomb = peer.compress(line);
  line = std::string();
  // A writer coroutine: the socket buffer is smaller than the bomb.
  asio::co_spawn(ioc, [&]() -> asio::awaitable<void> {
    co_await asio::async_write(p.client, asio::buffer(bomb), asio::use_awaitable);
  }, [](std::exception_ptr) {});
  run_coroutine(ioc, [&]() -> asio::awaitable<void> {
    auto l1 = co_await p.server->read_line(100);
    EXPECT_TRUE(l1.ok());
    EXPECT_TRUE(p.server->start_compress().ok());
    auto l2 = co_await p.server->read_line(1000);
    EXPECT_FALSE(l2.ok());
    EXPECT_EQ(p.server->end_reason(), EndReason::LineTooLong);
    // The over-long line is skipped; the next command is read normally.
    auto l3 = co_await p.server->read_line(1000);
    EXPECT_TRUE(l3.ok() && *l3 == "c2 NOOP");
  }());
}

}  // namespace
}  // namespace cyr::server::net
