#include "server/smmapd/smmapd_service.h"

#include <chrono>

#include <boost/asio/awaitable.hpp>

#include "server/net/connection.h"
#include "server/node_store.h"
#include "server/smmapd/socketmap.h"
#include "store/base/log.h"

namespace cyr::smmapd {

namespace asio = boost::asio;
template <class T>
using awaitable = asio::awaitable<T>;
using server::net::Connection;

std::string lookup_reply(store::Store& store, const lmtpd::DeliverySettings& settings, const std::string& key,
                         const std::string& sid) {
  auto addr = lmtpd::split_recipient(key, settings.downcase_rcpt);
  if (!addr) return "NOTFOUND Invalid address";
  // A lookup creates nothing and reads no Sieve script.
  lmtpd::DeliverySettings s = settings;
  s.autocreate = false;
  s.sieve = false;
  // Anonymous, as the MTA asks before anyone authenticated: shared folders
  // need the p right for anyone.
  auto target = lmtpd::resolve_recipient(store, s, *addr, "", sid);
  if (!target) {
    const Error& e = target.error();
    if (e.code == Errc::NotFound) {
      const bool shared = addr->detail && addr->user == settings.postuser;
      if (settings.autocreate && !shared) return "OK " + key;  // LMTP would create the INBOX
      return "NOTFOUND Mailbox does not exist";
    }
    if (e.code == Errc::Perm) return "PERM Permission denied";
    CYR_LOG(Notice, sid, "smmapd: %s: %s", key.c_str(), e.describe().c_str());
    return "TEMP System I/O error";
  }
  // Already full (Cyrus's smmapd checks one more message, no bytes).
  lmtpd::DeliverySettings q = s;
  q.strict_quota = false;
  if (auto over = lmtpd::precheck_quota(store, q, *target, 0)) {
    if (over->code >= 500) return "PERM Over quota";
    return "TEMP Over quota";
  }
  return "OK " + key;
}

namespace {

struct SmmapdService {
  std::shared_ptr<const server::ServiceContext> ctx;
  std::shared_ptr<store::Store> store;
  lmtpd::DeliverySettings settings;
  std::chrono::seconds timeout{10 * 60};
};

class SmmapdSession {
 public:
  SmmapdSession(std::shared_ptr<SmmapdService> svc, std::shared_ptr<Connection> conn)
      : svc_(std::move(svc)), conn_(std::move(conn)), sid_(conn_->sid()) {}

  awaitable<void> run() {
    conn_->set_idle_timeout(svc_->timeout);
    std::string pending;
    for (;;) {
      // Every whole request already received is answered before the next read.
      for (;;) {
        NetstringScan scan = scan_netstring(pending);
        if (scan.state == NetstringScan::State::NeedMore) break;
        if (scan.state == NetstringScan::State::Bad) {
          CYR_LOG(Notice, sid_, "smmapd: %s; closing the connection", scan.why.c_str());
          conn_->write(netstring("PERM Protocol error (" + scan.why + ")"));
          (void)co_await conn_->flush();
          co_return;
        }
        auto req = parse_request(scan.body);
        if (!req) {
          conn_->write(netstring("PERM Protocol error (" + req.error().user_message + ")"));
          (void)co_await conn_->flush();
          co_return;
        }
        pending.erase(0, scan.used);
        auto svc = svc_;
        std::string sid = sid_;
        std::string key = std::move(req->key);
        auto work = [svc, key, sid]() -> Result<std::string> {
          return lookup_reply(*svc->store, svc->settings, key, sid);
        };
        auto answer = co_await svc_->ctx->blocking->run(std::move(work));
        conn_->write(netstring(answer ? *answer : std::string("TEMP System I/O error")));
      }
      if (!(co_await conn_->flush()).ok()) co_return;
      auto chunk = co_await conn_->peek_some();
      if (!chunk) co_return;  // closed, idle timeout or shutdown
      // Bounded: a request longer than kMaxRequest is refused as soon as its
      // length is read, so the pending bytes never pass one request.
      size_t take = std::min(chunk->size(), kMaxRequest + 16 - std::min(pending.size(), kMaxRequest + 16));
      pending.append(chunk->substr(0, take));
      conn_->consume(take);
    }
  }

 private:
  std::shared_ptr<SmmapdService> svc_;
  std::shared_ptr<Connection> conn_;
  std::string sid_;
};

}  // namespace

Result<server::ServiceHandler> make_smmapd_handler(std::shared_ptr<const server::ServiceContext> ctx,
                                                   std::shared_ptr<store::Store> store) {
  if (!ctx || !ctx->conf || !ctx->blocking || !store) return Error(Errc::Invalid, "smmapd: incomplete service context");
  auto svc = std::make_shared<SmmapdService>();
  svc->ctx = ctx;
  svc->store = std::move(store);
  svc->settings = lmtpd::delivery_settings_from_config(*ctx->conf, ctx->service_name);
  server::ServiceHandler h;
  h.run_session = [svc](std::shared_ptr<Connection> conn) -> awaitable<void> {
    SmmapdSession session(svc, std::move(conn));
    co_await session.run();
  };
  return h;
}

void register_smmapd_service(server::ServiceRegistry& registry) {
  registry.add("smmapd", [](std::shared_ptr<const server::ServiceContext> ctx) -> Result<server::ServiceHandler> {
    if (!ctx || !ctx->conf) return Error(Errc::Invalid, "smmapd: incomplete service context");
    auto store = server::node_store(*ctx->conf);
    if (!store) return store.take_error();
    return make_smmapd_handler(std::move(ctx), std::move(*store));
  });
}

}  // namespace cyr::smmapd
