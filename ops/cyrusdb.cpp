// cyr_cyrusdb [-C imapd.conf] -r [-F] | -c [-k N] | --restore DIR [--only LABEL]... [--force]
// Cyrus's ctl_cyrusdb (seed 001 renames ctl_* to cyr_*; cyrus.conf's
// "ctl_cyrusdb -r" START entry maps here):
//   -r  recover: open every database (SQLite replays its WAL), verify it
//       (quick_check; -F: integrity_check), remove leftovers of interrupted
//       checkpoints, rebuilds and restores. Exit 1 if a database is damaged.
//   -c  checkpoint: a consistent online copy of every database, zstd
//       compressed, into {configdirectory}/db.backup1, keeping N (default 2).
//   --restore DIR: put the databases of checkpoint DIR (or only the named
//       ones) back in place. The node must be stopped.
// The work is store/db_files.h's; this file parses and prints.
#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include "ops/adm/common.h"
#include "ops/adm/node_lock.h"
#include "ops/commands.h"
#include "store/config/paths.h"
#include "store/db_files.h"

namespace cyr::ops {
namespace {

constexpr const char* kCyrusdbUsage =
    "usage: cyr_cyrusdb [-C imapd.conf] -r [-F]\n"
    "       cyr_cyrusdb [-C imapd.conf] -c [-k N]\n"
    "       cyr_cyrusdb [-C imapd.conf] --restore DIR [--only LABEL]... [--force]\n"
    "  -r              recover and verify every database (run at START)\n"
    "  -F              with -r: full integrity_check instead of quick_check\n"
    "  -c              checkpoint every database into {configdirectory}/db.backup1\n"
    "  -k N            with -c: checkpoints to keep (db.backup1..N), default 2\n"
    "  --restore DIR   restore the databases of a checkpoint directory (node stopped)\n"
    "  --only LABEL    with --restore: only this database (e.g. mailboxes.db); repeatable\n"
    "  --force         with --restore: even though a cyr_master seems to run\n";

struct CyrusdbArgs {
  std::string conf_path = "/etc/imapd.conf";
  bool recover = false, full = false, checkpoint = false, force = false;
  int keep = 2;
  std::string restore_dir;
  std::vector<std::string> only;
};

bool parse_cyrusdb_args(int argc, char** argv, CyrusdbArgs& a) {
  for (int i = 1; i < argc; ++i) {
    std::string_view s = argv[i];
    if ((s == "-C" || s == "-k" || s == "--restore" || s == "--only") && i + 1 >= argc) {
      fprintf(stderr, "cyr_cyrusdb: %s needs an argument\n", argv[i]);
      return false;
    }
    if (s == "-C") a.conf_path = argv[++i];
    else if (s == "-r") a.recover = true;
    else if (s == "-F") a.full = true;
    else if (s == "-c") a.checkpoint = true;
    else if (s == "--force") a.force = true;
    else if (s == "--restore") a.restore_dir = argv[++i];
    else if (s == "--only") a.only.emplace_back(argv[++i]);
    else if (s == "-k") {
      std::string v = argv[++i];
      if (v.empty() || v.size() > 2 || v.find_first_not_of("0123456789") != std::string::npos || std::stoi(v) < 1) {
        fprintf(stderr, "cyr_cyrusdb: -k takes a number from 1 to 99\n");
        return false;
      }
      a.keep = std::stoi(v);
    } else {
      fprintf(stderr, "cyr_cyrusdb: unknown argument %s\n", argv[i]);
      return false;
    }
  }
  int modes = a.recover + a.checkpoint + !a.restore_dir.empty();
  if (modes != 1) {
    fprintf(stderr, "cyr_cyrusdb: give exactly one of -r, -c, --restore\n");
    return false;
  }
  if ((a.full && !a.recover) || (!a.only.empty() && a.restore_dir.empty()) || (a.force && a.restore_dir.empty())) {
    fprintf(stderr, "cyr_cyrusdb: -F goes with -r; --only and --force go with --restore\n");
    return false;
  }
  return true;
}

}  // namespace

int cyrusdb_main(int argc, char** argv) {
  CyrusdbArgs args;
  if (!parse_cyrusdb_args(argc, argv, args)) {
    fputs(kCyrusdbUsage, stderr);
    return adm::kExUsage;
  }
  adm::OpenedStore node;
  if (int rc = adm::open_node("cyr_cyrusdb", args.conf_path, false, node)) return rc;
  const auto& confdir = node.options.configdirectory;
  std::filesystem::path dup_path;
  {
    auto conf = config::ImapdConf::load(args.conf_path, nullptr);
    if (conf.ok()) {
      auto paths = config::Paths::from_config(*conf);
      if (paths.ok()) dup_path = paths->duplicate_db_path;
    }
  }
  if (!std::filesystem::is_directory(confdir)) {
    fprintf(stderr, "cyr_cyrusdb: configdirectory %s does not exist\n", confdir.c_str());
    return adm::kExNoInput;
  }
  bool tty = isatty(STDERR_FILENO);

  if (args.recover) {
    // Leftovers younger than this may belong to work still running.
    constexpr int64_t kLeftoverAge = 600;
    for (auto& p : store::remove_leftovers(confdir, kLeftoverAge, false))
      printf("removed leftover %s\n", p.c_str());
    auto dbs = store::node_databases(confdir, dup_path);
    size_t bad = 0, done = 0;
    for (auto& db : dbs) {
      if (tty) fprintf(stderr, "\rcyr_cyrusdb: checking %zu/%zu databases ", done, dbs.size());
      Status st = store::check_database(db.path, args.full);
      ++done;
      if (st.ok()) continue;
      ++bad;
      if (tty) fputc('\n', stderr);
      std::string fix = db.label == "mailboxes.db"
                            ? "restore it (cyr_cyrusdb --restore DIR --only mailboxes.db) or rebuild it (cyr_reconstruct -m)"
                        : db.label.starts_with("shards/")
                            ? "run cyr_reconstruct on its mailboxes (cyr_mbpath -m names a mailbox's database)"
                            : "restore it from a checkpoint (cyr_cyrusdb --restore DIR --only " + db.label + ")";
      printf("%s: DAMAGED: %s; %s\n", db.label.c_str(), st.error().describe().c_str(), fix.c_str());
    }
    if (tty) fprintf(stderr, "\rcyr_cyrusdb: checked %zu/%zu databases\n", done, dbs.size());
    printf("%zu databases checked, %zu damaged\n", dbs.size(), bad);
    return bad ? 1 : 0;
  }

  if (args.checkpoint) {
    auto dbs = store::node_databases(confdir, dup_path);
    auto r = store::checkpoint(confdir, dbs, args.keep, [&](size_t d, size_t t) {
      if (tty) fprintf(stderr, "\rcyr_cyrusdb: checkpoint %zu/%zu databases ", d, t);
    });
    if (tty) fputc('\n', stderr);
    if (!r.ok()) {
      fprintf(stderr, "cyr_cyrusdb: checkpoint failed, the previous checkpoints are unchanged: %s\n",
              r.error().describe().c_str());
      return adm::kExSoftware;
    }
    uint64_t bytes = 0, comp = 0;
    for (auto& e : *r) bytes += e.bytes, comp += e.compressed;
    printf("checkpoint of %zu databases (%llu bytes, %llu compressed) in %s\n", r->size(),
           static_cast<unsigned long long>(bytes), static_cast<unsigned long long>(comp),
           (confdir / "db.backup1").c_str());
    return 0;
  }

  // --restore
  if (auto running = adm::running_master(confdir); running && !args.force) {
    fprintf(stderr,
            "cyr_cyrusdb: cyr_master (pid %s) is running on %s; stop it before restoring databases "
            "(or use --force if that pid file is stale)\n",
            running->c_str(), confdir.c_str());
    return adm::kExTempFail;
  }
  auto r = store::restore_checkpoint(args.restore_dir, args.only);
  if (!r.ok()) {
    fprintf(stderr, "cyr_cyrusdb: restore stopped: %s\n", r.error().describe().c_str());
    return r.error().code == Errc::NotFound ? adm::kExNoInput : adm::kExSoftware;
  }
  for (auto& d : *r) {
    printf("restored %s to %s", d.entry.db.label.c_str(), d.entry.db.path.c_str());
    if (!d.saved_as.empty()) printf(" (previous file saved as %s)", d.saved_as.c_str());
    printf("\n");
  }
  printf("%zu databases restored; mailboxes changed since the checkpoint: run cyr_reconstruct on them\n",
         r->size());
  return 0;
}

}  // namespace cyr::ops
