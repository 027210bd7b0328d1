#include "server/net/connection.h"

#include <unistd.h>

#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <cerrno>
#include <cstring>

#include "server/net/deflate.h"
#include "store/base/log.h"

namespace cyr::server::net {
namespace {

constexpr size_t kReadChunk = 16 * 1024;
// A TLS handshake must not hang a session slot forever even without an idle timeout.
constexpr auto kDefaultHandshakeTimeout = std::chrono::seconds(60);
constexpr auto kCloseNotifyTimeout = std::chrono::seconds(1);

std::string tcp_peer(const asio::ip::tcp::socket& s) {
  boost::system::error_code ec;
  auto ep = s.remote_endpoint(ec);
  if (ec) return "unknown";
  auto addr = ep.address();
  if (addr.is_v6() && addr.to_v6().is_v4_mapped())
    addr = asio::ip::make_address_v4(asio::ip::v4_mapped, addr.to_v6());
  std::string a = addr.to_string();
  if (addr.is_v6()) a = "[" + a + "]";
  return a + ":" + std::to_string(ep.port());
}

}  // namespace

const char* end_reason_name(EndReason r) {
  switch (r) {
    case EndReason::None: return "none";
    case EndReason::Eof: return "eof";
    case EndReason::IdleTimeout: return "idle-timeout";
    case EndReason::Shutdown: return "shutdown";
    case EndReason::LineTooLong: return "line-too-long";
    case EndReason::TooBig: return "too-big";
    case EndReason::Tls: return "tls";
    case EndReason::Compression: return "compression";
    case EndReason::Io: return "io";
  }
  return "?";
}

std::shared_ptr<Connection> Connection::create(TcpSocket socket, std::string sid) {
  auto ex = socket.get_executor();
  // Every TCP service: each reply already leaves in one flush, and Nagle
  // would hold a reply back until the client ACKed the previous one, which
  // a client with nothing to send delays (up to 40 ms on Linux); pipelined
  // csync rounds (two replies in a row) waited that long.
  boost::system::error_code nd_ec;
  socket.set_option(asio::ip::tcp::no_delay(true), nd_ec);
  std::string peer = tcp_peer(socket);
  return std::shared_ptr<Connection>(
      new Connection(Stream(std::in_place_type<TcpSocket>, std::move(socket)), ex, std::move(sid),
                     std::move(peer), false));
}

std::shared_ptr<Connection> Connection::create(UnixSocket socket, std::string sid) {
  auto ex = socket.get_executor();
  return std::shared_ptr<Connection>(
      new Connection(Stream(std::in_place_type<UnixSocket>, std::move(socket)), ex, std::move(sid),
                     "unix", true));
}

Connection::Connection(Stream stream, asio::any_io_executor ex, std::string sid, std::string peer,
                       bool is_unix)
    : stream_(std::move(stream)),
      executor_(ex),
      timer_(ex),
      sid_(std::move(sid)),
      peer_(std::move(peer)),
      unix_(is_unix) {}

Connection::~Connection() = default;

Error Connection::fail(EndReason why, std::string detail) {
  end_reason_ = why;
  switch (why) {
    case EndReason::Eof: return Error(Errc::Io, "Connection closed", std::move(detail));
    case EndReason::IdleTimeout:
      return Error(Errc::Temp, "Autologout; idle for too long", std::move(detail));
    case EndReason::Shutdown: return Error(Errc::Unavailable, "Server shutting down", std::move(detail));
    case EndReason::LineTooLong: return Error(Errc::Limit, "Line too long", std::move(detail));
    case EndReason::TooBig: return Error(Errc::TooBig, "Too much data", std::move(detail));
    case EndReason::Tls: return Error(Errc::Io, "TLS failure", std::move(detail));
    case EndReason::Compression:
      return Error(Errc::Corrupted, "Invalid compressed data", std::move(detail));
    case EndReason::None:
    case EndReason::Io: break;
  }
  end_reason_ = EndReason::Io;
  return Error(Errc::Io, "Connection error", std::move(detail));
}

void Connection::arm_timer(std::chrono::steady_clock::duration d) {
  timed_out_ = false;
  if (d <= std::chrono::steady_clock::duration::zero()) return;
  uint64_t gen = ++timer_generation_;
  timer_.expires_after(d);
  timer_.async_wait([weak = weak_from_this(), gen](const boost::system::error_code& ec) {
    auto self = weak.lock();
    if (!self || ec || gen != self->timer_generation_) return;
    self->timed_out_ = true;
    self->cancel_io();
  });
}

void Connection::disarm_timer() {
  ++timer_generation_;
  timer_.cancel();
}

void Connection::cancel_io() {
  std::visit([](auto& s) {
    boost::system::error_code ignored;
    s.lowest_layer().cancel(ignored);
  }, stream_);
}

void Connection::request_shutdown() {
  shutdown_requested_.store(true);
  asio::post(executor_, [self = shared_from_this()] {
    if (self->waiting_for_line_) self->cancel_io();
  });
}

void Connection::close() {
  asio::post(executor_, [self = shared_from_this()] {
    std::visit([](auto& s) {
      boost::system::error_code ignored;
      s.lowest_layer().close(ignored);
    }, self->stream_);
    self->timer_.cancel();
  });
}

awaitable<Status> Connection::fill() {
  if (rpos_ == rbuf_.size()) {
    rbuf_.clear();
    rpos_ = 0;
  } else if (rpos_ >= kReadChunk) {
    rbuf_.erase(0, rpos_);
    rpos_ = 0;
  }
  const size_t old = rbuf_.size();
  rbuf_.resize(old + kReadChunk);
  if (!codec_) {
    auto n = co_await read_some(rbuf_.data() + old, kReadChunk);
    rbuf_.resize(old + (n ? *n : 0));
    if (!n) co_return n.take_error();
    co_return ok_status();
  }
  // Compressed: inflate at most kReadChunk at a time into rbuf_, so the
  // line and literal bounds of the callers apply to the inflated bytes and a
  // decompression bomb never grows a buffer. zbuf_ holds at most one socket
  // read: inflate consumes all its input whenever it has output room.
  for (;;) {
    if (zpos_ < zbuf_.size() || codec_->output_pending()) {
      size_t used = 0;
      auto n = codec_->decompress(std::string_view(zbuf_).substr(zpos_), used,
                                  rbuf_.data() + old, kReadChunk);
      if (!n) {
        rbuf_.resize(old);
        const Error& e = n.error();
        CYR_LOG(Notice, sid_, "COMPRESS: ending the session: %s", e.describe().c_str());
        if (e.code != Errc::Corrupted) co_return fail(EndReason::Io, e.describe());
        co_return fail(EndReason::Compression, e.describe());
      }
      zpos_ += used;
      if (*n > 0) {
        rbuf_.resize(old + *n);
        co_return ok_status();
      }
    }
    if (zpos_ == zbuf_.size()) {
      zbuf_.clear();
      zpos_ = 0;
    } else {
      zbuf_.erase(0, zpos_);
      zpos_ = 0;
    }
    const size_t zold = zbuf_.size();
    zbuf_.resize(zold + kReadChunk);
    auto n = co_await read_some(zbuf_.data() + zold, kReadChunk);
    zbuf_.resize(zold + (n ? *n : 0));
    if (!n) {
      rbuf_.resize(old);
      co_return n.take_error();
    }
  }
}

awaitable<Result<size_t>> Connection::read_some(char* dst, size_t len) {
  boost::system::error_code ec;
  arm_timer(idle_timeout_);
  size_t n = co_await std::visit(
      [&](auto& s) {
        return s.async_read_some(asio::buffer(dst, len),
                                 asio::redirect_error(asio::use_awaitable, ec));
      },
      stream_);
  disarm_timer();
  if (!ec) co_return n;
  if (timed_out_) co_return fail(EndReason::IdleTimeout, "idle timeout while reading");
  if (ec == asio::error::operation_aborted && waiting_for_line_ && shutdown_requested_)
    co_return fail(EndReason::Shutdown, "read cancelled by shutdown");
  if (ec == asio::error::eof || ec == asio::ssl::error::stream_truncated ||
      ec == asio::error::connection_reset)
    co_return fail(EndReason::Eof, ec.message());
  if (ec.category() == asio::error::get_ssl_category()) co_return fail(EndReason::Tls, ec.message());
  co_return fail(EndReason::Io, "read: " + ec.message());
}

awaitable<Result<std::string>> Connection::read_line(size_t max_len, ReadMode mode) {
  end_reason_ = EndReason::None;
  for (;;) {
    if (mode == ReadMode::Idle && shutdown_requested_)
      co_return fail(EndReason::Shutdown, "shutdown requested");
    if (skipping_line_) {
      auto lf = rbuf_.find('\n', rpos_);
      if (lf == std::string::npos) {
        rpos_ = rbuf_.size();
      } else {
        rpos_ = lf + 1;
        skipping_line_ = false;
      }
    }
    if (!skipping_line_) {
      auto lf = rbuf_.find('\n', rpos_);
      if (lf != std::string::npos) {
        size_t end = lf;
        if (end > rpos_ && rbuf_[end - 1] == '\r') --end;
        size_t len = end - rpos_;
        size_t start = rpos_;
        rpos_ = lf + 1;
        if (len > max_len)
          co_return fail(EndReason::LineTooLong, "line of " + std::to_string(len) + " bytes");
        co_return rbuf_.substr(start, len);
      }
      // +1: the CR of a CRLF may be all that is still missing.
      if (buffered() > max_len + 1) {
        skipping_line_ = true;
        rpos_ = rbuf_.size();
        co_return fail(EndReason::LineTooLong, "line longer than " + std::to_string(max_len));
      }
    }
    waiting_for_line_ = (mode == ReadMode::Idle);
    Status st = co_await fill();
    waiting_for_line_ = false;
    if (!st) co_return st.take_error();
  }
}

awaitable<Result<std::string>> Connection::read_exact(size_t n) {
  end_reason_ = EndReason::None;
  if (n > kMaxExactRead) co_return fail(EndReason::TooBig, "read_exact of " + std::to_string(n));
  std::string out;
  out.reserve(std::min<size_t>(n, 1 << 20));
  while (out.size() < n) {
    if (buffered() == 0) {
      Status st = co_await fill();
      if (!st) co_return st.take_error();
    }
    size_t take = std::min(buffered(), n - out.size());
    out.append(rbuf_, rpos_, take);
    rpos_ += take;
  }
  co_return out;
}

awaitable<Result<std::string_view>> Connection::peek_some() {
  end_reason_ = EndReason::None;
  if (buffered() == 0) {
    Status st = co_await fill();
    if (!st) co_return st.take_error();
  }
  co_return std::string_view(rbuf_).substr(rpos_);
}

awaitable<Status> Connection::read_to_file(size_t n, int fd) {
  end_reason_ = EndReason::None;
  if (n > kMaxExactRead) co_return fail(EndReason::TooBig, "read_to_file of " + std::to_string(n));
  size_t left = n;
  while (left > 0) {
    if (buffered() == 0) {
      Status st = co_await fill();
      if (!st) co_return st;
    }
    size_t take = std::min(buffered(), left);
    const char* p = rbuf_.data() + rpos_;
    size_t done = 0;
    while (done < take) {
      ssize_t w = ::write(fd, p + done, take - done);
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) {
        // Consume the rest of the data so the protocol stream stays in step.
        rpos_ += take;
        left -= take;
        std::string err = w < 0 ? strerror(errno) : "short write";
        while (left > 0) {
          if (buffered() == 0) {
            Status st = co_await fill();
            if (!st) co_return st;
          }
          size_t skip = std::min(buffered(), left);
          rpos_ += skip;
          left -= skip;
        }
        end_reason_ = EndReason::Io;
        co_return Error(Errc::Io, "Cannot store data", "write to file: " + err);
      }
      done += static_cast<size_t>(w);
    }
    rpos_ += take;
    left -= take;
  }
  co_return ok_status();
}

