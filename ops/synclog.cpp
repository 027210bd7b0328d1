// cyr_synclog: add one record to the replication change log, so that the
// rolling replicator syncs that user, mailbox, quota root... at its next
// pass, as Cyrus cyr_synclog(8) appends a line to {configdirectory}/sync/log.
//   cyr_synclog [-C imapd.conf] -u user | -m mailbox | -M mailbox | -a mailbox
//               | -q root | -n mailbox | -c mailbox | -v user
//               | -s user mailbox | -b user mailbox | "RAW LOG LINE"
// Our change log is the store's change records (docs/store.md), not a text
// file: the record goes into mailboxes.db through layout::log_change_records,
// in one write transaction, as the admin repair tools log theirs.
//
// Like the store, it writes only where a change log is kept: on a primary
// with sync_log on or a failover peer (docs/replication.md). Elsewhere it
// writes nothing and says why (exit 78 with no log kept, 75 on a replica).
#include <cstdio>

#include "ops/adm/common.h"
#include "ops/adm/runbook_args.h"
#include "ops/commands.h"
#include "store/layout.h"
#include "store/sqlite_db.h"
#include "store/tool_changes.h"

namespace cyr::ops {
namespace {

constexpr const char* kSynclogUsage =
    "usage: cyr_synclog [-C imapd.conf] -{u|v} user | -{m|M|a|c|n} mailbox | -q quota-root\n"
    "                   | -{s|b} user mailbox | \"RAW LOG LINE\"\n"
    "  -u user     USER: the whole user        -v user   SIEVE: the user's Sieve scripts\n"
    "  -m mailbox  MAILBOX                     -M mbox   UNMAILBOX: remove it on the replica\n"
    "  -a mailbox  APPEND                      -c mbox   ACL (a MAILBOX record)\n"
    "  -q root     QUOTA                       -n mbox   ANNOTATION (\"\" = the server's)\n"
    "  -s user mailbox  SEEN                   -b user mailbox  SUB (subscription)\n"
    "  mailboxes are internal names: user.fred.Sent, example.com!user.fred, shared.news\n";

// Why this node takes no record, or "" when it does. Reads inside the
// caller's write transaction, so the answer holds for the commit.
Result<std::string> refusal(store::sql::Db& list) {
  auto role = list.prepare("SELECT value FROM node WHERE key='role'");
  if (!role.ok()) return role.take_error();
  auto row = role->step();
  if (!row.ok()) return row.take_error();
  bool replica = *row && role->i64(0) == 1;
  role->reset();
  if (replica)
    return std::string("this node is a replica; it keeps no change log (a replica does not chain): "
                       "run cyr_synclog on the primary");
  auto logs = store::node_logs_changes(list);
  if (!logs.ok()) return logs.take_error();
  if (!*logs)
    return std::string("this node keeps no replication log (sync_log is off and no failover_peer is set), "
                       "so no replicator would read the record: nothing written");
  return std::string();
}

}  // namespace

int synclog_main(int argc, char** argv) {
  auto args = adm::parse_synclog_args(adm::arg_views(argc, argv));
  if (!args.ok()) {
    fprintf(stderr, "cyr_synclog: %s\n%s", args.error().user_message.c_str(), kSynclogUsage);
    return adm::kExUsage;
  }
  adm::OpenedStore node;
  if (int rc = adm::open_node("cyr_synclog", args->conf_path, args->seen_by_name, node)) return rc;
  const auto& confdir = node.options.configdirectory;

  // A SEEN record names the mailbox by its uniqueid (it survives renames).
  sync::SyncLogEvent event = args->event;
  if (args->seen_by_name) {
    auto info = node.store->lookup(event.arg2);
    if (!info.ok()) {
      fprintf(stderr, "cyr_synclog: %s: %s\n", event.arg2.c_str(), info.error().user_message.c_str());
      return adm::kExDataErr;
    }
    event.arg2 = info->uniqueid;
    node.store.reset();  // its connections are not needed for the write below
  }
  std::vector<store::layout::LoggedChange> changes;
  for (auto& c : sync::change_records_of(event)) changes.push_back({c.kind, c.arg1, c.arg2});

  auto list_path = store::layout::list_db_path(confdir);
  std::error_code ec;
  if (!std::filesystem::exists(list_path, ec)) {
    fprintf(stderr, "cyr_synclog: no mailbox list in %s (is configdirectory right?)\n", confdir.c_str());
    return adm::kExNoInput;
  }
  auto list = store::sql::Db::open(list_path.string(), false);
  if (!list.ok()) {
    fprintf(stderr, "cyr_synclog: cannot open %s: %s\n", list_path.c_str(), list.error().describe().c_str());
    return adm::kExTempFail;
  }
  store::sql::Db& db = **list;
  if (auto st = db.exec("BEGIN IMMEDIATE"); !st) {
    fprintf(stderr, "cyr_synclog: %s\n", st.error().describe().c_str());
    return adm::kExTempFail;
  }
  auto why_not = refusal(db);
  Status st = why_not.ok() ? Status{} : Status(why_not.error());
  if (st && !why_not->empty()) {
    (void)db.exec("ROLLBACK");
    auto line = sync::format_sync_log_line(event);
    fprintf(stderr, "cyr_synclog: %s (%s)\n", why_not->c_str(),
            line.ok() ? line->substr(0, line->size() - 1).c_str() : "?");
    return why_not->starts_with("this node is a replica") ? adm::kExTempFail : adm::kExConfig;
  }
  if (st) st = store::layout::log_change_records(confdir, db, 0, changes);
  if (st) st = db.exec("COMMIT");
  if (!st) {
    (void)db.exec("ROLLBACK");
    fprintf(stderr, "cyr_synclog: cannot write the record: %s\n", st.error().describe().c_str());
    return adm::kExTempFail;
  }
  auto line = sync::format_sync_log_line(event);
  printf("logged %s", line.ok() ? line->c_str() : "1 record\n");
  return 0;
}

}  // namespace cyr::ops
