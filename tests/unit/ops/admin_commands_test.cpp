// cyr_quota, cyr_mbexamine and cyr_mbpath run as real processes (the built
// bin/cyr_* links) against a store populated through the Store API.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "ops/adm/common.h"
#include "store/quota_recompute.h"
#include "store/store.h"

namespace fs = std::filesystem;
using namespace cyr;
using namespace cyr::store;

namespace {

struct RunResult {
  int status = -1;
  std::string out;  // stdout and stderr
};

RunResult run(const std::string& args) {
  std::string cmd = std::string(CYR_BINARY_DIR) + "/bin/" + args + " 2>&1";
  RunResult r;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  int st = pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

std::string message(int i, size_t pad) {
  return "From: a@example.com\r\nSubject: m" + std::to_string(i) + "\r\n\r\n" + std::string(pad, 'x') +
         "\r\n";
}

class AdminCommandsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() /
            ("cyr_ops_test_" + std::to_string(getpid()) + "_" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    fs::create_directories(root_);
    conf_ = (root_ / "imapd.conf").string();
    std::ofstream(conf_) << "configdirectory: " << (root_ / "conf").string() << "\n"
                         << "partition-default: " << (root_ / "spool").string() << "\n";
    opts_.configdirectory = root_ / "conf";
    opts_.partitions["default"] = root_ / "spool";
    auto s = Store::open(opts_);
    ASSERT_TRUE(s.ok()) << s.error().describe();
    auto& store = *s;
    for (const char* n : {"user.fred", "user.fred.Sent", "user.barney"}) {
      CreateMailboxRequest req;
      req.name = n;
      ASSERT_TRUE(store->create_mailbox(req).ok()) << n;
    }
    ASSERT_TRUE(store->set_quota("user.fred", 1000, 10).ok());
    AppendRequest inbox{"user.fred", {}, true};
    for (int i = 0; i < 3; ++i) inbox.messages.push_back({MessageSource::memory(message(i, 100 * (i + 1))), {}, 0});
    ASSERT_TRUE(store->append(inbox).ok());
    AppendRequest sent{"user.fred.Sent", {}, true};
    for (int i = 0; i < 2; ++i) sent.messages.push_back({MessageSource::memory(message(10 + i, 50)), {}, 0});
    ASSERT_TRUE(store->append(sent).ok());
    auto q = store->get_quota("user.fred");
    ASSERT_TRUE(q.ok());
    true_bytes_ = q->storage_used_bytes;
    ASSERT_EQ(q->message_used, 5u);
    auto info = store->lookup("user.fred");
    ASSERT_TRUE(info.ok());
    fred_uidvalidity_ = info->uidvalidity;
    auto recs = store->records("user.fred");
    ASSERT_TRUE(recs.ok());
    for (auto& r : *recs) fred_guids_.push_back(r.guid.to_hex());
    auto mp = store->message_path("user.fred", 1);
    ASSERT_TRUE(mp.ok());
    fred_dir_ = mp->parent_path().string();
  }
  void TearDown() override { if (!getenv("KEEP")) fs::remove_all(root_); }

  // Sets user.fred's recorded usage to wrong values behind the store's back.
  void skew_usage(int64_t bytes, int64_t messages) {
    auto p = shard_db_path(opts_.configdirectory, "user.fred");
    ASSERT_TRUE(p.ok());
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(p->c_str(), &db), SQLITE_OK);
    std::string sql = "UPDATE quota SET storage_used=" + std::to_string(bytes) +
                      ", message_used=" + std::to_string(messages) +
                      "; UPDATE mailbox SET exists_count=42, total_size=7 WHERE name='user.fred'";
    EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK);
    sqlite3_close(db);
  }

  QuotaInfo fred_quota() {
    auto s = Store::open(opts_);
    EXPECT_TRUE(s.ok());
    auto q = (*s)->get_quota("user.fred");
    EXPECT_TRUE(q.ok());
    return q.ok() ? *q : QuotaInfo{};
  }

  fs::path root_;
  std::string conf_;
  StoreOptions opts_;
  uint64_t true_bytes_ = 0;
  uint32_t fred_uidvalidity_ = 0;
  std::vector<std::string> fred_guids_;
  std::string fred_dir_;
};

