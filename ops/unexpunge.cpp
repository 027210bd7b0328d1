// cyr_unexpunge: list and restore expunged messages, as Cyrus unexpunge(8).
// With the default "delayed" expunge mode an expunged message keeps its
// record (a tombstone) and its file until cyr_expire -X purges it; restoring
// appends the same file again under a NEW UID (a client that cached the old
// UID must not see it come back under it), with the old flags and internal
// date. Quota is not enforced: this is an administrator's recovery.
//
// Safe while the node runs: the restore is an ordinary append through the
// store (clients see EXISTS, replication carries it). Refused on a replica.
#include <algorithm>
#include <cstdio>
#include <ctime>
#include <optional>
#include <string>
#include <vector>

#include "ops/adm/common.h"
#include "ops/adm/housekeeping.h"
#include "ops/commands.h"

namespace cyr::ops {
namespace {

constexpr const char* kUnexpungeUsage =
    "usage: cyr_unexpunge [-C imapd.conf] -l mailbox\n"
    "       cyr_unexpunge [-C imapd.conf] [-d] [-f] [-v] -t interval mailbox\n"
    "       cyr_unexpunge [-C imapd.conf] [-d] [-f] [-v] -a mailbox\n"
    "       cyr_unexpunge [-C imapd.conf] [-d] [-f] [-v] -u mailbox uid...\n"
    "  -l  list expunged messages that can still be restored\n"
    "  -t  restore those expunged within the interval (number + d/h/m/s, default days)\n"
    "  -a  restore all    -u  restore the given UIDs\n"
    "  -d  clear \\Deleted on restored messages   -f  set \\Flagged on them\n"
    "  -v  one line per restored message\n";

enum class Mode { None, List, Interval, All, Uids };

struct UnexpungeArgs {
  std::string conf_path = "/etc/imapd.conf";
  Mode mode = Mode::None;
  int64_t interval = 0;
  bool undelete = false, flag = false, verbose = false;
  std::string mailbox;
  std::vector<store::Uid> uids;
};

bool parse_unexpunge_args(int argc, char** argv, UnexpungeArgs& a) {
  int modes = 0;
  std::vector<std::string> rest;
  for (int i = 1; i < argc; ++i) {
    std::string_view s = argv[i];
    if ((s == "-C" || s == "-t") && i + 1 >= argc) {
      fprintf(stderr, "cyr_unexpunge: %s needs an argument\n", argv[i]);
      return false;
    }
    if (s == "-C") a.conf_path = argv[++i];
    else if (s == "-l") { a.mode = Mode::List; ++modes; }
    else if (s == "-a") { a.mode = Mode::All; ++modes; }
    else if (s == "-u") { a.mode = Mode::Uids; ++modes; }
    else if (s == "-t") {
      auto d = adm::parse_duration_days(argv[++i]);
      if (!d) {
        fprintf(stderr, "cyr_unexpunge: bad interval \"%s\"\n", argv[i]);
        return false;
      }
      a.interval = *d;
      a.mode = Mode::Interval;
      ++modes;
    }
    else if (s == "-d") a.undelete = true;
    else if (s == "-f") a.flag = true;
    else if (s == "-v") a.verbose = true;
    else if (!s.empty() && s[0] == '-') {
      fprintf(stderr, "cyr_unexpunge: unknown option %s\n", argv[i]);
      return false;
    } else {
      rest.emplace_back(s);
    }
  }
  if (modes != 1) {
    fprintf(stderr, "cyr_unexpunge: give exactly one of -l, -t, -a, -u\n");
    return false;
  }
  if (rest.empty()) {
    fprintf(stderr, "cyr_unexpunge: no mailbox given\n");
    return false;
  }
  a.mailbox = rest[0];
  if (a.mode != Mode::Uids && rest.size() > 1) {
    fprintf(stderr, "cyr_unexpunge: UIDs are only taken with -u\n");
    return false;
  }
  if (a.mode == Mode::Uids && rest.size() == 1) {
    fprintf(stderr, "cyr_unexpunge: -u needs at least one UID\n");
    return false;
  }
  for (size_t i = 1; i < rest.size(); ++i) {
    char* end = nullptr;
    unsigned long v = std::strtoul(rest[i].c_str(), &end, 10);
    if (rest[i].empty() || *end || v == 0 || v > 0xffffffffUL || rest[i][0] == '-') {
      fprintf(stderr, "cyr_unexpunge: bad UID \"%s\"\n", rest[i].c_str());
      return false;
    }
    a.uids.push_back(static_cast<store::Uid>(v));
  }
  return true;
}

std::string time_text(int64_t t) {
  char buf[64];
  time_t tt = static_cast<time_t>(t);
  struct tm tmv;
  gmtime_r(&tt, &tmv);
  strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tmv);
  return buf;
}

}  // namespace

