// smmapd: the socketmap framing and the answer for each kind of address.
#include "server/smmapd/smmapd_service.h"

#include <gtest/gtest.h>

#include "delivery_test_util.h"
#include "server/smmapd/socketmap.h"

namespace cyr::smmapd {
namespace {

using lmtpd::testing::TempNode;
using State = NetstringScan::State;

TEST(Socketmap, NetstringsArriveWholeOrInPieces) {
  const std::string one = "16:cyrus fred@x.org,";
  const std::string two = one + "3:abc,";  // the body is a view into it
  auto s = scan_netstring(two);
  ASSERT_EQ(s.state, State::Done);
  EXPECT_EQ(s.body, "cyrus fred@x.org");
  EXPECT_EQ(s.used, one.size());
  for (size_t cut = 0; cut < one.size(); ++cut)
    EXPECT_EQ(scan_netstring(one.substr(0, cut)).state, State::NeedMore) << cut;
  EXPECT_EQ(scan_netstring("0:,").state, State::Done);
  EXPECT_EQ(netstring("OK fred"), "7:OK fred,");
}

TEST(Socketmap, MalformedAndOversizedRequestsAreRefused) {
  for (const char* bad : {"x:abc,", ":abc,", "3:abcd", "03:abc,", "123456:", "3;abc,", "-1:a,"})
    EXPECT_EQ(scan_netstring(bad).state, State::Bad) << bad;
  // Refused from its length alone, before the bytes are read.
  EXPECT_EQ(scan_netstring("5000:").state, State::Bad);
  EXPECT_EQ(scan_netstring("4096:").state, State::NeedMore);
  EXPECT_FALSE(parse_request("nospace").ok());
  EXPECT_FALSE(parse_request(" fred").ok());
  EXPECT_FALSE(parse_request("cyrus ").ok());
  EXPECT_FALSE(parse_request(std::string("cyrus fr\0ed", 11)).ok());
  auto r = parse_request("cyrus fred+x@y");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->map, "cyrus");
  EXPECT_EQ(r->key, "fred+x@y");
}

TEST(SmmapdLookup, AnswersAsLmtpWouldDeliver) {
  TempNode n;
  n.create("user.fred");
  n.create("user.fred.Lists", "fred\tlrswipkxtea\tanyone\tp\t");
  n.create("user.full");
  n.create("shared");
  n.create("shared.news", "anyone\tlrsp\t");
  n.create("shared.closed", "anyone\tlrs\t");
  n.create("shared.hidden", "admin\tlrswipkxtea\t");
  ASSERT_TRUE(n.store().set_quota("user.full", std::nullopt, 0).ok());  // no room for a message
  lmtpd::DeliverySettings s;
  s.postuser = "bb";
  auto ask = [&](const std::string& key) { return lookup_reply(n.store(), s, key, "t"); };
  EXPECT_EQ(ask("fred@example.com"), "OK fred@example.com");
  EXPECT_EQ(ask("Fred"), "OK Fred");                // lmtp_downcase_rcpt
  EXPECT_EQ(ask("fred+Lists"), "OK fred+Lists");
  EXPECT_EQ(ask("fred+NoSuchFolder"), "OK fred+NoSuchFolder");  // the INBOX gets it
  EXPECT_EQ(ask("nobody"), "NOTFOUND Mailbox does not exist");
  EXPECT_EQ(ask("\"bad"), "NOTFOUND Invalid address");
  EXPECT_EQ(ask("bb+shared/news"), "OK bb+shared/news");
  EXPECT_EQ(ask("bb+shared/closed"), "PERM Permission denied");
  EXPECT_EQ(ask("bb+shared/nope"), "NOTFOUND Mailbox does not exist");
  EXPECT_EQ(ask("full"), "TEMP Over quota");
  s.over_quota_perm = true;
  EXPECT_EQ(ask("full"), "PERM Over quota");
  // With autocreate_post LMTP would create the INBOX: OK, and nothing made.
  s.autocreate = true;
  EXPECT_EQ(ask("newbie"), "OK newbie");
  EXPECT_FALSE(n.store().lookup("user.newbie").ok());
  EXPECT_EQ(ask("bb+shared/nope"), "NOTFOUND Mailbox does not exist");
}

}  // namespace
}  // namespace cyr::smmapd
