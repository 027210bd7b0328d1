// cyr_adm: the admin shell over IMAP, like Cyrus's cyradm (seed 003).
//
//   cyr_adm [-C imapd.conf] [--user admin] [--port N] [--tls|--starttls]
//           [--password-file F | -w password] [--auth mech] [-f script] [-k] host
//
// Interactive on a terminal ("host> " prompt, in-memory history); else each
// line of the script (-f) or of stdin is one command. Lines are parsed by
// ops/adm/adm_commands.h (one table of commands, cyradm's names and aliases)
// and run here over ops/adm/imap_client.h. In a script the first failing
// command stops the run with status 1 (-k: report it and go on; the status is
// still 1); every NO/BAD from the server is printed with its text.
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ops/adm/adm_commands.h"
#include "ops/adm/common.h"
#include "ops/adm/imap_client.h"
#include "ops/commands.h"
#include "store/config/imapd_conf.h"

namespace cyr::ops {
namespace {

using adm::AdmCommand;
using adm::AdmOp;
using adm::Command;
using adm::ImapClient;
using adm::ImapValue;
using adm::Reply;

constexpr const char* kUsage =
    "usage: cyr_adm [-C imapd.conf] [-u|--user admin] [-p|--port N] [--tls | --starttls]\n"
    "               [--cafile F] [--noverify] [-a|--auth mech] [-z|--authz user]\n"
    "               [--password-file F | -w|--password pw] [-f script] [-k] [--timeout S] [host [port]]\n"
    "  -f script   run the commands in script (else stdin when it is not a terminal)\n"
    "  -k          keep going after a failing command (the exit status is still 1)\n"
    "  --tls       TLS from the start (port 993); --starttls: STARTTLS on port 143\n"
    "  --noverify  do not check the server certificate (test servers only)\n"
    "Type \"help\" at the prompt for the commands.\n";

struct AdmArgs {
  std::string conf_path;
  adm::ClientOptions client;
  bool port_given = false;
  adm::Credentials cred;
  std::optional<std::string> password;
  std::string password_file;
  std::string script;
  bool keep_going = false;
  bool have_host = false;
};

bool parse_args(int argc, char** argv, AdmArgs& a) {
  std::vector<std::string> positional;
  for (int i = 1; i < argc; ++i) {
    std::string s = argv[i];
    auto value = [&](std::string& out) {
      if (i + 1 >= argc) {
        fprintf(stderr, "cyr_adm: %s needs an argument\n", s.c_str());
        return false;
      }
      out = argv[++i];
      return true;
    };
    std::string v;
    if (s == "-C") { if (!value(a.conf_path)) return false; }
    else if (s == "-u" || s == "--user") { if (!value(a.cred.user)) return false; }
    else if (s == "-z" || s == "--authz") { if (!value(a.cred.authz)) return false; }
    else if (s == "-a" || s == "--auth") { if (!value(a.cred.mechanism)) return false; }
    else if (s == "-w" || s == "--password") { if (!value(v)) return false; a.password = v; }
    else if (s == "--password-file") { if (!value(a.password_file)) return false; }
    else if (s == "-f") { if (!value(a.script)) return false; }
    else if (s == "--cafile") { if (!value(a.client.ca_file)) return false; }
    else if (s == "-p" || s == "--port" || s == "--timeout") {
      if (!value(v)) return false;
      char* end = nullptr;
      long n = strtol(v.c_str(), &end, 10);
      bool port = s != "--timeout";
      if (*end || n <= 0 || n > (port ? 65535 : 86400)) {
        fprintf(stderr, "cyr_adm: bad %s '%s'\n", s.c_str(), v.c_str());
        return false;
      }
      if (port) {
        a.client.port = static_cast<uint16_t>(n);
        a.port_given = true;
      } else {
        a.client.timeout = std::chrono::seconds(n);
      }
    }
    else if (s == "--tls") a.client.tls = adm::TlsMode::Implicit;
    else if (s == "--starttls") a.client.tls = adm::TlsMode::StartTls;
    else if (s == "--noverify") a.client.verify_peer = false;
    else if (s == "-k") a.keep_going = true;
    else if (s == "-h" || s == "--help") return false;
    else if (s.size() > 1 && s[0] == '-') {
      fprintf(stderr, "cyr_adm: unknown option %s\n", s.c_str());
      return false;
    } else positional.push_back(s);
  }
  if (positional.size() > 2) return false;
  if (!positional.empty()) {
    a.client.host = positional[0];
    a.have_host = true;
  }
  if (positional.size() == 2) {
    char* end = nullptr;
    long n = strtol(positional[1].c_str(), &end, 10);
    if (*end || n <= 0 || n > 65535) {
      fprintf(stderr, "cyr_adm: bad port '%s'\n", positional[1].c_str());
      return false;
    }
    a.client.port = static_cast<uint16_t>(n);
    a.port_given = true;
  }
  if (!a.port_given && a.client.tls == adm::TlsMode::Implicit) a.client.port = 993;
  if (a.password && !a.password_file.empty()) {
    fprintf(stderr, "cyr_adm: give either -w or --password-file, not both\n");
    return false;
  }
  return true;
}

// Reads a password without echo from the terminal.
std::optional<std::string> prompt_password(const std::string& prompt) {
  FILE* tty = fopen("/dev/tty", "r+");
  if (!tty) return std::nullopt;
  fputs(prompt.c_str(), tty);
  fflush(tty);
  termios old{};
  bool restore = tcgetattr(fileno(tty), &old) == 0;
  if (restore) {
    termios quiet = old;
    quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    tcsetattr(fileno(tty), TCSAFLUSH, &quiet);
  }
  char buf[1024];
  bool got = fgets(buf, sizeof buf, tty) != nullptr;
  if (restore) tcsetattr(fileno(tty), TCSAFLUSH, &old);
  fputc('\n', tty);
  fclose(tty);
  if (!got) return std::nullopt;
  std::string pw = buf;
  while (!pw.empty() && (pw.back() == '\n' || pw.back() == '\r')) pw.pop_back();
  return pw;
}

std::string value_text(const ImapValue& v) {
  if (v.kind != ImapValue::Kind::List) return v.is_nil ? "" : v.text;
  std::string out = "(";
  for (size_t i = 0; i < v.items.size(); ++i) {
    if (i) out += ' ';
    out += value_text(v.items[i]);
  }
  return out + ")";
}

// Untagged responses "* <name> ..." of a reply, values after the name.
std::vector<std::vector<ImapValue>> untagged_of(const Reply& r, std::string_view name) {
  std::vector<std::vector<ImapValue>> out;
  for (const auto& u : r.untagged)
    if (u.values.size() >= 2 && u.values[1].is_atom(name))
      out.emplace_back(u.values.begin() + 2, u.values.end());
  return out;
}

struct QuotaUsage {
  std::string resource;
  int64_t used = 0, limit = 0;
};

std::vector<QuotaUsage> parse_quota_list(const ImapValue& list) {
  std::vector<QuotaUsage> out;
  if (list.kind != ImapValue::Kind::List) return out;
  for (size_t i = 0; i + 2 < list.items.size(); i += 3) {
    QuotaUsage q;
    q.resource = list.items[i].text;
    q.used = strtoll(list.items[i + 1].text.c_str(), nullptr, 10);
    q.limit = strtoll(list.items[i + 2].text.c_str(), nullptr, 10);
    out.push_back(q);
  }
  return out;
}

std::string quota_line(const std::vector<QuotaUsage>& qs) {
  // cyradm's form: " STORAGE used/limit (pct%)"
  std::string out;
  for (const auto& q : qs) {
    out += " " + q.resource + " " + std::to_string(q.used) + "/" + std::to_string(q.limit);
    if (q.limit > 0) out += " (" + std::to_string(q.used * 100 / q.limit) + "%)";
  }
  return out;
}

// One connection and the state of the shell; runs parsed commands.
class AdmShell {
 public:
  explicit AdmShell(AdmArgs args) : args_(std::move(args)) {}

