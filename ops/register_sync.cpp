// Wires replication into cyr_master. It lives in ops/ because the server
// library must not depend on sync/.
//  - register_sync_services(): the csync service ("sync_server" in
//    cyrus.conf), called after server::register_protocol_services().
//  - start_replication(): with sync_log on and sync_host set, the rolling
//    sync client runs as a thread of the master, next to the Store it reads
//    - unless cyrus.conf runs it as a DAEMON entry (`sync_client -r`, Cyrus's
//    way), which then replaces the thread. Never both: whichever runs holds
//    the rolling lock (ops/rolling_lock.h). The returned handle stops it.
#include <filesystem>
#include <memory>

#include "ops/commands.h"
#include "ops/rolling_lock.h"
#include "server/node_store.h"
#include "store/base/log.h"
#include "store/config/cyrus_conf.h"
#include "store/config/paths.h"
#include "sync/csync_service.h"
#include "sync/rolling_daemon.h"

namespace cyr::ops {
namespace {

// A DAEMON entry whose command is sync_client (any path, with or without our
// "cyr_" prefix) with -r: the rolling client runs as its own process.
bool is_rolling_daemon(const config::CyrusConfEntry& e) {
  if (e.argv.empty()) return false;
  std::string prog = std::filesystem::path(e.argv[0]).filename().string();
  if (prog != "sync_client" && prog != "cyr_sync_client") return false;
  for (size_t i = 1; i < e.argv.size(); ++i)
    if (e.argv[i] == "-r") return true;
  return false;
}

struct InMasterReplication {
  // Members die in reverse order: the replicator stops (and joins) before
  // the lock is released.
  RollingLock lock;
  std::shared_ptr<sync::RollingReplicator> replicator;
};

}  // namespace

bool cyrus_conf_runs_rolling_daemon(const std::string& cyrus_conf_path) {
  if (cyrus_conf_path.empty()) return false;
  std::vector<config::Diagnostic> diags;
  auto cc = config::CyrusConf::load(cyrus_conf_path, &diags);
  if (!cc.ok()) return false;  // the master reports a broken cyrus.conf itself
  for (const auto& e : cc->daemon)
    if (is_rolling_daemon(e)) return true;
  return false;
}

void register_sync_services(server::ServiceRegistry& registry) {
  sync::register_sync_service(registry);
  // Cyrus 3.x replicates through imapd by default (sync_try_imap: yes).
  imapd::set_replication_factory(sync::make_imap_replication_factory());
}

std::shared_ptr<void> start_replication(const config::ImapdConf& conf, const std::string& cyrus_conf_path) {
  if (!conf.get_switch("sync_log") || conf.get_string("sync_host").empty()) return nullptr;
  // In an HA pair the failover controller runs replication while this node
  // is the writable primary (ops/failover.cpp).
  if (!conf.get_string("failover_peer").empty()) return nullptr;
  if (cyrus_conf_runs_rolling_daemon(cyrus_conf_path)) {
    CYR_LOG(Notice, "master", "rolling replication runs as a DAEMON entry of %s, not in the master",
            cyrus_conf_path.c_str());
    return nullptr;
  }
  auto opts = sync::rolling_options_from_config(conf, "");
  if (!opts.ok()) {
    CYR_LOG(Error, "master", "replication not started: %s", opts.error().describe().c_str());
    return nullptr;
  }
  auto store = server::node_store(conf);
  if (!store.ok()) {
    CYR_LOG(Error, "master", "replication not started: %s", store.error().describe().c_str());
    return nullptr;
  }
  auto paths = config::Paths::from_config(conf);
  if (!paths.ok()) {
    CYR_LOG(Error, "master", "replication not started: %s", paths.error().describe().c_str());
    return nullptr;
  }
  auto lock = RollingLock::try_acquire(paths->configdirectory);
  if (!lock.ok()) {
    CYR_LOG(Error, "master", "replication not started in the master: %s", lock.error().describe().c_str());
    return nullptr;
  }
  auto handle = std::make_shared<InMasterReplication>();
  handle->lock = std::move(*lock);
  handle->replicator = std::make_shared<sync::RollingReplicator>(*store, std::move(*opts));
  handle->replicator->start();
  CYR_LOG(Notice, "master", "rolling replication to %s started", conf.get_string("sync_host").c_str());
  return handle;  // destroying it stops and joins the thread, then unlocks
}

}  // namespace cyr::ops
