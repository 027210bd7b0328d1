#include "server/auth/user_db.h"

#include <sqlite3.h>
#include <sys/stat.h>

#include <fstream>
#include <iterator>

#include <gtest/gtest.h>

#include "test_util.h"

namespace cyr::auth {
namespace {

constexpr uint32_t kFastIterations = 16;  // tests only; the default is 100,000

class UserDbTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path = dir.path() / kUserDbFileName;
    auto r = UserDb::open(path, UserDb::Mode::ReadWrite);
    ASSERT_TRUE(r.ok()) << r.error().describe();
    db = std::move(*r);
  }
  testing::TempDir dir;
  std::filesystem::path path;
  std::unique_ptr<UserDb> db;
};

TEST_F(UserDbTest, AddCheckRemove) {
  ASSERT_TRUE(db->set_password("fred", "correct horse", kFastIterations).ok());
  EXPECT_TRUE(db->verify("fred", "correct horse", kFastIterations).ok());

  auto wrong = db->verify("fred", "correct horsE", kFastIterations);
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.error().code, Errc::Perm);

  ASSERT_TRUE(db->remove("fred").ok());
  auto gone = db->verify("fred", "correct horse", kFastIterations);
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(gone.error().code, Errc::NotFound);
  EXPECT_EQ(db->remove("fred").error().code, Errc::NotFound);
}

TEST_F(UserDbTest, ReplacingAPasswordChangesSalt) {
  ASSERT_TRUE(db->set_password("fred", "one", kFastIterations).ok());
  auto first = db->lookup("fred");
  ASSERT_TRUE(db->set_password("fred", "two", kFastIterations).ok());
  auto second = db->lookup("fred");
  ASSERT_TRUE(first.ok() && second.ok());
  EXPECT_NE(first->salt, second->salt);
  EXPECT_EQ(second->salt.size(), kSaltSize);
  EXPECT_EQ(second->iterations, kFastIterations);
  EXPECT_FALSE(db->verify("fred", "one", kFastIterations).ok());
  EXPECT_TRUE(db->verify("fred", "two", kFastIterations).ok());
  EXPECT_EQ(db->list_users().value(), std::vector<std::string>{"fred"});
}

TEST_F(UserDbTest, PasswordIsSaslpreppedBothWays) {
  // NO-BREAK SPACE and SPACE prepare to the same string.
  ASSERT_TRUE(db->set_password("fred", "a\xC2\xA0" "b", kFastIterations).ok());
  EXPECT_TRUE(db->verify("fred", "a b", kFastIterations).ok());
  EXPECT_EQ(db->set_password("fred", "bell\x07", kFastIterations).error().code, Errc::Invalid);
  EXPECT_EQ(db->set_password("fred", std::string(kMaxPasswordLength + 1, 'x'), kFastIterations).error().code,
            Errc::Limit);
}

TEST_F(UserDbTest, RejectsBadUserIds) {
  const std::string bad[] = {"", "with space", std::string("nul\0x", 5), "tab\t", std::string(256, 'u'),
                             "bad\xC3utf8"};
  for (const auto& u : bad) EXPECT_FALSE(db->set_password(u, "pw", kFastIterations).ok()) << u;
  EXPECT_TRUE(db->set_password(std::string(255, 'u'), "pw", kFastIterations).ok());
  EXPECT_TRUE(db->set_password("fred@example.com", "pw", kFastIterations).ok());
}

TEST_F(UserDbTest, RejectsBadIterationCounts) {
  EXPECT_FALSE(db->set_password("fred", "pw", 0).ok());
  EXPECT_FALSE(db->set_password("fred", "pw", kMaxIterations + 1).ok());
}

TEST_F(UserDbTest, StoresNoPasswordAndIsPrivate) {
  ASSERT_TRUE(db->set_password("fred", "UniquePassword4711", kFastIterations).ok());
  db.reset();
  std::ifstream in(path, std::ios::binary);
  std::string contents((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_NE(contents.find("fred"), std::string::npos);
  EXPECT_EQ(contents.find("UniquePassword4711"), std::string::npos);
  struct stat st;
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST_F(UserDbTest, PersistsAndOpensReadOnly) {
  ASSERT_TRUE(db->set_password("fred", "pw", kFastIterations).ok());
  db.reset();
  auto ro = UserDb::open(path, UserDb::Mode::ReadOnly);
  ASSERT_TRUE(ro.ok()) << ro.error().describe();
  EXPECT_TRUE((*ro)->verify("fred", "pw", kFastIterations).ok());
  EXPECT_FALSE((*ro)->set_password("bob", "pw", kFastIterations).ok());
  EXPECT_EQ(UserDb::open(dir.path() / "missing.db", UserDb::Mode::ReadOnly).error().code, Errc::NotFound);
}

// A reader (the daemon) sees users added later by another connection (cyr_passwd).
TEST_F(UserDbTest, SecondConnectionSeesChanges) {
  auto reader = UserDb::open(path, UserDb::Mode::ReadOnly);
  ASSERT_TRUE(reader.ok());
  EXPECT_EQ((*reader)->verify("late", "pw", kFastIterations).error().code, Errc::NotFound);
  ASSERT_TRUE(db->set_password("late", "pw", kFastIterations).ok());
  EXPECT_TRUE((*reader)->verify("late", "pw", kFastIterations).ok());
}

TEST_F(UserDbTest, UnknownSchemaVersionAndDamagedRowsAreReported) {
  ASSERT_TRUE(db->set_password("fred", "pw", kFastIterations).ok());
  db.reset();
  sqlite3* raw = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &raw), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(raw, "UPDATE users SET stored_key = x'00'", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(raw);
  {
    auto r = UserDb::open(path, UserDb::Mode::ReadOnly);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ((*r)->lookup("fred").error().code, Errc::Corrupted);
    EXPECT_EQ((*r)->verify("fred", "pw", kFastIterations).error().code, Errc::Corrupted);
  }
  ASSERT_EQ(sqlite3_open(path.c_str(), &raw), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(raw, "PRAGMA user_version = 7", nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(raw);
  auto r = UserDb::open(path, UserDb::Mode::ReadWrite);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::Corrupted);
}

}  // namespace
}  // namespace cyr::auth
