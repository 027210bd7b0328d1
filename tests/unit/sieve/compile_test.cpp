// compile(): the lexer, the parser, and validation against the command
// table, with the line numbers ManageSieve shows its users.
#include <gtest/gtest.h>

#include "server/sieve/lexer.h"
#include "tests/unit/sieve/sieve_test_util.h"

namespace cyr::sieve {
namespace {

using testing::actions;
using testing::compile_error;
using testing::compile_ok;

std::vector<Token> tokens(std::string_view text) {
  auto r = tokenize(text, Limits{});
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().user_message);
  return r.ok() ? *r : std::vector<Token>{};
}

std::string token_error(std::string_view text, Limits limits = {}) {
  auto r = tokenize(text, limits);
  return r.ok() ? "" : r.error().user_message;
}

// ---------------------------------------------------------------- lexer

TEST(SieveLexer, QuotedStringEscapes) {
  auto t = tokens(R"("a\"b\\c\d")");
  ASSERT_EQ(t.size(), 2u);
  EXPECT_EQ(t[0].kind, Token::Kind::String);
  // \" and \\ are escapes; any other backslash is dropped.
  EXPECT_EQ(t[0].text, "a\"b\\cd");
}

TEST(SieveLexer, QuotedStringMayHoldLineBreaks) {
  auto t = tokens("\"one\r\ntwo\" x");
  ASSERT_EQ(t.size(), 3u);
  EXPECT_EQ(t[0].text, "one\r\ntwo");
  EXPECT_EQ(t[1].line, 2);
}

TEST(SieveLexer, MultiLineStringWithDotStuffing) {
  auto t = tokens("text: # comment here\r\nline one\r\n..dotted\r\n.not end\r\n.\r\n;");
  ASSERT_EQ(t.size(), 3u);
  EXPECT_EQ(t[0].kind, Token::Kind::String);
  EXPECT_EQ(t[0].text, "line one\r\n.dotted\r\n.not end\r\n");
  EXPECT_EQ(t[1].kind, Token::Kind::Semicolon);
  EXPECT_EQ(t[1].line, 6);
}

TEST(SieveLexer, MultiLineStringKeepsBackslashesAndQuotes) {
  auto t = tokens("text:\n\"quoted\" \\n\n.\n");
  ASSERT_EQ(t.size(), 2u);
  EXPECT_EQ(t[0].text, "\"quoted\" \\n\n");
}

TEST(SieveLexer, EmptyMultiLineString) {
  auto t = tokens("text:\r\n.\r\n");
  ASSERT_EQ(t.size(), 2u);
  EXPECT_EQ(t[0].text, "");
}

TEST(SieveLexer, NumbersWithSuffixes) {
  auto t = tokens("0 17 1K 2m 3G 4k");
  ASSERT_EQ(t.size(), 7u);
  EXPECT_EQ(t[0].number, 0u);
  EXPECT_EQ(t[1].number, 17u);
  EXPECT_EQ(t[2].number, 1024u);
  EXPECT_EQ(t[3].number, 2u * 1024 * 1024);
  EXPECT_EQ(t[4].number, 3ull * 1024 * 1024 * 1024);
  EXPECT_EQ(t[5].number, 4096u);
}

TEST(SieveLexer, NumberErrors) {
  EXPECT_EQ(token_error("99999999999999999999"), "line 1: number too large");
  EXPECT_EQ(token_error("\n18446744073709551615G"), "line 2: number too large");
  EXPECT_EQ(token_error("12x"), "line 1: bad number");
}

TEST(SieveLexer, CommentsAndLines) {
  auto t = tokens("# hash comment\n/* bracket\n comment */ keep; /**/\n:Tag");
  ASSERT_EQ(t.size(), 4u);
  EXPECT_EQ(t[0].kind, Token::Kind::Identifier);
  EXPECT_EQ(t[0].text, "keep");
  EXPECT_EQ(t[0].line, 3);
  EXPECT_EQ(t[2].kind, Token::Kind::Tag);
  EXPECT_EQ(t[2].text, "tag");
  EXPECT_EQ(t[2].line, 4);
}

TEST(SieveLexer, Errors) {
  EXPECT_EQ(token_error("keep;\n\"abc"), "line 2: unterminated string");
  EXPECT_EQ(token_error("\"abc\\"), "line 1: unterminated string");
  EXPECT_EQ(token_error("keep;\n\n/* never closed"), "line 3: unterminated comment");
  EXPECT_EQ(token_error("text:\r\nabc\r\n"), "line 1: unterminated text: string (no line with a single '.')");
  EXPECT_EQ(token_error("text: x\r\nabc\r\n.\r\n"), "line 1: expected a line break after text:");
  EXPECT_EQ(token_error("\n\nkeep @"), "line 3: unexpected character '@'");
  EXPECT_EQ(token_error(": x"), "line 1: expected a tag name after ':'");
  // Comments do not nest: the second "*/" is left over.
  EXPECT_EQ(token_error("/* a /* b */ c */"), "line 1: '*/' outside a comment (comments do not nest)");
  EXPECT_EQ(token_error("/* a /* b */ */"), "line 1: '*/' outside a comment (comments do not nest)");
}

TEST(SieveLexer, StringLimit) {
  Limits limits;
  limits.max_string_bytes = 4;
  EXPECT_EQ(token_error("\"abcd\"", limits), "");
  EXPECT_EQ(token_error("\n\"abcde\"", limits), "line 2: string longer than 4 bytes");
  EXPECT_EQ(token_error("text:\r\nabcdef\r\n.\r\n", limits), "line 1: string longer than 4 bytes");
}

// ---------------------------------------------------------------- parser

TEST(SieveCompile, EmptyAndTrivialScripts) {
  EXPECT_TRUE(compile_ok(""));
  EXPECT_TRUE(compile_ok("# nothing\n"));
  EXPECT_TRUE(compile_ok("keep;"));
  EXPECT_TRUE(compile_ok("if true { stop; } elsif false { discard; } else { keep; }"));
}

TEST(SieveCompile, IdentifiersAndTagsAreCaseInsensitive) {
  EXPECT_TRUE(compile_ok("IF ADDRESS :DOMAIN :IS \"from\" \"example.com\" { KEEP; }"));
}

TEST(SieveCompile, Rfc5228LongExample) {
  // RFC 5228 9 (abridged comments): a realistic script with require,
  // elsif chains, anyof/not and mixed-case tags.
  const char* script = R"(# Example Sieve Filter
require ["fileinto"];
if header :is "Sender" "owner-ietf-mta-filters@imc.org"
        {
        fileinto "filter";  # move to "filter" mailbox
        }
elsif address :DOMAIN :is ["From", "To"] "example.com"
        {
        keep;               # keep in "In" mailbox
        }
elsif anyof (NOT address :all :contains
               ["To", "Cc", "Bcc"] "me@example.com",
             header :matches "subject"
               ["*make*money*fast*", "*university*dipl*mas*"])
        {
        fileinto "spam";   # move to "spam" mailbox
        }
else
        {
        fileinto "personal";
        }
)";
  ASSERT_TRUE(compile_ok(script));
  testing::Mail list("Sender: owner-ietf-mta-filters@imc.org\r\nFrom: x@y.org\r\nTo: me@example.com\r\n\r\n");
  EXPECT_EQ(actions(script, list), "fileinto:filter");
  testing::Mail company("From: boss@example.com\r\nTo: someone@else.org\r\n\r\n");
  EXPECT_EQ(actions(script, company), "keep");
  testing::Mail spam("From: a@b.org\r\nTo: x@b.org\r\nCc: me@example.com\r\nSubject: Make lots of MONEY fast!\r\n\r\n");
  EXPECT_EQ(actions(script, spam), "fileinto:spam");
  testing::Mail not_to_me("From: a@b.org\r\nTo: other@example.net\r\n\r\n");
  EXPECT_EQ(actions(script, not_to_me), "fileinto:spam");
  testing::Mail personal("From: a@b.org\r\nCc: me@example.com\r\nSubject: lunch\r\n\r\n");
  EXPECT_EQ(actions(script, personal), "fileinto:personal");
}

