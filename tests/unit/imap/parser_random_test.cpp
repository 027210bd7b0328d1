// Random input built from IMAP-ish pieces: the parser must never crash, must
// give the same events whatever the piece sizes, and must stay within bounds.
#include <random>

#include "imap_test_util.h"

namespace cyr::imap {
namespace {

using test::run;

std::string random_input(std::mt19937& rng) {
  static const char* const kPieces[] = {
      "a1 ", "b2 ", "FETCH ", "UID ", "SEARCH ", "APPEND ", "LOGIN ", "SELECT ", "IDLE",
      "SYNCAPPLY ", "LIST ", "STORE ", "NOT ", "OR ", "ALL", "(", ")", "((", "))", " ", "  ",
      "{3}\r\n", "{2+}\r\n", "{0}\r\n", "{99999999999+}\r\n", "{40+}\r\n", "\"", "\"q s\"",
      "\\", "\r\n", "\n", "\r", "x", "*", "1:5", "$", "0", "BODY[", "BODY[HEADER.FIELDS (A B)]",
      "]", "<0.10>", "\xff", "" /* a NUL byte */, "%{p g 3}\r\n", "DONE\r\n",
      "a NOOP\r\n", "b FETCH 1:* (FLAGS BODY.PEEK[1.TEXT])\r\n", "c LOGIN {3}\r\nabc pw\r\n",
      "d APPEND INBOX {3+}\r\nabc\r\n", "e SEARCH NOT (OR 1 2)\r\n", "f IDLE\r\n",
      "INBOX", "FLAGS", "\\Seen", "+FLAGS", "RETURN (", "CHARSET ", "MODSEQ ", "\" 1-Jan-2000 00:00:00 +0000\"",
  };
  constexpr size_t kCount = sizeof(kPieces) / sizeof(kPieces[0]);
  std::uniform_int_distribution<size_t> pick(0, kCount - 1), len(1, 60);
  std::string s;
  size_t n = len(rng);
  for (size_t i = 0; i < n; ++i) {
    const char* p = kPieces[pick(rng)];
    if (*p == '\0') s.push_back('\0');
    else s += p;
  }
  return s;
}

TEST(RandomInput, ChunkingNeverChangesEvents) {
  std::mt19937 rng(20261123);
  ParserLimits lim;
  lim.max_line = 200;
  lim.max_literal = 30;
  lim.max_message = 50;
  lim.max_skip = 1000;
  lim.max_depth = 5;
  lim.max_items = 40;
  size_t requests = 0, errors = 0;
  for (int i = 0; i < 3000; ++i) {
    std::string input = random_input(rng);
    auto whole = run(input, 0, lim);
    for (const auto& e : whole) {
      if (e.request) ++requests;
      if (e.what.rfind("error", 0) == 0) ++errors;
    }
    ASSERT_EQ(run(input, 1, lim), whole) << "input #" << i << ": " << input;
    ASSERT_EQ(run(input, 4, lim), whole) << "input #" << i;
  }
  // The generator must reach both outcomes, or this test proves little.
  EXPECT_GT(requests, 100u);
  EXPECT_GT(errors, 100u);
}

TEST(RandomInput, BufferStaysBounded) {
  // A client that never ends its line: the parser holds at most max_line.
  ParserLimits lim;
  lim.max_line = 1000;
  Parser p(lim);
  std::string junk(4096, 'z');
  size_t errors = 0;
  for (int i = 0; i < 1000; ++i) {
    p.feed(junk);
    for (;;) {
      auto r = p.next();
      if (std::holds_alternative<NeedMore>(r)) break;
      if (std::holds_alternative<ParseError>(r)) ++errors;
    }
    ASSERT_EQ(p.buffered(), 0u);
  }
  EXPECT_EQ(errors, 1u);  // one BAD, then silent skipping until the line ends
  p.feed("\r\na NOOP\r\n");
  auto r = p.next();
  ASSERT_TRUE(std::holds_alternative<Request>(r));
  EXPECT_EQ(std::get<Request>(r).tag, "a");
}

}  // namespace
}  // namespace cyr::imap
