// The client's upload (SyncClient::upload): APPLY MESSAGE batches are
// pipelined, at most two outstanding, and a refused batch is reported with
// every reply read, so the connection stays usable.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>

#include "sync/sync_client.h"
#include "sync/sync_peer.h"
#include "sync/sync_server.h"
#include "tests/unit/store/store_test_util.h"

namespace cyr::sync {
namespace {

using store::Store;
using store::testing::make_temp_dir;
using store::testing::message;
using store::testing::named;
using store::testing::one_message;
using store::testing::options_for;

using Node = store::testing::TempNode;

// Passes everything to a LoopbackPeer and watches the pipelining: how many
// commands were sent without their reply read, at most, and which. The
// `refuse_message`-th APPLY MESSAGE (1-based; 0: none) gets a NO back
// instead of the replica's reply, as a replica that failed to stage it.
class WatchingPeer final : public SyncPeer {
 public:
  explicit WatchingPeer(SyncPeer& inner) : inner_(inner) {}
  Result<std::vector<SyncReply>> call(const SyncCommand& cmd) override {
    EXPECT_EQ(outstanding_, 0u) << "call() with replies outstanding";
    note(cmd);
    return inner_.call(cmd);
  }
  Status send(const SyncCommand& cmd) override {
    note(cmd);
    refuse_.push_back(cmd.name == "MESSAGE" && messages_ == refuse_message);
    ++outstanding_;
    max_outstanding = std::max(max_outstanding, outstanding_);
    return inner_.send(cmd);
  }
  Result<std::vector<SyncReply>> receive() override {
    auto r = inner_.receive();
    --outstanding_;
    bool refuse = refuse_.front();
    refuse_.erase(refuse_.begin());
    if (refuse && r.ok()) return std::vector<SyncReply>{make_no("IMAP_IOERROR", "Staging failed")};
    return r;
  }
  size_t outstanding() const { return outstanding_; }

  size_t max_outstanding = 0;
  size_t messages_sent = 0, mailboxes_sent = 0;
  size_t refuse_message = 0;

 private:
  void note(const SyncCommand& cmd) {
    if (cmd.verb != "APPLY") return;
    if (cmd.name == "MESSAGE") messages_ = ++messages_sent;
    if (cmd.name == "MAILBOX") ++mailboxes_sent;
  }
  SyncPeer& inner_;
  size_t outstanding_ = 0;
  size_t messages_ = 0;
  std::vector<bool> refuse_;
};

SyncServerOptions options(const Node& replica) {
  SyncServerOptions o;
  o.staging_dir = replica.dir + "/stage";
  o.sid = "uppipe";
  return o;
}

struct Fixture {
  Node master{"uppipe_m"}, replica{"uppipe_r"};
  SyncServerSession server{*replica.store, options(replica)};
  LoopbackPeer loop{server};
  WatchingPeer peer{loop};
  Fixture() {
    EXPECT_TRUE(replica.store->set_node_state({store::Role::Replica, 1}).ok());
    EXPECT_TRUE(master.store->create_mailbox(named("user.fred")).ok());
    for (int i = 0; i < 23; ++i)
      EXPECT_TRUE(master.store->append(one_message("user.fred", message("m" + std::to_string(i)))).ok());
  }
  SyncClient client() {
    SyncClientOptions o;
    o.upload_batch_files = 5;  // 23 files: 5 APPLY MESSAGE commands
    return SyncClient(*master.store, peer, o);
  }
};

TEST(UploadPipeline, BatchesGoOutTwoAtATimeAndAllArrive) {
  Fixture f;
  auto c = f.client();
  ASSERT_TRUE(c.sync_user("fred").ok());
  EXPECT_EQ(f.peer.messages_sent, 5u);
  EXPECT_EQ(f.peer.max_outstanding, 2u);
  EXPECT_EQ(f.peer.outstanding(), 0u);
  EXPECT_EQ(c.stats().messages_uploaded, 23u);
  auto rep = verify(*f.master.store, f.peer, {"fred"});
  ASSERT_TRUE(rep.ok());
  EXPECT_TRUE(rep->identical());
}

TEST(UploadPipeline, ARefusedBatchFailsTheMailboxWithEveryReplyRead) {
  Fixture f;
  f.peer.refuse_message = 2;
  auto c = f.client();
  Status st = c.sync_user("fred");
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(reply_code(st.error()), "IMAP_IOERROR");
  // Batch 3 was already on its way when the NO for batch 2 was read; no
  // more after it, no APPLY MAILBOX, and nothing left unread.
  EXPECT_EQ(f.peer.messages_sent, 3u);
  EXPECT_EQ(f.peer.mailboxes_sent, 0u);
  EXPECT_EQ(f.peer.outstanding(), 0u);
  auto recs = f.replica.store->records("user.fred");
  EXPECT_TRUE(!recs.ok() || recs->empty());
  // The connection is in step: the next sync (a fresh session's state) works.
  ASSERT_EQ(final_reply(*f.peer.call(SyncCommand{"RESTART", "", {}, ""})).kind, ReplyKind::Ok);
  f.peer.refuse_message = 0;
  auto c2 = f.client();
  ASSERT_TRUE(c2.sync_user("fred").ok());
  EXPECT_EQ(f.replica.store->records("user.fred")->size(), 23u);
}

}  // namespace
}  // namespace cyr::sync
