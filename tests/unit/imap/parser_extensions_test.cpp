// The client examples of each extension we serve, parsed into typed commands.
#include "imap_test_util.h"
#include "server/imap/command_table.h"

namespace cyr::imap {
namespace {

using test::parse_error;
using test::parse_ok;
using test::run;

SequenceSet seq(std::vector<SeqRange> r) { return SequenceSet{std::move(r), false}; }

TEST(Idle, IdleThenDone) {  // RFC 2177
  auto events = run("A002 IDLE\r\nDONE\r\nA003 NOOP\r\n");
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].request->command.id, CommandId::Idle);
  EXPECT_EQ(events[1].what, "line DONE");
  EXPECT_TRUE(is_idle_done("DONE"));
  EXPECT_TRUE(is_idle_done("done"));
  EXPECT_FALSE(is_idle_done("DONE "));
  EXPECT_FALSE(is_idle_done("A003 NOOP"));
  EXPECT_EQ(events[2].request->command.id, CommandId::Noop);
  EXPECT_NE(parse_error("A002 IDLE now\r\n"), "");
}

TEST(Namespace, Plain) {  // RFC 2342
  EXPECT_EQ(parse_ok("A001 NAMESPACE\r\n").command.id, CommandId::Namespace);
}

TEST(UidPlus, UidExpungeAndAppend) {  // RFC 4315
  auto x = parse_ok("A003 UID EXPUNGE 3000:3002\r\n");
  ASSERT_EQ(x.command.id, CommandId::Expunge);
  EXPECT_TRUE(x.command.uid);
  EXPECT_EQ(x.command.as<SequenceArgs>().set, seq({{3000, 3002}}));
  EXPECT_NE(parse_error("A003 UID EXPUNGE\r\n"), "");
  EXPECT_NE(parse_error("A003 EXPUNGE 1:2\r\n"), "");
}

TEST(Move, UidMove) {  // RFC 6851
  auto m = parse_ok("a UID MOVE 42:69 foo\r\n");
  ASSERT_EQ(m.command.id, CommandId::Move);
  EXPECT_TRUE(m.command.uid);
  EXPECT_EQ(m.command.as<CopyArgs>().set, seq({{42, 69}}));
  EXPECT_EQ(m.command.as<CopyArgs>().mailbox, "foo");
  EXPECT_EQ(parse_ok("b MOVE 1:* Trash\r\n").command.as<CopyArgs>().set, seq({{1, kSeqStar}}));
}

TEST(Unselect, Plain) {  // RFC 3691
  EXPECT_EQ(parse_ok("A342 UNSELECT\r\n").command.id, CommandId::Unselect);
}

TEST(ListExtended, SelectionAndReturnOptions) {  // RFC 5258
  auto a = parse_ok("A02 LIST (SUBSCRIBED) \"\" \"*\"\r\n").command.as<ListArgs>();
  EXPECT_TRUE(a.extended);
  EXPECT_EQ(a.select_options, uint32_t(kListSelectSubscribed));
  EXPECT_EQ(a.patterns, std::vector<std::string>{"*"});

  auto b = parse_ok("A03 LIST () \"\" \"%\" RETURN (CHILDREN)\r\n").command.as<ListArgs>();
  EXPECT_EQ(b.select_options, 0u);
  EXPECT_EQ(b.return_options, uint32_t(kListReturnChildren));

  auto c = parse_ok("A04 LIST (REMOTE) \"\" \"%\" RETURN (CHILDREN)\r\n").command.as<ListArgs>();
  EXPECT_EQ(c.select_options, uint32_t(kListSelectRemote));

  auto d = parse_ok("A05 LIST (SUBSCRIBED RECURSIVEMATCH) \"\" \"%\" RETURN (CHILDREN)\r\n")
               .command.as<ListArgs>();
  EXPECT_EQ(d.select_options, uint32_t(kListSelectSubscribed | kListSelectRecursiveMatch));

  auto e = parse_ok("A06 LIST \"\" (\"INBOX\" \"Drafts\" \"Sent/%\")\r\n").command.as<ListArgs>();
  EXPECT_TRUE(e.extended);
  EXPECT_EQ(e.patterns, (std::vector<std::string>{"INBOX", "Drafts", "Sent/%"}));

  EXPECT_NE(parse_error("A07 LIST (RECURSIVEMATCH) \"\" \"%\"\r\n"), "");
  EXPECT_NE(parse_error("A08 LIST (BOGUS) \"\" \"%\"\r\n"), "");
  EXPECT_NE(parse_error("A09 LIST \"\" \"%\" RETURN (BOGUS)\r\n"), "");
  EXPECT_NE(parse_error("A10 LIST \"\" ()\r\n"), "");
}

