// SYNC_CRC and SYNC_CRC_ANNOT. See sync_crc.h.
#include "store/sync_crc.h"

#include <array>
#include <cstdio>

namespace cyr::store::crc {

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

namespace {
struct FlagPair {
  uint32_t store_bit;
  uint32_t wire_bit;
};
constexpr FlagPair kFlagMap[] = {
    {store::kFlagAnswered, kFlagAnswered}, {store::kFlagFlagged, kFlagFlagged},
    {store::kFlagDeleted, kFlagDeleted},   {store::kFlagDraft, kFlagDraft},
    {store::kFlagSeen, kFlagSeen},         {store::kFlagExpunged, kFlagExpunged},
};
}  // namespace

uint32_t wire_flags_from_store(uint32_t s) {
  uint32_t w = 0;
  for (auto& p : kFlagMap)
    if (s & p.store_bit) w |= p.wire_bit;
  return w;
}

uint32_t store_flags_from_wire(uint32_t w) {
  uint32_t s = 0;
  for (auto& p : kFlagMap)
    if (w & p.wire_bit) s |= p.store_bit;
  return s;
}

CrcRecord crc_record_of(const MessageRecord& r) {
  CrcRecord c;
  c.uid = r.uid;
  c.modseq = r.modseq;
  c.last_updated = r.last_updated;
  c.internaldate = r.internaldate;
  c.system_flags = wire_flags_from_store(r.flags.system);
  c.user_flags = r.flags.keywords;
  c.guid = r.guid.to_hex();
  c.savedate = r.savedate;
  c.createdmodseq = r.createdmodseq;
  return c;
}

SyncCrcs record_contribution(const MessageRecord& r) {
  if (r.expunged()) return SyncCrcs{0, 0};
  CrcRecord c = crc_record_of(r);
  return SyncCrcs{record_crc_basic(c), record_crc_annot(c)};
}

SyncCrcs mailbox_crcs(const std::vector<MessageRecord>& records) {
  SyncCrcs crcs;
  for (const auto& r : records) xor_into(crcs, record_contribution(r));
  return crcs;
}

}  // namespace cyr::store::crc
