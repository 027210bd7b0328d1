// SyncBarrier: sync_mode: sync. The store (ReplicationBarrier) calls
// wait_replicated(seq) after each client write; the write's caller goes on
// only when the store's change log holds no unacknowledged record up to seq
// - the rolling client acknowledges a record only after the replica applied
// (and fsync'd) it - so LMTP's 250, APPEND's OK and STORE's OK follow the
// replica's commit.
//
// Nothing polls. A write's commit wakes the rolling client (the store calls
// committed(), which calls wake_replication, before the write's own disk
// flush), so its change goes out at once, together with whatever else is
// pending (one replication round carries every waiting writer's change,
// like a group commit). The rolling client calls notify() after each
// acknowledgement or failure, which checks the change log once and
// releases every waiter it covers. On a blocking-pool thread (a store::DeferredReplicaWait scope is
// open) the wait is handed to the pool and holds no thread; elsewhere
// wait_replicated() blocks on a condition variable.
//
// Fallback: when the replica does not acknowledge within sync_timeout, or
// replication is not connected at all, the barrier switches to async (logged
// once, shown by cyr_failover status), releases every waiter and returns at
// once from then on; it switches back to sync when the change log has
// drained. One internal thread only watches the waiters' deadlines.
// Thread-safety: every method from any thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "store/store.h"

namespace cyr::failover {

class SyncBarrier final : public store::ReplicationBarrier, public std::enable_shared_from_this<SyncBarrier> {
 public:
  // connected(): is replication to the peer running and connected now (cheap:
  // called per write). wake_replication(): start a replication round now
  // (may be empty).
  SyncBarrier(store::Store& store, std::chrono::milliseconds timeout, std::function<bool()> connected,
              std::function<void()> wake_replication = {});
  // Releases any waiter left (so no session hangs) and joins the thread.
  ~SyncBarrier() override;
  SyncBarrier(const SyncBarrier&) = delete;
  SyncBarrier& operator=(const SyncBarrier&) = delete;

  // Blocks, or, on a thread with an open store::DeferredReplicaWait and a
  // barrier owned by a shared_ptr, hands the wait to that scope's owner.
  void wait_replicated(uint64_t seq) override;
  // A write's records are committed (its flush may still run): wakes
  // replication unless the barrier has fallen back to async.
  void committed() override;

  // The asynchronous form: done() is called exactly once, from whichever
  // thread sees the acknowledgement (or the fallback); maybe before this
  // returns. done() must not block.
  void when_replicated(uint64_t seq, std::function<void()> done);

  // Replication acknowledged change records, or its connection changed:
  // re-check the waiters (one read of the change log).
  void notify();
  // The replica has applied (and fsync'd) these change records; they are
  // not acknowledged in the local log yet. Releases the waiters they cover
  // without waiting for that local commit.
  void replicated(const std::vector<uint64_t>& seqs);

  // "sync", or "async (fallback: why)".
  std::string state() const;

  // Waiters right now (for tests and status).
  size_t waiting() const;

 private:
  struct Waiter {
    uint64_t seq;
    std::chrono::steady_clock::time_point deadline;
    std::function<void()> done;
  };

  void start_wait(uint64_t seq, std::function<void()> done);
  // A bound below which every change record in the log has reached the
  // replica: the oldest record neither acknowledged nor reported by
  // replicated(); UINT64_MAX when there is none; nullopt if the log cannot
  // be read.
  std::optional<uint64_t> oldest_unreplicated();
  // One read of the change log; releases the waiters registered before it.
  void check();
  void degrade(const std::string& why);  // and release everyone
  void maybe_recover();
  void deadline_loop();

  store::Store& store_;
  std::chrono::milliseconds timeout_;
  std::function<bool()> connected_;
  std::function<void()> wake_;

  mutable std::mutex mu_;
  std::condition_variable cv_;       // deadline thread: a new earliest deadline, or stopping
  std::map<uint64_t, Waiter> waiters_;  // by registration number
  uint64_t next_id_ = 0;
  // Reported by replicated() and maybe still in the log; forgotten once the
  // log's oldest record is above them (they were acknowledged).
  std::set<uint64_t> replicated_;
  bool degraded_ = false;
  std::string why_;
  bool stopping_ = false;
  std::thread deadline_thread_;
};

}  // namespace cyr::failover
