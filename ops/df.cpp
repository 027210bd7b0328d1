// cyr_df: space on each mail partition, as Cyrus cyr_df(8) prints it (df
// columns, one line per partition). -m reports where the metadata lives
// instead: here that is the configuration directory (mailbox list and the
// per-owner index databases), not separate metapartitions. Read-only.
#include <sys/statvfs.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

#include "ops/adm/common.h"
#include "ops/commands.h"

namespace cyr::ops {
namespace {

// Prints one df-style line; false if statvfs failed (message printed).
bool print_usage(const std::string& name, const std::filesystem::path& dir) {
  struct statvfs s;
  if (::statvfs(dir.c_str(), &s) != 0) {
    fprintf(stderr, "cyr_df: %s: cannot stat %s: %s\n", name.c_str(), dir.c_str(), strerror(errno));
    return false;
  }
  unsigned long long frsize = s.f_frsize ? s.f_frsize : s.f_bsize;
  unsigned long long total = s.f_blocks * frsize / 1024;
  unsigned long long avail = s.f_bavail * frsize / 1024;
  unsigned long long used = (s.f_blocks - s.f_bfree) * frsize / 1024;
  // df's capacity: used / (used + available), rounded up.
  unsigned long long denom = used + avail;
  unsigned long long pct = denom ? (used * 100 + denom - 1) / denom : 0;
  printf("%-20s %12llu %12llu %12llu %7llu%% %s\n", name.c_str(), total, used, avail, pct, dir.c_str());
  return true;
}

}  // namespace

int df_main(int argc, char** argv) {
  std::string conf_path = "/etc/imapd.conf";
  std::string only;
  bool meta = false;
  for (int i = 1; i < argc; ++i) {
    std::string_view s = argv[i];
    if ((s == "-C" || s == "-p") && i + 1 < argc) {
      (s == "-C" ? conf_path : only) = argv[++i];
    } else if (s == "-m") {
      meta = true;
    } else {
      fprintf(stderr,
              "usage: cyr_df [-C imapd.conf] [-m] [-p partition]\n"
              "  -m  the metadata location (configdirectory) instead of the mail partitions\n"
              "  -p  only this partition\n");
      return adm::kExUsage;
    }
  }
  adm::OpenedStore node;
  if (int rc = adm::open_node("cyr_df", conf_path, false, node)) return rc;
  printf("%-20s %12s %12s %12s %8s %s\n", "Partition", "1k-blocks", "Used", "Available", "Capacity",
         "Location");
  if (meta) return print_usage("(metadata)", node.options.configdirectory) ? 0 : 1;
  int rc = 0;
  bool found = false;
  for (const auto& [name, dir] : node.options.partitions) {
    if (!only.empty() && name != only) continue;
    found = true;
    if (!print_usage(name, dir)) rc = 1;
  }
  if (!found) {
    fprintf(stderr, "cyr_df: %s\n", only.empty() ? "no partitions configured (partition-NAME: in imapd.conf)"
                                                 : ("no partition named " + only).c_str());
    return adm::kExConfig;
  }
  return rc;
}

}  // namespace cyr::ops
