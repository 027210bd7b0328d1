// DeflateCodec: the two raw DEFLATE streams (RFC 1951, zlib windowBits -15)
// of a connection after IMAP COMPRESS=DEFLATE (RFC 4978).
//
// Output: every compress() ends with a Z_SYNC_FLUSH, so the peer can decode
// all that was sent once the bytes are on the wire; no response waits inside
// the compressor. Input: decompress() writes at most `cap` bytes per call,
// so a few bytes of a decompression bomb never become more than the caller's
// bounded buffer; the rest waits (unread input, zlib's state) until asked for.
//
// Memory: created only when a client sends COMPRESS, so a connection without
// it costs nothing. The deflate side uses an 8 KiB window and memLevel 6
// (about 64 KiB instead of zlib's default 256 KiB); the inflate side must
// accept any window the client chose, so it takes the full 32 KiB window.
// allocated_bytes() reports what zlib holds, for tests and measurements.
//
// Not thread-safe; the connection uses it from its strand.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

#include "store/base/result.h"

namespace cyr::server::net {

class DeflateCodec {
 public:
  // Both zlib states; Errc::Internal if zlib cannot set them up.
  static Result<std::unique_ptr<DeflateCodec>> create();
  ~DeflateCodec();
  DeflateCodec(const DeflateCodec&) = delete;
  DeflateCodec& operator=(const DeflateCodec&) = delete;

  // Compresses `in`, ends with a sync flush and appends the result to `out`.
  Status compress(std::string_view in, std::string& out);

  // Inflates from `in` into out[0, cap): returns how many bytes were written
  // and sets `used` to how many bytes of `in` were consumed. Zero output with
  // all input used means the input so far held no data (a sync-flush marker,
  // or half a block): read more. Errc::Corrupted for an invalid stream or one
  // the peer ended (RFC 4978 has no end of compression).
  Result<size_t> decompress(std::string_view in, size_t& used, char* out, size_t cap);

  // True when the last decompress() filled `cap` exactly: zlib may hold more
  // output that needs no further input.
  bool output_pending() const { return output_pending_; }

  // Bytes zlib has allocated for both states.
  size_t allocated_bytes() const { return *allocated_; }

 private:
  struct Streams;
  DeflateCodec();
  std::unique_ptr<Streams> z_;
  // Shared with zlib's allocator callbacks, which hold a pointer to it.
  std::unique_ptr<size_t> allocated_;
  bool output_pending_ = false;
};

}  // namespace cyr::server::net
