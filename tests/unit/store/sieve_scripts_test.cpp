// Sieve scripts in the user's shard: put, list, activate, rename, delete,
// their change records, the replica fence, and that they survive a reopen.
#include "store_test_util.h"

namespace cyr::store {
namespace {

class SieveScriptsTest : public testing::TempStoreTest {
 protected:
  SieveScriptsTest() : TempStoreTest("sv") {}
  std::vector<SieveScript> scripts(const std::string& user) {
    auto r = store_->sieve_scripts(user);
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().describe());
    return r.ok() ? *r : std::vector<SieveScript>{};
  }
  std::string active_of(const std::string& user) {
    for (auto& s : scripts(user))
      if (s.active) return s.name;
    return "";
  }
  size_t sieve_changes(const std::string& user) {
    auto b = store_->read_changes(100000);
    EXPECT_TRUE(b.ok());
    if (!b.ok()) return 0;
    EXPECT_TRUE(store_->ack_changes(*b).ok());
    size_t n = 0;
    for (auto& c : b->records)
      if (c.kind == ChangeKind::Sieve && c.arg1 == user) ++n;
    return n;
  }
};

TEST_F(SieveScriptsTest, PutListActivateRenameDelete) {
  EXPECT_TRUE(scripts("fred").empty());  // no shard yet: none, not an error
  ASSERT_TRUE(store_->put_sieve_script("fred", "main", "keep;\r\n").ok());
  ASSERT_TRUE(store_->put_sieve_script("fred", "vacation", "require \"vacation\";\r\n").ok());
  auto v = scripts("fred");
  ASSERT_EQ(v.size(), 2u);
  EXPECT_EQ(v[0].name, "main");
  EXPECT_EQ(v[0].content, "keep;\r\n");
  EXPECT_FALSE(v[0].active);
  EXPECT_GT(v[0].last_update, 0);
  EXPECT_EQ(active_of("fred"), "");

  ASSERT_TRUE(store_->activate_sieve_script("fred", "main").ok());
  EXPECT_EQ(active_of("fred"), "main");
  ASSERT_TRUE(store_->activate_sieve_script("fred", "vacation").ok());
  EXPECT_EQ(active_of("fred"), "vacation");  // only one is ever active
  EXPECT_EQ(store_->activate_sieve_script("fred", "nope").error().code, Errc::NotFound);
  EXPECT_EQ(active_of("fred"), "vacation");

  // Replacing the active script keeps it active.
  ASSERT_TRUE(store_->put_sieve_script("fred", "vacation", "discard;").ok());
  EXPECT_EQ(active_of("fred"), "vacation");

  // The active script cannot be deleted by a client (RFC 5804 2.10).
  EXPECT_EQ(store_->delete_sieve_script("fred", "vacation").error().code, Errc::InUse);
  EXPECT_EQ(store_->rename_sieve_script("fred", "vacation", "main").error().code, Errc::Exists);
  EXPECT_EQ(store_->rename_sieve_script("fred", "gone", "x").error().code, Errc::NotFound);
  ASSERT_TRUE(store_->rename_sieve_script("fred", "vacation", "away").ok());
  EXPECT_EQ(active_of("fred"), "away");  // the active flag moves with the name

  ASSERT_TRUE(store_->activate_sieve_script("fred", "").ok());
  EXPECT_EQ(active_of("fred"), "");
  ASSERT_TRUE(store_->delete_sieve_script("fred", "away").ok());
  EXPECT_EQ(store_->delete_sieve_script("fred", "away").error().code, Errc::NotFound);
  v = scripts("fred");
  ASSERT_EQ(v.size(), 1u);
  EXPECT_EQ(v[0].name, "main");
  EXPECT_TRUE(scripts("barney").empty());  // per user
}

TEST_F(SieveScriptsTest, NamesAreChecked) {
  for (std::string bad : {std::string(), std::string("a/b"), std::string("tab\there"), std::string("nl\n"),
                          std::string("\xff\xfe"), std::string(513, 'x'), std::string("\xc0\xaf")})
    EXPECT_EQ(store_->put_sieve_script("fred", bad, "keep;").error().code, Errc::Invalid) << bad;
  EXPECT_TRUE(store_->put_sieve_script("fred", "Ferien \xc3\xa9t\xc3\xa9", "keep;").ok());
  EXPECT_TRUE(store_->put_sieve_script("fred", std::string(512, 'x'), "keep;").ok());
  EXPECT_EQ(scripts("fred").size(), 2u);
}

TEST_F(SieveScriptsTest, EveryWriteLogsAChangeButReplicationWritesDoNot) {
  (void)sieve_changes("fred");
  ASSERT_TRUE(store_->put_sieve_script("fred", "a", "keep;").ok());
  ASSERT_TRUE(store_->activate_sieve_script("fred", "a").ok());
  ASSERT_TRUE(store_->rename_sieve_script("fred", "a", "b").ok());
  ASSERT_TRUE(store_->activate_sieve_script("fred", "").ok());
  ASSERT_TRUE(store_->delete_sieve_script("fred", "b").ok());
  EXPECT_EQ(sieve_changes("fred"), 5u);
  ASSERT_TRUE(store_->put_sieve_script("fred", "r", "keep;", WriteMode::Replication, 1650000000).ok());
  EXPECT_EQ(sieve_changes("fred"), 0u);
  auto v = scripts("fred");
  ASSERT_EQ(v.size(), 1u);
  EXPECT_EQ(v[0].last_update, 1650000000);  // kept as the primary sent it
}

TEST_F(SieveScriptsTest, ReplicaRefusesClientWritesButTakesReplicatedOnes) {
  ASSERT_TRUE(store_->put_sieve_script("fred", "a", "keep;").ok());
  ASSERT_TRUE(store_->activate_sieve_script("fred", "a").ok());
  ASSERT_TRUE(store_->set_node_state(NodeState{Role::Replica, 2}).ok());
  EXPECT_EQ(store_->put_sieve_script("fred", "b", "keep;").error().code, Errc::Unavailable);
  EXPECT_EQ(store_->activate_sieve_script("fred", "").error().code, Errc::Unavailable);
  EXPECT_EQ(store_->rename_sieve_script("fred", "a", "c").error().code, Errc::Unavailable);
  EXPECT_EQ(store_->delete_sieve_script("fred", "a").error().code, Errc::Unavailable);
  // The replication applier deletes what the primary deleted, even the
  // active script (Cyrus's UNSIEVE deactivates first).
  EXPECT_TRUE(store_->delete_sieve_script("fred", "a", WriteMode::Replication).ok());
  EXPECT_TRUE(scripts("fred").empty());
}

TEST_F(SieveScriptsTest, ScriptsSurviveAReopen) {
  ASSERT_TRUE(store_->put_sieve_script("fred", "a", std::string("if true {\r\n  keep;\r\n}\r\n\0x", 26)).ok());
  ASSERT_TRUE(store_->activate_sieve_script("fred", "a").ok());
  reopen();
  auto v = scripts("fred");
  ASSERT_EQ(v.size(), 1u);
  EXPECT_EQ(v[0].content, std::string("if true {\r\n  keep;\r\n}\r\n\0x", 26));  // bytes kept as they are
  EXPECT_TRUE(v[0].active);
}

TEST_F(SieveScriptsTest, LookupWithSieveReadsTheActiveScriptWithTheMailbox) {
  CreateMailboxRequest r;
  r.name = "user.fred";
  ASSERT_TRUE(store_->create_mailbox(r).ok());
  r.name = "user.fred.Lists";
  ASSERT_TRUE(store_->create_mailbox(r).ok());
  r.name = "shared.news";
  ASSERT_TRUE(store_->create_mailbox(r).ok());
  auto none = store_->lookup_with_sieve("user.fred", "fred");
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none->first.name, "user.fred");
  EXPECT_FALSE(none->second);
  ASSERT_TRUE(store_->put_sieve_script("fred", "a", "keep;").ok());
  EXPECT_FALSE(store_->lookup_with_sieve("user.fred", "fred")->second);  // stored, not active
  ASSERT_TRUE(store_->put_sieve_script("fred", "b", "discard;").ok());
  ASSERT_TRUE(store_->activate_sieve_script("fred", "b").ok());
  for (const char* box : {"user.fred", "user.fred.Lists", "shared.news"}) {
    auto both = store_->lookup_with_sieve(box, "fred");
    ASSERT_TRUE(both.ok()) << box;
    EXPECT_EQ(both->first.name, box);
    ASSERT_TRUE(both->second) << box;
    EXPECT_EQ(both->second->name, "b");
    EXPECT_EQ(both->second->content, "discard;");
    EXPECT_TRUE(both->second->active);
  }
  EXPECT_FALSE(store_->lookup_with_sieve("user.fred", "barney")->second);  // another user's
  EXPECT_EQ(store_->lookup_with_sieve("user.nobody", "nobody").error().code, Errc::NotFound);
}