int unexpunge_main(int argc, char** argv) {
  UnexpungeArgs a;
  if (!parse_unexpunge_args(argc, argv, a)) {
    fputs(kUnexpungeUsage, stderr);
    return adm::kExUsage;
  }
  adm::OpenedStore node;
  if (int rc = adm::open_node("cyr_unexpunge", a.conf_path, true, node)) return rc;
  store::Store& st = *node.store;
  auto recs = st.records(a.mailbox, true);
  if (!recs.ok()) {
    fprintf(stderr, "cyr_unexpunge: %s: %s\n", a.mailbox.c_str(), recs.error().user_message.c_str());
    return recs.error().code == Errc::NotFound ? adm::kExNoInput : adm::kExTempFail;
  }
  // Restorable = a tombstone whose file is still on disk.
  const int64_t now = static_cast<int64_t>(::time(nullptr));
  std::vector<std::pair<store::MessageRecord, std::filesystem::path>> candidates;
  for (const auto& r : *recs) {
    if (!r.expunged()) continue;
    auto p = st.message_path(a.mailbox, r.uid);
    std::error_code ec;
    if (!p.ok() || !std::filesystem::exists(*p, ec)) continue;
    candidates.emplace_back(r, *p);
  }

  if (a.mode == Mode::List) {
    for (const auto& [r, path] : candidates)
      printf("UID: %u\tSize: %llu\tExpunged: %s\tInternalDate: %s\tGUID: %s\n", r.uid,
             static_cast<unsigned long long>(r.size), time_text(r.last_updated).c_str(),
             time_text(r.internaldate).c_str(), r.guid.to_hex().c_str());
    printf("%zu restorable expunged message(s) in %s\n", candidates.size(), a.mailbox.c_str());
    return 0;
  }

  if (st.node_state().role == store::Role::Replica) {
    fprintf(stderr, "cyr_unexpunge: this node is a replica; restore on the primary\n");
    return adm::kExTempFail;
  }
  std::vector<store::AppendMessage> msgs;
  std::vector<store::Uid> old_uids;
  for (const auto& [r, path] : candidates) {
    bool want = a.mode == Mode::All ||
                (a.mode == Mode::Interval && r.last_updated >= now - a.interval) ||
                (a.mode == Mode::Uids && std::find(a.uids.begin(), a.uids.end(), r.uid) != a.uids.end());
    if (!want) continue;
    store::AppendMessage m;
    m.source = store::MessageSource::file(path.string());
    m.flags = r.flags;
    m.flags.system &= ~store::kFlagExpunged;
    if (a.undelete) m.flags.system &= ~store::kFlagDeleted;
    if (a.flag) m.flags.system |= store::kFlagFlagged;
    m.internaldate = r.internaldate;
    msgs.push_back(std::move(m));
    old_uids.push_back(r.uid);
  }
  if (a.mode == Mode::Uids) {
    for (store::Uid u : a.uids)
      if (std::find(old_uids.begin(), old_uids.end(), u) == old_uids.end())
        fprintf(stderr, "cyr_unexpunge: %s: UID %u is not an expunged message that can be restored\n",
                a.mailbox.c_str(), u);
  }
  if (msgs.empty()) {
    printf("restored 0 messages in %s\n", a.mailbox.c_str());
    return a.mode == Mode::Uids ? 1 : 0;
  }
  store::AppendRequest req;
  req.mailbox = a.mailbox;
  req.messages = std::move(msgs);
  req.check_quota = false;
  auto res = st.append(req);
  if (!res.ok()) {
    fprintf(stderr, "cyr_unexpunge: %s: %s\n", a.mailbox.c_str(), res.error().describe().c_str());
    return adm::kExTempFail;
  }
  if (a.verbose)
    for (size_t i = 0; i < old_uids.size() && i < res->uids.size(); ++i)
      printf("%s: restored UID %u as UID %u\n", a.mailbox.c_str(), old_uids[i], res->uids[i]);
  printf("restored %zu message(s) in %s\n", res->uids.size(), a.mailbox.c_str());
  return a.mode == Mode::Uids && old_uids.size() != a.uids.size() ? 1 : 0;
}

}  // namespace cyr::ops
