#include "sync/sync_crc.h"

#include <gtest/gtest.h>

#include "sync/sync_frame.h"
#include "tests/unit/sync/vectors.h"

namespace cyr::sync {
namespace {

const std::string kGuid = "0bebcde85cb6536dd0c48a93101edfab2dcf5777";

// The record of reference §4.7 / §6.1: uid 1, modseq 4, \Seen, savedate
// and createdmodseq as virtual annotations.
CrcRecord worked_record() {
  CrcRecord r;
  r.uid = 1;
  r.modseq = 4;
  r.last_updated = 1650000000;
  r.internaldate = 1650000000;
  r.system_flags = kFlagSeen;
  r.guid = kGuid;
  r.savedate = 1650000000;
  r.createdmodseq = 4;
  return r;
}

TEST(Crc32, StandardCheckValues) {
  EXPECT_EQ(crc32("123456789"), 0xCBF43926u);
  EXPECT_EQ(crc32(""), 0u);
  EXPECT_EQ(crc32("a"), 0xE8B7BE43u);
  // Chaining like zlib: crc32(crc32(a), b) == crc32(a + b).
  EXPECT_EQ(crc32("56789", crc32("1234")), 0xCBF43926u);
}

TEST(SyncCrc, FlagCrcFoldsCaseAndSkipsExpunged) {
  // Reference §6.1: crc32("\seen") = 3201761491; §4.7: \flagged ^ \seen = 1396898188.
  EXPECT_EQ(flag_crc(kFlagSeen, {}), 3201761491u);
  EXPECT_EQ(flag_crc(kFlagSeen | kFlagFlagged, {}), 1396898188u);
  EXPECT_EQ(flag_crc(kFlagSeen | kFlagExpunged, {}), 3201761491u);
  EXPECT_EQ(flag_crc(0, {}), 0u);
  EXPECT_EQ(flag_crc(0, {"$Forwarded"}), crc32("$forwarded"));
  EXPECT_EQ(flag_crc(0, {"$Forwarded"}), flag_crc(0, {"$FORWARDED"}));
  // XOR: order does not matter, and a flag listed twice cancels out.
  EXPECT_EQ(flag_crc(kFlagDraft, {"a", "b"}), flag_crc(kFlagDraft, {"b", "a"}));
  EXPECT_EQ(flag_crc(0, {"a", "a"}), 0u);
}

TEST(SyncCrc, BasicWorkedValues) {
  CrcRecord r = worked_record();
  EXPECT_EQ(basic_crc_text(r),
            "1 4 1650000000 (3201761491) 1650000000 0bebcde85cb6536dd0c48a93101edfab2dcf5777");
  EXPECT_EQ(record_crc_basic(r), 4247692495u);
  // After \Flagged was added at 1650000100 with modseq 5 (§4.7).
  r.modseq = 5;
  r.last_updated = 1650000100;
  r.system_flags |= kFlagFlagged;
  EXPECT_EQ(record_crc_basic(r), 3343119794u);
  // No flags: "(0)".
  r.system_flags = 0;
  EXPECT_EQ(basic_crc_text(r),
            "1 5 1650000100 (0) 1650000000 0bebcde85cb6536dd0c48a93101edfab2dcf5777");
}

TEST(SyncCrc, AnnotWorkedValue) {
  // Reference §4.7: 12345678 ^ crc32("1 /vendor/cmu/cyrus-imapd/savedate  1650000000")
  //                        ^ crc32("1 /vendor/cmu/cyrus-imapd/createdmodseq  4") = 151170125.
  std::vector<CrcRecord> records{worked_record()};
  SyncCrcs c = sync_crcs(records);
  EXPECT_EQ(c.basic, 4247692495u);
  EXPECT_EQ(c.annot, 151170125u);
  // Before 3.2 the annot CRC started at 0.
  CrcOptions old;
  old.annot_init = kCrcInitAnnotBefore32;
  EXPECT_EQ(sync_crcs(records, old).annot, 151170125u ^ 12345678u);
  // The virtual entries count only from the index version that has them.
  CrcOptions v15;
  v15.index_version = 15;  // savedate yes, createdmodseq no
  EXPECT_EQ(sync_crcs(records, v15).annot,
            12345678u ^ crc32("1 /vendor/cmu/cyrus-imapd/savedate  1650000000"));
  CrcOptions v14;
  v14.index_version = 14;
  EXPECT_EQ(sync_crcs(records, v14).annot, 12345678u);
}

TEST(SyncCrc, AnnotRulesDerivedFromTheAlgorithm) {
  // No worked value in the reference for these; expected values follow the
  // stated text formats, CRC-32 checked above against the standard value.
  CrcRecord r;
  r.uid = 7;
  r.guid = kGuid;
  r.annotations = {{"/comment", "", "hello"}, {"/comment", "fred", "mine"}, {"/empty", "", ""}};
  EXPECT_EQ(record_crc_annot(r),
            crc32("7 /comment  hello") ^ crc32("7 /comment fred mine"));  // empty value skipped
  // thrid is written %llx: lower-case hex without leading zeros.
  r.annotations.clear();
  r.cid = 0xab;
  EXPECT_EQ(record_crc_annot(r), crc32("7 /vendor/cmu/cyrus-imapd/thrid  ab"));
  EXPECT_NE(record_crc_annot(r), crc32("7 /vendor/cmu/cyrus-imapd/thrid  00000000000000ab"));
  // A copy of a virtual entry in the list is not counted a second time.
  r.annotations = {{std::string(kAnnotThrid), "", "00000000000000ab"}};
  EXPECT_EQ(record_crc_annot(r), crc32("7 /vendor/cmu/cyrus-imapd/thrid  ab"));
  // Values are bytes: binary data counts as is.
  r.cid = 0;
  r.annotations = {{"/bin", "", std::string("a\0b", 3)}};
  EXPECT_EQ(record_crc_annot(r), crc32(std::string("7 /bin  a\0b", 11)));
}

TEST(SyncCrc, ExpungedRecordsDoNotCount) {
  CrcRecord a = worked_record();
  CrcRecord b = worked_record();
  b.uid = 2;
  b.system_flags = kFlagExpunged | kFlagSeen;
  EXPECT_EQ(record_crc_basic(b), 0u);
  EXPECT_EQ(record_crc_annot(b), 0u);
  EXPECT_EQ(sync_crcs({a, b}), sync_crcs({a}));
  // Empty mailbox: the starting values.
  SyncCrcs empty = sync_crcs({});
  EXPECT_EQ(empty.basic, 0u);
  EXPECT_EQ(empty.annot, 12345678u);
}

TEST(SyncCrc, XorAllowsIncrementalUpkeep) {
  CrcRecord a = worked_record();
  CrcRecord b = worked_record();
  b.uid = 2;
  b.modseq = 9;
  b.user_flags = {"$Junk"};
  SyncCrcs both = sync_crcs({a, b});
  EXPECT_EQ(both.basic, record_crc_basic(a) ^ record_crc_basic(b));
  EXPECT_EQ(both.annot, 12345678u ^ record_crc_annot(a) ^ record_crc_annot(b));
  // Expunging b = XOR it out again.
  EXPECT_EQ(both.basic ^ record_crc_basic(b), sync_crcs({a}).basic);
}

TEST(SyncCrc, ZeroMeansDoNotCompare) {
  EXPECT_TRUE(sync_crcs_match({1, 2}, {1, 2}));
  EXPECT_FALSE(sync_crcs_match({1, 2}, {3, 2}));
  EXPECT_FALSE(sync_crcs_match({1, 2}, {1, 3}));
  EXPECT_TRUE(sync_crcs_match({0, 2}, {3, 2}));
  EXPECT_TRUE(sync_crcs_match({1, 0}, {1, 3}));
  EXPECT_TRUE(sync_crcs_match({0, 0}, {5, 6}));
}

TEST(SyncCrc, FlagsWireOrder) {
  Value v = flags_to_dlist(kFlagSeen | kFlagDeleted | kFlagExpunged | kFlagDraft, {"$Forwarded"});
  EXPECT_EQ(*encode_value(v), "(\\Deleted \\Draft \\Expunged \\Seen $Forwarded)");
  EXPECT_EQ(*encode_value(flags_to_dlist(0, {})), "()");
}

// The CRCs that the recorded APPLY MAILBOX lines carry equal the CRCs
// computed from the RECORD items on the same lines.
TEST(SyncCrc, MatchesRecordedApplyMailbox) {
  testing::Exchange ex;
  ASSERT_TRUE(testing::load_exchange("new_user_then_flag.exchange", &ex));
  auto cmds = decode_commands(ex.client);
  ASSERT_TRUE(cmds.ok());
  int checked = 0;
  for (const SyncCommand& c : *cmds) {
    if (c.name != "MAILBOX") continue;
    std::vector<CrcRecord> records;
    for (const Value& rv : (*c.arg.get_list("RECORD"))->items()) {
      auto r = crc_record_from_dlist(rv);
      ASSERT_TRUE(r.ok()) << r.error().describe();
      records.push_back(std::move(r.value()));
    }
    SyncCrcs crcs = sync_crcs(records);
    EXPECT_EQ(crcs.basic, *c.arg.get_num("SYNC_CRC"));
    EXPECT_EQ(crcs.annot, *c.arg.get_num("SYNC_CRC_ANNOT"));
    ++checked;
  }
  EXPECT_EQ(checked, 2);
}

TEST(SyncCrc, RecordFromDlistRules) {
  auto v = decode_value(
      "%(UID 3 MODSEQ 9 LAST_UPDATED 100 FLAGS (\\seen \\RECENT $Label) INTERNALDATE 50 SIZE 1 "
      "GUID 0BEBCDE85CB6536DD0C48A93101EDFAB2DCF5777 ANNOTATIONS ("
      "%(ENTRY /vendor/cmu/cyrus-imapd/thrid USERID NIL VALUE 00000000000000ff) "
      "%(ENTRY /comment USERID fred MODSEQ 3 VALUE hi)))");
  ASSERT_TRUE(v.ok()) << v.error().describe();
  auto r = crc_record_from_dlist(*v);
  ASSERT_TRUE(r.ok()) << r.error().describe();
  EXPECT_EQ(r->system_flags, uint32_t(kFlagSeen));  // case-insensitive; \Recent ignored
  ASSERT_EQ(r->user_flags.size(), 1u);
  EXPECT_EQ(r->guid, kGuid);
  EXPECT_EQ(r->cid, 0xffu);
  ASSERT_EQ(r->annotations.size(), 1u);
  EXPECT_EQ(r->annotations[0].userid, "fred");

  auto missing = decode_value("%(UID 3 MODSEQ 9 LAST_UPDATED 1 FLAGS () INTERNALDATE 1 GUID 00)");
  auto bad = crc_record_from_dlist(*missing);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().user_message.find("GUID"), std::string::npos);
  EXPECT_FALSE(crc_record_from_dlist(Value::list()).ok());
}

}  // namespace
}  // namespace cyr::sync
