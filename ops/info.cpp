// cyr_info: show the configuration as the server reads it.
//
//   cyr_info [-C imapd.conf] [-M cyrus.conf] [-n service] command
//     conf-lint     problems: syntax, badly typed values, unknown, deprecated,
//                   obsolete and unsupported options, overrides for services
//                   cyrus.conf does not have, missing required options
//     conf-all      every option with the value in force
//     conf          only the options whose value differs from the default
//     conf-default  every option's default
//     sync-status   replication status: the rolling sender's status file(s)
//                   and, as a replica, the count of refused items
//
// Exit status: 0 on success (conf-lint: also when it lists only warnings,
// as Cyrus's cyr_info exits 0 after listing unknown keys); 78 (EX_CONFIG)
// when a file cannot be used (Cyrus stops with EX_CONFIG on the same
// errors); 66 (EX_NOINPUT) when a file cannot be read; 64 (EX_USAGE) on bad
// usage.
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include "ops/commands.h"
#include "store/config/cyrus_conf.h"
#include "store/config/imapd_conf.h"
#include "store/config/lint.h"
#include "store/config/paths.h"
#include "sync/apply_refusals.h"

namespace cyr::ops {
namespace {

using config::Diagnostic;
using config::ImapdConf;
using config::OptionSpec;
using config::OptionStatus;

constexpr int kExUsage = 64;
constexpr int kExNoInput = 66;
constexpr int kExConfig = 78;

struct InfoArgs {
  std::string imapd_conf = "/etc/imapd.conf";
  std::string cyrus_conf = "/etc/cyrus.conf";
  std::string service;
  std::string command;
};

int usage() {
  fprintf(stderr,
          "usage: cyr_info [-C imapd.conf] [-M cyrus.conf] [-n service] command\n"
          "  -C file     imapd.conf to read (default /etc/imapd.conf)\n"
          "  -M file     cyrus.conf to read (default /etc/cyrus.conf; conf-lint only)\n"
          "  -n service  show values as that service sees them (its overrides applied)\n"
          "commands:\n"
          "  conf-lint     list problems: badly typed, unknown, deprecated and unsupported\n"
          "                options, overrides for services not in cyrus.conf\n"
          "  conf-all      every option with its value in force\n"
          "  conf          options whose value differs from the default\n"
          "  conf-default  every option's default\n"
          "  sync-status   replication: the rolling sender's status, the replica's refused items\n");
  return kExUsage;
}

// Returns false on bad usage.
bool parse_args(int argc, char** argv, InfoArgs* a) {
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    std::string* dst = nullptr;
    if (arg.starts_with("-C")) dst = &a->imapd_conf;
    else if (arg.starts_with("-M")) dst = &a->cyrus_conf;
    else if (arg.starts_with("-n")) dst = &a->service;
    if (dst) {
      if (arg.size() > 2) {
        *dst = std::string(arg.substr(2));
      } else {
        if (i + 1 >= argc) return false;
        *dst = argv[++i];
      }
      continue;
    }
    if (arg.starts_with("-") || !a->command.empty()) return false;
    a->command = std::string(arg);
  }
  return !a->command.empty();
}

// Deprecated and obsolete options are not listed: a deprecated option's
// value shows under its replacement, an obsolete one has none.
bool listed(const OptionSpec& spec) {
  return spec.status != OptionStatus::Deprecated && spec.status != OptionStatus::Obsolete;
}

void print_diags(FILE* out, std::vector<Diagnostic> diags) {
  std::stable_sort(diags.begin(), diags.end(), [](const Diagnostic& a, const Diagnostic& b) {
    if (a.file != b.file) return a.file < b.file;
    return a.line < b.line;
  });
  for (const auto& d : diags) fprintf(out, "%s\n", d.to_string().c_str());
}

bool any_error(const std::vector<Diagnostic>& diags) {
  return std::any_of(diags.begin(), diags.end(),
                     [](const Diagnostic& d) { return d.severity == Diagnostic::Severity::Error; });
}

int conf_default() {
  for (const auto& spec : config::all_options()) {
    if (!listed(spec)) continue;
    printf("%.*s: %.*s\n", static_cast<int>(spec.name.size()), spec.name.data(),
           static_cast<int>(spec.default_value.size()), spec.default_value.data());
  }
  return 0;
}

int conf_values(const InfoArgs& a, bool only_changed) {
  std::vector<Diagnostic> diags;
  auto conf = ImapdConf::load_lenient(a.imapd_conf, &diags);
  if (!conf.ok()) {
    fprintf(stderr, "cyr_info: %s (%s)\n", conf.error().user_message.c_str(),
            conf.error().detail.c_str());
    return kExNoInput;
  }
  if (any_error(diags)) {
    // The daemon would refuse this file; show why rather than values it would never use.
    print_diags(stderr, diags);
    return kExConfig;
  }
  for (const auto& spec : config::all_options()) {
    if (!listed(spec)) continue;
    std::string value = config::canonical_value(spec, conf->effective_raw(spec, a.service));
    if (only_changed &&
        value == config::canonical_value(spec, config::effective_default(*conf, spec)))
      continue;
    value = config::shown_value(spec.name, std::move(value));
    printf("%.*s: %s\n", static_cast<int>(spec.name.size()), spec.name.data(), value.c_str());
  }
  for (const auto& [name, path] : conf->partitions())
    printf("partition-%s: %s\n", name.c_str(), path.c_str());
  for (const auto& [name, path] : conf->metapartitions())
    printf("metapartition-%s: %s\n", name.c_str(), path.c_str());
  return 0;
}

int conf_lint(const InfoArgs& a) {
  std::vector<Diagnostic> diags;
  auto conf = ImapdConf::load_lenient(a.imapd_conf, &diags);
  if (!conf.ok()) {
    fprintf(stderr, "cyr_info: %s (%s)\n", conf.error().user_message.c_str(),
            conf.error().detail.c_str());
    return kExNoInput;
  }
  // cyrus.conf names the services, so that service overrides can be checked.
  auto cyrus = config::CyrusConf::load(a.cyrus_conf, &diags);
  if (!cyrus.ok() && cyrus.error().code != Errc::Invalid) {
    // Unreadable (its syntax errors are already among the diagnostics).
    diags.push_back({Diagnostic::Severity::Error, a.cyrus_conf, 0, {},
                     cyrus.error().user_message + " (" + cyrus.error().detail + ")"});
  }
  auto more = config::lint_config(*conf, cyrus.ok() ? &*cyrus : nullptr);
  diags.insert(diags.end(), more.begin(), more.end());
  print_diags(stdout, diags);
  return any_error(diags) ? kExConfig : 0;
}

// The sender's status files ({sync_log_dir}/status, one per channel in
// {sync_log_dir}/<channel>/status) as they are, then the receiving side's
// refused-items count. Each line is prefixed with where it came from.
int sync_status(const InfoArgs& a) {
  std::vector<Diagnostic> diags;
  auto conf = ImapdConf::load_lenient(a.imapd_conf, &diags);
  if (!conf.ok()) {
    fprintf(stderr, "cyr_info: %s (%s)\n", conf.error().user_message.c_str(), conf.error().detail.c_str());
    return kExNoInput;
  }
  auto paths = config::Paths::from_config(*conf);
  if (!paths.ok()) {
    fprintf(stderr, "cyr_info: %s (%s)\n", paths.error().user_message.c_str(), paths.error().detail.c_str());
    return kExConfig;
  }
  std::vector<std::filesystem::path> senders{paths->sync_log_dir / "status"};
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator(paths->sync_log_dir, ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    if (it->is_directory() && std::filesystem::exists(it->path() / "status")) senders.push_back(it->path() / "status");
  }
  std::sort(senders.begin() + 1, senders.end());
  for (const auto& f : senders) {
    std::ifstream in(f);
    if (!in) continue;
    std::string line;
    // The sender writes a handful of short lines; a bound keeps a damaged
    // file from flooding the terminal.
    for (int n = 0; n < 1000 && std::getline(in, line); ++n)
      printf("sender %s: %s\n", f.parent_path().filename().c_str(), line.c_str());
  }
  auto refused = sync::read_refusal_status(sync::refusal_status_file(paths->sync_log_dir));
  if (!refused.ok()) {
    fprintf(stderr, "cyr_info: %s (%s)\n", refused.error().user_message.c_str(), refused.error().detail.c_str());
    return kExConfig;
  }
  printf("replica refused_items: %llu\n", static_cast<unsigned long long>(refused->refused));
  if (!refused->last.empty()) printf("replica last_refused: %s\n", refused->last.c_str());
  return 0;
}

}  // namespace

int info_main(int argc, char** argv) {
  InfoArgs a;
  if (!parse_args(argc, argv, &a)) return usage();
  if (a.command == "conf-default") return conf_default();
  if (a.command == "conf-all") return conf_values(a, false);
  if (a.command == "conf") return conf_values(a, true);
  if (a.command == "conf-lint") return conf_lint(a);
  if (a.command == "sync-status") return sync_status(a);
  fprintf(stderr, "cyr_info: unknown command '%s'\n", a.command.c_str());
  return usage();
}

}  // namespace cyr::ops
