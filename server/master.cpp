#include "server/master.h"

#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/system_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <fstream>
#include <map>
#include <optional>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "server/child_process.h"
#include "server/command_map.h"
#include "server/event_schedule.h"
#include "server/net/connection.h"
#include "server/net/listen_address.h"
#include "server/net/tls.h"
#include "store/base/log.h"
#include "store/base/thread_name.h"
#include "store/config/cyrus_conf.h"
#include "store/config/paths.h"

namespace cyr::server {
namespace {

namespace asio = boost::asio;
using asio::awaitable;
using asio::use_awaitable;
using tcp = asio::ip::tcp;
using unix_proto = asio::local::stream_protocol;
using Clock = std::chrono::steady_clock;

constexpr auto kDaemonMinBackoff = std::chrono::seconds(1);
constexpr auto kDaemonMaxBackoff = std::chrono::seconds(60);
// A daemon that ran this long before dying is restarted at the minimum back-off.
constexpr auto kDaemonStableRun = std::chrono::seconds(60);
constexpr auto kPollInterval = std::chrono::milliseconds(50);
// Threads of the blocking pool unless cyrus.conf/-B/master_blocking_threads say.
constexpr int kDefaultBlockingThreads = 16;

// The configuration as loaded from disk; immutable once built.
struct LoadedConfig {
  std::shared_ptr<const config::ImapdConf> imapd;
  config::CyrusConf cyrus;
  config::Paths paths;
};

Result<LoadedConfig> load_config(const MasterOptions& opts, std::string_view sid) {
  std::vector<config::Diagnostic> diags;
  auto imapd = config::ImapdConf::load(opts.imapd_conf_path, &diags);
  auto report = [&] {
    for (const auto& d : diags) {
      if (d.severity == config::Diagnostic::Severity::Error)
        CYR_LOG(Error, sid, "%s", d.to_string().c_str());
      else
        CYR_LOG(Warning, sid, "%s", d.to_string().c_str());
    }
    diags.clear();
  };
  report();
  if (!imapd) return imapd.take_error();
  auto cyrus = config::CyrusConf::load(opts.cyrus_conf_path, &diags);
  report();
  if (!cyrus) return cyrus.take_error();
  auto paths = config::Paths::from_config(*imapd);
  if (!paths) return paths.take_error();
  LoadedConfig c;
  c.imapd = std::make_shared<const config::ImapdConf>(std::move(*imapd));
  c.cyrus = std::move(*cyrus);
  c.paths = std::move(*paths);
  return c;
}

int conf_int_if_known(const config::ImapdConf& conf, std::string_view key, int fallback) {
  if (!config::find_option(key) || !conf.is_set(key)) return fallback;
  return static_cast<int>(conf.get_int(key));
}

bool conf_switch_if_known(const config::ImapdConf& conf, std::string_view key) {
  return config::find_option(key) && conf.get_switch(key);
}

std::string join_argv(const std::vector<std::string>& argv) {
  std::string s;
  for (const auto& a : argv) {
    if (!s.empty()) s += ' ';
    s += a;
  }
  return s;
}

const char* section_name(EntrySection s) {
  switch (s) {
    case EntrySection::Start: return "START";
    case EntrySection::Services: return "SERVICES";
    case EntrySection::Events: return "EVENTS";
    case EntrySection::Daemon: return "DAEMON";
  }
  return "?";
}

}  // namespace

struct Master::Impl {
  struct Service {
    std::string name;
    config::CyrusConfEntry entry;
    net::ListenAddress address;
    std::shared_ptr<const ServiceContext> context;
    std::shared_ptr<const ServiceHandler> handler;
    std::shared_ptr<SessionSlots> slots;
    std::vector<std::unique_ptr<tcp::acceptor>> tcp_acceptors;
    std::unique_ptr<unix_proto::acceptor> unix_acceptor;
    std::vector<std::string> bound;  // actual addresses, for the ports file
    bool closed = false;
  };

  struct Daemon {
    std::string name;
    config::CyrusConfEntry entry;
    ChildSpec spec;
    pid_t pid = 0;
    Clock::time_point started{};
    Clock::duration backoff = kDaemonMinBackoff;
    std::unique_ptr<asio::steady_timer> restart_timer;
    bool retired = false;  // stopped for good (shutdown or removed by reload)
  };

  struct Event {
    std::string name;
    config::CyrusConfEntry entry;
    ChildSpec spec;
    EventSchedule schedule;
    pid_t running = 0;
    std::unique_ptr<asio::system_timer> timer;
    bool retired = false;
  };

  Impl(MasterOptions o, const ServiceRegistry& r)
      : opts(std::move(o)), registry(r), strand(asio::make_strand(ioc)), signals(ioc) {}

  MasterOptions opts;
  const ServiceRegistry& registry;
  std::string sid = "master";
  asio::io_context ioc;
  asio::strand<asio::io_context::executor_type> strand;
  asio::signal_set signals;
  LoadedConfig config;
  std::unique_ptr<BlockingPool> blocking;
  net::TlsContextStore tls;

