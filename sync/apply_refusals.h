// The replica side's count of refused items: APPLY commands whose content
// this node cannot store (a mailbox name or unique id our store does not
// accept, an unknown partition, a rights letter or annotation we have no
// place for, message bytes that do not match their GUID). Each is refused
// with a NO for that one command, so the sender (Cyrus's sync_client, or
// ours) logs it and goes on with every other mailbox; this counter makes the
// refusals visible to an admin, where replication status is shown
// (`cyr_info sync-status`), instead of only in the log.
//
// Ordinary protocol flow is not counted: a checksum or "changed since last
// sync" answer (the client then sends the full state), a locked or moved
// mailbox (it retries), a missing mailbox for UNMAILBOX/EXPUNGE, or a node
// that takes no writes at all (primary of a pair, fenced store).
//
// It counts refusals, not distinct items: a sender that retries a refused
// mailbox on every pass (Cyrus's rolling sync_client does) adds one each time.
//
// The count is kept in `{configdirectory}/sync/received` ("refused N" and the
// last refusal), rewritten atomically at each refusal and read back at start,
// so it survives restarts. Within cyr_master, the csync and the IMAP
// (X-REPLICATION) services share one counter (apply_refusals_for).
//
// Thread-safety: every member may be called from any thread.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "store/base/result.h"

namespace cyr::sync {

struct RefusalStatus {
  uint64_t refused = 0;
  std::string last;  // "<unix time> <item>: <reason>", "" if none
};

class ApplyRefusals {
 public:
  // `status_file` "" keeps the count in memory only (tests).
  explicit ApplyRefusals(std::filesystem::path status_file);

  // Counts one refused item and rewrites the status file. Returns the new count.
  uint64_t record(std::string_view item, std::string_view reason);
  RefusalStatus status() const;

 private:
  mutable std::mutex mu_;
  std::filesystem::path file_;
  RefusalStatus status_;
};

// The node's one counter for `status_file`, shared by every service of this
// process that receives replication (csync and X-REPLICATION).
std::shared_ptr<ApplyRefusals> apply_refusals_for(const std::filesystem::path& status_file);

// Reads a status file written by ApplyRefusals. A missing file is a zero
// count; a malformed one is Errc::Invalid. Bounded: at most 64 KiB is read.
Result<RefusalStatus> read_refusal_status(const std::filesystem::path& status_file);

// `{sync_log_dir}/received`.
std::filesystem::path refusal_status_file(const std::filesystem::path& sync_log_dir);

}  // namespace cyr::sync
