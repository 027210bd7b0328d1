#include "store/base/log.h"

#include <atomic>
#include <cstdarg>
#include <cstdio>
#include <ctime>
#include <mutex>
#include <syslog.h>
#include <unistd.h>

namespace cyr::log {
namespace {

std::mutex g_mu;
Options g_opts;
std::atomic<unsigned long> g_next_sid{1};

const char* level_name(Level l) {
  switch (l) {
    case Level::Debug: return "debug";
    case Level::Info: return "info";
    case Level::Notice: return "notice";
    case Level::Warning: return "warning";
    case Level::Error: return "error";
    case Level::Critical: return "critical";
  }
  return "?";
}

}  // namespace

void init(const Options& opts) {
  std::lock_guard lk(g_mu);
  if (g_opts.use_syslog) closelog();
  g_opts = opts;
  if (g_opts.use_syslog) openlog(g_opts.prefix.c_str(), LOG_PID | LOG_NDELAY, LOG_MAIL);
}

std::string new_session_id() {
  char buf[32];
  snprintf(buf, sizeof buf, "%x-%lx", static_cast<unsigned>(getpid()),
           g_next_sid.fetch_add(1, std::memory_order_relaxed));
  return buf;
}

void vwrite(Level level, std::string_view sid, const char* fmt, va_list ap) {
  if (static_cast<int>(level) > static_cast<int>(g_opts.min_level)) return;
  char msg[2048];
  vsnprintf(msg, sizeof msg, fmt, ap);
  std::lock_guard lk(g_mu);
  if (g_opts.use_syslog) {
    syslog(static_cast<int>(level), "<%.*s> %s", static_cast<int>(sid.size()), sid.data(), msg);
    return;
  }
  char ts[32];
  time_t now = time(nullptr);
  struct tm tm;
  localtime_r(&now, &tm);
  strftime(ts, sizeof ts, "%Y-%m-%d %H:%M:%S", &tm);
  fprintf(stderr, "%s %s[%d]: %s <%.*s> %s\n", ts, g_opts.prefix.c_str(), static_cast<int>(getpid()),
          level_name(level), static_cast<int>(sid.size()), sid.data(), msg);
}

void write(Level level, std::string_view sid, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vwrite(level, sid, fmt, ap);
  va_end(ap);
}

}  // namespace cyr::log
