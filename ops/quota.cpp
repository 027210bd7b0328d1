// cyr_quota [-C imapd.conf] [-f] [-n] [-d domain] [root...]: report quota
// roots (limit, percent used, usage) as seed 003's table; -f recomputes usage
// from the message index and prints "usage was X, now Y" for each root it
// corrected. Roots given on the command line select roots by prefix, as in
// Cyrus. Safe while the node runs: -f takes each shard's write lock in turn.
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <set>
#include <string>
#include <vector>

#include "ops/adm/common.h"
#include "ops/commands.h"
#include "store/quota_recompute.h"

namespace cyr::ops {
namespace {

constexpr const char* kQuotaUsage =
    "usage: cyr_quota [-C imapd.conf] [-f [-n]] [-d domain] [root...]\n"
    "  -f         recompute usage from the mailbox indexes and fix it\n"
    "  -n         with -f: report what would change, change nothing\n"
    "  -d domain  only roots of this domain\n";

struct QuotaArgs {
  std::string conf_path = "/etc/imapd.conf";
  bool fix = false;
  bool dry_run = false;
  std::string domain;
  std::vector<std::string> roots;
};

// Returns false on bad usage (message already printed).
bool parse_quota_args(int argc, char** argv, QuotaArgs& a) {
  for (int i = 1; i < argc; ++i) {
    std::string_view s = argv[i];
    if ((s == "-C" || s == "-d") && i + 1 >= argc) {
      fprintf(stderr, "cyr_quota: %s needs an argument\n", argv[i]);
      return false;
    }
    if (s == "-C") a.conf_path = argv[++i];
    else if (s == "-d") a.domain = argv[++i];
    else if (s == "-f") a.fix = true;
    else if (s == "-n") a.dry_run = true;
    else if (s == "-h" || s == "--help") return false;
    else if (!s.empty() && s[0] == '-') {
      fprintf(stderr, "cyr_quota: unknown option %s\n", argv[i]);
      return false;
    } else {
      a.roots.emplace_back(s);
    }
  }
  if (a.dry_run && !a.fix) {
    fprintf(stderr, "cyr_quota: -n only makes sense with -f\n");
    return false;
  }
  return true;
}

bool selected(const QuotaArgs& a, const std::string& root) {
  if (!a.domain.empty()) {
    std::string prefix = a.domain + "!";
    if (root.compare(0, prefix.size(), prefix) != 0) return false;
  }
  if (a.roots.empty()) return true;
  for (const auto& r : a.roots)
    if (root.compare(0, r.size(), r) == 0) return true;
  return false;
}

void print_row(const char* resource, std::optional<uint64_t> limit, uint64_t used,
               const std::string& root) {
  char limit_s[32] = "", pct_s[32] = "";
  if (limit) {
    snprintf(limit_s, sizeof limit_s, "%llu", static_cast<unsigned long long>(*limit));
    unsigned long long pct = *limit ? used * 100 / *limit : (used ? 100 : 0);
    snprintf(pct_s, sizeof pct_s, "%llu", pct);
  }
  printf("%10s %8s %10llu %-8s %s\n", limit_s, pct_s, static_cast<unsigned long long>(used),
         resource, root.c_str());
}

}  // namespace

int quota_main(int argc, char** argv) {
  QuotaArgs args;
  if (!parse_quota_args(argc, argv, args)) {
    fputs(kQuotaUsage, stderr);
    return adm::kExUsage;
  }
  adm::OpenedStore node;
  if (int rc = adm::open_node("cyr_quota", args.conf_path, true, node)) return rc;

  if (args.fix) {
    bool tty = isatty(STDERR_FILENO);
    auto fixes = store::recompute_quota_usage(
        node.options.configdirectory, args.dry_run, [&](size_t done, size_t total) {
          if (tty) fprintf(stderr, "\rcyr_quota: recomputing usage: %zu/%zu shards", done, total);
        });
    if (tty) fputc('\n', stderr);
    if (!fixes.ok()) {
      fprintf(stderr, "cyr_quota: recomputing usage failed, nothing changed in the failing shard: %s\n",
              fixes.error().describe().c_str());
      return adm::kExSoftware;
    }
    const char* verb = args.dry_run ? "would be" : "now";
    for (const auto& f : *fixes) {
      if (!selected(args, f.root)) continue;
      if (f.old_bytes != f.new_bytes)
        printf("%s: STORAGE usage was %llu, %s %llu\n", f.root.c_str(),
               static_cast<unsigned long long>(f.old_bytes), verb,
               static_cast<unsigned long long>(f.new_bytes));
      if (f.old_messages != f.new_messages)
        printf("%s: MESSAGE usage was %llu, %s %llu\n", f.root.c_str(),
               static_cast<unsigned long long>(f.old_messages), verb,
               static_cast<unsigned long long>(f.new_messages));
    }
  }

  // Quota roots are the mailboxes whose quotaroot is themselves.
  auto names = node.store->list("*");
  if (!names.ok()) {
    fprintf(stderr, "cyr_quota: cannot list mailboxes: %s\n", names.error().describe().c_str());
    return adm::kExSoftware;
  }
  std::set<std::string> roots;
  for (const auto& n : *names) {
    auto info = node.store->lookup(n);
    if (info.ok() && !info->quotaroot.empty() && selected(args, info->quotaroot))
      roots.insert(info->quotaroot);
  }
  printf("%10s %8s %10s %-8s %s\n", "Quota", "% Used", "Used", "Resource", "Root");
  int rc = 0;
  for (const auto& r : roots) {
    auto q = node.store->get_quota(r);
    if (!q.ok()) {
      fprintf(stderr, "cyr_quota: %s: %s\n", r.c_str(), q.error().describe().c_str());
      rc = 1;
      continue;
    }
    print_row("STORAGE", q->storage_limit_kib, q->storage_used_kib(), r);
    print_row("MESSAGE", q->message_limit, q->message_used, r);
  }
  return rc;
}

}  // namespace cyr::ops
