// The replica side of csync: command execution. See sync_server.h.
#include "sync/sync_server.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>
#include <set>
#include <system_error>

#include "store/base/log.h"
#include "store/mail/acl.h"
#include "store/mail/guid.h"
#include "sync/mailbox_sync.h"
#include "sync/sync_log.h"

namespace cyr::sync {

namespace fs = std::filesystem;

namespace {

// Errors carrying a Cyrus response code in front of their text.
Error coded(Errc c, std::string code_and_text, std::string detail = {}) {
  return Error(c, std::move(code_and_text), std::move(detail));
}
Error bad_parameters(const Error& e) {
  return coded(Errc::Invalid, "IMAP_PROTOCOL_BAD_PARAMETERS " + e.user_message, e.detail);
}
Error checksum(std::string why) { return coded(Errc::Invalid, "IMAP_SYNC_CHECKSUM Checksum Failure", std::move(why)); }

constexpr uint64_t kUnlimitedQuota = 4294967295u;
constexpr size_t kMaxListArgs = 100000;
// Uploaded files up to this size are held in memory (typical mail; the
// store's body journal takes messages of this size too).
constexpr uint64_t kMemoryFileMax = 64 * 1024;
// All in-memory uploads of one session not yet appended: a client that
// uploads many files ahead of its APPLY MAILBOX (Cyrus's sync_client sends
// a whole batch) spills the rest to staging files.
constexpr uint64_t kStagedMemoryMax = 32u << 20;
// In-memory uploads of one APPLY MESSAGE hashed on the session's I/O
// thread at most (a few tenths of a millisecond of SHA-1; a round of ours
// carries a few messages); more go to the pool.
constexpr uint64_t kInlineHashMax = 256u << 10;

Result<std::vector<std::string>> string_list(const Value& v, const char* what) {
  if (v.kind() != ValueKind::List) return Error(Errc::Invalid, std::string("bad parameter ") + what + ": expected a list");
  if (v.items().size() > kMaxListArgs) return Error(Errc::Limit, std::string("bad parameter ") + what + ": too many items");
  std::vector<std::string> out;
  for (const Value& i : v.items()) {
    auto s = i.as_str();
    if (!s.ok()) return s.take_error();
    out.emplace_back(*s);
  }
  return out;
}

Result<mail::MessageGuid> hash_file(const fs::path& p, uint64_t* size_out) {
  int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Error(Errc::Io, "Cannot open message file", p.string() + ": " + strerror(errno));
  mail::GuidHasher h;
  char buf[65536];
  uint64_t total = 0;
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      int e = errno;
      ::close(fd);
      return Error(Errc::Io, "Cannot read message file", p.string() + ": " + strerror(e));
    }
    if (n == 0) break;
    h.update(std::string_view(buf, static_cast<size_t>(n)));
    total += static_cast<uint64_t>(n);
  }
  ::close(fd);
  if (size_out) *size_out = total;
  return h.finish();
}

}  // namespace

SyncReply no_reply_for(const Error& e) {
  std::string_view m = e.user_message;
  if (m.starts_with("IMAP_")) {
    auto sp = m.find(' ');
    if (sp == std::string_view::npos) return make_no(std::string(m), "");
    return make_no(std::string(m.substr(0, sp)), std::string(m.substr(sp + 1)));
  }
  switch (e.code) {
    case Errc::NotFound: return make_no("IMAP_MAILBOX_NONEXISTENT", "No Such Mailbox");
    case Errc::Exists: return make_no("IMAP_MAILBOX_EXISTS", "Mailbox already exists");
    case Errc::InUse:
    case Errc::Temp: return make_no("IMAP_MAILBOX_LOCKED", "Mailbox locked");
    // Retried by the sender, as a lock is, until space is freed here.
    case Errc::NoSpace: return make_no("IMAP_MAILBOX_LOCKED", "Not enough disk space on this node");
    case Errc::Invalid:
    case Errc::Limit:
    case Errc::TooBig: return make_no("IMAP_PROTOCOL_BAD_PARAMETERS", e.user_message);
    case Errc::Perm: return make_no("IMAP_PERMISSION_DENIED", "Permission denied");
    default: return make_no("IMAP_IOERROR", "Unknown error");
  }
}

bool is_item_refusal(const Error& e) {
  switch (e.code) {
    case Errc::Temp:         // retried by the sender
    case Errc::NoSpace:
    case Errc::InUse:
    case Errc::Unavailable:  // this node takes no writes at all, not this item
    case Errc::Fenced:
    case Errc::NoQuota:      // Cyrus's own replica refuses this too; quota is the sender's to fix
      return false;
    default:
      break;
  }
  // Protocol flow the sender resolves by itself: it sends the full mailbox
  // after a checksum or changed answer, retries a moved mailbox, and a
  // missing mailbox or user is what an UNMAILBOX/EXPUNGE/UNUSER may find.
  const std::string code = no_reply_for(e).code;
  return code != "IMAP_SYNC_CHECKSUM" && code != "IMAP_SYNC_CHANGED" && code != "IMAP_MAILBOX_MOVED" &&
         code != "IMAP_MAILBOX_NONEXISTENT" && code != "IMAP_MAILBOX_LOCKED";
}

// Streams file literals into the staging directory, hashing on the way so
// that APPLY MESSAGE can drop a file whose bytes do not match its GUID.
class SyncServerSession::Sinks final : public FileSinkFactory {
 public:
  explicit Sinks(SyncServerSession& s) : s_(s) {}
  Result<std::unique_ptr<FileSink>> open(const std::string& partition, const std::string& guid,
                                         uint64_t size) override;
  // path -> the GUID its bytes hashed to
  std::map<std::string, mail::MessageGuid> hashed;

 private:
  class Sink;
  SyncServerSession& s_;
};

class SyncServerSession::Sinks::Sink final : public FileSink {
 public:
  Sink(Sinks& owner, std::string path, int fd) : owner_(owner), path_(std::move(path)), fd_(fd) {}
  ~Sink() override {
    if (fd_ >= 0) ::close(fd_);
    if (!committed_) ::unlink(path_.c_str());
  }
  Status write(std::string_view bytes) override {
    hasher_.update(bytes);
    while (!bytes.empty()) {
      ssize_t n = ::write(fd_, bytes.data(), bytes.size());
      if (n < 0) {
        if (errno == EINTR) continue;
        return Error(Errc::Io, "Cannot write staging file", path_ + ": " + strerror(errno));
      }
      bytes.remove_prefix(static_cast<size_t>(n));
    }
    return {};
  }
  Result<std::string> commit() override {
    if (::close(fd_) != 0) {
      fd_ = -1;
      return Error(Errc::Io, "Cannot write staging file", path_);
    }
    fd_ = -1;
    committed_ = true;
    owner_.hashed[path_] = hasher_.finish();
    return path_;
  }

