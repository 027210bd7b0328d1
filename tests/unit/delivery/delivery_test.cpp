// resolve_recipient / deliver_spooled against a real Store.
#include "server/lmtpd/delivery.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include "delivery_test_util.h"

namespace cyr::lmtpd {
namespace {

using testing::TempNode;

RecipientAddress rcpt(const std::string& a) { return *split_recipient(a, true); }

SpooledMessage spooled(std::string path, std::string message_id, uint64_t size) {
  SpooledMessage m;
  m.path = std::move(path);
  m.message_id = std::move(message_id);
  m.size = size;
  return m;
}

std::string msg(const std::string& id, size_t body = 100) {
  std::string m = "Return-Path: <s@x>\r\nFrom: s@x\r\nMessage-ID: <" + id + ">\r\nSubject: t\r\n\r\n";
  m += std::string(body, 'b') + "\r\n";
  return m;
}

TEST(Resolve, UserInboxAndUnknownUser) {
  TempNode n;
  n.create("user.fred");
  DeliverySettings s;
  auto t = resolve_recipient(n.store(), s, rcpt("fred@example.com"), "", "t");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->mailbox, "user.fred");
  auto bad = resolve_recipient(n.store(), s, rcpt("nobody"), "", "t");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().user_message, "550 5.1.1 User unknown");
}

TEST(Resolve, PlusAddressingNeedsPostRight) {
  TempNode n;
  n.create("user.fred");
  n.create("user.fred.Lists", "fred\tlrswipkxtea\tanyone\tp\t");
  n.create("user.fred.Private", "fred\tlrswipkxtea\t");
  n.create("user.fred.Lists.cyrus", "fred\tlrswipkxtea\tanyone\tp\t");
  DeliverySettings s;  // unixhierarchysep: '/' in the detail
  EXPECT_EQ(resolve_recipient(n.store(), s, rcpt("fred+Lists"), "", "t")->mailbox, "user.fred.Lists");
  EXPECT_EQ(resolve_recipient(n.store(), s, rcpt("fred+Lists/cyrus"), "", "t")->mailbox,
            "user.fred.Lists.cyrus");
  EXPECT_EQ(resolve_recipient(n.store(), s, rcpt("fred+Private"), "", "t")->mailbox, "user.fred");
  EXPECT_EQ(resolve_recipient(n.store(), s, rcpt("fred+Missing"), "", "t")->mailbox, "user.fred");
  s.unixhierarchysep = false;
  EXPECT_EQ(resolve_recipient(n.store(), s, rcpt("fred+Lists.cyrus"), "", "t")->mailbox,
            "user.fred.Lists.cyrus");
}

TEST(Resolve, PostuserAddressesSharedMailboxes) {
  TempNode n;
  n.create("shared");
  n.create("shared.news", "anyone\tlrsp\t");
  n.create("shared.closed", "anyone\tlrs\t");
  DeliverySettings s;
  s.postuser = "bb";
  EXPECT_EQ(resolve_recipient(n.store(), s, rcpt("bb+shared/news"), "", "t")->mailbox, "shared.news");
  auto closed = resolve_recipient(n.store(), s, rcpt("bb+shared/closed"), "", "t");
  ASSERT_FALSE(closed.ok());
  EXPECT_EQ(closed.error().user_message, "550 5.7.1 Permission denied");
  EXPECT_FALSE(resolve_recipient(n.store(), s, rcpt("bb+shared/none"), "", "t").ok());
  s.postuser = "";
  EXPECT_EQ(resolve_recipient(n.store(), s, rcpt("+shared/news"), "", "t")->mailbox, "shared.news");
}

TEST(Resolve, VirtualDomains) {
  TempNode n;
  n.create("example.com!user.fred");
  n.create("user.fred");
  DeliverySettings s;
  s.virtdomains = true;
  s.defaultdomain = "internal";
  EXPECT_EQ(resolve_recipient(n.store(), s, rcpt("fred@example.com"), "", "t")->mailbox,
            "example.com!user.fred");
  EXPECT_EQ(resolve_recipient(n.store(), s, rcpt("fred@internal"), "", "t")->mailbox, "user.fred");
  EXPECT_FALSE(resolve_recipient(n.store(), s, rcpt("fred@other.org"), "", "t").ok());
}

TEST(Resolve, AutocreateMakesInboxWithQuota) {
  TempNode n;
  DeliverySettings s;
  s.autocreate = true;
  s.autocreate_quota_kib = 100;
  s.autocreate_folders = {"Sent", "Lists"};
  auto t = resolve_recipient(n.store(), s, rcpt("newbie"), "", "t");
  ASSERT_TRUE(t.ok()) << t.error().describe();
  EXPECT_EQ(t->mailbox, "user.newbie");
  EXPECT_TRUE(n.store().lookup("user.newbie.Sent").ok());
  auto q = n.store().get_quota("user.newbie");
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(*q->storage_limit_kib, 100u);
}

