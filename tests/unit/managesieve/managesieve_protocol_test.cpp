// ManageSieve syntax: the parser driven the way the session drives it
// (lines, literals kept or skipped), the formatters, argument shapes,
// script names and the SIEVE extension list.
#include "server/managesieve/managesieve_protocol.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "store/store.h"

namespace cyr::managesieve {
namespace {

// What the session makes of one command.
struct Outcome {
  std::optional<Command> command;
  std::optional<Response> failure;
  bool close = false;
  bool line_too_long = false;  // a first line over max_line (the command loop's answer)
};

// Plays the session's part over a whole input: cuts lines (CRLF or LF) and
// literals out of it exactly as Connection::read_line / read_exact would,
// and records each command's outcome. Stops at a close or when the input
// runs out in the middle of something.
class Driver {
 public:
  explicit Driver(std::string input, ParserLimits limits = {}) : in_(std::move(input)), parser_(limits) {}

  std::vector<Outcome> run(CommandParser::Mode mode = CommandParser::Mode::Command) {
    std::vector<Outcome> out;
    for (int guard = 0; guard < 10000 && pos_ < in_.size(); ++guard) {
      auto line = read_line();
      if (!line) break;
      if (too_long_) {
        out.push_back(Outcome{std::nullopt, std::nullopt, false, true});
        continue;
      }
      auto step = complete(parser_.start(*line, mode));
      if (!step) break;
      if (auto* f = std::get_if<CommandParser::Failed>(&*step)) {
        out.push_back(Outcome{std::nullopt, f->response, f->close, false});
        if (f->close) break;
        continue;
      }
      out.push_back(Outcome{std::get<CommandParser::Complete>(*step).command, std::nullopt, false, false});
    }
    return out;
  }

  uint64_t discarded() const { return discarded_; }

 private:
  std::optional<CommandParser::Step> complete(CommandParser::Step step) {
    for (int guard = 0; guard < 1000; ++guard) {
      if (auto* lit = std::get_if<CommandParser::NeedLiteral>(&step)) {
        if (in_.size() - pos_ < lit->size) return std::nullopt;
        std::string octets = in_.substr(pos_, lit->size);
        pos_ += lit->size;
        if (lit->discard) {
          discarded_ += lit->size;
          step = parser_.literal_skipped();
        } else {
          step = parser_.feed_literal(std::move(octets));
        }
        continue;
      }
      if (std::holds_alternative<CommandParser::NeedLine>(step)) {
        auto line = read_line();
        if (!line) return std::nullopt;
        step = too_long_ ? parser_.line_too_long() : parser_.feed_line(*line);
        continue;
      }
      return step;
    }
    ADD_FAILURE() << "parser loop did not end";
    return std::nullopt;
  }

  std::optional<std::string> read_line() {
    size_t nl = in_.find('\n', pos_);
    if (nl == std::string::npos) return std::nullopt;
    std::string line = in_.substr(pos_, nl - pos_);
    pos_ = nl + 1;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    too_long_ = line.size() > parser_.limits().max_line;
    return line;
  }

