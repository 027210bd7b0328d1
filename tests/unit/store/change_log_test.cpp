// The change log's bookkeeping around its records: the pending markers
// (mailboxes.db's pending_shard), acknowledgements, per-shard reads, and the
// in-memory set of this process's unacknowledged records that the sync-mode
// barrier waits on.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <thread>

#include "store/layout.h"
#include "store/sqlite_db.h"
#include "store/store.h"
#include "tests/unit/store/store_test_util.h"

namespace cyr::store {
namespace {

using testing::message;
using testing::named;
using testing::one_message;

class ChangeLogTest : public testing::TempStoreTest {
 protected:
  ChangeLogTest() : TempStoreTest("marker") {}
  int64_t markers() {
    return sql_int(layout::list_db_path(opts_.configdirectory), "SELECT count(*) FROM pending_shard");
  }
  size_t records_for(const std::string& mailbox) {
    auto b = store_->read_changes(1000);
    EXPECT_TRUE(b.ok());
    size_t n = 0;
    if (b.ok())
      for (auto& r : b->records)
        if (r.arg1 == mailbox) ++n;
    return n;
  }
  // The shard of the (only) user whose records are in the log.
  uint64_t logged_shard() {
    uint64_t shard = 0;
    auto b = store_->read_changes(100);  // kept: the loop reads into it
    EXPECT_TRUE(b.ok());
    if (b.ok())
      for (auto& r : b->records)
        if (r.shard != 0) shard = r.shard;
    return shard;
  }
  void ack_all() {
    auto b = store_->read_changes(1000);
    ASSERT_TRUE(b.ok());
    ASSERT_TRUE(store_->ack_changes(*b).ok());
  }
};

// An acknowledgement that empties a shard drops its marker (lazily: no
// flush of its own); the next write marks the shard again before its record
// commits, and the record is read.
TEST_F(ChangeLogTest, AcknowledgementDropsTheMarkerAndTheNextWriteSetsItAgain) {
  ASSERT_TRUE(store_->create_mailbox(named("user.fred")).ok());
  ASSERT_TRUE(store_->append(one_message("user.fred", message("one"))).ok());
  EXPECT_EQ(markers(), 1);
  EXPECT_GE(records_for("user.fred"), 1u);
  ack_all();
  EXPECT_EQ(markers(), 0);
  EXPECT_EQ(records_for("user.fred"), 0u);
  ASSERT_TRUE(store_->append(one_message("user.fred", message("two"))).ok());
  EXPECT_EQ(markers(), 1);
  EXPECT_EQ(records_for("user.fred"), 1u);
}

// A marker left for a shard without records (its lazy removal lost in a
// crash) is dropped after two reads find the shard empty; a marker whose
// shard has records stays, and its records are read every time.
TEST_F(ChangeLogTest, AStaleMarkerIsDroppedAfterTwoEmptyReads) {
  ASSERT_TRUE(store_->create_mailbox(named("user.fred")).ok());
  ASSERT_TRUE(store_->create_mailbox(named("user.barney")).ok());
  ASSERT_TRUE(store_->append(one_message("user.fred", message("one"))).ok());
  uint64_t fred_shard = logged_shard();
  ASSERT_NE(fred_shard, 0u);
  ack_all();
  ASSERT_EQ(markers(), 0);
  // The lost lazy drop: the marker is back, the shard has no record.
  sql(layout::list_db_path(opts_.configdirectory),
      "INSERT INTO pending_shard(shard_id) VALUES(" + std::to_string(fred_shard) + ")");
  // Another shard with a record keeps its marker throughout.
  ASSERT_TRUE(store_->append(one_message("user.barney", message("two"))).ok());
  ASSERT_EQ(markers(), 2);
  EXPECT_EQ(records_for("user.barney"), 1u);
  EXPECT_EQ(markers(), 2) << "one empty read is not enough";
  EXPECT_EQ(records_for("user.barney"), 1u);
  EXPECT_EQ(markers(), 1) << "the stale marker goes after the second empty read";
  EXPECT_EQ(records_for("user.barney"), 1u);
  EXPECT_EQ(records_for("user.barney"), 1u);
  EXPECT_EQ(markers(), 1) << "a shard with records keeps its marker";
  // The shard is marked again by its next write, and that record is read.
  ASSERT_TRUE(store_->append(one_message("user.fred", message("three"))).ok());
  EXPECT_EQ(markers(), 2);
  EXPECT_EQ(records_for("user.fred"), 1u);
}

// Without a replica (log_changes off) no change record is written and no
// shard is marked: nothing would ever acknowledge them.
TEST_F(ChangeLogTest, NoRecordsWithoutTheReplicationLog) {
  opts_.log_changes = false;
  reopen();
  ASSERT_TRUE(store_->create_mailbox(named("user.fred")).ok());
  ASSERT_TRUE(store_->append(one_message("user.fred", message("one"))).ok());
  auto log = store_->read_changes(1000);
  ASSERT_TRUE(log.ok());
  EXPECT_TRUE(log->records.empty());
  EXPECT_EQ(markers(), 0);
  EXPECT_EQ(sql_int(shard_of("user.fred"), "SELECT count(*) FROM change"), 0);
}

// The admin tools' records (layout::log_changes, written without a Store)
// follow what the node's primary process recorded at its start.
TEST_F(ChangeLogTest, ToolsLogOnlyWhereTheNodeKeepsALog) {
  ASSERT_TRUE(store_->create_mailbox(named("user.fred")).ok());
  ASSERT_TRUE(store_->append(one_message("user.fred", message("one"))).ok());
  uint64_t shard = logged_shard();
  ASSERT_NE(shard, 0u);
  ack_all();
  auto tool_write = [&] {
    auto db = sql::Db::open(shard_of("user.fred").string(), false);
    ASSERT_TRUE(db.ok());
    ASSERT_TRUE((*db)->exec("BEGIN IMMEDIATE").ok());
    ASSERT_TRUE(layout::log_changes(opts_.configdirectory, **db, shard, {{ChangeKind::Mailbox, "user.fred"}}).ok());
    ASSERT_TRUE((*db)->exec("COMMIT").ok());
  };
  opts_.log_changes = false;
  reopen();
  tool_write();
  EXPECT_EQ(sql_int(shard_of("user.fred"), "SELECT count(*) FROM change"), 0);
  EXPECT_EQ(markers(), 0);
  opts_.log_changes = true;
  reopen();
  tool_write();
  EXPECT_EQ(sql_int(shard_of("user.fred"), "SELECT count(*) FROM change"), 1);
  EXPECT_EQ(records_for("user.fred"), 1u);
}

// The index of readers' seen state on mailboxes they do not own (what a
// replica's GET USER lists besides the user's own mailboxes): kept by
// set_seen, rebuilt from the shards for a store made before it existed.
TEST_F(ChangeLogTest, ForeignSeenIndex) {
  for (const char* n : {"user.amy", "user.zed", "shared.news"}) ASSERT_TRUE(store_->create_mailbox(named(n)).ok());
  const SeenState one{1700000000, 1, 1700000000, "1"};
  ASSERT_TRUE(store_->set_seen("amy", "user.zed", one).ok());
  ASSERT_TRUE(store_->set_seen("amy", "shared.news", one).ok());
  ASSERT_TRUE(store_->set_seen("amy", "user.amy", one).ok());
  ASSERT_TRUE(store_->set_seen("zed", "user.zed", one).ok());
  const std::vector<std::string> amy{"shared.news", "user.zed"};
  auto got = store_->foreign_seen_mailboxes("amy");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(*got, amy);
  EXPECT_TRUE(store_->foreign_seen_mailboxes("zed")->empty());

  // An older store: no index rows and no mark; the next open rebuilds it.
  store_.reset();
  sql(layout::list_db_path(opts_.configdirectory), "DELETE FROM foreign_seen");
  sql(layout::list_db_path(opts_.configdirectory), "DELETE FROM node WHERE key='foreign_seen_indexed'");
  reopen();
  got = store_->foreign_seen_mailboxes("amy");
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(*got, amy);

  // A deleted mailbox drops out.
  ASSERT_TRUE(store_->delete_mailbox("shared.news").ok());
  EXPECT_EQ(*store_->foreign_seen_mailboxes("amy"), std::vector<std::string>{"user.zed"});
}

// A barrier that never blocks: it only switches the store's tracking of its
// own unacknowledged records on.
struct NoWait : ReplicationBarrier {
  void wait_replicated(uint64_t) override {}
};

std::vector<uint64_t> seqs_of(const ChangeBatch& b) {
  std::vector<uint64_t> out;
  for (auto& r : b.records) out.push_back(r.seq);
  return out;
}

// Acknowledgements commit without a flush of their own; a clean close and
// reopen keeps them (and the marker state), and no record is read twice.
TEST_F(ChangeLogTest, AcknowledgementSurvivesReopen) {
  ASSERT_TRUE(store_->create_mailbox(named("user.fred")).ok());
  for (int i = 0; i < 5; ++i)
    ASSERT_TRUE(store_->append(one_message("user.fred", message("m" + std::to_string(i)))).ok());
  EXPECT_GE(records_for("user.fred"), 5u);
  ack_all();
  reopen();
  EXPECT_EQ(records_for("user.fred"), 0u);
  ASSERT_TRUE(store_->append(one_message("user.fred", message("after"))).ok());
  EXPECT_EQ(records_for("user.fred"), 1u);
  reopen();
  EXPECT_EQ(records_for("user.fred"), 1u);
}

// What the sync-mode barrier waits for: this process's committed records, as
// the log has them, until they are acknowledged; nothing of a failed write;
// nothing without a barrier.
TEST_F(ChangeLogTest, OwnUnacknowledgedRecordsAreTheLogsUntilAcknowledged) {
  EXPECT_FALSE(store_->own_unacked_changes(100).has_value()) << "kept without a barrier";
  store_->set_replication_barrier(std::make_shared<NoWait>());
  ASSERT_TRUE(store_->create_mailbox(named("user.fred")).ok());
  ASSERT_TRUE(store_->create_mailbox(named("user.joe")).ok());
  for (int i = 0; i < 3; ++i)
    ASSERT_TRUE(store_->append(one_message("user.fred", message("m" + std::to_string(i)))).ok());
  ASSERT_FALSE(store_->append(one_message("user.nobody", message("x"))).ok());
  auto log = store_->read_changes(1000);
  ASSERT_TRUE(log.ok());
  ASSERT_GE(log->records.size(), 5u);
  auto own = store_->own_unacked_changes(1000);
  ASSERT_TRUE(own.has_value());
  EXPECT_EQ(*own, seqs_of(*log));
  auto two = store_->own_unacked_changes(2);
  ASSERT_TRUE(two.has_value());
  EXPECT_EQ(*two, std::vector<uint64_t>(own->begin(), own->begin() + 2)) << "not the lowest first";

  // Acknowledging part of the log forgets exactly that part.
  ChangeBatch first;
  first.records.assign(log->records.begin(), log->records.begin() + 2);
  ASSERT_TRUE(store_->ack_changes(first).ok());
  EXPECT_EQ(*store_->own_unacked_changes(1000), std::vector<uint64_t>(own->begin() + 2, own->end()));
  store_->forget_own_unacked({own->back()});
  EXPECT_EQ(*store_->own_unacked_changes(1000), std::vector<uint64_t>(own->begin() + 2, own->end() - 1));
  ack_all();
  EXPECT_TRUE(store_->own_unacked_changes(1000)->empty());
  store_->set_replication_barrier(nullptr);
}

// Records another process writes are not this process's to wait for.
TEST_F(ChangeLogTest, OwnUnacknowledgedRecordsLeaveOutOtherProcesses) {
  store_->set_replication_barrier(std::make_shared<NoWait>());
  ASSERT_TRUE(store_->create_mailbox(named("user.fred")).ok());
  auto mine = store_->own_unacked_changes(1000);
  ASSERT_TRUE(mine.has_value());
  auto o = opts_;
  o.open_mode = OpenMode::Secondary;
  auto other = Store::open(o);
  ASSERT_TRUE(other.ok());
  ASSERT_TRUE((*other)->append(one_message("user.fred", message("from a tool"))).ok());
  EXPECT_EQ(records_for("user.fred"), mine->size() + 1);
  EXPECT_EQ(*store_->own_unacked_changes(1000), *mine);
  store_->set_replication_barrier(nullptr);
}

// Sync mode: a shard written often keeps its marker when an
// acknowledgement empties it, and the rolling stream's reads skip it (this
// process knows it empty) for a second; this process's next write ends that
// at once, another process's record is read once the second is over (and by
// read_changes at once). A shard written once loses its marker at the
// acknowledgement, as without a barrier.
TEST_F(ChangeLogTest, AHotShardKeepsItsMarkerAWhile) {
  store_->set_replication_barrier(std::make_shared<NoWait>());
  auto streamed = [&] {
    auto b = store_->read_changes_streaming(1000);
    EXPECT_TRUE(b.ok());
    return b.ok() ? b->records.size() : 0;
  };
  ASSERT_TRUE(store_->create_mailbox(named("user.fred")).ok());
  ASSERT_TRUE(store_->create_mailbox(named("user.joe")).ok());
  ack_all();
  ASSERT_EQ(markers(), 0);
  ASSERT_TRUE(store_->append(one_message("user.joe", message("once"))).ok());
  ack_all();
  EXPECT_EQ(markers(), 0) << "a shard written once: dropped at the acknowledgement";
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(store_->append(one_message("user.fred", message("h" + std::to_string(i)))).ok());
    ack_all();
  }
  EXPECT_EQ(markers(), 1) << "a hot shard keeps its marker";
  // This process's next write is read at once, by the stream's read too.
  ASSERT_TRUE(store_->append(one_message("user.fred", message("next"))).ok());
  EXPECT_EQ(streamed(), 1u);
  ack_all();
  EXPECT_EQ(markers(), 1);
  // Another process's record in the lingering shard (that process found the
  // marker there and did not mark again): the stream's read takes it once
  // the second is over; a complete read at once.
  auto o = opts_;
  o.open_mode = OpenMode::Secondary;
  {
    auto other = Store::open(o);
    ASSERT_TRUE(other.ok());
    ASSERT_TRUE((*other)->append(one_message("user.fred", message("from a tool"))).ok());
  }
  auto start = std::chrono::steady_clock::now();
  size_t now_seen = streamed();
  if (std::chrono::steady_clock::now() - start < std::chrono::milliseconds(500))
    EXPECT_EQ(now_seen, 0u) << "a lingering shard is skipped by the stream for a second";
  EXPECT_EQ(records_for("user.fred"), 1u) << "read_changes reads every marked shard";
  size_t seen = 0;
  while (std::chrono::steady_clock::now() - start < std::chrono::seconds(5) && (seen = streamed()) == 0)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(seen, 1u) << "the stream never read the tool's record";
  EXPECT_LE(std::chrono::steady_clock::now() - start, std::chrono::seconds(3));
  ack_all();
  // Lingering over, and then found empty twice: the marker goes.
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  for (int i = 0; i < 3; ++i) streamed();
  EXPECT_EQ(markers(), 0) << "the lingering marker is dropped once its shard stays empty";
  store_->set_replication_barrier(nullptr);
}

// The rolling client's read of the owners it just replicated: the list's
// records and those of the named shards, marked or not, in seq order.
TEST_F(ChangeLogTest, ReadChangesInReadsOnlyTheNamedShards) {
  ASSERT_TRUE(store_->create_mailbox(named("user.fred")).ok());
  ASSERT_TRUE(store_->create_mailbox(named("user.joe")).ok());
  ASSERT_TRUE(store_->append(one_message("user.fred", message("f"))).ok());
  ASSERT_TRUE(store_->append(one_message("user.joe", message("j"))).ok());
  auto all = store_->read_changes(1000);
  ASSERT_TRUE(all.ok());
  uint64_t fred_shard = 0;
  for (auto& r : all->records)
    if (r.arg1 == "user.fred" && r.shard != 0) fred_shard = r.shard;
  ASSERT_NE(fred_shard, 0u);
  auto some = store_->read_changes_in({fred_shard}, 1000);
  ASSERT_TRUE(some.ok());
  std::vector<uint64_t> want;
  for (auto& r : all->records)
    if (r.shard == 0 || r.shard == fred_shard) want.push_back(r.seq);
  EXPECT_EQ(seqs_of(*some), want);
  bool joe = false;
  for (auto& r : some->records) joe = joe || (r.shard != 0 && r.arg1 == "user.joe");
  EXPECT_FALSE(joe);
  auto list_only = store_->read_changes_in({}, 1000);
  ASSERT_TRUE(list_only.ok());
  for (auto& r : list_only->records) EXPECT_EQ(r.shard, 0u);
  EXPECT_FALSE(store_->read_changes_in({fred_shard}, 0).ok());
}

// change_generation: moves when this process commits change records to the
// named shards or the list, not for another shard, an acknowledgement or a
// read; so a reader that saw it stand still may skip reading them.
TEST_F(ChangeLogTest, ChangeGenerationMovesOnlyWithNewRecordsInTheNamedShards) {
  ASSERT_TRUE(store_->create_mailbox(named("user.fred")).ok());
  ASSERT_TRUE(store_->create_mailbox(named("user.joe")).ok());
  ASSERT_TRUE(store_->append(one_message("user.fred", message("f"))).ok());
  uint64_t fred = logged_shard();
  ASSERT_NE(fred, 0u);
  uint64_t g0 = store_->change_generation({fred});
  EXPECT_NE(g0, 0u);
  EXPECT_EQ(store_->change_generation({fred}), g0);  // nothing written: still
  ASSERT_TRUE(store_->read_changes_in({fred}, 1000).ok());
  EXPECT_EQ(store_->change_generation({fred}), g0);

  ack_all();  // forgets records: writes no new ones
  EXPECT_EQ(store_->change_generation({fred}), g0);

  ASSERT_TRUE(store_->append(one_message("user.joe", message("j"))).ok());  // another shard
  EXPECT_EQ(store_->change_generation({fred}), g0);

  ASSERT_TRUE(store_->append(one_message("user.fred", message("f2"))).ok());
  uint64_t g1 = store_->change_generation({fred});
  EXPECT_GT(g1, g0);

  ASSERT_TRUE(store_->create_mailbox(named("user.fred.Sub")).ok());  // a list record (and maybe a shard one)
  EXPECT_GT(store_->change_generation({fred}), g1);
  EXPECT_GT(store_->change_generation({}), 0u);
}

// sync_mode: the commit publishes its records before its WAL flush and
// before the writer waits: ReplicationBarrier::committed() is called once
// the records are visible, and what the replicator does then (from its own
// threads) finds them: the stream's read, even of a hot shard whose marker
// lingers, and a chain's change generation. A reader blocked until the
// writer's batch ends would show as a timeout here.
struct RecordingBarrier : ReplicationBarrier {
  Store* store = nullptr;
  uint64_t shard = 0;           // the chain's shard (0: not known yet)
  uint64_t generation = 0;      // its generation before the write
  std::atomic<int> commits{0};  // committed() calls
  std::atomic<int> waits{0};
  std::atomic<int> waits_before_commit{0};
  std::atomic<int> seen_streamed{-1};  // records the stream's read found
  std::atomic<bool> generation_moved{false};
  std::atomic<bool> reader_timed_out{false};
  void wait_replicated(uint64_t) override {
    if (commits.load() == 0) ++waits_before_commit;
    ++waits;
  }
  void committed() override {
    ++commits;
    if (!store) return;
    auto look = std::async(std::launch::async, [this] {
      auto b = store->read_changes_streaming(1000);
      seen_streamed = b.ok() ? static_cast<int>(b->records.size()) : -2;
      // shard 0: the mailbox list alone (change_generation always covers it).
      std::vector<uint64_t> shards;
      if (shard != 0) shards.push_back(shard);
      generation_moved = store->change_generation(shards) != generation;
    });
    if (look.wait_for(std::chrono::seconds(10)) != std::future_status::ready) {
      reader_timed_out = true;
      late = std::move(look);  // finishes once the writer's batch has ended
    }
  }
  std::future<void> late;  // a read that was still blocked (the test fails)
};

TEST_F(ChangeLogTest, ACommitPublishesItsRecordsBeforeItsWriterWaits) {
  auto barrier = std::make_shared<RecordingBarrier>();
  store_->set_replication_barrier(barrier);
  ASSERT_TRUE(store_->create_mailbox(named("user.fred")).ok());
  EXPECT_GE(barrier->commits.load(), 1) << "a list commit publishes too";
  // A hot shard: its marker lingers after the acknowledgements, so only
  // this write, noted at its commit, makes the stream read it again.
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(store_->append(one_message("user.fred", message("h" + std::to_string(i)))).ok());
    ack_all();
  }
  ASSERT_EQ(markers(), 1);
  ASSERT_TRUE(store_->append(one_message("user.fred", message("warm"))).ok());
  barrier->shard = logged_shard();
  ASSERT_NE(barrier->shard, 0u);
  ack_all();
  barrier->generation = store_->change_generation({barrier->shard});
  barrier->commits = 0;
  barrier->waits = 0;
  barrier->store = store_.get();

