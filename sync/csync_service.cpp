// csync over a Connection. See csync_service.h and reference §1.
#include "sync/csync_service.h"

#include <unistd.h>

#include <atomic>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <filesystem>

#include "server/auth/authenticator.h"
#include "server/auth/base64.h"
#include "server/net/connection.h"
#include "server/node_store.h"
#include "store/base/log.h"
#include "store/config/paths.h"
#include "sync/dlist_decoder.h"
#include "sync/sync_frame.h"
#include "sync/sync_server.h"

namespace cyr::sync {

namespace {

namespace net = server::net;
using server::net::awaitable;

constexpr size_t kMaxPhysicalLine = 32u << 20;  // one line segment between literals
constexpr size_t kMaxReadChunk = 1u << 20;

struct CsyncService {
  std::shared_ptr<const server::ServiceContext> ctx;
  std::shared_ptr<store::Store> store;
  std::shared_ptr<auth::Authenticator> auth;
  std::string servername;
  std::filesystem::path staging_root;
  std::chrono::seconds timeout{1800};
  std::atomic<uint64_t> sessions{0};
};

// Where a literal header at the end of a line segment announces payload
// bytes: "{N+}", "{N}" or "%{partition guid N}". Returns N, or nullopt.
std::optional<uint64_t> literal_size_at_end(std::string_view line) {
  if (line.empty() || line.back() != '}') return std::nullopt;
  size_t open = line.rfind('{');
  if (open == std::string_view::npos) return std::nullopt;
  std::string_view inner = line.substr(open + 1, line.size() - open - 2);
  if (open > 0 && line[open - 1] == '%') {
    auto sp = inner.rfind(' ');
    if (sp == std::string_view::npos) return std::nullopt;
    inner = inner.substr(sp + 1);
  } else if (!inner.empty() && inner.back() == '+') {
    inner.remove_suffix(1);
  }
  if (inner.empty() || inner.size() > 19) return std::nullopt;
  uint64_t n = 0;
  for (char c : inner) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + static_cast<uint64_t>(c - '0');
  }
  return n;
}

class CsyncSession : public std::enable_shared_from_this<CsyncSession> {
 public:
  CsyncSession(std::shared_ptr<CsyncService> svc, std::shared_ptr<net::Connection> conn)
      : svc_(std::move(svc)), conn_(std::move(conn)) {
    SyncServerOptions o;
    o.staging_dir = svc_->staging_root / (std::to_string(::getpid()) + "-" + std::to_string(++svc_->sessions));
    o.sid = conn_->sid();
    engine_ = std::make_unique<SyncServerSession>(*svc_->store, std::move(o));
  }

  awaitable<void> run() {
    conn_->set_idle_timeout(svc_->timeout);
    send_banner();
    if (!(co_await conn_->flush()).ok()) co_return;
    for (;;) {
      auto line = co_await read_command();
      if (!line.ok()) {
        if (conn_->end_reason() == net::EndReason::Shutdown) co_await conn_->write_and_flush("BYE shutting down\r\n");
        co_return;
      }
      if (!line->has_value()) {  // framing error already answered
        if (!(co_await conn_->flush()).ok()) co_return;
        continue;
      }
      bool keep = co_await dispatch(std::move(**line));
      if (!(co_await conn_->flush()).ok() || !keep) co_return;
    }
  }

 private:
  void send_banner() {
    if (!identity_) {
      auto mechs = svc_->auth->mechanisms(conn_->is_tls());
      if (!mechs.empty()) {
        std::string l = "* SASL";
        for (auto& m : mechs) l += " " + m;
        conn_->write(l + "\r\n");
      }
      if (!conn_->is_tls() && svc_->ctx->tls_context && svc_->ctx->tls_context()) conn_->write("* STARTTLS\r\n");
      conn_->write("* X-CYR-SYNC " + std::to_string(kCsyncProtocolVersion) + "\r\n");
    }
    conn_->write("* OK " + svc_->servername + " Cyrus sync server 3.6.1 (cyrus-ha)\r\n");
  }

