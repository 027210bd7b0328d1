// Rolling replication loop. See rolling_daemon.h.
#include "sync/rolling_daemon.h"

#include <deque>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <system_error>

#include "store/base/log.h"
#include "store/base/thread_name.h"
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
  o.peer.compress_if_offered = conf.get_switch("sync_compress", ch);
  auto t = conf.get_duration("sync_timeout");
  if (t.count() >= 3) o.peer.timeout = t;
  o.shutdown_file = conf.get_string("sync_shutdown_file", ch);
  auto maxwait = conf.get_duration("sync_reconnect_maxwait");
  if (maxwait.count() > 0) o.backoff_max = maxwait;
  int64_t batch = conf.get_int("sync_batchsize");
  if (batch > 0) o.client.batch_size = static_cast<size_t>(batch);
  int64_t streams = conf.get_int("sync_parallel_streams", ch);
  if (streams > 0) o.streams = static_cast<size_t>(std::min<int64_t>(streams, 64));
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
  thread_ = std::thread([this] {
    set_thread_name("sync-log");
    run();
  });
}

void RollingReplicator::stop() {
  {
    std::lock_guard lk(mu_);
    stop_ = true;
    for (auto* cv : chain_cvs_) cv->notify_all();
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

bool RollingReplicator::wait(std::chrono::milliseconds d, bool kickable) {
  std::unique_lock lk(mu_);
  cv_.wait_for(lk, d, [&] { return stop_.load() || (kickable && kicked_); });
  if (kickable) kicked_ = false;
  return !stop_;
}

void RollingReplicator::kick() {
  std::lock_guard lk(mu_);
  kicked_ = true;
  ++kick_gen_;
  // Under mu_: a chain unregisters (and its stream may end) only under it.
  cv_.notify_all();
  for (auto* cv : chain_cvs_) cv->notify_all();
}

void RollingReplicator::progress() {
  if (opts_.on_progress) opts_.on_progress();
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
  std::ostringstream text;
  text << "connected " << (s.connected ? 1 : 0) << "\n"
       << "cycles " << s.cycles << "\n"
       << "changes_replicated " << s.changes_replicated << "\n"
       << "pending " << s.pending << "\n"
       << "lag_seconds " << s.lag_seconds << "\n"
       << "last_error " << s.last_error << "\n"
       << "streams " << s.streams << "\n"
       << "busy_streams " << s.busy_streams << "\n";
  for (auto& f : s.failures) text << "failure " << f << "\n";
  // Each write is a new file renamed over the old one (readers never see
  // half a file): not repeated for the same content, which an idle or
  // drained loop would otherwise do on every pass.
  std::string content = text.str();
  if (content == last_published_) return;
  std::string tmp = opts_.status_file.string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << content;
    if (!out) return;
  }
  std::filesystem::rename(tmp, opts_.status_file, ec);
  if (!ec) last_published_ = std::move(content);
}

int RollingReplicator::run() {
  {
    std::lock_guard lk(mu_);
    status_.streams = std::max<size_t>(1, opts_.streams);
  }
  return opts_.streams > 1 ? run_parallel() : run_single();
}

int RollingReplicator::run_single() {
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
        progress();
        if (!wait(std::chrono::duration_cast<std::chrono::milliseconds>(backoff), false)) break;
        backoff = std::min(backoff * 2, opts_.backoff_max);
        continue;
      }
      peer = std::move(*p);
      backoff = opts_.backoff_start;
    }
    SyncClient client(*store_, *peer, opts_.client);
    auto res = run_rolling_cycle(*store_, client, opts_.max_changes, opts_.on_replicated);
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
    if (res.ok() && res->changes > 0) progress();
    if (!res.ok() || !res->failures.empty()) {
      // Reconnect and replay: the records were not acknowledged.
      peer.reset();
      {
        std::lock_guard lk(mu_);
        status_.connected = false;
      }
      publish();
      progress();
      if (!wait(std::chrono::duration_cast<std::chrono::milliseconds>(backoff), false)) break;
      backoff = std::min(backoff * 2, opts_.backoff_max);
      continue;
    }
    pending_since.reset();
    publish();
  }
  if (peer) peer->close();
  return 0;
}

