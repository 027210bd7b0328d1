// cyr_dbtool [-C imapd.conf] <db path> <format> <action> [args]: look at and
// edit the keys of any of the node's databases (store/db_kv.h): every table
// with a primary key is a key space "<table>/<key>". Actions:
//   show [prefix] | get <key> | set <key> <value> | delete <key> | consistent
// A relative <db path> is taken in configdirectory ("mailboxes.db"). The only
// format is "sqlite" (Cyrus's twoskip/skiplist/flat files are converted with
// cyr_cvt_cyrusdb). Index records (tables record, structure) and the
// replication log (change) are read-only here: they carry checksums and
// ordering that cyr_reconstruct and the sync client own.
//
// set and delete on the node's mailbox list or a shard database log what
// they changed for replication, in the same transaction
// (store/tool_changes.h), so a rolling replica follows an admin's repair on
// the primary. Which node that is comes from imapd.conf; a database outside
// its configdirectory (a checkpoint copy) is written without a record.
#include <cstdio>
#include <optional>
#include <string>

#include "ops/adm/common.h"
#include "ops/commands.h"
#include "store/db_kv.h"
#include "store/tool_changes.h"

namespace cyr::ops {
namespace {

constexpr const char* kDbtoolUsage =
    "usage: cyr_dbtool [-C imapd.conf] <db path> sqlite show [prefix]\n"
    "       cyr_dbtool [-C imapd.conf] <db path> sqlite get <key>\n"
    "       cyr_dbtool [-C imapd.conf] <db path> sqlite set <key> <value>\n"
    "       cyr_dbtool [-C imapd.conf] <db path> sqlite delete <key>\n"
    "       cyr_dbtool [-C imapd.conf] <db path> sqlite consistent\n"
    "  key   = <table>/<primary key value>[/...], e.g. mailbox/user.fred\n"
    "  value = column=value ..., e.g. \"acl=fred%09lrswipkxtecdan%09\"\n"
    "  a relative <db path> is in configdirectory; \"show\" lists the keys\n";

bool read_only_table(const std::string& key) {
  for (const char* t : {"record/", "structure/", "change/"})
    if (key.starts_with(t)) return true;
  return false;
}

}  // namespace

int dbtool_main(int argc, char** argv) {
  std::string conf_path = "/etc/imapd.conf";
  bool conf_given = false;
  std::vector<std::string> pos;
  for (int i = 1; i < argc; ++i) {
    std::string_view s = argv[i];
    if (s == "-C" && i + 1 < argc) conf_path = argv[++i], conf_given = true;
    else if (s == "-h" || s == "--help") pos.clear(), pos.resize(0), i = argc;
    else pos.emplace_back(s);
  }
  auto usage = [] {
    fputs(kDbtoolUsage, stderr);
    return adm::kExUsage;
  };
  if (pos.size() < 3) return usage();
  const std::string& action = pos[2];
  size_t want = action == "show" ? 3 : action == "get" || action == "delete" ? 4 : action == "set" ? 5
              : action == "consistent" ? 3 : 0;
  if (!want || pos.size() < want || pos.size() > (action == "show" ? 4u : want)) return usage();
  if (pos[1] != "sqlite") {
    fprintf(stderr, "cyr_dbtool: format %s is not supported: this server's databases are \"sqlite\" "
                    "(convert other formats with cyr_cvt_cyrusdb)\n", pos[1].c_str());
    return adm::kExUsage;
  }
  std::filesystem::path db_path = pos[0];
  std::optional<std::filesystem::path> configdirectory;
  if (db_path.is_relative()) {
    adm::OpenedStore node;
    if (int rc = adm::open_node("cyr_dbtool", conf_path, false, node)) {
      if (!conf_given) fprintf(stderr, "cyr_dbtool: (give an absolute <db path>, or -C imapd.conf)\n");
      return rc;
    }
    configdirectory = node.options.configdirectory;
    db_path = *configdirectory / db_path;
  } else if (action == "set" || action == "delete") {
    // Only to know whether this is one of the node's databases: an absolute
    // path has always worked without an imapd.conf.
    auto conf = config::ImapdConf::load(conf_path, nullptr);
    if (conf.ok())
      if (auto o = store::options_from_config(*conf); o.ok()) configdirectory = o->configdirectory;
  }
  auto db = store::KvDb::open(db_path);
  if (!db.ok()) {
    fprintf(stderr, "cyr_dbtool: %s: %s\n", db_path.c_str(), db.error().describe().c_str());
    return db.error().code == Errc::NotFound ? adm::kExNoInput : adm::kExSoftware;
  }
  auto& kv = **db;
  if (action == "show") {
    auto rows = kv.show(pos.size() > 3 ? pos[3] : "");
    if (!rows.ok()) {
      fprintf(stderr, "cyr_dbtool: %s\n", rows.error().describe().c_str());
      return adm::kExSoftware;
    }
    for (auto& [k, v] : *rows) printf("%s\t%s\n", k.c_str(), v.c_str());
    return 0;
  }
  if (action == "consistent") {
    Status st = kv.consistent();
    if (!st.ok()) {
      printf("%s: not consistent: %s\n", db_path.c_str(), st.error().describe().c_str());
      return 1;
    }
    printf("%s: consistent\n", db_path.c_str());
    return 0;
  }
  const std::string& key = pos[3];
  if (action == "get") {
    auto v = kv.get(key);
    if (!v.ok()) {
      fprintf(stderr, "cyr_dbtool: %s\n", v.error().describe().c_str());
      return adm::kExDataErr;
    }
    if (!*v) {
      fprintf(stderr, "cyr_dbtool: %s: no such key\n", key.c_str());
      return 1;
    }
    printf("%s\t%s\n", key.c_str(), (*v)->c_str());
    return 0;
  }
  if (read_only_table(key)) {
    fprintf(stderr, "cyr_dbtool: %s: index records and the replication log are read-only here "
                    "(use cyr_reconstruct to repair an index)\n", key.c_str());
    return adm::kExUsage;
  }
  store::NodeDb which;
  if (configdirectory) which = store::classify_node_db(*configdirectory, db_path);
  size_t logged = 0;
  store::KvWriteHook hook = configdirectory ? store::replication_log_hook(*configdirectory, which, &logged)
                                            : store::KvWriteHook{};
  Status st = action == "set" ? kv.set(key, pos[4], hook) : kv.remove(key, hook);
  if (!st.ok()) {
    fprintf(stderr, "cyr_dbtool: %s %s: %s\n", action.c_str(), key.c_str(), st.error().describe().c_str());
    return st.error().code == Errc::NotFound ? 1 : adm::kExDataErr;
  }
  if (!configdirectory)
    fprintf(stderr, "cyr_dbtool: %s not read: no change record was written for replication (give -C "
                    "imapd.conf if this is a node's database)\n", conf_path.c_str());
  else if (which.kind == store::NodeDb::Kind::Foreign)
    fprintf(stderr, "cyr_dbtool: %s is not a database of the node configured in %s: no change record was "
                    "written for replication\n", db_path.c_str(), conf_path.c_str());
  return 0;
}

}  // namespace cyr::ops
