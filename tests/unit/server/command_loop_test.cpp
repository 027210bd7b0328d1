// serve_command_lines: the LMTP/POP3 command loop, over a socket pair.
#include "server/net/command_loop.h"

#include <gtest/gtest.h>

#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <vector>

#include "server_test_util.h"

namespace cyr::server::net {
namespace {

namespace asio = boost::asio;
using cyr::server::testing::run_coroutine;
using UnixSocket = asio::local::stream_protocol::socket;

using cyr::server::testing::connection_pair;

LinePolicy policy() {
  LinePolicy p;
  p.max_line = 100;
  p.too_long = "TOO LONG\r\n";
  p.shutdown = "SHUTDOWN\r\n";
  p.idle = "IDLE\r\n";
  return p;
}

// Everything the server has flushed to the client so far.
std::string received(UnixSocket& client) {
  std::string got(client.available(), '\0');
  if (!got.empty()) asio::read(client, asio::buffer(got));
  return got;
}

// Replies "ok <line>" to every line; "quit" ends the session.
struct Echo {
  Connection* conn;
  std::vector<std::string>* lines;
  asio::awaitable<bool> operator()(const std::string& line) const {
    lines->push_back(line);
    conn->write("ok " + line + "\r\n");
    co_return line != "quit";
  }
};

TEST(CommandLoop, LinesRepliesAndALineTooLong) {
  asio::io_context ioc;
  auto p = connection_pair(ioc);
  std::string in = "one\r\n" + std::string(300, 'x') + "\r\ntwo\r\nquit\r\nnever\r\n";
  asio::write(p.client, asio::buffer(in));
  std::vector<std::string> lines;
  run_coroutine(ioc, serve_command_lines(*p.server, policy(), Echo{p.server.get(), &lines}));
  // The over-long line is answered by the policy, not handed on; the loop
  // goes on after it and ends at "quit" with its reply flushed.
  EXPECT_EQ(lines, (std::vector<std::string>{"one", "two", "quit"}));
  EXPECT_EQ(received(p.client), "ok one\r\nTOO LONG\r\nok two\r\nok quit\r\n");
}

TEST(CommandLoop, PeerClosingEndsTheLoopWithoutAReply) {
  asio::io_context ioc;
  auto p = connection_pair(ioc);
  asio::write(p.client, asio::buffer(std::string("one\r\n")));
  p.client.shutdown(asio::socket_base::shutdown_send);
  std::vector<std::string> lines;
  run_coroutine(ioc, serve_command_lines(*p.server, policy(), Echo{p.server.get(), &lines}));
  EXPECT_EQ(lines, std::vector<std::string>{"one"});
  EXPECT_EQ(received(p.client), "ok one\r\n");
}

TEST(CommandLoop, IdleTimeoutSaysThePolicysWordOrNothing) {
  for (bool silent : {false, true}) {
    asio::io_context ioc;
    auto p = connection_pair(ioc);
    // The loop waits for the timeout; nothing is asserted about how long.
    p.server->set_idle_timeout(std::chrono::milliseconds(20));
    LinePolicy pol = policy();
    if (silent) pol.idle = {};
    std::vector<std::string> lines;
    run_coroutine(ioc, serve_command_lines(*p.server, pol, Echo{p.server.get(), &lines}));
    EXPECT_TRUE(lines.empty());
    EXPECT_EQ(received(p.client), silent ? "" : "IDLE\r\n");
  }
}

TEST(CommandLoop, ShutdownSaysThePolicysWord) {
  asio::io_context ioc;
  auto p = connection_pair(ioc);
  asio::steady_timer t(ioc, std::chrono::milliseconds(10));
  t.async_wait([&](const boost::system::error_code&) { p.server->request_shutdown(); });
  std::vector<std::string> lines;
  run_coroutine(ioc, serve_command_lines(*p.server, policy(), Echo{p.server.get(), &lines}));
  EXPECT_EQ(received(p.client), "SHUTDOWN\r\n");
}

}  // namespace
}  // namespace cyr::server::net