// ---- parallel streams ------------------------------------------------------------

using Clock = std::chrono::steady_clock;
// Eager chains: rounds sent and not yet answered, at most (see run_chain).
constexpr size_t kRoundsInFlight = 2;

struct RollingReplicator::Stream {
  std::unique_ptr<SyncPeer> peer;        // touched by the stream's thread only (and its chain's reader)
  std::unique_ptr<SyncClient> client;    // on `peer`
  std::atomic<bool> connected{false};    // read by the log reader
  std::thread thread;
  // Eager mode: the rounds sent and not yet answered, and the thread that
  // reads their replies. The reader lives as long as the connection, not
  // one chain: a chain ends whenever nothing was written meanwhile, and a
  // thread started per chain cost a thread creation every other message
  // in sync mode. Under the replicator's mu_.
  struct Flight {
    RollingUnit unit;
    SentRound round;
  };
  struct Settled {
    Flight flight;
    Status status;
  };
  std::deque<Flight> sent;
  std::deque<Settled> settled;
  bool reader_stop = false, connection_lost = false;
  std::condition_variable recv_cv;  // the reader waits here for a round to read
  // The stream's chain waits here (under mu_) for its reader's replies and
  // for kicks: its own, so that a reply wakes this chain only, not the log
  // reader and every other chain.
  std::condition_variable chain_cv;
  std::thread reader;
};

// What the log reader and the streams share, under `mu`.
struct RollingReplicator::Shared {
  std::mutex mu;
  std::condition_variable cv;       // work queued (one notify per unit), or stopping
  std::condition_variable stop_cv;  // stopping (a stream pausing after a failure waits here)
  std::deque<RollingUnit> queue;
  std::set<std::string> busy_keys;          // keys of queued or running units
  std::set<uint64_t> dispatched;            // seqs of queued or running units
  std::map<std::string, Clock::time_point> retry_after;  // keys whose last unit failed
  std::map<std::string, std::chrono::seconds> key_backoff;
  size_t running = 0;
  bool stopping = false;
  // Eager mode: units the replica applied, acknowledged here by ack_main()
  // while their stream goes on with the next round (the acknowledgement is
  // a commit on the primary: no reason for the next round to wait for it).
  // Their seqs stay in `dispatched` until then.
  std::deque<RollingUnit> to_ack;
  std::condition_variable ack_cv;
  bool ack_stopping = false;
  // Eager mode: the replica's mailbox states after each accepted APPLY
  // MAILBOX, for rounds sent without asking (thread-safe on its own).
  ReplicaStates states;
};

// Stops and joins the stream's reply reader, before its connection goes.
void RollingReplicator::stop_reader(Stream& st) {
  {
    std::lock_guard lk(mu_);
    st.reader_stop = true;
  }
  st.recv_cv.notify_all();
  if (st.reader.joinable()) st.reader.join();
  std::lock_guard lk(mu_);
  st.reader_stop = false;
  st.connection_lost = false;
  st.sent.clear();
  st.settled.clear();
}