  ASSERT_TRUE(store_->append(one_message("user.fred", message("now"))).ok());
  barrier->store = nullptr;
  EXPECT_EQ(barrier->commits.load(), 1);
  EXPECT_EQ(barrier->waits.load(), 1);
  EXPECT_EQ(barrier->waits_before_commit.load(), 0) << "the writer waited before its records were published";
  EXPECT_FALSE(barrier->reader_timed_out.load()) << "the replicator's read waited for the writer's batch";
  EXPECT_EQ(barrier->seen_streamed.load(), 1) << "the stream's read did not see the committed record";
  EXPECT_TRUE(barrier->generation_moved.load()) << "a chain would skip the shard's new record";
  EXPECT_EQ(records_for("user.fred"), 1u);

  // A mailbox list commit (CREATE) publishes the same way.
  ack_all();
  barrier->shard = 0;
  barrier->generation = store_->change_generation({});
  barrier->seen_streamed = -1;
  barrier->generation_moved = false;
  barrier->store = store_.get();
  ASSERT_TRUE(store_->create_mailbox(named("user.fred.Sub")).ok());
  barrier->store = nullptr;
  EXPECT_GE(barrier->commits.load(), 2);
  EXPECT_FALSE(barrier->reader_timed_out.load());
  EXPECT_GE(barrier->seen_streamed.load(), 1) << "the stream's read did not see the list's record";
  EXPECT_TRUE(barrier->generation_moved.load()) << "a chain would skip the list's new record";
  store_->set_replication_barrier(nullptr);
}

