#include "failover/auth.h"

#include <gtest/gtest.h>

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "failover/net.h"
#include "tests/unit/failover/loopback.h"

namespace cyr::failover {
namespace {

using std::chrono::milliseconds;

const std::string kSecret = "0123456789abcdef-the-pair-secret";
const std::string kOther = "0123456789abcdef-another-secret!";

Reply reply_of(const std::string& text) {
  auto r = parse_reply(text);
  EXPECT_TRUE(r.ok()) << text;
  return r.ok() ? *r : Reply{};
}

// The client's AUTH line for the server's greeting, from a client with `secret`.
std::string answer_to(ClientAuth& client, const ServerAuth& server) {
  std::string tell;
  auto line = client.on_greeting(reply_of(server.greeting()), &tell);
  EXPECT_TRUE(line.ok()) << line.error().describe();
  EXPECT_TRUE(line.ok() && line->has_value());
  return line.ok() && line->has_value() ? **line : std::string();
}

TEST(FailoverAuth, AcceptsTheRightSecretBothWays) {
  auto server = ServerAuth::create(kSecret);
  ASSERT_TRUE(server.ok());
  EXPECT_FALSE(server->authenticated());
  EXPECT_TRUE(server->greeting().starts_with("OK CYRFO 3 HMAC-SHA256 ")) << server->greeting();
  ClientAuth client(kSecret);
  std::string line = answer_to(client, *server);
  EXPECT_TRUE(line.starts_with("AUTH HMAC-SHA256 ")) << line;
  auto step = server->on_line(line);
  ASSERT_EQ(step.kind, ServerAuth::Step::Authenticated) << step.reply;
  EXPECT_TRUE(server->authenticated());
  // The client checks the server's proof in turn (mutual).
  EXPECT_TRUE(client.on_answer(reply_of(step.reply)).ok());
  // Sealed requests now pass to the service, and their replies come back sealed.
  for (const std::string request : {"STATUS", "SWITCHOVER"}) {
    auto passed = server->on_line(client.seal(request));
    ASSERT_EQ(passed.kind, ServerAuth::Step::Request) << passed.reply;
    EXPECT_EQ(passed.request, request);
    std::string sent = server->seal(format_reply({true, "DONE " + request, {}}));
    EXPECT_TRUE(sent.starts_with("* MAC ")) << sent;
    auto reply = client.open(sent);
    ASSERT_TRUE(reply.ok()) << reply.error().describe();
    EXPECT_TRUE(reply->ok);
    EXPECT_EQ(reply->text, "DONE " + request);
    EXPECT_TRUE(reply->lines.empty());
  }
}

// After authentication, the channel between us (client) and the server:
// the client's sealed request line, and the server's step for it.
struct Channel {
  ServerAuth server;
  ClientAuth client{kSecret};
};
std::optional<Channel> authenticated_channel() {
  auto server = ServerAuth::create(kSecret);
  if (!server.ok()) return std::nullopt;
  Channel c{std::move(*server)};
  auto step = c.server.on_line(answer_to(c.client, c.server));
  if (step.kind != ServerAuth::Step::Authenticated || !c.client.on_answer(reply_of(step.reply)).ok())
    return std::nullopt;
  return c;
}

TEST(FailoverAuth, AnAlteredRequestIsRefusedAndEndsTheConnection) {
  auto c = authenticated_channel();
  ASSERT_TRUE(c);
  // Someone on the path turns a lease request for one node into one for the other.
  std::string sealed = c->client.seal("ACQUIRE nodea 7 5000");
  std::string altered = sealed;
  altered.replace(altered.find("nodea"), 5, "nodeb");
  auto step = c->server.on_line(altered);
  EXPECT_EQ(step.kind, ServerAuth::Step::Refused);
  EXPECT_TRUE(step.reply.starts_with("NO AUTH-FAILED")) << step.reply;
  EXPECT_NE(step.why.find("MAC does not match"), std::string::npos) << step.why;
  EXPECT_FALSE(c->server.authenticated());
  // Nothing more is taken on that connection, not even the genuine line.
  EXPECT_EQ(c->server.on_line(sealed).kind, ServerAuth::Step::Refused);
  // The client reads the refusal as one, not as an answer.
  auto reply = c->client.open(step.reply);
  ASSERT_FALSE(reply.ok());
  EXPECT_NE(reply.error().user_message.find("refused our request"), std::string::npos) << reply.error().user_message;
}

TEST(FailoverAuth, RequestsWithoutAMacOrReplayedAreRefused) {
  {
    auto c = authenticated_channel();
    ASSERT_TRUE(c);
    auto step = c->server.on_line("TAKEOVER nodeb 8");
    EXPECT_EQ(step.kind, ServerAuth::Step::Refused);
    EXPECT_NE(step.why.find("without its MAC"), std::string::npos) << step.why;
  }
  {
    auto c = authenticated_channel();
    ASSERT_TRUE(c);
    // A MAC made with an empty key (what a broken state could accept) is refused too.
    auto step = c->server.on_line("MAC " + message_mac("", "request", 0, "STATUS") + " STATUS");
    EXPECT_EQ(step.kind, ServerAuth::Step::Refused);
  }
  {
    // The first request goes through; the same line sent again (a replay on
    // the connection) carries the MAC of request 0, not of request 1.
    auto c = authenticated_channel();
    ASSERT_TRUE(c);
    std::string first = c->client.seal("SWITCHOVER");
    ASSERT_EQ(c->server.on_line(first).kind, ServerAuth::Step::Request);
    (void)c->server.seal(format_reply({true, "SWITCHING", {}}));
    EXPECT_EQ(c->server.on_line(first).kind, ServerAuth::Step::Refused);
  }
  {
    // A second request before the first one's reply is refused.
    auto c = authenticated_channel();
    ASSERT_TRUE(c);
    ASSERT_EQ(c->server.on_line(c->client.seal("STATUS")).kind, ServerAuth::Step::Request);
    EXPECT_EQ(c->server.on_line(c->client.seal("STATUS")).kind, ServerAuth::Step::Refused);
  }
}

TEST(FailoverAuth, AnAlteredOrForeignReplyIsRejectedByTheClient) {
  auto expect_rejected = [](const std::function<std::string(Channel&, const std::string& sealed)>& tamper,
                            const char* what) {
    auto c = authenticated_channel();
    ASSERT_TRUE(c);
    ASSERT_EQ(c->server.on_line(c->client.seal("ACQUIRE nodea 7 5000")).kind, ServerAuth::Step::Request);
    std::string sealed = c->server.seal(format_reply({false, "HELD-BY nodeb 7", {"lease 4000"}}));
    auto reply = c->client.open(tamper(*c, sealed));
    ASSERT_FALSE(reply.ok()) << what;
    EXPECT_EQ(reply.error().code, Errc::Perm) << what;
  };
  // A refusal turned into a grant.
  expect_rejected([](Channel&, const std::string& s) {
    std::string t = s;
    t.replace(t.find("NO HELD-BY nodeb"), 16, "OK GRANTED nodea");
    return t;
  }, "altered final line");
  // A "* " line dropped.
  expect_rejected([](Channel&, const std::string& s) {
    std::string t = s;
    t.erase(t.find("* lease"), std::string("* lease 4000\r\n").size());
    return t;
  }, "dropped line");
  // The MAC line removed: an unsealed NO reads as a refusal, an unsealed OK as forged.
  expect_rejected([](Channel&, const std::string&) { return std::string("OK GRANTED nodea 7 5000\r\n"); },
                  "unsealed grant");
  // The request's own MAC presented as the reply's (labels differ).
  expect_rejected([](Channel& c, const std::string&) {
    std::string req = c.client.seal("OK GRANTED");
    return "* MAC " + req.substr(4, kMacHexLength) + "\r\nOK GRANTED\r\n";
  }, "reflected MAC");
}

TEST(FailoverAuth, RefusesAWrongSecret) {
  auto server = ServerAuth::create(kSecret);
  ASSERT_TRUE(server.ok());
  ClientAuth client(kOther);
  auto step = server->on_line(answer_to(client, *server));
  EXPECT_EQ(step.kind, ServerAuth::Step::Refused);
  EXPECT_TRUE(step.reply.starts_with("NO AUTH-FAILED")) << step.reply;
  EXPECT_NE(step.why.find("wrong failover_secret"), std::string::npos) << step.why;
  EXPECT_FALSE(server->authenticated());
  // The nonce is spent: not even the right answer is taken on this connection now.
  ClientAuth right(kSecret);
  auto again = server->on_line(answer_to(right, *server));
  EXPECT_EQ(again.kind, ServerAuth::Step::Refused);
  EXPECT_EQ(server->on_line("SWITCHOVER").kind, ServerAuth::Step::Refused);
}

TEST(FailoverAuth, RefusesAClientWithoutASecretWhenOneIsRequired) {
  // A request straight away (what an unconfigured or foreign client sends).
  {
    auto server = ServerAuth::create(kSecret);
    ASSERT_TRUE(server.ok());
    auto step = server->on_line("SWITCHOVER");
    EXPECT_EQ(step.kind, ServerAuth::Step::Refused);
    EXPECT_TRUE(step.reply.starts_with("NO AUTH-REQUIRED")) << step.reply;
    EXPECT_EQ(server->on_line("STATUS").kind, ServerAuth::Step::Refused);
  }
  // Our own client without a secret: says so, and reports the mismatch.
  {
    auto server = ServerAuth::create(kSecret);
    ASSERT_TRUE(server.ok());
    ClientAuth client("");
    std::string tell;
    auto line = client.on_greeting(reply_of(server->greeting()), &tell);
    ASSERT_FALSE(line.ok());
    EXPECT_EQ(line.error().code, Errc::Perm);
    EXPECT_NE(line.error().user_message.find("requires failover_secret"), std::string::npos);
    EXPECT_EQ(tell, "AUTH NONE");
    auto step = server->on_line(tell);
    EXPECT_EQ(step.kind, ServerAuth::Step::Refused);
    EXPECT_NE(step.why.find("no failover_secret"), std::string::npos) << step.why;
  }
  // Malformed answers are refused, not half-parsed.
  for (const std::string& bad : std::vector<std::string>{"AUTH HMAC-SHA256", "AUTH HMAC-SHA256 zz 00", "AUTH MD5 " + std::string(64, '0') + " " +
                                                                             std::string(64, '0'),
                          "AUTH HMAC-SHA256 " + std::string(64, 'A') + " " + std::string(64, '0')}) {
    auto server = ServerAuth::create(kSecret);
    ASSERT_TRUE(server.ok());
    EXPECT_EQ(server->on_line(bad).kind, ServerAuth::Step::Refused) << bad;
  }
}

TEST(FailoverAuth, AnOldAnswerDoesNotAnswerANewNonce) {
  auto first = ServerAuth::create(kSecret);
  ASSERT_TRUE(first.ok());
  ClientAuth client(kSecret);
  std::string recorded = answer_to(client, *first);
  ASSERT_EQ(first->on_line(recorded).kind, ServerAuth::Step::Authenticated);
  // An eavesdropper replays the recorded line on a new connection.
  auto second = ServerAuth::create(kSecret);
  ASSERT_TRUE(second.ok());
  EXPECT_NE(first->greeting(), second->greeting());  // a fresh nonce
  auto step = second->on_line(recorded);
  EXPECT_EQ(step.kind, ServerAuth::Step::Refused);
  EXPECT_FALSE(second->authenticated());
}

TEST(FailoverAuth, TheClientRefusesAServerThatCannotProveTheSecret) {
  auto server = ServerAuth::create(kSecret);
  ASSERT_TRUE(server.ok());
  ClientAuth client(kSecret);
  std::string line = answer_to(client, *server);
  // An impostor cannot compute the server's proof: it answers anything.
  EXPECT_EQ(client.on_answer(reply_of("OK AUTHENTICATED " + std::string(64, 'a') + "\r\n")).error().code, Errc::Perm);
  // Nor may it reflect the client's own proof back (different labels).
  auto words = split_words(line);
  ASSERT_EQ(words.size(), 4u);
  EXPECT_FALSE(client.on_answer(reply_of("OK AUTHENTICATED " + words[3] + "\r\n")).ok());
  // A server with another secret proves the wrong thing.
  auto other = ServerAuth::create(kOther);
  ASSERT_TRUE(other.ok());
  ClientAuth c2(kSecret);
  std::string l2 = answer_to(c2, *other);
  EXPECT_EQ(other->on_line(l2).kind, ServerAuth::Step::Refused);
}

TEST(FailoverAuth, OpenServiceAndMismatchedSides) {
  auto open = ServerAuth::create("");
  ASSERT_TRUE(open.ok());
  EXPECT_TRUE(open->authenticated());
  EXPECT_EQ(open->greeting(), "OK CYRFO 3 OPEN\r\n");
  EXPECT_EQ(open->on_line("PING n1 replica 1 0 0 0").kind, ServerAuth::Step::Request);
  // A client without a secret talks to it as before.
  ClientAuth plain("");
  std::string tell;
  auto none = plain.on_greeting(reply_of(open->greeting()), &tell);
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
  // A client with one refuses it, and tells it why; the service refuses too.
  ClientAuth keyed(kSecret);
  auto refused = keyed.on_greeting(reply_of(open->greeting()), &tell);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, Errc::Perm);
  EXPECT_EQ(tell, "AUTH HMAC-SHA256");
  auto step = open->on_line(tell);
  EXPECT_EQ(step.kind, ServerAuth::Step::Refused);
  EXPECT_TRUE(step.reply.starts_with("NO AUTH-UNCONFIGURED")) << step.reply;
  // Another protocol version, or no greeting at all, is named, not misread.
  auto v2 = plain.on_greeting(reply_of("OK CYRFO 2 OPEN\r\n"), &tell);
  ASSERT_FALSE(v2.ok());
  EXPECT_NE(v2.error().user_message.find("version 2"), std::string::npos) << v2.error().user_message;
  EXPECT_FALSE(plain.on_greeting(reply_of("OK PONG n1 primary 1 1 0 0\r\n"), &tell).ok());
  EXPECT_EQ(plain.on_greeting(reply_of("NO too many connections\r\n"), &tell).error().code, Errc::Temp);
}

TEST(FailoverAuth, SecretsAreChecked) {
  EXPECT_TRUE(check_secret("").ok());
  EXPECT_TRUE(check_secret(kSecret).ok());
  EXPECT_FALSE(check_secret("short").ok());
  EXPECT_FALSE(check_secret("0123456789abcdef with space").ok());
  EXPECT_FALSE(check_secret(std::string(kMaxSecretLength + 1, 'x')).ok());
  EXPECT_FALSE(check_secret(std::string(20, 'x') + "\t").ok());
}

// Over loopback: LineServer (the witness's server) and exchange().
class FailoverAuthNet : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(server_.start("127.0.0.1:0", [this](const std::string& line, const std::string&) {
      ++served_;
      return format_reply({true, "DONE " + line, {}});
    }, kSecret).ok());
    address_ = "127.0.0.1:" + std::to_string(server_.port());
  }
  std::atomic<int> served_{0};
  LineServer server_;
  std::string address_;
};

