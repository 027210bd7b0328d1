// Session: one IMAP client connection, from greeting to LOGOUT.
//
// run() is a straight-line coroutine: read a line, feed the parser
// (server/imap/parser.h), answer literal continuations, stream APPEND
// messages to temporary files, and hand each complete Request to
// dispatch(). dispatch() is the one place where a command is gated, in this
// order: connection state (command table flags), the write fence (a command
// that writes, on a replica: NO [UNAVAILABLE]), then the handler. Handlers
// (cmd_*.cpp, one file per command group) take typed arguments and return
// a Reply; store errors become IMAP responses only through
// imap::imap_error_for(). Store calls run on the blocking pool.
//
// The selected mailbox is a MailboxView; a store watcher marks it dirty
// when another session or a delivery changes the mailbox, and the session
// reports the changes (EXISTS, FETCH FLAGS, EXPUNGE / VANISHED) at the end
// of a command where RFC 3501 allows, and at once during IDLE.
//
// Ownership: the ServiceHandler creates one Session per connection and
// keeps it alive until run() returns. All members are used on the
// connection's strand only, except the watcher's atomic flag and timer
// wake-up, which the store calls from its committing thread.
#pragma once

#include <utility>
#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <memory>
#include <filesystem>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "server/auth/deny_recheck.h"
#include "server/imap/command.h"
#include "server/imap/parser.h"
#include "server/imap/response.h"
#include "server/imapd/imapd_service.h"
#include "server/imapd/mailbox_view.h"
#include "server/imapd/metadata.h"
#include "server/imapd/replication_hook.h"
#include "server/net/connection.h"
#include "store/mail/acl.h"
#include "store/mail/mboxname.h"

namespace cyr::imapd {

template <class T>
using awaitable = boost::asio::awaitable<T>;

// The status a handler ends with; the dispatcher writes it as the tagged line.
struct Reply {
  imap::StatusKind kind = imap::StatusKind::Ok;
  imap::ResponseCode code;
  std::string text;

  static Reply ok(std::string text, imap::ResponseCode code = {}) {
    return Reply{imap::StatusKind::Ok, std::move(code), std::move(text)};
  }
  static Reply no(std::string text, imap::ResponseCode code = {}) {
    return Reply{imap::StatusKind::No, std::move(code), std::move(text)};
  }
  static Reply bad(std::string text, imap::ResponseCode code = {}) {
    return Reply{imap::StatusKind::Bad, std::move(code), std::move(text)};
  }
};

enum class SessionState { NotAuthenticated, Authenticated, Selected, Logout };

// Which of the listing commands cmd_list answers: they share one walk.
enum class ListVerb { List, Lsub, Xlist };

// The METADATA entries of one mailbox (or the server) that a request asked
// for, as GETMETADATA answers them (see Session::collect_metadata).
struct MetadataAnswer {
  std::vector<std::pair<std::string, std::optional<std::string>>> entries;  // NIL: no such entry
  uint64_t longest_omitted = 0;  // the longest value MAXSIZE left out (0: none)
};

// The selected mailbox.
struct Selected {
  store::MailboxInfo info;      // as of SELECT (name updated on rename)
  std::string external_name;
  bool read_only = false;
  mail::Rights rights = 0;
  MailboxView view;
  store::WatchId watch_id = 0;
  bool watching = false;
  // \Seen is per user on mailboxes the user does not own (Cyrus seen db):
  // seen_uids then overrides the records' shared \Seen bit.
  bool per_user_seen = false;
  store::UidSet seen_uids;
  // \Recent in this session (Cyrus semantics): the messages above the user's
  // recent watermark (SeenState::lastuid) when this session first saw them.
  // A SELECT (not EXAMINE) then raises the watermark, so a later selection
  // by the same user does not see them as recent again.
  store::UidSet recent_uids;
  // The keywords the client was told in FLAGS and PERMANENTFLAGS: SELECT's,
  // plus those announced since (announce_keywords). Bounded.
  std::vector<std::string> keywords;
};

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(std::shared_ptr<ImapdService> service, std::shared_ptr<server::net::Connection> conn);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  awaitable<void> run();

