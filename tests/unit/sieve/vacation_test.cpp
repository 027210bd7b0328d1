// Vacation (RFC 5230, RFC 6131): the action's fields, when not to answer,
// and the composed answer.
#include <gtest/gtest.h>

#include "store/mail/message.h"
#include "tests/unit/sieve/sieve_test_util.h"

namespace cyr::sieve {
namespace {

using testing::Mail;

const char* kHeader =
    "From: Wile Coyote <coyote@desert.example.org>\r\n"
    "To: Road Runner <roadrunner@acme.example.com>\r\n"
    "Subject: I have a present for you\r\n"
    "Message-ID: <present.1@desert.example.org>\r\n"
    "\r\n";

struct VacationMail : Mail {
  explicit VacationMail(std::string header = kHeader) : Mail(std::move(header)) {
    input.envelope.from = "coyote@desert.example.org";
    input.envelope.to = "roadrunner+home@acme.example.com";
    input.now = 1183636800;  // Thu, 05 Jul 2007 12:00:00 +0000
  }
};

std::optional<VacationRequest> vacation_of(std::string_view script, const Mail& mail) {
  auto out = testing::run(script, mail);
  EXPECT_TRUE(out.errors.empty()) << (out.errors.empty() ? "" : out.errors[0]);
  for (const auto& a : out.actions)
    if (a.kind == Action::Kind::Vacation) return a.vacation;
  return std::nullopt;
}

TEST(SieveVacation, Rfc5230Example) {
  const char* script = R"(require "vacation";
if header :contains "subject" "cyrus" {
    vacation "I'm out -- send mail to cyrus-bugs";
} else {
    vacation "I'm out -- call me at +1 304 555 0123";
})";
  VacationMail mail;
  auto out = testing::run(script, mail);
  EXPECT_EQ(testing::describe(out), "vacation, implicit-keep");
  auto v = vacation_of(script, mail);
  ASSERT_TRUE(v);
  EXPECT_EQ(v->reason, "I'm out -- call me at +1 304 555 0123");
  EXPECT_EQ(v->subject, "Auto: I have a present for you");
  EXPECT_EQ(v->reply_to, "coyote@desert.example.org");
  EXPECT_EQ(v->seconds, 7 * 86400);
  EXPECT_FALSE(v->mime);
  EXPECT_EQ(v->from, "");
  EXPECT_EQ(v->handle.size(), 40u);
}

TEST(SieveVacation, Arguments) {
  VacationMail mail;
  auto v = vacation_of(R"(require "vacation";
vacation :days 23 :addresses ["tjs@example.edu", "ts4z@landru.example.edu"]
  :subject "Away" :from "Road Runner <rr@acme.example.com>" :handle "h1" :mime
  "Content-Type: text/plain\r\n\r\nI'm away until October 19.";)",
                       mail);
  ASSERT_TRUE(v);
  EXPECT_EQ(v->seconds, 23 * 86400);
  EXPECT_EQ(v->addresses, (std::vector<std::string>{"tjs@example.edu", "ts4z@landru.example.edu"}));
  EXPECT_EQ(v->subject, "Away");
  EXPECT_EQ(v->from, "Road Runner <rr@acme.example.com>");
  EXPECT_EQ(v->handle, "h1");
  EXPECT_TRUE(v->mime);

  auto s = vacation_of("require \"vacation-seconds\";\nvacation :seconds 1800 \"brb\";", mail);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->seconds, 1800);
}

TEST(SieveVacation, DefaultHandleDependsOnContent) {
  VacationMail mail;
  auto a = vacation_of("require \"vacation\";\nvacation \"one\";", mail);
  auto b = vacation_of("require \"vacation\";\nvacation \"one\";", mail);
  auto c = vacation_of("require \"vacation\";\nvacation \"two\";", mail);
  auto d = vacation_of("require \"vacation\";\nvacation :subject \"s\" \"one\";", mail);
  ASSERT_TRUE(a && b && c && d);
  EXPECT_EQ(a->handle, b->handle);
  EXPECT_NE(a->handle, c->handle);
  EXPECT_NE(a->handle, d->handle);
}

