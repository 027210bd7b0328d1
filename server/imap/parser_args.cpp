#include "server/imap/parser_args.h"

#include <algorithm>
#include <cstring>

namespace cyr::imap {
namespace {

Error invalid(std::string text) { return Error(Errc::Invalid, std::move(text)); }

const char* const kMonths[] = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                               "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"};

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// Decimal digits to a number no greater than max; nullopt if not digits or too big.
std::optional<uint64_t> to_number(std::string_view s, uint64_t max) {
  if (!all_digits(s) || s.size() > 20) return std::nullopt;
  uint64_t v = 0;
  for (char c : s) {
    if (v > (max - uint64_t(c - '0')) / 10) return std::nullopt;
    v = v * 10 + uint64_t(c - '0');
  }
  return v;
}

int month_from(std::string_view s) {
  for (int i = 0; i < 12; ++i)
    if (iequals(s, kMonths[i])) return i + 1;
  return 0;
}

int days_in_month(int y, int m) {
  static const int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0)) return 29;
  return kDays[m - 1];
}

bool valid_flag_text(std::string_view f) {
  // flag = "\Answered" / ... / flag-keyword / flag-extension; "\*" only in
  // PERMANENTFLAGS (never sent by a client). Keywords are atoms; the lexer
  // already restricted characters, so only "\" placement is checked here.
  if (f.empty()) return false;
  size_t start = f[0] == '\\' ? 1 : 0;
  if (start == f.size()) return false;
  for (size_t i = start; i < f.size(); ++i) {
    char c = f[i];
    if (c == '\\' || c == '*' || c == '%' || c == ']') return false;
  }
  return true;
}

}  // namespace

std::string to_upper(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'a' && c <= 'z') c = char(c - 32);
  return out;
}

