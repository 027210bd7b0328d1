// evaluate() on the base language (RFC 5228): tests, actions, implicit
// keep and the action rules of 2.10, with the RFC's examples.
#include <gtest/gtest.h>

#include "tests/unit/sieve/sieve_test_util.h"

namespace cyr::sieve {
namespace {

using testing::actions;
using testing::Mail;

TEST(SieveEvaluate, EmptyScriptKeeps) {
  EXPECT_EQ(actions(""), "implicit-keep");
  EXPECT_EQ(actions("# only a comment\n"), "implicit-keep");
}

TEST(SieveEvaluate, KeepDiscardStop) {
  EXPECT_EQ(actions("keep;"), "keep");
  EXPECT_EQ(actions("discard;"), "discard");
  EXPECT_EQ(actions("stop; discard;"), "implicit-keep");
  EXPECT_EQ(actions("discard; stop; keep;"), "discard");
  // discard only cancels the implicit keep; an explicit keep still files.
  EXPECT_EQ(actions("keep; discard;"), "keep, discard");
}

TEST(SieveEvaluate, Rfc5228IfElsifElse) {
  // RFC 5228 3.1
  const char* script = R"(require "fileinto";
if header :contains "from" "coyote" {
   discard;
} elsif header :contains ["subject"] ["$$$"] {
   discard;
} else {
   fileinto "INBOX";
})";
  EXPECT_EQ(actions(script), "discard");
  Mail money("From: someone@example.com\r\nSubject: Get $$$ now\r\n\r\n");
  EXPECT_EQ(actions(script, money), "discard");
  Mail plain("From: someone@example.com\r\nSubject: hello\r\n\r\n");
  EXPECT_EQ(actions(script, plain), "fileinto:INBOX");
}

TEST(SieveEvaluate, Rfc5228Redirects) {
  const char* script = R"(if header :contains ["From"] ["coyote"] {
   redirect "acm@example.com";
} elsif header :contains "Subject" "$$$" {
   redirect "postmaster@example.com";
} else {
   redirect "field@example.com";
})";
  EXPECT_EQ(actions(script), "redirect:acm@example.com");
  Mail other("From: x@y.org\r\nSubject: hi\r\n\r\n");
  EXPECT_EQ(actions(script, other), "redirect:field@example.com");
}

TEST(SieveEvaluate, FileIntoCancelsImplicitKeep) {
  // RFC 5228 4.1
  EXPECT_EQ(actions("require \"fileinto\";\n"
                    "if header :contains [\"from\"] \"coyote\" { fileinto \"INBOX.harassment\"; }"),
            "fileinto:INBOX.harassment");
}

TEST(SieveEvaluate, AddressTest) {
  // RFC 5228 5.1
  Mail tim("From: Tim <tim@example.com>\r\nTo: a@b.c\r\n\r\n");
  EXPECT_EQ(actions("if address :is :all \"from\" \"tim@example.com\" { discard; }", tim), "discard");
  EXPECT_EQ(actions("if address :is :localpart \"from\" \"TIM\" { discard; }", tim), "discard");
  EXPECT_EQ(actions("if address :is :domain \"from\" \"example.com\" { discard; }", tim), "discard");
  EXPECT_EQ(actions("if address :is :domain \"from\" \"example\" { discard; }", tim), "implicit-keep");
  // The display name is not part of the address.
  EXPECT_EQ(actions("if address :contains \"from\" \"Tim <\" { discard; }", tim), "implicit-keep");
  EXPECT_EQ(actions("if header :contains \"from\" \"Tim <\" { discard; }", tim), "discard");
  // Every address of every named header is tried.
  Mail many("To: a@one.example, \"B\" <b@two.example>\r\nCc: team: c@three.example;\r\n\r\n");
  EXPECT_EQ(actions("if address :domain [\"to\", \"cc\"] \"three.example\" { discard; }", many), "discard");
  EXPECT_EQ(actions("if address :localpart \"to\" \"b\" { discard; }", many), "discard");
}

TEST(SieveEvaluate, AllofAnyofNot) {
  // RFC 5228 5.2, 5.3, 5.8
  EXPECT_EQ(actions("if allof (false, false) { discard; }"), "implicit-keep");
  EXPECT_EQ(actions("if allof (false, true) { discard; }"), "implicit-keep");
  EXPECT_EQ(actions("if allof (true, true) { discard; }"), "discard");
  EXPECT_EQ(actions("if anyof (false, false) { discard; }"), "implicit-keep");
  EXPECT_EQ(actions("if anyof (false, true) { discard; }"), "discard");
  EXPECT_EQ(actions("if not true { discard; }"), "implicit-keep");
  EXPECT_EQ(actions("if not false { discard; }"), "discard");
  EXPECT_EQ(actions("if not anyof (false, not true) { discard; }"), "discard");
}

