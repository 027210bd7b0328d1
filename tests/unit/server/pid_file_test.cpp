#include "server/pid_file.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include "server_test_util.h"

namespace cyr::server {
namespace {

using testing::read_file;
using testing::TempDir;

TEST(PidFile, WritesPidAndRemovesOnDestruction) {
  TempDir dir;
  auto path = dir.path() / "master.pid";
  {
    auto pf = PidFile::create(path);
    ASSERT_TRUE(pf.ok()) << pf.error().describe();
    EXPECT_EQ(read_file(path), std::to_string(getpid()) + "\n");
  }
  EXPECT_FALSE(std::filesystem::exists(path));
}

TEST(PidFile, SecondMasterIsRefused) {
  TempDir dir;
  auto path = dir.path() / "master.pid";
  auto first = PidFile::create(path);
  ASSERT_TRUE(first.ok());
  auto second = PidFile::create(path);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.error().code, Errc::InUse);
  // The refused attempt did not touch the live file.
  EXPECT_EQ(read_file(path), std::to_string(getpid()) + "\n");
  first->remove();
  EXPECT_FALSE(std::filesystem::exists(path));
  EXPECT_TRUE(PidFile::create(path).ok());
}

TEST(PidFile, StaleFileIsTakenOver) {
  TempDir dir;
  auto path = dir.path() / "master.pid";
  testing::write_file(path, "999999\nleftover text from a crash\n");
  auto pf = PidFile::create(path);
  ASSERT_TRUE(pf.ok());
  EXPECT_EQ(read_file(path), std::to_string(getpid()) + "\n");
}

TEST(PidFile, UnwritableDirectoryIsAnError) {
  auto pf = PidFile::create("/nonexistent-dir/master.pid");
  ASSERT_FALSE(pf.ok());
  EXPECT_EQ(pf.error().code, Errc::Io);
}

}  // namespace
}  // namespace cyr::server
