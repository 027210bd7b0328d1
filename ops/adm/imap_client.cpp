#include "ops/adm/imap_client.h"

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <optional>

#include "server/auth/base64.h"
#include "server/auth/crypto.h"
#include "server/auth/saslprep.h"
#include "store/base/ascii.h"

namespace cyr::ops::adm {

namespace {

std::string upper(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

// RFC 3501 atom characters, minus the ones that make a name ambiguous to
// send bare ('%' and '*' are list wildcards, ']' ends a response code).
bool is_safe_atom(std::string_view s) {
  if (s.empty() || iequals(s, "NIL")) return false;
  for (unsigned char c : s) {
    if (c <= 0x20 || c >= 0x7f) return false;
    if (strchr("(){%*\"\\]", c)) return false;
  }
  return true;
}

bool is_quotable(std::string_view s) {
  if (s.size() > 1024) return false;
  for (unsigned char c : s)
    if (c == 0 || c == '\r' || c == '\n' || c >= 0x80) return false;
  return true;
}

std::string openssl_error() {
  unsigned long e = ERR_get_error();
  if (!e) return "unknown TLS error";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  return buf;
}

Error io_error(std::string what) { return Error(Errc::Io, std::move(what)); }
Error protocol_error(std::string what) { return Error(Errc::Invalid, "protocol error: " + what); }

}  // namespace

bool ImapValue::is_atom(std::string_view a) const {
  return kind == Kind::Atom && iequals(text, a);
}

// ---- command building ------------------------------------------------------

Command& Command::atom(std::string_view a) {
  text_.push_back(' ');
  text_.append(a);
  return *this;
}

Command& Command::raw(std::string_view t) {
  text_.append(t);
  return *this;
}

Command& Command::string(std::string_view s) {
  text_.push_back(' ');
  if (is_quotable(s)) {
    text_.push_back('"');
    for (char c : s) {
      if (c == '"' || c == '\\') text_.push_back('\\');
      text_.push_back(c);
    }
    text_.push_back('"');
  } else {
    text_ += "{" + std::to_string(s.size()) + "}";
    done_.push_back(Piece{std::move(text_), std::string(s), true});
    text_.clear();
  }
  return *this;
}

Command& Command::astring(std::string_view s) {
  if (is_safe_atom(s)) return atom(s);
  return string(s);
}

std::vector<Command::Piece> Command::pieces() const {
  auto out = done_;
  out.push_back(Piece{text_, {}, false});
  return out;
}

// ---- response parsing --------------------------------------------------------

namespace {

struct ValueParser {
  std::string_view s;
  const std::vector<std::string>& literals;
  size_t pos = 0;
  size_t next_literal = 0;

  void skip_spaces() {
    while (pos < s.size() && s[pos] == ' ') ++pos;
  }

