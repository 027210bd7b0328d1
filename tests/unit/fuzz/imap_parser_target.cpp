// Fuzz target: bytes from an IMAP client (server/imap/parser.h).
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "server/imap/imap_url.h"
#include "server/imap/parser.h"
#include "tests/unit/fuzz/targets.h"

namespace cyr::fuzz {
namespace {

// One parser event in a comparable form; the chunks of one APPEND message
// are joined (they depend on how the input was split, the bytes do not).
struct Event {
  char kind = 0;
  uint64_t a = 0, b = 0;
  std::string text;
  std::optional<imap::Request> request;
  imap::ParseError error;
  bool operator==(const Event&) const = default;
};

// Feeds `in` in pieces of `piece` bytes (0: all at once) and returns the
// events, as a session would see them. After IDLE, and AUTHENTICATE without
// an initial response, it reads a line (expect_line), as the real one does.
std::vector<Event> run(std::string_view in, size_t piece) {
  imap::ParserLimits lim;
  lim.max_line = 4096;
  lim.max_literal = 4096;
  lim.max_literal_total = 16384;
  lim.max_message = 65536;
  lim.max_raw_command = 65536;
  lim.max_skip = 65536;
  lim.max_items = 500;
  lim.max_depth = 32;
  imap::Parser p(lim);
  std::vector<Event> out;
  size_t pos = 0;
  bool message_open = false;
  for (int steps = 0; steps < 200000; ++steps) {
    imap::ParseResult r = p.next();
    if (std::holds_alternative<imap::NeedMore>(r)) {
      if (pos >= in.size()) break;
      size_t n = piece == 0 ? in.size() - pos : std::min(piece, in.size() - pos);
      p.feed(in.substr(pos, n));
      pos += n;
      continue;
    }
    if (auto* d = std::get_if<imap::MessageData>(&r)) {
      FUZZ_CHECK(message_open);
      if (out.empty() || out.back().kind != 'D' || out.back().a != 0) {
        Event chunk;
        chunk.kind = 'D';
        out.push_back(std::move(chunk));
      }
      out.back().text.append(d->bytes);
      if (d->last) {
        out.back().a = 1;
        message_open = false;
      }
      continue;
    }
    FUZZ_CHECK(!message_open);
    Event e;
    if (auto* l = std::get_if<imap::NeedLiteral>(&r)) {
      e.kind = 'L';
      e.a = l->size;
      FUZZ_CHECK(l->size <= lim.max_literal);
    } else if (auto* m = std::get_if<imap::MessageLiteral>(&r)) {
      e.kind = 'M';
      e.a = m->size;
      e.b = m->index * 4 + m->synchronizing * 2 + m->binary;
      FUZZ_CHECK(m->size <= lim.max_message);
      message_open = true;  // its bytes follow as MessageData, the last one marked (even for {0})
    } else if (auto* q = std::get_if<imap::Request>(&r)) {
      e.kind = 'R';
      e.request = *q;
      const imap::Command& c = q->command;
      if (c.id == imap::CommandId::Idle ||
          (c.id == imap::CommandId::Authenticate && !c.as<imap::AuthenticateArgs>().initial_response))
        p.expect_line();
    } else if (auto* err = std::get_if<imap::ParseError>(&r)) {
      e.kind = 'E';
      e.error = *err;
      // Replies go to the client: no CR or LF may end them early.
      FUZZ_CHECK(err->text.find_first_of("\r\n") == std::string::npos);
      FUZZ_CHECK(err->tag.find_first_of("\r\n ") == std::string::npos);
    } else if (auto* c = std::get_if<imap::ContinuationLine>(&r)) {
      e.kind = 'C';
      e.text = c->text;
      FUZZ_CHECK(c->text.size() <= lim.max_line);
    }
    out.push_back(std::move(e));
    if (out.back().kind == 'E' && out.back().error.kind == imap::ParseError::Kind::Bye) break;
    // The parser holds at most a line, the literals of one command and a
    // raw command's bytes; anything more would be input it never let go.
    FUZZ_CHECK(p.buffered() <= in.size());
  }
  return out;
}

}  // namespace

int imap_parser(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  // The first byte picks how the rest is cut into reads.
  size_t piece = 1 + data[0] % 64;
  std::string_view in(reinterpret_cast<const char*>(data + 1), std::min(size - 1, kMaxInput));
  auto whole = run(in, 0);
  auto pieces = run(in, piece);
  // parser.h: feeding input in pieces of any size gives exactly the same events.
  FUZZ_CHECK(whole == pieces);
  // A CATENATE URL part (imap_url.h) is read from the same kind of bytes.
  // What it accepts names a message (UID 1 or more) and decodes to text
  // without NUL, CR or LF; parsing is deterministic.
  std::string_view url = in.substr(0, 4096);
  auto parsed = imap::parse_imap_url(url);
  if (parsed) {
    FUZZ_CHECK(parsed->uid != 0);
    FUZZ_CHECK(parsed->mailbox.find_first_of(std::string_view("\0\r\n", 3)) == std::string::npos);
    if (parsed->user) FUZZ_CHECK(parsed->user->find_first_of(std::string_view("\0\r\n", 3)) == std::string::npos);
    auto again = imap::parse_imap_url(url);
    FUZZ_CHECK(again && *again == *parsed);
  }
  return 0;
}

}  // namespace cyr::fuzz
