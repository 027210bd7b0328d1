// compile(): tokens to a validated Script. The parser reads the generic
// RFC 5228 grammar (command = identifier arguments (";" / block), test =
// identifier arguments [test / test-list]) and checks each command or test
// against its row of the table in grammar.cpp as soon as it is read.
#include <algorithm>

#include "server/sieve/ast.h"
#include "server/sieve/grammar.h"
#include "server/sieve/lexer.h"
#include "server/sieve/regex.h"
#include "server/sieve/text.h"
#include "store/base/ascii.h"

namespace cyr::sieve {

namespace {

// An argument as written, before the table gives it a meaning.
struct RawArg {
  enum class Kind : uint8_t { Tag, Number, String, List };
  Kind kind = Kind::String;
  std::string tag;
  uint64_t number = 0;
  std::vector<std::string> strings;
  int line = 0;
};

const char* describe(RawArg::Kind k) {
  switch (k) {
    case RawArg::Kind::Tag:
      return "a tag";
    case RawArg::Kind::Number:
      return "a number";
    case RawArg::Kind::String:
      return "a string";
    case RawArg::Kind::List:
      return "a string list";
  }
  return "?";
}

const char* describe(ArgType t) {
  switch (t) {
    case ArgType::String:
      return "a string";
    case ArgType::StringList:
      return "a string list";
    case ArgType::Number:
      return "a number";
  }
  return "?";
}

std::string quoted(std::string_view s) { return "\"" + std::string(s) + "\""; }

bool is_date_part(std::string_view p) {
  static const char* const kParts[] = {"year",   "month", "day",     "date",  "julian", "hour",   "minute",
                                       "second", "time",  "iso8601", "std11", "zone",   "weekday"};
  for (const char* k : kParts)
    if (iequals(p, k)) return true;
  return false;
}

bool is_zone(std::string_view z) {
  if (z.size() != 5 || (z[0] != '+' && z[0] != '-')) return false;
  for (size_t i = 1; i < 5; ++i)
    if (z[i] < '0' || z[i] > '9') return false;
  return (z[1] - '0') * 10 + (z[2] - '0') <= 23 && (z[3] - '0') * 10 + (z[4] - '0') <= 59;
}

class Parser {
 public:
  Parser(std::vector<Token> tokens, const CompileOptions& options, Script& script)
      : tokens_(std::move(tokens)), options_(options), limits_(options.limits), script_(script) {}

  Status run() {
    auto commands = block_contents(0);
    if (!commands.ok()) return commands.take_error();
    if (peek().kind != Token::Kind::End) return script_error(peek().line, "unexpected '}'");
    script_.commands = std::move(*commands);
    return ok_status();
  }

 private:
  const Token& peek() const { return tokens_[pos_]; }
  Token& take() { return tokens_[pos_ < tokens_.size() - 1 ? pos_++ : pos_]; }
  bool at(Token::Kind k) const { return peek().kind == k; }

  Status count_node(int line) {
    if (++node_count_ > limits_.max_commands)
      return script_error(line, "more than " + std::to_string(limits_.max_commands) + " commands and tests",
                          Errc::TooBig);
    return ok_status();
  }

  Status check_depth(size_t depth, int line) {
    if (depth > limits_.max_nesting)
      return script_error(line, "nesting deeper than " + std::to_string(limits_.max_nesting), Errc::TooBig);
    return ok_status();
  }

  // Commands up to '}' or the end of the script (not consumed).
  Result<std::vector<Node>> block_contents(size_t depth) {
    std::vector<Node> out;
    while (!at(Token::Kind::End) && !at(Token::Kind::RBrace)) {
      if (!at(Token::Kind::Identifier)) return script_error(peek().line, "expected a command");
      const Token& name = peek();
      if (name.text == "elsif" || name.text == "else") return script_error(name.line, name.text + " without if");
      auto node = command(depth);
      if (!node.ok()) return node.take_error();
      if (node->kind == NodeKind::If) {
        // elsif/else continue the chain of the if just read.
        while (at(Token::Kind::Identifier) && (peek().text == "elsif" || peek().text == "else")) {
          bool is_else = peek().text == "else";
          auto next = command(depth);
          if (!next.ok()) return next.take_error();
          node->branches.push_back(std::move(next->branches.front()));
          if (is_else) break;
        }
      }
      out.push_back(std::move(*node));
    }
    return out;
  }