  bool connected() const { return client_ && client_->connected(); }
  std::string prompt() const {
    return connected() ? args_.client.host + "> " : std::string("cyr_adm> ");
  }
  void remember(std::string line) {
    if (history_.size() >= 1000) history_.erase(history_.begin());
    history_.push_back(std::move(line));
  }

  // Connects (and authenticates unless told not to). Prints why on failure.
  bool connect(bool authenticate) {
    if (client_) client_->logout();
    client_.reset();
    auto c = ImapClient::connect(args_.client);
    if (!c.ok()) {
      fprintf(stderr, "cyr_adm: %s\n", c.error().user_message.c_str());
      return false;
    }
    client_ = std::move(*c);
    if (!authenticate || client_->authenticated()) return true;
    return login();
  }

  bool login() {
    if (args_.cred.user.empty()) {
      const char* u = getenv("USER");
      args_.cred.user = u ? u : "cyrus";
    }
    if (!args_.password) {
      if (!args_.password_file.empty()) {
        std::ifstream f(args_.password_file);
        std::string pw;
        if (!f || !std::getline(f, pw)) {
          fprintf(stderr, "cyr_adm: cannot read the password from %s\n", args_.password_file.c_str());
          return false;
        }
        if (!pw.empty() && pw.back() == '\r') pw.pop_back();
        args_.password = pw;
      } else if (auto pw = prompt_password(args_.client.host + " password: ")) {
        args_.password = *pw;
      } else {
        fprintf(stderr, "cyr_adm: no password: use -w, --password-file, or run on a terminal\n");
        return false;
      }
    }
    args_.cred.password = *args_.password;
    auto st = client_->authenticate(args_.cred);
    if (!st.ok()) {
      fprintf(stderr, "cyr_adm: cannot authenticate to %s as %s: %s\n", args_.client.host.c_str(),
              args_.cred.user.c_str(), st.error().user_message.c_str());
      client_.reset();
      return false;
    }
    return true;
  }