// Admin tools visit each user once: whatever store_open_shards says for the
// node, a tool keeps only a few user databases open (a walk over thousands
// of users would otherwise hold ~100 KB per user).
TEST_F(AdminCommandsTest, ToolsKeepFewUserDatabasesOpen) {
  auto with_limit = [&](const char* n) {
    std::ofstream(conf_, std::ios::trunc) << "configdirectory: " << (root_ / "conf").string() << "\n"
                                          << "partition-default: " << (root_ / "spool").string() << "\n"
                                          << "store_open_shards: " << n << "\n";
    ops::adm::OpenedStore node;
    EXPECT_EQ(ops::adm::open_node("cyr_test", conf_, true, node), 0);
    EXPECT_EQ(node.options.open_mode, OpenMode::Secondary);
    EXPECT_TRUE(node.store != nullptr);
    return node.options.max_open_shards;
  };
  EXPECT_EQ(with_limit("4096"), ops::adm::kToolOpenShards);
  EXPECT_EQ(with_limit("20"), 20u);
}

TEST_F(AdminCommandsTest, QuotaReportsRootsWithLimitsAndUsage) {
  auto r = run("cyr_quota -C " + conf_);
  ASSERT_EQ(r.status, 0) << r.out;
  uint64_t kib = true_bytes_ / 1024;  // whole KiB, rounded down as Cyrus reports
  uint64_t pct = kib * 100 / 1000;
  char want[128];
  snprintf(want, sizeof want, "%10s %8llu %10llu %-8s %s", "1000", (unsigned long long)pct,
           (unsigned long long)kib, "STORAGE", "user.fred");
  EXPECT_NE(r.out.find(want), std::string::npos) << r.out;
  snprintf(want, sizeof want, "%10s %8s %10s %-8s %s", "10", "50", "5", "MESSAGE", "user.fred");
  EXPECT_NE(r.out.find(want), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("user.barney"), std::string::npos) << "barney has no quota root\n" << r.out;
  // Root arguments select by prefix.
  r = run("cyr_quota -C " + conf_ + " user.b");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_EQ(r.out.find("user.fred"), std::string::npos) << r.out;
}

TEST_F(AdminCommandsTest, QuotaFixRepairsSkewedUsage) {
  skew_usage(5, 99);
  auto r = run("cyr_quota -C " + conf_ + " -f");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("user.fred: STORAGE usage was 5, now " + std::to_string(true_bytes_)),
            std::string::npos) << r.out;
  EXPECT_NE(r.out.find("user.fred: MESSAGE usage was 99, now 5"), std::string::npos) << r.out;
  QuotaInfo q = fred_quota();
  EXPECT_EQ(q.storage_used_bytes, true_bytes_);
  EXPECT_EQ(q.message_used, 5u);
  {
    auto st = Store::open(opts_);
    ASSERT_TRUE(st.ok());
    auto info = (*st)->lookup("user.fred");
    ASSERT_TRUE(info.ok());
    EXPECT_EQ(info->exists, 3u) << "per-mailbox counters are recounted too";
  }
  // A second run finds nothing to fix.
  r = run("cyr_quota -C " + conf_ + " -f");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_EQ(r.out.find("usage was"), std::string::npos) << r.out;
}

TEST_F(AdminCommandsTest, QuotaFixDryRunChangesNothing) {
  skew_usage(7, 1);
  auto r = run("cyr_quota -C " + conf_ + " -f -n");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("user.fred: MESSAGE usage was 1, would be 5"), std::string::npos) << r.out;
  QuotaInfo q = fred_quota();
  EXPECT_EQ(q.storage_used_bytes, 7u);
  EXPECT_EQ(q.message_used, 1u);
}

