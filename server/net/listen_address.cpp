#include "server/net/listen_address.h"

#include <arpa/inet.h>
#include <netdb.h>

#include <charconv>

namespace cyr::server::net {
namespace {

Error invalid(std::string_view listen, std::string_view why) {
  std::string msg = "invalid listen=\"";
  msg.append(listen);
  msg += "\": ";
  msg.append(why);
  return Error(Errc::Invalid, msg);
}

bool is_digits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s)
    if (c < '0' || c > '9') return false;
  return true;
}

// Service names in /etc/services: letters, digits, '-', '_', '.', '+'.
bool is_service_name(std::string_view s) {
  if (s.empty() || s.size() > 64) return false;
  bool has_alpha = false;
  for (char c : s) {
    bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    has_alpha |= alpha;
    if (!alpha && !(c >= '0' && c <= '9') && c != '-' && c != '_' && c != '.' && c != '+')
      return false;
  }
  return has_alpha;
}

bool is_host_name(std::string_view s) {
  if (s.empty() || s.size() > 253) return false;
  for (char c : s) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '.' || c == '_';
    if (!ok) return false;
  }
  return true;
}

Status set_port(ListenAddress& a, std::string_view listen, std::string_view port) {
  a.port_text = std::string(port);
  if (is_digits(port)) {
    unsigned v = 0;
    auto [p, ec] = std::from_chars(port.data(), port.data() + port.size(), v);
    if (ec != std::errc() || p != port.data() + port.size() || v > 65535)
      return invalid(listen, "port out of range (0-65535)");
    a.port = static_cast<uint16_t>(v);
    a.port_is_numeric = true;
    return ok_status();
  }
  if (!is_service_name(port)) return invalid(listen, "port is neither a number nor a service name");
  a.port_is_numeric = false;
  return ok_status();
}

}  // namespace

std::string ListenAddress::to_string() const {
  if (kind == Kind::Unix) return path;
  std::string port_s = port_is_numeric ? std::to_string(port) : port_text;
  if (host.empty()) return "*:" + port_s;
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + port_s;
  return host + ":" + port_s;
}

Result<ListenAddress> parse_listen_address(std::string_view listen, std::string_view proto) {
  ListenAddress a;
  if (listen.empty()) return invalid(listen, "empty");
  if (listen.size() > kMaxListenLength) return Error(Errc::Limit, "listen= value too long");
  for (char c : listen)
    if (static_cast<unsigned char>(c) <= ' ' || c == 0x7f)
      return invalid(listen, "contains white space or control characters");

  if (proto.empty() || proto == "tcp") a.family = AddressFamily::Any;
  else if (proto == "tcp4") a.family = AddressFamily::V4;
  else if (proto == "tcp6") a.family = AddressFamily::V6;
  else if (proto == "udp") return invalid(listen, "proto=udp is not supported");
  else return invalid(listen, "unknown proto=\"" + std::string(proto) + "\" (tcp, tcp4 or tcp6)");

  if (listen.front() == '/') {
    a.kind = ListenAddress::Kind::Unix;
    // sun_path is 108 bytes including the terminating NUL.
    if (listen.size() > 107) return invalid(listen, "unix socket path longer than 107 bytes");
    a.path = std::string(listen);
    return a;
  }

  std::string_view host, port;
  if (listen.front() == '[') {
    auto close = listen.find(']');
    if (close == std::string_view::npos) return invalid(listen, "missing ']'");
    host = listen.substr(1, close - 1);
    std::string_view rest = listen.substr(close + 1);
    if (rest.size() < 2 || rest.front() != ':') return invalid(listen, "expected ':port' after ']'");
    port = rest.substr(1);
    in6_addr tmp;
    std::string h(host);
    if (inet_pton(AF_INET6, h.c_str(), &tmp) != 1) return invalid(listen, "not an IPv6 address");
    if (a.family == AddressFamily::V4) return invalid(listen, "IPv6 address with proto=tcp4");
  } else {
    auto colon = listen.rfind(':');
    if (colon == std::string_view::npos) {
      port = listen;
    } else {
      host = listen.substr(0, colon);
      port = listen.substr(colon + 1);
      if (host.find(':') != std::string_view::npos)
        return invalid(listen, "IPv6 addresses must be written in brackets: [addr]:port");
      if (host.empty()) return invalid(listen, "empty host before ':'");
      if (port.empty()) return invalid(listen, "empty port after ':'");
      if (host == "*") host = {};
      else if (!is_host_name(host)) return invalid(listen, "bad host name");
    }
  }
  a.kind = ListenAddress::Kind::Tcp;
  a.host = std::string(host);
  CYR_TRY(set_port(a, listen, port));
  return a;
}

Status resolve_service_port(ListenAddress& addr) {
  if (addr.kind != ListenAddress::Kind::Tcp || addr.port_is_numeric) return ok_status();
  // getservbyname is not thread-safe; the reentrant form is.
  struct servent se, *res = nullptr;
  char buf[1024];
  if (getservbyname_r(addr.port_text.c_str(), "tcp", &se, buf, sizeof buf, &res) != 0 || !res)
    return Error(Errc::NotFound,
                 "unknown service name \"" + addr.port_text + "\" (not in /etc/services)");
  addr.port = ntohs(static_cast<uint16_t>(res->s_port));
  addr.port_is_numeric = true;
  return ok_status();
}

}  // namespace cyr::server::net
