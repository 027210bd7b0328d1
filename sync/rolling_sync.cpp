// Rolling replication cycle. See rolling_sync.h.
#include "sync/rolling_sync.h"

#include <functional>
#include <map>

#include "store/base/log.h"
#include "sync/sync_log.h"

namespace cyr::sync {

RollingPlan plan_rolling_cycle(const std::vector<store::ChangeRecord>& changes) {
  RollingPlan p;
  std::set<std::string> unmailbox_set;
  auto owner = [](const std::string& mbox) { return mailbox_owner(mbox); };
  for (const auto& c : changes) {
    switch (c.kind) {
      case store::ChangeKind::User:
        if (!c.arg1.empty()) p.users.insert(c.arg1);
        break;
      case store::ChangeKind::Mailbox:
      case store::ChangeKind::Append:
      case store::ChangeKind::Annotation:
        if (!c.arg1.empty()) p.mailboxes.insert(c.arg1);
        break;
      case store::ChangeKind::Rename: {
        std::string o = owner(c.arg1), n = owner(c.arg2);
        if (!o.empty()) p.users.insert(o);
        if (!n.empty()) p.users.insert(n);
        // A shared mailbox: the new name is synced; the old one is removed
        // below if it no longer exists here.
        if (o.empty()) unmailbox_set.insert(c.arg1);
        if (n.empty()) p.mailboxes.insert(c.arg2);
        break;
      }
      case store::ChangeKind::Unmailbox:
        unmailbox_set.insert(c.arg1);
        break;
      case store::ChangeKind::Seen:
      case store::ChangeKind::Sub:
      case store::ChangeKind::Sieve:
        if (!c.arg1.empty()) p.metas.insert(c.arg1);
        break;
      case store::ChangeKind::Quota: {
        std::string o = owner(c.arg1);
        if (!o.empty()) p.metas.insert(o);
        break;
      }
    }
  }
  for (auto it = p.mailboxes.begin(); it != p.mailboxes.end();) {
    std::string o = owner(*it);
    if (!o.empty() && p.users.count(o)) it = p.mailboxes.erase(it);
    else ++it;
  }
  for (auto& u : p.users) p.metas.erase(u);
  // Children before parents, so a parent's delete does not race its children.
  p.unmailboxes.assign(unmailbox_set.rbegin(), unmailbox_set.rend());
  return p;
}

std::set<std::string> rolling_keys(const store::ChangeRecord& c) {
  switch (c.kind) {
    case store::ChangeKind::User:
    case store::ChangeKind::Seen:
    case store::ChangeKind::Sub:
    case store::ChangeKind::Sieve:
      return {c.arg1};
    case store::ChangeKind::Rename:
      return {mailbox_owner(c.arg1), mailbox_owner(c.arg2)};
    default:
      return {mailbox_owner(c.arg1)};
  }
}

std::vector<RollingUnit> split_rolling_units(const std::vector<store::ChangeRecord>& changes) {
  // Union-find over keys: a cross-owner RENAME joins its two owners.
  std::map<std::string, std::string> parent;
  std::function<std::string(const std::string&)> find = [&](const std::string& k) -> std::string {
    auto it = parent.find(k);
    if (it == parent.end()) {
      parent[k] = k;
      return k;
    }
    if (it->second == k) return k;
    std::string root = find(it->second);
    parent[k] = root;
    return root;
  };
  std::vector<std::set<std::string>> keys;
  keys.reserve(changes.size());
  for (const auto& c : changes) {
    keys.push_back(rolling_keys(c));
    const std::string first = find(*keys.back().begin());
    for (const auto& k : keys.back()) {
      std::string r = find(k);
      if (r != first) parent[r] = first;
    }
  }
  std::vector<RollingUnit> units;
  std::map<std::string, size_t> unit_of_root;
  for (size_t i = 0; i < changes.size(); ++i) {
    std::string root = find(*keys[i].begin());
    auto [it, fresh] = unit_of_root.try_emplace(root, units.size());
    if (fresh) units.emplace_back();
    RollingUnit& u = units[it->second];
    u.keys.insert(keys[i].begin(), keys[i].end());
    u.records.push_back(changes[i]);
  }
  return units;
}

std::vector<std::string> run_rolling_unit(store::Store& local, SyncClient& client, const RollingPlan& in,
                                          size_t& actions) {
  RollingPlan plan = in;
  std::vector<std::string> failures;
  auto fail = [&](const std::string& what, const Status& st) {
    failures.push_back(what + ": " + st.error().user_message);
    CYR_LOG(Warning, "sync", "rolling: %s failed: %s", what.c_str(), st.error().describe().c_str());
  };
  for (auto& name : plan.unmailboxes) {
    if (local.lookup(name).ok()) {
      plan.mailboxes.insert(name);  // re-created since: sync it instead
      continue;
    }
    Status st = client.unmailbox(name);
    ++actions;
    if (!st.ok()) fail("UNMAILBOX " + name, st);
  }
  // All mailboxes of the round in one go first (one GET MAILBOXES for the
  // lot, not one round trip each: in sync_mode clients wait for the round).
  // If that fails, one at a time, so one failing mailbox (locked, huge, in
  // conflict) is promoted alone to a sync of its owner; mailboxes already
  // applied then compare equal and cost one round trip.
  bool all_done = false;
  if (plan.mailboxes.size() > 1) {
    Status st = client.sync_mailboxes(std::vector<std::string>(plan.mailboxes.begin(), plan.mailboxes.end()));
    if (st.ok()) {
      actions += plan.mailboxes.size();
      all_done = true;
    } else {
      CYR_LOG(Info, "sync", "rolling: %zu mailboxes together: %s; one at a time", plan.mailboxes.size(),
              st.error().user_message.c_str());
    }
  }
  for (auto& name : plan.mailboxes) {
    if (all_done) break;
    Status st = client.sync_mailboxes({name});
    ++actions;
    if (st.ok()) continue;
    std::string o = mailbox_owner(name);
    if (!o.empty()) {
      CYR_LOG(Info, "sync", "rolling: %s: %s; promoting to a sync of user %s", name.c_str(),
              st.error().user_message.c_str(), o.c_str());
      plan.users.insert(o);
      plan.metas.erase(o);
    } else {
      fail("MAILBOX " + name, st);
    }
  }
  for (auto& u : plan.users) {
    Status st = client.sync_user(u);
    ++actions;
    if (!st.ok()) fail("USER " + u, st);
  }
  for (auto& u : plan.metas) {
    Status st = client.sync_meta(u);
    ++actions;
    if (!st.ok()) fail("META " + u, st);
  }
  (void)client.restart();
  return failures;
}

Result<RollingCycleResult> run_rolling_cycle(store::Store& local, SyncClient& client, size_t max_changes,
                                             const std::function<void(const std::vector<uint64_t>&)>& replicated) {
  auto batch = local.read_changes(max_changes);
  if (!batch.ok()) return batch.take_error();
  RollingCycleResult res;
  for (auto& unit : split_rolling_units(batch->records)) {
    // A Seen change names the mailbox's uniqueid: the user's meta sync then
    // also sends seen state on a folder the user does not own.
    for (auto& c : unit.records)
      if (c.kind == store::ChangeKind::Seen) client.add_seen_hint(c.arg1, c.arg2);
    auto failures = run_rolling_unit(local, client, plan_rolling_cycle(unit.records), res.actions);
    if (!failures.empty()) {
      // Replayed next cycle; the other owners' units are acknowledged.
      res.failures.insert(res.failures.end(), failures.begin(), failures.end());
      continue;
    }
    if (replicated) {
      std::vector<uint64_t> seqs;
      for (auto& r : unit.records) seqs.push_back(r.seq);
      replicated(seqs);
    }
    store::ChangeBatch done{std::move(unit.records)};
    CYR_TRY(local.ack_changes(done));
    res.changes += done.records.size();
  }
  return res;
}

}  // namespace cyr::sync