  Result<ImapValue> value(int depth) {
    if (depth > kMaxNesting) return protocol_error("lists nested too deeply");
    ImapValue v;
    char c = s[pos];
    if (c == '(') {
      ++pos;
      v.kind = ImapValue::Kind::List;
      for (;;) {
        skip_spaces();
        if (pos >= s.size()) return protocol_error("unterminated list");
        if (s[pos] == ')') { ++pos; break; }
        auto item = value(depth + 1);
        if (!item.ok()) return item.take_error();
        v.items.push_back(std::move(*item));
      }
      return v;
    }
    if (c == '"') {
      ++pos;
      v.kind = ImapValue::Kind::String;
      for (;;) {
        if (pos >= s.size()) return protocol_error("unterminated quoted string");
        char d = s[pos++];
        if (d == '"') break;
        if (d == '\\') {
          if (pos >= s.size()) return protocol_error("unterminated quoted string");
          d = s[pos++];
        }
        v.text.push_back(d);
      }
      return v;
    }
    if (c == '{') {
      // The reader already took the literal's bytes; here "{n}" (or "{n+}")
      // ends the line segment, and the bytes are the next stored literal.
      auto close = s.find('}', pos);
      if (close == std::string_view::npos) return protocol_error("bad literal");
      pos = close + 1;
      if (next_literal >= literals.size()) return protocol_error("literal missing");
      v.kind = ImapValue::Kind::String;
      v.text = literals[next_literal++];
      return v;
    }
    // An atom, which may carry a bracketed section ("BODY[HEADER]") and
    // may not contain list or string delimiters.
    size_t start = pos;
    int bracket = 0;
    while (pos < s.size()) {
      char d = s[pos];
      if (d == '[') ++bracket;
      else if (d == ']' && bracket > 0) --bracket;
      else if (bracket == 0 && (d == ' ' || d == '(' || d == ')')) break;
      ++pos;
    }
    if (pos == start) return protocol_error("unexpected character");
    v.text.assign(s.substr(start, pos - start));
    v.is_nil = iequals(v.text, "NIL");
    return v;
  }
};

}  // namespace

Result<std::vector<ImapValue>> parse_values(std::string_view line,
                                            const std::vector<std::string>& literals) {
  ValueParser p{line, literals};
  std::vector<ImapValue> out;
  for (;;) {
    p.skip_spaces();
    if (p.pos >= line.size()) break;
    if (line[p.pos] == ')') return protocol_error("unbalanced ')'");
    auto v = p.value(0);
    if (!v.ok()) return v.take_error();
    out.push_back(std::move(*v));
  }
  return out;
}

// ---- transport ----------------------------------------------------------------

struct ImapClient::Tls {
  SSL_CTX* ctx = nullptr;
  SSL* ssl = nullptr;
  ~Tls() {
    if (ssl) SSL_free(ssl);
    if (ctx) SSL_CTX_free(ctx);
  }
};

ImapClient::~ImapClient() { close(); }

void ImapClient::close() {
  if (tls_ && tls_->ssl) SSL_shutdown(tls_->ssl);
  tls_.reset();
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

Status ImapClient::open_socket(const ClientOptions& opts) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  std::string port = std::to_string(opts.port);
  int rc = getaddrinfo(opts.host.c_str(), port.c_str(), &hints, &res);
  if (rc != 0)
    return io_error("cannot resolve " + opts.host + ": " + gai_strerror(rc));
  std::string last = "no address";
  for (addrinfo* ai = res; ai; ai = ai->ai_next) {
    int fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) { last = strerror(errno); continue; }
    if (::connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
      fd_ = fd;
      break;
    }
    last = strerror(errno);
    ::close(fd);
  }
  freeaddrinfo(res);
  if (fd_ < 0)
    return io_error("cannot connect to " + opts.host + " port " + port + ": " + last);
  return ok_status();
}

Status ImapClient::start_tls(const ClientOptions& opts) {
  tls_ = std::make_unique<Tls>();
  tls_->ctx = SSL_CTX_new(TLS_client_method());
  if (!tls_->ctx) return io_error("TLS: " + openssl_error());
  SSL_CTX_set_min_proto_version(tls_->ctx, TLS1_2_VERSION);
  if (opts.verify_peer) {
    SSL_CTX_set_verify(tls_->ctx, SSL_VERIFY_PEER, nullptr);
    int loaded = opts.ca_file.empty()
                     ? SSL_CTX_set_default_verify_paths(tls_->ctx)
                     : SSL_CTX_load_verify_locations(tls_->ctx, opts.ca_file.c_str(), nullptr);
    if (loaded != 1) return io_error("TLS: cannot load CA certificates: " + openssl_error());
  }
  tls_->ssl = SSL_new(tls_->ctx);
  if (!tls_->ssl) return io_error("TLS: " + openssl_error());
  SSL_set_fd(tls_->ssl, fd_);
  SSL_set_tlsext_host_name(tls_->ssl, opts.host.c_str());
  if (opts.verify_peer) {
    // Check that the certificate names the host we meant to reach.
    SSL_set_hostflags(tls_->ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    if (SSL_set1_host(tls_->ssl, opts.host.c_str()) != 1)
      return io_error("TLS: cannot set the expected host name");
  }
  // The handshake blocks; bound it like every read.
  struct timeval tv{static_cast<time_t>(timeout_.count()), 0};
  setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  if (SSL_connect(tls_->ssl) != 1) {
    long v = SSL_get_verify_result(tls_->ssl);
    std::string why = v != X509_V_OK ? X509_verify_cert_error_string(v) : openssl_error();
    return io_error("TLS handshake with " + opts.host + " failed: " + why +
                    (v != X509_V_OK ? " (use --cafile, or --noverify for a test server)" : ""));
  }
  return ok_status();
}

Status ImapClient::write_all(std::string_view data) {
  while (!data.empty()) {
    ssize_t n;
    if (tls_) {
      int w = SSL_write(tls_->ssl, data.data(), static_cast<int>(std::min<size_t>(data.size(), 1 << 30)));
      if (w <= 0) return io_error("TLS write failed: " + openssl_error());
      n = w;
    } else {
      n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EINTR) continue;
        return io_error(std::string("write to server failed: ") + strerror(errno));
      }
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return ok_status();
}

Result<size_t> ImapClient::read_some(char* buf, size_t len) {
  if (fd_ < 0) return io_error("not connected");
  if (!tls_ || SSL_pending(tls_->ssl) == 0) {
    pollfd p{fd_, POLLIN, 0};
    int rc;
    do {
      rc = ::poll(&p, 1, static_cast<int>(timeout_.count() * 1000));
    } while (rc < 0 && errno == EINTR);
    if (rc == 0) return Error(Errc::Temp, "server did not answer within " +
                                              std::to_string(timeout_.count()) + "s");
    if (rc < 0) return io_error(std::string("poll: ") + strerror(errno));
  }
  if (tls_) {
    int r = SSL_read(tls_->ssl, buf, static_cast<int>(len));
    if (r <= 0) return io_error("connection closed by the server");
    return static_cast<size_t>(r);
  }
  ssize_t n;
  do {
    n = ::recv(fd_, buf, len, 0);
  } while (n < 0 && errno == EINTR);
  if (n < 0) return io_error(std::string("read from server failed: ") + strerror(errno));
  if (n == 0) return io_error("connection closed by the server");
  return static_cast<size_t>(n);
}

Result<std::string> ImapClient::read_line() {
  for (;;) {
    auto nl = inbuf_.find('\n', inpos_);
    if (nl != std::string::npos) {
      size_t end = nl;
      if (end > inpos_ && inbuf_[end - 1] == '\r') --end;
      std::string line = inbuf_.substr(inpos_, end - inpos_);
      inpos_ = nl + 1;
      if (inpos_ > 65536) {
        inbuf_.erase(0, inpos_);
        inpos_ = 0;
      }
      return line;
    }
    if (inbuf_.size() - inpos_ > kMaxLineBytes)
      return protocol_error("response line longer than " + std::to_string(kMaxLineBytes) + " bytes");
    char buf[16384];
    auto n = read_some(buf, sizeof buf);
    if (!n.ok()) return n.take_error();
    inbuf_.append(buf, *n);
  }
}

Result<std::string> ImapClient::read_exact(size_t n) {
  while (inbuf_.size() - inpos_ < n) {
    char buf[16384];
    auto got = read_some(buf, sizeof buf);
    if (!got.ok()) return got.take_error();
    inbuf_.append(buf, *got);
  }
  std::string out = inbuf_.substr(inpos_, n);
  inpos_ += n;
  return out;
}

Status ImapClient::read_response(std::string& line, std::vector<std::string>& literals) {
  line.clear();
  literals.clear();
  for (;;) {
    auto part = read_line();
    if (!part.ok()) return part.take_error();
    line += *part;
    if (line.size() > kMaxLineBytes) return protocol_error("response too long");
    // A line ending in "{n}" announces n bytes of literal, then the line goes on.
    if (line.empty() || line.back() != '}') return ok_status();
    auto open = line.rfind('{');
    if (open == std::string::npos) return ok_status();
    std::string_view digits(line.data() + open + 1, line.size() - open - 2);
    if (!digits.empty() && digits.back() == '+') digits.remove_suffix(1);
    if (digits.empty() || digits.size() > 10 ||
        !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; }))
      return ok_status();  // not a literal, just text ending in '}'
    uint64_t n = std::stoull(std::string(digits));
    if (n > kMaxLiteralBytes) return protocol_error("literal of " + std::to_string(n) + " bytes");
    if (literals.size() > 100000) return protocol_error("too many literals in one response");
    auto bytes = read_exact(static_cast<size_t>(n));
    if (!bytes.ok()) return bytes.take_error();
    literals.push_back(std::move(*bytes));
  }
}

