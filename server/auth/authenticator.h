// Authenticator: the one entry point protocol sessions (IMAP, POP3, LMTP AUTH,
// csync) use to authenticate a client. It
//   - checks plaintext passwords against the configured backends
//     (sasl_pwcheck_method: auxprop = our user database, saslauthd),
//   - lists and starts SASL mechanisms (SaslExchange), filtered by
//     sasl_mech_list and, before TLS, by allowplaintext,
//   - applies the authorization rules (proxy login: an admin (admins:) may
//     act as another user; everyone else only as themselves),
//   - logs every failure as a "badlogin" line (as Cyrus does) and tracks
//     failures per client address to compute a delay that slows brute force.
// It never sleeps: after a failure the caller awaits failure_delay(address)
// before answering.
//
// One Authenticator per service (its options may differ per service). It is
// thread-safe: sessions on any thread may share it. Its methods block (disk,
// PBKDF2, the saslauthd socket): call them from the blocking-work pool. A
// SaslExchange belongs to one session and must not outlive its Authenticator.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "server/auth/mechanism.h"
#include "server/auth/saslauthd.h"
#include "server/auth/user_db.h"
#include "store/base/result.h"
#include "store/user_deny_db.h"

namespace cyr::config {
class ImapdConf;
}

namespace cyr::auth {

enum class PwcheckMethod { Auxprop, Saslauthd };

struct AuthOptions {
  std::string sasl_service = "imap";  // service name sent to saslauthd: imap, pop, lmtp, sieve, csync
  std::vector<PwcheckMethod> pwcheck = {PwcheckMethod::Auxprop};  // tried in order
  std::filesystem::path user_db_path;  // {configdirectory}/passwd.db
  std::filesystem::path saslauthd_path = kDefaultSaslauthdPath;
  std::chrono::milliseconds saslauthd_timeout{10'000};
  std::vector<std::string> mech_list;  // sasl_mech_list, upper-case; empty: every mechanism we have
  bool allow_plaintext = false;        // allowplaintext
  bool tls_required = false;           // tls_required: no mechanism at all before TLS
  std::vector<std::string> admins;     // admins
  bool username_tolower = true;        // username_tolower
  uint32_t iterations = kDefaultIterations;  // sasl_scram_iteration_counter, for new passwords
  std::chrono::milliseconds failed_login_pause{3000};  // failedloginpause
  // The deny list (cyr_deny): `deny_service` is this service's cyrus.conf
  // name, matched against each entry's service patterns; empty: no check.
  std::string deny_service;
  std::filesystem::path userdeny_db_path;  // userdeny_db_path, default {configdirectory}/user_deny.db
  // Cyrus's imapd lets admins in whatever the list says (so an admin can
  // still repair a mailbox); its other services do not.
  bool deny_exempts_admins = false;
  // Tests only: the clock used for the failure window. Null: steady_clock.
  std::function<std::chrono::steady_clock::time_point()> clock;
};

// Reads the options above for one service from imapd.conf: sasl_pwcheck_method,
// sasl_saslauthd_path, sasl_mech_list, allowplaintext, admins,
// username_tolower, sasl_scram_iteration_counter, failedloginpause,
// configdirectory (for passwd.db) and userdeny_db_path; "<config_service>_<option>"
// overrides apply. The deny list is checked under the name config_service
// (admins exempt when sasl_service is "imap", as in Cyrus).
// Fails (Invalid) on an unknown pwcheck method or mechanism or a bad iteration count.
Result<AuthOptions> auth_options_from_config(const config::ImapdConf& conf,
                                             std::string_view config_service,
                                             std::string_view sasl_service);

// The form a user name takes everywhere (logins, admins:, passwd.db):
// ASCII-lower-cased if username_tolower, then checked by validate_userid().
Result<std::string> canonicalize_userid(std::string_view userid, bool username_tolower);

// Every mechanism this server implements, strongest first.
std::vector<std::string> supported_mechanisms();

// Where the client is, for logs and the failure window. Address is the
// numeric peer address ("192.0.2.7", "::1", or "" for a unix socket).
struct ClientInfo {
  std::string session_id;
  std::string host;     // reverse-resolved name if known, else empty
  std::string address;
  bool tls = false;     // the connection is encrypted (TLS or STARTTLS done)
};

struct AuthIdentity {
  std::string authcid;    // who proved their identity
  std::string userid;     // whom the session acts as: authcid, or the authzid of a proxy login
  std::string mechanism;  // "PLAIN", "SCRAM-SHA-256", ..., or "plaintext" for a LOGIN command
  bool is_admin = false;  // userid is in admins:
  bool proxied() const { return userid != authcid; }
};

// A login refused by the deny list (cyr_deny) after the credentials were
// right: the message to show the client (the admin's, or Cyrus's default),
// or nullopt for any other error. Protocols answer it with their
// authorization-failure reply (IMAP NO [AUTHORIZATIONFAILED], POP3
// -ERR [AUTH], ManageSieve NO (AUTHORIZATIONFAILED)...) instead of
// "authentication failed".
std::optional<std::string> login_denied_message(const Error& e);

class Authenticator;

// One SASL exchange in one session. step() takes each client response (base64
// already decoded; nullopt for "no initial response") and returns the next
// challenge, or done with identity() set. A failure is returned as an Error
// (and logged); the exchange is then over.
//
// Additional data with success (SCRAM's server-final message): protocols whose
// success reply cannot carry data (IMAP, POP3, SMTP/LMTP) create the exchange
// with success_data_allowed = false; the data then comes as one more
// challenge, the client answers with an empty response, and only then is the
// exchange done.
class SaslExchange {
 public:
  Result<SaslStep> step(std::optional<std::string_view> response);
  const AuthIdentity& identity() const { return identity_; }  // valid once done
  std::string_view mechanism() const { return mech_->name(); }