  // Touched only on `strand`.
  std::map<std::string, std::shared_ptr<Service>> services;
  std::vector<std::shared_ptr<Daemon>> daemons;
  std::vector<std::shared_ptr<Event>> events;
  std::map<pid_t, std::shared_ptr<Daemon>> daemon_by_pid;
  std::map<pid_t, std::shared_ptr<Event>> event_by_pid;
  bool stopping = false;
  int exit_code = kExitOk;

  // Live sessions, for shutdown. Touched from every session strand.
  std::mutex sessions_mu;
  std::map<uint64_t, std::weak_ptr<net::Connection>> sessions;
  uint64_t next_session_key = 1;

  // ---------------------------------------------------------------- helpers

  CommandCatalog catalog() const {
    CommandCatalog c;
    c.has_handler = [this](std::string_view n) { return registry.has(n); };
    c.has_command = opts.has_command;
    return c;
  }

  // Maps an entry; logs the one warning for an entry we do not serve.
  std::optional<MappedCommand> map_entry(const config::CyrusConfEntry& e, EntrySection section) {
    MappedCommand m = map_command(e.argv, section, catalog());
    if (m.kind == MappedCommand::Kind::Unsupported) {
      CYR_LOG(Warning, sid, "cyrus.conf:%d: %s entry \"%s\" (cmd=\"%s\") is not served: %s; skipped",
              e.line, section_name(section), e.name.c_str(), e.cmd.c_str(), m.reason.c_str());
      return std::nullopt;
    }
    return m;
  }

  ChildSpec child_spec(const MappedCommand& m) const {
    ChildSpec spec;
    spec.argv = m.argv;
    if (m.kind == MappedCommand::Kind::Command) {
      spec.exe = opts.self_exe;
      // Cyrus master hands its -C on to the programs it runs.
      bool has_c = std::find(spec.argv.begin(), spec.argv.end(), "-C") != spec.argv.end();
      if (!has_c) {
        spec.argv.insert(spec.argv.begin() + 1, opts.imapd_conf_path.string());
        spec.argv.insert(spec.argv.begin() + 1, "-C");
      }
    } else {
      spec.exe = m.argv[0];
    }
    return spec;
  }

  template <class Awaitable>
  void spawn_on_strand(Awaitable a, const char* what) {
    asio::co_spawn(strand, std::move(a), [this, what](std::exception_ptr e) {
      if (!e) return;
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& ex) {
        CYR_LOG(Error, sid, "internal error in %s: %s", what, ex.what());
      } catch (...) {
        CYR_LOG(Error, sid, "internal error in %s: unknown exception", what);
      }
    });
  }

  // ---------------------------------------------------------------- START

  void run_start_entries() {
    for (const auto& e : config.cyrus.start) {
      auto m = map_entry(e, EntrySection::Start);
      if (!m) continue;
      ChildSpec spec = child_spec(*m);
      auto pid = spawn_child(spec);
      if (!pid) {
        CYR_LOG(Error, sid, "START %s: %s", e.name.c_str(), pid.error().describe().c_str());
        continue;
      }
      CYR_LOG(Info, sid, "START %s: running \"%s\" (pid %d)", e.name.c_str(),
              join_argv(spec.argv).c_str(), static_cast<int>(*pid));
      auto status = wait_child(*pid);
      if (!status) {
        CYR_LOG(Error, sid, "START %s: %s", e.name.c_str(), status.error().describe().c_str());
        continue;
      }
      bool ok = WIFEXITED(*status) && WEXITSTATUS(*status) == 0;
      if (ok)
        CYR_LOG(Info, sid, "START %s: done (%s)", e.name.c_str(), describe_wait_status(*status).c_str());
      else
        CYR_LOG(Warning, sid, "START %s: failed (%s)", e.name.c_str(),
                describe_wait_status(*status).c_str());
    }
  }

  // ---------------------------------------------------------------- SERVICES

  // Builds context and handler for a SERVICES entry; null if not served.
  std::shared_ptr<Service> make_service(const config::CyrusConfEntry& e) {
    auto m = map_entry(e, EntrySection::Services);
    if (!m) return nullptr;
    auto addr = net::parse_listen_address(e.listen, e.proto);
    if (!addr) {
      CYR_LOG(Error, sid, "cyrus.conf:%d: SERVICES entry \"%s\": %s; skipped", e.line, e.name.c_str(),
              addr.error().describe().c_str());
      return nullptr;
    }
    if (Status st = net::resolve_service_port(*addr); !st) {
      CYR_LOG(Error, sid, "cyrus.conf:%d: SERVICES entry \"%s\": %s; skipped", e.line, e.name.c_str(),
              st.error().describe().c_str());
      return nullptr;
    }
    auto svc = std::make_shared<Service>();
    svc->name = e.name;
    svc->entry = e;
    svc->address = std::move(*addr);
    svc->slots = std::make_shared<SessionSlots>(e.maxchild);
    if (!install_handler(*svc, *m)) return nullptr;
    return svc;
  }

