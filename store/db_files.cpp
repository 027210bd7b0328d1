// See db_files.h.
#include "store/spool.h"
#include "store/db_files.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>
#include <zstd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <memory>
#include <sstream>

#include "store/layout.h"

namespace cyr::store {
namespace fs = std::filesystem;

namespace {

constexpr const char* kNewCheckpoint = "db.backup.new";
constexpr size_t kMaxManifestBytes = 16u << 20;
constexpr int kZstdLevel = 3;

Error io_error(const std::string& what, const fs::path& p, int err) {
  return Error(Errc::Io, "Database file I/O error", what + " " + p.string() + ": " + std::strerror(err));
}

std::string now_stamp() {
  char buf[32];
  time_t t = ::time(nullptr);
  struct tm tmv;
  gmtime_r(&t, &tmv);
  strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tmv);
  return buf;
}

struct FileCloser {
  void operator()(FILE* f) const {
    if (f) fclose(f);
  }
};
using File = std::unique_ptr<FILE, FileCloser>;

// `from` opened to read and `to` created (mode 0600, truncated) to write.
Status open_pair(const fs::path& from, const fs::path& to, File& in, File& out) {
  in.reset(fopen(from.c_str(), "rb"));
  if (!in) return io_error("open", from, errno);
  int fd = ::open(to.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return io_error("create", to, errno);
  out.reset(fdopen(fd, "wb"));
  if (!out) {
    ::close(fd);
    return io_error("fdopen", to, errno);
  }
  return {};
}

// Compresses `from` into `to` (fsync'd); returns the uncompressed size and
// XXH3-64 of the input, and the compressed size.
Status compress_file(const fs::path& from, const fs::path& to, CheckpointEntry& e) {
  File in, out;
  CYR_TRY(open_pair(from, to, in, out));
  std::unique_ptr<ZSTD_CCtx, size_t (*)(ZSTD_CCtx*)> cctx(ZSTD_createCCtx(), ZSTD_freeCCtx);
  ZSTD_CCtx_setParameter(cctx.get(), ZSTD_c_compressionLevel, kZstdLevel);
  ZSTD_CCtx_setParameter(cctx.get(), ZSTD_c_checksumFlag, 1);
  XXH3_state_t* h = XXH3_createState();
  XXH3_64bits_reset(h);
  std::vector<char> ibuf(ZSTD_CStreamInSize()), obuf(ZSTD_CStreamOutSize());
  e.bytes = e.compressed = 0;
  Status st;
  for (bool last = false; !last && st.ok();) {
    size_t n = fread(ibuf.data(), 1, ibuf.size(), in.get());
    if (ferror(in.get())) {
      st = io_error("read", from, errno);
      break;
    }
    last = n < ibuf.size();
    XXH3_64bits_update(h, ibuf.data(), n);
    e.bytes += n;
    ZSTD_inBuffer input{ibuf.data(), n, 0};
    ZSTD_EndDirective mode = last ? ZSTD_e_end : ZSTD_e_continue;
    for (bool finished = false; !finished;) {
      ZSTD_outBuffer output{obuf.data(), obuf.size(), 0};
      size_t rem = ZSTD_compressStream2(cctx.get(), &output, &input, mode);
      if (ZSTD_isError(rem)) {
        st = Error(Errc::Internal, "Compression failed", ZSTD_getErrorName(rem));
        break;
      }
      if (fwrite(obuf.data(), 1, output.pos, out.get()) != output.pos) {
        st = io_error("write", to, errno);
        break;
      }
      e.compressed += output.pos;
      finished = last ? rem == 0 : input.pos == input.size;
    }
  }
  e.xxh3 = XXH3_64bits_digest(h);
  XXH3_freeState(h);
  CYR_TRY(st);
  if (fflush(out.get()) != 0 || ::fsync(fileno(out.get())) != 0) return io_error("fsync", to, errno);
  return {};
}

// Decompresses `from` into `to` (fsync'd), checking size and checksum.
Status decompress_file(const fs::path& from, const fs::path& to, const CheckpointEntry& want) {
  File in, out;
  CYR_TRY(open_pair(from, to, in, out));
  std::unique_ptr<ZSTD_DCtx, size_t (*)(ZSTD_DCtx*)> dctx(ZSTD_createDCtx(), ZSTD_freeDCtx);
  XXH3_state_t* h = XXH3_createState();
  XXH3_64bits_reset(h);
  std::vector<char> ibuf(ZSTD_DStreamInSize()), obuf(ZSTD_DStreamOutSize());
  uint64_t total = 0;
  size_t last_ret = 0;
  Status st;
  while (st.ok()) {
    size_t n = fread(ibuf.data(), 1, ibuf.size(), in.get());
    if (n == 0) break;
    ZSTD_inBuffer input{ibuf.data(), n, 0};
    while (input.pos < input.size) {
      ZSTD_outBuffer output{obuf.data(), obuf.size(), 0};
      last_ret = ZSTD_decompressStream(dctx.get(), &output, &input);
      if (ZSTD_isError(last_ret)) {
        st = Error(Errc::Corrupted, "Checkpoint file is damaged", from.string() + ": " + ZSTD_getErrorName(last_ret));
        break;
      }
      total += output.pos;
      // A checkpoint never holds more than its manifest says: stop a bomb early.
      if (total > want.bytes) {
        st = Error(Errc::Corrupted, "Checkpoint file is damaged", from.string() + ": longer than its manifest says");
        break;
      }
      XXH3_64bits_update(h, obuf.data(), output.pos);
      if (fwrite(obuf.data(), 1, output.pos, out.get()) != output.pos) {
        st = io_error("write", to, errno);
        break;
      }
    }
  }
  uint64_t digest = XXH3_64bits_digest(h);
  XXH3_freeState(h);
  CYR_TRY(st);
  if (last_ret != 0 || total != want.bytes || digest != want.xxh3)
    return Error(Errc::Corrupted, "Checkpoint file is damaged",
                 from.string() + ": size or checksum differs from its manifest");
  if (fflush(out.get()) != 0 || ::fsync(fileno(out.get())) != 0) return io_error("fsync", to, errno);
  return {};
}

// A consistent copy of a live database into a plain (rollback-journal) file.
Status backup_database(const fs::path& src, const fs::path& dst) {
  sqlite3* s = nullptr;
  sqlite3* d = nullptr;
  auto fail = [&](sqlite3* db, const std::string& what) {
    Error e(Errc::Io, "Database backup failed", what + ": " + (db ? sqlite3_errmsg(db) : "out of memory"));
    sqlite3_close_v2(s);
    sqlite3_close_v2(d);
    return e;
  };
  if (sqlite3_open_v2(src.c_str(), &s, SQLITE_OPEN_READWRITE, nullptr) != SQLITE_OK)
    return fail(s, "open " + src.string());
  sqlite3_busy_timeout(s, 10000);
  if (sqlite3_open_v2(dst.c_str(), &d, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr) != SQLITE_OK)
    return fail(d, "create " + dst.string());
  sqlite3_backup* b = sqlite3_backup_init(d, "main", s, "main");
  if (!b) return fail(d, "backup " + src.string());
  int rc;
  // -1: every page in one step, i.e. under one read transaction of the
  // source: a consistent snapshot even while writers commit.
  while ((rc = sqlite3_backup_step(b, -1)) == SQLITE_BUSY || rc == SQLITE_LOCKED) sqlite3_sleep(50);
  sqlite3_backup_finish(b);
  if (rc != SQLITE_DONE) return fail(d, "backup " + src.string());
  sqlite3_close_v2(s);
  if (sqlite3_close_v2(d) != SQLITE_OK) return Error(Errc::Io, "Database backup failed", "close " + dst.string());
  return {};
}

std::string hex64(uint64_t v) {
  char buf[17];
  snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

bool safe_label(const std::string& l) {
  if (l.empty() || l.size() > 255 || l[0] == '/') return false;
  for (auto& part : fs::path(l))
    if (part == ".." || part == ".") return false;
  return l.find('\t') == std::string::npos && l.find('\n') == std::string::npos;
}

}  // namespace

Result<fs::path> move_database_aside(const fs::path& p, const std::string& why) {
  fs::path aside = p.string() + "." + why + "-" + now_stamp();
  std::error_code ec;
  bool moved = false;
  if (fs::exists(p, ec)) {
    if (::rename(p.c_str(), aside.c_str()) != 0) return io_error("rename", p, errno);
    moved = true;
  }
  for (const char* suffix : {"-wal", "-shm"}) {
    fs::path side = p.string() + suffix;
    if (fs::exists(side, ec) && ::rename(side.c_str(), (aside.string() + suffix).c_str()) != 0)
      return io_error("rename", side, errno);
  }
  return moved ? aside : fs::path();
}

std::map<uint64_t, fs::path> shard_database_files(const fs::path& configdirectory) {
  std::map<uint64_t, fs::path> out;
  std::error_code ec;
  for (auto& sub : fs::directory_iterator(configdirectory / "shards", ec)) {
    if (!sub.is_directory(ec)) continue;
    for (auto& f : fs::directory_iterator(sub.path(), ec)) {
      std::string n = f.path().filename().string();
      if (n.size() < 4 || n.compare(n.size() - 3, 3, ".db") != 0) continue;
      std::string digits = n.substr(0, n.size() - 3);
      // At most 19 digits: always below 2^64, so stoull cannot throw.
      if (digits.empty() || digits.size() > 19 || digits.find_first_not_of("0123456789") != std::string::npos)
        continue;
      uint64_t id = std::stoull(digits);
      if (layout::shard_db_path(configdirectory, id) == f.path()) out[id] = f.path();
    }
  }
  return out;
}

std::vector<NodeDatabase> node_databases(const fs::path& configdirectory, const fs::path& duplicate_db_path) {
  std::vector<NodeDatabase> out;
  std::error_code ec;
  auto add = [&](const std::string& label, const fs::path& p) {
    if (fs::is_regular_file(p, ec)) out.push_back({label, p});
  };
  add("mailboxes.db", layout::list_db_path(configdirectory));
  std::vector<NodeDatabase> shards;
  for (auto& [id, p] : shard_database_files(configdirectory))
    shards.push_back({"shards/" + p.parent_path().filename().string() + "/" + p.filename().string(), p});
  std::sort(shards.begin(), shards.end(), [](auto& a, auto& b) { return a.label < b.label; });
  out.insert(out.end(), shards.begin(), shards.end());
  add("deliver.db", duplicate_db_path.empty() ? configdirectory / "deliver.db" : duplicate_db_path);
  add("passwd.db", configdirectory / "passwd.db");
  return out;
}

Status check_database(const fs::path& path, bool full) {
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = db ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close_v2(db);
    return Error(Errc::Corrupted, "Database cannot be opened", path.string() + ": " + msg);
  }
  sqlite3_busy_timeout(db, 10000);
  sqlite3_stmt* st = nullptr;
  std::string result;
  rc = sqlite3_prepare_v2(db, full ? "PRAGMA integrity_check" : "PRAGMA quick_check", -1, &st, nullptr);
  if (rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW) {
    const unsigned char* t = sqlite3_column_text(st, 0);
    result = t ? reinterpret_cast<const char*>(t) : "";
  } else {
    result = sqlite3_errmsg(db);
  }
  sqlite3_finalize(st);
  sqlite3_close_v2(db);
  if (result != "ok") return Error(Errc::Corrupted, "Database is damaged", path.string() + ": " + result);
  return {};
}

std::vector<fs::path> remove_leftovers(const fs::path& configdirectory, int64_t min_age_seconds, bool dry_run) {
  std::vector<fs::path> found;
  std::error_code ec;
  int64_t now = static_cast<int64_t>(::time(nullptr));
  auto old_enough = [&](const fs::path& p) {
    struct stat st;
    return ::lstat(p.c_str(), &st) == 0 && now - static_cast<int64_t>(st.st_mtime) >= min_age_seconds;
  };
  auto is_leftover = [](const std::string& n) {
    for (const char* suffix : {".db.new", ".db.rebuild", ".restore-tmp"})
      for (const char* side : {"", "-wal", "-shm", "-journal"}) {
        std::string s = std::string(suffix) + side;
        if (n.size() > s.size() && n.compare(n.size() - s.size(), s.size(), s) == 0) return true;
      }
    return false;
  };
  std::vector<fs::path> dirs{configdirectory};
  for (auto& sub : fs::directory_iterator(configdirectory / "shards", ec))
    if (sub.is_directory(ec)) dirs.push_back(sub.path());
  for (auto& d : dirs)
    for (auto& f : fs::directory_iterator(d, ec))
      if (f.is_regular_file(ec) && is_leftover(f.path().filename().string()) && old_enough(f.path()))
        found.push_back(f.path());
  fs::path half = configdirectory / kNewCheckpoint;
  if (fs::exists(half, ec) && old_enough(half)) found.push_back(half);
  if (!dry_run)
    for (auto& p : found) fs::remove_all(p, ec);
  return found;
}

Result<std::vector<CheckpointEntry>> checkpoint(const fs::path& configdirectory, const std::vector<NodeDatabase>& dbs,
                                                int keep, const std::function<void(size_t, size_t)>& progress) {
  if (keep < 1 || keep > 99) return Error(Errc::Invalid, "Keep between 1 and 99 checkpoints", std::to_string(keep));
  fs::path tmp = configdirectory / kNewCheckpoint;
  std::error_code ec;
  fs::remove_all(tmp, ec);
  if (!fs::create_directory(tmp, ec)) return io_error("mkdir", tmp, ec.value());
  std::vector<CheckpointEntry> out;
  std::string manifest;
  for (auto& db : dbs) {
    CheckpointEntry e;
    e.db = db;
    fs::path zst = tmp / (db.label + ".zst");
    fs::path plain = tmp / (db.label + ".copy");
    fs::create_directories(zst.parent_path(), ec);
    CYR_TRY(backup_database(db.path, plain));
    Status st = compress_file(plain, zst, e);
    fs::remove(plain, ec);
    CYR_TRY(st);
    manifest += db.label + "\t" + db.path.string() + "\t" + std::to_string(e.bytes) + "\t" + hex64(e.xxh3) + "\n";
    out.push_back(std::move(e));
    if (progress) progress(out.size(), dbs.size());
  }
  {
    fs::path mp = tmp / "MANIFEST";
    std::ofstream m(mp, std::ios::binary);
    m << manifest;
    m.close();
    if (!m) return io_error("write", mp, errno);
    CYR_TRY(fsync_path(mp));
  }
  for (auto& e : out) CYR_TRY(fsync_path((tmp / e.db.label).parent_path()));
  CYR_TRY(fsync_path(tmp));
  // Rotate: the oldest goes, each moves up one, the new one becomes 1.
  auto nth = [&](int i) { return configdirectory / ("db.backup" + std::to_string(i)); };
  fs::remove_all(nth(keep), ec);
  for (int i = keep - 1; i >= 1; --i)
    if (fs::exists(nth(i), ec) && ::rename(nth(i).c_str(), nth(i + 1).c_str()) != 0)
      return io_error("rename", nth(i), errno);
  if (::rename(tmp.c_str(), nth(1).c_str()) != 0) return io_error("rename", tmp, errno);
  CYR_TRY(fsync_path(configdirectory));
  return out;
}

Result<std::vector<CheckpointEntry>> read_manifest(const fs::path& dir) {
  fs::path mp = dir / "MANIFEST";
  std::error_code ec;
  auto size = fs::file_size(mp, ec);
  if (ec) return Error(Errc::NotFound, "Not a checkpoint directory (no MANIFEST)", mp.string());
  if (size > kMaxManifestBytes) return Error(Errc::Limit, "Checkpoint MANIFEST too large", mp.string());
  std::ifstream in(mp, std::ios::binary);
  std::vector<CheckpointEntry> out;
  std::string line;
  size_t n = 0;
  while (std::getline(in, line)) {
    ++n;
    std::vector<std::string> f;
    std::stringstream ss(line);
    for (std::string part; std::getline(ss, part, '\t');) f.push_back(part);
    CheckpointEntry e;
    char* end = nullptr;
    if (f.size() == 4) {
      e.db.label = f[0];
      e.db.path = f[1];
      e.bytes = std::strtoull(f[2].c_str(), &end, 10);
      bool ok = end && *end == 0 && !f[2].empty();
      e.xxh3 = std::strtoull(f[3].c_str(), &end, 16);
      ok = ok && end && *end == 0 && f[3].size() == 16;
      if (ok && safe_label(e.db.label) && e.db.path.is_absolute()) {
        out.push_back(std::move(e));
        continue;
      }
    }
    return Error(Errc::Corrupted, "Bad checkpoint MANIFEST", mp.string() + " line " + std::to_string(n));
  }
  return out;
}

Result<std::vector<RestoredDatabase>> restore_checkpoint(const fs::path& dir, const std::vector<std::string>& only) {
  auto entries = read_manifest(dir);
  if (!entries.ok()) return entries.take_error();
  std::vector<CheckpointEntry> chosen;
  for (auto& e : *entries)
    if (only.empty() || std::find(only.begin(), only.end(), e.db.label) != only.end()) chosen.push_back(e);
  for (auto& o : only)
    if (std::none_of(chosen.begin(), chosen.end(), [&](auto& e) { return e.db.label == o; }))
      return Error(Errc::NotFound, "No such database in the checkpoint", o + " (see its MANIFEST)");
  std::vector<RestoredDatabase> out;
  std::error_code ec;
  for (auto& e : chosen) {
    fs::path target = e.db.path;
    fs::path tmp = target.string() + ".restore-tmp";
    fs::create_directories(target.parent_path(), ec);
    Status st = decompress_file(dir / (e.db.label + ".zst"), tmp, e);
    if (st.ok()) st = check_database(tmp);
    if (!st.ok()) {
      for (const char* side : {"", "-wal", "-shm", "-journal"}) fs::remove(tmp.string() + side, ec);
      return st.take_error();
    }
    for (const char* side : {"-wal", "-shm", "-journal"}) fs::remove(tmp.string() + side, ec);
    RestoredDatabase r;
    r.entry = e;
    auto aside = move_database_aside(target, "before-restore");
    if (!aside.ok()) return aside.take_error();
    r.saved_as = *aside;
    if (::rename(tmp.c_str(), target.c_str()) != 0) return io_error("rename", tmp, errno);
    CYR_TRY(fsync_path(target.parent_path()));
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace cyr::store
