// Every client command example of RFC 3501 section 6 and the section 8
// sample session, parsed into the expected typed command.
#include "imap_test_util.h"
#include "server/imap/command_table.h"

namespace cyr::imap {
namespace {

using test::parse_error;
using test::parse_ok;
using test::run;

SequenceSet seq(std::vector<SeqRange> r) { return SequenceSet{std::move(r), false}; }

TEST(Rfc3501, AnyStateCommands) {
  auto r = parse_ok("a441 CAPABILITY\r\n");
  EXPECT_EQ(r.tag, "a441");
  EXPECT_EQ(r.command.id, CommandId::Capability);
  EXPECT_EQ(parse_ok("a002 NOOP\r\n").command.id, CommandId::Noop);
  EXPECT_EQ(parse_ok("A023 LOGOUT\r\n").command.id, CommandId::Logout);
  EXPECT_EQ(parse_error("a441 CAPABILITY extra\r\n"),
            "error a441 BAD [] CAPABILITY: Unexpected extra arguments");
}

TEST(Rfc3501, NotAuthenticatedCommands) {
  EXPECT_EQ(parse_ok("a001 STARTTLS\r\n").command.id, CommandId::StartTls);

  auto login = parse_ok("a001 LOGIN SMITH SESAME\r\n");
  ASSERT_EQ(login.command.id, CommandId::Login);
  EXPECT_EQ(login.command.as<LoginArgs>().user, "SMITH");
  EXPECT_EQ(login.command.as<LoginArgs>().password, "SESAME");

  // 6.2.2: AUTHENTICATE GSSAPI, then the client's continuation lines.
  auto events = run(
      "A001 AUTHENTICATE GSSAPI\r\n"
      "YIIB+wYJKoZIhvcSAQICAQBuggHqMIIB5qADAgEFoQMCAQ6iBw==\r\n");
  ASSERT_EQ(events.size(), 2u);
  ASSERT_TRUE(events[0].request);
  EXPECT_EQ(events[0].request->command.as<AuthenticateArgs>().mechanism, "GSSAPI");
  EXPECT_FALSE(events[0].request->command.as<AuthenticateArgs>().initial_response);
  EXPECT_EQ(events[1].what, "line YIIB+wYJKoZIhvcSAQICAQBuggHqMIIB5qADAgEFoQMCAQ6iBw==");
}

TEST(Rfc3501, SelectExamineCreate) {
  auto s = parse_ok("A142 SELECT INBOX\r\n");
  ASSERT_EQ(s.command.id, CommandId::Select);
  EXPECT_EQ(s.command.as<SelectArgs>().mailbox, "INBOX");
  EXPECT_FALSE(s.command.as<SelectArgs>().condstore);

  auto e = parse_ok("A932 EXAMINE blurdybloop\r\n");
  ASSERT_EQ(e.command.id, CommandId::Examine);
  EXPECT_EQ(e.command.as<SelectArgs>().mailbox, "blurdybloop");

  EXPECT_EQ(parse_ok("A003 CREATE owatagusiam/\r\n").command.as<CreateArgs>().mailbox,
            "owatagusiam/");
  EXPECT_EQ(parse_ok("A004 CREATE owatagusiam/blurdybloop\r\n").command.as<CreateArgs>().mailbox,
            "owatagusiam/blurdybloop");
}

TEST(Rfc3501, DeleteRenameSubscribe) {
  for (const char* name : {"blurdybloop", "foo", "foo/bar"}) {
    auto d = parse_ok(std::string("A683 DELETE ") + name + "\r\n");
    ASSERT_EQ(d.command.id, CommandId::Delete);
    EXPECT_EQ(d.command.as<MailboxArgs>().mailbox, name);
  }
  auto r = parse_ok("A683 RENAME blurdybloop sarasoop\r\n");
  ASSERT_EQ(r.command.id, CommandId::Rename);
  EXPECT_EQ(r.command.as<RenameArgs>().from, "blurdybloop");
  EXPECT_EQ(r.command.as<RenameArgs>().to, "sarasoop");
  EXPECT_EQ(parse_ok("Z433 RENAME INBOX old-mail\r\n").command.as<RenameArgs>().from, "INBOX");

  auto sub = parse_ok("A002 SUBSCRIBE #news.comp.mail.mime\r\n");
  ASSERT_EQ(sub.command.id, CommandId::Subscribe);
  EXPECT_EQ(sub.command.as<MailboxArgs>().mailbox, "#news.comp.mail.mime");
  EXPECT_EQ(parse_ok("A002 UNSUBSCRIBE #news.comp.mail.mime\r\n").command.id,
            CommandId::Unsubscribe);
}

TEST(Rfc3501, ListAndLsub) {
  struct Case {
    const char* line;
    const char* reference;
    const char* pattern;
  } cases[] = {
      {"A682 LIST \"\" *\r\n", "", "*"},
      {"A687 LIST \"\" foo/%\r\n", "", "foo/%"},
      {"A86 LIST \"\" %\r\n", "", "%"},
      {"A101 LIST \"\" \"\"\r\n", "", ""},
      {"A102 LIST #news.comp.mail.misc \"\"\r\n", "#news.comp.mail.misc", ""},
      {"A103 LIST /usr/staff/jones \"\"\r\n", "/usr/staff/jones", ""},
      {"A202 LIST ~/Mail/ %\r\n", "~/Mail/", "%"},
  };
  for (const Case& c : cases) {
    auto r = parse_ok(c.line);
    ASSERT_EQ(r.command.id, CommandId::List) << c.line;
    const auto& a = r.command.as<ListArgs>();
    EXPECT_EQ(a.reference, c.reference);
    ASSERT_EQ(a.patterns.size(), 1u);
    EXPECT_EQ(a.patterns[0], c.pattern);
    EXPECT_FALSE(a.extended);
  }
  auto l = parse_ok("A002 LSUB \"#news.\" \"comp.mail.*\"\r\n");
  ASSERT_EQ(l.command.id, CommandId::Lsub);
  EXPECT_EQ(l.command.as<ListArgs>().reference, "#news.");
  EXPECT_EQ(l.command.as<ListArgs>().patterns[0], "comp.mail.*");
  EXPECT_EQ(parse_ok("A003 LSUB \"#news.\" \"comp.%\"\r\n").command.as<ListArgs>().patterns[0],
            "comp.%");
}

TEST(Rfc3501, Status) {
  auto s = parse_ok("A042 STATUS blurdybloop (UIDNEXT MESSAGES)\r\n");
  ASSERT_EQ(s.command.id, CommandId::Status);
  EXPECT_EQ(s.command.as<StatusArgs>().mailbox, "blurdybloop");
  EXPECT_EQ(s.command.as<StatusArgs>().items, uint32_t(kStatusUidNext | kStatusMessages));
  EXPECT_NE(parse_error("A042 STATUS blurdybloop ()\r\n"), "");
  EXPECT_NE(parse_error("A042 STATUS blurdybloop (BOGUS)\r\n"), "");
}

const char kMessage[] =
    "Date: Mon, 7 Feb 1994 21:52:25 -0800 (PST)\r\n"
    "From: Fred Foobar <foobar@Blurdybloop.COM>\r\n"
    "Subject: afternoon meeting\r\n"
    "To: mooch@owatagu.siam.edu\r\n"
    "Message-Id: <B27397-0100000@Blurdybloop.COM>\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: TEXT/PLAIN; CHARSET=US-ASCII\r\n"
    "\r\n"
    "Hello Joe, do you think we can meet at 3:30 tomorrow?\r\n";

TEST(Rfc3501, Append) {
  std::string msg = kMessage;
  std::string input = "A003 APPEND saved-messages (\\Seen) {" + std::to_string(msg.size()) +
                      "}\r\n" + msg + "\r\n";
  auto events = run(input);
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].what, "message " + std::to_string(msg.size()) + " sync 1 index 0");
  EXPECT_EQ(events[1].what, "data " + msg + "<end>");
  ASSERT_TRUE(events[2].request);
  const auto& a = events[2].request->command.as<AppendArgs>();
  EXPECT_EQ(a.mailbox, "saved-messages");
  ASSERT_EQ(a.messages.size(), 1u);
  EXPECT_EQ(a.messages[0].flags, std::vector<std::string>{"\\Seen"});
  EXPECT_EQ(a.messages[0].size, msg.size());
  EXPECT_FALSE(a.messages[0].internal_date);
}