 private:
  // ---- the loop (session.cpp)
  awaitable<bool> read_more(bool at_command_start);
  awaitable<bool> receive_message(const imap::MessageLiteral& lit);
  void refuse_append(imap::ResponseCode code, std::string text);
  // Where APPEND literals and CATENATE results are staged (configdirectory/tmp).
  std::filesystem::path staging_dir() const;
  // A new temporary file there: its fd and path. Blocking: on the pool.
  static Result<std::pair<int, std::string>> create_staging_file(const std::filesystem::path& dir);
  awaitable<void> dispatch(const imap::Request& req);
  awaitable<Reply> execute(const imap::Request& req);
  Reply error_reply(const Error& e, const char* what);
  awaitable<Status> flush();
  void say_bye(std::string_view text);
  // False (BYE written, state Logout) when cyr_deny has denied the logged-in
  // user this service since the last check (auth::DenyRecheck).
  awaitable<bool> still_allowed();
  awaitable<bool> protected_special_use(const std::string& internal);
  void end_session_cleanup();

  template <class F>
  auto blocking(F fn) { return service_->ctx->blocking->run(std::move(fn)); }

  // ---- helpers (session_util.cpp)
  std::vector<std::string> capabilities() const;
  bool is_replica() const;
  // An admin, logged in, with a replication engine installed (X-REPLICATION).
  bool replication_allowed() const;
  Result<std::string> to_internal(const std::string& external) const;
  std::string to_external(const std::string& internal) const;
  mail::Rights rights_on(const store::MailboxInfo& info) const;
  bool owns(std::string_view internal) const;
  // lookup + rights; NotFound when the user may not even see it.
  awaitable<Result<store::MailboxInfo>> lookup_visible(const std::string& internal);
  auth::ClientInfo client_info() const;
  awaitable<void> sleep_for(std::chrono::milliseconds d);

  // Untagged updates for the selected mailbox.
  void on_mailbox_changed();
  awaitable<void> report_changes(bool allow_expunge);
  void write_expunges(const ViewUpdate& u);
  void write_flags_fetch(uint32_t seq, bool with_uid);
  // FLAGS and PERMANENTFLAGS of the selected mailbox (system flags and
  // Selected::keywords).
  void write_flags_list();
  void write_permanent_flags();
  // Before a FETCH shows `r`'s flags: a keyword the client was not told of
  // yet is announced with new FLAGS and PERMANENTFLAGS (RFC 3501 7.2.6).
  void announce_keywords(const store::MessageRecord& r);
  // Adds `r`'s keywords not in Selected::keywords yet (bounded); true if any.
  bool note_keywords(const store::MessageRecord& r);
  // The response code for an APPEND/COPY/MOVE target that does not exist
  // (or that the user may not see): TRYCREATE only where the user could
  // create it (their own folders; anywhere for an admin), else NONEXISTENT
  // (RFC 3501 6.3.11: TRYCREATE says that a CREATE might succeed).
  imap::ResponseCode missing_target_code(const std::string& internal) const;
  Result<std::vector<uint32_t>> resolve_set(const imap::SequenceSet& set, bool by_uid) const;
  void deselect();
  // Per-user \Seen (see Selected::per_user_seen).
  void overlay_seen(store::MessageRecord& r) const;
  awaitable<Status> save_seen();
  // \Recent: marks the view's messages above max(known_uid, watermark) as
  // recent here and, unless read-only, raises the watermark to the view's
  // highest UID. Returns true if any message became recent.
  awaitable<bool> claim_recent(store::Uid known_uid);
  uint32_t recent_count() const;
  // The flag atoms of a message as this session shows them (\Recent
  // included), without the parentheses.
  void write_flags_shown(const store::MessageRecord& r);