struct ErrorCase {
  const char* script;
  const char* message;
};

class SieveCompileError : public ::testing::TestWithParam<ErrorCase> {};

TEST_P(SieveCompileError, HasLineAndMessage) {
  EXPECT_EQ(compile_error(GetParam().script), GetParam().message) << GetParam().script;
}

INSTANTIATE_TEST_SUITE_P(
    Cases, SieveCompileError,
    ::testing::Values(
        ErrorCase{"keep", "line 1: expected ';' after keep"},
        ErrorCase{"keep;\nfrobnicate;", "line 2: unknown command \"frobnicate\""},
        ErrorCase{"if frob { keep; }", "line 1: unknown test \"frob\""},
        ErrorCase{"\n\nfileinto \"x\";", "line 3: fileinto needs require \"fileinto\""},
        ErrorCase{"require \"fileinto\";\nkeep;\nrequire \"envelope\";",
                  "line 3: require must come before any other command"},
        ErrorCase{"if true { require \"fileinto\"; }", "line 1: require must come before any other command"},
        ErrorCase{"require [\"fileinto\", \"frobnicate\"];", "line 1: unsupported extension \"frobnicate\""},
        ErrorCase{"require \"x-frobnicate\";", "line 1: unsupported extension \"x-frobnicate\""},
        ErrorCase{"elsif true { keep; }", "line 1: elsif without if"},
        ErrorCase{"keep;\nelse { keep; }", "line 2: else without if"},
        ErrorCase{"if true { keep; }\nkeep;\nelse { keep; }", "line 3: else without if"},
        ErrorCase{"if true {\n keep;\n", "line 3: missing '}' for the block opened on line 1"},
        ErrorCase{"keep; }", "line 1: unexpected '}'"}, ErrorCase{"if true keep;", "line 1: expected '{'"},
        ErrorCase{"if { keep; }", "line 1: if needs a test"},
        ErrorCase{"if keep { }", "line 1: keep is a command, not a test"},
        ErrorCase{"true;", "line 1: true is a test, not a command"},
        ErrorCase{"keep { }", "line 1: keep does not take a block"},
        ErrorCase{"if not { keep; }", "line 1: expected a test"},
        ErrorCase{"if allof true { keep; }", "line 1: allof needs a list of tests in ( )"},
        ErrorCase{"if anyof (true false) { keep; }", "line 1: expected ',' or ')' in the test list of anyof"},
        ErrorCase{"if header \"a\" { keep; }", "line 1: header expects 2 arguments, got 1"},
        ErrorCase{"if header :is \"a\" \"b\" \"c\" { keep; }", "line 1: header expects 2 arguments, got 3"},
        ErrorCase{"if header 5 \"b\" { keep; }", "line 1: header argument 1 expects a string list, not a number"},
        ErrorCase{"redirect [\"a@b.c\"];", "line 1: redirect argument 1 expects a string, not a string list"},
        ErrorCase{"if header :is :contains \"a\" \"b\" { keep; }", "line 1: more than one match type"},
        ErrorCase{"if header :frob \"a\" \"b\" { keep; }", "line 1: unknown tag :frob for header"},
        ErrorCase{"if header \"a\" :is \"b\" { keep; }", "line 1: tag :is after positional arguments"},
        ErrorCase{"if address :domain :localpart \"from\" \"b\" { keep; }", "line 1: more than one address part"},
        ErrorCase{"if header :comparator \"i;frob\" \"a\" \"b\" { keep; }", "line 1: unknown comparator \"i;frob\""},
        ErrorCase{"if header :comparator \"i;ascii-numeric\" \"a\" \"b\" { keep; }",
                  "line 1: comparator i;ascii-numeric needs require \"comparator-i;ascii-numeric\""},
        ErrorCase{"require \"comparator-i;ascii-numeric\";\n"
                  "if header :contains :comparator \"i;ascii-numeric\" \"a\" \"1\" { keep; }",
                  "line 2: comparator i;ascii-numeric cannot do :contains or :matches"},
        ErrorCase{"if header :comparator \"i;octet\" :comparator \"i;octet\" \"x\" \"y\" { keep; }",
                  "line 1: more than one comparator"},
        ErrorCase{"if header :count \"gt\" \"a\" \"1\" { keep; }", "line 1: :count needs require \"relational\""},
        ErrorCase{"require \"relational\";\nif header :value \"gg\" \"a\" \"1\" { keep; }",
                  "line 2: unknown relational operator \"gg\""},
        ErrorCase{"if size 100 { keep; }", "line 1: size expects 0 arguments, got 1"},
        ErrorCase{"if size { keep; }", "line 1: size needs exactly one of :over and :under"},
        ErrorCase{"if size :over 1 :under 2 { keep; }", "line 1: size needs exactly one of :over and :under"},
        ErrorCase{"if size :over \"1\" { keep; }", "line 1: :over expects a number, not a string"},
        ErrorCase{"if size :over { keep; }", "line 1: :over expects a number"},
        ErrorCase{"redirect \"not an address\";", "line 1: redirect: \"not an address\" is not a valid address"},
        ErrorCase{"if header \"bad name:\" \"x\" { keep; }", "line 1: \"bad name:\" is not a valid header name"},
        ErrorCase{"require \"envelope\";\nif envelope \"cc\" \"x\" { keep; }", "line 2: unknown envelope part \"cc\""},
        ErrorCase{"redirect :copy \"a@b.c\";", "line 1: :copy needs require \"copy\""},
        ErrorCase{"keep :flags \"\\\\Seen\";", "line 1: :flags needs require \"imap4flags\""},
        ErrorCase{"require \"fileinto\";\nfileinto :create \"x\";", "line 2: :create needs require \"mailbox\""},
        ErrorCase{"require \"fileinto\";\nfileinto :copy :copy \"x\";", "line 2: :copy needs require \"copy\""},
        ErrorCase{"require [\"fileinto\", \"copy\"];\nfileinto :copy :copy \"x\";", "line 2: tag :copy given twice"},
        ErrorCase{"require \"vacation\";\nvacation :days 1 :seconds 5 \"x\";",
                  "line 2: :seconds needs require \"vacation-seconds\""},
        ErrorCase{"require \"vacation-seconds\";\nvacation :days 1 :seconds 5 \"x\";",
                  "line 2: vacation takes :days or :seconds, not both"},
        ErrorCase{"require \"vacation\";\nvacation :from \"nobody\" \"x\";",
                  "line 2: vacation :from is not a valid address"},
        ErrorCase{"require \"vacation\";\nvacation :subject;", "line 2: :subject expects a string"},
        ErrorCase{"require \"vacation\";\nvacation :subject \"x\";", "line 2: vacation expects 1 argument, got 0"},
        ErrorCase{"require \"variables\";\nset \"1x\" \"v\";", "line 2: set: \"1x\" is not a variable name"},
        ErrorCase{"require \"variables\";\nset :lower :upper \"x\" \"v\";",
                  "line 2: set: two modifiers of the same precedence"},
        ErrorCase{"require \"variables\";\nset \"x\" \"${env.home}\";",
                  "line 2: unknown variable namespace in ${env.home}"},
        ErrorCase{"require \"imap4flags\";\nsetflag \"var\" \"\\\\Seen\";",
                  "line 2: setflag with a variable name needs require \"variables\""},
        ErrorCase{"require \"body\";\nif body :raw :text \"x\" { keep; }",
                  "line 2: body takes one of :raw, :content and :text"},
        ErrorCase{"require \"date\";\nif date :zone \"+2500\" \"date\" \"year\" \"2020\" { keep; }",
                  "line 2: bad time zone \"+2500\" (expected +hhmm or -hhmm)"},
        ErrorCase{"require \"date\";\nif currentdate \"fortnight\" \"1\" { keep; }",
                  "line 2: unknown date part \"fortnight\""},
        ErrorCase{"require \"date\";\nif date :zone \"+0100\" :originalzone \"date\" \"year\" \"1\" { keep; }",
                  "line 2: date takes :zone or :originalzone, not both"},
        ErrorCase{"if header [] \"x\" { keep; }", "line 1: expected a string in the string list"},
        ErrorCase{"if header [\"a\" \"b\"] \"x\" { keep; }", "line 1: expected ',' or ']' in the string list"},
        ErrorCase{"require \"encoded-character\";\nkeep;\nif header \"x\" \"${unicode:D800}\" { keep; }",
                  "line 3: invalid unicode character in encoded-character string"}));

