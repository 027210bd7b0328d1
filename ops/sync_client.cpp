// cyr_sync_client: replicate this node's store to its replica over csync.
//
//   cyr_sync_client [-C imapd.conf] [-S host] [-n channel] [-v] [-l] [-z] [-O]
//                   (-A | -u user... | -m mailbox... | -f file | -r | --verify [user...])
//
// One-shot modes run once and exit 0 on success. -r is the rolling daemon:
// every sync_repeat_interval it replicates the store's unacknowledged change
// records, reconnecting with back-off (15 s doubling, at most
// sync_reconnect_maxwait), and exits when sync_shutdown_file appears. It is
// meant as a cyrus.conf DAEMON entry (`syncclient cmd="sync_client -r"`),
// beside cyr_master: the store is opened as a Secondary, and the rolling lock
// (ops/rolling_lock.h) makes sure only one rolling client runs per store.
// --verify compares both nodes and prints every difference; exit 0 only if
// they are identical.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "ops/adm/common.h"
#include "ops/commands.h"
#include "ops/rolling_lock.h"
#include "server/node_store.h"
#include "store/base/log.h"
#include "store/config/imapd_conf.h"
#include "store/config/paths.h"
#include "store/store_config.h"
#include "sync/rolling_daemon.h"
#include "sync/rolling_sync.h"
#include "sync/sync_client.h"
#include "sync/sync_log.h"
#include "sync/sync_transport.h"

namespace cyr::ops {
namespace {

constexpr int kExUsage = 64;
constexpr int kExConfig = 78;
constexpr int kExTempFail = 75;

enum class Mode { None, All, Users, Mailboxes, File, Rolling, Verify };

struct Args {
  std::string imapd_conf = "/etc/imapd.conf";
  std::string host, channel, file;
  bool verbose = false, no_copyback = false, compress = false;
  Mode mode = Mode::None;
  std::vector<std::string> items;
};

int usage() {
  fprintf(stderr,
          "usage: cyr_sync_client [-C imapd.conf] [-S host] [-n channel] [-v] [-l] [-z] [-O]\n"
          "                       (-A | -u user... | -m mailbox... | -f file | -r | --verify [user...])\n"
          "  -A          every user and shared mailbox\n"
          "  -u          the named users        -m  the named mailboxes (internal names)\n"
          "  -f file     the events of a sync log file (USER u, MAILBOX m, ...)\n"
          "  -r          rolling: replicate the change log until sync_shutdown_file appears\n"
          "  --verify    compare both nodes; exit 0 only if identical\n"
          "  -S host     replica (default sync_host)   -n channel  per-channel options\n"
          "  -O          no copy-back: report a checksum failure instead of a full compare\n"
          "  -z          zstd-compress the stream (X-CYR-COMPRESS; fails if the replica lacks it)\n"
          "  -v verbose; -l log to syslog\n");
  return kExUsage;
}

bool set_mode(Args& a, Mode m) {
  if (a.mode != Mode::None && a.mode != m) return false;
  a.mode = m;
  return true;
}

Status run_file(store::Store& st, sync::SyncClient& client, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error(Errc::NotFound, "Cannot read " + path);
  std::ostringstream ss;
  ss << in.rdbuf();
  auto log = sync::parse_sync_log(ss.str());
  if (!log.ok()) return log.take_error();
  for (auto& r : log->rejected) fprintf(stderr, "%s:%zu: %s\n", path.c_str(), r.line_number, r.reason.c_str());
  std::vector<store::ChangeRecord> changes;
  for (auto& e : log->events) {
    if (e.type == sync::SyncLogType::Unuser) {
      CYR_TRY(client.unuser(e.arg1));
      continue;
    }
    for (auto& c : sync::change_records_of(e)) changes.push_back(std::move(c));
  }
  for (auto& c : changes)
    if (c.kind == store::ChangeKind::Seen) client.add_seen_hint(c.arg1, c.arg2);
  auto plan = sync::plan_rolling_cycle(changes);
  for (auto& n : plan.unmailboxes)
    if (!st.lookup(n).ok()) CYR_TRY(client.unmailbox(n));
  for (auto& n : plan.mailboxes) CYR_TRY(client.sync_mailboxes({n}));
  for (auto& u : plan.users) CYR_TRY(client.sync_user(u));
  for (auto& u : plan.metas) CYR_TRY(client.sync_meta(u));
  return {};
}

}  // namespace

int sync_client_main(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    std::string_view s = argv[i];
    auto need = [&](std::string& out) {
      if (i + 1 >= argc) return false;
      out = argv[++i];
      return true;
    };
    if (s == "-C") { if (!need(a.imapd_conf)) return usage(); }
    else if (s == "-S") { if (!need(a.host)) return usage(); }
    else if (s == "-n") { if (!need(a.channel)) return usage(); }
    else if (s == "-f") { if (!need(a.file) || !set_mode(a, Mode::File)) return usage(); }
    else if (s == "-v") a.verbose = true;
    else if (s == "-z") a.compress = true;
    else if (s == "-l" || s == "-o") {}
    else if (s == "-O") a.no_copyback = true;
    else if (s == "-A") { if (!set_mode(a, Mode::All)) return usage(); }
    else if (s == "-u") { if (!set_mode(a, Mode::Users)) return usage(); }
    else if (s == "-m") { if (!set_mode(a, Mode::Mailboxes)) return usage(); }
    else if (s == "-r") { if (!set_mode(a, Mode::Rolling)) return usage(); }
    else if (s == "--verify") { if (!set_mode(a, Mode::Verify)) return usage(); }
    else if (!s.empty() && s[0] == '-') return usage();
    else a.items.emplace_back(s);
  }
  if (a.mode == Mode::None) return usage();
  if ((a.mode == Mode::Users || a.mode == Mode::Mailboxes) && a.items.empty()) return usage();

