// Store: the mailbox store of one node (mailbox list, message index, message
// files, quota, ACL, seen state, subscriptions, annotations, replication log).
//
// Layout and transaction rules are in docs/store.md. In short: the mailbox
// list lives in {configdirectory}/mailboxes.db; everything else of one owner
// ("shard": a user and all their folders, or one top-level shared hierarchy)
// lives in one SQLite database per shard, so writers to different shards never
// wait for each other; message bytes are immutable files "UID." in a directory
// per mailbox on its partition.
//
// Ownership: Store::open() returns a unique_ptr; the caller owns it and must
// keep it alive while any call is in progress. Thread-safety: every method is
// synchronous (blocking) and may be called from any number of threads at
// once. Concurrent writers to one shard are grouped (group commit); readers
// read a consistent snapshot without waiting for writers.
//
// Errors: Errc::NotFound (no such mailbox/message), Exists, Invalid (bad name,
// bad argument), Limit (a bound was exceeded), NoQuota (would exceed quota;
// nothing changed), Unavailable (this node is a replica and the call is not a
// replication write), Fenced (a failed fsync or store error stopped all
// writes until the process restarts), Corrupted (a checksum failed), Io.
//
// Names are internal Cyrus names ("user.fred.Sent", "shared.news"); the
// namespace conversion is the caller's. Rights are not checked here: the
// caller (IMAP, LMTP) decides who may do what using get_acl().
#pragma once

#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "store/base/result.h"
#include "store/types.h"

namespace cyr::store {

enum class ExpungeMode {
  Delayed,    // expunge keeps the file until purge (Cyrus "delayed")
  Immediate,  // expunge unlinks the file after commit; the tombstone stays
};

// Which process opens the store. Exactly one Primary per store directory (the
// master, or a tool run while no master runs): it finishes what a crash left
// (intents of an interrupted rename/delete, message files linked but never
// indexed, staging leftovers of dead processes). A Secondary (ops commands,
// `sync_client -r` as a DAEMON entry) may run beside it at any time: it
// recovers nothing at open, and every cross-process fact (change sequence
// numbers, pending-shard markers, uidvalidity) is read under the database or
// file lock rather than from a per-process cache, so its writes reach the
// change log the rolling replicator reads.
enum class OpenMode { Primary, Secondary };

struct StoreOptions {
  OpenMode open_mode = OpenMode::Primary;
  std::filesystem::path configdirectory;  // holds mailboxes.db and shards/
  std::map<std::string, std::filesystem::path> partitions;  // name -> spool root
  std::string defaultpartition = "default";
  bool singleinstancestore = true;   // hard-link identical deliveries
  ExpungeMode expunge_mode = ExpungeMode::Delayed;
  // ACL of a new top-level shared mailbox (Cyrus defaultacl, "anyone lrs").
  std::string defaultacl = "anyone\tlrs\t";
  // Rights the owner gets on a new top-level user mailbox (Cyrus: all).
  std::string owner_rights = "lrswipkxtecdan";
  bool create_directories = true;    // create configdirectory/partition roots
  size_t max_open_shards = 512;      // cached open shard databases
  // Write change records (the replication log) for client writes. imapd.conf
  // turns it on with sync_log or a failover peer; a server without a replica
  // writes none, as Cyrus writes no sync log then (nothing would ever
  // acknowledge them, so they would only pile up, and the first write to
  // each shard would pay a flushed marker commit).
  bool log_changes = true;
  size_t max_message_size = 64u << 20;
  // Messages up to this size that a commit would otherwise flush as files
  // first are written into the shard's body journal, in the commit's own WAL
  // flush; their files are flushed later, many at a time (docs/store.md,
  // Body journal). 0: every message file is flushed before or with its
  // commit. imapd.conf store_journal_max.
  size_t journal_max = 64u << 10;
  // Fault injection for tests: called instead of fsync(2) on message files
  // and directories. Returns 0 or -1 with errno set, like fsync.
  std::function<int(int fd)> fsync_hook;
  std::string sid;  // log session id for store-wide events
};

enum class Role { Primary, Replica };
const char* role_name(Role r);

struct NodeState {
  Role role = Role::Primary;
  uint64_t epoch = 0;
  // A replica that was primary and must be reconciled with the new primary
  // before it follows it (docs/failover.md, Rejoin). Until then its
  // replication server takes writes only from the reconcile itself, so that
  // the new primary's ordinary replication cannot overwrite changes only
  // this node has (subscriptions, Sieve scripts, seen state) first.
  bool rejoining = false;
  friend bool operator==(const NodeState&, const NodeState&) = default;
};

// Who is writing: normal clients, or the replication applier, which alone may
// write on a replica and may set uids/modseqs verbatim.
enum class WriteMode { Normal, Replication };

struct CreateMailboxRequest {
  std::string name;
  std::string partition;          // "" = defaultpartition
  std::string uniqueid;           // "" = generate (replication passes one)
  std::optional<uint32_t> uidvalidity;  // default: now, kept increasing
  std::optional<std::string> acl; // default: inherited / owner / defaultacl
};

// An append of several messages into one mailbox, or (LMTP) the same message
// into several mailboxes: each target gets its own UIDs.
struct AppendRequest {
  std::string mailbox;
  std::vector<AppendMessage> messages;
  bool check_quota = true;  // LMTP and IMAP check; replication does not
};

// A record to write verbatim (replication applier; WriteMode::Replication).
struct ApplyRecord {
  MessageRecord record;       // uid, modseq, guid, flags, dates, size
  std::optional<MessageSource> source;  // bytes when the uid is new; must hash to guid
};

using MailboxWatcher = std::function<void(const MailboxEvent&)>;
using WatchId = uint64_t;

// sync_mode: sync. Installed by the failover controller (ops/); the store
// calls wait_replicated() after every client write (WriteMode::Normal) has
// committed, with no lock held, passing the highest change sequence number
// handed out so far; it returns once the replica has acknowledged every
// change up to it, or when the barrier gives up (and falls back to async).
//
// A primary's shard commit publishes its change records before its disk
// flush (committed() is called between the two; the write's caller still
// gets its OK only after both the flush and the replica), so the replication
// round runs alongside the local flush instead of after it.
class ReplicationBarrier {
 public:
  virtual ~ReplicationBarrier() = default;
  virtual void wait_replicated(uint64_t seq) = 0;
  // Change records were just committed and are visible to the replicator;
  // their local flush may still be under way. Must not block.
  virtual void committed() {}
};

class Store {
 public:
  // Opens (creating if needed) the store described by opts. OpenMode::Primary
  // also recovers from any crash: intents left by an interrupted rename/delete
  // are reapplied and staging files of dead processes are removed;
  // OpenMode::Secondary skips both. Fails with Io/Corrupted if a database
  // cannot be opened.
  static Result<std::unique_ptr<Store>> open(const StoreOptions& opts);