TEST(Deliver, PerRecipientRepliesOverQuotaAndMissing) {
  TempNode n;
  n.create("user.a");
  n.create("user.b");
  n.create("user.c");
  ASSERT_TRUE(n.store().set_quota("user.b", 1, std::nullopt).ok());
  DeliverySettings s;
  s.strict_quota = true;
  std::vector<Target> targets;
  for (auto u : {"a", "b", "c"}) targets.push_back(*resolve_recipient(n.store(), s, rcpt(u), "", "t"));
  ASSERT_TRUE(n.store().delete_mailbox("user.c").ok());  // vanished between RCPT and DATA
  auto path = n.write_file("m1", msg("m1@x", 4000));
  auto replies = deliver_spooled(n.store(), nullptr, s, spooled(path, "<m1@x>", 4000), targets, "t");
  ASSERT_EQ(replies.size(), 3u);
  EXPECT_EQ(replies[0].format(), "250 2.1.5 Ok\r\n");
  EXPECT_EQ(replies[1].format(), "452 4.2.2 Over quota\r\n");
  EXPECT_EQ(replies[2].code, 550);
  EXPECT_EQ(n.exists("user.a"), 1u);
  EXPECT_EQ(n.exists("user.b"), 0u);
  s.over_quota_perm = true;
  auto again = deliver_spooled(n.store(), nullptr, s, spooled(path, "", 4000), {targets[1]}, "t");
  EXPECT_EQ(again[0].format(), "552 5.2.2 Over quota\r\n");
}

TEST(Deliver, NonStrictQuotaRefusesOnlyAFullMailbox) {
  TempNode n;
  n.create("user.q");
  ASSERT_TRUE(n.store().set_quota("user.q", 2, std::nullopt).ok());
  DeliverySettings s;  // lmtp_strict_quota: no
  auto t = *resolve_recipient(n.store(), s, rcpt("q"), "", "t");
  EXPECT_FALSE(precheck_quota(n.store(), s, t, 5000).has_value());
  auto path = n.write_file("big", msg("big@x", 5000));
  auto r = deliver_spooled(n.store(), nullptr, s, spooled(path, "", 5000), {t}, "t");
  EXPECT_EQ(r[0].code, 250);  // crosses the limit: accepted, as Cyrus does
  auto full = precheck_quota(n.store(), s, t, 10);
  ASSERT_TRUE(full.has_value());
  EXPECT_EQ(full->code, 452);
  s.strict_quota = true;
  n.create("user.r");
  ASSERT_TRUE(n.store().set_quota("user.r", 2, std::nullopt).ok());
  auto tr = *resolve_recipient(n.store(), s, rcpt("r"), "", "t");
  EXPECT_TRUE(precheck_quota(n.store(), s, tr, 5000).has_value());
}

TEST(Deliver, DuplicateSuppressionPerMailbox) {
  TempNode n;
  n.create("user.a");
  n.create("user.b");
  auto dup = store::DuplicateDb::open(n.dir() / "conf" / "deliver.db");
  ASSERT_TRUE(dup.ok());
  DeliverySettings s;
  auto ta = *resolve_recipient(n.store(), s, rcpt("a"), "", "t");
  auto tb = *resolve_recipient(n.store(), s, rcpt("b"), "", "t");
  auto path = n.write_file("m", msg("same@x"));
  SpooledMessage m = spooled(path, "<same@x>", 100);
  auto r1 = deliver_spooled(n.store(), dup->get(), s, m, {ta}, "t");
  EXPECT_EQ(r1[0].code, 250);
  // Again to a and for the first time to b; a twice in one transaction.
  auto r2 = deliver_spooled(n.store(), dup->get(), s, m, {ta, tb, tb}, "t");
  for (auto& r : r2) EXPECT_EQ(r.code, 250);
  EXPECT_EQ(n.exists("user.a"), 1u);
  EXPECT_EQ(n.exists("user.b"), 1u);
  // Suppression off: a second copy.
  s.duplicate_suppression = false;
  deliver_spooled(n.store(), dup->get(), s, m, {ta}, "t");
  EXPECT_EQ(n.exists("user.a"), 2u);
}

TEST(Deliver, SingleInstanceOnOnePartition) {
  TempNode n;
  n.create("user.a");
  n.create("user.b");
  DeliverySettings s;
  std::vector<Target> t{*resolve_recipient(n.store(), s, rcpt("a"), "", "t"),
                        *resolve_recipient(n.store(), s, rcpt("b"), "", "t")};
  auto path = n.write_file("m", msg("si@x"));
  auto r = deliver_spooled(n.store(), nullptr, s, spooled(path, "", 100), t, "t");
  ASSERT_EQ(r[0].code, 250);
  ASSERT_EQ(r[1].code, 250);
  auto pa = n.store().message_path("user.a", 1);
  auto pb = n.store().message_path("user.b", 1);
  ASSERT_TRUE(pa.ok() && pb.ok());
  struct stat sa, sb;
  ASSERT_EQ(::stat(pa->c_str(), &sa), 0);
  ASSERT_EQ(::stat(pb->c_str(), &sb), 0);
  EXPECT_EQ(sa.st_ino, sb.st_ino);
}