TEST_F(SieveScriptsTest, DeletingTheInboxRemovesTheUsersScripts) {
  CreateMailboxRequest r;
  r.name = "user.fred";
  ASSERT_TRUE(store_->create_mailbox(r).ok());
  r.name = "user.fred.Sub";
  ASSERT_TRUE(store_->create_mailbox(r).ok());
  ASSERT_TRUE(store_->put_sieve_script("fred", "away", "require \"vacation\"; vacation \"gone\";").ok());
  ASSERT_TRUE(store_->activate_sieve_script("fred", "away").ok());
  ASSERT_TRUE(store_->delete_mailbox("user.fred.Sub").ok());
  EXPECT_EQ(scripts("fred").size(), 1u);  // a folder is not the user
  ASSERT_TRUE(store_->delete_mailbox("user.fred").ok());
  EXPECT_TRUE(scripts("fred").empty());
  // A new fred starts without the old one's vacation answer.
  r.name = "user.fred";
  ASSERT_TRUE(store_->create_mailbox(r).ok());
  EXPECT_FALSE(store_->lookup_with_sieve("user.fred", "fred")->second);
}

TEST_F(SieveScriptsTest, TheScriptCountIsCheckedWithTheWrite) {
  ASSERT_TRUE(store_->put_sieve_script("fred", "a", "keep;", WriteMode::Normal, 0, 2).ok());
  ASSERT_TRUE(store_->put_sieve_script("fred", "b", "keep;", WriteMode::Normal, 0, 2).ok());
  EXPECT_EQ(store_->put_sieve_script("fred", "c", "keep;", WriteMode::Normal, 0, 2).error().code, Errc::Limit);
  EXPECT_TRUE(store_->put_sieve_script("fred", "b", "discard;", WriteMode::Normal, 0, 2).ok());  // a replacement
  EXPECT_TRUE(store_->put_sieve_script("barney", "c", "keep;", WriteMode::Normal, 0, 2).ok());   // per user
  EXPECT_TRUE(store_->put_sieve_script("fred", "c", "keep;").ok());                             // no bound given
  EXPECT_EQ(scripts("fred").size(), 3u);
}

}  // namespace
}  // namespace cyr::store
