#include "server/imapd/mailbox_view.h"

#include <algorithm>

namespace cyr::imapd {

using store::MessageRecord;
using store::Uid;

MailboxView::MailboxView(std::vector<MessageRecord> records, store::ModSeq highestmodseq)
    : records_(std::move(records)), highestmodseq_(highestmodseq) {
  records_.erase(std::remove_if(records_.begin(), records_.end(),
                                [](const MessageRecord& r) { return r.expunged(); }),
                 records_.end());
  // The store returns them in UID order: checking is one pass, sorting an
  // already sorted vector of 100,000 records was not free.
  auto by_uid = [](const MessageRecord& a, const MessageRecord& b) { return a.uid < b.uid; };
  if (!std::is_sorted(records_.begin(), records_.end(), by_uid))
    std::sort(records_.begin(), records_.end(), by_uid);
}

std::optional<uint32_t> MailboxView::seq_of(Uid uid) const {
  auto it = std::lower_bound(records_.begin(), records_.end(), uid,
                             [](const MessageRecord& r, Uid u) { return r.uid < u; });
  if (it == records_.end() || it->uid != uid) return std::nullopt;
  return static_cast<uint32_t>(it - records_.begin()) + 1;
}

Result<std::vector<uint32_t>> MailboxView::resolve(const imap::SequenceSet& set,
                                                   bool by_uid) const {
  std::vector<uint32_t> out;
  const uint32_t n = exists();
  for (const imap::SeqRange& r : set.ranges) {
    if (by_uid) {
      if (records_.empty()) continue;
      Uid a = r.first == imap::kSeqStar ? max_uid() : r.first;
      Uid b = r.last == imap::kSeqStar ? max_uid() : r.last;
      if (a > b) std::swap(a, b);
      auto lo = std::lower_bound(records_.begin(), records_.end(), a,
                                 [](const MessageRecord& x, Uid u) { return x.uid < u; });
      for (auto it = lo; it != records_.end() && it->uid <= b; ++it)
        out.push_back(static_cast<uint32_t>(it - records_.begin()) + 1);
    } else {
      if (n == 0) {
        // "*" in an empty mailbox names nothing; any number is out of range.
        if (r.first == imap::kSeqStar && r.last == imap::kSeqStar) continue;
        return Error(Errc::Invalid, "Invalid message sequence number: mailbox is empty");
      }
      uint32_t a = r.first == imap::kSeqStar ? n : r.first;
      uint32_t b = r.last == imap::kSeqStar ? n : r.last;
      if (a > b) std::swap(a, b);
      if (b > n) return Error(Errc::Invalid, "Invalid message sequence number");
      for (uint32_t s = a; s <= b; ++s) out.push_back(s);
    }
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

void MailboxView::update_record(const MessageRecord& rec) {
  auto seq = seq_of(rec.uid);
  if (!seq) return;
  MessageRecord& mine = records_[*seq - 1];
  mine.flags = rec.flags;
  mine.modseq = rec.modseq;
}

ViewUpdate MailboxView::flush_expunges() {
  ViewUpdate u;
  // Highest first: then each sequence number is still valid when sent, and
  // the client's renumbering after each EXPUNGE does not affect the next.
  for (auto it = pending_expunge_.rbegin(); it != pending_expunge_.rend(); ++it) {
    auto seq = seq_of(*it);
    if (!seq) continue;
    u.expunged_seqs.push_back(*seq);
    u.expunged_uids.push_back(*it);
    records_.erase(records_.begin() + (*seq - 1));
  }
  pending_expunge_.clear();
  std::reverse(u.expunged_uids.begin(), u.expunged_uids.end());
  return u;
}

ViewUpdate MailboxView::apply(const store::ChangesSince& changes, bool allow_expunge) {
  for (const auto& [lo, hi] : changes.expunged.ranges()) {
    // Bounded by the view: only UIDs the view holds matter.
    auto it = std::lower_bound(records_.begin(), records_.end(), lo,
                               [](const MessageRecord& x, Uid u) { return x.uid < u; });
    for (; it != records_.end() && it->uid <= hi; ++it) pending_expunge_.insert(it->uid);
  }
  ViewUpdate u;
  if (allow_expunge) u = flush_expunges();

  std::vector<MessageRecord> added;
  std::vector<Uid> flag_changed;
  for (const MessageRecord& rec : changes.changed) {
    if (rec.expunged()) continue;
    auto seq = seq_of(rec.uid);
    if (seq) {
      MessageRecord& mine = records_[*seq - 1];
      if (rec.modseq > mine.modseq) {
        // Reported even when only the modseq moved: a CONDSTORE client
        // tracks MODSEQ per message.
        mine.flags = rec.flags;
        mine.modseq = rec.modseq;
        flag_changed.push_back(rec.uid);
      }
    } else if (rec.uid > max_uid()) {
      added.push_back(rec);
    }
    // A UID below max_uid() the view never had was expunged before this
    // session saw it (or is being reported late); it cannot be inserted
    // without renumbering, so it is ignored.
  }
  std::sort(added.begin(), added.end(),
            [](const MessageRecord& a, const MessageRecord& b) { return a.uid < b.uid; });
  for (auto& r : added) records_.push_back(std::move(r));
  if (!added.empty()) u.exists_changed = true;
  for (Uid uid : flag_changed)
    if (auto seq = seq_of(uid)) u.flag_changed_seqs.push_back(*seq);
  std::sort(u.flag_changed_seqs.begin(), u.flag_changed_seqs.end());
  set_highestmodseq(changes.highestmodseq);
  return u;
}

ViewUpdate MailboxView::remove(const store::UidSet& uids) {
  for (const auto& [lo, hi] : uids.ranges()) {
    auto it = std::lower_bound(records_.begin(), records_.end(), lo,
                               [](const MessageRecord& x, Uid u) { return x.uid < u; });
    for (; it != records_.end() && it->uid <= hi; ++it) pending_expunge_.insert(it->uid);
  }
  return flush_expunges();
}

}  // namespace cyr::imapd
