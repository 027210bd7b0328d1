#include "server/net/tls.h"

#include <gtest/gtest.h>
#include <openssl/ssl.h>

#include "server_test_util.h"

namespace cyr::server::net {
namespace {

using cyr::server::testing::TempDir;
using cyr::server::testing::write_file;

TEST(TlsVersions, DefaultIsTls12And13) {
  TlsSettings s;
  auto r = parse_tls_versions(s.versions);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->min_version, TLS1_2_VERSION);
  EXPECT_EQ(r->max_version, TLS1_3_VERSION);
}

TEST(TlsVersions, SingleAndRanges) {
  auto one = parse_tls_versions("tls1_3");
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(one->min_version, TLS1_3_VERSION);
  EXPECT_EQ(one->max_version, TLS1_3_VERSION);
  auto all = parse_tls_versions("tls1_3 tls1_0, tls1_1 tls1_2");  // any order, commas too
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->min_version, TLS1_VERSION);
  EXPECT_EQ(all->max_version, TLS1_3_VERSION);
}

TEST(TlsVersions, RejectsUnknownEmptyAndHoles) {
  EXPECT_FALSE(parse_tls_versions("tls1_4").ok());
  EXPECT_FALSE(parse_tls_versions("").ok());
  auto hole = parse_tls_versions("tls1_0 tls1_3");
  ASSERT_FALSE(hole.ok());
  EXPECT_EQ(hole.error().code, Errc::Invalid);
}

TEST(TlsContext, BuildsFromCertAndKey) {
  TempDir dir;
  testing::write_self_signed_cert(dir.path() / "c.pem", dir.path() / "k.pem");
  TlsSettings s;
  s.cert_files = {(dir.path() / "c.pem").string()};
  s.key_files = {(dir.path() / "k.pem").string()};
  auto ctx = make_server_tls_context(s);
  ASSERT_TRUE(ctx.ok()) << ctx.error().describe();
  EXPECT_EQ(SSL_CTX_get_min_proto_version((*ctx)->native_handle()), TLS1_2_VERSION);
}

TEST(TlsContext, ErrorsNameTheFile) {
  TempDir dir;
  TlsSettings s;
  s.cert_files = {(dir.path() / "missing.pem").string()};
  s.key_files = {(dir.path() / "missing.key").string()};
  auto ctx = make_server_tls_context(s);
  ASSERT_FALSE(ctx.ok());
  EXPECT_NE(ctx.error().user_message.find("missing.pem"), std::string::npos);

  // A key that does not belong to the certificate.
  testing::write_self_signed_cert(dir.path() / "a.pem", dir.path() / "a.key");
  testing::write_self_signed_cert(dir.path() / "b.pem", dir.path() / "b.key");
  s.cert_files = {(dir.path() / "a.pem").string()};
  s.key_files = {(dir.path() / "b.key").string()};
  EXPECT_FALSE(make_server_tls_context(s).ok());

  s.key_files = {};
  EXPECT_FALSE(make_server_tls_context(s).ok());
}

TEST(TlsContext, PerServiceOverrideAndReload) {
  TempDir dir;
  testing::write_self_signed_cert(dir.path() / "g.pem", dir.path() / "g.key");
  testing::write_self_signed_cert(dir.path() / "p.pem", dir.path() / "p.key");
  std::string conf_text = "configdirectory: " + dir.path().string() + "\n" +
                          "tls_server_cert: " + (dir.path() / "g.pem").string() + "\n" +
                          "tls_server_key: " + (dir.path() / "g.key").string() + "\n" +
                          "pop3_tls_server_cert: " + (dir.path() / "p.pem").string() + "\n" +
                          "pop3_tls_server_key: " + (dir.path() / "p.key").string() + "\n" +
                          "kpop_tls_server_cert: disabled\n";
  auto conf = config::ImapdConf::parse(conf_text, "imapd.conf", nullptr);
  ASSERT_TRUE(conf.ok()) << conf.error().describe();

  auto imap = TlsSettings::from_conf(*conf, "imap");
  auto pop3 = TlsSettings::from_conf(*conf, "pop3");
  auto kpop = TlsSettings::from_conf(*conf, "kpop");
  ASSERT_EQ(imap.cert_files.size(), 1u);
  EXPECT_EQ(imap.cert_files[0], (dir.path() / "g.pem").string());
  ASSERT_EQ(pop3.cert_files.size(), 1u);
  EXPECT_EQ(pop3.cert_files[0], (dir.path() / "p.pem").string());
  EXPECT_FALSE(kpop.enabled());
  EXPECT_EQ(imap.versions, "tls1_2 tls1_3");

  TlsContextStore store;
  ASSERT_TRUE(store.reload(*conf, {"imap", "pop3", "kpop"}).ok());
  auto first = store.get("imap");
  ASSERT_NE(first, nullptr);
  EXPECT_NE(store.get("pop3"), nullptr);
  EXPECT_EQ(store.get("kpop"), nullptr);
  EXPECT_EQ(store.get("unknown"), nullptr);

  // Reload builds a new context; a session holding the old one keeps it.
  ASSERT_TRUE(store.reload(*conf, {"imap"}).ok());
  auto second = store.get("imap");
  ASSERT_NE(second, nullptr);
  EXPECT_NE(first.get(), second.get());
  EXPECT_EQ(store.get("pop3"), nullptr);

  // A broken reload keeps the previous context and reports the service.
  auto broken = config::ImapdConf::parse("configdirectory: " + dir.path().string() +
                                             "\ntls_server_cert: /nonexistent.pem\n"
                                             "tls_server_key: /nonexistent.key\n",
                                         "imapd.conf", nullptr);
  ASSERT_TRUE(broken.ok());
  Status st = store.reload(*broken, {"imap"});
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().detail.find("imap"), std::string::npos);
  EXPECT_EQ(store.get("imap").get(), second.get());
}

}  // namespace
}  // namespace cyr::server::net
