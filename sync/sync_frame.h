// Framing of csync commands and replies (reference §2.2): what one line means.
//
// A command line is "GET|APPLY|RESTORE <NAME> <dlist value>" or another verb
// with plain-text arguments (NOOP, EXIT, RESTART, AUTHENTICATE, STARTTLS,
// COMPRESS). A reply line is an untagged item "* <KEY> <value>" or a final
// "OK text", "NO <CODE> text", "BAD text", "BYE text".
// These are plain values; parsing takes a RawLine from LineFramer and does
// no I/O. Encoding produces the exact bytes a Cyrus peer writes. Not
// synchronised; use one per thread.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "store/base/result.h"
#include "sync/dlist.h"
#include "sync/dlist_decoder.h"

namespace cyr::sync {

// Our own APPLY CAPABILITIES name: a failover rejoin's reconcile session,
// the one session a rejoining node takes replicated writes from
// (store::NodeState::rejoining). A Cyrus server answers ENABLED without it.
inline constexpr std::string_view kReconcileCapability = "X-RECONCILE";
// Our own GET: every user with an INBOX on the answering node, one
// `* USER name` item each, and every shared (non-user) mailbox, one
// `* SHARED name` item each. A failover reconcile asks the old primary for
// the ones only it has. A Cyrus server refuses it; the caller then skips.
inline constexpr std::string_view kListUsersCommand = "X-USERS";

struct SyncCommand {
  std::string verb;  // upper-cased: GET, APPLY, RESTORE, NOOP, EXIT, ...
  std::string name;  // GET/APPLY/RESTORE only: the operation, upper-cased
  Value arg;         // GET/APPLY/RESTORE only: its one dlist argument
  std::string args;  // other verbs: the rest of the line, verbatim

  bool carries_dlist() const { return verb == "GET" || verb == "APPLY" || verb == "RESTORE"; }
};

// True for the verbs whose argument is "<NAME> <dlist>".
bool verb_carries_dlist(std::string_view upper_verb);

// Parses one command line. Errors are Errc::Invalid; user_message is the
// text Cyrus's sync_server puts after "BAD " (e.g. "IMAP_PROTOCOL_ERROR
// Failed to parse APPLY line"), detail says exactly what was wrong.
Result<SyncCommand> parse_command(RawLine line, const DlistLimits& limits = {});

enum class ReplyKind { Item, Ok, No, Bad, Bye };

struct SyncReply {
  ReplyKind kind = ReplyKind::Ok;
  std::string key;            // Item: e.g. "MAILBOX", "MISSING", "SASL", "OK" (banner)
  std::vector<Value> values;  // Item: its dlist values (usually exactly one)
  std::string code;           // No: the first word, e.g. "IMAP_SYNC_CHECKSUM"
  // Ok/Bad/Bye: the rest of the line; No: the text after the code; an Item
  // whose key is a status word ("* OK host Cyrus sync server 3.6.1",
  // "* Fatal error: ...") keeps its text here instead of values.
  std::string text;

  bool is_final() const { return kind != ReplyKind::Item; }
  // The single value of an Item ("* MAILBOX %(...)"), or an error.
  Result<const Value*> value() const;
};

// Parses one reply line. A first word other than "*", OK, NO, BAD or BYE
// is an error, as it is for Cyrus's client ("received bad response").
Result<SyncReply> parse_reply(RawLine line, const DlistLimits& limits = {});

// Encoders. Each writes one complete line, CRLF included.
void encode_command(const SyncCommand& cmd, EncodeOutput& out);
void encode_reply(const SyncReply& reply, EncodeOutput& out);
// String forms, for lines whose file bodies are in memory.
Result<std::string> encode_command(const SyncCommand& cmd);
Result<std::string> encode_reply(const SyncReply& reply);

// Convenience constructors.
SyncCommand make_command(std::string verb, std::string name, Value arg);
SyncReply make_item(std::string key, Value v);
SyncReply make_ok(std::string text = "success");
SyncReply make_no(std::string code, std::string text);

// Decodes every complete line in `bytes` (a recorded stream). Stops at the
// first error. Trailing bytes without a line end are an error.
Result<std::vector<SyncCommand>> decode_commands(std::string_view bytes,
                                                 const DlistLimits& limits = {});
Result<std::vector<SyncReply>> decode_replies(std::string_view bytes,
                                              const DlistLimits& limits = {});

}  // namespace cyr::sync
