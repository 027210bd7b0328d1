// cyr_info end to end: runs bin/cyr_info (built by the `cyrus` target) on
// files written here. Skipped when the binary has not been built.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <sys/wait.h>
#include <unistd.h>

namespace {

namespace fs = std::filesystem;

struct RunResult {
  int status = -1;
  std::string out;
};

class CyrInfo : public ::testing::Test {
 protected:
  void SetUp() override {
    bin_ = fs::path(CYR_BINARY_DIR) / "bin" / "cyr_info";
    if (!fs::exists(bin_)) GTEST_SKIP() << bin_ << " not built (ninja cyrus)";
    char tmpl[] = "/tmp/cyr_info_test.XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    write("cyrus.conf",
          "SERVICES {\n"
          "  imap cmd=\"imapd\" listen=imap\n"
          "  pop3 cmd=\"pop3d\" listen=pop3\n"
          "}\n");
  }
  void TearDown() override {
    std::error_code ec;
    if (!dir_.empty()) fs::remove_all(dir_, ec);
  }
  void write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ / name) << text;
  }
  // Runs cyr_info with args; stdout only (stderr is dropped unless asked for).
  RunResult run(const std::string& args, bool with_stderr = false) {
    std::string cmd = bin_.string() + " " + args + (with_stderr ? " 2>&1" : " 2>/dev/null");
    RunResult r;
    FILE* p = ::popen(cmd.c_str(), "r");
    if (!p) return r;
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
    int st = ::pclose(p);
    r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    return r;
  }
  std::string C() { return "-C " + (dir_ / "imapd.conf").string() + " -M " + (dir_ / "cyrus.conf").string(); }

  fs::path bin_, dir_;
};

TEST_F(CyrInfo, LintCleanConfigPrintsNothingAndExitsZero) {
  write("imapd.conf", "configdirectory: /var/lib/cyrus\npartition-default: /srv\nimap_timeout: 40\n");
  RunResult r = run(C() + " conf-lint");
  EXPECT_EQ(r.status, 0);
  EXPECT_EQ(r.out, "");
}

TEST_F(CyrInfo, LintWarningsOnlyExitZero) {
  write("imapd.conf",
        "configdirectory: /var/lib/cyrus\npartition-default: /srv\n"
        "tls_cert_file: /c.pem\n"
        "imaps_timeout: 40\n"
        "frobnicate: 1\n");
  RunResult r = run(C() + " conf-lint");
  EXPECT_EQ(r.status, 0);
  EXPECT_NE(r.out.find("imapd.conf:3: warning: tls_cert_file: deprecated; use tls_server_cert"),
            std::string::npos) << r.out;
  EXPECT_NE(r.out.find(":4: warning: imaps_timeout: 'imaps' is not a service"), std::string::npos);
  EXPECT_NE(r.out.find(":5: warning: frobnicate: unknown option"), std::string::npos);
}

TEST_F(CyrInfo, LintErrorsExitConfig) {
  write("imapd.conf", "configdirectory: /var/lib/cyrus\npartition-default: /srv\ntimeout: soon\n");
  RunResult r = run(C() + " conf-lint");
  EXPECT_EQ(r.status, 78);
  EXPECT_NE(r.out.find("imapd.conf:3: timeout: not a duration"), std::string::npos) << r.out;

  write("imapd.conf", "servername: x\n");
  r = run(C() + " conf-lint");
  EXPECT_EQ(r.status, 78);
  EXPECT_NE(r.out.find("configdirectory is not set"), std::string::npos) << r.out;

  write("imapd.conf", "configdirectory: /var/lib/cyrus\npartition-default: /srv\n");
  write("cyrus.conf", "SERVICES {\n imap cmd=\"imapd\"\n}\n");
  r = run(C() + " conf-lint");
  EXPECT_EQ(r.status, 78);
  EXPECT_NE(r.out.find("cyrus.conf:2: imap: missing listen="), std::string::npos) << r.out;
}

