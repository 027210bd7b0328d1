// SyncServerSession: the replica side of one csync session, independent of
// transport. It executes parsed commands (GET, APPLY, RESTART, NOOP, EXIT)
// against the node's Store with WriteMode::Replication and returns the reply
// lines (untagged items, then exactly one final OK/NO/BAD). Authentication,
// banner and framing belong to the transport (sync/csync_service.h, or a
// test's loopback), which feeds file literals to file_sinks() while reading.
//
// Checks (reference §3.4-§3.6): every uploaded or reserved file is verified
// against its GUID (SHA-1) before it is used; APPLY MAILBOX refuses with
// NO IMAP_SYNC_CHECKSUM when the replica is ahead or disagrees, and after
// applying compares SYNC_CRC.
//
// Ownership: borrows the Store (which must outlive the session); owns its
// staging directory, removed by RESTART and by the destructor.
// Not thread-safe: one session, one thread at a time.
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "store/store.h"
#include "sync/apply_refusals.h"
#include "sync/dlist_decoder.h"
#include "sync/sync_crc.h"
#include "sync/sync_frame.h"

namespace cyr::sync {

struct SyncServerOptions {
  // A private directory for staged message files (created; removed at the end).
  std::filesystem::path staging_dir;
  DlistLimits limits;
  std::string sid;  // log session id
  // Set on a node of a failover pair (failover_peer): while the node is the
  // primary, every APPLY is refused. Only the replica may take replicated
  // writes; a stale peer that still believes it is the primary must not be
  // able to overwrite the current primary's mailboxes. A standalone node (a
  // migration target that Cyrus replicates into) takes APPLY whatever its role.
  bool refuse_apply_on_primary = false;
  // Where an APPLY this node cannot represent is counted (apply_refusals.h);
  // null: only logged.
  std::shared_ptr<ApplyRefusals> refusals;
};

class SyncServerSession {
 public:
  SyncServerSession(store::Store& store, SyncServerOptions opts);
  ~SyncServerSession();
  SyncServerSession(const SyncServerSession&) = delete;
  SyncServerSession& operator=(const SyncServerSession&) = delete;

  // For the transport's LineFramer, together: small file literals are held
  // in memory, larger ones streamed into staging files.
  FileSinkFactory* file_sinks();
  DlistLimits framer_limits() const;

  // Whether execute(cmd) does no blocking work, so a session may run it on
  // its I/O thread instead of a trip to the blocking pool: NOOP, and APPLY
  // MESSAGE whose files the framing already wrote or that are small enough
  // to hash and keep in memory (only bookkeeping is left; an unlink on the
  // rare refused or duplicate upload).
  bool runs_inline(const SyncCommand& cmd) const;
  // Executes one authenticated command. The last reply is final.
  std::vector<SyncReply> execute(const SyncCommand& cmd);

  bool exit_requested() const { return exit_requested_; }
  // Staged (partition, guid) files, for tests and logging.
  size_t staged_count() const { return staged_.size() + staged_memory_.size(); }

 private:
  class Sinks;
  using Replies = std::vector<SyncReply>;
  using StageKey = std::pair<std::string, std::string>;  // partition, guid hex

  Status get_user(const Value& arg, Replies& out);
  Status get_mailboxes(const Value& arg, Replies& out);
  Status get_fullmailbox(const Value& arg, Replies& out);
  Status get_meta(const Value& arg, Replies& out);
  Status get_fetch_sieve(const Value& arg, Replies& out);
  Status get_users(Replies& out);
  Status get_quota(const Value& arg, Replies& out);
  Status get_fetch(const Value& arg, Replies& out);
  Status get_annotation(const Value& arg, Replies& out);
  Status apply_reserve(const Value& arg, Replies& out);
  Status apply_message(const Value& arg);
  Status apply_mailbox(const Value& arg);
  // Whether the master's SYNC_CRC pair agrees with the one the store keeps
  // for `name`, falling back to one computed from its records (logged).
  bool crcs_agree(const std::string& name, const SyncCrcs& theirs, const SyncCrcs& stored);
  Status apply_unmailbox(const Value& arg);
  Status apply_rename(const Value& arg);
  Status apply_quota(const Value& arg);
  Status apply_unquota(const Value& arg);
  Status apply_seen(const Value& arg);
  Status apply_sub(const Value& arg, bool on);
  // APPLY SIEVE / UNSIEVE / ACTIVATE_SIEVE / UNACTIVATE_SIEVE (reference 3.8).
  Status apply_sieve(const Value& arg);
  Status apply_unsieve(const Value& arg);
  Status apply_activate_sieve(const Value& arg, bool on);
  Status apply_annotation(const Value& arg, bool remove);
  Status apply_expunge(const Value& arg);
  Status apply_unuser(const Value& arg);
  Status apply_capabilities(const Value& arg, Replies& out);

  Status mailbox_item(const std::string& name, bool with_records, Replies& out);
  Status seen_and_subs(const std::string& userid, Replies& out);
  Result<std::string> stage_file(const std::string& partition, const std::string& guid,
                                 const std::filesystem::path& from, bool verify);
  void clear_staging();
  // Drops the staged copy of `key`, on disk or in memory.
  void forget_staged(const StageKey& key);
  // The staged copy of a GUID, preferring `partition`'s; nullopt if none.
  std::optional<store::MessageSource> staged_source(const std::string& partition, const std::string& hex) const;

  store::Store& store_;
  SyncServerOptions opts_;
  std::unique_ptr<Sinks> sinks_;
  std::map<StageKey, std::string> staged_;  // -> path in staging_dir
  // Small uploads, kept in memory until an APPLY MAILBOX appends them: the
  // store writes each one once, on the blocking pool, instead of a staging
  // file written by the I/O thread and read back for the append. Bounded
  // (kStagedMemoryMax); past that, uploads go to staging files.
  std::map<StageKey, std::string> staged_memory_;  // -> message bytes
  uint64_t staged_memory_bytes_ = 0;
  uint64_t next_stage_ = 0;
  bool force_ = false;
  bool exit_requested_ = false;
  bool reconcile_session_ = false;  // APPLY CAPABILITIES (X-RECONCILE) was sent
};

// The reply for an error: NO with the Cyrus code first (reference §3.10).
SyncReply no_reply_for(const Error& e);

// Whether a failed APPLY refused its item as unrepresentable here (counted by
// ApplyRefusals) rather than being ordinary protocol flow (see
// apply_refusals.h for the line between the two).
bool is_item_refusal(const Error& e);

}  // namespace cyr::sync
