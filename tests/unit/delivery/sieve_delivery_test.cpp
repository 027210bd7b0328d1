// Sieve at delivery (server/lmtpd/sieve_delivery.h): a user's active script
// against deliver_spooled and a real Store, with a stand-in `sendmail` that
// records what it was asked to send.
#include "server/lmtpd/sieve_delivery.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>
#include <sstream>

#include "delivery_test_util.h"
#include "server/sieve/sieve.h"

namespace cyr::lmtpd {
namespace {

using testing::TempNode;

std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class SieveDelivery : public ::testing::Test {
 protected:
  SieveDelivery() {
    n.create("user.fred");
    n.create("user.fred.Lists");
    n.create("user.barney");
    for (const auto& e : sieve::supported_extensions()) s.sieve_extensions.insert(e);
    s.servername = "mail.example.org";
    // A sendmail that appends its arguments and its input to a log, one
    // record per call, and fails when told to.
    sendmail_log = n.dir() / "sendmail.log";
    s.sendmail = n.write_file("sendmail", "#!/bin/sh\n"
                                          "[ -e \"" + (n.dir() / "fail").string() + "\" ] && exit 75\n"
                                          "{ echo \"ARGS $*\"; cat; echo; echo '--END--'; } >> \"" +
                                              sendmail_log.string() + "\"\n");
    ::chmod(s.sendmail.c_str(), 0755);
  }

  void script(const std::string& user, const std::string& text) {
    ASSERT_TRUE(n.store().put_sieve_script(user, "main", text).ok());
    ASSERT_TRUE(n.store().activate_sieve_script(user, "main").ok());
  }

  SpooledMessage message(const std::string& id, const std::string& subject = "hello",
                         const std::string& extra_headers = "") {
    SpooledMessage m;
    // As lmtpd spools it: the header Sieve reads follows the Return-Path
    // line lmtpd adds.
    m.header = "From: Ann <ann@example.net>\r\nTo: fred@mail.example.org\r\n"
               "Subject: " + subject + "\r\nMessage-ID: <" + id + ">\r\n" + extra_headers + "\r\n";
    std::string added = "Return-Path: <ann@example.net>\r\nReceived: from mx (127.0.0.1) by mail.example.org;\r\n";
    m.bytes = added + m.header + "Body text\r\n";
    m.added_header_bytes = added.size();
    m.size = m.bytes.size();
    m.message_id = "<" + id + ">";
    m.envelope_from = "ann@example.net";
    return m;
  }

  std::vector<Reply> deliver(const SpooledMessage& m, const std::vector<std::string>& rcpts = {"fred"}) {
    std::vector<Target> targets;
    for (const auto& r : rcpts) {
      auto t = resolve_recipient(n.store(), s, *split_recipient(r, true), "", "t");
      EXPECT_TRUE(t.ok()) << r;
      if (!t.ok()) continue;
      t->address = "<" + r + "@mail.example.org>";
      targets.push_back(*t);
    }
    return deliver_spooled(n.store(), nullptr, s, m, targets, "t");
  }

  std::vector<store::MessageRecord> records(const std::string& mbox) {
    auto r = n.store().records(mbox);
    EXPECT_TRUE(r.ok());
    return r.ok() ? *r : std::vector<store::MessageRecord>{};
  }

  TempNode n;
  DeliverySettings s;
  std::filesystem::path sendmail_log;
};

TEST_F(SieveDelivery, NoScriptMeansTheInbox) {
  auto r = deliver(message("a@x"));
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].code, 250);
  EXPECT_EQ(n.exists("user.fred"), 1u);
}

TEST_F(SieveDelivery, FileintoWithFlagsAndTheImplicitKeepCancelled) {
  script("fred", "require [\"fileinto\", \"imap4flags\"];\r\n"
                 "if header :contains \"subject\" \"[list]\" {\r\n"
                 "  fileinto :flags [\"\\\\Seen\", \"$Label1\"] \"Lists\";\r\n"
                 "}\r\n");
  EXPECT_EQ(deliver(message("l1@x", "[list] news"))[0].code, 250);
  EXPECT_EQ(deliver(message("l2@x", "private"))[0].code, 250);
  auto lists = records("user.fred.Lists");
  ASSERT_EQ(lists.size(), 1u);
  EXPECT_TRUE(lists[0].flags.system & store::kFlagSeen);
  EXPECT_EQ(lists[0].flags.keywords, std::vector<std::string>{"$Label1"});
  auto inbox = records("user.fred");
  ASSERT_EQ(inbox.size(), 1u);  // only the one the script did not file
  EXPECT_EQ(inbox[0].flags.system & store::kFlagSeen, 0u);
}

