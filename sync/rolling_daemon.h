// RollingReplicator: the rolling sync client as a long-running loop, either
// in its own thread inside the process that owns the Store (cyr_master with
// sync_log on; see ops/register_sync.cpp) or in the foreground
// (cyr_sync_client -r). Each pass reads the store's change log and runs
// run_rolling_cycle(); the connection is made lazily and re-made with
// exponential back-off (15 s doubling up to sync_reconnect_maxwait) after
// any failure, and the unacknowledged changes are then replayed.
//
// It publishes its state (connected, pending changes, lag, last error,
// per-item failures) through status() and, if status_file is set, as a
// small text file rewritten after each pass (read by operators and tests).
//
// With `streams` > 1 (sync_parallel_streams) the work of one pass is split
// by owner (split_rolling_units) and run on that many connections at once;
// each unit is acknowledged when it succeeds, and a unit still running
// (a huge mailbox, a locked one timing out) only keeps its own owner's
// later changes waiting: the other streams go on reading the log and
// replicating everyone else (Cyrus issue #1922).
//
// The Store must be opened by this process: the store's change log and its
// dirty-shard markers are per process (see docs/replication.md).
// Thread-safety: start()/stop()/status() from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "store/config/imapd_conf.h"
#include "store/store.h"
#include "sync/rolling_sync.h"
#include "sync/sync_client.h"
#include "sync/sync_transport.h"

namespace cyr::sync {

struct RollingOptions {
  TcpPeerOptions peer;
  SyncClientOptions client;
  std::chrono::milliseconds poll{200};  // how often the change log is looked at
  std::chrono::seconds backoff_start{15};
  std::chrono::seconds backoff_max{1200};
  std::string shutdown_file;             // sync_shutdown_file: exit when it appears
  std::filesystem::path status_file;     // "" = none
  size_t streams = 1;                    // sync_parallel_streams: concurrent connections
  size_t max_changes = 100000;           // change records read per look at the log
  // Parallel streams only: opens one stream's connection. Unset: TCP to
  // `peer` (TcpSyncPeer::connect). Tests plug in-process peers here.
  std::function<Result<std::unique_ptr<SyncPeer>>()> connect;
  // sync_mode: sync (clients wait for each change), parallel streams: a
  // stream that finished an owner's unit goes on at once with that owner's
  // changes that queued up meanwhile (all of them in one round), the next
  // pass starts as soon as a stream finishes rather than after `poll`, and
  // a separate thread acknowledges replicated units so that the next round
  // does not wait for that local commit.
  bool eager = false;
  // Called (from a replication thread, no lock held) after change records
  // were acknowledged and after a failure: the sync-mode barrier re-checks
  // its waiters then. Must not block or call back into the replicator.
  std::function<void()> on_progress;
  // Called like on_progress with the seqs of change records the replica has
  // just applied, before they are acknowledged here (that is one more
  // fsync'd commit, which waiting clients need not wait for).
  std::function<void(const std::vector<uint64_t>& seqs)> on_replicated;
};

// From imapd.conf (channel "" = default): sync_host, sync_port,
// sync_authname, sync_password, sync_timeout, sync_shutdown_file,
// sync_reconnect_maxwait, sync_batchsize, sync_parallel_streams; status file
// {configdirectory}/sync/[<channel>/]status.
Result<RollingOptions> rolling_options_from_config(const config::ImapdConf& conf, const std::string& channel);

struct RollingStatus {
  bool connected = false;
  uint64_t cycles = 0;
  uint64_t changes_replicated = 0;
  uint64_t pending = 0;            // change records not yet acknowledged (at the last look)
  double lag_seconds = 0;          // how long the oldest pending change has waited (0 if none)
  std::string last_error;
  std::vector<std::string> failures;  // of the last failed pass
  size_t streams = 1;
  size_t busy_streams = 0;            // streams replicating at the last look
};

class RollingReplicator {
 public:
  RollingReplicator(std::shared_ptr<store::Store> store, RollingOptions opts);
  ~RollingReplicator();
  RollingReplicator(const RollingReplicator&) = delete;
  RollingReplicator& operator=(const RollingReplicator&) = delete;

  void start();  // runs run() on a thread
  void stop();   // asks run() to return and joins the thread
  // Look at the change log now instead of at the next poll (a client is
  // waiting for a change just written). Cheap; from any thread.
  void kick();
  // Loops until stop() or the shutdown file appears. Returns 0.
  int run();
  RollingStatus status() const;

 private:
  struct Stream;
  struct Shared;
  void publish();
  // False if stopping. A kick() ends the wait early unless it is a back-off
  // (a peer that is down is not retried faster because clients write).
  bool wait(std::chrono::milliseconds d, bool kickable = true);
  void progress();
  int run_single();
  int run_parallel();
  void stream_main(Stream& s, Shared& sh);
  std::optional<RollingUnit> take_followers(const RollingUnit& done, const std::vector<uint64_t>& shards, Shared& sh);
  std::vector<std::string> run_chain(Stream& st, Shared& sh, RollingUnit& unit, bool& transport_down);
  void report_replicated(RollingUnit&& unit, Shared& sh);
  void stop_reader(Stream& st);
  void ack_main(Shared& sh);

  std::shared_ptr<store::Store> store_;
  RollingOptions opts_;
  std::atomic<bool> stop_{false};
  mutable std::mutex mu_;
  std::condition_variable cv_;  // the log reader's wait (kick, stop)
  std::set<std::condition_variable*> chain_cvs_;  // under mu_: running chains' waits (kick, stop)
  bool kicked_ = false;  // under mu_
  uint64_t kick_gen_ = 0;  // under mu_: kick() calls so far (eager chains wait for the next)
  RollingStatus status_;
  std::string last_published_;  // the status file's content (publish(), from the run() thread)
  std::thread thread_;
};

}  // namespace cyr::sync
