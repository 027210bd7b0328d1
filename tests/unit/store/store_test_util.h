// Helpers shared by the store tests: a temporary store directory and small
// builders. Not thread-safe; one per test.
#pragma once

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>

#include "store/quota_recompute.h"
#include "store/store.h"

namespace cyr::store::testing {

inline std::string make_temp_dir(const char* tag) {
  std::string tmpl = std::string("/tmp/cyr_store_") + tag + "_XXXXXX";
  char* p = ::mkdtemp(tmpl.data());
  EXPECT_NE(p, nullptr);
  return tmpl;
}

// A temporary directory removed with the object (tests that open databases
// directly, without a Store).
struct ScopedTempDir {
  std::string path;
  explicit ScopedTempDir(const char* tag) : path(make_temp_dir(tag)) {}
  ScopedTempDir(const ScopedTempDir&) = delete;
  ScopedTempDir& operator=(const ScopedTempDir&) = delete;
  ~ScopedTempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

inline StoreOptions options_for(const std::string& dir) {
  StoreOptions o;
  o.configdirectory = std::filesystem::path(dir) / "conf";
  o.partitions["default"] = std::filesystem::path(dir) / "spool";
  o.partitions["other"] = std::filesystem::path(dir) / "spool2";
  o.defaultpartition = "default";
  return o;
}

inline CreateMailboxRequest named(const std::string& name, const std::string& partition = "") {
  CreateMailboxRequest r;
  r.name = name;
  r.partition = partition;
  return r;
}

inline std::string message(const std::string& subject, size_t body_size = 40) {
  std::string m = "From: a@example.com\r\nTo: b@example.com\r\nSubject: " + subject +
                  "\r\nMessage-ID: <" + subject + "@example.com>\r\n\r\n";
  while (m.size() < body_size + 80) m += "body line of the message " + subject + "\r\n";
  return m;
}

inline AppendRequest one_message(const std::string& mailbox, const std::string& bytes,
                                 uint32_t flags = 0) {
  AppendRequest r;
  r.mailbox = mailbox;
  AppendMessage m;
  m.source = MessageSource::memory(bytes);
  m.flags.system = flags;
  m.internaldate = 1700000000;
  r.messages.push_back(std::move(m));
  return r;
}

// Sets an fsync hook (StoreOptions::fsync_hook) on `o` that fails with EIO,
// while the returned flag is set, for every path containing `part` (e.g.
// "/spool/uuid/": message files and mailbox directories), and fsyncs
// everything else. The hook owns the flag: a store closed after the test's
// own variables are gone (the fixture's TearDown) may still flush through it.
inline std::shared_ptr<std::atomic<bool>> fail_fsync_under(StoreOptions& o, std::string part) {
  auto fail = std::make_shared<std::atomic<bool>>(false);
  o.fsync_hook = [fail, part](int fd) {
    char target[512] = {0};
    std::string link = "/proc/self/fd/" + std::to_string(fd);
    ssize_t n = ::readlink(link.c_str(), target, sizeof target - 1);
    if (fail->load() && n > 0 && std::string(target).find(part) != std::string::npos) {
      errno = EIO;
      return -1;
    }
    return ::fsync(fd);
  };
  return fail;
}

// Runs one SQL statement on a database file directly, outside any Store (as
// an older build or a repair would).
inline void sql_exec(const std::filesystem::path& db, const std::string& statement) {
  sqlite3* h = nullptr;
  ASSERT_EQ(sqlite3_open(db.c_str(), &h), SQLITE_OK);
  char* err = nullptr;
  int rc = sqlite3_exec(h, statement.c_str(), nullptr, nullptr, &err);
  std::string msg = err ? err : "";
  sqlite3_free(err);
  sqlite3_close(h);
  ASSERT_EQ(rc, SQLITE_OK) << statement << ": " << msg;
}

// A node's store in a temporary directory of its own (tests with two
// stores: a master and a replica), removed with it.
struct TempNode {
  std::string dir;
  std::filesystem::path confdir;
  std::unique_ptr<Store> store;
  explicit TempNode(const char* tag) : dir(make_temp_dir(tag)), confdir(options_for(dir).configdirectory) {
    reopen();
  }
  void reopen() {
    store.reset();
    auto s = Store::open(options_for(dir));
    EXPECT_TRUE(s.ok()) << s.error().describe();
    if (s.ok()) store = std::move(*s);
  }
  ~TempNode() {
    store.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
};

// A store in a temporary directory of its own, opened before each test
// (reopen() closes and opens it again, as a restart would) and removed after.
class TempStoreTest : public ::testing::Test {
 protected:
  explicit TempStoreTest(const char* tag) : tag_(tag) {}
  void SetUp() override {
    dir_ = make_temp_dir(tag_);
    opts_ = options_for(dir_);
    reopen();
  }
  void TearDown() override {
    store_.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  void reopen() {
    store_.reset();
    auto s = Store::open(opts_);
    ASSERT_TRUE(s.ok()) << s.error().describe();
    store_ = std::move(*s);
  }

  // The shard database holding mailbox `name`.
  std::filesystem::path shard_of(const std::string& name) {
    auto p = shard_db_path(opts_.configdirectory, name);
    EXPECT_TRUE(p.ok());
    return p.ok() ? *p : std::filesystem::path();
  }
  // Runs SQL on a database directly, as an older build or a repair would.
  static void sql(const std::filesystem::path& db, const std::string& statement) { sql_exec(db, statement); }
  // The first column of the first row, -1 without one.
  static int64_t sql_int(const std::filesystem::path& db, const std::string& query) {
    sqlite3* h = nullptr;
    int64_t v = -1;
    if (sqlite3_open(db.c_str(), &h) == SQLITE_OK) {
      sqlite3_stmt* st = nullptr;
      if (sqlite3_prepare_v2(h, query.c_str(), -1, &st, nullptr) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
      sqlite3_finalize(st);
    }
    sqlite3_close(h);
    return v;
  }

  const char* tag_;
  std::string dir_;
  StoreOptions opts_;
  std::unique_ptr<Store> store_;
};

}  // namespace cyr::store::testing
