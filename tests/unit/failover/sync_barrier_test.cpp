#include "failover/sync_barrier.h"

#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <filesystem>
#include <random>
#include <thread>

#include "server/blocking_pool.h"
#include "store/replica_wait.h"

namespace cyr::failover {
namespace {

using std::chrono::milliseconds;

// Bounded wait for a condition (never a timing assertion: the bound is
// generous and only ends a test that would otherwise hang).
bool eventually(const std::function<bool()>& pred, milliseconds limit = milliseconds(20000)) {
  auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(milliseconds(5));
  }
  return pred();
}

class SyncBarrierTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("cyr_barrier_test." + std::to_string(std::random_device{}()));
    store::StoreOptions o;
    o.configdirectory = dir_ / "conf";
    o.partitions["default"] = dir_ / "spool";
    auto s = store::Store::open(o);
    ASSERT_TRUE(s.ok());
    store_ = std::move(*s);
  }
  void TearDown() override {
    store_->set_replication_barrier(nullptr);
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  // A client write: one change record. Returns its seq.
  uint64_t change(const std::string& name) {
    store::CreateMailboxRequest r;
    r.name = name;
    EXPECT_TRUE(store_->create_mailbox(r).ok());
    auto b = store_->read_changes(100000);
    return b->records.back().seq;
  }
  void ack_all() {
    auto b = store_->read_changes(100000);
    ASSERT_TRUE(store_->ack_changes(*b).ok());
  }
  size_t pending() {
    auto b = store_->read_changes(100000);
    return b.ok() ? b->records.size() : 0;
  }
  store::AppendRequest append_to(const std::string& mailbox, int i) {
    store::AppendRequest req;
    req.mailbox = mailbox;
    req.messages.push_back(
        {store::MessageSource::memory("Subject: m" + std::to_string(i) + "\r\n\r\nbody\r\n"), {}, 0});
    return req;
  }

  std::filesystem::path dir_;
  std::unique_ptr<store::Store> store_;
};

TEST_F(SyncBarrierTest, ReturnsWhenTheReplicaAcknowledged) {
  auto barrier = std::make_shared<SyncBarrier>(*store_, milliseconds(60000), [] { return true; });
  uint64_t seq = change("user.a");
  std::atomic<bool> acked{false};
  std::thread replica([&] {
    // Only once the writer waits, so the test sees the wait end on the
    // acknowledgement and not before it.
    ASSERT_TRUE(eventually([&] { return barrier->waiting() == 1; }));
    ack_all();
    acked = true;
    barrier->notify();
  });
  barrier->wait_replicated(seq);
  bool acked_before_return = acked.load();
  replica.join();
  EXPECT_TRUE(acked_before_return) << "returned before the acknowledgement";
  EXPECT_EQ(barrier->state(), "sync");
  EXPECT_EQ(barrier->waiting(), 0u);
  barrier->wait_replicated(seq);  // already acknowledged: at once, no notify needed
}

// The replica's apply is what counts, not the local acknowledgement that
// follows it; a waiter is released only when every record up to its seq
// reached the replica.
TEST_F(SyncBarrierTest, ReplicatedRecordsReleaseBeforeTheLocalAcknowledgement) {
  auto barrier = std::make_shared<SyncBarrier>(*store_, milliseconds(600000), [] { return true; });
  uint64_t first = change("user.a");
  uint64_t second = change("user.b");
  std::atomic<bool> reported_all{false};
  std::thread replica([&] {
    ASSERT_TRUE(eventually([&] { return barrier->waiting() == 1; }));
    barrier->replicated({second});
    EXPECT_EQ(barrier->waiting(), 1u) << "released although an older record had not reached the replica";
    reported_all = true;
    barrier->replicated({first});
  });
  barrier->wait_replicated(second);
  bool ok = reported_all.load();
  replica.join();
  EXPECT_TRUE(ok);
  EXPECT_EQ(pending(), 2u);  // nothing acknowledged locally yet
  EXPECT_EQ(barrier->state(), "sync");
  ack_all();
  barrier->notify();
  barrier->wait_replicated(change("user.c") - 1);  // covered by the log being empty below it
}

