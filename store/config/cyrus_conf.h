// cyrus.conf: what cyr_master starts (START), serves (SERVICES), runs
// periodically (EVENTS) and keeps running beside itself (DAEMON).
//
// Syntax, as Cyrus's: section names followed by "{ ... }"; inside, one entry
// per line: NAME key=value key="quoted value" ...; '#' comments. Parsing never
// throws; errors name file and line. Immutable after parsing and safe to
// share between threads.
#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "store/base/result.h"
#include "store/config/imapd_conf.h"  // Diagnostic

namespace cyr::config {

struct CyrusConfEntry {
  std::string name;              // "imap", "lmtpunix", "checkpoint", ...
  std::string cmd;               // as written: "imapd -s", "/usr/lib/cyrus/bin/lmtpd -a"
  std::vector<std::string> argv; // cmd split on white space, quotes honoured
  std::string listen;            // SERVICES: "host:port", "[::1]:port", "port", service name, or a path
  std::string proto = "tcp";     // SERVICES: tcp, tcp4, tcp6, udp
  int prefork = 0;
  int maxchild = -1;             // -1: unlimited
  int maxfds = 256;
  int maxforkrate = 0;
  bool babysit = false;
  std::optional<int> period;     // EVENTS: minutes
  std::optional<int> at;         // EVENTS: HHMM
  bool wait = false;             // DAEMON: master waits for it to start before going on
  std::map<std::string, std::string> other;  // keys we do not interpret
  int line = 0;
};

struct CyrusConf {
  std::string filename;
  std::vector<CyrusConfEntry> start, services, events, daemon;

  static Result<CyrusConf> parse(std::string_view text, std::string_view filename,
                                 std::vector<Diagnostic>* diags);
  static Result<CyrusConf> load(const std::filesystem::path& path, std::vector<Diagnostic>* diags);

  // Bounds of the input; exceeding one is an Error.
  static constexpr size_t kMaxLineLength = 64 * 1024;
  static constexpr size_t kMaxLines = 100'000;
  static constexpr size_t kMaxEntriesPerSection = 1000;
  static constexpr size_t kMaxKeysPerEntry = 64;
  static constexpr size_t kMaxArgs = 256;
  static constexpr uintmax_t kMaxFileSize = 16ull * 1024 * 1024;

  // The SERVICES entry with this name, or null.
  const CyrusConfEntry* find_service(std::string_view name) const;
};

// Splits a cmd= value into argv: white space separates, '...' and "..."
// group (the quotes are removed). Fails on an unterminated quote or more
// than CyrusConf::kMaxArgs words.
Result<std::vector<std::string>> split_command(std::string_view cmd);

}  // namespace cyr::config
