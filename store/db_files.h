// The node's databases as files (cyr_cyrusdb): which SQLite files a node has,
// checking them (Cyrus "ctl_cyrusdb -r" at START), consistent online
// checkpoints (ctl_cyrusdb -c) and restoring from one.
//
// A checkpoint is a directory {configdirectory}/db.backup1 (newest) ..
// db.backupN: for every database, "<label>.zst", a zstd-compressed copy taken
// with SQLite's online backup API (one read transaction per database, so each
// copy is consistent while the node keeps writing; copies of different
// databases are taken one after another, not at one instant), and MANIFEST
// ("label TAB path TAB bytes TAB xxh3-64 hex" per line) naming where each
// came from. A new checkpoint is written whole under db.backup.new and only
// then rotated in, so a crash never leaves a half checkpoint as db.backup1.
//
// Restoring replaces database files, so the node must be stopped; the file
// it replaces is moved aside ("<path>.before-restore-<time>"), never deleted.
// Stateless functions; one caller thread.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "store/base/result.h"

namespace cyr::store {

struct NodeDatabase {
  std::string label;           // "mailboxes.db", "shards/3a/58.db", "deliver.db", "passwd.db"
  std::filesystem::path path;  // where it lives
};

// Every shard database file below configdirectory/shards, by shard id: only
// files at exactly the path the layout gives their id (strays are ignored).
std::map<uint64_t, std::filesystem::path> shard_database_files(const std::filesystem::path& configdirectory);

// mailboxes.db, every shard database, the duplicate database and passwd.db
// (those that exist). duplicate_db_path may be empty (default location).
std::vector<NodeDatabase> node_databases(const std::filesystem::path& configdirectory,
                                         const std::filesystem::path& duplicate_db_path = {});

// PRAGMA quick_check (full: integrity_check) of one database; Ok or
// Errc::Corrupted with SQLite's first complaint. Opening it also replays its
// WAL (SQLite's recovery).
Status check_database(const std::filesystem::path& path, bool full = false);

// Leftovers of interrupted work older than `min_age_seconds`: half-written
// checkpoints, rebuilds and restores, shard files being created. Removed
// unless dry_run; returns their paths.
std::vector<std::filesystem::path> remove_leftovers(const std::filesystem::path& configdirectory,
                                                    int64_t min_age_seconds, bool dry_run);

struct CheckpointEntry {
  NodeDatabase db;
  uint64_t bytes = 0;       // uncompressed
  uint64_t compressed = 0;
  uint64_t xxh3 = 0;
};

// Writes a new checkpoint of `dbs` and rotates it in as db.backup1, keeping
// `keep` checkpoints (>= 1). progress(done, total) after each database.
Result<std::vector<CheckpointEntry>> checkpoint(
    const std::filesystem::path& configdirectory, const std::vector<NodeDatabase>& dbs, int keep,
    const std::function<void(size_t, size_t)>& progress = {});

// The entries of a checkpoint directory's MANIFEST.
Result<std::vector<CheckpointEntry>> read_manifest(const std::filesystem::path& dir);

struct RestoredDatabase {
  CheckpointEntry entry;
  std::filesystem::path saved_as;  // the replaced file, moved aside ("" if none)
};

// Restores the entries of checkpoint `dir` whose label is in `only` (all if
// empty): each is decompressed next to its target, its size and checksum and
// quick_check verified, then renamed into place. The first failure stops
// with the files restored so far in place (each restore is whole).
Result<std::vector<RestoredDatabase>> restore_checkpoint(const std::filesystem::path& dir,
                                                         const std::vector<std::string>& only);

// Renames a database file and its -wal/-shm to "<path>.<why>-<UTC time>"
// (a stale WAL left next to a new file of the same name would be replayed
// into it). Returns the new name of the file, "" if there was none.
Result<std::filesystem::path> move_database_aside(const std::filesystem::path& p, const std::string& why);

}  // namespace cyr::store