TEST(Rfc3501, SelectedStateCommands) {
  EXPECT_EQ(parse_ok("FXXZ CHECK\r\n").command.id, CommandId::Check);
  EXPECT_EQ(parse_ok("A341 CLOSE\r\n").command.id, CommandId::Close);
  auto x = parse_ok("A202 EXPUNGE\r\n");
  EXPECT_EQ(x.command.id, CommandId::Expunge);
  EXPECT_FALSE(x.command.uid);
}

TEST(Rfc3501, Search) {
  auto s = parse_ok("A282 SEARCH FLAGGED SINCE 1-Feb-1994 NOT FROM \"Smith\"\r\n");
  ASSERT_EQ(s.command.id, CommandId::Search);
  const auto& a = s.command.as<SearchArgs>();
  EXPECT_FALSE(a.return_options);
  EXPECT_FALSE(a.charset);
  ASSERT_EQ(a.key.kind, SearchKey::Kind::And);
  ASSERT_EQ(a.key.children.size(), 3u);
  EXPECT_EQ(a.key.children[0].kind, SearchKey::Kind::Flagged);
  EXPECT_EQ(a.key.children[1].kind, SearchKey::Kind::Since);
  EXPECT_EQ(a.key.children[1].date, (Date{1994, 2, 1}));
  ASSERT_EQ(a.key.children[2].kind, SearchKey::Kind::Not);
  EXPECT_EQ(a.key.children[2].children[0].kind, SearchKey::Kind::From);
  EXPECT_EQ(a.key.children[2].children[0].text, "Smith");

  auto t = parse_ok("A283 SEARCH TEXT \"string not in mailbox\"\r\n");
  EXPECT_EQ(t.command.as<SearchArgs>().key.children[0].text, "string not in mailbox");

  // 6.4.4: CHARSET with a literal holding 8-bit text.
  auto events = run("A284 SEARCH CHARSET UTF-8 TEXT {6}\r\n\xe2\x82\xac\xc3\xa9x\r\n");
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].what, "literal 6");
  const auto& u = events[1].request->command.as<SearchArgs>();
  EXPECT_EQ(u.charset, "UTF-8");
  EXPECT_EQ(u.key.children[0].kind, SearchKey::Kind::Text);
  EXPECT_EQ(u.key.children[0].text, "\xe2\x82\xac\xc3\xa9x");
}

