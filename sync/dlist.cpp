#include "sync/dlist.h"

#include <charconv>
#include <cstdio>

namespace cyr::sync {

const char* value_kind_name(ValueKind k) {
  switch (k) {
    case ValueKind::Nil: return "NIL";
    case ValueKind::String: return "string";
    case ValueKind::Number: return "number";
    case ValueKind::Flag: return "flag";
    case ValueKind::List: return "list";
    case ValueKind::KvList: return "key/value list";
    case ValueKind::File: return "file literal";
  }
  return "unknown";
}

namespace {

char to_lower_ascii(char c) { return (c >= 'A' && c <= 'Z') ? char(c - 'A' + 'a') : c; }

bool is_hex_digit(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

Error bad_value(std::string_view key, const char* what) {
  std::string msg = "bad parameter";
  if (!key.empty()) {
    msg += " ";
    msg.append(key);
  }
  msg += ": ";
  msg += what;
  return Error(Errc::Invalid, msg);
}

// Cyrus's imparse_isnatom: the rules under which a string may go bare.
bool is_atom(std::string_view s) {
  if (s.empty() || s.size() >= 1024) return false;
  for (unsigned char c : s) {
    if (c >= 0x80 || c < 0x1F || c == 0x7F || c == ' ' || c == '{' || c == '(' || c == ')' ||
        c == '"' || c == '%' || c == '*' || c == '\\')
      return false;
  }
  return true;
}

// Cyrus's prot_printstring: quoted if short and free of these bytes.
bool is_quotable(std::string_view s) {
  if (s.size() >= 1024) return false;
  for (unsigned char c : s) {
    if (c >= 0x80 || c == '\r' || c == '\n' || c == '"' || c == '%' || c == '\\' || c == 0)
      return false;
  }
  return true;
}

void append_u64(std::string& out, uint64_t n) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, n);
  out.append(buf, r.ptr);
}

}  // namespace

bool is_guid_hex(std::string_view s) {
  if (s.size() != 40) return false;
  for (char c : s)
    if (!is_hex_digit(c)) return false;
  return true;
}

Value Value::str(std::string bytes) {
  Value v;
  v.kind_ = ValueKind::String;
  v.bytes_ = std::move(bytes);
  return v;
}

Value Value::num(uint64_t n) {
  Value v;
  v.kind_ = ValueKind::Number;
  v.num_ = n;
  return v;
}

Value Value::date(int64_t unix_seconds) { return num(static_cast<uint64_t>(unix_seconds)); }

Value Value::guid(std::string_view hex40) {
  std::string s(hex40);
  for (char& c : s) c = to_lower_ascii(c);
  return str(std::move(s));
}

Value Value::hex64(uint64_t n) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(n));
  return str(std::string(buf, 16));
}

Value Value::flag(std::string token) {
  Value v;
  v.kind_ = ValueKind::Flag;
  v.bytes_ = std::move(token);
  return v;
}

Value Value::list() {
  Value v;
  v.kind_ = ValueKind::List;
  return v;
}

Value Value::kvlist() {
  Value v;
  v.kind_ = ValueKind::KvList;
  return v;
}

Value Value::file(FileLiteral f) {
  Value v;
  v.kind_ = ValueKind::File;
  v.file_ = std::move(f);
  return v;
}

Value& Value::push(Value item) {
  item.key_.clear();
  items_.push_back(std::move(item));
  return items_.back();
}

Value& Value::add(std::string key, Value item) {
  item.key_ = std::move(key);
  items_.push_back(std::move(item));
  return items_.back();
}

Result<std::string_view> Value::as_str() const {
  if (kind_ != ValueKind::String) return bad_value(key_, "expected a string");
  return std::string_view(bytes_);
}

