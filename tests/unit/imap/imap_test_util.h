// Test helpers for unit_imap: run a Parser over input the way a session would
// and record its events in a comparable form.
#pragma once

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "server/imap/parser.h"

namespace cyr::imap::test {

// One parser event, copied out of the parser (MessageData chunks of one
// message are merged, since their boundaries depend on how input arrived).
struct Event {
  std::string what;  // "literal 5", "message 5 sync 0", "data <bytes>", "error ...", "line <text>"
  std::optional<Request> request;
  bool operator==(const Event&) const = default;
};

inline std::ostream& operator<<(std::ostream& os, const Event& e) {
  os << e.what;
  if (e.request) os << " request tag=" << e.request->tag;
  return os;
}

// Feeds input in pieces of `chunk` bytes (0: all at once), calling next()
// until NeedMore after each piece. Like a session, it calls expect_line()
// after IDLE and after AUTHENTICATE without an initial response.
inline std::vector<Event> run(std::string_view input, size_t chunk = 0, ParserLimits limits = {}) {
  Parser p(limits);
  std::vector<Event> events;
  auto drain = [&] {
    for (;;) {
      ParseResult r = p.next();
      if (std::holds_alternative<NeedMore>(r)) return;
      if (auto* l = std::get_if<NeedLiteral>(&r)) {
        events.push_back({"literal " + std::to_string(l->size), std::nullopt});
      } else if (auto* m = std::get_if<MessageLiteral>(&r)) {
        events.push_back({"message " + std::to_string(m->size) + " sync " +
                              std::to_string(m->synchronizing) + " index " +
                              std::to_string(m->index),
                          std::nullopt});
        events.push_back({"data ", std::nullopt});
      } else if (auto* d = std::get_if<MessageData>(&r)) {
        events.back().what += std::string(d->bytes);
        if (d->last) events.back().what += "<end>";
      } else if (auto* req = std::get_if<Request>(&r)) {
        events.push_back({"request", *req});
        const Command& c = req->command;
        if (c.id == CommandId::Idle ||
            (c.id == CommandId::Authenticate && !c.as<AuthenticateArgs>().initial_response))
          p.expect_line();
      } else if (auto* e = std::get_if<ParseError>(&r)) {
        const char* k = e->kind == ParseError::Kind::Bad ? "BAD"
                        : e->kind == ParseError::Kind::No ? "NO" : "BYE";
        events.push_back({std::string("error ") + e->tag + " " + k + " [" + e->code + "] " + e->text,
                          std::nullopt});
        if (e->kind == ParseError::Kind::Bye) return;
      } else if (auto* c = std::get_if<ContinuationLine>(&r)) {
        events.push_back({"line " + c->text, std::nullopt});
      }
    }
  };
  if (chunk == 0) chunk = input.size() ? input.size() : 1;
  for (size_t i = 0; i < input.size(); i += chunk) {
    p.feed(input.substr(i, chunk));
    drain();
    if (!events.empty() && events.back().what.rfind("error * BYE", 0) == 0) break;
  }
  if (input.empty()) drain();
  return events;
}

// The single Request that input must produce (fails the test otherwise).
inline Request parse_ok(std::string_view input, ParserLimits limits = {}) {
  auto events = run(input, 0, limits);
  for (const Event& e : events)
    if (e.request) return *e.request;
  ADD_FAILURE() << "no request for: " << input << (events.empty() ? "" : " got: " + events[0].what);
  return Request{};
}

// The text of the first error input produces ("" if none).
inline std::string parse_error(std::string_view input, ParserLimits limits = {}) {
  for (const Event& e : run(input, 0, limits))
    if (e.what.rfind("error", 0) == 0) return e.what;
  return "";
}

}  // namespace cyr::imap::test
