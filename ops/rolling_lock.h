// The one-consumer rule of rolling replication: the store's change log is a
// single queue that its reader acknowledges (destructively), so two rolling
// clients on one store - the thread inside cyr_master and a `sync_client -r`
// DAEMON entry, or an admin's manual `cyr_sync_client -r` - would each
// replicate only part of the changes. Whoever runs rolling replication holds
// an exclusive flock on {configdirectory}/sync/rolling.lock for as long as it
// runs; the lock dies with the process, so a kill -9 never leaves it stale.
// Header-only; used by ops/register_sync.cpp and ops/sync_client.cpp.
#pragma once

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <string>

#include "store/base/result.h"

namespace cyr::ops {

class RollingLock {
 public:
  RollingLock() = default;
  RollingLock(const RollingLock&) = delete;
  RollingLock& operator=(const RollingLock&) = delete;
  RollingLock(RollingLock&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  RollingLock& operator=(RollingLock&& o) noexcept {
    if (this != &o) {
      if (fd_ >= 0) ::close(fd_);
      fd_ = o.fd_;
      o.fd_ = -1;
    }
    return *this;
  }
  ~RollingLock() {
    if (fd_ >= 0) ::close(fd_);  // releases the flock
  }

  static std::filesystem::path path_for(const std::filesystem::path& configdirectory) {
    return configdirectory / "sync" / "rolling.lock";
  }

  // Ok and held; Errc::InUse when another process or thread holds it (the
  // holder's pid is in the message); Io if the file cannot be opened.
  static Result<RollingLock> try_acquire(const std::filesystem::path& configdirectory) {
    auto p = path_for(configdirectory);
    std::error_code ec;
    std::filesystem::create_directories(p.parent_path(), ec);
    int fd = ::open(p.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0) return Error(Errc::Io, "Cannot open " + p.string(), strerror(errno));
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      int err = errno;
      char buf[32] = {};
      ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
      ::close(fd);
      if (err != EWOULDBLOCK) return Error(Errc::Io, "Cannot lock " + p.string(), strerror(err));
      std::string holder = n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string("?");
      while (!holder.empty() && (holder.back() == '\n' || holder.back() == '\0')) holder.pop_back();
      return Error(Errc::InUse, "Rolling replication already runs (pid " + holder + ")", p.string());
    }
    std::string pid = std::to_string(::getpid()) + "\n";
    if (::ftruncate(fd, 0) == 0) (void)!::pwrite(fd, pid.data(), pid.size(), 0);
    RollingLock l;
    l.fd_ = fd;
    return l;
  }

  bool held() const { return fd_ >= 0; }

 private:
  int fd_ = -1;
};

}  // namespace cyr::ops
