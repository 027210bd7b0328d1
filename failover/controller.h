// Controller: one node's half of the failover pair. It runs inside cyr_master
// (the process that owns the Store, whose role, epoch and write hold it
// sets), started by ops/failover.cpp when imapd.conf names a failover_peer.
//
// Every heartbeat (failover_timeout / 4, between 100 ms and 2 s) tick():
//  - pings the peer (PING, answered with PONG: role, epoch, writable);
//  - on the primary: renews its lease at the witness and holds writes (the
//    store's write hold) as soon as the lease is within its safety margin of
//    expiring without a renewal; demotes itself when the peer or the witness
//    knows a later epoch; hands over (RELEASE + TAKEOVER) when the store has
//    fenced itself after a failed fsync or store error;
//  - on a replica: when no writable primary has answered for
//    failover_timeout and a witness is configured, asks the witness for the
//    next epoch and promotes itself if granted; after a demotion (rejoin)
//    asks the new primary to RECONCILE (full sync with copy-back).
// Switchover and forced promotion are operator requests (handle()).
//
// Role changes are persisted in the store (set_node_state) before they take
// effect; each runs the hook and is logged with its reason.
//
// Dependencies are injected (transport, clock, replication link, hook) so
// the state machine is tested in-process (tests/unit/failover).
// Thread-safety: tick(), handle() and the request methods may run on any
// threads at once: transitions are serialised by one mutex, and PING/STATUS
// only read a snapshot.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "failover/wire.h"
#include "store/base/result.h"
#include "store/store.h"

namespace cyr::config {
class ImapdConf;
}

namespace cyr::failover {

using Clock = std::chrono::steady_clock;

struct ControllerOptions {
  std::string node;                      // this node's id (servername)
  std::string peer;                      // failover_peer: the peer's failover service, host:port
  std::string witness;                   // failover_witness host:port; "" = manual promotion only
  std::chrono::milliseconds timeout{5000};     // failover_timeout; also the lease length
  std::chrono::milliseconds heartbeat{1250};   // timeout / 4, clamped to [100 ms, 2 s]
  std::chrono::milliseconds drain_timeout{30000};  // switchover: wait for zero lag
  // A rejoin's RECONCILE request; a longer full sync goes on at the primary
  // and the next request (one heartbeat later) finds less to do.
  std::chrono::milliseconds reconcile_timeout{120000};
  std::filesystem::path state_dir;       // {configdirectory}/failover (an older version kept its rejoin marker here)
  std::string sync_mode = "async";       // shown by status
  // failover_secret (auth.h): what the transport authenticates with; status
  // shows whether there is one. "" = the control port is open.
  std::string secret;
};

// From imapd.conf: servername (else the host name), failover_peer,
// failover_witness, failover_timeout, sync_mode, failover_secret (checked:
// auth.h check_secret), configdirectory.
Result<ControllerOptions> controller_options_from_config(const config::ImapdConf& conf);

// Sends one request to address and returns the reply (net.h exchange()).
using Transport =
    std::function<Result<Reply>(const std::string& address, const std::string& request, std::chrono::milliseconds)>;

// The rolling replication towards the peer (sync/), owned by the controller:
// running exactly while this node is a writable primary.
class ReplicationLink {
 public:
  virtual ~ReplicationLink() = default;
  virtual void start() = 0;  // idempotent
  virtual void stop() = 0;   // idempotent; returns when no sync is in flight
  struct Lag {
    bool running = false;
    bool connected = false;
    uint64_t changes = 0;   // change records not yet acknowledged by the replica
    double seconds = 0;     // age of the oldest of them
    std::string last_error;
  };
  virtual Lag lag() const = 0;
  // Rejoin: a full sync of every user to the peer with copy-back of what
  // only the peer has (Cyrus split-brain rules). Rolling pauses meanwhile.
  virtual Status reconcile() = 0;
};

struct HookEvent {
  std::string role;    // "primary" / "replica" / "fenced"
  uint64_t epoch = 0;
  std::string peer;
  std::string reason;
};
using HookRunner = std::function<void(const HookEvent&)>;

class Controller {
 public:
  Controller(std::shared_ptr<store::Store> store, ControllerOptions opts, std::unique_ptr<ReplicationLink> link,
             Transport transport, HookRunner hook, std::function<Clock::time_point()> now = Clock::now);
  ~Controller();
  Controller(const Controller&) = delete;
  Controller& operator=(const Controller&) = delete;