  bool install_handler(Service& svc, const MappedCommand& m) {
    auto ctx = std::make_shared<ServiceContext>();
    ctx->service_name = svc.name;
    ctx->argv = m.argv;
    ctx->implicit_tls = m.implicit_tls;
    ctx->conf = config.imapd;
    ctx->imapd_conf_path = opts.imapd_conf_path.string();
    ctx->blocking = blocking.get();
    ctx->tls_context = [this, name = svc.name] { return tls.get(name); };
    if (m.implicit_tls && !tls.get(svc.name)) {
      CYR_LOG(Error, sid, "SERVICES entry \"%s\" (cmd=\"%s\") needs TLS but tls_server_cert/"
              "tls_server_key are not usable for it; skipped", svc.name.c_str(), svc.entry.cmd.c_str());
      return false;
    }
    const ServiceFactory* factory = registry.find(m.name);
    auto handler = (*factory)(ctx);
    if (!handler) {
      CYR_LOG(Error, sid, "SERVICES entry \"%s\": handler \"%s\" refused to start: %s; skipped",
              svc.name.c_str(), m.name.c_str(), handler.error().describe().c_str());
      return false;
    }
    if (!handler->run_session) {
      CYR_LOG(Error, sid, "SERVICES entry \"%s\": handler \"%s\" has no session; skipped",
              svc.name.c_str(), m.name.c_str());
      return false;
    }
    svc.context = std::move(ctx);
    svc.handler = std::make_shared<const ServiceHandler>(std::move(*handler));
    return true;
  }

  // Binds the service's sockets. Fails with the reason.
  Status bind_service(Service& svc) {
    boost::system::error_code ec;
    const auto& a = svc.address;
    if (a.kind == net::ListenAddress::Kind::Unix) {
      ::unlink(a.path.c_str());  // a stale socket from a previous run
      auto acc = std::make_unique<unix_proto::acceptor>(ioc);
      unix_proto::endpoint ep(a.path);
      acc->open(ep.protocol(), ec);
      if (!ec) acc->bind(ep, ec);
      if (!ec) acc->listen(opts.listen_backlog, ec);
      if (ec) return Error(Errc::Io, "cannot listen on " + a.path, ec.message());
      // Local clients (the MTA's LMTP) run as other users, as with Cyrus.
      ::chmod(a.path.c_str(), 0777);
      svc.unix_acceptor = std::move(acc);
      svc.bound.push_back(a.path);
      return ok_status();
    }

    std::vector<tcp::endpoint> endpoints;
    if (a.host.empty()) {
      if (a.family == net::AddressFamily::V4) endpoints.emplace_back(tcp::v4(), a.port);
      else endpoints.emplace_back(tcp::v6(), a.port);  // dual stack unless tcp6
    } else {
      tcp::resolver resolver(ioc);
      auto results = resolver.resolve(a.host, std::to_string(a.port),
                                      tcp::resolver::passive | tcp::resolver::numeric_service, ec);
      if (ec) return Error(Errc::Io, "cannot resolve " + a.host, ec.message());
      std::set<tcp::endpoint> seen;
      for (const auto& r : results) {
        tcp::endpoint ep = r.endpoint();
        if (a.family == net::AddressFamily::V4 && !ep.address().is_v4()) continue;
        if (a.family == net::AddressFamily::V6 && !ep.address().is_v6()) continue;
        if (seen.insert(ep).second) endpoints.push_back(ep);
      }
      if (endpoints.empty()) return Error(Errc::Io, "no address of the requested family for " + a.host);
    }

    for (const auto& ep : endpoints) {
      auto acc = std::make_unique<tcp::acceptor>(ioc);
      acc->open(ep.protocol(), ec);
      if (ec && a.host.empty() && ep.protocol() == tcp::v6() && a.family == net::AddressFamily::Any) {
        // No IPv6 on this host: fall back to IPv4 for "all addresses".
        tcp::endpoint v4(tcp::v4(), a.port);
        ec.clear();
        acc->open(v4.protocol(), ec);
        if (!ec) return bind_one(svc, std::move(acc), v4);
      }
      if (ec) return Error(Errc::Io, "cannot open socket for " + a.to_string(), ec.message());
      if (ep.protocol() == tcp::v6())
        acc->set_option(asio::ip::v6_only(a.family == net::AddressFamily::V6 || !a.host.empty()), ec);
      CYR_TRY(bind_one(svc, std::move(acc), ep));
    }
    return ok_status();
  }

  Status bind_one(Service& svc, std::unique_ptr<tcp::acceptor> acc, const tcp::endpoint& ep) {
    boost::system::error_code ec;
    acc->set_option(tcp::acceptor::reuse_address(true), ec);
    acc->bind(ep, ec);
    if (!ec) acc->listen(opts.listen_backlog, ec);
    if (ec) return Error(Errc::Io, "cannot listen on " + svc.address.to_string(), ec.message());
    tcp::endpoint local = acc->local_endpoint(ec);
    std::string host = local.address().to_string();
    if (local.address().is_v6()) host = "[" + host + "]";
    svc.bound.push_back(host + ":" + std::to_string(local.port()));
    svc.tcp_acceptors.push_back(std::move(acc));
    return ok_status();
  }

  void close_service(Service& svc) {
    svc.closed = true;
    boost::system::error_code ec;
    for (auto& acc : svc.tcp_acceptors) acc->close(ec);
    if (svc.unix_acceptor) {
      svc.unix_acceptor->close(ec);
      ::unlink(svc.address.path.c_str());
    }
  }

