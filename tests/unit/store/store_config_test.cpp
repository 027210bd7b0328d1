// options_from_config: imapd.conf options that size or shape the store.
#include <gtest/gtest.h>

#include <utility>
#include <vector>

#include "store/config/imapd_conf.h"
#include "store/store_config.h"

namespace cyr::store {
namespace {

constexpr const char* kBase = "configdirectory: /var/lib/cyrus\npartition-default: /var/spool/cyrus\n";

Result<StoreOptions> from_text(const std::string& extra) {
  auto conf = config::ImapdConf::parse(kBase + extra,
                                       "imapd.conf", nullptr);
  if (!conf.ok()) return conf.take_error();
  return options_from_config(*conf);
}

TEST(StoreConfig, OpenShardsDefaultsTo4096) {
  auto o = from_text("");
  ASSERT_TRUE(o.ok()) << o.error().describe();
  EXPECT_EQ(o->max_open_shards, 4096u);
}

TEST(StoreConfig, OpenShardsIsTakenFromImapdConf) {
  auto o = from_text("store_open_shards: 5000\n");
  ASSERT_TRUE(o.ok()) << o.error().describe();
  EXPECT_EQ(o->max_open_shards, 5000u);
}

TEST(StoreConfig, OpenShardsOutOfBoundsIsClampedWithAWarning) {
  // Below 16 every delivery would reopen its shard; a typo must not start a
  // node that thrashes, nor one that may keep millions of databases open.
  // As for Cyrus's bounded options, the value is clamped and a Warning says so.
  for (auto [text, want] : {std::pair<const char*, size_t>{"store_open_shards: 3\n", 16},
                            std::pair<const char*, size_t>{"store_open_shards: 2000000\n", 1000000}}) {
    std::vector<config::Diagnostic> diags;
    auto conf = config::ImapdConf::parse(std::string(kBase) + text, "imapd.conf", &diags);
    ASSERT_TRUE(conf.ok());
    EXPECT_FALSE(diags.empty()) << text;
    auto o = options_from_config(*conf);
    ASSERT_TRUE(o.ok());
    EXPECT_EQ(o->max_open_shards, want) << text;
  }
  EXPECT_FALSE(config::ImapdConf::parse("store_open_shards: many\n", "imapd.conf", nullptr).ok());
}

// The replication log is written only for a server with a replica, as
// Cyrus's sync log.
TEST(StoreConfig, ChangeRecordsOnlyWithSyncLogOrAFailoverPeer) {
  auto none = from_text("");
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->log_changes);
  auto off = from_text("sync_log: off\n");
  ASSERT_TRUE(off.ok());
  EXPECT_FALSE(off->log_changes);
  auto on = from_text("sync_log: on\nsync_host: 127.0.0.1:2005\n");
  ASSERT_TRUE(on.ok());
  EXPECT_TRUE(on->log_changes);
  auto pair = from_text("failover_peer: 127.0.0.1:2020\n");
  ASSERT_TRUE(pair.ok());
  EXPECT_TRUE(pair->log_changes);
}

}  // namespace
}  // namespace cyr::store
