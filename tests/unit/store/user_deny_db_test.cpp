// store::UserDenyDb (cyr_deny's list): deny, allow, list, Cyrus's
// right-to-left pattern rule with '!' and wildcards, bounded input, and a
// second connection seeing a change at its next read (no restart).
#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "store/user_deny_db.h"
#include "tests/unit/store/store_test_util.h"

namespace cyr::store {
namespace {

using store::testing::ScopedTempDir;

TEST(ServicePattern, Wildcards) {
  EXPECT_TRUE(service_pattern_matches("*", "imap"));
  EXPECT_TRUE(service_pattern_matches("*", ""));
  EXPECT_TRUE(service_pattern_matches("imap", "imap"));
  EXPECT_FALSE(service_pattern_matches("imap", "imaps"));
  EXPECT_TRUE(service_pattern_matches("imap*", "imaps"));
  EXPECT_TRUE(service_pattern_matches("pop?", "pop3"));
  EXPECT_FALSE(service_pattern_matches("pop?", "pop3s"));
  EXPECT_TRUE(service_pattern_matches("*s", "pop3s"));
  EXPECT_TRUE(service_pattern_matches("i*a*p", "imap"));
  EXPECT_FALSE(service_pattern_matches("i*x*p", "imap"));
  EXPECT_TRUE(service_pattern_matches("\\*", "*"));
  EXPECT_FALSE(service_pattern_matches("\\*", "imap"));
  EXPECT_FALSE(service_pattern_matches("IMAP", "imap"));  // cyrus.conf names are case-sensitive
  // Many stars against a long non-match stays cheap (one backtrack point).
  EXPECT_FALSE(service_pattern_matches(std::string(500, '*') + "x", std::string(1000, 'a')));
}

TEST(ServicePattern, ListIsReadRightToLeftAndNegationAllows) {
  EXPECT_TRUE(services_deny("*", "imap"));
  EXPECT_TRUE(services_deny("imap,pop3", "pop3"));
  EXPECT_FALSE(services_deny("imap,pop3", "sieve"));
  EXPECT_TRUE(services_deny("*,!pop3", "imap"));
  EXPECT_FALSE(services_deny("*,!pop3", "pop3"));
  // The last matching pattern decides: here "*" comes after "!pop3".
  EXPECT_TRUE(services_deny("!pop3,*", "pop3"));
  EXPECT_FALSE(services_deny("!*", "imap"));
  EXPECT_FALSE(services_deny("", "imap"));
}

TEST(UserDenyDb, DenyAllowListAndDefaults) {
  ScopedTempDir temp("userdeny");
  auto path = std::filesystem::path(temp.path) / "user_deny.db";
  EXPECT_EQ(UserDenyDb::open(path, UserDenyDb::Mode::ReadOnly).error().code, Errc::NotFound);
  auto db = UserDenyDb::open(path, UserDenyDb::Mode::ReadWrite);
  ASSERT_TRUE(db.ok()) << db.error().describe();
  ASSERT_TRUE((*db)->deny("fred", "", "").ok());
  ASSERT_TRUE((*db)->deny("bob", "pop3,imap*", "Pay your bill").ok());
  auto fred = (*db)->lookup("fred");
  ASSERT_TRUE(fred.ok() && *fred);
  EXPECT_EQ((*fred)->services, "*");
  EXPECT_EQ((*fred)->message, UserDenyDb::kDefaultMessage);

  EXPECT_EQ(*(*db)->denied("fred", "sieve"), std::optional<std::string>(std::string(UserDenyDb::kDefaultMessage)));
  EXPECT_EQ(*(*db)->denied("bob", "imaps"), std::optional<std::string>("Pay your bill"));
  EXPECT_EQ(*(*db)->denied("bob", "sieve"), std::nullopt);
  EXPECT_EQ(*(*db)->denied("alice", "imap"), std::nullopt);

  auto all = (*db)->list();
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].userid, "bob");  // by user id
  EXPECT_EQ((*all)[1].userid, "fred");

  // A second deny replaces the entry.
  ASSERT_TRUE((*db)->deny("bob", "sieve", "").ok());
  EXPECT_EQ(*(*db)->denied("bob", "imap"), std::nullopt);
  EXPECT_TRUE((*db)->denied("bob", "sieve")->has_value());

  EXPECT_TRUE(*(*db)->allow("fred"));
  EXPECT_FALSE(*(*db)->allow("fred"));
  EXPECT_EQ(*(*db)->denied("fred", "imap"), std::nullopt);
  EXPECT_EQ(std::filesystem::status(path).permissions() & std::filesystem::perms::others_all,
            std::filesystem::perms::none);
}