  void start_accepting(const std::shared_ptr<Service>& svc) {
    for (auto& acc : svc->tcp_acceptors)
      spawn_on_strand(accept_tcp(svc, acc.get()), "tcp accept loop");
    if (svc->unix_acceptor) spawn_on_strand(accept_unix(svc), "unix accept loop");
  }

  // Transient accept failures (EMFILE, ENFILE, ENOBUFS) must not spin.
  awaitable<void> accept_pause() {
    asio::steady_timer t(strand, std::chrono::milliseconds(100));
    boost::system::error_code ec;
    co_await t.async_wait(asio::redirect_error(use_awaitable, ec));
  }

  awaitable<void> accept_tcp(std::shared_ptr<Service> svc, tcp::acceptor* acc) {
    for (;;) {
      tcp::socket socket(asio::make_strand(ioc));
      boost::system::error_code ec;
      co_await acc->async_accept(socket, asio::redirect_error(use_awaitable, ec));
      if (svc->closed || stopping) co_return;
      if (ec) {
        CYR_LOG(Warning, sid, "%s: accept: %s", svc->name.c_str(), ec.message().c_str());
        co_await accept_pause();
        continue;
      }
      start_session(svc, net::Connection::create(std::move(socket), log::new_session_id()));
    }
  }

  awaitable<void> accept_unix(std::shared_ptr<Service> svc) {
    for (;;) {
      unix_proto::socket socket(asio::make_strand(ioc));
      boost::system::error_code ec;
      co_await svc->unix_acceptor->async_accept(socket, asio::redirect_error(use_awaitable, ec));
      if (svc->closed || stopping) co_return;
      if (ec) {
        CYR_LOG(Warning, sid, "%s: accept: %s", svc->name.c_str(), ec.message().c_str());
        co_await accept_pause();
        continue;
      }
      start_session(svc, net::Connection::create(std::move(socket), log::new_session_id()));
    }
  }

  // Runs on the master strand: takes a snapshot of the service's current
  // handler, so a reload never changes a running session.
  void start_session(const std::shared_ptr<Service>& svc, std::shared_ptr<net::Connection> conn) {
    bool admitted = svc->slots->try_acquire();
    uint64_t key;
    {
      std::lock_guard lk(sessions_mu);
      key = next_session_key++;
      sessions[key] = conn;
    }
    std::string session_sid = conn->sid();
    asio::co_spawn(conn->get_executor(),
                   run_session(svc->name, svc->context, svc->handler, svc->slots, admitted, conn),
                   [this, key, session_sid](std::exception_ptr e) {
                     if (e) {
                       try {
                         std::rethrow_exception(e);
                       } catch (const std::exception& ex) {
                         CYR_LOG(Error, session_sid, "session ended by internal error: %s", ex.what());
                       } catch (...) {
                         CYR_LOG(Error, session_sid, "session ended by unknown internal error");
                       }
                     }
                     std::lock_guard lk(sessions_mu);
                     sessions.erase(key);
                   });
  }

  static awaitable<void> run_session(std::string service, std::shared_ptr<const ServiceContext> ctx,
                                     std::shared_ptr<const ServiceHandler> handler,
                                     std::shared_ptr<SessionSlots> slots, bool admitted,
                                     std::shared_ptr<net::Connection> conn) {
    // Releases the maxchild slot however the session ends.
    struct SlotGuard {
      std::shared_ptr<SessionSlots> slots;
      bool held;
      ~SlotGuard() {
        if (held) slots->release();
      }
    } guard{slots, admitted};

    const std::string& sid = conn->sid();
    const log::Level conn_level = handler->quiet_connections ? log::Level::Debug : log::Level::Info;
    log::write(conn_level, sid, "%s: connection from %s", service.c_str(), conn->peer().c_str());
    if (ctx->implicit_tls) {
      Status st = co_await conn->start_tls(ctx->tls_context ? ctx->tls_context() : nullptr);
      if (!st) {
        CYR_LOG(Notice, sid, "%s: TLS handshake with %s failed: %s", service.c_str(),
                conn->peer().c_str(), st.error().describe().c_str());
        co_await conn->shutdown_and_close();
        co_return;
      }
    }
    if (!admitted) {
      CYR_LOG(Warning, sid, "%s: refused %s: maxchild=%d sessions already running", service.c_str(),
              conn->peer().c_str(), slots->limit());
      if (!handler->refusal_line.empty()) (void)co_await conn->write_and_flush(handler->refusal_line);
      co_await conn->shutdown_and_close();
      co_return;
    }
    std::exception_ptr failure;
    try {
      co_await handler->run_session(conn);
    } catch (...) {
      failure = std::current_exception();
    }
    if (failure) {
      // Still close the socket cleanly; then let the completion handler log it.
      co_await conn->shutdown_and_close();
      std::rethrow_exception(failure);
    }
    // Why the session ended (EOF, timeout, shutdown), before the final flush resets it.
    const net::EndReason why = conn->end_reason();
    (void)co_await conn->flush();
    co_await conn->shutdown_and_close();
    log::write(conn_level, sid, "%s: connection closed (%s)", service.c_str(),
               why == net::EndReason::None ? "session ended" : net::end_reason_name(why));
  }