// Reads until `done(text so far)` or EOF, at most 10 s. Returns what came.
std::string read_until(int fd, const std::function<bool(const std::string&)>& done, bool* eof = nullptr) {
  std::string got;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!done(got) && std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    char buf[1024];
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) {
      if (eof) *eof = true;
      break;
    }
    got.append(buf, static_cast<size_t>(n));
  }
  return got;
}
bool has_line(const std::string& s) { return s.find('\n') != std::string::npos; }
void send_text(int fd, const std::string& s) { ASSERT_EQ(::send(fd, s.data(), s.size(), MSG_NOSIGNAL), static_cast<ssize_t>(s.size())); }

TEST_F(FailoverAuthNet, AnAlteredRequestNeverReachesTheService) {
  int fd = testnet::connect_loopback(server_.port());
  ASSERT_GE(fd, 0);
  ClientAuth client(kSecret);
  std::string tell;
  auto line = client.on_greeting(reply_of(read_until(fd, has_line)), &tell);
  ASSERT_TRUE(line.ok() && line->has_value());
  send_text(fd, **line + "\r\n");
  ASSERT_TRUE(client.on_answer(reply_of(read_until(fd, has_line))).ok());
  // The sealed request, altered on the way: "RELEASE nodea" becomes "RELEASE nodeb".
  std::string sealed = client.seal("RELEASE nodea 7");
  sealed.replace(sealed.find("nodea"), 5, "nodeb");
  send_text(fd, sealed + "\r\n");
  bool eof = false;
  std::string got = read_until(fd, [](const std::string&) { return false; }, &eof);
  ::close(fd);
  EXPECT_TRUE(got.starts_with("NO AUTH-FAILED")) << got;
  EXPECT_TRUE(eof) << "the server kept the connection open";
  EXPECT_EQ(served_.load(), 0);
  // The genuine request goes through.
  auto ok = exchange(address_, "RELEASE nodea 7", milliseconds(5000), kSecret);
  ASSERT_TRUE(ok.ok()) << ok.error().describe();
  EXPECT_EQ(ok->text, "DONE RELEASE nodea 7");
  EXPECT_EQ(served_.load(), 1);
}

