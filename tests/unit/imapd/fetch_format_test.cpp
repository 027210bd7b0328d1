#include "server/imapd/fetch_format.h"

#include <gtest/gtest.h>

namespace cyr::imapd {
namespace {

const char kSimple[] =
    "From: Fred Foobar <foobar@Blurdybloop.example>\r\n"
    "Subject: afternoon meeting\r\n"
    "To: mooch@owatagu.siam.edu.example\r\n"
    "Message-Id: <B27397-0100000@Blurdybloop.example>\r\n"
    "Date: Mon, 7 Feb 1994 21:52:25 -0800\r\n"
    "\r\n"
    "Hello Joe, do you think we can meet at 3:30 tomorrow?\r\n";

const char kMultipart[] =
    "From: a@example.com\r\n"
    "Subject: parts\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: multipart/mixed; boundary=\"XX\"\r\n"
    "\r\n"
    "preamble\r\n"
    "--XX\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "\r\n"
    "first part\r\n"
    "--XX\r\n"
    "Content-Type: application/octet-stream\r\n"
    "Content-Transfer-Encoding: base64\r\n"
    "Content-Disposition: attachment; filename=\"a.bin\"\r\n"
    "\r\n"
    "AAEC\r\n"
    "--XX--\r\n";

std::string envelope_of(const char* msg) {
  auto st = mail::parse_message(msg);
  std::string out;
  imap::ResponseWriter w(out);
  write_envelope(w, st.envelope);
  return out;
}

TEST(FetchFormat, EnvelopeRfc3501Example) {
  EXPECT_EQ(envelope_of(kSimple),
            "(\"Mon, 7 Feb 1994 21:52:25 -0800\" \"afternoon meeting\" "
            "((\"Fred Foobar\" NIL \"foobar\" \"Blurdybloop.example\")) "
            "((\"Fred Foobar\" NIL \"foobar\" \"Blurdybloop.example\")) "
            "((\"Fred Foobar\" NIL \"foobar\" \"Blurdybloop.example\")) "
            "((NIL NIL \"mooch\" \"owatagu.siam.edu.example\")) NIL NIL NIL "
            "\"<B27397-0100000@Blurdybloop.example>\")");
}

// env-to = "(" 1*address ")": no space between the addresses (Cyrus 3.6
// writes them so; a strict parser stops at a space).
TEST(FetchFormat, EnvelopeAddressesFollowEachOtherWithoutSpace) {
  std::string env = envelope_of(
      "From: a@example.com\r\nTo: carol@example.com, Dave <dave@example.com>\r\n"
      "Cc: A Group: x@example.com, y@example.com;\r\n\r\nbody\r\n");
  EXPECT_NE(env.find("((NIL NIL \"carol\" \"example.com\")(\"Dave\" NIL \"dave\" \"example.com\"))"),
            std::string::npos) << env;
  EXPECT_NE(env.find("((NIL NIL \"A Group\" NIL)(NIL NIL \"x\" \"example.com\")(NIL NIL \"y\" \"example.com\")"
                     "(NIL NIL NIL NIL))"),
            std::string::npos) << env;
}

std::string structure_of(const std::string& msg, bool extensible = true) {
  auto st = mail::parse_message(msg);
  std::string out;
  imap::ResponseWriter w(out);
  write_body_structure(w, st.root, extensible);
  return out;
}

// RFC 2231 continuations are shown joined, as Cyrus does: one NAME, and one
// FILENAME* with the extended value (plain segments %-encoded into it).
TEST(FetchFormat, BodyStructureJoinsRfc2231Continuations) {
  std::string out = structure_of(
      "Content-Type: application/pdf; name*0=\"a very long \"; name*1=\"file name.pdf\"\r\n"
      "Content-Disposition: attachment; filename*0*=UTF-8''very%20long%20;\r\n"
      " filename*1*=%C3%BCnicode%20; filename*2=\"name (1).pdf\"\r\n"
      "\r\n%PDF\r\n");
  EXPECT_NE(out.find("(\"NAME\" \"a very long file name.pdf\")"), std::string::npos) << out;
  EXPECT_NE(out.find("(\"ATTACHMENT\" (\"FILENAME*\" \"UTF-8''very%20long%20%C3%BCnicode%20name%20%281%29.pdf\"))"),
            std::string::npos) << out;
  // Segments out of order are put in order; other parameters stay where they were.
  out = structure_of("Content-Type: text/plain; x*1=\"b\"; charset=utf-8; x*0=\"a\"\r\n\r\nhi\r\n");
  EXPECT_NE(out.find("(\"X\" \"ab\" \"CHARSET\" \"utf-8\")"), std::string::npos) << out;
}

// message/global is a basic part in IMAP4rev1 (only message/rfc822 carries
// an envelope, a body and a line count), as Cyrus 3.6 shows it.
TEST(FetchFormat, MessageGlobalIsABasicPart) {
  std::string msg =
      "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nx\r\n"
      "--b\r\nContent-Type: message/global\r\n\r\nSubject: glob\r\n\r\ngbody\r\n--b--\r\n";
  std::string out = structure_of(msg, false);
  EXPECT_NE(out.find("(\"MESSAGE\" \"GLOBAL\" NIL NIL NIL \"7BIT\" 22)"), std::string::npos) << out;
  out = structure_of(msg);
  EXPECT_EQ(out.find("glob\""), std::string::npos) << out;  // no envelope
}

TEST(FetchFormat, BodyStructureOfSimpleText) {
  auto st = mail::parse_message(kSimple);
  std::string out;
  imap::ResponseWriter w(out);
  write_body_structure(w, st.root, false);
  EXPECT_EQ(out, "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"us-ascii\") NIL NIL \"7BIT\" 55 1)");
}

TEST(FetchFormat, BodyStructureOfMultipart) {
  auto st = mail::parse_message(kMultipart);
  std::string body, bs;
  imap::ResponseWriter wb(body), ws(bs);
  write_body_structure(wb, st.root, false);
  write_body_structure(ws, st.root, true);
  EXPECT_EQ(body,
            "((\"TEXT\" \"PLAIN\" (\"CHARSET\" \"utf-8\") NIL NIL \"7BIT\" 10 0)"
            "(\"APPLICATION\" \"OCTET-STREAM\" NIL NIL NIL \"BASE64\" 4) \"MIXED\")");
  EXPECT_NE(bs.find("(\"ATTACHMENT\" (\"FILENAME\" \"a.bin\"))"), std::string::npos) << bs;
  EXPECT_NE(bs.find("\"MIXED\" (\"BOUNDARY\" \"XX\")"), std::string::npos) << bs;
}

TEST(FetchFormat, Sections) {
  std::string msg = kMultipart;
  auto st = mail::parse_message(msg);
  imap::Section s1;
  s1.part = {1};
  EXPECT_EQ(*extract_section(st, msg, s1), "first part");
  imap::Section mime;
  mime.part = {2};
  mime.text = imap::Section::Text::Mime;
  EXPECT_NE(extract_section(st, msg, mime)->find("Content-Transfer-Encoding: base64"),
            std::string::npos);
  imap::Section fields;
  fields.text = imap::Section::Text::HeaderFields;
  fields.fields = {"SUBJECT"};
  EXPECT_EQ(*extract_section(st, msg, fields), "Subject: parts\r\n\r\n");
  imap::Section nofields = fields;
  nofields.text = imap::Section::Text::HeaderFieldsNot;
  std::string rest = *extract_section(st, msg, nofields);
  EXPECT_EQ(rest.find("Subject"), std::string::npos);
  EXPECT_NE(rest.find("From: a@example.com"), std::string::npos);
  imap::Section missing;
  missing.part = {9};
  EXPECT_FALSE(extract_section(st, msg, missing).has_value());
}

TEST(FetchFormat, FilterKeepsContinuationLines) {
  std::string hdr = "To: a,\r\n b\r\nCc: c\r\n\r\n";
  EXPECT_EQ(filter_header_fields(hdr, {"TO"}, false), "To: a,\r\n b\r\n\r\n");
  EXPECT_EQ(filter_header_fields(hdr, {"TO"}, true), "Cc: c\r\n\r\n");
}

TEST(FetchFormat, SectionItemNames) {
  imap::FetchItem it;
  it.kind = imap::FetchItem::Kind::BodySection;
  it.peek = true;
  it.section.part = {1, 2};
  it.section.text = imap::Section::Text::HeaderFields;
  it.section.fields = {"FROM", "TO"};
  it.partial = imap::Partial{0, 10};
  EXPECT_EQ(section_item_name(it), "BODY[1.2.HEADER.FIELDS (FROM TO)]<0>");
  imap::FetchItem whole;
  whole.kind = imap::FetchItem::Kind::BodySection;
  EXPECT_EQ(section_item_name(whole), "BODY[]");
}

TEST(FetchFormat, Flags) {
  store::Flags f;
  f.system = store::kFlagSeen | store::kFlagDeleted;
  f.keywords = {"$Label1"};
  EXPECT_EQ(flag_names(f), (std::vector<std::string>{"\\Deleted", "\\Seen", "$Label1"}));
  auto parsed = parse_flag_names({"\\seen", "\\Flagged", "Work", "work"});
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->system, store::kFlagSeen | store::kFlagFlagged);
  EXPECT_EQ(parsed->keywords, (std::vector<std::string>{"Work"}));
  EXPECT_FALSE(parse_flag_names({"\\Recent"}).ok());
  EXPECT_FALSE(parse_flag_names({"\\Bogus"}).ok());

