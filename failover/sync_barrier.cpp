#include "failover/sync_barrier.h"

#include <vector>

#include "store/base/log.h"
#include "store/base/thread_name.h"
#include "store/replica_wait.h"

namespace cyr::failover {

using Clock = std::chrono::steady_clock;

SyncBarrier::SyncBarrier(store::Store& store, std::chrono::milliseconds timeout, std::function<bool()> connected,
                         std::function<void()> wake_replication)
    : store_(store), timeout_(timeout), connected_(std::move(connected)), wake_(std::move(wake_replication)) {
  deadline_thread_ = std::thread([this] {
    set_thread_name("sync-barrier");
    deadline_loop();
  });
}

SyncBarrier::~SyncBarrier() {
  {
    std::lock_guard lk(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  deadline_thread_.join();
  std::map<uint64_t, Waiter> left;
  {
    std::lock_guard lk(mu_);
    left.swap(waiters_);
  }
  for (auto& [id, w] : left) w.done();
}

std::optional<uint64_t> SyncBarrier::oldest_unreplicated() {
  size_t known;
  {
    std::lock_guard lk(mu_);
    known = replicated_.size();
  }
  // The lowest `known + 1` records hold at least one not reported (if there
  // are that many), in seq order. The waiters are this process's writers, so
  // this process's own unacknowledged records are what they wait for; the
  // store keeps those in memory. Reading the log instead (every shard with
  // pending records, several times per write) was most of the primary's
  // work in sync mode with many users; it is the fallback.
  const size_t want = std::min<size_t>(known + 1, 1000000);
  std::vector<uint64_t> seqs;
  if (auto own = store_.own_unacked_changes(want)) {
    seqs = std::move(*own);
  } else {
    auto head = store_.read_changes(want);
    if (!head.ok()) return std::nullopt;
    seqs.reserve(head->records.size());
    for (const auto& r : head->records) seqs.push_back(r.seq);
  }
  std::lock_guard lk(mu_);
  if (seqs.empty()) {
    replicated_.clear();
    return UINT64_MAX;
  }
  // Reported seqs below the oldest record still pending are gone from it.
  replicated_.erase(replicated_.begin(), replicated_.lower_bound(seqs.front()));
  for (uint64_t seq : seqs)
    if (!replicated_.count(seq)) return seq;
  // All of them reached the replica (more were reported meanwhile);
  // anything not read lies above the last one.
  if (seqs.size() <= known) return UINT64_MAX;
  return seqs.back() + 1;
}

void SyncBarrier::replicated(const std::vector<uint64_t>& seqs) {
  {
    std::lock_guard lk(mu_);
    if (waiters_.empty() || degraded_) return;  // nobody to release; notify() follows the acknowledgement
    replicated_.insert(seqs.begin(), seqs.end());
  }
  check();
}

void SyncBarrier::check() {
  uint64_t registered_below;
  {
    std::lock_guard lk(mu_);
    if (waiters_.empty()) return;
    registered_below = next_id_;
  }
  // Read after every waiter below registered_below registered, hence after
  // its write committed: a record of that write still pending is seen here.
  auto oldest = oldest_unreplicated();
  if (!oldest) return;  // unreadable now: the next notification or the deadline decides
  std::vector<std::function<void()>> ready;
  {
    std::lock_guard lk(mu_);
    for (auto it = waiters_.begin(); it != waiters_.end() && it->first < registered_below;) {
      if (it->second.seq < *oldest) {
        ready.push_back(std::move(it->second.done));
        it = waiters_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (auto& d : ready) d();
}

void SyncBarrier::degrade(const std::string& why) {
  std::map<uint64_t, Waiter> released;
  {
    std::lock_guard lk(mu_);
    if (!degraded_) {
      degraded_ = true;
      why_ = why;
      CYR_LOG(Warning, "failover", "sync_mode: %s; falling back to async replication", why.c_str());
    }
    released.swap(waiters_);
  }
  for (auto& [id, w] : released) w.done();
}

void SyncBarrier::maybe_recover() {
  // Back to sync once the replica has caught up with everything: the log
  // itself is read here, not the store's in-memory set.
  if (!connected_()) return;
  auto head = store_.read_changes(1);
  if (!head.ok() || !head->records.empty()) return;
  // The log has drained, so any seq still in the in-memory set left the log
  // without an acknowledgement from this process (another process's): it
  // must not hold the next waiters. Taken before a second read, so a record
  // committed in between is either absent from the snapshot or seen.
  if (auto own = store_.own_unacked_changes(1000000); own && !own->empty()) {
    auto again = store_.read_changes(1);
    if (!again.ok() || !again->records.empty()) return;
    store_.forget_own_unacked(*own);
  }
  std::lock_guard lk(mu_);
  if (degraded_) {
    degraded_ = false;
    why_.clear();
    CYR_LOG(Notice, "failover", "sync_mode: the replica caught up; sync again");
  }
}

void SyncBarrier::start_wait(uint64_t seq, std::function<void()> done) {
  if (!connected_()) {
    degrade("replication is not connected");
    return done();
  }
  bool release_now = false;
  {
    std::lock_guard lk(mu_);
    if (degraded_ || stopping_) {
      release_now = true;
    } else {
      bool first = waiters_.empty();
      waiters_.emplace(next_id_++, Waiter{seq, Clock::now() + timeout_, std::move(done)});
      // Later waiters have later deadlines: only a first one changes what
      // the deadline thread sleeps until.
      if (first) cv_.notify_all();
    }
  }
  if (release_now) return done();
  // The acknowledgement may have come before the waiter was registered.
  check();
}

void SyncBarrier::when_replicated(uint64_t seq, std::function<void()> done) {
  bool degraded;
  {
    std::lock_guard lk(mu_);
    degraded = degraded_;
  }
  if (degraded) {
    maybe_recover();
    return done();
  }
  start_wait(seq, std::move(done));
}

void SyncBarrier::wait_replicated(uint64_t seq) {
  bool degraded;
  {
    std::lock_guard lk(mu_);
    degraded = degraded_;
  }
  if (degraded) return maybe_recover();
  // No wake here: the store called committed() when the records were
  // committed (before their flush), which started the round already.
  if (auto self = weak_from_this().lock()) {
    if (store::DeferredReplicaWait::defer(
            [self, seq](store::ReplicaWaitDone done) { self->start_wait(seq, std::move(done)); }))
      return;
  }
  std::mutex m;
  std::condition_variable c;
  bool fired = false;
  start_wait(seq, [&] {
    std::lock_guard lk(m);
    fired = true;
    c.notify_all();  // under the lock: this frame may be gone right after
  });
  std::unique_lock lk(m);
  c.wait(lk, [&] { return fired; });
}

void SyncBarrier::committed() {
  {
    std::lock_guard lk(mu_);
    if (degraded_ || stopping_) return;
  }
  if (wake_) wake_();
}

void SyncBarrier::notify() {
  bool degraded, any;
  {
    std::lock_guard lk(mu_);
    degraded = degraded_;
    any = !waiters_.empty();
  }
  if (degraded) return maybe_recover();
  if (!any) return;
  if (!connected_()) return degrade("replication is not connected");
  check();
}

void SyncBarrier::deadline_loop() {
  std::unique_lock lk(mu_);
  while (!stopping_) {
    if (waiters_.empty()) {
      cv_.wait(lk, [&] { return stopping_ || !waiters_.empty(); });
      continue;
    }
    auto first_id = waiters_.begin()->first;
    auto deadline = waiters_.begin()->second.deadline;
    if (Clock::now() < deadline) {
      cv_.wait_until(lk, deadline, [&] { return stopping_ || waiters_.empty() || waiters_.begin()->first != first_id; });
      continue;
    }
    // Overdue. One last look at the log first: an acknowledgement that came
    // without notify() (another acknowledging path) must not count as late.
    lk.unlock();
    check();
    lk.lock();
    if (stopping_ || waiters_.empty() || waiters_.begin()->first != first_id) continue;
    lk.unlock();
    degrade("the replica did not acknowledge within sync_timeout");
    lk.lock();
  }
}

std::string SyncBarrier::state() const {
  std::lock_guard lk(mu_);
  if (!degraded_) return "sync";
  return "async (fallback: " + why_ + ")";
}

size_t SyncBarrier::waiting() const {
  std::lock_guard lk(mu_);
  return waiters_.size();
}

}  // namespace cyr::failover
