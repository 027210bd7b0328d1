// cyr_failover: the HA pair's operator command, the witness, and the wiring
// of the failover controller into cyr_master.
//
//   cyr_failover witness -l host:port [-s statefile] [-k secretfile] [-C imapd.conf]
//   cyr_failover status     [-C imapd.conf] [-M cyrus.conf] [-a host:port]
//   cyr_failover switchover [-C imapd.conf] [-M cyrus.conf] [-a host:port]
//   cyr_failover promote --force [-C imapd.conf] [-M cyrus.conf] [-a host:port]
//   cyr_failover abandon-rejoin --force [-C imapd.conf] [-M cyrus.conf] [-a host:port]
//
// The controller runs inside cyr_master (it must: it sets the role and the
// write hold of the master's Store and owns its rolling replication), started
// when imapd.conf names a failover_peer. It is reached through the cyrus.conf
// service `failover cmd="failover" listen=...`: the peer's heartbeats and
// requests, and this command's, arrive there. With failover_secret set, every
// connection to that service and to the witness authenticates first
// (failover/auth.h). See docs/failover.md.
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <optional>
#include <string>
#include <string_view>

#include "failover/auth.h"
#include "failover/controller.h"
#include "failover/hook.h"
#include "failover/net.h"
#include "failover/sync_barrier.h"
#include "failover/sync_link.h"
#include "failover/witness.h"
#include "ops/commands.h"
#include "ops/rolling_lock.h"
#include "server/net/connection.h"
#include "server/node_store.h"
#include "server/service_registry.h"
#include "store/base/log.h"
#include "store/config/cyrus_conf.h"
#include "store/config/imapd_conf.h"
#include "store/config/paths.h"
#include "sync/rolling_daemon.h"

namespace cyr::ops {
namespace {

constexpr int kExitUsage = 64;
constexpr int kExitUnavailable = 69;  // EX_UNAVAILABLE
constexpr int kExitConfig = 78;       // EX_CONFIG

// The running controller of this process (cyr_master), for the service.
std::mutex g_mu;
std::shared_ptr<failover::Controller> g_controller;

std::shared_ptr<failover::Controller> current_controller() {
  std::lock_guard lk(g_mu);
  return g_controller;
}

bool is_loopback(std::string_view host) {
  return host == "127.0.0.1" || host.starts_with("127.") || host == "::1" || host == "localhost";
}

// The host part of a Connection::peer() string ("1.2.3.4:567", "[::1]:567").
std::string peer_host(const std::string& peer) {
  auto hp = failover::parse_host_port(peer);
  return hp.ok() ? hp->host : peer;
}

int usage(const char* why) {
  if (why) fprintf(stderr, "cyr_failover: %s\n", why);
  fprintf(stderr,
          "usage: cyr_failover witness -l host:port [-s statefile] [-k secretfile] [-C imapd.conf]\n"
          "       cyr_failover status [-C imapd.conf] [-M cyrus.conf] [-a host:port]\n"
          "       cyr_failover switchover [-C imapd.conf] [-M cyrus.conf] [-a host:port]\n"
          "       cyr_failover promote --force [-C imapd.conf] [-M cyrus.conf] [-a host:port]\n"
          "       cyr_failover abandon-rejoin --force [-C imapd.conf] [-M cyrus.conf] [-a host:port]\n");
  return kExitUsage;
}

std::atomic<bool> g_witness_stop{false};
void on_stop_signal(int) { g_witness_stop = true; }

// The first line of a file, without its line end: the secret is not given
// on the command line, where every local user could read it (ps).
Result<std::string> read_secret_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) return Error(Errc::NotFound, "cannot read the secret file " + path);
  std::string line;
  char c;
  while (in.get(c) && c != '\n' && line.size() <= failover::kMaxSecretLength) line.push_back(c);
  while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) line.pop_back();
  if (line.empty()) return Error(Errc::Invalid, "the secret file " + path + " is empty");
  return line;
}