  size_t live_sessions() {
    std::lock_guard lk(sessions_mu);
    return sessions.size();
  }

  std::vector<std::shared_ptr<net::Connection>> session_snapshot() {
    std::vector<std::shared_ptr<net::Connection>> out;
    std::lock_guard lk(sessions_mu);
    for (auto& [k, w] : sessions)
      if (auto c = w.lock()) out.push_back(std::move(c));
    return out;
  }

  // ---------------------------------------------------------------- ports file / ready

  std::filesystem::path ports_path() const { return config.paths.configdirectory / "ports"; }

  void write_ports_file() {
    std::string text;
    for (const auto& [name, svc] : services)
      for (const auto& b : svc->bound) text += name + " " + b + "\n";
    auto tmp = ports_path();
    tmp += ".tmp";
    {
      std::ofstream out(tmp, std::ios::trunc);
      out << text;
      if (!out.flush()) {
        CYR_LOG(Error, sid, "cannot write %s", tmp.c_str());
        return;
      }
    }
    std::error_code ec;
    std::filesystem::rename(tmp, ports_path(), ec);
    if (ec) CYR_LOG(Error, sid, "cannot rename %s: %s", tmp.c_str(), ec.message().c_str());
  }

  void log_ready() {
    std::string addrs;
    for (const auto& [name, svc] : services)
      for (const auto& b : svc->bound) addrs += " " + name + "=" + b;
    CYR_LOG(Notice, sid, "ready:%s", addrs.empty() ? " (no services)" : addrs.c_str());
  }

  // Opens every served SERVICES entry; kExitOk or the exit code to stop with.
  int open_services() {
    std::vector<std::string> names;
    for (const auto& e : config.cyrus.services) names.push_back(e.name);
    if (Status st = tls.reload(*config.imapd, names); !st)
      CYR_LOG(Error, sid, "%s", st.error().describe().c_str());
    const bool fatal = conf_switch_if_known(*config.imapd, "master_bind_errors_fatal");
    for (const auto& e : config.cyrus.services) {
      if (services.count(e.name)) {
        CYR_LOG(Warning, sid, "cyrus.conf:%d: SERVICES entry \"%s\" appears twice; the second is ignored",
                e.line, e.name.c_str());
        continue;
      }
      auto svc = make_service(e);
      if (!svc) continue;
      if (Status st = bind_service(*svc); !st) {
        CYR_LOG(Error, sid, "SERVICES entry \"%s\": %s", e.name.c_str(), st.error().describe().c_str());
        close_service(*svc);
        if (fatal) return kExitOsErr;
        continue;
      }
      services[e.name] = svc;
    }
    return kExitOk;
  }

  // ---------------------------------------------------------------- DAEMON

  void add_daemon(const config::CyrusConfEntry& e) {
    auto m = map_entry(e, EntrySection::Daemon);
    if (!m) return;
    auto d = std::make_shared<Daemon>();
    d->name = e.name;
    d->entry = e;
    d->spec = child_spec(*m);
    d->restart_timer = std::make_unique<asio::steady_timer>(strand);
    daemons.push_back(d);
    start_daemon(d);
  }

  void start_daemon(const std::shared_ptr<Daemon>& d) {
    if (d->retired || stopping) return;
    auto pid = spawn_child(d->spec);
    if (!pid) {
      CYR_LOG(Error, sid, "DAEMON %s: %s; retrying in %lds", d->name.c_str(),
              pid.error().describe().c_str(),
              static_cast<long>(std::chrono::duration_cast<std::chrono::seconds>(d->backoff).count()));
      schedule_daemon_restart(d);
      return;
    }
    d->pid = *pid;
    d->started = Clock::now();
    daemon_by_pid[*pid] = d;
    CYR_LOG(Info, sid, "DAEMON %s: started \"%s\" (pid %d)", d->name.c_str(),
            join_argv(d->spec.argv).c_str(), static_cast<int>(*pid));
  }

  void schedule_daemon_restart(const std::shared_ptr<Daemon>& d) {
    auto delay = d->backoff;
    d->backoff = std::min<Clock::duration>(d->backoff * 2, kDaemonMaxBackoff);
    d->restart_timer->expires_after(delay);
    d->restart_timer->async_wait([this, d](const boost::system::error_code& ec) {
      if (!ec) start_daemon(d);
    });
  }

  void on_daemon_exit(const std::shared_ptr<Daemon>& d, int status) {
    d->pid = 0;
    if (d->retired || stopping) {
      CYR_LOG(Info, sid, "DAEMON %s: stopped (%s)", d->name.c_str(), describe_wait_status(status).c_str());
      return;
    }
    if (Clock::now() - d->started >= kDaemonStableRun) d->backoff = kDaemonMinBackoff;
    CYR_LOG(Warning, sid, "DAEMON %s: exited (%s); restarting in %lds", d->name.c_str(),
            describe_wait_status(status).c_str(),
            static_cast<long>(std::chrono::duration_cast<std::chrono::seconds>(d->backoff).count()));
    schedule_daemon_restart(d);
  }

