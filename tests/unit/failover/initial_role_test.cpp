#include "failover/initial_role.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <random>

#include "store/config/imapd_conf.h"

namespace cyr::failover {
namespace {

config::ImapdConf conf_of(const std::string& text) {
  auto c = config::ImapdConf::parse(text, "imapd.conf", nullptr);
  EXPECT_TRUE(c.ok());
  return *c;
}

class InitialRole : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("cyr_role_test." + std::to_string(std::random_device{}()));
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::unique_ptr<store::Store> open() {
    store::StoreOptions o;
    o.configdirectory = dir_ / "conf";
    o.partitions["default"] = dir_ / "spool";
    auto s = store::Store::open(o);
    EXPECT_TRUE(s.ok());
    return std::move(*s);
  }

  std::filesystem::path dir_;
};

TEST_F(InitialRole, DefaultsFollowThePeerSetting) {
  EXPECT_EQ(configured_role(conf_of("")), store::Role::Primary);
  EXPECT_EQ(configured_role(conf_of("failover_peer: 127.0.0.1:2005\n")), store::Role::Replica);
  EXPECT_EQ(configured_role(conf_of("failover_peer: x:1\nfailover_role: primary\n")), store::Role::Primary);
  EXPECT_EQ(configured_role(conf_of("failover_role: replica\n")), store::Role::Replica);
}

TEST_F(InitialRole, AppliedAtFirstStartAndPersisted) {
  {
    auto s = open();
    auto st = apply_initial_role(*s, conf_of("failover_role: replica\n"));
    ASSERT_TRUE(st.ok());
    EXPECT_EQ(st->role, store::Role::Replica);
  }
  auto s = open();
  EXPECT_EQ(s->node_state().role, store::Role::Replica);
  // A replica refuses client writes.
  store::CreateMailboxRequest req;
  req.name = "user.fred";
  auto r = s->create_mailbox(req);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::Unavailable);
}

TEST_F(InitialRole, PersistedStateWinsAfterAFailover) {
  auto s = open();
  ASSERT_TRUE(s->set_node_state({store::Role::Primary, 3}).ok());
  auto st = apply_initial_role(*s, conf_of("failover_role: replica\n"));
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->role, store::Role::Primary);
  EXPECT_EQ(st->epoch, 3u);
}

}  // namespace
}  // namespace cyr::failover
