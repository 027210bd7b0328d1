// smmapd: Cyrus's socket map daemon ("smmapd" in cyrus.conf SERVICES), for
// an MTA to ask before it accepts mail whether LMTP would take mail for an
// address now: Postfix as `socketmap:unix:/path/smmap:cyrus` (or
// `socketmap:inet:host:port:cyrus`) in `relay_recipient_maps` or
// `local_recipient_maps`, Sendmail as a socket map. Protocol in
// server/smmapd/socketmap.h; answers as Cyrus's smmapd gives them:
//   OK <address>        LMTP would deliver it
//   NOTFOUND <reason>   no such user or shared mailbox (or none it may see)
//   TEMP <reason>       over quota (PERM with lmtp_over_quota_perm_failure),
//                       or the store could not answer
//   PERM <reason>       a shared mailbox anonymous may see but not post to;
//                       a malformed request (the connection then ends)
// The address is resolved exactly as LMTP resolves a RCPT (plus-addressing,
// postuser's shared folders, virtdomains, lmtp_downcase_rcpt): a +detail
// naming no folder still means the INBOX. With autocreate_post, a missing
// INBOX is answered OK, as LMTP would create it; nothing is created here.
#pragma once

#include <memory>
#include <string>

#include "server/lmtpd/delivery.h"
#include "server/service_registry.h"
#include "store/store.h"

namespace cyr::smmapd {

// The reply payload (before netstring framing) for one looked-up address.
// Blocks on the store: call it on the blocking pool.
std::string lookup_reply(store::Store& store, const lmtpd::DeliverySettings& settings, const std::string& key,
                         const std::string& sid);

Result<server::ServiceHandler> make_smmapd_handler(std::shared_ptr<const server::ServiceContext> ctx,
                                                   std::shared_ptr<store::Store> store);
void register_smmapd_service(server::ServiceRegistry& registry);

}  // namespace cyr::smmapd
