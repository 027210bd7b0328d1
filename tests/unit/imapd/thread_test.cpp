// SORT and THREAD algorithms (thread.h): RFC 5256 base subjects, sort
// order, ORDEREDSUBJECT and REFERENCES threads, the THREAD response format.
#include "server/imapd/thread.h"

#include <gtest/gtest.h>

#include <chrono>

namespace cyr::imapd {
namespace {

std::string base(std::string_view s) { return base_subject(s).text; }
bool refwd(std::string_view s) { return base_subject(s).reply_or_forward; }

// ---------------------------------------------------------------- base subject

TEST(BaseSubject, PlainSubjectIsItself) {
  EXPECT_EQ(base("Meeting tomorrow"), "Meeting tomorrow");
  EXPECT_FALSE(refwd("Meeting tomorrow"));
  EXPECT_EQ(base(""), "");
}

TEST(BaseSubject, Step1DecodesAndNormalisesWhitespace) {
  EXPECT_EQ(base("=?utf-8?q?Re=3A_caf=C3=A9?="), "caf\xC3\xA9");
  EXPECT_TRUE(refwd("=?utf-8?q?Re=3A_caf=C3=A9?="));
  EXPECT_EQ(base("=?iso-8859-1?q?caf=E9?= =?utf-8?b?Y3LDqG1l?="), "caf\xC3\xA9" "cr\xC3\xA8me");
  EXPECT_EQ(base("a\t\tb   c \r\n d"), "a b c d");
}

TEST(BaseSubject, Step2RemovesTrailers) {
  EXPECT_EQ(base("Lunch (fwd)"), "Lunch");
  EXPECT_TRUE(refwd("Lunch (fwd)"));
  EXPECT_EQ(base("Lunch (FWD)(Fwd)  "), "Lunch");
  EXPECT_EQ(base("Lunch   "), "Lunch");
  EXPECT_FALSE(refwd("Lunch   "));
  EXPECT_EQ(base("Lunch (fwd) x"), "Lunch (fwd) x");  // only at the end
}

TEST(BaseSubject, Step3RemovesLeaders) {
  EXPECT_EQ(base("Re: Lunch"), "Lunch");
  EXPECT_EQ(base("RE: re: Re:Lunch"), "Lunch");
  EXPECT_EQ(base("Fwd: Lunch"), "Lunch");
  EXPECT_EQ(base("FW: Lunch"), "Lunch");
  EXPECT_EQ(base("fw : Lunch"), "Lunch");       // *WSP before ':'
  EXPECT_EQ(base("Re[2]: Lunch"), "Lunch");     // subj-blob inside subj-refwd
  EXPECT_EQ(base("Re [list 7] : Lunch"), "Lunch");
  EXPECT_EQ(base("[list] Re: Lunch"), "Lunch"); // blobs then refwd
  EXPECT_EQ(base("[a][b] Fwd: Lunch"), "Lunch");
  EXPECT_EQ(base("   Lunch"), "Lunch");
  EXPECT_TRUE(refwd("Re: Lunch"));
  EXPECT_TRUE(refwd("[list] Fw: Lunch"));
  EXPECT_EQ(base("Fwd:"), "");
  EXPECT_EQ(base("Ref: Lunch"), "Ref: Lunch");  // "re" not followed by ':'
  EXPECT_EQ(base("Reply: Lunch"), "Reply: Lunch");
  EXPECT_EQ(base("Fwdd: Lunch"), "Fwdd: Lunch");
  EXPECT_FALSE(refwd("Ref: Lunch"));
}

TEST(BaseSubject, Step4RemovesABlobThatLeavesABase) {
  EXPECT_EQ(base("[PATCH] fix"), "fix");
  EXPECT_FALSE(refwd("[PATCH] fix"));
  EXPECT_EQ(base("[PATCH]"), "[PATCH]");        // nothing would be left
  EXPECT_EQ(base("[PATCH 1/2]   "), "[PATCH 1/2]");
  EXPECT_EQ(base("[x]  [y] fix"), "fix");
  EXPECT_EQ(base("[a] [b]"), "[b]");
  EXPECT_EQ(base("[unclosed fix"), "[unclosed fix");
  // BLOBCHAR is ASCII without '[' and ']': not a blob.
  EXPECT_EQ(base("[caf\xC3\xA9] fix"), "[caf\xC3\xA9] fix");
  EXPECT_EQ(base("[a[b]] fix"), "[a[b]] fix");
}

TEST(BaseSubject, Step5RepeatsLeadersAndBlobs) {
  EXPECT_EQ(base("Re: [list] Re: [PATCH] Fwd: fix"), "fix");
  EXPECT_EQ(base("[list] [PATCH] Re: fix"), "fix");
  EXPECT_TRUE(refwd("[PATCH] Re: fix"));
}

TEST(BaseSubject, Step6UnwrapsFwdHeaderAndRepeats) {
  EXPECT_EQ(base("[Fwd: Lunch]"), "Lunch");
  EXPECT_EQ(base("[fwd: Re: Lunch (fwd)]"), "Lunch");
  EXPECT_EQ(base("Re: [Fwd: [Fwd: Lunch]] (fwd)"), "Lunch");
  // Not a wrapper (it does not end with ']'), but a blob before a base.
  EXPECT_EQ(base("[Fwd: Lunch] tomorrow"), "tomorrow");
  EXPECT_EQ(base("[Fwd:]"), "");
}

TEST(BaseSubject, HostileSubjectsStayLinear) {
  std::string many;
  for (int i = 0; i < 100000; ++i) many += "Re: [x] ";
  for (int i = 0; i < 100000; ++i) many += "[y]";
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(base(many + " topic (fwd)(fwd)(fwd)"), "topic");
  EXPECT_EQ(base(many), "[y]");
  std::string wrapped;
  for (int i = 0; i < 20000; ++i) wrapped += "[Fwd: ";
  wrapped += "topic";
  for (int i = 0; i < 20000; ++i) wrapped += "]";
  EXPECT_EQ(base(wrapped), "topic");
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
  EXPECT_LT(ms.count(), 2000);
}

TEST(AsciiCasemap, UpperCasesAsciiLettersOnly) {
  EXPECT_EQ(ascii_casemap_key("aBz[_`{caf\xC3\xA9"), "ABZ[_`{CAF\xC3\xA9");
  EXPECT_LT(ascii_casemap_key("apple"), ascii_casemap_key("Banana"));
}

TEST(MsgIds, ParsedInOrderAndBounded) {
  EXPECT_EQ(parse_msg_ids("<a@b> <c@d>\t<e@f>", 10), (std::vector<std::string>{"a@b", "c@d", "e@f"}));
  EXPECT_EQ(parse_msg_ids("<a@b> <c@d> <e@f>", 2), (std::vector<std::string>{"c@d", "e@f"}));
  EXPECT_EQ(parse_msg_ids("  <a @b> (comment)", 10), (std::vector<std::string>{"a@b"}));
  EXPECT_EQ(parse_msg_ids("x <> <y", 10), (std::vector<std::string>{}));
  EXPECT_EQ(parse_msg_ids("<a <b@c>", 10), (std::vector<std::string>{"b@c"}));
  EXPECT_EQ(parse_msg_ids("", 10), (std::vector<std::string>{}));
}

// ---------------------------------------------------------------- SORT

using imap::SortCriterion;
using imap::SortKey;

std::vector<uint32_t> sorted(const std::vector<SortFields>& m, std::vector<SortCriterion> c) {
  return sort_messages(m, c);
}

TEST(Sort, SingleKeysAndTiesBySequence) {
  std::vector<SortFields> m(4);
  m[0].size = 30; m[0].arrival = 4; m[0].sent = 10; m[0].subject = "B"; m[0].from = "ZED";
  m[1].size = 10; m[1].arrival = 3; m[1].sent = 10; m[1].subject = "A"; m[1].from = "";
  m[2].size = 20; m[2].arrival = 2; m[2].sent = 5;  m[2].subject = "B"; m[2].from = "AMY";
  m[3].size = 10; m[3].arrival = 1; m[3].sent = 20; m[3].subject = "A"; m[3].from = "AMY";
  EXPECT_EQ(sorted(m, {{SortKey::Size, false}}), (std::vector<uint32_t>{1, 3, 2, 0}));
  EXPECT_EQ(sorted(m, {{SortKey::Arrival, false}}), (std::vector<uint32_t>{3, 2, 1, 0}));
  EXPECT_EQ(sorted(m, {{SortKey::Date, false}}), (std::vector<uint32_t>{2, 0, 1, 3}));
  EXPECT_EQ(sorted(m, {{SortKey::Subject, false}}), (std::vector<uint32_t>{1, 3, 0, 2}));
  EXPECT_EQ(sorted(m, {{SortKey::From, false}}), (std::vector<uint32_t>{1, 2, 3, 0}));
  // REVERSE reverses the key, not the tie-break by sequence number.
  EXPECT_EQ(sorted(m, {{SortKey::Size, true}}), (std::vector<uint32_t>{0, 2, 1, 3}));
  EXPECT_EQ(sorted(m, {{SortKey::Date, true}}), (std::vector<uint32_t>{3, 0, 1, 2}));
}

TEST(Sort, LaterCriteriaBreakTies) {
  std::vector<SortFields> m(4);
  m[0].subject = "X"; m[0].sent = 3;
  m[1].subject = "Y"; m[1].sent = 1;
  m[2].subject = "X"; m[2].sent = 1;
  m[3].subject = "X"; m[3].sent = 2;
  EXPECT_EQ(sorted(m, {{SortKey::Subject, false}, {SortKey::Date, false}}),
            (std::vector<uint32_t>{2, 3, 0, 1}));
  EXPECT_EQ(sorted(m, {{SortKey::Subject, false}, {SortKey::Date, true}}),
            (std::vector<uint32_t>{0, 3, 2, 1}));
  EXPECT_EQ(sorted(m, {{SortKey::Subject, true}, {SortKey::Date, false}}),
            (std::vector<uint32_t>{1, 2, 3, 0}));
}

TEST(Sort, DisplayAndAddressFields) {
  std::vector<SortFields> m(3);
  m[0].display_from = "ZOE"; m[0].to = "B"; m[0].cc = "C"; m[0].display_to = "X";
  m[1].display_from = "ADAM"; m[1].to = "A"; m[1].cc = ""; m[1].display_to = "Y";
  m[2].display_from = "MIA"; m[2].to = "A"; m[2].cc = "A"; m[2].display_to = "";
  EXPECT_EQ(sorted(m, {{SortKey::DisplayFrom, false}}), (std::vector<uint32_t>{1, 2, 0}));
  EXPECT_EQ(sorted(m, {{SortKey::To, false}}), (std::vector<uint32_t>{1, 2, 0}));
  EXPECT_EQ(sorted(m, {{SortKey::Cc, false}}), (std::vector<uint32_t>{1, 2, 0}));
  EXPECT_EQ(sorted(m, {{SortKey::DisplayTo, false}}), (std::vector<uint32_t>{2, 0, 1}));
}

TEST(Sort, HundredThousandMessages) {
  std::vector<SortFields> m(100000);
  for (size_t i = 0; i < m.size(); ++i) {
    m[i].subject = ascii_casemap_key(base_subject("Re: topic " + std::to_string(i % 977)).text);
    m[i].sent = static_cast<int64_t>((i * 7919) % 100003);
  }
  auto t0 = std::chrono::steady_clock::now();
  auto order = sorted(m, {{SortKey::Subject, false}, {SortKey::Date, true}});
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
  ASSERT_EQ(order.size(), m.size());
  for (size_t k = 1; k < order.size(); ++k) {
    const auto& a = m[order[k - 1]];
    const auto& b = m[order[k]];
    ASSERT_TRUE(a.subject < b.subject || (a.subject == b.subject && a.sent >= b.sent));
  }
  EXPECT_LT(ms.count(), 5000);
}

// ---------------------------------------------------------------- THREAD

ThreadMessage msg(int64_t sent, std::string_view subject, std::string id = "",
                  std::vector<std::string> refs = {}) {
  ThreadMessage m;
  m.sent = sent;
  BaseSubject b = base_subject(subject);
  m.subject = ascii_casemap_key(b.text);
  m.reply_or_forward = b.reply_or_forward;
  m.message_id = std::move(id);
  m.references = std::move(refs);
  return m;
}

// Messages shown as sequence numbers 1..n.
std::string refs(const std::vector<ThreadMessage>& m) {
  std::vector<uint32_t> numbers(m.size());
  for (uint32_t i = 0; i < numbers.size(); ++i) numbers[i] = i + 1;
  return format_threads(thread_references(m), numbers);
}
std::string ordered(const std::vector<ThreadMessage>& m) {
  std::vector<uint32_t> numbers(m.size());
  for (uint32_t i = 0; i < numbers.size(); ++i) numbers[i] = i + 1;
  return format_threads(thread_ordered_subject(m), numbers);
}

TEST(ThreadFormat, RfcExample) {  // RFC 5256 section 4
  ThreadForest f;
  auto add = [&](uint32_t message, std::vector<uint32_t> children) {
    f.nodes.push_back(ThreadForest::Node{message, std::move(children)});
    return static_cast<uint32_t>(f.nodes.size() - 1);
  };
  // (2)(3 6 (4 23)(44 7 96)) with numbers = message index.
  uint32_t n96 = add(96, {}), n7 = add(7, {n96}), n44 = add(44, {n7});
  uint32_t n23 = add(23, {}), n4 = add(4, {n23});
  uint32_t n6 = add(6, {n4, n44}), n3 = add(3, {n6}), n2 = add(2, {});
  f.roots = {n2, n3};
  std::vector<uint32_t> numbers(100);
  for (uint32_t i = 0; i < numbers.size(); ++i) numbers[i] = i;
  EXPECT_EQ(format_threads(f, numbers), "(2)(3 6 (4 23)(44 7 96))");
  // A dummy parent of 3 and 5: ((3)(5)).
  ThreadForest d;
  d.nodes = {{3, {}}, {5, {}}, {ThreadForest::kDummy, {0, 1}}};
  d.roots = {2};
  EXPECT_EQ(format_threads(d, numbers), "((3)(5))");
  EXPECT_EQ(format_threads(ThreadForest{}, numbers), "");
}

TEST(OrderedSubject, GroupsBySubjectAndOrdersByDate) {
  std::vector<ThreadMessage> m = {
      msg(50, "Lunch"),          // 1
      msg(10, "Re: lunch"),      // 2
      msg(30, "Budget"),         // 3
      msg(20, "[list] LUNCH"),   // 4
      msg(40, "Re: Budget"),     // 5
      msg(5, "Solo"),            // 6
      msg(60, ""),               // 7
      msg(1, "Fwd:"),            // 8 (empty base subject too)
  };
  // Threads by their first message's date: the empty subject (8 at 1),
  // Solo (5), lunch (2 at 10, then 4 and 1), budget (3 at 30). A single
  // child is written inline, several as nested lists.
  EXPECT_EQ(ordered(m), "(8 7)(6)(2 (4)(1))(3 5)");
}

TEST(OrderedSubject, TiesBySequenceNumber) {
  std::vector<ThreadMessage> m = {msg(10, "a"), msg(10, "b"), msg(10, "a")};
  EXPECT_EQ(ordered(m), "(1 3)(2)");
}

TEST(References, ChainAndSiblings) {
  std::vector<ThreadMessage> m = {
      msg(1, "Plan", "a@x"),
      msg(2, "Re: Plan", "b@x", {"a@x"}),
      msg(3, "Re: Plan", "c@x", {"a@x", "b@x"}),
      msg(4, "Re: Plan", "d@x", {"a@x"}),
  };
  EXPECT_EQ(refs(m), "(1 (2 3)(4))");
}

TEST(References, SiblingsSortedByDateThenSequence) {
  std::vector<ThreadMessage> m = {
      msg(1, "Plan", "a@x"),
      msg(9, "Re: Plan", "b@x", {"a@x"}),
      msg(5, "Re: Plan", "c@x", {"a@x"}),
      msg(5, "Re: Plan", "d@x", {"a@x"}),
  };
  EXPECT_EQ(refs(m), "(1 (3)(4)(2))");
}

TEST(References, ReplyArrivingBeforeItsParent) {
  std::vector<ThreadMessage> m = {
      msg(2, "Re: Plan", "b@x", {"a@x"}),
      msg(1, "Plan", "a@x"),
  };
  EXPECT_EQ(refs(m), "(2 1)");
}

TEST(References, MissingParentBecomesDummyOrIsPruned) {
  // Two replies to a message we do not have: a dummy holds them.
  std::vector<ThreadMessage> two = {
      msg(1, "Re: Gone", "b@x", {"a@x"}),
      msg(2, "Re: Other", "c@x", {"a@x"}),
  };
  EXPECT_EQ(refs(two), "((1)(2))");
  // One reply: the dummy gives way to it.
  std::vector<ThreadMessage> one = {msg(1, "Re: Gone", "b@x", {"a@x"})};
  EXPECT_EQ(refs(one), "(1)");
  // A missing message in the middle of a chain is spliced out.
  std::vector<ThreadMessage> mid = {
      msg(1, "Plan", "a@x"),
      msg(3, "Re: Plan", "c@x", {"a@x", "missing@x"}),
      msg(2, "Re: Plan", "d@x", {"a@x", "missing@x"}),
  };
  EXPECT_EQ(refs(mid), "(1 (3)(2))");
  // Dummies several levels deep under a dummy top with two children.
  std::vector<ThreadMessage> deep = {
      msg(1, "x", "b@x", {"r@x", "s@x", "t@x"}),
      msg(2, "y", "c@x", {"r@x", "u@x"}),
  };
  EXPECT_EQ(refs(deep), "((1)(2))");
}

TEST(References, DummyLeftWithoutChildrenIsDropped) {
  // 2's References first put it below the missing p@x; its parent is
  // then a@x (step 1 B moves it), leaving p@x childless.
  std::vector<ThreadMessage> m = {
      msg(1, "Plan", "a@x"),
      msg(3, "Re: Other", "c@x", {"p@x", "b@x"}),
      msg(2, "Re: Plan", "b@x", {"a@x"}),
  };
  EXPECT_EQ(refs(m), "(1 3 2)");
}

TEST(References, LoopsAreNotMade) {
  // Each claims the other as parent: the second link would close a loop.
  std::vector<ThreadMessage> pair = {
      msg(1, "Loop", "a@x", {"b@x"}),
      msg(2, "Loop", "b@x", {"a@x"}),
  };
  EXPECT_EQ(refs(pair), "(2 1)");
  // A message listing itself, and a References cycle a -> b -> a.
  std::vector<ThreadMessage> self = {msg(1, "Self", "a@x", {"a@x"})};
  EXPECT_EQ(refs(self), "(1)");
  std::vector<ThreadMessage> cycle = {
      msg(1, "Cycle", "c@x", {"a@x", "b@x", "a@x"}),
      msg(2, "Other", "d@x"),
  };
  EXPECT_EQ(refs(cycle), "(1)(2)");
}

TEST(References, DuplicateMessageIds) {
  // Only the first message keeps a@x; replies to it thread under it.
  std::vector<ThreadMessage> m = {
      msg(1, "First", "a@x"),
      msg(2, "Second", "a@x"),
      msg(3, "Re: First", "c@x", {"a@x"}),
  };
  EXPECT_EQ(refs(m), "(1 3)(2)");
  // Messages without (valid) IDs are threads of their own.
  std::vector<ThreadMessage> none = {msg(1, "p"), msg(2, "q"), msg(3, "r", "", {"zz"})};
  EXPECT_EQ(refs(none), "(1)(2)(3)");
}

TEST(References, SubjectGrouping) {
  // A reply without references joins the original (step 6 C, reply case).
  std::vector<ThreadMessage> reply = {msg(1, "Lunch"), msg(2, "Re: Lunch")};
  EXPECT_EQ(refs(reply), "(1 2)");
  // The original arriving later still becomes the parent: the table keeps
  // the message that is not a reply.
  std::vector<ThreadMessage> late = {msg(1, "Re: Lunch"), msg(2, "lunch")};
  EXPECT_EQ(refs(late), "(2 1)");
  // Two originals, or two replies: a new dummy holds both.
  std::vector<ThreadMessage> same = {msg(1, "Lunch"), msg(2, "Lunch")};
  EXPECT_EQ(refs(same), "((1)(2))");
  std::vector<ThreadMessage> replies = {msg(1, "Re: Lunch"), msg(2, "Fwd: Lunch")};
  EXPECT_EQ(refs(replies), "((1)(2))");
  // A thread under a dummy takes in a message of its subject.
  std::vector<ThreadMessage> dummy = {
      msg(1, "Re: Lunch", "b@x", {"a@x"}),
      msg(2, "Re: Lunch", "c@x", {"a@x"}),
      msg(3, "Lunch"),
  };
  EXPECT_EQ(refs(dummy), "((1)(2)(3))");
  // Two dummies of one subject merge their children.
  std::vector<ThreadMessage> dummies = {
      msg(1, "Re: Lunch", "b@x", {"a@x"}),
      msg(2, "Re: Lunch", "c@x", {"a@x"}),
      msg(3, "Re: Lunch", "e@x", {"d@x"}),
      msg(4, "Re: Lunch", "f@x", {"d@x"}),
  };
  EXPECT_EQ(refs(dummies), "((1)(2)(3)(4))");
  // An empty subject groups nothing.
  std::vector<ThreadMessage> empty = {msg(1, ""), msg(2, "Re:")};
  EXPECT_EQ(refs(empty), "(1)(2)");
  // Subjects compare case-insensitively, after base subject extraction.
  std::vector<ThreadMessage> cases = {msg(1, "[list] LUNCH"), msg(2, "Re: lunch (fwd)")};
  EXPECT_EQ(refs(cases), "(1 2)");
}

TEST(References, ThreadsOrderedByFirstDate) {
  std::vector<ThreadMessage> m = {
      msg(30, "A", "a@x"),
      msg(10, "B", "b@x"),
      msg(20, "Re: C", "c2@x", {"c@x"}),
      msg(25, "Re: C", "c3@x", {"c@x"}),
      msg(5, "Re: A", "a2@x", {"a@x"}),  // child of 1, older than it
  };
  // The dummy of C sorts as its first child (20).
  EXPECT_EQ(refs(m), "(2)((3)(4))(1 5)");
}

TEST(References, DeepChainIsIterative) {
  constexpr size_t kN = 100000;
  std::vector<ThreadMessage> m;
  m.reserve(kN);
  for (size_t i = 0; i < kN; ++i) {
    std::vector<std::string> r;
    if (i > 0) r.push_back("m" + std::to_string(i - 1));
    m.push_back(msg(static_cast<int64_t>(i), i ? "Re: deep" : "deep", "m" + std::to_string(i), r));
  }
  auto t0 = std::chrono::steady_clock::now();
  std::string out = refs(m);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
  EXPECT_EQ(out.substr(0, 8), "(1 2 3 4");
  EXPECT_EQ(out.substr(out.size() - 8), " 100000)");
  EXPECT_EQ(std::count(out.begin(), out.end(), '('), 1);
  EXPECT_LT(ms.count(), 5000);
}

TEST(References, ManyOutOfOrderLinksStayFast) {
  // Replies arriving before their parents, in a long chain: every message
  // already has a child when it is linked, so each link is loop-checked.
  constexpr size_t kN = 20000;
  std::vector<ThreadMessage> m;
  for (size_t i = kN; i-- > 0;) {
    std::vector<std::string> r;
    for (size_t j = i > 50 ? i - 50 : 0; j < i; ++j) r.push_back("m" + std::to_string(j));
    m.push_back(msg(static_cast<int64_t>(i), "chain", "m" + std::to_string(i), r));
  }
  auto t0 = std::chrono::steady_clock::now();
  std::string out = refs(m);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
  EXPECT_EQ(out.substr(0, 12), "(20000 19999");
  EXPECT_EQ(std::count(out.begin(), out.end(), '('), 1);
  EXPECT_LT(ms.count(), 10000);
}

TEST(References, ManyThreadsManySubjects) {
  constexpr size_t kN = 100000;
  std::vector<ThreadMessage> m;
  for (size_t i = 0; i < kN; ++i) {
    size_t topic = i % 5000;
    std::vector<std::string> r;
    if (i >= 5000) r.push_back("t" + std::to_string(i - 5000));
    m.push_back(msg(static_cast<int64_t>(i), (i >= 5000 ? "Re: topic " : "topic ") + std::to_string(topic),
                    "t" + std::to_string(i), r));
  }
  std::string out = refs(m);
  EXPECT_EQ(std::count(out.begin(), out.end(), '('), 5000);
  EXPECT_EQ(out.substr(0, 9), "(1 5001 1");
}

}  // namespace
}  // namespace cyr::imapd