TEST(Deliver, MessageChecks) {
  DeliverySettings s;
  EXPECT_FALSE(check_message(s, {100, false, false, true}).has_value());  // munged, accepted
  EXPECT_EQ(check_message(s, {100, true, false, false})->format(),
            "554 5.6.0 Message contains bare newlines\r\n");
  EXPECT_EQ(check_message(s, {100, false, true, false})->code, 554);
  s.reject8bit = true;
  EXPECT_EQ(check_message(s, {100, false, false, true})->code, 554);
  s.max_message_size = 50;
  EXPECT_EQ(check_message(s, {100, false, false, false})->code, 552);
}

TEST(Deliver, ReplicaRefusesWithTemporaryFailure) {
  TempNode n;
  n.create("user.a");
  DeliverySettings s;
  auto t = *resolve_recipient(n.store(), s, rcpt("a"), "", "t");
  ASSERT_TRUE(n.store().set_node_state({store::Role::Replica, 1}).ok());
  auto path = n.write_file("m", msg("r@x"));
  auto r = deliver_spooled(n.store(), nullptr, s, spooled(path, "", 100), {t}, "t");
  EXPECT_EQ(r[0].code, 451);
  EXPECT_EQ(n.exists("user.a"), 0u);
}

TEST(Deliver, DetailToInternal) {
  EXPECT_EQ(*detail_to_internal("a/b.c", true), "a.b^c");
  EXPECT_EQ(*detail_to_internal("a.b", false), "a.b");
  EXPECT_FALSE(detail_to_internal("a//b", true).ok());
  EXPECT_FALSE(detail_to_internal("/a", true).ok());
}

}  // namespace
}  // namespace cyr::lmtpd

namespace cyr::lmtpd {
namespace {

TEST(Resolve, CatchallMailboxTakesUnknownRecipients) {
  testing::TempNode n;
  n.create("user.fred");
  n.create("user.postmaster");
  n.create("shared.news", "anyone\tlrsp\t");
  DeliverySettings s;
  s.postuser = "bb";
  auto miss = resolve_recipient(n.store(), s, *split_recipient("nobody", true), "", "t");
  ASSERT_FALSE(miss.ok());
  s.catchall = "postmaster";
  EXPECT_EQ(resolve_recipient(n.store(), s, *split_recipient("nobody", true), "", "t")->mailbox, "user.postmaster");
  EXPECT_EQ(resolve_recipient(n.store(), s, *split_recipient("bb+shared/nope", true), "", "t")->mailbox,
            "user.postmaster");
  EXPECT_EQ(resolve_recipient(n.store(), s, *split_recipient("fred", true), "", "t")->mailbox, "user.fred");
  // A catchall that does not exist changes nothing.
  s.catchall = "ghost";
  EXPECT_EQ(resolve_recipient(n.store(), s, *split_recipient("nobody", true), "", "t").error().user_message,
            "550 5.1.1 User unknown");
}

}  // namespace
}  // namespace cyr::lmtpd

namespace cyr::lmtpd {
namespace {

TEST(Resolve, FuzzyMailboxMatchIgnoresCaseAndSpaceThenTriesParents) {
  testing::TempNode n;
  n.create("user.fred");
  n.create("user.fred.Mailing Lists", "fred\tlrswipkxtea\tanyone\tp\t");
  n.create("user.fred.Mailing Lists.Cyrus", "fred\tlrswipkxtea\tanyone\tp\t");
  n.create("user.fred.Private", "fred\tlrswipkxtea\t");
  DeliverySettings s;
  auto to = [&](const std::string& a) { return resolve_recipient(n.store(), s, *split_recipient(a, true), "", "t")->mailbox; };
  EXPECT_EQ(to("fred+mailinglists"), "user.fred");  // off by default
  s.fuzzy_mailbox_match = true;
  EXPECT_EQ(to("fred+mailinglists"), "user.fred.Mailing Lists");
  EXPECT_EQ(to("fred+MAILINGLISTS/cyrus"), "user.fred.Mailing Lists.Cyrus");
  EXPECT_EQ(to("fred+mailinglists/dovecot"), "user.fred.Mailing Lists");  // the parent
  EXPECT_EQ(to("fred+private"), "user.fred");  // found, but no p right: the INBOX
  EXPECT_EQ(to("fred+nothing/at/all"), "user.fred");
}

}  // namespace
}  // namespace cyr::lmtpd
