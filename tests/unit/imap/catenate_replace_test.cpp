// CATENATE (RFC 4469) and REPLACE (RFC 8508): the framer streams TEXT parts
// as message literals, the argument parser builds the parts, the limits
// hold; and IMAP URLs (RFC 5092) as CATENATE's URL parts name them.
#include "imap_test_util.h"
#include "server/imap/command_table.h"
#include "server/imap/imap_url.h"
#include "server/imap/response.h"

namespace cyr::imap {
namespace {

using test::parse_error;
using test::parse_ok;
using test::run;
using namespace std::string_literals;

const std::string kUrl = "/INBOX;UIDVALIDITY=785799047/;UID=113330/;SECTION=1.5.9";

TEST(Catenate, TextAndUrlParts) {  // RFC 4469 appendix A, shortened
  std::string in = "A003 APPEND Drafts (\\Seen \\Draft $MDNSent) CATENATE (TEXT {42}\r\n" +
                   std::string(42, 'h') + " URL \"" + kUrl + "\" URL \"/INBOX;UIDVALIDITY=785799047/;UID=113330/;SECTION=1.6\" TEXT {7}\r\n\r\n--x--)\r\n";
  auto events = run(in);
  ASSERT_EQ(events.size(), 5u);
  // Both TEXT literals are streamed (synchronizing, indexes 0 and 1).
  EXPECT_EQ(events[0].what, "message 42 sync 1 index 0");
  EXPECT_EQ(events[1].what, "data " + std::string(42, 'h') + "<end>");
  EXPECT_EQ(events[2].what, "message 7 sync 1 index 1");
  EXPECT_EQ(events[3].what, "data \r\n--x--<end>");
  ASSERT_TRUE(events[4].request);
  const Command& c = events[4].request->command;
  ASSERT_EQ(c.id, CommandId::Append);
  const auto& a = c.as<AppendArgs>();
  EXPECT_EQ(a.mailbox, "Drafts");
  ASSERT_EQ(a.messages.size(), 1u);
  const AppendMessage& m = a.messages[0];
  EXPECT_EQ(m.flags, (std::vector<std::string>{"\\Seen", "\\Draft", "$MDNSent"}));
  ASSERT_EQ(m.catenate.size(), 4u);
  EXPECT_EQ(m.catenate[0].kind, CatenatePart::Kind::Text);
  EXPECT_EQ(m.catenate[0].size, 42u);
  EXPECT_EQ(m.catenate[0].literal, 0u);
  EXPECT_EQ(m.catenate[1].kind, CatenatePart::Kind::Url);
  EXPECT_EQ(m.catenate[1].url, kUrl);
  EXPECT_EQ(m.catenate[2].url, "/INBOX;UIDVALIDITY=785799047/;UID=113330/;SECTION=1.6");
  EXPECT_EQ(m.catenate[3].kind, CatenatePart::Kind::Text);
  EXPECT_EQ(m.catenate[3].literal, 1u);
  EXPECT_EQ(m.catenate[3].size, 7u);
}

TEST(Catenate, UrlOnlyDateAndLiteral8AndUrlAsLiteral) {
  auto a = parse_ok("a APPEND INBOX \"01-Jan-2020 10:00:00 +0100\" CATENATE (URL /INBOX/;UID=5)\r\n")
               .command.as<AppendArgs>();
  ASSERT_EQ(a.messages.size(), 1u);
  EXPECT_TRUE(a.messages[0].internal_date.has_value());
  ASSERT_EQ(a.messages[0].catenate.size(), 1u);
  EXPECT_EQ(a.messages[0].catenate[0].url, "/INBOX/;UID=5");

  // literal8 TEXT (BINARY): streamed, marked binary. A URL sent as a literal
  // is an ordinary (buffered) literal.
  auto events = run("b APPEND INBOX CATENATE (TEXT ~{3+}\r\na\0b URL {13+}\r\n/INBOX/;UID=5)\r\n"s);
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].what, "message 3 sync 0 index 0");
  ASSERT_TRUE(events[2].request);
  const auto& m = events[2].request->command.as<AppendArgs>().messages[0];
  ASSERT_EQ(m.catenate.size(), 2u);
  EXPECT_TRUE(m.catenate[0].binary);
  EXPECT_EQ(m.catenate[1].url, "/INBOX/;UID=5");
}