TEST_F(SieveDelivery, FileintoAMissingMailboxKeepsInInboxUnlessCreateIsAsked) {
  script("fred", "require \"fileinto\";\r\nfileinto \"Nowhere\";\r\n");
  EXPECT_EQ(deliver(message("m1@x"))[0].code, 250);
  EXPECT_EQ(n.exists("user.fred"), 1u);
  EXPECT_FALSE(n.store().lookup("user.fred.Nowhere").ok());

  script("fred", "require [\"fileinto\", \"mailbox\"];\r\nfileinto :create \"New/Sub\";\r\n");
  EXPECT_EQ(deliver(message("m2@x"))[0].code, 250);
  EXPECT_EQ(n.exists("user.fred.New.Sub"), 1u);
  EXPECT_EQ(n.exists("user.fred"), 1u);

  // Another user's mailbox is not the script's to file into.
  script("fred", "require \"fileinto\";\r\nfileinto \"Other Users/barney\";\r\n");
  EXPECT_EQ(deliver(message("m3@x"))[0].code, 250);
  EXPECT_EQ(n.exists("user.barney"), 0u);
  EXPECT_EQ(n.exists("user.fred"), 2u);
}

TEST_F(SieveDelivery, DiscardAndRejectAnswerOnlyForTheirRecipient) {
  script("fred", "require \"reject\";\r\n"
                 "if header :is \"subject\" \"spam\" { reject text:\r\nNot wanted here.\r\nSecond line\r\n.\r\n; }\r\n"
                 "elsif header :is \"subject\" \"junk\" { discard; }\r\n");
  auto r = deliver(message("r1@x", "spam"), {"fred", "barney"});
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0].code, 550);
  EXPECT_EQ(r[0].enhanced, "5.7.1");
  EXPECT_EQ(r[0].text, "Not wanted here.");
  EXPECT_EQ(r[1].code, 250);
  EXPECT_EQ(n.exists("user.fred"), 0u);
  EXPECT_EQ(n.exists("user.barney"), 1u);
  EXPECT_EQ(deliver(message("r2@x", "junk"))[0].code, 250);
  EXPECT_EQ(n.exists("user.fred"), 0u);
  EXPECT_EQ(deliver(message("r3@x", "fine"))[0].code, 250);
  EXPECT_EQ(n.exists("user.fred"), 1u);
}

TEST_F(SieveDelivery, RedirectGoesThroughSendmailAndCopyKeepsToo) {
  script("fred", "redirect \"fred@elsewhere.example\";\r\n");
  EXPECT_EQ(deliver(message("d1@x"))[0].code, 250);
  EXPECT_EQ(n.exists("user.fred"), 0u);
  std::string log = read_file(sendmail_log);
  EXPECT_NE(log.find("ARGS -i -f ann@example.net -- fred@elsewhere.example"), std::string::npos) << log;
  EXPECT_NE(log.find("Message-ID: <d1@x>"), std::string::npos);

  script("fred", "require \"copy\";\r\nredirect :copy \"fred@elsewhere.example\";\r\n");
  EXPECT_EQ(deliver(message("d2@x"))[0].code, 250);
  EXPECT_EQ(n.exists("user.fred"), 1u);

  // A redirect that fails keeps the message (RFC 5228 2.10.6).
  n.write_file("fail", "");
  script("fred", "redirect \"fred@elsewhere.example\";\r\n");
  EXPECT_EQ(deliver(message("d3@x"))[0].code, 250);
  EXPECT_EQ(n.exists("user.fred"), 2u);
}

