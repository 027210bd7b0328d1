// The replica's staging of uploaded message files (SyncServerSession): small
// uploads are held in memory until an APPLY MAILBOX appends them, larger
// ones and everything past the session's memory bound go to staging files,
// and a file whose bytes do not hash to its GUID is refused either way.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "store/mail/guid.h"
#include "sync/sync_client.h"
#include "sync/sync_peer.h"
#include "sync/sync_server.h"
#include "tests/unit/store/store_test_util.h"

namespace cyr::sync {
namespace {

namespace fs = std::filesystem;
using store::testing::message;
using store::testing::named;
using store::testing::one_message;
using Node = store::testing::TempNode;

size_t files_in(const std::string& dir) {
  std::error_code ec;
  if (!fs::exists(dir, ec)) return 0;
  size_t n = 0;
  for (auto it = fs::directory_iterator(dir, ec); !ec && it != fs::directory_iterator(); it.increment(ec)) ++n;
  return n;
}

// An upload of `body` as csync sends it, under the GUID `guid_of` hashes to.
Value upload(const std::string& body, const std::string& guid_of) {
  FileLiteral f;
  f.partition = "default";
  f.guid = mail::MessageGuid::of(guid_of).to_hex();
  f.size = body.size();
  f.body = body;
  return Value::file(std::move(f));
}

SyncCommand apply_message(std::vector<Value> files) {
  Value list = Value::list();
  for (auto& f : files) list.push(std::move(f));
  return make_command("APPLY", "MESSAGE", std::move(list));
}

struct Fixture {
  Node master{"stmem_m"}, replica{"stmem_r"};
  std::string staging = replica.dir + "/stage";
  SyncServerSession server{*replica.store, [&] {
                             SyncServerOptions o;
                             o.staging_dir = staging;
                             o.sid = "stmem";
                             return o;
                           }()};
  LoopbackPeer peer{server};
  Fixture() {
    EXPECT_TRUE(replica.store->set_node_state({store::Role::Replica, 1}).ok());
    EXPECT_TRUE(master.store->create_mailbox(named("user.fred")).ok());
  }
  void sync_and_verify(size_t expect_records) {
    SyncClient c(*master.store, peer, SyncClientOptions{});
    ASSERT_TRUE(c.sync_user("fred").ok());
    auto rep = verify(*master.store, peer, {"fred"});
    ASSERT_TRUE(rep.ok());
    EXPECT_TRUE(rep->identical());
    auto recs = replica.store->records("user.fred");
    ASSERT_TRUE(recs.ok());
    EXPECT_EQ(recs->size(), expect_records);
  }
};

TEST(ReplicaStaging, SmallUploadsAreAppendedFromMemory) {
  Fixture f;
  for (int i = 0; i < 12; ++i)
    ASSERT_TRUE(f.master.store->append(one_message("user.fred", message("m" + std::to_string(i)))).ok());
  f.sync_and_verify(12);
  EXPECT_EQ(f.server.staged_count(), 12u);
  EXPECT_EQ(files_in(f.staging), 0u);  // no staging file was written
  // The appended copies are the uploaded bytes.
  auto recs = f.replica.store->records("user.fred");
  ASSERT_TRUE(recs.ok());
  for (auto& r : *recs) {
    auto body = f.replica.store->read_message("user.fred", r.uid);
    ASSERT_TRUE(body.ok());
    EXPECT_EQ(mail::MessageGuid::of(*body), r.guid);
  }
}

TEST(ReplicaStaging, LargeUploadsGoToStagingFiles) {
  Fixture f;
  std::string big = "Subject: big\r\n\r\n" + std::string(100 * 1024, 'x') + "\r\n";
  ASSERT_TRUE(f.master.store->append(one_message("user.fred", big)).ok());
  ASSERT_TRUE(f.master.store->append(one_message("user.fred", message("small"))).ok());
  f.sync_and_verify(2);
  EXPECT_EQ(f.server.staged_count(), 2u);
  EXPECT_EQ(files_in(f.staging), 1u);  // the big one only
  // RESTART drops both kinds.
  ASSERT_EQ(final_reply(*f.peer.call(SyncCommand{"RESTART", "", {}, ""})).kind, ReplyKind::Ok);
  EXPECT_EQ(f.server.staged_count(), 0u);
  EXPECT_EQ(files_in(f.staging), 0u);
}

TEST(ReplicaStaging, AnUploadThatDoesNotMatchItsGuidIsRefused) {
  Fixture f;
  auto cmd = apply_message({upload("Subject: a\r\n\r\nbody\r\n", "something else")});
  EXPECT_TRUE(f.server.runs_inline(cmd));
  auto replies = f.server.execute(cmd);
  ASSERT_FALSE(replies.empty());
  EXPECT_EQ(replies.back().kind, ReplyKind::Ok);  // refused quietly; the APPLY MAILBOX that needs it fails
  EXPECT_EQ(f.server.staged_count(), 0u);
  EXPECT_EQ(files_in(f.staging), 0u);
}

TEST(ReplicaStaging, ACommandWithMoreThanAQuarterMebibyteIsHashedOnThePool) {
  Fixture f;
  auto command = [](int files) {
    std::vector<Value> v;
    for (int k = 0; k < files; ++k) {
      std::string body = "Subject: " + std::to_string(k) + "\r\n\r\n";
      body.resize(64 * 1024, 'q');
      v.push_back(upload(body, body));
    }
    return apply_message(std::move(v));
  };
  EXPECT_TRUE(f.server.runs_inline(command(4)));   // 256 KiB
  EXPECT_FALSE(f.server.runs_inline(command(5)));  // 320 KiB: the I/O thread would hash too long
  auto replies = f.server.execute(command(5));     // (as the pool runs it)
  EXPECT_EQ(replies.back().kind, ReplyKind::Ok);
  EXPECT_EQ(f.server.staged_count(), 5u);
}

TEST(ReplicaStaging, MemoryIsBoundedAndTheRestSpillsToFiles) {
  Fixture f;
  // 64 KiB files, 4 per command (256 KiB: hashed inline), until well past
  // the session's in-memory bound (32 MiB).
  const std::string pad(64 * 1024 - 40, 'p');
  size_t sent = 0;
  bool went_to_pool = false;
  for (int c = 0; c < 144; ++c) {
    std::vector<Value> files;
    for (int k = 0; k < 4; ++k) {
      std::string body = "Subject: " + std::to_string(sent++) + "\r\n\r\n" + pad;
      body.resize(64 * 1024, 'p');
      files.push_back(upload(body, body));
    }
    auto cmd = apply_message(std::move(files));
    if (!f.server.runs_inline(cmd)) went_to_pool = true;  // would be written to files: disk work
    auto replies = f.server.execute(cmd);
    ASSERT_EQ(replies.back().kind, ReplyKind::Ok);
  }
  EXPECT_TRUE(went_to_pool);
  EXPECT_EQ(f.server.staged_count(), sent);
  size_t on_disk = files_in(f.staging);
  EXPECT_GT(on_disk, 0u);
  EXPECT_LE((sent - on_disk) * 64 * 1024, size_t{32} << 20);
  // More than one in-memory upload per command is never held past the bound:
  // everything the bound did not take is on disk.
  EXPECT_GE(on_disk, sent - (size_t{32} << 20) / (64 * 1024));
}

}  // namespace
}  // namespace cyr::sync
