// PidFile and daemonize(): the process side of running cyr_master as a daemon.
//
// PidFile writes our pid and holds an exclusive flock on the file for the
// life of the object, so a second master with the same pid file refuses to
// start instead of overwriting it; the destructor (or remove()) unlinks it.
// daemonize() detaches: fork, setsid, fork again, chdir("/"), umask 027,
// stdin/stdout/stderr to /dev/null. It must run before any thread starts.
// Not thread-safe (start-up and exit only).
#pragma once

#include <filesystem>
#include <string>

#include "store/base/result.h"

namespace cyr::server {

class PidFile {
 public:
  // Creates (or takes over a stale) pid file. Errc::InUse if another live
  // process holds it; Errc::Io if it cannot be written.
  static Result<PidFile> create(const std::filesystem::path& path);

  PidFile(PidFile&& other) noexcept;
  PidFile& operator=(PidFile&&) = delete;
  PidFile(const PidFile&) = delete;
  ~PidFile();

  // Unlinks the file and releases the lock. Idempotent.
  void remove();
  const std::filesystem::path& path() const { return path_; }

 private:
  PidFile(std::filesystem::path p, int fd) : path_(std::move(p)), fd_(fd) {}
  std::filesystem::path path_;
  int fd_ = -1;
};

// Detaches from the terminal. Returns in the grandchild only; the original
// process and the intermediate child exit 0. Errc::Io if a fork fails.
Status daemonize();

}  // namespace cyr::server
