#include "store/mail/acl.h"

#include <gtest/gtest.h>

namespace cyr::mail {
namespace {

Rights R(std::string_view s) {
  auto r = parse_rights(s);
  EXPECT_TRUE(r.ok()) << s;
  return r.ok() ? *r : 0;
}

TEST(AclRights, ParseAndFormat) {
  EXPECT_EQ(R(""), 0u);
  EXPECT_EQ(R("lrs"), right::kLookup | right::kRead | right::kSeen);
  EXPECT_EQ(format_rights(R("srl")), "lrs");
  EXPECT_EQ(format_rights(R("lrswipkxtea")), "lrswipkxtecda");
  EXPECT_EQ(format_rights(R("lrswipkxtea"), false), "lrswipkxtea");
  EXPECT_EQ(R("lrswipkxtecdan"), right::kAll);
  EXPECT_EQ(format_rights(right::kAll), "lrswipkxtecdan");
  EXPECT_FALSE(parse_rights("lrZ").ok());
  EXPECT_FALSE(parse_rights("L").ok());
  EXPECT_FALSE(parse_rights("lr1").ok());
  EXPECT_EQ(parse_rights("q").error().code, Errc::Invalid);
}

// RFC 4314 2.1.1 macros, with the members Cyrus gives them (deleteright: c).
TEST(AclRights, LegacyLetters) {
  EXPECT_EQ(R("c"), right::kCreate | right::kDeleteMbox);
  EXPECT_EQ(R("d"), right::kDeleteMsg | right::kExpunge);
  EXPECT_EQ(format_rights(R("c")), "kxc");
  EXPECT_EQ(format_rights(R("d")), "ted");
  // A macro is shown when any one of its members is granted ...
  EXPECT_EQ(format_rights(R("lrswite")), "lrswited");
  EXPECT_EQ(format_rights(R("lrk")), "lrkc");
  EXPECT_EQ(format_rights(R("lrx")), "lrxc");
  // ... and adds nothing when one of its members is spelled out: Cyrus stores
  // and replicates "lrswite" as "lrswited", which must not gain an 'x'.
  EXPECT_EQ(R("lrswited"), R("lrswite"));
  EXPECT_EQ(R("lrkc"), R("lrk"));
  EXPECT_EQ(R("lrtd"), R("lrt"));
  EXPECT_EQ(R("lrswipkxtecdan"), right::kAll);
  // The seed's "lrswipcda" means the same as RFC 4314 "lrswipkxtea".
  EXPECT_EQ(R("lrswipcda"), R("lrswipkxtea"));
  // Whatever we print reads back as the same mask.
  for (Rights m = 0; m <= right::kAll; ++m) EXPECT_EQ(R(format_rights(m)), m) << m;
}

TEST(AclRights, CyradmAbbreviations) {
  auto ab = [](std::string_view s) {
    auto r = parse_rights_or_abbreviation(s);
    EXPECT_TRUE(r.ok()) << s;
    return r.ok() ? format_rights(*r, false) : std::string("?");
  };
  EXPECT_EQ(ab("none"), "");
  EXPECT_EQ(ab("read"), "lrs");
  EXPECT_EQ(ab("post"), "lrsp");
  EXPECT_EQ(ab("append"), "lrsip");
  EXPECT_EQ(ab("write"), "lrswipkxte");
  EXPECT_EQ(ab("delete"), "lrxte");
  EXPECT_EQ(ab("ALL"), "lrswipkxtean");
  EXPECT_EQ(ab("lr"), "lr");
  EXPECT_FALSE(parse_rights_or_abbreviation("reading").ok());
}

TEST(AclRights, Modifications) {
  auto m = parse_rights_modification("+w");
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->op, RightsModification::Op::Add);
  EXPECT_EQ(format_rights(apply_modification(R("lr"), *m)), "lrw");
  m = parse_rights_modification("-r");
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(format_rights(apply_modification(R("lrs"), *m)), "ls");
  m = parse_rights_modification("lr");
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(format_rights(apply_modification(R("lrswi"), *m)), "lr");
  m = parse_rights_modification("+read");
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(format_rights(apply_modification(R("p"), *m)), "lrsp");
  EXPECT_FALSE(parse_rights_modification("+x!").ok());
}

TEST(Acl, ParseAndFormatStoredString) {
  auto acl = Acl::parse("fred\tlrswipkxtecda\tanyone\tlr\t-anonymous\ts\tgroup:staff\tlrsp\t");
  ASSERT_TRUE(acl.ok()) << acl.error().describe();
  ASSERT_EQ(acl->entries().size(), 4u);
  EXPECT_EQ(acl->entries()[2].identifier, "anonymous");
  EXPECT_TRUE(acl->entries()[2].negative);
  EXPECT_EQ(acl->to_string(), "fred\tlrswipkxtecda\tanyone\tlr\t-anonymous\ts\tgroup:staff\tlrsp\t");
  EXPECT_EQ(*acl->rights_of("-anonymous"), right::kSeen);
  EXPECT_FALSE(acl->rights_of("anonymous").has_value());
  // Trailing tab is optional; the empty string is the empty ACL.
  auto no_tab = Acl::parse("fred\tlr");
  ASSERT_TRUE(no_tab.ok());
  EXPECT_EQ(no_tab->to_string(), "fred\tlr\t");
  auto empty = Acl::parse("");
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());
}