TEST(SieveVacation, DecodedSubjectAndDefault) {
  VacationMail encoded("To: roadrunner@acme.example.com\r\nSubject: =?utf-8?q?caf=C3=A9?=\r\n\r\n");
  auto v = vacation_of("require \"vacation\";\nvacation \"x\";", encoded);
  ASSERT_TRUE(v);
  EXPECT_EQ(v->subject, "Auto: caf\xC3\xA9");
  VacationMail none("To: roadrunner@acme.example.com\r\n\r\n");
  v = vacation_of("require \"vacation\";\nvacation \"x\";", none);
  ASSERT_TRUE(v);
  EXPECT_EQ(v->subject, "Automated reply");
}

TEST(SieveVacation, OnlyOnce) {
  VacationMail mail;
  auto out = testing::run("require \"vacation\";\nvacation \"a\";\nvacation \"b\";", mail);
  EXPECT_EQ(testing::describe(out), "implicit-keep !error");
  EXPECT_EQ(out.errors.at(0), "line 3: vacation used more than once");
}

// ---------------------------------------------------------------- eligibility

VacationRequest request() {
  VacationRequest v;
  v.reason = "away";
  return v;
}

TEST(SieveVacationEligibility, AnswersAPersonWritingToUs) {
  VacationMail mail;
  EXPECT_TRUE(vacation_may_answer(mail.input, request()));
}

TEST(SieveVacationEligibility, Senders) {
  for (const char* sender : {"", "MAILER-DAEMON@example.org", "mailer-daemon@x.org", "owner-list@example.org",
                             "list-request@example.org", "LISTSERV@example.org", "majordomo@example.org"}) {
    VacationMail mail;
    mail.input.envelope.from = sender;
    EXPECT_FALSE(vacation_may_answer(mail.input, request())) << sender;
  }
  // Not ourselves either.
  VacationMail self;
  self.input.envelope.from = "RoadRunner@acme.example.com";
  EXPECT_FALSE(vacation_may_answer(self.input, request()));
}

TEST(SieveVacationEligibility, RobotHeaders) {
  std::string base = "To: roadrunner@acme.example.com\r\n";
  for (const char* extra : {"Auto-Submitted: auto-replied\r\n", "Auto-Submitted: auto-generated; x=y\r\n",
                            "List-Id: <list.example.org>\r\n", "List-Unsubscribe: <mailto:x@y>\r\n",
                            "Precedence: bulk\r\n", "Precedence: JUNK\r\n", "Precedence: list\r\n"}) {
    VacationMail mail(base + extra + "\r\n");
    EXPECT_FALSE(vacation_may_answer(mail.input, request())) << extra;
  }
  for (const char* extra : {"Auto-Submitted: no\r\n", "Auto-Submitted: No ; comment\r\n", "Precedence: normal\r\n",
                            "X-List: not a list header\r\n"}) {
    VacationMail mail(base + extra + "\r\n");
    EXPECT_TRUE(vacation_may_answer(mail.input, request())) << extra;
  }
}

TEST(SieveVacationEligibility, MustBeAddressedToUs) {
  // Only Bcc'd or via a list alias: not in To/Cc.
  VacationMail other("To: someone@else.example\r\n\r\n");
  EXPECT_FALSE(vacation_may_answer(other.input, request()));
  // Envelope recipient's +detail is ignored; case is ignored.
  VacationMail upper("Cc: ROADRUNNER@ACME.EXAMPLE.COM\r\n\r\n");
  EXPECT_TRUE(vacation_may_answer(upper.input, request()));
  VacationMail resent("To: someone@else.example\r\nResent-To: roadrunner@acme.example.com\r\n\r\n");
  EXPECT_TRUE(vacation_may_answer(resent.input, request()));
  // :addresses and the user's own addresses count.
  VacationMail alias("To: Beep <beep@acme.example.com>\r\n\r\n");
  EXPECT_FALSE(vacation_may_answer(alias.input, request()));
  VacationRequest with_alias = request();
  with_alias.addresses = {"Beep@acme.example.com"};
  EXPECT_TRUE(vacation_may_answer(alias.input, with_alias));
  alias.input.own_addresses = {"beep@ACME.example.com"};
  EXPECT_TRUE(vacation_may_answer(alias.input, request()));
}

