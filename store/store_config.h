// The StoreOptions that imapd.conf describes: configdirectory, partitions,
// defaultpartition, singleinstancestore, expunge_mode, defaultacl and
// maxmessagesize. One function, so the daemon, the ops commands and the tests
// open a store from a configuration the same way.
#pragma once

#include <string_view>

#include "store/base/result.h"
#include "store/mail/mboxname.h"
#include "store/store.h"

namespace cyr::config {
class ImapdConf;
}

namespace cyr::store {

Result<StoreOptions> options_from_config(const config::ImapdConf& conf);

// How a service's clients (and its users' Sieve scripts) name mailboxes:
// altnamespace, unixhierarchysep, virtdomains, userprefix, sharedprefix.
mail::NamespaceOptions namespace_options_from_config(const config::ImapdConf& conf, std::string_view service);

}  // namespace cyr::store
