// Server-side TLS settings and contexts, from imapd.conf.
//
// TlsSettings reads tls_server_cert, tls_server_key, tls_client_ca_file,
// tls_client_ca_dir, tls_client_certs, tls_versions, tls_ciphers and
// tls_prefer_server_ciphers, each with its per-service override
// ("imap_tls_server_cert" for the SERVICES entry named imap), as the FAQ
// (seed 002) describes. A certificate value of "disabled" turns TLS off for
// that service. TlsContextStore holds the current OpenSSL context of each
// service; reload() builds new ones (SIGHUP) while sessions keep the one they
// started with (shared_ptr). TlsContextStore is thread-safe.
#pragma once

// <utility> first: Boost 1.74's awaitable.hpp uses std::exchange without it.
#include <utility>

#include <boost/asio/ssl/context.hpp>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "store/base/result.h"
#include "store/config/imapd_conf.h"

namespace cyr::server::net {

struct TlsSettings {
  std::vector<std::string> cert_files;  // tls_server_cert, comma-separated (e.g. RSA and EC)
  std::vector<std::string> key_files;   // tls_server_key, paired with cert_files
  std::string client_ca_file, client_ca_dir;
  std::string client_certs = "optional";  // off, optional, require
  std::string versions = "tls1_2 tls1_3";
  std::string ciphers;
  bool prefer_server_ciphers = false;

  // Settings for one SERVICES entry (its name is the per-service prefix).
  static TlsSettings from_conf(const config::ImapdConf& conf, std::string_view service);

  bool enabled() const { return !cert_files.empty(); }
  bool operator==(const TlsSettings&) const = default;
};

// Builds a server context: fails with Errc::Invalid naming the file or value
// that is wrong (unreadable certificate, key not matching, unknown version).
Result<std::shared_ptr<boost::asio::ssl::context>> make_server_tls_context(const TlsSettings& s);

// Parses "tls1_2 tls1_3" into OpenSSL min/max protocol versions. Versions
// must be contiguous (OpenSSL cannot leave a hole). Errc::Invalid otherwise.
struct TlsVersionRange {
  int min_version = 0, max_version = 0;
};
Result<TlsVersionRange> parse_tls_versions(std::string_view versions);

class TlsContextStore {
 public:
  // (Re)builds the context of each named service. A service whose settings
  // fail keeps its previous context (if any) and the error is returned,
  // naming the service; the others are still updated.
  Status reload(const config::ImapdConf& conf, const std::vector<std::string>& services);

  // The current context of a service, or null when TLS is not configured.
  std::shared_ptr<boost::asio::ssl::context> get(std::string_view service) const;

 private:
  struct Entry {
    TlsSettings settings;
    std::shared_ptr<boost::asio::ssl::context> ctx;
  };
  mutable std::mutex mu_;
  std::map<std::string, Entry, std::less<>> by_service_;
};

}  // namespace cyr::server::net
