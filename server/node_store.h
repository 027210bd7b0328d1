// The node's one Store, shared by every service of the process (IMAP, POP3,
// LMTP, csync) and by the rolling replicator: watchers only reach sessions
// of the same Store, so IDLE is woken by a delivery only if both use it.
// cyr_master opens it before anything listens; a command-line tool that runs
// services in-process gets it opened from imapd.conf on first use.
// Thread-safe.
#pragma once

#include <memory>

#include "store/base/result.h"
#include "store/store.h"

namespace cyr::config {
class ImapdConf;
}

namespace cyr::server {

// The Store given to set_node_store(), else opened from `conf` on the first
// call and kept for the life of the process. `mode` matters only to that
// first call: cyr_master opens the Primary; a tool that may run beside it
// (cyr_sync_client, cyr_sync_reset) asks for a Secondary.
Result<std::shared_ptr<store::Store>> node_store(const config::ImapdConf& conf,
                                                 store::OpenMode mode = store::OpenMode::Primary);
void set_node_store(std::shared_ptr<store::Store> store);

}  // namespace cyr::server
