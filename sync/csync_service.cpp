// csync over a Connection. See csync_service.h and reference §1.
#include "sync/csync_service.h"

#include <unistd.h>

#include <atomic>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <filesystem>
#include <mutex>

#include "server/auth/authenticator.h"
#include "server/auth/base64.h"
#include "server/imapd/replication_hook.h"
#include "server/net/connection.h"
#include "server/node_store.h"
#include "store/base/log.h"
#include "store/config/paths.h"
#include "store/spool.h"
#include "sync/dlist_decoder.h"
#include "sync/sync_compress.h"
#include "sync/sync_frame.h"
#include "sync/sync_server.h"

namespace cyr::sync {

namespace {

namespace net = server::net;
using server::net::awaitable;

constexpr size_t kMaxPhysicalLine = 32u << 20;  // one line segment between literals
constexpr size_t kMaxReadChunk = 1u << 20;
constexpr size_t kMaxHeldReplies = 64u << 10;  // replies held back while pipelined commands are buffered

struct CsyncService {
  std::shared_ptr<const server::ServiceContext> ctx;
  std::shared_ptr<store::Store> store;
  std::shared_ptr<auth::Authenticator> auth;
  std::string servername;
  std::filesystem::path staging_root;
  std::chrono::seconds timeout{1800};
  std::atomic<uint64_t> sessions{0};
  bool pair_member = false;  // failover_peer set: refuse APPLY while primary
  std::shared_ptr<ApplyRefusals> refusals;  // the node's refused-items counter
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

// The byte stream of a csync session: the Connection itself, or, once the
// client turned on X-CYR-COMPRESS (sync_compress.h), a zstd stream in each
// direction over it. Line and exact reads keep the Connection's meaning.
class Wire {
 public:
  explicit Wire(net::Connection& c) : conn_(c) {}
  bool compressed() const { return enc_ != nullptr; }
  void start_zstd() {
    enc_ = std::make_unique<ZstdEncoder>();
    dec_ = std::make_unique<ZstdDecoder>();
  }
  void write(std::string_view s) {
    if (enc_) pending_.append(s);
    else conn_.write(s);
  }
  awaitable<Status> flush() {
    if (enc_ && !pending_.empty()) {
      std::string out;
      Status st = enc_->encode_flush(pending_, out);
      pending_.clear();
      if (!st.ok()) co_return st;
      conn_.write(out);
    }
    co_return co_await conn_.flush();
  }
  bool line_too_long() const { return enc_ ? too_long_ : conn_.end_reason() == net::EndReason::LineTooLong; }
  // A whole next line already received (uncompressed streams only; a
  // compressed one is always flushed).
  bool more_input_buffered() const { return !enc_ && conn_.line_buffered(); }
  size_t pending_output() const { return enc_ ? pending_.size() : conn_.pending_output(); }

  awaitable<Result<std::string>> read_line(size_t max_len, net::Connection::ReadMode mode) {
    if (!enc_) co_return co_await conn_.read_line(max_len, mode);
    too_long_ = false;
    bool skipping = false;
    for (;;) {
      size_t nl = plain_.find('\n', ppos_);
      if (nl != std::string::npos) {
        std::string line = plain_.substr(ppos_, nl - ppos_);
        ppos_ = nl + 1;
        compact();
        if (skipping) {
          too_long_ = true;
          co_return Error(Errc::Limit, "Line too long");
        }
        if (!line.empty() && line.back() == '\r') line.pop_back();
        co_return line;
      }
      if (plain_.size() - ppos_ > max_len) {  // drop it, keep looking for its end
        skipping = true;
        plain_.clear();
        ppos_ = 0;
      }
      Status st = co_await more();
      if (!st.ok()) co_return st.error();
    }
  }

  awaitable<Result<std::string>> read_exact(size_t n) {
    if (!enc_) co_return co_await conn_.read_exact(n);
    while (plain_.size() - ppos_ < n) {
      Status st = co_await more();
      if (!st.ok()) co_return st.error();
    }
    std::string out = plain_.substr(ppos_, n);
    ppos_ += n;
    compact();
    co_return out;
  }

