// The POP3 session (greeting to QUIT) and the pop3d factory.
#include "server/pop3d/pop3d_service.h"

#include <algorithm>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <charconv>
#include <ctime>

#include "server/auth/base64.h"
#include "server/auth/deny_recheck.h"
#include "server/net/client_info.h"
#include "server/net/command_loop.h"
#include "server/net/connection.h"
#include "server/node_store.h"
#include "store/base/log.h"
#include "store/mail/mboxname.h"
#include "store/mail/message.h"

namespace cyr::pop3d {

namespace asio = boost::asio;
template <class T>
using awaitable = asio::awaitable<T>;
using server::net::Connection;
using server::net::EndReason;

namespace {

constexpr size_t kRetrChunk = 256 * 1024;

}  // namespace

bool MaildropLocks::try_lock(const std::string& mailbox) {
  std::lock_guard lk(mu_);
  return held_.insert(mailbox).second;
}

void MaildropLocks::unlock(const std::string& mailbox) {
  std::lock_guard lk(mu_);
  held_.erase(mailbox);
}

bool LoginTimes::allow(const std::string& userid, std::chrono::seconds min_interval, int64_t padding,
                       std::chrono::steady_clock::time_point now) {
  if (min_interval.count() <= 0) return true;
  std::lock_guard lk(mu_);
  auto& v = logins_[userid];
  // Keep only logins inside the window; up to `padding` of them are allowed.
  v.erase(std::remove_if(v.begin(), v.end(), [&](auto t) { return now - t >= min_interval; }), v.end());
  if (static_cast<int64_t>(v.size()) >= std::max<int64_t>(padding, 1)) return false;
  v.push_back(now);
  if (logins_.size() > 100000) logins_.clear();  // bound memory; only weakens the delay
  return true;
}

namespace {

struct DropEntry {
  store::Uid uid = 0;
  uint64_t size = 0;
  bool deleted = false;
  bool retrieved = false;  // a whole RETR was sent (popuseimapflags: \Seen at QUIT)
};

class Pop3Session {
 public:
  Pop3Session(std::shared_ptr<Pop3dService> svc, std::shared_ptr<Connection> conn)
      : svc_(std::move(svc)), conn_(std::move(conn)), sid_(conn_->sid()) {}
  ~Pop3Session() {
    if (locked_) svc_->locks->unlock(mailbox_);
  }

  awaitable<void> run() {
    conn_->set_idle_timeout(svc_->settings.timeout);
    send("+OK " + svc_->settings.servername + " Cyrus POP3 (HA) server ready\r\n");
    if (!co_await flush()) co_return;
    server::net::LinePolicy policy;
    policy.max_line = kMaxCommandLine;
    policy.too_long = "-ERR Line too long\r\n";
    policy.shutdown = "-ERR [SYS/TEMP] Server shutting down\r\n";
    // No idle reply: RFC 1939 closes an autologout silently. Ending the loop
    // without QUIT deletes nothing.
    co_await server::net::serve_command_lines(*conn_, policy,
                                              [this](const std::string& line) { return command(line); });
  }

 private:
  // One command line; false: end the session.
  awaitable<bool> command(const std::string& line) {
    if (!co_await still_allowed()) co_return false;
    auto cmd = parse_command(line);
    if (!cmd) {
      send("-ERR " + cmd.error().user_message + "\r\n");
      co_return true;
    }
    co_return co_await dispatch(*cmd);
  }

  void send(std::string_view s) { conn_->write(s); }
  awaitable<bool> flush() { co_return (co_await conn_->flush()).ok(); }

  template <class F>
  auto blocking(F fn) {
    return svc_->ctx->blocking->run(std::move(fn));
  }

  auth::ClientInfo client_info() const { return server::net::client_info_of(*conn_); }

  // cyr_deny for a session already logged in (auth::DenyRecheck): a denied
  // user's session ends without the UPDATE state: nothing is deleted.
  awaitable<bool> still_allowed() {
    if (!identity_ || !deny_recheck_.due()) co_return true;
    auto message = co_await deny_recheck_.denied(*svc_->ctx->blocking, svc_->auth, client_info(), *identity_);
    if (!message) co_return true;
    CYR_LOG(Notice, sid_, "pop3: %s: access denied by cyr_deny since login; session ended", userid_.c_str());
    send("-ERR [SYS/TEMP] " + *message + "\r\n");
    (void)co_await flush();
    co_return false;
  }

