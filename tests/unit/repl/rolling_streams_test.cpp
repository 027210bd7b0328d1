// Rolling replication split by owner and run on parallel streams: one
// stalled user must not hold up the others (Cyrus issue #1922), each owner's
// records are acknowledged on their own, and a stalled owner catches up
// once it is released.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <mutex>
#include <set>
#include <thread>

#include "sync/rolling_daemon.h"
#include "sync/rolling_sync.h"
#include "sync/sync_client.h"
#include "sync/sync_peer.h"
#include "sync/sync_server.h"
#include "tests/unit/store/store_test_util.h"

namespace cyr::sync {
namespace {

using store::ChangeKind;
using store::ChangeRecord;
using store::Store;
using store::testing::make_temp_dir;
using store::testing::message;
using store::testing::named;
using store::testing::one_message;
using store::testing::options_for;

TEST(RollingUnits, OneUnitPerOwnerAndCrossOwnerRenamesJoinThem) {
  std::vector<ChangeRecord> ch;
  auto add = [&](ChangeKind k, std::string a, std::string b = "") {
    ch.push_back(ChangeRecord{ch.size() + 1, 1, k, std::move(a), std::move(b)});
  };
  add(ChangeKind::Append, "user.a");
  add(ChangeKind::Append, "user.b.Sent");
  add(ChangeKind::Seen, "a", "user.a");
  add(ChangeKind::Append, "shared.news");
  add(ChangeKind::Quota, "user.c");
  add(ChangeKind::Rename, "user.d.X", "user.e.X");  // joins d and e
  add(ChangeKind::Append, "user.e");
  add(ChangeKind::Unmailbox, "shared.old");
  auto units = split_rolling_units(ch);
  ASSERT_EQ(units.size(), 5u);
  EXPECT_EQ(units[0].keys, (std::set<std::string>{"a"}));
  EXPECT_EQ(units[0].records.size(), 2u);
  EXPECT_EQ(units[1].keys, (std::set<std::string>{"b"}));
  EXPECT_EQ(units[2].keys, (std::set<std::string>{""}));  // the shared hierarchy
  EXPECT_EQ(units[2].records.size(), 2u);
  EXPECT_EQ(units[3].keys, (std::set<std::string>{"c"}));
  EXPECT_EQ(units[4].keys, (std::set<std::string>{"d", "e"}));
  EXPECT_EQ(units[4].records.size(), 2u);
  size_t total = 0;
  for (auto& u : units) total += u.records.size();
  EXPECT_EQ(total, ch.size());
}

// A replica connection whose calls about user.slow wait at a gate.
struct Gate {
  std::mutex mu;
  std::condition_variable cv;
  bool open = false;
  int waiting = 0;
};

class GatedPeer final : public SyncPeer {
 public:
  GatedPeer(Store& replica, const std::string& stage, Gate& gate)
      : server_(replica, SyncServerOptions{stage, {}, "test"}), inner_(server_), gate_(gate) {}
  Result<std::vector<SyncReply>> call(const SyncCommand& cmd) override {
    if (cmd.carries_dlist()) {
      auto text = encode_command(cmd);
      if (text.ok() && text->find("user.slow") != std::string::npos) {
        std::unique_lock lk(gate_.mu);
        ++gate_.waiting;
        gate_.cv.notify_all();
        gate_.cv.wait(lk, [&] { return gate_.open; });
        --gate_.waiting;
      }
    }
    return inner_.call(cmd);
  }