  // ---------------------------------------------------------------- EVENTS

  void add_event(const config::CyrusConfEntry& e) {
    auto m = map_entry(e, EntrySection::Events);
    if (!m) return;
    auto schedule = EventSchedule::from_conf(e.period, e.at);
    if (!schedule) {
      CYR_LOG(Error, sid, "cyrus.conf:%d: EVENTS entry \"%s\": %s; skipped", e.line, e.name.c_str(),
              schedule.error().describe().c_str());
      return;
    }
    auto ev = std::make_shared<Event>();
    ev->name = e.name;
    ev->entry = e;
    ev->spec = child_spec(*m);
    ev->schedule = *schedule;
    ev->timer = std::make_unique<asio::system_timer>(strand);
    events.push_back(ev);
    spawn_on_strand(event_loop(ev), "event scheduler");
  }

  awaitable<void> event_loop(std::shared_ptr<Event> ev) {
    WallClock::time_point due = ev->schedule.first_run(WallClock::now());
    for (;;) {
      ev->timer->expires_at(due);
      boost::system::error_code ec;
      co_await ev->timer->async_wait(asio::redirect_error(use_awaitable, ec));
      if (ec || ev->retired || stopping) co_return;
      run_event(ev);
      auto next = ev->schedule.next_run(due, WallClock::now());
      if (!next) co_return;
      due = *next;
    }
  }

  void run_event(const std::shared_ptr<Event>& ev) {
    if (ev->running) {
      // Runs must not pile up behind a slow one.
      CYR_LOG(Warning, sid, "EVENT %s: previous run (pid %d) still running; this run skipped",
              ev->name.c_str(), static_cast<int>(ev->running));
      return;
    }
    auto pid = spawn_child(ev->spec);
    if (!pid) {
      CYR_LOG(Error, sid, "EVENT %s: %s", ev->name.c_str(), pid.error().describe().c_str());
      return;
    }
    ev->running = *pid;
    event_by_pid[*pid] = ev;
    CYR_LOG(Info, sid, "EVENT %s: running \"%s\" (pid %d)", ev->name.c_str(),
            join_argv(ev->spec.argv).c_str(), static_cast<int>(*pid));
  }

  // ---------------------------------------------------------------- signals

  void reap() {
    std::vector<pid_t> ours;
    for (auto& [pid, _] : daemon_by_pid) ours.push_back(pid);
    for (auto& [pid, _] : event_by_pid) ours.push_back(pid);
    for (const ChildExit& c : reap_children(ours)) {
      if (auto it = daemon_by_pid.find(c.pid); it != daemon_by_pid.end()) {
        auto d = it->second;
        daemon_by_pid.erase(it);
        on_daemon_exit(d, c.status);
      } else if (auto it2 = event_by_pid.find(c.pid); it2 != event_by_pid.end()) {
        auto ev = it2->second;
        event_by_pid.erase(it2);
        ev->running = 0;
        bool ok = WIFEXITED(c.status) && WEXITSTATUS(c.status) == 0;
        if (ok)
          CYR_LOG(Info, sid, "EVENT %s: done (%s)", ev->name.c_str(), describe_wait_status(c.status).c_str());
        else
          CYR_LOG(Warning, sid, "EVENT %s: failed (%s)", ev->name.c_str(),
                  describe_wait_status(c.status).c_str());
      }
    }
  }

  awaitable<void> signal_loop() {
    for (;;) {
      boost::system::error_code ec;
      int sig = co_await signals.async_wait(asio::redirect_error(use_awaitable, ec));
      if (ec) co_return;  // cancelled at the end of shutdown
      switch (sig) {
        case SIGCHLD: reap(); break;
        case SIGTERM:
        case SIGINT:
          CYR_LOG(Notice, sid, "received %s", sig == SIGTERM ? "SIGTERM" : "SIGINT");
          begin_shutdown();
          break;
        case SIGHUP:
          CYR_LOG(Notice, sid, "received SIGHUP: reloading configuration");
          reload();
          break;
        default: break;
      }
    }
  }

  // ---------------------------------------------------------------- shutdown

  void begin_shutdown() {
    if (stopping) return;
    stopping = true;
    spawn_on_strand(shutdown(), "shutdown");
  }

  awaitable<void> sleep_for(Clock::duration d) {
    asio::steady_timer t(strand, d);
    boost::system::error_code ec;
    co_await t.async_wait(asio::redirect_error(use_awaitable, ec));
  }

