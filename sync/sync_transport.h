// TcpSyncPeer: the client end of a csync connection over TCP (or a
// UNIX-domain socket when host starts with '/'), with blocking I/O for the
// command-line client and the rolling daemon's worker threads.
//
// connect() reads the banner, authenticates with SASL PLAIN (the
// credentials of sync_authname/sync_password) unless on a UNIX socket, and
// remembers the capabilities. call() writes one command and reads replies
// up to the final line; every read is bounded by the timeout and the dlist
// limits. Not thread-safe; one connection per thread.
//
// With try_imap (imapd.conf sync_try_imap, Cyrus's default) it first tries
// the replica's imapd, as Cyrus 3.x's sync_client does: log in, look for
// X-REPLICATION in CAPABILITY, then send each command tagged as
// SYNCAPPLY/SYNCGET/SYNCRESTART. If the port answers with a csync banner
// instead, that connection is used as csync; if imapd lacks X-REPLICATION or
// does not answer, the csync port is used.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "sync/dlist_decoder.h"
#include "sync/sync_compress.h"
#include "sync/sync_peer.h"

namespace cyr::sync {

struct TcpPeerOptions {
  std::string host;           // name, address, or /path of a UNIX socket
  std::string port = "2005";  // service name or number
  std::string authname;
  std::string password;
  std::chrono::seconds timeout{1800};
  DlistLimits limits;
  bool try_imap = false;
  // Where the IMAP attempt goes: "" = `port` itself (sync_port set: Cyrus
  // tries both protocols there), else e.g. "imap" (143).
  std::string imap_port;
  // zstd stream compression (X-CYR-COMPRESS, sync_compress.h) on csync;
  // connect() fails if the replica does not offer it (cyr_sync_client -z).
  bool compress = false;
  // imapd.conf sync_compress: compress when the replica's banner offers it,
  // else stay uncompressed (Cyrus, or an older node of ours). Never over
  // IMAP, where Cyrus turns compression off too.
  bool compress_if_offered = false;
};

class TcpSyncPeer final : public SyncPeer {
 public:
  static Result<std::unique_ptr<TcpSyncPeer>> connect(const TcpPeerOptions& opts);
  ~TcpSyncPeer() override;

  Result<std::vector<SyncReply>> call(const SyncCommand& cmd) override;
  // Pipelined on csync (commands queued by send() leave in one write at
  // flush()); one at a time over IMAP.
  Status send(const SyncCommand& cmd) override;
  Status flush() override;
  Result<std::vector<SyncReply>> receive() override;
  uint64_t bytes_sent() const override { return sent_; }
  uint64_t bytes_received() const override { return received_; }
  // Banner lines without "* " (e.g. "SASL PLAIN", "X-CYR-SYNC 1").
  const std::vector<std::string>& capabilities() const { return caps_; }
  // Sends EXIT (LOGOUT over IMAP) and waits for its reply; the connection
  // is then closed.
  void close();
  // True when the commands travel over imapd (X-REPLICATION).
  bool over_imap() const { return imap_; }
  bool compressed() const { return enc_ != nullptr; }
  // The replica's X-CYR-SYNC version (1 when it sends none: Cyrus, or us
  // before the line existed).
  int peer_version() const;

 private:
  TcpSyncPeer(int fd, TcpPeerOptions opts) : fd_(fd), opts_(std::move(opts)) {}
  static Result<int> dial(const TcpPeerOptions& opts, const std::string& port);
  Status read_banner(std::optional<std::string> first_line);
  Status authenticate_csync();
  Status start_compression();
  bool offers_compression() const;
  // compress, or compress_if_offered and the banner offers it.
  Status maybe_start_compression();
  // IMAP: after the greeting, log in and require X-REPLICATION.
  Status imap_login();
  // IMAP: sends "<tag> <rest>" and returns the untagged lines and the tagged one.
  Result<std::vector<std::string>> imap_simple(const std::string& rest);
  std::string next_tag() { return "S" + std::to_string(tag_counter_++); }
  Status send_all(std::string_view bytes);
  Result<RawLine> read_line();
  // The reply lines of one command, up to its final line (tagged over IMAP).
  Result<std::vector<SyncReply>> read_reply(const std::string& tag);
  Result<std::string> read_text_line();

  int fd_;
  TcpPeerOptions opts_;
  std::string buf_;
  size_t pos_ = 0;
  std::vector<std::string> caps_;
  uint64_t sent_ = 0, received_ = 0;
  bool imap_ = false;
  uint64_t tag_counter_ = 0;
  std::unique_ptr<ZstdEncoder> enc_;
  std::unique_ptr<ZstdDecoder> dec_;
  std::string raw_;  // received compressed bytes not decoded yet
  std::string out_;  // pipelined commands not written yet
  std::atomic<size_t> pending_{0};  // pipelined commands whose replies are not read yet
};

}  // namespace cyr::sync
