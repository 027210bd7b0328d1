#include "server/auth/user_db.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ctime>

#include "server/auth/saslprep.h"

namespace cyr::auth {
namespace {

constexpr int kSchemaVersion = 1;
constexpr const char* kScheme = "SCRAM-SHA-256";
constexpr int kBusyTimeoutMs = 5000;

Error db_error(sqlite3* db, const char* what) {
  return Error(Errc::Io, "User database error",
               std::string("passwd.db: ") + what + ": " + (db ? sqlite3_errmsg(db) : "?"));
}

// A prepared statement, finalised on scope exit.
class Stmt {
 public:
  Stmt(sqlite3* db, const char* sql) { rc_ = sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr); }
  ~Stmt() { sqlite3_finalize(stmt_); }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  bool ok() const { return rc_ == SQLITE_OK && stmt_; }
  sqlite3_stmt* get() { return stmt_; }
  void bind_text(int i, std::string_view v) {
    sqlite3_bind_text(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
  }
  void bind_blob(int i, std::string_view v) {
    sqlite3_bind_blob(stmt_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
  }
  std::string column_bytes(int i) {
    const void* p = sqlite3_column_blob(stmt_, i);
    int n = sqlite3_column_bytes(stmt_, i);
    return p ? std::string(static_cast<const char*>(p), static_cast<size_t>(n)) : std::string();
  }

 private:
  sqlite3_stmt* stmt_ = nullptr;
  int rc_;
};

Status exec(sqlite3* db, const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "?";
    sqlite3_free(err);
    return Error(Errc::Io, "User database error", std::string("passwd.db: ") + msg);
  }
  return ok_status();
}

// The password database holds offline-attackable verifiers: only its owner may
// read it. When root creates it (cyr_passwd run by root), hand it to the owner
// of the directory, the cyrus user, so the daemon can read it.
void restrict_new_file(const std::filesystem::path& path) {
  chmod(path.c_str(), 0600);
  if (geteuid() != 0) return;
  struct stat dir;
  if (stat(path.parent_path().empty() ? "." : path.parent_path().c_str(), &dir) == 0)
    if (chown(path.c_str(), dir.st_uid, dir.st_gid) != 0) {
      // Not fatal: root can still use it; the operator sees the owner in ls.
    }
}

}  // namespace

Status validate_userid(std::string_view userid) {
  if (userid.empty()) return Error(Errc::Invalid, "Empty user name", "userid: empty");
  if (userid.size() > kMaxUserIdLength)
    return Error(Errc::Limit, "User name too long", "userid: over 255 bytes");
  for (unsigned char c : userid)
    if (c <= 0x20 || c == 0x7F)
      return Error(Errc::Invalid, "Invalid character in user name", "userid: control or space");
  if (!is_valid_utf8(userid))
    return Error(Errc::Invalid, "Invalid UTF-8 in user name", "userid: malformed UTF-8");
  return ok_status();
}

Result<std::unique_ptr<UserDb>> UserDb::open(const std::filesystem::path& path, Mode mode) {
  bool existed = std::filesystem::exists(path);
  if (mode == Mode::ReadOnly && !existed)
    return Error(Errc::NotFound, "User database missing", "passwd.db: no file " + path.string());
  int flags = SQLITE_OPEN_NOMUTEX |
              (mode == Mode::ReadOnly ? SQLITE_OPEN_READONLY
                                      : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE));
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &db, flags, nullptr);
  if (rc != SQLITE_OK) {
    Error e = db_error(db, "open");
    e.detail += " (" + path.string() + ")";
    sqlite3_close(db);
    return e;
  }
  sqlite3_busy_timeout(db, kBusyTimeoutMs);
  std::unique_ptr<UserDb> udb(new UserDb(db, path));
  if (mode == Mode::ReadWrite && !existed) restrict_new_file(path);
  CYR_TRY(udb->init_schema());
  return udb;
}

UserDb::~UserDb() { sqlite3_close(db_); }

Status UserDb::init_schema() {
  std::lock_guard lk(mu_);
  Stmt q(db_, "PRAGMA user_version");
  if (!q.ok() || sqlite3_step(q.get()) != SQLITE_ROW) return db_error(db_, "read version");
  int version = sqlite3_column_int(q.get(), 0);
  if (version == kSchemaVersion) return ok_status();
  if (version != 0)
    return Error(Errc::Corrupted, "User database has an unknown format",
                 "passwd.db: schema version " + std::to_string(version) + ", expected 1");
  if (sqlite3_db_readonly(db_, "main") == 1)
    return Error(Errc::Corrupted, "User database is not initialised",
                 "passwd.db: version 0 and opened read-only");
  return exec(db_,
              "BEGIN IMMEDIATE;"
              "CREATE TABLE IF NOT EXISTS users ("
              "  userid TEXT PRIMARY KEY NOT NULL,"
              "  scheme TEXT NOT NULL,"
              "  salt BLOB NOT NULL,"
              "  iterations INTEGER NOT NULL,"
              "  stored_key BLOB NOT NULL,"
              "  server_key BLOB NOT NULL,"
              "  changed INTEGER NOT NULL) WITHOUT ROWID;"
              "PRAGMA user_version = 1;"
              "COMMIT;");
}

