// Entry point of the multi-call binary: dispatch on the name we were run as
// (cyr_master -> "master"), or on the first argument ("cyrus master ...").
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>

#include "ops/commands.h"

namespace cyr::ops {
namespace {

constexpr CommandSpec kCommands[] = {
    {"master", &master_main, "run one node: services, events and daemons from cyrus.conf"},
    {"info", &info_main, "show configuration: conf-lint, conf-all, conf, conf-default"},
    {"passwd", &passwd_main, "set (from stdin) or delete (-d) a user's password"},
    {"deliver", &deliver_main, "deliver one message from stdin through the node's LMTP socket"},
    {"sync_client", &sync_client_main, "replicate to the replica: -u, -m, -A, -f, rolling -r, --verify"},
    {"sync_reset", &sync_reset_main, "on a replica, delete users' data before a fresh sync (-f)"},
    {"quota", &quota_main, "report quota roots and usage; -f recomputes usage"},
    {"mbexamine", &mbexamine_main, "print a mailbox's index header and message records"},
    {"mbpath", &mbpath_main, "print where a mailbox's files (or -m its index) live"},
    {"mboxlist", &mboxlist_main, "dump (-d) the mailbox list as text or load (-u) it back"},
    {"reconstruct", &reconstruct_main, "rebuild mailbox indexes from message files; -m the mailbox list"},
    {"chk_cyrus", &chk_cyrus_main, "check that every indexed message has its file, size and GUID"},
    {"cyrusdb", &cyrusdb_main, "databases: recover/verify (-r), checkpoint (-c), --restore"},
    {"dbtool", &dbtool_main, "show/get/set/delete keys of a database"},
    {"cvt_cyrusdb", &cvt_cyrusdb_main, "convert a database between sqlite and flat text"},
    {"failover", &failover_main, "HA pair: status, switchover, promote --force, witness"},
    {"adm", &adm_main, "admin shell over IMAP, like cyradm: interactive or -f script"},
    {"expire", &expire_main, "prune the duplicate db, expire by annotation, purge expunged (-X)"},
    {"ipurge", &ipurge_main, "delete messages by age or size"},
    {"unexpunge", &unexpunge_main, "list (-l) or restore expunged messages"},
    {"df", &df_main, "space used and free on each partition"},
    {"userseen", &userseen_main, "clear (-d) all users' seen state"},
    {"tls_prune", &tls_prune_main, "TLS session cache upkeep (in memory here: reports only)"},
    {"deny", &deny_main, "deny (-s services, -m message) a user access, allow again (-a), list (-l)"},
    {"synclog", &synclog_main, "add a record (-u user, -m mailbox, ...) to the replication change log"},
    {"ctl_deliver", &ctl_deliver_main, "dump (-d) or prune (-E age) the duplicate-delivery database"},
};

int usage(FILE* out) {
  fprintf(out, "usage: cyr_<command> [args...]  or  cyrus <command> [args...]\ncommands:\n");
  for (const auto& c : kCommands)
    fprintf(out, "  cyr_%-16.*s %.*s\n", static_cast<int>(c.name.size()), c.name.data(),
            static_cast<int>(c.summary.size()), c.summary.data());
  return out == stderr ? 64 : 0;  // EX_USAGE
}

}  // namespace

std::span<const CommandSpec> commands() { return kCommands; }

const CommandSpec* find_command(std::string_view name) {
  for (const auto& c : kCommands)
    if (c.name == name) return &c;
  return nullptr;
}

}  // namespace cyr::ops

int main(int argc, char** argv) {
  using namespace cyr::ops;
  std::string_view self = argv[0];
  if (auto slash = self.rfind('/'); slash != std::string_view::npos) self.remove_prefix(slash + 1);
  if (self.starts_with("cyr_")) {
    self.remove_prefix(4);
    if (const auto* c = find_command(self)) return c->main(argc, argv);
    fprintf(stderr, "%s: unknown command\n", argv[0]);
    return usage(stderr);
  }
  if (argc < 2) return usage(stderr);
  std::string_view sub = argv[1];
  if (sub == "--help" || sub == "-h" || sub == "help") return usage(stdout);
  if (const auto* c = find_command(sub)) {
    std::string name = "cyr_" + std::string(sub);
    argv[1] = name.data();  // the command sees itself as cyr_<name>
    return c->main(argc - 1, argv + 1);
  }
  fprintf(stderr, "cyrus: unknown command '%s'\n", argv[1]);
  return usage(stderr);
}