 private:
  friend class Authenticator;
  SaslExchange(Authenticator& auth, ClientInfo client, std::unique_ptr<SaslMechanism> mech,
               bool success_data_allowed)
      : auth_(auth), client_(std::move(client)), mech_(std::move(mech)),
        success_data_allowed_(success_data_allowed) {}
  Error fail(Error e);
  void log_login() const;

  enum class State { Running, AwaitFinalAck, Done, Failed };
  Authenticator& auth_;
  ClientInfo client_;
  std::unique_ptr<SaslMechanism> mech_;
  bool success_data_allowed_;
  State state_ = State::Running;
  AuthIdentity identity_;
};

class Authenticator final : public CredentialVerifier {
 public:
  explicit Authenticator(AuthOptions options);
  ~Authenticator() override;

  const AuthOptions& options() const { return opts_; }

  // Mechanisms to advertise: sasl_mech_list order (or supported_mechanisms()),
  // without PLAIN and LOGIN before TLS unless allowplaintext, and without
  // SCRAM-SHA-256 when no configured backend keeps SCRAM records. None at
  // all before TLS with tls_required.
  std::vector<std::string> mechanisms(bool tls) const;

  // Whether a plaintext login (IMAP LOGIN, POP3 USER/PASS) is allowed now.
  bool plaintext_allowed(bool tls) const { return tls || (opts_.allow_plaintext && !opts_.tls_required); }

  bool is_admin(std::string_view userid) const;

  // canonicalize_userid() with this service's username_tolower.
  Result<std::string> canonical_userid(std::string_view userid) const;

  // A plaintext login (mechanism "plaintext" in logs). Fails with Perm for a
  // wrong user or password, or when plaintext_allowed(client.tls) is false.
  Result<AuthIdentity> authenticate(const ClientInfo& client, std::string_view user,
                                    std::string_view password);

  // Starts mechanism `mech` (case-insensitive). Fails (Invalid) for a
  // mechanism we do not offer on this connection.
  Result<std::unique_ptr<SaslExchange>> start_sasl(const ClientInfo& client, std::string_view mech,
                                                   bool success_data_allowed = false);

  // The authorization rule: authzid empty or equal to authcid, or authcid an
  // admin. Returns the identity, or Perm.
  Result<AuthIdentity> authorize(std::string_view mechanism, std::string_view authcid,
                                 std::string_view authzid) const;

  // The deny list check every successful login passes (authenticate() and
  // SASL exchanges call it; so may a protocol that logs in some other way):
  // ok, or Perm with login_denied_message() set. One indexed lookup of the
  // user in user_deny.db; no read at all while that file does not exist. A
  // list that cannot be read lets the user in (logged), as in Cyrus.
  Status check_deny_list(const ClientInfo& client, const AuthIdentity& id);

  // How long the caller should wait before answering a failed attempt from
  // this address: failedloginpause doubled for each recent failure (at most
  // 8x); zero with no failure in the last kFailureWindow.
  std::chrono::milliseconds failure_delay(std::string_view address) const;
  static constexpr std::chrono::minutes kFailureWindow{15};
  static constexpr size_t kMaxTrackedAddresses = 4096;

  // Logs "badlogin: host [address] mech user reason" and counts the failure
  // against the address (except for backend outages, which are not the
  // client's doing).
  void record_failure(const ClientInfo& client, std::string_view mech, std::string_view user,
                      const Error& error);

  // CredentialVerifier, used by the mechanisms.
  Status check_plaintext(std::string_view authcid, std::string_view password) override;
  Result<ScramKeys> scram_keys(std::string_view authcid) override;

 private:
  std::chrono::steady_clock::time_point now() const;
  Result<UserDb*> user_db();  // opened on first use: the file may appear after start
  // The deny list, opened when its file first exists (cyr_deny creates it
  // while the daemon runs); null while there is none.
  std::shared_ptr<store::UserDenyDb> deny_db();
  // authorize() and then check_deny_list(): what both login paths run.
  friend class SaslExchange;
  Result<AuthIdentity> authorize_login(const ClientInfo& client, std::string_view mechanism,
                                       std::string_view authcid, std::string_view authzid);
  bool has_method(PwcheckMethod m) const;

  struct FailureRecord {
    uint32_t count = 0;
    std::chrono::steady_clock::time_point last;
  };

  AuthOptions opts_;
  std::string unknown_user_salt_key_;  // see ScramServerOptions
  std::mutex db_mu_;
  std::unique_ptr<UserDb> db_;
  std::mutex deny_mu_;
  std::shared_ptr<store::UserDenyDb> deny_db_;
  mutable std::mutex failures_mu_;
  std::map<std::string, FailureRecord, std::less<>> failures_;
};

}  // namespace cyr::auth
