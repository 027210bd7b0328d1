// The controller's state machine with two real stores, a real witness state
// and an in-process network whose links the test cuts, on a fake clock.
#include "failover/controller.h"

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <map>
#include <random>
#include <set>

#include "failover/witness.h"

namespace cyr::failover {
namespace {

using std::chrono::milliseconds;

class FakeLink : public ReplicationLink {
 public:
  explicit FakeLink(store::Store* s) : store_(s) {}
  void start() override {
    running = true;
    ++starts;
    if (replicate) {  // "replicated": the replica acknowledged everything
      auto b = store_->read_changes(100000);
      if (b.ok() && !b->records.empty()) (void)store_->ack_changes(*b);
    }
  }
  void stop() override { running = false; }
  Lag lag() const override { return Lag{running, running, 0, 0, ""}; }
  Status reconcile() override {
    ++reconciles;
    if (fail_reconcile) return Error(Errc::Io, "reconcile failed (test)");
    return {};
  }
  bool fail_reconcile = false;
  store::Store* store_;
  bool replicate = true;
  std::atomic<bool> running{false};
  int starts = 0;
  int reconciles = 0;
};

struct Node {
  std::shared_ptr<store::Store> store;
  FakeLink* link = nullptr;
  std::unique_ptr<Controller> ctl;
  std::vector<HookEvent> hooks;
  std::atomic<bool> fail_fsync{false};
};

class ControllerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("cyr_ctl_test." + std::to_string(std::random_device{}()));
    std::filesystem::create_directories(dir_);
    auto w = WitnessState::open(dir_ / "witness.state", now_);
    ASSERT_TRUE(w.ok());
    witness_ = std::move(*w);
  }
  void TearDown() override {
    nodes_.clear();
    std::filesystem::remove_all(dir_);
  }

  // A node "A" or "B" whose peer is the other; role at first start as given.
  Node& make(const std::string& name, store::Role role, bool with_witness = true) {
    auto& n = nodes_[name];
    n = std::make_unique<Node>();
    store::StoreOptions o;
    o.configdirectory = dir_ / name / "conf";
    o.partitions["default"] = dir_ / name / "spool";
    Node* raw = n.get();
    o.fsync_hook = [raw](int fd) {
      if (raw->fail_fsync) {
        errno = EIO;
        return -1;
      }
      return ::fsync(fd);
    };
    auto s = store::Store::open(o);
    EXPECT_TRUE(s.ok());
    n->store = std::shared_ptr<store::Store>(std::move(*s));
    if (n->store->node_state().role != role && n->store->node_state().epoch == 0) {
      EXPECT_TRUE(n->store->set_node_state({role, 0}).ok());
    }
    ControllerOptions co;
    co.node = name;
    co.peer = name == "A" ? "B" : "A";
    co.witness = with_witness ? "W" : "";
    co.timeout = milliseconds(1000);
    co.heartbeat = milliseconds(250);
    co.drain_timeout = milliseconds(300);
    co.state_dir = dir_ / name / "conf" / "failover";
    co.secret = secret_;
    auto link = std::make_unique<FakeLink>(n->store.get());
    n->link = link.get();
    n->ctl = std::make_unique<Controller>(
        n->store, co, std::move(link),
        [this, name](const std::string& to, const std::string& req, milliseconds) { return send(name, to, req); },
        [raw](const HookEvent& e) { raw->hooks.push_back(e); }, [this] { return now_; });
    return *n;
  }

  Result<Reply> send(const std::string& from, const std::string& to, const std::string& req) {
    if (cut_.count(from) || cut_.count(to) || cut_.count(from + to) || cut_.count(to + from))
      return Error(Errc::Temp, "link cut");
    if (oneway_cut_.count(from + ">" + to)) return Error(Errc::Temp, "link cut one way");
    // What exchange() returns when the two sides' failover_secret differ.
    if (mismatch_.count(to))
      return Error(Errc::Perm, to + ": the service requires failover_secret and this side has none");
    std::string text;
    if (to == "W") {
      text = witness_->handle(req, now_);
    } else {
      auto it = nodes_.find(to);
      if (it == nodes_.end() || !it->second) return Error(Errc::Temp, "no such node");
      text = it->second->ctl->handle(req, true);
    }
    return parse_reply(text);
  }

