// literal8 (RFC 3516) in the parser, and the response forms of BINARY and
// METADATA (RFC 5464) in the writer.
#include <gtest/gtest.h>

#include "imap_test_util.h"
#include "server/imap/response.h"

namespace cyr::imap {
namespace {

using test::parse_error;
using test::parse_ok;
using test::run;

TEST(Literal8, AppendMessageWithNul) {  // RFC 3516 4.4 example, with a NUL inside
  std::string msg = std::string("Subject: x\r\n\r\nA") + '\0' + "B\r\n";
  auto events = run("A003 APPEND Drafts (\\Seen) ~{" + std::to_string(msg.size()) + "}\r\n" + msg +
                    "\r\n");
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].what, "message 19 sync 1 index 0");
  EXPECT_EQ(events[1].what, "data " + msg + "<end>");
  const auto& a = events[2].request->command.as<AppendArgs>();
  ASSERT_EQ(a.messages.size(), 1u);
  EXPECT_TRUE(a.messages[0].binary);
  EXPECT_EQ(a.messages[0].flags, std::vector<std::string>{"\\Seen"});
}

TEST(Literal8, NonSynchronizingAndMultiappend) {
  auto events = run("a APPEND INBOX ~{3+}\r\nabc {2+}\r\nde\r\n");
  ASSERT_EQ(events.size(), 5u);
  EXPECT_EQ(events[0].what, "message 3 sync 0 index 0");
  EXPECT_EQ(events[2].what, "message 2 sync 0 index 1");
  const auto& a = events[4].request->command.as<AppendArgs>();
  ASSERT_EQ(a.messages.size(), 2u);
  EXPECT_TRUE(a.messages[0].binary);
  EXPECT_FALSE(a.messages[1].binary);
}

TEST(Literal8, SetMetadataValue) {  // RFC 5464 5.3: value = nstring / literal8
  std::string value = std::string("a") + '\0' + "b";
  auto s = parse_ok("a SETMETADATA INBOX (/private/comment ~{3+}\r\n" + value + ")\r\n")
               .command.as<SetMetadataArgs>();
  ASSERT_EQ(s.entries.size(), 1u);
  EXPECT_EQ(s.entries[0].second, value);
}

TEST(Literal8, RefusedElsewhereAndSessionGoesOn) {
  // A non-synchronizing literal8 where none is allowed: BAD, its bytes are
  // skipped, and the next command parses.
  auto events = run("a LOGIN ~{3+}\r\nabc pw\r\nb NOOP\r\n");
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].what.rfind("error a BAD", 0), 0u) << events[0].what;
  EXPECT_NE(events[0].what.find("literal8"), std::string::npos);
  EXPECT_EQ(events[1].request->command.id, CommandId::Noop);
  // A synchronizing one is refused before the client sends it.
  EXPECT_NE(parse_error("a SELECT ~{5}\r\n"), "");
  // "~" not followed by "{" is not a literal8.
  EXPECT_NE(parse_error("a APPEND INBOX ~5}\r\n"), "");
}

TEST(Literal8, TooBigMessageIsNoTooBig) {
  ParserLimits l;
  l.max_message = 10;
  EXPECT_EQ(parse_error("a APPEND INBOX ~{11}\r\n", l).rfind("error a NO [TOOBIG]", 0), 0u);
}

TEST(GetMetadata, OptionsBeforeOrAfterMailbox) {  // RFC 5464 4.2
  auto before = parse_ok("a GETMETADATA (DEPTH 1 MAXSIZE 10) INBOX (/shared/x)\r\n")
                    .command.as<GetMetadataArgs>();
  auto after = parse_ok("a GETMETADATA INBOX (DEPTH 1 MAXSIZE 10) (/shared/x)\r\n")
                   .command.as<GetMetadataArgs>();
  EXPECT_EQ(before, after);
  EXPECT_EQ(after.depth, "1");
  EXPECT_EQ(after.maxsize, 10u);
  EXPECT_EQ(after.entries, std::vector<std::string>{"/shared/x"});
  auto list = parse_ok("a GETMETADATA INBOX (/shared/x /private/y)\r\n").command.as<GetMetadataArgs>();
  EXPECT_EQ(list.entries.size(), 2u);
  EXPECT_NE(parse_error("a GETMETADATA INBOX (DEPTH 1)\r\n"), "");
  EXPECT_NE(parse_error("a GETMETADATA INBOX ()\r\n"), "");
  EXPECT_NE(parse_error("a GETMETADATA INBOX (/shared/x) extra\r\n"), "");
}

TEST(Binary, FetchItemOrigin) {  // RFC 3516 4.2: the origin octet is echoed
  auto f = parse_ok("a FETCH 1 (BINARY.PEEK[1]<100.50>)\r\n").command.as<FetchArgs>();
  ASSERT_EQ(f.items.size(), 1u);
  EXPECT_TRUE(f.items[0].peek);
  EXPECT_EQ(f.items[0].partial, (Partial{100, 50}));
  EXPECT_NE(parse_error("a FETCH 1 BINARY.SIZE[1]<0.10>\r\n"), "");
  EXPECT_NE(parse_error("a FETCH 1 BINARY[1.TEXT]\r\n"), "");
}

TEST(ResponseWriterBinary, Literal8OnlyWithNul) {
  std::string out;
  ResponseWriter w(out);
  w.begin_untagged().number(1).atom("FETCH").begin_list().atom("BINARY[1]").binary("plain").end_list()
      .end_line();
  EXPECT_EQ(out, "* 1 FETCH (BINARY[1] {5}\r\nplain)\r\n");
  out.clear();
  w.begin_untagged().number(1).atom("FETCH").begin_list().atom("BINARY[1]")
      .binary(std::string("a\0b", 3)).end_list().end_line();
  EXPECT_EQ(out, std::string("* 1 FETCH (BINARY[1] ~{3}\r\na") + '\0' + "b)\r\n");
}

TEST(ResponseCodes, Metadata) {  // RFC 5464 4.2.1, 4.3
  EXPECT_EQ(ResponseCode::metadata_long_entries(2199).text(), "METADATA LONGENTRIES 2199");
  EXPECT_EQ(ResponseCode::metadata_max_size(1024).text(), "METADATA MAXSIZE 1024");
  EXPECT_EQ(ResponseCode::metadata_too_many().text(), "METADATA TOOMANY");
  EXPECT_EQ(ResponseCode::metadata_no_private().text(), "METADATA NOPRIVATE");
  EXPECT_EQ(ResponseCode::unknown_cte().text(), "UNKNOWN-CTE");
  std::string out;
  ResponseWriter(out).tagged("a", StatusKind::Ok, ResponseCode::metadata_long_entries(2199),
                             "GETMETADATA complete");
  EXPECT_EQ(out, "a OK [METADATA LONGENTRIES 2199] GETMETADATA complete\r\n");
}

}  // namespace
}  // namespace cyr::imap