 private:
  // Decodes what the socket has; at most 4 MiB of output per call, so a
  // small input cannot expand without bound before it is consumed.
  awaitable<Status> more() {
    if (dec_->pending_output()) {
      size_t before = plain_.size();
      auto r = dec_->decode({}, plain_, 4u << 20);
      if (!r.ok()) co_return r.take_error();
      if (plain_.size() > before) co_return Status{};
    }
    auto v = co_await conn_.peek_some();
    if (!v.ok()) co_return v.take_error();
    size_t before = plain_.size();
    auto used = dec_->decode(*v, plain_, 4u << 20);
    if (!used.ok()) co_return used.take_error();
    conn_.consume(*used);
    if (*used == 0 && plain_.size() == before) co_return Error(Errc::Corrupted, "Compressed stream stalled");
    co_return Status{};
  }
  void compact() {
    if (ppos_ == plain_.size()) {
      plain_.clear();
      ppos_ = 0;
    } else if (ppos_ > (1u << 20)) {
      plain_.erase(0, ppos_);
      ppos_ = 0;
    }
  }

  net::Connection& conn_;
  std::unique_ptr<ZstdEncoder> enc_;
  std::unique_ptr<ZstdDecoder> dec_;
  std::string pending_;  // output since the last flush (compressed mode)
  std::string plain_;    // decoded input not consumed yet
  size_t ppos_ = 0;
  bool too_long_ = false;
};

// One logical command line with its literals, read from `conn` through
// `framer`. `first`, if given, is the line's first segment already read by
// the caller (imapd, which saw the tag and verb). A line that does not frame
// gives `bad` (the text after "BAD "); the stream stays in step.
struct FramedLine {
  std::optional<RawLine> line;
  std::string bad;
};

awaitable<Result<FramedLine>> read_framed_line(Wire& conn, LineFramer& framer,
                                               std::optional<std::string> first) {
  auto mode = net::Connection::ReadMode::Idle;
  for (;;) {
    std::string text;
    if (first) {
      text = std::move(*first);
      first.reset();
    } else {
      auto seg = co_await conn.read_line(kMaxPhysicalLine, mode);
      if (!seg.ok()) {
        if (conn.line_too_long())
          co_return FramedLine{std::nullopt, "IMAP_PROTOCOL_ERROR Line too long"};
        co_return seg.take_error();
      }
      text = std::move(*seg);
    }
    mode = net::Connection::ReadMode::InCommand;
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
      auto bytes = co_await conn.read_exact(chunk);
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
      if (!raw.ok()) co_return FramedLine{std::nullopt, raw.error().user_message};
      co_return FramedLine{std::move(*raw), {}};
    }
  }
}

// Staging of one replication session: "<pid>-<n>" below the root, so that a
// new process can tell a killed process's leftovers from live sessions.
std::filesystem::path session_staging_dir(const std::filesystem::path& root, std::atomic<uint64_t>& counter,
                                          const char* kind = "") {
  return root / (std::to_string(::getpid()) + "-" + kind + std::to_string(++counter));
}

class CsyncSession : public std::enable_shared_from_this<CsyncSession> {
 public:
  CsyncSession(std::shared_ptr<CsyncService> svc, std::shared_ptr<net::Connection> conn)
      : svc_(std::move(svc)), conn_(std::move(conn)) {
    SyncServerOptions o;
    o.staging_dir = session_staging_dir(svc_->staging_root, svc_->sessions);
    o.sid = conn_->sid();
    o.refuse_apply_on_primary = svc_->pair_member;
    o.refusals = svc_->refusals;
    engine_ = std::make_unique<SyncServerSession>(*svc_->store, std::move(o));
  }

  awaitable<void> run() {
    conn_->set_idle_timeout(svc_->timeout);
    send_banner();
    if (!(co_await wire_.flush()).ok()) co_return;
    for (;;) {
      auto line = co_await read_command();
      if (!line.ok()) {
        if (conn_->end_reason() == net::EndReason::Shutdown) {
          wire_.write("BYE shutting down\r\n");
          (void)co_await wire_.flush();
        }
        co_return;
      }
      if (!line->has_value()) {  // framing error already answered
        if (!(co_await wire_.flush()).ok()) co_return;
        continue;
      }
      bool keep = co_await dispatch(std::move(**line));
      if (!keep) {
        (void)co_await wire_.flush();
        co_return;
      }
      // A replication client pipelines its rounds (APPLY MESSAGE and APPLY
      // MAILBOX, now and then a RESTART, in one write): their replies go out
      // together, not a write (and a wake-up of the client's reader) per
      // command.
      if (wire_.more_input_buffered() && wire_.pending_output() < kMaxHeldReplies) continue;
      if (!(co_await wire_.flush()).ok()) co_return;
    }
  }

