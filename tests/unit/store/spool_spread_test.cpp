// store::spread_subdirectories: the placement hint for the replica's staging
// root (docs/performance.md, Replication).
#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "store/spool.h"
#include "tests/unit/store/store_test_util.h"

namespace cyr::store {
namespace {

namespace fs = std::filesystem;

int dir_flags(const fs::path& p) {
  int fd = ::open(p.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return -1;
  int flags = 0;
  int rc = ::ioctl(fd, FS_IOC_GETFLAGS, &flags);
  ::close(fd);
  return rc == 0 ? flags : -1;
}

TEST(SpoolSpread, CreatesTheDirectoryAndSetsTheTopDirectoryFlag) {
  fs::path root = testing::make_temp_dir("spread");
  fs::path dir = root / "spool" / "sync.";
  Status st = spread_subdirectories(dir);
  EXPECT_TRUE(fs::is_directory(dir));  // made even where the flag is unknown
  if (!st.ok()) {
    ASSERT_EQ(st.error().code, Errc::Invalid) << st.error().describe();
    fs::remove_all(root);
    GTEST_SKIP() << "file system without directory flags: " << st.error().describe();
  }
  int flags = dir_flags(dir);
  ASSERT_GE(flags, 0);
  EXPECT_NE(flags & FS_TOPDIR_FL, 0);
  // Idempotent: a second call on the existing root keeps it so.
  ASSERT_TRUE(spread_subdirectories(dir).ok());
  EXPECT_NE(dir_flags(dir) & FS_TOPDIR_FL, 0);
  fs::remove_all(root);
}

TEST(SpoolSpread, RefusesAPathBelowAFile) {
  fs::path root = testing::make_temp_dir("spread");
  std::ofstream(root / "file") << "x";
  Status st = spread_subdirectories(root / "file" / "sync.");
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().code, Errc::Io);
  EXPECT_TRUE(fs::is_regular_file(root / "file"));
  fs::remove_all(root);
}

}  // namespace
}  // namespace cyr::store
