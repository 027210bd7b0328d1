// The extensions: copy, reject/ereject, imap4flags, subaddress,
// relational, variables, body, mailbox, date.
#include <gtest/gtest.h>

#include "tests/unit/sieve/sieve_test_util.h"

namespace cyr::sieve {
namespace {

using testing::actions;
using testing::Mail;

// ---------------------------------------------------------------- copy

TEST(SieveCopy, CopyKeepsImplicitKeep) {
  EXPECT_EQ(actions("require [\"fileinto\", \"copy\"];\nfileinto :copy \"archive\";"),
            "fileinto:archive, implicit-keep");
  EXPECT_EQ(actions("require \"copy\";\nredirect :copy \"b@example.com\";"), "redirect:b@example.com, implicit-keep");
  EXPECT_EQ(actions("require \"copy\";\nredirect :copy \"b@example.com\"; discard;"),
            "redirect:b@example.com, discard");
}

// ---------------------------------------------------------------- reject

TEST(SieveReject, RejectAndEreject) {
  EXPECT_EQ(actions("require \"reject\";\nif size :over 1 { reject \"too big\"; }"), "reject:too big");
  EXPECT_EQ(actions("require \"ereject\";\n"
                    "if address \"from\" \"coyote@desert.example.org\" { ereject \"I no longer accept mail\"; }"),
            "ereject:I no longer accept mail");
  // reject and discard may go together (nothing is delivered either way).
  EXPECT_EQ(actions("require \"reject\";\nreject \"no\"; discard;"), "reject:no, discard");
}

TEST(SieveReject, ConflictsAreRuntimeErrors) {
  for (const char* script : {
           "require \"reject\";\nkeep;\nreject \"no\";",
           "require \"reject\";\nreject \"no\";\nkeep;",
           "require [\"reject\", \"fileinto\"];\nfileinto \"x\";\nreject \"no\";",
           "require [\"reject\", \"fileinto\"];\nreject \"no\";\nfileinto \"x\";",
           "require [\"reject\", \"copy\"];\nredirect :copy \"a@b.org\";\nreject \"no\";",
           "require [\"reject\", \"ereject\"];\nreject \"no\";\nereject \"no\";",
           "require [\"reject\", \"vacation\"];\nreject \"no\";\nvacation \"away\";",
       }) {
    auto out = testing::run(script, Mail());
    EXPECT_EQ(testing::describe(out), "implicit-keep !error") << script;
    ASSERT_EQ(out.errors.size(), 1u) << script;
    EXPECT_EQ(out.errors[0], "line 3: reject cannot be combined with keep, fileinto, redirect or vacation") << script;
  }
}

// ---------------------------------------------------------------- imap4flags

TEST(SieveFlags, InternalVariableAppliesToKeepAndFileinto) {
  EXPECT_EQ(actions("require [\"imap4flags\", \"fileinto\"];\n"
                    "setflag \"\\\\Seen\";\naddflag [\"$Label1\", \"\\\\flagged\"];\n"
                    "fileinto \"a\";\nremoveflag \"\\\\SEEN\";\nkeep;"),
            "fileinto:a[\\Seen $Label1 \\Flagged], keep[$Label1 \\Flagged]");
  // The implicit keep uses the final value.
  EXPECT_EQ(actions("require \"imap4flags\";\naddflag \"one two\";\naddflag \"two three\";"),
            "implicit-keep[one two three]");
  EXPECT_EQ(actions("require \"imap4flags\";\nsetflag \"a\";\nsetflag \"b\";"), "implicit-keep[b]");
  // Invalid flags are dropped.
  EXPECT_EQ(actions("require \"imap4flags\";\nsetflag \"\\\\Bogus ok (bad\";"), "implicit-keep[ok]");
}

TEST(SieveFlags, FlagsTagOverridesInternalVariable) {
  EXPECT_EQ(actions("require [\"imap4flags\", \"fileinto\"];\nsetflag \"\\\\Seen\";\n"
                    "fileinto :flags [\"\\\\Deleted\", \"$Junk\"] \"Junk\";\nkeep :flags \"\";"),
            "fileinto:Junk[\\Deleted $Junk], keep");
}

TEST(SieveFlags, HasFlag) {
  const char* req =
      "require [\"imap4flags\", \"fileinto\", \"variables\", \"relational\", "
      "\"comparator-i;ascii-numeric\"];\n";
  EXPECT_EQ(actions(std::string(req) + "addflag \"\\\\Seen $Work\";\nif hasflag \"$work\" { fileinto \"w\"; }"),
            "fileinto:w[\\Seen $Work]");
  EXPECT_EQ(actions(std::string(req) + "addflag \"\\\\Seen $Work\";\n"
                                       "if hasflag :contains \"ork\" { fileinto \"w\"; }"),
            "fileinto:w[\\Seen $Work]");
  EXPECT_EQ(actions(std::string(req) + "addflag \"\\\\Seen $Work\";\n"
                                       "if hasflag :count \"eq\" :comparator \"i;ascii-numeric\" \"2\" "
                                       "{ fileinto \"two\"; }"),
            "fileinto:two[\\Seen $Work]");
  // Flags in a named variable leave the internal one alone.
  EXPECT_EQ(actions(std::string(req) + "setflag \"mine\" \"$Private\";\n"
                                       "if hasflag \"mine\" \"$private\" { fileinto \"p\"; }\n"
                                       "if hasflag \"$private\" { fileinto \"never\"; }"),
            "fileinto:p");
  EXPECT_EQ(actions(std::string(req) + "setflag \"mine\" \"$A\";\naddflag \"mine\" \"$B\";\n"
                                       "removeflag \"mine\" \"$a\";\n"
                                       "if string :is \"${mine}\" \"$B\" { fileinto \"b\"; }"),
            "fileinto:b");
}

// ---------------------------------------------------------------- subaddress

TEST(SieveSubaddress, UserAndDetail) {
  // RFC 5233 example.
  const char* script = R"(require ["envelope", "subaddress", "fileinto"];
if envelope :user "to" "postmaster" { fileinto "inbox.postmaster"; stop; }
if envelope :detail :is "to" "mta-filters" { fileinto "inbox.ietf-mta-filters"; stop; }
)";
  Mail postmaster;
  postmaster.input.envelope.to = "postmaster+anything@example.org";
  EXPECT_EQ(actions(script, postmaster), "fileinto:inbox.postmaster");
  Mail filters;
  filters.input.envelope.to = "ken+mta-filters@example.org";
  EXPECT_EQ(actions(script, filters), "fileinto:inbox.ietf-mta-filters");
  Mail plain;
  plain.input.envelope.to = "ken@example.org";
  EXPECT_EQ(actions(script, plain), "implicit-keep");