TEST(SieveEvaluate, Envelope) {
  // RFC 5228 5.4
  Mail mail;
  mail.input.envelope.from = "tim@example.com";
  mail.input.envelope.to = "Bob+lists@Example.org";
  mail.input.envelope.auth = "tim";
  EXPECT_EQ(actions("require \"envelope\";\nif envelope :all :is \"from\" \"tim@example.com\" { discard; }", mail),
            "discard");
  EXPECT_EQ(actions("require \"envelope\";\nif envelope :domain :is \"to\" \"example.org\" { discard; }", mail),
            "discard");
  EXPECT_EQ(actions("require \"envelope\";\nif envelope :localpart :is \"to\" \"bob+lists\" { discard; }", mail),
            "discard");
  EXPECT_EQ(actions("require \"envelope\";\nif envelope \"auth\" \"tim\" { discard; }", mail), "discard");
  // The null reverse-path matches "" whatever the address part.
  mail.input.envelope.from = "";
  EXPECT_EQ(actions("require \"envelope\";\nif envelope :domain :is \"from\" \"\" { discard; }", mail), "discard");
  EXPECT_EQ(actions("require \"envelope\";\nif envelope :is \"from\" \"tim@example.com\" { discard; }", mail),
            "implicit-keep");
}

TEST(SieveEvaluate, Exists) {
  // RFC 5228 5.5: true only if every named header exists.
  EXPECT_EQ(actions("if exists [\"From\", \"Date\"] { discard; }"), "discard");
  EXPECT_EQ(actions("if exists [\"From\", \"X-Nope\"] { discard; }"), "implicit-keep");
  EXPECT_EQ(actions("if exists \"subject\" { discard; }"), "discard");
}

TEST(SieveEvaluate, Header) {
  // RFC 5228 5.7: the empty key matches an existing header only.
  Mail caffeine("X-Caffeine: C8H10N4O2\r\n\r\n");
  EXPECT_EQ(actions("if header :contains [\"X-Caffeine\"] [\"\"] { discard; }", caffeine), "discard");
  EXPECT_EQ(actions("if header :contains \"X-Caffeine\" \"\" { discard; }"), "implicit-keep");
  EXPECT_EQ(actions("if header :is \"x-caffeine\" \"c8h10n4o2\" { discard; }", caffeine), "discard");
  EXPECT_EQ(actions("if header :is :comparator \"i;octet\" \"x-caffeine\" \"c8h10n4o2\" { discard; }", caffeine),
            "implicit-keep");
  // Default match type :is, default comparator i;ascii-casemap.
  EXPECT_EQ(actions("if header \"subject\" \"I HAVE A PRESENT FOR YOU\" { discard; }"), "discard");
  EXPECT_EQ(actions("if header \"subject\" \"present\" { discard; }"), "implicit-keep");
}

TEST(SieveEvaluate, HeaderValuesAreUnfoldedAndDecoded) {
  Mail mail(
      "Subject: =?UTF-8?Q?caf=C3=A9?= and\r\n"
      " =?ISO-8859-1?B?cmVwb3J0?=\r\n"
      "X-Multi: one\r\nX-Multi: two\r\n\r\n");
  EXPECT_EQ(actions("if header :is \"Subject\" \"caf\xC3\xA9 and report\" { discard; }", mail), "discard");
  EXPECT_EQ(actions("if header :is \"X-Multi\" \"two\" { discard; }", mail), "discard");
}

TEST(SieveEvaluate, Size) {
  // RFC 5228 5.9: strictly over / under.
  Mail mail;
  mail.input.size = 1000;
  EXPECT_EQ(actions("if size :over 999 { discard; }", mail), "discard");
  EXPECT_EQ(actions("if size :over 1000 { discard; }", mail), "implicit-keep");
  EXPECT_EQ(actions("if size :under 1000 { discard; }", mail), "implicit-keep");
  EXPECT_EQ(actions("if size :under 1001 { discard; }", mail), "discard");
  mail.input.size = 600 * 1024;
  EXPECT_EQ(actions("if size :over 500K { discard; }", mail), "discard");
  EXPECT_EQ(actions("if size :over 1M { discard; }", mail), "implicit-keep");
}

TEST(SieveEvaluate, MatchTypesAndComparators) {
  Mail mail("Subject: Make Money Fast\r\n\r\n");
  EXPECT_EQ(actions("if header :contains \"subject\" \"money\" { discard; }", mail), "discard");
  EXPECT_EQ(actions("if header :contains :comparator \"i;octet\" \"subject\" \"money\" { discard; }", mail),
            "implicit-keep");
  EXPECT_EQ(actions("if header :matches \"subject\" \"make*fast\" { discard; }", mail), "discard");
  EXPECT_EQ(actions("if header :matches \"subject\" \"make?money*\" { discard; }", mail), "discard");
  EXPECT_EQ(actions("if header :matches \"subject\" \"money*\" { discard; }", mail), "implicit-keep");
  EXPECT_EQ(actions("if header :is :comparator \"i;ascii-casemap\" \"subject\" \"MAKE MONEY FAST\" { discard; }", mail),
            "discard");
}

