#include "store/mail/message.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <random>

namespace cyr::mail {
namespace {

std::string crlf(std::string_view lf) {
  std::string out;
  for (char c : lf) {
    if (c == '\n') out += '\r';
    out += c;
  }
  return out;
}

std::string_view slice(std::string_view msg, std::optional<ByteRange> r) {
  if (!r) return "<none>";
  return msg.substr(r->offset, r->size);
}

std::vector<uint32_t> P(std::initializer_list<uint32_t> p) { return p; }

const char* kComplexLf =
    "Return-Path: <alice@example.org>\n"
    "From: \"Alice Example\" <alice@example.org>\n"
    "To: Bob <bob@example.com>, carol@example.net\n"
    "Cc: Team: dave@example.com, \"Eve E.\" <eve@example.com>;, frank@example.com\n"
    "Subject: =?UTF-8?Q?Quarterly_r=C3=A9sum=C3=A9?= and\n"
    " =?ISO-8859-1?B?cmVwb3J0?=\n"
    "Date: Tue, 1 Nov 2022 10:15:30 +0100\n"
    "Message-ID: <20221101.abc@example.org>\n"
    "In-Reply-To: <prev@example.com>\n"
    "MIME-Version: 1.0\n"
    "Content-Type: multipart/mixed;\n"
    " boundary=\"outer-boundary\"\n"
    "\n"
    "This is the preamble.\n"
    "\n"
    "--outer-boundary\n"
    "Content-Type: text/plain; charset=utf-8\n"
    "Content-Transfer-Encoding: quoted-printable\n"
    "\n"
    "Hello Bob,\n"
    "see attached.\n"
    "\n"
    "--outer-boundary\n"
    "Content-Type: multipart/alternative; boundary=alt\n"
    "\n"
    "--alt\n"
    "Content-Type: text/plain\n"
    "\n"
    "plain version\n"
    "--alt\n"
    "Content-Type: text/html; charset=\"us-ascii\"\n"
    "\n"
    "<p>html version</p>\n"
    "--alt--\n"
    "\n"
    "--outer-boundary\n"
    "Content-Type: message/rfc822\n"
    "Content-Description: forwarded message\n"
    "\n"
    "From: Carol <carol@example.net>\n"
    "To: alice@example.org\n"
    "Subject: inner\n"
    "Date: Mon, 31 Oct 2022 09:00:00 -0400\n"
    "Content-Type: multipart/mixed; boundary=\"inner\"\n"
    "\n"
    "--inner\n"
    "Content-Type: text/plain\n"
    "\n"
    "inner text\n"
    "--inner\n"
    "Content-Type: image/png; name=\"dot.png\"\n"
    "Content-Transfer-Encoding: base64\n"
    "Content-Disposition: attachment; filename=\"dot.png\"\n"
    "\n"
    "iVBORw0KGgo=\n"
    "--inner--\n"
    "\n"
    "--outer-boundary\n"
    "Content-Type: application/PDF; name=\"report.pdf\"\n"
    "Content-Transfer-Encoding: Base64\n"
    "Content-Disposition: attachment;\n"
    "\tfilename=\"report.pdf\"; size=1234\n"
    "Content-ID: <part4@example.org>\n"
    "Content-Language: en, de\n"
    "Content-Location: http://example.org/\n"
    " report.pdf\n"
    "\n"
    "JVBERi0xLjQK\n"
    "--outer-boundary--\n"
    "epilogue\n";

class ComplexMessage : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    raw = GetParam() ? crlf(kComplexLf) : std::string(kComplexLf);
    ms = parse_message(raw);
  }
  std::string raw;
  MessageStructure ms;
};

TEST_P(ComplexMessage, Envelope) {
  const Envelope& e = ms.envelope;
  EXPECT_EQ(e.date, "Tue, 1 Nov 2022 10:15:30 +0100");
  EXPECT_EQ(e.subject, "=?UTF-8?Q?Quarterly_r=C3=A9sum=C3=A9?= and =?ISO-8859-1?B?cmVwb3J0?=");
  EXPECT_EQ(decode_rfc2047(*e.subject), "Quarterly r\xC3\xA9sum\xC3\xA9 and report");
  EXPECT_EQ(e.message_id, "<20221101.abc@example.org>");
  EXPECT_EQ(e.in_reply_to, "<prev@example.com>");
  ASSERT_EQ(e.from.size(), 1u);
  EXPECT_EQ(e.from[0].name, "Alice Example");
  EXPECT_EQ(e.from[0].mailbox, "alice");
  EXPECT_EQ(e.from[0].host, "example.org");
  EXPECT_EQ(e.from[0].adl, std::nullopt);
  EXPECT_EQ(e.sender, e.from);
  EXPECT_EQ(e.reply_to, e.from);
  ASSERT_EQ(e.to.size(), 2u);
  EXPECT_EQ(e.to[0].name, "Bob");
  EXPECT_EQ(e.to[1].name, std::nullopt);
  EXPECT_EQ(e.to[1].mailbox, "carol");
  EXPECT_EQ(e.to[1].host, "example.net");
  ASSERT_EQ(e.cc.size(), 5u);
  EXPECT_EQ(e.cc[0].kind, Address::Kind::GroupStart);
  EXPECT_EQ(e.cc[0].mailbox, "Team");
  EXPECT_EQ(e.cc[0].host, std::nullopt);
  EXPECT_EQ(e.cc[1].mailbox, "dave");
  EXPECT_EQ(e.cc[2].name, "Eve E.");
  EXPECT_EQ(e.cc[3].kind, Address::Kind::GroupEnd);
  EXPECT_EQ(e.cc[3].mailbox, std::nullopt);
  EXPECT_EQ(e.cc[4].mailbox, "frank");
  EXPECT_TRUE(e.bcc.empty());
  EXPECT_EQ(parse_rfc5322_date(*e.date), 1667294130);
}

