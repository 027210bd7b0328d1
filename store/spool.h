// Spool: the message files of the store's partitions.
//
// Layout (see docs/store.md): {partition}/uuid/<u0>/<u1>/<uniqueid>/<uid>.
// for messages and {partition}/stage./ for files being written. Message files
// are immutable once linked into a mailbox directory. Every fsync goes
// through fsync_fd() so that tests can inject failures.
//
// Thread-safe: holds only configuration; each call works on its own files.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "store/base/result.h"
#include "store/types.h"

namespace cyr::store {

// A message file ready to be linked into one or more mailbox directories:
// its GUID and parsed structure are known, and its data is on disk (fsync'd)
// unless `synced` is false (stage() with defer_sync): then the commit that
// links it must fsync it first (Spool::fsync_many).
struct StagedMessage {
  std::string path;          // file to link from
  bool owned = false;        // the store created it and removes it afterwards
  bool synced = true;        // false: fsync before the index commit
  uint64_t size = 0;
  mail::MessageGuid guid;
  std::string structure;     // serialized MessageStructure
  std::string partition;
  // The message itself, kept by stage() when it is not synced and at most
  // the spool's journal_max bytes: the commit then writes these bytes into
  // the shard's body journal instead of flushing the file (see
  // docs/store.md, Body journal). Empty otherwise.
  std::string bytes;
  bool journaled() const { return !synced && bytes.size() == size && size > 0; }
};

// Opens `p` (a file or a directory) read-only and fsyncs it: the durability
// step after writing a file or changing a directory's entries, for code that
// works outside a Spool (repair, checkpoints). No fault-injection hook.
Status fsync_path(const std::filesystem::path& p);

// Creates `dir` (and missing parents) and asks the file system to place
// each directory created inside it in a group of its own choosing (ext4's
// "top directory" flag, chattr +T) instead of next to `dir`. For a
// directory whose subdirectories receive many new files, such as the
// replica's per-session staging: ext4 allocates a new file's inode in its
// directory's group and, without a journal, scans past every inode of that
// group freed in the last minutes on each allocation. A group where many
// files were just deleted then costs ~0.2 ms of CPU per created file
// (docs/performance.md, Replication); spreading the sessions avoids such
// groups. Only a placement hint: Errc::Invalid when the file system has no
// such flag (the caller goes on without it), Errc::Io if `dir` cannot be made.
Status spread_subdirectories(const std::filesystem::path& dir);

class Spool {
 public:
  // journal_max: stage() with defer_sync keeps the bytes of messages up to
  // this size (StagedMessage::bytes) for the body journal; 0 keeps none.
  Spool(std::map<std::string, std::filesystem::path> partitions,
        std::function<int(int)> fsync_hook, size_t max_message_size, size_t journal_max = 0);
  ~Spool();
  Spool(const Spool&) = delete;
  Spool& operator=(const Spool&) = delete;

  bool has_partition(const std::string& p) const { return partitions_.count(p) != 0; }
  Result<std::filesystem::path> root(const std::string& partition) const;
  Result<std::filesystem::path> mailbox_dir(const std::string& partition,
                                            const std::string& uniqueid) const;
  Result<std::filesystem::path> message_path(const std::string& partition,
                                             const std::string& uniqueid, Uid uid) const;

  // Makes the bytes of `src` durable as a file on `partition` (writing a
  // staging file for memory sources, fsyncing a caller's file), and computes
  // GUID and structure. Errc::TooBig above max_message_size.
  // defer_sync: the file (a caller's, or the staging file written for a
  // memory source) is not fsync'd here but returned with synced = false, so
  // that the commit can fsync it together with the mailbox directory it is
  // linked into (fsync_many) instead of one after the other.
  Result<StagedMessage> stage(const std::string& partition, const MessageSource& src,
                              bool defer_sync = false) const;
  // stage() for many messages at once, from up to kMaxStageThreads threads,
  // so that their fsyncs are in flight together (the file system then
  // commits them in shared journal transactions instead of one after
  // another). Every returned message is durable, in the order of `srcs`.
  // On any failure, nothing staged is kept and the error of the first
  // failing message (by index) is returned. The fsync hook may be called
  // from several threads at once.
  Result<std::vector<StagedMessage>> stage_many(const std::string& partition,
                                                const std::vector<const MessageSource*>& srcs,
                                                bool defer_sync = false) const;
  static constexpr size_t kMaxStageThreads = 16;
  // Up to this many messages staged with defer_sync (nothing to fsync) are
  // staged on the calling thread.
  static constexpr size_t kInlineStageMax = 8;
  // Copies an existing file into a new staging file on `partition`.
  Result<StagedMessage> stage_copy(const std::string& partition, const std::string& from) const;
  void discard(const StagedMessage& m) const;