// A write's commit wakes replication (the store calls committed() before
// the write's flush and its wait); the wait itself does not wake it again.
TEST_F(SyncBarrierTest, ACommitWakesReplicationOnce) {
  change("user.a");  // the mailbox, created before the barrier is set
  ack_all();
  std::atomic<int> wakes{0};
  auto barrier = std::make_shared<SyncBarrier>(
      *store_, milliseconds(60000), [] { return true; }, [&] { ++wakes; });
  store_->set_replication_barrier(barrier);
  std::thread replica([&] {
    ASSERT_TRUE(eventually([&] { return barrier->waiting() == 1; }));
    EXPECT_EQ(wakes.load(), 1) << "the writer waits, but replication was not woken";
    ack_all();
    barrier->notify();
  });
  ASSERT_TRUE(store_->append(append_to("user.a", 1)).ok());  // returns once acknowledged
  replica.join();
  EXPECT_EQ(wakes.load(), 1);
  EXPECT_EQ(pending(), 0u);
  EXPECT_EQ(barrier->state(), "sync");
}

TEST_F(SyncBarrierTest, FallsBackToAsyncAfterTheTimeoutAndRecovers) {
  auto barrier = std::make_shared<SyncBarrier>(*store_, milliseconds(100), [] { return true; });
  uint64_t seq = change("user.a");
  barrier->wait_replicated(seq);  // nobody acknowledges: released by the deadline
  EXPECT_NE(barrier->state().find("did not acknowledge within sync_timeout"), std::string::npos)
      << barrier->state();
  barrier->wait_replicated(change("user.b"));  // degraded: returns without anyone acknowledging
  EXPECT_EQ(barrier->waiting(), 0u);
  ack_all();
  barrier->wait_replicated(seq);  // drained: sync again
  EXPECT_EQ(barrier->state(), "sync");
}

// With the barrier set on the store, the waits follow the store's in-memory
// set of this process's unacknowledged records. One that leaves the log
// without an acknowledgement here (another process acknowledged it) holds
// the barrier only until sync_timeout; once the log has drained the barrier
// forgets it and is sync again.
TEST_F(SyncBarrierTest, ARecordAcknowledgedElsewhereDoesNotHoldTheBarrier) {
  auto barrier = std::make_shared<SyncBarrier>(*store_, milliseconds(100), [] { return true; });
  store_->set_replication_barrier(barrier);
  store::CreateMailboxRequest r;
  r.name = "user.a";
  ASSERT_TRUE(store_->create_mailbox(r).ok());  // list writes do not wait
  ASSERT_TRUE(store_->append(append_to("user.a", 1)).ok());  // nobody replicates: released by the deadline
  EXPECT_NE(barrier->state().find("did not acknowledge within sync_timeout"), std::string::npos)
      << barrier->state();
  ASSERT_TRUE(store_->own_unacked_changes(100).has_value());
  const size_t mine = store_->own_unacked_changes(100)->size();
  EXPECT_GE(mine, 2u);

  store::StoreOptions o;
  o.configdirectory = dir_ / "conf";
  o.partitions["default"] = dir_ / "spool";
  o.open_mode = store::OpenMode::Secondary;
  auto other = store::Store::open(o);
  ASSERT_TRUE(other.ok());
  auto log = (*other)->read_changes(1000);
  ASSERT_TRUE(log.ok());
  ASSERT_TRUE((*other)->ack_changes(*log).ok());
  EXPECT_EQ(store_->own_unacked_changes(100)->size(), mine) << "acknowledged by another process";
  barrier->notify();  // degraded: looks at the log, finds it drained
  EXPECT_EQ(barrier->state(), "sync");
  EXPECT_TRUE(store_->own_unacked_changes(100)->empty());
}

