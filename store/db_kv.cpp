// See db_kv.h.
#include "store/db_kv.h"

#include <sqlite3.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <istream>
#include <map>
#include <ostream>

#include "store/sqlite_db.h"

namespace cyr::store {
namespace fs = std::filesystem;

namespace {

constexpr const char* kHex = "0123456789abcdef";
constexpr size_t kMaxKeyParts = 16;

bool needs_escape(unsigned char c) {
  return c < 0x20 || c == 0x7f || c == '%' || c == '/' || c == '=' || c == ' ';
}

int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Canonical decimal int64: what an INTEGER prints as, nothing else.
bool canonical_int(std::string_view s, int64_t& v) {
  if (s.empty() || s.size() > 20) return false;
  size_t i = s[0] == '-' ? 1 : 0;
  if (i == s.size()) return false;
  if (s[i] == '0' && (s.size() > i + 1 || i == 1)) return false;
  for (size_t j = i; j < s.size(); ++j)
    if (s[j] < '0' || s[j] > '9') return false;
  errno = 0;
  std::string tmp(s);
  char* end = nullptr;
  long long x = std::strtoll(tmp.c_str(), &end, 10);
  if (errno != 0 || *end != 0) return false;
  v = x;
  return true;
}

// One typed SQL value, decoded from its text form.
struct Value {
  int type = SQLITE_NULL;
  int64_t i = 0;
  double r = 0;
  std::string s;  // text or blob bytes
};

std::string encode(sqlite3_stmt* st, int col) {
  switch (sqlite3_column_type(st, col)) {
    case SQLITE_NULL:
      return "%N";
    case SQLITE_INTEGER:
      return std::to_string(sqlite3_column_int64(st, col));
    case SQLITE_FLOAT: {
      char buf[64];
      snprintf(buf, sizeof buf, "%%R%.17g", sqlite3_column_double(st, col));
      return buf;
    }
    case SQLITE_BLOB: {
      auto* p = static_cast<const unsigned char*>(sqlite3_column_blob(st, col));
      int n = sqlite3_column_bytes(st, col);
      std::string out = "%B";
      for (int k = 0; k < n; ++k) out += kHex[p[k] >> 4], out += kHex[p[k] & 15];
      return out;
    }
    default: {
      auto* p = reinterpret_cast<const char*>(sqlite3_column_text(st, col));
      std::string_view t(p ? p : "", static_cast<size_t>(sqlite3_column_bytes(st, col)));
      int64_t dummy;
      return (canonical_int(t, dummy) ? "%T" : "") + kv_escape(t);
    }
  }
}

Result<Value> decode(std::string_view s) {
  Value v;
  if (s == "%N") return v;
  if (s.starts_with("%B")) {
    std::string_view h = s.substr(2);
    if (h.size() % 2) return Error(Errc::Invalid, "Bad blob value", std::string(s));
    v.type = SQLITE_BLOB;
    for (size_t k = 0; k < h.size(); k += 2) {
      int a = hexval(h[k]), b = hexval(h[k + 1]);
      if (a < 0 || b < 0) return Error(Errc::Invalid, "Bad blob value", std::string(s));
      v.s += static_cast<char>(a * 16 + b);
    }
    return v;
  }
  if (s.starts_with("%R")) {
    std::string t(s.substr(2));
    char* end = nullptr;
    v.r = std::strtod(t.c_str(), &end);
    if (t.empty() || *end) return Error(Errc::Invalid, "Bad real value", std::string(s));
    v.type = SQLITE_FLOAT;
    return v;
  }
  if (s.starts_with("%T")) {
    auto t = kv_unescape(s.substr(2));
    if (!t.ok()) return t.take_error();
    v.type = SQLITE_TEXT;
    v.s = std::move(*t);
    return v;
  }
  if (canonical_int(s, v.i)) {
    v.type = SQLITE_INTEGER;
    return v;
  }
  auto t = kv_unescape(s);
  if (!t.ok()) return t.take_error();
  v.type = SQLITE_TEXT;
  v.s = std::move(*t);
  return v;
}

void bind(sqlite3_stmt* st, int i, const Value& v) {
  switch (v.type) {
    case SQLITE_NULL: sqlite3_bind_null(st, i); break;
    case SQLITE_INTEGER: sqlite3_bind_int64(st, i, v.i); break;
    case SQLITE_FLOAT: sqlite3_bind_double(st, i, v.r); break;
    case SQLITE_BLOB: sqlite3_bind_blob(st, i, v.s.data(), static_cast<int>(v.s.size()), SQLITE_TRANSIENT); break;
    default: sqlite3_bind_text(st, i, v.s.data(), static_cast<int>(v.s.size()), SQLITE_TRANSIENT); break;
  }
}

std::string quote_ident(const std::string& n) {
  std::string out = "\"";
  for (char c : n) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

struct TableInfo {
  std::string name;
  std::vector<std::string> pk;    // in key order
  std::vector<std::string> rest;  // other columns, in table order
};

Result<TableInfo> table_info(sql::Db& db, const std::string& table) {
  auto st = db.prepare("SELECT name, pk FROM pragma_table_info(?) ORDER BY cid");
  if (!st.ok()) return st.take_error();
  st->bind(1, table);
  TableInfo t;
  t.name = table;
  std::map<int64_t, std::string> pk;
  for (;;) {
    auto r = st->step();
    if (!r.ok()) return r.take_error();
    if (!*r) break;
    if (st->i64(1) > 0) pk[st->i64(1)] = st->text(0);
    else t.rest.push_back(st->text(0));
  }
  if (pk.empty() && t.rest.empty()) return Error(Errc::NotFound, "No such table", table);
  if (pk.empty()) return Error(Errc::Invalid, "Table has no primary key, so no keys", table);
  for (auto& [k, n] : pk) t.pk.push_back(n);
  return t;
}

struct ParsedKey {
  TableInfo table;
  std::vector<Value> parts;
};

Result<ParsedKey> parse_key(sql::Db& db, const std::string& key) {
  size_t slash = key.find('/');
  if (slash == std::string::npos || slash == 0)
    return Error(Errc::Invalid, "A key is <table>/<value>[/<value>...]", key);
  std::string table = key.substr(0, slash);
  auto info = table_info(db, table);
  if (!info.ok()) return info.take_error();
  ParsedKey pk;
  pk.table = std::move(*info);
  std::string_view rest = std::string_view(key).substr(slash + 1);
  for (;;) {
    if (pk.parts.size() >= kMaxKeyParts) return Error(Errc::Limit, "Too many key parts", key);
    size_t e = rest.find('/');
    auto v = decode(rest.substr(0, e));
    if (!v.ok()) return v.take_error();
    pk.parts.push_back(std::move(*v));
    if (e == std::string_view::npos) break;
    rest = rest.substr(e + 1);
  }
  if (pk.parts.size() != pk.table.pk.size())
    return Error(Errc::Invalid, "Wrong number of key parts",
                 key + ": table " + table + " is keyed by " + std::to_string(pk.table.pk.size()) + " column(s)");
  return pk;
}

std::string where_pk(const TableInfo& t, int first_param) {
  std::string w;
  for (size_t i = 0; i < t.pk.size(); ++i)
    w += (i ? " AND " : " WHERE ") + quote_ident(t.pk[i]) + "=?" + std::to_string(first_param + i);
  return w;
}

// The row with key `pk` as column -> text (NULL columns left out), for a
// write hook; nullopt if there is none.
Result<std::optional<KvWrite::Row>> read_row(sql::Db& db, const ParsedKey& pk) {
  std::string cols;
  for (auto& c : pk.table.pk) cols += (cols.empty() ? "" : ", ") + quote_ident(c);
  for (auto& c : pk.table.rest) cols += ", " + quote_ident(c);
  std::string q = "SELECT " + cols + " FROM " + quote_ident(pk.table.name) + where_pk(pk.table, 1);
  sqlite3_stmt* st = nullptr;
  int rc = sqlite3_prepare_v2(db.raw(), q.c_str(), -1, &st, nullptr);
  if (rc != SQLITE_OK) return sql::sqlite_error(db.raw(), rc, "prepare");
  for (size_t i = 0; i < pk.parts.size(); ++i) bind(st, static_cast<int>(i + 1), pk.parts[i]);
  rc = sqlite3_step(st);
  std::optional<KvWrite::Row> out;
  if (rc == SQLITE_ROW) {
    out.emplace();
    for (int i = 0; i < sqlite3_column_count(st); ++i) {
      if (sqlite3_column_type(st, i) == SQLITE_NULL) continue;
      auto* p = reinterpret_cast<const char*>(sqlite3_column_text(st, i));
      (*out)[sqlite3_column_name(st, i)] = std::string(p ? p : "", static_cast<size_t>(sqlite3_column_bytes(st, i)));
    }
  }
  sqlite3_finalize(st);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) return sql::sqlite_error(db.raw(), rc, "step");
  return out;
}

Status sqlite_status(sqlite3* db, int rc, const char* what) {
  if (rc == SQLITE_OK || rc == SQLITE_DONE || rc == SQLITE_ROW) return {};
  return sql::sqlite_error(db, rc, what);
}

// Rows of one table as (key, value) text, in primary key order.
Status scan_table(sql::Db& db, const TableInfo& t, const std::function<void(std::string, std::string)>& emit) {
  std::string cols;
  for (auto& c : t.pk) cols += (cols.empty() ? "" : ", ") + quote_ident(c);
  std::string order = cols;
  for (auto& c : t.rest) cols += ", " + quote_ident(c);
  std::string q = "SELECT " + cols + " FROM " + quote_ident(t.name) + " ORDER BY " + order;
  sqlite3_stmt* st = nullptr;
  int rc = sqlite3_prepare_v2(db.raw(), q.c_str(), -1, &st, nullptr);
  if (rc != SQLITE_OK) return sql::sqlite_error(db.raw(), rc, "prepare");
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    std::string key = kv_escape(t.name);
    for (size_t i = 0; i < t.pk.size(); ++i) key += "/" + encode(st, static_cast<int>(i));
    std::string val;
    for (size_t i = 0; i < t.rest.size(); ++i)
      val += (i ? " " : "") + kv_escape(t.rest[i]) + "=" + encode(st, static_cast<int>(t.pk.size() + i));
    emit(std::move(key), std::move(val));
  }
  sqlite3_finalize(st);
  return sqlite_status(db.raw(), rc, "step");
}

// "col=value col=value" -> column -> value.
Result<std::vector<std::pair<std::string, Value>>> parse_value(const TableInfo& t, std::string_view v) {
  std::vector<std::pair<std::string, Value>> out;
  while (!v.empty()) {
    size_t sp = v.find(' ');
    std::string_view tok = v.substr(0, sp);
    v = sp == std::string_view::npos ? std::string_view() : v.substr(sp + 1);
    if (tok.empty()) continue;
    size_t eq = tok.find('=');
    if (eq == std::string_view::npos) return Error(Errc::Invalid, "A value is column=value ...", std::string(tok));
    auto col = kv_unescape(tok.substr(0, eq));
    if (!col.ok()) return col.take_error();
    if (std::find(t.rest.begin(), t.rest.end(), *col) == t.rest.end())
      return Error(Errc::Invalid, "No such column (or it is part of the key)", t.name + "." + *col);
    auto val = decode(tok.substr(eq + 1));
    if (!val.ok()) return val.take_error();
    out.emplace_back(std::move(*col), std::move(*val));
  }
  return out;
}

// Reads one line (without '\n'); false at end of input. Bounded.
Result<bool> read_line(std::istream& in, std::string& line) {
  line.clear();
  auto* buf = in.rdbuf();
  for (;;) {
    int c = buf->sbumpc();
    if (c == std::char_traits<char>::eof()) return !line.empty();
    if (c == '\n') return true;
    if (line.size() >= KvDb::kMaxFlatLine) return Error(Errc::Limit, "Flat file line too long");
    line += static_cast<char>(c);
  }
}

}  // namespace

