// Conversions between the store's view of a mailbox (store/types.h) and the
// csync MAILBOX and RECORD items (reference §3.2, §3.3), plus the mailbox's
// SYNC_CRC pair computed from store records (reference §6).
//
// Both the replica (sync_server) and the master (sync_client) use these, so
// the two ends agree by construction on flag order, OPTIONS letters and CRC
// input. Pure functions over values; thread-safe; no I/O.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "store/base/result.h"
#include "store/types.h"
#include "sync/dlist.h"
#include "sync/sync_crc.h"

namespace cyr::sync {

// The store and the wire number system flags differently; these map the
// bits both ways (\Expunged included).
using store::crc::wire_flags_from_store;
using store::crc::store_flags_from_wire;

// Cyrus OPTIONS letters P S D A <-> the store's opaque options bits
// (Cyrus OPT_POP3_NEW_UIDL, OPT_IMAP_SHAREDSEEN, OPT_IMAP_DUPDELIVER, OPT_IMAP_HAS_ALARMS).
std::string options_to_letters(uint32_t options);
uint32_t options_from_letters(std::string_view letters);

using store::crc::crc_record_of;
// Both CRCs of a mailbox from its records (tombstones may be included; they
// do not count): a full recomputation, for the verifier and the full path.
// The store keeps the same pair per mailbox (MailboxInfo::sync_crc).
using store::crc::mailbox_crcs;

// One RECORD %(...) item, with the savedate/createdmodseq virtual annotations.
Value record_to_dlist(const store::MessageRecord& r);
// Reads a RECORD item; every key of §3.3 except ANNOTATIONS is required.
Result<store::MessageRecord> record_from_dlist(const Value& v);

// A mailbox as carried by a MAILBOX item.
struct MailboxState {
  std::string uniqueid;
  std::string name;
  std::string mbtype;  // "" = plain e-mail mailbox
  std::string partition;
  std::string acl;
  uint32_t options = 0;
  SyncCrcs crcs{0, 0};  // 0 = not sent / don't compare
  store::Uid last_uid = 0;
  store::ModSeq highestmodseq = 0;
  store::Uid recentuid = 0;
  int64_t recenttime = 0;
  int64_t last_appenddate = 0;
  int64_t pop3_last_login = 0;
  int64_t pop3_show_after = 0;
  uint32_t uidvalidity = 0;
  store::ModSeq createdmodseq = 0;
  store::ModSeq foldermodseq = 0;
  std::string quotaroot;
  // Mailbox-level annotations (ANNOTATIONS key); mailbox field left empty.
  std::vector<store::Annotation> annotations;
  std::optional<store::ModSeq> since_modseq;
  SyncCrcs since_crcs{0, 0};
  bool has_records = false;  // a RECORD key was present
  std::vector<store::MessageRecord> records;

  bool intermediate() const { return mbtype.find('i') != std::string::npos; }
  bool deleted() const { return mbtype.find('d') != std::string::npos; }
};

MailboxState mailbox_state_of(const store::MailboxInfo& info, const SyncCrcs& crcs);

// The counters an APPLY MAILBOX sets (UIDVALIDITY aside: it only grows, the
// caller decides).
store::MailboxCounters counters_of(const MailboxState& m);

// The MAILBOX %(...) value in the key order of the 3.6 client. Records are
// written only if `with_records` (APPLY MAILBOX, FULLMAILBOX reply).
Value mailbox_to_dlist(const MailboxState& m, bool with_records);

// Reads a MAILBOX item. `strict` requires every key the 3.6 server requires
// for APPLY MAILBOX (§3.2 "R"); otherwise only UNIQUEID, MBOXNAME and the
// keys a client requires of a reply. Errors are Errc::Invalid naming the key.
Result<MailboxState> mailbox_state_from_dlist(const Value& v, bool strict);

// The internal name of a user's INBOX: "fred" -> "user.fred",
// "j.doe" -> "user.j^doe", "fred@example.com" -> "example.com!user.fred".
std::string user_inbox_name(std::string_view userid);

}  // namespace cyr::sync
