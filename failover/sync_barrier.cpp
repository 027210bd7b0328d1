#include "failover/sync_barrier.h"

#include <thread>

#include "store/base/log.h"

namespace cyr::failover {

SyncBarrier::SyncBarrier(store::Store& store, std::chrono::milliseconds timeout, std::function<bool()> connected)
    : store_(store), timeout_(timeout), connected_(std::move(connected)) {}

bool SyncBarrier::acknowledged(uint64_t seq, bool* drained) {
  auto oldest = store_.read_changes(1);
  if (!oldest.ok()) return false;
  *drained = oldest->records.empty();
  return *drained || oldest->records.front().seq > seq;
}

void SyncBarrier::degrade(const std::string& why) {
  std::lock_guard lk(mu_);
  if (degraded_.exchange(true)) return;
  why_ = why;
  CYR_LOG(Warning, "failover", "sync_mode: %s; falling back to async replication", why.c_str());
}

void SyncBarrier::wait_replicated(uint64_t seq) {
  bool drained = false;
  if (degraded_.load()) {
    // Back to sync once the replica has caught up with everything.
    if (connected_() && acknowledged(UINT64_MAX, &drained) && drained) {
      std::lock_guard lk(mu_);
      if (degraded_.exchange(false)) CYR_LOG(Notice, "failover", "sync_mode: the replica caught up; sync again");
    }
    return;
  }
  auto deadline = std::chrono::steady_clock::now() + timeout_;
  for (;;) {
    if (acknowledged(seq, &drained)) return;
    if (!connected_()) return degrade("replication is not connected");
    if (std::chrono::steady_clock::now() >= deadline)
      return degrade("the replica did not acknowledge within sync_timeout");
    std::this_thread::sleep_for(kPoll);
  }
}

std::string SyncBarrier::state() const {
  if (!degraded_.load()) return "sync";
  std::lock_guard lk(mu_);
  return "async (fallback: " + why_ + ")";
}

}  // namespace cyr::failover