  Mail header("To: ken+sieve@example.org\r\n\r\n");
  EXPECT_EQ(actions("require \"subaddress\";\nif address :detail \"to\" \"sieve\" { discard; }", header), "discard");
  EXPECT_EQ(actions("require \"subaddress\";\nif address :user \"to\" \"ken\" { discard; }", header), "discard");
  // "ken+@..." has an empty detail; "ken@..." has none at all.
  Mail empty_detail("To: ken+@example.org\r\n\r\n");
  EXPECT_EQ(actions("require \"subaddress\";\nif address :detail \"to\" \"\" { discard; }", empty_detail), "discard");
  Mail no_detail("To: ken@example.org\r\n\r\n");
  EXPECT_EQ(actions("require \"subaddress\";\nif address :detail :matches \"to\" \"*\" { discard; }", no_detail),
            "implicit-keep");
}

// ---------------------------------------------------------------- relational

TEST(SieveRelational, ValueAndCount) {
  // RFC 5231 examples.
  Mail mail(
      "From: \"Jane\" <jane@example.com>\r\n"
      "To: \"Sal\" <sal@example.com>, \"Jim\" <jim@example.com>\r\n"
      "Cc: \"Frank\" <frank@example.com>, \"Mike\" <mike@example.com>\r\n"
      "X-Priority: 4\r\n\r\n");
  const char* req = "require [\"relational\", \"comparator-i;ascii-numeric\", \"fileinto\"];\n";
  auto with = [&](const char* test) {
    return actions(std::string(req) + "if " + test + " { fileinto \"yes\"; }", mail);
  };
  EXPECT_EQ(with("address :count \"ge\" :comparator \"i;ascii-numeric\" [\"to\", \"cc\"] [\"3\"]"), "fileinto:yes");
  EXPECT_EQ(with("address :count \"gt\" :comparator \"i;ascii-numeric\" [\"to\", \"cc\"] [\"4\"]"), "implicit-keep");
  EXPECT_EQ(with("header :count \"eq\" :comparator \"i;ascii-numeric\" \"x-missing\" \"0\""), "fileinto:yes");
  EXPECT_EQ(with("header :value \"gt\" :comparator \"i;ascii-numeric\" [\"x-priority\"] [\"3\"]"), "fileinto:yes");
  EXPECT_EQ(with("header :value \"lt\" :comparator \"i;ascii-numeric\" [\"x-priority\"] [\"3\"]"), "implicit-keep");
  EXPECT_EQ(with("header :value \"ne\" :comparator \"i;ascii-numeric\" [\"x-priority\"] [\"4\"]"), "implicit-keep");
  // :value with the default comparator orders strings, case-insensitively.
  EXPECT_EQ(with("address :value \"lt\" :localpart \"from\" \"JOHN\""), "fileinto:yes");
  EXPECT_EQ(with("address :value \"gt\" :localpart \"from\" \"JOHN\""), "implicit-keep");
  // A missing header matches nothing, even with "ne".
  EXPECT_EQ(with("header :value \"ne\" \"x-missing\" \"a\""), "implicit-keep");
}

// ---------------------------------------------------------------- variables

TEST(SieveVariables, SetAndInterpolate) {
  // RFC 5229 4.1, with the modifier examples.
  auto reason = [](std::string_view sets) {
    auto out = testing::run(
        std::string("require [\"variables\", \"reject\"];\n") + std::string(sets) + "\nreject \"${b}\";", Mail());
    return out.actions.empty() ? std::string("?") : out.actions[0].reason;
  };
  EXPECT_EQ(reason("set \"a\" \"juMBlEd lETteRS\"; set \"b\" \"${a}\";"), "juMBlEd lETteRS");
  EXPECT_EQ(reason("set \"a\" \"juMBlEd lETteRS\"; set :length \"b\" \"${a}\";"), "15");
  EXPECT_EQ(reason("set \"a\" \"juMBlEd lETteRS\"; set :lower \"b\" \"${a}\";"), "jumbled letters");
  EXPECT_EQ(reason("set \"a\" \"juMBlEd lETteRS\"; set :upperfirst \"b\" \"${a}\";"), "JuMBlEd lETteRS");
  EXPECT_EQ(reason("set \"a\" \"juMBlEd lETteRS\"; set :upperfirst :lower \"b\" \"${a}\";"), "Jumbled letters");
  EXPECT_EQ(reason("set :quotewildcard \"b\" \"Rock*\";"), "Rock\\*");
  EXPECT_EQ(reason("set :lowerfirst :upper \"b\" \"abc\";"), "aBC");
  EXPECT_EQ(reason("set :length \"b\" \"\xC3\xA9t\xC3\xA9\";"), "3");
  // Names are case-insensitive; unknown variables are empty; malformed
  // references stay as written.
  EXPECT_EQ(reason("set \"HONORIFIC\" \"Mr\"; set \"b\" \"${honorific} ${Unset}. ${ 1} ${x\";"), "Mr . ${ 1} ${x");
  // Strings are expanded once: a value holding "${a}" is not expanded again.
  EXPECT_EQ(reason("set \"a\" \"x\"; set \"c\" \"$\"; set \"b\" \"${c}{a} ${a}\";"), "${a} x");
}

TEST(SieveVariables, MultiLineValue) {
  auto out = testing::run(R"(require ["variables", "reject"];
set "honorific"  "Mr";
set "first_name" "Wile";
set "last_name"  "Coyote";
set "text" text:
Dear ${HONORIFIC} ${last_name},
I'm out, please leave a message after the meep.
.
;
reject "${text}";)",
                          Mail());
  ASSERT_EQ(out.actions.size(), 1u);
  EXPECT_EQ(out.actions[0].reason, "Dear Mr Coyote,\nI'm out, please leave a message after the meep.\n");
}

