// cyr_ctl_deliver: the duplicate-delivery database (Cyrus deliver.db), as
// Cyrus ctl_deliver(8).
//   cyr_ctl_deliver [-C imapd.conf] [-f db] -d      dump, one line per entry
//   cyr_ctl_deliver [-C imapd.conf] [-f db] -E age  prune entries older than age
// The dump is Cyrus's: "id: <id>\tto: <mailbox>\tat: <time>\tuid: <uid>",
// the id padded to 40 columns and the mailbox to 20, an id with
// unprintable bytes written in upper-case hex; we keep no UID per entry, so
// uid is always 0. -E is cyr_expire -E's prune (ops/adm/duplicate_prune.h).
// Safe while the node runs (LMTP keeps writing; SQLite serialises).
#include <cstdio>
#include <ctime>

#include "ops/adm/common.h"
#include "ops/adm/duplicate_prune.h"
#include "ops/adm/runbook_args.h"
#include "ops/commands.h"
#include "store/duplicate_db.h"

namespace cyr::ops {
namespace {

constexpr const char* kCtlDeliverUsage =
    "usage: cyr_ctl_deliver [-C imapd.conf] [-f deliver.db] -d\n"
    "       cyr_ctl_deliver [-C imapd.conf] [-f deliver.db] -E age\n"
    "  -d      dump the duplicate-delivery database, one entry per line\n"
    "  -E age  remove entries older than age (days, or a number with d, h, m or s)\n"
    "  -f db   this database file instead of duplicate_db_path\n";

std::string printable_id(std::string_view id) {
  bool printable = true;
  for (unsigned char c : id)
    if (c < 0x20 || c >= 0x7F) printable = false;
  if (printable) return std::string(id);
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : id) {
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 0xF]);
  }
  return out;
}

}  // namespace

int ctl_deliver_main(int argc, char** argv) {
  auto args = adm::parse_ctl_deliver_args(adm::arg_views(argc, argv));
  if (!args.ok()) {
    fprintf(stderr, "cyr_ctl_deliver: %s\n%s", args.error().user_message.c_str(), kCtlDeliverUsage);
    return adm::kExUsage;
  }
  std::filesystem::path path = args->db_path;
  if (path.empty()) {
    auto configured = adm::configured_duplicate_db_path(args->conf_path);
    if (!configured.ok()) {
      fprintf(stderr, "cyr_ctl_deliver: %s\n", configured.error().describe().c_str());
      return adm::kExConfig;
    }
    path = *configured;
  } else if (path.is_relative()) {
    path = std::filesystem::absolute(path);
  }
  if (args->prune_after)
    return adm::prune_duplicate_db("cyr_ctl_deliver", path, *args->prune_after,
                                   static_cast<int64_t>(::time(nullptr)), false, true);

  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    // Opening would create it; an empty dump says the same without writing.
    fprintf(stderr, "cyr_ctl_deliver: %s does not exist (no delivery recorded yet)\n", path.c_str());
    printf("got 0 entries\n");
    return 0;
  }
  auto db = store::DuplicateDb::open(path);
  if (!db.ok()) {
    fprintf(stderr, "cyr_ctl_deliver: %s\n", db.error().describe().c_str());
    return adm::kExTempFail;
  }
  uint64_t n = 0;
  auto st = (*db)->for_each([&](std::string_view id, std::string_view mailbox, int64_t mark) {
    ++n;
    std::string shown = printable_id(id);
    printf("id: %-40s\tto: %-20.*s\tat: %lld\tuid: 0\n", shown.c_str(), static_cast<int>(mailbox.size()),
           mailbox.data(), static_cast<long long>(mark));
  });
  if (!st) {
    fprintf(stderr, "cyr_ctl_deliver: %s\n", st.error().describe().c_str());
    return 1;
  }
  printf("got %llu entries\n", static_cast<unsigned long long>(n));
  return 0;
}

}  // namespace cyr::ops
