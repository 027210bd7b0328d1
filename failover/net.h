// Blocking TCP for the failover protocol (wire.h): a client that sends one
// request and reads its reply within a deadline, and a small line server for
// the witness. The controller's own listener is a cyrus.conf service run by
// the master (ops/failover.cpp); these are for the paths that are not.
//
// Thread-safety: exchange() is reentrant. LineServer runs its accept loop on
// one thread and each connection on its own thread (at most max_connections).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "failover/auth.h"
#include "failover/wire.h"
#include "store/base/result.h"

namespace cyr::failover {

struct HostPort {
  std::string host;
  std::string port;
};
// "host:port", "[v6addr]:port". Invalid without a port.
Result<HostPort> parse_host_port(std::string_view s);

// Connects to `address`, reads the greeting and authenticates with `secret`
// (auth.h; "" = none, which only an open service accepts), sends `request` +
// CRLF, reads the reply (wire.h grammar) and returns it. Everything (connect
// included) within `timeout`; Errc::Temp on a timeout or a refused
// connection, Errc::Perm when the two sides' failover_secret do not match.
Result<Reply> exchange(const std::string& address, const std::string& request,
                       std::chrono::milliseconds timeout, const std::string& secret = "");

class LineServer {
 public:
  // handler(request line, peer address) -> the whole reply text (format_reply).
  using Handler = std::function<std::string(const std::string& line, const std::string& peer)>;

  LineServer() = default;
  ~LineServer();
  LineServer(const LineServer&) = delete;
  LineServer& operator=(const LineServer&) = delete;

  // Binds `address` ("host:port"; port 0 picks one) and starts serving.
  // With a `secret` every connection must authenticate (auth.h) before its
  // first request reaches the handler; "" serves anyone.
  Status start(const std::string& address, Handler handler, std::string secret = "");
  void stop();  // closes the listener and waits for every connection
  uint16_t port() const { return port_; }

  static constexpr int kMaxConnections = 16;
  static constexpr std::chrono::seconds kIdleTimeout{30};

 private:
  void accept_loop();
  void serve(int fd, std::string peer);

  Handler handler_;
  std::string secret_;
  int listen_fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread accept_thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  int live_ = 0;
};

}  // namespace cyr::failover
