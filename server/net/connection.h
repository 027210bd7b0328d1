// Connection: one client connection (TCP, TLS over TCP, or a unix-domain
// socket) behind one interface for protocol sessions written as coroutines.
//
// It offers what IMAP, POP3, LMTP and csync need: bounded line reads,
// exact-length reads (literals), streaming N bytes to a file, buffered writes
// with an explicit flush, STARTTLS in place, the peer address, an idle
// timeout and cooperative shutdown. Every failure is a value (Status/Result);
// end_reason() tells EOF, idle timeout, shutdown and over-long lines apart.
//
// Ownership and threads: created as a shared_ptr by the listener; the session
// coroutine and the master's session table share it. All I/O members must be
// called from the connection's own strand (the executor it was created with),
// one operation at a time. request_shutdown() and close() may be called from
// any thread: they post to the strand.
#pragma once

// <utility> first: Boost 1.74's awaitable.hpp uses std::exchange without it.
#include <utility>
#include <algorithm>
#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <variant>

#include "store/base/result.h"

namespace cyr::server::net {

namespace asio = boost::asio;
class DeflateCodec;  // deflate.h
template <class T>
using awaitable = asio::awaitable<T>;

// Why the last read or write failed.
enum class EndReason {
  None,
  Eof,          // the peer closed the connection
  IdleTimeout,  // no progress within the idle timeout
  Shutdown,     // the server is stopping (read_line only; see request_shutdown)
  LineTooLong,  // read_line exceeded its bound (the connection stays usable)
  TooBig,       // read_exact / read_to_file above kMaxExactRead
  Tls,          // TLS handshake or record failure
  Compression,  // the peer's DEFLATE stream (COMPRESS) was invalid
  Io,           // any other socket or file error
};
const char* end_reason_name(EndReason r);

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  using TcpSocket = asio::ip::tcp::socket;
  using UnixSocket = asio::local::stream_protocol::socket;

  // Largest single read_exact / read_to_file; callers enforce their own,
  // smaller protocol limits first (literal size, message size).
  static constexpr size_t kMaxExactRead = size_t{1} << 31;

  static std::shared_ptr<Connection> create(TcpSocket socket, std::string sid);
  static std::shared_ptr<Connection> create(UnixSocket socket, std::string sid);
  ~Connection();

  const std::string& sid() const { return sid_; }
  // "192.0.2.1:51234", "[2001:db8::1]:51234" or "unix".
  const std::string& peer() const { return peer_; }
  bool is_tls() const { return tls_; }
  bool is_unix() const { return unix_; }
  bool is_compressed() const { return codec_ != nullptr; }
  EndReason end_reason() const { return end_reason_; }
  asio::any_io_executor get_executor() const { return executor_; }

  // Idle timeout for each read and each flush; zero disables it.
  // RFC 3501 autologout is at least 30 minutes; the protocol decides.
  void set_idle_timeout(std::chrono::steady_clock::duration d) { idle_timeout_ = d; }

  // Implicit TLS (imaps, pop3s) or STARTTLS: handshakes as the server in
  // place. Plaintext the client sent ahead of the handshake is discarded
  // (STARTTLS command injection, CVE-2011-0411). Fails with end_reason Tls.
  awaitable<Status> start_tls(std::shared_ptr<asio::ssl::context> ctx);

  // IMAP COMPRESS=DEFLATE (RFC 4978): from the next byte on, both
  // directions are raw DEFLATE (inside TLS, if TLS is active). The caller has
  // flushed its OK uncompressed before. Bytes already buffered past the
  // command line were sent by a pipelining client after COMPRESS, so they
  // are compressed and go through the inflater. Every flush() is then a
  // sync flush. Errc::Invalid if compression is already active.
  Status start_compress();

  // Idle: the session waits for the client's next command; shutdown and the
  // idle timeout interrupt it. InCommand: the rest of a command already
  // started (after a literal, an AUTHENTICATE response); shutdown does not
  // interrupt it, so the command can finish.
  enum class ReadMode { Idle, InCommand };

