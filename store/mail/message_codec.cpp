// MessageStructure::serialize() / deserialize(): the binary form the store
// keeps in its index. The format is specified in
// docs/formats/message-structure.md; keep the two in step.

#include <array>

#include "store/mail/message.h"

namespace cyr::mail {

namespace {

constexpr char kMagic[4] = {'C', 'Y', 'M', 'S'};
constexpr uint8_t kVersion = 1;
// Deeper than any structure parse_message() produces with sane limits, and
// shallow enough that recursive decoding cannot exhaust the stack.
constexpr size_t kMaxDecodeDepth = 256;
constexpr size_t kMaxDecodeParts = 100000;

// CRC-32 (IEEE 802.3, reflected, as zlib computes it).
uint32_t crc32(std::string_view data) {
  static const std::array<uint32_t, 256> table = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xedb88320u ^ (c >> 1) : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  uint32_t c = 0xffffffffu;
  for (unsigned char b : data) c = table[(c ^ b) & 0xff] ^ (c >> 8);
  return c ^ 0xffffffffu;
}

class Writer {
 public:
  void varint(uint64_t v) {
    while (v >= 0x80) {
      out_ += static_cast<char>((v & 0x7f) | 0x80);
      v >>= 7;
    }
    out_ += static_cast<char>(v);
  }
  void str(std::string_view s) {
    varint(s.size());
    out_.append(s);
  }
  // Optional strings: 0 = absent, else length + 1.
  void opt(const std::optional<std::string>& s) {
    if (!s) {
      varint(0);
      return;
    }
    varint(s->size() + 1);
    out_.append(*s);
  }
  void params(const MimeParams& p) {
    varint(p.size());
    for (const auto& [k, v] : p) {
      str(k);
      str(v);
    }
  }
  void addresses(const std::vector<Address>& list) {
    varint(list.size());
    for (const auto& a : list) {
      varint(static_cast<uint8_t>(a.kind));
      opt(a.name);
      opt(a.adl);
      opt(a.mailbox);
      opt(a.host);
    }
  }
  void envelope(const Envelope& e) {
    opt(e.date);
    opt(e.subject);
    addresses(e.from);
    addresses(e.sender);
    addresses(e.reply_to);
    addresses(e.to);
    addresses(e.cc);
    addresses(e.bcc);
    opt(e.in_reply_to);
    opt(e.message_id);
  }
  void part(const BodyPart& p) {
    str(p.type);
    str(p.subtype);
    params(p.params);
    opt(p.id);
    opt(p.description);
    str(p.encoding);
    opt(p.md5);
    opt(p.disposition);
    params(p.disposition_params);
    varint(p.languages.size());
    for (const auto& l : p.languages) str(l);
    opt(p.location);
    varint(p.header_offset);
    varint(p.header_size);
    varint(p.body_size);
    varint(p.body_lines);
    varint(p.envelope ? 1 : 0);
    if (p.envelope) envelope(*p.envelope);
    varint(p.children.size());
    for (const auto& c : p.children) part(c);
  }
  std::string& out() { return out_; }

 private:
  std::string out_;
};

Error corrupt(const char* why) {
  return Error(Errc::Corrupted, "Message structure is corrupted", why);
}

class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}

