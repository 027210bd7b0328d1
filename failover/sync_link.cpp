#include "failover/sync_link.h"

#include "store/base/log.h"
#include "sync/sync_client.h"
#include "sync/sync_transport.h"

namespace cyr::failover {

SyncLink::SyncLink(std::shared_ptr<store::Store> store, sync::RollingOptions opts, bool sync_mode)
    : store_(std::move(store)), opts_(std::move(opts)) {
  if (sync_mode) {
    // kick() starts each round a client waits for; the poll only picks up
    // changes nobody waits for (mailbox list changes), so it can stay slow.
    opts_.poll = std::min(opts_.poll, std::chrono::milliseconds(50));
    opts_.eager = true;
  }
  opts_.on_progress = [this] { progress(); };
  opts_.on_replicated = [this](const std::vector<uint64_t>& seqs) { replicated(seqs); };
  // A role change must take effect within a heartbeat or two, not after the
  // rolling client's usual 15 s back-off: the peer that just became reachable
  // again is usually the one we must talk to next.
  opts_.backoff_start = std::min(opts_.backoff_start, std::chrono::seconds(1));
  opts_.backoff_max = std::min(opts_.backoff_max, std::chrono::seconds(5));
}

SyncLink::~SyncLink() {
  std::unique_ptr<sync::RollingReplicator> r;
  {
    std::lock_guard lk(mu_);
    r = std::move(rolling_);
  }
}

void SyncLink::start_locked() {
  if (rolling_ || reconciling_) return;
  rolling_ = std::make_unique<sync::RollingReplicator>(store_, opts_);
  rolling_->start();
  CYR_LOG(Notice, "failover", "rolling replication to %s started", opts_.peer.host.c_str());
}

void SyncLink::start() {
  std::lock_guard lk(mu_);
  want_running_ = true;
  start_locked();
}

void SyncLink::stop() {
  std::unique_ptr<sync::RollingReplicator> r;
  {
    std::lock_guard lk(mu_);
    want_running_ = false;
    r = std::move(rolling_);
  }
  if (r) {
    r.reset();  // joins the thread: no sync is in flight afterwards
    CYR_LOG(Notice, "failover", "rolling replication stopped");
  }
  progress();  // writers waiting for the replica learn that it is gone
}

void SyncLink::kick() {
  std::lock_guard lk(mu_);
  if (rolling_) rolling_->kick();
}

void SyncLink::set_listener(std::function<void()> progress,
                            std::function<void(const std::vector<uint64_t>&)> replicated) {
  std::lock_guard lk(listener_mu_);
  listener_ = std::move(progress);
  replicated_listener_ = std::move(replicated);
}

void SyncLink::replicated(const std::vector<uint64_t>& seqs) {
  std::function<void(const std::vector<uint64_t>&)> l;
  {
    std::lock_guard lk(listener_mu_);
    l = replicated_listener_;
  }
  if (l) l(seqs);
}

void SyncLink::progress() {
  std::function<void()> l;
  {
    std::lock_guard lk(listener_mu_);
    l = listener_;
  }
  if (l) l();
}

ReplicationLink::Lag SyncLink::lag() const {
  Lag l;
  {
    std::lock_guard lk(mu_);
    if (rolling_) {
      auto s = rolling_->status();
      l.running = true;
      l.connected = s.connected;
      l.seconds = s.lag_seconds;
      l.last_error = s.last_error;
    }
  }
  auto pending = store_->read_changes(kLagCountLimit);
  if (pending.ok()) l.changes = pending->records.size();
  if (l.changes == 0) l.seconds = 0;
  return l;
}

bool SyncLink::healthy() const {
  std::lock_guard lk(mu_);
  if (!rolling_) return false;
  auto s = rolling_->status();
  return s.connected || s.last_error.empty();
}

Status SyncLink::reconcile() {
  std::unique_ptr<sync::RollingReplicator> paused;
  {
    std::lock_guard lk(mu_);
    if (reconciling_) return Error(Errc::InUse, "a reconcile is already running");
    reconciling_ = true;
    paused = std::move(rolling_);
  }
  paused.reset();  // one client at a time towards the peer
  Status result;
  auto peer = sync::TcpSyncPeer::connect(opts_.peer);
  if (!peer.ok()) {
    result = peer.take_error();
  } else {
    sync::SyncClientOptions copts = opts_.client;
    // A folder only the rejoining node has (created before it noticed it
    // had lost its role) is copied here with its mail, not deleted there.
    copts.delete_orphans = false;
    copts.reconcile = true;
    sync::SyncClient client(*store_, **peer, copts);
    result = client.sync_all();
    if (result.ok()) {
      const auto& st = client.stats();
      CYR_LOG(Notice, "failover",
              "reconcile: %llu mailboxes applied, %llu unchanged, %llu full compares, %llu renumbered, %llu copied "
              "back, %llu mailboxes only the peer had copied here, %llu subscriptions/scripts/seen states taken from the peer",
              static_cast<unsigned long long>(st.mailboxes_applied),
              static_cast<unsigned long long>(st.mailboxes_unchanged),
              static_cast<unsigned long long>(st.full_syncs), static_cast<unsigned long long>(st.renumbered),
              static_cast<unsigned long long>(st.copied_back),
              static_cast<unsigned long long>(st.mailboxes_copied_back),
              static_cast<unsigned long long>(st.meta_copied_back));
    }
    (*peer)->close();
  }
  std::lock_guard lk(mu_);
  reconciling_ = false;
  if (want_running_) start_locked();
  return result;
}

}  // namespace cyr::failover
