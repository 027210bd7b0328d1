// The LMTP session (one connection, greeting to QUIT) and the lmtpd factory.
#include "server/lmtpd/lmtpd_service.h"

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <mutex>

#include "server/auth/base64.h"
#include "server/net/client_info.h"
#include "server/net/command_loop.h"
#include "server/net/connection.h"
#include "server/node_store.h"
#include "store/base/log.h"
#include "store/config/paths.h"
#include "store/mail/message.h"

namespace cyr::lmtpd {

namespace asio = boost::asio;
template <class T>
using awaitable = asio::awaitable<T>;
using server::net::Connection;
using server::net::EndReason;

namespace {

// Output is written to the spool file in pieces of this size.
constexpr size_t kWriteChunk = 256 * 1024;

// A full disk (NoSpace: 452 4.3.1 at the end of DATA) or another error.
Error spool_error(const std::string& what, int err) {
  return Error(err == ENOSPC || err == EDQUOT ? Errc::NoSpace : Errc::Io, "Cannot spool message",
               what + ": " + strerror(err));
}

Status write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t w = ::write(fd, data.data(), data.size());
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return spool_error("write", w < 0 ? errno : ENOSPC);
    data.remove_prefix(static_cast<size_t>(w));
  }
  return {};
}

// One DATA's spool file, made at its first write. Every call blocks on the
// disk (creating a file allocates an inode, which on ext4 without a journal
// scans the group's recently freed inodes), so sessions call them on the
// blocking pool, never on an I/O thread. A message that fits in one write
// piece never gets one: its bytes go to the store. A write error is kept,
// not returned: the rest of the DATA stream is still read, and the message
// is refused with 451 at its end. The session removes the file on the pool;
// the destructor removes one only when a session ends without that (shut
// down in the middle of DATA).
struct SpoolFile {
  std::filesystem::path dir;
  std::string path;  // "" until made
  int fd = -1;
  Status io;

  explicit SpoolFile(std::filesystem::path d) : dir(std::move(d)) {}
  SpoolFile(const SpoolFile&) = delete;
  SpoolFile& operator=(const SpoolFile&) = delete;
  ~SpoolFile() { remove(); }

  void append(std::string_view bytes) {
    if (!io.ok() || bytes.empty()) return;
    if (path.empty()) {
      std::string p = (dir / "lmtp-XXXXXX").string();
      fd = ::mkstemp(p.data());
      if (fd < 0) {
        io = spool_error(p, errno);
        return;
      }
      path = std::move(p);
      ::fchmod(fd, 0640);
    }
    io = write_all(fd, bytes);
  }
  // The file stays for the store to link.
  void close() {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }
  void remove() {
    close();
    if (!path.empty()) ::unlink(path.c_str());
    path.clear();
  }
};

class LmtpSession {
 public:
  LmtpSession(std::shared_ptr<LmtpdService> svc, std::shared_ptr<Connection> conn)
      : svc_(std::move(svc)), conn_(std::move(conn)), sid_(conn_->sid()),
        authorized_(conn_->is_unix() || svc_->preauth_tcp) {}

  awaitable<void> run() {
    conn_->set_idle_timeout(svc_->timeout);
    send("220 " + svc_->settings.servername + " LMTP Cyrus (HA) ready\r\n");
    if (!co_await flush()) co_return;
    server::net::LinePolicy policy;
    policy.max_line = kMaxCommandLine;
    policy.too_long = "500 5.5.2 Line too long\r\n";
    policy.shutdown = "421 4.3.2 Server shutting down\r\n";
    policy.idle = "421 4.4.2 Idle timeout, closing connection\r\n";
    co_await server::net::serve_command_lines(*conn_, policy,
                                              [this](const std::string& line) { return command(line); });
  }

 private:
  // One command line; false: end the session.
  awaitable<bool> command(const std::string& line) {
    auto cmd = parse_command(line);
    if (!cmd) {
      send(cmd.error().user_message + "\r\n");
      co_return true;
    }
    co_return co_await dispatch(*cmd);
  }

  void send(std::string_view s) { conn_->write(s); }
  void send(const Reply& r) { conn_->write(r.format()); }

  awaitable<bool> flush() {
    Status st = co_await conn_->flush();
    co_return st.ok();
  }

  template <class F>
  auto blocking(F fn) {
    return svc_->ctx->blocking->run(std::move(fn));
  }

