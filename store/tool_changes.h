// Change records for writes that admin tools make to a node's databases
// outside a Store: cyr_dbtool's raw key writes (set, delete) and
// cyr_reconstruct -m's rebuilt mailbox list. The store logs its own writes
// (docs/store.md, Change records); these tools write SQLite rows directly,
// so without this a rolling replica would keep the state from before an
// admin repair on the primary. Records go into the same change tables,
// through layout::log_change_records (shared sequence numbers, the shard's
// pending marker), in the tool's own write transaction.
//
// Logged only where the store logs Normal writes: on a primary. A replica
// takes writes from its primary only (WriteMode::Replication, which records
// nothing: a replica does not chain), so a tool run there writes as before
// and logs nothing, as Cyrus's tools log nothing where sync_log is off.
#pragma once

#include <cstdint>
#include <filesystem>
#include <vector>

#include "store/base/result.h"
#include "store/db_kv.h"
#include "store/layout.h"

namespace cyr::store {
namespace sql {
class Db;
}

// Whether writes to the node whose mailbox list is open as `list` go to the
// change log: its role (node table) is primary, or not set (a new or rebuilt
// list starts as a primary), and it keeps a replication log at all
// (layout::logs_changes: sync_log or a failover peer).
Result<bool> node_logs_changes(sql::Db& list);

// Which database of the node with `configdirectory` a path is (compared
// after resolving symbolic links and "..").
struct NodeDb {
  enum class Kind {
    List,     // {configdirectory}/mailboxes.db
    Shard,    // {configdirectory}/shards/<xx>/<id>.db (shard_id set)
    Other,    // another file in configdirectory (passwd.db, the duplicate and TLS databases...)
    Foreign,  // outside configdirectory (a checkpoint copy, a file elsewhere)
  };
  Kind kind = Kind::Foreign;
  uint64_t shard_id = 0;
};
NodeDb classify_node_db(const std::filesystem::path& configdirectory, const std::filesystem::path& db);

// The change records a write of one row of a list or shard database means,
// as the store's own writer of that row logs them:
//   list  mailbox(name)                  MAILBOX name, or UNMAILBOX name when deleted
//   list  annotation (server)            ANNOTATION ""
//   shard mailbox(mbid)                  MAILBOX name (before and after)
//   shard seen(userid, mbid)             SEEN userid uniqueid
//   shard subscription(userid, name)     SUB userid name
//   shard quota(mbid)                    QUOTA root
//   shard annotation(mbid, ...)          ANNOTATION name
// Node-local tables (role and epoch, shard numbers, pending markers,
// intents, the structure cache, unsynced marks) are not replicated: none.
// Index records and the change log itself are not written by tools this
// way (Errc::Invalid). A table with no rule is refused (Errc::Invalid)
// rather than written unlogged. `db` is the database written, inside the
// write transaction; a row naming a mailbox the shard does not have (an
// unknown mbid) gives none: no replicated state refers to it.
Result<std::vector<layout::LoggedChange>> changes_for_row_write(sql::Db& db, NodeDb::Kind kind, const KvWrite& w);

// A KvDb write hook for database `which` of the node with
// `configdirectory`: logs changes_for_row_write's records in the write's
// transaction when the node logs changes (node_logs_changes), and adds how
// many it logged to *logged. For an Other database: nothing (Cyrus does
// not replicate these either: sasldb, the duplicate delivery db and the
// TLS session cache are per-server). Not for Foreign databases.
KvWriteHook replication_log_hook(const std::filesystem::path& configdirectory, NodeDb which, size_t* logged);

}  // namespace cyr::store