TEST(Rfc3501, Fetch) {
  auto f = parse_ok("A654 FETCH 2:4 (FLAGS BODY[HEADER.FIELDS (DATE FROM)])\r\n");
  ASSERT_EQ(f.command.id, CommandId::Fetch);
  const auto& a = f.command.as<FetchArgs>();
  EXPECT_EQ(a.set, seq({{2, 4}}));
  ASSERT_EQ(a.items.size(), 2u);
  EXPECT_EQ(a.items[0].kind, FetchItem::Kind::Flags);
  EXPECT_EQ(a.items[1].kind, FetchItem::Kind::BodySection);
  EXPECT_FALSE(a.items[1].peek);
  EXPECT_EQ(a.items[1].section.text, Section::Text::HeaderFields);
  EXPECT_EQ(a.items[1].section.fields, (std::vector<std::string>{"DATE", "FROM"}));

  auto u = parse_ok("A999 UID FETCH 4827313:4828442 FLAGS\r\n");
  EXPECT_TRUE(u.command.uid);
  EXPECT_EQ(u.command.as<FetchArgs>().set, seq({{4827313, 4828442}}));
  ASSERT_EQ(u.command.as<FetchArgs>().items.size(), 1u);
  EXPECT_EQ(u.command.as<FetchArgs>().items[0].kind, FetchItem::Kind::Flags);
}