 private:
  SyncServerSession server_;
  LoopbackPeer inner_;
  Gate& gate_;
};

struct Node {
  std::string dir;
  std::shared_ptr<Store> store;
  explicit Node(const char* tag) : dir(make_temp_dir(tag)) {
    auto s = Store::open(options_for(dir));
    EXPECT_TRUE(s.ok()) << s.error().describe();
    store = std::shared_ptr<Store>(std::move(*s));
  }
  ~Node() {
    store.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
};

bool wait_until(const std::function<bool()>& pred, std::chrono::seconds limit = std::chrono::seconds(20)) {
  auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return pred();
}

size_t replica_count(Store& s, const std::string& box) {
  auto info = s.lookup(box);
  return info.ok() ? info->exists : 0;
}

// Waits until the replica's mailbox holds `want` messages and the master's
// change log is empty (everything acknowledged).
bool replicated(Store& master, Store& replica, const std::string& box, size_t want) {
  return wait_until([&] {
    auto p = master.read_changes(10);
    return replica_count(replica, box) == want && p.ok() && p->records.empty();
  });
}

TEST(RollingStreams, AStalledUserDoesNotHoldUpTheOthers) {
  Node master("rs_m"), replica("rs_r");
  ASSERT_TRUE(replica.store->set_node_state({store::Role::Replica, 1}).ok());
  Gate gate;
  int sessions = 0;
  std::mutex smu;
  RollingOptions o;
  o.streams = 3;
  o.poll = std::chrono::milliseconds(20);
  o.connect = [&]() -> Result<std::unique_ptr<SyncPeer>> {
    std::lock_guard lk(smu);
    return std::unique_ptr<SyncPeer>(
        new GatedPeer(*replica.store, replica.dir + "/stage" + std::to_string(++sessions), gate));
  };
  Store& m = *master.store;
  for (auto* u : {"user.slow", "user.fast1", "user.fast2"}) ASSERT_TRUE(m.create_mailbox(named(u)).ok());
  ASSERT_TRUE(m.append(one_message("user.slow", message("s0"))).ok());

  RollingReplicator rep(master.store, o);
  rep.start();
  // user.slow's stream is stuck at the gate...
  ASSERT_TRUE(wait_until([&] {
    std::lock_guard lk(gate.mu);
    return gate.waiting > 0;
  }));
  // ...while new mail for the others keeps arriving and reaches the replica.
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(m.append(one_message("user.fast1", message("f1-" + std::to_string(i)))).ok());
    ASSERT_TRUE(m.append(one_message("user.fast2", message("f2-" + std::to_string(i)))).ok());
    ASSERT_TRUE(m.append(one_message("user.slow", message("s" + std::to_string(i + 1)))).ok());
  }
  // A stream applies a batch on the replica before it acknowledges the records
  // on the master, so wait for both: the others' mail applied and their
  // records acknowledged, leaving only user.slow's pending.
  auto only_slow_pending = [&] {
    auto p = m.read_changes(1000);
    if (!p.ok()) return false;
    for (auto& r : p->records)
      if (rolling_keys(r) != std::set<std::string>{"slow"}) return false;
    return true;
  };
  EXPECT_TRUE(wait_until([&] {
    return replica_count(*replica.store, "user.fast1") == 5 && replica_count(*replica.store, "user.fast2") == 5 &&
           only_slow_pending();
  }));
  EXPECT_EQ(replica_count(*replica.store, "user.slow"), 0u);
  auto pending = m.read_changes(1000);
  ASSERT_TRUE(pending.ok());
  for (auto& r : pending->records) EXPECT_EQ(rolling_keys(r), (std::set<std::string>{"slow"})) << r.arg1;
  EXPECT_FALSE(pending->records.empty());

  {
    std::lock_guard lk(gate.mu);
    gate.open = true;
  }
  gate.cv.notify_all();
  EXPECT_TRUE(wait_until([&] {
    auto p = m.read_changes(1);
    return replica_count(*replica.store, "user.slow") == 6 && p.ok() && p->records.empty();
  }));
  rep.stop();
  auto st = rep.status();
  EXPECT_EQ(st.streams, 3u);
  EXPECT_TRUE(st.last_error.empty()) << st.last_error;

