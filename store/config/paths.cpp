// Paths from imapd.conf. See paths.h.
#include "store/config/paths.h"

#include <cerrno>
#include <cstring>
#include <set>
#include <sys/stat.h>

namespace cyr::config {

namespace fs = std::filesystem;

namespace {

// The configured value of a path option, or {configdirectory}/<fallback>.
// Cyrus requires configured paths to be absolute; so do we.
Result<fs::path> path_option(const ImapdConf& conf, const fs::path& confdir, std::string_view option,
                             std::string_view fallback) {
  std::string v = conf.get_string(option);
  if (v.empty()) return confdir / fallback;
  fs::path p(v);
  if (!p.is_absolute())
    return Error(Errc::Invalid, std::string(option) + " must be an absolute path",
                 conf.filename() + ": " + std::string(option) + ": " + v);
  return p.lexically_normal();
}

// mkdir -p with the given mode for the components it creates.
Status make_dirs(const fs::path& dir, mode_t mode) {
  if (dir.empty()) return ok_status();
  fs::path partial;
  for (const auto& part : dir) {
    partial /= part;
    if (partial == partial.root_path()) continue;
    if (::mkdir(partial.c_str(), mode) == 0) continue;
    int err = errno;
    struct stat st;
    if (err == EEXIST && ::stat(partial.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) continue;
    return Error(Errc::Io, "cannot create directory " + partial.string(),
                 std::strerror(err == EEXIST ? ENOTDIR : err));
  }
  return ok_status();
}

}  // namespace

Result<Paths> Paths::from_config(const ImapdConf& conf) {
  Paths p;
  std::string cd = conf.get_string("configdirectory");
  if (cd.empty())
    return Error(Errc::Invalid, "configdirectory is not set", conf.filename() + ": configdirectory is required");
  p.configdirectory = fs::path(cd);
  if (!p.configdirectory.is_absolute())
    return Error(Errc::Invalid, "configdirectory must be an absolute path", conf.filename() + ": " + cd);
  p.configdirectory = p.configdirectory.lexically_normal();

  if (conf.partitions().empty())
    return Error(Errc::Invalid, "no partition is configured",
                 conf.filename() + ": at least one partition-NAME is required");
  for (const auto& [name, path] : conf.partitions()) p.partitions[name] = fs::path(path).lexically_normal();
  for (const auto& [name, path] : conf.metapartitions())
    if (p.partitions.count(name)) p.metapartitions[name] = fs::path(path).lexically_normal();

  p.defaultpartition = conf.get_string("defaultpartition");
  if (!p.defaultpartition.empty()) {
    if (!p.partitions.count(p.defaultpartition))
      return Error(Errc::Invalid, "defaultpartition has no partition-" + p.defaultpartition,
                   conf.filename() + ": defaultpartition: " + p.defaultpartition);
  } else {
    p.defaultpartition = p.partitions.count("default") ? "default" : p.partitions.begin()->first;
  }

  const fs::path& c = p.configdirectory;
  struct Item {
    fs::path* dst;
    std::string_view option;
    std::string_view fallback;
  };
  const Item items[] = {
      {&p.proc_path, "proc_path", "proc"},
      {&p.mboxname_lockpath, "mboxname_lockpath", "lock"},
      {&p.duplicate_db_path, "duplicate_db_path", "deliver.db"},
      {&p.statuscache_db_path, "statuscache_db_path", "statuscache.db"},
      {&p.ptscache_db_path, "ptscache_db_path", "ptscache.db"},
      {&p.tls_sessions_db_path, "tls_sessions_db_path", "tls_sessions.db"},
      {&p.lmtpsocket, "lmtpsocket", "socket/lmtp"},
      {&p.idlesocket, "idlesocket", "socket/idle"},
      {&p.notifysocket, "notifysocket", "socket/notify"},
      {&p.mboxlist_db_path, "mboxlist_db_path", "mailboxes.db"},
      {&p.quota_db_path, "quota_db_path", "quotas.db"},
      {&p.annotation_db_path, "annotation_db_path", "annotations.db"},
      {&p.userdeny_db_path, "userdeny_db_path", "user_deny.db"},
  };
  for (const Item& it : items) {
    auto r = path_option(conf, c, it.option, it.fallback);
    if (!r.ok()) return r.take_error();
    *it.dst = std::move(*r);
  }
  p.sync_log_dir = c / "sync";
  return p;
}

Status Paths::create_directories() const {
  std::set<fs::path> dirs = {configdirectory, proc_path, mboxname_lockpath, sync_log_dir};
  for (const auto& [name, path] : partitions) dirs.insert(path);
  for (const auto& [name, path] : metapartitions) dirs.insert(path);
  for (const fs::path* file : {&duplicate_db_path, &statuscache_db_path, &ptscache_db_path,
                               &tls_sessions_db_path, &lmtpsocket, &idlesocket, &notifysocket,
                               &mboxlist_db_path, &quota_db_path, &annotation_db_path,
                               &userdeny_db_path})
    dirs.insert(file->parent_path());
  for (const auto& d : dirs) CYR_TRY(make_dirs(d, 0750));
  return ok_status();
}

fs::path Paths::meta_root(const std::string& partition) const {
  if (auto it = metapartitions.find(partition); it != metapartitions.end()) return it->second;
  if (auto it = partitions.find(partition); it != partitions.end()) return it->second;
  return {};
}

}  // namespace cyr::config