  virtual ~Store() = default;
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // ---- node role and the write fence ----
  virtual NodeState node_state() const = 0;
  // Persisted (fsync'd) before returning; Errc::Fenced on a fenced store.
  virtual Status set_node_state(const NodeState& st) = 0;
  // Ok, or the error that fenced the store.
  virtual Status fence_status() const = 0;
  // Makes the files of every journaled message committed so far durable
  // now, instead of at the next late flush (StoreOptions::journal_max).
  // Their journal rows go with the shard's next write or the clean close.
  virtual void flush_journal() = 0;
  // Ok if a write in `mode` would be accepted now (fence, role, hold): lets a
  // protocol refuse a command up front (POP3 DELE) rather than at its commit.
  virtual Status check_writable(WriteMode mode = WriteMode::Normal) const = 0;
  // A temporary refusal of client writes, kept in memory only: the failover
  // controller holds writes while it has no lease or during a switchover,
  // without changing the persisted role. "" lifts it. Replication writes
  // are not held.
  virtual void set_write_hold(const std::string& reason) = 0;
  // null removes it (async replication: the default).
  virtual void set_replication_barrier(std::shared_ptr<ReplicationBarrier> barrier) = 0;

  // ---- mailbox list ----
  // New top-level user mailbox: owner gets owner_rights; sub-mailbox:
  // nearest existing parent's ACL; new top-level shared: defaultacl.
  virtual Result<MailboxInfo> create_mailbox(const CreateMailboxRequest& req,
                                             WriteMode mode = WriteMode::Normal) = 0;
  // Creates many in one transaction of the list (provisioning, bench,
  // replication). All or nothing.
  virtual Status create_mailboxes(const std::vector<CreateMailboxRequest>& reqs,
                                  WriteMode mode = WriteMode::Normal) = 0;
  // Renames `from` and every mailbox below it to `to`. Renaming "user.fred" to
  // "user.barney" renames the user: quota root, subscriptions and seen state
  // of the shard follow. A rename that would move a mailbox to another owner
  // (other than a whole-user rename) is refused with Errc::Invalid.
  virtual Status rename_mailbox(const std::string& from, const std::string& to,
                                WriteMode mode = WriteMode::Normal) = 0;
  // Deletes `name` and every mailbox below it, their records and files.
  virtual Status delete_mailbox(const std::string& name,
                                WriteMode mode = WriteMode::Normal) = 0;
  virtual Result<MailboxInfo> lookup(const std::string& name) = 0;
  // lookup(), and `userid`'s active Sieve script (nullopt: none) read from
  // the same database when `name` is one of that user's mailboxes: what LMTP
  // needs at RCPT, in one shard read instead of a lookup and a second pair
  // of list and shard reads per delivery.
  virtual Result<std::pair<MailboxInfo, std::optional<SieveScript>>> lookup_with_sieve(const std::string& name,
                                                                                       const std::string& userid) = 0;
  virtual Result<MailboxInfo> lookup_by_uniqueid(const std::string& uniqueid) = 0;
  // Names matching an IMAP LIST pattern on internal names ('*' matches
  // anything, '%' anything but the separator '.'), sorted.
  virtual Result<std::vector<std::string>> list(std::string_view pattern) = 0;

