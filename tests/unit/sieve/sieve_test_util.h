// Helpers for the Sieve tests: a message to filter, compile-or-fail, and
// an Outcome written as one line so tests assert exact actions.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <string_view>

#include "server/sieve/sieve.h"

namespace cyr::sieve::testing {

// The RFC 5228 1.2 example message (as CRLF).
inline const char* kCoyoteHeader =
    "Date: Tue, 1 Apr 1997 09:06:31 -0800 (PST)\r\n"
    "From: coyote@desert.example.org\r\n"
    "To: roadrunner@acme.example.com\r\n"
    "Subject: I have a present for you\r\n"
    "\r\n";
inline const char* kCoyoteBody =
    "Look, I'm sorry about the whole anvil thing, and I really\r\n"
    "didn't mean to try and drop it on you from the top of the\r\n"
    "cliff.  I want to try to make it up to you.\r\n"
    "--\r\n"
    "Wile E. Coyote   \"Super Genius\"   coyote@desert.example.org\r\n";

// A message under test: header and body kept together so that
// whole_message can point into it.
struct Mail {
  std::string header = kCoyoteHeader;
  std::string body = kCoyoteBody;
  std::string whole;
  MessageInput input;

  Mail() { reset(); }
  explicit Mail(std::string h, std::string b = "hello\r\n") : header(std::move(h)), body(std::move(b)) { reset(); }
  // whole_message points into this object.
  Mail(const Mail&) = delete;
  Mail& operator=(const Mail&) = delete;

  // Call after changing header or body.
  void reset() {
    whole = header + body;
    Envelope env = input.envelope;
    if (env.to.empty()) {
      env.from = "coyote@desert.example.org";
      env.to = "roadrunner@acme.example.com";
    }
    auto exists = input.mailbox_exists;
    auto own = input.own_addresses;
    auto now = input.now;
    input = MessageInput{};
    input.header = header;
    input.size = whole.size();
    input.envelope = env;
    input.whole_message = [this]() -> std::optional<std::string_view> { return std::string_view(whole); };
    input.mailbox_exists = exists;
    input.own_addresses = own;
    input.now = now;
  }
};

inline std::string describe(const Action& a) {
  std::string out;
  switch (a.kind) {
    case Action::Kind::Keep:
      out = a.implicit ? "implicit-keep" : "keep";
      break;
    case Action::Kind::FileInto:
      out = "fileinto:" + a.mailbox;
      break;
    case Action::Kind::Redirect:
      out = "redirect:" + a.address;
      break;
    case Action::Kind::Reject:
      out = (a.ereject ? "ereject:" : "reject:") + a.reason;
      break;
    case Action::Kind::Discard:
      out = "discard";
      break;
    case Action::Kind::Vacation:
      out = "vacation";
      break;
  }
  if (a.create) out += "+create";
  if (!a.flags.empty()) {
    out += "[";
    for (size_t i = 0; i < a.flags.size(); ++i) out += (i ? " " : "") + a.flags[i];
    out += "]";
  }
  return out;
}

// "fileinto:spam, implicit-keep"; a run-time error adds " !error".
inline std::string describe(const Outcome& o) {
  std::string out;
  for (const auto& a : o.actions) {
    if (!out.empty()) out += ", ";
    out += describe(a);
  }
  if (!o.errors.empty()) out += " !error";
  return out;
}

inline std::shared_ptr<const Script> compile_ok(std::string_view script, const CompileOptions& options = {}) {
  auto r = compile(script, options);
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().user_message) << "\nscript:\n" << script;
  if (!r.ok()) return nullptr;
  return *r;
}

// The compile error's message ("" if it compiled).
inline std::string compile_error(std::string_view script, const CompileOptions& options = {}) {
  auto r = compile(script, options);
  if (r.ok()) return "";
  return r.error().user_message;
}

inline Outcome run(std::string_view script, const Mail& mail, const Limits& limits = {}) {
  auto s = compile_ok(script);
  if (!s) {
    Outcome failed;
    failed.errors.push_back("did not compile");
    return failed;
  }
  return evaluate(*s, mail.input, limits);
}

inline std::string actions(std::string_view script, const Mail& mail = Mail(), const Limits& limits = {}) {
  return describe(run(script, mail, limits));
}

}  // namespace cyr::sieve::testing
