// Is a cyr_master running on this configdirectory? The master holds an
// exclusive flock on {configdirectory}/cyrus-master.pid for its whole life
// (server/pid_file.h), also when -p names another pid file (it then holds
// both: ops/master_main.cpp), so a shared non-blocking lock attempt answers
// it without racing a master that is starting. Repair commands that replace
// a database file (cyr_reconstruct -m, cyr_cyrusdb --restore) refuse while
// it is held. Header-only; single-threaded command start-up.
#pragma once

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <optional>
#include <string>

namespace cyr::ops::adm {

inline std::filesystem::path master_pid_path(const std::filesystem::path& configdirectory) {
  return configdirectory / "cyrus-master.pid";
}

// The running master's pid (as written in the pid file), or nullopt.
inline std::optional<std::string> running_master(const std::filesystem::path& configdirectory) {
  auto path = master_pid_path(configdirectory);
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  std::optional<std::string> holder;
  if (::flock(fd, LOCK_SH | LOCK_NB) != 0) {
    char buf[32] = {};
    ssize_t n = ::pread(fd, buf, sizeof buf - 1, 0);
    holder = n > 0 ? std::string(buf, std::strcspn(buf, "\n")) : std::string("?");
  } else {
    ::flock(fd, LOCK_UN);
  }
  ::close(fd);
  return holder;
}

}  // namespace cyr::ops::adm
