// Fuzz target: mailbox names and ACLs as clients send them
// (store/mail/mboxname.h, store/mail/acl.h).
#include <string>
#include <string_view>

#include "store/mail/acl.h"
#include "store/mail/mboxname.h"
#include "tests/unit/fuzz/targets.h"

namespace cyr::fuzz {
namespace {

void check_mutf7(std::string_view s) {
  // Strict both ways (mboxname.h), so each direction's output converts back
  // to exactly its input.
  if (auto utf8 = mail::mutf7_to_utf8(s); utf8.ok()) {
    auto back = mail::utf8_to_mutf7(*utf8);
    FUZZ_CHECK(back.ok());
    FUZZ_CHECK(*back == s);
    FUZZ_CHECK(mail::is_valid_mutf7(s));
  }
  if (auto m = mail::utf8_to_mutf7(s); m.ok()) {
    auto back = mail::mutf7_to_utf8(*m);
    FUZZ_CHECK(back.ok());
    FUZZ_CHECK(*back == s);
  }
}

void check_namespace(std::string_view name, unsigned options) {
  mail::NamespaceOptions o;
  o.altnamespace = options & 1;
  o.unixhierarchysep = options & 2;
  o.virtdomains = options & 4;
  const bool admin = options & 8;
  const char* user = (options & 16) ? "fred@example.com" : "fred";
  mail::Namespace ns(o, admin ? "admin" : user, admin);
  // What a client names maps to a valid internal name, which shows back to
  // the same client as a name that maps to it again.
  if (auto internal = ns.to_internal(name); internal.ok()) {
    FUZZ_CHECK(mail::validate_mboxname(*internal).ok());
    FUZZ_CHECK(internal->size() <= mail::kMaxMailboxName);
    if (auto external = ns.to_external(*internal); external.ok()) {
      auto again = ns.to_internal(*external);
      FUZZ_CHECK(again.ok());
      FUZZ_CHECK(*again == *internal);
    }
  }
  // Any valid internal name shows as a name that maps back to it.
  if (mail::validate_mboxname(name).ok()) {
    (void)mail::parse_mboxname(name);
    (void)mail::mboxname_owner(name);
    (void)mail::mboxname_parent(name);
    if (auto external = ns.to_external(name); external.ok()) {
      auto again = ns.to_internal(*external);
      FUZZ_CHECK(again.ok());
      FUZZ_CHECK(*again == name);
    }
  }
}

void check_acl(std::string_view s) {
  if (auto acl = mail::Acl::parse(s); acl.ok()) {
    std::string stored = acl->to_string();
    auto back = mail::Acl::parse(stored);
    FUZZ_CHECK(back.ok());
    FUZZ_CHECK(*back == *acl);
    FUZZ_CHECK(back->to_string() == stored);
    mail::AclSubject who;
    who.userid = "fred";
    who.groups = {"staff"};
    mail::Rights r = mail::effective_rights(*acl, who);
    FUZZ_CHECK((r & ~mail::right::kAll) == 0);
    who.is_admin = true;
    FUZZ_CHECK((mail::effective_rights(*acl, who) & mail::right::kAll) != 0);
  }
  if (auto rights = mail::parse_rights_or_abbreviation(s); rights.ok()) {
    FUZZ_CHECK((*rights & ~mail::right::kAll) == 0);
    auto again = mail::parse_rights(mail::format_rights(*rights, false));
    FUZZ_CHECK(again.ok());
    FUZZ_CHECK(*again == *rights);
  }
  if (auto mod = mail::parse_rights_modification(s); mod.ok()) {
    mail::Acl acl;
    for (std::string_view id : {"fred", "-fred", "anyone"}) {
      if (!acl.modify(id, *mod).ok()) continue;
      auto r = acl.rights_of(id);
      if (r) FUZZ_CHECK((*r & ~mail::right::kAll) == 0);
    }
  }
}

}  // namespace

int names(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const unsigned options = data[0];
  std::string_view in(reinterpret_cast<const char*>(data + 1), std::min<size_t>(size - 1, 8192));
  check_mutf7(in);
  check_namespace(in, options);
  check_acl(in);
  return 0;
}

}  // namespace cyr::fuzz
