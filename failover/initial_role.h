// The role a node takes at its first start, from imapd.conf.
//
// failover_role: primary|replica names it. Unset, a node with no
// failover_peer is a standalone primary and a node with a peer starts as a
// replica, so a forgotten setting never makes a second primary. Once a
// failover has recorded an epoch (epoch > 0) the persisted state in the store
// wins and the configuration is no longer consulted: the controller, not the
// config file, decides roles from then on.
#pragma once

#include "store/base/result.h"
#include "store/store.h"

namespace cyr::config {
class ImapdConf;
}

namespace cyr::failover {

// The role imapd.conf asks for at first start.
store::Role configured_role(const config::ImapdConf& conf);

// Applies configured_role() to the store if no failover has happened yet
// (epoch 0) and the role differs. Returns the node's state afterwards.
Result<store::NodeState> apply_initial_role(store::Store& store, const config::ImapdConf& conf);

}  // namespace cyr::failover
