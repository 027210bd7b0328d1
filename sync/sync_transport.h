// TcpSyncPeer: the client end of a csync connection over TCP (or a
// UNIX-domain socket when host starts with '/'), with blocking I/O for the
// command-line client and the rolling daemon's worker threads.
//
// connect() reads the banner, authenticates with SASL PLAIN (the
// credentials of sync_authname/sync_password) unless on a UNIX socket, and
// remembers the capabilities. call() writes one command and reads replies
// up to the final line; every read is bounded by the timeout and the dlist
// limits. Not thread-safe; one connection per thread.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "sync/dlist_decoder.h"
#include "sync/sync_peer.h"

namespace cyr::sync {

struct TcpPeerOptions {
  std::string host;           // name, address, or /path of a UNIX socket
  std::string port = "2005";  // service name or number
  std::string authname;
  std::string password;
  std::chrono::seconds timeout{1800};
  DlistLimits limits;
};

class TcpSyncPeer final : public SyncPeer {
 public:
  static Result<std::unique_ptr<TcpSyncPeer>> connect(const TcpPeerOptions& opts);
  ~TcpSyncPeer() override;

  Result<std::vector<SyncReply>> call(const SyncCommand& cmd) override;
  uint64_t bytes_sent() const override { return sent_; }
  uint64_t bytes_received() const override { return received_; }
  // Banner lines without "* " (e.g. "SASL PLAIN", "X-CYR-SYNC 1").
  const std::vector<std::string>& capabilities() const { return caps_; }
  // Sends EXIT and waits for its reply; the connection is then closed.
  void close();

 private:
  TcpSyncPeer(int fd, TcpPeerOptions opts) : fd_(fd), opts_(std::move(opts)) {}
  Status send_all(std::string_view bytes);
  Result<RawLine> read_line();
  Result<std::string> read_text_line();

  int fd_;
  TcpPeerOptions opts_;
  std::string buf_;
  size_t pos_ = 0;
  std::vector<std::string> caps_;
  uint64_t sent_ = 0, received_ = 0;
};

}  // namespace cyr::sync
