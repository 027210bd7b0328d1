// StoreImpl: the implementation of store/store.h. See docs/store.md for the
// on-disk layout and the transaction rules this file follows.
//
// Structure:
//   - ListDb: mailboxes.db (the mailbox list, shard ids, node state, list
//     change records, pending-shard markers, intents, server annotations).
//   - Shard: one SQLite database per owner with a group-commit queue.
//   - StoreImpl: the public operations, each "read the list, then one shard
//     write transaction".
#include <fcntl.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <fstream>
#include <list>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <shared_mutex>
#include <unordered_map>
#include <unordered_set>

#include "store/base/ascii.h"
#include "store/base/log.h"
#include "store/layout.h"
#include "store/base/thread_name.h"
#include "store/mail/mboxname.h"
#include "store/notify.h"
#include "store/spool.h"
#include "store/sqlite_db.h"
#include "store/store.h"
#include "store/sync_crc.h"

namespace cyr::store {

namespace fs = std::filesystem;
using sql::Db;
using sql::Stmt;
using sql::ResetOnExit;

namespace {

constexpr uint64_t kSeqReserveBlock = 1u << 20;
constexpr size_t kMaxBatchOps = 512;
constexpr int64_t kSchemaVersion = 1;

int64_t now_seconds() { return static_cast<int64_t>(::time(nullptr)); }

// A file the store creates or writes (not flushes) could not be: a full
// disk is NoSpace, which does not fence (nothing was committed), anything
// else Io.
Error create_error(const std::string& what, int err) {
  if (err == ENOSPC || err == EDQUOT) return Error(Errc::NoSpace, kNoSpaceMessage, what + ": " + strerror(err));
  return Error(Errc::Io, "Mailbox store I/O error", what + ": " + strerror(err));
}

bool fencing_error(const Error& e) {
  return e.code == Errc::Io || e.code == Errc::Corrupted || e.code == Errc::Internal ||
         e.code == Errc::Fenced;
}

Error not_found(const std::string& name) {
  return Error(Errc::NotFound, "Mailbox does not exist", name);
}

std::string new_uniqueid() {
  static std::mutex mu;
  static std::mt19937_64 rng(std::random_device{}() ^ (uint64_t(::getpid()) << 32) ^
                             uint64_t(now_seconds()));
  uint64_t a, b;
  {
    std::lock_guard lk(mu);
    a = rng();
    b = rng();
  }
  char buf[40];
  std::snprintf(buf, sizeof buf, "%08x-%04x-%04x-%04x-%012llx", uint32_t(a >> 32),
                uint32_t((a >> 16) & 0xffff), uint32_t(0x4000 | (a & 0x0fff)),
                uint32_t(0x8000 | ((b >> 48) & 0x3fff)),
                static_cast<unsigned long long>(b & 0xffffffffffffULL));
  return buf;
}

// Ours are UUIDs; Cyrus 2.4 made 16 hex digits and Cyrus 3.x makes 24
// characters of [a-z0-9] (makeuuid), which replication must accept as they
// are. Letters, digits and '-' only: the id becomes a directory name.
bool valid_uniqueid(std::string_view u) {
  if (u.size() < 2 || u.size() > 64) return false;
  for (char c : u)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-'))
      return false;
  return true;
}

// Keywords are IMAP atoms (no specials, no leading '\'); bounded.
Status validate_flags(const Flags& f) {
  if (f.system & ~kSettableSystemFlags)
    return Error(Errc::Invalid, "Invalid system flag", "system bits");
  if (f.keywords.size() > kMaxKeywordsPerMessage)
    return Error(Errc::Limit, "Too many keywords");
  for (auto& k : f.keywords) {
    if (k.empty() || k.size() > kMaxKeywordLength || k[0] == '\\')
      return Error(Errc::Invalid, "Invalid keyword", k.substr(0, 40));
    for (unsigned char c : k)
      if (c <= 0x20 || c >= 0x7f || std::strchr("(){%*\"\\]", c))
        return Error(Errc::Invalid, "Invalid keyword", k.substr(0, 40));
  }
  return {};
}

std::string join_keywords(const std::vector<std::string>& kw) {
  std::string s;
  for (auto& k : kw) {
    if (!s.empty()) s += ' ';
    s += k;
  }
  return s;
}

std::vector<std::string> split_keywords(std::string_view s) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < s.size()) {
    size_t j = s.find(' ', i);
    if (j == std::string_view::npos) j = s.size();
    if (j > i) out.emplace_back(s.substr(i, j - i));
    i = j + 1;
  }
  return out;
}

void add_keywords(std::vector<std::string>& to, const std::vector<std::string>& add) {
  for (auto& k : add) {
    bool have = false;
    for (auto& t : to)
      if (iequals(t, k)) { have = true; break; }
    if (!have) to.push_back(k);
  }
}

void remove_keywords(std::vector<std::string>& from, const std::vector<std::string>& rm) {
  from.erase(std::remove_if(from.begin(), from.end(),
                            [&](const std::string& k) {
                              for (auto& r : rm)
                                if (iequals(r, k)) return true;
                              return false;
                            }),
             from.end());
}

// Checksum of an index record: detects a record damaged on disk or by a bug
// that wrote one column without the others.
uint64_t record_crc(const MessageRecord& r, std::string_view keywords) {
  // The fields laid end to end and hashed in one call: XXH3 of a
  // concatenation equals the streaming hash of its pieces, so the value is
  // the one earlier versions stored with a heap-allocated XXH3 state per
  // record (an allocation that showed in SELECT of 100,000 messages).
  std::array<char, 256> small;
  std::string large;
  const size_t fixed = sizeof r.uid + sizeof r.modseq + sizeof r.createdmodseq + mail::MessageGuid::kSize +
                       sizeof r.flags.system + sizeof r.internaldate + sizeof r.savedate +
                       sizeof r.last_updated + sizeof r.size;
  char* buf = small.data();
  if (fixed + keywords.size() > small.size()) {
    large.resize(fixed + keywords.size());
    buf = large.data();
  }
  size_t n = 0;
  auto add = [&](const void* p, size_t len) {
    std::memcpy(buf + n, p, len);
    n += len;
  };
  add(&r.uid, sizeof r.uid);
  add(&r.modseq, sizeof r.modseq);
  add(&r.createdmodseq, sizeof r.createdmodseq);
  add(r.guid.bytes().data(), r.guid.bytes().size());
  add(&r.flags.system, sizeof r.flags.system);
  add(keywords.data(), keywords.size());
  add(&r.internaldate, sizeof r.internaldate);
  add(&r.savedate, sizeof r.savedate);
  add(&r.last_updated, sizeof r.last_updated);
  add(&r.size, sizeof r.size);
  uint64_t h = XXH3_64bits(buf, n);
  // SQLite integers are signed; keep the top bit clear to store it plainly.
  return h & 0x7fffffffffffffffULL;
}

bool is_same_or_below(std::string_view name, std::string_view top) {
  return name == top || (name.size() > top.size() && name.compare(0, top.size(), top) == 0 &&
                         name[top.size()] == '.');
}

// Replaces identifier `from` by `to` in a Cyrus ACL string ("id\trights\t"...).
std::string rename_acl_identifier(const std::string& acl, const std::string& from,
                                  const std::string& to) {
  std::string out;
  size_t i = 0;
  while (i < acl.size()) {
    size_t t1 = acl.find('\t', i);
    if (t1 == std::string::npos) { out += acl.substr(i); break; }
    size_t t2 = acl.find('\t', t1 + 1);
    if (t2 == std::string::npos) t2 = acl.size();
    std::string id = acl.substr(i, t1 - i);
    std::string rights = acl.substr(t1 + 1, t2 - t1 - 1);
    out += (id == from ? to : id) + "\t" + rights + "\t";
    i = t2 + 1;
  }
  return out;
}