// The same barrier on the store: replicated() releases by the in-memory set,
// oldest first, before the local acknowledgement.
TEST_F(SyncBarrierTest, WithTheStoreTrackingReplicatedRecordsRelease) {
  auto barrier = std::make_shared<SyncBarrier>(*store_, milliseconds(600000), [] { return true; });
  store_->set_replication_barrier(barrier);
  store::CreateMailboxRequest r;
  r.name = "user.a";
  ASSERT_TRUE(store_->create_mailbox(r).ok());  // list writes do not wait
  ack_all();
  std::thread writer([&] { EXPECT_TRUE(store_->append(append_to("user.a", 1)).ok()); });  // waits
  ASSERT_TRUE(eventually([&] { return barrier->waiting() == 1; }));
  auto own = store_->own_unacked_changes(100);
  ASSERT_TRUE(own.has_value());
  ASSERT_EQ(own->size(), 1u);
  auto log = store_->read_changes(100);
  ASSERT_EQ(log->records.size(), 1u);
  EXPECT_EQ((*own)[0], log->records[0].seq);
  barrier->replicated({(*own)[0] + 1000});  // someone else's: not this waiter's record
  EXPECT_EQ(barrier->waiting(), 1u);
  barrier->replicated(*own);
  writer.join();
  EXPECT_EQ(barrier->waiting(), 0u);
  EXPECT_EQ(pending(), 1u);  // released before the local acknowledgement
  ack_all();
  EXPECT_TRUE(store_->own_unacked_changes(100)->empty());
}

TEST_F(SyncBarrierTest, AnAcknowledgementWithoutNotifyIsNotCountedLate) {
  // Another path acknowledged the records and nobody called notify(): the
  // deadline looks at the log once more before it gives up on the replica.
  auto barrier = std::make_shared<SyncBarrier>(*store_, milliseconds(200), [] { return true; });
  uint64_t seq = change("user.a");
  std::thread replica([&] {
    ASSERT_TRUE(eventually([&] { return barrier->waiting() == 1; }));
    ack_all();
  });
  barrier->wait_replicated(seq);
  replica.join();
  EXPECT_EQ(barrier->state(), "sync");
}

TEST_F(SyncBarrierTest, ABrokenLinkFallsBackAtOnce) {
  std::atomic<bool> healthy{false};
  auto barrier = std::make_shared<SyncBarrier>(*store_, milliseconds(600000), [&] { return healthy.load(); });
  barrier->wait_replicated(change("user.a"));  // would hang the test for 10 minutes if it waited
  EXPECT_NE(barrier->state().find("not connected"), std::string::npos);
}

TEST_F(SyncBarrierTest, ALinkLostWhileWaitingReleasesTheWaiter) {
  std::atomic<bool> healthy{true};
  auto barrier = std::make_shared<SyncBarrier>(*store_, milliseconds(600000), [&] { return healthy.load(); });
  uint64_t seq = change("user.a");
  std::thread link([&] {
    ASSERT_TRUE(eventually([&] { return barrier->waiting() == 1; }));
    healthy = false;
    barrier->notify();  // what the replicator's failure report does
  });
  barrier->wait_replicated(seq);
  link.join();
  EXPECT_NE(barrier->state().find("not connected"), std::string::npos);
  EXPECT_EQ(pending(), 1u);  // nothing was acknowledged: it was the fallback
}

TEST_F(SyncBarrierTest, TheDestructorReleasesWaiters) {
  auto barrier = std::make_shared<SyncBarrier>(*store_, milliseconds(600000), [] { return true; });
  std::atomic<int> done{0};
  barrier->when_replicated(change("user.a"), [&] { ++done; });
  EXPECT_EQ(done.load(), 0);
  EXPECT_EQ(barrier->waiting(), 1u);
  barrier.reset();
  EXPECT_EQ(done.load(), 1);
}

