#include "server/imap/response.h"

#include <algorithm>
#include <array>

#include "server/imap/parser_args.h"

namespace cyr::imap {
namespace {

bool is_atom_char(unsigned char c) {
  // ATOM-CHAR = <any CHAR except atom-specials>
  if (c <= 0x20 || c >= 0x7f) return false;
  switch (c) {
    case '(': case ')': case '{': case '%': case '*': case '"': case '\\': case ']':
      return false;
    default:
      return true;
  }
}

void append_number(std::string& out, uint64_t n) { out += std::to_string(n); }

void append_range(std::string& out, uint32_t a, uint32_t b) {
  if (!out.empty()) out += ',';
  append_number(out, a);
  if (b != a) {
    out += ':';
    append_number(out, b);
  }
}

// Compresses runs of consecutive ascending numbers, in the given order.
std::string compress_in_order(const std::vector<uint32_t>& v) {
  std::string out;
  size_t i = 0;
  while (i < v.size()) {
    size_t j = i;
    while (j + 1 < v.size() && v[j] != UINT32_MAX && v[j + 1] == v[j] + 1) ++j;
    append_range(out, v[i], v[j]);
    i = j + 1;
  }
  return out;
}

std::string clean_text(std::string_view text) {
  std::string t(text);
  for (char& c : t)
    if (c == '\r' || c == '\n' || c == '\0') c = ' ';
  return t;
}

}  // namespace

const char* status_kind_name(StatusKind k) {
  switch (k) {
    case StatusKind::Ok: return "OK";
    case StatusKind::No: return "NO";
    case StatusKind::Bad: return "BAD";
    case StatusKind::Bye: return "BYE";
    case StatusKind::PreAuth: return "PREAUTH";
  }
  return "BAD";
}

bool is_atom(std::string_view s) {
  if (s.empty() || iequals(s, "NIL")) return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return is_atom_char(c); });
}

std::string format_sequence_set(const SequenceSet& set) {
  if (set.saved_result) return "$";
  std::string out;
  auto num = [&](uint32_t n) {
    if (n == kSeqStar) out += '*';
    else append_number(out, n);
  };
  for (const SeqRange& r : set.ranges) {
    if (!out.empty()) out += ',';
    num(r.first);
    if (r.last != r.first) {
      out += ':';
      num(r.last);
    }
  }
  return out;
}

std::string format_uid_set(std::vector<uint32_t> numbers) {
  std::sort(numbers.begin(), numbers.end());
  numbers.erase(std::unique(numbers.begin(), numbers.end()), numbers.end());
  return compress_in_order(numbers);
}

std::string format_uid_sequence(const std::vector<uint32_t>& numbers) {
  return compress_in_order(numbers);
}

// ---------------------------------------------------------------- ResponseCode

ResponseCode ResponseCode::uid_validity(uint32_t v) {
  return ResponseCode("UIDVALIDITY " + std::to_string(v));
}
ResponseCode ResponseCode::uid_next(uint32_t v) {
  return ResponseCode("UIDNEXT " + std::to_string(v));
}
ResponseCode ResponseCode::unseen(uint32_t seq) {
  return ResponseCode("UNSEEN " + std::to_string(seq));
}
ResponseCode ResponseCode::highest_modseq(uint64_t v) {
  return ResponseCode("HIGHESTMODSEQ " + std::to_string(v));
}
ResponseCode ResponseCode::mailbox_id(std::string_view id) {
  if (!is_object_id(id)) return ResponseCode(std::string());
  return ResponseCode("MAILBOXID (" + std::string(id) + ")");
}
ResponseCode ResponseCode::modified(const std::vector<uint32_t>& numbers) {
  return ResponseCode("MODIFIED " + format_uid_set(numbers));
}

ResponseCode ResponseCode::permanent_flags(const std::vector<std::string>& flags) {
  std::string t = "PERMANENTFLAGS (";
  for (size_t i = 0; i < flags.size(); ++i) {
    if (i) t += ' ';
    t += flags[i];
  }
  t += ')';
  return ResponseCode(std::move(t));
}

ResponseCode ResponseCode::capability(const std::vector<std::string>& caps) {
  std::string t = "CAPABILITY";
  for (const auto& c : caps) {
    t += ' ';
    t += c;
  }
  return ResponseCode(std::move(t));
}

ResponseCode ResponseCode::bad_charset(const std::vector<std::string>& charsets) {
  std::string t = "BADCHARSET";
  if (!charsets.empty()) {
    t += " (";
    for (size_t i = 0; i < charsets.size(); ++i) {
      if (i) t += ' ';
      // charset = atom / quoted
      if (is_atom(charsets[i])) {
        t += charsets[i];
      } else {
        t += '"';
        for (char c : charsets[i]) {
          if (c == '"' || c == '\\') t += '\\';
          if (c != '\r' && c != '\n') t += c;
        }
        t += '"';
      }
    }
    t += ')';
  }
  return ResponseCode(std::move(t));
}

