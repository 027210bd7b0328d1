// Two stores open on one directory: a Primary (the master) and a Secondary
// (an ops command, or sync_client -r as its own process). Two instances in one
// process model two processes: every cache is per instance, and SQLite and
// flock locks conflict between separate connections / open files. One test
// also forks, for the real thing.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <set>

#include "store/notify.h"
#include "store/store.h"
#include "tests/unit/store/store_test_util.h"

namespace cyr::store {
namespace {

namespace fs = std::filesystem;
using testing::make_temp_dir;
using testing::message;
using testing::named;
using testing::one_message;
using testing::options_for;

class SecondaryStoreTest : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = make_temp_dir("secondary"); }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  std::unique_ptr<Store> open(OpenMode mode) {
    auto o = options_for(dir_);
    o.open_mode = mode;
    auto s = Store::open(o);
    EXPECT_TRUE(s.ok()) << (s.ok() ? "" : s.error().describe());
    return s.ok() ? std::move(*s) : nullptr;
  }
  static size_t count_for(const ChangeBatch& b, const std::string& mailbox) {
    size_t n = 0;
    for (auto& r : b.records)
      if (r.arg1 == mailbox) ++n;
    return n;
  }
  std::string dir_;
};

// The marker of a shard must not be trusted from a cache: the primary acks
// (dropping the marker) between two writes of the secondary.
TEST_F(SecondaryStoreTest, WritesOfSecondaryReachPrimaryChangeLogAfterAck) {
  auto primary = open(OpenMode::Primary);
  auto secondary = open(OpenMode::Secondary);
  ASSERT_TRUE(primary && secondary);

  ASSERT_TRUE(secondary->create_mailbox(named("user.fred")).ok());
  ASSERT_TRUE(secondary->append(one_message("user.fred", message("one"))).ok());
  auto b1 = primary->read_changes(1000);
  ASSERT_TRUE(b1.ok());
  EXPECT_GE(count_for(*b1, "user.fred"), 2u);  // MAILBOX from the create, then the append
  ASSERT_TRUE(primary->ack_changes(*b1).ok());
  auto empty = primary->read_changes(1000);
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->records.empty());

  // The secondary wrote to this shard before: it must notice the marker is gone.
  ASSERT_TRUE(secondary->append(one_message("user.fred", message("two"))).ok());
  auto b2 = primary->read_changes(1000);
  ASSERT_TRUE(b2.ok());
  EXPECT_EQ(count_for(*b2, "user.fred"), 1u);
}

// A record committed between read and ack, with a LOWER seq than one read
// (the secondary drew its block first), survives the ack.
TEST_F(SecondaryStoreTest, AckForgetsExactlyTheRecordsRead) {
  auto secondary = open(OpenMode::Secondary);
  auto primary = open(OpenMode::Primary);
  ASSERT_TRUE(primary && secondary);
  ASSERT_TRUE(secondary->create_mailbox(named("user.fred")).ok());  // secondary reserves first
  ASSERT_TRUE(primary->create_mailbox(named("user.fred.Sent")).ok());
  ASSERT_TRUE(primary->ack_changes(*primary->read_changes(1000)).ok());

  ASSERT_TRUE(primary->append(one_message("user.fred.Sent", message("p1"))).ok());
  auto batch = primary->read_changes(1000);
  ASSERT_TRUE(batch.ok());
  ASSERT_EQ(batch->records.size(), 1u);
  ASSERT_TRUE(secondary->append(one_message("user.fred", message("s1"))).ok());
  auto all = primary->read_changes(1000);
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->records.size(), 2u);
  uint64_t primary_seq = batch->records[0].seq, secondary_seq = 0;
  for (auto& r : all->records)
    if (r.arg1 == "user.fred") secondary_seq = r.seq;
  EXPECT_LT(secondary_seq, primary_seq);  // the case "delete seq <= max" got wrong

  ASSERT_TRUE(primary->ack_changes(*batch).ok());
  auto left = primary->read_changes(1000);
  ASSERT_TRUE(left.ok());
  ASSERT_EQ(left->records.size(), 1u);
  EXPECT_EQ(left->records[0].arg1, "user.fred");
}

