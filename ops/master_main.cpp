// cyr_master: runs one node (Cyrus master(8)): the command line, logging,
// daemonizing and the pid file; server/master.h does the rest.
//
//   cyr_master [-C imapd.conf] [-M cyrus.conf] [-d] [-p pidfile] [-l backlog]
//              [-T io-threads] [-B blocking-threads] [-g grace-seconds]
#include <limits.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "failover/initial_role.h"
#include "ops/adm/node_lock.h"
#include "ops/commands.h"
#include "server/master.h"
#include "server/node_store.h"
#include "server/pid_file.h"
#include "server/service_registry.h"
#include "store/base/log.h"
#include "store/config/imapd_conf.h"
#include "store/config/paths.h"

namespace cyr::ops {
namespace {

constexpr int kExitUsage = 64;     // EX_USAGE
constexpr int kExitTempFail = 75;  // EX_TEMPFAIL

int usage(const char* why) {
  if (why) fprintf(stderr, "cyr_master: %s\n", why);
  fprintf(stderr,
          "usage: cyr_master [-C imapd.conf] [-M cyrus.conf] [-d] [-p pidfile] [-l backlog]\n"
          "                  [-T io-threads] [-B blocking-threads] [-g grace-seconds]\n"
          "  -C  imapd.conf (default /etc/imapd.conf)\n"
          "  -M  cyrus.conf (default /etc/cyrus.conf)\n"
          "  -d  run as a daemon (detach, log to syslog)\n"
          "  -p  pid file (default {configdirectory}/cyrus-master.pid)\n"
          "  -l  listen backlog (default 128)\n"
          "  -T  I/O threads (default: one per core)\n"
          "  -B  blocking-work threads (default 16)\n"
          "  -g  shutdown grace period in seconds (default 10)\n");
  return kExitUsage;
}

bool parse_positive(const char* s, int max, int* out) {
  char* end = nullptr;
  long v = strtol(s, &end, 10);
  if (!*s || *end || v <= 0 || v > max) return false;
  *out = static_cast<int>(v);
  return true;
}

std::string self_executable(const char* argv0) {
  char buf[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n > 0) return std::string(buf, static_cast<size_t>(n));
  std::error_code ec;
  return std::filesystem::absolute(argv0, ec).string();
}

// The store keeps up to store_open_shards user databases open, three file
// descriptors each, and sizes that cache to the soft limit it finds when it
// opens (store/store_impl.cpp, init); a soft limit of 1,024, common for
// services, would keep the cache near 170 shards however much memory the
// node has. So the master takes the hard limit before the store opens
// (children inherit it). Failure only leaves the limit as it was.
void raise_open_file_limit() {
  struct rlimit rl;
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == rl.rlim_max) return;
  struct rlimit want = rl;
  // An unlimited hard limit is still bounded by the kernel's nr_open.
  want.rlim_cur = rl.rlim_max == RLIM_INFINITY ? rlim_t{1} << 20 : rl.rlim_max;
  if (want.rlim_cur > rl.rlim_cur) (void)::setrlimit(RLIMIT_NOFILE, &want);
}

}  // namespace

