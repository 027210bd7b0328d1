// Thin RAII wrappers over SQLite for the store: Db (one connection) and Stmt
// (one prepared statement), with errors as Result values.
//
// A Db is used by one thread at a time (the store hands connections out from
// a pool or guards the writer connection with a mutex); it is opened with
// SQLITE_OPEN_NOMUTEX. Stmt objects belong to the Db that prepared them and
// must be destroyed before it.
#pragma once

#include <sqlite3.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include "store/base/result.h"

namespace cyr::store::sql {

class Stmt {
 public:
  Stmt() = default;
  explicit Stmt(sqlite3_stmt* s) : s_(s) {}
  ~Stmt();
  Stmt(Stmt&& o) noexcept : s_(o.s_) { o.s_ = nullptr; }
  Stmt& operator=(Stmt&& o) noexcept;
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;

  // Binds are 1-based, as SQLite's.
  Stmt& bind(int i, int64_t v);
  Stmt& bind(int i, std::string_view v);   // text (copied)
  Stmt& bind_blob(int i, std::string_view v);
  Stmt& bind_null(int i);

  // Ok(true) = a row is available, Ok(false) = done.
  Result<bool> step();
  // Steps until done (for statements returning no rows).
  Status run();
  void reset();  // also clears bindings

  int64_t i64(int col) const { return sqlite3_column_int64(s_, col); }
  std::string text(int col) const;
  std::string_view view(int col) const;  // valid until the next step
  bool is_null(int col) const { return sqlite3_column_type(s_, col) == SQLITE_NULL; }
  sqlite3_stmt* raw() const { return s_; }

 private:
  sqlite3_stmt* s_ = nullptr;
};

class Db {
 public:
  // Opens or creates `path` in WAL mode with synchronous=FULL and a busy
  // timeout (another process or connection holding the write lock). vfs:
  // a registered SQLite VFS name, nullptr for the default.
  static Result<std::unique_ptr<Db>> open(const std::string& path, bool create,
                                          const char* vfs = nullptr);
  ~Db();

  // Runs sql. A single statement (BEGIN, COMMIT, SAVEPOINT, a PRAGMA...)
  // is prepared once per connection and kept, by its text: compiling the
  // transaction statements on every call was a twelfth of the primary's CPU
  // in sync-mode replication. Several statements in one string run through
  // sqlite3_exec, uncached.
  Status exec(const char* sql);
  // A statement prepared once per connection and reused (reset on return).
  // Keyed by the pointer: for string literals.
  Result<Stmt*> cached(const char* sql);
  // The same, keyed by the text: for statements built at run time from a
  // few fixed pieces (a fixed set of texts). Kept statements are never
  // dropped while the connection lives (a caller may hold one), so past
  // kMaxTextCache texts this fails with Errc::Limit rather than grow.
  Result<Stmt*> cached_text(std::string_view sql);
  Result<Stmt> prepare(std::string_view sql);

  // Flushes this connection's write-ahead log to disk the way a commit
  // with synchronous=FULL does (the VFS's own sync of the WAL file): a
  // transaction committed with synchronous=NORMAL is durable once this
  // returns ok. Only between transactions, from the connection's thread.
  // Fails on a connection not in WAL mode (in_wal_mode()).
  Status sync_wal();
  // PRAGMA journal_mode=WAL took effect at open.
  bool in_wal_mode() const { return wal_; }

  int64_t changes() const { return sqlite3_changes(db_); }
  sqlite3* raw() const { return db_; }
  Error error(const char* what) const;  // builds an Error from the last failure

 private:
  Db() = default;
  struct TextHash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  static constexpr size_t kMaxTextCache = 256;
  static constexpr size_t kMaxExecCache = 64;
  using TextMap = std::unordered_map<std::string, std::unique_ptr<Stmt>, TextHash, std::equal_to<>>;
  sqlite3* db_ = nullptr;
  bool wal_ = false;
  std::unordered_map<const char*, std::unique_ptr<Stmt>> cache_;
  TextMap text_cache_;
  // exec()'s statements: never handed out, so the map may be emptied when
  // full.
  TextMap exec_cache_;
};

// Resets a cached statement when the scope ends, on every path out: a
// statement left stepping keeps its connection's read transaction, and so
// its snapshot, open for whatever that connection runs next.
class ResetOnExit {
 public:
  explicit ResetOnExit(Stmt* s) : s_(s) {}
  ~ResetOnExit() {
    if (s_) s_->reset();
  }
  ResetOnExit(const ResetOnExit&) = delete;
  ResetOnExit& operator=(const ResetOnExit&) = delete;

 private:
  Stmt* s_;
};

// Error for a SQLite result code; SQLITE_BUSY maps to InUse, CORRUPT/NOTADB
// to Corrupted, IOERR/FULL to Io.
Error sqlite_error(sqlite3* db, int rc, const char* what);

}  // namespace cyr::store::sql
