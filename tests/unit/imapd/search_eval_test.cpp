#include "server/imapd/search_eval.h"

#include <gtest/gtest.h>

namespace cyr::imapd {
namespace {

using K = imap::SearchKey::Kind;

const char kMessage[] =
    "From: =?utf-8?Q?Ren=C3=A9?= <rene@example.com>\r\n"
    "To: team@example.com\r\n"
    "Subject: =?iso-8859-1?Q?Caf=E9?= meeting\r\n"
    "Date: Tue, 3 Mar 2020 10:00:00 +0000\r\n"
    "X-Ticket: ABC-123\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "Content-Transfer-Encoding: quoted-printable\r\n"
    "\r\n"
    "Le cr=C3=A8me br=C3=BBl=C3=A9e est pr=C3=AAte.\r\n";

struct Fixture {
  std::string bytes = kMessage;
  mail::MessageStructure st = mail::parse_message(kMessage);
  store::MessageRecord rec;
  int loads = 0;
  Fixture() {
    rec.uid = 42;
    rec.modseq = 7;
    rec.size = bytes.size();
    rec.internaldate = 1583229600;  // 2020-03-03 10:00:00 UTC
    rec.flags.system = store::kFlagFlagged;
    rec.flags.keywords = {"$Work"};
  }
  SearchMessage msg() {
    SearchMessage m;
    m.record = &rec;
    m.seq = 3;
    m.max_seq = 5;
    m.max_uid = 50;
    m.now = rec.internaldate + 100;
    m.structure = [this]() { ++loads; return &st; };
    m.bytes = [this]() { return &bytes; };
    return m;
  }
};

imap::SearchKey key(K kind, std::string text = {}) {
  imap::SearchKey k;
  k.kind = kind;
  k.text = std::move(text);
  return k;
}

bool match(Fixture& f, const imap::SearchKey& k) {
  auto m = f.msg();
  return search_matches(k, m);
}

TEST(SearchEval, Flags) {
  Fixture f;
  EXPECT_TRUE(match(f, key(K::Flagged)));
  EXPECT_FALSE(match(f, key(K::Seen)));
  EXPECT_TRUE(match(f, key(K::Unseen)));
  EXPECT_TRUE(match(f, key(K::Keyword, "$work")));
  EXPECT_FALSE(match(f, key(K::Unkeyword, "$Work")));
  EXPECT_EQ(f.loads, 0) << "flag keys must not load the message";
}

TEST(SearchEval, DecodedHeadersCaseInsensitive) {
  Fixture f;
  EXPECT_TRUE(match(f, key(K::From, "rené")));
  EXPECT_TRUE(match(f, key(K::From, "RENÉ")));
  EXPECT_TRUE(match(f, key(K::Subject, "café")));
  EXPECT_FALSE(match(f, key(K::Subject, "tea")));
  imap::SearchKey h = key(K::Header, "abc-1");
  h.header_name = "X-Ticket";
  EXPECT_TRUE(match(f, h));
  h.header_name = "X-Other";
  EXPECT_FALSE(match(f, h));
}

TEST(SearchEval, DecodedBody) {
  Fixture f;
  EXPECT_TRUE(match(f, key(K::Body, "crème brûlée")));
  EXPECT_TRUE(match(f, key(K::Text, "team@example")));
  EXPECT_FALSE(match(f, key(K::Body, "team@example")));
  EXPECT_FALSE(match(f, key(K::Body, "=C3")));
}

TEST(SearchEval, DatesSizesSets) {
  Fixture f;
  imap::SearchKey on = key(K::On);
  on.date = {2020, 3, 3};
  EXPECT_TRUE(match(f, on));
  imap::SearchKey before = key(K::Before);
  before.date = {2020, 3, 3};
  EXPECT_FALSE(match(f, before));
  imap::SearchKey sentsince = key(K::SentSince);
  sentsince.date = {2020, 3, 4};
  EXPECT_FALSE(match(f, sentsince));
  imap::SearchKey larger = key(K::Larger);
  larger.number = 10;
  EXPECT_TRUE(match(f, larger));
  imap::SearchKey uid = key(K::Uid);
  uid.set.ranges = {{40, imap::kSeqStar}};
  EXPECT_TRUE(match(f, uid));
  imap::SearchKey seq = key(K::SequenceSet);
  seq.set.ranges = {{1, 2}};
  EXPECT_FALSE(match(f, seq));
  imap::SearchKey ms = key(K::ModSeq);
  ms.number = 8;
  EXPECT_FALSE(match(f, ms));
  imap::SearchKey younger = key(K::Younger);
  younger.number = 200;
  EXPECT_TRUE(match(f, younger));
}

// SENT* compare the day the writer wrote, whatever the zone (RFC 3501
// 6.4.4 "disregarding time and timezone"); without a usable Date, the
// internal date (as Cyrus does).
TEST(SearchEval, SentDatesUseTheHeadersOwnDay) {
  Fixture f;
  std::string late = kMessage;
  late.replace(late.find("Tue, 3 Mar 2020 10:00:00 +0000"), 30, "Sun, 1 Mar 2020 23:30:00 -0500");
  f.bytes = late;
  f.st = mail::parse_message(late);
  imap::SearchKey on = key(K::SentOn);
  on.date = {2020, 3, 1};
  EXPECT_TRUE(match(f, on));  // 04:30 UTC on the 2nd
  on.date = {2020, 3, 2};
  EXPECT_FALSE(match(f, on));
  imap::SearchKey before = key(K::SentBefore);
  before.date = {2020, 3, 2};
  EXPECT_TRUE(match(f, before));
  imap::SearchKey since = key(K::SentSince);
  since.date = {2020, 3, 2};
  EXPECT_FALSE(match(f, since));

  std::string undated = kMessage;
  undated.replace(undated.find("Date: Tue, 3 Mar 2020 10:00:00 +0000\r\n"), 38, "");
  f.bytes = undated;
  f.st = mail::parse_message(undated);
  on.date = {2020, 3, 3};  // the internal date's day
  EXPECT_TRUE(match(f, on));
}

TEST(SearchEval, BooleanCombinations) {
  Fixture f;
  imap::SearchKey orr = key(K::Or);
  orr.children = {key(K::Seen), key(K::Flagged)};
  EXPECT_TRUE(match(f, orr));
  imap::SearchKey notk = key(K::Not);
  notk.children = {orr};
  EXPECT_FALSE(match(f, notk));
  imap::SearchKey andk = key(K::And);
  andk.children = {key(K::Flagged), key(K::Subject, "meeting")};
  EXPECT_TRUE(match(f, andk));
  EXPECT_TRUE(search_needs_content(andk));
  EXPECT_FALSE(search_needs_content(orr));
}

TEST(SearchEval, SavedResult) {
  Fixture f;
  std::vector<store::Uid> saved = {1, 42};
  imap::SearchKey k = key(K::Uid);
  k.set.saved_result = true;
  auto m = f.msg();
  m.saved = &saved;
  EXPECT_TRUE(search_matches(k, m));
  saved = {1};
  EXPECT_FALSE(search_matches(k, m));
}

TEST(SearchEval, Charsets) {
  EXPECT_TRUE(search_charset_supported(std::nullopt));
  EXPECT_TRUE(search_charset_supported(std::string("utf-8")));
  EXPECT_TRUE(search_charset_supported(std::string("US-ASCII")));
  EXPECT_FALSE(search_charset_supported(std::string("ISO-2022-JP")));
}

}  // namespace
}  // namespace cyr::imapd