TEST(ListStatus, ReturnStatus) {  // RFC 5819
  auto a = parse_ok("A01 LIST \"\" % RETURN (STATUS (MESSAGES UNSEEN))\r\n").command.as<ListArgs>();
  EXPECT_EQ(a.return_options, uint32_t(kListReturnStatus));
  EXPECT_EQ(a.status_items, uint32_t(kStatusMessages | kStatusUnseen));
  auto b = parse_ok("A02 LIST (SUBSCRIBED RECURSIVEMATCH) \"\" % RETURN (STATUS (MESSAGES))\r\n")
               .command.as<ListArgs>();
  EXPECT_EQ(b.status_items, uint32_t(kStatusMessages));
  EXPECT_NE(parse_error("A03 LIST \"\" % RETURN (STATUS ())\r\n"), "");
}

TEST(SpecialUse, ListAndCreate) {  // RFC 6154
  auto a = parse_ok("t1 LIST \"\" \"%\" RETURN (SPECIAL-USE)\r\n").command.as<ListArgs>();
  EXPECT_EQ(a.return_options, uint32_t(kListReturnSpecialUse));
  auto b = parse_ok("t3 LIST (SPECIAL-USE) \"\" \"*\"\r\n").command.as<ListArgs>();
  EXPECT_EQ(b.select_options, uint32_t(kListSelectSpecialUse));
  auto c = parse_ok("t1 CREATE \"Everything\" (USE (\\All))\r\n").command.as<CreateArgs>();
  EXPECT_EQ(c.mailbox, "Everything");
  EXPECT_EQ(c.special_use, std::vector<std::string>{"\\All"});
  EXPECT_NE(parse_error("t1 CREATE x (USE (All))\r\n"), "");
  EXPECT_NE(parse_error("t1 CREATE x (FOO (\\All))\r\n"), "");
}

TEST(Enable, Capabilities) {  // RFC 5161
  auto e = parse_ok("t2 ENABLE CONDSTORE X-GOOD-IDEA\r\n").command.as<EnableArgs>();
  EXPECT_EQ(e.capabilities, (std::vector<std::string>{"CONDSTORE", "X-GOOD-IDEA"}));
  EXPECT_EQ(parse_ok("t3 enable qresync\r\n").command.as<EnableArgs>().capabilities,
            std::vector<std::string>{"QRESYNC"});
  EXPECT_NE(parse_error("t4 ENABLE\r\n"), "");
}

TEST(Id, ParamsAndNil) {  // RFC 2971
  auto a = parse_ok(
               "a023 ID (\"name\" \"sodr\" \"version\" \"19.34\" \"vendor\" "
               "\"Pink Floyd Music Limited\")\r\n")
               .command.as<IdArgs>();
  ASSERT_TRUE(a.params);
  ASSERT_EQ(a.params->size(), 3u);
  EXPECT_EQ((*a.params)[2].first, "vendor");
  EXPECT_EQ((*a.params)[2].second, "Pink Floyd Music Limited");
  EXPECT_FALSE(parse_ok("a042 ID NIL\r\n").command.as<IdArgs>().params);
  auto n = parse_ok("a ID (\"os\" NIL)\r\n").command.as<IdArgs>();
  EXPECT_FALSE((*n.params)[0].second);
  EXPECT_NE(parse_error("a ID (\"name\")\r\n"), "");
  EXPECT_NE(parse_error("a ID\r\n"), "");
}

TEST(Condstore, SelectFetchStoreSearch) {  // RFC 7162
  EXPECT_TRUE(parse_ok("a SELECT INBOX (CONDSTORE)\r\n").command.as<SelectArgs>().condstore);

  auto f = parse_ok("s100 UID FETCH 1:* (FLAGS) (CHANGEDSINCE 12345)\r\n").command.as<FetchArgs>();
  EXPECT_EQ(f.changed_since, 12345u);
  EXPECT_FALSE(f.vanished);

  auto m = parse_ok("a FETCH 1 (MODSEQ FLAGS)\r\n").command.as<FetchArgs>();
  EXPECT_EQ(m.items[0].kind, FetchItem::Kind::ModSeq);

  auto s = parse_ok("a103 UID STORE 6,4,8 (UNCHANGEDSINCE 12121230045) +FLAGS.SILENT (\\Deleted)\r\n")
               .command.as<StoreArgs>();
  EXPECT_EQ(s.unchanged_since, 12121230045u);
  EXPECT_EQ(s.set, seq({{6, 6}, {4, 4}, {8, 8}}));
  EXPECT_TRUE(s.silent);
  EXPECT_EQ(s.op, StoreArgs::Op::Add);

  auto q = parse_ok("a SEARCH MODSEQ \"/flags/\\\\draft\" all 620162338\r\n").command.as<SearchArgs>();
  const SearchKey& k = q.key.children.at(0);
  EXPECT_EQ(k.kind, SearchKey::Kind::ModSeq);
  EXPECT_EQ(k.modseq_entry, "/flags/\\draft");
  EXPECT_EQ(k.modseq_entry_type, "ALL");
  EXPECT_EQ(k.number, 620162338u);
  EXPECT_EQ(parse_ok("a SEARCH MODSEQ 5\r\n").command.as<SearchArgs>().key.children[0].number, 5u);

  auto st = parse_ok("a STATUS x (HIGHESTMODSEQ)\r\n").command.as<StatusArgs>();
  EXPECT_EQ(st.items, uint32_t(kStatusHighestModSeq));
  EXPECT_NE(parse_error("a SELECT INBOX (FOO)\r\n"), "");
  // mod-sequence-value is at most 2^63-1.
  EXPECT_NE(parse_error("a FETCH 1 FLAGS (CHANGEDSINCE 9223372036854775808)\r\n"), "");
}

