// SORT (RFC 5256, 5957, ESORT RFC 5267) and THREAD (RFC 5256) commands parsed
// into typed arguments; malformed ones are BAD.
#include "imap_test_util.h"
#include "server/imap/command_table.h"

namespace cyr::imap {
namespace {

using test::parse_error;
using test::parse_ok;

bool is_bad(std::string_view input) { return parse_error(input).find(" BAD ") != std::string::npos; }

TEST(Sort, RfcExamples) {  // RFC 5256 section 4
  auto a = parse_ok("A282 SORT (SUBJECT) UTF-8 SINCE 1-Feb-1994\r\n");
  EXPECT_EQ(a.command.id, CommandId::Sort);
  EXPECT_FALSE(a.command.uid);
  const auto& s = a.command.as<SortArgs>();
  ASSERT_EQ(s.criteria.size(), 1u);
  EXPECT_EQ(s.criteria[0].key, SortKey::Subject);
  EXPECT_FALSE(s.criteria[0].reverse);
  EXPECT_EQ(s.charset, "UTF-8");
  EXPECT_FALSE(s.return_options);
  ASSERT_EQ(s.key.kind, SearchKey::Kind::And);
  ASSERT_EQ(s.key.children.size(), 1u);
  EXPECT_EQ(s.key.children[0].kind, SearchKey::Kind::Since);
  EXPECT_EQ(s.key.children[0].date, (Date{1994, 2, 1}));

  auto b = parse_ok("A283 SORT (SUBJECT REVERSE DATE) UTF-8 ALL\r\n").command.as<SortArgs>();
  ASSERT_EQ(b.criteria.size(), 2u);
  EXPECT_EQ(b.criteria[1].key, SortKey::Date);
  EXPECT_TRUE(b.criteria[1].reverse);

  auto c = parse_ok("A284 SORT (SUBJECT) US-ASCII TEXT \"not in mailbox\"\r\n").command.as<SortArgs>();
  EXPECT_EQ(c.charset, "US-ASCII");
  EXPECT_EQ(c.key.children[0].text, "not in mailbox");
}

TEST(Sort, EveryKeyAnyCaseAndUid) {
  auto r = parse_ok(
      "a uid sort (arrival cc date from size subject to displayfrom displayto reverse size) "
      "utf-8 unseen from \"x\"\r\n");
  EXPECT_EQ(r.command.id, CommandId::Sort);
  EXPECT_TRUE(r.command.uid);
  const auto& s = r.command.as<SortArgs>();
  std::vector<SortKey> keys;
  for (const auto& c : s.criteria) keys.push_back(c.key);
  EXPECT_EQ(keys, (std::vector<SortKey>{SortKey::Arrival, SortKey::Cc, SortKey::Date, SortKey::From,
                                        SortKey::Size, SortKey::Subject, SortKey::To,
                                        SortKey::DisplayFrom, SortKey::DisplayTo, SortKey::Size}));
  EXPECT_TRUE(s.criteria.back().reverse);
  EXPECT_FALSE(s.criteria.front().reverse);
  EXPECT_EQ(s.charset, "UTF-8");
  EXPECT_EQ(s.key.children.size(), 2u);
}

TEST(Sort, EsortReturnOptions) {  // RFC 5267
  auto s = parse_ok("a SORT RETURN (MIN MAX COUNT) (DATE) UTF-8 ALL\r\n").command.as<SortArgs>();
  ASSERT_TRUE(s.return_options);
  EXPECT_EQ(*s.return_options, uint32_t(kSearchReturnMin | kSearchReturnMax | kSearchReturnCount));
  auto e = parse_ok("a UID SORT RETURN () (DATE) UTF-8 ALL\r\n").command.as<SortArgs>();
  EXPECT_EQ(*e.return_options, uint32_t(kSearchReturnAll));
  auto v = parse_ok("a SORT RETURN (SAVE ALL) (SIZE) UTF-8 1:*\r\n").command.as<SortArgs>();
  EXPECT_EQ(*v.return_options, uint32_t(kSearchReturnSave | kSearchReturnAll));
}

TEST(Sort, MalformedIsBad) {
  EXPECT_TRUE(is_bad("a SORT\r\n"));
  EXPECT_TRUE(is_bad("a SORT DATE UTF-8 ALL\r\n"));        // criteria not in a list
  EXPECT_TRUE(is_bad("a SORT () UTF-8 ALL\r\n"));          // empty criteria
  EXPECT_TRUE(is_bad("a SORT (FOO) UTF-8 ALL\r\n"));       // unknown key
  EXPECT_TRUE(is_bad("a SORT (REVERSE) UTF-8 ALL\r\n"));   // REVERSE of nothing
  EXPECT_TRUE(is_bad("a SORT (REVERSE REVERSE DATE) UTF-8 ALL\r\n"));
  EXPECT_TRUE(is_bad("a SORT (DATE\r\n"));                 // unclosed
  EXPECT_TRUE(is_bad("a SORT (DATE)\r\n"));                // no charset
  EXPECT_TRUE(is_bad("a SORT (DATE) UTF-8\r\n"));          // no search key
  EXPECT_TRUE(is_bad("a SORT (DATE) UTF-8 NOSUCHKEY\r\n"));
  EXPECT_TRUE(is_bad("a SORT (DATE) (UTF-8) ALL\r\n"));    // charset is an astring
  EXPECT_TRUE(is_bad("a SORT RETURN (FOO) (DATE) UTF-8 ALL\r\n"));
  EXPECT_TRUE(is_bad("a SORT RETURN MIN (DATE) UTF-8 ALL\r\n"));
  EXPECT_TRUE(is_bad("a SORT ((DATE)) UTF-8 ALL\r\n"));
}

TEST(Sort, CriteriaAreBounded) {
  std::string many = "a SORT (";
  for (size_t i = 0; i < kMaxSortCriteria; ++i) many += i ? " DATE" : "DATE";
  EXPECT_EQ(parse_ok(many + ") UTF-8 ALL\r\n").command.as<SortArgs>().criteria.size(),
            kMaxSortCriteria);
  EXPECT_TRUE(is_bad(many + " DATE) UTF-8 ALL\r\n"));
}

TEST(Sort, SearchKeysNestAsInSearch) {
  auto s = parse_ok("a SORT (FROM) UTF-8 OR (SEEN FLAGGED) NOT DELETED\r\n").command.as<SortArgs>();
  ASSERT_EQ(s.key.children.size(), 1u);
  EXPECT_EQ(s.key.children[0].kind, SearchKey::Kind::Or);
  EXPECT_EQ(s.key.children[0].children[0].kind, SearchKey::Kind::And);
  EXPECT_EQ(s.key.children[0].children[1].kind, SearchKey::Kind::Not);
}

TEST(Thread, RfcExamples) {  // RFC 5256 section 4
  auto a = parse_ok("A283 THREAD ORDEREDSUBJECT UTF-8 SINCE 5-MAR-2000\r\n");
  EXPECT_EQ(a.command.id, CommandId::Thread);
  const auto& t = a.command.as<ThreadArgs>();
  EXPECT_EQ(t.algorithm, ThreadAlgorithm::OrderedSubject);
  EXPECT_EQ(t.charset, "UTF-8");
  EXPECT_EQ(t.key.children[0].kind, SearchKey::Kind::Since);

  auto b = parse_ok("A284 UID THREAD references us-ascii TEXT \"gewp\"\r\n");
  EXPECT_TRUE(b.command.uid);
  EXPECT_EQ(b.command.as<ThreadArgs>().algorithm, ThreadAlgorithm::References);
  EXPECT_EQ(b.command.as<ThreadArgs>().charset, "US-ASCII");
}

TEST(Thread, MalformedIsBad) {
  EXPECT_TRUE(is_bad("a THREAD\r\n"));
  EXPECT_TRUE(is_bad("a THREAD REFS UTF-8 ALL\r\n"));     // unknown algorithm
  EXPECT_TRUE(is_bad("a THREAD REFERENCES\r\n"));          // no charset
  EXPECT_TRUE(is_bad("a THREAD REFERENCES UTF-8\r\n"));    // no search key
  EXPECT_TRUE(is_bad("a THREAD (REFERENCES) UTF-8 ALL\r\n"));
  EXPECT_TRUE(is_bad("a THREAD REFERENCES UTF-8 ALL)\r\n"));
}

TEST(SortThread, TableFlags) {
  for (CommandId id : {CommandId::Sort, CommandId::Thread}) {
    const CommandSpec& s = command_spec(id);
    EXPECT_TRUE(s.flags & kSelected);
    EXPECT_FALSE(s.flags & kAuthenticated);
    EXPECT_TRUE(s.flags & kUsesSeqs);
    EXPECT_TRUE(s.flags & kAllowsUid);
    EXPECT_FALSE(s.flags & kWrite);
  }
  EXPECT_EQ(find_command("sort"), &command_spec(CommandId::Sort));
  EXPECT_EQ(find_command("Thread"), &command_spec(CommandId::Thread));
}

}  // namespace
}  // namespace cyr::imap
