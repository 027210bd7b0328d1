// ResponseWriter, response codes, sequence-set formatting, error mapping.
#include "server/imap/response.h"

#include <gtest/gtest.h>

#include "imap_test_util.h"
#include "server/imap/parser_args.h"

namespace cyr::imap {
namespace {

std::string astring_of(std::string_view s, WriterOptions o = {}) {
  std::string out;
  ResponseWriter(out, o).astring(s);
  return out;
}

TEST(ResponseWriter, StatusLines) {
  std::string out;
  ResponseWriter w(out);
  w.tagged("a1", StatusKind::Ok, ResponseCode::read_write(), "SELECT completed");
  w.tagged("a2", StatusKind::No, ResponseCode(), "bad\r\nthing");
  w.untagged_status(StatusKind::Bye, ResponseCode::alert(), "Server shutting down");
  w.untagged_status(StatusKind::PreAuth, ResponseCode::capability({"IMAP4rev1", "IDLE"}), "hi");
  w.continuation("Ready for literal");
  w.tagged("a3", StatusKind::Bad, ResponseCode::client_bug(), "");
  EXPECT_EQ(out,
            "a1 OK [READ-WRITE] SELECT completed\r\n"
            "a2 NO bad  thing\r\n"
            "* BYE [ALERT] Server shutting down\r\n"
            "* PREAUTH [CAPABILITY IMAP4rev1 IDLE] hi\r\n"
            "+ Ready for literal\r\n"
            "a3 BAD [CLIENTBUG] \r\n");
}

TEST(ResponseWriter, ParseErrors) {
  std::string out;
  ResponseWriter w(out);
  w.parse_error(ParseError{"a1", ParseError::Kind::Bad, "", "Unknown command"});
  w.parse_error(ParseError{"a2", ParseError::Kind::No, "TOOBIG", "Message too big"});
  w.parse_error(ParseError{"*", ParseError::Kind::Bye, "TOOBIG", "Literal too big to skip"});
  EXPECT_EQ(out,
            "a1 BAD Unknown command\r\n"
            "a2 NO [TOOBIG] Message too big\r\n"
            "* BYE [TOOBIG] Literal too big to skip\r\n");
}

TEST(ResponseWriter, DataLineSpacing) {
  std::string out;
  ResponseWriter w(out);
  w.begin_untagged().atom("LIST").begin_list().atom("\\HasNoChildren").atom("\\Sent").end_list()
      .string("/").mailbox("inbox").end_line();
  w.begin_untagged().number(12).atom("FETCH").begin_list().atom("FLAGS").begin_list().end_list()
      .atom("UID").number(4827313).atom("BODY[]").nil().end_list().end_line();
  w.begin_untagged().number(3).atom("FETCH").begin_list().atom("FLAGS")
      .flag_list({"\\Seen", "$Forwarded"}).end_list().end_line();
  w.begin_untagged().atom("STATUS").mailbox("blurdy bloop").begin_list().atom("MESSAGES")
      .number(231).atom("UIDNEXT").number(44292).end_list().end_line();
  EXPECT_EQ(out,
            "* LIST (\\HasNoChildren \\Sent) \"/\" INBOX\r\n"
            "* 12 FETCH (FLAGS () UID 4827313 BODY[] NIL)\r\n"
            "* 3 FETCH (FLAGS (\\Seen $Forwarded))\r\n"
            "* STATUS \"blurdy bloop\" (MESSAGES 231 UIDNEXT 44292)\r\n");
}

TEST(ResponseWriter, StringForms) {
  EXPECT_EQ(astring_of("hello"), "hello");
  EXPECT_EQ(astring_of("a b"), "\"a b\"");
  EXPECT_EQ(astring_of(""), "\"\"");
  EXPECT_EQ(astring_of("NIL"), "\"NIL\"");  // an atom NIL would read as nil
  EXPECT_EQ(astring_of("nil"), "\"nil\"");
  EXPECT_EQ(astring_of("a%b"), "\"a%b\"");   // list-wildcards are not ATOM-CHARs
  EXPECT_EQ(astring_of("a]b"), "\"a]b\"");
  EXPECT_EQ(astring_of("say \"hi\""), "\"say \\\"hi\\\"\"");
  EXPECT_EQ(astring_of("back\\slash"), "\"back\\\\slash\"");
  EXPECT_EQ(astring_of("two\r\nlines"), "{10}\r\ntwo\r\nlines");
  EXPECT_EQ(astring_of(std::string("nul\0", 4)), std::string("{4}\r\nnul\0", 9));
  EXPECT_EQ(astring_of("caf\xc3\xa9"), "{5}\r\ncaf\xc3\xa9");
  EXPECT_EQ(astring_of("\"\"\"\"\"\""), "{6}\r\n\"\"\"\"\"\"");  // quote-heavy
  WriterOptions utf8;
  utf8.utf8 = true;
  EXPECT_EQ(astring_of("caf\xc3\xa9 x", utf8), "\"caf\xc3\xa9 x\"");
  // With UTF-8 on, 8-bit bytes stay quoted but CR, LF and NUL still force
  // a literal, and quotes are still escaped.
  EXPECT_EQ(astring_of("caf\xc3\xa9\r\n", utf8), "{7}\r\ncaf\xc3\xa9\r\n");
  EXPECT_EQ(astring_of("\xc3\xa9 \"q\"", utf8), "\"\xc3\xa9 \\\"q\\\"\"");
  EXPECT_EQ(astring_of("a\"b\"c\"d\" e"), "\"a\\\"b\\\"c\\\"d\\\" e\"");  // four escapes: quoted
  EXPECT_EQ(astring_of("a\"b\"c\"d\"\\ e"), "{11}\r\na\"b\"c\"d\"\\ e");     // five: literal
  EXPECT_EQ(astring_of(" " + std::string(1023, 'q')).size(), 1024u + 2);  // max_quoted: quoted
  EXPECT_EQ(astring_of(" " + std::string(1024, 'q')).substr(0, 8), "{1025}\r\n");
  std::string long_text(2000, 'a');
  long_text[5] = ' ';
  EXPECT_EQ(astring_of(long_text).substr(0, 8), "{2000}\r\n");

  std::string out;
  ResponseWriter w(out);
  w.string("atomlike").nstring(std::nullopt).nstring(std::string("x")).literal("ab");
  EXPECT_EQ(out, "\"atomlike\" NIL \"x\" {2}\r\nab");
}

TEST(ResponseWriter, WrittenStringsParseBack) {
  // Whatever the writer chooses, our own parser reads back the same bytes.
  const std::string samples[] = {"plain", "with space", "", "NIL", "q\"uo\\te",
                                 "\"\"\"\"\"\"\"", "line\r\nbreak", "8bit \xe2\x82\xac",
                                 "(paren)", "{5}", "star*", std::string(1500, 'L')};
  for (const std::string& user : samples) {
    std::string cmd = "a LOGIN ";
    ResponseWriter(cmd).astring(user).astring("pw");
    cmd += "\r\n";
    auto r = test::parse_ok(cmd);
    ASSERT_EQ(r.command.id, CommandId::Login) << cmd;
    EXPECT_EQ(r.command.as<LoginArgs>().user, user);
  }
}

TEST(SequenceSetFormat, CompressesRanges) {
  EXPECT_EQ(format_uid_set({5, 1, 2, 3, 3, 9, 10}), "1:3,5,9:10");
  EXPECT_EQ(format_uid_set({}), "");
  EXPECT_EQ(format_uid_set({7}), "7");
  EXPECT_EQ(format_uid_set({4294967295u, 4294967294u}), "4294967294:4294967295");
  EXPECT_EQ(format_uid_sequence({7, 8, 9, 3, 4}), "7:9,3:4");
  auto set = parse_sequence_set("1:*,5,7:3");
  ASSERT_TRUE(set.ok());
  EXPECT_EQ(format_sequence_set(*set), "1:*,5,7:3");
  EXPECT_EQ(format_sequence_set(SequenceSet{{}, true}), "$");
  EXPECT_TRUE(set->contains(100, 200));
  EXPECT_TRUE(set->contains(4, 200));
  EXPECT_FALSE(parse_sequence_set("2:4")->contains(5, 10));
  EXPECT_TRUE(parse_sequence_set("5:*")->contains(3, 3));  // "*" below 5: range 3:5
}

TEST(ResponseCodes, Render) {
  EXPECT_EQ(ResponseCode::append_uid(38505, {3955}).text(), "APPENDUID 38505 3955");
  EXPECT_EQ(ResponseCode::append_uid(38505, {3955, 3956, 3957}).text(), "APPENDUID 38505 3955:3957");
  EXPECT_EQ(ResponseCode::copy_uid(38505, {304, 319, 320}, {3956, 3957, 3958}).text(),
            "COPYUID 38505 304,319:320 3956:3958");
  // Pairs are ordered by source UID; the destination keeps that order.
  EXPECT_EQ(ResponseCode::copy_uid(7, {5, 3, 4}, {10, 8, 9}).text(), "COPYUID 7 3:5 8:10");
  EXPECT_EQ(ResponseCode::copy_uid(7, {1, 2, 3}, {7, 5, 6}).text(), "COPYUID 7 1:3 7,5:6");
  EXPECT_EQ(ResponseCode::uid_validity(3857529045u).text(), "UIDVALIDITY 3857529045");
  EXPECT_EQ(ResponseCode::uid_next(4392).text(), "UIDNEXT 4392");
  EXPECT_EQ(ResponseCode::unseen(12).text(), "UNSEEN 12");
  EXPECT_EQ(ResponseCode::highest_modseq(715194045007ull).text(), "HIGHESTMODSEQ 715194045007");
  EXPECT_EQ(ResponseCode::modified({7, 9, 8}).text(), "MODIFIED 7:9");
  EXPECT_EQ(ResponseCode::permanent_flags({"\\Deleted", "\\Seen", "\\*"}).text(),
            "PERMANENTFLAGS (\\Deleted \\Seen \\*)");
  EXPECT_EQ(ResponseCode::bad_charset().text(), "BADCHARSET");
  EXPECT_EQ(ResponseCode::bad_charset({"UTF-8", "US-ASCII"}).text(), "BADCHARSET (UTF-8 US-ASCII)");
  EXPECT_EQ(ResponseCode::named("X-FOO").text(), "X-FOO");
  EXPECT_TRUE(ResponseCode::named("two words").empty());
  EXPECT_EQ(ResponseCode::try_create().text(), "TRYCREATE");
  EXPECT_EQ(ResponseCode::over_quota().text(), "OVERQUOTA");
  EXPECT_EQ(ResponseCode::closed().text(), "CLOSED");
  EXPECT_EQ(ResponseCode::too_big().text(), "TOOBIG");
  EXPECT_EQ(ResponseCode::read_only().text(), "READ-ONLY");
}

TEST(ErrorMapping, EveryErrc) {
  struct Case {
    Errc code;
    StatusKind kind;
    const char* resp;
  } cases[] = {
      {Errc::Temp, StatusKind::No, "UNAVAILABLE"},
      {Errc::Unavailable, StatusKind::No, "UNAVAILABLE"},
      {Errc::NotFound, StatusKind::No, "NONEXISTENT"},
      {Errc::Exists, StatusKind::No, "ALREADYEXISTS"},
      {Errc::Perm, StatusKind::No, "NOPERM"},
      {Errc::NoQuota, StatusKind::No, "OVERQUOTA"},
      {Errc::InUse, StatusKind::No, "INUSE"},
      {Errc::Limit, StatusKind::No, "LIMIT"},
      {Errc::TooBig, StatusKind::No, "TOOBIG"},
      {Errc::Corrupted, StatusKind::No, "CORRUPTION"},
      {Errc::Fenced, StatusKind::No, "UNAVAILABLE"},
      {Errc::Invalid, StatusKind::Bad, "CLIENTBUG"},
      {Errc::Io, StatusKind::No, "SERVERBUG"},
      {Errc::Internal, StatusKind::No, "SERVERBUG"},
  };
  for (const Case& c : cases) {
    ImapError e = imap_error_for(Error(c.code, "Mailbox is busy", "/var/spool/secret path"));
    EXPECT_EQ(e.kind, c.kind) << errc_name(c.code);
    EXPECT_EQ(e.code.text(), c.resp) << errc_name(c.code);
    EXPECT_EQ(e.text.find("/var/spool"), std::string::npos);
    EXPECT_FALSE(e.text.empty());
  }
  // The user message is shown when it is safe; internal failures never show it.
  EXPECT_EQ(imap_error_for(Error(Errc::NotFound, "No such mailbox")).text, "No such mailbox");
  EXPECT_EQ(imap_error_for(Error(Errc::NotFound, "")).text, "Mailbox does not exist");
  EXPECT_EQ(imap_error_for(Error(Errc::Internal, "sqlite said: disk I/O error")).text.find("sqlite"),
            std::string::npos);
  EXPECT_EQ(imap_error_for(Error(Errc::Fenced, "fsync failed on /x")).text.find("fsync"),
            std::string::npos);
}

}  // namespace
}  // namespace cyr::imap
