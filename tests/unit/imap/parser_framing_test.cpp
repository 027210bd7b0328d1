// Framing: pieces of any size, literals, bounds, bad input and recovery.
#include "imap_test_util.h"

namespace cyr::imap {
namespace {

using test::Event;
using test::parse_error;
using test::parse_ok;
using test::run;

// A session's worth of input touching every framing path: literals of both
// kinds, message literals, IDLE, errors in the middle, bare LF.
std::string mixed_session() {
  return "a1 LOGIN {4}\r\nfred {6+}\r\nsecret\r\n"
         "a2 SELECT \"INBOX\" (CONDSTORE)\r\n"
         "a3 FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (From \"To\")]<0.100>)\r\n"
         "a4 APPEND Sent (\\Seen) {12}\r\nhello\r\nworld \" 1-Jan-2020 00:00:00 +0000\" {0+}\r\n\r\n"
         "a5 garbage (\r\n"
         "a6 SEARCH OR (SEEN FLAGGED) NOT TEXT {3+}\r\nabc UID 1:5,7\r\n"
         "a7 IDLE\r\nDONE\r\n"
         "\r\n"
         "a8 STORE $ +FLAGS.SILENT (\\Deleted)\n"
         "a9 LIST (SUBSCRIBED) \"\" (INBOX \"a b\") RETURN (STATUS (MESSAGES UIDNEXT))\r\n"
         "b1 SYNCAPPLY MESSAGE (%{p 0123 4}\r\nabcd)\r\n"
         "b2 LOGIN x\r\n"
         "b3 UID EXPUNGE 1:*\r\n"
         "b4 LOGOUT\r\n";
}

TEST(Framing, AnyChunkSizeGivesTheSameEvents) {
  std::string input = mixed_session();
  auto whole = run(input);
  ASSERT_EQ(whole.size(), 20u);
  // Spot checks that the reference run is itself right.
  EXPECT_EQ(whole[0].what, "literal 4");
  EXPECT_EQ(whole[1].request->command.as<LoginArgs>().password, "secret");
  EXPECT_EQ(whole[4].what, "message 12 sync 1 index 0");
  EXPECT_EQ(whole[5].what, "data hello\r\nworld<end>");
  EXPECT_EQ(whole[6].what, "message 0 sync 0 index 1");
  EXPECT_EQ(whole[7].what, "data <end>");
  EXPECT_EQ(whole[8].request->command.as<AppendArgs>().messages.size(), 2u);
  EXPECT_EQ(whole[9].what, "error a5 BAD [] Unbalanced parentheses");
  EXPECT_EQ(whole[10].request->command.id, CommandId::Search);
  EXPECT_EQ(whole[12].what, "line DONE");
  EXPECT_EQ(whole[13].what, "error * BAD [] Empty command line");
  EXPECT_EQ(whole[16].request->command.as<SyncArgs>().raw, "MESSAGE (%{p 0123 4}\r\nabcd)");
  EXPECT_EQ(whole[17].what, "error b2 BAD [] LOGIN: Missing argument");
  for (size_t chunk : {1, 2, 3, 5, 7, 13, 64}) EXPECT_EQ(run(input, chunk), whole) << chunk;
}

TEST(Framing, MessageLiteralIsStreamedNotBuffered) {
  ParserLimits lim;
  lim.max_message = 16 << 20;
  Parser p(lim);
  const size_t size = 4 << 20, piece = 64 * 1024;
  p.feed("A APPEND INBOX {" + std::to_string(size) + "+}\r\n");
  auto r = p.next();
  ASSERT_TRUE(std::holds_alternative<MessageLiteral>(r));
  size_t got = 0, max_held = 0;
  std::string block(piece, 'm');
  bool done = false;
  while (!done) {
    p.feed(block.substr(0, std::min(piece, size - got)));
    for (;;) {
      auto e = p.next();
      if (std::holds_alternative<NeedMore>(e)) break;
      auto* d = std::get_if<MessageData>(&e);
      ASSERT_NE(d, nullptr);
      got += d->bytes.size();
      max_held = std::max(max_held, d->bytes.size());
      if (d->last) {
        done = true;
        break;
      }
    }
  }
  EXPECT_EQ(got, size);
  EXPECT_LE(max_held, piece);
  p.feed("\r\n");
  auto fin = p.next();
  ASSERT_TRUE(std::holds_alternative<Request>(fin));
  EXPECT_EQ(std::get<Request>(fin).command.as<AppendArgs>().messages[0].size, size);
}

TEST(Framing, BareLfAndCaseInsensitiveNames) {
  EXPECT_EQ(parse_ok("a nOoP\n").command.id, CommandId::Noop);
  EXPECT_EQ(parse_ok("a Uid FeTcH 1 fLaGs\r\n").command.id, CommandId::Fetch);
}

TEST(Framing, BufferedInputAfterStartTlsIsVisible) {
  Parser p;
  p.feed("a STARTTLS\r\nb NOOP\r\n");
  auto r = p.next();
  ASSERT_TRUE(std::holds_alternative<Request>(r));
  // The session must throw these away (or fail) before the TLS handshake.
  EXPECT_EQ(p.buffered(), 8u);
  p.discard_input();
  EXPECT_EQ(p.buffered(), 0u);
  EXPECT_TRUE(std::holds_alternative<NeedMore>(p.next()));
  p.feed("c CAPABILITY\r\n");
  auto c = p.next();
  ASSERT_TRUE(std::holds_alternative<Request>(c));
  EXPECT_EQ(std::get<Request>(c).tag, "c");
}

TEST(BadInput, GarbageAndRecovery) {
  auto ev = run("\x01\x02 foo\r\na NOOP\r\n");
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_EQ(ev[0].what, "error * BAD [] Invalid character");
  EXPECT_EQ(ev[1].request->command.id, CommandId::Noop);

  EXPECT_EQ(parse_error("+a NOOP\r\n"), "error * BAD [] Invalid tag");
  EXPECT_EQ(parse_error("a*b NOOP\r\n"), "error * BAD [] Invalid tag");
  EXPECT_EQ(parse_error("abc\r\n"), "error abc BAD [] Missing command");
  EXPECT_EQ(parse_error("a  NOOP\r\n"), "error a BAD [] Unexpected space");
  EXPECT_EQ(parse_error("a NOOP \r\n"), "error a BAD [] Unexpected space at end of line");
  EXPECT_EQ(parse_error("a FETCH 1 ( FLAGS)\r\n"), "error a BAD [] Unexpected space");
  EXPECT_EQ(parse_error("a FETCH 1 (FLAGS )\r\n"), "error a BAD [] Unexpected ')'");
  EXPECT_EQ(parse_error("a LOGIN \"fred\"x y\r\n"), "error a BAD [] Missing space between arguments");
  EXPECT_EQ(parse_error("a LOGIN \"fred y\r\n"), "error a BAD [] Unterminated quoted string");
  EXPECT_EQ(parse_error("a LOGIN \"fr\\ed\" y\r\n"), "error a BAD [] Invalid escape in quoted string");
  EXPECT_EQ(parse_error(std::string("a LOGIN \"fr\0ed\" y\r\n", 19)),
            "error a BAD [] Invalid character in quoted string");
  EXPECT_EQ(parse_error("a LOGIN fr\xc3\xa9 y\r\n"),
            "error a BAD [] 8-bit characters must be quoted or in a literal");
  EXPECT_EQ(parse_error("a LOGIN {3}x y\r\n"), "error a BAD [] Invalid literal announcement");
  EXPECT_EQ(parse_error("a LOGIN {x}\r\n"), "error a BAD [] Invalid literal announcement");
  EXPECT_EQ(parse_error("a LOGIN x{3}\r\n"), "error a BAD [] Invalid literal announcement");
}

TEST(BadInput, UnbalancedParentheses) {
  EXPECT_EQ(parse_error("a FETCH 1 (FLAGS\r\n"), "error a BAD [] Unbalanced parentheses");
  EXPECT_EQ(parse_error("a FETCH 1 FLAGS)\r\n"), "error a BAD [] Unbalanced parentheses");
  EXPECT_EQ(parse_error("a SEARCH ((SEEN)\r\n"), "error a BAD [] Unbalanced parentheses");
  // Unbalanced across a literal: the BAD comes at the end of the command.
  auto ev = run("a SEARCH (TEXT {2+}\r\nab\r\nb NOOP\r\n");
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_EQ(ev[0].what, "error a BAD [] Unbalanced parentheses");
  EXPECT_EQ(ev[1].request->command.id, CommandId::Noop);
}

TEST(BadInput, MissingArguments) {
  for (const char* line : {"a LOGIN fred\r\n", "a SELECT\r\n", "a COPY 1\r\n", "a RENAME x\r\n",
                           "a FETCH 1\r\n", "a STORE 1\r\n", "a STATUS x\r\n", "a LIST \"\"\r\n",
                           "a SETACL x\r\n", "a GETQUOTA\r\n", "a AUTHENTICATE\r\n",
                           "a UID FETCH\r\n", "a CREATE\r\n", "a LSUB x\r\n"}) {
    auto ev = run(std::string(line) + "b NOOP\r\n");
    ASSERT_EQ(ev.size(), 2u) << line;
    EXPECT_EQ(ev[0].what.rfind("error a BAD", 0), 0u) << line << ": " << ev[0].what;
    EXPECT_EQ(ev[1].request->command.id, CommandId::Noop) << line;
  }
}

TEST(BadInput, InvalidSequenceSets) {
  for (const char* set : {"0", "1:", ":1", "1,,2", "1:2:3", "4294967296", "x", "1,", ",1", "01",
                          "1:0", "*:", "$:1", "1.5"}) {
    EXPECT_NE(parse_error(std::string("a FETCH ") + set + " FLAGS\r\n"), "") << set;
  }
  EXPECT_EQ(parse_ok("a FETCH 4294967295:* FLAGS\r\n").command.as<FetchArgs>().set.ranges[0],
            (SeqRange{4294967295u, kSeqStar}));
  EXPECT_EQ(parse_ok("a FETCH 5:2 FLAGS\r\n").command.as<FetchArgs>().set.ranges[0],
            (SeqRange{5, 2}));
}

TEST(Bounds, OverlongLineIsRejectedAndSkipped) {
  ParserLimits lim;
  lim.max_line = 100;
  std::string longline = "a1 LOGIN " + std::string(1000, 'x') + " y\r\n";
  for (size_t chunk : {0, 1, 7}) {
    auto ev = run(longline + "a2 NOOP\r\n", chunk, lim);
    ASSERT_EQ(ev.size(), 2u) << chunk;
    EXPECT_EQ(ev[0].what, "error a1 BAD [] Line too long");
    EXPECT_EQ(ev[1].request->command.id, CommandId::Noop);
  }
  // An overlong line ending in a non-synchronizing literal: the literal is
  // skipped too, and the rest of that command.
  std::string with_lit = "a1 LOGIN " + std::string(1000, 'x') + " {5+}\r\nNOOP! tail\r\na2 NOOP\r\n";
  auto ev = run(with_lit, 0, lim);
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_EQ(ev[1].request->command.id, CommandId::Noop);
  EXPECT_EQ(run(with_lit, 3, lim), ev);
  // Ending in a synchronizing literal: the client waits for "+", gets BAD, and
  // does not send the literal; the next line is a new command.
  auto sync = run("a1 LOGIN " + std::string(1000, 'x') + " {5}\r\na2 NOOP\r\n", 0, lim);
  ASSERT_EQ(sync.size(), 2u);
  EXPECT_EQ(sync[1].request->command.id, CommandId::Noop);
  // The limit counts all non-literal text of the command, not each line.
  std::string pieces = "a1 SEARCH";
  for (int i = 0; i < 20; ++i) pieces += " TEXT {1+}\r\nx";
  pieces += "\r\na2 NOOP\r\n";
  auto many = run(pieces, 0, lim);
  ASSERT_EQ(many.size(), 2u);
  EXPECT_EQ(many[0].what, "error a1 BAD [] Line too long");
  EXPECT_EQ(many[1].request->command.id, CommandId::Noop);
  // An overlong continuation line.
  auto idle = run("a IDLE\r\n" + std::string(500, 'D') + "\r\nb NOOP\r\n", 0, lim);
  ASSERT_EQ(idle.size(), 3u);
  EXPECT_EQ(idle[1].what, "error * BAD [] Line too long");
  EXPECT_EQ(idle[2].request->command.id, CommandId::Noop);
}

TEST(Bounds, LiteralSizes) {
  ParserLimits lim;
  lim.max_literal = 1000;
  lim.max_message = 5000;
  lim.max_skip = 20000;
  // Synchronizing and too big: refused before the client sends it.
  auto a = run("a LOGIN {1001}\r\nb NOOP\r\n", 0, lim);
  ASSERT_EQ(a.size(), 2u);
  EXPECT_EQ(a[0].what, "error a BAD [TOOBIG] Literal too big");
  EXPECT_EQ(a[1].request->command.id, CommandId::Noop);
  // A size with too many digits is just too big.
  auto h = run("a LOGIN {99999999999999999999999}\r\nb NOOP\r\n", 0, lim);
  ASSERT_EQ(h.size(), 2u);
  EXPECT_EQ(h[0].what, "error a BAD [TOOBIG] Literal too big");
  // Non-synchronizing and too big: read, thrown away, BAD.
  auto b = run("a LOGIN {1500+}\r\n" + std::string(1500, 'z') + " pw\r\nb NOOP\r\n", 0, lim);
  ASSERT_EQ(b.size(), 2u);
  EXPECT_EQ(b[0].what, "error a BAD [TOOBIG] Literal too big");
  EXPECT_EQ(b[1].request->command.id, CommandId::Noop);
  // Non-synchronizing and beyond what can be skipped: BYE, and it stays closed.
  Parser p(lim);
  p.feed("a LOGIN {99999999999+}\r\nxx");
  auto bye = p.next();
  ASSERT_TRUE(std::holds_alternative<ParseError>(bye));
  EXPECT_EQ(std::get<ParseError>(bye).kind, ParseError::Kind::Bye);
  EXPECT_EQ(std::get<ParseError>(bye).code, "TOOBIG");
  p.feed("b NOOP\r\n");
  EXPECT_TRUE(std::holds_alternative<ParseError>(p.next()));
  // APPEND messages have their own bound and get NO [TOOBIG].
  auto m = run("a APPEND INBOX {5001}\r\nb NOOP\r\n", 0, lim);
  ASSERT_EQ(m.size(), 2u);
  EXPECT_EQ(m[0].what, "error a NO [TOOBIG] Message too big");
  EXPECT_EQ(m[1].request->command.id, CommandId::Noop);
  auto ok = run("a APPEND INBOX {4000+}\r\n" + std::string(4000, 'q') + "\r\n", 0, lim);
  ASSERT_EQ(ok.size(), 3u);
  EXPECT_TRUE(ok[2].request);
}

TEST(Bounds, LiteralsOfOneCommandTogether) {
  // Many small literals must not add up to unbounded memory.
  ParserLimits lim;
  lim.max_literal = 100;
  lim.max_literal_total = 250;
  std::string cmd = "a SEARCH";
  for (int i = 0; i < 3; ++i) cmd += " TEXT {100+}\r\n" + std::string(100, 'k');
  cmd += "\r\nb NOOP\r\n";
  auto ev = run(cmd, 0, lim);
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_EQ(ev[0].what, "error a BAD [TOOBIG] Literal too big");
  EXPECT_EQ(ev[1].request->command.id, CommandId::Noop);
  EXPECT_EQ(run(cmd, 1, lim), ev);
  // Two fit, and the total starts again with the next command.
  std::string two = "a SEARCH TEXT {100+}\r\n" + std::string(100, 'k') + " TEXT {100+}\r\n" +
                    std::string(100, 'k') + "\r\n";
  auto ok = run(two + two, 0, lim);
  ASSERT_EQ(ok.size(), 2u);
  EXPECT_TRUE(ok[0].request && ok[1].request);
}

TEST(Bounds, DeepNestingAndManyItems) {
  ParserLimits lim;
  lim.max_depth = 10;
  lim.max_items = 50;
  std::string deep = "a SEARCH " + std::string(11, '(') + "ALL" + std::string(11, ')') + "\r\n";
  EXPECT_EQ(parse_error(deep, lim), "error a BAD [] Too deeply nested");
  std::string ok = "a SEARCH " + std::string(10, '(') + "ALL" + std::string(10, ')') + "\r\n";
  EXPECT_TRUE(parse_ok(ok, lim).command.id == CommandId::Search);
  std::string nots = "a SEARCH";
  for (int i = 0; i < 20; ++i) nots += " NOT";
  nots += " ALL\r\n";
  EXPECT_EQ(parse_error(nots, lim), "error a BAD [] SEARCH: Search keys nested too deeply");
  std::string many = "a FETCH 1 (";
  for (int i = 0; i < 60; ++i) many += i ? " FLAGS" : "FLAGS";
  many += ")\r\nb NOOP\r\n";
  auto ev = run(many, 0, lim);
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_EQ(ev[0].what, "error a BAD [] Too many arguments");
  EXPECT_EQ(ev[1].request->command.id, CommandId::Noop);
  // Counted across literals too.
  std::string lits = "a SEARCH";
  for (int i = 0; i < 60; ++i) lits += " TEXT {1+}\r\nx";
  lits += "\r\nb NOOP\r\n";
  auto lv = run(lits, 0, lim);
  ASSERT_EQ(lv.size(), 2u);
  EXPECT_EQ(lv[0].what, "error a BAD [] Too many arguments");
  EXPECT_EQ(lv[1].request->command.id, CommandId::Noop);
  EXPECT_EQ(run(lits, 1, lim), lv);
}

TEST(Session, CancelCommandAfterMessageLiteral) {
  // Synchronizing: the session answers NO instead of "+"; the client sends
  // nothing more for this command.
  Parser p;
  p.feed("a APPEND INBOX {10}\r\n");
  auto r = p.next();
  ASSERT_TRUE(std::holds_alternative<MessageLiteral>(r));
  EXPECT_TRUE(std::get<MessageLiteral>(r).synchronizing);
  p.cancel_command();
  p.feed("b NOOP\r\n");
  auto n = p.next();
  ASSERT_TRUE(std::holds_alternative<Request>(n));
  EXPECT_EQ(std::get<Request>(n).tag, "b");

  // Non-synchronizing: the literal and the rest of the command are skipped.
  Parser q;
  q.feed("a APPEND INBOX {10+}\r\n0123456789 {3+}\r\nabc\r\nb NOOP\r\n");
  ASSERT_TRUE(std::holds_alternative<MessageLiteral>(q.next()));
  q.cancel_command();
  auto m = q.next();
  ASSERT_TRUE(std::holds_alternative<Request>(m));
  EXPECT_EQ(std::get<Request>(m).tag, "b");
}

TEST(Session, ErrorAfterSyncLiteralKeepsTag) {
  auto ev = run("a LOGIN {3}\r\nabc \"unterminated\r\nb NOOP\r\n");
  ASSERT_EQ(ev.size(), 3u);
  EXPECT_EQ(ev[0].what, "literal 3");
  EXPECT_EQ(ev[1].what, "error a BAD [] Unterminated quoted string");
  EXPECT_EQ(ev[2].request->tag, "b");
}

TEST(Session, ParseOneHelper) {
  auto r = parse_one("a LOGIN {1}\r\nx y\r\n");
  ASSERT_TRUE(std::holds_alternative<Request>(r));
  auto e = parse_one("a LOGIN x");
  ASSERT_TRUE(std::holds_alternative<ParseError>(e));
  EXPECT_EQ(std::get<ParseError>(e).text, "Incomplete command");
}

}  // namespace
}  // namespace cyr::imap