TEST_F(SyncBarrierTest, TheStoreWaitsOnlyForClientWrites) {
  store::CreateMailboxRequest r;
  r.name = "user.fred";
  ASSERT_TRUE(store_->create_mailbox(r).ok());
  ack_all();
  auto barrier = std::make_shared<SyncBarrier>(*store_, milliseconds(60000), [] { return true; });
  store_->set_replication_barrier(barrier);
  // The "replica": acknowledges the append's change record once the writer waits.
  std::atomic<bool> acked{false};
  std::thread replica([&] {
    ASSERT_TRUE(eventually([&] { return barrier->waiting() == 1; }));
    acked = true;
    ack_all();
    barrier->notify();
  });
  ASSERT_TRUE(store_->append(append_to("user.fred", 0)).ok());
  bool acked_before_return = acked.load();
  replica.join();
  EXPECT_TRUE(acked_before_return) << "APPEND returned before the replica had it";
  EXPECT_EQ(barrier->state(), "sync");
}

// On a thread with a DeferredReplicaWait scope the write returns at once and
// the wait is handed over: one thread can leave many writes waiting.
TEST_F(SyncBarrierTest, AScopedWriteHandsItsWaitOver) {
  store::CreateMailboxRequest r;
  r.name = "user.fred";
  ASSERT_TRUE(store_->create_mailbox(r).ok());
  ack_all();
  auto barrier = std::make_shared<SyncBarrier>(*store_, milliseconds(60000), [] { return true; });
  store_->set_replication_barrier(barrier);
  constexpr int kWriters = 20;
  std::atomic<int> done{0};
  for (int i = 0; i < kWriters; ++i) {
    store::ReplicaWaitStart start;
    {
      store::DeferredReplicaWait scope;
      ASSERT_TRUE(store_->append(append_to("user.fred", i)).ok());
      start = scope.take();
    }
    ASSERT_TRUE(start) << "the barrier blocked instead of handing the wait over";
    start([&] { ++done; });
  }
  EXPECT_EQ(done.load(), 0);
  EXPECT_EQ(barrier->waiting(), static_cast<size_t>(kWriters));
  ack_all();
  barrier->notify();  // one notification releases every covered writer
  EXPECT_EQ(done.load(), kWriters);
  EXPECT_EQ(barrier->state(), "sync");
}

// The whole path: sessions (coroutines) write through a BlockingPool with ONE
// thread; all of them wait for the replica at once, and none resumes before
// the acknowledgement.
TEST_F(SyncBarrierTest, ManySessionsWaitAtOnceOnAOneThreadPool) {
  store::CreateMailboxRequest r;
  r.name = "user.fred";
  ASSERT_TRUE(store_->create_mailbox(r).ok());
  ack_all();
  auto barrier = std::make_shared<SyncBarrier>(*store_, milliseconds(60000), [] { return true; });
  store_->set_replication_barrier(barrier);
  server::BlockingPool pool(1);
  boost::asio::io_context io;
  constexpr int kSessions = 16;
  std::atomic<int> resumed{0};
  std::atomic<bool> acked{false};
  std::atomic<int> early{0};
  for (int i = 0; i < kSessions; ++i) {
    boost::asio::co_spawn(
        io,
        [&, i]() -> boost::asio::awaitable<void> {
          auto req = append_to("user.fred", i);
          // Named, not a temporary in the co_await (GCC 12 destroys such
          // temporaries twice).
          auto work = [&, req] { return store_->append(req); };
          auto res = co_await pool.run(std::move(work));
          EXPECT_TRUE(res.ok());
          if (!acked.load()) ++early;
          ++resumed;
        },
        boost::asio::detached);
  }
  std::thread replica([&] {
    // All 16 wait at the same time although the pool has one thread.
    bool all_waiting = eventually([&] { return barrier->waiting() == static_cast<size_t>(kSessions); });
    EXPECT_TRUE(all_waiting) << barrier->waiting() << " waiting";
    acked = true;
    ack_all();
    barrier->notify();
  });
  io.run();  // returns when every session has resumed (the pool keeps it busy until then)
  replica.join();
  EXPECT_EQ(resumed.load(), kSessions);
  EXPECT_EQ(early.load(), 0) << "a session resumed before the replica acknowledged";
  EXPECT_EQ(barrier->state(), "sync");
  pool.stop();
}

}  // namespace
}  // namespace cyr::failover
