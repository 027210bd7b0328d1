// Hostile and mangled input: compile() refuses cleanly, evaluate() always
// ends with actions, whatever the script or message.
#include <gtest/gtest.h>

#include <random>

#include "tests/unit/sieve/sieve_test_util.h"

namespace cyr::sieve {
namespace {

const char* kFullScript = R"(require ["fileinto", "reject", "envelope", "encoded-character", "imap4flags", "copy",
         "vacation", "vacation-seconds", "subaddress", "relational", "comparator-i;ascii-numeric",
         "variables", "body", "mailbox", "date"];
set "x" "${hex:41}";
if anyof (header :matches "subject" "*present*", address :detail "to" "x") {
  addflag "\\Seen ${1}";
  fileinto :copy :flags "$x" "INBOX.${x}";
} elsif allof (envelope :user "from" "coyote", not size :over 10K) {
  vacation :seconds 60 :subject "re: ${0}" "away";
} elsif body :content "text" :contains "anvil" {
  redirect :copy "a@example.org";
} elsif date :value "ge" "date" "year" "1990" {
  if string :count "ge" :comparator "i;ascii-numeric" ["a", "b"] "2" { keep; }
} else {
  reject text:
no
.
;
}
)";

TEST(SieveRobustness, CrLfScript) {
  std::string script;
  for (char c : std::string(kFullScript)) {
    if (c == '\n') script += '\r';
    script += c;
  }
  auto compiled = testing::compile_ok(script);
  ASSERT_TRUE(compiled);
  testing::Mail mail;
  mail.input.envelope.to = "roadrunner@acme.example.com";
  auto out = evaluate(*compiled, mail.input);
  EXPECT_EQ(testing::describe(out), "fileinto:INBOX.A[$x], implicit-keep[\\Seen I have a]");
}

TEST(SieveRobustness, MangledScriptsNeverCrash) {
  std::mt19937 rng(5228);
  const std::string base = kFullScript;
  const std::string alphabet = "{}()[];,:\"\\#/* \n\r\tabcz019KM$@.-";
  testing::Mail mail;
  int compiled = 0;
  for (int round = 0; round < 3000; ++round) {
    std::string s = base;
    int edits = 1 + static_cast<int>(rng() % 6);
    for (int e = 0; e < edits && !s.empty(); ++e) {
      size_t at = rng() % s.size();
      switch (rng() % 4) {
        case 0:
          s.erase(at, 1 + rng() % 8);
          break;
        case 1:
          s.insert(at, 1, alphabet[rng() % alphabet.size()]);
          break;
        case 2:
          s[at] = alphabet[rng() % alphabet.size()];
          break;
        case 3:
          s.insert(at, s.substr(rng() % s.size(), rng() % 40));
          break;
      }
    }
    auto r = compile(s);
    if (!r.ok()) {
      // Every refusal names its line.
      EXPECT_EQ(r.error().user_message.rfind("line ", 0), 0u) << r.error().user_message;
      continue;
    }
    ++compiled;
    auto out = evaluate(**r, mail.input);
    // The message is always accounted for (kept, filed, sent on,
    // refused or discarded on purpose).
    EXPECT_FALSE(out.actions.empty()) << s;
  }
  EXPECT_GT(compiled, 0);
}

const char* kNewExtensionsScript = R"sieve(require ["regex", "include", "duplicate", "environment", "ihave", "index",
         "editheader", "variables", "fileinto", "date", "imap4flags"];
global "g";
if header :regex :index 1 "subject" "^(I|you) (have|had)" { set "g" "${2}"; }
if ihave "x-unknown" { frob :x ["a"] 1K; if t (u, v) { w; } } elsif ihave "copy" { fileinto :copy "c"; }
if duplicate :handle "${g}" :seconds 60 :last { discard; stop; }
if environment :matches "host" "*.example.*" { addheader :last "X-Host" "${1}"; }
deleteheader :index 1 :last :regex "x-spam" "^yes";
addheader "X-Sieve" "caf${hex:c3 a9} ${g}";
include :optional :once "lib";
include :global :optional "site";
if date :index 1 :last :regex "date" "year" "^19" { addflag "old"; }
if string :regex "${g}" "(h)(a)(v)(e)" { fileinto "${4}${3}${2}${1}"; return; }
error "unreachable";
)sieve";

