// Wires replication into cyr_master. It lives in ops/ because the server
// library must not depend on sync/.
//  - register_sync_services(): the csync service ("sync_server" in
//    cyrus.conf), called after server::register_protocol_services().
//  - start_replication(): with sync_log on and sync_host set, the rolling
//    sync client runs as a thread of the master, next to the Store it reads
//    (the store's change log is per process). The returned handle stops it.
#include <memory>

#include "ops/commands.h"
#include "server/node_store.h"
#include "store/base/log.h"
#include "sync/csync_service.h"
#include "sync/rolling_daemon.h"

namespace cyr::ops {

void register_sync_services(server::ServiceRegistry& registry) { sync::register_sync_service(registry); }

std::shared_ptr<void> start_replication(const config::ImapdConf& conf) {
  if (!conf.get_switch("sync_log") || conf.get_string("sync_host").empty()) return nullptr;
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
  auto r = std::make_shared<sync::RollingReplicator>(*store, std::move(*opts));
  r->start();
  CYR_LOG(Notice, "master", "rolling replication to %s started", conf.get_string("sync_host").c_str());
  return r;  // destroying it stops and joins the thread
}

}  // namespace cyr::ops
