// The framer: splits the byte stream into commands (lines and literals), turns
// each line segment into tokens, and hands complete commands to the typed
// argument parsers of the command table. See parser.h for the event contract.
#include "server/imap/parser.h"

#include <algorithm>
#include <optional>

#include "server/imap/command_table.h"
#include "server/imap/parser_args.h"

namespace cyr::imap {
namespace {

constexpr uint64_t kLiteralMinusMax = 4096;  // RFC 7888 section 5
constexpr size_t kSkipTail = 64;             // enough for "%{partition guid size}"

struct LiteralAnnounce {
  uint64_t size = 0;
  bool sync = true;
  bool binary = false;  // literal8 "~{N}" (RFC 3516)
};

bool is_tag_char(unsigned char c) {
  // tag = 1*<any ASTRING-CHAR except "+">
  if (c <= 0x20 || c >= 0x7f) return false;
  switch (c) {
    case '(': case ')': case '{': case '%': case '*': case '"': case '\\': case '+':
      return false;
    default:
      return true;
  }
}

bool valid_tag(std::string_view t) {
  if (t.empty()) return false;
  return std::all_of(t.begin(), t.end(), [](char c) { return is_tag_char(c); });
}

bool is_atom_char(unsigned char c) {
  // Lenient ATOM-CHAR: list wildcards, "\" and "]" are allowed here because
  // flags, patterns and astrings use them; the typed parsers check further.
  if (c <= 0x20 || c >= 0x7f) return false;
  return c != '(' && c != ')' && c != '{' && c != '"';
}

// Parses the digits of a literal size; UINT64_MAX if it does not fit (the
// caller then refuses it as too big, which is what it is).
std::optional<uint64_t> parse_size(std::string_view digits) {
  if (digits.empty()) return std::nullopt;
  uint64_t v = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return std::nullopt;
    if (v > (UINT64_MAX - 9) / 10) return UINT64_MAX;
    v = v * 10 + uint64_t(c - '0');
  }
  return v;
}

// A literal announcement ending the line segment: "{N}", "{N+}", and in a raw
// (dlist) command also a file literal "%{partition guid N}".
std::optional<LiteralAnnounce> trailing_literal(std::string_view seg, bool raw) {
  if (seg.empty() || seg.back() != '}') return std::nullopt;
  size_t open = seg.rfind('{');
  if (open == std::string_view::npos) return std::nullopt;
  std::string_view inner = seg.substr(open + 1, seg.size() - open - 2);
  if (raw && open > 0 && seg[open - 1] == '%') {
    size_t sp = inner.rfind(' ');
    if (sp == std::string_view::npos) return std::nullopt;
    auto n = parse_size(inner.substr(sp + 1));
    if (!n) return std::nullopt;
    return LiteralAnnounce{*n, false};
  }
  bool sync = true;
  if (!inner.empty() && inner.back() == '+') {
    sync = false;
    inner.remove_suffix(1);
  }
  auto n = parse_size(inner);
  if (!n) return std::nullopt;
  return LiteralAnnounce{*n, sync};
}

// "tag SYNCAPPLY ..." and friends: replication commands whose arguments are
// captured raw, not tokenised.
bool starts_raw_command(std::string_view line) {
  size_t sp = line.find(' ');
  if (sp == std::string_view::npos) return false;
  std::string_view rest = line.substr(sp + 1);
  size_t end = rest.find(' ');
  std::string_view name = rest.substr(0, end);
  return iequals(name, "SYNCAPPLY") || iequals(name, "SYNCGET") || iequals(name, "SYNCRESTART");
}

bool has_section_brackets(std::string_view atom_prefix) {
  // Only FETCH items carry "[...]" with spaces and parentheses inside.
  return iequals(atom_prefix, "BODY") || iequals(atom_prefix, "BODY.PEEK") ||
         iequals(atom_prefix, "BINARY") || iequals(atom_prefix, "BINARY.PEEK") ||
         iequals(atom_prefix, "BINARY.SIZE");
}

}  // namespace

Parser::Parser(ParserLimits limits) : limits_(limits) {}

void Parser::feed(std::string_view bytes) {
  // Compact first, so the buffer holds at most one unconsumed stretch.
  if (pos_ > 0) {
    in_.erase(0, pos_);
    pos_ = 0;
  }
  in_.append(bytes);
}

void Parser::expect_line() { expect_line_ = true; }

