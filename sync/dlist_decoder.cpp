#include "sync/dlist_decoder.h"

#include <charconv>
#include <cstring>

namespace cyr::sync {

namespace {

// Longest tail of a segment kept to recognise a literal header before a line
// break: "%{" + partition + " " + 40-digit GUID + " " + size + "}".
constexpr size_t kTailKeep = 512;
static_assert(2 + kMaxPartitionName + 1 + 40 + 1 + 20 + 1 <= kTailKeep, "a file literal header must fit the tail");

struct LiteralHeader {
  bool is_file = false;
  uint64_t size = 0;
  std::string partition;
  std::string guid;
};

bool parse_u64(std::string_view s, uint64_t* out) {
  if (s.empty() || s.size() > 20) return false;
  for (char c : s)
    if (c < '0' || c > '9') return false;
  auto r = std::from_chars(s.data(), s.data() + s.size(), *out);
  return r.ec == std::errc() && r.ptr == s.data() + s.size();
}

// Strips one level of "..." quoting with backslash escapes, if present.
std::string unquote_simple(std::string_view tok) {
  if (tok.size() < 2 || tok.front() != '"' || tok.back() != '"') return std::string(tok);
  std::string out;
  for (size_t i = 1; i + 1 < tok.size(); ++i) {
    if (tok[i] == '\\' && i + 2 < tok.size()) ++i;
    out.push_back(tok[i]);
  }
  return out;
}

// Recognises "{N}", "{N+}" or "%{partition guid N}" at the very end of a
// segment (the text just before a line break). Anything else means the line
// break ends the line.
std::optional<LiteralHeader> literal_header_at_end(std::string_view t) {
  if (t.empty() || t.back() != '}') return std::nullopt;
  size_t open = t.rfind('{');
  if (open == std::string_view::npos) return std::nullopt;
  std::string_view inner = t.substr(open + 1, t.size() - open - 2);
  LiteralHeader h;
  if (open > 0 && t[open - 1] == '%') {
    h.is_file = true;
    size_t s1 = inner.find(' ');
    size_t s2 = inner.rfind(' ');
    if (s1 == std::string_view::npos || s2 == s1) return std::nullopt;
    if (!parse_u64(inner.substr(s2 + 1), &h.size)) return std::nullopt;
    h.partition = unquote_simple(inner.substr(0, s1));
    h.guid = unquote_simple(inner.substr(s1 + 1, s2 - s1 - 1));
    return h;
  }
  if (!inner.empty() && inner.back() == '+') inner.remove_suffix(1);
  if (!parse_u64(inner, &h.size)) return std::nullopt;
  return h;
}

}  // namespace

// ---------------------------------------------------------------- LineFramer

LineFramer::LineFramer(DlistLimits limits, FileSinkFactory* files)
    : limits_(limits), files_(files) {}

void LineFramer::fail(Error e) {
  if (!error_) error_ = std::move(e);
  if (state_ == State::Payload) discarding_ = true;
  sink_.reset();
}

void LineFramer::append_text(std::string_view chunk) {
  if (chunk.empty()) return;
  if (!error_) {
    if (line_.text.size() + chunk.size() > limits_.max_line_text) {
      fail(Error(Errc::Limit, "protocol line too long",
                 "more than " + std::to_string(limits_.max_line_text) + " bytes of text"));
    } else {
      line_.text.append(chunk);
    }
  }
  if (chunk.size() >= kTailKeep) {
    tail_.assign(chunk.substr(chunk.size() - kTailKeep));
  } else {
    tail_.append(chunk);
    if (tail_.size() > kTailKeep) tail_.erase(0, tail_.size() - kTailKeep);
  }
}

size_t LineFramer::feed(std::string_view in) {
  size_t i = 0;
  while (i < in.size() && state_ != State::Done) {
    started_ = true;
    if (state_ == State::Payload) {
      size_t take = static_cast<size_t>(std::min<uint64_t>(remaining_, in.size() - i));
      payload_bytes(in.substr(i, take));
      remaining_ -= take;
      i += take;
      if (remaining_ == 0) end_payload();
      continue;
    }
    const void* nl = std::memchr(in.data() + i, '\n', in.size() - i);
    size_t end = nl ? static_cast<size_t>(static_cast<const char*>(nl) - in.data()) : in.size();
    append_text(in.substr(i, end - i));
    i = end;
    if (nl) {
      ++i;  // the LF itself
      on_line_break();
    }
  }
  return i;
}

void LineFramer::on_line_break() {
  std::string_view t = tail_;
  if (!t.empty() && t.back() == '\r') t.remove_suffix(1);
  auto header = literal_header_at_end(t);
  if (!header) {
    if (!error_ && !line_.text.empty() && line_.text.back() == '\r') line_.text.pop_back();
    state_ = State::Done;
    return;
  }
  // The parser needs the line break after a header to find the payload.
  if (!error_) {
    if (line_.text.size() + 1 > limits_.max_line_text)
      fail(Error(Errc::Limit, "protocol line too long"));
    else
      line_.text.push_back('\n');
  }
  begin_payload(header->size, header->is_file, std::move(header->partition),
                std::move(header->guid));
}

void LineFramer::begin_payload(uint64_t size, bool is_file, std::string partition,
                               std::string guid) {
  tail_.clear();
  remaining_ = size;
  state_ = State::Payload;
  discarding_ = false;
  if (!error_) {
    if (is_file) {
      if (!is_guid_hex(guid) || partition.empty()) {
        fail(Error(Errc::Invalid, "bad file literal header",
                   "partition '" + partition + "' guid '" + guid + "'"));
      } else if (size > limits_.max_file) {
        fail(Error(Errc::TooBig, "message file too big",
                   std::to_string(size) + " bytes for " + guid));
      } else if (files_ && (limits_.max_memory_file == 0 || size > limits_.max_memory_file ||
                            memory_used_ + size > limits_.max_memory_payload)) {
        for (char& c : guid) c = (c >= 'A' && c <= 'F') ? char(c - 'A' + 'a') : c;
        auto sink = files_->open(partition, guid, size);
        if (!sink.ok()) {
          fail(sink.take_error());
        } else {
          sink_ = std::move(sink.value());
        }
      } else if (memory_used_ + size > limits_.max_memory_payload) {
        fail(Error(Errc::TooBig, "message file too big to hold in memory",
                   std::to_string(size) + " bytes for " + guid));
      }
    } else if (size > limits_.max_literal || memory_used_ + size > limits_.max_memory_payload) {
      fail(Error(Errc::TooBig, "literal too big", std::to_string(size) + " bytes"));
    }
  }
  if (error_) {
    discarding_ = true;
  } else {
    RawLine::Payload p;
    p.text_pos = line_.text.size();
    p.is_file = is_file;
    if (is_file) {
      p.file.partition = std::move(partition);
      p.file.guid = std::move(guid);
      for (char& c : p.file.guid) c = (c >= 'A' && c <= 'F') ? char(c - 'A' + 'a') : c;
      p.file.size = size;
      p.file.in_memory = (sink_ == nullptr);
    }
    line_.payloads.push_back(std::move(p));
    if (!is_file || !sink_) memory_used_ += size;
  }
  if (remaining_ == 0) end_payload();
}

void LineFramer::payload_bytes(std::string_view bytes) {
  if (discarding_ || bytes.empty()) return;
  RawLine::Payload& p = line_.payloads.back();
  if (p.is_file && sink_) {
    Status s = sink_->write(bytes);
    if (!s.ok()) fail(s.take_error());
  } else if (p.is_file) {
    p.file.body.append(bytes);
  } else {
    p.bytes.append(bytes);
  }
}

void LineFramer::end_payload() {
  if (!discarding_ && sink_) {
    auto where = sink_->commit();
    if (!where.ok()) {
      fail(where.take_error());
    } else {
      line_.payloads.back().file.stored_as = std::move(where.value());
    }
  }
  sink_.reset();
  discarding_ = false;
  tail_.clear();
  state_ = State::Text;
}

Result<RawLine> LineFramer::take_line() {
  if (state_ != State::Done) return Error(Errc::Internal, "no complete line", "take_line");
  RawLine line = std::move(line_);
  std::optional<Error> err = std::move(error_);
  line_ = RawLine();
  error_.reset();
  state_ = State::Text;
  started_ = false;
  memory_used_ = 0;
  tail_.clear();
  if (err) return std::move(*err);
  return line;
}

// --------------------------------------------------------------- DlistParser

namespace {

bool is_space(char c) { return c == ' ' || c == '\t'; }

// Bytes that end a bare token.
bool ends_token(char c) { return is_space(c) || c == '(' || c == ')' || c == '\r' || c == '\n'; }

// Bytes never allowed inside a bare token: Cyrus never writes these bare.
// 0x1F is allowed: Cyrus's atom test (and ours, dlist.cpp is_atom) lets it
// through, so both ends write it bare.
bool bad_in_token(unsigned char c) { return c < 0x1F || c == 0x7F || c >= 0x80 || c == '"' || c == '{'; }

}  // namespace

Error DlistParser::error(std::string what) const {
  return Error(Errc::Invalid, "dlist: " + what, "at byte " + std::to_string(pos_));
}

void DlistParser::skip_space() {
  while (pos_ < line_.text.size() && is_space(line_.text[pos_])) ++pos_;
}

Result<std::string> DlistParser::word() {
  skip_space();
  size_t start = pos_;
  const std::string& t = line_.text;
  while (pos_ < t.size() && !is_space(t[pos_])) {
    if (pos_ - start >= limits_.max_token) return error("word too long");
    // A line break here is a literal's ("* {3+}" CRLF ...), and a brace
    // could start one: a verb, a key or a code never holds either, and
    // taken as text it could be written back as a literal announcement.
    if (t[pos_] == '\r' || t[pos_] == '\n' || t[pos_] == 0) return error("control byte in word");
    if (t[pos_] == '{') return error("'{' in a word");
    ++pos_;
  }
  return t.substr(start, pos_ - start);
}

Result<std::string> DlistParser::rest_as_text() {
  if (pos_ < line_.text.size() && is_space(line_.text[pos_])) ++pos_;
  std::string rest = line_.text.substr(pos_);
  pos_ = line_.text.size();
  if (!all_payloads_used()) return error("unexpected literal in text");
  for (unsigned char c : rest)
    if (c == '\r' || c == '\n' || c == 0) return error("control byte in text");
  return rest;
}

Result<std::string> DlistParser::atom_chars(const char* what, char stop) {
  const std::string& t = line_.text;
  size_t start = pos_;
  while (pos_ < t.size() && !ends_token(t[pos_]) && (stop == 0 || t[pos_] != stop)) {
    if (bad_in_token(static_cast<unsigned char>(t[pos_])))
      return error(std::string("bad byte in ") + what);
    if (pos_ - start >= limits_.max_token) return error(std::string(what) + " too long");
    ++pos_;
  }
  if (pos_ == start) return error(std::string("expected ") + what);
  return t.substr(start, pos_ - start);
}

Result<std::string> DlistParser::quoted() {
  const std::string& t = line_.text;
  ++pos_;  // opening quote
  std::string out;
  while (true) {
    if (pos_ >= t.size()) return error("unterminated quoted string");
    char c = t[pos_++];
    if (c == '"') return out;
    if (c == '\\') {
      if (pos_ >= t.size()) return error("unterminated quoted string");
      c = t[pos_++];
    }
    if (c == '\r' || c == '\n' || c == 0) return error("bad byte in quoted string");
    if (out.size() >= limits_.max_token) return error("quoted string too long");
    out.push_back(c);
  }
}

Status DlistParser::line_break() {
  const std::string& t = line_.text;
  if (pos_ < t.size() && t[pos_] == '\r') ++pos_;
  if (pos_ < t.size() && t[pos_] == '\n') {
    ++pos_;
    return {};
  }
  return error("literal header not followed by a line break");
}

Result<RawLine::Payload*> DlistParser::payload_after_header(bool is_file) {
  if (next_payload_ >= line_.payloads.size()) return error("literal payload missing");
  RawLine::Payload& p = line_.payloads[next_payload_];
  if (p.text_pos != pos_ || p.is_file != is_file) return error("literal framing mismatch");
  ++next_payload_;
  return &p;
}

// An astring where the grammar needs a name: key, partition, GUID.
Result<std::string> DlistParser::astring(const char* what, char stop) {
  if (at_end()) return error(std::string("expected ") + what);
  char c = line_.text[pos_];
  if (c == '"') return quoted();
  if (c == '{') {
    auto v = value_at(0);
    CYR_TRY(v);
    return std::string(v->bytes());
  }
  return atom_chars(what, stop);
}

Result<Value> DlistParser::value() {
  skip_space();
  return value_at(0);
}

Result<Value> DlistParser::value_at(size_t depth) {
  const std::string& t = line_.text;
  if (at_end()) return error("expected a value");
  if (++items_ > limits_.max_items) {
    return Error(Errc::Limit, "dlist: too many items",
                 "more than " + std::to_string(limits_.max_items));
  }
  char c = t[pos_];
  if (c == '(' || (c == '%' && pos_ + 1 < t.size() && t[pos_ + 1] == '(')) {
    bool kv = (c == '%');
    if (depth + 1 > limits_.max_depth) {
      return Error(Errc::Limit, "dlist: nested too deeply",
                   "depth over " + std::to_string(limits_.max_depth));
    }
    pos_ += kv ? 2 : 1;
    Value list = kv ? Value::kvlist() : Value::list();
    while (true) {
      skip_space();
      if (at_end()) return error(kv ? "unterminated key/value list" : "unterminated list");
      if (t[pos_] == ')') {
        ++pos_;
        return list;
      }
      if (kv) {
        auto key = astring("key");
        CYR_TRY(key);
        if (key->empty()) return error("empty key");
        skip_space();
        auto item = value_at(depth + 1);
        CYR_TRY(item);
        list.add(std::move(key.value()), std::move(item.value()));
      } else {
        auto item = value_at(depth + 1);
        CYR_TRY(item);
        list.push(std::move(item.value()));
      }
    }
  }
  if (c == '%' && pos_ + 1 < t.size() && t[pos_ + 1] == '{') {
    pos_ += 2;
    skip_space();
    // The framer found this header within one segment of text: a literal
    // here would be one it did not see (and could not be written back).
    if (!at_end() && t[pos_] == '{') return error("file literal partition must be an atom or a quoted string");
    auto partition = astring("partition", '}');
    CYR_TRY(partition);
    // What the encoder writes back bare, within what the framer looks back over.
    if (!is_partition_name(*partition)) return error("bad file literal partition");
    skip_space();
    if (!at_end() && t[pos_] == '{') return error("file literal GUID must be an atom or a quoted string");
    auto guid = astring("GUID", '}');
    CYR_TRY(guid);
    if (!is_guid_hex(*guid)) return error("file literal GUID is not 40 hex digits");
    skip_space();
    auto size = atom_chars("size", '}');
    CYR_TRY(size);
    if (at_end() || t[pos_] != '}') return error("unterminated file literal header");
    ++pos_;
    uint64_t n = 0;
    if (!parse_u64(*size, &n)) return error("bad file literal size");
    CYR_TRY(line_break());
    auto p = payload_after_header(true);
    CYR_TRY(p);
    FileLiteral& f = (*p)->file;
    if (f.size != n || (f.in_memory && f.body.size() != n)) return error("file literal size mismatch");
    return Value::file(std::move(f));
  }
  if (c == '%') return error("'%' must be followed by '(' or '{'");
  if (c == '{') {
    ++pos_;
    size_t start = pos_;
    while (pos_ < t.size() && t[pos_] >= '0' && t[pos_] <= '9') ++pos_;
    uint64_t n = 0;
    if (!parse_u64(std::string_view(t).substr(start, pos_ - start), &n))
      return error("bad literal size");
    if (pos_ < t.size() && t[pos_] == '+') ++pos_;
    if (pos_ >= t.size() || t[pos_] != '}') return error("bad literal header");
    ++pos_;
    CYR_TRY(line_break());
    auto p = payload_after_header(false);
    CYR_TRY(p);
    if ((*p)->bytes.size() != n) return error("literal size mismatch");
    return Value::str(std::move((*p)->bytes));
  }
  if (c == '"') {
    auto s = quoted();
    CYR_TRY(s);
    return Value::str(std::move(s.value()));
  }
  if (c == ')') return error("unexpected ')'");
  if (c == '\\') {
    ++pos_;
    auto name = atom_chars("flag");
    CYR_TRY(name);
    return Value::flag("\\" + *name);
  }
  auto atom = atom_chars("atom");
  CYR_TRY(atom);
  // Case matters: Cyrus writes the string "nil" bare and only NIL means null.
  if (*atom == "NIL") return Value::nil();
  return Value::str(std::move(atom.value()));
}

Result<Value> decode_value(std::string_view bytes, const DlistLimits& limits) {
  LineFramer framer(limits, nullptr);
  size_t used = framer.feed(bytes);
  if (used < bytes.size()) return Error(Errc::Invalid, "dlist: bytes after the value");
  if (framer.in_payload()) return Error(Errc::Invalid, "dlist: literal shorter than its size");
  if (!framer.line_ready()) {
    // The value is not followed by a line break: end the line here.
    framer.feed("\r\n");
    if (!framer.line_ready()) return Error(Errc::Invalid, "dlist: incomplete value");
  }
  auto line = framer.take_line();
  CYR_TRY(line);
  DlistParser parser(line.value(), limits);
  auto v = parser.value();
  CYR_TRY(v);
  parser.skip_space();
  if (!parser.at_end()) return Error(Errc::Invalid, "dlist: bytes after the value");
  return v;
}

}  // namespace cyr::sync