 private:
  Sinks& owner_;
  std::string path_;
  int fd_;
  bool committed_ = false;
  mail::GuidHasher hasher_;
};

Result<std::unique_ptr<FileSink>> SyncServerSession::Sinks::open(const std::string& /*partition*/,
                                                                const std::string& /*guid*/,
                                                                uint64_t /*size*/) {
  std::error_code ec;
  fs::create_directories(s_.opts_.staging_dir, ec);
  std::string path = (s_.opts_.staging_dir / ("u" + std::to_string(++s_.next_stage_))).string();
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Error(Errc::Io, "Cannot create staging file", path + ": " + strerror(errno));
  return std::unique_ptr<FileSink>(new Sink(*this, path, fd));
}

SyncServerSession::SyncServerSession(store::Store& store, SyncServerOptions opts)
    : store_(store), opts_(std::move(opts)), sinks_(std::make_unique<Sinks>(*this)) {}

SyncServerSession::~SyncServerSession() {
  clear_staging();
  std::error_code ec;
  fs::remove_all(opts_.staging_dir, ec);
}

FileSinkFactory* SyncServerSession::file_sinks() { return sinks_.get(); }

DlistLimits SyncServerSession::framer_limits() const {
  DlistLimits l;
  l.max_memory_file = kMemoryFileMax;
  return l;
}

void SyncServerSession::clear_staging() {
  std::error_code ec;
  for (auto& [key, path] : staged_) fs::remove(path, ec);
  for (auto& [path, guid] : sinks_->hashed) fs::remove(path, ec);
  staged_.clear();
  sinks_->hashed.clear();
  staged_memory_.clear();
  staged_memory_bytes_ = 0;
}

void SyncServerSession::forget_staged(const StageKey& key) {
  if (auto it = staged_.find(key); it != staged_.end()) {
    std::error_code ec;
    fs::remove(it->second, ec);
    staged_.erase(it);
  }
  if (auto it = staged_memory_.find(key); it != staged_memory_.end()) {
    staged_memory_bytes_ -= it->second.size();
    staged_memory_.erase(it);
  }
}

std::optional<store::MessageSource> SyncServerSession::staged_source(const std::string& partition,
                                                                     const std::string& hex) const {
  // A file staged for another partition serves as well (it is copied).
  auto find = [&](const auto& staged) {
    auto it = staged.find({partition, hex});
    if (it == staged.end())
      for (auto i = staged.begin(); i != staged.end(); ++i)
        if (i->first.second == hex) return i;
    return it;
  };
  if (auto m = find(staged_memory_); m != staged_memory_.end()) return store::MessageSource::memory(m->second);
  if (auto f = find(staged_); f != staged_.end()) return store::MessageSource::file(f->second);
  return std::nullopt;
}

bool SyncServerSession::runs_inline(const SyncCommand& cmd) const {
  if (cmd.verb == "NOOP") return true;
  if (cmd.verb != "APPLY" || cmd.name != "MESSAGE" || cmd.arg.kind() != ValueKind::List) return false;
  // In-memory uploads are hashed and kept, or else written to staging
  // files: the latter is disk work for the pool.
  uint64_t in_memory = 0;
  for (const Value& item : cmd.arg.items())
    if (item.kind() == ValueKind::File && item.file_literal().in_memory) in_memory += item.file_literal().body.size();
  return in_memory <= kInlineHashMax && staged_memory_bytes_ + in_memory <= kStagedMemoryMax;
}

