// Where a message's MIME structure is kept: structure_blob, a rowid table
// whose ids grow at its right edge, named by record.structure_id (shards made
// before it keep theirs in the WITHOUT ROWID table `structure`). Checked: new
// structures go to the right edge in the order of their commits, across
// mailboxes; a shard in the older form reads the same structures before and
// after its upgrade, takes new messages, and loses both kinds of row with
// purge, repair and mailbox delete; an id freed by a purge and handed out
// again never shows another message's structure. And the same upgrade's
// other column, mailbox.unsynced_uid (the overlapped commit's mark, which
// replaced a row per message in unsynced_file): rows an older version left
// in unsynced_file are still checked at the first use.
#include <sqlite3.h>
#include <limits>
#include <map>
#include "store/quota_recompute.h"
#include "store/reconstruct.h"
#include "store_test_util.h"

namespace cyr::store {
namespace {

using testing::message;
using testing::named;

class StructureBlobTest : public testing::TempStoreTest {
 protected:
  StructureBlobTest() : TempStoreTest("structblob") {}
  Uid append(const std::string& mailbox, const std::string& subject, size_t body = 40) {
    auto r = store_->append(testing::one_message(mailbox, message(subject, body)));
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().describe());
    return r.ok() ? r->uids.at(0) : 0;
  }
  // Every uid's structure through both read paths, which must agree.
  std::map<Uid, std::string> all_structures(const std::string& mailbox, const std::vector<Uid>& uids) {
    std::map<Uid, std::string> out;
    auto many = store_->structures(mailbox, uids);
    EXPECT_TRUE(many.ok());
    for (size_t i = 0; i < uids.size(); ++i) {
      auto one = store_->structure(mailbox, uids[i]);
      if (!one.ok()) {
        EXPECT_EQ(one.error().code, Errc::NotFound) << uids[i];
        if (many.ok()) {
          EXPECT_FALSE((*many)[i].has_value()) << uids[i];
        }
        continue;
      }
      EXPECT_FALSE(one->empty()) << uids[i];
      if (many.ok()) {
        EXPECT_EQ((*many)[i], std::optional<std::string>(*one)) << uids[i];
      }
      out[uids[i]] = *one;
    }
    return out;
  }
};

TEST_F(StructureBlobTest, NewStructuresGoToTheRightEdgeInCommitOrderAcrossMailboxes) {
  ASSERT_TRUE(store_->create_mailbox(named("user.e")).ok());
  ASSERT_TRUE(store_->create_mailbox(named("user.e.Sent")).ok());
  // INBOX first, then a mailbox with a higher mbid, then INBOX again: keyed
  // by (mbid, uid) the last ones would land in the middle of the table.
  std::vector<std::pair<std::string, Uid>> order;
  for (int i = 0; i < 30; ++i) {
    std::string mb = (i / 5) % 2 ? "user.e.Sent" : "user.e";
    order.emplace_back(mb, append(mb, "e" + std::to_string(i), 40 + 7 * i));
  }
  store_.reset();
  auto db = shard_of("user.e");
  EXPECT_EQ(sql_int(db, "SELECT count(*) FROM structure"), 0);
  EXPECT_EQ(sql_int(db, "SELECT count(*) FROM structure_blob"), 30);
  EXPECT_EQ(sql_int(db, "SELECT count(*) FROM record WHERE structure_id IS NULL"), 0);
  int64_t prev = 0;
  for (auto& [mb, uid] : order) {
    int64_t id = sql_int(db, "SELECT r.structure_id FROM record r JOIN mailbox m ON m.mbid = r.mbid WHERE m.name='" +
                                 mb + "' AND r.uid=" + std::to_string(uid));
    EXPECT_GT(id, prev) << mb << " " << uid;
    prev = id;
  }
  reopen();
  // Flag changes and expunges keep the record's structure.
  std::vector<Uid> uids;
  for (Uid u = 1; u <= 16; ++u) uids.push_back(u);
  auto before = all_structures("user.e", uids);
  EXPECT_EQ(before.size(), 15u);
  StoreFlagsRequest seen;
  seen.uids = UidSet::of({1, 2, 3});
  seen.flags.system = kFlagSeen;
  ASSERT_TRUE(store_->store_flags("user.e", seen).ok());
  ASSERT_TRUE(store_->expunge("user.e", UidSet::of({4})).ok());
  EXPECT_EQ(all_structures("user.e", uids), before);
}

TEST_F(StructureBlobTest, AShardFromBeforeStructureBlobReadsTheSameAndIsUpgraded) {
  ASSERT_TRUE(store_->create_mailbox(named("user.old")).ok());
  ASSERT_TRUE(store_->create_mailbox(named("user.old.Trash")).ok());
  for (int i = 0; i < 6; ++i) append("user.old", "o" + std::to_string(i), 40 + 13 * i);
  for (int i = 0; i < 3; ++i) append("user.old.Trash", "t" + std::to_string(i));
  const std::vector<Uid> uids{1, 2, 3, 4, 5, 6, 7};
  auto want = all_structures("user.old", uids);
  ASSERT_EQ(want.size(), 6u);
  auto want_trash = all_structures("user.old.Trash", {1, 2, 3});
  store_.reset();
  // The shard as a build before structure_blob left it.
  auto db = shard_of("user.old");
  sql(db,
      "INSERT INTO structure(mbid, uid, blob) SELECT r.mbid, r.uid, s.blob FROM record r"
      " JOIN structure_blob s ON s.id = r.structure_id;"
      "DROP TABLE structure_blob; ALTER TABLE record DROP COLUMN structure_id;");
  ASSERT_EQ(sql_int(db, "SELECT count(*) FROM structure"), 9);
  ASSERT_EQ(sql_int(db, "SELECT count(*) FROM pragma_table_info('record') WHERE name='structure_id'"), 0);
  reopen();
  // Read first (no write in this process yet).
  EXPECT_EQ(all_structures("user.old", uids), want);
  EXPECT_EQ(sql_int(db, "SELECT count(*) FROM pragma_table_info('record') WHERE name='structure_id'"), 1);
  // A new message goes to structure_blob; the old rows are still read.
  Uid u7 = append("user.old", "o-new", 333);
  ASSERT_EQ(u7, 7u);
  auto after = all_structures("user.old", uids);
  ASSERT_EQ(after.size(), 7u);
  for (auto& [u, s] : want) EXPECT_EQ(after[u], s) << u;
  EXPECT_EQ(sql_int(db, "SELECT count(*) FROM structure_blob"), 1);
  EXPECT_EQ(sql_int(db, "SELECT count(*) FROM structure"), 9);
  // A purge removes an old row and a new one alike.
  ASSERT_TRUE(store_->expunge("user.old", UidSet::of({2, 7})).ok());
  auto purged = store_->purge_expunged("user.old", std::numeric_limits<int64_t>::max());
  ASSERT_TRUE(purged.ok());
  EXPECT_EQ(*purged, 2u);
  EXPECT_EQ(sql_int(db, "SELECT count(*) FROM structure_blob"), 0);
  EXPECT_EQ(sql_int(db, "SELECT count(*) FROM structure"), 8);
  auto left = all_structures("user.old", uids);
  EXPECT_EQ(left.size(), 5u);
  EXPECT_EQ(left.count(2), 0u);
  EXPECT_EQ(left[3], want[3]);
  // A repair of the old form keeps every structure it can read.
  store_.reset();
  {
    Repairer rep(RepairOptions::from(opts_), [](const std::string&) {});
    auto r = rep.reconstruct("user.old.Trash");
    ASSERT_TRUE(r.ok()) << r.error().describe();
  }
  reopen();
  EXPECT_EQ(all_structures("user.old.Trash", {1, 2, 3}), want_trash);
  // Deleting the mailboxes removes every row of both kinds.
  ASSERT_TRUE(store_->append(testing::one_message("user.old.Trash", message("t-new"))).ok());
  EXPECT_EQ(sql_int(db, "SELECT count(*) FROM structure_blob"), 1);
  ASSERT_TRUE(store_->delete_mailbox("user.old.Trash").ok());
  ASSERT_TRUE(store_->delete_mailbox("user.old").ok());
  EXPECT_EQ(sql_int(db, "SELECT count(*) FROM structure_blob"), 0);
  EXPECT_EQ(sql_int(db, "SELECT count(*) FROM structure"), 0);
}

TEST_F(StructureBlobTest, AnIdHandedOutAgainNeverShowsAnotherMessagesStructure) {
  ASSERT_TRUE(store_->create_mailbox(named("user.r")).ok());
  for (int i = 0; i < 3; ++i) append("user.r", "r" + std::to_string(i), 50 + 100 * i);
  auto want = all_structures("user.r", {1, 2, 3});
  auto db = shard_of("user.r");
  const int64_t id3 = sql_int(db, "SELECT structure_id FROM record WHERE uid=3");
  // The highest id goes with its record, so the next append reuses it.
  ASSERT_TRUE(store_->expunge("user.r", UidSet::of({3})).ok());
  ASSERT_TRUE(store_->purge_expunged("user.r", std::numeric_limits<int64_t>::max()).ok());
  Uid u4 = append("user.r", "r-new", 999);
  EXPECT_EQ(sql_int(db, "SELECT structure_id FROM record WHERE uid=" + std::to_string(u4)), id3);
  auto got = all_structures("user.r", {1, 2, 3, u4});
  EXPECT_EQ(got.count(3), 0u);
  EXPECT_EQ(got[1], want[1]);
  EXPECT_EQ(got[2], want[2]);
  EXPECT_NE(got[u4], want[3]);
  EXPECT_EQ(got[u4], *store_->structure("user.r", u4));
}

TEST_F(StructureBlobTest, AnOlderShardsUnsyncedFileRowsAreStillChecked) {
  ASSERT_TRUE(store_->create_mailbox(named("user.u")).ok());
  const std::string kept = message("kept"), lost = message("lost");
  ASSERT_TRUE(store_->append(testing::one_message("user.u", kept)).ok());
  ASSERT_TRUE(store_->append(testing::one_message("user.u", lost)).ok());
  store_.reset();
  // As an older version's crash left it: both records listed as unsynced,
  // the second one's file gone; no unsynced_uid column yet.
  auto db = shard_of("user.u");
  sql(db,
      "INSERT INTO unsynced_file(mbid, uid) SELECT mbid, uid FROM record;"
      "ALTER TABLE mailbox DROP COLUMN unsynced_uid;");
  std::filesystem::path file;
  for (auto& e : std::filesystem::recursive_directory_iterator(std::filesystem::path(dir_) / "spool"))
    if (e.path().filename() == "2.") file = e.path();
  ASSERT_FALSE(file.empty());
  std::filesystem::remove(file);
  opts_.journal_max = 0;  // the marks are the path of messages above store_journal_max
  reopen();
  auto recs = store_->records("user.u", true);
  ASSERT_TRUE(recs.ok()) << recs.error().describe();
  ASSERT_EQ(recs->size(), 2u);
  EXPECT_FALSE((*recs)[0].expunged());
  EXPECT_TRUE((*recs)[1].expunged());
  EXPECT_EQ(*store_->read_message("user.u", 1), kept);
  EXPECT_EQ(sql_int(db, "SELECT count(*) FROM unsynced_file"), 0);
  EXPECT_EQ(sql_int(db, "SELECT count(*) FROM pragma_table_info('mailbox') WHERE name='unsynced_uid'"), 1);
  EXPECT_EQ(sql_int(db, "SELECT count(*) FROM mailbox WHERE unsynced_uid IS NOT NULL"), 0);
  // New appends mark the mailbox instead; a clean close clears the mark.
  ASSERT_TRUE(store_->append(testing::one_message("user.u", message("new"))).ok());
  EXPECT_EQ(sql_int(db, "SELECT unsynced_uid FROM mailbox WHERE name='user.u'"), 3);
  EXPECT_EQ(sql_int(db, "SELECT count(*) FROM unsynced_file"), 0);
  store_.reset();
  EXPECT_EQ(sql_int(db, "SELECT count(*) FROM mailbox WHERE unsynced_uid IS NOT NULL"), 0);
}

}  // namespace
}  // namespace cyr::store
