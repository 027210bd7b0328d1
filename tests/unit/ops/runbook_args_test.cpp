// Argument parsing of cyr_deny, cyr_synclog and cyr_ctl_deliver
// (ops/adm/runbook_args.h): what each accepts, and that bad input is a
// usage error (exit 64) before anything is opened.
#include <gtest/gtest.h>

#include "ops/adm/runbook_args.h"

namespace cyr::ops::adm {
namespace {

using V = std::vector<std::string_view>;
using T = sync::SyncLogType;

TEST(DenyArgs, Forms) {
  auto deny = parse_deny_args(V{"-C", "/etc/x.conf", "-s", "imap,pop3", "-m", "Pay up", "fred"});
  ASSERT_TRUE(deny.ok()) << deny.error().user_message;
  EXPECT_EQ(deny->mode, DenyMode::Deny);
  EXPECT_EQ(deny->conf_path, "/etc/x.conf");
  EXPECT_EQ(deny->services, "imap,pop3");
  EXPECT_EQ(deny->message, "Pay up");
  EXPECT_EQ(deny->user, "fred");

  auto plain = parse_deny_args(V{"fred"});
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain->services, "");  // "*" is the store's default
  auto allow = parse_deny_args(V{"-a", "fred"});
  ASSERT_TRUE(allow.ok());
  EXPECT_EQ(allow->mode, DenyMode::Allow);
  auto list = parse_deny_args(V{"--list"});
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(list->mode, DenyMode::List);
  auto longs = parse_deny_args(V{"--services=sieve", "--message=No", "bob"});
  ASSERT_TRUE(longs.ok());
  EXPECT_EQ(longs->services, "sieve");
  EXPECT_EQ(longs->message, "No");
}

TEST(DenyArgs, UsageErrors) {
  for (const V& bad : {V{}, V{"-a"}, V{"-l", "fred"}, V{"-a", "-l", "fred"}, V{"-a", "-s", "imap", "fred"},
                       V{"-l", "-m", "x"}, V{"fred", "bob"}, V{"-x", "fred"}, V{"-s"}, V{"-s", "", "fred"},
                       V{"-s", "imap,,pop3", "fred"}, V{"-m", "two\r\nlines", "fred"}, V{"fred bloggs"}}) {
    auto r = parse_deny_args(bad);
    EXPECT_FALSE(r.ok()) << (bad.empty() ? "(none)" : std::string(bad[0]));
    if (!r.ok()) EXPECT_FALSE(r.error().user_message.empty());
  }
  std::string long_user(256, 'u');
  EXPECT_FALSE(parse_deny_args(V{long_user}).ok());
}

TEST(SynclogArgs, EveryTypeFlag) {
  struct Case {
    V args;
    T type;
    std::string arg1, arg2;
  };
  const Case cases[] = {
      {{"-u", "fred"}, T::User, "fred", ""},
      {{"-v", "fred"}, T::Sieve, "fred", ""},
      {{"-m", "user.fred.Sent"}, T::Mailbox, "user.fred.Sent", ""},
      {{"-M", "user.fred.Old"}, T::Unmailbox, "user.fred.Old", ""},
      {{"-a", "user.fred"}, T::Append, "user.fred", ""},
      {{"-c", "shared.news"}, T::Mailbox, "shared.news", ""},
      {{"-q", "user.fred"}, T::Quota, "user.fred", ""},
      {{"-n", "user.fred"}, T::Annotation, "user.fred", ""},
      {{"-n", ""}, T::Annotation, "", ""},
      {{"-s", "fred", "user.bob"}, T::Seen, "fred", "user.bob"},
      {{"-b", "fred", "shared.news"}, T::Sub, "fred", "shared.news"},
      {{"--user", "example.com!x"}, T::User, "example.com!x", ""},
      {{"-C", "/c.conf", "-m", "example.com!user.fred"}, T::Mailbox, "example.com!user.fred", ""},
      {{"SEEN fred 4e9c2a"}, T::Seen, "fred", "4e9c2a"},
      {{"MAILBOX user.fred"}, T::Mailbox, "user.fred", ""},
  };
  for (const auto& c : cases) {
    auto r = parse_synclog_args(c.args);
    ASSERT_TRUE(r.ok()) << c.args[0] << ": " << r.error().user_message;
    EXPECT_EQ(r->event.type, c.type) << c.args[0];
    EXPECT_EQ(r->event.arg1, c.arg1) << c.args[0];
    EXPECT_EQ(r->event.arg2, c.arg2) << c.args[0];
  }
  EXPECT_TRUE(parse_synclog_args(V{"-s", "fred", "user.bob"})->seen_by_name);
  EXPECT_FALSE(parse_synclog_args(V{"SEEN fred 4e9c2a"})->seen_by_name);  // already a uniqueid
  EXPECT_EQ(parse_synclog_args(V{"-C", "/c.conf", "-u", "x"})->conf_path, "/c.conf");
}

TEST(SynclogArgs, UsageErrors) {
  for (const V& bad : {V{}, V{"-u"}, V{"-m"}, V{"-s", "fred"}, V{"-b"}, V{"-u", ""}, V{"-u", "fred bloggs"},
                       V{"-m", "user..fred"}, V{"-m", ".user.fred"}, V{"-m", "user/fred"}, V{"-m", ""},
                       V{"-a", "user.fred\nUSER x"}, V{"-s", "fred", "bad..name"}, V{"-U", "fred"},
                       V{"UNUSER fred"}, V{"NOSUCH x"}, V{"-u", "a", "-u", "b"}, V{"-z", "x"}}) {
    auto r = parse_synclog_args(bad);
    EXPECT_FALSE(r.ok()) << (bad.empty() ? "(none)" : std::string(bad[0]));
  }
  EXPECT_FALSE(parse_synclog_args(V{"-u", std::string(256, 'u')}).ok());
}

TEST(CtlDeliverArgs, Forms) {
  auto dump = parse_ctl_deliver_args(V{"-d"});
  ASSERT_TRUE(dump.ok());
  EXPECT_TRUE(dump->dump);
  EXPECT_FALSE(dump->prune_after);
  auto prune = parse_ctl_deliver_args(V{"-C", "/c.conf", "-f", "/tmp/d.db", "-E", "3"});
  ASSERT_TRUE(prune.ok());
  EXPECT_EQ(prune->prune_after, 3 * 86400);
  EXPECT_EQ(prune->db_path, "/tmp/d.db");
  EXPECT_EQ(parse_ctl_deliver_args(V{"-E", "0"})->prune_after, 0);
  EXPECT_EQ(parse_ctl_deliver_args(V{"-E", "12h"})->prune_after, 12 * 3600);
  for (const V& bad : {V{}, V{"-d", "-E", "1"}, V{"-E"}, V{"-E", "-1"}, V{"-E", "x"}, V{"-f"}, V{"-q"}})
    EXPECT_FALSE(parse_ctl_deliver_args(bad).ok()) << (bad.empty() ? "(none)" : std::string(bad[0]));
}

}  // namespace
}  // namespace cyr::ops::adm
