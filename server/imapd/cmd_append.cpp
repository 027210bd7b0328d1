// APPEND (with MULTIAPPEND): the messages were read into memory or streamed
// to temporary files while the command was read (Session::receive_message);
// here they go into the store in one transaction.
#include <unistd.h>

#include <optional>

#include "server/imapd/fetch_format.h"
#include "server/imapd/session.h"

namespace cyr::imapd {

using imap::ResponseCode;

awaitable<Reply> Session::cmd_append(const imap::AppendArgs& a) {
  std::vector<AppendBody> bodies = std::move(append_bodies_);
  append_bodies_.clear();
  append_memory_ = 0;
  std::vector<bool> has_nul = std::move(append_has_nul_);
  append_has_nul_.clear();
  struct Cleanup {
    std::vector<AppendBody>& b;
    ~Cleanup() {
      for (const auto& x : b)
        if (!x.file.empty()) ::unlink(x.file.c_str());
    }
  } cleanup{bodies};
  if (bodies.size() != a.messages.size())
    co_return Reply::no("Message data was not received", ResponseCode::server_bug());
  // A NUL may only arrive in a literal8 (RFC 3516 4.4; RFC 3501's CHAR8
  // excludes it), as Cyrus refuses such a message sent as a plain literal.
  for (size_t i = 0; i < a.messages.size(); ++i)
    if (i < has_nul.size() && has_nul[i] && !a.messages[i].binary)
      co_return Reply::no("Message contains NUL characters; send it as a literal8 (~{n})");

  auto internal = to_internal(a.mailbox);
  if (!internal) co_return error_reply(internal.error(), "APPEND");
  // The lookup, the rights check and the append run in one blocking-pool
  // hop: each hop is a switch to a pool thread and back, and with one
  // connection an APPEND waits for every one of them in turn. The session
  // is suspended meanwhile, so rights_on() reads its state safely there.
  struct Outcome {
    std::optional<Reply> refusal;  // refused before the store was asked to append
    store::AppendResult res;
  };
  auto out = co_await blocking([&]() -> Result<Outcome> {
    Outcome o;
    // The rights need only the mailbox list's entry (its ACL), not the
    // mailbox's own database: the append reads that anyway.
    auto acl = store_.get_acl(*internal);
    if (!acl) {
      if (acl.error().code != Errc::NotFound) return acl.take_error();
      o.refusal = Reply::no("Mailbox does not exist", missing_target_code(*internal));
      return o;
    }
    store::MailboxInfo listed;
    listed.name = *internal;
    listed.acl = std::move(*acl);
    mail::Rights rights = rights_on(listed);
    if (!(rights & (mail::right::kLookup | mail::right::kRead))) {
      o.refusal = Reply::no("Mailbox does not exist", missing_target_code(*internal));
      return o;
    }
    if (!(rights & mail::right::kInsert)) {
      o.refusal = Reply::no("Permission denied", ResponseCode::no_perm());
      return o;
    }
    store::AppendRequest req;
    req.mailbox = *internal;
    for (size_t i = 0; i < a.messages.size(); ++i) {
      const imap::AppendMessage& m = a.messages[i];
      auto flags = parse_flag_names(m.flags);
      if (!flags) return flags.take_error();
      store::AppendMessage sm;
      // Moved out: the store is done with the message when append() returns.
      sm.source = bodies[i].file.empty() ? store::MessageSource::memory(std::move(bodies[i].bytes))
                                         : store::MessageSource::file(bodies[i].file);
      sm.flags = std::move(*flags);
      // Flags the user has no right to set are dropped, as Cyrus does.
      if (!(rights & mail::right::kSeen)) sm.flags.system &= ~store::kFlagSeen;
      if (!(rights & mail::right::kDeleteMsg)) sm.flags.system &= ~store::kFlagDeleted;
      if (!(rights & mail::right::kWrite)) {
        sm.flags.system &= (store::kFlagSeen | store::kFlagDeleted);
        sm.flags.keywords.clear();
      }
      if (m.internal_date) sm.internaldate = datetime_to_epoch(*m.internal_date);
      req.messages.push_back(std::move(sm));
    }
    auto res = store_.append(req);
    if (!res) return res.take_error();
    o.res = std::move(*res);
    return o;
  });
  if (!out) co_return error_reply(out.error(), "APPEND");
  if (out->refusal) co_return std::move(*out->refusal);
  if (selected_ && selected_->info.name == *internal) dirty_->store(true);
  co_return Reply::ok("Append completed", ResponseCode::append_uid(out->res.uidvalidity, out->res.uids));
}

}  // namespace cyr::imapd