  void reset_transaction() {
    sender_.reset();
    auth_poster_.clear();
    targets_.clear();
    declared_size_ = 0;
  }

  auth::ClientInfo client_info() const { return server::net::client_info_of(*conn_); }

  // False: end the session.
  awaitable<bool> dispatch(const Command& cmd) {
    switch (cmd.verb) {
      case Verb::Lhlo: co_return lhlo(cmd);
      case Verb::Helo:
      case Verb::Ehlo: send("500 5.5.1 This is LMTP: use LHLO\r\n"); co_return true;
      case Verb::Mail: co_return mail(cmd);
      case Verb::Rcpt: co_return co_await rcpt(cmd);
      case Verb::Data: co_return co_await data();
      case Verb::Rset: reset_transaction(); send("250 2.0.0 Ok\r\n"); co_return true;
      case Verb::Noop: send("250 2.0.0 Ok\r\n"); co_return true;
      case Verb::Quit: send("221 2.0.0 Bye\r\n"); co_return false;
      case Verb::Vrfy: send("252 2.5.0 Cannot VRFY user; try RCPT to attempt delivery\r\n"); co_return true;
      case Verb::StartTls: co_return co_await starttls();
      case Verb::Auth: co_return co_await authenticate(cmd);
      case Verb::Unknown: send("500 5.5.2 Unrecognized command\r\n"); co_return true;
    }
    co_return true;
  }

  std::shared_ptr<asio::ssl::context> tls_context() const {
    if (conn_->is_unix() || conn_->is_tls() || !svc_->ctx->tls_context) return nullptr;
    return svc_->ctx->tls_context();
  }

  // The trace field every delivery gets (RFC 5321 4.4), as Cyrus's lmtpd
  // writes it: the client's LHLO name and address, this server, and the
  // protocol by RFC 3848's names (LMTP, LMTPS with STARTTLS, LMTPA / LMTPSA
  // after AUTH).
  std::string received_field() const {
    std::string from;
    for (char c : lhlo_name_.substr(0, 255))
      from += (static_cast<unsigned char>(c) > 0x20 && static_cast<unsigned char>(c) < 0x7f && c != '(' && c != ')')
                  ? c
                  : '_';
    if (from.empty()) from = "unknown";
    std::string address = "unix socket";
    if (!conn_->is_unix()) {
      const std::string& peer = conn_->peer();  // "192.0.2.1:51234" or "[2001:db8::1]:51234"
      if (!peer.empty() && peer.front() == '[') {
        address = "[IPv6:" + peer.substr(1, peer.find(']') - 1) + "]";
      } else {
        address = "[" + peer.substr(0, peer.rfind(':')) + "]";
      }
    }
    std::string with = "LMTP";
    if (conn_->is_tls()) with += "S";
    if (identity_) with += "A";
    return "Received: from " + from + " (" + address + ")\r\n\tby " + svc_->settings.servername +
           " (Cyrus IMAP HA) with " + with + ";\r\n\t" + mail::format_rfc5322_date(::time(nullptr)) + "\r\n";
  }

  bool lhlo(const Command& cmd) {
    if (cmd.arg.empty()) {
      send("501 5.5.4 Syntax: LHLO hostname\r\n");
      return true;
    }
    reset_transaction();
    lhlo_done_ = true;
    lhlo_name_ = cmd.arg;
    send("250-" + svc_->settings.servername + "\r\n");
    send("250-8BITMIME\r\n250-ENHANCEDSTATUSCODES\r\n250-PIPELINING\r\n");
    if (svc_->settings.max_message_size > 0)
      send("250-SIZE " + std::to_string(svc_->settings.max_message_size) + "\r\n");
    else
      send("250-SIZE\r\n");
    if (tls_context()) send("250-STARTTLS\r\n");
    if (!conn_->is_unix() && !identity_) {
      auto mechs = svc_->auth->mechanisms(conn_->is_tls());
      if (!mechs.empty()) {
        std::string line = "250-AUTH";
        for (auto& m : mechs) line += " " + m;
        send(line + "\r\n");
      }
    }
    send("250 IGNOREQUOTA\r\n");
    return true;
  }