TEST(SieveVacationEligibility, EvaluateAppliesIt) {
  VacationMail list(std::string(kHeader).insert(0, "List-Id: <x.example.org>\r\n"));
  EXPECT_EQ(testing::actions("require \"vacation\";\nvacation \"away\";", list), "implicit-keep");
  VacationMail bounce;
  bounce.input.envelope.from = "";
  EXPECT_EQ(testing::actions("require \"vacation\";\nvacation \"away\";", bounce), "implicit-keep");
  VacationMail alias("To: beep@acme.example.com\r\n\r\n");
  EXPECT_EQ(testing::actions("require \"vacation\";\nvacation :addresses \"beep@acme.example.com\" \"away\";", alias),
            "vacation, implicit-keep");
}

// ---------------------------------------------------------------- compose

std::vector<std::string> lines(const std::string& message) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start < message.size()) {
    size_t end = message.find("\r\n", start);
    EXPECT_NE(end, std::string::npos) << "bare line end in:\n" << message;
    if (end == std::string::npos) break;
    out.push_back(message.substr(start, end - start));
    start = end + 2;
  }
  return out;
}

TEST(SieveVacationCompose, PlainMessage) {
  VacationMail mail;
  VacationRequest v = request();
  v.reason = "I'm away.\nBack soon.";
  v.subject = "Auto: I have a present for you";
  v.reply_to = "coyote@desert.example.org";
  v.handle = "h";
  std::string msg = compose_vacation(v, mail.input, "roadrunner@acme.example.com", "mail.acme.example.com");
  auto l = lines(msg);
  ASSERT_GE(l.size(), 14u) << msg;
  EXPECT_EQ(l[0], "From: roadrunner@acme.example.com");
  EXPECT_EQ(l[1], "To: <coyote@desert.example.org>");
  EXPECT_EQ(l[2], "Subject: Auto: I have a present for you");
  EXPECT_EQ(l[3], "Date: Thu, 05 Jul 2007 12:00:00 +0000");
  EXPECT_EQ(l[4].rfind("Message-ID: <", 0), 0u);
  EXPECT_NE(l[4].find("@mail.acme.example.com>"), std::string::npos);
  EXPECT_EQ(l[5], "In-Reply-To: <present.1@desert.example.org>");
  EXPECT_EQ(l[6], "References: <present.1@desert.example.org>");
  EXPECT_EQ(l[7], "Auto-Submitted: auto-replied");
  EXPECT_EQ(l[8], "MIME-Version: 1.0");
  EXPECT_EQ(l[9], "Content-Type: text/plain; charset=utf-8");
  EXPECT_EQ(l[10], "Content-Transfer-Encoding: 7bit");
  EXPECT_EQ(l[11], "");
  EXPECT_EQ(l[12], "I'm away.");
  EXPECT_EQ(l[13], "Back soon.");
  // Deterministic for the same input, different for another answer.
  EXPECT_EQ(msg, compose_vacation(v, mail.input, "roadrunner@acme.example.com", "mail.acme.example.com"));
  v.handle = "other";
  EXPECT_NE(lines(compose_vacation(v, mail.input, "roadrunner@acme.example.com", "mail.acme.example.com"))[4], l[4]);
}

TEST(SieveVacationCompose, FromFallsBackToRequest) {
  VacationMail mail;
  VacationRequest v = request();
  v.from = "Road Runner <rr@acme.example.com>";
  v.reply_to = "coyote@desert.example.org";
  auto l = lines(compose_vacation(v, mail.input, "", "d"));
  EXPECT_EQ(l.at(0), "From: Road Runner <rr@acme.example.com>");
}

