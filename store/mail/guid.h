// MessageGuid: the identity of a message's content, SHA-1 of its exact bytes.
//
// Cyrus names a message by the SHA-1 of the bytes as stored (after any LMTP
// munging), so the same message in two mailboxes, or on the two nodes of the
// pair, has the same GUID; replication and reconstruct compare GUIDs to
// decide whether a copy is intact. MessageGuid is a 20-byte value type
// (copyable, no heap); the all-zero value means "no GUID" (is_null()).
//
// GuidHasher computes a GUID incrementally over bytes that arrive in pieces
// (an APPEND literal, an LMTP DATA stream). It owns an OpenSSL digest context;
// it is movable, not copyable, and not thread-safe (one stream, one hasher).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "store/base/result.h"

namespace cyr::mail {

class MessageGuid {
 public:
  static constexpr size_t kSize = 20;   // SHA-1 digest length
  static constexpr size_t kHexSize = 40;

  MessageGuid() = default;  // the null GUID
  explicit MessageGuid(const std::array<uint8_t, kSize>& bytes) : bytes_(bytes) {}

  // SHA-1 of exactly these bytes.
  static MessageGuid of(std::string_view message_bytes);

  // Strict: exactly 40 hex digits (either case accepted on input); anything
  // else is Errc::Invalid.
  static Result<MessageGuid> from_hex(std::string_view hex);

  std::string to_hex() const;  // 40 lowercase hex digits
  bool is_null() const;
  const std::array<uint8_t, kSize>& bytes() const { return bytes_; }

  friend bool operator==(const MessageGuid&, const MessageGuid&) = default;
  friend auto operator<=>(const MessageGuid&, const MessageGuid&) = default;

 private:
  std::array<uint8_t, kSize> bytes_{};
};

class GuidHasher {
 public:
  GuidHasher();
  ~GuidHasher();
  GuidHasher(GuidHasher&&) noexcept;
  GuidHasher& operator=(GuidHasher&&) noexcept;
  GuidHasher(const GuidHasher&) = delete;
  GuidHasher& operator=(const GuidHasher&) = delete;

  void update(std::string_view bytes);
  // The GUID of everything passed to update() since construction or the
  // last finish(); the hasher is then reset and can hash a new stream.
  MessageGuid finish();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace cyr::mail

template <>
struct std::hash<cyr::mail::MessageGuid> {
  size_t operator()(const cyr::mail::MessageGuid& g) const noexcept {
    // SHA-1 output is uniformly distributed: its first bytes are a fine hash.
    size_t h = 0;
    std::memcpy(&h, g.bytes().data(), sizeof h);
    return h;
  }
};
