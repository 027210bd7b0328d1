// Admin tools that write a node's databases outside a Store -
// cyr_reconstruct -m (store::Repairer::rebuild_list) and cyr_dbtool set/delete
// (KvDb with store::replication_log_hook) - log what they changed, so the
// next rolling pass makes the replica match: two in-process stores joined by
// LoopbackPeer, as in repl_test.cpp, compared with the verifier. A replica
// writes as before and logs nothing.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <filesystem>
#include <set>
#include <tuple>

#include "store/db_kv.h"
#include "store/layout.h"
#include "store/quota_recompute.h"
#include "store/reconstruct.h"
#include "store/tool_changes.h"
#include "sync/rolling_sync.h"
#include "sync/sync_client.h"
#include "sync/sync_peer.h"
#include "sync/sync_server.h"
#include "tests/unit/store/store_test_util.h"

namespace cyr::sync {
namespace {

namespace fs = std::filesystem;
using store::ChangeKind;
using store::Store;
using store::testing::make_temp_dir;
using store::testing::message;
using store::testing::named;
using store::testing::one_message;
using store::testing::options_for;
using Change = std::tuple<ChangeKind, std::string, std::string>;

using Node = store::testing::TempNode;

using store::testing::sql_exec;

int64_t shard_mbid(const fs::path& confdir, const std::string& name) {
  auto path = store::shard_db_path(confdir, name);
  EXPECT_TRUE(path.ok());
  sqlite3* h = nullptr;
  EXPECT_EQ(sqlite3_open(path->c_str(), &h), SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  EXPECT_EQ(sqlite3_prepare_v2(h, "SELECT mbid FROM mailbox WHERE name=?", -1, &st, nullptr), SQLITE_OK);
  sqlite3_bind_text(st, 1, name.c_str(), -1, SQLITE_TRANSIENT);
  int64_t mbid = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
  sqlite3_finalize(st);
  sqlite3_close(h);
  EXPECT_GT(mbid, 0) << name << " has no row in its shard";
  return mbid;
}

class AdminChanges : public ::testing::Test {
 protected:
  AdminChanges()
      : master("admchg_m"),
        replica("admchg_r"),
        server(*replica.store, SyncServerOptions{replica.dir + "/stage", {}, "test"}),
        peer(server) {
    EXPECT_TRUE(replica.store->set_node_state({store::Role::Replica, 1}).ok());
  }

  void append(const std::string& box, const std::string& subject) {
    auto r = master.store->append(one_message(box, message(subject)));
    ASSERT_TRUE(r.ok()) << r.error().describe();
  }
  // What the master's change log holds now (not yet acknowledged).
  std::set<Change> pending() {
    auto b = master.store->read_changes(10000);
    EXPECT_TRUE(b.ok()) << b.error().describe();
    std::set<Change> out;
    if (b.ok())
      for (auto& r : b->records) out.emplace(r.kind, r.arg1, r.arg2);
    return out;
  }
  void rolling_pass() {
    SyncClient c(*master.store, peer, {});
    auto res = run_rolling_cycle(*master.store, c);
    ASSERT_TRUE(res.ok()) << res.error().describe();
    EXPECT_TRUE(res->failures.empty()) << res->failures.front();
    EXPECT_TRUE(pending().empty());
  }
  std::vector<std::string> differences(const std::vector<std::string>& users = {}) {
    auto rep = verify(*master.store, peer, users);
    EXPECT_TRUE(rep.ok()) << rep.error().describe();
    if (!rep.ok()) return {"verify failed"};
    EXPECT_GT(rep->mailboxes_compared, 0u);
    return rep->differences;
  }
  std::string joined(const std::vector<std::string>& v) {
    std::string s;
    for (auto& d : v) s += d + "\n";
    return s;
  }
  Result<store::ListRebuild> rebuild_master_list() {
    store::Repairer rep(store::RepairOptions::from(options_for(master.dir)), [](const std::string&) {});
    return rep.rebuild_list();
  }
  // cyr_dbtool <db> sqlite set|delete, as the command does it.
  Status dbtool(const fs::path& db, const std::string& key, const std::optional<std::string>& value,
                size_t* logged) {
    auto kv = store::KvDb::open(db);
    if (!kv.ok()) return kv.take_error();
    auto hook = store::replication_log_hook(master.confdir, store::classify_node_db(master.confdir, db), logged);
    return value ? (*kv)->set(key, *value, hook) : (*kv)->remove(key, hook);
  }

  Node master, replica;
  SyncServerSession server;
  LoopbackPeer peer;
};

TEST_F(AdminChanges, RebuiltMailboxListIsLoggedAndTheRollingPassMakesTheReplicaMatch) {
  Store& m = *master.store;
  for (auto* n : {"user.adm", "user.adm.Work", "shared.board"}) {
    ASSERT_TRUE(m.create_mailbox(named(n)).ok());
    append(n, std::string(n) + "-1");
  }
  append("user.adm", "second");
  // ACLs the rebuild cannot know (it lists recovered entries with the
  // default ACL): the replica keeps these unless the rebuild is logged.
  ASSERT_TRUE(m.set_acl("user.adm", "adm\tlrswipkxtecdan\tbob\tlr\t").ok());
  ASSERT_TRUE(m.set_acl("shared.board", "anyone\tlrs\tbob\tlrsw\t").ok());
  rolling_pass();
  ASSERT_TRUE(differences().empty());

  // The node stopped, its mailbox list lost: cyr_reconstruct -m.
  master.store.reset();
  for (const char* suffix : {"", "-wal", "-shm"})
    fs::remove(store::layout::list_db_path(master.confdir).string() + suffix);
  auto r = rebuild_master_list();
  ASSERT_TRUE(r.ok()) << r.error().describe();
  EXPECT_EQ(r->from_shards, 3u);
  EXPECT_EQ(r->logged, 3u);
  master.reopen();

  EXPECT_EQ(pending(), (std::set<Change>{{ChangeKind::Mailbox, "user.adm", ""},
                                         {ChangeKind::Mailbox, "user.adm.Work", ""},
                                         {ChangeKind::Mailbox, "shared.board", ""}}));
  // The primary now has the default ACLs; the replica still the old ones.
  auto before = differences();
  EXPECT_FALSE(before.empty());
  rolling_pass();
  auto after = differences();
  EXPECT_TRUE(after.empty()) << joined(after);
  auto acl = master.store->get_acl("user.adm");
  auto racl = replica.store->get_acl("user.adm");
  ASSERT_TRUE(acl.ok() && racl.ok());
  EXPECT_EQ(*acl, *racl);
  EXPECT_EQ(acl->find("bob"), std::string::npos) << *acl;
}

TEST_F(AdminChanges, RebuildLogsOnlyWhatTheOldListLackedAndNothingOnAReplica) {
  Store& m = *master.store;
  for (auto* n : {"user.keep", "user.lost"}) {
    ASSERT_TRUE(m.create_mailbox(named(n)).ok());
    append(n, std::string(n) + "-1");
  }
  rolling_pass();
  fs::path list = store::layout::list_db_path(master.confdir);

  // One row of the list lost; the other entries are kept as they were.
  master.store.reset();
  sql_exec(list, "DELETE FROM mailbox WHERE name='user.lost'");
  auto r = rebuild_master_list();
  ASSERT_TRUE(r.ok()) << r.error().describe();
  EXPECT_EQ(r->from_shards, 1u);
  EXPECT_EQ(r->from_old_list, 1u);
  EXPECT_EQ(r->logged, 1u);
  master.reopen();
  EXPECT_EQ(pending(), (std::set<Change>{{ChangeKind::Mailbox, "user.lost", ""}}));
  rolling_pass();
  EXPECT_TRUE(differences().empty());

  // The same repair on a node whose role is replica: the list is rebuilt
  // as before, and nothing is logged (a replica does not chain).
  ASSERT_TRUE(master.store->set_node_state({store::Role::Replica, 2}).ok());
  master.store.reset();
  sql_exec(list, "DELETE FROM mailbox WHERE name='user.lost'");
  r = rebuild_master_list();
  ASSERT_TRUE(r.ok()) << r.error().describe();
  EXPECT_EQ(r->from_shards, 1u);
  EXPECT_EQ(r->logged, 0u);
  master.reopen();
  EXPECT_TRUE(master.store->lookup("user.lost").ok());
  EXPECT_TRUE(pending().empty());
}

TEST_F(AdminChanges, DbtoolWritesAreLoggedAsTheStoreLogsThemAndReachTheReplica) {
  Store& m = *master.store;
  for (auto* n : {"user.kv", "user.kv.Sub"}) {
    ASSERT_TRUE(m.create_mailbox(named(n)).ok());
    append(n, std::string(n) + "-1");
  }
  ASSERT_TRUE(m.set_quota("user.kv", 1000, std::nullopt).ok());
  rolling_pass();
  ASSERT_TRUE(differences({"kv"}).empty());

  fs::path list = store::layout::list_db_path(master.confdir);
  auto shard = store::shard_db_path(master.confdir, "user.kv");
  ASSERT_TRUE(shard.ok());
  std::string kv_mbid = std::to_string(shard_mbid(master.confdir, "user.kv"));
  std::string sub_mbid = std::to_string(shard_mbid(master.confdir, "user.kv.Sub"));
  auto sub_info = m.lookup("user.kv.Sub");
  ASSERT_TRUE(sub_info.ok());

  size_t logged = 0;
  auto set = [&](const fs::path& db, const std::string& key, const std::string& value) {
    Status st = dbtool(db, key, value, &logged);
    EXPECT_TRUE(st.ok()) << key << ": " << st.error().describe();
  };
  set(list, "mailbox/user.kv", "acl=" + store::kv_escape("kv\tlrswipkxtecdan\tcarol\tlrs\t"));
  set(*shard, "subscription/kv/user.kv.Sub", "");
  set(*shard, "seen/kv/" + sub_mbid, "lastread=1700000000 lastuid=1 lastchange=1700000000 seenuids=1");
  set(*shard, "quota/" + kv_mbid, "storage_limit=2048");
  set(*shard, "annotation/" + kv_mbid + "/" + store::kv_escape("/comment") + "/",
      "value=repaired modseq=1");
  EXPECT_EQ(logged, 5u);
  EXPECT_EQ(pending(), (std::set<Change>{{ChangeKind::Mailbox, "user.kv", ""},
                                         {ChangeKind::Sub, "kv", "user.kv.Sub"},
                                         {ChangeKind::Seen, "kv", sub_info->uniqueid},
                                         {ChangeKind::Quota, "user.kv", ""},
                                         {ChangeKind::Annotation, "user.kv", ""}}));
  EXPECT_FALSE(differences({"kv"}).empty());

  rolling_pass();
  auto after = differences({"kv"});
  EXPECT_TRUE(after.empty()) << joined(after);
  auto q = replica.store->get_quota("user.kv");
  auto mq = m.get_quota("user.kv");
  ASSERT_TRUE(q.ok() && mq.ok());
  EXPECT_NE(mq->storage_limit_kib, std::optional<uint64_t>(1000));
  EXPECT_EQ(q->storage_limit_kib, mq->storage_limit_kib);
  auto racl = replica.store->get_acl("user.kv");
  ASSERT_TRUE(racl.ok());
  EXPECT_NE(racl->find("carol"), std::string::npos) << *racl;

  // delete of a list entry travels as UNMAILBOX.
  logged = 0;
  Status st = dbtool(list, "mailbox/user.kv.Sub", std::nullopt, &logged);
  ASSERT_TRUE(st.ok()) << st.error().describe();
  EXPECT_EQ(logged, 1u);
  EXPECT_EQ(pending(), (std::set<Change>{{ChangeKind::Unmailbox, "user.kv.Sub", ""}}));
  rolling_pass();
  EXPECT_FALSE(replica.store->lookup("user.kv.Sub").ok());
}

TEST_F(AdminChanges, DbtoolLogsNothingForLocalTablesOnAReplicaOrOutsideTheNodeAndRefusesUnknownTables) {
  Store& m = *master.store;
  ASSERT_TRUE(m.create_mailbox(named("user.loc")).ok());
  append("user.loc", "loc-1");
  rolling_pass();
  fs::path list = store::layout::list_db_path(master.confdir);
  auto shard = store::shard_db_path(master.confdir, "user.loc");
  ASSERT_TRUE(shard.ok());
  size_t logged = 0;

  // Node-local bookkeeping is not replicated.
  ASSERT_TRUE(dbtool(list, "node/last_uidvalidity", "value=99999", &logged).ok());
  ASSERT_TRUE(dbtool(*shard, "meta/note", "value=x", &logged).ok());
  EXPECT_EQ(logged, 0u);
  EXPECT_TRUE(pending().empty());

  // A table without a rule is refused, and nothing is written.
  sql_exec(*shard, "CREATE TABLE mystery(k TEXT PRIMARY KEY, v TEXT)");
  Status st = dbtool(*shard, "mystery/a", "v=b", &logged);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, Errc::Invalid);
  {
    auto kv = store::KvDb::open(*shard);
    ASSERT_TRUE(kv.ok());
    auto v = (*kv)->get("mystery/a");
    ASSERT_TRUE(v.ok());
    EXPECT_FALSE(v->has_value());
  }

  // Which database a path is.
  using K = store::NodeDb::Kind;
  EXPECT_EQ(store::classify_node_db(master.confdir, list).kind, K::List);
  auto sh = store::classify_node_db(master.confdir, master.confdir / "shards" / ".." / "shards" /
                                                       shard->parent_path().filename() / shard->filename());
  EXPECT_EQ(sh.kind, K::Shard);
  EXPECT_GT(sh.shard_id, 0u);
  EXPECT_EQ(store::classify_node_db(master.confdir, master.confdir / "passwd.db").kind, K::Other);
  EXPECT_EQ(store::classify_node_db(master.confdir, master.confdir / "shards" / "ff" / "7.db").kind, K::Other);
  EXPECT_EQ(store::classify_node_db(master.confdir, replica.confdir / "mailboxes.db").kind, K::Foreign);
  EXPECT_FALSE(store::replication_log_hook(master.confdir, {K::Other, 0}, &logged));

  // On a replica the write is made as before, and not logged.
  ASSERT_TRUE(m.set_node_state({store::Role::Replica, 3}).ok());
  ASSERT_TRUE(dbtool(list, "mailbox/user.loc", "acl=" + store::kv_escape("loc\tlr\t"), &logged).ok());
  ASSERT_TRUE(dbtool(*shard, "subscription/loc/user.loc", "", &logged).ok());
  EXPECT_EQ(logged, 0u);
  EXPECT_TRUE(pending().empty());
  auto acl = m.get_acl("user.loc");
  ASSERT_TRUE(acl.ok());
  EXPECT_EQ(*acl, "loc\tlr\t");
}

}  // namespace
}  // namespace cyr::sync