  Result<std::vector<Node>> braced_block(size_t depth) {
    if (!at(Token::Kind::LBrace)) return script_error(peek().line, "expected '{'");
    int line = take().line;
    CYR_TRY(check_depth(depth + 1, line));
    auto body = block_contents(depth + 1);
    if (!body.ok()) return body.take_error();
    if (!at(Token::Kind::RBrace))
      return script_error(peek().line, "missing '}' for the block opened on line " + std::to_string(line));
    take();
    return body;
  }

  // ihave (RFC 5463 4): an if whose test is ihave (alone or inside allof)
  // guards its block. When an extension named is not available the test
  // is false and the block can never run: it is only read for its syntax,
  // so that commands of that unknown extension are no error. When they
  // all are, they count as required inside the block.
  Result<std::vector<Node>> guarded_block(const Node& condition, size_t depth) {
    std::vector<std::string> names;
    bool unavailable = false;
    collect_ihave(condition, names, unavailable);
    if (unavailable) {
      CYR_TRY(skip_braced_block(depth));
      return std::vector<Node>{};
    }
    std::vector<std::string> added;
    for (auto& n : names) {
      for (const std::string& implied : implied_extensions(n))
        if (!script_.uses(implied)) {
          script_.extensions.insert(implied);
          added.push_back(implied);
        }
    }
    auto body = braced_block(depth);
    for (const auto& n : added) script_.extensions.erase(n);
    return body;
  }

  static void collect_ihave(const Node& test, std::vector<std::string>& names, bool& unavailable) {
    if (test.kind == NodeKind::IHave) {
      for (const auto& s : test.args[0].strings) names.push_back(s.text);
      if (!test.available) unavailable = true;
    } else if (test.kind == NodeKind::AllOf) {
      for (const auto& t : test.tests) collect_ihave(t, names, unavailable);
    }
  }

  // What "require name" turns on.
  static std::vector<std::string> implied_extensions(const std::string& name) {
    if (name == "comparator-i;octet" || name == "comparator-i;ascii-casemap") return {};
    if (name == "vacation-seconds") return {name, "vacation"};
    return {name};
  }

  // Is `name` an extension this build implements and the site allows?
  bool extension_available(const std::string& name) const {
    if (name == "comparator-i;octet" || name == "comparator-i;ascii-casemap") return true;
    const auto& known = extension_names();
    if (!std::binary_search(known.begin(), known.end(), name)) return false;
    return !options_.allowed || options_.allowed->count(name);
  }

  // The generic grammar only (RFC 5228 8.2), for a block ihave guards with
  // an unknown extension: nothing is looked up in the table, but nesting
  // and the number of commands stay bounded.
  Status skip_braced_block(size_t depth) {
    if (!at(Token::Kind::LBrace)) return script_error(peek().line, "expected '{'");
    int line = take().line;
    CYR_TRY(check_depth(depth + 1, line));
    while (!at(Token::Kind::End) && !at(Token::Kind::RBrace)) CYR_TRY(skip_command(depth + 1));
    if (!at(Token::Kind::RBrace))
      return script_error(peek().line, "missing '}' for the block opened on line " + std::to_string(line));
    take();
    return ok_status();
  }

  Status skip_command(size_t depth) {
    if (!at(Token::Kind::Identifier)) return script_error(peek().line, "expected a command");
    CYR_TRY(count_node(take().line));
    auto args = arguments();
    if (!args.ok()) return args.take_error();
    if (at(Token::Kind::Identifier) || at(Token::Kind::LParen)) CYR_TRY(skip_tests(depth + 1));
    if (at(Token::Kind::LBrace)) return skip_braced_block(depth);
    if (!at(Token::Kind::Semicolon)) return script_error(peek().line, "expected ';' or a block");
    take();
    return ok_status();
  }