TEST(Qresync, SelectAndVanished) {  // RFC 7162 section 3.2
  auto a = parse_ok("A02 SELECT INBOX (QRESYNC (67890007 20050715194045000 41,43:211,214:541))\r\n")
               .command.as<SelectArgs>();
  ASSERT_TRUE(a.qresync);
  EXPECT_EQ(a.qresync->uidvalidity, 67890007u);
  EXPECT_EQ(a.qresync->modseq, 20050715194045000u);
  EXPECT_EQ(a.qresync->known_uids, seq({{41, 41}, {43, 211}, {214, 541}}));
  EXPECT_FALSE(a.qresync->seq_match);

  auto b = parse_ok(
               "B02 SELECT INBOX (QRESYNC (67890007 90060115194045000 1:29997 "
               "(5000,7500,9000,9990:9999 15000,22500,27000,29970,29973,29976,29979,29982,"
               "29985,29988,29991,29994,29997)))\r\n")
               .command.as<SelectArgs>();
  ASSERT_TRUE(b.qresync && b.qresync->seq_match);
  EXPECT_EQ(b.qresync->seq_match->first.ranges.size(), 4u);
  EXPECT_EQ(b.qresync->seq_match->second.ranges.size(), 13u);

  auto c = parse_ok("A03 SELECT INBOX (QRESYNC (1 2))\r\n").command.as<SelectArgs>();
  EXPECT_FALSE(c.qresync->known_uids);

  auto v = parse_ok("s100 UID FETCH 300:500 (FLAGS) (CHANGEDSINCE 12345 VANISHED)\r\n")
               .command.as<FetchArgs>();
  EXPECT_TRUE(v.vanished);
  EXPECT_NE(parse_error("s100 FETCH 300:500 (FLAGS) (CHANGEDSINCE 12345 VANISHED)\r\n"), "");
  EXPECT_NE(parse_error("s100 UID FETCH 300:500 (FLAGS) (VANISHED)\r\n"), "");
  EXPECT_NE(parse_error("A02 SELECT INBOX (QRESYNC (0 1))\r\n"), "");  // nz uidvalidity
  EXPECT_NE(parse_error("A02 SELECT INBOX (QRESYNC (1 2 1:*))\r\n"), "");
  EXPECT_NE(parse_error("A02 SELECT INBOX (QRESYNC (1 2 1:5 (1:* 1:5)))\r\n"), "");
}

TEST(Esearch, ReturnOptions) {  // RFC 4731
  auto a = parse_ok("A282 SEARCH RETURN (MIN COUNT) FLAGGED SINCE 1-Feb-1994 NOT FROM \"Smith\"\r\n")
               .command.as<SearchArgs>();
  EXPECT_EQ(a.return_options, uint32_t(kSearchReturnMin | kSearchReturnCount));
  EXPECT_EQ(a.key.children.size(), 3u);
  auto b = parse_ok("A283 SEARCH RETURN () FLAGGED SINCE 1-Feb-1994 NOT FROM \"Smith\"\r\n")
               .command.as<SearchArgs>();
  EXPECT_EQ(b.return_options, uint32_t(kSearchReturnAll));
  auto c = parse_ok("A284 UID SEARCH RETURN (MIN MAX ALL) CHARSET us-ascii OR 1:5 7 UNSEEN\r\n")
               .command.as<SearchArgs>();
  EXPECT_EQ(c.return_options, uint32_t(kSearchReturnMin | kSearchReturnMax | kSearchReturnAll));
  EXPECT_EQ(c.charset, "US-ASCII");
  EXPECT_NE(parse_error("A285 SEARCH RETURN (FIRST) ALL\r\n"), "");
}