std::string kv_escape(std::string_view raw) {
  std::string out;
  out.reserve(raw.size());
  for (unsigned char c : raw) {
    if (needs_escape(c)) out += '%', out += kHex[c >> 4], out += kHex[c & 15];
    else out += static_cast<char>(c);
  }
  return out;
}

Result<std::string> kv_unescape(std::string_view e) {
  std::string out;
  out.reserve(e.size());
  for (size_t i = 0; i < e.size(); ++i) {
    if (e[i] != '%') {
      out += e[i];
      continue;
    }
    if (i + 2 >= e.size()) return Error(Errc::Invalid, "Bad %-escape", std::string(e));
    int a = hexval(e[i + 1]), b = hexval(e[i + 2]);
    if (a < 0 || b < 0) return Error(Errc::Invalid, "Bad %-escape", std::string(e));
    out += static_cast<char>(a * 16 + b);
    i += 2;
  }
  return out;
}

KvDb::KvDb(std::unique_ptr<sql::Db> db) : db_(std::move(db)) {}
KvDb::~KvDb() = default;

Result<std::unique_ptr<KvDb>> KvDb::open(const fs::path& path) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) return Error(Errc::NotFound, "No such database file", path.string());
  auto db = sql::Db::open(path.string(), false);
  if (!db.ok()) return db.take_error();
  return std::unique_ptr<KvDb>(new KvDb(std::move(*db)));
}

