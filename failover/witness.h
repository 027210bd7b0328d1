// The witness: a third, tiny party that grants the primary's lease, so that
// two nodes that cannot see each other never both take writes.
//
// Rules (docs/failover.md):
//  - It remembers one epoch and the node holding the lease for it, persisted
//    (written to a temporary file, fsync'd, renamed) before any grant for a
//    new epoch is answered: a restarted witness never grants an epoch twice.
//  - ACQUIRE n E ttl: renews if n holds E; grants E > current only when the
//    current lease has expired or was released; never grants E < current,
//    and never grants the current epoch to a node that did not hold it.
//  - After a restart the lease counts as held for one more ttl, because the
//    holder may still be using the lease it was given before the restart.
//  - RELEASE n E: the holder gives its lease up early (switchover, or a
//    fenced primary handing over), so the peer need not wait for expiry.
//
// Time is a parameter (steady clock), so the rules are tested without sleeping.
// Thread-safety: all methods lock one mutex.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <mutex>
#include <string>

#include "failover/wire.h"
#include "store/base/result.h"

namespace cyr::failover {

class WitnessState {
 public:
  using Clock = std::chrono::steady_clock;

  // Loads `state_file` if it exists (creating its directory otherwise).
  static Result<std::unique_ptr<WitnessState>> open(const std::filesystem::path& state_file,
                                                    Clock::time_point now);

  // One request line -> the reply text (wire.h).
  std::string handle(const std::string& line, Clock::time_point now);

  struct Snapshot {
    uint64_t epoch = 0;
    std::string holder;  // "" = none (fresh or released)
    std::chrono::milliseconds remaining{0};
  };
  Snapshot snapshot(Clock::time_point now) const;

  // Longest lease a node may ask for; a longer ttl is cut to this.
  static constexpr std::chrono::milliseconds kMaxTtl{10 * 60 * 1000};

 private:
  explicit WitnessState(std::filesystem::path file) : file_(std::move(file)) {}
  Status persist();
  Reply acquire(const std::string& node, uint64_t epoch, std::chrono::milliseconds ttl, Clock::time_point now);
  Reply release(const std::string& node, uint64_t epoch);

  std::filesystem::path file_;
  mutable std::mutex mu_;
  uint64_t epoch_ = 0;
  std::string holder_;
  std::string last_holder_;  // who held epoch_ (kept after a release)
  std::chrono::milliseconds ttl_{0};
  Clock::time_point expires_{};
};

}  // namespace cyr::failover