TEST_F(AdminCommandsTest, QuotaRejectsBadUsageAndMissingStore) {
  EXPECT_EQ(run("cyr_quota -C " + conf_ + " -q").status, 64);
  EXPECT_EQ(run("cyr_quota -C " + conf_ + " -n").status, 64);
  std::string other = (root_ / "other.conf").string();
  std::ofstream(other) << "configdirectory: " << (root_ / "nowhere").string() << "\n"
                       << "partition-default: " << (root_ / "spool").string() << "\n";
  auto r = run("cyr_quota -C " + other);
  EXPECT_EQ(r.status, 66) << r.out;
  EXPECT_FALSE(fs::exists(root_ / "nowhere")) << "an admin tool must not create a store";
}

TEST_F(AdminCommandsTest, MbexamineShowsHeaderAndEveryRecord) {
  auto r = run("cyr_mbexamine -C " + conf_ + " user.fred");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("UIDValidity: " + std::to_string(fred_uidvalidity_)), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Minor Version: "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Exists: 3"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Quota Root: user.fred"), std::string::npos) << r.out;
  ASSERT_EQ(fred_guids_.size(), 3u);
  for (auto& g : fred_guids_) EXPECT_NE(r.out.find("GUID:" + g), std::string::npos) << g;
  EXPECT_NE(r.out.find("UID:3"), std::string::npos);

  r = run("cyr_mbexamine -C " + conf_ + " -u 2 user.fred");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("GUID:" + fred_guids_[1]), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("GUID:" + fred_guids_[0]), std::string::npos) << r.out;

  r = run("cyr_mbexamine -C " + conf_ + " -s 3 user.fred");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("GUID:" + fred_guids_[2]), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("GUID:" + fred_guids_[1]), std::string::npos) << r.out;
}

TEST_F(AdminCommandsTest, MbexamineShowsExpungedTombstones) {
  {
    auto s = Store::open(opts_);
    ASSERT_TRUE(s.ok());
    ASSERT_TRUE((*s)->expunge("user.fred", UidSet::of({1})).ok());
  }
  auto r = run("cyr_mbexamine -C " + conf_ + " user.fred");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_NE(r.out.find("[EXPUNGED]"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Exists: 2"), std::string::npos) << r.out;
}

TEST_F(AdminCommandsTest, MbexamineFailsOnUnknownMailboxAndBadArgs) {
  auto r = run("cyr_mbexamine -C " + conf_ + " user.nobody");
  EXPECT_EQ(r.status, 1) << r.out;
  EXPECT_NE(r.out.find("user.nobody"), std::string::npos) << r.out;
  EXPECT_EQ(run("cyr_mbexamine -C " + conf_ + " -u x user.fred").status, 64);
  EXPECT_EQ(run("cyr_mbexamine -C " + conf_ + " -u 0 user.fred").status, 64);
  EXPECT_EQ(run("cyr_mbexamine -C " + conf_).status, 64);
}

TEST_F(AdminCommandsTest, MbpathPrintsTheMessageDirectoryAndIndex) {
  auto r = run("cyr_mbpath -C " + conf_ + " user.fred");
  ASSERT_EQ(r.status, 0) << r.out;
  EXPECT_EQ(r.out, fred_dir_ + "\n");
  r = run("cyr_mbpath -C " + conf_ + " -m user.fred");
  ASSERT_EQ(r.status, 0) << r.out;
  ASSERT_FALSE(r.out.empty());
  EXPECT_TRUE(fs::exists(r.out.substr(0, r.out.size() - 1))) << r.out;

  r = run("cyr_mbpath -C " + conf_ + " user.nobody user.fred");
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.out.find(fred_dir_), std::string::npos) << "continues after an error without -s";
  r = run("cyr_mbpath -C " + conf_ + " -s -q user.nobody user.fred");
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.out, "") << "-q silences, -s stops";
}

