// The compiled form of a Sieve script, internal to server/sieve.
//
// compile() runs in three steps: the lexer (lexer.h) turns text into tokens,
// the parser builds a syntax tree of generic commands (name, arguments,
// tests, block) with line numbers, and validation checks each node against
// the one table of commands and tests (grammar.h) and resolves it into the
// Node below: the command's kind, its comparison tags decoded, and its
// other arguments by name. The interpreter only ever sees validated Nodes.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "server/sieve/sieve.h"

namespace cyr::sieve {

class Regex;  // regex.h

// Every command and test the grammar knows.
enum class NodeKind : uint8_t {
  // commands
  Require,
  If,
  Stop,
  Keep,
  Discard,
  Redirect,
  FileInto,
  Reject,
  EReject,
  SetFlag,
  AddFlag,
  RemoveFlag,
  Vacation,
  Set,
  Include,
  Return,
  Global,
  Error,
  AddHeader,
  DeleteHeader,
  // tests
  Address,
  AllOf,
  AnyOf,
  Envelope,
  Exists,
  False,
  Header,
  Not,
  Size,
  True,
  HasFlag,
  String,
  Body,
  MailboxExists,
  Date,
  CurrentDate,
  Duplicate,
  Environment,
  IHave,
};

// One string of the script, after escapes (and encoded-character) are
// decoded; `variables` says whether it may hold ${...} references to expand
// at run time (only when the variables extension is required).
struct ScriptString {
  std::string text;
  bool variables = false;
  // A :regex key without variables, compiled by compile() (shared: Nodes
  // are copied while the script is built).
  std::shared_ptr<const Regex> regex;
};

// A positional argument or a tag's value.
struct Value {
  enum class Kind : uint8_t { None, Number, Strings };
  Kind kind = Kind::None;
  uint64_t number = 0;
  std::vector<ScriptString> strings;
};

enum class MatchType : uint8_t { Is, Contains, Matches, Count, Value, Regex };
enum class Relation : uint8_t { Gt, Ge, Lt, Le, Eq, Ne };
enum class Comparator : uint8_t { Octet, AsciiCasemap, AsciiNumeric };
enum class AddressPart : uint8_t { All, LocalPart, Domain, User, Detail };

// The comparison tags shared by tests (RFC 5228 2.7, RFC 5231, RFC 5233).
struct Comparison {
  MatchType match = MatchType::Is;
  Relation relation = Relation::Eq;  // :count / :value
  Comparator comparator = Comparator::AsciiCasemap;
  AddressPart part = AddressPart::All;
};

struct Node {
  NodeKind kind = NodeKind::True;
  int line = 0;
  Comparison comparison;
  // Tags other than the comparison ones, by name (":copy", ":days"), with
  // their value (Kind::None for a flag-like tag).
  std::vector<std::pair<std::string_view, Value>> tags;
  // Positional arguments in the order the table lists them; an omitted
  // optional first argument (setflag's variable name) is Kind::None.
  std::vector<Value> args;
  std::vector<Node> tests;  // allof/anyof/not operands
  // if: one branch per if/elsif/else; an else branch has no test.
  struct Branch {
    std::vector<Node> test;  // zero (else) or one
    std::vector<Node> body;
  };
  std::vector<Branch> branches;
  // ihave (RFC 5463): whether every extension named is implemented and
  // allowed at this site, decided by compile() (the names are constants).
  bool available = false;

  const Value* tag(std::string_view name) const {
    for (const auto& [n, v] : tags)
      if (n == name) return &v;
    return nullptr;
  }
  bool has_tag(std::string_view name) const { return tag(name) != nullptr; }
};

// The compiled script that sieve.h declares: immutable once compile()
// returns it.
class Script {
 public:
  std::vector<Node> commands;
  std::set<std::string, std::less<>> extensions;  // as required (and implied)
  bool uses(std::string_view ext) const { return extensions.find(ext) != extensions.end(); }
};

}  // namespace cyr::sieve