TEST(Catenate, InsideMultiappend) {  // RFC 4469 with RFC 3502
  auto events = run("a APPEND INBOX {3+}\r\nabc CATENATE (TEXT {2+}\r\nxy URL \"/INBOX/;UID=1\") (\\Seen) {1+}\r\nz\r\n");
  ASSERT_EQ(events.size(), 7u);
  EXPECT_EQ(events[0].what, "message 3 sync 0 index 0");
  EXPECT_EQ(events[2].what, "message 2 sync 0 index 1");
  EXPECT_EQ(events[4].what, "message 1 sync 0 index 2");
  const auto& a = events[6].request->command.as<AppendArgs>();
  ASSERT_EQ(a.messages.size(), 3u);
  EXPECT_TRUE(a.messages[0].catenate.empty());
  EXPECT_EQ(a.messages[0].literal, 0u);
  ASSERT_EQ(a.messages[1].catenate.size(), 2u);
  EXPECT_EQ(a.messages[1].catenate[0].literal, 1u);
  EXPECT_EQ(a.messages[2].literal, 2u);
  EXPECT_EQ(a.messages[2].flags, std::vector<std::string>{"\\Seen"});
}

TEST(Catenate, BadForms) {
  EXPECT_NE(parse_error("a APPEND INBOX CATENATE ()\r\n"), "");
  EXPECT_NE(parse_error("a APPEND INBOX CATENATE\r\n"), "");
  EXPECT_NE(parse_error("a APPEND INBOX CATENATE (URL)\r\n"), "");
  EXPECT_NE(parse_error("a APPEND INBOX CATENATE (URL \"\")\r\n"), "");
  EXPECT_NE(parse_error("a APPEND INBOX CATENATE (FOO \"x\")\r\n"), "");
  EXPECT_NE(parse_error("a APPEND INBOX CATENATE (TEXT \"quoted\")\r\n"), "");
  EXPECT_NE(parse_error("a APPEND INBOX CATENATE URL \"/INBOX/;UID=1\"\r\n"), "");
  // A flag list's TEXT {n} is not a part: an ordinary literal, then BAD.
  std::string e = parse_error("a APPEND INBOX (TEXT {2+}\r\nab) {1+}\r\nx\r\n");
  EXPECT_NE(e, "");
  // The command after a bad one is read as a command.
  auto events = run("a APPEND INBOX CATENATE (BOGUS)\r\nb NOOP\r\n");
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].what.rfind("error a BAD", 0), 0u) << events[0].what;
  EXPECT_EQ(events[1].request->command.id, CommandId::Noop);
}

TEST(Catenate, PartAndUrlLimits) {
  std::string urls;
  for (size_t i = 0; i < kMaxCatenateParts; ++i) urls += (i ? " " : "") + std::string("URL /INBOX/;UID=1");
  EXPECT_EQ(parse_ok("a APPEND INBOX CATENATE (" + urls + ")\r\n")
                .command.as<AppendArgs>().messages[0].catenate.size(),
            kMaxCatenateParts);
  std::string e = parse_error("a APPEND INBOX CATENATE (" + urls + " URL /INBOX/;UID=2)\r\n");
  EXPECT_NE(e.find("Too many CATENATE parts"), std::string::npos) << e;

  // The 101st part a TEXT literal: refused when announced, before the client
  // sends it; a non-synchronizing one is skipped and the session goes on.
  auto sync = run("a APPEND INBOX CATENATE (" + urls + " TEXT {5}\r\nb NOOP\r\n");
  ASSERT_EQ(sync.size(), 2u);
  EXPECT_NE(sync[0].what.find("error a BAD [] Too many CATENATE parts"), std::string::npos) << sync[0].what;
  EXPECT_EQ(sync[1].request->command.id, CommandId::Noop);
  auto nonsync = run("a APPEND INBOX CATENATE (" + urls + " TEXT {5+}\r\nhello)\r\nb NOOP\r\n");
  ASSERT_EQ(nonsync.size(), 2u);
  EXPECT_EQ(nonsync[0].what.rfind("error a BAD", 0), 0u);
  EXPECT_EQ(nonsync[1].request->command.id, CommandId::Noop);

  std::string long_url = "/INBOX/;UID=1/;SECTION=" + std::string(kMaxCatenateUrl, '1');
  e = parse_error("a APPEND INBOX CATENATE (URL \"" + long_url + "\")\r\n");
  EXPECT_NE(e.find("URL too long"), std::string::npos) << e;
}

TEST(Catenate, TextPartsTogetherBoundedByMaxMessage) {
  ParserLimits lim;
  lim.max_message = 100;
  // 60 + 40 fits; 60 + 41 is NO [TOOBIG] at the second announcement.
  auto ok = run("a APPEND INBOX CATENATE (TEXT {60+}\r\n" + std::string(60, 'x') + " TEXT {40+}\r\n" +
                    std::string(40, 'y') + ")\r\n",
                0, lim);
  ASSERT_FALSE(ok.empty());
  EXPECT_TRUE(ok.back().request.has_value()) << ok.back().what;
  auto big = run("a APPEND INBOX CATENATE (TEXT {60}\r\n" + std::string(60, 'x') + " TEXT {41}\r\nb NOOP\r\n",
                 0, lim);
  ASSERT_EQ(big.size(), 4u);
  EXPECT_EQ(big[2].what, "error a NO [TOOBIG] Message too big");
  EXPECT_EQ(big[3].request->command.id, CommandId::Noop);
  // Each message of a MULTIAPPEND has its own bound.
  auto two = run("a APPEND INBOX CATENATE (TEXT {60+}\r\n" + std::string(60, 'x') + ") CATENATE (TEXT {60+}\r\n" +
                     std::string(60, 'y') + ")\r\n",
                 0, lim);
  ASSERT_FALSE(two.empty());
  EXPECT_TRUE(two.back().request.has_value()) << two.back().what;
}

