// Shared plumbing of the admin commands (cyr_quota, cyr_mbexamine, cyr_mbpath):
// load imapd.conf and open the node's store with exit codes from sysexits.h,
// printing an actionable message on failure. Header-only; each command calls
// it once from main, single-threaded.
#pragma once

#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>

#include "store/config/imapd_conf.h"
#include "store/store.h"
#include "store/store_config.h"

namespace cyr::ops::adm {

inline constexpr int kExUsage = 64, kExDataErr = 65, kExNoInput = 66, kExSoftware = 70,
                     kExTempFail = 75, kExConfig = 78;

struct OpenedStore {
  store::StoreOptions options;
  std::shared_ptr<store::Store> store;  // null when open_store = false
};

// The most user databases an admin tool keeps open at once.
inline constexpr size_t kToolOpenShards = 64;

// For a process that visits each user's database once, or a few times in a
// row (cyr_expire, cyr_quota, reconstruct, a one-shot cyr_sync_client):
// store_open_shards is sized for the node's own process, and keeping that
// many open here would only grow the process by ~100 KB per user walked,
// for no reuse. A lower configured value is kept.
inline void limit_open_shards_for_one_pass(store::StoreOptions& o) {
  o.max_open_shards = std::min<size_t>(o.max_open_shards, kToolOpenShards);
}

// Returns 0 and fills `out`, or prints "<prog>: ..." and returns an exit code.
inline int open_node(const char* prog, const std::string& conf_path, bool open_store,
                     OpenedStore& out) {
  std::vector<config::Diagnostic> diags;
  auto conf = config::ImapdConf::load(conf_path, &diags);
  if (!conf.ok()) {
    fprintf(stderr, "%s: cannot load %s: %s\n", prog, conf_path.c_str(),
            conf.error().describe().c_str());
    return kExConfig;
  }
  auto opts = store::options_from_config(*conf);
  if (!opts.ok()) {
    fprintf(stderr, "%s: bad configuration in %s: %s\n", prog, conf_path.c_str(),
            opts.error().describe().c_str());
    return kExConfig;
  }
  out.options = *opts;
  // An admin tool must never create an empty store where the admin pointed at
  // the wrong configdirectory.
  out.options.create_directories = false;
  // Admin tools may run while cyr_master serves the same store: a Secondary
  // leaves crash recovery to the master and its writes still reach the
  // change log the rolling replicator reads.
  out.options.open_mode = store::OpenMode::Secondary;
  limit_open_shards_for_one_pass(out.options);
  if (!open_store) return 0;
  if (!std::filesystem::exists(out.options.configdirectory / "mailboxes.db")) {
    fprintf(stderr, "%s: no mailbox list in %s (is configdirectory right?)\n", prog,
            out.options.configdirectory.c_str());
    return kExNoInput;
  }
  auto s = store::Store::open(out.options);
  if (!s.ok()) {
    fprintf(stderr, "%s: cannot open the store: %s\n", prog, s.error().describe().c_str());
    return kExTempFail;
  }
  out.store = std::shared_ptr<store::Store>(std::move(*s));
  return 0;
}

}  // namespace cyr::ops::adm
