#include "server/pid_file.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace cyr::server {

Result<PidFile> PidFile::create(const std::filesystem::path& path) {
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0)
    return Error(Errc::Io, "cannot open pid file " + path.string(), strerror(errno));
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    int err = errno;
    char buf[32] = {};
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    ::close(fd);
    if (err == EWOULDBLOCK) {
      std::string holder = n > 0 ? std::string(buf, strcspn(buf, "\n")) : "?";
      return Error(Errc::InUse, "another cyr_master (pid " + holder + ") holds " + path.string());
    }
    return Error(Errc::Io, "cannot lock pid file " + path.string(), strerror(err));
  }
  char buf[32];
  int len = snprintf(buf, sizeof buf, "%d\n", static_cast<int>(getpid()));
  if (ftruncate(fd, 0) != 0 || pwrite(fd, buf, len, 0) != len) {
    int err = errno;
    ::close(fd);
    return Error(Errc::Io, "cannot write pid file " + path.string(), strerror(err));
  }
  return PidFile(path, fd);
}

PidFile::PidFile(PidFile&& other) noexcept : path_(std::move(other.path_)), fd_(other.fd_) {
  other.fd_ = -1;
}

PidFile::~PidFile() { remove(); }

void PidFile::remove() {
  if (fd_ < 0) return;
  // Unlink while still holding the lock, so no other master can lock the
  // old inode in between and then lose its file.
  ::unlink(path_.c_str());
  ::close(fd_);
  fd_ = -1;
}

Status daemonize() {
  pid_t pid = fork();
  if (pid < 0) return Error(Errc::Io, "fork failed", strerror(errno));
  if (pid > 0) _exit(0);
  if (setsid() < 0) return Error(Errc::Io, "setsid failed", strerror(errno));
  // The second fork makes sure we are not a session leader, so we can never
  // acquire a controlling terminal again.
  pid = fork();
  if (pid < 0) return Error(Errc::Io, "fork failed", strerror(errno));
  if (pid > 0) _exit(0);
  if (chdir("/") != 0) return Error(Errc::Io, "chdir / failed", strerror(errno));
  umask(027);
  int devnull = ::open("/dev/null", O_RDWR);
  if (devnull < 0) return Error(Errc::Io, "cannot open /dev/null", strerror(errno));
  dup2(devnull, 0);
  dup2(devnull, 1);
  dup2(devnull, 2);
  if (devnull > 2) ::close(devnull);
  return ok_status();
}

}  // namespace cyr::server