void RollingReplicator::stream_main(Stream& st, Shared& sh) {
  for (;;) {
    RollingUnit unit;
    {
      std::unique_lock lk(sh.mu);
      sh.cv.wait(lk, [&] { return sh.stopping || !sh.queue.empty(); });
      if (sh.stopping) break;
      unit = std::move(sh.queue.front());
      sh.queue.pop_front();
      ++sh.running;
    }
    std::vector<std::string> failures;
    bool transport_down = false;
    if (!st.peer) {
      Result<std::unique_ptr<SyncPeer>> p = Error(Errc::Internal, "no connection");
      if (opts_.connect) {
        p = opts_.connect();
      } else if (auto t = TcpSyncPeer::connect(opts_.peer); t.ok()) {
        p = std::unique_ptr<SyncPeer>(std::move(*t));
      } else {
        p = t.take_error();
      }
      if (p.ok()) {
        st.peer = std::move(*p);
        // One client per connection: it knows which files the replica holds
        // staged (dropped by a RESTART ahead of a later round).
        st.client = std::make_unique<SyncClient>(*store_, *st.peer, opts_.client);
        if (opts_.eager) st.client->set_replica_states(&sh.states);
      } else {
        failures.push_back("connect " + opts_.peer.host + ": " + p.error().describe());
        transport_down = true;
      }
    }
    st.connected = st.peer != nullptr;
    bool handed_over = false;  // to ack_main(), which also releases the seqs
    if (st.peer && opts_.eager) {
      // `unit` is left holding what was not replicated.
      failures = run_chain(st, sh, unit, transport_down);
      handed_over = failures.empty();
      if (transport_down) {
        stop_reader(st);
        st.client.reset();
        st.peer.reset();
        st.connected = false;
      }
    } else if (st.peer) {
      size_t actions = 0;
      failures = run_rolling_unit(*store_, *st.client, plan_rolling_cycle(unit.records), actions);
      if (failures.empty()) {
        if (opts_.on_replicated) {
          std::vector<uint64_t> seqs;
          for (auto& r : unit.records) seqs.push_back(r.seq);
          opts_.on_replicated(seqs);
        }
        store::ChangeBatch done{unit.records};
        if (Status a = store_->ack_changes(done); !a.ok()) failures.push_back("acknowledge: " + a.error().describe());
      } else if (!st.peer->call(SyncCommand{"NOOP", "", {}, ""}).ok()) {
        // The connection itself is gone: the next unit reconnects.
        st.client.reset();
        st.peer.reset();
        st.connected = false;
        transport_down = true;
      }
    }
    {
      std::lock_guard lk(sh.mu);
      --sh.running;
      if (!handed_over)
        for (auto& r : unit.records) sh.dispatched.erase(r.seq);
      for (auto& k : unit.keys) sh.busy_keys.erase(k);
      if (failures.empty()) {
        for (auto& k : unit.keys) {
          sh.retry_after.erase(k);
          sh.key_backoff.erase(k);
        }
      } else {
        // This owner waits (doubling, from 1 s); the others go on.
        for (auto& k : unit.keys) {
          auto& b = sh.key_backoff[k];
          b = b.count() == 0 ? std::chrono::seconds(1) : std::min(b * 2, opts_.backoff_max);
          if (transport_down) b = std::max(b, opts_.backoff_start);
          sh.retry_after[k] = Clock::now() + b;
        }
      }
    }
    {
      std::lock_guard lk(mu_);
      if (!opts_.eager) {
        ++status_.cycles;  // (a chain counts its rounds as they are reported)
        if (failures.empty()) status_.changes_replicated += unit.records.size();
      }
      if (!failures.empty()) {
        status_.failures = failures;
        status_.last_error = failures.front();
      }
    }
    if (!handed_over) progress();
    // The log reader held back this owner's newer changes while the unit
    // ran; in eager mode it sends them now rather than at the next poll.
    if (opts_.eager) kick();
    if (transport_down) {
      // Do not spin on a peer that is down: this stream pauses, the others
      // find out for themselves.
      std::unique_lock lk(sh.mu);
      sh.stop_cv.wait_for(lk, std::min<std::chrono::seconds>(opts_.backoff_start, std::chrono::seconds(5)),
                          [&] { return sh.stopping; });
    }
  }
  stop_reader(st);
  if (st.peer) (void)st.peer->call(SyncCommand{"EXIT", "", {}, ""});
}

void RollingReplicator::report_replicated(RollingUnit&& unit, Shared& sh) {
  if (opts_.on_replicated) {
    std::vector<uint64_t> seqs;
    for (auto& r : unit.records) seqs.push_back(r.seq);
    opts_.on_replicated(seqs);
  }
  size_t n = unit.records.size();
  {
    std::lock_guard lk(sh.mu);
    sh.to_ack.push_back(std::move(unit));
  }
  sh.ack_cv.notify_one();
  std::lock_guard lk(mu_);
  ++status_.cycles;
  status_.changes_replicated += n;
}