  Node& A() { return *nodes_["A"]; }
  Node& B() { return *nodes_["B"]; }
  bool writable(Node& n) { return n.store->check_writable().ok(); }
  static store::CreateMailboxRequest fred() {
    store::CreateMailboxRequest r;
    r.name = "user.fred";
    return r;
  }

  // Ticks both nodes (unless down), advancing the clock, and checks that at
  // no moment both accept writes.
  void run_for(milliseconds total, std::set<std::string> down = {}) {
    for (milliseconds t{0}; t < total; t += milliseconds(250)) {
      now_ += milliseconds(250);
      for (auto& [name, n] : nodes_) {
        if (!n || down.count(name)) continue;
        n->ctl->tick();
        // A dead node's store object is not a writer: only live ones count.
        int writers = 0;
        for (auto& [other, m] : nodes_)
          if (m && !down.count(other) && writable(*m)) ++writers;
        ASSERT_LE(writers, 1) << "two writable nodes";
      }
    }
  }

  std::filesystem::path dir_;
  Clock::time_point now_{std::chrono::hours(1)};
  std::unique_ptr<WitnessState> witness_;
  std::map<std::string, std::unique_ptr<Node>> nodes_;
  std::set<std::string> cut_;  // "A" (all its links), "AW", "AB", ...
  std::set<std::string> oneway_cut_;  // "A>B": A's requests to B fail, B's to A pass
  std::set<std::string> mismatch_;  // requests to these fail authentication
  std::string secret_;              // the nodes' ControllerOptions::secret
};

TEST_F(ControllerTest, ASecretMismatchWithThePeerIsReportedOnceAndChangesNoRole) {
  make("A", store::Role::Primary);
  make("B", store::Role::Replica);
  // Different secrets: neither node can talk to the other (both directions
  // fail, as they do over the wire); both still reach the witness.
  mismatch_ = {"A", "B"};
  run_for(milliseconds(3000));
  EXPECT_TRUE(writable(A()));
  EXPECT_EQ(B().store->node_state(), (store::NodeState{store::Role::Replica, 0}));
  std::string all;
  int reported = 0;
  for (auto& l : A().ctl->status().lines) {
    all += l + "\n";
    if (l.starts_with("event cannot talk to peer B") && l.find("requires failover_secret") != std::string::npos)
      ++reported;
  }
  EXPECT_EQ(reported, 1) << all;  // once, not on every heartbeat
  // The primary renews its lease at the witness, so the replica, which hears
  // no heartbeat, is not granted the next epoch: no promotion, no split.
  EXPECT_NE(all.find("peer B unreachable"), std::string::npos) << all;
  EXPECT_NE(all.find("auth none (WARNING"), std::string::npos) << all;
}

TEST_F(ControllerTest, AOneWayLinkIsReportedOnceNotOnEveryHeartbeat) {
  make("A", store::Role::Primary);
  make("B", store::Role::Replica);
  run_for(milliseconds(1000));
  // B still reaches A (its PINGs mark A's peer as reachable), A cannot reach B.
  oneway_cut_ = {"A>B"};
  run_for(milliseconds(4000));
  std::string all;
  int reported = 0;
  for (auto& l : A().ctl->status().lines) {
    all += l + "\n";
    if (l.starts_with("event peer B stopped answering")) ++reported;
  }
  EXPECT_EQ(reported, 1) << all;
  EXPECT_TRUE(writable(A()));
}

TEST_F(ControllerTest, StatusShowsThePortIsAuthenticated) {
  secret_ = "0123456789abcdef-the-pair-secret";
  make("A", store::Role::Primary);
  std::string all;
  for (auto& l : A().ctl->status().lines) all += l + "\n";
  EXPECT_NE(all.find("auth hmac-sha256"), std::string::npos) << all;
  EXPECT_EQ(all.find(secret_), std::string::npos) << "status must not show the secret";
}