  awaitable<void> sleep_for(std::chrono::milliseconds d) {
    if (d.count() <= 0) co_return;
    asio::steady_timer t(conn_->get_executor());
    t.expires_after(d);
    boost::system::error_code ec;
    co_await t.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }

  std::shared_ptr<asio::ssl::context> tls_context() const {
    if (conn_->is_tls() || !svc_->ctx->tls_context) return nullptr;
    return svc_->ctx->tls_context();
  }

  awaitable<bool> dispatch(const Command& cmd) {
    if (cmd.verb == Verb::Capa) co_return capa();
    if (cmd.verb == Verb::Quit) co_return co_await quit();
    if (cmd.verb == Verb::Noop && transaction_) co_return send("+OK\r\n"), true;
    if (!transaction_) {
      switch (cmd.verb) {
        case Verb::User: co_return user(cmd);
        case Verb::Pass: co_return co_await pass(cmd);
        case Verb::Auth: co_return co_await authenticate(cmd);
        case Verb::Stls: co_return co_await stls();
        case Verb::Unknown: co_return send("-ERR Unrecognized command\r\n"), true;
        default: co_return send("-ERR Not logged in\r\n"), true;
      }
    }
    switch (cmd.verb) {
      case Verb::Stat: co_return stat();
      case Verb::List: co_return list(cmd, false);
      case Verb::Uidl: co_return list(cmd, true);
      case Verb::Retr: co_return co_await retr(cmd, false);
      case Verb::Top: co_return co_await retr(cmd, true);
      case Verb::Dele: co_return dele(cmd);
      case Verb::Rset:
        for (auto& e : drop_) e.deleted = false;
        co_return send("+OK\r\n"), true;
      case Verb::Unknown: co_return send("-ERR Unrecognized command\r\n"), true;
      default: co_return send("-ERR Already logged in\r\n"), true;
    }
  }

  bool capa() {
    send("+OK List of capabilities follows\r\n");
    send("TOP\r\nUIDL\r\nRESP-CODES\r\nAUTH-RESP-CODE\r\nPIPELINING\r\n");
    if (svc_->settings.minpoll.count() > 0)
      send("LOGIN-DELAY " + std::to_string(svc_->settings.minpoll.count()) + "\r\n");
    if (svc_->settings.expiretime.count() < 0) send("EXPIRE NEVER\r\n");
    else send("EXPIRE " + std::to_string(svc_->settings.expiretime.count() / 86400) + "\r\n");
    if (!transaction_) {
      if (svc_->auth->plaintext_allowed(conn_->is_tls())) send("USER\r\n");
      auto mechs = svc_->auth->mechanisms(conn_->is_tls());
      if (!mechs.empty()) {
        std::string l = "SASL";
        for (auto& m : mechs) l += " " + m;
        send(l + "\r\n");
      }
      if (tls_context()) send("STLS\r\n");
    }
    send("IMPLEMENTATION Cyrus POP3 (HA)\r\n.\r\n");
    return true;
  }

  bool user(const Command& cmd) {
    if (cmd.args.size() != 1) return send("-ERR Syntax: USER name\r\n"), true;
    if (!svc_->auth->plaintext_allowed(conn_->is_tls()))
      return send("-ERR [AUTH] Plaintext login is disabled without TLS; use STLS\r\n"), true;
    pending_user_ = cmd.args[0];
    send("+OK Name is a valid mailbox\r\n");
    return true;
  }

  awaitable<bool> pass(const Command& cmd) {
    if (!pending_user_) co_return send("-ERR Send USER first\r\n"), true;
    if (cmd.args.size() != 1) co_return send("-ERR Syntax: PASS password\r\n"), true;
    std::string user = *pending_user_;
    pending_user_.reset();
    auto client = client_info();
    auto authn = svc_->auth;
    std::string password = cmd.args[0];
    auto work = [authn, client, user, password] { return authn->authenticate(client, user, password); };
    auto id = co_await blocking(std::move(work));
    if (!id) {
      co_await sleep_for(authn->failure_delay(client.address));
      if (id.error().code == Errc::Temp || id.error().code == Errc::Unavailable)
        co_return send("-ERR [SYS/TEMP] Authentication service unavailable\r\n"), true;
      if (auto denied = auth::login_denied_message(id.error()))
        co_return send("-ERR [AUTH] " + *denied + "\r\n"), true;
      co_return send("-ERR [AUTH] Invalid login\r\n"), true;
    }
    co_return co_await open_maildrop(*id);
  }