TEST(SieveVariables, MatchVariables) {
  // RFC 5229 3.2 examples.
  const char* script = R"(require ["fileinto", "variables"];
if header :matches "List-ID" "*<*@*" {
    fileinto "INBOX.lists.${2}"; stop;
}
if header :matches "Subject" "[*] *" {
    fileinto "INBOX.lists.${1}"; stop;
}
if address :matches ["To", "Cc"] ["coyote@**.com", "wile@**.com"] {
    fileinto "INBOX.business.${2}.[${1}].${0}"; stop;
} else {
    fileinto "none.[${0}${1}]";
}
)";
  Mail list("List-ID: Sieve <sieve.example.org>\r\nSubject: x\r\n\r\n");
  // No "@": the first test fails, and so do the others.
  EXPECT_EQ(actions(script, list), "fileinto:none.[]");
  Mail list2("List-ID: The list <sieve@example.org>\r\n\r\n");
  EXPECT_EQ(actions(script, list2), "fileinto:INBOX.lists.sieve");
  Mail subject("Subject: [acme-users] [fwd] version 1.0 is out\r\n\r\n");
  EXPECT_EQ(actions(script, subject), "fileinto:INBOX.lists.acme-users");
  Mail business("To: coyote@ACME.Example.COM\r\n\r\n");
  EXPECT_EQ(actions(script, business), "fileinto:INBOX.business.ACME.Example.[].coyote@ACME.Example.COM");
  Mail none("To: road@runner.org\r\n\r\n");
  EXPECT_EQ(actions(script, none), "fileinto:none.[]");
}