TEST_F(ControllerTest, PrimaryTakesWritesOnlyWithALease) {
  make("A", store::Role::Primary);
  make("B", store::Role::Replica);
  EXPECT_FALSE(writable(A()));  // no lease yet after start
  run_for(milliseconds(250));
  EXPECT_TRUE(writable(A()));
  EXPECT_TRUE(A().link->running);
  EXPECT_FALSE(writable(B()));
  EXPECT_FALSE(B().link->running);
  run_for(milliseconds(5000));  // a healthy pair stays as it is
  EXPECT_EQ(A().store->node_state(), (store::NodeState{store::Role::Primary, 0}));
  EXPECT_EQ(B().store->node_state(), (store::NodeState{store::Role::Replica, 0}));
  auto st = A().ctl->status();
  std::string all;
  for (auto& l : st.lines) all += l + "\n";
  EXPECT_NE(all.find("role primary"), std::string::npos) << all;
  EXPECT_NE(all.find("peer B reachable replica epoch 0"), std::string::npos) << all;
  EXPECT_NE(all.find("lease "), std::string::npos);
}

TEST_F(ControllerTest, ReplicaPromotesWhenThePrimaryDiesAndTheOldPrimaryRejoins) {
  make("A", store::Role::Primary);
  make("B", store::Role::Replica);
  run_for(milliseconds(500));
  ASSERT_TRUE(writable(A()));
  cut_.insert("A");  // A is dead: no ticks, no answers
  run_for(milliseconds(750), {"A"});
  EXPECT_FALSE(writable(B())) << "promoted before failover_timeout";
  run_for(milliseconds(1500), {"A"});
  EXPECT_EQ(B().store->node_state(), (store::NodeState{store::Role::Primary, 1}));
  EXPECT_TRUE(writable(B()));
  EXPECT_TRUE(B().link->running);
  ASSERT_FALSE(B().hooks.empty());
  EXPECT_EQ(B().hooks.back().role, "primary");
  EXPECT_EQ(B().hooks.back().epoch, 1u);
  EXPECT_NE(B().hooks.back().reason.find("no heartbeat"), std::string::npos) << B().hooks.back().reason;

  // A restarts with its old persisted state (primary of epoch 0).
  nodes_.erase("A");
  cut_.clear();
  make("A", store::Role::Primary);
  EXPECT_FALSE(writable(A()));
  run_for(milliseconds(250));
  // A replica with its rejoin pending, recorded in the store with the role
  // (its replication server holds off the new primary's ordinary writes).
  EXPECT_EQ(A().store->node_state(), (store::NodeState{store::Role::Replica, 1, true}));
  EXPECT_FALSE(writable(A()));
  run_for(milliseconds(500));
  EXPECT_EQ(B().link->reconciles, 1) << "the new primary copies back what only the old one had";
  EXPECT_EQ(A().store->node_state(), (store::NodeState{store::Role::Replica, 1, false}));
  std::string all;
  for (auto& l : A().ctl->status().lines) all += l + "\n";
  EXPECT_NE(all.find("rejoin no"), std::string::npos) << all;
  run_for(milliseconds(2000));
  EXPECT_EQ(B().link->reconciles, 1);
  EXPECT_TRUE(writable(B()));
}

TEST_F(ControllerTest, AnIsolatedPrimaryStopsWritingBeforeThePeerIsPromoted) {
  make("A", store::Role::Primary);
  make("B", store::Role::Replica);
  run_for(milliseconds(500));
  ASSERT_TRUE(writable(A()));
  cut_.insert("AW");
  cut_.insert("AB");
  // run_for() asserts after every tick that the two never both take writes.
  run_for(milliseconds(3000));
  EXPECT_FALSE(writable(A()));
  EXPECT_FALSE(A().link->running) << "a primary without lease must not push to the peer";
  EXPECT_TRUE(writable(B()));
  EXPECT_EQ(B().store->node_state().epoch, 1u);
  // A still believes it is primary of epoch 0, but holds writes.
  EXPECT_EQ(A().store->node_state().role, store::Role::Primary);
  cut_.clear();
  run_for(milliseconds(750));
  EXPECT_EQ(A().store->node_state(), (store::NodeState{store::Role::Replica, 1}));
  EXPECT_EQ(B().link->reconciles, 1);
}