// Both draw sequence numbers: never the same one twice.
TEST_F(SecondaryStoreTest, SequenceBlocksNeverOverlap) {
  auto primary = open(OpenMode::Primary);
  auto secondary = open(OpenMode::Secondary);
  ASSERT_TRUE(primary && secondary);
  ASSERT_TRUE(primary->create_mailbox(named("user.a")).ok());
  ASSERT_TRUE(secondary->create_mailbox(named("user.b")).ok());
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(primary->append(one_message("user.a", message("a" + std::to_string(i)))).ok());
    ASSERT_TRUE(secondary->append(one_message("user.b", message("b" + std::to_string(i)))).ok());
  }
  auto before = secondary->read_changes(1000);
  ASSERT_TRUE(before.ok());
  std::set<uint64_t> seqs;
  uint64_t max_before = 0;
  for (auto& r : before->records) {
    EXPECT_TRUE(seqs.insert(r.seq).second) << "seq " << r.seq << " used twice";
    max_before = std::max(max_before, r.seq);
  }
  EXPECT_GE(seqs.size(), 12u);
  // A second primary open (a master restart) continues above both.
  primary.reset();
  auto again = open(OpenMode::Primary);
  ASSERT_TRUE(again->append(one_message("user.a", message("after"))).ok());
  auto b = again->read_changes(1000);
  ASSERT_TRUE(b.ok());
  ASSERT_EQ(b->records.size(), before->records.size() + 1);
  for (auto& r : b->records)
    if (!seqs.count(r.seq)) EXPECT_GT(r.seq, max_before);
}

// Secondary: no recovery. A file above last_uid is what a primary's append in
// progress looks like; the secondary must leave it (and a live process's
// staging file) alone. The primary, once alone, cleans it.
TEST_F(SecondaryStoreTest, SecondaryLeavesOrphansAndStagingAlone) {
  {
    auto primary = open(OpenMode::Primary);
    ASSERT_TRUE(primary->create_mailbox(named("user.fred")).ok());
    ASSERT_TRUE(primary->append(one_message("user.fred", message("one"))).ok());
  }
  auto info_store = open(OpenMode::Secondary);
  auto path = info_store->message_path("user.fred", 1);
  ASSERT_TRUE(path.ok());
  fs::path orphan = path->parent_path() / "7.";
  { std::ofstream(orphan) << "not indexed"; }
  fs::path stage_dir = fs::path(dir_) / "spool" / "stage.";
  fs::create_directories(stage_dir);
  fs::path live_stage = stage_dir / (std::to_string(::getpid()) + "-999999");
  fs::path dead_stage = stage_dir / "999999999-1";  // no such pid
  fs::path dead_generation = stage_dir / "999999998-0";  // a generation directory
  { std::ofstream(live_stage) << "x"; }
  { std::ofstream(dead_stage) << "x"; }
  fs::create_directories(dead_generation);
  { std::ofstream(dead_generation / "17") << "x"; }

  auto secondary = open(OpenMode::Secondary);
  ASSERT_TRUE(secondary->append(one_message("user.fred", message("two"))).ok());
  EXPECT_TRUE(fs::exists(orphan));
  EXPECT_TRUE(fs::exists(live_stage));
  EXPECT_TRUE(fs::exists(dead_stage));
  EXPECT_TRUE(fs::exists(dead_generation / "17"));
  secondary.reset();
  info_store.reset();

  // Our own pid counts as "this process": a primary removes its own leftovers
  // and those of dead processes, and orphans of the shard on first write.
  fs::path other_live = stage_dir / (std::to_string(::getppid()) + "-1");
  { std::ofstream(other_live) << "x"; }
  auto primary = open(OpenMode::Primary);
  EXPECT_FALSE(fs::exists(dead_stage));
  EXPECT_FALSE(fs::exists(dead_generation));
  EXPECT_FALSE(fs::exists(live_stage));
  EXPECT_TRUE(fs::exists(other_live));  // a live process (our parent) may be mid-append
  ASSERT_TRUE(primary->append(one_message("user.fred", message("three"))).ok());
  auto recs = primary->records("user.fred");
  ASSERT_TRUE(recs.ok());
  EXPECT_EQ(recs->size(), 3u);
  // The orphan "7." was above last_uid 2 when the primary first wrote: gone,
  // unless uid 3 reused the name (it did not: uid 3 is "3.").
  EXPECT_FALSE(fs::exists(orphan));
}

