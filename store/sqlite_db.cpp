#include "store/sqlite_db.h"

#include <cctype>

#include <cerrno>

namespace cyr::store::sql {

Error sqlite_error(sqlite3* db, int rc, const char* what) {
  Errc code = Errc::Io;
  switch (rc & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED: code = Errc::InUse; break;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB: code = Errc::Corrupted; break;
    case SQLITE_CONSTRAINT: code = Errc::Exists; break;
    case SQLITE_TOOBIG: code = Errc::TooBig; break;
    // A statement that could not grow the database or its WAL; SQLite has
    // undone it. A COMMIT that fails this way still fences (the callers
    // fence on any failed commit).
    case SQLITE_FULL: code = Errc::NoSpace; break;
    case SQLITE_MISUSE:
    case SQLITE_ERROR: code = Errc::Internal; break;
    default: code = Errc::Io; break;
  }
  // Out of file descriptors (this process's limit or the system's): a
  // shortage that passes, not a failing disk, so Temp, which does not fence
  // the store the way Io does; the caller gets a temporary failure.
  if ((rc & 0xff) == SQLITE_CANTOPEN && db) {
    int sys = sqlite3_system_errno(db);
    if (sys == EMFILE || sys == ENFILE) code = Errc::Temp;
  }
  std::string detail = std::string(what) + ": " + sqlite3_errstr(rc);
  if (db) detail += std::string(" (") + sqlite3_errmsg(db) + ")";
  return Error(code, code == Errc::NoSpace ? kNoSpaceMessage : "Mailbox store error", detail);
}

Stmt::~Stmt() {
  if (s_) sqlite3_finalize(s_);
}

Stmt& Stmt::operator=(Stmt&& o) noexcept {
  if (this != &o) {
    if (s_) sqlite3_finalize(s_);
    s_ = o.s_;
    o.s_ = nullptr;
  }
  return *this;
}

Stmt& Stmt::bind(int i, int64_t v) {
  sqlite3_bind_int64(s_, i, v);
  return *this;
}
Stmt& Stmt::bind(int i, std::string_view v) {
  sqlite3_bind_text(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
  return *this;
}
Stmt& Stmt::bind_blob(int i, std::string_view v) {
  sqlite3_bind_blob(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
  return *this;
}
Stmt& Stmt::bind_null(int i) {
  sqlite3_bind_null(s_, i);
  return *this;
}

Result<bool> Stmt::step() {
  int rc = sqlite3_step(s_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return sqlite_error(sqlite3_db_handle(s_), rc, "step");
}

Status Stmt::run() {
  for (;;) {
    auto r = step();
    if (!r.ok()) return r.take_error();
    if (!*r) return {};
  }
}

void Stmt::reset() {
  sqlite3_reset(s_);
  sqlite3_clear_bindings(s_);
}

std::string Stmt::text(int col) const { return std::string(view(col)); }

std::string_view Stmt::view(int col) const {
  const void* p = sqlite3_column_blob(s_, col);
  int n = sqlite3_column_bytes(s_, col);
  if (!p || n <= 0) return {};
  return std::string_view(static_cast<const char*>(p), static_cast<size_t>(n));
}

Result<std::unique_ptr<Db>> Db::open(const std::string& path, bool create, const char* vfs) {
  std::unique_ptr<Db> db(new Db());
  int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (create ? SQLITE_OPEN_CREATE : 0);
  int rc = sqlite3_open_v2(path.c_str(), &db->db_, flags, vfs);
  if (rc != SQLITE_OK) {
    Error e = sqlite_error(db->db_, rc, "open");
    e.detail += " " + path;
    if ((rc & 0xff) == SQLITE_CANTOPEN && e.code != Errc::Temp) e.code = create ? Errc::Io : Errc::NotFound;
    return e;
  }
  sqlite3_busy_timeout(db->db_, 10000);
  // WAL: readers never wait for the writer; FULL: a commit is durable when it
  // returns (the WAL is fsync'd at every commit).
  {
    // The mode SQLite ended up in: a filesystem without shared memory for
    // the WAL index keeps the rollback journal.
    auto mode = db->prepare("PRAGMA journal_mode=WAL");
    if (!mode.ok()) return mode.take_error();
    auto row = mode->step();
    if (!row.ok()) return row.take_error();
    db->wal_ = *row && mode->text(0) == "wal";
  }
  CYR_TRY(db->exec("PRAGMA synchronous=FULL"));
  CYR_TRY(db->exec("PRAGMA foreign_keys=OFF"));
  return db;
}

Status Db::sync_wal() {
  if (!wal_) return Error(Errc::Internal, "Database error", "sync_wal without a WAL");
  sqlite3_file* wal = nullptr;
  int rc = sqlite3_file_control(db_, "main", SQLITE_FCNTL_JOURNAL_POINTER, &wal);
  if (rc != SQLITE_OK) return error("WAL file");
  // No WAL open (nothing written by this connection yet): nothing to flush.
  if (wal == nullptr || wal->pMethods == nullptr) return {};
  // SQLITE_SYNC_NORMAL is what a FULL commit passes for its WAL sync.
  rc = wal->pMethods->xSync(wal, SQLITE_SYNC_NORMAL);
  if (rc != SQLITE_OK) {
    Error e(Errc::Io, "Disk error", "WAL sync of " + std::string(sqlite3_db_filename(db_, "main")) +
                                        ": SQLite code " + std::to_string(rc));
    return e;
  }
  return {};
}

Db::~Db() {
  cache_.clear();
  text_cache_.clear();
  exec_cache_.clear();
  if (db_) sqlite3_close_v2(db_);
}

Status Db::exec(const char* sql) {
  std::string_view text(sql);
  auto it = exec_cache_.find(text);
  if (it == exec_cache_.end()) {
    sqlite3_stmt* s = nullptr;
    const char* tail = nullptr;
    int rc = sqlite3_prepare_v2(db_, text.data(), static_cast<int>(text.size()), &s, &tail);
    bool single = rc == SQLITE_OK && s != nullptr;
    if (single && tail)
      for (const char* t = tail; *t; ++t)
        if (!std::isspace(static_cast<unsigned char>(*t)) && *t != ';') single = false;
    if (single) {
      if (exec_cache_.size() >= kMaxExecCache) exec_cache_.clear();
      it = exec_cache_.emplace(std::string(text), std::make_unique<Stmt>(s)).first;
    } else if (s) {
      sqlite3_finalize(s);
    }
  }
  if (it != exec_cache_.end()) {
    Stmt& st = *it->second;
    st.reset();
    Status r = st.run();
    st.reset();
    if (r.ok()) return r;
    Error e = r.take_error();
    e.detail += std::string(": ") + sql;
    return e;
  }
  char* msg = nullptr;
  int rc = sqlite3_exec(db_, sql, nullptr, nullptr, &msg);
  if (rc != SQLITE_OK) {
    Error e = sqlite_error(db_, rc, "exec");
    if (msg) {
      e.detail += std::string(": ") + msg;
      sqlite3_free(msg);
    }
    return e;
  }
  return {};
}

Result<Stmt> Db::prepare(std::string_view sql) {
  sqlite3_stmt* s = nullptr;
  int rc = sqlite3_prepare_v2(db_, sql.data(), static_cast<int>(sql.size()), &s, nullptr);
  if (rc != SQLITE_OK) {
    Error e = sqlite_error(db_, rc, "prepare");
    e.detail += ": " + std::string(sql);
    return e;
  }
  return Stmt(s);
}

// A kept statement from `cache` (keyed by `key`), prepared from `sql` the
// first time; past `cap` entries (0: no bound) an error, never a drop of a
// statement some caller may still hold.
template <class Map, class Key>
static Result<Stmt*> kept_statement(Db& db, Map& cache, const Key& key, std::string_view sql, size_t cap) {
  auto it = cache.find(key);
  if (it != cache.end()) {
    it->second->reset();
    return it->second.get();
  }
  if (cap && cache.size() >= cap) return Error(Errc::Limit, "Too many kept statements", std::string(sql));
  auto st = db.prepare(sql);
  if (!st.ok()) return st.take_error();
  auto p = std::make_unique<Stmt>(std::move(*st));
  Stmt* raw = p.get();
  cache.emplace(typename Map::key_type(key), std::move(p));
  return raw;
}

Result<Stmt*> Db::cached(const char* sql) { return kept_statement(*this, cache_, sql, sql, 0); }

Result<Stmt*> Db::cached_text(std::string_view sql) {
  return kept_statement(*this, text_cache_, sql, sql, kMaxTextCache);
}

Error Db::error(const char* what) const { return sqlite_error(db_, sqlite3_errcode(db_), what); }

}  // namespace cyr::store::sql
