#include "failover/sync_barrier.h"

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <random>
#include <thread>

namespace cyr::failover {
namespace {

using std::chrono::milliseconds;

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

  std::filesystem::path dir_;
  std::unique_ptr<store::Store> store_;
};

TEST_F(SyncBarrierTest, ReturnsWhenTheReplicaAcknowledged) {
  SyncBarrier barrier(*store_, milliseconds(5000), [] { return true; });
  uint64_t seq = change("user.a");
  std::thread replica([&] {
    std::this_thread::sleep_for(milliseconds(50));
    ack_all();
  });
  auto t0 = std::chrono::steady_clock::now();
  barrier.wait_replicated(seq);
  auto took = std::chrono::steady_clock::now() - t0;
  replica.join();
  EXPECT_GE(took, milliseconds(40)) << "returned before the acknowledgement";
  EXPECT_EQ(barrier.state(), "sync");
  barrier.wait_replicated(seq);  // already acknowledged: at once
}

TEST_F(SyncBarrierTest, FallsBackToAsyncAfterTheTimeoutAndRecovers) {
  SyncBarrier barrier(*store_, milliseconds(100), [] { return true; });
  uint64_t seq = change("user.a");
  barrier.wait_replicated(seq);
  EXPECT_NE(barrier.state().find("async"), std::string::npos);
  auto t0 = std::chrono::steady_clock::now();
  barrier.wait_replicated(change("user.b"));  // degraded: no wait
  EXPECT_LT(std::chrono::steady_clock::now() - t0, milliseconds(90));
  ack_all();
  barrier.wait_replicated(seq);  // drained: sync again
  EXPECT_EQ(barrier.state(), "sync");
}

TEST_F(SyncBarrierTest, ABrokenLinkFallsBackAtOnce) {
  std::atomic<bool> healthy{false};
  SyncBarrier barrier(*store_, milliseconds(60000), [&] { return healthy.load(); });
  auto t0 = std::chrono::steady_clock::now();
  barrier.wait_replicated(change("user.a"));
  EXPECT_LT(std::chrono::steady_clock::now() - t0, milliseconds(1000));
  EXPECT_NE(barrier.state().find("not connected"), std::string::npos);
}

TEST_F(SyncBarrierTest, TheStoreWaitsOnlyForClientWrites) {
  auto barrier = std::make_shared<SyncBarrier>(*store_, milliseconds(200), [] { return true; });
  store_->set_replication_barrier(barrier);
  store::CreateMailboxRequest r;
  r.name = "user.fred";
  ASSERT_TRUE(store_->create_mailbox(r).ok());
  ack_all();
  store::AppendRequest req;
  req.mailbox = "user.fred";
  req.messages.push_back({store::MessageSource::memory("Subject: x\r\n\r\nbody\r\n"), {}, 0});
  // The "replica": waits for the append's change record, then acknowledges it.
  std::atomic<bool> acked{false};
  std::thread replica([&] {
    for (int i = 0; i < 1000; ++i) {
      auto b = store_->read_changes(10);
      if (b.ok() && !b->records.empty()) {
        std::this_thread::sleep_for(milliseconds(20));
        acked = true;
        ASSERT_TRUE(store_->ack_changes(*b).ok());
        return;
      }
      std::this_thread::sleep_for(milliseconds(2));
    }
  });
  auto barrier_long = std::make_shared<SyncBarrier>(*store_, milliseconds(5000), [] { return true; });
  store_->set_replication_barrier(barrier_long);
  ASSERT_TRUE(store_->append(req).ok());
  bool acked_before_return = acked.load();
  replica.join();
  EXPECT_TRUE(acked_before_return) << "APPEND returned before the replica had it";
  EXPECT_EQ(barrier_long->state(), "sync");
  store_->set_replication_barrier(nullptr);
}

}  // namespace
}  // namespace cyr::failover