TEST_P(ComplexMessage, Structure) {
  EXPECT_EQ(ms.size, raw.size());
  const BodyPart& root = ms.root;
  EXPECT_EQ(root.type, "multipart");
  EXPECT_EQ(root.subtype, "mixed");
  EXPECT_EQ(root.param("BOUNDARY"), "outer-boundary");
  ASSERT_EQ(root.children.size(), 4u);

  const BodyPart& p1 = root.children[0];
  EXPECT_EQ(p1.type, "text");
  EXPECT_EQ(p1.param("charset"), "utf-8");
  EXPECT_EQ(p1.encoding, "quoted-printable");
  EXPECT_EQ(p1.body_lines, 2u);

  const BodyPart& p2 = root.children[1];
  EXPECT_EQ(p2.subtype, "alternative");
  ASSERT_EQ(p2.children.size(), 2u);
  EXPECT_EQ(p2.children[0].subtype, "plain");
  EXPECT_TRUE(p2.children[0].params.empty());  // Content-Type given without charset
  EXPECT_EQ(p2.children[1].subtype, "html");
  EXPECT_EQ(p2.children[1].param("charset"), "us-ascii");

  const BodyPart& p3 = root.children[2];
  EXPECT_TRUE(p3.is_message());
  EXPECT_EQ(p3.description, "forwarded message");
  ASSERT_TRUE(p3.envelope.has_value());
  EXPECT_EQ(p3.envelope->subject, "inner");
  EXPECT_EQ(p3.envelope->from[0].name, "Carol");
  EXPECT_EQ(p3.envelope->sender, p3.envelope->from);
  ASSERT_EQ(p3.children.size(), 1u);
  const BodyPart& inner = p3.children[0];
  EXPECT_TRUE(inner.is_multipart());
  ASSERT_EQ(inner.children.size(), 2u);
  EXPECT_EQ(inner.children[1].type, "image");
  EXPECT_EQ(inner.children[1].disposition, "attachment");
  EXPECT_EQ(inner.children[1].disposition_params, (MimeParams{{"filename", "dot.png"}}));
  EXPECT_EQ(p3.body_lines, 17u);  // the encapsulated message, up to "--inner--"

  const BodyPart& p4 = root.children[3];
  EXPECT_EQ(p4.type, "application");
  EXPECT_EQ(p4.subtype, "pdf");
  EXPECT_EQ(p4.encoding, "base64");
  EXPECT_EQ(p4.params, (MimeParams{{"name", "report.pdf"}}));
  EXPECT_EQ(p4.disposition, "attachment");
  EXPECT_EQ(p4.disposition_params, (MimeParams{{"filename", "report.pdf"}, {"size", "1234"}}));
  EXPECT_EQ(p4.id, "<part4@example.org>");
  EXPECT_EQ(p4.languages, (std::vector<std::string>{"en", "de"}));
  EXPECT_EQ(p4.location, "http://example.org/report.pdf");
  EXPECT_EQ(p4.md5, std::nullopt);
  EXPECT_EQ(p4.body_size, 12u);
  EXPECT_EQ(p4.body_lines, 0u);  // one line, whose CRLF belongs to the boundary

  const bool is_crlf = GetParam();
  EXPECT_EQ(ms.flags & parse_flag::kBareLf, is_crlf ? 0u : parse_flag::kBareLf);
  EXPECT_EQ(ms.flags & ~parse_flag::kBareLf, 0u);
}

