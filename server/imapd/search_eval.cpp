#include "server/imapd/search_eval.h"

#include <algorithm>
#include <ctime>

#include "server/imap/parser_args.h"

namespace cyr::imapd {

using imap::SearchKey;
using K = imap::SearchKey::Kind;

namespace {

int compare_dates(const imap::Date& a, const imap::Date& b) {
  if (a.year != b.year) return a.year < b.year ? -1 : 1;
  if (a.month != b.month) return a.month < b.month ? -1 : 1;
  if (a.day != b.day) return a.day < b.day ? -1 : 1;
  return 0;
}

// Lower-cases ASCII and the Latin-1 supplement letters (U+00C0..U+00DE) in
// UTF-8, which covers the text search expectations of most mail.
std::string fold(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      out += static_cast<char>(std::tolower(c));
    } else if (c == 0xC3 && i + 1 < s.size()) {
      unsigned char d = static_cast<unsigned char>(s[i + 1]);
      if (d >= 0x80 && d <= 0x9E && d != 0x97) d = static_cast<unsigned char>(d + 0x20);
      out += static_cast<char>(c);
      out += static_cast<char>(d);
      ++i;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

std::string header_block_of(const mail::MessageStructure& st, const std::string& bytes) {
  uint64_t size = std::min<uint64_t>(st.root.header_size, bytes.size());
  return bytes.substr(0, size);
}

// Every value of a header field, decoded for display (RFC 2047).
std::vector<std::string> decoded_headers(const std::string& block, std::string_view name) {
  std::vector<std::string> out;
  for (auto& v : mail::find_all_headers(block, name)) out.push_back(mail::decode_rfc2047(v));
  return out;
}

bool header_contains(SearchMessage& msg, std::string_view name, std::string_view needle) {
  const std::string* bytes = msg.bytes ? msg.bytes() : nullptr;
  const mail::MessageStructure* st = msg.structure ? msg.structure() : nullptr;
  if (!bytes || !st) return false;
  std::string block = header_block_of(*st, *bytes);
  auto values = decoded_headers(block, name);
  // HEADER name "" matches any message that has the field (RFC 3501 6.4.4).
  if (needle.empty()) return !mail::find_all_headers(block, name).empty();
  for (const auto& v : values)
    if (contains_folded(v, needle)) return true;
  return false;
}

// Text of the leaf parts, transfer-decoded and converted to UTF-8.
void collect_body_text(const mail::BodyPart& part, const std::string& bytes, std::string& out,
                       size_t depth) {
  if (depth > 64 || out.size() > (64u << 20)) return;
  if (part.is_multipart()) {
    for (const auto& c : part.children) collect_body_text(c, bytes, out, depth + 1);
    return;
  }
  if (part.is_message() && !part.children.empty()) {
    const auto& inner = part.children.front();
    if (inner.header_offset < bytes.size()) {
      std::string hdr = bytes.substr(inner.header_offset, inner.header_size);
      out += mail::decode_rfc2047(hdr);
      out += '\n';
    }
    collect_body_text(inner, bytes, out, depth + 1);
    return;
  }
  if (part.body_offset >= bytes.size()) return;
  std::string_view raw(bytes.data() + part.body_offset,
                       std::min<uint64_t>(part.body_size, bytes.size() - part.body_offset));
  out += decoded_part_text(part, raw);
  out += '\n';
}

bool body_contains(SearchMessage& msg, std::string_view needle) {
  const std::string* bytes = msg.bytes ? msg.bytes() : nullptr;
  const mail::MessageStructure* st = msg.structure ? msg.structure() : nullptr;
  if (!bytes || !st) return false;
  std::string text;
  collect_body_text(st->root, *bytes, text, 0);
  return contains_folded(text, needle);
}

bool set_contains(const imap::SequenceSet& set, uint32_t n, uint32_t star,
                  const std::vector<store::Uid>* saved, bool by_uid, store::Uid uid) {
  if (set.saved_result) {
    if (!saved) return false;
    return std::binary_search(saved->begin(), saved->end(), uid);
  }
  (void)by_uid;
  if (star == 0) return false;
  return set.contains(n, star);
}

}  // namespace

bool contains_folded(std::string_view haystack, std::string_view needle) {
  if (needle.empty()) return true;
  std::string h = fold(haystack), n = fold(needle);
  return h.find(n) != std::string::npos;
}

imap::Date date_of(int64_t t) {
  std::time_t tt = static_cast<std::time_t>(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  return imap::Date{tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday};
}

std::string decoded_part_text(const mail::BodyPart& part, std::string_view raw) {
  std::string decoded = mail::decode_transfer_encoding(raw, part.encoding);
  if (part.type != "text") return decoded;
  auto cs = part.param("charset");
  std::optional<std::string> utf8 =
      mail::convert_to_utf8(cs ? std::string(*cs) : std::string("us-ascii"), decoded);
  return utf8 ? std::move(*utf8) : decoded;
}

std::string email_id(const mail::MessageGuid& guid) {
  // Cyrus 3.6 (search_emailid_match in imap/search_expr.c): "M" and the first 24
  // hex digits of the GUID. The same bytes have the same id in every mailbox
  // and on both nodes of a replicated pair.
  if (guid.is_null()) return std::string();
  return "M" + guid.to_hex().substr(0, 24);
}

int64_t save_date_for_search(const store::MessageRecord& r) {
  // A record without a save date (0: e.g. replicated from an old Cyrus)
  // is compared by its internal date, the best stand-in for when it was
  // saved, so SAVEDBEFORE d and SAVEDSINCE d still split the mailbox in two.
  return r.savedate != 0 ? r.savedate : r.internaldate;
}

bool search_charset_supported(const std::optional<std::string>& charset) {
  if (!charset) return true;
  return imap::iequals(*charset, "UTF-8") || imap::iequals(*charset, "US-ASCII");
}

bool search_needs_content(const SearchKey& key) {
  switch (key.kind) {
    case K::Bcc: case K::Body: case K::Cc: case K::From: case K::Subject: case K::Text:
    case K::To: case K::Header: case K::SentBefore: case K::SentOn: case K::SentSince:
      return true;
    default:
      break;
  }
  return std::any_of(key.children.begin(), key.children.end(), search_needs_content);
}

bool search_matches(const SearchKey& key, SearchMessage& msg) {
  const store::MessageRecord& r = *msg.record;
  const uint32_t sys = r.flags.system;
  auto has_keyword = [&](std::string_view k) {
    return std::any_of(r.flags.keywords.begin(), r.flags.keywords.end(),
                       [&](const std::string& x) { return imap::iequals(x, k); });
  };
  // SENT*: the day of the Date header as its writer wrote it, "disregarding
  // time and timezone" (RFC 3501 6.4.4): 23:30 -0500 on the 1st is the 1st.
  // Without a Date header that parses, the internal date, as Cyrus (and
  // RFC 5256's SORT) fall back to.
  auto sent_date = [&]() -> std::optional<imap::Date> {
    const std::string* bytes = msg.bytes ? msg.bytes() : nullptr;
    const mail::MessageStructure* st = msg.structure ? msg.structure() : nullptr;
    if (!bytes || !st) return std::nullopt;
    int zone_minutes = 0;
    auto t = st->envelope.date ? mail::parse_rfc5322_date(*st->envelope.date, &zone_minutes) : std::nullopt;
    if (!t) return date_of(r.internaldate);
    return date_of(static_cast<int64_t>(*t) + int64_t{zone_minutes} * 60);
  };
  switch (key.kind) {
    case K::And:
      for (const auto& c : key.children)
        if (!search_matches(c, msg)) return false;
      return true;
    case K::Or:
      for (const auto& c : key.children)
        if (search_matches(c, msg)) return true;
      return false;
    case K::Not:
      return !key.children.empty() && !search_matches(key.children.front(), msg);
    case K::All: return true;
    case K::Answered: return sys & store::kFlagAnswered;
    case K::Deleted: return sys & store::kFlagDeleted;
    case K::Draft: return sys & store::kFlagDraft;
    case K::Flagged: return sys & store::kFlagFlagged;
    case K::Seen: return sys & store::kFlagSeen;
    case K::Unanswered: return !(sys & store::kFlagAnswered);
    case K::Undeleted: return !(sys & store::kFlagDeleted);
    case K::Undraft: return !(sys & store::kFlagDraft);
    case K::Unflagged: return !(sys & store::kFlagFlagged);
    case K::Unseen: return !(sys & store::kFlagSeen);
    case K::Recent: return msg.recent;
    case K::New: return msg.recent && !(sys & store::kFlagSeen);
    case K::Old: return !msg.recent;
    case K::Keyword: return has_keyword(key.text);
    case K::Unkeyword: return !has_keyword(key.text);
    case K::Bcc: return header_contains(msg, "Bcc", key.text);
    case K::Cc: return header_contains(msg, "Cc", key.text);
    case K::From: return header_contains(msg, "From", key.text);
    case K::To: return header_contains(msg, "To", key.text);
    case K::Subject: return header_contains(msg, "Subject", key.text);
    case K::Header: return header_contains(msg, key.header_name, key.text);
    case K::Body: return body_contains(msg, key.text);
    case K::Text: {
      const std::string* bytes = msg.bytes ? msg.bytes() : nullptr;
      const mail::MessageStructure* st = msg.structure ? msg.structure() : nullptr;
      if (!bytes || !st) return false;
      if (contains_folded(mail::decode_rfc2047(header_block_of(*st, *bytes)), key.text)) return true;
      return body_contains(msg, key.text);
    }
    case K::Before: return compare_dates(date_of(r.internaldate), key.date) < 0;
    case K::On: return compare_dates(date_of(r.internaldate), key.date) == 0;
    case K::Since: return compare_dates(date_of(r.internaldate), key.date) >= 0;
    case K::SentBefore: { auto d = sent_date(); return d && compare_dates(*d, key.date) < 0; }
    case K::SentOn: { auto d = sent_date(); return d && compare_dates(*d, key.date) == 0; }
    case K::SentSince: { auto d = sent_date(); return d && compare_dates(*d, key.date) >= 0; }
    case K::Larger: return r.size > key.number;
    case K::Smaller: return r.size < key.number;
    case K::Uid:
      return set_contains(key.set, r.uid, msg.max_uid, msg.saved, true, r.uid);
    case K::SequenceSet:
      return set_contains(key.set, msg.seq, msg.max_seq, msg.saved, false, r.uid);
    case K::ModSeq: return r.modseq >= key.number;
    case K::Older: return msg.now - r.internaldate >= static_cast<int64_t>(key.number);
    case K::Younger: return msg.now - r.internaldate <= static_cast<int64_t>(key.number);
    case K::EmailId: return key.text == email_id(r.guid);
    // No conversations database: no message has a thread id (FETCH THREADID is NIL).
    case K::ThreadId: return false;
    case K::SavedBefore: return compare_dates(date_of(save_date_for_search(r)), key.date) < 0;
    case K::SavedOn: return compare_dates(date_of(save_date_for_search(r)), key.date) == 0;
    case K::SavedSince: return compare_dates(date_of(save_date_for_search(r)), key.date) >= 0;
    // Every mailbox keeps save dates (RFC 8514: then the key matches all).
    case K::SaveDateSupported: return true;
  }
  return false;
}

}  // namespace cyr::imapd