Result<uint64_t> Value::as_num() const {
  if (kind_ == ValueKind::Number) return num_;
  if (kind_ != ValueKind::String) return bad_value(key_, "expected a number");
  if (bytes_.empty() || bytes_.size() > 20) return bad_value(key_, "expected a number");
  uint64_t n = 0;
  auto r = std::from_chars(bytes_.data(), bytes_.data() + bytes_.size(), n);
  if (r.ec != std::errc() || r.ptr != bytes_.data() + bytes_.size())
    return bad_value(key_, "expected a number");
  return n;
}

Result<int64_t> Value::as_date() const {
  auto n = as_num();
  CYR_TRY(n);
  return static_cast<int64_t>(*n);
}

Result<std::string> Value::as_guid() const {
  if (kind_ != ValueKind::String || !is_guid_hex(bytes_))
    return bad_value(key_, "expected a 40-digit hex GUID");
  std::string s = bytes_;
  for (char& c : s) c = to_lower_ascii(c);
  return s;
}

Result<uint64_t> Value::as_hex64() const {
  if (kind_ != ValueKind::String || bytes_.empty() || bytes_.size() > 16)
    return bad_value(key_, "expected a 64-bit hex number");
  uint64_t n = 0;
  auto r = std::from_chars(bytes_.data(), bytes_.data() + bytes_.size(), n, 16);
  if (r.ec != std::errc() || r.ptr != bytes_.data() + bytes_.size())
    return bad_value(key_, "expected a 64-bit hex number");
  return n;
}

const Value* Value::child(std::string_view key) const {
  if (kind_ != ValueKind::KvList) return nullptr;
  for (const Value& v : items_)
    if (v.key_ == key) return &v;
  return nullptr;
}

Result<const Value*> Value::require(std::string_view key) const {
  const Value* v = child(key);
  if (!v) return bad_value(key, "missing");
  return v;
}

Result<std::string_view> Value::get_str(std::string_view key) const {
  auto v = require(key);
  CYR_TRY(v);
  return (*v)->as_str();
}

Result<uint64_t> Value::get_num(std::string_view key) const {
  auto v = require(key);
  CYR_TRY(v);
  return (*v)->as_num();
}

Result<uint32_t> Value::get_num32(std::string_view key) const {
  auto n = get_num(key);
  CYR_TRY(n);
  return static_cast<uint32_t>(*n);
}

Result<int64_t> Value::get_date(std::string_view key) const {
  auto v = require(key);
  CYR_TRY(v);
  return (*v)->as_date();
}

Result<std::string> Value::get_guid(std::string_view key) const {
  auto v = require(key);
  CYR_TRY(v);
  return (*v)->as_guid();
}

Result<uint64_t> Value::get_hex64(std::string_view key) const {
  auto v = require(key);
  CYR_TRY(v);
  return (*v)->as_hex64();
}

Result<const Value*> Value::get_list(std::string_view key) const {
  auto v = require(key);
  CYR_TRY(v);
  if ((*v)->kind() != ValueKind::List) return bad_value(key, "expected a list");
  return *v;
}

Result<const Value*> Value::get_kvlist(std::string_view key) const {
  auto v = require(key);
  CYR_TRY(v);
  if ((*v)->kind() != ValueKind::KvList) return bad_value(key, "expected a key/value list");
  return *v;
}

Result<const FileLiteral*> Value::get_file(std::string_view key) const {
  auto v = require(key);
  CYR_TRY(v);
  if ((*v)->kind() != ValueKind::File) return bad_value(key, "expected a file literal");
  return &(*v)->file_;
}

bool operator==(const Value& a, const Value& b) {
  if (a.kind_ != b.kind_ || a.key_ != b.key_) return false;
  switch (a.kind_) {
    case ValueKind::Nil: return true;
    case ValueKind::String:
    case ValueKind::Flag: return a.bytes_ == b.bytes_;
    case ValueKind::Number: return a.num_ == b.num_;
    case ValueKind::List:
    case ValueKind::KvList: return a.items_ == b.items_;
    case ValueKind::File: {
      const FileLiteral& x = a.file_;
      const FileLiteral& y = b.file_;
      return x.partition == y.partition && x.guid == y.guid && x.size == y.size &&
             x.in_memory == y.in_memory && x.body == y.body && x.stored_as == y.stored_as;
    }
  }
  return false;
}

