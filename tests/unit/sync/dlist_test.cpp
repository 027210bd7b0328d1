#include "sync/dlist.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <map>
#include <random>

#include "sync/dlist_decoder.h"
#include "sync/sync_frame.h"

namespace cyr::sync {

// gtest prints a Value as its wire form.
void PrintTo(const Value& v, std::ostream* os) {
  StringOutput out;
  encode_value(v, out);
  *os << out.str();
}

namespace {

std::string enc(const Value& v) {
  auto r = encode_value(v);
  EXPECT_TRUE(r.ok());
  return r.ok() ? r.value() : std::string();
}

std::string enc_str(std::string_view s) {
  std::string out;
  encode_astring(s, out);
  return out;
}

// Decodes, then re-encodes; the bytes must not change.
void expect_round_trip(const std::string& wire) {
  auto v = decode_value(wire);
  ASSERT_TRUE(v.ok()) << wire << ": " << v.error().describe();
  EXPECT_EQ(enc(*v), wire);
}

// ---------------------------------------------------------------- encoder

TEST(DlistEncode, AtomWhenAllowed) {
  EXPECT_EQ(enc_str("abc"), "abc");
  EXPECT_EQ(enc_str("user.fred.Sent"), "user.fred.Sent");
  EXPECT_EQ(enc_str("/vendor/cmu/cyrus-imapd/thrid"), "/vendor/cmu/cyrus-imapd/thrid");
  EXPECT_EQ(enc_str("1:5,7"), "1:5,7");
  EXPECT_EQ(enc_str("$Forwarded"), "$Forwarded");
  EXPECT_EQ(enc_str(std::string(1023, 'x')), std::string(1023, 'x'));
  // Cyrus's atom test rejects bytes below 0x1F: 0x1F itself still goes bare.
  EXPECT_EQ(enc_str("a\x1f" "b"), "a\x1f" "b");
}

TEST(DlistEncode, QuotedWhenNotAnAtom) {
  EXPECT_EQ(enc_str(""), "\"\"");
  EXPECT_EQ(enc_str("NIL"), "\"NIL\"");
  EXPECT_EQ(enc_str("nil"), "nil");
  EXPECT_EQ(enc_str("a b"), "\"a b\"");
  EXPECT_EQ(enc_str("fred\tlrswipkxtecdan\t"), "\"fred\tlrswipkxtecdan\t\"");
  EXPECT_EQ(enc_str("a*b"), "\"a*b\"");
  EXPECT_EQ(enc_str("a(b"), "\"a(b\"");
  EXPECT_EQ(enc_str("a{b"), "\"a{b\"");
  EXPECT_EQ(enc_str("\x7f"), "\"\x7f\"");
}

TEST(DlistEncode, LiteralOtherwise) {
  EXPECT_EQ(enc_str("a%b"), "{3+}\r\na%b");
  EXPECT_EQ(enc_str("a\"b"), "{3+}\r\na\"b");
  EXPECT_EQ(enc_str("a\\b"), "{3+}\r\na\\b");
  EXPECT_EQ(enc_str("a\r\nb"), "{4+}\r\na\r\nb");
  EXPECT_EQ(enc_str(std::string("a\0b", 3)), std::string("{3+}\r\na\0b", 9));
  EXPECT_EQ(enc_str("caf\xc3\xa9"), "{5+}\r\ncaf\xc3\xa9");
  std::string long_text(1024, 'x');
  EXPECT_EQ(enc_str(long_text), "{1024+}\r\n" + long_text);
  std::string long_spaces(1024, ' ');
  EXPECT_EQ(enc_str(long_spaces), "{1024+}\r\n" + long_spaces);
}

TEST(DlistEncode, TypedValues) {
  EXPECT_EQ(enc(Value::nil()), "NIL");
  EXPECT_EQ(enc(Value::num(0)), "0");
  EXPECT_EQ(enc(Value::num(UINT64_MAX)), "18446744073709551615");
  EXPECT_EQ(enc(Value::date(1650000000)), "1650000000");
  // time_t goes out as unsigned, as Cyrus prints it, and reads back the same.
  EXPECT_EQ(enc(Value::date(-1)), "18446744073709551615");
  EXPECT_EQ(*Value::date(-1).as_date(), -1);
  EXPECT_EQ(enc(Value::guid("0BEBCDE85CB6536DD0C48A93101EDFAB2DCF5777")),
            "0bebcde85cb6536dd0c48a93101edfab2dcf5777");
  EXPECT_EQ(enc(Value::hex64(0x1234)), "0000000000001234");
  EXPECT_EQ(enc(Value::flag("\\Seen")), "\\Seen");
  EXPECT_EQ(enc(Value::list()), "()");
  EXPECT_EQ(enc(Value::kvlist()), "%()");
}

TEST(DlistEncode, NestedStructureAsReference23) {
  // Reference §2.3: keys only inside %( ), list items without keys.
  Value mbox = Value::kvlist();
  mbox.add_str("UNIQUEID", "9f1c0b2e-1d6b-4c38-9a57-4fa3b1d2c0de");
  mbox.add_str("ACL", "fred\tlrswipkxtecdan\t");
  mbox.add_str("OPTIONS", "");
  Value& records = mbox.add_list("RECORD");
  Value& rec = records.push(Value::kvlist());
  rec.add_num("UID", 1);
  Value& flags = rec.add_list("FLAGS");
  flags.push(Value::flag("\\Seen"));
  flags.push(Value::str("$Forwarded"));
  EXPECT_EQ(enc(mbox),
            "%(UNIQUEID 9f1c0b2e-1d6b-4c38-9a57-4fa3b1d2c0de ACL \"fred\tlrswipkxtecdan\t\" "
            "OPTIONS \"\" RECORD (%(UID 1 FLAGS (\\Seen $Forwarded))))");
}

TEST(DlistEncode, FileLiteral) {
  FileLiteral f;
  f.partition = "default";
  f.guid = "0bebcde85cb6536dd0c48a93101edfab2dcf5777";
  f.body = "From: a@example.com\r\nSubject: hi\r\n\r\nhello\r\n";
  f.size = f.body.size();
  Value l = Value::list();
  l.push(Value::file(f));
  EXPECT_EQ(enc(l), "(%{default 0bebcde85cb6536dd0c48a93101edfab2dcf5777 43}\r\n" + f.body + ")");

  // A body that is not in memory cannot go into a string...
  f.in_memory = false;
  f.stored_as = "/tmp/x";
  EXPECT_FALSE(encode_value(Value::file(f)).ok());

  // ...but a streaming output gets the header, then a call for the body.
  struct Recorder : EncodeOutput {
    std::string text_seen;
    std::vector<std::string> bodies;
    void text(std::string_view b) override { text_seen.append(b); }
    void file_body(const FileLiteral& x) override {
      bodies.push_back(x.stored_as);
      text_seen += "<BODY>";
    }
  } rec;
  encode_value(Value::file(f), rec);
  EXPECT_EQ(rec.text_seen, "%{default 0bebcde85cb6536dd0c48a93101edfab2dcf5777 43}\r\n<BODY>");
  ASSERT_EQ(rec.bodies.size(), 1u);
  EXPECT_EQ(rec.bodies[0], "/tmp/x");
}

// ---------------------------------------------------------------- getters

TEST(DlistGet, TypedGettersAndErrors) {
  auto v = decode_value(
      "%(UID 4294967297 MODSEQ 18446744073709551615 DATE 1650000000 "
      "GUID 0BEBCDE85CB6536DD0C48A93101EDFAB2DCF5777 THRID 00000000000000ab "
      "NAME \"two words\" L (a b) K %(X 1) F \\Seen N NIL BAD 12a SHORT 0beb UNKNOWN x)");
  ASSERT_TRUE(v.ok()) << v.error().describe();
  EXPECT_EQ(*v->get_num("MODSEQ"), UINT64_MAX);
  EXPECT_EQ(*v->get_num32("UID"), 1u);  // truncated like Cyrus's 32-bit fields
  EXPECT_EQ(*v->get_date("DATE"), 1650000000);
  EXPECT_EQ(*v->get_guid("GUID"), "0bebcde85cb6536dd0c48a93101edfab2dcf5777");
  EXPECT_EQ(*v->get_hex64("THRID"), 0xabu);
  EXPECT_EQ(*v->get_str("NAME"), "two words");
  EXPECT_EQ(*v->get_atom("NAME"), "two words");
  ASSERT_TRUE(v->get_list("L").ok());
  EXPECT_EQ((*v->get_list("L"))->items().size(), 2u);
  EXPECT_EQ(*(*v->get_kvlist("K"))->get_num("X"), 1u);
  EXPECT_TRUE(v->child("N")->is_nil());
  EXPECT_EQ(v->child("F")->kind(), ValueKind::Flag);

  auto missing = v->get_num("NOPE");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, Errc::Invalid);
  EXPECT_NE(missing.error().user_message.find("NOPE"), std::string::npos);
  EXPECT_FALSE(v->get_num("BAD").ok());
  EXPECT_FALSE(v->get_num("NAME").ok());
  EXPECT_FALSE(v->get_guid("SHORT").ok());
  EXPECT_FALSE(v->get_list("K").ok());
  EXPECT_FALSE(v->get_kvlist("L").ok());
  EXPECT_FALSE(v->get_str("N").ok());
  EXPECT_FALSE(v->get_file("L").ok());
  EXPECT_FALSE(v->get_hex64("NAME").ok());
  // A number with 21 digits, or one past 2^64-1, is not a number.
  EXPECT_FALSE(decode_value("18446744073709551616")->as_num().ok());
  EXPECT_FALSE(decode_value("000000000000000000001")->as_num().ok());
}

// ---------------------------------------------------------------- decoder

TEST(DlistDecode, EachValueType) {
  EXPECT_TRUE(decode_value("NIL")->is_nil());
  EXPECT_EQ(decode_value("\"NIL\"")->bytes(), "NIL");
  EXPECT_EQ(decode_value("nil")->kind(), ValueKind::String);
  EXPECT_EQ(decode_value("abc")->bytes(), "abc");
  EXPECT_EQ(decode_value("\"a\\\"b\\\\c\"")->bytes(), "a\"b\\c");
  EXPECT_EQ(decode_value("{3}\r\nabc")->bytes(), "abc");  // non-synchronising form accepted too
  EXPECT_EQ(decode_value("{4+}\r\na\r\nb")->bytes(), "a\r\nb");
  EXPECT_EQ(decode_value("{0+}\r\n")->bytes(), "");
  EXPECT_EQ(decode_value("\\Seen")->bytes(), "\\Seen");
  EXPECT_EQ(decode_value("()")->items().size(), 0u);
  EXPECT_EQ(decode_value("%()")->kind(), ValueKind::KvList);
  auto nested = decode_value("(a (b (c)) %(K (d)))");
  ASSERT_TRUE(nested.ok());
  EXPECT_EQ(nested->items().size(), 3u);
  EXPECT_EQ(nested->items()[1].items()[1].items()[0].bytes(), "c");
}

TEST(DlistDecode, RoundTripIsByteExact) {
  expect_round_trip("%(A 1 B \"two words\" C \"\" D NIL E \"NIL\" F (\\Seen $x) G %() H ())");
  expect_round_trip("(a {3+}\r\na%b c)");
  expect_round_trip("%(ACL \"fred\tlrswipkxtecdan\t\" OPTIONS \"\")");
  expect_round_trip("(%{default 0bebcde85cb6536dd0c48a93101edfab2dcf5777 5}\r\nab\r\nc)");
  expect_round_trip("%(VALUE {2+}\r\n\r\n)");
}

TEST(DlistDecode, ToleratesExtraWhitespace) {
  auto v = decode_value("(  a \t b  %(  K   1  ) )");
  ASSERT_TRUE(v.ok()) << v.error().describe();
  EXPECT_EQ(enc(*v), "(a b %(K 1))");
}

TEST(DlistDecode, MalformedInputIsAnErrorNeverACrash) {
  const char* bad[] = {
      "(a",   "%(A",       "%(A 1",      ")",        "%x",      "{abc}\r\n",   "\"abc",
      "(a))", "%(A 1 B)",  "\\",         "a\"b",     "\x80",    "a\x01",        "{3+}\r\nab",
      "%{default zz 3}\r\nabc", "%{default 0bebcde85cb6536dd0c48a93101edfab2dcf5777}\r\n",
      "(a) b", "%(\"\" 1)", "{5+}x",     "\"a\rb\"", "",        "%",            "%(",
  };
  for (const char* b : bad) {
    auto v = decode_value(b);
    EXPECT_FALSE(v.ok()) << "accepted: " << b;
    if (!v.ok()) {
      EXPECT_NE(v.error().user_message, "");
    }
  }
}

// Found by fuzzing (tests/fuzz): a literal where a reply's key or code
// belongs was taken as text with its CRLF in it, and written back it
// announced a literal that swallowed the next bytes.
TEST(DlistDecode, ALiteralIsNotAWord) {
  for (std::string line : {"* {3+}\r\nabc def\r\n", "NO {2+}\r\nxy z\r\n", "{4+}\r\nAPPLY MAILBOX %()\r\n",
                           "EXIT{3+}\t\r\n"}) {
    auto replies = decode_replies(line);
    auto commands = decode_commands(line);
    EXPECT_FALSE(replies.ok()) << line;
    EXPECT_FALSE(commands.ok()) << line;
  }
  // A word that is only followed by a literal value is still a word.
  auto item = decode_replies("* MAILBOX {3+}\r\nabc\r\n");
  ASSERT_TRUE(item.ok()) << item.error().describe();
  ASSERT_EQ(item->size(), 1u);
  EXPECT_EQ((*item)[0].key, "MAILBOX");
}

// Found by fuzzing: a partition the decoder reads bare ("default%") was
// written back as a literal, which a file literal's header cannot hold.
TEST(DlistDecode, AFileLiteralsPartitionIsWrittenBackAsItCanBeRead) {
  const std::string guid = "5500c5dc4a6c1adfad95de4f4af4acaca3d13b3f";
  for (std::string partition : {"default", "default%", "a\\b", "p*"}) {
    std::string line = "APPLY MESSAGE (%{" + partition + " " + guid + " 5}\r\nhello)\r\n";
    auto cmds = decode_commands(line);
    ASSERT_TRUE(cmds.ok()) << line << cmds.error().describe();
    auto again = encode_command((*cmds)[0]);
    ASSERT_TRUE(again.ok());
    auto back = decode_commands(*again);
    ASSERT_TRUE(back.ok()) << *again << back.error().describe();
    EXPECT_EQ(*encode_command((*back)[0]), *again);
  }
  // Cyrus's own form stays bare.
  EXPECT_EQ(*encode_command(*decode_commands("APPLY MESSAGE (%{default " + guid + " 5}\r\nhello)\r\n").value().begin()),
            "APPLY MESSAGE (%{default " + guid + " 5}\r\nhello)\r\n");
  // Found by fuzzing too: a partition the framer could not see whole once
  // written back (long, or needing quotes), refused in any form.
  EXPECT_FALSE(decode_commands("APPLY MESSAGE (%{" + std::string(201, 'p') + " " + guid + " 5}\r\nhello)\r\n").ok());
  EXPECT_TRUE(decode_commands("APPLY MESSAGE (%{" + std::string(200, 'p') + " " + guid + " 5}\r\nhello)\r\n").ok());
  EXPECT_FALSE(decode_commands("APPLY MESSAGE (%{de\x1f" "fault " + guid + " 5}\r\nhello)\r\n").ok());
  // A literal, or braces, where the partition belongs: refused.
  EXPECT_FALSE(decode_commands("APPLY MESSAGE (%{{8+}\r\ndefault% " + guid + " 5}\r\nhello)\r\n").ok());
  EXPECT_FALSE(decode_commands("APPLY MESSAGE (%{\"a}b\" " + guid + " 5}\r\nhello)\r\n").ok());
}

// Found by fuzzing: the encoder writes 0x1F bare, as Cyrus does, and the
// decoder refused it in an atom. Every control byte must read back.
TEST(DlistEncode, ControlBytesReadBack) {
  for (char c = 1; c < 0x20; ++c) {
    std::string s = std::string("a") + c + "b";
    auto wire = encode_value(Value::str(s));
    ASSERT_TRUE(wire.ok());
    auto back = decode_value(*wire);
    ASSERT_TRUE(back.ok()) << static_cast<int>(c) << ": " << *wire;
    EXPECT_EQ(back->bytes(), s) << static_cast<int>(c);
  }
}

TEST(DlistDecode, Bounds) {
  DlistLimits lim;
  lim.max_depth = 3;
  EXPECT_TRUE(decode_value("(((a)))", lim).ok());
  auto deep = decode_value("((((a))))", lim);
  ASSERT_FALSE(deep.ok());
  EXPECT_EQ(deep.error().code, Errc::Limit);

  lim = {};
  lim.max_items = 4;
  EXPECT_TRUE(decode_value("(a b c)", lim).ok());
  EXPECT_EQ(decode_value("(a b c d)", lim).error().code, Errc::Limit);

  lim = {};
  lim.max_token = 8;
  EXPECT_TRUE(decode_value("abcdefgh", lim).ok());
  EXPECT_FALSE(decode_value("abcdefghi", lim).ok());
  EXPECT_FALSE(decode_value("\"abcdefghi\"", lim).ok());

  lim = {};
  lim.max_literal = 4;
  EXPECT_TRUE(decode_value("{4+}\r\nabcd", lim).ok());
  EXPECT_EQ(decode_value("{5+}\r\nabcde", lim).error().code, Errc::TooBig);

  lim = {};
  lim.max_line_text = 16;
  EXPECT_TRUE(decode_value("(aaaaa bbbbb)", lim).ok());
  EXPECT_EQ(decode_value("(aaaaa bbbbb ccccc)", lim).error().code, Errc::Limit);

  // Deep nesting beyond any limit must not exhaust the stack.
  std::string very_deep(100000, '(');
  EXPECT_FALSE(decode_value(very_deep).ok());
}

// Feeds `bytes` to a framer in pieces of `step` bytes; collects every line.
std::vector<Result<RawLine>> frame_all(std::string_view bytes, size_t step, const DlistLimits& lim,
                                       FileSinkFactory* files = nullptr) {
  std::vector<Result<RawLine>> lines;
  LineFramer framer(lim, files);
  size_t pos = 0;
  while (pos < bytes.size()) {
    std::string_view piece = bytes.substr(pos, std::min(step, bytes.size() - pos));
    size_t used = framer.feed(piece);
    pos += used;
    if (framer.line_ready()) lines.push_back(framer.take_line());
  }
  EXPECT_FALSE(framer.in_line());
  return lines;
}

TEST(DlistDecode, StreamStaysInStepAfterErrors) {
  DlistLimits lim;
  lim.max_literal = 4;
  lim.max_line_text = 64;
  std::string stream =
      "APPLY SIEVE %(CONTENT {10+}\r\n0123456789)\r\n"      // literal too big: skipped
      "NOOP\r\n"
      "APPLY X (" + std::string(100, 'a') + " {3+}\r\n)\r\n)\r\n"  // line too long, literal inside
      "NOOP\r\n"
      "APPLY X (a b\r\n"                                      // syntax error
      "APPLY MESSAGE (%{default nothex 4}\r\nab\r\n)\r\n"     // bad file header: body skipped
      "EXIT\r\n";
  for (size_t step : {size_t(1), size_t(3), size_t(7), stream.size()}) {
    auto lines = frame_all(stream, step, lim);
    ASSERT_EQ(lines.size(), 7u) << "step " << step;
    EXPECT_EQ(lines[0].error().code, Errc::TooBig);
    ASSERT_TRUE(lines[1].ok());
    EXPECT_EQ(lines[1]->text, "NOOP");
    EXPECT_EQ(lines[2].error().code, Errc::Limit);
    ASSERT_TRUE(lines[3].ok());
    EXPECT_EQ(lines[3]->text, "NOOP");
    ASSERT_TRUE(lines[4].ok());  // framing is fine; the parser rejects it
    EXPECT_FALSE(parse_command(std::move(lines[4].value())).ok());
    EXPECT_FALSE(lines[5].ok());
    ASSERT_TRUE(lines[6].ok());
    EXPECT_EQ(lines[6]->text, "EXIT");
  }
}

// A sink that keeps what it got, and can be told to fail.
struct MemorySinks : FileSinkFactory {
  struct Sink : FileSink {
    MemorySinks* owner;
    std::string guid;
    std::string data;
    size_t writes = 0;
    Status write(std::string_view b) override {
      ++writes;
      if (owner->fail_writes) return Error(Errc::Io, "disk full");
      data.append(b);
      return {};
    }
    Result<std::string> commit() override {
      owner->committed[guid] = data;
      owner->max_writes = std::max(owner->max_writes, writes);
      return "/staging/" + guid;
    }
  };
  Result<std::unique_ptr<FileSink>> open(const std::string& partition, const std::string& guid,
                                         uint64_t size) override {
    opened.push_back(partition + " " + guid + " " + std::to_string(size));
    if (fail_open) return Error(Errc::NotFound, "unknown partition", partition);
    auto s = std::make_unique<Sink>();
    s->owner = this;
    s->guid = guid;
    return std::unique_ptr<FileSink>(std::move(s));
  }
  bool fail_open = false;
  bool fail_writes = false;
  std::vector<std::string> opened;
  std::map<std::string, std::string> committed;
  size_t max_writes = 0;
};

const std::string kBody = "From: a@example.com\r\nSubject: hi\r\n\r\nhello\r\n";
const std::string kGuid = "0bebcde85cb6536dd0c48a93101edfab2dcf5777";

TEST(DlistDecode, SmallFileLiteralsStayInMemoryWhenAllowed) {
  // max_memory_file: 43 bytes stay in memory, the 44-byte one goes to the
  // sink; and once the line's memory bound is used up, small ones do too.
  std::string body44 = kBody + "!";
  std::string stream = "APPLY MESSAGE (%{default " + kGuid + " 43}\r\n" + kBody + " %{default " + kGuid + " 44}\r\n" +
                       body44 + " %{default " + kGuid + " 43}\r\n" + kBody + ")\r\n";
  DlistLimits limits;
  limits.max_memory_file = 43;
  limits.max_memory_payload = 60;  // room for one 43-byte body
  MemorySinks sinks;
  auto lines = frame_all(stream, 7, limits, &sinks);
  ASSERT_EQ(lines.size(), 1u);
  ASSERT_TRUE(lines[0].ok()) << lines[0].error().describe();
  auto cmd = parse_command(std::move(lines[0].value()));
  ASSERT_TRUE(cmd.ok()) << cmd.error().describe();
  ASSERT_EQ(cmd->arg.items().size(), 3u);
  const FileLiteral& a = cmd->arg.items()[0].file_literal();
  EXPECT_TRUE(a.in_memory);
  EXPECT_EQ(a.body, kBody);
  EXPECT_FALSE(cmd->arg.items()[1].file_literal().in_memory);
  EXPECT_FALSE(cmd->arg.items()[2].file_literal().in_memory);
  EXPECT_EQ(sinks.opened.size(), 2u);
}

TEST(DlistDecode, FileLiteralStreamsToSink) {
  std::string stream = "APPLY MESSAGE (%{default " + kGuid + " 43}\r\n" + kBody +
                       " %{default " + kGuid + " 0}\r\n)\r\n";
  for (size_t step : {size_t(1), size_t(5), stream.size()}) {
    MemorySinks sinks;
    auto lines = frame_all(stream, step, {}, &sinks);
    ASSERT_EQ(lines.size(), 1u);
    ASSERT_TRUE(lines[0].ok()) << lines[0].error().describe();
    auto cmd = parse_command(std::move(lines[0].value()));
    ASSERT_TRUE(cmd.ok()) << cmd.error().describe();
    ASSERT_EQ(cmd->arg.items().size(), 2u);
    const FileLiteral& f = cmd->arg.items()[0].file_literal();
    EXPECT_FALSE(f.in_memory);
    EXPECT_TRUE(f.body.empty());  // never held in memory
    EXPECT_EQ(f.stored_as, "/staging/" + kGuid);
    EXPECT_EQ(f.size, 43u);
    EXPECT_EQ(sinks.committed[kGuid], "");  // the second, empty file came last
    ASSERT_EQ(sinks.opened.size(), 2u);
    EXPECT_EQ(sinks.opened[0], "default " + kGuid + " 43");
    if (step == 1) {
      EXPECT_EQ(sinks.max_writes, 43u);  // handed over as it arrived
    }
  }
  // The body really reached the sink.
  MemorySinks sinks;
  std::string one = "APPLY MESSAGE (%{default " + kGuid + " 43}\r\n" + kBody + ")\r\n";
  auto lines = frame_all(one, 2, {}, &sinks);
  ASSERT_TRUE(lines[0].ok());
  EXPECT_EQ(sinks.committed[kGuid], kBody);
}

TEST(DlistDecode, SinkFailureFailsTheLineButKeepsTheStream) {
  std::string stream = "APPLY MESSAGE (%{default " + kGuid + " 43}\r\n" + kBody + ")\r\nNOOP\r\n";
  for (bool fail_open : {true, false}) {
    MemorySinks sinks;
    sinks.fail_open = fail_open;
    sinks.fail_writes = !fail_open;
    auto lines = frame_all(stream, 4, {}, &sinks);
    ASSERT_EQ(lines.size(), 2u);
    ASSERT_FALSE(lines[0].ok());
    EXPECT_EQ(lines[0].error().code, fail_open ? Errc::NotFound : Errc::Io);
    EXPECT_TRUE(sinks.committed.empty());
    ASSERT_TRUE(lines[1].ok());
    EXPECT_EQ(lines[1]->text, "NOOP");
  }
}

TEST(DlistDecode, FileBoundsWithoutSink) {
  DlistLimits lim;
  lim.max_memory_payload = 10;
  std::string stream = "APPLY MESSAGE (%{default " + kGuid + " 43}\r\n" + kBody + ")\r\nEXIT\r\n";
  auto lines = frame_all(stream, 9, lim);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0].error().code, Errc::TooBig);
  EXPECT_TRUE(lines[1].ok());
  lim = {};
  lim.max_file = 42;
  MemorySinks sinks;
  lines = frame_all(stream, 9, lim, &sinks);
  EXPECT_EQ(lines[0].error().code, Errc::TooBig);
  EXPECT_TRUE(sinks.opened.empty());
}

