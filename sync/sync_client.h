// SyncClient: the master side of replication (Cyrus sync_client, reference
// §4). It reads this node's Store and brings one replica (a SyncPeer) to the
// same state: users (-u), mailboxes (-m), everything (-A), with the 3.6
// algorithm: RESERVE the GUIDs the replica may already hold, upload only the
// missing files, APPLY MAILBOX with the changed records and SYNC_CRC; on
// NO IMAP_SYNC_CHECKSUM retry once with fresh replica state, then run a full
// mailbox compare that renumbers split-brain messages and copies replica-only
// messages back, so nothing delivered on either side is lost.
//
// verify() compares the two nodes mailbox by mailbox (header and CRC, then
// records) and lists every difference.
//
// Ownership: borrows the Store and the peer, which must outlive it.
// Not thread-safe: one client per peer connection; run several clients on
// separate connections to replicate users in parallel.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "store/store.h"
#include "sync/mailbox_sync.h"
#include "sync/sync_peer.h"

namespace cyr::sync {

struct SyncClientOptions {
  bool no_copyback = false;      // -O: report a checksum failure instead of a full compare
  bool delete_orphans = true;    // user sync: remove replica folders this node does not have
  // Rejoin after a split brain (failover/sync_link.cpp): the replica is the
  // old primary and may hold user changes this node never saw. Instead of
  // overwriting them, subscriptions only it has, Sieve scripts only it has
  // or changed later, and seen state it changed later are copied back here
  // first, and so are mailboxes only it has (with their messages; messages
  // of shared mailboxes are copied back by the mailbox compare in any mode).
  bool reconcile = false;
  size_t upload_batch_files = 1024;
  uint64_t upload_batch_bytes = 32u << 20;
  size_t reserve_batch = 8192;
  size_t batch_size = 8192;      // sync_batchsize: new messages per APPLY MAILBOX
  std::string sid;               // log session id
  // Verbose progress (-v): one line per action. May be empty.
  std::function<void(const std::string&)> progress;
};

struct SyncStats {
  uint64_t mailboxes_applied = 0;
  uint64_t mailboxes_unchanged = 0;
  uint64_t messages_uploaded = 0;
  uint64_t bytes_uploaded = 0;
  uint64_t messages_reserved = 0;   // found on the replica, not uploaded
  uint64_t checksum_retries = 0;
  uint64_t full_syncs = 0;
  uint64_t renumbered = 0;
  uint64_t copied_back = 0;
  uint64_t meta_copied_back = 0;  // reconcile: subscriptions, scripts, seen states, quotas taken from the replica
  uint64_t mailboxes_copied_back = 0;  // reconcile: mailboxes only the replica had, created here
};

// What a replica mailbox holds after an APPLY MAILBOX it accepted from a
// client of this node: enough to send the next change without asking first
// (GET MAILBOXES). The replica checks SINCE_MODSEQ and SINCE_CRC against its
// own state and its SYNC_CRC after applying, so a stale entry (someone else
// wrote to the replica) costs one refused APPLY, then the full path.
struct ReplicaMailbox {
  std::string uniqueid;
  store::Uid last_uid = 0;
  store::ModSeq highestmodseq = 0;
  SyncCrcs crcs{0, 0};
};

// Replica mailbox states, shared by the streams of one rolling replicator
// (an owner's rounds may run on different streams over time). Bounded: the
// whole map is dropped when it reaches `max` entries (each mailbox is then
// asked once more). Thread-safe.
class ReplicaStates {
 public:
  explicit ReplicaStates(size_t max = 100000) : max_(max) {}
  std::optional<ReplicaMailbox> get(const std::string& name) const;
  void put(const std::string& name, const ReplicaMailbox& m);
  void forget(const std::string& name);
  // `name` and every mailbox below it (UNMAILBOX, RENAME, UNUSER).
  void forget_tree(const std::string& name);
  size_t size() const;

