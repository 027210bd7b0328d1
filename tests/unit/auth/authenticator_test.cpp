#include "server/auth/authenticator.h"

#include <gtest/gtest.h>

#include "store/config/imapd_conf.h"
#include "test_util.h"

namespace cyr::auth {
namespace {

using namespace std::chrono_literals;
using testing::FakeSaslauthd;
using testing::ScramClient;

constexpr uint32_t kFastIterations = 16;

std::string plain(std::string_view authzid, std::string_view authcid, std::string_view pw) {
  std::string s(authzid);
  s.push_back('\0');
  s.append(authcid);
  s.push_back('\0');
  s.append(pw);
  return s;
}

class AuthenticatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    opts.user_db_path = dir.path() / kUserDbFileName;
    opts.iterations = kFastIterations;
    opts.admins = {"Admin"};
    opts.clock = [this] { return now; };
    auto db = UserDb::open(opts.user_db_path, UserDb::Mode::ReadWrite);
    ASSERT_TRUE(db.ok());
    ASSERT_TRUE((*db)->set_password("fred", "secret", kFastIterations).ok());
    ASSERT_TRUE((*db)->set_password("admin", "root-pw", kFastIterations).ok());
    ASSERT_TRUE((*db)->set_password("bob", "bob-pw", kFastIterations).ok());
  }
  Authenticator make() { return Authenticator(opts); }

  testing::TempDir dir;
  AuthOptions opts;
  std::chrono::steady_clock::time_point now = std::chrono::steady_clock::time_point(1h);
  ClientInfo plain_client{"s1", "", "192.0.2.7", false};
  ClientInfo tls_client{"s2", "client.example", "192.0.2.8", true};
};

TEST_F(AuthenticatorTest, MechanismListFollowsTlsAndAllowplaintext) {
  auto a = make();
  EXPECT_EQ(a.mechanisms(false), std::vector<std::string>{"SCRAM-SHA-256"});
  EXPECT_EQ(a.mechanisms(true), (std::vector<std::string>{"SCRAM-SHA-256", "PLAIN", "LOGIN"}));
  EXPECT_FALSE(a.plaintext_allowed(false));
  EXPECT_TRUE(a.plaintext_allowed(true));
  opts.allow_plaintext = true;
  auto b = make();
  EXPECT_EQ(b.mechanisms(false), (std::vector<std::string>{"SCRAM-SHA-256", "PLAIN", "LOGIN"}));
  EXPECT_TRUE(b.plaintext_allowed(false));
}

TEST_F(AuthenticatorTest, TlsRequiredOffersNothingBeforeTls) {
  opts.allow_plaintext = true;
  opts.tls_required = true;
  auto a = make();
  EXPECT_TRUE(a.mechanisms(false).empty());
  EXPECT_EQ(a.mechanisms(true), (std::vector<std::string>{"SCRAM-SHA-256", "PLAIN", "LOGIN"}));
  EXPECT_FALSE(a.plaintext_allowed(false));
  EXPECT_TRUE(a.plaintext_allowed(true));
  auto refused = a.authenticate(plain_client, "fred", "secret");
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, Errc::Perm);
  EXPECT_FALSE(a.start_sasl(plain_client, "SCRAM-SHA-256", true).ok());
  EXPECT_TRUE(a.authenticate(tls_client, "fred", "secret").ok());
}

TEST_F(AuthenticatorTest, MechanismListHonoursSaslMechListAndBackend) {
  opts.mech_list = {"plain", "SCRAM-SHA-256", "CRAM-MD5"};
  auto a = make();
  EXPECT_EQ(a.mechanisms(true), (std::vector<std::string>{"PLAIN", "SCRAM-SHA-256"}));
  opts.mech_list.clear();
  opts.pwcheck = {PwcheckMethod::Saslauthd};
  auto b = make();
  EXPECT_EQ(b.mechanisms(true), (std::vector<std::string>{"PLAIN", "LOGIN"}));
}

