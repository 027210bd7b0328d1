// Blocking csync client transport. See sync_transport.h.
#include "sync/sync_transport.h"

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <strings.h>

#include <cstdlib>
#include <cstring>

#include "server/auth/base64.h"
#include "store/base/log.h"

namespace cyr::sync {

namespace {
Error io_error(const std::string& what) { return Error(Errc::Io, "Replica connection failed", what + ": " + strerror(errno)); }
}  // namespace

Result<int> TcpSyncPeer::dial(const TcpPeerOptions& opts, const std::string& port) {
  int fd = -1;
  bool unix_socket = !opts.host.empty() && opts.host[0] == '/';
  if (unix_socket) {
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    if (opts.host.size() >= sizeof sa.sun_path) return Error(Errc::Invalid, "Socket path too long", opts.host);
    memcpy(sa.sun_path, opts.host.c_str(), opts.host.size() + 1);
    fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return io_error("socket");
    if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
      Error e = io_error("connect " + opts.host);
      ::close(fd);
      return e;
    }
    return fd;
  }
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  int rc = ::getaddrinfo(opts.host.c_str(), port.c_str(), &hints, &res);
  if (rc != 0) return Error(Errc::NotFound, "Cannot resolve replica host", opts.host + ":" + port + ": " + gai_strerror(rc));
  for (addrinfo* ai = res; ai; ai = ai->ai_next) {
    fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) continue;
    if (::connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
      // Pipelined rounds (sync_peer.h) write the next command while the
      // previous reply is outstanding: Nagle would hold it until that ACK.
      int one = 1;
      (void)::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      break;
    }
    ::close(fd);
    fd = -1;
  }
  ::freeaddrinfo(res);
  if (fd < 0) return io_error("connect " + opts.host + ":" + port);
  return fd;
}

// An IMAP greeting ("* OK [CAPABILITY IMAP4rev1 ...] ...") as opposed to the
// last line of a csync banner ("* OK host Cyrus sync server ...") or one of
// its capability lines ("* SASL ...").
static bool is_imap_greeting(std::string_view line) {
  return line.rfind("* OK", 0) == 0 &&
         (line.find("[CAPABILITY") != std::string_view::npos || line.find("IMAP4") != std::string_view::npos);
}

Result<std::unique_ptr<TcpSyncPeer>> TcpSyncPeer::connect(const TcpPeerOptions& opts) {
  bool unix_socket = !opts.host.empty() && opts.host[0] == '/';
  if (opts.try_imap && !unix_socket) {
    std::string port = opts.imap_port.empty() ? opts.port : opts.imap_port;
    auto fd = dial(opts, port);
    if (fd.ok()) {
      std::unique_ptr<TcpSyncPeer> p(new TcpSyncPeer(*fd, opts));
      auto first = p->read_text_line();
      if (!first.ok()) return first.take_error();
      if (!is_imap_greeting(*first)) {
        // A csync server on this port: go on with it.
        CYR_TRY(p->read_banner(std::move(*first)));
        CYR_TRY(p->authenticate_csync());
        CYR_TRY(p->maybe_start_compression());
        return p;
      }
      Status st = p->imap_login();
      // Cyrus turns compression off in IMAP mode; so do we: -z wants csync.
      if (st.ok() && !opts.compress) return p;
      if (st.ok()) st = Error(Errc::Unavailable, "No compression over IMAP");
      // No X-REPLICATION (or not an admin there): Cyrus falls back to csync.
      if (st.error().code == Errc::Perm && port == opts.port) return st.error();
      p.reset();
    } else if (port == opts.port) {
      return fd.take_error();
    }
  }
  auto fd = dial(opts, opts.port);
  if (!fd.ok()) return fd.take_error();
  std::unique_ptr<TcpSyncPeer> p(new TcpSyncPeer(*fd, opts));
  CYR_TRY(p->read_banner(std::nullopt));
  if (!unix_socket) CYR_TRY(p->authenticate_csync());
  CYR_TRY(p->maybe_start_compression());
  return p;
}

int TcpSyncPeer::peer_version() const {
  for (auto& c : caps_)
    if (c.rfind("X-CYR-SYNC ", 0) == 0) return std::atoi(c.c_str() + 11);
  return 1;
}

bool TcpSyncPeer::offers_compression() const {
  std::string want = std::string(kCompressCapability) + " " + std::string(kCompressZstd);
  for (auto& c : caps_)
    if (strcasecmp(c.c_str(), want.c_str()) == 0) return true;
  return false;
}

Status TcpSyncPeer::maybe_start_compression() {
  if (opts_.compress) return start_compression();
  if (!opts_.compress_if_offered) return {};
  if (offers_compression()) return start_compression();
  // An older node or Cyrus: the option is a preference, not a requirement.
  CYR_LOG(Info, "sync_client", "replica %s does not offer %s %s; the stream stays uncompressed", opts_.host.c_str(),
          std::string(kCompressCapability).c_str(), std::string(kCompressZstd).c_str());
  return {};
}

