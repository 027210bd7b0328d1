// ListenAddress: where one cyrus.conf SERVICES entry listens, parsed from its
// `listen=` and `proto=` values.
//
// Accepted forms (cyrus.conf(5), seed 001): "host:port", "[v6addr]:port",
// "port", "servicename" (looked up in /etc/services), "host:servicename", and
// an absolute path for a unix-domain socket. Parsing is pure and bounded; name
// resolution (service names, host names) is a separate step so that parsing
// can be tested without /etc/services. Value type; thread-compatible.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "store/base/result.h"

namespace cyr::server::net {

enum class AddressFamily { Any, V4, V6 };

struct ListenAddress {
  enum class Kind { Tcp, Unix };
  Kind kind = Kind::Tcp;
  std::string host;          // empty: all addresses; no brackets for v6
  std::string port_text;     // as written: "143", "0", "imap"
  uint16_t port = 0;         // valid when port_is_numeric
  bool port_is_numeric = false;
  std::string path;          // Kind::Unix
  AddressFamily family = AddressFamily::Any;  // from proto=tcp4/tcp6

  // "127.0.0.1:143", "[::1]:143", "*:143", "/run/cyrus/lmtp".
  std::string to_string() const;
};

constexpr size_t kMaxListenLength = 1024;

// Parses listen= and proto= (tcp, tcp4, tcp6; "udp" is rejected: no Cyrus
// service we implement uses it). Fails with Errc::Invalid naming the problem.
Result<ListenAddress> parse_listen_address(std::string_view listen, std::string_view proto);

// Resolves a non-numeric port through getservbyname(name, "tcp").
// Fails with Errc::NotFound if /etc/services does not know the name.
Status resolve_service_port(ListenAddress& addr);

}  // namespace cyr::server::net
