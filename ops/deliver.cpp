// cyr_deliver: the command-line delivery agent (Cyrus deliver(8), seed 003)
// for MTA pipes and procmail. It reads one message on stdin and hands it to
// the running node over lmtpsocket, so it takes exactly the LMTP path
// (recipient rules, checks, duplicate suppression, quota). Exit codes are
// sysexits an MTA understands: 0 delivered to everyone, EX_TEMPFAIL (75)
// when any recipient failed temporarily (or the node is not reachable),
// EX_NOUSER (67) unknown recipient, EX_NOPERM (77) no post right,
// EX_DATAERR (65) message refused, EX_USAGE (64), EX_CONFIG (78).
// See docs/man/cyr_deliver.md.
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "ops/commands.h"
#include "store/config/imapd_conf.h"
#include "store/config/paths.h"

namespace cyr::ops {
namespace {

constexpr int kExDataErr = 65, kExNoUser = 67, kExTempFail = 75, kExNoPerm = 77, kExUsage = 64,
              kExConfig = 78;
constexpr size_t kMaxReplyLine = 4096;

int usage() {
  fprintf(stderr,
          "usage: cyr_deliver [-C imapd.conf] [-e] [-a authuser] [-m mailbox] [-r|-f sender] [--] user...\n"
          "Reads one message on stdin and delivers it through the node's LMTP socket.\n"
          "  -m mailbox  deliver to user+mailbox for each user, or to postuser+mailbox without users\n"
          "  -a authuser deliver with authuser's rights (the p right on +mailbox targets)\n"
          "  -e          duplicate suppression (always on when duplicatesuppression is set)\n");
  return kExUsage;
}

class LmtpClient {
 public:
  ~LmtpClient() {
    if (fd_ >= 0) ::close(fd_);
  }
  bool connect_unix(const std::string& path, std::string& err) {
    fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    if (path.size() >= sizeof sa.sun_path) return err = "socket path too long", false;
    memcpy(sa.sun_path, path.c_str(), path.size() + 1);
    if (fd_ < 0 || ::connect(fd_, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0)
      return err = path + ": " + strerror(errno), false;
    return true;
  }
  bool send(std::string_view s) {
    while (!s.empty()) {
      ssize_t w = ::write(fd_, s.data(), s.size());
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) return false;
      s.remove_prefix(static_cast<size_t>(w));
    }
    return true;
  }
  // One reply (last line of a multi-line one); code 0 on a broken connection.
  int reply(std::string& text) {
    for (;;) {
      std::string line;
      for (;;) {
        if (pos_ >= buf_.size()) {
          char tmp[8192];
          ssize_t n = ::read(fd_, tmp, sizeof tmp);
          if (n < 0 && errno == EINTR) continue;
          if (n <= 0) return 0;
          buf_.assign(tmp, static_cast<size_t>(n));
          pos_ = 0;
        }
        char c = buf_[pos_++];
        if (c == '\n') break;
        if (line.size() < kMaxReplyLine) line += c;
      }
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (line.size() < 3) return 0;
      if (line.size() > 3 && line[3] == '-') continue;
      text = line;
      return std::atoi(line.substr(0, 3).c_str());
    }
  }

 private:
  int fd_ = -1;
  std::string buf_;
  size_t pos_ = 0;
};

int exit_for(int code, const std::string& text) {
  if (code >= 200 && code < 300) return 0;
  if (code == 0 || (code >= 400 && code < 500)) return kExTempFail;
  if (text.find("5.1.1") != std::string::npos) return kExNoUser;
  if (text.find("5.7.1") != std::string::npos) return kExNoPerm;
  return kExDataErr;
}

// Worst outcome wins; a temporary failure asks the MTA to retry (duplicate
// suppression then keeps the recipients that succeeded from a second copy).
int combine(int a, int b) {
  if (a == kExTempFail || b == kExTempFail) return kExTempFail;
  return a != 0 ? a : b;
}

std::string xtext(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (c < 0x21 || c > 0x7e || c == '+' || c == '=') {
      char hex[4];
      snprintf(hex, sizeof hex, "+%02X", c);
      out += hex;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

// Streams stdin as DATA: LF or CRLF line ends become CRLF, lines starting
// with '.' are dot-stuffed, and the end line is added.
bool send_stdin(LmtpClient& c) {
  std::string out;
  bool line_start = true;
  char buf[65536];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, stdin)) > 0) {
    for (size_t i = 0; i < n; ++i) {
      char ch = buf[i];
      if (line_start && ch == '.') out += '.';
      if (ch == '\n' && (out.empty() || out.back() != '\r')) out += '\r';
      out += ch;
      line_start = ch == '\n';
    }
    // Keep a trailing CR so that a CRLF split across reads is seen whole.
    size_t keep = (!out.empty() && out.back() == '\r') ? 1 : 0;
    if (!c.send(std::string_view(out).substr(0, out.size() - keep))) return false;
    out.erase(0, out.size() - keep);
  }
  if (ferror(stdin)) return false;
  if (!line_start) out += "\r\n";
  out += ".\r\n";
  return c.send(out);
}

}  // namespace