TEST_F(AuthenticatorTest, PlaintextLogin) {
  auto a = make();
  auto ok = a.authenticate(tls_client, "Fred", "secret");  // username_tolower
  ASSERT_TRUE(ok.ok()) << ok.error().describe();
  EXPECT_EQ(ok->userid, "fred");
  EXPECT_EQ(ok->mechanism, "plaintext");
  EXPECT_FALSE(ok->is_admin);
  EXPECT_FALSE(ok->proxied());

  auto bad = a.authenticate(tls_client, "fred", "wrong");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, Errc::Perm);
  EXPECT_EQ(bad.error().user_message, "Authentication failed");
  auto nobody = a.authenticate(tls_client, "nobody", "secret");
  ASSERT_FALSE(nobody.ok());
  EXPECT_EQ(nobody.error().user_message, bad.error().user_message);  // no user enumeration

  auto no_tls = a.authenticate(plain_client, "fred", "secret");
  ASSERT_FALSE(no_tls.ok());
  EXPECT_EQ(no_tls.error().code, Errc::Perm);
  EXPECT_EQ(a.failure_delay(plain_client.address), 0ms);  // a policy refusal is not a guess
}

TEST_F(AuthenticatorTest, AdminMembership) {
  auto a = make();
  EXPECT_TRUE(a.is_admin("admin"));
  EXPECT_TRUE(a.is_admin("ADMIN"));
  EXPECT_FALSE(a.is_admin("fred"));
  opts.username_tolower = false;
  opts.admins = {"Admin"};
  auto b = make();
  EXPECT_TRUE(b.is_admin("Admin"));
  EXPECT_FALSE(b.is_admin("admin"));
}

TEST_F(AuthenticatorTest, ProxyAuthorizationRules) {
  auto a = make();
  // Anyone may name themselves.
  auto self = a.authorize("PLAIN", "fred", "fred");
  ASSERT_TRUE(self.ok());
  EXPECT_FALSE(self->proxied());
  // An admin may act as a user, and then has the user's rights.
  auto proxy = a.authorize("PLAIN", "admin", "fred");
  ASSERT_TRUE(proxy.ok());
  EXPECT_EQ(proxy->authcid, "admin");
  EXPECT_EQ(proxy->userid, "fred");
  EXPECT_TRUE(proxy->proxied());
  EXPECT_FALSE(proxy->is_admin);
  // A user may not act as anyone else, not even as an admin.
  auto refused = a.authorize("PLAIN", "fred", "bob");
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, Errc::Perm);
  EXPECT_FALSE(a.authorize("PLAIN", "fred", "admin").ok());
  EXPECT_FALSE(a.authorize("PLAIN", "admin", "bad user").ok());
}

TEST_F(AuthenticatorTest, PlainExchangeWithProxyLogin) {
  auto a = make();
  auto ex = a.start_sasl(tls_client, "plain");
  ASSERT_TRUE(ex.ok());
  auto r = (*ex)->step(plain("fred", "admin", "root-pw"));
  ASSERT_TRUE(r.ok()) << r.error().describe();
  EXPECT_TRUE(r->done);
  EXPECT_EQ((*ex)->identity().userid, "fred");
  EXPECT_EQ((*ex)->identity().authcid, "admin");
  EXPECT_EQ((*ex)->identity().mechanism, "PLAIN");

  auto ex2 = a.start_sasl(tls_client, "PLAIN");
  ASSERT_TRUE(ex2.ok());
  auto r2 = (*ex2)->step(plain("bob", "fred", "secret"));  // right password, forbidden authzid
  ASSERT_FALSE(r2.ok());
  EXPECT_EQ(r2.error().code, Errc::Perm);
  EXPECT_GT(a.failure_delay(tls_client.address), 0ms);
}

