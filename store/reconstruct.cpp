// See reconstruct.h. The layout (paths, schemas, record encoding) is
// store/layout.h's; quota usage is recomputed by quota_recompute's function
// in the same transaction as the index change.
#include "store/reconstruct.h"

#include <dirent.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <map>
#include <optional>

#include "store/db_files.h"
#include "store/layout.h"
#include "store/mail/mboxname.h"
#include "store/notify.h"
#include "store/quota_recompute.h"
#include "store/spool.h"
#include "store/sqlite_db.h"
#include "store/sync_crc.h"
#include "store/tool_changes.h"

namespace cyr::store {
namespace fs = std::filesystem;
using sql::Db;
using sql::Stmt;

// Declares `var` as a reference to the value of a Result, or returns its error.
#define RC_TRY_ASSIGN(var, expr)                            \
  auto var##_result = (expr);                               \
  if (!var##_result.ok()) return var##_result.take_error(); \
  auto& var = *var##_result

RepairOptions RepairOptions::from(const StoreOptions& o) {
  RepairOptions r;
  r.configdirectory = o.configdirectory;
  r.partitions = o.partitions;
  r.max_message_size = o.max_message_size;
  r.defaultacl = o.defaultacl;
  r.owner_rights = o.owner_rights;
  return r;
}

namespace {

// The tables of each database, for copying what is readable out of a
// damaged file (order does not matter: no foreign keys).
constexpr const char* kShardTables[] = {"meta", "mailbox", "record", "structure", "seen",
                                        "subscription", "quota", "annotation", "change"};

struct ListRow {
  std::string name, uniqueid, partition, acl;
  uint64_t shard_id = 0;
  uint32_t uidvalidity = 0;
  int64_t mbtype = 0;
};

Error io_error(const std::string& what, const fs::path& p, int err) {
  return Error(Errc::Io, "Mailbox store I/O error", what + " " + p.string() + ": " + std::strerror(err));
}

Result<std::unique_ptr<Db>> open_list(const fs::path& configdirectory) {
  fs::path p = layout::list_db_path(configdirectory);
  std::error_code ec;
  if (!fs::exists(p, ec))
    return Error(Errc::NotFound, "No mailbox list", p.string() + " does not exist (cyr_reconstruct -m rebuilds it)");
  return Db::open(p.string(), false);
}

ListRow read_list_row(Stmt& s) {
  ListRow r;
  r.name = s.text(0);
  r.uniqueid = s.text(1);
  r.shard_id = static_cast<uint64_t>(s.i64(2));
  r.partition = s.text(3);
  r.acl = s.text(4);
  r.uidvalidity = static_cast<uint32_t>(s.i64(5));
  r.mbtype = s.i64(6);
  return r;
}

constexpr const char* kListCols = "name, uniqueid, shard_id, partition, acl, uidvalidity, mbtype";

Result<std::optional<ListRow>> list_row(Db& db, const std::string& name) {
  RC_TRY_ASSIGN(st, db.prepare(std::string("SELECT ") + kListCols + " FROM mailbox WHERE name=?"));
  st.bind(1, name);
  RC_TRY_ASSIGN(row, st.step());
  if (!row) return std::optional<ListRow>();
  return std::optional<ListRow>(read_list_row(st));
}

// Copies every readable row of `table` from src to dst (same schema),
// stopping at the first unreadable row. Returns how many rows were copied.
size_t copy_rows(sqlite3* src, sqlite3* dst, const char* table) {
  std::string q = std::string("SELECT * FROM ") + table;
  sqlite3_stmt* s = nullptr;
  if (sqlite3_prepare_v2(src, q.c_str(), -1, &s, nullptr) != SQLITE_OK) {
    sqlite3_finalize(s);
    return 0;
  }
  int ncol = sqlite3_column_count(s);
  std::string ins = std::string("INSERT OR IGNORE INTO ") + table + " VALUES(";
  for (int i = 0; i < ncol; ++i) ins += i ? ",?" : "?";
  ins += ")";
  sqlite3_stmt* d = nullptr;
  size_t n = 0;
  if (sqlite3_prepare_v2(dst, ins.c_str(), -1, &d, nullptr) == SQLITE_OK) {
    while (sqlite3_step(s) == SQLITE_ROW) {
      for (int i = 0; i < ncol; ++i) sqlite3_bind_value(d, i + 1, sqlite3_column_value(s, i));
      if (sqlite3_step(d) == SQLITE_DONE) ++n;
      sqlite3_reset(d);
      sqlite3_clear_bindings(d);
    }
  }
  sqlite3_finalize(d);
  sqlite3_finalize(s);
  return n;
}

// "ok" from PRAGMA quick_check and the tables we need: the file is usable.
Status check_db(Db& db, const char* must_have_table) {
  RC_TRY_ASSIGN(st, db.prepare("PRAGMA quick_check"));
  RC_TRY_ASSIGN(row, st.step());
  if (!row || st.text(0) != "ok")
    return Error(Errc::Corrupted, "Database is damaged", row ? st.text(0) : "no quick_check result");
  RC_TRY_ASSIGN(t, db.prepare("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?"));
  t.bind(1, std::string_view(must_have_table));
  RC_TRY_ASSIGN(has, t.step());
  if (!has) return Error(Errc::Corrupted, "Database is damaged", std::string("no table ") + must_have_table);
  return {};
}

// A message file: its UID from the name "<uid>." (0 = not a valid UID).
struct FileFact {
  std::string name;
  Uid uid = 0;
  uint64_t size = 0;
  int64_t mtime = 0;
};

// What parsing a message file gives.
struct Parsed {
  mail::MessageGuid guid;
  uint64_t size = 0;
  std::string structure;
};

// Name "<digits>." -> 1 (valid uid in `uid`), 0 (digits but not a usable
// UID: 0 or too large), -1 (not a message file name).
int classify_name(std::string_view n, Uid& uid) {
  if (n.size() < 2 || n.back() != '.') return -1;
  uint64_t v = 0;
  for (char c : n.substr(0, n.size() - 1)) {
    if (c < '0' || c > '9') return -1;
    if (v <= UINT32_MAX) v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  if (v == 0 || v > UINT32_MAX) return 0;
  uid = static_cast<Uid>(v);
  return 1;
}

struct DirScan {
  std::map<Uid, FileFact> by_uid;
  std::vector<FileFact> invalid;   // "<digits>." with an unusable UID
  std::vector<std::string> other;  // not message files
};

DirScan scan_dir(const fs::path& dir) {
  DirScan out;
  DIR* d = ::opendir(dir.c_str());
  if (!d) return out;
  while (struct dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n == "." || n == "..") continue;
    struct stat st;
    if (::lstat((dir / n).c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
      out.other.push_back(n);
      continue;
    }
    FileFact f{n, 0, static_cast<uint64_t>(st.st_size), static_cast<int64_t>(st.st_mtime)};
    int k = classify_name(n, f.uid);
    if (k == 1) out.by_uid[f.uid] = f;
    else if (k == 0) out.invalid.push_back(f);
    else out.other.push_back(n);
  }
  ::closedir(d);
  std::sort(out.invalid.begin(), out.invalid.end(), [](auto& a, auto& b) { return a.name < b.name; });
  return out;
}

Result<Parsed> parse_file(const fs::path& p, size_t max) {
  int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return io_error("open", p, errno);
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    int err = errno;
    ::close(fd);
    return io_error("fstat", p, err);
  }
  if (static_cast<uint64_t>(st.st_size) > max) {
    ::close(fd);
    return Error(Errc::TooBig, "Message file too large to index",
                 p.string() + ": " + std::to_string(st.st_size) + " bytes, limit " + std::to_string(max));
  }
  std::string bytes(static_cast<size_t>(st.st_size), '\0');
  size_t got = 0;
  while (got < bytes.size()) {
    ssize_t n = ::pread(fd, bytes.data() + got, bytes.size() - got, static_cast<off_t>(got));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int err = n < 0 ? errno : EIO;
      ::close(fd);
      return io_error("read", p, err);
    }
    got += static_cast<size_t>(n);
  }
  ::close(fd);
  Parsed out;
  out.guid = mail::MessageGuid::of(bytes);
  out.size = bytes.size();
  out.structure = parse_structure_blob(bytes);
  return out;
}

// The shard's mailbox row as reconstruct needs it.
struct MbRow {
  int64_t mbid = 0;
  std::string name, partition;
  uint32_t uidvalidity = 0;
  Uid last_uid = 0;
  ModSeq highestmodseq = 1;
  uint32_t exists = 0;
  uint64_t total_size = 0;
};

Result<std::optional<MbRow>> mailbox_row(Db& db, const std::string& uniqueid) {
  RC_TRY_ASSIGN(st, db.prepare(
      "SELECT mbid, name, partition, uidvalidity, last_uid, highestmodseq, exists_count, total_size"
      " FROM mailbox WHERE uniqueid=?"));
  st.bind(1, uniqueid);
  RC_TRY_ASSIGN(row, st.step());
  if (!row) return std::optional<MbRow>();
  MbRow m;
  m.mbid = st.i64(0);
  m.name = st.text(1);
  m.partition = st.text(2);
  m.uidvalidity = static_cast<uint32_t>(st.i64(3));
  m.last_uid = static_cast<Uid>(st.i64(4));
  m.highestmodseq = static_cast<ModSeq>(st.i64(5));
  m.exists = static_cast<uint32_t>(st.i64(6));
  m.total_size = static_cast<uint64_t>(st.i64(7));
  return std::optional<MbRow>(m);
}

// Rolls back unless committed.
struct TxnGuard {
  Db& db;
  bool open = true;
  ~TxnGuard() {
    if (open) (void)db.exec("ROLLBACK");
  }
  Status commit() {
    open = false;
    return db.exec("COMMIT");
  }
};

std::string default_acl(const RepairOptions& o, const std::string& name) {
  auto owner = mail::mboxname_owner(name);
  if (owner) return *owner + "\t" + o.owner_rights + "\t";
  return o.defaultacl;
}

}  // namespace

// ---------------------------------------------------------------------------
// The list

Result<std::vector<std::string>> Repairer::listed(const std::string& top, bool recursive,
                                                  const std::string& partition) {
  RC_TRY_ASSIGN(db, open_list(opts_.configdirectory));
  RC_TRY_ASSIGN(st, db->prepare("SELECT name, partition FROM mailbox ORDER BY name"));
  std::vector<std::string> out;
  for (;;) {
    RC_TRY_ASSIGN(row, st.step());
    if (!row) break;
    std::string n = st.text(0);
    if (!partition.empty() && st.text(1) != partition) continue;
    if (top.empty() || n == top || (recursive && mail::mboxname_is_same_or_below(n, top)))
      out.push_back(std::move(n));
  }
  return out;
}

Result<std::vector<std::string>> Repairer::mailboxes_of_shard(uint64_t shard_id) {
  RC_TRY_ASSIGN(db, open_list(opts_.configdirectory));
  RC_TRY_ASSIGN(st, db->prepare("SELECT name FROM mailbox WHERE shard_id=? ORDER BY name"));
  st.bind(1, static_cast<int64_t>(shard_id));
  std::vector<std::string> out;
  for (;;) {
    RC_TRY_ASSIGN(row, st.step());
    if (!row) break;
    out.push_back(st.text(0));
  }
  return out;
}

// ---------------------------------------------------------------------------
// Reconstructing one mailbox

Result<MailboxRepair> Repairer::reconstruct(const std::string& mailbox) {
  MailboxRepair rep;
  rep.mailbox = mailbox;
  const std::string& mb = mailbox;
  const char* would = opts_.dry_run ? "would be " : "";

  ListRow lr;
  {
    RC_TRY_ASSIGN(ldb, open_list(opts_.configdirectory));
    RC_TRY_ASSIGN(r, list_row(*ldb, mailbox));
    if (!r) return Error(Errc::NotFound, "Mailbox does not exist", mailbox);
    lr = *r;
  }
  rep.shard_id = lr.shard_id;
  Spool spool(opts_.partitions, {}, opts_.max_message_size);
  RC_TRY_ASSIGN(dir, spool.mailbox_dir(lr.partition, lr.uniqueid));

  // 1. The shard database: usable, or recreated with what is readable.
  fs::path sp = layout::shard_db_path(opts_.configdirectory, lr.shard_id);
  std::unique_ptr<Db> sdb;
  if (healthy_shards_.count(lr.shard_id)) {
    RC_TRY_ASSIGN(d, Db::open(sp.string(), false));
    sdb = std::move(d);
  } else {
    std::error_code ec;
    bool exists = fs::exists(sp, ec);
    std::string problem;
    if (exists) {
      auto d = Db::open(sp.string(), false);
      if (d.ok()) {
        Status h = check_db(**d, "record");
        if (h.ok()) sdb = std::move(*d);
        else problem = h.error().describe();
      } else {
        problem = d.error().describe();
      }
    } else {
      // A shard is created at its owner's first write: no file and no
      // message files is a mailbox never written to, not damage.
      DirScan none = scan_dir(dir);
      if (none.by_uid.empty() && none.invalid.empty()) return rep;
      problem = "its database file " + sp.string() + " is missing";
    }
    if (!sdb) {
      rep.shard_replaced = true;
      note_(mb + ": shard database " + std::to_string(lr.shard_id) + " unusable (" + problem + "); " +
            would + "recreated from what is readable, every mailbox of the shard needs reconstructing");
      if (opts_.node_running && !opts_.dry_run)
        return Error(Errc::InUse, "Stop the node (cyr_master) first: the shard database must be replaced",
                     sp.string() + ": " + problem);
      std::string target = opts_.dry_run ? std::string(":memory:") : sp.string() + ".rebuild";
      if (!opts_.dry_run) {
        fs::create_directories(sp.parent_path(), ec);
        for (const char* suffix : {"", "-wal", "-shm"}) fs::remove(target + suffix, ec);
      }
      RC_TRY_ASSIGN(fresh, Db::open(target, true));
      CYR_TRY(fresh->exec(layout::shard_schema()));
      if (exists) {
        sqlite3* old = nullptr;
        if (sqlite3_open_v2(sp.c_str(), &old, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
          size_t total = 0;
          for (const char* t : kShardTables) total += copy_rows(old, fresh->raw(), t);
          note_(mb + ": " + std::to_string(total) + " rows readable in the damaged shard database " +
                (opts_.dry_run ? "would be kept" : "kept"));
        }
        sqlite3_close_v2(old);
      }
      if (opts_.dry_run) {
        sdb = std::move(fresh);
      } else {
        CYR_TRY(fresh->exec("PRAGMA wal_checkpoint(TRUNCATE)"));
        fresh.reset();
        if (exists) {
          RC_TRY_ASSIGN(aside, move_database_aside(sp, "damaged"));
          note_(mb + ": damaged shard database saved as " + aside.string());
        }
        if (::rename(target.c_str(), sp.c_str()) != 0) return io_error("rename", target, errno);
        CYR_TRY(fsync_path(sp.parent_path()));
        RC_TRY_ASSIGN(d, Db::open(sp.string(), false));
        sdb = std::move(d);
      }
    }
    // A dry run's replacement lives in memory: the next mailbox of the
    // shard must look at the file again.
    if (!(opts_.dry_run && rep.shard_replaced)) healthy_shards_.insert(lr.shard_id);
  }
  Db& db = *sdb;

  // 2. The files, and (outside the write lock) the parsing they need, decided
  // on a snapshot of the records. Re-checked under the lock below.
  DirScan files = scan_dir(dir);
  for (auto& n : files.other) note_(mb + ": ignored " + (dir / n).string() + " (not a message file)");
  std::map<Uid, layout::RecordRow> snapshot;
  {
    CYR_TRY(db.exec("BEGIN"));
    TxnGuard g{db};
    RC_TRY_ASSIGN(row, mailbox_row(db, lr.uniqueid));
    if (row) {
      RC_TRY_ASSIGN(recs, layout::read_record_rows(db, row->mbid));
      for (auto& r : recs) snapshot[r.record.uid] = r;
    }
  }
  std::map<std::string, Result<Parsed>> parsed;  // by file name
  auto parse = [&](const std::string& name) -> const Result<Parsed>& {
    auto it = parsed.find(name);
    if (it == parsed.end()) it = parsed.emplace(name, parse_file(dir / name, opts_.max_message_size)).first;
    return it->second;
  };
  for (auto& [uid, f] : files.by_uid) {
    auto it = snapshot.find(uid);
    bool known = it != snapshot.end() && it->second.checksum_ok;
    if (!known || opts_.rehash || it->second.record.size != f.size) (void)parse(f.name);
  }
  for (auto& f : files.invalid) (void)parse(f.name);

  // 3. Under the shard's write lock: merge the index with the files.
  CYR_TRY(db.exec("BEGIN IMMEDIATE"));
  TxnGuard txn{db};
  CYR_TRY(layout::ensure_sync_crc_columns(db));  // a shard from before SYNC_CRC was stored
  CYR_TRY(layout::ensure_structure_id_column(db));  // or before structure_blob
  int64_t now = static_cast<int64_t>(::time(nullptr));
  RC_TRY_ASSIGN(existing, mailbox_row(db, lr.uniqueid));
  MbRow m;
  if (existing) {
    m = *existing;
  } else if (files.by_uid.empty() && files.invalid.empty()) {
    // The shard exists (made at CREATE, or by another mailbox of the
    // owner) but this mailbox was never written to: its row is made at its
    // first write, so no row and no files is not damage either.
    return rep;
  } else {
    rep.index_created = true;
    note_(mb + ": no index state; " + would + "rebuilt from " + std::to_string(files.by_uid.size() + files.invalid.size()) +
          " message files");
    RC_TRY_ASSIGN(ins, db.prepare(
        "INSERT INTO mailbox(uniqueid, name, partition, uidvalidity, last_uid, highestmodseq,"
        " recentuid, recenttime, last_appenddate, pop3_last_login, pop3_show_after,"
        " createdmodseq, foldermodseq, options, quota_mbid, exists_count, total_size)"
        " VALUES(?,?,?,?,0,1,0,0,0,0,0,1,1,0,0,0,0)"));
    ins.bind(1, lr.uniqueid).bind(2, lr.name).bind(3, lr.partition).bind(4, int64_t(lr.uidvalidity));
    CYR_TRY(ins.run());
    RC_TRY_ASSIGN(again, mailbox_row(db, lr.uniqueid));
    if (!again) return Error(Errc::Internal, "Mailbox row vanished", mb);
    m = *again;
  }
  const MbRow before = m;
  if (m.name != lr.name || m.partition != lr.partition || m.uidvalidity != lr.uidvalidity) {
    note_(mb + ": index names it " + m.name + " on " + m.partition + " (uidvalidity " +
          std::to_string(m.uidvalidity) + "); " + would + "set from the mailbox list");
    m.name = lr.name;
    m.partition = lr.partition;
    m.uidvalidity = lr.uidvalidity;
    ++rep.counters_fixed;
  }

  RC_TRY_ASSIGN(rows, layout::read_record_rows(db, m.mbid));
  RC_TRY_ASSIGN(have_structure, layout::structure_uids(db, m.mbid));
  ModSeq hms = m.highestmodseq;
  Uid last_uid = m.last_uid;
  for (auto& r : rows) {
    hms = std::max(hms, r.record.modseq);
    last_uid = std::max(last_uid, r.record.uid);
  }
  auto file_of = [&](Uid uid) -> std::optional<FileFact> {
    auto it = files.by_uid.find(uid);
    if (it != files.by_uid.end()) return it->second;
    // Appended by a running node after the scan: look now.
    struct stat st;
    std::string n = std::to_string(uid) + ".";
    if (::stat((dir / n).c_str(), &st) != 0) return std::nullopt;
    return FileFact{n, uid, static_cast<uint64_t>(st.st_size), static_cast<int64_t>(st.st_mtime)};
  };
  auto uid_str = [&](Uid u) { return mb + ": uid " + std::to_string(u) + ": "; };

  std::vector<std::pair<MessageRecord, const std::string*>> writes;
  std::vector<Uid> deletes;
  std::set<Uid> claimed;  // uids with a record (or a damaged one) whose file is theirs
  for (auto& row : rows) {
    MessageRecord rec = row.record;
    auto f = file_of(rec.uid);
    if (!row.checksum_ok) {
      ++rep.records_damaged;
      if (!f) {
        note_(uid_str(rec.uid) + "index record damaged and its file is missing; record " + would + "removed");
        deletes.push_back(rec.uid);
        continue;
      }
      claimed.insert(rec.uid);  // rebuilt below as a new record of the file, same uid
      continue;
    }
    claimed.insert(rec.uid);
    if (!f) {
      if (rec.expunged()) continue;  // expunged and purged from disk: normal
      note_(uid_str(rec.uid) + "message file missing; record " + would + "removed (expunged)");
      ++rep.files_missing;
      rec.flags.system |= kFlagExpunged;
      rec.modseq = ++hms;
      rec.last_updated = now;
      writes.emplace_back(rec, nullptr);
      continue;
    }
    if (rec.expunged()) continue;  // delayed expunge keeps the file
    bool need_parse = opts_.rehash || rec.size != f->size || !have_structure.count(rec.uid);
    if (!need_parse) {
      ++rep.records_kept;
      continue;
    }
    const auto& p = parse(f->name);
    if (!p.ok()) {
      note_(uid_str(rec.uid) + "cannot read its file: " + p.error().describe());
      ++rep.records_kept;
      continue;
    }
    bool fix = false;
    if (p->guid != rec.guid) {
      note_(uid_str(rec.uid) + "GUID mismatch: index " + rec.guid.to_hex() + ", file " + p->guid.to_hex() +
            "; record " + would + "fixed");
      fix = true;
    } else if (p->size != rec.size) {
      note_(uid_str(rec.uid) + "size " + std::to_string(rec.size) + " in the index, file has " +
            std::to_string(p->size) + "; record " + would + "fixed");
      fix = true;
    }
    if (fix) {
      ++rep.records_fixed;
      rec.guid = p->guid;
      rec.size = p->size;
      rec.modseq = ++hms;
      rec.last_updated = now;
      writes.emplace_back(rec, &p->structure);
    } else {
      ++rep.records_kept;
      if (!have_structure.count(rec.uid)) writes.emplace_back(rec, &p->structure);
    }
  }

  // Files with no usable record. Those whose own UID can be used keep it:
  // above last_uid, or a UID whose record was damaged. The others (UID taken
  // by an older message or not a valid UID) get new UIDs above everything.
  struct NewFile {
    FileFact f;
    bool renumber;
  };
  std::vector<NewFile> fresh;
  std::set<Uid> damaged_uids;
  for (auto& row : rows)
    if (!row.checksum_ok) damaged_uids.insert(row.record.uid);
  for (auto& [uid, f] : files.by_uid) {
    if (claimed.count(uid) && !damaged_uids.count(uid)) continue;
    bool own = damaged_uids.count(uid) || uid > m.last_uid;
    if (!own && claimed.count(uid)) continue;
    fresh.push_back({f, !own});
  }
  for (auto& f : files.invalid) fresh.push_back({f, true});
  for (auto& nf : fresh)
    if (!nf.renumber) last_uid = std::max(last_uid, nf.f.uid);
  std::vector<std::pair<fs::path, fs::path>> relinks;  // old name -> new name
  for (auto& nf : fresh) {
    const auto& p = parse(nf.f.name);
    if (!p.ok()) {
      note_(mb + ": " + nf.f.name + ": not indexed: " + p.error().describe() + " (file left in place)");
      continue;
    }
    MessageRecord rec;
    rec.uid = nf.renumber ? ++last_uid : nf.f.uid;
    rec.modseq = rec.createdmodseq = ++hms;
    rec.guid = p->guid;
    rec.size = p->size;
    rec.internaldate = nf.f.mtime;
    rec.savedate = now;
    rec.last_updated = now;
    if (damaged_uids.count(nf.f.uid) && !nf.renumber) {
      note_(uid_str(rec.uid) + "index record damaged; " + would + "rebuilt from its file (flags lost)");
    } else if (nf.renumber) {
      ++rep.files_renumbered;
      note_(mb + ": file " + nf.f.name + " has no record and its UID is " +
            (nf.f.uid ? "already used" : "invalid") + "; " + would + "added as uid " + std::to_string(rec.uid));
      relinks.emplace_back(dir / nf.f.name, dir / (std::to_string(rec.uid) + "."));
    } else {
      ++rep.files_added;
      note_(uid_str(rec.uid) + "message file not in the index; " + would + "added");
    }
    writes.emplace_back(rec, &p->structure);
  }

  // 4. Write: records, counters, quota; files linked under new UIDs first.
  for (Uid u : deletes) CYR_TRY(layout::delete_record(db, m.mbid, u));
  for (auto& [rec, structure] : writes) CYR_TRY(layout::write_record(db, m.mbid, rec, structure));
  uint32_t exists = 0;
  uint64_t total = 0;
  // SYNC_CRC is recomputed from the records as they now are, whatever the
  // stored pair said (a repair is where a wrong one gets fixed).
  crc::SyncCrcs crcs;
  {
    RC_TRY_ASSIGN(recs, layout::read_record_rows(db, m.mbid));
    for (auto& r : recs) {
      if (!r.record.expunged()) ++exists, total += r.record.size;
      crc::xor_into(crcs, crc::record_contribution(r.record));
    }
  }
  if (!rep.index_created && (before.exists != exists || before.total_size != total || before.last_uid != last_uid)) {
    note_(mb + ": counters exists " + std::to_string(before.exists) + "->" + std::to_string(exists) + ", size " +
          std::to_string(before.total_size) + "->" + std::to_string(total) + ", last_uid " +
          std::to_string(before.last_uid) + "->" + std::to_string(last_uid) + (opts_.dry_run ? " (dry run)" : ""));
    ++rep.counters_fixed;
  }
  if (hms != before.highestmodseq && writes.empty() && !rep.index_created) ++rep.counters_fixed;
  {
    RC_TRY_ASSIGN(up, db.prepare(
        "UPDATE mailbox SET name=?, partition=?, uidvalidity=?, last_uid=?, highestmodseq=?,"
        " exists_count=?, total_size=?, sync_crc=?, sync_crc_annot=?, sync_crc_modseq=? WHERE mbid=?"));
    up.bind(1, m.name).bind(2, m.partition).bind(3, int64_t(m.uidvalidity)).bind(4, int64_t(last_uid))
        .bind(5, int64_t(hms)).bind(6, int64_t(exists)).bind(7, int64_t(total)).bind(8, int64_t(crcs.basic))
        .bind(9, int64_t(crcs.annot)).bind(10, int64_t(hms)).bind(11, m.mbid);
    CYR_TRY(up.run());
  }
  std::vector<QuotaUsageFix> qfix;
  CYR_TRY(recompute_shard_quota(db, qfix));
  for (auto& q : qfix)
    note_(q.root + ": quota usage " + std::to_string(q.old_bytes) + " bytes/" + std::to_string(q.old_messages) +
          " messages, " + (opts_.dry_run ? "would be " : "now ") + std::to_string(q.new_bytes) + "/" +
          std::to_string(q.new_messages));
  rep.exists = exists;
  rep.last_uid = last_uid;
  rep.highestmodseq = hms;
  if (opts_.dry_run) return rep;  // the guard rolls back

  // The repair is a write like any other for the replica: recorded in the
  // change log in this transaction, or a rolling replica would keep the
  // old index (a message the primary now lacks, none of the added ones).
  std::vector<std::pair<ChangeKind, std::string>> changes;
  if (rep.changed()) changes.emplace_back(ChangeKind::Mailbox, lr.name);
  for (auto& q : qfix) changes.emplace_back(ChangeKind::Quota, q.root);
  CYR_TRY(layout::log_changes(opts_.configdirectory, db, lr.shard_id, changes));

  std::set<fs::path> touched;
  for (auto& [from, to] : relinks) {
    if (::link(from.c_str(), to.c_str()) != 0 && errno != EEXIST) return io_error("link", to, errno);
    touched.insert(to.parent_path());
  }
  for (auto& d : touched) CYR_TRY(fsync_path(d));
  CYR_TRY(txn.commit());
  // Committed: the new names are indexed; the old names go.
  for (auto& [from, to] : relinks) ::unlink(from.c_str());
  for (auto& d : touched) (void)fsync_path(d);
  // Sessions of a running master that have it selected look again.
  if (rep.changed())
    notify_primary(opts_.configdirectory,
                   {MailboxEvent{lr.uniqueid, lr.name, kChangedAppend | kChangedExpunge | kChangedFlags | kChangedMailbox,
                                 0, 0, 0}});
  return rep;
}

// ---------------------------------------------------------------------------
// Directories the list does not know

Result<std::vector<UnlistedDirectory>> Repairer::unlisted_directories(const std::string& partition) {
  std::set<std::string> listed_ids;
  {
    auto db = open_list(opts_.configdirectory);
    if (db.ok()) {
      RC_TRY_ASSIGN(st, (*db)->prepare("SELECT uniqueid FROM mailbox"));
      for (;;) {
        RC_TRY_ASSIGN(row, st.step());
        if (!row) break;
        listed_ids.insert(st.text(0));
      }
    }
  }
  std::vector<UnlistedDirectory> out;
  std::error_code ec;
  for (auto& [pname, root] : opts_.partitions) {
    if (!partition.empty() && pname != partition) continue;
    // {partition}/uuid/<u0>/<u1>/<uniqueid>
    for (auto& a : fs::directory_iterator(root / "uuid", ec)) {
      for (auto& b : fs::directory_iterator(a.path(), ec)) {
        for (auto& c : fs::directory_iterator(b.path(), ec)) {
          if (!c.is_directory(ec)) continue;
          std::string id = c.path().filename().string();
          if (listed_ids.count(id)) continue;
          UnlistedDirectory u;
          u.partition = pname;
          u.uniqueid = id;
          u.path = c.path();
          DirScan s = scan_dir(c.path());
          u.message_files = s.by_uid.size() + s.invalid.size();
          out.push_back(std::move(u));
        }
      }
    }
  }
  if (out.empty()) return out;
  // Which shard still knows them?
  std::map<std::string, size_t> by_id;
  for (size_t i = 0; i < out.size(); ++i) by_id[out[i].uniqueid] = i;
  for (auto& [id, path] : shard_database_files(opts_.configdirectory)) {
    auto db = Db::open(path.string(), false);
    if (!db.ok()) continue;
    auto st = (*db)->prepare("SELECT uniqueid, name, uidvalidity FROM mailbox");
    if (!st.ok()) continue;
    for (;;) {
      auto row = st->step();
      if (!row.ok() || !*row) break;
      auto it = by_id.find(st->text(0));
      if (it == by_id.end()) continue;
      auto& u = out[it->second];
      u.known_name = st->text(1);
      u.shard_id = id;
      u.uidvalidity = static_cast<uint32_t>(st->i64(2));
    }
  }
  return out;
}

Status Repairer::relist(const UnlistedDirectory& d) {
  if (d.known_name.empty()) return Error(Errc::NotFound, "No database knows this mailbox", d.path.string());
  if (opts_.dry_run) return {};
  RC_TRY_ASSIGN(db, open_list(opts_.configdirectory));
  CYR_TRY(db->exec("BEGIN IMMEDIATE"));
  TxnGuard g{*db};
  RC_TRY_ASSIGN(have, list_row(*db, d.known_name));
  if (have)
    return Error(Errc::Exists, "The name is listed with another unique id",
                 d.known_name + " is " + have->uniqueid + ", directory " + d.uniqueid);
  std::string owner_key = mail::mboxname_owner_key(d.known_name);
  RC_TRY_ASSIGN(sh, db->prepare("SELECT id FROM shard WHERE name=?"));
  sh.bind(1, owner_key);
  RC_TRY_ASSIGN(srow, sh.step());
  if (srow && static_cast<uint64_t>(sh.i64(0)) != d.shard_id)
    return Error(Errc::Exists, "The owner's shard is another database",
                 owner_key + " is shard " + std::to_string(sh.i64(0)) + ", directory's index is in shard " +
                     std::to_string(d.shard_id));
  if (!srow) {
    RC_TRY_ASSIGN(ins, db->prepare("INSERT INTO shard(id, name) VALUES(?,?)"));
    ins.bind(1, static_cast<int64_t>(d.shard_id)).bind(2, owner_key);
    CYR_TRY(ins.run());
  }
  RC_TRY_ASSIGN(ins, db->prepare("INSERT INTO mailbox(name, uniqueid, shard_id, partition, acl, uidvalidity, mbtype)"
                                 " VALUES(?,?,?,?,?,?,?)"));
  ins.bind(1, d.known_name).bind(2, d.uniqueid).bind(3, static_cast<int64_t>(d.shard_id)).bind(4, d.partition)
      .bind(5, default_acl(opts_, d.known_name)).bind(6, int64_t(d.uidvalidity))
      .bind(7, int64_t(mail::mboxname_owner(d.known_name) ? 0 : 1));
  CYR_TRY(ins.run());
  // Listed again: the replica gets the mailbox (and its ACL) as after a CREATE.
  CYR_TRY(layout::log_changes(opts_.configdirectory, *db, 0, {{ChangeKind::Mailbox, d.known_name}}));
  return g.commit();
}

// ---------------------------------------------------------------------------
// Rebuilding the mailbox list

Result<ListRebuild> Repairer::rebuild_list() {
  if (opts_.node_running && !opts_.dry_run)
    return Error(Errc::InUse, "Stop the node (cyr_master) first: the mailbox list is replaced",
                 layout::list_db_path(opts_.configdirectory).string());
  ListRebuild out;
  fs::path lp = layout::list_db_path(opts_.configdirectory);
  std::string target = opts_.dry_run ? std::string(":memory:") : lp.string() + ".rebuild";
  std::error_code ec;
  if (!opts_.dry_run)
    for (const char* suffix : {"", "-wal", "-shm"}) fs::remove(target + suffix, ec);
  RC_TRY_ASSIGN(ndb, Db::open(target, true));
  CYR_TRY(ndb->exec(layout::list_schema()));
  CYR_TRY(ndb->exec("BEGIN"));

  // 1. Whatever the old list still has.
  bool had_old = fs::exists(lp, ec);
  if (had_old) {
    sqlite3* old = nullptr;
    if (sqlite3_open_v2(lp.c_str(), &old, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
      out.from_old_list = copy_rows(old, ndb->raw(), "mailbox");
      copy_rows(old, ndb->raw(), "shard");
      out.node_state_kept = copy_rows(old, ndb->raw(), "node") > 0;
      for (const char* t : {"change", "intent", "annotation", "pending_shard"}) copy_rows(old, ndb->raw(), t);
    }
    sqlite3_close_v2(old);
    note_("old mailbox list: " + std::to_string(out.from_old_list) + " mailboxes readable");
  }
  std::set<std::string> names, ids;
  std::map<std::string, uint64_t> shard_by_key;
  std::set<uint64_t> shard_ids;
  {
    RC_TRY_ASSIGN(st, ndb->prepare("SELECT name, uniqueid FROM mailbox"));
    for (;;) {
      RC_TRY_ASSIGN(row, st.step());
      if (!row) break;
      names.insert(st.text(0));
      ids.insert(st.text(1));
    }
    RC_TRY_ASSIGN(sh, ndb->prepare("SELECT id, name FROM shard"));
    for (;;) {
      RC_TRY_ASSIGN(row, sh.step());
      if (!row) break;
      shard_by_key[sh.text(1)] = static_cast<uint64_t>(sh.i64(0));
      shard_ids.insert(static_cast<uint64_t>(sh.i64(0)));
    }
  }

  // 2. Every shard database: its mailboxes and whether it has change records.
  uint32_t max_uidvalidity = 0;
  std::vector<std::string> relisted;  // names the old list did not have
  {  // statements finish before the connection closes (which checkpoints the file)
  RC_TRY_ASSIGN(ins, ndb->prepare("INSERT INTO mailbox(name, uniqueid, shard_id, partition, acl, uidvalidity, mbtype)"
                                  " VALUES(?,?,?,?,?,?,?)"));
  RC_TRY_ASSIGN(ins_shard, ndb->prepare("INSERT OR IGNORE INTO shard(id, name) VALUES(?,?)"));
  RC_TRY_ASSIGN(ins_pending, ndb->prepare("INSERT OR IGNORE INTO pending_shard(shard_id) VALUES(?)"));
  for (auto& [id, path] : shard_database_files(opts_.configdirectory)) {
    auto db = Db::open(path.string(), false);
    if (!db.ok()) {
      note_("shard database " + path.string() + " unreadable (" + db.error().describe() +
            "): its mailboxes are listed only if the old list had them");
      continue;
    }
    auto st = (*db)->prepare("SELECT uniqueid, name, partition, uidvalidity FROM mailbox ORDER BY name");
    if (!st.ok()) {
      note_("shard database " + path.string() + " has no mailbox table: skipped");
      continue;
    }
    for (;;) {
      auto row = st->step();
      if (!row.ok()) {
        note_("shard database " + path.string() + ": " + row.error().describe() + " (rest skipped)");
        break;
      }
      if (!*row) break;
      std::string uid = st->text(0), name = st->text(1), part = st->text(2);
      auto uv = static_cast<uint32_t>(st->i64(3));
      max_uidvalidity = std::max(max_uidvalidity, uv);
      if (ids.count(uid)) continue;
      if (names.count(name)) {
        note_(name + ": listed with another unique id; the index of " + uid + " in shard " +
              std::to_string(id) + " is not listed");
        continue;
      }
      if (!validate_mailbox_name(name).ok()) {
        note_("shard " + std::to_string(id) + ": invalid mailbox name '" + name + "' skipped");
        continue;
      }
      std::string key = mail::mboxname_owner_key(name);
      auto sk = shard_by_key.find(key);
      if (sk != shard_by_key.end() && sk->second != id) {
        note_(name + ": its owner " + key + " is shard " + std::to_string(sk->second) + " but its index is in shard " +
              std::to_string(id) + "; not listed");
        continue;
      }
      if (sk == shard_by_key.end()) {
        if (shard_ids.count(id)) {
          note_(name + ": shard " + std::to_string(id) + " belongs to another owner; not listed");
          continue;
        }
        ins_shard.bind(1, static_cast<int64_t>(id)).bind(2, key);
        CYR_TRY(ins_shard.run());
        ins_shard.reset();
        shard_by_key[key] = id;
        shard_ids.insert(id);
      }
      if (!opts_.partitions.count(part))
        note_(name + ": partition " + part + " is not configured (listed anyway)");
      ins.bind(1, name).bind(2, uid).bind(3, static_cast<int64_t>(id)).bind(4, part)
          .bind(5, default_acl(opts_, name)).bind(6, int64_t(uv)).bind(7, int64_t(mail::mboxname_owner(name) ? 0 : 1));
      CYR_TRY(ins.run());
      ins.reset();
      names.insert(name);
      ids.insert(uid);
      relisted.push_back(name);
      ++out.from_shards;
      note_(name + ": " + (opts_.dry_run ? "would be " : "") + "listed from shard " + std::to_string(id) +
            " (default ACL: " + default_acl(opts_, name) + ")");
    }
    auto ch = (*db)->prepare("SELECT 1 FROM change LIMIT 1");
    if (ch.ok()) {
      auto r = ch->step();
      if (r.ok() && *r) {
        ins_pending.bind(1, static_cast<int64_t>(id));
        CYR_TRY(ins_pending.run());
        ins_pending.reset();
      }
    }
  }
  }
  {
    // UIDVALIDITY must keep increasing across the rebuild.
    RC_TRY_ASSIGN(uv, ndb->prepare(
        "INSERT INTO node(key, value) VALUES('last_uidvalidity', ?)"
        " ON CONFLICT(key) DO UPDATE SET value = max(value, excluded.value)"));
    RC_TRY_ASSIGN(mx, ndb->prepare("SELECT COALESCE(MAX(uidvalidity), 0) FROM mailbox"));
    RC_TRY_ASSIGN(r, mx.step());
    int64_t m = std::max<int64_t>(r ? mx.i64(0) : 0, max_uidvalidity);
    uv.bind(1, m);
    CYR_TRY(uv.run());
  }
  if (!out.node_state_kept)
    note_("node role and epoch were not readable: the node starts as a primary at epoch 0; "
          "on a replica, set its role before starting it");
  {
    RC_TRY_ASSIGN(c, ndb->prepare("SELECT (SELECT COUNT(*) FROM mailbox), (SELECT COUNT(*) FROM shard)"));
    RC_TRY_ASSIGN(r, c.step());
    if (r) out.mailboxes = static_cast<size_t>(c.i64(0)), out.shards = static_cast<size_t>(c.i64(1));
  }
  // The rebuilt entries are list changes like a CREATE: logged in the new
  // list's transaction, so the first rolling pass after the node starts
  // gives the replica the mailbox as listed now (its ACL is the default
  // one). Entries kept from the old list are copied unchanged and need
  // none; an entry neither the old list's readable part nor any shard names
  // is unknown here, so nothing can be logged for it (the replica keeps it;
  // cyr_sync_client --verify lists it). A replica (role kept from the old
  // list) logs nothing, as for any write it takes.
  if (!opts_.dry_run && !relisted.empty()) {
    RC_TRY_ASSIGN(on, node_logs_changes(*ndb));
    if (on) {
      std::vector<layout::LoggedChange> changes;
      for (auto& n : relisted) changes.push_back({ChangeKind::Mailbox, n, ""});
      CYR_TRY(layout::log_change_records(opts_.configdirectory, *ndb, 0, changes));
      out.logged = changes.size();
    }
  }
  CYR_TRY(ndb->exec("COMMIT"));
  // 3. Directories nobody names.
  {
    std::set<std::string> listed_ids = ids;
    std::error_code ec2;
    for (auto& [pname, root] : opts_.partitions)
      for (auto& a : fs::directory_iterator(root / "uuid", ec2))
        for (auto& b : fs::directory_iterator(a.path(), ec2))
          for (auto& c : fs::directory_iterator(b.path(), ec2)) {
            std::string id = c.path().filename().string();
            if (!c.is_directory(ec2) || listed_ids.count(id)) continue;
            UnlistedDirectory u;
            u.partition = pname;
            u.uniqueid = id;
            u.path = c.path();
            DirScan s = scan_dir(c.path());
            u.message_files = s.by_uid.size() + s.invalid.size();
            note_("directory " + u.path.string() + " (" + std::to_string(u.message_files) +
                  " message files) belongs to no known mailbox: left in place");
            out.unknown.push_back(std::move(u));
          }
  }
  if (opts_.dry_run) return out;
  CYR_TRY(ndb->exec("PRAGMA wal_checkpoint(TRUNCATE)"));
  ndb.reset();
  if (had_old) {
    RC_TRY_ASSIGN(aside, move_database_aside(lp, "before-rebuild"));
    out.old_list_saved_as = aside;
  }
  if (::rename(target.c_str(), lp.c_str()) != 0) return io_error("rename", target, errno);
  CYR_TRY(fsync_path(lp.parent_path()));
  return out;
}

// ---------------------------------------------------------------------------
// chk_cyrus

Result<size_t> Repairer::check_files(const std::string& mailbox) {
  ListRow lr;
  {
    RC_TRY_ASSIGN(ldb, open_list(opts_.configdirectory));
    RC_TRY_ASSIGN(r, list_row(*ldb, mailbox));
    if (!r) return Error(Errc::NotFound, "Mailbox does not exist", mailbox);
    lr = *r;
  }
  Spool spool(opts_.partitions, {}, opts_.max_message_size);
  RC_TRY_ASSIGN(dir, spool.mailbox_dir(lr.partition, lr.uniqueid));
  fs::path sp = layout::shard_db_path(opts_.configdirectory, lr.shard_id);
  size_t problems = 0;
  std::error_code ec;
  if (!fs::exists(sp, ec)) {
    DirScan s = scan_dir(dir);
    if (!s.by_uid.empty() || !s.invalid.empty()) {
      note_(mailbox + ": index database " + sp.string() + " missing but " +
            std::to_string(s.by_uid.size() + s.invalid.size()) + " message files exist (run cyr_reconstruct)");
      return size_t{1};
    }
    return size_t{0};
  }
  RC_TRY_ASSIGN(db, Db::open(sp.string(), false));
  std::vector<layout::RecordRow> rows;
  {
    CYR_TRY(db->exec("BEGIN"));
    TxnGuard g{*db};
    RC_TRY_ASSIGN(row, mailbox_row(*db, lr.uniqueid));
    if (!row) return size_t{0};  // never written to: nothing indexed
    RC_TRY_ASSIGN(recs, layout::read_record_rows(*db, row->mbid));
    rows = std::move(recs);
  }
  for (auto& r : rows) {
    std::string where = mailbox + ": uid " + std::to_string(r.record.uid) + ": ";
    if (!r.checksum_ok) {
      note_(where + "index record damaged (checksum)");
      ++problems;
      continue;
    }
    if (r.record.expunged()) continue;
    fs::path p = dir / (std::to_string(r.record.uid) + ".");
    struct stat st;
    if (::stat(p.c_str(), &st) != 0) {
      note_(where + "message file " + p.string() + " missing");
      ++problems;
      continue;
    }
    if (static_cast<uint64_t>(st.st_size) != r.record.size) {
      note_(where + "size " + std::to_string(r.record.size) + " in the index, file " + p.string() + " has " +
            std::to_string(st.st_size));
      ++problems;
      continue;
    }
    if (r.record.guid.is_null()) {
      note_(where + "no GUID in the index");
      ++problems;
      continue;
    }
    auto parsed = parse_file(p, std::max<uint64_t>(opts_.max_message_size, static_cast<uint64_t>(st.st_size)));
    if (!parsed.ok()) {
      note_(where + "cannot read " + p.string() + ": " + parsed.error().describe());
      ++problems;
      continue;
    }
    if (parsed->guid != r.record.guid) {
      note_(where + "GUID mismatch: index " + r.record.guid.to_hex() + ", file " + parsed->guid.to_hex());
      ++problems;
    }
  }
  return problems;
}

}  // namespace cyr::store
