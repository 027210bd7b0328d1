// The editheader extension (RFC 5293): addheader and deleteheader.
#include <gtest/gtest.h>

#include "tests/unit/sieve/sieve_test_util.h"

namespace cyr::sieve {
namespace {

using testing::compile_error;
using testing::describe;
using testing::Mail;

const char* kReq = "require [\"editheader\", \"fileinto\", \"variables\", \"index\", \"regex\"];\n";

const char* kHeader =
    "Received: from a.example by b.example; Tue, 1 Apr 1997 09:10:00 -0800\r\n"
    "From: coyote@desert.example.org\r\n"
    "X-Spam: yes\r\n"
    "Subject: I have a present for you\r\n"
    "X-Spam: maybe\r\n"
    "X-Spam:\r\n"
    " =?utf-8?q?caf=C3=A9?=\r\n"
    "Auto-Submitted: auto-generated\r\n"
    "\r\n";

Outcome run(std::string_view body, const Limits& limits = {}, const char* header = kHeader) {
  Mail mail(header);
  return testing::run(std::string(kReq) + std::string(body), mail, limits);
}

std::string edited(std::string_view body, const Limits& limits = {}) {
  auto out = run(body, limits);
  if (!out.errors.empty()) return "error: " + out.errors[0];
  return out.edited_header.value_or("(unchanged)");
}

TEST(SieveEditheader, Syntax) {
  EXPECT_EQ(compile_error("addheader \"X-A\" \"b\";"), "line 1: addheader needs require \"editheader\"");
  EXPECT_EQ(compile_error("require \"editheader\";\naddheader :last \"X-A\" \"b\";\ndeleteheader \"X-A\";\n"
                          "deleteheader :index 1 :last :comparator \"i;octet\" :contains \"X-A\" [\"a\", \"b\"];"),
            "");
  EXPECT_EQ(compile_error("require \"editheader\";\naddheader \"X A\" \"b\";"),
            "line 2: \"X A\" is not a valid header name");
  EXPECT_EQ(compile_error("require \"editheader\";\ndeleteheader \"X:A\";"), "line 2: \"X:A\" is not a valid header name");
  EXPECT_EQ(compile_error("require \"editheader\";\naddheader \"X-A\";"), "line 2: addheader expects 2 arguments, got 1");
  EXPECT_EQ(compile_error("require \"editheader\";\ndeleteheader;"), "line 2: deleteheader expects 2 arguments, got 0");
  EXPECT_EQ(compile_error("require \"editheader\";\ndeleteheader :last \"X-A\";"),
            "line 2: deleteheader: :last needs :index");
  EXPECT_EQ(compile_error("require \"editheader\";\ndeleteheader :index 0 \"X-A\";"),
            "line 2: deleteheader: :index counts from 1");
  // RFC 5293 6: Received and Auto-Submitted cannot be added or deleted.
  EXPECT_EQ(compile_error("require \"editheader\";\ndeleteheader \"received\";"),
            "line 2: deleteheader: \"received\" cannot be changed");
  EXPECT_EQ(compile_error("require \"editheader\";\naddheader \"Auto-Submitted\" \"no\";"),
            "line 2: addheader: \"Auto-Submitted\" cannot be changed");
  // Subject is always allowed.
  EXPECT_EQ(compile_error("require \"editheader\";\ndeleteheader \"Subject\";\naddheader \"Subject\" \"new\";"), "");
}

TEST(SieveEditheader, AddFirstOrLast) {
  EXPECT_EQ(edited("addheader \"X-Sieve\" \"filtered\";"), std::string("X-Sieve: filtered\r\n") + kHeader);
  std::string expected = kHeader;
  expected.insert(expected.size() - 2, "X-Sieve: last\r\n");
  EXPECT_EQ(edited("addheader :last \"X-Sieve\" \"last\";"), expected);
  auto out = run("addheader \"X-A\" \"1\";\naddheader \"X-B\" \"2\";\naddheader :last \"X-C\" \"3\";");
  ASSERT_TRUE(out.edited_header);
  EXPECT_EQ(out.edited_header->rfind("X-B: 2\r\nX-A: 1\r\nReceived:", 0), 0u);
  EXPECT_TRUE(out.edited_header->ends_with("auto-generated\r\nX-C: 3\r\n\r\n"));
  EXPECT_EQ(describe(out), "implicit-keep");
}

TEST(SieveEditheader, ValuesAreEncodedAndFolded) {
  EXPECT_EQ(edited("addheader \"X-Note\" \"caf\xc3\xa9\";").substr(0, 35), "X-Note: =?utf-8?B?Y2Fmw6k=?=\r\nRecei");
  // Line breaks in a value are white space; the field is folded to 78.
  std::string long_value;
  for (int i = 0; i < 30; ++i) long_value += "word" + std::to_string(i) + " ";
  std::string header = edited("addheader \"X-Long\" \"" + long_value + "\";");
  std::string field = header.substr(0, header.find("\r\nReceived:") + 2);
  size_t line_start = 0;
  int lines = 0;
  for (size_t i = field.find("\r\n"); i != std::string::npos; i = field.find("\r\n", i + 2)) {
    EXPECT_LE(i - line_start, 78u);
    if (line_start > 0) {
      EXPECT_EQ(field[line_start], ' ');
    }
    line_start = i + 2;
    ++lines;
  }
  EXPECT_GT(lines, 1);
  EXPECT_EQ(edited("addheader \"X-Two\" \"a\nb\";").substr(0, 14), "X-Two: a b\r\nRe");
  // A control character cannot go into the header as it is.
  EXPECT_EQ(edited("require \"encoded-character\";\naddheader \"X-C\" \"a${hex:01}b\";").substr(0, 27),
            "X-C: =?utf-8?B?YQFi?=\r\nRece");
}

TEST(SieveEditheader, LaterTestsSeeTheEditedHeader) {
  auto out = run("addheader \"X-Added\" \"yes\";\n"
                 "if header :is \"x-added\" \"yes\" { fileinto \"seen-added\"; }\n"
                 "deleteheader :index 1 \"x-spam\";\n"
                 "if header :index 1 \"x-spam\" \"maybe\" { fileinto \"second-is-first\"; }");
  EXPECT_EQ(describe(out), "fileinto:seen-added, fileinto:second-is-first");
  out = run("addheader \"X-Added\" \"yes\";\n"
            "if header :is \"x-added\" \"yes\" { fileinto \"seen-added\"; }\n"
            "deleteheader \"subject\";\n"
            "if not exists \"subject\" { fileinto \"no-subject\"; }");
  EXPECT_EQ(describe(out), "fileinto:seen-added, fileinto:no-subject");
  ASSERT_TRUE(out.edited_header);
  EXPECT_EQ(out.edited_header->find("Subject:"), std::string::npos);
}

TEST(SieveEditheader, DeleteAllOrMatching) {
  // Every X-Spam, folded ones too.
  std::string all = edited("deleteheader \"x-spam\";");
  EXPECT_EQ(all.find("X-Spam"), std::string::npos);
  EXPECT_EQ(all.find("caf"), std::string::npos);
  EXPECT_NE(all.find("Subject: I have"), std::string::npos);
  EXPECT_TRUE(all.ends_with("Auto-Submitted: auto-generated\r\n\r\n"));
  // Only those whose value matches; the folded one is compared decoded.
  std::string some = edited("deleteheader :is \"x-spam\" [\"maybe\", \"caf\xc3\xa9\"];");
  EXPECT_NE(some.find("X-Spam: yes\r\n"), std::string::npos);
  EXPECT_EQ(some.find("maybe"), std::string::npos);
  EXPECT_EQ(some.find("caf"), std::string::npos);
  EXPECT_EQ(edited("deleteheader :regex \"x-spam\" \"^(yes|maybe)$\";").find("X-Spam: yes"), std::string::npos);
  // Nothing matched: unchanged, and no edited header at all.
  EXPECT_EQ(edited("deleteheader :contains \"x-spam\" \"never\";"), "(unchanged)");
  EXPECT_EQ(edited("deleteheader \"x-absent\";"), "(unchanged)");
  // Added and then deleted again: nothing changed.
  EXPECT_EQ(edited("addheader \"X-Tmp\" \"1\";\ndeleteheader \"X-Tmp\";"), "(unchanged)");
}

TEST(SieveEditheader, DeleteByIndex) {
  std::string second = edited("deleteheader :index 2 \"x-spam\";");
  EXPECT_NE(second.find("X-Spam: yes\r\n"), std::string::npos);
  EXPECT_EQ(second.find("maybe"), std::string::npos);
  EXPECT_NE(second.find("caf"), std::string::npos);
  std::string last = edited("deleteheader :index 1 :last \"x-spam\";");
  EXPECT_NE(last.find("maybe"), std::string::npos);
  EXPECT_EQ(last.find("caf"), std::string::npos);
  // :index first, then the patterns: the 1st X-Spam is "yes", not "maybe".
  EXPECT_EQ(edited("deleteheader :index 1 \"x-spam\" \"maybe\";"), "(unchanged)");
  EXPECT_EQ(edited("deleteheader :index 9 \"x-spam\";"), "(unchanged)");
}

TEST(SieveEditheader, ProtectedNamesFromVariablesAreIgnored) {
  auto out = run("set \"n\" \"Received\";\ndeleteheader \"${n}\";\nset \"m\" \"auto-submitted\";\n"
                 "addheader \"${m}\" \"no\";\ndeleteheader \"${m}\";");
  EXPECT_TRUE(out.errors.empty());
  EXPECT_FALSE(out.edited_header);
  // A bad name from variables is a runtime error.
  out = run("set \"n\" \"bad name\";\naddheader \"${n}\" \"x\";");
  ASSERT_EQ(out.errors.size(), 1u);
  EXPECT_EQ(out.errors[0], "line 3: addheader: \"bad name\" is not a valid header name");
  EXPECT_FALSE(out.edited_header);
}

TEST(SieveEditheader, Bounds) {
  Limits limits;
  limits.max_added_headers = 2;
  auto out = run("addheader \"X-1\" \"a\";\naddheader \"X-2\" \"a\";\naddheader \"X-3\" \"a\";", limits);
  EXPECT_EQ(describe(out), "implicit-keep !error");
  ASSERT_EQ(out.errors.size(), 1u);
  EXPECT_EQ(out.errors[0], "line 4: more than 2 addheader");
  // A runtime error: no edited header either.
  EXPECT_FALSE(out.edited_header);
  Limits small;
  small.max_header_growth = 20;
  out = run("addheader \"X-1\" \"a\";\naddheader \"X-2\" \"0123456789\";", small);
  ASSERT_EQ(out.errors.size(), 1u);
  EXPECT_EQ(out.errors[0], "line 3: addheader: the header would grow by more than 20 bytes");
  // Deleting makes room again.
  out = run("deleteheader \"x-spam\";\naddheader \"X-2\" \"0123456789\";", small);
  EXPECT_TRUE(out.errors.empty());
}

TEST(SieveEditheader, VacationAnswersTheMessageAsReceived) {
  std::string header = std::string(kHeader);
  header.insert(0, "To: roadrunner@acme.example.com\r\n");
  header.erase(header.find("Auto-Submitted"), std::string("Auto-Submitted: auto-generated\r\n").size());
  Mail to_me(header);
  auto out = testing::run(std::string(kReq) +
                              "require \"vacation\";\ndeleteheader \"subject\";\naddheader \"Subject\" \"changed\";\n"
                              "vacation \"away\";",
                          to_me);
  EXPECT_EQ(describe(out), "vacation, implicit-keep");
  ASSERT_TRUE(out.actions[0].vacation);
  EXPECT_EQ(out.actions[0].vacation->subject, "Auto: I have a present for you");
  ASSERT_TRUE(out.edited_header);
  EXPECT_EQ(out.edited_header->rfind("Subject: changed\r\n", 0), 0u);
}

}  // namespace
}  // namespace cyr::sieve
