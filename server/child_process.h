// Child processes of cyr_master: START, EVENTS and DAEMON entries.
//
// spawn_child() starts a program with posix_spawn (safe in a multi-threaded
// process, unlike a hand-written fork): signal mask and dispositions reset to
// defaults, stdin from /dev/null, stdout/stderr inherited. Exit statuses are
// collected by the master's SIGCHLD handler (reap_children) or, before the
// event loop runs, by wait_child. Free functions; thread-safe.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "store/base/result.h"

namespace cyr::server {

struct ChildSpec {
  std::string exe;                // path passed to exec
  std::vector<std::string> argv;  // argv[0] is what the child sees as its name
};

// Starts the child. Errc::NotFound / Errc::Perm / Errc::Io if exec fails
// (glibc's posix_spawn reports exec errors to the parent).
Result<pid_t> spawn_child(const ChildSpec& spec);

// Blocks until the child exits; returns its raw wait status.
Result<int> wait_child(pid_t pid);

struct ChildExit {
  pid_t pid;
  int status;  // raw wait status
};
// Collects those of `pids` that have exited, without blocking. Only these:
// other threads wait for children of their own (the failover hook, Sieve's
// sendmail), and a waitpid(-1) here would take their exit status from them.
std::vector<ChildExit> reap_children(const std::vector<pid_t>& pids);

// "exit 0", "exit 3", "killed by signal 9 (Killed)".
std::string describe_wait_status(int status);

}  // namespace cyr::server