void StringOutput::file_body(const FileLiteral& f) {
  if (!f.in_memory || f.body.size() != f.size) {
    complete_ = false;
    return;
  }
  out_.append(f.body);
}

bool is_partition_name(std::string_view p) {
  if (p.empty() || p.size() > kMaxPartitionName) return false;
  for (unsigned char c : p)
    if (c < 0x20 || c == 0x7F || c >= 0x80 || c == '"' || c == '{' || c == '}' || c == ' ' || c == '(' || c == ')')
      return false;
  return true;
}

void encode_astring(std::string_view bytes, std::string& out) {
  // A bare NIL would read back as the null value, so the string "NIL" is quoted.
  if (bytes == "NIL") {
    out.append("\"NIL\"");
  } else if (is_atom(bytes)) {
    out.append(bytes);
  } else if (is_quotable(bytes)) {
    out.push_back('"');
    out.append(bytes);
    out.push_back('"');
  } else {
    // Both Cyrus ends always write the non-synchronising form.
    out.push_back('{');
    append_u64(out, bytes.size());
    out.append("+}\r\n");
    out.append(bytes);
  }
}

namespace {

void encode_into(const Value& v, EncodeOutput& out, std::string& buf);

// A file literal's partition is written bare, as Cyrus writes it. One that
// could not be (never read by our decoder, nor a configured partition name)
// is quoted, never a literal, which the header cannot hold.
void encode_partition(std::string_view p, std::string& out) {
  if (is_partition_name(p)) {
    out.append(p);
    return;
  }
  out.push_back('"');
  for (char c : p) {
    if (c == '"' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  out.push_back('"');
}

void flush(EncodeOutput& out, std::string& buf) {
  if (!buf.empty()) {
    out.text(buf);
    buf.clear();
  }
}

void encode_items(const Value& v, EncodeOutput& out, std::string& buf, bool with_keys) {
  bool first = true;
  for (const Value& item : v.items()) {
    if (!first) buf.push_back(' ');
    first = false;
    if (with_keys) {
      // Keys are upper-case atoms in practice; a key that is not an atom is
      // still written so that it reads back the same.
      encode_astring(item.key(), buf);
      buf.push_back(' ');
    }
    encode_into(item, out, buf);
  }
}

void encode_into(const Value& v, EncodeOutput& out, std::string& buf) {
  switch (v.kind()) {
    case ValueKind::Nil: buf.append("NIL"); break;
    case ValueKind::String: encode_astring(v.bytes(), buf); break;
    case ValueKind::Flag: buf.append(v.bytes()); break;
    case ValueKind::Number: append_u64(buf, *v.as_num()); break;
    case ValueKind::List:
      buf.push_back('(');
      encode_items(v, out, buf, false);
      buf.push_back(')');
      break;
    case ValueKind::KvList:
      buf.append("%(");
      encode_items(v, out, buf, true);
      buf.push_back(')');
      break;
    case ValueKind::File: {
      const FileLiteral& f = v.file_literal();
      buf.append("%{");
      encode_partition(f.partition, buf);
      buf.push_back(' ');
      encode_astring(f.guid, buf);
      buf.push_back(' ');
      append_u64(buf, f.size);
      buf.append("}\r\n");
      flush(out, buf);
      out.file_body(f);
      break;
    }
  }
}

}  // namespace

void encode_value(const Value& v, EncodeOutput& out) {
  std::string buf;
  encode_into(v, out, buf);
  flush(out, buf);
}

Result<std::string> encode_value(const Value& v) {
  StringOutput out;
  encode_value(v, out);
  if (!out.complete())
    return Error(Errc::Internal, "file literal body not in memory", "encode_value(string)");
  return std::move(out.str());
}

}  // namespace cyr::sync