  // The writer's form names the same flags, in the same order.
  f.system = store::kSettableSystemFlags;
  f.keywords = {"$Label1", "Work"};
  std::string out;
  imap::ResponseWriter w(out);
  write_flag_names(w, f);
  EXPECT_EQ(out, "\\Answered \\Flagged \\Deleted \\Seen \\Draft $Label1 Work");
  std::string joined;
  for (const auto& n : flag_names(f)) joined += (joined.empty() ? "" : " ") + n;
  EXPECT_EQ(out, joined);
}

TEST(FetchFormat, EnvelopeFromStoredBlobEqualsFullStructure) {
  // FETCH ENVELOPE alone decodes only the envelope of the stored blob; the
  // text must be what the full structure gives (BODYSTRUCTURE's path).
  for (const char* msg : {kSimple, kMultipart, "", "Subject: x\r\n\r\n"}) {
    auto st = mail::parse_message(msg);
    const std::string blob = st.serialize();  // the view points into it
    mail::EnvelopeView view;
    ASSERT_TRUE(mail::decode_envelope(blob, view).ok());
    std::string from_view;
    imap::ResponseWriter w(from_view);
    write_envelope(w, view);
    EXPECT_EQ(from_view, envelope_of(msg));
  }
}

TEST(FetchFormat, Dates) {
  EXPECT_EQ(format_internal_date(0), "01-Jan-1970 00:00:00 +0000");
  imap::DateTime dt{{1996, 7, 17}, 2, 44, 25, -420};
  EXPECT_EQ(datetime_to_epoch(dt), 837596665);
  EXPECT_EQ(format_internal_date(837596665), "17-Jul-1996 09:44:25 +0000");
}

}  // namespace
}  // namespace cyr::imapd