awaitable<Status> Connection::flush() {
  end_reason_ = EndReason::None;
  if (wbuf_.empty()) co_return ok_status();
  std::string out;
  out.swap(wbuf_);
  if (codec_) {
    // Compressed here, before any co_await, so flushes reach the deflate
    // stream in the order they were made.
    std::string plain;
    plain.swap(out);
    Status st = codec_->compress(plain, out);
    if (!st) co_return fail(EndReason::Io, st.error().describe());
  }
  boost::system::error_code ec;
  arm_timer(idle_timeout_);
  co_await std::visit(
      [&](auto& s) {
        return asio::async_write(s, asio::buffer(out), asio::redirect_error(asio::use_awaitable, ec));
      },
      stream_);
  disarm_timer();
  if (!ec) co_return ok_status();
  if (timed_out_) co_return fail(EndReason::IdleTimeout, "idle timeout while writing");
  if (ec == asio::error::broken_pipe || ec == asio::error::connection_reset)
    co_return fail(EndReason::Eof, ec.message());
  if (ec.category() == asio::error::get_ssl_category()) co_return fail(EndReason::Tls, ec.message());
  co_return fail(EndReason::Io, "write: " + ec.message());
}

Status Connection::start_compress() {
  end_reason_ = EndReason::None;
  if (codec_) return Error(Errc::Invalid, "Compression already active");
  auto codec = DeflateCodec::create();
  if (!codec) return codec.take_error();
  codec_ = std::move(*codec);
  // What follows the command line was compressed by the client.
  zbuf_.assign(rbuf_, rpos_, std::string::npos);
  zpos_ = 0;
  rbuf_.clear();
  rpos_ = 0;
  return ok_status();
}