  std::string in_;
  size_t pos_ = 0;
  bool too_long_ = false;
  uint64_t discarded_ = 0;
  CommandParser parser_;
};

std::vector<Outcome> drive(std::string input, ParserLimits limits = {}) {
  return Driver(std::move(input), limits).run();
}

Command only_command(std::string input) {
  auto out = drive(std::move(input));
  EXPECT_EQ(out.size(), 1u);
  if (out.empty() || !out[0].command) {
    ADD_FAILURE() << "no command; failure: " << (out.empty() || !out[0].failure ? "" : out[0].failure->text);
    return {};
  }
  return *out[0].command;
}

std::string only_failure(std::string input, ParserLimits limits = {}) {
  auto out = drive(std::move(input), limits);
  EXPECT_EQ(out.size(), 1u);
  if (out.empty() || !out[0].failure) {
    ADD_FAILURE() << "expected a failure";
    return {};
  }
  return out[0].failure->text;
}

// ---- commands and arguments ---------------------------------------------------

TEST(Parser, VerbIsCaseInsensitive) {
  EXPECT_EQ(only_command("capability\r\n").name, "CAPABILITY");
  EXPECT_EQ(only_command("LogOut\n").name, "LOGOUT");  // bare LF too
  EXPECT_TRUE(only_command("NOOP\r\n").args.empty());
}

TEST(Parser, QuotedStringsWithEscapes) {
  Command c = only_command("PUTSCRIPT \"a\\\"b\\\\c\" \"\"\r\n");
  ASSERT_EQ(c.args.size(), 2u);
  EXPECT_EQ(c.args[0].kind, Argument::Kind::String);
  EXPECT_EQ(c.args[0].text, "a\"b\\c");
  EXPECT_FALSE(c.args[0].literal);
  EXPECT_EQ(c.args[1].text, "");
}

TEST(Parser, QuotedStringMayHoldUtf8) {
  Command c = only_command("GETSCRIPT \"\xc3\x9c" "ber\"\r\n");
  ASSERT_EQ(c.args.size(), 1u);
  EXPECT_EQ(c.args[0].text, "\xc3\x9c" "ber");
}

TEST(Parser, BadQuotedStrings) {
  EXPECT_EQ(only_failure("GETSCRIPT \"a\\nb\"\r\n"), "Invalid escape in quoted string");
  EXPECT_EQ(only_failure("GETSCRIPT \"abc\r\n"), "Unterminated quoted string");
  EXPECT_EQ(only_failure("GETSCRIPT \"\xff\xfe\"\r\n"), "Quoted string is not UTF-8");
  EXPECT_EQ(only_failure(std::string("GETSCRIPT \"a\0b\"\r\n", 17)), "Invalid character in quoted string");
  EXPECT_EQ(only_failure("GETSCRIPT \"a\"\"b\"\r\n"), "Expected a space between arguments");
}

TEST(Parser, NonSynchronizingAndSynchronizingLiterals) {
  for (std::string marker : {"{5+}", "{5}"}) {
    Command c = only_command("PUTSCRIPT \"s\" " + marker + "\r\nhello\r\n");
    ASSERT_EQ(c.args.size(), 2u) << marker;
    EXPECT_EQ(c.args[1].text, "hello");
    EXPECT_TRUE(c.args[1].literal);
  }
}

TEST(Parser, LiteralOctetsAreTakenVerbatim) {
  std::string script = "if true {\r\n  keep;\r\n}\r\n\"{3+}\r\n\\";
  Command c = only_command("PUTSCRIPT \"s\" {" + std::to_string(script.size()) + "+}\r\n" + script + "\r\n");
  ASSERT_EQ(c.args.size(), 2u);
  EXPECT_EQ(c.args[1].text, script);
}

TEST(Parser, SeveralLiteralsInOneCommand) {
  Command c = only_command("RENAMESCRIPT {1+}\r\na {2}\r\nbc\r\n");
  ASSERT_EQ(c.args.size(), 2u);
  EXPECT_EQ(c.args[0].text, "a");
  EXPECT_EQ(c.args[1].text, "bc");
}

TEST(Parser, EmptyLiteral) {
  Command c = only_command("CHECKSCRIPT {0+}\r\n\r\n");
  ASSERT_EQ(c.args.size(), 1u);
  EXPECT_EQ(c.args[0].text, "");
}

TEST(Parser, NumbersAndAtoms) {
  Command c = only_command("HAVESPACE \"x\" 4294967295\r\n");
  ASSERT_EQ(c.args.size(), 2u);
  EXPECT_EQ(c.args[1].kind, Argument::Kind::Number);
  EXPECT_EQ(c.args[1].number, 4294967295u);
  EXPECT_EQ(only_failure("HAVESPACE \"x\" 4294967296\r\n"), "Number too large");
  EXPECT_EQ(only_failure("HAVESPACE \"x\" 99999999999999999999999\r\n"), "Number too large");
  Command a = only_command("AUTHENTICATE PLAIN 12ab\r\n");
  ASSERT_EQ(a.args.size(), 2u);
  EXPECT_EQ(a.args[0].kind, Argument::Kind::Atom);
  EXPECT_EQ(a.args[1].kind, Argument::Kind::Atom);
}

TEST(Parser, TrailingSpacesAreTolerated) {
  Command c = only_command("GETSCRIPT  \"x\"  \r\n");
  ASSERT_EQ(c.args.size(), 1u);
}

TEST(Parser, BadCommandLines) {
  EXPECT_EQ(only_failure("\r\n"), "Empty command");
  EXPECT_EQ(only_failure(" NOOP\r\n"), "Expected a command");
  EXPECT_EQ(only_failure("\"NOOP\"\r\n"), "Expected a command");
  EXPECT_EQ(only_failure("NOOP (x)\r\n"), "Unexpected character in command");
  EXPECT_EQ(only_failure("NOOP \"a\" \"b\" \"c\" \"d\" \"e\"\r\n"), "Too many arguments");
  EXPECT_EQ(only_failure("NOOP {5x}\r\n"), "A literal must be {N} or {N+} at the end of a line");
}

// ---- staying in step after errors -----------------------------------------------

TEST(Recovery, BadCommandsLiteralIsSkipped) {
  auto out = drive("PUTSCRIPT \"a\" junk( {5+}\r\nhello\r\nNOOP\r\n");
  ASSERT_EQ(out.size(), 2u);
  ASSERT_TRUE(out[0].failure);
  EXPECT_FALSE(out[0].close);
  ASSERT_TRUE(out[1].command);
  EXPECT_EQ(out[1].command->name, "NOOP");
}

TEST(Recovery, EveryLiteralOfABadCommandIsSkipped) {
  // The error is in the first line; the command still announces two more
  // literals, whose octets look like commands.
  auto out = drive("NOOP ( {6+}\r\nLOGOUT {8+}\r\nLOGOUT\r\n\r\nCAPABILITY\r\n");
  ASSERT_EQ(out.size(), 2u);
  EXPECT_TRUE(out[0].failure);
  ASSERT_TRUE(out[1].command);
  EXPECT_EQ(out[1].command->name, "CAPABILITY");
}

TEST(Recovery, ErrorAfterALiteral) {
  auto out = drive("PUTSCRIPT {1+}\r\na ((\r\nNOOP\r\n");
  ASSERT_EQ(out.size(), 2u);
  ASSERT_TRUE(out[0].failure);
  EXPECT_EQ(out[0].failure->text, "Unexpected character in command");
  EXPECT_EQ(out[1].command->name, "NOOP");
}

TEST(Recovery, TooManyArgumentsAsLiterals) {
  ParserLimits limits;
  limits.max_args = 2;
  auto out = drive("PUTSCRIPT {1+}\r\na {1+}\r\nb {1+}\r\nc\r\nNOOP\r\n", limits);
  ASSERT_EQ(out.size(), 2u);
  ASSERT_TRUE(out[0].failure);
  EXPECT_EQ(out[0].failure->text, "Too many arguments");
  EXPECT_EQ(out[1].command->name, "NOOP");
}

TEST(Recovery, OverLongFirstLineLeavesTheSessionUsable) {
  ParserLimits limits;
  limits.max_line = 64;
  auto out = drive("NOOP \"" + std::string(200, 'x') + "\"\r\nNOOP \"t\"\r\n", limits);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_TRUE(out[0].line_too_long);
  ASSERT_TRUE(out[1].command);
  EXPECT_EQ(out[1].command->args[0].text, "t");
}

TEST(Recovery, OverLongLineAfterALiteral) {
  ParserLimits limits;
  limits.max_line = 64;
  auto out = drive("PUTSCRIPT {1+}\r\na " + std::string(100, 'x') + "\r\nNOOP\r\n", limits);
  ASSERT_EQ(out.size(), 2u);
  ASSERT_TRUE(out[0].failure);
  EXPECT_EQ(out[0].failure->text, "Line too long");
  EXPECT_EQ(out[1].command->name, "NOOP");
}

// ---- literal bounds ---------------------------------------------------------------

TEST(Limits, OversizedScriptLiteralIsReadAndDropped) {
  ParserLimits limits;
  limits.max_literal = 10;
  Driver d("PUTSCRIPT \"a\" {20+}\r\n" + std::string(20, 'k') + "\r\nNOOP\r\n", limits);
  auto out = d.run();
  ASSERT_EQ(out.size(), 2u);
  ASSERT_TRUE(out[0].failure);
  EXPECT_EQ(out[0].failure->code, Code::QuotaMaxSize);
  EXPECT_EQ(out[0].failure->kind, Response::Kind::No);
  EXPECT_FALSE(out[0].close);
  EXPECT_EQ(d.discarded(), 20u);
  EXPECT_EQ(out[1].command->name, "NOOP");
}

TEST(Limits, OversizedOtherLiteralHasNoQuotaCode) {
  ParserLimits limits;
  limits.max_literal = 10;
  auto out = drive("GETSCRIPT {20+}\r\n" + std::string(20, 'k') + "\r\n", limits);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].failure->code, Code::None);
  EXPECT_EQ(out[0].failure->text, "Literal too large");
}