  // Returns 0 on success, 1 on failure (message printed).
  int run(const AdmCommand& c) {
    switch (c.op) {
      case AdmOp::Help: return help(c);
      case AdmOp::History:
        for (size_t i = 0; i < history_.size(); ++i) printf("%5zu  %s\n", i + 1, history_[i].c_str());
        return 0;
      case AdmOp::Quit: return 0;  // the caller ends the loop
      case AdmOp::Connect: {
        if (c.server.empty()) {
          if (connected()) printf("%s\n", args_.client.host.c_str());
          return 0;
        }
        args_.client.host = c.server;
        if (c.port) args_.client.port = *c.port;
        return connect(!c.no_authenticate) ? 0 : 1;
      }
      case AdmOp::Disconnect:
        if (client_) client_->logout();
        client_.reset();
        return 0;
      case AdmOp::Authenticate: {
        if (!c.user.empty()) {
          if (c.user != args_.cred.user) args_.password.reset();  // another user's password
          args_.cred.user = c.user;
        }
        if (!c.mechanism.empty()) args_.cred.mechanism = c.mechanism;
        // IMAP cannot authenticate twice on one connection: start a new one.
        return connect(true) ? 0 : 1;
      }
      default: break;
    }
    if (!connected()) {
      fprintf(stderr, "%s: no connection to server (use \"server host\")\n",
              std::string(c.spec->name).c_str());
      return 1;
    }
    switch (c.op) {
      case AdmOp::ListMailbox: return list(c);
      case AdmOp::CreateMailbox: return create(c);
      case AdmOp::DeleteMailbox: return for_each_mailbox(c, "Deleting mailbox", [&](const std::string& m) {
          return simple(c, Command("DELETE").astring(m));
        });
      case AdmOp::RenameMailbox: {
        Command cmd("RENAME");
        cmd.astring(c.mailbox).astring(c.new_name);
        if (!c.partition.empty()) cmd.astring(c.partition);
        return simple(c, cmd);
      }
      case AdmOp::SetAcl: return for_each_mailbox(c, "Setting ACL on", [&](const std::string& m) {
          for (const auto& [id, rights] : c.acl)
            if (int rc = simple(c, Command("SETACL").astring(m).astring(id).astring(rights))) return rc;
          return 0;
        });
      case AdmOp::DeleteAcl: return for_each_mailbox(c, "Deleting ACL on", [&](const std::string& m) {
          for (const auto& id : c.ids)
            if (int rc = simple(c, Command("DELETEACL").astring(m).astring(id))) return rc;
          return 0;
        });
      case AdmOp::ListAcl: return list_acl(c);
      case AdmOp::SetQuota: return set_quota(c);
      case AdmOp::ListQuota: return list_quota(c);
      case AdmOp::ListQuotaRoot: return list_quota_root(c);
      case AdmOp::GetMetadata: return get_metadata(c);
      case AdmOp::Subscribe: return simple(c, Command("SUBSCRIBE").astring(c.mailbox));
      case AdmOp::Unsubscribe: return simple(c, Command("UNSUBSCRIBE").astring(c.mailbox));
      case AdmOp::Version: {
        auto r = send(c, Command("ID").atom("NIL"));
        if (!r) return 1;
        for (const auto& vals : untagged_of(*r, "ID")) {
          if (vals.empty() || vals[0].kind != ImapValue::Kind::List) continue;
          const auto& kv = vals[0].items;
          for (size_t i = 0; i + 1 < kv.size(); i += 2)
            printf("%-11s: %s\n", kv[i].text.c_str(), value_text(kv[i + 1]).c_str());
        }
        return 0;
      }
      default: return 1;
    }
  }