std::vector<SyncReply> SyncServerSession::execute(const SyncCommand& cmd) {
  Replies out;
  if (cmd.verb == "NOOP") {
    out.push_back(make_ok("Noop completed"));
    return out;
  }
  if (cmd.verb == "RESTART") {
    clear_staging();
    out.push_back(make_ok("Restarting"));
    return out;
  }
  if (cmd.verb == "EXIT") {
    exit_requested_ = true;
    out.push_back(make_ok("Finished"));
    return out;
  }
  Status st;
  const Value& a = cmd.arg;
  const std::string& n = cmd.name;
  if (cmd.verb == "GET") {
    if (n == "USER") st = get_user(a, out);
    else if (n == "MAILBOXES") st = get_mailboxes(a, out);
    else if (n == "FULLMAILBOX") st = get_fullmailbox(a, out);
    else if (n == "META") st = get_meta(a, out);
    else if (n == "QUOTA") st = get_quota(a, out);
    else if (n == "FETCH") st = get_fetch(a, out);
    else if (n == "ANNOTATION") st = get_annotation(a, out);
    else if (n == "FETCH_SIEVE") st = get_fetch_sieve(a, out);
    else if (n == kListUsersCommand) st = get_users(out);
    else st = coded(Errc::Invalid, "IMAP_PROTOCOL_ERROR Protocol error", "unknown GET " + n);
  } else if (cmd.verb == "APPLY" && n != "CAPABILITIES" && opts_.refuse_apply_on_primary &&
             store_.node_state().role == store::Role::Primary) {
    st = coded(Errc::Unavailable, "IMAP_MAILBOX_LOCKED This node is the primary of its pair; it takes no replicated writes",
               "APPLY " + n + " refused: node is primary");
  } else if (cmd.verb == "APPLY" && n != "CAPABILITIES" && !reconcile_session_ && store_.node_state().rejoining) {
    // A former primary waiting for its rejoin's reconcile: the new
    // primary's ordinary replication would overwrite what only this node
    // has (NodeState::rejoining). Only the reconcile's own session writes.
    st = coded(Errc::Unavailable, "IMAP_MAILBOX_LOCKED This node is rejoining its pair; it takes replicated writes only from the reconcile",
               "APPLY " + n + " refused: rejoin pending");
  } else if (cmd.verb == "APPLY") {
    if (n == "RESERVE") st = apply_reserve(a, out);
    else if (n == "MESSAGE") st = apply_message(a);
    else if (n == "MAILBOX" || n == "LOCAL_MAILBOX") st = apply_mailbox(a);
    else if (n == "UNMAILBOX" || n == "LOCAL_UNMAILBOX") st = apply_unmailbox(a);
    else if (n == "RENAME" || n == "LOCAL_RENAME") st = apply_rename(a);
    else if (n == "QUOTA") st = apply_quota(a);
    else if (n == "UNQUOTA") st = apply_unquota(a);
    else if (n == "SEEN") st = apply_seen(a);
    else if (n == "SUB") st = apply_sub(a, true);
    else if (n == "UNSUB") st = apply_sub(a, false);
    else if (n == "SIEVE") st = apply_sieve(a);
    else if (n == "UNSIEVE") st = apply_unsieve(a);
    else if (n == "ACTIVATE_SIEVE") st = apply_activate_sieve(a, true);
    else if (n == "UNACTIVATE_SIEVE") st = apply_activate_sieve(a, false);
    else if (n == "ANNOTATION") st = apply_annotation(a, false);
    else if (n == "UNANNOTATION") st = apply_annotation(a, true);
    else if (n == "EXPUNGE") st = apply_expunge(a);
    else if (n == "UNUSER" || n == "LOCAL_UNUSER") st = apply_unuser(a);
    else if (n == "FORCE") force_ = true;
    else if (n == "CAPABILITIES") st = apply_capabilities(a, out);
    else st = coded(Errc::Invalid, "IMAP_PROTOCOL_ERROR Protocol error", "unknown APPLY " + n);
  } else if (cmd.verb == "RESTORE") {
    st = coded(Errc::Invalid, "IMAP_PROTOCOL_ERROR Protocol error", "RESTORE is not supported");
  } else {
    out.push_back(SyncReply{ReplyKind::Bad, "", {}, "", "IMAP_PROTOCOL_ERROR Unrecognized command"});
    return out;
  }
  if (!st.ok()) {
    const Error& e = st.error();
    if (cmd.verb == "APPLY" && is_item_refusal(e)) {
      // One item this node cannot store: refused alone, counted, and logged
      // at warning level so that it is seen; the sender goes on with the rest.
      std::string item = "APPLY " + n;
      const Value* name = a.kind() == ValueKind::KvList ? a.child("MBOXNAME") : nullptr;
      if (!name && a.kind() == ValueKind::KvList) name = a.child("OLDMBOXNAME");
      if (!name && a.kind() == ValueKind::KvList) name = a.child("ROOT");
      if (!name && a.kind() == ValueKind::KvList) name = a.child("USERID");
      if (name && name->as_str().ok()) item += " " + std::string(*name->as_str());
      else if (a.as_str().ok()) item += " " + std::string(*a.as_str());
      uint64_t total = opts_.refusals ? opts_.refusals->record(item, e.describe()) : 0;
      CYR_LOG(Warning, opts_.sid, "sync_server: refused %s: %s (refused items: %llu)", item.c_str(),
              e.describe().c_str(), static_cast<unsigned long long>(total));
    } else {
      CYR_LOG(Info, opts_.sid, "sync_server: %s %s failed: %s", cmd.verb.c_str(), n.c_str(), e.describe().c_str());
    }
    out.clear();  // a failed GET sends no partial items
    out.push_back(no_reply_for(e));
  } else {
    out.push_back(make_ok("success"));
  }
  return out;
}

// ---- GET --------------------------------------------------------------------

Status SyncServerSession::mailbox_item(const std::string& name, bool with_records, Replies& out) {
  auto info = store_.lookup(name);
  if (!info.ok()) return info.take_error();
  auto recs = store_.records(name, true);
  if (!recs.ok()) return recs.take_error();
  MailboxState m = mailbox_state_of(*info, mailbox_crcs(*recs));
  auto annots = store_.annotations(name);
  if (annots.ok()) m.annotations = std::move(*annots);
  if (with_records) m.records = std::move(*recs);
  out.push_back(make_item("MAILBOX", mailbox_to_dlist(m, with_records)));
  return {};
}

static Result<std::vector<std::string>> user_mailboxes(store::Store& s, const std::string& userid) {
  std::string inbox = user_inbox_name(userid);
  std::vector<std::string> names;
  if (s.lookup(inbox).ok()) names.push_back(inbox);
  auto below = s.list(inbox + ".*");
  if (!below.ok()) return below.take_error();
  for (auto& b : *below) names.push_back(b);
  return names;
}

// The user's Sieve scripts as Cyrus lists its sieve directory (reference
// 3.7, 3.8): NAME.script with the GUID of its content, and for the active
// one also NAME.bc with ISACTIVE 1.
static void sieve_items(store::Store& s, const std::string& userid, std::vector<SyncReply>& out) {
  auto scripts = s.sieve_scripts(userid);
  if (!scripts.ok()) return;
  for (auto& sc : *scripts) {
    Value v = Value::kvlist();
    v.add_str("FILENAME", sc.name + ".script");
    v.add_date("LAST_UPDATE", sc.last_update);
    v.add_guid("GUID", mail::MessageGuid::of(sc.content).to_hex());
    v.add_num("ISACTIVE", 0);
    out.push_back(make_item("SIEVE", std::move(v)));
    if (sc.active) {
      Value b = Value::kvlist();
      b.add_str("FILENAME", sc.name + ".bc");
      b.add_date("LAST_UPDATE", 0);
      b.add_guid("GUID", mail::MessageGuid().to_hex());
      b.add_num("ISACTIVE", 1);
      out.push_back(make_item("SIEVE", std::move(b)));
    }
  }
}

Status SyncServerSession::seen_and_subs(const std::string& userid, Replies& out) {
  auto names = user_mailboxes(store_, userid);
  if (!names.ok()) return names.take_error();
  // And the mailboxes of others it has seen state on, as Cyrus's per-user
  // seen database holds them: without these a verifier (or a Cyrus client)
  // takes the reader's shared-folder seen state as missing here.
  if (auto foreign = store_.foreign_seen_mailboxes(userid); foreign.ok()) {
    std::set<std::string> have(names->begin(), names->end());
    for (auto& n : *foreign)
      if (have.insert(n).second) names->push_back(n);
  }
  for (auto& name : *names) {
    auto seen = store_.get_seen(userid, name);
    if (!seen.ok() || (seen->lastuid == 0 && seen->seenuids.empty() && seen->lastread == 0)) continue;
    auto info = store_.lookup(name);
    if (!info.ok()) continue;
    Value v = Value::kvlist();
    v.add_str("UNIQUEID", info->uniqueid);
    v.add_date("LASTREAD", seen->lastread);
    v.add_num("LASTUID", seen->lastuid);
    v.add_date("LASTCHANGE", seen->lastchange);
    v.add_str("SEENUIDS", seen->seenuids);
    out.push_back(make_item("SEEN", std::move(v)));
  }
  auto subs = store_.subscriptions(userid);
  if (subs.ok() && !subs->empty()) {
    Value l = Value::list();
    for (auto& s : *subs) l.push(Value::str(s));
    out.push_back(make_item("LSUB", std::move(l)));
  }
  sieve_items(store_, userid, out);
  return {};
}