TEST(SieveVacationCompose, EncodedSubjectAndFolding) {
  VacationMail mail(
      "To: roadrunner@acme.example.com\r\n"
      "Message-ID: <m2@x.example>\r\n"
      "References: <r1@x.example> <r2@x.example> <r3-long-identifier@some.long.domain.example> "
      "<r4-long-identifier@some.long.domain.example>\r\n\r\n");
  VacationRequest v = request();
  v.reply_to = "coyote@desert.example.org";
  v.subject = "Auto: " + std::string(30, 'x') + " caf\xC3\xA9 " + std::string(40, 'y');
  v.reason = "d\xC3\xA9j\xC3\xA0 vu\r\n";
  std::string msg = compose_vacation(v, mail.input, "rr@acme.example.com", "d");
  for (const auto& line : lines(msg)) EXPECT_LE(line.size(), 78u) << line;
  // The subject is encoded words on continuation lines.
  size_t subject = msg.find("Subject: =?utf-8?B?");
  ASSERT_NE(subject, std::string::npos) << msg;
  EXPECT_NE(msg.find("?=\r\n =?utf-8?B?", subject), std::string::npos) << msg;
  // References: the original's, then its Message-ID, folded.
  size_t refs = msg.find("References: <r1@x.example> <r2@x.example>");
  ASSERT_NE(refs, std::string::npos) << msg;
  size_t refs_end = msg.find("\r\nAuto-Submitted:", refs);
  std::string refs_field = msg.substr(refs, refs_end - refs);
  EXPECT_NE(refs_field.find("\r\n <r4-long-identifier@some.long.domain.example> <m2@x.example>"), std::string::npos)
      << refs_field;
  // Non-ASCII body: quoted-printable.
  EXPECT_NE(msg.find("Content-Transfer-Encoding: quoted-printable\r\n\r\nd=C3=A9j=C3=A0 vu\r\n"), std::string::npos)
      << msg;
}

TEST(SieveVacationCompose, MimeReason) {
  VacationMail mail;
  VacationRequest v = request();
  v.reply_to = "coyote@desert.example.org";
  v.mime = true;
  v.reason = "Content-Type: text/html\n\n<p>away</p>\n";
  std::string msg = compose_vacation(v, mail.input, "rr@acme.example.com", "d");
  EXPECT_NE(msg.find("MIME-Version: 1.0\r\nContent-Type: text/html\r\n\r\n<p>away</p>\r\n"), std::string::npos) << msg;
  EXPECT_EQ(msg.find("charset=utf-8"), std::string::npos);
}

TEST(SieveVacationCompose, WithoutOriginalMessageId) {
  VacationMail mail("To: roadrunner@acme.example.com\r\n\r\n");
  VacationRequest v = request();
  v.reply_to = "coyote@desert.example.org";
  std::string msg = compose_vacation(v, mail.input, "rr@acme.example.com", "d");
  EXPECT_EQ(msg.find("In-Reply-To:"), std::string::npos);
  EXPECT_EQ(msg.find("References:"), std::string::npos);
  EXPECT_NE(msg.find("Message-ID: <"), std::string::npos);
}

// Found by the sieve fuzz target: a reason with a NUL octet (a script's
// string may hold one) went out as "7bit", which cannot carry NUL.
TEST(SieveVacationCompose, NulInReasonIsQuotedPrintable) {
  VacationMail mail;
  VacationRequest v = request();
  v.reply_to = "coyote@desert.example.org";
  v.reason = std::string("I'm ou\0t\r\n", 10);
  std::string msg = compose_vacation(v, mail.input, "rr@acme.example.com", "d");
  EXPECT_EQ(msg.find('\0'), std::string::npos);
  EXPECT_NE(msg.find("Content-Transfer-Encoding: quoted-printable\r\n\r\nI'm ou=00t\r\n"), std::string::npos) << msg;
}

