// sql::Db's kept statements: exec() keeps single statements prepared and
// still runs multi-statement strings; errors leave the connection usable;
// a kept statement reset by ResetOnExit holds no read snapshot; the
// text-keyed cache is bounded without dropping statements in use; and
// sync_wal() flushes the WAL that a synchronous=NORMAL commit left.
#include <gtest/gtest.h>

#include <atomic>
#include <string>

#include <sqlite3.h>

#include "store/sqlite_db.h"
#include "tests/unit/store/store_test_util.h"

namespace cyr::store::sql {
namespace {

using store::testing::ScopedTempDir;

int64_t count_rows(Db& db) {
  auto st = db.cached("SELECT COUNT(*) FROM t");
  EXPECT_TRUE(st.ok());
  if (!st.ok()) return -1;
  ResetOnExit reset(*st);
  auto r = (*st)->step();
  EXPECT_TRUE(r.ok() && *r);
  return (*st)->i64(0);
}

TEST(SqliteDb, ExecRunsSingleAndMultiStatementTextsAndSurvivesErrors) {
  ScopedTempDir temp("sqldb_exec");
  const std::string& dir = temp.path;
  auto db = Db::open(dir + "/a.db", true);
  ASSERT_TRUE(db.ok()) << db.error().describe();
  // Several statements in one text: not kept, all run.
  ASSERT_TRUE((*db)->exec("CREATE TABLE t(x INTEGER); CREATE TABLE u(y INTEGER);").ok());
  // The same transaction statements many times over (kept and re-run).
  for (int i = 0; i < 50; ++i) {
    ASSERT_TRUE((*db)->exec("BEGIN IMMEDIATE").ok()) << i;
    auto ins = (*db)->cached("INSERT INTO t(x) VALUES(?)");
    ASSERT_TRUE(ins.ok());
    (*ins)->bind(1, int64_t(i));
    ASSERT_TRUE((*ins)->run().ok());
    ASSERT_TRUE((*db)->exec(i % 2 ? "COMMIT" : "ROLLBACK").ok()) << i;
  }
  EXPECT_EQ(count_rows(**db), 25);
  // A failing statement is reported with its text; the next ones work.
  auto bad = (*db)->exec("INSERT INTO nowhere VALUES(1)");
  ASSERT_FALSE(bad.ok());
  auto commit_outside = (*db)->exec("COMMIT");
  ASSERT_FALSE(commit_outside.ok()) << "COMMIT without a transaction must fail";
  EXPECT_NE(commit_outside.error().detail.find("COMMIT"), std::string::npos) << commit_outside.error().describe();
  ASSERT_TRUE((*db)->exec("BEGIN").ok());
  ASSERT_TRUE((*db)->exec("COMMIT").ok());
  // Savepoints nest and roll back as with sqlite3_exec.
  ASSERT_TRUE((*db)->exec("BEGIN IMMEDIATE").ok());
  ASSERT_TRUE((*db)->exec("SAVEPOINT op").ok());
  ASSERT_TRUE((*db)->exec("INSERT INTO t(x) VALUES(100)").ok());
  ASSERT_TRUE((*db)->exec("ROLLBACK TO op").ok());
  ASSERT_TRUE((*db)->exec("RELEASE op").ok());
  ASSERT_TRUE((*db)->exec("COMMIT").ok());
  EXPECT_EQ(count_rows(**db), 25);
}

// A kept statement left mid-iteration would keep its connection inside a
// read transaction: the connection would go on seeing the old snapshot.
TEST(SqliteDb, AKeptStatementResetOnExitHoldsNoSnapshot) {
  ScopedTempDir temp("sqldb_snap");
  const std::string& dir = temp.path;
  auto a = Db::open(dir + "/s.db", true);
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE((*a)->exec("CREATE TABLE t(x INTEGER)").ok());
  ASSERT_TRUE((*a)->exec("INSERT INTO t(x) VALUES(1)").ok());
  ASSERT_TRUE((*a)->exec("INSERT INTO t(x) VALUES(2)").ok());
  auto b = Db::open(dir + "/s.db", false);
  ASSERT_TRUE(b.ok());
  {
    auto st = (*a)->cached("SELECT x FROM t ORDER BY x");
    ASSERT_TRUE(st.ok());
    ResetOnExit reset(*st);
    auto r = (*st)->step();
    ASSERT_TRUE(r.ok() && *r);  // one row read, then the scope ends early
  }
  ASSERT_TRUE((*b)->exec("INSERT INTO t(x) VALUES(3)").ok());
  EXPECT_EQ(count_rows(**a), 3) << "connection a still reads an old snapshot";
}

TEST(SqliteDb, TextKeyedStatementsAreKeptAndBounded) {
  ScopedTempDir temp("sqldb_text");
  const std::string& dir = temp.path;
  auto db = Db::open(dir + "/c.db", true);
  ASSERT_TRUE(db.ok());
  std::string q1 = std::string("SELECT ") + "1";
  auto s1 = (*db)->cached_text(q1);
  auto s1again = (*db)->cached_text(std::string("SELECT 1"));
  auto s2 = (*db)->cached_text("SELECT 2");
  ASSERT_TRUE(s1.ok() && s1again.ok() && s2.ok());
  EXPECT_EQ(*s1, *s1again) << "the same text, the same kept statement";
  EXPECT_NE(*s1, *s2);
  // Many distinct texts: at some point a clear Limit error, and the
  // statements handed out before stay valid.
  bool limited = false;
  for (int i = 3; i < 1000 && !limited; ++i) {
    auto s = (*db)->cached_text("SELECT " + std::to_string(i));
    if (!s.ok()) {
      EXPECT_EQ(s.error().code, Errc::Limit);
      limited = true;
    }
  }
  EXPECT_TRUE(limited);
  auto r = (*s1)->step();
  ASSERT_TRUE(r.ok() && *r);
  EXPECT_EQ((*s1)->i64(0), 1);
  (*s1)->reset();
}

// A VFS over the default one that counts the syncs of WAL files: what a
// commit flushes cannot be seen otherwise.
std::atomic<int> g_wal_syncs{0};
sqlite3_vfs* g_real_vfs = nullptr;
struct CountingFile {
  sqlite3_file base;
  sqlite3_file* real;  // right behind this struct, in the same allocation
  bool wal;
};
sqlite3_file* real_of(sqlite3_file* f) { return reinterpret_cast<CountingFile*>(f)->real; }
int c_close(sqlite3_file* f) { return real_of(f)->pMethods->xClose(real_of(f)); }
int c_read(sqlite3_file* f, void* b, int n, sqlite3_int64 o) { return real_of(f)->pMethods->xRead(real_of(f), b, n, o); }
int c_write(sqlite3_file* f, const void* b, int n, sqlite3_int64 o) {
  return real_of(f)->pMethods->xWrite(real_of(f), b, n, o);
}
int c_truncate(sqlite3_file* f, sqlite3_int64 n) { return real_of(f)->pMethods->xTruncate(real_of(f), n); }
int c_sync(sqlite3_file* f, int flags) {
  if (reinterpret_cast<CountingFile*>(f)->wal) ++g_wal_syncs;
  return real_of(f)->pMethods->xSync(real_of(f), flags);
}
int c_size(sqlite3_file* f, sqlite3_int64* n) { return real_of(f)->pMethods->xFileSize(real_of(f), n); }
int c_lock(sqlite3_file* f, int l) { return real_of(f)->pMethods->xLock(real_of(f), l); }
int c_unlock(sqlite3_file* f, int l) { return real_of(f)->pMethods->xUnlock(real_of(f), l); }
int c_reserved(sqlite3_file* f, int* r) { return real_of(f)->pMethods->xCheckReservedLock(real_of(f), r); }
int c_fcntl(sqlite3_file* f, int op, void* a) { return real_of(f)->pMethods->xFileControl(real_of(f), op, a); }
int c_sector(sqlite3_file* f) { return real_of(f)->pMethods->xSectorSize(real_of(f)); }
int c_dev(sqlite3_file* f) { return real_of(f)->pMethods->xDeviceCharacteristics(real_of(f)); }
int c_shm_map(sqlite3_file* f, int i, int sz, int ext, void volatile** p) {
  return real_of(f)->pMethods->xShmMap(real_of(f), i, sz, ext, p);
}
int c_shm_lock(sqlite3_file* f, int o, int n, int fl) { return real_of(f)->pMethods->xShmLock(real_of(f), o, n, fl); }
void c_shm_barrier(sqlite3_file* f) { real_of(f)->pMethods->xShmBarrier(real_of(f)); }
int c_shm_unmap(sqlite3_file* f, int del) { return real_of(f)->pMethods->xShmUnmap(real_of(f), del); }
int c_fetch(sqlite3_file* f, sqlite3_int64 o, int n, void** p) { return real_of(f)->pMethods->xFetch(real_of(f), o, n, p); }
int c_unfetch(sqlite3_file* f, sqlite3_int64 o, void* p) { return real_of(f)->pMethods->xUnfetch(real_of(f), o, p); }
const sqlite3_io_methods kCountingMethods = {3,         c_close,   c_read,         c_write,       c_truncate, c_sync,
                                             c_size,    c_lock,    c_unlock,       c_reserved,    c_fcntl,    c_sector,
                                             c_dev,     c_shm_map, c_shm_lock,     c_shm_barrier, c_shm_unmap, c_fetch,
                                             c_unfetch};
int c_open(sqlite3_vfs*, const char* name, sqlite3_file* f, int flags, int* out) {
  auto* cf = reinterpret_cast<CountingFile*>(f);
  cf->real = reinterpret_cast<sqlite3_file*>(cf + 1);
  cf->wal = (flags & SQLITE_OPEN_WAL) != 0;
  int rc = g_real_vfs->xOpen(g_real_vfs, name, cf->real, flags, out);
  // SQLite calls xClose only when pMethods is set: only on success.
  cf->base.pMethods = rc == SQLITE_OK && cf->real->pMethods ? &kCountingMethods : nullptr;
  return rc;
}
const char* counting_vfs() {
  static sqlite3_vfs vfs;
  static const char* name = [] {
    g_real_vfs = sqlite3_vfs_find(nullptr);
    vfs = *g_real_vfs;
    vfs.pNext = nullptr;
    vfs.zName = "cyr-test-counting";
    vfs.szOsFile = static_cast<int>(sizeof(CountingFile)) + g_real_vfs->szOsFile;
    vfs.xOpen = c_open;
    return sqlite3_vfs_register(&vfs, 0) == SQLITE_OK ? vfs.zName : nullptr;
  }();
  return name;
}

// sync_wal(): a commit with synchronous=NORMAL leaves the WAL unflushed and
// sync_wal() flushes it, as a FULL commit would have; before anything was
// written there is nothing to flush and no error.
TEST(SqliteDb, SyncWalFlushesWhatANormalCommitLeft) {
  const char* vfs = counting_vfs();
  ASSERT_NE(vfs, nullptr);
  ScopedTempDir temp("sqldb_syncwal");
  const std::string& dir = temp.path;
  auto db = Db::open(dir + "/a.db", true, vfs);
  ASSERT_TRUE(db.ok()) << db.error().describe();
  ASSERT_TRUE((*db)->in_wal_mode());
  EXPECT_TRUE((*db)->sync_wal().ok()) << "nothing written yet";
  ASSERT_TRUE((*db)->exec("CREATE TABLE t(x INTEGER)").ok());
  int before = g_wal_syncs.load();
  ASSERT_TRUE((*db)->exec("INSERT INTO t(x) VALUES(1)").ok());
  EXPECT_GT(g_wal_syncs.load(), before) << "a FULL commit flushes its WAL";

  ASSERT_TRUE((*db)->exec("PRAGMA synchronous=NORMAL").ok());
  before = g_wal_syncs.load();
  ASSERT_TRUE((*db)->exec("INSERT INTO t(x) VALUES(2)").ok());
  EXPECT_EQ(g_wal_syncs.load(), before) << "a NORMAL commit flushed the WAL: nothing to measure";
  ASSERT_TRUE((*db)->sync_wal().ok());
  EXPECT_EQ(g_wal_syncs.load(), before + 1);
  EXPECT_EQ(count_rows(**db), 2);
}

}  // namespace
}  // namespace cyr::store::sql
