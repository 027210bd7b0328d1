#include "failover/net.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "store/base/log.h"
#include "store/base/thread_name.h"

namespace cyr::failover {
namespace {

using Clock = std::chrono::steady_clock;

int remaining_ms(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return left <= 0 ? 0 : static_cast<int>(left);
}

struct Fd {
  int fd = -1;
  explicit Fd(int f) : fd(f) {}
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
};

Result<int> connect_one(const addrinfo* ai, Clock::time_point deadline) {
  int fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
  if (fd < 0) return Error(Errc::Io, "socket failed", strerror(errno));
  int r = ::connect(fd, ai->ai_addr, ai->ai_addrlen);
  if (r < 0 && errno != EINPROGRESS) {
    int e = errno;
    ::close(fd);
    return Error(Errc::Temp, "connection refused", strerror(e));
  }
  if (r < 0) {
    pollfd p{fd, POLLOUT, 0};
    int n = ::poll(&p, 1, remaining_ms(deadline));
    int err = 0;
    socklen_t len = sizeof err;
    if (n <= 0 || ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err != 0) {
      ::close(fd);
      return Error(Errc::Temp, n == 0 ? "connect timed out" : "connection refused",
                   err ? strerror(err) : "");
    }
  }
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

Status send_all(int fd, std::string_view data, Clock::time_point deadline) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n > 0) {
      data.remove_prefix(static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno != EAGAIN && errno != EINTR) return Error(Errc::Temp, "send failed", strerror(errno));
    pollfd p{fd, POLLOUT, 0};
    if (::poll(&p, 1, remaining_ms(deadline)) <= 0) return Error(Errc::Temp, "send timed out");
  }
  return {};
}

// Reads until the buffer holds a complete reply (a final OK/NO line), bounded.
Result<std::string> read_reply(int fd, Clock::time_point deadline) {
  std::string buf;
  // The reply's lines and, on an authenticated connection, its MAC line.
  const size_t cap = (kMaxReplyLines + 2) * (kMaxLine + 2);
  size_t scanned = 0;
  for (;;) {
    // Is there a final line?
    for (;;) {
      size_t nl = buf.find('\n', scanned);
      if (nl == std::string::npos) break;
      std::string_view line(buf.data() + scanned, nl - scanned);
      scanned = nl + 1;
      if (!line.starts_with("* ")) return buf.substr(0, scanned);
    }
    if (buf.size() > cap) return Error(Errc::Limit, "reply too long");
    pollfd p{fd, POLLIN, 0};
    int n = ::poll(&p, 1, remaining_ms(deadline));
    if (n <= 0) return Error(Errc::Temp, "no reply in time");
    char tmp[2048];
    ssize_t got = ::recv(fd, tmp, sizeof tmp, 0);
    if (got == 0) return Error(Errc::Temp, "connection closed before the reply");
    if (got < 0) {
      if (errno == EAGAIN || errno == EINTR) continue;
      return Error(Errc::Temp, "receive failed", strerror(errno));
    }
    buf.append(tmp, static_cast<size_t>(got));
  }
}

std::string peer_name(const sockaddr_storage& ss) {
  char host[INET6_ADDRSTRLEN] = "?";
  if (ss.ss_family == AF_INET)
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in&>(ss).sin_addr, host, sizeof host);
  else if (ss.ss_family == AF_INET6)
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6&>(ss).sin6_addr, host, sizeof host);
  return host;
}

}  // namespace

Result<HostPort> parse_host_port(std::string_view s) {
  HostPort hp;
  if (s.starts_with("[")) {
    size_t close = s.find(']');
    if (close == std::string_view::npos || close + 1 >= s.size() || s[close + 1] != ':')
      return Error(Errc::Invalid, "address must be [host]:port");
    hp.host = std::string(s.substr(1, close - 1));
    hp.port = std::string(s.substr(close + 2));
  } else {
    size_t colon = s.rfind(':');
    if (colon == std::string_view::npos) return Error(Errc::Invalid, "address must be host:port");
    hp.host = std::string(s.substr(0, colon));
    hp.port = std::string(s.substr(colon + 1));
  }
  if (hp.host.empty() || hp.port.empty() || hp.host.size() > 255 || hp.port.size() > 32)
    return Error(Errc::Invalid, "address must be host:port");
  return hp;
}

Result<Reply> exchange(const std::string& address, const std::string& request,
                       std::chrono::milliseconds timeout, const std::string& secret) {
  auto deadline = Clock::now() + timeout;
  auto hp = parse_host_port(address);
  if (!hp.ok()) return hp.take_error();
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (int e = ::getaddrinfo(hp->host.c_str(), hp->port.c_str(), &hints, &res); e != 0)
    return Error(Errc::Temp, "cannot resolve " + address, gai_strerror(e));
  Result<int> fd = Error(Errc::Temp, "no address for " + address);
  for (addrinfo* ai = res; ai; ai = ai->ai_next) {
    fd = connect_one(ai, deadline);
    if (fd.ok()) break;
  }
  ::freeaddrinfo(res);
  if (!fd.ok()) return fd.take_error();
  Fd guard(*fd);
  auto where = [&](const Error& e) { return Error(e.code, address + ": " + e.user_message, e.detail); };
  auto greeting_text = read_reply(*fd, deadline);
  if (!greeting_text.ok()) {
    if (greeting_text.error().code == Errc::Temp && greeting_text.error().user_message == "no reply in time")
      return Error(Errc::Temp, address + ": no greeting in time");
    return where(greeting_text.error());
  }
  auto greeting = parse_reply(*greeting_text);
  if (!greeting.ok()) return where(greeting.error());
  ClientAuth auth(secret);
  std::string tell;
  auto first = auth.on_greeting(*greeting, &tell);
  if (!first.ok()) {
    // Let the server see (and log) the mismatch too; its answer changes nothing.
    auto soon = std::min(deadline, Clock::now() + std::chrono::seconds(1));
    if (!tell.empty() && send_all(*fd, tell + "\r\n", soon).ok()) (void)read_reply(*fd, soon);
    return where(first.error());
  }
  if (*first) {
    CYR_TRY(send_all(*fd, **first + "\r\n", deadline));
    auto answer_text = read_reply(*fd, deadline);
    if (!answer_text.ok()) return where(answer_text.error());
    auto answer = parse_reply(*answer_text);
    if (!answer.ok()) return where(answer.error());
    if (Status st = auth.on_answer(*answer); !st.ok()) return where(st.error());
  }
  CYR_TRY(send_all(*fd, auth.seal(request) + "\r\n", deadline));
  auto text = read_reply(*fd, deadline);
  if (!text.ok()) return text.take_error();
  auto reply = auth.open(*text);
  if (!reply.ok()) return where(reply.error());
  return reply;
}