TEST_F(SieveDelivery, VacationAnswersOncePerSenderAndInterval) {
  auto dup = store::DuplicateDb::open(n.dir() / "deliver.db");
  ASSERT_TRUE(dup.ok());
  script("fred", "require \"vacation\";\r\nvacation :days 7 :subject \"Away\" \"I am away until Monday.\";\r\n");
  auto run = [&](const SpooledMessage& m) {
    auto t = resolve_recipient(n.store(), s, *split_recipient("fred", true), "", "t");
    t->address = "<fred@mail.example.org>";
    return deliver_spooled(n.store(), dup->get(), s, m, {*t}, "t");
  };
  EXPECT_EQ(run(message("v1@x"))[0].code, 250);
  EXPECT_EQ(n.exists("user.fred"), 1u);  // vacation does not cancel the implicit keep
  std::string log = read_file(sendmail_log);
  EXPECT_NE(log.find("ARGS -i -f <> -- ann@example.net"), std::string::npos) << log;
  EXPECT_NE(log.find("Subject: Away"), std::string::npos) << log;
  EXPECT_NE(log.find("In-Reply-To: <v1@x>"), std::string::npos) << log;
  EXPECT_NE(log.find("Auto-Submitted: auto-replied"), std::string::npos) << log;
  EXPECT_NE(log.find("I am away until Monday."), std::string::npos) << log;
  // The same sender again: no second answer within the interval.
  EXPECT_EQ(run(message("v2@x"))[0].code, 250);
  std::string log2 = read_file(sendmail_log);
  EXPECT_EQ(log2, log);
  // A mailing list gets none (RFC 5230 4.5).
  std::filesystem::remove(sendmail_log);
  auto list = message("v3@x", "digest", "List-Id: <l.example.net>\r\n");
  list.envelope_from = "other@example.net";
  EXPECT_EQ(run(list)[0].code, 250);
  EXPECT_FALSE(std::filesystem::exists(sendmail_log));
  EXPECT_EQ(n.exists("user.fred"), 3u);
}

TEST_F(SieveDelivery, AScriptThatNoLongerCompilesKeepsTheMessage) {
  // Stored behind ManageSieve's back, or the site's sieve_extensions changed.
  script("fred", "require \"fileinto\";\r\nfileinto \"Lists\";\r\n");
  EXPECT_EQ(deliver(message("c0@x"))[0].code, 250);
  EXPECT_EQ(n.exists("user.fred.Lists"), 1u);
  // The compiled script is kept, but not for a site that allows less.
  s.sieve_extensions.erase("fileinto");
  EXPECT_EQ(deliver(message("c1@x"))[0].code, 250);
  EXPECT_EQ(n.exists("user.fred"), 1u);
  EXPECT_EQ(n.exists("user.fred.Lists"), 1u);
  ASSERT_TRUE(n.store().put_sieve_script("fred", "main", "if {").ok());
  EXPECT_EQ(deliver(message("c2@x"))[0].code, 250);
  EXPECT_EQ(n.exists("user.fred"), 2u);
}

TEST_F(SieveDelivery, DuplicateSuppressionRunsTheScriptOnce) {
  auto dup = store::DuplicateDb::open(n.dir() / "deliver.db");
  ASSERT_TRUE(dup.ok());
  script("fred", "require \"copy\";\r\nredirect :copy \"fred@elsewhere.example\";\r\n");
  auto t = resolve_recipient(n.store(), s, *split_recipient("fred", true), "", "t");
  t->address = "<fred@mail.example.org>";
  auto m = message("dup@x");
  EXPECT_EQ(deliver_spooled(n.store(), dup->get(), s, m, {*t}, "t")[0].code, 250);
  EXPECT_EQ(deliver_spooled(n.store(), dup->get(), s, m, {*t}, "t")[0].code, 250);
  EXPECT_EQ(n.exists("user.fred"), 1u);
  std::string log = read_file(sendmail_log);
  size_t calls = 0;
  for (size_t p = log.find("ARGS"); p != std::string::npos; p = log.find("ARGS", p + 1)) ++calls;
  EXPECT_EQ(calls, 1u);
}

