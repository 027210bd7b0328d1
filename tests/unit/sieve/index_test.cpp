// The index extension (RFC 5260 6): :index and :last on header, address
// and date.
#include <gtest/gtest.h>

#include "tests/unit/sieve/sieve_test_util.h"

namespace cyr::sieve {
namespace {

using testing::actions;
using testing::compile_error;
using testing::Mail;

const char* kReq = "require [\"index\", \"fileinto\", \"variables\", \"date\"];\n";

const char* kHeader =
    "Received: from a.example by b.example; Tue, 1 Apr 1997 09:10:00 -0800\r\n"
    "Received: from c.example by a.example; Tue, 1 Apr 1997 09:08:00 -0800\r\n"
    "Received: from d.example by c.example; Mon, 31 Mar 1997 23:59:00 -0800\r\n"
    "From: first@example.org\r\n"
    "X-Tag: one\r\n"
    "To: a@example.org, b@example.org\r\n"
    "X-Tag: two\r\n"
    "Cc: c@example.org\r\n"
    "X-Tag: three\r\n"
    "\r\n";

std::string run(std::string_view body) {
  Mail mail(kHeader);
  return actions(std::string(kReq) + std::string(body), mail);
}

TEST(SieveIndex, Syntax) {
  EXPECT_EQ(compile_error("if header :index 1 \"x-tag\" \"one\" { keep; }"), "line 1: :index needs require \"index\"");
  EXPECT_EQ(compile_error("require \"index\";\nif header :index 2 :last \"x-tag\" \"one\" { keep; }"), "");
  EXPECT_EQ(compile_error("require \"index\";\nif header :last \"x-tag\" \"one\" { keep; }"),
            "line 2: header: :last needs :index");
  EXPECT_EQ(compile_error("require \"index\";\nif address :index 0 \"to\" \"a\" { keep; }"),
            "line 2: address: :index counts from 1");
  EXPECT_EQ(compile_error("require \"index\";\nif header :index \"1\" \"x-tag\" \"one\" { keep; }"),
            "line 2: :index expects a number, not a string");
  // Only on header, address and date.
  EXPECT_EQ(compile_error("require [\"index\", \"envelope\"];\nif envelope :index 1 \"to\" \"a\" { keep; }"),
            "line 2: unknown tag :index for envelope");
}

TEST(SieveIndex, Header) {
  EXPECT_EQ(run("if header :index 1 \"x-tag\" \"one\" { fileinto \"a\"; }"), "fileinto:a");
  EXPECT_EQ(run("if header :index 2 \"x-tag\" \"one\" { fileinto \"a\"; }"), "implicit-keep");
  EXPECT_EQ(run("if header :index 2 \"x-tag\" \"two\" { fileinto \"a\"; }"), "fileinto:a");
  EXPECT_EQ(run("if header :index 1 :last \"x-tag\" \"three\" { fileinto \"a\"; }"), "fileinto:a");
  EXPECT_EQ(run("if header :index 3 :last \"x-tag\" \"one\" { fileinto \"a\"; }"), "fileinto:a");
  // Past the last field: nothing to match.
  EXPECT_EQ(run("if header :index 4 \"x-tag\" \"*\" { fileinto \"a\"; }"), "implicit-keep");
  EXPECT_EQ(run("if header :matches :index 4 :last \"x-tag\" \"*\" { fileinto \"a\"; }"), "implicit-keep");
  // Several names count as one list, in header order.
  EXPECT_EQ(run("if header :matches :index 2 [\"x-tag\", \"from\"] \"*\" { fileinto \"${1}\"; }"), "fileinto:one");
  EXPECT_EQ(run("if header :matches :index 2 :last [\"x-tag\", \"cc\"] \"*\" { fileinto \"${1}\"; }"),
            "fileinto:c@example.org");
  // Received: the RFC's example of finding a hop.
  EXPECT_EQ(run("if header :contains :index 2 \"received\" \"from c.example\" { fileinto \"a\"; }"), "fileinto:a");
}

TEST(SieveIndex, Address) {
  // The field is chosen first, then every address in it is tried.
  EXPECT_EQ(run("if address :index 1 [\"to\", \"cc\"] \"b@example.org\" { fileinto \"a\"; }"), "fileinto:a");
  EXPECT_EQ(run("if address :index 2 [\"to\", \"cc\"] \"b@example.org\" { fileinto \"a\"; }"), "implicit-keep");
  EXPECT_EQ(run("if address :index 1 :last :localpart [\"to\", \"cc\"] \"c\" { fileinto \"a\"; }"), "fileinto:a");
}

TEST(SieveIndex, Date) {
  // The oldest hop (the last Received) versus the newest.
  EXPECT_EQ(run("if date :index 1 :last :originalzone \"received\" \"date\" \"1997-03-31\" { fileinto \"a\"; }"),
            "fileinto:a");
  EXPECT_EQ(run("if date :index 1 :originalzone \"received\" \"date\" \"1997-04-01\" { fileinto \"a\"; }"),
            "fileinto:a");
  EXPECT_EQ(run("if date :index 1 :originalzone \"received\" \"date\" \"1997-03-31\" { fileinto \"a\"; }"),
            "implicit-keep");
  EXPECT_EQ(run("if date :index 2 :originalzone \"received\" \"time\" \"09:08:00\" { fileinto \"a\"; }"),
            "fileinto:a");
}

}  // namespace
}  // namespace cyr::sieve
