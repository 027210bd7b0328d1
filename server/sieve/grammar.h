// The one table of Sieve commands and tests: for each, its extension, its
// positional arguments, its tags and what it contains. The parser checks
// every command against it; nothing else in server/sieve decides syntax.
// Internal to server/sieve.
#pragma once

#include <optional>
#include <string_view>
#include <vector>

#include "server/sieve/ast.h"

namespace cyr::sieve {

enum class ArgType : uint8_t { String, StringList, Number };

struct TagSpec {
  std::string_view name;         // ":copy"
  std::optional<ArgType> value;  // the argument that follows the tag, if any
  std::string_view extension;    // "" for the base language
};

// Which shared comparison tags a test accepts.
inline constexpr unsigned kMatchType = 1;    // :is :contains :matches (+ :count :value with relational)
inline constexpr unsigned kComparator = 2;   // :comparator "name"
inline constexpr unsigned kAddressPart = 4;  // :all :localpart :domain (+ :user :detail with subaddress)

enum class Contains : uint8_t {
  Nothing,
  Block,      // if / elsif: a test, then a block
  ElseBlock,  // else: a block
  OneTest,    // not
  TestList,   // allof / anyof
};

struct CommandSpec {
  std::string_view name;
  NodeKind kind;
  bool is_test = false;
  std::string_view extension;  // "" for the base language
  std::vector<ArgType> args;
  // The first positional argument may be left out (setflag's and
  // hasflag's variable names); only with this extension.
  std::string_view optional_first_extension;
  // The last positional argument may be left out (deleteheader's value
  // patterns); it is then Kind::None.
  bool optional_last = false;
  std::vector<TagSpec> tags;
  unsigned comparison = 0;
  Contains contains = Contains::Nothing;
};

// nullptr when `name` is not a command (is_test false) or test (true).
const CommandSpec* find_command(std::string_view name, bool is_test);

// Every extension name this build implements, sorted.
const std::vector<std::string>& extension_names();

}  // namespace cyr::sieve
