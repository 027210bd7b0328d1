// Runs the real Master in this process with a small line-echo service
// registered as "imapd" (a test double: no protocol), on 127.0.0.1:0.
#include "server/master.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <sstream>
#include <thread>

#include "server/net/connection.h"
#include "server_test_util.h"

namespace cyr::server {
namespace {

using namespace std::chrono_literals;
using testing::read_file;
using testing::TempDir;
using testing::write_file;

std::atomic<int> g_sessions_started{0};

// Greets, echoes each line, and says BYE when the master shuts down.
void register_echo(ServiceRegistry& reg) {
  reg.add("imapd", [](std::shared_ptr<const ServiceContext> ctx) -> Result<ServiceHandler> {
    if (ctx->has_flag("-x")) return Error(Errc::Invalid, "echo: -x not supported");
    ServiceHandler h;
    h.refusal_line = "* BYE Too many connections\r\n";
    h.run_session = [ctx](std::shared_ptr<net::Connection> c) -> boost::asio::awaitable<void> {
      g_sessions_started.fetch_add(1);
      co_await c->write_and_flush("* OK echo " + ctx->service_name + "\r\n");
      for (;;) {
        auto line = co_await c->read_line(1000);
        if (!line) {
          if (c->end_reason() == net::EndReason::Shutdown)
            co_await c->write_and_flush("* BYE server shutting down\r\n");
          co_return;
        }
        if (*line == "SLOW") {  // a command in flight during shutdown
          boost::asio::steady_timer t(c->get_executor(), 300ms);
          co_await t.async_wait(boost::asio::use_awaitable);
        }
        co_await c->write_and_flush(*line + "\r\n");
      }
    };
    return h;
  });
}

// A blocking client with a receive timeout.
class Client {
 public:
  explicit Client(const std::string& host_port) {
    auto colon = host_port.rfind(':');
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(static_cast<uint16_t>(std::stoi(host_port.substr(colon + 1))));
    inet_pton(AF_INET, host_port.substr(0, colon).c_str(), &sa.sin_addr);
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    timeval tv{5, 0};
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    connected_ = connect(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0;
  }
  static Client unix_socket(const std::string& path) {
    Client c;
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", path.c_str());
    c.fd_ = socket(AF_UNIX, SOCK_STREAM, 0);
    timeval tv{5, 0};
    setsockopt(c.fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    c.connected_ = connect(c.fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) == 0;
    return c;
  }
  Client(Client&& o) noexcept : fd_(o.fd_), connected_(o.connected_), buf_(std::move(o.buf_)) { o.fd_ = -1; }
  ~Client() {
    if (fd_ >= 0) close(fd_);
  }
  bool connected() const { return connected_; }
  void send(const std::string& s) { ASSERT_EQ(::send(fd_, s.data(), s.size(), MSG_NOSIGNAL), (ssize_t)s.size()); }
  // One line without CRLF; "<eof>" or "<timeout>" otherwise.
  std::string line() {
    for (;;) {
      auto nl = buf_.find("\r\n");
      if (nl != std::string::npos) {
        std::string l = buf_.substr(0, nl);
        buf_.erase(0, nl + 2);
        return l;
      }
      char tmp[4096];
      ssize_t n = recv(fd_, tmp, sizeof tmp, 0);
      if (n == 0) return "<eof>";
      if (n < 0) return "<timeout>";
      buf_.append(tmp, static_cast<size_t>(n));
    }
  }

 private:
  Client() = default;
  int fd_ = -1;
  bool connected_ = false;
  std::string buf_;
};

class MasterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    register_echo(registry_);
    write_file(dir_.path() / "imapd.conf",
               "configdirectory: " + (dir_.path() / "conf").string() + "\n" +
               "partition-default: " + (dir_.path() / "spool").string() + "\n");
  }
  void TearDown() override {
    if (thread_.joinable()) {
      master_->request_stop();
      thread_.join();
    }
  }

  void start(const std::string& cyrus_conf) {
    write_file(dir_.path() / "cyrus.conf", cyrus_conf);
    MasterOptions o;
    o.imapd_conf_path = dir_.path() / "imapd.conf";
    o.cyrus_conf_path = dir_.path() / "cyrus.conf";
    o.self_exe = "/bin/false";
    o.has_command = [](std::string_view) { return false; };
    o.io_threads = 2;
    o.blocking_threads = 2;
    o.shutdown_grace = 2s;
    master_ = std::make_unique<Master>(std::move(o), registry_);
    thread_ = std::thread([this] { exit_code_ = master_->run(); });
  }

