// Cryptographic primitives the authentication code needs, over OpenSSL 3:
// SHA-256, HMAC-SHA-256, PBKDF2-HMAC-SHA-256, a CSPRNG, constant-time
// comparison and wiping, and the SCRAM-SHA-256 key schedule (RFC 5802 s3).
//
// Byte strings are std::string (binary-safe). Free functions, no state: all
// are thread-safe (OpenSSL 3 needs no locking setup).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "store/base/result.h"

namespace cyr::auth {

inline constexpr size_t kSha256Size = 32;
inline constexpr size_t kSaltSize = 16;  // random salt for a new password
// Bounds on a stored or configured PBKDF2 iteration count. The low bound is 1
// so that tests can run fast; the configured default is far higher.
inline constexpr uint32_t kMinIterations = 1;
inline constexpr uint32_t kMaxIterations = 10'000'000;
// 65536: the most that Cyrus SASL's SCRAM client accepts (its
// MAX_ITERATION_COUNTER); above it, Cyrus's sync_client and other
// libsasl2-based clients cancel after our server-first message (issue 8).
inline constexpr uint32_t kDefaultIterations = 65'536;

std::string sha256(std::string_view data);
std::string hmac_sha256(std::string_view key, std::string_view data);

// PBKDF2-HMAC-SHA-256 (RFC 8018). Fails (Invalid) for an iteration count
// outside [kMinIterations, kMaxIterations] or an output length of 0 or > 1024.
Result<std::string> pbkdf2_hmac_sha256(std::string_view password, std::string_view salt,
                                       uint32_t iterations, size_t length);

// n bytes from OpenSSL's CSPRNG; fails (Internal) only if the RNG is unseeded.
Result<std::string> random_bytes(size_t n);

// True if a and b are equal. Runs in time independent of where they differ;
// only the lengths (which are public: fixed-size digests) may leak.
bool constant_time_equal(std::string_view a, std::string_view b);

// Overwrites the bytes of s with zeros (not elided by the optimiser), then clears it.
void secure_wipe(std::string& s);

std::string xor_bytes(std::string_view a, std::string_view b);  // a.size() == b.size()
std::string to_hex(std::string_view bytes);

// What the server keeps for SCRAM-SHA-256 (RFC 5802 s3), never the password:
//   SaltedPassword = PBKDF2-HMAC-SHA-256(password, salt, iterations)
//   StoredKey      = SHA-256(HMAC(SaltedPassword, "Client Key"))
//   ServerKey      = HMAC(SaltedPassword, "Server Key")
// The same record verifies a plaintext password (derive and compare StoredKey),
// so one slow hash serves PLAIN, LOGIN and SCRAM.
struct ScramKeys {
  std::string salt;
  uint32_t iterations = 0;
  std::string stored_key;  // 32 bytes
  std::string server_key;  // 32 bytes
};

// Derives the keys from an already SASLprep'ed password.
Result<ScramKeys> derive_scram_keys(std::string_view password, std::string_view salt,
                                    uint32_t iterations);

// Derives StoredKey from password and the record's salt and iterations and
// compares it with the record's in constant time. Fails (Perm) on mismatch.
Status verify_password_against(const ScramKeys& keys, std::string_view password);

}  // namespace cyr::auth
