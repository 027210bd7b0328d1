#include "server/auth/saslprep.h"

#include <gtest/gtest.h>

namespace cyr::auth {
namespace {

std::string prep_ok(std::string_view in) {
  auto r = saslprep(in);
  EXPECT_TRUE(r.ok()) << in;
  return r.ok() ? *r : std::string("<error>");
}

TEST(Saslprep, AsciiPassesUnchanged) {
  EXPECT_EQ(prep_ok("pencil"), "pencil");
  EXPECT_EQ(prep_ok("user name with spaces!~"), "user name with spaces!~");
}

// RFC 4013 s3 examples that need no normalisation.
TEST(Saslprep, Rfc4013Examples) {
  EXPECT_EQ(prep_ok("I\xC2\xADX"), "IX");   // SOFT HYPHEN mapped to nothing
  EXPECT_EQ(prep_ok("user"), "user");
  EXPECT_EQ(prep_ok("USER"), "USER");        // case preserved
  EXPECT_EQ(saslprep("\x07").error().code, Errc::Invalid);  // prohibited character
}

TEST(Saslprep, MapsNonAsciiSpaces) {
  EXPECT_EQ(prep_ok("a\xC2\xA0" "b"), "a b");          // NO-BREAK SPACE
  EXPECT_EQ(prep_ok("a\xE3\x80\x80" "b"), "a b");      // IDEOGRAPHIC SPACE
  EXPECT_EQ(prep_ok("a\xE2\x80\x8B" "b"), "ab");       // ZERO WIDTH SPACE: nothing
}

TEST(Saslprep, KeepsOtherNonAscii) { EXPECT_EQ(prep_ok("gr\xC3\xBCn"), "gr\xC3\xBCn"); }

TEST(Saslprep, RejectsProhibitedAndMalformed) {
  const std::string bad[] = {
      std::string("a\0b", 3),  // NUL (C.2.1)
      "tab\there",             // C.2.1
      "del\x7F",               // C.2.1
      "\xC2\x85",              // NEL (C.2.2)
      "\xEE\x80\x80",          // private use U+E000 (C.3)
      "\xEF\xB7\x90",          // non-character U+FDD0 (C.4)
      "\xE2\x80\x8E",          // LEFT-TO-RIGHT MARK (C.8)
      "\xC3",                  // truncated UTF-8
      "\xC0\xAF",              // overlong '/'
      "\xED\xA0\x80",          // encoded surrogate
      "\xF4\x90\x80\x80",      // beyond U+10FFFF
      "",                      // empty
      "\xC2\xAD",              // empty after mapping
  };
  for (const auto& s : bad) EXPECT_FALSE(saslprep(s).ok()) << s;
}

TEST(Utf8, Validation) {
  EXPECT_TRUE(is_valid_utf8(""));
  EXPECT_TRUE(is_valid_utf8("plain"));
  EXPECT_TRUE(is_valid_utf8("\xF0\x9F\x98\x80"));
  EXPECT_FALSE(is_valid_utf8("\xFF"));
  EXPECT_FALSE(is_valid_utf8("\xE2\x82"));
}

}  // namespace
}  // namespace cyr::auth
