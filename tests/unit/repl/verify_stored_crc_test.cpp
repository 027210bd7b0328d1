// The verifier (cyr_sync_client --verify) checks each mailbox's stored
// SYNC_CRC pair against one computed from its records, on the node it runs
// on, and a replica's reported pair against the records it sends: a pair
// that drifted would make every later known round compare wrong values.
// The master is a TempStoreTest store (its shard is damaged with direct
// SQL, as sync_crc_store_test does); the replica an in-process
// SyncServerSession behind a LoopbackPeer.
#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <string>

#include "store/reconstruct.h"
#include "sync/mailbox_sync.h"
#include "sync/sync_client.h"
#include "sync/sync_peer.h"
#include "sync/sync_server.h"
#include "tests/unit/store/store_test_util.h"

namespace cyr::sync {
namespace {

using store::testing::make_temp_dir;
using store::testing::message;
using store::testing::named;
using store::testing::one_message;
using store::testing::options_for;

std::string lines(const VerifyReport& r) {
  std::string s;
  for (auto& d : r.differences) s += d + "\n";
  return s;
}

class VerifyStoredCrcTest : public store::testing::TempStoreTest {
 protected:
  VerifyStoredCrcTest() : TempStoreTest("vcrc_m") {}

  void SetUp() override {
    TempStoreTest::SetUp();
    replica_dir_ = make_temp_dir("vcrc_r");
    auto r = store::Store::open(options_for(replica_dir_));
    ASSERT_TRUE(r.ok()) << r.error().describe();
    replica_ = std::move(*r);
    ASSERT_TRUE(replica_->set_node_state({store::Role::Replica, 1}).ok());
    server_ = std::make_unique<SyncServerSession>(*replica_, SyncServerOptions{replica_dir_ + "/stage", {}, "test"});
    peer_ = std::make_unique<LoopbackPeer>(*server_);
  }
  void TearDown() override {
    peer_.reset();
    server_.reset();
    replica_.reset();
    std::error_code ec;
    std::filesystem::remove_all(replica_dir_, ec);
    TempStoreTest::TearDown();
  }

  void append(const std::string& box, const std::string& subject) {
    auto r = store_->append(one_message(box, message(subject)));
    ASSERT_TRUE(r.ok()) << r.error().describe();
  }
  // Two users, three mailboxes with mail, replicated.
  void populate_and_sync() {
    for (const char* n : {"user.fred", "user.fred.Sent", "user.barney"})
      ASSERT_TRUE(store_->create_mailbox(named(n)).ok()) << n;
    for (int i = 0; i < 3; ++i) {
      append("user.fred", "f" + std::to_string(i));
      append("user.fred.Sent", "s" + std::to_string(i));
      append("user.barney", "b" + std::to_string(i));
    }
    SyncClient c(*store_, *peer_);
    ASSERT_TRUE(c.sync_all().ok());
  }
  VerifyReport verify_all(SyncPeer& peer, const std::vector<std::string>& users = {}) {
    auto rep = verify(*store_, peer, users);
    EXPECT_TRUE(rep.ok()) << rep.error().describe();
    return rep.ok() ? *rep : VerifyReport{};
  }
  // Changes the master's stored pair of `name` with the store closed (as a
  // hand edit or another build would), its stamp left valid so that only a
  // recomputation can tell.
  void damage(const std::string& name, const std::string& set) {
    auto before = store_->lookup(name);
    ASSERT_TRUE(before.ok());
    store_.reset();
    sql(shard_of(name), "UPDATE mailbox SET " + set + " WHERE name='" + name + "'");
    reopen();
    auto after = store_->lookup(name);
    ASSERT_TRUE(after.ok());
    ASSERT_TRUE(after->sync_crc != before->sync_crc || after->sync_crc_annot != before->sync_crc_annot)
        << "the test did not change the stored pair of " << name;
  }

