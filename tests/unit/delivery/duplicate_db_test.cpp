#include "store/duplicate_db.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>

namespace cyr::store {
namespace {

namespace fs = std::filesystem;

struct TmpDir {
  TmpDir() {
    std::string t = "/tmp/cyr_dupdb_test.XXXXXX";
    EXPECT_NE(::mkdtemp(t.data()), nullptr);
    path = t;
  }
  ~TmpDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  fs::path path;
};

TEST(DuplicateDb, MarksAndFindsPerMailbox) {
  TmpDir d;
  auto db = DuplicateDb::open(d.path / "run" / "deliver.db");  // parent created
  ASSERT_TRUE(db.ok()) << db.error().describe();
  EXPECT_FALSE(*(*db)->seen("<a@x>", "user.fred"));
  ASSERT_TRUE((*db)->mark("<a@x>", "user.fred", 100).ok());
  EXPECT_TRUE(*(*db)->seen("<a@x>", "user.fred"));
  EXPECT_FALSE(*(*db)->seen("<a@x>", "user.barney"));
  EXPECT_FALSE(*(*db)->seen("<b@x>", "user.fred"));
  ASSERT_TRUE((*db)->mark("<a@x>", "user.fred", 300).ok());  // updates, no second row
  EXPECT_EQ(*(*db)->count(), 1u);
}

TEST(DuplicateDb, PruneRemovesOnlyOldEntries) {
  TmpDir d;
  auto db = DuplicateDb::open(d.path / "deliver.db");
  ASSERT_TRUE(db.ok());
  ASSERT_TRUE((*db)->mark("<old@x>", "user.a", 100).ok());
  ASSERT_TRUE((*db)->mark("<new@x>", "user.a", 500).ok());
  auto n = (*db)->prune(200);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 1u);
  EXPECT_FALSE(*(*db)->seen("<old@x>", "user.a"));
  EXPECT_TRUE(*(*db)->seen("<new@x>", "user.a"));
}

TEST(DuplicateDb, RecreatedWhenTheFileDisappears) {
  TmpDir d;
  fs::path p = d.path / "eph" / "deliver.db";
  auto db = DuplicateDb::open(p);
  ASSERT_TRUE(db.ok());
  ASSERT_TRUE((*db)->mark("<a@x>", "user.a", 1).ok());
  std::error_code ec;
  fs::remove_all(d.path / "eph", ec);  // an ephemeral /run wiped under us
  auto seen = (*db)->seen("<a@x>", "user.a");
  ASSERT_TRUE(seen.ok()) << seen.error().describe();
  EXPECT_FALSE(*seen);
  ASSERT_TRUE((*db)->mark("<b@x>", "user.a", 1).ok());
  EXPECT_TRUE(fs::exists(p));
}

TEST(DuplicateDb, CorruptFileIsReplaced) {
  TmpDir d;
  fs::path p = d.path / "deliver.db";
  std::ofstream(p) << std::string(8192, 'z');
  auto db = DuplicateDb::open(p);
  ASSERT_TRUE(db.ok()) << db.error().describe();
  EXPECT_TRUE(fs::exists(d.path / "deliver.db.corrupt"));
  ASSERT_TRUE((*db)->mark("<a@x>", "user.a", 1).ok());
  EXPECT_TRUE(*(*db)->seen("<a@x>", "user.a"));
}

TEST(DuplicateDb, RejectsBadKeys) {
  TmpDir d;
  auto db = DuplicateDb::open(d.path / "deliver.db");
  ASSERT_TRUE(db.ok());
  EXPECT_EQ((*db)->mark("", "user.a", 1).error().code, Errc::Invalid);
  EXPECT_EQ((*db)->mark(std::string(2000, 'x'), "user.a", 1).error().code, Errc::Limit);
  EXPECT_FALSE(DuplicateDb::open("relative/path.db").ok());
}

}  // namespace
}  // namespace cyr::store
