// Thread names (store/base/thread_name.h): a pool created inside a
// ThreadNameScope takes its name, and the creating thread gets its own back
// (the main thread's name is the process name that pidof and killall match).
#include <gtest/gtest.h>
#include <pthread.h>

#include <string>
#include <thread>

#include "store/base/thread_name.h"

namespace cyr {
namespace {

std::string name_of(pthread_t t) {
  char buf[16] = {};
  EXPECT_EQ(pthread_getname_np(t, buf, sizeof buf), 0);
  return buf;
}

TEST(ThreadName, ThreadsStartedInAScopeTakeItsNameAndTheCreatorKeepsItsOwn) {
  std::string before = name_of(pthread_self());
  std::string child;
  {
    ThreadNameScope scope("blocking");
    EXPECT_EQ(name_of(pthread_self()), "blocking");
    std::thread t([&] { child = name_of(pthread_self()); });
    t.join();
  }
  EXPECT_EQ(child, "blocking");
  EXPECT_EQ(name_of(pthread_self()), before);
}

TEST(ThreadName, LongNamesAreCutToWhatLinuxKeeps) {
  std::string got;
  std::thread t([&] {
    set_thread_name("a-very-long-thread-name");
    got = name_of(pthread_self());
  });
  t.join();
  EXPECT_EQ(got, "a-very-long-thr");  // 15 characters
}

}  // namespace
}  // namespace cyr