int witness_main(const std::string& listen, const std::string& state_arg, const std::string& conf_path,
                 const std::string& secret_file) {
  std::string address = listen;
  std::filesystem::path state = state_arg;
  std::string secret;
  if (!secret_file.empty()) {
    auto s = read_secret_file(secret_file);
    if (!s.ok()) {
      fprintf(stderr, "cyr_failover: %s\n", s.error().describe().c_str());
      return kExitConfig;
    }
    secret = std::move(*s);
  }
  if (!conf_path.empty()) {
    std::vector<config::Diagnostic> diags;
    auto conf = config::ImapdConf::load(conf_path, &diags);
    if (!conf) {
      fprintf(stderr, "cyr_failover: %s\n", conf.error().describe().c_str());
      return kExitConfig;
    }
    if (address.empty()) address = conf->get_string("failover_witness");
    if (secret_file.empty()) secret = conf->get_string("failover_secret");
    if (state.empty()) {
      auto paths = config::Paths::from_config(*conf);
      if (paths) state = paths->configdirectory / "failover" / "witness.state";
    }
  }
  if (address.empty()) return usage("witness: -l host:port is required");
  if (state.empty()) return usage("witness: -s statefile (or -C imapd.conf) is required");
  if (Status sc = failover::check_secret(secret); !sc.ok()) {
    fprintf(stderr, "cyr_failover: witness: %s\n", sc.error().describe().c_str());
    return kExitConfig;
  }
  log::Options lo;
  lo.prefix = "cyrus/failover-witness";
  log::init(lo);
  if (secret.empty()) {
    const char* open_warning =
        "no failover_secret (-k secretfile or -C imapd.conf): the witness grants leases to anyone who can reach it";
    CYR_LOG(Warning, "witness", "%s", open_warning);
    fprintf(stderr, "cyr_failover: warning: %s\n", open_warning);
  }
  auto w = failover::WitnessState::open(state, failover::Clock::now());
  if (!w.ok()) {
    fprintf(stderr, "cyr_failover: witness state %s: %s\n", state.c_str(), w.error().describe().c_str());
    return kExitConfig;
  }
  std::shared_ptr<failover::WitnessState> ws = std::move(*w);
  failover::LineServer server;
  Status st = server.start(address, [ws](const std::string& line, const std::string&) {
    return ws->handle(line, failover::Clock::now());
  }, secret);
  if (!st.ok()) {
    fprintf(stderr, "cyr_failover: %s\n", st.error().describe().c_str());
    return kExitUnavailable;
  }
  signal(SIGTERM, on_stop_signal);
  signal(SIGINT, on_stop_signal);
  signal(SIGPIPE, SIG_IGN);
  auto snap = ws->snapshot(failover::Clock::now());
  printf("witness listening on port %u (epoch %llu, holder %s, %s)\n", server.port(),
         static_cast<unsigned long long>(snap.epoch), snap.holder.empty() ? "-" : snap.holder.c_str(),
         secret.empty() ? "open: no failover_secret" : "authenticated by failover_secret");
  fflush(stdout);
  while (!g_witness_stop) usleep(100 * 1000);
  server.stop();
  return 0;
}

// Where this node's failover service listens: -a, else the cyrus.conf
// SERVICES entry whose cmd is "failover".
Result<std::string> local_service_address(const std::string& address_arg, const std::string& cyrus_conf) {
  if (!address_arg.empty()) return address_arg;
  std::vector<config::Diagnostic> diags;
  auto cc = config::CyrusConf::load(cyrus_conf, &diags);
  if (!cc.ok()) return cc.take_error();
  for (const auto& e : cc->services) {
    if (e.argv.empty()) continue;
    std::string_view prog = e.argv[0];
    if (auto slash = prog.rfind('/'); slash != std::string_view::npos) prog.remove_prefix(slash + 1);
    if (prog != "failover") continue;
    if (e.listen.find('/') != std::string::npos)
      return Error(Errc::Invalid, "the failover service must listen on TCP (host:port or port)");
    if (e.listen.find(':') == std::string::npos) return "127.0.0.1:" + e.listen;
    auto hp = failover::parse_host_port(e.listen);
    if (!hp.ok()) return hp.take_error();
    if (hp->host == "*" || hp->host == "0.0.0.0") return "127.0.0.1:" + hp->port;
    if (hp->host == "::" ) return "[::1]:" + hp->port;
    return e.listen;
  }
  return Error(Errc::NotFound, "no SERVICES entry with cmd=\"failover\" in " + cyrus_conf + " (or give -a host:port)");
}