awaitable<Status> Connection::start_tls(std::shared_ptr<asio::ssl::context> ctx) {
  end_reason_ = EndReason::None;
  if (tls_) co_return Error(Errc::Invalid, "TLS already active");
  // RFC 4978 section 4: TLS goes below compression, never above it.
  if (codec_) co_return Error(Errc::Invalid, "TLS after COMPRESS");
  if (!ctx) co_return Error(Errc::Unavailable, "TLS not available");
  if (buffered() > 0) {
    CYR_LOG(Warning, sid_, "discarding %zu bytes of plaintext sent before the TLS handshake",
            buffered());
  }
  rbuf_.clear();
  rpos_ = 0;
  skipping_line_ = false;
  if (auto* tcp = std::get_if<TcpSocket>(&stream_)) {
    TcpSocket s = std::move(*tcp);
    stream_.emplace<TlsTcp>(std::move(s), *ctx);
  } else if (auto* un = std::get_if<UnixSocket>(&stream_)) {
    UnixSocket s = std::move(*un);
    stream_.emplace<TlsUnix>(std::move(s), *ctx);
  }
  tls_ctx_ = std::move(ctx);
  tls_ = true;
  boost::system::error_code ec;
  arm_timer(idle_timeout_ > std::chrono::steady_clock::duration::zero()
                ? std::min<std::chrono::steady_clock::duration>(idle_timeout_, kDefaultHandshakeTimeout)
                : kDefaultHandshakeTimeout);
  if (auto* t = std::get_if<TlsTcp>(&stream_))
    co_await t->async_handshake(asio::ssl::stream_base::server,
                                asio::redirect_error(asio::use_awaitable, ec));
  else if (auto* u = std::get_if<TlsUnix>(&stream_))
    co_await u->async_handshake(asio::ssl::stream_base::server,
                                asio::redirect_error(asio::use_awaitable, ec));
  disarm_timer();
  if (!ec) co_return ok_status();
  if (timed_out_) co_return fail(EndReason::Tls, "TLS handshake timed out");
  co_return fail(EndReason::Tls, "TLS handshake: " + ec.message());
}

awaitable<void> Connection::shutdown_and_close() {
  boost::system::error_code ec;
  if (tls_) {
    // close_notify; the peer's answer is not worth waiting for long.
    arm_timer(kCloseNotifyTimeout);
    if (auto* t = std::get_if<TlsTcp>(&stream_))
      co_await t->async_shutdown(asio::redirect_error(asio::use_awaitable, ec));
    else if (auto* u = std::get_if<TlsUnix>(&stream_))
      co_await u->async_shutdown(asio::redirect_error(asio::use_awaitable, ec));
    disarm_timer();
  }
  std::visit([](auto& s) {
    boost::system::error_code ignored;
    s.lowest_layer().shutdown(asio::socket_base::shutdown_both, ignored);
    s.lowest_layer().close(ignored);
  }, stream_);
}

}  // namespace cyr::server::net
