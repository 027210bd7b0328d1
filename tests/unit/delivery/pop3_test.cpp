#include <gtest/gtest.h>

#include "server/pop3d/pop3d_service.h"

namespace cyr::pop3d {
namespace {

TEST(Pop3Parse, Commands) {
  auto c = parse_command("retr 3");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->verb, Verb::Retr);
  ASSERT_EQ(c->args.size(), 1u);
  EXPECT_EQ(c->args[0], "3");
  auto p = parse_command("PASS secret with spaces");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->args[0], "secret with spaces");
  EXPECT_EQ(parse_command("XTND x")->verb, Verb::Unknown);
  EXPECT_FALSE(parse_command("TOP 1 2 3").ok());
  EXPECT_FALSE(parse_command(std::string(kMaxCommandLine + 1, 'a')).ok());
  EXPECT_FALSE(parse_command(std::string("USER a\0b", 8)).ok());
}

TEST(Pop3Parse, MessageNumbers) {
  EXPECT_EQ(parse_msgno("1", 3), 1u);
  EXPECT_EQ(parse_msgno("3", 3), 3u);
  EXPECT_FALSE(parse_msgno("0", 3));
  EXPECT_FALSE(parse_msgno("4", 3));
  EXPECT_FALSE(parse_msgno("-1", 3));
  EXPECT_FALSE(parse_msgno("1x", 3));
  EXPECT_FALSE(parse_msgno("", 3));
  EXPECT_FALSE(parse_msgno("99999999999", 3));
}

TEST(Pop3Format, DotStuffAcrossChunks) {
  std::string out;
  DotStuffState st;
  dot_stuff(".a\r\n.b\r", out, st);
  dot_stuff("\n..c\nd", out, st);
  EXPECT_EQ(out, "..a\r\n..b\r\n...c\r\nd");
  EXPECT_FALSE(st.line_start);
}

TEST(Pop3Format, TopKeepsHeaderAndNLines) {
  std::string m = "A: 1\r\nB: 2\r\n\r\nl1\r\nl2\r\nl3\r\n";
  EXPECT_EQ(top_of_message(m, 0), "A: 1\r\nB: 2\r\n\r\n");
  EXPECT_EQ(top_of_message(m, 2), "A: 1\r\nB: 2\r\n\r\nl1\r\nl2\r\n");
  EXPECT_EQ(top_of_message(m, 10), m);
}

TEST(Pop3Policy, MinPollWithPadding) {
  LoginTimes t;
  auto now = std::chrono::steady_clock::now();
  using std::chrono::seconds;
  EXPECT_TRUE(t.allow("fred", seconds(0), 1, now));  // popminpoll unset
  EXPECT_TRUE(t.allow("fred", seconds(0), 1, now));
  EXPECT_TRUE(t.allow("u", seconds(600), 1, now));
  EXPECT_FALSE(t.allow("u", seconds(600), 1, now + seconds(10)));
  EXPECT_TRUE(t.allow("other", seconds(600), 1, now + seconds(10)));
  EXPECT_TRUE(t.allow("u", seconds(600), 1, now + seconds(601)));
  EXPECT_TRUE(t.allow("p", seconds(600), 2, now));
  EXPECT_TRUE(t.allow("p", seconds(600), 2, now + seconds(1)));
  EXPECT_FALSE(t.allow("p", seconds(600), 2, now + seconds(2)));
}

TEST(Pop3Policy, MaildropLockIsExclusive) {
  MaildropLocks l;
  EXPECT_TRUE(l.try_lock("user.a"));
  EXPECT_FALSE(l.try_lock("user.a"));
  EXPECT_TRUE(l.try_lock("user.b"));
  l.unlock("user.a");
  EXPECT_TRUE(l.try_lock("user.a"));
}

}  // namespace
}  // namespace cyr::pop3d
