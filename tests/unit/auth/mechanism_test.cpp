#include "server/auth/mechanism.h"

#include <gtest/gtest.h>

#include "server/auth/base64.h"
#include "test_util.h"

namespace cyr::auth {
namespace {

using testing::FakeVerifier;
using testing::ScramClient;

std::string bytes(const char* s, size_t n) { return std::string(s, n); }

// --- PLAIN -----------------------------------------------------------------

class PlainTest : public ::testing::Test {
 protected:
  void SetUp() override { v.add("fred", "secret"); }
  FakeVerifier v;
};

TEST_F(PlainTest, InitialResponseSucceeds) {
  auto m = make_plain_mechanism(v);
  auto r = m->step(bytes("\0fred\0secret", 12));
  ASSERT_TRUE(r.ok()) << r.error().describe();
  EXPECT_TRUE(r->done);
  EXPECT_EQ(m->authcid(), "fred");
  EXPECT_EQ(m->authzid(), "");
}

TEST_F(PlainTest, WithoutInitialResponseSendsEmptyChallenge) {
  auto m = make_plain_mechanism(v);
  auto c = m->step(std::nullopt);
  ASSERT_TRUE(c.ok());
  EXPECT_FALSE(c->done);
  EXPECT_EQ(c->data, "");
  auto r = m->step(bytes("\0fred\0secret", 12));
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->done);
}

TEST_F(PlainTest, ReportsAuthzid) {
  auto m = make_plain_mechanism(v);
  auto r = m->step(bytes("bob\0fred\0secret", 15));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(m->authcid(), "fred");
  EXPECT_EQ(m->authzid(), "bob");
}

TEST_F(PlainTest, WrongPasswordIsPerm) {
  auto m = make_plain_mechanism(v);
  auto r = m->step(bytes("\0fred\0wrong", 11));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::Perm);
}

TEST_F(PlainTest, MalformedMessagesAreInvalidAndCheckNothing) {
  const std::string bad[] = {
      "fredsecret",                  // no NUL
      bytes("fred\0secret", 11),     // one NUL
      bytes("\0\0secret", 8),        // empty authcid
      bytes("\0fred\0", 6),          // empty password
      bytes("\0fred\0sec\0ret", 13), // NUL in password
      bytes("\0fr\xC3\0secret", 12), // bad UTF-8 in authcid
      "",                            // empty message
  };
  for (const auto& msg : bad) {
    auto m = make_plain_mechanism(v);
    auto r = m->step(msg);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, Errc::Invalid);
  }
  EXPECT_EQ(v.plaintext_checks, 0);
}

TEST_F(PlainTest, OverlongMessageIsLimit) {
  auto m = make_plain_mechanism(v);
  std::string msg = bytes("\0fred\0", 6) + std::string(kMaxSaslMessage, 'x');
  auto r = m->step(msg);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::Limit);
  EXPECT_EQ(v.plaintext_checks, 0);
}

TEST_F(PlainTest, StepAfterEndIsInvalid) {
  auto m = make_plain_mechanism(v);
  ASSERT_TRUE(m->step(bytes("\0fred\0secret", 12)).ok());
  auto again = m->step(bytes("\0fred\0secret", 12));
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code, Errc::Invalid);
}

TEST_F(PlainTest, DecodedFromBase64AsAProtocolWould) {
  auto decoded = base64_decode(base64_encode(bytes("\0fred\0secret", 12)), kMaxSaslMessage);
  ASSERT_TRUE(decoded.ok());
  auto m = make_plain_mechanism(v);
  EXPECT_TRUE(m->step(*decoded).ok());
  EXPECT_FALSE(base64_decode("AGZyZWQAc2VjcmV0=", kMaxSaslMessage).ok());  // bad base64 never reaches it
}

// --- LOGIN -----------------------------------------------------------------

TEST(Login, UsernameThenPassword) {
  FakeVerifier v;
  v.add("fred", "secret");
  auto m = make_login_mechanism(v);
  auto c1 = m->step(std::nullopt);
  ASSERT_TRUE(c1.ok());
  EXPECT_EQ(c1->data, "Username:");
  auto c2 = m->step(std::string_view("fred"));
  ASSERT_TRUE(c2.ok());
  EXPECT_FALSE(c2->done);
  EXPECT_EQ(c2->data, "Password:");
  auto r = m->step(std::string_view("secret"));
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->done);
  EXPECT_EQ(m->authcid(), "fred");
}

TEST(Login, InitialResponseIsTheUsername) {
  FakeVerifier v;
  v.add("fred", "secret");
  auto m = make_login_mechanism(v);
  auto c = m->step(std::string_view("fred"));
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->data, "Password:");
  EXPECT_TRUE(m->step(std::string_view("secret")).ok());
}