TEST(Rfc3501, StoreAndCopy) {
  auto s = parse_ok("A003 STORE 2:4 +FLAGS (\\Deleted)\r\n");
  ASSERT_EQ(s.command.id, CommandId::Store);
  const auto& a = s.command.as<StoreArgs>();
  EXPECT_EQ(a.set, seq({{2, 4}}));
  EXPECT_EQ(a.op, StoreArgs::Op::Add);
  EXPECT_FALSE(a.silent);
  EXPECT_EQ(a.flags, std::vector<std::string>{"\\Deleted"});

  auto c = parse_ok("A003 COPY 2:4 MEETING\r\n");
  ASSERT_EQ(c.command.id, CommandId::Copy);
  EXPECT_EQ(c.command.as<CopyArgs>().set, seq({{2, 4}}));
  EXPECT_EQ(c.command.as<CopyArgs>().mailbox, "MEETING");
}

TEST(Rfc3501, ExperimentalCommandIsUnknown) {
  EXPECT_EQ(parse_error("a441 XPIG-LATIN\r\n"), "error a441 BAD [] Unknown command");
}

// Section 8: the sample session, with lower-case commands and "inbox".
TEST(Rfc3501, SampleSession) {
  auto events = run(
      "a001 login mrc secret\r\n"
      "a002 select inbox\r\n"
      "a003 fetch 12 full\r\n"
      "a004 fetch 12 body[header]\r\n"
      "a005 store 12 +flags \\deleted\r\n"
      "a006 logout\r\n");
  ASSERT_EQ(events.size(), 6u);
  for (const auto& e : events) ASSERT_TRUE(e.request) << e.what;
  EXPECT_EQ(events[0].request->command.as<LoginArgs>().user, "mrc");
  EXPECT_EQ(events[0].request->command.as<LoginArgs>().password, "secret");
  EXPECT_EQ(events[1].request->command.as<SelectArgs>().mailbox, "INBOX");

  const auto& full = events[2].request->command.as<FetchArgs>();
  EXPECT_EQ(full.set, seq({{12, 12}}));
  std::vector<FetchItem::Kind> kinds;
  for (const auto& i : full.items) kinds.push_back(i.kind);
  EXPECT_EQ(kinds, (std::vector<FetchItem::Kind>{
                       FetchItem::Kind::Flags, FetchItem::Kind::InternalDate,
                       FetchItem::Kind::Rfc822Size, FetchItem::Kind::Envelope,
                       FetchItem::Kind::Body}));

  const auto& hdr = events[3].request->command.as<FetchArgs>();
  ASSERT_EQ(hdr.items.size(), 1u);
  EXPECT_EQ(hdr.items[0].kind, FetchItem::Kind::BodySection);
  EXPECT_EQ(hdr.items[0].section.text, Section::Text::Header);

  const auto& st = events[4].request->command.as<StoreArgs>();
  EXPECT_EQ(st.op, StoreArgs::Op::Add);
  EXPECT_EQ(st.flags, std::vector<std::string>{"\\deleted"});
  EXPECT_EQ(events[5].request->command.id, CommandId::Logout);
}