  awaitable<bool> authenticate(const Command& cmd) {
    if (cmd.args.empty()) {
      // RFC 5034 without a mechanism: list them (as many clients expect).
      send("+OK\r\n");
      for (auto& m : svc_->auth->mechanisms(conn_->is_tls())) send(m + "\r\n");
      send(".\r\n");
      co_return true;
    }
    std::string mech = cmd.args[0];
    std::optional<std::string> response;
    if (cmd.args.size() > 1) {
      if (cmd.args[1] == "=") {
        response = std::string();
      } else {
        auto dec = auth::base64_decode(cmd.args[1], auth::kMaxSaslMessage);
        if (!dec) co_return send("-ERR Initial response is not valid base64\r\n"), true;
        response = std::move(*dec);
      }
    }
    auto client = client_info();
    auto authn = svc_->auth;
    auto start = [authn, client, mech] { return authn->start_sasl(client, mech); };
    auto ex = co_await blocking(std::move(start));
    if (!ex) co_return send("-ERR Unsupported authentication mechanism\r\n"), true;
    std::shared_ptr<auth::SaslExchange> exchange = std::move(*ex);
    for (int round = 0; round < 16; ++round) {
      auto next = [exchange, response] {
        std::optional<std::string_view> v;
        if (response) v = *response;
        return exchange->step(v);
      };
      auto step = co_await blocking(std::move(next));
      if (!step) {
        co_await sleep_for(authn->failure_delay(client.address));
        if (step.error().code == Errc::Temp)
          co_return send("-ERR [SYS/TEMP] Authentication service unavailable\r\n"), true;
        if (auto denied = auth::login_denied_message(step.error()))
          co_return send("-ERR [AUTH] " + *denied + "\r\n"), true;
        co_return send("-ERR [AUTH] Authentication failed\r\n"), true;
      }
      if (step->done) co_return co_await open_maildrop(exchange->identity());
      send("+ " + auth::base64_encode(step->data) + "\r\n");
      if (!co_await flush()) co_return false;
      auto line = co_await conn_->read_line(4 * auth::kMaxSaslMessage / 3 + 16,
                                            Connection::ReadMode::InCommand);
      if (!line) {
        if (conn_->end_reason() == EndReason::LineTooLong)
          co_return send("-ERR Authentication response too long\r\n"), true;
        co_return false;
      }
      if (*line == "*") co_return send("-ERR Authentication cancelled\r\n"), true;
      auto dec = auth::base64_decode(*line, auth::kMaxSaslMessage);
      if (!dec) co_return send("-ERR Response is not valid base64\r\n"), true;
      response = std::move(*dec);
    }
    co_return send("-ERR Too many authentication rounds\r\n"), true;
  }