bool is_object_id(std::string_view s) {
  if (s.empty() || s.size() > kMaxObjectIdLength) return false;
  for (char c : s) {
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

bool SequenceSet::contains(uint32_t n, uint32_t star_value) const {
  for (const SeqRange& r : ranges) {
    uint32_t a = r.first == kSeqStar ? star_value : r.first;
    uint32_t b = r.last == kSeqStar ? star_value : r.last;
    if (a > b) std::swap(a, b);
    if (n >= a && n <= b) return true;
  }
  return false;
}

Result<SequenceSet> parse_sequence_set(std::string_view text, bool allow_saved, size_t max_ranges) {
  SequenceSet set;
  if (text == "$") {
    if (!allow_saved) return invalid("Saved search result ($) not allowed here");
    set.saved_result = true;
    return set;
  }
  if (text.empty()) return invalid("Empty sequence set");
  auto number = [](std::string_view s) -> std::optional<uint32_t> {
    if (s == "*") return kSeqStar;
    if (s.empty() || s[0] == '0') return std::nullopt;  // nz-number
    auto v = to_number(s, UINT32_MAX);
    if (!v) return std::nullopt;
    return uint32_t(*v);
  };
  size_t start = 0;
  while (start <= text.size()) {
    size_t comma = text.find(',', start);
    std::string_view elem = text.substr(start, comma == std::string_view::npos ? std::string_view::npos
                                                                                : comma - start);
    if (set.ranges.size() >= max_ranges) return invalid("Sequence set has too many ranges");
    size_t colon = elem.find(':');
    SeqRange r;
    if (colon == std::string_view::npos) {
      auto v = number(elem);
      if (!v) return invalid("Invalid sequence set");
      r.first = r.last = *v;
    } else {
      auto a = number(elem.substr(0, colon));
      auto b = number(elem.substr(colon + 1));
      if (!a || !b) return invalid("Invalid sequence set");
      r.first = *a;
      r.last = *b;
    }
    set.ranges.push_back(r);
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return set;
}

Result<Date> parse_date_text(std::string_view s) {
  // date-text = date-day "-" date-month "-" date-year; date-day = 1*2DIGIT
  size_t d1 = s.find('-');
  if (d1 == std::string_view::npos) return invalid("Invalid date");
  size_t d2 = s.find('-', d1 + 1);
  if (d2 == std::string_view::npos) return invalid("Invalid date");
  std::string_view day = s.substr(0, d1), mon = s.substr(d1 + 1, d2 - d1 - 1), year = s.substr(d2 + 1);
  if (day.empty() || day.size() > 2 || !all_digits(day) || year.size() != 4 || !all_digits(year))
    return invalid("Invalid date");
  Date d;
  d.day = int(*to_number(day, 99));
  d.month = month_from(mon);
  d.year = int(*to_number(year, 9999));
  if (d.month == 0 || d.day < 1 || d.day > days_in_month(d.year, d.month))
    return invalid("Invalid date");
  return d;
}

Result<DateTime> parse_date_time_text(std::string_view s) {
  // date-day-fixed "-" date-month "-" date-year SP time SP zone
  // "dd-Mon-yyyy hh:mm:ss +zzzz"; date-day-fixed = (SP DIGIT) / 2DIGIT
  if (s.size() != 26 || s[2] != '-' || s[6] != '-' || s[11] != ' ' || s[14] != ':' ||
      s[17] != ':' || s[20] != ' ')
    return invalid("Invalid date-time");
  std::string day(s.substr(0, 2));
  if (day[0] == ' ') day.erase(0, 1);
  auto date = parse_date_text(day + std::string(s.substr(2, 9)));
  if (!date.ok()) return invalid("Invalid date-time");
  DateTime dt;
  dt.date = *date;
  std::string_view hh = s.substr(12, 2), mm = s.substr(15, 2), ss = s.substr(18, 2);
  std::string_view zone = s.substr(21, 5);
  if (!all_digits(hh) || !all_digits(mm) || !all_digits(ss)) return invalid("Invalid date-time");
  dt.hour = int(*to_number(hh, 99));
  dt.minute = int(*to_number(mm, 99));
  dt.second = int(*to_number(ss, 99));
  if (dt.hour > 23 || dt.minute > 59 || dt.second > 60) return invalid("Invalid date-time");
  if ((zone[0] != '+' && zone[0] != '-') || !all_digits(zone.substr(1)))
    return invalid("Invalid time zone");
  int zh = int(*to_number(zone.substr(1, 2), 99)), zm = int(*to_number(zone.substr(3, 2), 99));
  if (zm > 59) return invalid("Invalid time zone");
  dt.zone_minutes = (zh * 60 + zm) * (zone[0] == '-' ? -1 : 1);
  return dt;
}

// ---------------------------------------------------------------- ArgReader

bool ArgReader::peek_open() const { return !at_end() && tokens_[pos_].kind == Token::Kind::ListOpen; }
bool ArgReader::peek_close() const {
  return !at_end() && tokens_[pos_].kind == Token::Kind::ListClose;
}

bool ArgReader::peek_atom(std::string_view word) const {
  return !at_end() && tokens_[pos_].kind == Token::Kind::Atom && iequals(tokens_[pos_].text, word);
}

bool ArgReader::take_atom(std::string_view word) {
  if (!peek_atom(word)) return false;
  ++pos_;
  return true;
}

bool ArgReader::take_open() {
  if (!peek_open()) return false;
  ++pos_;
  return true;
}

bool ArgReader::take_close() {
  if (!peek_close()) return false;
  ++pos_;
  return true;
}

Status ArgReader::open() {
  if (!take_open()) return invalid(at_end() ? "Missing argument: expected '('" : "Expected '('");
  return {};
}

Status ArgReader::close() {
  if (!take_close()) return invalid("Expected ')'");
  return {};
}

Status ArgReader::end() {
  if (!at_end()) return invalid("Unexpected extra arguments");
  return {};
}

Result<std::string> ArgReader::atom() {
  if (at_end()) return invalid("Missing argument");
  const Token& t = tokens_[pos_];
  if (t.kind != Token::Kind::Atom) return invalid("Expected an atom");
  ++pos_;
  return t.text;
}

Result<std::string> ArgReader::upper_atom() {
  auto a = atom();
  if (!a.ok()) return a;
  return to_upper(*a);
}

Result<std::string> ArgReader::astring() {
  if (at_end()) return invalid("Missing argument");
  const Token& t = tokens_[pos_];
  if (t.kind != Token::Kind::Atom && t.kind != Token::Kind::Quoted && t.kind != Token::Kind::Literal)
    return invalid("Expected a string");
  if (t.kind == Token::Kind::Atom && t.text.find_first_of("%*") != std::string::npos)
    return invalid("Wildcards are not allowed in an atom here");
  ++pos_;
  return t.text;
}

Result<std::string> ArgReader::string() {
  if (at_end()) return invalid("Missing argument");
  const Token& t = tokens_[pos_];
  if (t.kind != Token::Kind::Quoted && t.kind != Token::Kind::Literal)
    return invalid("Expected a quoted string or literal");
  ++pos_;
  return t.text;
}

Result<std::optional<std::string>> ArgReader::nstring() {
  if (peek_atom("NIL")) {
    ++pos_;
    return std::optional<std::string>();
  }
  auto s = string();
  if (!s.ok()) return s.take_error();
  return std::optional<std::string>(std::move(*s));
}

Result<std::string> ArgReader::mailbox() {
  auto s = astring();
  if (!s.ok()) return s;
  if (iequals(*s, "INBOX")) return std::string("INBOX");
  if (s->find('\0') != std::string::npos) return invalid("Invalid mailbox name");
  return s;
}

Result<uint32_t> ArgReader::number() {
  auto a = atom();
  if (!a.ok()) return a.take_error();
  auto v = to_number(*a, UINT32_MAX);
  if (!v) return invalid("Expected a number");
  return uint32_t(*v);
}

Result<uint32_t> ArgReader::nz_number() {
  auto v = number();
  if (v.ok() && *v == 0) return invalid("Expected a non-zero number");
  return v;
}

Result<uint64_t> ArgReader::number64() {
  auto a = atom();
  if (!a.ok()) return a.take_error();
  auto v = to_number(*a, uint64_t(INT64_MAX));  // mod-sequence-value is 63-bit
  if (!v) return invalid("Expected a number");
  return *v;
}

Result<SequenceSet> ArgReader::sequence_set(bool allow_saved) {
  auto a = atom();
  if (!a.ok()) return a.take_error();
  return parse_sequence_set(*a, allow_saved, limits_.max_items);
}

Result<std::string> ArgReader::flag() {
  auto a = atom();
  if (!a.ok()) return a.take_error();
  if (!valid_flag_text(*a)) return invalid("Invalid flag");
  return a;
}

Result<std::vector<std::string>> ArgReader::flag_list() {
  CYR_TRY(open());
  std::vector<std::string> flags;
  while (!take_close()) {
    auto f = flag();
    if (!f.ok()) return f.take_error();
    flags.push_back(std::move(*f));
  }
  return flags;
}

Result<Date> ArgReader::date() {
  if (at_end()) return invalid("Missing date");
  const Token& t = tokens_[pos_];
  if (t.kind != Token::Kind::Atom && t.kind != Token::Kind::Quoted) return invalid("Invalid date");
  ++pos_;
  return parse_date_text(t.text);
}

Result<DateTime> ArgReader::date_time() {
  if (at_end()) return invalid("Missing date-time");
  const Token& t = tokens_[pos_];
  if (t.kind != Token::Kind::Quoted) return invalid("Invalid date-time");
  ++pos_;
  return parse_date_time_text(t.text);
}

Result<Parser::Token> ArgReader::message_literal() {
  if (at_end()) return invalid("Missing message literal");
  const Token& t = tokens_[pos_];
  if (t.kind != Token::Kind::MessageLiteral) return invalid("Expected a message literal");
  ++pos_;
  return Token{t.kind, {}, t.size, t.index, t.binary};
}

}  // namespace cyr::imap