// Eager mode. A round whose mailboxes the replica's state is known for goes
// out without a question first (SyncClient::send_known_round), and while
// the replica commits it, the owner's records written meanwhile go out as
// the next round on the same connection: the replica applies them in order,
// so its commits follow each other without waiting for this side. At most
// two rounds are outstanding (one being applied, one queued behind it); a
// third waits and then carries everything written by then. A reader thread
// takes the replies, so a write is sent as soon as it commits.
//
// Anything else (first contact with a mailbox, users, deletions, seen
// state, big uploads) runs the full path once nothing is outstanding. A
// refused round (the known state was wrong, or any error) stops the chain:
// what is outstanding is read, then the refused rounds' records run the full
// path at once, which asks the replica and repairs (CRC mismatch -> full
// compare), so a stale state costs one round, not a back-off.
std::vector<std::string> RollingReplicator::run_chain(Stream& st, Shared& sh, RollingUnit& unit,
                                                      bool& transport_down) {
  SyncClient& client = *st.client;
  using Flight = Stream::Flight;
  using Settled = Stream::Settled;
  // The reader (st.reader) waits on st.recv_cv, this thread on st.chain_cv
  // (which the reader's replies and kick() wake).
  // Reads the replies of the oldest round written; false if none is queued.
  auto settle_one = [this, &st, &sh, &client](bool wait) -> bool {
    Flight f;
    bool lost = false;
    {
      std::unique_lock lk(mu_);
      if (wait) st.recv_cv.wait(lk, [&] { return st.reader_stop || !st.sent.empty(); });
      if (st.sent.empty()) return false;
      f = std::move(st.sent.front());
      st.sent.pop_front();
      lost = st.connection_lost;
    }
    Status s;
    if (lost) {
      // Replies that can no longer be read: the round's outcome is unknown.
      for (auto& [name, _] : f.round.after) sh.states.forget(name);
      s = Error(Errc::Io, "Replica connection failed", "earlier reply lost");
    } else {
      s = client.receive_round(f.round, lost);
    }
    // Waiting writers are released from here, not after a hop to the
    // sending thread (on a busy machine every hop is a wait for a core).
    if (s.ok()) report_replicated(std::move(f.unit), sh);
    {
      std::lock_guard lk(mu_);
      if (lost) st.connection_lost = true;
      st.settled.push_back(Settled{std::move(f), std::move(s)});
    }
    st.chain_cv.notify_all();
    return true;
  };
  auto& sent = st.sent;
  auto& settled = st.settled;
  auto& connection_lost = st.connection_lost;

  // kick() wakes this chain while it runs (a write may have added records
  // for its owner).
  struct ChainRegistration {
    RollingReplicator* r;
    std::condition_variable* cv;
    ChainRegistration(RollingReplicator* rr, std::condition_variable* c) : r(rr), cv(c) {
      std::lock_guard lk(r->mu_);
      r->chain_cvs_.insert(cv);
    }
    ~ChainRegistration() {
      std::lock_guard lk(r->mu_);
      r->chain_cvs_.erase(cv);
    }
  } registration(this, &st.chain_cv);
  RollingUnit keys_only;
  keys_only.keys = unit.keys;
  // The databases the chain's records came from (the owner's shards, the
  // mailbox list): where take_followers looks for the owner's next records.
  std::set<uint64_t> chain_shards;
  for (auto& r : unit.records) chain_shards.insert(r.shard);
  RollingUnit failed;
  failed.keys = unit.keys;
  std::vector<std::string> failures;
  std::optional<RollingUnit> todo = std::move(unit);
  size_t outstanding = 0;
  bool broken = false;
  uint64_t seen_kick = 0;
  // The store's change generation of the chain's shards when they were last
  // read for followers: while it stands still, this process wrote nothing
  // there, and the read (most often empty) is skipped. 0: read.
  uint64_t followers_gen = 0;
  auto fail_unit = [&](RollingUnit&& u) {
    failed.records.insert(failed.records.end(), u.records.begin(), u.records.end());
    broken = true;
  };
  // Bounded: each pass sends a round, takes replies, or waits (at most
  // 100 ms) for one of them.
  for (size_t pass = 0; pass < 100000000; ++pass) {
    std::deque<Settled> done;
    {
      std::lock_guard lk(mu_);
      done.swap(settled);
      if (connection_lost) transport_down = true;
    }
    for (auto& d : done) {
      --outstanding;
      if (!d.status.ok()) {
        CYR_LOG(Info, "sync_client", "rolling: a pipelined round was refused (%s %s); the full path follows",
                d.status.error().user_message.c_str(), d.status.error().detail.c_str());
        fail_unit(std::move(d.flight.unit));
      }
    }
    if ((broken || stop_) && todo) {
      fail_unit(std::move(*todo));
      todo.reset();
    }
    if (broken || stop_) {
      if (outstanding == 0) break;
    } else {
      if (!todo && outstanding < kRoundsInFlight) {
        {
          std::lock_guard lk(mu_);
          seen_kick = kick_gen_;
        }
        std::vector<uint64_t> shards(chain_shards.begin(), chain_shards.end());
        uint64_t gen = store_->change_generation(shards);
        if (gen == 0 || gen != followers_gen) {
          followers_gen = gen;
          todo = take_followers(keys_only, shards, sh);
        }
        if (todo)
          for (auto& r : todo->records) chain_shards.insert(r.shard);
      }
      if (todo && outstanding < kRoundsInFlight) {
        RollingPlan plan = plan_rolling_cycle(todo->records);
        std::optional<SentRound> round;
        if (plan.users.empty() && plan.metas.empty() && plan.unmailboxes.empty() && !plan.mailboxes.empty()) {
          auto r = client.send_known_round(std::vector<std::string>(plan.mailboxes.begin(), plan.mailboxes.end()));
          if (!r.ok()) {
            // Could not write: nothing more can be read either, and what the
            // replica holds of these mailboxes is unknown.
            for (auto& name : plan.mailboxes) sh.states.forget(name);
            failures.push_back("send: " + r.error().describe());
            {
              std::lock_guard lk(mu_);
              connection_lost = true;
            }
            transport_down = true;
            fail_unit(std::move(*todo));
            todo.reset();
            continue;
          }
          round = std::move(*r);
        }
        if (round) {
          {
            std::lock_guard lk(mu_);
            sent.push_back(Flight{std::move(*todo), std::move(*round)});
          }
          if (!st.reader.joinable()) {
            try {
              // Started with the first pipelined round: a chain of one
              // full-path round (first contact, a deletion) needs none.
              // Reads with the client of the connection it was started
              // for; stop_reader() joins it before that goes.
              st.reader = std::thread([settle_one]() mutable {
                set_thread_name("sync-reply");
                while (settle_one(true)) {
                }
              });
            } catch (const std::system_error&) {
              settle_one(false);  // no thread to spare: this round is read here, unpipelined
            }
          }
          st.recv_cv.notify_one();
          ++outstanding;
          todo.reset();
          continue;
        }
        if (outstanding == 0) {
          // The full path, with nothing outstanding on the connection.
          size_t actions = 0;
          auto f = run_rolling_unit(*store_, client, plan, actions);
          if (f.empty()) {
            report_replicated(std::move(*todo), sh);
          } else {
            failures = f;
            fail_unit(std::move(*todo));
          }
          todo.reset();
          continue;
        }
        // else: wait until the outstanding rounds are answered
      }
      if (!todo && outstanding == 0) break;  // nothing written meanwhile: the chain ends
    }
    std::unique_lock lk(mu_);
    st.chain_cv.wait_for(lk, std::chrono::milliseconds(100), [&] {
      return stop_.load() || !settled.empty() || (!todo && outstanding < kRoundsInFlight && kick_gen_ != seen_kick);
    });
  }
  // Normally nothing is outstanding here and the reader stays for the next
  // chain. Rounds left unanswered (only if the pass bound ran out) are
  // read, and the reader stopped, before anything else uses the connection.
  if (outstanding > 0) {
    stop_reader(st);
    transport_down = true;
  }
  if (!failed.records.empty() && !transport_down && !stop_ && failures.empty()) {
    // A refused pipelined round: the full path asks the replica, compares
    // and repairs. The records are replayed in seq order.
    std::sort(failed.records.begin(), failed.records.end(),
              [](const store::ChangeRecord& a, const store::ChangeRecord& b) { return a.seq < b.seq; });
    size_t actions = 0;
    auto f = run_rolling_unit(*store_, client, plan_rolling_cycle(failed.records), actions);
    if (f.empty()) {
      report_replicated(std::move(failed), sh);
      failed = RollingUnit{};
      failed.keys = keys_only.keys;
    } else {
      failures = f;
    }
  }
  if (!failed.records.empty()) {
    if (failures.empty()) failures.push_back(stop_ ? "stopping" : "replica connection failed");
    if (!transport_down && !st.peer->call(SyncCommand{"NOOP", "", {}, ""}).ok()) transport_down = true;
  } else {
    failures.clear();
  }
  unit = std::move(failed);
  return failures;
}