  void close() {
    if (client_) client_->logout();
    client_.reset();
  }

 private:
  // Sends a command; prints "<command>: <NO/BAD text>" or the transport error.
  std::optional<Reply> send(const AdmCommand& c, const Command& cmd) {
    auto r = client_->run(cmd);
    std::string name(c.spec->name);
    if (!r.ok()) {
      fprintf(stderr, "%s: %s\n", name.c_str(), r.error().user_message.c_str());
      if (!client_->connected()) {
        fprintf(stderr, "cyr_adm: connection to server lost\n");
        client_.reset();
      }
      return std::nullopt;
    }
    if (!r->ok()) {
      fprintf(stderr, "%s: %s\n", name.c_str(), r->describe().c_str());
      return std::nullopt;
    }
    return std::move(*r);
  }

  int simple(const AdmCommand& c, const Command& cmd) { return send(c, cmd) ? 0 : 1; }

  // The mailboxes a LIST pattern matches, without \Noselect ones.
  std::optional<std::vector<std::string>> matching(const AdmCommand& c, const std::string& pattern) {
    auto r = send(c, Command("LIST").string("").astring(pattern));
    if (!r) return std::nullopt;
    std::vector<std::string> out;
    for (const auto& v : untagged_of(*r, "LIST")) {
      if (v.size() < 3) continue;
      bool noselect = false;
      for (const auto& a : v[0].items)
        if (a.is_atom("\\Noselect") || a.is_atom("\\NonExistent")) noselect = true;
      if (!noselect) out.push_back(v[2].text);
    }
    return out;
  }

  // cyradm applies dm/sam/dam to every match of a pattern, printing progress.
  template <class F>
  int for_each_mailbox(const AdmCommand& c, const char* verb, F&& f) {
    if (!adm::is_mailbox_pattern(c.mailbox)) return f(c.mailbox);
    auto names = matching(c, c.mailbox);
    if (!names) return 1;
    // Children before parents, so that deleting a hierarchy by pattern does
    // not trip over mailboxes already gone with their parent.
    std::sort(names->begin(), names->end(), std::greater<>());
    for (const auto& m : *names) {
      printf("%s %s...", verb, m.c_str());
      fflush(stdout);
      if (int rc = f(m)) return rc;
      printf("OK.\n");
    }
    return 0;
  }

  int help(const AdmCommand& c) {
    if (!c.topic.empty()) {
      const auto* s = adm::find_adm_command(c.topic);
      printf("usage: %s %s\n  %s\n", std::string(s->name).c_str(), std::string(s->usage).c_str(),
             std::string(s->summary).c_str());
      if (!s->aliases.empty()) {
        printf("  also:");
        for (auto a : s->aliases) printf(" %s", std::string(a).c_str());
        printf("\n");
      }
      return 0;
    }
    for (const auto& s : adm::adm_commands()) {
      std::string names(s.name);
      for (auto a : s.aliases) names += ", " + std::string(a);
      printf("%-36s %s\n", names.c_str(), std::string(s.summary).c_str());
    }
    return 0;
  }

  int list(const AdmCommand& c) {
    auto r = send(c, Command(c.subscribed ? "LSUB" : "LIST").string(c.reference).astring(c.mailbox));
    if (!r) return 1;
    std::vector<std::string> lines;
    for (const auto& v : untagged_of(*r, c.subscribed ? "LSUB" : "LIST")) {
      if (v.size() < 3) continue;
      std::string line = v[2].text;
      std::string attrs = value_text(v[0]);
      if (attrs.size() > 2) line += " " + attrs;
      lines.push_back(std::move(line));
    }
    std::sort(lines.begin(), lines.end());
    for (const auto& l : lines) printf("%s\n", l.c_str());
    return 0;
  }