// Found by the sieve fuzz target: the original's Message-ID (anyone's
// header) with a bare CR went into In-Reply-To as it was, and the answer
// held a bare CR (read by some as a line break: a field of the sender's
// choosing). Such values are not copied.
TEST(SieveVacationCompose, OriginalIdWithControlCharactersIsNotCopied) {
  VacationMail mail(
      "To: roadrunner@acme.example.com\r\n"
      "Message-ID: <a@x.example>\rBcc: victim@example.org\r\n"
      "\r\n");
  VacationRequest v = request();
  v.reply_to = "coyote@desert.example.org";
  std::string msg = compose_vacation(v, mail.input, "rr@acme.example.com", "d");
  for (size_t i = 0; i < msg.size(); ++i)
    if (msg[i] == '\r') ASSERT_EQ(msg.substr(i, 2), "\r\n") << msg;
  EXPECT_EQ(msg.find("In-Reply-To:"), std::string::npos) << msg;
  EXPECT_EQ(msg.find("Bcc"), std::string::npos) << msg;

  // A good Message-ID with bad References: the id alone.
  VacationMail refs(
      "To: roadrunner@acme.example.com\r\n"
      "Message-ID: <a@x.example>\r\n"
      "References: <r@x.example>\rX: y\r\n"
      "\r\n");
  msg = compose_vacation(v, refs.input, "rr@acme.example.com", "d");
  EXPECT_NE(msg.find("In-Reply-To: <a@x.example>\r\nReferences: <a@x.example>\r\n"), std::string::npos) << msg;
}

// Found by the sieve fuzz target: a value with a run of spaces (a
// :subject, or the original's Message-ID) was folded between spaces, into
// lines of white space only, which some read as the end of the header.
TEST(SieveVacationCompose, FoldingNeverLeavesABlankLine) {
  VacationMail mail(
      "To: roadrunner@acme.example.com\r\n"
      "Message-ID: <a@x.example>" + std::string(200, ' ') + "<b@x.example>\r\n"
      "\r\n");
  VacationRequest v = request();
  v.reply_to = "coyote@desert.example.org";
  v.subject = "a" + std::string(100, ' ') + "b" + std::string(90, ' ') + "\tc";
  std::string msg = compose_vacation(v, mail.input, "rr@acme.example.com", "d");
  std::string header = msg.substr(0, msg.find("\r\n\r\n") + 2);
  for (const auto& line : lines(header)) EXPECT_NE(line.find_first_not_of(" \t"), std::string::npos) << msg;
  auto fields = mail::parse_header_fields(header);
  ASSERT_GE(fields.size(), 3u) << msg;
  EXPECT_EQ(fields[2].name, "Subject");
  EXPECT_EQ(mail::unfold_header_value(fields[2].raw_value), v.subject);
  EXPECT_NE(msg.find("\r\nAuto-Submitted: auto-replied\r\n"), std::string::npos) << msg;
}

// A display name with a line break passed as an address, and vacation
// :from wrote it into the From field as it was.
TEST(SieveVacation, FromWithLineBreakIsRefused) {
  EXPECT_NE(testing::compile_error("require \"vacation\";\n"
                                   "vacation :from \"x\nBcc: v@example.org <rr@acme.example.com>\" \"away\";"),
            "");
  EXPECT_NE(testing::compile_error("redirect \"x\r\n <a@example.org>\";"), "");
  // Made at run time: a run-time error, so the message is kept and no
  // answer goes out.
  VacationMail mail;
  auto out = testing::run("require [\"vacation\", \"variables\"];\n"
                          "set \"nl\" \"\n\";\n"
                          "vacation :from \"x${nl}Bcc: v@example.org <rr@acme.example.com>\" \"away\";",
                          mail);
  EXPECT_EQ(testing::describe(out), "implicit-keep !error");
  // A tab in the display name is white space, and fine.
  EXPECT_EQ(testing::compile_error("require \"vacation\";\nvacation :from \"Road\tRunner <rr@acme.example.com>\" \"away\";"),
            "");
}

}  // namespace
}  // namespace cyr::sieve
