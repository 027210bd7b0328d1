// Dlist: the value type of Cyrus's replication protocol ("csync"), and its
// byte-exact encoder. The decoder lives in sync/dlist_decoder.h.
//
// A Value is one dlist node: NIL, a string (written as atom, quoted string or
// {N+} literal, whichever Cyrus would pick for its bytes), a number, a flag
// (\Seen), a list ( ... ), a key/value list %( KEY value ... ), or a message
// file literal %{partition guid size}. Like a Cyrus dlist node, every Value
// carries a key: the name it has inside a key/value list ("" elsewhere).
// A Value owns its children and, for files held in memory, the file bytes.
// Values are plain data: copyable, no shared state, not synchronised.
// Spec: shared/reference/cyrus-replication.md (the project reference) §2; docs/formats/dlist.md.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "store/base/result.h"

namespace cyr::sync {

enum class ValueKind { Nil, String, Number, Flag, List, KvList, File };

const char* value_kind_name(ValueKind k);

// A message file carried as %{partition guid size}<CRLF><size bytes>.
// The body is either held in `body` (in_memory) or was handed to a FileSink
// while decoding, which returned `stored_as` (for example a staging path).
struct FileLiteral {
  std::string partition;
  std::string guid;  // 40 lower-case hex digits
  uint64_t size = 0;
  bool in_memory = true;
  std::string body;       // valid when in_memory; exactly `size` bytes
  std::string stored_as;  // valid when !in_memory
};

class Value {
 public:
  Value() = default;  // NIL

  // --- Construction -------------------------------------------------------
  static Value nil() { return Value(); }
  // Any bytes. The encoder picks atom, quoted string or literal from content.
  static Value str(std::string bytes);
  static Value num(uint64_t n);
  // Unix seconds. Cyrus writes time_t as unsigned decimal; so do we.
  static Value date(int64_t unix_seconds);
  // 40 hex digits; written lower-case. Not validated here (see is_guid_hex).
  static Value guid(std::string_view hex40);
  // A 64-bit id written as exactly 16 lower-case hex digits (conversation id).
  static Value hex64(uint64_t n);
  // A system flag token such as "\\Seen", written verbatim.
  static Value flag(std::string token);
  static Value list();
  static Value kvlist();
  static Value file(FileLiteral f);

  // --- Inspection ---------------------------------------------------------
  ValueKind kind() const { return kind_; }
  bool is_nil() const { return kind_ == ValueKind::Nil; }
  const std::string& key() const { return key_; }
  // String bytes or flag token; empty for other kinds.
  const std::string& bytes() const { return bytes_; }
  // Items of a List or KvList (each KvList item has its key set).
  const std::vector<Value>& items() const { return items_; }
  std::vector<Value>& items() { return items_; }
  const FileLiteral& file_literal() const { return file_; }
  FileLiteral& file_literal() { return file_; }

  // --- Building lists -----------------------------------------------------
  // Appends to a List (the item's key is cleared). Returns the stored item.
  Value& push(Value item);
  // Appends KEY value to a KvList. Returns the stored item.
  Value& add(std::string key, Value item);
  Value& add_str(std::string key, std::string bytes) { return add(std::move(key), str(std::move(bytes))); }
  Value& add_num(std::string key, uint64_t n) { return add(std::move(key), num(n)); }
  Value& add_date(std::string key, int64_t t) { return add(std::move(key), date(t)); }
  Value& add_guid(std::string key, std::string_view hex) { return add(std::move(key), guid(hex)); }
  Value& add_hex64(std::string key, uint64_t n) { return add(std::move(key), hex64(n)); }
  Value& add_flag(std::string key, std::string token) { return add(std::move(key), flag(std::move(token))); }
  Value& add_nil(std::string key) { return add(std::move(key), nil()); }
  Value& add_list(std::string key) { return add(std::move(key), list()); }
  Value& add_kvlist(std::string key) { return add(std::move(key), kvlist()); }