void Parser::discard_input() {
  if (phase_ == Phase::Closed) return;
  in_.clear();
  pos_ = 0;
  reset_command();
  expect_line_ = false;
  phase_ = Phase::Line;
}

void Parser::reset_command() {
  line_.clear();
  line_total_ = 0;
  tokens_.clear();
  depth_ = 0;
  after_literal_ = false;
  literal_left_ = 0;
  literal_total_ = 0;
  messages_ = 0;
  raw_capture_ = false;
  raw_.clear();
  catenate_open_.reset();
  catenate_text_ = 0;
  skip_tail_.clear();
  pending_sync_literal_ = false;
  error_tag_.clear();
}

// The first bytes of the line being read, the buffered ones included: enough
// to see the tag and the command name.
std::string Parser::line_prefix(size_t take) const {
  constexpr size_t kPrefix = 64;
  std::string p = line_.substr(0, kPrefix);
  if (p.size() < kPrefix) p.append(in_, pos_, std::min(take, kPrefix - p.size()));
  return p;
}

std::string Parser::current_tag() const {
  if (!error_tag_.empty()) return error_tag_;
  if (!tokens_.empty() && tokens_[0].kind == Token::Kind::Atom && valid_tag(tokens_[0].text))
    return tokens_[0].text;
  if (tokens_.empty() && !after_literal_) {
    std::string_view l = line_;
    std::string_view first = l.substr(0, l.find(' '));
    if (first.size() < l.size() && valid_tag(first)) return std::string(first);
  }
  return "*";
}

ParseResult Parser::fail(ParseError::Kind kind, std::string code, std::string text) {
  ParseError e{current_tag(), kind, std::move(code), std::move(text)};
  if (kind == ParseError::Kind::Bye) {
    e.tag = "*";
    bye_ = e;
    phase_ = Phase::Closed;
    in_.clear();
    pos_ = 0;
  }
  return e;
}

// Rejects the current command with BAD. line_done: the current line segment
// has been read to its end (its text is in line_); otherwise the rest of the
// line is still to come and is skipped.
ParseResult Parser::fail_and_skip(std::string code, std::string text, bool line_done) {
  ParseError e{current_tag(), ParseError::Kind::Bad, std::move(code), std::move(text)};
  if (!line_done) {
    error_tag_ = e.tag;
    skip_tail_ = line_.size() > kSkipTail ? line_.substr(line_.size() - kSkipTail) : line_;
    line_.clear();
    phase_ = Phase::SkipLine;
    return e;
  }
  auto lit = trailing_literal(line_, raw_capture_);
  reset_command();
  phase_ = Phase::Line;
  if (lit && !lit->sync) {
    if (lit->size > limits_.max_skip)
      return fail(ParseError::Kind::Bye, "TOOBIG", "Literal too big to skip");
    error_tag_ = e.tag;
    literal_left_ = lit->size;
    phase_ = Phase::SkipLiteral;
  }
  // A synchronizing literal is never sent: the client gets this BAD instead of "+".
  return e;
}

void Parser::cancel_command() {
  if (phase_ != Phase::Literal && phase_ != Phase::Message) return;
  if (pending_sync_literal_) {
    reset_command();
    phase_ = Phase::Line;
    return;
  }
  std::string tag = current_tag();
  uint64_t left = literal_left_;
  reset_command();
  error_tag_ = tag;
  literal_left_ = left;
  phase_ = Phase::SkipLiteral;
}

