// Command mapping: what a cyrus.conf `cmd=` written for Cyrus means here.
//
// A Cyrus cmd names a program, with or without a path: "imapd -s",
// "/usr/lib/cyrus/bin/lmtpd -a", "ctl_cyrusdb -r". Service programs (imapd,
// pop3d, lmtpd, sync_server, timsieved, ...) become in-process service
// handlers looked up by name in the ServiceRegistry; utilities become our
// multi-call commands (ctl_cyrusdb -> cyr_cyrusdb, cyr_expire -> cyr_expire,
// tls_prune -> cyr_tls_prune), exec'd with their argv kept. A cmd that is an
// absolute path to a program that is not a Cyrus program is a site's own
// script and runs as written (Cyrus runs any program). Anything else is not
// served: the mapping says why, and the master warns once and skips it.
// Pure functions over strings; thread-compatible.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace cyr::server {

struct MappedCommand {
  enum class Kind {
    Handler,      // in-process service handler: `name` is the registry key
    Command,      // our multi-call binary as cyr_<name>
    External,     // an absolute path to a non-Cyrus program, run as written
    Unsupported,  // not served; `reason` says why
  };
  Kind kind = Kind::Unsupported;
  std::string name;               // handler key ("imapd") or command ("cyrusdb")
  std::vector<std::string> argv;  // argv[0] is the program as we will run it; flags kept
  bool implicit_tls = false;      // "imapd -s", "pop3d -s": TLS from the first byte
  std::string reason;             // for Unsupported
};

// What exists in this build, so the mapping can say "not served" precisely.
struct CommandCatalog {
  std::function<bool(std::string_view)> has_handler;  // ServiceRegistry lookup
  std::function<bool(std::string_view)> has_command;  // multi-call table (without cyr_)
};

// Maps one cmd, already split into argv (argv[0] is the program as written).
// For SERVICES only handlers are meaningful; for START/EVENTS/DAEMON only
// commands and external programs are (a service program there is Unsupported).
enum class EntrySection { Start, Services, Events, Daemon };
MappedCommand map_command(const std::vector<std::string>& argv, EntrySection section,
                          const CommandCatalog& catalog);

// The basename of a program path: "/usr/lib/cyrus/bin/imapd" -> "imapd".
std::string_view program_basename(std::string_view program);

// The multi-call command name for a Cyrus utility: "ctl_cyrusdb" -> "cyrusdb",
// "cyr_expire" -> "expire", "tls_prune" -> "tls_prune". Empty if `program`
// is not a Cyrus utility name we know of.
std::string cyrus_utility_command(std::string_view program);

// True for the names of Cyrus service programs (imapd, pop3d, lmtpd, ...).
bool is_cyrus_service_program(std::string_view program);

}  // namespace cyr::server