TEST(Limits, LiteralAtTheBoundIsKept) {
  ParserLimits limits;
  limits.max_literal = 10;
  auto out = drive("CHECKSCRIPT {10+}\r\n0123456789\r\n", limits);
  ASSERT_EQ(out.size(), 1u);
  ASSERT_TRUE(out[0].command);
  EXPECT_EQ(out[0].command->args[0].text, "0123456789");
}

TEST(Limits, AbsurdLiteralClosesTheConnection) {
  auto out = drive("PUTSCRIPT \"a\" {999999999999+}\r\nNOOP\r\n");
  ASSERT_EQ(out.size(), 1u);
  ASSERT_TRUE(out[0].failure);
  EXPECT_TRUE(out[0].close);
  EXPECT_EQ(out[0].failure->kind, Response::Kind::Bye);
  // Even a size that does not fit 64 bits.
  auto huge = drive("PUTSCRIPT \"a\" {99999999999999999999999999+}\r\n");
  ASSERT_EQ(huge.size(), 1u);
  EXPECT_TRUE(huge[0].close);
  // And in a command that is already bad.
  auto bad = drive("PUTSCRIPT ( {999999999999+}\r\n");
  ASSERT_EQ(bad.size(), 1u);
  EXPECT_TRUE(bad[0].close);
}

