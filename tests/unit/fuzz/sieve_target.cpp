// Fuzz target: Sieve scripts (server/sieve/sieve.h), which any user may
// upload through ManageSieve and which lmtpd then runs on every message
// anyone sends them. The input is a script, optionally followed by the
// bytes 0xFF 0xFE and a message (header, blank line, body) to run it on
// besides three fixed ones.
//
// A script that does not compile must say where ("line N: ..."). One that
// compiles is evaluated, and the outcome must keep the promises of sieve.h
// and interpreter.cpp: evaluate never throws; the action count and redirect
// count stay within the Limits; actions come merged; a reject comes alone
// (with at most a discard); the message is never dropped without a keep,
// fileinto, redirect, reject or discard to account for it; every field is
// bounded and well formed. A vacation action's answer (compose_vacation,
// as lmtpd calls it) is a message with CRLF line ends only, exactly the
// header fields vacation.cpp writes, lines folded as it promises, and a
// body that decodes back to the reason.
#include <algorithm>
#include <string>
#include <string_view>
#include <vector>

#include "server/sieve/sieve.h"
#include "store/base/ascii.h"
#include "store/mail/message.h"
#include "tests/unit/fuzz/targets.h"

namespace cyr::fuzz {
namespace {

using sieve::Action;

constexpr std::string_view kRecipient = "roadrunner+home@acme.example.com";

// Small bounds, so that time goes to shapes rather than sizes.
sieve::Limits fuzz_limits() {
  sieve::Limits l;
  l.max_script_bytes = 16 * 1024;
  l.max_nesting = 8;
  l.max_commands = 300;
  l.max_list_items = 16;
  l.max_string_bytes = 600;
  l.max_actions = 8;
  l.max_redirects = 2;
  l.max_variable_bytes = 300;
  l.max_match_work = 4096;
  return l;
}

struct TestMessage {
  std::string header, whole;
  std::string envelope_from;
};

const std::vector<TestMessage>& fixed_messages() {
  static const std::vector<TestMessage> kMessages = [] {
    std::vector<TestMessage> m;
    auto add = [&](std::string header, std::string body, std::string from) {
      TestMessage t;
      t.header = header;
      t.whole = header + body;
      t.envelope_from = std::move(from);
      m.push_back(std::move(t));
    };
    // RFC 5228's example, addressed to the recipient: vacation answers it.
    add("Date: Tue, 1 Apr 1997 09:06:31 -0800 (PST)\r\n"
        "From: coyote@desert.example.org\r\n"
        "To: roadrunner@acme.example.com\r\n"
        "Subject: I have a present for you\r\n"
        "Message-ID: <present.1@desert.example.org>\r\n"
        "X-Spam-Score: 7\r\n"
        "\r\n",
        "Look, I'm sorry about the whole anvil thing, and I really\r\n"
        "didn't mean to try and drop it on you from the top of the cliff.\r\n",
        "coyote@desert.example.org");
    // MIME, a non-ASCII subject, a long References, Cc to us.
    add("From: =?utf-8?Q?Ren=C3=A9?= <rene@example.net>\r\n"
        "To: someone@example.com\r\n"
        "Cc: Road Runner <roadrunner@acme.example.com>\r\n"
        "Subject: =?utf-8?B?w6ljaGFudGlsbG9uIGTDqWrDoA==?= and more words to make it long enough to fold\r\n"
        "Date: Sat, 04 Jul 2026 23:59:60 +1400\r\n"
        "Message-ID: <abc.def@example.net>\r\n"
        "References: <a1@example.net> <a2@example.net> <a3@example.net> <a4@example.net> <a5@example.net>\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: multipart/mixed; boundary=\"b1\"\r\n"
        "\r\n",
        "--b1\r\n"
        "Content-Type: text/plain; charset=iso-8859-1\r\n"
        "Content-Transfer-Encoding: quoted-printable\r\n"
        "\r\n"
        "caf=E9 au lait\r\n"
        "--b1\r\n"
        "Content-Type: message/rfc822\r\n"
        "\r\n"
        "Subject: inner\r\n"
        "\r\n"
        "inner body\r\n"
        "--b1--\r\n",
        "rene@example.net");
    // A mailing list's message, from a bounce address.
    add("From: list@example.org\r\n"
        "To: roadrunner@acme.example.com\r\n"
        "List-Id: <list.example.org>\r\n"
        "Precedence: bulk\r\n"
        "Subject: [list] weekly\r\n"
        "\r\n",
        "digest\r\n", "");
    return m;
  }();
  return kMessages;
}

bool is_control(unsigned char c) { return c < 0x20 || c == 0x7f; }

bool valid_flag(std::string_view f) {
  if (f.empty()) return false;
  if (f[0] == '\\') {
    for (const char* s : {"\\Seen", "\\Answered", "\\Flagged", "\\Deleted", "\\Draft"})
      if (f == s) return true;
    return false;
  }
  return std::all_of(f.begin(), f.end(), [](char c) {
    unsigned char u = static_cast<unsigned char>(c);
    return u > 0x20 && u < 0x7f && std::string_view("(){%*\"\\]").find(c) == std::string_view::npos;
  });
}

std::string_view trim_wsp(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// Lone CR or LF to CRLF, written here independently of vacation.cpp.
std::string to_crlf(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\r' || s[i] == '\n') {
      out += "\r\n";
      if (s[i] == '\r' && i + 1 < s.size() && s[i + 1] == '\n') ++i;
    } else {
      out += s[i];
    }
  }
  return out;
}

bool is_valid_utf8_text(std::string_view s) {
  return std::none_of(s.begin(), s.end(), [](char c) { return is_control(static_cast<unsigned char>(c)); }) &&
         valid_utf8(s);
}

// The answer compose_vacation writes for `v`.
void check_vacation_answer(const sieve::VacationRequest& v, const sieve::MessageInput& msg) {
  // As lmtpd calls it: the script's :from, or the recipient's address.
  const std::string from = v.from.empty() ? std::string("roadrunner@acme.example.com") : v.from;
  const std::string answer = sieve::compose_vacation(v, msg, from, "mx.example.org");

  // CRLF line ends only.
  for (size_t i = 0; i < answer.size(); ++i) {
    if (answer[i] == '\r') FUZZ_CHECK(i + 1 < answer.size() && answer[i + 1] == '\n');
    if (answer[i] == '\n') FUZZ_CHECK(i > 0 && answer[i - 1] == '\r');
  }

  // The header fields vacation.cpp writes, and nothing else. With :mime the
  // reason is a MIME entity that brings its own header after MIME-Version.
  size_t fixed_end;  // the end of what compose_vacation wrote itself
  if (v.mime) {
    fixed_end = answer.find("\r\nMIME-Version: 1.0\r\n");
    FUZZ_CHECK(fixed_end != std::string::npos);
    fixed_end += 2;
  } else {
    fixed_end = answer.find("\r\n\r\n");
    FUZZ_CHECK(fixed_end != std::string::npos);
    fixed_end += 2;
  }
  const std::string_view fixed = std::string_view(answer).substr(0, fixed_end);
  // In-Reply-To and References only when the original has a Message-ID
  // (one fit to be copied: vacation.cpp may leave them out).
  std::vector<std::string> expected = {"From", "To", "Subject", "Date", "Message-ID"};
  auto original_id = mail::find_header(msg.header, "Message-ID");
  if (original_id && !original_id->empty() && fixed.find("\r\nIn-Reply-To: ") != std::string::npos) {
    expected.push_back("In-Reply-To");
    expected.push_back("References");
  }
  expected.push_back("Auto-Submitted");
  expected.push_back("MIME-Version");
  if (!v.mime) {
    expected.push_back("Content-Type");
    expected.push_back("Content-Transfer-Encoding");
  }
  auto fields = mail::parse_header_fields(fixed);
  FUZZ_CHECK(fields.size() == expected.size() - (v.mime ? 1 : 0));
  for (size_t i = 0; i < fields.size(); ++i) FUZZ_CHECK(fields[i].name == expected[i]);

  // Lines: none is only white space (it would read as the end of the
  // header); one longer than 78 octets holds a single word that could not
  // be folded.
  for (size_t pos = 0; pos < fixed.size();) {
    size_t end = fixed.find("\r\n", pos);
    FUZZ_CHECK(end != std::string_view::npos);
    std::string_view line = fixed.substr(pos, end - pos);
    pos = end + 2;
    FUZZ_CHECK(!trim_wsp(line).empty());
    if (line.size() <= 78) continue;
    std::string_view word = line;
    if (line[0] == ' ' || line[0] == '\t') {
      word = trim_wsp(word);
    } else {
      size_t colon = line.find(": ");
      FUZZ_CHECK(colon != std::string_view::npos);
      word.remove_prefix(colon + 2);
    }
    FUZZ_CHECK(word.find(' ') == std::string_view::npos);
  }

  // The Subject reads back.
  for (const auto& f : fields) {
    if (f.name != "Subject") continue;
    std::string raw = mail::unfold_header_value(f.raw_value);
    bool ascii = std::all_of(v.subject.begin(), v.subject.end(), [](char c) {
      unsigned char u = static_cast<unsigned char>(c);
      return u < 0x80 && (u >= 0x20 || c == '\t');
    });
    if (ascii) {
      FUZZ_CHECK(trim_wsp(raw) == trim_wsp(v.subject));
    } else {
      // Encoded words only: 7-bit, and they decode back.
      for (unsigned char c : raw) FUZZ_CHECK(c < 0x80 && !is_control(c));
      if (is_valid_utf8_text(v.subject)) FUZZ_CHECK(mail::decode_rfc2047(raw) == v.subject);
    }
  }

  if (v.mime) return;
  // The body: what the reason says, in CRLF lines, 7bit when it can be
  // (no 8-bit octet, no NUL, no line over 998 octets), else
  // quoted-printable with lines of at most 76 octets.
  std::string_view cte;
  for (const auto& f : fields)
    if (f.name == "Content-Transfer-Encoding") cte = trim_wsp(f.raw_value);
  const std::string_view body = std::string_view(answer).substr(fixed_end + 2);
  FUZZ_CHECK(body.empty() || body.ends_with("\r\n"));
  for (size_t pos = 0; pos < body.size();) {
    size_t end = body.find("\r\n", pos);
    std::string_view line = body.substr(pos, end - pos);
    pos = end + 2;
    if (cte == "7bit") {
      FUZZ_CHECK(line.size() <= 998);
      for (unsigned char c : line) FUZZ_CHECK(c != 0 && c < 0x80);
    } else {
      FUZZ_CHECK(cte == "quoted-printable");
      FUZZ_CHECK(line.size() <= 76);
      for (unsigned char c : line) FUZZ_CHECK(c == ' ' || c == '\t' || (c > 0x20 && c < 0x7f));
      FUZZ_CHECK(line.empty() || (line.back() != ' ' && line.back() != '\t'));
    }
  }
  std::string want = to_crlf(v.reason);
  if (!want.empty() && !want.ends_with("\r\n")) want += "\r\n";
  std::string got = cte == "7bit" ? std::string(body) : mail::decode_transfer_encoding(body, cte);
  FUZZ_CHECK(got == want);
}

bool same_mailbox(const Action& a, const Action& b) {
  auto target = [](const Action& x) -> std::string_view {
    if (x.kind == Action::Kind::Keep) return "INBOX";
    return x.mailbox;
  };
  std::string_view x = target(a), y = target(b);
  return x == y || (iequals(x, "INBOX") && iequals(y, "INBOX"));
}

void check_outcome(const sieve::Outcome& out, const sieve::MessageInput& msg, const sieve::Limits& limits) {
  auto count = [&](Action::Kind k) {
    return std::count_if(out.actions.begin(), out.actions.end(), [&](const Action& a) { return a.kind == k; });
  };
  FUZZ_CHECK(!out.actions.empty());

  if (!out.errors.empty()) {
    // A run-time error cancels everything: the implicit keep alone.
    FUZZ_CHECK(out.errors.size() == 1);
    FUZZ_CHECK(out.errors[0].starts_with("line "));
    FUZZ_CHECK(out.actions.size() == 1);
    const Action& keep = out.actions[0];
    FUZZ_CHECK(keep.kind == Action::Kind::Keep && keep.implicit && keep.flags.empty());
    return;
  }

  const size_t keeps = count(Action::Kind::Keep);
  const size_t implicit = std::count_if(out.actions.begin(), out.actions.end(), [](const Action& a) { return a.implicit; });
  FUZZ_CHECK(keeps <= 1);
  FUZZ_CHECK(implicit <= 1);
  FUZZ_CHECK(out.actions.size() - implicit <= limits.max_actions);
  FUZZ_CHECK(static_cast<size_t>(count(Action::Kind::Redirect)) <= limits.max_redirects);
  FUZZ_CHECK(count(Action::Kind::Discard) <= 1);
  FUZZ_CHECK(count(Action::Kind::Reject) <= 1);
  FUZZ_CHECK(count(Action::Kind::Vacation) <= 1);

  // A reject comes alone (a discard may stay: it only records).
  if (count(Action::Kind::Reject) > 0)
    FUZZ_CHECK(keeps == 0 && count(Action::Kind::FileInto) == 0 && count(Action::Kind::Redirect) == 0 &&
               count(Action::Kind::Vacation) == 0);

  // Implicit keep (RFC 5228 2.10.2): cancelled only by keep, discard,
  // reject, fileinto or redirect (those with :copy do not cancel it, but
  // they stay as actions, and a fileinto "INBOX" takes the keep in), so a
  // message that is not kept was disposed of by one of them.
  if (keeps == 0)
    FUZZ_CHECK(count(Action::Kind::Discard) + count(Action::Kind::Reject) + count(Action::Kind::FileInto) +
                   count(Action::Kind::Redirect) >
               0);

  for (size_t i = 0; i < out.actions.size(); ++i) {
    const Action& a = out.actions[i];
    const bool delivery = a.kind == Action::Kind::Keep || a.kind == Action::Kind::FileInto;
    FUZZ_CHECK(!a.implicit || a.kind == Action::Kind::Keep);
    FUZZ_CHECK(delivery || a.flags.empty());
    FUZZ_CHECK(a.kind == Action::Kind::FileInto || (a.mailbox.empty() && !a.create));
    FUZZ_CHECK(a.kind == Action::Kind::Redirect || a.address.empty());
    FUZZ_CHECK(a.kind == Action::Kind::Reject || (a.reason.empty() && !a.ereject));
    FUZZ_CHECK((a.kind == Action::Kind::Vacation) == a.vacation.has_value());
    // Merged: one per mailbox, one per address.
    for (size_t j = 0; j < i; ++j) {
      const Action& b = out.actions[j];
      if (delivery && (b.kind == Action::Kind::Keep || b.kind == Action::Kind::FileInto))
        FUZZ_CHECK(!same_mailbox(a, b));
      if (a.kind == Action::Kind::Redirect && b.kind == Action::Kind::Redirect)
        FUZZ_CHECK(!iequals(a.address, b.address));
    }
    for (size_t f = 0; f < a.flags.size(); ++f) {
      FUZZ_CHECK(valid_flag(a.flags[f]));
      FUZZ_CHECK(a.flags[f].size() <= limits.max_string_bytes);
      for (size_t g = 0; g < f; ++g) FUZZ_CHECK(!iequals(a.flags[f], a.flags[g]));
    }
    switch (a.kind) {
      case Action::Kind::FileInto:
        FUZZ_CHECK(!a.mailbox.empty() && a.mailbox.size() <= limits.max_string_bytes);
        break;
      case Action::Kind::Redirect: {
        FUZZ_CHECK(a.address.size() <= limits.max_string_bytes);
        FUZZ_CHECK(a.address.find('@') != std::string::npos);
        for (unsigned char c : a.address) FUZZ_CHECK(c != '\r' && c != '\n' && c != 0);
        break;
      }
      case Action::Kind::Reject:
        FUZZ_CHECK(a.reason.size() <= limits.max_string_bytes);
        break;
      case Action::Kind::Vacation: {
        const sieve::VacationRequest& v = *a.vacation;
        FUZZ_CHECK(sieve::vacation_may_answer(msg, v));
        FUZZ_CHECK(v.reply_to == msg.envelope.from && !v.reply_to.empty());
        FUZZ_CHECK(v.seconds >= 0 && v.seconds <= (int64_t{1} << 40));
        FUZZ_CHECK(v.reason.size() <= limits.max_string_bytes);
        FUZZ_CHECK(v.handle.size() <= limits.max_string_bytes);
        FUZZ_CHECK(!v.subject.empty());
        check_vacation_answer(v, msg);
        break;
      }
      default:
        break;
    }
  }
}

void run_on(const sieve::Script& script, std::string_view header, std::string_view whole, std::string envelope_from,
            const sieve::Limits& limits) {
  sieve::MessageInput msg;
  msg.header = header;
  msg.size = whole.size();
  msg.envelope.from = std::move(envelope_from);
  msg.envelope.to = std::string(kRecipient);
  msg.envelope.auth = "";
  msg.whole_message = [whole]() -> std::optional<std::string_view> { return whole; };
  msg.mailbox_exists = [](const std::string& name) { return name != "missing" && !name.empty(); };
  msg.own_addresses = {"rr@acme.example.com"};
  msg.now = 1790000000;
  msg.local_zone_minutes = 120;
  sieve::Outcome out;
  try {
    out = sieve::evaluate(script, msg, limits);
  } catch (...) {
    FUZZ_CHECK(!"evaluate threw");
  }
  check_outcome(out, msg, limits);
}

}  // namespace

