#include "sync/sync_compress.h"

#include <zstd.h>

#include <algorithm>

namespace cyr::sync {

struct ZstdEncoder::Ctx {
  ZSTD_CCtx* c = ZSTD_createCCtx();
  ~Ctx() { ZSTD_freeCCtx(c); }
};

ZstdEncoder::ZstdEncoder(int level) : ctx_(std::make_unique<Ctx>()) {
  ZSTD_CCtx_setParameter(ctx_->c, ZSTD_c_compressionLevel, level);
}
ZstdEncoder::~ZstdEncoder() = default;

Status ZstdEncoder::encode_flush(std::string_view plain, std::string& out) {
  if (!ctx_->c) return Error(Errc::Internal, "Compression unavailable", "ZSTD_createCCtx failed");
  ZSTD_inBuffer in{plain.data(), plain.size(), 0};
  const size_t chunk = ZSTD_CStreamOutSize();
  for (;;) {
    size_t at = out.size();
    out.resize(at + chunk);
    ZSTD_outBuffer ob{out.data() + at, chunk, 0};
    size_t left = ZSTD_compressStream2(ctx_->c, &ob, &in, ZSTD_e_flush);
    out.resize(at + ob.pos);
    wire_ += ob.pos;
    if (ZSTD_isError(left)) return Error(Errc::Internal, "Compression failed", ZSTD_getErrorName(left));
    if (left == 0 && in.pos == in.size) break;
  }
  plain_ += plain.size();
  return {};
}

struct ZstdDecoder::Ctx {
  ZSTD_DCtx* d = ZSTD_createDCtx();
  ~Ctx() { ZSTD_freeDCtx(d); }
};

ZstdDecoder::ZstdDecoder() : ctx_(std::make_unique<Ctx>()) {}
ZstdDecoder::~ZstdDecoder() = default;

Result<size_t> ZstdDecoder::decode(std::string_view input, std::string& out, size_t max_out) {
  if (!ctx_->d) return Error(Errc::Internal, "Compression unavailable", "ZSTD_createDCtx failed");
  ZSTD_inBuffer in{input.data(), input.size(), 0};
  size_t produced = 0;
  // A full output buffer may leave decoded bytes inside zstd even when all
  // input is used: keep asking until a call leaves room to spare.
  bool output_was_full = pending_;
  while ((in.pos < in.size || output_was_full) && produced < max_out) {
    size_t room = std::min<size_t>(max_out - produced, ZSTD_DStreamOutSize());
    size_t at = out.size();
    out.resize(at + room);
    ZSTD_outBuffer ob{out.data() + at, room, 0};
    size_t before = in.pos;
    size_t rc = ZSTD_decompressStream(ctx_->d, &ob, &in);
    out.resize(at + ob.pos);
    produced += ob.pos;
    if (ZSTD_isError(rc)) return Error(Errc::Corrupted, "Bad compressed stream", ZSTD_getErrorName(rc));
    output_was_full = ob.pos == room;
    if (ob.pos == 0 && in.pos == before) break;  // no progress: wait for more input
  }
  pending_ = output_was_full || produced >= max_out;
  return in.pos;
}

}  // namespace cyr::sync