TEST(Limits, EndlessChainOfLiteralsIsCut) {
  ParserLimits limits;
  limits.max_lines = 4;
  std::string in = "NOOP (";
  for (int i = 0; i < 10; ++i) in += " {1+}\r\nx";
  in += "\r\n";
  auto out = drive(in, limits);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_TRUE(out[0].close);
  EXPECT_EQ(out[0].failure->kind, Response::Kind::Bye);
}

// ---- SASL responses ------------------------------------------------------------------

TEST(Sasl, ResponseAsQuotedLiteralOrAtom) {
  for (std::string in : {"\"dGVzdA==\"\r\n", "{8+}\r\ndGVzdA==\r\n", "dGVzdA==\r\n", "{8}\r\ndGVzdA==\r\n"}) {
    auto out = Driver(in).run(CommandParser::Mode::SaslResponse);
    ASSERT_EQ(out.size(), 1u) << in;
    ASSERT_TRUE(out[0].command) << in;
    EXPECT_EQ(out[0].command->name, "");
    ASSERT_EQ(out[0].command->args.size(), 1u);
    EXPECT_EQ(out[0].command->args[0].text, "dGVzdA==");
  }
  auto abort = Driver("\"*\"\r\n").run(CommandParser::Mode::SaslResponse);
  ASSERT_TRUE(abort[0].command);
  EXPECT_EQ(abort[0].command->args[0].text, "*");
  auto empty = Driver("\"\"\r\n").run(CommandParser::Mode::SaslResponse);
  ASSERT_TRUE(empty[0].command);
  EXPECT_EQ(empty[0].command->args[0].text, "");
}

// ---- robustness ---------------------------------------------------------------------

TEST(Robustness, RandomInputAlwaysEndsAndResynchronises) {
  std::mt19937 rng(20240531);
  const std::string alphabet = "{}+\"\\ ()0123456789aZ*\r\n\xc3\xff";
  ParserLimits limits;
  limits.max_line = 80;
  limits.max_literal = 16;
  limits.max_discard = 64;
  for (int round = 0; round < 2000; ++round) {
    std::string junk;
    size_t n = rng() % 60;
    for (size_t i = 0; i < n; ++i) junk += alphabet[rng() % alphabet.size()];
    // Whatever the junk was, once it is over a plain line is a command again:
    // enough CRLFs to end any literal it announced (at most max_literal
    // octets each, a few of them).
    std::string tail;
    for (int i = 0; i < 600; ++i) tail += "\r\n";
    Driver d(junk + "\r\n" + tail + "NOOP \"end\"\r\n", limits);
    auto out = d.run();
    ASSERT_FALSE(out.empty());
    if (out.back().close) continue;  // an absurd literal or too many lines: BYE
    ASSERT_TRUE(out.back().command) << junk;
    EXPECT_EQ(out.back().command->name, "NOOP") << junk;
  }
}

