// The imapd service factory and the state shared by its sessions.
#include "server/imapd/imapd_service.h"

#include <sstream>

#include "server/imapd/session.h"
#include "server/node_store.h"
#include "store/store_config.h"
#include "store/base/log.h"
#include "store/config/paths.h"

namespace cyr::imapd {

ImapdSettings settings_from_config(const config::ImapdConf& conf, std::string_view service) {
  ImapdSettings s;
  s.timeout = conf.get_duration("timeout", service);
  if (s.timeout < std::chrono::minutes(30)) s.timeout = std::chrono::minutes(30);
  int64_t maxmsg = conf.get_int("maxmessagesize", service);
  if (maxmsg > 0) s.max_message = static_cast<uint64_t>(maxmsg);
  s.maxlogins_per_user = conf.get_int("maxlogins_per_user", service);
  s.maxlogins_per_host = conf.get_int("maxlogins_per_host", service);
  s.ns = store::namespace_options_from_config(conf, service);
  // implicit_owner_rights may hold letters this server does not model (a
  // site's own, or Cyrus 2's '0'-'9'): keep the RFC 4314 ones, 'n' included
  // (the default "lkxan" lets owners write /shared annotations, as in Cyrus).
  std::string letters;
  for (char c : conf.get_string("implicit_owner_rights", service))
    if (std::string_view("lrswipkxteacdn").find(c) != std::string_view::npos) letters += c;
  if (auto r = mail::parse_rights(letters)) s.implicit_owner_rights = *r;
  s.servername = conf.get_string("servername", service);
  if (s.servername.empty()) {
    char host[256] = {0};
    if (gethostname(host, sizeof host - 1) == 0) s.servername = host;
  }
  s.serverinfo = conf.get_string("serverinfo", service) != "off";
  s.imapidresponse = conf.get_switch("imapidresponse", service);
  s.specialusealways = conf.get_switch("specialusealways", service);
  {
    s.specialuse_protect.clear();
    std::istringstream words(conf.get_string("specialuse_protect", service));
    for (std::string w; words >> w;) s.specialuse_protect.push_back(w);
  }
  s.anyoneuseracl = conf.get_switch("anyoneuseracl", service);
  int64_t maxword = conf.get_int("maxword", service);
  if (maxword > 0) s.max_line = std::max<size_t>(s.max_line, static_cast<size_t>(maxword));
  return s;
}

bool LoginCounter::try_add(const std::string& userid, int64_t limit) {
  std::lock_guard lk(mu_);
  int& n = counts_[userid];
  if (limit > 0 && n >= limit) {
    if (n == 0) counts_.erase(userid);
    return false;
  }
  ++n;
  return true;
}

void LoginCounter::remove(const std::string& userid) {
  std::lock_guard lk(mu_);
  auto it = counts_.find(userid);
  if (it == counts_.end()) return;
  if (--it->second <= 0) counts_.erase(it);
}

int LoginCounter::count(const std::string& userid) const {
  std::lock_guard lk(mu_);
  auto it = counts_.find(userid);
  return it == counts_.end() ? 0 : it->second;
}

Result<server::ServiceHandler> make_imapd_handler(
    std::shared_ptr<const server::ServiceContext> ctx, std::shared_ptr<store::Store> store) {
  if (!ctx || !ctx->conf || !ctx->blocking)
    return Error(Errc::Invalid, "imapd: incomplete service context");
  auto auth_opts = auth::auth_options_from_config(*ctx->conf, ctx->service_name, "imap");
  if (!auth_opts) return auth_opts.take_error();
  auto svc = std::make_shared<ImapdService>();
  svc->ctx = ctx;
  svc->store = std::move(store);
  svc->auth = std::make_shared<auth::Authenticator>(std::move(*auth_opts));
  svc->settings = settings_from_config(*ctx->conf, ctx->service_name);
  server::ServiceHandler h;
  h.refusal_line = "* BYE Too many connections, try again later\r\n";
  h.run_session = [svc](std::shared_ptr<server::net::Connection> conn) -> awaitable<void> {
    auto session = std::make_shared<Session>(svc, std::move(conn));
    co_await session->run();
  };
  return h;
}

Result<server::ServiceHandler> make_imapd_handler(
    std::shared_ptr<const server::ServiceContext> ctx) {
  if (!ctx || !ctx->conf) return Error(Errc::Invalid, "imapd: incomplete service context");
  auto store = server::node_store(*ctx->conf);
  if (!store) return store.take_error();
  return make_imapd_handler(std::move(ctx), std::move(*store));
}

void register_imapd_service(server::ServiceRegistry& registry) {
  registry.add("imapd", [](std::shared_ptr<const server::ServiceContext> ctx) {
    return make_imapd_handler(std::move(ctx));
  });
}

}  // namespace cyr::imapd
