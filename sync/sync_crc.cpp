#include "sync/sync_crc.h"

#include <array>
#include <cstdio>
#include <strings.h>

namespace cyr::sync {

namespace {

constexpr std::array<uint32_t, 256> make_crc_table() {
  std::array<uint32_t, 256> t{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (0xEDB88320u ^ (c >> 1)) : (c >> 1);
    t[i] = c;
  }
  return t;
}

constexpr std::array<uint32_t, 256> kCrcTable = make_crc_table();

uint32_t crc32_of_lower(std::string_view s) {
  std::string lower(s);
  for (char& c : lower)
    if (c >= 'A' && c <= 'Z') c = char(c - 'A' + 'a');
  return crc32(lower);
}

// The wire order of system flags in FLAGS.
constexpr SystemFlag kWireOrder[] = {kFlagDeleted, kFlagAnswered, kFlagFlagged,
                                     kFlagDraft,   kFlagExpunged, kFlagSeen};

std::string u64(uint64_t n) { return std::to_string(n); }

}  // namespace

uint32_t crc32(std::string_view bytes, uint32_t crc) {
  crc = ~crc;
  for (unsigned char b : bytes) crc = kCrcTable[(crc ^ b) & 0xFF] ^ (crc >> 8);
  return ~crc;
}

const char* system_flag_name(SystemFlag f) {
  switch (f) {
    case kFlagDeleted: return "\\Deleted";
    case kFlagAnswered: return "\\Answered";
    case kFlagFlagged: return "\\Flagged";
    case kFlagDraft: return "\\Draft";
    case kFlagSeen: return "\\Seen";
    case kFlagExpunged: return "\\Expunged";
  }
  return nullptr;
}

uint32_t flag_crc(uint32_t system_flags, const std::vector<std::string>& user_flags) {
  uint32_t x = 0;
  // \Expunged is a record state, not a flag a client sees, so it is left out.
  for (SystemFlag f : {kFlagDeleted, kFlagAnswered, kFlagFlagged, kFlagDraft, kFlagSeen})
    if (system_flags & f) x ^= crc32_of_lower(system_flag_name(f));
  for (const std::string& name : user_flags) x ^= crc32_of_lower(name);
  return x;
}

std::string basic_crc_text(const CrcRecord& r) {
  // Cyrus formats the times as signed time_t; modseq and uid are unsigned.
  std::string s = u64(r.uid);
  s += ' ';
  s += u64(r.modseq);
  s += ' ';
  s += std::to_string(r.last_updated);
  s += " (";
  s += u64(flag_crc(r.system_flags, r.user_flags));
  s += ") ";
  s += std::to_string(r.internaldate);
  s += ' ';
  s += r.guid;
  return s;
}

uint32_t record_crc_basic(const CrcRecord& r) {
  if (r.expunged()) return 0;
  return crc32(basic_crc_text(r));
}

namespace {

uint32_t annot_crc(uint32_t uid, std::string_view entry, std::string_view userid,
                   std::string_view value) {
  std::string s = u64(uid);
  s += ' ';
  s.append(entry);
  s += ' ';
  s.append(userid);
  s += ' ';
  s.append(value);
  return crc32(s);
}

bool is_virtual_entry(std::string_view e) {
  return e == kAnnotThrid || e == kAnnotSavedate || e == kAnnotCreatedModseq;
}

}  // namespace

uint32_t record_crc_annot(const CrcRecord& r, const CrcOptions& opts) {
  if (r.expunged()) return 0;
  uint32_t x = 0;
  for (const CrcAnnotation& a : r.annotations) {
    // Virtual entries come from the record fields; counting a copy from the
    // list as well would count them twice.
    if (a.value.empty() || is_virtual_entry(a.entry)) continue;
    x ^= annot_crc(r.uid, a.entry, a.userid, a.value);
  }
  if (r.cid != 0 && opts.index_version >= 13) {
    char buf[17];
    // %llx: no leading zeros here, unlike the 16-digit wire form.
    std::snprintf(buf, sizeof buf, "%llx", static_cast<unsigned long long>(r.cid));
    x ^= annot_crc(r.uid, kAnnotThrid, "", buf);
  }
  if (r.savedate != 0 && opts.index_version >= 15)
    x ^= annot_crc(r.uid, kAnnotSavedate, "", std::to_string(r.savedate));
  if (r.createdmodseq != 0 && opts.index_version >= 16)
    x ^= annot_crc(r.uid, kAnnotCreatedModseq, "", u64(r.createdmodseq));
  return x;
}

SyncCrcs sync_crcs(const std::vector<CrcRecord>& records, const CrcOptions& opts) {
  SyncCrcs c;
  c.basic = kCrcInitBasic;
  c.annot = opts.annot_init;
  for (const CrcRecord& r : records) {
    c.basic ^= record_crc_basic(r);
    c.annot ^= record_crc_annot(r, opts);
  }
  return c;
}

bool sync_crcs_match(const SyncCrcs& a, const SyncCrcs& b) {
  if (a.basic && b.basic && a.basic != b.basic) return false;
  if (a.annot && b.annot && a.annot != b.annot) return false;
  return true;
}

Result<CrcRecord> crc_record_from_dlist(const Value& record) {
  if (record.kind() != ValueKind::KvList)
    return Error(Errc::Invalid, "bad parameter RECORD: expected a key/value list");
  CrcRecord r;
  auto uid = record.get_num32("UID");
  CYR_TRY(uid);
  r.uid = *uid;
  auto modseq = record.get_num("MODSEQ");
  CYR_TRY(modseq);
  r.modseq = *modseq;
  auto lu = record.get_date("LAST_UPDATED");
  CYR_TRY(lu);
  r.last_updated = *lu;
  auto idate = record.get_date("INTERNALDATE");
  CYR_TRY(idate);
  r.internaldate = *idate;
  auto guid = record.get_guid("GUID");
  CYR_TRY(guid);
  r.guid = std::move(guid.value());
  auto flags = record.get_list("FLAGS");
  CYR_TRY(flags);
  for (const Value& f : (*flags)->items()) {
    if (f.kind() == ValueKind::Flag) {
      // Unknown system flags (\Recent among them) are ignored, as Cyrus does.
      for (SystemFlag sf : kWireOrder)
        if (strcasecmp(f.bytes().c_str(), system_flag_name(sf)) == 0) r.system_flags |= sf;
    } else if (f.kind() == ValueKind::String) {
      r.user_flags.push_back(f.bytes());
    } else {
      return Error(Errc::Invalid, "bad parameter FLAGS: expected flag names");
    }
  }
  if (const Value* annots = record.child("ANNOTATIONS")) {
    if (annots->kind() != ValueKind::List)
      return Error(Errc::Invalid, "bad parameter ANNOTATIONS: expected a list");
    for (const Value& a : annots->items()) {
      auto entry = a.get_str("ENTRY");
      CYR_TRY(entry);
      // 2.5/3.0 peers wrote the thrid USERID as NIL; it means shared, like "".
      std::string uid_str;
      const Value* userid = a.child("USERID");
      if (!userid) return Error(Errc::Invalid, "bad parameter USERID: missing");
      if (!userid->is_nil()) {
        auto u = userid->as_str();
        CYR_TRY(u);
        uid_str = std::string(*u);
      }
      auto value = a.get_str("VALUE");
      CYR_TRY(value);
      if (*entry == kAnnotThrid) {
        auto cid = a.child("VALUE")->as_hex64();
        CYR_TRY(cid);
        r.cid = *cid;
      } else if (*entry == kAnnotSavedate) {
        auto t = a.child("VALUE")->as_date();
        CYR_TRY(t);
        r.savedate = *t;
      } else if (*entry == kAnnotCreatedModseq) {
        auto m = a.child("VALUE")->as_num();
        CYR_TRY(m);
        r.createdmodseq = *m;
      } else {
        r.annotations.push_back({std::string(*entry), uid_str, std::string(*value)});
      }
    }
  }
  return r;
}

Value flags_to_dlist(uint32_t system_flags, const std::vector<std::string>& user_flags) {
  Value list = Value::list();
  for (SystemFlag f : kWireOrder)
    if (system_flags & f) list.push(Value::flag(system_flag_name(f)));
  for (const std::string& name : user_flags) list.push(Value::str(name));
  return list;
}

}  // namespace cyr::sync