namespace cyr::imapd {
namespace {

TEST(SearchEval, EmailIdIsMAndTheGuidsFirst24HexDigits) {
  Fixture f;
  f.rec.guid = mail::MessageGuid::of(f.bytes);
  std::string id = email_id(f.rec.guid);
  EXPECT_EQ(id, "M" + f.rec.guid.to_hex().substr(0, 24));
  EXPECT_EQ(id.size(), 25u);
  EXPECT_TRUE(match(f, key(K::EmailId, id)));
  EXPECT_FALSE(match(f, key(K::EmailId, "M" + f.rec.guid.to_hex())));  // whole GUID: no
  EXPECT_FALSE(match(f, key(K::EmailId, "m" + f.rec.guid.to_hex().substr(0, 24))));
  EXPECT_FALSE(match(f, key(K::ThreadId, "T0000000000000000")));
  EXPECT_EQ(email_id(mail::MessageGuid()), "");
  EXPECT_EQ(f.loads, 0) << "no message content read for object ids";
}

TEST(SearchEval, SaveDates) {
  Fixture f;
  f.rec.internaldate = 1583229600;  // 2020-03-03
  f.rec.savedate = 1700000000;      // 2023-11-14
  imap::SearchKey k = key(K::SavedOn);
  k.date = {2023, 11, 14};
  EXPECT_TRUE(match(f, k));
  k.date = {2020, 3, 3};
  EXPECT_FALSE(match(f, k));
  k = key(K::SavedBefore);
  k.date = {2023, 11, 14};
  EXPECT_FALSE(match(f, k));
  k.date = {2023, 11, 15};
  EXPECT_TRUE(match(f, k));
  k = key(K::SavedSince);
  k.date = {2023, 11, 14};
  EXPECT_TRUE(match(f, k));
  k.date = {2023, 11, 15};
  EXPECT_FALSE(match(f, k));
  // No save date: the internal date stands in.
  f.rec.savedate = 0;
  k = key(K::SavedOn);
  k.date = {2020, 3, 3};
  EXPECT_TRUE(match(f, k));
  EXPECT_TRUE(match(f, key(K::SaveDateSupported)));
  EXPECT_EQ(f.loads, 0);
}

TEST(SearchEval, OlderYoungerAreInclusiveSecondsFromNow) {
  Fixture f;  // now = internaldate + 100
  imap::SearchKey older = key(K::Older);
  older.number = 100;
  EXPECT_TRUE(match(f, older));
  older.number = 101;
  EXPECT_FALSE(match(f, older));
  imap::SearchKey younger = key(K::Younger);
  younger.number = 99;
  EXPECT_FALSE(match(f, younger));
  younger.number = 100;
  EXPECT_TRUE(match(f, younger));
}

}  // namespace
}  // namespace cyr::imapd
