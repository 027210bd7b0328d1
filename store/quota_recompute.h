// Offline-safe repair helpers for the ops commands (cyr_quota -f,
// cyr_mbexamine): they work on the store's SQLite files directly, because the
// public Store API has no call to rewrite usage counters.
//
// recompute_quota_usage() recounts every mailbox's exists/size from its index
// records, reassigns each mailbox to its nearest quota root, and rewrites each
// root's usage, one shard per IMMEDIATE transaction (so it serializes with a
// running store's writers through SQLite's lock rather than racing them).
// Stateless free functions; safe to call from any thread.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "store/base/result.h"

namespace cyr::store {
namespace sql {
class Db;
}

// One quota root whose usage was (or, on a dry run, would be) changed.
struct QuotaUsageFix {
  std::string root;
  uint64_t old_bytes = 0, new_bytes = 0;
  uint64_t old_messages = 0, new_messages = 0;
};

// In the caller's open write transaction on one shard database: recounts
// every mailbox's exists/size from its records, reassigns each mailbox to its
// nearest quota root and rewrites every root's usage; appends each root whose
// usage changed to `out`. Used by recompute_quota_usage and by reconstruct.
Status recompute_shard_quota(sql::Db& db, std::vector<QuotaUsageFix>& out);

// progress(done, total) is called after each shard (may be empty).
// dry_run: compute and report, change nothing.
Result<std::vector<QuotaUsageFix>> recompute_quota_usage(
    const std::filesystem::path& configdirectory, bool dry_run,
    const std::function<void(size_t, size_t)>& progress = {});

// Path of the shard database holding `mailbox` (NotFound if not in the list).
Result<std::filesystem::path> shard_db_path(const std::filesystem::path& configdirectory,
                                            const std::string& mailbox);

// The index schema version of a shard database (SQLite user_version).
Result<int64_t> index_format_version(const std::filesystem::path& shard_db);

}  // namespace cyr::store