 private:
  void send_banner() {
    if (!identity_) {
      auto mechs = svc_->auth->mechanisms(conn_->is_tls());
      if (!mechs.empty()) {
        std::string l = "* SASL";
        for (auto& m : mechs) l += " " + m;
        wire_.write(l + "\r\n");
      }
      if (!conn_->is_tls() && svc_->ctx->tls_context && svc_->ctx->tls_context()) wire_.write("* STARTTLS\r\n");
      wire_.write("* X-CYR-SYNC " + std::to_string(kCsyncProtocolVersion) + "\r\n");
      wire_.write(std::string("* ") + std::string(kCompressCapability) + " " + std::string(kCompressZstd) + "\r\n");
    }
    wire_.write("* OK " + svc_->servername + " Cyrus sync server 3.6.1 (cyrus-ha)\r\n");
  }

  // One logical line with its literals. An empty optional means the line was
  // malformed and a BAD was already queued (the stream stays in step).
  awaitable<Result<std::optional<RawLine>>> read_command() {
    LineFramer framer(engine_->framer_limits(), engine_->file_sinks());
    auto framed = co_await read_framed_line(wire_, framer, std::nullopt);
    if (!framed.ok()) co_return framed.take_error();
    if (!framed->line) wire_.write("BAD " + framed->bad + "\r\n");
    co_return std::move(framed->line);
  }

  awaitable<bool> dispatch(RawLine raw) {
    std::string_view text = raw.text;
    std::string verb(text.substr(0, text.find(' ')));
    for (auto& c : verb) c = static_cast<char>(toupper(static_cast<unsigned char>(c)));
    if (verb.empty()) {
      wire_.write("BAD Null command\r\n");
      co_return true;
    }
    if (verb == "AUTHENTICATE") co_return co_await authenticate(raw.text);
    if (verb == "STARTTLS") co_return co_await starttls();
    if (verb == "COMPRESS") {  // Cyrus's DEFLATE: not offered, so never asked for by Cyrus
      wire_.write("NO Compression not available\r\n");
      co_return true;
    }
    if (verb == kCompressCapability) co_return co_await start_compression(raw.text);
    auto cmd = parse_command(std::move(raw));
    if (!cmd.ok()) {
      wire_.write("BAD " + cmd.error().user_message + "\r\n");
      co_return true;
    }
    if (!identity_ && cmd->carries_dlist()) {
      wire_.write("NO Please authenticate first\r\n");
      co_return true;
    }
    if (identity_ && !identity_->is_admin && cmd->verb != "EXIT" && cmd->verb != "NOOP") {
      wire_.write("NO Permission denied\r\n");
      co_return true;
    }
    SyncServerSession* engine = engine_.get();
    SyncCommand c = std::move(*cmd);
    Result<std::vector<SyncReply>> replies = std::vector<SyncReply>{};
    if (engine->runs_inline(c)) {
      // Bookkeeping only: a pool trip would cost more. Caught as the pool
      // catches: an exception is an error reply, never the session's end.
      try {
        replies = engine->execute(c);
      } catch (const std::exception&) {
        replies = Error(Errc::Internal, "exception");
      }
    } else {
      replies = co_await svc_->ctx->blocking->run(
          [engine, &c]() -> Result<std::vector<SyncReply>> { return engine->execute(c); });
    }
    if (!replies.ok()) {
      wire_.write("NO IMAP_IOERROR Unknown error\r\n");
      co_return true;
    }
    for (auto& r : *replies) {
      StringOutput out;
      encode_reply(r, out);
      wire_.write(out.str());
    }
    co_return !engine->exit_requested();
  }

  // "X-CYR-COMPRESS zstd" (sync_compress.h): after authentication, once.
  // The OK goes out uncompressed; everything after it is zstd both ways.
  awaitable<bool> start_compression(const std::string& line) {
    std::string arg = line.size() > kCompressCapability.size() ? line.substr(kCompressCapability.size() + 1) : "";
    for (auto& c : arg) c = static_cast<char>(tolower(static_cast<unsigned char>(c)));
    if (!identity_) {
      wire_.write("NO Please authenticate first\r\n");
      co_return true;
    }
    if (wire_.compressed()) {
      wire_.write("NO Compression already active\r\n");
      co_return true;
    }
    if (arg != kCompressZstd) {
      wire_.write("NO Unknown compression algorithm\r\n");
      co_return true;
    }
    wire_.write("OK zstd active\r\n");
    if (!(co_await wire_.flush()).ok()) co_return false;
    wire_.start_zstd();
    CYR_LOG(Info, conn_->sid(), "csync: zstd compression on");
    co_return true;
  }