int admin_main(const std::string& verb, const std::string& address, const std::string& secret) {
  auto timeout = std::chrono::minutes(5);  // a switchover waits for replication to drain
  auto r = failover::exchange(address, verb,
                              verb == "STATUS" ? std::chrono::milliseconds(10000)
                                               : std::chrono::duration_cast<std::chrono::milliseconds>(timeout),
                              secret);
  if (!r.ok()) {
    fprintf(stderr, "cyr_failover: cannot reach the failover service at %s: %s\n", address.c_str(),
            r.error().describe().c_str());
    return kExitUnavailable;
  }
  FILE* out = r->ok ? stdout : stderr;
  for (const auto& l : r->lines) {
    if (verb == "STATUS" && l.starts_with("event ")) continue;  // printed last, as history
    auto sp = l.find(' ');
    if (verb == "STATUS" && sp != std::string::npos)
      fprintf(out, "%-12s %s\n", (l.substr(0, sp) + ":").c_str(), l.substr(sp + 1).c_str());
    else
      fprintf(out, "%s\n", l.c_str());
  }
  if (verb == "STATUS") {
    bool first = true;
    for (const auto& l : r->lines)
      if (l.starts_with("event ")) {
        if (first) fprintf(out, "recent events:\n");
        first = false;
        fprintf(out, "  %s\n", l.substr(6).c_str());
      }
  } else {
    fprintf(out, "%s%s\n", r->ok ? "" : "cyr_failover: ", r->text.c_str());
  }
  return r->ok ? 0 : 1;
}

// One connection to the failover service. State lives in this object, not
// in locals spanning co_await (kept simple: GCC 12 mishandles temporaries in
// co_await expressions inside loops).
struct FailoverSession {
  std::shared_ptr<const server::ServiceContext> ctx;
  std::shared_ptr<server::net::Connection> conn;
  bool trusted = false;
  std::string secret;
  std::optional<failover::ServerAuth> auth;
  failover::ServerAuth::Step step;
  std::string request;
  std::string reply;

  Result<std::string> answer() {
    auto controller = current_controller();
    if (!controller)
      return failover::format_reply(
          {false, "NOT-CONFIGURED this node has no failover_peer: it is a standalone primary", {}});
    return controller->handle(request, trusted);
  }

  boost::asio::awaitable<void> run() {
    {
      auto a = failover::ServerAuth::create(secret);
      if (!a.ok()) {
        CYR_LOG(Error, "failover", "cannot greet %s: %s", conn->peer().c_str(), a.error().describe().c_str());
        co_return;
      }
      auth.emplace(std::move(*a));
    }
    // Until it has authenticated, a client gets one short line and a short time.
    conn->set_idle_timeout(auth->authenticated() ? std::chrono::seconds(60) : failover::kAuthTimeout);
    if (!(co_await conn->write_and_flush(auth->greeting())).ok()) co_return;
    for (;;) {
      Result<std::string> line =
          co_await conn->read_line(auth->max_line());
      if (!line.ok() && line.error().code != Errc::Limit) {
        if (!auth->authenticated() && conn->end_reason() == server::net::EndReason::IdleTimeout)
          failover::log_refusal(conn->peer(), "no authentication in time");
        co_return;
      }
      step = {};
      if (!line.ok()) {
        reply = failover::format_reply({false, "BAD line too long", {}});
        if (!auth->authenticated()) step = {failover::ServerAuth::Step::Refused, reply, "line too long before authentication", {}};
      } else {
        step = auth->on_line(*line);
        if (step.kind == failover::ServerAuth::Step::Request) {
          request = std::move(step.request);
          Result<std::string> r = co_await ctx->blocking->run([this] { return answer(); });
          if (r.ok()) reply = auth->seal(std::move(*r));
          else reply = auth->seal(failover::format_reply({false, "ERROR " + r.error().user_message, {}}));
        } else {
          reply = step.reply;
        }
      }
      if (step.kind == failover::ServerAuth::Step::Refused) failover::log_refusal(conn->peer(), step.why);
      Status st = co_await conn->write_and_flush(reply);
      if (!st.ok() || step.kind == failover::ServerAuth::Step::Refused) co_return;
      if (step.kind == failover::ServerAuth::Step::Authenticated) conn->set_idle_timeout(std::chrono::seconds(60));
    }
  }
};

boost::asio::awaitable<void> serve_failover(std::shared_ptr<const server::ServiceContext> ctx,
                                            std::string peer_host_cfg, std::string secret,
                                            std::shared_ptr<server::net::Connection> conn) {
  auto session = std::make_shared<FailoverSession>();
  session->ctx = std::move(ctx);
  session->secret = std::move(secret);
  session->conn = std::move(conn);
  std::string host = peer_host(session->conn->peer());
  session->trusted = session->conn->is_unix() || is_loopback(host) ||
                     (!peer_host_cfg.empty() && host == peer_host_cfg);
  co_await session->run();
}

}  // namespace