  // ---- handlers, one file per group
  // cmd_auth.cpp
  awaitable<Reply> cmd_capability();
  awaitable<Reply> cmd_noop();
  awaitable<Reply> cmd_logout();
  awaitable<Reply> cmd_id(const imap::IdArgs& a);
  awaitable<Reply> cmd_starttls(const std::string& tag);
  awaitable<Reply> cmd_compress(const std::string& tag);
  awaitable<Reply> cmd_login(const imap::LoginArgs& a);
  awaitable<Reply> cmd_authenticate(const imap::AuthenticateArgs& a);
  awaitable<Reply> cmd_enable(const imap::EnableArgs& a);
  awaitable<Reply> cmd_namespace();
  awaitable<Reply> cmd_unauthenticate();
  // Drops everything of the logged-in user (UNAUTHENTICATE): identity,
  // namespace, selection and its watcher, ENABLEd extensions, "$", the
  // replication engine, the login count.
  void forget_login();
  Reply finish_login(const auth::AuthIdentity& id);
  // cmd_mailbox.cpp
  awaitable<Reply> cmd_create(const imap::CreateArgs& a);
  awaitable<Reply> cmd_delete(const imap::MailboxArgs& a);
  awaitable<Reply> cmd_rename(const imap::RenameArgs& a);
  awaitable<Reply> cmd_subscribe(const imap::MailboxArgs& a, bool on);
  awaitable<Reply> cmd_list(const imap::ListArgs& a, ListVerb verb);
  awaitable<Reply> cmd_status(const imap::StatusArgs& a);
  awaitable<Status> write_status(const store::MailboxInfo& info, const std::string& external,
                                 uint32_t items);
  // cmd_select.cpp
  awaitable<Reply> cmd_select(const imap::SelectArgs& a, bool examine);
  awaitable<Reply> cmd_close(bool expunge);
  awaitable<Reply> cmd_expunge(const imap::Command& cmd);
  awaitable<Reply> cmd_idle(const std::string& tag);
  // cmd_append.cpp
  awaitable<Reply> cmd_append(const imap::AppendArgs& a);
  awaitable<Reply> cmd_replace(const imap::ReplaceArgs& a, bool by_uid);
  // The messages of an APPEND or REPLACE (their literals were received while
  // the command was read; CATENATE parts are assembled here) into the store
  // in one transaction. A refusal is the Reply to answer with.
  struct Appended {
    std::string mailbox;  // internal name
    store::AppendResult res;
  };
  awaitable<std::variant<Reply, Appended>> append_received(const imap::AppendArgs& a,
                                                           const char* what);
  // A CATENATE URL part's data, or the NO [BADURL] to answer. Blocking.
  struct UrlData {
    std::optional<Reply> refusal;
    std::string bytes;  // a section's data
    // No section: `length` octets from `offset` of the message file, which
    // the caller copies (a whole message is not read into memory).
    bool from_file = false;
    std::string mailbox;
    store::Uid uid = 0;
    uint64_t offset = 0, length = 0;
  };
  Result<UrlData> read_catenate_url(const std::string& url);
  // cmd_store.cpp
  awaitable<Reply> cmd_store(const imap::StoreArgs& a, bool by_uid);
  awaitable<Reply> cmd_copy(const imap::CopyArgs& a, bool by_uid, bool move);
  // cmd_fetch.cpp
  awaitable<Reply> cmd_fetch(const imap::FetchArgs& a, bool by_uid);
  // cmd_search.cpp
  awaitable<Reply> cmd_search(const imap::SearchArgs& a, bool by_uid, const std::string& tag);
  // The indexes (ascending) of `records` that match `key`, shared by SEARCH,
  // SORT and THREAD. Blocking (reads message files when the key needs
  // their content): run on the blocking pool.
  static std::vector<uint32_t> matching_records(store::Store& st, const std::string& mailbox,
                                                const std::vector<store::MessageRecord>& records,
                                                const imap::SearchKey& key,
                                                const std::vector<store::Uid>& saved,
                                                const store::UidSet& recent);
  // The answers SEARCH and SORT share. `nums` are in answer order; `modseq`
  // is the highest of the matches when CONDSTORE asked for it (RFC 7162
  // 3.1.5: not sent for an empty result). "* SEARCH|SORT n..." [(MODSEQ m)]:
  void write_number_list(std::string_view verb, const std::vector<uint32_t>& nums,
                         std::optional<store::ModSeq> modseq);
  // "* ESEARCH (TAG t) [UID] MIN MAX ALL COUNT [MODSEQ]" for the RETURN
  // options in `ret`. ALL keeps the answer order for ESORT (RFC 5267 3.2),
  // and is a set for ESEARCH.
  void write_esearch(const std::string& tag, bool by_uid, uint32_t ret, const std::vector<uint32_t>& nums,
                     bool keep_order, std::optional<store::ModSeq> modseq);
  // cmd_sort.cpp
  awaitable<Reply> cmd_sort(const imap::SortArgs& a, bool by_uid, const std::string& tag);
  awaitable<Reply> cmd_thread(const imap::ThreadArgs& a, bool by_uid);
  // cmd_acl.cpp
  awaitable<Reply> cmd_getacl(const imap::MailboxArgs& a);
  awaitable<Reply> cmd_setacl(const imap::SetAclArgs& a, bool remove);
  awaitable<Reply> cmd_listrights(const imap::SetAclArgs& a);
  awaitable<Reply> cmd_myrights(const imap::MailboxArgs& a);
  // "* MYRIGHTS name rights": MYRIGHTS's answer, also LIST RETURN (MYRIGHTS)'s.
  void write_myrights(std::string_view external, const store::MailboxInfo& info);
  awaitable<Reply> cmd_getquota(const imap::QuotaRootArgs& a);
  awaitable<Reply> cmd_getquotaroot(const imap::MailboxArgs& a);
  awaitable<Reply> cmd_setquota(const imap::SetQuotaArgs& a);
  void write_quota(const store::QuotaInfo& q);
  // cmd_metadata.cpp
  awaitable<Reply> cmd_getmetadata(const imap::GetMetadataArgs& a);
  awaitable<Reply> cmd_setmetadata(const imap::SetMetadataArgs& a);
  // The entries `wanted` (depth "0", "1" or "infinity"; values longer than
  // maxsize left out) of mailbox `info`, or of the server when info is
  // null, as this user may see them: GETMETADATA's answer, also LIST RETURN
  // (METADATA)'s. The caller has checked the user's rights.
  awaitable<Result<MetadataAnswer>> collect_metadata(const store::MailboxInfo* info,
                                                     const std::vector<MetadataEntry>& wanted,
                                                     const std::string& depth,
                                                     std::optional<uint64_t> maxsize);