TEST(Login, WrongPasswordEmptyFieldsAndNuls) {
  FakeVerifier v;
  v.add("fred", "secret");
  {
    auto m = make_login_mechanism(v);
    ASSERT_TRUE(m->step(std::string_view("fred")).ok());
    EXPECT_EQ(m->step(std::string_view("nope")).error().code, Errc::Perm);
  }
  {
    auto m = make_login_mechanism(v);
    EXPECT_EQ(m->step(std::string_view("")).error().code, Errc::Invalid);
  }
  {
    auto m = make_login_mechanism(v);
    EXPECT_EQ(m->step(bytes("fr\0ed", 5)).error().code, Errc::Invalid);
  }
  {
    auto m = make_login_mechanism(v);
    ASSERT_TRUE(m->step(std::string_view("fred")).ok());
    EXPECT_EQ(m->step(std::string_view("")).error().code, Errc::Invalid);
  }
  {
    auto m = make_login_mechanism(v);
    ASSERT_TRUE(m->step(std::string_view("fred")).ok());
    EXPECT_EQ(m->step(bytes("sec\0ret", 7)).error().code, Errc::Invalid);
  }
  {
    auto m = make_login_mechanism(v);
    EXPECT_EQ(m->step(std::string(kMaxSaslMessage + 1, 'u')).error().code, Errc::Limit);
  }
}

// --- SCRAM-SHA-256 -----------------------------------------------------------

constexpr const char* kRfcSalt = "W22ZaJ0SNY7soEsUEjb6gQ==";
constexpr const char* kRfcServerNonce = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";

class ScramTest : public ::testing::Test {
 protected:
  void SetUp() override {
    v.users["user"] = derive_scram_keys("pencil", base64_decode(kRfcSalt, 64).value(), 4096).value();
    opts.fixed_server_nonce = kRfcServerNonce;
    opts.unknown_user_salt_key = "fixed key for tests";
    opts.unknown_user_iterations = 4096;
  }
  FakeVerifier v;
  ScramServerOptions opts;
};

// RFC 7677 s3, message for message.
TEST_F(ScramTest, Rfc7677ExampleExchange) {
  auto m = make_scram_sha256_mechanism(v, opts);
  auto first = m->step(std::string_view("n,,n=user,r=rOprNGfwEbeRWgbNEkqO"));
  ASSERT_TRUE(first.ok()) << first.error().describe();
  EXPECT_FALSE(first->done);
  EXPECT_EQ(first->data,
            "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096");
  auto final = m->step(std::string_view(
      "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
      "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="));
  ASSERT_TRUE(final.ok()) << final.error().describe();
  EXPECT_TRUE(final->done);
  EXPECT_EQ(final->data, "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=");
  EXPECT_EQ(m->authcid(), "user");
  EXPECT_EQ(m->authzid(), "");
}

TEST_F(ScramTest, WithoutInitialResponseStartsWithEmptyChallenge) {
  auto m = make_scram_sha256_mechanism(v, opts);
  auto c = m->step(std::nullopt);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->data, "");
  EXPECT_TRUE(m->step(std::string_view("n,,n=user,r=rOprNGfwEbeRWgbNEkqO")).ok());
}

TEST_F(ScramTest, RandomServerNonceAndClientRoundTrip) {
  opts.fixed_server_nonce.clear();
  auto m = make_scram_sha256_mechanism(v, opts);
  ScramClient c{"user", "pencil", "clientnonce123"};
  auto sf = m->step(c.first());
  ASSERT_TRUE(sf.ok());
  EXPECT_EQ(sf->data.rfind("r=clientnonce123", 0), 0u);
  EXPECT_GT(sf->data.find(",s="), std::string("r=clientnonce123").size() + 16);  // a real server part
  auto fin = m->step(c.final_message(sf->data));
  ASSERT_TRUE(fin.ok()) << fin.error().describe();
  EXPECT_TRUE(fin->done);
  EXPECT_EQ(fin->data, c.expected_server_final());
}

TEST_F(ScramTest, WrongPasswordFails) {
  auto m = make_scram_sha256_mechanism(v, opts);
  ScramClient c{"user", "pencil!", "abc"};
  auto sf = m->step(c.first());
  ASSERT_TRUE(sf.ok());
  auto fin = m->step(c.final_message(sf->data));
  ASSERT_FALSE(fin.ok());
  EXPECT_EQ(fin.error().code, Errc::Perm);
}

TEST_F(ScramTest, UnknownUserLooksLikeAKnownOneThenFails) {
  auto m1 = make_scram_sha256_mechanism(v, opts);
  auto m2 = make_scram_sha256_mechanism(v, opts);
  auto a = m1->step(std::string_view("n,,n=nobody,r=abc"));
  auto b = m2->step(std::string_view("n,,n=nobody,r=abc"));
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->data, b->data);  // same fake salt each time
  EXPECT_NE(a->data.find(",i=4096"), std::string::npos);
  ScramClient c{"nobody", "pencil", "abc"};
  c.first();
  auto fin = m1->step(c.final_message(a->data));
  ASSERT_FALSE(fin.ok());
  EXPECT_EQ(fin.error().code, Errc::Perm);
}

