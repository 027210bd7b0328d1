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

#include <vector>

#include "store/config/cyrus_conf.h"
#include "store/config/imapd_conf.h"

namespace cyr::config {

// cyrus may be null (no cyrus.conf): the override prefixes are then not checked.
std::vector<Diagnostic> lint_config(const ImapdConf& conf, const CyrusConf* cyrus);

// The default of an option as it applies to this configuration: its table
// default with a leading "{configdirectory}" expanded.
std::string effective_default(const ImapdConf& conf, const OptionSpec& spec);

}  // namespace cyr::config
