#include "server/net/connection.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/asio/read.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <cstdio>

#include "server/net/client_info.h"
#include "server/net/tls.h"
#include "server_test_util.h"

namespace cyr::server::net {
namespace {

namespace asio = boost::asio;
using asio::use_awaitable;
using cyr::server::testing::run_coroutine;
using UnixSocket = asio::local::stream_protocol::socket;

using cyr::server::testing::connection_pair;

void send(UnixSocket& s, std::string_view data) { asio::write(s, asio::buffer(data.data(), data.size())); }

TEST(Connection, ReadsLinesWithCrlfOrLf) {
  asio::io_context ioc;
  auto p = connection_pair(ioc);
  send(p.client, "a1 NOOP\r\nsecond\nthird\r\n");
  run_coroutine(ioc, [&]() -> asio::awaitable<void> {
    auto l1 = co_await p.server->read_line(100);
    auto l2 = co_await p.server->read_line(100);
    auto l3 = co_await p.server->read_line(100);
    EXPECT_TRUE(l1.ok() && *l1 == "a1 NOOP");
    EXPECT_TRUE(l2.ok() && *l2 == "second");
    EXPECT_TRUE(l3.ok() && *l3 == "third");
  }());
  EXPECT_EQ(p.server->peer(), "unix");
  EXPECT_TRUE(p.server->is_unix());
}

TEST(Connection, ClientInfoForTheAuthenticator) {
  EXPECT_EQ(peer_address("192.0.2.1:51234"), "192.0.2.1");
  EXPECT_EQ(peer_address("[2001:db8::1]:51234"), "2001:db8::1");
  EXPECT_EQ(peer_address("unix"), "");
  asio::io_context ioc;
  auto p = connection_pair(ioc);
  auto c = client_info_of(*p.server);
  EXPECT_EQ(c.session_id, "t1");
  EXPECT_EQ(c.address, "");
  EXPECT_FALSE(c.tls);
}

TEST(Connection, LineSplitAcrossManyReads) {
  asio::io_context ioc;
  auto p = connection_pair(ioc);
  // The writer sends one byte at a time from a second coroutine.
  std::string got;
  asio::co_spawn(ioc, [&]() -> asio::awaitable<void> {
    std::string msg = "split line\r\n";
    asio::steady_timer t(ioc);
    for (char c : msg) {
      co_await asio::async_write(p.client, asio::buffer(&c, 1), use_awaitable);
      t.expires_after(std::chrono::milliseconds(1));
      co_await t.async_wait(use_awaitable);
    }
  }, [](std::exception_ptr) {});
  run_coroutine(ioc, [&]() -> asio::awaitable<void> {
    auto l = co_await p.server->read_line(100);
    EXPECT_TRUE(l.ok());
    if (l.ok()) got = *l;
  }());
  EXPECT_EQ(got, "split line");
}

TEST(Connection, LineTooLongIsAnErrorAndTheRestOfTheLineIsSkipped) {
  asio::io_context ioc;
  auto p = connection_pair(ioc);
  send(p.client, std::string(5000, 'x') + "\r\nok\r\n");
  run_coroutine(ioc, [&]() -> asio::awaitable<void> {
    auto l = co_await p.server->read_line(100);
    EXPECT_FALSE(l.ok());
    if (!l.ok()) {
      EXPECT_EQ(l.error().code, Errc::Limit);
    }
    EXPECT_EQ(p.server->end_reason(), EndReason::LineTooLong);
    auto next = co_await p.server->read_line(100);
    EXPECT_TRUE(next.ok() && *next == "ok");
  }());
}

TEST(Connection, LineExactlyAtTheLimitIsAccepted) {
  asio::io_context ioc;
  auto p = connection_pair(ioc);
  send(p.client, std::string(100, 'y') + "\r\n" + std::string(101, 'z') + "\r\n");
  run_coroutine(ioc, [&]() -> asio::awaitable<void> {
    auto ok = co_await p.server->read_line(100);
    EXPECT_TRUE(ok.ok() && ok->size() == 100);
    auto too_long = co_await p.server->read_line(100);
    EXPECT_FALSE(too_long.ok());
  }());
}

TEST(Connection, ReadExactForLiterals) {
  asio::io_context ioc;
  auto p = connection_pair(ioc);
  send(p.client, "A APPEND x {11}\r\nhello\r\nworld rest\r\n");
  run_coroutine(ioc, [&]() -> asio::awaitable<void> {
    auto cmd = co_await p.server->read_line(100);
    EXPECT_TRUE(cmd.ok() && *cmd == "A APPEND x {11}");
    auto lit = co_await p.server->read_exact(11);
    EXPECT_TRUE(lit.ok() && *lit == "hello\r\nworl");
    auto rest = co_await p.server->read_line(100, Connection::ReadMode::InCommand);
    EXPECT_TRUE(rest.ok() && *rest == "d rest");
  }());
}

TEST(Connection, ReadToFileStreamsExactlyN) {
  asio::io_context ioc;
  auto p = connection_pair(ioc);
  std::string body(100000, 'm');
  body[5] = '\n';
  send(p.client, body + "NEXT\r\n");
  FILE* f = tmpfile();
  ASSERT_NE(f, nullptr);
  run_coroutine(ioc, [&]() -> asio::awaitable<void> {
    Status st = co_await p.server->read_to_file(body.size(), fileno(f));
    EXPECT_TRUE(st.ok());
    auto next = co_await p.server->read_line(100);
    EXPECT_TRUE(next.ok() && *next == "NEXT");
  }());
  std::string back(body.size(), '\0');
  ASSERT_EQ(pread(fileno(f), back.data(), back.size(), 0), static_cast<ssize_t>(body.size()));
  EXPECT_EQ(back, body);
  fclose(f);
}

TEST(Connection, ReadToFileErrorKeepsStreamInStep) {
  asio::io_context ioc;
  auto p = connection_pair(ioc);
  send(p.client, "0123456789AFTER\r\n");
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  close(fds[0]);  // writing to it fails (EPIPE; SIGPIPE ignored below)
  signal(SIGPIPE, SIG_IGN);
  run_coroutine(ioc, [&]() -> asio::awaitable<void> {
    Status st = co_await p.server->read_to_file(10, fds[1]);
    EXPECT_FALSE(st.ok());
    auto next = co_await p.server->read_line(100);
    EXPECT_TRUE(next.ok() && *next == "AFTER");
  }());
  close(fds[1]);
}

TEST(Connection, EofIsAValue) {
  asio::io_context ioc;
  auto p = connection_pair(ioc);
  send(p.client, "partial");
  p.client.close();
  run_coroutine(ioc, [&]() -> asio::awaitable<void> {
    auto l = co_await p.server->read_line(100);
    EXPECT_FALSE(l.ok());
    EXPECT_EQ(p.server->end_reason(), EndReason::Eof);
  }());
}

TEST(Connection, BufferedWritesGoOutOnFlush) {
  asio::io_context ioc;
  auto p = connection_pair(ioc);
  run_coroutine(ioc, [&]() -> asio::awaitable<void> {
    p.server->write("* OK ");
    p.server->write("ready\r\n");
    EXPECT_EQ(p.server->pending_output(), 12u);
    EXPECT_EQ(p.client.available(), 0u);  // nothing sent before flush
    Status st = co_await p.server->flush();
    EXPECT_TRUE(st.ok());
    EXPECT_EQ(p.server->pending_output(), 0u);
  }());
  std::string got(12, '\0');
  asio::read(p.client, asio::buffer(got));
  EXPECT_EQ(got, "* OK ready\r\n");
}

TEST(Connection, IdleTimeout) {
  asio::io_context ioc;
  auto p = connection_pair(ioc);
  p.server->set_idle_timeout(std::chrono::milliseconds(50));
  auto start = std::chrono::steady_clock::now();
  run_coroutine(ioc, [&]() -> asio::awaitable<void> {
    auto l = co_await p.server->read_line(100);
    EXPECT_FALSE(l.ok());
    if (!l.ok()) {
      EXPECT_EQ(l.error().code, Errc::Temp);
    }
    EXPECT_EQ(p.server->end_reason(), EndReason::IdleTimeout);
  }());
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(50));
}

TEST(Connection, TimeoutDoesNotFireWhileDataFlows) {
  asio::io_context ioc;
  auto p = connection_pair(ioc);
  p.server->set_idle_timeout(std::chrono::milliseconds(80));
  asio::co_spawn(ioc, [&]() -> asio::awaitable<void> {
    asio::steady_timer t(ioc);
    for (int i = 0; i < 5; ++i) {  // 5 lines, 40 ms apart: 200 ms in all
      t.expires_after(std::chrono::milliseconds(40));
      co_await t.async_wait(use_awaitable);
      co_await asio::async_write(p.client, asio::buffer("x\r\n", 3), use_awaitable);
    }
  }, [](std::exception_ptr) {});
  run_coroutine(ioc, [&]() -> asio::awaitable<void> {
    for (int i = 0; i < 5; ++i) {
      auto l = co_await p.server->read_line(100);
      EXPECT_TRUE(l.ok()) << i;
    }
  }());
}

TEST(Connection, ShutdownWakesAnIdleReader) {
  asio::io_context ioc;
  auto p = connection_pair(ioc);
  asio::steady_timer t(ioc, std::chrono::milliseconds(30));
  t.async_wait([&](const boost::system::error_code&) { p.server->request_shutdown(); });
  run_coroutine(ioc, [&]() -> asio::awaitable<void> {
    auto l = co_await p.server->read_line(100);
    EXPECT_FALSE(l.ok());
    if (!l.ok()) {
      EXPECT_EQ(l.error().code, Errc::Unavailable);
    }
    EXPECT_EQ(p.server->end_reason(), EndReason::Shutdown);
    // The session can still say goodbye.
    Status st = co_await p.server->write_and_flush("* BYE shutting down\r\n");
    EXPECT_TRUE(st.ok());
  }());
  EXPECT_TRUE(p.server->shutdown_requested());
  std::string got(21, '\0');
  asio::read(p.client, asio::buffer(got));
  EXPECT_EQ(got, "* BYE shutting down\r\n");
}

TEST(Connection, ShutdownLetsACommandInFlightFinish) {
  asio::io_context ioc;
  auto p = connection_pair(ioc);
  p.server->request_shutdown();
  asio::co_spawn(ioc, [&]() -> asio::awaitable<void> {
    asio::steady_timer t(ioc, std::chrono::milliseconds(30));
    co_await t.async_wait(use_awaitable);
    co_await asio::async_write(p.client, asio::buffer("literal!rest\r\n", 14), use_awaitable);
  }, [](std::exception_ptr) {});
  run_coroutine(ioc, [&]() -> asio::awaitable<void> {
    auto lit = co_await p.server->read_exact(8);
    EXPECT_TRUE(lit.ok() && *lit == "literal!");
    auto rest = co_await p.server->read_line(100, Connection::ReadMode::InCommand);
    EXPECT_TRUE(rest.ok() && *rest == "rest");
    // The next command is not read.
    auto next = co_await p.server->read_line(100);
    EXPECT_FALSE(next.ok());
    EXPECT_EQ(p.server->end_reason(), EndReason::Shutdown);
  }());
}

TEST(Connection, CloseFailsPendingRead) {
  asio::io_context ioc;
  auto p = connection_pair(ioc);
  asio::steady_timer t(ioc, std::chrono::milliseconds(20));
  t.async_wait([&](const boost::system::error_code&) { p.server->close(); });
  run_coroutine(ioc, [&]() -> asio::awaitable<void> {
    auto l = co_await p.server->read_line(100, Connection::ReadMode::InCommand);
    EXPECT_FALSE(l.ok());
  }());
}

TEST(Connection, ReadExactRejectsAbsurdSizes) {
  asio::io_context ioc;
  auto p = connection_pair(ioc);
  run_coroutine(ioc, [&]() -> asio::awaitable<void> {
    auto r = co_await p.server->read_exact(Connection::kMaxExactRead + 1);
    EXPECT_FALSE(r.ok());
    EXPECT_EQ(p.server->end_reason(), EndReason::TooBig);
  }());
}

TEST(Connection, StartTlsUpgradesInPlaceAndDiscardsInjectedPlaintext) {
  cyr::server::testing::TempDir dir;
  cyr::server::testing::write_self_signed_cert(dir.path() / "cert.pem", dir.path() / "key.pem");
  TlsSettings s;
  s.cert_files = {(dir.path() / "cert.pem").string()};
  s.key_files = {(dir.path() / "key.pem").string()};
  auto server_ctx = make_server_tls_context(s);
  ASSERT_TRUE(server_ctx.ok()) << server_ctx.error().describe();

  asio::io_context ioc;
  auto p = connection_pair(ioc);
  asio::ssl::context client_ctx(asio::ssl::context::tls_client);
  client_ctx.set_verify_mode(asio::ssl::verify_none);
  std::string client_got;

  // STARTTLS followed, in the same packet, by an injected plaintext command.
  send(p.client, "a STARTTLS\r\nb INJECTED\r\n");
  asio::co_spawn(ioc, [&]() -> asio::awaitable<void> {
    // Wait for the server's go-ahead, then handshake and talk over TLS.
    std::string ok(16, '\0');
    co_await asio::async_read(p.client, asio::buffer(ok), use_awaitable);
    EXPECT_EQ(ok, "a OK Begin TLS\r\n");
    asio::ssl::stream<UnixSocket&> tls(p.client, client_ctx);
    co_await tls.async_handshake(asio::ssl::stream_base::client, use_awaitable);
    co_await asio::async_write(tls, asio::buffer("c NOOP\r\n", 8), use_awaitable);
    std::string reply(9, '\0');
    co_await asio::async_read(tls, asio::buffer(reply), use_awaitable);
    client_got = reply;
  }, [](std::exception_ptr e) {
    if (e) std::rethrow_exception(e);
  });
  run_coroutine(ioc, [&]() -> asio::awaitable<void> {
    auto cmd = co_await p.server->read_line(100);
    EXPECT_TRUE(cmd.ok() && *cmd == "a STARTTLS");
    co_await p.server->write_and_flush("a OK Begin TLS\r\n");
    Status st = co_await p.server->start_tls(*server_ctx);
    EXPECT_TRUE(st.ok()) << (st.ok() ? "" : st.error().describe());
    EXPECT_TRUE(p.server->is_tls());
    auto next = co_await p.server->read_line(100);
    EXPECT_TRUE(next.ok() && *next == "c NOOP");  // not "b INJECTED"
    co_await p.server->write_and_flush("c OK done");
  }());
  EXPECT_EQ(client_got, "c OK done");
}

TEST(Connection, TlsHandshakeFailureIsAValue) {
  cyr::server::testing::TempDir dir;
  cyr::server::testing::write_self_signed_cert(dir.path() / "cert.pem", dir.path() / "key.pem");
  TlsSettings s;
  s.cert_files = {(dir.path() / "cert.pem").string()};
  s.key_files = {(dir.path() / "key.pem").string()};
  auto ctx = make_server_tls_context(s);
  ASSERT_TRUE(ctx.ok());
  asio::io_context ioc;
  auto p = connection_pair(ioc);
  send(p.client, "this is not a TLS client hello\r\n\r\n");
  p.client.shutdown(asio::socket_base::shutdown_send);
  run_coroutine(ioc, [&]() -> asio::awaitable<void> {
    Status st = co_await p.server->start_tls(*ctx);
    EXPECT_FALSE(st.ok());
    EXPECT_EQ(p.server->end_reason(), EndReason::Tls);
  }());
}

}  // namespace
}  // namespace cyr::server::net