Result<std::vector<std::string>> KvDb::tables() {
  auto st = db_->prepare(
      "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%' ORDER BY name");
  if (!st.ok()) return st.take_error();
  std::vector<std::string> out;
  for (;;) {
    auto r = st->step();
    if (!r.ok()) return r.take_error();
    if (!*r) break;
    std::string n = st->text(0);
    auto info = table_info(*db_, n);
    if (info.ok()) out.push_back(n);
  }
  return out;
}

Result<std::vector<std::pair<std::string, std::string>>> KvDb::show(const std::string& prefix) {
  auto ts = tables();
  if (!ts.ok()) return ts.take_error();
  std::vector<std::pair<std::string, std::string>> out;
  CYR_TRY(db_->exec("BEGIN"));
  for (auto& t : *ts) {
    std::string tkey = kv_escape(t) + "/";
    // Skip whole tables the prefix rules out.
    if (prefix.size() >= tkey.size() ? prefix.compare(0, tkey.size(), tkey) != 0
                                     : tkey.compare(0, prefix.size(), prefix) != 0)
      continue;
    auto info = table_info(*db_, t);
    if (!info.ok()) continue;
    Status st = scan_table(*db_, *info, [&](std::string k, std::string v) {
      if (k.compare(0, prefix.size(), prefix) == 0) out.emplace_back(std::move(k), std::move(v));
    });
    if (!st.ok()) {
      (void)db_->exec("ROLLBACK");
      return st.take_error();
    }
  }
  (void)db_->exec("COMMIT");
  return out;
}

