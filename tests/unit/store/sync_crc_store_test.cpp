// The SYNC_CRC pair the store keeps per mailbox (MailboxInfo::sync_crc):
// after every kind of write it must equal the pair computed from scratch
// from the mailbox's records. A seeded random mix of writes checks every
// write path at once; the upgrade of an older shard, a stale stamp and the
// repair are checked one by one.
#include <sqlite3.h>

#include <map>
#include <random>
#include <set>

#include "store/quota_recompute.h"
#include "store/reconstruct.h"
#include "store/sync_crc.h"
#include "store_test_util.h"

namespace cyr::store {
namespace {

using testing::message;
using testing::named;

class SyncCrcStoreTest : public testing::TempStoreTest {
 protected:
  SyncCrcStoreTest() : TempStoreTest("synccrc") {}

  // The stored pair (through lookup and through changes_since) against a
  // recomputation from every record. Returns the stored pair.
  crc::SyncCrcs check(const std::string& name, const std::string& step) {
    auto info = store_->lookup(name);
    EXPECT_TRUE(info.ok()) << step << ": " << name;
    if (!info.ok()) return {};
    auto recs = store_->records(name, true);
    EXPECT_TRUE(recs.ok()) << step << ": " << name;
    if (!recs.ok()) return {};
    crc::SyncCrcs want = crc::mailbox_crcs(*recs);
    crc::SyncCrcs stored{info->sync_crc, info->sync_crc_annot};
    EXPECT_EQ(stored, want) << step << ": " << name << " stored " << stored.basic << "/" << stored.annot
                            << ", records " << want.basic << "/" << want.annot;
    auto since = store_->changes_since(name, 0);
    EXPECT_TRUE(since.ok()) << step;
    if (since.ok()) {
      EXPECT_EQ(since->sync_crc, want.basic) << step << ": " << name;
      EXPECT_EQ(since->sync_crc_annot, want.annot) << step << ": " << name;
    }
    return stored;
  }
};

// Keywords of varied case: the CRC folds case, the store keeps the case first
// seen, so a flag change that differs only in case must not move the CRC.
const char* const kKeywords[] = {"$Junk", "$junk", "Work", "WORK", "$Forwarded", "todo", "Project-X"};
const uint32_t kSystem[] = {0, kFlagSeen, kFlagFlagged, kFlagAnswered | kFlagSeen, kFlagDeleted, kFlagDraft};

TEST_F(SyncCrcStoreTest, StoredPairFollowsEveryKindOfWrite) {
  // user.a and user.a.Sent share a shard; user.b is another; user.r takes
  // replica-style writes (apply_records), as a replica's mailbox does.
  std::vector<std::string> names = {"user.a", "user.a.Sent", "user.b", "user.r"};
  for (auto& n : names) ASSERT_TRUE(store_->create_mailbox(named(n)).ok()) << n;
  for (auto& n : names) check(n, "created");

  std::mt19937 rng(20261123);
  auto pick = [&](size_t n) { return static_cast<size_t>(rng() % n); };
  auto random_flags = [&] {
    Flags f;
    f.system = kSystem[pick(std::size(kSystem))];
    size_t k = pick(3);
    for (size_t i = 0; i < k; ++i) f.keywords.push_back(kKeywords[pick(std::size(kKeywords))]);
    return f;
  };
  auto live_uids = [&](const std::string& n) {
    std::vector<Uid> out;
    auto recs = store_->records(n, false);
    EXPECT_TRUE(recs.ok());
    if (recs.ok())
      for (auto& r : *recs) out.push_back(r.uid);
    return out;
  };
  auto some_of = [&](const std::vector<Uid>& uids) {
    UidSet s;
    for (Uid u : uids)
      if (pick(3) == 0) s.add(u);
    if (s.empty() && !uids.empty()) s.add(uids[pick(uids.size())]);
    return s;
  };
  // Replica-style records for user.r: its own uid and modseq counters, as
  // a primary would send them.
  Uid r_next_uid = 1;
  ModSeq r_modseq = 10;
  std::map<Uid, MessageRecord> r_sent;

  int counter = 0;
  const int kSteps = 400;
  std::map<std::string, int> ops_done;
  for (int step = 0; step < kSteps; ++step) {
    const std::string client = names[pick(3)];  // not user.r
    std::string what;
    switch (pick(11)) {
      case 0:
      case 1: {
        what = "append";
        AppendRequest req;
        req.mailbox = client;
        size_t n = 1 + pick(3);
        for (size_t i = 0; i < n; ++i) {
          AppendMessage m;
          m.source = MessageSource::memory(message("m" + std::to_string(++counter)));
          m.flags = random_flags();
          m.internaldate = 1700000000 + counter;
          req.messages.push_back(std::move(m));
        }
        auto r = store_->append(req);
        ASSERT_TRUE(r.ok()) << r.error().describe();
        break;
      }
      case 2: {
        what = "deliver";
        AppendMessage m;
        m.source = MessageSource::memory(message("d" + std::to_string(++counter)));
        m.flags = random_flags();
        auto res = store_->deliver({"user.a", "user.b"}, m);
        for (auto& r : res) ASSERT_TRUE(r.ok()) << r.error().describe();
        break;
      }
      case 3:
      case 4: {
        what = "store";
        auto uids = live_uids(client);
        if (uids.empty()) continue;
        StoreFlagsRequest req;
        req.uids = some_of(uids);
        req.op = static_cast<FlagOp>(pick(3));
        req.flags = random_flags();
        auto r = store_->store_flags(client, req);
        ASSERT_TRUE(r.ok()) << r.error().describe();
        break;
      }
      case 5: {
        what = "expunge";
        auto uids = live_uids(client);
        if (uids.empty()) continue;
        auto r = store_->expunge(client, some_of(uids));
        ASSERT_TRUE(r.ok()) << r.error().describe();
        break;
      }
      case 6: {
        bool move = pick(2) == 0;
        what = move ? "move" : "copy";
        auto uids = live_uids(client);
        if (uids.empty()) continue;
        std::string to = names[pick(3)];
        if (to == client) to = client == "user.b" ? "user.a" : "user.b";
        if (pick(2) == 0 && client != "user.b") to = client == "user.a" ? names[1] : "user.a";
        auto r = store_->copy(client, some_of(uids), to, move);
        ASSERT_TRUE(r.ok()) << r.error().describe();
        break;
      }
      case 7: {
        // cyr_unexpunge: the file of an expunged message appended again.
        what = "unexpunge";
        auto recs = store_->records(client, true);
        ASSERT_TRUE(recs.ok());
        std::optional<Uid> gone;
        for (auto& r : *recs)
          if (r.expunged()) gone = r.uid;
        if (!gone) continue;
        auto bytes = store_->read_message(client, *gone);
        if (!bytes.ok()) continue;  // purged or immediate expunge
        AppendRequest req;
        req.mailbox = client;
        AppendMessage m;
        m.source = MessageSource::memory(*bytes);
        m.flags.system = kFlagSeen;
        req.messages.push_back(std::move(m));
        ASSERT_TRUE(store_->append(req).ok());
        break;
      }
      case 8: {
        // A rename keeps the records: the pair goes with the mailbox.
        what = "rename";
        auto before = check(names[1], "before rename");
        std::string to = names[1] == "user.a.Sent" ? "user.a.Sent2" : "user.a.Sent";
        ASSERT_TRUE(store_->rename_mailbox(names[1], to).ok());
        names[1] = to;
        EXPECT_EQ(check(to, "renamed"), before);
        break;
      }
      case 9: {
        // What a replica's APPLY MAILBOX writes: new records with files,
        // flag changes and expunges of records it has, a UID twice.
        what = "apply";
        std::vector<ApplyRecord> batch;
        size_t n = 1 + pick(4);
        for (size_t i = 0; i < n; ++i) {
          int kind = r_sent.empty() ? 0 : static_cast<int>(pick(3));
          ApplyRecord ar;
          if (kind == 0) {
            std::string bytes = message("r" + std::to_string(++counter));
            ar.record.uid = r_next_uid++;
            ar.record.guid = mail::MessageGuid::of(bytes);
            ar.record.internaldate = 1700000000 + counter;
            ar.record.savedate = 1700000100 + counter;
            ar.record.createdmodseq = r_modseq + 1;
            ar.source = MessageSource::memory(bytes);
          } else {
            auto it = r_sent.begin();
            std::advance(it, static_cast<long>(pick(r_sent.size())));
            if (it->second.expunged()) continue;
            ar.record = it->second;
          }
          ar.record.modseq = ++r_modseq;
          ar.record.last_updated = 1700000200 + counter;
          ar.record.flags = random_flags();
          if (kind == 2) ar.record.flags.system |= kFlagExpunged;
          r_sent[ar.record.uid] = ar.record;
          batch.push_back(ar);
          if (pick(4) == 0) {  // the same UID again with newer flags
            ApplyRecord again = ar;
            again.source.reset();
            again.record.modseq = ++r_modseq;
            again.record.flags = random_flags();
            if (ar.record.expunged()) again.record.flags.system |= kFlagExpunged;
            r_sent[again.record.uid] = again.record;
            batch.push_back(again);
          }
        }
        auto st = store_->apply_records("user.r", batch, WriteMode::Replication);
        ASSERT_TRUE(st.ok()) << st.error().describe();
        MailboxCounters c;
        c.highestmodseq = r_modseq;
        c.last_uid = r_next_uid - 1;
        ASSERT_TRUE(store_->set_counters("user.r", c, WriteMode::Replication).ok());
        break;
      }
      case 10: {
        what = pick(2) ? "purge" : "reopen";
        if (what == "purge") {
          auto p = store_->purge_expunged(client, INT64_MAX);
          ASSERT_TRUE(p.ok()) << p.error().describe();
        } else {
          reopen();
        }
        break;
      }
    }
    ++ops_done[what];
    for (auto& n : names) check(n, "step " + std::to_string(step) + " (" + what + ")");
    if (HasFailure()) {
      ADD_FAILURE() << "first failure at step " << step << " (" << what << ")";
      return;
    }
  }
  // The mix reached every kind of write, and the pairs are not trivially
  // the empty mailbox's.
  for (const char* k : {"append", "deliver", "store", "expunge", "move", "copy", "unexpunge", "rename", "apply",
                        "purge", "reopen"})
    EXPECT_GT(ops_done[k], 0) << k;
  for (auto& n : names) EXPECT_NE(check(n, "end"), crc::SyncCrcs{}) << n;
}

TEST_F(SyncCrcStoreTest, AShardFromBeforeThePairIsUpgradedWithTheRightValue) {
  ASSERT_TRUE(store_->create_mailbox(named("user.old")).ok());
  for (int i = 0; i < 5; ++i) {
    auto r = store_->append(testing::one_message("user.old", message("o" + std::to_string(i)), kFlagSeen));
    ASSERT_TRUE(r.ok());
  }
  ASSERT_TRUE(store_->expunge("user.old", UidSet::of({2})).ok());
  crc::SyncCrcs want = check("user.old", "before");
  store_.reset();
  // The shard as a build before this one left it: no such columns.
  auto db = shard_of("user.old");
  sql(db, "ALTER TABLE mailbox DROP COLUMN sync_crc; ALTER TABLE mailbox DROP COLUMN sync_crc_annot;"
          "ALTER TABLE mailbox DROP COLUMN sync_crc_modseq;");
  reopen();
  // Read first (no write in this process yet), then written.
  EXPECT_EQ(check("user.old", "upgraded, read"), want);
  ASSERT_TRUE(store_->append(testing::one_message("user.old", message("o9"))).ok());
  check("user.old", "upgraded, written");
}

TEST_F(SyncCrcStoreTest, APairStampedForAnotherModseqIsRecomputed) {
  // A build that does not keep the pair changed the records: HIGHESTMODSEQ
  // moved, the stamp did not.
  ASSERT_TRUE(store_->create_mailbox(named("user.s")).ok());
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(store_->append(testing::one_message("user.s", message("s" + std::to_string(i)))).ok());
  crc::SyncCrcs want = check("user.s", "before");
  store_.reset();
  sql(shard_of("user.s"), "UPDATE mailbox SET sync_crc = 12345, highestmodseq = highestmodseq + 1");
  reopen();
  EXPECT_EQ(check("user.s", "stale stamp"), want);
  // A NULL pair (a mailbox row made by a repair) likewise.
  store_.reset();
  sql(shard_of("user.s"), "UPDATE mailbox SET sync_crc = NULL");
  reopen();
  EXPECT_EQ(check("user.s", "null"), want);
}

TEST_F(SyncCrcStoreTest, ReconstructStoresTheRecomputedPair) {
  ASSERT_TRUE(store_->create_mailbox(named("user.w")).ok());
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(store_->append(testing::one_message("user.w", message("w" + std::to_string(i)))).ok());
  crc::SyncCrcs want = check("user.w", "before");
  store_.reset();
  // Wrong, with a valid stamp: only a recomputation can find it.
  sql(shard_of("user.w"), "UPDATE mailbox SET sync_crc = 777, sync_crc_annot = 888");
  reopen();
  auto info = store_->lookup("user.w");
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->sync_crc, 777u);  // the test changed what it meant to
  store_.reset();
  Repairer rep(RepairOptions::from(opts_), [](const std::string&) {});
  auto r = rep.reconstruct("user.w");
  ASSERT_TRUE(r.ok()) << r.error().describe();
  // Stored, not only computed at the read: the stamp is the mailbox's.
  auto db = shard_of("user.w");
  EXPECT_EQ(sql_int(db, "SELECT sync_crc FROM mailbox WHERE name='user.w'"), int64_t(want.basic));
  EXPECT_EQ(sql_int(db, "SELECT sync_crc_annot FROM mailbox WHERE name='user.w'"), int64_t(want.annot));
  EXPECT_EQ(sql_int(db, "SELECT sync_crc_modseq = highestmodseq FROM mailbox WHERE name='user.w'"), 1);
  reopen();
  EXPECT_EQ(check("user.w", "reconstructed"), want);
}

}  // namespace
}  // namespace cyr::store
