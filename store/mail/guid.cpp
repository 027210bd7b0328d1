#include "store/mail/guid.h"

#include <openssl/evp.h>

#include <cstdlib>

namespace cyr::mail {

namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// OpenSSL reports allocation failure by returning null; a process that
// cannot allocate a 200-byte digest context cannot do anything useful, and
// a wrong GUID would silently corrupt replication, so we stop.
EVP_MD_CTX* new_sha1_ctx() {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha1(), nullptr) != 1) std::abort();
  return ctx;
}

}  // namespace

MessageGuid MessageGuid::of(std::string_view message_bytes) {
  GuidHasher h;
  h.update(message_bytes);
  return h.finish();
}

Result<MessageGuid> MessageGuid::from_hex(std::string_view hex) {
  if (hex.size() != kHexSize) {
    return Error(Errc::Invalid, "GUID must be 40 hex digits",
                 "guid length " + std::to_string(hex.size()));
  }
  std::array<uint8_t, kSize> bytes{};
  for (size_t i = 0; i < kSize; ++i) {
    int hi = hex_value(hex[2 * i]);
    int lo = hex_value(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return Error(Errc::Invalid, "GUID must be 40 hex digits", "non-hex digit");
    bytes[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return MessageGuid(bytes);
}

std::string MessageGuid::to_hex() const {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(kHexSize, '0');
  for (size_t i = 0; i < kSize; ++i) {
    out[2 * i] = kDigits[bytes_[i] >> 4];
    out[2 * i + 1] = kDigits[bytes_[i] & 0xf];
  }
  return out;
}

bool MessageGuid::is_null() const {
  for (uint8_t b : bytes_)
    if (b) return false;
  return true;
}

struct GuidHasher::Impl {
  EVP_MD_CTX* ctx = new_sha1_ctx();
  ~Impl() { EVP_MD_CTX_free(ctx); }
};

GuidHasher::GuidHasher() : impl_(std::make_unique<Impl>()) {}
GuidHasher::~GuidHasher() = default;
GuidHasher::GuidHasher(GuidHasher&&) noexcept = default;
GuidHasher& GuidHasher::operator=(GuidHasher&&) noexcept = default;

void GuidHasher::update(std::string_view bytes) {
  if (!impl_) impl_ = std::make_unique<Impl>();  // a moved-from hasher starts over
  if (!bytes.empty() && EVP_DigestUpdate(impl_->ctx, bytes.data(), bytes.size()) != 1) std::abort();
}

MessageGuid GuidHasher::finish() {
  if (!impl_) impl_ = std::make_unique<Impl>();
  std::array<uint8_t, MessageGuid::kSize> out{};
  unsigned int len = 0;
  if (EVP_DigestFinal_ex(impl_->ctx, out.data(), &len) != 1 || len != MessageGuid::kSize) std::abort();
  if (EVP_DigestInit_ex(impl_->ctx, EVP_sha1(), nullptr) != 1) std::abort();
  return MessageGuid(out);
}

}  // namespace cyr::mail
