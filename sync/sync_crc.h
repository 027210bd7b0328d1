// SYNC_CRC on the wire: the CRC functions themselves live in the store
// (store/sync_crc.h), which keeps each mailbox's pair up to date with every
// record write; this header brings them into cyr::sync and adds the
// conversions between csync RECORD items and the CRC's view of a record.
// Pure functions; thread-safe.
#pragma once

#include "store/base/result.h"
#include "store/sync_crc.h"
#include "sync/dlist.h"

namespace cyr::sync {

using store::crc::crc32;
using store::crc::kCrcInitBasic;
using store::crc::kCrcInitAnnot;
using store::crc::kCrcInitAnnotBefore32;
using store::crc::SystemFlag;
using store::crc::kFlagDeleted;
using store::crc::kFlagAnswered;
using store::crc::kFlagFlagged;
using store::crc::kFlagDraft;
using store::crc::kFlagSeen;
using store::crc::kFlagExpunged;
using store::crc::system_flag_name;
using store::crc::CrcAnnotation;
using store::crc::CrcRecord;
using store::crc::CrcOptions;
using store::crc::SyncCrcs;
using store::crc::flag_crc;
using store::crc::basic_crc_text;
using store::crc::record_crc_basic;
using store::crc::record_crc_annot;
using store::crc::sync_crcs;
using store::crc::sync_crcs_match;
using store::crc::kAnnotThrid;
using store::crc::kAnnotSavedate;
using store::crc::kAnnotCreatedModseq;

// Builds a CrcRecord from one wire RECORD %(UID MODSEQ LAST_UPDATED FLAGS
// INTERNALDATE SIZE GUID [ANNOTATIONS]) item: system flags are matched
// case-insensitively, virtual annotations go to their fields. Errors are
// Errc::Invalid naming the bad key.
Result<CrcRecord> crc_record_from_dlist(const Value& record);

// The FLAGS list as Cyrus writes it: system flags in wire order, then user flags.
Value flags_to_dlist(uint32_t system_flags, const std::vector<std::string>& user_flags);

}  // namespace cyr::sync
