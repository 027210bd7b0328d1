// The arguments of three small runbook commands, parsed apart from running
// them so that every rule is unit-tested (tests/unit/ops/runbook_args_test.cpp):
//   cyr_deny         [-C conf] [-s services] [-m message] user | -a user | -l
//   cyr_synclog      [-C conf] -{u|U|v|m|M|a|c|q|n} value | -{s|b} user mailbox | "RAW LINE"
//   cyr_ctl_deliver  [-C conf] [-f deliver.db] (-d | -E days)
// Each returns the parsed request, or Invalid with a one-line message that
// the command prints before its usage (exit 64, EX_USAGE). Pure: no I/O.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "store/base/result.h"
#include "sync/sync_log.h"

namespace cyr::ops::adm {

// --- cyr_deny -----------------------------------------------------------------

enum class DenyMode { Deny, Allow, List };

struct DenyArgs {
  std::string conf_path = "/etc/imapd.conf";
  DenyMode mode = DenyMode::Deny;
  std::string user;      // Deny and Allow
  std::string services;  // -s; empty: every service ("*")
  std::string message;   // -m; empty: Cyrus's default message
};

// As Cyrus's cyr_deny: -a and -l exclude each other and -s/-m; exactly one
// user except with -l. Long forms --allow, --list, --services=, --message=
// are accepted too. The user, pattern list and message are checked with
// store::validate_deny_entry (lengths, control characters, empty patterns).
Result<DenyArgs> parse_deny_args(const std::vector<std::string_view>& args);

// --- cyr_synclog --------------------------------------------------------------

struct SynclogArgs {
  std::string conf_path = "/etc/imapd.conf";
  sync::SyncLogEvent event;
  // -s names a mailbox; the command resolves it to the uniqueid a SEEN record
  // carries (a SEEN record of the raw form already has the uniqueid).
  bool seen_by_name = false;
};

// One record: a type flag with its value(s) (-s and -b take "user mailbox"),
// or one raw log line ("SEEN fred 4e9c..."), as Cyrus's cyr_synclog. Mailbox
// names are internal names ("user.fred.Sent", "example.com!user.fred") and
// must pass store::validate_mailbox_name; user ids must be non-empty, without
// spaces or control characters, at most 255 bytes. UNUSER is refused: the
// change log has no such record (use cyr_sync_client -u, which removes a
// user the primary no longer has).
Result<SynclogArgs> parse_synclog_args(const std::vector<std::string_view>& args);

// --- cyr_ctl_deliver ----------------------------------------------------------

struct CtlDeliverArgs {
  std::string conf_path = "/etc/imapd.conf";
  std::string db_path;                // -f; empty: duplicate_db_path from the configuration
  bool dump = false;                  // -d
  std::optional<int64_t> prune_after;  // -E, in seconds (cyr_expire's duration syntax)
};

Result<CtlDeliverArgs> parse_ctl_deliver_args(const std::vector<std::string_view>& args);

// argv[1..argc) as views, for the commands' main().
std::vector<std::string_view> arg_views(int argc, char** argv);

}  // namespace cyr::ops::adm
