// The master side of csync. See sync_client.h and reference §4.
#include "sync/sync_client.h"

#include <algorithm>
#include <ctime>
#include <map>

#include "store/base/log.h"
#include "store/mail/guid.h"
#include "sync/sync_log.h"

namespace cyr::sync {

namespace {

constexpr uint64_t kUnlimitedQuota = 4294967295u;

Errc errc_for_code(std::string_view code) {
  if (code == "IMAP_MAILBOX_NONEXISTENT" || code == "IMAP_INVALID_USER") return Errc::NotFound;
  if (code == "IMAP_MAILBOX_LOCKED") return Errc::InUse;
  if (code == "IMAP_MAILBOX_MOVED" || code == "IMAP_MAILBOX_EXISTS") return Errc::Exists;
  if (code == "IMAP_PERMISSION_DENIED") return Errc::Perm;
  if (code == "IMAP_IOERROR") return Errc::Io;
  return Errc::Invalid;
}

bool same_annotations(std::vector<store::Annotation> a, std::vector<store::Annotation> b) {
  auto key = [](const store::Annotation& x, const store::Annotation& y) {
    return std::tie(x.entry, x.userid) < std::tie(y.entry, y.userid);
  };
  std::sort(a.begin(), a.end(), key);
  std::sort(b.begin(), b.end(), key);
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (a[i].entry != b[i].entry || a[i].userid != b[i].userid || a[i].value != b[i].value) return false;
  return true;
}

// Every header value the replica must hold, CRCs compared exactly.
std::vector<std::string> header_differences(const MailboxState& l, const MailboxState& r) {
  std::vector<std::string> d;
  auto cmp = [&](const char* what, auto a, auto b) {
    if (a != b) d.push_back(std::string(what) + " " + std::to_string(a) + " != " + std::to_string(b));
  };
  if (l.uniqueid != r.uniqueid) d.push_back("UNIQUEID " + l.uniqueid + " != " + r.uniqueid);
  cmp("LAST_UID", l.last_uid, r.last_uid);
  cmp("HIGHESTMODSEQ", l.highestmodseq, r.highestmodseq);
  cmp("UIDVALIDITY", l.uidvalidity, r.uidvalidity);
  cmp("RECENTUID", l.recentuid, r.recentuid);
  cmp("RECENTTIME", l.recenttime, r.recenttime);
  cmp("POP3_LAST_LOGIN", l.pop3_last_login, r.pop3_last_login);
  cmp("OPTIONS", l.options, r.options);
  cmp("SYNC_CRC", l.crcs.basic, r.crcs.basic);
  cmp("SYNC_CRC_ANNOT", l.crcs.annot, r.crcs.annot);
  if (l.acl != r.acl) d.push_back("ACL differs");
  if (!same_annotations(l.annotations, r.annotations)) d.push_back("mailbox annotations differ");
  return d;
}

}  // namespace

Error error_from_reply(const SyncReply& r) {
  if (r.kind == ReplyKind::No) return Error(errc_for_code(r.code), r.code + " " + r.text);
  if (r.kind == ReplyKind::Bye) return Error(Errc::Unavailable, "IMAP_BYE " + r.text);
  return Error(Errc::Invalid, "IMAP_PROTOCOL_ERROR " + r.text);
}

std::string reply_code(const Error& e) {
  std::string_view m = e.user_message;
  if (!m.starts_with("IMAP_")) return "";
  return std::string(m.substr(0, m.find(' ')));
}

static Result<std::vector<std::string>> local_user_mailboxes(store::Store& s, const std::string& userid) {
  std::string inbox = user_inbox_name(userid);
  std::vector<std::string> names;
  if (s.lookup(inbox).ok()) names.push_back(inbox);
  auto below = s.list(inbox + ".*");
  if (!below.ok()) return below.take_error();
  names.insert(names.end(), below->begin(), below->end());
  return names;
}

static Result<MailboxState> local_state(store::Store& s, const std::string& name, bool with_records) {
  auto info = s.lookup(name);
  if (!info.ok()) return info.take_error();
  auto recs = s.records(name, true);
  if (!recs.ok()) return recs.take_error();
  MailboxState m = mailbox_state_of(*info, mailbox_crcs(*recs));
  if (auto a = s.annotations(name); a.ok()) m.annotations = std::move(*a);
  if (with_records) m.records = std::move(*recs);
  return m;
}

std::optional<ReplicaMailbox> ReplicaStates::get(const std::string& name) const {
  std::lock_guard lk(mu_);
  auto it = map_.find(name);
  if (it == map_.end()) return std::nullopt;
  return it->second;
}

void ReplicaStates::put(const std::string& name, const ReplicaMailbox& m) {
  std::lock_guard lk(mu_);
  if (map_.size() >= max_ && !map_.count(name)) map_.clear();
  map_[name] = m;
}

void ReplicaStates::forget(const std::string& name) {
  std::lock_guard lk(mu_);
  map_.erase(name);
}

void ReplicaStates::forget_tree(const std::string& name) {
  std::lock_guard lk(mu_);
  map_.erase(name);
  std::string below = name + ".";
  for (auto it = map_.lower_bound(below); it != map_.end() && it->first.starts_with(below);) it = map_.erase(it);
}

size_t ReplicaStates::size() const {
  std::lock_guard lk(mu_);
  return map_.size();
}

// What the replica holds after applying `sent` with `records`: it raises
// LAST_UID and HIGHESTMODSEQ to the records it applied (which may be a
// little newer than the header read before them).
static ReplicaMailbox state_after(const MailboxState& sent, const std::vector<store::MessageRecord>& records) {
  ReplicaMailbox r{sent.uniqueid, sent.last_uid, sent.highestmodseq, sent.crcs};
  for (auto& x : records) {
    r.last_uid = std::max(r.last_uid, x.uid);
    r.highestmodseq = std::max(r.highestmodseq, x.modseq);
  }
  return r;
}

// The message file of `r` as a file literal, only if it is what its record
// says (size and GUID, reference §5.2); otherwise logged and nullopt.
// `uniqueid`, when known, names the file without a look at the list and the
// index (the record is at hand, and what is read is checked against it).
static std::optional<FileLiteral> verified_file(store::Store& local, const std::string& sid,
                                                const std::string& mailbox, const std::string& partition,
                                                const store::MessageRecord& r, const std::string& uniqueid = "") {
  auto body = uniqueid.empty() ? local.read_message(mailbox, r.uid) : local.read_message_file(partition, uniqueid, r.uid);
  if (!body.ok() || body->size() != r.size || mail::MessageGuid::of(*body) != r.guid) {
    CYR_LOG(Info, sid, "sync_client: %s uid %u: file missing or does not match its GUID; not sent",
            mailbox.c_str(), r.uid);
    return std::nullopt;
  }
  FileLiteral f;
  f.partition = partition;
  f.guid = r.guid.to_hex();
  f.size = body->size();
  f.body = std::move(*body);
  return f;
}

SyncClient::SyncClient(store::Store& local, SyncPeer& peer, SyncClientOptions opts)
    : local_(local), peer_(peer), opts_(std::move(opts)) {}

void SyncClient::note(const std::string& line) {
  if (opts_.progress) opts_.progress(line);
}

void SyncClient::record_applied(const MailboxState& sent, const std::vector<store::MessageRecord>& records) {
  if (!states_) return;
  // The replica has just checked that its SYNC_CRC equals the one sent.
  ReplicaMailbox r = state_after(sent, records);
  if (r.crcs == SyncCrcs{0, 0}) return states_->forget(sent.name);  // nothing to check the next round against
  states_->put(sent.name, r);
}

Result<SyncClient::Replies> SyncClient::call(const char* verb, const char* name, Value arg) {
  auto r = peer_.call(make_command(verb, name, std::move(arg)));
  if (!r.ok()) return r.take_error();
  const SyncReply& fin = final_reply(*r);
  if (fin.kind != ReplyKind::Ok) return error_from_reply(fin);
  return r;
}

Status SyncClient::restart() {
  auto r = peer_.call(SyncCommand{"RESTART", "", {}, ""});
  if (!r.ok()) return r.take_error();
  staged_.clear();
  staged_bytes_ = 0;
  if (final_reply(*r).kind != ReplyKind::Ok) return error_from_reply(final_reply(*r));
  return {};
}

Result<SyncClient::RemoteUser> SyncClient::get_user(const std::string& userid) {
  auto r = call("GET", "USER", Value::str(userid));
  RemoteUser u;
  if (!r.ok()) {
    if (r.error().code == Errc::NotFound) return u;
    return r.take_error();
  }
  for (auto& item : *r) {
    if (item.is_final()) continue;
    auto v = item.value();
    if (!v.ok()) return v.take_error();
    if (item.key == "MAILBOX") {
      auto m = mailbox_state_from_dlist(**v, false);
      if (!m.ok()) return m.take_error();
      u.folders.push_back(std::move(*m));
    } else if (item.key == "QUOTA") {
      u.quotas.push_back(**v);
    } else if (item.key == "SEEN") {
      u.seen.push_back(**v);
    } else if (item.key == "LSUB") {
      for (auto& s : (*v)->items())
        if (auto str = s.as_str(); str.ok()) u.lsub.emplace_back(*str);
    } else if (item.key == "SIEVE") {
      u.sieve.push_back(**v);
    }
  }
  return u;
}

Result<std::vector<MailboxState>> SyncClient::get_mailboxes(const std::vector<std::string>& names) {
  Value l = Value::list();
  for (auto& n : names) l.push(Value::str(n));
  auto r = call("GET", "MAILBOXES", std::move(l));
  std::vector<MailboxState> out;
  if (!r.ok()) {
    if (r.error().code == Errc::NotFound) return out;
    return r.take_error();
  }
  for (auto& item : *r) {
    if (item.is_final() || item.key != "MAILBOX") continue;
    auto v = item.value();
    if (!v.ok()) return v.take_error();
    auto m = mailbox_state_from_dlist(**v, false);
    if (!m.ok()) return m.take_error();
    out.push_back(std::move(*m));
  }
  return out;
}

// ---- one mailbox ---------------------------------------------------------------

Status SyncClient::upload(const std::string& mailbox, const std::string& partition,
                          const std::vector<store::MessageRecord>& recs) {
  // Ask the replica for the ones it already holds somewhere (RESERVE).
  std::vector<const store::MessageRecord*> need;
  std::set<std::string> asked;
  for (auto& r : recs) {
    std::string hex = r.guid.to_hex();
    if (staged_.count(hex) || !asked.insert(hex).second) continue;
    need.push_back(&r);
  }
  if (need.empty()) return {};
  std::set<std::string> missing;
  if (remote_names_.empty()) {
    for (auto* r : need) missing.insert(r->guid.to_hex());
  } else {
    for (size_t i = 0; i < need.size(); i += opts_.reserve_batch) {
      Value arg = Value::kvlist();
      arg.add_str("PARTITION", partition);
      Value names = Value::list();
      for (auto& n : remote_names_) names.push(Value::str(n));
      arg.add("MBOXNAME", std::move(names));
      Value guids = Value::list();
      size_t end = std::min(need.size(), i + opts_.reserve_batch);
      for (size_t j = i; j < end; ++j) guids.push(Value::guid(need[j]->guid.to_hex()));
      arg.add("GUID", std::move(guids));
      auto r = call("APPLY", "RESERVE", std::move(arg));
      if (!r.ok()) return r.take_error();
      std::set<std::string> miss_now;
      for (auto& item : *r)
        if (!item.is_final() && item.key == "MISSING")
          if (auto v = item.value(); v.ok())
            for (auto& g : (*v)->items())
              if (auto h = g.as_guid(); h.ok()) miss_now.insert(*h);
      for (size_t j = i; j < end; ++j) {
        std::string hex = need[j]->guid.to_hex();
        if (miss_now.count(hex)) {
          missing.insert(hex);
        } else {
          staged_.insert(hex);
          ++stats_.messages_reserved;
        }
      }
    }
  }
  // Upload the rest, in bounded batches. Each APPLY MESSAGE is written
  // without waiting for the OK of the one before (at most two outstanding;
  // the replica executes commands in order and answers each with one
  // line), so that the client reads and checks the next batch's files while
  // the replica is still receiving the previous batch, instead of the two
  // taking turns.
  constexpr size_t kUploadsInFlight = 2;
  Value batch = Value::list();
  size_t files = 0;
  uint64_t bytes = 0;
  size_t in_flight = 0;
  Status refused;  // the first NO to an APPLY MESSAGE
  // Reads replies until at most `keep` are outstanding.
  auto collect = [&](size_t keep) -> Status {
    while (in_flight > keep) {
      auto r = peer_.receive();
      --in_flight;
      if (!r.ok()) return r.take_error();  // the connection is gone
      const SyncReply& fin = final_reply(*r);
      if (fin.kind != ReplyKind::Ok && refused.ok()) refused = error_from_reply(fin);
    }
    return {};
  };
  auto flush = [&]() -> Status {
    if (files == 0) return {};
    Status st = peer_.send(make_command("APPLY", "MESSAGE", std::move(batch)));
    batch = Value::list();
    files = 0;
    bytes = 0;
    if (!st.ok()) {
      (void)collect(0);  // the earlier batches' replies, if the connection still works
      return st;
    }
    ++in_flight;
    CYR_TRY(peer_.flush());
    CYR_TRY(collect(kUploadsInFlight - 1));
    if (!refused.ok()) {
      CYR_TRY(collect(0));  // no reply is left unread for the next command
      return refused;
    }
    return {};
  };
  for (auto* r : need) {
    std::string hex = r->guid.to_hex();
    if (!missing.count(hex)) continue;
    auto f = verified_file(local_, opts_.sid, mailbox, partition, *r);
    if (!f) {
      batch.push(Value::nil());
      continue;
    }
    bytes += f->size;
    batch.push(Value::file(std::move(*f)));
    ++files;
    staged_.insert(hex);
    ++stats_.messages_uploaded;
    stats_.bytes_uploaded += r->size;
    if (files >= opts_.upload_batch_files || bytes >= opts_.upload_batch_bytes) CYR_TRY(flush());
  }
  CYR_TRY(flush());
  CYR_TRY(collect(0));
  return refused;
}

Status SyncClient::update_once(const std::string& name, const std::optional<MailboxState>& remote, bool repeat) {
  auto st = local_state(local_, name, true);
  if (!st.ok()) return st.take_error();
  MailboxState m = std::move(*st);
  if (remote && remote->uniqueid == m.uniqueid && header_differences(m, *remote).empty()) {
    ++stats_.mailboxes_unchanged;
    record_applied(m, {});
    return {};
  }
  store::ModSeq since = remote && remote->uniqueid == m.uniqueid ? remote->highestmodseq : 0;
  store::Uid from_uid = remote && remote->uniqueid == m.uniqueid ? remote->last_uid : 0;
  std::vector<store::MessageRecord> send, files;
  for (auto& r : m.records) {
    if (r.modseq <= since) continue;
    send.push_back(r);
    if (r.uid > from_uid && !r.expunged()) files.push_back(r);
  }
  CYR_TRY(upload(name, m.partition, files));
  if (!repeat && remote && remote->uniqueid == m.uniqueid) {
    m.since_modseq = remote->highestmodseq;
    m.since_crcs = remote->crcs;
  }
  m.records = std::move(send);
  note("APPLY MAILBOX " + name + " (" + std::to_string(m.records.size()) + " records)");
  auto r = call("APPLY", "MAILBOX", mailbox_to_dlist(m, true));
  if (!r.ok()) return r.take_error();
  ++stats_.mailboxes_applied;
  record_applied(m, m.records);
  return {};
}

// Above this many bytes of new files in one round, asking the replica
// which it already holds (APPLY RESERVE, one round trip) is worth it;
// below, uploading them is cheaper than the question.
constexpr uint64_t kKnownRoundMaxUpload = 1u << 20;

Result<std::optional<SentRound>> SyncClient::send_known_round(const std::vector<std::string>& names) {
  if (!states_) return std::optional<SentRound>();
  struct Prepared {
    MailboxState m;
    std::vector<store::MessageRecord> files;
  };
  std::vector<Prepared> todo;
  uint64_t upload_bytes = 0;
  size_t upload_files = 0;
  // Everything is read and decided before anything is written: a round is
  // sent whole or not at all.
  for (auto& name : names) {
    auto known = states_->get(name);
    if (!known) return std::optional<SentRound>();
    // Unreadable (gone, renamed, an I/O error): the full path finds out and
    // reports it; a store error is not a reason to drop the connection.
    auto state = local_.round_state(name, known->highestmodseq);
    if (!state.ok()) return std::optional<SentRound>();
    const store::MailboxInfo* info = &state->info;
    if (info->uniqueid != known->uniqueid) return std::optional<SentRound>();
    // A tombstone since the known state must travel as a record; the full
    // path does that.
    store::ChangesSince* since = &state->changes;
    if (!since->expunged.empty()) return std::optional<SentRound>();
    // The mailbox, its changed records, HIGHESTMODSEQ, SYNC_CRC and
    // annotations come from one snapshot (round_state), and the CRC is the
    // mailbox's own, kept by the store over every record (not the recorded
    // CRC XOR the new ones):
    // the claimed HIGHESTMODSEQ never covers a record that is not sent, and
    // a replica that lacks something this node has fails the CRC check
    // after applying, which sends the mailbox down the full path (compare,
    // repair) instead of agreeing on a CRC that both sides got wrong.
    // Nothing here reads the records that did not change.
    Prepared p;
    p.m = mailbox_state_of(*info, SyncCrcs{since->sync_crc, since->sync_crc_annot});
    p.m.annotations = std::move(state->annotations);
    p.m.highestmodseq = std::max(known->highestmodseq, since->highestmodseq);
    p.m.last_uid = known->last_uid;
    std::vector<store::MessageRecord> recs;
    for (auto& r : since->changed) {
      p.m.last_uid = std::max(p.m.last_uid, r.uid);
      recs.push_back(std::move(r));
    }
    for (auto& r : recs) {
      if (r.uid <= known->last_uid || r.expunged()) continue;
      upload_bytes += r.size;
      ++upload_files;
      p.files.push_back(r);
    }
    if (upload_files > opts_.batch_size || upload_bytes > kKnownRoundMaxUpload) return std::optional<SentRound>();
    p.m.records = std::move(recs);
    p.m.since_modseq = known->highestmodseq;
    p.m.since_crcs = known->crcs;
    todo.push_back(std::move(p));
  }

  SentRound round;
  auto send = [&](SyncCommand cmd, const std::string& expect) -> Status {
    CYR_TRY(peer_.send(cmd));
    round.expect.push_back(expect);
    return {};
  };
  if (staged_.size() >= kRestartAfterFiles || staged_bytes_ >= kRestartAfterBytes) {
    // Earlier rounds' staged files, dropped ahead of this round in the same
    // write. Not after every round: a RESTART is one more command for the
    // replica to run (a trip to its blocking pool) per round, and the staged
    // names are only second links to files the rounds linked into their
    // mailboxes. Bounded in count and bytes; also dropped when the
    // connection ends.
    CYR_TRY(send(SyncCommand{"RESTART", "", {}, ""}, ""));
    staged_.clear();
    staged_bytes_ = 0;
  }
  for (auto& p : todo) {
    Value batch = Value::list();
    size_t files = 0;
    for (auto& r : p.files) {
      std::string hex = r.guid.to_hex();
      if (staged_.count(hex)) continue;
      // Not sent if it is not what its record says: the replica then
      // refuses the APPLY MAILBOX and the full path decides.
      auto f = verified_file(local_, opts_.sid, p.m.name, p.m.partition, r, p.m.uniqueid);
      if (!f) continue;
      batch.push(Value::file(std::move(*f)));
      staged_.insert(hex);
      staged_bytes_ += r.size;
      ++stats_.messages_uploaded;
      stats_.bytes_uploaded += r.size;
      if (++files >= opts_.upload_batch_files) {
        CYR_TRY(send(make_command("APPLY", "MESSAGE", std::move(batch)), ""));
        batch = Value::list();
        files = 0;
      }
    }
    if (files > 0) CYR_TRY(send(make_command("APPLY", "MESSAGE", std::move(batch)), ""));
    note("APPLY MAILBOX " + p.m.name + " (" + std::to_string(p.m.records.size()) + " records, pipelined)");
    CYR_TRY(send(make_command("APPLY", "MAILBOX", mailbox_to_dlist(p.m, true)), p.m.name));
    ReplicaMailbox after = state_after(p.m, p.m.records);
    round.after.emplace_back(p.m.name, after);
    round.records += p.m.records.size();
    // Until the replica answers, nobody may build on the old state: the
    // next round of this mailbox (pipelined) starts from `after`.
    states_->put(p.m.name, after);
  }
  CYR_TRY(peer_.flush());
  return std::optional<SentRound>(std::move(round));
}

Status SyncClient::receive_round(const SentRound& round, bool& transport_failed) {
  transport_failed = false;
  Status first;
  for (auto& expect : round.expect) {
    auto r = peer_.receive();
    if (!r.ok()) {
      transport_failed = true;
      first = r.take_error();
      break;
    }
    const SyncReply& fin = final_reply(*r);
    if (fin.kind != ReplyKind::Ok && first.ok()) {
      Error e = error_from_reply(fin);
      if (!expect.empty()) e.detail = expect;
      first = std::move(e);
    }
  }
  if (!first.ok() && states_)
    for (auto& [name, _] : round.after) states_->forget(name);
  return first;
}

Result<bool> SyncClient::send_partial(const std::string& name, const std::optional<MailboxState>& remote) {
  auto st = local_state(local_, name, true);
  if (!st.ok()) return st.take_error();
  MailboxState m = std::move(*st);
  bool known = remote && remote->uniqueid == m.uniqueid;
  store::ModSeq since = known ? remote->highestmodseq : 0;
  store::Uid from_uid = known ? remote->last_uid : 0;
  std::vector<const store::MessageRecord*> fresh;
  for (auto& r : m.records)
    if (r.uid > from_uid) fresh.push_back(&r);
  if (fresh.size() <= opts_.batch_size) return false;
  store::Uid cut = fresh[opts_.batch_size - 1]->uid;
  store::ModSeq past_min = UINT64_MAX;
  for (auto& r : m.records)
    if (r.uid > cut) past_min = std::min(past_min, r.modseq);
  if (past_min == UINT64_MAX || past_min == 0) return false;
  store::ModSeq syn = past_min - 1;
  if (syn <= since || syn >= m.highestmodseq) return false;
  // A consistent intermediate state: LAST_UID at the cut, a HIGHESTMODSEQ
  // below every record not yet sent, no CRCs (they cannot match).
  MailboxState p = m;
  p.last_uid = cut;
  p.highestmodseq = syn;
  p.crcs = SyncCrcs{0, 0};
  p.last_appenddate = 0;
  if (known) {
    p.recentuid = remote->recentuid;
    p.recenttime = remote->recenttime;
    p.pop3_last_login = remote->pop3_last_login;
    p.pop3_show_after = remote->pop3_show_after;
  }
  p.records.clear();
  std::vector<store::MessageRecord> files;
  for (auto& r : m.records) {
    if (r.uid > cut || r.modseq <= since) continue;
    bool is_new = r.uid > from_uid;
    if (!is_new && r.modseq > syn) continue;  // sent with a later batch
    store::MessageRecord x = r;
    if (x.modseq > syn) x.modseq = syn;
    if (is_new && !x.expunged()) files.push_back(x);
    p.records.push_back(std::move(x));
  }
  CYR_TRY(upload(name, m.partition, files));
  note("APPLY MAILBOX " + name + " (partial, up to uid " + std::to_string(cut) + ")");
  auto r = call("APPLY", "MAILBOX", mailbox_to_dlist(p, true));
  if (!r.ok()) return r.take_error();
  return true;
}

Status SyncClient::update_batched(const std::string& name, std::optional<MailboxState> remote, bool repeat) {
  for (int i = 0; i < 1000000; ++i) {
    auto sent = send_partial(name, remote);
    if (!sent.ok()) return sent.take_error();
    if (!*sent) break;
    auto fresh = get_mailboxes({name});
    if (!fresh.ok()) return fresh.take_error();
    remote.reset();
    if (!fresh->empty()) remote = fresh->front();
    repeat = true;  // the SINCE_* of the caller's state no longer apply
  }
  return update_once(name, remote, repeat);
}

Status SyncClient::update_mailbox(const std::string& name, std::optional<MailboxState> remote) {
  // Partial batches and repairs below change the replica: known again only
  // after a complete APPLY MAILBOX.
  if (states_) states_->forget(name);
  Status st = update_batched(name, remote, false);
  if (st.ok()) return st;
  std::string code = reply_code(st.error());
  if (code != "IMAP_SYNC_CHECKSUM" && code != "IMAP_SYNC_CHANGED") return st;
  // Retry once with fresh replica state and no SINCE_* (reference §4.4).
  ++stats_.checksum_retries;
  CYR_LOG(Info, opts_.sid, "sync_client: %s: %s; retrying with fresh replica state", name.c_str(),
          st.error().user_message.c_str());
  auto fresh = get_mailboxes({name});
  if (!fresh.ok()) return fresh.take_error();
  std::optional<MailboxState> now;
  if (!fresh->empty()) now = fresh->front();
  st = update_batched(name, now, true);
  if (st.ok() || reply_code(st.error()) != "IMAP_SYNC_CHECKSUM" || opts_.no_copyback) return st;
  CYR_LOG(Info, opts_.sid, "sync_client: %s: checksum failed twice; full mailbox resync", name.c_str());
  CYR_TRY(full_update(name));
  fresh = get_mailboxes({name});
  if (!fresh.ok()) return fresh.take_error();
  now.reset();
  if (!fresh->empty()) now = fresh->front();
  return update_batched(name, now, true);
}

// GET FULLMAILBOX: the replica's mailbox with every record; nullopt if it
// has none of that name.
Result<std::optional<MailboxState>> SyncClient::get_fullmailbox(const std::string& name) {
  auto r = call("GET", "FULLMAILBOX", Value::str(name));
  if (!r.ok()) {
    if (r.error().code == Errc::NotFound) return std::optional<MailboxState>();
    return r.take_error();
  }
  std::optional<MailboxState> remote;
  for (auto& item : *r)
    if (!item.is_final() && item.key == "MAILBOX")
      if (auto v = item.value(); v.ok()) {
        auto m = mailbox_state_from_dlist(**v, false);
        if (!m.ok()) return m.take_error();
        remote = std::move(*m);
      }
  return remote;
}

// Appends `bytes` to our mailbox `name` as a new message with the flags and
// internal date of the replica's record `like` (a copy-back).
Status SyncClient::append_copy(const std::string& name, std::string bytes, const store::MessageRecord& like) {
  store::AppendRequest req;
  req.mailbox = name;
  req.check_quota = false;
  store::AppendMessage msg;
  msg.source = store::MessageSource::memory(std::move(bytes));
  msg.flags = like.flags;
  msg.flags.system &= store::kSettableSystemFlags;
  msg.internaldate = like.internaldate;
  req.messages.push_back(std::move(msg));
  auto a = local_.append(req);
  if (!a.ok()) return a.take_error();
  return {};
}

// Full compare and repair (reference §4.4 "Full update"): afterwards the
// master holds every message either side had, under UIDs above both sides'
// LAST_UID where they clashed, and one more APPLY MAILBOX makes them equal.
Status SyncClient::full_update(const std::string& name) {
  ++stats_.full_syncs;
  auto got = get_fullmailbox(name);
  if (!got.ok()) return got.take_error();
  std::optional<MailboxState>& remote = *got;
  if (!remote) return {};
  auto info = local_.lookup(name);
  if (!info.ok()) return info.take_error();
  if (remote->uniqueid != info->uniqueid)
    return Error(Errc::Exists, "IMAP_MAILBOX_MOVED replica mailbox has another uniqueid");
  auto recs = local_.records(name, true);
  if (!recs.ok()) return recs.take_error();

  // Raise our counters above the replica's so every repair gets fresh UIDs
  // and modseqs that the replica will accept.
  store::MailboxCounters c;
  if (remote->uidvalidity > info->uidvalidity) c.uidvalidity = remote->uidvalidity;
  if (remote->highestmodseq > info->highestmodseq) c.highestmodseq = remote->highestmodseq;
  if (remote->last_uid > info->last_uid) c.last_uid = remote->last_uid;
  if (c.uidvalidity || c.highestmodseq || c.last_uid)
    CYR_TRY(local_.set_counters(name, c, store::WriteMode::Replication));
  store::ModSeq next_modseq = std::max(info->highestmodseq, remote->highestmodseq);

  std::map<store::Uid, const store::MessageRecord*> mine, theirs;
  for (auto& x : *recs) mine[x.uid] = &x;
  for (auto& x : remote->records) theirs[x.uid] = &x;
  std::set<store::Uid> uids;
  for (auto& [u, _] : mine) uids.insert(u);
  for (auto& [u, _] : theirs) uids.insert(u);

  std::vector<store::MessageRecord> renumber, copyback, rewrite;
  std::vector<store::Uid> expunge_remote;
  for (store::Uid u : uids) {
    auto li = mine.find(u);
    auto ri = theirs.find(u);
    const store::MessageRecord* L = li == mine.end() ? nullptr : li->second;
    const store::MessageRecord* R = ri == theirs.end() ? nullptr : ri->second;
    if (L && !R) {
      if (L->expunged()) continue;
      if (u <= remote->last_uid) renumber.push_back(*L);
      else if (L->modseq <= remote->highestmodseq) rewrite.push_back(*L);
      continue;
    }
    if (R && !L) {
      if (R->expunged()) continue;
      copyback.push_back(*R);
      expunge_remote.push_back(u);
      continue;
    }
    if (L->expunged() && R->expunged()) continue;
    if (L->guid != R->guid) {
      // Split brain: both messages get new UIDs on both sides.
      if (!L->expunged()) renumber.push_back(*L);
      if (!R->expunged()) {
        copyback.push_back(*R);
        expunge_remote.push_back(u);
      }
      continue;
    }
    if (crc_record_of(*L).guid == crc_record_of(*R).guid && L->modseq == R->modseq && L->flags == R->flags &&
        L->last_updated == R->last_updated && L->internaldate == R->internaldate && L->savedate == R->savedate &&
        L->createdmodseq == R->createdmodseq && L->expunged() == R->expunged())
      continue;
    store::MessageRecord fixed = *L;
    if (!L->expunged() && R->expunged()) {
      fixed.flags.system |= store::kFlagExpunged;
    } else if (!L->expunged() && R->modseq > L->modseq && R->last_updated >= L->last_updated) {
      fixed.flags = R->flags;  // the replica's newer flags win
    }
    rewrite.push_back(fixed);
  }

  // Rewrites: same message, a modseq above both sides so the next APPLY
  // MAILBOX carries it.
  std::vector<store::ApplyRecord> writes;
  int64_t now = static_cast<int64_t>(::time(nullptr));
  for (auto& x : rewrite) {
    x.modseq = ++next_modseq;
    x.last_updated = std::max(now, x.last_updated);
    writes.push_back(store::ApplyRecord{x, std::nullopt});
  }
  if (!writes.empty()) CYR_TRY(local_.apply_records(name, writes, store::WriteMode::Replication));

  for (auto& x : renumber) {
    auto bytes = local_.read_message(name, x.uid);
    if (!bytes.ok()) return bytes.take_error();
    CYR_TRY(append_copy(name, std::move(*bytes), x));
    auto e = local_.expunge(name, store::UidSet::of({x.uid}));
    if (!e.ok()) return e.take_error();
    ++stats_.renumbered;
    CYR_LOG(Info, opts_.sid, "sync_client: %s: renumbered uid %u (split brain)", name.c_str(), x.uid);
  }
  for (auto& x : copyback) {
    auto body = fetch_remote_body(*remote, x);
    if (!body.ok()) return body.take_error();
    CYR_TRY(append_copy(name, std::move(*body), x));
    ++stats_.copied_back;
    CYR_LOG(Info, opts_.sid, "sync_client: %s: copied back replica uid %u", name.c_str(), x.uid);
  }
  if (!expunge_remote.empty()) {
    Value arg = Value::kvlist();
    arg.add_str("MBOXNAME", name);
    arg.add_str("UNIQUEID", remote->uniqueid);
    Value l = Value::list();
    for (auto u : expunge_remote) l.push(Value::num(u));
    arg.add("UID", std::move(l));
    auto er = call("APPLY", "EXPUNGE", std::move(arg));
    if (!er.ok()) return er.take_error();
  }
  return {};
}

// Reconcile: the replica's INBOX `name` is another mailbox than ours (both
// nodes created it while apart). Its messages are appended to ours, with
// their flags and internal dates, under new UIDs.
Status SyncClient::merge_remote_inbox(const std::string& name) {
  auto got = get_fullmailbox(name);
  if (!got.ok()) return got.take_error();
  std::optional<MailboxState>& remote = *got;
  if (!remote) return Error(Errc::NotFound, "IMAP_MAILBOX_NONEXISTENT " + name + " on the replica");
  // A message ours already holds is not copied again: a reconcile that
  // failed after this point and runs again must not duplicate the mail.
  auto mine = local_.records(name, false);
  if (!mine.ok()) return mine.take_error();
  std::set<std::string> have;
  for (auto& r : *mine) have.insert(r.guid.to_hex());
  size_t merged = 0;
  for (auto& x : remote->records) {
    if (x.expunged() || have.count(x.guid.to_hex())) continue;
    auto body = fetch_remote_body(*remote, x);
    if (!body.ok()) return body.take_error();
    CYR_TRY(append_copy(name, std::move(*body), x));
    ++stats_.copied_back;
    ++merged;
  }
  CYR_LOG(Notice, opts_.sid, "sync_client: %s: the replica's INBOX is another mailbox (uniqueid %s); %zu messages "
          "copied into ours, and it will be replaced by ours", name.c_str(), remote->uniqueid.c_str(), merged);
  return {};
}

// One message of a replica mailbox (GET FETCH), checked against its GUID.
Result<std::string> SyncClient::fetch_remote_body(const MailboxState& remote, const store::MessageRecord& x) {
  Value arg = Value::kvlist();
  arg.add_str("MBOXNAME", remote.name);
  arg.add_str("PARTITION", remote.partition);
  arg.add_str("UNIQUEID", remote.uniqueid);
  arg.add_guid("GUID", x.guid.to_hex());
  arg.add_num("UID", x.uid);
  auto fr = call("GET", "FETCH", std::move(arg));
  if (!fr.ok()) return fr.take_error();
  std::optional<std::string> body;
  for (auto& item : *fr)
    if (!item.is_final() && item.key == "MESSAGE")
      if (auto v = item.value(); v.ok() && (*v)->kind() == ValueKind::File) body = (*v)->file_literal().body;
  if (!body || body->size() != x.size || mail::MessageGuid::of(*body) != x.guid)
    return Error(Errc::Io, "IMAP_IOERROR copy-back file does not match its GUID", remote.name);
  return std::move(*body);
}

Result<std::string> SyncClient::pull_mailbox(const std::string& name) {
  auto got = get_fullmailbox(name);
  if (!got.ok()) return got.take_error();
  std::optional<MailboxState>& remote = *got;
  if (!remote || remote->intermediate() || remote->deleted()) return std::string();
  if (remote->name != name) return Error(Errc::Invalid, "GET FULLMAILBOX " + name + " answered " + remote->name);
  // Known here under another name: the rename pass handles it.
  if (local_.lookup_by_uniqueid(remote->uniqueid).ok()) return std::string();
  std::string target = name;
  if (local_.lookup(name).ok()) {
    // Both nodes created a folder of this name while they were apart. Ours
    // keeps the name; theirs comes back beside it, and the rename pass then
    // gives the replica's copy the same name.
    if (name == user_inbox_name(mailbox_owner(name)))  // sync_user merges these (merge_remote_inbox)
      return Error(Errc::Exists, "IMAP_MAILBOX_MOVED " + name +
                                     " exists on both nodes with different uniqueids; it cannot be renamed aside");
    target = name + "-" + remote->uniqueid.substr(0, 8);
    if (local_.lookup(target).ok())
      return Error(Errc::Exists, "IMAP_MAILBOX_EXISTS " + target + " already exists; cannot copy back " + name);
  }
  store::CreateMailboxRequest req;
  req.name = target;
  req.partition = remote->partition;
  req.uniqueid = remote->uniqueid;
  req.uidvalidity = remote->uidvalidity;
  req.acl = remote->acl;
  auto created = local_.create_mailbox(req, store::WriteMode::Replication);
  if (!created.ok() && created.error().user_message == "Unknown partition") {
    req.partition.clear();  // a partition only the old primary has: ours is the default
    created = local_.create_mailbox(req, store::WriteMode::Replication);
  }
  if (!created.ok()) return created.take_error();
  CYR_LOG(Notice, opts_.sid, "sync_client: %s: only the replica had it (uniqueid %s, %zu records); copying it back as %s",
          name.c_str(), remote->uniqueid.c_str(), remote->records.size(), target.c_str());

  store::MailboxCounters c = counters_of(*remote);
  // Bodies are held in memory one chunk at a time.
  constexpr size_t kChunkMessages = 256;
  constexpr uint64_t kChunkBytes = 64u << 20;
  std::vector<store::ApplyRecord> chunk;
  uint64_t chunk_bytes = 0;
  auto flush = [&](bool last) -> Status {
    if (chunk.empty() && !last) return {};
    Status st = chunk.empty() ? local_.set_counters(target, c, store::WriteMode::Replication)
                              : local_.apply_records(target, chunk, store::WriteMode::Replication, last ? &c : nullptr);
    chunk.clear();
    chunk_bytes = 0;
    return st;
  };
  for (auto& x : remote->records) {
    store::ApplyRecord ar{x, std::nullopt};
    if (!x.expunged()) {
      auto body = fetch_remote_body(*remote, x);
      if (!body.ok()) return body.take_error();
      chunk_bytes += body->size();
      ar.source = store::MessageSource::memory(std::move(*body));
      ++stats_.copied_back;
    }
    chunk.push_back(std::move(ar));
    if (chunk.size() >= kChunkMessages || chunk_bytes >= kChunkBytes) CYR_TRY(flush(false));
  }
  CYR_TRY(flush(true));
  for (auto a : remote->annotations) {
    a.mailbox = target;
    if (a.modseq == 0) a.modseq = remote->highestmodseq;
    CYR_TRY(local_.set_annotation(a, store::WriteMode::Replication));
  }
  ++stats_.mailboxes_copied_back;
  return target;
}

// ---- users, mailboxes, everything -------------------------------------------------

Status SyncClient::sync_user_meta(const std::string& userid, const RemoteUser& remote,
                                  const std::vector<std::string>& local_names) {
  // Quota roots used by this user's mailboxes.
  std::set<std::string> roots;
  for (auto& n : local_names)
    if (auto i = local_.lookup(n); i.ok() && !i->quotaroot.empty()) roots.insert(i->quotaroot);
  std::map<std::string, const Value*> rq;
  for (auto& q : remote.quotas)
    if (auto root = q.get_str("ROOT"); root.ok()) rq[std::string(*root)] = &q;
  for (auto& root : roots) {
    auto q = local_.get_quota(root);
    if (!q.ok()) continue;
    Value v = Value::kvlist();
    v.add_str("ROOT", root);
    v.add_num("LIMIT", q->storage_limit_kib ? *q->storage_limit_kib : kUnlimitedQuota);
    if (q->storage_limit_kib) v.add_num("STORAGE", *q->storage_limit_kib);
    if (q->message_limit) v.add_num("MESSAGE", *q->message_limit);
    auto it = rq.find(root);
    bool same = false;
    if (it != rq.end()) {
      auto num_or = [](const Value* x, const char* k) -> std::optional<uint64_t> {
        if (!x->has(k)) return std::nullopt;
        auto n = x->get_num(k);
        return n.ok() ? std::optional<uint64_t>(*n) : std::nullopt;
      };
      same = num_or(it->second, "STORAGE") == q->storage_limit_kib && num_or(it->second, "MESSAGE") == q->message_limit;
    }
    if (!same) {
      auto r = call("APPLY", "QUOTA", std::move(v));
      if (!r.ok()) return r.take_error();
    }
  }
  for (auto& [root, q] : rq)
    if (!roots.count(root)) {
      if (opts_.reconcile && local_.lookup(root).ok()) {
        // A quota the old primary has on one of this user's mailboxes and
        // we do not (set there after the split, or a user pull_users
        // created here): kept, as the reconcile keeps its other changes.
        std::optional<uint64_t> storage, messages;
        if (q->has("STORAGE")) {
          if (auto n = q->get_num("STORAGE"); n.ok()) storage = *n;
        } else if (auto n = q->get_num("LIMIT"); n.ok() && *n != kUnlimitedQuota && *n != UINT64_MAX) {
          storage = *n;
        }
        if (q->has("MESSAGE"))
          if (auto n = q->get_num("MESSAGE"); n.ok()) messages = *n;
        CYR_TRY(local_.set_quota(root, storage, messages));
        ++stats_.meta_copied_back;
        continue;
      }
      auto r = call("APPLY", "UNQUOTA", Value::str(root));
      if (!r.ok() && r.error().code != Errc::NotFound) return r.take_error();
    }
  // Subscriptions.
  auto subs = local_.subscriptions(userid);
  if (!subs.ok()) return subs.take_error();
  std::set<std::string> mine(subs->begin(), subs->end()), theirs(remote.lsub.begin(), remote.lsub.end());
  auto sub = [&](const char* op, const std::string& mbox) -> Status {
    Value v = Value::kvlist();
    v.add_str("USERID", userid);
    v.add_str("MBOXNAME", mbox);
    auto r = call("APPLY", op, std::move(v));
    if (!r.ok()) return r.take_error();
    return {};
  };
  for (auto& s : mine)
    if (!theirs.count(s)) CYR_TRY(sub("SUB", s));
  for (auto& s : theirs) {
    if (mine.count(s)) continue;
    if (opts_.reconcile) {
      // Subscribed on the old primary after the split: keep it on both.
      CYR_TRY(local_.subscribe(userid, s, true));
      ++stats_.meta_copied_back;
    } else {
      CYR_TRY(sub("UNSUB", s));
    }
  }
  CYR_TRY(sync_sieve(userid, remote.sieve));
  // Seen state, by mailbox uniqueid.
  std::map<std::string, store::SeenState> rseen;
  for (auto& s : remote.seen) {
    auto u = s.get_str("UNIQUEID");
    if (!u.ok()) continue;
    store::SeenState st;
    if (auto x = s.get_date("LASTREAD"); x.ok()) st.lastread = *x;
    if (auto x = s.get_num32("LASTUID"); x.ok()) st.lastuid = *x;
    if (auto x = s.get_date("LASTCHANGE"); x.ok()) st.lastchange = *x;
    if (auto x = s.get_str("SEENUIDS"); x.ok()) st.seenuids = std::string(*x);
    rseen[std::string(*u)] = st;
  }
  // Own mailboxes, then the foreign ones this user has seen state on: named
  // by a hint or a scan, or already known to the replica.
  std::vector<std::string> seen_names = local_names;
  std::set<std::string> own(local_names.begin(), local_names.end());
  std::set<std::string> foreign = seen_hints_[userid];
  for (auto& [uid, _] : rseen) foreign.insert(uid);
  for (auto& uid : foreign) {
    auto info = local_.lookup_by_uniqueid(uid);
    if (info.ok() && !own.count(info->name)) seen_names.push_back(info->name);
  }
  for (auto& n : seen_names) {
    auto seen = local_.get_seen(userid, n);
    if (!seen.ok()) continue;
    const bool empty = seen->lastuid == 0 && seen->seenuids.empty() && seen->lastread == 0;
    // Only a reconcile takes the replica's state where ours is empty.
    if (empty && !opts_.reconcile) continue;
    auto info = local_.lookup(n);
    if (!info.ok()) continue;
    auto it = rseen.find(info->uniqueid);
    if (opts_.reconcile && it != rseen.end() && it->second.lastchange > seen->lastchange) {
      // The old primary's seen state changed after ours: it wins, as the
      // newer state would have in one store.
      CYR_TRY(local_.set_seen(userid, n, it->second));
      ++stats_.meta_copied_back;
      continue;
    }
    if (empty) continue;
    if (it != rseen.end() && it->second == *seen) continue;
    Value v = Value::kvlist();
    v.add_str("USERID", userid);
    v.add_str("UNIQUEID", info->uniqueid);
    v.add_date("LASTREAD", seen->lastread);
    v.add_num("LASTUID", seen->lastuid);
    v.add_date("LASTCHANGE", seen->lastchange);
    v.add_str("SEENUIDS", seen->seenuids);
    auto r = call("APPLY", "SEEN", std::move(v));
    if (!r.ok()) return r.take_error();
  }
  seen_hints_.erase(userid);
  return {};
}

void SyncClient::add_seen_hint(const std::string& userid, const std::string& uniqueid) {
  if (!userid.empty() && !uniqueid.empty()) seen_hints_[userid].insert(uniqueid);
}

Status SyncClient::scan_foreign_seen() {
  auto index = foreign_seen_index(local_);
  if (!index.ok()) return index.take_error();
  for (auto& [user, uids] : *index) seen_hints_[user].insert(uids.begin(), uids.end());
  return {};
}

// Calls `each(reader, uniqueid)` for every user other than its owner with
// seen state on mailbox `name` (one seen_users() query, in its owner's
// database). A mailbox deleted meanwhile has none.
static Status foreign_readers(store::Store& local, const std::string& name,
                              const std::function<void(const std::string&, const std::string&)>& each) {
  auto users = local.seen_users(name);
  if (!users.ok()) {
    if (users.error().code == Errc::NotFound) return {};
    return users.take_error();
  }
  std::string owner = mailbox_owner(name);
  std::string uniqueid;
  for (auto& u : *users) {
    if (u == owner) continue;
    if (uniqueid.empty()) {
      auto info = local.lookup(name);
      if (!info.ok()) break;
      uniqueid = info->uniqueid;
    }
    each(u, uniqueid);
  }
  return {};
}

Result<std::map<std::string, std::set<std::string>>> foreign_seen_index(store::Store& local) {
  std::map<std::string, std::set<std::string>> index;
  auto all = local.list("*");
  if (!all.ok()) return all.take_error();
  for (auto& n : *all)
    CYR_TRY(foreign_readers(local, n, [&](const std::string& u, const std::string& id) { index[u].insert(id); }));
  return index;
}

Status SyncClient::sync_user(const std::string& userid) {
  bool pulled = false;  // reconcile: the replica-only mailboxes were taken once
  bool inbox_merged = false;  // reconcile: the replica's other INBOX was emptied into ours
  const std::string inbox = user_inbox_name(userid);
  for (int attempt = 0; attempt < 4; ++attempt) {
    auto remote = get_user(userid);
    if (!remote.ok()) return remote.take_error();
    auto names = local_user_mailboxes(local_, userid);
    if (!names.ok()) return names.take_error();
    if (names->empty()) {
      note("user " + userid + " has no INBOX here; skipped");
      return {};  // a user sync never deletes a user; UNUSER does
    }
    remote_names_.clear();
    std::map<std::string, const MailboxState*> by_uid;
    for (auto& f : remote->folders) {
      remote_names_.push_back(f.name);
      by_uid[f.uniqueid] = &f;
    }
    // Renames, matched by uniqueid. Apply the ones whose target is free;
    // then start over so the replica state is fresh.
    std::set<std::string> remote_names(remote_names_.begin(), remote_names_.end());
    bool renamed = false;
    std::set<std::string> local_uids;
    for (auto& n : *names) {
      auto info = local_.lookup(n);
      if (!info.ok()) continue;
      local_uids.insert(info->uniqueid);
      auto it = by_uid.find(info->uniqueid);
      if (it == by_uid.end() || it->second->name == n || remote_names.count(n)) continue;
      Value v = Value::kvlist();
      v.add_str("OLDMBOXNAME", it->second->name);
      v.add_str("NEWMBOXNAME", n);
      v.add_str("PARTITION", info->partition);
      note("APPLY RENAME " + it->second->name + " -> " + n);
      if (states_) {
        states_->forget_tree(it->second->name);
        states_->forget_tree(n);
      }
      auto r = call("APPLY", "RENAME", std::move(v));
      if (!r.ok()) return r.take_error();
      renamed = true;
      break;
    }
    if (renamed) continue;
    // Replica folders this node does not have (deleted here).
    if (opts_.delete_orphans) {
      // Renames were matched above, so a replica folder whose uniqueid is
      // unknown here was deleted here (perhaps re-created under its name).
      std::vector<std::string> orphans;
      for (auto& f : remote->folders)
        if (!local_uids.count(f.uniqueid)) orphans.push_back(f.name);
      std::sort(orphans.rbegin(), orphans.rend());  // children first
      for (auto& o : orphans) CYR_TRY(unmailbox(o));
      if (!orphans.empty()) continue;
    }
    // Reconcile: a folder only the old primary has was created there and
    // never replicated, or (without mailbox tombstones this cannot be told
    // apart) deleted here while it was cut off. Left on the replica, the
    // next ordinary user sync would delete it with its mail; so it is taken
    // here, parents first, and the passes below find both sides equal.
    if (opts_.reconcile && !pulled) {
      pulled = true;
      std::vector<std::string> theirs_only;
      for (auto& f : remote->folders)
        if (!local_uids.count(f.uniqueid)) theirs_only.push_back(f.name);
      std::sort(theirs_only.begin(), theirs_only.end());
      bool any = false;
      for (auto& o : theirs_only) {
        if (o == inbox && local_.lookup(inbox).ok()) {
          // Both nodes created this user's INBOX while apart (a delivery
          // with autocreate on each): its messages join ours, and once the
          // rest is reconciled the replica's INBOX is replaced by ours.
          CYR_TRY(merge_remote_inbox(inbox));
          inbox_merged = true;
          continue;
        }
        auto got = pull_mailbox(o);
        if (!got.ok()) return got.take_error();
        any = any || !got->empty();
      }
      if (any) continue;
    }
    for (auto& n : *names) {
      if (inbox_merged && n == inbox) continue;  // the replica's is still another mailbox
      std::optional<MailboxState> rs;
      if (auto info = local_.lookup(n); info.ok())
        if (auto it = by_uid.find(info->uniqueid); it != by_uid.end()) rs = *it->second;
      Status st = update_mailbox(n, rs);
      if (!st.ok()) return st;
      if (std::find(remote_names_.begin(), remote_names_.end(), n) == remote_names_.end()) remote_names_.push_back(n);
    }
    Status meta = sync_user_meta(userid, *remote, *names);
    if (!meta.ok() || !inbox_merged) return meta;
    // Its mail, folders, scripts and seen state are here now: the replica's
    // INBOX (with what is below it) goes, and the next pass sends ours.
    CYR_TRY(unmailbox(inbox));
    inbox_merged = false;
  }
  return Error(Errc::Temp, "IMAP_SYNC_CHANGED too many renames for user " + userid);
}

// Sieve scripts the way Cyrus replicates them without SIEVE-MAILBOX
// (reference 3.8): upload what differs by GUID, remove what the replica has
// and we do not, then set the active script.
Status SyncClient::sync_sieve(const std::string& userid, const std::vector<Value>& remote) {
  auto scripts = local_.sieve_scripts(userid);
  if (!scripts.ok()) return scripts.take_error();
  std::map<std::string, std::string> their_guid;  // NAME -> GUID hex
  std::map<std::string, int64_t> their_update;    // NAME -> LAST_UPDATE
  std::string their_active;
  for (auto& item : remote) {
    auto file = item.get_str("FILENAME");
    if (!file.ok()) continue;
    std::string f(*file);
    bool active = item.has("ISACTIVE") && item.get_num("ISACTIVE").ok() && *item.get_num("ISACTIVE") != 0;
    if (f.size() > 3 && f.ends_with(".bc")) {
      if (active) their_active = f.substr(0, f.size() - 3);
    } else if (f.size() > 7 && f.ends_with(".script")) {
      auto g = item.get_guid("GUID");
      std::string name = f.substr(0, f.size() - 7);
      their_guid[name] = g.ok() ? *g : std::string();
      auto d = item.get_date("LAST_UPDATE");
      their_update[name] = d.ok() ? *d : 0;
    }
  }
  if (opts_.reconcile) {
    // Scripts the old primary has and we lack, or changed after our copy,
    // come back here first; the pass below then finds them equal. Without
    // tombstones a script this node deleted while the other was cut off
    // comes back too (inactive): a lost deletion is recoverable by the
    // user, a lost script is not.
    bool changed = false;
    for (auto& [name, guid] : their_guid) {
      const store::SieveScript* ours = nullptr;
      for (auto& sc : *scripts)
        if (sc.name == name) ours = &sc;
      if (ours && (mail::MessageGuid::of(ours->content).to_hex() == guid ||
                   ours->last_update >= their_update[name]))
        continue;
      auto content = fetch_remote_sieve(userid, name);
      if (!content.ok()) return content.take_error();
      CYR_TRY(local_.put_sieve_script(userid, name, *content, store::WriteMode::Normal, their_update[name]));
      ++stats_.meta_copied_back;
      changed = true;
    }
    // Which script is active stays ours: without the time of an activation
    // we cannot tell the old primary's newer choice from a script this node
    // deactivated (and perhaps deleted) since, and activating the wrong one
    // could send vacation replies the user turned off. A copied-back script
    // arrives inactive.
    // A user this node did not have at all (pull_users) has made no
    // choice here: the old primary's active script stays active.
    if (pulled_users_.count(userid) && !their_active.empty() && their_guid.count(their_active)) {
      CYR_TRY(local_.activate_sieve_script(userid, their_active));
      changed = true;
    }
    if (changed) {
      scripts = local_.sieve_scripts(userid);
      if (!scripts.ok()) return scripts.take_error();
    }
  }
  auto apply = [&](const char* what, Value v) -> Status {
    auto r = call("APPLY", what, std::move(v));
    if (!r.ok()) return r.take_error();
    return {};
  };
  std::string my_active;
  std::set<std::string> mine;
  for (auto& sc : *scripts) {
    mine.insert(sc.name);
    if (sc.active) my_active = sc.name;
    auto it = their_guid.find(sc.name);
    if (it != their_guid.end() && it->second == mail::MessageGuid::of(sc.content).to_hex()) continue;
    Value v = Value::kvlist();
    v.add_str("USERID", userid);
    v.add_str("FILENAME", sc.name + ".script");
    v.add_date("LAST_UPDATE", sc.last_update);
    v.add_str("CONTENT", sc.content);
    CYR_TRY(apply("SIEVE", std::move(v)));
  }
  for (auto& [name, _] : their_guid) {
    if (mine.count(name)) continue;
    Value v = Value::kvlist();
    v.add_str("USERID", userid);
    v.add_str("FILENAME", name + ".script");
    CYR_TRY(apply("UNSIEVE", std::move(v)));
  }
  if (my_active != their_active) {
    Value v = Value::kvlist();
    v.add_str("USERID", userid);
    if (my_active.empty()) {
      CYR_TRY(apply("UNACTIVATE_SIEVE", std::move(v)));
    } else {
      v.add_str("FILENAME", my_active + ".bc");
      CYR_TRY(apply("ACTIVATE_SIEVE", std::move(v)));
    }
  }
  return {};
}

Result<std::string> SyncClient::fetch_remote_sieve(const std::string& userid, const std::string& name) {
  Value v = Value::kvlist();
  v.add_str("USERID", userid);
  v.add_str("FILENAME", name + ".script");
  auto r = call("GET", "FETCH_SIEVE", std::move(v));
  if (!r.ok()) return r.take_error();
  for (auto& item : *r) {
    if (item.is_final() || item.key != "SIEVE") continue;
    auto val = item.value();
    if (!val.ok()) return val.take_error();
    auto c = (*val)->get_str("CONTENT");
    if (!c.ok()) return c.take_error();
    return std::string(*c);
  }
  return Error(Errc::Invalid, "GET FETCH_SIEVE " + userid + " " + name + ": no SIEVE in the answer");
}

Status SyncClient::sync_meta(const std::string& userid) {
  auto remote = get_user(userid);
  if (!remote.ok()) return remote.take_error();
  auto names = local_user_mailboxes(local_, userid);
  if (!names.ok()) return names.take_error();
  return sync_user_meta(userid, *remote, *names);
}

Status SyncClient::sync_mailboxes(const std::vector<std::string>& names) {
  auto remote = get_mailboxes(names);
  if (!remote.ok()) return remote.take_error();
  std::map<std::string, MailboxState> by_name, by_uid;
  remote_names_.clear();
  for (auto& m : *remote) {
    remote_names_.push_back(m.name);
    by_uid[m.uniqueid] = m;
    by_name[m.name] = m;
  }
  for (auto& n : names) {
    auto info = local_.lookup(n);
    if (!info.ok()) {
      if (info.error().code == Errc::NotFound) continue;  // deletions travel as UNMAILBOX
      return info.take_error();
    }
    std::optional<MailboxState> rs;
    if (auto it = by_uid.find(info->uniqueid); it != by_uid.end()) rs = it->second;
    CYR_TRY(update_mailbox(n, rs));
  }
  return {};
}

Status SyncClient::sync_all() {
  if (opts_.reconcile) {
    // A rejoining node takes writes only from a session that says it is
    // the reconcile (sync_frame.h). A server that does not know the name
    // (a Cyrus, an older version) answers without it and refuses nothing.
    Value caps = Value::list();
    caps.push(Value::str(std::string(kReconcileCapability)));
    auto r = call("APPLY", "CAPABILITIES", std::move(caps));
    if (!r.ok()) return r.take_error();
    CYR_TRY(pull_users());
  }
  auto inboxes = local_.list("*");
  if (!inboxes.ok()) return inboxes.take_error();
  std::set<std::string> users;
  std::vector<std::string> shared;
  for (auto& n : *inboxes) {
    std::string u = userid_of_inbox(n);
    if (!u.empty()) {
      users.insert(u);
      continue;
    }
    auto shard = store::shard_of(n);
    if (shard.ok() && shard->rfind("user.", 0) == 0) continue;  // a user's folder
    if (n.find("!user.") != std::string::npos) continue;
    shared.push_back(n);
  }
  // The seen state users keep on mailboxes they do not own is found in the
  // owners' databases (foreign_readers), and goes with the reader. A scan of
  // every mailbox before the walk, as scan_foreign_seen() does, would open
  // every user's database twice, since a one-shot run keeps only a few open
  // (cyr_sync_client); so each user's mailboxes are scanned just before that
  // user is synced, and the other mailboxes (shared ones, leftovers) once
  // the shared ones are synced. A reader synced before a mailbox it has
  // seen state on gets that state in a META sync at the end: the replica
  // takes APPLY SEEN only for a mailbox it has (before, an -A into an empty
  // replica failed on a reader listed before the owner).
  std::map<std::string, std::vector<std::string>> owned;  // user -> mailboxes, in list order
  std::vector<std::string> unowned;
  for (auto& n : *inboxes) {
    std::string owner = mailbox_owner(n);
    if (!owner.empty() && users.count(owner)) owned[owner].push_back(n);
    else unowned.push_back(n);
  }
  std::set<std::string> synced, late;
  auto scan = [&](const std::string& n) {
    return foreign_readers(local_, n, [&](const std::string& reader, const std::string& uniqueid) {
      add_seen_hint(reader, uniqueid);
      if (synced.count(reader)) late.insert(reader);
    });
  };
  for (auto& u : users) {
    for (auto& n : owned[u]) CYR_TRY(scan(n));
    note("user " + u);
    CYR_TRY(sync_user(u));
    synced.insert(u);
    CYR_TRY(restart());
  }
  if (!shared.empty()) CYR_TRY(sync_mailboxes(shared));
  for (auto& n : unowned) CYR_TRY(scan(n));
  for (auto& u : late) {
    note("seen state of " + u + " on mailboxes synced after it");
    CYR_TRY(sync_meta(u));
  }
  return {};
}

// Reconcile: users and shared mailboxes only the old primary has (created
// there and never replicated, or removed here while it was cut off) are
// created here from its mailboxes; the user walk of sync_all then takes
// the users' subscriptions, scripts and seen state as for any user.
Status SyncClient::pull_users() {
  auto r = call("GET", kListUsersCommand.data(), Value::list());
  if (!r.ok()) {
    // A server without the command (Cyrus, an older version): users only
    // it has stay there, as before.
    CYR_LOG(Notice, opts_.sid, "sync_client: the replica cannot list its users (%s); users only it has are not copied back",
            r.error().user_message.c_str());
    return {};
  }
  std::vector<std::string> theirs, shared;
  for (auto& item : *r)
    if (!item.is_final() && (item.key == "USER" || item.key == "SHARED"))
      if (auto v = item.value(); v.ok())
        if (auto u = (*v)->as_str(); u.ok()) (item.key == "USER" ? theirs : shared).emplace_back(*u);
  for (auto& u : theirs) {
    if (local_.lookup(user_inbox_name(u)).ok()) continue;
    auto remote = get_user(u);
    if (!remote.ok()) return remote.take_error();
    std::vector<std::string> names;
    for (auto& f : remote->folders) names.push_back(f.name);
    std::sort(names.begin(), names.end());  // the INBOX first, parents before children
    CYR_LOG(Notice, opts_.sid, "sync_client: user %s: only the replica has it (%zu mailboxes); copying it back",
            u.c_str(), names.size());
    for (auto& n : names) {
      auto got = pull_mailbox(n);
      if (!got.ok()) return got.take_error();
    }
    pulled_users_.insert(u);
  }
  // Shared mailboxes only it has, parents first.
  std::sort(shared.begin(), shared.end());
  for (auto& n : shared) {
    if (local_.lookup(n).ok()) continue;
    auto got = pull_mailbox(n);
    if (!got.ok()) return got.take_error();
  }
  return {};
}

Status SyncClient::unmailbox(const std::string& name) {
  if (states_) states_->forget_tree(name);
  note("APPLY UNMAILBOX " + name);
  auto r = call("APPLY", "UNMAILBOX", Value::str(name));
  if (!r.ok() && r.error().code != Errc::NotFound) return r.take_error();
  return {};
}

Status SyncClient::unuser(const std::string& userid) {
  if (states_) states_->forget_tree(user_inbox_name(userid));
  auto r = call("APPLY", "UNUSER", Value::str(userid));
  if (!r.ok() && r.error().code != Errc::NotFound) return r.take_error();
  return {};
}

// ---- verify -------------------------------------------------------------------

static std::string describe_record(const store::MessageRecord& r) {
  char buf[200];
  snprintf(buf, sizeof buf, "uid %u modseq %llu guid %s flags %u%s", r.uid,
           static_cast<unsigned long long>(r.modseq), r.guid.to_hex().c_str(), r.flags.system,
           r.expunged() ? " expunged" : "");
  return buf;
}

// What the verifier reads of one mailbox on this node: its state, with the
// SYNC_CRC pair computed from its records, and the pair the store keeps for
// it (what known rounds send and compare). A write between the reads could
// pass for a drifted pair, so the mailbox row is read before and after the
// records, and the reads are repeated (at most 3 times) while a write moves
// HIGHESTMODSEQ or the pair in between; every record write moves the first.
// `settled` is false if they never held still.
struct VerifyLocal {
  MailboxState state;
  SyncCrcs stored{0, 0};
  bool settled = false;
};

static Result<VerifyLocal> verify_local_state(store::Store& s, const std::string& name) {
  VerifyLocal out;
  for (int attempt = 0; attempt < 3 && !out.settled; ++attempt) {
    auto before = s.lookup(name);
    if (!before.ok()) return before.take_error();
    auto recs = s.records(name, true);
    if (!recs.ok()) return recs.take_error();
    auto after = s.lookup(name);
    if (!after.ok()) return after.take_error();
    out.settled = before->highestmodseq == after->highestmodseq && before->sync_crc == after->sync_crc &&
                  before->sync_crc_annot == after->sync_crc_annot;
    out.stored = SyncCrcs{after->sync_crc, after->sync_crc_annot};
    out.state = mailbox_state_of(*after, mailbox_crcs(*recs));
    out.state.records = std::move(*recs);
  }
  if (auto a = s.annotations(name); a.ok()) out.state.annotations = std::move(*a);
  return out;
}

static std::string crc_pair(const SyncCrcs& c) {
  return std::to_string(c.basic) + "/" + std::to_string(c.annot);
}

// The pair the store keeps against the one computed from the records:
// exact, since both are computed here by the same code (a 0 is not
// "unknown" in the store as it is on the wire).
static std::optional<std::string> stored_crc_difference(const std::string& name, const VerifyLocal& l) {
  if (!l.settled || l.stored == l.state.crcs) return std::nullopt;
  return name + ": stored SYNC_CRC " + crc_pair(l.stored) + " on this node differs from " +
         crc_pair(l.state.crcs) + " computed from its records; replication rounds compare the stored pair, "
         "so run cyr_reconstruct " + name + " on this node to store the right one";
}

Result<VerifyReport> verify(store::Store& local, SyncPeer& peer, const std::vector<std::string>& users_in) {
  VerifyReport rep;
  auto call = [&](const char* verb, const char* name, Value arg) -> Result<std::vector<SyncReply>> {
    auto r = peer.call(make_command(verb, name, std::move(arg)));
    if (!r.ok()) return r.take_error();
    const SyncReply& fin = final_reply(*r);
    if (fin.kind != ReplyKind::Ok && !(fin.kind == ReplyKind::No && fin.code == "IMAP_MAILBOX_NONEXISTENT"))
      return error_from_reply(fin);
    return r;
  };
  auto fetch_full = [&](const std::string& name) -> Result<std::optional<MailboxState>> {
    auto r = call("GET", "FULLMAILBOX", Value::str(name));
    if (!r.ok()) return r.take_error();
    for (auto& item : *r)
      if (!item.is_final() && item.key == "MAILBOX")
        if (auto v = item.value(); v.ok()) {
          auto m = mailbox_state_from_dlist(**v, false);
          if (!m.ok()) return m.take_error();
          return std::optional<MailboxState>(std::move(*m));
        }
    return std::optional<MailboxState>();
  };
  std::vector<std::string> users = users_in;
  std::vector<std::string> shared;
  if (users.empty()) {
    auto all = local.list("*");
    if (!all.ok()) return all.take_error();
    for (auto& n : *all) {
      std::string u = userid_of_inbox(n);
      if (!u.empty()) users.push_back(u);
      else if (n.rfind("user.", 0) != 0 && n.find("!user.") == std::string::npos) shared.push_back(n);
    }
  }
  // Users' seen state on mailboxes they do not own, found in the owners'
  // databases: each user's mailboxes are scanned as the walk reads them
  // (their database is open then; a one-shot cyr_sync_client keeps only a
  // few open), every other mailbox after the walk, and the users' seen
  // entries are compared once all are known.
  std::map<std::string, std::set<std::string>> foreign;  // reader -> mailbox uniqueids
  std::set<std::string> scanned;
  auto scan_readers = [&](const std::string& n) -> Status {
    scanned.insert(n);
    return foreign_readers(local, n, [&](const std::string& reader, const std::string& uniqueid) {
      foreign[reader].insert(uniqueid);
    });
  };
  struct SeenSets {
    std::string user;
    std::set<std::string> mine, theirs;
  };
  std::vector<SeenSets> seen_sets;
  // Every mailbox of this node the verifier reads, whether the replica has
  // it or not, has its stored pair checked.
  auto read_local = [&](const std::string& name) -> Result<VerifyLocal> {
    auto l = verify_local_state(local, name);
    if (!l.ok()) return l.take_error();
    if (auto d = stored_crc_difference(name, *l)) rep.differences.push_back(std::move(*d));
    return l;
  };
  auto compare_mailbox = [&](const std::string& name, const MailboxState& theirs_hdr) -> Status {
    ++rep.mailboxes_compared;
    auto l = read_local(name);
    if (!l.ok()) return l.take_error();
    // Compared with the replica: the pair computed from the records here
    // (the replica's reply carries the one computed from its records).
    const MailboxState* mine = &l->state;
    auto diffs = header_differences(*mine, theirs_hdr);
    if (diffs.empty()) return {};
    for (auto& d : diffs) rep.differences.push_back(name + ": " + d);
    auto full = fetch_full(name);
    if (!full.ok()) return full.take_error();
    if (!*full) return {};
    // A replica that reports the pair its index keeps (Cyrus does; ours
    // computes it from the records it sends) may report one its records do
    // not give. Only the basic CRC is recomputed: its inputs are all in a
    // RECORD, while a replica's per-message annotations and thread ids,
    // which the annot CRC counts, need not be.
    if (uint32_t theirs = (*full)->crcs.basic; theirs != 0) {
      uint32_t from_records = mailbox_crcs((*full)->records).basic;
      if (from_records != theirs)
        rep.differences.push_back(name + ": the replica reports SYNC_CRC " + std::to_string(theirs) +
                                  " but the records it sent give " + std::to_string(from_records) +
                                  "; its stored pair is wrong: run reconstruct on it for " + name);
    }
    std::map<store::Uid, store::MessageRecord> a, b;
    for (auto& r : mine->records) if (!r.expunged()) a[r.uid] = r;
    for (auto& r : (*full)->records) if (!r.expunged()) b[r.uid] = r;
    for (auto& [u, r] : a) {
      auto it = b.find(u);
      if (it == b.end()) rep.differences.push_back(name + ": only here: " + describe_record(r));
      else if (crc_record_of(r).guid != crc_record_of(it->second).guid || r.modseq != it->second.modseq ||
               r.flags != it->second.flags || r.internaldate != it->second.internaldate)
        rep.differences.push_back(name + ": differs: here " + describe_record(r) + "; replica " +
                                  describe_record(it->second));
    }
    for (auto& [u, r] : b)
      if (!a.count(u)) rep.differences.push_back(name + ": only on replica: " + describe_record(r));
    return {};
  };
  for (auto& u : users) {
    auto r = call("GET", "USER", Value::str(u));
    if (!r.ok()) return r.take_error();
    std::map<std::string, MailboxState> theirs;
    std::set<std::string> lsub;
    std::set<std::string> their_seen;
    std::set<std::string> their_sieve;
    for (auto& item : *r) {
      if (item.is_final()) continue;
      auto v = item.value();
      if (!v.ok()) continue;
      if (item.key == "MAILBOX") {
        auto m = mailbox_state_from_dlist(**v, false);
        if (m.ok()) theirs[m->name] = std::move(*m);
      } else if (item.key == "LSUB") {
        for (auto& s : (*v)->items())
          if (auto x = s.as_str(); x.ok()) lsub.insert(std::string(*x));
      } else if (item.key == "SEEN") {
        if (auto x = (*v)->get_str("UNIQUEID"); x.ok()) their_seen.insert(std::string(*x));
      } else if (item.key == "SIEVE") {
        auto f = (*v)->get_str("FILENAME");
        auto g = (*v)->get_guid("GUID");
        auto a = (*v)->get_num("ISACTIVE");
        if (f.ok()) their_sieve.insert(std::string(*f) + " " + (g.ok() ? *g : "") + " " + (a.ok() && *a ? "1" : "0"));
      }
    }
    auto names = local_user_mailboxes(local, u);
    if (!names.ok()) return names.take_error();
    for (auto& n : *names) {
      CYR_TRY(scan_readers(n));
      auto it = theirs.find(n);
      if (it == theirs.end()) {
        rep.differences.push_back(n + ": missing on the replica");
        if (auto l = read_local(n); !l.ok() && l.error().code != Errc::NotFound) return l.take_error();
        continue;
      }
      CYR_TRY(compare_mailbox(n, it->second));
      theirs.erase(it);
    }
    // Cyrus lists a user's deleted folders (DELETED.user.<u>...) with the
    // user; ours are kept outside the user, so compare them by name.
    for (auto& [n, m] : theirs) {
      if (n.starts_with("DELETED.") && local.lookup(n).ok()) CYR_TRY(compare_mailbox(n, m));
      else rep.differences.push_back(n + ": only on the replica");
    }
    auto subs = local.subscriptions(u);
    if (subs.ok() && std::set<std::string>(subs->begin(), subs->end()) != lsub)
      rep.differences.push_back("user " + u + ": subscriptions differ");
    if (auto scripts = local.sieve_scripts(u); scripts.ok()) {
      std::set<std::string> my_sieve;
      for (auto& sc : *scripts) {
        my_sieve.insert(sc.name + ".script " + mail::MessageGuid::of(sc.content).to_hex() + " 0");
        if (sc.active) my_sieve.insert(sc.name + ".bc " + mail::MessageGuid().to_hex() + " 1");
      }
      if (my_sieve != their_sieve) rep.differences.push_back("user " + u + ": sieve scripts differ");
    }
    // Seen entries by mailbox uniqueid: own mailboxes and foreign ones.
    std::set<std::string> my_seen;
    for (auto& n : *names)
      if (auto s = local.get_seen(u, n); s.ok() && (s->lastuid || !s->seenuids.empty() || s->lastread))
        if (auto i = local.lookup(n); i.ok()) my_seen.insert(i->uniqueid);
    seen_sets.push_back(SeenSets{u, std::move(my_seen), std::move(their_seen)});
  }
  if (!shared.empty()) {
    Value l = Value::list();
    for (auto& n : shared) l.push(Value::str(n));
    auto r = call("GET", "MAILBOXES", std::move(l));
    if (!r.ok()) return r.take_error();
    std::map<std::string, MailboxState> theirs;
    for (auto& item : *r)
      if (!item.is_final() && item.key == "MAILBOX")
        if (auto v = item.value(); v.ok())
          if (auto m = mailbox_state_from_dlist(**v, false); m.ok()) theirs[m->name] = std::move(*m);
    for (auto& n : shared) {
      auto it = theirs.find(n);
      if (it == theirs.end()) {
        rep.differences.push_back(n + ": missing on the replica");
        if (auto l = read_local(n); !l.ok() && l.error().code != Errc::NotFound) return l.take_error();
      } else {
        CYR_TRY(compare_mailbox(n, it->second));
      }
    }
  }
  auto all = local.list("*");
  if (!all.ok()) return all.take_error();
  if (users_in.empty()) {
    // Users and shared mailboxes only the replica has, which the walk above
    // (from this node's list) cannot see: asked with our GET X-USERS. A
    // server without it (a Cyrus) refuses, and they go unchecked.
    if (auto r = call("GET", kListUsersCommand.data(), Value::list()); r.ok()) {
      std::set<std::string> mine(all->begin(), all->end());
      for (auto& item : *r) {
        if (item.is_final() || (item.key != "USER" && item.key != "SHARED")) continue;
        auto v = item.value();
        if (!v.ok()) continue;
        auto x = (*v)->as_str();
        if (!x.ok()) continue;
        std::string name = item.key == "USER" ? user_inbox_name(std::string(*x)) : std::string(*x);
        if (mine.count(name)) continue;
        rep.differences.push_back(item.key == "USER" ? "user " + std::string(*x) + ": only on the replica"
                                                     : name + ": only on the replica");
      }
    }
  }
  for (auto& n : *all)
    if (!scanned.count(n)) CYR_TRY(scan_readers(n));
  for (auto& ss : seen_sets) {
    if (auto it = foreign.find(ss.user); it != foreign.end()) ss.mine.insert(it->second.begin(), it->second.end());
    if (ss.mine != ss.theirs) rep.differences.push_back("user " + ss.user + ": seen entries differ");
  }
  return rep;
}

}  // namespace cyr::sync
