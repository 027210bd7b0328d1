// cyr_reconstruct [-C imapd.conf] [-r] [-f] [-n] [-G] [-V N|max] [-p partition]
//                 [mailbox...]   and   cyr_reconstruct -m [-n] [--force]
// Rebuilds mailbox indexes from the message files (store/reconstruct.h) or,
// with -m, the mailbox list from the shard databases and partitions. The
// work is the store's; this file parses arguments, picks the mailboxes,
// prints findings and a progress line on a terminal.
#include <unistd.h>

#include <cstdio>
#include <deque>
#include <set>
#include <string>
#include <vector>

#include "ops/adm/common.h"
#include "ops/adm/node_lock.h"
#include "ops/commands.h"
#include "store/layout.h"
#include "store/quota_recompute.h"
#include "store/mail/mboxname.h"
#include "store/reconstruct.h"

namespace cyr::ops {
namespace {

constexpr const char* kReconstructUsage =
    "usage: cyr_reconstruct [-C imapd.conf] [-r] [-f] [-n] [-G] [-V N|max] [-p partition] [mailbox...]\n"
    "       cyr_reconstruct [-C imapd.conf] -m [-n] [--force]\n"
    "  -r          also every mailbox below each named one\n"
    "  -f          also directories on disk that are not in the mailbox list\n"
    "  -n          report what would change, change nothing\n"
    "  -G          read every message file and fix GUID mismatches\n"
    "  -V N|max    index format version to upgrade to (this build has version 1 only)\n"
    "  -p part     only mailboxes on this partition\n"
    "  -m          rebuild the mailbox list (mailboxes.db); the node must be stopped\n"
    "  --force     with -m: even though a cyr_master seems to run\n"
    "With no mailbox, every mailbox is reconstructed.\n";

struct ReconstructArgs {
  std::string conf_path = "/etc/imapd.conf";
  bool recursive = false, find_dirs = false, dry_run = false, rehash = false, rebuild_list = false,
       force = false;
  std::optional<int64_t> version;  // -V
  std::string partition;
  std::vector<std::string> mailboxes;
};

bool parse_reconstruct_args(int argc, char** argv, ReconstructArgs& a) {
  for (int i = 1; i < argc; ++i) {
    std::string_view s = argv[i];
    if ((s == "-C" || s == "-V" || s == "-p") && i + 1 >= argc) {
      fprintf(stderr, "cyr_reconstruct: %s needs an argument\n", argv[i]);
      return false;
    }
    if (s == "-C") a.conf_path = argv[++i];
    else if (s == "-p") a.partition = argv[++i];
    else if (s == "-V") {
      std::string v = argv[++i];
      if (v == "max") a.version = store::layout::kIndexVersionMax;
      else if (!v.empty() && v.size() <= 6 && v.find_first_not_of("0123456789") == std::string::npos)
        a.version = std::stoll(v);
      else {
        fprintf(stderr, "cyr_reconstruct: -V takes a version number or \"max\", not %s\n", v.c_str());
        return false;
      }
    } else if (s == "-r") a.recursive = true;
    else if (s == "-f") a.find_dirs = true;
    else if (s == "-n") a.dry_run = true;
    else if (s == "-G") a.rehash = true;
    else if (s == "-m") a.rebuild_list = true;
    else if (s == "--force") a.force = true;
    else if (s == "-h" || s == "--help") return false;
    else if (!s.empty() && s[0] == '-') {
      fprintf(stderr, "cyr_reconstruct: unknown option %s\n", argv[i]);
      return false;
    } else {
      a.mailboxes.emplace_back(s);
    }
  }
  if (a.rebuild_list && (a.recursive || a.find_dirs || a.rehash || a.version || !a.mailboxes.empty())) {
    fprintf(stderr, "cyr_reconstruct: -m takes no mailbox and only -n, --force\n");
    return false;
  }
  if (a.force && !a.rebuild_list) {
    fprintf(stderr, "cyr_reconstruct: --force only applies to -m\n");
    return false;
  }
  if (a.version && (*a.version < store::layout::kIndexVersionMin || *a.version > store::layout::kIndexVersionMax)) {
    fprintf(stderr, "cyr_reconstruct: no index format version %lld; this build has version %lld only\n",
            static_cast<long long>(*a.version), static_cast<long long>(store::layout::kIndexVersionMax));
    return false;
  }
  return true;
}

int rebuild_list(const ReconstructArgs& args, store::RepairOptions opts) {
  auto running = adm::running_master(opts.configdirectory);
  if (running && !args.dry_run && !args.force) {
    fprintf(stderr,
            "cyr_reconstruct: cyr_master (pid %s) is running on %s; stop it before rebuilding the mailbox "
            "list (or use --force if that pid file is stale)\n",
            running->c_str(), opts.configdirectory.c_str());
    return adm::kExTempFail;
  }
  opts.node_running = false;  // checked above; --force overrides
  store::Repairer rep(opts, [](const std::string& line) { printf("%s\n", line.c_str()); });
  auto r = rep.rebuild_list();
  if (!r.ok()) {
    fprintf(stderr, "cyr_reconstruct: rebuilding the mailbox list failed, nothing replaced: %s\n",
            r.error().describe().c_str());
    return adm::kExSoftware;
  }
  printf("mailbox list %s: %zu mailboxes (%zu from the old list, %zu from shard databases), %zu shards, "
         "%zu unknown directories\n",
         args.dry_run ? "would be rebuilt" : "rebuilt", r->mailboxes, r->from_old_list, r->from_shards, r->shards,
         r->unknown.size());
  if (!r->old_list_saved_as.empty()) printf("old mailbox list saved as %s\n", r->old_list_saved_as.c_str());
  if (r->logged) printf("%zu mailboxes logged for replication (sent to the replica once the node runs)\n", r->logged);
  if (r->from_shards && !args.dry_run)
    printf("mailboxes listed from shards have the default ACL; check them with cyr_mboxlist -d\n");
  return 0;
}

}  // namespace

int reconstruct_main(int argc, char** argv) {
  ReconstructArgs args;
  if (!parse_reconstruct_args(argc, argv, args)) {
    fputs(kReconstructUsage, stderr);
    return adm::kExUsage;
  }
  adm::OpenedStore node;
  if (int rc = adm::open_node("cyr_reconstruct", args.conf_path, false, node)) return rc;
  if (!args.partition.empty() && !node.options.partitions.count(args.partition)) {
    fprintf(stderr, "cyr_reconstruct: partition %s is not configured in %s\n", args.partition.c_str(),
            args.conf_path.c_str());
    return adm::kExUsage;
  }
  store::RepairOptions opts = store::RepairOptions::from(node.options);
  opts.dry_run = args.dry_run;
  opts.rehash = args.rehash;
  if (args.rebuild_list) return rebuild_list(args, opts);
  opts.node_running = adm::running_master(opts.configdirectory).has_value();

  int rc = 0;
  store::Repairer rep(opts, [](const std::string& line) { printf("%s\n", line.c_str()); });
  std::vector<std::string> roots = args.mailboxes;

  // -f: directories the list does not know; re-list those a shard still names.
  if (args.find_dirs) {
    auto dirs = rep.unlisted_directories(args.partition);
    if (!dirs.ok()) {
      fprintf(stderr, "cyr_reconstruct: scanning partitions: %s\n", dirs.error().describe().c_str());
      return adm::kExSoftware;
    }
    for (auto& d : *dirs) {
      bool wanted = roots.empty();
      for (auto& r : roots)
        wanted |= !d.known_name.empty() && mail::mboxname_is_same_or_below(d.known_name, r);
      if (!wanted) continue;
      if (d.known_name.empty()) {
        printf("%s: %zu message files, no database names this mailbox: left in place\n", d.path.c_str(),
               d.message_files);
        continue;
      }
      Status st = rep.relist(d);
      if (!st.ok()) {
        printf("%s: cannot list %s again: %s\n", d.path.c_str(), d.known_name.c_str(), st.error().describe().c_str());
        rc = 1;
        continue;
      }
      printf("%s: %s to the mailbox list (from shard %llu)\n", d.known_name.c_str(),
             args.dry_run ? "would be added" : "added", static_cast<unsigned long long>(d.shard_id));
      if (roots.empty() || !args.recursive) roots.push_back(d.known_name);
    }
  }

  // Which mailboxes, in order, without repeats.
  std::deque<std::string> queue;
  std::set<std::string> queued;
  auto enqueue = [&](const std::string& n) {
    if (queued.insert(n).second) queue.push_back(n);
  };
  if (args.mailboxes.empty() && !args.find_dirs) {
    auto all = rep.listed("", true, args.partition);
    if (!all.ok()) {
      fprintf(stderr, "cyr_reconstruct: %s\n", all.error().describe().c_str());
      return adm::kExNoInput;
    }
    for (auto& n : *all) enqueue(n);
  } else {
    for (auto& r : roots) {
      auto names = rep.listed(r, args.recursive, args.partition);
      if (!names.ok()) {
        fprintf(stderr, "cyr_reconstruct: %s\n", names.error().describe().c_str());
        return adm::kExNoInput;
      }
      if (names->empty() && !args.dry_run) {
        fprintf(stderr, "cyr_reconstruct: %s: mailbox does not exist (cyr_reconstruct -f finds unlisted ones)\n",
                r.c_str());
        rc = 1;
      }
      for (auto& n : *names) enqueue(n);
    }
  }

  bool tty = isatty(STDERR_FILENO);
  size_t done = 0, changed = 0, failed = 0;
  std::set<std::string> version_checked;
  while (!queue.empty()) {
    std::string name = queue.front();
    queue.pop_front();
    if (tty) fprintf(stderr, "\rcyr_reconstruct: %zu/%zu mailboxes ", done, done + queue.size() + 1);
    auto r = rep.reconstruct(name);
    ++done;
    if (!r.ok()) {
      if (tty) fputc('\n', stderr);
      fprintf(stderr, "cyr_reconstruct: %s: %s\n", name.c_str(), r.error().describe().c_str());
      ++failed;
      continue;
    }
    if (r->shard_replaced) {
      // The whole shard database was recreated: its other mailboxes need it too.
      auto others = rep.mailboxes_of_shard(r->shard_id);
      if (others.ok())
        for (auto& n : *others) enqueue(n);
    }
    if (r->changed()) {
      ++changed;
      printf("%s: %u messages, last uid %u, highest modseq %llu%s\n", name.c_str(), r->exists, r->last_uid,
             static_cast<unsigned long long>(r->highestmodseq), args.dry_run ? " (dry run: nothing changed)" : "");
    }
    if (args.version) {
      auto path = store::shard_db_path(opts.configdirectory, name);
      if (path.ok() && version_checked.insert(path->string()).second) {
        auto v = store::index_format_version(*path);
        int64_t have = v.ok() ? std::max<int64_t>(*v, store::layout::kIndexVersionMin) : 0;
        if (!v.ok())
          printf("%s: index version unknown: %s\n", name.c_str(), v.error().describe().c_str());
        else if (have >= *args.version)
          printf("%s: index already at version %lld\n", name.c_str(), static_cast<long long>(have));
      }
    }
  }
  if (tty) fprintf(stderr, "\rcyr_reconstruct: %zu/%zu mailboxes\n", done, done);
  printf("%zu mailboxes checked, %zu %s, %zu failed\n", done, changed,
         args.dry_run ? "would change" : "changed", failed);
  return failed ? 1 : rc;
}

}  // namespace cyr::ops