ParseResult Parser::next() {
  for (;;) {
    switch (phase_) {
      case Phase::Closed:
        return bye_;

      case Phase::Line: {
        bool continuation = expect_line_ && tokens_.empty() && !after_literal_ && !raw_capture_;
        size_t avail = in_.size() - pos_;
        size_t lf = in_.find('\n', pos_);
        size_t take = lf == std::string::npos ? avail : lf - pos_;
        size_t limit;
        if (continuation) {
          limit = limits_.max_line;
        } else if (raw_capture_ || (tokens_.empty() && !after_literal_ &&
                                    starts_raw_command(line_prefix(take)))) {
          limit = limits_.max_raw_command > raw_.size() ? limits_.max_raw_command - raw_.size() : 0;
        } else {
          limit = limits_.max_line > line_total_ ? limits_.max_line - line_total_ : 0;
        }
        // +1: the CR of CRLF is still in the segment until the line ends.
        if (line_.size() + take > limit + 1) {
          // Keep the tail (to find a literal announcement at the end of the
          // line) and a bounded prefix (for the tag); throw the rest away.
          std::string tail = line_;
          tail.append(in_, pos_ + take - std::min<size_t>(take, kSkipTail),
                      std::min<size_t>(take, kSkipTail));
          if (tail.size() > kSkipTail) tail.erase(0, tail.size() - kSkipTail);
          constexpr size_t kTagRoom = 64;
          if (line_.size() < kTagRoom)
            line_.append(in_, pos_, std::min(take, kTagRoom - line_.size()));
          pos_ += take;
          if (continuation) expect_line_ = false;
          // A replication command's file literals "%{...}" must be skipped too.
          if (!continuation && tokens_.empty() && !after_literal_ &&
              starts_raw_command(line_prefix(0)))
            raw_capture_ = true;
          ParseResult r = fail_and_skip("", "Line too long", /*line_done=*/false);
          skip_tail_ = std::move(tail);
          return r;
        }
        line_.append(in_, pos_, take);
        pos_ += take;
        if (lf == std::string::npos) return NeedMore{};
        pos_ += 1;  // the LF
        if (!line_.empty() && line_.back() == '\r') line_.pop_back();
        if (continuation) {
          expect_line_ = false;
          ContinuationLine c{std::move(line_)};
          reset_command();
          return c;
        }
        if (auto r = on_line_end()) return std::move(*r);
        continue;
      }

      case Phase::Literal: {
        size_t avail = in_.size() - pos_;
        if (literal_left_ > 0 && avail == 0) return NeedMore{};
        size_t n = size_t(std::min<uint64_t>(avail, literal_left_));
        if (raw_capture_)
          raw_.append(in_, pos_, n);
        else
          tokens_.back().text.append(in_, pos_, n);
        pos_ += n;
        literal_left_ -= n;
        pending_sync_literal_ = false;
        if (literal_left_ == 0) {
          after_literal_ = true;
          phase_ = Phase::Line;
        }
        continue;
      }

      case Phase::Message: {
        size_t avail = in_.size() - pos_;
        if (literal_left_ > 0 && avail == 0) return NeedMore{};
        size_t n = size_t(std::min<uint64_t>(avail, literal_left_));
        std::string_view chunk(in_.data() + pos_, n);
        pos_ += n;
        literal_left_ -= n;
        pending_sync_literal_ = false;
        bool last = literal_left_ == 0;
        if (last) {
          after_literal_ = true;
          phase_ = Phase::Line;
        }
        return MessageData{chunk, last};
      }

      case Phase::SkipLine: {
        size_t lf = in_.find('\n', pos_);
        size_t end = lf == std::string::npos ? in_.size() : lf;
        skip_tail_.append(in_, pos_, end - pos_);
        if (skip_tail_.size() > kSkipTail) skip_tail_.erase(0, skip_tail_.size() - kSkipTail);
        pos_ = end;
        if (lf == std::string::npos) return NeedMore{};
        pos_ += 1;
        if (!skip_tail_.empty() && skip_tail_.back() == '\r') skip_tail_.pop_back();
        auto lit = trailing_literal(skip_tail_, raw_capture_);
        skip_tail_.clear();
        if (lit && !lit->sync) {
          if (lit->size > limits_.max_skip)
            return fail(ParseError::Kind::Bye, "TOOBIG", "Literal too big to skip");
          literal_left_ = lit->size;
          phase_ = Phase::SkipLiteral;
          continue;
        }
        reset_command();
        phase_ = Phase::Line;
        continue;
      }

      case Phase::SkipLiteral: {
        size_t avail = in_.size() - pos_;
        if (literal_left_ > 0 && avail == 0) return NeedMore{};
        size_t n = size_t(std::min<uint64_t>(avail, literal_left_));
        pos_ += n;
        literal_left_ -= n;
        if (literal_left_ == 0) phase_ = Phase::SkipLine;
        continue;
      }
    }
  }
}

