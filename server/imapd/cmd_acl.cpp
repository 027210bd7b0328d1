// ACL (RFC 4314) and QUOTA (RFC 9208) commands.
#include "server/imapd/session.h"

namespace cyr::imapd {

using imap::ResponseCode;
namespace right = mail::right;

awaitable<Reply> Session::cmd_getacl(const imap::MailboxArgs& a) {
  auto internal = to_internal(a.mailbox);
  if (!internal) co_return error_reply(internal.error(), "GETACL");
  auto info = co_await lookup_visible(*internal);
  if (!info) co_return error_reply(info.error(), "GETACL");
  if (!(rights_on(*info) & right::kAdmin))
    co_return Reply::no("Permission denied", ResponseCode::no_perm());
  auto acl = mail::Acl::parse(info->acl);
  if (!acl) co_return error_reply(acl.error(), "GETACL");
  w_.begin_untagged().atom("ACL").mailbox(a.mailbox);
  for (const auto& e : acl->entries())
    w_.astring((e.negative ? "-" : "") + e.identifier).astring(mail::format_rights(e.rights));
  w_.end_line();
  co_return Reply::ok("Getacl completed");
}

awaitable<Reply> Session::cmd_setacl(const imap::SetAclArgs& a, bool remove) {
  const char* what = remove ? "DELETEACL" : "SETACL";
  auto internal = to_internal(a.mailbox);
  if (!internal) co_return error_reply(internal.error(), what);
  auto info = co_await lookup_visible(*internal);
  if (!info) co_return error_reply(info.error(), what);
  if (!(rights_on(*info) & right::kAdmin))
    co_return Reply::no("Permission denied", ResponseCode::no_perm());
  if (!mail::is_valid_acl_identifier(a.identifier)) co_return Reply::bad("Invalid identifier");
  // An owner changing their own entry on their own mailbox, as Cyrus 3.6
  // allows it (compared side by side): only to rights that keep 'a', and
  // the owner's implicit rights stay in the entry; removing the entry is
  // refused. One slip in a webmail's sharing dialog cannot lock them out.
  // Admins may do anything.
  bool own_entry = false;
  if (!identity_->is_admin && a.identifier == identity_->userid) {
    auto owner = mail::mboxname_owner(*internal);
    own_entry = owner && *owner == identity_->userid;
    if (own_entry && remove)
      co_return Reply::no("Permission denied: you cannot remove your own rights on your own mailbox",
                          ResponseCode::no_perm());
  }
  if (!settings_.anyoneuseracl && !identity_->is_admin && a.identifier == "anyone")
    co_return Reply::no("Only administrators may grant rights to anyone", ResponseCode::no_perm());
  auto acl = mail::Acl::parse(info->acl);
  if (!acl) co_return error_reply(acl.error(), what);
  if (remove) {
    acl->remove(a.identifier);
  } else {
    auto mod = mail::parse_rights_modification(a.rights);
    if (!mod) co_return Reply::bad("Invalid rights: " + a.rights);
    auto st = acl->modify(a.identifier, *mod);
    if (!st) co_return error_reply(st.error(), what);
    if (own_entry) {
      const mail::Rights now = acl->rights_of(a.identifier).value_or(0);
      if (!(now & right::kAdmin))
        co_return Reply::no("Permission denied: you cannot give up the a right on your own mailbox",
                            ResponseCode::no_perm());
      auto kept = acl->set(a.identifier, now | settings_.implicit_owner_rights);
      if (!kept) co_return error_reply(kept.error(), what);
    }
  }
  const std::string stored = acl->to_string();
  auto st = co_await blocking([&] { return store_.set_acl(*internal, stored); });
  if (!st) co_return error_reply(st.error(), what);
  co_return Reply::ok(remove ? "Deleteacl completed" : "Setacl completed");
}

awaitable<Reply> Session::cmd_listrights(const imap::SetAclArgs& a) {
  auto internal = to_internal(a.mailbox);
  if (!internal) co_return error_reply(internal.error(), "LISTRIGHTS");
  auto info = co_await lookup_visible(*internal);
  if (!info) co_return error_reply(info.error(), "LISTRIGHTS");
  if (!(rights_on(*info) & right::kAdmin))
    co_return Reply::no("Permission denied", ResponseCode::no_perm());
  auto owner = mail::mboxname_owner(*internal);
  std::string required = owner && *owner == a.identifier
                             ? mail::format_rights(settings_.implicit_owner_rights, false)
                             : "";
  w_.begin_untagged().atom("LISTRIGHTS").mailbox(a.mailbox).astring(a.identifier).string(required);
  for (const char* r : {"l", "r", "s", "w", "i", "p", "k", "x", "t", "e", "a", "c", "d", "n"})
    w_.atom(r);
  w_.end_line();
  co_return Reply::ok("Listrights completed");
}

awaitable<Reply> Session::cmd_myrights(const imap::MailboxArgs& a) {
  auto internal = to_internal(a.mailbox);
  if (!internal) co_return error_reply(internal.error(), "MYRIGHTS");
  auto info = co_await lookup_visible(*internal);
  if (!info) co_return error_reply(info.error(), "MYRIGHTS");
  write_myrights(a.mailbox, *info);
  co_return Reply::ok("Myrights completed");
}

void Session::write_myrights(std::string_view external, const store::MailboxInfo& info) {
  w_.begin_untagged().atom("MYRIGHTS").mailbox(external)
      .astring(mail::format_rights(rights_on(info)));
  w_.end_line();
}

void Session::write_quota(const store::QuotaInfo& q) {
  w_.begin_untagged().atom("QUOTA").astring(to_external(q.root)).begin_list();
  if (q.storage_limit_kib)
    w_.atom("STORAGE").number(q.storage_used_kib()).number(*q.storage_limit_kib);
  if (q.message_limit) w_.atom("MESSAGE").number(q.message_used).number(*q.message_limit);
  w_.end_list().end_line();
}

awaitable<Reply> Session::cmd_getquota(const imap::QuotaRootArgs& a) {
  auto internal = to_internal(a.root);
  if (!internal) co_return error_reply(internal.error(), "GETQUOTA");
  // Users see the quota of their own roots; admins every root.
  if (!identity_->is_admin && !owns(*internal))
    co_return Reply::no("Permission denied", ResponseCode::no_perm());
  auto q = co_await blocking([&] { return store_.get_quota(*internal); });
  if (!q) co_return error_reply(q.error(), "GETQUOTA");
  write_quota(*q);
  co_return Reply::ok("Getquota completed");
}

awaitable<Reply> Session::cmd_getquotaroot(const imap::MailboxArgs& a) {
  auto internal = to_internal(a.mailbox);
  if (!internal) co_return error_reply(internal.error(), "GETQUOTAROOT");
  auto info = co_await lookup_visible(*internal);
  if (!info) co_return error_reply(info.error(), "GETQUOTAROOT");
  w_.begin_untagged().atom("QUOTAROOT").mailbox(a.mailbox);
  if (!info->quotaroot.empty()) w_.astring(to_external(info->quotaroot));
  w_.end_line();
  if (!info->quotaroot.empty()) {
    const std::string root = info->quotaroot;
    auto q = co_await blocking([&] { return store_.get_quota(root); });
    if (q) write_quota(*q);
  }
  co_return Reply::ok("Getquotaroot completed");
}

awaitable<Reply> Session::cmd_setquota(const imap::SetQuotaArgs& a) {
  if (!identity_->is_admin)
    co_return Reply::no("Only administrators may set quotas", ResponseCode::no_perm());
  auto internal = to_internal(a.root);
  if (!internal) co_return error_reply(internal.error(), "SETQUOTA");
  std::optional<uint64_t> storage, messages;
  for (const auto& [res, limit] : a.limits) {
    if (res == "STORAGE") storage = limit;
    else if (res == "MESSAGE") messages = limit;
    else co_return Reply::no("Unsupported quota resource " + res);
  }
  auto st = co_await blocking([&] {
    if (!storage && !messages) return store_.remove_quota(*internal);
    return store_.set_quota(*internal, storage, messages);
  });
  if (!st) co_return error_reply(st.error(), "SETQUOTA");
  co_return Reply::ok("Setquota completed");
}

}  // namespace cyr::imapd