  awaitable<void> shutdown() {
    CYR_LOG(Notice, sid, "shutting down: no new connections; %zu session(s) to finish",
            live_sessions());
    for (auto& [name, svc] : services) close_service(*svc);
    for (auto& ev : events) {
      ev->retired = true;
      ev->timer->cancel();
    }
    for (auto& d : daemons) {
      d->retired = true;
      d->restart_timer->cancel();
    }

    // Idle sessions are woken to say goodbye; commands in flight finish.
    for (auto& c : session_snapshot()) c->request_shutdown();
    const auto deadline = Clock::now() + opts.shutdown_grace;
    while (live_sessions() > 0 && Clock::now() < deadline) co_await sleep_for(kPollInterval);
    if (size_t left = live_sessions(); left > 0) {
      CYR_LOG(Warning, sid, "%zu session(s) still busy after the grace period; closing them", left);
      for (auto& c : session_snapshot()) c->close();
      const auto hard = Clock::now() + std::chrono::seconds(2);
      while (live_sessions() > 0 && Clock::now() < hard) co_await sleep_for(kPollInterval);
    }

    co_await stop_children();
    std::error_code fec;
    std::filesystem::remove(ports_path(), fec);
    boost::system::error_code ec;
    signals.cancel(ec);
    CYR_LOG(Notice, sid, "stopped");
    ioc.stop();
  }

  std::vector<pid_t> child_pids() const {
    std::vector<pid_t> pids;
    for (const auto& [pid, d] : daemon_by_pid) pids.push_back(pid);
    for (const auto& [pid, e] : event_by_pid) pids.push_back(pid);
    return pids;
  }

  awaitable<void> stop_children() {
    auto pids = child_pids();
    if (pids.empty()) co_return;
    for (pid_t p : pids) ::kill(p, SIGTERM);
    const auto deadline = Clock::now() + opts.shutdown_grace;
    while (!child_pids().empty() && Clock::now() < deadline) {
      co_await sleep_for(kPollInterval);
      reap();  // SIGCHLD may coalesce; reaping here too costs nothing
    }
    for (pid_t p : child_pids()) {
      CYR_LOG(Warning, sid, "child %d ignored SIGTERM for the grace period; sending SIGKILL",
              static_cast<int>(p));
      ::kill(p, SIGKILL);
    }
    const auto hard = Clock::now() + std::chrono::seconds(2);
    while (!child_pids().empty() && Clock::now() < hard) {
      co_await sleep_for(kPollInterval);
      reap();
    }
  }

  // ---------------------------------------------------------------- reload

  void log_imapd_changes(const config::ImapdConf& before, const config::ImapdConf& after) {
    std::map<std::string, std::string> a, b;
    for (const auto& e : before.entries()) a[e.key] = e.value;
    for (const auto& e : after.entries()) b[e.key] = e.value;
    // Names only: values may be secrets (passwords, keys).
    for (const auto& [k, v] : b) {
      auto it = a.find(k);
      if (it == a.end()) CYR_LOG(Info, sid, "reload: imapd.conf: %s added", k.c_str());
      else if (it->second != v) CYR_LOG(Info, sid, "reload: imapd.conf: %s changed", k.c_str());
    }
    for (const auto& [k, v] : a)
      if (!b.count(k)) CYR_LOG(Info, sid, "reload: imapd.conf: %s removed", k.c_str());
  }

  static bool same_process_entry(const config::CyrusConfEntry& x, const config::CyrusConfEntry& y) {
    return x.argv == y.argv && x.period == y.period && x.at == y.at;
  }

  void reload() {
    if (stopping) return;
    auto loaded = load_config(opts, sid);
    if (!loaded) {
      CYR_LOG(Error, sid, "reload failed, keeping the running configuration: %s",
              loaded.error().describe().c_str());
      return;
    }
    LoadedConfig old = std::move(config);
    config = std::move(*loaded);
    log_imapd_changes(*old.imapd, *config.imapd);

    // TLS contexts first: services started below use them.
    std::vector<std::string> names;
    for (const auto& e : config.cyrus.services) names.push_back(e.name);
    if (Status st = tls.reload(*config.imapd, names); !st)
      CYR_LOG(Error, sid, "reload: %s", st.error().describe().c_str());

    // SERVICES: keep listeners whose address did not change, with a new
    // handler for the new configuration; close removed ones; open new ones.
    std::map<std::string, std::shared_ptr<Service>> next;
    for (const auto& e : config.cyrus.services) {
      if (next.count(e.name)) continue;
      auto it = services.find(e.name);
      if (it != services.end() && it->second->entry.listen == e.listen &&
          it->second->entry.proto == e.proto) {
        auto svc = it->second;
        auto m = map_entry(e, EntrySection::Services);
        if (m && install_handler(*svc, *m)) {
          if (svc->entry.cmd != e.cmd) CYR_LOG(Info, sid, "reload: service %s: cmd changed", e.name.c_str());
          if (svc->entry.maxchild != e.maxchild) {
            CYR_LOG(Info, sid, "reload: service %s: maxchild %d -> %d", e.name.c_str(),
                    svc->entry.maxchild, e.maxchild);
            // Running sessions keep counting against the old limit object.
            svc->slots = std::make_shared<SessionSlots>(e.maxchild);
          }
          svc->entry = e;
          next[e.name] = svc;
          services.erase(it);
        }
        continue;  // not served any more: closed below with the removed ones
      }
      auto svc = make_service(e);
      if (!svc) continue;
      if (it != services.end()) {
        // Same name, new address: free the old address first (it may be reused).
        close_service(*it->second);
        services.erase(it);
      }
      if (Status st = bind_service(*svc); !st) {
        CYR_LOG(Error, sid, "reload: SERVICES entry \"%s\": %s", e.name.c_str(),
                st.error().describe().c_str());
        close_service(*svc);
        continue;
      }
      CYR_LOG(Info, sid, "reload: service %s listening on %s", e.name.c_str(), svc->address.to_string().c_str());
      start_accepting(svc);
      next[e.name] = svc;
    }
    for (auto& [name, svc] : services) {
      CYR_LOG(Info, sid, "reload: service %s removed; its sessions continue", name.c_str());
      close_service(*svc);
    }
    services = std::move(next);

    // EVENTS: reschedule all (a run in progress finishes on its own).
    for (auto& ev : events) {
      ev->retired = true;
      ev->timer->cancel();
    }
    events.clear();
    for (const auto& e : config.cyrus.events) add_event(e);

    // DAEMON: unchanged entries keep running; others are stopped or started.
    std::vector<std::shared_ptr<Daemon>> kept;
    for (auto& d : daemons) {
      bool still = false;
      for (const auto& e : config.cyrus.daemon)
        if (e.name == d->name && same_process_entry(e, d->entry)) still = true;
      if (still) {
        kept.push_back(d);
        continue;
      }
      CYR_LOG(Info, sid, "reload: DAEMON %s removed or changed; stopping it", d->name.c_str());
      d->retired = true;
      d->restart_timer->cancel();
      if (d->pid > 0) ::kill(d->pid, SIGTERM);
    }
    daemons = std::move(kept);
    for (const auto& e : config.cyrus.daemon) {
      bool running = false;
      for (auto& d : daemons)
        if (d->name == e.name) running = true;
      if (!running) add_daemon(e);
    }

    write_ports_file();
    log_ready();
  }

