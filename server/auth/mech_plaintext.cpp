// PLAIN (RFC 4616) and LOGIN: the two mechanisms that carry a password.
#include <algorithm>

#include "server/auth/mechanism.h"
#include "server/auth/saslprep.h"

namespace cyr::auth {
namespace {

Error malformed(const char* mech, const char* why) {
  return Error(Errc::Invalid, "Invalid authentication message", std::string(mech) + ": " + why);
}

Error finished(const char* mech) {
  return Error(Errc::Invalid, "Authentication exchange already finished",
               std::string(mech) + ": step after the end");
}

Status check_size(const char* mech, std::string_view msg) {
  if (msg.size() > kMaxSaslMessage)
    return Error(Errc::Limit, "Authentication message too long", std::string(mech) + ": message over limit");
  return ok_status();
}

class PlainMechanism final : public SaslMechanism {
 public:
  explicit PlainMechanism(CredentialVerifier& v) : verifier_(v) {}
  std::string_view name() const override { return "PLAIN"; }

  Result<SaslStep> step(std::optional<std::string_view> response) override {
    if (state_ == State::Finished) return finished("PLAIN");
    if (!response) {
      if (state_ != State::Start) {
        state_ = State::Finished;
        return malformed("PLAIN", "missing response");
      }
      // No initial response: ask for the message with an empty challenge.
      state_ = State::AwaitMessage;
      return SaslStep{false, ""};
    }
    state_ = State::Finished;  // whatever happens now, this exchange is over
    CYR_TRY(check_size("PLAIN", *response));
    std::string_view msg = *response;
    size_t nul1 = msg.find('\0');
    if (nul1 == std::string_view::npos) return malformed("PLAIN", "no NUL separator");
    size_t nul2 = msg.find('\0', nul1 + 1);
    if (nul2 == std::string_view::npos) return malformed("PLAIN", "one NUL separator, need two");
    std::string_view authzid = msg.substr(0, nul1);
    std::string_view authcid = msg.substr(nul1 + 1, nul2 - nul1 - 1);
    std::string_view password = msg.substr(nul2 + 1);
    if (password.find('\0') != std::string_view::npos) return malformed("PLAIN", "NUL in password");
    if (authcid.empty()) return malformed("PLAIN", "empty authcid");
    if (password.empty()) return malformed("PLAIN", "empty password");
    if (!is_valid_utf8(authzid) || !is_valid_utf8(authcid) || !is_valid_utf8(password))
      return malformed("PLAIN", "malformed UTF-8");
    authcid_ = std::string(authcid);
    authzid_ = std::string(authzid);
    CYR_TRY(verifier_.check_plaintext(authcid, password));
    return SaslStep{true, ""};
  }

 private:
  enum class State { Start, AwaitMessage, Finished };
  CredentialVerifier& verifier_;
  State state_ = State::Start;
};

class LoginMechanism final : public SaslMechanism {
 public:
  explicit LoginMechanism(CredentialVerifier& v) : verifier_(v) {}
  std::string_view name() const override { return "LOGIN"; }

  Result<SaslStep> step(std::optional<std::string_view> response) override {
    switch (state_) {
      case State::Start:
        if (!response) {
          state_ = State::AwaitUser;
          return SaslStep{false, "Username:"};
        }
        return take_user(*response);
      case State::AwaitUser:
        if (!response) break;
        return take_user(*response);
      case State::AwaitPassword: {
        if (!response) break;
        state_ = State::Finished;
        CYR_TRY(check_size("LOGIN", *response));
        std::string_view password = *response;
        if (password.empty()) return malformed("LOGIN", "empty password");
        if (password.find('\0') != std::string_view::npos) return malformed("LOGIN", "NUL in password");
        if (!is_valid_utf8(password)) return malformed("LOGIN", "malformed UTF-8");
        CYR_TRY(verifier_.check_plaintext(authcid_, password));
        return SaslStep{true, ""};
      }
      case State::Finished:
        break;
    }
    state_ = State::Finished;
    return finished("LOGIN");
  }

 private:
  Result<SaslStep> take_user(std::string_view user) {
    if (user.size() > kMaxSaslMessage) {
      state_ = State::Finished;
      return Error(Errc::Limit, "Authentication message too long", "LOGIN: user name over limit");
    }
    if (user.empty() || user.find('\0') != std::string_view::npos || !is_valid_utf8(user)) {
      state_ = State::Finished;
      return malformed("LOGIN", user.empty() ? "empty user name" : "NUL or bad UTF-8 in user name");
    }
    authcid_ = std::string(user);
    state_ = State::AwaitPassword;
    return SaslStep{false, "Password:"};
  }

  enum class State { Start, AwaitUser, AwaitPassword, Finished };
  CredentialVerifier& verifier_;
  State state_ = State::Start;
};

}  // namespace

std::unique_ptr<SaslMechanism> make_plain_mechanism(CredentialVerifier& verifier) {
  return std::make_unique<PlainMechanism>(verifier);
}

std::unique_ptr<SaslMechanism> make_login_mechanism(CredentialVerifier& verifier) {
  return std::make_unique<LoginMechanism>(verifier);
}

}  // namespace cyr::auth
