// The LMTP session end to end over a unix socket pair, with an in-process
// Store: the client side is plain blocking socket I/O on the test thread.
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/strand.hpp>
#include <fstream>
#include <thread>

#include "delivery_test_util.h"
#include "server/blocking_pool.h"
#include "server/lmtpd/lmtpd_service.h"
#include "server/net/connection.h"

namespace cyr::lmtpd {
namespace {

namespace asio = boost::asio;
using testing::TempNode;

class LmtpFixture {
 public:
  explicit LmtpFixture(TempNode& node, std::shared_ptr<store::DuplicateDb> dup = nullptr)
      : pool_(2) {
    auto ctx = std::make_shared<server::ServiceContext>();
    ctx->service_name = "lmtpunix";
    ctx->argv = {"lmtpd"};
    ctx->conf = node.conf();
    ctx->blocking = &pool_;
    auto h = make_lmtpd_handler(ctx, node.store_ptr(), std::move(dup));
    EXPECT_TRUE(h.ok()) << (h.ok() ? "" : h.error().describe());
    handler_ = std::move(*h);
    int sv[2];
    EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    client_ = sv[0];
    asio::local::stream_protocol::socket s(asio::make_strand(ioc_), asio::local::stream_protocol(), sv[1]);
    auto conn = server::net::Connection::create(std::move(s), "t1");
    asio::co_spawn(conn->get_executor(), handler_.run_session(conn), asio::detached);
    thread_ = std::thread([this] { ioc_.run(); });
  }
  ~LmtpFixture() {
    if (client_ >= 0) ::close(client_);
    thread_.join();
    pool_.stop();
  }

  void send(const std::string& s) {
    size_t off = 0;
    while (off < s.size()) {
      ssize_t w = ::write(client_, s.data() + off, s.size() - off);
      ASSERT_GT(w, 0);
      off += static_cast<size_t>(w);
    }
  }
  std::string line() {
    std::string l;
    char c;
    while (::read(client_, &c, 1) == 1) {
      l += c;
      if (c == '\n') break;
    }
    return l;
  }
  // One complete (possibly multi-line) reply.
  std::string reply() {
    std::string all;
    for (;;) {
      std::string l = line();
      all += l;
      if (l.size() < 4 || l[3] != '-') return all;
    }
  }
  void close_client() {
    ::close(client_);
    client_ = -1;
  }