static Value quota_item(const store::QuotaInfo& q) {
  Value v = Value::kvlist();
  v.add_str("ROOT", q.root);
  v.add_num("LIMIT", q.storage_limit_kib ? *q.storage_limit_kib : kUnlimitedQuota);
  if (q.storage_limit_kib) v.add_num("STORAGE", *q.storage_limit_kib);
  if (q.message_limit) v.add_num("MESSAGE", *q.message_limit);
  return v;
}

Status SyncServerSession::get_user(const Value& arg, Replies& out) {
  auto userid = arg.as_str();
  if (!userid.ok()) return bad_parameters(userid.error());
  std::string uid(*userid);
  auto names = user_mailboxes(store_, uid);
  if (!names.ok()) return names.take_error();
  std::set<std::string> roots;
  for (auto& name : *names) {
    auto st = mailbox_item(name, false, out);
    if (!st.ok() && st.error().code != Errc::NotFound) return st;
    if (auto info = store_.lookup(name); info.ok() && !info->quotaroot.empty()) roots.insert(info->quotaroot);
  }
  for (auto& r : roots)
    if (auto q = store_.get_quota(r); q.ok()) out.push_back(make_item("QUOTA", quota_item(*q)));
  if (store_.lookup(user_inbox_name(uid)).ok()) return seen_and_subs(uid, out);
  return {};
}

Status SyncServerSession::get_mailboxes(const Value& arg, Replies& out) {
  auto names = string_list(arg, "MAILBOXES");
  if (!names.ok()) return bad_parameters(names.error());
  for (auto& name : *names) {
    auto st = mailbox_item(name, false, out);
    if (!st.ok() && st.error().code != Errc::NotFound && st.error().code != Errc::Invalid) return st;
  }
  return {};
}

Status SyncServerSession::get_fullmailbox(const Value& arg, Replies& out) {
  auto name = arg.as_str();
  if (!name.ok()) return bad_parameters(name.error());
  return mailbox_item(std::string(*name), true, out);
}

Status SyncServerSession::get_meta(const Value& arg, Replies& out) {
  auto userid = arg.as_str();
  if (!userid.ok()) return bad_parameters(userid.error());
  return seen_and_subs(std::string(*userid), out);
}

static std::optional<std::string> script_name(std::string_view filename, std::string_view suffix);

// One script's content (Cyrus's GET FETCH_SIEVE, answered with
// `* SIEVE %(USERID FILENAME LAST_UPDATE CONTENT)`). A failover rejoin uses
// it to copy back scripts only the old primary has.
Status SyncServerSession::get_fetch_sieve(const Value& arg, Replies& out) {
  auto user = arg.get_str("USERID");
  if (!user.ok()) return bad_parameters(user.error());
  auto file = arg.get_str("FILENAME");
  if (!file.ok()) return bad_parameters(file.error());
  auto name = script_name(*file, ".script");
  if (!name) return bad_parameters(Error(Errc::Invalid, "not a script file"));
  auto scripts = store_.sieve_scripts(std::string(*user));
  if (!scripts.ok()) return scripts.take_error();
  for (auto& sc : *scripts) {
    if (sc.name != *name) continue;
    Value v = Value::kvlist();
    v.add_str("USERID", std::string(*user));
    v.add_str("FILENAME", std::string(*file));
    v.add_date("LAST_UPDATE", sc.last_update);
    v.add_str("CONTENT", sc.content);
    out.push_back(make_item("SIEVE", std::move(v)));
    return {};
  }
  return coded(Errc::NotFound, "IMAP_MAILBOX_NONEXISTENT No such script", "no sieve script " + std::string(*file));
}

Status SyncServerSession::get_users(Replies& out) {
  auto names = store_.list("*");
  if (!names.ok()) return names.take_error();
  for (auto& n : *names) {
    std::string u = userid_of_inbox(n);
    if (!u.empty()) out.push_back(make_item("USER", Value::str(u)));
    else if (mailbox_owner(n).empty()) out.push_back(make_item("SHARED", Value::str(n)));
  }
  return {};
}

Status SyncServerSession::get_quota(const Value& arg, Replies& out) {
  auto root = arg.as_str();
  if (!root.ok()) return bad_parameters(root.error());
  auto q = store_.get_quota(std::string(*root));
  if (!q.ok()) return q.take_error();
  out.push_back(make_item("QUOTA", quota_item(*q)));
  return {};
}

Status SyncServerSession::get_fetch(const Value& arg, Replies& out) {
  auto name = arg.get_str("MBOXNAME");
  if (!name.ok()) return bad_parameters(name.error());
  auto uid = arg.get_num32("UID");
  if (!uid.ok()) return bad_parameters(uid.error());
  auto guid = arg.get_guid("GUID");
  if (!guid.ok()) return bad_parameters(guid.error());
  std::string mbox(*name);
  auto info = store_.lookup(mbox);
  if (!info.ok()) return info.take_error();
  if (arg.has("UNIQUEID")) {
    auto u = arg.get_str("UNIQUEID");
    if (u.ok() && *u != info->uniqueid) return coded(Errc::Invalid, "IMAP_MAILBOX_MOVED Mailbox exists with another name or uniqueid");
  }
  auto rec = store_.record(mbox, *uid);
  if (!rec.ok()) return rec.take_error();
  if (rec->guid.to_hex() != *guid) return coded(Errc::NotFound, "IMAP_MAILBOX_NONEXISTENT No Such Mailbox", "GUID differs");
  auto bytes = store_.read_message(mbox, *uid);
  if (!bytes.ok()) return bytes.take_error();
  if (mail::MessageGuid::of(*bytes) != rec->guid)
    return coded(Errc::Corrupted, "IMAP_IOERROR Message file does not match its GUID");
  FileLiteral f;
  f.partition = info->partition;
  f.guid = *guid;
  f.size = bytes->size();
  f.body = std::move(*bytes);
  out.push_back(make_item("MESSAGE", Value::file(std::move(f))));
  return {};
}

