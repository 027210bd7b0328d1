// On a node of a failover pair the csync server refuses every APPLY while the
// node is the primary (a stale peer must not overwrite the current primary),
// and takes them again once the node is a replica. A standalone node (a
// migration target) takes APPLY whatever its role.
#include <gtest/gtest.h>

#include <filesystem>

#include "sync/sync_frame.h"
#include "sync/sync_peer.h"
#include "sync/sync_server.h"
#include "tests/unit/store/store_test_util.h"

namespace cyr::sync {
namespace {

struct FenceNode {
  std::string dir = store::testing::make_temp_dir("pair_fence");
  std::unique_ptr<store::Store> store;
  FenceNode() {
    auto s = store::Store::open(store::testing::options_for(dir));
    EXPECT_TRUE(s.ok()) << s.error().describe();
    store = std::move(*s);
  }
  ~FenceNode() {
    store.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
  std::string unmailbox_code(bool pair_member) {
    SyncServerOptions o{dir + "/stage", {}, "fence"};
    o.refuse_apply_on_primary = pair_member;
    SyncServerSession server(*store, std::move(o));
    LoopbackPeer peer(server);
    auto r = peer.call(make_command("APPLY", "UNMAILBOX", Value::str("user.nobody")));
    EXPECT_TRUE(r.ok());
    return r.ok() ? final_reply(*r).code : "";
  }
};

TEST(PairFence, PrimaryOfAPairRefusesApplyReplicaTakesIt) {
  FenceNode n;
  ASSERT_EQ(n.store->node_state().role, store::Role::Primary);
  EXPECT_EQ(n.unmailbox_code(true), "IMAP_MAILBOX_LOCKED");
  // Reads stay allowed on a primary (the peer's verifier and copy-back use them).
  SyncServerSession server(*n.store, SyncServerOptions{n.dir + "/stage", {}, "fence", true});
  LoopbackPeer peer(server);
  auto r = peer.call(make_command("GET", "USER", Value::str("nobody")));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(final_reply(*r).kind, ReplyKind::Ok);

  ASSERT_TRUE(n.store->set_node_state({store::Role::Replica, 2}).ok());
  EXPECT_EQ(n.unmailbox_code(true), "IMAP_MAILBOX_NONEXISTENT");  // taken, nothing to delete
}

TEST(PairFence, StandaloneNodeTakesApplyAsPrimary) {
  FenceNode n;
  EXPECT_EQ(n.unmailbox_code(false), "IMAP_MAILBOX_NONEXISTENT");
}

}  // namespace
}  // namespace cyr::sync