  SyncServerSession server(*replica.store, SyncServerOptions{replica.dir + "/stage-v", {}, "test"});
  LoopbackPeer peer(server);
  auto rep_v = verify(m, peer, {});
  ASSERT_TRUE(rep_v.ok());
  EXPECT_TRUE(rep_v->identical()) << (rep_v->differences.empty() ? "" : rep_v->differences.front());
}

// sync_mode: the replicator does not wait for its poll when kicked, and it
// reports each acknowledgement (the sync-mode barrier's notify()).
TEST(RollingStreams, AKickReplicatesAtOnceAndProgressIsReported) {
  Node master("rk_m"), replica("rk_r");
  ASSERT_TRUE(replica.store->set_node_state({store::Role::Replica, 1}).ok());
  int sessions = 0;
  std::mutex smu;
  std::atomic<int> progress{0};
  RollingOptions o;
  o.streams = 2;
  o.poll = std::chrono::hours(1);  // only a kick can start a pass in this test
  o.eager = true;
  o.status_file = master.dir + "/rolling.status";
  o.on_progress = [&] { ++progress; };
  o.connect = [&]() -> Result<std::unique_ptr<SyncPeer>> {
    std::lock_guard lk(smu);
    auto server = std::make_shared<SyncServerSession>(
        *replica.store, SyncServerOptions{replica.dir + "/stage" + std::to_string(++sessions), {}, "test"});
    struct Owning final : SyncPeer {
      std::shared_ptr<SyncServerSession> s;
      LoopbackPeer p;
      explicit Owning(std::shared_ptr<SyncServerSession> srv) : s(std::move(srv)), p(*s) {}
      Result<std::vector<SyncReply>> call(const SyncCommand& cmd) override { return p.call(cmd); }
    };
    return std::unique_ptr<SyncPeer>(new Owning(server));
  };
  Store& m = *master.store;
  ASSERT_TRUE(m.create_mailbox(named("user.fred")).ok());
  RollingReplicator rep(master.store, o);
  rep.start();
  // The first pass (at start) has read the log and published its status:
  // from now on only kick() makes the replicator look again.
  ASSERT_TRUE(wait_until([&] { return std::filesystem::exists(o.status_file); }));
  ASSERT_TRUE(wait_until([&] {
    auto p = m.read_changes(10);
    return p.ok() && p->records.empty();
  }));
  int before = progress.load();
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(m.append(one_message("user.fred", message("k" + std::to_string(i)))).ok());
    rep.kick();
  }
  EXPECT_TRUE(wait_until([&] {
    auto p = m.read_changes(10);
    return replica_count(*replica.store, "user.fred") == 3 && p.ok() && p->records.empty();
  })) << "a kicked replicator left the change for its (hour-long) poll";
  EXPECT_TRUE(wait_until([&] { return progress.load() > before; }));
  rep.stop();
}


// Eager mode: a write made while the owner's round is still unanswered goes
// out at once as the next round on the same connection (a follower found in
// the owner's shard), not after the reply. Replies here are held back until
// the test releases them; the replica applies each command when it is sent.
TEST(RollingStreams, AWriteDuringAnUnansweredRoundGoesOutAsTheNextRound) {
  Node master("rf_m"), replica("rf_r");
  ASSERT_TRUE(replica.store->set_node_state({store::Role::Replica, 1}).ok());
  std::mutex gate_mu;
  std::condition_variable gate_cv;
  bool gate_open = true;
  std::atomic<int> mailbox_applies{0};
  struct Gated final : SyncPeer {
    std::shared_ptr<SyncServerSession> s;
    LoopbackPeer p;
    std::mutex& mu;
    std::condition_variable& cv;
    bool& open;
    std::atomic<int>& applies;
    std::mutex held_mu;
    std::deque<Result<std::vector<SyncReply>>> held;
    Gated(std::shared_ptr<SyncServerSession> srv, std::mutex& m, std::condition_variable& c, bool& o,
          std::atomic<int>& a)
        : s(std::move(srv)), p(*s), mu(m), cv(c), open(o), applies(a) {}
    Result<std::vector<SyncReply>> call(const SyncCommand& cmd) override { return p.call(cmd); }
    Status send(const SyncCommand& cmd) override {
      if (cmd.verb == "APPLY" && cmd.name == "MAILBOX") ++applies;
      auto r = p.call(cmd);
      std::lock_guard lk(held_mu);
      held.push_back(std::move(r));
      return {};
    }
    Result<std::vector<SyncReply>> receive() override {
      {
        std::unique_lock lk(mu);
        cv.wait(lk, [&] { return open; });
      }
      std::lock_guard lk(held_mu);
      if (held.empty()) return Error(Errc::Io, "nothing sent");
      auto r = std::move(held.front());
      held.pop_front();
      return r;
    }
  };
  RollingOptions o;
  o.streams = 2;  // the parallel path (eager chains); one owner uses one stream
  o.poll = std::chrono::hours(1);  // only kicks start passes
  o.eager = true;
  o.connect = [&]() -> Result<std::unique_ptr<SyncPeer>> {
    auto server = std::make_shared<SyncServerSession>(*replica.store,
                                                      SyncServerOptions{replica.dir + "/stage", {}, "test"});
    return std::unique_ptr<SyncPeer>(new Gated(server, gate_mu, gate_cv, gate_open, mailbox_applies));
  };
  Store& m = *master.store;
  ASSERT_TRUE(m.create_mailbox(named("user.fred")).ok());
  RollingReplicator rep(master.store, o);
  rep.start();
  auto drained = [&](size_t want) { return replicated(m, *replica.store, "user.fred", want); };
  ASSERT_TRUE(m.append(one_message("user.fred", message("f0"))).ok());
  rep.kick();
  ASSERT_TRUE(drained(1)) << "the replica's state of the mailbox is known from here on";
  {
    std::lock_guard lk(gate_mu);
    gate_open = false;
  }
  int before = mailbox_applies.load();
  ASSERT_TRUE(m.append(one_message("user.fred", message("f1"))).ok());
  rep.kick();
  ASSERT_TRUE(wait_until([&] { return mailbox_applies.load() == before + 1; })) << "the first round";
  ASSERT_TRUE(m.append(one_message("user.fred", message("f2"))).ok());
  rep.kick();
  EXPECT_TRUE(wait_until([&] { return mailbox_applies.load() == before + 2; }, std::chrono::seconds(5)))
      << "the second write waited for the first round's reply";
  {
    std::lock_guard lk(gate_mu);
    gate_open = true;
  }
  gate_cv.notify_all();
  EXPECT_TRUE(drained(3));
  rep.stop();
}

// The verifier finds user `user`'s mailboxes the same on both nodes.
void expect_identical(Store& m, Node& replica, const std::string& user) {
  SyncServerSession check(*replica.store, SyncServerOptions{replica.dir + "/stage-check", {}, "test"});
  LoopbackPeer cp(check);
  auto report = verify(m, cp, {user});
  ASSERT_TRUE(report.ok()) << report.error().describe();
  EXPECT_TRUE(report->identical()) << (report->differences.empty() ? "" : report->differences.front());
}

// Eager rolling replication (sync mode's) over in-process sessions with
// `replica`, one per connection; only kicks start passes.
RollingOptions eager_options(Node& master, Node& replica, const std::string& tag) {
  auto sessions = std::make_shared<std::atomic<int>>(0);
  RollingOptions o;
  o.streams = 2;
  o.poll = std::chrono::hours(1);
  o.eager = true;
  o.status_file = master.dir + "/rolling" + tag + ".status";
  Store* rs = replica.store.get();
  std::string stage = replica.dir + "/stage" + tag + "-";
  o.connect = [rs, stage, sessions]() -> Result<std::unique_ptr<SyncPeer>> {
    auto server = std::make_shared<SyncServerSession>(
        *rs, SyncServerOptions{stage + std::to_string(++*sessions), {}, "test"});
    struct Owning final : SyncPeer {
      std::shared_ptr<SyncServerSession> s;
      LoopbackPeer p;
      explicit Owning(std::shared_ptr<SyncServerSession> srv) : s(std::move(srv)), p(*s) {}
      Result<std::vector<SyncReply>> call(const SyncCommand& cmd) override { return p.call(cmd); }
    };
    return std::unique_ptr<SyncPeer>(new Owning(server));
  };
  return o;
}

// Eager mode keeps the replica's mailbox states and sends later rounds
// without asking. When someone else changed the replica meanwhile, the
// round is refused (SINCE_MODSEQ), and the full path replicates it at once:
// nothing is lost and the replica ends equal.
TEST(RollingStreams, EagerRoundOnAStaleStateFallsBackToTheFullPath) {
  Node master("rs_stale_m"), replica("rs_stale_r");
  ASSERT_TRUE(replica.store->set_node_state({store::Role::Replica, 1}).ok());
  RollingOptions o = eager_options(master, replica, "");
  Store& m = *master.store;
  ASSERT_TRUE(m.create_mailbox(named("user.fred")).ok());
  RollingReplicator rep(master.store, o);
  rep.start();
  auto drained = [&](size_t want) { return replicated(m, *replica.store, "user.fred", want); };
  ASSERT_TRUE(m.append(one_message("user.fred", message("a0"))).ok());
  rep.kick();
  ASSERT_TRUE(drained(1));
  ASSERT_TRUE(m.append(one_message("user.fred", message("a1"))).ok());
  rep.kick();
  ASSERT_TRUE(drained(2)) << "a known round";
  // Another client moves the replica on: a flag change, replicated by it.
  store::StoreFlagsRequest fr;
  fr.uids = store::UidSet::of({1});
  fr.op = store::FlagOp::Add;
  fr.flags.system = store::kFlagFlagged;
  ASSERT_TRUE(m.store_flags("user.fred", fr).ok());
  {
    SyncServerSession other(*replica.store, SyncServerOptions{replica.dir + "/stage-other", {}, "test"});
    LoopbackPeer op(other);
    SyncClient c(m, op);
    ASSERT_TRUE(c.sync_mailboxes({"user.fred"}).ok());
  }
  ASSERT_TRUE(m.append(one_message("user.fred", message("a2"))).ok());
  rep.kick();
  EXPECT_TRUE(drained(3)) << "the refused round must be replicated by the full path";
  rep.stop();
  expect_identical(m, replica, "fred");
}

// In sync mode a primary publishes a commit before its own WAL flush, so a
// power failure can leave the replica with a message the restarted primary
// no longer has (never acknowledged to anyone). The restarted primary's
// rolling replication finds the replica ahead and repairs: nothing is lost
// and no UID names two different messages.
TEST(RollingStreams, AReplicaAheadOfARestartedPrimaryIsCopiedBack) {
  Node master("rs_ahead_m"), replica("rs_ahead_r");
  ASSERT_TRUE(replica.store->set_node_state({store::Role::Replica, 1}).ok());
  Store& m = *master.store;
  ASSERT_TRUE(m.create_mailbox(named("user.fred")).ok());
  {
    RollingReplicator rep(master.store, eager_options(master, replica, "a"));
    rep.start();
    for (int i = 0; i < 2; ++i) {
      ASSERT_TRUE(m.append(one_message("user.fred", message("a" + std::to_string(i)))).ok());
      rep.kick();
    }
    ASSERT_TRUE(replicated(m, *replica.store, "user.fred", 2));
    rep.stop();
  }
  // The commit the primary lost: on the replica only, as UID 3.
  ASSERT_TRUE(replica.store->set_node_state({store::Role::Primary, 2}).ok());
  ASSERT_TRUE(replica.store->append(one_message("user.fred", message("lost-on-primary"))).ok());
  ASSERT_TRUE(replica.store->set_node_state({store::Role::Replica, 3}).ok());
  // The restarted primary takes the next message as UID 3 too.
  ASSERT_TRUE(m.append(one_message("user.fred", message("after-restart"))).ok());
  ASSERT_EQ(m.lookup("user.fred")->last_uid, 3u);
  RollingReplicator rep(master.store, eager_options(master, replica, "b"));
  rep.start();
  rep.kick();
  EXPECT_TRUE(replicated(m, *replica.store, "user.fred", 4));
  rep.stop();
  expect_identical(m, replica, "fred");
  std::multiset<std::string> bodies;
  auto live = m.records("user.fred");
  ASSERT_TRUE(live.ok());
  for (auto& r : *live) {
    if (r.expunged()) continue;
    auto b = m.read_message("user.fred", r.uid);
    ASSERT_TRUE(b.ok());
    for (const char* want : {"a0", "a1", "lost-on-primary", "after-restart"})
      if (b->find(std::string("Subject: ") + want + "\r\n") != std::string::npos) bodies.insert(want);
  }
  EXPECT_EQ(bodies, (std::multiset<std::string>{"a0", "a1", "after-restart", "lost-on-primary"}));
}

}  // namespace
}  // namespace cyr::sync