TEST(SieveCompile, AllowedExtensions) {
  CompileOptions options;
  options.allowed = std::set<std::string>{"fileinto"};
  EXPECT_EQ(compile_error("require \"fileinto\"; fileinto \"x\";", options), "");
  EXPECT_EQ(compile_error("require [\"fileinto\", \"vacation\"];", options),
            "line 1: extension \"vacation\" is not enabled on this server");
  // The base comparators may always be named.
  EXPECT_EQ(compile_error("require \"comparator-i;octet\";", options), "");
}

TEST(SieveCompile, SupportedExtensionsAreSortedAndCompile) {
  const auto& ext = supported_extensions();
  EXPECT_TRUE(std::is_sorted(ext.begin(), ext.end()));
  for (const char* name : {"fileinto", "reject", "ereject", "envelope", "encoded-character", "imap4flags", "copy",
                           "vacation", "vacation-seconds", "subaddress", "relational", "comparator-i;ascii-numeric",
                           "variables", "body", "mailbox", "date"})
    EXPECT_TRUE(std::find(ext.begin(), ext.end(), name) != ext.end()) << name;
  for (const auto& name : ext) EXPECT_EQ(compile_error("require \"" + name + "\";"), "") << name;
}

TEST(SieveCompile, Limits) {
  CompileOptions small;
  small.limits.max_script_bytes = 10;
  auto big = compile("keep; keep; keep;", small);
  ASSERT_FALSE(big.ok());
  EXPECT_EQ(big.error().code, Errc::TooBig);
  EXPECT_EQ(big.error().user_message, "line 1: script larger than 10 bytes");

  CompileOptions nesting;
  nesting.limits.max_nesting = 3;
  EXPECT_EQ(compile_error("if true { if true { if true { keep; } } }", nesting), "");
  auto deep = compile("if true { if true { if true {\n if true { keep; } } } }", nesting);
  ASSERT_FALSE(deep.ok());
  EXPECT_EQ(deep.error().code, Errc::TooBig);
  EXPECT_EQ(deep.error().user_message, "line 2: nesting deeper than 3");
  // The if's test is one level, each "not" one more.
  EXPECT_EQ(compile_error("if not not true { keep; }", nesting), "");
  EXPECT_EQ(compile_error("if not not not true { keep; }", nesting), "line 1: nesting deeper than 3");

  // A script of nothing but nesting cannot exhaust the stack: the default
  // bound stops it long before.
  std::string hostile = "if ";
  for (int i = 0; i < 20000; ++i) hostile += "not ";
  hostile += "true { keep; }";
  CompileOptions roomy;
  roomy.limits.max_script_bytes = 1 << 20;
  auto r = compile(hostile, roomy);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::TooBig);

  CompileOptions commands;
  commands.limits.max_commands = 3;
  EXPECT_EQ(compile_error("keep; keep; keep;", commands), "");
  EXPECT_EQ(compile_error("keep;\nkeep;\nif true { keep; }", commands), "line 3: more than 3 commands and tests");

  CompileOptions lists;
  lists.limits.max_list_items = 2;
  EXPECT_EQ(compile_error("if header [\"a\", \"b\"] \"x\" { keep; }", lists), "");
  EXPECT_EQ(compile_error("if header [\"a\", \"b\", \"c\"] \"x\" { keep; }", lists),
            "line 1: more than 2 strings in a list");
}

TEST(SieveCompile, EncodedCharacter) {
  // RFC 5228 2.4.2.4: decoded only when the extension is required.
  testing::Mail mail("Subject: $$ @ \xE2\x98\xBA\r\n\r\n");
  EXPECT_EQ(actions("require [\"encoded-character\", \"fileinto\"];\n"
                    "if header :is \"Subject\" \"${hex: 24 24} ${unicode:40} ${UNICODE: 263a}\" { fileinto \"yes\"; }",
                    mail),
            "fileinto:yes");
  EXPECT_EQ(actions("require \"fileinto\";\n"
                    "if header :is \"Subject\" \"${hex: 24 24} ${unicode:40} ${unicode:263a}\" { fileinto \"yes\"; }",
                    mail),
            "implicit-keep");
  // Malformed sequences stay as written.
  testing::Mail odd("Subject: ${hex:zz} ${hex:} $@\r\n\r\n");
  EXPECT_EQ(actions("require [\"encoded-character\", \"fileinto\"];\n"
                    "if header :is \"Subject\" \"${hex:zz} ${hex:} $${hex:40}\" { fileinto \"yes\"; }",
                    odd),
            "fileinto:yes");
}

}  // namespace
}  // namespace cyr::sieve