  bool mail(const Command& cmd) {
    if (!lhlo_done_) return send("503 5.5.1 Send LHLO first\r\n"), true;
    if (sender_) return send("503 5.5.1 Nested MAIL command\r\n"), true;
    if (!authorized_ && !identity_) {
      send(svc_->soft_noauth ? "430 4.7.0 Authentication required\r\n"
                             : "530 5.7.0 Authentication required\r\n");
      return true;
    }
    auto mp = parse_mail_params(cmd.params);
    if (!mp) return send(mp.error().user_message + "\r\n"), true;
    if (mp->size && svc_->settings.max_message_size > 0 && *mp->size > svc_->settings.max_message_size)
      return send("552 5.3.4 Message size exceeds fixed maximum message size\r\n"), true;
    sender_ = cmd.path;
    declared_size_ = mp->size.value_or(0);
    // MAIL AUTH= names whose rights apply (cyr_deliver -a), but only a
    // trusted client (unix socket, -a, or an admin) may say so.
    bool trusted = authorized_ || (identity_ && identity_->is_admin);
    if (trusted && !mp->auth.empty() && mp->auth != "<>") auth_poster_ = mp->auth;
    send("250 2.1.0 Ok\r\n");
    return true;
  }

  awaitable<bool> rcpt(const Command& cmd) {
    if (!sender_) {
      send("503 5.5.1 Need MAIL command\r\n");
      co_return true;
    }
    if (targets_.size() >= kMaxRecipients) {
      send("452 4.5.3 Too many recipients\r\n");
      co_return true;
    }
    for (const auto& p : cmd.params) {
      if (p.keyword != "NOTIFY" && p.keyword != "ORCPT") {
        send("555 5.5.4 Unsupported parameter " + p.keyword + "\r\n");
        co_return true;
      }
    }
    auto addr = split_recipient(cmd.path, svc_->settings.downcase_rcpt);
    if (!addr) {
      send(addr.error().user_message + "\r\n");
      co_return true;
    }
    std::string poster = !auth_poster_.empty() ? auth_poster_ : identity_ ? identity_->userid : std::string();
    auto svc = svc_;
    std::string sid = sid_;
    uint64_t size = declared_size_;
    // Named before co_await: g++ 12 mishandles lambda temporaries with
    // init-captures inside a co_await expression (double destruction).
    RecipientAddress a = std::move(*addr);
    auto work = [svc, a, poster, sid, size]() -> Result<std::pair<Target, std::optional<Reply>>> {
      auto t = resolve_recipient(*svc->store, svc->settings, a, poster, sid);
      if (!t) return t.take_error();
      auto q = precheck_quota(*svc->store, svc->settings, *t, size);
      return std::make_pair(std::move(*t), std::move(q));
    };
    auto resolved = co_await blocking(std::move(work));
    if (!resolved) {
      CYR_LOG(Info, sid_, "rcpt <%s>: %s", cmd.path.c_str(), resolved.error().describe().c_str());
      send(resolved.error().user_message + "\r\n");
      co_return true;
    }
    if (resolved->second) {
      send(*resolved->second);
      co_return true;
    }
    resolved->first.address = cmd.path;
    targets_.push_back(std::move(resolved->first));
    send("250 2.1.5 Ok\r\n");
    co_return true;
  }

  // Removes a DATA's spool file (if it was made) on the blocking pool.
  awaitable<void> discard(const std::shared_ptr<SpoolFile>& spool) {
    auto drop = [spool]() -> Status {
      spool->remove();
      return {};
    };
    (void)co_await blocking(std::move(drop));
  }

  // Reads the DATA stream, appending what it decodes to `out`; whenever
  // `out` holds a write piece, writes it to the spool file on the blocking
  // pool. Discards the rest once the message grew too big. False if the
  // connection failed.
  awaitable<bool> read_data(DataDecoder& dec, const std::shared_ptr<SpoolFile>& spool, std::string& out,
                            uint64_t limit, bool& too_big) {
    while (!dec.finished()) {
      // Whatever the socket delivered, in one piece; the decoder stops at
      // the end line, so a pipelined command after it stays buffered.
      auto chunk = co_await conn_->peek_some();
      if (!chunk) co_return false;
      conn_->consume(dec.feed(*chunk, out));
      if (dec.size() > limit) too_big = true;
      if (too_big) {
        out.clear();
      } else if (out.size() >= kWriteChunk) {
        auto piece = std::make_shared<std::string>(std::move(out));
        out.clear();
        auto write = [spool, piece]() -> Status {
          spool->append(*piece);
          return {};
        };
        (void)co_await blocking(std::move(write));
      }
    }
    co_return true;
  }

