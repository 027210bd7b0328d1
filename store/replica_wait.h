// DeferredReplicaWait: lets the sync-mode wait for the replica (a
// ReplicationBarrier, store.h) leave the thread that did the write.
//
// A client write in sync_mode: sync must not be acknowledged before the
// replica has it, but the wait is long (a replication round and the
// replica's fsync) and the writes run on the small blocking pool
// (server/blocking_pool.h): a thread held per waiting write would cap the
// number of sessions that can wait at once at the pool's size. So the pool
// opens a DeferredReplicaWait around each piece of blocking work; a barrier
// that sees one on its thread hands it a "start the wait" function instead
// of blocking, and the pool resumes the session only when that wait calls
// its `done`. Without an open scope (tools, tests, other threads) a barrier
// blocks as before.
//
// Several writes in one piece of work leave only the last wait: it covers
// every change handed out before it (sequence numbers only grow).
// Thread-safety: a scope belongs to the thread that opened it.
#pragma once

#include <functional>

namespace cyr::store {

// Called exactly once, from any thread, when the replica has the changes
// (or the barrier gave up and fell back to async replication).
using ReplicaWaitDone = std::function<void()>;
// Starts the wait; must arrange for done() to be called exactly once.
using ReplicaWaitStart = std::function<void(ReplicaWaitDone done)>;

class DeferredReplicaWait {
 public:
  DeferredReplicaWait() : outer_(current_) { current_ = this; }
  ~DeferredReplicaWait() { current_ = outer_; }
  DeferredReplicaWait(const DeferredReplicaWait&) = delete;
  DeferredReplicaWait& operator=(const DeferredReplicaWait&) = delete;

  // For a barrier: false when no scope is open on this thread (then block).
  static bool defer(ReplicaWaitStart start) {
    if (current_ == nullptr) return false;
    current_->start_ = std::move(start);
    return true;
  }
  // For the scope's owner: the wait to start (empty: nothing to wait for).
  ReplicaWaitStart take() {
    ReplicaWaitStart s = std::move(start_);
    start_ = nullptr;
    return s;
  }

 private:
  static inline thread_local DeferredReplicaWait* current_ = nullptr;
  DeferredReplicaWait* outer_;
  ReplicaWaitStart start_;
};

}  // namespace cyr::store
