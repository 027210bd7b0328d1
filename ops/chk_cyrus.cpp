// cyr_chk_cyrus [-C imapd.conf] [-P partition] [-M mailbox]: every indexed
// (not expunged) message has its file, with the size and GUID of its index
// record. Prints each problem; exits 1 if there is any. Read-only; safe while
// the node runs (a message expunged and purged meanwhile may show as missing:
// run it again to confirm).
#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

#include "ops/adm/common.h"
#include "ops/commands.h"
#include "store/reconstruct.h"

namespace cyr::ops {

int chk_cyrus_main(int argc, char** argv) {
  std::string conf_path = "/etc/imapd.conf", partition, mailbox;
  bool bad = false;
  for (int i = 1; i < argc; ++i) {
    std::string_view s = argv[i];
    if ((s == "-C" || s == "-P" || s == "-M") && i + 1 < argc) {
      std::string v = argv[++i];
      (s == "-C" ? conf_path : s == "-P" ? partition : mailbox) = v;
    } else {
      bad = true;
    }
  }
  if (bad) {
    fprintf(stderr,
            "usage: cyr_chk_cyrus [-C imapd.conf] [-P partition] [-M mailbox]\n"
            "  -P partition  only mailboxes on this partition\n"
            "  -M mailbox    only this mailbox\n");
    return adm::kExUsage;
  }
  adm::OpenedStore node;
  if (int rc = adm::open_node("cyr_chk_cyrus", conf_path, false, node)) return rc;
  if (!partition.empty() && !node.options.partitions.count(partition)) {
    fprintf(stderr, "cyr_chk_cyrus: partition %s is not configured in %s\n", partition.c_str(), conf_path.c_str());
    return adm::kExUsage;
  }
  store::Repairer rep(store::RepairOptions::from(node.options),
                      [](const std::string& line) { printf("%s\n", line.c_str()); });
  auto names = rep.listed(mailbox, false, partition);
  if (!names.ok()) {
    fprintf(stderr, "cyr_chk_cyrus: %s\n", names.error().describe().c_str());
    return adm::kExNoInput;
  }
  if (!mailbox.empty() && names->empty()) {
    fprintf(stderr, "cyr_chk_cyrus: %s: mailbox does not exist%s\n", mailbox.c_str(),
            partition.empty() ? "" : " on that partition");
    return adm::kExNoInput;
  }
  bool tty = isatty(STDERR_FILENO);
  size_t problems = 0, done = 0;
  for (const auto& n : *names) {
    if (tty) fprintf(stderr, "\rcyr_chk_cyrus: %zu/%zu mailboxes ", done, names->size());
    auto r = rep.check_files(n);
    ++done;
    if (!r.ok()) {
      printf("%s: cannot check: %s\n", n.c_str(), r.error().describe().c_str());
      ++problems;
      continue;
    }
    problems += *r;
  }
  if (tty) fprintf(stderr, "\rcyr_chk_cyrus: %zu/%zu mailboxes\n", done, names->size());
  printf("%zu mailboxes checked, %zu problems\n", done, problems);
  return problems ? 1 : 0;
}

}  // namespace cyr::ops