  awaitable<bool> data() {
    if (!sender_) {
      send("503 5.5.1 Need MAIL command\r\n");
      co_return true;
    }
    if (targets_.empty()) {
      send("503 5.5.1 No valid recipients\r\n");
      co_return true;
    }
    send("354 Go ahead; end data with <CR><LF>.<CR><LF>\r\n");
    if (!co_await flush()) co_return false;
    auto spool = std::make_shared<SpoolFile>(svc_->spool_dir);
    std::string out = "Return-Path: <" + *sender_ + ">\r\n" + received_field();
    const size_t added_header_bytes = out.size();
    DataDecoder dec(svc_->settings.munge8bit && !svc_->settings.reject8bit);
    uint64_t limit = svc_->settings.max_message_size > 0 ? svc_->settings.max_message_size
                                                         : (uint64_t{1} << 31);
    bool too_big = false;
    bool alive = co_await read_data(dec, spool, out, limit, too_big);
    if (!alive) {
      // A dropped connection delivers nothing; a large message's partial
      // file is removed before the session ends.
      co_await discard(spool);
      CYR_LOG(Notice, sid_, "connection lost during DATA; nothing delivered");
      co_return false;
    }

    std::vector<Reply> replies;
    MessageFacts facts{dec.size(), dec.bare_lf(), dec.has_nul(), dec.header_8bit()};
    std::optional<Reply> refuse = check_message(svc_->settings, facts);
    if (too_big) refuse = Reply{552, "5.3.4", "Message size exceeds fixed maximum message size"};
    if (refuse) {
      CYR_LOG(Notice, sid_, "message from <%s> refused: %d %s", sender_->c_str(), refuse->code,
              refuse->text.c_str());
      replies.assign(targets_.size(), *refuse);
      co_await discard(spool);
    } else {
      SpooledMessage msg;
      msg.size = dec.size();
      msg.header = std::string(dec.header());
      msg.added_header_bytes = added_header_bytes;
      msg.envelope_from = *sender_;
      msg.auth = auth_poster_;
      if (auto id = mail::find_header(dec.header(), "Message-ID")) msg.message_id = *id;
      auto svc = svc_;
      auto targets = targets_;
      std::string sid = sid_;
      auto rest = std::make_shared<std::string>(std::move(out));
      // The delivery in one hop. A message that fits in one write piece
      // (most mail) was never written to a spool file: its bytes go to the
      // store, which writes the message file once. A larger one's last
      // piece is written here, and its spool file removed after.
      auto work = [svc, spool, rest, msg, targets, sid]() mutable -> Result<std::vector<Reply>> {
        if (spool->path.empty() && spool->io.ok()) {
          msg.bytes = std::move(*rest);
        } else {
          spool->append(*rest);
          spool->close();
          if (!spool->io.ok()) {
            CYR_LOG(Error, sid, "spool: %s", spool->io.error().describe().c_str());
            spool->remove();
            if (spool->io.error().code == Errc::NoSpace)
              return std::vector<Reply>(targets.size(), reply_for_store_error(spool->io.error(), svc->settings));
            return std::vector<Reply>(targets.size(), Reply{451, "4.3.0", "Temporary failure spooling the message"});
          }
          msg.path = spool->path;
        }
        auto r = deliver_spooled(*svc->store, svc->dupdb.get(), svc->settings, msg, targets, sid);
        spool->remove();
        return r;
      };
      auto r = co_await blocking(std::move(work));
      if (r) replies = std::move(*r);
      else replies.assign(targets_.size(), Reply{451, "4.3.0", "Temporary failure"});
    }
    for (const auto& r : replies) send(r);
    reset_transaction();
    co_return true;
  }

  awaitable<bool> starttls() {
    auto ctx = tls_context();
    if (!ctx) {
      send(conn_->is_tls() ? "503 5.5.1 TLS already active\r\n" : "454 4.7.0 TLS not available\r\n");
      co_return true;
    }
    send("220 2.0.0 Ready to start TLS\r\n");
    if (!co_await flush()) co_return false;
    Status st = co_await conn_->start_tls(ctx);
    if (!st) {
      CYR_LOG(Notice, sid_, "STARTTLS failed: %s", st.error().describe().c_str());
      co_return false;
    }
    // RFC 3207 4.2: forget everything learnt before TLS.
    reset_transaction();
    lhlo_done_ = false;
    co_return true;
  }

