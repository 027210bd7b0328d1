#include "server/net/tls.h"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <sstream>

namespace cyr::server::net {
namespace {

namespace ssl = boost::asio::ssl;

// A lookup that tolerates an option missing from the table (a config table
// that lags behind this code must not crash the master).
std::string conf_string(const config::ImapdConf& conf, std::string_view key, std::string_view service) {
  if (!config::find_option(key)) return {};
  return conf.get_string(key, service);
}

std::vector<std::string> split_list(std::string_view v) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : v) {
    if (c == ',' || c == ' ' || c == '\t') {
      if (!cur.empty()) out.push_back(std::move(cur));
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (!cur.empty()) out.push_back(std::move(cur));
  return out;
}

std::string openssl_errors() {
  std::string out;
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out.empty() ? "unknown OpenSSL error" : out;
}

}  // namespace

TlsSettings TlsSettings::from_conf(const config::ImapdConf& conf, std::string_view service) {
  TlsSettings s;
  std::string cert = conf_string(conf, "tls_server_cert", service);
  if (!cert.empty() && cert != "disabled") {
    s.cert_files = split_list(cert);
    s.key_files = split_list(conf_string(conf, "tls_server_key", service));
  }
  s.client_ca_file = conf_string(conf, "tls_client_ca_file", service);
  s.client_ca_dir = conf_string(conf, "tls_client_ca_dir", service);
  if (std::string v = conf_string(conf, "tls_client_certs", service); !v.empty()) s.client_certs = v;
  // The option table's default is "tls1_2 tls1_3" (older versions are
  // broken); an explicit setting, global or per service, wins.
  s.versions = conf.get_string("tls_versions", service);
  s.ciphers = conf_string(conf, "tls_ciphers", service);
  if (config::find_option("tls_prefer_server_ciphers"))
    s.prefer_server_ciphers = conf.get_switch("tls_prefer_server_ciphers", service);
  return s;
}

Result<TlsVersionRange> parse_tls_versions(std::string_view versions) {
  // Index order is protocol order.
  static constexpr std::pair<std::string_view, int> kVersions[] = {
      {"ssl3", SSL3_VERSION},     {"tls1_0", TLS1_VERSION},   {"tls1_1", TLS1_1_VERSION},
      {"tls1_2", TLS1_2_VERSION}, {"tls1_3", TLS1_3_VERSION},
  };
  bool on[5] = {};
  int count = 0;
  for (const std::string& v : split_list(versions)) {
    bool known = false;
    for (int i = 0; i < 5; ++i)
      if (kVersions[i].first == v) {
        known = true;
        if (!on[i]) ++count;
        on[i] = true;
      }
    if (!known) return Error(Errc::Invalid, "tls_versions: unknown version \"" + v + "\"");
  }
  if (count == 0) return Error(Errc::Invalid, "tls_versions: no version enabled");
  int lo = -1, hi = -1;
  for (int i = 0; i < 5; ++i)
    if (on[i]) {
      if (lo < 0) lo = i;
      hi = i;
    }
  if (hi - lo + 1 != count)
    return Error(Errc::Invalid, "tls_versions: versions must be contiguous (\"" +
                                    std::string(versions) + "\")");
  return TlsVersionRange{kVersions[lo].second, kVersions[hi].second};
}

Result<std::shared_ptr<ssl::context>> make_server_tls_context(const TlsSettings& s) {
  if (!s.enabled()) return Error(Errc::Invalid, "tls_server_cert is not set");
  if (s.key_files.size() != s.cert_files.size())
    return Error(Errc::Invalid, "tls_server_key must name one key per tls_server_cert certificate");
  auto range = parse_tls_versions(s.versions);
  if (!range) return range.take_error();

  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
  SSL_CTX* c = ctx->native_handle();
  ERR_clear_error();
  SSL_CTX_set_options(c, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
  if (s.prefer_server_ciphers) SSL_CTX_set_options(c, SSL_OP_CIPHER_SERVER_PREFERENCE);
  if (!SSL_CTX_set_min_proto_version(c, range->min_version) ||
      !SSL_CTX_set_max_proto_version(c, range->max_version))
    return Error(Errc::Invalid, "tls_versions: not supported by OpenSSL", openssl_errors());
  if (!s.ciphers.empty() && s.ciphers != "DEFAULT" && !SSL_CTX_set_cipher_list(c, s.ciphers.c_str()))
    return Error(Errc::Invalid, "tls_ciphers: no usable cipher in \"" + s.ciphers + "\"",
                 openssl_errors());
  for (size_t i = 0; i < s.cert_files.size(); ++i) {
    if (SSL_CTX_use_certificate_chain_file(c, s.cert_files[i].c_str()) != 1)
      return Error(Errc::Invalid, "tls_server_cert: cannot load " + s.cert_files[i], openssl_errors());
    if (SSL_CTX_use_PrivateKey_file(c, s.key_files[i].c_str(), SSL_FILETYPE_PEM) != 1)
      return Error(Errc::Invalid, "tls_server_key: cannot load " + s.key_files[i], openssl_errors());
    if (SSL_CTX_check_private_key(c) != 1)
      return Error(Errc::Invalid, "tls_server_key " + s.key_files[i] + " does not match " +
                                      s.cert_files[i], openssl_errors());
  }
  if (s.client_certs != "off" && (!s.client_ca_file.empty() || !s.client_ca_dir.empty())) {
    const char* file = s.client_ca_file.empty() ? nullptr : s.client_ca_file.c_str();
    const char* dir = s.client_ca_dir.empty() ? nullptr : s.client_ca_dir.c_str();
    if (SSL_CTX_load_verify_locations(c, file, dir) != 1)
      return Error(Errc::Invalid, "tls_client_ca_file/tls_client_ca_dir: cannot load", openssl_errors());
    int mode = SSL_VERIFY_PEER;
    if (s.client_certs == "require") mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
    SSL_CTX_set_verify(c, mode, nullptr);
  }
  return ctx;
}

Status TlsContextStore::reload(const config::ImapdConf& conf, const std::vector<std::string>& services) {
  std::string errors;
  std::map<std::string, Entry, std::less<>> next;
  for (const std::string& service : services) {
    TlsSettings s = TlsSettings::from_conf(conf, service);
    Entry e{s, nullptr};
    if (s.enabled()) {
      auto ctx = make_server_tls_context(s);
      if (ctx) {
        e.ctx = std::move(*ctx);
      } else {
        if (!errors.empty()) errors += "; ";
        errors += service + ": " + ctx.error().describe();
        std::lock_guard lk(mu_);
        if (auto it = by_service_.find(service); it != by_service_.end()) e = it->second;
      }
    }
    next[service] = std::move(e);
  }
  {
    std::lock_guard lk(mu_);
    by_service_ = std::move(next);
  }
  if (!errors.empty()) return Error(Errc::Invalid, "TLS configuration error", errors);
  return ok_status();
}

std::shared_ptr<ssl::context> TlsContextStore::get(std::string_view service) const {
  std::lock_guard lk(mu_);
  auto it = by_service_.find(service);
  return it == by_service_.end() ? nullptr : it->second.ctx;
}

}  // namespace cyr::server::net