// ---- session -------------------------------------------------------------------

Result<std::unique_ptr<ImapClient>> ImapClient::connect(const ClientOptions& opts) {
  std::unique_ptr<ImapClient> c(new ImapClient());
  c->timeout_ = opts.timeout;
  CYR_TRY(c->open_socket(opts));
  if (opts.tls == TlsMode::Implicit) CYR_TRY(c->start_tls(opts));
  std::string line;
  std::vector<std::string> lits;
  CYR_TRY(c->read_response(line, lits));
  c->greeting_ = line;
  auto vals = parse_values(line, lits);
  if (!vals.ok() || vals->size() < 2 || !(*vals)[0].is_atom("*"))
    return protocol_error("bad greeting: " + line);
  if ((*vals)[1].is_atom("BYE")) return Error(Errc::Unavailable, "server refused: " + line);
  if ((*vals)[1].is_atom("PREAUTH")) c->authenticated_ = true;
  else if (!(*vals)[1].is_atom("OK")) return protocol_error("bad greeting: " + line);
  if (opts.tls == TlsMode::StartTls) {
    CYR_TRY(c->refresh_capabilities());
    if (!c->has_capability("STARTTLS"))
      return Error(Errc::Unavailable, "server does not offer STARTTLS");
    auto r = c->run(Command("STARTTLS"));
    if (!r.ok()) return r.take_error();
    if (!r->ok()) return Error(Errc::Unavailable, "STARTTLS refused: " + r->describe());
    // Anything buffered after the OK arrived in plain text: a man in the middle.
    if (c->inpos_ != c->inbuf_.size()) return protocol_error("data injected before TLS started");
    CYR_TRY(c->start_tls(opts));
    c->caps_.clear();  // capabilities learned before TLS are not to be trusted
  }
  CYR_TRY(c->refresh_capabilities());
  return c;
}