// Random input, and random damage to real lines: every outcome is a value
// or an error, and whatever decodes re-encodes to something that decodes
// to the same value.
TEST(DlistDecode, FuzzNeverCrashesAndReencodesStably) {
  std::mt19937 rng(12345);
  const char kAlphabet[] = "()%{}\"\\ \r\nab1+*NIL\t\x80\0";
  const std::string alphabet(kAlphabet, sizeof kAlphabet - 1);
  const std::string seed_line =
      "APPLY MAILBOX %(UNIQUEID u MBOXNAME user.fred ACL \"fred\tlrs\t\" RECORD (%(UID 1 FLAGS "
      "(\\Seen $x) ANNOTATIONS (%(ENTRY /c USERID \"\" VALUE {3+}\r\na%b)))))\r\n";
  DlistLimits lim;
  lim.max_literal = 64;
  lim.max_file = 64;
  size_t decoded = 0;
  for (int iter = 0; iter < 20000; ++iter) {
    std::string input;
    if (iter % 2) {
      size_t n = rng() % 60;
      for (size_t i = 0; i < n; ++i) input.push_back(alphabet[rng() % alphabet.size()]);
    } else {
      input = seed_line;
      for (int k = 0, flips = 1 + rng() % 4; k < flips; ++k)
        input[rng() % input.size()] = alphabet[rng() % alphabet.size()];
    }
    LineFramer framer(lim, nullptr);
    std::string_view rest = input;
    while (!rest.empty()) {
      rest.remove_prefix(framer.feed(rest));
      if (!framer.line_ready()) break;
      auto line = framer.take_line();
      if (!line.ok()) continue;
      auto cmd = parse_command(std::move(line.value()), lim);
      if (!cmd.ok()) continue;
      ++decoded;
      auto again = encode_command(*cmd);
      ASSERT_TRUE(again.ok());
      auto re = decode_commands(*again, lim);
      ASSERT_TRUE(re.ok()) << *again << " / " << re.error().describe();
      ASSERT_EQ(re->size(), 1u);
      EXPECT_EQ(*encode_command((*re)[0]), *again) << input;
      EXPECT_EQ((*re)[0].arg, cmd->arg);
      EXPECT_EQ((*re)[0].args, cmd->args);
    }
  }
  EXPECT_GT(decoded, 100u);  // the fuzz reached the parser's success paths too
}

}  // namespace
}  // namespace cyr::sync
