// Repair of the store from what is on disk (cyr_reconstruct, cyr_chk_cyrus):
// rebuild a mailbox's index from its message files, rebuild the mailbox list
// from the shard databases and partitions, and check that every indexed
// message has its file with the right size and GUID.
//
// Works on the store's files directly (store/layout.h), not through a Store:
// these run as separate processes, possibly while cyr_master serves the same
// configdirectory. Every index change is one BEGIN IMMEDIATE transaction of
// the mailbox's shard database, so it serializes with a running store's
// writers through SQLite's lock. Replacing a database file (a missing or
// unreadable shard, the mailbox list) is refused while a master runs
// (RepairOptions::node_running), because the master would keep writing to
// the file it has open.
//
// Never deletes a message file. A file whose UID cannot be used is given a
// new UID by linking it under the new name before the commit and removing
// the old name only after it. Damaged database files are moved aside, never
// deleted.
//
// A Repairer is used by one thread; it caches which shards it has checked.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "store/base/result.h"
#include "store/store.h"
#include "store/types.h"

namespace cyr::store {

struct RepairOptions {
  std::filesystem::path configdirectory;
  std::map<std::string, std::filesystem::path> partitions;
  size_t max_message_size = 64u << 20;  // larger files are reported, not indexed
  std::string defaultacl = "anyone\tlrs\t";
  std::string owner_rights = "lrswipkxtecdan";
  bool dry_run = false;       // report what would change, change nothing
  bool rehash = false;        // read every message file and compare its GUID
  bool node_running = false;  // a master uses this store: never replace a database file

  static RepairOptions from(const StoreOptions& o);
};

// One finding, as a line an admin can act on ("user.fred: uid 7: ...").
using RepairNote = std::function<void(const std::string&)>;

// What reconstructing one mailbox found and did (or would do, on a dry run).
struct MailboxRepair {
  std::string mailbox;
  uint64_t shard_id = 0;
  uint32_t exists = 0;
  Uid last_uid = 0;
  ModSeq highestmodseq = 0;
  size_t records_kept = 0;      // records whose file was there and matched
  size_t files_added = 0;       // files with no record, indexed under their own UID
  size_t files_renumbered = 0;  // files indexed under a new UID (theirs was taken or invalid)
  size_t files_missing = 0;     // records whose file is gone (now expunged)
  size_t records_damaged = 0;   // records failing their checksum, rebuilt from the file
  size_t records_fixed = 0;     // GUID or size corrected from the file
  size_t counters_fixed = 0;    // mailbox counters corrected
  bool index_created = false;   // the mailbox had no index state at all
  bool shard_replaced = false;  // its shard database was missing or unreadable
  bool changed() const {
    return files_added || files_renumbered || files_missing || records_damaged || records_fixed ||
           counters_fixed || index_created || shard_replaced;
  }
};

// A mailbox directory on a partition whose unique id is not in the list.
struct UnlistedDirectory {
  std::string partition;
  std::string uniqueid;
  std::filesystem::path path;
  size_t message_files = 0;
  // From a shard database that still knows the mailbox; empty if none does.
  std::string known_name;
  uint64_t shard_id = 0;
  uint32_t uidvalidity = 0;
};

struct ListRebuild {
  size_t mailboxes = 0;         // rows in the new list
  size_t from_old_list = 0;     // kept from the readable part of the old list
  size_t from_shards = 0;       // found only in shard databases (default ACL)
  size_t shards = 0;
  bool node_state_kept = false;  // role/epoch came from the old list
  size_t logged = 0;             // MAILBOX change records written for replication
  std::vector<UnlistedDirectory> unknown;  // directories no database names
  std::filesystem::path old_list_saved_as;  // "" if there was no old file
};

class Repairer {
 public:
  Repairer(RepairOptions opts, RepairNote note) : opts_(std::move(opts)), note_(std::move(note)) {}

  // Names in the list: all, or `top` and (recursive) everything below it;
  // only those on `partition` unless it is empty.
  Result<std::vector<std::string>> listed(const std::string& top, bool recursive,
                                          const std::string& partition = "");
  // Mailboxes whose index lives in shard `shard_id` (from the list).
  Result<std::vector<std::string>> mailboxes_of_shard(uint64_t shard_id);

  // Rebuilds one listed mailbox's index from its message files.
  Result<MailboxRepair> reconstruct(const std::string& mailbox);

  // Mailbox directories on the partitions (optionally one) not in the list.
  Result<std::vector<UnlistedDirectory>> unlisted_directories(const std::string& partition = "");
  // Adds a directory a shard still knows (known_name set) back to the list,
  // with the default ACL. Errc::Exists if the name is listed with another id.
  Status relist(const UnlistedDirectory& d);

  // Rebuilds mailboxes.db from its readable rows, the shard databases and
  // the partitions. The old file is moved aside, never deleted.
  Result<ListRebuild> rebuild_list();

  // chk_cyrus: every live record of `mailbox` has its file with the right
  // size and GUID. Returns the number of problems (each one noted).
  Result<size_t> check_files(const std::string& mailbox);

 private:
  RepairOptions opts_;
  RepairNote note_;
  std::set<uint64_t> healthy_shards_;  // shards checked (quick_check) by this run
};

}  // namespace cyr::store
