// cyr_sync_reset -f user...: on a replica, delete every mailbox and the
// subscriptions of the named users, so the next sync starts from nothing
// (Cyrus sync_reset). -f is required: the command destroys data.
#include <cstdio>
#include <string>
#include <vector>

#include "ops/commands.h"
#include "server/node_store.h"
#include "store/config/imapd_conf.h"
#include "sync/mailbox_sync.h"

namespace cyr::ops {

int sync_reset_main(int argc, char** argv) {
  std::string conf_path = "/etc/imapd.conf";
  bool force = false;
  std::vector<std::string> users;
  for (int i = 1; i < argc; ++i) {
    std::string_view s = argv[i];
    if (s == "-C" && i + 1 < argc) conf_path = argv[++i];
    else if (s == "-f") force = true;
    else if (!s.empty() && s[0] == '-') users.clear(), force = false, i = argc;
    else users.emplace_back(s);
  }
  if (!force || users.empty()) {
    fprintf(stderr, "usage: cyr_sync_reset [-C imapd.conf] -f user...\n");
    return 64;
  }
  std::vector<config::Diagnostic> diags;
  auto conf = config::ImapdConf::load(conf_path, &diags);
  if (!conf.ok()) {
    fprintf(stderr, "cyr_sync_reset: %s\n", conf.error().describe().c_str());
    return 78;
  }
  auto store = server::node_store(*conf, store::OpenMode::Secondary);
  if (!store.ok()) {
    fprintf(stderr, "cyr_sync_reset: cannot open the store: %s\n", store.error().describe().c_str());
    return 75;
  }
  int rc = 0;
  for (auto& u : users) {
    if (auto subs = (*store)->subscriptions(u); subs.ok())
      for (auto& s : *subs) (void)(*store)->subscribe(u, s, false, store::WriteMode::Replication);
    Status st = (*store)->delete_mailbox(sync::user_inbox_name(u), store::WriteMode::Replication);
    if (!st.ok() && st.error().code != Errc::NotFound) {
      fprintf(stderr, "cyr_sync_reset: %s: %s\n", u.c_str(), st.error().describe().c_str());
      rc = 1;
    }
  }
  return rc;
}

}  // namespace cyr::ops