TEST_F(ControllerTest, ThePeerVouchesForThePrimaryWhileTheWitnessIsDown) {
  make("A", store::Role::Primary);
  make("B", store::Role::Replica);
  run_for(milliseconds(500));
  cut_.insert("W");
  run_for(milliseconds(5000));
  EXPECT_TRUE(writable(A())) << "a primary that reaches its replica keeps writing";
  EXPECT_EQ(B().store->node_state(), (store::NodeState{store::Role::Replica, 0}));
  cut_.insert("AB");  // now it reaches nobody: it must hold at the end of its lease
  run_for(milliseconds(1000));
  EXPECT_FALSE(writable(A()));
  EXPECT_FALSE(writable(B())) << "no promotion without the witness";
  cut_.clear();
  run_for(milliseconds(500));
  EXPECT_TRUE(writable(A()));
  EXPECT_EQ(A().store->node_state(), (store::NodeState{store::Role::Primary, 0}));
}

TEST_F(ControllerTest, TwoConfiguredPrimariesEndWithOne) {
  make("A", store::Role::Primary);
  make("B", store::Role::Primary);
  run_for(milliseconds(1000));  // asserts after every tick: never two writers
  EXPECT_TRUE(writable(A()));
  EXPECT_EQ(B().store->node_state(), (store::NodeState{store::Role::Replica, 0}));
}

TEST_F(ControllerTest, WithoutAWitnessPromotionIsManual) {
  make("A", store::Role::Primary, false);
  make("B", store::Role::Replica, false);
  run_for(milliseconds(500));
  EXPECT_TRUE(writable(A()));
  cut_.insert("A");
  run_for(milliseconds(5000), {"A"});
  EXPECT_EQ(B().store->node_state().role, store::Role::Replica);
  auto r = parse_reply(B().ctl->handle("PROMOTE FORCE", true));
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->ok) << r->text;
  ASSERT_FALSE(r->lines.empty());
  EXPECT_NE(r->lines[0].find("WARNING"), std::string::npos);
  EXPECT_EQ(B().store->node_state(), (store::NodeState{store::Role::Primary, 1}));
  EXPECT_TRUE(writable(B()));
  // The old primary comes back and sees the later epoch.
  nodes_.erase("A");
  cut_.clear();
  make("A", store::Role::Primary, false);
  run_for(milliseconds(250));
  EXPECT_EQ(A().store->node_state(), (store::NodeState{store::Role::Replica, 1, true}));
  EXPECT_FALSE(parse_reply(A().ctl->handle("PROMOTE", true))->ok);
}

// A reconcile that keeps failing leaves the rejoin pending (the node's
// replication server holds off the primary) until the operator gives it up.
TEST_F(ControllerTest, AnOperatorCanAbandonARejoinThatCannotFinish) {
  make("A", store::Role::Primary, false);
  make("B", store::Role::Replica, false);
  run_for(milliseconds(500));
  cut_.insert("A");
  run_for(milliseconds(1000), {"A"});
  ASSERT_TRUE(parse_reply(B().ctl->handle("PROMOTE FORCE", true))->ok);
  B().link->fail_reconcile = true;
  nodes_.erase("A");
  cut_.clear();
  make("A", store::Role::Primary, false);
  run_for(milliseconds(2000));
  EXPECT_GE(B().link->reconciles, 2) << "retried";
  EXPECT_EQ(A().store->node_state(), (store::NodeState{store::Role::Replica, 1, true}));
  EXPECT_FALSE(parse_reply(A().ctl->handle("ABANDON-REJOIN", false))->ok) << "only the operator";
  auto r = parse_reply(A().ctl->handle("ABANDON-REJOIN", true));
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->ok) << r->text;
  EXPECT_EQ(A().store->node_state(), (store::NodeState{store::Role::Replica, 1, false}));
  const int tried = B().link->reconciles;
  run_for(milliseconds(1000));
  EXPECT_EQ(B().link->reconciles, tried) << "no reconcile asked for after abandoning";
  r = parse_reply(A().ctl->handle("ABANDON-REJOIN", true));
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->ok);  // nothing pending any more
}