  // A test, or a test list in ( ).
  Status skip_tests(size_t depth) {
    CYR_TRY(check_depth(depth, peek().line));
    if (at(Token::Kind::LParen)) {
      take();
      for (;;) {
        CYR_TRY(skip_tests(depth + 1));
        if (at(Token::Kind::Comma)) {
          take();
          continue;
        }
        if (!at(Token::Kind::RParen)) return script_error(peek().line, "expected ',' or ')' in a test list");
        take();
        return ok_status();
      }
    }
    if (!at(Token::Kind::Identifier)) return script_error(peek().line, "expected a test");
    CYR_TRY(count_node(take().line));
    auto args = arguments();
    if (!args.ok()) return args.take_error();
    if (at(Token::Kind::Identifier) || at(Token::Kind::LParen)) return skip_tests(depth + 1);
    return ok_status();
  }

  Result<Node> command(size_t depth) {
    Token name = take();
    const CommandSpec* spec = find_command(name.text, false);
    if (!spec) {
      if (find_command(name.text, true)) return script_error(name.line, name.text + " is a test, not a command");
      return script_error(name.line, "unknown command " + quoted(name.text));
    }
    CYR_TRY(count_node(name.line));
    if (spec->kind != NodeKind::Require) {
      seen_command_ = true;
    } else if (seen_command_ || depth > 0) {
      return script_error(name.line, "require must come before any other command");
    }
    auto args = arguments();
    if (!args.ok()) return args.take_error();
    auto node = resolve(*spec, std::move(*args), name.line);
    if (!node.ok()) return node.take_error();

    switch (spec->contains) {
      case Contains::Block: {
        if (!at(Token::Kind::Identifier)) return script_error(peek().line, name.text + " needs a test");
        auto condition = test(depth + 1);
        if (!condition.ok()) return condition.take_error();
        auto body = guarded_block(*condition, depth);
        if (!body.ok()) return body.take_error();
        Node::Branch branch;
        branch.test.push_back(std::move(*condition));
        branch.body = std::move(*body);
        node->branches.push_back(std::move(branch));
        return node;
      }
      case Contains::ElseBlock: {
        auto body = braced_block(depth);
        if (!body.ok()) return body.take_error();
        Node::Branch branch;
        branch.body = std::move(*body);
        node->branches.push_back(std::move(branch));
        return node;
      }
      default:
        break;
    }
    if (at(Token::Kind::LBrace)) return script_error(peek().line, name.text + " does not take a block");
    if (at(Token::Kind::Identifier) || at(Token::Kind::LParen))
      return script_error(peek().line, name.text + " does not take a test");
    if (!at(Token::Kind::Semicolon)) return script_error(peek().line, "expected ';' after " + name.text);
    take();
    if (spec->kind == NodeKind::Require) CYR_TRY(apply_require(*node));
    return node;
  }

  Result<Node> test(size_t depth) {
    CYR_TRY(check_depth(depth, peek().line));
    if (!at(Token::Kind::Identifier)) return script_error(peek().line, "expected a test");
    Token name = take();
    const CommandSpec* spec = find_command(name.text, true);
    if (!spec) {
      if (find_command(name.text, false)) return script_error(name.line, name.text + " is a command, not a test");
      return script_error(name.line, "unknown test " + quoted(name.text));
    }
    CYR_TRY(count_node(name.line));
    auto args = arguments();
    if (!args.ok()) return args.take_error();
    auto node = resolve(*spec, std::move(*args), name.line);
    if (!node.ok()) return node.take_error();
    switch (spec->contains) {
      case Contains::OneTest: {
        auto operand = test(depth + 1);
        if (!operand.ok()) return operand.take_error();
        node->tests.push_back(std::move(*operand));
        break;
      }
      case Contains::TestList: {
        if (!at(Token::Kind::LParen)) return script_error(peek().line, name.text + " needs a list of tests in ( )");
        take();
        for (;;) {
          auto operand = test(depth + 1);
          if (!operand.ok()) return operand.take_error();
          node->tests.push_back(std::move(*operand));
          if (at(Token::Kind::Comma)) {
            take();
            continue;
          }
          if (at(Token::Kind::RParen)) {
            take();
            break;
          }
          return script_error(peek().line, "expected ',' or ')' in the test list of " + name.text);
        }
        break;
      }
      default:
        break;  // what follows is the caller's to judge ("{" after an if's test)
    }
    return node;
  }