namespace cyr::imapd {
namespace {

// The preview of a whole parsed message, as FETCH PREVIEW makes it.
std::string preview_of(const std::string& message) {
  mail::MessageStructure st = mail::parse_message(message);
  const mail::BodyPart* part = preview_part(st);
  if (!part) return "<none>";
  std::string_view raw = std::string_view(message).substr(part->body_offset, part->body_size);
  bool truncated = raw.size() > kPreviewMaxRawBytes;
  return make_preview(*part, raw.substr(0, kPreviewMaxRawBytes), truncated);
}

TEST(Preview, QuotedPrintableLatin1) {
  std::string m =
      "Subject: x\r\nContent-Type: text/plain; charset=ISO-8859-1\r\n"
      "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
      "  Caf=E9   cr=E8me\r\n\r\n\tbr=FBl=E9e soft=\r\nbreak  \r\n";
  EXPECT_EQ(preview_of(m), "Caf\xC3\xA9 cr\xC3\xA8me br\xC3\xBBl\xC3\xA9" "e softbreak");
}

TEST(Preview, HtmlOnly) {
  std::string m =
      "Subject: x\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
      "<html><head><title>T</title><style>p {color: red}</style></head>\r\n"
      "<body><p>Hello&nbsp;<b>W</b>orld &amp; friends</p><!-- hidden --><div>x &lt; y&#233;"
      "&#x263A;</div><script>alert(1)</script>end</body></html>\r\n";
  EXPECT_EQ(preview_of(m), "Hello World & friends x < y\xC3\xA9\xE2\x98\xBA end");
}

TEST(Preview, AlternativePrefersPlainAndSkipsAttachments) {
  std::string m =
      "Subject: x\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"M\"\r\n\r\n"
      "--M\r\nContent-Type: text/plain\r\nContent-Disposition: attachment; filename=a.txt\r\n\r\n"
      "attached\r\n"
      "--M\r\nContent-Type: multipart/alternative; boundary=\"A\"\r\n\r\n"
      "--A\r\nContent-Type: text/html\r\n\r\n<p>html version</p>\r\n"
      "--A\r\nContent-Type: text/plain; charset=us-ascii\r\n"
      "Content-Transfer-Encoding: base64\r\n\r\ncGxhaW4gdmVyc2lvbg==\r\n"
      "--A--\r\n--M--\r\n";
  EXPECT_EQ(preview_of(m), "plain version");
}

TEST(Preview, NoTextIsEmpty) {
  EXPECT_EQ(preview_of("Subject: x\r\nContent-Type: image/png\r\n\r\nPNG\r\n"), "<none>");
  EXPECT_EQ(preview_of("Subject: x\r\n\r\n \r\n\t\r\n"), "");
}

TEST(Preview, CutAt200CharactersNeverInsideOne) {
  std::string body;
  for (int i = 0; i < 300; ++i) body += "\xC3\xA9";  // 300 two-byte characters
  std::string p = preview_of("Content-Type: text/plain; charset=utf-8\r\n\r\n" + body + "\r\n");
  EXPECT_EQ(p.size(), 2 * kPreviewMaxChars);
  EXPECT_EQ(p, body.substr(0, 2 * kPreviewMaxChars));
  // Invalid UTF-8 becomes U+FFFD, still within the limit.
  p = preview_of("Content-Type: text/plain; charset=utf-8\r\n\r\nab\xFF" "cd\r\n");
  EXPECT_EQ(p, "ab\xEF\xBF\xBD" "cd");
}

TEST(Preview, ReadsOnlyTheBoundedPrefix) {
  // A body far longer than the read bound: the preview comes from its
  // start; the cut last line (mid quoted-printable escape) is dropped.
  std::string body = "first line =C3=A9\r\n";
  while (body.size() < 3 * kPreviewMaxRawBytes) body += "filler filler filler =C3=A9=\r\n";
  std::string m = "Content-Type: text/plain; charset=utf-8\r\n"
                  "Content-Transfer-Encoding: quoted-printable\r\n\r\n" + body;
  std::string p = preview_of(m);
  EXPECT_EQ(p.substr(0, 13), "first line \xC3\xA9");
  EXPECT_LE(p.size(), 4 * kPreviewMaxChars);
}

TEST(Preview, HtmlToTextLeavesUnknownEntitiesAndUnfinishedTags) {
  EXPECT_EQ(html_to_text("a &bogus; b &#xZZ; c<br>d<unfinished"), "a &bogus; b &#xZZ; c d");
  EXPECT_EQ(html_to_text("<SCRIPT>x</script>y<Style>z"), "y");
}

}  // namespace
}  // namespace cyr::imapd