  // Links `from` as `to`, replacing a stale `to` (an orphan left by a crash
  // before its index commit: its uid was never acknowledged). Creates the
  // directory if needed; every directory created or changed is added to
  // `dirs_to_sync`.
  Status link(const std::string& from, const std::filesystem::path& to,
              std::set<std::string>& dirs_to_sync) const;
  // Creates `dir` and its missing parents; the parent of every directory
  // created is added to `dirs_to_sync` (the new entries are durable once
  // those are fsync'd). An existing `dir` adds nothing.
  Status make_dirs(const std::filesystem::path& dir, std::set<std::string>& dirs_to_sync) const;
  Status fsync_dir(const std::string& dir) const;
  // Makes the file `to` hold exactly `data` (the body journal's recovery):
  // an existing file with those bytes is left alone (returns false);
  // otherwise the bytes are written into it in place, so that every hard
  // link of it is repaired, or into a new file (returns true). The file is
  // not fsync'd; its directory and any directory created are added to
  // `dirs_to_sync`.
  Result<bool> restore(const std::filesystem::path& to, std::string_view data,
                       std::set<std::string>& dirs_to_sync) const;
  // Fsyncs every file in `files` and every directory in `dirs`, with up to
  // kMaxStageThreads of them in flight at once: independent fsyncs issued
  // together cost about one disk flush instead of one each (measured on
  // ext4: a message file and its directory, 3.4 ms one after the other,
  // 1.7 ms together). Returns once all are done; the first error, if any.
  // missing_ok: a path that no longer exists is skipped (the body journal's
  // late flush, where an expunge may have unlinked a file meanwhile).
  Status fsync_many(const std::vector<std::string>& files, const std::vector<std::string>& dirs,
                    bool missing_ok = false) const;
  // Makes everything written to the file systems of `partitions` durable:
  // syncfs(2) on each partition root, one disk flush for any number of
  // files and directories (the body journal's late flush, which goes
  // through fsync_many instead when a fault-injection hook is set).
  Status sync_partitions(const std::set<std::string>& partitions) const;
  // fsync_many() that runs `alongside` on the calling thread while the
  // fsyncs are in flight on the workers (the shard's index commit, so that
  // its WAL flush overlaps theirs; see StoreImpl::run_batch for the recovery
  // rule that makes that safe). Returns once both are done; the status is
  // that of the fsyncs.
  Status fsync_many_alongside(const std::vector<std::string>& files, const std::vector<std::string>& dirs,
                              const std::function<void()>& alongside, bool missing_ok = false) const;
  bool has_fsync_hook() const { return static_cast<bool>(fsync_hook_); }
  int fsync_fd(int fd) const;

  // Removes files "<uid>." with uid > last_uid from a mailbox directory
  // (written but never indexed). Returns how many were removed.
  size_t remove_orphans(const std::filesystem::path& dir, Uid last_uid) const;
  // Empties every partition's staging directory (called at open).
  void clear_staging() const;

 private:
  Result<std::string> new_stage_path(const std::string& partition) const;

  std::map<std::string, std::filesystem::path> partitions_;
  std::function<int(int)> fsync_hook_;
  size_t max_message_size_;
  size_t journal_max_;
  // Threads of fsync_many, started at its first use with more than one path.
  class SyncWorkers;
  mutable std::mutex workers_mu_;
  mutable std::unique_ptr<SyncWorkers> workers_;
};

// Serialized MessageStructure of a message (parsed once, at append).
std::string parse_structure_blob(std::string_view bytes);

}  // namespace cyr::store
