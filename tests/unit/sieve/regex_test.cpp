// The regex extension (draft-ietf-sieve-regex-01): the :regex match type.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <thread>

#include "tests/unit/sieve/sieve_test_util.h"

namespace cyr::sieve {
namespace {

using testing::actions;
using testing::compile_error;
using testing::Mail;

const char* kReq = "require [\"regex\", \"fileinto\", \"variables\"];\n";

std::string with_req(std::string_view body) { return std::string(kReq) + std::string(body); }

TEST(SieveRegex, NeedsRequire) {
  EXPECT_EQ(compile_error("if header :regex \"subject\" \"x\" { keep; }"), "line 1: :regex needs require \"regex\"");
  EXPECT_EQ(compile_error("require \"regex\";\nif header :regex \"subject\" \"^I have\" { keep; }"), "");
  auto& ext = supported_extensions();
  EXPECT_TRUE(std::find(ext.begin(), ext.end(), "regex") != ext.end());
}

TEST(SieveRegex, HeaderMatch) {
  EXPECT_EQ(actions(with_req("if header :regex \"subject\" \"^I have a (present|gift)\" { fileinto \"a\"; }")),
            "fileinto:a");
  EXPECT_EQ(actions(with_req("if header :regex \"subject\" \"^present\" { fileinto \"a\"; }")), "implicit-keep");
  // Anywhere in the value unless anchored.
  EXPECT_EQ(actions(with_req("if header :regex \"subject\" \"pres+ent\" { fileinto \"a\"; }")), "fileinto:a");
  // Any key of the list.
  EXPECT_EQ(actions(with_req("if header :regex [\"to\", \"from\"] [\"^x\", \"coyote@.*\\\\.org$\"] { fileinto \"a\"; }")),
            "fileinto:a");
}

TEST(SieveRegex, ComparatorDecidesCase) {
  // i;ascii-casemap (the default) ignores case; i;octet does not.
  EXPECT_EQ(actions(with_req("if header :regex \"subject\" \"PRESENT\" { fileinto \"a\"; }")), "fileinto:a");
  EXPECT_EQ(actions(with_req("if header :regex :comparator \"i;octet\" \"subject\" \"PRESENT\" { fileinto \"a\"; }")),
            "implicit-keep");
  EXPECT_EQ(actions(with_req("if header :comparator \"i;octet\" :regex \"subject\" \"present\" { fileinto \"a\"; }")),
            "fileinto:a");
  EXPECT_EQ(compile_error("require [\"regex\", \"comparator-i;ascii-numeric\"];\n"
                          "if header :regex :comparator \"i;ascii-numeric\" \"subject\" \"1\" { keep; }"),
            "line 2: comparator i;ascii-numeric cannot do :regex");
}

TEST(SieveRegex, SetsMatchVariables) {
  EXPECT_EQ(actions(with_req("if header :regex \"from\" \"^([^@]+)@([a-z]+)\\\\.\" {\n"
                             "  fileinto \"${0}|${1}|${2}|${3}\";\n}")),
            "fileinto:coyote@desert.|coyote|desert|");
  // A group that took no part is empty.
  EXPECT_EQ(actions(with_req("if string :regex \"abc\" \"a(x)?(b)\" { fileinto \"[${1}][${2}]\"; }")),
            "fileinto:[][b]");
  // A failed :regex leaves the previous values.
  EXPECT_EQ(actions(with_req("if string :regex \"abc\" \"(b)\" { }\n"
                             "if string :regex \"abc\" \"(x)\" { }\n"
                             "fileinto \"${1}\";")),
            "fileinto:b");
}

TEST(SieveRegex, EveryTestWithAMatchType) {
  Mail mail;
  mail.input.envelope.from = "coyote+traps@desert.example.org";
  mail.reset();
  EXPECT_EQ(actions(with_req("if address :regex :localpart \"from\" \"^coy\" { fileinto \"a\"; }")), "fileinto:a");
  EXPECT_EQ(actions(with_req("require [\"envelope\", \"subaddress\"];\n"
                             "if envelope :regex :detail \"from\" \"^tr.ps$\" { fileinto \"a\"; }"),
                    mail),
            "fileinto:a");
  EXPECT_EQ(actions(with_req("require \"body\";\nif body :regex \"an+vil\" { fileinto \"a\"; }")), "fileinto:a");
  EXPECT_EQ(actions(with_req("require \"body\";\nif body :raw :regex \"^Look\" { fileinto \"a\"; }")), "fileinto:a");
  EXPECT_EQ(actions(with_req("require \"date\";\nif date :regex :originalzone \"date\" \"year\" \"^19[0-9]{2}$\" "
                             "{ fileinto \"a\"; }")),
            "fileinto:a");
  EXPECT_EQ(actions(with_req("require \"date\";\nif currentdate :regex :zone \"+0000\" \"year\" \"^1970$\" "
                             "{ fileinto \"a\"; }")),
            "fileinto:a");
  // hasflag: the whole pattern, spaces and all, is one regular expression.
  EXPECT_EQ(actions(with_req("require \"imap4flags\";\naddflag \"$Label1 \\\\Seen\";\n"
                             "if hasflag :regex \"^.label[0-9]$\" { fileinto \"a\"; }")),
            "fileinto:a[$Label1 \\Seen]");
  EXPECT_EQ(actions(with_req("set \"v\" \"hello world\";\nif string :regex \"${v}\" \"o w\" { fileinto \"a\"; }")),
            "fileinto:a");
}

TEST(SieveRegex, BadPatternsAreCompileErrors) {
  EXPECT_EQ(compile_error(with_req("if header :regex \"subject\" \"(unclosed\" { keep; }")).rfind(
                "line 2: bad regular expression: ", 0),
            0u);
  EXPECT_EQ(compile_error(with_req("if header :regex \"subject\" [\"ok\", \"a[\"] { keep; }")).rfind(
                "line 2: bad regular expression", 0),
            0u);
  // Back-references make glibc's regexec exponential: refused.
  EXPECT_EQ(compile_error(with_req("if header :regex \"subject\" \"(a)\\\\1\" { keep; }")),
            "line 2: back-references (\\1 .. \\9) are not allowed in :regex");
  // An escaped backslash followed by a digit is no back-reference.
  EXPECT_EQ(compile_error(with_req("if header :regex \"subject\" \"a\\\\\\\\1\" { keep; }")), "");
  // Longer than 1 KiB: a limit.
  auto too_long = compile(with_req("if header :regex \"subject\" \"" + std::string(1025, 'a') + "\" { keep; }"));
  ASSERT_FALSE(too_long.ok());
  EXPECT_EQ(too_long.error().code, Errc::TooBig);
  EXPECT_EQ(compile_error(with_req("if header :regex \"subject\" \"" + std::string(1025, 'a') + "\" { keep; }")),
            "line 2: regular expression longer than 1024 bytes");
  EXPECT_EQ(compile_error(with_req("if header :regex \"subject\" \"" + std::string(1024, 'a') + "\" { keep; }")), "");
  // Repetition counts that glibc would expand into millions of nodes.
  EXPECT_EQ(compile_error(with_req("if header :regex \"subject\" \"((a{255}){255}){255}\" { keep; }")),
            "line 2: regular expression too complex (its repetition counts expand it past 8192 atoms)");
  EXPECT_EQ(compile_error(with_req("if header :regex \"subject\" \"(ab{1,90}){2,90}\" { keep; }")), "");
  // Repetitions on repetitions: glibc's regcomp needs memory exponential in
  // their nesting (found by fuzzing: 28 stacked "+" took more than 2 GB).
  EXPECT_EQ(compile_error(with_req("if header :regex \"subject\" \"^(x" + std::string(28, '+') + "y|z)\" { keep; }")),
            "line 2: regular expression too complex (repetitions nested 28 deep; at most 6)");
  EXPECT_EQ(compile_error(with_req("if header :regex \"subject\" \"((((((((a+)+)+)+)+)+)+)+)\" { keep; }")),
            "line 2: regular expression too complex (repetitions nested 8 deep; at most 6)");
  EXPECT_EQ(compile_error(with_req("if header :regex \"subject\" \"(((a*){2})+b?)*\" { keep; }")), "");
  EXPECT_EQ(compile_error(with_req("if header :regex \"subject\" \"^((re|fwd):[ ]*)+(x+|y*)\" { keep; }")), "");
}

TEST(SieveRegex, PatternCountIsBounded) {
  CompileOptions options;
  options.limits.max_list_items = 3;
  EXPECT_EQ(compile_error(with_req("if header :regex \"subject\" [\"a\", \"b\", \"c\"] { keep; }"), options), "");
  auto r = compile(with_req("if header :regex \"subject\" [\"a\", \"b\"] { keep; }\n"
                            "if header :regex \"subject\" [\"c\", \"d\"] { keep; }"),
                   options);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::TooBig);
  EXPECT_EQ(r.error().user_message, "line 3: more than 3 :regex patterns");
}

TEST(SieveRegex, PatternsWithVariablesCompileAtRunTime) {
  EXPECT_EQ(actions(with_req("set \"p\" \"^I HAVE\";\nif header :regex \"subject\" \"${p}\" { fileinto \"a\"; }")),
            "fileinto:a");
  // A bad one is a runtime error: the implicit keep, and nothing else.
  auto out = testing::run(with_req("fileinto \"before\";\nset \"p\" \"(a\";\n"
                                   "if header :regex \"subject\" \"${p}\" { fileinto \"a\"; }"),
                          Mail());
  EXPECT_EQ(testing::describe(out), "implicit-keep !error");
  ASSERT_EQ(out.errors.size(), 1u);
  EXPECT_EQ(out.errors[0].rfind("line 4: bad regular expression", 0), 0u) << out.errors[0];
  out = testing::run(with_req("set \"p\" \"(a)\\\\1\";\nif header :regex \"subject\" \"${p}\" { keep; }"), Mail());
  ASSERT_EQ(out.errors.size(), 1u);
  EXPECT_EQ(out.errors[0], "line 3: back-references (\\1 .. \\9) are not allowed in :regex");
}

TEST(SieveRegex, ValuesWithNulAreMatchedWhole) {
  const std::string req = "require [\"regex\", \"fileinto\", \"variables\", \"encoded-character\"];\n";
  // The value is not cut at its NUL: "b" after it is found.
  EXPECT_EQ(actions(req + "if string :regex \"a${hex:00}b\" \"b$\" { fileinto \"found\"; }"), "fileinto:found");
  EXPECT_EQ(actions(req + "if string :regex \"a${hex:00}b\" \"^a$\" { fileinto \"found\"; }"), "implicit-keep");
  // A pattern with a NUL cannot be handed to regcomp.
  EXPECT_EQ(compile_error(req + "if string :regex \"a\" \"a${hex:00}\" { keep; }"),
            "line 2: regular expression contains a NUL character");
}

TEST(SieveRegex, MatchingIsBounded) {
  Limits limits;
  limits.max_match_work = 100;
  Mail mail("Subject: " + std::string(500, 'x') + "\r\n\r\n");
  auto out = testing::run(with_req("if header :regex \"subject\" \"y\" { fileinto \"a\"; }"), mail, limits);
  EXPECT_EQ(testing::describe(out), "implicit-keep !error");
  ASSERT_EQ(out.errors.size(), 1u);
  EXPECT_EQ(out.errors[0], "line 2: :regex needed more than 100 steps");
}

TEST(SieveRegex, CostIsQuadraticInTheValue) {
  // glibc restarts an unanchored search at every position: a value of n
  // bytes costs about n * n * atoms / 16 steps. A pathological pattern
  // over a long value ends in a runtime error, quickly, instead of
  // running for minutes.
  std::string ab;
  for (int i = 0; i < 100000; ++i) ab += "ab"[(i * 7919) % 13 % 2];
  Mail mail("X-Long: " + ab + "\r\n\r\n");
  auto out = testing::run(with_req("if header :regex \"x-long\" \"(a|b)*a(a|b){20}!x\" { fileinto \"a\"; }"), mail);
  EXPECT_EQ(testing::describe(out), "implicit-keep !error");
  ASSERT_EQ(out.errors.size(), 1u);
  EXPECT_EQ(out.errors[0], "line 2: :regex needed more than 1048576 steps");
  // A short value of the same kind is fine.
  Mail short_mail("X-Long: " + ab.substr(0, 300) + "\r\n\r\n");
  EXPECT_EQ(testing::describe(testing::run(
                with_req("if header :regex \"x-long\" \"(a|b)*a(a|b){20}!x\" { fileinto \"a\"; }"), short_mail)),
            "implicit-keep");
  // Typical header values are far below the bound.
  Mail subject("Subject: " + std::string(900, 'x') + " [list] hello\r\n\r\n");
  EXPECT_EQ(testing::describe(testing::run(with_req("if header :regex \"subject\" \"\\\\[([a-z]+)\\\\]\" "
                                                    "{ fileinto \"${1}\"; }"),
                                           subject)),
            "fileinto:list");
}

TEST(SieveRegex, ScriptIsShareable) {
  // One compiled script, evaluated from several threads at once.
  auto script = testing::compile_ok(with_req("if header :regex \"subject\" \"^I (have|had) a\" { fileinto \"${1}\"; }"));
  ASSERT_TRUE(script);
  std::vector<std::thread> threads;
  std::atomic<int> good{0};
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      Mail mail;
      for (int i = 0; i < 200; ++i)
        if (testing::describe(evaluate(*script, mail.input)) == "fileinto:have") ++good;
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(good.load(), 800);
}

}  // namespace
}  // namespace cyr::sieve