  Result<std::vector<RawArg>> arguments() {
    std::vector<RawArg> out;
    for (;;) {
      const Token& t = peek();
      RawArg arg;
      arg.line = t.line;
      if (t.kind == Token::Kind::Tag) {
        arg.kind = RawArg::Kind::Tag;
        arg.tag = ":" + take().text;
      } else if (t.kind == Token::Kind::Number) {
        arg.kind = RawArg::Kind::Number;
        arg.number = take().number;
      } else if (t.kind == Token::Kind::String) {
        arg.kind = RawArg::Kind::String;
        arg.strings.push_back(std::move(take().text));
      } else if (t.kind == Token::Kind::LBracket) {
        take();
        arg.kind = RawArg::Kind::List;
        for (;;) {
          if (!at(Token::Kind::String)) return script_error(peek().line, "expected a string in the string list");
          if (arg.strings.size() >= limits_.max_list_items)
            return script_error(peek().line,
                                "more than " + std::to_string(limits_.max_list_items) + " strings in a list",
                                Errc::TooBig);
          arg.strings.push_back(std::move(take().text));
          if (at(Token::Kind::Comma)) {
            take();
            continue;
          }
          if (at(Token::Kind::RBracket)) {
            take();
            break;
          }
          return script_error(peek().line, "expected ',' or ']' in the string list");
        }
      } else {
        break;
      }
      out.push_back(std::move(arg));
    }
    return out;
  }

  bool required(std::string_view ext) const { return script_.uses(ext); }

  Status need_extension(std::string_view ext, std::string_view what, int line) const {
    if (ext.empty() || required(ext)) return ok_status();
    return script_error(line, std::string(what) + " needs require " + quoted(ext));
  }

  Result<ScriptString> script_string(std::string text, int line) {
    ScriptString s;
    if (required("encoded-character")) {
      auto decoded = decode_encoded_characters(text);
      if (!decoded.ok()) return script_error(line, decoded.error().user_message);
      s.text = std::move(*decoded);
    } else {
      s.text = std::move(text);
    }
    if (required("variables") && s.text.find("${") != std::string::npos) {
      if (auto ns = first_namespaced_reference(s.text, required("include")))
        return script_error(line, "unknown variable namespace in ${" + *ns + "}");
      s.variables = true;
    }
    return s;
  }

  Result<Value> value_of(RawArg& raw, ArgType type, std::string_view what) {
    Value v;
    bool fits = (type == ArgType::Number && raw.kind == RawArg::Kind::Number) ||
                (type == ArgType::String && raw.kind == RawArg::Kind::String) ||
                (type == ArgType::StringList && (raw.kind == RawArg::Kind::String || raw.kind == RawArg::Kind::List));
    if (!fits)
      return script_error(raw.line, std::string(what) + " expects " + describe(type) + ", not " + describe(raw.kind));
    if (type == ArgType::Number) {
      v.kind = Value::Kind::Number;
      v.number = raw.number;
      return v;
    }
    v.kind = Value::Kind::Strings;
    for (auto& s : raw.strings) {
      auto str = script_string(std::move(s), raw.line);
      if (!str.ok()) return str.take_error();
      v.strings.push_back(std::move(*str));
    }
    return v;
  }

  // A tag's value: the next raw argument, which must exist.
  Result<Value> tag_value(std::vector<RawArg>& raw, size_t& i, ArgType type, const std::string& tag) {
    if (i + 1 >= raw.size()) return script_error(raw[i].line, tag + " expects " + std::string(describe(type)));
    ++i;
    return value_of(raw[i], type, tag);
  }

