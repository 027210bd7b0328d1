// The environment (RFC 5183) and ihave (RFC 5463) extensions.
#include <gtest/gtest.h>

#include <algorithm>

#include "tests/unit/sieve/sieve_test_util.h"

namespace cyr::sieve {
namespace {

using testing::actions;
using testing::compile_error;
using testing::describe;
using testing::Mail;

const char* kEnv =
    "require [\"environment\", \"fileinto\", \"variables\", \"relational\", \"comparator-i;ascii-numeric\"];\n";

void with_environment(Mail& mail) {
  mail.input.environment = {{"domain", "example.org"},
                            {"host", "mx1.example.org"},
                            {"remote-ip", "192.0.2.7"},
                            {"name", "Cyrus"},
                            {"phase", "post"}};
}

std::string env_actions(std::string_view script, const Mail& mail) { return actions(std::string(kEnv) + std::string(script), mail); }

TEST(SieveEnvironment, Syntax) {
  EXPECT_EQ(compile_error("if environment \"domain\" \"x\" { keep; }"),
            "line 1: environment needs require \"environment\"");
  EXPECT_EQ(compile_error("require \"environment\";\nif environment :contains :comparator \"i;octet\" "
                          "\"host\" [\"a\", \"b\"] { keep; }"),
            "");
  EXPECT_EQ(compile_error("require \"environment\";\nif environment \"host\" { keep; }"),
            "line 2: environment expects 2 arguments, got 1");
}

TEST(SieveEnvironment, CallerItems) {
  Mail mail;
  with_environment(mail);
  EXPECT_EQ(env_actions("if environment \"domain\" \"example.org\" { fileinto \"a\"; }", mail), "fileinto:a");
  EXPECT_EQ(env_actions("if environment :matches \"host\" \"*.example.org\" { fileinto \"${1}\"; }", mail),
            "fileinto:mx1");
  EXPECT_EQ(env_actions("if environment :is \"remote-ip\" \"192.0.2.8\" { fileinto \"a\"; }", mail), "implicit-keep");
  // Item names are case-insensitive.
  EXPECT_EQ(env_actions("if environment \"DOMAIN\" \"EXAMPLE.ORG\" { fileinto \"a\"; }", mail), "fileinto:a");
  // The caller's value wins over a default.
  EXPECT_EQ(env_actions("if environment \"phase\" \"post\" { fileinto \"a\"; }", mail), "fileinto:a");
}

TEST(SieveEnvironment, Defaults) {
  Mail mail;  // no items from the caller
  EXPECT_EQ(env_actions("if environment \"location\" \"MDA\" { fileinto \"a\"; }", mail), "fileinto:a");
  EXPECT_EQ(env_actions("if environment \"phase\" \"during\" { fileinto \"a\"; }", mail), "fileinto:a");
  EXPECT_EQ(env_actions("if environment \"domain\" \"\" { fileinto \"a\"; }", mail), "implicit-keep");
}

TEST(SieveEnvironment, UnknownItemsNeverMatch) {
  Mail mail;
  with_environment(mail);
  EXPECT_EQ(env_actions("if environment :matches \"vnd.frobnicate\" \"*\" { fileinto \"a\"; }", mail), "implicit-keep");
  EXPECT_EQ(env_actions("if environment :count \"eq\" :comparator \"i;ascii-numeric\" \"vnd.frobnicate\" \"0\" "
                        "{ fileinto \"a\"; }",
                        mail),
            "implicit-keep");
  EXPECT_EQ(env_actions("if not environment :contains \"vnd.frobnicate\" \"\" { fileinto \"a\"; }", mail),
            "fileinto:a");
}

TEST(SieveIHave, Syntax) {
  EXPECT_EQ(compile_error("if ihave \"fileinto\" { keep; }"), "line 1: ihave needs require \"ihave\"");
  EXPECT_EQ(compile_error("require \"ihave\";\nerror \"x\";"), "");
  EXPECT_EQ(compile_error("require [\"ihave\", \"variables\"];\nif ihave \"${x}\" { keep; }"),
            "line 2: ihave: extension names cannot contain variables");
  auto& ext = supported_extensions();
  for (const char* name : {"environment", "ihave"})
    EXPECT_TRUE(std::find(ext.begin(), ext.end(), name) != ext.end()) << name;
}

TEST(SieveIHave, KnownExtensionsAreTrueAndImplicitlyRequired) {
  // No require "fileinto": ihave made it available inside the block.
  EXPECT_EQ(actions("require \"ihave\";\nif ihave \"fileinto\" { fileinto \"a\"; }"), "fileinto:a");
  EXPECT_EQ(actions("require \"ihave\";\nif ihave [\"fileinto\", \"comparator-i;octet\", \"vacation-seconds\"] "
                    "{ fileinto \"a\"; }"),
            "fileinto:a");
  EXPECT_EQ(actions("require \"ihave\";\nif allof(ihave \"fileinto\", true) { fileinto \"a\"; }"), "fileinto:a");
  // ... but only inside it.
  EXPECT_EQ(compile_error("require \"ihave\";\nif ihave \"fileinto\" { keep; }\nfileinto \"a\";"),
            "line 3: fileinto needs require \"fileinto\"");
}

TEST(SieveIHave, UnknownExtensionGuardsABlockThatIsNeverRun) {
  // RFC 5463 4: the block uses commands and tests nobody knows; it must
  // still compile.
  const char* script =
      "require [\"ihave\", \"fileinto\"];\n"
      "if ihave \"x-frobnicate\" {\n"
      "  frobnicate :loudly \"now\" [\"a\", \"b\"] 10K;\n"
      "  if frob_test :with \"x\" { frobnicate; } elsif anyof(x, y(z), not w) { nope; }\n"
      "  else { ok; }\n"
      "} elsif ihave \"fileinto\" {\n"
      "  fileinto \"known\";\n"
      "} else {\n"
      "  discard;\n"
      "}\n";
  EXPECT_EQ(compile_error(script), "");
  EXPECT_EQ(actions(script), "fileinto:known");
  EXPECT_EQ(actions("require \"ihave\";\nif ihave [\"fileinto\", \"x-unknown\"] { x_unknown; }\n"
                    "elsif true { discard; }"),
            "discard");
  EXPECT_EQ(actions("require \"ihave\";\nif allof(true, ihave \"x-unknown\") { x_unknown; } else { discard; }"),
            "discard");
  // The generic syntax still holds.
  EXPECT_EQ(compile_error("require \"ihave\";\nif ihave \"x-frob\" { frob \"unterminated ; }"),
            "line 2: unterminated string");
  EXPECT_EQ(compile_error("require \"ihave\";\nif ihave \"x-frob\" {\n frob [\"a\" \"b\"];\n}"),
            "line 3: expected ',' or ']' in the string list");
  EXPECT_EQ(compile_error("require \"ihave\";\nif ihave \"x-frob\" {\n frob\n}"), "line 4: expected ';' or a block");
  EXPECT_EQ(compile_error("require \"ihave\";\nif ihave \"x-frob\" {\n frob ( a, ;\n}"), "line 3: expected a test");
  // And its bounds.
  CompileOptions shallow;
  shallow.limits.max_nesting = 3;
  EXPECT_EQ(compile_error("require \"ihave\";\nif ihave \"x-frob\" { a { b { c { d; } } } }", shallow),
            "line 2: nesting deeper than 3");
  CompileOptions few;
  few.limits.max_commands = 4;
  EXPECT_EQ(compile_error("require \"ihave\";\nif ihave \"x-frob\" { a; b; c; }", few),
            "line 2: more than 4 commands and tests");
}

TEST(SieveIHave, SiteSwitchedOffIsUnavailable) {
  CompileOptions options;
  options.allowed = std::set<std::string>{"ihave"};
  auto script = compile("require \"ihave\";\nif ihave \"fileinto\" { fileinto \"a\"; } else { discard; }", options);
  ASSERT_TRUE(script.ok()) << script.error().user_message;
  Mail mail;
  EXPECT_EQ(describe(evaluate(**script, mail.input)), "discard");
}

TEST(SieveIHave, ErrorCommand) {
  auto out = testing::run("require [\"ihave\", \"fileinto\", \"variables\"];\nset \"why\" \"no rules\";\n"
                          "fileinto \"a\";\nerror \"giving up: ${why}\";\nfileinto \"b\";",
                          Mail());
  EXPECT_EQ(describe(out), "implicit-keep !error");
  ASSERT_EQ(out.errors.size(), 1u);
  EXPECT_EQ(out.errors[0], "line 4: error: giving up: no rules");
  EXPECT_EQ(actions("require \"ihave\";\nif ihave \"x-frob\" { error \"never\"; }"), "implicit-keep");
}

}  // namespace
}  // namespace cyr::sieve
