#include "sync/sync_log.h"

#include <gtest/gtest.h>

#include "tests/unit/sync/vectors.h"

namespace cyr::sync {
namespace {

using T = SyncLogType;

TEST(SyncLog, ParsesAndRewritesTheReferenceExample) {
  std::string file = testing::read_file(testing::vector_path("sync_log_example.log"));
  ASSERT_FALSE(file.empty());
  auto log = parse_sync_log(file);
  ASSERT_TRUE(log.ok());
  EXPECT_TRUE(log->rejected.empty());
  std::vector<SyncLogEvent> want = {
      {T::Append, "user.fred", ""},
      {T::Seen, "fred", "9f1c0b2e-1d6b-4c38-9a57-4fa3b1d2c0de"},
      {T::Rename, "user.fred.Old", "user.fred.New"},
      {T::Mailbox, "user.fred.Old", ""},
      {T::Mailbox, "user.fred.New", ""},
      {T::Mailbox, "user.fred.Two words", ""},
      {T::Quota, "user.fred", ""},
      {T::Annotation, "", ""},
  };
  EXPECT_EQ(log->events, want);
  std::string again;
  for (const SyncLogEvent& e : log->events) again += *format_sync_log_line(e);
  EXPECT_EQ(again, file);
}

TEST(SyncLog, QuotesOnlyWhenNeeded) {
  struct Case {
    std::string name;
    std::string line;
  } cases[] = {
      {"user.fred", "MAILBOX user.fred\n"},
      {"user.fred.Two words", "MAILBOX \"user.fred.Two words\"\n"},
      {"", "MAILBOX \"\"\n"},
      {"a\tb", "MAILBOX \"a\tb\"\n"},
      {"a(b)", "MAILBOX \"a(b)\"\n"},
      {"a\\b", "MAILBOX \"a\\\\b\"\n"},
      {"a\"b", "MAILBOX \"a\\\"b\"\n"},
      {"a{b}", "MAILBOX \"a\\{b\\}\"\n"},
      {"caf\xc3\xa9%*", "MAILBOX caf\xc3\xa9%*\n"},
  };
  for (const Case& c : cases) {
    auto line = format_sync_log_line({T::Mailbox, c.name, ""});
    ASSERT_TRUE(line.ok());
    EXPECT_EQ(*line, c.line);
    auto back = parse_sync_log_line(std::string_view(*line).substr(0, line->size() - 1));
    ASSERT_TRUE(back.ok()) << c.line;
    EXPECT_EQ(back->arg1, c.name);
  }
  EXPECT_EQ(*format_sync_log_line({T::Sub, "fred", "user.fred.Two words"}),
            "SUB fred \"user.fred.Two words\"\n");
}

TEST(SyncLog, RefusesWhatCannotBeWritten) {
  EXPECT_FALSE(format_sync_log_line({T::Mailbox, "a\nb", ""}).ok());
  EXPECT_FALSE(format_sync_log_line({T::Mailbox, "a\rb", ""}).ok());
  EXPECT_FALSE(format_sync_log_line({T::Mailbox, "a", "extra"}).ok());
  SyncLogLimits lim;
  lim.max_line = 16;
  EXPECT_FALSE(format_sync_log_line({T::Mailbox, std::string(20, 'x'), ""}, lim).ok());
}

TEST(SyncLog, BadLinesAreSkippedAndReported) {
  std::string file =
      "USER fred\n"
      "BOGUS x\n"
      "MAILBOX\n"
      "SEEN fred\n"
      "MAILBOX \"unterminated\n"
      "MAILBOX a b\n"
      "\n"
      "MAILBOX \"q\"x\n"
      "user fred\n"
      "UNUSER joe\r\n"
      "DOUBLEMAILBOX user.a user.b\n"
      "META sam";  // interrupted writer: no final LF
  auto log = parse_sync_log(file);
  ASSERT_TRUE(log.ok());
  std::vector<SyncLogEvent> want = {{T::User, "fred", ""},
                                    {T::Unuser, "joe", ""},
                                    {T::DoubleMailbox, "user.a", "user.b"},
                                    {T::Meta, "sam", ""}};
  EXPECT_EQ(log->events, want);
  ASSERT_EQ(log->rejected.size(), 7u);
  EXPECT_EQ(log->rejected[0].line_number, 2u);
  EXPECT_NE(log->rejected[0].reason.find("unknown event type"), std::string::npos);
  EXPECT_EQ(log->rejected[1].line_number, 3u);
  EXPECT_EQ(log->rejected[4].line_number, 6u);
  EXPECT_EQ(log->rejected[5].line_number, 8u);
  EXPECT_EQ(log->rejected[6].line_number, 9u);  // types are upper case only

  SyncLogLimits lim;
  lim.max_line = 10;
  auto one = parse_sync_log("MAILBOX user.fred.long\nUSER a\n", lim);
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(one->events.size(), 1u);
  EXPECT_EQ(one->rejected.size(), 1u);
  lim = {};
  lim.max_events = 2;
  EXPECT_EQ(parse_sync_log("USER a\nUSER b\nUSER c\n", lim).error().code, Errc::Limit);
  EXPECT_TRUE(parse_sync_log("").ok());  // an empty log is fine
}

TEST(SyncLog, MailboxOwner) {
  EXPECT_EQ(mailbox_owner("user.fred"), "fred");
  EXPECT_EQ(mailbox_owner("user.fred.Sent"), "fred");
  EXPECT_EQ(mailbox_owner("user.fred.#sieve"), "fred");
  EXPECT_EQ(mailbox_owner("user.j^doe.Sent"), "j.doe");
  EXPECT_EQ(mailbox_owner("example.com!user.fred.Sent"), "fred@example.com");
  EXPECT_EQ(mailbox_owner("DELETED.user.fred.Old.5F1A2B3C"), "fred");
  EXPECT_EQ(mailbox_owner("example.com!DELETED.user.fred.x"), "fred@example.com");
  EXPECT_EQ(mailbox_owner("shared.folder"), "");
  EXPECT_EQ(mailbox_owner("user"), "");
  EXPECT_EQ(mailbox_owner("user."), "");
  EXPECT_EQ(mailbox_owner("username.x"), "");
  EXPECT_EQ(mailbox_owner(""), "");
}

TEST(SyncLog, CoalesceGroupsByOwnerAndDeduplicates) {
  std::string file = testing::read_file(testing::vector_path("sync_log_example.log"));
  auto log = parse_sync_log(file);
  ASSERT_TRUE(log.ok());
  SyncPlan plan = coalesce_sync_log(log->events);
  ASSERT_EQ(plan.mailbox_groups.size(), 1u);
  EXPECT_EQ(plan.mailbox_groups[0].user, "fred");
  std::vector<std::string> want = {"user.fred", "user.fred.Old", "user.fred.New",
                                   "user.fred.Two words"};
  EXPECT_EQ(plan.mailbox_groups[0].mailboxes, want);
  ASSERT_EQ(plan.seen.size(), 1u);
  EXPECT_EQ(plan.seen[0].uniqueid, "9f1c0b2e-1d6b-4c38-9a57-4fa3b1d2c0de");
  EXPECT_EQ(plan.quotas, std::vector<std::string>{"user.fred"});
  EXPECT_EQ(plan.annotations, std::vector<std::string>{""});
  EXPECT_TRUE(plan.users.empty());
}

TEST(SyncLog, CoalesceRenamesAndDoubleMailboxes) {
  std::vector<SyncLogEvent> ev = {
      {T::Append, "user.fred", ""},
      {T::Append, "user.fred", ""},
      {T::Mailbox, "shared.news", ""},
      {T::Rename, "user.fred.Box", "user.joe.Box", },
      {T::DoubleMailbox, "user.joe.In", "user.ann.Out"},
      {T::Mailbox, "user.fred", ""},
  };
  SyncPlan plan = coalesce_sync_log(ev);
  ASSERT_EQ(plan.mailbox_groups.size(), 3u);
  EXPECT_EQ(plan.mailbox_groups[0].user, "fred");
  EXPECT_EQ(plan.mailbox_groups[0].mailboxes,
            (std::vector<std::string>{"user.fred", "user.fred.Box", "user.joe.Box"}));
  EXPECT_EQ(plan.mailbox_groups[1].user, "");
  EXPECT_EQ(plan.mailbox_groups[1].mailboxes, std::vector<std::string>{"shared.news"});
  EXPECT_EQ(plan.mailbox_groups[2].user, "joe");
  EXPECT_EQ(plan.mailbox_groups[2].mailboxes,
            (std::vector<std::string>{"user.fred.Box", "user.joe.Box", "user.joe.In",
                                      "user.ann.Out"}));
}

TEST(SyncLog, CoalesceCancellation) {
  std::vector<SyncLogEvent> ev = {
      {T::Seen, "a", "u1"},   {T::Sub, "a", "m"},     {T::Meta, "a", ""},   // META a covers SEEN/SUB a
      {T::Seen, "b", "u2"},   {T::Unsub, "b", "m"},   {T::User, "b", ""},   // USER b covers them
      {T::Meta, "b", ""},                                                   // ...and META b
      {T::Seen, "c", "u3"},   {T::Meta, "c", ""},     {T::User, "c", ""},
      {T::Unuser, "c", ""},                                                 // UNUSER c covers all
      {T::Sieve, "d", ""},    {T::Sub, "d", "x"},                           // SIEVE is META
      {T::Seen, "e", "u4"},   {T::Seen, "e", "u4"},   {T::Unsub, "e", "y"}, // untouched, de-duplicated
      {T::Unmailbox, "user.e.Old", ""}, {T::Unmailbox, "user.e.Old", ""},
  };
  SyncPlan plan = coalesce_sync_log(ev);
  EXPECT_EQ(plan.seen, (std::vector<SeenItem>{SeenItem{"e", "u4"}}));
  EXPECT_EQ(plan.subs, (std::vector<SubItem>{SubItem{"e", "y"}}));
  EXPECT_EQ(plan.metas, (std::vector<std::string>{"a", "d"}));
  EXPECT_EQ(plan.users, std::vector<std::string>{"b"});
  EXPECT_EQ(plan.unusers, std::vector<std::string>{"c"});
  EXPECT_EQ(plan.unmailboxes, std::vector<std::string>{"user.e.Old"});
  EXPECT_TRUE(plan.mailbox_groups.empty());
}

TEST(SyncLog, FailureDecisions) {
  // Locked with a named channel: back into that channel's log.
  auto d = decide_on_failure({WorkKind::Mailbox, "user.fred.Sent", "", "", false},
                             FailureKind::Locked, true);
  EXPECT_EQ(d.action, FailureAction::Defer);
  ASSERT_TRUE(d.requeue.has_value());
  EXPECT_EQ(*d.requeue, (SyncLogEvent{T::Mailbox, "user.fred.Sent", ""}));
  d = decide_on_failure({WorkKind::Seen, "", "fred", "uid-1", false}, FailureKind::Locked, true);
  EXPECT_EQ(*d.requeue, (SyncLogEvent{T::Seen, "fred", "uid-1"}));

  // Without a channel a lock is handled like any other error.
  d = decide_on_failure({WorkKind::Mailbox, "user.fred.Sent", "", "", false}, FailureKind::Locked,
                        false);
  EXPECT_EQ(d.action, FailureAction::PromoteToUser);
  EXPECT_EQ(d.user, "fred");

  struct Case {
    WorkItem item;
    FailureAction action;
    std::string user;
  } cases[] = {
      {{WorkKind::Mailbox, "example.com!user.fred", "", "", false}, FailureAction::PromoteToUser,
       "fred@example.com"},
      {{WorkKind::Mailbox, "shared.news", "", "", false}, FailureAction::AbortCycle, ""},
      {{WorkKind::Quota, "user.joe", "", "", false}, FailureAction::PromoteToUser, "joe"},
      {{WorkKind::Annotation, "user.joe.x", "", "", false}, FailureAction::PromoteToUser, "joe"},
      {{WorkKind::Annotation, "", "", "", false}, FailureAction::AbortCycle, ""},
      {{WorkKind::Seen, "", "ann", "u", true}, FailureAction::PromoteToUser, "ann"},
      {{WorkKind::Seen, "", "ann", "u", false}, FailureAction::PromoteToMeta, "ann"},
      {{WorkKind::Sub, "user.x", "ann", "", false}, FailureAction::PromoteToMeta, "ann"},
      {{WorkKind::Meta, "", "ann", "", false}, FailureAction::PromoteToUser, "ann"},
      {{WorkKind::Unmailbox, "user.ann.x", "", "", false}, FailureAction::AbortCycle, ""},
      {{WorkKind::User, "", "ann", "", false}, FailureAction::AbortCycle, ""},
      {{WorkKind::Unuser, "", "ann", "", false}, FailureAction::AbortCycle, ""},
  };
  for (const Case& c : cases) {
    auto r = decide_on_failure(c.item, FailureKind::Other, true);
    EXPECT_EQ(r.action, c.action) << c.item.name << c.item.user;
    EXPECT_EQ(r.user, c.user) << c.item.name << c.item.user;
    EXPECT_FALSE(r.requeue.has_value());
  }
}

TEST(SyncLog, PromotionJoinsTheRestOfTheCycle) {
  SyncPlan plan = coalesce_sync_log({{T::Seen, "ann", "u1"},
                                     {T::Sub, "ann", "user.x"},
                                     {T::Seen, "bob", "u2"},
                                     {T::Unuser, "zed", ""}});
  // A SEEN on someone else's mailbox failed: META for ann covers her items.
  apply_promotion(plan, decide_on_failure({WorkKind::Seen, "", "ann", "u1", false},
                                          FailureKind::Other, false));
  EXPECT_EQ(plan.metas, std::vector<std::string>{"ann"});
  EXPECT_TRUE(plan.subs.empty());
  EXPECT_EQ(plan.seen, (std::vector<SeenItem>{SeenItem{"bob", "u2"}}));
  // A mailbox of ann failed: USER ann replaces her META.
  apply_promotion(plan, decide_on_failure({WorkKind::Mailbox, "user.ann.x", "", "", false},
                                          FailureKind::Other, false));
  EXPECT_EQ(plan.users, std::vector<std::string>{"ann"});
  EXPECT_TRUE(plan.metas.empty());
  // Promoting again adds nothing; a user being deleted is not synced.
  apply_promotion(plan, decide_on_failure({WorkKind::Meta, "", "ann", "", false},
                                          FailureKind::Other, false));
  apply_promotion(plan, decide_on_failure({WorkKind::Quota, "user.zed", "", "", false},
                                          FailureKind::Other, false));
  EXPECT_EQ(plan.users, std::vector<std::string>{"ann"});
  // Abort and defer change nothing.
  apply_promotion(plan, decide_on_failure({WorkKind::User, "", "bob", "", false},
                                          FailureKind::Other, false));
  EXPECT_EQ(plan.seen.size(), 1u);
}

}  // namespace
}  // namespace cyr::sync

