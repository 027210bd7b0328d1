// The body journal (StoreOptions::journal_max): a message up to that size is
// written into its shard's body_journal table by the commit that indexes it,
// so that the commit's WAL flush alone makes it durable; its file and
// directory entry are flushed later (BodyFlusher), after which the shard's
// next write deletes the row. Checked here: which messages are journaled and
// when their rows go; a failed late flush fences the store and the next open
// restores the file from the journal; replication and LMTP delivery use the
// journal too. The crash cases (a process killed before its late flush,
// with the file lost, damaged or intact) are in store_crash_test.cpp.
#include <sqlite3.h>

#include <atomic>
#include <filesystem>
#include <fstream>

#include "store_test_util.h"

namespace cyr::store {
namespace {

using testing::message;
using testing::named;

class BodyJournalTest : public testing::TempStoreTest {
 protected:
  BodyJournalTest() : TempStoreTest("journal") {}
  int64_t journal_rows(const std::string& mailbox) {
    return sql_int(shard_of(mailbox), "SELECT count(*) FROM body_journal");
  }
  std::filesystem::path file_of(const std::string& mailbox, Uid uid) {
    auto p = store_->message_path(mailbox, uid);
    EXPECT_TRUE(p.ok());
    return p.ok() ? *p : std::filesystem::path();
  }
};

TEST_F(BodyJournalTest, SmallMessagesAreJournaledUntilTheirFilesAreFlushed) {
  ASSERT_TRUE(store_->create_mailbox(named("user.fred")).ok());
  const std::string small = message("small", 2000);
  ASSERT_TRUE(store_->append(testing::one_message("user.fred", small)).ok());
  EXPECT_EQ(journal_rows("user.fred"), 1);
  EXPECT_EQ(*store_->read_message("user.fred", 1), small);
  // Flushed: the next write deletes the row. A message above journal_max is
  // flushed with its commit and never journaled.
  store_->flush_journal();
  const std::string large = message("large", opts_.journal_max + 10);
  ASSERT_TRUE(store_->append(testing::one_message("user.fred", large)).ok());
  EXPECT_EQ(journal_rows("user.fred"), 0);
  EXPECT_EQ(*store_->read_message("user.fred", 2), large);
  // Two messages with the same bytes in one append: one row.
  AppendRequest two = testing::one_message("user.fred", small);
  two.messages.push_back(two.messages[0]);
  auto r = store_->append(two);
  ASSERT_TRUE(r.ok()) << r.error().describe();
  EXPECT_EQ(journal_rows("user.fred"), 1);
  // A clean close flushes and deletes what is left.
  store_.reset();
  EXPECT_EQ(journal_rows("user.fred"), 0);
  reopen();
  auto recs = store_->records("user.fred");
  ASSERT_TRUE(recs.ok());
  ASSERT_EQ(recs->size(), 4u);
  EXPECT_EQ(*store_->read_message("user.fred", 4), small);
}

TEST_F(BodyJournalTest, OffWhenJournalMaxIsZero) {
  ASSERT_TRUE(store_->create_mailbox(named("user.fred")).ok());
  opts_.journal_max = 0;
  reopen();
  ASSERT_TRUE(store_->append(testing::one_message("user.fred", message("m"))).ok());
  EXPECT_EQ(journal_rows("user.fred"), 0);
  // The primary's overlapped commit marks the mailbox instead.
  EXPECT_EQ(sql_int(shard_of("user.fred"), "SELECT unsynced_uid FROM mailbox WHERE name='user.fred'"), 1);
}

// The late flush fails: the acknowledged message is still durable (in the
// journal), the store fences, and the next open restores the file that
// never reached the disk.
TEST_F(BodyJournalTest, AFailedLateFlushFencesAndTheOpenRestoresTheFile) {
  ASSERT_TRUE(store_->create_mailbox(named("user.fred")).ok());
  store_.reset();
  auto fail = testing::fail_fsync_under(opts_, "/spool/uuid/");
  reopen();
  *fail = true;
  const std::string body = message("kept");
  auto a = store_->append(testing::one_message("user.fred", body));
  ASSERT_TRUE(a.ok()) << a.error().describe();
  store_->flush_journal();
  EXPECT_EQ(store_->fence_status().error().code, Errc::Fenced);
  EXPECT_EQ(store_->append(testing::one_message("user.fred", message("x"))).error().code, Errc::Fenced);
  const auto file = file_of("user.fred", 1);
  store_.reset();
  EXPECT_EQ(journal_rows("user.fred"), 1);  // a fenced store deletes nothing
  std::filesystem::remove(file);            // what a power loss could leave
  *fail = false;
  reopen();
  EXPECT_TRUE(store_->fence_status().ok());
  auto recs = store_->records("user.fred");
  ASSERT_TRUE(recs.ok()) << recs.error().describe();
  ASSERT_EQ(recs->size(), 1u);
  EXPECT_EQ(*store_->read_message("user.fred", 1), body);
  EXPECT_EQ(journal_rows("user.fred"), 0);
}

// An append with a journaled message and a larger one: when the flush of
// the larger one's file fails, the append fails whole - both records are
// taken back and neither file is left.
TEST_F(BodyJournalTest, AFailedFlushTakesBackTheJournaledMessagesOfTheSameAppend) {
  ASSERT_TRUE(store_->create_mailbox(named("user.fred")).ok());
  store_.reset();
  auto fail = testing::fail_fsync_under(opts_, "/spool/");
  opts_.journal_max = 2000;
  opts_.log_changes = false;
  reopen();
  AppendRequest two = testing::one_message("user.fred", message("small", 500));
  two.messages.push_back(testing::one_message("user.fred", message("large", 5000)).messages[0]);
  *fail = true;
  auto a = store_->append(two);
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.error().code, Errc::Fenced);
  auto recs = store_->records("user.fred", true);
  ASSERT_TRUE(recs.ok()) << recs.error().describe();
  ASSERT_EQ(recs->size(), 2u);
  EXPECT_TRUE((*recs)[0].expunged());
  EXPECT_TRUE((*recs)[1].expunged());
  EXPECT_EQ(store_->lookup("user.fred")->exists, 0u);
  EXPECT_FALSE(std::filesystem::exists(file_of("user.fred", 1)));
  EXPECT_FALSE(std::filesystem::exists(file_of("user.fred", 2)));
  // After a restart nothing comes back from the journal.
  *fail = false;
  reopen();
  recs = store_->records("user.fred");
  ASSERT_TRUE(recs.ok());
  EXPECT_TRUE(recs->empty());
  EXPECT_EQ(journal_rows("user.fred"), 0);
}

// Every link of a journaled message is restored: an LMTP delivery to two
// mailboxes of one user links one file twice.
TEST_F(BodyJournalTest, TheOpenRestoresEveryLinkOfAJournaledMessage) {
  ASSERT_TRUE(store_->create_mailbox(named("user.fred")).ok());
  ASSERT_TRUE(store_->create_mailbox(named("user.fred.Copy")).ok());
  store_.reset();
  auto fail = testing::fail_fsync_under(opts_, "/");
  // No replication log: the delivery then flushes nothing but the shard's
  // WAL, which SQLite flushes without the hook.
  opts_.log_changes = false;
  reopen();
  const std::string body = message("twice", 1500);
  AppendMessage m;
  m.source = MessageSource::memory(body);
  *fail = true;
  auto out = store_->deliver({"user.fred", "user.fred.Copy"}, m, true);
  ASSERT_EQ(out.size(), 2u);
  ASSERT_TRUE(out[0].ok()) << out[0].error().describe();
  ASSERT_TRUE(out[1].ok()) << out[1].error().describe();
  const auto a = file_of("user.fred", 1), b = file_of("user.fred.Copy", 1);
  store_->flush_journal();
  store_.reset();
  std::filesystem::remove(a);
  {
    std::ofstream(b, std::ios::binary | std::ios::trunc) << std::string(body.size() / 2, 'x');
  }
  *fail = false;
  reopen();
  EXPECT_EQ(*store_->read_message("user.fred", 1), body);
  EXPECT_EQ(*store_->read_message("user.fred.Copy", 1), body);
  EXPECT_EQ(journal_rows("user.fred"), 0);
}

// The replica's applier journals what it receives, as appends do.
TEST_F(BodyJournalTest, AppliedRecordsAreJournaled) {
  ASSERT_TRUE(store_->create_mailbox(named("user.fred")).ok());
  ASSERT_TRUE(store_->set_node_state(NodeState{Role::Replica, 2}).ok());
  const std::string body = message("applied", 800);
  ApplyRecord ar;
  ar.record.uid = 7;
  ar.record.modseq = 3;
  ar.record.guid = mail::MessageGuid::of(body);
  ar.record.size = body.size();
  ar.record.internaldate = 1700000000;
  ar.source = MessageSource::memory(body);
  ASSERT_TRUE(store_->apply_records("user.fred", {ar}, WriteMode::Replication, nullptr).ok());
  EXPECT_EQ(journal_rows("user.fred"), 1);
  EXPECT_EQ(*store_->read_message("user.fred", 7), body);
  store_->flush_journal();
  store_.reset();
  EXPECT_EQ(journal_rows("user.fred"), 0);
  reopen();
  EXPECT_EQ(*store_->read_message("user.fred", 7), body);
}

}  // namespace
}  // namespace cyr::store