std::optional<ParseResult> Parser::on_line_end() {
  std::string_view seg = line_;
  bool first_segment = tokens_.empty() && !after_literal_ && !raw_capture_;
  if (first_segment && seg.empty()) {
    reset_command();
    return ParseError{"*", ParseError::Kind::Bad, "", "Empty command line"};
  }

  // Replication commands: tag and name as tokens, the rest kept raw.
  if (first_segment && starts_raw_command(seg)) {
    size_t sp1 = seg.find(' ');
    size_t sp2 = seg.find(' ', sp1 + 1);
    tokens_.push_back({Token::Kind::Atom, std::string(seg.substr(0, sp1))});
    tokens_.push_back({Token::Kind::Atom, std::string(seg.substr(sp1 + 1, sp2 - sp1 - 1))});
    raw_capture_ = true;
    if (sp2 != std::string_view::npos) raw_.append(seg.substr(sp2 + 1));
    auto lit = trailing_literal(raw_, true);
    line_.clear();
    if (lit) {
      raw_ += "\r\n";
      return on_literal_announced(lit->size, lit->sync);
    }
    return finish_command();
  }
  if (raw_capture_) {
    auto lit = trailing_literal(seg, true);
    raw_.append(seg);
    line_.clear();  // seg is a view of line_: not used below
    if (lit) {
      raw_ += "\r\n";
      return on_literal_announced(lit->size, lit->sync);
    }
    return finish_command();
  }

  line_total_ += seg.size();

  // Tokenise the segment. prev: what the last character closed.
  enum class Prev { Start, Space, Open, Value } prev = after_literal_ ? Prev::Value : Prev::Start;
  after_literal_ = false;
  std::optional<LiteralAnnounce> announce;
  const char* error = nullptr;
  size_t i = 0, n = seg.size();
  auto push = [&](Token::Kind k, std::string text) {
    tokens_.push_back(Token{k, std::move(text)});
  };
  while (i < n && !error) {
    if (tokens_.size() >= limits_.max_items) {
      error = "Too many arguments";
      break;
    }
    unsigned char c = static_cast<unsigned char>(seg[i]);
    if (c == ' ') {
      if (prev != Prev::Value) { error = "Unexpected space"; break; }
      prev = Prev::Space;
      ++i;
      continue;
    }
    if (c == ')') {
      if (prev != Prev::Value && prev != Prev::Open) { error = "Unexpected ')'"; break; }
      if (depth_ == 0) { error = "Unbalanced parentheses"; break; }
      --depth_;
      if (depth_ == 0) catenate_open_.reset();
      push(Token::Kind::ListClose, {});
      prev = Prev::Value;
      ++i;
      continue;
    }
    if (prev == Prev::Value) { error = "Missing space between arguments"; break; }
    if (c == '(') {
      if (++depth_ > limits_.max_depth) { error = "Too deeply nested"; break; }
      // A CATENATE list (RFC 4469): its TEXT literals are message parts.
      if (depth_ == 1 && !tokens_.empty() && tokens_.back().kind == Token::Kind::Atom &&
          iequals(tokens_.back().text, "CATENATE")) {
        catenate_open_ = tokens_.size() + 1;  // the index of the first part
        catenate_text_ = 0;
      }
      push(Token::Kind::ListOpen, {});
      prev = Prev::Open;
      ++i;
      continue;
    }
    if (c == '"') {
      std::string text;
      size_t j = i + 1;
      bool closed = false;
      while (j < n) {
        unsigned char q = static_cast<unsigned char>(seg[j]);
        if (q == '"') { closed = true; break; }
        if (q == '\\') {
          if (j + 1 >= n || (seg[j + 1] != '"' && seg[j + 1] != '\\')) {
            error = "Invalid escape in quoted string";
            break;
          }
          text.push_back(seg[j + 1]);
          j += 2;
          continue;
        }
        if (q == '\r' || q == '\0') { error = "Invalid character in quoted string"; break; }
        text.push_back(static_cast<char>(q));
        ++j;
      }
      if (error) break;
      if (!closed) { error = "Unterminated quoted string"; break; }
      push(Token::Kind::Quoted, std::move(text));
      prev = Prev::Value;
      i = j + 1;
      continue;
    }
    if (c == '{' || (c == '~' && i + 1 < n && seg[i + 1] == '{')) {
      // "{N}" / "{N+}", or literal8 "~{N}" / "~{N+}" (RFC 3516, RFC 4466).
      const bool binary = c == '~';
      const size_t open = binary ? i + 1 : i;
      auto lit = trailing_literal(seg.substr(open), false);
      if (!lit || seg.find('}', open) != n - 1) { error = "Invalid literal announcement"; break; }
      lit->binary = binary;
      announce = lit;
      i = n;
      break;
    }
    // An atom, possibly with a FETCH section "[...]" that may hold spaces,
    // parentheses and quoted strings.
    size_t j = i;
    while (j < n) {
      unsigned char a = static_cast<unsigned char>(seg[j]);
      if (a == '[' && has_section_brackets(seg.substr(i, j - i))) {
        size_t k = j + 1;
        bool in_quote = false;
        for (; k < n; ++k) {
          if (in_quote) {
            if (seg[k] == '\\') ++k;
            else if (seg[k] == '"') in_quote = false;
          } else if (seg[k] == '"') {
            in_quote = true;
          } else if (seg[k] == ']') {
            break;
          } else if (seg[k] == '{' || seg[k] == '[') {
            break;
          }
        }
        if (k >= n || seg[k] != ']') { error = "Invalid section in brackets"; break; }
        j = k + 1;
        continue;
      }
      if (!is_atom_char(a)) break;
      ++j;
    }
    if (error) break;
    if (j < n && seg[j] != ' ' && seg[j] != '(' && seg[j] != ')' && seg[j] != '"') {
      unsigned char a = static_cast<unsigned char>(seg[j]);
      error = a >= 0x80   ? "8-bit characters must be quoted or in a literal"
              : a == '{'  ? "Invalid literal announcement"
                          : "Invalid character";
      break;
    }
    if (j == i) { error = "Invalid character"; break; }
    push(Token::Kind::Atom, std::string(seg.substr(i, j - i)));
    prev = Prev::Value;
    i = j;
  }
  if (!error && !announce) {
    if (prev == Prev::Space) error = "Unexpected space at end of line";
    else if (depth_ > 0) error = "Unbalanced parentheses";
  }
  if (!error && announce && prev != Prev::Space && prev != Prev::Open && prev != Prev::Start)
    error = "Missing space before literal";
  if (error) return fail_and_skip("", error, /*line_done=*/true);
  line_.clear();
  if (announce) return on_literal_announced(announce->size, announce->sync, announce->binary);
  return finish_command();
}

