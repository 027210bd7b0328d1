// The rolling sync log: {configdirectory}/sync/[<channel>/]log (reference §7).
//
// Text, one event per line, "TYPE arg1 [arg2]\n". This module parses and
// writes those lines (bounded; CR/LF in a name is refused, as Cyrus does),
// and holds the pure decision logic of the rolling client: how one cycle's
// events are grouped and de-duplicated (coalesce_sync_log) and what happens
// to an item that failed (decide_on_failure). No file I/O here: the caller
// owns locking, the log -> log-run rename and fsync.
// Pure functions over values; thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "store/base/result.h"
#include "store/types.h"

namespace cyr::sync {

enum class SyncLogType {
  User,           // USER <userid>
  Unuser,         // UNUSER <userid>
  Meta,           // META <userid>
  Sieve,          // SIEVE <userid> (read like META)
  Mailbox,        // MAILBOX <mbox>
  Append,         // APPEND <mbox>
  DoubleMailbox,  // DOUBLEMAILBOX <mbox1> <mbox2>
  Rename,         // RENAME <old> <new>
  Unmailbox,      // UNMAILBOX <mbox>
  Quota,          // QUOTA <root>
  Annotation,     // ANNOTATION <mbox> ("" = server)
  Seen,           // SEEN <userid> <mailbox-uniqueid>
  Sub,            // SUB <userid> <mbox>
  Unsub,          // UNSUB <userid> <mbox>
};

const char* sync_log_type_name(SyncLogType t);
// 1 or 2.
int sync_log_arg_count(SyncLogType t);

struct SyncLogEvent {
  SyncLogType type = SyncLogType::Mailbox;
  std::string arg1;
  std::string arg2;  // only for the two-argument types
  friend bool operator==(const SyncLogEvent&, const SyncLogEvent&) = default;
};

struct SyncLogLimits {
  size_t max_line = 8192;        // bytes of one line
  size_t max_events = 1000000;   // lines in one log file
};

// One line with its LF. Arguments go bare when they can; otherwise in double
// quotes with \ " { } escaped. Errors (Errc::Invalid) for CR/LF in an
// argument, a wrong number of arguments, or an over-long line.
Result<std::string> format_sync_log_line(const SyncLogEvent& e, const SyncLogLimits& limits = {});

// One line without its LF (a trailing CR is tolerated). Errors name the problem.
Result<SyncLogEvent> parse_sync_log_line(std::string_view line, const SyncLogLimits& limits = {});

struct SyncLogReject {
  size_t line_number = 0;  // 1-based
  std::string reason;
};

struct SyncLogContents {
  std::vector<SyncLogEvent> events;
  std::vector<SyncLogReject> rejected;  // bad lines are skipped and reported, as Cyrus logs them
};

// A whole log file. A last line without LF (an interrupted writer) is still
// read. Fails only when the file holds more than limits.max_events lines.
Result<SyncLogContents> parse_sync_log(std::string_view content, const SyncLogLimits& limits = {});

// The store change records (the rolling replicator's input) one log event
// stands for: none for UNUSER (the change log has no such record; removing
// a user is cyr_sync_client -u's job), two MAILBOX records for
// DOUBLEMAILBOX, one otherwise. META and SIEVE become a SEEN record of the
// user with no uniqueid: all three make the rolling client sync the user's
// meta data (seen state, subscriptions, Sieve scripts). Used by
// cyr_sync_client -f and cyr_synclog.
std::vector<store::ChangeRecord> change_records_of(const SyncLogEvent& e);

// --- Mailbox names ------------------------------------------------------------

// The user owning an internal mailbox name ("user.fred.Sent" -> "fred",
// "example.com!user.fred" -> "fred@example.com", "user.j^doe" -> "j.doe",
// "DELETED.user.fred.x.5F1A" -> "fred"), or "" for a shared mailbox.
std::string mailbox_owner(std::string_view internal_name,
                          std::string_view deleted_prefix = "DELETED");

// "user.fred" -> "fred", "user.j^doe" -> "j.doe", "example.com!user.fred" ->
// "fred@example.com"; "" for a name that is not a user's INBOX.
std::string userid_of_inbox(std::string_view name);

// --- One cycle's plan -------------------------------------------------------------

struct MailboxGroup {
  std::string user;                    // "" = the group of all non-user mailboxes
  std::vector<std::string> mailboxes;  // de-duplicated, in first-seen order
};

struct SeenItem {
  std::string user;
  std::string uniqueid;
  friend bool operator==(const SeenItem&, const SeenItem&) = default;
};

struct SubItem {  // SUB and UNSUB alike: the reader checks the local state
  std::string user;
  std::string mailbox;
  friend bool operator==(const SubItem&, const SubItem&) = default;
};

// What one cycle does, in the order it must be run: mailbox groups (each
// followed by RESTART), quotas, annotations, seen, subs, unmailboxes, metas,
// users (each followed by RESTART), unusers. Every list is de-duplicated
// and keeps first-seen order.
struct SyncPlan {
  std::vector<MailboxGroup> mailbox_groups;
  std::vector<std::string> quotas;
  std::vector<std::string> annotations;
  std::vector<SeenItem> seen;
  std::vector<SubItem> subs;
  std::vector<std::string> unmailboxes;
  std::vector<std::string> metas;
  std::vector<std::string> users;
  std::vector<std::string> unusers;
};

// Groups and de-duplicates events: mailbox events by owning user (RENAME puts
// both names into the group of each user involved, DOUBLEMAILBOX both names
// into the first one's group); a USER cancels that user's META, SEEN and
// SUB; an UNUSER cancels META, SEEN, SUB and USER; a META cancels SEEN and SUB.
SyncPlan coalesce_sync_log(const std::vector<SyncLogEvent>& events,
                           std::string_view deleted_prefix = "DELETED");

// --- Failures -----------------------------------------------------------------------

enum class WorkKind { Mailbox, Quota, Annotation, Seen, Sub, Unmailbox, Meta, User, Unuser };

struct WorkItem {
  WorkKind kind = WorkKind::Mailbox;
  std::string name;  // mailbox, quota root, or annotation mailbox
  std::string user;  // Seen, Sub, Meta, User, Unuser
  std::string arg;   // Seen: mailbox uniqueid
  bool own_mailbox = false;  // Seen: the mailbox belongs to `user`
};

enum class FailureKind {
  Locked,  // NO IMAP_MAILBOX_LOCKED
  Other,
};

enum class FailureAction {
  Defer,          // write `requeue` back into the channel's log, retry next cycle
  PromoteToUser,  // add `user` to the users still to do this cycle
  PromoteToMeta,  // add `user` to the META syncs still to do
  AbortCycle,     // stop; log-run stays and is processed again
};

struct FailureDecision {
  FailureAction action = FailureAction::AbortCycle;
  std::string user;
  std::optional<SyncLogEvent> requeue;
};

// What the rolling client does when an item fails (reference §7.2 step 7).
// `named_channel`: deferring needs a channel log to write into.
FailureDecision decide_on_failure(const WorkItem& item, FailureKind kind, bool named_channel,
                                  std::string_view deleted_prefix = "DELETED");

// Applies a PromoteToUser / PromoteToMeta decision to the rest of the cycle:
// the USER (or META) sync is added once, and the pending items it covers are
// dropped by the same rules as in coalesce_sync_log. Other actions change nothing.
void apply_promotion(SyncPlan& plan, const FailureDecision& decision);

}  // namespace cyr::sync