// Eager mode: acknowledges what the streams replicated, several units in
// one call (one commit per shard), then releases their seqs to the reader.
void RollingReplicator::ack_main(Shared& sh) {
  for (;;) {
    std::deque<RollingUnit> units;
    {
      std::unique_lock lk(sh.mu);
      sh.ack_cv.wait(lk, [&] { return sh.ack_stopping || !sh.to_ack.empty(); });
      if (sh.to_ack.empty()) break;  // stopping, and everything handed over is acknowledged
      units.swap(sh.to_ack);
    }
    store::ChangeBatch all;
    for (auto& u : units) all.records.insert(all.records.end(), u.records.begin(), u.records.end());
    Status a = store_->ack_changes(all);
    if (!a.ok())
      CYR_LOG(Warning, "sync_client", "rolling: cannot acknowledge %zu replicated changes: %s; they are sent again",
              all.records.size(), a.error().describe().c_str());
    {
      std::lock_guard lk(sh.mu);
      for (auto& r : all.records) sh.dispatched.erase(r.seq);
      if (!a.ok()) {
        // Replayed after a pause, not at once (a fenced store cannot
        // acknowledge until it restarts).
        for (auto& u : units)
          for (auto& k : u.keys) {
            auto& b = sh.key_backoff[k];
            b = b.count() == 0 ? std::chrono::seconds(1) : std::min(b * 2, opts_.backoff_max);
            sh.retry_after[k] = Clock::now() + b;
          }
      }
    }
    if (!a.ok()) {
      std::lock_guard lk(mu_);
      status_.last_error = "acknowledge: " + a.error().describe();
    }
    progress();
  }
}

