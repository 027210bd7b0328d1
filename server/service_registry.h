// ServiceRegistry: how protocol servers (IMAP, POP3, LMTP, csync, sieve)
// plug into cyr_master.
//
// A protocol registers a factory under the Cyrus program name its cyrus.conf
// entries use: registry.add("imapd", factory). For each SERVICES entry whose
// cmd maps to that name, the master calls the factory once with a
// ServiceContext (the entry's argv, the configuration, TLS, the blocking
// pool) and gets back a ServiceHandler: the session coroutine it runs for
// every accepted connection, and the line it sends when maxchild is reached.
// The master does the rest (listening, implicit TLS, limits, shutdown).
//
// Threads: add() during start-up only; find() is then read-only and safe
// from any thread. A ServiceContext is immutable and shared (shared_ptr) by
// all sessions of one service; a reload makes a new one.
#pragma once

// <utility> first: Boost 1.74's awaitable.hpp uses std::exchange without it.
#include <utility>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ssl/context.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "server/blocking_pool.h"
#include "store/base/result.h"
#include "store/config/imapd_conf.h"

namespace cyr::server {

namespace net {
class Connection;
}

struct ServiceContext {
  std::string service_name;       // the cyrus.conf entry name ("imap", "imaps", "lmtpunix")
  std::vector<std::string> argv;  // mapped cmd: argv[0] is the handler name, flags as written
  bool implicit_tls = false;      // the master has done the handshake before the session runs
  std::shared_ptr<const config::ImapdConf> conf;
  std::string imapd_conf_path;    // for messages and for commands the session may spawn
  BlockingPool* blocking = nullptr;  // outlives every session
  // The current TLS context for STARTTLS (null if TLS is not configured for
  // this service). Called per use, so a SIGHUP reload is picked up.
  std::function<std::shared_ptr<boost::asio::ssl::context>()> tls_context;

  // True if argv has the flag ("-s", "-a").
  bool has_flag(std::string_view flag) const;
};

struct ServiceHandler {
  // Runs one session to its end. The connection's idle timeout is unset on
  // entry; the session sets its own (IMAP: imapd.conf `timeout`, at least 30
  // minutes). The master flushes and closes the connection afterwards.
  // Exceptions escaping it are logged as bugs, not rethrown.
  std::function<boost::asio::awaitable<void>(std::shared_ptr<net::Connection>)> run_session;
  // Sent, then the connection closed, when the service is at maxchild
  // (e.g. "* BYE Too many connections\r\n"). Empty: just close.
  std::string refusal_line;
  // Log each connection's opening and end at debug level, not info: for a
  // service whose connections are machine heartbeats (failover: the peer
  // connects every failover_timeout / 4), where info lines would bury the
  // rest of the log. Refusals and errors are logged as for any service.
  bool quiet_connections = false;
};

using ServiceFactory =
    std::function<Result<ServiceHandler>(std::shared_ptr<const ServiceContext> context)>;

class ServiceRegistry {
 public:
  // Registers a factory; a second add() of the same name replaces the first.
  void add(std::string name, ServiceFactory factory);
  const ServiceFactory* find(std::string_view name) const;
  bool has(std::string_view name) const { return find(name) != nullptr; }
  std::vector<std::string> names() const;

 private:
  std::map<std::string, ServiceFactory, std::less<>> factories_;
};

// Registers every protocol handler compiled into this binary. This is the
// one place a new protocol server is wired in (server/service_registry.cpp).
void register_protocol_services(ServiceRegistry& registry);

// maxchild accounting for one service: a counter with a bound, safe from
// any thread. try_acquire() fails when `limit` sessions are live; a limit
// of 0 or less (cyrus.conf default -1) means unlimited.
class SessionSlots {
 public:
  explicit SessionSlots(int limit) : limit_(limit) {}
  bool try_acquire();
  void release();
  int in_use() const;
  int limit() const { return limit_; }

 private:
  mutable std::mutex mu_;
  int limit_;
  int in_use_ = 0;
};

}  // namespace cyr::server
