// Helpers for the server unit tests: run a coroutine to completion on an
// io_context, a temporary directory, and a self-signed certificate.
#pragma once

#include <utility>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/local/connect_pair.hpp>
#include <exception>
#include <filesystem>
#include <memory>
#include <string>

#include "server/net/connection.h"

namespace cyr::server::testing {

// Runs every coroutine spawned so far on ioc until all finish; rethrows the
// first exception a coroutine let escape.
template <class Awaitable>
void run_coroutine(boost::asio::io_context& ioc, Awaitable a) {
  std::exception_ptr failure;
  boost::asio::co_spawn(ioc, std::move(a), [&](std::exception_ptr e) {
    if (e && !failure) failure = e;
  });
  ioc.run();
  ioc.restart();
  if (failure) std::rethrow_exception(failure);
}

// A server-side Connection (session id "t1") and the client end of the unix
// socket pair under it.
struct ConnectionPair {
  std::shared_ptr<net::Connection> server;
  boost::asio::local::stream_protocol::socket client;
};

inline ConnectionPair connection_pair(boost::asio::io_context& ioc) {
  boost::asio::local::stream_protocol::socket a(ioc), b(ioc);
  boost::asio::local::connect_pair(a, b);
  return ConnectionPair{net::Connection::create(std::move(a), "t1"), std::move(b)};
}

class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// Writes a self-signed certificate and its key (PEM) for CN=localhost.
void write_self_signed_cert(const std::filesystem::path& cert, const std::filesystem::path& key);

std::string read_file(const std::filesystem::path& p);
void write_file(const std::filesystem::path& p, const std::string& text);

}  // namespace cyr::server::testing