void ImapClient::learn_capabilities(const std::vector<ImapValue>& values, size_t from) {
  caps_.clear();
  for (size_t i = from; i < values.size(); ++i)
    if (values[i].kind == ImapValue::Kind::Atom) caps_.insert(upper(values[i].text));
}

Status ImapClient::refresh_capabilities() {
  auto r = run(Command("CAPABILITY"));
  if (!r.ok()) return r.take_error();
  if (!r->ok()) return Error(Errc::Invalid, "CAPABILITY failed: " + r->describe());
  return ok_status();
}

bool ImapClient::has_capability(std::string_view cap) const {
  return caps_.count(upper(cap)) > 0;
}

std::string ImapClient::next_tag() {
  return "A" + std::to_string(++tag_counter_);
}

Result<Reply> ImapClient::run(const Command& cmd) {
  if (fd_ < 0) return io_error("not connected");
  std::string tag = next_tag();
  bool nonsync = has_capability("LITERAL+");
  auto pieces = cmd.pieces();
  Reply reply;
  std::string line;
  std::vector<std::string> lits;

  // Handles one response line; returns true when it was our tagged reply.
  auto take = [&](bool& done) -> Status {
    auto vals = parse_values(line, lits);
    if (!vals.ok()) return Error(vals.error().code, vals.error().user_message + " in: " + line);
    if (vals->empty()) return protocol_error("empty response line");
    const auto& first = (*vals)[0];
    if (first.is_atom("*")) {
      if (reply.untagged.size() >= kMaxUntaggedPerCommand)
        return protocol_error("too many untagged responses");
      if (vals->size() >= 2 && (*vals)[1].is_atom("CAPABILITY")) learn_capabilities(*vals, 2);
      if (vals->size() >= 3 && (*vals)[1].is_atom("OK") && (*vals)[2].kind == ImapValue::Kind::Atom &&
          upper((*vals)[2].text).starts_with("[CAPABILITY")) {
        // "* OK [CAPABILITY ...]": learn from the bracketed words.
        std::vector<ImapValue> words;
        for (size_t i = 2; i < vals->size(); ++i) {
          words.push_back((*vals)[i]);
          if (!words.back().text.empty() && words.back().text.back() == ']') {
            words.back().text.pop_back();
            break;
          }
        }
        if (!words.empty()) words[0].text = words[0].text.substr(11);
        learn_capabilities(words, 0);
      }
      if (vals->size() >= 2 && (*vals)[1].is_atom("BYE") && !iequals(pieces[0].text.substr(0, 6), "LOGOUT"))
        return Error(Errc::Unavailable, "server closed the connection: " + line);
      reply.untagged.push_back(Untagged{std::move(*vals)});
      return ok_status();
    }
    if (first.is_atom(tag)) {
      auto sp = line.find(' ');
      std::string rest = sp == std::string::npos ? "" : line.substr(sp + 1);
      auto sp2 = rest.find(' ');
      reply.status = upper(rest.substr(0, sp2));
      reply.text = sp2 == std::string::npos ? "" : rest.substr(sp2 + 1);
      if (reply.status != "OK" && reply.status != "NO" && reply.status != "BAD")
        return protocol_error("bad tagged reply: " + line);
      if (upper(reply.text).starts_with("[CAPABILITY ")) {
        auto close = reply.text.find(']');
        auto words = parse_values(reply.text.substr(12, close == std::string::npos ? 0 : close - 12), {});
        if (words.ok()) learn_capabilities(*words, 0);
      }
      done = true;
      return ok_status();
    }
    if (first.is_atom("+")) return protocol_error("unexpected continuation: " + line);
    return protocol_error("unexpected response: " + line);
  };

  bool done = false;
  for (size_t i = 0; i < pieces.size(); ++i) {
    const auto& p = pieces[i];
    std::string out = (i == 0 ? tag + " " : std::string()) + p.text;
    if (!p.has_literal) {
      out += "\r\n";
      CYR_TRY(write_all(out));
      break;
    }
    if (nonsync) {
      out.insert(out.size() - 1, "+");  // "{n}" -> "{n+}"
      out += "\r\n";
      CYR_TRY(write_all(out));
      CYR_TRY(write_all(p.literal));
      continue;
    }
    out += "\r\n";
    CYR_TRY(write_all(out));
    // Wait for "+" (or a tagged NO/BAD refusing the literal).
    for (;;) {
      CYR_TRY(read_response(line, lits));
      if (line.starts_with("+")) break;
      CYR_TRY(take(done));
      if (done) return reply;
    }
    CYR_TRY(write_all(p.literal));
  }
  while (!done) {
    auto st = read_response(line, lits);
    if (!st.ok()) {
      close();
      return st.take_error();
    }
    auto t = take(done);
    if (!t.ok()) {
      close();
      return t.take_error();
    }
  }
  return reply;
}