TEST(UserDenyDb, AnotherConnectionSeesChangesAtItsNextRead) {
  ScopedTempDir temp("userdeny_live");
  auto path = std::filesystem::path(temp.path) / "user_deny.db";
  auto writer = UserDenyDb::open(path, UserDenyDb::Mode::ReadWrite);
  ASSERT_TRUE(writer.ok());
  auto reader = UserDenyDb::open(path, UserDenyDb::Mode::ReadOnly);  // the daemon's
  ASSERT_TRUE(reader.ok());
  EXPECT_EQ(*(*reader)->denied("fred", "imap"), std::nullopt);
  ASSERT_TRUE((*writer)->deny("fred", "imap", "Gone fishing").ok());
  EXPECT_EQ(*(*reader)->denied("fred", "imap"), std::optional<std::string>("Gone fishing"));
  ASSERT_TRUE(*(*writer)->allow("fred"));
  EXPECT_EQ(*(*reader)->denied("fred", "imap"), std::nullopt);
}

TEST(UserDenyDb, RefusesUnboundedOrUnsafeInput) {
  ScopedTempDir temp("userdeny_bounds");
  auto db = UserDenyDb::open(std::filesystem::path(temp.path) / "user_deny.db", UserDenyDb::Mode::ReadWrite);
  ASSERT_TRUE(db.ok());
  auto code = [&](std::string_view u, std::string_view s, std::string_view m) {
    auto st = (*db)->deny(u, s, m);
    return st.ok() ? std::optional<Errc>() : std::optional<Errc>(st.error().code);
  };
  EXPECT_EQ(code("", "*", ""), Errc::Invalid);
  EXPECT_EQ(code(std::string(256, 'u'), "*", ""), Errc::Invalid);
  EXPECT_EQ(code("fred bloggs", "*", ""), Errc::Invalid);
  EXPECT_EQ(code("fred", std::string(1025, 'i'), ""), Errc::Invalid);
  EXPECT_EQ(code("fred", "imap,,pop3", ""), Errc::Invalid);  // an empty pattern
  EXPECT_EQ(code("fred", "imap,!", ""), Errc::Invalid);
  std::string many;
  for (int i = 0; i < 65; ++i) many += (i ? "," : "") + std::string("s") + std::to_string(i);
  EXPECT_EQ(code("fred", many, ""), Errc::Invalid);
  EXPECT_EQ(code("fred", "*", "line\r\nA1 OK forged"), Errc::Invalid);
  EXPECT_EQ(code("fred", "*", std::string(513, 'm')), Errc::Invalid);
  EXPECT_FALSE(code("fred", "*", std::string(512, 'm')).has_value());
  auto all = (*db)->list();
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), 1u);  // only the valid one was written
  // Lookups of names no entry can have read nothing and allow.
  EXPECT_EQ(*(*db)->denied(std::string(300, 'x'), "imap"), std::nullopt);
}

TEST(UserDenyDb, ReadOnlyOpenWritesNothing) {
  ScopedTempDir temp("userdeny_ro");
  auto path = std::filesystem::path(temp.path) / "user_deny.db";
  { std::ofstream f(path); }  // an empty file: cyr_deny about to create the table
  auto ro = UserDenyDb::open(path, UserDenyDb::Mode::ReadOnly);
  ASSERT_FALSE(ro.ok());
  EXPECT_EQ(ro.error().code, Errc::NotFound);
  auto rw = UserDenyDb::open(path, UserDenyDb::Mode::ReadWrite);
  ASSERT_TRUE(rw.ok()) << rw.error().describe();
  EXPECT_TRUE(UserDenyDb::open(path, UserDenyDb::Mode::ReadOnly).ok());
}

TEST(UserDenyDb, AForeignFileIsReportedNotOverwritten) {
  ScopedTempDir temp("userdeny_foreign");
  auto path = std::filesystem::path(temp.path) / "user_deny.db";
  {
    std::ofstream f(path);
    f << "fred\t2\t*\tflat-file entry from Cyrus\n";
  }
  auto db = UserDenyDb::open(path, UserDenyDb::Mode::ReadWrite);
  ASSERT_FALSE(db.ok());
  std::ifstream again(path);
  std::string line;
  std::getline(again, line);
  EXPECT_EQ(line, "fred\t2\t*\tflat-file entry from Cyrus");
}

}  // namespace
}  // namespace cyr::store
