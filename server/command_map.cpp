#include "server/command_map.h"

#include <algorithm>
#include <array>

namespace cyr::server {
namespace {

// Cyrus programs that serve a connection (cyrus.conf SERVICES). Sorted.
constexpr std::array<std::string_view, 15> kServicePrograms = {
    "backupd", "fud",     "httpd", "imapd",   "lmtpd",  "lmtpproxyd", "mupdate",   "nntpd",
    "notifyd", "pop3d",   "pop3proxyd", "proxyd", "smmapd", "sync_server", "timsieved",
};

// Cyrus utilities (seed 004, "System Commands" and "Tools & Utilities")
// and daemons (idled) that a START, EVENTS or DAEMON entry may run. Sorted.
constexpr std::array<std::string_view, 39> kUtilityPrograms = {
    "arbitron",      "chk_cyrus",   "ctl_backups",  "ctl_conversationsdb", "ctl_cyrusdb",
    "ctl_deliver",   "ctl_mboxlist", "ctl_zoneinfo", "cvt_cyrusdb",        "cyr_backup",
    "cyr_buildinfo", "cyr_dbtool",  "cyr_deny",     "cyr_df",             "cyr_expire",
    "cyr_info",      "cyr_sequence", "cyr_synclog", "cyr_userseen",       "cyr_virusscan",
    "deliver",       "fetchnews",   "idled",        "ipurge",       "mbexamine",          "mbpath",
    "mbtool",        "ptdump",      "ptexpire",     "ptloader",           "quota",
    "reconstruct",   "restore",     "sievec",       "squatter",           "sync_client",
    "sync_reset",    "tls_prune",   "unexpunge",
};

bool contains(auto const& sorted, std::string_view name) {
  return std::binary_search(sorted.begin(), sorted.end(), name);
}

}  // namespace

std::string_view program_basename(std::string_view program) {
  auto slash = program.rfind('/');
  return slash == std::string_view::npos ? program : program.substr(slash + 1);
}

bool is_cyrus_service_program(std::string_view program) {
  return contains(kServicePrograms, program_basename(program));
}

std::string cyrus_utility_command(std::string_view program) {
  std::string_view base = program_basename(program);
  if (!contains(kUtilityPrograms, base)) return {};
  // Seed 001: every binary gets a cyr_ prefix, and ctl_* become cyr_*.
  if (base.starts_with("ctl_")) base.remove_prefix(4);
  else if (base.starts_with("cyr_")) base.remove_prefix(4);
  return std::string(base);
}

MappedCommand map_command(const std::vector<std::string>& argv, EntrySection section,
                          const CommandCatalog& catalog) {
  MappedCommand m;
  if (argv.empty() || argv[0].empty()) {
    m.reason = "empty cmd";
    return m;
  }
  const std::string& program = argv[0];
  std::string_view base = program_basename(program);
  if (base.empty()) {
    m.reason = "cmd names a directory, not a program";
    return m;
  }

  if (is_cyrus_service_program(base)) {
    m.name = std::string(base);
    if (section != EntrySection::Services) {
      m.reason = "\"" + m.name + "\" is a service program; it belongs in SERVICES";
      return m;
    }
    if (!catalog.has_handler || !catalog.has_handler(m.name)) {
      m.reason = "no \"" + m.name + "\" service handler in this build";
      return m;
    }
    m.kind = MappedCommand::Kind::Handler;
    m.argv = argv;
    m.argv[0] = m.name;
    // Cyrus imapd(8) and pop3d(8): "-s  Serve IMAP/POP3 over SSL/TLS" from the first byte.
    if (m.name == "imapd" || m.name == "pop3d")
      m.implicit_tls = std::find(argv.begin() + 1, argv.end(), "-s") != argv.end();
    return m;
  }

  if (std::string cmd = cyrus_utility_command(base); !cmd.empty()) {
    m.name = cmd;
    if (section == EntrySection::Services) {
      m.reason = "\"" + std::string(base) + "\" is not a service program";
      return m;
    }
    if (!catalog.has_command || !catalog.has_command(cmd)) {
      m.reason = "no cyr_" + cmd + " command in this build";
      return m;
    }
    m.kind = MappedCommand::Kind::Command;
    m.argv = argv;
    m.argv[0] = "cyr_" + cmd;
    return m;
  }

  // Our own multi-call names written directly ("cyr_foo" that Cyrus never had).
  if (base.starts_with("cyr_") && section != EntrySection::Services && catalog.has_command &&
      catalog.has_command(base.substr(4))) {
    m.kind = MappedCommand::Kind::Command;
    m.name = std::string(base.substr(4));
    m.argv = argv;
    m.argv[0] = std::string(base);
    return m;
  }

  // Our own service handlers that Cyrus never had ("failover": the HA
  // controller's heartbeat and admin service, registered from ops/).
  if (section == EntrySection::Services && program.front() != '/' && catalog.has_handler &&
      catalog.has_handler(base)) {
    m.kind = MappedCommand::Kind::Handler;
    m.name = std::string(base);
    m.argv = argv;
    m.argv[0] = m.name;
    return m;
  }

  m.name = std::string(base);
  if (program.front() == '/' && section != EntrySection::Services) {
    // A site's own program: Cyrus runs whatever cmd names. Whether it exists
    // is checked when it is started (and reported then).
    m.kind = MappedCommand::Kind::External;
    m.argv = argv;
    return m;
  }
  if (section == EntrySection::Services)
    m.reason = "\"" + m.name + "\" is not a service this server implements";
  else
    m.reason = "\"" + m.name + "\" is neither a Cyrus program we provide nor an absolute path";
  return m;
}

}  // namespace cyr::server
