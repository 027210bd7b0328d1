// The one table of IMAP commands: name -> argument parser + flags.
//
// The parser uses it to find the argument parser for a command name; the
// session's dispatcher uses the flags to gate a command by connection state,
// to refuse writes on a replica (kWrite), and to order pipelined commands that
// use or change message sequence numbers (kUsesSeqs / kBreaksSeqs, as in
// Dovecot's imap-commands.c). The table is immutable static data: thread-safe.
#pragma once

#include <cstdint>
#include <string_view>

#include "server/imap/command.h"
#include "store/base/result.h"

namespace cyr::imap {

class ArgReader;  // parser_args.h

enum CommandFlag : uint32_t {
  kNotAuthenticated = 1u << 0,  // allowed before login
  kAuthenticated = 1u << 1,     // allowed after login, no mailbox selected
  kSelected = 1u << 2,          // allowed with a mailbox selected
  kAnyState = kNotAuthenticated | kAuthenticated | kSelected,
  kWrite = 1u << 3,        // changes the store: refused on a replica (write fence)
  kUsesSeqs = 1u << 4,     // arguments or answer use sequence numbers
  kBreaksSeqs = 1u << 5,   // may expunge, so sequence numbers change
  kAllowsUid = 1u << 6,    // may follow "UID"
};

using ArgParser = Result<CommandArgs> (*)(ArgReader& args, bool uid);

struct CommandSpec {
  std::string_view name;  // upper case
  CommandId id;
  ArgParser parse;
  uint32_t flags;
};

// The spec for a command name (any case), or nullptr if there is none.
const CommandSpec* find_command(std::string_view name);

// The spec for an id (every id has one).
const CommandSpec& command_spec(CommandId id);

// True if the command is allowed in a state: state is one of kNotAuthenticated,
// kAuthenticated, kSelected.
inline bool command_allowed_in(CommandId id, uint32_t state) {
  return (command_spec(id).flags & state) != 0;
}

// True if executing this command changes the store. This is the table's kWrite
// flag, refined by the arguments: a FETCH of a body section without .PEEK sets
// \Seen, so it writes; a UID SEARCH ... RETURN (SAVE) does not.
bool command_writes(const Command& cmd);

}  // namespace cyr::imap
