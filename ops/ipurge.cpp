// cyr_ipurge: delete (expunge) messages by age or size, as Cyrus ipurge(8).
// By default only shared mailboxes are examined; -f includes user mailboxes.
// Age is taken from the Date: header (the internal date when the header is
// missing or unreadable), or from the internal date with -X.
//
// Safe while the node runs: expunges go through the store like a client's
// EXPUNGE (delayed expunge keeps the files for cyr_unexpunge until
// cyr_expire -X purges them) and are replicated. Refused on a replica.
#include <cstdio>
#include <ctime>
#include <optional>
#include <string>
#include <vector>

#include "ops/adm/common.h"
#include "ops/adm/housekeeping.h"
#include "ops/commands.h"
#include "store/mail/message.h"

namespace cyr::ops {
namespace {

constexpr const char* kIpurgeUsage =
    "usage: cyr_ipurge [-C imapd.conf] [-f] [-x] [-X] [-i] [-s] [-o] [-n] [-v]\n"
    "                  (-d days | -b bytes | -k kbytes | -m mbytes) [mailbox-pattern...]\n"
    "  -f  also user mailboxes (user.*), not only shared ones\n"
    "  -d  messages older than this many days    -b/-k/-m  larger than this size\n"
    "  -x  exact match (age in whole days, or size) instead of older/larger\n"
    "  -X  age from the internal (delivery) date instead of the Date: header\n"
    "  -i  invert: newer / smaller (with -x: not equal)\n"
    "  -s  skip messages flagged \\Flagged     -o  only messages flagged \\Deleted\n"
    "  -n  list what would be deleted, delete nothing   -v  one line per message\n";

struct IpurgeArgs {
  std::string conf_path = "/etc/imapd.conf";
  bool include_users = false, exact = false, use_internaldate = false, invert = false;
  bool skip_flagged = false, only_deleted = false, dry_run = false, verbose = false;
  std::optional<int64_t> days;
  std::optional<uint64_t> size;
  std::vector<std::string> patterns;
};

std::optional<uint64_t> parse_count(const char* s) {
  if (!s || !*s) return std::nullopt;
  uint64_t v = 0;
  for (const char* p = s; *p; ++p) {
    if (*p < '0' || *p > '9' || v > (UINT64_MAX - 9) / 10) return std::nullopt;
    v = v * 10 + static_cast<uint64_t>(*p - '0');
  }
  return v;
}

bool parse_ipurge_args(int argc, char** argv, IpurgeArgs& a) {
  int criteria = 0;
  for (int i = 1; i < argc; ++i) {
    std::string_view s = argv[i];
    bool takes_value = s == "-C" || s == "-d" || s == "-b" || s == "-k" || s == "-m";
    if (takes_value && i + 1 >= argc) {
      fprintf(stderr, "cyr_ipurge: %s needs an argument\n", argv[i]);
      return false;
    }
    if (s == "-C") { a.conf_path = argv[++i]; continue; }
    if (s == "-d" || s == "-b" || s == "-k" || s == "-m") {
      auto v = parse_count(argv[++i]);
      uint64_t mult = s == "-k" ? 1024 : s == "-m" ? 1024 * 1024 : 1;
      if (!v || *v > UINT64_MAX / mult || (s == "-d" && *v > 36500)) {
        fprintf(stderr, "cyr_ipurge: bad number for %s: \"%s\"\n", argv[i - 1], argv[i]);
        return false;
      }
      if (s == "-d") a.days = static_cast<int64_t>(*v);
      else a.size = *v * mult;
      ++criteria;
      continue;
    }
    if (s == "-f") a.include_users = true;
    else if (s == "-x") a.exact = true;
    else if (s == "-X") a.use_internaldate = true;
    else if (s == "-i") a.invert = true;
    else if (s == "-s") a.skip_flagged = true;
    else if (s == "-o") a.only_deleted = true;
    else if (s == "-n") a.dry_run = true;
    else if (s == "-v") a.verbose = true;
    else if (!s.empty() && s[0] == '-') {
      fprintf(stderr, "cyr_ipurge: unknown option %s\n", argv[i]);
      return false;
    } else {
      a.patterns.emplace_back(s);
    }
  }
  if (criteria != 1) {
    fprintf(stderr, "cyr_ipurge: give exactly one of -d, -b, -k, -m\n");
    return false;
  }
  return true;
}

// The date ipurge ages a message by: Date: header, else the internal date.
int64_t message_date(store::Store& st, const std::string& mailbox, const store::MessageRecord& r,
                     bool use_internaldate) {
  if (use_internaldate) return r.internaldate;
  auto blob = st.structure(mailbox, r.uid);
  if (!blob.ok()) return r.internaldate;
  auto ms = mail::MessageStructure::deserialize(*blob);
  if (!ms.ok() || !ms->envelope.date) return r.internaldate;
  auto t = mail::parse_rfc5322_date(*ms->envelope.date);
  return t ? static_cast<int64_t>(*t) : r.internaldate;
}

bool matches(const IpurgeArgs& a, int64_t now, int64_t date, uint64_t size) {
  bool hit;
  if (a.days) {
    int64_t age_days = (now - date) / 86400;
    hit = a.exact ? age_days == *a.days : (a.invert ? age_days < *a.days : age_days >= *a.days);
    if (a.exact && a.invert) hit = !hit;
  } else {
    hit = a.exact ? size == *a.size : (a.invert ? size < *a.size : size > *a.size);
    if (a.exact && a.invert) hit = !hit;
  }
  return hit;
}

}  // namespace

int ipurge_main(int argc, char** argv) {
  IpurgeArgs a;
  if (!parse_ipurge_args(argc, argv, a)) {
    fputs(kIpurgeUsage, stderr);
    return adm::kExUsage;
  }
  adm::OpenedStore node;
  if (int rc = adm::open_node("cyr_ipurge", a.conf_path, true, node)) return rc;
  store::Store& st = *node.store;
  if (!a.dry_run && st.node_state().role == store::Role::Replica) {
    fprintf(stderr, "cyr_ipurge: this node is a replica; run cyr_ipurge on the primary (its expunges are replicated)\n");
    return adm::kExTempFail;
  }
  auto names = adm::select_mailboxes(st, a.patterns);
  if (!names.ok()) {
    fprintf(stderr, "cyr_ipurge: %s\n", names.error().describe().c_str());
    return adm::kExDataErr;
  }
  const int64_t now = static_cast<int64_t>(::time(nullptr));
  int rc = 0;
  uint64_t total = 0, deleted = 0, boxes = 0;
  for (const auto& name : *names) {
    if (adm::is_user_mailbox(name) && !a.include_users) continue;
    auto recs = st.records(name);
    if (!recs.ok()) {
      fprintf(stderr, "cyr_ipurge: %s: %s\n", name.c_str(), recs.error().describe().c_str());
      rc = 1;
      continue;
    }
    ++boxes;
    store::UidSet doomed;
    for (const auto& r : *recs) {
      ++total;
      if (a.skip_flagged && (r.flags.system & store::kFlagFlagged)) continue;
      if (a.only_deleted && !(r.flags.system & store::kFlagDeleted)) continue;
      int64_t date = a.days ? message_date(st, name, r, a.use_internaldate) : 0;
      if (!matches(a, now, date, r.size)) continue;
      doomed.add(r.uid);
      if (a.verbose || a.dry_run)
        printf("%s: UID %u, %llu bytes, %lld days old%s\n", name.c_str(), r.uid,
               static_cast<unsigned long long>(r.size), static_cast<long long>((now - (a.days ? date : r.internaldate)) / 86400),
               a.dry_run ? " (would be deleted)" : "");
    }
    if (doomed.empty() || a.dry_run) {
      deleted += doomed.count();
      continue;
    }
    auto ex = st.expunge(name, doomed);
    if (!ex.ok()) {
      fprintf(stderr, "cyr_ipurge: %s: %s\n", name.c_str(), ex.error().describe().c_str());
      rc = 1;
      continue;
    }
    deleted += ex->expunged.count();
  }
  printf("%s %llu of %llu messages in %llu mailboxes\n", a.dry_run ? "would delete" : "deleted",
         static_cast<unsigned long long>(deleted), static_cast<unsigned long long>(total),
         static_cast<unsigned long long>(boxes));
  return rc;
}

}  // namespace cyr::ops