  std::string replica_dir_;
  std::unique_ptr<store::Store> replica_;
  std::unique_ptr<SyncServerSession> server_;
  std::unique_ptr<LoopbackPeer> peer_;
};

TEST_F(VerifyStoredCrcTest, ADriftedStoredPairIsReportedForThatMailboxOnly) {
  populate_and_sync();
  auto clean = verify_all(*peer_);
  EXPECT_TRUE(clean.identical()) << lines(clean);
  EXPECT_EQ(clean.mailboxes_compared, 3u);

  damage("user.fred.Sent", "sync_crc = (sync_crc + 1) % 4294967296");
  auto rep = verify_all(*peer_);
  ASSERT_EQ(rep.differences.size(), 1u) << lines(rep);
  const std::string& d = rep.differences[0];
  EXPECT_EQ(d.rfind("user.fred.Sent: stored SYNC_CRC ", 0), 0u) << d;
  EXPECT_NE(d.find("computed from its records"), std::string::npos) << d;
  EXPECT_NE(d.find("cyr_reconstruct user.fred.Sent"), std::string::npos) << d;
  // The replica's records are not in question: no other line.
  EXPECT_TRUE(verify_all(*peer_, {"barney"}).identical());

  // The annot half is checked too.
  damage("user.barney", "sync_crc_annot = (sync_crc_annot + 1) % 4294967296");
  rep = verify_all(*peer_);
  ASSERT_EQ(rep.differences.size(), 2u) << lines(rep);
  EXPECT_EQ(verify_all(*peer_, {"barney"}).differences.size(), 1u);
  EXPECT_EQ(verify_all(*peer_, {"barney"}).differences[0].rfind("user.barney: stored SYNC_CRC ", 0), 0u);

  // The fix the message names: cyr_reconstruct stores the recomputed pair.
  store_.reset();
  store::Repairer repair(store::RepairOptions::from(opts_), [](const std::string&) {});
  for (const char* n : {"user.fred.Sent", "user.barney"}) {
    auto r = repair.reconstruct(n);
    ASSERT_TRUE(r.ok()) << n << ": " << r.error().describe();
  }
  reopen();
  auto fixed = verify_all(*peer_);
  EXPECT_TRUE(fixed.identical()) << lines(fixed);
}

TEST_F(VerifyStoredCrcTest, AMailboxMissingOnTheReplicaIsCheckedToo) {
  populate_and_sync();
  ASSERT_TRUE(store_->create_mailbox(named("user.fred.Drafts")).ok());
  append("user.fred.Drafts", "d0");
  damage("user.fred.Drafts", "sync_crc = (sync_crc + 1) % 4294967296");
  auto rep = verify_all(*peer_, {"fred"});
  ASSERT_EQ(rep.differences.size(), 2u) << lines(rep);
  EXPECT_EQ(rep.differences[0], "user.fred.Drafts: missing on the replica");
  EXPECT_EQ(rep.differences[1].rfind("user.fred.Drafts: stored SYNC_CRC ", 0), 0u) << rep.differences[1];
}

// Seen state a user keeps on a mailbox they do not own lives in the owner's
// database and is replicated with the reader. sync_all() finds it while it
// walks the owners (each database opened once) and sends it once the
// mailbox is on the replica: a reader listed before the owner ("amy" on
// user.zed; before, -A into an empty replica failed there with APPLY SEEN
// NotFound), after it ("zed" on user.amy), and on a shared mailbox.
TEST_F(VerifyStoredCrcTest, ForeignSeenStateReachesAnEmptyReplicaInOneWalk) {
  for (const char* n : {"user.amy", "user.zed", "shared.news"}) {
    ASSERT_TRUE(store_->create_mailbox(named(n)).ok()) << n;
    append(n, std::string(n) + "-1");
    append(n, std::string(n) + "-2");
  }
  const store::SeenState two{1700000000, 2, 1700000000, "1:2"};
  const store::SeenState one{1700000000, 1, 1700000000, "1"};
  ASSERT_TRUE(store_->set_seen("amy", "user.zed", two).ok());
  ASSERT_TRUE(store_->set_seen("zed", "user.amy", one).ok());
  ASSERT_TRUE(store_->set_seen("amy", "shared.news", one).ok());
  ASSERT_TRUE(store_->set_seen("amy", "user.amy", two).ok());
  Status st = SyncClient(*store_, *peer_).sync_all();
  ASSERT_TRUE(st.ok()) << st.error().describe();
  auto seen = [&](const char* user, const char* box) {
    auto s = replica_->get_seen(user, box);
    return s.ok() ? s->seenuids : std::string("(error)");
  };
  EXPECT_EQ(seen("amy", "user.zed"), "1:2");
  EXPECT_EQ(seen("zed", "user.amy"), "1");
  EXPECT_EQ(seen("amy", "shared.news"), "1");
  EXPECT_EQ(seen("amy", "user.amy"), "1:2");
  // The replica lists a reader's seen state on others' mailboxes in GET USER
  // too, so the verifier finds nothing to report.
  auto rep = verify_all(*peer_);
  EXPECT_TRUE(rep.differences.empty()) << lines(rep);

  // A change on the master reaches the replica with the next walk.
  ASSERT_TRUE(store_->set_seen("amy", "user.zed", one).ok());
  st = SyncClient(*store_, *peer_).sync_all();
  ASSERT_TRUE(st.ok()) << st.error().describe();
  EXPECT_EQ(seen("amy", "user.zed"), "1");
  rep = verify_all(*peer_);
  EXPECT_TRUE(rep.differences.empty()) << lines(rep);
}

// A replica that reports the pair its index keeps (a Cyrus replica does)
// with records that do not give it: simulated by changing the SYNC_CRC of
// one mailbox in every MAILBOX item the replica sends.
class DriftedReplicaPeer final : public SyncPeer {
 public:
  DriftedReplicaPeer(SyncPeer& inner, std::string name) : inner_(inner), name_(std::move(name)) {}
  Result<std::vector<SyncReply>> call(const SyncCommand& cmd) override {
    auto r = inner_.call(cmd);
    if (!r.ok()) return r;
    for (auto& item : *r) {
      if (item.is_final() || item.key != "MAILBOX") continue;
      auto v = item.value();
      if (!v.ok()) continue;
      auto m = mailbox_state_from_dlist(**v, false);
      if (!m.ok() || m->name != name_) continue;
      m->crcs.basic ^= 0x5a5a;
      item = make_item("MAILBOX", mailbox_to_dlist(*m, m->has_records));
    }
    return r;
  }

 private:
  SyncPeer& inner_;
  std::string name_;
};

TEST_F(VerifyStoredCrcTest, AReplicaPairItsOwnRecordsDoNotGiveIsNamed) {
  populate_and_sync();
  DriftedReplicaPeer drifted(*peer_, "user.fred");
  auto rep = verify_all(drifted);
  // The header comparison, then the replica's pair against its records;
  // the records themselves agree, and this node's stored pairs are right.
  ASSERT_EQ(rep.differences.size(), 2u) << lines(rep);
  EXPECT_EQ(rep.differences[0].rfind("user.fred: SYNC_CRC ", 0), 0u) << rep.differences[0];
  EXPECT_EQ(rep.differences[1].rfind("user.fred: the replica reports SYNC_CRC ", 0), 0u) << rep.differences[1];
  EXPECT_TRUE(verify_all(*peer_).identical());
}

}  // namespace
}  // namespace cyr::sync
