#include "server/net/deflate.h"

#include <zlib.h>

#include <algorithm>
#include <climits>
#include <cstdlib>

namespace cyr::server::net {
namespace {

// zlib's defaults are windowBits 15 and memLevel 8: 256 KiB of deflate state
// per connection. Responses are mostly headers and text, where an 8 KiB
// window loses little; the state is then 64 KiB.
constexpr int kDeflateWindowBits = 13;
constexpr int kDeflateMemLevel = 6;
// The client picks its window (up to 32 KiB); inflate must accept the largest.
constexpr int kInflateWindowBits = 15;
// Output room added per deflate() call.
constexpr size_t kDeflateSlice = 64 * 1024;
// Largest input handed to zlib at once (its counts are 32-bit).
constexpr size_t kMaxZlibInput = size_t{1} << 30;

// Counting allocator: each block carries its size in front, so the free
// callback can subtract it. 16 bytes keep the block aligned for zlib.
constexpr size_t kHeader = 16;

voidpf counting_alloc(voidpf opaque, uInt items, uInt size) {
  size_t n = static_cast<size_t>(items) * size;
  auto* p = static_cast<unsigned char*>(std::malloc(n + kHeader));
  if (!p) return Z_NULL;
  *reinterpret_cast<size_t*>(p) = n;
  *static_cast<size_t*>(opaque) += n;
  return p + kHeader;
}

void counting_free(voidpf opaque, voidpf address) {
  if (!address) return;
  auto* p = static_cast<unsigned char*>(address) - kHeader;
  *static_cast<size_t*>(opaque) -= *reinterpret_cast<size_t*>(p);
  std::free(p);
}

void use_counting_allocator(z_stream& s, size_t* counter) {
  s.zalloc = counting_alloc;
  s.zfree = counting_free;
  s.opaque = counter;
}

}  // namespace

struct DeflateCodec::Streams {
  z_stream out{};  // deflate: server -> client
  z_stream in{};   // inflate: client -> server
  bool out_ready = false, in_ready = false;
};

DeflateCodec::DeflateCodec()
    : z_(std::make_unique<Streams>()), allocated_(std::make_unique<size_t>(0)) {}

DeflateCodec::~DeflateCodec() {
  if (z_->out_ready) deflateEnd(&z_->out);
  if (z_->in_ready) inflateEnd(&z_->in);
}

Result<std::unique_ptr<DeflateCodec>> DeflateCodec::create() {
  std::unique_ptr<DeflateCodec> c(new DeflateCodec());
  use_counting_allocator(c->z_->out, c->allocated_.get());
  use_counting_allocator(c->z_->in, c->allocated_.get());
  // Negative windowBits: raw DEFLATE, no zlib header or checksum (RFC 4978 section 3).
  if (deflateInit2(&c->z_->out, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -kDeflateWindowBits,
                   kDeflateMemLevel, Z_DEFAULT_STRATEGY) != Z_OK)
    return Error(Errc::Internal, "Compression is not available", "deflateInit2 failed");
  c->z_->out_ready = true;
  if (inflateInit2(&c->z_->in, -kInflateWindowBits) != Z_OK)
    return Error(Errc::Internal, "Compression is not available", "inflateInit2 failed");
  c->z_->in_ready = true;
  return c;
}

Status DeflateCodec::compress(std::string_view in, std::string& out) {
  z_stream& s = z_->out;
  size_t pos = 0;
  do {
    size_t piece = std::min(in.size() - pos, kMaxZlibInput);
    bool last = pos + piece == in.size();
    s.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data() + pos));
    s.avail_in = static_cast<uInt>(piece);
    // Until zlib leaves output room unused: then it has consumed all input
    // and, on the last piece, written the whole sync flush.
    do {
      size_t old = out.size();
      out.resize(old + kDeflateSlice);
      s.next_out = reinterpret_cast<Bytef*>(out.data() + old);
      s.avail_out = static_cast<uInt>(kDeflateSlice);
      int rc = deflate(&s, last ? Z_SYNC_FLUSH : Z_NO_FLUSH);
      out.resize(old + (kDeflateSlice - s.avail_out));
      if (rc != Z_OK && rc != Z_BUF_ERROR)
        return Error(Errc::Internal, "Compression failed",
                     "deflate returned " + std::to_string(rc));
    } while (s.avail_out == 0);
    pos += piece;
  } while (pos < in.size());
  s.next_in = nullptr;
  return ok_status();
}

Result<size_t> DeflateCodec::decompress(std::string_view in, size_t& used, char* out, size_t cap) {
  used = 0;
  output_pending_ = false;
  if (cap == 0) return size_t{0};
  z_stream& s = z_->in;
  static const Bytef kNothing = 0;
  in = in.substr(0, std::min(in.size(), kMaxZlibInput));
  s.next_in = in.empty() ? const_cast<Bytef*>(&kNothing)
                         : reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  s.avail_in = static_cast<uInt>(in.size());
  cap = std::min(cap, kMaxZlibInput);
  s.next_out = reinterpret_cast<Bytef*>(out);
  s.avail_out = static_cast<uInt>(cap);
  int rc = inflate(&s, Z_SYNC_FLUSH);
  used = in.size() - s.avail_in;
  size_t produced = cap - s.avail_out;
  s.next_in = nullptr;
  s.next_out = nullptr;
  switch (rc) {
    case Z_OK:
    case Z_BUF_ERROR:  // no progress possible: needs more input
      output_pending_ = produced == cap;
      return produced;
    case Z_STREAM_END:
      return Error(Errc::Corrupted, "Compressed stream ended",
                   "the client ended its DEFLATE stream");
    case Z_MEM_ERROR:
      return Error(Errc::Internal, "Out of memory", "inflate: out of memory");
    default:
      return Error(Errc::Corrupted, "Invalid compressed data",
                   std::string("inflate: ") + (s.msg ? s.msg : std::to_string(rc)));
  }
}

}  // namespace cyr::server::net