TEST(SearchRes, SaveAndDollar) {  // RFC 5182
  auto a = parse_ok("A282 SEARCH RETURN (SAVE) FLAGGED SINCE 1-Feb-1994 NOT FROM \"Smith\"\r\n")
               .command.as<SearchArgs>();
  EXPECT_EQ(a.return_options, uint32_t(kSearchReturnSave));
  auto f = parse_ok("A283 FETCH $ (UID INTERNALDATE FLAGS RFC822.HEADER)\r\n").command.as<FetchArgs>();
  EXPECT_TRUE(f.set.saved_result);
  EXPECT_EQ(f.items.size(), 4u);
  auto s = parse_ok("A284 UID SEARCH UID $ SMALLER 4096\r\n").command.as<SearchArgs>();
  EXPECT_TRUE(s.key.children[0].set.saved_result);
  auto d = parse_ok("A285 SEARCH $ OR 1 2\r\n").command.as<SearchArgs>();
  EXPECT_EQ(d.key.children[0].kind, SearchKey::Kind::SequenceSet);
  EXPECT_TRUE(d.key.children[0].set.saved_result);
  EXPECT_TRUE(parse_ok("A286 UID COPY $ foo\r\n").command.as<CopyArgs>().set.saved_result);
  EXPECT_TRUE(parse_ok("A287 STORE $ +FLAGS (\\Seen)\r\n").command.as<StoreArgs>().set.saved_result);
  // "$" is the whole set, never part of one; QRESYNC sets never allow it.
  EXPECT_NE(parse_error("A288 FETCH $,1 FLAGS\r\n"), "");
  EXPECT_NE(parse_error("A289 SELECT INBOX (QRESYNC (1 2 $))\r\n"), "");
}

TEST(Acl, Commands) {  // RFC 4314
  auto g = parse_ok("A001 GETACL INBOX/Drafts\r\n");
  EXPECT_EQ(g.command.id, CommandId::GetAcl);
  EXPECT_EQ(g.command.as<MailboxArgs>().mailbox, "INBOX/Drafts");
  auto s = parse_ok("A002 SETACL INBOX/Drafts Fred rwipslxetad\r\n").command.as<SetAclArgs>();
  EXPECT_EQ(s.identifier, "Fred");
  EXPECT_EQ(s.rights, "rwipslxetad");
  EXPECT_EQ(parse_ok("A003 SETACL INBOX/Drafts Chris +cda\r\n").command.as<SetAclArgs>().rights,
            "+cda");
  auto d = parse_ok("A004 DELETEACL INBOX/Drafts Chris\r\n");
  EXPECT_EQ(d.command.id, CommandId::DeleteAcl);
  EXPECT_EQ(d.command.as<SetAclArgs>().identifier, "Chris");
  auto l = parse_ok("a001 LISTRIGHTS ~/Mail/saved smith\r\n");
  EXPECT_EQ(l.command.id, CommandId::ListRights);
  EXPECT_EQ(l.command.as<SetAclArgs>().mailbox, "~/Mail/saved");
  EXPECT_EQ(parse_ok("A003 MYRIGHTS INBOX\r\n").command.id, CommandId::MyRights);
  EXPECT_NE(parse_error("A002 SETACL INBOX/Drafts Fred\r\n"), "");
}

TEST(Quota, Commands) {  // RFC 9208
  auto g = parse_ok("G0001 GETQUOTA \"!partition/sda4\"\r\n");
  EXPECT_EQ(g.command.id, CommandId::GetQuota);
  EXPECT_EQ(g.command.as<QuotaRootArgs>().root, "!partition/sda4");
  auto r = parse_ok("G0002 GETQUOTAROOT INBOX\r\n");
  EXPECT_EQ(r.command.id, CommandId::GetQuotaRoot);
  auto s = parse_ok("S0001 SETQUOTA \"#user/alice\" (STORAGE 510 message 1000)\r\n")
               .command.as<SetQuotaArgs>();
  EXPECT_EQ(s.root, "#user/alice");
  ASSERT_EQ(s.limits.size(), 2u);
  EXPECT_EQ(s.limits[0], (std::pair<std::string, uint64_t>{"STORAGE", 510}));
  EXPECT_EQ(s.limits[1], (std::pair<std::string, uint64_t>{"MESSAGE", 1000}));
  EXPECT_TRUE(parse_ok("S0002 SETQUOTA \"\" ()\r\n").command.as<SetQuotaArgs>().limits.empty());
  EXPECT_NE(parse_error("S0003 SETQUOTA x (STORAGE)\r\n"), "");
  auto st = parse_ok("a STATUS INBOX (MESSAGES DELETED SIZE)\r\n").command.as<StatusArgs>();
  EXPECT_EQ(st.items, uint32_t(kStatusMessages | kStatusDeleted | kStatusSize));
}

TEST(AppendLimit, StatusItem) {  // RFC 7889
  auto st = parse_ok("a STATUS INBOX (APPENDLIMIT)\r\n").command.as<StatusArgs>();
  EXPECT_EQ(st.items, uint32_t(kStatusAppendLimit));
}

