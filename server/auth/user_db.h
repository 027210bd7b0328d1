// UserDb: the built-in user database (sasl_pwcheck_method: auxprop), an SQLite
// file, by default {configdirectory}/passwd.db. For each user it keeps the
// SCRAM-SHA-256 record (salt, iteration count, StoredKey, ServerKey: see
// crypto.h), never the password; plaintext logins are checked by deriving
// StoredKey again. Passwords are SASLprep'ed (saslprep.h) before hashing.
//
// Schema version 1 (PRAGMA user_version = 1):
//   users(userid TEXT PRIMARY KEY, scheme TEXT 'SCRAM-SHA-256', salt BLOB,
//         iterations INTEGER, stored_key BLOB, server_key BLOB, changed INTEGER)
//
// A UserDb owns its SQLite connection. All methods are thread-safe (one mutex
// around the connection; the slow hashing runs outside it). Several processes
// may open the same file (cyr_passwd beside the daemon): SQLite's file locking
// serialises writers, and a busy timeout absorbs short waits. Every method
// blocks on disk and, for set_password/verify, on PBKDF2: call it from a
// blocking-work pool, not an I/O thread.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "server/auth/crypto.h"
#include "store/base/result.h"

struct sqlite3;

namespace cyr::auth {

inline constexpr size_t kMaxUserIdLength = 255;
inline constexpr size_t kMaxPasswordLength = 1024;
inline constexpr const char* kUserDbFileName = "passwd.db";

// A user id is 1..kMaxUserIdLength bytes of valid UTF-8 with no control
// characters, spaces or NULs. Returns Invalid otherwise.
Status validate_userid(std::string_view userid);

class UserDb {
 public:
  enum class Mode { ReadOnly, ReadWrite };  // ReadWrite creates the file (mode 0600) if missing

  static Result<std::unique_ptr<UserDb>> open(const std::filesystem::path& path, Mode mode);
  ~UserDb();
  UserDb(const UserDb&) = delete;
  UserDb& operator=(const UserDb&) = delete;

  // Creates or replaces userid's record from password (SASLprep'ed, then
  // hashed with a fresh random salt and the given iteration count).
  Status set_password(std::string_view userid, std::string_view password, uint32_t iterations);

  // Removes userid; NotFound if there was no such user.
  Status remove(std::string_view userid);

  // The stored SCRAM record; NotFound if there is no such user, Corrupted if
  // the row fails its checks.
  Result<ScramKeys> lookup(std::string_view userid);

  // Checks a plaintext password: ok, Perm (wrong password) or NotFound. For an
  // unknown user a dummy derivation with dummy_iterations runs first, so the
  // answer takes about as long as for a known one.
  Status verify(std::string_view userid, std::string_view password, uint32_t dummy_iterations);

  Result<std::vector<std::string>> list_users();

  const std::filesystem::path& path() const { return path_; }

 private:
  UserDb(sqlite3* db, std::filesystem::path path) : db_(db), path_(std::move(path)) {}
  Status init_schema();

  std::mutex mu_;
  sqlite3* db_;
  std::filesystem::path path_;
};

}  // namespace cyr::auth