  // ---- ACL ----
  virtual Result<std::string> get_acl(const std::string& mailbox) = 0;
  virtual Status set_acl(const std::string& mailbox, const std::string& acl,
                         WriteMode mode = WriteMode::Normal) = 0;

  // ---- messages ----
  virtual Result<AppendResult> append(const AppendRequest& req,
                                      WriteMode mode = WriteMode::Normal) = 0;
  // LMTP: the same message into several mailboxes (one file, hard links on one
  // partition). Results are per target, in order; one target failing (quota,
  // not found) does not fail the others.
  virtual std::vector<Result<AppendResult>> deliver(
      const std::vector<std::string>& mailboxes, const AppendMessage& msg,
      bool check_quota = true) = 0;
  // Every record (including tombstones when include_expunged), ascending UID.
  virtual Result<std::vector<MessageRecord>> records(const std::string& mailbox,
                                                     bool include_expunged = false) = 0;
  virtual Result<MessageRecord> record(const std::string& mailbox, Uid uid) = 0;
  // The records whose UIDs are in `uids` (tombstones included when
  // include_expunged), ascending UID, from one snapshot; UIDs with no record
  // are left out. A replica applying a few changed records reads only
  // those, not the whole mailbox.
  virtual Result<std::vector<MessageRecord>> records_in(const std::string& mailbox, const UidSet& uids,
                                                        bool include_expunged = false) = 0;
  // The serialized MessageStructure parsed at append.
  virtual Result<std::string> structure(const std::string& mailbox, Uid uid) = 0;
  // The structures of many messages of one mailbox in one read (FETCH
  // ENVELOPE or BODYSTRUCTURE over a large range, where one call per message
  // cost a thread hop and three queries each): one entry per uid, in order,
  // nullopt where the message is gone. This default calls structure().
  virtual Result<std::vector<std::optional<std::string>>> structures(const std::string& mailbox,
                                                                     const std::vector<Uid>& uids) {
    std::vector<std::optional<std::string>> out;
    out.reserve(uids.size());
    for (Uid u : uids) {
      auto s = structure(mailbox, u);
      if (s.ok()) out.emplace_back(std::move(*s));
      else if (s.error().code == Errc::NotFound) out.emplace_back(std::nullopt);
      else return s.take_error();
    }
    return out;
  }
  // Path of the immutable message file; and its bytes (range; len 0 = to end).
  virtual Result<std::filesystem::path> message_path(const std::string& mailbox, Uid uid) = 0;
  virtual Result<std::string> read_message(const std::string& mailbox, Uid uid,
                                           uint64_t offset = 0, uint64_t len = 0) = 0;
  // Opens the message file read-only; the caller owns (and closes) the fd.
  virtual Result<int> open_message(const std::string& mailbox, Uid uid) = 0;
  // The whole file of `uid` in the mailbox with this partition and uniqueid
  // (MailboxInfo), without reading the list or the index again: for a
  // caller that holds the record and checks what it reads against it (the
  // replication client checks size and GUID). NotFound if there is none.
  virtual Result<std::string> read_message_file(const std::string& partition, const std::string& uniqueid,
                                                Uid uid) = 0;

  virtual Result<StoreFlagsResult> store_flags(const std::string& mailbox,
                                               const StoreFlagsRequest& req,
                                               WriteMode mode = WriteMode::Normal) = 0;
  // Expunges the UIDs of the set that exist (tombstones remain until purge).
  virtual Result<ExpungeResult> expunge(const std::string& mailbox, const UidSet& uids,
                                        WriteMode mode = WriteMode::Normal) = 0;
  // Removes tombstones expunged before `older_than` (seconds since epoch) and
  // their files.
  virtual Result<uint64_t> purge_expunged(const std::string& mailbox, int64_t older_than) = 0;
  // COPY (move=false) or MOVE. Same partition: hard links; else a copy.
  virtual Result<CopyResult> copy(const std::string& from, const UidSet& uids,
                                  const std::string& to, bool move,
                                  WriteMode mode = WriteMode::Normal) = 0;
  virtual Result<ChangesSince> changes_since(const std::string& mailbox, ModSeq since) = 0;

