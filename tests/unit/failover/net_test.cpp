#include "failover/net.h"
#include "tests/unit/failover/loopback.h"

#include <gtest/gtest.h>

#include <sys/socket.h>
#include <netinet/in.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include "failover/hook.h"

namespace cyr::failover {
namespace {

using std::chrono::milliseconds;

TEST(FailoverNet, ParsesAddresses) {
  auto a = parse_host_port("127.0.0.1:2006");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->host, "127.0.0.1");
  EXPECT_EQ(a->port, "2006");
  auto b = parse_host_port("[::1]:7");
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->host, "::1");
  EXPECT_FALSE(parse_host_port("nohost").ok());
  EXPECT_FALSE(parse_host_port(":1").ok());
  EXPECT_FALSE(parse_host_port("[::1]7").ok());
}

TEST(FailoverNet, RequestAndReplyOverLoopback) {
  LineServer server;
  ASSERT_TRUE(server.start("127.0.0.1:0", [](const std::string& line, const std::string& peer) {
    return format_reply({true, "ECHO " + line, {"from " + peer}});
  }).ok());
  auto r = exchange("127.0.0.1:" + std::to_string(server.port()), "HELLO there", milliseconds(2000));
  ASSERT_TRUE(r.ok()) << r.error().describe();
  EXPECT_TRUE(r->ok);
  EXPECT_EQ(r->text, "ECHO HELLO there");
  ASSERT_EQ(r->lines.size(), 1u);
  EXPECT_EQ(r->lines[0], "from 127.0.0.1");
  server.stop();
  auto gone = exchange("127.0.0.1:" + std::to_string(server.port()), "HELLO", milliseconds(500));
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(gone.error().code, Errc::Temp);
}

TEST(FailoverNet, ASilentServerTimesOut) {
  // A listener that accepts nothing and answers nothing.
  uint16_t port = 0;
  int fd = testnet::listen_loopback(&port);
  ASSERT_GE(fd, 0);
  auto t0 = std::chrono::steady_clock::now();
  auto r = exchange("127.0.0.1:" + std::to_string(port), "PING", milliseconds(200));
  auto took = std::chrono::steady_clock::now() - t0;
  ::close(fd);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::Temp);
  EXPECT_LT(took, milliseconds(2000));
}

TEST(FailoverNet, AnOverlongRequestLineIsRefused) {
  LineServer server;
  ASSERT_TRUE(server.start("127.0.0.1:0", [](const std::string&, const std::string&) {
    return format_reply({true, "SEEN", {}});
  }).ok());
  auto r = exchange("127.0.0.1:" + std::to_string(server.port()), std::string(kMaxLine + 100, 'x'),
                    milliseconds(2000));
  ASSERT_TRUE(r.ok()) << r.error().describe();
  EXPECT_FALSE(r->ok);
}

TEST(FailoverHook, RunsTheProgramWithRoleEpochPeerAndReason) {
  auto dir = std::filesystem::temp_directory_path() / ("cyr_hook_test." + std::to_string(std::random_device{}()));
  std::filesystem::create_directories(dir);
  auto script = dir / "hook.sh";
  auto out = dir / "out";
  std::ofstream(script) << "#!/bin/sh\necho \"$1 $2 $3 $4 $CYRUS_FAILOVER_ROLE $CYRUS_FAILOVER_EPOCH\" > " << out.string()
                        << ".tmp && mv " << out.string() << ".tmp " << out.string() << "\n";
  std::filesystem::permissions(script, std::filesystem::perms::owner_all);
  make_hook_runner(script.string())(HookEvent{"primary", 7, "peer:1", "test"});
  for (int i = 0; i < 200 && !std::filesystem::exists(out); ++i) std::this_thread::sleep_for(milliseconds(10));
  std::string line;
  std::getline(std::ifstream(out), line);
  EXPECT_EQ(line, "primary 7 peer:1 test primary 7");
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace cyr::failover
