// Where things live on disk, from imapd.conf: configdirectory, partitions and
// the ephemeral paths of seed 001. Each path is honoured as configured and
// created on demand; none has to exist before start. A plain value: copy it
// freely; const use is thread-safe.
#pragma once

#include <filesystem>
#include <map>
#include <string>

#include "store/base/result.h"
#include "store/config/imapd_conf.h"

namespace cyr::config {

struct Paths {
  std::filesystem::path configdirectory;
  std::string defaultpartition;
  std::map<std::string, std::filesystem::path> partitions;      // name -> spool root
  std::map<std::string, std::filesystem::path> metapartitions;  // name -> metadata root
  std::filesystem::path proc_path;
  std::filesystem::path mboxname_lockpath;
  std::filesystem::path duplicate_db_path;
  std::filesystem::path statuscache_db_path;
  std::filesystem::path ptscache_db_path;
  std::filesystem::path tls_sessions_db_path;
  std::filesystem::path lmtpsocket;
  std::filesystem::path idlesocket;
  std::filesystem::path notifysocket;
  std::filesystem::path sync_log_dir;  // {configdirectory}/sync
  std::filesystem::path mboxlist_db_path;    // default {configdirectory}/mailboxes.db
  std::filesystem::path quota_db_path;       // default {configdirectory}/quotas.db
  std::filesystem::path annotation_db_path;  // default {configdirectory}/annotations.db
  std::filesystem::path userdeny_db_path;    // default {configdirectory}/user_deny.db

  // Resolves every path (defaults relative to configdirectory, as Cyrus's).
  // Fails (Errc::Invalid, naming the option) if configdirectory is unset,
  // there is no partition-NAME, defaultpartition names a partition that is
  // not configured, or a configured path is not absolute. Without
  // defaultpartition, "default" is used if configured, else the first
  // partition by name.
  static Result<Paths> from_config(const ImapdConf& conf);

  // Creates the directories that hold these paths (mode 0750, less the
  // umask) if missing: configdirectory, partitions, metapartitions,
  // proc_path, mboxname_lockpath, sync_log_dir and the parent directories of
  // the database files and sockets. Existing directories are left alone.
  Status create_directories() const;

  // Metadata root for a partition: its metapartition if configured, else the
  // spool root; empty if the partition is unknown.
  std::filesystem::path meta_root(const std::string& partition) const;
};

}  // namespace cyr::config