TEST_P(ComplexMessage, Sections) {
  const std::string nl = GetParam() ? "\r\n" : "\n";
  auto body = [&](std::vector<uint32_t> p) { return std::string(slice(raw, section_body(ms, p))); };
  EXPECT_EQ(body({}), raw);
  EXPECT_EQ(body({1}), "Hello Bob," + nl + "see attached." + nl);
  EXPECT_EQ(body({2, 1}), "plain version");
  EXPECT_EQ(body({2, 2}), "<p>html version</p>");
  EXPECT_EQ(body({3, 1}), "inner text");
  EXPECT_EQ(body({3, 2}), "iVBORw0KGgo=");
  EXPECT_EQ(body({4}), "JVBERi0xLjQK");
  EXPECT_EQ(slice(raw, section_header(ms, P({3}))),
            "From: Carol <carol@example.net>" + nl + "To: alice@example.org" + nl + "Subject: inner" + nl +
                "Date: Mon, 31 Oct 2022 09:00:00 -0400" + nl +
                "Content-Type: multipart/mixed; boundary=\"inner\"" + nl + nl);
  EXPECT_TRUE(slice(raw, section_text(ms, P({3}))).starts_with("--inner" + nl));
  EXPECT_EQ(slice(raw, section_mime(ms, P({3}))),
            "Content-Type: message/rfc822" + nl + "Content-Description: forwarded message" + nl + nl);
  EXPECT_EQ(slice(raw, section_mime(ms, P({2, 1}))), "Content-Type: text/plain" + nl + nl);
  EXPECT_TRUE(slice(raw, section_header(ms, P({}))).starts_with("Return-Path:"));
  EXPECT_TRUE(slice(raw, section_header(ms, P({}))).ends_with("\"outer-boundary\"" + nl + nl));
  EXPECT_TRUE(slice(raw, section_text(ms, P({}))).starts_with("This is the preamble."));
  // Not a message: no HEADER/TEXT. Nonexistent parts.
  EXPECT_EQ(section_header(ms, P({1})), std::nullopt);
  EXPECT_EQ(section_body(ms, P({5})), std::nullopt);
  EXPECT_EQ(section_body(ms, P({0})), std::nullopt);
  EXPECT_EQ(section_body(ms, P({1, 1})), std::nullopt);
  EXPECT_EQ(section_body(ms, P({3, 3})), std::nullopt);
  EXPECT_EQ(section_mime(ms, P({})), std::nullopt);
}

TEST_P(ComplexMessage, SerializationRoundTrip) {
  std::string blob = ms.serialize();
  auto back = MessageStructure::deserialize(blob);
  ASSERT_TRUE(back.ok()) << back.error().describe();
  EXPECT_EQ(*back, ms);
  EXPECT_LT(blob.size(), raw.size());  // compact: smaller than this message
}

INSTANTIATE_TEST_SUITE_P(LineEndings, ComplexMessage, ::testing::Values(true, false),
                         [](const auto& info) { return info.param ? "CRLF" : "LF"; });

TEST(Message, SimpleLfMessageDefaults) {
  std::string raw =
      "From: fred@example.com (Fred)\n"
      "Subject: hi\n"
      "   there\n"
      "\n"
      "body line 1\n"
      "body line 2";
  auto ms = parse_message(raw);
  EXPECT_EQ(ms.root.type, "text");
  EXPECT_EQ(ms.root.subtype, "plain");
  EXPECT_EQ(ms.root.params, (MimeParams{{"charset", "us-ascii"}}));
  EXPECT_EQ(ms.root.encoding, "7bit");
  EXPECT_EQ(ms.root.body_lines, 1u);  // line ends, as Cyrus and Dovecot count; the last has none
  EXPECT_EQ(ms.root.body_size, 23u);
  EXPECT_EQ(ms.envelope.subject, "hi   there");
  ASSERT_EQ(ms.envelope.from.size(), 1u);
  EXPECT_EQ(ms.envelope.from[0].mailbox, "fred");
  EXPECT_EQ(ms.envelope.from[0].host, "example.com");
  EXPECT_EQ(ms.envelope.sender, ms.envelope.from);
  EXPECT_TRUE(ms.envelope.to.empty());
  EXPECT_EQ(ms.envelope.date, std::nullopt);
  EXPECT_EQ(ms.envelope.message_id, std::nullopt);
  EXPECT_TRUE(ms.flags & parse_flag::kBareLf);
}

TEST(Message, MissingHeadersAndNoBody) {
  auto empty_header = parse_message("\r\nbody");
  EXPECT_EQ(empty_header.root.header_size, 2u);
  EXPECT_EQ(empty_header.root.body_size, 4u);
  EXPECT_TRUE(empty_header.envelope.from.empty());
  EXPECT_TRUE(empty_header.envelope.sender.empty());

  auto header_only = parse_message("Subject: x\r\nFrom: a@b\r\n");
  EXPECT_EQ(header_only.root.header_size, header_only.size);
  EXPECT_EQ(header_only.root.body_size, 0u);
  EXPECT_TRUE(header_only.flags & parse_flag::kNoHeaderEnd);
  EXPECT_EQ(header_only.envelope.subject, "x");

  auto nothing = parse_message("");
  EXPECT_EQ(nothing.size, 0u);
  EXPECT_EQ(nothing.root.type, "text");
}

TEST(Message, ExplicitEmptySenderDefaultsToFrom) {
  auto ms = parse_message("From: a@b.c\r\nSender:\r\nReply-To: r@b.c\r\n\r\nx");
  EXPECT_EQ(ms.envelope.sender, ms.envelope.from);
  ASSERT_EQ(ms.envelope.reply_to.size(), 1u);
  EXPECT_EQ(ms.envelope.reply_to[0].mailbox, "r");
}

