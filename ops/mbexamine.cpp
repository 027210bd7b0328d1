// cyr_mbexamine [-C imapd.conf] [-u uid] [-s seq] mailbox...: print a
// mailbox's header (ACL, unique id, index version, UIDVALIDITY, modseq,
// counters) and each message's UID, GUID, size, flags and dates, expunged
// tombstones included. Seed 000 uses it to find GUID:0 and old index
// versions. Read-only; safe while the node runs.
#include <cinttypes>
#include <cstdio>
#include <ctime>
#include <string>
#include <vector>

#include "ops/adm/common.h"
#include "ops/commands.h"
#include "store/quota_recompute.h"
#include "store/spool.h"

namespace cyr::ops {
namespace {

std::string format_time(int64_t t) {
  if (t == 0) return "0";
  time_t tt = static_cast<time_t>(t);
  struct tm tmv;
  gmtime_r(&tt, &tmv);
  char buf[64];
  strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tmv);
  return std::to_string(t) + " (" + buf + ")";
}

std::string format_flags(const store::Flags& f) {
  static const std::pair<uint32_t, const char*> kNames[] = {
      {store::kFlagAnswered, "\\Answered"}, {store::kFlagFlagged, "\\Flagged"},
      {store::kFlagDeleted, "\\Deleted"},   {store::kFlagDraft, "\\Draft"},
      {store::kFlagSeen, "\\Seen"},         {store::kFlagExpunged, "[EXPUNGED]"}};
  std::string out;
  for (const auto& [bit, name] : kNames)
    if (f.system & bit) out += (out.empty() ? "" : " ") + std::string(name);
  for (const auto& k : f.keywords) out += (out.empty() ? "" : " ") + k;
  return out;
}

bool parse_u32(std::string_view s, uint32_t& out) {
  if (s.empty() || s.size() > 10) return false;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  if (v == 0 || v > UINT32_MAX) return false;
  out = static_cast<uint32_t>(v);
  return true;
}

}  // namespace

int mbexamine_main(int argc, char** argv) {
  std::string conf_path = "/etc/imapd.conf";
  uint32_t only_uid = 0, only_seq = 0;
  std::vector<std::string> boxes;
  bool bad = false;
  for (int i = 1; i < argc; ++i) {
    std::string_view s = argv[i];
    if (s == "-C" && i + 1 < argc) conf_path = argv[++i];
    else if (s == "-u" && i + 1 < argc) bad |= !parse_u32(argv[++i], only_uid);
    else if (s == "-s" && i + 1 < argc) bad |= !parse_u32(argv[++i], only_seq);
    else if (!s.empty() && s[0] == '-') bad = true;
    else boxes.emplace_back(s);
  }
  if (bad || boxes.empty() || (only_uid && only_seq)) {
    fprintf(stderr,
            "usage: cyr_mbexamine [-C imapd.conf] [-u uid | -s seq] mailbox...\n"
            "  -u uid  only the message with this UID\n"
            "  -s seq  only the message with this sequence number (1 = first live message)\n");
    return adm::kExUsage;
  }
  adm::OpenedStore node;
  if (int rc = adm::open_node("cyr_mbexamine", conf_path, true, node)) return rc;
  store::Spool spool(node.options.partitions, {}, node.options.max_message_size);
  int rc = 0;
  for (const auto& name : boxes) {
    auto info = node.store->lookup(name);
    if (!info.ok()) {
      fprintf(stderr, "cyr_mbexamine: %s: %s\n", name.c_str(), info.error().user_message.c_str());
      rc = 1;
      continue;
    }
    auto recs = node.store->records(name, /*include_expunged=*/true);
    if (!recs.ok()) {
      fprintf(stderr, "cyr_mbexamine: %s: cannot read the index: %s\n", name.c_str(),
              recs.error().describe().c_str());
      rc = 1;
      continue;
    }
    auto dir = spool.mailbox_dir(info->partition, info->uniqueid);
    auto dbp = store::shard_db_path(node.options.configdirectory, name);
    Result<int64_t> version = dbp.ok() ? store::index_format_version(*dbp) : Result<int64_t>(dbp.error());
    printf("Mailbox Header Info:\n");
    printf("  Name: %s\n", info->name.c_str());
    printf("  Path to mailbox: %s\n", dir.ok() ? dir->c_str() : "(unknown partition)");
    printf("  Index database: %s\n", dbp.ok() ? dbp->c_str() : "(unknown)");
    printf("  Partition: %s\n", info->partition.c_str());
    printf("  Mailbox ACL: %s\n", info->acl.c_str());
    printf("  Unique ID: %s\n", info->uniqueid.c_str());
    printf("\nIndex Header Info:\n");
    if (version.ok()) printf("  Minor Version: %" PRId64 "\n", *version);
    else printf("  Minor Version: unreadable (%s)\n", version.error().describe().c_str());
    printf("  Quota Root: %s\n", info->quotaroot.c_str());
    printf("  UIDValidity: %u\n", info->uidvalidity);
    printf("  Last UID: %u\n", info->last_uid);
    printf("  Highest Mod Sequence: %llu\n", static_cast<unsigned long long>(info->highestmodseq));
    printf("  Created Mod Sequence: %llu\n", static_cast<unsigned long long>(info->createdmodseq));
    printf("  Exists: %u\n", info->exists);
    printf("  Total Size: %llu\n", static_cast<unsigned long long>(info->total_size));
    printf("  Recent UID: %u\n", info->recentuid);
    printf("  Last Append Date: %s\n", format_time(info->last_appenddate).c_str());
    printf("  POP3 Last Login: %s\n", format_time(info->pop3_last_login).c_str());
    printf("  Options: 0x%08x\n", info->options);
    printf("\nMessage Index (%zu records):\n", recs->size());
    uint32_t seq = 0;
    for (const auto& r : *recs) {
      uint32_t this_seq = r.expunged() ? 0 : ++seq;
      if (only_uid && r.uid != only_uid) continue;
      if (only_seq && this_seq != only_seq) continue;
      std::string guid = r.guid.is_null() ? "0 (NULL GUID)" : r.guid.to_hex();
      printf("%06u> UID:%u  SIZE:%llu  MODSEQ:%llu  GUID:%s\n", this_seq, r.uid,
             static_cast<unsigned long long>(r.size), static_cast<unsigned long long>(r.modseq),
             guid.c_str());
      printf("      INTERNALDATE:%s  SAVEDATE:%s  LAST_UPDATED:%s\n", format_time(r.internaldate).c_str(),
             format_time(r.savedate).c_str(), format_time(r.last_updated).c_str());
      printf("      FLAGS: %s\n", format_flags(r.flags).c_str());
    }
  }
  return rc;
}

}  // namespace cyr::ops