  bool varint(uint64_t& v) {
    v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (pos_ >= in_.size()) return false;
      uint8_t b = static_cast<uint8_t>(in_[pos_++]);
      if (shift == 63 && b > 1) return false;  // would overflow 64 bits
      v |= static_cast<uint64_t>(b & 0x7f) << shift;
      if (!(b & 0x80)) return true;
    }
    return false;
  }
  // A count of items that each take at least one byte: never more than the
  // bytes left, so a corrupted count cannot make us allocate gigabytes.
  bool count(uint64_t& n) { return varint(n) && n <= in_.size() - pos_; }
  bool str(std::string& s) {
    uint64_t n;
    if (!varint(n) || n > in_.size() - pos_) return false;
    s.assign(in_.substr(pos_, n));
    pos_ += n;
    return true;
  }
  bool opt(std::optional<std::string>& s) {
    uint64_t n;
    if (!varint(n)) return false;
    if (n == 0) {
      s.reset();
      return true;
    }
    --n;
    if (n > in_.size() - pos_) return false;
    s = std::string(in_.substr(pos_, n));
    pos_ += n;
    return true;
  }
  bool params(MimeParams& p) {
    uint64_t n;
    if (!count(n)) return false;
    p.resize(n);
    for (auto& [k, v] : p)
      if (!str(k) || !str(v)) return false;
    return true;
  }
  bool addresses(std::vector<Address>& list) {
    uint64_t n;
    if (!count(n)) return false;
    list.resize(n);
    for (auto& a : list) {
      uint64_t kind;
      if (!varint(kind) || kind > 2) return false;
      a.kind = static_cast<Address::Kind>(kind);
      if (!opt(a.name) || !opt(a.adl) || !opt(a.mailbox) || !opt(a.host)) return false;
    }
    return true;
  }
  bool envelope(Envelope& e) {
    return opt(e.date) && opt(e.subject) && addresses(e.from) && addresses(e.sender) &&
           addresses(e.reply_to) && addresses(e.to) && addresses(e.cc) && addresses(e.bcc) &&
           opt(e.in_reply_to) && opt(e.message_id);
  }
  bool part(BodyPart& p, uint64_t message_size, size_t depth) {
    if (depth > kMaxDecodeDepth || ++parts_ > kMaxDecodeParts) return false;
    if (!str(p.type) || !str(p.subtype) || !params(p.params) || !opt(p.id) || !opt(p.description) ||
        !str(p.encoding) || !opt(p.md5) || !opt(p.disposition) || !params(p.disposition_params))
      return false;
    uint64_t nlang;
    if (!count(nlang)) return false;
    p.languages.resize(nlang);
    for (auto& l : p.languages)
      if (!str(l)) return false;
    if (!opt(p.location)) return false;
    if (!varint(p.header_offset) || !varint(p.header_size) || !varint(p.body_size) || !varint(p.body_lines))
      return false;
    // Every range must lie inside the message, without overflow.
    if (p.header_offset > message_size || p.header_size > message_size - p.header_offset) return false;
    p.body_offset = p.header_offset + p.header_size;
    if (p.body_size > message_size - p.body_offset) return false;
    if (p.body_lines > p.body_size) return false;
    uint64_t has_env;
    if (!varint(has_env) || has_env > 1) return false;
    if (has_env) {
      p.envelope.emplace();
      if (!envelope(*p.envelope)) return false;
    }
    uint64_t nchildren;
    if (!count(nchildren)) return false;
    p.children.resize(nchildren);
    for (auto& c : p.children) {
      if (!part(c, message_size, depth + 1)) return false;
      // A child lies inside its parent's body.
      if (c.header_offset < p.body_offset || c.body_offset + c.body_size > p.body_offset + p.body_size)
        return false;
    }
    return true;
  }
  bool at_end() const { return pos_ == in_.size(); }

 private:
  std::string_view in_;
  size_t pos_ = 0;
  size_t parts_ = 0;
};

}  // namespace

std::string MessageStructure::serialize() const {
  Writer w;
  w.out().append(kMagic, sizeof kMagic);
  w.out() += static_cast<char>(kVersion);
  w.varint(size);
  w.varint(flags);
  w.envelope(envelope);
  w.part(root);
  uint32_t crc = crc32(w.out());
  for (int i = 0; i < 4; ++i) w.out() += static_cast<char>((crc >> (8 * i)) & 0xff);
  return std::move(w.out());
}

Result<MessageStructure> MessageStructure::deserialize(std::string_view blob) {
  if (blob.size() < sizeof kMagic + 1 + 4) return corrupt("blob too short");
  if (blob.compare(0, sizeof kMagic, std::string_view(kMagic, sizeof kMagic)) != 0) return corrupt("bad magic");
  uint8_t version = static_cast<uint8_t>(blob[sizeof kMagic]);
  if (version != kVersion) return corrupt("unknown version");
  std::string_view body = blob.substr(0, blob.size() - 4);
  uint32_t stored_crc = 0;
  for (int i = 0; i < 4; ++i)
    stored_crc |= static_cast<uint32_t>(static_cast<uint8_t>(blob[blob.size() - 4 + i])) << (8 * i);
  if (crc32(body) != stored_crc) return corrupt("checksum mismatch");

  Reader r(body.substr(sizeof kMagic + 1));
  MessageStructure ms;
  uint64_t flags;
  if (!r.varint(ms.size) || !r.varint(flags) || flags > 0xffffffffu) return corrupt("bad header");
  ms.flags = static_cast<uint32_t>(flags);
  if (!r.envelope(ms.envelope)) return corrupt("bad envelope");
  if (!r.part(ms.root, ms.size, 0)) return corrupt("bad body structure");
  if (ms.root.header_offset != 0) return corrupt("root part does not start the message");
  if (!r.at_end()) return corrupt("trailing bytes");
  return ms;
}

}  // namespace cyr::mail