TEST(MultiAppend, TwoMessages) {  // RFC 3502
  auto events = run(
      "A003 APPEND saved-messages (\\Seen) {5}\r\nHello (\\Seen) \" 1-Jul-2002 22:05:50 -0700\" "
      "{3}\r\nBye\r\n");
  ASSERT_EQ(events.size(), 5u);
  EXPECT_EQ(events[0].what, "message 5 sync 1 index 0");
  EXPECT_EQ(events[1].what, "data Hello<end>");
  EXPECT_EQ(events[2].what, "message 3 sync 1 index 1");
  EXPECT_EQ(events[3].what, "data Bye<end>");
  const auto& a = events[4].request->command.as<AppendArgs>();
  ASSERT_EQ(a.messages.size(), 2u);
  EXPECT_EQ(a.messages[0].literal, 0u);
  EXPECT_EQ(a.messages[1].literal, 1u);
  EXPECT_EQ(a.messages[1].size, 3u);
  EXPECT_EQ(a.messages[1].internal_date->date, (Date{2002, 7, 1}));
  EXPECT_EQ(a.messages[1].internal_date->zone_minutes, -420);
}

TEST(LiteralPlus, NonSynchronizingLiterals) {  // RFC 7888
  auto events = run("A001 LOGIN {11+}\r\nFRED FOOBAR {7+}\r\nfat man\r\n");
  ASSERT_EQ(events.size(), 1u);
  const auto& l = events[0].request->command.as<LoginArgs>();
  EXPECT_EQ(l.user, "FRED FOOBAR");
  EXPECT_EQ(l.password, "fat man");
  // Synchronizing: one NeedLiteral per literal.
  auto sync = run("A001 LOGIN {11}\r\nFRED FOOBAR {7}\r\nfat man\r\n");
  ASSERT_EQ(sync.size(), 3u);
  EXPECT_EQ(sync[0].what, "literal 11");
  EXPECT_EQ(sync[1].what, "literal 7");
  EXPECT_EQ(sync[2].request->command.as<LoginArgs>().password, "fat man");
}

TEST(LiteralMinus, LargeNonSyncLiteralRefused) {  // RFC 7888 section 5
  ParserLimits lim;
  lim.literal_minus = true;
  lim.max_literal = 10000;
  std::string big(5000, 'x');
  auto events = run("a LOGIN {5000+}\r\n" + big + " pw\r\na NOOP\r\n", 0, lim);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].what, "error a BAD [TOOBIG] Literal too big");
  EXPECT_EQ(events[1].request->command.id, CommandId::Noop);
  // 4096 is allowed; a synchronizing literal of any allowed size too.
  EXPECT_EQ(parse_ok("a LOGIN {4096+}\r\n" + std::string(4096, 'y') + " pw\r\n", lim)
                .command.as<LoginArgs>().user.size(), 4096u);
  EXPECT_EQ(parse_ok("a LOGIN {5000}\r\n" + big + " pw\r\n", lim).command.as<LoginArgs>().user,
            big);
}

TEST(SaslIr, InitialResponse) {  // RFC 4959
  auto a = parse_ok("a AUTHENTICATE PLAIN dGVzdAB0ZXN0AHRlc3Q=\r\n").command.as<AuthenticateArgs>();
  EXPECT_EQ(a.mechanism, "PLAIN");
  EXPECT_EQ(a.initial_response, "dGVzdAB0ZXN0AHRlc3Q=");
  auto e = parse_ok("a authenticate external =\r\n").command.as<AuthenticateArgs>();
  EXPECT_EQ(e.mechanism, "EXTERNAL");
  ASSERT_TRUE(e.initial_response);
  EXPECT_EQ(*e.initial_response, "");
  EXPECT_NE(parse_error("a AUTHENTICATE PLAIN abc\r\n"), "");  // not base64 (length)
  EXPECT_NE(parse_error("a AUTHENTICATE PLAIN dGVz dGVz\r\n"), "");
  // Cancelling a SASL exchange: "*" comes back as a line.
  auto events = run("a AUTHENTICATE PLAIN\r\n*\r\n");
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[1].what, "line *");
}

TEST(StartTls, Plain) {
  EXPECT_EQ(parse_ok("a STARTTLS\r\n").command.id, CommandId::StartTls);
  EXPECT_NE(parse_error("a STARTTLS now\r\n"), "");
}