ResponseCode ResponseCode::append_uid(uint32_t uidvalidity, const std::vector<uint32_t>& uids) {
  return ResponseCode("APPENDUID " + std::to_string(uidvalidity) + " " +
                      format_uid_sequence(uids));
}

ResponseCode ResponseCode::copy_uid(uint32_t uidvalidity, const std::vector<uint32_t>& src,
                                    const std::vector<uint32_t>& dst) {
  std::vector<std::pair<uint32_t, uint32_t>> pairs;
  for (size_t i = 0; i < src.size() && i < dst.size(); ++i) pairs.emplace_back(src[i], dst[i]);
  std::sort(pairs.begin(), pairs.end());
  std::vector<uint32_t> s, d;
  for (auto& [a, b] : pairs) {
    s.push_back(a);
    d.push_back(b);
  }
  return ResponseCode("COPYUID " + std::to_string(uidvalidity) + " " + format_uid_sequence(s) +
                      " " + format_uid_sequence(d));
}

ResponseCode ResponseCode::metadata_long_entries(uint64_t size) {
  return ResponseCode("METADATA LONGENTRIES " + std::to_string(size));
}
ResponseCode ResponseCode::metadata_max_size(uint64_t size) {
  return ResponseCode("METADATA MAXSIZE " + std::to_string(size));
}

ResponseCode ResponseCode::bad_url(std::string_view url) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string t = "BADURL ";
  for (unsigned char c : url) {
    if (c <= 0x20 || c >= 0x7f || c == ']') {
      t += '%';
      t += kHex[c >> 4];
      t += kHex[c & 15];
    } else {
      t += static_cast<char>(c);
    }
  }
  return ResponseCode(std::move(t));
}

ResponseCode ResponseCode::named(std::string_view atom) {
  // Empty or not an atom: no code at all, rather than a malformed one.
  return ResponseCode(is_atom(atom) ? std::string(atom) : std::string());
}

// ---------------------------------------------------------------- ResponseWriter

void ResponseWriter::text_line(std::string_view text) {
  out_ += clean_text(text);
  out_ += "\r\n";
  need_space_ = false;
}

void ResponseWriter::tagged(std::string_view tag, StatusKind kind, const ResponseCode& code,
                            std::string_view text) {
  out_ += tag;
  out_ += ' ';
  out_ += status_kind_name(kind);
  out_ += ' ';
  if (!code.empty()) {
    out_ += '[';
    out_ += code.text();
    out_ += "] ";
  }
  text_line(text);
}

void ResponseWriter::untagged_status(StatusKind kind, const ResponseCode& code,
                                     std::string_view text) {
  tagged("*", kind, code, text);
}

void ResponseWriter::continuation(std::string_view text) {
  out_ += "+ ";
  text_line(text);
}

void ResponseWriter::parse_error(const ParseError& error) {
  ResponseCode code = ResponseCode::named(error.code);
  switch (error.kind) {
    case ParseError::Kind::Bad:
      tagged(error.tag, StatusKind::Bad, code, error.text);
      break;
    case ParseError::Kind::No:
      tagged(error.tag, StatusKind::No, code, error.text);
      break;
    case ParseError::Kind::Bye:
      untagged_status(StatusKind::Bye, code, error.text);
      break;
  }
}

void ResponseWriter::separator() {
  if (need_space_) out_ += ' ';
  need_space_ = true;
}

ResponseWriter& ResponseWriter::begin_untagged() {
  out_ += "* ";
  need_space_ = false;
  return *this;
}

ResponseWriter& ResponseWriter::atom(std::string_view a) {
  separator();
  out_ += a;
  return *this;
}

ResponseWriter& ResponseWriter::raw(std::string_view bytes) { return atom(bytes); }

ResponseWriter& ResponseWriter::number(uint64_t n) {
  separator();
  append_number(out_, n);
  return *this;
}

namespace {

// How a byte fares in a quoted string: as is, escaped with a backslash, only
// in a literal (CR, LF, NUL), or in a literal unless UTF-8 is on (8-bit).
// One table lookup per byte: FETCH ENVELOPE of a large mailbox quotes
// millions of strings, and four comparisons per byte showed in profiles.
enum QuoteClass : uint8_t { kPlain = 0, kEscape = 1, kLiteral = 2, kEightBit = 3 };
constexpr std::array<uint8_t, 256> kQuoteClass = [] {
  std::array<uint8_t, 256> t{};
  for (size_t c = 0x80; c < 256; ++c) t[c] = kEightBit;
  t['\r'] = t['\n'] = t['\0'] = kLiteral;
  t['"'] = t['\\'] = kEscape;
  return t;
}();

}  // namespace