TEST(SieveVariables, FailedMatchKeepsPreviousMatchVariables) {
  Mail mail("Subject: alpha beta\r\nX-Other: gamma\r\n\r\n");
  EXPECT_EQ(actions("require [\"fileinto\", \"variables\"];\n"
                    "if header :matches \"subject\" \"* *\" { }\n"
                    "if header :matches \"x-other\" \"nothing*\" { }\n"
                    "fileinto \"${2}-${1}-${9}-${10}\";",
                    mail),
            "fileinto:beta-alpha--");
}

TEST(SieveVariables, StringTest) {
  const char* req = "require [\"variables\", \"fileinto\", \"relational\", \"comparator-i;ascii-numeric\"];\n";
  EXPECT_EQ(actions(std::string(req) + "set \"x\" \"hello\";\nif string :is \"${x}\" \"HELLO\" { fileinto \"y\"; }"),
            "fileinto:y");
  EXPECT_EQ(
      actions(std::string(req) + "set \"x\" \"\";\n"
                                 "if string :count \"eq\" :comparator \"i;ascii-numeric\" [\"${x}\", \"a\"] \"1\" "
                                 "{ fileinto \"one\"; }"),
      "fileinto:one");
  EXPECT_EQ(actions(std::string(req) + "if string :matches \"a-b\" \"*-*\" { fileinto \"${2}${1}\"; }"), "fileinto:ba");
}

