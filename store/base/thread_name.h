// Names for the threads we start, as `top -H`, `ps -L` and perf show them.
//
// Linux copies a thread's name to the threads it creates, so a pool made by
// the main thread is named by renaming the main thread around its creation
// (ThreadNameScope). The main thread's own name is the process name that
// `pidof cyr_master` and `killall` match: it is always restored.
#pragma once

namespace cyr {

// Names the calling thread (at most 15 characters are kept).
void set_thread_name(const char* name);

class ThreadNameScope {
 public:
  explicit ThreadNameScope(const char* name);
  ~ThreadNameScope();
  ThreadNameScope(const ThreadNameScope&) = delete;
  ThreadNameScope& operator=(const ThreadNameScope&) = delete;

 private:
  char saved_[16] = {};
  bool have_saved_ = false;
};

}  // namespace cyr
