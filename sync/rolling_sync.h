// Rolling replication: one cycle turns the store's unacknowledged change
// records (the store's equivalent of Cyrus's sync log, reference §7) into as
// few replication actions as possible and acknowledges them only when every
// action succeeded, so a crash or a failed cycle replays them next time.
//
// Coalescing (as Cyrus's sync_client -r does): many changes to one mailbox
// become one mailbox sync; USER and RENAME become one user sync per owner
// (renames are matched by uniqueid there); SEEN, SUB and QUOTA become a META
// sync unless the user is synced anyway; UNMAILBOX of a name that no longer
// exists here deletes it on the replica. A failed mailbox sync is promoted
// to a sync of its owner.
//
// Pure coalescing (plan_rolling_cycle) is separate from execution
// (run_rolling_cycle). Thread-safety: as the Store and SyncClient used.
#pragma once

#include <set>
#include <string>
#include <vector>

#include "store/store.h"
#include "sync/sync_client.h"

namespace cyr::sync {

struct RollingPlan {
  std::vector<std::string> unmailboxes;  // delete on the replica
  std::set<std::string> users;           // full user syncs
  std::set<std::string> mailboxes;       // mailbox syncs (owner not in users)
  std::set<std::string> metas;           // seen/subscriptions/quota only
};

RollingPlan plan_rolling_cycle(const std::vector<store::ChangeRecord>& changes);

struct RollingCycleResult {
  size_t changes = 0;   // change records consumed (acknowledged)
  size_t actions = 0;   // users + mailboxes + metas + unmailboxes replicated
  std::vector<std::string> failures;  // one line per failed item; nothing acknowledged then
};

// Reads up to max_changes records, replicates, acknowledges on success.
// Fails only when the change log cannot be read or acknowledged; per-item
// failures are listed in the result (and the records stay for next time).
Result<RollingCycleResult> run_rolling_cycle(store::Store& local, SyncClient& client, size_t max_changes = 100000);

}  // namespace cyr::sync