// Eager mode, after `done` was replicated: the records of the same owners
// that were written meanwhile (the reader holds them while the owner is
// busy), as the next unit for the same stream - no hand-off through the
// reader's next pass. Nothing if there are none, or if one of them also
// involves another owner (a rename across owners: the reader joins those).
std::optional<RollingUnit> RollingReplicator::take_followers(const RollingUnit& done,
                                                             const std::vector<uint64_t>& shards, Shared& sh) {
  // Only `shards`, the databases the chain's records came from (its owners'
  // shards and the mailbox list): reading every marked shard here, once per
  // finished unit, was most of the primary's log reading in sync mode with
  // many users. Records of these owners elsewhere are left to the reader's
  // next pass.
  auto log = store_->read_changes_in(shards, opts_.max_changes);
  if (!log.ok()) return std::nullopt;
  RollingUnit next;
  next.keys = done.keys;
  std::lock_guard lk(sh.mu);
  // An owner whose acknowledgement failed waits like one whose unit failed.
  auto now = Clock::now();
  for (auto& k : done.keys)
    if (auto ra = sh.retry_after.find(k); ra != sh.retry_after.end() && ra->second > now) return std::nullopt;
  // `done` itself, not acknowledged yet, is still in `dispatched`.
  for (auto& r : log->records) {
    if (sh.dispatched.count(r.seq)) continue;
    bool ours = false, foreign = false;
    for (auto& k : rolling_keys(r)) (done.keys.count(k) ? ours : foreign) = true;
    if (!ours) continue;
    if (foreign) return std::nullopt;
    next.records.push_back(r);
  }
  if (next.records.empty()) return std::nullopt;
  for (auto& r : next.records) sh.dispatched.insert(r.seq);
  return next;
}

