// conf-lint: the checks on a configuration that need more than one line of
// imapd.conf to decide. Parsing already reports (as Diagnostics) badly typed
// values, unknown, deprecated, obsolete and unsupported options, duplicate
// keys and syntax errors; lint_config adds:
//   - service overrides ("<prefix>_<option>") whose prefix is neither a
//     SERVICES entry of cyrus.conf nor, for sync_* options, a channel of
//     sync_log_channels: such an override applies to nothing (Warning);
//   - what Paths::from_config requires: configdirectory, a partition, a
//     defaultpartition that exists, absolute paths (Error).
// Stateless functions; thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "store/config/cyrus_conf.h"
#include "store/config/imapd_conf.h"

namespace cyr::config {

// cyrus may be null (no cyrus.conf): the override prefixes are then not checked.
std::vector<Diagnostic> lint_config(const ImapdConf& conf, const CyrusConf* cyrus);

// The default of an option as it applies to this configuration: its table
// default with a leading "{configdirectory}" expanded.
std::string effective_default(const ImapdConf& conf, const OptionSpec& spec);

// Whether an imapd.conf key holds a secret (sync_password, failover_secret,
// sql_passwd, any "*_password", "*_passwd" or "*_secret", with or without a
// service or channel prefix): its value is never printed or logged.
bool is_secret_option(std::string_view key);
// `value` as it may be shown for `key`: "<hidden>" for a set secret, the
// value itself otherwise (an unset secret shows as empty, so that an admin
// still sees whether it is set).
std::string shown_value(std::string_view key, std::string value);

}  // namespace cyr::config