TEST(Rfc3501, FetchMacrosAndItems) {
  auto all = parse_ok("a FETCH 1 ALL\r\n").command.as<FetchArgs>();
  EXPECT_EQ(all.items.size(), 4u);
  auto fast = parse_ok("a FETCH 1 FAST\r\n").command.as<FetchArgs>();
  EXPECT_EQ(fast.items.size(), 3u);
  // A macro is not allowed inside a list.
  EXPECT_NE(parse_error("a FETCH 1 (ALL)\r\n"), "");

  auto many = parse_ok(
                  "a FETCH 1:* (ENVELOPE FLAGS INTERNALDATE RFC822 RFC822.HEADER RFC822.SIZE "
                  "RFC822.TEXT BODY BODYSTRUCTURE UID BODY.PEEK[1.2.MIME] BODY[]<0.2048> "
                  "BODY[3.TEXT] BODY.PEEK[HEADER.FIELDS.NOT (Received \"X-Spam\")])\r\n")
                  .command.as<FetchArgs>();
  ASSERT_EQ(many.items.size(), 14u);
  EXPECT_EQ(many.set, seq({{1, kSeqStar}}));
  EXPECT_EQ(many.items[10].section.part, (std::vector<uint32_t>{1, 2}));
  EXPECT_EQ(many.items[10].section.text, Section::Text::Mime);
  EXPECT_TRUE(many.items[10].peek);
  EXPECT_EQ(many.items[11].section, Section{});
  EXPECT_EQ(many.items[11].partial, (Partial{0, 2048}));
  EXPECT_EQ(many.items[12].section.part, std::vector<uint32_t>{3});
  EXPECT_EQ(many.items[12].section.text, Section::Text::Text);
  EXPECT_EQ(many.items[13].section.text, Section::Text::HeaderFieldsNot);
  EXPECT_EQ(many.items[13].section.fields, (std::vector<std::string>{"RECEIVED", "X-SPAM"}));

  EXPECT_NE(parse_error("a FETCH 1 BODY[MIME]\r\n"), "");       // MIME needs a part
  EXPECT_NE(parse_error("a FETCH 1 BODY[0]\r\n"), "");          // parts start at 1
  EXPECT_NE(parse_error("a FETCH 1 BODY[]<5>\r\n"), "");        // partial needs a length
  EXPECT_NE(parse_error("a FETCH 1 BODY[]<0.0>\r\n"), "");      // nz-number
  EXPECT_NE(parse_error("a FETCH 1 BODY[HEADER.FIELDS]\r\n"), "");
  EXPECT_NE(parse_error("a FETCH 1 BODY[HEADER.FIELDS ()]\r\n"), "");
  EXPECT_NE(parse_error("a FETCH 1 BODY[TEXT\r\n"), "");
  EXPECT_NE(parse_error("a FETCH 1 FROB\r\n"), "");
  EXPECT_NE(parse_error("a FETCH 1 ()\r\n"), "");
}

TEST(Rfc3501, StoreForms) {
  auto s = parse_ok("a STORE 1,3:5 FLAGS.SILENT \\Seen $Label1\r\n").command.as<StoreArgs>();
  EXPECT_EQ(s.op, StoreArgs::Op::Replace);
  EXPECT_TRUE(s.silent);
  EXPECT_EQ(s.set, seq({{1, 1}, {3, 5}}));
  EXPECT_EQ(s.flags, (std::vector<std::string>{"\\Seen", "$Label1"}));
  auto r = parse_ok("a STORE 1 -FLAGS.SILENT ()\r\n").command.as<StoreArgs>();
  EXPECT_EQ(r.op, StoreArgs::Op::Remove);
  EXPECT_TRUE(r.flags.empty());
  EXPECT_NE(parse_error("a STORE 1 FLAGZ (\\Seen)\r\n"), "");
  EXPECT_NE(parse_error("a STORE 1 +FLAGS\r\n"), "");
  EXPECT_NE(parse_error("a STORE 1 +FLAGS (\\Se\\en)\r\n"), "");
}

