// Value types of the mailbox store's public API (store/store.h).
//
// Plain copyable structs: snapshots of what the store holds, and the requests
// callers build. None of them refers back into the store, so a caller may keep
// them after the store is closed. No type here is internally synchronized;
// share a value between threads only if nobody modifies it.
#pragma once

#include <cstdint>
#include <ctime>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "store/mail/guid.h"

namespace cyr::store {

// The user_message of the Errc::Invalid error apply_records() returns when a
// replicated message's bytes do not hash to its GUID: bad input from the
// peer, not damage to this store (Corrupted would fence it). The csync
// server keys its IMAP_IOERROR answer on it.
inline constexpr std::string_view kGuidMismatchMessage = "Message does not match its GUID";

using Uid = uint32_t;
using ModSeq = uint64_t;

// System flags as a bitmask. Expunged marks a tombstone: the record stays in
// the index (for QRESYNC VANISHED and replication) until it is purged.
enum SystemFlag : uint32_t {
  kFlagAnswered = 1u << 0,
  kFlagFlagged = 1u << 1,
  kFlagDeleted = 1u << 2,
  kFlagDraft = 1u << 3,
  kFlagSeen = 1u << 4,
  kFlagExpunged = 1u << 31,  // never set by STORE; only by expunge
};
inline constexpr uint32_t kSettableSystemFlags =
    kFlagAnswered | kFlagFlagged | kFlagDeleted | kFlagDraft | kFlagSeen;

// Bounds the store enforces on what callers pass (rejected with Errc::Limit).
inline constexpr size_t kMaxKeywordLength = 100;
inline constexpr size_t kMaxKeywordsPerMessage = 128;
inline constexpr size_t kMaxMailboxNameLength = 490;  // Cyrus MAX_MAILBOX_NAME
inline constexpr size_t kMaxAnnotationValue = 64 * 1024;
inline constexpr size_t kMaxBatchMessages = 10000;

// Flags of one message: system bits plus keywords (user flags, as given;
// compared case-insensitively, stored in the case first seen).
struct Flags {
  uint32_t system = 0;
  std::vector<std::string> keywords;

  friend bool operator==(const Flags&, const Flags&) = default;
};

// A set of UIDs as sorted, non-overlapping, inclusive ranges.
class UidSet {
 public:
  UidSet() = default;
  static UidSet range(Uid lo, Uid hi) { UidSet s; s.add(lo, hi); return s; }
  static UidSet of(std::initializer_list<Uid> uids) {
    UidSet s;
    for (Uid u : uids) s.add(u, u);
    return s;
  }
  void add(Uid lo, Uid hi);  // keeps ranges sorted and merged
  void add(Uid uid) { add(uid, uid); }
  bool contains(Uid uid) const;
  bool empty() const { return ranges_.empty(); }
  uint64_t count() const;
  const std::vector<std::pair<Uid, Uid>>& ranges() const { return ranges_; }
  std::vector<Uid> to_vector() const;  // expands; bounded by caller's use
  std::string to_string() const;       // "1:3,7" (IMAP sequence-set syntax)

  friend bool operator==(const UidSet&, const UidSet&) = default;

 private:
  std::vector<std::pair<Uid, Uid>> ranges_;
};

enum class MailboxType { User, Shared };

// One entry of the mailbox list plus the per-mailbox counters (what Cyrus
// keeps in cyrus.index's header and what csync's MAILBOX item carries).
struct MailboxInfo {
  std::string name;       // internal name, "user.fred.Sent"
  std::string uniqueid;   // stable across renames; replication matches on it
  std::string partition;
  std::string acl;        // Cyrus ACL string "id\trights\t..."
  MailboxType type = MailboxType::User;
  std::string quotaroot;  // nearest quota root ("" = none)
  uint32_t uidvalidity = 0;
  Uid last_uid = 0;             // UIDNEXT - 1
  ModSeq highestmodseq = 0;
  Uid recentuid = 0;
  int64_t recenttime = 0;
  int64_t last_appenddate = 0;
  int64_t pop3_last_login = 0;
  int64_t pop3_show_after = 0;
  ModSeq createdmodseq = 0;
  ModSeq foldermodseq = 0;
  uint32_t options = 0;         // Cyrus OPTIONS bits, opaque to the store
  uint32_t exists = 0;          // messages not expunged
  uint64_t total_size = 0;      // bytes of messages not expunged
  // SYNC_CRC and SYNC_CRC_ANNOT (store/sync_crc.h): XORs of every live
  // record's CRC, kept by every record write in the same transaction (as
  // Cyrus keeps them in its index header), so replication can compare a
  // mailbox with its replica without reading its records. The defaults are
  // an empty mailbox's (Cyrus CRC_INIT_BASIC, CRC_INIT_ANNOT).
  uint32_t sync_crc = 0;
  uint32_t sync_crc_annot = 12345678;
};

// Counters a replication applier may set verbatim (WriteMode::Replication).
struct MailboxCounters {
  std::optional<Uid> last_uid;
  std::optional<ModSeq> highestmodseq;
  std::optional<Uid> recentuid;
  std::optional<int64_t> recenttime;
  std::optional<int64_t> last_appenddate;
  std::optional<int64_t> pop3_last_login;
  std::optional<int64_t> pop3_show_after;
  std::optional<uint32_t> uidvalidity;
  std::optional<ModSeq> createdmodseq;
  std::optional<ModSeq> foldermodseq;
  std::optional<uint32_t> options;
};

// A snapshot of one index record (no message bytes, no structure).
struct MessageRecord {
  Uid uid = 0;
  ModSeq modseq = 0;
  ModSeq createdmodseq = 0;
  mail::MessageGuid guid;
  Flags flags;
  int64_t internaldate = 0;   // seconds since the epoch
  int64_t savedate = 0;
  int64_t last_updated = 0;
  uint64_t size = 0;
  bool expunged() const { return (flags.system & kFlagExpunged) != 0; }
};

// Where the bytes of a message to append come from. The store never modifies
// the source; a path is hard-linked when it lies on the target partition.
struct MessageSource {
  enum class Kind { Memory, Path } kind = Kind::Memory;
  std::string bytes;  // Kind::Memory
  std::string path;   // Kind::Path: a complete file the caller wrote

