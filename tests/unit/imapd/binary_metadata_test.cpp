// BINARY[part] decoding (RFC 3516) and METADATA entry names, DEPTH and the
// METADATA response (RFC 5464), as pure functions.
#include <gtest/gtest.h>

#include "server/imapd/fetch_format.h"
#include "server/imapd/metadata.h"

namespace cyr::imapd {
namespace {

const char kParts[] =
    "From: a@example.com\r\n"
    "Subject: parts\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: multipart/mixed; boundary=\"XX\"\r\n"
    "\r\n"
    "--XX\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "Content-Transfer-Encoding: quoted-printable\r\n"
    "\r\n"
    "caf=C3=A9 =\r\nau lait\r\n"
    "--XX\r\n"
    "Content-Type: application/octet-stream\r\n"
    "Content-Transfer-Encoding: base64\r\n"
    "\r\n"
    "AAEC/w==\r\n"
    "--XX\r\n"
    "Content-Type: application/x-thing\r\n"
    "Content-Transfer-Encoding: x-uuencode\r\n"
    "\r\n"
    "begin 644 x\r\n"
    "--XX--\r\n";

TEST(ExtractBinary, DecodesQuotedPrintableAndBase64) {
  std::string_view msg = kParts;
  auto st = mail::parse_message(msg);
  auto qp = extract_binary(st, msg, {1});
  ASSERT_EQ(qp.status, BinaryContent::Status::Ok);
  EXPECT_EQ(qp.data, "caf\xC3\xA9 au lait");
  auto b64 = extract_binary(st, msg, {2});
  ASSERT_EQ(b64.status, BinaryContent::Status::Ok);
  EXPECT_EQ(b64.data, std::string("\x00\x01\x02\xff", 4));
}

TEST(ExtractBinary, UnknownEncodingMissingPartAndWholeMessage) {
  std::string_view msg = kParts;
  auto st = mail::parse_message(msg);
  auto uu = extract_binary(st, msg, {3});
  EXPECT_EQ(uu.status, BinaryContent::Status::UnknownCte);
  EXPECT_EQ(uu.encoding, "x-uuencode");
  EXPECT_EQ(extract_binary(st, msg, {9}).status, BinaryContent::Status::NoSuchPart);
  auto whole = extract_binary(st, msg, {});
  ASSERT_EQ(whole.status, BinaryContent::Status::Ok);
  EXPECT_EQ(whole.data, msg);  // BINARY[]: the message as stored
}

TEST(ExtractBinary, SevenBitPartIsAsIs) {
  std::string_view msg = "Subject: x\r\n\r\nplain body\r\n";
  auto st = mail::parse_message(msg);
  auto one = extract_binary(st, msg, {1});
  ASSERT_EQ(one.status, BinaryContent::Status::Ok);
  EXPECT_EQ(one.data, "plain body\r\n");
}

TEST(BinaryItemNames, AsEchoed) {
  imap::FetchItem it;
  it.kind = imap::FetchItem::Kind::BinarySection;
  it.peek = true;
  it.section.part = {1, 2};
  it.partial = imap::Partial{10, 5};
  EXPECT_EQ(section_item_name(it), "BINARY[1.2]<10>");
  it.kind = imap::FetchItem::Kind::BinarySize;
  it.partial.reset();
  EXPECT_EQ(section_item_name(it), "BINARY.SIZE[1.2]");
}

TEST(MetadataEntry, ParsesAndLowerCases) {  // RFC 5464 3.2
  auto e = parse_metadata_entry("/Shared/Comment");
  ASSERT_TRUE(e.ok());
  EXPECT_TRUE(e->shared);
  EXPECT_EQ(e->name, "/comment");
  EXPECT_EQ(e->imap(), "/shared/comment");
  auto p = parse_metadata_entry("/private/vendor/example/x");
  ASSERT_TRUE(p.ok());
  EXPECT_FALSE(p->shared);
  EXPECT_EQ(p->name, "/vendor/example/x");
}

TEST(MetadataEntry, RefusesBadNames) {
  for (const char* bad : {"", "comment", "/comment", "/shared", "/shared/", "/shared//x",
                          "/shared/a*", "/private/%", "/sharedx/y", "/shared/a b",
                          "/private/caf\xc3\xa9"})
    EXPECT_FALSE(parse_metadata_entry(bad).ok()) << bad;
  EXPECT_FALSE(parse_metadata_entry("/shared/" + std::string(kMaxMetadataEntryLength, 'a')).ok());
  // The bare prefix only for a GETMETADATA with DEPTH.
  auto prefix = parse_metadata_entry("/private", true);
  ASSERT_TRUE(prefix.ok());
  EXPECT_EQ(prefix->name, "");
}

TEST(MetadataDepth, ZeroOneInfinity) {  // RFC 5464 4.2.2
  EXPECT_TRUE(metadata_depth_matches("/filters", "/filters", "0"));
  EXPECT_FALSE(metadata_depth_matches("/filters", "/filters/values", "0"));
  EXPECT_TRUE(metadata_depth_matches("/filters", "/filters/values", "1"));
  EXPECT_FALSE(metadata_depth_matches("/filters", "/filters/values/a", "1"));
  EXPECT_TRUE(metadata_depth_matches("/filters", "/filters/values/a", "infinity"));
  EXPECT_FALSE(metadata_depth_matches("/filters", "/filtersx", "infinity"));
  EXPECT_TRUE(metadata_depth_matches("", "/comment", "1"));
  EXPECT_FALSE(metadata_depth_matches("", "/vendor/x", "1"));
}

TEST(MetadataResponse, Rfc5464Examples) {  // RFC 5464 4.4.1
  std::string out;
  imap::ResponseWriter w(out);
  write_metadata_response(w, "", {{"/shared/comment", std::string("Shared comment")}});
  EXPECT_EQ(out, "* METADATA \"\" (/shared/comment \"Shared comment\")\r\n");
  out.clear();
  write_metadata_response(w, "INBOX", {{"/private/comment", std::string("My comment")},
                                       {"/shared/comment", std::nullopt}});
  EXPECT_EQ(out, "* METADATA INBOX (/private/comment \"My comment\" /shared/comment NIL)\r\n");
  out.clear();
  write_metadata_response(w, "INBOX", {{"/private/x", std::string("a\r\nb")},
                                       {"/private/y", std::string("a") + '\0'}});
  EXPECT_EQ(out, std::string("* METADATA INBOX (/private/x {4}\r\na\r\nb /private/y ~{2}\r\na") +
                     '\0' + ")\r\n");
}

}  // namespace
}  // namespace cyr::imapd
