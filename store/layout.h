// The store's on-disk layout for the offline and repair tools (reconstruct,
// quota recompute, chk_cyrus, checkpoints): where a shard's database lives,
// the schemas of mailboxes.db and of a shard, and how an index record is
// written and checked. Defined in store_impl.cpp next to the code that uses
// the same definitions, so the layout lives in one place.
//
// These functions work on a caller's open database connection and take no
// lock of their own: a caller that writes must hold the database's write lock
// (BEGIN IMMEDIATE). Stateless; safe from any thread.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "store/base/result.h"
#include "store/types.h"

namespace cyr::store {
namespace sql {
class Db;
}

namespace layout {

// {configdirectory}/shards/<xx>/<id>.db, xx = id & 0xff in hex.
std::filesystem::path shard_db_path(const std::filesystem::path& configdirectory, uint64_t shard_id);
// {configdirectory}/mailboxes.db
std::filesystem::path list_db_path(const std::filesystem::path& configdirectory);

// CREATE TABLE IF NOT EXISTS ... of mailboxes.db and of a shard database.
const char* list_schema();
const char* shard_schema();

// The index format versions this build reads and writes. A shard stamped 0
// (PRAGMA user_version never set) is format 1: there is one format so far.
inline constexpr int64_t kIndexVersionMin = 1;
inline constexpr int64_t kIndexVersionMax = 1;

// One row of a shard's record table, with whether its checksum holds.
struct RecordRow {
  MessageRecord record;
  bool checksum_ok = false;
};

// Every record row of mailbox `mbid` (tombstones included), ascending UID.
// A row whose checksum fails is returned with checksum_ok = false, so a
// repair can tell damaged rows from missing ones.
Result<std::vector<RecordRow>> read_record_rows(sql::Db& db, int64_t mbid);
// Adds the mailbox table's SYNC_CRC columns (sync_crc, sync_crc_annot,
// sync_crc_modseq) to a shard made before they existed; nothing if they are
// there. Call inside a write transaction of `db`. The pair is valid only
// while sync_crc_modseq equals the mailbox's highestmodseq: the store
// recomputes it from the records otherwise, and stores it at its next write.
Status ensure_sync_crc_columns(sql::Db& db);
// Adds the record table's structure_id column (where a record's structure
// is found in structure_blob) and the mailbox table's unsynced_uid (the
// overlapped commit's mark) to a shard made before they existed; nothing if
// they are there. Call inside a write transaction of `db`. Records without a
// structure_id keep their structure in the older `structure` table.
Status ensure_structure_id_column(sql::Db& db);
// The UIDs of mailbox `mbid`'s records that have a stored structure.
Result<std::set<Uid>> structure_uids(sql::Db& db, int64_t mbid);
// Deletes one record row and its structure.
Status delete_record(sql::Db& db, int64_t mbid, Uid uid);
// Inserts or replaces a record (with its checksum) and, if given, its
// serialized MessageStructure, exactly as the store writes them. It does not
// keep the mailbox's SYNC_CRC pair: the caller stores a recomputed one.
Status write_record(sql::Db& db, int64_t mbid, const MessageRecord& r,
                    const std::string* structure);

// Records a write made by a repair tool in the replication change log, as
// the store records its own, so that the rolling replicator sends it: adds
// one change record per (kind, arg1) to the caller's open write transaction
// (BEGIN IMMEDIATE) on `db`, which is shard `shard_id`'s database or, for
// shard_id 0, mailboxes.db, with sequence numbers from the store's shared
// reservation ({configdirectory}/change_seq); for a shard, also commits the
// shard's pending marker in mailboxes.db before returning, so the records
// are found once the caller commits. Changes nothing if `changes` is empty,
// or if the node keeps no replication log (logs_changes below).
Status log_changes(const std::filesystem::path& configdirectory, sql::Db& db, uint64_t shard_id,
                   const std::vector<std::pair<ChangeKind, std::string>>& changes);

// One change record with both arguments (SEEN userid uniqueid, SUB userid
// mailbox); arg2 is "" for the other kinds.
struct LoggedChange {
  ChangeKind kind = ChangeKind::Mailbox;
  std::string arg1, arg2;
  bool operator==(const LoggedChange&) const = default;
};
// log_changes with arg2: the same transaction, marker and sequence rules.
Status log_change_records(const std::filesystem::path& configdirectory, sql::Db& db, uint64_t shard_id,
                          const std::vector<LoggedChange>& changes);
// Whether the node keeps a replication log (sync_log or a failover peer), as
// its primary process recorded in mailboxes.db (`list`) at its last start;
// yes when nothing is recorded.
Result<bool> logs_changes(sql::Db& list);

}  // namespace layout
}  // namespace cyr::store
