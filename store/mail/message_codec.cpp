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

// CRC-32 (IEEE 802.3, reflected, as zlib computes it), eight bytes per step
// ("slicing by 8": table k holds the CRC of a byte followed by k zero
// bytes). Every FETCH ENVELOPE checks a blob, and the one-byte-per-step
// loop was most of deserialize()'s time over 100,000 messages.
using CrcTables = std::array<std::array<uint32_t, 256>, 8>;

const CrcTables& crc_tables() {
  static const CrcTables tables = [] {
    CrcTables t{};
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xedb88320u ^ (c >> 1) : c >> 1;
      t[0][i] = c;
    }
    for (size_t k = 1; k < 8; ++k)
      for (uint32_t i = 0; i < 256; ++i) t[k][i] = (t[k - 1][i] >> 8) ^ t[0][t[k - 1][i] & 0xff];
    return t;
  }();
  return tables;
}

uint32_t crc32(std::string_view data) {
  const CrcTables& t = crc_tables();
  const auto* p = reinterpret_cast<const unsigned char*>(data.data());
  size_t n = data.size();
  uint32_t c = 0xffffffffu;
  while (n >= 8) {
    // Little-endian assembly of the words, spelled out so the result does
    // not depend on the host's byte order.
    uint32_t lo = c ^ (uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24);
    uint32_t hi = uint32_t(p[4]) | uint32_t(p[5]) << 8 | uint32_t(p[6]) << 16 | uint32_t(p[7]) << 24;
    c = t[7][lo & 0xff] ^ t[6][(lo >> 8) & 0xff] ^ t[5][(lo >> 16) & 0xff] ^ t[4][lo >> 24] ^
        t[3][hi & 0xff] ^ t[2][(hi >> 8) & 0xff] ^ t[1][(hi >> 16) & 0xff] ^ t[0][hi >> 24];
    p += 8;
    n -= 8;
  }
  for (; n > 0; --n, ++p) c = t[0][(c ^ *p) & 0xff] ^ (c >> 8);
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
  // An owned copy of the view below.
  bool opt(std::optional<std::string>& s) {
    std::optional<std::string_view> v;
    if (!opt(v)) return false;
    if (v) s = std::string(*v);
    else s.reset();
    return true;
  }
  // An optional string (length + 1, 0 for none), as a view into the input
  // (decode_envelope() reads envelopes without copies).
  bool opt(std::optional<std::string_view>& s) {
    uint64_t n;
    if (!varint(n)) return false;
    if (n == 0) {
      s.reset();
      return true;
    }
    --n;
    if (n > in_.size() - pos_) return false;
    s = in_.substr(pos_, n);
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
  // Address / AddressView and Envelope / EnvelopeView: one decoder for the
  // owning and the viewing form, so the two cannot drift apart.
  template <class A>
  bool addresses(std::vector<A>& list) {
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
  template <class E>
  bool envelope(E& e) {
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

// The checks deserialize() and decode_envelope() share: length, magic,
// version and the CRC of everything before it. Returns what lies between
// the version byte and the CRC.
Result<std::string_view> checked_payload(std::string_view blob) {
  if (blob.size() < sizeof kMagic + 1 + 4) return corrupt("blob too short");
  if (blob.compare(0, sizeof kMagic, std::string_view(kMagic, sizeof kMagic)) != 0) return corrupt("bad magic");
  uint8_t version = static_cast<uint8_t>(blob[sizeof kMagic]);
  if (version != kVersion) return corrupt("unknown version");
  std::string_view body = blob.substr(0, blob.size() - 4);
  uint32_t stored_crc = 0;
  for (int i = 0; i < 4; ++i)
    stored_crc |= static_cast<uint32_t>(static_cast<uint8_t>(blob[blob.size() - 4 + i])) << (8 * i);
  if (crc32(body) != stored_crc) return corrupt("checksum mismatch");
  return body.substr(sizeof kMagic + 1);
}

}  // namespace

EnvelopeView EnvelopeView::of(const Envelope& e) {
  auto opt = [](const std::optional<std::string>& s) {
    return s ? std::optional<std::string_view>(*s) : std::nullopt;
  };
  auto list = [&](const std::vector<Address>& in) {
    std::vector<AddressView> out;
    out.reserve(in.size());
    for (const Address& a : in) out.push_back({a.kind, opt(a.name), opt(a.adl), opt(a.mailbox), opt(a.host)});
    return out;
  };
  EnvelopeView v;
  v.date = opt(e.date);
  v.subject = opt(e.subject);
  v.from = list(e.from);
  v.sender = list(e.sender);
  v.reply_to = list(e.reply_to);
  v.to = list(e.to);
  v.cc = list(e.cc);
  v.bcc = list(e.bcc);
  v.in_reply_to = opt(e.in_reply_to);
  v.message_id = opt(e.message_id);
  return v;
}

Status decode_envelope(std::string_view blob, EnvelopeView& out) {
  auto payload = checked_payload(blob);
  if (!payload.ok()) return payload.take_error();
  Reader r(*payload);
  uint64_t size, flags;
  if (!r.varint(size) || !r.varint(flags) || flags > 0xffffffffu) return corrupt("bad header");
  if (!r.envelope(out)) return corrupt("bad envelope");
  return {};
}

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
  auto payload = checked_payload(blob);
  if (!payload.ok()) return payload.take_error();
  Reader r(*payload);
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
