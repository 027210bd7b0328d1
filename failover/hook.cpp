#include "failover/hook.h"

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>
#include <vector>

#include "store/base/log.h"

extern char** environ;

namespace cyr::failover {
namespace {

void run_and_wait(const std::string& program, const HookEvent& ev) {
  std::string epoch = std::to_string(ev.epoch);
  std::vector<std::string> args = {program, ev.role, epoch, ev.peer, ev.reason};
  std::vector<std::string> env_strings;
  for (char** e = environ; e && *e; ++e)
    if (strncmp(*e, "CYRUS_FAILOVER_", 15) != 0) env_strings.emplace_back(*e);
  env_strings.push_back("CYRUS_FAILOVER_ROLE=" + ev.role);
  env_strings.push_back("CYRUS_FAILOVER_EPOCH=" + epoch);
  env_strings.push_back("CYRUS_FAILOVER_PEER=" + ev.peer);
  env_strings.push_back("CYRUS_FAILOVER_REASON=" + ev.reason);
  std::vector<char*> argv, envp;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  for (auto& e : env_strings) envp.push_back(e.data());
  envp.push_back(nullptr);
  pid_t pid = 0;
  int rc = posix_spawn(&pid, program.c_str(), nullptr, nullptr, argv.data(), envp.data());
  if (rc != 0) {
    CYR_LOG(Error, "failover", "failover_hook %s could not run: %s", program.c_str(), strerror(rc));
    return;
  }
  auto deadline = std::chrono::steady_clock::now() + kHookTimeout;
  int status = 0;
  for (;;) {
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) break;
    if (r < 0 && errno != EINTR) return;
    if (std::chrono::steady_clock::now() >= deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      CYR_LOG(Error, "failover", "failover_hook %s killed after %lld s", program.c_str(),
              static_cast<long long>(kHookTimeout.count()));
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
    CYR_LOG(Notice, "failover", "failover_hook %s %s %s done", program.c_str(), ev.role.c_str(), epoch.c_str());
  else
    CYR_LOG(Error, "failover", "failover_hook %s %s %s failed (status %d)", program.c_str(), ev.role.c_str(),
            epoch.c_str(), status);
}

}  // namespace

HookRunner make_hook_runner(std::string program) {
  return [program = std::move(program)](const HookEvent& ev) {
    if (program.empty()) return;
    std::thread([program, ev] { run_and_wait(program, ev); }).detach();
  };
}

}  // namespace cyr::failover
