#include "failover/auth.h"

#include <gtest/gtest.h>

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <vector>

#include "failover/net.h"

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
  EXPECT_TRUE(server->greeting().starts_with("OK CYRFO 2 HMAC-SHA256 ")) << server->greeting();
  ClientAuth client(kSecret);
  std::string line = answer_to(client, *server);
  EXPECT_TRUE(line.starts_with("AUTH HMAC-SHA256 ")) << line;
  auto step = server->on_line(line);
  ASSERT_EQ(step.kind, ServerAuth::Step::Authenticated) << step.reply;
  EXPECT_TRUE(server->authenticated());
  // The client checks the server's proof in turn (mutual).
  EXPECT_TRUE(client.on_answer(reply_of(step.reply)).ok());
  // Requests now pass to the service.
  EXPECT_EQ(server->on_line("STATUS").kind, ServerAuth::Step::Request);
  EXPECT_EQ(server->on_line("SWITCHOVER").kind, ServerAuth::Step::Request);
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
  EXPECT_EQ(open->greeting(), "OK CYRFO 2 OPEN\r\n");
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
  auto v3 = plain.on_greeting(reply_of("OK CYRFO 3 OPEN\r\n"), &tell);
  ASSERT_FALSE(v3.ok());
  EXPECT_NE(v3.error().user_message.find("version 3"), std::string::npos) << v3.error().user_message;
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
    ASSERT_TRUE(server_.start("127.0.0.1:0", [](const std::string& line, const std::string&) {
      return format_reply({true, "DONE " + line, {}});
    }, kSecret).ok());
    address_ = "127.0.0.1:" + std::to_string(server_.port());
  }
  LineServer server_;
  std::string address_;
};

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
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  sa.sin_port = htons(server_.port());
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
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
  EXPECT_TRUE(got.starts_with("OK CYRFO 2 HMAC-SHA256 ")) << got;
  EXPECT_NE(got.find("\r\nNO "), std::string::npos) << got;
  EXPECT_EQ(got.find("DONE"), std::string::npos) << got;
}

}  // namespace
}  // namespace cyr::failover