TEST_F(SieveDelivery, IncludeReadsTheUsersScriptsAndTheSitesFiles) {
  std::filesystem::create_directories(n.dir() / "sieve" / "global");
  s.sieve_global_dir = (n.dir() / "sieve" / "global").string();
  n.write_file("sieve/global/spam.script",
               "require \"fileinto\";\r\nif header :contains \"subject\" \"[spam]\" { fileinto \"Lists\"; stop; }\r\n");
  ASSERT_TRUE(n.store().put_sieve_script("fred", "flags", "require \"imap4flags\";\r\naddflag \"$Personal\";\r\n").ok());
  script("fred", "require [\"include\"];\r\ninclude :global \"spam\";\r\ninclude :personal \"flags\";\r\n");
  EXPECT_EQ(deliver(message("i1@x", "[spam] buy"))[0].code, 250);
  EXPECT_EQ(deliver(message("i2@x", "hello"))[0].code, 250);
  EXPECT_EQ(n.exists("user.fred.Lists"), 1u);
  auto inbox = records("user.fred");
  ASSERT_EQ(inbox.size(), 1u);
  EXPECT_EQ(inbox[0].flags.keywords, std::vector<std::string>{"$Personal"});

  // A global name that tries to leave the directory, or a missing script,
  // is a runtime error: the message is kept.
  script("fred", "require \"include\";\r\ninclude :global \"nosuch\";\r\ndiscard;\r\n");
  EXPECT_EQ(deliver(message("i3@x"))[0].code, 250);
  EXPECT_EQ(n.exists("user.fred"), 2u);
  // A global script larger than sieve_maxscriptsize is not read.
  s.sieve_max_script_bytes = 16;
  script("fred", "require \"include\";\r\ninclude :global \"spam\";\r\n");
  EXPECT_EQ(deliver(message("i4@x", "[spam] again"))[0].code, 250);
  EXPECT_EQ(n.exists("user.fred.Lists"), 1u);
  EXPECT_EQ(n.exists("user.fred"), 3u);
}

TEST_F(SieveDelivery, DuplicateTestRemembersOnlyDeliveredMessages) {
  auto dup = store::DuplicateDb::open(n.dir() / "deliver.db");
  ASSERT_TRUE(dup.ok());
  script("fred", "require [\"duplicate\", \"fileinto\"];\r\n"
                 "if duplicate :header \"X-Ticket\" { fileinto \"Lists\"; }\r\n");
  auto t = resolve_recipient(n.store(), s, *split_recipient("fred", true), "", "t");
  ASSERT_TRUE(t.ok());
  t->address = "<fred@mail.example.org>";
  auto send = [&](const std::string& id, const std::string& ticket) {
    return deliver_spooled(n.store(), dup->get(), s, message(id, "t", "X-Ticket: " + ticket + "\r\n"), {*t}, "t")[0].code;
  };
  EXPECT_EQ(send("d1@x", "7"), 250);
  EXPECT_EQ(send("d2@x", "7"), 250);  // same ticket, another message: a duplicate
  EXPECT_EQ(send("d3@x", "8"), 250);
  EXPECT_EQ(n.exists("user.fred"), 2u);
  EXPECT_EQ(n.exists("user.fred.Lists"), 1u);
  // Barney's records are his own.
  ASSERT_TRUE(n.store().put_sieve_script("barney", "main", "require [\"duplicate\", \"fileinto\"];\r\n"
                                                           "if duplicate :header \"X-Ticket\" { discard; }\r\n").ok());
  ASSERT_TRUE(n.store().activate_sieve_script("barney", "main").ok());
  auto b = resolve_recipient(n.store(), s, *split_recipient("barney", true), "", "t");
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(deliver_spooled(n.store(), dup->get(), s, message("d4@x", "t", "X-Ticket: 7\r\n"), {*b}, "t")[0].code, 250);
  EXPECT_EQ(n.exists("user.barney"), 1u);
  // A delivery that fails is not remembered: the MTA's retry is no duplicate.
  ASSERT_TRUE(n.store().set_quota("user.fred", std::nullopt, 3).ok());  // full: its 3 messages
  s.strict_quota = true;
  EXPECT_NE(send("d5@x", "9"), 250);
  ASSERT_TRUE(n.store().remove_quota("user.fred").ok());
  EXPECT_EQ(send("d5@x", "9"), 250);
  EXPECT_EQ(n.exists("user.fred"), 3u);
}

