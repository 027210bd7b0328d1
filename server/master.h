// Master: one node's supervisor, the engine of cyr_master.
//
// It reads imapd.conf and cyrus.conf, runs the START entries one after the
// other to completion, starts the DAEMON entries (restarting them with
// back-off when they die), opens a listener for each SERVICES entry that a
// registered handler serves, schedules the EVENTS entries, and then serves
// connections with C++20 coroutines on a small thread pool until SIGTERM or
// SIGINT. SIGHUP reloads both files (listeners added, removed or rebound, TLS
// contexts rebuilt, events rescheduled, daemons added or removed).
//
// Readiness: once every listener is bound it writes "{configdirectory}/ports"
// (one "<service> <address>" line per bound socket; real ports, also for
// listen="127.0.0.1:0") and logs a line starting with "ready".
//
// Ownership and threads: run() owns the io_context and its threads and
// returns only when everything it started has stopped; the ServiceRegistry
// must outlive run(). request_stop() and request_reload() may be called from
// any thread.
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "server/service_registry.h"

namespace cyr::server {

struct MasterOptions {
  std::filesystem::path imapd_conf_path = "/etc/imapd.conf";
  std::filesystem::path cyrus_conf_path = "/etc/cyrus.conf";
  // Our multi-call binary; utilities (cyr_expire, cyr_cyrusdb, ...) run as
  // this executable with argv[0] = "cyr_<name>".
  std::string self_exe;
  // Which multi-call commands exist (name without "cyr_").
  std::function<bool(std::string_view)> has_command;
  int io_threads = 0;        // 0: imapd.conf master_io_threads if known, else one per core
  int blocking_threads = 0;  // 0: imapd.conf master_blocking_threads if known, else 16
  int listen_backlog = 128;  // Cyrus master -l
  // SIGTERM: how long sessions with a command in flight get to finish, and
  // how long DAEMON children get between SIGTERM and SIGKILL.
  std::chrono::milliseconds shutdown_grace{10000};
};

// Exit codes of run() (sysexits.h).
constexpr int kExitOk = 0;
constexpr int kExitConfig = 78;  // EX_CONFIG
constexpr int kExitOsErr = 71;   // EX_OSERR

class Master {
 public:
  Master(MasterOptions options, const ServiceRegistry& registry);
  ~Master();
  Master(const Master&) = delete;
  Master& operator=(const Master&) = delete;

  // Starts everything and serves until stopped. Returns kExitOk after a
  // clean stop, kExitConfig if the configuration cannot be used, kExitOsErr
  // if a listener cannot be bound and master_bind_errors_fatal is set.
  int run();

  void request_stop();
  void request_reload();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace cyr::server
