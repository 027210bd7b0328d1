// SyncLink: the controller's ReplicationLink over sync/: the rolling
// replicator (sync/rolling_daemon.h) towards the peer's sync_server, and,
// for a rejoin, one full sync of every user with copy-back.
//
// start()/stop() never wait for a reconcile in progress (the controller calls
// them from its heartbeat, which must keep renewing the lease): they record
// what is wanted, and the reconcile applies it when it ends.
// Thread-safety: every method from any thread.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <vector>

#include "failover/controller.h"
#include "store/config/imapd_conf.h"
#include "sync/rolling_daemon.h"

namespace cyr::failover {

class SyncLink final : public ReplicationLink {
 public:
  // sync_mode: a client waits for each change, so the rolling client runs
  // eagerly (sync::RollingOptions::eager) and kick() starts a round at once.
  SyncLink(std::shared_ptr<store::Store> store, sync::RollingOptions opts, bool sync_mode = false);
  ~SyncLink() override;

  void start() override;
  void stop() override;
  Lag lag() const override;
  Status reconcile() override;
  // Cheap (no store access): replication runs and its connection has not
  // failed (connected, or not needed yet). For the sync-mode barrier.
  bool healthy() const;
  // A change was just written and a client waits for it: replicate now.
  void kick();
  // progress: after replication acknowledged changes, failed, or stopped
  // (the sync-mode barrier's notify()); replicated: the seqs the replica
  // has just applied (SyncBarrier::replicated()). Set once, before start();
  // neither may block.
  void set_listener(std::function<void()> progress,
                    std::function<void(const std::vector<uint64_t>&)> replicated = {});

  // Counted up to this many pending change records (status shows "N+").
  static constexpr size_t kLagCountLimit = 100000;

 private:
  void start_locked();
  void progress();
  void replicated(const std::vector<uint64_t>& seqs);

  std::shared_ptr<store::Store> store_;
  sync::RollingOptions opts_;
  mutable std::mutex mu_;
  std::unique_ptr<sync::RollingReplicator> rolling_;
  bool want_running_ = false;
  bool reconciling_ = false;
  std::mutex listener_mu_;  // not mu_: progress() comes from the replicator's threads, which stop() joins under no lock
  std::function<void()> listener_;
  std::function<void(const std::vector<uint64_t>&)> replicated_listener_;
};

}  // namespace cyr::failover