  awaitable<void> sleep_for(std::chrono::milliseconds d) {
    if (d.count() <= 0) co_return;
    asio::steady_timer t(conn_->get_executor());
    t.expires_after(d);
    boost::system::error_code ec;
    co_await t.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }

  awaitable<bool> authenticate(const Command& cmd) {
    if (conn_->is_unix()) co_return send("503 5.5.1 AUTH not needed on this socket\r\n"), true;
    if (identity_) co_return send("503 5.5.1 Already authenticated\r\n"), true;
    if (sender_) co_return send("503 5.5.1 AUTH not allowed during a mail transaction\r\n"), true;
    std::string_view arg = cmd.arg;
    auto sp = arg.find(' ');
    std::string mech(arg.substr(0, sp));
    std::optional<std::string> response;
    if (sp != std::string_view::npos) {
      std::string_view ir = arg.substr(sp + 1);
      if (ir == "=") {
        response = std::string();
      } else {
        auto dec = auth::base64_decode(ir, auth::kMaxSaslMessage);
        if (!dec) co_return send("501 5.5.2 Initial response is not valid base64\r\n"), true;
        response = std::move(*dec);
      }
    }
    auto client = client_info();
    auto authn = svc_->auth;
    auto start = [authn, client, mech] { return authn->start_sasl(client, mech); };
    auto ex = co_await blocking(std::move(start));
    if (!ex) co_return send("504 5.5.4 Unrecognized authentication type\r\n"), true;
    std::shared_ptr<auth::SaslExchange> exchange = std::move(*ex);
    for (int round = 0; round < 16; ++round) {
      auto next = [exchange, response]() {
        std::optional<std::string_view> v;
        if (response) v = *response;
        return exchange->step(v);
      };
      auto step = co_await blocking(std::move(next));
      if (!step) {
        co_await sleep_for(authn->failure_delay(client.address));
        if (step.error().code == Errc::Temp)
          co_return send("454 4.7.0 Temporary authentication failure\r\n"), true;
        co_return send("535 5.7.8 Authentication failed\r\n"), true;
      }
      if (step->done) {
        identity_ = exchange->identity();
        CYR_LOG(Notice, sid_, "login: %s %s %s", client.address.c_str(), identity_->userid.c_str(),
                identity_->mechanism.c_str());
        co_return send("235 2.0.0 Authentication successful\r\n"), true;
      }
      send("334 " + auth::base64_encode(step->data) + "\r\n");
      if (!co_await flush()) co_return false;
      auto line = co_await conn_->read_line(4 * auth::kMaxSaslMessage / 3 + 16, Connection::ReadMode::InCommand);
      if (!line) {
        if (conn_->end_reason() == EndReason::LineTooLong)
          co_return send("500 5.5.6 Authentication response too long\r\n"), true;
        co_return false;
      }
      if (*line == "*") co_return send("501 5.7.0 Authentication cancelled\r\n"), true;
      auto dec = auth::base64_decode(*line, auth::kMaxSaslMessage);
      if (!dec) co_return send("501 5.5.2 Response is not valid base64\r\n"), true;
      response = std::move(*dec);
    }
    co_return send("501 5.7.0 Too many authentication rounds\r\n"), true;
  }

  std::shared_ptr<LmtpdService> svc_;
  std::shared_ptr<Connection> conn_;
  std::string sid_;
  bool authorized_;
  bool lhlo_done_ = false;
  std::string lhlo_name_;  // as the client gave it, for the Received field
  std::optional<auth::AuthIdentity> identity_;
  std::optional<std::string> sender_;
  std::string auth_poster_;  // MAIL AUTH= from a trusted client
  uint64_t declared_size_ = 0;
  std::vector<Target> targets_;
};

std::mutex g_dup_mu;
std::shared_ptr<store::DuplicateDb> g_dupdb;
bool g_dup_tried = false;

