// See notify.h.
#include "store/notify.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <string>

#include "store/base/log.h"
#include "store/base/thread_name.h"

namespace cyr::store {
namespace fs = std::filesystem;

namespace {

constexpr std::string_view kMagic = "CYRN1 ";
constexpr size_t kMaxUniqueid = 128;

// Calls fn(addr, len) with a sockaddr_un naming `path`. A path too long for
// sun_path (a deep configdirectory) is reached through its directory's
// descriptor, /proc/self/fd/N/<name>, which bind() and connect() resolve
// like any path. Returns false if neither form can be built.
template <typename Fn>
bool with_address(const fs::path& path, Fn&& fn) {
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  const std::string& p = path.native();
  if (p.size() < sizeof a.sun_path) {
    std::memcpy(a.sun_path, p.c_str(), p.size() + 1);
    fn(reinterpret_cast<sockaddr*>(&a), static_cast<socklen_t>(sizeof a));
    return true;
  }
  int dir = ::open(path.parent_path().c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0) return false;
  std::string via = "/proc/self/fd/" + std::to_string(dir) + "/" + path.filename().string();
  bool ok = via.size() < sizeof a.sun_path;
  if (ok) {
    std::memcpy(a.sun_path, via.c_str(), via.size() + 1);
    fn(reinterpret_cast<sockaddr*>(&a), static_cast<socklen_t>(sizeof a));
  }
  ::close(dir);
  return ok;
}

bool valid_uniqueid(std::string_view id) {
  if (id.empty() || id.size() > kMaxUniqueid) return false;
  for (char c : id)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-')) return false;
  return true;
}

}  // namespace

fs::path notify_socket_path(const fs::path& configdirectory) { return configdirectory / "store-notify.sock"; }

bool parse_notify_datagram(std::string_view d, MailboxEvent& out) {
  if (d.size() > kMaxNotifyDatagram || !d.starts_with(kMagic)) return false;
  d.remove_prefix(kMagic.size());
  size_t sp = d.find(' ');
  if (sp == std::string_view::npos || sp == 0 || sp > 10) return false;
  uint32_t what = 0;
  auto [end, ec] = std::from_chars(d.data(), d.data() + sp, what);
  if (ec != std::errc() || end != d.data() + sp) return false;
  std::string_view id = d.substr(sp + 1);
  if (!valid_uniqueid(id)) return false;
  out = MailboxEvent{};
  out.uniqueid = std::string(id);
  out.what = what;
  return true;
}

Result<std::unique_ptr<NotifyListener>> NotifyListener::start(const fs::path& configdirectory,
                                                              std::function<void(const MailboxEvent&)> on_event) {
  std::unique_ptr<NotifyListener> l(new NotifyListener());
  l->path_ = notify_socket_path(configdirectory);
  l->on_event_ = std::move(on_event);
  auto fail = [&](const char* what) {
    return Error(Errc::Io, "Mailbox store I/O error",
                 std::string(what) + " " + l->path_.string() + ": " + std::strerror(errno));
  };
  l->sock_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (l->sock_ < 0) return fail("socket");
  // A socket file left by a primary that died: only one primary opens a
  // store directory (the master's pid file lock), so it is stale.
  ::unlink(l->path_.c_str());
  int rc = -1;
  if (!with_address(l->path_, [&](const sockaddr* a, socklen_t n) { rc = ::bind(l->sock_, a, n); }) || rc != 0)
    return fail("bind");
  struct stat st {};
  if (::stat(l->path_.c_str(), &st) == 0) {
    l->file_dev_ = st.st_dev;
    l->file_ino_ = st.st_ino;
  }
  l->stop_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (l->stop_fd_ < 0) return fail("eventfd");
  l->thread_ = std::thread([p = l.get()] {
    set_thread_name("notify");
    p->run();
  });
  return l;
}

NotifyListener::~NotifyListener() {
  if (thread_.joinable()) {
    uint64_t one = 1;
    (void)!::write(stop_fd_, &one, sizeof one);
    thread_.join();
  }
  if (sock_ >= 0) {
    // Remove the file only if it is still the one we bound (a later primary
    // may have replaced it).
    struct stat there {};
    if (::stat(path_.c_str(), &there) == 0 && there.st_dev == file_dev_ && there.st_ino == file_ino_)
      ::unlink(path_.c_str());
    ::close(sock_);
  }
  if (stop_fd_ >= 0) ::close(stop_fd_);
}

void NotifyListener::run() {
  char buf[kMaxNotifyDatagram + 1];
  for (;;) {
    pollfd fds[2] = {{sock_, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
    int n = ::poll(fds, 2, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      CYR_LOG(Warning, "store", "change notification stopped: poll: %s", std::strerror(errno));
      return;
    }
    if (fds[1].revents) return;
    // Drain what is queued; a burst of commits is then one wake-up each.
    for (int i = 0; i < 1024; ++i) {
      ssize_t got = ::recv(sock_, buf, sizeof buf, MSG_DONTWAIT | MSG_TRUNC);
      if (got < 0) break;  // EAGAIN: drained
      if (static_cast<size_t>(got) > kMaxNotifyDatagram) continue;  // too long: not ours
      MailboxEvent ev;
      if (parse_notify_datagram(std::string_view(buf, static_cast<size_t>(got)), ev)) on_event_(ev);
    }
  }
}

void notify_primary(const fs::path& configdirectory, const std::vector<MailboxEvent>& events) {
  if (events.empty()) return;
  int s = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (s < 0) return;
  (void)with_address(notify_socket_path(configdirectory), [&](const sockaddr* a, socklen_t n) {
    for (const auto& ev : events) {
      if (!valid_uniqueid(ev.uniqueid)) continue;
      std::string d = std::string(kMagic) + std::to_string(ev.what) + " " + ev.uniqueid;
      // ENOENT/ECONNREFUSED: no primary listens; EAGAIN: its queue is full.
      // Either way the wake-up is dropped, never waited for.
      if (::sendto(s, d.data(), d.size(), MSG_DONTWAIT | MSG_NOSIGNAL, a, n) < 0 &&
          (errno == ENOENT || errno == ECONNREFUSED))
        break;
    }
  });
  ::close(s);
}

}  // namespace cyr::store