// ---- SASL --------------------------------------------------------------------------

namespace {

// RFC 5802 s5.1: "=" and "," in a user name are escaped.
std::string scram_escape(std::string_view user) {
  std::string out;
  for (char c : user) {
    if (c == '=') out += "=3D";
    else if (c == ',') out += "=2C";
    else out.push_back(c);
  }
  return out;
}

// The value of attribute `key` in a SCRAM message ("r=...,s=...,i=...").
std::optional<std::string> scram_attr(std::string_view msg, char key) {
  size_t pos = 0;
  while (pos <= msg.size()) {
    auto comma = msg.find(',', pos);
    std::string_view part = msg.substr(pos, comma == std::string_view::npos ? std::string_view::npos : comma - pos);
    if (part.size() >= 2 && part[0] == key && part[1] == '=') return std::string(part.substr(2));
    if (comma == std::string_view::npos) break;
    pos = comma + 1;
  }
  return std::nullopt;
}

}  // namespace

std::string ScramClient::client_first() {
  if (nonce.empty()) {
    auto raw = auth::random_bytes(18);
    nonce = auth::base64_encode(raw.ok() ? *raw : std::string(18, 'x'));
  }
  client_first_bare = "n=" + scram_escape(user) + ",r=" + nonce;
  std::string gs2 = authz.empty() ? "n,," : "n,a=" + scram_escape(authz) + ",";
  return gs2 + client_first_bare;
}

