#include "server/lmtpd/lmtp_protocol.h"

#include <gtest/gtest.h>

namespace cyr::lmtpd {
namespace {

TEST(LmtpParse, Verbs) {
  auto c = parse_command("lhlo mx.example.com");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->verb, Verb::Lhlo);
  EXPECT_EQ(c->arg, "mx.example.com");
  EXPECT_EQ(parse_command("QUIT")->verb, Verb::Quit);
  EXPECT_EQ(parse_command("XYZZY foo")->verb, Verb::Unknown);
  EXPECT_FALSE(parse_command("DATA now").ok());
  EXPECT_FALSE(parse_command(std::string(kMaxCommandLine + 1, 'a')).ok());
}

TEST(LmtpParse, MailFromWithParams) {
  auto c = parse_command("MAIL FROM:<a@b.example> SIZE=4096 BODY=8BITMIME");
  ASSERT_TRUE(c.ok()) << c.error().user_message;
  EXPECT_EQ(c->path, "a@b.example");
  auto mp = parse_mail_params(c->params);
  ASSERT_TRUE(mp.ok());
  EXPECT_EQ(*mp->size, 4096u);
  EXPECT_TRUE(mp->body_8bitmime);
  auto nul = parse_command("MAIL FROM:<>");
  ASSERT_TRUE(nul.ok());
  EXPECT_EQ(nul->path, "");
  EXPECT_EQ(parse_command("MAIL FROM: <x@y>")->path, "x@y");  // lenient space
  EXPECT_EQ(parse_command("RCPT TO:<@relay:fred@x>")->path, "fred@x");  // source route dropped
}

TEST(LmtpParse, RefusesBadSyntax) {
  EXPECT_FALSE(parse_command("MAIL FROM:a@b").ok());
  EXPECT_FALSE(parse_command("MAIL FROM:<a@b").ok());
  EXPECT_FALSE(parse_command("RCPT TO:<a@b>junk").ok());
  EXPECT_FALSE(parse_command("RCPT <a@b>").ok());
  EXPECT_FALSE(parse_command("RCPT TO:<" + std::string(300, 'a') + ">").ok());
  auto c = parse_command("MAIL FROM:<a@b> SIZE=12x");
  ASSERT_TRUE(c.ok());
  EXPECT_FALSE(parse_mail_params(c->params).ok());
  c = parse_command("MAIL FROM:<a@b> BODY=BINARYMIME");
  EXPECT_FALSE(parse_mail_params(c->params).ok());
  c = parse_command("MAIL FROM:<a@b> FOO=1");
  auto r = parse_mail_params(c->params);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().user_message.substr(0, 3), "555");
  std::string many = "MAIL FROM:<a@b>";
  for (int i = 0; i < 20; ++i) many += " X" + std::to_string(i) + "=1";
  EXPECT_FALSE(parse_command(many).ok());
}

TEST(LmtpParse, Xtext) {
  EXPECT_EQ(*decode_xtext("fred+2Bx"), "fred+x");
  EXPECT_FALSE(decode_xtext("bad+2").ok());
  EXPECT_FALSE(decode_xtext("bad+zz").ok());
}

TEST(LmtpRecipient, SplitsPlusAndDomain) {
  auto r = split_recipient("Fred+Lists/Cyrus@Example.COM", true);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->user, "fred");
  EXPECT_EQ(*r->detail, "Lists/Cyrus");  // folder case kept
  EXPECT_EQ(r->domain, "example.com");
  auto keep = split_recipient("Fred@x", false);
  EXPECT_EQ(keep->user, "Fred");
  auto post = split_recipient("+shared/news", true);
  ASSERT_TRUE(post.ok());
  EXPECT_EQ(post->user, "");
  EXPECT_EQ(*post->detail, "shared/news");
  auto q = split_recipient("\"odd user\"@x", true);
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(q->user, "odd user");
  EXPECT_FALSE(split_recipient("", true).ok());
  EXPECT_FALSE(split_recipient("f\xc3\xa9@x", true).ok());
  EXPECT_FALSE(split_recipient("@x", true).ok());
}

std::string decode_all(std::string_view wire, DataDecoder& d) {
  std::string out;
  d.feed(wire, out);
  return out;
}

TEST(DataDecoder, UnstuffsAndEnds) {
  DataDecoder d(true);
  std::string out = decode_all("Subject: x\r\n\r\n..leading dot\r\n.\r\n", d);
  EXPECT_TRUE(d.finished());
  EXPECT_EQ(out, "Subject: x\r\n\r\n.leading dot\r\n");
  EXPECT_EQ(d.size(), out.size());
  EXPECT_FALSE(d.bare_lf());
  EXPECT_EQ(d.header(), "Subject: x\r\n\r\n");
}

