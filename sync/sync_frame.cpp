#include "sync/sync_frame.h"

namespace cyr::sync {

namespace {

std::string upper(std::string s) {
  for (char& c : s)
    if (c >= 'a' && c <= 'z') c = char(c - 'a' + 'A');
  return s;
}

// Cyrus prints the command name in mixed case in these messages ("Apply").
std::string capitalised(const std::string& upper_verb) {
  std::string s = upper_verb;
  for (size_t i = 1; i < s.size(); ++i)
    if (s[i] >= 'A' && s[i] <= 'Z') s[i] = char(s[i] - 'A' + 'a');
  return s;
}

Error bad_command(std::string user, const Error& cause) {
  return Error(Errc::Invalid, std::move(user), cause.user_message + " " + cause.detail);
}

Error bad_command(std::string user, std::string detail) {
  return Error(Errc::Invalid, std::move(user), std::move(detail));
}

bool is_status_word(std::string_view w) {
  return w == "OK" || w == "NO" || w == "BAD" || w == "BYE" || w == "PREAUTH" || w == "Fatal";
}

}  // namespace

bool verb_carries_dlist(std::string_view v) { return v == "GET" || v == "APPLY" || v == "RESTORE"; }

Result<SyncCommand> parse_command(RawLine line, const DlistLimits& limits) {
  DlistParser p(line, limits);
  auto verb = p.word();
  if (!verb.ok()) return bad_command("IMAP_PROTOCOL_ERROR Command too long", verb.error());
  SyncCommand cmd;
  cmd.verb = upper(verb.value());
  if (cmd.verb.empty()) return bad_command("Null command", "empty line");
  if (!verb_carries_dlist(cmd.verb)) {
    auto rest = p.rest_as_text();
    if (!rest.ok()) return bad_command("IMAP_PROTOCOL_ERROR Bad arguments", rest.error());
    cmd.args = std::move(rest.value());
    return cmd;
  }
  std::string what = capitalised(cmd.verb);
  auto name = p.word();
  if (!name.ok()) return bad_command("IMAP_PROTOCOL_ERROR Failed to parse " + cmd.verb + " line", name.error());
  if (name->empty()) return bad_command("Missing required argument to " + what, "no operation name");
  cmd.name = upper(name.value());
  p.skip_space();
  if (p.at_end()) return bad_command("Missing required argument to " + what, "no argument after " + cmd.name);
  auto arg = p.value();
  if (!arg.ok()) return bad_command("IMAP_PROTOCOL_ERROR Failed to parse " + cmd.verb + " line", arg.error());
  cmd.arg = std::move(arg.value());
  p.skip_space();
  if (!p.at_end()) {
    return bad_command("Unexpected extra arguments to " + what,
                       "text after the argument at byte " + std::to_string(p.pos()));
  }
  return cmd;
}

Result<const Value*> SyncReply::value() const {
  if (kind != ReplyKind::Item || values.size() != 1)
    return Error(Errc::Invalid, "reply item without exactly one value", key);
  return &values.front();
}

Result<SyncReply> parse_reply(RawLine line, const DlistLimits& limits) {
  DlistParser p(line, limits);
  auto first = p.word();
  CYR_TRY(first);
  SyncReply r;
  const std::string& w = first.value();
  if (w == "*") {
    r.kind = ReplyKind::Item;
    auto key = p.word();
    CYR_TRY(key);
    if (key->empty()) return Error(Errc::Invalid, "untagged reply without a key");
    r.key = std::move(key.value());
    if (is_status_word(r.key)) {
      auto text = p.rest_as_text();
      CYR_TRY(text);
      r.text = std::move(text.value());
      return r;
    }
    while (true) {
      p.skip_space();
      if (p.at_end()) break;
      auto v = p.value();
      CYR_TRY(v);
      r.values.push_back(std::move(v.value()));
    }
    return r;
  }
  std::string status = upper(w);
  if (status == "OK") {
    r.kind = ReplyKind::Ok;
  } else if (status == "NO") {
    r.kind = ReplyKind::No;
    auto code = p.word();
    CYR_TRY(code);
    r.code = std::move(code.value());
  } else if (status == "BAD") {
    r.kind = ReplyKind::Bad;
  } else if (status == "BYE") {
    r.kind = ReplyKind::Bye;
  } else {
    return Error(Errc::Invalid, "received bad response", "first word '" + w + "'");
  }
  auto text = p.rest_as_text();
  CYR_TRY(text);
  r.text = std::move(text.value());
  return r;
}

void encode_command(const SyncCommand& cmd, EncodeOutput& out) {
  std::string head = cmd.verb;
  if (verb_carries_dlist(cmd.verb)) {
    head += ' ';
    head += cmd.name;
    head += ' ';
    out.text(head);
    encode_value(cmd.arg, out);
  } else {
    if (!cmd.args.empty()) {
      head += ' ';
      head += cmd.args;
    }
    out.text(head);
  }
  out.text("\r\n");
}

void encode_reply(const SyncReply& r, EncodeOutput& out) {
  std::string head;
  switch (r.kind) {
    case ReplyKind::Item:
      head = "* " + r.key;
      if (r.values.empty()) {
        if (!r.text.empty()) head += " " + r.text;
        out.text(head);
      } else {
        out.text(head);
        for (const Value& v : r.values) {
          out.text(" ");
          encode_value(v, out);
        }
      }
      out.text("\r\n");
      return;
    case ReplyKind::Ok: head = "OK"; break;
    case ReplyKind::No:
      head = "NO";
      if (!r.code.empty()) head += " " + r.code;
      break;
    case ReplyKind::Bad: head = "BAD"; break;
    case ReplyKind::Bye: head = "BYE"; break;
  }
  if (!r.text.empty()) head += " " + r.text;
  head += "\r\n";
  out.text(head);
}

Result<std::string> encode_command(const SyncCommand& cmd) {
  StringOutput out;
  encode_command(cmd, out);
  if (!out.complete()) return Error(Errc::Internal, "file literal body not in memory");
  return std::move(out.str());
}

Result<std::string> encode_reply(const SyncReply& reply) {
  StringOutput out;
  encode_reply(reply, out);
  if (!out.complete()) return Error(Errc::Internal, "file literal body not in memory");
  return std::move(out.str());
}

SyncCommand make_command(std::string verb, std::string name, Value arg) {
  SyncCommand c;
  c.verb = std::move(verb);
  c.name = std::move(name);
  c.arg = std::move(arg);
  return c;
}

SyncReply make_item(std::string key, Value v) {
  SyncReply r;
  r.kind = ReplyKind::Item;
  r.key = std::move(key);
  r.values.push_back(std::move(v));
  return r;
}

SyncReply make_ok(std::string text) {
  SyncReply r;
  r.kind = ReplyKind::Ok;
  r.text = std::move(text);
  return r;
}

SyncReply make_no(std::string code, std::string text) {
  SyncReply r;
  r.kind = ReplyKind::No;
  r.code = std::move(code);
  r.text = std::move(text);
  return r;
}

namespace {

template <class T, class ParseFn>
Result<std::vector<T>> decode_all(std::string_view bytes, const DlistLimits& limits, ParseFn parse) {
  std::vector<T> out;
  LineFramer framer(limits, nullptr);
  while (!bytes.empty()) {
    size_t used = framer.feed(bytes);
    bytes.remove_prefix(used);
    if (!framer.line_ready()) return Error(Errc::Invalid, "incomplete last line");
    auto line = framer.take_line();
    CYR_TRY(line);
    auto item = parse(std::move(line.value()), limits);
    CYR_TRY(item);
    out.push_back(std::move(item.value()));
  }
  return out;
}

}  // namespace

Result<std::vector<SyncCommand>> decode_commands(std::string_view bytes, const DlistLimits& limits) {
  return decode_all<SyncCommand>(bytes, limits, [](RawLine l, const DlistLimits& lim) {
    return parse_command(std::move(l), lim);
  });
}

Result<std::vector<SyncReply>> decode_replies(std::string_view bytes, const DlistLimits& limits) {
  return decode_all<SyncReply>(bytes, limits, [](RawLine l, const DlistLimits& lim) {
    return parse_reply(std::move(l), lim);
  });
}

}  // namespace cyr::sync
