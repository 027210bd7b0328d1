#include "failover/controller.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>

#include "failover/auth.h"
#include "store/base/log.h"
#include "store/base/thread_name.h"
#include "store/config/imapd_conf.h"
#include "store/config/paths.h"

namespace cyr::failover {
namespace {

using std::chrono::duration_cast;
using std::chrono::milliseconds;

constexpr const char* kLog = "failover";
constexpr size_t kMaxEvents = 16;

const char* role_word(store::Role r) { return r == store::Role::Primary ? "primary" : "replica"; }

std::string seconds_text(double s) {
  char buf[32];
  snprintf(buf, sizeof buf, "%.1f", s);
  return buf;
}

double secs(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// "GRANTED <epoch> <ttl>" / "DENIED <epoch> <holder> <ms> <why>"
std::optional<uint64_t> reply_epoch(const Reply& r) {
  auto w = split_words(r.text);
  if (w.size() < 2) return std::nullopt;
  return parse_u64(w[1]);
}

}  // namespace

Result<ControllerOptions> controller_options_from_config(const config::ImapdConf& conf) {
  ControllerOptions o;
  o.node = conf.get_string("servername");
  if (o.node.empty()) {
    char host[256] = {};
    if (gethostname(host, sizeof host - 1) == 0) o.node = host;
  }
  if (!valid_token(o.node))
    return Error(Errc::Invalid, "servername \"" + o.node + "\" cannot name this node (letters, digits, . _ - : @)");
  o.peer = conf.get_string("failover_peer");
  o.witness = conf.get_string("failover_witness");
  auto timeout = conf.get_duration("failover_timeout");
  if (timeout.count() < 1) return Error(Errc::Invalid, "failover_timeout must be at least 1s");
  o.timeout = duration_cast<milliseconds>(timeout);
  o.heartbeat = std::clamp(o.timeout / 4, milliseconds(100), milliseconds(2000));
  o.sync_mode = conf.get_string("sync_mode");
  o.secret = conf.get_string("failover_secret");
  if (Status st = check_secret(o.secret); !st.ok()) return st.error();
  auto paths = config::Paths::from_config(conf);
  if (!paths.ok()) return paths.take_error();
  o.state_dir = paths->configdirectory / "failover";
  return o;
}

Controller::Controller(std::shared_ptr<store::Store> store, ControllerOptions opts,
                       std::unique_ptr<ReplicationLink> link, Transport transport, HookRunner hook,
                       std::function<Clock::time_point()> now)
    : store_(std::move(store)),
      opts_(std::move(opts)),
      link_(std::move(link)),
      transport_(std::move(transport)),
      hook_(std::move(hook)),
      now_(std::move(now)) {
  started_ = now_();
  last_primary_alive_ = started_;  // give a running primary one timeout to answer
  // The store keeps whether a rejoin is pending (NodeState::rejoining), so
  // that its replication server can hold off the primary's ordinary
  // replication until the reconcile. Older versions kept a marker file.
  rejoin_ = store_->node_state().rejoining;
  if (!opts_.state_dir.empty()) {
    std::error_code ec;
    if (std::filesystem::exists(opts_.state_dir / "rejoin", ec)) {
      rejoin_ = true;
      set_rejoin(true);
    }
  }
  // Until the lease (or, without a witness, the peer) confirms this node is
  // still the primary, it takes no writes: after a crash the pair may have
  // moved on without it.
  std::lock_guard lk(mu_);
  update_hold(store_->node_state(), started_);
}

Controller::~Controller() { stop(); }

void Controller::start() {
  stop_ = false;
  thread_ = std::thread([this] {
    set_thread_name("failover");
    while (!stop_) {
      tick();
      std::unique_lock lk(wait_mu_);
      cv_.wait_for(lk, opts_.heartbeat, [&] { return stop_.load(); });
    }
  });
  // The lease watchdog has its own thread: a tick may wait on the network
  // (or on a switchover) for longer than the lease's safety margin, and the
  // hold must not wait for it.
  watchdog_ = std::thread([this] {
    set_thread_name("lease-watch");
    while (!stop_) {
      {
        std::lock_guard lk(mu_);
        update_hold(store_->node_state(), now_());
      }
      std::unique_lock lk(wait_mu_);
      cv_.wait_for(lk, milliseconds(20), [&] { return stop_.load(); });
    }
  });
}

void Controller::stop() {
  if (!thread_.joinable()) return;
  stop_ = true;
  cv_.notify_all();
  thread_.join();
  watchdog_.join();
  link_->stop();
}

void Controller::event(const std::string& what) {
  CYR_LOG(Notice, kLog, "%s", what.c_str());
  events_.push_back(what);
  while (events_.size() > kMaxEvents) events_.pop_front();
}

void Controller::set_rejoin(bool on) {
  rejoin_ = on;
  auto st = store_->node_state();
  if (st.rejoining != on) {
    st.rejoining = on;
    if (Status s = store_->set_node_state(st); !s.ok())
      CYR_LOG(Error, kLog, "cannot record the rejoin as %s: %s", on ? "pending" : "done", s.error().describe().c_str());
  }
  if (opts_.state_dir.empty()) return;
  std::error_code ec;
  std::filesystem::remove(opts_.state_dir / "rejoin", ec);  // an older version's marker
}

bool Controller::lease_valid(Clock::time_point now) const { return lease_until_ && now < *lease_until_; }

void Controller::update_hold(store::NodeState st, Clock::time_point now) {
  std::string reason;
  if (st.role == store::Role::Primary) {
    if (handed_over_) reason = "handed over to the peer after a store error";
    else if (!switching_.empty()) reason = switching_;
    else if (!opts_.witness.empty() && !forced_ && !lease_valid(now)) reason = "no lease from the witness";
    else if (opts_.witness.empty() && !confirmed_) reason = "waiting for the peer to confirm this node's role";
  }
  if (reason == hold_) return;
  store_->set_write_hold(reason);
  if (!reason.empty()) event("writes held: " + reason);
  else if (!hold_.empty()) event("writes accepted again");
  hold_ = reason;
}

std::optional<Reply> Controller::ask_witness(const std::string& request) {
  auto r = transport_(opts_.witness, request, opts_.heartbeat);
  if (!r.ok()) {
    CYR_LOG(Warning, kLog, "witness %s: %s", opts_.witness.c_str(), r.error().describe().c_str());
    return std::nullopt;
  }
  return *r;
}

// ---- heartbeats -------------------------------------------------------------

std::string Controller::state_words_locked() const {
  auto st = store_->node_state();
  // "In charge": a primary that has not given its role up. It may be holding
  // writes for a moment (no lease yet, switchover) but the replica must not
  // take over from it; a fenced primary that handed over is not in charge.
  bool in_charge = st.role == store::Role::Primary && !handed_over_ && store_->fence_status().ok();
  return std::string(role_word(st.role)) + " " + std::to_string(st.epoch) + " " + (in_charge ? "1" : "0") + " " +
         (rejoin_ ? "1" : "0") + " " + (promoting_ ? "1" : "0");
}

// Called with mu_ held, so that a PING either counts as a sign of life before
// a promotion starts, or is answered with promoting=1 (see tick_replica).
Reply Controller::ping_reply_locked() const {
  return Reply{true, "PONG " + opts_.node + " " + state_words_locked(), {}};
}

void Controller::note_peer(const std::vector<std::string>& w, size_t first) {
  // w[first..]: role epoch in_charge rejoin promoting
  if (w.size() < first + 5) return;
  auto epoch = parse_u64(w[first + 1]);
  if (!epoch || (w[first] != "primary" && w[first] != "replica")) return;
  auto now = now_();
  peer_.reachable = true;
  peer_.role = w[first];
  peer_.epoch = *epoch;
  peer_.writable = w[first + 2] == "1";
  peer_.rejoin = w[first + 3] == "1";
  peer_.promoting = w[first + 4] == "1";
  peer_.last_contact = now;
  if (peer_.role == "primary" && peer_.writable) last_primary_alive_ = now;
}

std::optional<Clock::time_point> Controller::ping_peer() {
  std::string req;
  {
    std::lock_guard lk(mu_);
    req = "PING " + opts_.node + " " + state_words_locked();
  }
  auto sent = now_();
  auto r = transport_(opts_.peer, req, opts_.heartbeat);
  std::lock_guard lk(mu_);
  if (!r.ok() || !r->ok) {
    std::string why = r.ok() ? r->text : r.error().describe();
    if (our_pings_answered_) {
      event("peer " + opts_.peer + " stopped answering: " + why);
    } else if (!r.ok() && (r.error().code == Errc::Perm || r.error().code == Errc::Invalid) &&
               why != last_peer_error_) {
      // A peer that answers but cannot be talked to (a failover_secret
      // mismatch, another protocol version) is a configuration error: say so
      // once, not on every heartbeat.
      event("cannot talk to peer " + opts_.peer + ": " + why);
    }
    if (!r.ok()) last_peer_error_ = why;
    peer_.reachable = false;
    our_pings_answered_ = false;
    return std::nullopt;
  }
  last_peer_error_.clear();
  auto w = split_words(r->text);
  if (w.size() != 7 || w[0] != "PONG") {
    peer_.reachable = false;
    our_pings_answered_ = false;
    return std::nullopt;
  }
  our_pings_answered_ = true;
  if (w[1] == opts_.node) CYR_LOG(Error, kLog, "the peer has our servername %s: give each node its own", w[1].c_str());
  bool was = peer_.reachable;
  note_peer(w, 2);
  if (!was) event("peer " + opts_.peer + " answers: " + w[2] + " of epoch " + w[3]);
  return sent;
}

void Controller::tick() {
  std::lock_guard op(op_mu_);
  std::optional<Clock::time_point> pong_sent;
  if (!opts_.peer.empty()) pong_sent = ping_peer();
  auto st = store_->node_state();
  auto now = now_();
  if (st.role == store::Role::Primary) tick_primary(st, now, pong_sent);
  else tick_replica(st, now);
  std::lock_guard lk(mu_);
  update_hold(store_->node_state(), now_());
}

void Controller::tick_primary(store::NodeState st, Clock::time_point now,
                              std::optional<Clock::time_point> pong_sent) {
  PeerView peer;
  {
    std::lock_guard lk(mu_);
    peer = peer_;
  }
  if (peer.reachable && peer.role == "primary" && peer.epoch > st.epoch) {
    (void)become_replica(peer.epoch, "the peer is primary of the later epoch " + std::to_string(peer.epoch), true);
    return;
  }
  if (!store_->fence_status().ok()) {
    hand_over_after_fence(st);
    return;
  }
  if (!opts_.witness.empty()) {
    auto sent = now_();
    auto r = ask_witness("ACQUIRE " + opts_.node + " " + std::to_string(st.epoch) + " " +
                         std::to_string(opts_.timeout.count()));
    // The peer can vouch too: a replica of our epoch that just answered our
    // PING (which it counts as a heartbeat) will not ask for the next epoch
    // within failover_timeout, and the witness would not grant it while we
    // renew. So a primary that reaches its peer keeps writing while the
    // witness is down; one that reaches neither holds at the lease's end.
    bool peer_vouches = pong_sent && peer.reachable && peer.role == "replica" && peer.epoch <= st.epoch &&
                        !peer.promoting;
    if (peer_vouches && (!r || r->ok)) {
      std::lock_guard lk(mu_);
      auto until = *pong_sent + opts_.timeout - std::max(opts_.timeout / 5, milliseconds(50));
      if (!lease_until_ || *lease_until_ < until) lease_until_ = until;
      confirmed_ = true;
    }
    if (r && r->ok) {
      std::lock_guard lk(mu_);
      // The witness counts the lease from when it received the request, so
      // ours (from when we sent it) always ends first; the margin covers
      // clock-rate differences and writes already past the write check.
      auto margin = std::max(opts_.timeout / 5, milliseconds(50));
      auto until = sent + opts_.timeout - margin;
      if (!lease_until_ || *lease_until_ < until) lease_until_ = until;
      confirmed_ = true;
      last_refusal_.clear();
      if (forced_) event("the witness granted the forced epoch " + std::to_string(st.epoch));
      forced_ = false;
    } else if (r) {
      auto w = split_words(r->text);
      auto epoch = reply_epoch(*r);
      if (w.size() >= 2 && w[0] == "DENIED" && epoch && *epoch > st.epoch) {
        (void)become_replica(*epoch, "the witness has granted the later epoch " + std::to_string(*epoch) +
                                         " to " + (w.size() > 2 ? w[2] : "?"),
                             true);
        return;
      }
      if (w.size() >= 5 && w[0] == "DENIED" && epoch && *epoch == st.epoch && w[2] != opts_.node &&
          w[4] == "epoch-taken") {
        // Another node holds our epoch (both were configured primary): we
        // never had this epoch's lease, so we step back.
        (void)become_replica(st.epoch, "the witness gave epoch " + std::to_string(st.epoch) + " to " + w[2], true);
        return;
      }
      if (!forced_) {
        std::lock_guard lk(mu_);
        lease_until_.reset();
        if (r->text != last_refusal_) event("the witness refused our lease: " + r->text);
        last_refusal_ = r->text;
      }
    }
  } else if (peer.reachable) {
    std::lock_guard lk(mu_);
    if (!confirmed_) event("the peer confirms: it is " + peer.role + " of epoch " + std::to_string(peer.epoch));
    confirmed_ = true;
  } else if (now - started_ >= opts_.timeout) {
    std::lock_guard lk(mu_);
    if (!confirmed_) event("no peer answered for failover_timeout; taking writes as the configured primary");
    confirmed_ = true;
  }
  bool replicate;
  {
    std::lock_guard lk(mu_);
    replicate = !handed_over_ && (opts_.witness.empty() || forced_ || lease_valid(now_()));
  }
  if (opts_.peer.empty()) replicate = false;
  if (replicate) link_->start();
  else link_->stop();
}

void Controller::hand_over_after_fence(store::NodeState st) {
  bool first;
  {
    std::lock_guard lk(mu_);
    first = !handed_over_;
    handed_over_ = true;
    lease_until_.reset();
    update_hold(st, now_());
    if (first)
      event("store fenced (" + store_->fence_status().error().describe() + "): handing the primary role over");
  }
  link_->stop();
  if (first) hook_(HookEvent{"fenced", st.epoch, opts_.peer, "store error"});
  if (!opts_.witness.empty() && !fence_released_) {
    auto r = ask_witness("RELEASE " + opts_.node + " " + std::to_string(st.epoch));
    if (r) fence_released_ = true;
  }
  PeerView peer;
  {
    std::lock_guard lk(mu_);
    peer = peer_;
  }
  if (opts_.peer.empty() || (peer.reachable && peer.epoch > st.epoch)) return;  // done, or nobody to ask
  auto r = transport_(opts_.peer, "TAKEOVER " + opts_.node + " " + std::to_string(st.epoch + 1), opts_.timeout);
  std::lock_guard lk(mu_);
  if (r.ok() && r->ok) event("the peer took over as primary of epoch " + std::to_string(st.epoch + 1));
  else event("the peer did not take over yet: " + (r.ok() ? r->text : r.error().describe()));
}

void Controller::tick_replica(store::NodeState st, Clock::time_point now) {
  link_->stop();
  PeerView peer;
  bool rejoin;
  Clock::time_point alive;
  {
    std::lock_guard lk(mu_);
    peer = peer_;
    rejoin = rejoin_;
    alive = last_primary_alive_;
  }
  if (peer.reachable && peer.epoch > st.epoch) {
    // Follow the pair's epoch so that a later promotion asks for the next one.
    st.epoch = peer.epoch;
    if (Status s = store_->set_node_state(st); !s.ok())
      CYR_LOG(Error, kLog, "cannot record epoch %llu: %s", static_cast<unsigned long long>(st.epoch),
              s.error().describe().c_str());
  }
  if (rejoin && peer.reachable && peer.role == "primary" && peer.writable) {
    {
      std::lock_guard lk(mu_);
      if (last_reconcile_failure_.empty())
        event("rejoin: asking the primary to reconcile (copy back what only this node has)");
    }
    auto r = transport_(opts_.peer, "RECONCILE " + opts_.node + " " + std::to_string(st.epoch),
                        opts_.reconcile_timeout);
    std::lock_guard lk(mu_);
    if (r.ok() && r->ok) {
      set_rejoin(false);
      last_reconcile_failure_.clear();
      event("rejoin done: reconciled with the primary, now following it");
    } else {
      // Retried at every heartbeat; said again only when the reason changes.
      std::string why = r.ok() ? r->text : r.error().describe();
      if (why != last_reconcile_failure_)
        event("rejoin: reconcile failed, will retry (cyr_failover abandon-rejoin --force gives it up): " + why);
      last_reconcile_failure_ = why;
    }
  }
  if (opts_.witness.empty() || opts_.peer.empty()) return;  // promotion is manual only
  if (!store_->fence_status().ok()) return;  // a store that cannot write must not take over
  {
    // Check and announce under one lock: a PING from the primary either came
    // before (and counts as a heartbeat: no promotion now) or is answered
    // "promoting", which the primary does not take as a lease.
    std::lock_guard lk(mu_);
    alive = last_primary_alive_;
    if (now_() - alive < opts_.timeout) return;
    promoting_ = true;
  }
  struct ClearPromoting {
    Controller* c;
    ~ClearPromoting() {
      std::lock_guard lk(c->mu_);
      c->promoting_ = false;
    }
  } clear{this};
  auto sent = now_();
  uint64_t next = st.epoch + 1;
  auto r = ask_witness("ACQUIRE " + opts_.node + " " + std::to_string(next) + " " +
                       std::to_string(opts_.timeout.count()));
  if (!r) return;
  if (r->ok) {
    auto margin = std::max(opts_.timeout / 5, milliseconds(50));
    std::string why = "no heartbeat from a writable primary for " + seconds_text(secs(now - alive)) +
                      " s (failover_timeout " + seconds_text(secs(opts_.timeout)) + " s); the witness granted epoch " +
                      std::to_string(next);
    (void)become_primary(next, sent + opts_.timeout - margin, why);
    return;
  }
  auto epoch = reply_epoch(*r);
  if (epoch && *epoch > st.epoch + 1) {
    st.epoch = *epoch;  // an epoch we missed: ask for the one after it next time
    (void)store_->set_node_state(st);
  }
}

// ---- transitions ---------------------------------------------------------------

Status Controller::become_primary(uint64_t epoch, std::optional<Clock::time_point> lease_until,
                                  const std::string& why) {
  store::NodeState st{store::Role::Primary, epoch};
  {
    std::lock_guard lk(mu_);
    lease_until_ = lease_until;
    confirmed_ = true;
    handed_over_ = false;
    fence_released_ = false;
  }
  if (Status s = store_->set_node_state(st); !s.ok()) {
    std::lock_guard lk(mu_);
    event("promotion to epoch " + std::to_string(epoch) + " failed: " + s.error().describe());
    return s;
  }
  {
    std::lock_guard lk(mu_);
    if (rejoin_) set_rejoin(false);
    update_hold(st, now_());
    event("now primary of epoch " + std::to_string(epoch) + ": " + why);
  }
  if (!opts_.peer.empty()) link_->start();
  hook_(HookEvent{"primary", epoch, opts_.peer, why});
  return {};
}

Status Controller::become_replica(uint64_t epoch, const std::string& why, bool needs_rejoin) {
  link_->stop();
  auto st = store_->node_state();
  // The rejoin is recorded with the role, in one write: the replication
  // server must never see this node as a replica that is not rejoining, or
  // the new primary's replication could overwrite what only it has.
  store::NodeState next{store::Role::Replica, std::max(epoch, st.epoch), needs_rejoin || st.rejoining};
  if (needs_rejoin) {
    // Heartbeat answers too (state_words_locked), before the role changes.
    std::lock_guard lk(mu_);
    rejoin_ = true;
  }
  Status s = store_->set_node_state(next);
  std::lock_guard lk(mu_);
  lease_until_.reset();
  forced_ = false;
  if (!s.ok()) {
    // A fenced store cannot record the new role; it takes no writes anyway.
    handed_over_ = true;
    event("cannot record the replica role: " + s.error().describe());
    update_hold(st, now_());
    return s;
  }
  update_hold(next, now_());
  event("now replica of epoch " + std::to_string(next.epoch) + ": " + why);
  hook_(HookEvent{"replica", next.epoch, opts_.peer, why});
  return {};
}

// ---- requests ------------------------------------------------------------------

std::string Controller::handle(const std::string& line, bool trusted) {
  auto req = parse_request(line);
  if (!req.ok()) return format_reply({false, "BAD " + req.error().user_message, {}});
  const auto& a = req->args;
  const std::string& v = req->verb;
  if (v == "PING" && a.size() == 6 && valid_token(a[0])) {
    std::lock_guard lk(mu_);
    note_peer(a, 1);
    return format_reply(ping_reply_locked());
  }
  if (v == "STATUS" && a.empty()) return format_reply(status());
  if (!trusted) return format_reply({false, "DENIED only the peer or a local administrator may ask this", {}});
  if (v == "TAKEOVER" && a.size() == 2 && valid_token(a[0])) {
    auto epoch = parse_u64(a[1]);
    if (!epoch) return format_reply({false, "BAD epoch", {}});
    return format_reply(takeover(a[0], *epoch));
  }
  if (v == "RECONCILE" && a.size() == 2 && valid_token(a[0])) {
    auto epoch = parse_u64(a[1]);
    if (!epoch) return format_reply({false, "BAD epoch", {}});
    return format_reply(reconcile_request(a[0], *epoch));
  }
  if (v == "SWITCHOVER" && a.empty()) return format_reply(switchover());
  if (v == "PROMOTE" && a.size() == 1 && (a[0] == "FORCE" || a[0] == "force")) return format_reply(promote_force());
  if (v == "ABANDON-REJOIN" && a.empty()) return format_reply(abandon_rejoin());
  return format_reply({false, "BAD unknown request or wrong arguments", {}});
}

// The operator's way out of a rejoin that cannot finish (the reconcile
// keeps failing, see status): the node stops waiting, its replication
// server takes the primary's writes again, and whatever only this node had
// and the reconcile did not copy back may be overwritten. Messages are still
// copied back by the ordinary mailbox compare (split brain); subscriptions,
// Sieve scripts and seen state are not.
Reply Controller::abandon_rejoin() {
  std::lock_guard lk(mu_);
  if (!rejoin_) return {false, "NO-REJOIN no rejoin is pending on this node", {}};
  set_rejoin(false);
  last_reconcile_failure_.clear();
  event("rejoin abandoned by the operator: following the primary without a reconcile");
  return {true, "ABANDONED the rejoin; this node now follows the primary", {}};
}

Reply Controller::takeover(const std::string& from, uint64_t epoch) {
  std::lock_guard op(op_mu_);
  auto st = store_->node_state();
  if (st.role != store::Role::Replica) return {false, "NOT-REPLICA this node is primary of epoch " + std::to_string(st.epoch), {}};
  if (epoch <= st.epoch) return {false, "STALE-EPOCH this node is at epoch " + std::to_string(st.epoch), {}};
  if (!store_->fence_status().ok()) return {false, "FENCED this node's store is fenced", {}};
  std::optional<Clock::time_point> lease;
  if (!opts_.witness.empty()) {
    auto sent = now_();
    auto r = ask_witness("ACQUIRE " + opts_.node + " " + std::to_string(epoch) + " " +
                         std::to_string(opts_.timeout.count()));
    if (!r) return {false, "NO-WITNESS the witness does not answer", {}};
    if (!r->ok) return {false, "WITNESS-DENIED " + r->text, {}};
    lease = sent + opts_.timeout - std::max(opts_.timeout / 5, milliseconds(50));
  }
  Status s = become_primary(epoch, lease, "takeover requested by " + from);
  if (!s.ok()) return {false, "FAILED " + s.error().describe(), {}};
  return {true, "PRIMARY " + std::to_string(epoch), {}};
}

Reply Controller::reconcile_request(const std::string& from, uint64_t epoch) {
  auto st = store_->node_state();
  if (st.role != store::Role::Primary || !store_->check_writable().ok())
    return {false, "NOT-PRIMARY this node is not a writable primary", {}};
  if (epoch != st.epoch) return {false, "EPOCH this node is at epoch " + std::to_string(st.epoch), {}};
  {
    std::lock_guard lk(mu_);
    if (last_served_reconcile_failure_.empty()) event("reconciling with " + from + " (full sync with copy-back)");
  }
  auto t0 = Clock::now();
  Status s = link_->reconcile();
  std::lock_guard lk(mu_);
  if (!s.ok()) {
    // The rejoining node asks again at every heartbeat: said once per reason.
    std::string why = s.error().describe();
    if (why != last_served_reconcile_failure_) event("reconcile with " + from + " failed: " + why);
    last_served_reconcile_failure_ = why;
    return {false, "FAILED " + s.error().user_message, {}};
  }
  last_served_reconcile_failure_.clear();
  event("reconciled with " + from + " in " + seconds_text(secs(Clock::now() - t0)) + " s");
  return {true, "RECONCILED", {}};
}

Reply Controller::switchover() {
  auto st0 = store_->node_state();
  if (st0.role == store::Role::Replica) {
    // Run on the replica: the primary does the work.
    if (opts_.peer.empty()) return {false, "this node is a replica without a peer", {}};
    auto r = transport_(opts_.peer, "SWITCHOVER", opts_.drain_timeout + opts_.timeout * 4);
    if (!r.ok()) return {false, "the primary " + opts_.peer + " did not answer: " + r.error().describe(), {}};
    return *r;
  }
  std::lock_guard op(op_mu_);
  auto st = store_->node_state();
  if (st.role != store::Role::Primary) return {false, "this node is no longer primary", {}};
  if (opts_.peer.empty()) return {false, "no failover_peer configured", {}};
  if (!store_->check_writable().ok()) return {false, "this node does not take writes now: nothing to switch", {}};
  {
    std::lock_guard lk(mu_);
    if (!peer_.reachable || peer_.role != "replica")
      return {false, "the peer is not a reachable replica; see cyr_failover status", {}};
  }
  auto t0 = Clock::now();
  auto undo = [&](const std::string& why) -> Reply {
    if (!opts_.witness.empty()) {
      auto sent = now_();
      auto r = ask_witness("ACQUIRE " + opts_.node + " " + std::to_string(st.epoch) + " " +
                           std::to_string(opts_.timeout.count()));
      if (r && r->ok) {
        std::lock_guard lk(mu_);
        lease_until_ = sent + opts_.timeout - std::max(opts_.timeout / 5, milliseconds(50));
      }
    }
    link_->start();
    std::lock_guard lk(mu_);
    switching_.clear();
    update_hold(st, now_());
    event("switchover abandoned, still primary: " + why);
    return Reply{false, "switchover abandoned, this node is still primary: " + why, {}};
  };
  {
    std::lock_guard lk(mu_);
    switching_ = "switchover in progress";
    update_hold(st, now_());
    event("switchover: writes held, waiting for replication to drain");
  }
  // Writes that passed the write check just before the hold commit within
  // moments; then the change log must empty (every change acknowledged by
  // the replica, which acknowledges after its own commit).
  link_->start();
  std::this_thread::sleep_for(milliseconds(100));
  auto deadline = Clock::now() + opts_.drain_timeout;
  auto next_heartbeat = Clock::now() + opts_.heartbeat;
  for (;;) {
    auto pending = store_->read_changes(1);
    if (pending.ok() && pending->records.empty()) break;
    if (Clock::now() >= deadline) return undo("replication did not drain within the drain timeout");
    if (Clock::now() >= next_heartbeat) {
      // The heartbeat thread waits for us: keep the peer and the witness
      // told that this primary is alive, or a long drain turns into a failover.
      ping_peer();
      if (!opts_.witness.empty()) {
        auto sent = now_();
        auto r = ask_witness("ACQUIRE " + opts_.node + " " + std::to_string(st.epoch) + " " +
                             std::to_string(opts_.timeout.count()));
        if (r && r->ok) {
          std::lock_guard lk(mu_);
          lease_until_ = sent + opts_.timeout - std::max(opts_.timeout / 5, milliseconds(50));
        }
      }
      next_heartbeat = Clock::now() + opts_.heartbeat;
    }
    std::this_thread::sleep_for(milliseconds(20));
  }
  link_->stop();
  if (!opts_.witness.empty()) {
    auto r = ask_witness("RELEASE " + opts_.node + " " + std::to_string(st.epoch));
    if (!r || !r->ok) return undo("the witness did not release the lease");
  }
  uint64_t next = st.epoch + 1;
  auto r = transport_(opts_.peer, "TAKEOVER " + opts_.node + " " + std::to_string(next), opts_.timeout * 2);
  if (!r.ok() || !r->ok) return undo("the peer refused to take over: " + (r.ok() ? r->text : r.error().describe()));
  store::NodeState replica{store::Role::Replica, next};
  Status s = store_->set_node_state(replica);
  double pause = secs(Clock::now() - t0);
  std::lock_guard lk(mu_);
  switching_.clear();
  lease_until_.reset();
  if (!s.ok()) {
    handed_over_ = true;  // cannot record it; take no writes
    event("switchover: cannot record the replica role: " + s.error().describe());
  }
  update_hold(store_->node_state(), now_());
  std::string why = "switchover: the peer is primary of epoch " + std::to_string(next);
  event("now replica of epoch " + std::to_string(next) + ": " + why + " (writes paused " + seconds_text(pause) + " s)");
  hook_(HookEvent{"replica", next, opts_.peer, "switchover"});
  char pause_ms[32];
  snprintf(pause_ms, sizeof pause_ms, "%.0f", pause * 1000);
  return {true, std::string("SWITCHED epoch ") + std::to_string(next) + " write_pause_ms " + pause_ms, {}};
}

Reply Controller::promote_force() {
  std::lock_guard op(op_mu_);
  auto st = store_->node_state();
  if (st.role == store::Role::Primary) return {false, "this node is already primary of epoch " + std::to_string(st.epoch), {}};
  if (!store_->fence_status().ok()) return {false, "this node's store is fenced; restart it first", {}};
  uint64_t next = st.epoch + 1;
  std::optional<Clock::time_point> lease;
  bool granted = false;
  {
    std::lock_guard lk(mu_);
    if (peer_.reachable && peer_.epoch >= next) next = peer_.epoch + 1;
  }
  if (!opts_.witness.empty()) {
    auto sent = now_();
    auto r = ask_witness("ACQUIRE " + opts_.node + " " + std::to_string(next) + " " +
                         std::to_string(opts_.timeout.count()));
    if (r && r->ok) {
      granted = true;
      lease = sent + opts_.timeout - std::max(opts_.timeout / 5, milliseconds(50));
    }
  }
  {
    std::lock_guard lk(mu_);
    forced_ = !granted && !opts_.witness.empty();
  }
  Status s = become_primary(next, lease, "forced promotion by the operator");
  if (!s.ok()) return {false, "promotion failed: " + s.error().describe(), {}};
  Reply r{true, "PRIMARY " + std::to_string(next), {}};
  r.lines.push_back("WARNING: forced promotion to epoch " + std::to_string(next) +
                    (granted ? " (the witness agreed)." : " without the witness's lease."));
  r.lines.push_back("WARNING: if the old primary is still running and reachable by clients, it may take writes");
  r.lines.push_back("WARNING: until it sees this epoch; stop it, or make sure it cannot be reached.");
  return r;
}

Reply Controller::status() const {
  auto st = store_->node_state();
  Status w = store_->check_writable();
  auto lag = link_->lag();
  auto now = now_();
  std::lock_guard lk(mu_);
  Reply r{true, "STATUS", {}};
  auto& l = r.lines;
  l.push_back("node " + opts_.node);
  l.push_back(std::string("role ") + role_word(st.role));
  l.push_back("epoch " + std::to_string(st.epoch));
  l.push_back(std::string("writable ") + (w.ok() ? "yes" : "no (" + w.error().user_message +
                                                           (w.error().detail.empty() ? "" : ": " + w.error().detail) + ")"));
  if (opts_.peer.empty()) {
    l.push_back("peer none (standalone)");
  } else if (peer_.reachable) {
    l.push_back("peer " + opts_.peer + " reachable " + peer_.role + " epoch " + std::to_string(peer_.epoch) +
                (peer_.writable ? " writable" : " read-only") + " last_contact " +
                seconds_text(secs(now - peer_.last_contact)) + "s");
  } else {
    l.push_back("peer " + opts_.peer + " unreachable");
  }
  l.push_back(opts_.secret.empty()
                  ? "auth none (WARNING: no failover_secret: anyone who can reach the failover port may use it)"
                  : "auth hmac-sha256 (failover_secret)");
  l.push_back("witness " + (opts_.witness.empty() ? std::string("none (manual promotion only)") : opts_.witness));
  if (st.role != store::Role::Primary || opts_.witness.empty()) l.push_back("lease none");
  else if (forced_) l.push_back("lease none (forced promotion; waiting for the witness)");
  else if (lease_valid(now)) l.push_back("lease " + seconds_text(secs(*lease_until_ - now)) + "s left");
  else l.push_back("lease expired");
  l.push_back(std::string("replication ") + (lag.running ? (lag.connected ? "connected" : "disconnected") : "stopped") +
              " lag_changes " + std::to_string(lag.changes) + " lag_seconds " + seconds_text(lag.seconds) +
              (lag.last_error.empty() ? "" : " last_error " + lag.last_error));
  l.push_back("sync_mode " + opts_.sync_mode + (sync_state_ ? " now " + sync_state_() : std::string()));
  l.push_back("timeout " + seconds_text(secs(opts_.timeout)) + "s");
  l.push_back(std::string("rejoin ") + (rejoin_ ? "pending" : "no"));
  for (const auto& e : events_) l.push_back("event " + e);
  return r;
}

}  // namespace cyr::failover
