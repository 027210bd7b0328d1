#include "store/base/thread_name.h"

#include <pthread.h>

#include <cstring>

namespace cyr {

void set_thread_name(const char* name) {
  char buf[16];
  std::strncpy(buf, name, sizeof buf - 1);
  buf[sizeof buf - 1] = '\0';
  (void)pthread_setname_np(pthread_self(), buf);  // best effort: a name is for people only
}

ThreadNameScope::ThreadNameScope(const char* name) {
  have_saved_ = pthread_getname_np(pthread_self(), saved_, sizeof saved_) == 0;
  if (have_saved_) set_thread_name(name);
}

ThreadNameScope::~ThreadNameScope() {
  if (have_saved_) (void)pthread_setname_np(pthread_self(), saved_);
}

}  // namespace cyr