TEST_F(AdminCommandsTest, MboxlistDumpUndumpRoundTripIntoAnEmptyList) {
  auto dump = run("cyr_mboxlist -C " + conf_ + " -d");
  ASSERT_EQ(dump.status, 0) << dump.out;
  std::string dump_file = (root_ / "mboxlist.txt").string();
  std::ofstream(dump_file) << dump.out;
  EXPECT_NE(dump.out.find("user.fred.Sent\t"), std::string::npos) << dump.out;

  // A second node (empty list) loads the dump: same names, ids, uidvalidity, ACLs.
  fs::path other = root_ / "other";
  fs::create_directories(other);
  std::string other_conf = (other / "imapd.conf").string();
  std::ofstream(other_conf) << "configdirectory: " << (other / "conf").string() << "\n"
                            << "partition-default: " << (other / "spool").string() << "\n";
  StoreOptions other_opts;
  other_opts.configdirectory = other / "conf";
  other_opts.partitions["default"] = other / "spool";
  { ASSERT_TRUE(Store::open(other_opts).ok()); }
  auto load = run("cyr_mboxlist -C " + other_conf + " -u " + dump_file);
  ASSERT_EQ(load.status, 0) << load.out;
  EXPECT_NE(load.out.find("3 mailboxes created"), std::string::npos) << load.out;
  auto again = run("cyr_mboxlist -C " + other_conf + " -d");
  ASSERT_EQ(again.status, 0);
  EXPECT_EQ(again.out, dump.out);

  auto s = Store::open(opts_);
  auto t = Store::open(other_opts);
  ASSERT_TRUE(s.ok() && t.ok());
  for (const char* n : {"user.fred", "user.fred.Sent", "user.barney"}) {
    auto a = (*s)->lookup(n);
    auto b = (*t)->lookup(n);
    ASSERT_TRUE(a.ok() && b.ok()) << n;
    EXPECT_EQ(a->uniqueid, b->uniqueid);
    EXPECT_EQ(a->uidvalidity, b->uidvalidity);
    EXPECT_EQ(a->acl, b->acl);
  }
}

TEST_F(AdminCommandsTest, MboxlistUndumpRefusesBadInputAndConflicts) {
  std::string bad = (root_ / "bad.txt").string();
  std::ofstream(bad) << "user.new\tabc-1\tdefault\t5\tnew\tlr\t\n"
                     << "user.worse\tabc-2\tdefault\tnotanumber\tx\tlr\t\n";
  auto r = run("cyr_mboxlist -C " + conf_ + " -u " + bad);
  EXPECT_EQ(r.status, 65) << r.out;
  EXPECT_NE(r.out.find("line 2"), std::string::npos) << r.out;
  auto s = Store::open(opts_);
  ASSERT_TRUE(s.ok());
  EXPECT_FALSE((*s)->lookup("user.new").ok()) << "a bad line must change nothing";
  s->reset();

  std::string conflict = (root_ / "conflict.txt").string();
  std::ofstream(conflict) << "user.new\tabc-1\tdefault\t5\tnew\tlr\t\n"
                          << "user.fred\tnot-freds-id\tdefault\t5\tfred\tlr\t\n";
  r = run("cyr_mboxlist -C " + conf_ + " -u " + conflict);
  EXPECT_EQ(r.status, 65) << r.out;
  EXPECT_NE(r.out.find("user.fred exists"), std::string::npos) << r.out;
  s = Store::open(opts_);
  ASSERT_TRUE(s.ok());
  EXPECT_FALSE((*s)->lookup("user.new").ok());
  EXPECT_EQ(run("cyr_mboxlist -C " + conf_).status, 64);
  EXPECT_EQ(run("cyr_mboxlist -C " + conf_ + " -d -u").status, 64);
}

}  // namespace