  // A comparison tag, if `tag` is one this spec accepts; true if handled.
  Result<bool> comparison_tag(const CommandSpec& spec, std::vector<RawArg>& raw, size_t& i, Node& node,
                              unsigned& seen) {
    const std::string& tag = raw[i].tag;
    int line = raw[i].line;
    auto once = [&](unsigned bit, const char* what) -> Status {
      if (seen & bit) return script_error(line, std::string("more than one ") + what);
      seen |= bit;
      return ok_status();
    };
    if (spec.comparison & kMatchType) {
      std::optional<MatchType> match;
      if (tag == ":is") match = MatchType::Is;
      if (tag == ":contains") match = MatchType::Contains;
      if (tag == ":matches") match = MatchType::Matches;
      if (tag == ":count") match = MatchType::Count;
      if (tag == ":value") match = MatchType::Value;
      if (tag == ":regex") match = MatchType::Regex;
      if (match) {
        CYR_TRY(once(kMatchType, "match type"));
        if (*match == MatchType::Regex) CYR_TRY(need_extension("regex", tag, line));
        node.comparison.match = *match;
        if (*match == MatchType::Count || *match == MatchType::Value) {
          CYR_TRY(need_extension("relational", tag, line));
          auto v = tag_value(raw, i, ArgType::String, tag);
          if (!v.ok()) return v.take_error();
          static const std::pair<const char*, Relation> kRelations[] = {{"gt", Relation::Gt}, {"ge", Relation::Ge},
                                                                        {"lt", Relation::Lt}, {"le", Relation::Le},
                                                                        {"eq", Relation::Eq}, {"ne", Relation::Ne}};
          const std::string& name = v->strings[0].text;
          bool known = false;
          for (const auto& [n, r] : kRelations) {
            if (iequals(name, n)) {
              node.comparison.relation = r;
              known = true;
            }
          }
          if (!known) return script_error(line, "unknown relational operator " + quoted(name));
        }
        return true;
      }
    }
    if ((spec.comparison & kComparator) && tag == ":comparator") {
      CYR_TRY(once(kComparator, "comparator"));
      auto v = tag_value(raw, i, ArgType::String, tag);
      if (!v.ok()) return v.take_error();
      const std::string& name = v->strings[0].text;
      if (name == "i;octet") {
        node.comparison.comparator = Comparator::Octet;
      } else if (name == "i;ascii-casemap") {
        node.comparison.comparator = Comparator::AsciiCasemap;
      } else if (name == "i;ascii-numeric") {
        CYR_TRY(need_extension("comparator-i;ascii-numeric", "comparator i;ascii-numeric", line));
        node.comparison.comparator = Comparator::AsciiNumeric;
      } else {
        return script_error(line, "unknown comparator " + quoted(name));
      }
      return true;
    }
    if (spec.comparison & kAddressPart) {
      std::optional<AddressPart> part;
      if (tag == ":all") part = AddressPart::All;
      if (tag == ":localpart") part = AddressPart::LocalPart;
      if (tag == ":domain") part = AddressPart::Domain;
      if (tag == ":user") part = AddressPart::User;
      if (tag == ":detail") part = AddressPart::Detail;
      if (part) {
        CYR_TRY(once(kAddressPart, "address part"));
        if (*part == AddressPart::User || *part == AddressPart::Detail)
          CYR_TRY(need_extension("subaddress", tag, line));
        node.comparison.part = *part;
        return true;
      }
    }
    return false;
  }

