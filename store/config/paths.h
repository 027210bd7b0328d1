// Where things live on disk, from imapd.conf: configdirectory, partitions and
// the ephemeral paths of seed 001. Each path is honoured as configured and
// created on demand; none has to exist before start.
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

  // Resolves every path (defaults relative to configdirectory, as Cyrus's).
  static Result<Paths> from_config(const ImapdConf& conf);

  // Creates the directories that hold these paths (mode 0750) if missing.
  Status create_directories() const;

  // Metadata root for a partition: its metapartition if configured, else the spool root.
  std::filesystem::path meta_root(const std::string& partition) const;
};

}  // namespace cyr::config