TEST(SieveVariables, ValueLength) {
  Limits limits;
  limits.max_variable_bytes = 4;
  EXPECT_EQ(
      actions("require [\"variables\", \"fileinto\"];\nset \"x\" \"abcdefgh\";\nfileinto \"${x}\";", Mail(), limits),
      "fileinto:abcd");
}

// ---------------------------------------------------------------- body

const char* kMultipartHeader =
    "From: a@example.com\r\n"
    "Subject: parts\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: multipart/mixed; boundary=\"b1\"\r\n"
    "\r\n";
const char* kMultipartBody =
    "preamble\r\n"
    "--b1\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "Content-Transfer-Encoding: quoted-printable\r\n"
    "\r\n"
    "The missile launch is caf=C3=A9.\r\n"
    "--b1\r\n"
    "Content-Type: text/html\r\n"
    "\r\n"
    "<p>HTML secret</p>\r\n"
    "--b1\r\n"
    "Content-Type: application/octet-stream\r\n"
    "Content-Transfer-Encoding: base64\r\n"
    "\r\n"
    "YmluYXJ5IHBheWxvYWQ=\r\n"
    "--b1--\r\n";

TEST(SieveBody, TextContentAndRaw) {
  Mail mail(kMultipartHeader, kMultipartBody);
  auto test = [&](const std::string& t) {
    return actions("require [\"body\", \"fileinto\"];\nif " + t + " { fileinto \"hit\"; }", mail);
  };
  // Default :text: decoded text parts.
  EXPECT_EQ(test("body :contains \"caf\xC3\xA9\""), "fileinto:hit");
  EXPECT_EQ(test("body :contains \"html secret\""), "fileinto:hit");
  EXPECT_EQ(test("body :contains \"binary payload\""), "implicit-keep");
  EXPECT_EQ(test("body :text :contains \"MISSILE\""), "fileinto:hit");
  // :content picks parts by type; each part's content is decoded.
  EXPECT_EQ(test("body :content \"text/html\" :contains \"missile\""), "implicit-keep");
  EXPECT_EQ(test("body :content \"text/html\" :contains \"secret\""), "fileinto:hit");
  EXPECT_EQ(test("body :content \"application\" :contains \"binary payload\""), "fileinto:hit");
  EXPECT_EQ(test("body :content \"text\" :contains \"binary payload\""), "implicit-keep");
  // :raw: the undecoded body.
  EXPECT_EQ(test("body :raw :contains \"caf=C3=A9\""), "fileinto:hit");
  EXPECT_EQ(test("body :raw :contains \"YmluYXJ5\""), "fileinto:hit");
  EXPECT_EQ(test("body :raw :contains \"caf\xC3\xA9\""), "implicit-keep");
  // :matches applies to each part as a whole.
  EXPECT_EQ(test("body :content \"text/html\" :matches \"<p>*</p>*\""), "fileinto:hit");
}

TEST(SieveBody, FalseWithoutMessage) {
  Mail mail;
  mail.input.whole_message = nullptr;
  EXPECT_EQ(actions("require \"body\";\nif body :contains \"\" { discard; }", mail), "implicit-keep");
  mail.input.whole_message = []() -> std::optional<std::string_view> { return std::nullopt; };
  EXPECT_EQ(actions("require \"body\";\nif body :contains \"\" { discard; }", mail), "implicit-keep");
  Mail simple;
  EXPECT_EQ(actions("require \"body\";\nif body :contains \"anvil\" { discard; }", simple), "discard");
}

// ---------------------------------------------------------------- mailbox

TEST(SieveMailbox, CreateAndExists) {
  Mail mail;
  mail.input.mailbox_exists = [](const std::string& name) { return name == "Partners" || name == "INBOX"; };
  EXPECT_EQ(actions("require [\"mailbox\", \"fileinto\"];\n"
                    "if mailboxexists \"Partners\" { fileinto \"Partners\"; }",
                    mail),
            "fileinto:Partners");
  EXPECT_EQ(actions("require [\"mailbox\", \"fileinto\"];\n"
                    "if mailboxexists [\"Partners\", \"Nope\"] { fileinto \"Partners\"; }",
                    mail),
            "implicit-keep");
  EXPECT_EQ(actions("require [\"mailbox\", \"fileinto\"];\nfileinto :create \"New\";", mail), "fileinto:New+create");
  // No callback: every mailbox exists.
  EXPECT_EQ(actions("require [\"mailbox\", \"fileinto\"];\nif mailboxexists \"Any\" { discard; }"), "discard");
}

