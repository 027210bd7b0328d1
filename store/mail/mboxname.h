// Cyrus mailbox names: internal form, validation, and the client namespaces.
//
// The internal name is what the store keys mailboxes by, exactly as Cyrus
// does: '.'-separated components, personal mailboxes under "user.<owner>",
// shared ones at the top level ("shared.folder"), and with virtual domains a
// "<domain>!" prefix ("example.com!user.fred.Sent"). Components are in IMAP
// modified UTF-7 (RFC 3501 5.1.3), never raw 8-bit. A '.' that a user typed
// in a name under unixhierarchysep is stored as '^' (Cyrus's convention), and
// so is a '.' in a user id ("fred.smith" -> "user.fred^smith").
//
// Namespace converts between that internal form and what one authenticated
// client sees and types (INBOX, "Other Users/...", "Shared Folders/...",
// the '/' or '.' separator), per the imapd.conf options altnamespace,
// unixhierarchysep and virtdomains.
//
// Everything here is pure (no I/O, no global state): free functions are
// thread-safe, and a Namespace is immutable after construction and can be
// shared between threads. Every input is bounded by kMaxMailboxName and
// kMaxMailboxLevels; bad input is an Errc::Invalid (or Errc::Limit for the
// bounds) Error, never a crash or a silently altered name.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "store/base/result.h"

namespace cyr::mail {

// Cyrus MAX_MAILBOX_NAME: the longest internal name, domain prefix included.
inline constexpr size_t kMaxMailboxName = 490;
// Deepest hierarchy we accept (components after the domain prefix).
inline constexpr size_t kMaxMailboxLevels = 64;
// Longest domain name (RFC 1035) in a "<domain>!" prefix or user id.
inline constexpr size_t kMaxDomainName = 253;

// ---------------------------------------------------------------------------
// Modified UTF-7 (RFC 3501 5.1.3), the form of non-ASCII in mailbox names.
// Strict both ways: decoding refuses bad base64, non-zero or too many pad
// bits, printable ASCII encoded in base64, adjacent shift sequences ("-&"),
// unpaired UTF-16 surrogates and raw 8-bit or control bytes; encoding refuses
// invalid UTF-8 (overlongs, surrogates, > U+10FFFF) and control characters.
// Inputs longer than kMaxMailboxName * 4 are Errc::Limit.

Result<std::string> mutf7_to_utf8(std::string_view mutf7);
Result<std::string> utf8_to_mutf7(std::string_view utf8);
bool is_valid_mutf7(std::string_view s);

// ---------------------------------------------------------------------------
// Internal names.

// An internal name split into its domain (empty without virtdomains) and its
// components: "example.com!user.fred.Sent" -> {"example.com", {"user","fred","Sent"}}.
struct MailboxName {
  std::string domain;
  std::vector<std::string> parts;

