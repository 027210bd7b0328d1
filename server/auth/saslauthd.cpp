#include "server/auth/saslauthd.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

namespace cyr::auth {
namespace {

using Clock = std::chrono::steady_clock;

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

Error unavailable(const std::string& why) {
  return Error(Errc::Temp, "Authentication service unavailable", "saslauthd: " + why);
}

// Waits until fd is ready for events or the deadline passes.
Status wait_ready(int fd, short events, Clock::time_point deadline) {
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) return unavailable("timeout");
    pollfd p{fd, events, 0};
    int rc = poll(&p, 1, static_cast<int>(left.count()));
    if (rc > 0) return ok_status();
    if (rc == 0) return unavailable("timeout");
    if (errno != EINTR) return unavailable(std::string("poll: ") + strerror(errno));
  }
}

Status send_all(int fd, std::string_view data, Clock::time_point deadline) {
  while (!data.empty()) {
    ssize_t n = send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n > 0) {
      data.remove_prefix(static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      CYR_TRY(wait_ready(fd, POLLOUT, deadline));
      continue;
    }
    return unavailable(std::string("send: ") + strerror(errno));
  }
  return ok_status();
}

Status recv_exact(int fd, char* buf, size_t len, Clock::time_point deadline) {
  size_t got = 0;
  while (got < len) {
    ssize_t n = recv(fd, buf + got, len - got, 0);
    if (n > 0) {
      got += static_cast<size_t>(n);
      continue;
    }
    if (n == 0) return unavailable("connection closed before a complete reply");
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      CYR_TRY(wait_ready(fd, POLLIN, deadline));
      continue;
    }
    return unavailable(std::string("recv: ") + strerror(errno));
  }
  return ok_status();
}

void append_counted(std::string& out, std::string_view s) {
  out.push_back(static_cast<char>((s.size() >> 8) & 0xFF));
  out.push_back(static_cast<char>(s.size() & 0xFF));
  out.append(s);
}

}  // namespace

Result<SaslauthdReply> saslauthd_check(const std::filesystem::path& socket_path,
                                       const SaslauthdRequest& request,
                                       std::chrono::milliseconds timeout) {
  for (const std::string* f : {&request.login, &request.password, &request.service, &request.realm})
    if (f->size() > kMaxSaslauthdField)
      return Error(Errc::Limit, "Credentials too long", "saslauthd: field over 1024 bytes");

  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  const std::string& path = socket_path.native();
  if (path.empty() || path.size() >= sizeof addr.sun_path)
    return Error(Errc::Invalid, "Authentication service misconfigured",
                 "saslauthd: socket path empty or too long: " + path);
  memcpy(addr.sun_path, path.data(), path.size());

  auto deadline = Clock::now() + timeout;
  Fd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (fd.get() < 0) return unavailable(std::string("socket: ") + strerror(errno));
  if (connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    // The FAQ's words, so that operators find the answer there (seed 002).
    if (errno != EINPROGRESS && errno != EAGAIN)
      return unavailable(std::string("cannot connect to saslauthd server: ") + strerror(errno));
    CYR_TRY(wait_ready(fd.get(), POLLOUT, deadline));
    int err = 0;
    socklen_t len = sizeof err;
    getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) return unavailable(std::string("cannot connect to saslauthd server: ") + strerror(err));
  }

  std::string req;
  req.reserve(8 + request.login.size() + request.password.size() + request.service.size() +
              request.realm.size());
  append_counted(req, request.login);
  append_counted(req, request.password);
  append_counted(req, request.service);
  append_counted(req, request.realm);
  Status sent = send_all(fd.get(), req, deadline);
  std::fill(req.begin(), req.end(), '\0');  // the password was in it
  CYR_TRY(sent);

  unsigned char hdr[2];
  CYR_TRY(recv_exact(fd.get(), reinterpret_cast<char*>(hdr), 2, deadline));
  size_t len = (size_t(hdr[0]) << 8) | hdr[1];
  if (len > kMaxSaslauthdReply)
    return Error(Errc::Io, "Authentication service error", "saslauthd: reply too long");
  std::string text(len, '\0');
  CYR_TRY(recv_exact(fd.get(), text.data(), len, deadline));

  SaslauthdReply reply;
  if (text.starts_with("OK")) {
    reply.accepted = true;
  } else if (text.starts_with("NO")) {
    reply.accepted = false;
  } else {
    return Error(Errc::Io, "Authentication service error", "saslauthd: garbled reply");
  }
  // Keep only printable bytes: the text goes into logs.
  for (char& c : text)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F) c = '?';
  reply.text = std::move(text);
  return reply;
}

}  // namespace cyr::auth