  Result<Node> resolve(const CommandSpec& spec, std::vector<RawArg> raw, int line) {
    Node node;
    node.kind = spec.kind;
    node.line = line;
    CYR_TRY(need_extension(spec.extension, spec.name, line));

    // Tagged arguments come first (RFC 5228 2.6.2), then positional ones.
    size_t i = 0;
    unsigned seen_comparison = 0;
    for (; i < raw.size() && raw[i].kind == RawArg::Kind::Tag; ++i) {
      const std::string tag = raw[i].tag;
      int tag_line = raw[i].line;
      auto handled = comparison_tag(spec, raw, i, node, seen_comparison);
      if (!handled.ok()) return handled.take_error();
      if (*handled) continue;
      auto it = std::find_if(spec.tags.begin(), spec.tags.end(), [&](const TagSpec& t) { return t.name == tag; });
      if (it == spec.tags.end()) return script_error(tag_line, "unknown tag " + tag + " for " + std::string(spec.name));
      CYR_TRY(need_extension(it->extension, tag, tag_line));
      if (node.has_tag(it->name)) return script_error(tag_line, "tag " + tag + " given twice");
      Value v;
      if (it->value) {
        auto got = tag_value(raw, i, *it->value, tag);
        if (!got.ok()) return got.take_error();
        v = std::move(*got);
      }
      node.tags.emplace_back(it->name, std::move(v));
    }

    size_t positional = raw.size() - i;
    size_t wanted = spec.args.size();
    size_t skip = 0;  // omitted optional first argument
    if (!spec.optional_first_extension.empty()) {
      if (positional + 1 == wanted) skip = 1;
      if (positional == wanted)
        CYR_TRY(need_extension(spec.optional_first_extension, std::string(spec.name) + " with a variable name", line));
    }
    size_t omitted_last = spec.optional_last && positional + skip + 1 == wanted ? 1 : 0;
    wanted -= omitted_last;
    if (positional + skip != wanted) {
      for (size_t k = i; k < raw.size(); ++k)
        if (raw[k].kind == RawArg::Kind::Tag)
          return script_error(raw[k].line, "tag " + raw[k].tag + " after positional arguments");
      return script_error(line, std::string(spec.name) + " expects " + std::to_string(wanted) + " argument" +
                                    (wanted == 1 ? "" : "s") + ", got " + std::to_string(positional));
    }
    if (skip) node.args.emplace_back();
    for (size_t k = skip; k < wanted; ++k, ++i) {
      auto v = value_of(raw[i], spec.args[k], std::string(spec.name) + " argument " + std::to_string(k + 1));
      if (!v.ok()) return v.take_error();
      node.args.push_back(std::move(*v));
    }
    if (omitted_last) node.args.emplace_back();
    CYR_TRY(check(spec, node));
    if (node.kind == NodeKind::IHave) {
      node.available = std::all_of(node.args[0].strings.begin(), node.args[0].strings.end(),
                                   [&](const ScriptString& s) { return extension_available(s.text); });
    }
    if (node.comparison.match == MatchType::Regex) CYR_TRY(compile_regexes(node));
    return node;
  }

  // :regex keys without variables are compiled now, so that a bad pattern
  // is the script's error at upload; the others when the script runs. The
  // key list is a test's last positional argument.
  Status compile_regexes(Node& node) {
    if (node.args.empty() || node.args.back().kind != Value::Kind::Strings) return ok_status();
    for (auto& key : node.args.back().strings) {
      if (key.variables) continue;
      if (++regex_count_ > limits_.max_list_items)
        return script_error(node.line, "more than " + std::to_string(limits_.max_list_items) + " :regex patterns",
                            Errc::TooBig);
      auto regex = Regex::compile(key.text, node.comparison.comparator, limits_.max_regex_bytes);
      if (!regex.ok()) return script_error(node.line, regex.error().user_message, regex.error().code);
      key.regex = std::move(*regex);
    }
    return ok_status();
  }