  // Back to the internal string form.
  std::string to_internal() const;
};

// Validates an internal name and reports why it is bad: empty name or
// component, "..", a component "^" or "^^" (would be "." or ".." to a client
// using unixhierarchysep), '/', NUL, control characters, DEL, 8-bit bytes,
// the wildcards '%' and '*', invalid modified UTF-7, a bad domain prefix,
// "user" alone with no owner, more than kMaxMailboxLevels components or more
// than kMaxMailboxName bytes.
Status validate_mboxname(std::string_view internal);

// validate_mboxname(), then split.
Result<MailboxName> parse_mboxname(std::string_view internal);

// The owner's user id of a personal mailbox, or nullopt for a shared one:
// "user.fred.X" -> "fred", "example.com!user.fred" -> "fred@example.com",
// "user.fred^smith" -> "fred.smith". Garbage in gives nullopt.
std::optional<std::string> mboxname_owner(std::string_view internal);

// The key that groups a mailbox with everything that must live, replicate
// and fail over together: the owner's INBOX name for personal mailboxes
// ("example.com!user.fred"), and the domain-qualified top-level name for
// shared ones ("shared" for "shared.folder", "example.com!shared" for
// "example.com!shared.a"). Empty for an invalid name.
std::string mboxname_owner_key(std::string_view internal);

// The internal name one level up, or nullopt at the top level
// ("user.fred.A.B" -> "user.fred.A"; "user.fred" -> "user"; "shared" -> nullopt).
// Note "user" itself is not a mailbox; callers stop at the user's INBOX.
std::optional<std::string> mboxname_parent(std::string_view internal);

// True for exactly "user.<owner>" (with optional domain prefix).
bool mboxname_is_user_inbox(std::string_view internal);

// True if `internal` is `ancestor` or below it (component-wise, so
// "user.fred.Sent2" is not below "user.fred.Sent").
bool mboxname_is_same_or_below(std::string_view internal, std::string_view ancestor);

// The INBOX of a user id: "fred" -> "user.fred",
// "fred@example.com" -> "example.com!user.fred" when virtdomains is on
// (without virtdomains '@' is just a character of the id), "fred.smith" ->
// "user.fred^smith". Invalid ids (empty, '/', control chars, too long) are
// Errc::Invalid.
Result<std::string> user_inbox_name(std::string_view userid, bool virtdomains);

// ---------------------------------------------------------------------------
// Client namespaces.

struct NamespaceOptions {
  bool altnamespace = true;      // imapd.conf altnamespace (Cyrus 3 default: yes)
  bool unixhierarchysep = true;  // imapd.conf unixhierarchysep (Cyrus 3 default: yes)
  bool virtdomains = false;      // imapd.conf virtdomains != off
  std::string userprefix = "Other Users";       // imapd.conf userprefix
  std::string sharedprefix = "Shared Folders";  // imapd.conf sharedprefix
};

// One entry of the IMAP NAMESPACE response (RFC 2342), protocol-free.
struct NamespacePrefix {
  std::string prefix;  // e.g. "INBOX.", "", "Other Users/", "user."
  char separator;      // '.' or '/'
};

struct NamespacePrefixes {
  NamespacePrefix personal;
  NamespacePrefix other_users;
  NamespacePrefix shared;
};

// The view of mailbox names for one authenticated user.
//
// Standard namespace (altnamespace: no), separator '.' shown (or '/'):
//   INBOX <-> user.fred           INBOX.Sent <-> user.fred.Sent
//   user.barney.X <-> user.barney.X   shared.folder <-> shared.folder
// Alternate namespace (altnamespace: yes):
//   INBOX <-> user.fred           Sent <-> user.fred.Sent  (INBOX.Sent also accepted)
//   Other Users.barney.X <-> user.barney.X
//   Shared Folders.shared.folder <-> shared.folder
// Admins always get the standard namespace (as in Cyrus), so that "user.X"
// names every user's mailboxes. With virtdomains a user "fred@example.com"
// sees only example.com and names carry no domain; a global admin (user id
// without '@') addresses a domain by a trailing "@domain" on the name
// ("user.fred.Sent@example.com").
class Namespace {
 public:
  // userid: the authenticated id ("fred", "fred@example.com"); empty for an
  // anonymous session (no personal namespace).
  Namespace(NamespaceOptions options, std::string userid, bool is_admin);

  char separator() const { return options_.unixhierarchysep ? '/' : '.'; }
  bool is_alt() const { return alt_; }
  const std::string& userid() const { return userid_; }

  // A client's name (modified UTF-7, as sent) to the internal name.
  // "inbox" is matched case-insensitively as the first component. Errors:
  // Errc::Invalid for names that are malformed or contain a character the
  // internal form cannot hold ('^' under unixhierarchysep, the other
  // separator otherwise, components "." or ".."), Errc::Limit for bounds;
  // Errc::NotFound for names that map to no mailbox at all ("Other Users"
  // alone, or INBOX for an anonymous session).
  Result<std::string> to_internal(std::string_view external) const;

  // An internal name to the client's view of it. Errc::Perm if this user
  // cannot even name it (another domain, for a non-global user; or a name
  // that would read back as another mailbox, such as a shared "INBOX.Sent"
  // in the standard namespace); Errc::Invalid for a bad internal name.
  // to_internal(to_external(x)) == x whenever to_external succeeds.
  Result<std::string> to_external(std::string_view internal) const;

  NamespacePrefixes prefixes() const;

 private:
  NamespaceOptions options_;
  std::string userid_;
  std::string user_local_;   // userid_ without "@domain" (virtdomains)
  std::string user_domain_;  // "" if none
  bool is_admin_;
  bool alt_;
};

}  // namespace cyr::mail
