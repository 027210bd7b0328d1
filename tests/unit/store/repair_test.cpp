// store/reconstruct.h, store/db_kv.h and store/db_files.h against a store
// populated through the Store API, reopened afterwards to see what a server
// would see.
#include <gtest/gtest.h>

#include <fstream>
#include <set>
#include <sstream>

#include "store/db_files.h"
#include "store/db_kv.h"
#include "store/layout.h"
#include "store/quota_recompute.h"
#include "store/reconstruct.h"
#include "store/sqlite_db.h"
#include "store/store.h"
#include "tests/unit/store/store_test_util.h"

namespace fs = std::filesystem;
using namespace cyr;
using namespace cyr::store;
using namespace cyr::store::testing;

namespace {

class RepairTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = make_temp_dir("repair");
    opts_ = options_for(dir_);
    auto s = Store::open(opts_);
    ASSERT_TRUE(s.ok()) << s.error().describe();
    store_ = std::move(*s);
    ASSERT_TRUE(store_->create_mailbox(named("user.ann")).ok());
    ASSERT_TRUE(store_->set_quota("user.ann", 1000, std::nullopt).ok());
    for (int i = 0; i < 4; ++i)
      ASSERT_TRUE(store_->append(one_message("user.ann", message("m" + std::to_string(i)),
                                             i == 1 ? kFlagFlagged : 0)).ok());
    auto recs = store_->records("user.ann");
    ASSERT_TRUE(recs.ok());
    original_ = *recs;
  }
  void TearDown() override {
    store_.reset();
    fs::remove_all(dir_);
  }
  Repairer repairer(bool dry_run = false) {
    RepairOptions o = RepairOptions::from(opts_);
    o.dry_run = dry_run;
    return Repairer(o, [this](const std::string& l) { notes_ += l + "\n"; });
  }
  // The only shard of this store (user.ann's) is number 1.
  fs::path shard() { return layout::shard_db_path(opts_.configdirectory, 1); }
  void reopen() {
    store_.reset();
    auto s = Store::open(opts_);
    ASSERT_TRUE(s.ok()) << s.error().describe();
    store_ = std::move(*s);
  }

  std::string dir_;
  StoreOptions opts_;
  std::unique_ptr<Store> store_;
  std::vector<MessageRecord> original_;
  std::string notes_;
};

TEST_F(RepairTest, CleanMailboxChangesNothing) {
  auto r = repairer().reconstruct("user.ann");
  ASSERT_TRUE(r.ok()) << r.error().describe();
  EXPECT_FALSE(r->changed()) << notes_;
  EXPECT_EQ(r->records_kept, 4u);
  auto c = repairer().check_files("user.ann");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(*c, 0u) << notes_;
}

TEST_F(RepairTest, DeletedShardIsRebuiltWithSameUidsAndGuids) {
  store_.reset();
  for (const char* side : {"", "-wal", "-shm"}) fs::remove(shard().string() + side);
  auto dry = repairer(true).reconstruct("user.ann");
  ASSERT_TRUE(dry.ok()) << dry.error().describe();
  EXPECT_TRUE(dry->shard_replaced);
  EXPECT_FALSE(fs::exists(shard())) << "a dry run creates nothing";
  auto r = repairer().reconstruct("user.ann");
  ASSERT_TRUE(r.ok()) << r.error().describe();
  EXPECT_EQ(r->exists, 4u);
  EXPECT_EQ(r->files_added, 4u);
  reopen();
  auto recs = store_->records("user.ann");
  ASSERT_TRUE(recs.ok()) << recs.error().describe();
  ASSERT_EQ(recs->size(), original_.size());
  for (size_t i = 0; i < recs->size(); ++i) {
    EXPECT_EQ((*recs)[i].uid, original_[i].uid);
    EXPECT_EQ((*recs)[i].guid, original_[i].guid);
    EXPECT_EQ((*recs)[i].size, original_[i].size);
  }
  auto info = store_->lookup("user.ann");
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->last_uid, 4u);
  // A new append goes above the rebuilt UIDs, never over a file.
  auto a = store_->append(one_message("user.ann", message("after")));
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(store_->records("user.ann")->back().uid, 5u);
}