// The deny list (cyr_deny) is checked after the credentials, in both login
// paths, under this service's cyrus.conf name; the refusal carries the
// admin's message, is not counted as a failed login, and a change to the
// list applies to the next login. Admins are exempt on imap only.
TEST_F(AuthenticatorTest, DenyListRefusesAfterSuccessfulLogin) {
  opts.userdeny_db_path = dir.path() / "user_deny.db";
  opts.deny_service = "pop3";
  auto a = make();
  // No list yet: everyone in, and nothing is created.
  ASSERT_TRUE(a.authenticate(tls_client, "fred", "secret").ok());
  EXPECT_FALSE(std::filesystem::exists(opts.userdeny_db_path));

  auto db = store::UserDenyDb::open(opts.userdeny_db_path, store::UserDenyDb::Mode::ReadWrite);
  ASSERT_TRUE(db.ok());
  ASSERT_TRUE((*db)->deny("fred", "pop3", "Account suspended").ok());
  ASSERT_TRUE((*db)->deny("admin", "*", "").ok());

  auto refused = a.authenticate(tls_client, "fred", "secret");
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(login_denied_message(refused.error()), std::optional<std::string>("Account suspended"));
  EXPECT_EQ(a.failure_delay(tls_client.address), 0ms);  // the password was right
  // A wrong password is still "authentication failed", not the deny message.
  auto wrong = a.authenticate(tls_client, "fred", "nope");
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(login_denied_message(wrong.error()), std::nullopt);

  // SASL: the same check after the exchange succeeds.
  auto ex = a.start_sasl(tls_client, "PLAIN");
  ASSERT_TRUE(ex.ok());
  auto r = (*ex)->step(plain("", "fred", "secret"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(login_denied_message(r.error()), std::optional<std::string>("Account suspended"));
  // An admin acting as fred is refused as fred.
  auto ex2 = a.start_sasl(tls_client, "PLAIN");
  auto r2 = (*ex2)->step(plain("fred", "admin", "root-pw"));
  ASSERT_FALSE(r2.ok());
  EXPECT_TRUE(login_denied_message(r2.error()).has_value());
  // Admins are not exempt outside imap.
  auto adm = a.authenticate(tls_client, "admin", "root-pw");
  ASSERT_FALSE(adm.ok());
  EXPECT_EQ(login_denied_message(adm.error()), std::optional<std::string>(std::string(store::UserDenyDb::kDefaultMessage)));

  // Other services and users are not affected.
  EXPECT_TRUE(a.authenticate(tls_client, "bob", "bob-pw").ok());
  opts.deny_service = "imap";
  opts.deny_exempts_admins = true;
  auto imap = make();
  EXPECT_TRUE(imap.authenticate(tls_client, "fred", "secret").ok());
  EXPECT_TRUE(imap.authenticate(tls_client, "admin", "root-pw").ok());  // Cyrus's imapd lets admins in

  // Allowed again: the next login passes, same Authenticator.
  ASSERT_TRUE(*(*db)->allow("fred"));
  EXPECT_TRUE(a.authenticate(tls_client, "fred", "secret").ok());
  // The list removed while running: no entry, no error.
  db->reset();
  std::filesystem::remove(opts.userdeny_db_path);
  EXPECT_TRUE(a.authenticate(tls_client, "admin", "root-pw").ok());
}

TEST_F(AuthenticatorTest, DenyOptionsFromConfig) {
  auto conf = config::ImapdConf::parse("configdirectory: /var/imap\n", "imapd.conf", nullptr);
  ASSERT_TRUE(conf.ok());
  auto imap = auth_options_from_config(*conf, "imaps", "imap");
  ASSERT_TRUE(imap.ok());
  EXPECT_EQ(imap->deny_service, "imaps");
  EXPECT_EQ(imap->userdeny_db_path, "/var/imap/user_deny.db");
  EXPECT_TRUE(imap->deny_exempts_admins);
  auto conf2 = config::ImapdConf::parse("configdirectory: /var/imap\nuserdeny_db_path: /srv/deny.db\n", "imapd.conf", nullptr);
  ASSERT_TRUE(conf2.ok());
  auto pop = auth_options_from_config(*conf2, "pop3", "pop");
  ASSERT_TRUE(pop.ok());
  EXPECT_EQ(pop->userdeny_db_path, "/srv/deny.db");
  EXPECT_FALSE(pop->deny_exempts_admins);
}

TEST_F(AuthenticatorTest, StartSaslRefusesMechanismsNotOffered) {
  auto a = make();
  EXPECT_EQ(a.start_sasl(plain_client, "PLAIN").error().code, Errc::Invalid);  // before TLS
  EXPECT_EQ(a.start_sasl(tls_client, "CRAM-MD5").error().code, Errc::Invalid);
  EXPECT_TRUE(a.start_sasl(plain_client, "scram-sha-256").ok());
}

TEST_F(AuthenticatorTest, ScramExchangeWithoutSuccessDataNeedsOneMoreRound) {
  auto a = make();
  auto ex = a.start_sasl(plain_client, "SCRAM-SHA-256", /*success_data_allowed=*/false);
  ASSERT_TRUE(ex.ok());
  ScramClient c{"fred", "secret", "nonce1"};
  auto sf = (*ex)->step(c.first());
  ASSERT_TRUE(sf.ok());
  auto v = (*ex)->step(c.final_message(sf->data));
  ASSERT_TRUE(v.ok()) << v.error().describe();
  EXPECT_FALSE(v->done);  // server-final comes as a challenge
  EXPECT_EQ(v->data, c.expected_server_final());
  auto done = (*ex)->step(std::string_view(""));
  ASSERT_TRUE(done.ok());
  EXPECT_TRUE(done->done);
  EXPECT_EQ((*ex)->identity().userid, "fred");
  EXPECT_EQ((*ex)->step(std::string_view("")).error().code, Errc::Invalid);  // over
}

TEST_F(AuthenticatorTest, ScramExchangeWithSuccessData) {
  auto a = make();
  auto ex = a.start_sasl(plain_client, "SCRAM-SHA-256", /*success_data_allowed=*/true);
  ASSERT_TRUE(ex.ok());
  ScramClient c{"fred", "secret", "nonce1"};
  auto sf = (*ex)->step(c.first());
  ASSERT_TRUE(sf.ok());
  auto v = (*ex)->step(c.final_message(sf->data));
  ASSERT_TRUE(v.ok());
  EXPECT_TRUE(v->done);
  EXPECT_EQ(v->data, c.expected_server_final());
}

TEST_F(AuthenticatorTest, ScramFinalAckMustBeEmpty) {
  auto a = make();
  auto ex = a.start_sasl(plain_client, "SCRAM-SHA-256");
  ScramClient c{"fred", "secret", "nonce1"};
  auto sf = (*ex)->step(c.first());
  ASSERT_TRUE((*ex)->step(c.final_message(sf->data)).ok());
  EXPECT_EQ((*ex)->step(std::string_view("junk")).error().code, Errc::Invalid);
}

TEST_F(AuthenticatorTest, FailureDelayGrowsThenExpires) {
  opts.failed_login_pause = 3000ms;
  auto a = make();
  const std::string addr = tls_client.address;
  EXPECT_EQ(a.failure_delay(addr), 0ms);
  std::chrono::milliseconds expected[] = {3000ms, 6000ms, 12000ms, 24000ms, 24000ms};
  for (auto want : expected) {
    ASSERT_FALSE(a.authenticate(tls_client, "fred", "wrong").ok());
    EXPECT_EQ(a.failure_delay(addr), want);
  }
  EXPECT_EQ(a.failure_delay("198.51.100.1"), 0ms);  // other clients are not slowed
  now += Authenticator::kFailureWindow + 1s;
  EXPECT_EQ(a.failure_delay(addr), 0ms);
  ASSERT_FALSE(a.authenticate(tls_client, "fred", "wrong").ok());
  EXPECT_EQ(a.failure_delay(addr), 3000ms);  // counting starts again
}

TEST_F(AuthenticatorTest, BackendOutageIsTempAndNotCounted) {
  opts.pwcheck = {PwcheckMethod::Saslauthd};
  opts.saslauthd_path = dir.path() / "no-such-socket";
  opts.saslauthd_timeout = 500ms;
  auto a = make();
  auto r = a.authenticate(tls_client, "fred", "secret");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::Temp);
  EXPECT_EQ(a.failure_delay(tls_client.address), 0ms);
}

TEST_F(AuthenticatorTest, SaslauthdMethod) {
  FakeSaslauthd fake(dir.path() / "mux");
  opts.pwcheck = {PwcheckMethod::Saslauthd};
  opts.saslauthd_path = dir.path() / "mux";
  opts.sasl_service = "pop";
  auto a = make();
  fake.set_reply(FakeSaslauthd::counted("OK"));
  auto ok = a.authenticate(tls_client, "Carol", "pw");
  ASSERT_TRUE(ok.ok()) << ok.error().describe();
  EXPECT_EQ(ok->userid, "carol");
  EXPECT_EQ(fake.last_login, "carol");
  EXPECT_EQ(fake.last_service, "pop");
  fake.set_reply(FakeSaslauthd::counted("NO"));
  auto no = a.authenticate(tls_client, "carol", "pw");
  ASSERT_FALSE(no.ok());
  EXPECT_EQ(no.error().code, Errc::Perm);
}

TEST_F(AuthenticatorTest, MethodsAreTriedInOrder) {
  FakeSaslauthd fake(dir.path() / "mux");
  fake.set_reply(FakeSaslauthd::counted("OK"));
  opts.pwcheck = {PwcheckMethod::Auxprop, PwcheckMethod::Saslauthd};
  opts.saslauthd_path = dir.path() / "mux";
  auto a = make();
  EXPECT_TRUE(a.authenticate(tls_client, "fred", "secret").ok());
  EXPECT_EQ(fake.requests.load(), 0);  // auxprop answered
  EXPECT_TRUE(a.authenticate(tls_client, "dave", "pw").ok());
  EXPECT_EQ(fake.requests.load(), 1);  // not in passwd.db: saslauthd asked
}

TEST_F(AuthenticatorTest, MissingDatabaseMeansNoUsersUntilCreated) {
  opts.user_db_path = dir.path() / "later.db";
  auto a = make();
  auto r = a.authenticate(tls_client, "fred", "secret");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::Perm);
  auto db = UserDb::open(opts.user_db_path, UserDb::Mode::ReadWrite);
  ASSERT_TRUE(db.ok());
  ASSERT_TRUE((*db)->set_password("fred", "secret", kFastIterations).ok());
  EXPECT_TRUE(a.authenticate(tls_client, "fred", "secret").ok());
}

