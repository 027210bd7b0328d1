// Rolling replication cycle. See rolling_sync.h.
#include "sync/rolling_sync.h"

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

Result<RollingCycleResult> run_rolling_cycle(store::Store& local, SyncClient& client, size_t max_changes) {
  auto batch = local.read_changes(max_changes);
  if (!batch.ok()) return batch.take_error();
  RollingCycleResult res;
  if (batch->records.empty()) return res;
  RollingPlan plan = plan_rolling_cycle(batch->records);
  auto fail = [&](const std::string& what, const Status& st) {
    res.failures.push_back(what + ": " + st.error().user_message);
    CYR_LOG(Warning, "sync", "rolling: %s failed: %s", what.c_str(), st.error().describe().c_str());
  };
  for (auto& name : plan.unmailboxes) {
    if (local.lookup(name).ok()) {
      plan.mailboxes.insert(name);  // re-created since: sync it instead
      continue;
    }
    Status st = client.unmailbox(name);
    ++res.actions;
    if (!st.ok()) fail("UNMAILBOX " + name, st);
  }
  // Mailboxes first, one at a time, so one failing mailbox (locked, huge,
  // in conflict) is promoted alone and does not hold up the rest.
  for (auto& name : plan.mailboxes) {
    Status st = client.sync_mailboxes({name});
    ++res.actions;
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
    ++res.actions;
    if (!st.ok()) fail("USER " + u, st);
  }
  for (auto& u : plan.metas) {
    Status st = client.sync_meta(u);
    ++res.actions;
    if (!st.ok()) fail("META " + u, st);
  }
  (void)client.restart();
  if (!res.failures.empty()) return res;  // replayed next cycle
  auto ack = local.ack_changes(*batch);
  if (!ack.ok()) return ack.take_error();
  res.changes = batch->records.size();
  return res;
}

}  // namespace cyr::sync
