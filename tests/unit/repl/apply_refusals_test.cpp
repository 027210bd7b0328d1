// What a sender (Cyrus's sync_client) may send that this node cannot store is
// refused for that one item, counted, and the rest of the stream still
// applies: one bad mailbox never stalls the others (issue 8).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "store/mail/guid.h"
#include "sync/apply_refusals.h"
#include "sync/mailbox_sync.h"
#include "sync/sync_crc.h"
#include "sync/sync_peer.h"
#include "sync/sync_server.h"
#include "tests/unit/store/store_test_util.h"

namespace cyr::sync {
namespace {

struct Replica {
  std::string dir = store::testing::make_temp_dir("apply_refusals");
  std::unique_ptr<store::Store> store;
  Replica() {
    auto s = store::Store::open(store::testing::options_for(dir));
    EXPECT_TRUE(s.ok()) << s.error().describe();
    store = std::move(*s);
    EXPECT_TRUE(store->set_node_state({store::Role::Replica, 1}).ok());
  }
  ~Replica() {
    store.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
};

MailboxState empty_mailbox(const std::string& name, const std::string& uniqueid, const std::string& partition) {
  MailboxState ms;
  ms.uniqueid = uniqueid;
  ms.name = name;
  ms.partition = partition;
  ms.acl = "admin\tlrswipkxtecdan\t";
  ms.uidvalidity = 1700000000;
  ms.highestmodseq = 1;
  return ms;
}

SyncReply apply_mailbox(LoopbackPeer& peer, const MailboxState& ms) {
  auto r = peer.call(make_command("APPLY", "MAILBOX", mailbox_to_dlist(ms, true)));
  EXPECT_TRUE(r.ok());
  return r.ok() ? final_reply(*r) : SyncReply{};
}

TEST(ApplyRefusals, UnrepresentableItemsAreRefusedCountedAndTheRestApplies) {
  Replica n;
  const std::string status = n.dir + "/sync/received";
  auto refusals = std::make_shared<ApplyRefusals>(status);
  SyncServerOptions o{n.dir + "/stage", {}, "refusals"};
  o.refusals = refusals;
  SyncServerSession server(*n.store, std::move(o));
  LoopbackPeer peer(server);

  // A good mailbox before and after each bad one: both must arrive.
  EXPECT_EQ(apply_mailbox(peer, empty_mailbox("user.ann", "aaaaaaaaaaaaaaaaaaaaaaa1", "default")).kind,
            ReplyKind::Ok);

  // A name our store does not accept (a NUL-free but empty hierarchy level).
  SyncReply bad_name = apply_mailbox(peer, empty_mailbox("user.ann..x", "aaaaaaaaaaaaaaaaaaaaaaa2", "default"));
  EXPECT_EQ(bad_name.kind, ReplyKind::No);
  EXPECT_EQ(refusals->status().refused, 1u);
  EXPECT_NE(refusals->status().last.find("APPLY MAILBOX user.ann..x"), std::string::npos) << refusals->status().last;

  // A partition this node does not have.
  SyncReply bad_part = apply_mailbox(peer, empty_mailbox("user.bob", "bbbbbbbbbbbbbbbbbbbbbbb1", "nosuchpartition"));
  EXPECT_EQ(bad_part.kind, ReplyKind::No);
  EXPECT_EQ(refusals->status().refused, 2u);

  // An ACL with a rights letter we have no bit for (Cyrus's user rights 0-9).
  MailboxState bad_acl = empty_mailbox("user.cat", "ccccccccccccccccccccccc1", "default");
  bad_acl.acl = "cat\tlrs7\t";
  EXPECT_EQ(apply_mailbox(peer, bad_acl).kind, ReplyKind::No);
  EXPECT_EQ(refusals->status().refused, 3u);

  // Everything else still applies on the same connection.
  EXPECT_EQ(apply_mailbox(peer, empty_mailbox("user.dan", "ddddddddddddddddddddddd1", "default")).kind,
            ReplyKind::Ok);
  auto sub = Value::kvlist();
  sub.add_str("USERID", "dan");
  sub.add_str("MBOXNAME", "user.dan");
  auto r = peer.call(make_command("APPLY", "SUB", sub));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(final_reply(*r).kind, ReplyKind::Ok);
  EXPECT_TRUE(n.store->lookup("user.ann").ok());
  EXPECT_TRUE(n.store->lookup("user.dan").ok());
  EXPECT_FALSE(n.store->lookup("user.bob").ok());
  EXPECT_FALSE(n.store->lookup("user.cat").ok());

  // Protocol flow is not a refusal: a missing mailbox for UNMAILBOX.
  r = peer.call(make_command("APPLY", "UNMAILBOX", Value::str("user.nobody")));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(final_reply(*r).code, "IMAP_MAILBOX_NONEXISTENT");
  EXPECT_EQ(refusals->status().refused, 3u);

  // The count is on disk for cyr_info and survives a restart.
  auto on_disk = read_refusal_status(status);
  ASSERT_TRUE(on_disk.ok()) << on_disk.error().describe();
  EXPECT_EQ(on_disk->refused, 3u);
  EXPECT_NE(on_disk->last.find("user.cat"), std::string::npos);
  EXPECT_EQ(ApplyRefusals(status).status().refused, 3u);
}

TEST(ApplyRefusals, StatusFileIsReadStrictly) {
  std::string dir = store::testing::make_temp_dir("apply_refusals_file");
  const std::string f = dir + "/received";
  auto missing = read_refusal_status(f);
  ASSERT_TRUE(missing.ok());
  EXPECT_EQ(missing->refused, 0u);
  for (const char* bad : {"refused x\n", "refused 123456789012345678901\n", "hello\n", "last_refused 1 a\n"}) {
    std::ofstream(f, std::ios::trunc) << bad;
    EXPECT_FALSE(read_refusal_status(f).ok()) << bad;
  }
  std::ofstream(f, std::ios::trunc) << "refused 7\nlast_refused 1 APPLY MAILBOX x: why\n";
  auto good = read_refusal_status(f);
  ASSERT_TRUE(good.ok());
  EXPECT_EQ(good->refused, 7u);
  EXPECT_EQ(good->last, "1 APPLY MAILBOX x: why");
  // A damaged file does not stop counting; it restarts at zero.
  std::ofstream(f, std::ios::trunc) << "garbage\n";
  ApplyRefusals counter(f);
  EXPECT_EQ(counter.record("APPLY MAILBOX y", "line\r\nbreak"), 1u);
  auto again = read_refusal_status(f);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->refused, 1u);
  EXPECT_EQ(again->last.find('\n'), std::string::npos);
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}

}  // namespace
}  // namespace cyr::sync
