// Blocking csync client transport. See sync_transport.h.
#include "sync/sync_transport.h"

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "server/auth/base64.h"

namespace cyr::sync {

namespace {
Error io_error(const std::string& what) { return Error(Errc::Io, "Replica connection failed", what + ": " + strerror(errno)); }
}  // namespace

Result<std::unique_ptr<TcpSyncPeer>> TcpSyncPeer::connect(const TcpPeerOptions& opts) {
  int fd = -1;
  bool unix_socket = !opts.host.empty() && opts.host[0] == '/';
  if (unix_socket) {
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    if (opts.host.size() >= sizeof sa.sun_path) return Error(Errc::Invalid, "Socket path too long", opts.host);
    memcpy(sa.sun_path, opts.host.c_str(), opts.host.size() + 1);
    fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return io_error("socket");
    if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
      Error e = io_error("connect " + opts.host);
      ::close(fd);
      return e;
    }
  } else {
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* res = nullptr;
    int rc = ::getaddrinfo(opts.host.c_str(), opts.port.c_str(), &hints, &res);
    if (rc != 0) return Error(Errc::NotFound, "Cannot resolve replica host", opts.host + ": " + gai_strerror(rc));
    for (addrinfo* ai = res; ai; ai = ai->ai_next) {
      fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
      if (fd < 0) continue;
      if (::connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) break;
      ::close(fd);
      fd = -1;
    }
    ::freeaddrinfo(res);
    if (fd < 0) return io_error("connect " + opts.host + ":" + opts.port);
  }
  std::unique_ptr<TcpSyncPeer> p(new TcpSyncPeer(fd, opts));
  // Banner: capability lines up to "* OK".
  for (int i = 0; i < 64; ++i) {
    auto l = p->read_text_line();
    if (!l.ok()) return l.take_error();
    if (l->rfind("* OK", 0) == 0) break;
    if (l->rfind("* ", 0) == 0) p->caps_.push_back(l->substr(2));
    else return Error(Errc::Invalid, "Unexpected banner from replica", *l);
  }
  if (!unix_socket && !opts.authname.empty()) {
    std::string plain = std::string(1, '\0') + opts.authname + std::string(1, '\0') + opts.password;
    CYR_TRY(p->send_all("AUTHENTICATE PLAIN " + auth::base64_encode(plain) + "\r\n"));
    auto l = p->read_text_line();
    if (!l.ok()) return l.take_error();
    if (l->rfind("OK", 0) != 0) return Error(Errc::Perm, "Replica refused authentication", *l);
  }
  return p;
}

TcpSyncPeer::~TcpSyncPeer() {
  if (fd_ >= 0) ::close(fd_);
}

void TcpSyncPeer::close() {
  if (fd_ < 0) return;
  if (send_all("EXIT\r\n").ok()) (void)read_text_line();
  ::close(fd_);
  fd_ = -1;
}

Status TcpSyncPeer::send_all(std::string_view bytes) {
  if (fd_ < 0) return Error(Errc::Io, "Replica connection closed");
  while (!bytes.empty()) {
    ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return io_error("send");
    }
    bytes.remove_prefix(static_cast<size_t>(n));
    sent_ += static_cast<uint64_t>(n);
  }
  return {};
}

Result<RawLine> TcpSyncPeer::read_line() {
  LineFramer f(opts_.limits);
  for (;;) {
    if (pos_ < buf_.size()) {
      size_t n = f.feed(std::string_view(buf_).substr(pos_));
      pos_ += n;
      if (f.line_ready()) return f.take_line();
    }
    buf_.erase(0, pos_);
    pos_ = 0;
    pollfd pfd{fd_, POLLIN, 0};
    int pr = ::poll(&pfd, 1, static_cast<int>(opts_.timeout.count() * 1000));
    if (pr == 0) return Error(Errc::Temp, "Replica timed out");
    if (pr < 0 && errno != EINTR) return io_error("poll");
    char tmp[65536];
    ssize_t n = ::recv(fd_, tmp, sizeof tmp, 0);
    if (n == 0) return Error(Errc::Io, "Replica closed the connection");
    if (n < 0) {
      if (errno == EINTR) continue;
      return io_error("recv");
    }
    received_ += static_cast<uint64_t>(n);
    buf_.append(tmp, static_cast<size_t>(n));
  }
}

Result<std::vector<SyncReply>> TcpSyncPeer::call(const SyncCommand& cmd) {
  // Encode into memory: message files are at most a batch (bounded by the client).
  auto wire = encode_command(cmd);
  if (!wire.ok()) return wire.take_error();
  CYR_TRY(send_all(*wire));
  std::vector<SyncReply> out;
  for (;;) {
    auto l = read_line();
    if (!l.ok()) return l.take_error();
    auto r = parse_reply(std::move(*l), opts_.limits);
    if (!r.ok()) return r.take_error();
    bool fin = r->is_final();
    out.push_back(std::move(*r));
    if (fin) return out;
    if (out.size() > 10000000) return Error(Errc::Limit, "Too many reply lines");
  }
}

Result<std::string> TcpSyncPeer::read_text_line() {
  auto l = read_line();
  if (!l.ok()) return l.take_error();
  return std::move(l->text);
}

}  // namespace cyr::sync