  awaitable<bool> starttls() {
    auto ctx = svc_->ctx->tls_context ? svc_->ctx->tls_context() : nullptr;
    if (identity_ || conn_->is_tls() || !ctx) {
      wire_.write("NO STARTTLS not available\r\n");
      co_return true;
    }
    wire_.write("OK Begin TLS negotiation now\r\n");
    if (!(co_await wire_.flush()).ok()) co_return false;
    if (!(co_await conn_->start_tls(ctx)).ok()) co_return false;
    send_banner();
    co_return true;
  }

  awaitable<bool> authenticate(const std::string& line) {
    if (identity_) {
      wire_.write("BAD Already authenticated\r\n");
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
      wire_.write("BAD Missing required argument to Authenticate\r\n");
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
      wire_.write("NO Unsupported mechanism\r\n");
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
          wire_.write("BAD Invalid base64\r\n");
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
        if (auto denied = auth::login_denied_message(step.error()))
          wire_.write("NO " + *denied + "\r\n");
        else
          wire_.write("NO authentication failure\r\n");
        co_return true;
      }
      if (step->done) {
        identity_ = exchange->identity();
        CYR_LOG(Notice, conn_->sid(), "csync login: %s %s %s", client.address.c_str(), identity_->userid.c_str(),
                identity_->mechanism.c_str());
        if (!step->data.empty()) {
          // SCRAM server-final message: csync's OK cannot carry it, so send
          // it as a challenge first (as Cyrus's saslserver does).
          wire_.write("+ " + auth::base64_encode(step->data) + "\r\n");
          if (!(co_await wire_.flush()).ok()) co_return false;
          auto ack = co_await wire_.read_line(1024, net::Connection::ReadMode::InCommand);
          if (!ack.ok()) co_return false;
        }
        wire_.write(std::string("OK Success (") + (conn_->is_tls() ? "tls protection" : "no protection") + ")\r\n");
        co_return true;
      }
      wire_.write("+ " + auth::base64_encode(step->data) + "\r\n");
      if (!(co_await wire_.flush()).ok()) co_return false;
      auto l = co_await wire_.read_line(4 * auth::kMaxSaslMessage / 3 + 16, net::Connection::ReadMode::InCommand);
      if (!l.ok()) co_return false;
      if (*l == "*") {
        wire_.write("BAD Client canceled authentication\r\n");
        co_return true;
      }
      auto dec = auth::base64_decode(*l, auth::kMaxSaslMessage);
      if (!dec.ok()) {
        wire_.write("BAD Invalid base64\r\n");
        co_return true;
      }
      response = std::move(*dec);
    }
    wire_.write("BAD Too many authentication rounds\r\n");
    co_return true;
  }

  std::shared_ptr<CsyncService> svc_;
  std::shared_ptr<net::Connection> conn_;
  Wire wire_{*conn_};
  std::unique_ptr<SyncServerSession> engine_;
  std::optional<auth::AuthIdentity> identity_;
};

// X-REPLICATION: the same engine behind imapd's SYNCAPPLY/SYNCGET/SYNCRESTART
// (server/imapd/replication_hook.h). imapd has authenticated the admin; this
// reads the payload, runs it on the blocking pool, and tags the final reply.
class ImapReplicationChannel : public imapd::ReplicationChannel {
 public:
  ImapReplicationChannel(std::shared_ptr<const server::ServiceContext> ctx, store::Store& store,
                         SyncServerOptions o)
      : ctx_(std::move(ctx)), engine_(std::make_unique<SyncServerSession>(store, std::move(o))) {}