TEST(Message, MalformedMultiparts) {
  auto no_boundary = parse_message(crlf("Content-Type: multipart/mixed\n\n--x\nhello\n"));
  EXPECT_EQ(no_boundary.root.type, "text");
  EXPECT_TRUE(no_boundary.flags & parse_flag::kMissingBoundary);

  auto unterminated = parse_message(crlf(
      "Content-Type: multipart/mixed; boundary=b\n\n--b\n\npart one\n--b\nContent-Type: text/html\n\n<b>two"));
  ASSERT_EQ(unterminated.root.children.size(), 2u);
  EXPECT_TRUE(unterminated.flags & parse_flag::kUnterminatedMultipart);
  EXPECT_EQ(slice(crlf("Content-Type: multipart/mixed; boundary=b\n\n--b\n\npart one\n--b\nContent-Type: "
                       "text/html\n\n<b>two"),
                  section_body(unterminated, P({2}))),
            "<b>two");

  auto no_parts = parse_message(crlf("Content-Type: multipart/mixed; boundary=b\n\njust text\n"));
  EXPECT_TRUE(no_parts.root.children.empty());
  EXPECT_EQ(no_parts.root.type, "text");  // a multipart needs at least one part

  // A boundary that is a prefix of a longer line is not a delimiter.
  auto prefix = parse_message(crlf(
      "Content-Type: multipart/mixed; boundary=b\n\n--b\n\none\n--bb\nstill one\n--b--\n"));
  ASSERT_EQ(prefix.root.children.size(), 1u);
  EXPECT_EQ(prefix.root.children[0].body_lines, 2u);  // the CRLF before "--b--" is the boundary's
}

TEST(Message, DigestDefaultsToMessageRfc822) {
  std::string raw = crlf(
      "Content-Type: multipart/digest; boundary=d\n\n"
      "--d\n\nSubject: one\n\nfirst\n"
      "--d\nContent-Type: text/plain\n\nnot a message\n"
      "--d--\n");
  auto ms = parse_message(raw);
  ASSERT_EQ(ms.root.children.size(), 2u);
  EXPECT_TRUE(ms.root.children[0].is_message());
  ASSERT_TRUE(ms.root.children[0].envelope);
  EXPECT_EQ(ms.root.children[0].envelope->subject, "one");
  EXPECT_EQ(ms.root.children[1].type, "text");
  EXPECT_EQ(slice(raw, section_text(ms, P({1}))), "first");
}

TEST(Message, TopLevelMessageRfc822Sections) {
  std::string raw = crlf("Content-Type: message/rfc822\n\nSubject: in\n\ninner body\n");
  auto ms = parse_message(raw);
  ASSERT_TRUE(ms.root.is_message());
  EXPECT_EQ(slice(raw, section_body(ms, P({1}))), crlf("Subject: in\n\ninner body\n"));
  EXPECT_EQ(slice(raw, section_body(ms, P({1, 1}))), crlf("inner body\n"));
  EXPECT_EQ(slice(raw, section_header(ms, P({1}))), crlf("Subject: in\n\n"));
}

TEST(Message, DepthLimit) {
  std::string raw;
  for (int i = 0; i < 100; ++i) raw += "Content-Type: multipart/mixed; boundary=b" + std::to_string(i) + "\r\n\r\n--b" + std::to_string(i) + "\r\n";
  raw += "\r\nleaf\r\n";
  auto ms = parse_message(raw);
  EXPECT_TRUE(ms.flags & parse_flag::kDepthLimit);
  size_t depth = 0;
  const BodyPart* p = &ms.root;
  while (!p->children.empty()) {
    p = &p->children[0];
    ++depth;
  }
  EXPECT_EQ(depth, 64u);
  EXPECT_EQ(p->type, "application");  // kept as an opaque leaf
  auto back = MessageStructure::deserialize(ms.serialize());
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, ms);

  ParseLimits tight;
  tight.max_depth = 3;
  auto shallow = parse_message(raw, tight);
  EXPECT_TRUE(shallow.flags & parse_flag::kDepthLimit);
}

TEST(Message, PartLimit) {
  std::string raw = "Content-Type: multipart/mixed; boundary=x\r\n\r\n";
  for (int i = 0; i < 200; ++i) raw += "--x\r\n\r\np\r\n";
  raw += "--x--\r\n";
  ParseLimits limits;
  limits.max_parts = 50;
  auto ms = parse_message(raw, limits);
  EXPECT_TRUE(ms.flags & parse_flag::kPartLimit);
  EXPECT_EQ(ms.root.children.size(), 49u);  // the root counts as one part
  auto full = parse_message(raw);
  EXPECT_EQ(full.root.children.size(), 200u);
  EXPECT_EQ(full.flags, 0u);
}

