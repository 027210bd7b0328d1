// The duplicate-delivery database's upkeep, shared by cyr_expire -E and
// cyr_ctl_deliver -E: one prune, one report line, one set of messages.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include "store/base/result.h"

namespace cyr::ops::adm {

// duplicate_db_path from imapd.conf at `conf_path` (default
// {configdirectory}/deliver.db), or the configuration's error.
Result<std::filesystem::path> configured_duplicate_db_path(const std::string& conf_path);

// Removes the entries of the database at `path` marked more than
// `older_than` seconds before `now` and prints "duplicate db: pruned N of M
// entries older than S s" (with dry_run: only counts, changes nothing). A
// missing database has nothing to prune (said with verbose). Errors are
// printed as "<prog>: duplicate db: ..."; returns 0, or 1 on an error.
int prune_duplicate_db(const char* prog, const std::filesystem::path& path, int64_t older_than, int64_t now,
                       bool dry_run, bool verbose);

}  // namespace cyr::ops::adm
