// Store <-> csync MAILBOX/RECORD conversions. See mailbox_sync.h.
#include "sync/mailbox_sync.h"

#include <string>

namespace cyr::sync {

namespace {

struct OptionLetter {
  char letter;
  uint32_t bit;
};
constexpr OptionLetter kOptionLetters[] = {{'P', 1u << 0}, {'S', 1u << 1}, {'D', 1u << 2}, {'A', 1u << 3}};

}  // namespace

std::string options_to_letters(uint32_t options) {
  std::string out;
  for (auto& o : kOptionLetters)
    if (options & o.bit) out.push_back(o.letter);
  return out;
}

uint32_t options_from_letters(std::string_view letters) {
  uint32_t bits = 0;
  for (char c : letters)
    for (auto& o : kOptionLetters)
      if (c == o.letter) bits |= o.bit;
  return bits;
}

Value record_to_dlist(const store::MessageRecord& r) {
  Value v = Value::kvlist();
  v.add_num("UID", r.uid);
  v.add_num("MODSEQ", r.modseq);
  v.add_date("LAST_UPDATED", r.last_updated);
  v.add("FLAGS", flags_to_dlist(wire_flags_from_store(r.flags.system), r.flags.keywords));
  v.add_date("INTERNALDATE", r.internaldate);
  v.add_num("SIZE", r.size);
  v.add_guid("GUID", r.guid.to_hex());
  Value annots = Value::list();
  auto virt = [&](std::string_view entry, uint64_t n) {
    Value a = Value::kvlist();
    a.add_str("ENTRY", std::string(entry));
    a.add_str("USERID", "");
    a.add_num("MODSEQ", 0);
    a.add_str("VALUE", std::to_string(n));  // a string, as a decoded value would be
    annots.push(std::move(a));
  };
  if (r.savedate) virt(kAnnotSavedate, static_cast<uint64_t>(r.savedate));
  if (r.createdmodseq) virt(kAnnotCreatedModseq, r.createdmodseq);
  if (!annots.items().empty()) v.add("ANNOTATIONS", std::move(annots));
  return v;
}

Result<store::MessageRecord> record_from_dlist(const Value& v) {
  auto c = crc_record_from_dlist(v);
  if (!c.ok()) return c.take_error();
  auto size = v.get_num("SIZE");
  if (!size.ok()) return size.take_error();
  auto guid = mail::MessageGuid::from_hex(c->guid);
  if (!guid.ok()) return guid.take_error();
  store::MessageRecord r;
  r.uid = c->uid;
  if (r.uid == 0) return Error(Errc::Invalid, "bad parameter UID: zero");
  r.modseq = c->modseq;
  r.last_updated = c->last_updated;
  r.internaldate = c->internaldate;
  r.flags.system = store_flags_from_wire(c->system_flags);
  r.flags.keywords = c->user_flags;
  r.guid = *guid;
  r.size = *size;
  r.savedate = c->savedate;
  r.createdmodseq = c->createdmodseq;
  return r;
}

store::MailboxCounters counters_of(const MailboxState& m) {
  store::MailboxCounters c;
  c.last_uid = m.last_uid;
  c.highestmodseq = m.highestmodseq;
  c.recentuid = m.recentuid;
  c.recenttime = m.recenttime;
  c.last_appenddate = m.last_appenddate;
  c.pop3_last_login = m.pop3_last_login;
  c.pop3_show_after = m.pop3_show_after;
  if (m.createdmodseq) c.createdmodseq = m.createdmodseq;
  if (m.foldermodseq) c.foldermodseq = m.foldermodseq;
  c.options = m.options;
  return c;
}

MailboxState mailbox_state_of(const store::MailboxInfo& i, const SyncCrcs& crcs) {
  MailboxState m;
  m.uniqueid = i.uniqueid;
  m.name = i.name;
  m.partition = i.partition;
  m.acl = i.acl;
  m.options = i.options;
  m.crcs = crcs;
  m.last_uid = i.last_uid;
  m.highestmodseq = i.highestmodseq;
  m.recentuid = i.recentuid;
  m.recenttime = i.recenttime;
  m.last_appenddate = i.last_appenddate;
  m.pop3_last_login = i.pop3_last_login;
  m.pop3_show_after = i.pop3_show_after;
  m.uidvalidity = i.uidvalidity;
  m.createdmodseq = i.createdmodseq;
  m.foldermodseq = i.foldermodseq;
  m.quotaroot = i.quotaroot;
  return m;
}

Value mailbox_to_dlist(const MailboxState& m, bool with_records) {
  Value v = Value::kvlist();
  v.add_str("UNIQUEID", m.uniqueid);
  v.add_str("MBOXNAME", m.name);
  if (!m.mbtype.empty()) v.add_str("MBOXTYPE", m.mbtype);
  v.add_num("SYNC_CRC", m.crcs.basic);
  v.add_num("SYNC_CRC_ANNOT", m.crcs.annot);
  v.add_num("LAST_UID", m.last_uid);
  v.add_num("HIGHESTMODSEQ", m.highestmodseq);
  v.add_num("RECENTUID", m.recentuid);
  v.add_date("RECENTTIME", m.recenttime);
  v.add_date("LAST_APPENDDATE", m.last_appenddate);
  v.add_date("POP3_LAST_LOGIN", m.pop3_last_login);
  v.add_date("POP3_SHOW_AFTER", m.pop3_show_after);
  v.add_num("UIDVALIDITY", m.uidvalidity);
  v.add_str("PARTITION", m.partition);
  v.add_str("ACL", m.acl);
  v.add_str("OPTIONS", options_to_letters(m.options));
  if (!m.quotaroot.empty()) v.add_str("QUOTAROOT", m.quotaroot);
  v.add_num("CREATEDMODSEQ", m.createdmodseq);
  v.add_num("FOLDERMODSEQ", m.foldermodseq);
  if (!m.annotations.empty()) {
    Value annots = Value::list();
    for (const auto& a : m.annotations) {
      Value item = Value::kvlist();
      item.add_str("ENTRY", a.entry);
      item.add_str("USERID", a.userid);
      item.add_num("MODSEQ", a.modseq);
      item.add_str("VALUE", a.value);
      annots.push(std::move(item));
    }
    v.add("ANNOTATIONS", std::move(annots));
  }
  if (m.since_modseq) {
    v.add_num("SINCE_MODSEQ", *m.since_modseq);
    v.add_num("SINCE_CRC", m.since_crcs.basic);
    v.add_num("SINCE_CRC_ANNOT", m.since_crcs.annot);
  }
  if (with_records) {
    Value recs = Value::list();
    for (const auto& r : m.records) recs.push(record_to_dlist(r));
    v.add("RECORD", std::move(recs));
  }
  return v;
}

Result<MailboxState> mailbox_state_from_dlist(const Value& v, bool strict) {
  if (v.kind() != ValueKind::KvList) return Error(Errc::Invalid, "bad parameter MAILBOX: expected a key/value list");
  MailboxState m;
  auto str = [&](std::string_view key, std::string& out, bool required) -> Status {
    if (!v.has(key)) {
      if (required) return Error(Errc::Invalid, "bad parameter " + std::string(key) + ": missing");
      return {};
    }
    auto s = v.get_str(key);
    if (!s.ok()) return s.take_error();
    out = std::string(*s);
    return {};
  };
  auto num = [&](std::string_view key, auto& out, bool required) -> Status {
    if (!v.has(key)) {
      if (required) return Error(Errc::Invalid, "bad parameter " + std::string(key) + ": missing");
      return {};
    }
    auto n = v.get_num(key);
    if (!n.ok()) return n.take_error();
    out = static_cast<std::remove_reference_t<decltype(out)>>(*n);
    return {};
  };
  CYR_TRY(str("UNIQUEID", m.uniqueid, true));
  CYR_TRY(str("MBOXNAME", m.name, true));
  CYR_TRY(str("MBOXTYPE", m.mbtype, false));
  for (char c : m.mbtype)
    if (std::string_view("enspbcafdmrzil").find(c) == std::string_view::npos)
      return Error(Errc::Invalid, "bad parameter MBOXTYPE: unknown letter");
  CYR_TRY(num("HIGHESTMODSEQ", m.highestmodseq, true));
  // Intermediate and deleted placeholders carry only a short header.
  bool req = strict && !m.intermediate() && !m.deleted();
  bool reply_req = !m.intermediate() && !m.deleted();
  CYR_TRY(num("SYNC_CRC", m.crcs.basic, false));
  CYR_TRY(num("SYNC_CRC_ANNOT", m.crcs.annot, false));
  CYR_TRY(num("LAST_UID", m.last_uid, reply_req));
  CYR_TRY(num("RECENTUID", m.recentuid, reply_req));
  CYR_TRY(num("RECENTTIME", m.recenttime, reply_req));
  CYR_TRY(num("LAST_APPENDDATE", m.last_appenddate, req));
  CYR_TRY(num("POP3_LAST_LOGIN", m.pop3_last_login, reply_req));
  CYR_TRY(num("POP3_SHOW_AFTER", m.pop3_show_after, false));
  CYR_TRY(num("UIDVALIDITY", m.uidvalidity, reply_req));
  CYR_TRY(str("PARTITION", m.partition, reply_req));
  CYR_TRY(str("ACL", m.acl, reply_req));
  std::string options;
  CYR_TRY(str("OPTIONS", options, reply_req));
  m.options = options_from_letters(options);
  CYR_TRY(str("QUOTAROOT", m.quotaroot, false));
  CYR_TRY(num("CREATEDMODSEQ", m.createdmodseq, false));
  CYR_TRY(num("FOLDERMODSEQ", m.foldermodseq, false));
  if (const Value* annots = v.child("ANNOTATIONS")) {
    if (annots->kind() != ValueKind::List)
      return Error(Errc::Invalid, "bad parameter ANNOTATIONS: expected a list");
    if (annots->items().size() > 10000) return Error(Errc::Limit, "bad parameter ANNOTATIONS: too many");
    for (const Value& item : annots->items()) {
      store::Annotation a;
      auto entry = item.get_str("ENTRY");
      if (!entry.ok()) return entry.take_error();
      a.entry = std::string(*entry);
      if (const Value* u = item.child("USERID"); u && !u->is_nil()) {
        auto us = u->as_str();
        if (!us.ok()) return us.take_error();
        a.userid = std::string(*us);
      }
      if (item.has("MODSEQ")) {
        auto ms = item.get_num("MODSEQ");
        if (!ms.ok()) return ms.take_error();
        a.modseq = *ms;
      }
      auto value = item.get_str("VALUE");
      if (!value.ok()) return value.take_error();
      a.value = std::string(*value);
      m.annotations.push_back(std::move(a));
    }
  }
  if (v.has("SINCE_MODSEQ")) {
    store::ModSeq since = 0;
    CYR_TRY(num("SINCE_MODSEQ", since, true));
    if (since) m.since_modseq = since;
    CYR_TRY(num("SINCE_CRC", m.since_crcs.basic, false));
    CYR_TRY(num("SINCE_CRC_ANNOT", m.since_crcs.annot, false));
  }
  if (const Value* recs = v.child("RECORD")) {
    if (recs->kind() != ValueKind::List) return Error(Errc::Invalid, "bad parameter RECORD: expected a list");
    m.has_records = true;
    m.records.reserve(recs->items().size());
    store::Uid prev = 0;
    for (const Value& item : recs->items()) {
      auto r = record_from_dlist(item);
      if (!r.ok()) return r.take_error();
      if (r->uid <= prev) return Error(Errc::Invalid, "bad parameter RECORD: UIDs not ascending");
      prev = r->uid;
      m.records.push_back(std::move(*r));
    }
  } else if (req) {
    return Error(Errc::Invalid, "bad parameter RECORD: missing");
  }
  return m;
}

std::string user_inbox_name(std::string_view userid) {
  std::string_view local = userid;
  std::string domain;
  if (auto at = userid.find('@'); at != std::string_view::npos) {
    local = userid.substr(0, at);
    domain = std::string(userid.substr(at + 1));
  }
  std::string name = domain.empty() ? "" : domain + "!";
  name += "user.";
  for (char c : local) name.push_back(c == '.' ? '^' : c);
  return name;
}

}  // namespace cyr::sync
