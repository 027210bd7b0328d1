// Runs failover_hook on a role change: the program gets the new role, the
// epoch, the peer and the reason as arguments (and as CYRUS_FAILOVER_ROLE,
// _EPOCH, _PEER, _REASON in its environment), e.g. to move a service address
// or update DNS. It runs detached from the controller (a slow hook must not
// delay heartbeats), is killed after kHookTimeout, and its exit is logged.
#pragma once

#include <chrono>
#include <string>

#include "failover/controller.h"

namespace cyr::failover {

inline constexpr std::chrono::seconds kHookTimeout{60};

// Returns a HookRunner for `program` ("" = none: logs only).
HookRunner make_hook_runner(std::string program);

}  // namespace cyr::failover