TEST_F(SieveDelivery, EditheaderChangesTheStoredAndRedirectedCopies) {
  script("fred", "require [\"editheader\", \"copy\"];\r\n"
                 "deleteheader \"X-Spam-Score\";\r\naddheader \"X-Filtered\" \"yes\";\r\n"
                 "redirect :copy \"fred@elsewhere.example\";\r\n");
  auto m = message("e1@x", "edited", "X-Spam-Score: 9\r\n");
  EXPECT_EQ(deliver(m)[0].code, 250);
  auto inbox = records("user.fred");
  ASSERT_EQ(inbox.size(), 1u);
  auto stored = n.store().read_message("user.fred", inbox[0].uid);
  ASSERT_TRUE(stored.ok());
  EXPECT_TRUE(stored->starts_with("Return-Path: <ann@example.net>\r\n")) << *stored;
  EXPECT_NE(stored->find("X-Filtered: yes\r\n"), std::string::npos) << *stored;
  EXPECT_EQ(stored->find("X-Spam-Score"), std::string::npos) << *stored;
  EXPECT_TRUE(stored->ends_with("\r\n\r\nBody text\r\n")) << *stored;
  EXPECT_EQ(inbox[0].size, stored->size());
  std::string sent = read_file(sendmail_log);
  EXPECT_NE(sent.find("X-Filtered: yes"), std::string::npos) << sent;
  EXPECT_EQ(sent.find("X-Spam-Score"), std::string::npos) << sent;

  // A message spooled to a file is edited into a file beside it, removed after.
  auto f = message("e2@x", "edited", "X-Spam-Score: 3\r\n");
  f.path = n.write_file("spooled", f.bytes);
  f.bytes.clear();
  EXPECT_EQ(deliver(f)[0].code, 250);
  inbox = records("user.fred");
  ASSERT_EQ(inbox.size(), 2u);
  stored = n.store().read_message("user.fred", inbox[1].uid);
  ASSERT_TRUE(stored.ok());
  EXPECT_NE(stored->find("X-Filtered: yes\r\n"), std::string::npos) << *stored;
  EXPECT_EQ(stored->find("X-Spam-Score"), std::string::npos) << *stored;
  EXPECT_TRUE(stored->ends_with("Body text\r\n"));
  EXPECT_FALSE(std::filesystem::exists(f.path + ".edited"));
  EXPECT_TRUE(std::filesystem::exists(f.path));  // the spool file is the caller's
}

TEST(Sendmail, FailsClearlyAndIsBoundedInTime) {
  TempNode n;
  auto tool = [&](const std::string& name, const std::string& body) {
    std::string p = n.write_file(name, "#!/bin/sh\n" + body + "\n");
    ::chmod(p.c_str(), 0755);
    return p;
  };
  std::string reader = tool("reader", "cat > /dev/null");
  EXPECT_FALSE(run_sendmail("/nonexistent/sendmail", "", "a@b", "x", std::chrono::seconds(5)).ok());
  EXPECT_FALSE(run_sendmail(tool("fails", "cat > /dev/null; exit 75"), "", "a@b", "x", std::chrono::seconds(5)).ok());
  // One that exits without reading: an error, not a SIGPIPE (this test
  // process does not ignore SIGPIPE).
  EXPECT_FALSE(run_sendmail(tool("deaf", "exit 0"), "", "a@b", std::string(1 << 20, 'x'), std::chrono::seconds(5)).ok());
  EXPECT_FALSE(run_sendmail(reader, "", "-oQ/tmp", "x", std::chrono::seconds(5)).ok());  // no option injection
  EXPECT_TRUE(run_sendmail(reader, "", "a@b", std::string(1 << 20, 'x'), std::chrono::seconds(5)).ok());
  auto t0 = std::chrono::steady_clock::now();
  Status st = run_sendmail(tool("hangs", "exec sleep 30"), "", "a@b", std::string(1 << 20, 'x'), std::chrono::seconds(1));
  EXPECT_FALSE(st.ok());
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(10));
}

}  // namespace
}  // namespace cyr::lmtpd
