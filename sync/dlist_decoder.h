// Incremental, bounded decoding of csync protocol lines into dlist Values.
//
// Two stages, so that parsing stays separate from I/O:
//  1. LineFramer takes bytes as they arrive from the network and cuts them
//     into one RawLine: the text of the line plus, in order, the payloads of
//     its {N+} literals and %{partition guid size} file literals. A file
//     body is handed to a FileSink as it arrives (for example streamed to a
//     staging file), so a large message is never held in memory.
//  2. DlistParser turns a complete RawLine into Values (recursive descent,
//     bounded depth, item count and token length).
// Every bound violation or syntax error yields an Error and changes nothing
// outside the decoder. After an error the framer still consumes the rest of
// the line, skipping literal and file payloads, so the stream stays in step
// (what Cyrus's sync_server does after "Failed to parse APPLY line").
// A LineFramer holds one connection's input state; not thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "store/base/result.h"
#include "sync/dlist.h"

namespace cyr::sync {

struct DlistLimits {
  size_t max_line_text = 32u << 20;        // bytes of one line outside literal payloads
  size_t max_token = 4096;                 // one atom, quoted string, flag or key
  size_t max_depth = 16;                   // nesting of ( ) and %( )
  size_t max_items = 1000000;              // values in one line (8193 records fit)
  uint64_t max_literal = 16u << 20;        // one {N+} literal (held in memory)
  uint64_t max_memory_payload = 64u << 20; // all in-memory payloads of one line
  uint64_t max_file = 1ull << 32;          // one file literal's body
  // With a FileSinkFactory: file literals up to this size are still held in
  // memory (counted in max_memory_payload; past it they go to a sink). 0:
  // every file literal goes to the sink.
  uint64_t max_memory_file = 0;
};

// Receives one file literal's body while it is being read.
// Destroying a sink without commit() abandons the file (and must clean up).
class FileSink {
 public:
  virtual ~FileSink() = default;
  virtual Status write(std::string_view bytes) = 0;
  // All `size` bytes were written. Returns where the file now is.
  virtual Result<std::string> commit() = 0;
};

class FileSinkFactory {
 public:
  virtual ~FileSinkFactory() = default;
  // Called when a %{partition guid size} header has been read. An error makes
  // the line fail; its body is still read and discarded.
  virtual Result<std::unique_ptr<FileSink>> open(const std::string& partition,
                                                 const std::string& guid, uint64_t size) = 0;
};

// One protocol line as framed: the text outside literal payloads (literal
// headers and the line break after them included, final CRLF stripped), and
// the payloads in the order they appear.
struct RawLine {
  struct Payload {
    size_t text_pos = 0;  // offset in text right after the header's line break
    bool is_file = false;
    std::string bytes;    // a {N} literal's bytes
    FileLiteral file;     // a file literal (body in memory or stored by a sink)
  };
  std::string text;
  std::vector<Payload> payloads;
};

class LineFramer {
 public:
  // `files` may be null: file bodies are then held in memory, within
  // limits.max_memory_payload. The factory must outlive the framer.
  explicit LineFramer(DlistLimits limits = {}, FileSinkFactory* files = nullptr);

  // Consumes bytes up to and including the end of one line and returns how
  // many were consumed. Once line_ready(), no more bytes are consumed until
  // take_line() is called.
  size_t feed(std::string_view in);
  bool line_ready() const { return state_ == State::Done; }
  // True when some bytes of a line have been consumed but it is not complete.
  bool in_line() const { return state_ != State::Done && started_; }
  // True while the bytes of a literal or file literal are being read.
  bool in_payload() const { return state_ == State::Payload; }
  // The complete line, or the first error found in it. Resets for the next line.
  Result<RawLine> take_line();

 private:
  enum class State { Text, Payload, Done };
  void append_text(std::string_view chunk);
  void on_line_break();
  void begin_payload(uint64_t size, bool is_file, std::string partition, std::string guid);
  void payload_bytes(std::string_view bytes);
  void end_payload();
  void fail(Error e);

  DlistLimits limits_;
  FileSinkFactory* files_;
  State state_ = State::Text;
  bool started_ = false;
  RawLine line_;
  std::string tail_;  // end of the current segment, to recognise literal headers
  std::optional<Error> error_;
  uint64_t remaining_ = 0;   // payload bytes still to come
  bool discarding_ = false;  // current payload is skipped (after an error)
  uint64_t memory_used_ = 0;
  std::unique_ptr<FileSink> sink_;
};

// Reads dlist values from a complete RawLine. File payloads are moved out of
// the line into the returned Values.
class DlistParser {
 public:
  DlistParser(RawLine& line, const DlistLimits& limits) : line_(line), limits_(limits) {}

  void skip_space();
  bool at_end() const { return pos_ >= line_.text.size(); }
  size_t pos() const { return pos_; }
  // A bare word (verb, reply status, operation name) up to the next space;
  // a CR, LF, NUL or '{' in it (a literal where a word belongs) is an error.
  Result<std::string> word();
  // The rest of the line as raw text (after one separating space, if any).
  Result<std::string> rest_as_text();
  Result<Value> value();
  // True when every literal payload of the line was consumed by value().
  bool all_payloads_used() const { return next_payload_ == line_.payloads.size(); }

 private:
  Result<Value> value_at(size_t depth);
  // `stop` is one more byte that ends a bare token ('}' inside %{...}).
  Result<std::string> astring(const char* what, char stop = 0);
  Result<std::string> atom_chars(const char* what, char stop = 0);
  Result<std::string> quoted();
  Result<RawLine::Payload*> payload_after_header(bool is_file);
  Status line_break();
  Error error(std::string what) const;

  RawLine& line_;
  const DlistLimits& limits_;
  size_t pos_ = 0;
  size_t next_payload_ = 0;
  size_t items_ = 0;
};

// Decodes one standalone value from complete bytes (literals inline; no
// trailing CRLF needed). File bodies are held in memory. For tests, stored
// state and tools; the network path uses LineFramer.
Result<Value> decode_value(std::string_view bytes, const DlistLimits& limits = {});

}  // namespace cyr::sync
