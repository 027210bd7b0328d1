// zstd stream compression of a csync connection, between two of our nodes.
//
// Negotiation (our extension; a Cyrus peer never sees it): the replica's
// banner carries "* X-CYR-COMPRESS zstd"; a client that wants compression
// sends "X-CYR-COMPRESS zstd" after authenticating and, on "OK zstd active",
// both directions become one zstd stream each, starting with the next byte.
// Every flush of a writer ends a zstd block (ZSTD_e_flush), so the reader can
// decode everything that was sent so far - a command or a reply batch never
// waits in the compressor. Cyrus's own COMPRESS DEFLATE is neither claimed
// nor answered (a Cyrus client only compresses when offered DEFLATE).
//
// These are pure codecs (no I/O), used by the server's wire (csync_service)
// and the blocking client (sync_transport). Not thread-safe; one per
// direction of one connection.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "store/base/result.h"

namespace cyr::sync {

// The capability/verb word and its one algorithm.
inline constexpr std::string_view kCompressCapability = "X-CYR-COMPRESS";
inline constexpr std::string_view kCompressZstd = "zstd";

class ZstdEncoder {
 public:
  // level: zstd's; 1-3 keeps up with a LAN on one core.
  explicit ZstdEncoder(int level = 1);
  ~ZstdEncoder();
  ZstdEncoder(const ZstdEncoder&) = delete;
  ZstdEncoder& operator=(const ZstdEncoder&) = delete;

  // Compresses `plain` and flushes: the result decodes to exactly `plain`
  // on the other side, without waiting for more. Appends to `out`.
  Status encode_flush(std::string_view plain, std::string& out);
  uint64_t plain_bytes() const { return plain_; }
  uint64_t wire_bytes() const { return wire_; }

 private:
  struct Ctx;
  std::unique_ptr<Ctx> ctx_;
  uint64_t plain_ = 0, wire_ = 0;
};

class ZstdDecoder {
 public:
  ZstdDecoder();
  ~ZstdDecoder();
  ZstdDecoder(const ZstdDecoder&) = delete;
  ZstdDecoder& operator=(const ZstdDecoder&) = delete;

  // Decodes from `in`, appending at most `max_out` bytes to `out` (a bound
  // against decompression bombs: the caller takes them before asking for
  // more). Returns how many bytes of `in` were used; the rest must be given
  // again. Errc::Corrupted for a stream that is not zstd.
  Result<size_t> decode(std::string_view in, std::string& out, size_t max_out);
  // The last decode() stopped at max_out (or a full buffer): zstd may hold
  // decoded bytes that need no more input - call decode() again before
  // waiting on the socket.
  bool pending_output() const { return pending_; }

 private:
  struct Ctx;
  std::unique_ptr<Ctx> ctx_;
  bool pending_ = false;
};

}  // namespace cyr::sync