  // Rules the table cannot state: exclusive tags, constant arguments that
  // must be well formed, match types a comparator cannot do.
  Status check(const CommandSpec& spec, const Node& node) {
    int line = node.line;
    const Comparison& cmp = node.comparison;
    if (cmp.comparator == Comparator::AsciiNumeric &&
        (cmp.match == MatchType::Contains || cmp.match == MatchType::Matches))
      return script_error(line, "comparator i;ascii-numeric cannot do :contains or :matches");
    if (cmp.comparator == Comparator::AsciiNumeric && cmp.match == MatchType::Regex)
      return script_error(line, "comparator i;ascii-numeric cannot do :regex");

    auto constant_strings = [](const Value& v, auto&& each) -> Status {
      for (const auto& s : v.strings) {
        if (s.variables) continue;
        CYR_TRY(each(s.text));
      }
      return ok_status();
    };

    // index (RFC 5260 6): fields count from 1; :last only with :index.
    if (spec.kind == NodeKind::Header || spec.kind == NodeKind::Address || spec.kind == NodeKind::Date ||
        spec.kind == NodeKind::DeleteHeader) {
      if (node.has_tag(":last") && !node.has_tag(":index"))
        return script_error(line, std::string(spec.name) + ": :last needs :index");
      if (const Value* index = node.tag(":index"); index && index->number == 0)
        return script_error(line, std::string(spec.name) + ": :index counts from 1");
    }

    switch (spec.kind) {
      case NodeKind::Size:
        if (node.has_tag(":over") == node.has_tag(":under"))
          return script_error(line, "size needs exactly one of :over and :under");
        break;
      case NodeKind::Vacation:
        if (node.has_tag(":days") && node.has_tag(":seconds"))
          return script_error(line, "vacation takes :days or :seconds, not both");
        if (const Value* from = node.tag(":from");
            from && !from->strings[0].variables && !mail_address(from->strings[0].text))
          return script_error(line, "vacation :from is not a valid address");
        CYR_TRY(constant_strings(
            node.tag(":addresses") ? *node.tag(":addresses") : Value{}, [&](const std::string& a) -> Status {
              if (!mail_address(a))
                return script_error(line, "vacation :addresses: " + quoted(a) + " is not an address");
              return ok_status();
            }));
        break;
      case NodeKind::Redirect:
        if (!node.args[0].strings[0].variables && !mail_address(node.args[0].strings[0].text))
          return script_error(line, "redirect: " + quoted(node.args[0].strings[0].text) + " is not a valid address");
        break;
      case NodeKind::Set: {
        const ScriptString& name = node.args[0].strings[0];
        if (!is_identifier(name.text) && !(required("include") && global_variable_name(name.text)))
          return script_error(line, "set: " + quoted(name.text) + " is not a variable name");
        int lower_upper = node.has_tag(":lower") + node.has_tag(":upper");
        int first = node.has_tag(":lowerfirst") + node.has_tag(":upperfirst");
        if (lower_upper > 1 || first > 1) return script_error(line, "set: two modifiers of the same precedence");
        break;
      }
      case NodeKind::SetFlag:
      case NodeKind::AddFlag:
      case NodeKind::RemoveFlag:
      case NodeKind::HasFlag:
        if (node.args[0].kind == Value::Kind::Strings) {
          CYR_TRY(constant_strings(node.args[0], [&](const std::string& n) -> Status {
            if (!is_identifier(n)) return script_error(line, quoted(n) + " is not a variable name");
            return ok_status();
          }));
        }
        break;
      case NodeKind::Header:
      case NodeKind::Address:
      case NodeKind::Exists:
        CYR_TRY(constant_strings(node.args[0], [&](const std::string& h) -> Status {
          if (!is_header_name(h)) return script_error(line, quoted(h) + " is not a valid header name");
          return ok_status();
        }));
        break;
      case NodeKind::Include: {
        if (node.has_tag(":personal") && node.has_tag(":global"))
          return script_error(line, "include takes :personal or :global, not both");
        // RFC 6609 3.2: the name is a constant, never built from variables.
        const ScriptString& name = node.args[0].strings[0];
        if (name.variables) return script_error(line, "include: the script name cannot contain variables");
        if (!is_script_name(name.text)) return script_error(line, "include: " + quoted(name.text) + " is not a valid script name");
        break;
      }
      case NodeKind::AddHeader:
      case NodeKind::DeleteHeader: {
        // RFC 5293 6: trace and loop-prevention fields stay as they came.
        const ScriptString& name = node.args[0].strings[0];
        if (name.variables) break;
        if (!is_header_name(name.text)) return script_error(line, quoted(name.text) + " is not a valid header name");
        if (is_protected_header(name.text))
          return script_error(line, std::string(spec.name) + ": " + quoted(name.text) + " cannot be changed");
        break;
      }
      case NodeKind::IHave:
        for (const auto& name : node.args[0].strings)
          if (name.variables) return script_error(line, "ihave: extension names cannot contain variables");
        break;
      case NodeKind::Duplicate:
        if (node.has_tag(":header") && node.has_tag(":uniqueid"))
          return script_error(line, "duplicate takes :header or :uniqueid, not both");
        if (const Value* header = node.tag(":header");
            header && !header->strings[0].variables && !is_header_name(header->strings[0].text))
          return script_error(line, quoted(header->strings[0].text) + " is not a valid header name");
        break;
      case NodeKind::Global:
        CYR_TRY(need_extension("variables", "global", line));
        for (const auto& name : node.args[0].strings) {
          if (name.variables) return script_error(line, "global: variable names cannot contain variables");
          if (!is_identifier(name.text)) return script_error(line, "global: " + quoted(name.text) + " is not a variable name");
        }
        break;
      case NodeKind::Envelope:
        CYR_TRY(constant_strings(node.args[0], [&](const std::string& p) -> Status {
          if (!iequals(p, "from") && !iequals(p, "to") && !iequals(p, "auth"))
            return script_error(line, "unknown envelope part " + quoted(p));
          return ok_status();
        }));
        break;
      case NodeKind::Body:
        if (node.has_tag(":raw") + node.has_tag(":content") + node.has_tag(":text") > 1)
          return script_error(line, "body takes one of :raw, :content and :text");
        break;
      case NodeKind::Date:
      case NodeKind::CurrentDate: {
        if (node.has_tag(":zone") && node.has_tag(":originalzone"))
          return script_error(line, "date takes :zone or :originalzone, not both");
        if (const Value* zone = node.tag(":zone");
            zone && !zone->strings[0].variables && !is_zone(zone->strings[0].text))
          return script_error(line, "bad time zone " + quoted(zone->strings[0].text) + " (expected +hhmm or -hhmm)");
        const Value& part = node.args[spec.kind == NodeKind::Date ? 1 : 0];
        if (spec.kind == NodeKind::Date)
          CYR_TRY(constant_strings(node.args[0], [&](const std::string& h) -> Status {
            if (!is_header_name(h)) return script_error(line, quoted(h) + " is not a valid header name");
            return ok_status();
          }));
        if (!part.strings[0].variables && !is_date_part(part.strings[0].text))
          return script_error(line, "unknown date part " + quoted(part.strings[0].text));
        break;
      }
      default:
        break;
    }
    return ok_status();
  }