TEST(Replace, SeqAndUid) {  // RFC 8508 3.3 example
  auto events = run("A003 REPLACE 4 Drafts (\\Seen \\Draft) {12}\r\nhello\r\nworld\r\n");
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].what, "message 12 sync 1 index 0");
  const Command& c = events[2].request->command;
  ASSERT_EQ(c.id, CommandId::Replace);
  EXPECT_FALSE(c.uid);
  const auto& r = c.as<ReplaceArgs>();
  EXPECT_EQ(r.source, (SequenceSet{{{4, 4}}, false}));
  EXPECT_EQ(r.append.mailbox, "Drafts");
  ASSERT_EQ(r.append.messages.size(), 1u);
  EXPECT_EQ(r.append.messages[0].size, 12u);

  auto u = run("B UID REPLACE 2000 Drafts CATENATE (URL \"/Drafts/;UID=2000/;SECTION=1\" TEXT {3+}\r\nabc)\r\n");
  ASSERT_EQ(u.size(), 3u);
  EXPECT_EQ(u[0].what, "message 3 sync 0 index 0");
  const Command& uc = u[2].request->command;
  ASSERT_EQ(uc.id, CommandId::Replace);
  EXPECT_TRUE(uc.uid);
  EXPECT_EQ(uc.as<ReplaceArgs>().append.messages[0].catenate.size(), 2u);
  // The table marks it a write (refused on a replica) that may expunge.
  EXPECT_TRUE(command_writes(uc));
  EXPECT_TRUE(command_spec(CommandId::Replace).flags & kBreaksSeqs);
  EXPECT_FALSE(command_allowed_in(CommandId::Replace, kAuthenticated));
}

TEST(Replace, BadForms) {
  EXPECT_NE(parse_error("a REPLACE 1:2 Drafts {1+}\r\nx\r\n"), "");  // one message only
  EXPECT_NE(parse_error("a REPLACE 1,3 Drafts {1+}\r\nx\r\n"), "");
  EXPECT_NE(parse_error("a REPLACE $ Drafts {1+}\r\nx\r\n"), "");
  EXPECT_NE(parse_error("a REPLACE 1 Drafts\r\n"), "");
  EXPECT_NE(parse_error("a REPLACE 1 Drafts {1+}\r\nx {1+}\r\ny\r\n"), "");  // no MULTIAPPEND
  // A mailbox name sent as a literal is the name, not the message.
  auto events = run("a REPLACE 1 {6+}\r\nDrafts {1+}\r\nx\r\n");
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].what, "message 1 sync 0 index 0");
  EXPECT_EQ(events[2].request->command.as<ReplaceArgs>().append.mailbox, "Drafts");
}

// ---------------------------------------------------------------- URLs

TEST(ImapUrl, AbsolutePath) {
  auto u = parse_imap_url(kUrl);
  ASSERT_TRUE(u) << u.error().user_message;
  EXPECT_FALSE(u->has_server);
  EXPECT_EQ(u->mailbox, "INBOX");
  EXPECT_EQ(u->uidvalidity, 785799047u);
  EXPECT_EQ(u->uid, 113330u);
  ASSERT_TRUE(u->section);
  EXPECT_EQ(u->section->part, (std::vector<uint32_t>{1, 5, 9}));
  EXPECT_FALSE(u->partial);

  auto v = parse_imap_url("/Other%20Users/fred/Sent/;uid=20/;section=HEADER.FIELDS%20(FROM%20TO)/;partial=5.10");
  ASSERT_TRUE(v) << v.error().user_message;
  EXPECT_EQ(v->mailbox, "Other Users/fred/Sent");
  EXPECT_FALSE(v->uidvalidity);
  EXPECT_EQ(v->uid, 20u);
  EXPECT_EQ(v->section->text, Section::Text::HeaderFields);
  EXPECT_EQ(v->section->fields, (std::vector<std::string>{"FROM", "TO"}));
  EXPECT_EQ(v->partial, (ImapUrlPartial{5, 10}));

  auto w = parse_imap_url("/INBOX/;UID=7/;PARTIAL=100");
  ASSERT_TRUE(w);
  EXPECT_FALSE(w->section);
  EXPECT_EQ(w->partial, (ImapUrlPartial{100, std::nullopt}));
  EXPECT_EQ(parse_imap_url("/INBOX/;UID=7/;SECTION=TEXT")->section->text, Section::Text::Text);
  EXPECT_EQ(parse_imap_url("/inBox/;UID=7")->mailbox, "INBOX");
  EXPECT_EQ(parse_imap_url("/inBox/Sub/;UID=7")->mailbox, "inBox/Sub");
  // UTF-8 mailbox names are %-escaped (RFC 5092 3.3).
  EXPECT_EQ(parse_imap_url("/Entw%C3%BCrfe/;UID=1")->mailbox, "Entw\xc3\xbc" "rfe");
}