TEST(Compress, DeflateOnly) {  // RFC 4978
  auto c = parse_ok("a COMPRESS deflate\r\n");
  EXPECT_EQ(c.command.id, CommandId::Compress);
  EXPECT_EQ(c.command.as<CompressArgs>().mechanism, "DEFLATE");
  EXPECT_NE(parse_error("a COMPRESS LZW\r\n"), "");  // a BAD, section 3
  EXPECT_NE(parse_error("a COMPRESS\r\n"), "");
  EXPECT_NE(parse_error("a COMPRESS DEFLATE now\r\n"), "");
  EXPECT_TRUE(command_allowed_in(CommandId::Compress, kAuthenticated));
  EXPECT_TRUE(command_allowed_in(CommandId::Compress, kSelected));
  EXPECT_FALSE(command_allowed_in(CommandId::Compress, kNotAuthenticated));
}

TEST(Metadata, GetAndSet) {  // RFC 5464
  auto g = parse_ok("a GETMETADATA \"\" /shared/comment\r\n").command.as<GetMetadataArgs>();
  EXPECT_EQ(g.mailbox, "");
  EXPECT_EQ(g.entries, std::vector<std::string>{"/shared/comment"});
  auto h = parse_ok("a GETMETADATA (MAXSIZE 1024 DEPTH infinity) INBOX (/private/comment /shared/x)\r\n")
               .command.as<GetMetadataArgs>();
  EXPECT_EQ(h.maxsize, 1024u);
  EXPECT_EQ(h.depth, "infinity");
  EXPECT_EQ(h.entries.size(), 2u);
  auto s = parse_ok("a SETMETADATA INBOX (/private/comment {6}\r\nMy own /shared/x NIL)\r\n")
               .command.as<SetMetadataArgs>();
  ASSERT_EQ(s.entries.size(), 2u);
  EXPECT_EQ(s.entries[0].second, "My own");
  EXPECT_FALSE(s.entries[1].second);
  EXPECT_NE(parse_error("a GETMETADATA (DEPTH 2) INBOX /x\r\n"), "");
  EXPECT_NE(parse_error("a SETMETADATA INBOX ()\r\n"), "");
}

TEST(Within, OlderYounger) {  // RFC 5032
  auto s = parse_ok("a SEARCH YOUNGER 3600 OLDER 60\r\n").command.as<SearchArgs>();
  EXPECT_EQ(s.key.children[0].kind, SearchKey::Kind::Younger);
  EXPECT_EQ(s.key.children[0].number, 3600u);
  EXPECT_EQ(s.key.children[1].kind, SearchKey::Kind::Older);
  EXPECT_NE(parse_error("a SEARCH YOUNGER 0\r\n"), "");
}

TEST(Within, BadIntervals) {  // RFC 5032: nz-number
  EXPECT_NE(parse_error("a SEARCH OLDER 0\r\n"), "");
  EXPECT_NE(parse_error("a SEARCH OLDER x\r\n"), "");
  EXPECT_NE(parse_error("a SEARCH OLDER\r\n"), "");
  EXPECT_NE(parse_error("a SEARCH YOUNGER -5\r\n"), "");
  EXPECT_NE(parse_error("a SEARCH YOUNGER 4294967296\r\n"), "");  // beyond 32 bits
  auto s = parse_ok("a UID SORT (DATE) UTF-8 OLDER 4294967295\r\n").command.as<SortArgs>();
  EXPECT_EQ(s.key.children[0].kind, SearchKey::Kind::Older);
  EXPECT_EQ(s.key.children[0].number, 4294967295u);
}

TEST(ObjectId, FetchItems) {  // RFC 8474
  auto f = parse_ok("a UID FETCH 1:* (EMAILID THREADID UID) (CHANGEDSINCE 5)\r\n")
               .command.as<FetchArgs>();
  ASSERT_EQ(f.items.size(), 3u);
  EXPECT_EQ(f.items[0].kind, FetchItem::Kind::EmailId);
  EXPECT_EQ(f.items[1].kind, FetchItem::Kind::ThreadId);
  EXPECT_EQ(f.changed_since, 5u);
  EXPECT_EQ(parse_ok("a FETCH 2 emailid\r\n").command.as<FetchArgs>().items[0].kind,
            FetchItem::Kind::EmailId);
  EXPECT_NE(parse_error("a FETCH 1 EMAILID[]\r\n"), "");
  EXPECT_NE(parse_error("a FETCH 1 (EMAILIDS)\r\n"), "");
}

