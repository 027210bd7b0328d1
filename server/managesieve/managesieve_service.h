// The ManageSieve server ("timsieved" in cyrus.conf SERVICES, port 4190):
// RFC 5804, so that Sieve clients (Roundcube, Thunderbird's sieve add-on,
// sieveshell, sivtest, sieve-connect) manage a user's Sieve scripts.
//
// Scripts live in the user's shard of the store (Store's "Sieve scripts"
// section), so they commit and replicate like mail; lmtpd runs the active
// one at delivery. PUTSCRIPT and CHECKSCRIPT compile the script first
// (server/sieve/sieve.h) with the site's limits and extensions, and answer
// the compiler's "line N: ..." when it is wrong. On a replica the store
// refuses writes: the client gets NO (TRYLATER).
//
// Authentication is SASL only (AUTHENTICATE, through the shared
// Authenticator; an admin may authorize as another user), with STARTTLS
// and allowplaintext as for IMAP and POP3.
//
// Thread-safety: ManageSieveService is immutable after construction and
// shared by the sessions of one service entry.
#pragma once

#include <chrono>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "server/auth/authenticator.h"
#include "server/managesieve/managesieve_protocol.h"
#include "server/service_registry.h"
#include "store/base/result.h"
#include "store/store.h"

namespace cyr::managesieve {

struct ManageSieveSettings {
  std::chrono::seconds timeout{32 * 60};  // imapd.conf timeout (at least 30 minutes)
  size_t max_script_bytes = 32 * 1024;    // sieve_maxscriptsize, KiB in imapd.conf
  int64_t max_scripts = 5;                // sieve_maxscripts; a negative value: no bound
  std::vector<std::string> extensions;    // SIEVE capability = what compile() may require
  bool capability_after_auth = false;     // sieve_sasl_send_unsolicited_capability
  ParserLimits parser;
};

struct ManageSieveService {
  std::shared_ptr<const server::ServiceContext> ctx;
  std::shared_ptr<store::Store> store;
  std::shared_ptr<auth::Authenticator> auth;
  ManageSieveSettings settings;
};

// Reads the settings above from imapd.conf (with the service's overrides).
ManageSieveSettings managesieve_settings(const config::ImapdConf& conf, std::string_view service);

Result<server::ServiceHandler> make_managesieve_handler(std::shared_ptr<const server::ServiceContext> ctx,
                                                        std::shared_ptr<store::Store> store);
Result<server::ServiceHandler> make_managesieve_handler(std::shared_ptr<const server::ServiceContext> ctx);

// registry.add("timsieved", ...).
void register_managesieve_service(server::ServiceRegistry& registry);

}  // namespace cyr::managesieve
