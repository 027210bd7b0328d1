#include "server/blocking_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>
#include <thread>

namespace cyr::server {
namespace {

namespace asio = boost::asio;

TEST(BlockingPool, RunsOffTheIoThreadAndResumesOnIt) {
  asio::io_context ioc;
  BlockingPool pool(2);
  std::thread::id io_thread, work_thread, resumed_thread;
  int value = 0;
  asio::co_spawn(ioc, [&]() -> asio::awaitable<void> {
    io_thread = std::this_thread::get_id();
    auto r = co_await pool.run([&]() -> Result<int> {
      work_thread = std::this_thread::get_id();
      return 42;
    });
    resumed_thread = std::this_thread::get_id();
    value = r.ok() ? *r : -1;
  }, [](std::exception_ptr e) { if (e) std::rethrow_exception(e); });
  ioc.run();
  EXPECT_EQ(value, 42);
  EXPECT_NE(work_thread, io_thread);
  EXPECT_EQ(resumed_thread, io_thread);
}

TEST(BlockingPool, ErrorsAndExceptionsBecomeValues) {
  asio::io_context ioc;
  BlockingPool pool(1);
  Status err = ok_status(), thrown = ok_status();
  asio::co_spawn(ioc, [&]() -> asio::awaitable<void> {
    err = co_await pool.run([]() -> Status { return Error(Errc::NoQuota, "Over quota"); });
    thrown = co_await pool.run([]() -> Status { throw std::runtime_error("disk on fire"); });
  }, [](std::exception_ptr e) { if (e) std::rethrow_exception(e); });
  ioc.run();
  ASSERT_FALSE(err.ok());
  EXPECT_EQ(err.error().code, Errc::NoQuota);
  ASSERT_FALSE(thrown.ok());
  EXPECT_EQ(thrown.error().code, Errc::Internal);
  EXPECT_NE(thrown.error().detail.find("disk on fire"), std::string::npos);
}

// One user's slow operation must not stall another session on the same I/O thread.
TEST(BlockingPool, SlowWorkDoesNotStallOtherSessions) {
  asio::io_context ioc;  // one I/O thread
  BlockingPool pool(2);
  std::atomic<bool> release_slow{false};
  std::atomic<bool> fast_done{false};
  bool slow_done = false;
  asio::co_spawn(ioc, [&]() -> asio::awaitable<void> {
    Status st = co_await pool.run([&]() -> Status {
      // Blocks until the fast session has finished.
      for (int i = 0; i < 500 && !fast_done.load(); ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      return fast_done.load() ? ok_status() : Status(Error(Errc::Temp, "fast session stalled"));
    });
    EXPECT_TRUE(st.ok()) << (st.ok() ? "" : st.error().describe());
    slow_done = true;
  }, [](std::exception_ptr e) { if (e) std::rethrow_exception(e); });
  asio::co_spawn(ioc, [&]() -> asio::awaitable<void> {
    auto r = co_await pool.run([]() -> Result<int> { return 1; });
    EXPECT_TRUE(r.ok());
    fast_done = true;
  }, [](std::exception_ptr e) { if (e) std::rethrow_exception(e); });
  ioc.run();
  EXPECT_TRUE(fast_done.load());
  EXPECT_TRUE(slow_done);
}

TEST(BlockingPool, ResumesOnTheCallersStrand) {
  asio::io_context ioc;
  BlockingPool pool(2);
  auto strand = asio::make_strand(ioc);
  bool in_strand_after = false;
  asio::co_spawn(strand, [&]() -> asio::awaitable<void> {
    auto r = co_await pool.run([]() -> Result<int> { return 7; });
    in_strand_after = strand.running_in_this_thread();
    EXPECT_TRUE(r.ok());
  }, [](std::exception_ptr e) { if (e) std::rethrow_exception(e); });
  std::thread t2([&] { ioc.run(); });
  ioc.run();
  t2.join();
  EXPECT_TRUE(in_strand_after);
}

}  // namespace
}  // namespace cyr::server
