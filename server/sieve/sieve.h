// Sieve (RFC 5228): the mail filtering language that lmtpd runs for a user
// at delivery, and that ManageSieve (RFC 5804) checks before it stores a
// script. Pure: no store, no network, no clock: everything a run needs
// comes through MessageInput ("now", the scripts include loads, what the
// duplicate test has seen, the environment items).
//
// compile() turns a script's text into an immutable Script (an AST), or an
// error whose user_message is "line N: what is wrong" (ManageSieve returns
// it verbatim to PUTSCRIPT/CHECKSCRIPT). Everything is bounded: script size,
// nesting, commands, string-list lengths, string lengths.
//
// evaluate() runs a Script against one message for one recipient and
// returns the actions to take, in order. It never throws and never fails:
// a runtime error (an action conflict, too many actions, a missing
// included script, "error") ends the run with an implicit keep, and the
// reason is in Outcome::errors (RFC 5228 2.10.6). The caller carries the
// actions out (store the copies, send the redirect and vacation messages
// through `sendmail`, answer LMTP's reject), then records
// Outcome::duplicates.
//
// Extensions implemented (what "require" may name): see
// supported_extensions(). The set a site allows is sieve_extensions in
// imapd.conf; compile() refuses a require outside it.
//
// Thread-safety: a Script is immutable and may be shared by threads (its
// compiled :regex patterns too: glibc's regexec on a shared regex_t is
// thread-safe); compile() and evaluate() are reentrant.
#pragma once

#include <cstdint>
#include <ctime>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "store/base/result.h"

namespace cyr::config {
class ImapdConf;
}

