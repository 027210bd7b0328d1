// SyncPeer: the master's view of one replica connection. call() sends one
// command and returns every reply line up to and including the final one;
// a transport failure (connection lost, unparseable reply) is an Error, a
// NO/BAD reply is not (it is the last element, for the caller to judge).
//
// Implementations: LoopbackPeer (below; in-process, through the byte codec,
// for tests and tools) and TcpSyncPeer (sync/sync_transport.h).
// A peer is used by one thread at a time.
//
// Pipelining: send() queues a command, flush() writes what was queued,
// receive() reads the replies of the oldest command sent and not received
// yet; the replica executes commands in order, so a client can have the
// next round on the wire while the replica commits the previous one.
// send()/flush() and receive() may run on two threads (one each); call()
// must not be used while replies are outstanding. The defaults run call()
// inside send() (no overlap, same results), so every peer supports them.
#pragma once

#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "store/base/result.h"
#include "sync/sync_frame.h"

namespace cyr::sync {

class SyncServerSession;

class SyncPeer {
 public:
  virtual ~SyncPeer() = default;
  virtual Result<std::vector<SyncReply>> call(const SyncCommand& cmd) = 0;
  virtual Status send(const SyncCommand& cmd);
  virtual Status flush() { return {}; }
  virtual Result<std::vector<SyncReply>> receive();
  // Bytes written and read so far (for logs and benchmarks).
  virtual uint64_t bytes_sent() const { return 0; }
  virtual uint64_t bytes_received() const { return 0; }

 private:
  std::mutex held_mu_;  // send() and receive() may be on two threads
  std::deque<Result<std::vector<SyncReply>>> held_;  // the defaults' replies, in order
};

// Runs a SyncServerSession in this process. Every command and reply goes
// through the wire encoder and the LineFramer/parser, file literals through
// the session's file sinks, so tests exercise the exact bytes a TCP peer
// would see. `record` (optional) receives the byte stream, "C: "/"S: " free.
class LoopbackPeer final : public SyncPeer {
 public:
  explicit LoopbackPeer(SyncServerSession& server, std::string* record_client = nullptr,
                        std::string* record_server = nullptr)
      : server_(server), rec_c_(record_client), rec_s_(record_server) {}
  Result<std::vector<SyncReply>> call(const SyncCommand& cmd) override;
  uint64_t bytes_sent() const override { return sent_; }
  uint64_t bytes_received() const override { return received_; }

 private:
  SyncServerSession& server_;
  std::string* rec_c_;
  std::string* rec_s_;
  uint64_t sent_ = 0, received_ = 0;
};

// The final reply of a call() result, or an error if there is none.
const SyncReply& final_reply(const std::vector<SyncReply>& replies);

}  // namespace cyr::sync
