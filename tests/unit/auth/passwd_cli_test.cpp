// Runs the real bin/cyr_passwd (built by the `cyrus` target) against a
// temporary configuration. Skipped if the binary has not been built.
#include <sys/wait.h>

#include <csignal>
#include <cstdio>
#include <fstream>

#include <gtest/gtest.h>

#include "server/auth/user_db.h"
#include "test_util.h"

namespace cyr::auth {
namespace {

class PasswdCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    binary = std::filesystem::path(CYR_BINARY_DIR) / "bin" / "cyr_passwd";
    if (!std::filesystem::exists(binary)) GTEST_SKIP() << "bin/cyr_passwd not built";
    std::filesystem::create_directory(dir.path() / "conf");
    conf = dir.path() / "imapd.conf";
    std::ofstream(conf) << "configdirectory: " << (dir.path() / "conf").string() << "\n"
                        << "sasl_scram_iteration_counter: 32\n";
  }
  // Runs cyr_passwd with args, feeding stdin_text; returns the exit code.
  int run(const std::string& args, const std::string& stdin_text) {
    std::string cmd = binary.string() + " -C " + conf.string() + " " + args + " >/dev/null 2>&1";
    // A command refused at its arguments exits before reading its stdin:
    // writing to it then must fail with EPIPE, not kill the test (SIGPIPE).
    auto old_handler = std::signal(SIGPIPE, SIG_IGN);
    FILE* p = popen(cmd.c_str(), "w");
    if (!p) {
      std::signal(SIGPIPE, old_handler);
      return -1;
    }
    fwrite(stdin_text.data(), 1, stdin_text.size(), p);
    int st = pclose(p);
    std::signal(SIGPIPE, old_handler);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  }
  Status verify(const std::string& user, const std::string& pw) {
    auto db = UserDb::open(dir.path() / "conf" / kUserDbFileName, UserDb::Mode::ReadOnly);
    if (!db) return db.take_error();
    return (*db)->verify(user, pw, 32);
  }

  testing::TempDir dir;
  std::filesystem::path binary, conf;
};

TEST_F(PasswdCliTest, SetsChangesAndDeletes) {
  ASSERT_EQ(run("Fred", "first pw\n"), 0);
  EXPECT_TRUE(verify("fred", "first pw").ok());  // lower-cased, line ending dropped
  auto keys = UserDb::open(dir.path() / "conf" / kUserDbFileName, UserDb::Mode::ReadOnly).value()->lookup("fred");
  ASSERT_TRUE(keys.ok());
  EXPECT_EQ(keys->iterations, 32u);  // sasl_scram_iteration_counter
  ASSERT_EQ(run("fred", "second\r\n"), 0);
  EXPECT_FALSE(verify("fred", "first pw").ok());
  EXPECT_TRUE(verify("fred", "second").ok());
  ASSERT_EQ(run("-d fred", ""), 0);
  EXPECT_EQ(verify("fred", "second").error().code, Errc::NotFound);
}

TEST_F(PasswdCliTest, FailsCleanly) {
  EXPECT_EQ(run("-d nobody", ""), 1);
  EXPECT_EQ(run("fred", ""), 1);                      // no password
  EXPECT_EQ(run("fred", "\n"), 1);                    // empty password
  EXPECT_EQ(run("fred", std::string(2000, 'x')), 1);  // too long
  EXPECT_EQ(run("", "pw\n"), 64);                     // no user
  EXPECT_EQ(run("a b", "pw\n"), 64);                  // two users
  EXPECT_EQ(run("-z fred", "pw\n"), 64);              // unknown option
  EXPECT_EQ(run("'bad user'", "pw\n"), 64);           // invalid name
  EXPECT_EQ(verify("fred", "x").error().code, Errc::NotFound);
}

}  // namespace
}  // namespace cyr::auth