// What a literal announced at the end of the tokens so far carries: an
// APPEND / REPLACE message at the top level, or the TEXT part of a CATENATE
// list (RFC 4469), is streamed to the session (MessageLiteral) instead of
// buffered. The tokeniser notes where a CATENATE list opened
// (catenate_open_), so this needs no walk over the tokens.
Parser::MessageContext Parser::message_context() const {
  MessageContext m;
  if (raw_capture_ || tokens_.size() < 3) return m;
  size_t name = tokens_[1].kind == Token::Kind::Atom && iequals(tokens_[1].text, "UID") ? 2 : 1;
  const Token& cmd = tokens_[name];
  if (cmd.kind != Token::Kind::Atom) return m;
  bool append = name == 1 && iequals(cmd.text, "APPEND");
  bool replace = iequals(cmd.text, "REPLACE");
  if (!append && !replace) return m;
  if (depth_ == 0) {
    // After the mailbox name: a literal before it is the name itself.
    m.is_message = tokens_.size() >= name + (append ? 2 : 3);
    return m;
  }
  if (depth_ != 1 || !catenate_open_ || tokens_.back().kind != Token::Kind::Atom ||
      !iequals(tokens_.back().text, "TEXT"))
    return m;
  m.is_message = true;
  m.catenate_text_part = true;
  // After the "(": TEXT/URL and its value per part, this TEXT included.
  m.catenate_parts = (tokens_.size() - *catenate_open_) / 2 + 1;
  m.catenate_text = catenate_text_;
  return m;
}

