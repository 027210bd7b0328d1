#include "server/child_process.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <cerrno>
#include <cstring>

extern char** environ;

namespace cyr::server {

Result<pid_t> spawn_child(const ChildSpec& spec) {
  if (spec.exe.empty() || spec.argv.empty()) return Error(Errc::Invalid, "empty command");
  std::vector<char*> argv;
  for (const std::string& a : spec.argv) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);

  posix_spawnattr_t attr;
  posix_spawn_file_actions_t actions;
  posix_spawnattr_init(&attr);
  posix_spawn_file_actions_init(&actions);
  // The master blocks and catches signals; a child must start clean.
  sigset_t empty, all;
  sigemptyset(&empty);
  sigfillset(&all);
  sigdelset(&all, SIGKILL);
  sigdelset(&all, SIGSTOP);
  posix_spawnattr_setsigmask(&attr, &empty);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);

  pid_t pid = -1;
  int rc = posix_spawn(&pid, spec.exe.c_str(), &actions, &attr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (rc != 0) {
    Errc code = rc == ENOENT ? Errc::NotFound : (rc == EACCES || rc == EPERM) ? Errc::Perm : Errc::Io;
    return Error(code, "cannot run " + spec.exe, strerror(rc));
  }
  return pid;
}

Result<int> wait_child(pid_t pid) {
  for (;;) {
    int status = 0;
    pid_t r = waitpid(pid, &status, 0);
    if (r == pid) return status;
    if (r < 0 && errno == EINTR) continue;
    return Error(Errc::Io, "waitpid failed", strerror(errno));
  }
}

std::vector<ChildExit> reap_children(const std::vector<pid_t>& pids) {
  std::vector<ChildExit> out;
  for (pid_t pid : pids) {
    int status = 0;
    pid_t r;
    do r = waitpid(pid, &status, WNOHANG);
    while (r < 0 && errno == EINTR);
    if (r == pid) out.push_back({r, status});
  }
  return out;
}

std::string describe_wait_status(int status) {
  if (WIFEXITED(status)) return "exit " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    int sig = WTERMSIG(status);
    return "killed by signal " + std::to_string(sig) + " (" + strsignal(sig) + ")";
  }
  return "status " + std::to_string(status);
}

}  // namespace cyr::server