Result<std::string> ScramClient::client_final(std::string_view server_first) {
  auto r = scram_attr(server_first, 'r');
  auto s = scram_attr(server_first, 's');
  auto i = scram_attr(server_first, 'i');
  if (!r || !s || !i) return protocol_error("bad SCRAM server-first message");
  if (!r->starts_with(nonce) || r->size() == nonce.size())
    return protocol_error("SCRAM server nonce does not extend ours");
  auto salt = auth::base64_decode(*s, 1024);
  if (!salt.ok()) return protocol_error("bad SCRAM salt");
  uint32_t iterations = 0;
  if (i->empty() || i->size() > 9 ||
      !std::all_of(i->begin(), i->end(), [](char c) { return c >= '0' && c <= '9'; }))
    return protocol_error("bad SCRAM iteration count");
  iterations = static_cast<uint32_t>(std::stoul(*i));
  auto prepped = auth::saslprep(password);
  if (!prepped.ok()) return Error(Errc::Invalid, "the password is not valid for SCRAM (SASLprep)");
  auto salted = auth::pbkdf2_hmac_sha256(*prepped, *salt, iterations, auth::kSha256Size);
  if (!salted.ok()) return salted.take_error();
  std::string gs2 = authz.empty() ? "n,," : "n,a=" + scram_escape(authz) + ",";
  std::string without_proof = "c=" + auth::base64_encode(gs2) + ",r=" + *r;
  auth_message = client_first_bare + "," + std::string(server_first) + "," + without_proof;
  std::string client_key = auth::hmac_sha256(*salted, "Client Key");
  std::string stored_key = auth::sha256(client_key);
  std::string signature = auth::hmac_sha256(stored_key, auth_message);
  std::string proof = auth::xor_bytes(client_key, signature);
  std::string server_key = auth::hmac_sha256(*salted, "Server Key");
  server_signature = auth::hmac_sha256(server_key, auth_message);
  auth::secure_wipe(*salted);
  auth::secure_wipe(client_key);
  return without_proof + ",p=" + auth::base64_encode(proof);
}

Status ScramClient::verify_server_final(std::string_view server_final) {
  if (auto e = scram_attr(server_final, 'e')) return Error(Errc::Perm, "SCRAM: server said " + *e);
  auto v = scram_attr(server_final, 'v');
  if (!v) return protocol_error("bad SCRAM server-final message");
  auto sig = auth::base64_decode(*v, 64);
  if (!sig.ok() || !auth::constant_time_equal(*sig, server_signature))
    return Error(Errc::Perm, "SCRAM: the server's signature is wrong (not the server we know)");
  return ok_status();
}