TEST_F(CyrInfo, ConfShowsChangedValuesAndServiceView) {
  write("imapd.conf",
        "configdirectory: /var/lib/cyrus\npartition-default: /srv\n"
        "timeout: 1h\npop3_allowplaintext: yes\nlmtpsocket: {configdirectory}/socket/lmtp\n");
  RunResult r = run(C() + " conf");
  EXPECT_EQ(r.status, 0);
  EXPECT_NE(r.out.find("timeout: 3600\n"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("configdirectory: /var/lib/cyrus\n"), std::string::npos);
  EXPECT_NE(r.out.find("partition-default: /srv\n"), std::string::npos);
  EXPECT_EQ(r.out.find("allowplaintext"), std::string::npos);  // not for the default service
  EXPECT_EQ(r.out.find("lmtpsocket"), std::string::npos);      // same as the default
  r = run(C() + " -n pop3 conf");
  EXPECT_NE(r.out.find("allowplaintext: yes\n"), std::string::npos) << r.out;

  r = run(C() + " conf-all");
  EXPECT_EQ(r.status, 0);
  EXPECT_NE(r.out.find("altnamespace: yes\n"), std::string::npos);
  EXPECT_NE(r.out.find("lmtpsocket: /var/lib/cyrus/socket/lmtp\n"), std::string::npos);
  EXPECT_EQ(r.out.find("tls_cert_file"), std::string::npos);  // deprecated: not listed
}

// Secrets are never printed: conf-all and conf show that they are set,
// not what they are, prefixed overrides included; a line that fails to
// parse does not show its value either.
TEST_F(CyrInfo, SecretsArePrintedMasked) {
  write("imapd.conf",
        "configdirectory: /var/lib/cyrus\npartition-default: /srv\n"
        "sync_password: hunter2-sync\nfailover_secret: hunter2-failover\n"
        "sql_passwd: hunter2-sql\nldap_password: hunter2-ldap\n"
        "sync_log_channels: chan1\nchan1_sync_password: hunter2-channel\n"
        "sync_authname: repluser\n");
  for (const char* cmd : {" conf-all", " conf"}) {
    RunResult r = run(C() + cmd, true);
    EXPECT_EQ(r.status, 0) << r.out;
    EXPECT_EQ(r.out.find("hunter2"), std::string::npos) << cmd << "\n" << r.out;
    EXPECT_NE(r.out.find("sync_password: <hidden>\n"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("failover_secret: <hidden>\n"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("sync_authname: repluser\n"), std::string::npos) << r.out;  // not a secret
  }
  RunResult all = run(C() + " conf-all");
  EXPECT_NE(all.out.find("proxy_password: \n"), std::string::npos) << all.out;  // unset: shown empty
  RunResult chan = run(C() + " -n chan1 conf");
  EXPECT_EQ(chan.out.find("hunter2"), std::string::npos) << chan.out;

  write("imapd.conf", "configdirectory: /var/lib/cyrus\npartition-default: /srv\nsync_password hunter2-typo\n");
  RunResult lint = run(C() + " conf-lint", true);
  EXPECT_EQ(lint.status, 78);
  EXPECT_NE(lint.out.find(":3: expected 'option: value'"), std::string::npos) << lint.out;
  EXPECT_EQ(lint.out.find("hunter2"), std::string::npos) << lint.out;
  EXPECT_EQ(run(C() + " conf-all", true).out.find("hunter2"), std::string::npos);
}

TEST_F(CyrInfo, ConfAllRefusesABrokenFile) {
  write("imapd.conf", "configdirectory: /c\nmaxword: lots\n");
  RunResult r = run(C() + " conf-all", true);
  EXPECT_EQ(r.status, 78);
  EXPECT_NE(r.out.find(":2: maxword: not an integer"), std::string::npos) << r.out;
}

TEST_F(CyrInfo, ConfDefaultAndUsage) {
  RunResult r = run("conf-default");
  EXPECT_EQ(r.status, 0);
  EXPECT_NE(r.out.find("timeout: 32m\n"), std::string::npos);
  EXPECT_NE(r.out.find("expunge_mode: delayed\n"), std::string::npos);
  EXPECT_EQ(run("").status, 64);
  EXPECT_EQ(run("conf-everything").status, 64);
  EXPECT_EQ(run("-C").status, 64);
  EXPECT_EQ(run("-C /nonexistent/imapd.conf conf-all").status, 66);
}

}  // namespace