  static MessageSource memory(std::string b) {
    MessageSource s; s.kind = Kind::Memory; s.bytes = std::move(b); return s;
  }
  static MessageSource file(std::string p) {
    MessageSource s; s.kind = Kind::Path; s.path = std::move(p); return s;
  }
};

struct AppendMessage {
  MessageSource source;
  Flags flags;
  int64_t internaldate = 0;  // 0 = now
};

struct AppendResult {
  std::string uniqueid;
  uint32_t uidvalidity = 0;
  std::vector<Uid> uids;      // one per message, in order
  ModSeq highestmodseq = 0;
};

enum class FlagOp { Add, Remove, Replace };

struct StoreFlagsRequest {
  UidSet uids;
  FlagOp op = FlagOp::Add;
  Flags flags;
  std::optional<ModSeq> unchangedsince;  // CONDSTORE
  bool silent_modseq = false;            // reserved; modseq always advances
};

struct StoreFlagsResult {
  // Records that changed (new flags and modseq) and those that matched the
  // set but were left alone because they failed UNCHANGEDSINCE.
  std::vector<MessageRecord> changed;
  UidSet failed_unchangedsince;
  ModSeq highestmodseq = 0;
};

struct ExpungeResult {
  UidSet expunged;
  ModSeq highestmodseq = 0;
};

struct CopyResult {
  uint32_t dest_uidvalidity = 0;
  UidSet source_uids;              // the UIDs actually copied, ascending
  std::vector<Uid> dest_uids;      // same order as source_uids
  ModSeq dest_highestmodseq = 0;
};

struct ChangesSince {
  std::vector<MessageRecord> changed;  // modseq > since, not expunged
  UidSet expunged;                     // expunged with modseq > since
  ModSeq highestmodseq = 0;
  // The mailbox's SYNC_CRC pair (MailboxInfo::sync_crc) read in the same
  // snapshot as the records and highestmodseq.
  uint32_t sync_crc = 0;
  uint32_t sync_crc_annot = 12345678;
};

struct QuotaInfo {
  std::string root;
  std::optional<uint64_t> storage_limit_kib;  // nullopt = unlimited
  std::optional<uint64_t> message_limit;
  uint64_t storage_used_bytes = 0;
  uint64_t message_used = 0;
  // Whole KiB, rounded down as Cyrus reports it (GETQUOTA, quota(8)), so the
  // two servers show the same usage for the same mail.
  uint64_t storage_used_kib() const { return storage_used_bytes / 1024; }
};

struct SeenState {
  int64_t lastread = 0;
  Uid lastuid = 0;
  int64_t lastchange = 0;
  std::string seenuids;  // IMAP sequence-set text, as Cyrus's seen db
  friend bool operator==(const SeenState&, const SeenState&) = default;
};

struct Annotation {
  std::string mailbox;  // internal name; "" = server annotation
  std::string entry;    // "/comment", "/vendor/..."
  std::string userid;   // "" = shared value
  std::string value;    // "" on set = delete
  ModSeq modseq = 0;
};

// A user's Sieve script (ManageSieve, lmtpd, replication). Kept in the
// user's shard, so a script change commits and replicates like any other
// change of the user's (ChangeKind::Sieve). Names are 1-512 bytes of UTF-8
// without control characters or '/'; at most one script per user is active.
struct SieveScript {
  std::string name;
  std::string content;
  bool active = false;
  int64_t last_update = 0;  // seconds since the epoch
};

// What a replication round of one mailbox sends, read in one snapshot
// (Store::round_state): the mailbox as lookup() returns it, its changes since
// a modseq, and its annotations.
struct MailboxRoundState {
  MailboxInfo info;
  ChangesSince changes;
  std::vector<Annotation> annotations;
};

// One replication log record (Cyrus sync log event kinds).
enum class ChangeKind {
  User, Mailbox, Append, Seen, Sub, Quota, Unmailbox, Rename, Annotation, Sieve,
};
const char* change_kind_name(ChangeKind k);  // "USER", "MAILBOX", ...

struct ChangeRecord {
  uint64_t seq = 0;     // store-wide, increasing in commit order per shard
  uint64_t shard = 0;   // where the record lives (0 = mailbox list)
  ChangeKind kind = ChangeKind::Mailbox;
  std::string arg1;     // mailbox name, userid, quota root ...
  std::string arg2;     // RENAME new name; SEEN/SUB second argument
};

// What read_changes() returned; pass it to ack_changes() once every record
// is safely on the replica.
struct ChangeBatch {
  std::vector<ChangeRecord> records;  // ordered by seq
};

// What a commit changed in one mailbox, announced to watchers after commit.
enum ChangeWhat : uint32_t {
  kChangedAppend = 1u << 0,
  kChangedFlags = 1u << 1,
  kChangedExpunge = 1u << 2,
  kChangedMailbox = 1u << 3,  // renamed, ACL, counters
  kChangedDeleted = 1u << 4,
};

struct MailboxEvent {
  std::string uniqueid;
  std::string name;
  uint32_t what = 0;  // ChangeWhat bits
  ModSeq highestmodseq = 0;
  Uid last_uid = 0;
  uint32_t exists = 0;
};

}  // namespace cyr::store
