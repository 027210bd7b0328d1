// Helpers shared by the unit_auth tests: temporary directories, a fake
// credential backend, a SCRAM-SHA-256 client, and a fake saslauthd.
#pragma once

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <string>
#include <thread>

#include "server/auth/base64.h"
#include "server/auth/crypto.h"
#include "server/auth/mechanism.h"

namespace cyr::auth::testing {

// A fresh directory under /tmp, removed with everything in it on destruction.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "cyr_auth_XXXXXX").string();
    char* p = mkdtemp(tmpl.data());
    path_ = p ? p : "";
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

inline std::string unhex(std::string_view hex) {
  std::string out;
  int hi = -1;
  for (char c : hex) {
    int v;
    if (c >= '0' && c <= '9') v = c - '0';
    else if (c >= 'a' && c <= 'f') v = c - 'a' + 10;
    else continue;  // spaces
    if (hi < 0) {
      hi = v;
    } else {
      out.push_back(static_cast<char>(hi * 16 + v));
      hi = -1;
    }
  }
  return out;
}

// A password backend held in memory.
class FakeVerifier : public CredentialVerifier {
 public:
  void add(const std::string& user, const std::string& password, uint32_t iterations = 64,
           std::string salt = "0123456789abcdef") {
    users[user] = derive_scram_keys(password, salt, iterations).value();
  }
  Status check_plaintext(std::string_view authcid, std::string_view password) override {
    ++plaintext_checks;
    auto it = users.find(std::string(authcid));
    if (it == users.end()) return Error(Errc::Perm, "Authentication failed", "no such user");
    return verify_password_against(it->second, password);
  }
  Result<ScramKeys> scram_keys(std::string_view authcid) override {
    auto it = users.find(std::string(authcid));
    if (it == users.end()) return Error(Errc::NotFound, "No such user", "fake: unknown");
    return it->second;
  }
  std::map<std::string, ScramKeys> users;
  int plaintext_checks = 0;
};

// The client side of SCRAM-SHA-256 (RFC 5802 s3), to drive the server.
struct ScramClient {
  ScramClient(std::string u, std::string p, std::string nonce)
      : user(std::move(u)), password(std::move(p)), client_nonce(std::move(nonce)) {}
  std::string user, password, client_nonce, gs2_header = "n,,";
  std::string client_first_bare;
  std::string auth_message;
  std::string salted_password;

  std::string first() {
    client_first_bare = "n=" + user + ",r=" + client_nonce;
    return gs2_header + client_first_bare;
  }
  // Builds client-final from server-first; returns "" if server-first is unusable.
  std::string final_message(const std::string& server_first) {
    std::string nonce, salt_b64;
    uint32_t iterations = 0;
    size_t pos = 0;
    while (pos <= server_first.size()) {
      size_t comma = server_first.find(',', pos);
      std::string part = server_first.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
      if (part.rfind("r=", 0) == 0) nonce = part.substr(2);
      if (part.rfind("s=", 0) == 0) salt_b64 = part.substr(2);
      if (part.rfind("i=", 0) == 0) iterations = static_cast<uint32_t>(std::stoul(part.substr(2)));
      if (comma == std::string::npos) break;
      pos = comma + 1;
    }
    auto salt = base64_decode(salt_b64, 256);
    if (!salt || iterations == 0) return "";
    salted_password = pbkdf2_hmac_sha256(password, *salt, iterations, 32).value();
    std::string without_proof = "c=" + base64_encode(gs2_header) + ",r=" + nonce;
    auth_message = client_first_bare + "," + server_first + "," + without_proof;
    std::string client_key = hmac_sha256(salted_password, "Client Key");
    std::string signature = hmac_sha256(sha256(client_key), auth_message);
    return without_proof + ",p=" + base64_encode(xor_bytes(client_key, signature));
  }
  std::string expected_server_final() const {
    return "v=" + base64_encode(hmac_sha256(hmac_sha256(salted_password, "Server Key"), auth_message));
  }
};

// A saslauthd stand-in on a unix socket: accepts one connection per request,
// reads the four counted strings, then answers as told.
class FakeSaslauthd {
 public:
  enum class Behaviour { Reply, Silent, CloseEarly };

  explicit FakeSaslauthd(std::filesystem::path path) : path_(std::move(path)) {
    fd_ = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    strncpy(addr.sun_path, path_.c_str(), sizeof addr.sun_path - 1);
    bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    listen(fd_, 8);
    thread_ = std::thread([this] { run(); });
  }
  ~FakeSaslauthd() {
    stop_ = true;
    shutdown(fd_, SHUT_RDWR);
    close(fd_);
    thread_.join();
  }

  // What to send back: raw bytes (use counted() to build a well-formed reply).
  void set_reply(std::string raw) { reply_ = std::move(raw); behaviour_ = Behaviour::Reply; }
  void set_behaviour(Behaviour b) { behaviour_ = b; }
  static std::string counted(std::string_view s) {
    std::string out;
    out.push_back(static_cast<char>(s.size() >> 8));
    out.push_back(static_cast<char>(s.size() & 0xFF));
    out.append(s);
    return out;
  }

  std::string last_login, last_password, last_service, last_realm;
  std::atomic<int> requests{0};

 private:
  static bool read_exact(int fd, char* buf, size_t n) {
    size_t got = 0;
    while (got < n) {
      ssize_t r = read(fd, buf + got, n - got);
      if (r <= 0) return false;
      got += static_cast<size_t>(r);
    }
    return true;
  }
  static bool read_counted(int fd, std::string& out) {
    unsigned char hdr[2];
    if (!read_exact(fd, reinterpret_cast<char*>(hdr), 2)) return false;
    out.assign((size_t(hdr[0]) << 8) | hdr[1], '\0');
    return read_exact(fd, out.data(), out.size());
  }
  void run() {
    while (!stop_) {
      int c = accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      if (behaviour_ == Behaviour::CloseEarly) {
        close(c);
        continue;
      }
      std::string login, password, service, realm;
      if (read_counted(c, login) && read_counted(c, password) && read_counted(c, service) &&
          read_counted(c, realm)) {
        last_login = login;
        last_password = password;
        last_service = service;
        last_realm = realm;
        ++requests;
        if (behaviour_ == Behaviour::Reply) {
          (void)!write(c, reply_.data(), reply_.size());
        } else {
          // Silent: hold the connection until the client gives up.
          char b;
          while (read(c, &b, 1) > 0) {
          }
        }
      }
      close(c);
    }
  }

  std::filesystem::path path_;
  int fd_ = -1;
  std::atomic<bool> stop_{false};
  std::atomic<Behaviour> behaviour_{Behaviour::Reply};
  std::string reply_ = counted("OK");
  std::thread thread_;
};

}  // namespace cyr::auth::testing
