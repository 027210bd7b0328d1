// Logging: one line per event, to stderr or syslog, every line with a session id.
//
// Lines look like "imap[4711]: <sid> LOGIN user=fred ok". The session id ties
// together everything one connection or one command-line run did. Coroutines
// move between threads, so the id is passed explicitly rather than kept in a
// thread-local. Thread-safe.
#pragma once

#include <cstdarg>
#include <string>
#include <string_view>

namespace cyr::log {

enum class Level { Debug = 7, Info = 6, Notice = 5, Warning = 4, Error = 3, Critical = 2 };

struct Options {
  std::string prefix = "cyrus";  // syslog_prefix (ident)
  bool use_syslog = false;
  Level min_level = Level::Info;
};

void init(const Options& opts);

// A fresh session id ("s1a2b3c"), unique within this process.
std::string new_session_id();

// printf-style; sid may be empty for process-wide events.
void write(Level level, std::string_view sid, const char* fmt, ...)
    __attribute__((format(printf, 3, 4)));

void vwrite(Level level, std::string_view sid, const char* fmt, va_list ap);

#define CYR_LOG(level, sid, ...) ::cyr::log::write(::cyr::log::Level::level, (sid), __VA_ARGS__)

}  // namespace cyr::log