  // Runs tick() every heartbeat on a thread until stop().
  void start();
  void stop();
  void tick();

  // A request from the failover service. `trusted` = from loopback or the
  // peer's address (TAKEOVER, RECONCILE, SWITCHOVER, PROMOTE need it).
  std::string handle(const std::string& line, bool trusted);

  Reply status() const;
  // sync_mode: sync - what the barrier says ("sync" or the fallback); set once, before start().
  void set_sync_state(std::function<std::string()> f) { sync_state_ = std::move(f); }
  Reply switchover();
  Reply promote_force();
  Reply abandon_rejoin();

  store::NodeState node_state() const { return store_->node_state(); }
  bool writable() const { return store_->check_writable().ok(); }
  const ControllerOptions& options() const { return opts_; }

 private:
  struct PeerView {
    bool reachable = false;
    std::string role;  // "primary"/"replica"
    uint64_t epoch = 0;
    bool writable = false;
    bool rejoin = false;
    bool promoting = false;
    Clock::time_point last_contact{};
  };

  std::string state_words_locked() const;  // role epoch in_charge rejoin promoting
  Reply ping_reply_locked() const;
  Reply takeover(const std::string& from, uint64_t epoch);
  Reply reconcile_request(const std::string& from, uint64_t epoch);
  void note_peer(const std::vector<std::string>& words, size_t first);  // role epoch in_charge rejoin promoting
  void tick_primary(store::NodeState st, Clock::time_point now, std::optional<Clock::time_point> pong_sent);
  void tick_replica(store::NodeState st, Clock::time_point now);
  // The send time of the PING if the peer answered.
  std::optional<Clock::time_point> ping_peer();
  // Becomes primary of `epoch`: persisted, hold lifted, rolling started, hook run.
  Status become_primary(uint64_t epoch, std::optional<Clock::time_point> lease_until, const std::string& why);
  // Becomes replica of `epoch` (>= current): rolling stopped, persisted, hook run.
  Status become_replica(uint64_t epoch, const std::string& why, bool needs_rejoin);
  void hand_over_after_fence(store::NodeState st);
  void update_hold(store::NodeState st, Clock::time_point now);
  std::optional<Reply> ask_witness(const std::string& request);
  void event(const std::string& what);  // log + remember for status
  void set_rejoin(bool on);
  bool lease_valid(Clock::time_point now) const;

  std::shared_ptr<store::Store> store_;
  ControllerOptions opts_;
  std::unique_ptr<ReplicationLink> link_;
  Transport transport_;
  HookRunner hook_;
  std::function<Clock::time_point()> now_;
  std::function<std::string()> sync_state_;

  std::mutex op_mu_;  // one transition at a time (tick, switchover, takeover, promote)
  mutable std::mutex mu_;  // the fields below
  PeerView peer_;
  Clock::time_point started_;
  Clock::time_point last_primary_alive_;  // replica: last PONG of a writable primary
  std::optional<Clock::time_point> lease_until_;
  bool confirmed_ = false;        // primary: may write (lease or peer contact seen since start)
  std::string switching_;         // non-empty during a switchover: its hold reason
  bool handed_over_ = false;      // fenced primary that gave its role away
  bool fence_released_ = false;
  bool forced_ = false;           // promote --force without the witness's lease
  bool rejoin_ = false;
  bool promoting_ = false;        // replica: asking the witness for the next epoch
  std::string hold_;              // the hold currently set in the store
  std::string last_refusal_;      // the witness's last refusal (logged once)
  std::string last_reconcile_failure_;  // a rejoin's last reconcile failure (logged once)
  std::string last_served_reconcile_failure_;  // the same, on the primary that runs it
  std::string last_peer_error_;   // why an unreachable peer does not answer (logged once)
  // Whether our last PING was answered. Kept apart from peer_.reachable,
  // which the peer's own PINGs also set: with a one-way link (it reaches us,
  // we cannot reach it) the two disagree, and logging on peer_.reachable
  // would say "stopped answering" on every heartbeat.
  bool our_pings_answered_ = false;
  std::deque<std::string> events_;

  std::atomic<bool> stop_{false};
  std::condition_variable_any cv_;
  std::mutex wait_mu_;
  std::thread thread_;    // heartbeats: tick()
  std::thread watchdog_;  // the lease's end, every 20 ms
};

}  // namespace cyr::failover
