// The include extension (RFC 6609): include, return, global.
#include <gtest/gtest.h>

#include <map>

#include "tests/unit/sieve/sieve_test_util.h"

namespace cyr::sieve {
namespace {

using testing::compile_error;
using testing::describe;
using testing::Mail;

// Scripts by scope and name, compiled when loaded (as a delivery would),
// or once and cached (`cache`), which makes a loop visible as the same
// Script.
struct Library {
  std::map<std::pair<IncludeScope, std::string>, std::string> texts;
  std::map<std::pair<IncludeScope, std::string>, std::shared_ptr<const Script>> cache;
  bool use_cache = false;
  int loads = 0;

  void add(const std::string& name, std::string text, IncludeScope scope = IncludeScope::Personal) {
    texts[{scope, name}] = std::move(text);
  }

  void attach(Mail& mail) {
    mail.input.load_script = [this](IncludeScope scope, const std::string& name) -> Result<std::shared_ptr<const Script>> {
      ++loads;
      auto key = std::make_pair(scope, name);
      if (use_cache)
        if (auto it = cache.find(key); it != cache.end()) return it->second;
      auto it = texts.find(key);
      if (it == texts.end()) return Error(Errc::NotFound, "no such script");
      auto compiled = compile(it->second);
      if (!compiled.ok()) return compiled.take_error();
      if (use_cache) cache[key] = *compiled;
      return *compiled;
    };
  }
};

Outcome run_with(const Library& lib_in, std::string_view main, const Limits& limits = {}) {
  // Library is captured by pointer; keep a copy alive for the run.
  Library lib = lib_in;
  Mail mail;
  lib.attach(mail);
  auto script = testing::compile_ok(main);
  if (!script) {
    Outcome failed;
    failed.errors.push_back("did not compile");
    return failed;
  }
  return evaluate(*script, mail.input, limits);
}

std::string run_actions(const Library& lib, std::string_view main, const Limits& limits = {}) {
  return describe(run_with(lib, main, limits));
}

std::string first_error(const Library& lib, std::string_view main, const Limits& limits = {}) {
  auto out = run_with(lib, main, limits);
  return out.errors.empty() ? "" : out.errors[0];
}

TEST(SieveInclude, Syntax) {
  EXPECT_EQ(compile_error("include \"a\";"), "line 1: include needs require \"include\"");
  EXPECT_EQ(compile_error("require \"include\";\ninclude :personal :once :optional \"a\";\nreturn;"), "");
  EXPECT_EQ(compile_error("require \"include\";\ninclude :global \"a\";"), "");
  EXPECT_EQ(compile_error("require \"include\";\ninclude :personal :global \"a\";"),
            "line 2: include takes :personal or :global, not both");
  EXPECT_EQ(compile_error("require \"include\";\ninclude \"../etc/passwd\";"),
            "line 2: include: \"../etc/passwd\" is not a valid script name");
  EXPECT_EQ(compile_error("require \"include\";\ninclude \"\";"), "line 2: include: \"\" is not a valid script name");
  EXPECT_EQ(compile_error("require [\"include\", \"encoded-character\"];\ninclude \"a${hex:0a}b\";"),
            "line 2: include: \"a\nb\" is not a valid script name");
  EXPECT_EQ(compile_error("require \"include\";\ninclude \"" + std::string(513, 'a') + "\";").rfind("line 2: include: ", 0),
            0u);
  EXPECT_EQ(compile_error("require \"include\";\ninclude \"caf\xc3\xa9 rules\";"), "");
  // RFC 6609 3.2: no variables in the name.
  EXPECT_EQ(compile_error("require [\"include\", \"variables\"];\ninclude \"${name}\";"),
            "line 2: include: the script name cannot contain variables");
  // Without variables, "${" is just text.
  EXPECT_EQ(compile_error("require \"include\";\ninclude \"${name}\";"), "");
  EXPECT_EQ(compile_error("require \"include\";\nreturn \"x\";"), "line 2: return expects 0 arguments, got 1");
  // global needs variables too, and identifiers.
  EXPECT_EQ(compile_error("require \"include\";\nglobal \"x\";"), "line 2: global needs require \"variables\"");
  EXPECT_EQ(compile_error("require [\"include\", \"variables\"];\nglobal [\"x\", \"y_2\"];"), "");
  EXPECT_EQ(compile_error("require [\"include\", \"variables\"];\nglobal \"1x\";"),
            "line 2: global: \"1x\" is not a variable name");
  // The global namespace (RFC 6609 3.5) exists only with include.
  EXPECT_EQ(compile_error("require [\"include\", \"variables\"];\nset \"global.x\" \"1\";\n"
                          "if string \"${global.x}\" \"1\" { keep; }"),
            "");
  EXPECT_EQ(compile_error("require \"variables\";\nset \"global.x\" \"1\";"),
            "line 2: set: \"global.x\" is not a variable name");
  EXPECT_EQ(compile_error("require \"variables\";\nif string \"${global.x}\" \"1\" { keep; }"),
            "line 2: unknown variable namespace in ${global.x}");
  EXPECT_EQ(compile_error("require [\"include\", \"variables\"];\nif string \"${global.a.b}\" \"1\" { keep; }"),
            "line 2: unknown variable namespace in ${global.a.b}");
}

TEST(SieveInclude, ActionsMergeAndImplicitKeepIsTheRuns) {
  Library lib;
  lib.add("spam", "require \"fileinto\";\nif header :contains \"subject\" \"present\" { fileinto \"Junk\"; }");
  lib.add("keep", "keep;");
  // The included fileinto cancels the implicit keep of the whole run.
  EXPECT_EQ(run_actions(lib, "require \"include\";\ninclude \"spam\";"), "fileinto:Junk");
  // Actions of both, in order, merged as usual.
  EXPECT_EQ(run_actions(lib, "require [\"include\", \"fileinto\"];\nfileinto \"A\";\ninclude \"spam\";\n"
                             "fileinto \"Junk\";\ninclude \"keep\";\nkeep;"),
            "fileinto:A, fileinto:Junk, keep");
  // An included script that does nothing leaves the implicit keep.
  lib.add("nothing", "if false { discard; }");
  EXPECT_EQ(run_actions(lib, "require \"include\";\ninclude \"nothing\";"), "implicit-keep");
}

TEST(SieveInclude, PersonalAndGlobalAreDifferentScripts) {
  Library lib;
  lib.add("rules", "require \"fileinto\";\nfileinto \"personal\";");
  lib.add("rules", "require \"fileinto\";\nfileinto \"global\";", IncludeScope::Global);
  EXPECT_EQ(run_actions(lib, "require \"include\";\ninclude \"rules\";"), "fileinto:personal");
  EXPECT_EQ(run_actions(lib, "require \"include\";\ninclude :personal \"rules\";"), "fileinto:personal");
  EXPECT_EQ(run_actions(lib, "require \"include\";\ninclude :global \"rules\";"), "fileinto:global");
  // Both: not a loop, two scripts.
  EXPECT_EQ(run_actions(lib, "require \"include\";\ninclude :global \"rules\";\ninclude \"rules\";"),
            "fileinto:global, fileinto:personal");
}

TEST(SieveInclude, MissingOptionalAndLoadErrors) {
  Library lib;
  EXPECT_EQ(run_actions(lib, "require [\"include\", \"fileinto\"];\nfileinto \"x\";\ninclude \"nope\";"),
            "implicit-keep !error");
  EXPECT_EQ(first_error(lib, "require \"include\";\ninclude \"nope\";"), "line 2: include: script \"nope\" not found");
  EXPECT_EQ(run_actions(lib, "require [\"include\", \"fileinto\"];\ninclude :optional \"nope\";\nfileinto \"x\";"),
            "fileinto:x");
  // A script that no longer compiles is a runtime error, :optional or not.
  lib.add("broken", "frobnicate;");
  EXPECT_EQ(first_error(lib, "require \"include\";\ninclude :optional \"broken\";"),
            "line 2: include: script \"broken\": line 1: unknown command \"frobnicate\"");
  // No loader at all: nothing is ever found.
  Mail mail;
  auto script = testing::compile_ok("require \"include\";\ninclude :optional \"a\";\ninclude \"b\";");
  auto out = evaluate(*script, mail.input);
  ASSERT_EQ(out.errors.size(), 1u);
  EXPECT_EQ(out.errors[0], "line 3: include: script \"b\" not found");
}

TEST(SieveInclude, Loops) {
  for (bool cache : {false, true}) {
    Library lib;
    lib.use_cache = cache;
    lib.add("self", "require \"include\";\ninclude \"self\";");
    lib.add("a", "require \"include\";\ninclude \"b\";");
    lib.add("b", "require \"include\";\n\ninclude \"a\";");
    EXPECT_EQ(first_error(lib, "require \"include\";\ninclude \"self\";"),
              "script \"self\" line 2: include loop: script \"self\" includes itself");
    EXPECT_EQ(first_error(lib, "require \"include\";\ninclude \"a\";"),
              "script \"b\" line 3: include loop: script \"a\" includes itself");
    EXPECT_EQ(run_actions(lib, "require [\"include\", \"fileinto\"];\nfileinto \"x\";\ninclude \"a\";"),
              "implicit-keep !error");
    // :once does not hide a loop (only a finished include is skipped).
    lib.add("once", "require \"include\";\ninclude :once \"once\";");
    EXPECT_EQ(first_error(lib, "require \"include\";\ninclude \"once\";"),
              "script \"once\" line 2: include loop: script \"once\" includes itself");
  }
  // The main script included by itself (the loader hands back the same
  // compiled script): a loop too.
  auto main = testing::compile_ok("require \"include\";\ninclude \"main\";");
  Mail mail;
  mail.input.load_script = [&](IncludeScope, const std::string&) -> Result<std::shared_ptr<const Script>> {
    return main;
  };
  auto out = evaluate(*main, mail.input);
  ASSERT_EQ(out.errors.size(), 1u);
  EXPECT_EQ(out.errors[0], "line 2: include loop: script \"main\" includes itself");
}

TEST(SieveInclude, DepthAndCountAreBounded) {
  Library lib;
  // s1 includes s2 ... s6 includes s7.
  for (int i = 1; i <= 7; ++i)
    lib.add("s" + std::to_string(i), i < 7 ? "require \"include\";\ninclude \"s" + std::to_string(i + 1) + "\";"
                                           : "require \"fileinto\";\nfileinto \"deep\";");
  lib.add("s6", "require \"include\";\ninclude \"s7\";");
  // Depth 5 (main includes s3, ..., s7) is allowed; 6 is not.
  EXPECT_EQ(run_actions(lib, "require \"include\";\ninclude \"s3\";"), "fileinto:deep");
  EXPECT_EQ(first_error(lib, "require \"include\";\ninclude \"s2\";"),
            "script \"s6\" line 2: includes nested deeper than 5");
  Limits shallow;
  shallow.max_include_depth = 1;
  EXPECT_EQ(run_actions(lib, "require \"include\";\ninclude \"s7\";", shallow), "fileinto:deep");
  EXPECT_EQ(first_error(lib, "require \"include\";\ninclude \"s6\";", shallow),
            "script \"s6\" line 2: includes nested deeper than 1");

  lib.add("flag", "require [\"imap4flags\"];\naddflag \"x\";");
  std::string many = "require \"include\";\n";
  for (int i = 0; i < 16; ++i) many += "include \"flag\";\n";
  EXPECT_EQ(run_actions(lib, many), "implicit-keep[x]");
  EXPECT_EQ(first_error(lib, many + "include \"flag\";"), "line 18: more than 16 includes");
  // :once skips without counting.
  std::string once = "require \"include\";\n";
  for (int i = 0; i < 40; ++i) once += "include :once \"flag\";\n";
  EXPECT_EQ(run_actions(lib, once), "implicit-keep[x]");
}

TEST(SieveInclude, OnceSkipsAScriptAlreadyIncluded) {
  Library lib;
  lib.add("count", "require [\"include\", \"variables\"];\nglobal \"n\";\nset \"n\" \"${n}x\";");
  const char* req = "require [\"include\", \"variables\", \"fileinto\"];\nglobal \"n\";\n";
  EXPECT_EQ(run_actions(lib, std::string(req) + "include \"count\";\ninclude \"count\";\nfileinto \"${n}\";"),
            "fileinto:xx");
  EXPECT_EQ(run_actions(lib, std::string(req) + "include \"count\";\ninclude :once \"count\";\nfileinto \"${n}\";"),
            "fileinto:x");
  EXPECT_EQ(run_actions(lib, std::string(req) +
                                 "include :once \"count\";\ninclude :once \"count\";\ninclude \"count\";\n"
                                 "fileinto \"${n}\";"),
            "fileinto:xx");
}

TEST(SieveInclude, ReturnAndStop) {
  Library lib;
  lib.add("ret", "require [\"include\", \"fileinto\"];\nfileinto \"a\";\nif true { return; }\nfileinto \"b\";");
  lib.add("stop", "require \"fileinto\";\nfileinto \"a\";\nstop;");
  // return ends the included script only.
  EXPECT_EQ(run_actions(lib, "require [\"include\", \"fileinto\"];\ninclude \"ret\";\nfileinto \"c\";"),
            "fileinto:a, fileinto:c");
  // stop ends everything.
  EXPECT_EQ(run_actions(lib, "require [\"include\", \"fileinto\"];\ninclude \"stop\";\nfileinto \"c\";"),
            "fileinto:a");
  // In the main script return is stop.
  EXPECT_EQ(run_actions(lib, "require [\"include\", \"fileinto\"];\nfileinto \"a\";\nreturn;\nfileinto \"b\";"),
            "fileinto:a");
  EXPECT_EQ(run_actions(lib, "require [\"include\"];\nreturn;\ndiscard;"), "implicit-keep");
}

TEST(SieveInclude, VariablesAreLocalUnlessGlobal) {
  Library lib;
  lib.add("child",
          "require [\"include\", \"variables\", \"fileinto\"];\nglobal \"shared\";\n"
          "fileinto \"child:${local}|${shared}|${global.other}\";\n"
          "set \"local\" \"child-local\";\nset \"shared\" \"from-child\";\nset \"global.other\" \"other-child\";");
  EXPECT_EQ(run_actions(lib, "require [\"include\", \"variables\", \"fileinto\"];\nglobal \"shared\";\n"
                             "set \"local\" \"main-local\";\nset \"shared\" \"from-main\";\n"
                             "set \"global.other\" \"other-main\";\n"
                             "include \"child\";\n"
                             "fileinto \"main:${local}|${shared}|${other}|${global.other}\";"),
            "fileinto:child:|from-main|other-main, fileinto:main:main-local|from-child||other-child");
  // A name the including script did not declare global stays its own.
  lib.add("setter", "require [\"include\", \"variables\"];\nglobal \"v\";\nset \"v\" \"set\";");
  EXPECT_EQ(run_actions(lib, "require [\"include\", \"variables\", \"fileinto\"];\nset \"v\" \"mine\";\n"
                             "include \"setter\";\nfileinto \"${v}|${global.v}\";"),
            "fileinto:mine|set");
  // Match variables are each script's own.
  lib.add("matcher", "require [\"include\", \"variables\"];\nif string :matches \"inner\" \"*\" { }");
  EXPECT_EQ(run_actions(lib, "require [\"include\", \"variables\", \"fileinto\"];\n"
                             "if string :matches \"outer\" \"*\" { }\ninclude \"matcher\";\nfileinto \"${1}\";"),
            "fileinto:outer");
}

TEST(SieveInclude, ErrorsInsideIncludedScripts) {
  Library lib;
  lib.add("conflict", "require [\"reject\"];\n\nreject \"no\";");
  auto out = run_with(lib, "require [\"include\", \"fileinto\"];\nfileinto \"x\";\ninclude \"conflict\";");
  EXPECT_EQ(describe(out), "implicit-keep !error");
  ASSERT_EQ(out.errors.size(), 1u);
  EXPECT_EQ(out.errors[0],
            "script \"conflict\" line 3: reject cannot be combined with keep, fileinto, redirect or vacation");
  // The action limit counts the whole run.
  lib.add("two", "require \"fileinto\";\nfileinto \"c\";\nfileinto \"d\";");
  Limits limits;
  limits.max_actions = 3;
  EXPECT_EQ(first_error(lib, "require [\"include\", \"fileinto\"];\nfileinto \"a\";\nfileinto \"b\";\ninclude \"two\";",
                        limits),
            "script \"two\" line 3: more than 3 actions");
}

}  // namespace
}  // namespace cyr::sieve
