// Paths::from_config / create_directories, and conf-lint's own checks.
#include <gtest/gtest.h>

#include <filesystem>
#include <sys/stat.h>
#include <unistd.h>

#include "store/config/lint.h"
#include "store/config/paths.h"

namespace cyr::config {
namespace {

namespace fs = std::filesystem;
using Sev = Diagnostic::Severity;

ImapdConf conf_of(const std::string& text) {
  auto r = ImapdConf::parse(text, "imapd.conf", nullptr);
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().describe());
  return r.ok() ? std::move(r).value() : ImapdConf::parse_lenient("", "imapd.conf", nullptr);
}

TEST(Paths, CyrusDefaultsRelativeToConfigdirectory) {
  auto p = Paths::from_config(conf_of("configdirectory: /var/lib/cyrus/\npartition-default: /srv/spool\n"));
  ASSERT_TRUE(p.ok()) << p.error().describe();
  EXPECT_EQ(p->configdirectory, "/var/lib/cyrus/");
  EXPECT_EQ(p->defaultpartition, "default");
  EXPECT_EQ(p->partitions.at("default"), "/srv/spool");
  EXPECT_EQ(p->proc_path, "/var/lib/cyrus/proc");
  EXPECT_EQ(p->mboxname_lockpath, "/var/lib/cyrus/lock");
  EXPECT_EQ(p->duplicate_db_path, "/var/lib/cyrus/deliver.db");
  EXPECT_EQ(p->statuscache_db_path, "/var/lib/cyrus/statuscache.db");
  EXPECT_EQ(p->ptscache_db_path, "/var/lib/cyrus/ptscache.db");
  EXPECT_EQ(p->tls_sessions_db_path, "/var/lib/cyrus/tls_sessions.db");
  EXPECT_EQ(p->lmtpsocket, "/var/lib/cyrus/socket/lmtp");
  EXPECT_EQ(p->idlesocket, "/var/lib/cyrus/socket/idle");
  EXPECT_EQ(p->notifysocket, "/var/lib/cyrus/socket/notify");
  EXPECT_EQ(p->sync_log_dir, "/var/lib/cyrus/sync");
  EXPECT_EQ(p->mboxlist_db_path, "/var/lib/cyrus/mailboxes.db");
  EXPECT_EQ(p->quota_db_path, "/var/lib/cyrus/quotas.db");
  EXPECT_EQ(p->meta_root("default"), "/srv/spool");
  EXPECT_EQ(p->meta_root("nosuch"), "");
}

TEST(Paths, EphemeralPathsAsInSeed001) {
  auto p = Paths::from_config(conf_of(
      "configdirectory: /var/lib/cyrus\n"
      "defaultpartition: main\n"
      "partition-main: /srv/main\n"
      "partition-default: /srv/default\n"
      "metapartition-main: /ssd/main\n"
      "proc_path: /run/cyrus/proc\n"
      "mboxname_lockpath: /run/cyrus/lock\n"
      "duplicate_db_path: /run/cyrus/deliver.db\n"
      "statuscache_db_path: /run/cyrus/statuscache.db\n"
      "ptscache_db_path: /run/cyrus/ptscache.db\n"
      "tls_sessions_db_path: /run/cyrus/tls_sessions.db\n"
      "lmtpsocket: /run/cyrus/socket/lmtp\n"
      "idlesocket: /run/cyrus/socket/idle\n"
      "notifysocket: /run/cyrus/socket/notify\n"));
  ASSERT_TRUE(p.ok()) << p.error().describe();
  EXPECT_EQ(p->defaultpartition, "main");
  EXPECT_EQ(p->proc_path, "/run/cyrus/proc");
  EXPECT_EQ(p->mboxname_lockpath, "/run/cyrus/lock");
  EXPECT_EQ(p->duplicate_db_path, "/run/cyrus/deliver.db");
  EXPECT_EQ(p->statuscache_db_path, "/run/cyrus/statuscache.db");
  EXPECT_EQ(p->ptscache_db_path, "/run/cyrus/ptscache.db");
  EXPECT_EQ(p->tls_sessions_db_path, "/run/cyrus/tls_sessions.db");
  EXPECT_EQ(p->lmtpsocket, "/run/cyrus/socket/lmtp");
  EXPECT_EQ(p->idlesocket, "/run/cyrus/socket/idle");
  EXPECT_EQ(p->notifysocket, "/run/cyrus/socket/notify");
  EXPECT_EQ(p->meta_root("main"), "/ssd/main");
  EXPECT_EQ(p->meta_root("default"), "/srv/default");
}

TEST(Paths, DefaultPartitionWithoutDefaultpartition) {
  auto p = Paths::from_config(conf_of("configdirectory: /c\npartition-b: /b\npartition-a: /a\n"));
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->defaultpartition, "a");  // no "default": the first by name
}

struct PathError {
  const char* text;
  const char* message_part;
};
class PathsError : public ::testing::TestWithParam<PathError> {};

TEST_P(PathsError, IsClear) {
  auto p = Paths::from_config(conf_of(GetParam().text));
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.error().code, Errc::Invalid);
  EXPECT_NE(p.error().user_message.find(GetParam().message_part), std::string::npos)
      << p.error().describe();
}