Result<std::optional<std::string>> KvDb::get(const std::string& key) {
  auto pk = parse_key(*db_, key);
  if (!pk.ok()) return pk.take_error();
  std::string cols;
  for (auto& c : pk->table.rest) cols += (cols.empty() ? "" : ", ") + quote_ident(c);
  if (cols.empty()) cols = "1";
  std::string q = "SELECT " + cols + " FROM " + quote_ident(pk->table.name) + where_pk(pk->table, 1);
  sqlite3_stmt* st = nullptr;
  int rc = sqlite3_prepare_v2(db_->raw(), q.c_str(), -1, &st, nullptr);
  if (rc != SQLITE_OK) return sql::sqlite_error(db_->raw(), rc, "prepare");
  for (size_t i = 0; i < pk->parts.size(); ++i) bind(st, static_cast<int>(i + 1), pk->parts[i]);
  rc = sqlite3_step(st);
  std::optional<std::string> out;
  if (rc == SQLITE_ROW) {
    std::string val;
    for (size_t i = 0; i < pk->table.rest.size(); ++i)
      val += (i ? " " : "") + kv_escape(pk->table.rest[i]) + "=" + encode(st, static_cast<int>(i));
    out = std::move(val);
  }
  sqlite3_finalize(st);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) return sql::sqlite_error(db_->raw(), rc, "step");
  return out;
}