namespace cyr::sieve {

struct Limits {
  size_t max_script_bytes = 32 * 1024;  // sieve_maxscriptsize (KiB in imapd.conf)
  size_t max_nesting = 32;              // blocks inside blocks, tests inside tests
  size_t max_commands = 10000;          // commands and tests in one script
  size_t max_list_items = 1024;         // strings in one string list
  size_t max_string_bytes = 32 * 1024;  // one string after decoding
  size_t max_actions = 64;              // actions one run may produce
  size_t max_redirects = 5;             // redirect actions one run may produce
  size_t max_variable_bytes = 4096;     // a variable's value (variables extension)
  // Steps of one :matches or :regex comparison (a run: 64 times this in
  // all). A :regex over n bytes costs about n * n * (pattern size) / 16
  // (glibc's regexec is quadratic at worst), so :regex suits header values
  // and short bodies; past the bound a comparison is a runtime error.
  size_t max_match_work = 1u << 20;
  // regex: one :regex pattern's length; a script holds at most
  // max_list_items constant patterns.
  size_t max_regex_bytes = 1024;
  // include: scripts included inside included scripts (the main script
  // is depth 0), and include commands carried out in one run.
  size_t max_include_depth = 5;
  size_t max_includes = 16;
  // duplicate: :seconds (and the 7-day default) is clamped to this.
  int64_t max_duplicate_seconds = 90 * 86400;
  // editheader: addheader actions in one run, and how many bytes the
  // header block may grow by.
  size_t max_added_headers = 32;
  size_t max_header_growth = 16 * 1024;
};

// The "require" names this build implements, sorted.
const std::vector<std::string>& supported_extensions();

// The SIEVE capability and what compile() may "require" at a site: the
// extensions this build implements, minus those the site switched off.
// `switchable` is the vocabulary of imapd.conf sieve_extensions, `enabled`
// its value. Names outside that vocabulary (comparators, encoded-character)
// are always on; a configured name turns on the "require" names it stands
// for (imapflags: imap4flags; reject: reject and ereject; notify: enotify
// and notify; x-cyrus-log: vnd.cyrus.log; ...). Sorted.
std::vector<std::string> site_extensions(const std::vector<std::string>& implemented,
                                         const std::vector<std::string>& switchable,
                                         const std::vector<std::string>& enabled);
// site_extensions() of this build for a service's sieve_extensions (what
// ManageSieve advertises and lmtpd lets a stored script require).
std::vector<std::string> configured_extensions(const config::ImapdConf& conf, std::string_view service);

class Script;  // the compiled form; defined in the implementation

// include (RFC 6609): where an included script comes from.
enum class IncludeScope { Personal, Global };

struct CompileOptions {
  Limits limits;
  // Extensions the site allows (imapd.conf sieve_extensions, names as in
  // "require"); nullopt: every supported one.
  std::optional<std::set<std::string>> allowed;
};

// Errors: Errc::Invalid with user_message "line N: ..." (syntax, unknown
// command or test, wrong arguments, require of an unknown or disallowed
// extension, a command whose extension was not required, a :regex pattern
// that does not compile or is refused, an invalid include name);
// Errc::TooBig for a script or construct past a limit, also with its line.
// A block guarded by "ihave" naming an extension that is not available is
// only checked for syntax (RFC 5463 4).
Result<std::shared_ptr<const Script>> compile(std::string_view text, const CompileOptions& options = {});

// The SMTP envelope of the delivery being filtered.
struct Envelope {
  std::string from;  // MAIL FROM without <>; "" for the null sender
  std::string to;    // this recipient's RCPT TO address without <> (user+detail@domain)
  std::string auth;  // AUTH= of MAIL FROM, or ""
};

struct MessageInput {
  std::string_view header;  // the header block, up to and including the empty line
  uint64_t size = 0;        // the whole message, octets (the size test)
  Envelope envelope;
  // The whole message, for the body test; nullopt when not available (too
  // large to hold): the body test is then false. May be empty (no body test
  // can run) when the script does not use "body".
  std::function<std::optional<std::string_view>()> whole_message;
  // The mailbox extension's "mailboxexists" and fileinto :create check:
  // does the recipient's mailbox with this name (as written in the script)
  // exist? Unset: every name is taken to exist.
  std::function<bool(const std::string& mailbox)> mailbox_exists;
  // The user's own addresses for vacation (besides envelope.to): e.g. the
  // userid@servername form.
  std::vector<std::string> own_addresses;
  // include (RFC 6609): the compiled script `name` of the recipient
  // (Personal) or of the site (Global), compiled with the same
  // CompileOptions as the main script. The name is one compile() checked
  // (a ManageSieve script name: no "/", no control characters).
  // Errc::NotFound when there is no such script (a runtime error unless
  // :optional); any other error (it does not compile, it cannot be read)
  // is a runtime error. Unset: every include finds nothing. evaluate()
  // bounds the depth and the number of includes and detects loops itself
  // (by name, and by the Script returned: handing back the main script or
  // one still running is a loop).
  std::function<Result<std::shared_ptr<const Script>>(IncludeScope scope, const std::string& name)> load_script;
  // duplicate (RFC 7352): has `key` (see DuplicateRecord) been recorded for
  // this recipient and not expired? Unset: nothing has.
  std::function<bool(const std::string& key)> duplicate_seen;
  // environment (RFC 5183): the items the caller knows ("domain", "host",
  // "remote-host", "remote-ip", "version", ...), lower-case names. evaluate()
  // adds "location" = "MDA" and "phase" = "during" unless given here.
  std::vector<std::pair<std::string, std::string>> environment;
  std::time_t now = 0;  // for date/currentdate and vacation
  // The zone date/currentdate use without :zone (RFC 5260 "local time"),
  // minutes east of UTC; the caller's, since this library reads no clock.
  int local_zone_minutes = 0;
};

struct VacationRequest {
  std::string reason;           // the body (or a MIME entity with :mime)
  bool mime = false;
  std::string subject;          // :subject, or "Auto: <original subject>" computed by evaluate
  std::string from;             // :from, or "" (the recipient)
  std::vector<std::string> addresses;  // :addresses
  std::string handle;           // :handle, or a hash of reason+subject+from+mime (RFC 5230 4.2)
  int64_t seconds = 7 * 86400;  // :days * 86400 or :seconds, clamped by the caller
  std::string reply_to;         // whom to answer: the envelope sender (RFC 5230 4.5)
};

struct Action {
  enum class Kind { Keep, FileInto, Redirect, Reject, Discard, Vacation };
  Kind kind = Kind::Keep;
  bool implicit = false;             // Keep: the implicit keep
  std::string mailbox;               // FileInto: as written in the script
  bool create = false;               // FileInto :create
  std::vector<std::string> flags;    // Keep/FileInto: imap4flags (\Seen, $Label1, ...)
  std::string address;               // Redirect
  std::string reason;                // Reject / ereject
  bool ereject = false;
  std::optional<VacationRequest> vacation;  // Vacation
};

// Actions come out already merged: one Keep/FileInto per mailbox (a repeat
// adds its flags; fileinto "INBOX" is the same as keep), one Redirect per
// address, at most one Discard (which only records that the script
// discarded: there is nothing to carry out) and one Vacation (only when
// vacation_may_answer() said yes). A Reject never comes with a Keep,
// FileInto, Redirect or Vacation.
// duplicate (RFC 7352): what the caller records once the actions were
// carried out (only when the run ended without a runtime error, and not for
// a reject). `key` is the tracking key: the handle and the unique id
// (Message-ID, or :header's value, or :uniqueid), in a form that keeps
// different handles apart; the caller scopes it to the recipient. The
// record expires `seconds` after now. A key that was already seen is listed
// only with :last (its expiry moves to now + seconds).
// The key is exactly: handle (up to any NUL in it; "" without :handle),
// one NUL byte, the unique id (header values unfolded and trimmed). The
// same string is what duplicate_seen() is asked about. One record per key
// (the longest `seconds` of the tests that made it); `seconds` is :seconds
// or 7 days, clamped to Limits::max_duplicate_seconds. A message without
// the header (or with an empty one) is no duplicate and records nothing.
struct DuplicateRecord {
  std::string key;
  int64_t seconds = 0;
};

struct Outcome {
  std::vector<Action> actions;      // in order; contains the implicit keep when it applies
  // Runtime errors, for the log: "line N: ...", or "script \"name\" line N:
  // ..." when it happened in an included script.
  std::vector<std::string> errors;
  std::vector<DuplicateRecord> duplicates;  // to record after delivery (duplicate extension)
  // editheader (RFC 5293): the header block after addheader/deleteheader
  // (up to and including the empty line), when the script changed it (and
  // the run ended without a runtime error). Keep, fileinto and redirect
  // then store or send this header with the original body; vacation and
  // reject still answer the message as received. Tests after an edit see
  // the edited header (header, address, exists, date, duplicate); size and
  // body look at the message as received.
  std::optional<std::string> edited_header;
};

Outcome evaluate(const Script& script, const MessageInput& msg, const Limits& limits = {});

// RFC 5230 4.5: should a vacation answer this message at all? (null or
// mailer-daemon sender, Auto-Submitted other than "no", List-Id/List-*,
// Precedence bulk/junk/list, none of the recipient's addresses in
// To/Cc/Bcc/Resent-*). evaluate() already applies this; exposed for tests.
bool vacation_may_answer(const MessageInput& msg, const VacationRequest& v);

// The vacation answer as a complete RFC 5322 message (CRLF line ends):
// From, To, Subject, Date, Message-ID, In-Reply-To, References,
// Auto-Submitted: auto-replied, MIME headers; `from` is the address it is
// sent as.
std::string compose_vacation(const VacationRequest& v, const MessageInput& original, const std::string& from,
                             const std::string& message_id_domain);

}  // namespace cyr::sieve