TEST(SieveEvaluate, AsciiNumericComparator) {
  Mail mail("X-Spam-Score: 0012\r\nX-Word: none\r\n\r\n");
  const char* req = "require \"comparator-i;ascii-numeric\";\n";
  EXPECT_EQ(actions(std::string(req) + "if header :is :comparator \"i;ascii-numeric\" \"x-spam-score\" \"12\" "
                                       "{ discard; }",
                    mail),
            "discard");
  // Strings without leading digits are all equal (positive infinity).
  EXPECT_EQ(actions(std::string(req) + "if header :is :comparator \"i;ascii-numeric\" \"x-word\" \"abc\" "
                                       "{ discard; }",
                    mail),
            "discard");
  EXPECT_EQ(
      actions(std::string(req) + "if header :is :comparator \"i;ascii-numeric\" \"x-word\" \"5\" { discard; }", mail),
      "implicit-keep");
}

TEST(SieveEvaluate, RedirectRules) {
  // The same address once only (RFC 5228 2.10.3).
  EXPECT_EQ(actions("redirect \"a@example.com\"; redirect \"A@Example.com\"; redirect \"b@example.com\";"),
            "redirect:a@example.com, redirect:b@example.com");
  // Redirect with a display name redirects to the address.
  EXPECT_EQ(actions("redirect \"Bob <bob@example.com>\";"), "redirect:bob@example.com");
}

TEST(SieveEvaluate, DuplicateDeliveriesCollapse) {
  EXPECT_EQ(actions("require \"fileinto\"; fileinto \"a\"; fileinto \"b\"; fileinto \"a\";"), "fileinto:a, fileinto:b");
  EXPECT_EQ(actions("keep; keep;"), "keep");
  EXPECT_EQ(actions("require \"fileinto\"; keep; fileinto \"INBOX\";"), "keep");
  EXPECT_EQ(actions("require \"fileinto\"; fileinto \"inbox\"; keep;"), "fileinto:inbox");
  // fileinto INBOX :copy and the implicit keep are one delivery.
  EXPECT_EQ(actions("require [\"fileinto\", \"copy\"]; fileinto :copy \"INBOX\";"), "fileinto:INBOX");
}

TEST(SieveEvaluate, ActionLimits) {
  Limits limits;
  limits.max_actions = 3;
  // Repeats merge and do not count.
  EXPECT_EQ(actions("keep; keep; keep; keep; keep; discard; discard;", Mail(), limits), "keep, discard");
  EXPECT_EQ(actions("require \"fileinto\"; fileinto \"a\"; fileinto \"b\"; fileinto \"c\";", Mail(), limits),
            "fileinto:a, fileinto:b, fileinto:c");
  auto out = testing::run("require \"fileinto\";\nfileinto \"a\"; fileinto \"b\";\nfileinto \"c\"; fileinto \"d\";",
                          Mail(), limits);
  EXPECT_EQ(testing::describe(out), "implicit-keep !error");
  ASSERT_EQ(out.errors.size(), 1u);
  EXPECT_EQ(out.errors[0], "line 3: more than 3 actions");

  Limits redirects;
  redirects.max_redirects = 2;
  auto r = testing::run("redirect \"a@x.org\"; redirect \"b@x.org\"; redirect \"c@x.org\";", Mail(), redirects);
  EXPECT_EQ(testing::describe(r), "implicit-keep !error");
  EXPECT_EQ(r.errors.at(0), "line 1: more than 2 redirects");
}

TEST(SieveEvaluate, RuntimeErrorKeepsOnlyImplicitly) {
  // A redirect address built at run time that is not an address.
  auto out = testing::run("require \"variables\";\nset \"to\" \"nobody\";\ndiscard;\nredirect \"${to}\";", Mail());
  EXPECT_EQ(testing::describe(out), "implicit-keep !error");
  EXPECT_EQ(out.errors.at(0), "line 4: redirect: \"nobody\" is not a valid address");
}

TEST(SieveEvaluate, MultiLineStringArgument) {
  auto out = testing::run("require \"reject\";\nreject text:\nGo away.\n..and stay away\n.\n;", Mail());
  ASSERT_EQ(out.actions.size(), 1u);
  EXPECT_EQ(out.actions[0].kind, Action::Kind::Reject);
  EXPECT_EQ(out.actions[0].reason, "Go away.\n.and stay away\n");
}

TEST(SieveEvaluate, ScriptIsReusableAcrossMessages) {
  auto script = testing::compile_ok("require \"fileinto\";\nif header :contains \"subject\" \"x\" { fileinto \"x\"; }");
  ASSERT_TRUE(script);
  Mail with("Subject: x\r\n\r\n");
  Mail without("Subject: y\r\n\r\n");
  EXPECT_EQ(testing::describe(evaluate(*script, with.input)), "fileinto:x");
  EXPECT_EQ(testing::describe(evaluate(*script, without.input)), "implicit-keep");
  EXPECT_EQ(testing::describe(evaluate(*script, with.input)), "fileinto:x");
}

}  // namespace
}  // namespace cyr::sieve
