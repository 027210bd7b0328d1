#include "ops/adm/runbook_args.h"

#include "ops/adm/housekeeping.h"
#include "store/store.h"
#include "store/user_deny_db.h"

namespace cyr::ops::adm {
namespace {

Error usage_error(std::string what) { return Error(Errc::Invalid, std::move(what)); }

// "--name=value" -> value when `arg` is that long option; nullopt otherwise.
std::optional<std::string_view> long_value(std::string_view arg, std::string_view name) {
  if (arg.size() > name.size() + 1 && arg.starts_with(name) && arg[name.size()] == '=')
    return arg.substr(name.size() + 1);
  return std::nullopt;
}

// A user id as the change log and the deny list take it (the daemons'
// own check, auth::validate_userid, also wants valid UTF-8; a name that
// fails it can never log in, so a record for it is harmless).
Status check_userid(std::string_view u) {
  if (u.empty()) return usage_error("empty user name");
  if (u.size() > 255) return usage_error("user name longer than 255 bytes");
  for (unsigned char c : u)
    if (c <= 0x20 || c == 0x7F) return usage_error("user name contains a space or control character");
  return {};
}

Status check_mailbox(std::string_view name) {
  if (auto st = store::validate_mailbox_name(name); !st)
    return usage_error("bad mailbox name \"" + std::string(name.substr(0, 200)) + "\": " +
                       st.error().user_message + " (internal names: user.fred.Sent, shared.news)");
  return {};
}

}  // namespace

std::vector<std::string_view> arg_views(int argc, char** argv) {
  std::vector<std::string_view> out;
  for (int i = 1; i < argc; ++i) out.emplace_back(argv[i]);
  return out;
}

// --- cyr_deny -----------------------------------------------------------------

Result<DenyArgs> parse_deny_args(const std::vector<std::string_view>& args) {
  DenyArgs a;
  bool allow = false, list = false, have_services = false, have_message = false;
  std::vector<std::string_view> users;
  for (size_t i = 0; i < args.size(); ++i) {
    std::string_view s = args[i];
    auto value = [&](std::string& out) -> Status {
      if (i + 1 >= args.size()) return usage_error(std::string(s) + " needs a value");
      out = std::string(args[++i]);
      return {};
    };
    if (s == "-C") CYR_TRY(value(a.conf_path));
    else if (s == "-a" || s == "--allow") allow = true;
    else if (s == "-l" || s == "--list") list = true;
    else if (s == "-s" || s == "--services") { CYR_TRY(value(a.services)); have_services = true; }
    else if (s == "-m" || s == "--message") { CYR_TRY(value(a.message)); have_message = true; }
    else if (auto v = long_value(s, "--services")) { a.services = std::string(*v); have_services = true; }
    else if (auto v = long_value(s, "--message")) { a.message = std::string(*v); have_message = true; }
    else if (s == "--") { users.insert(users.end(), args.begin() + static_cast<long>(i) + 1, args.end()); break; }
    else if (!s.empty() && s[0] == '-') return usage_error("unknown option " + std::string(s));
    else users.push_back(s);
  }
  if (allow && list) return usage_error("-a and -l exclude each other");
  if ((allow || list) && (have_services || have_message))
    return usage_error("-s and -m only go with denying a user");
  if (have_services && a.services.empty()) return usage_error("-s needs a non-empty service list");
  a.mode = list ? DenyMode::List : allow ? DenyMode::Allow : DenyMode::Deny;
  if (list) {
    if (!users.empty()) return usage_error("-l takes no user");
    return a;
  }
  if (users.size() != 1) return usage_error(users.empty() ? "no user given" : "one user at a time");
  a.user = std::string(users[0]);
  if (auto st = store::validate_deny_entry(a.user, a.services, a.message); !st)
    return usage_error(st.error().user_message);
  return a;
}

// --- cyr_synclog --------------------------------------------------------------

Result<SynclogArgs> parse_synclog_args(const std::vector<std::string_view>& args) {
  using T = sync::SyncLogType;
  SynclogArgs a;
  std::optional<sync::SyncLogEvent> event;
  auto set = [&](sync::SyncLogEvent e) -> Status {
    if (event) return usage_error("one record at a time");
    event = std::move(e);
    return {};
  };
  for (size_t i = 0; i < args.size(); ++i) {
    std::string_view s = args[i];
    auto need = [&](size_t n) -> Status {
      if (i + n >= args.size())
        return usage_error(std::string(s) + (n == 1 ? " needs a value" : " needs a user and a mailbox"));
      return {};
    };
    // One flag and its record type; the value's kind decides the check.
    struct Flag {
      std::string_view short_name, long_name;
      T type;
      bool is_user;  // the value is a user id, else a mailbox (or quota root)
    };
    static constexpr Flag kOneValue[] = {
        {"-u", "--user", T::User, true},         {"-v", "--sieve", T::Sieve, true},
        {"-m", "--mailbox", T::Mailbox, false},  {"-M", "--unmailbox", T::Unmailbox, false},
        {"-a", "--append", T::Append, false},    {"-c", "--acl", T::Mailbox, false},
        {"-q", "--quota", T::Quota, false},      {"-n", "--annotation", T::Annotation, false},
    };
    if (s == "-C") {
      CYR_TRY(need(1));
      a.conf_path = std::string(args[++i]);
      continue;
    }
    if (s == "-U" || s == "--unuser")
      return usage_error("UNUSER records are not kept in this server's change log; "
                         "use cyr_sync_client -u USER to remove a user the primary no longer has");
    const Flag* flag = nullptr;
    for (const auto& f : kOneValue)
      if (s == f.short_name || s == f.long_name) flag = &f;
    if (flag) {
      CYR_TRY(need(1));
      std::string_view v = args[++i];
      // ANNOTATION "" is the server's annotations, as in the log itself.
      if (flag->is_user) CYR_TRY(check_userid(v));
      else if (!(flag->type == T::Annotation && v.empty())) CYR_TRY(check_mailbox(v));
      CYR_TRY(set(sync::SyncLogEvent{flag->type, std::string(v), ""}));
      continue;
    }
    if (s == "-s" || s == "--seen" || s == "-b" || s == "--subscription") {
      CYR_TRY(need(2));
      std::string_view user = args[++i], mailbox = args[++i];
      CYR_TRY(check_userid(user));
      CYR_TRY(check_mailbox(mailbox));
      bool seen = s == "-s" || s == "--seen";
      CYR_TRY(set(sync::SyncLogEvent{seen ? T::Seen : T::Sub, std::string(user), std::string(mailbox)}));
      a.seen_by_name = seen;
      continue;
    }
    if (!s.empty() && s[0] == '-') return usage_error("unknown option " + std::string(s));
    // The raw form: one whole log line.
    auto e = sync::parse_sync_log_line(s);
    if (!e.ok()) return usage_error("not a sync log line: " + e.error().user_message);
    if (e->type == T::Unuser)
      return usage_error("UNUSER records are not kept in this server's change log; "
                         "use cyr_sync_client -u USER to remove a user the primary no longer has");
    CYR_TRY(set(std::move(*e)));
  }
  if (!event) return usage_error("no record given");
  a.event = std::move(*event);
  return a;
}

// --- cyr_ctl_deliver ----------------------------------------------------------

Result<CtlDeliverArgs> parse_ctl_deliver_args(const std::vector<std::string_view>& args) {
  CtlDeliverArgs a;
  for (size_t i = 0; i < args.size(); ++i) {
    std::string_view s = args[i];
    auto value = [&]() -> Result<std::string_view> {
      if (i + 1 >= args.size()) return usage_error(std::string(s) + " needs a value");
      return args[++i];
    };
    if (s == "-C") {
      auto v = value();
      if (!v.ok()) return v.take_error();
      a.conf_path = std::string(*v);
    } else if (s == "-f" || s == "--filename") {
      auto v = value();
      if (!v.ok()) return v.take_error();
      a.db_path = std::string(*v);
    } else if (auto v = long_value(s, "--filename")) {
      a.db_path = std::string(*v);
    } else if (s == "-d" || s == "--dump") {
      a.dump = true;
    } else if (s == "-E") {
      auto v = value();
      if (!v.ok()) return v.take_error();
      a.prune_after = parse_duration_days(*v);
      if (!a.prune_after) return usage_error("bad age for -E: \"" + std::string(v->substr(0, 40)) + "\" (days, or a number with d, h, m or s)");
    } else {
      return usage_error("unexpected argument " + std::string(s.substr(0, 80)));
    }
  }
  if (a.dump == a.prune_after.has_value()) return usage_error("give one of -d or -E");
  return a;
}

}  // namespace cyr::ops::adm
