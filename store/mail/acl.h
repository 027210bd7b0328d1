// Cyrus access control lists: rights masks, the stored ACL string, and the
// rights a given identity ends up with.
//
// Rights are the RFC 4314 letters "lrswipkxtea", plus Cyrus 3's "n", as a bitmask. The RFC 2086
// letters 'c' and 'd' are macros (RFC 4314 2.1.1), with the member rights Cyrus
// gives them under its default `deleteright: c`: 'c' = "kx" (create and delete
// mailboxes), 'd' = "te" (delete messages, expunge). As in RFC 4314 and Cyrus, a
// macro adds its members only when the string names none of them ("lrswite" keeps
// its missing 'x'), and on output a macro is shown when any of its members is
// there, so rights print as Cyrus prints (and replicates) them: "lrswited" for
// "lrswite", "lrswipkxtecdan" for everything. Reading our own or Cyrus's stored
// strings back therefore gives the same mask: the macros never add a right the
// string did not already imply.
//
// The stored form is Cyrus's mailboxes.db ACL string:
// "<identifier>\t<rights>\t<identifier>\t<rights>\t..." where an identifier is
// a user id, "group:NAME", "anyone", "anonymous", or any of those prefixed
// with '-' for a negative entry (rights taken away).
//
// Acl is a plain value type (copyable, not synchronised: treat it like a
// std::string). The free functions are pure and thread-safe. Parsing is
// bounded (kMaxAclEntries, kMaxAclIdentifier, kMaxAclString) and a bad
// string is an Error, never a partially parsed ACL.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "store/base/result.h"

namespace cyr::mail {

using Rights = uint32_t;

namespace right {
inline constexpr Rights kLookup = 1u << 0;       // l: LIST, SUBSCRIBE
inline constexpr Rights kRead = 1u << 1;         // r: SELECT, FETCH, SEARCH, COPY from
inline constexpr Rights kSeen = 1u << 2;         // s: keep \Seen
inline constexpr Rights kWrite = 1u << 3;        // w: other flags and keywords
inline constexpr Rights kInsert = 1u << 4;       // i: APPEND, COPY into
inline constexpr Rights kPost = 1u << 5;         // p: LMTP delivery to "user+folder"
inline constexpr Rights kCreate = 1u << 6;       // k: CREATE children, RENAME into
inline constexpr Rights kDeleteMbox = 1u << 7;   // x: DELETE, RENAME from
inline constexpr Rights kDeleteMsg = 1u << 8;    // t: set \Deleted
inline constexpr Rights kExpunge = 1u << 9;      // e: EXPUNGE
inline constexpr Rights kAdmin = 1u << 10;       // a: SETACL, DELETEACL, GETACL
// n: write shared annotations (Cyrus 3). Not in RFC 4314, but Cyrus 3 ACLs
// carry it (a new user's INBOX gets "lrswipkxtecdan"), so replication from a
// real Cyrus must be able to store it.
inline constexpr Rights kAnnotate = 1u << 11;
inline constexpr Rights kAll = (1u << 12) - 1;   // lrswipkxtean
// The legacy macros' members (Cyrus with `deleteright: c`, its default).
inline constexpr Rights kLegacyC = kCreate | kDeleteMbox;
inline constexpr Rights kLegacyD = kDeleteMsg | kExpunge;
}  // namespace right

inline constexpr size_t kMaxAclEntries = 1000;
inline constexpr size_t kMaxAclIdentifier = 512;
inline constexpr size_t kMaxAclString = 256 * 1024;

// "lrs" -> mask. Accepts each of "lrswipkxteacdn" (any order, repeats
// allowed); anything else, including upper case or a digit, is
// Errc::Invalid. The empty string is the empty mask.
Result<Rights> parse_rights(std::string_view letters);

// Like parse_rights(), but also accepts the cyradm abbreviations
// (case-insensitive): none "", read "lrs", post "lrsp", append "lrsip",
// write "lrswipkxte", delete "lrxte", all "lrswipkxtean".
Result<Rights> parse_rights_or_abbreviation(std::string_view text);

// Mask -> letters in canonical order "lrswipkxtean"; with legacy, 'c' and 'd'
// are inserted where Cyrus puts them, each when any of its members is present
// ("lrswipkxtecdan", "lrswited").
std::string format_rights(Rights rights, bool legacy = true);

// How a SETACL rights argument changes an existing mask (RFC 4314 3.1).
struct RightsModification {
  enum class Op { Replace, Add, Remove };
  Op op = Op::Replace;
  Rights rights = 0;
};

// "+lr" -> Add, "-w" -> Remove, "lrs" -> Replace; also accepts the cyradm
// abbreviations after the optional sign ("+read").
Result<RightsModification> parse_rights_modification(std::string_view text);

Rights apply_modification(Rights current, const RightsModification& mod);

struct AclEntry {
  std::string identifier;  // without the leading '-' of a negative entry
  bool negative = false;
  Rights rights = 0;

  friend bool operator==(const AclEntry&, const AclEntry&) = default;
};

// Who is asking, for effective_rights().
struct AclSubject {
  std::string userid;                // empty or "anonymous" for anonymous
  std::vector<std::string> groups;   // group names, without "group:"
  bool is_anonymous = false;
  bool is_admin = false;             // imapd.conf admins
};

class Acl {
 public:
  Acl() = default;

  // Parses the stored "<id>\t<rights>\t..." form. A trailing tab is optional;
  // an empty string is the empty ACL. Errc::Invalid for an odd number of
  // fields, a bad identifier (empty, control characters, longer than
  // kMaxAclIdentifier), bad rights letters or a duplicate entry; Errc::Limit
  // for more than kMaxAclEntries entries or kMaxAclString bytes.
  static Result<Acl> parse(std::string_view stored);

  // The stored form, entries in insertion order, each rights field in
  // canonical order with the legacy letters (as Cyrus writes it).
  std::string to_string() const;

  const std::vector<AclEntry>& entries() const { return entries_; }
  bool empty() const { return entries_.empty(); }

  // The entry for an identifier ("fred", or "-fred" for the negative one),
  // if any.
  std::optional<Rights> rights_of(std::string_view identifier) const;

  // Sets the rights of an identifier ("-fred" addresses the negative entry).
  // Setting an empty mask removes the entry, as SETACL with "" does.
  // Errc::Invalid for a bad identifier; Errc::Limit beyond kMaxAclEntries.
  Status set(std::string_view identifier, Rights rights);

  // SETACL with "+r", "-r" or "r" against the current entry.
  Status modify(std::string_view identifier, const RightsModification& mod);

  // DELETEACL: removes the entry; returns whether there was one.
  bool remove(std::string_view identifier);

  friend bool operator==(const Acl&, const Acl&) = default;

 private:
  std::vector<AclEntry> entries_;
};

// The rights `who` has on a mailbox with this ACL: the union of the positive
// entries that apply (their user id, "anyone", "anonymous" only when
// anonymous, "group:G" for each G in groups) minus the union of the negative
// entries that apply. `implicit` is added before the subtraction (pass the
// imapd.conf implicit_owner_rights when `who` owns the mailbox). An admin
// additionally always has l and a (seed 003: "Cyrus administrators have l
// and a rights on all mailboxes"), even against negative entries, so an admin
// can always see and repair an ACL.
Rights effective_rights(const Acl& acl, const AclSubject& who, Rights implicit = 0);

// Whether an identifier names a valid ACL subject (non-empty, no tab, no
// control characters, bounded; a leading '-' is allowed).
bool is_valid_acl_identifier(std::string_view identifier);

}  // namespace cyr::mail
