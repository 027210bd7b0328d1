// See tool_changes.h.
#include "store/tool_changes.h"

#include <algorithm>
#include <cstdlib>
#include <string>
#include <system_error>

#include "store/sqlite_db.h"

namespace cyr::store {
namespace fs = std::filesystem;

Result<bool> node_logs_changes(sql::Db& list) {
  auto st = list.prepare("SELECT value FROM node WHERE key='role'");
  if (!st.ok()) return st.take_error();
  auto row = st->step();
  if (!row.ok()) return row.take_error();
  // The store reads the role the same way (1 = replica, anything else primary).
  if (*row && st->i64(0) == 1) return false;
  st->reset();
  return layout::logs_changes(list);
}

namespace {

fs::path resolved(const fs::path& p) {
  std::error_code ec;
  fs::path r = fs::weakly_canonical(fs::absolute(p, ec), ec);
  return ec ? p.lexically_normal() : r;
}

// "123" -> 123; anything else (sign, leading zero, too long) -> nullopt.
std::optional<uint64_t> shard_number(const std::string& s) {
  if (s.empty() || s.size() > 19 || (s[0] == '0' && s.size() > 1)) return std::nullopt;
  if (s.find_first_not_of("0123456789") != std::string::npos) return std::nullopt;
  return std::strtoull(s.c_str(), nullptr, 10);
}

}  // namespace

NodeDb classify_node_db(const fs::path& configdirectory, const fs::path& db) {
  NodeDb out;
  fs::path cd = resolved(configdirectory), p = resolved(db);
  if (p == resolved(layout::list_db_path(configdirectory))) {
    out.kind = NodeDb::Kind::List;
    return out;
  }
  // shards/<xx>/<id>.db, and exactly where shard_db_path puts that id.
  if (p.extension() == ".db") {
    if (auto id = shard_number(p.stem().string()); id && *id > 0 &&
                                                    p == resolved(layout::shard_db_path(configdirectory, *id))) {
      out.kind = NodeDb::Kind::Shard;
      out.shard_id = *id;
      return out;
    }
  }
  auto rel = p.lexically_relative(cd);
  out.kind = !rel.empty() && *rel.begin() != ".." ? NodeDb::Kind::Other : NodeDb::Kind::Foreign;
  return out;
}

namespace {

// The value of `col` in the row after the write, else before it.
std::string column(const KvWrite& w, const char* col) {
  for (auto* row : {&w.after, &w.before})
    if (*row)
      if (auto it = (*row)->find(col); it != (*row)->end()) return it->second;
  return "";
}

// The shard mailbox row `mbid` as (name, uniqueid), as it is now in the
// write's transaction; nullopt if the shard has no such mailbox.
Result<std::optional<std::pair<std::string, std::string>>> shard_mailbox(sql::Db& db, const std::string& mbid) {
  auto st = db.prepare("SELECT name, uniqueid FROM mailbox WHERE mbid=?");
  if (!st.ok()) return st.take_error();
  // The key's text form: SQLite compares it with the INTEGER column numerically.
  st->bind(1, mbid);
  auto row = st->step();
  if (!row.ok()) return row.take_error();
  if (!*row) return std::optional<std::pair<std::string, std::string>>();
  return std::optional<std::pair<std::string, std::string>>(std::pair(st->text(0), st->text(1)));
}

bool one_of(const std::string& t, std::initializer_list<const char*> names) {
  return std::any_of(names.begin(), names.end(), [&](const char* n) { return t == n; });
}

}  // namespace

Result<std::vector<layout::LoggedChange>> changes_for_row_write(sql::Db& db, NodeDb::Kind kind, const KvWrite& w) {
  using LC = layout::LoggedChange;
  std::vector<LC> out;
  const std::string& t = w.table;
  auto no_rule = [&] {
    return Error(Errc::Invalid, "This table has no replication rule; it is not written by this tool",
                 t + " (" + (kind == NodeDb::Kind::List ? "mailbox list" : "shard database") + ")");
  };
  if (one_of(t, {"record", "structure", "change"}))
    return Error(Errc::Invalid, "Index records and the replication log are not written this way", t);
  if (kind == NodeDb::Kind::List) {
    if (t == "mailbox") {
      // A removed entry travels as UNMAILBOX, as a delete does; the rolling
      // client sends it only if the name is then not listed.
      out.push_back({w.after ? ChangeKind::Mailbox : ChangeKind::Unmailbox, column(w, "name"), ""});
    } else if (t == "annotation") {
      out.push_back({ChangeKind::Annotation, "", ""});  // server annotations
    } else if (!one_of(t, {"node", "shard", "pending_shard", "intent"})) {
      return no_rule();
    }
    return out;
  }
  if (kind != NodeDb::Kind::Shard) return out;
  if (t == "mailbox") {
    // The row's name can itself be what changed: both names are synced
    // (a name no longer listed is skipped by the rolling client).
    for (auto* row : {&w.before, &w.after})
      if (*row)
        if (auto it = (*row)->find("name"); it != (*row)->end()) {
          LC c{ChangeKind::Mailbox, it->second, ""};
          if (std::find(out.begin(), out.end(), c) == out.end()) out.push_back(std::move(c));
        }
  } else if (t == "seen" || t == "quota" || t == "annotation") {
    auto mb = shard_mailbox(db, column(w, "mbid"));
    if (!mb.ok()) return mb.take_error();
    if (*mb) {
      if (t == "seen") out.push_back({ChangeKind::Seen, column(w, "userid"), (*mb)->second});
      else if (t == "quota") out.push_back({ChangeKind::Quota, (*mb)->first, ""});
      else out.push_back({ChangeKind::Annotation, (*mb)->first, ""});
    }
  } else if (t == "subscription") {
    out.push_back({ChangeKind::Sub, column(w, "userid"), column(w, "name")});
  } else if (!one_of(t, {"meta", "structure_blob", "unsynced_file"})) {
    return no_rule();
  }
  return out;
}

KvWriteHook replication_log_hook(const fs::path& configdirectory, NodeDb which, size_t* logged) {
  if (which.kind != NodeDb::Kind::List && which.kind != NodeDb::Kind::Shard) return {};
  return [configdirectory, which, logged](sql::Db& db, const KvWrite& w) -> Status {
    auto changes = changes_for_row_write(db, which.kind, w);
    if (!changes.ok()) return changes.take_error();
    if (changes->empty()) return {};
    bool on = false;
    if (which.kind == NodeDb::Kind::List) {
      auto r = node_logs_changes(db);  // the same transaction that is writing
      if (!r.ok()) return r.take_error();
      on = *r;
    } else {
      // No mailbox list: the node is being rebuilt (cyr_reconstruct -m
      // comes next and logs every mailbox it lists from the shards), and
      // there is nowhere to put the shard's pending marker.
      std::error_code ec;
      if (!fs::exists(layout::list_db_path(configdirectory), ec)) return {};
      auto list = sql::Db::open(layout::list_db_path(configdirectory).string(), false);
      if (!list.ok()) return list.take_error();
      auto r = node_logs_changes(**list);
      if (!r.ok()) return r.take_error();
      on = *r;
    }
    if (!on) return {};
    CYR_TRY(layout::log_change_records(configdirectory, db, which.kind == NodeDb::Kind::List ? 0 : which.shard_id,
                                       *changes));
    if (logged) *logged += changes->size();
    return {};
  };
}

}  // namespace cyr::store