  awaitable<bool> open_maildrop(const auth::AuthIdentity& id) {
    auto inbox = mail::user_inbox_name(id.userid, svc_->settings.virtdomains);
    if (!inbox) co_return send("-ERR [SYS/PERM] No maildrop for this user\r\n"), true;
    if (!svc_->logins->allow(id.userid, svc_->settings.minpoll, svc_->settings.pollpadding,
                             std::chrono::steady_clock::now())) {
      CYR_LOG(Notice, sid_, "pop3: %s refused: popminpoll", id.userid.c_str());
      co_return send("-ERR [LOGIN-DELAY] Minimum time between logins is " +
                     std::to_string(svc_->settings.minpoll.count() / 60) + " minutes\r\n"), true;
    }
    // Two sessions of one maildrop are allowed by default, as in Cyrus and
    // Dovecot (a phone and a desktop both polling): each works on the list
    // it saw at login, a message another session removed answers -ERR, and
    // removing one twice is harmless. pop3_exclusive_lock gives RFC 1939's
    // exclusive lock instead.
    if (svc_->settings.exclusive_lock) {
      if (!svc_->locks->try_lock(*inbox))
        co_return send("-ERR [IN-USE] Maildrop is locked by another POP3 session\r\n"), true;
      locked_ = true;
    }
    mailbox_ = *inbox;
    auto store = svc_->store;
    std::string mbox = mailbox_;
    const bool imap_flags = svc_->settings.use_imap_flags;
    std::string user = id.userid;
    auto load = [store, mbox, imap_flags, user, sid = sid_]()
        -> Result<std::pair<store::MailboxInfo, std::vector<store::MessageRecord>>> {
      auto info = store->lookup(mbox);
      if (!info) return info.take_error();
      auto recs = store->records(mbox);
      if (!recs) return recs.take_error();
      if (imap_flags && !recs->empty()) {
        // popuseimapflags: "all messages will have the \Recent flag unset",
        // as an IMAP SELECT does it: the user's watermark goes to the top.
        // Not fatal (a replica takes no writes): the messages stay \Recent.
        auto seen = store->get_seen(user, mbox);
        if (seen && seen->lastuid < recs->back().uid) {
          store::SeenState st = *seen;
          st.lastuid = recs->back().uid;
          st.lastread = static_cast<int64_t>(std::time(nullptr));
          if (Status set = store->set_seen(user, mbox, st); !set)
            CYR_LOG(Info, sid, "pop3: \\Recent of %s: %s", mbox.c_str(), set.error().describe().c_str());
        }
      }
      return std::make_pair(std::move(*info), std::move(*recs));
    };
    auto loaded = co_await blocking(std::move(load));
    if (!loaded) {
      if (locked_) svc_->locks->unlock(mailbox_);
      locked_ = false;
      CYR_LOG(Notice, sid_, "pop3: %s: %s", mailbox_.c_str(), loaded.error().describe().c_str());
      co_return send("-ERR [SYS/PERM] Unable to open maildrop\r\n"), true;
    }
    uidvalidity_ = loaded->first.uidvalidity;
    for (const auto& r : loaded->second) {
      if (r.expunged()) continue;
      // popuseimapflags: a message IMAP marked \Deleted is not there.
      if (svc_->settings.use_imap_flags && (r.flags.system & store::kFlagDeleted)) continue;
      drop_.push_back(DropEntry{r.uid, r.size, false});
    }
    transaction_ = true;
    userid_ = id.userid;
    identity_ = id;
    deny_recheck_.checked_now();  // the login just checked it
    CYR_LOG(Notice, sid_, "login: %s %s %s%s", client_info().address.c_str(), id.userid.c_str(),
            id.mechanism.c_str(), conn_->is_tls() ? " TLS" : "");
    send("+OK Maildrop locked and ready (" + std::to_string(drop_.size()) + " messages)\r\n");
    co_return true;
  }

  awaitable<bool> stls() {
    auto ctx = tls_context();
    if (!ctx) co_return send("-ERR TLS not available\r\n"), true;
    send("+OK Begin TLS negotiation\r\n");
    if (!co_await flush()) co_return false;
    Status st = co_await conn_->start_tls(ctx);
    if (!st) {
      CYR_LOG(Notice, sid_, "STLS failed: %s", st.error().describe().c_str());
      co_return false;
    }
    pending_user_.reset();
    co_return true;
  }

  const DropEntry* entry(std::string_view arg) {
    auto n = parse_msgno(arg, drop_.size());
    if (!n) return nullptr;
    const DropEntry& e = drop_[*n - 1];
    return e.deleted ? nullptr : &e;
  }

  bool stat() {
    uint64_t count = 0, size = 0;
    for (auto& e : drop_)
      if (!e.deleted) ++count, size += e.size;
    send("+OK " + std::to_string(count) + " " + std::to_string(size) + "\r\n");
    return true;
  }

  std::string uidl_of(const DropEntry& e) const {
    return std::to_string(uidvalidity_) + "." + std::to_string(e.uid);
  }

  bool list(const Command& cmd, bool uidl) {
    if (cmd.args.size() > 1) return send("-ERR Syntax error\r\n"), true;
    if (cmd.args.size() == 1) {
      const DropEntry* e = entry(cmd.args[0]);
      if (!e) return send("-ERR No such message\r\n"), true;
      send("+OK " + cmd.args[0] + " " + (uidl ? uidl_of(*e) : std::to_string(e->size)) + "\r\n");
      return true;
    }
    send("+OK\r\n");
    for (size_t i = 0; i < drop_.size(); ++i) {
      if (drop_[i].deleted) continue;
      send(std::to_string(i + 1) + " " + (uidl ? uidl_of(drop_[i]) : std::to_string(drop_[i].size)) + "\r\n");
    }
    send(".\r\n");
    return true;
  }

