// cyr_adm's command language, parsed separately from running it: one table of
// commands (names, cyradm's aliases, usage), a word splitter with shell-like
// quoting, and parse_adm_line() turning one line into a typed AdmCommand or a
// usage error. Pure: no I/O, so every rule here is unit-tested.
//
// The commands, aliases and argument forms are those of Cyrus's cyradm
// (Cyrus::IMAP::Shell), so seed 003's sessions and scripts work unchanged.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "store/base/result.h"

namespace cyr::ops::adm {

enum class AdmOp {
  Help,
  Quit,
  History,
  Connect,        // server / connect [--noauthenticate] host[:port]
  Disconnect,
  Authenticate,   // [--mechanisms m] [user]
  ListMailbox,    // lm [--subscribed] [pattern [reference]]
  CreateMailbox,  // cm [--partition p] [--specialuse u] name [partition]
  DeleteMailbox,  // dm name (wildcards: every match)
  RenameMailbox,  // renm [--partition p] old new [partition]
  SetAcl,         // sam mailbox id rights [id rights ...]
  DeleteAcl,      // dam mailbox id [id ...]
  ListAcl,        // lam mailbox
  SetQuota,       // sq root [resource value ...] | sq root value | sq root none
  ListQuota,      // lq root
  ListQuotaRoot,  // lqr mailbox
  GetMetadata,    // getmetadata / info [mailbox]
  Subscribe,
  Unsubscribe,
  Version,
};

struct AdmCommandSpec {
  AdmOp op;
  std::string_view name;                     // the long name, as cyradm's help shows it
  std::vector<std::string_view> aliases;     // cyradm's short forms
  std::string_view usage;                    // arguments
  std::string_view summary;
};

std::span<const AdmCommandSpec> adm_commands();
const AdmCommandSpec* find_adm_command(std::string_view word);  // name or alias

// A quota resource and its new limit; nullopt removes the limit ("none").
struct QuotaLimit {
  std::string resource;             // upper case: STORAGE, MESSAGE, ...
  std::optional<int64_t> limit;
};

struct AdmCommand {
  AdmOp op = AdmOp::Help;
  const AdmCommandSpec* spec = nullptr;
  std::string mailbox;       // the mailbox, root or pattern the command acts on
  std::string new_name;      // rename's target
  std::string reference;     // lm's reference name
  std::string partition;     // cm/renm
  std::string specialuse;    // cm --specialuse
  std::string server;        // connect: host
  std::optional<uint16_t> port;
  std::string user;          // authenticate
  std::string mechanism;     // authenticate --mechanisms
  std::string topic;         // help's command
  bool subscribed = false;   // lm --subscribed
  bool no_authenticate = false;
  int exit_code = 0;         // quit [n]
  std::vector<std::pair<std::string, std::string>> acl;   // sam: (id, rights, expanded)
  std::vector<std::string> ids;                           // dam
  std::vector<QuotaLimit> quota;                          // sq; empty: remove the quota root
};

// Splits a line into words: blanks separate, '...' and "..." quote (in "..."
// a backslash escapes " and \), a backslash outside quotes escapes the next
// character, '#' at the start of a word begins a comment. Bounded: a line of
// more than 64 KiB or 10,000 words is refused.
Result<std::vector<std::string>> split_adm_words(std::string_view line);

// Parses one line. nullopt for a blank or comment line; an Invalid error
// carries "usage: <name> <args>" or what was wrong.
Result<std::optional<AdmCommand>> parse_adm_line(std::string_view line);

// cyradm's rights abbreviations (Cyrus::IMAP::Admin): none, read, post,
// append, write, delete, all; anything else is returned as is.
std::string expand_rights(std::string_view rights);

// True if a mailbox argument is a pattern ("*" or "%"): cyradm then applies
// dm/sam/dam/lam to every matching mailbox.
bool is_mailbox_pattern(std::string_view name);

}  // namespace cyr::ops::adm