TEST(Message, GarbageNeverCrashesAndRoundTrips) {
  std::mt19937 rng(12345);
  const std::string base = crlf(kComplexLf);
  for (int iter = 0; iter < 3000; ++iter) {
    std::string raw;
    if (iter % 3 == 0) {
      // Pure noise, biased towards characters that matter to the parser.
      const char alphabet[] = "\r\n-:;=\"<>@,()\\ \tabcXYZ\x80\xff\x00b";
      size_t len = rng() % 400;
      for (size_t i = 0; i < len; ++i) raw += alphabet[rng() % (sizeof alphabet - 1)];
    } else {
      // The real message with bytes flipped and a random truncation.
      raw = base.substr(0, rng() % (base.size() + 1));
      for (int k = 0; k < 5 && !raw.empty(); ++k) raw[rng() % raw.size()] = static_cast<char>(rng());
    }
    auto ms = parse_message(raw);
    EXPECT_EQ(ms.size, raw.size());
    auto back = MessageStructure::deserialize(ms.serialize());
    ASSERT_TRUE(back.ok()) << back.error().describe();
    ASSERT_EQ(*back, ms);
    // Every section range lies inside the message.
    std::vector<const BodyPart*> stack{&ms.root};
    while (!stack.empty()) {
      const BodyPart* p = stack.back();
      stack.pop_back();
      ASSERT_LE(p->body_offset + p->body_size, raw.size());
      ASSERT_EQ(p->header_offset + p->header_size, p->body_offset);
      for (const auto& c : p->children) stack.push_back(&c);
    }
  }
}

TEST(MessageCodec, RejectsCorruptedBlobs) {
  auto ms = parse_message(crlf(kComplexLf));
  std::string blob = ms.serialize();
  ASSERT_TRUE(MessageStructure::deserialize(blob).ok());
  // Every truncation fails.
  for (size_t len = 0; len < blob.size(); ++len) {
    auto r = MessageStructure::deserialize(std::string_view(blob).substr(0, len));
    ASSERT_FALSE(r.ok()) << len;
    EXPECT_EQ(r.error().code, Errc::Corrupted);
  }
  // Every single-bit flip fails.
  for (size_t i = 0; i < blob.size(); ++i) {
    std::string bad = blob;
    bad[i] = static_cast<char>(bad[i] ^ (1 << (i % 8)));
    ASSERT_FALSE(MessageStructure::deserialize(bad).ok()) << i;
  }
  EXPECT_FALSE(MessageStructure::deserialize(blob + "x").ok());
  std::string newer = blob;
  newer[4] = 2;  // a future version is refused, not misread
  EXPECT_FALSE(MessageStructure::deserialize(newer).ok());
}

// An owning copy of a view, to compare it with the Envelope it came from.
Envelope owned(const EnvelopeView& v) {
  auto opt = [](const std::optional<std::string_view>& s) {
    return s ? std::optional<std::string>(std::string(*s)) : std::nullopt;
  };
  auto list = [&](const std::vector<AddressView>& in) {
    std::vector<Address> out;
    for (const AddressView& a : in) out.push_back({a.kind, opt(a.name), opt(a.adl), opt(a.mailbox), opt(a.host)});
    return out;
  };
  return Envelope{opt(v.date), opt(v.subject), list(v.from), list(v.sender), list(v.reply_to),
                  list(v.to),  list(v.cc),     list(v.bcc), opt(v.in_reply_to), opt(v.message_id)};
}

// CRC-32 one bit at a time, straight from the definition (reflected
// polynomial 0xEDB88320, pre- and post-inverted), to check the codec's
// table-driven one against.
uint32_t reference_crc32(std::string_view data) {
  uint32_t c = 0xffffffffu;
  for (unsigned char b : data) {
    c ^= b;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xedb88320u ^ (c >> 1) : c >> 1;
  }
  return c ^ 0xffffffffu;
}

TEST(MessageCodec, ChecksumIsIeeeCrc32) {
  EXPECT_EQ(reference_crc32("123456789"), 0xcbf43926u);  // the standard check value
  // Blobs of many lengths, so every tail length of the 8-byte steps occurs.
  std::string subject;
  for (int len = 0; len < 40; ++len) {
    MessageStructure ms = parse_message("Subject: " + subject + "\r\n\r\nbody\r\n");
    std::string blob = ms.serialize();
    uint32_t stored = 0;
    for (int i = 0; i < 4; ++i)
      stored |= uint32_t(uint8_t(blob[blob.size() - 4 + i])) << (8 * i);
    EXPECT_EQ(stored, reference_crc32(std::string_view(blob).substr(0, blob.size() - 4))) << len;
    subject += static_cast<char>('a' + len % 26);
  }
}

TEST(MessageCodec, EnvelopeViewMatchesFullDecode) {
  EnvelopeView view;  // reused across messages, as FETCH does
  // Many addresses first, then fewer: the reused vectors must shrink.
  std::vector<std::string> raws = {
      crlf(kComplexLf),
      "From: a@x.example, b@y.example, \"C\" <c@z.example>\r\nTo: g: m@n.example;\r\n"
      "Subject: many\r\n\r\nbody",
      "Subject: none of the rest\r\n\r\nbody",
      "",
      "From: only@one.example\r\nIn-Reply-To: <p@q>\r\nMessage-ID: <m@q>\r\n\r\n"};
  std::mt19937 rng(7);
  for (int i = 0; i < 200; ++i) {  // and mangled messages
    std::string r = raws[i % 2 == 0 ? 0 : 1];
    for (int k = 0; k < 3 && !r.empty(); ++k) r[rng() % r.size()] = static_cast<char>(rng());
    raws.push_back(r);
  }
  for (const std::string& raw : raws) {
    MessageStructure ms = parse_message(raw);
    std::string blob = ms.serialize();
    ASSERT_TRUE(decode_envelope(blob, view).ok());
    EXPECT_EQ(owned(view), ms.envelope);
    EXPECT_EQ(owned(EnvelopeView::of(ms.envelope)), ms.envelope);
  }
}