int failover_main(int argc, char** argv) {
  if (argc < 2) return usage("a subcommand is required");
  std::string sub = argv[1];
  std::string conf_path = "/etc/imapd.conf";
  bool conf_given = false;
  std::string cyrus_conf = "/etc/cyrus.conf";
  std::string address, listen, state, secret_file;
  bool force = false;
  for (int i = 2; i < argc; ++i) {
    std::string_view a = argv[i];
    auto value = [&]() -> const char* { return i + 1 < argc ? argv[++i] : nullptr; };
    if (a == "--force" && (sub == "promote" || sub == "abandon-rejoin")) {
      force = true;
    } else if (a == "-C" || a == "-M" || a == "-a" || a == "-l" || a == "-s" || a == "-k") {
      const char* v = value();
      if (!v) return usage((std::string(a) + " needs a value").c_str());
      if (a == "-C") conf_path = v, conf_given = true;
      else if (a == "-M") cyrus_conf = v;
      else if (a == "-a") address = v;
      else if (a == "-l" && sub == "witness") listen = v;
      else if (a == "-s" && sub == "witness") state = v;
      else if (a == "-k" && sub == "witness") secret_file = v;
      else return usage(("unknown argument \"" + std::string(a) + "\"").c_str());
    } else if (a == "-h" || a == "--help") {
      usage(nullptr);
      return 0;
    } else {
      return usage(("unknown argument \"" + std::string(a) + "\"").c_str());
    }
  }
  if (sub == "witness") return witness_main(listen, state, conf_given ? conf_path : "", secret_file);
  std::string verb;
  if (sub == "status") verb = "STATUS";
  else if (sub == "switchover") verb = "SWITCHOVER";
  else if (sub == "promote") {
    if (!force)
      return usage("promote needs --force: promotion is automatic with a witness; forcing it can make two primaries");
    verb = "PROMOTE FORCE";
  } else if (sub == "abandon-rejoin") {
    if (!force)
      return usage("abandon-rejoin needs --force: user changes only this node has that the reconcile did not copy "
                   "back (subscriptions, Sieve scripts, seen state) may be overwritten");
    verb = "ABANDON-REJOIN";
  } else {
    return usage(("unknown subcommand \"" + sub + "\"").c_str());
  }
  auto where = local_service_address(address, cyrus_conf);
  if (!where.ok()) {
    fprintf(stderr, "cyr_failover: %s\n", where.error().describe().c_str());
    return kExitConfig;
  }
  // The node's failover_secret, to authenticate with: from -C, or from the
  // default imapd.conf when there is one.
  std::string secret;
  std::error_code ec;
  if (conf_given || std::filesystem::exists(conf_path, ec)) {
    std::vector<config::Diagnostic> diags;
    auto conf = config::ImapdConf::load(conf_path, &diags);
    if (!conf) {
      fprintf(stderr, "cyr_failover: %s\n", conf.error().describe().c_str());
      return kExitConfig;
    }
    secret = conf->get_string("failover_secret");
    if (Status sc = failover::check_secret(secret); !sc.ok()) {
      fprintf(stderr, "cyr_failover: %s: %s\n", conf_path.c_str(), sc.error().describe().c_str());
      return kExitConfig;
    }
  }
  return admin_main(verb, *where, secret);
}

void register_failover_service(server::ServiceRegistry& registry) {
  registry.add("failover", [](std::shared_ptr<const server::ServiceContext> ctx) -> Result<server::ServiceHandler> {
    if (!ctx || !ctx->conf || !ctx->blocking) return Error(Errc::Invalid, "failover: incomplete service context");
    // Requests that change roles are taken from loopback (cyr_failover on
    // this host) and from the configured peer only.
    std::string secret = ctx->conf->get_string("failover_secret");
    if (Status sc = failover::check_secret(secret); !sc.ok()) return sc.error();
    std::string peer_cfg = ctx->conf->get_string("failover_peer");
    std::string peer_host_cfg;
    if (auto hp = failover::parse_host_port(peer_cfg); hp.ok()) peer_host_cfg = hp->host;
    server::ServiceHandler h;
    h.refusal_line = "NO too many connections\r\n";
    h.quiet_connections = true;  // a heartbeat each failover_timeout / 4
    // The closure only forwards: a coroutine's parameters live in its frame,
    // a lambda's captures do not outlive the call that started it.
    h.run_session = [ctx, peer_host_cfg, secret](std::shared_ptr<server::net::Connection> conn) {
      return serve_failover(ctx, peer_host_cfg, secret, std::move(conn));
    };
    return h;
  });
}

