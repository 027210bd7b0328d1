#include "server/sieve/lexer.h"

#include <limits>

namespace cyr::sieve {

Error script_error(int line, std::string message, Errc code) {
  return Error(code, "line " + std::to_string(line) + ": " + message);
}

namespace {

bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

class Lexer {
 public:
  Lexer(std::string_view text, const Limits& limits) : s_(text), limits_(limits) {}

  Result<std::vector<Token>> run() {
    std::vector<Token> out;
    for (;;) {
      CYR_TRY(skip_space_and_comments());
      if (pos_ >= s_.size()) break;
      auto token = next();
      if (!token.ok()) return token.take_error();
      out.push_back(std::move(*token));
    }
    out.push_back(Token{Token::Kind::End, {}, 0, line_});
    return out;
  }

 private:
  Status skip_space_and_comments() {
    while (pos_ < s_.size()) {
      char c = s_[pos_];
      if (c == '\n') {
        ++line_, ++pos_;
      } else if (c == ' ' || c == '\t' || c == '\r') {
        ++pos_;
      } else if (c == '#') {
        while (pos_ < s_.size() && s_[pos_] != '\n') ++pos_;
      } else if (c == '/' && pos_ + 1 < s_.size() && s_[pos_ + 1] == '*') {
        int start = line_;
        size_t end = s_.find("*/", pos_ + 2);
        if (end == std::string_view::npos) return script_error(start, "unterminated comment");
        count_lines(pos_, end + 2);
        pos_ = end + 2;
      } else {
        break;
      }
    }
    return ok_status();
  }

  void count_lines(size_t from, size_t to) {
    for (size_t i = from; i < to; ++i)
      if (s_[i] == '\n') ++line_;
  }

  Result<Token> next() {
    Token t;
    t.line = line_;
    char c = s_[pos_];
    auto single = [&](Token::Kind k) {
      t.kind = k;
      ++pos_;
      return t;
    };
    switch (c) {
      case '[':
        return single(Token::Kind::LBracket);
      case ']':
        return single(Token::Kind::RBracket);
      case '(':
        return single(Token::Kind::LParen);
      case ')':
        return single(Token::Kind::RParen);
      case '{':
        return single(Token::Kind::LBrace);
      case '}':
        return single(Token::Kind::RBrace);
      case ',':
        return single(Token::Kind::Comma);
      case ';':
        return single(Token::Kind::Semicolon);
      case '"':
        return quoted_string();
      default:
        break;
    }
    if (c == ':') {
      ++pos_;
      if (pos_ >= s_.size() || !is_alpha(s_[pos_])) return script_error(line_, "expected a tag name after ':'");
      t.kind = Token::Kind::Tag;
      t.text = identifier();
      return t;
    }
    if (is_digit(c)) return number();
    if (is_alpha(c)) {
      std::string word = identifier();
      if (word == "text" && pos_ < s_.size() && s_[pos_] == ':') {
        ++pos_;
        return multiline_string();
      }
      t.kind = Token::Kind::Identifier;
      t.text = std::move(word);
      return t;
    }
    if (c == '/' && pos_ + 1 < s_.size() && s_[pos_ + 1] == '*') return script_error(line_, "unexpected comment");
    if (c == '*' && pos_ + 1 < s_.size() && s_[pos_ + 1] == '/')
      return script_error(line_, "'*/' outside a comment (comments do not nest)");
    std::string shown = (static_cast<unsigned char>(c) >= 0x20 && static_cast<unsigned char>(c) < 0x7f)
                            ? std::string(1, c)
                            : "\\x" + to_hex(static_cast<unsigned char>(c));
    return script_error(line_, "unexpected character '" + shown + "'");
  }

  static std::string to_hex(unsigned char c) {
    const char* digits = "0123456789abcdef";
    return {digits[c >> 4], digits[c & 15]};
  }

  // Identifiers and tags are case-insensitive (RFC 5228 8.1: the
  // examples write "NOT" and ":DOMAIN"); they come out lower-case.
  std::string identifier() {
    size_t start = pos_;
    while (pos_ < s_.size() && (is_alpha(s_[pos_]) || is_digit(s_[pos_]))) ++pos_;
    std::string word(s_.substr(start, pos_ - start));
    for (char& c : word)
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
    return word;
  }