// ---- formatting -------------------------------------------------------------------------

TEST(Format, StringsQuotedWhenSafe) {
  EXPECT_EQ(format_string("abc"), "\"abc\"");
  EXPECT_EQ(format_string(""), "\"\"");
  EXPECT_EQ(format_string("a\"b\\c"), "\"a\\\"b\\\\c\"");
  EXPECT_EQ(format_string("\xc3\x9c"), "\"\xc3\x9c\"");
  EXPECT_EQ(format_string("line 1\r\nline 2"), "{14}\r\nline 1\r\nline 2");
  EXPECT_EQ(format_string("\xff"), "{1}\r\n\xff");
  EXPECT_EQ(format_string(std::string("a\0b", 3)), std::string("{3}\r\na\0b", 8));
  EXPECT_EQ(format_string(std::string(1024, 'x')).front(), '"');
  EXPECT_EQ(format_string(std::string(1025, 'x')).substr(0, 8), "{1025}\r\n");
  EXPECT_EQ(format_literal("ab"), "{2}\r\nab");
}

TEST(Format, WhatIsFormattedParsesBack) {
  std::mt19937 rng(7);
  for (int round = 0; round < 500; ++round) {
    std::string s;
    size_t n = rng() % 40;
    for (size_t i = 0; i < n; ++i) s += static_cast<char>(rng() % 256);
    if (round % 3 == 0) s.assign(rng() % 2000, 'q');
    auto out = drive("NOOP " + format_string(s) + "\r\n");
    ASSERT_EQ(out.size(), 1u);
    ASSERT_TRUE(out[0].command);
    ASSERT_EQ(out[0].command->args.size(), 1u);
    EXPECT_EQ(out[0].command->args[0].text, s);
  }
}

TEST(Format, Responses) {
  EXPECT_EQ(format_response(Response::ok("")), "OK\r\n");
  EXPECT_EQ(format_response(Response::ok("Done", Code::Tag, "t1")), "OK (TAG \"t1\") \"Done\"\r\n");
  EXPECT_EQ(format_response(Response::ok("", Code::Sasl, "dj1h")), "OK (SASL \"dj1h\")\r\n");
  EXPECT_EQ(format_response(Response::no("Too big", Code::QuotaMaxSize)), "NO (QUOTA/MAXSIZE) \"Too big\"\r\n");
  EXPECT_EQ(format_response(Response::no("x", Code::QuotaMaxScripts)), "NO (QUOTA/MAXSCRIPTS) \"x\"\r\n");
  EXPECT_EQ(format_response(Response::no("later", Code::TryLater)), "NO (TRYLATER) \"later\"\r\n");
  EXPECT_EQ(format_response(Response::no("", Code::Active)), "NO (ACTIVE)\r\n");
  EXPECT_EQ(format_response(Response::no("line 3: bad\nline 4: worse")),
            "NO {25}\r\nline 3: bad\nline 4: worse\r\n");
  EXPECT_EQ(format_response(Response::bye("Server shutting down", Code::TryLater)),
            "BYE (TRYLATER) \"Server shutting down\"\r\n");
  for (Code c : {Code::AuthTooWeak, Code::EncryptNeeded, Code::Quota, Code::Referral, Code::TransitionNeeded,
                 Code::Nonexistent, Code::AlreadyExists, Code::Warnings})
    EXPECT_FALSE(code_name(c).empty());
}