std::shared_ptr<void> start_failover(const config::ImapdConf& conf) {
  if (conf.get_string("failover_peer").empty()) return nullptr;
  auto store = server::node_store(conf);
  if (!store.ok()) {
    CYR_LOG(Critical, "failover", "controller not started: %s", store.error().describe().c_str());
    return nullptr;
  }
  auto opts = failover::controller_options_from_config(conf);
  if (!opts.ok()) {
    // Fail safe, as below: a pair member without its controller would take
    // writes with no lease and no peer watching (e.g. a failover_secret too
    // short to use).
    CYR_LOG(Critical, "failover", "controller not started, writes refused: %s", opts.error().describe().c_str());
    (*store)->set_write_hold("the failover controller is not running: " + opts.error().user_message);
    return nullptr;
  }
  auto rolling = sync::rolling_options_from_config(conf, "");
  if (!rolling.ok()) {
    CYR_LOG(Critical, "failover", "controller not started: %s", rolling.error().describe().c_str());
    return nullptr;
  }
  if (conf.get_string("sync_host").empty())
    CYR_LOG(Warning, "failover", "no sync_host: a primary of this pair cannot replicate to its peer");
  // The controller is this node's one rolling client (ops/rolling_lock.h):
  // another one (a DAEMON sync_client -r) would push to the peer whatever
  // this node's role. Fail safe: no controller, no client writes.
  auto paths = config::Paths::from_config(conf);
  auto lock = paths.ok() ? RollingLock::try_acquire(paths->configdirectory)
                         : Result<RollingLock>(paths.error());
  if (!lock.ok()) {
    CYR_LOG(Critical, "failover", "controller not started, writes refused: %s (remove any sync_client -r entry "
            "from cyrus.conf: the controller runs replication)", lock.error().describe().c_str());
    (*store)->set_write_hold("the failover controller is not running");
    return nullptr;
  }
  auto held_lock = std::make_shared<RollingLock>(std::move(*lock));
  bool sync_mode = conf.get_string("sync_mode") == "sync";
  auto link = std::make_unique<failover::SyncLink>(*store, std::move(*rolling), sync_mode);
  failover::SyncLink* link_view = link.get();  // owned by the controller, which outlives the barrier
  if (opts->secret.empty())
    CYR_LOG(Warning, "failover",
            "no failover_secret: the failover control port is open to anyone who can reach it (they can ask for a "
            "switchover or send false heartbeats); set the same failover_secret on both nodes and the witness");
  failover::Transport transport = [secret = opts->secret](const std::string& address, const std::string& request,
                                                          std::chrono::milliseconds timeout) {
    return failover::exchange(address, request, timeout, secret);
  };
  auto controller = std::make_shared<failover::Controller>(*store, std::move(*opts), std::move(link),
                                                           std::move(transport),
                                                           failover::make_hook_runner(conf.get_string("failover_hook")));
  std::shared_ptr<failover::SyncBarrier> barrier;
  if (sync_mode) {
    auto timeout = std::chrono::duration_cast<std::chrono::milliseconds>(conf.get_duration("sync_timeout"));
    barrier = std::make_shared<failover::SyncBarrier>(
        **store, timeout, [link_view] { return link_view->healthy(); }, [link_view] { link_view->kick(); });
    // Weak: the link (owned by the controller) must not keep the barrier,
    // which the controller's status keeps, alive in a cycle.
    std::weak_ptr<failover::SyncBarrier> weak = barrier;
    link_view->set_listener(
        [weak] {
          if (auto b = weak.lock()) b->notify();
        },
        [weak](const std::vector<uint64_t>& seqs) {
          if (auto b = weak.lock()) b->replicated(seqs);
        });
    controller->set_sync_state([barrier] { return barrier->state(); });
    (*store)->set_replication_barrier(barrier);
  }
  controller->start();
  {
    std::lock_guard lk(g_mu);
    g_controller = controller;
  }
  const auto& o = controller->options();
  CYR_LOG(Notice, "failover", "controller started: node %s, peer %s, witness %s, timeout %lld ms", o.node.c_str(),
          o.peer.c_str(), o.witness.empty() ? "none (manual promotion only)" : o.witness.c_str(),
          static_cast<long long>(o.timeout.count()));
  // The handle stops the controller (and its replication) when destroyed.
  auto node_store = *store;
  return std::shared_ptr<void>(controller.get(), [controller, held_lock, node_store, sync_mode](void*) {
    if (sync_mode) node_store->set_replication_barrier(nullptr);  // before the link it asks goes
    {
      std::lock_guard lk(g_mu);
      g_controller.reset();
    }
    controller->stop();  // stops replication before the lock is released
  });
}

}  // namespace cyr::ops