  // --- Typed reading of this value ---------------------------------------
  // Errors are Errc::Invalid with a message naming the key, suitable for
  // "NO IMAP_PROTOCOL_BAD_PARAMETERS".
  Result<std::string_view> as_str() const;  // String (any wire form)
  Result<uint64_t> as_num() const;          // Number, or a String of 1-20 digits
  Result<int64_t> as_date() const;          // as_num, cast as Cyrus does
  Result<std::string> as_guid() const;      // exactly 40 hex digits, lower-cased
  Result<uint64_t> as_hex64() const;        // 1-16 hex digits (written as 16)

  // --- Typed reading by key (KvList) ----------------------------------------
  // The first child with this key, or nullptr. Readers ask only for the keys
  // they know, so unknown keys are ignored, as every Cyrus version does.
  const Value* child(std::string_view key) const;
  bool has(std::string_view key) const { return child(key) != nullptr; }
  Result<std::string_view> get_str(std::string_view key) const;
  Result<std::string_view> get_atom(std::string_view key) const { return get_str(key); }
  Result<uint64_t> get_num(std::string_view key) const;
  // 32-bit protocol fields (UID, UIDVALIDITY): truncated like Cyrus's reader.
  Result<uint32_t> get_num32(std::string_view key) const;
  Result<int64_t> get_date(std::string_view key) const;
  Result<std::string> get_guid(std::string_view key) const;
  Result<uint64_t> get_hex64(std::string_view key) const;
  Result<const Value*> get_list(std::string_view key) const;    // a List
  Result<const Value*> get_kvlist(std::string_view key) const;  // a KvList
  Result<const FileLiteral*> get_file(std::string_view key) const;

  // Structural equality: kind, key, content. A Number equals a String only
  // if both are the same kind; use as_num() to compare numerically.
  friend bool operator==(const Value& a, const Value& b);

 private:
  Result<const Value*> require(std::string_view key) const;

  ValueKind kind_ = ValueKind::Nil;
  std::string key_;
  std::string bytes_;
  uint64_t num_ = 0;
  std::vector<Value> items_;
  FileLiteral file_;
};

bool is_guid_hex(std::string_view s);

// --- Encoding ---------------------------------------------------------------

// Where the encoder writes. A transport implements file_body() to stream a
// message file from disk instead of holding it in memory.
class EncodeOutput {
 public:
  virtual ~EncodeOutput() = default;
  virtual void text(std::string_view bytes) = 0;
  // Called right after a file literal's header; must produce exactly f.size bytes.
  virtual void file_body(const FileLiteral& f) = 0;
};

// Collects everything into a string; bodies must be in memory.
class StringOutput final : public EncodeOutput {
 public:
  void text(std::string_view bytes) override { out_.append(bytes); }
  void file_body(const FileLiteral& f) override;
  // False if a file body was not in memory (its bytes are then missing).
  bool complete() const { return complete_; }
  std::string& str() { return out_; }

 private:
  std::string out_;
  bool complete_ = true;
};

// How Cyrus would write these bytes as an astring (atom if it can, else a
// quoted string, else a {N+} literal). Appends to `out`.
void encode_astring(std::string_view bytes, std::string& out);

// A file literal's partition as it can stand in its header, written bare
// (as Cyrus writes it): 1..kMaxPartitionName bytes, none of them a space,
// brace, parenthesis, quote, control or 8-bit byte. The decoder takes no
// other (the header must fit what the line framer looks back over).
inline constexpr size_t kMaxPartitionName = 200;
bool is_partition_name(std::string_view p);

// Writes one value exactly as Cyrus's dlist printer does. Keys are written
// only for the items of a KvList.
void encode_value(const Value& v, EncodeOutput& out);

// Convenience for values whose files are all in memory.
Result<std::string> encode_value(const Value& v);

}  // namespace cyr::sync