// A DATA spool file belongs to one session; a file still there when this
// process creates its first LMTP service was left by a process that died
// mid-transaction (its sender got no 250 and will retry). Only the first
// creation cleans: a service added later by SIGHUP must not delete the spool
// files of sessions already running in this process, and the master's pid
// lock keeps a second master away.
void remove_spool_leftovers_once(const std::filesystem::path& dir, const std::string& service) {
  static std::once_flag once;
  std::call_once(once, [&] {
    std::error_code ec;
    size_t removed = 0;
    for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
      if (!it->path().filename().string().starts_with("lmtp-")) continue;
      std::error_code rm_ec;
      if (std::filesystem::remove(it->path(), rm_ec)) ++removed;
    }
    if (removed)
      CYR_LOG(Notice, service, "lmtpd: removed %zu spool file(s) left by an interrupted delivery in %s",
              removed, dir.c_str());
  });
}

}  // namespace

std::shared_ptr<store::DuplicateDb> process_duplicate_db(const config::ImapdConf& conf) {
  std::lock_guard lk(g_dup_mu);
  if (g_dupdb || g_dup_tried) return g_dupdb;
  g_dup_tried = true;
  auto paths = config::Paths::from_config(conf);
  if (!paths) {
    CYR_LOG(Warning, "", "duplicate database: %s", paths.error().describe().c_str());
    return nullptr;
  }
  auto db = store::DuplicateDb::open(paths->duplicate_db_path);
  if (!db) {
    CYR_LOG(Warning, "", "duplicate database %s unusable, delivering without suppression: %s",
            paths->duplicate_db_path.c_str(), db.error().describe().c_str());
    return nullptr;
  }
  g_dupdb = std::move(*db);
  return g_dupdb;
}

Result<server::ServiceHandler> make_lmtpd_handler(std::shared_ptr<const server::ServiceContext> ctx,
                                                  std::shared_ptr<store::Store> store,
                                                  std::shared_ptr<store::DuplicateDb> dupdb) {
  if (!ctx || !ctx->conf || !ctx->blocking || !store)
    return Error(Errc::Invalid, "lmtpd: incomplete service context");
  auto auth_opts = auth::auth_options_from_config(*ctx->conf, ctx->service_name, "lmtp");
  if (!auth_opts) return auth_opts.take_error();
  auto paths = config::Paths::from_config(*ctx->conf);
  if (!paths) return paths.take_error();
  auto svc = std::make_shared<LmtpdService>();
  svc->ctx = ctx;
  svc->store = std::move(store);
  svc->settings = delivery_settings_from_config(*ctx->conf, ctx->service_name);
  svc->dupdb = std::move(dupdb);
  svc->auth = std::make_shared<auth::Authenticator>(std::move(*auth_opts));
  svc->preauth_tcp = ctx->has_flag("-a");
  svc->soft_noauth = ctx->conf->get_switch("soft_noauth", ctx->service_name);
  // The spool lies on the default partition so the store can hard-link it.
  auto part = paths->partitions.find(paths->defaultpartition);
  if (part == paths->partitions.end()) return Error(Errc::Invalid, "lmtpd: no default partition");
  svc->spool_dir = part->second / "lmtp.spool";
  std::error_code ec;
  std::filesystem::create_directories(svc->spool_dir, ec);
  if (ec) return Error(Errc::Io, "lmtpd: cannot create the spool directory",
                       svc->spool_dir.string() + ": " + ec.message());
  remove_spool_leftovers_once(svc->spool_dir, ctx->service_name);
  server::ServiceHandler h;
  h.refusal_line = "421 4.3.2 Too many connections, try again later\r\n";
  h.run_session = [svc](std::shared_ptr<Connection> conn) -> awaitable<void> {
    LmtpSession session(svc, std::move(conn));
    co_await session.run();
  };
  return h;
}

Result<server::ServiceHandler> make_lmtpd_handler(std::shared_ptr<const server::ServiceContext> ctx) {
  if (!ctx || !ctx->conf) return Error(Errc::Invalid, "lmtpd: incomplete service context");
  auto store = server::node_store(*ctx->conf);
  if (!store) return store.take_error();
  // Opened even without duplicatesuppression: Sieve's vacation and
  // duplicate test keep their records there too (deliver_spooled consults
  // it for suppression only when duplicatesuppression is on).
  return make_lmtpd_handler(std::move(ctx), std::move(*store), process_duplicate_db(*ctx->conf));
}

void register_lmtpd_service(server::ServiceRegistry& registry) {
  registry.add("lmtpd", [](std::shared_ptr<const server::ServiceContext> ctx) {
    return make_lmtpd_handler(std::move(ctx));
  });
}

}  // namespace cyr::lmtpd
