// sql::Db's kept statements: exec() keeps single statements prepared and
// still runs multi-statement strings; errors leave the connection usable;
// a kept statement reset by ResetOnExit holds no read snapshot; the
// text-keyed cache is bounded without dropping statements in use.
#include <gtest/gtest.h>

#include <string>

#include "store/sqlite_db.h"
#include "tests/unit/store/store_test_util.h"

namespace cyr::store::sql {
namespace {

using store::testing::make_temp_dir;

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
  std::string dir = make_temp_dir("sqldb_exec");
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
  std::string dir = make_temp_dir("sqldb_snap");
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
  std::string dir = make_temp_dir("sqldb_text");
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

}  // namespace
}  // namespace cyr::store::sql
