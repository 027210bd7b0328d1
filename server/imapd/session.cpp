// The session loop and the dispatcher. See session.h.
#include "server/imapd/session.h"

#include <fcntl.h>
#include <unistd.h>

#include <utility>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <filesystem>

#include "server/imap/command_table.h"
#include "store/base/log.h"

namespace cyr::imapd {

namespace asio = boost::asio;
using imap::StatusKind;

namespace {

imap::ParserLimits limits_for(const ImapdSettings& s) {
  imap::ParserLimits l;
  l.max_line = s.max_line;
  l.max_message = s.max_message;
  return l;
}

// Chunk size for streaming an APPEND literal into its temporary file.
constexpr size_t kMessageChunk = 256 * 1024;

}  // namespace

Session::Session(std::shared_ptr<ImapdService> service,
                 std::shared_ptr<server::net::Connection> conn)
    : service_(std::move(service)),
      conn_(std::move(conn)),
      store_(*service_->store),
      settings_(service_->settings),
      sid_(conn_->sid()),
      parser_(limits_for(service_->settings)),
      w_(out_),
      wake_(std::make_shared<asio::steady_timer>(conn_->get_executor())) {}

Session::~Session() { end_session_cleanup(); }

void Session::end_session_cleanup() {
  deselect();
  drop_append_bodies();
  if (counted_login_ && identity_) {
    service_->logins.remove(identity_->userid);
    counted_login_ = false;
  }
  if (!counted_host_.empty()) {
    service_->host_logins.remove(counted_host_);
    counted_host_.clear();
  }
}

awaitable<Status> Session::flush() {
  if (!out_.empty()) {
    conn_->write(out_);
    out_.clear();
  }
  co_return co_await conn_->flush();
}

void Session::say_bye(std::string_view text) {
  w_.untagged_status(StatusKind::Bye, {}, text);
}

Reply Session::error_reply(const Error& e, const char* what) {
  if (e.code == Errc::Io || e.code == Errc::Internal || e.code == Errc::Corrupted ||
      e.code == Errc::Fenced)
    CYR_LOG(Error, sid_, "%s failed: %s", what, e.describe().c_str());
  else
    CYR_LOG(Debug, sid_, "%s refused: %s", what, e.describe().c_str());
  imap::ImapError ie = imap::imap_error_for(e);
  return Reply{ie.kind, ie.code, ie.text};
}

// Reads the next line (or literal) and feeds it to the parser. False when the
// session must end (the reason has been answered already).
awaitable<bool> Session::read_more(bool at_command_start) {
  auto mode = at_command_start ? server::net::Connection::ReadMode::Idle
                               : server::net::Connection::ReadMode::InCommand;
  // The parser enforces the command bound; the connection's bound only keeps
  // a single line from growing without limit.
  auto line = co_await conn_->read_line(settings_.max_line + 1024, mode);
  // Replication commands of an admin (X-REPLICATION) carry csync payloads the
  // IMAP parser does not know (file literals): they bypass it, one command
  // after the other, until an ordinary line comes.
  while (line && at_command_start && replication_allowed()) {
    std::string verb = replication_verb_of(*line);
    if (verb.empty()) break;
    if (!replication_) replication_ = (*replication_factory())(service_->ctx, store_, sid_);
    size_t sp = line->find(' ');
    std::string tag = line->substr(0, sp);
    size_t rest_at = sp + 1 + verb.size();
    std::string rest = rest_at < line->size() ? line->substr(rest_at + 1) : std::string();
    if (!out_.empty() && !co_await flush()) co_return false;
    if (!co_await replication_->run(tag, verb, std::move(rest), *conn_)) co_return false;
    if (!co_await flush()) co_return false;
    line = co_await conn_->read_line(settings_.max_line + 1024, mode);
  }
  if (!line) {
    switch (conn_->end_reason()) {
      case server::net::EndReason::Shutdown:
        say_bye("Server shutting down");
        break;
      case server::net::EndReason::IdleTimeout:
        say_bye("Autologout; idle for too long");
        break;
      case server::net::EndReason::LineTooLong:
        // The connection skipped the line; start the parser afresh.
        parser_ = imap::Parser(limits_for(settings_));
        w_.untagged_status(StatusKind::Bad, {}, "Line too long");
        co_return true;
      default:
        co_return false;  // EOF or I/O error: nobody to talk to
    }
    (void)co_await flush();
    co_return false;
  }
  if (at_command_start) {
    size_t sp = line->find(' ');
    command_tag_ = line->substr(0, sp == std::string::npos ? line->size() : sp);
  }
  line->append("\r\n");
  parser_.feed(*line);
  co_return true;
}

// Abandons the APPEND being read: the parser skips the rest of it (a
// synchronizing literal is never sent), so no Request follows.
void Session::refuse_append(imap::ResponseCode code, std::string text) {
  parser_.cancel_command();
  drop_append_bodies();
  w_.tagged(command_tag_, StatusKind::No, code, text);
  at_command_start_ = true;
}

void Session::drop_append_bodies() {
  for (const auto& b : append_bodies_)
    if (!b.file.empty()) ::unlink(b.file.c_str());
  append_bodies_.clear();
  append_has_nul_.clear();
  append_memory_ = 0;
}

std::filesystem::path Session::staging_dir() const {
  return std::filesystem::path(service_->ctx->conf->get_string("configdirectory")) / "tmp";
}

Result<std::pair<int, std::string>> Session::create_staging_file(const std::filesystem::path& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  std::string tmpl = (dir / "imapd-append.XXXXXX").string();
  int fd = ::mkostemp(tmpl.data(), O_CLOEXEC);
  if (fd < 0) return Error(Errc::Io, "Cannot create a temporary file", dir.string() + ": " + strerror(errno));
  return std::make_pair(fd, std::move(tmpl));
}

// Receives an APPEND message literal, refusing it (NO [TOOBIG]) when it is
// larger than maxmessagesize. A small one (the common case: kMemoryLiteralMax,
// within kMemoryAppendMax for the whole command and the service's
// AppendMemory budget for all sessions) is kept in memory and the
// store writes it to its partition on the blocking pool; a larger one is
// streamed to a temporary file, so that no session holds a big message in
// memory. Creating and writing that file blocks on the disk, so it runs on
// the blocking pool too, one read chunk at a time: never on an I/O thread.
awaitable<bool> Session::receive_message(const imap::MessageLiteral& lit) {
  if (lit.index == 0) drop_append_bodies();
  if (lit.size > settings_.max_message) {
    refuse_append(imap::ResponseCode::too_big(),
                  "Message too big (maxmessagesize " + std::to_string(settings_.max_message) + ")");
    co_return true;
  }
  struct FdGuard {
    int fd = -1;
    ~FdGuard() {
      if (fd >= 0) ::close(fd);
    }
  } file;
  AppendBody body;
  if (lit.size <= kMemoryLiteralMax && append_memory_ + lit.size <= kMemoryAppendMax &&
      service_->append_memory.try_take(lit.size)) {
    body.lease = MemoryLease(&service_->append_memory, lit.size);
    body.bytes.reserve(static_cast<size_t>(lit.size));
    append_memory_ += lit.size;
  } else {
    auto dir = staging_dir();
    // The lambdas handed to the pool are named variables, not temporaries
    // in the co_await expression: with GCC 12 a temporary lambda with
    // init-captures there is destroyed while still in use (valgrind:
    // invalid reads of a freed capture).
    auto create = [dir]() { return create_staging_file(dir); };
    auto made = co_await blocking(std::move(create));
    if (!made) {
      CYR_LOG(Error, sid_, "APPEND: %s", made.error().describe().c_str());
      refuse_append(imap::ResponseCode::server_bug(), "Cannot store message now");
      co_return true;
    }
    file.fd = made->first;
    body.file = std::move(made->second);
  }
  append_bodies_.push_back(std::move(body));
  append_has_nul_.push_back(false);
  AppendBody& into = append_bodies_.back();
  if (lit.synchronizing) {
    w_.continuation("Ready for literal data");
    if (!co_await flush()) co_return false;
  }
  bool write_failed = false;
  uint64_t left = lit.size;
  while (left > 0) {
    auto chunk = co_await conn_->read_exact(static_cast<size_t>(std::min<uint64_t>(left, kMessageChunk)));
    if (!chunk) co_return false;
    left -= chunk->size();
    parser_.feed(*chunk);
    // The parser's views last until its next feed; a file's piece is
    // copied out to be written on the pool.
    std::string piece;
    for (;;) {
      imap::ParseResult ev = parser_.next();
      auto* data = std::get_if<imap::MessageData>(&ev);
      if (!data) break;  // NeedMore: the chunk is used up
      if (data->bytes.find('\0') != std::string_view::npos) append_has_nul_.back() = true;
      if (file.fd < 0) into.bytes.append(data->bytes);
      else if (!write_failed) piece.append(data->bytes);
      if (data->last) break;
    }
    if (!piece.empty()) {
      auto write = [fd = file.fd, bytes = std::make_shared<std::string>(std::move(piece))]() -> Result<bool> {
        size_t done = 0;
        while (done < bytes->size()) {
          ssize_t n = ::write(fd, bytes->data() + done, bytes->size() - done);
          if (n < 0 && errno == EINTR) continue;
          if (n <= 0) return false;
          done += static_cast<size_t>(n);
        }
        return true;
      };
      auto wrote = co_await blocking(std::move(write));
      if (!wrote || !*wrote) write_failed = true;
    }
  }
  if (lit.size == 0) {
    imap::ParseResult ev = parser_.next();  // the empty, last MessageData
    (void)ev;
  }
  if (write_failed) {
    CYR_LOG(Error, sid_, "APPEND: write to %s failed", into.file.c_str());
    refuse_append(imap::ResponseCode::server_bug(), "Cannot store message now");
  }
  co_return true;
}

awaitable<void> Session::run() {
  conn_->set_idle_timeout(settings_.timeout);
  {
    std::string greeting = "[CAPABILITY";
    for (const auto& c : capabilities()) greeting += " " + c;
    greeting += "]";
    std::string text = settings_.serverinfo
                           ? settings_.servername + " Cyrus IMAP (HA) server ready"
                           : "server ready";
    out_ += "* OK " + greeting + " " + text + "\r\n";
  }
  if (!co_await flush()) co_return;

  while (state_ != SessionState::Logout) {
    imap::ParseResult ev = parser_.next();
    if (std::holds_alternative<imap::NeedMore>(ev)) {
      if (!out_.empty() && !co_await flush()) break;
      if (!co_await read_more(at_command_start_)) break;
      // A line was read: unless it completes a command, we are inside one.
      at_command_start_ = false;
      continue;
    }
    if (auto* lit = std::get_if<imap::NeedLiteral>(&ev)) {
      // The parser bounds literal sizes itself (a too-big literal is a
      // ParseError, never a NeedLiteral).
      w_.continuation("Ready for literal data");
      if (!co_await flush()) break;
      auto bytes = co_await conn_->read_exact(static_cast<size_t>(lit->size));
      if (!bytes) break;
      parser_.feed(*bytes);
      continue;
    }
    if (auto* msg = std::get_if<imap::MessageLiteral>(&ev)) {
      if (!co_await receive_message(*msg)) break;
      continue;
    }
    if (std::holds_alternative<imap::MessageData>(ev)) continue;  // consumed in receive_message
    if (auto* req = std::get_if<imap::Request>(&ev)) {
      at_command_start_ = true;
      co_await dispatch(*req);
      if (!co_await flush()) break;
      continue;
    }
    if (auto* err = std::get_if<imap::ParseError>(&ev)) {
      at_command_start_ = true;
      drop_append_bodies();
      imap::ResponseCode code = err->code.empty() ? imap::ResponseCode()
                                                  : imap::ResponseCode::named(err->code);
      if (err->kind == imap::ParseError::Kind::Bye) {
        say_bye(err->text);
        (void)co_await flush();
        break;
      }
      StatusKind kind = err->kind == imap::ParseError::Kind::No ? StatusKind::No : StatusKind::Bad;
      if (err->tag == "*") w_.untagged_status(kind, code, err->text);
      else w_.tagged(err->tag, kind, code, err->text);
      continue;
    }
    // A ContinuationLine outside IDLE/AUTHENTICATE cannot happen: the
    // handlers read those lines themselves.
    at_command_start_ = true;
  }
  (void)co_await flush();
  end_session_cleanup();
}

awaitable<bool> Session::still_allowed() {
  if (!identity_ || state_ == SessionState::NotAuthenticated || !deny_recheck_.due()) co_return true;
  auto message = co_await deny_recheck_.denied(*service_->ctx->blocking, service_->auth, client_info(), *identity_);
  if (!message) co_return true;
  CYR_LOG(Notice, sid_, "%s: access denied by cyr_deny since login; session ended", identity_->userid.c_str());
  w_.untagged_status(StatusKind::Bye, imap::ResponseCode::alert(), *message);
  state_ = SessionState::Logout;
  co_return false;
}

awaitable<void> Session::dispatch(const imap::Request& req) {
  if (!co_await still_allowed()) co_return;
  const imap::Command& cmd = req.command;
  const imap::CommandSpec& spec = imap::command_spec(cmd.id);
  uint32_t state_bit = state_ == SessionState::NotAuthenticated ? imap::kNotAuthenticated
                       : state_ == SessionState::Authenticated  ? imap::kAuthenticated
                                                                : imap::kSelected;
  Reply reply;
  if (!(spec.flags & state_bit)) {
    const char* why = state_ == SessionState::NotAuthenticated ? "Please login first"
                      : state_ == SessionState::Selected      ? "Not allowed now"
                      : (spec.flags & imap::kSelected)        ? "Please select a mailbox first"
                                                              : "Already logged in";
    reply = Reply::bad(why);
  } else if (imap::command_writes(cmd) && is_replica() &&
             !(cmd.id == imap::CommandId::Close && selected_ && selected_->read_only) &&
             !(cmd.id == imap::CommandId::Fetch)) {
    // The write fence, in one place. A FETCH that would set \Seen is let
    // through: on a replica the mailbox is read-only, so it sets nothing.
    reply = Reply::no(std::string("This server is a replica and does not accept changes; "
                                  "use the primary for ") + std::string(spec.name),
                      imap::ResponseCode::unavailable());
  } else {
    // A command that shows message state answers from a fresh view: flag
    // changes and new messages made elsewhere are merged (and reported)
    // first, so its own FETCH responses never show flags older than what
    // another session already committed (Cyrus does the same). Expunges
    // wait, as RFC 3501 7.4.1 requires during these commands.
    if (selected_ && state_ == SessionState::Selected &&
        (cmd.id == imap::CommandId::Fetch || cmd.id == imap::CommandId::Store ||
         cmd.id == imap::CommandId::Search || cmd.id == imap::CommandId::Sort ||
         cmd.id == imap::CommandId::Thread))
      co_await report_changes(false);
    // The mailbox may have been deleted under us: report_changes said BYE.
    if (state_ == SessionState::Logout) co_return;
    reply = co_await execute(req);
  }
  // The literals an APPEND or REPLACE staged are the handler's to take; one
  // refused before it took them (wrong state, replica, read-only mailbox)
  // must not keep their memory and files until the next APPEND.
  drop_append_bodies();
  // Changes made elsewhere are reported after the command's own responses,
  // before its tagged completion (RFC 3501 7.4.1: EXPUNGE is not allowed
  // after FETCH, STORE or SEARCH by sequence number).
  if (selected_ && state_ == SessionState::Selected && cmd.id != imap::CommandId::Idle) {
    bool seq_cmd = !cmd.uid && (cmd.id == imap::CommandId::Fetch ||
                                cmd.id == imap::CommandId::Store ||
                                cmd.id == imap::CommandId::Search ||
                                cmd.id == imap::CommandId::Sort ||
                                cmd.id == imap::CommandId::Thread);
    co_await report_changes(!seq_cmd);
  }
  if (pending_no_tagged_) {
    pending_no_tagged_ = false;
    co_return;
  }
  if (state_ == SessionState::Logout && cmd.id != imap::CommandId::Logout) co_return;
  w_.tagged(req.tag, reply.kind, reply.code, reply.text);
}

namespace {
awaitable<Reply> check_reply() { co_return Reply::ok("Check completed"); }
awaitable<Reply> unsupported_reply() { co_return Reply::bad("Command not supported by this server"); }
}  // namespace

// Not a coroutine: returns the handler's (lazily started) coroutine, which
// the dispatcher awaits at once while `req` is alive. (GCC 12 miscompiles
// "co_return co_await" inside a switch in a member coroutine.)
awaitable<Reply> Session::execute(const imap::Request& req) {
  using imap::CommandId;
  const imap::Command& c = req.command;
  switch (c.id) {
    case CommandId::Capability: return cmd_capability();
    case CommandId::Noop: return cmd_noop();
    case CommandId::Logout: return cmd_logout();
    case CommandId::Id: return cmd_id(c.as<imap::IdArgs>());
    case CommandId::StartTls: return cmd_starttls(req.tag);
    case CommandId::Login: return cmd_login(c.as<imap::LoginArgs>());
    case CommandId::Authenticate:
      return cmd_authenticate(c.as<imap::AuthenticateArgs>());
    case CommandId::Compress: return cmd_compress(req.tag);
    case CommandId::Enable: return cmd_enable(c.as<imap::EnableArgs>());
    case CommandId::Namespace: return cmd_namespace();
    case CommandId::Unauthenticate: return cmd_unauthenticate();
    case CommandId::Create: return cmd_create(c.as<imap::CreateArgs>());
    case CommandId::Delete: return cmd_delete(c.as<imap::MailboxArgs>());
    case CommandId::Rename: return cmd_rename(c.as<imap::RenameArgs>());
    case CommandId::Subscribe: return cmd_subscribe(c.as<imap::MailboxArgs>(), true);
    case CommandId::Unsubscribe:
      return cmd_subscribe(c.as<imap::MailboxArgs>(), false);
    case CommandId::List: return cmd_list(c.as<imap::ListArgs>(), ListVerb::List);
    case CommandId::Lsub: return cmd_list(c.as<imap::ListArgs>(), ListVerb::Lsub);
    case CommandId::Xlist: return cmd_list(c.as<imap::ListArgs>(), ListVerb::Xlist);
    case CommandId::Status: return cmd_status(c.as<imap::StatusArgs>());
    case CommandId::Select: return cmd_select(c.as<imap::SelectArgs>(), false);
    case CommandId::Examine: return cmd_select(c.as<imap::SelectArgs>(), true);
    case CommandId::Check: return check_reply();
    case CommandId::Close: return cmd_close(true);
    case CommandId::Unselect: return cmd_close(false);
    case CommandId::Expunge: return cmd_expunge(c);
    case CommandId::Idle: return cmd_idle(req.tag);
    case CommandId::Append: return cmd_append(c.as<imap::AppendArgs>());
    case CommandId::Store: return cmd_store(c.as<imap::StoreArgs>(), c.uid);
    case CommandId::Copy: return cmd_copy(c.as<imap::CopyArgs>(), c.uid, false);
    case CommandId::Move: return cmd_copy(c.as<imap::CopyArgs>(), c.uid, true);
    case CommandId::Replace: return cmd_replace(c.as<imap::ReplaceArgs>(), c.uid);
    case CommandId::Fetch: return cmd_fetch(c.as<imap::FetchArgs>(), c.uid);
    case CommandId::Search:
      return cmd_search(c.as<imap::SearchArgs>(), c.uid, req.tag);
    case CommandId::Sort: return cmd_sort(c.as<imap::SortArgs>(), c.uid, req.tag);
    case CommandId::Thread: return cmd_thread(c.as<imap::ThreadArgs>(), c.uid);
    case CommandId::GetAcl: return cmd_getacl(c.as<imap::MailboxArgs>());
    case CommandId::SetAcl: return cmd_setacl(c.as<imap::SetAclArgs>(), false);
    case CommandId::DeleteAcl: return cmd_setacl(c.as<imap::SetAclArgs>(), true);
    case CommandId::ListRights: return cmd_listrights(c.as<imap::SetAclArgs>());
    case CommandId::MyRights: return cmd_myrights(c.as<imap::MailboxArgs>());
    case CommandId::GetQuota: return cmd_getquota(c.as<imap::QuotaRootArgs>());
    case CommandId::GetQuotaRoot: return cmd_getquotaroot(c.as<imap::MailboxArgs>());
    case CommandId::SetQuota: return cmd_setquota(c.as<imap::SetQuotaArgs>());
    case CommandId::GetMetadata: return cmd_getmetadata(c.as<imap::GetMetadataArgs>());
    case CommandId::SetMetadata: return cmd_setmetadata(c.as<imap::SetMetadataArgs>());
    case CommandId::SyncApply:
    case CommandId::SyncGet:
    case CommandId::SyncRestart:
      break;
  }
  return unsupported_reply();
}

}  // namespace cyr::imapd
