// The duplicate extension (RFC 7352).
#include <gtest/gtest.h>

#include <set>

#include "tests/unit/sieve/sieve_test_util.h"

namespace cyr::sieve {
namespace {

using testing::compile_error;
using testing::describe;
using testing::Mail;

std::string key(std::string_view handle, std::string_view id) {
  std::string k(handle);
  k += '\0';
  k += id;
  return k;
}

const char* kHeader =
    "Message-ID:   <abc@example.org>  \r\n"
    "X-Frop: <xyz@example.org>\r\n"
    "Subject: hello\r\n"
    "\r\n";

struct Seen {
  std::set<std::string> keys;
  std::vector<std::string> asked;
  void attach(Mail& mail) {
    mail.input.duplicate_seen = [this](const std::string& k) {
      asked.push_back(k);
      return keys.count(k) > 0;
    };
  }
};

Outcome run_seen(std::string_view script, Seen& seen, const Limits& limits = {}, const char* header = kHeader) {
  Mail mail(header);
  seen.attach(mail);
  return testing::run(script, mail, limits);
}

TEST(SieveDuplicate, Syntax) {
  EXPECT_EQ(compile_error("if duplicate { discard; }"), "line 1: duplicate needs require \"duplicate\"");
  EXPECT_EQ(compile_error("require \"duplicate\";\n"
                          "if duplicate :handle \"h\" :header \"X-Frop\" :seconds 60 :last { discard; }"),
            "");
  // :seconds and :last go together; :header and :uniqueid do not.
  EXPECT_EQ(compile_error("require \"duplicate\";\nif duplicate :uniqueid \"x\" :last :seconds 5 { discard; }"), "");
  EXPECT_EQ(compile_error("require \"duplicate\";\nif duplicate :header \"X-Frop\" :uniqueid \"x\" { discard; }"),
            "line 2: duplicate takes :header or :uniqueid, not both");
  EXPECT_EQ(compile_error("require \"duplicate\";\nif duplicate :header \"bad name\" { discard; }"),
            "line 2: \"bad name\" is not a valid header name");
  EXPECT_EQ(compile_error("require \"duplicate\";\nif duplicate :seconds \"5\" { discard; }"),
            "line 2: :seconds expects a number, not a string");
  EXPECT_EQ(compile_error("require \"duplicate\";\nif duplicate \"x\" { discard; }"),
            "line 2: duplicate expects 0 arguments, got 1");
}

TEST(SieveDuplicate, NewMessageIsRecorded) {
  Seen seen;
  auto out = run_seen("require \"duplicate\";\nif duplicate { discard; }", seen);
  EXPECT_EQ(describe(out), "implicit-keep");
  ASSERT_EQ(out.duplicates.size(), 1u);
  // The Message-ID without its surrounding white space, no handle.
  EXPECT_EQ(out.duplicates[0].key, key("", "<abc@example.org>"));
  EXPECT_EQ(out.duplicates[0].seconds, 7 * 86400);
  ASSERT_EQ(seen.asked.size(), 1u);
  EXPECT_EQ(seen.asked[0], key("", "<abc@example.org>"));
}

TEST(SieveDuplicate, SeenMessageIsADuplicate) {
  Seen seen;
  seen.keys.insert(key("", "<abc@example.org>"));
  auto out = run_seen("require \"duplicate\";\nif duplicate { discard; }", seen);
  EXPECT_EQ(describe(out), "discard");
  // Already there: nothing new to record without :last.
  EXPECT_TRUE(out.duplicates.empty());
  out = run_seen("require \"duplicate\";\nif duplicate :last :seconds 3600 { discard; }", seen);
  EXPECT_EQ(describe(out), "discard");
  ASSERT_EQ(out.duplicates.size(), 1u);
  EXPECT_EQ(out.duplicates[0].seconds, 3600);
}

TEST(SieveDuplicate, HandlesKeepTrackingListsApart) {
  Seen seen;
  seen.keys.insert(key("news", "<abc@example.org>"));
  auto out = run_seen("require [\"duplicate\", \"fileinto\"];\n"
                      "if duplicate :handle \"news\" { fileinto \"news-dup\"; }\n"
                      "if duplicate :handle \"other\" { fileinto \"other-dup\"; }\n"
                      "if duplicate { fileinto \"plain-dup\"; }",
                      seen);
  EXPECT_EQ(describe(out), "fileinto:news-dup");
  ASSERT_EQ(out.duplicates.size(), 2u);
  EXPECT_EQ(out.duplicates[0].key, key("other", "<abc@example.org>"));
  EXPECT_EQ(out.duplicates[1].key, key("", "<abc@example.org>"));
}

TEST(SieveDuplicate, HeaderAndUniqueId) {
  Seen seen;
  auto out = run_seen("require [\"duplicate\", \"variables\"];\nset \"id\" \"frop\";\n"
                      "if duplicate :header \"x-frop\" { discard; }\n"
                      "if duplicate :uniqueid \"${id}-1\" :handle \"h\" { discard; }",
                      seen);
  EXPECT_EQ(describe(out), "implicit-keep");
  ASSERT_EQ(out.duplicates.size(), 2u);
  EXPECT_EQ(out.duplicates[0].key, key("", "<xyz@example.org>"));
  EXPECT_EQ(out.duplicates[1].key, key("h", "frop-1"));
}

TEST(SieveDuplicate, MissingHeaderIsNoDuplicateAndRecordsNothing) {
  Seen seen;
  auto out = run_seen("require \"duplicate\";\nif duplicate :header \"X-Missing\" { discard; }\n"
                      "if duplicate { discard; }",
                      seen, {}, "Subject: no id\r\nX-Empty:   \r\n\r\n");
  EXPECT_EQ(describe(out), "implicit-keep");
  EXPECT_TRUE(out.duplicates.empty());
  EXPECT_TRUE(seen.asked.empty());
  out = run_seen("require \"duplicate\";\nif duplicate :header \"X-Empty\" { discard; }", seen, {},
                 "Subject: no id\r\nX-Empty:   \r\n\r\n");
  EXPECT_TRUE(out.duplicates.empty());
  // Without a callback nothing was ever seen.
  Mail mail(kHeader);
  auto plain = testing::run("require \"duplicate\";\nif duplicate { discard; }", mail);
  EXPECT_EQ(describe(plain), "implicit-keep");
  EXPECT_EQ(plain.duplicates.size(), 1u);
}

TEST(SieveDuplicate, OnlyEarlierDeliveriesCount) {
  // RFC 7352 3.1: a second test in the same run does not see the first.
  Seen seen;
  auto out = run_seen("require [\"duplicate\", \"fileinto\"];\n"
                      "if duplicate :seconds 60 { fileinto \"a\"; }\n"
                      "if duplicate :seconds 600 { fileinto \"b\"; }",
                      seen);
  EXPECT_EQ(describe(out), "implicit-keep");
  // One record, with the longer expiry.
  ASSERT_EQ(out.duplicates.size(), 1u);
  EXPECT_EQ(out.duplicates[0].seconds, 600);
}

TEST(SieveDuplicate, SecondsAreClamped) {
  Seen seen;
  auto out = run_seen("require \"duplicate\";\nif duplicate :seconds 99999999999 { discard; }", seen);
  ASSERT_EQ(out.duplicates.size(), 1u);
  EXPECT_EQ(out.duplicates[0].seconds, 90 * 86400);
  Limits limits;
  limits.max_duplicate_seconds = 100;
  out = run_seen("require \"duplicate\";\nif duplicate { discard; }", seen, limits);
  ASSERT_EQ(out.duplicates.size(), 1u);
  EXPECT_EQ(out.duplicates[0].seconds, 100);
  out = run_seen("require \"duplicate\";\nif duplicate :seconds 0 { discard; }", seen);
  ASSERT_EQ(out.duplicates.size(), 1u);
  EXPECT_EQ(out.duplicates[0].seconds, 0);
}

TEST(SieveDuplicate, NoRecordsAfterRuntimeErrorOrReject) {
  Seen seen;
  auto out = run_seen("require [\"duplicate\", \"reject\"];\nif not duplicate { reject \"go away\"; }", seen);
  EXPECT_EQ(describe(out), "reject:go away");
  EXPECT_TRUE(out.duplicates.empty());
  out = run_seen("require [\"duplicate\", \"reject\"];\nif not duplicate { keep; }\nreject \"x\";", seen);
  EXPECT_EQ(describe(out), "implicit-keep !error");
  EXPECT_TRUE(out.duplicates.empty());
  // A discard still records (the delivery went as the script said).
  out = run_seen("require [\"duplicate\"];\nif not duplicate { discard; }", seen);
  EXPECT_EQ(describe(out), "discard");
  EXPECT_EQ(out.duplicates.size(), 1u);
}

TEST(SieveDuplicate, NulInHandleEndsIt) {
  Seen seen;
  auto out = run_seen("require [\"duplicate\", \"encoded-character\"];\n"
                      "if duplicate :handle \"a${hex:00}b\" :uniqueid \"id\" { discard; }",
                      seen);
  ASSERT_EQ(out.duplicates.size(), 1u);
  EXPECT_EQ(out.duplicates[0].key, key("a", "id"));
}

}  // namespace
}  // namespace cyr::sieve
