// The POP3 server ("pop3d" in cyrus.conf SERVICES; "pop3d -s" is pop3s with
// implicit TLS, done by the master): RFC 1939 with RFC 2449 CAPA and RFC
// 2595 STLS, SASL AUTH (RFC 5034) through the shared Authenticator.
//
// A session sees its INBOX as a snapshot taken at login: messages delivered
// later appear at the next login; DELE only marks; the marked messages are
// expunged at QUIT (UPDATE state) and a dropped connection deletes nothing.
// UIDL is "<uidvalidity>.<uid>", which the store keeps across sessions and
// replication copies verbatim, so it is stable across failover. Only one
// POP3 session per mailbox at a time (as Cyrus's exclusive lock); IMAP
// sessions run alongside (docs/delivery.md says what each sees).
//
// Thread-safety: Pop3dService is immutable after construction except
// MaildropLocks and LoginTimes, which are internally locked and shared by
// every POP3 service of the process.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "server/auth/authenticator.h"
#include "server/pop3d/pop3_protocol.h"
#include "server/service_registry.h"
#include "store/base/result.h"
#include "store/store.h"

namespace cyr::pop3d {

// POP3 sessions hold their maildrop exclusively.
class MaildropLocks {
 public:
  bool try_lock(const std::string& mailbox);
  void unlock(const std::string& mailbox);

 private:
  std::mutex mu_;
  std::set<std::string> held_;
};

// Last login per user, for popminpoll (process-wide; see docs/delivery.md).
class LoginTimes {
 public:
  // True if a login now is allowed: more than `min_interval` since the last
  // `padding` logins. Records the login when allowed.
  bool allow(const std::string& userid, std::chrono::seconds min_interval, int64_t padding,
             std::chrono::steady_clock::time_point now);

 private:
  std::mutex mu_;
  std::map<std::string, std::vector<std::chrono::steady_clock::time_point>> logins_;
};

struct Pop3Settings {
  std::chrono::seconds timeout{10 * 60};   // poptimeout
  std::chrono::seconds minpoll{0};         // popminpoll
  int64_t pollpadding = 1;                 // poppollpadding
  bool exclusive_lock = false;             // pop3_exclusive_lock
  bool use_imap_flags = false;             // popuseimapflags
  std::chrono::seconds expiretime{-1};     // popexpiretime (CAPA EXPIRE)
  bool virtdomains = false;
  std::string servername;
};

struct Pop3dService {
  std::shared_ptr<const server::ServiceContext> ctx;
  std::shared_ptr<store::Store> store;
  std::shared_ptr<auth::Authenticator> auth;
  Pop3Settings settings;
  std::shared_ptr<MaildropLocks> locks;
  std::shared_ptr<LoginTimes> logins;
};

Result<server::ServiceHandler> make_pop3d_handler(std::shared_ptr<const server::ServiceContext> ctx,
                                                  std::shared_ptr<store::Store> store);
Result<server::ServiceHandler> make_pop3d_handler(std::shared_ptr<const server::ServiceContext> ctx);

// registry.add("pop3d", ...).
void register_pop3d_service(server::ServiceRegistry& registry);

}  // namespace cyr::pop3d
