// cyr_mbpath [-C imapd.conf] [-m] [-q] [-s] mailbox...: print the directory
// holding each mailbox's message files (-m: the index database instead).
// Read-only; safe while the node runs.
#include <cstdio>
#include <string>
#include <vector>

#include "ops/adm/common.h"
#include "ops/commands.h"
#include "store/quota_recompute.h"
#include "store/spool.h"

namespace cyr::ops {

int mbpath_main(int argc, char** argv) {
  std::string conf_path = "/etc/imapd.conf";
  bool metadata = false, quiet = false, stop_on_error = false;
  std::vector<std::string> boxes;
  bool bad = false;
  for (int i = 1; i < argc; ++i) {
    std::string_view s = argv[i];
    if (s == "-C" && i + 1 < argc) conf_path = argv[++i];
    else if (s == "-m") metadata = true;
    else if (s == "-q") quiet = true;
    else if (s == "-s") stop_on_error = true;
    else if (!s.empty() && s[0] == '-') bad = true;
    else boxes.emplace_back(s);
  }
  if (bad || boxes.empty()) {
    fprintf(stderr,
            "usage: cyr_mbpath [-C imapd.conf] [-m] [-q] [-s] mailbox...\n"
            "  -m  print the index database path instead of the message directory\n"
            "  -q  no error messages\n  -s  stop at the first error\n");
    return adm::kExUsage;
  }
  adm::OpenedStore node;
  if (int rc = adm::open_node("cyr_mbpath", conf_path, true, node)) return rc;
  store::Spool spool(node.options.partitions, {}, node.options.max_message_size);
  int rc = 0;
  for (const auto& name : boxes) {
    Result<std::filesystem::path> path = Error(Errc::Internal, "");
    auto info = node.store->lookup(name);
    if (!info.ok()) path = info.take_error();
    else if (metadata) path = store::shard_db_path(node.options.configdirectory, name);
    else path = spool.mailbox_dir(info->partition, info->uniqueid);
    if (path.ok()) {
      printf("%s\n", path->c_str());
      continue;
    }
    if (!quiet) fprintf(stderr, "cyr_mbpath: %s: %s\n", name.c_str(), path.error().user_message.c_str());
    rc = 1;
    if (stop_on_error) break;
  }
  return rc;
}

}  // namespace cyr::ops