  // ---------------------------------------------------------------- run

  int run() {
    auto loaded = load_config(opts, sid);
    if (!loaded) {
      CYR_LOG(Critical, sid, "cannot start: %s", loaded.error().describe().c_str());
      return kExitConfig;
    }
    config = std::move(*loaded);
    if (Status st = config.paths.create_directories(); !st) {
      CYR_LOG(Critical, sid, "cannot start: %s", st.error().describe().c_str());
      return kExitConfig;
    }

    boost::system::error_code ec;
    for (int s : {SIGTERM, SIGINT, SIGHUP, SIGCHLD}) signals.add(s, ec);
    // A client that goes away mid-write must not kill the master.
    ::signal(SIGPIPE, SIG_IGN);

    int io_threads = opts.io_threads > 0 ? opts.io_threads
                                         : conf_int_if_known(*config.imapd, "master_io_threads", 0);
    if (io_threads <= 0) io_threads = std::max(1u, std::thread::hardware_concurrency());
    // Blocking work is mostly waiting for fsync, not CPU: with 4 threads only
    // 4 appends or deliveries (to different users, so no group commit) had
    // their fsyncs in flight, while Cyrus runs one process per connection.
    // 16-connection APPEND measured ~1.4x faster with 16 threads than with 4
    // (docs/performance.md); 32 gave nothing more.
    int blocking_threads = opts.blocking_threads > 0
                               ? opts.blocking_threads
                               : conf_int_if_known(*config.imapd, "master_blocking_threads", kDefaultBlockingThreads);
    if (blocking_threads <= 0) blocking_threads = kDefaultBlockingThreads;
    {
      ThreadNameScope name("blocking");  // the pool's threads take it
      blocking = std::make_unique<BlockingPool>(static_cast<size_t>(blocking_threads));
    }

    // START runs to completion before anything listens (cyrus.conf(5)).
    run_start_entries();

    for (const auto& e : config.cyrus.daemon) add_daemon(e);
    if (int rc = open_services(); rc != kExitOk) {
      stopping = true;
      exit_code = rc;
      CYR_LOG(Critical, sid, "a listener could not be bound and master_bind_errors_fatal is set");
      spawn_on_strand(shutdown(), "shutdown");
    } else {
      for (auto& [name, svc] : services) start_accepting(svc);
      for (const auto& e : config.cyrus.events) add_event(e);
      write_ports_file();
      log_ready();
    }
    spawn_on_strand(signal_loop(), "signal handler");

    std::vector<std::thread> threads;
    for (int i = 1; i < io_threads; ++i) threads.emplace_back([this] {
      set_thread_name("io");
      run_io();
    });
    run_io();
    for (auto& t : threads) t.join();
    blocking->stop();
    return exit_code;
  }

  void run_io() {
    for (;;) {
      try {
        ioc.run();
        return;
      } catch (const std::exception& e) {
        // A handler that throws is a bug; keep serving the others.
        CYR_LOG(Error, sid, "internal error on an I/O thread: %s", e.what());
      }
    }
  }
};

Master::Master(MasterOptions options, const ServiceRegistry& registry)
    : impl_(std::make_unique<Impl>(std::move(options), registry)) {}

Master::~Master() = default;

int Master::run() { return impl_->run(); }

void Master::request_stop() {
  asio::post(impl_->strand, [impl = impl_.get()] { impl->begin_shutdown(); });
}

void Master::request_reload() {
  asio::post(impl_->strand, [impl = impl_.get()] { impl->reload(); });
}

}  // namespace cyr::server
