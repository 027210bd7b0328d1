// csync RECORD items <-> the CRC's view of a record. See sync_crc.h.
#include "sync/sync_crc.h"

#include <strings.h>

namespace cyr::sync {

namespace {

// The wire order of system flags in FLAGS.
constexpr SystemFlag kWireOrder[] = {kFlagDeleted, kFlagAnswered, kFlagFlagged,
                                     kFlagDraft,   kFlagExpunged, kFlagSeen};

}  // namespace

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
