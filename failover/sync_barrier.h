// SyncBarrier: sync_mode: sync. The store (ReplicationBarrier) calls
// wait_replicated(seq) after each client write; it returns when the store's
// change log holds no unacknowledged record up to seq - the rolling client
// acknowledges a record only after the replica applied (and fsync'd) it - so
// LMTP's 250, APPEND's OK and STORE's OK follow the replica's commit.
//
// Fallback: when the replica does not acknowledge within sync_timeout, or
// replication is not connected at all, the barrier switches to async (logged
// once, shown by cyr_failover status) and returns at once from then on; it
// switches back to sync when the change log has drained.
// Thread-safety: any number of waiting threads.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <string>

#include "store/store.h"

namespace cyr::failover {

class SyncBarrier final : public store::ReplicationBarrier {
 public:
  // connected(): is replication to the peer running and connected now.
  SyncBarrier(store::Store& store, std::chrono::milliseconds timeout, std::function<bool()> connected);

  void wait_replicated(uint64_t seq) override;

  // "sync", or "async (fallback since ...: why)".
  std::string state() const;

  static constexpr std::chrono::milliseconds kPoll{2};

 private:
  bool acknowledged(uint64_t seq, bool* drained);
  void degrade(const std::string& why);

  store::Store& store_;
  std::chrono::milliseconds timeout_;
  std::function<bool()> connected_;
  std::atomic<bool> degraded_{false};
  mutable std::mutex mu_;
  std::string why_;
};

}  // namespace cyr::failover