  std::vector<config::Diagnostic> diags;
  auto conf = config::ImapdConf::load(a.imapd_conf, &diags);
  if (!conf.ok()) {
    fprintf(stderr, "cyr_sync_client: %s\n", conf.error().describe().c_str());
    return kExConfig;
  }
  std::string ch = a.channel;
  sync::TcpPeerOptions po;
  po.host = a.host.empty() ? conf->get_string("sync_host", ch) : a.host;
  std::string port = conf->get_string("sync_port", ch);
  if (!port.empty()) po.port = port;
  bool port_given = !port.empty() || po.host.find(':') != std::string::npos;
  if (auto colon = po.host.rfind(':'); colon != std::string::npos && po.host.find(']') == std::string::npos &&
                                        po.host.find(':') == colon && po.host[0] != '/') {
    po.port = po.host.substr(colon + 1);
    po.host.resize(colon);
  }
  // sync_try_imap (Cyrus 3.x, default yes): imapd's X-REPLICATION first.
  // With a port given (sync_port or host:port) both attempts go there, as in
  // Cyrus; without one, IMAP goes to the imap port and csync to 2005.
  po.try_imap = conf->get_switch("sync_try_imap", ch);
  if (!port_given) po.imap_port = "imap";
  po.compress = a.compress;  // -z: compression or failure
  po.compress_if_offered = conf->get_switch("sync_compress", ch);
  po.authname = conf->get_string("sync_authname", ch);
  po.password = conf->get_string("sync_password", ch);
  auto timeout = conf->get_duration("sync_timeout");
  if (timeout.count() >= 3) po.timeout = timeout;
  if (po.host.empty()) {
    fprintf(stderr, "cyr_sync_client: no replica: set sync_host or use -S\n");
    return kExConfig;
  }
  auto sopts = store::options_from_config(*conf);
  if (!sopts.ok()) {
    fprintf(stderr, "cyr_sync_client: %s\n", sopts.error().describe().c_str());
    return kExConfig;
  }
  // Secondary: every mode may run while cyr_master serves this store.
  sopts->open_mode = store::OpenMode::Secondary;
  // A one-shot run (-A, -u, -m, -f, --verify) takes the users one after the
  // other, each user's mailboxes together, so a few open databases do; with
  // the node's store_open_shards (4,096) an -A over 2,000 users ended with
  // every one of them open (docs/performance.md). The rolling daemon comes
  // back to the same users all the time and keeps the configured size.
  if (a.mode != Mode::Rolling) adm::limit_open_shards_for_one_pass(*sopts);
  auto opened = store::Store::open(*sopts);
  if (!opened.ok()) {
    fprintf(stderr, "cyr_sync_client: cannot open the store: %s\n", opened.error().describe().c_str());
    return kExTempFail;
  }
  std::shared_ptr<store::Store> node(std::move(*opened));
  server::set_node_store(node);  // anything in this process asking for the node's store gets this one
  sync::SyncClientOptions co;
  co.no_copyback = a.no_copyback;
  co.sid = "sync_client";
  if (a.verbose) co.progress = [](const std::string& l) { fprintf(stdout, "%s\n", l.c_str()); };

