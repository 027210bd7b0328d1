#include "server/command_map.h"

#include <gtest/gtest.h>

#include <set>
#include <string>

namespace cyr::server {
namespace {

using Kind = MappedCommand::Kind;

CommandCatalog catalog() {
  static const std::set<std::string, std::less<>> handlers = {"imapd", "pop3d", "lmtpd",
                                                              "sync_server"};
  static const std::set<std::string, std::less<>> commands = {"cyrusdb", "expire", "tls_prune",
                                                              "sync_client", "squatter"};
  CommandCatalog c;
  c.has_handler = [](std::string_view n) { return handlers.count(n) > 0; };
  c.has_command = [](std::string_view n) { return commands.count(n) > 0; };
  return c;
}

MappedCommand map(std::vector<std::string> argv, EntrySection s) {
  return map_command(argv, s, catalog());
}

TEST(CommandMap, ImapdPlainAndImplicitTls) {
  auto plain = map({"imapd"}, EntrySection::Services);
  EXPECT_EQ(plain.kind, Kind::Handler);
  EXPECT_EQ(plain.name, "imapd");
  EXPECT_FALSE(plain.implicit_tls);

  auto tls = map({"imapd", "-s"}, EntrySection::Services);
  EXPECT_EQ(tls.kind, Kind::Handler);
  EXPECT_TRUE(tls.implicit_tls);
  EXPECT_EQ(tls.argv, (std::vector<std::string>{"imapd", "-s"}));
}

TEST(CommandMap, AbsolutePathIsTheSameProgram) {
  auto m = map({"/usr/lib/cyrus/bin/imapd", "-s"}, EntrySection::Services);
  EXPECT_EQ(m.kind, Kind::Handler);
  EXPECT_EQ(m.name, "imapd");
  EXPECT_TRUE(m.implicit_tls);
  EXPECT_EQ(m.argv[0], "imapd");
}

TEST(CommandMap, Pop3dAndLmtpd) {
  EXPECT_TRUE(map({"pop3d", "-s"}, EntrySection::Services).implicit_tls);
  EXPECT_FALSE(map({"pop3d"}, EntrySection::Services).implicit_tls);
  auto lmtp = map({"lmtpd", "-a"}, EntrySection::Services);
  EXPECT_EQ(lmtp.kind, Kind::Handler);
  EXPECT_EQ(lmtp.name, "lmtpd");
  // -a (preauthorised) is the handler's business, not TLS.
  EXPECT_FALSE(lmtp.implicit_tls);
  EXPECT_EQ(lmtp.argv, (std::vector<std::string>{"lmtpd", "-a"}));
  EXPECT_EQ(map({"sync_server"}, EntrySection::Services).kind, Kind::Handler);
}

TEST(CommandMap, ServiceWithoutHandlerIsUnsupportedWithReason) {
  auto m = map({"timsieved"}, EntrySection::Services);
  EXPECT_EQ(m.kind, Kind::Unsupported);
  EXPECT_NE(m.reason.find("timsieved"), std::string::npos);
}

TEST(CommandMap, UtilitiesBecomeMultiCallCommands) {
  auto db = map({"ctl_cyrusdb", "-r"}, EntrySection::Start);
  EXPECT_EQ(db.kind, Kind::Command);
  EXPECT_EQ(db.name, "cyrusdb");
  EXPECT_EQ(db.argv, (std::vector<std::string>{"cyr_cyrusdb", "-r"}));

  auto expire = map({"/usr/sbin/cyr_expire", "-E", "3"}, EntrySection::Events);
  EXPECT_EQ(expire.kind, Kind::Command);
  EXPECT_EQ(expire.argv, (std::vector<std::string>{"cyr_expire", "-E", "3"}));

  auto prune = map({"tls_prune"}, EntrySection::Events);
  EXPECT_EQ(prune.kind, Kind::Command);
  EXPECT_EQ(prune.argv[0], "cyr_tls_prune");

  auto sc = map({"sync_client", "-r"}, EntrySection::Daemon);
  EXPECT_EQ(sc.kind, Kind::Command);
  EXPECT_EQ(sc.argv, (std::vector<std::string>{"cyr_sync_client", "-r"}));

  auto ckpt = map({"ctl_cyrusdb", "-c"}, EntrySection::Events);
  EXPECT_EQ(ckpt.argv, (std::vector<std::string>{"cyr_cyrusdb", "-c"}));
  EXPECT_EQ(map({"squatter"}, EntrySection::Events).kind, Kind::Command);
}

TEST(CommandMap, UtilityNotBuiltIsUnsupported) {
  auto m = map({"ctl_mboxlist", "-d"}, EntrySection::Start);
  EXPECT_EQ(m.kind, Kind::Unsupported);
  EXPECT_NE(m.reason.find("cyr_mboxlist"), std::string::npos);
}

TEST(CommandMap, WrongSection) {
  EXPECT_EQ(map({"imapd"}, EntrySection::Daemon).kind, Kind::Unsupported);
  EXPECT_EQ(map({"ctl_cyrusdb", "-r"}, EntrySection::Services).kind, Kind::Unsupported);
}

TEST(CommandMap, ExternalAbsolutePathRunsAsWritten) {
  auto m = map({"/usr/local/bin/site-backup", "--quick"}, EntrySection::Events);
  EXPECT_EQ(m.kind, Kind::External);
  EXPECT_EQ(m.argv, (std::vector<std::string>{"/usr/local/bin/site-backup", "--quick"}));
  // Not as a service, and not without a path.
  EXPECT_EQ(map({"/usr/local/bin/site-backup"}, EntrySection::Services).kind, Kind::Unsupported);
  auto rel = map({"site-backup"}, EntrySection::Events);
  EXPECT_EQ(rel.kind, Kind::Unsupported);
  EXPECT_NE(rel.reason.find("site-backup"), std::string::npos);
}

TEST(CommandMap, EmptyCommand) {
  EXPECT_EQ(map({}, EntrySection::Start).kind, Kind::Unsupported);
  EXPECT_EQ(map({""}, EntrySection::Start).kind, Kind::Unsupported);
  EXPECT_EQ(map({"/usr/bin/"}, EntrySection::Start).kind, Kind::Unsupported);
}

TEST(CommandMap, UtilityNames) {
  EXPECT_EQ(cyrus_utility_command("ctl_conversationsdb"), "conversationsdb");
  EXPECT_EQ(cyrus_utility_command("/x/cyr_dbtool"), "dbtool");
  EXPECT_EQ(cyrus_utility_command("reconstruct"), "reconstruct");
  EXPECT_EQ(cyrus_utility_command("imapd"), "");
  EXPECT_TRUE(is_cyrus_service_program("/usr/lib/cyrus/bin/lmtpd"));
  EXPECT_FALSE(is_cyrus_service_program("ctl_cyrusdb"));
  EXPECT_EQ(program_basename("/a/b/c"), "c");
  EXPECT_EQ(program_basename("c"), "c");
}

}  // namespace
}  // namespace cyr::server