  // One line without its CRLF (or bare LF). A line longer than max_len fails
  // with Errc::Limit / LineTooLong; the rest of that line is then skipped, so
  // the next read_line starts at the next line. In Idle mode after
  // request_shutdown(), fails with Errc::Unavailable / Shutdown: the session
  // should say goodbye (IMAP "* BYE") and return.
  awaitable<Result<std::string>> read_line(size_t max_len, ReadMode mode = ReadMode::Idle);

  // Exactly n bytes (an IMAP literal, a csync blob).
  awaitable<Result<std::string>> read_exact(size_t n);

  // What has been received and not consumed yet, at least one byte: waits
  // for the client only when nothing is buffered. Nothing is consumed; the
  // caller calls consume() with what it used. The view is valid until the
  // next call on this connection. For stream decoders that must not read
  // past their end (LMTP DATA, where a pipelined command may follow the end
  // line) yet should take the data in the pieces the socket delivers, not
  // a few bytes per call.
  awaitable<Result<std::string_view>> peek_some();
  // Drops the first n bytes of what peek_some() returned (n <= its size).
  void consume(size_t n) { rpos_ += std::min(n, buffered()); }

  // Exactly n bytes appended to the open file descriptor fd, in chunks, so a
  // large message never sits in memory. Does not fsync (the caller does, on
  // the blocking pool).
  awaitable<Status> read_to_file(size_t n, int fd);

  // Whether a whole line sent by the peer is already buffered (received,
  // not consumed): a pipelining peer's next command. Sessions then answer
  // it before flushing, so the replies to a pipelined run of commands go
  // out in one write.
  bool line_buffered() const {
    return buffered() > 0 && std::memchr(rbuf_.data() + rpos_, '\n', buffered()) != nullptr;
  }

  // Buffers output; nothing is sent until flush().
  void write(std::string_view data) { wbuf_.append(data); }
  size_t pending_output() const { return wbuf_.size(); }
  awaitable<Status> flush();
  awaitable<Status> write_and_flush(std::string_view data) {
    write(data);
    return flush();
  }

  // Sends TLS close_notify if TLS (bounded by a short timeout) and closes.
  awaitable<void> shutdown_and_close();

  // Thread-safe. Marks the connection as shutting down; a read_line that is
  // waiting for the client (an idle session) is cancelled and fails with
  // Shutdown. Reads inside a command (read_exact, read_to_file) and writes
  // continue, so a command in flight can finish.
  void request_shutdown();
  bool shutdown_requested() const { return shutdown_requested_.load(); }

  // Thread-safe hard close: pending operations fail with Io.
  void close();

 private:
  using TlsTcp = asio::ssl::stream<TcpSocket>;
  using TlsUnix = asio::ssl::stream<UnixSocket>;
  using Stream = std::variant<TcpSocket, UnixSocket, TlsTcp, TlsUnix>;

  Connection(Stream stream, asio::any_io_executor ex, std::string sid, std::string peer, bool is_unix);

  awaitable<Status> fill();  // reads more into rbuf_
  awaitable<Result<size_t>> read_some(char* dst, size_t n);  // one socket read
  void arm_timer(std::chrono::steady_clock::duration d);
  void disarm_timer();
  void cancel_io();
  Error fail(EndReason why, std::string detail);
  size_t buffered() const { return rbuf_.size() - rpos_; }

  Stream stream_;
  asio::any_io_executor executor_;
  asio::steady_timer timer_;
  std::shared_ptr<asio::ssl::context> tls_ctx_;  // kept alive while the stream uses it
  std::string sid_, peer_;
  bool tls_ = false, unix_ = false;
  std::string rbuf_;
  size_t rpos_ = 0;
  std::string wbuf_;
  // After COMPRESS: the codec, and received bytes not inflated yet
  // (zbuf_[zpos_..]). Both stay empty on a connection without COMPRESS.
  std::unique_ptr<DeflateCodec> codec_;
  std::string zbuf_;
  size_t zpos_ = 0;
  bool skipping_line_ = false;  // after LineTooLong, until the next LF
  bool waiting_for_line_ = false;
  bool timed_out_ = false;
  uint64_t timer_generation_ = 0;
  std::chrono::steady_clock::duration idle_timeout_{};
  std::atomic<bool> shutdown_requested_{false};
  EndReason end_reason_ = EndReason::None;
};

}  // namespace cyr::server::net