ResponseWriter& ResponseWriter::string(std::string_view s) {
  size_t escapes = 0;
  bool needs_literal = s.size() > options_.max_quoted;
  if (!needs_literal) {
    for (unsigned char c : s) {
      const uint8_t k = kQuoteClass[c];
      if (k == kPlain) continue;
      if (k == kEscape) {
        ++escapes;
      } else if (k == kLiteral || !options_.utf8) {
        needs_literal = true;
        break;
      }
    }
  }
  // Many escapes make a quoted string hard to read and easy to get wrong in
  // clients; a literal says the same thing plainly.
  if (escapes > 4) needs_literal = true;
  if (needs_literal) return literal(s);
  if (need_space_) out_.append(" \"", 2);
  else out_ += '"';
  need_space_ = true;
  if (escapes == 0) {
    out_.append(s);  // the common case, in one copy (FETCH ENVELOPE of a large mailbox)
  } else {
    for (char c : s) {
      if (c == '"' || c == '\\') out_ += '\\';
      out_ += c;
    }
  }
  out_ += '"';
  return *this;
}

ResponseWriter& ResponseWriter::astring(std::string_view s) {
  if (is_atom(s)) return atom(s);
  return string(s);
}

ResponseWriter& ResponseWriter::nstring(const std::optional<std::string>& s) {
  if (!s) return nil();
  return string(*s);
}

ResponseWriter& ResponseWriter::nil() { return atom("NIL"); }

ResponseWriter& ResponseWriter::literal(std::string_view s) {
  separator();
  out_ += '{';
  append_number(out_, s.size());
  out_ += "}\r\n";
  out_ += s;
  return *this;
}

ResponseWriter& ResponseWriter::binary(std::string_view s) {
  if (s.find('\0') == std::string_view::npos) return literal(s);
  separator();
  out_ += "~{";
  append_number(out_, s.size());
  out_ += "}\r\n";
  out_ += s;
  return *this;
}

ResponseWriter& ResponseWriter::mailbox(std::string_view name) {
  if (iequals(name, "INBOX")) return atom("INBOX");
  return astring(name);
}

ResponseWriter& ResponseWriter::begin_list() {
  separator();
  out_ += '(';
  need_space_ = false;
  return *this;
}

ResponseWriter& ResponseWriter::end_list() {
  out_ += ')';
  need_space_ = true;
  return *this;
}

ResponseWriter& ResponseWriter::flag_list(const std::vector<std::string>& flags) {
  begin_list();
  for (const auto& f : flags) atom(f);  // flags are atoms; the store keeps them valid
  return end_list();
}

ResponseWriter& ResponseWriter::sequence_set(const SequenceSet& set) {
  return atom(format_sequence_set(set));
}

ResponseWriter& ResponseWriter::uid_set(const std::vector<uint32_t>& numbers) {
  return atom(format_uid_set(numbers));
}

void ResponseWriter::end_line() {
  out_ += "\r\n";
  need_space_ = false;
}

// ---------------------------------------------------------------- errors

ImapError imap_error_for(const Error& error) {
  const std::string& msg = error.user_message;
  auto no = [&](ResponseCode code, std::string fallback) {
    return ImapError{StatusKind::No, std::move(code), msg.empty() ? std::move(fallback) : msg};
  };
  switch (error.code) {
    case Errc::Temp:
      return no(ResponseCode::unavailable(), "Temporary failure, try again later");
    case Errc::Unavailable:
      return no(ResponseCode::unavailable(), "This server does not accept changes now");
    case Errc::Fenced:
      // The store stopped writing after a failure; the detail is for the log.
      return ImapError{StatusKind::No, ResponseCode::unavailable(),
                       "This server does not accept changes now"};
    case Errc::NotFound:
      return no(ResponseCode::nonexistent(), "Mailbox does not exist");
    case Errc::Exists:
      return no(ResponseCode::already_exists(), "Mailbox already exists");
    case Errc::Perm:
      return no(ResponseCode::no_perm(), "Permission denied");
    case Errc::NoQuota:
      return no(ResponseCode::over_quota(), "Quota exceeded");
    case Errc::NoSpace:
      // As Dovecot answers a full disk: the client's "storage full" path.
      return ImapError{StatusKind::No, ResponseCode::over_quota(), kNoSpaceMessage};
    case Errc::InUse:
      return no(ResponseCode::in_use(), "Mailbox is in use, try again later");
    case Errc::Limit:
      return no(ResponseCode::limit(), "Limit exceeded");
    case Errc::TooBig:
      return no(ResponseCode::too_big(), "Message too big");
    case Errc::Invalid:
      return ImapError{StatusKind::Bad, ResponseCode::client_bug(),
                       msg.empty() ? "Invalid arguments" : msg};
    case Errc::Corrupted:
      return ImapError{StatusKind::No, ResponseCode::corruption(),
                       "Internal error occurred. Refer to server log for more information."};
    case Errc::Io:
    case Errc::Internal:
      break;
  }
  return ImapError{StatusKind::No, ResponseCode::server_bug(),
                   "Internal error occurred. Refer to server log for more information."};
}

}  // namespace cyr::imap
