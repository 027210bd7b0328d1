// SyncLink: the controller's ReplicationLink over sync/: the rolling
// replicator (sync/rolling_daemon.h) towards the peer's sync_server, and,
// for a rejoin, one full sync of every user with copy-back.
//
// start()/stop() never wait for a reconcile in progress (the controller calls
// them from its heartbeat, which must keep renewing the lease): they record
// what is wanted, and the reconcile applies it when it ends.
// Thread-safety: every method from any thread.
#pragma once

#include <memory>
#include <mutex>

#include "failover/controller.h"
#include "store/config/imapd_conf.h"
#include "sync/rolling_daemon.h"

namespace cyr::failover {

class SyncLink final : public ReplicationLink {
 public:
  // sync_mode: the rolling client looks at the change log every few
  // milliseconds instead of every 200 ms: a client is waiting for each change.
  SyncLink(std::shared_ptr<store::Store> store, sync::RollingOptions opts, bool sync_mode = false);
  ~SyncLink() override;

  void start() override;
  void stop() override;
  Lag lag() const override;
  Status reconcile() override;
  // Cheap (no store access): replication runs and its connection has not
  // failed (connected, or not needed yet). For the sync-mode barrier.
  bool healthy() const;

  // Counted up to this many pending change records (status shows "N+").
  static constexpr size_t kLagCountLimit = 100000;

 private:
  void start_locked();

  std::shared_ptr<store::Store> store_;
  sync::RollingOptions opts_;
  mutable std::mutex mu_;
  std::unique_ptr<sync::RollingReplicator> rolling_;
  bool want_running_ = false;
  bool reconciling_ = false;
};

}  // namespace cyr::failover