Status KvDb::set(const std::string& key, const std::string& value, const KvWriteHook& hook) {
  auto pk = parse_key(*db_, key);
  if (!pk.ok()) return pk.take_error();
  auto cols = parse_value(pk->table, value);
  if (!cols.ok()) return cols.take_error();
  CYR_TRY(db_->exec("BEGIN IMMEDIATE"));
  auto run = [&]() -> Status {
    auto have = read_row(*db_, *pk);
    if (!have.ok()) return have.take_error();
    std::string q;
    size_t nparts = pk->parts.size();
    if (*have) {
      if (cols->empty()) return {};
      q = "UPDATE " + quote_ident(pk->table.name) + " SET ";
      for (size_t i = 0; i < cols->size(); ++i)
        q += (i ? ", " : "") + quote_ident((*cols)[i].first) + "=?" + std::to_string(nparts + i + 1);
      q += where_pk(pk->table, 1);
    } else {
      std::string names, params;
      for (size_t i = 0; i < nparts; ++i)
        names += (i ? ", " : "") + quote_ident(pk->table.pk[i]), params += (i ? ", ?" : "?") + std::to_string(i + 1);
      for (size_t i = 0; i < cols->size(); ++i)
        names += ", " + quote_ident((*cols)[i].first), params += ", ?" + std::to_string(nparts + i + 1);
      q = "INSERT INTO " + quote_ident(pk->table.name) + "(" + names + ") VALUES(" + params + ")";
    }
    sqlite3_stmt* st = nullptr;
    int rc = sqlite3_prepare_v2(db_->raw(), q.c_str(), -1, &st, nullptr);
    if (rc != SQLITE_OK) return sql::sqlite_error(db_->raw(), rc, "prepare");
    for (size_t i = 0; i < nparts; ++i) bind(st, static_cast<int>(i + 1), pk->parts[i]);
    for (size_t i = 0; i < cols->size(); ++i) bind(st, static_cast<int>(nparts + i + 1), (*cols)[i].second);
    rc = sqlite3_step(st);
    Status s = rc == SQLITE_DONE ? Status() : Status(sql::sqlite_error(db_->raw(), rc, "write"));
    sqlite3_finalize(st);
    if (!s.ok() || !hook) return s;
    auto now = read_row(*db_, *pk);
    if (!now.ok()) return now.take_error();
    return hook(*db_, KvWrite{pk->table.name, std::move(*have), std::move(*now)});
  };
  Status s = run();
  if (!s.ok()) {
    (void)db_->exec("ROLLBACK");
    return s;
  }
  return db_->exec("COMMIT");
}

Status KvDb::remove(const std::string& key, const KvWriteHook& hook) {
  auto pk = parse_key(*db_, key);
  if (!pk.ok()) return pk.take_error();
  CYR_TRY(db_->exec("BEGIN IMMEDIATE"));
  auto run = [&]() -> Status {
    auto have = read_row(*db_, *pk);
    if (!have.ok()) return have.take_error();
    if (!*have) return Error(Errc::NotFound, "No such key", key);
    std::string q = "DELETE FROM " + quote_ident(pk->table.name) + where_pk(pk->table, 1);
    sqlite3_stmt* st = nullptr;
    int rc = sqlite3_prepare_v2(db_->raw(), q.c_str(), -1, &st, nullptr);
    if (rc != SQLITE_OK) return sql::sqlite_error(db_->raw(), rc, "prepare");
    for (size_t i = 0; i < pk->parts.size(); ++i) bind(st, static_cast<int>(i + 1), pk->parts[i]);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE) return sql::sqlite_error(db_->raw(), rc, "delete");
    if (!hook) return {};
    return hook(*db_, KvWrite{pk->table.name, std::move(*have), std::nullopt});
  };
  Status s = run();
  if (!s.ok()) {
    (void)db_->exec("ROLLBACK");
    return s;
  }
  return db_->exec("COMMIT");
}

Status KvDb::consistent() {
  auto st = db_->prepare("PRAGMA integrity_check");
  if (!st.ok()) return st.take_error();
  auto r = st->step();
  if (!r.ok()) return r.take_error();
  std::string res = *r ? st->text(0) : "no result";
  if (res != "ok") return Error(Errc::Corrupted, "Database is damaged", res);
  return {};
}

Status KvDb::export_flat(std::ostream& out) {
  CYR_TRY(db_->exec("BEGIN"));
  auto body = [&]() -> Status {
    {
      auto v = db_->prepare("PRAGMA user_version");
      if (!v.ok()) return v.take_error();
      auto r = v->step();
      if (!r.ok()) return r.take_error();
      out << "@user_version\t" << (*r ? v->i64(0) : 0) << "\n";
    }
    auto s = db_->prepare(
        "SELECT sql FROM sqlite_master WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%'"
        " ORDER BY CASE type WHEN 'table' THEN 0 ELSE 1 END, name");
    if (!s.ok()) return s.take_error();
    int n = 0;
    for (;;) {
      auto r = s->step();
      if (!r.ok()) return r.take_error();
      if (!*r) break;
      char num[16];
      snprintf(num, sizeof num, "%04d", n++);
      out << "@sql/" << num << "\t" << kv_escape(s->text(0)) << "\n";
    }
    auto ts = tables();
    if (!ts.ok()) return ts.take_error();
    for (auto& t : *ts) {
      auto info = table_info(*db_, t);
      if (!info.ok()) return info.take_error();
      CYR_TRY(scan_table(*db_, *info, [&](std::string k, std::string v) { out << k << "\t" << v << "\n"; }));
    }
    out.flush();
    if (!out) return Error(Errc::Io, "Cannot write the flat file");
    return {};
  };
  Status st = body();
  (void)db_->exec("COMMIT");
  return st;
}