TEST(MessageCodec, EnvelopeViewRejectsCorruptedBlobs) {
  std::string blob = parse_message(crlf(kComplexLf)).serialize();
  EnvelopeView view;
  ASSERT_TRUE(decode_envelope(blob, view).ok());
  for (size_t len = 0; len < blob.size(); ++len) {
    Status st = decode_envelope(std::string_view(blob).substr(0, len), view);
    ASSERT_FALSE(st.ok()) << len;
    EXPECT_EQ(st.error().code, Errc::Corrupted);
  }
  // A flipped bit anywhere, in the envelope or in the body structure after
  // it, is caught by the checksum of the whole blob.
  for (size_t i = 0; i < blob.size(); ++i) {
    std::string bad = blob;
    bad[i] = static_cast<char>(bad[i] ^ (1 << (i % 8)));
    ASSERT_FALSE(decode_envelope(bad, view).ok()) << i;
  }
  std::string newer = blob;
  newer[4] = 2;
  EXPECT_FALSE(decode_envelope(newer, view).ok());
}

TEST(MessageCodec, RejectsStructurallyBadButChecksummedBlobs) {
  // A structure whose ranges point past the message must be refused even if
  // the checksum is right (a bug elsewhere, not bit rot).
  MessageStructure ms = parse_message("Subject: x\r\n\r\nbody");
  MessageStructure bad = ms;
  bad.root.body_size = 1000;
  EXPECT_FALSE(MessageStructure::deserialize(bad.serialize()).ok());
  bad = ms;
  bad.root.header_offset = 5;
  EXPECT_FALSE(MessageStructure::deserialize(bad.serialize()).ok());
  bad = ms;
  BodyPart child;
  child.header_offset = 0;  // outside the parent's body
  bad.root.children.push_back(child);
  EXPECT_FALSE(MessageStructure::deserialize(bad.serialize()).ok());
}

TEST(Headers, FieldsAndLookup) {
  std::string header = crlf(
      "From nobody Mon Jan  1 00:00:00 2024\n"  // mbox separator: not a field
      "Received: from a\n"
      "\tby b\n"
      "garbage line\n"
      "Received: from c\n"
      "X-Empty:\n"
      "subject : spaced\n"
      "\n"
      "Body: not a header\n");
  auto fields = parse_header_fields(header);
  ASSERT_EQ(fields.size(), 4u);
  EXPECT_EQ(fields[0].name, "Received");
  EXPECT_EQ(fields[0].raw_value, " from a\r\n\tby b");
  EXPECT_EQ(find_header(header, "RECEIVED"), "from a\tby b");
  EXPECT_EQ(find_all_headers(header, "received"), (std::vector<std::string>{"from a\tby b", "from c"}));
  EXPECT_EQ(find_header(header, "x-empty"), "");
  EXPECT_EQ(find_header(header, "Subject"), "spaced");
  EXPECT_EQ(find_header(header, "Body"), std::nullopt);
  EXPECT_EQ(header_block_size(header), header.find("Body:"));
  EXPECT_EQ(parse_header_fields(header, 2).size(), 2u);
}

TEST(Addresses, ObsoleteAndOddForms) {
  auto a = parse_address_list("<@relay1,@relay2:joe@example.com>");
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].adl, "@relay1,@relay2");
  EXPECT_EQ(a[0].mailbox, "joe");
  EXPECT_EQ(a[0].host, "example.com");

  a = parse_address_list("\"Doe, John\" <\"john doe\"@example.com>, (comment) x@y");
  ASSERT_EQ(a.size(), 2u);
  EXPECT_EQ(a[0].name, "Doe, John");
  EXPECT_EQ(a[0].mailbox, "\"john doe\"");
  EXPECT_EQ(a[1].mailbox, "x");

  a = parse_address_list("undisclosed-recipients:;");
  ASSERT_EQ(a.size(), 2u);
  EXPECT_EQ(a[0].kind, Address::Kind::GroupStart);
  EXPECT_EQ(a[0].mailbox, "undisclosed-recipients");
  EXPECT_EQ(a[1].kind, Address::Kind::GroupEnd);

  a = parse_address_list("postmaster");
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].mailbox, "postmaster");
  EXPECT_EQ(a[0].host, "");  // no domain: empty, not absent

  a = parse_address_list("=?utf-8?q?J=C3=B6rg?= <j@x.de>");
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].name, "=?utf-8?q?J=C3=B6rg?=");  // raw, as IMAP requires
  EXPECT_EQ(decode_rfc2047(*a[0].name), "J\xC3\xB6rg");

  a = parse_address_list("group: a@b");  // unterminated group is closed
  ASSERT_EQ(a.size(), 3u);
  EXPECT_EQ(a[2].kind, Address::Kind::GroupEnd);

  EXPECT_TRUE(parse_address_list("").empty());
  EXPECT_TRUE(parse_address_list(" , ,, ").empty());
  std::string many;
  for (int i = 0; i < 100; ++i) many += "u@h,";
  EXPECT_EQ(parse_address_list(many, 10).size(), 10u);
}