  if (a.mode == Mode::Rolling) {
    if (!conf->get_string("failover_peer").empty()) {
      // The failover controller replicates while this node is the primary.
      fprintf(stderr, "cyr_sync_client: failover_peer is set: the failover controller runs replication\n");
      return kExConfig;
    }
    auto ro = sync::rolling_options_from_config(*conf, ch);
    if (!ro.ok()) {
      fprintf(stderr, "cyr_sync_client: %s\n", ro.error().describe().c_str());
      return kExConfig;
    }
    auto paths = config::Paths::from_config(*conf);
    if (!paths.ok()) {
      fprintf(stderr, "cyr_sync_client: %s\n", paths.error().describe().c_str());
      return kExConfig;
    }
    // One consumer of the change log per store. Exit (the master restarts a
    // DAEMON entry with back-off) rather than steal half the changes.
    auto lock = RollingLock::try_acquire(paths->configdirectory);
    if (!lock.ok()) {
      fprintf(stderr, "cyr_sync_client: %s\n", lock.error().describe().c_str());
      return lock.error().code == Errc::InUse ? kExTempFail : kExConfig;
    }
    ro->peer = po;
    ro->client = co;
    sync::RollingReplicator rolling(node, std::move(*ro));
    return rolling.run();
  }

  auto peer = sync::TcpSyncPeer::connect(po);
  if (!peer.ok()) {
    fprintf(stderr, "cyr_sync_client: %s\n", peer.error().describe().c_str());
    return kExTempFail;
  }
  if (a.verbose)
    printf("connected to %s %s\n", po.host.c_str(),
           (*peer)->over_imap() ? "over IMAP (X-REPLICATION)"
           : (*peer)->compressed() ? "over csync, zstd" : "over csync");
  if (a.mode == Mode::Verify) {
    auto rep = sync::verify(*node, **peer, a.items);
    (*peer)->close();
    if (!rep.ok()) {
      fprintf(stderr, "cyr_sync_client: %s\n", rep.error().describe().c_str());
      return kExTempFail;
    }
    for (auto& d : rep->differences) printf("%s\n", d.c_str());
    printf("%zu mailboxes compared, %zu differences\n", rep->mailboxes_compared, rep->differences.size());
    return rep->identical() ? 0 : 1;
  }
  sync::SyncClient client(*node, **peer, co);
  Status st;
  switch (a.mode) {
    case Mode::All: st = client.sync_all(); break;
    case Mode::Users:
      // The users' seen state on folders they do not own goes with them.
      st = client.scan_foreign_seen();
      for (auto& u : a.items) {
        if (!st.ok()) break;
        st = client.sync_user(u);
        if (!st.ok()) break;
      }
      break;
    case Mode::Mailboxes: st = client.sync_mailboxes(a.items); break;
    case Mode::File: st = run_file(*node, client, a.file); break;
    default: break;
  }
  uint64_t wire_sent = (*peer)->bytes_sent(), wire_received = (*peer)->bytes_received();
  (*peer)->close();
  const auto& s = client.stats();
  if (a.verbose)
    printf("%llu bytes sent, %llu received on the wire\n", (unsigned long long)wire_sent,
           (unsigned long long)wire_received);
  if (a.verbose)
    printf("%llu mailboxes applied, %llu unchanged, %llu messages (%llu bytes) uploaded, %llu reserved, %llu full syncs\n",
           (unsigned long long)s.mailboxes_applied, (unsigned long long)s.mailboxes_unchanged,
           (unsigned long long)s.messages_uploaded, (unsigned long long)s.bytes_uploaded,
           (unsigned long long)s.messages_reserved, (unsigned long long)s.full_syncs);
  if (!st.ok()) {
    fprintf(stderr, "cyr_sync_client: %s\n", st.error().describe().c_str());
    return 1;
  }
  return 0;
}

}  // namespace cyr::ops