// ---------------------------------------------------------------- date

TEST(SieveDate, DateParts) {
  // Tue, 1 Apr 1997 09:06:31 -0800
  const char* req = "require [\"date\", \"relational\", \"fileinto\"];\n";
  auto test = [&](const std::string& t) { return actions(std::string(req) + "if " + t + " { fileinto \"hit\"; }"); };
  EXPECT_EQ(test("date :originalzone \"date\" \"date\" \"1997-04-01\""), "fileinto:hit");
  EXPECT_EQ(test("date :originalzone \"date\" \"time\" \"09:06:31\""), "fileinto:hit");
  EXPECT_EQ(test("date :originalzone \"date\" \"zone\" \"-0800\""), "fileinto:hit");
  EXPECT_EQ(test("date :originalzone \"date\" \"weekday\" \"2\""), "fileinto:hit");
  EXPECT_EQ(test("date :originalzone \"date\" \"iso8601\" \"1997-04-01T09:06:31-08:00\""), "fileinto:hit");
  EXPECT_EQ(test("date :originalzone \"date\" \"std11\" \"Tue, 01 Apr 1997 09:06:31 -0800\""), "fileinto:hit");
  // Without a zone: the caller's local zone (UTC here).
  EXPECT_EQ(test("date \"date\" \"hour\" \"17\""), "fileinto:hit");
  EXPECT_EQ(test("date :zone \"+0900\" \"date\" \"date\" \"1997-04-02\""), "fileinto:hit");
  EXPECT_EQ(test("date :zone \"+0900\" \"date\" \"julian\" \"50540\""), "fileinto:hit");
  EXPECT_EQ(test("date :value \"ge\" :originalzone \"date\" \"hour\" \"09\""), "fileinto:hit");
  EXPECT_EQ(test("date :value \"lt\" :originalzone \"date\" \"hour\" \"09\""), "implicit-keep");
  EXPECT_EQ(test("date \"x-no-such-header\" \"year\" \"1997\""), "implicit-keep");
}

TEST(SieveDate, ReceivedDateFollowsLastSemicolon) {
  Mail mail("Received: from x by y; Wed, 2 Apr 1997 10:00:00 +0000\r\n\r\n");
  EXPECT_EQ(actions("require \"date\";\nif date \"received\" \"date\" \"1997-04-02\" { discard; }", mail), "discard");
}

TEST(SieveDate, CurrentDate) {
  // RFC 5260 example: away in the first week of July 2007.
  const char* script = R"(require ["date", "relational", "fileinto"];
if allof(currentdate :value "ge" "date" "2007-06-30",
         currentdate :value "le" "date" "2007-07-07")
{ fileinto "away"; })";
  Mail mail;
  mail.input.now = 1183636800;  // 2007-07-05 12:00:00 UTC
  EXPECT_EQ(actions(script, mail), "fileinto:away");
  mail.input.now = 1184241600;  // 2007-07-12
  EXPECT_EQ(actions(script, mail), "implicit-keep");
  mail.input.now = 1183636800;
  mail.input.local_zone_minutes = 14 * 60;  // already the 6th there
  EXPECT_EQ(actions("require \"date\";\nif currentdate \"day\" \"06\" { discard; }", mail), "discard");
  EXPECT_EQ(actions("require \"date\";\nif currentdate :zone \"-0100\" \"hour\" \"11\" { discard; }", mail), "discard");
}

}  // namespace
}  // namespace cyr::sieve