  int create(const AdmCommand& c) {
    Command cmd("CREATE");
    cmd.astring(c.mailbox);
    // Cyrus's form: CREATE name partition (admins only).
    if (!c.partition.empty()) cmd.astring(c.partition);
    if (!c.specialuse.empty()) {
      std::string use = c.specialuse[0] == '\\' ? c.specialuse : "\\" + c.specialuse;
      cmd.raw(" (USE (" + use + "))");
    }
    return simple(c, cmd);
  }

  int list_acl(const AdmCommand& c) {
    auto one = [&](const std::string& m, const char* indent) {
      auto r = send(c, Command("GETACL").astring(m));
      if (!r) return 1;
      for (const auto& v : untagged_of(*r, "ACL"))
        for (size_t i = 1; i + 1 < v.size(); i += 2)
          printf("%s%s %s\n", indent, v[i].text.c_str(), v[i + 1].text.c_str());
      return 0;
    };
    if (!adm::is_mailbox_pattern(c.mailbox)) return one(c.mailbox, "");
    auto names = matching(c, c.mailbox);
    if (!names) return 1;
    int rc = 0;
    for (const auto& m : *names) {
      printf("%s:\n", m.c_str());
      rc |= one(m, "  ");
    }
    return rc;
  }

  // The limits now set on a root ({} when it is no quota root yet).
  std::optional<std::map<std::string, int64_t>> current_limits(const AdmCommand& c) {
    auto r = client_->run(Command("GETQUOTA").astring(c.mailbox));
    std::map<std::string, int64_t> out;
    if (!r.ok()) {
      fprintf(stderr, "%s: %s\n", std::string(c.spec->name).c_str(), r.error().user_message.c_str());
      return std::nullopt;
    }
    if (!r->ok()) return out;  // no such quota root: nothing to keep
    for (const auto& v : untagged_of(*r, "QUOTA"))
      if (v.size() >= 2)
        for (const auto& q : parse_quota_list(v[1])) out[q.resource] = q.limit;
    return out;
  }

  int set_quota(const AdmCommand& c) {
    // IMAP SETQUOTA replaces every limit of the root; cyradm sends only the
    // resources typed, so "sq root MESSAGE 100" silently dropped a STORAGE
    // limit. We keep the limits not named (read back first); "none" removes
    // one, and "sq root none" all of them.
    std::map<std::string, int64_t> limits;
    if (!c.quota.empty()) {
      auto cur = current_limits(c);
      if (!cur) return 1;
      limits = *cur;
      for (const auto& q : c.quota) {
        if (q.limit) limits[q.resource] = *q.limit;
        else limits.erase(q.resource);
      }
    }
    std::string list = " (";
    bool first = true;
    for (const auto& [res, lim] : limits) {
      list += (first ? "" : " ") + res + " " + std::to_string(lim);
      first = false;
    }
    list += ")";
    return simple(c, Command("SETQUOTA").astring(c.mailbox).raw(list));
  }

  int list_quota(const AdmCommand& c) {
    auto r = send(c, Command("GETQUOTA").astring(c.mailbox));
    if (!r) return 1;
    for (const auto& v : untagged_of(*r, "QUOTA"))
      if (v.size() >= 2) printf("%s\n", quota_line(parse_quota_list(v[1])).c_str());
    return 0;
  }

  int list_quota_root(const AdmCommand& c) {
    auto r = send(c, Command("GETQUOTAROOT").astring(c.mailbox));
    if (!r) return 1;
    std::map<std::string, std::vector<QuotaUsage>> quotas;
    for (const auto& v : untagged_of(*r, "QUOTA"))
      if (v.size() >= 2) quotas[v[0].text] = parse_quota_list(v[1]);
    bool any = false;
    for (const auto& v : untagged_of(*r, "QUOTAROOT"))
      for (size_t i = 1; i < v.size(); ++i) {
        printf("%s%s\n", v[i].text.c_str(), quota_line(quotas[v[i].text]).c_str());
        any = true;
      }
    if (!any) printf("%s: no quota root\n", c.mailbox.c_str());
    return 0;
  }