TEST_F(RepairTest, RunningNodeRefusesShardReplacement) {
  store_.reset();
  for (const char* side : {"", "-wal", "-shm"}) fs::remove(shard().string() + side);
  RepairOptions o = RepairOptions::from(opts_);
  o.node_running = true;
  Repairer rep(o, [](const std::string&) {});
  auto r = rep.reconstruct("user.ann");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::InUse);
  EXPECT_FALSE(fs::exists(shard()));
}

TEST_F(RepairTest, NeverWrittenMailboxNeedsNoShardFile) {
  ASSERT_TRUE(store_->create_mailbox(named("user.empty")).ok());
  RepairOptions o = RepairOptions::from(opts_);
  o.node_running = true;
  Repairer rep(o, [](const std::string&) {});
  auto r = rep.reconstruct("user.empty");
  ASSERT_TRUE(r.ok()) << r.error().describe();
  EXPECT_FALSE(r->changed());
}

TEST_F(RepairTest, KeptFlagsAndStrayFileGetsNextUid) {
  auto dirp = store_->message_path("user.ann", 1);
  ASSERT_TRUE(dirp.ok());
  fs::path d = dirp->parent_path();
  fs::copy_file(d / "2.", d / "00.");  // not a usable UID: renumbered
  store_.reset();
  auto r = repairer().reconstruct("user.ann");
  ASSERT_TRUE(r.ok()) << r.error().describe();
  EXPECT_EQ(r->files_renumbered, 1u) << notes_;
  EXPECT_FALSE(fs::exists(d / "00."));
  EXPECT_TRUE(fs::exists(d / "5."));
  reopen();
  auto recs = store_->records("user.ann");
  ASSERT_EQ(recs->size(), 5u);
  EXPECT_EQ((*recs)[1].flags.system & kFlagFlagged, kFlagFlagged);
  EXPECT_EQ((*recs)[4].guid, original_[1].guid);
  auto q = store_->get_quota("user.ann");
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(q->message_used, 5u);
}

TEST_F(RepairTest, KvEscapeAndFlatRoundTrip) {
  for (std::string s : {std::string("a b/c=d%e\tf\n"), std::string(""), std::string("\x01\x7f")}) {
    auto u = kv_unescape(kv_escape(s));
    ASSERT_TRUE(u.ok());
    EXPECT_EQ(*u, s);
  }
  EXPECT_FALSE(kv_unescape("%zz").ok());
  EXPECT_FALSE(kv_unescape("%4").ok());
  store_.reset();
  auto db = KvDb::open(layout::shard_db_path(opts_.configdirectory, 1));
  ASSERT_TRUE(db.ok()) << db.error().describe();
  std::stringstream flat;
  ASSERT_TRUE((*db)->export_flat(flat).ok());
  fs::path copy = fs::path(dir_) / "copy.db";
  std::stringstream in(flat.str());
  ASSERT_TRUE(KvDb::import_flat(in, copy).ok());
  auto db2 = KvDb::open(copy);
  ASSERT_TRUE(db2.ok());
  std::stringstream flat2;
  ASSERT_TRUE((*db2)->export_flat(flat2).ok());
  EXPECT_EQ(flat.str(), flat2.str());
  // A script in the schema lines is refused, and nothing is left behind.
  std::stringstream evil("@sql/0000\tDROP%20TABLE%20x\n");
  EXPECT_FALSE(KvDb::import_flat(evil, fs::path(dir_) / "evil.db").ok());
  EXPECT_FALSE(fs::exists(fs::path(dir_) / "evil.db"));
}