Status SyncServerSession::get_annotation(const Value& arg, Replies& out) {
  auto name = arg.as_str();
  if (!name.ok()) return bad_parameters(name.error());
  auto annots = store_.annotations(std::string(*name));
  if (!annots.ok()) return annots.take_error();
  for (auto& a : *annots) {
    Value v = Value::kvlist();
    v.add_str("MBOXNAME", a.mailbox);
    v.add_str("ENTRY", a.entry);
    v.add_str("USERID", a.userid);
    v.add_num("MODSEQ", a.modseq);
    v.add_str("VALUE", a.value);
    out.push_back(make_item("ANNOTATION", std::move(v)));
  }
  return {};
}

// ---- staging ----------------------------------------------------------------

Result<std::string> SyncServerSession::stage_file(const std::string& partition, const std::string& guid,
                                                  const fs::path& from, bool verify) {
  std::error_code ec;
  fs::create_directories(opts_.staging_dir, ec);
  fs::path to = opts_.staging_dir / ("r" + std::to_string(++next_stage_));
  fs::create_hard_link(from, to, ec);
  if (ec) {
    ec.clear();
    fs::copy_file(from, to, fs::copy_options::overwrite_existing, ec);
    if (ec) return Error(Errc::Io, "Cannot stage message file", from.string() + ": " + ec.message());
  }
  if (verify) {
    // Hash the staged inode itself: what we verified is what gets appended.
    auto g = hash_file(to, nullptr);
    if (!g.ok() || g->to_hex() != guid) {
      fs::remove(to, ec);
      return Error(Errc::Corrupted, "Message file does not match its GUID", from.string());
    }
  }
  forget_staged({partition, guid});
  staged_[{partition, guid}] = to.string();
  return to.string();
}

// ---- APPLY ------------------------------------------------------------------

Status SyncServerSession::apply_reserve(const Value& arg, Replies& out) {
  auto part = arg.get_str("PARTITION");
  if (!part.ok()) return bad_parameters(part.error());
  auto mboxes = arg.get_list("MBOXNAME");
  if (!mboxes.ok()) return bad_parameters(mboxes.error());
  auto guids = arg.get_list("GUID");
  if (!guids.ok()) return bad_parameters(guids.error());
  auto names = string_list(**mboxes, "MBOXNAME");
  if (!names.ok()) return bad_parameters(names.error());
  std::string partition(*part);
  Value missing = Value::list();
  if ((*guids)->items().size() > kMaxListArgs) return bad_parameters(Error(Errc::Limit, "bad parameter GUID: too many"));
  for (const Value& gv : (*guids)->items()) {
    auto hex = gv.as_guid();
    if (!hex.ok()) return bad_parameters(hex.error());
    if (staged_.count({partition, *hex}) || staged_memory_.count({partition, *hex})) continue;
    auto guid = mail::MessageGuid::from_hex(*hex);
    if (!guid.ok()) return bad_parameters(guid.error());
    auto path = store_.find_message_file(partition, *guid, *names);
    if (path.ok() && stage_file(partition, *hex, *path, true).ok()) continue;
    missing.push(Value::guid(*hex));
  }
  if (!missing.items().empty()) out.push_back(make_item("MISSING", std::move(missing)));
  return {};
}

Status SyncServerSession::apply_message(const Value& arg) {
  if (arg.kind() != ValueKind::List) return bad_parameters(Error(Errc::Invalid, "bad parameter MESSAGE: expected a list"));
  for (const Value& item : arg.items()) {
    if (item.kind() != ValueKind::File) continue;  // NIL: the client could not send it
    const FileLiteral& f = item.file_literal();
    const StageKey key{f.partition, f.guid};
    std::string path;  // a streamed upload's staging file
    mail::MessageGuid actual;
    if (f.in_memory) {
      actual = mail::MessageGuid::of(f.body);
    } else {
      path = f.stored_as;
      auto it = sinks_->hashed.find(path);
      if (it == sinks_->hashed.end()) return Error(Errc::Internal, "Staged file without a hash", path);
      actual = it->second;
      sinks_->hashed.erase(it);
    }
    if (actual.to_hex() != f.guid) {
      // Refused now; the APPLY MAILBOX that needs it then fails (no file).
      CYR_LOG(Info, opts_.sid, "sync_server: uploaded file for %s has GUID %s; refused", f.guid.c_str(),
              actual.to_hex().c_str());
      std::error_code ec;
      if (!path.empty()) fs::remove(path, ec);
      continue;
    }
    if (f.in_memory && staged_memory_bytes_ + f.body.size() <= kStagedMemoryMax) {
      forget_staged(key);
      staged_memory_[key] = f.body;
      staged_memory_bytes_ += f.body.size();
      continue;
    }
    if (f.in_memory) {
      // Past the session's in-memory bound: to a staging file.
      std::error_code ec;
      fs::create_directories(opts_.staging_dir, ec);
      path = (opts_.staging_dir / ("m" + std::to_string(++next_stage_))).string();
      int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
      if (fd < 0) return Error(Errc::Io, "Cannot create staging file", path);
      size_t off = 0;
      while (off < f.body.size()) {
        ssize_t n = ::write(fd, f.body.data() + off, f.body.size() - off);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
          ::close(fd);
          return Error(Errc::Io, "Cannot write staging file", path);
        }
        off += static_cast<size_t>(n);
      }
      ::close(fd);
    }
    if (auto old = staged_.find(key); old == staged_.end() || old->second != path) forget_staged(key);
    staged_[key] = path;
  }
  return {};
}