TEST(Rfc2047, Decoding) {
  EXPECT_EQ(decode_rfc2047("=?utf-8?b?w6k=?="), "\xC3\xA9");
  EXPECT_EQ(decode_rfc2047("=?utf-8?q?a?= =?utf-8?q?b?="), "ab");
  EXPECT_EQ(decode_rfc2047("=?utf-8?q?a?=\r\n =?utf-8?q?b?="), "ab");
  EXPECT_EQ(decode_rfc2047("=?utf-8?q?a?= b"), "a b");
  EXPECT_EQ(decode_rfc2047("x =?utf-8?q?a_b?= y"), "x a b y");
  EXPECT_EQ(decode_rfc2047("=?iso-8859-1?q?caf=E9?="), "caf\xC3\xA9");
  EXPECT_EQ(decode_rfc2047("=?windows-1252?q?=80?="), "\xE2\x82\xAC");
  EXPECT_EQ(decode_rfc2047("=?koi8-r?b?8s/T08nR?="), "\xD0\xA0\xD0\xBE\xD1\x81\xD1\x81\xD0\xB8\xD1\x8F");
  EXPECT_EQ(decode_rfc2047("=?UTF-8*en?Q?hi?="), "hi");
  // Left as written: spaces inside, unknown charset, bad encoding, bad hex.
  EXPECT_EQ(decode_rfc2047("=?utf-8?q?a b?="), "=?utf-8?q?a b?=");
  EXPECT_EQ(decode_rfc2047("=?x-no-such-charset?q?a?="), "=?x-no-such-charset?q?a?=");
  EXPECT_EQ(decode_rfc2047("=?utf-8?x?a?="), "=?utf-8?x?a?=");
  EXPECT_EQ(decode_rfc2047("=?utf-8?q?=ZZ?="), "=?utf-8?q?=ZZ?=");
  EXPECT_EQ(decode_rfc2047("=?utf-8?q?=E"), "=?utf-8?q?=E");
  // Raw 8-bit that is not UTF-8 becomes U+FFFD.
  EXPECT_EQ(decode_rfc2047("caf\xE9"), "caf\xEF\xBF\xBD");
  EXPECT_EQ(decode_rfc2047("plain"), "plain");
}

TEST(Dates, Rfc5322AndObsoleteForms) {
  EXPECT_EQ(parse_rfc5322_date("Tue, 1 Nov 2022 10:15:30 +0100"), 1667294130);
  EXPECT_EQ(parse_rfc5322_date("Tue, 1 Nov 2022 10:15:30 +0100 (CET)"), 1667294130);
  EXPECT_EQ(parse_rfc5322_date("1 Nov 2022 10:15 GMT"), 1667297700);
  EXPECT_EQ(parse_rfc5322_date("Tue, 01 Nov 22 10:15:30 EST"), 1667315730);
  EXPECT_EQ(parse_rfc5322_date("Tue,1 Nov 2022 09:15:30"), 1667294130);  // no zone: +0000
  EXPECT_EQ(parse_rfc5322_date("Fri, 31 Dec 99 23:59 +0000"), 946684740);
  EXPECT_EQ(parse_rfc5322_date("1-Nov-2022 10:15:30 +0100"), 1667294130);
  EXPECT_EQ(parse_rfc5322_date("not a date"), std::nullopt);
  EXPECT_EQ(parse_rfc5322_date(""), std::nullopt);
  EXPECT_EQ(parse_rfc5322_date("31 Feb 2022 00:00:00 +0000"), std::nullopt);
  EXPECT_EQ(parse_rfc5322_date("1 Nov 2022 25:00:00 +0000"), std::nullopt);
  EXPECT_EQ(parse_rfc5322_date("1 Foo 2022 10:00:00 +0000"), std::nullopt);
  EXPECT_EQ(parse_rfc5322_date("1 Nov 2022 10:00:00 +01"), std::nullopt);
  EXPECT_EQ(parse_rfc5322_date("29 Feb 2024 00:00:00 +0000"), 1709164800);
}

TEST(Lmtp, LineEndingsAnd8bit) {
  EXPECT_FALSE(has_bare_lf("a\r\nb\r\n"));
  EXPECT_TRUE(has_bare_lf("a\r\nb\n"));
  EXPECT_TRUE(has_bare_lf("\n"));
  EXPECT_FALSE(has_bare_lf(""));
  EXPECT_TRUE(has_bare_cr("a\rb"));
  EXPECT_TRUE(has_bare_cr("a\r"));
  EXPECT_FALSE(has_bare_cr("a\r\n"));

  std::string msg = "Subject: caf\xC3\xA9\r\nFrom: a@b\r\n\r\nbody caf\xC3\xA9\r\n";
  EXPECT_TRUE(header_has_8bit(msg));
  EXPECT_FALSE(header_has_8bit("Subject: x\r\n\r\n\xC3\xA9"));
  EXPECT_EQ(munge_8bit_header(msg), 2u);
  EXPECT_EQ(msg, "Subject: cafXX\r\nFrom: a@b\r\n\r\nbody caf\xC3\xA9\r\n");
  EXPECT_FALSE(header_has_8bit(msg));
  EXPECT_EQ(munge_8bit_header(msg), 0u);
}

}  // namespace
}  // namespace cyr::mail