Result<Reply> ImapClient::run_sasl(std::string_view mech, const Credentials& cred) {
  std::string tag = next_tag();
  std::string m = upper(mech);
  ScramClient scram;
  scram.user = cred.user;
  scram.password = cred.password;
  scram.authz = cred.authz;
  // The client's responses, in order; SCRAM's second step depends on the
  // server's challenge, so it is computed on the way.
  std::string initial;
  if (m == "PLAIN") initial = cred.authz + std::string(1, '\0') + cred.user + std::string(1, '\0') + cred.password;
  else if (m == "SCRAM-SHA-256") initial = scram.client_first();
  else if (m != "LOGIN") return Error(Errc::Invalid, "unsupported SASL mechanism " + m);

  std::string line = tag + " AUTHENTICATE " + m;
  bool ir_sent = false;
  if (m != "LOGIN" && has_capability("SASL-IR")) {
    line += " " + (initial.empty() ? std::string("=") : auth::base64_encode(initial));
    ir_sent = true;
  }
  CYR_TRY(write_all(line + "\r\n"));
  int step = 0;
  bool verified = m != "SCRAM-SHA-256";
  Reply reply;
  std::string resp;
  std::vector<std::string> lits;
  for (int rounds = 0; rounds < 8; ++rounds) {
    CYR_TRY(read_response(resp, lits));
    if (resp.starts_with("+")) {
      std::string_view b64 = std::string_view(resp).substr(1);
      while (!b64.empty() && b64.front() == ' ') b64.remove_prefix(1);
      auto challenge = auth::base64_decode(b64, 8192);
      if (!challenge.ok()) {
        CYR_TRY(write_all("*\r\n"));  // cancel
        continue;
      }
      std::string answer;
      if (m == "PLAIN") {
        answer = initial;
      } else if (m == "LOGIN") {
        answer = step == 0 ? cred.user : cred.password;
      } else if (!ir_sent && step == 0) {
        answer = initial;
      } else if (scram.auth_message.empty()) {
        auto fin = scram.client_final(*challenge);
        if (!fin.ok()) {
          CYR_TRY(write_all("*\r\n"));
          return fin.take_error();
        }
        answer = *fin;
      } else {
        auto st = scram.verify_server_final(*challenge);
        if (!st.ok()) {
          CYR_TRY(write_all("*\r\n"));
          return st.take_error();
        }
        verified = true;
      }
      ++step;
      CYR_TRY(write_all(auth::base64_encode(answer) + "\r\n"));
      continue;
    }
    auto vals = parse_values(resp, lits);
    if (!vals.ok() || vals->empty()) return protocol_error("bad response: " + resp);
    if ((*vals)[0].is_atom("*")) {
      if (vals->size() >= 2 && (*vals)[1].is_atom("CAPABILITY")) learn_capabilities(*vals, 2);
      continue;
    }
    if (!(*vals)[0].is_atom(tag)) return protocol_error("unexpected response: " + resp);
    auto sp = resp.find(' ');
    std::string rest = resp.substr(sp + 1);
    auto sp2 = rest.find(' ');
    reply.status = upper(rest.substr(0, sp2));
    reply.text = sp2 == std::string::npos ? "" : rest.substr(sp2 + 1);
    // SCRAM's final message may ride in the OK's [SASL "..."]... Cyrus and
    // we send it as a continuation; an OK without it leaves us unverified.
    if (reply.ok() && !verified)
      return Error(Errc::Perm, "SCRAM: the server did not prove that it knows the password");
    return reply;
  }
  return protocol_error("SASL exchange did not end");
}

Status ImapClient::authenticate(const Credentials& cred) {
  if (authenticated_) return ok_status();
  std::vector<std::string> order;
  if (!cred.mechanism.empty()) {
    order.push_back(upper(cred.mechanism));
  } else {
    for (const char* m : {"SCRAM-SHA-256", "PLAIN", "LOGIN"})
      if (has_capability(std::string("AUTH=") + m)) order.push_back(m);
  }
  Reply reply;
  if (!order.empty()) {
    auto r = run_sasl(order[0], cred);
    if (!r.ok()) {
      close();
      return r.take_error();
    }
    reply = std::move(*r);
    mechanism_used_ = order[0];
  } else {
    if (has_capability("LOGINDISABLED"))
      return Error(Errc::Perm, "the server offers no SASL mechanism we know and disables LOGIN "
                               "without TLS (use --starttls or --tls)");
    auto r = run(Command("LOGIN").astring(cred.user).astring(cred.password));
    if (!r.ok()) return r.take_error();
    reply = std::move(*r);
    mechanism_used_ = "LOGIN command";
  }
  if (!reply.ok()) return Error(Errc::Perm, "authentication failed: " + reply.describe());
  authenticated_ = true;
  // Capabilities may change after login; ask again unless the reply told us.
  if (!upper(reply.text).starts_with("[CAPABILITY")) return refresh_capabilities();
  return ok_status();
}

void ImapClient::logout() {
  if (fd_ < 0) return;
  (void)run(Command("LOGOUT"));
  close();
}

}  // namespace cyr::ops::adm
