#include "server/auth/crypto.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

namespace cyr::auth {

std::string sha256(std::string_view data) {
  std::string out(kSha256Size, '\0');
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), reinterpret_cast<unsigned char*>(out.data()), &len,
             EVP_sha256(), nullptr);
  out.resize(len);
  return out;
}

std::string hmac_sha256(std::string_view key, std::string_view data) {
  std::string out(kSha256Size, '\0');
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(),
       reinterpret_cast<unsigned char*>(out.data()), &len);
  out.resize(len);
  return out;
}

Result<std::string> pbkdf2_hmac_sha256(std::string_view password, std::string_view salt,
                                       uint32_t iterations, size_t length) {
  if (iterations < kMinIterations || iterations > kMaxIterations)
    return Error(Errc::Invalid, "Invalid iteration count",
                 "pbkdf2: iterations " + std::to_string(iterations) + " out of range");
  if (length == 0 || length > 1024)
    return Error(Errc::Invalid, "Invalid key length", "pbkdf2: bad output length");
  std::string out(length, '\0');
  if (PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()),
                        reinterpret_cast<const unsigned char*>(salt.data()),
                        static_cast<int>(salt.size()), static_cast<int>(iterations), EVP_sha256(),
                        static_cast<int>(length), reinterpret_cast<unsigned char*>(out.data())) != 1)
    return Error(Errc::Internal, "Internal error", "PKCS5_PBKDF2_HMAC failed");
  return out;
}

Result<std::string> random_bytes(size_t n) {
  std::string out(n, '\0');
  if (n > 0 && RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(n)) != 1)
    return Error(Errc::Internal, "Internal error", "RAND_bytes failed");
  return out;
}

bool constant_time_equal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  if (a.empty()) return true;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

void secure_wipe(std::string& s) {
  if (!s.empty()) OPENSSL_cleanse(s.data(), s.size());
  s.clear();
}

std::string xor_bytes(std::string_view a, std::string_view b) {
  std::string out(a.size(), '\0');
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) out[i] = static_cast<char>(a[i] ^ b[i]);
  return out;
}

std::string to_hex(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out.push_back(kDigits[c >> 4]);
    out.push_back(kDigits[c & 15]);
  }
  return out;
}

Result<ScramKeys> derive_scram_keys(std::string_view password, std::string_view salt,
                                    uint32_t iterations) {
  auto salted = pbkdf2_hmac_sha256(password, salt, iterations, kSha256Size);
  if (!salted) return salted.take_error();
  std::string client_key = hmac_sha256(*salted, "Client Key");
  ScramKeys keys;
  keys.salt = std::string(salt);
  keys.iterations = iterations;
  keys.stored_key = sha256(client_key);
  keys.server_key = hmac_sha256(*salted, "Server Key");
  secure_wipe(client_key);
  secure_wipe(*salted);
  return keys;
}

Status verify_password_against(const ScramKeys& keys, std::string_view password) {
  auto derived = derive_scram_keys(password, keys.salt, keys.iterations);
  if (!derived) return derived.take_error();
  if (!constant_time_equal(derived->stored_key, keys.stored_key))
    return Error(Errc::Perm, "Authentication failed", "password mismatch");
  return ok_status();
}

}  // namespace cyr::auth