// Real processes: a forked child opens a Secondary and writes while the
// parent's Primary reads and acknowledges; nothing written is missed.
TEST_F(SecondaryStoreTest, ForkedSecondaryWritesAreAllSeen) {
  auto primary = open(OpenMode::Primary);
  ASSERT_TRUE(primary->create_mailbox(named("user.fred")).ok());
  ASSERT_TRUE(primary->append(one_message("user.fred", message("seed"))).ok());
  constexpr int kChildAppends = 30;
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    auto o = options_for(dir_);
    o.open_mode = OpenMode::Secondary;
    auto s = Store::open(o);
    if (!s.ok()) ::_exit(2);
    for (int i = 0; i < kChildAppends; ++i)
      if (!(*s)->append(one_message("user.fred", message("child" + std::to_string(i)))).ok()) ::_exit(3);
    ::_exit(0);
  }
  // The parent keeps consuming while the child writes (bounded loop).
  size_t seen_appends = 0;
  int status = 0;
  bool child_done = false;
  for (int round = 0; round < 2000; ++round) {
    auto b = primary->read_changes(1000);
    ASSERT_TRUE(b.ok());
    seen_appends += count_for(*b, "user.fred");
    ASSERT_TRUE(primary->ack_changes(*b).ok());
    if (child_done && b->records.empty()) break;
    if (!child_done && ::waitpid(pid, &status, WNOHANG) == pid) child_done = true;
    if (!child_done) ::usleep(2000);
  }
  ASSERT_TRUE(child_done);
  ASSERT_TRUE(WIFEXITED(status));
  ASSERT_EQ(WEXITSTATUS(status), 0);
  // seed create + seed append + every child append (one MAILBOX record each).
  EXPECT_EQ(seen_appends, 2u + kChildAppends);
  auto recs = primary->records("user.fred");
  ASSERT_TRUE(recs.ok());
  EXPECT_EQ(recs->size(), 1u + kChildAppends);
}

// IDLE's wake-up across processes (store/notify.h): a watcher of the primary
// is called for a commit of the secondary, which has no watchers of its own.
TEST_F(SecondaryStoreTest, SecondaryCommitWakesPrimaryWatchers) {
  auto primary = open(OpenMode::Primary);
  auto secondary = open(OpenMode::Secondary);
  ASSERT_TRUE(primary && secondary);
  auto info = primary->create_mailbox(named("user.fred"));
  ASSERT_TRUE(info.ok());
  std::mutex mu;
  std::condition_variable cv;
  std::vector<MailboxEvent> seen;
  WatchId id = primary->watch(info->uniqueid, [&](const MailboxEvent& ev) {
    std::lock_guard lk(mu);
    seen.push_back(ev);
    cv.notify_all();
  });
  ASSERT_TRUE(secondary->append(one_message("user.fred", message("one"))).ok());
  {
    std::unique_lock lk(mu);
    // A generous bound: the wake-up is one datagram, but CI machines stall.
    ASSERT_TRUE(cv.wait_for(lk, std::chrono::seconds(20), [&] { return !seen.empty(); }));
    EXPECT_EQ(seen[0].uniqueid, info->uniqueid);
    EXPECT_TRUE(seen[0].what & kChangedAppend) << seen[0].what;
  }
  primary->unwatch(id);
  // The primary gone, a secondary's commit still succeeds (nobody listens).
  primary.reset();
  EXPECT_FALSE(fs::exists(notify_socket_path(fs::path(dir_) / "conf")));
  ASSERT_TRUE(secondary->append(one_message("user.fred", message("two"))).ok());
}

TEST(NotifyDatagram, OnlyTheExactFormatIsAccepted) {
  MailboxEvent ev;
  EXPECT_TRUE(parse_notify_datagram("CYRN1 5 abc-123", ev));
  EXPECT_EQ(ev.uniqueid, "abc-123");
  EXPECT_EQ(ev.what, 5u);
  for (std::string_view bad : {"", "CYRN1 ", "CYRN1 5", "CYRN1 5 ", "CYRN1 x abc", "CYRN1 -1 abc",
                               "CYRN1 5 ab/c", "CYRN1 5 ab c", "CYRN2 5 abc", "cyrn1 5 abc",
                               "CYRN1 99999999999 abc", "CYRN1 5 abc\n"})
    EXPECT_FALSE(parse_notify_datagram(bad, ev)) << bad;
  EXPECT_FALSE(parse_notify_datagram("CYRN1 1 " + std::string(200, 'a'), ev));
  EXPECT_TRUE(parse_notify_datagram("CYRN1 1 " + std::string(128, 'a'), ev));
}

}  // namespace
}  // namespace cyr::store
