#include "server/lmtpd/delivery.h"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <ctime>
#include <map>
#include <sstream>

#include "server/lmtpd/sieve_delivery.h"
#include "server/sieve/sieve.h"
#include "store/base/log.h"
#include "store/mail/acl.h"
#include "store/store_config.h"

namespace cyr::lmtpd {

namespace {

Reply reply(int code, std::string enhanced, std::string text) {
  return Reply{code, std::move(enhanced), std::move(text)};
}

Error rcpt_error(Errc c, std::string reply_line, std::string detail = {}) {
  return Error(c, std::move(reply_line), std::move(detail));
}

std::vector<std::string> split_bar(const std::string& s) {
  std::vector<std::string> out;
  std::string cur;
  for (char c : s) {
    if (c == '|') {
      if (!cur.empty()) out.push_back(cur);
      cur.clear();
    } else if (c != ' ') {
      cur += c;
    }
  }
  if (!cur.empty()) out.push_back(cur);
  return out;
}

// May `poster` post (p) to a mailbox with this ACL? Anonymous posters get
// the rights of "anyone" and "anonymous".
bool may_post(const std::string& acl_text, const std::string& poster) {
  auto acl = mail::Acl::parse(acl_text);
  if (!acl) return false;
  mail::AclSubject who;
  who.userid = poster.empty() ? "anonymous" : poster;
  who.is_anonymous = poster.empty();
  return (mail::effective_rights(*acl, who) & mail::right::kPost) != 0;
}

Status autocreate_inbox(store::Store& store, const DeliverySettings& s, const std::string& inbox,
                        const std::string& sid) {
  store::CreateMailboxRequest req;
  req.name = inbox;
  std::vector<store::CreateMailboxRequest> reqs{req};
  for (const auto& f : s.autocreate_folders) {
    auto sub = detail_to_internal(f, s.unixhierarchysep);
    if (!sub) continue;
    store::CreateMailboxRequest r;
    r.name = inbox + "." + *sub;
    reqs.push_back(r);
  }
  Status st = store.create_mailboxes(reqs);
  if (!st && st.error().code != Errc::Exists) return st;
  if (st && (s.autocreate_quota_kib > 0 || s.autocreate_quota_messages > 0)) {
    std::optional<uint64_t> kib, msgs;
    if (s.autocreate_quota_kib > 0) kib = static_cast<uint64_t>(s.autocreate_quota_kib);
    if (s.autocreate_quota_messages > 0) msgs = static_cast<uint64_t>(s.autocreate_quota_messages);
    CYR_TRY(store.set_quota(inbox, kib, msgs));
  }
  if (st) CYR_LOG(Notice, sid, "autocreate: created %s", inbox.c_str());
  return {};
}

}  // namespace

DeliverySettings delivery_settings_from_config(const config::ImapdConf& conf, std::string_view service) {
  DeliverySettings s;
  s.duplicate_suppression = conf.get_switch("duplicatesuppression", service);
  s.over_quota_perm = conf.get_switch("lmtp_over_quota_perm_failure", service);
  s.strict_quota = conf.get_switch("lmtp_strict_quota", service);
  s.downcase_rcpt = conf.get_switch("lmtp_downcase_rcpt", service);
  s.reject8bit = conf.get_switch("reject8bit", service);
  s.munge8bit = conf.get_switch("munge8bit", service);
  int64_t maxmsg = conf.get_int("maxmessagesize", service);
  if (maxmsg > 0) s.max_message_size = static_cast<uint64_t>(maxmsg);
  s.postuser = conf.get_string("postuser", service);
  s.catchall = conf.get_string("lmtp_catchall_mailbox", service);
  s.fuzzy_mailbox_match = conf.get_switch("lmtp_fuzzy_mailbox_match", service);
  s.unixhierarchysep = conf.get_switch("unixhierarchysep", service);
  s.virtdomains = conf.get_string("virtdomains", service) != "off";
  s.defaultdomain = conf.get_string("defaultdomain", service);
  s.quotawarn_percent = conf.get_int("quotawarn", service);
  s.autocreate_quota_kib = conf.get_int("autocreate_quota", service);
  s.autocreate_quota_messages = conf.get_int("autocreate_quota_messages", service);
  s.autocreate = conf.get_switch("autocreate_post", service) && s.autocreate_quota_kib >= 0;
  s.autocreate_folders = split_bar(conf.get_string("autocreate_inbox_folders", service));
  for (auto& e : sieve::configured_extensions(conf, service)) s.sieve_extensions.insert(std::move(e));
  s.sendmail = conf.get_string("sendmail", service);
  s.vacation_min_seconds = conf.get_duration("sieve_vacation_min_response", service).count();
  s.vacation_max_seconds = conf.get_duration("sieve_vacation_max_response", service).count();
  s.sieve_utf8fileinto = conf.get_switch("sieve_utf8fileinto", service);
  s.sieve_autocreate = split_bar(conf.get_string("autocreate_sieve_folders", service));
  s.any_sieve_folder = conf.get_switch("anysievefolder", service);
  if (std::string dir = conf.get_string("sievedir", service); !dir.empty()) s.sieve_global_dir = dir + "/global";
  s.sieve_max_script_bytes =
      static_cast<size_t>(std::clamp<int64_t>(conf.get_int("sieve_maxscriptsize", service), 1, 1024 * 1024)) * 1024;
  s.sieve_duplicate_max_seconds = conf.get_duration("sieve_duplicate_max_expiration", service).count();
  s.ns = store::namespace_options_from_config(conf, service);
  s.servername = conf.get_string("servername", service);
  if (s.servername.empty()) {
    char host[256] = {0};
    if (gethostname(host, sizeof host - 1) == 0) s.servername = host;
  }
  return s;
}

Result<std::string> detail_to_internal(std::string_view detail, bool unixhierarchysep) {
  if (detail.empty()) return Error(Errc::Invalid, "empty folder");
  std::string out;
  char sep = unixhierarchysep ? '/' : '.';
  for (char c : detail) {
    if (c == sep) out += '.';
    else if (unixhierarchysep && c == '.') out += '^';
    else out += c;
  }
  if (out.front() == '.' || out.back() == '.' || out.find("..") != std::string::npos)
    return Error(Errc::Invalid, "empty folder component");
  return out;
}

namespace {
Result<Target> resolve_exactly(store::Store& store, const DeliverySettings& s, const RecipientAddress& rcpt,
                               const std::string& poster, const std::string& sid);
}  // namespace

Result<Target> resolve_recipient(store::Store& store, const DeliverySettings& s,
                                 const RecipientAddress& rcpt, const std::string& poster,
                                 const std::string& sid) {
  auto t = resolve_exactly(store, s, rcpt, poster, sid);
  if (t || t.error().code != Errc::NotFound || s.catchall.empty()) return t;
  // lmtp_catchall_mailbox: mail for a user or mailbox that does not exist
  // goes to this local user's INBOX (and through their Sieve script).
  RecipientAddress catchall{s.catchall, std::nullopt, ""};
  if (rcpt.user == s.catchall && !rcpt.detail) return t;
  auto c = resolve_exactly(store, s, catchall, "", sid);
  if (!c) {
    CYR_LOG(Warning, sid, "lmtp_catchall_mailbox %s: %s", s.catchall.c_str(), c.error().describe().c_str());
    return t;
  }
  CYR_LOG(Info, sid, "rcpt %s%s%s: no such mailbox; to lmtp_catchall_mailbox %s", rcpt.user.c_str(),
          rcpt.domain.empty() ? "" : "@", rcpt.domain.c_str(), s.catchall.c_str());
  return c;
}

namespace {
// lmtp_fuzzy_mailbox_match, as Cyrus describes it: the user's folder whose
// name equals `sub` ignoring case and white space, else the same for its
// parent, and so on up; "" when none (the INBOX then gets the mail).
Result<std::string> closest_folder(store::Store& store, const std::string& inbox, const std::string& sub) {
  auto folders = store.list(inbox + ".*");
  if (!folders) return folders.take_error();
  auto squash = [](std::string_view v) {
    std::string out;
    for (char c : v)
      if (!std::isspace(static_cast<unsigned char>(c))) out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
  };
  std::string want = sub;
  while (!want.empty()) {
    const std::string key = squash(want);
    for (const auto& f : *folders)
      if (squash(std::string_view(f).substr(inbox.size() + 1)) == key) return f;
    size_t dot = want.rfind('.');
    want = dot == std::string::npos ? std::string() : want.substr(0, dot);
  }
  return std::string();
}

Result<Target> resolve_exactly(store::Store& store, const DeliverySettings& s, const RecipientAddress& rcpt,
                               const std::string& poster, const std::string& sid) {
  Target t;
  std::string domain = rcpt.domain;
  if (!s.virtdomains || domain == s.defaultdomain) domain.clear();
  auto store_error = [&](const Error& e) -> Error {
    if (e.code == Errc::NotFound) return rcpt_error(Errc::NotFound, "550 5.1.1 User unknown");
    return rcpt_error(e.code, "451 4.3.0 Temporary failure looking up the recipient", e.describe());
  };

  // postuser+folder: a shared mailbox (seed 002; an empty postuser makes
  // "+folder" the form).
  if (rcpt.detail && rcpt.user == s.postuser) {
    auto name = detail_to_internal(*rcpt.detail, s.unixhierarchysep);
    if (!name) return rcpt_error(Errc::NotFound, "550 5.1.1 Mailbox unknown");
    std::string internal = domain.empty() ? *name : domain + "!" + *name;
    if (!mail::validate_mboxname(internal) || mail::mboxname_owner(internal))
      return rcpt_error(Errc::NotFound, "550 5.1.1 Mailbox unknown");
    auto info = store.lookup(internal);
    if (!info) return store_error(info.error());
    if (!may_post(info->acl, poster))
      return rcpt_error(Errc::Perm, "550 5.7.1 Permission denied");
    t.mailbox = internal;
    t.quotaroot = info->quotaroot;
    return t;
  }

  if (rcpt.user.empty()) return rcpt_error(Errc::NotFound, "550 5.1.1 User unknown");
  std::string userid = domain.empty() ? rcpt.user : rcpt.user + "@" + domain;
  auto inbox = mail::user_inbox_name(userid, s.virtdomains);
  if (!inbox) return rcpt_error(Errc::NotFound, "550 5.1.1 User unknown");

  // The user's mailbox, and (from the same read) their active Sieve script,
  // which delivery runs.
  auto find = [&](const std::string& name) -> Result<store::MailboxInfo> {
    if (!s.sieve) return store.lookup(name);
    auto both = store.lookup_with_sieve(name, userid);
    if (!both) return both.take_error();
    t.sieve = std::move(both->second);
    return std::move(both->first);
  };
  if (rcpt.detail && !rcpt.detail->empty()) {
    auto sub = detail_to_internal(*rcpt.detail, s.unixhierarchysep);
    if (sub && mail::validate_mboxname(*inbox + "." + *sub)) {
      auto info = find(*inbox + "." + *sub);
      if (!info && info.error().code == Errc::NotFound && s.fuzzy_mailbox_match) {
        auto near = closest_folder(store, *inbox, *sub);
        if (!near) return store_error(near.error());
        if (!near->empty()) info = find(*near);
      }
      if (info && may_post(info->acl, poster)) {
        t.mailbox = info->name;
        t.quotaroot = info->quotaroot;
        t.userid = userid;
        return t;
      }
      if (!info && info.error().code != Errc::NotFound) return store_error(info.error());
    }
    // No such folder, or no p right: the INBOX gets it (seed 002).
  }
  t.userid = userid;
  auto info = find(*inbox);
  if (!info && info.error().code == Errc::NotFound && s.autocreate) {
    Status st = autocreate_inbox(store, s, *inbox, sid);
    if (!st) return store_error(st.error());
    info = find(*inbox);
  }
  if (!info) return store_error(info.error());
  t.mailbox = info->name;
  t.quotaroot = info->quotaroot;
  return t;
}
}  // namespace

Reply reply_for_store_error(const Error& e, const DeliverySettings& s) {
  switch (e.code) {
    case Errc::NoQuota:
      return s.over_quota_perm ? reply(552, "5.2.2", "Over quota") : reply(452, "4.2.2", "Over quota");
    case Errc::NotFound:
      return reply(550, "5.1.1", "User unknown");
    case Errc::Perm:
      return reply(550, "5.7.1", "Permission denied");
    case Errc::TooBig:
      return reply(552, "5.3.4", "Message size exceeds fixed maximum message size");
    case Errc::Unavailable:
      return reply(451, "4.3.0", "This server does not accept mail now (replica); try the other node");
    case Errc::Fenced:
      return reply(451, "4.3.0", "Mail store stopped after a disk error; try later");
    case Errc::NoSpace:
      return reply(452, "4.3.1", "Insufficient system storage");
    default:
      return reply(451, "4.3.0", "Temporary failure storing the message");
  }
}

std::optional<Reply> precheck_quota(store::Store& store, const DeliverySettings& s, const Target& t,
                                    uint64_t size) {
  if (t.quotaroot.empty()) return std::nullopt;
  // Cyrus's default: refuse only a mailbox that is already full; with
  // lmtp_strict_quota, also one this message would take over the limit.
  Status st = s.strict_quota ? store.check_quota(t.mailbox, std::max<uint64_t>(size, 1), 1)
                             : store.check_quota(t.mailbox, 1, 1);
  if (st) return std::nullopt;
  if (st.error().code == Errc::NoQuota) return reply_for_store_error(st.error(), s);
  return std::nullopt;  // an error reading quota is found again at delivery
}

std::optional<Reply> check_message(const DeliverySettings& s, const MessageFacts& f) {
  if (s.max_message_size > 0 && f.size > s.max_message_size)
    return reply(552, "5.3.4", "Message size exceeds fixed maximum message size");
  if (f.bare_lf) return reply(554, "5.6.0", "Message contains bare newlines");
  if (f.nul) return reply(554, "5.6.0", "Message contains NUL characters");
  if (f.header_8bit && s.reject8bit)
    return reply(554, "5.6.0", "Message contains invalid header (8-bit characters)");
  return std::nullopt;
}

std::vector<Reply> deliver_spooled(store::Store& store, store::DuplicateDb* dupdb,
                                   const DeliverySettings& s, const SpooledMessage& msg,
                                   const std::vector<Target>& targets, const std::string& sid) {
  std::vector<std::optional<Reply>> replies(targets.size());
  bool suppress = s.duplicate_suppression && dupdb && !msg.message_id.empty() &&
                  msg.message_id.size() <= store::DuplicateDb::kMaxIdLength;

  int64_t now = static_cast<int64_t>(::time(nullptr));
  // Distinct mailboxes to deliver to, each with the targets it answers.
  std::vector<std::string> strict_boxes, lenient_boxes;
  std::map<std::string, std::vector<size_t>> who;
  std::map<std::string, Reply> sieved;  // recipients whose script decided, by mailbox
  for (size_t i = 0; i < targets.size(); ++i) {
    const auto& mbox = targets[i].mailbox;
    auto it = who.find(mbox);
    if (it != who.end()) {
      it->second.push_back(i);
      continue;
    }
    if (auto done = sieved.find(mbox); done != sieved.end()) {
      replies[i] = done->second;
      continue;
    }
    if (suppress) {
      auto seen = dupdb->seen(msg.message_id, mbox);
      if (seen.ok() && *seen) {
        CYR_LOG(Notice, sid, "dupelim: eliminated duplicate message to %s id %s", mbox.c_str(),
                msg.message_id.c_str());
        replies[i] = reply(250, "2.0.0", "Ok (duplicate suppressed)");
        continue;
      }
      if (!seen.ok())
        CYR_LOG(Warning, sid, "duplicate database: %s", seen.error().describe().c_str());
    }
    // The recipient's Sieve script, if they have an active one, decides
    // where this copy goes (sieve_delivery.h).
    if (auto r = deliver_with_sieve(store, dupdb, s, msg, targets[i], sid)) {
      if (suppress && r->code == 250) {
        Status st = dupdb->mark(msg.message_id, mbox, now);
        if (!st) CYR_LOG(Warning, sid, "duplicate database: %s", st.error().describe().c_str());
      }
      replies[i] = *r;
      sieved.emplace(mbox, *r);
      continue;
    }
    who[mbox].push_back(i);
    if (!s.strict_quota && targets[i].quotaroot.empty()) {
      // No quota root at RCPT: nothing to check again (a shard read per
      // delivery saved; the RCPT-time check decides, as below).
      lenient_boxes.push_back(mbox);
    } else if (!s.strict_quota) {
      // Non-strict quota: the RCPT-time check decided; the store must not
      // refuse a message that only now crosses the limit.
      Status st = store.check_quota(mbox, 1, 1);
      if (!st && st.error().code == Errc::NoQuota) {
        for (size_t j : who[mbox]) replies[j] = reply_for_store_error(st.error(), s);
        who.erase(mbox);
        continue;
      }
      lenient_boxes.push_back(mbox);
    } else {
      strict_boxes.push_back(mbox);
    }
  }

  store::AppendMessage am;
  am.source = msg.path.empty() ? store::MessageSource::memory(msg.bytes) : store::MessageSource::file(msg.path);
  auto run = [&](const std::vector<std::string>& boxes, bool check) {
    if (boxes.empty()) return;
    auto results = store.deliver(boxes, am, check);
    for (size_t k = 0; k < boxes.size() && k < results.size(); ++k) {
      const auto& mbox = boxes[k];
      Reply r;
      if (results[k].ok()) {
        r = reply(250, "2.1.5", "Ok");
        CYR_LOG(Info, sid, "delivered: %s uid=%u size=%llu id=%s", mbox.c_str(),
                results[k]->uids.empty() ? 0u : results[k]->uids.front(),
                static_cast<unsigned long long>(msg.size),
                msg.message_id.empty() ? "-" : msg.message_id.c_str());
        if (suppress) {
          Status st = dupdb->mark(msg.message_id, mbox, now);
          if (!st) CYR_LOG(Warning, sid, "duplicate database: %s", st.error().describe().c_str());
        }
      } else {
        r = reply_for_store_error(results[k].error(), s);
        CYR_LOG(Notice, sid, "delivery to %s failed: %s", mbox.c_str(),
                results[k].error().describe().c_str());
      }
      for (size_t j : who[mbox]) replies[j] = r;
    }
  };
  run(strict_boxes, true);
  run(lenient_boxes, false);

  // quotawarn: note roots that crossed the warning level (Cyrus warns the
  // user on their next SELECT; the log lets the operator see it now).
  if (s.quotawarn_percent > 0) {
    std::map<std::string, bool> done;
    for (size_t i = 0; i < targets.size(); ++i) {
      const auto& root = targets[i].quotaroot;
      if (root.empty() || done[root] || !replies[i] || replies[i]->code != 250) continue;
      done[root] = true;
      auto q = store.get_quota(root);
      if (!q || !q->storage_limit_kib || *q->storage_limit_kib == 0) continue;
      uint64_t pct = q->storage_used_kib() * 100 / *q->storage_limit_kib;
      if (pct >= static_cast<uint64_t>(s.quotawarn_percent))
        CYR_LOG(Notice, sid, "quotawarn: %s at %llu%% of its quota", root.c_str(),
                static_cast<unsigned long long>(pct));
    }
  }

  std::vector<Reply> out;
  out.reserve(targets.size());
  for (auto& r : replies) out.push_back(r ? *r : reply(451, "4.3.0", "Temporary failure"));
  return out;
}

}  // namespace cyr::lmtpd