  std::shared_ptr<ImapdService> service_;
  std::shared_ptr<server::net::Connection> conn_;
  store::Store& store_;
  const ImapdSettings& settings_;
  std::string sid_;
  imap::Parser parser_;
  std::string out_;
  imap::ResponseWriter w_;

  // The user's state, from login to LOGOUT or UNAUTHENTICATE: a member
  // added here is reset in forget_login() too.
  SessionState state_ = SessionState::NotAuthenticated;
  std::optional<auth::AuthIdentity> identity_;
  std::optional<mail::Namespace> ns_;
  bool counted_login_ = false;
  std::string counted_host_;  // counted in host_logins (maxlogins_per_host) under this address
  // cyr_deny for a session already logged in (before a command and during
  // IDLE): a denied user's session ends with BYE [ALERT].
  auth::DenyRecheck deny_recheck_;
  bool condstore_ = false;  // ENABLE CONDSTORE, or a CONDSTORE-using command
  bool qresync_ = false;    // ENABLE QRESYNC
  std::optional<Selected> selected_;
  std::vector<store::Uid> saved_search_;  // "$" (RFC 5182)

  // The share of the service's AppendMemory budget an APPEND body held in
  // memory takes, given back when the body goes.
  class MemoryLease {
   public:
    MemoryLease() = default;
    MemoryLease(AppendMemory* pool, uint64_t n) : pool_(pool), n_(n) {}
    MemoryLease(MemoryLease&& o) noexcept : pool_(std::exchange(o.pool_, nullptr)), n_(o.n_) {}
    MemoryLease& operator=(MemoryLease&& o) noexcept {
      if (this != &o) {
        release();
        pool_ = std::exchange(o.pool_, nullptr);
        n_ = o.n_;
      }
      return *this;
    }
    ~MemoryLease() { release(); }

   private:
    void release() {
      if (pool_) pool_->give_back(n_);
      pool_ = nullptr;
    }
    AppendMemory* pool_ = nullptr;
    uint64_t n_ = 0;
  };
  // An APPEND message of the command being read: kept in memory when small
  // (see Session::receive_message), else streamed to a temporary file.
  struct AppendBody {
    std::string file;   // temporary file, or "" when in memory
    std::string bytes;  // the message, when in memory
    MemoryLease lease;  // when in memory
  };
  std::vector<AppendBody> append_bodies_;
  // Literals of up to kMemoryLiteralMax each and kMemoryAppendMax together
  // per command stay in memory, while the service's AppendMemory budget
  // lasts; the others go to temporary files.
  static constexpr uint64_t kMemoryLiteralMax = 256 * 1024;
  static constexpr uint64_t kMemoryAppendMax = 1024 * 1024;
  uint64_t append_memory_ = 0;  // bytes of append_bodies_ held in memory
  void drop_append_bodies();
  // Per file: the message holds a NUL octet (allowed only in a literal8).
  std::vector<bool> append_has_nul_;
  bool at_command_start_ = true;
  bool pending_no_tagged_ = false;  // the handler sent its own tagged line (STARTTLS, COMPRESS)
  std::string command_tag_;  // tag of the command being read
  // X-REPLICATION: an admin session's replication engine, made at its first
  // SYNC* command (replication_hook.h).
  std::unique_ptr<ReplicationChannel> replication_;

  // Set from the store's committing thread; read on the strand.
  std::shared_ptr<std::atomic<bool>> dirty_ = std::make_shared<std::atomic<bool>>(false);
  std::shared_ptr<boost::asio::steady_timer> wake_;
};

}  // namespace cyr::imapd