  // ---- replication ----
  // lookup(), changes_since() and annotations() of one mailbox from one read
  // snapshot: what a replication round sends (one read instead of three).
  virtual Result<MailboxRoundState> round_state(const std::string& mailbox, ModSeq since) = 0;
  // Writes records verbatim (uid, modseq, flags, guid), creating files for new
  // uids from source (whose SHA-1 must equal guid); raises last_uid and
  // highestmodseq as needed. Only with WriteMode::Replication. With
  // `then_counters`, sets those counters too (as set_counters does) in the
  // same transaction: an APPLY MAILBOX round is one commit, one WAL flush,
  // on the replica's critical path instead of two. `after`, if given, gets
  // the mailbox as committed (what lookup() returns next) when it returns OK.
  virtual Status apply_records(const std::string& mailbox, const std::vector<ApplyRecord>& recs,
                               WriteMode mode, const MailboxCounters* then_counters = nullptr,
                               MailboxInfo* after = nullptr) = 0;
  virtual Status set_counters(const std::string& mailbox, const MailboxCounters& c,
                              WriteMode mode) = 0;
  // A file with this GUID in one of the candidate mailboxes on `partition`
  // (APPLY RESERVE), or NotFound.
  virtual Result<std::filesystem::path> find_message_file(
      const std::string& partition, const mail::MessageGuid& guid,
      const std::vector<std::string>& candidate_mailboxes) = 0;

  // Change records not yet acknowledged, oldest first, at most `max`; those
  // written by other processes on the same store directory included.
  virtual Result<ChangeBatch> read_changes(size_t max) = 0;
  // read_changes for the rolling stream's passes: in sync mode it also
  // skips, for up to a second, shards whose marker this process kept over
  // a change table it emptied (a shard written often keeps its marker, so
  // that its next write need not mark it again with a flushed commit).
  // Another process's record in such a shard is read once that second is
  // over; this process's own ends the skip at once. Checks that must see
  // everything (a switchover's drain) use read_changes.
  virtual Result<ChangeBatch> read_changes_streaming(size_t max) { return read_changes(max); }
  // The same as read_changes, from the mailbox list's records and those of the given shards
  // only (ChangeRecord::shard), marked or not: one database read per shard
  // instead of one per marked shard, for a reader that knows whose records
  // it wants (the rolling client's next round for an owner it just did).
  virtual Result<ChangeBatch> read_changes_in(const std::vector<uint64_t>& shards, size_t max) = 0;
  // A number that grows whenever this process commits change records to the
  // mailbox list or to one of `shards`; 0 if unknown. A reader that saw the
  // same number at its last read_changes_in() of these shards need not read
  // them again for this process's records (another process's records do not
  // move it: those come through read_changes()).
  virtual uint64_t change_generation(const std::vector<uint64_t>& shards) {
    (void)shards;
    return 0;
  }
  // The lowest `max` seqs of change records this process committed while a
  // replication barrier was set and has not acknowledged (ack_changes) or
  // forgotten since, kept in memory: what a sync-mode writer of this process
  // waits for, without reading every marked shard per check. nullopt when no
  // barrier is set or too many are outstanding to keep (then read the log).
  virtual std::optional<std::vector<uint64_t>> own_unacked_changes(size_t max) = 0;
  // Drops seqs from that set (those no longer in the log, found by a caller
  // that took own_unacked_changes() before reading the log).
  virtual void forget_own_unacked(const std::vector<uint64_t>& seqs) = 0;
  // Forgets exactly the records of `batch` (a record committed meanwhile by
  // another process, even with a lower seq, stays for the next read).
  virtual Status ack_changes(const ChangeBatch& batch) = 0;

  // ---- quota (roots must name an existing mailbox; usage is per root) ----
  virtual Result<QuotaInfo> get_quota(const std::string& root) = 0;
  // Creates the root if needed; nullopt limits = unlimited.
  virtual Status set_quota(const std::string& root, std::optional<uint64_t> storage_kib,
                           std::optional<uint64_t> messages,
                           WriteMode mode = WriteMode::Normal) = 0;
  virtual Status remove_quota(const std::string& root, WriteMode mode = WriteMode::Normal) = 0;
  // Ok if appending `messages` messages of `bytes` total to mailbox stays
  // within its quota root; Errc::NoQuota otherwise.
  virtual Status check_quota(const std::string& mailbox, uint64_t bytes,
                             uint64_t messages = 1) = 0;