const char* kListSchema = R"SQL(
CREATE TABLE IF NOT EXISTS node(key TEXT PRIMARY KEY, value) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS shard(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS mailbox(
  name TEXT PRIMARY KEY, uniqueid TEXT NOT NULL UNIQUE, shard_id INTEGER NOT NULL,
  partition TEXT NOT NULL, acl TEXT NOT NULL, uidvalidity INTEGER NOT NULL,
  mbtype INTEGER NOT NULL) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS mailbox_by_shard ON mailbox(shard_id);
CREATE TABLE IF NOT EXISTS change(seq INTEGER PRIMARY KEY, kind INTEGER NOT NULL,
  arg1 TEXT NOT NULL, arg2 TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS pending_shard(shard_id INTEGER PRIMARY KEY);
CREATE TABLE IF NOT EXISTS intent(id INTEGER PRIMARY KEY, shard_id INTEGER NOT NULL,
  kind TEXT NOT NULL, arg1 TEXT NOT NULL, arg2 TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS annotation(entry TEXT NOT NULL, userid TEXT NOT NULL,
  value TEXT NOT NULL, modseq INTEGER NOT NULL, PRIMARY KEY(entry, userid)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS foreign_seen(userid TEXT NOT NULL, uniqueid TEXT NOT NULL,
  PRIMARY KEY(userid, uniqueid)) WITHOUT ROWID;
)SQL";

// A message's MIME structure (~300 bytes) lives in structure_blob, a rowid
// table whose ids are handed out at its right edge (max + 1), and the record
// points to it (record.structure_id). Keyed by (mbid, uid) in a WITHOUT
// ROWID table (`structure`, as shards made before kept it), every insert
// went into the middle of an index b-tree whose pages hold ~13 rows, and
// SQLite rebalanced three sibling pages every few inserts: 1.94 WAL frames
// per commit for that table alone (docs/performance.md, run 10). An insert
// at the right edge of a rowid table splits by starting a new page instead.
// `structure` stays (created empty on new shards) and is read for records
// without a structure_id, so older shards need no migration of their rows.
const char* kShardSchema = R"SQL(
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS mailbox(
  mbid INTEGER PRIMARY KEY, uniqueid TEXT NOT NULL UNIQUE, name TEXT NOT NULL,
  partition TEXT NOT NULL, uidvalidity INTEGER NOT NULL, last_uid INTEGER NOT NULL,
  highestmodseq INTEGER NOT NULL, recentuid INTEGER NOT NULL, recenttime INTEGER NOT NULL,
  last_appenddate INTEGER NOT NULL, pop3_last_login INTEGER NOT NULL,
  pop3_show_after INTEGER NOT NULL, createdmodseq INTEGER NOT NULL,
  foldermodseq INTEGER NOT NULL, options INTEGER NOT NULL, quota_mbid INTEGER NOT NULL,
  exists_count INTEGER NOT NULL, total_size INTEGER NOT NULL,
  sync_crc INTEGER, sync_crc_annot INTEGER, sync_crc_modseq INTEGER, unsynced_uid INTEGER);
CREATE TABLE IF NOT EXISTS record(
  mbid INTEGER NOT NULL, uid INTEGER NOT NULL, modseq INTEGER NOT NULL,
  createdmodseq INTEGER NOT NULL, guid BLOB NOT NULL, system_flags INTEGER NOT NULL,
  keywords TEXT NOT NULL, internaldate INTEGER NOT NULL, savedate INTEGER NOT NULL,
  last_updated INTEGER NOT NULL, size INTEGER NOT NULL, crc INTEGER NOT NULL,
  structure_id INTEGER, PRIMARY KEY(mbid, uid)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS record_by_modseq ON record(mbid, modseq);
CREATE INDEX IF NOT EXISTS record_by_guid ON record(guid);
CREATE TABLE IF NOT EXISTS structure(mbid INTEGER NOT NULL, uid INTEGER NOT NULL,
  blob BLOB NOT NULL, PRIMARY KEY(mbid, uid)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS structure_blob(id INTEGER PRIMARY KEY, blob BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS seen(userid TEXT NOT NULL, mbid INTEGER NOT NULL,
  lastread INTEGER NOT NULL, lastuid INTEGER NOT NULL, lastchange INTEGER NOT NULL,
  seenuids TEXT NOT NULL, PRIMARY KEY(userid, mbid)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS subscription(userid TEXT NOT NULL, name TEXT NOT NULL,
  PRIMARY KEY(userid, name)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS quota(mbid INTEGER PRIMARY KEY, storage_limit INTEGER,
  message_limit INTEGER, storage_used INTEGER NOT NULL, message_used INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS annotation(mbid INTEGER NOT NULL, entry TEXT NOT NULL,
  userid TEXT NOT NULL, value TEXT NOT NULL, modseq INTEGER NOT NULL,
  PRIMARY KEY(mbid, entry, userid)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS change(seq INTEGER PRIMARY KEY, kind INTEGER NOT NULL,
  arg1 TEXT NOT NULL, arg2 TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS unsynced_file(mbid INTEGER NOT NULL, uid INTEGER NOT NULL,
  PRIMARY KEY(mbid, uid)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS body_journal(id INTEGER PRIMARY KEY, guid BLOB NOT NULL, data BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS sieve_script(userid TEXT NOT NULL, name TEXT NOT NULL,
  content BLOB NOT NULL, active INTEGER NOT NULL, last_update INTEGER NOT NULL,
  PRIMARY KEY(userid, name)) WITHOUT ROWID;
)SQL";

// A pool of read connections to one database file. Readers in WAL mode see
// the last committed state and never block the writer or each other.
// Shard databases are opened and closed all the time: max_open_shards is far
// below the number of users of a real node, and spread delivery writes to
// another user with nearly every message. SQLite's last connection to close
// a database checkpoints its WAL (two fsyncs) and deletes the WAL and -shm
// files, and the next open creates both again (two inode allocations, and a
// directory fsync at the first commit). strace of spread LMTP delivery: 2 of
// the 5 fsyncs per message, and file creation was the largest kernel cost.
// So shard connections leave the WAL in place when they close; commits
// checkpoint it every kShardWalPages pages instead, and journal_size_limit
// truncates it when it restarts, so a shard's WAL stays under ~1 MiB on disk.
// Durability is unchanged: every commit still fsyncs the WAL
// (synchronous=FULL), and a WAL left at close is read back at the next open.
constexpr int kShardWalPages = 128;

// SQLite opens a WAL file with SQLITE_OPEN_CREATE every time a connection
// opens the database, and the unix VFS then fsyncs the directory at the
// first sync of that WAL, whether the file was new or not: one more serial
// flush in the first commit after every reopen of an evicted shard (strace of
// spread delivery: ~0.45 directory fdatasyncs per message). This VFS, used
// for shard databases only, opens a WAL that already exists without
// SQLITE_OPEN_CREATE (so no directory sync) once its directory entry is
// known to be durable: this process fsync'd the directory after that very
// file (same inode) was created or found; the first open per WAL per process
// pays one directory fsync. Shard connections keep their WAL at close, so
// the file normally lives as long as the shard; one removed or replaced by
// another process (a repair tool) has another inode, or none, and is treated
// as new. One entry per shard opened in the life of the process (~100 bytes).
// Every other method is the default VFS's.
struct FileId {
  dev_t dev = 0;
  ino_t ino = 0;
  bool operator==(const FileId&) const = default;
};
std::optional<FileId> file_id(const char* path) {
  struct stat st;
  if (::stat(path, &st) != 0) return std::nullopt;
  return FileId{st.st_dev, st.st_ino};
}
std::mutex g_wal_mu;
std::unordered_map<std::string, FileId> g_durable_wals;  // path -> file, under g_wal_mu
sqlite3_vfs* g_default_vfs = nullptr;
sqlite3_vfs g_shard_vfs;
constexpr const char* kShardVfsName = "cyr-shard";

int shard_vfs_open(sqlite3_vfs*, const char* name, sqlite3_file* file, int flags, int* out_flags) {
  sqlite3_vfs* real = g_default_vfs;
  const bool wal = (flags & SQLITE_OPEN_WAL) != 0 && name != nullptr;
  if (!wal) return real->xOpen(real, name, file, flags, out_flags);
  bool durable = false;
  if (auto id = file_id(name)) {
    std::lock_guard lk(g_wal_mu);
    auto it = g_durable_wals.find(name);
    durable = it != g_durable_wals.end() && it->second == *id;
  }
  if (durable) {
    int rc = real->xOpen(real, name, file, flags & ~SQLITE_OPEN_CREATE, out_flags);
    if (rc == SQLITE_OK) return rc;
    // Gone after all (removed just now): create it as SQLite would.
  }
  int rc = real->xOpen(real, name, file, flags, out_flags);
  if (rc != SQLITE_OK) return rc;
  // The file exists now; make its entry durable before trusting it.
  auto id = file_id(name);
  std::string dir = fs::path(name).parent_path().string();
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  bool ok = id && dfd >= 0 && ::fsync(dfd) == 0;
  if (dfd >= 0) ::close(dfd);
  if (!ok) {
    if (file->pMethods) file->pMethods->xClose(file);
    file->pMethods = nullptr;
    return SQLITE_IOERR_DIR_FSYNC;
  }
  std::lock_guard lk(g_wal_mu);
  g_durable_wals[name] = *id;
  return SQLITE_OK;
}

// Registers the shard VFS once; nullptr (the default VFS) if that fails.
const char* shard_vfs() {
  static const char* name = [] () -> const char* {
    g_default_vfs = sqlite3_vfs_find(nullptr);
    if (!g_default_vfs) return nullptr;
    g_shard_vfs = *g_default_vfs;  // same methods, file size and app data
    g_shard_vfs.pNext = nullptr;
    g_shard_vfs.zName = kShardVfsName;
    g_shard_vfs.xOpen = shard_vfs_open;
    return sqlite3_vfs_register(&g_shard_vfs, 0) == SQLITE_OK ? kShardVfsName : nullptr;
  }();
  return name;
}

Status configure_shard_connection(Db& db) {
  if (sqlite3_db_config(db.raw(), SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, nullptr) != SQLITE_OK)
    return db.error("no checkpoint on close");
  const std::string autockpt = "PRAGMA wal_autocheckpoint=" + std::to_string(kShardWalPages);
  CYR_TRY(db.exec(autockpt.c_str()));
  return db.exec("PRAGMA journal_size_limit=1048576");
}

class DbPool {
 public:
  // shard: connections are configured by configure_shard_connection().
  explicit DbPool(std::string path, bool shard = false) : path_(std::move(path)), shard_(shard) {}

  class Lease {
   public:
    Lease(DbPool* pool, std::unique_ptr<Db> db) : pool_(pool), db_(std::move(db)) {}
    Lease(Lease&&) = default;
    ~Lease() {
      if (db_) pool_->put(std::move(db_));
    }
    Db* operator->() { return db_.get(); }
    Db& operator*() { return *db_; }

   private:
    DbPool* pool_;
    std::unique_ptr<Db> db_;
  };

  // An idle connection taken out of the pool for good, or null. A shard
  // reopened after eviction is usually read once (LMTP's RCPT lookup) and
  // then written (the delivery): the writer takes over the connection the
  // read left idle instead of opening a second one, which would cost
  // another open, WAL-index read, schema parse and set of prepared
  // statements per delivery.
  std::unique_ptr<Db> take_idle() {
    std::lock_guard lk(mu_);
    if (free_.empty()) return nullptr;
    auto db = std::move(free_.back());
    free_.pop_back();
    return db;
  }

  // A shard that fell out of the recently used ones (StoreImpl::touch):
  // `returned` (its writer, or null) joins the idle connections, all but
  // one of them are handed back for the caller to close outside the lock,
  // and the one kept gives back its page cache (sqlite3_db_release_memory:
  // every page is unpinned while the connection is idle, so SQLite frees
  // them and, with them, the 20-page block each connection allocates at its
  // first read). What stays is the connection itself, its parsed schema and
  // its prepared statements - the things a reopen spends its time on - so a
  // later use re-reads a dozen pages from the OS cache instead of opening
  // the database again. A connection still inside a transaction (a failed
  // batch) is closed rather than kept.
  std::vector<std::unique_ptr<Db>> trim(std::unique_ptr<Db> returned) {
    std::vector<std::unique_ptr<Db>> out;
    std::lock_guard lk(mu_);
    if (returned && sqlite3_get_autocommit(returned->raw()) == 0) out.push_back(std::move(returned));
    if (returned) free_.insert(free_.begin(), std::move(returned));  // the writer's statements are kept
    while (free_.size() > 1) {
      out.push_back(std::move(free_.back()));
      free_.pop_back();
    }
    if (!free_.empty()) sqlite3_db_release_memory(free_.front()->raw());
    return out;
  }

  Result<Lease> get() {
    {
      std::lock_guard lk(mu_);
      if (!free_.empty()) {
        auto db = std::move(free_.back());
        free_.pop_back();
        return Lease(this, std::move(db));
      }
    }
    auto db = Db::open(path_, false, shard_ ? shard_vfs() : nullptr);
    if (!db.ok()) return db.take_error();
    if (shard_) CYR_TRY(configure_shard_connection(**db));
    return Lease(this, std::move(*db));
  }

 private:
  void put(std::unique_ptr<Db> db) {
    std::lock_guard lk(mu_);
    if (free_.size() < 8) free_.push_back(std::move(db));
  }
  std::string path_;
  bool shard_ = false;
  std::mutex mu_;
  std::vector<std::unique_ptr<Db>> free_;
};

// A read transaction: all statements see one snapshot.
class ReadTxn {
 public:
  explicit ReadTxn(Db& db) : db_(db) { ok_ = db_.exec("BEGIN").ok(); }
  ~ReadTxn() {
    if (ok_) (void)db_.exec("COMMIT");
  }

 private:
  Db& db_;
  bool ok_ = false;
};

// One row of the mailbox list.
struct ListEntry {
  std::string name;
  std::string uniqueid;
  uint64_t shard_id = 0;
  std::string partition;
  std::string acl;
  uint32_t uidvalidity = 0;
  MailboxType type = MailboxType::User;
};

// The per-mailbox state row of a shard.
struct MbState {
  int64_t mbid = 0;
  MailboxInfo info;  // counters (name/acl filled from the list)
  int64_t quota_mbid = 0;
};

struct StagedSet {
  const Spool* spool = nullptr;
  std::vector<StagedMessage> msgs;
  ~StagedSet() {
    if (spool)
      for (auto& m : msgs) spool->discard(m);
  }
};

}  // namespace

class StoreImpl;
struct Shard;

// What one write operation leaves for after the commit.
struct WriteOp {
  std::function<Status(struct ShardTxn&)> fn;
  // The caller's mode, per op: a batch can mix a client's write (Normal,
  // logged for the replicator) with an internal one (Replication, e.g. the
  // replicator's acknowledgement), and each op's changes are logged or not
  // by its own mode, never by the mode of whichever op led the batch.
  WriteMode mode = WriteMode::Normal;
  Status result;
  bool done = false;
  std::vector<MailboxEvent> events;
  std::vector<std::string> unlink_after;  // files to remove once committed
  std::vector<std::string> rmdir_after;   // mailbox directories to remove
  std::vector<std::string> linked;        // links made (undone on rollback)
  std::vector<std::string> sync_files;    // staged files still to fsync before the commit
  // Messages whose bytes the op wrote into the shard's body journal instead
  // of flushing their files (ShardTxn::link_staged): the journal rows, and
  // the linked files and directories the late flush makes durable.
  std::vector<int64_t> journal_ids;
  std::vector<std::string> journal_files;
  std::set<std::string> journal_dirs;
  std::set<std::string> journal_partitions;
  std::set<std::string> journal_guids;  // one row per message per op
  // Every message the op linked was journaled: it is durable with its
  // commit, whatever the flushes alongside do.
  bool journaled_only() const { return !journal_files.empty() && unsynced.empty() && sync_files.empty(); }
  // The op marks each mailbox it links messages into (mailbox.unsynced_uid,
  // append_staged), so its commit may overlap the flushes of its files and
  // directories.
  bool registers_unsynced = false;
  std::vector<std::pair<int64_t, int64_t>> unsynced;  // (mbid, uid) it registered
  // Losing the op's effect in a power failure does no harm: it only forgets
  // acknowledged change records or drops an empty pending marker, and a
  // record that comes back is replicated again, which the replica takes as a
  // known round. A batch of only such ops commits without a disk flush
  // (synchronous=NORMAL: the WAL is flushed by the next full commit or
  // checkpoint) - in sync mode that was one flush per round on the primary.
  bool lazy = false;
  std::vector<uint64_t> logged;  // seqs of its change records, when tracked (own_unacked_)
};

struct Shard {
  uint64_t id = 0;
  std::string path;
  std::mutex write_mu;  // held by the group-commit leader for its whole batch
  std::unique_ptr<Db> writer;
  std::unique_ptr<DbPool> readers;
  std::mutex q_mu;
  std::condition_variable q_cv;
  std::deque<WriteOp*> queue;
  bool recovered = false;  // intents and orphans handled (under write_mu)
  // The records under the unsynced marks were checked by this process
  // (check_unsynced).
  std::mutex unsynced_mu;
  std::atomic<bool> unsynced_checked{false};
  // The database file is known to exist. Shard files are never removed while
  // the store is open, so once true this stays true, and readers skip the
  // stat() that would otherwise precede every read.
  std::atomic<bool> file_exists{false};

  // Its place in StoreImpl's recency lists (hot_ or cold_), under shards_mu_.
  std::list<Shard*>::iterator lru_pos;
  bool hot = false;

  bool has_file() {
    if (file_exists.load(std::memory_order_acquire)) return true;
    std::error_code ec;
    if (!std::filesystem::exists(path, ec)) return false;
    file_exists.store(true, std::memory_order_release);
    return true;
  }
};

// The context a write op runs in: one shard, one open SQLite transaction.
struct ShardTxn {
  StoreImpl* store = nullptr;
  Shard* shard = nullptr;
  Db* db = nullptr;
  WriteMode mode = WriteMode::Normal;
  WriteOp* op = nullptr;
  std::set<std::string> dirs_to_sync;
  bool wrote_changes = false;
  bool clean_marker = false;  // after commit: drop the pending marker if empty
  bool linger_marker = false;  // ... or keep it a while if the shard is written often (sync mode)
  // An op that does not mark the mailboxes it linked a file into:
  // the batch keeps the strict order (flushes, then the commit).
  bool strict_order = false;

  Status log_change(ChangeKind kind, const std::string& a1, const std::string& a2 = {});
  Result<MbState> load(const ListEntry& e);  // materializes the row if missing
  Status save(const MbState& m);
  Status link(const std::string& from, const fs::path& to);
  // Links a staged message as `to`. A message staged with its bytes kept
  // (StagedMessage::journaled) is written into the shard's body journal in
  // this transaction and its file and directory are left to the late flush
  // (BodyFlusher): the commit's own WAL flush makes it durable. Otherwise as
  // link(), with an unsynced file queued for the flush before the commit.
  // Returns whether the message was journaled.
  Result<bool> link_staged(const StagedMessage& s, const fs::path& to);
  void event(const MbState& m, uint32_t what) {
    op->events.push_back(MailboxEvent{m.info.uniqueid, m.info.name, what, m.info.highestmodseq,
                                      m.info.last_uid, m.info.exists});
  }
};

// The late flush of journaled messages (ShardTxn::link_staged). A journaled
// message is durable once its batch commits: its bytes are in the shard's
// WAL. Its file and directory entry are written but not flushed; this thread
// flushes them for many messages at once - every kFlushDelay or kFlushFiles
// files, with one syncfs(2) per partition or a flush per file and directory
// (run_once) - and then hands the journal rows
// to `done`, after which the shard's next batch deletes them. Until then a
// crash leaves rows that the next process's first use of the shard settles
// (StoreImpl::recover_journal).
class BodyFlusher {
 public:
  using Done = std::function<void(const Status&, std::map<uint64_t, std::vector<int64_t>>&)>;
  static constexpr auto kFlushDelay = std::chrono::milliseconds(100);
  static constexpr size_t kFlushFiles = 2048;
  // syncfs when the queued files average at least this many per directory.
  static constexpr size_t kSyncfsFilesPerDir = 4;
  // Writers wait while this many files are queued (the flush lags behind).
  static constexpr size_t kMaxQueuedFiles = 65536;

  BodyFlusher(const Spool& spool, Done done) : spool_(spool), done_(std::move(done)) {}
  ~BodyFlusher() { stop(); }
  BodyFlusher(const BodyFlusher&) = delete;
  BodyFlusher& operator=(const BodyFlusher&) = delete;

  void add(uint64_t shard, const std::vector<int64_t>& ids, const std::vector<std::string>& files,
           const std::set<std::string>& dirs, const std::set<std::string>& partitions) {
    std::unique_lock lk(mu_);
    space_cv_.wait(lk, [&] { return stop_ || queued_.files.size() < kMaxQueuedFiles; });
    const bool was_empty = queued_.files.empty();
    if (was_empty) first_ = std::chrono::steady_clock::now();
    auto& q = queued_.ids[shard];
    q.insert(q.end(), ids.begin(), ids.end());
    queued_.files.insert(queued_.files.end(), files.begin(), files.end());
    queued_.dirs.insert(dirs.begin(), dirs.end());
    queued_.partitions.insert(partitions.begin(), partitions.end());
    if (!thread_.joinable() && !stop_) {
      try {
        thread_ = std::thread([this] {
          set_thread_name("body-flush");
          loop();
        });
      } catch (const std::system_error&) {
        // No thread to spare: this batch's files are flushed here.
        lk.unlock();
        run_once();
        return;
      }
    }
    // Wakes the thread to time the flush (it sleeps while nothing is
    // queued), or to flush at once when enough is queued.
    if (was_empty || queued_.files.size() >= kFlushFiles) cv_.notify_one();
  }
  // Flushes whatever is queued and returns once it is durable (and handed
  // to `done`): before a clean close, and for tests.
  void flush_now() {
    std::unique_lock lk(mu_);
    const uint64_t want = ++requested_;
    cv_.notify_one();
    if (!thread_.joinable()) {
      lk.unlock();
      run_once();
      return;
    }
    done_cv_.wait(lk, [&] { return completed_ >= want || stop_; });
  }
  // Flushes what is queued, then ends the thread.
  void stop() {
    {
      std::lock_guard lk(mu_);
      if (stop_) return;
      stop_ = true;
    }
    cv_.notify_one();
    space_cv_.notify_all();
    if (thread_.joinable()) thread_.join();
    run_once();
  }

 private:
  struct Pending {
    std::map<uint64_t, std::vector<int64_t>> ids;
    std::vector<std::string> files;
    std::set<std::string> dirs;
    std::set<std::string> partitions;
  };
  void loop() {
    std::unique_lock lk(mu_);
    for (;;) {
      const bool due = !queued_.files.empty() &&
                       (queued_.files.size() >= kFlushFiles || requested_ > completed_ ||
                        std::chrono::steady_clock::now() - first_ >= kFlushDelay);
      if (due || (stop_ && !queued_.files.empty()) || requested_ > completed_) {
        const uint64_t upto = requested_;
        lk.unlock();
        run_once();
        lk.lock();
        completed_ = std::max(completed_, upto);
        done_cv_.notify_all();
        continue;
      }
      if (stop_) return;
      if (queued_.files.empty())
        cv_.wait(lk);
      else
        cv_.wait_until(lk, first_ + kFlushDelay);
    }
  }
  void run_once() {
    Pending p;
    {
      std::lock_guard lk(mu_);
      std::swap(p, queued_);
    }
    space_cv_.notify_all();
    if (p.files.empty()) return;
    // Files that share a few directories (many appends to one mailbox):
    // one syncfs per partition flushes them all with one disk flush. Files
    // that nearly each have a directory of their own (delivery spread over
    // many users): each file and directory is fsync'd (up to 16 at once) -
    // there syncfs, which also writes out the allocation bitmaps and inode
    // tables that the deliveries of that moment are changing, was 15 %
    // slower (docs/performance.md, run 16). With a fault-injection hook
    // (tests), always each through it. A file may be gone meanwhile (an
    // expunge that unlinks at once).
    const bool one_by_one = spool_.has_fsync_hook() || p.files.size() < kSyncfsFilesPerDir * p.dirs.size();
    Status st = one_by_one ? spool_.fsync_many(p.files, std::vector<std::string>(p.dirs.begin(), p.dirs.end()),
                                               /*missing_ok=*/true)
                           : spool_.sync_partitions(p.partitions);
    done_(st, p.ids);
  }

  const Spool& spool_;
  Done done_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::condition_variable space_cv_;
  std::condition_variable done_cv_;
  Pending queued_;
  std::chrono::steady_clock::time_point first_;
  uint64_t requested_ = 0;
  uint64_t completed_ = 0;
  bool stop_ = false;
  std::thread thread_;
};

class StoreImpl final : public Store {
 public:
  explicit StoreImpl(const StoreOptions& o)
      : opts_(o), spool_(o.partitions, o.fsync_hook, o.max_message_size, o.journal_max) {}
  // A clean close leaves no unsynced marks whose flushes are done and no
  // journal rows, so the next open has nothing to verify.
  ~StoreImpl() override {
    flusher_.stop();
    clear_synced_rows();
  }
  void flush_journal() override { flusher_.flush_now(); }

  Status init();

  // -- fence --
  Status check_writable(WriteMode mode) const override {
    if (fenced_.load(std::memory_order_acquire)) {
      std::lock_guard lk(fence_mu_);
      return Error(Errc::Fenced, "Mailbox store is fenced after an error", fence_error_.describe());
    }
    if (role_.load(std::memory_order_acquire) == Role::Replica && mode != WriteMode::Replication)
      return Error(Errc::Unavailable, "This server is a replica; it does not take writes");
    if (held_.load(std::memory_order_acquire) && mode != WriteMode::Replication) {
      std::lock_guard lk(fence_mu_);
      return Error(Errc::Unavailable, "This server does not take writes now; try again shortly", hold_reason_);
    }
    return {};
  }
  void set_write_hold(const std::string& reason) override {
    std::lock_guard lk(fence_mu_);
    hold_reason_ = reason;
    held_.store(!reason.empty(), std::memory_order_release);
  }
  void set_replication_barrier(std::shared_ptr<ReplicationBarrier> barrier) override {
    {
      std::lock_guard lk(own_mu_);
      own_unacked_.clear();
      own_overflow_.store(false, std::memory_order_relaxed);
    }
    std::atomic_store(&barrier_, std::move(barrier));
  }
  // sync_mode: sync - a client write returns only once the replica has it.
  void await_replica() {
    auto b = std::atomic_load(&barrier_);
    if (!b) return;
    uint64_t upto;
    {
      std::lock_guard lk(seq_mu_);
      upto = next_seq_ - 1;
    }
    b->wait_replicated(upto);
  }
  void fence(const Error& cause) {
    std::lock_guard lk(fence_mu_);
    if (!fenced_.load()) {
      fence_error_ = cause;
      fenced_.store(true, std::memory_order_release);
      CYR_LOG(Critical, opts_.sid, "store fenced: %s", cause.describe().c_str());
    }
  }
  Status fence_if_fatal(Status st) {
    if (!st.ok() && fencing_error(st.error())) {
      fence(st.error());
      return Error(Errc::Fenced, "Mailbox store is fenced after an error", st.error().describe());
    }
    return st;
  }

  NodeState node_state() const override {
    std::lock_guard lk(node_mu_);
    return node_;
  }
  Status set_node_state(const NodeState& st) override;
  Status fence_status() const override {
    if (!fenced_.load()) return {};
    std::lock_guard lk(fence_mu_);
    return Error(Errc::Fenced, "Mailbox store is fenced after an error", fence_error_.describe());
  }

  Result<MailboxInfo> create_mailbox(const CreateMailboxRequest& req, WriteMode mode) override;
  Status create_mailboxes(const std::vector<CreateMailboxRequest>& reqs, WriteMode mode) override;
  Status rename_mailbox(const std::string& from, const std::string& to, WriteMode mode) override;
  Status delete_mailbox(const std::string& name, WriteMode mode) override;
  Result<MailboxInfo> lookup(const std::string& name) override;
  Result<MailboxInfo> lookup_by_uniqueid(const std::string& uniqueid) override;
  Result<std::vector<std::string>> list(std::string_view pattern) override;
  Result<std::string> get_acl(const std::string& mailbox) override;
  Status set_acl(const std::string& mailbox, const std::string& acl, WriteMode mode) override;

  Result<AppendResult> append(const AppendRequest& req, WriteMode mode) override;
  std::vector<Result<AppendResult>> deliver(const std::vector<std::string>& mailboxes,
                                            const AppendMessage& msg, bool check_quota) override;
  Result<std::vector<MessageRecord>> records(const std::string& mailbox, bool include_expunged) override;
  Result<MessageRecord> record(const std::string& mailbox, Uid uid) override;
  Result<std::vector<MessageRecord>> records_in(const std::string& mailbox, const UidSet& uids,
                                                bool include_expunged) override;
  Result<std::string> structure(const std::string& mailbox, Uid uid) override;
  Result<std::vector<std::optional<std::string>>> structures(const std::string& mailbox,
                                                             const std::vector<Uid>& uids) override;
  Result<fs::path> message_path(const std::string& mailbox, Uid uid) override;
  Result<std::string> read_message_file(const std::string& partition, const std::string& uniqueid,
                                        Uid uid) override;
  static Result<std::string> read_fd(int fd, uint64_t offset, uint64_t len);
  Result<std::string> read_message(const std::string& mailbox, Uid uid, uint64_t offset,
                                   uint64_t len) override;
  Result<int> open_message(const std::string& mailbox, Uid uid) override;
  Result<StoreFlagsResult> store_flags(const std::string& mailbox, const StoreFlagsRequest& req,
                                       WriteMode mode) override;
  Result<ExpungeResult> expunge(const std::string& mailbox, const UidSet& uids, WriteMode mode) override;
  Result<uint64_t> purge_expunged(const std::string& mailbox, int64_t older_than) override;
  Result<CopyResult> copy(const std::string& from, const UidSet& uids, const std::string& to,
                          bool move, WriteMode mode) override;
  Result<ChangesSince> changes_since(const std::string& mailbox, ModSeq since) override;
  Result<MailboxRoundState> round_state(const std::string& mailbox, ModSeq since) override;

  Status apply_records(const std::string& mailbox, const std::vector<ApplyRecord>& recs,
                       WriteMode mode, const MailboxCounters* then_counters, MailboxInfo* after) override;
  Status set_counters(const std::string& mailbox, const MailboxCounters& c, WriteMode mode) override;
  Result<fs::path> find_message_file(const std::string& partition, const mail::MessageGuid& guid,
                                     const std::vector<std::string>& candidates) override;
  Result<ChangeBatch> read_changes(size_t max) override { return read_marked_changes(max, false); }
  Result<ChangeBatch> read_changes_streaming(size_t max) override { return read_marked_changes(max, true); }
  Result<ChangeBatch> read_marked_changes(size_t max, bool skip_lingering);
  Result<ChangeBatch> read_changes_in(const std::vector<uint64_t>& shards, size_t max) override;
  // The mailbox list's change records and those of `shards`, in seq order.
  // `empty` (optional) gets the shards whose read returned no record.
  Result<ChangeBatch> read_change_batch(const std::vector<uint64_t>& shards, size_t max,
                                        std::vector<uint64_t>* empty = nullptr);
  void drop_stale_markers(const std::vector<uint64_t>& empty_now);
  // Shards the previous read_changes found marked but empty (drop_stale_markers).
  std::mutex stale_mu_;
  std::set<uint64_t> empty_before_;
  static constexpr size_t kMaxStaleMarkerDrops = 16;
  // Sync mode: a shard written often keeps its marker when an
  // acknowledgement empties it, so that its next write does not pay a
  // flushed mailboxes.db commit to mark it again. read_changes_streaming
  // skips such a shard (this process knows it empty) for kMarkerLinger;
  // after that it is read, and dropped as stale (drop_stale_markers), and
  // read_changes reads it all along. This process's next
  // write to it ends the linger (after its commit, before it can wait);
  // another process's record in it waits at most kMarkerLinger.
  bool shard_is_hot(uint64_t shard_id);
  void note_change_write(uint64_t shard_id);
  uint64_t change_generation(const std::vector<uint64_t>& shards) override;
  // change_generation(): shard (0: the list) -> the value of gen_counter_ at
  // its last commit with change records. Bounded: past kMaxTrackedShards it
  // is emptied and every shard reads as changed at that moment (gen_floor_).
  void bump_change_generation(uint64_t shard_id);
  Status flush_wal(Shard& sh, Db& db);
  std::mutex gen_mu_;
  std::unordered_map<uint64_t, uint64_t> change_gen_;
  uint64_t gen_counter_ = 0;
  uint64_t gen_floor_ = 1;  // what a shard without an entry reads as
  void linger_marker(uint64_t shard_id);
  std::mutex linger_mu_;
  std::unordered_map<uint64_t, std::chrono::steady_clock::time_point> lingering_;
  // shard -> (previous, last) commit of this process's change records to it
  std::unordered_map<uint64_t, std::pair<std::chrono::steady_clock::time_point,
                                         std::chrono::steady_clock::time_point>> change_writes_;
  static constexpr std::chrono::milliseconds kMarkerLinger{1000};
  static constexpr size_t kMaxTrackedShards = 10000;
  std::optional<std::vector<uint64_t>> own_unacked_changes(size_t max) override;
  void forget_own_unacked(const std::vector<uint64_t>& seqs) override { own_forget(seqs); }
  // Whether change records logged now go into own_unacked_.
  bool tracking_own() const {
    return !own_overflow_.load(std::memory_order_relaxed) && std::atomic_load(&barrier_) != nullptr;
  }
  void own_committed(const std::vector<uint64_t>& seqs);
  void publish_committed();
  void own_forget(const std::vector<uint64_t>& seqs);
  Status ack_changes(const ChangeBatch& batch) override;

  Result<QuotaInfo> get_quota(const std::string& root) override;
  Status set_quota(const std::string& root, std::optional<uint64_t> storage_kib,
                   std::optional<uint64_t> messages, WriteMode mode) override;
  Status remove_quota(const std::string& root, WriteMode mode) override;
  Status check_quota(const std::string& mailbox, uint64_t bytes, uint64_t messages) override;

  Result<SeenState> get_seen(const std::string& userid, const std::string& mailbox) override;
  Status set_seen(const std::string& userid, const std::string& mailbox, const SeenState& st,
                  WriteMode mode) override;
  Result<std::vector<std::string>> seen_users(const std::string& mailbox) override;
  Result<std::vector<std::string>> foreign_seen_mailboxes(const std::string& userid) override;
  Result<std::vector<SieveScript>> sieve_scripts(const std::string& userid) override;
  Result<std::pair<MailboxInfo, std::optional<SieveScript>>> lookup_with_sieve(const std::string& name,
                                                                               const std::string& userid) override;
  Status put_sieve_script(const std::string& userid, const std::string& name, const std::string& content,
                          WriteMode mode, int64_t last_update, int64_t max_scripts) override;
  Status delete_sieve_script(const std::string& userid, const std::string& name, WriteMode mode) override;
  Status rename_sieve_script(const std::string& userid, const std::string& from, const std::string& to,
                             WriteMode mode) override;
  Status activate_sieve_script(const std::string& userid, const std::string& name, WriteMode mode) override;
  // The user's shard for a write of their own data (subscriptions, Sieve
  // scripts), created in the list if needed.
  Result<std::shared_ptr<Shard>> user_shard_for_write(const std::string& userid);
  // The user's shard if it exists (in the list and on disk), else null.
  Result<std::shared_ptr<Shard>> existing_user_shard(const std::string& userid);
  Result<std::vector<std::string>> subscriptions(const std::string& userid) override;
  Status subscribe(const std::string& userid, const std::string& mailbox, bool on,
                   WriteMode mode) override;
  Result<std::vector<Annotation>> annotations(const std::string& mailbox) override;
  Status set_annotation(const Annotation& a, WriteMode mode) override;

  WatchId watch(const std::string& uniqueid, MailboxWatcher cb) override;
  void unwatch(WatchId id) override;

  // -- used by ShardTxn --
  Result<uint64_t> next_seq();
  bool log_writes(WriteMode mode) const { return opts_.log_changes && mode == WriteMode::Normal; }
  const Spool& spool() const { return spool_; }
  Result<int64_t> nearest_quota_root(Db& db, const std::string& name);

 private:
  friend struct ShardTxn;

  // -- list db --
  Result<std::optional<ListEntry>> list_get(Db& db, const std::string& name);
  Result<ListEntry> list_entry(const std::string& name);
  // lazy: the transaction may be lost in a power failure (synchronous=NORMAL
  // for it); only for writes whose loss is harmless (dropping a marker).
  Status list_write(const std::function<Status(Db&)>& fn, bool lazy = false);
  // The counters of a replication round on a loaded state (set_counters,
  // apply_records); the caller saves the state.
  Status apply_counters(MbState& m, const ListEntry& entry, const MailboxCounters& c);
  Result<uint64_t> shard_id_for(Db& db, const std::string& shard_name, bool create);
  Status list_log_change(Db& db, ChangeKind kind, const std::string& a1, const std::string& a2 = {});
  Status build_create(Db& db, const CreateMailboxRequest& req, WriteMode mode, ListEntry& out);

  // -- shards --
  Result<std::shared_ptr<Shard>> shard(uint64_t id);
  Result<std::shared_ptr<Shard>> shard_entry(uint64_t id);
  // Moves an open shard to the front of hot_; the hot shard pushed out, if
  // any, is returned in *demoted to be trimmed (under shards_mu_).
  void touch(Shard& sh, std::shared_ptr<Shard>* demoted);
  void trim_shard(Shard& sh);
  Status check_unsynced(const std::shared_ptr<Shard>& sh);
  Status recover_unsynced(const std::shared_ptr<Shard>& sh);
  Status recover_journal(const std::shared_ptr<Shard>& sh);
  // For one record under an unsynced mark: removes it as if it had never been
  // appended (when only_if_damaged, only if its file is missing or does not
  // hash to its GUID). *file is the record's message file (empty: no record,
  // or a tombstone): to fsync if kept, to remove if not.
  Status settle_unsynced(Db& db, int64_t mbid, int64_t uid, bool only_if_damaged, bool* removed,
                         fs::path* file);
  void withdraw_batch(Shard& sh, std::vector<WriteOp*>& batch,
                      const std::vector<std::pair<int64_t, int64_t>>& rows);
  void clear_synced_rows();
  fs::path shard_path(uint64_t id) const;
  Status shard_write(const std::shared_ptr<Shard>& sh, WriteMode mode,
                     std::function<Status(ShardTxn&)> fn, bool lazy = false);
  void run_batch(Shard& sh, std::vector<WriteOp*>& batch);
  Status ensure_writer(Shard& sh);
  Status recover_shard(Shard& sh);
  Status make_mailbox_dirs(const std::vector<ListEntry>& es);
  Status ensure_shard_file(uint64_t shard_id);
  // Applies every intent of the shard; *applied_upto = the highest intent id
  // applied (0 if none), which the caller deletes once committed: an intent
  // another writer added meanwhile has a higher id and stays for it.
  Status apply_intents(Shard& sh, Db& db, int64_t* applied_upto = nullptr);
  Status forget_intents(uint64_t shard_id, int64_t upto);
  Status ensure_marker(uint64_t shard_id);
  Status insert_marker_grouped(uint64_t shard_id);
  void after_commit(WriteOp& op);
  void fire_watchers(const MailboxEvent& ev);

  Result<std::pair<ListEntry, std::shared_ptr<Shard>>> open_mailbox(const std::string& name);
  Result<AppendResult> append_staged(const ListEntry& entry, const std::shared_ptr<Shard>& sh,
                                     const std::vector<StagedMessage>& msgs,
                                     const std::vector<AppendMessage>& meta, bool check_quota,
                                     WriteMode mode);
  Result<MbState> read_state(Db& db, const ListEntry& e);
  // The common preamble of a mailbox read: open the mailbox, take a reader of
  // its shard, start a read transaction and load the mailbox state, then call
  // fn(db, state). A shard whose database does not exist yet holds nothing:
  // fn is not called and the result is Ok.
  Status read_mailbox(const std::string& mailbox,
                      const std::function<Status(Db& db, const MbState& m)>& fn);
  // The same for a mailbox open_mailbox() returned; Ok(false) if its shard
  // has no database yet (fn not called). snapshot=false skips the read
  // transaction, for callers whose fn runs one statement (lookup, the
  // replica's APPLY RESERVE): two statements fewer per call on hot paths.
  Result<bool> read_opened(const ListEntry& entry, Shard& sh, bool snapshot,
                           const std::function<Status(Db& db, const MbState& m)>& fn);
  Result<std::vector<MessageRecord>> read_records(Db& db, int64_t mbid, const char* where,
                                                  int64_t arg, bool include_expunged,
                                                  size_t expected = 0);
  // changes_since() and annotations() of a mailbox read by read_opened().
  Status read_changes_since(Db& db, const MbState& m, ModSeq since, ChangesSince& out);
  Status read_annotations(Db& db, const MbState& m, const std::string& mailbox, std::vector<Annotation>& out);
  Result<std::string> user_shard_name(const std::string& userid);
  Result<QuotaInfo> quota_of(Db& db, int64_t root_mbid);

  StoreOptions opts_;
  Spool spool_;

  std::atomic<bool> fenced_{false};
  mutable std::mutex fence_mu_;
  Error fence_error_;
  std::atomic<bool> held_{false};  // set_write_hold(); reason under fence_mu_
  std::string hold_reason_;
  std::shared_ptr<ReplicationBarrier> barrier_;  // atomic_load/atomic_store only
  // Seqs of the change records this process committed while barrier_ was
  // set and has not acknowledged (own_unacked_changes). Added right after
  // their commit, before the writer can wait for them; removed by
  // ack_changes, by a withdrawn batch, or by forget_own_unacked. Past
  // kOwnUnackedMax (a replica gone for long) the set is dropped and not kept
  // again until the next set_replication_barrier: the barrier reads the log.
  static constexpr size_t kOwnUnackedMax = 200000;
  std::mutex own_mu_;
  std::set<uint64_t> own_unacked_;
  std::atomic<bool> own_overflow_{false};
  // The seqs list_log_change drew in the current list_write (under list_write_mu_).
  std::vector<uint64_t> list_txn_seqs_;
  bool list_txn_logged_ = false;  // the list transaction wrote change records
  // (userid, uniqueid) pairs this process knows are in foreign_seen, so that
  // only a reader's first seen write on a mailbox looks at the index.
  std::mutex foreign_seen_mu_;
  std::set<std::pair<std::string, std::string>> foreign_seen_known_;
  void note_foreign_seen(const std::string& userid, const std::string& uniqueid);
  Status index_foreign_seen();  // builds foreign_seen from every shard (once per store)

  std::atomic<Role> role_{Role::Primary};
  mutable std::mutex node_mu_;
  NodeState node_;

  std::string list_path_;
  std::mutex list_write_mu_;
  std::unique_ptr<Db> list_writer_;
  std::unique_ptr<DbPool> list_readers_;

  std::mutex seq_mu_;
  uint64_t next_seq_ = 1;
  uint64_t seq_reserved_ = 0;

  std::mutex uidvalidity_mu_;
  uint32_t last_uidvalidity_ = 0;

  std::mutex shards_mu_;
  std::unordered_map<uint64_t, std::shared_ptr<Shard>> shards_;
  // Open shards by recency, most recent first (under shards_mu_). The
  // hot_limit_ most recently used keep their connections and page caches
  // as they are; a shard pushed out of hot_ into cold_ is trimmed to one
  // idle connection without a page cache (trim_shard), and eviction closes
  // the least recently used shard of cold_. A trimmed shard costs a fraction
  // of a hot one's memory (docs/performance.md), so many more stay open.
  std::list<Shard*> hot_, cold_;
  size_t hot_limit_ = 256;
  // max_open_shards bounded by the descriptors this process may open (init).
  size_t open_shards_cap_ = 512;
  // Shards whose schema was checked and whose orphans were swept by this
  // process (ensure_writer): an evicted shard reopened later skips both.
  std::mutex prepared_mu_;
  std::unordered_set<uint64_t> prepared_shards_;
  bool shard_seen(uint64_t id) {
    std::lock_guard lk(prepared_mu_);
    return prepared_shards_.count(id) != 0;
  }

  // The (mbid, uid) this process marked unsynced (per shard id), whose files
  // and directories it has since made durable: the shard's next batch clears
  // those mailboxes' marks.
  // Kept here, not in Shard, so that they outlive an eviction.
  std::mutex synced_mu_;
  std::unordered_map<uint64_t, std::vector<std::pair<int64_t, int64_t>>> synced_rows_;
  // Body journal rows (per shard id) whose files the late flush has made
  // durable: the shard's next batch deletes them.
  std::unordered_map<uint64_t, std::vector<int64_t>> journal_done_;
  BodyFlusher flusher_{spool_, [this](const Status& st, std::map<uint64_t, std::vector<int64_t>>& ids) {
    if (!st.ok()) {
      // The rows stay: the next process's first use of each shard restores
      // and flushes the files.
      fence(st.error());
      return;
    }
    std::lock_guard lk(synced_mu_);
    for (auto& [shard, rows] : ids) {
      auto& d = journal_done_[shard];
      d.insert(d.end(), rows.begin(), rows.end());
    }
  }};
  // Shards whose unsynced_file this process has checked (check_unsynced).
  std::mutex unsynced_checked_mu_;
  std::unordered_set<uint64_t> unsynced_checked_;

  // Serializes this process's check-then-insert of pending-shard markers;
  // across processes the shard's SQLite write lock does (see ensure_marker).
  std::mutex markers_mu_;
  // Marker inserts of concurrent writers to different shards share one
  // mailboxes.db commit (insert_markers_grouped).
  struct MarkerInsert {
    uint64_t shard_id = 0;
    Status result;
    bool done = false;
  };
  std::mutex marker_q_mu_;
  std::condition_variable marker_q_cv_;
  std::deque<MarkerInsert*> marker_q_;

  std::mutex watch_mu_;
  WatchId next_watch_ = 1;
  std::unordered_map<std::string, std::vector<std::pair<WatchId, MailboxWatcher>>> watchers_;
  std::unordered_map<WatchId, std::string> watch_index_;

  // Primary only: commits of other processes on this store directory, for
  // the watchers (store/notify.h). Last member: its thread, which calls
  // fire_watchers(), is joined before anything it uses is destroyed.
  std::unique_ptr<NotifyListener> notify_listener_;
};

// ---------------------------------------------------------------------------
// ShardTxn

Status ShardTxn::log_change(ChangeKind kind, const std::string& a1, const std::string& a2) {
  if (!store->log_writes(mode)) return {};
  auto seq = store->next_seq();
  if (!seq.ok()) return seq.take_error();
  auto st = db->cached("INSERT INTO change(seq, kind, arg1, arg2) VALUES(?,?,?,?)");
  if (!st.ok()) return st.take_error();
  (*st)->bind(1, static_cast<int64_t>(*seq)).bind(2, static_cast<int64_t>(kind)).bind(3, a1).bind(4, a2);
  CYR_TRY((*st)->run());
  wrote_changes = true;
  if (store->tracking_own()) op->logged.push_back(*seq);
  return {};
}

Result<MbState> ShardTxn::load(const ListEntry& e) {
  auto r = store->read_state(*db, e);
  if (!r.ok()) return r;
  if (r->mbid != 0) return r;
  // First write to a mailbox created in the list only: materialize its row.
  auto root = store->nearest_quota_root(*db, e.name);
  if (!root.ok()) return root.take_error();
  auto st = db->cached(
      "INSERT INTO mailbox(uniqueid, name, partition, uidvalidity, last_uid, highestmodseq,"
      " recentuid, recenttime, last_appenddate, pop3_last_login, pop3_show_after,"
      " createdmodseq, foldermodseq, options, quota_mbid, exists_count, total_size,"
      " sync_crc, sync_crc_annot, sync_crc_modseq)"
      " VALUES(?,?,?,?,0,1,0,0,0,0,0,1,1,0,?,0,0,?,?,1)");
  if (!st.ok()) return st.take_error();
  const crc::SyncCrcs empty;  // no records yet
  (*st)->bind(1, e.uniqueid).bind(2, e.name).bind(3, e.partition).bind(4, int64_t(e.uidvalidity)).bind(5, *root)
      .bind(6, int64_t(empty.basic)).bind(7, int64_t(empty.annot));
  CYR_TRY((*st)->run());
  return store->read_state(*db, e);
}

Status ShardTxn::save(const MbState& m) {
  auto st = db->cached(
      "UPDATE mailbox SET name=?, last_uid=?, highestmodseq=?, recentuid=?, recenttime=?,"
      " last_appenddate=?, pop3_last_login=?, pop3_show_after=?, createdmodseq=?,"
      " foldermodseq=?, options=?, exists_count=?, total_size=?, uidvalidity=?,"
      " sync_crc=?, sync_crc_annot=?, sync_crc_modseq=? WHERE mbid=?");
  if (!st.ok()) return st.take_error();
  const auto& i = m.info;
  // The CRC pair is stamped with the HIGHESTMODSEQ it is valid for: a
  // writer that changes records without keeping the pair (a build from
  // before it was kept, a repair by direct SQL) moves HIGHESTMODSEQ and so
  // leaves a stamp that no longer matches, and read_state() recomputes.
  (*st)->bind(1, i.name).bind(2, int64_t(i.last_uid)).bind(3, int64_t(i.highestmodseq))
      .bind(4, int64_t(i.recentuid)).bind(5, i.recenttime).bind(6, i.last_appenddate)
      .bind(7, i.pop3_last_login).bind(8, i.pop3_show_after).bind(9, int64_t(i.createdmodseq))
      .bind(10, int64_t(i.foldermodseq)).bind(11, int64_t(i.options)).bind(12, int64_t(i.exists))
      .bind(13, int64_t(i.total_size)).bind(14, int64_t(i.uidvalidity)).bind(15, int64_t(i.sync_crc))
      .bind(16, int64_t(i.sync_crc_annot)).bind(17, int64_t(i.highestmodseq)).bind(18, m.mbid);
  return (*st)->run();
}

Status ShardTxn::link(const std::string& from, const fs::path& to) {
  if (!op->registers_unsynced) strict_order = true;
  CYR_TRY(store->spool().link(from, to, dirs_to_sync));
  op->linked.push_back(to.string());
  return {};
}

Result<bool> ShardTxn::link_staged(const StagedMessage& s, const fs::path& to) {
  if (!s.journaled()) {
    CYR_TRY(link(s.path, to));
    if (!s.synced) op->sync_files.push_back(s.path);
    return false;
  }
  std::set<std::string> dirs;
  CYR_TRY(store->spool().link(s.path, to, dirs));
  op->linked.push_back(to.string());
  op->journal_files.push_back(to.string());
  op->journal_dirs.insert(dirs.begin(), dirs.end());
  op->journal_partitions.insert(s.partition);
  const auto& g = s.guid.bytes();
  std::string_view gv(reinterpret_cast<const char*>(g.data()), g.size());
  if (op->journal_guids.insert(std::string(gv)).second) {
    auto ins = db->cached("INSERT INTO body_journal(guid, data) VALUES(?, ?)");
    if (!ins.ok()) return ins.take_error();
    (*ins)->bind_blob(1, gv).bind_blob(2, s.bytes);
    CYR_TRY((*ins)->run());
    op->journal_ids.push_back(sqlite3_last_insert_rowid(db->raw()));
  }
  return true;
}

// ---------------------------------------------------------------------------
// Opening

Result<std::unique_ptr<Store>> Store::open(const StoreOptions& opts) {
  auto impl = std::make_unique<StoreImpl>(opts);
  CYR_TRY(impl->init());
  return std::unique_ptr<Store>(std::move(impl));
}

// The shard ids a one-column query of mailboxes.db returns, in its order.
static Result<std::vector<uint64_t>> read_shard_ids(Db& db, const char* sql) {
  auto cst = db.cached(sql);
  if (!cst.ok()) return cst.take_error();
  Stmt* st = *cst;
  ResetOnExit reset(st);
  std::vector<uint64_t> ids;
  for (;;) {
    auto row = st->step();
    if (!row.ok()) return row.take_error();
    if (!*row) break;
    ids.push_back(static_cast<uint64_t>(st->i64(0)));
  }
  return ids;
}

// Column 0 of every row a bound statement returns, as text.
static Status append_texts(Stmt& st, std::vector<std::string>& out) {
  for (;;) {
    auto row = st.step();
    if (!row.ok()) return row.take_error();
    if (!*row) return {};
    out.push_back(st.text(0));
  }
}

Status StoreImpl::init() {
  if (opts_.configdirectory.empty())
    return Error(Errc::Invalid, "No configdirectory", "StoreOptions.configdirectory empty");
  if (opts_.partitions.empty())
    return Error(Errc::Invalid, "No partition configured", "StoreOptions.partitions empty");
  std::error_code ec;
  if (opts_.create_directories) {
    fs::create_directories(opts_.configdirectory / "shards", ec);
    for (auto& [n, p] : opts_.partitions) fs::create_directories(p, ec);
  }
  list_path_ = (opts_.configdirectory / "mailboxes.db").string();
  auto w = Db::open(list_path_, true);
  if (!w.ok()) return w.take_error();
  list_writer_ = std::move(*w);
  CYR_TRY(list_writer_->exec(kListSchema));
  list_readers_ = std::make_unique<DbPool>(list_path_);
  // Every open shard holds file descriptors: a trimmed one three (database,
  // WAL, WAL index) or four (SQLite keeps the database descriptor of a
  // closed connection for reuse while another connection of the process
  // holds a lock on the file), a hot one two more per extra connection. At
  // most a sixth of the limit in shards leaves about a third of the
  // descriptors for hot shards' extra connections, sockets, message files
  // and the other databases, so that opening a shard does not fail for want
  // of a descriptor.
  open_shards_cap_ = std::max<size_t>(opts_.max_open_shards, 1);
  struct rlimit nofile;
  if (::getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur != RLIM_INFINITY) {
    size_t fits = std::max<size_t>(16, static_cast<size_t>(nofile.rlim_cur) / 6);
    if (fits < open_shards_cap_) {
      // Said once per node (the primary), not by every ops command.
      if (opts_.open_mode == OpenMode::Primary)
        CYR_LOG(Notice, opts_.sid, "keeping at most %zu shard databases open (store_open_shards %zu;"
              " the open file limit is %llu)", fits, opts_.max_open_shards,
              static_cast<unsigned long long>(nofile.rlim_cur));
      open_shards_cap_ = fits;
    }
  }
  hot_limit_ = std::clamp<size_t>(open_shards_cap_ / 4, 4, 256);

  // Node state, change sequence reservation, pending markers.
  int64_t stored_log_changes = 1;  // absent: an older build, which always logged
  bool foreign_seen_indexed = false;
  {
    auto st = list_writer_->prepare("SELECT key, value FROM node");
    if (!st.ok()) return st.take_error();
    for (;;) {
      auto row = st->step();
      if (!row.ok()) return row.take_error();
      if (!*row) break;
      std::string k = st->text(0);
      int64_t v = st->i64(1);
      if (k == "role") node_.role = v == 1 ? Role::Replica : Role::Primary;
      if (k == "epoch") node_.epoch = static_cast<uint64_t>(v);
      if (k == "rejoining") node_.rejoining = v != 0;
      if (k == "last_uidvalidity") last_uidvalidity_ = static_cast<uint32_t>(v);
      if (k == "log_changes") stored_log_changes = v;
      if (k == "foreign_seen_indexed") foreign_seen_indexed = v != 0;
    }
    role_.store(node_.role);
    std::ifstream seqf(opts_.configdirectory / "change_seq");
    if (seqf) seqf >> seq_reserved_;
    // Sequence numbers beyond the last reservation were never handed out
    // durably; start after it so that seq keeps increasing across restarts.
    next_seq_ = seq_reserved_ + 1;
  }
  // A secondary runs beside a primary that owns crash recovery: touching
  // intents or orphan files here could undo work the primary has in flight.
  if (opts_.open_mode == OpenMode::Secondary) return {};
  // Whether this node keeps a replication log, for the admin tools that
  // write change records without a Store (layout::log_change_records).
  if (stored_log_changes != (opts_.log_changes ? 1 : 0)) {
    CYR_TRY(list_write([&](Db& db) -> Status {
      auto a = db.cached("INSERT OR REPLACE INTO node(key, value) VALUES('log_changes', ?)");
      if (!a.ok()) return a.take_error();
      (*a)->bind(1, int64_t(opts_.log_changes ? 1 : 0));
      return (*a)->run();
    }));
  }
  spool_.clear_staging();

  // Reapply intents left by an interrupted rename/delete.
  auto intent_shards = read_shard_ids(*list_writer_, "SELECT DISTINCT shard_id FROM intent");
  if (!intent_shards.ok()) return intent_shards.take_error();
  for (uint64_t id : *intent_shards) {
    auto sh = shard(id);
    if (!sh.ok()) return sh.take_error();
    std::lock_guard lk((*sh)->write_mu);
    CYR_TRY(ensure_writer(**sh));
  }
  if (!foreign_seen_indexed) {
    // Only GET USER on a replica reads the index: a failure here must not
    // keep the node from starting (it is tried again at the next start).
    Status ix = index_foreign_seen();
    if (!ix.ok())
      CYR_LOG(Warning, opts_.sid, "readers' seen state not indexed yet (retried at the next start): %s",
              ix.error().describe().c_str());
  }
  // Without it sessions miss other processes' writes until their mailbox
  // changes here too: worth a warning, not a refusal to start.
  auto listener = NotifyListener::start(opts_.configdirectory, [this](const MailboxEvent& ev) { fire_watchers(ev); });
  if (listener.ok()) notify_listener_ = std::move(*listener);
  else
    CYR_LOG(Warning, opts_.sid, "changes by other processes will not wake IDLE: %s",
            listener.error().describe().c_str());
  return {};
}

Status StoreImpl::set_node_state(const NodeState& st) {
  if (fenced_.load()) return fence_status();
  Status s = list_write([&](Db& db) -> Status {
    auto a = db.cached("INSERT OR REPLACE INTO node(key, value) VALUES('role', ?)");
    if (!a.ok()) return a.take_error();
    (*a)->bind(1, int64_t(st.role == Role::Replica ? 1 : 0));
    CYR_TRY((*a)->run());
    auto b = db.cached("INSERT OR REPLACE INTO node(key, value) VALUES('epoch', ?)");
    if (!b.ok()) return b.take_error();
    (*b)->bind(1, static_cast<int64_t>(st.epoch));
    CYR_TRY((*b)->run());
    auto c = db.cached("INSERT OR REPLACE INTO node(key, value) VALUES('rejoining', ?)");
    if (!c.ok()) return c.take_error();
    (*c)->bind(1, int64_t(st.rejoining ? 1 : 0));
    return (*c)->run();
  });
  if (!s.ok()) return s;
  std::lock_guard lk(node_mu_);
  node_ = st;
  role_.store(st.role, std::memory_order_release);
  return {};
}

// ---------------------------------------------------------------------------
// The list database

// How a lazy transaction is committed: synchronous=NORMAL for it alone. In WAL
// mode that skips the commit's flush but keeps the checkpoint's (OFF would
// let an autocheckpoint backfill without flushing, after which the next WAL
// restart could discard frames of earlier, durable commits).
// A connection left at NORMAL would make every later commit on it lazy, so a
// failure to switch back fences the store.
class LazyCommit {
 public:
  LazyCommit(StoreImpl& store, Db& db, bool on) : store_(store), db_(on ? &db : nullptr) {
    if (db_ && !db_->exec("PRAGMA synchronous=NORMAL").ok()) db_ = nullptr;
  }
  ~LazyCommit() {
    if (!db_) return;
    Status st = db_->exec("PRAGMA synchronous=FULL");
    if (!st.ok()) store_.fence(st.error());
  }
  LazyCommit(const LazyCommit&) = delete;
  LazyCommit& operator=(const LazyCommit&) = delete;

 private:
  StoreImpl& store_;
  Db* db_;
};

Status StoreImpl::list_write(const std::function<Status(Db&)>& fn, bool lazy) {
  std::lock_guard lk(list_write_mu_);
  if (fenced_.load()) return fence_status();
  Db& db = *list_writer_;
  LazyCommit lazy_commit(*this, db, lazy);
  list_txn_seqs_.clear();
  list_txn_logged_ = false;
  Status st = db.exec("BEGIN IMMEDIATE");
  if (!st.ok()) return fence_if_fatal(std::move(st));
  st = fn(db);
  if (!st.ok()) {
    (void)db.exec("ROLLBACK");
    return fence_if_fatal(std::move(st));
  }
  st = db.exec("COMMIT");
  if (!st.ok()) {
    (void)db.exec("ROLLBACK");
    // A full disk refused the WAL's growth: no commit frame was written,
    // nothing changed (run_batch). Any other failed commit may or may not
    // have reached the disk: stop writing.
    if (st.error().code == Errc::NoSpace) return st;
    fence(st.error());
    return fence_status();
  }
  if (list_txn_logged_) {
    bump_change_generation(0);
    own_committed(list_txn_seqs_);
    publish_committed();
  }
  return {};
}

void StoreImpl::own_committed(const std::vector<uint64_t>& seqs) {
  if (seqs.empty()) return;
  {
    std::lock_guard lk(own_mu_);
    if (!own_overflow_.load(std::memory_order_relaxed)) {
      own_unacked_.insert(seqs.begin(), seqs.end());
      if (own_unacked_.size() > kOwnUnackedMax) {
        own_unacked_.clear();
        own_overflow_.store(true, std::memory_order_relaxed);
        CYR_LOG(Notice, opts_.sid,
                "more than %zu change records not acknowledged: sync-mode waits read the change log", kOwnUnackedMax);
      }
    }
  }
}

// Change records were just committed (whether or not own_unacked_ tracks
// them): start the replicator's round now; the writer may still be
// flushing (run_batch).
void StoreImpl::publish_committed() {
  if (auto b = std::atomic_load(&barrier_)) b->committed();
}

void StoreImpl::own_forget(const std::vector<uint64_t>& seqs) {
  if (seqs.empty()) return;
  std::lock_guard lk(own_mu_);
  for (uint64_t s : seqs) own_unacked_.erase(s);
}

std::optional<std::vector<uint64_t>> StoreImpl::own_unacked_changes(size_t max) {
  if (std::atomic_load(&barrier_) == nullptr) return std::nullopt;
  std::lock_guard lk(own_mu_);
  if (own_overflow_.load(std::memory_order_relaxed)) return std::nullopt;
  std::vector<uint64_t> out;
  for (auto it = own_unacked_.begin(); it != own_unacked_.end() && out.size() < max; ++it) out.push_back(*it);
  return out;
}

// Change sequence numbers are handed out from blocks reserved durably in
// {configdirectory}/change_seq (its own file, so that both list and shard
// transactions can draw numbers without holding each other's locks). After
// a restart numbering resumes above the last reservation: seq only grows.
//
// Several processes may open one store (OpenMode), so a reservation is made
// under an exclusive flock of change_seq.lock and starts above whatever any
// process reserved last: blocks never overlap. Seq order across processes is
// therefore not commit order; nothing depends on it (ack_changes forgets the
// exact records it was given).
// The cross-process half of next_seq, also used by the repair tools
// (layout::log_changes): under the exclusive flock of change_seq.lock,
// reserves `count` numbers starting at `at_least` or above the last block
// any process reserved, and writes the block's end durably (temporary file,
// fsync, rename, directory fsync) before returning its first number.
static Result<uint64_t> reserve_seq_block(const fs::path& configdirectory, const Spool& spool,
                                          uint64_t at_least, uint64_t count) {
  fs::path lock_path = configdirectory / "change_seq.lock";
  fs::path final_path = configdirectory / "change_seq";
  fs::path tmp = configdirectory / "change_seq.tmp";
  int lock_fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0640);
  bool ok = lock_fd >= 0 && ::flock(lock_fd, LOCK_EX) == 0;
  uint64_t start = at_least;
  if (ok) {
    uint64_t on_disk = 0;
    std::ifstream seqf(final_path);
    if (seqf) seqf >> on_disk;
    start = std::max(start, on_disk + 1);
  }
  uint64_t upto = start + count - 1;
  std::string text = std::to_string(upto) + "\n";
  int fd = ok ? ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640) : -1;
  ok = ok && fd >= 0 && ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) &&
       spool.fsync_fd(fd) == 0;
  if (fd >= 0) ::close(fd);
  ok = ok && ::rename(tmp.c_str(), final_path.c_str()) == 0 && spool.fsync_dir(configdirectory.string()).ok();
  if (lock_fd >= 0) ::close(lock_fd);  // releases the flock
  if (!ok) return Error(Errc::Io, "Mailbox store I/O error", "cannot reserve change sequence numbers");
  return start;
}

Result<uint64_t> StoreImpl::next_seq() {
  std::lock_guard lk(seq_mu_);
  if (next_seq_ > seq_reserved_) {
    // A secondary (a short-lived tool) takes small blocks: fewer numbers lost
    // when it exits, and its records interleave less oddly with the primary's.
    uint64_t block = opts_.open_mode == OpenMode::Secondary ? kSeqReserveBlock / 256 : kSeqReserveBlock;
    auto start = reserve_seq_block(opts_.configdirectory, spool_, next_seq_, block + 1);
    if (!start.ok()) {
      fence(start.error());
      return start.take_error();
    }
    next_seq_ = *start;
    seq_reserved_ = *start + block;
  }
  return next_seq_++;
}

Result<std::optional<ListEntry>> StoreImpl::list_get(Db& db, const std::string& name) {
  auto st = db.cached(
      "SELECT uniqueid, shard_id, partition, acl, uidvalidity, mbtype FROM mailbox WHERE name=?");
  if (!st.ok()) return st.take_error();
  (*st)->bind(1, name);
  auto row = (*st)->step();
  if (!row.ok()) return row.take_error();
  if (!*row) return std::optional<ListEntry>();
  ListEntry e;
  e.name = name;
  e.uniqueid = (*st)->text(0);
  e.shard_id = static_cast<uint64_t>((*st)->i64(1));
  e.partition = (*st)->text(2);
  e.acl = (*st)->text(3);
  e.uidvalidity = static_cast<uint32_t>((*st)->i64(4));
  e.type = (*st)->i64(5) == 1 ? MailboxType::Shared : MailboxType::User;
  (*st)->reset();
  return std::optional<ListEntry>(std::move(e));
}

Result<ListEntry> StoreImpl::list_entry(const std::string& name) {
  CYR_TRY(validate_mailbox_name(name));
  auto db = list_readers_->get();
  if (!db.ok()) return db.take_error();
  auto e = list_get(**db, name);
  if (!e.ok()) return e.take_error();
  if (!*e) return not_found(name);
  return std::move(**e);
}

Result<uint64_t> StoreImpl::shard_id_for(Db& db, const std::string& shard_name, bool create) {
  auto st = db.cached("SELECT id FROM shard WHERE name=?");
  if (!st.ok()) return st.take_error();
  (*st)->bind(1, shard_name);
  auto row = (*st)->step();
  if (!row.ok()) return row.take_error();
  if (*row) {
    uint64_t id = static_cast<uint64_t>((*st)->i64(0));
    (*st)->reset();
    return id;
  }
  if (!create) return Error(Errc::NotFound, "No such owner", shard_name);
  auto ins = db.cached("INSERT INTO shard(name) VALUES(?)");
  if (!ins.ok()) return ins.take_error();
  (*ins)->bind(1, shard_name);
  CYR_TRY((*ins)->run());
  return static_cast<uint64_t>(sqlite3_last_insert_rowid(db.raw()));
}

Status StoreImpl::list_log_change(Db& db, ChangeKind kind, const std::string& a1,
                                  const std::string& a2) {
  auto seq = next_seq();
  if (!seq.ok()) return seq.take_error();
  auto st = db.cached("INSERT INTO change(seq, kind, arg1, arg2) VALUES(?,?,?,?)");
  if (!st.ok()) return st.take_error();
  (*st)->bind(1, static_cast<int64_t>(*seq)).bind(2, static_cast<int64_t>(kind)).bind(3, a1).bind(4, a2);
  CYR_TRY((*st)->run());
  // Always inside list_write, which holds list_write_mu_.
  if (tracking_own()) list_txn_seqs_.push_back(*seq);
  list_txn_logged_ = true;
  return {};
}

// ---------------------------------------------------------------------------
// Shards

fs::path StoreImpl::shard_path(uint64_t id) const {
  return layout::shard_db_path(opts_.configdirectory, id);
}

// Every access to a shard goes through here: a shard this process has not
// seen yet is checked for records committed before their files were durable
// (check_unsynced) before anyone reads it.
Result<std::shared_ptr<Shard>> StoreImpl::shard(uint64_t id) {
  auto sh = shard_entry(id);
  if (!sh.ok()) return sh;
  if (!(*sh)->unsynced_checked.load(std::memory_order_acquire)) CYR_TRY(check_unsynced(*sh));
  return sh;
}

Result<std::shared_ptr<Shard>> StoreImpl::shard_entry(uint64_t id) {
  // Evicted shards are closed, and a demoted one trimmed, after shards_mu_
  // is released (declared before the lock, destroyed after it): closing
  // SQLite connections does file I/O, and every store call of every thread
  // looks its shard up under this lock.
  std::vector<std::shared_ptr<Shard>> evicted;
  std::shared_ptr<Shard> demoted;
  std::shared_ptr<Shard> sh;
  {
    std::lock_guard lk(shards_mu_);
    auto it = shards_.find(id);
    if (it != shards_.end()) {
      sh = it->second;
      touch(*sh, &demoted);
    } else {
      // Close the least recently used shards nobody is using (only the
      // cache holds a reference); cold ones first. Each list is walked at
      // most once.
      for (auto* list : {&cold_, &hot_}) {
        for (auto i = list->end(); i != list->begin() && shards_.size() >= open_shards_cap_;) {
          --i;
          auto found = shards_.find((*i)->id);
          if (found == shards_.end() || found->second.use_count() != 1) continue;
          evicted.push_back(std::move(found->second));
          shards_.erase(found);
          i = list->erase(i);
        }
      }
      sh = std::make_shared<Shard>();
      sh->id = id;
      sh->path = shard_path(id).string();
      sh->readers = std::make_unique<DbPool>(sh->path, /*shard=*/true);
      shards_.emplace(id, sh);
      cold_.push_front(sh.get());
      sh->lru_pos = cold_.begin();
      touch(*sh, &demoted);
    }
  }
  if (demoted) trim_shard(*demoted);
  return sh;
}

void StoreImpl::touch(Shard& sh, std::shared_ptr<Shard>* demoted) {
  if (sh.hot) {
    hot_.splice(hot_.begin(), hot_, sh.lru_pos);
    return;
  }
  hot_.splice(hot_.begin(), cold_, sh.lru_pos);
  sh.hot = true;
  if (hot_.size() <= hot_limit_) return;
  Shard* out = hot_.back();
  cold_.splice(cold_.begin(), hot_, std::prev(hot_.end()));
  out->hot = false;
  auto it = shards_.find(out->id);
  if (it != shards_.end()) *demoted = it->second;
}

// A shard that left the hot ones: its writer goes back to the pool and the
// pool keeps one idle connection with its page cache released. A shard busy
// right now (a batch holds write_mu) is left as it is; it is trimmed when it
// is pushed out again. ensure_writer takes the pooled connection back at the
// next write (the shard stays `recovered`: no second recovery).
void StoreImpl::trim_shard(Shard& sh) {
  std::vector<std::unique_ptr<Db>> closing;
  {
    std::unique_lock wl(sh.write_mu, std::try_to_lock);
    if (!wl.owns_lock()) return;
    closing = sh.readers->trim(std::move(sh.writer));
  }
}  // the extra connections close here, with no lock held

// A new shard's database file, written whole under `tmp` and fsync'd. The
// bytes are those of an empty database with the shard schema in WAL mode,
// made by SQLite once per process and then copied: a shard is born at its
// owner's first write (the first delivery to a new user), and building it
// with SQLite each time cost about ten syncs (journal, directory, header,
// checkpoint); a copy costs one.
static Status write_fresh_shard(const Spool& spool, const std::string& tmp) {
  static std::mutex mu;
  static std::string image;  // empty until made
  std::string bytes;
  {
    std::lock_guard lk(mu);
    if (image.empty()) {
      std::string maker = tmp + ".image";
      std::error_code ec;
      for (const char* suffix : {"", "-wal", "-shm", "-journal"}) fs::remove(maker + suffix, ec);
      {
        auto fresh = Db::open(maker, true);
        if (!fresh.ok()) return fresh.take_error();
        CYR_TRY((*fresh)->exec("PRAGMA synchronous=OFF"));
        CYR_TRY((*fresh)->exec("BEGIN"));
        CYR_TRY((*fresh)->exec(kShardSchema));
        CYR_TRY((*fresh)->exec("COMMIT"));
      }  // closing the last connection checkpoints the WAL into the file
      std::ifstream in(maker, std::ios::binary);
      std::string made((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      bool read_ok = in.good() || in.eof();
      in.close();
      fs::remove(maker, ec);
      if (!read_ok || made.size() < 100 || made.compare(0, 16, std::string("SQLite format 3\0", 16)) != 0)
        return Error(Errc::Io, "Mailbox store I/O error", "cannot build the shard database image " + maker);
      image = std::move(made);
    }
    bytes = image;
  }
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return create_error("cannot create " + tmp, errno);
  size_t done = 0;
  int err = 0;
  while (done < bytes.size()) {
    ssize_t w = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      err = w < 0 ? errno : ENOSPC;
      break;
    }
    done += static_cast<size_t>(w);
  }
  if (done < bytes.size()) {
    ::close(fd);
    ::unlink(tmp.c_str());  // a part of an image: give the space back
    return create_error("cannot write " + tmp, err);
  }
  bool ok = spool.fsync_fd(fd) == 0;
  err = errno;
  ::close(fd);
  if (!ok) return Error(Errc::Io, "Mailbox store I/O error", "cannot flush " + tmp + ": " + strerror(err));
  return {};
}

// Whether the shard's mailbox table has the SYNC_CRC columns (a shard made
// by a build before they were kept has not, until its first write here).
static Result<bool> has_sync_crc_columns(Db& db) {
  auto q = db.prepare("SELECT 1 FROM pragma_table_info('mailbox') WHERE name='sync_crc_modseq'");
  if (!q.ok()) return q.take_error();
  auto r = q->step();
  if (!r.ok()) return r.take_error();
  return *r;
}

// Whether the shard's record table has structure_id (a shard made before
// structure_blob has not, until its first write here).
static Result<bool> has_column(Db& db, const char* table, const char* column) {
  auto q = db.prepare("SELECT 1 FROM pragma_table_info(?) WHERE name=?");
  if (!q.ok()) return q.take_error();
  q->bind(1, std::string_view(table)).bind(2, std::string_view(column));
  auto r = q->step();
  if (!r.ok()) return r.take_error();
  return *r;
}

// And whether its mailbox table has unsynced_uid (the same upgrade adds
// both: layout::ensure_structure_id_column).
static Result<bool> has_structure_id_column(Db& db) {
  auto sid = has_column(db, "record", "structure_id");
  if (!sid.ok() || !*sid) return sid;
  return has_column(db, "mailbox", "unsynced_uid");
}

// The upgrade of an older shard (layout::ensure_sync_crc_columns and
// ensure_structure_id_column) in a transaction of its own. Checked again
// under the write lock, since another process may be upgrading the same
// shard.
static Status add_sync_crc_columns(Db& db) {
  auto have = has_sync_crc_columns(db);
  if (!have.ok()) return have.take_error();
  auto have_sid = has_structure_id_column(db);
  if (!have_sid.ok()) return have_sid.take_error();
  if (*have && *have_sid) return {};
  CYR_TRY(db.exec("BEGIN IMMEDIATE"));
  Status st = layout::ensure_sync_crc_columns(db);
  if (st.ok()) st = layout::ensure_structure_id_column(db);
  if (st.ok()) st = db.exec("COMMIT");
  if (!st.ok()) (void)db.exec("ROLLBACK");
  return st;
}

Status StoreImpl::ensure_writer(Shard& sh) {
  if (sh.writer && sh.recovered) return {};
  if (!sh.writer) {
    std::error_code ec;
    fs::path dir = fs::path(sh.path).parent_path();
    fs::create_directories(dir, ec);
    if (!fs::exists(sh.path, ec)) {
      // A new shard database appears whole: its schema is written under a
      // temporary name and renamed into place, so a reader that opens the
      // file at the moment of the shard's first write never finds it
      // without tables ("no such table: mailbox").
      std::string tmp = sh.path + ".new";
      for (const char* suffix : {"", "-wal", "-shm"}) fs::remove(tmp + suffix, ec);
      CYR_TRY(write_fresh_shard(spool_, tmp));
      // Its WAL is made empty here too (dropping any stale one), so the one
      // directory fsync below makes both entries durable and the shard VFS
      // never needs another for it.
      std::string wal = sh.path + "-wal";
      fs::remove(sh.path + "-shm", ec);
      int wfd = ::open(wal.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
      if (wfd < 0) return create_error("cannot create " + wal, errno);
      struct stat wst;
      bool have_id = ::fstat(wfd, &wst) == 0;
      ::close(wfd);
      if (::rename(tmp.c_str(), sh.path.c_str()) != 0)
        return Error(Errc::Io, "Mailbox store I/O error", "cannot rename " + tmp + ": " + strerror(errno));
      CYR_TRY(spool_.fsync_dir(dir.string()));
      if (have_id && shard_vfs()) {
        std::lock_guard lk(g_wal_mu);
        g_durable_wals[wal] = FileId{wst.st_dev, wst.st_ino};
      }
    }
    // A reader left idle by a lookup just before (see DbPool::take_idle)
    // is configured as a writer would be: take it.
    sh.writer = sh.readers->take_idle();
    if (!sh.writer) {
      auto db = Db::open(sh.path, true, shard_vfs());
      if (!db.ok()) return db.take_error();
      CYR_TRY(configure_shard_connection(**db));
      sh.writer = std::move(*db);
    }
  }
  if (!sh.recovered) {
    // The schema statements are parsed and run once per shard per process,
    // not at every reopen of an evicted shard.
    if (!shard_seen(sh.id)) {
      CYR_TRY(sh.writer->exec(kShardSchema));
      CYR_TRY(add_sync_crc_columns(*sh.writer));
    }
    if (opts_.open_mode == OpenMode::Primary) CYR_TRY(recover_shard(sh));
    sh.recovered = true;
    std::lock_guard lk(prepared_mu_);
    prepared_shards_.insert(sh.id);
  }
  return {};
}

// First write access to a shard in this process: finish interrupted
// renames/deletes, and remove message files that were written but never
// indexed (a crash between link and commit).
//
// Orphans are removed inside the shard's write transaction: a writer in
// another process (OpenMode::Secondary) links a message file into place only
// while it holds that same lock, so a file linked for a commit in progress is
// never taken for an orphan.
Status StoreImpl::recover_shard(Shard& sh) {
  Db& db = *sh.writer;
  // The orphan sweep runs once per shard per process: only a crash (of a
  // process before us) leaves orphans, and a writer that reuses a uid
  // replaces a stale file anyway. Reading every mailbox directory of the
  // user at each reopen of an evicted shard made a delivery O(mailbox size).
  const bool sweep = !shard_seen(sh.id);
  if (!sweep) {
    // A reopen after eviction (every spread delivery on a node with more
    // users than max_open_shards) usually finds no intent: say so with one
    // cached read of the list instead of a write transaction on the shard.
    // An intent added after this read belongs to a live rename or delete,
    // which applies it itself under the shard's write lock (one left by a
    // crash is found at the next reopen, as before).
    auto ldb = list_readers_->get();
    if (!ldb.ok()) return ldb.take_error();
    auto q = (*ldb)->cached("SELECT 1 FROM intent WHERE shard_id=? LIMIT 1");
    if (!q.ok()) return q.take_error();
    (*q)->bind(1, static_cast<int64_t>(sh.id));
    auto any = (*q)->step();
    if (!any.ok()) return any.take_error();
    const bool pending = *any;
    (*q)->reset();
    if (!pending) return {};
  }
  CYR_TRY(db.exec("BEGIN IMMEDIATE"));
  int64_t applied_upto = 0;
  Status st = apply_intents(sh, db, &applied_upto);
  if (st.ok() && sweep) {
    auto rows = db.prepare("SELECT partition, uniqueid, last_uid FROM mailbox");
    if (!rows.ok()) st = rows.take_error();
    for (; st.ok();) {
      auto r = rows->step();
      if (!r.ok()) {
        st = r.take_error();
        break;
      }
      if (!*r) break;
      auto dir = spool_.mailbox_dir(rows->text(0), rows->text(1));
      if (dir.ok()) spool_.remove_orphans(*dir, static_cast<Uid>(rows->i64(2)));
    }
  }
  if (!st.ok()) {
    (void)db.exec("ROLLBACK");
    return st;
  }
  CYR_TRY(db.exec("COMMIT"));
  // Intents done: forget them.
  return forget_intents(sh.id, applied_upto);
}

Status StoreImpl::forget_intents(uint64_t shard_id, int64_t upto) {
  if (upto == 0) return {};
  return list_write([&](Db& ldb) -> Status {
    auto d = ldb.cached("DELETE FROM intent WHERE shard_id=? AND id<=?");
    if (!d.ok()) return d.take_error();
    (*d)->bind(1, static_cast<int64_t>(shard_id)).bind(2, upto);
    return (*d)->run();
  });
}

// Recomputes which quota root governs each mailbox of the shard and every
// root's usage from the records: exact, and in the caller's transaction.
static Status recompute_quota(StoreImpl& s, Db& db) {
  auto mbs = db.prepare("SELECT mbid, name FROM mailbox");
  if (!mbs.ok()) return mbs.take_error();
  std::vector<std::pair<int64_t, std::string>> all;
  for (;;) {
    auto r = mbs->step();
    if (!r.ok()) return r.take_error();
    if (!*r) break;
    all.emplace_back(mbs->i64(0), mbs->text(1));
  }
  for (auto& [mbid, name] : all) {
    auto root = s.nearest_quota_root(db, name);
    if (!root.ok()) return root.take_error();
    auto up = db.cached("UPDATE mailbox SET quota_mbid=? WHERE mbid=?");
    if (!up.ok()) return up.take_error();
    (*up)->bind(1, *root).bind(2, mbid);
    CYR_TRY((*up)->run());
  }
  return db.exec(
      "UPDATE quota SET "
      " storage_used = (SELECT COALESCE(SUM(total_size),0) FROM mailbox m WHERE m.quota_mbid = quota.mbid),"
      " message_used = (SELECT COALESCE(SUM(exists_count),0) FROM mailbox m WHERE m.quota_mbid = quota.mbid)");
}

Status StoreImpl::apply_intents(Shard& sh, Db& db, int64_t* applied_upto) {
  std::vector<std::tuple<std::string, std::string, std::string>> intents;
  {
    auto ldb = list_readers_->get();
    if (!ldb.ok()) return ldb.take_error();
    auto st = (*ldb)->prepare("SELECT kind, arg1, arg2, id FROM intent WHERE shard_id=? ORDER BY id");
    if (!st.ok()) return st.take_error();
    st->bind(1, static_cast<int64_t>(sh.id));
    for (;;) {
      auto r = st->step();
      if (!r.ok()) return r.take_error();
      if (!*r) break;
      intents.emplace_back(st->text(0), st->text(1), st->text(2));
      if (applied_upto) *applied_upto = st->i64(3);
    }
  }
  bool quota_dirty = false;
  for (auto& [kind, a1, a2] : intents) {
    if (kind == "delete") {
      // a1 = uniqueid. Remove every row of the mailbox; files go after commit.
      auto q = db.prepare("SELECT mbid, partition FROM mailbox WHERE uniqueid=?");
      if (!q.ok()) return q.take_error();
      q->bind(1, a1);
      auto r = q->step();
      if (!r.ok()) return r.take_error();
      if (*r) {
        int64_t mbid = q->i64(0);
        std::string part = q->text(1);
        for (const char* sqlt :
             {"DELETE FROM structure_blob WHERE id IN (SELECT structure_id FROM record WHERE mbid=?)",
              "DELETE FROM record WHERE mbid=?", "DELETE FROM structure WHERE mbid=?",
              "DELETE FROM seen WHERE mbid=?", "DELETE FROM annotation WHERE mbid=?",
              "DELETE FROM quota WHERE mbid=?", "DELETE FROM mailbox WHERE mbid=?"}) {
          auto d = db.prepare(sqlt);
          if (!d.ok()) return d.take_error();
          d->bind(1, mbid);
          CYR_TRY(d->run());
        }
        auto dir = spool_.mailbox_dir(part, a1);
        if (dir.ok()) {
          std::error_code ec;
          fs::remove_all(*dir, ec);  // files of a deleted mailbox: nothing refers to them
        }
        quota_dirty = true;
      }
    } else if (kind == "unsieve") {
      // a1 = userid whose INBOX was deleted: their Sieve scripts go too (as
      // Cyrus removes a deleted user's sieve directory), so that a user
      // created again under that name does not inherit an active script,
      // such as the old one's vacation answer. An intent, so that a crash
      // after the list's commit still removes them.
      auto d = db.prepare("DELETE FROM sieve_script WHERE userid=?");
      if (!d.ok()) return d.take_error();
      d->bind(1, a1);
      CYR_TRY(d->run());
    } else if (kind == "rename") {
      // a1 = old name, a2 = new name: the mailbox and everything below.
      auto up = db.prepare(
          "UPDATE mailbox SET name = ?2 || substr(name, length(?1) + 1)"
          " WHERE name = ?1 OR substr(name, 1, length(?1) + 1) = ?1 || '.'");
      if (!up.ok()) return up.take_error();
      up->bind(1, a1).bind(2, a2);
      CYR_TRY(up->run());
      auto subs = db.prepare(
          "UPDATE OR REPLACE subscription SET name = ?2 || substr(name, length(?1) + 1)"
          " WHERE name = ?1 OR substr(name, 1, length(?1) + 1) = ?1 || '.'");
      if (!subs.ok()) return subs.take_error();
      subs->bind(1, a1).bind(2, a2);
      CYR_TRY(subs->run());
      quota_dirty = true;
    } else if (kind == "rename_user") {
      // a1 = old userid, a2 = new userid: seen state and subscriptions follow.
      for (const char* sqlt : {"UPDATE OR REPLACE seen SET userid=?2 WHERE userid=?1",
                               "UPDATE OR REPLACE subscription SET userid=?2 WHERE userid=?1",
                               "UPDATE OR REPLACE sieve_script SET userid=?2 WHERE userid=?1"}) {
        auto up = db.prepare(sqlt);
        if (!up.ok()) return up.take_error();
        up->bind(1, a1).bind(2, a2);
        CYR_TRY(up->run());
      }
    }
  }
  if (quota_dirty) CYR_TRY(recompute_quota(*this, db));
  return {};
}

// Called inside the shard's write transaction, before its commit. The marker
// is looked up in mailboxes.db each time, never remembered: the acknowledger
// (perhaps another process) removes it, and does so only while holding the
// same shard's write lock (run_batch, clean_marker), so the check-then-insert
// here cannot interleave with that removal. A remembered "marker exists"
// would be wrong as soon as it was removed, and our records never read.
// The check is a read (no list write, no fsync) in the common case.
Status StoreImpl::ensure_marker(uint64_t shard_id) {
  {
    std::lock_guard lk(markers_mu_);
    auto db = list_readers_->get();
    if (!db.ok()) return db.take_error();
    auto st = (*db)->cached("SELECT 1 FROM pending_shard WHERE shard_id=?");
    if (!st.ok()) return st.take_error();
    (*st)->bind(1, static_cast<int64_t>(shard_id));
    auto r = (*st)->step();
    if (!r.ok()) return r.take_error();
    bool present = *r;
    (*st)->reset();
    if (present) return {};
  }
  return insert_marker_grouped(shard_id);
}

// Group commit of marker inserts across shards. Each first write to a shard
// since its records were last acknowledged inserts a marker, and with mail
// spread over many users that is nearly every delivery: one mailboxes.db
// commit (and fsync) each, one after another under list_write, capped spread
// delivery at one fsync latency per message. Now the first queued writer
// commits every marker queued meanwhile in one transaction; the others wait
// for that commit, so each caller still returns only once its marker is on
// disk. The check before (ensure_marker) and a marker's removal both happen
// under the shard's write lock, which the caller holds, so deferring the
// insert into a shared commit changes nothing in that reasoning.
Status StoreImpl::insert_marker_grouped(uint64_t shard_id) {
  MarkerInsert me;
  me.shard_id = shard_id;
  std::unique_lock lk(marker_q_mu_);
  marker_q_.push_back(&me);
  marker_q_cv_.wait(lk, [&] { return me.done || marker_q_.front() == &me; });
  if (me.done) return std::move(me.result);
  std::vector<MarkerInsert*> batch(marker_q_.begin(), marker_q_.end());
  lk.unlock();
  Status st = list_write([&](Db& db) -> Status {
    auto ins = db.cached("INSERT OR IGNORE INTO pending_shard(shard_id) VALUES(?)");
    if (!ins.ok()) return ins.take_error();
    for (MarkerInsert* m : batch) {
      (*ins)->bind(1, static_cast<int64_t>(m->shard_id));
      Status r = (*ins)->run();
      (*ins)->reset();
      if (!r.ok()) return r;
    }
    return {};
  });
  lk.lock();
  for (size_t i = 0; i < batch.size(); ++i) {
    MarkerInsert* m = marker_q_.front();
    marker_q_.pop_front();
    m->result = st;
    m->done = true;
  }
  marker_q_cv_.notify_all();
  return std::move(me.result);
}

// Group commit: every writer queues its op; the op at the head of the queue
// becomes the leader, takes every queued op into one SQLite transaction, and
// commits once for all of them. Followers sleep until their op is done.
Status StoreImpl::shard_write(const std::shared_ptr<Shard>& sh, WriteMode mode,
                              std::function<Status(ShardTxn&)> fn, bool lazy) {
  CYR_TRY(check_writable(mode));
  WriteOp op;
  op.fn = std::move(fn);
  op.mode = mode;
  op.lazy = lazy;
  std::unique_lock lk(sh->q_mu);
  sh->queue.push_back(&op);
  sh->q_cv.wait(lk, [&] { return op.done || sh->queue.front() == &op; });
  if (!op.done) {
    std::vector<WriteOp*> batch;
    for (WriteOp* o : sh->queue) {
      if (batch.size() >= kMaxBatchOps) break;
      batch.push_back(o);
    }
    lk.unlock();
    run_batch(*sh, batch);
    lk.lock();
    for (size_t i = 0; i < batch.size(); ++i) {
      sh->queue.pop_front();
      batch[i]->done = true;
    }
    sh->q_cv.notify_all();
  }
  lk.unlock();
  if (op.result.ok()) after_commit(op);
  if (op.result.ok() && mode == WriteMode::Normal) await_replica();
  return std::move(op.result);
}

// Clears mailbox `mbid`'s unsynced mark: every record it covered is settled
// or known durable (see run_batch for when that holds).
static Status forget_unsynced(Db& db, int64_t mbid) {
  auto d = db.cached("UPDATE mailbox SET unsynced_uid=NULL WHERE mbid=? AND unsynced_uid IS NOT NULL");
  if (!d.ok()) return d.take_error();
  (*d)->bind(1, mbid);
  return (*d)->run();
}

// Deletes body journal rows whose files are durable.
static Status forget_journal(Db& db, const std::vector<int64_t>& ids) {
  if (ids.empty()) return {};
  auto d = db.cached("DELETE FROM body_journal WHERE id=?");
  if (!d.ok()) return d.take_error();
  Stmt* st = *d;
  ResetOnExit reset(st);
  for (int64_t id : ids) {
    st->reset();
    st->bind(1, id);
    CYR_TRY(st->run());
  }
  return {};
}

// Clears the marks of the mailboxes of `rows` ((mbid, uid) pairs), once each.
static Status forget_unsynced(Db& db, const std::vector<std::pair<int64_t, int64_t>>& rows) {
  std::set<int64_t> done;
  for (auto& [mbid, uid] : rows) {
    (void)uid;
    if (done.insert(mbid).second) CYR_TRY(forget_unsynced(db, mbid));
  }
  return {};
}

// A committed op whose durability failed: its caller is told the store is
// fenced, and nothing is done after the commit on its behalf (no watcher
// fires, no file goes).
static void refuse_committed(WriteOp& o, const Error& cause) {
  if (o.result.ok()) o.result = Error(Errc::Fenced, "Mailbox store is fenced after an error", cause.describe());
  o.events.clear();
  o.unlink_after.clear();
  o.rmdir_after.clear();
}

// The commit protocol. Strict order (every batch with an op that links
// files without registering them, and every batch of a secondary process):
// the message files and directories are flushed, then the index commits, so
// a crash never leaves a committed record without its file. Overlapped
// order (appends and deliveries in the primary process): the index commit
// runs while the files and directories are flushed, and the call returns
// once all three are done - one disk flush of latency instead of two. Then
// a crash can leave a committed record whose file or directory entry never
// reached the disk, so the same transaction marks the mailbox: its row's
// unsynced_uid is lowered to the first new UID ("records from here on may
// lack their file"; the row is rewritten by the append anyway, where a row
// per message in a table of its own cost a WAL page per commit). The rule:
// a mark is cleared only once every record it covers is known durable, and
// a shard is never read by a process before it has checked the records
// under its marks (check_unsynced: a record whose file is missing or does
// not hash to its GUID is removed as if never appended - it was never
// acknowledged; the others are fsync'd again). A mark is cleared by the
// shard's next batch in this process (or its clean close), for the
// mailboxes this process marked. That is safe because when a batch starts
// (holding write_mu and then the database's write lock) every record of the
// shard is durable: this process's earlier batches returned only after their
// flushes (write_mu is held across them; a failed flush fences the store, so
// no later batch runs and the marks stay for the next open); strict-order
// writers, here or in other processes, flush before they commit; and what an
// earlier process left was checked, and its marks cleared, at this
// process's first use of the shard. Only the primary process marks, so no
// other process's batch can be in flight under a mark; a secondary process
// that checks a shard while the primary's batch is in its flushes fsyncs
// those files itself before it clears the marks. Records above a mark that
// a strict-order writer added are checked too, and kept: their files are
// there.
void StoreImpl::run_batch(Shard& sh, std::vector<WriteOp*>& batch) {
  std::lock_guard wl(sh.write_mu);
  auto fail_all = [&](const Error& e) {
    for (WriteOp* o : batch) {
      if (o->result.ok()) o->result = e;
      for (auto& l : o->linked) ::unlink(l.c_str());
      o->events.clear();
      o->unlink_after.clear();
      o->rmdir_after.clear();
    }
  };
  // Rows of earlier batches whose flushes have returned: deleted by this
  // transaction, given back if it does not commit.
  // And body journal rows whose files the late flush has made durable.
  struct Clearing {
    StoreImpl* store;
    uint64_t id;
    std::vector<std::pair<int64_t, int64_t>> rows;
    std::vector<int64_t> journal;
    bool committed = false;
    bool empty() const { return rows.empty() && journal.empty(); }
    ~Clearing() {
      if (committed || empty()) return;
      std::lock_guard lk(store->synced_mu_);
      auto& back = store->synced_rows_[id];
      back.insert(back.end(), rows.begin(), rows.end());
      auto& j = store->journal_done_[id];
      j.insert(j.end(), journal.begin(), journal.end());
    }
  } clearing{this, sh.id, {}, {}};
  {
    std::lock_guard lk(synced_mu_);
    auto it = synced_rows_.find(sh.id);
    if (it != synced_rows_.end()) {
      clearing.rows = std::move(it->second);
      synced_rows_.erase(it);
    }
    auto jt = journal_done_.find(sh.id);
    if (jt != journal_done_.end()) {
      clearing.journal = std::move(jt->second);
      journal_done_.erase(jt);
    }
  }
  Status st = check_writable(WriteMode::Replication);  // fenced since queued?
  if (st.ok()) st = ensure_writer(sh);
  const bool lazy = std::all_of(batch.begin(), batch.end(), [](const WriteOp* o) { return o->lazy; });
  // sync_mode: sync on the primary. The commit itself does not flush the
  // WAL (synchronous=NORMAL for it); its records are published at once
  // (own_committed -> ReplicationBarrier::committed), so the replication
  // round runs while this thread flushes the WAL (Db::sync_wal) before the
  // batch returns. Durability when the batch returns is the same as a FULL
  // commit's; the difference is that the replica and this node's readers
  // may see the records up to one flush before they are durable here. A
  // power failure inside that window can leave the replica ahead of this
  // node for changes nobody was told OK of; the replication client then
  // finds the replica's higher LAST_UID or HIGHESTMODSEQ and repairs by
  // copying back (sync_client full_update), as after a split brain.
  // Only batches with a client's write (the records a sync-mode writer
  // waits for): a replica's applies and internal writes commit as before.
  const bool client_write =
      std::any_of(batch.begin(), batch.end(), [](const WriteOp* o) { return o->mode == WriteMode::Normal; });
  const bool flush_after_publish = st.ok() && !lazy && client_write && opts_.open_mode == OpenMode::Primary &&
                                   sh.writer->in_wal_mode() && std::atomic_load(&barrier_) != nullptr;
  std::optional<LazyCommit> lazy_commit;
  if (st.ok()) lazy_commit.emplace(*this, *sh.writer, lazy || flush_after_publish);
  if (st.ok()) st = sh.writer->exec("BEGIN IMMEDIATE");
  if (!st.ok()) {
    Status f = fence_if_fatal(std::move(st));
    fail_all(f.ok() ? Error(Errc::Internal, "Mailbox store error") : f.error());
    return;
  }
  Db& db = *sh.writer;
  st = forget_unsynced(db, clearing.rows);
  if (st.ok()) st = forget_journal(db, clearing.journal);
  if (!st.ok()) {
    (void)db.exec("ROLLBACK");
    fence(st.error());
    fail_all(Error(Errc::Fenced, "Mailbox store is fenced after an error", st.error().describe()));
    return;
  }
  ShardTxn tx;
  tx.store = this;
  tx.shard = &sh;
  tx.db = &db;
  bool any_ok = false;
  for (WriteOp* o : batch) {
    tx.op = o;
    tx.mode = o->mode;
    // Each op runs in a savepoint: one op's failure (quota, not found)
    // rolls back only that op; the rest of the batch commits.
    Status s = db.exec("SAVEPOINT op");
    if (s.ok()) s = o->fn(tx);
    if (s.ok()) {
      s = db.exec("RELEASE op");
      if (s.ok()) any_ok = true;
    } else {
      (void)db.exec("ROLLBACK TO op");
      (void)db.exec("RELEASE op");
      for (auto& l : o->linked) ::unlink(l.c_str());
      o->linked.clear();
      o->events.clear();
      o->unlink_after.clear();
      o->rmdir_after.clear();
      o->unsynced.clear();
      o->logged.clear();
      o->journal_ids.clear();
      o->journal_files.clear();
      o->journal_dirs.clear();
      o->journal_partitions.clear();
    }
    if (!s.ok() && fencing_error(s.error())) {
      fence(s.error());
      (void)db.exec("ROLLBACK");
      fail_all(Error(Errc::Fenced, "Mailbox store is fenced after an error", s.error().describe()));
      return;
    }
    o->result = std::move(s);
  }
  if (!any_ok && clearing.empty()) {
    (void)db.exec("ROLLBACK");
    return;
  }
  // What to flush: the message files not yet synced (those staged with
  // defer_sync) and the directories holding their new names.
  std::set<std::string> files;
  std::vector<std::pair<int64_t, int64_t>> registered;
  for (WriteOp* o : batch) {
    if (!o->result.ok()) continue;
    files.insert(o->sync_files.begin(), o->sync_files.end());
    registered.insert(registered.end(), o->unsynced.begin(), o->unsynced.end());
  }
  const std::vector<std::string> file_list(files.begin(), files.end());
  const std::vector<std::string> dir_list(tx.dirs_to_sync.begin(), tx.dirs_to_sync.end());
  const bool overlap = opts_.open_mode == OpenMode::Primary && !tx.strict_order;
  // Strict order: files and directories, then the pending marker, then the
  // commit. Overlapped: the marker, then the commit alongside the flushes.
  if (!overlap) st = spool_.fsync_many(file_list, dir_list);
  if (st.ok() && tx.wrote_changes) st = ensure_marker(sh.id);
  bool marker_dropped = false;
  bool keep_marker = false;
  if (st.ok() && tx.clean_marker && !tx.wrote_changes) {
    // All records consumed: drop the marker before our commit, while this
    // transaction still holds the shard's write lock - no writer of any
    // process can add a record (and find the marker present) in between.
    std::lock_guard lk(markers_mu_);
    auto cc = db.cached("SELECT 1 FROM change LIMIT 1");
    if (cc.ok()) {
      Stmt* c = *cc;
      auto r = c->step();
      c->reset();
      if (r.ok() && !*r && tx.linger_marker && tracking_own() && shard_is_hot(sh.id)) {
        keep_marker = true;  // registered once this transaction has committed
      } else if (r.ok() && !*r) {
        // Lazy: a marker that comes back after a power failure only makes
        // the reader look at an empty table again.
        Status d = list_write(
            [&](Db& ldb) -> Status {
              auto del = ldb.cached("DELETE FROM pending_shard WHERE shard_id=?");
              if (!del.ok()) return del.take_error();
              (*del)->bind(1, static_cast<int64_t>(sh.id));
              return (*del)->run();
            },
            /*lazy=*/true);
        marker_dropped = d.ok();
      }
    }
  }
  // The batch's change records, for the sync-mode barrier: recorded as soon
  // as they are committed (visible to the replicator), before any writer of
  // the batch can start waiting for them.
  std::vector<uint64_t> own;
  for (WriteOp* o : batch)
    if (o->result.ok()) own.insert(own.end(), o->logged.begin(), o->logged.end());
  Status wal_synced;  // flush_after_publish only: the WAL flush after the commit
  auto commit = [&] {
    st = db.exec("COMMIT");
    if (!st.ok()) return;
    // Before own_committed wakes the replicator: a chain reads for new
    // records only when the generation of its shards has moved, and the
    // log reader skips a lingering shard until its next write is noted.
    if (tx.wrote_changes) {
      note_change_write(sh.id);
      bump_change_generation(sh.id);
      own_committed(own);
      publish_committed();
    }
    if (flush_after_publish) wal_synced = flush_wal(sh, db);
  };
  Status flushed;  // overlapped only: the flushes that ran alongside the commit
  if (st.ok()) {
    if (overlap)
      flushed = spool_.fsync_many_alongside(file_list, dir_list, commit);
    else
      commit();
  }
  if (!st.ok()) {
    (void)db.exec("ROLLBACK");
    // The records we meant to forget are still there: so must the marker be.
    if (marker_dropped) (void)ensure_marker(sh.id);
    if (st.error().code == Errc::NoSpace && flushed.ok()) {
      // A full disk refused the WAL's growth: SQLite wrote no commit frame,
      // so nothing of the batch is visible or durable, and the WAL is
      // written again from its last commit. Every op fails (fail_all
      // removes their new files); the store goes on, and writes again
      // once space is freed.
      fail_all(st.error());
      return;
    }
    fence(st.error());
    fail_all(Error(Errc::Fenced, "Mailbox store is fenced after an error", st.error().describe()));
    return;
  }
  clearing.committed = true;
  if (!wal_synced.ok()) {
    // Committed, maybe already replicated, but perhaps not durable here.
    // Nobody is told OK (an MTA delivers again; at worst a duplicate), no
    // file is removed (the records may yet be on disk), and the store
    // stops writing: after a failed flush the WAL's state is unknown. The
    // marks and journal rows stay for the check at the next open.
    fence(wal_synced.error());
    own_forget(own);
    for (WriteOp* o : batch) refuse_committed(*o, wal_synced.error());
    return;
  }
  if (!flushed.ok()) {
    // Committed, but a file or directory may not be durable: nobody is
    // told OK, and the records are taken back (withdraw_batch); if that
    // cannot commit either, the unsynced marks stay for the check at
    // the next open, which keeps or removes each record.
    fence(flushed.error());
    own_forget(own);  // withdrawn, or left for the check at the next open: no waiter is told OK
    withdraw_batch(sh, batch, registered);
    for (WriteOp* o : batch) {
      // An append whose every message was journaled is durable whatever
      // the flushes did, and withdraw_batch left it: it keeps its OK (an
      // MTA told otherwise would deliver it again).
      if (o->result.ok() && o->journaled_only()) {
        flusher_.add(sh.id, o->journal_ids, o->journal_files, o->journal_dirs, o->journal_partitions);
        continue;
      }
      refuse_committed(*o, flushed.error());
    }
    return;
  }
  if (!registered.empty()) {
    std::lock_guard lk(synced_mu_);
    auto& rows = synced_rows_[sh.id];
    rows.insert(rows.end(), registered.begin(), registered.end());
  }
  // Journaled messages: committed and durable; their files go to the late
  // flush, after which the next batch deletes their journal rows.
  for (WriteOp* o : batch) {
    if (!o->result.ok() || o->journal_files.empty()) continue;
    flusher_.add(sh.id, o->journal_ids, o->journal_files, o->journal_dirs, o->journal_partitions);
  }
  if (keep_marker) linger_marker(sh.id);
}

// The WAL flush of a publish-then-flush commit (run_batch). Tests inject
// flush failures through StoreOptions::fsync_hook: with one set, the WAL
// file is flushed through it (the same file, by its path) instead of by
// SQLite's own sync.
Status StoreImpl::flush_wal(Shard& sh, Db& db) {
  if (!opts_.fsync_hook) return db.sync_wal();
  const std::string wal = sh.path + "-wal";
  int fd = ::open(wal.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Error(Errc::Io, "Disk error", "open " + wal + ": " + std::strerror(errno));
  int rc = opts_.fsync_hook(fd);
  int err = errno;
  ::close(fd);
  if (rc != 0) return Error(Errc::Io, "Disk error", "fsync " + wal + ": " + std::strerror(err));
  return {};
}

void StoreImpl::bump_change_generation(uint64_t shard_id) {
  std::lock_guard lk(gen_mu_);
  if (change_gen_.size() >= kMaxTrackedShards) {
    change_gen_.clear();
    gen_floor_ = ++gen_counter_;
  }
  change_gen_[shard_id] = ++gen_counter_;
}

uint64_t StoreImpl::change_generation(const std::vector<uint64_t>& shards) {
  std::lock_guard lk(gen_mu_);
  // Every bump takes a new highest value, so the highest of these shards'
  // values (and the list's) changes exactly when one of them was bumped.
  auto of = [&](uint64_t id) {
    auto it = change_gen_.find(id);
    return it == change_gen_.end() ? gen_floor_ : it->second;
  };
  uint64_t g = of(0);
  for (uint64_t id : shards) g = std::max(g, of(id));
  return g;
}

bool StoreImpl::shard_is_hot(uint64_t shard_id) {
  std::lock_guard lk(linger_mu_);
  auto it = change_writes_.find(shard_id);
  if (it == change_writes_.end()) return false;
  auto now = std::chrono::steady_clock::now();
  auto [prev, last] = it->second;
  return prev.time_since_epoch().count() != 0 && last - prev < kMarkerLinger && now - last < kMarkerLinger;
}

// After a commit with change records: the shard is to be read again, and
// its write counts towards its being hot.
void StoreImpl::note_change_write(uint64_t shard_id) {
  std::lock_guard lk(linger_mu_);
  lingering_.erase(shard_id);
  if (!tracking_own()) return;
  if (change_writes_.size() >= kMaxTrackedShards) change_writes_.clear();  // a bound; only the heuristic forgets
  auto& w = change_writes_[shard_id];
  w.first = w.second;
  w.second = std::chrono::steady_clock::now();
}

void StoreImpl::linger_marker(uint64_t shard_id) {
  std::lock_guard lk(linger_mu_);
  if (lingering_.size() >= kMaxTrackedShards) return;  // then read as any other
  lingering_[shard_id] = std::chrono::steady_clock::now();
}

#define RECORD_COLS \
  "uid, modseq, createdmodseq, guid, system_flags, keywords, internaldate, savedate, last_updated, size, crc"

static Status quota_charge(Db& db, int64_t root, int64_t bytes, int64_t messages, bool check);
static Status write_record_row(Db& db, int64_t mbid, const MessageRecord& r, const std::string* structure);
static Status insert_record(Db& db, MbState& m, const MessageRecord* replaced, const MessageRecord& r,
                            const std::string* structure);
static MessageRecord row_to_record(Stmt& s, bool* crc_ok);

// Set while this thread checks a shard: the recovery's own calls into the
// store must not check again (and wait for themselves).
static thread_local bool t_checking_unsynced = false;

// Whether the kept statement `sql` (a string literal) yields a row.
static Result<bool> returns_a_row(Db& db, const char* sql) {
  auto q = db.cached(sql);
  if (!q.ok()) return q.take_error();
  ResetOnExit reset(*q);
  auto r = (*q)->step();
  if (!r.ok()) return r.take_error();
  return *r;
}

Status StoreImpl::check_unsynced(const std::shared_ptr<Shard>& sh) {
  if (t_checking_unsynced) return {};
  std::lock_guard lk(sh->unsynced_mu);
  if (sh->unsynced_checked.load(std::memory_order_acquire)) return {};
  auto mark = [&] {
    {
      std::lock_guard l2(unsynced_checked_mu_);
      unsynced_checked_.insert(sh->id);
    }
    sh->unsynced_checked.store(true, std::memory_order_release);
  };
  {
    std::lock_guard l2(unsynced_checked_mu_);
    if (unsynced_checked_.count(sh->id)) {
      sh->unsynced_checked.store(true, std::memory_order_release);
      return {};
    }
  }
  // No database yet: no rows. (The rows only a later writer could add are
  // that writer's own, cleared by it or checked by the next process.)
  if (!sh->has_file()) {
    mark();
    return {};
  }
  bool any = false;
  bool journal = false;
  bool upgrade = false;
  {
    auto rd = sh->readers->get();
    if (!rd.ok()) return rd.take_error();
    // Every read of a mailbox reads its SYNC_CRC columns: a shard without
    // them is upgraded (by its writer) before anyone reads it.
    auto cols = has_sync_crc_columns(**rd);
    if (!cols.ok()) return cols.take_error();
    // And record.structure_id, read with every structure.
    auto sid = has_structure_id_column(**rd);
    if (!sid.ok()) return sid.take_error();
    upgrade = !*cols || !*sid;
    Db& db = **rd;
    // Marks (mailbox.unsynced_uid), where the shard has the column yet.
    if (*sid) {
      auto r = returns_a_row(db, "SELECT 1 FROM mailbox WHERE unsynced_uid IS NOT NULL LIMIT 1");
      if (!r.ok()) return r.take_error();
      any = *r;
    }
    // A shard made by an older version has no such table until its first
    // write in this version, and then no rows either.
    auto table = returns_a_row(db, "SELECT 1 FROM sqlite_master WHERE type='table' AND name='unsynced_file'");
    if (!table.ok()) return table.take_error();
    // Rows an older version left (it kept one per message).
    if (*table && !any) {
      auto r = returns_a_row(db, "SELECT 1 FROM unsynced_file LIMIT 1");
      if (!r.ok()) return r.take_error();
      any = *r;
    }
    // Journaled messages whose late flush was not confirmed (a shard made
    // before the journal has no such table until its first write).
    auto jtable = returns_a_row(db, "SELECT 1 FROM sqlite_master WHERE type='table' AND name='body_journal'");
    if (!jtable.ok()) return jtable.take_error();
    if (*jtable) {
      auto r = returns_a_row(db, "SELECT 1 FROM body_journal LIMIT 1");
      if (!r.ok()) return r.take_error();
      journal = *r;
    }
  }
  // First the journal: it restores files that the check of the unsynced
  // marks would otherwise take for lost.
  if (journal) {
    t_checking_unsynced = true;
    Status st = recover_journal(sh);
    t_checking_unsynced = false;
    CYR_TRY(std::move(st));
  }
  if (upgrade && !any && !journal) {
    // An empty write: its batch runs ensure_writer(), which upgrades.
    t_checking_unsynced = true;
    Status st = shard_write(sh, WriteMode::Replication, [](ShardTxn&) -> Status { return {}; });
    t_checking_unsynced = false;
    CYR_TRY(std::move(st));
  }
  if (any) {
    t_checking_unsynced = true;
    Status st = recover_unsynced(sh);
    t_checking_unsynced = false;
    CYR_TRY(std::move(st));
  }
  mark();
  return {};
}

Status StoreImpl::settle_unsynced(Db& db, int64_t mbid, int64_t uid, bool only_if_damaged, bool* removed,
                                  fs::path* file) {
  *removed = false;
  file->clear();
  auto q = db.cached("SELECT " RECORD_COLS " FROM record WHERE mbid=? AND uid=?");
  if (!q.ok()) return q.take_error();
  Stmt& rec = **q;
  rec.bind(1, mbid).bind(2, uid);
  auto found = rec.step();
  if (!found.ok()) return found.take_error();
  if (!*found) {  // expunged and purged
    rec.reset();
    return {};
  }
  bool crc_ok = true;
  MessageRecord r = row_to_record(rec, &crc_ok);
  rec.reset();
  auto mq = db.cached("SELECT uniqueid, partition, quota_mbid, highestmodseq FROM mailbox WHERE mbid=?");
  if (!mq.ok()) return mq.take_error();
  Stmt& mb = **mq;
  mb.bind(1, mbid);
  auto mfound = mb.step();
  if (!mfound.ok()) return mfound.take_error();
  if (!*mfound) {  // its mailbox deleted
    mb.reset();
    return {};
  }
  const std::string uniqueid = mb.text(0), partition = mb.text(1);
  const int64_t quota_mbid = mb.i64(2);
  const ModSeq highestmodseq = static_cast<ModSeq>(mb.i64(3));
  mb.reset();
  if (r.expunged()) return {};  // a tombstone needs no file
  auto path = spool_.message_path(partition, uniqueid, static_cast<Uid>(uid));
  if (!path.ok()) return path.take_error();
  *file = *path;
  if (only_if_damaged) {
    bool intact = false;
    std::ifstream in(*path, std::ios::binary);
    if (in && crc_ok) {
      std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      intact = !in.bad() && bytes.size() == r.size && mail::MessageGuid::of(bytes) == r.guid;
    }
    if (intact) return {};
    CYR_LOG(Warning, opts_.sid, "message %lld of mailbox %s did not reach the disk before a crash;"
            " expunging its record (the append was never acknowledged)",
            static_cast<long long>(uid), uniqueid.c_str());
  }
  // The record was visible between its commit and the crash (to sessions,
  // and to the rolling client, which may have sent it to the replica), so it
  // becomes a tombstone with a new modseq, as an EXPUNGE makes one: QRESYNC
  // clients get it in VANISHED and the replica expunges its copy.
  r.flags.system |= kFlagExpunged;
  r.modseq = highestmodseq + 1;
  r.last_updated = now_seconds();
  // The SYNC_CRC pair is not kept here: HIGHESTMODSEQ moves below without
  // its stamp, so the next read of the mailbox computes the pair afresh
  // (read_state). This runs only after a crash or a failed flush.
  CYR_TRY(write_record_row(db, mbid, r, nullptr));
  // Its structure goes, and the record forgets the id: ids are reused once
  // the highest is deleted, so a kept one could name another message's.
  for (const char* sqlt : {"DELETE FROM structure_blob WHERE id=(SELECT structure_id FROM record WHERE mbid=?1 AND uid=?2)",
                           "UPDATE record SET structure_id=NULL WHERE mbid=?1 AND uid=?2",
                           "DELETE FROM structure WHERE mbid=?1 AND uid=?2"}) {
    auto ds = db.cached(sqlt);
    if (!ds.ok()) return ds.take_error();
    (*ds)->bind(1, mbid).bind(2, uid);
    CYR_TRY((*ds)->run());
  }
  auto up = db.cached(
      "UPDATE mailbox SET exists_count = exists_count - 1, total_size = total_size - ?,"
      " highestmodseq = ? WHERE mbid=?");
  if (!up.ok()) return up.take_error();
  (*up)->bind(1, static_cast<int64_t>(r.size)).bind(2, static_cast<int64_t>(r.modseq)).bind(3, mbid);
  CYR_TRY((*up)->run());
  CYR_TRY(quota_charge(db, quota_mbid, -static_cast<int64_t>(r.size), -1, false));
  *removed = true;
  return {};
}

// Checks every record under a mailbox's unsynced mark (and each row of
// unsynced_file, where an older version kept them): a record whose file exists with its
// size and GUID is kept, and its file and directory are fsync'd (again: the
// writer may have died before its flushes returned, or be flushing them
// now); any other record is removed - usage, counters and quota given back,
// a new modseq and a MAILBOX change record so that a replica converges - as
// if the append had never happened: it was never acknowledged. The UID is
// not reused (last_uid stays). Safe while another process writes: a
// committed record's file was linked before its commit, so a live writer's
// file is always there to verify.
Status StoreImpl::recover_unsynced(const std::shared_ptr<Shard>& sh) {
  size_t kept = 0, removed = 0;
  Status st = shard_write(sh, WriteMode::Replication, [&](ShardTxn& tx) -> Status {
    kept = removed = 0;
    Db& db = *tx.db;
    // The records under the marks, and an older version's rows.
    std::set<std::pair<int64_t, int64_t>> rows;
    for (const char* sqlt : {"SELECT r.mbid, r.uid FROM mailbox m JOIN record r ON r.mbid = m.mbid"
                             " WHERE m.unsynced_uid IS NOT NULL AND r.uid >= m.unsynced_uid",
                             "SELECT mbid, uid FROM unsynced_file"}) {
      auto q = db.prepare(sqlt);
      if (!q.ok()) return q.take_error();
      for (;;) {
        auto r = q->step();
        if (!r.ok()) return r.take_error();
        if (!*r) break;
        rows.emplace(q->i64(0), q->i64(1));
      }
    }
    std::set<std::string> files, dirs;
    std::set<int64_t> changed;  // mailboxes that lost a record
    std::vector<fs::path> damaged;
    for (auto& [mbid, uid] : rows) {
      bool gone = false;
      fs::path keep;
      CYR_TRY(settle_unsynced(db, mbid, uid, /*only_if_damaged=*/true, &gone, &keep));
      if (gone) {
        // A damaged or partial file under the record's name goes too, once
        // the removal has committed; its UID stays used (last_uid).
        if (!keep.empty()) tx.op->unlink_after.push_back(keep.string());
        changed.insert(mbid);
        ++removed;
      } else if (!keep.empty()) {
        files.insert(keep.string());
        dirs.insert(keep.parent_path().string());
        ++kept;
      }
    }
    // Kept records' files and directories are durable before their rows go.
    CYR_TRY(spool_.fsync_many(std::vector<std::string>(files.begin(), files.end()),
                              std::vector<std::string>(dirs.begin(), dirs.end())));
    CYR_TRY(db.exec("DELETE FROM unsynced_file"));
    CYR_TRY(db.exec("UPDATE mailbox SET unsynced_uid=NULL WHERE unsynced_uid IS NOT NULL"));
    // A primary tells its replica that these mailboxes changed.
    if (!changed.empty() && role_.load(std::memory_order_acquire) == Role::Primary) {
      tx.mode = WriteMode::Normal;
      for (int64_t mbid : changed) {
        auto n = db.cached("SELECT name FROM mailbox WHERE mbid=?");
        if (!n.ok()) return n.take_error();
        (*n)->bind(1, mbid);
        auto r = (*n)->step();
        if (!r.ok()) return r.take_error();
        std::string name = *r ? (*n)->text(0) : std::string();
        (*n)->reset();
        if (!name.empty()) CYR_TRY(tx.log_change(ChangeKind::Mailbox, name));
      }
      tx.mode = WriteMode::Replication;
    }
    return {};
  });
  if (!st.ok()) return st;
  if (removed > 0 || kept > 0)
    CYR_LOG(Notice, opts_.sid, "shard %llu: checked messages committed before their flush returned: %zu kept, %zu removed",
            static_cast<unsigned long long>(sh->id), kept, removed);
  return {};
}

// The body journal of a shard at this process's first use: each row is a
// message acknowledged once its batch committed, whose file and directory
// entry may not have reached the disk (the late flush had not confirmed
// them: a crash, or the writing process is running and has not flushed
// yet). Every record with the row's GUID gets its file back from the row
// unless it already holds exactly those bytes; files and directories are
// fsync'd; then the rows go. Safe while another process writes: a committed
// record's file was linked before its commit, and this runs in a write
// transaction of the shard, so no batch is between the two.
Status StoreImpl::recover_journal(const std::shared_ptr<Shard>& sh) {
  size_t messages = 0, restored = 0;
  Status st = shard_write(sh, WriteMode::Replication, [&](ShardTxn& tx) -> Status {
    messages = restored = 0;
    Db& db = *tx.db;
    auto rows = db.prepare("SELECT guid, data FROM body_journal");
    if (!rows.ok()) return rows.take_error();
    auto recs = db.prepare(
        "SELECT r.uid, r.system_flags, m.uniqueid, m.partition FROM record r"
        " JOIN mailbox m ON m.mbid = r.mbid WHERE r.guid = ?");
    if (!recs.ok()) return recs.take_error();
    std::set<std::string> files, dirs;
    for (;;) {
      auto r = rows->step();
      if (!r.ok()) return r.take_error();
      if (!*r) break;
      ++messages;
      const std::string guid = rows->text(0);
      const std::string data = rows->text(1);
      recs->bind_blob(1, guid);
      for (;;) {
        auto rr = recs->step();
        if (!rr.ok()) {
          recs->reset();
          return rr.take_error();
        }
        if (!*rr) break;
        const auto uid = static_cast<Uid>(recs->i64(0));
        const auto flags = static_cast<uint32_t>(recs->i64(1));
        // An expunge that unlinks at once may have removed the file on
        // purpose; a delayed one keeps it (unexpunge).
        if ((flags & kFlagExpunged) && opts_.expunge_mode == ExpungeMode::Immediate) continue;
        auto path = spool_.message_path(recs->text(3), recs->text(2), uid);
        if (!path.ok()) continue;  // a partition no longer configured
        auto wrote = spool_.restore(*path, data, dirs);
        if (!wrote.ok()) {
          recs->reset();
          return wrote.take_error();
        }
        if (*wrote) ++restored;
        files.insert(path->string());
        dirs.insert(path->parent_path().string());
      }
      recs->reset();
    }
    CYR_TRY(spool_.fsync_many(std::vector<std::string>(files.begin(), files.end()),
                              std::vector<std::string>(dirs.begin(), dirs.end())));
    return db.exec("DELETE FROM body_journal");
  });
  if (!st.ok()) return st;
  if (restored > 0)
    CYR_LOG(Notice, opts_.sid, "shard %llu: body journal: %zu messages checked, %zu files restored",
            static_cast<unsigned long long>(sh->id), messages, restored);
  return {};
}

// An overlapped commit whose flushes failed: nobody was told OK, so the
// batch's new records are taken back at once (best effort: the disk is
// failing; if this does not commit, the rows stay for the check at the next
// open). Their UIDs stay used: a reader may have seen them meanwhile.
void StoreImpl::withdraw_batch(Shard& sh, std::vector<WriteOp*>& batch,
                               const std::vector<std::pair<int64_t, int64_t>>& rows) {
  if (rows.empty()) return;
  Db& db = *sh.writer;
  Status st = db.exec("BEGIN IMMEDIATE");
  if (!st.ok()) return;
  for (auto& [mbid, uid] : rows) {
    bool gone = false;
    fs::path keep;
    st = settle_unsynced(db, mbid, uid, /*only_if_damaged=*/false, &gone, &keep);
    if (!st.ok()) {
      (void)db.exec("ROLLBACK");
      return;
    }
  }
  // The batch's records are tombstones now, and every earlier one was
  // durable when the batch began (run_batch).
  if (!forget_unsynced(db, rows).ok()) {
    (void)db.exec("ROLLBACK");
    return;
  }
  if (!db.exec("COMMIT").ok()) {
    (void)db.exec("ROLLBACK");
    return;
  }
  for (WriteOp* o : batch)
    if (!o->journaled_only())  // kept (run_batch)
      for (auto& l : o->linked) ::unlink(l.c_str());
}

// At close: deletes the rows whose flushes are done, one transaction per
// shard. Not synchronous: a row that comes back after a crash is only
// checked again. Only shards still open: reopening every evicted shard a
// node wrote to would make a shutdown O(users); their few rows are checked
// (read, hashed, fsync'd) at their next use instead.
void StoreImpl::clear_synced_rows() {
  std::unordered_map<uint64_t, std::vector<std::pair<int64_t, int64_t>>> all;
  std::unordered_map<uint64_t, std::vector<int64_t>> journal;
  {
    std::lock_guard lk(synced_mu_);
    all.swap(synced_rows_);
    journal.swap(journal_done_);
  }
  if (fenced_.load()) return;
  for (auto& [id, rows] : journal) all[id];  // every shard with something to clear
  for (auto& [id, rows] : all) {
    std::shared_ptr<Shard> open;
    {
      std::lock_guard lk(shards_mu_);
      auto it = shards_.find(id);
      if (it != shards_.end()) open = it->second;
    }
    if (!open) continue;
    Shard& s = *open;
    std::lock_guard wl(s.write_mu);
    if (!ensure_writer(s).ok()) continue;
    Db& db = *s.writer;
    LazyCommit lazy(*this, db, true);
    if (db.exec("BEGIN IMMEDIATE").ok()) {
      auto j = journal.find(id);
      if (!forget_unsynced(db, rows).ok() ||
          (j != journal.end() && !forget_journal(db, j->second).ok()) || !db.exec("COMMIT").ok())
        (void)db.exec("ROLLBACK");
    }
  }
}

void StoreImpl::after_commit(WriteOp& op) {
  for (auto& f : op.unlink_after) ::unlink(f.c_str());
  for (auto& d : op.rmdir_after) {
    std::error_code ec;
    fs::remove_all(d, ec);
  }
  if (op.events.empty()) return;
  for (auto& ev : op.events) fire_watchers(ev);
  // The sessions watching these mailboxes live in the primary (cyr_master).
  if (opts_.open_mode == OpenMode::Secondary) notify_primary(opts_.configdirectory, op.events);
}

void StoreImpl::fire_watchers(const MailboxEvent& ev) {
  std::vector<MailboxWatcher> cbs;
  {
    std::lock_guard lk(watch_mu_);
    auto it = watchers_.find(ev.uniqueid);
    if (it == watchers_.end()) return;
    for (auto& [id, cb] : it->second) cbs.push_back(cb);
  }
  for (auto& cb : cbs) cb(ev);
}

// ---------------------------------------------------------------------------
// Reading shard state

// What the list knows of a mailbox, with the counters of a new mailbox: all
// there is of one whose shard has no database yet, and where read_state
// starts.
static MailboxInfo info_without_shard(const ListEntry& e) {
  MailboxInfo info;
  info.name = e.name;
  info.uniqueid = e.uniqueid;
  info.partition = e.partition;
  info.acl = e.acl;
  info.type = e.type;
  info.uidvalidity = e.uidvalidity;
  info.highestmodseq = info.createdmodseq = info.foldermodseq = 1;
  return info;
}

Result<MbState> StoreImpl::read_state(Db& db, const ListEntry& e) {
  MbState m;
  m.info = info_without_shard(e);
  auto st = db.cached(
      "SELECT m.mbid, m.last_uid, m.highestmodseq, m.recentuid, m.recenttime, m.last_appenddate,"
      " m.pop3_last_login, m.pop3_show_after, m.createdmodseq, m.foldermodseq, m.options,"
      " m.quota_mbid, m.exists_count, m.total_size, m.uidvalidity,"
      " (SELECT name FROM mailbox q WHERE q.mbid = m.quota_mbid),"
      " m.sync_crc, m.sync_crc_annot, m.sync_crc_modseq"
      " FROM mailbox m WHERE m.uniqueid=?");
  if (!st.ok()) return st.take_error();
  Stmt& s = **st;
  s.bind(1, e.uniqueid);
  auto row = s.step();
  if (!row.ok()) return row.take_error();
  if (!*row) {
    // Not materialized yet: its quota root is the nearest one by name.
    auto root = nearest_quota_root(db, e.name);
    if (root.ok() && *root != 0) {
      auto q = db.cached("SELECT name FROM mailbox WHERE mbid=?");
      if (q.ok()) {
        (*q)->bind(1, *root);
        auto r = (*q)->step();
        if (r.ok() && *r) m.info.quotaroot = (*q)->text(0);
        (*q)->reset();
      }
    }
    return m;
  }
  m.mbid = s.i64(0);
  m.info.last_uid = static_cast<Uid>(s.i64(1));
  m.info.highestmodseq = static_cast<ModSeq>(s.i64(2));
  m.info.recentuid = static_cast<Uid>(s.i64(3));
  m.info.recenttime = s.i64(4);
  m.info.last_appenddate = s.i64(5);
  m.info.pop3_last_login = s.i64(6);
  m.info.pop3_show_after = s.i64(7);
  m.info.createdmodseq = static_cast<ModSeq>(s.i64(8));
  m.info.foldermodseq = static_cast<ModSeq>(s.i64(9));
  m.info.options = static_cast<uint32_t>(s.i64(10));
  m.quota_mbid = s.i64(11);
  m.info.exists = static_cast<uint32_t>(s.i64(12));
  m.info.total_size = static_cast<uint64_t>(s.i64(13));
  m.info.uidvalidity = static_cast<uint32_t>(s.i64(14));
  m.info.quotaroot = s.is_null(15) ? "" : s.text(15);
  const bool crc_known = !s.is_null(16) && !s.is_null(17) && !s.is_null(18) &&
                         static_cast<ModSeq>(s.i64(18)) == m.info.highestmodseq;
  m.info.sync_crc = static_cast<uint32_t>(s.i64(16));
  m.info.sync_crc_annot = static_cast<uint32_t>(s.i64(17));
  s.reset();
  if (crc_known) return m;
  // Not stored (a shard upgraded from before the pair was kept, a mailbox
  // row made by a repair) or stamped for another HIGHESTMODSEQ (records
  // changed by a writer that does not keep it): computed from the records,
  // in the same snapshot as the row. A writer's load() gets it here and its
  // save() stores it, so this happens once per such mailbox.
  if (sqlite3_get_autocommit(db.raw())) {
    ReadTxn snapshot(db);
    if (!sqlite3_get_autocommit(db.raw())) return read_state(db, e);
  }
  auto recs = read_records(db, m.mbid, "", 0, false, m.info.exists);
  if (!recs.ok()) return recs.take_error();
  crc::SyncCrcs c = crc::mailbox_crcs(*recs);
  m.info.sync_crc = c.basic;
  m.info.sync_crc_annot = c.annot;
  return m;
}

// The nearest quota root at or above `name` in this shard (0 = none).
Result<int64_t> StoreImpl::nearest_quota_root(Db& db, const std::string& name) {
  auto st = db.cached("SELECT q.mbid, m.name FROM quota q JOIN mailbox m ON m.mbid = q.mbid");
  if (!st.ok()) return st.take_error();
  int64_t best = 0;
  size_t best_len = 0;
  for (;;) {
    auto r = (*st)->step();
    if (!r.ok()) return r.take_error();
    if (!*r) break;
    std::string_view root = (*st)->view(1);
    if (is_same_or_below(name, root) && root.size() >= best_len) {
      best = (*st)->i64(0);
      best_len = root.size();
    }
  }
  (*st)->reset();
  return best;
}

Status StoreImpl::read_mailbox(const std::string& mailbox,
                               const std::function<Status(Db& db, const MbState& m)>& fn) {
  auto mb = open_mailbox(mailbox);
  if (!mb.ok()) return mb.take_error();
  auto r = read_opened(mb->first, *mb->second, true, fn);
  if (!r.ok()) return r.take_error();
  return {};
}

Result<bool> StoreImpl::read_opened(const ListEntry& entry, Shard& sh, bool snapshot,
                                    const std::function<Status(Db& db, const MbState& m)>& fn) {
  if (!sh.has_file()) return false;
  auto db = sh.readers->get();
  if (!db.ok()) return db.take_error();
  std::optional<ReadTxn> rt;
  if (snapshot) rt.emplace(**db);
  auto m = read_state(**db, entry);
  if (!m.ok()) return m.take_error();
  CYR_TRY(fn(**db, *m));
  return true;
}

Result<std::pair<ListEntry, std::shared_ptr<Shard>>> StoreImpl::open_mailbox(const std::string& name) {
  auto e = list_entry(name);
  if (!e.ok()) return e.take_error();
  auto sh = shard(e->shard_id);
  if (!sh.ok()) return sh.take_error();
  return std::make_pair(std::move(*e), std::move(*sh));
}

static MessageRecord row_to_record(Stmt& s, bool* crc_ok) {
  MessageRecord r;
  r.uid = static_cast<Uid>(s.i64(0));
  r.modseq = static_cast<ModSeq>(s.i64(1));
  r.createdmodseq = static_cast<ModSeq>(s.i64(2));
  std::string_view g = s.view(3);
  if (g.size() == mail::MessageGuid::kSize) {
    std::array<uint8_t, mail::MessageGuid::kSize> b;
    std::memcpy(b.data(), g.data(), b.size());
    r.guid = mail::MessageGuid(b);
  }
  r.flags.system = static_cast<uint32_t>(s.i64(4));
  std::string_view kw = s.view(5);
  r.flags.keywords = split_keywords(kw);
  r.internaldate = s.i64(6);
  r.savedate = s.i64(7);
  r.last_updated = s.i64(8);
  r.size = static_cast<uint64_t>(s.i64(9));
  *crc_ok = static_cast<uint64_t>(s.i64(10)) == record_crc(r, kw);
  return r;
}

// read_records() reserves room for at most this many records up front (a
// damaged counter must not make it allocate gigabytes).
constexpr size_t kMaxReserveRecords = 1u << 22;

Result<std::vector<MessageRecord>> StoreImpl::read_records(Db& db, int64_t mbid, const char* where,
                                                           int64_t arg, bool include_expunged,
                                                           size_t expected) {
  std::string q = std::string("SELECT " RECORD_COLS " FROM record WHERE mbid=?1") + where +
                  " ORDER BY uid";
  auto cst = db.cached_text(q);
  if (!cst.ok()) return cst.take_error();
  Stmt* st = *cst;
  ResetOnExit reset(st);
  st->bind(1, mbid);
  if (std::strchr(where, '2')) st->bind(2, arg);
  std::vector<MessageRecord> out;
  // A hint, never a bound: growing to 100,000 records reallocated and
  // moved the vector seventeen times.
  out.reserve(std::min<size_t>(expected, kMaxReserveRecords));
  for (;;) {
    auto r = st->step();
    if (!r.ok()) return r.take_error();
    if (!*r) break;
    bool ok = true;
    MessageRecord rec = row_to_record(*st, &ok);
    if (!ok)
      return Error(Errc::Corrupted, "Mailbox index is damaged",
                   "record checksum mismatch uid " + std::to_string(rec.uid));
    if (!include_expunged && rec.expunged()) continue;
    out.push_back(std::move(rec));
  }
  return out;
}

// Writes one record row (and its structure, if given) as it is: callers
// that keep the mailbox's SYNC_CRC pair use insert_record().
static Status write_record_row(Db& db, int64_t mbid, const MessageRecord& r, const std::string* structure) {
  std::string kw = join_keywords(r.flags.keywords);
  // The structure first, to know its id. A record written again with its
  // structure (replication re-applying it, a repair) keeps its id; a new one
  // gets max(id) + 1, the right edge of structure_blob (see kShardSchema).
  bool have_sid = false;
  int64_t sid = 0;
  if (structure) {
    auto s2 = db.cached(
        "INSERT OR REPLACE INTO structure_blob(id, blob)"
        " VALUES((SELECT structure_id FROM record WHERE mbid=?1 AND uid=?2), ?3)");
    if (!s2.ok()) return s2.take_error();
    (*s2)->bind(1, mbid).bind(2, int64_t(r.uid)).bind_blob(3, *structure);
    CYR_TRY((*s2)->run());
    sid = sqlite3_last_insert_rowid(db.raw());
    have_sid = true;
    // A row an older version kept for this record in `structure` would be
    // shadowed by the new one; drop it rather than leave it stale.
    auto d = db.cached("DELETE FROM structure WHERE mbid=? AND uid=?");
    if (!d.ok()) return d.take_error();
    (*d)->bind(1, mbid).bind(2, int64_t(r.uid));
    CYR_TRY((*d)->run());
  }
  // Without a structure the record keeps the one it had (a flag change, a
  // tombstone): the replaced row's structure_id is read before REPLACE
  // deletes it.
  auto st = db.cached("INSERT OR REPLACE INTO record(mbid, " RECORD_COLS
                      ", structure_id) VALUES(?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,"
                      " COALESCE(?13, (SELECT structure_id FROM record WHERE mbid=?1 AND uid=?2)))");
  if (!st.ok()) return st.take_error();
  auto& g = r.guid.bytes();
  (*st)->bind(1, mbid).bind(2, int64_t(r.uid)).bind(3, int64_t(r.modseq))
      .bind(4, int64_t(r.createdmodseq))
      .bind_blob(5, std::string_view(reinterpret_cast<const char*>(g.data()), g.size()))
      .bind(6, int64_t(r.flags.system)).bind(7, kw).bind(8, r.internaldate).bind(9, r.savedate)
      .bind(10, r.last_updated).bind(11, int64_t(r.size))
      .bind(12, static_cast<int64_t>(record_crc(r, kw)));
  if (have_sid) (*st)->bind(13, sid);
  else (*st)->bind_null(13);
  CYR_TRY((*st)->run());
  return {};
}

// Removes a record's row and its structure, wherever it is kept. The
// structure goes first: it is found through the record.
static Status delete_record_rows(Db& db, int64_t mbid, Uid uid) {
  for (const char* sqlt : {"DELETE FROM structure_blob WHERE id=(SELECT structure_id FROM record WHERE mbid=?1 AND uid=?2)",
                           "DELETE FROM record WHERE mbid=?1 AND uid=?2", "DELETE FROM structure WHERE mbid=?1 AND uid=?2"}) {
    auto d = db.cached(sqlt);
    if (!d.ok()) return d.take_error();
    (*d)->bind(1, mbid).bind(2, int64_t(uid));
    CYR_TRY((*d)->run());
  }
  return {};
}

// Every write of a record of a mailbox whose state `m` the transaction
// loaded goes through here, so that the mailbox's SYNC_CRC pair (saved with
// m) stays the XOR of its live records: the contribution of `replaced` (the
// row this write overwrites, as read in this transaction; nullptr for a new
// UID) goes out, the new record's comes in. A tombstone contributes nothing.
static Status insert_record(Db& db, MbState& m, const MessageRecord* replaced, const MessageRecord& r,
                            const std::string* structure) {
  CYR_TRY(write_record_row(db, m.mbid, r, structure));
  crc::SyncCrcs pair{m.info.sync_crc, m.info.sync_crc_annot};
  if (replaced) crc::xor_into(pair, crc::record_contribution(*replaced));
  crc::xor_into(pair, crc::record_contribution(r));
  m.info.sync_crc = pair.basic;
  m.info.sync_crc_annot = pair.annot;
  return {};
}

// Adds (or with negative values removes) usage on a quota root, and checks
// the limits when `check` is set: then nothing is written if over.
static Status quota_charge(Db& db, int64_t root, int64_t bytes, int64_t messages, bool check) {
  if (root == 0) return {};
  if (check && (bytes > 0 || messages > 0)) {
    auto q = db.cached("SELECT storage_limit, message_limit, storage_used, message_used FROM quota WHERE mbid=?");
    if (!q.ok()) return q.take_error();
    (*q)->bind(1, root);
    auto r = (*q)->step();
    if (!r.ok()) return r.take_error();
    if (*r) {
      Stmt& s = **q;
      if (!s.is_null(0) && s.i64(2) + bytes > s.i64(0) * 1024) {
        s.reset();
        return Error(Errc::NoQuota, "Over quota", "storage");
      }
      if (!s.is_null(1) && s.i64(3) + messages > s.i64(1)) {
        s.reset();
        return Error(Errc::NoQuota, "Over quota", "messages");
      }
    }
    (*q)->reset();
  }
  auto up = db.cached("UPDATE quota SET storage_used = storage_used + ?, message_used = message_used + ? WHERE mbid=?");
  if (!up.ok()) return up.take_error();
  (*up)->bind(1, bytes).bind(2, messages).bind(3, root);
  return (*up)->run();
}

// ---------------------------------------------------------------------------
// Mailbox list operations

Status StoreImpl::build_create(Db& db, const CreateMailboxRequest& req, WriteMode mode, ListEntry& e) {
  CYR_TRY(validate_mailbox_name(req.name));
  auto shard_name = shard_of(req.name);
  if (!shard_name.ok()) return shard_name.take_error();
  auto existing = list_get(db, req.name);
  if (!existing.ok()) return existing.take_error();
  if (*existing) return Error(Errc::Exists, "Mailbox already exists", req.name);
  e.name = req.name;
  e.partition = req.partition.empty() ? opts_.defaultpartition : req.partition;
  if (!spool_.has_partition(e.partition))
    return Error(Errc::Invalid, "Unknown partition", e.partition);
  if (!req.uniqueid.empty() && !valid_uniqueid(req.uniqueid))
    return Error(Errc::Invalid, "Invalid unique id", req.uniqueid);
  e.uniqueid = req.uniqueid.empty() ? new_uniqueid() : req.uniqueid;
  auto owner = mail::mboxname_owner(req.name);
  e.type = owner ? MailboxType::User : MailboxType::Shared;
  if (req.acl) {
    e.acl = *req.acl;
  } else if (*shard_name == req.name) {
    e.acl = owner ? *owner + "\t" + opts_.owner_rights + "\t" : opts_.defaultacl;
  } else {
    // Inherit from the nearest existing parent (the shard top exists or not).
    std::optional<std::string> p = mail::mboxname_parent(req.name);
    e.acl.clear();
    bool found = false;
    while (p && is_same_or_below(*p, *shard_name)) {
      auto pe = list_get(db, *p);
      if (!pe.ok()) return pe.take_error();
      if (*pe) {
        e.acl = (*pe)->acl;
        found = true;
        break;
      }
      p = mail::mboxname_parent(*p);
    }
    if (!found) e.acl = owner ? *owner + "\t" + opts_.owner_rights + "\t" : opts_.defaultacl;
  }
  if (req.uidvalidity) {
    e.uidvalidity = *req.uidvalidity;
  } else {
    std::lock_guard lk(uidvalidity_mu_);
    // Another process may have created a mailbox since we last looked: the
    // persisted value, read inside this list transaction, is the truth.
    {
      auto cur = db.cached("SELECT value FROM node WHERE key='last_uidvalidity'");
      if (!cur.ok()) return cur.take_error();
      auto r = (*cur)->step();
      if (!r.ok()) return r.take_error();
      if (*r) last_uidvalidity_ = std::max(last_uidvalidity_, static_cast<uint32_t>((*cur)->i64(0)));
      (*cur)->reset();
    }
    uint32_t now = static_cast<uint32_t>(now_seconds());
    e.uidvalidity = std::max(now, last_uidvalidity_ + 1);
    last_uidvalidity_ = e.uidvalidity;
    auto st = db.cached("INSERT OR REPLACE INTO node(key, value) VALUES('last_uidvalidity', ?)");
    if (!st.ok()) return st.take_error();
    (*st)->bind(1, int64_t(e.uidvalidity));
    CYR_TRY((*st)->run());
  }
  auto sid = shard_id_for(db, *shard_name, true);
  if (!sid.ok()) return sid.take_error();
  e.shard_id = *sid;
  auto ins = db.cached(
      "INSERT INTO mailbox(name, uniqueid, shard_id, partition, acl, uidvalidity, mbtype)"
      " VALUES(?,?,?,?,?,?,?)");
  if (!ins.ok()) return ins.take_error();
  (*ins)->bind(1, e.name).bind(2, e.uniqueid).bind(3, int64_t(e.shard_id)).bind(4, e.partition)
      .bind(5, e.acl).bind(6, int64_t(e.uidvalidity)).bind(7, int64_t(e.type == MailboxType::Shared));
  Status s = (*ins)->run();
  if (!s.ok()) {
    if (s.error().code == Errc::Exists) return Error(Errc::Exists, "Mailbox unique id already in use", e.uniqueid);
    return s;
  }
  if (log_writes(mode)) CYR_TRY(list_log_change(db, ChangeKind::Mailbox, e.name));
  return {};
}

// What a first delivery to a new mailbox used to pay for is paid at CREATE,
// as Cyrus makes a mailbox's directory and index there: the message
// directory (and its missing parents) is made inside the list transaction,
// its entry fsync'd before the commit (a failure commits nothing; an empty
// directory named by an unused unique id is harmless), and after the commit
// the owner's shard database is created if it does not exist yet
// (create_mailbox only; create_mailboxes leaves it to the first write). Spread
// delivery measured: 3 mkdirs, up to 4 directory fsyncs and the shard file's
// creation (write, fsync, rename, directory fsync) moved off the first
// delivery to each user.
Status StoreImpl::make_mailbox_dirs(const std::vector<ListEntry>& es) {
  std::set<std::string> dirs;
  for (const auto& e : es) {
    auto d = spool_.mailbox_dir(e.partition, e.uniqueid);
    if (!d.ok()) return d.take_error();
    CYR_TRY(spool_.make_dirs(*d, dirs));
  }
  for (const auto& d : dirs) CYR_TRY(spool_.fsync_dir(d));
  return {};
}

Status StoreImpl::ensure_shard_file(uint64_t shard_id) {
  auto sh = shard(shard_id);
  if (!sh.ok()) return sh.take_error();
  if ((*sh)->has_file()) return {};
  std::lock_guard lk((*sh)->write_mu);
  return fence_if_fatal(ensure_writer(**sh));
}

Result<MailboxInfo> StoreImpl::create_mailbox(const CreateMailboxRequest& req, WriteMode mode) {
  CYR_TRY(check_writable(mode));
  ListEntry e;
  CYR_TRY(list_write([&](Db& db) -> Status {
    CYR_TRY(build_create(db, req, mode, e));
    return make_mailbox_dirs({e});
  }));
  CYR_TRY(ensure_shard_file(e.shard_id));
  // The shard row is created lazily at the first write; report the defaults.
  return lookup(req.name);
}

Status StoreImpl::create_mailboxes(const std::vector<CreateMailboxRequest>& reqs, WriteMode mode) {
  CYR_TRY(check_writable(mode));
  if (reqs.size() > 100000) return Error(Errc::Limit, "Too many mailboxes in one request");
  std::vector<ListEntry> made;
  CYR_TRY(list_write([&](Db& db) -> Status {
    made.clear();
    for (auto& r : reqs) {
      ListEntry e;
      CYR_TRY(build_create(db, r, mode, e));
      made.push_back(std::move(e));
    }
    return make_mailbox_dirs(made);
  }));
  // Bulk creation (ctl_mboxlist -u, provisioning) leaves shard databases to
  // the first write: tens of thousands of users would cost two fsyncs each.
  return {};
}

Result<MailboxInfo> StoreImpl::lookup(const std::string& name) {
  auto mb = open_mailbox(name);
  if (!mb.ok()) return mb.take_error();
  const ListEntry& e = mb->first;
  MailboxInfo info;
  auto read = read_opened(e, *mb->second, false, [&](Db&, const MbState& m) -> Status {
    info = m.info;
    return {};
  });
  if (!read.ok()) return read.take_error();
  if (!*read) info = info_without_shard(e);
  return info;
}

Result<MailboxInfo> StoreImpl::lookup_by_uniqueid(const std::string& uniqueid) {
  std::string name;
  {
    auto db = list_readers_->get();
    if (!db.ok()) return db.take_error();
    auto st = (*db)->cached("SELECT name FROM mailbox WHERE uniqueid=?");
    if (!st.ok()) return st.take_error();
    (*st)->bind(1, uniqueid);
    auto r = (*st)->step();
    if (!r.ok()) return r.take_error();
    if (!*r) return Error(Errc::NotFound, "Mailbox does not exist", uniqueid);
    name = (*st)->text(0);
    (*st)->reset();
  }
  return lookup(name);
}

Result<std::vector<std::string>> StoreImpl::list(std::string_view pattern) {
  if (pattern.size() > 1024) return Error(Errc::Limit, "Pattern too long");
  // Range scan on the literal prefix, then match.
  size_t wild = pattern.find_first_of("*%");
  std::string prefix(pattern.substr(0, wild));
  auto db = list_readers_->get();
  if (!db.ok()) return db.take_error();
  std::vector<std::string> out;
  auto st = (*db)->prepare(prefix.empty() ? "SELECT name FROM mailbox ORDER BY name"
                                          : "SELECT name FROM mailbox WHERE name >= ?1 AND name < ?2 ORDER BY name");
  if (!st.ok()) return st.take_error();
  if (!prefix.empty()) {
    std::string upper = prefix;
    upper.push_back('\xff');
    st->bind(1, prefix).bind(2, upper);
  }
  for (;;) {
    auto r = st->step();
    if (!r.ok()) return r.take_error();
    if (!*r) break;
    std::string_view n = st->view(0);
    if (list_match(pattern, n)) out.emplace_back(n);
  }
  return out;
}

Result<std::string> StoreImpl::get_acl(const std::string& mailbox) {
  auto e = list_entry(mailbox);
  if (!e.ok()) return e.take_error();
  return e->acl;
}

Status StoreImpl::set_acl(const std::string& mailbox, const std::string& acl, WriteMode mode) {
  CYR_TRY(check_writable(mode));
  if (acl.size() > 64 * 1024) return Error(Errc::Limit, "ACL too long");
  std::string uniqueid;
  CYR_TRY(list_write([&](Db& db) -> Status {
    auto e = list_get(db, mailbox);
    if (!e.ok()) return e.take_error();
    if (!*e) return not_found(mailbox);
    uniqueid = (*e)->uniqueid;
    auto st = db.cached("UPDATE mailbox SET acl=? WHERE name=?");
    if (!st.ok()) return st.take_error();
    (*st)->bind(1, acl).bind(2, mailbox);
    CYR_TRY((*st)->run());
    if (log_writes(mode)) CYR_TRY(list_log_change(db, ChangeKind::Mailbox, mailbox));
    return {};
  }));
  WriteOp op;
  op.events.push_back(MailboxEvent{uniqueid, mailbox, kChangedMailbox, 0, 0, 0});
  after_commit(op);
  return {};
}

Status StoreImpl::rename_mailbox(const std::string& from, const std::string& to, WriteMode mode) {
  CYR_TRY(check_writable(mode));
  auto from_shard = shard_of(from);
  if (!from_shard.ok()) return from_shard.take_error();
  auto to_shard = shard_of(to);
  if (!to_shard.ok()) return to_shard.take_error();
  bool whole_shard = (from == *from_shard && to == *to_shard);
  if (*from_shard != *to_shard && !whole_shard)
    return Error(Errc::Invalid, "Cannot move a mailbox to another owner", from + " -> " + to);
  if (is_same_or_below(to, from)) return Error(Errc::Invalid, "Cannot rename a mailbox below itself");
  uint64_t shard_id = 0;
  auto old_owner = mail::mboxname_owner(from);
  auto new_owner = mail::mboxname_owner(to);
  CYR_TRY(list_write([&](Db& db) -> Status {
    auto top = list_get(db, from);
    if (!top.ok()) return top.take_error();
    if (!*top) return not_found(from);
    shard_id = (*top)->shard_id;
    if (whole_shard) {
      auto other = shard_id_for(db, *to_shard, false);
      if (other.ok()) return Error(Errc::Exists, "Target owner already exists", *to_shard);
      auto up = db.cached("UPDATE shard SET name=? WHERE id=?");
      if (!up.ok()) return up.take_error();
      (*up)->bind(1, *to_shard).bind(2, int64_t(shard_id));
      CYR_TRY((*up)->run());
    }
    // Collect the hierarchy.
    std::vector<ListEntry> olds;
    auto q = db.prepare("SELECT name FROM mailbox WHERE name = ?1 OR (name > ?2 AND name < ?3)");
    if (!q.ok()) return q.take_error();
    q->bind(1, from).bind(2, from + ".").bind(3, from + "/");  // '/' follows '.'
    std::vector<std::string> names;
    for (;;) {
      auto r = q->step();
      if (!r.ok()) return r.take_error();
      if (!*r) break;
      names.push_back(q->text(0));
    }
    for (auto& n : names) {
      std::string nn = to + n.substr(from.size());
      CYR_TRY(validate_mailbox_name(nn));
      auto clash = list_get(db, nn);
      if (!clash.ok()) return clash.take_error();
      if (*clash) return Error(Errc::Exists, "Mailbox already exists", nn);
      auto e = list_get(db, n);
      if (!e.ok()) return e.take_error();
      ListEntry le = std::move(**e);
      std::string acl = le.acl;
      if (whole_shard && old_owner && new_owner) acl = rename_acl_identifier(acl, *old_owner, *new_owner);
      auto up = db.cached("UPDATE mailbox SET name=?, acl=? WHERE name=?");
      if (!up.ok()) return up.take_error();
      (*up)->bind(1, nn).bind(2, acl).bind(3, n);
      CYR_TRY((*up)->run());
      if (log_writes(mode)) {
        CYR_TRY(list_log_change(db, ChangeKind::Rename, n, nn));
        CYR_TRY(list_log_change(db, ChangeKind::Mailbox, n));
        CYR_TRY(list_log_change(db, ChangeKind::Mailbox, nn));
      }
    }
    if (whole_shard && old_owner && new_owner && log_writes(mode)) {
      CYR_TRY(list_log_change(db, ChangeKind::User, *old_owner));
      CYR_TRY(list_log_change(db, ChangeKind::User, *new_owner));
    }
    // Intents: the shard applies them (now, or at its next open after a crash).
    auto in = db.cached("INSERT INTO intent(shard_id, kind, arg1, arg2) VALUES(?,?,?,?)");
    if (!in.ok()) return in.take_error();
    (*in)->bind(1, int64_t(shard_id)).bind(2, std::string_view("rename")).bind(3, from).bind(4, to);
    CYR_TRY((*in)->run());
    if (whole_shard && old_owner && new_owner) {
      (*in)->reset();
      (*in)->bind(1, int64_t(shard_id)).bind(2, std::string_view("rename_user")).bind(3, *old_owner).bind(4, *new_owner);
      CYR_TRY((*in)->run());
    }
    return {};
  }));
  auto sh = shard(shard_id);
  if (!sh.ok()) return sh.take_error();
  int64_t applied_upto = 0;
  Status s = shard_write(*sh, mode, [&](ShardTxn& tx) -> Status {
    return apply_intents(*tx.shard, *tx.db, &applied_upto);
  });
  if (!s.ok()) return s;  // the intent stays and is reapplied at the next open
  return forget_intents(shard_id, applied_upto);
}

Status StoreImpl::delete_mailbox(const std::string& name, WriteMode mode) {
  CYR_TRY(check_writable(mode));
  CYR_TRY(validate_mailbox_name(name));
  uint64_t shard_id = 0;
  std::vector<std::pair<std::string, std::string>> gone;  // uniqueid, name
  CYR_TRY(list_write([&](Db& db) -> Status {
    auto top = list_get(db, name);
    if (!top.ok()) return top.take_error();
    if (!*top) return not_found(name);
    shard_id = (*top)->shard_id;
    auto q = db.prepare("SELECT name, uniqueid FROM mailbox WHERE name = ?1 OR (name > ?2 AND name < ?3)");
    if (!q.ok()) return q.take_error();
    q->bind(1, name).bind(2, name + ".").bind(3, name + "/");
    for (;;) {
      auto r = q->step();
      if (!r.ok()) return r.take_error();
      if (!*r) break;
      gone.emplace_back(q->text(1), q->text(0));
    }
    for (auto& [uid, n] : gone) {
      auto d = db.cached("DELETE FROM mailbox WHERE name=?");
      if (!d.ok()) return d.take_error();
      (*d)->bind(1, n);
      CYR_TRY((*d)->run());
      auto in = db.cached("INSERT INTO intent(shard_id, kind, arg1, arg2) VALUES(?,'delete',?,'')");
      if (!in.ok()) return in.take_error();
      (*in)->bind(1, int64_t(shard_id)).bind(2, uid);
      CYR_TRY((*in)->run());
      if (log_writes(mode)) CYR_TRY(list_log_change(db, ChangeKind::Unmailbox, n));
      if (mail::mboxname_is_user_inbox(n)) {
        if (auto owner = mail::mboxname_owner(n)) {
          auto un = db.cached("INSERT INTO intent(shard_id, kind, arg1, arg2) VALUES(?,'unsieve',?,'')");
          if (!un.ok()) return un.take_error();
          (*un)->bind(1, int64_t(shard_id)).bind(2, *owner);
          CYR_TRY((*un)->run());
        }
      }
    }
    return {};
  }));
  auto sh = shard(shard_id);
  if (!sh.ok()) return sh.take_error();
  int64_t applied_upto = 0;
  Status s = shard_write(*sh, mode, [&](ShardTxn& tx) -> Status {
    CYR_TRY(apply_intents(*tx.shard, *tx.db, &applied_upto));
    for (auto& [uid, n] : gone)
      tx.op->events.push_back(MailboxEvent{uid, n, kChangedDeleted, 0, 0, 0});
    return {};
  });
  if (!s.ok()) return s;
  return forget_intents(shard_id, applied_upto);
}

// ---------------------------------------------------------------------------
// Messages

Result<AppendResult> StoreImpl::append(const AppendRequest& req, WriteMode mode) {
  CYR_TRY(check_writable(mode));
  if (req.messages.empty()) return Error(Errc::Invalid, "Nothing to append");
  if (req.messages.size() > kMaxBatchMessages) return Error(Errc::Limit, "Too many messages");
  for (auto& m : req.messages) CYR_TRY(validate_flags(m.flags));
  auto mb = open_mailbox(req.mailbox);
  if (!mb.ok()) return mb.take_error();
  auto& [entry, sh] = *mb;
  // Stage outside any lock: hashing, parsing (and the fsyncs of memory
  // sources) of concurrent appends run in parallel; only the index commit
  // is shared. A multi-message append stages its messages concurrently.
  StagedSet staged;
  staged.spool = &spool_;
  std::vector<const MessageSource*> sources;
  sources.reserve(req.messages.size());
  for (auto& m : req.messages) sources.push_back(&m.source);
  // A caller's files are fsync'd by the commit, together with the mailbox
  // directory (Spool::fsync_many), not here one after the other.
  auto s = spool_.stage_many(entry.partition, sources, /*defer_sync=*/true);
  if (!s.ok()) return fence_if_fatal(s.take_error()).error();
  staged.msgs = std::move(*s);
  return append_staged(entry, sh, staged.msgs, req.messages, req.check_quota, mode);
}

// The index half of an append: staged files are durable; link them under new
// UIDs and commit the records, quota and change record in one transaction.
Result<AppendResult> StoreImpl::append_staged(const ListEntry& entry, const std::shared_ptr<Shard>& sh,
                                              const std::vector<StagedMessage>& msgs,
                                              const std::vector<AppendMessage>& meta, bool check_quota,
                                              WriteMode mode) {
  AppendResult result;
  // The primary process marks each mailbox it adds messages to, which
  // lets the batch commit alongside the flushes (see run_batch).
  const bool register_unsynced = opts_.open_mode == OpenMode::Primary;
  Status st = shard_write(sh, mode, [&](ShardTxn& tx) -> Status {
    tx.op->registers_unsynced = register_unsynced;
    tx.op->unsynced.clear();
    auto m = tx.load(entry);
    if (!m.ok()) return m.take_error();
    int64_t total = 0;
    for (auto& s : msgs) total += static_cast<int64_t>(s.size);
    CYR_TRY(quota_charge(*tx.db, m->quota_mbid, total, static_cast<int64_t>(msgs.size()),
                         check_quota && mode == WriteMode::Normal));
    ModSeq modseq = ++m->info.highestmodseq;
    int64_t now = now_seconds();
    result.uids.clear();
    bool marked = false;
    std::vector<int64_t> journaled_uids;
    for (size_t i = 0; i < msgs.size(); ++i) {
      if (m->info.last_uid == UINT32_MAX) return Error(Errc::Limit, "Mailbox UIDs exhausted");
      MessageRecord r;
      r.uid = ++m->info.last_uid;
      r.modseq = modseq;
      r.createdmodseq = modseq;
      r.guid = msgs[i].guid;
      r.flags = meta[i].flags;
      r.flags.system &= kSettableSystemFlags;
      r.internaldate = meta[i].internaldate ? meta[i].internaldate : now;
      r.savedate = now;
      r.last_updated = now;
      r.size = msgs[i].size;
      auto path = spool_.message_path(entry.partition, entry.uniqueid, r.uid);
      if (!path.ok()) return path.take_error();
      auto journaled = tx.link_staged(msgs[i], *path);
      if (!journaled.ok()) return journaled.take_error();
      CYR_TRY(insert_record(*tx.db, *m, nullptr, r, &msgs[i].structure));
      // A journaled message is durable with the commit: no mark.
      if (register_unsynced && !*journaled) {
        // The mark covers this record (see run_batch); lowered, never
        // raised, since an earlier batch's mark may not be cleared yet.
        if (!marked) {
          marked = true;
          auto u = tx.db->cached(
              "UPDATE mailbox SET unsynced_uid = MIN(COALESCE(unsynced_uid, ?2), ?2) WHERE mbid=?1");
          if (!u.ok()) return u.take_error();
          (*u)->bind(1, m->mbid).bind(2, int64_t(r.uid));
          CYR_TRY((*u)->run());
        }
        tx.op->unsynced.emplace_back(m->mbid, int64_t(r.uid));
      } else if (register_unsynced) {
        journaled_uids.push_back(int64_t(r.uid));
      }
      m->info.exists++;
      m->info.total_size += r.size;
      result.uids.push_back(r.uid);
    }
    // An append with messages of both kinds fails or succeeds whole: if the
    // flushes of its other messages fail, withdraw_batch takes back the
    // journaled ones too (they are registered, not marked: the journal
    // covers them after a crash).
    if (!tx.op->unsynced.empty())
      for (int64_t uid : journaled_uids) tx.op->unsynced.emplace_back(m->mbid, uid);
    m->info.last_appenddate = now;
    CYR_TRY(tx.save(*m));
    CYR_TRY(tx.log_change(ChangeKind::Append, m->info.name));
    tx.event(*m, kChangedAppend);
    result.uniqueid = entry.uniqueid;
    result.uidvalidity = m->info.uidvalidity;
    result.highestmodseq = m->info.highestmodseq;
    return {};
  });
  if (!st.ok()) return st.take_error();
  return result;
}

std::vector<Result<AppendResult>> StoreImpl::deliver(const std::vector<std::string>& mailboxes,
                                                     const AppendMessage& msg, bool check_quota) {
  std::vector<Result<AppendResult>> out;
  if (Status w = check_writable(WriteMode::Normal); !w.ok()) {
    for (size_t i = 0; i < mailboxes.size(); ++i) out.push_back(w.error());
    return out;
  }
  if (Status f = validate_flags(msg.flags); !f.ok()) {
    for (size_t i = 0; i < mailboxes.size(); ++i) out.push_back(f.error());
    return out;
  }
  // One staged file per partition (hashed and parsed once); every target on
  // that partition links to it: single-instance store.
  std::map<std::string, StagedMessage> staged;
  StagedSet cleanup;
  cleanup.spool = &spool_;
  std::vector<AppendMessage> meta(1);
  meta[0].flags = msg.flags;
  meta[0].internaldate = msg.internaldate;
  for (auto& name : mailboxes) {
    auto mb = open_mailbox(name);
    if (!mb.ok()) {
      out.push_back(mb.take_error());
      continue;
    }
    auto& [entry, sh] = *mb;
    auto it = staged.find(entry.partition);
    if (it == staged.end() || !opts_.singleinstancestore) {
      auto s = spool_.stage(entry.partition, msg.source, /*defer_sync=*/true);
      if (!s.ok()) {
        out.push_back(fence_if_fatal(s.take_error()).error());
        continue;
      }
      cleanup.msgs.push_back(*s);
      it = staged.insert_or_assign(entry.partition, *s).first;
    }
    out.push_back(append_staged(entry, sh, {it->second}, meta, check_quota, WriteMode::Normal));
  }
  return out;
}

Result<std::vector<MessageRecord>> StoreImpl::records(const std::string& mailbox, bool include_expunged) {
  std::vector<MessageRecord> out;
  CYR_TRY(read_mailbox(mailbox, [&](Db& db, const MbState& m) -> Status {
    if (m.mbid == 0) return {};
    auto rs = read_records(db, m.mbid, "", 0, include_expunged, m.info.exists);
    if (!rs.ok()) return rs.take_error();
    out = std::move(*rs);
    return {};
  }));
  return out;
}

Result<MessageRecord> StoreImpl::record(const std::string& mailbox, Uid uid) {
  // Stays empty when the shard has no database yet (fn is not called).
  std::optional<MessageRecord> found;
  CYR_TRY(read_mailbox(mailbox, [&](Db& db, const MbState& m) -> Status {
    auto rs = read_records(db, m.mbid, " AND uid=?2", uid, true);
    if (!rs.ok()) return rs.take_error();
    if (rs->empty()) return Error(Errc::NotFound, "No such message", std::to_string(uid));
    found = std::move((*rs)[0]);
    return {};
  }));
  if (!found) return Error(Errc::NotFound, "No such message");
  return std::move(*found);
}

Result<std::vector<MessageRecord>> StoreImpl::records_in(const std::string& mailbox, const UidSet& uids,
                                                         bool include_expunged) {
  std::vector<MessageRecord> out;
  CYR_TRY(read_mailbox(mailbox, [&](Db& db, const MbState& m) -> Status {
    if (m.mbid == 0) return {};
    auto st = db.cached("SELECT " RECORD_COLS " FROM record WHERE mbid=?1 AND uid BETWEEN ?2 AND ?3 ORDER BY uid");
    if (!st.ok()) return st.take_error();
    for (auto& [lo, hi] : uids.ranges()) {
      Stmt& q = **st;
      q.bind(1, m.mbid).bind(2, int64_t(lo)).bind(3, int64_t(hi));
      for (;;) {
        auto r = q.step();
        if (!r.ok()) {
          q.reset();
          return r.take_error();
        }
        if (!*r) break;
        bool ok = true;
        MessageRecord rec = row_to_record(q, &ok);
        if (!ok) {
          q.reset();
          return Error(Errc::Corrupted, "Mailbox index is damaged",
                       "record checksum mismatch uid " + std::to_string(rec.uid));
        }
        if (include_expunged || !rec.expunged()) out.push_back(std::move(rec));
      }
      q.reset();
    }
    return {};
  }));
  return out;
}

// A record's structure: in structure_blob, or for a record an older version
// wrote, in `structure` (COALESCE evaluates the second only if needed). NULL
// when the record has none, no row when there is no record.
static constexpr const char* kStructureByUid =
    "SELECT COALESCE((SELECT blob FROM structure_blob WHERE id = r.structure_id),"
    " (SELECT blob FROM structure o WHERE o.mbid = r.mbid AND o.uid = r.uid))"
    " FROM record r WHERE r.mbid=?1 AND r.uid=?2";

Result<std::string> StoreImpl::structure(const std::string& mailbox, Uid uid) {
  // Stays empty when the shard has no database yet (fn is not called).
  std::optional<std::string> blob;
  CYR_TRY(read_mailbox(mailbox, [&](Db& db, const MbState& m) -> Status {
    auto st = db.cached(kStructureByUid);
    if (!st.ok()) return st.take_error();
    (*st)->bind(1, m.mbid).bind(2, int64_t(uid));
    auto r = (*st)->step();
    if (!r.ok()) return r.take_error();
    if (!*r || (*st)->is_null(0)) {
      (*st)->reset();
      return Error(Errc::NotFound, "No such message", std::to_string(uid));
    }
    blob = (*st)->text(0);
    (*st)->reset();
    return {};
  }));
  if (!blob) return Error(Errc::NotFound, "No such message");
  return std::move(*blob);
}

// One mailbox lookup, one snapshot and one prepared statement for all uids.
Result<std::vector<std::optional<std::string>>> StoreImpl::structures(const std::string& mailbox,
                                                                      const std::vector<Uid>& uids) {
  if (uids.size() > kMaxBatchMessages) return Error(Errc::Limit, "Too many messages");
  std::vector<std::optional<std::string>> out(uids.size());
  CYR_TRY(read_mailbox(mailbox, [&](Db& db, const MbState& m) -> Status {
    if (uids.empty()) return {};
    // Ascending uids that fill most of their range (FETCH 1:*, the usual
    // case) are read with one walk over the range instead of a b-tree
    // descent per uid; sparse or unordered sets look each one up.
    const bool ascending = std::is_sorted(uids.begin(), uids.end());
    if (ascending && uint64_t(uids.back()) - uids.front() < 2 * uint64_t(uids.size()) + 64) {
      auto rs = db.cached(
          "SELECT r.uid, COALESCE((SELECT blob FROM structure_blob WHERE id = r.structure_id),"
          " (SELECT blob FROM structure o WHERE o.mbid = r.mbid AND o.uid = r.uid))"
          " FROM record r WHERE r.mbid=?1 AND r.uid BETWEEN ?2 AND ?3 ORDER BY r.uid");
      if (!rs.ok()) return rs.take_error();
      (*rs)->bind(1, m.mbid).bind(2, int64_t(uids.front())).bind(3, int64_t(uids.back()));
      size_t i = 0;
      for (;;) {
        auto r = (*rs)->step();
        if (!r.ok()) {
          (*rs)->reset();
          return r.take_error();
        }
        if (!*r) break;
        if ((*rs)->is_null(1)) continue;
        const Uid u = static_cast<Uid>((*rs)->i64(0));
        while (i < uids.size() && uids[i] < u) ++i;  // those have no structure
        if (i == uids.size()) break;
        for (; i < uids.size() && uids[i] == u; ++i) out[i] = (*rs)->text(1);
      }
      (*rs)->reset();
      return {};
    }
    auto st = db.cached(kStructureByUid);
    if (!st.ok()) return st.take_error();
    for (size_t i = 0; i < uids.size(); ++i) {
      (*st)->bind(1, m.mbid).bind(2, int64_t(uids[i]));
      auto r = (*st)->step();
      if (!r.ok()) {
        (*st)->reset();
        return r.take_error();
      }
      if (*r && !(*st)->is_null(0)) out[i] = (*st)->text(0);
      (*st)->reset();
    }
    return {};
  }));
  return out;
}

Result<fs::path> StoreImpl::message_path(const std::string& mailbox, Uid uid) {
  auto rec = record(mailbox, uid);
  if (!rec.ok()) return rec.take_error();
  auto e = list_entry(mailbox);
  if (!e.ok()) return e.take_error();
  return spool_.message_path(e->partition, e->uniqueid, uid);
}

Result<int> StoreImpl::open_message(const std::string& mailbox, Uid uid) {
  auto p = message_path(mailbox, uid);
  if (!p.ok()) return p.take_error();
  int fd = ::open(p->c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return Error(errno == ENOENT ? Errc::NotFound : Errc::Io, "Message file missing",
                 p->string() + ": " + std::strerror(errno));
  return fd;
}

Result<std::string> StoreImpl::read_message_file(const std::string& partition, const std::string& uniqueid,
                                                 Uid uid) {
  auto p = spool_.message_path(partition, uniqueid, uid);
  if (!p.ok()) return p.take_error();
  int fd = ::open(p->c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return Error(errno == ENOENT ? Errc::NotFound : Errc::Io, "Message file missing",
                 p->string() + ": " + std::strerror(errno));
  return read_fd(fd, 0, 0);
}

Result<std::string> StoreImpl::read_message(const std::string& mailbox, Uid uid, uint64_t offset,
                                            uint64_t len) {
  auto fd = open_message(mailbox, uid);
  if (!fd.ok()) return fd.take_error();
  return read_fd(*fd, offset, len);
}

// Reads a range of an open message file (len 0: to its end) and closes it.
Result<std::string> StoreImpl::read_fd(int fd, uint64_t offset, uint64_t len) {
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    ::close(fd);
    return Error(Errc::Io, "Cannot read message");
  }
  uint64_t size = static_cast<uint64_t>(st.st_size);
  if (offset > size) offset = size;
  uint64_t n = (len == 0 || offset + len > size) ? size - offset : len;
  std::string out(static_cast<size_t>(n), '\0');
  size_t got = 0;
  while (got < n) {
    ssize_t r = ::pread(fd, out.data() + got, n - got, static_cast<off_t>(offset + got));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    got += static_cast<size_t>(r);
  }
  ::close(fd);
  out.resize(got);
  return out;
}

Result<StoreFlagsResult> StoreImpl::store_flags(const std::string& mailbox, const StoreFlagsRequest& req,
                                                WriteMode mode) {
  CYR_TRY(check_writable(mode));
  CYR_TRY(validate_flags(req.flags));
  auto mb = open_mailbox(mailbox);
  if (!mb.ok()) return mb.take_error();
  auto& [entry, sh] = *mb;
  StoreFlagsResult res;
  Status st = shard_write(sh, mode, [&](ShardTxn& tx) -> Status {
    res = StoreFlagsResult{};
    auto m = tx.load(entry);
    if (!m.ok()) return m.take_error();
    std::vector<MessageRecord> targets;
    for (auto& [lo, hi] : req.uids.ranges()) {
      auto st2 = tx.db->prepare("SELECT " RECORD_COLS " FROM record WHERE mbid=?1 AND uid BETWEEN ?2 AND ?3 ORDER BY uid");
      if (!st2.ok()) return st2.take_error();
      st2->bind(1, m->mbid).bind(2, int64_t(lo)).bind(3, int64_t(hi));
      for (;;) {
        auto r = st2->step();
        if (!r.ok()) return r.take_error();
        if (!*r) break;
        bool ok = true;
        MessageRecord rec = row_to_record(*st2, &ok);
        if (!ok) return Error(Errc::Corrupted, "Mailbox index is damaged", "crc");
        if (!rec.expunged()) targets.push_back(std::move(rec));
      }
    }
    ModSeq modseq = m->info.highestmodseq + 1;
    bool changed_any = false;
    int64_t now = now_seconds();
    for (auto& r : targets) {
      if (req.unchangedsince && r.modseq > *req.unchangedsince) {
        res.failed_unchangedsince.add(r.uid);
        continue;
      }
      Flags nf = r.flags;
      switch (req.op) {
        case FlagOp::Add:
          nf.system |= req.flags.system;
          add_keywords(nf.keywords, req.flags.keywords);
          break;
        case FlagOp::Remove:
          nf.system &= ~req.flags.system;
          remove_keywords(nf.keywords, req.flags.keywords);
          break;
        case FlagOp::Replace:
          nf.system = (r.flags.system & ~kSettableSystemFlags) | req.flags.system;
          nf.keywords = req.flags.keywords;
          break;
      }
      if (nf.keywords.size() > kMaxKeywordsPerMessage) return Error(Errc::Limit, "Too many keywords");
      // UNCHANGEDSINCE with no effective change still succeeds (RFC 7162);
      // only real changes get a new modseq.
      if (nf == r.flags) continue;
      const MessageRecord before = r;
      r.flags = nf;
      r.modseq = modseq;
      r.last_updated = now;
      CYR_TRY(insert_record(*tx.db, *m, &before, r, nullptr));
      res.changed.push_back(r);
      changed_any = true;
    }
    if (changed_any) {
      m->info.highestmodseq = modseq;
      CYR_TRY(tx.save(*m));
      CYR_TRY(tx.log_change(ChangeKind::Mailbox, m->info.name));
      tx.event(*m, kChangedFlags);
    }
    res.highestmodseq = m->info.highestmodseq;
    return {};
  });
  if (!st.ok()) return st.take_error();
  return res;
}

Result<ExpungeResult> StoreImpl::expunge(const std::string& mailbox, const UidSet& uids, WriteMode mode) {
  CYR_TRY(check_writable(mode));
  auto mb = open_mailbox(mailbox);
  if (!mb.ok()) return mb.take_error();
  auto& [entry, sh] = *mb;
  ExpungeResult res;
  Status st = shard_write(sh, mode, [&](ShardTxn& tx) -> Status {
    res = ExpungeResult{};
    auto m = tx.load(entry);
    if (!m.ok()) return m.take_error();
    ModSeq modseq = m->info.highestmodseq + 1;
    int64_t now = now_seconds();
    int64_t bytes = 0, count = 0;
    for (auto& [lo, hi] : uids.ranges()) {
      auto q = tx.db->prepare("SELECT " RECORD_COLS " FROM record WHERE mbid=?1 AND uid BETWEEN ?2 AND ?3 ORDER BY uid");
      if (!q.ok()) return q.take_error();
      q->bind(1, m->mbid).bind(2, int64_t(lo)).bind(3, int64_t(hi));
      std::vector<MessageRecord> recs;
      for (;;) {
        auto r = q->step();
        if (!r.ok()) return r.take_error();
        if (!*r) break;
        bool ok = true;
        MessageRecord rec = row_to_record(*q, &ok);
        if (!ok) return Error(Errc::Corrupted, "Mailbox index is damaged", "crc");
        if (!rec.expunged()) recs.push_back(std::move(rec));
      }
      for (auto& r : recs) {
        const MessageRecord before = r;
        r.flags.system |= kFlagExpunged;
        r.modseq = modseq;
        r.last_updated = now;
        CYR_TRY(insert_record(*tx.db, *m, &before, r, nullptr));
        res.expunged.add(r.uid);
        bytes += static_cast<int64_t>(r.size);
        ++count;
        if (opts_.expunge_mode == ExpungeMode::Immediate) {
          auto p = spool_.message_path(entry.partition, entry.uniqueid, r.uid);
          if (p.ok()) tx.op->unlink_after.push_back(p->string());
        }
      }
    }
    if (count > 0) {
      m->info.highestmodseq = modseq;
      m->info.exists -= static_cast<uint32_t>(count);
      m->info.total_size -= static_cast<uint64_t>(bytes);
      CYR_TRY(quota_charge(*tx.db, m->quota_mbid, -bytes, -count, false));
      CYR_TRY(tx.save(*m));
      CYR_TRY(tx.log_change(ChangeKind::Mailbox, m->info.name));
      tx.event(*m, kChangedExpunge);
    }
    res.highestmodseq = m->info.highestmodseq;
    return {};
  });
  if (!st.ok()) return st.take_error();
  return res;
}

Result<uint64_t> StoreImpl::purge_expunged(const std::string& mailbox, int64_t older_than) {
  // A housekeeping write, allowed on a replica too: removing old tombstones
  // and their files changes nothing a client or the primary can see, and a
  // replica that never purged would keep every expunged file forever.
  CYR_TRY(check_writable(WriteMode::Replication));
  auto mb = open_mailbox(mailbox);
  if (!mb.ok()) return mb.take_error();
  auto& [entry, sh] = *mb;
  uint64_t n = 0;
  Status st = shard_write(sh, WriteMode::Replication, [&](ShardTxn& tx) -> Status {
    n = 0;
    auto m = tx.load(entry);
    if (!m.ok()) return m.take_error();
    auto q = tx.db->prepare("SELECT uid FROM record WHERE mbid=?1 AND system_flags >= 2147483648 AND last_updated < ?2");
    if (!q.ok()) return q.take_error();
    q->bind(1, m->mbid).bind(2, older_than);
    std::vector<int64_t> uids;
    for (;;) {
      auto r = q->step();
      if (!r.ok()) return r.take_error();
      if (!*r) break;
      uids.push_back(q->i64(0));
    }
    for (int64_t u : uids) {
      CYR_TRY(delete_record_rows(*tx.db, m->mbid, static_cast<Uid>(u)));
      auto p = spool_.message_path(entry.partition, entry.uniqueid, static_cast<Uid>(u));
      if (p.ok()) tx.op->unlink_after.push_back(p->string());
      ++n;
    }
    return {};
  });
  if (!st.ok()) return st.take_error();
  return n;
}

Result<CopyResult> StoreImpl::copy(const std::string& from, const UidSet& uids, const std::string& to,
                                   bool move, WriteMode mode) {
  CYR_TRY(check_writable(mode));
  auto src = open_mailbox(from);
  if (!src.ok()) return src.take_error();
  auto dst = open_mailbox(to);
  if (!dst.ok()) return dst.take_error();
  auto& [se, ssh] = *src;
  auto& [de, dsh] = *dst;
  if (se.uniqueid == de.uniqueid) return Error(Errc::Invalid, "Cannot copy a mailbox onto itself");
  // Source records and their files (a snapshot; files are immutable).
  auto recs = records(from, false);
  if (!recs.ok()) return recs.take_error();
  std::vector<MessageRecord> chosen;
  for (auto& r : *recs)
    if (uids.contains(r.uid)) chosen.push_back(r);
  CopyResult res;
  if (chosen.empty()) {
    res.dest_uidvalidity = de.uidvalidity;
    return res;
  }
  StagedSet staged;
  staged.spool = &spool_;
  std::vector<std::string> from_paths;
  std::vector<std::string> structures;
  for (auto& r : chosen) {
    auto p = spool_.message_path(se.partition, se.uniqueid, r.uid);
    if (!p.ok()) return p.take_error();
    if (se.partition == de.partition) {
      from_paths.push_back(p->string());
    } else {
      auto c = spool_.stage_copy(de.partition, p->string());
      if (!c.ok()) return fence_if_fatal(c.take_error()).error();
      from_paths.push_back(c->path);
      staged.msgs.push_back(std::move(*c));
    }
    auto blob = structure(from, r.uid);
    structures.push_back(blob.ok() ? *blob : std::string());
  }
  bool same_shard = ssh.get() == dsh.get();
  auto write_dest = [&](ShardTxn& tx) -> Status {
    res = CopyResult{};
    auto m = tx.load(de);
    if (!m.ok()) return m.take_error();
    int64_t total = 0;
    for (auto& r : chosen) total += static_cast<int64_t>(r.size);
    // A move within one quota root does not change usage.
    CYR_TRY(quota_charge(*tx.db, m->quota_mbid, total, static_cast<int64_t>(chosen.size()),
                         mode == WriteMode::Normal));
    ModSeq modseq = ++m->info.highestmodseq;
    int64_t now = now_seconds();
    for (size_t i = 0; i < chosen.size(); ++i) {
      MessageRecord r = chosen[i];
      r.flags.system &= kSettableSystemFlags;
      r.uid = ++m->info.last_uid;
      r.modseq = modseq;
      r.createdmodseq = modseq;
      r.savedate = now;
      r.last_updated = now;
      auto path = spool_.message_path(de.partition, de.uniqueid, r.uid);
      if (!path.ok()) return path.take_error();
      CYR_TRY(tx.link(from_paths[i], *path));
      // The source may be a journaled message whose late flush has not run
      // (ShardTxn::link_staged): its bytes are durable only in the source
      // shard's journal, which restores links in that shard alone. A link
      // into another shard flushes the file itself first.
      if (!same_shard && se.partition == de.partition) tx.op->sync_files.push_back(from_paths[i]);
      CYR_TRY(insert_record(*tx.db, *m, nullptr, r, &structures[i]));
      m->info.exists++;
      m->info.total_size += r.size;
      res.source_uids.add(chosen[i].uid);
      res.dest_uids.push_back(r.uid);
    }
    m->info.last_appenddate = now;
    CYR_TRY(tx.save(*m));
    CYR_TRY(tx.log_change(ChangeKind::Append, m->info.name));
    tx.event(*m, kChangedAppend);
    res.dest_uidvalidity = m->info.uidvalidity;
    res.dest_highestmodseq = m->info.highestmodseq;
    return {};
  };
  auto expunge_source = [&](ShardTxn& tx) -> Status {
    auto m = tx.load(se);
    if (!m.ok()) return m.take_error();
    ModSeq modseq = m->info.highestmodseq + 1;
    int64_t now = now_seconds(), bytes = 0, count = 0;
    for (auto& r0 : chosen) {
      // Re-read: the record may have changed since the snapshot.
      auto q = tx.db->cached("SELECT " RECORD_COLS " FROM record WHERE mbid=? AND uid=?");
      if (!q.ok()) return q.take_error();
      (*q)->bind(1, m->mbid).bind(2, int64_t(r0.uid));
      auto row = (*q)->step();
      if (!row.ok()) return row.take_error();
      if (!*row) continue;
      bool ok = true;
      MessageRecord r = row_to_record(**q, &ok);
      (*q)->reset();
      if (!ok) return Error(Errc::Corrupted, "Mailbox index is damaged", "crc");
      if (r.expunged()) continue;
      const MessageRecord before = r;
      r.flags.system |= kFlagExpunged;
      r.modseq = modseq;
      r.last_updated = now;
      CYR_TRY(insert_record(*tx.db, *m, &before, r, nullptr));
      bytes += static_cast<int64_t>(r.size);
      ++count;
    }
    if (count == 0) return {};
    m->info.highestmodseq = modseq;
    m->info.exists -= static_cast<uint32_t>(count);
    m->info.total_size -= static_cast<uint64_t>(bytes);
    CYR_TRY(quota_charge(*tx.db, m->quota_mbid, -bytes, -count, false));
    CYR_TRY(tx.save(*m));
    CYR_TRY(tx.log_change(ChangeKind::Mailbox, m->info.name));
    tx.event(*m, kChangedExpunge);
    return {};
  };
  if (same_shard) {
    // Copy and (for MOVE) expunge in one transaction: the message is never
    // in both or in neither.
    CYR_TRY(shard_write(dsh, mode, [&](ShardTxn& tx) -> Status {
      CYR_TRY(write_dest(tx));
      if (move) CYR_TRY(expunge_source(tx));
      return {};
    }));
  } else {
    CYR_TRY(shard_write(dsh, mode, write_dest));
    // Across shards MOVE is two transactions: a crash in between leaves the
    // message in both mailboxes, never in neither.
    if (move) CYR_TRY(shard_write(ssh, mode, expunge_source));
  }
  return res;
}

Status StoreImpl::read_changes_since(Db& db, const MbState& m, ModSeq since, ChangesSince& out) {
  out.highestmodseq = m.info.highestmodseq;
  out.sync_crc = m.info.sync_crc;
  out.sync_crc_annot = m.info.sync_crc_annot;
  if (m.mbid == 0) return {};
  auto rs = read_records(db, m.mbid, " AND modseq > ?2", static_cast<int64_t>(since), true);
  if (!rs.ok()) return rs.take_error();
  for (auto& r : *rs) {
    if (r.expunged())
      out.expunged.add(r.uid);
    else
      out.changed.push_back(std::move(r));
  }
  return {};
}

Result<ChangesSince> StoreImpl::changes_since(const std::string& mailbox, ModSeq since) {
  ChangesSince out;
  out.highestmodseq = 1;  // what a shard without a database yet reports
  CYR_TRY(read_mailbox(mailbox, [&](Db& db, const MbState& m) -> Status {
    return read_changes_since(db, m, since, out);
  }));
  return out;
}

Result<MailboxRoundState> StoreImpl::round_state(const std::string& mailbox, ModSeq since) {
  auto mb = open_mailbox(mailbox);
  if (!mb.ok()) return mb.take_error();
  MailboxRoundState out;
  auto read = read_opened(mb->first, *mb->second, true, [&](Db& db, const MbState& m) -> Status {
    out.info = m.info;
    CYR_TRY(read_changes_since(db, m, since, out.changes));
    return read_annotations(db, m, mailbox, out.annotations);
  });
  if (!read.ok()) return read.take_error();
  if (!*read) {
    out.info = info_without_shard(mb->first);
    out.changes.highestmodseq = 1;
  }
  return out;
}

// ---------------------------------------------------------------------------
// Replication

// Sets the counters a replication round carries on a loaded mailbox state
// (saved by the caller): UIDs and modseqs only ever rise.
Status StoreImpl::apply_counters(MbState& m, const ListEntry& entry, const MailboxCounters& c) {
  auto& i = m.info;
  if (c.last_uid) i.last_uid = std::max(i.last_uid, *c.last_uid);  // never lower: UIDs are not reused
  if (c.highestmodseq) i.highestmodseq = std::max(i.highestmodseq, *c.highestmodseq);
  if (c.recentuid) i.recentuid = *c.recentuid;
  if (c.recenttime) i.recenttime = *c.recenttime;
  if (c.last_appenddate) i.last_appenddate = *c.last_appenddate;
  if (c.pop3_last_login) i.pop3_last_login = *c.pop3_last_login;
  if (c.pop3_show_after) i.pop3_show_after = *c.pop3_show_after;
  if (c.createdmodseq) i.createdmodseq = *c.createdmodseq;
  if (c.foldermodseq) i.foldermodseq = *c.foldermodseq;
  if (c.options) i.options = *c.options;
  if (c.uidvalidity) i.uidvalidity = *c.uidvalidity;
  if (c.uidvalidity) {
    // The list keeps UIDVALIDITY too (for LIST/STATUS without the shard).
    CYR_TRY(list_write([&](Db& db) -> Status {
      auto st = db.cached("UPDATE mailbox SET uidvalidity=? WHERE uniqueid=?");
      if (!st.ok()) return st.take_error();
      (*st)->bind(1, int64_t(*c.uidvalidity)).bind(2, entry.uniqueid);
      return (*st)->run();
    }));
  }
  return {};
}

Status StoreImpl::apply_records(const std::string& mailbox, const std::vector<ApplyRecord>& recs,
                                WriteMode mode, const MailboxCounters* then_counters, MailboxInfo* after) {
  if (mode != WriteMode::Replication)
    return Error(Errc::Perm, "Only the replication applier writes records verbatim");
  CYR_TRY(check_writable(mode));
  if (recs.size() > kMaxBatchMessages) return Error(Errc::Limit, "Too many records");
  auto mb = open_mailbox(mailbox);
  if (!mb.ok()) return mb.take_error();
  auto& [entry, sh] = *mb;
  StagedSet staged;
  staged.spool = &spool_;
  std::vector<int> staged_index(recs.size(), -1);
  std::vector<const MessageSource*> sources;
  for (size_t i = 0; i < recs.size(); ++i) {
    CYR_TRY(validate_flags(Flags{recs[i].record.flags.system & kSettableSystemFlags,
                                 recs[i].record.flags.keywords}));
    if (!recs[i].source) continue;
    staged_index[i] = static_cast<int>(sources.size());
    sources.push_back(&*recs[i].source);
  }
  // Staged concurrently; checked against the GUIDs after. Not fsync'd here:
  // the commit flushes the files together with their new directory entries
  // (strict order: both before the index commits), one flush of latency
  // instead of a file flush and then a directory flush.
  if (!sources.empty()) {
    auto s = spool_.stage_many(entry.partition, sources, /*defer_sync=*/true);
    if (!s.ok()) return fence_if_fatal(s.take_error());
    staged.msgs = std::move(*s);
  }
  for (size_t i = 0; i < recs.size(); ++i) {
    if (staged_index[i] >= 0 && staged.msgs[staged_index[i]].guid != recs[i].record.guid)
      return Error(Errc::Invalid, std::string(kGuidMismatchMessage), recs[i].record.guid.to_hex());
  }
  MailboxInfo saved;
  Status written = shard_write(sh, mode, [&](ShardTxn& tx) -> Status {
    auto m = tx.load(entry);
    if (!m.ok()) return m.take_error();
    for (size_t i = 0; i < recs.size(); ++i) {
      const MessageRecord& in = recs[i].record;
      auto q = tx.db->cached("SELECT " RECORD_COLS " FROM record WHERE mbid=? AND uid=?");
      if (!q.ok()) return q.take_error();
      (*q)->bind(1, m->mbid).bind(2, int64_t(in.uid));
      auto row = (*q)->step();
      if (!row.ok()) return row.take_error();
      std::optional<MessageRecord> old;
      if (*row) {
        bool ok = true;
        old = row_to_record(**q, &ok);
      }
      (*q)->reset();
      if (old && old->guid != in.guid)
        return Error(Errc::Corrupted, "GUID mismatch for an existing record", std::to_string(in.uid));
      const std::string* structure_blob = nullptr;
      if (!old) {
        if (!in.expunged()) {
          if (staged_index[i] < 0)
            return Error(Errc::Invalid, "Missing message file for a new record", std::to_string(in.uid));
          auto& s = staged.msgs[static_cast<size_t>(staged_index[i])];
          auto path = spool_.message_path(entry.partition, entry.uniqueid, in.uid);
          if (!path.ok()) return path.take_error();
          auto journaled = tx.link_staged(s, *path);
          if (!journaled.ok()) return journaled.take_error();
          structure_blob = &s.structure;
        }
      }
      bool was_live = old && !old->expunged();
      bool is_live = !in.expunged();
      MessageRecord r = in;
      if (r.size == 0 && staged_index[i] >= 0) r.size = staged.msgs[static_cast<size_t>(staged_index[i])].size;
      CYR_TRY(insert_record(*tx.db, *m, old ? &*old : nullptr, r, structure_blob));
      int64_t dbytes = 0, dcount = 0;
      if (was_live && !is_live) { dbytes = -static_cast<int64_t>(old->size); dcount = -1; }
      if (!was_live && is_live) { dbytes = static_cast<int64_t>(r.size); dcount = 1; }
      m->info.exists = static_cast<uint32_t>(int64_t(m->info.exists) + dcount);
      m->info.total_size = static_cast<uint64_t>(int64_t(m->info.total_size) + dbytes);
      CYR_TRY(quota_charge(*tx.db, m->quota_mbid, dbytes, dcount, false));
      m->info.last_uid = std::max(m->info.last_uid, r.uid);
      m->info.highestmodseq = std::max(m->info.highestmodseq, r.modseq);
    }
    if (then_counters) CYR_TRY(apply_counters(*m, entry, *then_counters));
    CYR_TRY(tx.save(*m));
    saved = m->info;
    tx.event(*m, kChangedAppend | kChangedFlags | kChangedExpunge | (then_counters ? kChangedMailbox : 0));
    return {};
  });
  if (written.ok() && after) *after = std::move(saved);
  return written;
}

Status StoreImpl::set_counters(const std::string& mailbox, const MailboxCounters& c, WriteMode mode) {
  if (mode != WriteMode::Replication)
    return Error(Errc::Perm, "Only the replication applier sets counters");
  CYR_TRY(check_writable(mode));
  auto mb = open_mailbox(mailbox);
  if (!mb.ok()) return mb.take_error();
  auto& [entry, sh] = *mb;
  return shard_write(sh, mode, [&](ShardTxn& tx) -> Status {
    auto m = tx.load(entry);
    if (!m.ok()) return m.take_error();
    CYR_TRY(apply_counters(*m, entry, c));
    CYR_TRY(tx.save(*m));
    tx.event(*m, kChangedMailbox);
    return {};
  });
}

Result<fs::path> StoreImpl::find_message_file(const std::string& partition, const mail::MessageGuid& guid,
                                              const std::vector<std::string>& candidates) {
  if (candidates.size() > 10000) return Error(Errc::Limit, "Too many candidate mailboxes");
  auto& g = guid.bytes();
  std::string_view gv(reinterpret_cast<const char*>(g.data()), g.size());
  for (auto& name : candidates) {
    auto mb = open_mailbox(name);
    if (!mb.ok()) continue;
    auto& [entry, sh] = *mb;
    if (entry.partition != partition) continue;
    std::optional<Uid> uid;
    auto read = read_opened(entry, *sh, false, [&](Db& db, const MbState& m) -> Status {
      if (m.mbid == 0) return {};
      auto st = db.cached("SELECT uid FROM record WHERE guid=? AND mbid=? LIMIT 1");
      if (!st.ok()) return st.take_error();
      (*st)->bind_blob(1, gv).bind(2, m.mbid);
      auto r = (*st)->step();
      if (!r.ok()) return r.take_error();
      if (*r) uid = static_cast<Uid>((*st)->i64(0));
      (*st)->reset();
      return {};
    });
    if (!read.ok()) return read.take_error();
    if (!uid) continue;
    auto p = spool_.message_path(partition, entry.uniqueid, *uid);
    if (p.ok() && fs::exists(*p)) return *p;
  }
  return Error(Errc::NotFound, "No message with this GUID", guid.to_hex());
}

static Status read_change_rows(Db& db, uint64_t shard_id, size_t max, std::vector<ChangeRecord>& out) {
  auto cst = db.cached("SELECT seq, kind, arg1, arg2 FROM change ORDER BY seq LIMIT ?");
  if (!cst.ok()) return cst.take_error();
  Stmt* st = *cst;
  ResetOnExit reset(st);
  st->bind(1, static_cast<int64_t>(max));
  for (;;) {
    auto r = st->step();
    if (!r.ok()) return r.take_error();
    if (!*r) break;
    ChangeRecord c;
    c.seq = static_cast<uint64_t>(st->i64(0));
    c.shard = shard_id;
    c.kind = static_cast<ChangeKind>(st->i64(1));
    c.arg1 = st->text(2);
    c.arg2 = st->text(3);
    out.push_back(std::move(c));
  }
  return {};
}

Result<ChangeBatch> StoreImpl::read_marked_changes(size_t max, bool skip_lingering) {
  if (max == 0 || max > 1000000) return Error(Errc::Invalid, "Bad change batch size");
  // Shards with records, as marked by any process: read afresh every time
  // (one small table), so another process's writes are never missed.
  std::vector<uint64_t> dirty;
  {
    auto db = list_readers_->get();
    if (!db.ok()) return db.take_error();
    auto ids = read_shard_ids(**db, "SELECT shard_id FROM pending_shard");
    if (!ids.ok()) return ids.take_error();
    dirty = std::move(*ids);
  }
  if (skip_lingering) {
    // Lingering markers over shards this process emptied (see kMarkerLinger).
    std::lock_guard lk(linger_mu_);
    if (!lingering_.empty()) {
      auto now = std::chrono::steady_clock::now();
      std::erase_if(dirty, [&](uint64_t id) {
        auto it = lingering_.find(id);
        if (it == lingering_.end()) return false;
        if (now - it->second < kMarkerLinger) return true;
        lingering_.erase(it);  // read again from now on (and dropped if still empty)
        return false;
      });
    }
  }
  std::vector<uint64_t> empty;
  auto batch = read_change_batch(dirty, max, &empty);
  if (batch.ok()) drop_stale_markers(empty);
  return batch;
}

// A marker whose shard has no record (its lazy removal lost in a crash, or
// another process's acknowledgement) would have its shard read on every
// pass until that shard is written and acknowledged again. One found empty
// by two reads in a row is dropped the way an acknowledgement drops it:
// checked and removed under the shard's write lock (run_batch,
// clean_marker), so a record committed meanwhile keeps it. Two reads, so
// that the common race - an acknowledgement emptying the shard between the
// marker list's read and the shard's - costs nothing. The primary process
// only; a few per read.
void StoreImpl::drop_stale_markers(const std::vector<uint64_t>& empty_now) {
  if (opts_.open_mode != OpenMode::Primary) return;
  std::vector<uint64_t> stale;
  {
    std::lock_guard lk(stale_mu_);
    std::set<uint64_t> next;
    for (uint64_t id : empty_now) {
      if (empty_before_.count(id) && stale.size() < kMaxStaleMarkerDrops) stale.push_back(id);
      else next.insert(id);
    }
    empty_before_ = std::move(next);
  }
  for (uint64_t id : stale) {
    auto sh = shard(id);
    if (!sh.ok()) continue;
    // Lazy, as the acknowledgement's drop: a marker that comes back only
    // costs another look.
    (void)shard_write(
        *sh, WriteMode::Replication,
        [](ShardTxn& tx) -> Status {
          tx.clean_marker = true;
          return {};
        },
        /*lazy=*/true);
  }
}

Result<ChangeBatch> StoreImpl::read_changes_in(const std::vector<uint64_t>& shards, size_t max) {
  if (max == 0 || max > 1000000) return Error(Errc::Invalid, "Bad change batch size");
  std::vector<uint64_t> ids;
  for (uint64_t id : shards)
    if (id != 0 && std::find(ids.begin(), ids.end(), id) == ids.end()) ids.push_back(id);
  return read_change_batch(ids, max);
}

Result<ChangeBatch> StoreImpl::read_change_batch(const std::vector<uint64_t>& shards, size_t max,
                                                 std::vector<uint64_t>* empty) {
  std::vector<ChangeRecord> all;
  {
    auto db = list_readers_->get();
    if (!db.ok()) return db.take_error();
    CYR_TRY(read_change_rows(**db, 0, max, all));
  }
  for (uint64_t id : shards) {
    auto sh = shard(id);
    if (!sh.ok()) return sh.take_error();
    if (!(*sh)->has_file()) continue;
    auto db = (*sh)->readers->get();
    if (!db.ok()) return db.take_error();
    size_t before = all.size();
    CYR_TRY(read_change_rows(**db, id, max, all));
    if (empty && all.size() == before) empty->push_back(id);
  }
  std::sort(all.begin(), all.end(), [](const ChangeRecord& a, const ChangeRecord& b) { return a.seq < b.seq; });
  // Within a shard seq order is commit order; across shards, records from a
  // batch committing right now may appear in a later read with a lower seq.
  // Acknowledgement is per shard, so none is ever lost.
  if (all.size() > max) all.resize(max);
  ChangeBatch b;
  b.records = std::move(all);
  return b;
}

// Deletes exactly the records read, not "everything up to the highest seq":
// with several processes drawing seq blocks, a record committed after the
// read may carry a lower seq than one that was read.
static Status delete_change_rows(Db& db, const std::vector<uint64_t>& seqs) {
  auto st = db.cached("DELETE FROM change WHERE seq=?");
  if (!st.ok()) return st.take_error();
  for (uint64_t seq : seqs) {
    (*st)->reset();
    (*st)->bind(1, static_cast<int64_t>(seq));
    CYR_TRY((*st)->run());
  }
  return {};
}

Status StoreImpl::ack_changes(const ChangeBatch& batch) {
  std::map<uint64_t, std::vector<uint64_t>> by_shard;
  for (auto& r : batch.records) by_shard[r.shard].push_back(r.seq);
  for (auto& [id, seqs] : by_shard) {
    if (id == 0) {
      CYR_TRY(list_write([&](Db& db) -> Status { return delete_change_rows(db, seqs); }));
      own_forget(seqs);
      continue;
    }
    auto sh = shard(id);
    if (!sh.ok()) return sh.take_error();
    // An internal write: allowed on a replica too (it only forgets records).
    // Lazy: forgotten records that come back after a power failure are
    // replicated again, and the replica finds it has them.
    CYR_TRY(shard_write(
        *sh, WriteMode::Replication,
        [&](ShardTxn& tx) -> Status {
          CYR_TRY(delete_change_rows(*tx.db, seqs));
          tx.clean_marker = true;
          tx.linger_marker = true;
          return {};
        },
        /*lazy=*/true));
    own_forget(seqs);
  }
  return {};
}

// ---------------------------------------------------------------------------
// Quota

Result<QuotaInfo> StoreImpl::quota_of(Db& db, int64_t root_mbid) {
  auto st = db.cached(
      "SELECT m.name, q.storage_limit, q.message_limit, q.storage_used, q.message_used"
      " FROM quota q JOIN mailbox m ON m.mbid = q.mbid WHERE q.mbid=?");
  if (!st.ok()) return st.take_error();
  (*st)->bind(1, root_mbid);
  auto r = (*st)->step();
  if (!r.ok()) return r.take_error();
  if (!*r) return Error(Errc::NotFound, "No such quota root");
  Stmt& s = **st;
  QuotaInfo q;
  q.root = s.text(0);
  if (!s.is_null(1)) q.storage_limit_kib = static_cast<uint64_t>(s.i64(1));
  if (!s.is_null(2)) q.message_limit = static_cast<uint64_t>(s.i64(2));
  q.storage_used_bytes = static_cast<uint64_t>(s.i64(3));
  q.message_used = static_cast<uint64_t>(s.i64(4));
  s.reset();
  return q;
}

Result<QuotaInfo> StoreImpl::get_quota(const std::string& root) {
  auto mb = open_mailbox(root);
  if (!mb.ok()) return Error(Errc::NotFound, "No such quota root", root);
  std::optional<QuotaInfo> quota;
  auto read = read_opened(mb->first, *mb->second, true, [&](Db& db, const MbState& m) -> Status {
    if (m.mbid == 0) return {};
    auto q = quota_of(db, m.mbid);
    if (q.ok()) quota = std::move(*q);
    return {};
  });
  if (!read.ok()) return read.take_error();
  if (!quota) return Error(Errc::NotFound, "No such quota root", root);
  return std::move(*quota);
}

Status StoreImpl::set_quota(const std::string& root, std::optional<uint64_t> storage_kib,
                            std::optional<uint64_t> messages, WriteMode mode) {
  CYR_TRY(check_writable(mode));
  constexpr uint64_t kMax = uint64_t(1) << 52;
  if ((storage_kib && *storage_kib > kMax) || (messages && *messages > kMax))
    return Error(Errc::Limit, "Quota limit too large");
  // A root is a mailbox; its shard holds everything below it, so usage and
  // the records it counts are always in one database.
  auto mb = open_mailbox(root);
  if (!mb.ok()) return mb.take_error();
  auto& [entry, sh] = *mb;
  return shard_write(sh, mode, [&](ShardTxn& tx) -> Status {
    auto m = tx.load(entry);
    if (!m.ok()) return m.take_error();
    auto st = tx.db->cached(
        "INSERT INTO quota(mbid, storage_limit, message_limit, storage_used, message_used) VALUES(?1,?2,?3,0,0)"
        " ON CONFLICT(mbid) DO UPDATE SET storage_limit=?2, message_limit=?3");
    if (!st.ok()) return st.take_error();
    (*st)->bind(1, m->mbid);
    if (storage_kib) (*st)->bind(2, static_cast<int64_t>(*storage_kib)); else (*st)->bind_null(2);
    if (messages) (*st)->bind(3, static_cast<int64_t>(*messages)); else (*st)->bind_null(3);
    CYR_TRY((*st)->run());
    CYR_TRY(recompute_quota(*this, *tx.db));
    CYR_TRY(tx.log_change(ChangeKind::Quota, root));
    return {};
  });
}

Status StoreImpl::remove_quota(const std::string& root, WriteMode mode) {
  CYR_TRY(check_writable(mode));
  auto mb = open_mailbox(root);
  if (!mb.ok()) return mb.take_error();
  auto& [entry, sh] = *mb;
  return shard_write(sh, mode, [&](ShardTxn& tx) -> Status {
    auto m = tx.load(entry);
    if (!m.ok()) return m.take_error();
    auto st = tx.db->cached("DELETE FROM quota WHERE mbid=?");
    if (!st.ok()) return st.take_error();
    (*st)->bind(1, m->mbid);
    CYR_TRY((*st)->run());
    if (tx.db->changes() == 0) return Error(Errc::NotFound, "No such quota root", root);
    CYR_TRY(recompute_quota(*this, *tx.db));
    CYR_TRY(tx.log_change(ChangeKind::Quota, root));
    return {};
  });
}

Status StoreImpl::check_quota(const std::string& mailbox, uint64_t bytes, uint64_t messages) {
  return read_mailbox(mailbox, [&](Db& db, const MbState& m) -> Status {
    int64_t root = m.quota_mbid;
    if (m.mbid == 0) {
      auto r = nearest_quota_root(db, m.info.name);
      if (!r.ok()) return r.take_error();
      root = *r;
    }
    if (root == 0) return {};
    auto q = quota_of(db, root);
    if (!q.ok()) return {};
    if (q->storage_limit_kib && q->storage_used_bytes + bytes > *q->storage_limit_kib * 1024)
      return Error(Errc::NoQuota, "Over quota", "storage");
    if (q->message_limit && q->message_used + messages > *q->message_limit)
      return Error(Errc::NoQuota, "Over quota", "messages");
    return {};
  });
}

// ---------------------------------------------------------------------------
// Seen state, subscriptions, annotations

Result<std::string> StoreImpl::user_shard_name(const std::string& userid) {
  // Virtual domains are on when the id has a '@' (the store does not know the
  // option; "fred@example.com" maps to "example.com!user.fred" as Cyrus's).
  auto inbox = mail::user_inbox_name(userid, userid.find('@') != std::string::npos);
  if (!inbox.ok()) return inbox.take_error();
  return shard_of(*inbox);
}

Result<SeenState> StoreImpl::get_seen(const std::string& userid, const std::string& mailbox) {
  SeenState s;
  CYR_TRY(read_mailbox(mailbox, [&](Db& db, const MbState& m) -> Status {
    auto st = db.cached("SELECT lastread, lastuid, lastchange, seenuids FROM seen WHERE userid=? AND mbid=?");
    if (!st.ok()) return st.take_error();
    (*st)->bind(1, userid).bind(2, m.mbid);
    auto r = (*st)->step();
    if (!r.ok()) return r.take_error();
    if (*r) {
      s.lastread = (*st)->i64(0);
      s.lastuid = static_cast<Uid>((*st)->i64(1));
      s.lastchange = (*st)->i64(2);
      s.seenuids = (*st)->text(3);
    }
    (*st)->reset();
    return {};
  }));
  return s;
}

Status StoreImpl::set_seen(const std::string& userid, const std::string& mailbox, const SeenState& s,
                           WriteMode mode) {
  CYR_TRY(check_writable(mode));
  if (userid.empty() || userid.size() > 256) return Error(Errc::Invalid, "Invalid user id");
  if (s.seenuids.size() > 1u << 20) return Error(Errc::Limit, "Seen state too large");
  auto mb = open_mailbox(mailbox);
  if (!mb.ok()) return mb.take_error();
  auto& [entry, sh] = *mb;
  Status written = shard_write(sh, mode, [&](ShardTxn& tx) -> Status {
    auto m = tx.load(entry);
    if (!m.ok()) return m.take_error();
    auto st = tx.db->cached("INSERT OR REPLACE INTO seen(userid, mbid, lastread, lastuid, lastchange, seenuids) VALUES(?,?,?,?,?,?)");
    if (!st.ok()) return st.take_error();
    (*st)->bind(1, userid).bind(2, m->mbid).bind(3, s.lastread).bind(4, int64_t(s.lastuid))
        .bind(5, s.lastchange).bind(6, s.seenuids);
    CYR_TRY((*st)->run());
    CYR_TRY(tx.log_change(ChangeKind::Seen, userid, entry.uniqueid));
    tx.event(*m, kChangedFlags);
    return {};
  });
  if (!written.ok()) return written;
  auto owner = mail::mboxname_owner(mailbox);
  if (!owner || *owner != userid) note_foreign_seen(userid, entry.uniqueid);
  return {};
}

// Best effort and lazy: a lost or failed index row only leaves that
// mailbox out of foreign_seen_mailboxes (GET USER on a replica), never the
// seen state itself.
void StoreImpl::note_foreign_seen(const std::string& userid, const std::string& uniqueid) {
  auto key = std::make_pair(userid, uniqueid);
  {
    std::lock_guard lk(foreign_seen_mu_);
    if (foreign_seen_known_.count(key)) return;
  }
  bool present = false;
  if (auto db = list_readers_->get(); db.ok()) {
    auto q = (*db)->cached("SELECT 1 FROM foreign_seen WHERE userid=? AND uniqueid=?");
    if (q.ok()) {
      (*q)->bind(1, userid).bind(2, uniqueid);
      auto r = (*q)->step();
      present = r.ok() && *r;
      (*q)->reset();
    }
  }
  if (!present) {
    Status st = list_write(
        [&](Db& db) -> Status {
          auto ins = db.cached("INSERT OR IGNORE INTO foreign_seen(userid, uniqueid) VALUES(?,?)");
          if (!ins.ok()) return ins.take_error();
          (*ins)->bind(1, userid).bind(2, uniqueid);
          return (*ins)->run();
        },
        /*lazy=*/true);
    if (!st.ok()) return;
  }
  std::lock_guard lk(foreign_seen_mu_);
  if (foreign_seen_known_.size() > 100000) foreign_seen_known_.clear();  // a bound, not a correctness matter
  foreign_seen_known_.insert(std::move(key));
}

Result<std::vector<std::string>> StoreImpl::foreign_seen_mailboxes(const std::string& userid) {
  auto db = list_readers_->get();
  if (!db.ok()) return db.take_error();
  auto st = (*db)->prepare(
      "SELECT m.name FROM foreign_seen f JOIN mailbox m ON m.uniqueid = f.uniqueid WHERE f.userid=? ORDER BY m.name");
  if (!st.ok()) return st.take_error();
  st->bind(1, userid);
  std::vector<std::string> out;
  CYR_TRY(append_texts(*st, out));
  return out;
}

// Stores made before foreign_seen existed: one pass over every shard's seen
// table at the first start of this build (a node key marks it done; any
// unreadable shard leaves it unmarked, so the next start tries again).
Status StoreImpl::index_foreign_seen() {
  std::vector<uint64_t> ids;
  {
    auto r = read_shard_ids(*list_writer_, "SELECT id FROM shard");
    if (!r.ok()) return r.take_error();
    ids = std::move(*r);
  }
  std::vector<std::pair<std::string, std::string>> rows;
  for (uint64_t id : ids) {
    auto sh = shard(id);
    if (!sh.ok()) return sh.take_error();
    if (!(*sh)->has_file()) continue;
    auto db = (*sh)->readers->get();
    if (!db.ok()) return db.take_error();
    auto st = (*db)->prepare("SELECT s.userid, m.name, m.uniqueid FROM seen s JOIN mailbox m ON m.mbid = s.mbid");
    if (!st.ok()) return st.take_error();
    for (;;) {
      auto r = st->step();
      if (!r.ok()) return r.take_error();
      if (!*r) break;
      std::string reader = st->text(0);
      auto owner = mail::mboxname_owner(st->text(1));
      if (!owner || *owner != reader) rows.emplace_back(std::move(reader), st->text(2));
    }
  }
  return list_write([&](Db& db) -> Status {
    auto ins = db.cached("INSERT OR IGNORE INTO foreign_seen(userid, uniqueid) VALUES(?,?)");
    if (!ins.ok()) return ins.take_error();
    for (auto& [u, id] : rows) {
      (*ins)->reset();
      (*ins)->bind(1, u).bind(2, id);
      CYR_TRY((*ins)->run());
    }
    auto done = db.cached("INSERT OR REPLACE INTO node(key, value) VALUES('foreign_seen_indexed', 1)");
    if (!done.ok()) return done.take_error();
    return (*done)->run();
  });
}

Result<std::vector<std::string>> StoreImpl::seen_users(const std::string& mailbox) {
  std::vector<std::string> users;
  CYR_TRY(read_mailbox(mailbox, [&](Db& db, const MbState& m) -> Status {
    auto st = db.prepare("SELECT userid FROM seen WHERE mbid=? ORDER BY userid");
    if (!st.ok()) return st.take_error();
    st->bind(1, m.mbid);
    return append_texts(*st, users);
  }));
  return users;
}

Result<std::shared_ptr<Shard>> StoreImpl::existing_user_shard(const std::string& userid) {
  auto sname = user_shard_name(userid);
  if (!sname.ok()) return sname.take_error();
  uint64_t id = 0;
  {
    auto db = list_readers_->get();
    if (!db.ok()) return db.take_error();
    auto sid = shard_id_for(**db, *sname, false);
    if (!sid.ok()) return std::shared_ptr<Shard>();
    id = *sid;
  }
  auto sh = shard(id);
  if (!sh.ok()) return sh.take_error();
  if (!fs::exists((*sh)->path)) return std::shared_ptr<Shard>();
  return sh;
}

Result<std::vector<std::string>> StoreImpl::subscriptions(const std::string& userid) {
  std::vector<std::string> out;
  auto sh = existing_user_shard(userid);
  if (!sh.ok()) return sh.take_error();
  if (!*sh) return out;
  auto db = (*sh)->readers->get();
  if (!db.ok()) return db.take_error();
  auto st = (*db)->prepare("SELECT name FROM subscription WHERE userid=? ORDER BY name");
  if (!st.ok()) return st.take_error();
  st->bind(1, userid);
  CYR_TRY(append_texts(*st, out));
  return out;
}

Status StoreImpl::subscribe(const std::string& userid, const std::string& mailbox, bool on, WriteMode mode) {
  CYR_TRY(check_writable(mode));
  CYR_TRY(validate_mailbox_name(mailbox));
  auto sh = user_shard_for_write(userid);
  if (!sh.ok()) return sh.take_error();
  return shard_write(*sh, mode, [&](ShardTxn& tx) -> Status {
    auto st = tx.db->cached(on ? "INSERT OR IGNORE INTO subscription(userid, name) VALUES(?,?)"
                               : "DELETE FROM subscription WHERE userid=? AND name=?");
    if (!st.ok()) return st.take_error();
    (*st)->bind(1, userid).bind(2, mailbox);
    CYR_TRY((*st)->run());
    // Cyrus logs subscribe and unsubscribe alike as SUB; the reader compares.
    CYR_TRY(tx.log_change(ChangeKind::Sub, userid, mailbox));
    return {};
  });
}

// ---------------------------------------------------------------------------
// Sieve scripts. One row per script in the owner's shard; each write logs a
// SIEVE change for the user, which the rolling client turns into a META sync
// (GET META lists the scripts with their GUIDs; APPLY SIEVE and friends).

namespace {

// Far above any sieve_maxscriptsize a site sets; ManageSieve applies the
// configured bound before this.
constexpr size_t kMaxSieveScriptBytes = 1u << 20;

}  // namespace

Result<std::vector<SieveScript>> StoreImpl::sieve_scripts(const std::string& userid) {
  std::vector<SieveScript> out;
  auto sh = existing_user_shard(userid);
  if (!sh.ok()) return sh.take_error();
  if (!*sh) return out;
  auto db = (*sh)->readers->get();
  if (!db.ok()) return db.take_error();
  auto st = (*db)->cached("SELECT name, content, active, last_update FROM sieve_script WHERE userid=? ORDER BY name");
  if (!st.ok()) return st.take_error();
  (*st)->bind(1, userid);
  for (;;) {
    auto r = (*st)->step();
    if (!r.ok()) {
      (*st)->reset();
      return r.take_error();
    }
    if (!*r) break;
    out.push_back(SieveScript{(*st)->text(0), (*st)->text(1), (*st)->i64(2) != 0, (*st)->i64(3)});
  }
  (*st)->reset();
  return out;
}

namespace {

Result<std::optional<SieveScript>> read_active_sieve(Db& db, const std::string& userid) {
  auto st = db.cached("SELECT name, content, last_update FROM sieve_script WHERE userid=? AND active=1");
  if (!st.ok()) return st.take_error();
  (*st)->bind(1, userid);
  auto r = (*st)->step();
  std::optional<SieveScript> out;
  if (r.ok() && *r) out = SieveScript{(*st)->text(0), (*st)->text(1), true, (*st)->i64(2)};
  (*st)->reset();
  if (!r.ok()) return r.take_error();
  return out;
}

}  // namespace

Result<std::pair<MailboxInfo, std::optional<SieveScript>>> StoreImpl::lookup_with_sieve(const std::string& name,
                                                                                        const std::string& userid) {
  auto own = user_shard_name(userid);
  auto mine = shard_of(name);
  if (!own.ok() || !mine.ok() || *own != *mine) {
    // Not the user's own mailbox: two reads.
    auto info = lookup(name);
    if (!info.ok()) return info.take_error();
    auto scripts = sieve_scripts(userid);
    if (!scripts.ok()) return scripts.take_error();
    std::optional<SieveScript> active;
    for (auto& sc : *scripts)
      if (sc.active) active = std::move(sc);
    return std::make_pair(std::move(*info), std::move(active));
  }
  auto mb = open_mailbox(name);
  if (!mb.ok()) return mb.take_error();
  const ListEntry& e = mb->first;
  MailboxInfo info;
  std::optional<SieveScript> active;
  auto read = read_opened(e, *mb->second, false, [&](Db& db, const MbState& m) -> Status {
    info = m.info;
    auto a = read_active_sieve(db, userid);
    if (!a.ok()) return a.take_error();
    active = std::move(*a);
    return {};
  });
  if (!read.ok()) return read.take_error();
  if (!*read) info = info_without_shard(e);
  return std::make_pair(std::move(info), std::move(active));
}

Result<std::shared_ptr<Shard>> StoreImpl::user_shard_for_write(const std::string& userid) {
  auto sname = user_shard_name(userid);
  if (!sname.ok()) return sname.take_error();
  uint64_t id = 0;
  CYR_TRY(list_write([&](Db& db) -> Status {
    auto sid = shard_id_for(db, *sname, true);
    if (!sid.ok()) return sid.take_error();
    id = *sid;
    return {};
  }));
  return shard(id);
}

Status StoreImpl::put_sieve_script(const std::string& userid, const std::string& name, const std::string& content,
                                   WriteMode mode, int64_t last_update, int64_t max_scripts) {
  CYR_TRY(check_writable(mode));
  CYR_TRY(validate_sieve_script_name(name));
  if (content.size() > kMaxSieveScriptBytes) return Error(Errc::TooBig, "Script too large");
  auto sh = user_shard_for_write(userid);
  if (!sh.ok()) return sh.take_error();
  if (last_update <= 0) last_update = static_cast<int64_t>(::time(nullptr));
  return shard_write(*sh, mode, [&](ShardTxn& tx) -> Status {
    if (max_scripts >= 0) {
      auto q = tx.db->cached(
          "SELECT count(*), coalesce(sum(name=?2), 0) FROM sieve_script WHERE userid=?1");
      if (!q.ok()) return q.take_error();
      (*q)->bind(1, userid).bind(2, name);
      auto r = (*q)->step();
      int64_t count = r.ok() && *r ? (*q)->i64(0) : 0, same = r.ok() && *r ? (*q)->i64(1) : 0;
      (*q)->reset();
      if (!r.ok()) return r.take_error();
      if (same == 0 && count >= max_scripts)
        return Error(Errc::Limit, "You may keep at most " + std::to_string(max_scripts) + " scripts");
    }
    // An existing script keeps its active flag.
    auto st = tx.db->cached(
        "INSERT INTO sieve_script(userid, name, content, active, last_update) VALUES(?1,?2,?3,0,?4) "
        "ON CONFLICT(userid, name) DO UPDATE SET content=excluded.content, last_update=excluded.last_update");
    if (!st.ok()) return st.take_error();
    (*st)->bind(1, userid).bind(2, name).bind_blob(3, content).bind(4, last_update);
    CYR_TRY((*st)->run());
    return tx.log_change(ChangeKind::Sieve, userid);
  });
}

Status StoreImpl::delete_sieve_script(const std::string& userid, const std::string& name, WriteMode mode) {
  CYR_TRY(check_writable(mode));
  CYR_TRY(validate_sieve_script_name(name));
  auto sh = user_shard_for_write(userid);
  if (!sh.ok()) return sh.take_error();
  return shard_write(*sh, mode, [&](ShardTxn& tx) -> Status {
    auto q = tx.db->cached("SELECT active FROM sieve_script WHERE userid=? AND name=?");
    if (!q.ok()) return q.take_error();
    (*q)->bind(1, userid).bind(2, name);
    auto r = (*q)->step();
    bool found = r.ok() && *r, active = found && (*q)->i64(0) != 0;
    (*q)->reset();
    if (!r.ok()) return r.take_error();
    if (!found) return Error(Errc::NotFound, "There is no script by that name");
    // Replication deletes what the primary deleted, active or not (Cyrus's
    // UNSIEVE deactivates first); a client must deactivate first (RFC 5804 2.10).
    if (active && mode != WriteMode::Replication) return Error(Errc::InUse, "The script is active");
    auto st = tx.db->cached("DELETE FROM sieve_script WHERE userid=? AND name=?");
    if (!st.ok()) return st.take_error();
    (*st)->bind(1, userid).bind(2, name);
    CYR_TRY((*st)->run());
    return tx.log_change(ChangeKind::Sieve, userid);
  });
}

Status StoreImpl::rename_sieve_script(const std::string& userid, const std::string& from, const std::string& to,
                                      WriteMode mode) {
  CYR_TRY(check_writable(mode));
  CYR_TRY(validate_sieve_script_name(from));
  CYR_TRY(validate_sieve_script_name(to));
  auto sh = user_shard_for_write(userid);
  if (!sh.ok()) return sh.take_error();
  return shard_write(*sh, mode, [&](ShardTxn& tx) -> Status {
    auto exists = [&](const std::string& n) -> Result<bool> {
      auto q = tx.db->cached("SELECT 1 FROM sieve_script WHERE userid=? AND name=?");
      if (!q.ok()) return q.take_error();
      (*q)->bind(1, userid).bind(2, n);
      auto r = (*q)->step();
      (*q)->reset();
      return r;
    };
    auto have_from = exists(from);
    if (!have_from.ok()) return have_from.take_error();
    if (!*have_from) return Error(Errc::NotFound, "There is no script by that name");
    if (from == to) return {};
    auto have_to = exists(to);
    if (!have_to.ok()) return have_to.take_error();
    if (*have_to) return Error(Errc::Exists, "A script with that name already exists");
    auto st = tx.db->cached("UPDATE sieve_script SET name=?3, last_update=?4 WHERE userid=?1 AND name=?2");
    if (!st.ok()) return st.take_error();
    (*st)->bind(1, userid).bind(2, from).bind(3, to).bind(4, static_cast<int64_t>(::time(nullptr)));
    CYR_TRY((*st)->run());
    return tx.log_change(ChangeKind::Sieve, userid);
  });
}

Status StoreImpl::activate_sieve_script(const std::string& userid, const std::string& name, WriteMode mode) {
  CYR_TRY(check_writable(mode));
  if (!name.empty()) CYR_TRY(validate_sieve_script_name(name));
  auto sh = user_shard_for_write(userid);
  if (!sh.ok()) return sh.take_error();
  return shard_write(*sh, mode, [&](ShardTxn& tx) -> Status {
    if (!name.empty()) {
      auto q = tx.db->cached("SELECT 1 FROM sieve_script WHERE userid=? AND name=?");
      if (!q.ok()) return q.take_error();
      (*q)->bind(1, userid).bind(2, name);
      auto r = (*q)->step();
      (*q)->reset();
      if (!r.ok()) return r.take_error();
      if (!*r) return Error(Errc::NotFound, "There is no script by that name");
    }
    // One statement, so at most one row is ever active.
    auto st = tx.db->cached("UPDATE sieve_script SET active=(name=?2) WHERE userid=?1 AND active<>(name=?2)");
    if (!st.ok()) return st.take_error();
    (*st)->bind(1, userid).bind(2, name);
    CYR_TRY((*st)->run());
    return tx.log_change(ChangeKind::Sieve, userid);
  });
}

Result<std::vector<Annotation>> StoreImpl::annotations(const std::string& mailbox) {
  std::vector<Annotation> out;
  if (mailbox.empty()) {
    auto db = list_readers_->get();
    if (!db.ok()) return db.take_error();
    auto st = (*db)->prepare("SELECT entry, userid, value, modseq FROM annotation ORDER BY entry, userid");
    if (!st.ok()) return st.take_error();
    for (;;) {
      auto r = st->step();
      if (!r.ok()) return r.take_error();
      if (!*r) break;
      out.push_back(Annotation{"", st->text(0), st->text(1), st->text(2), static_cast<ModSeq>(st->i64(3))});
    }
    return out;
  }
  CYR_TRY(read_mailbox(mailbox, [&](Db& db, const MbState& m) -> Status {
    return read_annotations(db, m, mailbox, out);
  }));
  return out;
}

Status StoreImpl::read_annotations(Db& db, const MbState& m, const std::string& mailbox,
                                   std::vector<Annotation>& out) {
  auto cst = db.cached("SELECT entry, userid, value, modseq FROM annotation WHERE mbid=? ORDER BY entry, userid");
  if (!cst.ok()) return cst.take_error();
  Stmt* st = *cst;
  ResetOnExit reset(st);
  st->bind(1, m.mbid);
  for (;;) {
    auto r = st->step();
    if (!r.ok()) return r.take_error();
    if (!*r) return {};
    out.push_back(Annotation{mailbox, st->text(0), st->text(1), st->text(2), static_cast<ModSeq>(st->i64(3))});
  }
}

Status StoreImpl::set_annotation(const Annotation& a, WriteMode mode) {
  CYR_TRY(check_writable(mode));
  if (a.entry.empty() || a.entry.size() > 1024 || a.entry[0] != '/')
    return Error(Errc::Invalid, "Invalid annotation entry", a.entry.substr(0, 60));
  if (a.value.size() > kMaxAnnotationValue) return Error(Errc::TooBig, "Annotation value too large");
  if (a.userid.size() > 256) return Error(Errc::Invalid, "Invalid user id");
  if (a.mailbox.empty()) {
    return list_write([&](Db& db) -> Status {
      auto st = db.cached(a.value.empty() ? "DELETE FROM annotation WHERE entry=?1 AND userid=?2"
                                          : "INSERT OR REPLACE INTO annotation(entry, userid, value, modseq) VALUES(?1,?2,?3,?4)");
      if (!st.ok()) return st.take_error();
      (*st)->bind(1, a.entry).bind(2, a.userid);
      if (!a.value.empty()) (*st)->bind(3, a.value).bind(4, int64_t(a.modseq));
      CYR_TRY((*st)->run());
      if (log_writes(mode)) CYR_TRY(list_log_change(db, ChangeKind::Annotation, ""));
      return {};
    });
  }
  auto mb = open_mailbox(a.mailbox);
  if (!mb.ok()) return mb.take_error();
  auto& [entry, sh] = *mb;
  return shard_write(sh, mode, [&](ShardTxn& tx) -> Status {
    auto m = tx.load(entry);
    if (!m.ok()) return m.take_error();
    ModSeq modseq = mode == WriteMode::Replication && a.modseq ? a.modseq : ++m->info.highestmodseq;
    auto st = tx.db->cached(a.value.empty() ? "DELETE FROM annotation WHERE mbid=?1 AND entry=?2 AND userid=?3"
                                            : "INSERT OR REPLACE INTO annotation(mbid, entry, userid, value, modseq) VALUES(?1,?2,?3,?4,?5)");
    if (!st.ok()) return st.take_error();
    (*st)->bind(1, m->mbid).bind(2, a.entry).bind(3, a.userid);
    if (!a.value.empty()) (*st)->bind(4, a.value).bind(5, int64_t(modseq));
    CYR_TRY((*st)->run());
    m->info.highestmodseq = std::max(m->info.highestmodseq, modseq);
    CYR_TRY(tx.save(*m));
    CYR_TRY(tx.log_change(ChangeKind::Annotation, entry.name));
    tx.event(*m, kChangedMailbox);
    return {};
  });
}

// ---------------------------------------------------------------------------
// Watchers

WatchId StoreImpl::watch(const std::string& uniqueid, MailboxWatcher cb) {
  std::lock_guard lk(watch_mu_);
  WatchId id = next_watch_++;
  watchers_[uniqueid].emplace_back(id, std::move(cb));
  watch_index_[id] = uniqueid;
  return id;
}

void StoreImpl::unwatch(WatchId id) {
  std::lock_guard lk(watch_mu_);
  auto it = watch_index_.find(id);
  if (it == watch_index_.end()) return;
  auto w = watchers_.find(it->second);
  if (w != watchers_.end()) {
    auto& v = w->second;
    v.erase(std::remove_if(v.begin(), v.end(), [&](auto& p) { return p.first == id; }), v.end());
    if (v.empty()) watchers_.erase(w);
  }
  watch_index_.erase(it);
}

// ---------------------------------------------------------------------------
// store/layout.h: the same definitions, for the repair tools.

namespace layout {

fs::path shard_db_path(const fs::path& configdirectory, uint64_t shard_id) {
  char sub[8];
  std::snprintf(sub, sizeof sub, "%02x", static_cast<unsigned>(shard_id & 0xff));
  return configdirectory / "shards" / sub / (std::to_string(shard_id) + ".db");
}

fs::path list_db_path(const fs::path& configdirectory) { return configdirectory / "mailboxes.db"; }

const char* list_schema() { return kListSchema; }
const char* shard_schema() { return kShardSchema; }

Result<std::vector<RecordRow>> read_record_rows(Db& db, int64_t mbid) {
  auto st = db.prepare("SELECT " RECORD_COLS " FROM record WHERE mbid=? ORDER BY uid");
  if (!st.ok()) return st.take_error();
  st->bind(1, mbid);
  std::vector<RecordRow> out;
  for (;;) {
    auto r = st->step();
    if (!r.ok()) return r.take_error();
    if (!*r) break;
    RecordRow row;
    row.record = row_to_record(*st, &row.checksum_ok);
    out.push_back(std::move(row));
  }
  return out;
}

Status ensure_sync_crc_columns(Db& db) {
  auto have = has_sync_crc_columns(db);
  if (!have.ok()) return have.take_error();
  if (*have) return {};
  // Added empty (NULL, "not known"): read_state() computes a mailbox's pair
  // from its records until a write stores it.
  return db.exec(
      "ALTER TABLE mailbox ADD COLUMN sync_crc INTEGER;"
      "ALTER TABLE mailbox ADD COLUMN sync_crc_annot INTEGER;"
      "ALTER TABLE mailbox ADD COLUMN sync_crc_modseq INTEGER");
}

Status ensure_structure_id_column(Db& db) {
  auto have = has_structure_id_column(db);
  if (!have.ok()) return have.take_error();
  if (*have) return {};
  // NULL in every existing row: their structures stay in `structure`; and
  // no mailbox has records above an unsynced mark (an older version's are
  // rows of unsynced_file, still checked).
  auto sid = has_column(db, "record", "structure_id");
  if (!sid.ok()) return sid.take_error();
  if (!*sid) CYR_TRY(db.exec("ALTER TABLE record ADD COLUMN structure_id INTEGER"));
  auto mark = has_column(db, "mailbox", "unsynced_uid");
  if (!mark.ok()) return mark.take_error();
  if (!*mark) CYR_TRY(db.exec("ALTER TABLE mailbox ADD COLUMN unsynced_uid INTEGER"));
  return {};
}

Status write_record(Db& db, int64_t mbid, const MessageRecord& r, const std::string* structure) {
  return write_record_row(db, mbid, r, structure);
}

Result<std::set<Uid>> structure_uids(Db& db, int64_t mbid) {
  auto st = db.prepare(
      "SELECT r.uid FROM record r JOIN structure_blob s ON s.id = r.structure_id WHERE r.mbid=?1"
      " UNION SELECT uid FROM structure WHERE mbid=?1");
  if (!st.ok()) return st.take_error();
  st->bind(1, mbid);
  std::set<Uid> out;
  for (;;) {
    auto r = st->step();
    if (!r.ok()) return r.take_error();
    if (!*r) break;
    out.insert(static_cast<Uid>(st->i64(0)));
  }
  return out;
}

Status delete_record(Db& db, int64_t mbid, Uid uid) { return delete_record_rows(db, mbid, uid); }

Status log_changes(const fs::path& configdirectory, Db& db, uint64_t shard_id,
                   const std::vector<std::pair<ChangeKind, std::string>>& changes) {
  std::vector<LoggedChange> full;
  full.reserve(changes.size());
  for (auto& [kind, arg] : changes) full.push_back({kind, arg, ""});
  return log_change_records(configdirectory, db, shard_id, full);
}

// Whether the node keeps a replication log, as its primary process recorded
// at its last start (absent: yes).
Result<bool> logs_changes(Db& list) {
  auto q = list.prepare("SELECT value FROM node WHERE key='log_changes'");
  if (!q.ok()) return q.take_error();
  auto row = q->step();
  if (!row.ok()) return row.take_error();
  return !*row || q->i64(0) != 0;
}

Status log_change_records(const fs::path& configdirectory, Db& db, uint64_t shard_id,
                          const std::vector<LoggedChange>& changes) {
  if (changes.empty()) return {};
  // Without sync_log (and no failover peer) the node keeps no log: the
  // store writes none, so neither do the tools.
  std::unique_ptr<Db> list;
  if (shard_id != 0) {
    auto l = Db::open(list_db_path(configdirectory).string(), false);
    if (!l.ok()) return l.take_error();
    list = std::move(*l);
  }
  auto keeps = logs_changes(shard_id == 0 ? db : *list);
  if (!keeps.ok()) return keeps.take_error();
  if (!*keeps) return {};
  Spool spool({}, {}, 0);
  auto first = reserve_seq_block(configdirectory, spool, 1, changes.size());
  if (!first.ok()) return first.take_error();
  auto st = db.prepare("INSERT INTO change(seq, kind, arg1, arg2) VALUES(?,?,?,?)");
  if (!st.ok()) return st.take_error();
  uint64_t seq = *first;
  for (auto& c : changes) {
    st->bind(1, static_cast<int64_t>(seq++)).bind(2, static_cast<int64_t>(c.kind)).bind(3, c.arg1).bind(4, c.arg2);
    CYR_TRY(st->run());
    st->reset();
  }
  if (shard_id == 0) return {};
  // The marker commits before the caller's shard transaction, as the
  // store's own writers do (run_batch): a reader of the log that sees the
  // records also sees the marker. An acknowledger removes markers only
  // under this shard's write lock, which the caller holds.
  auto ins = list->prepare("INSERT OR IGNORE INTO pending_shard(shard_id) VALUES(?)");
  if (!ins.ok()) return ins.take_error();
  ins->bind(1, static_cast<int64_t>(shard_id));
  return ins->run();
}

}  // namespace layout

}  // namespace cyr::store