TEST_F(AuthenticatorTest, OptionsFromImapdConf) {
  std::vector<config::Diagnostic> diags;
  auto conf = config::ImapdConf::parse(
      "configdirectory: /var/lib/cyrus\n"
      "admins: cyrus Admin2\n"
      "allowplaintext: no\n"
      "imap_allowplaintext: yes\n"
      "sasl_pwcheck_method: saslauthd auxprop\n"
      "sasl_saslauthd_path: /run/sasl/mux\n"
      "sasl_mech_list: PLAIN scram-sha-256 CRAM-MD5\n"
      "sasl_scram_iteration_counter: 200000\n"
      "failedloginpause: 5\n",
      "imapd.conf", &diags);
  ASSERT_TRUE(conf.ok()) << conf.error().describe();
  auto o = auth_options_from_config(*conf, "imap", "imap");
  ASSERT_TRUE(o.ok()) << o.error().describe();
  EXPECT_EQ(o->user_db_path, "/var/lib/cyrus/passwd.db");
  EXPECT_EQ(o->admins, (std::vector<std::string>{"cyrus", "Admin2"}));
  EXPECT_TRUE(o->allow_plaintext);  // service override
  EXPECT_EQ(o->pwcheck, (std::vector<PwcheckMethod>{PwcheckMethod::Saslauthd, PwcheckMethod::Auxprop}));
  EXPECT_EQ(o->saslauthd_path, "/run/sasl/mux");
  EXPECT_EQ(o->mech_list, (std::vector<std::string>{"PLAIN", "SCRAM-SHA-256"}));
  EXPECT_EQ(o->iterations, 200000u);
  EXPECT_EQ(o->failed_login_pause, 5000ms);
  auto pop = auth_options_from_config(*conf, "pop3", "pop");
  ASSERT_TRUE(pop.ok());
  EXPECT_FALSE(pop->allow_plaintext);
}