Status SyncServerSession::apply_mailbox(const Value& arg) {
  auto parsed = mailbox_state_from_dlist(arg, true);
  if (!parsed.ok()) return bad_parameters(parsed.error());
  MailboxState& m = *parsed;
  if (m.intermediate() || m.deleted()) return {};  // no placeholders in our mailbox list
  CYR_TRY(store::validate_mailbox_name(m.name));
  // An ACL we cannot evaluate (Cyrus's user rights '0'-'9', a malformed
  // entry) refuses the mailbox rather than storing rights nobody can check.
  if (auto acl = mail::Acl::parse(m.acl); !acl.ok())
    return coded(acl.error().code, "IMAP_PROTOCOL_BAD_PARAMETERS " + acl.error().user_message,
                 m.name + ": " + acl.error().detail);

  // A known round (SINCE_MODSEQ) reads the mailbox and its annotations in
  // one go (round_state); its changes since that modseq are normally none.
  Result<store::MailboxInfo> local = Error(Errc::NotFound, "not read");
  std::optional<std::vector<store::Annotation>> local_annotations;
  if (m.since_modseq) {
    auto rs = store_.round_state(m.name, *m.since_modseq);
    if (rs.ok()) {
      local = std::move(rs->info);
      local_annotations = std::move(rs->annotations);
    } else {
      local = rs.take_error();
    }
  } else {
    local = store_.lookup(m.name);
  }
  bool created = false;
  if (local.ok() && local->uniqueid != m.uniqueid) {
    if (force_ || local->last_uid == 0) {
      CYR_TRY(store_.delete_mailbox(m.name, store::WriteMode::Replication));
      local = Error(Errc::NotFound, "recreate");
    } else {
      return coded(Errc::Exists, "IMAP_MAILBOX_MOVED Mailbox exists with another name or uniqueid",
                   m.name + " has uniqueid " + local->uniqueid);
    }
  }
  if (!local.ok()) {
    if (local.error().code != Errc::NotFound) return local.take_error();
    if (store_.lookup_by_uniqueid(m.uniqueid).ok())
      return coded(Errc::Exists, "IMAP_MAILBOX_MOVED Mailbox exists with another name or uniqueid", m.uniqueid);
    store::CreateMailboxRequest req;
    req.name = m.name;
    req.partition = m.partition;
    req.uniqueid = m.uniqueid;
    req.uidvalidity = m.uidvalidity;
    req.acl = m.acl;
    auto c = store_.create_mailbox(req, store::WriteMode::Replication);
    if (!c.ok()) return c.take_error();
    local = std::move(c);
    created = true;
  }
  store::MailboxInfo info = *local;
  // A known round (SINCE_MODSEQ) carries only the records changed since the
  // state it names, and the dry run below looks up only the UIDs it is sent,
  // so only those are read; SYNC_CRC comes from the pair the store keeps.
  // A round then costs the same on a mailbox of 20,000 messages as on one of
  // 20 (reading every record for the CRC was most of a round's work).
  const bool known_round = m.since_modseq && !created;
  Result<std::vector<store::MessageRecord>> recs = std::vector<store::MessageRecord>{};
  if (known_round) {
    // Only UIDs this replica may hold: a round of new messages reads none.
    store::UidSet uids;
    for (const store::MessageRecord& in : m.records)
      if (in.uid <= info.last_uid) uids.add(in.uid);
    if (!uids.empty()) recs = store_.records_in(m.name, uids, true);
  } else {
    recs = store_.records(m.name, true);
  }
  if (!recs.ok()) return recs.take_error();

  if (known_round) {
    if (*m.since_modseq != info.highestmodseq ||
        !crcs_agree(m.name, m.since_crcs, SyncCrcs{info.sync_crc, info.sync_crc_annot}))
      return coded(Errc::Invalid, "IMAP_SYNC_CHANGED Changed since last sync");
  }
  if (!force_ && !created) {
    if (m.highestmodseq < info.highestmodseq) return checksum("replica HIGHESTMODSEQ is higher");
    if (m.uidvalidity < info.uidvalidity) return checksum("replica UIDVALIDITY is higher");
    if (m.last_uid < info.last_uid) return checksum("replica LAST_UID is higher");
  }

  // Dry run: decide everything before writing anything.
  std::map<store::Uid, const store::MessageRecord*> have;
  for (auto& r : *recs) have[r.uid] = &r;
  std::vector<store::ApplyRecord> to_apply;
  for (const store::MessageRecord& in : m.records) {
    auto it = have.find(in.uid);
    if (it != have.end()) {
      const store::MessageRecord& mine = *it->second;
      if (mine.expunged() && in.expunged()) continue;
      if (mine.guid != in.guid) return checksum("GUID differs for UID " + std::to_string(in.uid));
      if (!force_ && mine.modseq > in.modseq) return checksum("replica MODSEQ higher for UID " + std::to_string(in.uid));
      if (!in.expunged() && mine.expunged()) return checksum("UID " + std::to_string(in.uid) + " expunged on the replica");
      to_apply.push_back(store::ApplyRecord{in, std::nullopt});
      continue;
    }
    if (in.uid <= info.last_uid && !created) {
      if (!in.expunged()) return checksum("UID " + std::to_string(in.uid) + " missing on the replica");
      continue;
    }
    store::ApplyRecord ar{in, std::nullopt};
    std::string hex = in.guid.to_hex();
    if (auto src = staged_source(info.partition, hex)) {
      ar.source = std::move(*src);
    } else if (!in.expunged()) {
      return coded(Errc::Io, "IMAP_IOERROR Unknown error", "no file for GUID " + hex);
    }
    to_apply.push_back(std::move(ar));
  }

  // Mailbox-level data: the master wins.
  if (info.acl != m.acl) CYR_TRY(store_.set_acl(m.name, m.acl, store::WriteMode::Replication));
  {
    Result<std::vector<store::Annotation>> mine =
        local_annotations && !created ? Result<std::vector<store::Annotation>>(std::move(*local_annotations))
                                      : store_.annotations(m.name);
    if (mine.ok()) {
      for (auto& a : *mine) {
        bool kept = std::any_of(m.annotations.begin(), m.annotations.end(), [&](const store::Annotation& x) {
          return x.entry == a.entry && x.userid == a.userid;
        });
        if (!kept) {
          store::Annotation del = a;
          del.mailbox = m.name;
          del.value.clear();
          del.modseq = m.highestmodseq;
          CYR_TRY(store_.set_annotation(del, store::WriteMode::Replication));
        }
      }
      for (auto a : m.annotations) {
        bool same = std::any_of(mine->begin(), mine->end(), [&](const store::Annotation& x) {
          return x.entry == a.entry && x.userid == a.userid && x.value == a.value;
        });
        if (same) continue;
        a.mailbox = m.name;
        if (a.modseq == 0) a.modseq = m.highestmodseq;
        CYR_TRY(store_.set_annotation(a, store::WriteMode::Replication));
      }
    }
  }

  store::MailboxCounters c = counters_of(m);
  if (m.uidvalidity > info.uidvalidity) c.uidvalidity = m.uidvalidity;
  std::optional<store::MailboxInfo> applied;  // the mailbox as the last chunk committed it
  for (size_t i = 0; i < to_apply.size(); i += store::kMaxBatchMessages) {
    size_t end = std::min(to_apply.size(), i + store::kMaxBatchMessages);
    std::vector<store::ApplyRecord> chunk(std::make_move_iterator(to_apply.begin() + static_cast<long>(i)),
                                          std::make_move_iterator(to_apply.begin() + static_cast<long>(end)));
    const bool last = end == to_apply.size();
    if (last) applied.emplace();
    Status st = store_.apply_records(m.name, chunk, store::WriteMode::Replication, last ? &c : nullptr,
                                     last ? &*applied : nullptr);
    if (!st.ok()) {
      if (st.error().code == Errc::Invalid && st.error().user_message == store::kGuidMismatchMessage)
        return coded(Errc::Corrupted, "IMAP_IOERROR Message file does not match its GUID", st.error().detail);
      return st;
    }
  }

  // The mailbox's counters go with the last chunk of records: one commit
  // (one flush on the round's critical path) when the round fits in one.
  if (to_apply.empty()) CYR_TRY(store_.set_counters(m.name, c, store::WriteMode::Replication));

  // The store kept the pair through every record it wrote above.
  if (!applied) {
    auto after = store_.lookup(m.name);
    if (!after.ok()) return after.take_error();
    applied = std::move(*after);
  }
  SyncCrcs now{applied->sync_crc, applied->sync_crc_annot};
  if (!crcs_agree(m.name, m.crcs, now)) {
    char buf[160];
    snprintf(buf, sizeof buf, "SYNC_CRC master %u/%u replica %u/%u", m.crcs.basic, m.crcs.annot, now.basic, now.annot);
    return checksum(buf);
  }
  return {};
}