Status TcpSyncPeer::start_compression() {
  std::string want = std::string(kCompressCapability) + " " + std::string(kCompressZstd);
  if (!offers_compression()) return Error(Errc::Unavailable, "Replica does not offer zstd compression");
  CYR_TRY(send_all(want + "\r\n"));
  auto l = read_text_line();
  if (!l.ok()) return l.take_error();
  if (l->rfind("OK", 0) != 0) return Error(Errc::Unavailable, "Replica refused compression", *l);
  // Bytes the replica sent after its OK are already compressed.
  raw_ = buf_.substr(pos_);
  buf_.clear();
  pos_ = 0;
  enc_ = std::make_unique<ZstdEncoder>();
  dec_ = std::make_unique<ZstdDecoder>();
  return {};
}

Status TcpSyncPeer::read_banner(std::optional<std::string> first_line) {
  // Capability lines up to "* OK".
  for (int i = 0; i < 64; ++i) {
    std::string l;
    if (first_line) {
      l = std::move(*first_line);
      first_line.reset();
    } else {
      auto r = read_text_line();
      if (!r.ok()) return r.take_error();
      l = std::move(*r);
    }
    if (l.rfind("* OK", 0) == 0) return {};
    if (l.rfind("* ", 0) == 0) caps_.push_back(l.substr(2));
    else return Error(Errc::Invalid, "Unexpected banner from replica", l);
  }
  return Error(Errc::Limit, "Replica banner too long");
}

Status TcpSyncPeer::authenticate_csync() {
  if (opts_.authname.empty()) return {};
  std::string plain = std::string(1, '\0') + opts_.authname + std::string(1, '\0') + opts_.password;
  CYR_TRY(send_all("AUTHENTICATE PLAIN " + auth::base64_encode(plain) + "\r\n"));
  auto l = read_text_line();
  if (!l.ok()) return l.take_error();
  if (l->rfind("OK", 0) != 0) return Error(Errc::Perm, "Replica refused authentication", *l);
  return {};
}

Result<std::vector<std::string>> TcpSyncPeer::imap_simple(const std::string& rest) {
  std::string tag = next_tag();
  CYR_TRY(send_all(tag + " " + rest + "\r\n"));
  std::vector<std::string> lines;
  for (int i = 0; i < 1000; ++i) {
    auto l = read_text_line();
    if (!l.ok()) return l.take_error();
    bool tagged = l->rfind(tag + " ", 0) == 0;
    lines.push_back(std::move(*l));
    if (tagged) return lines;
  }
  return Error(Errc::Limit, "Too many IMAP response lines");
}

Status TcpSyncPeer::imap_login() {
  if (opts_.authname.empty()) return Error(Errc::Perm, "Replication over IMAP needs sync_authname");
  std::string plain = std::string(1, '\0') + opts_.authname + std::string(1, '\0') + opts_.password;
  auto auth = imap_simple("AUTHENTICATE PLAIN " + auth::base64_encode(plain));
  if (!auth.ok()) return auth.take_error();
  const std::string& done = auth->back();
  if (done.find(" OK") == std::string::npos || done.find(" OK") != done.find(' '))
    return Error(Errc::Perm, "Replica refused authentication", done);
  auto caps = imap_simple("CAPABILITY");
  if (!caps.ok()) return caps.take_error();
  for (auto& l : *caps) {
    if (l.rfind("* CAPABILITY ", 0) != 0) continue;
    std::string_view words = std::string_view(l).substr(13);
    size_t p = 0;
    while (p <= words.size()) {
      size_t q = words.find(' ', p);
      if (q == std::string_view::npos) q = words.size();
      caps_.emplace_back(words.substr(p, q - p));
      p = q + 1;
    }
  }
  for (auto& c : caps_)
    if (c == "X-REPLICATION") {
      imap_ = true;
      return {};
    }
  (void)imap_simple("LOGOUT");
  caps_.clear();
  return Error(Errc::Unavailable, "Replica's imapd does not offer X-REPLICATION");
}

TcpSyncPeer::~TcpSyncPeer() {
  if (fd_ >= 0) ::close(fd_);
}

void TcpSyncPeer::close() {
  if (fd_ < 0) return;
  if (imap_) (void)imap_simple("LOGOUT");
  else if (pending_ == 0 && out_.empty() && send_all("EXIT\r\n").ok()) (void)read_text_line();
  // (with replies outstanding, EXIT's reply could not be told apart: just close)
  ::close(fd_);
  fd_ = -1;
}