TEST(Format, Capabilities) {
  Capabilities caps;
  caps.implementation = "Impl";
  caps.sasl = std::vector<std::string>{"PLAIN", "SCRAM-SHA-256"};
  caps.sieve = {"fileinto", "vacation"};
  caps.starttls = true;
  caps.max_redirects = 5;
  caps.unauthenticate = true;
  EXPECT_EQ(format_capabilities(caps),
            "\"IMPLEMENTATION\" \"Impl\"\r\n"
            "\"SASL\" \"PLAIN SCRAM-SHA-256\"\r\n"
            "\"SIEVE\" \"fileinto vacation\"\r\n"
            "\"STARTTLS\"\r\n"
            "\"MAXREDIRECTS\" \"5\"\r\n"
            "\"UNAUTHENTICATE\"\r\n"
            "\"VERSION\" \"1.0\"\r\n");
  caps.sasl.reset();
  caps.starttls = false;
  caps.owner = "fred";
  std::string after = format_capabilities(caps);
  EXPECT_EQ(after.find("\"SASL\""), std::string::npos);
  EXPECT_NE(after.find("\"OWNER\" \"fred\"\r\n"), std::string::npos);
  caps.sasl = std::vector<std::string>{};
  EXPECT_NE(format_capabilities(caps).find("\"SASL\" \"\"\r\n"), std::string::npos);
}

// ---- argument shapes --------------------------------------------------------------------

TEST(Arguments, Shapes) {
  auto cmd = [](std::string line) { return only_command(line + "\r\n"); };
  EXPECT_TRUE(arguments_match(cmd("PUTSCRIPT \"a\" {1+}\r\nb"), "ss"));
  EXPECT_FALSE(arguments_match(cmd("PUTSCRIPT \"a\""), "ss"));
  EXPECT_FALSE(arguments_match(cmd("PUTSCRIPT \"a\" \"b\" \"c\""), "ss"));
  EXPECT_FALSE(arguments_match(cmd("PUTSCRIPT a \"b\""), "ss"));
  EXPECT_TRUE(arguments_match(cmd("HAVESPACE \"a\" 10"), "sn"));
  EXPECT_FALSE(arguments_match(cmd("HAVESPACE \"a\" \"10\""), "sn"));
  EXPECT_TRUE(arguments_match(cmd("AUTHENTICATE \"PLAIN\""), "ws?"));
  EXPECT_TRUE(arguments_match(cmd("AUTHENTICATE PLAIN \"eA==\""), "ws?"));
  EXPECT_FALSE(arguments_match(cmd("AUTHENTICATE"), "ws?"));
  EXPECT_FALSE(arguments_match(cmd("AUTHENTICATE 12"), "ws?"));
  EXPECT_TRUE(arguments_match(cmd("NOOP"), "s?"));
  EXPECT_TRUE(arguments_match(cmd("NOOP \"t\""), "s?"));
  EXPECT_FALSE(arguments_match(cmd("NOOP \"t\" \"u\""), "s?"));
  EXPECT_TRUE(arguments_match(cmd("LOGOUT"), ""));
  EXPECT_FALSE(arguments_match(cmd("LOGOUT \"x\""), ""));
}

// ---- script names -----------------------------------------------------------------------

TEST(ScriptNames, Rules) {
  EXPECT_TRUE(store::validate_sieve_script_name("vacation").ok());
  EXPECT_TRUE(store::validate_sieve_script_name("My filters (2024)").ok());
  EXPECT_TRUE(store::validate_sieve_script_name("\xc3\x9c" "ber").ok());
  EXPECT_TRUE(store::validate_sieve_script_name(std::string(512, 'a')).ok());
  EXPECT_FALSE(store::validate_sieve_script_name("").ok());
  EXPECT_FALSE(store::validate_sieve_script_name(std::string(513, 'a')).ok());
  EXPECT_FALSE(store::validate_sieve_script_name("a/b").ok());
  EXPECT_FALSE(store::validate_sieve_script_name("a\tb").ok());
  EXPECT_FALSE(store::validate_sieve_script_name("a\x7f").ok());
  EXPECT_FALSE(store::validate_sieve_script_name("a\xc2\x85" "b").ok());       // U+0085
  EXPECT_FALSE(store::validate_sieve_script_name("a\xe2\x80\xa8" "b").ok());   // U+2028
  EXPECT_TRUE(store::validate_sieve_script_name("a\xe2\x80\x93" "b").ok());    // U+2013 is fine
  EXPECT_FALSE(store::validate_sieve_script_name("a\xff" "b").ok());
  EXPECT_EQ(store::validate_sieve_script_name("a/b").error().code, Errc::Invalid);
}

}  // namespace
}  // namespace cyr::managesieve