namespace cyr::mail {
namespace {

// Inputs built to trigger quadratic behaviour must still finish quickly;
// a regression shows up as a test timeout.
TEST(Message, PathologicalInputsStayLinear) {
  std::string words;
  for (int i = 0; i < 200000; ++i) words += "=?a?q?";
  std::string decoded = decode_rfc2047(words);
  EXPECT_EQ(decoded, words);

  std::string big = "Content-Type: multipart/mixed; boundary=z\r\n\r\n--z\r\n\r\n";
  big += std::string(8 * 1024 * 1024, 'x');
  big += "\r\n--z--\r\n";
  auto ms = parse_message(big);
  ASSERT_EQ(ms.root.children.size(), 1u);
  EXPECT_EQ(ms.root.children[0].body_size, 8u * 1024 * 1024);

  std::string comments(100000, '(');
  EXPECT_TRUE(parse_address_list(comments).empty());
  EXPECT_EQ(parse_rfc5322_date(comments), std::nullopt);
}

}  // namespace
}  // namespace cyr::mail

namespace cyr::mail {
namespace {

TEST(Decoding, TransferEncodings) {
  EXPECT_EQ(decode_transfer_encoding("aGVs\r\nbG8=\r\n", "base64"), "hello");
  EXPECT_EQ(decode_transfer_encoding("aGVsbG8", "BASE64"), "hello");  // padding is optional
  EXPECT_EQ(decode_transfer_encoding("caf=C3=A9 soft=\r\nbreak=\nx", "quoted-printable"),
            "caf\xC3\xA9 softbreakx");
  EXPECT_EQ(decode_transfer_encoding("a=  \r\nb", "quoted-printable"), "ab");
  EXPECT_EQ(decode_transfer_encoding("bad=ZZ end=", "quoted-printable"), "bad=ZZ end");
  EXPECT_EQ(decode_transfer_encoding("=4", "quoted-printable"), "=4");
  EXPECT_EQ(decode_transfer_encoding("as is=41", "7bit"), "as is=41");
}

TEST(Decoding, Charsets) {
  EXPECT_EQ(convert_to_utf8("ISO-8859-1", "caf\xE9"), "caf\xC3\xA9");
  EXPECT_EQ(convert_to_utf8("utf-8", "ok\xFF"), "ok\xEF\xBF\xBD");
  EXPECT_EQ(convert_to_utf8("koi8-r", "\xF2"), "\xD0\xA0");
  EXPECT_EQ(convert_to_utf8("no-such-charset", "x"), std::nullopt);
  EXPECT_EQ(convert_to_utf8("../../etc/passwd", "x"), std::nullopt);
}

TEST(Decoding, Rfc2231Params) {
  MimeParams raw = {{"name", "plain.txt"},
                    {"filename*0*", "utf-8''caf%C3%A9"},
                    {"filename*1", " menu.pdf"},
                    {"title*", "iso-8859-1'en'%E9t%E9"},
                    {"filename", "fallback.pdf"},
                    {"junk*x", "dropped"}};
  auto p = decode_rfc2231_params(raw);
  EXPECT_EQ(p, (MimeParams{{"name", "plain.txt"},
                           {"filename", "caf\xC3\xA9 menu.pdf"},
                           {"title", "\xC3\xA9t\xC3\xA9"}}));
  // Segments are joined in index order, whatever order they came in.
  auto q = decode_rfc2231_params({{"x*1", "b"}, {"x*0", "a"}, {"x*2", "c"}});
  EXPECT_EQ(q, (MimeParams{{"x", "abc"}}));
}

}  // namespace
}  // namespace cyr::mail

namespace cyr::mail {
namespace {

TEST(Addresses, CommentAsName) {
  auto a = parse_address_list("fred@example.com (Fred Smith), bare@x (), \"q(x)\"@y, z@w (a (nested)) (second)");
  ASSERT_EQ(a.size(), 4u);
  EXPECT_EQ(a[0].name, "Fred Smith");
  EXPECT_EQ(a[0].mailbox, "fred");
  EXPECT_EQ(a[1].name, std::nullopt);  // empty comment: no name
  EXPECT_EQ(a[2].name, std::nullopt);  // parentheses inside quotes are not a comment
  EXPECT_EQ(a[2].mailbox, "\"q(x)\"");
  EXPECT_EQ(a[3].name, "a (nested)");
  // A display name wins over a comment.
  a = parse_address_list("Fred <fred@example.com> (comment)");
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0].name, "Fred");
}

}  // namespace
}  // namespace cyr::mail