TEST_F(RepairTest, CheckpointAndRestore) {
  auto dbs = node_databases(opts_.configdirectory);
  ASSERT_GE(dbs.size(), 2u);
  // A shard's label is its path below configdirectory (the manifest and
  // --only name it so), and user.ann's shard is among them.
  size_t shard_dbs = 0;
  for (auto& d : dbs) {
    if (d.label.rfind("shards/", 0) != 0) continue;
    ++shard_dbs;
    EXPECT_EQ(opts_.configdirectory / d.label, d.path) << d.label;
  }
  EXPECT_EQ(shard_dbs, shard_database_files(opts_.configdirectory).size());
  EXPECT_GE(shard_dbs, 1u);
  auto cp = checkpoint(opts_.configdirectory, dbs, 2);
  ASSERT_TRUE(cp.ok()) << cp.error().describe();
  ASSERT_TRUE(store_->create_mailbox(named("user.bob")).ok());
  store_.reset();
  auto r = restore_checkpoint(opts_.configdirectory / "db.backup1", {"mailboxes.db"});
  ASSERT_TRUE(r.ok()) << r.error().describe();
  ASSERT_EQ(r->size(), 1u);
  EXPECT_TRUE(fs::exists((*r)[0].saved_as));
  reopen();
  EXPECT_FALSE(store_->lookup("user.bob").ok());
  EXPECT_EQ(store_->records("user.ann")->size(), 4u);
  // A damaged checkpoint file is refused before anything is replaced.
  store_.reset();
  fs::path z = opts_.configdirectory / "db.backup1" / "mailboxes.db.zst";
  std::fstream f(z, std::ios::in | std::ios::out | std::ios::binary);
  f.seekp(20);
  f.put('\xff');
  f.close();
  auto bad = restore_checkpoint(opts_.configdirectory / "db.backup1", {"mailboxes.db"});
  EXPECT_FALSE(bad.ok());
  reopen();
  EXPECT_TRUE(store_->lookup("user.ann").ok());
}

}  // namespace

// A repair run beside a serving store (cyr_reconstruct, cyr_quota -f while
// cyr_master runs) is a write the rolling replicator must see: its records
// reach the change log that store's read_changes() returns.
TEST_F(RepairTest, RepairBesideRunningStoreIsInTheChangeLog) {
  auto pending = store_->read_changes(1000);
  ASSERT_TRUE(pending.ok());
  ASSERT_TRUE(store_->ack_changes(*pending).ok());
  ASSERT_TRUE(store_->read_changes(1000)->records.empty());

  // Nothing to repair: nothing logged.
  ASSERT_TRUE(repairer().reconstruct("user.ann").ok());
  EXPECT_TRUE(store_->read_changes(1000)->records.empty());

  auto p3 = store_->message_path("user.ann", 3);
  ASSERT_TRUE(p3.ok());
  fs::remove(*p3);
  auto r = repairer().reconstruct("user.ann");
  ASSERT_TRUE(r.ok()) << r.error().describe();
  EXPECT_EQ(r->files_missing, 1u) << notes_;
  auto changes = store_->read_changes(1000);
  ASSERT_TRUE(changes.ok()) << changes.error().describe();
  std::set<std::pair<ChangeKind, std::string>> got;
  for (auto& c : changes->records) got.emplace(c.kind, c.arg1);
  EXPECT_TRUE(got.count({ChangeKind::Mailbox, "user.ann"})) << changes->records.size();
  EXPECT_TRUE(got.count({ChangeKind::Quota, "user.ann"})) << changes->records.size();
  // Numbered from the store's shared reservation: above what the store used.
  for (auto& c : changes->records)
    for (auto& o : pending->records) EXPECT_GT(c.seq, o.seq);
  ASSERT_TRUE(store_->ack_changes(*changes).ok());
  EXPECT_TRUE(store_->read_changes(1000)->records.empty());

  // The store goes on in the block it had reserved: no number is used twice.
  ASSERT_TRUE(store_->append(one_message("user.ann", message("after"))).ok());
  auto after = store_->read_changes(1000);
  ASSERT_TRUE(after.ok());
  ASSERT_FALSE(after->records.empty());
  for (auto& c : after->records)
    for (auto& o : changes->records) EXPECT_NE(c.seq, o.seq);
  ASSERT_TRUE(store_->ack_changes(*after).ok());

  // cyr_quota -f: a usage it corrects is logged too.
  {
    auto db = sql::Db::open(shard().string(), false);
    ASSERT_TRUE(db.ok());
    ASSERT_TRUE((*db)->exec("UPDATE quota SET storage_used = storage_used + 12345").ok());
  }
  auto fixes = recompute_quota_usage(opts_.configdirectory, false);
  ASSERT_TRUE(fixes.ok()) << fixes.error().describe();
  ASSERT_EQ(fixes->size(), 1u);
  auto q = store_->read_changes(1000);
  ASSERT_TRUE(q.ok());
  ASSERT_EQ(q->records.size(), 1u);
  EXPECT_EQ(q->records[0].kind, ChangeKind::Quota);
  EXPECT_EQ(q->records[0].arg1, "user.ann");
}