  Result<Token> number() {
    Token t;
    t.kind = Token::Kind::Number;
    t.line = line_;
    uint64_t value = 0;
    constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();
    while (pos_ < s_.size() && is_digit(s_[pos_])) {
      uint64_t digit = static_cast<uint64_t>(s_[pos_] - '0');
      if (value > (kMax - digit) / 10) return script_error(line_, "number too large");
      value = value * 10 + digit;
      ++pos_;
    }
    if (pos_ < s_.size()) {
      uint64_t scale = 1;
      switch (s_[pos_]) {
        case 'K':
        case 'k':
          scale = uint64_t{1} << 10;
          break;
        case 'M':
        case 'm':
          scale = uint64_t{1} << 20;
          break;
        case 'G':
        case 'g':
          scale = uint64_t{1} << 30;
          break;
        default:
          break;
      }
      if (scale != 1) {
        ++pos_;
        if (value > kMax / scale) return script_error(line_, "number too large");
        value *= scale;
      }
    }
    if (pos_ < s_.size() && (is_alpha(s_[pos_]) || is_digit(s_[pos_]))) return script_error(line_, "bad number");
    t.number = value;
    return t;
  }

  Result<Token> quoted_string() {
    Token t;
    t.kind = Token::Kind::String;
    t.line = line_;
    ++pos_;  // opening quote
    for (;;) {
      if (pos_ >= s_.size()) return script_error(t.line, "unterminated string");
      char c = s_[pos_++];
      if (c == '"') break;
      if (c == '\\') {
        if (pos_ >= s_.size()) return script_error(t.line, "unterminated string");
        // RFC 5228 2.4.2: "\\" and "\"" are the escapes; any other
        // backslash is dropped and the character kept.
        c = s_[pos_++];
      }
      if (c == '\n') ++line_;
      t.text += c;
      if (t.text.size() > limits_.max_string_bytes)
        return script_error(t.line, "string longer than " + std::to_string(limits_.max_string_bytes) + " bytes",
                            Errc::TooBig);
    }
    return t;
  }

  // After "text:": optional blanks and a comment, a line break, then lines
  // up to one holding only "."; a line starting ".." loses one dot.
  Result<Token> multiline_string() {
    Token t;
    t.kind = Token::Kind::String;
    t.line = line_;
    while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\t')) ++pos_;
    if (pos_ < s_.size() && s_[pos_] == '#') {
      while (pos_ < s_.size() && s_[pos_] != '\n') ++pos_;
    }
    if (pos_ < s_.size() && s_[pos_] == '\r') ++pos_;
    if (pos_ >= s_.size() || s_[pos_] != '\n') return script_error(line_, "expected a line break after text:");
    ++pos_, ++line_;
    for (;;) {
      if (pos_ >= s_.size()) return script_error(t.line, "unterminated text: string (no line with a single '.')");
      size_t eol = s_.find('\n', pos_);
      size_t line_end = eol == std::string_view::npos ? s_.size() : eol + 1;
      std::string_view line = s_.substr(pos_, line_end - pos_);
      std::string_view content = line;
      if (!content.empty() && content.back() == '\n') content.remove_suffix(1);
      if (!content.empty() && content.back() == '\r') content.remove_suffix(1);
      pos_ = line_end;
      if (eol != std::string_view::npos) ++line_;
      if (content == ".") break;
      if (eol == std::string_view::npos)
        return script_error(t.line, "unterminated text: string (no line with a single '.')");
      if (line.size() >= 2 && line[0] == '.' && line[1] == '.') line.remove_prefix(1);
      t.text += line;
      if (t.text.size() > limits_.max_string_bytes)
        return script_error(t.line, "string longer than " + std::to_string(limits_.max_string_bytes) + " bytes",
                            Errc::TooBig);
    }
    return t;
  }

  std::string_view s_;
  const Limits& limits_;
  size_t pos_ = 0;
  int line_ = 1;
};

}  // namespace

Result<std::vector<Token>> tokenize(std::string_view text, const Limits& limits) { return Lexer(text, limits).run(); }

}  // namespace cyr::sieve
