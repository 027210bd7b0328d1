// SYNC_CRC and SYNC_CRC_ANNOT exactly as Cyrus 3.x computes them (reference §6).
//
// Both are XORs of per-record CRC-32 values, so the store keeps them
// incrementally (every record write XORs the old record's value out and the
// new one's in, in the same transaction, as Cyrus keeps them in its index
// header; see MailboxInfo::sync_crc) and sync/ recomputes them from scratch
// where that is the point (the verifier, the full path). They live in
// store/ because the store maintains them and may not depend on sync/;
// sync/sync_crc.h adds the wire (dlist) conversions. Pure functions;
// thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "store/types.h"

namespace cyr::store::crc {

// CRC-32 as zlib's crc32(crc, buf, len): reflected polynomial 0xEDB88320,
// pre- and post-inverted, so crc32(b) == crc32(crc32(a), b) for a+b.
uint32_t crc32(std::string_view bytes, uint32_t crc = 0);

// Starting values (Cyrus CRC_INIT_BASIC / CRC_INIT_ANNOT). The annot CRC
// started at 0 before 3.2.
constexpr uint32_t kCrcInitBasic = 0;
constexpr uint32_t kCrcInitAnnot = 12345678;
constexpr uint32_t kCrcInitAnnotBefore32 = 0;

// System flag bits of a record.
enum SystemFlag : uint32_t {
  kFlagDeleted = 1u << 0,
  kFlagAnswered = 1u << 1,
  kFlagFlagged = 1u << 2,
  kFlagDraft = 1u << 3,
  kFlagSeen = 1u << 4,
  kFlagExpunged = 1u << 5,  // tombstone; never counted in a CRC
};

// The names in the order Cyrus writes FLAGS: \Deleted \Answered \Flagged
// \Draft \Expunged \Seen. Returns nullptr for a bit that is not a flag.
const char* system_flag_name(SystemFlag f);

struct CrcAnnotation {
  std::string entry;   // e.g. "/comment"
  std::string userid;  // "" for a shared value
  std::string value;   // bytes; an empty value means "not set" and is skipped
};

// What the CRCs depend on in one index record.
struct CrcRecord {
  uint32_t uid = 0;
  uint64_t modseq = 0;
  int64_t last_updated = 0;  // Unix seconds
  int64_t internaldate = 0;  // Unix seconds
  uint32_t system_flags = 0; // SystemFlag bits
  std::vector<std::string> user_flags;  // names as stored (case is folded for the CRC)
  std::string guid;          // 40 hex digits as written on the wire (lower case)
  // Per-message annotations as stored in the annotation database. The three
  // virtual entries below are taken from the fields, not from this list.
  std::vector<CrcAnnotation> annotations;
  uint64_t cid = 0;            // conversation id ("thrid"); 0 = none
  int64_t savedate = 0;        // 0 = none
  uint64_t createdmodseq = 0;  // 0 = none

  bool expunged() const { return (system_flags & kFlagExpunged) != 0; }
};

struct CrcOptions {
  uint32_t annot_init = kCrcInitAnnot;
  // The mailbox index minor version: thrid counts from 13, savedate from 15,
  // createdmodseq from 16 (3.4/3.6 use 17).
  int index_version = 17;
};

struct SyncCrcs {
  uint32_t basic = kCrcInitBasic;
  uint32_t annot = kCrcInitAnnot;
  friend bool operator==(const SyncCrcs&, const SyncCrcs&) = default;
};

// XOR of crc32 of each lower-cased flag name (\Expunged and \Recent excluded).
uint32_t flag_crc(uint32_t system_flags, const std::vector<std::string>& user_flags);

// The text whose CRC-32 is a record's basic contribution:
// "<uid> <modseq> <last_updated> (<flagcrc>) <internaldate> <guid>".
std::string basic_crc_text(const CrcRecord& r);

// One record's contribution to the basic CRC (0 for an expunged record).
uint32_t record_crc_basic(const CrcRecord& r);

// One record's contribution to the annot CRC (0 for an expunged record):
// XOR of crc32("<uid> <entry> <userid> <value>") over its annotations with a
// non-empty value, plus the virtual thrid/savedate/createdmodseq entries.
uint32_t record_crc_annot(const CrcRecord& r, const CrcOptions& opts = {});

// Both CRCs of a mailbox from scratch.
SyncCrcs sync_crcs(const std::vector<CrcRecord>& records, const CrcOptions& opts = {});

// Cyrus's mailbox_crceq: equal unless, for basic or annot, both sides are
// non-zero and differ (0 means "unknown, don't compare").
bool sync_crcs_match(const SyncCrcs& a, const SyncCrcs& b);

// Names of the virtual annotations carried in RECORD ANNOTATIONS.
inline constexpr std::string_view kAnnotThrid = "/vendor/cmu/cyrus-imapd/thrid";
inline constexpr std::string_view kAnnotSavedate = "/vendor/cmu/cyrus-imapd/savedate";
inline constexpr std::string_view kAnnotCreatedModseq = "/vendor/cmu/cyrus-imapd/createdmodseq";

// The store and the wire number system flags differently (store/types.h
// and SystemFlag above); these map the bits both ways, \Expunged included.
uint32_t wire_flags_from_store(uint32_t store_system_flags);
uint32_t store_flags_from_wire(uint32_t wire_system_flags);

// What the CRCs read of a store record. The store keeps no per-message
// annotations and no conversation id, so those stay empty.
CrcRecord crc_record_of(const MessageRecord& r);

// One store record's contribution to a mailbox's pair ({0, 0} for a
// tombstone): the mailbox's pair is its starting values XOR the
// contributions of its records, so a write XORs the old record's
// contribution out and the new one's in.
SyncCrcs record_contribution(const MessageRecord& r);
inline void xor_into(SyncCrcs& into, const SyncCrcs& c) {
  into.basic ^= c.basic;
  into.annot ^= c.annot;
}

// Both CRCs of a mailbox from scratch (tombstones may be included; they
// do not count).
SyncCrcs mailbox_crcs(const std::vector<MessageRecord>& records);

}  // namespace cyr::store::crc