// ---------------------------------------------------------------------------

LineServer::~LineServer() { stop(); }

Status LineServer::start(const std::string& address, Handler handler, std::string secret) {
  CYR_TRY(check_secret(secret));
  handler_ = std::move(handler);
  secret_ = std::move(secret);
  auto hp = parse_host_port(address);
  if (!hp.ok()) return hp.take_error();
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* res = nullptr;
  const char* host = (hp->host == "*") ? nullptr : hp->host.c_str();
  if (int e = ::getaddrinfo(host, hp->port.c_str(), &hints, &res); e != 0)
    return Error(Errc::Invalid, "cannot resolve " + address, gai_strerror(e));
  int fd = ::socket(res->ai_family, res->ai_socktype | SOCK_CLOEXEC, res->ai_protocol);
  if (fd < 0) {
    ::freeaddrinfo(res);
    return Error(Errc::Io, "socket failed", strerror(errno));
  }
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (::bind(fd, res->ai_addr, res->ai_addrlen) < 0 || ::listen(fd, 64) < 0) {
    int e = errno;
    ::freeaddrinfo(res);
    ::close(fd);
    return Error(Errc::Io, "cannot listen on " + address, strerror(e));
  }
  ::freeaddrinfo(res);
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
  port_ = ntohs(ss.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6&>(ss).sin6_port
                                         : reinterpret_cast<sockaddr_in&>(ss).sin_port);
  listen_fd_ = fd;
  stop_ = false;
  accept_thread_ = std::thread([this] {
    set_thread_name("failover-net");
    accept_loop();
  });
  return {};
}

void LineServer::stop() {
  if (!accept_thread_.joinable()) return;
  stop_ = true;
  accept_thread_.join();
  ::close(listen_fd_);
  listen_fd_ = -1;
  std::unique_lock lk(mu_);
  cv_.wait(lk, [&] { return live_ == 0; });
}

void LineServer::accept_loop() {
  while (!stop_) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;  // wake up to look at stop_
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    int fd = ::accept4(listen_fd_, reinterpret_cast<sockaddr*>(&ss), &len, SOCK_CLOEXEC);
    if (fd < 0) continue;
    {
      std::lock_guard lk(mu_);
      if (live_ >= kMaxConnections) {
        ::close(fd);  // the senders retry on their next tick
        continue;
      }
      ++live_;
    }
    std::thread([this, fd, peer = peer_name(ss)] {
      serve(fd, peer);
      ::close(fd);
      std::lock_guard lk(mu_);
      --live_;
      cv_.notify_all();
    }).detach();
  }
}

void LineServer::serve(int fd, std::string peer) {
  auto auth = ServerAuth::create(secret_);
  if (!auth.ok()) {
    CYR_LOG(Error, "failover", "cannot greet %s: %s", peer.c_str(), auth.error().describe().c_str());
    return;
  }
  if (!send_all(fd, auth->greeting(), Clock::now() + std::chrono::seconds(5)).ok()) return;
  std::string buf;
  // Before authentication a client gets a short line and a short time.
  auto idle_deadline = Clock::now() + (auth->authenticated() ? std::chrono::seconds(kIdleTimeout) : kAuthTimeout);
  while (!stop_) {
    const size_t limit = auth->max_line();
    size_t nl = buf.find('\n');
    if ((nl != std::string::npos && nl > limit + 1) || (nl == std::string::npos && buf.size() > limit + 2)) {
      if (!auth->authenticated()) log_refusal(peer, "line too long before authentication");
      (void)send_all(fd, format_reply({false, "BAD line too long", {}}), Clock::now() + std::chrono::seconds(1));
      return;
    }
    if (nl != std::string::npos) {
      std::string line = buf.substr(0, nl);
      buf.erase(0, nl + 1);
      if (!line.empty() && line.back() == '\r') line.pop_back();
      auto step = auth->on_line(line);
      std::string reply = step.kind == ServerAuth::Step::Request ? auth->seal(handler_(step.request, peer)) : step.reply;
      if (step.kind == ServerAuth::Step::Refused) log_refusal(peer, step.why);
      if (!send_all(fd, reply, Clock::now() + std::chrono::seconds(5)).ok()) return;
      if (step.kind == ServerAuth::Step::Refused) return;
      idle_deadline = Clock::now() + kIdleTimeout;
      continue;
    }
    if (Clock::now() >= idle_deadline) {
      if (!auth->authenticated()) log_refusal(peer, "no authentication in time");
      return;
    }
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    char tmp[1024];
    ssize_t got = ::recv(fd, tmp, sizeof tmp, 0);
    if (got <= 0) return;
    buf.append(tmp, static_cast<size_t>(got));
  }
}

}  // namespace cyr::failover