int sieve(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), std::min(size, kMaxInput));
  std::string_view script = in, tail;
  bool has_message = false;
  if (size_t sep = in.find("\xff\xfe"); sep != std::string_view::npos) {
    script = in.substr(0, sep);
    tail = in.substr(sep + 2);
    has_message = true;
  }

  sieve::CompileOptions options;
  options.limits = fuzz_limits();
  auto compiled = sieve::compile(script, options);

  // The same script where no extension is allowed: never compiles when
  // the full set does not, and fails only on a require when it does.
  sieve::CompileOptions none = options;
  none.allowed.emplace();
  auto restricted = sieve::compile(script, none);
  if (!compiled.ok()) FUZZ_CHECK(!restricted.ok());

  for (const auto* r : {&compiled, &restricted}) {
    if (r->ok()) continue;
    const Error& e = r->error();
    FUZZ_CHECK(e.code == Errc::Invalid || e.code == Errc::TooBig);
    // "line N: ...", N a line of the script.
    std::string_view m = e.user_message;
    FUZZ_CHECK(m.starts_with("line "));
    size_t digits = 0;
    uint64_t line = 0;
    while (5 + digits < m.size() && m[5 + digits] >= '0' && m[5 + digits] <= '9' && digits < 12)
      line = line * 10 + static_cast<uint64_t>(m[5 + digits++] - '0');
    FUZZ_CHECK(digits > 0 && m.substr(5 + digits, 2) == ": ");
    FUZZ_CHECK(line >= 1 && line <= static_cast<uint64_t>(std::count(script.begin(), script.end(), '\n')) + 1);
  }
  if (compiled.ok() && !restricted.ok())
    FUZZ_CHECK(restricted.error().user_message.find("is not enabled on this server") != std::string::npos);
  if (!compiled.ok()) return 0;

  const sieve::Script& s = **compiled;
  for (const auto& m : fixed_messages()) run_on(s, m.header, m.whole, m.envelope_from, options.limits);
  if (has_message) {
    size_t header_size = mail::header_block_size(tail);
    run_on(s, tail.substr(0, header_size), tail, "sender@example.net", options.limits);
  }
  return 0;
}

}  // namespace cyr::fuzz