TEST(ObjectId, SearchKeys) {
  auto s = parse_ok("a SEARCH EMAILID M6d99ebfc4b5a17d7f3fba1d4 THREADID T64b478a75b7ea9d6\r\n")
               .command.as<SearchArgs>();
  ASSERT_EQ(s.key.children.size(), 2u);
  EXPECT_EQ(s.key.children[0].kind, SearchKey::Kind::EmailId);
  EXPECT_EQ(s.key.children[0].text, "M6d99ebfc4b5a17d7f3fba1d4");
  EXPECT_EQ(s.key.children[1].kind, SearchKey::Kind::ThreadId);
  EXPECT_EQ(s.key.children[1].text, "T64b478a75b7ea9d6");
  // In ESEARCH, SORT and THREAD too: they share the search-key parser.
  EXPECT_EQ(parse_ok("a SEARCH RETURN (COUNT) NOT EMAILID Mx\r\n").command.as<SearchArgs>()
                .key.children[0].children[0].kind,
            SearchKey::Kind::EmailId);
  EXPECT_EQ(parse_ok("a SORT (ARRIVAL) UTF-8 EMAILID M1\r\n").command.as<SortArgs>()
                .key.children[0].kind,
            SearchKey::Kind::EmailId);
  EXPECT_EQ(parse_ok("a THREAD REFERENCES UTF-8 THREADID T1\r\n").command.as<ThreadArgs>()
                .key.children[0].kind,
            SearchKey::Kind::ThreadId);
  // objectid = 1*255(ALPHA / DIGIT / "_" / "-"): nothing else, not empty, not quoted.
  EXPECT_NE(parse_error("a SEARCH EMAILID M12.34\r\n"), "");
  EXPECT_NE(parse_error("a SEARCH EMAILID \"M1234\"\r\n"), "");
  EXPECT_NE(parse_error("a SEARCH EMAILID\r\n"), "");
  EXPECT_NE(parse_error("a SEARCH EMAILID (M1)\r\n"), "");
  EXPECT_NE(parse_error("a SEARCH THREADID T1+2\r\n"), "");
  EXPECT_NE(parse_error("a SEARCH EMAILID " + std::string(256, 'a') + "\r\n"), "");
  EXPECT_EQ(parse_ok("a SEARCH EMAILID " + std::string(255, 'a') + "\r\n").command.id,
            CommandId::Search);
}

TEST(ObjectId, StatusMailboxId) {
  auto s = parse_ok("a STATUS INBOX (MESSAGES MAILBOXID)\r\n").command.as<StatusArgs>();
  EXPECT_EQ(s.items, uint32_t(kStatusMessages | kStatusMailboxId));
  auto l = parse_ok("a LIST \"\" % RETURN (STATUS (MAILBOXID))\r\n").command.as<ListArgs>();
  EXPECT_EQ(l.status_items, uint32_t(kStatusMailboxId));
  EXPECT_NE(parse_error("a STATUS INBOX (MAILBOXID x)\r\n"), "");
}

TEST(ObjectId, IsObjectId) {
  EXPECT_TRUE(is_object_id("F2212ea87-6097-4256-9d51-71338625"));
  EXPECT_TRUE(is_object_id("a_b-C9"));
  EXPECT_FALSE(is_object_id(""));
  EXPECT_FALSE(is_object_id("a b"));
  EXPECT_FALSE(is_object_id("a.b"));
  EXPECT_FALSE(is_object_id(std::string(256, 'x')));
}

TEST(SaveDate, FetchAndSearch) {  // RFC 8514
  auto f = parse_ok("a FETCH 1 (SAVEDATE INTERNALDATE)\r\n").command.as<FetchArgs>();
  EXPECT_EQ(f.items[0].kind, FetchItem::Kind::SaveDate);
  auto s = parse_ok("a UID SEARCH SAVEDBEFORE 1-Feb-2024 SAVEDON \"2-Feb-2024\" "
                    "SAVEDSINCE 03-Mar-2020 SAVEDATESUPPORTED\r\n")
               .command.as<SearchArgs>();
  ASSERT_EQ(s.key.children.size(), 4u);
  EXPECT_EQ(s.key.children[0].kind, SearchKey::Kind::SavedBefore);
  EXPECT_EQ(s.key.children[0].date, (Date{2024, 2, 1}));
  EXPECT_EQ(s.key.children[1].kind, SearchKey::Kind::SavedOn);
  EXPECT_EQ(s.key.children[1].date, (Date{2024, 2, 2}));
  EXPECT_EQ(s.key.children[2].kind, SearchKey::Kind::SavedSince);
  EXPECT_EQ(s.key.children[2].date, (Date{2020, 3, 3}));
  EXPECT_EQ(s.key.children[3].kind, SearchKey::Kind::SaveDateSupported);
  EXPECT_NE(parse_error("a SEARCH SAVEDON 31-Foo-2024\r\n"), "");
  EXPECT_NE(parse_error("a SEARCH SAVEDON 2024-02-01\r\n"), "");
  EXPECT_NE(parse_error("a SEARCH SAVEDBEFORE\r\n"), "");
  EXPECT_NE(parse_error("a SEARCH SAVEDSINCE 1-Feb\r\n"), "");
}