TEST_F(ControllerTest, SwitchoverSwapsRolesAfterReplicationDrains) {
  make("A", store::Role::Primary);
  make("B", store::Role::Replica);
  run_for(milliseconds(500));
  ASSERT_TRUE(A().store->create_mailbox(fred()).ok());  // a change to drain
  auto r = parse_reply(B().ctl->handle("SWITCHOVER", true));  // asked on the replica: forwarded
  ASSERT_TRUE(r.ok());
  ASSERT_TRUE(r->ok) << r->text;
  EXPECT_EQ(r->text.rfind("SWITCHED epoch 1", 0), 0u) << r->text;
  EXPECT_EQ(A().store->node_state(), (store::NodeState{store::Role::Replica, 1}));
  EXPECT_EQ(B().store->node_state(), (store::NodeState{store::Role::Primary, 1}));
  EXPECT_TRUE(writable(B()));
  EXPECT_FALSE(writable(A()));
  EXPECT_FALSE(A().link->running);
  EXPECT_TRUE(B().link->running);
  ASSERT_FALSE(A().hooks.empty());
  EXPECT_EQ(A().hooks.back().role, "replica");
  EXPECT_EQ(B().hooks.back().role, "primary");
  run_for(milliseconds(3000));  // and it stays so
  EXPECT_TRUE(writable(B()));
  EXPECT_EQ(B().link->reconciles, 0) << "a clean switchover needs no reconcile";
}

TEST_F(ControllerTest, SwitchoverIsAbandonedWhenReplicationDoesNotDrain) {
  make("A", store::Role::Primary);
  make("B", store::Role::Replica);
  A().link->replicate = false;
  run_for(milliseconds(500));
  ASSERT_TRUE(A().store->create_mailbox(fred()).ok());
  auto r = parse_reply(A().ctl->handle("SWITCHOVER", true));
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->ok);
  EXPECT_NE(r->text.find("did not drain"), std::string::npos) << r->text;
  EXPECT_EQ(A().store->node_state(), (store::NodeState{store::Role::Primary, 0}));
  EXPECT_TRUE(writable(A()));
  EXPECT_EQ(B().store->node_state().role, store::Role::Replica);
}

TEST_F(ControllerTest, AFencedPrimaryHandsOver) {
  make("A", store::Role::Primary);
  make("B", store::Role::Replica);
  run_for(milliseconds(500));
  ASSERT_TRUE(A().store->create_mailbox(fred()).ok());
  A().fail_fsync = true;
  store::AppendRequest req;
  req.mailbox = "user.fred";
  req.messages.push_back({store::MessageSource::memory("Subject: x\r\n\r\nbody\r\n"), {}, 0});
  // A message this small is acknowledged at its commit (the body journal
  // has it); the late flush of its file then fails and fences the store.
  (void)A().store->append(req);
  A().store->flush_journal();
  ASSERT_FALSE(A().store->fence_status().ok());
  run_for(milliseconds(250));
  EXPECT_EQ(B().store->node_state(), (store::NodeState{store::Role::Primary, 1}));
  EXPECT_TRUE(writable(B()));
  EXPECT_FALSE(A().link->running);
  ASSERT_FALSE(A().hooks.empty());
  EXPECT_EQ(A().hooks.front().role, "fenced");
  run_for(milliseconds(2000));
  EXPECT_TRUE(writable(B()));
}

TEST_F(ControllerTest, RoleChangingRequestsNeedATrustedSender) {
  make("A", store::Role::Primary);
  make("B", store::Role::Replica);
  run_for(milliseconds(500));
  auto r = parse_reply(B().ctl->handle("TAKEOVER X 5", false));
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->ok);
  EXPECT_FALSE(parse_reply(B().ctl->handle("PROMOTE FORCE", false))->ok);
  EXPECT_TRUE(parse_reply(B().ctl->handle("STATUS", false))->ok);
  EXPECT_FALSE(parse_reply(B().ctl->handle("PING A primary", true))->ok);
  EXPECT_FALSE(parse_reply(B().ctl->handle(std::string(600, 'P'), true))->ok);
  // Even trusted, a takeover needs the witness: A holds the lease.
  auto t = parse_reply(B().ctl->handle("TAKEOVER A 1", true));
  EXPECT_FALSE(t->ok);
  EXPECT_EQ(B().store->node_state().role, store::Role::Replica);
}

}  // namespace
}  // namespace cyr::failover
