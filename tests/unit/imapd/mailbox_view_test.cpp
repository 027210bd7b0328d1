#include "server/imapd/mailbox_view.h"

#include <gtest/gtest.h>

#include "server/imap/parser_args.h"

namespace cyr::imapd {
namespace {

store::MessageRecord rec(store::Uid uid, store::ModSeq modseq, uint32_t flags = 0) {
  store::MessageRecord r;
  r.uid = uid;
  r.modseq = modseq;
  r.flags.system = flags;
  return r;
}

imap::SequenceSet set(const char* text) { return *imap::parse_sequence_set(text); }

TEST(MailboxView, SortsAndDropsTombstones) {
  MailboxView v({rec(7, 3), rec(2, 1), rec(5, 2, store::kFlagExpunged), rec(4, 2)}, 3);
  ASSERT_EQ(v.exists(), 3u);
  EXPECT_EQ(v.at(1).uid, 2u);
  EXPECT_EQ(v.at(2).uid, 4u);
  EXPECT_EQ(v.at(3).uid, 7u);
  EXPECT_EQ(*v.seq_of(7), 3u);
  EXPECT_FALSE(v.seq_of(5).has_value());
  EXPECT_EQ(v.max_uid(), 7u);
}

TEST(MailboxView, ResolvesSequenceSets) {
  MailboxView v({rec(2, 1), rec(4, 1), rec(7, 1), rec(9, 1)}, 1);
  EXPECT_EQ(*v.resolve(set("1:2,4"), false), (std::vector<uint32_t>{1, 2, 4}));
  EXPECT_EQ(*v.resolve(set("3:*"), false), (std::vector<uint32_t>{3, 4}));
  EXPECT_EQ(*v.resolve(set("*:2"), false), (std::vector<uint32_t>{2, 3, 4}));
  EXPECT_FALSE(v.resolve(set("5"), false).ok());  // beyond EXISTS is an error
  // UIDs: unknown ones ignored, "*" is the highest UID.
  EXPECT_EQ(*v.resolve(set("3:7"), true), (std::vector<uint32_t>{2, 3}));
  EXPECT_EQ(*v.resolve(set("*"), true), (std::vector<uint32_t>{4}));
  EXPECT_EQ(*v.resolve(set("100:*"), true), (std::vector<uint32_t>{4}));  // 100:* includes max
  EXPECT_TRUE(v.resolve(set("10:20"), true)->empty());
}

TEST(MailboxView, EmptyMailboxStar) {
  MailboxView v({}, 0);
  EXPECT_TRUE(v.resolve(set("*"), false)->empty());
  EXPECT_FALSE(v.resolve(set("1"), false).ok());
  EXPECT_TRUE(v.resolve(set("1:*"), true)->empty());
}

TEST(MailboxView, ApplyAppendsAndFlagChanges) {
  MailboxView v({rec(1, 1), rec(2, 1)}, 1);
  store::ChangesSince ch;
  ch.changed = {rec(2, 5, store::kFlagSeen), rec(3, 4)};
  ch.highestmodseq = 5;
  ViewUpdate u = v.apply(ch, true);
  EXPECT_TRUE(u.exists_changed);
  EXPECT_EQ(v.exists(), 3u);
  EXPECT_EQ(u.flag_changed_seqs, (std::vector<uint32_t>{2}));
  EXPECT_EQ(v.at(2).flags.system, store::kFlagSeen);
  EXPECT_EQ(v.highestmodseq(), 5u);
  // Applying the same change again reports nothing (modseq not newer).
  ViewUpdate again = v.apply(ch, true);
  EXPECT_FALSE(again.exists_changed);
  EXPECT_TRUE(again.flag_changed_seqs.empty());
}

TEST(MailboxView, OwnUpdateIsNotReportedBack) {
  MailboxView v({rec(1, 1)}, 1);
  v.update_record(rec(1, 2, store::kFlagFlagged));
  store::ChangesSince ch;
  ch.changed = {rec(1, 2, store::kFlagFlagged)};
  ch.highestmodseq = 2;
  EXPECT_TRUE(v.apply(ch, true).flag_changed_seqs.empty());
}

TEST(MailboxView, ExpungesWaitUntilAllowed) {
  MailboxView v({rec(1, 1), rec(2, 1), rec(3, 1), rec(4, 1)}, 1);
  store::ChangesSince ch;
  ch.expunged = store::UidSet::of({2, 4});
  ch.highestmodseq = 2;
  ViewUpdate during_fetch = v.apply(ch, false);
  EXPECT_TRUE(during_fetch.expunged_seqs.empty());
  EXPECT_EQ(v.exists(), 4u);  // sequence numbers unchanged
  EXPECT_TRUE(v.is_pending_expunge(2));
  ViewUpdate later = v.apply(store::ChangesSince{{}, {}, 2}, true);
  // Highest first, so each number is valid when the client applies it.
  EXPECT_EQ(later.expunged_seqs, (std::vector<uint32_t>{4, 2}));
  EXPECT_EQ(later.expunged_uids, (std::vector<store::Uid>{2, 4}));
  EXPECT_EQ(v.exists(), 2u);
  EXPECT_EQ(v.at(2).uid, 3u);
  EXPECT_FALSE(v.has_pending_expunges());
}

TEST(MailboxView, RemoveOwnExpunge) {
  MailboxView v({rec(10, 1), rec(11, 1), rec(12, 1)}, 1);
  ViewUpdate u = v.remove(store::UidSet::of({10, 11, 99}));
  EXPECT_EQ(u.expunged_seqs, (std::vector<uint32_t>{2, 1}));
  EXPECT_EQ(v.exists(), 1u);
  EXPECT_EQ(v.at(1).uid, 12u);
}

}  // namespace
}  // namespace cyr::imapd