int RollingReplicator::run_parallel() {
  Shared sh;
  std::vector<std::unique_ptr<Stream>> streams;
  for (size_t i = 0; i < opts_.streams; ++i) {
    streams.push_back(std::make_unique<Stream>());
    Stream& st = *streams.back();
    st.thread = std::thread([this, &st, &sh] {
      set_thread_name("sync-stream");
      stream_main(st, sh);
    });
  }
  std::thread acker;
  if (opts_.eager) acker = std::thread([this, &sh] {
      set_thread_name("sync-ack");
      ack_main(sh);
    });
  std::map<uint64_t, Clock::time_point> first_seen;  // pending seq -> when first read
  Clock::time_point last_publish{};
  while (!stop_) {
    if (!opts_.shutdown_file.empty() && std::filesystem::exists(opts_.shutdown_file)) {
      std::error_code ec;
      std::filesystem::remove(opts_.shutdown_file, ec);
      CYR_LOG(Notice, "sync_client", "rolling: shutdown file found; stopping");
      break;
    }
    auto batch = store_->read_changes_streaming(opts_.max_changes);
    auto now = Clock::now();
    size_t queued = 0;
    bool lost_connection = false;
    if (batch.ok()) {
      std::map<uint64_t, Clock::time_point> seen;
      for (auto& r : batch->records) {
        auto it = first_seen.find(r.seq);
        seen[r.seq] = it == first_seen.end() ? now : it->second;
      }
      first_seen = std::move(seen);
      std::lock_guard lk(sh.mu);
      std::vector<store::ChangeRecord> fresh;
      for (auto& r : batch->records)
        if (!sh.dispatched.count(r.seq)) fresh.push_back(r);
      for (auto& unit : split_rolling_units(fresh)) {
        bool held = false;
        for (auto& k : unit.keys) {
          auto ra = sh.retry_after.find(k);
          if (sh.busy_keys.count(k) || (ra != sh.retry_after.end() && ra->second > now)) held = true;
        }
        if (held) continue;  // this owner's stream is busy (or backing off): later
        sh.busy_keys.insert(unit.keys.begin(), unit.keys.end());
        for (auto& r : unit.records) sh.dispatched.insert(r.seq);
        sh.queue.push_back(std::move(unit));
        ++queued;
      }
    }
    // One idle stream per unit: notify_all woke every idle stream for each
    // unit, and all but one went back to sleep.
    for (size_t i = 0; i < queued; ++i) sh.cv.notify_one();
    {
      std::lock_guard lk(mu_);
      std::lock_guard lk2(sh.mu);
      status_.pending = first_seen.size();
      status_.lag_seconds = 0;
      for (auto& [seq, t] : first_seen)
        status_.lag_seconds = std::max(status_.lag_seconds, std::chrono::duration<double>(now - t).count());
      status_.busy_streams = sh.running;
      bool any = false;
      for (auto& st : streams) any = any || st->connected;
      // Streams connect lazily; "connected" = at least one is.
      lost_connection = status_.connected && !any;
      status_.connected = any;
      if (first_seen.empty()) status_.failures.clear();
      if (first_seen.empty()) status_.last_error.clear();
    }
    // Eager mode passes once per client write, and in sync mode the log
    // drains after nearly every round: the status file (for operators) is
    // rewritten at most every 100 ms; a drained log shows at the next pass
    // after that (the loop passes at least every `poll`).
    if (!opts_.eager || lost_connection || now - last_publish >= std::chrono::milliseconds(100)) {
      publish();
      last_publish = now;
    }
    if (lost_connection) progress();
    if (!wait(opts_.poll)) break;
  }
  {
    std::lock_guard lk(sh.mu);
    sh.stopping = true;
  }
  sh.cv.notify_all();
  sh.stop_cv.notify_all();
  for (auto& st : streams) st->thread.join();
  if (acker.joinable()) {
    {
      std::lock_guard lk(sh.mu);
      sh.ack_stopping = true;
    }
    sh.ack_cv.notify_all();
    acker.join();
  }
  return 0;
}

}  // namespace cyr::sync