  // One logical line with its literals. An empty optional means the line was
  // malformed and a BAD was already queued (the stream stays in step).
  awaitable<Result<std::optional<RawLine>>> read_command() {
    LineFramer framer({}, engine_->file_sinks());
    auto mode = net::Connection::ReadMode::Idle;
    for (;;) {
      auto seg = co_await conn_->read_line(kMaxPhysicalLine, mode);
      if (!seg.ok()) {
        if (conn_->end_reason() == net::EndReason::LineTooLong) {
          conn_->write("BAD IMAP_PROTOCOL_ERROR Line too long\r\n");
          co_return std::optional<RawLine>();
        }
        co_return seg.take_error();
      }
      mode = net::Connection::ReadMode::InCommand;
      std::string text = std::move(*seg);
      std::optional<uint64_t> payload = literal_size_at_end(text);
      text += "\r\n";
      std::string_view in = text;
      while (!in.empty() && !framer.line_ready()) {
        size_t n = framer.feed(in);
        if (n == 0) break;
        in.remove_prefix(n);
      }
      uint64_t left = payload ? *payload : 0;
      while (left > 0) {
        size_t chunk = static_cast<size_t>(std::min<uint64_t>(left, kMaxReadChunk));
        auto bytes = co_await conn_->read_exact(chunk);
        if (!bytes.ok()) co_return bytes.take_error();
        std::string_view b = *bytes;
        while (!b.empty()) {
          size_t n = framer.feed(b);
          if (n == 0) break;
          b.remove_prefix(n);
        }
        left -= chunk;
      }
      if (framer.line_ready()) {
        auto raw = framer.take_line();
        if (!raw.ok()) {
          conn_->write("BAD " + raw.error().user_message + "\r\n");
          co_return std::optional<RawLine>();
        }
        co_return std::optional<RawLine>(std::move(*raw));
      }
    }
  }

  awaitable<bool> dispatch(RawLine raw) {
    std::string_view text = raw.text;
    std::string verb(text.substr(0, text.find(' ')));
    for (auto& c : verb) c = static_cast<char>(toupper(static_cast<unsigned char>(c)));
    if (verb.empty()) {
      conn_->write("BAD Null command\r\n");
      co_return true;
    }
    if (verb == "AUTHENTICATE") co_return co_await authenticate(raw.text);
    if (verb == "STARTTLS") co_return co_await starttls();
    if (verb == "COMPRESS") {
      conn_->write("NO Compression not available\r\n");
      co_return true;
    }
    auto cmd = parse_command(std::move(raw));
    if (!cmd.ok()) {
      conn_->write("BAD " + cmd.error().user_message + "\r\n");
      co_return true;
    }
    if (!identity_ && cmd->carries_dlist()) {
      conn_->write("NO Please authenticate first\r\n");
      co_return true;
    }
    if (identity_ && !identity_->is_admin && cmd->verb != "EXIT" && cmd->verb != "NOOP") {
      conn_->write("NO Permission denied\r\n");
      co_return true;
    }
    SyncServerSession* engine = engine_.get();
    SyncCommand c = std::move(*cmd);
    auto replies = co_await svc_->ctx->blocking->run(
        [engine, &c]() -> Result<std::vector<SyncReply>> { return engine->execute(c); });
    if (!replies.ok()) {
      conn_->write("NO IMAP_IOERROR Unknown error\r\n");
      co_return true;
    }
    for (auto& r : *replies) {
      StringOutput out;
      encode_reply(r, out);
      conn_->write(out.str());
    }
    co_return !engine->exit_requested();
  }

  awaitable<bool> starttls() {
    auto ctx = svc_->ctx->tls_context ? svc_->ctx->tls_context() : nullptr;
    if (identity_ || conn_->is_tls() || !ctx) {
      conn_->write("NO STARTTLS not available\r\n");
      co_return true;
    }
    conn_->write("OK Begin TLS negotiation now\r\n");
    if (!(co_await conn_->flush()).ok()) co_return false;
    if (!(co_await conn_->start_tls(ctx)).ok()) co_return false;
    send_banner();
    co_return true;
  }

