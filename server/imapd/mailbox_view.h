// MailboxView: one session's picture of its selected mailbox.
//
// IMAP sequence numbers are per session: they change only when this session
// is told of an expunge. The view keeps the records the client knows about
// (ascending UID, so sequence number n is records()[n-1]), their flags and
// modseqs, and the mailbox's highestmodseq as last reported. Changes made
// by other sessions (or delivery) are merged with apply(): appends and flag
// changes at once, expunges only when the caller says EXPUNGE responses are
// allowed now (RFC 3501 7.4.1: not during FETCH, STORE or SEARCH); until
// then they stay pending and the messages keep their sequence numbers.
//
// Pure (no I/O, no store); a plain value owned by one session, not
// thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <vector>

#include "server/imap/command.h"
#include "store/types.h"

namespace cyr::imapd {

// What apply() changed, in the order the responses must be sent.
struct ViewUpdate {
  // Sequence numbers to send as "* n EXPUNGE", in sending order (each is
  // valid after the previous ones took effect).
  std::vector<uint32_t> expunged_seqs;
  std::vector<store::Uid> expunged_uids;  // the same messages, for VANISHED
  bool exists_changed = false;            // send "* n EXISTS"
  std::vector<uint32_t> flag_changed_seqs;  // send "* n FETCH (FLAGS ...)", ascending
};

class MailboxView {
 public:
  MailboxView() = default;
  // records: the mailbox's live records (no tombstones), any order.
  MailboxView(std::vector<store::MessageRecord> records, store::ModSeq highestmodseq);

  uint32_t exists() const { return static_cast<uint32_t>(records_.size()); }
  store::ModSeq highestmodseq() const { return highestmodseq_; }
  void set_highestmodseq(store::ModSeq m) { if (m > highestmodseq_) highestmodseq_ = m; }
  const std::vector<store::MessageRecord>& records() const { return records_; }

  // 1-based sequence number -> record; seq must be in 1..exists().
  const store::MessageRecord& at(uint32_t seq) const { return records_[seq - 1]; }
  store::MessageRecord& at(uint32_t seq) { return records_[seq - 1]; }
  // The sequence number of a UID the view holds, or nullopt.
  std::optional<uint32_t> seq_of(store::Uid uid) const;
  store::Uid max_uid() const { return records_.empty() ? 0 : records_.back().uid; }

  // The sequence numbers a set names, ascending, without duplicates. With
  // by_uid the set holds UIDs ("*" = the highest UID; UIDs not in the view
  // are ignored, as RFC 3501 says); otherwise sequence numbers ("*" =
  // exists()). Sequence numbers above exists() are an error (Invalid) for
  // non-UID sets, reported as BAD by the caller. An empty mailbox makes "*"
  // match nothing.
  Result<std::vector<uint32_t>> resolve(const imap::SequenceSet& set, bool by_uid) const;

  // True if the message was expunged by someone else and this session has
  // not yet been told.
  bool is_pending_expunge(store::Uid uid) const { return pending_expunge_.count(uid) != 0; }
  bool has_pending_expunges() const { return !pending_expunge_.empty(); }

  // Replaces one record's flags and modseq after this session changed it,
  // so that a later apply() does not report the change back.
  void update_record(const store::MessageRecord& rec);

  // Merges what changed since highestmodseq(): records with a higher modseq
  // (new UIDs are appended, known ones get new flags) and expunged UIDs.
  // With allow_expunge false, expunges (new and already pending) wait.
  ViewUpdate apply(const store::ChangesSince& changes, bool allow_expunge);

  // Removes expunged messages this session itself expunged (EXPUNGE, MOVE):
  // same result shape as apply() with allow_expunge.
  ViewUpdate remove(const store::UidSet& uids);

 private:
  ViewUpdate flush_expunges();

  std::vector<store::MessageRecord> records_;  // ascending uid
  std::set<store::Uid> pending_expunge_;
  store::ModSeq highestmodseq_ = 0;
};

}  // namespace cyr::imapd