namespace cyr::server {
namespace {

TEST(CommandMap, TablesAreSortedForBinarySearch) {
  // Every name in the tables must be found; a mis-sorted table would lose some.
  for (const char* s : {"backupd", "fud", "httpd", "imapd", "lmtpd", "lmtpproxyd", "mupdate",
                        "nntpd", "notifyd", "pop3d", "pop3proxyd", "proxyd", "smmapd",
                        "sync_server", "timsieved"})
    EXPECT_TRUE(is_cyrus_service_program(s)) << s;
  for (const char* u : {"arbitron", "chk_cyrus", "ctl_backups", "ctl_conversationsdb",
                        "ctl_cyrusdb", "ctl_deliver", "ctl_mboxlist", "ctl_zoneinfo",
                        "cvt_cyrusdb", "cyr_backup", "cyr_buildinfo", "cyr_dbtool", "cyr_deny",
                        "cyr_df", "cyr_expire", "cyr_info", "cyr_sequence", "cyr_synclog",
                        "cyr_userseen", "cyr_virusscan", "deliver", "fetchnews", "idled", "ipurge",
                        "mbexamine", "mbpath", "mbtool", "ptdump", "ptexpire", "ptloader", "quota",
                        "reconstruct", "restore", "sievec", "squatter", "sync_client",
                        "sync_reset", "tls_prune", "unexpunge"})
    EXPECT_FALSE(cyrus_utility_command(u).empty()) << u;
}

TEST(CommandMap, IdledIsADaemonNotAService) {
  auto m = map_command({"idled"}, EntrySection::Daemon, CommandCatalog{});
  EXPECT_EQ(m.kind, MappedCommand::Kind::Unsupported);
  EXPECT_NE(m.reason.find("cyr_idled"), std::string::npos);
}

}  // namespace
}  // namespace cyr::server