TEST(Rfc3501, EverySearchKey) {
  auto s = parse_ok(
      "a SEARCH ALL ANSWERED BCC x BEFORE 1-Feb-1994 BODY y CC z DELETED DRAFT FLAGGED "
      "FROM f HEADER X-Foo bar KEYWORD $Junk LARGER 100 NEW NOT SEEN OLD ON 29-Feb-2000 "
      "OR SEEN UNSEEN RECENT SEEN SENTBEFORE 01-Jan-2001 SENTON \"2-Jan-2001\" "
      "SENTSINCE 3-Jan-2001 SINCE 4-Jan-2001 SMALLER 5 SUBJECT s TEXT t TO u UID 1:5 "
      "UNANSWERED UNDELETED UNDRAFT UNFLAGGED UNKEYWORD $Junk UNSEEN 1,2:* (SEEN FLAGGED)\r\n");
  const auto& k = s.command.as<SearchArgs>().key.children;
  using K = SearchKey::Kind;
  std::vector<K> kinds;
  for (const auto& c : k) kinds.push_back(c.kind);
  std::vector<K> want = {K::All, K::Answered, K::Bcc, K::Before, K::Body, K::Cc, K::Deleted,
                         K::Draft, K::Flagged, K::From, K::Header, K::Keyword, K::Larger, K::New,
                         K::Not, K::Old, K::On, K::Or, K::Recent, K::Seen, K::SentBefore,
                         K::SentOn, K::SentSince, K::Since, K::Smaller, K::Subject, K::Text,
                         K::To, K::Uid, K::Unanswered, K::Undeleted, K::Undraft, K::Unflagged,
                         K::Unkeyword, K::Unseen, K::SequenceSet, K::And};
  EXPECT_EQ(kinds, want);
  EXPECT_EQ(k[10].header_name, "X-Foo");
  EXPECT_EQ(k[10].text, "bar");
  EXPECT_EQ(k[12].number, 100u);
  EXPECT_EQ(k[16].date, (Date{2000, 2, 29}));
  EXPECT_EQ(k[17].children.size(), 2u);
  EXPECT_EQ(k[21].date, (Date{2001, 1, 2}));
  EXPECT_EQ(k[28].set, seq({{1, 5}}));
  EXPECT_EQ(k[35].set, seq({{1, 1}, {2, kSeqStar}}));
  EXPECT_EQ(k[36].children.size(), 2u);

  EXPECT_NE(parse_error("a SEARCH BEFORE 30-Feb-1994\r\n"), "");  // no such day
  EXPECT_NE(parse_error("a SEARCH BEFORE 1-Foo-1994\r\n"), "");
  EXPECT_NE(parse_error("a SEARCH OR SEEN\r\n"), "");
  EXPECT_NE(parse_error("a SEARCH NOT\r\n"), "");
  EXPECT_NE(parse_error("a SEARCH\r\n"), "");
  EXPECT_NE(parse_error("a SEARCH ()\r\n"), "");
  EXPECT_NE(parse_error("a SEARCH LARGER x\r\n"), "");
  EXPECT_NE(parse_error("a SEARCH KEYWORD \\Seen\r\n"), "");
  EXPECT_NE(parse_error("a SEARCH FROBNICATE\r\n"), "");
}

TEST(Rfc3501, AppendWithDateTime) {
  auto events = run("A APPEND INBOX (\\Seen \\Flagged) \" 7-Feb-1994 21:52:25 -0800\" {3+}\r\nabc\r\n");
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].what, "message 3 sync 0 index 0");
  const auto& m = events[2].request->command.as<AppendArgs>().messages.at(0);
  ASSERT_TRUE(m.internal_date);
  EXPECT_EQ(m.internal_date->date, (Date{1994, 2, 7}));
  EXPECT_EQ(m.internal_date->hour, 21);
  EXPECT_EQ(m.internal_date->second, 25);
  EXPECT_EQ(m.internal_date->zone_minutes, -480);
  EXPECT_EQ(m.flags.size(), 2u);
  EXPECT_NE(parse_error("A APPEND INBOX \"7-Feb-1994 21:52:25 -0800\" {3+}\r\nabc\r\n"), "");
  EXPECT_NE(parse_error("A APPEND INBOX \" 7-Feb-1994 25:52:25 -0800\" {3+}\r\nabc\r\n"), "");
  EXPECT_NE(parse_error("A APPEND INBOX\r\n"), "");
  EXPECT_NE(parse_error("A APPEND INBOX (\\Seen)\r\n"), "");
}