int deliver_main(int argc, char** argv) {
  std::string conf_path = "/etc/imapd.conf", authuser, mailbox, sender;
  std::vector<std::string> users;
  int i = 1;
  for (; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&](std::string& v) {
      if (i + 1 >= argc) return false;
      v = argv[++i];
      return true;
    };
    if (a == "--") {
      ++i;
      break;
    }
    if (a == "-C") { if (!value(conf_path)) return usage(); }
    else if (a == "-a") { if (!value(authuser)) return usage(); }
    else if (a == "-m") { if (!value(mailbox)) return usage(); }
    else if (a == "-r" || a == "-f") { if (!value(sender)) return usage(); }
    else if (a == "-e" || a == "-q" || a == "-l") { /* -e: suppression is the server's; -q/-l: accepted, as Cyrus */ }
    else if (a == "-h" || a == "--help") return usage();
    else if (!a.empty() && a[0] == '-') return usage();
    else break;
  }
  for (; i < argc; ++i) users.emplace_back(argv[i]);
  if (users.empty() && mailbox.empty()) return usage();
  for (const auto& s : {sender, authuser, mailbox})
    if (s.find_first_of("<>\r\n \t") != std::string::npos) {
      fprintf(stderr, "cyr_deliver: bad character in argument\n");
      return kExUsage;
    }

  std::vector<config::Diagnostic> diags;
  auto conf = config::ImapdConf::load(conf_path, &diags);
  if (!conf) {
    fprintf(stderr, "cyr_deliver: %s\n", conf.error().describe().c_str());
    return kExConfig;
  }
  auto paths = config::Paths::from_config(*conf);
  if (!paths) {
    fprintf(stderr, "cyr_deliver: %s\n", paths.error().describe().c_str());
    return kExConfig;
  }
  std::vector<std::string> rcpts;
  if (users.empty()) rcpts.push_back(conf->get_string("postuser") + "+" + mailbox);
  for (const auto& u : users) rcpts.push_back(mailbox.empty() ? u : u + "+" + mailbox);
  for (const auto& r : rcpts)
    if (r.find_first_of("<>\r\n \t") != std::string::npos) {
      fprintf(stderr, "cyr_deliver: bad recipient %s\n", r.c_str());
      return kExUsage;
    }

  LmtpClient c;
  std::string err, text;
  if (!c.connect_unix(paths->lmtpsocket.string(), err)) {
    fprintf(stderr, "cyr_deliver: cannot reach the node's LMTP socket: %s\n", err.c_str());
    return kExTempFail;
  }
  auto fail = [&](const char* what) {
    fprintf(stderr, "cyr_deliver: %s: %s\n", what, text.empty() ? "connection lost" : text.c_str());
    return kExTempFail;
  };
  if (c.reply(text) != 220) return fail("greeting");
  char host[256] = "localhost";
  gethostname(host, sizeof host - 1);
  c.send(std::string("LHLO ") + host + "\r\n");
  if (c.reply(text) != 250) return fail("LHLO");
  std::string mail = "MAIL FROM:<" + sender + ">";
  if (!authuser.empty()) mail += " AUTH=" + xtext(authuser);
  c.send(mail + "\r\n");
  int code = c.reply(text);
  if (code != 250) {
    fprintf(stderr, "cyr_deliver: MAIL: %s\n", text.c_str());
    return exit_for(code, text);
  }
  int result = 0;
  size_t accepted = 0;
  for (const auto& r : rcpts) {
    c.send("RCPT TO:<" + r + ">\r\n");
    code = c.reply(text);
    if (code == 250) {
      ++accepted;
    } else {
      fprintf(stderr, "cyr_deliver: %s: %s\n", r.c_str(), text.c_str());
      result = combine(result, exit_for(code, text));
    }
  }
  if (accepted == 0) {
    c.send("QUIT\r\n");
    return result;
  }
  c.send("DATA\r\n");
  if (c.reply(text) != 354) return fail("DATA");
  if (!send_stdin(c)) return fail("sending the message");
  for (size_t k = 0; k < accepted; ++k) {
    code = c.reply(text);
    if (code != 250) fprintf(stderr, "cyr_deliver: %s\n", text.empty() ? "connection lost" : text.c_str());
    result = combine(result, exit_for(code, text));
  }
  c.send("QUIT\r\n");
  return result;
}

}  // namespace cyr::ops
