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

#include "server/imapd/replication_hook.h"
#include "server/service_registry.h"
#include "store/store.h"

namespace cyr::sync {

// The banner's version word for our own peers: a newer node reads it to
// choose extensions; a Cyrus client ignores the line ("* X-CYR-SYNC 2").
// 1: Cyrus 3.6's csync. 2: adds X-CYR-COMPRESS zstd (sync_compress.h).
// Extensions are still chosen by their own capability lines, so a version-1
// peer (which lacks them) keeps working in both directions.
inline constexpr int kCsyncProtocolVersion = 2;

Result<server::ServiceHandler> make_csync_handler(std::shared_ptr<const server::ServiceContext> ctx,
                                                  std::shared_ptr<store::Store> store);

void register_sync_service(server::ServiceRegistry& registry);

// The engine behind imapd's X-REPLICATION commands (SYNCAPPLY, SYNCGET,
// SYNCRESTART); ops/ installs it with imapd::set_replication_factory().
imapd::ReplicationFactory make_imap_replication_factory();

}  // namespace cyr::sync