// The WAL flush after a published commit fails: the writer is told no OK
// and does not wait for the replica, its record is no longer counted as
// waited for, the store fences, and nothing of the write is removed (it
// may be on disk, and the replica may have it): the next open has it.
TEST_F(ChangeLogTest, AFailedFlushAfterThePublishFencesAndTellsNobodyOk) {
  ASSERT_TRUE(store_->create_mailbox(named("user.fred")).ok());
  store_.reset();
  auto fail = testing::fail_fsync_under(opts_, ".db-wal");
  reopen();
  auto barrier = std::make_shared<RecordingBarrier>();
  store_->set_replication_barrier(barrier);
  ASSERT_TRUE(store_->append(one_message("user.fred", message("first"))).ok());
  EXPECT_EQ(barrier->waits.load(), 1);
  ack_all();
  barrier->commits = 0;
  barrier->waits = 0;
  *fail = true;
  const std::string body = message("published, not flushed");
  auto a = store_->append(one_message("user.fred", body));
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.error().code, Errc::Fenced);
  EXPECT_EQ(barrier->commits.load(), 1) << "the commit was not published before its flush";
  EXPECT_EQ(barrier->waits.load(), 0) << "a failed write waited for the replica";
  EXPECT_EQ(store_->fence_status().error().code, Errc::Fenced);
  auto own = store_->own_unacked_changes(100);
  ASSERT_TRUE(own.has_value());
  EXPECT_TRUE(own->empty()) << "a record nobody was told OK of still holds sync-mode waiters";
  store_->set_replication_barrier(nullptr);
  *fail = false;
  reopen();
  EXPECT_TRUE(store_->fence_status().ok());
  auto recs = store_->records("user.fred");
  ASSERT_TRUE(recs.ok()) << recs.error().describe();
  ASSERT_EQ(recs->size(), 2u);
  EXPECT_EQ(*store_->read_message("user.fred", 2), body);
}

}  // namespace
}  // namespace cyr::store
