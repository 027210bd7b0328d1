// Helpers for the server unit tests: run a coroutine to completion on an
// io_context, a temporary directory, and a self-signed certificate.
#pragma once

#include <utility>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <exception>
#include <filesystem>
#include <string>

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
