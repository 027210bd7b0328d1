// Delivery: the part of LMTP that is not protocol syntax, shared by the LMTP
// session and cyr_deliver's in-process checks: which mailbox a recipient
// address means, whether the poster may post there, the message checks of
// Cyrus's lmtpd, duplicate suppression, and the store call that delivers one
// spooled message into many mailboxes with one reply per recipient.
//
// Flow (lmtp_session.cpp): RCPT -> resolve_recipient() (550 / 452 at once);
// DATA streamed to a spool file -> check_message() (one reply for all) ->
// deliver_spooled() (one reply per recipient, in RCPT order).
//
// Thread-safety: DeliverySettings is an immutable value; the functions block
// on the store and the duplicate database, so sessions call them on the
// blocking pool. They take the Store and DuplicateDb by reference and keep
// nothing.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "server/lmtpd/lmtp_protocol.h"
#include "store/base/result.h"
#include "store/config/imapd_conf.h"
#include "store/duplicate_db.h"
#include "store/mail/mboxname.h"
#include "store/store.h"

namespace cyr::lmtpd {

// The imapd.conf values delivery needs (read once per service).
struct DeliverySettings {
  bool duplicate_suppression = true;  // duplicatesuppression
  bool over_quota_perm = false;       // lmtp_over_quota_perm_failure
  bool strict_quota = false;          // lmtp_strict_quota
  bool downcase_rcpt = true;          // lmtp_downcase_rcpt
  bool reject8bit = false;            // reject8bit
  bool munge8bit = true;              // munge8bit
  uint64_t max_message_size = 0;      // maxmessagesize (0: the store's bound)
  std::string postuser;               // postuser
  std::string catchall;               // lmtp_catchall_mailbox: a local user, "" for none
  bool fuzzy_mailbox_match = false;   // lmtp_fuzzy_mailbox_match
  bool unixhierarchysep = true;       // folder names in +detail use '/' (else '.')
  bool virtdomains = false;
  std::string defaultdomain;          // unqualified ids live here (virtdomains)
  int64_t quotawarn_percent = 90;     // quotawarn
  // autocreate_post with autocreate_quota >= 0: a missing INBOX is created
  // on delivery, with that storage quota (KiB; 0: none) and message quota.
  bool autocreate = false;
  int64_t autocreate_quota_kib = -1;
  int64_t autocreate_quota_messages = -1;
  std::vector<std::string> autocreate_folders;  // autocreate_inbox_folders
  std::string servername;

  // Sieve (server/lmtpd/sieve_delivery.h).
  bool sieve = true;                             // run users' active scripts
  std::set<std::string> sieve_extensions;        // what scripts may require (sieve::configured_extensions)
  std::string sendmail = "/usr/lib/sendmail";    // sendmail: redirect and vacation go through it
  int64_t vacation_min_seconds = 3 * 86400;      // sieve_vacation_min_response
  int64_t vacation_max_seconds = 90 * 86400;     // sieve_vacation_max_response
  bool sieve_utf8fileinto = false;               // fileinto names are UTF-8, not modified UTF-7
  std::vector<std::string> sieve_autocreate;     // autocreate_sieve_folders: fileinto may create these
  bool any_sieve_folder = false;                 // anysievefolder: fileinto may create any folder
  std::string sieve_global_dir;                  // sievedir/global: include :global reads NAME.script here
  size_t sieve_max_script_bytes = 32 * 1024;     // sieve_maxscriptsize: bounds an included script
  int64_t sieve_duplicate_max_seconds = 90 * 86400;  // sieve_duplicate_max_expiration
  mail::NamespaceOptions ns;                     // how scripts name mailboxes
};

DeliverySettings delivery_settings_from_config(const config::ImapdConf& conf, std::string_view service);

// One resolved recipient.
struct Target {
  std::string address;    // as given in RCPT TO, for logs
  std::string mailbox;    // internal name
  std::string quotaroot;  // "" when none
  std::string userid;     // whose mail this is (runs their Sieve script); "" for a shared mailbox
  std::optional<store::SieveScript> sieve;  // the user's active script, read at RCPT
};

// Maps a recipient to its mailbox (seed 002, "plus addressing"):
//   user[@domain]          -> user.user                      (the INBOX)
//   user+Folder/Sub        -> user.user.Folder.Sub if it exists and
//                             `poster` has the p right there (with
//                             lmtp_fuzzy_mailbox_match: the folder equal but
//                             for case and white space, else its parent's
//                             match, and so on up); else the INBOX
//   postuser+shared/folder -> shared.folder (must exist, p right required)
// poster: the authenticated LMTP user, or "" (anonymous: anyone's rights).
// With lmtp_catchall_mailbox, an address whose user or mailbox does not
// exist goes to that user's INBOX instead of 550.
// Errors carry the reply in user_message: 550 5.1.1 (no such user or
// mailbox), 550 5.7.1 (no p right on a shared target), 451 4.3.0 (store).
Result<Target> resolve_recipient(store::Store& store, const DeliverySettings& s,
                                 const RecipientAddress& rcpt, const std::string& poster,
                                 const std::string& sid);

// The quota check at RCPT time: 452 4.2.2 (or 552 5.2.2) when the mailbox is
// already over quota (with strict_quota: when `size` would take it over).
std::optional<Reply> precheck_quota(store::Store& store, const DeliverySettings& s,
                                    const Target& t, uint64_t size);

// What the DATA decoder saw; the checks refuse the whole message at once.
struct MessageFacts {
  uint64_t size = 0;
  bool bare_lf = false;
  bool nul = false;
  bool header_8bit = false;
};
// 554 5.6.0 for bare newlines, NUL bytes or (reject8bit) 8-bit headers;
// 552 5.3.4 above maxmessagesize. nullopt: the message may be delivered.
std::optional<Reply> check_message(const DeliverySettings& s, const MessageFacts& facts);

struct SpooledMessage {
  // The complete message (Return-Path added): a file, not removed here, or
  // (path empty) `bytes`.
  std::string path;
  std::string message_id;  // "" when the message has none: no suppression
  uint64_t size = 0;
  std::string bytes;
  std::string header;         // the header block (Sieve reads it)
  size_t added_header_bytes = 0;  // lmtpd's own fields before it (Return-Path, Received)
  std::string envelope_from;  // MAIL FROM without <>; "" for the null sender
  std::string auth;           // MAIL AUTH=, or ""
};

// Delivers to every target; replies in target order. Duplicates (same
// Message-ID already delivered to the mailbox, or twice in this
// transaction) get 250 without a second copy. Each delivered copy is on
// disk (the store fsyncs) before its 250 is returned.
std::vector<Reply> deliver_spooled(store::Store& store, store::DuplicateDb* dupdb,
                                   const DeliverySettings& s, const SpooledMessage& msg,
                                   const std::vector<Target>& targets, const std::string& sid);

// The reply for a store error during delivery (quota, missing mailbox,
// replica, fenced store, I/O).
Reply reply_for_store_error(const Error& e, const DeliverySettings& s);

// "Lists/cyrus" (site separator) -> "Lists.cyrus" (internal); '.' in a name
// under unixhierarchysep becomes '^' as Cyrus stores it. Invalid for empty
// components.
Result<std::string> detail_to_internal(std::string_view detail, bool unixhierarchysep);

}  // namespace cyr::lmtpd