 private:
  size_t max_;
  mutable std::mutex mu_;
  std::map<std::string, ReplicaMailbox> map_;
};

// One round written by SyncClient::send_known_round() whose replies are not
// read yet.
struct SentRound {
  std::vector<std::string> expect;  // per command sent: its mailbox for APPLY MAILBOX, else ""
  std::vector<std::pair<std::string, ReplicaMailbox>> after;  // the replica's states once applied
  size_t records = 0;
};

// The Cyrus response code of a NO reply turned into an Error
// ("IMAP_SYNC_CHECKSUM Checksum Failure"); reply_code() reads it back.
Error error_from_reply(const SyncReply& r);
std::string reply_code(const Error& e);

class SyncClient {
 public:
  // send_known_round drops the replica's staged files (RESTART) once this
  // many, or this many bytes, have gathered.
  static constexpr size_t kRestartAfterFiles = 256;
  static constexpr uint64_t kRestartAfterBytes = 64u << 20;
  SyncClient(store::Store& local, SyncPeer& peer, SyncClientOptions opts = {});

  Status sync_user(const std::string& userid);
  Status sync_mailboxes(const std::vector<std::string>& names);
  // Every user with an INBOX here, then every shared mailbox.
  Status sync_all();
  Status unmailbox(const std::string& name);
  Status unuser(const std::string& userid);
  // The user's seen state, subscriptions and quota only (META events).
  Status sync_meta(const std::string& userid);
  Status restart();  // RESTART: the replica drops staged files

  // Seen state a user keeps on mailboxes they do not own (a shared folder,
  // another user's folder shared with them). Cyrus keeps it in the reader's
  // seen database and replicates it with the reader (APPLY SEEN in the
  // user's sync), so ours goes with the user too. A user sync sends it for
  // the mailboxes named here and for those the replica already lists.
  // add_seen_hint: the rolling cycle names the (user, mailbox uniqueid) of a
  // Seen change record. scan_foreign_seen: every such pair on this node (one
  // query per mailbox), before a sync of all or of named users.
  void add_seen_hint(const std::string& userid, const std::string& uniqueid);
  Status scan_foreign_seen();

  const SyncStats& stats() const { return stats_; }

  // Every APPLY MAILBOX the replica accepts is recorded in `states`, and a
  // mailbox is forgotten before anything else touches it (null: none).
  void set_replica_states(ReplicaStates* states) { states_ = states; }

  // The steady state of rolling replication between two of our nodes: for
  // mailboxes whose replica state is recorded, writes RESTART (if files are
  // staged from an earlier round), APPLY MESSAGE with the new files and
  // APPLY MAILBOX with the records changed since, SINCE_MODSEQ/SINCE_CRC
  // set, and returns without reading the replies (SyncPeer::send). Only
  // standard csync commands. nullopt, with nothing sent, when a mailbox is
  // not recorded, has another uniqueid here, has more new messages than
  // batch_size or more than 1 MiB of them (worth an APPLY RESERVE): the
  // caller then runs sync_mailboxes(), after reading outstanding replies.
  // An error: the connection failed while writing.
  Result<std::optional<SentRound>> send_known_round(const std::vector<std::string>& names);
  // Reads the replies of `round` (all of them unless the connection fails,
  // which sets `transport_failed`). Ok: the replica applied everything and
  // `states` holds the new states; else the round's mailboxes are forgotten
  // and the first refusal is returned. Touches only the peer's receiving
  // side and `states`, so it may run on another thread than the sender's
  // (one round at a time, in the order sent).
  Status receive_round(const SentRound& round, bool& transport_failed);

  // Reconcile, when both nodes hold a different INBOX for one user: the
  // replica's messages that ours lacks (by GUID) are appended to ours.
  // sync_user calls it; public so that a test can stop after it.
  Status merge_remote_inbox(const std::string& name);

