// See quota_recompute.h. The shard layout and schema are store/layout.h's;
// this file reads and updates only the mailbox and quota tables, and only
// counters derived from the record table.
#include "store/quota_recompute.h"

#include <map>

#include "store/layout.h"
#include "store/sqlite_db.h"

// Declares `var` as a reference to the value of a Result, or returns its error.
#define QR_TRY_ASSIGN(var, expr)                     \
  auto var##_result = (expr);                        \
  if (!var##_result.ok()) return var##_result.take_error(); \
  auto& var = *var##_result

namespace cyr::store {
namespace fs = std::filesystem;

namespace {

Result<std::unique_ptr<sql::Db>> open_list(const fs::path& configdirectory) {
  fs::path list = layout::list_db_path(configdirectory);
  if (!fs::exists(list))
    return Error(Errc::NotFound, "No mailbox list", list.string() + " does not exist");
  return sql::Db::open(list.string(), false);
}

// Nearest root at or above `name` among `roots` (name -> mbid), 0 = none.
int64_t nearest_root(const std::map<std::string, int64_t>& roots, const std::string& name) {
  int64_t best = 0;
  size_t best_len = 0;
  for (const auto& [root, mbid] : roots) {
    bool covers = name == root || (name.size() > root.size() && name.compare(0, root.size(), root) == 0 &&
                                   name[root.size()] == '.');
    if (covers && root.size() >= best_len) best = mbid, best_len = root.size();
  }
  return best;
}

struct MailboxRow {
  int64_t mbid;
  std::string name;
};

}  // namespace

Status recompute_shard_quota(sql::Db& db, std::vector<QuotaUsageFix>& out) {
  // 1. Per-mailbox counters from the live (not expunged) records.
  CYR_TRY(db.exec(
      "UPDATE mailbox SET "
      " exists_count = (SELECT COUNT(*) FROM record r WHERE r.mbid = mailbox.mbid"
      "                 AND (r.system_flags & 2147483648) = 0),"
      " total_size = (SELECT COALESCE(SUM(size),0) FROM record r WHERE r.mbid = mailbox.mbid"
      "               AND (r.system_flags & 2147483648) = 0)"));
  // 2. Which root governs each mailbox.
  std::map<std::string, int64_t> roots;
  {
    QR_TRY_ASSIGN(st, db.prepare("SELECT q.mbid, m.name FROM quota q JOIN mailbox m ON m.mbid = q.mbid"));
    while (true) {
      QR_TRY_ASSIGN(row, st.step());
      if (!row) break;
      roots[st.text(1)] = st.i64(0);
    }
  }
  std::vector<MailboxRow> boxes;
  {
    QR_TRY_ASSIGN(st, db.prepare("SELECT mbid, name FROM mailbox"));
    while (true) {
      QR_TRY_ASSIGN(row, st.step());
      if (!row) break;
      boxes.push_back({st.i64(0), st.text(1)});
    }
  }
  {
    QR_TRY_ASSIGN(up, db.prepare("UPDATE mailbox SET quota_mbid=? WHERE mbid=?"));
    for (const auto& b : boxes) {
      up.bind(1, nearest_root(roots, b.name)).bind(2, b.mbid);
      CYR_TRY(up.run());
      up.reset();
    }
  }
  // 3. Root usage: compare, then rewrite.
  QR_TRY_ASSIGN(q, db.prepare(
      "SELECT m.name, q.storage_used, q.message_used,"
      " (SELECT COALESCE(SUM(total_size),0) FROM mailbox x WHERE x.quota_mbid = q.mbid),"
      " (SELECT COALESCE(SUM(exists_count),0) FROM mailbox x WHERE x.quota_mbid = q.mbid)"
      " FROM quota q JOIN mailbox m ON m.mbid = q.mbid ORDER BY m.name"));
  while (true) {
    QR_TRY_ASSIGN(row, q.step());
    if (!row) break;
    QuotaUsageFix f;
    f.root = q.text(0);
    f.old_bytes = static_cast<uint64_t>(q.i64(1));
    f.old_messages = static_cast<uint64_t>(q.i64(2));
    f.new_bytes = static_cast<uint64_t>(q.i64(3));
    f.new_messages = static_cast<uint64_t>(q.i64(4));
    if (f.old_bytes != f.new_bytes || f.old_messages != f.new_messages) out.push_back(std::move(f));
  }
  CYR_TRY(db.exec(
      "UPDATE quota SET "
      " storage_used = (SELECT COALESCE(SUM(total_size),0) FROM mailbox m WHERE m.quota_mbid = quota.mbid),"
      " message_used = (SELECT COALESCE(SUM(exists_count),0) FROM mailbox m WHERE m.quota_mbid = quota.mbid)"));
  return {};
}

namespace {

// The roots fixed here go to the change log like the store's own quota
// writes, so that a rolling replica is sent them (cyr_quota -f runs beside
// a serving master).
Status fix_shard(const fs::path& configdirectory, uint64_t shard_id, sql::Db& db, bool dry_run,
                 std::vector<QuotaUsageFix>& out) {
  CYR_TRY(db.exec("BEGIN IMMEDIATE"));
  size_t first_new = out.size();
  Status st = recompute_shard_quota(db, out);
  if (st.ok() && !dry_run) {
    std::vector<std::pair<ChangeKind, std::string>> changes;
    for (size_t i = first_new; i < out.size(); ++i) changes.emplace_back(ChangeKind::Quota, out[i].root);
    st = layout::log_changes(configdirectory, db, shard_id, changes);
  }
  if (!st.ok() || dry_run) {
    (void)db.exec("ROLLBACK");
    return st;
  }
  return db.exec("COMMIT");
}

}  // namespace

Result<std::vector<QuotaUsageFix>> recompute_quota_usage(
    const fs::path& configdirectory, bool dry_run,
    const std::function<void(size_t, size_t)>& progress) {
  std::vector<uint64_t> shard_ids;
  {
    QR_TRY_ASSIGN(list, open_list(configdirectory));
    QR_TRY_ASSIGN(st, list->prepare("SELECT id FROM shard ORDER BY id"));
    while (true) {
      QR_TRY_ASSIGN(row, st.step());
      if (!row) break;
      shard_ids.push_back(static_cast<uint64_t>(st.i64(0)));
    }
  }
  std::vector<QuotaUsageFix> fixes;
  size_t done = 0;
  for (uint64_t id : shard_ids) {
    fs::path p = layout::shard_db_path(configdirectory, id);
    if (fs::exists(p)) {  // a shard with no mailbox yet has no file
      QR_TRY_ASSIGN(db, sql::Db::open(p.string(), false));
      Status st = fix_shard(configdirectory, id, *db, dry_run, fixes);
      if (!st.ok()) {
        Error e = st.error();
        e.detail = p.string() + ": " + e.detail;
        return e;
      }
    }
    if (progress) progress(++done, shard_ids.size());
  }
  return fixes;
}

Result<fs::path> shard_db_path(const fs::path& configdirectory, const std::string& mailbox) {
  QR_TRY_ASSIGN(list, open_list(configdirectory));
  QR_TRY_ASSIGN(st, list->prepare("SELECT shard_id FROM mailbox WHERE name=?"));
  st.bind(1, mailbox);
  QR_TRY_ASSIGN(row, st.step());
  if (!row) return Error(Errc::NotFound, "Mailbox does not exist", mailbox);
  return layout::shard_db_path(configdirectory, static_cast<uint64_t>(st.i64(0)));
}

Result<int64_t> index_format_version(const fs::path& shard_db) {
  QR_TRY_ASSIGN(db, sql::Db::open(shard_db.string(), false));
  QR_TRY_ASSIGN(st, db->prepare("PRAGMA user_version"));
  QR_TRY_ASSIGN(row, st.step());
  if (!row) return Error(Errc::Corrupted, "No schema version", shard_db.string());
  return st.i64(0);
}

}  // namespace cyr::store
