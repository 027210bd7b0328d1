// Fuzz target: a message as any sender can make it (store/mail/message.h).
#include <string>
#include <string_view>
#include <vector>

#include "store/mail/message.h"
#include "store/mail/utf8.h"
#include "tests/unit/fuzz/targets.h"

namespace cyr::fuzz {
namespace {

bool valid_utf8(std::string_view s) {
  for (size_t i = 0; i < s.size();)
    if (!mail::next_utf8(s, i)) return false;
  return true;
}

bool inside(const std::optional<mail::ByteRange>& r, uint64_t size) {
  return !r || (r->offset <= size && r->size <= size - r->offset);
}

// Every part, walked in IMAP's part numbering (RFC 3501 6.4.5, as
// find_section() implements it): its ranges lie in the message, and the
// part find_section() names by its number is the one walked to.
void check_parts(const mail::MessageStructure& msg, const mail::BodyPart& part, std::vector<uint32_t>& path,
                 size_t& budget) {
  if (budget == 0) return;
  --budget;
  FUZZ_CHECK(part.header_offset <= msg.size && part.header_size <= msg.size - part.header_offset);
  FUZZ_CHECK(part.body_offset <= msg.size && part.body_size <= msg.size - part.body_offset);
  FUZZ_CHECK(inside(mail::section_body(msg, path), msg.size));
  FUZZ_CHECK(inside(mail::section_mime(msg, path), msg.size));
  FUZZ_CHECK(inside(mail::section_header(msg, path), msg.size));
  FUZZ_CHECK(inside(mail::section_text(msg, path), msg.size));
  // A multipart numbers its children; a message/rfc822 part numbers those
  // of its message (or, when that is not multipart, 1 names the message).
  const mail::BodyPart* numbering = &part;
  if (part.is_message()) {
    FUZZ_CHECK(part.children.size() == 1);
    FUZZ_CHECK(part.envelope.has_value());
    numbering = &part.children[0];
    if (!numbering->is_multipart()) {
      path.push_back(1);
      FUZZ_CHECK(mail::find_section(msg, path) == numbering);
      check_parts(msg, *numbering, path, budget);
      path.pop_back();
      return;
    }
  }
  if (!numbering->is_multipart()) return;
  for (uint32_t i = 0; i < numbering->children.size() && budget; ++i) {
    path.push_back(i + 1);
    FUZZ_CHECK(mail::find_section(msg, path) == &numbering->children[i]);
    check_parts(msg, numbering->children[i], path, budget);
    path.pop_back();
  }
}

void check_decoders(std::string_view header_block, std::string_view body) {
  for (auto& f : mail::parse_header_fields(header_block, 200)) {
    std::string value = mail::unfold_header_value(f.raw_value);
    std::string decoded = mail::decode_rfc2047(value);
    FUZZ_CHECK(decoded.size() <= 4 * value.size());
    FUZZ_CHECK(valid_utf8(decoded));
    (void)mail::parse_address_list(f.raw_value, 100);
    (void)mail::parse_rfc5322_date(value);
  }
  for (const char* enc : {"base64", "quoted-printable", "7bit"}) {
    std::string out = mail::decode_transfer_encoding(body, enc);
    FUZZ_CHECK(out.size() <= body.size());
  }
  for (const char* cs : {"utf-8", "iso-8859-1", "windows-1252", "iso-2022-jp"}) {
    if (auto u = mail::convert_to_utf8(cs, body.substr(0, 4096))) FUZZ_CHECK(valid_utf8(*u));
  }
}

}  // namespace

int message(const uint8_t* data, size_t size) {
  if (size > kMaxInput) size = kMaxInput;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  mail::MessageStructure msg = mail::parse_message(
      in, {kMessageMaxDepth, kMessageMaxParts, kMessageMaxHeaderBytes, kMessageMaxHeaderFields, kMessageMaxAddresses});
  FUZZ_CHECK(msg.size == size);
  FUZZ_CHECK(msg.root.header_offset == 0);

  // What the store keeps is what FETCH gets back.
  std::string blob = msg.serialize();
  auto back = mail::MessageStructure::deserialize(blob);
  FUZZ_CHECK(back.ok());
  FUZZ_CHECK(*back == msg);
  mail::EnvelopeView env;
  FUZZ_CHECK(mail::decode_envelope(blob, env).ok());
  FUZZ_CHECK(env.subject.has_value() == msg.envelope.subject.has_value());
  FUZZ_CHECK(env.from.size() == msg.envelope.from.size());
  // A damaged blob is refused or read as some structure; never misread past its end.
  if (!blob.empty()) {
    std::string damaged = blob;
    damaged[size % damaged.size()] ^= static_cast<char>(1 + size % 255);
    (void)mail::MessageStructure::deserialize(damaged);
    (void)mail::decode_envelope(damaged, env);
    (void)mail::MessageStructure::deserialize(std::string_view(blob).substr(0, blob.size() / 2));
  }

  // A multipart message numbers its parts from 1; any other has a part 1,
  // itself (and, if it is a message/rfc822, 1.n inside that).
  std::vector<uint32_t> path;
  FUZZ_CHECK(mail::find_section(msg, path) == &msg.root);
  if (!msg.root.is_multipart()) {
    path.push_back(1);
    FUZZ_CHECK(mail::find_section(msg, path) == &msg.root);
  }
  size_t budget = 1000;
  check_parts(msg, msg.root, path, budget);

  size_t hb = mail::header_block_size(in);
  FUZZ_CHECK(hb <= size);
  check_decoders(in.substr(0, hb), in.substr(hb));

  std::string munged(in);
  size_t n = mail::munge_8bit_header(munged);
  FUZZ_CHECK(munged.size() == size);
  FUZZ_CHECK(!mail::header_has_8bit(munged));
  FUZZ_CHECK((n > 0) == mail::header_has_8bit(in));
  (void)mail::has_bare_lf(in);
  (void)mail::has_bare_cr(in);
  return 0;
}

}  // namespace cyr::fuzz
