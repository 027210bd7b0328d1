// cyr_deny for a session already logged in. Cyrus's imapd and pop3d check
// the deny list before every command; imapd, pop3d and timsieved here do it
// at most once per kInterval (a blocking-pool hop for one SQLite lookup, no
// read at all while user_deny.db does not exist), and each ends a denied
// session in its own protocol's words.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include <boost/asio/awaitable.hpp>

#include "server/auth/authenticator.h"
#include "server/blocking_pool.h"

namespace cyr::auth {

class DenyRecheck {
 public:
  static constexpr std::chrono::seconds kInterval{5};

  // A login (which checks the list itself) just happened.
  void checked_now() { last_ = std::chrono::steady_clock::now(); }

  // Whether the last check is kInterval old: sessions ask before every
  // command, so this is all a command costs in between.
  bool due() const { return std::chrono::steady_clock::now() - last_ >= kInterval; }

  // Checks now: the admin's message if `id` is denied this service, nullopt
  // when allowed or when the list cannot be read (the check logs it; users
  // are let in, as Cyrus does).
  boost::asio::awaitable<std::optional<std::string>> denied(server::BlockingPool& pool,
                                                            std::shared_ptr<Authenticator> auth,
                                                            ClientInfo client, AuthIdentity id);

 private:
  std::chrono::steady_clock::time_point last_{};
};

}  // namespace cyr::auth