TEST(Preview, FetchItem) {  // RFC 8970
  auto f = parse_ok("a FETCH 1 (UID PREVIEW)\r\n").command.as<FetchArgs>();
  ASSERT_EQ(f.items.size(), 2u);
  EXPECT_EQ(f.items[1].kind, FetchItem::Kind::Preview);
  EXPECT_FALSE(f.items[1].lazy);
  f = parse_ok("a FETCH 1 (PREVIEW (LAZY) FLAGS)\r\n").command.as<FetchArgs>();
  ASSERT_EQ(f.items.size(), 2u);
  EXPECT_TRUE(f.items[0].lazy);
  EXPECT_EQ(f.items[1].kind, FetchItem::Kind::Flags);
  f = parse_ok("a FETCH 1 PREVIEW (lazy)\r\n").command.as<FetchArgs>();
  ASSERT_EQ(f.items.size(), 1u);
  EXPECT_TRUE(f.items[0].lazy);
  // A list after a lone PREVIEW that is not LAZY is the fetch-modifiers.
  f = parse_ok("a UID FETCH 1:* PREVIEW (CHANGEDSINCE 7)\r\n").command.as<FetchArgs>();
  EXPECT_FALSE(f.items[0].lazy);
  EXPECT_EQ(f.changed_since, 7u);
  f = parse_ok("a UID FETCH 1:* PREVIEW (LAZY) (CHANGEDSINCE 7 VANISHED)\r\n")
          .command.as<FetchArgs>();
  EXPECT_TRUE(f.items[0].lazy);
  EXPECT_TRUE(f.vanished);
  EXPECT_NE(parse_error("a FETCH 1 (PREVIEW (FUZZY))\r\n"), "");
  EXPECT_NE(parse_error("a FETCH 1 (PREVIEW ())\r\n"), "");
  EXPECT_NE(parse_error("a FETCH 1 (PREVIEW (LAZY)\r\n"), "");
  EXPECT_NE(parse_error("a FETCH 1 PREVIEW (FUZZY)\r\n"), "");
  EXPECT_NE(parse_error("a FETCH 1 PREVIEW[]\r\n"), "");
}

TEST(Binary, FetchItems) {  // RFC 3516
  auto f = parse_ok("a FETCH 1 (BINARY[1.2]<0.100> BINARY.PEEK[] BINARY.SIZE[3])\r\n")
               .command.as<FetchArgs>();
  ASSERT_EQ(f.items.size(), 3u);
  EXPECT_EQ(f.items[0].kind, FetchItem::Kind::BinarySection);
  EXPECT_EQ(f.items[0].section.part, (std::vector<uint32_t>{1, 2}));
  EXPECT_EQ(f.items[0].partial, (Partial{0, 100}));
  EXPECT_TRUE(f.items[1].peek);
  EXPECT_EQ(f.items[2].kind, FetchItem::Kind::BinarySize);
  EXPECT_NE(parse_error("a FETCH 1 BINARY[HEADER]\r\n"), "");
}

TEST(Replication, RawDlistCapture) {
  auto a = parse_ok("S1 SYNCGET USER fred\r\n");
  EXPECT_EQ(a.command.id, CommandId::SyncGet);
  EXPECT_EQ(a.command.as<SyncArgs>().raw, "USER fred");

  // Literals and file literals stay in the raw bytes, exactly as sent.
  std::string line =
      "S2 SYNCAPPLY MESSAGE (%{default 0123456789abcdef0123456789abcdef01234567 5}\r\nhello "
      "%(KEY {3+}\r\na\r\nb FLAGS (\\Seen)))\r\n";
  auto events = run(line);
  ASSERT_EQ(events.size(), 1u);
  ASSERT_TRUE(events[0].request);
  EXPECT_EQ(events[0].request->command.id, CommandId::SyncApply);
  EXPECT_EQ(events[0].request->command.as<SyncArgs>().raw,
            "MESSAGE (%{default 0123456789abcdef0123456789abcdef01234567 5}\r\nhello "
            "%(KEY {3+}\r\na\r\nb FLAGS (\\Seen)))");
  EXPECT_EQ(run(line, 1), events);

  auto r = parse_ok("S3 syncrestart\r\n");
  EXPECT_EQ(r.command.id, CommandId::SyncRestart);
  EXPECT_EQ(r.command.as<SyncArgs>().raw, "");

  // A long dlist line is bounded by max_raw_command, not max_line.
  ParserLimits lim;
  lim.max_line = 100;
  std::string big = "S4 SYNCAPPLY MAILBOX %(RECORD (" + std::string(1000, 'x') + "))\r\n";
  EXPECT_EQ(parse_ok(big, lim).command.as<SyncArgs>().raw.size(), big.size() - 2 - 13);
  lim.max_raw_command = 500;
  EXPECT_EQ(parse_error(big, lim), "error S4 BAD [] Line too long");
}

}  // namespace
}  // namespace cyr::imap