TEST(Acl, RejectsMalformed) {
  EXPECT_FALSE(Acl::parse("fred").ok());                   // no rights field
  EXPECT_FALSE(Acl::parse("fred\tlrQ\t").ok());            // bad letter
  EXPECT_FALSE(Acl::parse("\tlr\t").ok());                 // empty identifier
  EXPECT_FALSE(Acl::parse("-\tlr\t").ok());                // '-' alone
  EXPECT_FALSE(Acl::parse("fred\tlr\tfred\tw\t").ok());    // duplicate
  EXPECT_FALSE(Acl::parse("fr\x01" "ed\tlr\t").ok());      // control char
  EXPECT_FALSE(Acl::parse("group:\tlr\t").ok());           // group without name
  // A positive and a negative entry for the same id are distinct.
  EXPECT_TRUE(Acl::parse("fred\tlr\t-fred\tw\t").ok());
  std::string huge;
  for (int i = 0; i <= 1000; ++i) huge += "u" + std::to_string(i) + "\tl\t";
  EXPECT_EQ(Acl::parse(huge).error().code, Errc::Limit);
}

TEST(Acl, SetModifyRemove) {
  Acl acl;
  ASSERT_TRUE(acl.set("fred", R("lrs")).ok());
  ASSERT_TRUE(acl.set("-barney", R("w")).ok());
  ASSERT_TRUE(acl.modify("fred", *parse_rights_modification("+w")).ok());
  EXPECT_EQ(acl.to_string(), "fred\tlrsw\t-barney\tw\t");
  ASSERT_TRUE(acl.modify("fred", *parse_rights_modification("-lrsw")).ok());
  EXPECT_EQ(acl.to_string(), "-barney\tw\t");  // an empty mask removes the entry
  EXPECT_TRUE(acl.remove("-barney"));
  EXPECT_FALSE(acl.remove("-barney"));
  EXPECT_TRUE(acl.empty());
  EXPECT_FALSE(acl.set("bad\tid", R("l")).ok());
  EXPECT_FALSE(acl.set("", R("l")).ok());
}

TEST(AclEffective, UnionOfUserAnyoneAndGroups) {
  // Seed 003: mary inherits p from group helpdesk.
  auto acl = Acl::parse("mary\tlrs\tgroup:helpdesk\tlrsp\t");
  ASSERT_TRUE(acl.ok());
  AclSubject mary{"mary", {"helpdesk"}};
  EXPECT_EQ(format_rights(effective_rights(*acl, mary)), "lrsp");
  AclSubject mary_no_group{"mary", {}};
  EXPECT_EQ(format_rights(effective_rights(*acl, mary_no_group)), "lrs");
  AclSubject bob{"bob", {"helpdesk"}};
  EXPECT_EQ(format_rights(effective_rights(*acl, bob)), "lrsp");
  AclSubject eve{"eve", {"sales"}};
  EXPECT_EQ(effective_rights(*acl, eve), 0u);
}

TEST(AclEffective, NegativeRightsAndAnonymous) {
  // Seed 003: "anyone read, -anonymous s": anonymous gets only l and r.
  auto acl = Acl::parse("anyone\tlrs\t-anonymous\ts\t");
  ASSERT_TRUE(acl.ok());
  AclSubject anon{"anonymous", {}, true};
  EXPECT_EQ(format_rights(effective_rights(*acl, anon)), "lr");
  AclSubject fred{"fred", {}};
  EXPECT_EQ(format_rights(effective_rights(*acl, fred)), "lrs");
  // "anonymous" entries do not apply to authenticated users, and a user
  // named in the ACL does not match an anonymous session.
  auto acl2 = Acl::parse("anonymous\tlr\tfred\tw\t");
  ASSERT_TRUE(acl2.ok());
  EXPECT_EQ(effective_rights(*acl2, fred), right::kWrite);
  EXPECT_EQ(format_rights(effective_rights(*acl2, anon)), "lr");
  // Negative group entries remove rights granted to the user directly.
  auto acl3 = Acl::parse("fred\tlrswi\t-group:interns\tw\t-fred\ti\t");
  ASSERT_TRUE(acl3.ok());
  AclSubject intern{"fred", {"interns"}};
  EXPECT_EQ(format_rights(effective_rights(*acl3, intern)), "lrs");
}

TEST(AclEffective, ImplicitAndAdmin) {
  auto acl = Acl::parse("-fred\tla\t");
  ASSERT_TRUE(acl.ok());
  AclSubject fred{"fred", {}};
  // Negative entries also remove implicit (owner) rights.
  EXPECT_EQ(format_rights(effective_rights(*acl, fred, R("lkxa")), false), "kx");
  AclSubject admin{"fred", {}, false, true};
  // Admins always keep l and a, so they can see and repair any ACL.
  EXPECT_EQ(format_rights(effective_rights(*acl, admin)), "la");
  Acl empty;
  EXPECT_EQ(format_rights(effective_rights(empty, admin)), "la");
  EXPECT_EQ(effective_rights(empty, fred), 0u);
}

}  // namespace
}  // namespace cyr::mail