Status TcpSyncPeer::send_all(std::string_view plain) {
  if (fd_ < 0) return Error(Errc::Io, "Replica connection closed");
  std::string packed;
  std::string_view bytes = plain;
  if (enc_) {
    CYR_TRY(enc_->encode_flush(plain, packed));
    bytes = packed;
  }
  while (!bytes.empty()) {
    ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return io_error("send");
    }
    bytes.remove_prefix(static_cast<size_t>(n));
    sent_ += static_cast<uint64_t>(n);
  }
  return {};
}

Result<RawLine> TcpSyncPeer::read_line() {
  LineFramer f(opts_.limits);
  for (;;) {
    if (pos_ < buf_.size()) {
      size_t n = f.feed(std::string_view(buf_).substr(pos_));
      pos_ += n;
      if (f.line_ready()) return f.take_line();
    }
    buf_.erase(0, pos_);
    pos_ = 0;
    if (dec_ && (!raw_.empty() || dec_->pending_output())) {
      // Decode what arrived (bounded output per step) before waiting for more.
      size_t before = buf_.size();
      auto used = dec_->decode(raw_, buf_, 4u << 20);
      if (!used.ok()) return used.take_error();
      raw_.erase(0, *used);
      if (buf_.size() > before) continue;
    }
    pollfd pfd{fd_, POLLIN, 0};
    int pr = ::poll(&pfd, 1, static_cast<int>(opts_.timeout.count() * 1000));
    if (pr == 0) return Error(Errc::Temp, "Replica timed out");
    if (pr < 0 && errno != EINTR) return io_error("poll");
    char tmp[65536];
    ssize_t n = ::recv(fd_, tmp, sizeof tmp, 0);
    if (n == 0) return Error(Errc::Io, "Replica closed the connection");
    if (n < 0) {
      if (errno == EINTR) continue;
      return io_error("recv");
    }
    received_ += static_cast<uint64_t>(n);
    (dec_ ? raw_ : buf_).append(tmp, static_cast<size_t>(n));
  }
}

Result<std::vector<SyncReply>> TcpSyncPeer::call(const SyncCommand& cmd) {
  if (pending_ > 0 || !out_.empty()) return Error(Errc::Internal, "call() with pipelined replies outstanding");
  // Encode into memory: message files are at most a batch (bounded by the client).
  auto wire = encode_command(cmd);
  if (!wire.ok()) return wire.take_error();
  std::string tag;
  if (imap_) {
    // imapd: "<tag> SYNCAPPLY ..." for csync's "APPLY ...", and so on.
    tag = next_tag();
    if (cmd.carries_dlist() || cmd.verb == "RESTART") {
      wire->insert(0, tag + " SYNC");
    } else if (cmd.verb == "NOOP") {
      *wire = tag + " NOOP\r\n";
    } else {
      return Error(Errc::Unavailable, "Not available over IMAP", cmd.verb);
    }
  }
  CYR_TRY(send_all(*wire));
  return read_reply(tag);
}

Status TcpSyncPeer::send(const SyncCommand& cmd) {
  if (imap_) return SyncPeer::send(cmd);  // tagged replies: one command at a time
  auto wire = encode_command(cmd);
  if (!wire.ok()) return wire.take_error();
  // Commands sent together leave in one write (one segment for a small
  // round); a large upload goes out at once rather than piling up here.
  out_ += *wire;
  ++pending_;
  if (out_.size() >= (1u << 20)) return flush();
  return {};
}

Status TcpSyncPeer::flush() {
  if (imap_ || out_.empty()) return {};
  std::string bytes;
  bytes.swap(out_);
  return send_all(bytes);
}

Result<std::vector<SyncReply>> TcpSyncPeer::receive() {
  if (imap_) return SyncPeer::receive();
  if (pending_ == 0) return Error(Errc::Internal, "no reply outstanding");
  --pending_;  // sent: flush() wrote it (the caller's order)
  return read_reply("");
}

Result<std::vector<SyncReply>> TcpSyncPeer::read_reply(const std::string& tag) {
  std::vector<SyncReply> out;
  for (;;) {
    auto l = read_line();
    if (!l.ok()) return l.take_error();
    if (imap_) {
      if (l->text.rfind(tag + " ", 0) == 0) l->text.erase(0, tag.size() + 1);
      else if (l->text.rfind("* ", 0) != 0) return Error(Errc::Invalid, "Unexpected IMAP response", l->text);
    }
    auto r = parse_reply(std::move(*l), opts_.limits);
    if (!r.ok()) return r.take_error();
    bool fin = r->is_final();
    out.push_back(std::move(*r));
    if (fin) return out;
    if (out.size() > 10000000) return Error(Errc::Limit, "Too many reply lines");
  }
}

Result<std::string> TcpSyncPeer::read_text_line() {
  auto l = read_line();
  if (!l.ok()) return l.take_error();
  return std::move(l->text);
}

}  // namespace cyr::sync