  bool dele(const Command& cmd) {
    if (cmd.args.size() != 1) return send("-ERR Syntax: DELE msg\r\n"), true;
    auto n = parse_msgno(cmd.args[0], drop_.size());
    if (!n || drop_[*n - 1].deleted) return send("-ERR No such message\r\n"), true;
    // A replica (or a node holding writes) could not expunge at QUIT: say so
    // now rather than accept a deletion that silently never happens.
    if (Status w = svc_->store->check_writable(); !w.ok())
      return send("-ERR [SYS/TEMP] This server does not accept deletions now; try again later\r\n"), true;
    drop_[*n - 1].deleted = true;
    send("+OK Message " + cmd.args[0] + " deleted\r\n");
    return true;
  }

  awaitable<bool> retr(const Command& cmd, bool top) {
    if (cmd.args.size() != (top ? 2u : 1u)) co_return send(top ? "-ERR Syntax: TOP msg n\r\n"
                                                                : "-ERR Syntax: RETR msg\r\n"), true;
    const DropEntry* e = entry(cmd.args[0]);
    if (!e) co_return send("-ERR No such message\r\n"), true;
    uint64_t lines = 0;
    if (top) {
      auto [p, ec] = std::from_chars(cmd.args[1].data(), cmd.args[1].data() + cmd.args[1].size(), lines);
      if (ec != std::errc() || p != cmd.args[1].data() + cmd.args[1].size())
        co_return send("-ERR Bad line count\r\n"), true;
    }
    auto store = svc_->store;
    std::string mbox = mailbox_;
    store::Uid uid = e->uid;
    DotStuffState stuffing;
    bool first = true;
    // The message streams in chunks; a TOP reads only the first one (and
    // more while the requested lines are not in it).
    uint64_t offset = 0;
    std::string pending;
    for (;;) {
      uint64_t want = kRetrChunk;
      auto read = [store, mbox, uid, offset, want] { return store->read_message(mbox, uid, offset, want); };
      auto chunk = co_await blocking(std::move(read));
      if (!chunk) {
        if (first) {
          // Expunged by an IMAP session since login.
          co_return send("-ERR [SYS/PERM] Message was removed by another session\r\n"), true;
        }
        CYR_LOG(Error, sid_, "pop3: read %s uid %u: %s", mbox.c_str(), uid, chunk.error().describe().c_str());
        co_return false;  // mid-response: the only honest thing left is to drop the connection
      }
      offset += chunk->size();
      bool eof = chunk->size() < want || offset >= e->size;
      std::string out;
      if (first) out = top ? "+OK Top of message follows\r\n" : "+OK " + std::to_string(e->size) + " octets\r\n";
      first = false;
      if (top) {
        pending += *chunk;
        std::string t = top_of_message(pending, lines);
        if (t.size() < pending.size() || eof || pending.size() > (64u << 20)) {
          dot_stuff(t, out, stuffing);
          eof = true;
        } else {
          first = true;  // nothing sent yet: the status line goes with the data
          continue;
        }
      } else {
        dot_stuff(*chunk, out, stuffing);
      }
      if (eof) out += end_of_stuffed(stuffing);
      send(out);
      if (!co_await flush()) co_return false;
      if (eof) break;
    }
    if (!top) {
      for (auto& d : drop_)
        if (d.uid == uid) d.retrieved = true;
    }
    co_return true;
  }

