// The csync service (cyrus.conf: syncserver cmd="sync_server" listen="csync"):
// the network front of SyncServerSession. It sends the banner, runs SASL
// AUTHENTICATE (any mechanism the Authenticator offers: PLAIN, SCRAM-SHA-256,
// ...), STARTTLS, NOOP, EXIT, RESTART, and hands GET/APPLY lines, framed with
// their literals and file literals, to a SyncServerSession on the blocking
// pool. Only admins (imapd.conf admins:) may replicate.
//
// register_sync_service() adds the "sync_server" factory to a registry; it
// is called from ops/ (the server library does not depend on sync).
// Thread-safety: as ServiceRegistry; one session per connection.
#pragma once

#include <memory>

#include "server/service_registry.h"
#include "store/store.h"

namespace cyr::sync {

// The banner's version word for our own peers: a newer node reads it to
// choose extensions; a Cyrus client ignores the line ("* X-CYR-SYNC 1").
inline constexpr int kCsyncProtocolVersion = 1;

Result<server::ServiceHandler> make_csync_handler(std::shared_ptr<const server::ServiceContext> ctx,
                                                  std::shared_ptr<store::Store> store);

void register_sync_service(server::ServiceRegistry& registry);

}  // namespace cyr::sync
