// store::spread_subdirectories: the placement hint for the replica's staging
// root and the store's `stage.` (docs/performance.md, Replication), and the
// store's staging layout under it.
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

TEST(SpoolSpread, StagingFilesGoToAGenerationDirectoryUnderAFlaggedRoot) {
  fs::path root = testing::make_temp_dir("spread");
  Spool spool({{"default", root / "part"}}, nullptr, 1u << 20);
  fs::create_directories(root / "part");
  auto staged = spool.stage("default", MessageSource::memory("Subject: x\r\n\r\nbody\r\n"), /*defer_sync=*/true);
  ASSERT_TRUE(staged.ok()) << staged.error().describe();
  fs::path file(staged->path);
  fs::path generation = file.parent_path();
  EXPECT_EQ(generation.parent_path(), root / "part" / "stage.");
  std::string name = generation.filename().string();
  EXPECT_EQ(name.substr(0, name.find('-')), std::to_string(::getpid()));
  EXPECT_TRUE(fs::is_regular_file(file));
  int flags = dir_flags(root / "part" / "stage.");
  if (flags >= 0) EXPECT_NE(flags & FS_TOPDIR_FL, 0);  // where the file system keeps flags
  // A second file goes to the same directory (a new one only every few
  // thousand files).
  auto second = spool.stage("default", MessageSource::memory("Subject: y\r\n\r\nbody\r\n"), true);
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(fs::path(second->path).parent_path(), generation);
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