INSTANTIATE_TEST_SUITE_P(
    All, PathsError,
    ::testing::Values(PathError{"partition-default: /s\n", "configdirectory is not set"},
                      PathError{"configdirectory: relative\npartition-default: /s\n", "absolute"},
                      PathError{"configdirectory: /c\n", "no partition"},
                      PathError{"configdirectory: /c\ndefaultpartition: main\npartition-default: /s\n",
                                "partition-main"},
                      PathError{"configdirectory: /c\npartition-default: /s\nproc_path: run/proc\n",
                                "proc_path"}));

class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/cyr_config_test.XXXXXX";
    path_ = ::mkdtemp(tmpl);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

TEST(Paths, CreateDirectories) {
  TempDir t;
  std::string d = t.path().string();
  auto p = Paths::from_config(conf_of("configdirectory: " + d + "/conf\n" +
                                      "partition-default: " + d + "/spool/a/b\n" +
                                      "metapartition-default: " + d + "/meta\n" +
                                      "lmtpsocket: " + d + "/run/socket/lmtp\n" +
                                      "duplicate_db_path: " + d + "/run/db/deliver.db\n"));
  ASSERT_TRUE(p.ok()) << p.error().describe();
  ASSERT_TRUE(p->create_directories().ok());
  for (const char* sub : {"conf", "conf/proc", "conf/lock", "conf/sync", "conf/socket", "spool/a/b",
                          "meta", "run/socket", "run/db"})
    EXPECT_TRUE(fs::is_directory(t.path() / sub)) << sub;
  // The sockets and databases themselves are not created.
  EXPECT_FALSE(fs::exists(t.path() / "run/socket/lmtp"));
  EXPECT_FALSE(fs::exists(t.path() / "run/db/deliver.db"));
  struct stat st;
  ASSERT_EQ(::stat((t.path() / "spool/a/b").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0027, 0u);  // never group-writable or world-accessible
  // Idempotent.
  EXPECT_TRUE(p->create_directories().ok());
}

TEST(Paths, CreateDirectoriesReportsAFileInTheWay) {
  TempDir t;
  std::string d = t.path().string();
  FILE* f = fopen((d + "/blocker").c_str(), "w");
  ASSERT_NE(f, nullptr);
  fclose(f);
  auto p = Paths::from_config(conf_of("configdirectory: " + d + "/conf\n" +
                                      "partition-default: " + d + "/blocker/spool\n"));
  ASSERT_TRUE(p.ok());
  auto s = p->create_directories();
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, Errc::Io);
  EXPECT_NE(s.error().user_message.find("blocker"), std::string::npos);
}

CyrusConf cyrus_of(const std::string& text) {
  auto r = CyrusConf::parse(text, "cyrus.conf", nullptr);
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().describe());
  return r.ok() ? std::move(r).value() : CyrusConf{};
}

const char kServices[] =
    "SERVICES {\n"
    "  imap cmd=\"imapd\" listen=imap\n"
    "  pop3 cmd=\"pop3d\" listen=pop3\n"
    "  lmtpunix cmd=\"lmtpd\" listen=/run/lmtp\n"
    "}\n";

TEST(Lint, OverridePrefixesMustNameAServiceOrChannel) {
  auto conf = conf_of(
      "configdirectory: /c\npartition-default: /s\n"
      "imap_timeout: 40\n"                 // service: fine
      "lmtpunix_lmtp_downcase_rcpt: no\n"  // service: fine
      "imaps_timeout: 40\n"                // no such service
      "pop3_sasl_mech_list: PLAIN\n"       // sasl, service: fine
      "pop_sasl_mech_list: PLAIN\n"        // sasl, no such service
      "sync_log_channels: replica squatter\n"
      "replica_sync_host: peer\n"          // channel, sync_* option: fine
      "replica_timeout: 40\n"              // channel prefix applies to sync_* only
      "other_sync_host: x\n");             // neither
  auto cyrus = cyrus_of(kServices);
  auto d = lint_config(conf, &cyrus);
  std::vector<std::string> flagged;
  for (const auto& x : d) {
    EXPECT_EQ(x.severity, Sev::Warning) << x.to_string();
    flagged.push_back(x.option);
  }
  EXPECT_EQ(flagged, (std::vector<std::string>{"imaps_timeout", "pop_sasl_mech_list",
                                               "replica_timeout", "other_sync_host"}));
  EXPECT_NE(d[0].message.find("'imaps' is not a service in cyrus.conf"), std::string::npos);
  EXPECT_EQ(d[0].line, 5);
  // Without cyrus.conf the prefixes cannot be checked.
  EXPECT_TRUE(lint_config(conf, nullptr).empty());
}

TEST(Lint, ReportsMissingRequiredOptions) {
  auto conf = conf_of("servername: x\n");
  auto d = lint_config(conf, nullptr);
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].severity, Sev::Error);
  EXPECT_NE(d[0].message.find("configdirectory"), std::string::npos);
}

TEST(Lint, EffectiveDefaultExpandsConfigdirectory) {
  auto conf = conf_of("configdirectory: /c\npartition-default: /s\n");
  EXPECT_EQ(effective_default(conf, *find_option("lmtpsocket")), "/c/socket/lmtp");
  EXPECT_EQ(effective_default(conf, *find_option("timeout")), "32m");
}

}  // namespace
}  // namespace cyr::config
