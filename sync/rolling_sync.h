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
// Work is split by owner (split_rolling_units): all records of one user,
// or of the shared hierarchy, form one unit that succeeds or fails (and is
// acknowledged) on its own, so one locked, huge or conflicting mailbox
// holds back only its owner (Cyrus issue #1922); RollingReplicator runs
// units of different owners on parallel streams.
//
// Pure coalescing (plan_rolling_cycle, split_rolling_units) is separate
// from execution (run_rolling_unit, run_rolling_cycle). Thread-safety: as
// the Store and SyncClient used.
#pragma once

#include <cstdint>
#include <functional>
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

// The records of one owner (or of several, when a rename crosses owners),
// and the plan they coalesce to. Units of different keys may replicate
// concurrently; two units sharing a key must not.
struct RollingUnit {
  std::set<std::string> keys;  // owner userids; "" = the shared hierarchy
  std::vector<store::ChangeRecord> records;  // ordered by seq
};

// The key a record belongs to ("" for shared mailboxes): a RENAME between
// two owners has both.
std::set<std::string> rolling_keys(const store::ChangeRecord& c);
// Groups records into units: records whose keys overlap (transitively) end
// in the same unit. Units are ordered by their first record.
std::vector<RollingUnit> split_rolling_units(const std::vector<store::ChangeRecord>& changes);

struct RollingCycleResult {
  size_t changes = 0;   // change records consumed (acknowledged)
  size_t actions = 0;   // users + mailboxes + metas + unmailboxes replicated
  std::vector<std::string> failures;  // one line per failed item; nothing acknowledged then
};

// Replicates one unit's plan with `client` (then RESTART). Returns the
// failures (empty: every action succeeded); `actions` counts what was done.
std::vector<std::string> run_rolling_unit(store::Store& local, SyncClient& client, const RollingPlan& plan,
                                          size_t& actions);

// Reads up to max_changes records and replicates them unit by unit on one
// client, acknowledging each unit that fully succeeded. Fails only when the
// change log cannot be read or acknowledged; failures are listed in the
// result (and the failed units' records stay for next time). `replicated`,
// if set, gets each successful unit's seqs before they are acknowledged.
Result<RollingCycleResult> run_rolling_cycle(
    store::Store& local, SyncClient& client, size_t max_changes = 100000,
    const std::function<void(const std::vector<uint64_t>&)>& replicated = {});

}  // namespace cyr::sync
