#include "failover/wire.h"

#include <gtest/gtest.h>

namespace cyr::failover {
namespace {

TEST(FailoverWire, ParsesAVerbAndItsArguments) {
  auto r = parse_request("ping n1 primary 3 1 0");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->verb, "PING");
  ASSERT_EQ(r->args.size(), 5u);
  EXPECT_EQ(r->args[0], "n1");
  EXPECT_EQ(r->args[4], "0");
}

TEST(FailoverWire, RefusesMalformedOrOversizedRequests) {
  EXPECT_FALSE(parse_request("").ok());
  EXPECT_FALSE(parse_request("PING  n1").ok());           // empty token
  EXPECT_FALSE(parse_request("PING n1 ").ok());           // trailing space
  EXPECT_FALSE(parse_request("PING\tn1").ok());           // control character
  EXPECT_FALSE(parse_request(std::string(kMaxLine + 1, 'A')).ok());
  EXPECT_FALSE(parse_request("A 1 2 3 4 5 6 7 8 9").ok());  // more than kMaxArgs
  EXPECT_TRUE(parse_request("A 1 2 3 4 5 6 7 8").ok());
  EXPECT_FALSE(parse_request("A " + std::string(65, 'x')).ok());
}

TEST(FailoverWire, TokensAndNumbersAreStrict) {
  EXPECT_TRUE(valid_token("node-1.example.com"));
  EXPECT_FALSE(valid_token(""));
  EXPECT_FALSE(valid_token("a b"));
  EXPECT_FALSE(valid_token(std::string(65, 'a')));
  EXPECT_EQ(parse_u64("18446744073709551615"), UINT64_MAX);
  EXPECT_FALSE(parse_u64("18446744073709551616"));
  EXPECT_FALSE(parse_u64("-1"));
  EXPECT_FALSE(parse_u64("1x"));
  EXPECT_FALSE(parse_u64(""));
}

TEST(FailoverWire, RepliesRoundTrip) {
  Reply r{true, "STATUS", {"role primary", "epoch 2"}};
  auto text = format_reply(r);
  EXPECT_EQ(text, "* role primary\r\n* epoch 2\r\nOK STATUS\r\n");
  auto back = parse_reply(text);
  ASSERT_TRUE(back.ok());
  EXPECT_TRUE(back->ok);
  EXPECT_EQ(back->text, "STATUS");
  EXPECT_EQ(back->lines, r.lines);
  auto no = parse_reply("NO DENIED 3 n2 500 lease-held\r\n");
  ASSERT_TRUE(no.ok());
  EXPECT_FALSE(no->ok);
  EXPECT_EQ(split_words(no->text).size(), 5u);
}

TEST(FailoverWire, RefusesMalformedReplies) {
  EXPECT_FALSE(parse_reply("").ok());
  EXPECT_FALSE(parse_reply("* only data\r\n").ok());
  EXPECT_FALSE(parse_reply("MAYBE\r\n").ok());
  EXPECT_FALSE(parse_reply("OK\r\nOK\r\n").ok());
  EXPECT_FALSE(parse_reply("OK").ok());  // not terminated
  std::string many;
  for (size_t i = 0; i < kMaxReplyLines + 2; ++i) many += "* x\r\n";
  EXPECT_FALSE(parse_reply(many + "OK\r\n").ok());
}

TEST(FailoverWire, FormattedRepliesStayWithinTheReadersBounds) {
  Reply r{false, std::string(2 * kMaxLine, 'x') + "\r\nOK fake", {}};
  for (size_t i = 0; i < kMaxReplyLines + 5; ++i) r.lines.push_back("line\nwith newline");
  auto back = parse_reply(format_reply(r));
  ASSERT_TRUE(back.ok());
  EXPECT_FALSE(back->ok);
  EXPECT_EQ(back->lines.size(), kMaxReplyLines);
}

}  // namespace
}  // namespace cyr::failover