Status UserDb::set_password(std::string_view userid, std::string_view password, uint32_t iterations) {
  CYR_TRY(validate_userid(userid));
  if (password.size() > kMaxPasswordLength)
    return Error(Errc::Limit, "Password too long", "password over 1024 bytes");
  auto prepared = saslprep(password);
  if (!prepared) return prepared.take_error();
  auto salt = random_bytes(kSaltSize);
  if (!salt) return salt.take_error();
  auto keys = derive_scram_keys(*prepared, *salt, iterations);
  secure_wipe(*prepared);
  if (!keys) return keys.take_error();

  std::lock_guard lk(mu_);
  Stmt st(db_,
          "INSERT OR REPLACE INTO users(userid, scheme, salt, iterations, stored_key, server_key, changed)"
          " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)");
  if (!st.ok()) return db_error(db_, "prepare insert");
  st.bind_text(1, userid);
  st.bind_text(2, kScheme);
  st.bind_blob(3, keys->salt);
  sqlite3_bind_int64(st.get(), 4, keys->iterations);
  st.bind_blob(5, keys->stored_key);
  st.bind_blob(6, keys->server_key);
  sqlite3_bind_int64(st.get(), 7, static_cast<int64_t>(time(nullptr)));
  if (sqlite3_step(st.get()) != SQLITE_DONE) return db_error(db_, "insert");
  return ok_status();
}

Status UserDb::remove(std::string_view userid) {
  CYR_TRY(validate_userid(userid));
  std::lock_guard lk(mu_);
  Stmt st(db_, "DELETE FROM users WHERE userid = ?1");
  if (!st.ok()) return db_error(db_, "prepare delete");
  st.bind_text(1, userid);
  if (sqlite3_step(st.get()) != SQLITE_DONE) return db_error(db_, "delete");
  if (sqlite3_changes(db_) == 0)
    return Error(Errc::NotFound, "No such user", "passwd.db: no user to remove");
  return ok_status();
}

Result<ScramKeys> UserDb::lookup(std::string_view userid) {
  CYR_TRY(validate_userid(userid));
  std::lock_guard lk(mu_);
  Stmt st(db_, "SELECT scheme, salt, iterations, stored_key, server_key FROM users WHERE userid = ?1");
  if (!st.ok()) return db_error(db_, "prepare select");
  st.bind_text(1, userid);
  int rc = sqlite3_step(st.get());
  if (rc == SQLITE_DONE) return Error(Errc::NotFound, "No such user", "passwd.db: unknown user");
  if (rc != SQLITE_ROW) return db_error(db_, "select");
  ScramKeys keys;
  std::string scheme = st.column_bytes(0);
  keys.salt = st.column_bytes(1);
  int64_t iterations = sqlite3_column_int64(st.get(), 2);
  keys.stored_key = st.column_bytes(3);
  keys.server_key = st.column_bytes(4);
  // A row that fails these checks would make every login fail in a confusing
  // way; say why instead.
  if (scheme != kScheme || keys.salt.size() < 8 || keys.salt.size() > 64 ||
      iterations < kMinIterations || iterations > kMaxIterations ||
      keys.stored_key.size() != kSha256Size || keys.server_key.size() != kSha256Size)
    return Error(Errc::Corrupted, "User database record is damaged",
                 "passwd.db: bad record for a user (scheme/salt/iterations/key sizes)");
  keys.iterations = static_cast<uint32_t>(iterations);
  return keys;
}

Status UserDb::verify(std::string_view userid, std::string_view password, uint32_t dummy_iterations) {
  if (password.size() > kMaxPasswordLength)
    return Error(Errc::Perm, "Authentication failed", "password over 1024 bytes");
  auto keys = lookup(userid);
  auto prepared = saslprep(password);
  if (!keys) {
    if (keys.error().code == Errc::NotFound) {
      // Spend the time a real check would, so that response time does not
      // reveal which user names exist.
      auto dummy = derive_scram_keys(prepared ? *prepared : std::string("x"), std::string(kSaltSize, 'x'),
                                     dummy_iterations);
      (void)dummy;
    }
    return keys.take_error();
  }
  if (!prepared) return Error(Errc::Perm, "Authentication failed", prepared.error().detail);
  Status st = verify_password_against(*keys, *prepared);
  secure_wipe(*prepared);
  return st;
}

Result<std::vector<std::string>> UserDb::list_users() {
  std::lock_guard lk(mu_);
  Stmt st(db_, "SELECT userid FROM users ORDER BY userid");
  if (!st.ok()) return db_error(db_, "prepare list");
  std::vector<std::string> out;
  int rc;
  while ((rc = sqlite3_step(st.get())) == SQLITE_ROW) out.push_back(st.column_bytes(0));
  if (rc != SQLITE_DONE) return db_error(db_, "list");
  return out;
}

}  // namespace cyr::auth