bool SyncServerSession::crcs_agree(const std::string& name, const SyncCrcs& theirs, const SyncCrcs& stored) {
  if (sync_crcs_match(theirs, stored)) return true;
  // Before refusing, the pair is computed from the records: a stored pair
  // that is wrong (damage, a bug) would otherwise refuse this mailbox on
  // every path, the full one too, until cyr_reconstruct recomputed it.
  auto recs = store_.records(name, true);
  if (!recs.ok()) return false;
  SyncCrcs computed = mailbox_crcs(*recs);
  if (!sync_crcs_match(theirs, computed)) return false;
  CYR_LOG(Warning, opts_.sid, "sync_server: %s: stored SYNC_CRC %u/%u differs from its records' %u/%u;"
          " run cyr_reconstruct on it", name.c_str(), stored.basic, stored.annot, computed.basic, computed.annot);
  return true;
}

Status SyncServerSession::apply_unmailbox(const Value& arg) {
  auto name = arg.as_str();
  if (!name.ok()) return bad_parameters(name.error());
  return store_.delete_mailbox(std::string(*name), store::WriteMode::Replication);
}

Status SyncServerSession::apply_rename(const Value& arg) {
  auto from = arg.get_str("OLDMBOXNAME");
  if (!from.ok()) return bad_parameters(from.error());
  auto to = arg.get_str("NEWMBOXNAME");
  if (!to.ok()) return bad_parameters(to.error());
  CYR_TRY(store::validate_mailbox_name(*to));
  if (*from == *to) return {};  // a partition move: not supported by the store, names already agree
  Status st = store_.rename_mailbox(std::string(*from), std::string(*to), store::WriteMode::Replication);
  if (!st.ok() && st.error().code == Errc::Exists)
    return coded(Errc::Exists, "IMAP_MAILBOX_EXISTS Mailbox already exists", std::string(*to));
  return st;
}

Status SyncServerSession::apply_quota(const Value& arg) {
  auto root = arg.get_str("ROOT");
  if (!root.ok()) return bad_parameters(root.error());
  std::optional<uint64_t> storage, messages;
  if (arg.has("STORAGE")) {
    auto s = arg.get_num("STORAGE");
    if (!s.ok()) return bad_parameters(s.error());
    storage = *s;
  } else if (arg.has("LIMIT")) {
    auto s = arg.get_num("LIMIT");
    if (!s.ok()) return bad_parameters(s.error());
    if (*s != kUnlimitedQuota && *s != UINT64_MAX) storage = *s;
  }
  if (arg.has("MESSAGE")) {
    auto s = arg.get_num("MESSAGE");
    if (!s.ok()) return bad_parameters(s.error());
    messages = *s;
  }
  return store_.set_quota(std::string(*root), storage, messages, store::WriteMode::Replication);
}

Status SyncServerSession::apply_unquota(const Value& arg) {
  auto root = arg.as_str();
  if (!root.ok()) return bad_parameters(root.error());
  Status st = store_.remove_quota(std::string(*root), store::WriteMode::Replication);
  if (!st.ok() && st.error().code == Errc::NotFound) return {};
  return st;
}

Status SyncServerSession::apply_seen(const Value& arg) {
  auto user = arg.get_str("USERID");
  if (!user.ok()) return bad_parameters(user.error());
  auto uniqueid = arg.get_str("UNIQUEID");
  if (!uniqueid.ok()) return bad_parameters(uniqueid.error());
  store::SeenState s;
  auto lastread = arg.get_date("LASTREAD");
  auto lastuid = arg.get_num32("LASTUID");
  auto lastchange = arg.get_date("LASTCHANGE");
  auto seenuids = arg.get_str("SEENUIDS");
  if (!lastread.ok()) return bad_parameters(lastread.error());
  if (!lastuid.ok()) return bad_parameters(lastuid.error());
  if (!lastchange.ok()) return bad_parameters(lastchange.error());
  if (!seenuids.ok()) return bad_parameters(seenuids.error());
  s.lastread = *lastread;
  s.lastuid = *lastuid;
  s.lastchange = *lastchange;
  s.seenuids = std::string(*seenuids);
  auto info = store_.lookup_by_uniqueid(std::string(*uniqueid));
  if (!info.ok()) return info.take_error();
  return store_.set_seen(std::string(*user), info->name, s, store::WriteMode::Replication);
}

Status SyncServerSession::apply_sub(const Value& arg, bool on) {
  auto user = arg.get_str("USERID");
  if (!user.ok()) return bad_parameters(user.error());
  auto name = arg.get_str("MBOXNAME");
  if (!name.ok()) return bad_parameters(name.error());
  return store_.subscribe(std::string(*user), std::string(*name), on, store::WriteMode::Replication);
}

// "NAME.script" -> "NAME"; nullopt for any other file (Cyrus ignores those).
static std::optional<std::string> script_name(std::string_view filename, std::string_view suffix) {
  if (filename.size() <= suffix.size() || !filename.ends_with(suffix)) return std::nullopt;
  return std::string(filename.substr(0, filename.size() - suffix.size()));
}