TEST(ImapUrl, FullForm) {
  auto u = parse_imap_url("imap://fred@mail.example.com/INBOX;UIDVALIDITY=3/;UID=4");
  ASSERT_TRUE(u) << u.error().user_message;
  EXPECT_TRUE(u->has_server);
  EXPECT_EQ(u->user, "fred");
  EXPECT_EQ(u->host, "mail.example.com");
  EXPECT_EQ(u->uid, 4u);
  auto v = parse_imap_url("IMAP://j%2Esmith;AUTH=*@[::1]:143/INBOX/;UID=4");
  ASSERT_TRUE(v) << v.error().user_message;
  EXPECT_EQ(v->user, "j.smith");
  EXPECT_EQ(v->host, "[::1]");
  auto anon = parse_imap_url("imap://mail.example.com/INBOX/;UID=4");
  ASSERT_TRUE(anon);
  EXPECT_FALSE(anon->user);
  EXPECT_FALSE(parse_imap_url("imap://fred@host:99999/INBOX/;UID=4"));
  EXPECT_FALSE(parse_imap_url("imap://fred@/INBOX/;UID=4"));
  EXPECT_FALSE(parse_imap_url("imap://fred@host"));
}

TEST(ImapUrl, Refused) {
  for (const char* bad : {
           "INBOX/;UID=1",                              // relative
           ";UID=1",                                    // relative to the selected mailbox
           "//host/INBOX/;UID=1",                       // network-path without scheme
           "http://host/INBOX/;UID=1",                  // another scheme
           "/INBOX",                                    // no message
           "/INBOX;UIDVALIDITY=5",                      // no UID
           "/INBOX/;UIDVALIDITY=5/;UID=1",              // UIDVALIDITY after a "/"
           "/INBOX;UIDVALIDITY=x/;UID=1",               // bad UIDVALIDITY
           "/INBOX;UIDVALIDITY=0/;UID=1",               // UIDVALIDITY is nz-number
           "/INBOX;UIDVALIDITY=99999999999/;UID=1",     // too big
           "/INBOX;UIDVALIDITY=5;UID=1",                // no "/" before ;UID=
           "/INBOX/;UID=0",                             // nz-number
           "/INBOX/;UID=",                              // empty
           "/INBOX/;UID=1/",                            // trailing "/"
           "/INBOX/;UID=1/;SECTION=",                   // empty section
           "/INBOX/;UID=1/;SECTION=BOGUS",              // not a section
           "/INBOX/;UID=1/;SECTION=0",                  // part numbers start at 1
           "/INBOX/;UID=1/;PARTIAL=1.0",                // length is nz-number
           "/INBOX/;UID=1/;PARTIAL=x",                  //
           "/INBOX/;UID=1/;PARTIAL=1/;SECTION=1",       // order
           "/INBOX/;SECTION=1/;UID=1",                  // order
           "/INBOX/;UID=1;URLAUTH=anonymous:internal",  // URLAUTH is not offered
           "/INBOX/;UID=1/;FOO=1",                      // unknown parameter
           "/INBOX/;UID=1/;SECTION=1]",                 // "]" would end [BADURL ...]
           "/IN BOX/;UID=1",                            // space must be escaped
           "/IN%2/;UID=1",                              // bad escape
           "/IN%00BOX/;UID=1",                          // NUL
           "//;UID=1",                                  //
           "/;UID=1",                                   // no mailbox
       })
    EXPECT_FALSE(parse_imap_url(bad)) << bad;
}

TEST(ImapUrl, BadUrlResponseCode) {
  EXPECT_EQ(ResponseCode::bad_url(kUrl).text(), "BADURL " + kUrl);
  // Bare, not quoted (RFC 4469 erratum 4046); what cannot go in it is escaped.
  EXPECT_EQ(ResponseCode::bad_url("/a b]/;UID=1").text(), "BADURL /a%20b%5D/;UID=1");
}

}  // namespace
}  // namespace cyr::imap
