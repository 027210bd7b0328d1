// cyr_passwd: set or delete a user's password in the built-in user database
// ({configdirectory}/passwd.db, see server/auth/user_db.h and
// docs/man/cyr_passwd.md). The password is read from stdin, one line; on a
// terminal it is asked twice, without echo.
#include <signal.h>
#include <termios.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "ops/commands.h"
#include "server/auth/authenticator.h"
#include "server/auth/user_db.h"
#include "store/config/imapd_conf.h"

namespace cyr::ops {
namespace {

constexpr int kExitFailure = 1;
constexpr int kExitUsage = 64;   // EX_USAGE
constexpr int kExitConfig = 78;  // EX_CONFIG

int usage(FILE* out) {
  fprintf(out,
          "usage: cyr_passwd [-C imapd.conf] USER      set USER's password, read from stdin\n"
          "       cyr_passwd [-C imapd.conf] -d USER   delete USER\n"
          "The password is one line of stdin; on a terminal it is asked twice, not echoed.\n"
          "The database is {configdirectory}/passwd.db; default config: /etc/imapd.conf.\n");
  return out == stdout ? 0 : kExitUsage;
}

// The terminal state to restore if the user interrupts a no-echo prompt.
struct termios g_saved_tty;
volatile sig_atomic_t g_tty_changed = 0;

void restore_tty_and_exit(int sig) {
  if (g_tty_changed) tcsetattr(STDIN_FILENO, TCSAFLUSH, &g_saved_tty);
  signal(sig, SIG_DFL);
  raise(sig);
}

// Reads one line from stdin, without its line ending. Fails on EOF before any
// byte, on a NUL, or on a line longer than the password bound.
bool read_line(std::string& out, std::string& error) {
  out.clear();
  for (;;) {
    int c = fgetc(stdin);
    if (c == EOF) {
      if (out.empty()) {
        error = "no password on stdin";
        return false;
      }
      break;
    }
    if (c == '\n') break;
    if (c == '\0') {
      error = "NUL byte in password";
      return false;
    }
    if (out.size() > auth::kMaxPasswordLength) {
      error = "password longer than 1024 bytes";
      return false;
    }
    out.push_back(static_cast<char>(c));
  }
  if (!out.empty() && out.back() == '\r') out.pop_back();
  if (out.size() > auth::kMaxPasswordLength) {
    error = "password longer than 1024 bytes";
    return false;
  }
  return true;
}

bool prompt_no_echo(const char* prompt, std::string& out, std::string& error) {
  fputs(prompt, stderr);
  fflush(stderr);
  struct termios tty;
  tcgetattr(STDIN_FILENO, &tty);
  g_saved_tty = tty;
  struct sigaction sa {};
  sa.sa_handler = restore_tty_and_exit;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  tty.c_lflag &= ~static_cast<tcflag_t>(ECHO);
  g_tty_changed = 1;
  tcsetattr(STDIN_FILENO, TCSAFLUSH, &tty);
  bool ok = read_line(out, error);
  tcsetattr(STDIN_FILENO, TCSAFLUSH, &g_saved_tty);
  g_tty_changed = 0;
  fputc('\n', stderr);
  return ok;
}

bool read_password(std::string& password, std::string& error) {
  if (!isatty(STDIN_FILENO)) return read_line(password, error);
  std::string again;
  if (!prompt_no_echo("New password: ", password, error)) return false;
  if (!prompt_no_echo("Retype new password: ", again, error)) return false;
  bool same = again == password;
  auth::secure_wipe(again);
  if (!same) {
    error = "the passwords do not match";
    return false;
  }
  return true;
}

}  // namespace

int passwd_main(int argc, char** argv) {
  std::string conf_path = "/etc/imapd.conf";
  bool remove = false;
  std::vector<std::string> users;
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    if (a == "-h" || a == "--help") return usage(stdout);
    if (a == "-d") {
      remove = true;
    } else if (a == "-C") {
      if (i + 1 >= argc) return usage(stderr);
      conf_path = argv[++i];
    } else if (a == "--") {
      for (++i; i < argc; ++i) users.emplace_back(argv[i]);
    } else if (a.starts_with("-")) {
      fprintf(stderr, "cyr_passwd: unknown option %s\n", argv[i]);
      return usage(stderr);
    } else {
      users.emplace_back(a);
    }
  }
  if (users.size() != 1) return usage(stderr);

  std::vector<config::Diagnostic> diags;
  auto conf = config::ImapdConf::load(conf_path, &diags);
  for (const auto& d : diags)
    if (d.severity == config::Diagnostic::Severity::Error) fprintf(stderr, "cyr_passwd: %s\n", d.to_string().c_str());
  if (!conf) {
    fprintf(stderr, "cyr_passwd: cannot read %s: %s\n", conf_path.c_str(), conf.error().describe().c_str());
    return kExitConfig;
  }
  auto opts = auth::auth_options_from_config(*conf, {}, "imap");
  if (!opts) {
    fprintf(stderr, "cyr_passwd: %s\n", opts.error().describe().c_str());
    return kExitConfig;
  }
  if (opts->user_db_path.empty()) {
    fprintf(stderr, "cyr_passwd: %s: configdirectory is not set\n", conf_path.c_str());
    return kExitConfig;
  }
  if (!std::filesystem::is_directory(opts->user_db_path.parent_path())) {
    fprintf(stderr, "cyr_passwd: configdirectory %s does not exist\n", opts->user_db_path.parent_path().c_str());
    return kExitConfig;
  }
  bool auxprop_used = false;
  for (auto m : opts->pwcheck) auxprop_used |= m == auth::PwcheckMethod::Auxprop;
  if (!auxprop_used)
    fprintf(stderr, "cyr_passwd: note: sasl_pwcheck_method does not include auxprop; "
                    "the server will not use this database\n");

  // The same canonical form the server uses at login (username_tolower).
  auto user = auth::canonicalize_userid(users[0], opts->username_tolower);
  if (!user) {
    fprintf(stderr, "cyr_passwd: invalid user name '%s': %s\n", users[0].c_str(), user.error().user_message.c_str());
    return kExitUsage;
  }

  auto db = auth::UserDb::open(opts->user_db_path, auth::UserDb::Mode::ReadWrite);
  if (!db) {
    fprintf(stderr, "cyr_passwd: %s\n", db.error().describe().c_str());
    return kExitFailure;
  }

  if (remove) {
    Status st = (*db)->remove(*user);
    if (!st) {
      fprintf(stderr, "cyr_passwd: %s: %s\n", user->c_str(),
              st.error().code == Errc::NotFound ? "no such user" : st.error().describe().c_str());
      return kExitFailure;
    }
    printf("cyr_passwd: deleted %s\n", user->c_str());
    return 0;
  }

  std::string password, error;
  if (!read_password(password, error)) {
    fprintf(stderr, "cyr_passwd: %s\n", error.c_str());
    return kExitFailure;
  }
  if (password.empty()) {
    fprintf(stderr, "cyr_passwd: empty password refused\n");
    return kExitFailure;
  }
  Status st = (*db)->set_password(*user, password, opts->iterations);
  auth::secure_wipe(password);
  if (!st) {
    fprintf(stderr, "cyr_passwd: %s: %s\n", user->c_str(), st.error().describe().c_str());
    return kExitFailure;
  }
  printf("cyr_passwd: password set for %s\n", user->c_str());
  return 0;
}

}  // namespace cyr::ops
