// SELECT EXAMINE CLOSE UNSELECT EXPUNGE IDLE.
#include <utility>
#include <boost/asio/post.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "server/imap/parser_args.h"
#include "server/imapd/fetch_format.h"
#include "server/imapd/session.h"
#include "store/base/log.h"

namespace cyr::imapd {

namespace asio = boost::asio;
using imap::ResponseCode;
namespace right = mail::right;

awaitable<Reply> Session::cmd_select(const imap::SelectArgs& a, bool examine) {
  if (a.qresync && !qresync_) co_return Reply::bad("QRESYNC is not enabled");
  bool had_selection = selected_.has_value();
  deselect();
  if (had_selection && (condstore_ || qresync_))
    w_.untagged_status(imap::StatusKind::Ok, ResponseCode::closed(), "Previous mailbox closed");
  if (a.condstore) condstore_ = true;

  auto internal = to_internal(a.mailbox);
  if (!internal) co_return error_reply(internal.error(), "SELECT");
  auto info = co_await lookup_visible(*internal);
  if (!info) co_return error_reply(info.error(), "SELECT");
  mail::Rights rights = rights_on(*info);
  if (!(rights & right::kRead)) co_return Reply::no("Permission denied", ResponseCode::no_perm());
  const std::string name = *internal;
  auto recs = co_await blocking([&] { return store_.records(name); });
  if (!recs) co_return error_reply(recs.error(), "SELECT");

  Selected sel;
  sel.info = *info;
  sel.external_name = a.mailbox;
  sel.rights = rights;
  sel.read_only = examine || is_replica() ||
                  !(rights & (right::kSeen | right::kWrite | right::kDeleteMsg | right::kExpunge));
  sel.view = MailboxView(std::move(*recs), info->highestmodseq);
  sel.per_user_seen = !owns(name);
  if (sel.per_user_seen) {
    const std::string user = identity_->userid;
    auto seen = co_await blocking([&] { return store_.get_seen(user, name); });
    if (seen && !seen->seenuids.empty()) {
      auto set = imap::parse_sequence_set(seen->seenuids, false);
      if (set)
        for (const auto& r : set->ranges)
          if (r.first != imap::kSeqStar && r.last != imap::kSeqStar)
            sel.seen_uids.add(std::min(r.first, r.last), std::max(r.first, r.last));
    }
  }
  // Watch before anything else can change: a change between records() and
  // watch() is caught because the first report compares modseqs.
  dirty_->store(true);
  std::weak_ptr<asio::steady_timer> wake = wake_;
  auto dirty = dirty_;
  auto ex = conn_->get_executor();
  sel.watch_id = store_.watch(info->uniqueid, [dirty, wake, ex](const store::MailboxEvent&) {
    dirty->store(true);
    asio::post(ex, [wake] {
      if (auto t = wake.lock()) t->cancel();
    });
  });
  sel.watching = true;
  selected_ = std::move(sel);
  state_ = SessionState::Selected;
  MailboxView& v = selected_->view;
  for (uint32_t s = 1; s <= v.exists(); ++s) overlay_seen(v.at(s));
  (void)co_await claim_recent(0);

  uint32_t first_unseen = 0;
  for (uint32_t s = 1; s <= v.exists(); ++s) {
    const auto& r = v.at(s);
    if (!first_unseen && !(r.flags.system & store::kFlagSeen)) first_unseen = s;
    note_keywords(r);
  }
  write_flags_list();
  w_.begin_untagged().number(v.exists()).atom("EXISTS").end_line();
  w_.begin_untagged().number(recent_count()).atom("RECENT").end_line();
  if (first_unseen)
    w_.untagged_status(imap::StatusKind::Ok, ResponseCode::unseen(first_unseen), "Ok");
  write_permanent_flags();
  w_.untagged_status(imap::StatusKind::Ok, ResponseCode::uid_validity(info->uidvalidity), "Ok");
  w_.untagged_status(imap::StatusKind::Ok, ResponseCode::uid_next(info->last_uid + 1), "Ok");
  w_.untagged_status(imap::StatusKind::Ok, ResponseCode::highest_modseq(info->highestmodseq), "Ok");
  if (imap::is_object_id(info->uniqueid))
    w_.untagged_status(imap::StatusKind::Ok, ResponseCode::mailbox_id(info->uniqueid), "Ok");

  if (a.qresync && a.qresync->uidvalidity == info->uidvalidity) {
    store::ModSeq since = a.qresync->modseq;
    auto ch = co_await blocking([&] { return store_.changes_since(name, since); });
    if (ch) {
      std::vector<uint32_t> vanished;
      for (uint32_t u : ch->expunged.to_vector()) {
        if (u > info->last_uid) continue;
        if (a.qresync->known_uids && !a.qresync->known_uids->contains(u, info->last_uid)) continue;
        vanished.push_back(u);
      }
      if (!vanished.empty())
        w_.begin_untagged().atom("VANISHED").begin_list().atom("EARLIER").end_list()
            .uid_set(vanished).end_line();
      for (auto r : ch->changed) {
        overlay_seen(r);
        v.update_record(r);
        if (auto seq = v.seq_of(r.uid)) write_flags_fetch(*seq, true);
      }
    }
  }
  co_return Reply::ok(selected_->read_only ? "Examine completed" : "Select completed",
                      selected_->read_only ? ResponseCode::read_only() : ResponseCode::read_write());
}

awaitable<Reply> Session::cmd_close(bool expunge) {
  if (expunge && !selected_->read_only && (selected_->rights & right::kExpunge)) {
    store::UidSet uids;
    for (const auto& r : selected_->view.records())
      if (r.flags.system & store::kFlagDeleted) uids.add(r.uid);
    if (!uids.empty()) {
      const std::string name = selected_->info.name;
      auto res = co_await blocking([&] { return store_.expunge(name, uids); });
      if (!res) CYR_LOG(Warning, sid_, "CLOSE expunge: %s", res.error().describe().c_str());
    }
  }
  deselect();
  co_return Reply::ok(expunge ? "Close completed" : "Unselect completed");
}

awaitable<Reply> Session::cmd_expunge(const imap::Command& cmd) {
  if (selected_->read_only) co_return Reply::no("Mailbox is read-only", ResponseCode::cannot());
  if (!(selected_->rights & right::kExpunge))
    co_return Reply::no("Permission denied", ResponseCode::no_perm());
  std::vector<uint32_t> limit;
  if (cmd.uid) {
    auto seqs = resolve_set(cmd.as<imap::SequenceArgs>().set, true);
    if (!seqs) co_return error_reply(seqs.error(), "UID EXPUNGE");
    limit = *seqs;
  } else {
    for (uint32_t s = 1; s <= selected_->view.exists(); ++s) limit.push_back(s);
  }
  store::UidSet uids;
  for (uint32_t s : limit) {
    const auto& r = selected_->view.at(s);
    if (r.flags.system & store::kFlagDeleted) uids.add(r.uid);
  }
  store::ModSeq highest = selected_->view.highestmodseq();
  if (!uids.empty()) {
    const std::string name = selected_->info.name;
    auto res = co_await blocking([&] { return store_.expunge(name, uids); });
    if (!res) co_return error_reply(res.error(), "EXPUNGE");
    write_expunges(selected_->view.remove(res->expunged));
    highest = std::max(highest, res->highestmodseq);
  }
  // A CONDSTORE client learns the mailbox's HIGHESTMODSEQ after its
  // expunge (RFC 7162; Cyrus sends it too).
  if (condstore_) co_return Reply::ok("Expunge completed", ResponseCode::highest_modseq(highest));
  co_return Reply::ok("Expunge completed");
}

awaitable<Reply> Session::cmd_idle(const std::string& tag) {
  w_.continuation("idling");
  if (!co_await flush()) {
    state_ = SessionState::Logout;
    co_return Reply::ok("");
  }
  // The reader waits for DONE on its own; this coroutine writes updates
  // when the watcher (or the reader) wakes it.
  struct IdleState {
    bool done = false;
    bool failed = false;
    std::string line;
  };
  auto st = std::make_shared<IdleState>();
  auto wake = wake_;
  auto conn = conn_;
  asio::co_spawn(
      conn_->get_executor(),
      [st, wake, conn]() -> awaitable<void> {
        auto line = co_await conn->read_line(1024, server::net::Connection::ReadMode::Idle);
        if (line) st->line = *line;
        else st->failed = true;
        st->done = true;
        wake->cancel();
      },
      asio::detached);
  // The connection's own idle timer does not cover a read with writes in
  // between, so IDLE keeps the autologout deadline itself.
  const auto deadline = std::chrono::steady_clock::now() + settings_.timeout;
  while (!st->done) {
    if (std::chrono::steady_clock::now() >= deadline) {
      say_bye("Autologout; idle for too long");
      (void)co_await flush();
      state_ = SessionState::Logout;
      break;
    }
    if (!co_await still_allowed()) {
      (void)co_await flush();
      break;
    }
    if (selected_) {
      co_await report_changes(true);
      if (!out_.empty()) (void)co_await flush();
      if (state_ == SessionState::Logout) break;
    }
    if (st->done) break;
    wake_->expires_after(std::chrono::seconds(30));
    boost::system::error_code ec;
    co_await wake_->async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
  while (!st->done) {  // the session is ending: wait for the reader to stop
    conn_->close();
    wake_->expires_after(std::chrono::milliseconds(100));
    boost::system::error_code ec;
    co_await wake_->async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
  if (st->failed) {
    if (conn_->end_reason() == server::net::EndReason::Shutdown) say_bye("Server shutting down");
    else if (conn_->end_reason() == server::net::EndReason::IdleTimeout)
      say_bye("Autologout; idle for too long");
    state_ = SessionState::Logout;
    co_return Reply::ok("");
  }
  (void)tag;
  if (!imap::iequals(st->line, "DONE")) co_return Reply::bad("Expected DONE to end IDLE");
  co_return Reply::ok("Idle completed");
}

}  // namespace cyr::imapd