TEST_F(ScramTest, ChannelBindingFlags) {
  {  // "p=": the client insists on channel binding, which we do not offer.
    auto m = make_scram_sha256_mechanism(v, opts);
    auto r = m->step(std::string_view("p=tls-unique,,n=user,r=abc"));
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, Errc::Perm);
  }
  {  // "y": accepted, and c= must echo "y,,".
    auto m = make_scram_sha256_mechanism(v, opts);
    ScramClient c{"user", "pencil", "abc"};
    c.gs2_header = "y,,";
    auto sf = m->step(c.first());
    ASSERT_TRUE(sf.ok());
    std::string fin = c.final_message(sf->data);
    EXPECT_EQ(fin.rfind("c=eSws,", 0), 0u);
    EXPECT_TRUE(m->step(fin).ok());
  }
  {  // "y" header but c= claiming "n,,": mismatch.
    auto m = make_scram_sha256_mechanism(v, opts);
    ScramClient c{"user", "pencil", "abc"};
    c.gs2_header = "y,,";
    auto sf = m->step(c.first());
    ASSERT_TRUE(sf.ok());
    std::string fin = c.final_message(sf->data);
    fin.replace(0, 6, "c=biws");
    EXPECT_EQ(m->step(fin).error().code, Errc::Perm);
  }
}

TEST_F(ScramTest, AuthzidAndEscapedNames) {
  v.users["a,b=c"] = v.users["user"];
  auto m = make_scram_sha256_mechanism(v, opts);
  ScramClient c{"a=2Cb=3Dc", "pencil", "abc"};
  c.gs2_header = "n,a=boss=2C1,";
  auto sf = m->step(c.first());
  ASSERT_TRUE(sf.ok()) << sf.error().describe();
  ASSERT_TRUE(m->step(c.final_message(sf->data)).ok());
  EXPECT_EQ(m->authcid(), "a,b=c");
  EXPECT_EQ(m->authzid(), "boss,1");
}

TEST_F(ScramTest, MalformedClientFirstMessages) {
  const char* bad[] = {
      "",                              // empty
      "n",                             // no gs2 header
      "n,",                            // unterminated gs2 header
      "x,,n=user,r=abc",               // bad flag
      "n,b=user,n=user,r=abc",         // authzid without a=
      "n,,m=ext,n=user,r=abc",         // mandatory extension
      "n,,r=abc,n=user",               // wrong order
      "n,,n=user",                     // no nonce
      "n,,n=,r=abc",                   // empty user
      "n,,n=us=er,r=abc",              // bad escape
      "n,,n=user,r=",                  // empty nonce
      "n,,n=user,r=ab c",              // nonce not printable
      "n,,n=user,r=abc,1=x",           // bad extension name
      "n,,n=u\x01ser,r=abc",           // SASLprep refuses a control character
  };
  for (const char* msg : bad) {
    auto m = make_scram_sha256_mechanism(v, opts);
    auto r = m->step(std::string_view(msg));
    ASSERT_FALSE(r.ok()) << msg;
    EXPECT_EQ(r.error().code, Errc::Invalid) << msg;
  }
  auto m = make_scram_sha256_mechanism(v, opts);
  EXPECT_EQ(m->step(std::string("n,,n=user,r=") + std::string(kMaxSaslMessage, 'a')).error().code, Errc::Limit);
  auto n = make_scram_sha256_mechanism(v, opts);
  EXPECT_EQ(n->step(std::string("n,,n=user,r=a\0b", 15)).error().code, Errc::Invalid);
}

TEST_F(ScramTest, MalformedOrForgedClientFinalMessages) {
  std::string nonce = std::string("rOprNGfwEbeRWgbNEkqO") + kRfcServerNonce;
  struct Case {
    std::string msg;
    Errc code;
  } cases[] = {
      {"c=biws,r=" + nonce, Errc::Invalid},                                      // no proof
      {"c=biws,r=" + nonce + ",p=notbase64!", Errc::Invalid},                    // bad proof encoding
      {"c=biws,r=" + nonce + ",p=AAAA", Errc::Invalid},                          // short proof
      {"r=" + nonce + ",c=biws,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=", Errc::Invalid},  // order
      {"c=biws,r=otherNonce,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=", Errc::Perm},        // nonce
      {"c=eSws,r=" + nonce + ",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=", Errc::Perm},     // cbind
      {"c=biws,r=" + nonce + ",p=AHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=", Errc::Perm},     // proof
  };
  for (const auto& c : cases) {
    auto m = make_scram_sha256_mechanism(v, opts);
    ASSERT_TRUE(m->step(std::string_view("n,,n=user,r=rOprNGfwEbeRWgbNEkqO")).ok());
    auto r = m->step(c.msg);
    ASSERT_FALSE(r.ok()) << c.msg;
    EXPECT_EQ(r.error().code, c.code) << c.msg;
    // The exchange is over after any error.
    EXPECT_EQ(m->step(std::string_view("")).error().code, Errc::Invalid);
  }
}

TEST_F(ScramTest, BackendWithoutScramRecordsFails) {
  class NoScram : public FakeVerifier {
    Result<ScramKeys> scram_keys(std::string_view) override {
      return Error(Errc::Unavailable, "Mechanism not available", "test");
    }
  } backend;
  auto m = make_scram_sha256_mechanism(backend, opts);
  EXPECT_EQ(m->step(std::string_view("n,,n=user,r=abc")).error().code, Errc::Unavailable);
}

}  // namespace
}  // namespace cyr::auth
