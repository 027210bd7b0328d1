#include "sync/sync_log.h"

#include <algorithm>

namespace cyr::sync {

namespace {

struct TypeName {
  SyncLogType type;
  const char* name;
  int args;
};

constexpr TypeName kTypes[] = {
    {SyncLogType::User, "USER", 1},
    {SyncLogType::Unuser, "UNUSER", 1},
    {SyncLogType::Meta, "META", 1},
    {SyncLogType::Sieve, "SIEVE", 1},
    {SyncLogType::Mailbox, "MAILBOX", 1},
    {SyncLogType::Append, "APPEND", 1},
    {SyncLogType::DoubleMailbox, "DOUBLEMAILBOX", 2},
    {SyncLogType::Rename, "RENAME", 2},
    {SyncLogType::Unmailbox, "UNMAILBOX", 1},
    {SyncLogType::Quota, "QUOTA", 1},
    {SyncLogType::Annotation, "ANNOTATION", 1},
    {SyncLogType::Seen, "SEEN", 2},
    {SyncLogType::Sub, "SUB", 2},
    {SyncLogType::Unsub, "UNSUB", 2},
};

const TypeName& type_info(SyncLogType t) {
  for (const TypeName& n : kTypes)
    if (n.type == t) return n;
  return kTypes[0];  // unreachable: every enumerator is in the table
}

bool needs_quotes(std::string_view s) {
  if (s.empty()) return true;
  for (char c : s) {
    if (c == ' ' || c == '\t' || c == '(' || c == ')' || c == '\\' || c == '"' || c == '{' ||
        c == '}')
      return true;
  }
  return false;
}

Status append_arg(std::string& out, std::string_view arg) {
  for (char c : arg) {
    if (c == '\r' || c == '\n')
      return Error(Errc::Invalid, "sync log: line break in a name", std::string(arg));
  }
  out.push_back(' ');
  if (!needs_quotes(arg)) {
    out.append(arg);
    return {};
  }
  out.push_back('"');
  for (char c : arg) {
    if (c == '\\' || c == '"' || c == '{' || c == '}') out.push_back('\\');
    out.push_back(c);
  }
  out.push_back('"');
  return {};
}

Error bad_line(std::string what) { return Error(Errc::Invalid, "sync log: " + what); }

template <class T>
void add_unique(std::vector<T>& v, T item) {
  if (std::find(v.begin(), v.end(), item) == v.end()) v.push_back(std::move(item));
}

}  // namespace

const char* sync_log_type_name(SyncLogType t) { return type_info(t).name; }

int sync_log_arg_count(SyncLogType t) { return type_info(t).args; }

Result<std::string> format_sync_log_line(const SyncLogEvent& e, const SyncLogLimits& limits) {
  std::string out = sync_log_type_name(e.type);
  CYR_TRY(append_arg(out, e.arg1));
  if (sync_log_arg_count(e.type) == 2) {
    CYR_TRY(append_arg(out, e.arg2));
  } else if (!e.arg2.empty()) {
    return bad_line(std::string(sync_log_type_name(e.type)) + " takes one argument");
  }
  out.push_back('\n');
  if (out.size() > limits.max_line) return bad_line("line too long");
  return out;
}

Result<SyncLogEvent> parse_sync_log_line(std::string_view line, const SyncLogLimits& limits) {
  if (line.size() > limits.max_line) return bad_line("line too long");
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  std::vector<std::string> words;
  size_t i = 0;
  while (i < line.size()) {
    if (line[i] == ' ') {
      ++i;
      continue;
    }
    if (words.size() == 3) return bad_line("too many arguments");
    std::string w;
    if (line[i] == '"') {
      ++i;
      bool closed = false;
      while (i < line.size()) {
        char c = line[i++];
        if (c == '"') {
          closed = true;
          break;
        }
        if (c == '\\') {
          if (i >= line.size()) break;
          c = line[i++];
        }
        w.push_back(c);
      }
      if (!closed) return bad_line("unterminated quoted string");
      if (i < line.size() && line[i] != ' ') return bad_line("text after a quoted string");
    } else {
      while (i < line.size() && line[i] != ' ') w.push_back(line[i++]);
    }
    for (char c : w)
      if (c == '\r' || c == '\n' || c == '\0') return bad_line("control byte in a name");
    words.push_back(std::move(w));
  }
  if (words.empty()) return bad_line("empty line");
  const TypeName* info = nullptr;
  for (const TypeName& n : kTypes)
    if (words[0] == n.name) info = &n;
  if (!info) return bad_line("unknown event type '" + words[0].substr(0, 64) + "'");
  if (static_cast<int>(words.size()) - 1 != info->args) {
    return bad_line(std::string(info->name) + " needs " + std::to_string(info->args) +
                    " argument(s)");
  }
  SyncLogEvent e;
  e.type = info->type;
  e.arg1 = std::move(words[1]);
  if (info->args == 2) e.arg2 = std::move(words[2]);
  return e;
}

Result<SyncLogContents> parse_sync_log(std::string_view content, const SyncLogLimits& limits) {
  SyncLogContents out;
  size_t line_number = 0;
  while (!content.empty()) {
    size_t nl = content.find('\n');
    std::string_view line = content.substr(0, nl);
    content.remove_prefix(nl == std::string_view::npos ? content.size() : nl + 1);
    ++line_number;
    if (line_number > limits.max_events) {
      return Error(Errc::Limit, "sync log: too many lines",
                   "more than " + std::to_string(limits.max_events));
    }
    if (line.empty() || line == "\r") continue;
    auto e = parse_sync_log_line(line, limits);
    if (e.ok()) {
      out.events.push_back(std::move(e.value()));
    } else {
      out.rejected.push_back({line_number, e.error().user_message});
    }
  }
  return out;
}

std::string userid_of_inbox(std::string_view name) {
  std::string domain;
  if (auto bang = name.find('!'); bang != std::string_view::npos) {
    domain = std::string(name.substr(0, bang));
    name.remove_prefix(bang + 1);
  }
  if (!name.starts_with("user.")) return "";
  name.remove_prefix(5);
  if (name.empty() || name.find('.') != std::string_view::npos) return "";
  std::string u;
  for (char c : name) u.push_back(c == '^' ? '.' : c);
  if (!domain.empty()) u += "@" + domain;
  return u;
}

std::string mailbox_owner(std::string_view name, std::string_view deleted_prefix) {
  std::string domain;
  size_t bang = name.find('!');
  if (bang != std::string_view::npos) {
    domain = std::string(name.substr(0, bang));
    name.remove_prefix(bang + 1);
  }
  if (!deleted_prefix.empty() && name.size() > deleted_prefix.size() &&
      name.substr(0, deleted_prefix.size()) == deleted_prefix &&
      name[deleted_prefix.size()] == '.') {
    name.remove_prefix(deleted_prefix.size() + 1);
  }
  constexpr std::string_view kUser = "user.";
  if (name.substr(0, kUser.size()) != kUser) return "";
  name.remove_prefix(kUser.size());
  std::string user(name.substr(0, name.find('.')));
  if (user.empty()) return "";
  // In internal names '^' stands for a '.' inside a component.
  std::replace(user.begin(), user.end(), '^', '.');
  if (!domain.empty()) user += "@" + domain;
  return user;
}

SyncPlan coalesce_sync_log(const std::vector<SyncLogEvent>& events,
                           std::string_view deleted_prefix) {
  SyncPlan plan;
  auto group_for = [&plan](const std::string& user) -> MailboxGroup& {
    for (MailboxGroup& g : plan.mailbox_groups)
      if (g.user == user) return g;
    plan.mailbox_groups.push_back({user, {}});
    return plan.mailbox_groups.back();
  };
  auto add_mailbox = [&](const std::string& user, const std::string& mbox) {
    add_unique(group_for(user).mailboxes, mbox);
  };

  for (const SyncLogEvent& e : events) {
    switch (e.type) {
      case SyncLogType::Mailbox:
      case SyncLogType::Append:
        add_mailbox(mailbox_owner(e.arg1, deleted_prefix), e.arg1);
        break;
      case SyncLogType::DoubleMailbox: {
        std::string owner = mailbox_owner(e.arg1, deleted_prefix);
        add_mailbox(owner, e.arg1);
        add_mailbox(owner, e.arg2);
        break;
      }
      case SyncLogType::Rename: {
        // Both names go to each user involved, so that the rename is seen
        // whichever user's batch runs first.
        std::string from = mailbox_owner(e.arg1, deleted_prefix);
        std::string to = mailbox_owner(e.arg2, deleted_prefix);
        add_mailbox(from, e.arg1);
        add_mailbox(from, e.arg2);
        if (to != from) {
          add_mailbox(to, e.arg1);
          add_mailbox(to, e.arg2);
        }
        break;
      }
      case SyncLogType::Unmailbox: add_unique(plan.unmailboxes, e.arg1); break;
      case SyncLogType::Quota: add_unique(plan.quotas, e.arg1); break;
      case SyncLogType::Annotation: add_unique(plan.annotations, e.arg1); break;
      case SyncLogType::Seen: add_unique(plan.seen, SeenItem{e.arg1, e.arg2}); break;
      case SyncLogType::Sub:
      case SyncLogType::Unsub: add_unique(plan.subs, SubItem{e.arg1, e.arg2}); break;
      case SyncLogType::Meta:
      case SyncLogType::Sieve: add_unique(plan.metas, e.arg1); break;
      case SyncLogType::User: add_unique(plan.users, e.arg1); break;
      case SyncLogType::Unuser: add_unique(plan.unusers, e.arg1); break;
    }
  }

  // Cancellation: a wider sync of a user covers the narrower items.
  auto in = [](const std::vector<std::string>& v, const std::string& u) {
    return std::find(v.begin(), v.end(), u) != v.end();
  };
  auto covers_meta = [&](const std::string& u) {
    return in(plan.users, u) || in(plan.unusers, u) || in(plan.metas, u);
  };
  std::erase_if(plan.seen, [&](const SeenItem& s) { return covers_meta(s.user); });
  std::erase_if(plan.subs, [&](const SubItem& s) { return covers_meta(s.user); });
  std::erase_if(plan.metas, [&](const std::string& u) { return in(plan.users, u) || in(plan.unusers, u); });
  std::erase_if(plan.users, [&](const std::string& u) { return in(plan.unusers, u); });
  return plan;
}

FailureDecision decide_on_failure(const WorkItem& item, FailureKind kind, bool named_channel,
                                  std::string_view deleted_prefix) {
  FailureDecision d;
  if (kind == FailureKind::Locked && named_channel) {
    SyncLogEvent e;
    switch (item.kind) {
      case WorkKind::Mailbox: e = {SyncLogType::Mailbox, item.name, ""}; break;
      case WorkKind::Quota: e = {SyncLogType::Quota, item.name, ""}; break;
      case WorkKind::Annotation: e = {SyncLogType::Annotation, item.name, ""}; break;
      case WorkKind::Seen: e = {SyncLogType::Seen, item.user, item.arg}; break;
      case WorkKind::Sub: e = {SyncLogType::Sub, item.user, item.name}; break;
      case WorkKind::Unmailbox: e = {SyncLogType::Unmailbox, item.name, ""}; break;
      case WorkKind::Meta: e = {SyncLogType::Meta, item.user, ""}; break;
      case WorkKind::User: e = {SyncLogType::User, item.user, ""}; break;
      case WorkKind::Unuser: e = {SyncLogType::Unuser, item.user, ""}; break;
    }
    d.action = FailureAction::Defer;
    d.requeue = std::move(e);
    return d;
  }
  auto promote_owner_of = [&](const std::string& mbox) {
    d.user = mailbox_owner(mbox, deleted_prefix);
    d.action = d.user.empty() ? FailureAction::AbortCycle : FailureAction::PromoteToUser;
  };
  switch (item.kind) {
    case WorkKind::Mailbox:
    case WorkKind::Quota:
    case WorkKind::Annotation: promote_owner_of(item.name); break;
    case WorkKind::Seen:
      d.user = item.user;
      d.action = item.own_mailbox ? FailureAction::PromoteToUser : FailureAction::PromoteToMeta;
      break;
    case WorkKind::Sub:
      d.user = item.user;
      d.action = FailureAction::PromoteToMeta;
      break;
    case WorkKind::Meta:
      d.user = item.user;
      d.action = FailureAction::PromoteToUser;
      break;
    // A user sync never deletes a mailbox, so promoting a failed UNMAILBOX
    // would lose the deletion: keep log-run and retry the whole cycle.
    case WorkKind::Unmailbox:
    case WorkKind::User:
    case WorkKind::Unuser: d.action = FailureAction::AbortCycle; break;
  }
  return d;
}

void apply_promotion(SyncPlan& plan, const FailureDecision& d) {
  if (d.user.empty()) return;
  const std::string& u = d.user;
  auto in = [](const std::vector<std::string>& v, const std::string& x) {
    return std::find(v.begin(), v.end(), x) != v.end();
  };
  if (d.action == FailureAction::PromoteToUser) {
    if (!in(plan.unusers, u)) add_unique(plan.users, u);
    std::erase(plan.metas, u);
  } else if (d.action == FailureAction::PromoteToMeta) {
    if (!in(plan.users, u) && !in(plan.unusers, u)) add_unique(plan.metas, u);
  } else {
    return;
  }
  std::erase_if(plan.seen, [&](const SeenItem& s) { return s.user == u; });
  std::erase_if(plan.subs, [&](const SubItem& s) { return s.user == u; });
}

std::vector<store::ChangeRecord> change_records_of(const SyncLogEvent& e) {
  using T = SyncLogType;
  using K = store::ChangeKind;
  store::ChangeRecord c;
  c.arg1 = e.arg1;
  c.arg2 = e.arg2;
  switch (e.type) {
    case T::User: c.kind = K::User; break;
    case T::Meta: case T::Sieve: c.kind = K::Seen; break;
    case T::Mailbox: c.kind = K::Mailbox; break;
    case T::DoubleMailbox: {
      store::ChangeRecord second{0, 0, K::Mailbox, e.arg2, ""};
      c.kind = K::Mailbox;
      c.arg2.clear();
      return {c, second};
    }
    case T::Append: c.kind = K::Append; break;
    case T::Rename: c.kind = K::Rename; break;
    case T::Unmailbox: c.kind = K::Unmailbox; break;
    case T::Quota: c.kind = K::Quota; break;
    case T::Annotation: c.kind = K::Annotation; break;
    case T::Seen: c.kind = K::Seen; break;
    case T::Sub: case T::Unsub: c.kind = K::Sub; break;
    case T::Unuser: return {};
  }
  return {c};
}

}  // namespace cyr::sync
