#include "server/auth/authenticator.h"

#include <sys/stat.h>

#include <algorithm>
#include <cstdio>

#include "store/base/log.h"

namespace cyr::auth {
namespace {

std::string ascii_upper(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  return out;
}

std::string ascii_lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

// Client-supplied text in a log line: bounded, and with spaces, controls and
// non-ASCII bytes escaped so that one field cannot forge another or a line.
std::string log_safe(std::string_view s) {
  constexpr size_t kMax = 128;
  std::string out;
  for (size_t i = 0; i < s.size() && i < kMax; ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c <= 0x20 || c >= 0x7F || c == '\\') {
      char buf[8];
      snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  if (s.size() > kMax) out += "...";
  if (out.empty()) out = "\"\"";
  return out;
}

// Cyrus's clienthost: "name [address]", or "[address]" when unresolved.
std::string client_host(const ClientInfo& c) {
  std::string addr = "[" + log_safe(c.address) + "]";
  if (c.address.empty()) addr = "[]";
  return c.host.empty() ? addr : log_safe(c.host) + " " + addr;
}

Error auth_failed(std::string detail) {
  return Error(Errc::Perm, "Authentication failed", std::move(detail));
}

// The detail that marks a deny-list refusal (login_denied_message).
constexpr std::string_view kDeniedDetail = "user_deny.db: access denied";

}  // namespace

std::optional<std::string> login_denied_message(const Error& e) {
  if (e.code != Errc::Perm || !e.detail.starts_with(kDeniedDetail)) return std::nullopt;
  return e.user_message;
}

std::vector<std::string> supported_mechanisms() { return {"SCRAM-SHA-256", "PLAIN", "LOGIN"}; }

// ---------------------------------------------------------------------------
// SaslExchange

Error SaslExchange::fail(Error e) {
  state_ = State::Failed;
  auth_.record_failure(client_, mech_->name(), mech_->authcid(), e);
  return e;
}

Result<SaslStep> SaslExchange::step(std::optional<std::string_view> response) {
  switch (state_) {
    case State::Done:
    case State::Failed:
      return Error(Errc::Invalid, "Authentication exchange already finished", "sasl: step after the end");
    case State::AwaitFinalAck:
      // The client has seen the server's final data; it must answer empty.
      if (!response || !response->empty())
        return fail(Error(Errc::Invalid, "Invalid authentication message",
                          std::string(mech_->name()) + ": non-empty answer to the final message"));
      state_ = State::Done;
      log_login();
      return SaslStep{true, ""};
    case State::Running:
      break;
  }
  auto r = mech_->step(response);
  if (!r) return fail(r.take_error());
  if (!r->done) return r;
  auto who = auth_.authorize_login(client_, mech_->name(), mech_->authcid(), mech_->authzid());
  if (!who) {
    // The credentials were right: not a failure to slow down (it is logged).
    if (login_denied_message(who.error())) {
      state_ = State::Failed;
      return who.take_error();
    }
    return fail(who.take_error());
  }
  identity_ = std::move(*who);
  if (!r->data.empty() && !success_data_allowed_) {
    state_ = State::AwaitFinalAck;
    return SaslStep{false, std::move(r->data)};
  }
  state_ = State::Done;
  log_login();
  return r;
}

void SaslExchange::log_login() const {
  CYR_LOG(Notice, client_.session_id, "login: %s %s %s%s%s User logged in", client_host(client_).c_str(),
          log_safe(identity_.userid).c_str(), identity_.mechanism.c_str(),
          identity_.proxied() ? " proxy=" : "", identity_.proxied() ? log_safe(identity_.authcid).c_str() : "");
}

// ---------------------------------------------------------------------------
// Authenticator

Authenticator::Authenticator(AuthOptions options) : opts_(std::move(options)) {
  for (auto& m : opts_.mech_list) m = ascii_upper(m);
  if (opts_.username_tolower)
    for (auto& a : opts_.admins) a = ascii_lower(a);
  // A per-process key for the fake SCRAM salts of unknown users. If the RNG
  // failed here, each exchange would draw its own key: only less consistent.
  if (auto k = random_bytes(32)) unknown_user_salt_key_ = std::move(*k);
}

Authenticator::~Authenticator() = default;

std::chrono::steady_clock::time_point Authenticator::now() const {
  return opts_.clock ? opts_.clock() : std::chrono::steady_clock::now();
}

bool Authenticator::has_method(PwcheckMethod m) const {
  return std::find(opts_.pwcheck.begin(), opts_.pwcheck.end(), m) != opts_.pwcheck.end();
}

std::vector<std::string> Authenticator::mechanisms(bool tls) const {
  auto supported = supported_mechanisms();
  std::vector<std::string> candidates;
  if (opts_.mech_list.empty()) {
    candidates = supported;
  } else {
    for (const auto& m : opts_.mech_list)
      if (std::find(supported.begin(), supported.end(), m) != supported.end() &&
          std::find(candidates.begin(), candidates.end(), m) == candidates.end())
        candidates.push_back(m);
  }
  std::vector<std::string> out;
  if (!tls && opts_.tls_required) return out;
  for (auto& m : candidates) {
    if ((m == "PLAIN" || m == "LOGIN") && !plaintext_allowed(tls)) continue;
    // SCRAM needs the stored keys; saslauthd only answers yes or no.
    if (m == "SCRAM-SHA-256" && !has_method(PwcheckMethod::Auxprop)) continue;
    out.push_back(std::move(m));
  }
  return out;
}

bool Authenticator::is_admin(std::string_view userid) const {
  std::string u = opts_.username_tolower ? ascii_lower(userid) : std::string(userid);
  return std::find(opts_.admins.begin(), opts_.admins.end(), u) != opts_.admins.end();
}

Result<std::string> canonicalize_userid(std::string_view userid, bool username_tolower) {
  std::string u = username_tolower ? ascii_lower(userid) : std::string(userid);
  CYR_TRY(validate_userid(u));
  return u;
}

Result<std::string> Authenticator::canonical_userid(std::string_view userid) const {
  return canonicalize_userid(userid, opts_.username_tolower);
}

Result<AuthIdentity> Authenticator::authorize(std::string_view mechanism, std::string_view authcid,
                                              std::string_view authzid) const {
  auto who = canonical_userid(authcid);
  if (!who) return auth_failed("authcid: " + who.error().detail);
  AuthIdentity id;
  id.authcid = *who;
  id.userid = *who;
  id.mechanism = std::string(mechanism);
  if (!authzid.empty()) {
    auto as = canonical_userid(authzid);
    if (!as) return auth_failed("authzid: " + as.error().detail);
    if (*as != *who) {
      // Proxy login, as Cyrus allows its admins: log in as yourself, act as
      // the user (with the user's rights, not the admin's).
      if (!is_admin(*who))
        return Error(Errc::Perm, "Not authorized to act as that user",
                     "authzid differs from authcid and authcid is not an admin");
      id.userid = *as;
    }
  }
  id.is_admin = is_admin(id.userid);
  return id;
}

Result<AuthIdentity> Authenticator::authorize_login(const ClientInfo& client, std::string_view mechanism,
                                                    std::string_view authcid, std::string_view authzid) {
  auto id = authorize(mechanism, authcid, authzid);
  if (!id) return id;
  CYR_TRY(check_deny_list(client, *id));
  return id;
}

std::shared_ptr<store::UserDenyDb> Authenticator::deny_db() {
  std::lock_guard lk(deny_mu_);
  // A stat per login: the file may be created (first cyr_deny) or removed
  // while we run. An open database is kept: each read sees cyr_deny's last
  // commit. Shared, so that a login still reading keeps it alive when
  // another thread drops it.
  struct stat st;
  if (::stat(opts_.userdeny_db_path.c_str(), &st) != 0) {
    deny_db_.reset();
    return nullptr;
  }
  if (!deny_db_) {
    auto db = store::UserDenyDb::open(opts_.userdeny_db_path, store::UserDenyDb::Mode::ReadOnly);
    if (!db) {
      // NotFound: an empty file cyr_deny is still creating; retried next login.
      if (db.error().code != Errc::NotFound)
        CYR_LOG(Warning, "", "user_deny.db unreadable, not applied: %s", db.error().describe().c_str());
      return nullptr;
    }
    deny_db_ = std::move(*db);
  }
  return deny_db_;
}

Status Authenticator::check_deny_list(const ClientInfo& client, const AuthIdentity& id) {
  if (opts_.deny_service.empty() || opts_.userdeny_db_path.empty()) return {};
  if (opts_.deny_exempts_admins && id.is_admin) return {};
  auto db = deny_db();
  if (!db) return {};
  auto msg = db->denied(id.userid, opts_.deny_service);
  if (!msg) {
    CYR_LOG(Warning, client.session_id, "user_deny.db lookup of %s failed, not applied: %s",
            log_safe(id.userid).c_str(), msg.error().describe().c_str());
    return {};
  }
  if (!*msg) return {};
  CYR_LOG(Notice, client.session_id, "login: %s %s %s denied by user_deny.db for service %s",
          client_host(client).c_str(), log_safe(id.userid).c_str(), id.mechanism.c_str(),
          opts_.deny_service.c_str());
  return Error(Errc::Perm, std::move(**msg), std::string(kDeniedDetail) + " for " + opts_.deny_service);
}

Result<UserDb*> Authenticator::user_db() {
  std::lock_guard lk(db_mu_);
  if (db_) return db_.get();
  if (opts_.user_db_path.empty())
    return Error(Errc::Internal, "Authentication is not configured", "auth: no user database path");
  auto db = UserDb::open(opts_.user_db_path, UserDb::Mode::ReadOnly);
  if (!db) return db.take_error();
  db_ = std::move(*db);
  return db_.get();
}

Status Authenticator::check_plaintext(std::string_view authcid, std::string_view password) {
  auto user = canonical_userid(authcid);
  if (!user) return auth_failed("user name: " + user.error().detail);
  if (password.size() > kMaxPasswordLength) return auth_failed("password over 1024 bytes");
  std::optional<Error> backend_error;  // an answer we could not get
  std::string refusals;
  for (PwcheckMethod m : opts_.pwcheck) {
    if (m == PwcheckMethod::Auxprop) {
      auto db = user_db();
      if (!db) {
        if (db.error().code == Errc::NotFound) {  // no database yet: no such user
          refusals += "auxprop: no user database; ";
          continue;
        }
        backend_error = db.take_error();
        continue;
      }
      Status st = (*db)->verify(*user, password, opts_.iterations);
      if (st) return st;
      if (st.error().code == Errc::NotFound || st.error().code == Errc::Perm || st.error().code == Errc::Invalid)
        refusals += "auxprop: " + st.error().detail + "; ";
      else
        backend_error = st.take_error();
    } else {
      SaslauthdRequest req{*user, std::string(password), opts_.sasl_service, ""};
      auto reply = saslauthd_check(opts_.saslauthd_path, req, opts_.saslauthd_timeout);
      secure_wipe(req.password);
      if (!reply) {
        backend_error = reply.take_error();
        continue;
      }
      if (reply->accepted) return ok_status();
      refusals += "saslauthd: " + reply->text + "; ";
    }
  }
  // If a backend could not answer, the password might have been right: say
  // "try later" rather than "wrong password".
  if (backend_error) return *backend_error;
  if (!refusals.empty()) refusals.resize(refusals.size() - 2);
  return auth_failed(refusals.empty() ? "no password check method" : refusals);
}

Result<ScramKeys> Authenticator::scram_keys(std::string_view authcid) {
  if (!has_method(PwcheckMethod::Auxprop))
    return Error(Errc::Unavailable, "Mechanism not available", "SCRAM needs sasl_pwcheck_method auxprop");
  auto user = canonical_userid(authcid);
  if (!user) return Error(Errc::NotFound, "No such user", "user name: " + user.error().detail);
  auto db = user_db();
  if (!db) return db.take_error();  // NotFound when there is no database yet
  return (*db)->lookup(*user);
}

Result<AuthIdentity> Authenticator::authenticate(const ClientInfo& client, std::string_view user,
                                                 std::string_view password) {
  if (!plaintext_allowed(client.tls)) {
    CYR_LOG(Notice, client.session_id, "plaintext login refused before TLS from %s (%s)", client_host(client).c_str(),
            opts_.tls_required ? "tls_required: yes" : "allowplaintext: no");
    return Error(Errc::Perm, "Plaintext authentication requires an encrypted connection",
                 "plaintext login without TLS and allowplaintext off");
  }
  Status st = check_plaintext(user, password);
  if (!st) {
    Error e = st.take_error();
    record_failure(client, "plaintext", user, e);
    return e;
  }
  auto id = authorize_login(client, "plaintext", user, {});
  if (!id) {
    Error e = id.take_error();
    if (!login_denied_message(e)) record_failure(client, "plaintext", user, e);
    return e;
  }
  CYR_LOG(Notice, client.session_id, "login: %s %s plaintext User logged in", client_host(client).c_str(),
          log_safe(id->userid).c_str());
  return id;
}

Result<std::unique_ptr<SaslExchange>> Authenticator::start_sasl(const ClientInfo& client, std::string_view mech,
                                                                bool success_data_allowed) {
  std::string name = ascii_upper(mech);
  auto offered = mechanisms(client.tls);
  if (std::find(offered.begin(), offered.end(), name) == offered.end())
    return Error(Errc::Invalid, "Unsupported authentication mechanism",
                 "sasl: mechanism not offered on this connection: " + log_safe(mech));
  std::unique_ptr<SaslMechanism> m;
  if (name == "PLAIN") {
    m = make_plain_mechanism(*this);
  } else if (name == "LOGIN") {
    m = make_login_mechanism(*this);
  } else {
    ScramServerOptions so;
    so.unknown_user_iterations = opts_.iterations;
    so.unknown_user_salt_key = unknown_user_salt_key_;
    m = make_scram_sha256_mechanism(*this, std::move(so));
  }
  return std::unique_ptr<SaslExchange>(new SaslExchange(*this, client, std::move(m), success_data_allowed));
}

void Authenticator::record_failure(const ClientInfo& client, std::string_view mech, std::string_view user,
                                   const Error& error) {
  const std::string& reason = error.detail.empty() ? error.user_message : error.detail;
  // The line Cyrus writes, so existing log watchers (fail2ban) keep working:
  //   badlogin: host [address] mechanism user reason
  CYR_LOG(Notice, client.session_id, "badlogin: %s %s %s %s", client_host(client).c_str(),
          std::string(mech).c_str(), log_safe(user).c_str(), reason.c_str());
  // An outage of the password backend is not the client's fault.
  if (error.code == Errc::Temp || error.code == Errc::Io || error.code == Errc::Internal ||
      error.code == Errc::Corrupted || error.code == Errc::Unavailable)
    return;
  auto t = now();
  std::lock_guard lk(failures_mu_);
  auto it = failures_.find(client.address);
  if (it == failures_.end()) {
    if (failures_.size() >= kMaxTrackedAddresses) {
      // Forget expired entries; if none, the least recent one.
      for (auto e = failures_.begin(); e != failures_.end();)
        e = (t - e->second.last > kFailureWindow) ? failures_.erase(e) : std::next(e);
      if (failures_.size() >= kMaxTrackedAddresses)
        failures_.erase(std::min_element(failures_.begin(), failures_.end(), [](const auto& a, const auto& b) {
          return a.second.last < b.second.last;
        }));
    }
    it = failures_.emplace(client.address, FailureRecord{}).first;
  }
  if (t - it->second.last > kFailureWindow) it->second.count = 0;
  it->second.count += 1;
  it->second.last = t;
}

std::chrono::milliseconds Authenticator::failure_delay(std::string_view address) const {
  std::lock_guard lk(failures_mu_);
  auto it = failures_.find(address);
  if (it == failures_.end() || it->second.count == 0 || now() - it->second.last > kFailureWindow)
    return std::chrono::milliseconds(0);
  uint32_t doublings = std::min<uint32_t>(it->second.count - 1, 3);  // 1x, 2x, 4x, then 8x
  return opts_.failed_login_pause * (1u << doublings);
}

}  // namespace cyr::auth
