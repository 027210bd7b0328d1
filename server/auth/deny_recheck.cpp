#include "server/auth/deny_recheck.h"

namespace cyr::auth {

boost::asio::awaitable<std::optional<std::string>> DenyRecheck::denied(server::BlockingPool& pool,
                                                                       std::shared_ptr<Authenticator> auth,
                                                                       ClientInfo client, AuthIdentity id) {
  last_ = std::chrono::steady_clock::now();
  auto check = [auth = std::move(auth), client = std::move(client), id = std::move(id)] {
    return auth->check_deny_list(client, id);
  };
  Status st = co_await pool.run(std::move(check));
  if (st.ok()) co_return std::nullopt;
  co_return login_denied_message(st.error());
}

}  // namespace cyr::auth
