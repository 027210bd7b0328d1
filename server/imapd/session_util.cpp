// Session helpers shared by the command handlers: names, rights, untagged
// updates of the selected mailbox.
#include <utility>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <ctime>

#include "server/imap/parser_args.h"
#include "server/imapd/fetch_format.h"
#include "server/imapd/session.h"
#include "server/net/client_info.h"
#include "store/base/log.h"

namespace cyr::imapd {

namespace asio = boost::asio;

std::vector<std::string> Session::capabilities() const {
  std::vector<std::string> caps = {"IMAP4rev1", "LITERAL+", "ID", "ENABLE", "IDLE", "SASL-IR"};
  if (state_ == SessionState::NotAuthenticated) {
    bool tls = conn_->is_tls();
    // Not once COMPRESS is active (after UNAUTHENTICATE): see cmd_starttls.
    if (!tls && !conn_->is_compressed() && service_->ctx->tls_context &&
        service_->ctx->tls_context())
      caps.push_back("STARTTLS");
    for (const auto& m : service_->auth->mechanisms(tls)) caps.push_back("AUTH=" + m);
    if (!service_->auth->plaintext_allowed(tls)) caps.push_back("LOGINDISABLED");
    return caps;
  }
  for (const char* c :
       {"NAMESPACE", "UIDPLUS", "MULTIAPPEND", "CATENATE", "UNSELECT", "CHILDREN", "LIST-EXTENDED",
        "LIST-STATUS", "SPECIAL-USE", "CREATE-SPECIAL-USE", "CONDSTORE", "QRESYNC", "ESEARCH",
        "SEARCHRES", "SORT", "SORT=DISPLAY", "ESORT", "THREAD=ORDEREDSUBJECT",
        "THREAD=REFERENCES", "MOVE", "REPLACE", "ACL", "RIGHTS=kxten", "QUOTA", "QUOTA=RES-STORAGE",
        "QUOTA=RES-MESSAGE", "STATUS=SIZE", "BINARY", "METADATA", "METADATA-SERVER",
        "LIST-MYRIGHTS", "LIST-METADATA", "XLIST", "UNAUTHENTICATE", "OBJECTID", "SAVEDATE",
        "WITHIN", "PREVIEW"})
    caps.push_back(c);
  // After login only, as Cyrus does: compressing the login exchange saves
  // nothing. Not once active (RFC 4978 section 3: a second COMPRESS fails).
  if (!conn_->is_compressed()) caps.push_back("COMPRESS=DEFLATE");
  caps.push_back("APPENDLIMIT=" + std::to_string(settings_.max_message));
  if (replication_allowed()) caps.push_back("X-REPLICATION");
  return caps;
}

bool Session::replication_allowed() const {
  return state_ != SessionState::NotAuthenticated && identity_ && identity_->is_admin &&
         replication_factory() != nullptr;
}

bool Session::is_replica() const { return store_.node_state().role == store::Role::Replica; }

Result<std::string> Session::to_internal(const std::string& external) const {
  if (!ns_) return Error(Errc::Invalid, "Not logged in");
  return ns_->to_internal(external);
}

std::string Session::to_external(const std::string& internal) const {
  if (!ns_) return internal;
  auto r = ns_->to_external(internal);
  return r ? *r : internal;
}

bool Session::owns(std::string_view internal) const {
  if (!identity_) return false;
  auto owner = mail::mboxname_owner(internal);
  return owner && *owner == identity_->userid;
}

mail::Rights Session::rights_on(const store::MailboxInfo& info) const {
  if (!identity_) return 0;
  auto acl = mail::Acl::parse(info.acl);
  mail::AclSubject who;
  who.userid = identity_->userid;
  who.is_admin = identity_->is_admin;
  mail::Rights implicit = owns(info.name) ? settings_.implicit_owner_rights : 0;
  if (!acl) {
    CYR_LOG(Error, sid_, "bad ACL on %s: %s", info.name.c_str(), acl.error().describe().c_str());
    return mail::effective_rights(mail::Acl(), who, implicit);
  }
  return mail::effective_rights(*acl, who, implicit);
}

awaitable<Result<store::MailboxInfo>> Session::lookup_visible(const std::string& internal) {
  auto info = co_await blocking([&] { return store_.lookup(internal); });
  if (!info) co_return info;
  // A mailbox the user may neither list nor read does not exist for them
  // (RFC 4314 4: do not reveal its existence).
  mail::Rights r = rights_on(*info);
  if (!(r & (mail::right::kLookup | mail::right::kRead)))
    co_return Error(Errc::NotFound, "Mailbox does not exist");
  co_return info;
}

auth::ClientInfo Session::client_info() const { return server::net::client_info_of(*conn_); }

awaitable<void> Session::sleep_for(std::chrono::milliseconds d) {
  if (d.count() <= 0) co_return;
  asio::steady_timer t(conn_->get_executor());
  t.expires_after(d);
  boost::system::error_code ec;
  co_await t.async_wait(asio::redirect_error(asio::use_awaitable, ec));
}

// Called by the store's watcher on the committing thread: only flag and
// wake; the session reads the changes on its own strand.
void Session::on_mailbox_changed() {
  dirty_->store(true);
}

void Session::write_flags_shown(const store::MessageRecord& r) {
  if (selected_ && selected_->recent_uids.contains(r.uid)) w_.atom("\\Recent");
  write_flag_names(w_, r.flags);
}

uint32_t Session::recent_count() const {
  if (!selected_ || selected_->recent_uids.empty()) return 0;
  const auto& recs = selected_->view.records();
  const store::Uid lowest = selected_->recent_uids.ranges().front().first;
  uint32_t n = 0;
  for (auto it = recs.rbegin(); it != recs.rend() && it->uid >= lowest; ++it)
    if (selected_->recent_uids.contains(it->uid)) ++n;
  return n;
}

// Cyrus keeps the \Recent watermark per user: in the seen state's lastuid
// (the mailbox's own recentuid in Cyrus for the owner; one place here, so
// both kinds of user behave alike and it replicates as SEEN). Read and
// raise it in one blocking call so two sessions of one user racing through
// SELECT rarely both claim the same messages.
awaitable<bool> Session::claim_recent(store::Uid known_uid) {
  const std::string user = identity_->userid, name = selected_->info.name;
  const store::Uid top = selected_->view.max_uid();
  const bool raise = !selected_->read_only && !is_replica();
  auto mark = co_await blocking([&]() -> Result<store::Uid> {
    auto seen = store_.get_seen(user, name);
    if (!seen) return seen.take_error();
    if (!raise || seen->lastuid >= top) return seen->lastuid;
    store::SeenState st = *seen;
    st.lastuid = top;
    st.lastread = static_cast<int64_t>(std::time(nullptr));
    CYR_TRY(store_.set_seen(user, name, st));
    return seen->lastuid;
  });
  if (!mark) {
    // Not fatal: the messages are simply not shown as \Recent.
    CYR_LOG(Warning, sid_, "\\Recent watermark of %s on %s: %s", user.c_str(), name.c_str(),
            mark.error().describe().c_str());
    co_return false;
  }
  // One range, not one entry per message: only UIDs the view holds are
  // ever looked up in it.
  const store::Uid floor = std::max(known_uid, *mark);
  if (top <= floor) co_return false;
  selected_->recent_uids.add(floor + 1, top);
  co_return true;
}

namespace {
constexpr size_t kMaxAnnouncedKeywords = 1000;
constexpr const char* kSystemFlagList[] = {"\\Answered", "\\Flagged", "\\Deleted", "\\Seen", "\\Draft"};
}  // namespace

void Session::write_flags_list() {
  w_.begin_untagged().atom("FLAGS").begin_list();
  for (const char* f : kSystemFlagList) w_.atom(f);
  for (const auto& k : selected_->keywords) w_.atom(k);
  w_.end_list().end_line();
}

void Session::write_permanent_flags() {
  std::vector<std::string> perm;
  if (!selected_->read_only) {
    perm.assign(std::begin(kSystemFlagList), std::end(kSystemFlagList));
    perm.insert(perm.end(), selected_->keywords.begin(), selected_->keywords.end());
    perm.push_back("\\*");
  }
  w_.untagged_status(imap::StatusKind::Ok, imap::ResponseCode::permanent_flags(perm), "Ok");
}

bool Session::note_keywords(const store::MessageRecord& r) {
  bool added = false;
  for (const auto& k : r.flags.keywords) {
    if (selected_->keywords.size() >= kMaxAnnouncedKeywords) break;
    if (std::none_of(selected_->keywords.begin(), selected_->keywords.end(),
                     [&](const std::string& known) { return imap::iequals(known, k); })) {
      selected_->keywords.push_back(k);
      added = true;
    }
  }
  return added;
}

void Session::announce_keywords(const store::MessageRecord& r) {
  if (!note_keywords(r)) return;
  // Cyrus sends both, to every session that sees the new keyword.
  write_flags_list();
  write_permanent_flags();
}

imap::ResponseCode Session::missing_target_code(const std::string& internal) const {
  if (identity_ && identity_->is_admin) return imap::ResponseCode::try_create();
  auto owner = mail::mboxname_owner(internal);
  if (identity_ && owner && *owner == identity_->userid) return imap::ResponseCode::try_create();
  return imap::ResponseCode::nonexistent();
}

void Session::write_flags_fetch(uint32_t seq, bool with_uid) {
  const store::MessageRecord& r = selected_->view.at(seq);
  announce_keywords(r);
  w_.begin_untagged().number(seq).atom("FETCH").begin_list();
  if (with_uid) w_.atom("UID").number(r.uid);
  w_.atom("FLAGS").begin_list();
  write_flags_shown(r);
  w_.end_list();
  if (condstore_) w_.atom("MODSEQ").begin_list().number(r.modseq).end_list();
  w_.end_list().end_line();
}

void Session::write_expunges(const ViewUpdate& u) {
  if (u.expunged_uids.empty()) return;
  if (qresync_) {
    w_.begin_untagged().atom("VANISHED").uid_set(u.expunged_uids).end_line();
    return;
  }
  for (uint32_t seq : u.expunged_seqs) w_.begin_untagged().number(seq).atom("EXPUNGE").end_line();
}

awaitable<void> Session::report_changes(bool allow_expunge) {
  if (!selected_) co_return;
  bool dirty = dirty_->exchange(false);
  if (!dirty && !(allow_expunge && selected_->view.has_pending_expunges())) co_return;
  store::ModSeq since = selected_->view.highestmodseq();
  const std::string name = selected_->info.name;
  auto changes = co_await blocking([&] { return store_.changes_since(name, since); });
  if (!changes) {
    if (changes.error().code == Errc::NotFound) {
      // Deleted or renamed away under us: nothing sensible can follow.
      say_bye("Selected mailbox was deleted; closing the connection");
      state_ = SessionState::Logout;
      co_return;
    }
    CYR_LOG(Warning, sid_, "cannot read changes of %s: %s", name.c_str(),
            changes.error().describe().c_str());
    dirty_->store(true);
    co_return;
  }
  for (auto& r : changes->changed) overlay_seen(r);
  uint32_t before = selected_->view.exists();
  const store::Uid known_uid = selected_->view.max_uid();
  ViewUpdate u = selected_->view.apply(*changes, allow_expunge);
  // New arrivals are \Recent here unless a session of this user saw them first.
  if (selected_->view.max_uid() > known_uid) (void)co_await claim_recent(known_uid);
  write_expunges(u);
  // New messages' keywords are announced too, before a FETCH shows them.
  for (uint32_t seq = before - static_cast<uint32_t>(u.expunged_seqs.size()) + 1; seq <= selected_->view.exists(); ++seq)
    announce_keywords(selected_->view.at(seq));
  for (uint32_t seq : u.flag_changed_seqs) write_flags_fetch(seq, qresync_);
  // RECENT goes with EXISTS, as Cyrus sends them (RFC 3501 7.3.2).
  if (u.exists_changed || selected_->view.exists() != before - u.expunged_seqs.size()) {
    w_.begin_untagged().number(selected_->view.exists()).atom("EXISTS").end_line();
    w_.begin_untagged().number(recent_count()).atom("RECENT").end_line();
  }
}

Result<std::vector<uint32_t>> Session::resolve_set(const imap::SequenceSet& set,
                                                  bool by_uid) const {
  if (set.saved_result) {
    std::vector<uint32_t> out;
    for (store::Uid uid : saved_search_)
      if (auto seq = selected_->view.seq_of(uid)) out.push_back(*seq);
    return out;
  }
  return selected_->view.resolve(set, by_uid);
}

void Session::overlay_seen(store::MessageRecord& r) const {
  if (!selected_ || !selected_->per_user_seen) return;
  if (selected_->seen_uids.contains(r.uid)) r.flags.system |= store::kFlagSeen;
  else r.flags.system &= ~uint32_t(store::kFlagSeen);
}

awaitable<Status> Session::save_seen() {
  store::SeenState st;
  st.lastread = st.lastchange = static_cast<int64_t>(std::time(nullptr));
  st.lastuid = selected_->view.max_uid();
  st.seenuids = selected_->seen_uids.to_string();
  const std::string user = identity_->userid, name = selected_->info.name;
  co_return co_await blocking([&] { return store_.set_seen(user, name, st); });
}

void Session::deselect() {
  if (selected_ && selected_->watching) store_.unwatch(selected_->watch_id);
  selected_.reset();
  saved_search_.clear();
  if (state_ == SessionState::Selected) state_ = SessionState::Authenticated;
}

}  // namespace cyr::imapd
