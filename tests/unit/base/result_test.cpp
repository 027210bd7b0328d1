#include "store/base/result.h"

#include <gtest/gtest.h>

namespace cyr {
namespace {

Result<int> half(int x) {
  if (x % 2) return Error(Errc::Invalid, "odd number", "x=" + std::to_string(x));
  return x / 2;
}

Status quarter_ok(int x, int* out) {
  auto h = half(x);
  CYR_TRY(h);
  auto q = half(*h);
  CYR_TRY(q);
  *out = *q;
  return {};
}

TEST(Result, ValueAndError) {
  auto r = half(8);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, 4);
  auto e = half(3);
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.error().code, Errc::Invalid);
  EXPECT_EQ(e.error().describe(), "Invalid: odd number (x=3)");
}

TEST(Result, TryPropagates) {
  int out = 0;
  EXPECT_TRUE(quarter_ok(8, &out).ok());
  EXPECT_EQ(out, 2);
  auto s = quarter_ok(6, &out);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().user_message, "odd number");
}

}  // namespace
}  // namespace cyr