  awaitable<bool> authenticate(const std::string& line) {
    if (identity_) {
      conn_->write("BAD Already authenticated\r\n");
      co_return true;
    }
    std::vector<std::string> words;
    size_t p = 0;
    while (p < line.size()) {
      size_t q = line.find(' ', p);
      if (q == std::string::npos) q = line.size();
      if (q > p) words.push_back(line.substr(p, q - p));
      p = q + 1;
    }
    if (words.size() < 2 || words.size() > 3) {
      conn_->write("BAD Missing required argument to Authenticate\r\n");
      co_return true;
    }
    auth::ClientInfo client;
    client.session_id = conn_->sid();
    client.address = conn_->peer().substr(0, conn_->peer().rfind(':'));
    client.tls = conn_->is_tls();
    auto authn = svc_->auth;
    std::string mech = words[1];
    auto ex = co_await svc_->ctx->blocking->run([&] { return authn->start_sasl(client, mech, true); });
    if (!ex.ok()) {
      conn_->write("NO Unsupported mechanism\r\n");
      co_return true;
    }
    std::unique_ptr<auth::SaslExchange> exchange = std::move(*ex);
    std::optional<std::string> response;
    if (words.size() == 3) {
      if (words[2] == "=") {
        response = std::string();
      } else {
        auto dec = auth::base64_decode(words[2], auth::kMaxSaslMessage);
        if (!dec.ok()) {
          conn_->write("BAD Invalid base64\r\n");
          co_return true;
        }
        response = std::move(*dec);
      }
    }
    for (int round = 0; round < 16; ++round) {
      std::optional<std::string_view> view;
      if (response) view = *response;
      auto step = co_await svc_->ctx->blocking->run([&] { return exchange->step(view); });
      if (!step.ok()) {
        boost::asio::steady_timer t(conn_->get_executor(), authn->failure_delay(client.address));
        co_await t.async_wait(boost::asio::use_awaitable);
        conn_->write("NO authentication failure\r\n");
        co_return true;
      }
      if (step->done) {
        identity_ = exchange->identity();
        CYR_LOG(Notice, conn_->sid(), "csync login: %s %s %s", client.address.c_str(), identity_->userid.c_str(),
                identity_->mechanism.c_str());
        if (!step->data.empty()) {
          // SCRAM server-final message: csync's OK cannot carry it, so send
          // it as a challenge first (as Cyrus's saslserver does).
          conn_->write("+ " + auth::base64_encode(step->data) + "\r\n");
          if (!(co_await conn_->flush()).ok()) co_return false;
          auto ack = co_await conn_->read_line(1024, net::Connection::ReadMode::InCommand);
          if (!ack.ok()) co_return false;
        }
        conn_->write(std::string("OK Success (") + (conn_->is_tls() ? "tls protection" : "no protection") + ")\r\n");
        co_return true;
      }
      conn_->write("+ " + auth::base64_encode(step->data) + "\r\n");
      if (!(co_await conn_->flush()).ok()) co_return false;
      auto l = co_await conn_->read_line(4 * auth::kMaxSaslMessage / 3 + 16, net::Connection::ReadMode::InCommand);
      if (!l.ok()) co_return false;
      if (*l == "*") {
        conn_->write("BAD Client canceled authentication\r\n");
        co_return true;
      }
      auto dec = auth::base64_decode(*l, auth::kMaxSaslMessage);
      if (!dec.ok()) {
        conn_->write("BAD Invalid base64\r\n");
        co_return true;
      }
      response = std::move(*dec);
    }
    conn_->write("BAD Too many authentication rounds\r\n");
    co_return true;
  }

  std::shared_ptr<CsyncService> svc_;
  std::shared_ptr<net::Connection> conn_;
  std::unique_ptr<SyncServerSession> engine_;
  std::optional<auth::AuthIdentity> identity_;
};

}  // namespace

Result<server::ServiceHandler> make_csync_handler(std::shared_ptr<const server::ServiceContext> ctx,
                                                  std::shared_ptr<store::Store> store) {
  if (!ctx || !ctx->conf || !ctx->blocking) return Error(Errc::Invalid, "sync_server: incomplete service context");
  auto auth_opts = auth::auth_options_from_config(*ctx->conf, ctx->service_name, "csync");
  if (!auth_opts.ok()) return auth_opts.take_error();
  auto paths = config::Paths::from_config(*ctx->conf);
  if (!paths.ok()) return paths.take_error();
  auto svc = std::make_shared<CsyncService>();
  svc->ctx = ctx;
  svc->store = std::move(store);
  svc->auth = std::make_shared<auth::Authenticator>(std::move(*auth_opts));
  svc->servername = ctx->conf->get_string("servername");
  if (svc->servername.empty()) {
    char host[256] = {0};
    ::gethostname(host, sizeof host - 1);
    svc->servername = host;
  }
  // Staging next to the default partition's spool, so accepted files are
  // hard-linked into place rather than copied.
  auto it = paths->partitions.find(paths->defaultpartition);
  svc->staging_root = it != paths->partitions.end() ? std::filesystem::path(it->second) / "sync."
                                                    : std::filesystem::path(paths->configdirectory) / "sync.";
  // Staging left behind by a killed process (its directories are named
  // "<pid>-<n>"); this process's own sessions survive a reload.
  {
    std::error_code ec;
    std::string mine = std::to_string(::getpid()) + "-";
    for (auto it = std::filesystem::directory_iterator(svc->staging_root, ec);
         !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
      if (it->path().filename().string().rfind(mine, 0) == 0) continue;
      std::error_code rm;
      std::filesystem::remove_all(it->path(), rm);
    }
  }
  auto t = ctx->conf->get_duration("sync_timeout");
  if (t.count() >= 3) svc->timeout = t;
  server::ServiceHandler h;
  h.refusal_line = "BYE Too many connections\r\n";
  h.run_session = [svc](std::shared_ptr<net::Connection> conn) -> awaitable<void> {
    auto s = std::make_shared<CsyncSession>(svc, std::move(conn));
    co_await s->run();
  };
  return h;
}

void register_sync_service(server::ServiceRegistry& registry) {
  registry.add("sync_server", [](std::shared_ptr<const server::ServiceContext> ctx) -> Result<server::ServiceHandler> {
    if (!ctx || !ctx->conf) return Error(Errc::Invalid, "sync_server: incomplete service context");
    auto store = server::node_store(*ctx->conf);
    if (!store.ok()) return store.take_error();
    return make_csync_handler(std::move(ctx), std::move(*store));
  });
}

}  // namespace cyr::sync
