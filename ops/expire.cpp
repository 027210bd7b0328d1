// cyr_expire: the periodic housekeeping pass of a node (cyrus.conf EVENTS runs
// it, typically "cyr_expire -E 3" once a night):
//   - prunes the duplicate-delivery database of entries older than -E;
//   - expunges messages older than the /vendor/cmu/cyrus-imapd/expire
//     annotation of their mailbox (inherited from the nearest ancestor that
//     has one; 0 means never), as Cyrus does;
//   - purges expunged messages (tombstones and their files, kept by the
//     "delayed" expunge mode so cyr_unexpunge can restore them) older than -X.
// Deleted mailboxes (-D): our store deletes a mailbox at once (no "delayed"
// delete mode), so there is nothing to remove later; -D is accepted so that
// Cyrus's EVENTS lines run unchanged, and -v says so.
//
// Safe while the node runs: every change goes through the store's group
// commit, like a client's EXPUNGE, and is replicated. On a replica only the
// duplicate-database prune and the purge run (the annotation expiry arrives
// from the primary as expunges).
#include <unistd.h>

#include <cstdio>
#include <ctime>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "ops/adm/common.h"
#include "ops/adm/duplicate_prune.h"
#include "ops/adm/housekeeping.h"
#include "ops/commands.h"

namespace cyr::ops {
namespace {

constexpr const char* kExpireUsage =
    "usage: cyr_expire [-C imapd.conf] [-E duration] [-X duration] [-D duration]\n"
    "                  [-p mailbox-prefix] [-u user] [-a] [-x] [-n] [-v]\n"
    "  -E dur   prune duplicate-delivery entries older than dur\n"
    "  -X dur   purge messages expunged more than dur ago (files are removed)\n"
    "  -D dur   accepted for Cyrus compatibility: mailboxes are deleted at once here\n"
    "  -p pfx   only mailboxes whose name starts with pfx\n"
    "  -u user  only this user's mailboxes\n"
    "  -a       ignore /vendor/cmu/cyrus-imapd/expire annotations\n"
    "  -x       do not expire messages by annotation (only prune and purge)\n"
    "  -n       report what would be done, change nothing\n"
    "  -v       one line per mailbox acted on\n"
    "  durations: a number with an optional unit d, h, m or s (default d)\n";

constexpr const char* kExpireAnnotation = "/vendor/cmu/cyrus-imapd/expire";

struct ExpireArgs {
  std::string conf_path = "/etc/imapd.conf";
  std::optional<int64_t> expire_dup, purge_after, delete_after;  // seconds
  std::string prefix, user;
  bool ignore_annotations = false, no_expiry = false, dry_run = false, verbose = false;
};

bool parse_expire_args(int argc, char** argv, ExpireArgs& a) {
  for (int i = 1; i < argc; ++i) {
    std::string_view s = argv[i];
    bool takes_value = s == "-C" || s == "-E" || s == "-X" || s == "-D" || s == "-p" || s == "-u" ||
                       s == "-A";
    if (takes_value && i + 1 >= argc) {
      fprintf(stderr, "cyr_expire: %s needs an argument\n", argv[i]);
      return false;
    }
    auto duration = [&](std::optional<int64_t>& out) {
      out = adm::parse_duration_days(argv[++i]);
      if (!out) fprintf(stderr, "cyr_expire: bad duration for %.*s: \"%s\"\n",
                        static_cast<int>(s.size()), s.data(), argv[i]);
      return out.has_value();
    };
    if (s == "-C") a.conf_path = argv[++i];
    else if (s == "-E") { if (!duration(a.expire_dup)) return false; }
    else if (s == "-X") { if (!duration(a.purge_after)) return false; }
    else if (s == "-D") { if (!duration(a.delete_after)) return false; }
    else if (s == "-A") {
      fprintf(stderr, "cyr_expire: -A (archive partitions) is not supported: this server has no archive partition\n");
      return false;
    }
    else if (s == "-p") a.prefix = argv[++i];
    else if (s == "-u") a.user = argv[++i];
    else if (s == "-a") a.ignore_annotations = true;
    else if (s == "-x") a.no_expiry = true;
    else if (s == "-n") a.dry_run = true;
    else if (s == "-v") a.verbose = true;
    else if (s == "-t" || s == "-c") {}  // Cyrus: tombstones / conversations; nothing to do here
    else {
      fprintf(stderr, "cyr_expire: unexpected argument %s\n", argv[i]);
      return false;
    }
  }
  return true;
}

bool selected(const ExpireArgs& a, const std::string& name) {
  if (!a.prefix.empty() && name.compare(0, a.prefix.size(), a.prefix) != 0) return false;
  if (!a.user.empty()) {
    std::string inbox = "user." + a.user;
    if (name != inbox && name.compare(0, inbox.size() + 1, inbox + ".") != 0) return false;
  }
  return true;
}

// Days from the nearest mailbox at or above `name` with the expire
// annotation; nullopt when none has one. Results are cached per name.
std::optional<double> expire_days(store::Store& st, const std::string& name,
                                  std::map<std::string, std::optional<double>>& cache) {
  if (auto it = cache.find(name); it != cache.end()) return it->second;
  std::optional<double> days;
  bool found = false;
  if (auto anns = st.annotations(name); anns.ok()) {
    for (const auto& an : *anns) {
      if (!an.userid.empty()) continue;
      if (an.entry != kExpireAnnotation && an.entry != std::string("/shared") + kExpireAnnotation) continue;
      found = true;
      char* end = nullptr;
      double v = std::strtod(an.value.c_str(), &end);
      if (end != an.value.c_str() && v >= 0) days = v;
      break;
    }
  }
  if (!found) {
    auto dot = name.rfind('.');
    if (dot != std::string::npos) days = expire_days(st, name.substr(0, dot), cache);
  }
  cache[name] = days;
  return days;
}

}  // namespace

int expire_main(int argc, char** argv) {
  ExpireArgs a;
  if (!parse_expire_args(argc, argv, a)) {
    fputs(kExpireUsage, stderr);
    return adm::kExUsage;
  }
  adm::OpenedStore node;
  if (int rc = adm::open_node("cyr_expire", a.conf_path, true, node)) return rc;
  store::Store& st = *node.store;
  const int64_t now = static_cast<int64_t>(::time(nullptr));
  const char* would = a.dry_run ? "would " : "";
  int rc = 0;

  // 1. The duplicate-delivery database.
  if (a.expire_dup) {
    auto path = adm::configured_duplicate_db_path(a.conf_path);
    if (!path.ok()) {
      fprintf(stderr, "cyr_expire: %s\n", path.error().describe().c_str());
      return adm::kExConfig;
    }
    if (adm::prune_duplicate_db("cyr_expire", *path, *a.expire_dup, now, a.dry_run, a.verbose)) rc = 1;
  }

  if (a.delete_after && a.verbose)
    printf("deleted mailboxes: none kept (mailboxes are deleted immediately on this server)\n");

  // 2. and 3. Per mailbox: annotation expiry, then purge of old tombstones.
  const bool replica = st.node_state().role == store::Role::Replica;
  const bool expiry = !a.no_expiry && !a.ignore_annotations && !replica;
  if (!a.no_expiry && !a.ignore_annotations && replica && a.verbose)
    printf("replica: message expiry skipped (the primary's expunges are replicated here)\n");
  if (!expiry && !a.purge_after) return rc;

  auto names = st.list("*");
  if (!names.ok()) {
    fprintf(stderr, "cyr_expire: cannot list mailboxes: %s\n", names.error().describe().c_str());
    return adm::kExTempFail;
  }
  std::map<std::string, std::optional<double>> days_cache;
  uint64_t mailboxes = 0, examined = 0, expired = 0, purged = 0;
  const bool tty = ::isatty(STDERR_FILENO);
  size_t done = 0;
  for (const auto& name : *names) {
    ++done;
    if (tty && done % 100 == 0)
      fprintf(stderr, "\rcyr_expire: %zu/%zu mailboxes", done, names->size());
    if (!selected(a, name)) continue;
    ++mailboxes;
    if (expiry) {
      if (auto days = expire_days(st, name, days_cache); days && *days > 0) {
        int64_t cutoff = now - static_cast<int64_t>(*days * 86400.0);
        auto recs = st.records(name);
        if (!recs.ok()) {
          fprintf(stderr, "cyr_expire: %s: %s\n", name.c_str(), recs.error().describe().c_str());
          rc = 1;
          continue;
        }
        store::UidSet old;
        for (const auto& r : *recs) {
          ++examined;
          // Cyrus keeps \Flagged messages: a user marked them to keep.
          if (r.internaldate < cutoff && !(r.flags.system & store::kFlagFlagged)) old.add(r.uid);
        }
        if (!old.empty()) {
          uint64_t n = old.count();
          if (!a.dry_run) {
            auto ex = st.expunge(name, old);
            if (!ex.ok()) {
              fprintf(stderr, "cyr_expire: %s: %s\n", name.c_str(), ex.error().describe().c_str());
              rc = 1;
              continue;
            }
            n = ex->expunged.count();
          }
          expired += n;
          if (a.verbose) printf("%s: %sexpire %llu message(s) older than %g days\n", name.c_str(), would,
                                static_cast<unsigned long long>(n), *days);
        }
      }
    }
    if (a.purge_after) {
      int64_t cutoff = now - *a.purge_after;
      uint64_t n = 0;
      if (a.dry_run) {
        auto recs = st.records(name, true);
        if (recs.ok())
          for (const auto& r : *recs)
            if (r.expunged() && r.last_updated < cutoff) ++n;
      } else {
        auto p = st.purge_expunged(name, cutoff);
        if (!p.ok()) {
          fprintf(stderr, "cyr_expire: %s: purge: %s\n", name.c_str(), p.error().describe().c_str());
          rc = 1;
          continue;
        }
        n = *p;
      }
      purged += n;
      if (a.verbose && n)
        printf("%s: %spurge %llu expunged message(s)\n", name.c_str(), would, static_cast<unsigned long long>(n));
    }
  }
  if (tty && names->size() >= 100) fputc('\n', stderr);
  if (expiry)
    printf("%sexpired %llu of %llu messages in %llu mailboxes\n", a.dry_run ? "would have " : "",
           static_cast<unsigned long long>(expired), static_cast<unsigned long long>(examined),
           static_cast<unsigned long long>(mailboxes));
  if (a.purge_after)
    printf("%spurged %llu expunged messages in %llu mailboxes\n", a.dry_run ? "would have " : "",
           static_cast<unsigned long long>(purged), static_cast<unsigned long long>(mailboxes));
  return rc;
}

}  // namespace cyr::ops
