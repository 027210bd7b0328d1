// cyr_userseen: clears the per-user seen state of the whole store, as Cyrus
// cyr_userseen(8): without -d it only reports what it would clear. The seen
// state kept here is that of users reading mailboxes they do not own (shared
// folders, other users' folders); an owner's \Seen is a flag on the message
// and is not touched. Clearing is an ordinary seen write (an empty state),
// so it is replicated. Safe while the node runs; refused on a replica.
#include <cstdio>
#include <string>

#include "ops/adm/common.h"
#include "ops/commands.h"

namespace cyr::ops {
namespace {

// "fred" owns user.fred and below; "fred@example.com" owns
// example.com!user.fred and below.
bool owns(const std::string& userid, const std::string& mailbox) {
  std::string inbox;
  if (auto at = userid.find('@'); at != std::string::npos)
    inbox = userid.substr(at + 1) + "!user." + userid.substr(0, at);
  else
    inbox = "user." + userid;
  return mailbox == inbox || mailbox.compare(0, inbox.size() + 1, inbox + ".") == 0;
}

}  // namespace

int userseen_main(int argc, char** argv) {
  std::string conf_path = "/etc/imapd.conf";
  bool do_delete = false;
  for (int i = 1; i < argc; ++i) {
    std::string_view s = argv[i];
    if (s == "-C" && i + 1 < argc) conf_path = argv[++i];
    else if (s == "-d" || s == "--delete") do_delete = true;
    else {
      fprintf(stderr,
              "usage: cyr_userseen [-C imapd.conf] [-d]\n"
              "  without -d: list the seen state that would be cleared\n"
              "  -d: clear all users' seen state on every mailbox\n");
      return adm::kExUsage;
    }
  }
  adm::OpenedStore node;
  if (int rc = adm::open_node("cyr_userseen", conf_path, true, node)) return rc;
  store::Store& st = *node.store;
  if (do_delete && st.node_state().role == store::Role::Replica) {
    fprintf(stderr, "cyr_userseen: this node is a replica; run it on the primary\n");
    return adm::kExTempFail;
  }
  auto names = st.list("*");
  if (!names.ok()) {
    fprintf(stderr, "cyr_userseen: cannot list mailboxes: %s\n", names.error().describe().c_str());
    return adm::kExTempFail;
  }
  int rc = 0;
  size_t entries = 0;
  for (const auto& name : *names) {
    auto users = st.seen_users(name);
    if (!users.ok()) {
      fprintf(stderr, "cyr_userseen: %s: %s\n", name.c_str(), users.error().describe().c_str());
      rc = 1;
      continue;
    }
    for (const auto& user : *users) {
      // An owner's row only holds the \Recent watermark of their own
      // mailboxes (their \Seen is a message flag); clearing it would make
      // every old message \Recent again, so it is not seen state to clear.
      if (owns(user, name)) continue;
      auto cur = st.get_seen(user, name);
      if (cur.ok() && *cur == store::SeenState{}) continue;  // already clear
      ++entries;
      if (!do_delete) {
        printf("%s: seen state of %s would be cleared (%s)\n", name.c_str(), user.c_str(),
               cur.ok() && !cur->seenuids.empty() ? cur->seenuids.c_str() : "-");
        continue;
      }
      if (auto s = st.set_seen(user, name, store::SeenState{}); !s.ok()) {
        fprintf(stderr, "cyr_userseen: %s, %s: %s\n", name.c_str(), user.c_str(), s.error().describe().c_str());
        rc = 1;
        continue;
      }
      printf("%s: cleared seen state of %s\n", name.c_str(), user.c_str());
    }
  }
  printf("%s %zu seen entries\n", do_delete ? "cleared" : "would clear", entries);
  return rc;
}

}  // namespace cyr::ops