 private:
  asio::io_context ioc_;
  server::BlockingPool pool_;
  server::ServiceHandler handler_;
  int client_ = -1;
  std::thread thread_;
};

std::string message(const std::string& id, const std::string& body = "hello\r\n") {
  return "From: s@x\r\nMessage-ID: <" + id + ">\r\nSubject: test\r\n\r\n" + body;
}

TEST(LmtpSession, ThreeRecipientsGetThreeReplies) {
  TempNode n("lmtp_strict_quota: yes\n");
  n.create("user.a");
  n.create("user.b");
  ASSERT_TRUE(n.store().set_quota("user.b", 1, std::nullopt).ok());
  LmtpFixture f(n);
  EXPECT_EQ(f.reply().substr(0, 4), "220 ");
  f.send("LHLO test\r\n");
  std::string caps = f.reply();
  EXPECT_NE(caps.find("PIPELINING"), std::string::npos);
  EXPECT_NE(caps.find("ENHANCEDSTATUSCODES"), std::string::npos);
  EXPECT_NE(caps.find("8BITMIME"), std::string::npos);
  // Pipelined envelope.
  f.send("MAIL FROM:<s@x>\r\nRCPT TO:<a@x>\r\nRCPT TO:<b@x>\r\nRCPT TO:<nobody@x>\r\nDATA\r\n");
  EXPECT_EQ(f.reply(), "250 2.1.0 Ok\r\n");
  EXPECT_EQ(f.reply(), "250 2.1.5 Ok\r\n");
  EXPECT_EQ(f.reply(), "250 2.1.5 Ok\r\n");
  EXPECT_EQ(f.reply(), "550 5.1.1 User unknown\r\n");
  EXPECT_EQ(f.reply().substr(0, 4), "354 ");
  f.send(message("three@x", std::string(3000, 'z') + "\r\n") + ".\r\n");
  EXPECT_EQ(f.reply(), "250 2.1.5 Ok\r\n");
  EXPECT_EQ(f.reply(), "452 4.2.2 Over quota\r\n");
  f.send("QUIT\r\n");
  EXPECT_EQ(f.reply().substr(0, 4), "221 ");
  EXPECT_EQ(n.exists("user.a"), 1u);
  EXPECT_EQ(n.exists("user.b"), 0u);
  // Return-Path and the trace field were added at the top (RFC 5321 4.4;
  // RFC 3848's "LMTP": no TLS, no AUTH).
  auto bytes = n.store().read_message("user.a", 1);
  ASSERT_TRUE(bytes.ok());
  EXPECT_EQ(bytes->substr(0, 20), "Return-Path: <s@x>\r\n");
  EXPECT_EQ(bytes->substr(20, 39), "Received: from test (unix socket)\r\n\tby ") << *bytes;
  EXPECT_NE(bytes->find(" with LMTP;\r\n\t"), std::string::npos) << *bytes;
}

TEST(LmtpSession, BareNewlineRefusedAndNothingDelivered) {
  TempNode n;
  n.create("user.a");
  LmtpFixture f(n);
  f.reply();
  f.send("LHLO t\r\n");
  f.reply();
  f.send("MAIL FROM:<s@x>\r\nRCPT TO:<a>\r\nDATA\r\n");
  f.reply();
  f.reply();
  f.reply();
  f.send("Subject: x\r\n\r\nbare\nnewline\r\n.\r\nNOOP\r\n");
  EXPECT_EQ(f.reply(), "554 5.6.0 Message contains bare newlines\r\n");
  EXPECT_EQ(f.reply(), "250 2.0.0 Ok\r\n");  // the pipelined NOOP survived
  EXPECT_EQ(n.exists("user.a"), 0u);
}

TEST(LmtpSession, EightBitHeaderMungedOrRejected) {
  {
    TempNode n;
    n.create("user.a");
    LmtpFixture f(n);
    f.reply();
    f.send("LHLO t\r\nMAIL FROM:<s@x>\r\nRCPT TO:<a>\r\nDATA\r\n");
    for (int i = 0; i < 4; ++i) f.reply();
    f.send("Subject: caf\xc3\xa9\r\n\r\nbody \xc3\xa9\r\n.\r\n");
    EXPECT_EQ(f.reply(), "250 2.1.5 Ok\r\n");
    auto bytes = n.store().read_message("user.a", 1);
    ASSERT_TRUE(bytes.ok());
    EXPECT_NE(bytes->find("Subject: cafXX\r\n"), std::string::npos);
    EXPECT_NE(bytes->find("body \xc3\xa9"), std::string::npos);
  }
  {
    TempNode n("reject8bit: yes\n");
    n.create("user.a");
    LmtpFixture f(n);
    f.reply();
    f.send("LHLO t\r\nMAIL FROM:<s@x>\r\nRCPT TO:<a>\r\nDATA\r\n");
    for (int i = 0; i < 4; ++i) f.reply();
    f.send("Subject: caf\xc3\xa9\r\n\r\nbody\r\n.\r\n");
    EXPECT_EQ(f.reply().substr(0, 9), "554 5.6.0");
    EXPECT_EQ(n.exists("user.a"), 0u);
  }
}

TEST(LmtpSession, DuplicateSuppressedAcrossTransactions) {
  TempNode n;
  n.create("user.a");
  auto dup = store::DuplicateDb::open(n.dir() / "conf" / "deliver.db");
  ASSERT_TRUE(dup.ok());
  LmtpFixture f(n, std::shared_ptr<store::DuplicateDb>(std::move(*dup)));
  f.reply();
  f.send("LHLO t\r\n");
  f.reply();
  for (int round = 0; round < 2; ++round) {
    f.send("MAIL FROM:<s@x>\r\nRCPT TO:<a>\r\nDATA\r\n");
    f.reply();
    f.reply();
    f.reply();
    f.send(message("dup@x") + ".\r\n");
    EXPECT_EQ(f.reply().substr(0, 4), "250 ");
  }
  EXPECT_EQ(n.exists("user.a"), 1u);
}

TEST(LmtpSession, SequenceErrorsAndMaxSize) {
  TempNode n("maxmessagesize: 100\n");
  n.create("user.a");
  LmtpFixture f(n);
  f.reply();
  f.send("MAIL FROM:<s@x>\r\n");
  EXPECT_EQ(f.reply().substr(0, 3), "503");  // LHLO first
  f.send("HELO x\r\n");
  EXPECT_EQ(f.reply().substr(0, 3), "500");
  f.send("LHLO t\r\nRCPT TO:<a>\r\n");
  f.reply();
  EXPECT_EQ(f.reply().substr(0, 3), "503");  // MAIL first
  f.send("MAIL FROM:<s@x> SIZE=1000\r\n");
  EXPECT_EQ(f.reply().substr(0, 9), "552 5.3.4");
  f.send("MAIL FROM:<s@x>\r\nDATA\r\n");
  f.reply();
  EXPECT_EQ(f.reply().substr(0, 3), "503");  // no recipients
  f.send("RCPT TO:<a>\r\nDATA\r\n");
  f.reply();
  f.reply();
  f.send(message("big@x", std::string(500, 'x') + "\r\n") + ".\r\n");
  EXPECT_EQ(f.reply().substr(0, 9), "552 5.3.4");
  EXPECT_EQ(n.exists("user.a"), 0u);
}

TEST(LmtpSession, DroppedConnectionDuringDataDeliversNothing) {
  TempNode n;
  n.create("user.a");
  {
    LmtpFixture f(n);
    f.reply();
    f.send("LHLO t\r\nMAIL FROM:<s@x>\r\nRCPT TO:<a>\r\nDATA\r\n");
    for (int i = 0; i < 4; ++i) f.reply();
    f.send("Subject: x\r\n\r\npartial body");
    f.close_client();
  }
  EXPECT_EQ(n.exists("user.a"), 0u);
  // No spool file left behind.
  auto spool = n.dir() / "spool" / "lmtp.spool";
  EXPECT_TRUE(std::filesystem::is_empty(spool));
}

// Larger than one spool write piece (256 KiB): the pieces are written on
// the blocking pool as they fill, the rest with the delivery; the stored
// message is every byte of it, in order.
TEST(LmtpSession, MessageOfSeveralWritePiecesArrivesWhole) {
  TempNode n;
  n.create("user.a");
  std::string body;
  for (int i = 0; body.size() < 700 * 1024; ++i) body += "line " + std::to_string(i) + " of a long message\r\n";
  {
    LmtpFixture f(n);
    f.reply();
    f.send("LHLO t\r\nMAIL FROM:<s@x>\r\nRCPT TO:<a>\r\nDATA\r\n");
    for (int i = 0; i < 4; ++i) f.reply();
    f.send(message("big@x", body) + ".\r\n");
    EXPECT_EQ(f.reply(), "250 2.1.5 Ok\r\n");
    f.send("QUIT\r\n");
    f.reply();
  }
  auto bytes = n.store().read_message("user.a", 1);
  ASSERT_TRUE(bytes.ok());
  ASSERT_TRUE(bytes->starts_with("Return-Path: <s@x>\r\nReceived: "));
  size_t header_start = bytes->find("\r\nFrom: s@x\r\n");
  ASSERT_NE(header_start, std::string::npos);
  EXPECT_EQ(bytes->substr(header_start + 2), message("big@x", body));
  auto spool = n.dir() / "spool" / "lmtp.spool";
  EXPECT_TRUE(std::filesystem::is_empty(spool));
}

// A connection dropped after a piece was written to the spool file: nothing
// delivered, the partial file removed.
TEST(LmtpSession, DroppedConnectionAfterAWrittenPieceLeavesNoSpoolFile) {
  TempNode n;
  n.create("user.a");
  {
    LmtpFixture f(n);
    f.reply();
    f.send("LHLO t\r\nMAIL FROM:<s@x>\r\nRCPT TO:<a>\r\nDATA\r\n");
    for (int i = 0; i < 4; ++i) f.reply();
    std::string part = "Subject: x\r\n\r\n";
    while (part.size() < 600 * 1024) part += "partial line of a message\r\n";
    f.send(part);
    f.close_client();
  }
  EXPECT_EQ(n.exists("user.a"), 0u);
  auto spool = n.dir() / "spool" / "lmtp.spool";
  EXPECT_TRUE(std::filesystem::is_empty(spool));
}

// The spool file cannot be made: every recipient gets 451, nothing is
// delivered, and the session goes on.
// A message that fits in one write piece (256 KiB) goes to the store from
// memory: it needs no spool file. A larger one is spooled as it arrives, and
// a spool failure refuses it with 451.
TEST(LmtpSession, SpoolFailureRefusesTheMessageWith451) {
  TempNode n;
  n.create("user.a");
  n.create("user.b");
  LmtpFixture f(n);
  // The spool directory exists now (made by the service); a file in its
  // place makes every mkstemp fail, for root too.
  auto spool = n.dir() / "spool" / "lmtp.spool";
  std::filesystem::remove_all(spool);
  { std::ofstream(spool) << "not a directory"; }
  f.reply();
  f.send("LHLO t\r\nMAIL FROM:<s@x>\r\nRCPT TO:<a>\r\nRCPT TO:<b>\r\nDATA\r\n");
  for (int i = 0; i < 5; ++i) f.reply();
  f.send(message("small@x") + ".\r\n");
  EXPECT_EQ(f.reply().substr(0, 4), "250 ");
  EXPECT_EQ(f.reply().substr(0, 4), "250 ");
  EXPECT_EQ(n.exists("user.a"), 1u);
  EXPECT_EQ(n.exists("user.b"), 1u);

  std::string big_body;
  while (big_body.size() < 300 * 1024) big_body += std::string(76, 'b') + "\r\n";
  f.send("MAIL FROM:<s@x>\r\nRCPT TO:<a>\r\nRCPT TO:<b>\r\nDATA\r\n");
  for (int i = 0; i < 4; ++i) f.reply();
  f.send(message("nospool@x", big_body) + ".\r\n");
  EXPECT_EQ(f.reply(), "451 4.3.0 Temporary failure spooling the message\r\n");
  EXPECT_EQ(f.reply(), "451 4.3.0 Temporary failure spooling the message\r\n");
  f.send("NOOP\r\n");
  EXPECT_EQ(f.reply(), "250 2.0.0 Ok\r\n");
  EXPECT_EQ(n.exists("user.a"), 1u);
  EXPECT_EQ(n.exists("user.b"), 1u);
}

}  // namespace
}  // namespace cyr::lmtpd
