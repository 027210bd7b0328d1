#include "store/mail/mboxname.h"

#include <gtest/gtest.h>

namespace cyr::mail {
namespace {

TEST(MUtf7, KnownEncodings) {
  // RFC 3501 5.1.3 example: "~peter/mail/台北/日本語".
  auto enc = utf8_to_mutf7("~peter/mail/\xE5\x8F\xB0\xE5\x8C\x97/\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E");
  ASSERT_TRUE(enc.ok());
  EXPECT_EQ(*enc, "~peter/mail/&U,BTFw-/&ZeVnLIqe-");
  auto dec = mutf7_to_utf8("~peter/mail/&U,BTFw-/&ZeVnLIqe-");
  ASSERT_TRUE(dec.ok());
  EXPECT_EQ(*dec, "~peter/mail/\xE5\x8F\xB0\xE5\x8C\x97/\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E");
  EXPECT_EQ(*utf8_to_mutf7("Caf\xC3\xA9"), "Caf&AOk-");
  EXPECT_EQ(*utf8_to_mutf7("A&B"), "A&-B");
  EXPECT_EQ(*mutf7_to_utf8("A&-B"), "A&B");
}

TEST(MUtf7, RoundTrips) {
  const char* samples[] = {
      "", "INBOX", ("Entw\xC3\xBC" "rfe"), "\xD0\x9E\xD1\x82\xD0\xBF\xD1\x80\xD0\xB0\xD0\xB2\xD0\xBB\xD0\xB5\xD0\xBD\xD0\xBD\xD1\x8B\xD0\xB5",
      "\xF0\x9F\x93\xA7 mail",  // U+1F4E7: a surrogate pair in UTF-16
      "a&b&&c", "\xC3\xA9\xC3\xA9\xC3\xA9.\xC3\xA9",
  };
  for (const char* s : samples) {
    auto enc = utf8_to_mutf7(s);
    ASSERT_TRUE(enc.ok()) << s;
    EXPECT_TRUE(is_valid_mutf7(*enc)) << *enc;
    auto dec = mutf7_to_utf8(*enc);
    ASSERT_TRUE(dec.ok()) << *enc;
    EXPECT_EQ(*dec, s);
  }
}

TEST(MUtf7, RejectsBadInput) {
  EXPECT_FALSE(is_valid_mutf7("&"));            // unterminated
  EXPECT_FALSE(is_valid_mutf7("&AOk"));         // unterminated
  EXPECT_FALSE(is_valid_mutf7("&AO!-"));        // bad base64 char
  EXPECT_FALSE(is_valid_mutf7("&AOk/-"));       // '/' is not modified base64
  EXPECT_FALSE(is_valid_mutf7("&AOl-"));        // non-zero pad bits
  EXPECT_FALSE(is_valid_mutf7("&AEE-"));        // encodes 'A' (printable ASCII)
  EXPECT_FALSE(is_valid_mutf7("&AOk-&AOk-"));   // adjacent shift sequences
  EXPECT_FALSE(is_valid_mutf7("&2D0-"));        // lone high surrogate
  EXPECT_FALSE(is_valid_mutf7("&3gA-"));        // lone low surrogate
  EXPECT_FALSE(is_valid_mutf7("caf\xC3\xA9"));  // raw 8-bit
  EXPECT_FALSE(is_valid_mutf7("a\tb"));         // control
  EXPECT_TRUE(is_valid_mutf7("&AOk-x&AOk-"));
  EXPECT_FALSE(utf8_to_mutf7("\xC3").ok());             // truncated
  EXPECT_FALSE(utf8_to_mutf7("\xC0\xAF").ok());         // overlong
  EXPECT_FALSE(utf8_to_mutf7("\xED\xA0\x80").ok());     // surrogate
  EXPECT_FALSE(utf8_to_mutf7("\xF4\x90\x80\x80").ok()); // > U+10FFFF
  EXPECT_FALSE(utf8_to_mutf7("a\nb").ok());
  EXPECT_EQ(utf8_to_mutf7(std::string(5000, 'a')).error().code, Errc::Limit);
  // Found by fuzzing: 4-byte characters take 6 bytes encoded, so an input
  // within the bound could encode to one mutf7_to_utf8() refuses to read.
  std::string astral;
  while (astral.size() + 4 <= 490 * 4) astral += "\xF0\x9F\x98\x80";  // U+1F600
  EXPECT_EQ(utf8_to_mutf7(astral).error().code, Errc::Limit);
  auto shorter = utf8_to_mutf7(astral.substr(0, 4 * 100));
  ASSERT_TRUE(shorter.ok());
  EXPECT_EQ(*mutf7_to_utf8(*shorter), astral.substr(0, 4 * 100));
}

TEST(MboxName, Validate) {
  EXPECT_TRUE(validate_mboxname("user.fred").ok());
  EXPECT_TRUE(validate_mboxname("user.fred.Sent").ok());
  EXPECT_TRUE(validate_mboxname("user.fred^smith.Caf&AOk-").ok());
  EXPECT_TRUE(validate_mboxname("example.com!user.fred.Sent").ok());
  EXPECT_TRUE(validate_mboxname("shared.folder").ok());
  EXPECT_TRUE(validate_mboxname("Other Stuff.a b").ok());

  const char* bad[] = {"", "user", "user.", ".user.fred", "user..fred", "user.fred.",
                       "user.fred/x", "user.fred.%", "user.fr*d", "user.fred.^", "user.fred.^^",
                       "user.fred.Caf\xC3\xA9", "user.fred.&AOk", "user.fred.a\x01",
                       "user.fred.a\x7f", "!user.fred", "Example.com!user.fred", "ex..com!user.fred",
                       "example.com!", "a!b!user.fred", "example.com!user"};
  for (const char* name : bad) EXPECT_FALSE(validate_mboxname(name).ok()) << name;
  EXPECT_FALSE(validate_mboxname(std::string_view("user.fred\0x", 11)).ok());

  std::string long_name = "user.fred." + std::string(480, 'a');
  EXPECT_TRUE(validate_mboxname(long_name).ok());  // exactly kMaxMailboxName
  long_name += 'a';
  EXPECT_EQ(validate_mboxname(long_name).error().code, Errc::Limit);
  std::string deep = "user.fred";
  for (int i = 0; i < 70; ++i) deep += ".a";
  EXPECT_EQ(validate_mboxname(deep).error().code, Errc::Limit);
}

TEST(MboxName, PartsOwnerParent) {
  auto n = parse_mboxname("example.com!user.fred.Sent");
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(n->domain, "example.com");
  EXPECT_EQ(n->parts, (std::vector<std::string>{"user", "fred", "Sent"}));
  EXPECT_EQ(n->to_internal(), "example.com!user.fred.Sent");

  EXPECT_EQ(mboxname_owner("user.fred.X"), "fred");
  EXPECT_EQ(mboxname_owner("user.fred"), "fred");
  EXPECT_EQ(mboxname_owner("example.com!user.fred.Sent"), "fred@example.com");
  EXPECT_EQ(mboxname_owner("user.fred^smith"), "fred.smith");
  EXPECT_EQ(mboxname_owner("shared.folder"), std::nullopt);
  EXPECT_EQ(mboxname_owner("user..x"), std::nullopt);

  EXPECT_EQ(mboxname_owner_key("user.fred.A.B"), "user.fred");
  EXPECT_EQ(mboxname_owner_key("example.com!user.fred.Sent"), "example.com!user.fred");
  EXPECT_EQ(mboxname_owner_key("shared.folder.x"), "shared");
  EXPECT_EQ(mboxname_owner_key("example.com!shared.a"), "example.com!shared");
  EXPECT_EQ(mboxname_owner_key("bad..name"), "");

  EXPECT_EQ(mboxname_parent("user.fred.A.B"), "user.fred.A");
  EXPECT_EQ(mboxname_parent("example.com!user.fred.A"), "example.com!user.fred");
  EXPECT_EQ(mboxname_parent("user.fred"), "user");
  EXPECT_EQ(mboxname_parent("shared"), std::nullopt);

  EXPECT_TRUE(mboxname_is_user_inbox("user.fred"));
  EXPECT_TRUE(mboxname_is_user_inbox("example.com!user.fred"));
  EXPECT_FALSE(mboxname_is_user_inbox("user.fred.Sent"));
  EXPECT_FALSE(mboxname_is_user_inbox("shared.fred"));

  EXPECT_TRUE(mboxname_is_same_or_below("user.fred.Sent.x", "user.fred.Sent"));
  EXPECT_TRUE(mboxname_is_same_or_below("user.fred.Sent", "user.fred.Sent"));
  EXPECT_FALSE(mboxname_is_same_or_below("user.fred.Sent2", "user.fred.Sent"));
}

TEST(MboxName, UserInbox) {
  EXPECT_EQ(*user_inbox_name("fred", false), "user.fred");
  EXPECT_EQ(*user_inbox_name("fred.smith", false), "user.fred^smith");
  EXPECT_EQ(*user_inbox_name("fred@Example.COM", true), "example.com!user.fred");
  // Without virtdomains '@' is an ordinary character of the id.
  EXPECT_EQ(*user_inbox_name("fred@example.com", false), "user.fred@example^com");
  EXPECT_FALSE(user_inbox_name("", false).ok());
  EXPECT_FALSE(user_inbox_name("a/b", false).ok());
  EXPECT_FALSE(user_inbox_name("a^b", false).ok());
  EXPECT_FALSE(user_inbox_name("fred@", true).ok());
}

NamespaceOptions opts(bool alt, bool unixsep, bool virtdomains = false) {
  NamespaceOptions o;
  o.altnamespace = alt;
  o.unixhierarchysep = unixsep;
  o.virtdomains = virtdomains;
  return o;
}

std::string in(const Namespace& ns, std::string_view ext) {
  auto r = ns.to_internal(ext);
  return r.ok() ? *r : "ERR:" + std::string(errc_name(r.error().code));
}
std::string out(const Namespace& ns, std::string_view internal) {
  auto r = ns.to_external(internal);
  return r.ok() ? *r : "ERR:" + std::string(errc_name(r.error().code));
}

TEST(Namespace, StandardDotSeparator) {
  Namespace ns(opts(false, false), "fred", false);
  EXPECT_EQ(ns.separator(), '.');
  EXPECT_EQ(in(ns, "INBOX"), "user.fred");
  EXPECT_EQ(in(ns, "inbox"), "user.fred");
  EXPECT_EQ(in(ns, "INBOX.Sent"), "user.fred.Sent");
  EXPECT_EQ(in(ns, "user.barney.Drafts"), "user.barney.Drafts");
  EXPECT_EQ(in(ns, "shared.folder"), "shared.folder");
  EXPECT_EQ(in(ns, "INBOX."), "ERR:Invalid");
  EXPECT_EQ(in(ns, "INBOX..x"), "ERR:Invalid");
  EXPECT_EQ(in(ns, "INBOX.a/b"), "ERR:Invalid");
  EXPECT_EQ(in(ns, "INBOXES"), "INBOXES");  // a shared top-level name
  EXPECT_EQ(out(ns, "user.fred"), "INBOX");
  EXPECT_EQ(out(ns, "user.fred.Sent"), "INBOX.Sent");
  EXPECT_EQ(out(ns, "user.barney.Drafts"), "user.barney.Drafts");
  EXPECT_EQ(out(ns, "shared.folder"), "shared.folder");
  auto p = ns.prefixes();
  EXPECT_EQ(p.personal.prefix, "INBOX.");
  EXPECT_EQ(p.other_users.prefix, "user.");
  EXPECT_EQ(p.shared.prefix, "");
  EXPECT_EQ(p.shared.separator, '.');
}

// Found by fuzzing: a shared mailbox named INBOX.Sent showed as "INBOX.Sent",
// which names the user's own INBOX.Sent. A mailbox without a name of its own
// in a view is not shown in it; every name shown reads back as its mailbox.
TEST(Namespace, AMailboxIsOnlyShownUnderItsOwnName) {
  Namespace std_ns(opts(false, false), "fred", false);
  EXPECT_EQ(out(std_ns, "INBOX.Sent"), "ERR:Perm");
  EXPECT_EQ(out(std_ns, "inbox"), "ERR:Perm");
  EXPECT_EQ(out(std_ns, "INBOXES"), "INBOXES");
  // The alternate namespace puts shared mailboxes under their prefix: no clash.
  Namespace alt_ns(opts(true, true), "fred", false);
  EXPECT_EQ(out(alt_ns, "INBOX.Sent"), "Shared Folders/INBOX/Sent");
  EXPECT_EQ(in(alt_ns, "Shared Folders/INBOX/Sent"), "INBOX.Sent");
  for (const char* name : {"user.fred", "user.fred.Sent", "user.barney.Drafts", "shared.folder", "INBOX.Sent",
                           "user.fred.INBOX", "user.fred.Other Users", "user.fred.INBOX.x", "user.fred.INBOX.INBOX"}) {
    for (bool alt : {false, true})
      for (bool unix_sep : {false, true}) {
        Namespace ns(opts(alt, unix_sep), "fred", false);
        std::string shown = out(ns, name);
        if (shown.rfind("ERR:", 0) == 0) continue;
        EXPECT_EQ(in(ns, shown), name) << name << " shown as " << shown << " (alt " << alt << ", unix " << unix_sep << ")";
      }
  }
}

TEST(Namespace, StandardUnixSeparator) {
  Namespace ns(opts(false, true), "fred", false);
  EXPECT_EQ(ns.separator(), '/');
  EXPECT_EQ(in(ns, "INBOX/Sent"), "user.fred.Sent");
  EXPECT_EQ(in(ns, "INBOX/v1.2"), "user.fred.v1^2");
  EXPECT_EQ(in(ns, "user/barney/a.b"), "user.barney.a^b");
  EXPECT_EQ(in(ns, "INBOX/x^y"), "ERR:Invalid");
  EXPECT_EQ(in(ns, "INBOX/.."), "ERR:Invalid");
  EXPECT_EQ(in(ns, "INBOX/."), "ERR:Invalid");
  EXPECT_EQ(in(ns, "INBOX//x"), "ERR:Invalid");
  EXPECT_EQ(out(ns, "user.fred.v1^2"), "INBOX/v1.2");
  EXPECT_EQ(out(ns, "user.barney.a^b"), "user/barney/a.b");
  EXPECT_EQ(ns.prefixes().personal.prefix, "INBOX/");
}

TEST(Namespace, AlternateNamespace) {
  Namespace ns(opts(true, true), "fred", false);
  EXPECT_TRUE(ns.is_alt());
  EXPECT_EQ(in(ns, "INBOX"), "user.fred");
  EXPECT_EQ(in(ns, "Sent"), "user.fred.Sent");
  // A folder below INBOX is one of its own, as in Cyrus: not another name
  // for the folder beside INBOX (a client that creates "INBOX/Sent" must
  // find it listed under that name).
  EXPECT_EQ(in(ns, "INBOX/Sent"), "user.fred.INBOX.Sent");
  EXPECT_EQ(in(ns, "inbox/Sent/2024"), "user.fred.INBOX.Sent.2024");
  EXPECT_EQ(out(ns, "user.fred.INBOX.Sent"), "INBOX/Sent");
  EXPECT_EQ(out(ns, "user.fred.INBOX.Sent.2024"), "INBOX/Sent/2024");
  EXPECT_EQ(out(ns, "user.fred.INBOX"), "ERR:Perm");  // "INBOX" is the INBOX itself
  EXPECT_EQ(in(ns, "Work/2024"), "user.fred.Work.2024");
  EXPECT_EQ(in(ns, "Other Users/barney"), "user.barney");
  EXPECT_EQ(in(ns, "Other Users/barney/Sent"), "user.barney.Sent");
  EXPECT_EQ(in(ns, "Shared Folders/shared/folder"), "shared.folder");
  EXPECT_EQ(in(ns, "Other Users"), "ERR:NotFound");
  EXPECT_EQ(in(ns, "Shared Folders"), "ERR:NotFound");
  EXPECT_EQ(in(ns, "Other Users/"), "ERR:Invalid");
  EXPECT_EQ(out(ns, "user.fred"), "INBOX");
  EXPECT_EQ(out(ns, "user.fred.Sent"), "Sent");
  EXPECT_EQ(out(ns, "user.fred.Work.2024"), "Work/2024");
  EXPECT_EQ(out(ns, "user.barney.Sent"), "Other Users/barney/Sent");
  EXPECT_EQ(out(ns, "shared.folder"), "Shared Folders/shared/folder");
  auto p = ns.prefixes();
  EXPECT_EQ(p.personal.prefix, "");
  EXPECT_EQ(p.other_users.prefix, "Other Users/");
  EXPECT_EQ(p.shared.prefix, "Shared Folders/");
  EXPECT_EQ(p.personal.separator, '/');
  // Every external name maps back to itself.
  for (const char* ext : {"INBOX", "Sent", "Work/2024", "Other Users/barney/Sent",
                          "Shared Folders/shared/folder", "a.b/c", "INBOX/Sent", "INBOX/INBOX/x",
                          "Other Users/barney/INBOX/x"}) {
    EXPECT_EQ(out(ns, in(ns, ext)), ext);
  }
}

TEST(Namespace, AdminsUseStandardNamespace) {
  Namespace ns(opts(true, false), "cyrus", true);
  EXPECT_FALSE(ns.is_alt());
  EXPECT_EQ(in(ns, "user.fred.Sent"), "user.fred.Sent");
  EXPECT_EQ(out(ns, "user.fred.Sent"), "user.fred.Sent");
  EXPECT_EQ(in(ns, "INBOX"), "user.cyrus");
}

TEST(Namespace, AnonymousHasNoPersonalNamespace) {
  Namespace ns(opts(true, true), "", false);
  EXPECT_EQ(in(ns, "INBOX"), "ERR:NotFound");
  EXPECT_EQ(in(ns, "Sent"), "ERR:NotFound");
  EXPECT_EQ(in(ns, "Shared Folders/archive"), "archive");
  EXPECT_EQ(out(ns, "user.fred"), "Other Users/fred");
}

TEST(Namespace, VirtualDomains) {
  Namespace ns(opts(false, true, true), "fred@example.com", false);
  EXPECT_EQ(in(ns, "INBOX"), "example.com!user.fred");
  EXPECT_EQ(in(ns, "INBOX/Sent"), "example.com!user.fred.Sent");
  EXPECT_EQ(in(ns, "user/barney"), "example.com!user.barney");
  EXPECT_EQ(in(ns, "shared/x"), "example.com!shared.x");
  EXPECT_EQ(out(ns, "example.com!user.fred.Sent"), "INBOX/Sent");
  EXPECT_EQ(out(ns, "example.com!user.barney"), "user/barney");
  EXPECT_EQ(out(ns, "other.org!user.fred"), "ERR:Perm");
  EXPECT_EQ(out(ns, "user.fred"), "ERR:Perm");  // default domain: not fred@example.com's

  Namespace admin(opts(false, true, true), "admin", true);
  EXPECT_EQ(in(admin, "user/fred/Sent@example.com"), "example.com!user.fred.Sent");
  EXPECT_EQ(out(admin, "example.com!user.fred.Sent"), "user/fred/Sent@example.com");
  EXPECT_EQ(in(admin, "user/fred"), "user.fred");
  EXPECT_EQ(in(admin, "user/fred@bad!domain"), "ERR:Invalid");
}

TEST(Namespace, Bounds) {
  Namespace ns(opts(false, true), "fred", false);
  EXPECT_EQ(in(ns, ""), "ERR:Invalid");
  EXPECT_EQ(in(ns, std::string(600, 'a')), "ERR:Limit");
  EXPECT_EQ(in(ns, "INBOX/" + std::string(490, 'a')), "ERR:Limit");
  std::string deep = "INBOX";
  for (int i = 0; i < 70; ++i) deep += "/a";
  EXPECT_EQ(in(ns, deep), "ERR:Limit");
  EXPECT_EQ(in(ns, "INBOX/Caf\xC3\xA9"), "ERR:Invalid");  // clients send mUTF-7
  EXPECT_EQ(in(ns, "INBOX/Caf&AOk-"), "user.fred.Caf&AOk-");
}

}  // namespace
}  // namespace cyr::mail