namespace cyr::sync {
namespace {

// cyr_synclog and cyr_sync_client -f turn log events into change records.
TEST(SyncLog, ChangeRecordsOfEvents) {
  using K = store::ChangeKind;
  auto one = [](SyncLogEvent e) {
    auto r = change_records_of(e);
    EXPECT_EQ(r.size(), 1u);
    return r.empty() ? store::ChangeRecord{} : r[0];
  };
  EXPECT_EQ(one({SyncLogType::User, "fred", ""}).kind, K::User);
  EXPECT_EQ(one({SyncLogType::Mailbox, "user.fred", ""}).kind, K::Mailbox);
  EXPECT_EQ(one({SyncLogType::Unmailbox, "user.fred.x", ""}).kind, K::Unmailbox);
  EXPECT_EQ(one({SyncLogType::Quota, "user.fred", ""}).kind, K::Quota);
  EXPECT_EQ(one({SyncLogType::Annotation, "", ""}).kind, K::Annotation);
  auto seen = one({SyncLogType::Seen, "fred", "uid-1"});
  EXPECT_EQ(seen.kind, K::Seen);
  EXPECT_EQ(seen.arg2, "uid-1");
  EXPECT_EQ(one({SyncLogType::Sieve, "fred", ""}).kind, K::Seen);  // a meta sync of fred
  EXPECT_EQ(one({SyncLogType::Unsub, "fred", "shared.x"}).kind, K::Sub);
  auto dbl = change_records_of({SyncLogType::DoubleMailbox, "user.a", "user.b"});
  ASSERT_EQ(dbl.size(), 2u);
  EXPECT_EQ(dbl[0].arg1, "user.a");
  EXPECT_EQ(dbl[1].arg1, "user.b");
  EXPECT_TRUE(change_records_of({SyncLogType::Unuser, "fred", ""}).empty());
}

}  // namespace
}  // namespace cyr::sync
