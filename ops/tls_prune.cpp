// cyr_tls_prune: Cyrus's tls_prune(8) removes expired entries from its
// on-disk TLS session cache (tls_sessions.db). This server keeps no such
// file: each master process resumes TLS sessions from OpenSSL's in-memory
// cache and session tickets, which expire by themselves and vanish with the
// process. The command exists so that a cyrus.conf written for Cyrus
// (EVENTS { tlsprune cmd="tls_prune" at=0400 }) runs unchanged and
// succeeds; it removes a tls_sessions.db left behind by a Cyrus installation
// only when asked (-r), since nothing here reads it.
#include <cstdio>
#include <string>

#include "ops/adm/common.h"
#include "ops/commands.h"

namespace cyr::ops {

int tls_prune_main(int argc, char** argv) {
  std::string conf_path = "/etc/imapd.conf";
  bool remove_old = false, verbose = false;
  for (int i = 1; i < argc; ++i) {
    std::string_view s = argv[i];
    if (s == "-C" && i + 1 < argc) conf_path = argv[++i];
    else if (s == "-r") remove_old = true;
    else if (s == "-v") verbose = true;
    else {
      fprintf(stderr,
              "usage: cyr_tls_prune [-C imapd.conf] [-r] [-v]\n"
              "  TLS sessions are cached in memory here; there is nothing on disk to prune.\n"
              "  -r  remove a tls_sessions.db left by a previous Cyrus installation\n");
      return adm::kExUsage;
    }
  }
  auto conf = config::ImapdConf::load(conf_path, nullptr);
  if (!conf.ok()) {
    fprintf(stderr, "cyr_tls_prune: cannot load %s: %s\n", conf_path.c_str(), conf.error().describe().c_str());
    return adm::kExConfig;
  }
  std::filesystem::path db = conf->get_string("tls_sessions_db_path");
  if (db.empty()) db = std::filesystem::path(conf->get_string("configdirectory")) / "tls_sessions.db";
  std::error_code ec;
  bool leftover = std::filesystem::exists(db, ec);
  if (leftover && remove_old) {
    if (!std::filesystem::remove(db, ec) || ec) {
      fprintf(stderr, "cyr_tls_prune: cannot remove %s: %s\n", db.c_str(), ec.message().c_str());
      return 1;
    }
    printf("removed %s (not used by this server)\n", db.c_str());
  } else if (leftover) {
    printf("%s is not used by this server (a Cyrus leftover?); -r removes it\n", db.c_str());
  }
  if (verbose || !leftover)
    printf("TLS sessions are cached in memory by each master process; nothing to prune\n");
  return 0;
}

}  // namespace cyr::ops