Status KvDb::import_flat(std::istream& in, const fs::path& new_db) {
  std::error_code ec;
  if (fs::exists(new_db, ec)) return Error(Errc::Exists, "Target database exists; it is never overwritten", new_db.string());
  auto opened = sql::Db::open(new_db.string(), true);
  if (!opened.ok()) return opened.take_error();
  auto& db = **opened;
  CYR_TRY(db.exec("BEGIN"));
  std::map<std::string, TableInfo> infos;
  bool rows_started = false;
  std::string line;
  size_t lineno = 0;
  auto body = [&]() -> Status {
    for (;;) {
      auto more = read_line(in, line);
      if (!more.ok()) return more.take_error();
      if (!*more) break;
      ++lineno;
      auto bad = [&](const std::string& why) {
        return Error(Errc::Invalid, "Bad flat file line " + std::to_string(lineno), why);
      };
      size_t tab = line.find('\t');
      if (tab == std::string::npos) return bad("no TAB between key and value");
      std::string key = line.substr(0, tab), value = line.substr(tab + 1);
      if (key == "@user_version") {
        int64_t v;
        if (!canonical_int(value, v)) return bad("user_version is not a number");
        std::string q = "PRAGMA user_version = " + std::to_string(v);
        CYR_TRY(db.exec(q.c_str()));
        continue;
      }
      if (key.starts_with("@sql/")) {
        if (rows_started) return bad("schema after rows");
        auto sqltext = kv_unescape(value);
        if (!sqltext.ok()) return sqltext.take_error();
        // Only schema: a flat file is data, never a script.
        const std::string& s = *sqltext;
        if (!(s.starts_with("CREATE TABLE ") || s.starts_with("CREATE INDEX ") || s.starts_with("CREATE UNIQUE INDEX ")) ||
            s.find(';') != std::string::npos)
          return bad("only CREATE TABLE / CREATE INDEX statements may appear");
        CYR_TRY(db.exec(s.c_str()));
        continue;
      }
      rows_started = true;
      size_t slash = key.find('/');
      if (slash == std::string::npos) return bad("key has no table");
      auto tname = kv_unescape(key.substr(0, slash));
      if (!tname.ok()) return tname.take_error();
      auto it = infos.find(*tname);
      if (it == infos.end()) {
        auto info = table_info(db, *tname);
        if (!info.ok()) return bad(info.error().describe());
        it = infos.emplace(*tname, std::move(*info)).first;
      }
      auto pk = parse_key(db, key);
      if (!pk.ok()) return bad(pk.error().describe());
      auto cols = parse_value(it->second, value);
      if (!cols.ok()) return bad(cols.error().describe());
      std::string names, params;
      size_t nparts = pk->parts.size();
      for (size_t i = 0; i < nparts; ++i)
        names += (i ? ", " : "") + quote_ident(it->second.pk[i]), params += i ? ", ?" : "?";
      for (auto& [c, v] : *cols) names += ", " + quote_ident(c), params += ", ?";
      std::string q = "INSERT INTO " + quote_ident(*tname) + "(" + names + ") VALUES(" + params + ")";
      sqlite3_stmt* ins = nullptr;
      int rc = sqlite3_prepare_v2(db.raw(), q.c_str(), -1, &ins, nullptr);
      if (rc != SQLITE_OK) return sql::sqlite_error(db.raw(), rc, "prepare");
      for (size_t i = 0; i < nparts; ++i) bind(ins, static_cast<int>(i + 1), pk->parts[i]);
      for (size_t i = 0; i < cols->size(); ++i) bind(ins, static_cast<int>(nparts + i + 1), (*cols)[i].second);
      rc = sqlite3_step(ins);
      sqlite3_finalize(ins);
      if (rc != SQLITE_DONE) return bad(sql::sqlite_error(db.raw(), rc, "insert").describe());
    }
    return {};
  };
  Status st = body();
  if (st.ok()) st = db.exec("COMMIT");
  if (!st.ok()) {
    (void)db.exec("ROLLBACK");
    opened->reset();
    for (const char* side : {"", "-wal", "-shm"}) fs::remove(new_db.string() + side, ec);
    return st;
  }
  return {};
}

}  // namespace cyr::store