TEST_F(AuthenticatorTest, OptionsDefaultsAndErrors) {
  auto conf = config::ImapdConf::parse("configdirectory: /c\n", "imapd.conf", nullptr);
  ASSERT_TRUE(conf.ok());
  auto o = auth_options_from_config(*conf, "imap", "imap");
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o->pwcheck, std::vector<PwcheckMethod>{PwcheckMethod::Auxprop});
  EXPECT_EQ(o->saslauthd_path, kDefaultSaslauthdPath);
  EXPECT_EQ(o->iterations, kDefaultIterations);
  // Cyrus SASL's SCRAM client (Cyrus's sync_client among others) cancels
  // when a server offers more than 65536 iterations (issue 8).
  EXPECT_LE(o->iterations, 65536u);
  EXPECT_FALSE(o->allow_plaintext);
  EXPECT_TRUE(o->username_tolower);
  EXPECT_EQ(o->failed_login_pause, 3000ms);

  // A non-number is already refused by the typed option table.
  EXPECT_FALSE(config::ImapdConf::parse("sasl_scram_iteration_counter: lots\n", "imapd.conf", nullptr).ok());
  for (const char* bad : {"sasl_pwcheck_method: pam\n", "sasl_scram_iteration_counter: 0\n",
                          "sasl_mech_list: GSSAPI\n"}) {
    auto c = config::ImapdConf::parse(bad, "imapd.conf", nullptr);
    ASSERT_TRUE(c.ok()) << bad;
    auto r = auth_options_from_config(*c, "imap", "imap");
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().code, Errc::Invalid);
  }
}

}  // namespace
}  // namespace cyr::auth