  int get_metadata(const AdmCommand& c) {
    auto r = send(c, Command("GETMETADATA").raw(" (DEPTH infinity)").string(c.mailbox)
                         .raw(" (\"/shared\" \"/private\")"));
    if (!r) return 1;
    for (const auto& v : untagged_of(*r, "METADATA")) {
      if (v.size() < 2 || v[1].kind != ImapValue::Kind::List) continue;
      const auto& kv = v[1].items;
      std::string where = v[0].text.empty() ? "server" : v[0].text;
      for (size_t i = 0; i + 1 < kv.size(); i += 2)
        printf("{%s}:\n  %s: %s\n", where.c_str(), kv[i].text.c_str(), value_text(kv[i + 1]).c_str());
    }
    return 0;
  }

  AdmArgs args_;
  std::unique_ptr<ImapClient> client_;
  std::vector<std::string> history_;
};

bool read_line(FILE* in, std::string& line) {
  line.clear();
  int ch;
  while ((ch = fgetc(in)) != EOF) {
    if (ch == '\n') return true;
    // Bounded: the parser refuses anything over 64 KiB anyway; stop
    // collecting a little past that.
    if (line.size() <= 70000) line.push_back(static_cast<char>(ch));
  }
  return !line.empty();
}

}  // namespace

int adm_main(int argc, char** argv) {
  AdmArgs args;
  if (!parse_args(argc, argv, args)) {
    fputs(kUsage, stderr);
    return adm::kExUsage;
  }
  if (!args.conf_path.empty()) {
    // The configuration names the admins: the first is the default user.
    std::vector<config::Diagnostic> diags;
    auto conf = config::ImapdConf::load(args.conf_path, &diags);
    if (!conf.ok()) {
      fprintf(stderr, "cyr_adm: cannot load %s: %s\n", args.conf_path.c_str(),
              conf.error().describe().c_str());
      return adm::kExConfig;
    }
    auto admins = conf->get_list("admins");
    if (args.cred.user.empty() && !admins.empty()) args.cred.user = admins[0];
  }
  if (!args.password_file.empty()) {
    std::ifstream f(args.password_file);
    if (!f) {
      fprintf(stderr, "cyr_adm: cannot read %s\n", args.password_file.c_str());
      return adm::kExNoInput;
    }
  }

  FILE* in = stdin;
  if (!args.script.empty()) {
    in = fopen(args.script.c_str(), "r");
    if (!in) {
      fprintf(stderr, "cyr_adm: cannot open %s: %s\n", args.script.c_str(), strerror(errno));
      return adm::kExNoInput;
    }
  }
  bool interactive = args.script.empty() && isatty(STDIN_FILENO);
  const std::string source = args.script.empty() ? "stdin" : args.script;

  bool have_host = args.have_host;
  AdmShell shell(args);
  if (have_host && !shell.connect(true)) return adm::kExTempFail;

  int status = 0;
  std::string line;
  size_t lineno = 0;
  for (;;) {
    if (interactive) {
      fputs(shell.prompt().c_str(), stdout);
      fflush(stdout);
    }
    if (!read_line(in, line)) break;
    ++lineno;
    auto parsed = adm::parse_adm_line(line);
    if (parsed.ok() && !parsed->has_value()) continue;
    if (interactive) shell.remember(line);
    int rc = 0;
    if (!parsed.ok()) {
      if (interactive) fprintf(stderr, "%s\n", parsed.error().user_message.c_str());
      else fprintf(stderr, "%s:%zu: %s\n", source.c_str(), lineno, parsed.error().user_message.c_str());
      rc = 1;
    } else {
      const AdmCommand& cmd = **parsed;
      if (cmd.op == AdmOp::Quit) {
        if (cmd.exit_code) status = cmd.exit_code;
        break;
      }
      rc = shell.run(cmd);
      if (rc && !interactive)
        fprintf(stderr, "%s:%zu: failed: %s\n", source.c_str(), lineno, line.c_str());
    }
    fflush(stdout);
    if (rc && !interactive) {
      status = 1;
      if (!args.keep_going) break;
    }
  }
  if (interactive) fputc('\n', stdout);
  shell.close();
  if (in != stdin) fclose(in);
  return status;
}

}  // namespace cyr::ops