Status SyncServerSession::apply_sieve(const Value& arg) {
  auto user = arg.get_str("USERID");
  if (!user.ok()) return bad_parameters(user.error());
  auto file = arg.get_str("FILENAME");
  if (!file.ok()) return bad_parameters(file.error());
  auto content = arg.get_str("CONTENT");
  if (!content.ok()) return bad_parameters(content.error());
  int64_t last_update = 0;
  if (arg.has("LAST_UPDATE")) {
    auto d = arg.get_date("LAST_UPDATE");
    if (!d.ok()) return bad_parameters(d.error());
    last_update = *d;
  }
  auto name = script_name(*file, ".script");
  if (!name) return {};  // bytecode and other files: Cyrus answers OK and ignores them
  return store_.put_sieve_script(std::string(*user), *name, std::string(*content), store::WriteMode::Replication,
                                 last_update);
}

Status SyncServerSession::apply_unsieve(const Value& arg) {
  auto user = arg.get_str("USERID");
  if (!user.ok()) return bad_parameters(user.error());
  auto file = arg.get_str("FILENAME");
  if (!file.ok()) return bad_parameters(file.error());
  auto name = script_name(*file, ".script");
  if (!name) return {};
  Status st = store_.delete_sieve_script(std::string(*user), *name, store::WriteMode::Replication);
  if (!st.ok() && st.error().code == Errc::NotFound) return {};
  return st;
}

Status SyncServerSession::apply_activate_sieve(const Value& arg, bool on) {
  auto user = arg.get_str("USERID");
  if (!user.ok()) return bad_parameters(user.error());
  std::string name;
  if (on) {
    auto file = arg.get_str("FILENAME");
    if (!file.ok()) return bad_parameters(file.error());
    auto n = script_name(*file, ".bc");
    if (!n) n = script_name(*file, ".script");
    if (!n) return bad_parameters(Error(Errc::Invalid, "not a script file"));
    name = *n;
  }
  return store_.activate_sieve_script(std::string(*user), name, store::WriteMode::Replication);
}

Status SyncServerSession::apply_annotation(const Value& arg, bool remove) {
  store::Annotation a;
  auto name = arg.get_str("MBOXNAME");
  if (!name.ok()) return bad_parameters(name.error());
  auto entry = arg.get_str("ENTRY");
  if (!entry.ok()) return bad_parameters(entry.error());
  a.mailbox = std::string(*name);
  a.entry = std::string(*entry);
  if (const Value* u = arg.child("USERID"); u && !u->is_nil()) {
    auto us = u->as_str();
    if (!us.ok()) return bad_parameters(us.error());
    a.userid = std::string(*us);
  }
  if (!remove) {
    auto value = arg.get_str("VALUE");
    if (!value.ok()) return bad_parameters(value.error());
    a.value = std::string(*value);
  }
  if (arg.has("MODSEQ")) {
    auto ms = arg.get_num("MODSEQ");
    if (ms.ok()) a.modseq = *ms;
  }
  if (a.modseq == 0 && !a.mailbox.empty()) {
    // Without a modseq the store would allocate one and put the replica ahead.
    auto info = store_.lookup(a.mailbox);
    if (!info.ok()) return info.take_error();
    a.modseq = std::max<store::ModSeq>(info->highestmodseq, 1);
  }
  return store_.set_annotation(a, store::WriteMode::Replication);
}

Status SyncServerSession::apply_expunge(const Value& arg) {
  auto name = arg.get_str("MBOXNAME");
  if (!name.ok()) return bad_parameters(name.error());
  auto uniqueid = arg.get_str("UNIQUEID");
  if (!uniqueid.ok()) return bad_parameters(uniqueid.error());
  auto uids = arg.get_list("UID");
  if (!uids.ok()) return bad_parameters(uids.error());
  std::string mbox(*name);
  auto info = store_.lookup(mbox);
  if (!info.ok()) return info.take_error();
  if (info->uniqueid != *uniqueid)
    return coded(Errc::Exists, "IMAP_MAILBOX_MOVED Mailbox exists with another name or uniqueid");
  std::vector<store::ApplyRecord> recs;
  for (const Value& u : (*uids)->items()) {
    auto n = u.as_num();
    if (!n.ok() || *n == 0 || *n > UINT32_MAX) return bad_parameters(Error(Errc::Invalid, "bad parameter UID"));
    auto r = store_.record(mbox, static_cast<store::Uid>(*n));
    if (!r.ok() || r->expunged()) continue;
    store::MessageRecord x = *r;
    x.flags.system |= store::kFlagExpunged;  // silently: the modseq stays
    recs.push_back(store::ApplyRecord{x, std::nullopt});
  }
  if (recs.empty()) return {};
  return store_.apply_records(mbox, recs, store::WriteMode::Replication);
}

Status SyncServerSession::apply_unuser(const Value& arg) {
  auto user = arg.as_str();
  if (!user.ok()) return bad_parameters(user.error());
  std::string userid(*user);
  if (userid.empty()) return {};
  if (auto subs = store_.subscriptions(userid); subs.ok())
    for (auto& s : *subs) (void)store_.subscribe(userid, s, false, store::WriteMode::Replication);
  if (auto scripts = store_.sieve_scripts(userid); scripts.ok())
    for (auto& sc : *scripts) (void)store_.delete_sieve_script(userid, sc.name, store::WriteMode::Replication);
  Status st = store_.delete_mailbox(user_inbox_name(userid), store::WriteMode::Replication);
  if (!st.ok() && st.error().code == Errc::NotFound) return {};
  return st;
}

Status SyncServerSession::apply_capabilities(const Value& arg, Replies& out) {
  // The one optional capability we know is our own X-RECONCILE: the session
  // of a failover rejoin's reconcile, which alone may write while this node
  // is rejoining. Cyrus's SIEVE-MAILBOX is not offered, so not enabled. The
  // ENABLED set is echoed even when empty, as a 3.6 client requires.
  Value enabled = Value::list();
  for (const auto& item : arg.items()) {
    auto name = item.as_str();
    if (name.ok() && *name == kReconcileCapability) {
      reconcile_session_ = true;
      enabled.push(Value::str(std::string(kReconcileCapability)));
    }
  }
  out.push_back(make_item("ENABLED", std::move(enabled)));
  return {};
}

}  // namespace cyr::sync