std::optional<ParseResult> Parser::on_literal_announced(uint64_t size, bool sync, bool binary) {
  const MessageContext ctx = message_context();
  const bool is_message = ctx.is_message;
  if (ctx.catenate_parts > kMaxCatenateParts) {
    line_ = sync ? "" : "{" + std::to_string(size) + "+}";
    return fail_and_skip("", "Too many CATENATE parts (at most " +
                                 std::to_string(kMaxCatenateParts) + ")", true);
  }
  // literal8 carries an APPEND or REPLACE message or CATENATE TEXT part
  // (RFC 3516 4.4, RFC 4469 5) or a SETMETADATA value (RFC 5464 5.3);
  // anywhere else it is a syntax error.
  if (binary && !is_message &&
      !(tokens_.size() >= 2 && tokens_[1].kind == Token::Kind::Atom &&
        iequals(tokens_[1].text, "SETMETADATA"))) {
    line_ = sync ? "" : "{" + std::to_string(size) + "+}";
    return fail_and_skip("", "literal8 is allowed only in APPEND, REPLACE and SETMETADATA", true);
  }
  uint64_t limit;
  if (raw_capture_)
    limit = limits_.max_raw_command > raw_.size() ? limits_.max_raw_command - raw_.size() : 0;
  else
    limit = is_message ? limits_.max_message : limits_.max_literal;
  bool too_big = size > limit;
  // The TEXT parts of one CATENATE make one message: together they are
  // bounded as one (URL parts are added when the command runs).
  if (ctx.catenate_text_part &&
      size > limits_.max_message - std::min(ctx.catenate_text, limits_.max_message))
    too_big = true;
  // Many small literals must not add up to unbounded memory either.
  uint64_t total_room =
      limits_.max_literal_total - std::min(literal_total_, limits_.max_literal_total);
  if (!raw_capture_ && !is_message && size > total_room) too_big = true;
  if (!sync && limits_.literal_minus && size > kLiteralMinusMax) too_big = true;
  if (too_big) {
    ParseError e{current_tag(), is_message ? ParseError::Kind::No : ParseError::Kind::Bad,
                 "TOOBIG", is_message ? "Message too big" : "Literal too big"};
    reset_command();
    phase_ = Phase::Line;
    if (!sync) {
      // The client sends the literal anyway: read and discard it, or give up.
      if (size > limits_.max_skip)
        return fail(ParseError::Kind::Bye, "TOOBIG", "Literal too big to skip");
      error_tag_ = e.tag;
      literal_left_ = size;
      phase_ = Phase::SkipLiteral;
    }
    return e;
  }
  if (tokens_.size() >= limits_.max_items) {
    line_ = sync ? "" : "{" + std::to_string(size) + "+}";
    return fail_and_skip("", "Too many arguments", true);
  }
  literal_left_ = size;
  pending_sync_literal_ = sync;
  if (is_message) {
    uint32_t index = messages_++;
    Token t{Token::Kind::MessageLiteral, {}};
    t.size = size;
    t.index = index;
    t.binary = binary;
    tokens_.push_back(std::move(t));
    if (ctx.catenate_text_part) catenate_text_ += size;
    phase_ = Phase::Message;
    return MessageLiteral{size, sync, index, binary};
  }
  if (!raw_capture_) {
    literal_total_ += size;
    tokens_.push_back(Token{Token::Kind::Literal, {}});
    tokens_.back().binary = binary;
    tokens_.back().text.reserve(size_t(size));
  }
  phase_ = Phase::Literal;
  if (sync) return NeedLiteral{size};
  return std::nullopt;  // keep reading: the client sends the bytes right away
}

ParseResult Parser::finish_command() {
  std::string tag = current_tag();
  auto bad = [&](std::string text) -> ParseResult {
    reset_command();
    phase_ = Phase::Line;
    return ParseError{tag, ParseError::Kind::Bad, "", std::move(text)};
  };
  if (tokens_.empty() || tokens_[0].kind != Token::Kind::Atom || !valid_tag(tokens_[0].text))
    return bad("Invalid tag");
  if (tokens_.size() < 2 || tokens_[1].kind != Token::Kind::Atom) return bad("Missing command");
  size_t idx = 1;
  bool uid = false;
  if (iequals(tokens_[1].text, "UID")) {
    uid = true;
    if (tokens_.size() < 3 || tokens_[2].kind != Token::Kind::Atom)
      return bad("Missing command after UID");
    idx = 2;
  }
  const CommandSpec* spec = find_command(tokens_[idx].text);
  if (!spec) return bad("Unknown command");
  if (uid && !(spec->flags & kAllowsUid)) return bad("Command cannot follow UID");

  Request req{tag, Command{spec->id, uid, NoArgs{}}};
  if (raw_capture_) {
    req.command.args = SyncArgs{std::move(raw_)};
  } else {
    ArgReader reader(tokens_, idx + 1, limits_);
    auto args = spec->parse(reader, uid);
    if (!args.ok()) {
      std::string text = std::string(spec->name) + ": " + args.error().user_message;
      return bad(std::move(text));
    }
    req.command.args = std::move(args.value());
  }
  reset_command();
  phase_ = Phase::Line;
  return req;
}

bool is_idle_done(std::string_view line) { return iequals(line, "DONE"); }

ParseResult parse_one(std::string_view bytes, ParserLimits limits) {
  Parser p(limits);
  p.feed(bytes);
  for (;;) {
    ParseResult r = p.next();
    if (std::holds_alternative<Request>(r) || std::holds_alternative<ParseError>(r)) return r;
    if (std::holds_alternative<NeedMore>(r)) {
      return ParseError{"*", ParseError::Kind::Bad, "", "Incomplete command"};
    }
  }
}

}  // namespace cyr::imap
