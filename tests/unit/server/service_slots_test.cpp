#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "server/service_registry.h"

namespace cyr::server {
namespace {

TEST(SessionSlots, MaxchildBoundsConcurrentSessions) {
  SessionSlots slots(2);
  EXPECT_TRUE(slots.try_acquire());
  EXPECT_TRUE(slots.try_acquire());
  EXPECT_FALSE(slots.try_acquire());  // the third is refused
  EXPECT_EQ(slots.in_use(), 2);
  slots.release();
  EXPECT_TRUE(slots.try_acquire());  // a freed slot is reusable
  EXPECT_FALSE(slots.try_acquire());
}

TEST(SessionSlots, UnlimitedWhenNotPositive) {
  for (int limit : {-1, 0}) {
    SessionSlots slots(limit);
    for (int i = 0; i < 1000; ++i) ASSERT_TRUE(slots.try_acquire()) << limit;
    EXPECT_EQ(slots.in_use(), 1000);
  }
}

TEST(SessionSlots, ReleaseNeverGoesNegative) {
  SessionSlots slots(1);
  slots.release();
  EXPECT_EQ(slots.in_use(), 0);
  EXPECT_TRUE(slots.try_acquire());
  EXPECT_FALSE(slots.try_acquire());
}

TEST(SessionSlots, ConcurrentAcquireNeverExceedsLimit) {
  SessionSlots slots(5);
  std::atomic<int> admitted{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 100; ++i)
        if (slots.try_acquire()) admitted.fetch_add(1);
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(admitted.load(), 5);
  EXPECT_EQ(slots.in_use(), 5);
}

TEST(ServiceRegistry, AddFindReplace) {
  ServiceRegistry reg;
  EXPECT_FALSE(reg.has("imapd"));
  reg.add("imapd", [](std::shared_ptr<const ServiceContext>) -> Result<ServiceHandler> {
    return Error(Errc::Internal, "first");
  });
  ASSERT_TRUE(reg.has("imapd"));
  reg.add("imapd", [](std::shared_ptr<const ServiceContext>) -> Result<ServiceHandler> {
    return Error(Errc::Internal, "second");
  });
  auto r = (*reg.find("imapd"))(nullptr);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().user_message, "second");
  EXPECT_EQ(reg.names(), std::vector<std::string>{"imapd"});
}

TEST(ServiceContext, HasFlag) {
  ServiceContext ctx;
  ctx.argv = {"lmtpd", "-a"};
  EXPECT_TRUE(ctx.has_flag("-a"));
  EXPECT_FALSE(ctx.has_flag("-s"));
  ctx.argv = {"-a"};  // argv[0] is the program, never a flag
  EXPECT_FALSE(ctx.has_flag("-a"));
}

}  // namespace
}  // namespace cyr::server
