// Fuzz target: what FETCH writes about a message any sender made
// (server/imapd/fetch_format.h through server/imap/response.h). Header
// text reaches the client inside ENVELOPE and BODYSTRUCTURE: written wrong,
// a crafted header could end the response early and inject lines of its
// own. So the output is read back by an independent reader of IMAP syntax.
#include <algorithm>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "server/imap/response.h"
#include "server/imapd/fetch_format.h"
#include "store/mail/message.h"
#include "tests/unit/fuzz/targets.h"

namespace cyr::fuzz {
namespace {

// A value of an IMAP response (RFC 3501 9: nil, number/atom, string, list).
struct Node {
  enum Kind { Nil, Atom, String, List } kind = Nil;
  std::string text;
  std::vector<Node> items;
  bool operator==(const Node&) const = default;
};

// Reads one value at in[pos]; fails the check on anything IMAP does not allow.
Node read_value(std::string_view in, size_t& pos, bool utf8, int depth) {
  FUZZ_CHECK(depth < 200);
  FUZZ_CHECK(pos < in.size());
  Node n;
  char c = in[pos];
  if (c == '(') {
    n.kind = Node::List;
    ++pos;
    bool first = true;
    for (;;) {
      FUZZ_CHECK(pos < in.size());
      if (in[pos] == ')') {
        ++pos;
        return n;
      }
      // One space between items; none between the bodies of a multipart's
      // BODYSTRUCTURE ("1*body SP media-subtype", RFC 3501 9).
      if (!first && !(in[pos] == '(' && n.items.back().kind == Node::List)) {
        FUZZ_CHECK(in[pos] == ' ');
        ++pos;
      }
      first = false;
      n.items.push_back(read_value(in, pos, utf8, depth + 1));
    }
  }
  if (c == '"') {
    n.kind = Node::String;
    ++pos;
    for (;;) {
      FUZZ_CHECK(pos < in.size());
      unsigned char q = static_cast<unsigned char>(in[pos++]);
      if (q == '"') return n;
      if (q == '\\') {
        FUZZ_CHECK(pos < in.size());
        q = static_cast<unsigned char>(in[pos++]);
        FUZZ_CHECK(q == '"' || q == '\\');
      }
      FUZZ_CHECK(q != '\r' && q != '\n' && q != 0);
      if (!utf8) FUZZ_CHECK(q < 0x80);
      n.text.push_back(static_cast<char>(q));
    }
  }
  if (c == '{' || (c == '~' && pos + 1 < in.size() && in[pos + 1] == '{')) {
    pos += c == '~' ? 2 : 1;
    size_t len = 0, digits = 0;
    while (pos < in.size() && in[pos] >= '0' && in[pos] <= '9') {
      FUZZ_CHECK(++digits <= 18);
      len = len * 10 + static_cast<size_t>(in[pos++] - '0');
    }
    FUZZ_CHECK(digits > 0);
    FUZZ_CHECK(in.substr(pos, 3) == "}\r\n");
    pos += 3;
    FUZZ_CHECK(len <= in.size() - pos);
    n.kind = Node::String;
    n.text = std::string(in.substr(pos, len));
    pos += len;
    return n;
  }
  // An atom (numbers and NIL included): ATOM-CHAR, plus '\' for flags.
  size_t start = pos;
  while (pos < in.size()) {
    unsigned char a = static_cast<unsigned char>(in[pos]);
    if (a == ' ' || a == ')' || a == '\r') break;
    FUZZ_CHECK(a > 0x20 && a < 0x7f && a != '(' && a != '{' && a != '"' && a != '%' && a != '*');
    ++pos;
  }
  FUZZ_CHECK(pos > start);
  n.text = std::string(in.substr(start, pos - start));
  n.kind = n.text == "NIL" ? Node::Nil : Node::Atom;
  return n;
}

// The string a client reads from an nstring.
std::optional<std::string> text_of(const Node& n) {
  FUZZ_CHECK(n.kind == Node::Nil || n.kind == Node::String);
  if (n.kind == Node::Nil) return std::nullopt;
  return n.text;
}

void check_addresses(const Node& n, const std::vector<mail::Address>& want) {
  if (want.empty()) {
    FUZZ_CHECK(n.kind == Node::Nil);
    return;
  }
  FUZZ_CHECK(n.kind == Node::List && n.items.size() == want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    const Node& a = n.items[i];
    FUZZ_CHECK(a.kind == Node::List && a.items.size() == 4);
    // Group markers and mailboxes alike: what was parsed is what is read.
    if (want[i].kind == mail::Address::Kind::Mailbox) {
      FUZZ_CHECK(text_of(a.items[0]) == want[i].name);
      FUZZ_CHECK(text_of(a.items[1]) == want[i].adl);
    }
    FUZZ_CHECK(text_of(a.items[2]) == want[i].mailbox);
    FUZZ_CHECK(text_of(a.items[3]) == want[i].host);
  }
}

void check_envelope(const Node& env, const mail::Envelope& want) {
  FUZZ_CHECK(env.kind == Node::List && env.items.size() == 10);
  FUZZ_CHECK(text_of(env.items[0]) == want.date);
  FUZZ_CHECK(text_of(env.items[1]) == want.subject);
  check_addresses(env.items[2], want.from);
  check_addresses(env.items[3], want.sender);
  check_addresses(env.items[4], want.reply_to);
  check_addresses(env.items[5], want.to);
  check_addresses(env.items[6], want.cc);
  check_addresses(env.items[7], want.bcc);
  FUZZ_CHECK(text_of(env.items[8]) == want.in_reply_to);
  FUZZ_CHECK(text_of(env.items[9]) == want.message_id);
}

}  // namespace

int fetch(const uint8_t* data, size_t size) {
  if (size > kMaxInput) size = kMaxInput;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  mail::MessageStructure msg = mail::parse_message(
      in, {kMessageMaxDepth, kMessageMaxParts, kMessageMaxHeaderBytes, kMessageMaxHeaderFields, kMessageMaxAddresses});
  for (bool utf8 : {false, true}) {
    std::string out;
    imap::WriterOptions o;
    o.utf8 = utf8;
    o.max_quoted = 64;
    imap::ResponseWriter w(out, o);
    w.begin_untagged().number(1).atom("FETCH").begin_list().atom("ENVELOPE");
    imapd::write_envelope(w, msg.envelope);
    w.atom("BODYSTRUCTURE");
    imapd::write_body_structure(w, msg.root, true);
    w.atom("BODY");
    imapd::write_body_structure(w, msg.root, false);
    w.atom("ENVELOPE");
    imapd::write_envelope(w, mail::EnvelopeView::of(msg.envelope));
    w.end_list();
    w.end_line();
    // Header text in a status line (an error that quotes it) stays one line.
    w.tagged("a1", imap::StatusKind::No, imap::ResponseCode(), msg.envelope.subject.value_or(""));

    std::string_view text = out;
    FUZZ_CHECK(text.substr(0, 10) == "* 1 FETCH ");
    size_t pos = 10;
    Node items = read_value(text, pos, utf8, 0);
    FUZZ_CHECK(text.substr(pos, 2) == "\r\n");
    pos += 2;
    FUZZ_CHECK(items.kind == Node::List && items.items.size() == 8);
    check_envelope(items.items[1], msg.envelope);
    FUZZ_CHECK(items.items[7] == items.items[1]);  // the view writes what the value writes
    FUZZ_CHECK(items.items[3].kind == Node::List && items.items[5].kind == Node::List);
    // The status line: "a1 NO " + text without a line break, then CRLF, then nothing.
    std::string_view status = text.substr(pos);
    FUZZ_CHECK(status.substr(0, 6) == "a1 NO ");
    size_t crlf = status.find("\r\n");
    FUZZ_CHECK(crlf != std::string_view::npos && crlf + 2 == status.size());
    FUZZ_CHECK(status.substr(0, crlf).find_first_of("\r\n") == std::string_view::npos);
  }
  // PREVIEW (RFC 8970): whatever the part holds, the preview is valid UTF-8
  // of at most kPreviewMaxChars characters with no control characters, read
  // from at most kPreviewMaxRawBytes of the part.
  if (const mail::BodyPart* part = imapd::preview_part(msg); part && part->body_offset <= in.size()) {
    const uint64_t want = std::min<uint64_t>(part->body_size, imapd::kPreviewMaxRawBytes);
    std::string_view raw = in.substr(part->body_offset, want);
    std::string p = imapd::make_preview(*part, raw, want < part->body_size);
    size_t chars = 0;
    for (size_t i = 0; i < p.size(); ++chars) {
      const unsigned char c = static_cast<unsigned char>(p[i]);
      FUZZ_CHECK(c >= 0x20 && c != 0x7f);
      const size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 0;
      FUZZ_CHECK(len > 0 && i + len <= p.size());
      for (size_t k = 1; k < len; ++k) FUZZ_CHECK((static_cast<unsigned char>(p[i + k]) & 0xc0) == 0x80);
      i += len;
    }
    FUZZ_CHECK(chars <= imapd::kPreviewMaxChars);
  }
  return 0;
}

}  // namespace cyr::fuzz
