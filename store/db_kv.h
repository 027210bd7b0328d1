// Any of the node's SQLite databases seen as keys and values, for
// cyr_dbtool (get/set/delete/show) and cyr_cvt_cyrusdb (sqlite <-> flat).
//
// Every table with a primary key is a key space:
//   key   = <table>/<pk value>[/<pk value>...]      e.g. "mailbox/user.fred"
//   value = <column>=<value> ... for the other columns, space-separated,
//           e.g. "uniqueid=4f.. shard_id=3 partition=default acl=fred%09lrs%09 ..."
// Values are typed: decimal digits are an integer, "%N" NULL, "%B<hex>" a
// blob, "%R<number>" a real, "%T<text>" a text that looks like a number; any
// other text is percent-escaped: '%', '/', '=', space and control bytes as
// %XX. So a key or value never contains a space (values), '/' (key parts),
// TAB or newline, and the flat format is one "key TAB value" per line.
//
// The flat form of a database starts with "@user_version TAB n" and
// "@sql/NNNN TAB <CREATE statement>" lines (its schema), then every row, so
// sqlite -> flat -> sqlite gives the same tables, rows and types.
//
// A KvDb owns one connection; one thread at a time.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <iosfwd>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "store/base/result.h"

namespace cyr::store {
namespace sql {
class Db;
}

// One row written by set()/remove(), for a write hook: its table and the
// row before and after the write (column -> value as SQLite's text of it; a
// NULL column is absent; nullopt: no such row).
struct KvWrite {
  using Row = std::map<std::string, std::string>;
  std::string table;
  std::optional<Row> before, after;
};
// Runs inside set()/remove()'s write transaction, after the row is written
// and before the commit; an error rolls the write back and is returned.
// (cyr_dbtool logs the change for replication through one:
// store/tool_changes.h.)
using KvWriteHook = std::function<Status(sql::Db&, const KvWrite&)>;

class KvDb {
 public:
  // Opens an existing database (Errc::NotFound if there is no such file).
  static Result<std::unique_ptr<KvDb>> open(const std::filesystem::path& path);
  ~KvDb();

  // Table names that are key spaces (have a primary key), sorted.
  Result<std::vector<std::string>> tables();
  // Every key starting with `prefix`, with its value, in key order per table.
  Result<std::vector<std::pair<std::string, std::string>>> show(const std::string& prefix);
  Result<std::optional<std::string>> get(const std::string& key);
  // Writes the columns named in `value`; on an existing row the others keep
  // their values, on a new row they are NULL (a NOT NULL column then fails).
  Status set(const std::string& key, const std::string& value, const KvWriteHook& hook = {});
  Status remove(const std::string& key, const KvWriteHook& hook = {});  // Errc::NotFound if absent
  // PRAGMA integrity_check.
  Status consistent();

  // The flat form (see above), and its reverse into a new file.
  Status export_flat(std::ostream& out);
  static Status import_flat(std::istream& in, const std::filesystem::path& new_db);

  static constexpr size_t kMaxFlatLine = 16u << 20;

 private:
  explicit KvDb(std::unique_ptr<sql::Db> db);
  std::unique_ptr<sql::Db> db_;
};

// The escaping used in keys and values (exposed for tests).
std::string kv_escape(std::string_view raw);
Result<std::string> kv_unescape(std::string_view escaped);

}  // namespace cyr::store