TEST(Rfc3501, InboxIsCaseInsensitiveOtherNamesAreNot) {
  EXPECT_EQ(parse_ok("a SELECT iNbOx\r\n").command.as<SelectArgs>().mailbox, "INBOX");
  EXPECT_EQ(parse_ok("a SELECT \"inbox\"\r\n").command.as<SelectArgs>().mailbox, "INBOX");
  EXPECT_EQ(parse_ok("a SELECT Inbox.Sent\r\n").command.as<SelectArgs>().mailbox, "Inbox.Sent");
  EXPECT_EQ(parse_ok("a SELECT {5}\r\ninBOX\r\n").command.as<SelectArgs>().mailbox, "INBOX");
}

TEST(Rfc3501, UidPrefix) {
  EXPECT_TRUE(parse_ok("a uid search all\r\n").command.uid);
  EXPECT_TRUE(parse_ok("a UID STORE 1 FLAGS ()\r\n").command.uid);
  EXPECT_TRUE(parse_ok("a UID COPY 1 x\r\n").command.uid);
  EXPECT_EQ(parse_error("a UID NOOP\r\n"), "error a BAD [] Command cannot follow UID");
  EXPECT_EQ(parse_error("a UID\r\n"), "error a BAD [] Missing command after UID");
}

TEST(CommandTable, EveryIdHasASpecAndFlagsAreSane) {
  for (int i = 0; i <= int(CommandId::SyncRestart); ++i) {
    const CommandSpec& s = command_spec(CommandId(i));
    EXPECT_EQ(int(s.id), i);
    EXPECT_EQ(find_command(s.name), &s);
    EXPECT_NE(s.flags & kAnyState, 0u) << s.name;
  }
  EXPECT_EQ(find_command("fetch"), find_command("FETCH"));
  EXPECT_EQ(find_command("XYZZY"), nullptr);
  EXPECT_TRUE(command_allowed_in(CommandId::Login, kNotAuthenticated));
  EXPECT_FALSE(command_allowed_in(CommandId::Login, kAuthenticated));
  EXPECT_FALSE(command_allowed_in(CommandId::Fetch, kAuthenticated));
  EXPECT_TRUE(command_allowed_in(CommandId::Capability, kSelected));
  EXPECT_TRUE(command_spec(CommandId::Expunge).flags & kBreaksSeqs);
  EXPECT_TRUE(command_spec(CommandId::Fetch).flags & kUsesSeqs);
}

TEST(CommandTable, WritesDependOnArguments) {
  EXPECT_TRUE(command_writes(parse_ok("a APPEND x {1+}\r\nx\r\n").command));
  EXPECT_TRUE(command_writes(parse_ok("a FETCH 1 BODY[]\r\n").command));
  EXPECT_TRUE(command_writes(parse_ok("a FETCH 1 RFC822\r\n").command));
  EXPECT_FALSE(command_writes(parse_ok("a FETCH 1 BODY.PEEK[]\r\n").command));
  EXPECT_FALSE(command_writes(parse_ok("a FETCH 1 (FLAGS RFC822.HEADER)\r\n").command));
  EXPECT_FALSE(command_writes(parse_ok("a SEARCH ALL\r\n").command));
  EXPECT_TRUE(command_writes(parse_ok("a STORE 1 FLAGS ()\r\n").command));
  EXPECT_TRUE(command_writes(parse_ok("a SYNCAPPLY RESERVE %()\r\n").command));
  EXPECT_FALSE(command_writes(parse_ok("a SYNCGET USER fred\r\n").command));
}

}  // namespace
}  // namespace cyr::imap
