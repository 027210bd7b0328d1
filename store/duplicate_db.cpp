#include "store/duplicate_db.h"

#include <sys/stat.h>

#include <system_error>

#include "store/sqlite_db.h"

namespace cyr::store {

namespace fs = std::filesystem;

namespace {

constexpr const char* kSchema =
    "CREATE TABLE IF NOT EXISTS duplicate ("
    " id TEXT NOT NULL, mailbox TEXT NOT NULL, mark INTEGER NOT NULL,"
    " PRIMARY KEY (id, mailbox)) WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS duplicate_mark ON duplicate(mark);";

Status check_key(std::string_view id, std::string_view mailbox) {
  if (id.empty() || mailbox.empty()) return Error(Errc::Invalid, "Empty duplicate key");
  if (id.size() > DuplicateDb::kMaxIdLength || mailbox.size() > DuplicateDb::kMaxMailboxLength)
    return Error(Errc::Limit, "Duplicate key too long");
  return {};
}

}  // namespace

Result<std::unique_ptr<DuplicateDb>> DuplicateDb::open(const fs::path& path) {
  if (path.empty() || !path.is_absolute())
    return Error(Errc::Invalid, "duplicate_db_path must be an absolute path", path.string());
  std::unique_ptr<DuplicateDb> d(new DuplicateDb());
  d->path_ = path;
  std::lock_guard lk(d->mu_);
  CYR_TRY(d->open_locked());
  return d;
}

DuplicateDb::~DuplicateDb() = default;

Status DuplicateDb::open_locked() {
  db_.reset();
  std::error_code ec;
  fs::create_directories(path_.parent_path(), ec);
  if (ec) return Error(Errc::Io, "Cannot create the duplicate database directory",
                       path_.parent_path().string() + ": " + ec.message());
  for (int attempt = 0; attempt < 2; ++attempt) {
    auto db = sql::Db::open(path_.string(), true);
    Status st = db.ok() ? Status{} : Status(db.error());
    if (st.ok()) {
      // Disposable data: no fsync per mark (see the header).
      st = (*db)->exec("PRAGMA synchronous=OFF");
      if (st.ok()) st = (*db)->exec(kSchema);
    }
    if (st.ok()) {
      db_ = std::move(*db);
      return {};
    }
    if (st.error().code != Errc::Corrupted || attempt > 0) return st;
    // Not a database we can read: keep it for inspection and start afresh.
    db = Error(Errc::Internal, "");
    fs::rename(path_, fs::path(path_.string() + ".corrupt"), ec);
    for (const char* sfx : {"-wal", "-shm"}) fs::remove(fs::path(path_.string() + sfx), ec);
  }
  return Error(Errc::Io, "Cannot open the duplicate database", path_.string());
}

Status DuplicateDb::reopen_if_missing() {
  struct stat st;
  if (db_ && ::stat(path_.c_str(), &st) == 0) return {};
  return open_locked();
}

Result<bool> DuplicateDb::seen(std::string_view id, std::string_view mailbox) {
  CYR_TRY(check_key(id, mailbox));
  std::lock_guard lk(mu_);
  CYR_TRY(reopen_if_missing());
  auto s = db_->cached("SELECT 1 FROM duplicate WHERE id = ?1 AND mailbox = ?2");
  if (!s.ok()) return s.take_error();
  (*s)->bind(1, id).bind(2, mailbox);
  auto row = (*s)->step();
  (*s)->reset();
  if (!row.ok()) return row.take_error();
  return *row;
}

Result<std::optional<int64_t>> DuplicateDb::marked_at(std::string_view id, std::string_view mailbox) {
  CYR_TRY(check_key(id, mailbox));
  std::lock_guard lk(mu_);
  CYR_TRY(reopen_if_missing());
  auto s = db_->cached("SELECT mark FROM duplicate WHERE id = ?1 AND mailbox = ?2");
  if (!s.ok()) return s.take_error();
  (*s)->bind(1, id).bind(2, mailbox);
  auto row = (*s)->step();
  std::optional<int64_t> when;
  if (row.ok() && *row) when = (*s)->i64(0);
  (*s)->reset();
  if (!row.ok()) return row.take_error();
  return when;
}

Status DuplicateDb::mark(std::string_view id, std::string_view mailbox, int64_t when) {
  CYR_TRY(check_key(id, mailbox));
  std::lock_guard lk(mu_);
  CYR_TRY(reopen_if_missing());
  auto s = db_->cached(
      "INSERT INTO duplicate(id, mailbox, mark) VALUES (?1, ?2, ?3)"
      " ON CONFLICT(id, mailbox) DO UPDATE SET mark = excluded.mark");
  if (!s.ok()) return s.take_error();
  (*s)->bind(1, id).bind(2, mailbox).bind(3, when);
  Status st = (*s)->run();
  (*s)->reset();
  return st;
}

Result<uint64_t> DuplicateDb::prune(int64_t older_than) {
  std::lock_guard lk(mu_);
  CYR_TRY(reopen_if_missing());
  auto s = db_->cached("DELETE FROM duplicate WHERE mark < ?1");
  if (!s.ok()) return s.take_error();
  (*s)->bind(1, older_than);
  Status st = (*s)->run();
  (*s)->reset();
  if (!st.ok()) return st.take_error();
  return static_cast<uint64_t>(db_->changes());
}

Result<uint64_t> DuplicateDb::count() {
  std::lock_guard lk(mu_);
  CYR_TRY(reopen_if_missing());
  auto s = db_->cached("SELECT count(*) FROM duplicate");
  if (!s.ok()) return s.take_error();
  auto row = (*s)->step();
  uint64_t n = row.ok() && *row ? static_cast<uint64_t>((*s)->i64(0)) : 0;
  (*s)->reset();
  if (!row.ok()) return row.take_error();
  return n;
}

Status DuplicateDb::for_each(
    const std::function<void(std::string_view id, std::string_view mailbox, int64_t mark)>& fn) {
  std::lock_guard lk(mu_);
  CYR_TRY(reopen_if_missing());
  auto s = db_->prepare("SELECT id, mailbox, mark FROM duplicate ORDER BY id, mailbox");
  if (!s.ok()) return s.take_error();
  while (true) {
    auto row = s->step();
    if (!row.ok()) return row.take_error();
    if (!*row) return {};
    fn(s->view(0), s->view(1), s->i64(2));
  }
}

}  // namespace cyr::store