  // ---- seen state (per user, per mailbox) ----
  virtual Result<SeenState> get_seen(const std::string& userid, const std::string& mailbox) = 0;
  virtual Status set_seen(const std::string& userid, const std::string& mailbox,
                          const SeenState& st, WriteMode mode = WriteMode::Normal) = 0;
  // Users with a seen record on `mailbox`, sorted (cyr_userseen).
  virtual Result<std::vector<std::string>> seen_users(const std::string& mailbox) = 0;
  // The mailboxes `userid` does not own on which it has had seen state
  // (shared folders, other users' folders), from an index in the mailbox
  // list kept by set_seen; only mailboxes that still exist, sorted. The
  // seen state itself lives in each owner's database (get_seen), so this is
  // how a replica answers GET USER with a reader's whole seen state.
  virtual Result<std::vector<std::string>> foreign_seen_mailboxes(const std::string& userid) = 0;

  // ---- subscriptions (kept in the user's shard) ----
  virtual Result<std::vector<std::string>> subscriptions(const std::string& userid) = 0;
  virtual Status subscribe(const std::string& userid, const std::string& mailbox, bool on,
                           WriteMode mode = WriteMode::Normal) = 0;

  // ---- Sieve scripts (kept in the user's shard) ----
  // The user's scripts, by name, content included. A user with no shard has none.
  virtual Result<std::vector<SieveScript>> sieve_scripts(const std::string& userid) = 0;
  // Creates or replaces one script; an active script stays active.
  // Errc::Invalid for a bad name. last_update: 0 = now (replication passes
  // the primary's). max_scripts >= 0: Errc::Limit if the script is new and
  // the user has that many already, checked in the same transaction (sieve_maxscripts).
  virtual Status put_sieve_script(const std::string& userid, const std::string& name,
                                  const std::string& content, WriteMode mode = WriteMode::Normal,
                                  int64_t last_update = 0, int64_t max_scripts = -1) = 0;
  // Errc::NotFound if there is no such script; Errc::InUse if it is the
  // active one (ManageSieve's DELETESCRIPT refuses that; deactivate first).
  virtual Status delete_sieve_script(const std::string& userid, const std::string& name,
                                     WriteMode mode = WriteMode::Normal) = 0;
  // Errc::NotFound (no `from`), Errc::Exists (`to` taken); the active flag moves with it.
  virtual Status rename_sieve_script(const std::string& userid, const std::string& from,
                                     const std::string& to, WriteMode mode = WriteMode::Normal) = 0;
  // Makes `name` the active script ("" : none active). Errc::NotFound.
  virtual Status activate_sieve_script(const std::string& userid, const std::string& name,
                                       WriteMode mode = WriteMode::Normal) = 0;

  // ---- annotations ----
  // mailbox "" = server annotations. userid "" = shared.
  virtual Result<std::vector<Annotation>> annotations(const std::string& mailbox) = 0;
  virtual Status set_annotation(const Annotation& a, WriteMode mode = WriteMode::Normal) = 0;

  // ---- watchers ----
  // cb is called after every commit that changes the mailbox with this
  // uniqueid, on the committing thread, with no store lock held; it must be
  // quick (post to the session's executor). It may call read methods of the
  // store, never write methods (that would wait on the batch it is called from).
  virtual WatchId watch(const std::string& uniqueid, MailboxWatcher cb) = 0;
  virtual void unwatch(WatchId id) = 0;

 protected:
  Store() = default;
};

// Owner shard of an internal name: "user.fred.Sent" -> "user.fred",
// "shared.news.x" -> "shared". Invalid names give an error.
Result<std::string> shard_of(std::string_view mailbox);
// Checks an internal name: non-empty, <= kMaxMailboxNameLength, no empty
// component, no component "." / "..", no '/', no control chars, not
// beginning or ending with '.'.
Status validate_mailbox_name(std::string_view name);
// A Sieve script name (RFC 5804 1.6): 1-512 octets of UTF-8 with no control
// character (U+0000-U+001F, U+007F-U+009F), no line or paragraph separator
// (U+2028, U+2029), and no '/' (Cyrus keeps scripts as files named after
// them). Errc::Invalid with the reason.
Status validate_sieve_script_name(std::string_view name);
// IMAP LIST pattern match on internal names (separator '.').
bool list_match(std::string_view pattern, std::string_view name);

}  // namespace cyr::store
