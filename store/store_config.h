// The StoreOptions that imapd.conf describes: configdirectory, partitions,
// defaultpartition, singleinstancestore, expunge_mode, defaultacl and
// maxmessagesize. One function, so the daemon, the ops commands and the tests
// open a store from a configuration the same way.
#pragma once

#include "store/base/result.h"
#include "store/store.h"

namespace cyr::config {
class ImapdConf;
}

namespace cyr::store {

Result<StoreOptions> options_from_config(const config::ImapdConf& conf);

}  // namespace cyr::store
