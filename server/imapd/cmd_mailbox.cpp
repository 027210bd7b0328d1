// Mailbox commands: CREATE DELETE RENAME SUBSCRIBE UNSUBSCRIBE LIST LSUB STATUS.
#include <algorithm>
#include <map>
#include <set>
#include <sstream>

#include "server/imap/parser_args.h"
#include "server/imapd/list_match.h"
#include "server/imapd/session.h"
#include "store/base/log.h"

namespace cyr::imapd {

using imap::ResponseCode;
namespace right = mail::right;

namespace {

constexpr std::string_view kSpecialUseEntry = "/specialuse";

bool known_special_use(std::string_view u) {
  static const char* kUses[] = {"\\All", "\\Archive", "\\Drafts", "\\Flagged",
                                "\\Junk", "\\Sent", "\\Trash", "\\Important"};
  for (const char* k : kUses)
    if (imap::iequals(k, u)) return true;
  return false;
}

// Cyrus 3.6's answer to deleting, or moving to another parent, a mailbox
// whose special use specialuse_protect lists.
constexpr std::string_view kSpecialUseConflict = "SPECIAL-USE flag conflict";

std::string strip_trailing_separator(std::string name, char sep) {
  while (name.size() > 1 && name.back() == sep) name.pop_back();
  return name;
}

}  // namespace

awaitable<Reply> Session::cmd_create(const imap::CreateArgs& a) {
  std::string external = strip_trailing_separator(a.mailbox, ns_->separator());
  auto internal = to_internal(external);
  if (!internal) co_return error_reply(internal.error(), "CREATE");
  if (imap::iequals(external, "INBOX") && !identity_->is_admin)
    co_return Reply::no("INBOX already exists", ResponseCode::already_exists());
  for (const auto& u : a.special_use)
    if (!known_special_use(u))
      co_return Reply::no("Unknown special-use attribute " + u, ResponseCode::use_attr());

  // Choosing the partition is an admin's decision (Cyrus: cyradm's "cm name partition").
  if (!a.partition.empty() && !identity_->is_admin)
    co_return Reply::no("Permission denied: only administrators choose a partition",
                        ResponseCode::no_perm());

  auto existing = co_await blocking([&] { return store_.lookup(*internal); });
  if (existing) co_return Reply::no("Mailbox already exists", ResponseCode::already_exists());

  // Rights: k on the nearest existing ancestor; a new top-level mailbox
  // (a user's INBOX, a shared root) only for admins. The levels between
  // that ancestor and the new mailbox are missing.
  std::optional<store::MailboxInfo> parent;
  std::vector<std::string> missing_levels;  // nearest the new mailbox first
  for (auto p = mail::mboxname_parent(*internal); p; p = mail::mboxname_parent(*p)) {
    if (*p == "user") break;
    auto info = co_await blocking([&] { return store_.lookup(*p); });
    if (info) {
      parent = std::move(*info);
      break;
    }
    missing_levels.push_back(*p);
  }
  if (!identity_->is_admin) {
    if (!parent)
      co_return Reply::no("Permission denied: only administrators create top-level mailboxes",
                          ResponseCode::no_perm());
    if (!(rights_on(*parent) & right::kCreate))
      co_return Reply::no("Permission denied", ResponseCode::no_perm());
  }

  // RFC 3501 6.3.3: the server SHOULD create the superior levels the name
  // needs, as Cyrus does: CREATE "Archive/2023/Q1" makes Archive and
  // Archive/2023 real, selectable mailboxes, not \Noselect placeholders. Only
  // below an existing mailbox (never a user's INBOX or a shared root by the
  // way), and not a level that has no name of its own in this namespace
  // (under the alternate namespace, "INBOX/x" lies below user.NAME.INBOX,
  // which is not a folder the user can see).
  if (parent) {
    for (auto it = missing_levels.rbegin(); it != missing_levels.rend(); ++it) {
      if (!ns_->to_external(*it)) continue;
      // user.NAME.INBOX has no name of its own in its owner's (alternate)
      // namespace, whoever creates below it (an admin sees it as
      // user/NAME/INBOX): Cyrus leaves that level out too.
      auto parent = mail::mboxname_parent(*it);
      if (parent && mail::mboxname_is_user_inbox(*parent) && it->ends_with(".INBOX")) continue;
      store::CreateMailboxRequest level;
      level.name = *it;
      level.partition = a.partition;
      auto made = co_await blocking([&] { return store_.create_mailbox(level); });
      if (!made && made.error().code != Errc::Exists) co_return error_reply(made.error(), "CREATE");
    }
  }

  store::CreateMailboxRequest req;
  req.name = *internal;
  req.partition = a.partition;
  auto created = co_await blocking([&] { return store_.create_mailbox(req); });
  if (!created) co_return error_reply(created.error(), "CREATE");
  for (const auto& u : a.special_use) {
    store::Annotation ann;
    ann.mailbox = *internal;
    ann.entry = std::string(kSpecialUseEntry);
    ann.value = u;
    auto st = co_await blocking([&] { return store_.set_annotation(ann); });
    if (!st) co_return error_reply(st.error(), "CREATE special-use");
  }
  co_return Reply::ok("Create completed", ResponseCode::mailbox_id(created->uniqueid));
}

// Whether the mailbox's special use (its shared /specialuse annotation) is
// one specialuse_protect lists.
awaitable<bool> Session::protected_special_use(const std::string& internal) {
  if (settings_.specialuse_protect.empty()) co_return false;
  auto anns = co_await blocking([&] { return store_.annotations(internal); });
  if (!anns) co_return false;
  for (const auto& an : *anns) {
    if (an.entry != kSpecialUseEntry || !an.userid.empty()) continue;
    std::istringstream uses(an.value);
    for (std::string u; uses >> u;)
      for (const auto& p : settings_.specialuse_protect)
        if (imap::iequals(u, p)) co_return true;
  }
  co_return false;
}

awaitable<Reply> Session::cmd_delete(const imap::MailboxArgs& a) {
  auto internal = to_internal(a.mailbox);
  if (!internal) co_return error_reply(internal.error(), "DELETE");
  auto info = co_await lookup_visible(*internal);
  if (!info) co_return error_reply(info.error(), "DELETE");
  bool user_inbox = mail::mboxname_is_user_inbox(*internal);
  if (user_inbox && !identity_->is_admin) co_return Reply::no("Cannot delete INBOX");
  if (!identity_->is_admin && !(rights_on(*info) & right::kDeleteMbox))
    co_return Reply::no("Permission denied", ResponseCode::no_perm());
  if (!identity_->is_admin) {
    const bool guarded = co_await protected_special_use(*internal);
    if (guarded) co_return Reply::no(std::string(kSpecialUseConflict), ResponseCode::cannot());
  }
  if (!user_inbox) {
    // The store deletes a whole subtree; IMAP DELETE names one mailbox, so
    // one with children is refused rather than taking them along.
    std::string pattern = *internal + ".*";
    auto kids = co_await blocking([&] { return store_.list(pattern); });
    if (kids && !kids->empty())
      co_return Reply::no("Mailbox has children; delete them first",
                          ResponseCode::has_children());
  }
  if (selected_ && selected_->info.name == *internal) deselect();
  auto st = co_await blocking([&] { return store_.delete_mailbox(*internal); });
  if (!st) co_return error_reply(st.error(), "DELETE");
  co_return Reply::ok("Delete completed");
}

awaitable<Reply> Session::cmd_rename(const imap::RenameArgs& a) {
  auto from = to_internal(a.from);
  if (!from) co_return error_reply(from.error(), "RENAME");
  auto to = to_internal(strip_trailing_separator(a.to, ns_->separator()));
  if (!to) co_return error_reply(to.error(), "RENAME");
  auto info = co_await lookup_visible(*from);
  if (!info) co_return error_reply(info.error(), "RENAME");
  if (!identity_->is_admin && !(rights_on(*info) & right::kDeleteMbox))
    co_return Reply::no("Permission denied", ResponseCode::no_perm());
  auto exists = co_await blocking([&] { return store_.lookup(*to); });
  if (exists) co_return Reply::no("Mailbox already exists", ResponseCode::already_exists());
  if (!identity_->is_admin) {
    std::optional<store::MailboxInfo> parent;
    for (auto p = mail::mboxname_parent(*to); p; p = mail::mboxname_parent(*p)) {
      if (*p == "user") break;
      auto pi = co_await blocking([&] { return store_.lookup(*p); });
      if (pi) {
        parent = std::move(*pi);
        break;
      }
    }
    if (!parent || !(rights_on(*parent) & right::kCreate))
      co_return Reply::no("Permission denied", ResponseCode::no_perm());
    if (mail::mboxname_parent(*from) != mail::mboxname_parent(*to)) {
      const bool guarded = co_await protected_special_use(*from);
      if (guarded) co_return Reply::no(std::string(kSpecialUseConflict), ResponseCode::cannot());
    }
  }

  if (mail::mboxname_is_user_inbox(*from) && !identity_->is_admin) {
    // RFC 3501 6.3.5: renaming INBOX moves its messages to the new mailbox
    // and leaves INBOX empty.
    store::CreateMailboxRequest req;
    req.name = *to;
    auto created = co_await blocking([&] { return store_.create_mailbox(req); });
    if (!created) co_return error_reply(created.error(), "RENAME INBOX");
    auto recs = co_await blocking([&] { return store_.records(*from); });
    if (!recs) co_return error_reply(recs.error(), "RENAME INBOX");
    store::UidSet uids;
    for (const auto& r : *recs) uids.add(r.uid);
    if (!uids.empty()) {
      auto moved = co_await blocking([&] { return store_.copy(*from, uids, *to, true); });
      if (!moved) co_return error_reply(moved.error(), "RENAME INBOX");
    }
    dirty_->store(true);
    co_return Reply::ok("Rename completed");
  }

  auto st = co_await blocking([&] { return store_.rename_mailbox(*from, *to); });
  if (!st) {
    if (st.error().code == Errc::Invalid)
      co_return Reply::no(st.error().user_message.empty() ? "Cannot rename there"
                                                          : st.error().user_message,
                          ResponseCode::cannot());
    co_return error_reply(st.error(), "RENAME");
  }
  if (selected_ && mail::mboxname_is_same_or_below(selected_->info.name, *from)) {
    selected_->info.name = *to + selected_->info.name.substr(from->size());
    selected_->external_name = to_external(selected_->info.name);
  }
  co_return Reply::ok("Rename completed");
}

awaitable<Reply> Session::cmd_subscribe(const imap::MailboxArgs& a, bool on) {
  auto internal = to_internal(a.mailbox);
  if (!internal) co_return error_reply(internal.error(), "SUBSCRIBE");
  if (on) {
    auto info = co_await lookup_visible(*internal);
    if (!info) co_return error_reply(info.error(), "SUBSCRIBE");
  }
  const std::string user = identity_->userid;
  auto st = co_await blocking([&] { return store_.subscribe(user, *internal, on); });
  if (!st) co_return error_reply(st.error(), on ? "SUBSCRIBE" : "UNSUBSCRIBE");
  co_return Reply::ok(on ? "Subscribe completed" : "Unsubscribe completed");
}

namespace {

struct ListEntry {
  std::string internal;
  bool exists = false;     // a mailbox (else a \Noselect placeholder or \NonExistent)
  bool subscribed = false;
  bool has_children = false;
  std::string special_use;
  store::MailboxInfo info;
};

}  // namespace

awaitable<Reply> Session::cmd_list(const imap::ListArgs& a, ListVerb verb) {
  const bool lsub = verb == ListVerb::Lsub;
  const bool xlist = verb == ListVerb::Xlist;
  const char* verb_name = lsub ? "LSUB" : xlist ? "XLIST" : "LIST";
  const char* done_text = lsub ? "Lsub completed" : xlist ? "Xlist completed" : "List completed";
  const char sep = ns_->separator();
  const std::string sep_str(1, sep);
  // LIST "" "": the hierarchy separator and root (RFC 3501 6.3.8); XLIST
  // answers it too, as Cyrus does.
  if (!lsub && a.patterns.size() == 1 && a.patterns[0].empty() && !a.extended) {
    w_.begin_untagged().atom(verb_name).begin_list().atom("\\Noselect").end_list()
        .string(sep_str).string("").end_line();
    co_return Reply::ok(done_text);
  }

  // RETURN (METADATA ...) entries are checked before anything is listed, as
  // GETMETADATA checks them (a bad one is BAD).
  const bool want_metadata = a.return_options & imap::kListReturnMetadata;
  std::vector<MetadataEntry> metadata_wanted;
  if (want_metadata) {
    for (const auto& raw : a.metadata_entries) {
      auto parsed = parse_metadata_entry(raw, false);
      if (!parsed) co_return Reply::bad(parsed.error().user_message);
      metadata_wanted.push_back(std::move(*parsed));
    }
  }
  const bool want_myrights = a.return_options & imap::kListReturnMyRights;

  bool want_subscribed = lsub || (a.select_options & imap::kListSelectSubscribed) ||
                         (a.return_options & imap::kListReturnSubscribed);
  bool select_subscribed = lsub || (a.select_options & imap::kListSelectSubscribed);
  bool select_special = a.select_options & imap::kListSelectSpecialUse;
  // XLIST always shows special-use attributes (Cyrus: its whole point).
  bool want_special = settings_.specialusealways || select_special || xlist ||
                      (a.return_options & imap::kListReturnSpecialUse);
  bool want_status = a.return_options & imap::kListReturnStatus;

  auto all = co_await blocking([&] { return store_.list("*"); });
  if (!all) co_return error_reply(all.error(), "LIST");
  std::vector<std::string> subs;
  if (want_subscribed) {
    const std::string user = identity_->userid;
    auto s = co_await blocking([&] { return store_.subscriptions(user); });
    if (s) subs = std::move(*s);
  }
  std::set<std::string> sub_set(subs.begin(), subs.end());

  // Every mailbox this user may see, by client-visible name.
  std::map<std::string, ListEntry> visible;
  for (const std::string& name : *all) {
    auto info = co_await blocking([&] { return store_.lookup(name); });
    if (!info) continue;
    if (!(rights_on(*info) & right::kLookup)) continue;
    auto ext = ns_->to_external(name);
    if (!ext) continue;
    ListEntry e;
    e.internal = name;
    e.exists = true;
    e.subscribed = sub_set.count(name) != 0;
    e.info = std::move(*info);
    visible[*ext] = std::move(e);
  }
  if (select_subscribed) {
    for (const std::string& name : subs) {
      auto ext = ns_->to_external(name);
      if (!ext || visible.count(*ext)) continue;
      ListEntry e;
      e.internal = name;
      e.subscribed = true;
      visible[*ext] = std::move(e);  // \NonExistent
    }
  }
  // Children, and placeholders for levels that are not mailboxes.
  std::map<std::string, ListEntry> placeholders;
  for (auto& [ext, e] : visible) {
    size_t pos = ext.rfind(sep);
    while (pos != std::string::npos && pos > 0) {
      std::string parent = ext.substr(0, pos);
      auto it = visible.find(parent);
      if (it != visible.end()) {
        it->second.has_children = true;
      } else {
        placeholders[parent].has_children = true;
      }
      pos = parent.rfind(sep);
    }
  }
  std::vector<std::string> patterns;
  for (const auto& p : a.patterns) patterns.push_back(list_full_pattern(a.reference, p));
  auto matches = [&](const std::string& ext) {
    for (const auto& p : patterns)
      if (list_pattern_match(p, ext, sep)) return true;
    return false;
  };

  // Levels with a subscribed mailbox below them that no pattern matches:
  // LSUB shows such a level as \Noselect (RFC 3501 6.3.9: LSUB "%" with
  // only "foo/bar" subscribed returns "foo"), and LIST (SUBSCRIBED
  // RECURSIVEMATCH) returns it with CHILDINFO ("SUBSCRIBED") (RFC 5258 3.5).
  const bool recursive = a.select_options & imap::kListSelectRecursiveMatch;
  std::set<std::string> subscribed_below;
  if (select_subscribed) {
    for (const auto& [ext, e] : visible) {
      if (!e.subscribed || matches(ext)) continue;
      for (size_t pos = ext.rfind(sep); pos != std::string::npos && pos > 0; pos = ext.rfind(sep, pos - 1))
        subscribed_below.insert(ext.substr(0, pos));
    }
  }

  // SPECIAL-USE names the user's own folders (RFC 6154: it is the user's
  // Sent, Drafts, ...), so it is shown only on mailboxes of the user's
  // personal namespace, as Cyrus does; another user's shared \Junk is not
  // this user's Junk folder.
  std::string own_inbox;
  if (auto inbox = ns_->to_internal("INBOX"); inbox.ok()) own_inbox = *inbox;

  auto special_of = [&](const std::string& internal) -> awaitable<std::string> {
    auto anns = co_await blocking([&] { return store_.annotations(internal); });
    if (!anns) co_return std::string();
    for (const auto& an : *anns)
      if (an.entry == kSpecialUseEntry && an.userid.empty()) co_return an.value;
    co_return std::string();
  };

  // Mailboxes first (in name order, INBOX first), then placeholders merged in order.
  std::vector<std::pair<std::string, ListEntry>> out;
  for (auto& [ext, e] : visible)
    if (matches(ext)) out.emplace_back(ext, e);
  for (auto& [ext, e] : placeholders)
    if (matches(ext) && !visible.count(ext)) out.emplace_back(ext, e);
  std::sort(out.begin(), out.end(), [](const auto& x, const auto& y) {
    bool xi = x.first == "INBOX", yi = y.first == "INBOX";
    if (xi != yi) return xi;
    return x.first < y.first;
  });

  uint64_t longest_omitted = 0;
  for (auto& [ext, e] : out) {
    const bool child_subscribed = subscribed_below.count(ext) != 0;
    if (select_subscribed && !e.subscribed) {
      // Not subscribed itself: shown only for a subscribed mailbox below it
      // that the patterns do not reach (see subscribed_below).
      if (!child_subscribed || (!lsub && !recursive)) continue;
      w_.begin_untagged().atom(verb_name).begin_list();
      if (lsub) {
        w_.atom("\\Noselect");
      } else if (!e.exists) {
        w_.atom("\\NonExistent");
      }
      w_.atom("\\HasChildren");
      w_.end_list().string(sep_str).mailbox(ext);
      if (!lsub) w_.begin_list().string("CHILDINFO").begin_list().string("SUBSCRIBED").end_list().end_list();
      w_.end_line();
      continue;
    }
    if (want_special && e.exists && !own_inbox.empty() && mail::mboxname_is_same_or_below(e.internal, own_inbox))
      e.special_use = co_await special_of(e.internal);
    // XLIST marks the user's own INBOX \Inbox (Gmail's attribute, as Cyrus does).
    if (xlist && e.exists && e.internal == own_inbox) e.special_use = "\\Inbox";
    if (select_special && e.special_use.empty()) continue;
    w_.begin_untagged().atom(verb_name).begin_list();
    if (!e.exists && e.subscribed && !lsub) w_.atom("\\NonExistent");
    if (!e.exists && (!e.subscribed || lsub)) w_.atom("\\Noselect");
    if (want_subscribed && e.subscribed && !lsub) w_.atom("\\Subscribed");
    if (e.exists || !e.subscribed) w_.atom(e.has_children ? "\\HasChildren" : "\\HasNoChildren");
    if (!e.special_use.empty()) w_.atom(e.special_use);
    w_.end_list().string(sep_str).mailbox(ext);
    if (!lsub && recursive && child_subscribed)
      w_.begin_list().string("CHILDINFO").begin_list().string("SUBSCRIBED").end_list().end_list();
    w_.end_line();
    // After the LIST line, in Cyrus's order: STATUS (RFC 5819), MYRIGHTS
    // (RFC 8440), METADATA (RFC 9590); only for mailboxes, never for a
    // \NonExistent or \Noselect name.
    if (!e.exists || lsub || !(want_status || want_myrights || want_metadata)) continue;
    const mail::Rights rights = rights_on(e.info);
    if (want_status && (rights & right::kRead)) {
      auto st = co_await write_status(e.info, ext, a.status_items);
      (void)st;
    }
    if (want_myrights) write_myrights(ext, e.info);
    // Metadata as GETMETADATA would answer for this mailbox: only where the
    // user may read it (l and r; admins always), else nothing.
    if (want_metadata &&
        (identity_->is_admin || (rights & (right::kLookup | right::kRead)) ==
                                    (right::kLookup | right::kRead))) {
      auto answer = co_await collect_metadata(&e.info, metadata_wanted, "0", a.metadata_maxsize);
      if (!answer) {
        CYR_LOG(Warning, sid_, "LIST METADATA of %s: %s", e.internal.c_str(),
                answer.error().describe().c_str());
        continue;
      }
      if (!answer->entries.empty()) write_metadata_response(w_, ext, answer->entries);
      longest_omitted = std::max(longest_omitted, answer->longest_omitted);
    }
  }
  // RFC 9590 / 5464 4.2.1: values MAXSIZE left out are reported once.
  if (longest_omitted)
    co_return Reply::ok(done_text, ResponseCode::metadata_long_entries(longest_omitted));
  co_return Reply::ok(done_text);
}

awaitable<Status> Session::write_status(const store::MailboxInfo& info,
                                        const std::string& external, uint32_t items) {
  uint32_t unseen = 0, deleted = 0, recent = 0;
  if (items & (imap::kStatusUnseen | imap::kStatusDeleted | imap::kStatusRecent)) {
    const std::string name = info.name;
    auto recs = co_await blocking([&] { return store_.records(name); });
    if (!recs) co_return recs.take_error();
    // RECENT: messages above this user's \Recent watermark (STATUS does not
    // raise it; only SELECT does).
    store::Uid recent_mark = 0;
    if (items & imap::kStatusRecent) {
      const std::string user = identity_->userid;
      auto seen = co_await blocking([&] { return store_.get_seen(user, name); });
      if (seen) recent_mark = seen->lastuid;
    }
    // \Seen is per user on mailboxes the user does not own.
    std::optional<imap::SequenceSet> user_seen;
    if (!owns(name)) {
      const std::string user = identity_->userid;
      auto seen = co_await blocking([&] { return store_.get_seen(user, name); });
      user_seen.emplace();
      if (seen && !seen->seenuids.empty()) {
        auto set = imap::parse_sequence_set(seen->seenuids, false);
        if (set) user_seen = std::move(*set);
      }
    }
    for (const auto& r : *recs) {
      if (r.expunged()) continue;
      bool seen = user_seen ? user_seen->contains(r.uid, UINT32_MAX)
                            : (r.flags.system & store::kFlagSeen) != 0;
      if (!seen) ++unseen;
      if (r.flags.system & store::kFlagDeleted) ++deleted;
      if (r.uid > recent_mark) ++recent;
    }
  }
  w_.begin_untagged().atom("STATUS").mailbox(external).begin_list();
  if (items & imap::kStatusMessages) w_.atom("MESSAGES").number(info.exists);
  if (items & imap::kStatusRecent) w_.atom("RECENT").number(recent);
  if (items & imap::kStatusUidNext) w_.atom("UIDNEXT").number(uint64_t(info.last_uid) + 1);
  if (items & imap::kStatusUidValidity) w_.atom("UIDVALIDITY").number(info.uidvalidity);
  if (items & imap::kStatusUnseen) w_.atom("UNSEEN").number(unseen);
  if (items & imap::kStatusHighestModSeq) w_.atom("HIGHESTMODSEQ").number(info.highestmodseq);
  if (items & imap::kStatusSize) w_.atom("SIZE").number(info.total_size);
  if (items & imap::kStatusAppendLimit) w_.atom("APPENDLIMIT").number(settings_.max_message);
  if (items & imap::kStatusDeleted) w_.atom("DELETED").number(deleted);
  if ((items & imap::kStatusMailboxId) && imap::is_object_id(info.uniqueid))
    w_.atom("MAILBOXID").begin_list().atom(info.uniqueid).end_list();
  w_.end_list().end_line();
  co_return ok_status();
}

awaitable<Reply> Session::cmd_status(const imap::StatusArgs& a) {
  auto internal = to_internal(a.mailbox);
  if (!internal) co_return error_reply(internal.error(), "STATUS");
  auto info = co_await lookup_visible(*internal);
  if (!info) co_return error_reply(info.error(), "STATUS");
  if (!(rights_on(*info) & right::kRead))
    co_return Reply::no("Permission denied", ResponseCode::no_perm());
  if (a.items & imap::kStatusHighestModSeq) condstore_ = true;  // RFC 7162 3.1
  auto st = co_await write_status(*info, a.mailbox, a.items);
  if (!st) co_return error_reply(st.error(), "STATUS");
  co_return Reply::ok("Status completed");
}

}  // namespace cyr::imapd