  Status apply_require(const Node& node) {
    for (const auto& s : node.args[0].strings) {
      const std::string& name = s.text;
      // The two base comparators need no require, but naming them is allowed.
      if (name == "comparator-i;octet" || name == "comparator-i;ascii-casemap") continue;
      const auto& known = extension_names();
      if (!std::binary_search(known.begin(), known.end(), name))
        return script_error(node.line, "unsupported extension " + quoted(name));
      if (options_.allowed && !options_.allowed->count(name))
        return script_error(node.line, "extension " + quoted(name) + " is not enabled on this server");
      script_.extensions.insert(name);
      if (name == "vacation-seconds") script_.extensions.insert("vacation");
    }
    return ok_status();
  }

  std::vector<Token> tokens_;
  const CompileOptions& options_;
  const Limits& limits_;
  Script& script_;
  size_t pos_ = 0;
  size_t node_count_ = 0;
  size_t regex_count_ = 0;
  bool seen_command_ = false;
};

}  // namespace

Result<std::shared_ptr<const Script>> compile(std::string_view text, const CompileOptions& options) {
  if (text.size() > options.limits.max_script_bytes)
    return script_error(1, "script larger than " + std::to_string(options.limits.max_script_bytes) + " bytes",
                        Errc::TooBig);
  auto tokens = tokenize(text, options.limits);
  if (!tokens.ok()) return tokens.take_error();
  auto script = std::make_shared<Script>();
  Parser parser(std::move(*tokens), options, *script);
  CYR_TRY(parser.run());
  return std::shared_ptr<const Script>(std::move(script));
}

}  // namespace cyr::sieve