TEST(SieveRobustness, MangledScriptsWithNewExtensionsNeverCrash) {
  std::mt19937 rng(6609);
  const std::string base = kNewExtensionsScript;
  const std::string alphabet = "{}()[];,:\"\\#/* \n\r\tabcz019KM$@.-^|+?";
  std::shared_ptr<const Script> library;
  testing::Mail mail;
  mail.input.environment = {{"host", "mx.example.org"}};
  mail.input.duplicate_seen = [](const std::string& key) { return key.size() % 2 == 0; };
  mail.input.load_script = [&](IncludeScope, const std::string&) -> Result<std::shared_ptr<const Script>> {
    if (!library) return Error(Errc::NotFound, "none");
    return library;
  };
  Limits limits;
  // The script as written runs cleanly (the library is not loaded yet).
  auto unmangled = testing::compile_ok(base);
  ASSERT_TRUE(unmangled);
  auto first = evaluate(*unmangled, mail.input, limits);
  EXPECT_EQ(testing::describe(first), "fileinto:c, fileinto:evah[old]") << (first.errors.empty() ? "" : first.errors[0]);
  ASSERT_TRUE(first.edited_header);
  EXPECT_EQ(first.edited_header->rfind("X-Sieve: caf${hex:c3 a9} have\r\n", 0), 0u) << *first.edited_header;
  int compiled = 0;
  for (int round = 0; round < 3000; ++round) {
    std::string s = base;
    int edits = 1 + static_cast<int>(rng() % 6);
    for (int e = 0; e < edits && !s.empty(); ++e) {
      size_t at = rng() % s.size();
      switch (rng() % 4) {
        case 0:
          s.erase(at, 1 + rng() % 8);
          break;
        case 1:
          s.insert(at, 1, alphabet[rng() % alphabet.size()]);
          break;
        case 2:
          s[at] = alphabet[rng() % alphabet.size()];
          break;
        case 3:
          s.insert(at, s.substr(rng() % s.size(), rng() % 40));
          break;
      }
    }
    auto r = compile(s);
    if (!r.ok()) {
      EXPECT_EQ(r.error().user_message.rfind("line ", 0), 0u) << r.error().user_message;
      continue;
    }
    ++compiled;
    // Every other script that compiles becomes what include loads (loops
    // included).
    if (round % 2) library = *r;
    auto out = evaluate(**r, mail.input, limits);
    EXPECT_FALSE(out.actions.empty()) << s;
    if (!out.errors.empty()) {
      EXPECT_FALSE(out.edited_header);
      EXPECT_TRUE(out.duplicates.empty());
    }
    if (out.edited_header) EXPECT_TRUE(out.edited_header->ends_with("\r\n\r\n")) << *out.edited_header;
  }
  EXPECT_GT(compiled, 50);
}

TEST(SieveRobustness, EveryRunEndsWithAnActionOrAnExplicitDisposal) {
  // Whatever a script does, the message is accounted for: kept, filed,
  // redirected, rejected, or discarded on purpose.
  testing::Mail mail;
  for (const char* script :
       {"", "stop;", "discard;", "require \"reject\"; reject \"x\";",
        "require \"variables\"; set \"a\" \"${a}${a}${a}${a}\";", "if header :matches \"from\" \"*\" { stop; }"}) {
    auto out = testing::run(script, mail);
    EXPECT_FALSE(out.actions.empty()) << script;
  }
}

TEST(SieveRobustness, VariableGrowthIsBounded) {
  std::string script = "require [\"variables\", \"fileinto\"];\nset \"a\" \"0123456789\";\n";
  for (int i = 0; i < 40; ++i) script += "set \"a\" \"${a}${a}\";\n";
  script += "set :length \"n\" \"${a}\";\nfileinto \"${n}\";";
  EXPECT_EQ(testing::actions(script), "fileinto:4096");
}

TEST(SieveRobustness, HugeHeaderSetIsFine) {
  std::string header;
  for (int i = 0; i < 2000; ++i) header += "Received: from host" + std::to_string(i) + " by mx; Tue, 1 Apr 1997\r\n";
  header += "\r\n";
  testing::Mail mail(header);
  EXPECT_EQ(testing::actions("if header :matches \"received\" \"*host1999 *\" { discard; }", mail), "discard");
}

}  // namespace
}  // namespace cyr::sieve
