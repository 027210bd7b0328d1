// STORE, COPY, MOVE.
#include <set>

#include "server/imapd/fetch_format.h"
#include "server/imapd/session.h"

namespace cyr::imapd {

using imap::ResponseCode;
namespace right = mail::right;

awaitable<Reply> Session::cmd_store(const imap::StoreArgs& a, bool by_uid) {
  if (selected_->read_only) co_return Reply::no("Mailbox is read-only", ResponseCode::cannot());
  auto flags = parse_flag_names(a.flags);
  if (!flags) co_return error_reply(flags.error(), "STORE");
  // RFC 4314: s for \Seen, t for \Deleted, w for the others.
  mail::Rights need = 0;
  if (flags->system & store::kFlagSeen) need |= right::kSeen;
  if (flags->system & store::kFlagDeleted) need |= right::kDeleteMsg;
  if ((flags->system & ~(store::kFlagSeen | store::kFlagDeleted)) || !flags->keywords.empty())
    need |= right::kWrite;
  if (a.op == imap::StoreArgs::Op::Replace)
    need |= right::kSeen | right::kDeleteMsg | right::kWrite;
  if ((selected_->rights & need) != need)
    co_return Reply::no("Permission denied", ResponseCode::no_perm());
  auto seqs = resolve_set(a.set, by_uid);
  if (!seqs) co_return error_reply(seqs.error(), "STORE");
  if (a.unchanged_since) condstore_ = true;

  store::StoreFlagsRequest req;
  for (uint32_t s : *seqs) req.uids.add(selected_->view.at(s).uid);
  req.op = a.op == imap::StoreArgs::Op::Add      ? store::FlagOp::Add
           : a.op == imap::StoreArgs::Op::Remove ? store::FlagOp::Remove
                                                 : store::FlagOp::Replace;
  req.flags = std::move(*flags);
  req.unchangedsince = a.unchanged_since;
  if (req.uids.empty()) co_return Reply::ok("Store completed");
  const std::string name = selected_->info.name;

  // Per-user \Seen: kept in the seen state, not in the shared records.
  std::set<store::Uid> seen_changed;
  if (selected_->per_user_seen &&
      ((req.flags.system & store::kFlagSeen) || req.op == store::FlagOp::Replace)) {
    bool set_seen = req.op == store::FlagOp::Remove ? false
                    : req.op == store::FlagOp::Add  ? true
                                                    : (req.flags.system & store::kFlagSeen) != 0;
    for (store::Uid uid : req.uids.to_vector()) {
      if (a.unchanged_since) {
        auto s = selected_->view.seq_of(uid);
        if (s && selected_->view.at(*s).modseq > *a.unchanged_since) continue;
      }
      bool had = selected_->seen_uids.contains(uid);
      if (had == set_seen) continue;
      if (set_seen) {
        selected_->seen_uids.add(uid);
      } else {
        store::UidSet next;
        for (const auto& [lo, hi] : selected_->seen_uids.ranges()) {
          if (uid < lo || uid > hi) { next.add(lo, hi); continue; }
          if (lo < uid) next.add(lo, uid - 1);
          if (uid < hi) next.add(uid + 1, hi);
        }
        selected_->seen_uids = std::move(next);
      }
      seen_changed.insert(uid);
    }
    if (!seen_changed.empty()) {
      Status st = co_await save_seen();
      if (!st) co_return error_reply(st.error(), "STORE");
    }
    req.flags.system &= ~uint32_t(store::kFlagSeen);
  }
  store::StoreFlagsResult result;
  bool shared_change = req.op == store::FlagOp::Replace || req.flags.system != 0 ||
                       !req.flags.keywords.empty();
  if (shared_change) {
    auto res = co_await blocking([&] { return store_.store_flags(name, req); });
    if (!res) co_return error_reply(res.error(), "STORE");
    result = std::move(*res);
  }
  auto* res = &result;
  std::set<store::Uid> changed_uids = seen_changed;
  for (auto rec : res->changed) {
    overlay_seen(rec);
    selected_->view.update_record(rec);
    changed_uids.insert(rec.uid);
  }
  for (store::Uid uid : seen_changed)
    if (auto s = selected_->view.seq_of(uid)) overlay_seen(selected_->view.at(*s));
  for (store::Uid uid : changed_uids) {
    auto seq = selected_->view.seq_of(uid);
    if (!seq) continue;
    const auto& rec = selected_->view.at(*seq);
    // .SILENT suppresses FLAGS, but a CONDSTORE client still learns the
    // new MODSEQ (RFC 7162 3.1.3).
    // With QRESYNC on, every FETCH response carries the UID (RFC 7162,
    // QRESYNC: the client may not be able to map a sequence number).
    const bool with_uid = by_uid || qresync_;
    if (!a.silent) {
      write_flags_fetch(*seq, with_uid);
    } else if (condstore_) {
      w_.begin_untagged().number(*seq).atom("FETCH").begin_list();
      if (with_uid) w_.atom("UID").number(rec.uid);
      w_.atom("MODSEQ").begin_list().number(rec.modseq).end_list().end_list().end_line();
    }
  }
  if (!res->failed_unchangedsince.empty()) {
    std::vector<uint32_t> failed;
    for (store::Uid u : res->failed_unchangedsince.to_vector()) {
      if (by_uid) failed.push_back(u);
      else if (auto s = selected_->view.seq_of(u)) failed.push_back(*s);
    }
    co_return Reply::ok("Conditional store failed", ResponseCode::modified(failed));
  }
  co_return Reply::ok("Store completed");
}

awaitable<Reply> Session::cmd_copy(const imap::CopyArgs& a, bool by_uid, bool move) {
  const char* what = move ? "MOVE" : "COPY";
  if (move && (selected_->read_only || !(selected_->rights & right::kDeleteMsg) ||
               !(selected_->rights & right::kExpunge)))
    co_return Reply::no("Permission denied", ResponseCode::no_perm());
  auto seqs = resolve_set(a.set, by_uid);
  if (!seqs) co_return error_reply(seqs.error(), what);
  auto dest = to_internal(a.mailbox);
  if (!dest) co_return error_reply(dest.error(), what);
  auto info = co_await blocking([&] { return store_.lookup(*dest); });
  if (!info) {
    if (info.error().code == Errc::NotFound)
      co_return Reply::no("Mailbox does not exist", missing_target_code(*dest));
    co_return error_reply(info.error(), what);
  }
  mail::Rights r = rights_on(*info);
  if (!(r & (right::kLookup | right::kRead)))
    co_return Reply::no("Mailbox does not exist", missing_target_code(*dest));
  if (!(r & right::kInsert)) co_return Reply::no("Permission denied", ResponseCode::no_perm());
  store::UidSet uids;
  for (uint32_t s : *seqs) uids.add(selected_->view.at(s).uid);
  if (uids.empty()) co_return Reply::ok(move ? "Move completed" : "Copy completed");
  const std::string from = selected_->info.name;
  auto res = co_await blocking([&] { return store_.copy(from, uids, *dest, move); });
  if (!res) co_return error_reply(res.error(), what);
  auto code = ResponseCode::copy_uid(res->dest_uidvalidity, res->source_uids.to_vector(),
                                     res->dest_uids);
  if (!move) co_return Reply::ok("Copy completed", code);
  // RFC 6851: COPYUID in an untagged OK, then the expunges, then the tagged OK.
  w_.untagged_status(imap::StatusKind::Ok, code, "Moved");
  write_expunges(selected_->view.remove(res->source_uids));
  co_return Reply::ok("Move completed");
}

}  // namespace cyr::imapd
