#include "server/auth/saslauthd.h"

#include <gtest/gtest.h>

#include "test_util.h"

namespace cyr::auth {
namespace {

using testing::FakeSaslauthd;
using namespace std::chrono_literals;

class SaslauthdTest : public ::testing::Test {
 protected:
  testing::TempDir dir;
  std::filesystem::path sock = dir.path() / "mux";
  SaslauthdRequest req{"fred", "secret", "imap", "example.com"};
};

TEST_F(SaslauthdTest, OkReplyAcceptsAndSendsAllFields) {
  FakeSaslauthd fake(sock);
  fake.set_reply(FakeSaslauthd::counted("OK"));
  auto r = saslauthd_check(sock, req, 2s);
  ASSERT_TRUE(r.ok()) << r.error().describe();
  EXPECT_TRUE(r->accepted);
  EXPECT_EQ(fake.last_login, "fred");
  EXPECT_EQ(fake.last_password, "secret");
  EXPECT_EQ(fake.last_service, "imap");
  EXPECT_EQ(fake.last_realm, "example.com");
}

TEST_F(SaslauthdTest, NoReplyRefuses) {
  FakeSaslauthd fake(sock);
  fake.set_reply(FakeSaslauthd::counted("NO authentication failed"));
  auto r = saslauthd_check(sock, req, 2s);
  ASSERT_TRUE(r.ok()) << r.error().describe();
  EXPECT_FALSE(r->accepted);
  EXPECT_EQ(r->text, "NO authentication failed");
}

TEST_F(SaslauthdTest, GarbageRepliesAreErrors) {
  FakeSaslauthd fake(sock);
  fake.set_reply(FakeSaslauthd::counted("MAYBE"));
  auto r = saslauthd_check(sock, req, 2s);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::Io);

  fake.set_reply(std::string("\xFF\xFF", 2) + "OK");  // length over the bound
  r = saslauthd_check(sock, req, 2s);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::Io);

  fake.set_reply(std::string("\x00\x10", 2) + "OK");  // promised 16 bytes, sent 2, then closed
  r = saslauthd_check(sock, req, 2s);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::Temp);

  fake.set_reply(FakeSaslauthd::counted(""));  // empty reply
  r = saslauthd_check(sock, req, 2s);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::Io);
}

TEST_F(SaslauthdTest, SilentServerTimesOut) {
  FakeSaslauthd fake(sock);
  fake.set_behaviour(FakeSaslauthd::Behaviour::Silent);
  auto start = std::chrono::steady_clock::now();
  auto r = saslauthd_check(sock, req, 200ms);
  auto took = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::Temp);
  EXPECT_NE(r.error().detail.find("timeout"), std::string::npos);
  EXPECT_GE(took, 150ms);
  EXPECT_LT(took, 2s);
}

TEST_F(SaslauthdTest, ServerClosingEarlyIsTemp) {
  FakeSaslauthd fake(sock);
  fake.set_behaviour(FakeSaslauthd::Behaviour::CloseEarly);
  auto r = saslauthd_check(sock, req, 2s);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::Temp);
}

TEST_F(SaslauthdTest, NoServerIsTempWithTheFaqMessage) {
  auto r = saslauthd_check(sock, req, 1s);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::Temp);
  EXPECT_NE(r.error().detail.find("cannot connect to saslauthd server"), std::string::npos);
}

TEST_F(SaslauthdTest, BoundsFieldsAndPath) {
  FakeSaslauthd fake(sock);
  SaslauthdRequest big = req;
  big.password = std::string(kMaxSaslauthdField + 1, 'x');
  EXPECT_EQ(saslauthd_check(sock, big, 1s).error().code, Errc::Limit);
  EXPECT_EQ(saslauthd_check(std::string(200, 'p'), req, 1s).error().code, Errc::Invalid);
  EXPECT_EQ(fake.requests.load(), 0);
}

}  // namespace
}  // namespace cyr::auth
