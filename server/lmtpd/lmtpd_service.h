// The LMTP server ("lmtpd" in cyrus.conf SERVICES): RFC 2033 delivery into
// the node's Store, on TCP (`lmtp`, usually with -a) and on the unix socket
// (`lmtpunix`, lmtpsocket).
//
// LmtpdService is built once per SERVICES entry and shared (shared_ptr) by
// that entry's sessions: settings read once, the Authenticator (LMTP AUTH on
// TCP), the process-wide Store (server::node_store, so IMAP IDLE sessions
// see deliveries) and the process-wide duplicate database.
//
// Who may deliver: connections on a unix socket, and TCP connections of a
// service started with "-a" (Cyrus lmtpd -a: preauthorised), deliver
// without AUTH; other TCP clients must AUTH first (soft_noauth: 430, else 530).
//
// Thread-safety: immutable after construction; Store, DuplicateDb and
// Authenticator are thread-safe themselves.
#pragma once

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>

#include "server/auth/authenticator.h"
#include "server/lmtpd/delivery.h"
#include "server/service_registry.h"
#include "store/duplicate_db.h"
#include "store/store.h"

namespace cyr::lmtpd {

struct LmtpdService {
  std::shared_ptr<const server::ServiceContext> ctx;
  std::shared_ptr<store::Store> store;
  std::shared_ptr<store::DuplicateDb> dupdb;  // null: suppression off or database unusable
  std::shared_ptr<auth::Authenticator> auth;
  DeliverySettings settings;
  std::filesystem::path spool_dir;  // where DATA is streamed (on the default partition)
  bool preauth_tcp = false;         // "-a"
  bool soft_noauth = true;
  std::chrono::seconds timeout{10 * 60};
};

// The node's duplicate database (duplicate_db_path, default
// {configdirectory}/deliver.db), opened on first use and shared by every
// service of the process. Null with a logged warning if it cannot be opened:
// mail is then delivered without suppression rather than refused.
std::shared_ptr<store::DuplicateDb> process_duplicate_db(const config::ImapdConf& conf);

// Factory with an explicit store and duplicate database (tests).
Result<server::ServiceHandler> make_lmtpd_handler(std::shared_ptr<const server::ServiceContext> ctx,
                                                  std::shared_ptr<store::Store> store,
                                                  std::shared_ptr<store::DuplicateDb> dupdb);
// The factory cyr_master calls: the process store and duplicate database.
Result<server::ServiceHandler> make_lmtpd_handler(std::shared_ptr<const server::ServiceContext> ctx);

// registry.add("lmtpd", ...).
void register_lmtpd_service(server::ServiceRegistry& registry);

}  // namespace cyr::lmtpd