// A server that authenticates properly but whose reply is altered after it
// was sealed: exchange() must not return it.
TEST(FailoverAuthNetClient, ExchangeRejectsAnAlteredReply) {
  uint16_t port = 0;
  int lfd = testnet::listen_loopback(&port);
  ASSERT_GE(lfd, 0);
  std::thread fake([lfd] {
    pollfd p{lfd, POLLIN, 0};
    if (::poll(&p, 1, 10000) <= 0) return;
    int fd = ::accept(lfd, nullptr, nullptr);
    if (fd < 0) return;
    auto server = ServerAuth::create(kSecret);
    std::string buf;
    auto next_line = [&] {
      buf = read_until(fd, has_line);
      std::string l = buf.substr(0, buf.find('\n'));
      if (!l.empty() && l.back() == '\r') l.pop_back();
      return l;
    };
    if (server.ok() && ::send(fd, server->greeting().data(), server->greeting().size(), MSG_NOSIGNAL) > 0) {
      auto step = server->on_line(next_line());
      (void)::send(fd, step.reply.data(), step.reply.size(), MSG_NOSIGNAL);
      step = server->on_line(next_line());
      if (step.kind == ServerAuth::Step::Request) {
        std::string sealed = server->seal(format_reply({false, "HELD-BY nodeb 7", {}}));
        sealed.replace(sealed.find("NO HELD-BY nodeb"), 16, "OK GRANTED nodea");
        (void)::send(fd, sealed.data(), sealed.size(), MSG_NOSIGNAL);
      }
    }
    (void)read_until(fd, [](const std::string&) { return false; });
    ::close(fd);
  });
  auto r = exchange("127.0.0.1:" + std::to_string(port), "ACQUIRE nodea 7 5000", milliseconds(5000), kSecret);
  fake.join();
  ::close(lfd);
  ASSERT_FALSE(r.ok()) << "an altered grant was taken: " << r->text;
  EXPECT_EQ(r.error().code, Errc::Perm);
  EXPECT_NE(r.error().user_message.find("MAC does not match"), std::string::npos) << r.error().user_message;
}