 private:
  using Replies = std::vector<SyncReply>;
  struct RemoteUser {
    std::vector<MailboxState> folders;
    std::vector<Value> quotas;
    std::vector<Value> seen;
    std::vector<std::string> lsub;
    std::vector<Value> sieve;  // SIEVE items: FILENAME, LAST_UPDATE, GUID, ISACTIVE
  };

  Result<Replies> call(const char* verb, const char* name, Value arg);
  Result<RemoteUser> get_user(const std::string& userid);
  Status sync_sieve(const std::string& userid, const std::vector<Value>& remote);
  // The content of one of the replica's scripts (GET FETCH_SIEVE).
  Result<std::string> fetch_remote_sieve(const std::string& userid, const std::string& name);
  Result<std::vector<MailboxState>> get_mailboxes(const std::vector<std::string>& names);
  Status update_mailbox(const std::string& name, std::optional<MailboxState> remote);
  Status update_once(const std::string& name, const std::optional<MailboxState>& remote, bool repeat);
  // Like update_once, but sends at most batch_size new messages per APPLY
  // MAILBOX (reference §4.6), refreshing the replica state in between.
  Status update_batched(const std::string& name, std::optional<MailboxState> remote, bool repeat);
  // One partial APPLY MAILBOX if more than batch_size messages are new;
  // false (nothing sent) when no partial state can be built.
  Result<bool> send_partial(const std::string& name, const std::optional<MailboxState>& remote);
  Status full_update(const std::string& name);
  // Reconcile: a mailbox only the replica (the old primary) has is created
  // here with its uniqueid, UIDs, flags and annotations, every message read
  // back with GET FETCH. Returns the local name (`name`, or `name` with a
  // suffix when a different mailbox took the name here), "" if skipped.
  Result<std::string> pull_mailbox(const std::string& name);
  Status pull_users();
  Result<std::optional<MailboxState>> get_fullmailbox(const std::string& name);
  Status append_copy(const std::string& name, std::string bytes, const store::MessageRecord& like);
  Result<std::string> fetch_remote_body(const MailboxState& remote, const store::MessageRecord& x);
  Status upload(const std::string& mailbox, const std::string& partition,
                const std::vector<store::MessageRecord>& recs);
  Status sync_user_meta(const std::string& userid, const RemoteUser& remote,
                        const std::vector<std::string>& local_names);
  void note(const std::string& line);
  // After an APPLY MAILBOX of `sent` (records: those sent) was accepted.
  void record_applied(const MailboxState& sent, const std::vector<store::MessageRecord>& records);

  store::Store& local_;
  SyncPeer& peer_;
  SyncClientOptions opts_;
  SyncStats stats_;
  std::set<std::string> staged_;          // GUIDs the replica holds staged this session
  uint64_t staged_bytes_ = 0;             // their size, as far as send_known_round staged them
  std::vector<std::string> remote_names_; // replica folders to RESERVE from
  std::map<std::string, std::set<std::string>> seen_hints_;  // userid -> foreign mailbox uniqueids
  std::set<std::string> pulled_users_;  // reconcile: users created here from the replica (pull_users)
  ReplicaStates* states_ = nullptr;
};

// userid -> uniqueids of mailboxes that user does not own but has seen state
// on (the owner's own entry is not listed). One seen_users() query per mailbox.
Result<std::map<std::string, std::set<std::string>>> foreign_seen_index(store::Store& local);

// ---- verification -----------------------------------------------------------

struct VerifyReport {
  size_t mailboxes_compared = 0;
  std::vector<std::string> differences;  // one line each, human-readable
  bool identical() const { return differences.empty(); }
};

// Compares the given users (empty: every user and shared mailbox here) on
// both nodes: mailbox set, headers, SYNC_CRC, then records where they
// differ; quota, subscriptions and seen state. Fails only on a transport error.
Result<VerifyReport> verify(store::Store& local, SyncPeer& peer, const std::vector<std::string>& users);

}  // namespace cyr::sync
