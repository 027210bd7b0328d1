// cyr_cvt_cyrusdb <abs path> <fmt> <abs path> <fmt>: convert one database
// between this server's format ("sqlite") and a flat text file ("flat":
// one "key TAB value" per line, escaped as store/db_kv.h describes, schema
// lines first). Absolute paths only (seed 000: relative ones are refused,
// as Cyrus's cvt_cyrusdb does). The target must not exist: nothing is ever
// overwritten. Converting a live database is safe (one read transaction).
#include <cstdio>
#include <fstream>
#include <string>

#include "ops/adm/common.h"
#include "ops/commands.h"
#include "store/db_kv.h"

namespace cyr::ops {

int cvt_cyrusdb_main(int argc, char** argv) {
  std::vector<std::string> pos;
  for (int i = 1; i < argc; ++i) {
    std::string_view s = argv[i];
    if (s == "-C" && i + 1 < argc) ++i;  // accepted for symmetry; not needed
    else pos.emplace_back(s);
  }
  if (pos.size() != 4) {
    fprintf(stderr,
            "usage: cyr_cvt_cyrusdb <old db abs path> <old fmt> <new db abs path> <new fmt>\n"
            "  formats: sqlite (this server's databases), flat (key TAB value per line)\n");
    return adm::kExUsage;
  }
  for (int i : {0, 2})
    if (!std::filesystem::path(pos[i]).is_absolute()) {
      fprintf(stderr, "cyr_cvt_cyrusdb: %s is not an absolute path; give both paths absolute (e.g. %s)\n",
              pos[i].c_str(), (std::filesystem::current_path() / pos[i]).c_str());
      return adm::kExUsage;
    }
  for (int i : {1, 3})
    if (pos[i] != "sqlite" && pos[i] != "flat") {
      fprintf(stderr, "cyr_cvt_cyrusdb: format %s is not supported: use sqlite or flat\n", pos[i].c_str());
      return adm::kExUsage;
    }
  const std::string &from = pos[0], &from_fmt = pos[1], &to = pos[2], &to_fmt = pos[3];
  if (from_fmt == to_fmt) {
    fprintf(stderr, "cyr_cvt_cyrusdb: both formats are %s; nothing to convert (copy the file)\n", from_fmt.c_str());
    return adm::kExUsage;
  }
  if (std::filesystem::exists(to)) {
    fprintf(stderr, "cyr_cvt_cyrusdb: %s exists; it is never overwritten\n", to.c_str());
    return adm::kExUsage;
  }
  if (from_fmt == "sqlite") {
    auto db = store::KvDb::open(from);
    if (!db.ok()) {
      fprintf(stderr, "cyr_cvt_cyrusdb: %s: %s\n", from.c_str(), db.error().describe().c_str());
      return adm::kExNoInput;
    }
    std::string tmp = to + ".tmp";
    {
      std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
      Status st = out ? (*db)->export_flat(out) : Status(Error(Errc::Io, "Cannot create", tmp));
      if (!st.ok()) {
        std::filesystem::remove(tmp);
        fprintf(stderr, "cyr_cvt_cyrusdb: %s\n", st.error().describe().c_str());
        return adm::kExSoftware;
      }
    }
    std::filesystem::rename(tmp, to);
  } else {
    std::ifstream in(from, std::ios::binary);
    if (!in) {
      fprintf(stderr, "cyr_cvt_cyrusdb: cannot read %s\n", from.c_str());
      return adm::kExNoInput;
    }
    Status st = store::KvDb::import_flat(in, to);
    if (!st.ok()) {
      fprintf(stderr, "cyr_cvt_cyrusdb: %s: nothing written: %s\n", from.c_str(), st.error().describe().c_str());
      return adm::kExDataErr;
    }
  }
  printf("converted %s (%s) to %s (%s)\n", from.c_str(), from_fmt.c_str(), to.c_str(), to_fmt.c_str());
  return 0;
}

}  // namespace cyr::ops