  awaitable<bool> run(const std::string& tag, const std::string& verb, std::string rest,
                      net::Connection& conn) override {
    // "SYNCAPPLY x" is csync's "APPLY x", "SYNCRESTART" its "RESTART".
    std::string line = verb.substr(4);
    if (!rest.empty()) line += " " + rest;
    LineFramer framer(engine_->framer_limits(), engine_->file_sinks());
    Wire wire(conn);  // plain: Cyrus turns compression off in IMAP mode too
    auto framed = co_await read_framed_line(wire, framer, std::move(line));
    if (!framed.ok()) co_return false;
    if (!framed->line) {
      conn.write(tag + " BAD " + framed->bad + "\r\n");
      co_return true;
    }
    auto cmd = parse_command(std::move(*framed->line));
    if (!cmd.ok()) {
      conn.write(tag + " BAD " + cmd.error().user_message + "\r\n");
      co_return true;
    }
    if (cmd->verb == "RESTART" && !cmd->args.empty()) {
      conn.write(tag + " BAD Unexpected extra arguments to SYNCRESTART\r\n");
      co_return true;
    }
    SyncServerSession* engine = engine_.get();
    SyncCommand c = std::move(*cmd);
    auto replies = co_await ctx_->blocking->run(
        [engine, &c]() -> Result<std::vector<SyncReply>> { return engine->execute(c); });
    if (!replies.ok()) {
      conn.write(tag + " NO IMAP_IOERROR Unknown error\r\n");
      co_return true;
    }
    for (auto& r : *replies) {
      StringOutput out;
      encode_reply(r, out);
      conn.write(r.is_final() ? tag + " " + out.str() : out.str());
    }
    co_return true;
  }

 private:
  std::shared_ptr<const server::ServiceContext> ctx_;
  std::unique_ptr<SyncServerSession> engine_;
};

// Where replication sessions stage files: next to the default partition's
// spool, so accepted files are hard-linked into place rather than copied.
std::filesystem::path staging_root_for(const config::Paths& paths) {
  auto it = paths.partitions.find(paths.defaultpartition);
  return it != paths.partitions.end() ? std::filesystem::path(it->second) / "sync."
                                      : std::filesystem::path(paths.configdirectory) / "sync.";
}

// Staging left behind by a killed process (directories "<pid>-..."); this
// process's own sessions survive a reload. The root is (re)made with ext4's
// top-directory flag: every uploaded message is a new inode in its session's
// directory, and sessions spread over the disk do not all pay for one block
// group's recently deleted inodes (store::spread_subdirectories).
void remove_dead_staging(const std::filesystem::path& root) {
  if (auto st = store::spread_subdirectories(root); !st.ok())
    CYR_LOG(Debug, "", "sync_server: staging %s", st.error().describe().c_str());
  std::error_code ec;
  std::string mine = std::to_string(::getpid()) + "-";
  for (auto it = std::filesystem::directory_iterator(root, ec); !ec && it != std::filesystem::directory_iterator();
       it.increment(ec)) {
    if (it->path().filename().string().rfind(mine, 0) == 0) continue;
    std::error_code rm;
    std::filesystem::remove_all(it->path(), rm);
  }
}

}  // namespace

imapd::ReplicationFactory make_imap_replication_factory() {
  auto counter = std::make_shared<std::atomic<uint64_t>>(0);
  auto cleaned = std::make_shared<std::once_flag>();
  return [counter, cleaned](std::shared_ptr<const server::ServiceContext> ctx, store::Store& store,
                            const std::string& sid) -> std::unique_ptr<imapd::ReplicationChannel> {
    SyncServerOptions o;
    o.sid = sid;
    o.refuse_apply_on_primary = ctx && ctx->conf && !ctx->conf->get_string("failover_peer").empty();
    std::filesystem::path root;
    if (ctx && ctx->conf) {
      auto paths = config::Paths::from_config(*ctx->conf);
      if (paths.ok()) {
        root = staging_root_for(*paths);
        o.refusals = apply_refusals_for(refusal_status_file(paths->sync_log_dir));
      }
    }
    if (root.empty()) root = std::filesystem::temp_directory_path() / "cyr-sync.";
    std::call_once(*cleaned, [&] { remove_dead_staging(root); });
    o.staging_dir = session_staging_dir(root, *counter, "i");
    return std::make_unique<ImapReplicationChannel>(std::move(ctx), store, std::move(o));
  };
}

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
  svc->staging_root = staging_root_for(*paths);
  svc->pair_member = !ctx->conf->get_string("failover_peer").empty();
  svc->refusals = apply_refusals_for(refusal_status_file(paths->sync_log_dir));
  remove_dead_staging(svc->staging_root);
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
