#include "server/net/listen_address.h"

#include <gtest/gtest.h>

namespace cyr::server::net {
namespace {

TEST(ListenAddress, HostAndPort) {
  auto a = parse_listen_address("127.0.0.1:143", "tcp");
  ASSERT_TRUE(a.ok()) << a.error().describe();
  EXPECT_EQ(a->kind, ListenAddress::Kind::Tcp);
  EXPECT_EQ(a->host, "127.0.0.1");
  EXPECT_TRUE(a->port_is_numeric);
  EXPECT_EQ(a->port, 143);
  EXPECT_EQ(a->family, AddressFamily::Any);
  EXPECT_EQ(a->to_string(), "127.0.0.1:143");
}

TEST(ListenAddress, BracketedIpv6) {
  auto a = parse_listen_address("[::1]:9143", "tcp6");
  ASSERT_TRUE(a.ok()) << a.error().describe();
  EXPECT_EQ(a->host, "::1");
  EXPECT_EQ(a->port, 9143);
  EXPECT_EQ(a->family, AddressFamily::V6);
  EXPECT_EQ(a->to_string(), "[::1]:9143");
}

TEST(ListenAddress, PortOnlyMeansAllAddresses) {
  auto a = parse_listen_address("993", "");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->host, "");
  EXPECT_EQ(a->port, 993);
  EXPECT_EQ(a->to_string(), "*:993");
  auto star = parse_listen_address("*:110", "tcp4");
  ASSERT_TRUE(star.ok());
  EXPECT_EQ(star->host, "");
  EXPECT_EQ(star->family, AddressFamily::V4);
}

TEST(ListenAddress, EphemeralPort) {
  auto a = parse_listen_address("127.0.0.1:0", "tcp");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->port, 0);
  EXPECT_TRUE(a->port_is_numeric);
}

TEST(ListenAddress, UnixSocketPath) {
  auto a = parse_listen_address("/run/cyrus/socket/lmtp", "tcp");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->kind, ListenAddress::Kind::Unix);
  EXPECT_EQ(a->path, "/run/cyrus/socket/lmtp");
  EXPECT_EQ(a->to_string(), "/run/cyrus/socket/lmtp");
  EXPECT_FALSE(parse_listen_address("/" + std::string(200, 'x'), "tcp").ok());
}

TEST(ListenAddress, ServiceNameIsResolvedSeparately) {
  auto a = parse_listen_address("imap", "tcp");
  ASSERT_TRUE(a.ok());
  EXPECT_FALSE(a->port_is_numeric);
  EXPECT_EQ(a->port_text, "imap");
  auto h = parse_listen_address("localhost:lmtp", "tcp");
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->host, "localhost");
  EXPECT_EQ(h->port_text, "lmtp");
}

TEST(ListenAddress, ResolvesServiceNameFromEtcServices) {
  auto a = parse_listen_address("imap", "tcp");
  ASSERT_TRUE(a.ok());
  Status st = resolve_service_port(*a);
  if (!st.ok()) GTEST_SKIP() << "no imap entry in /etc/services here";
  EXPECT_EQ(a->port, 143);
  EXPECT_TRUE(a->port_is_numeric);

  auto bad = parse_listen_address("no-such-service-xyz", "tcp");
  ASSERT_TRUE(bad.ok());
  Status nf = resolve_service_port(*bad);
  ASSERT_FALSE(nf.ok());
  EXPECT_EQ(nf.error().code, Errc::NotFound);
}

TEST(ListenAddress, RejectsBadInput) {
  const char* bad[] = {
      "",                 // empty
      "127.0.0.1:",       // no port
      ":143",             // no host
      "127.0.0.1:65536",  // port out of range
      "127.0.0.1:99999999999999999999",
      "::1:143",          // v6 without brackets
      "[::1]143",         // missing colon
      "[::1",             // missing bracket
      "[nothex]:143",     // not an IPv6 address
      "host name:143",    // white space
      "a\tb",             // control character
      "bad/host:143",     // bad host character
      "143abc!",          // not a number nor a service name
  };
  for (const char* b : bad) {
    auto r = parse_listen_address(b, "tcp");
    EXPECT_FALSE(r.ok()) << "accepted \"" << b << "\"";
    if (!r.ok()) {
      EXPECT_EQ(r.error().code, Errc::Invalid) << b;
      EXPECT_NE(r.error().user_message.find("listen"), std::string::npos) << b;
    }
  }
}

TEST(ListenAddress, RejectsBadProto) {
  EXPECT_FALSE(parse_listen_address("143", "udp").ok());
  EXPECT_FALSE(parse_listen_address("143", "sctp").ok());
  EXPECT_FALSE(parse_listen_address("[::1]:143", "tcp4").ok());
}

TEST(ListenAddress, BoundedLength) {
  auto r = parse_listen_address(std::string(5000, 'a'), "tcp");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::Limit);
}

}  // namespace
}  // namespace cyr::server::net