TEST(DataDecoder, EmptyMessageAndBareLfEnd) {
  DataDecoder d(true);
  EXPECT_EQ(decode_all(".\r\n", d), "");
  EXPECT_TRUE(d.finished());
  DataDecoder e(true);
  EXPECT_EQ(decode_all("a\nb\n.\n", e), "a\nb\n");
  EXPECT_TRUE(e.finished());
  EXPECT_TRUE(e.bare_lf());
}

TEST(DataDecoder, FlagsBareLfNulAnd8bitHeader) {
  DataDecoder d(false);
  decode_all("Subject: caf\xc3\xa9\r\n\r\nbody \xff ok\r\nx\ny\r\n.\r\n", d);
  EXPECT_TRUE(d.header_8bit());
  EXPECT_TRUE(d.bare_lf());
  EXPECT_FALSE(d.has_nul());
  DataDecoder n(false);
  decode_all(std::string("A: b\r\n\r\n\0\r\n.\r\n", 11), n);
  EXPECT_TRUE(n.has_nul());
}

TEST(DataDecoder, Munges8bitOnlyInHeader) {
  DataDecoder d(true);
  std::string out = decode_all("Subject: caf\xc3\xa9\r\n\r\nbody \xc3\xa9\r\n.\r\n", d);
  EXPECT_EQ(out, "Subject: cafXX\r\n\r\nbody \xc3\xa9\r\n");
  EXPECT_EQ(d.munged(), 2u);
  EXPECT_TRUE(d.header_8bit());
}

TEST(DataDecoder, ReadingByMinBytesNeverPassesTheEnd) {
  // A pipelined command follows the end line; reading in pieces of at most
  // min_bytes_to_end() must stop exactly before it.
  std::string wire = "Subject: t\r\n\r\nline\r\n.x\r\n..\r\n.\r\nRSET\r\n";
  DataDecoder d(true);
  std::string out;
  size_t pos = 0;
  while (!d.finished()) {
    size_t n = d.min_bytes_to_end();
    ASSERT_GT(n, 0u);
    d.feed(std::string_view(wire).substr(pos, n), out);
    pos += n;
  }
  EXPECT_EQ(wire.substr(pos), "RSET\r\n");
  EXPECT_EQ(out, "Subject: t\r\n\r\nline\r\nx\r\n.\r\n");
}

TEST(DataDecoder, FeedStopsAfterTheEndLineAndAgreesAcrossAnySplit) {
  // The session hands the decoder whatever the socket delivered; feed()
  // reports how much it used so a pipelined command stays for the next read.
  // Every split of the wire must decode the same bytes and flags as one
  // piece (the body fast path crosses piece boundaries).
  using namespace std::string_literals;
  const std::string wire = "Subject: t\r\n\r\nbody\r\nbare\nlf\r\n..dot\r\nnul\0x\r\n.\r\nRSET\r\nQUIT\r\n"s;
  const size_t end = wire.find("RSET");
  DataDecoder whole(true);
  std::string expect;
  EXPECT_EQ(whole.feed(wire, expect), end);
  ASSERT_TRUE(whole.finished());
  EXPECT_EQ(expect, "Subject: t\r\n\r\nbody\r\nbare\nlf\r\n.dot\r\nnul\0x\r\n"s);
  EXPECT_TRUE(whole.bare_lf());
  EXPECT_TRUE(whole.has_nul());
  for (size_t piece = 1; piece <= 7; ++piece) {
    DataDecoder d(true);
    std::string out;
    size_t pos = 0;
    while (!d.finished() && pos < wire.size()) {
      std::string_view in = std::string_view(wire).substr(pos, piece);
      size_t used = d.feed(in, out);
      ASSERT_LE(used, in.size());
      pos += used;
      if (used < in.size()) break;
    }
    ASSERT_TRUE(d.finished()) << piece;
    EXPECT_EQ(pos, end) << piece;
    EXPECT_EQ(out, expect) << piece;
    EXPECT_EQ(d.bare_lf(), whole.bare_lf()) << piece;
    EXPECT_EQ(d.has_nul(), whole.has_nul()) << piece;
    EXPECT_EQ(d.size(), whole.size()) << piece;
  }
  // A CR at the end of one piece and its LF at the start of the next is
  // not a bare LF.
  DataDecoder split(true);
  std::string out;
  split.feed("A: b\r\n\r\nxy\r", out);
  split.feed("\nz\r\n.\r\n", out);
  EXPECT_TRUE(split.finished());
  EXPECT_FALSE(split.bare_lf());
}

TEST(LmtpReply, Format) {
  EXPECT_EQ((Reply{452, "4.2.2", "Over quota"}.format()), "452 4.2.2 Over quota\r\n");
  EXPECT_EQ((Reply{354, "", "Go"}.format()), "354 Go\r\n");
  EXPECT_EQ((Reply{250, "2.0.0", "a\r\nb"}.format()), "250 2.0.0 a\r\n");
}

}  // namespace
}  // namespace cyr::lmtpd
