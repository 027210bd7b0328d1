// What the authenticator is told about a connection's client: one place for
// IMAP, POP3 and LMTP, so that they log and check the same address.
#pragma once

#include <string>
#include <string_view>

#include "server/auth/authenticator.h"
#include "server/net/connection.h"

namespace cyr::server::net {

// The address of a Connection::peer() string without its port:
// "192.0.2.1:51234" -> "192.0.2.1", "[2001:db8::1]:51234" -> "2001:db8::1",
// "unix" -> "" (a local socket has no address).
inline std::string peer_address(std::string_view peer) {
  if (peer == "unix") return {};
  if (!peer.empty() && peer[0] == '[') return std::string(peer.substr(1, peer.find(']') - 1));
  return std::string(peer.substr(0, peer.rfind(':')));
}

inline auth::ClientInfo client_info_of(const Connection& conn) {
  auth::ClientInfo c;
  c.session_id = conn.sid();
  c.address = peer_address(conn.peer());
  c.tls = conn.is_tls();
  return c;
}

}  // namespace cyr::server::net
