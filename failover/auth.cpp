#include "failover/auth.h"

#include <map>
#include <mutex>

#include "failover/net.h"
#include "server/auth/crypto.h"
#include "store/base/log.h"

namespace cyr::failover {
namespace {

bool is_hex(std::string_view s, size_t len) {
  if (s.size() != len) return false;
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  return true;
}

std::string proof(std::string_view label, std::string_view secret, std::string_view ns_hex, std::string_view nc_hex) {
  std::string msg;
  msg.reserve(label.size() + ns_hex.size() + nc_hex.size());
  msg.append(label).append(ns_hex).append(nc_hex);  // fixed lengths: no ambiguity
  return auth::to_hex(auth::hmac_sha256(secret, msg));
}

Result<std::string> nonce_hex() {
  auto raw = auth::random_bytes(kNonceBytes);
  if (!raw.ok()) return raw.take_error();
  return auth::to_hex(*raw);
}

ServerAuth::Step refused(std::string reply, std::string why) {
  return {ServerAuth::Step::Refused, format_reply({false, std::move(reply), {}}), std::move(why), {}};
}

constexpr std::string_view kMacPrefix = "MAC ";        // of a sealed request
constexpr std::string_view kReplyMacPrefix = "* MAC ";  // the first line of a sealed reply

}  // namespace

Status check_secret(std::string_view secret) {
  if (secret.empty()) return {};
  if (secret.size() < kMinSecretLength)
    return Error(Errc::Invalid, "failover_secret must be at least " + std::to_string(kMinSecretLength) +
                                    " characters (a long random string, the same on both nodes and the witness)");
  if (secret.size() > kMaxSecretLength)
    return Error(Errc::Invalid, "failover_secret must be at most " + std::to_string(kMaxSecretLength) + " characters");
  for (unsigned char c : secret)
    if (c < 0x21 || c > 0x7e)
      return Error(Errc::Invalid, "failover_secret must be printable ASCII without spaces");
  return {};
}

std::string client_proof(std::string_view secret, std::string_view ns_hex, std::string_view nc_hex) {
  return proof(kClientLabel, secret, ns_hex, nc_hex);
}

std::string server_proof(std::string_view secret, std::string_view ns_hex, std::string_view nc_hex) {
  return proof(kServerLabel, secret, ns_hex, nc_hex);
}

std::string session_key(std::string_view secret, std::string_view ns_hex, std::string_view nc_hex) {
  std::string msg;
  msg.append(kSessionLabel).append(ns_hex).append(nc_hex);
  return auth::hmac_sha256(secret, msg);
}

std::string message_mac(std::string_view key, std::string_view what, uint64_t seq, std::string_view text) {
  std::string msg;
  msg.reserve(what.size() + 22 + text.size());
  msg.append(what).append(" ").append(std::to_string(seq)).append("\n").append(text);
  return auth::to_hex(auth::hmac_sha256(key, msg));
}

// ---- server ----------------------------------------------------------------

Result<ServerAuth> ServerAuth::create(std::string secret) {
  ServerAuth a;
  a.secret_ = std::move(secret);
  if (a.secret_.empty()) {
    a.done_ = true;
    a.greeting_ = format_reply({true, "CYRFO " + std::to_string(kProtocolVersion) + " OPEN", {}});
    return a;
  }
  auto n = nonce_hex();
  if (!n.ok()) return n.take_error();
  a.nonce_hex_ = std::move(*n);
  a.greeting_ = format_reply({true, "CYRFO " + std::to_string(kProtocolVersion) + " HMAC-SHA256 " + a.nonce_hex_, {}});
  return a;
}

ServerAuth::Step ServerAuth::on_line(std::string_view line) {
  auto req = parse_request(line);
  bool is_auth = req.ok() && req->verb == "AUTH";
  if (secret_.empty()) {
    if (!is_auth) return {Step::Request, {}, {}, std::string(line)};
    return refused("AUTH-UNCONFIGURED this node has no failover_secret but the client uses one: "
                   "set the same failover_secret on both nodes and the witness",
                   "the client uses failover_secret, this node has none");
  }
  if (done_) {
    // "MAC <hex> <request>", the MAC over this connection's next number.
    std::string_view mac, request;
    if (line.starts_with(kMacPrefix) && line.size() > kMacPrefix.size() + kMacHexLength &&
        line[kMacPrefix.size() + kMacHexLength] == ' ') {
      mac = line.substr(kMacPrefix.size(), kMacHexLength);
      request = line.substr(kMacPrefix.size() + kMacHexLength + 1);
    }
    if (mac.empty() || sealing_ || !auth::constant_time_equal(message_mac(key_, "request", seq_, request), mac)) {
      // Nothing more is taken on this connection (as after a failed AUTH).
      key_.clear();
      done_ = false;
      return refused("AUTH-FAILED message authentication failed",
                     mac.empty() ? "a request without its MAC after authentication"
                                 : "a request whose MAC does not match (altered or replayed on the way)");
    }
    sealing_ = true;
    return {Step::Request, {}, {}, std::string(request)};
  }
  if (nonce_hex_.empty())  // callers close after a refusal; this keeps it so if one does not
    return refused("AUTH-FAILED one attempt per connection", "second attempt on one connection");
  if (!is_auth) {
    nonce_hex_.clear();
    return refused("AUTH-REQUIRED this node requires failover_secret (HMAC-SHA256); authenticate first",
                   "request before authentication");
  }
  const auto& a = req->args;
  // One attempt per connection and per nonce: whatever happens next, this
  // nonce is spent, so an answer can be tried against it only once.
  std::string nonce = std::move(nonce_hex_);
  nonce_hex_.clear();
  if (a.size() == 1 && (a[0] == "NONE" || a[0] == "none"))
    return refused("AUTH-REQUIRED this node requires failover_secret and the client has none",
                   "the client has no failover_secret");
  if (a.size() != 3 || a[0] != "HMAC-SHA256" || !is_hex(a[1], 2 * kNonceBytes) || !is_hex(a[2], 2 * auth::kSha256Size))
    return refused("AUTH-FAILED malformed authentication", "malformed AUTH line");
  std::string expected = client_proof(secret_, nonce, a[1]);
  std::string sproof = server_proof(secret_, nonce, a[1]);
  if (!auth::constant_time_equal(expected, a[2]))
    return refused("AUTH-FAILED wrong failover_secret", "wrong failover_secret (proof does not match)");
  done_ = true;
  key_ = session_key(secret_, nonce, a[1]);
  return {Step::Authenticated, format_reply({true, "AUTHENTICATED " + sproof, {}}), {}, {}};
}

std::string ServerAuth::seal(std::string reply) {
  if (key_.empty() || !sealing_) return reply;  // open service, or a refusal
  sealing_ = false;
  std::string out = std::string(kReplyMacPrefix) + message_mac(key_, "reply", seq_++, reply) + "\r\n";
  return out + reply;
}

// ---- client ----------------------------------------------------------------

Result<std::optional<std::string>> ClientAuth::on_greeting(const Reply& greeting, std::string* tell) {
  tell->clear();
  auto w = split_words(greeting.text);
  if (!greeting.ok) return Error(Errc::Temp, "the service refused the connection: " + greeting.text);
  if (w.size() < 3 || w[0] != "CYRFO")
    return Error(Errc::Invalid, "no failover greeting (not a failover service, or an older version): " + greeting.text);
  if (w[1] != std::to_string(kProtocolVersion))
    return Error(Errc::Invalid, "the service speaks failover protocol version " + w[1] + ", this node version " +
                                    std::to_string(kProtocolVersion) + ": run the same release on both nodes and the witness");
  if (w[2] == "OPEN" && w.size() == 3) {
    if (secret_.empty()) return std::optional<std::string>();
    *tell = "AUTH HMAC-SHA256";
    return Error(Errc::Perm, "the service has no failover_secret but this side has one: set the same "
                             "failover_secret on both nodes and the witness (refusing an unauthenticated service)");
  }
  if (w[2] != "HMAC-SHA256" || w.size() != 4 || !is_hex(w[3], 2 * kNonceBytes))
    return Error(Errc::Invalid, "unknown authentication offered: " + greeting.text);
  if (secret_.empty()) {
    *tell = "AUTH NONE";
    return Error(Errc::Perm, "the service requires failover_secret and this side has none: set the same "
                             "failover_secret on both nodes and the witness");
  }
  auto nc = nonce_hex();
  if (!nc.ok()) return nc.take_error();
  ns_hex_ = w[3];
  nc_hex_ = std::move(*nc);
  return std::optional<std::string>("AUTH HMAC-SHA256 " + nc_hex_ + " " + client_proof(secret_, ns_hex_, nc_hex_));
}

Status ClientAuth::on_answer(const Reply& answer) {
  if (!answer.ok) return Error(Errc::Perm, "the service refused our failover_secret: " + answer.text);
  auto w = split_words(answer.text);
  if (w.size() != 2 || w[0] != "AUTHENTICATED" || ns_hex_.empty())
    return Error(Errc::Invalid, "unexpected answer to authentication: " + answer.text);
  if (!auth::constant_time_equal(server_proof(secret_, ns_hex_, nc_hex_), w[1]))
    return Error(Errc::Perm, "the service does not know our failover_secret (its proof is wrong): "
                             "not our peer or witness, or a different secret");
  key_ = session_key(secret_, ns_hex_, nc_hex_);
  return {};
}

std::string ClientAuth::seal(std::string_view request) {
  if (key_.empty()) return std::string(request);
  return std::string(kMacPrefix) + message_mac(key_, "request", seq_, request) + " " + std::string(request);
}

Result<Reply> ClientAuth::open(std::string_view text) {
  if (key_.empty()) return parse_reply(text);
  const uint64_t seq = seq_++;
  if (!text.starts_with(kReplyMacPrefix)) {
    // The server refused the request itself (it does not seal a refusal).
    auto r = parse_reply(text);
    if (r.ok() && !r->ok)
      return Error(Errc::Perm, "the service refused our request: " + r->text);
    return Error(Errc::Perm, "a reply without its MAC: altered on the way, or not from our peer or witness");
  }
  size_t nl = text.find('\n');
  std::string_view mac_line = text.substr(0, nl == std::string_view::npos ? text.size() : nl);
  if (mac_line.ends_with('\r')) mac_line.remove_suffix(1);
  std::string_view mac = mac_line.substr(kReplyMacPrefix.size());
  std::string_view rest = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
  if (mac.size() != kMacHexLength || !auth::constant_time_equal(message_mac(key_, "reply", seq, rest), mac))
    return Error(Errc::Perm, "a reply whose MAC does not match: altered on the way, or not from our peer or witness");
  return parse_reply(rest);
}

// ---- logging -----------------------------------------------------------------

void log_refusal(const std::string& peer, const std::string& why) {
  using Clock = std::chrono::steady_clock;
  struct Seen {
    Clock::time_point logged;
    unsigned suppressed = 0;
  };
  static std::mutex mu;
  static std::map<std::string, Seen> seen;
  auto now = Clock::now();
  // Per host, not per "host:port": every connection has its own port.
  std::string host = peer;
  if (auto hp = parse_host_port(peer); hp.ok()) host = hp->host;
  std::string key = host + '\n' + why;
  unsigned suppressed = 0;
  {
    std::lock_guard lk(mu);
    auto it = seen.find(key);
    if (it != seen.end() && now - it->second.logged < std::chrono::seconds(10)) {
      ++it->second.suppressed;
      return;
    }
    if (it != seen.end()) suppressed = it->second.suppressed;
    if (seen.size() >= 256) seen.clear();  // bounded: many peers only cost repeated lines
    seen[key] = Seen{now, 0};
  }
  if (suppressed)
    CYR_LOG(Warning, "failover", "refused a control connection from %s: %s (%u more like it not logged)", peer.c_str(),
            why.c_str(), suppressed);
  else
    CYR_LOG(Warning, "failover", "refused a control connection from %s: %s", peer.c_str(), why.c_str());
}

}  // namespace cyr::failover