  // Waits for the ports file; returns service -> address (first per service).
  std::map<std::string, std::string> wait_ports(size_t expected) {
    auto path = dir_.path() / "conf" / "ports";
    for (int i = 0; i < 500; ++i) {
      if (std::filesystem::exists(path)) {
        std::map<std::string, std::string> out;
        std::istringstream in(read_file(path));
        std::string name, addr;
        while (in >> name >> addr) out.emplace(name, addr);
        if (out.size() >= expected) return out;
      }
      std::this_thread::sleep_for(10ms);
    }
    ADD_FAILURE() << "no ports file with " << expected << " services";
    return {};
  }

  int stop() {
    master_->request_stop();
    thread_.join();
    return exit_code_;
  }

  TempDir dir_;
  ServiceRegistry registry_;
  std::unique_ptr<Master> master_;
  std::thread thread_;
  int exit_code_ = -1;
};

TEST_F(MasterTest, ServesOnEphemeralPortAndWritesPortsFile) {
  start("SERVICES {\n  imap cmd=\"/usr/lib/cyrus/bin/imapd\" listen=\"127.0.0.1:0\"\n}\n");
  auto ports = wait_ports(1);
  ASSERT_EQ(ports.count("imap"), 1u);
  EXPECT_EQ(ports["imap"].rfind("127.0.0.1:", 0), 0u);
  EXPECT_NE(ports["imap"], "127.0.0.1:0");
  Client c(ports["imap"]);
  ASSERT_TRUE(c.connected());
  EXPECT_EQ(c.line(), "* OK echo imap");
  c.send("hello\r\n");
  EXPECT_EQ(c.line(), "hello");
  EXPECT_EQ(stop(), kExitOk);
  EXPECT_FALSE(std::filesystem::exists(dir_.path() / "conf" / "ports"));
}

TEST_F(MasterTest, MaxchildRefusesWithTheHandlersLine) {
  start("SERVICES {\n  imap cmd=\"imapd\" listen=\"127.0.0.1:0\" maxchild=1\n}\n");
  auto ports = wait_ports(1);
  Client first(ports["imap"]);
  ASSERT_EQ(first.line(), "* OK echo imap");
  Client second(ports["imap"]);
  EXPECT_EQ(second.line(), "* BYE Too many connections");
  EXPECT_EQ(second.line(), "<eof>");
  // The first session is unaffected; once it ends, a new one is admitted.
  first.send("still here\r\n");
  EXPECT_EQ(first.line(), "still here");
  { Client gone = std::move(first); }
  std::string greeting;
  for (int i = 0; i < 100 && greeting != "* OK echo imap"; ++i) {
    Client third(ports["imap"]);
    greeting = third.line();
    if (greeting != "* OK echo imap") std::this_thread::sleep_for(20ms);
  }
  EXPECT_EQ(greeting, "* OK echo imap");
}

TEST_F(MasterTest, ShutdownSaysByeToIdleSessionsAndFinishesCommandsInFlight) {
  start("SERVICES {\n  imap cmd=\"imapd\" listen=\"127.0.0.1:0\"\n}\n");
  auto ports = wait_ports(1);
  Client idle(ports["imap"]);
  Client busy(ports["imap"]);
  ASSERT_EQ(idle.line(), "* OK echo imap");
  ASSERT_EQ(busy.line(), "* OK echo imap");
  busy.send("SLOW\r\n");
  std::this_thread::sleep_for(50ms);  // SLOW is in flight
  master_->request_stop();
  EXPECT_EQ(idle.line(), "* BYE server shutting down");
  EXPECT_EQ(busy.line(), "SLOW");  // the command finished...
  EXPECT_EQ(busy.line(), "* BYE server shutting down");  // ...then goodbye
  thread_.join();
  EXPECT_EQ(exit_code_, kExitOk);
  // No longer listening.
  Client late(ports["imap"]);
  EXPECT_FALSE(late.connected());
}

TEST_F(MasterTest, StartRunsBeforeListeningAndUnixSockets) {
  auto script = dir_.path() / "start.sh";
  write_file(script, "#!/bin/sh\nsleep 0.3\necho done > " + (dir_.path() / "start-done").string() + "\n");
  chmod(script.c_str(), 0755);
  auto sock = dir_.path() / "lmtp.sock";
  start("START {\n  first cmd=\"" + script.string() + "\"\n}\n"
        "SERVICES {\n  lmtpunix cmd=\"imapd\" listen=\"" + sock.string() + "\"\n}\n");
  auto ports = wait_ports(1);
  // START finished before the listener existed.
  EXPECT_TRUE(std::filesystem::exists(dir_.path() / "start-done"));
  EXPECT_EQ(ports["lmtpunix"], sock.string());
  auto c = Client::unix_socket(sock.string());
  ASSERT_TRUE(c.connected());
  EXPECT_EQ(c.line(), "* OK echo lmtpunix");
  c.send("over unix\r\n");
  EXPECT_EQ(c.line(), "over unix");
  EXPECT_EQ(stop(), kExitOk);
  EXPECT_FALSE(std::filesystem::exists(sock));
}

TEST_F(MasterTest, UnservedEntriesAreSkippedOthersStillServed) {
  start("SERVICES {\n"
        "  pop3 cmd=\"pop3d\" listen=\"127.0.0.1:0\"\n"       // no handler
        "  bad cmd=\"imapd -x\" listen=\"127.0.0.1:0\"\n"     // factory refuses
        "  imaps cmd=\"imapd -s\" listen=\"127.0.0.1:0\"\n"   // no TLS configured
        "  junk cmd=\"imapd\" listen=\"[nothex]:1\"\n"        // bad address
        "  imap cmd=\"imapd\" listen=\"127.0.0.1:0\"\n"
        "}\n");
  auto ports = wait_ports(1);
  EXPECT_EQ(ports.size(), 1u);
  EXPECT_EQ(ports.count("imap"), 1u);
  EXPECT_EQ(stop(), kExitOk);
}

TEST_F(MasterTest, ReloadAddsAndRemovesListeners) {
  start("SERVICES {\n  imap cmd=\"imapd\" listen=\"127.0.0.1:0\"\n}\n");
  auto ports = wait_ports(1);
  Client kept(ports["imap"]);
  ASSERT_EQ(kept.line(), "* OK echo imap");
  write_file(dir_.path() / "cyrus.conf",
             "SERVICES {\n  imap2 cmd=\"imapd\" listen=\"127.0.0.1:0\"\n}\n");
  master_->request_reload();
  std::map<std::string, std::string> after;
  for (int i = 0; i < 300; ++i) {
    after = wait_ports(1);
    if (after.count("imap2") && !after.count("imap")) break;
    std::this_thread::sleep_for(10ms);
  }
  ASSERT_EQ(after.count("imap2"), 1u);
  EXPECT_EQ(after.count("imap"), 0u);
  Client c2(after["imap2"]);
  EXPECT_EQ(c2.line(), "* OK echo imap2");
  // The session on the removed service carries on.
  kept.send("after reload\r\n");
  EXPECT_EQ(kept.line(), "after reload");
  Client old(ports["imap"]);
  EXPECT_FALSE(old.connected());
  EXPECT_EQ(stop(), kExitOk);
}

TEST_F(MasterTest, BrokenConfigurationIsAConfigError) {
  write_file(dir_.path() / "cyrus.conf", "SERVICES {\n  imap cmd=\"imapd\n");
  MasterOptions o;
  o.imapd_conf_path = dir_.path() / "imapd.conf";
  o.cyrus_conf_path = dir_.path() / "cyrus.conf";
  o.has_command = [](std::string_view) { return false; };
  Master m(std::move(o), registry_);
  EXPECT_EQ(m.run(), kExitConfig);
}

}  // namespace
}  // namespace cyr::server

namespace cyr::server {
namespace {

TEST_F(MasterTest, Ipv6LoopbackAndTwoServicesInThePortsFile) {
  start("SERVICES {\n"
        "  imap cmd=\"imapd\" listen=\"127.0.0.1:0\"\n"
        "  imap6 cmd=\"imapd\" listen=\"[::1]:0\" proto=\"tcp6\"\n"
        "}\n");
  auto ports = wait_ports(1);
  ASSERT_EQ(ports.count("imap"), 1u);
  if (ports.count("imap6") == 0) {
    stop();
    GTEST_SKIP() << "no IPv6 loopback here";
  }
  EXPECT_EQ(ports["imap6"].rfind("[::1]:", 0), 0u) << ports["imap6"];
  EXPECT_EQ(stop(), kExitOk);
}

}  // namespace
}  // namespace cyr::server