TEST_F(FailoverAuthNet, OnlyTheRightSecretGetsARequestThrough) {
  auto ok = exchange(address_, "QUERY", milliseconds(5000), kSecret);
  ASSERT_TRUE(ok.ok()) << ok.error().describe();
  EXPECT_TRUE(ok->ok);
  EXPECT_EQ(ok->text, "DONE QUERY");
  auto wrong = exchange(address_, "QUERY", milliseconds(5000), kOther);
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.error().code, Errc::Perm);
  EXPECT_NE(wrong.error().user_message.find("refused our failover_secret"), std::string::npos)
      << wrong.error().user_message;
  auto none = exchange(address_, "QUERY", milliseconds(5000), "");
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.error().code, Errc::Perm);
  EXPECT_NE(none.error().user_message.find("requires failover_secret"), std::string::npos);
}

TEST_F(FailoverAuthNet, AnUnauthenticatedClientIsCutOffAfterAFewBytes) {
  int fd = testnet::connect_loopback(server_.port());
  ASSERT_GE(fd, 0);
  // A long line without a newline: more than kMaxAuthLine, far less than kMaxLine.
  std::string junk(kMaxAuthLine + 100, 'A');
  ASSERT_EQ(::send(fd, junk.data(), junk.size(), MSG_NOSIGNAL), static_cast<ssize_t>(junk.size()));
  // The server answers (greeting, then a refusal) and closes: read to EOF, bounded.
  std::string got;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  bool eof = false;
  while (!eof && std::chrono::steady_clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 200) <= 0) continue;
    char buf[512];
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) eof = true;
    else got.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  EXPECT_TRUE(eof) << "the server kept the connection open";
  EXPECT_TRUE(got.starts_with("OK CYRFO 3 HMAC-SHA256 ")) << got;
  EXPECT_NE(got.find("\r\nNO "), std::string::npos) << got;
  EXPECT_EQ(got.find("DONE"), std::string::npos) << got;
}

}  // namespace
}  // namespace cyr::failover
