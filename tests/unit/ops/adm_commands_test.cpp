// cyr_adm's command language (ops/adm/adm_commands.h) and the pure parts of
// its IMAP client (response values, command quoting, SCRAM client steps).
#include <gtest/gtest.h>

#include <set>
#include <string>

#include "ops/adm/adm_commands.h"
#include "ops/adm/imap_client.h"
#include "server/auth/base64.h"
#include "server/auth/crypto.h"

namespace cyr::ops::adm {
namespace {

AdmCommand parse_ok(std::string_view line) {
  auto r = parse_adm_line(line);
  EXPECT_TRUE(r.ok()) << line << ": " << (r.ok() ? "" : r.error().user_message);
  if (!r.ok() || !r->has_value()) return {};
  return **r;
}

std::string parse_err(std::string_view line) {
  auto r = parse_adm_line(line);
  EXPECT_FALSE(r.ok()) << line;
  return r.ok() ? "" : r.error().user_message;
}

TEST(AdmWords, QuotingAndComments) {
  auto w = split_adm_words("sam 'user.fred.My Stuff' \"a\\\"b\" c\\ d  # comment");
  ASSERT_TRUE(w.ok());
  EXPECT_EQ(*w, (std::vector<std::string>{"sam", "user.fred.My Stuff", "a\"b", "c d"}));
  EXPECT_TRUE(split_adm_words("   ")->empty());
  EXPECT_TRUE(split_adm_words("# only a comment")->empty());
  EXPECT_FALSE(split_adm_words("cm 'open").ok());
  EXPECT_FALSE(split_adm_words("cm \"open").ok());
  EXPECT_FALSE(split_adm_words(std::string(70000, 'a')).ok());
}

TEST(AdmParse, BlankAndUnknown) {
  auto r = parse_adm_line("  # nothing");
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->has_value());
  EXPECT_NE(parse_err("frobnicate x").find("unknown command 'frobnicate'"), std::string::npos);
}

TEST(AdmParse, AliasesReachTheSameCommand) {
  std::set<std::string> seen;
  for (const auto& c : adm_commands()) {
    EXPECT_TRUE(seen.insert(std::string(c.name)).second) << c.name;
    for (auto a : c.aliases) EXPECT_TRUE(seen.insert(std::string(a)).second) << a;
  }
  for (auto [alias, op] : std::initializer_list<std::pair<const char*, AdmOp>>{
           {"cm", AdmOp::CreateMailbox}, {"create", AdmOp::CreateMailbox},
           {"dm", AdmOp::DeleteMailbox}, {"renm", AdmOp::RenameMailbox},
           {"sam", AdmOp::SetAcl}, {"dam", AdmOp::DeleteAcl}, {"lam", AdmOp::ListAcl},
           {"sq", AdmOp::SetQuota}, {"lq", AdmOp::ListQuota}, {"lqr", AdmOp::ListQuotaRoot},
           {"lm", AdmOp::ListMailbox}, {"quit", AdmOp::Quit}, {"exit", AdmOp::Quit},
           {"connect", AdmOp::Connect}, {"disc", AdmOp::Disconnect}, {"info", AdmOp::GetMetadata}}) {
    const auto* s = find_adm_command(alias);
    ASSERT_NE(s, nullptr) << alias;
    EXPECT_EQ(s->op, op) << alias;
  }
}

TEST(AdmParse, CreateWithPartition) {
  auto c = parse_ok("cm user.fred");
  EXPECT_EQ(c.op, AdmOp::CreateMailbox);
  EXPECT_EQ(c.mailbox, "user.fred");
  EXPECT_EQ(c.partition, "");
  EXPECT_EQ(parse_ok("cm user.fred p2").partition, "p2");
  EXPECT_EQ(parse_ok("createmailbox --partition p3 user.fred").partition, "p3");
  EXPECT_EQ(parse_ok("cm -part p4 user.fred").partition, "p4");  // Tcl-style prefix
  EXPECT_EQ(parse_ok("cm --specialuse Sent user.fred.Sent").specialuse, "Sent");
  EXPECT_NE(parse_err("cm").find("usage: createmailbox"), std::string::npos);
  parse_err("cm a b c");
  parse_err("cm --partition p1 user.x p2");
  parse_err("cm --bogus user.x");
}

TEST(AdmParse, Rename) {
  auto c = parse_ok("renm user.fred user.wilma");
  EXPECT_EQ(c.mailbox, "user.fred");
  EXPECT_EQ(c.new_name, "user.wilma");
  EXPECT_EQ(parse_ok("renm user.fred user.wilma p2").partition, "p2");
  EXPECT_EQ(parse_ok("rename --partition p3 a b").partition, "p3");
  parse_err("renm user.fred");
  parse_err("renm a b c d");
}

TEST(AdmParse, SetAclExpandsCyradmAbbreviations) {
  auto c = parse_ok("sam user.fred anyone read barney all support none helpdesk lrs");
  ASSERT_EQ(c.acl.size(), 4u);
  EXPECT_EQ(c.acl[0], (std::pair<std::string, std::string>{"anyone", "lrs"}));
  EXPECT_EQ(c.acl[1].second, "lrswipkxtea");
  EXPECT_EQ(c.acl[2].second, "");
  EXPECT_EQ(c.acl[3].second, "lrs");
  EXPECT_EQ(expand_rights("post"), "lrsp");
  EXPECT_EQ(expand_rights("append"), "lrsip");
  EXPECT_EQ(expand_rights("write"), "lrswipkxte");
  EXPECT_EQ(expand_rights("delete"), "lrxte");
  EXPECT_EQ(parse_ok("sam user.x fred +lr").acl[0].second, "+lr");
  EXPECT_NE(parse_err("sam user.fred anyone").find("usage: setaclmailbox"), std::string::npos);
  parse_err("sam user.fred anyone read barney");
  EXPECT_NE(parse_err("sam user.x fred 'l r'").find("bad rights"), std::string::npos);
  parse_err("sam user.x fred READ");  // the abbreviations are lower case, like cyradm's
}

TEST(AdmParse, DeleteAclAndPatterns) {
  auto c = parse_ok("dam user.fred anyone barney");
  EXPECT_EQ(c.ids, (std::vector<std::string>{"anyone", "barney"}));
  parse_err("dam user.fred");
  EXPECT_TRUE(is_mailbox_pattern("user.%"));
  EXPECT_TRUE(is_mailbox_pattern("user.*"));
  EXPECT_FALSE(is_mailbox_pattern("user.fred"));
}

TEST(AdmParse, SetQuotaForms) {
  auto c = parse_ok("sq user.fred STORAGE 10000 message 500");
  ASSERT_EQ(c.quota.size(), 2u);
  EXPECT_EQ(c.quota[0].resource, "STORAGE");
  EXPECT_EQ(c.quota[0].limit, 10000);
  EXPECT_EQ(c.quota[1].resource, "MESSAGE");
  EXPECT_EQ(c.quota[1].limit, 500);
  auto shortform = parse_ok("setquota user.fred 2048");  // cyradm: STORAGE
  ASSERT_EQ(shortform.quota.size(), 1u);
  EXPECT_EQ(shortform.quota[0].resource, "STORAGE");
  EXPECT_TRUE(parse_ok("sq user.fred none").quota.empty());  // remove the quota
  auto drop = parse_ok("sq user.fred MESSAGE none");
  ASSERT_EQ(drop.quota.size(), 1u);
  EXPECT_FALSE(drop.quota[0].limit.has_value());
  parse_err("sq user.fred STORAGE");
  parse_err("sq user.fred STORAGE -5");
  parse_err("sq user.fred STORAGE 12abc");
  parse_err("sq user.fred 'STOR AGE' 5");
  parse_err("sq");
}

TEST(AdmParse, ListAndMisc) {
  auto c = parse_ok("lm");
  EXPECT_EQ(c.mailbox, "*");
  EXPECT_FALSE(c.subscribed);
  auto s = parse_ok("lm --subscribed user.% ref");
  EXPECT_TRUE(s.subscribed);
  EXPECT_EQ(s.mailbox, "user.%");
  EXPECT_EQ(s.reference, "ref");
  parse_err("lm a b c");
  EXPECT_EQ(parse_ok("lq user.fred").mailbox, "user.fred");
  parse_err("lq");
  parse_err("lqr a b");
  EXPECT_EQ(parse_ok("quit 3").exit_code, 3);
  parse_err("quit x");
  EXPECT_EQ(parse_ok("help cm").topic, "cm");
  parse_err("help nosuch");
  auto srv = parse_ok("server mail.example.com:1143");
  EXPECT_EQ(srv.server, "mail.example.com");
  EXPECT_EQ(srv.port, 1143);
  EXPECT_TRUE(parse_ok("connect --noauthenticate h 143").no_authenticate);
  parse_err("server h:0");
  EXPECT_EQ(parse_ok("authenticate --mechanisms PLAIN cyrus").mechanism, "PLAIN");
  EXPECT_TRUE(parse_ok("info").mailbox.empty());
}

TEST(AdmImapValues, ParsesListsStringsLiteralsAndNil) {
  auto v = parse_values(R"(* LIST (\HasNoChildren \Noselect) "." "user.fred")", {});
  ASSERT_TRUE(v.ok());
  ASSERT_EQ(v->size(), 5u);
  EXPECT_TRUE((*v)[1].is_atom("list"));
  ASSERT_EQ((*v)[2].kind, ImapValue::Kind::List);
  EXPECT_EQ((*v)[2].items.size(), 2u);
  EXPECT_EQ((*v)[4].text, "user.fred");
  auto lit = parse_values("* LIST () NIL {9}", {"user.a b"});
  ASSERT_TRUE(lit.ok());
  EXPECT_TRUE((*lit)[3].is_nil);
  EXPECT_EQ((*lit)[4].text, "user.a b");
  auto esc = parse_values(R"(* ACL "a\"b" lrs)", {});
  ASSERT_TRUE(esc.ok());
  EXPECT_EQ((*esc)[2].text, "a\"b");
  EXPECT_FALSE(parse_values("* LIST (unterminated", {}).ok());
  EXPECT_FALSE(parse_values("* X \"open", {}).ok());
  EXPECT_FALSE(parse_values("* X {3}", {}).ok());  // literal announced, none read
  EXPECT_FALSE(parse_values("* X " + std::string(100, '('), {}).ok());  // too deep
}

TEST(AdmImapCommand, QuotesOrUsesLiterals) {
  Command c("SETACL");
  c.astring("user.fred").astring("my group").astring("");
  auto p = c.pieces();
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(p[0].text, "SETACL user.fred \"my group\" \"\"");
  Command w("LIST");
  w.string("").astring("user.*");  // a wildcard is never sent as a bare atom
  EXPECT_EQ(w.pieces()[0].text, "LIST \"\" \"user.*\"");
  Command l("CREATE");
  l.astring("caf\xc3\xa9").atom("p2");
  auto lp = l.pieces();
  ASSERT_EQ(lp.size(), 2u);
  EXPECT_EQ(lp[0].text, "CREATE {5}");
  EXPECT_EQ(lp[0].literal, "caf\xc3\xa9");
  EXPECT_EQ(lp[1].text, " p2");
}

// RFC 7677's SCRAM-SHA-256 example, from the client's side.
TEST(AdmScram, Rfc7677Example) {
  ScramClient s;
  s.user = "user";
  s.password = "pencil";
  s.nonce = "rOprNGfwEbeRWgbNEkqO";
  EXPECT_EQ(s.client_first(), "n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
  auto fin = s.client_final(
      "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096");
  ASSERT_TRUE(fin.ok());
  EXPECT_EQ(*fin,
            "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
            "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=");
  EXPECT_TRUE(s.verify_server_final("v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=").ok());
  EXPECT_FALSE(s.verify_server_final("v=AAAATRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=").ok());
  EXPECT_FALSE(s.verify_server_final("e=invalid-proof").ok());
  ScramClient bad;
  bad.user = "user";
  bad.password = "pencil";
  bad.nonce = "abc";
  bad.client_first();
  EXPECT_FALSE(bad.client_final("r=xyz123,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096").ok());  // not our nonce
}

}  // namespace
}  // namespace cyr::ops::adm