  awaitable<bool> quit() {
    if (!transaction_) co_return send("+OK Bye\r\n"), false;
    // UPDATE state: only now do the deletions take effect.
    store::UidSet gone, read;
    for (auto& e : drop_) {
      if (e.deleted) gone.add(e.uid);
      else if (e.retrieved) read.add(e.uid);
    }
    if (svc_->settings.use_imap_flags && !read.empty()) {
      // popuseimapflags: what the client retrieved is \Seen, as the
      // deletions, in the UPDATE state. Not fatal: mail is not lost if not.
      auto store = svc_->store;
      std::string mbox = mailbox_;
      auto work = [store, mbox, read]() -> Status {
        store::StoreFlagsRequest req;
        req.uids = read;
        req.op = store::FlagOp::Add;
        req.flags.system = store::kFlagSeen;
        auto r = store->store_flags(mbox, req);
        if (!r) return r.take_error();
        return {};
      };
      if (Status st = co_await blocking(std::move(work)); !st)
        CYR_LOG(Notice, sid_, "pop3: \\Seen on %s: %s", mbox.c_str(), st.error().describe().c_str());
    }
    if (!gone.empty()) {
      auto store = svc_->store;
      std::string mbox = mailbox_;
      auto work = [store, mbox, gone] { return store->expunge(mbox, gone); };
      auto r = co_await blocking(std::move(work));
      if (!r) {
        CYR_LOG(Error, sid_, "pop3: expunge %s: %s", mbox.c_str(), r.error().describe().c_str());
        co_return send("-ERR [SYS/TEMP] Some deleted messages were not removed\r\n"), false;
      }
    }
    send("+OK Bye (" + std::to_string(gone.count()) + " messages deleted)\r\n");
    co_return false;
  }

  std::shared_ptr<Pop3dService> svc_;
  std::shared_ptr<Connection> conn_;
  std::string sid_;
  std::optional<std::string> pending_user_;
  bool transaction_ = false;
  bool locked_ = false;
  std::string userid_, mailbox_;
  std::optional<auth::AuthIdentity> identity_;  // set with the maildrop (TRANSACTION state)
  auth::DenyRecheck deny_recheck_;
  uint32_t uidvalidity_ = 0;
  std::vector<DropEntry> drop_;
};

}  // namespace

Result<server::ServiceHandler> make_pop3d_handler(std::shared_ptr<const server::ServiceContext> ctx,
                                                  std::shared_ptr<store::Store> store) {
  if (!ctx || !ctx->conf || !ctx->blocking || !store)
    return Error(Errc::Invalid, "pop3d: incomplete service context");
  auto auth_opts = auth::auth_options_from_config(*ctx->conf, ctx->service_name, "pop");
  if (!auth_opts) return auth_opts.take_error();
  static auto locks = std::make_shared<MaildropLocks>();
  static auto logins = std::make_shared<LoginTimes>();
  auto svc = std::make_shared<Pop3dService>();
  svc->ctx = ctx;
  svc->store = std::move(store);
  svc->auth = std::make_shared<auth::Authenticator>(std::move(*auth_opts));
  svc->locks = locks;
  svc->logins = logins;
  const auto& conf = *ctx->conf;
  auto& s = svc->settings;
  s.timeout = conf.get_duration("poptimeout", ctx->service_name);
  s.minpoll = conf.get_duration("popminpoll", ctx->service_name);
  s.exclusive_lock = conf.get_switch("pop3_exclusive_lock", ctx->service_name);
  s.use_imap_flags = conf.get_switch("popuseimapflags", ctx->service_name);
  s.pollpadding = conf.get_int("poppollpadding", ctx->service_name);
  s.expiretime = conf.get_duration("popexpiretime", ctx->service_name);
  s.virtdomains = conf.get_string("virtdomains", ctx->service_name) != "off";
  s.servername = conf.get_string("servername", ctx->service_name);
  if (s.servername.empty()) {
    char host[256] = {0};
    if (gethostname(host, sizeof host - 1) == 0) s.servername = host;
  }
  server::ServiceHandler h;
  h.refusal_line = "-ERR [SYS/TEMP] Too many connections, try again later\r\n";
  h.run_session = [svc](std::shared_ptr<Connection> conn) -> awaitable<void> {
    Pop3Session session(svc, std::move(conn));
    co_await session.run();
  };
  return h;
}

Result<server::ServiceHandler> make_pop3d_handler(std::shared_ptr<const server::ServiceContext> ctx) {
  if (!ctx || !ctx->conf) return Error(Errc::Invalid, "pop3d: incomplete service context");
  auto store = server::node_store(*ctx->conf);
  if (!store) return store.take_error();
  return make_pop3d_handler(std::move(ctx), std::move(*store));
}

void register_pop3d_service(server::ServiceRegistry& registry) {
  registry.add("pop3d", [](std::shared_ptr<const server::ServiceContext> ctx) {
    return make_pop3d_handler(std::move(ctx));
  });
}

}  // namespace cyr::pop3d
