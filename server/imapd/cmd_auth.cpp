// Any-state and login commands: CAPABILITY NOOP LOGOUT ID STARTTLS LOGIN
// AUTHENTICATE UNAUTHENTICATE ENABLE NAMESPACE, and COMPRESS (which, like
// STARTTLS, changes the connection's layers).
#include "server/auth/base64.h"
#include "server/imap/parser_args.h"
#include "server/imapd/session.h"
#include "store/base/log.h"

namespace cyr::imapd {

using imap::ResponseCode;

awaitable<Reply> Session::cmd_capability() {
  w_.begin_untagged().atom("CAPABILITY");
  for (const auto& c : capabilities()) w_.atom(c);
  w_.end_line();
  co_return Reply::ok("Capability completed");
}

awaitable<Reply> Session::cmd_noop() {
  // Changes are reported by the dispatcher after every command.
  co_return Reply::ok("Noop completed");
}

awaitable<Reply> Session::cmd_logout() {
  say_bye("LOGOUT received");
  state_ = SessionState::Logout;
  co_return Reply::ok("Logout completed");
}

awaitable<Reply> Session::cmd_id(const imap::IdArgs& a) {
  if (a.params && a.params->size() > 30) co_return Reply::bad("Too many ID parameters");
  if (a.params) {
    std::string desc;
    for (const auto& [k, v] : *a.params) desc += " " + k + "=" + (v ? *v : "NIL");
    CYR_LOG(Info, sid_, "client id:%s", desc.c_str());
  }
  w_.begin_untagged().atom("ID");
  if (!settings_.imapidresponse) {
    w_.nil();
  } else {
    w_.begin_list().string("name").string("Cyrus IMAP (HA)").string("vendor").string("cyrus-ha");
    if (settings_.serverinfo) w_.string("version").string("0.1");
    w_.end_list();
  }
  w_.end_line();
  co_return Reply::ok("ID completed");
}

awaitable<Reply> Session::cmd_starttls(const std::string& tag) {
  if (conn_->is_tls()) co_return Reply::bad("Already using TLS");
  // Only after UNAUTHENTICATE can a compressed connection be here; TLS goes
  // below compression, never above it (RFC 4978 4), so it is refused before
  // the OK rather than failing after it.
  if (conn_->is_compressed()) co_return Reply::bad("TLS cannot start once COMPRESS is active");
  auto ctx = service_->ctx->tls_context ? service_->ctx->tls_context() : nullptr;
  if (!ctx) co_return Reply::no("TLS is not configured on this server");
  w_.tagged(tag, imap::StatusKind::Ok, {}, "Begin TLS negotiation now");
  if (!co_await flush()) {
    state_ = SessionState::Logout;
    co_return Reply::ok("");
  }
  Status st = co_await conn_->start_tls(ctx);
  if (!st) {
    CYR_LOG(Notice, sid_, "STARTTLS failed: %s", st.error().describe().c_str());
    state_ = SessionState::Logout;
  }
  // The tagged response was sent before the handshake; the dispatcher must
  // not send another. Logout state without BYE ends the session quietly on
  // failure; on success the session continues.
  pending_no_tagged_ = true;
  co_return Reply::ok("");
}

// RFC 4978. The parser accepted only DEFLATE (anything else is a BAD).
awaitable<Reply> Session::cmd_compress(const std::string& tag) {
  if (conn_->is_compressed())
    co_return Reply::no("Compression already active", ResponseCode::named("COMPRESSIONACTIVE"));
  // The OK and everything before it leave uncompressed; compression starts
  // with the next byte in each direction.
  w_.tagged(tag, imap::StatusKind::Ok, {}, "DEFLATE active");
  if (!co_await flush()) {
    state_ = SessionState::Logout;
    co_return Reply::ok("");
  }
  Status st = conn_->start_compress();
  if (!st) {
    // The client already compresses: nothing it sends can be read any more.
    CYR_LOG(Error, sid_, "COMPRESS failed: %s", st.error().describe().c_str());
    state_ = SessionState::Logout;
  } else {
    CYR_LOG(Info, sid_, "COMPRESS DEFLATE active");
  }
  pending_no_tagged_ = true;
  co_return Reply::ok("");
}

Reply Session::finish_login(const auth::AuthIdentity& id) {
  if (!service_->logins.try_add(id.userid, settings_.maxlogins_per_user)) {
    CYR_LOG(Notice, sid_, "login: %s refused: maxlogins_per_user=%lld reached", id.userid.c_str(),
            static_cast<long long>(settings_.maxlogins_per_user));
    return Reply::no("Too many open sessions for this user", ResponseCode::limit());
  }
  if (const std::string host = client_info().address; !service_->host_logins.try_add(host, settings_.maxlogins_per_host)) {
    service_->logins.remove(id.userid);
    CYR_LOG(Notice, sid_, "login: %s from %s refused: maxlogins_per_host=%lld reached", id.userid.c_str(),
            host.c_str(), static_cast<long long>(settings_.maxlogins_per_host));
    return Reply::no("Too many open sessions from this host", ResponseCode::limit());
  } else {
    counted_host_ = host;
  }
  counted_login_ = true;
  identity_ = id;
  deny_recheck_.checked_now();  // the login just checked it
  ns_.emplace(settings_.ns, id.userid, id.is_admin);
  state_ = SessionState::Authenticated;
  CYR_LOG(Notice, sid_, "login: %s %s %s%s%s", client_info().address.c_str(), id.userid.c_str(),
          id.mechanism.c_str(), conn_->is_tls() ? " TLS" : "",
          id.proxied() ? (" as " + id.userid + " by " + id.authcid).c_str() : "");
  std::vector<std::string> caps = capabilities();
  return Reply::ok("User logged in", ResponseCode::capability(caps));
}

awaitable<Reply> Session::cmd_login(const imap::LoginArgs& a) {
  auto client = client_info();
  if (!service_->auth->plaintext_allowed(client.tls))
    co_return Reply::no("Plaintext login is disabled without TLS; use STARTTLS",
                        ResponseCode::privacy_required());
  auto authn = service_->auth;
  auto id = co_await blocking([&] { return authn->authenticate(client, a.user, a.password); });
  if (!id) {
    co_await sleep_for(authn->failure_delay(client.address));
    if (id.error().code == Errc::Temp || id.error().code == Errc::Unavailable)
      co_return Reply::no("Authentication service unavailable", ResponseCode::unavailable());
    if (auto denied = auth::login_denied_message(id.error()))
      co_return Reply::no(*denied, ResponseCode::authorization_failed());
    co_return Reply::no("Authentication failed", ResponseCode::authentication_failed());
  }
  co_return finish_login(*id);
}

awaitable<Reply> Session::cmd_authenticate(const imap::AuthenticateArgs& a) {
  auto client = client_info();
  auto authn = service_->auth;
  auto ex = co_await blocking([&] { return authn->start_sasl(client, a.mechanism); });
  if (!ex) co_return Reply::no("Unsupported authentication mechanism " + a.mechanism);
  std::unique_ptr<auth::SaslExchange> exchange = std::move(*ex);

  std::optional<std::string> response;
  if (a.initial_response) {
    auto dec = auth::base64_decode(*a.initial_response, auth::kMaxSaslMessage);
    if (!dec) co_return Reply::bad("Initial response is not valid base64");
    response = std::move(*dec);
  }
  for (int round = 0; round < 16; ++round) {
    std::optional<std::string_view> resp_view;
    if (response) resp_view = *response;
    auto step = co_await blocking([&] { return exchange->step(resp_view); });
    if (!step) {
      co_await sleep_for(authn->failure_delay(client.address));
      if (step.error().code == Errc::Temp)
        co_return Reply::no("Authentication service unavailable", ResponseCode::unavailable());
      if (step.error().code == Errc::Invalid || step.error().code == Errc::Limit)
        co_return Reply::bad("Invalid authentication exchange");
      if (auto denied = auth::login_denied_message(step.error()))
        co_return Reply::no(*denied, ResponseCode::authorization_failed());
      co_return Reply::no("Authentication failed", ResponseCode::authentication_failed());
    }
    if (step->done) co_return finish_login(exchange->identity());
    w_.continuation(auth::base64_encode(step->data));
    if (!co_await flush()) {
      state_ = SessionState::Logout;
      co_return Reply::no("Connection lost");
    }
    auto line = co_await conn_->read_line(4 * auth::kMaxSaslMessage / 3 + 16,
                                          server::net::Connection::ReadMode::InCommand);
    if (!line) {
      if (conn_->end_reason() == server::net::EndReason::LineTooLong)
        co_return Reply::bad("Authentication response too long");
      state_ = SessionState::Logout;
      co_return Reply::no("Connection lost");
    }
    if (*line == "*") co_return Reply::bad("Authentication cancelled");
    auto dec = auth::base64_decode(*line, auth::kMaxSaslMessage);
    if (!dec) co_return Reply::bad("Response is not valid base64");
    response = std::move(*dec);
  }
  co_return Reply::bad("Too many authentication rounds");
}

// RFC 8437: back to the not-authenticated state, so that the next LOGIN or
// AUTHENTICATE starts from a connection as good as new. What belongs to the
// connection stays: TLS and COMPRESS (RFC 8437 3: the layers are not
// undone). Everything the login set up goes (forget_login).
awaitable<Reply> Session::cmd_unauthenticate() {
  CYR_LOG(Notice, sid_, "unauthenticate: %s", identity_->userid.c_str());
  forget_login();
  co_return Reply::ok("Unauthenticate completed");
}

// Every member a login or a later command of that user sets is reset here
// (see session.h): a member added there must be added here too.
void Session::forget_login() {
  // The selected mailbox is closed as UNSELECT closes it: nothing is
  // expunged. Its watcher goes with it (no more IDLE or change reports).
  deselect();
  // A watcher callback already running on the store's thread may still set
  // the old flag; the next user's selection starts from a flag of its own.
  dirty_ = std::make_shared<std::atomic<bool>>(false);
  saved_search_.clear();
  condstore_ = false;  // ENABLE and CONDSTORE-using commands
  qresync_ = false;
  // X-REPLICATION: the admin's replication engine (and the permission,
  // which follows identity_).
  replication_.reset();
  if (counted_login_ && identity_) service_->logins.remove(identity_->userid);
  counted_login_ = false;
  if (!counted_host_.empty()) service_->host_logins.remove(counted_host_);
  counted_host_.clear();
  identity_.reset();
  ns_.reset();
  state_ = SessionState::NotAuthenticated;
}

awaitable<Reply> Session::cmd_enable(const imap::EnableArgs& a) {
  std::vector<std::string> enabled;
  for (const auto& c : a.capabilities) {
    if (c == "CONDSTORE" && !condstore_) {
      condstore_ = true;
      enabled.push_back(c);
    } else if (c == "QRESYNC" && !qresync_) {
      qresync_ = true;
      condstore_ = true;  // RFC 7162 3.2.3: QRESYNC implies CONDSTORE
      enabled.push_back(c);
    }
  }
  w_.begin_untagged().atom("ENABLED");
  for (const auto& c : enabled) w_.atom(c);
  w_.end_line();
  co_return Reply::ok("Enable completed");
}

awaitable<Reply> Session::cmd_namespace() {
  auto p = ns_->prefixes();
  auto one = [&](const mail::NamespacePrefix& np) {
    w_.begin_list().begin_list().string(np.prefix).string(std::string(1, np.separator)).end_list().end_list();
  };
  w_.begin_untagged().atom("NAMESPACE");
  one(p.personal);
  one(p.other_users);
  one(p.shared);
  w_.end_line();
  co_return Reply::ok("Namespace completed");
}

}  // namespace cyr::imapd
