// Rolling replication loop. See rolling_daemon.h.
#include "sync/rolling_daemon.h"

#include <fstream>

#include "store/base/log.h"
#include "store/config/paths.h"
#include "sync/rolling_sync.h"

namespace cyr::sync {

Result<RollingOptions> rolling_options_from_config(const config::ImapdConf& conf, const std::string& ch) {
  RollingOptions o;
  o.peer.host = conf.get_string("sync_host", ch);
  if (o.peer.host.empty()) return Error(Errc::Invalid, "sync_host is not set");
  std::string port = conf.get_string("sync_port", ch);
  if (!port.empty()) o.peer.port = port;
  auto colon = o.peer.host.rfind(':');
  if (colon != std::string::npos && o.peer.host[0] != '/' && o.peer.host.find(':') == colon) {
    o.peer.port = o.peer.host.substr(colon + 1);
    o.peer.host.resize(colon);
  }
  o.peer.authname = conf.get_string("sync_authname", ch);
  o.peer.password = conf.get_string("sync_password", ch);
  auto t = conf.get_duration("sync_timeout");
  if (t.count() >= 3) o.peer.timeout = t;
  o.shutdown_file = conf.get_string("sync_shutdown_file", ch);
  auto maxwait = conf.get_duration("sync_reconnect_maxwait");
  if (maxwait.count() > 0) o.backoff_max = maxwait;
  int64_t batch = conf.get_int("sync_batchsize");
  if (batch > 0) o.client.batch_size = static_cast<size_t>(batch);
  o.client.sid = "sync_client";
  auto paths = config::Paths::from_config(conf);
  if (paths.ok()) o.status_file = paths->sync_log_dir / (ch.empty() ? "status" : ch + "/status");
  return o;
}

RollingReplicator::RollingReplicator(std::shared_ptr<store::Store> store, RollingOptions opts)
    : store_(std::move(store)), opts_(std::move(opts)) {}

RollingReplicator::~RollingReplicator() { stop(); }

void RollingReplicator::start() {
  stop_ = false;
  thread_ = std::thread([this] { run(); });
}

void RollingReplicator::stop() {
  {
    std::lock_guard lk(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

bool RollingReplicator::wait(std::chrono::milliseconds d) {
  std::unique_lock lk(mu_);
  cv_.wait_for(lk, d, [&] { return stop_.load(); });
  return !stop_;
}

RollingStatus RollingReplicator::status() const {
  std::lock_guard lk(mu_);
  return status_;
}

void RollingReplicator::publish() {
  if (opts_.status_file.empty()) return;
  RollingStatus s = status();
  std::error_code ec;
  std::filesystem::create_directories(opts_.status_file.parent_path(), ec);
  std::string tmp = opts_.status_file.string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << "connected " << (s.connected ? 1 : 0) << "\n"
        << "cycles " << s.cycles << "\n"
        << "changes_replicated " << s.changes_replicated << "\n"
        << "pending " << s.pending << "\n"
        << "lag_seconds " << s.lag_seconds << "\n"
        << "last_error " << s.last_error << "\n";
    for (auto& f : s.failures) out << "failure " << f << "\n";
  }
  std::filesystem::rename(tmp, opts_.status_file, ec);
}

int RollingReplicator::run() {
  using clock = std::chrono::steady_clock;
  std::unique_ptr<TcpSyncPeer> peer;
  auto backoff = opts_.backoff_start;
  std::optional<clock::time_point> pending_since;
  while (!stop_) {
    if (!opts_.shutdown_file.empty() && std::filesystem::exists(opts_.shutdown_file)) {
      std::error_code ec;
      std::filesystem::remove(opts_.shutdown_file, ec);
      CYR_LOG(Notice, "sync_client", "rolling: shutdown file found; stopping");
      break;
    }
    auto pending = store_->read_changes(1);
    if (!pending.ok() || pending->records.empty()) {
      {
        std::lock_guard lk(mu_);
        status_.pending = 0;
        status_.lag_seconds = 0;
      }
      pending_since.reset();
      if (!wait(opts_.poll)) break;
      continue;
    }
    if (!pending_since) pending_since = clock::now();
    if (!peer) {
      auto p = TcpSyncPeer::connect(opts_.peer);
      if (!p.ok()) {
        CYR_LOG(Warning, "sync_client", "rolling: cannot connect to %s: %s; retrying in %llds", opts_.peer.host.c_str(),
                p.error().describe().c_str(), static_cast<long long>(backoff.count()));
        {
          std::lock_guard lk(mu_);
          status_.connected = false;
          status_.last_error = p.error().describe();
          status_.pending = 1;
          status_.lag_seconds = std::chrono::duration<double>(clock::now() - *pending_since).count();
        }
        publish();
        if (!wait(std::chrono::duration_cast<std::chrono::milliseconds>(backoff))) break;
        backoff = std::min(backoff * 2, opts_.backoff_max);
        continue;
      }
      peer = std::move(*p);
      backoff = opts_.backoff_start;
    }
    SyncClient client(*store_, *peer, opts_.client);
    auto res = run_rolling_cycle(*store_, client);
    {
      std::lock_guard lk(mu_);
      ++status_.cycles;
      status_.connected = true;
      if (!res.ok()) {
        status_.last_error = res.error().describe();
      } else if (!res->failures.empty()) {
        status_.failures = res->failures;
        status_.last_error = res->failures.front();
      } else {
        status_.changes_replicated += res->changes;
        status_.failures.clear();
      }
      status_.lag_seconds = std::chrono::duration<double>(clock::now() - *pending_since).count();
    }
    if (!res.ok() || !res->failures.empty()) {
      // Reconnect and replay: the records were not acknowledged.
      peer.reset();
      {
        std::lock_guard lk(mu_);
        status_.connected = false;
      }
      publish();
      if (!wait(std::chrono::duration_cast<std::chrono::milliseconds>(backoff))) break;
      backoff = std::min(backoff * 2, opts_.backoff_max);
      continue;
    }
    pending_since.reset();
    publish();
  }
  if (peer) peer->close();
  return 0;
}

}  // namespace cyr::sync
