#include "ops/adm/duplicate_prune.h"

#include <cstdio>

#include "store/config/imapd_conf.h"
#include "store/config/paths.h"
#include "store/duplicate_db.h"

namespace cyr::ops::adm {

Result<std::filesystem::path> configured_duplicate_db_path(const std::string& conf_path) {
  auto conf = config::ImapdConf::load(conf_path, nullptr);
  if (!conf.ok()) return conf.take_error();
  auto paths = config::Paths::from_config(*conf);
  if (!paths.ok()) return paths.take_error();
  return paths->duplicate_db_path;
}

int prune_duplicate_db(const char* prog, const std::filesystem::path& path, int64_t older_than, int64_t now,
                       bool dry_run, bool verbose) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    if (verbose) printf("duplicate db %s does not exist: nothing to prune\n", path.c_str());
    return 0;
  }
  auto db = store::DuplicateDb::open(path);
  if (!db.ok()) {
    fprintf(stderr, "%s: duplicate db: %s\n", prog, db.error().describe().c_str());
    return 1;
  }
  auto total = (*db)->count();
  Result<uint64_t> pruned = uint64_t{0};
  if (!dry_run) pruned = (*db)->prune(now - older_than);
  if (!pruned.ok() || !total.ok()) {
    fprintf(stderr, "%s: duplicate db: %s\n", prog,
            (!pruned.ok() ? pruned.error() : total.error()).describe().c_str());
    return 1;
  }
  if (dry_run)
    printf("duplicate db: %llu entries; pruning skipped (-n)\n", static_cast<unsigned long long>(*total));
  else
    printf("duplicate db: pruned %llu of %llu entries older than %lld s\n",
           static_cast<unsigned long long>(*pruned), static_cast<unsigned long long>(*total),
           static_cast<long long>(older_than));
  return 0;
}

}  // namespace cyr::ops::adm
