// cyr_deny: deny users access to services, as Cyrus cyr_deny(8).
//   cyr_deny [-C imapd.conf] [-s services] [-m message] user   deny (default: every service)
//   cyr_deny [-C imapd.conf] -a user                           allow again
//   cyr_deny [-C imapd.conf] -l                                list the entries
// The list is store::UserDenyDb at userdeny_db_path (default
// {configdirectory}/user_deny.db). The daemons read it after each
// successful login (auth::Authenticator::check_deny_list), so a change
// applies to the next login without a restart. Sessions already logged in
// are not ended (Cyrus's cyr_deny signals them; see docs/runbook.md).
//
// Per node: the list is not replicated, as in Cyrus. Run it on both nodes
// of a pair (the replica serves the user after a failover).
#include <cstdio>

#include "ops/adm/common.h"
#include "ops/adm/runbook_args.h"
#include "ops/commands.h"
#include "server/auth/authenticator.h"
#include "store/config/paths.h"
#include "store/user_deny_db.h"

namespace cyr::ops {
namespace {

constexpr const char* kDenyUsage =
    "usage: cyr_deny [-C imapd.conf] [-s services] [-m message] user\n"
    "       cyr_deny [-C imapd.conf] -a user\n"
    "       cyr_deny [-C imapd.conf] -l\n"
    "  -s services  comma-separated cyrus.conf service names; '*' and '?' match,\n"
    "               '!' excludes (\"*,!pop3\": all but pop3); default \"*\"\n"
    "  -m message   shown to the user when refused (default: \"Access to this\n"
    "               service has been blocked\")\n"
    "  -a user      allow the user again (remove the entry)\n"
    "  -l           list the entries\n";

}  // namespace

int deny_main(int argc, char** argv) {
  auto args = adm::parse_deny_args(adm::arg_views(argc, argv));
  if (!args.ok()) {
    fprintf(stderr, "cyr_deny: %s\n%s", args.error().user_message.c_str(), kDenyUsage);
    return adm::kExUsage;
  }
  auto conf = config::ImapdConf::load(args->conf_path, nullptr);
  if (!conf.ok()) {
    fprintf(stderr, "cyr_deny: cannot load %s: %s\n", args->conf_path.c_str(), conf.error().describe().c_str());
    return adm::kExConfig;
  }
  auto paths = config::Paths::from_config(*conf);
  if (!paths.ok()) {
    fprintf(stderr, "cyr_deny: bad configuration: %s\n", paths.error().describe().c_str());
    return adm::kExConfig;
  }
  // The form logins take (username_tolower), so that the entry is found.
  std::string user;
  if (args->mode != adm::DenyMode::List) {
    auto canonical = auth::canonicalize_userid(args->user, conf->get_switch("username_tolower"));
    if (!canonical.ok()) {
      fprintf(stderr, "cyr_deny: bad user name \"%s\": %s\n", args->user.c_str(),
              canonical.error().user_message.c_str());
      return adm::kExUsage;
    }
    user = *canonical;
  }

  const auto& path = paths->userdeny_db_path;
  const bool write = args->mode == adm::DenyMode::Deny;
  auto db = store::UserDenyDb::open(path, write ? store::UserDenyDb::Mode::ReadWrite
                                                : store::UserDenyDb::Mode::ReadOnly);
  if (!db.ok()) {
    if (db.error().code == Errc::NotFound) {
      // Nothing was ever denied here: nothing to allow or list.
      if (args->mode == adm::DenyMode::List)
        printf("%-30s %-20s %s\n", "Username", "Service(s)", "Message");
      else
        printf("%s was not denied\n", user.c_str());
      return 0;
    }
    fprintf(stderr, "cyr_deny: cannot open the deny database %s: %s\n", path.c_str(),
            db.error().describe().c_str());
    return adm::kExTempFail;
  }

  switch (args->mode) {
    case adm::DenyMode::Deny: {
      if (auto st = (*db)->deny(user, args->services, args->message); !st) {
        fprintf(stderr, "cyr_deny: failed to deny access for %s: %s\n", user.c_str(),
                st.error().describe().c_str());
        return st.error().code == Errc::Invalid ? adm::kExUsage : 1;
      }
      printf("denied %s access to %s\n", user.c_str(),
             args->services.empty() ? "all services" : args->services.c_str());
      return 0;
    }
    case adm::DenyMode::Allow: {
      auto removed = (*db)->allow(user);
      if (!removed.ok()) {
        fprintf(stderr, "cyr_deny: failed to allow access for %s: %s\n", user.c_str(),
                removed.error().describe().c_str());
        return 1;
      }
      printf(*removed ? "allowed %s again\n" : "%s was not denied\n", user.c_str());
      return 0;
    }
    case adm::DenyMode::List: {
      auto entries = (*db)->list();
      if (!entries.ok()) {
        fprintf(stderr, "cyr_deny: failed to list entries: %s\n", entries.error().describe().c_str());
        return 1;
      }
      // Cyrus's layout: user, services, message in columns.
      printf("%-30s %-20s %s\n", "Username", "Service(s)", "Message");
      for (const auto& e : *entries)
        printf("%-30s %-20s %s\n", e.userid.c_str(), e.services.c_str(), e.message.c_str());
      return 0;
    }
  }
  return 0;
}

}  // namespace cyr::ops