int master_main(int argc, char** argv) {
  server::MasterOptions opts;
  bool daemon_mode = false;
  std::string pid_path;
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    auto value = [&](const char* name) -> const char* {
      if (i + 1 >= argc) return nullptr;
      (void)name;
      return argv[++i];
    };
    if (a == "-d") {
      daemon_mode = true;
    } else if (a == "-C" || a == "-M" || a == "-p" || a == "-l" || a == "-T" || a == "-B" || a == "-g") {
      const char* v = value(argv[i]);
      if (!v) return usage((std::string(a) + " needs a value").c_str());
      int n = 0;
      if (a == "-C") opts.imapd_conf_path = v;
      else if (a == "-M") opts.cyrus_conf_path = v;
      else if (a == "-p") pid_path = v;
      else if (!parse_positive(v, 100000, &n)) return usage((std::string(a) + ": not a positive number").c_str());
      else if (a == "-l") opts.listen_backlog = n;
      else if (a == "-T") opts.io_threads = n;
      else if (a == "-B") opts.blocking_threads = n;
      else if (a == "-g") opts.shutdown_grace = std::chrono::seconds(n);
    } else if (a == "-h" || a == "--help") {
      usage(nullptr);
      return 0;
    } else {
      return usage(("unknown argument \"" + std::string(a) + "\"").c_str());
    }
  }

  raise_open_file_limit();

  // -d changes directory to "/": resolve relative paths first.
  std::error_code ec;
  opts.imapd_conf_path = std::filesystem::absolute(opts.imapd_conf_path, ec);
  opts.cyrus_conf_path = std::filesystem::absolute(opts.cyrus_conf_path, ec);
  if (!pid_path.empty()) pid_path = std::filesystem::absolute(pid_path, ec).string();
  opts.self_exe = self_executable(argv[0]);
  opts.has_command = [](std::string_view name) { return find_command(name) != nullptr; };

  // Read imapd.conf once up front, in the foreground, so that a broken file
  // is reported on the terminal; the master reloads it (and reports warnings).
  std::vector<config::Diagnostic> diags;
  auto conf = config::ImapdConf::load(opts.imapd_conf_path, &diags);
  if (!conf) {
    for (const auto& d : diags)
      if (d.severity == config::Diagnostic::Severity::Error)
        fprintf(stderr, "cyr_master: %s\n", d.to_string().c_str());
    fprintf(stderr, "cyr_master: %s\n", conf.error().describe().c_str());
    return server::kExitConfig;
  }
  auto paths = config::Paths::from_config(*conf);
  if (!paths) {
    fprintf(stderr, "cyr_master: %s\n", paths.error().describe().c_str());
    return server::kExitConfig;
  }
  // The node lock: ops commands find a running master by the lock on this
  // file, named from the configdirectory of their own -C (ops/adm/node_lock.h),
  // and cannot know a -p path. So the master holds it whatever -p says; with
  // -p elsewhere it holds both files. This also keeps two masters with
  // different pid files off one store.
  const std::filesystem::path node_lock_path = adm::master_pid_path(paths->configdirectory);
  if (pid_path.empty()) pid_path = node_lock_path.string();
  const bool separate_pid_file =
      std::filesystem::weakly_canonical(pid_path, ec) != std::filesystem::weakly_canonical(node_lock_path, ec);

  if (daemon_mode) {
    if (Status st = server::daemonize(); !st) {
      fprintf(stderr, "cyr_master: %s\n", st.error().describe().c_str());
      return server::kExitOsErr;
    }
  }

  log::Options lo;
  std::string prefix = conf->get_string("syslog_prefix");
  lo.prefix = (prefix.empty() ? std::string("cyrus") : prefix) + "/master";
  lo.use_syslog = daemon_mode;
  log::init(lo);

  auto pid_file = server::PidFile::create(pid_path);
  if (!pid_file) {
    CYR_LOG(Critical, "master", "cannot start: %s", pid_file.error().describe().c_str());
    return pid_file.error().code == Errc::InUse ? kExitTempFail : server::kExitOsErr;
  }
  std::optional<server::PidFile> node_lock;
  if (separate_pid_file) {
    // Made before the store opens it: the lock must exist on a first start.
    std::filesystem::create_directories(paths->configdirectory, ec);
    auto lock = server::PidFile::create(node_lock_path);
    if (!lock) {
      CYR_LOG(Critical, "master", "cannot start: %s", lock.error().describe().c_str());
      return lock.error().code == Errc::InUse ? kExitTempFail : server::kExitOsErr;
    }
    node_lock.emplace(std::move(*lock));
  }

  server::ServiceRegistry registry;
  server::register_protocol_services(registry);
  register_sync_services(registry);  // csync: ops/register_sync.cpp
  register_failover_service(registry);  // cmd="failover": ops/failover.cpp
  // The node's role at first start comes from imapd.conf; the store keeps it
  // (and, once a failover happened, decides it). Opening the store here also
  // reports a broken store before anything listens.
  auto store = server::node_store(*conf);
  if (!store) {
    CYR_LOG(Critical, "master", "cannot open the store: %s", store.error().describe().c_str());
    return server::kExitOsErr;
  }
  auto role = failover::apply_initial_role(**store, *conf);
  if (!role) {
    CYR_LOG(Critical, "master", "cannot set the node's role: %s", role.error().describe().c_str());
    return server::kExitOsErr;
  }
  CYR_LOG(Notice, "master", "role %s, epoch %llu", store::role_name(role->role),
          static_cast<unsigned long long>(role->epoch));
  int rc;
  {
    std::string cyrus_conf_path = opts.cyrus_conf_path.string();
    server::Master master(std::move(opts), registry);
    auto replication = start_replication(*conf, cyrus_conf_path);  // ops/register_sync.cpp
    auto failover = start_failover(*conf);        // ops/failover.cpp (owns replication then)
    rc = master.run();
  }
  if (node_lock) node_lock->remove();
  pid_file->remove();
  return rc;
}

}  // namespace cyr::ops
