#include "server/imapd/fetch_format.h"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <ctime>

#include "server/imap/parser_args.h"
#include "server/imapd/search_eval.h"
#include "store/mail/utf8.h"

namespace cyr::imapd {

using imap::ResponseWriter;

namespace {

std::string upper(std::string_view s) { return imap::to_upper(s); }

void nstring(ResponseWriter& w, const std::optional<std::string_view>& s) {
  if (s) w.string(*s);
  else w.nil();
}

void write_address_list(ResponseWriter& w, const std::vector<mail::AddressView>& list) {
  if (list.empty()) {
    w.nil();
    return;
  }
  // env-to = "(" 1*address ")": the addresses follow each other with no
  // space between them (RFC 3501 9).
  w.begin_list();
  for (const mail::AddressView& a : list) {
    w.adjoin().begin_list();
    switch (a.kind) {
      case mail::Address::Kind::Mailbox:
        nstring(w, a.name);
        nstring(w, a.adl);
        nstring(w, a.mailbox);
        nstring(w, a.host);
        break;
      case mail::Address::Kind::GroupStart:
        w.nil().nil();
        nstring(w, a.mailbox);
        w.nil();
        break;
      case mail::Address::Kind::GroupEnd:
        w.nil().nil().nil().nil();
        break;
    }
    w.end_list();
  }
  w.end_list();
}

bool is_attribute_char(unsigned char c) {
  // RFC 2231 attribute-char: printable ASCII but SPACE, "*", "'", "%" and tspecials.
  return c > 0x20 && c < 0x7f && !std::strchr("*'%()<>@,;:\\\"/[]?=", c);
}

// RFC 2231 continuations ("name*0", "name*1*", ...) joined into one
// parameter, as Cyrus shows them in BODYSTRUCTURE: "name" with the plain
// segments concatenated, or "name*" with the extended value
// (charset'language'%XX...) when any segment is extended, plain segments
// then %-encoded into it. A client building its attachment list from
// BODYSTRUCTURE sees one whole file name. Other parameters pass through;
// a name with segments missing or repeated is joined as far as it goes in
// order. At most 100 segments per name (the rest are dropped).
mail::MimeParams join_continuations(const mail::MimeParams& params) {
  constexpr size_t kMaxSegments = 100;
  auto segment_of = [](const std::string& name, std::string* base, int* index, bool* extended) {
    size_t star = name.find('*');
    if (star == std::string::npos || star == 0 || star + 1 >= name.size()) return false;
    size_t k = star + 1;
    int n = 0;
    size_t digits = 0;
    while (k < name.size() && std::isdigit(static_cast<unsigned char>(name[k])) && digits < 3)
      n = n * 10 + (name[k++] - '0'), ++digits;
    if (digits == 0) return false;
    bool ext = k < name.size() && name[k] == '*';
    if (ext) ++k;
    if (k != name.size()) return false;
    *base = name.substr(0, star);
    *index = n;
    *extended = ext;
    return true;
  };
  struct Segment {
    int index;
    bool extended;
    const std::string* value;
  };
  struct Joined {
    std::string base;
    size_t position;  // in `out`
    std::vector<Segment> segments;
  };
  mail::MimeParams out;
  std::vector<Joined> joined;
  for (const auto& [name, value] : params) {
    std::string base;
    int index = 0;
    bool extended = false;
    if (!segment_of(name, &base, &index, &extended)) {
      out.emplace_back(name, value);
      continue;
    }
    auto it = std::find_if(joined.begin(), joined.end(), [&](const Joined& j) { return j.base == base; });
    if (it == joined.end()) {
      joined.push_back(Joined{base, out.size(), {}});
      out.emplace_back(base, std::string());
      it = joined.end() - 1;
    }
    if (it->segments.size() < kMaxSegments) it->segments.push_back(Segment{index, extended, &value});
  }
  for (auto& j : joined) {
    std::stable_sort(j.segments.begin(), j.segments.end(),
                     [](const Segment& a, const Segment& b) { return a.index < b.index; });
    bool extended = std::any_of(j.segments.begin(), j.segments.end(), [](const Segment& s) { return s.extended; });
    std::string value;
    for (size_t n = 0; n < j.segments.size(); ++n) {
      const Segment& s = j.segments[n];
      if (!extended || s.extended) {
        value += *s.value;
        continue;
      }
      if (n == 0) value += "''";  // no charset or language given
      static const char* kHex = "0123456789ABCDEF";
      for (unsigned char c : *s.value) {
        if (is_attribute_char(c)) {
          value += static_cast<char>(c);
        } else {
          value += '%';
          value += kHex[c >> 4];
          value += kHex[c & 15];
        }
      }
    }
    out[j.position] = {extended ? j.base + "*" : j.base, std::move(value)};
  }
  return out;
}

void write_params(ResponseWriter& w, const mail::MimeParams& params) {
  if (params.empty()) {
    w.nil();
    return;
  }
  w.begin_list();
  // Most parameters have no RFC 2231 segments: write them as they are.
  bool segmented = std::any_of(params.begin(), params.end(), [](const auto& p) {
    size_t star = p.first.find('*');
    return star != std::string::npos && star + 1 < p.first.size() &&
           std::isdigit(static_cast<unsigned char>(p.first[star + 1]));
  });
  if (segmented) {
    for (const auto& [name, value] : join_continuations(params)) w.string(upper(name)).string(value);
  } else {
    for (const auto& [name, value] : params) w.string(upper(name)).string(value);
  }
  w.end_list();
}

void write_disposition_language_location(ResponseWriter& w, const mail::BodyPart& part) {
  if (part.disposition) {
    w.begin_list().string(upper(*part.disposition));
    write_params(w, part.disposition_params);
    w.end_list();
  } else {
    w.nil();
  }
  if (part.languages.empty()) {
    w.nil();
  } else {
    w.begin_list();
    for (const auto& l : part.languages) w.string(l);
    w.end_list();
  }
  w.nstring(part.location);
}

}  // namespace

void write_envelope(ResponseWriter& w, const mail::EnvelopeView& env) {
  w.begin_list();
  nstring(w, env.date);
  nstring(w, env.subject);
  write_address_list(w, env.from);
  write_address_list(w, env.sender);
  write_address_list(w, env.reply_to);
  write_address_list(w, env.to);
  write_address_list(w, env.cc);
  write_address_list(w, env.bcc);
  nstring(w, env.in_reply_to);
  nstring(w, env.message_id);
  w.end_list();
}

void write_envelope(ResponseWriter& w, const mail::Envelope& env) {
  write_envelope(w, mail::EnvelopeView::of(env));
}

void write_body_structure(ResponseWriter& w, const mail::BodyPart& part, bool extensible) {
  w.begin_list();
  if (part.is_multipart()) {
    // body-type-mpart = 1*body SP media-subtype: the parts follow each
    // other with no space between them, so they are built apart and joined.
    std::string parts;
    if (part.children.empty()) {
      // RFC 3501 requires at least one part; a multipart without a usable
      // boundary shows one empty text part, as Cyrus does.
      parts = "(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"US-ASCII\") NIL NIL \"7BIT\" 0 0)";
    }
    for (const mail::BodyPart& child : part.children) {
      ResponseWriter cw(parts);
      write_body_structure(cw, child, extensible);
    }
    w.raw(parts);
    w.string(upper(part.subtype));
    if (extensible) {
      write_params(w, part.params);
      write_disposition_language_location(w, part);
    }
    w.end_list();
    return;
  }
  w.string(upper(part.type)).string(upper(part.subtype));
  write_params(w, part.params);
  w.nstring(part.id).nstring(part.description).string(upper(part.encoding)).number(part.body_size);
  if (part.is_message() && !part.children.empty()) {
    write_envelope(w, part.envelope ? *part.envelope : mail::Envelope{});
    write_body_structure(w, part.children.front(), extensible);
    w.number(part.body_lines);
  } else if (part.type == "text") {
    w.number(part.body_lines);
  }
  if (extensible) {
    w.nstring(part.md5);
    write_disposition_language_location(w, part);
  }
  w.end_list();
}

namespace {
// In the order Cyrus shows them.
constexpr std::pair<uint32_t, std::string_view> kSystemFlagNames[] = {
    {store::kFlagAnswered, "\\Answered"}, {store::kFlagFlagged, "\\Flagged"},
    {store::kFlagDeleted, "\\Deleted"},   {store::kFlagSeen, "\\Seen"},
    {store::kFlagDraft, "\\Draft"},
};
}  // namespace

std::vector<std::string> flag_names(const store::Flags& flags) {
  std::vector<std::string> out;
  for (const auto& [bit, name] : kSystemFlagNames)
    if (flags.system & bit) out.emplace_back(name);
  for (const auto& k : flags.keywords) out.push_back(k);
  return out;
}

void write_flag_names(ResponseWriter& w, const store::Flags& flags) {
  for (const auto& [bit, name] : kSystemFlagNames)
    if (flags.system & bit) w.atom(name);
  for (const auto& k : flags.keywords) w.atom(k);
}

Result<store::Flags> parse_flag_names(const std::vector<std::string>& names) {
  store::Flags f;
  for (const std::string& n : names) {
    if (!n.empty() && n[0] == '\\') {
      std::string u = upper(n);
      if (u == "\\ANSWERED") f.system |= store::kFlagAnswered;
      else if (u == "\\FLAGGED") f.system |= store::kFlagFlagged;
      else if (u == "\\DELETED") f.system |= store::kFlagDeleted;
      else if (u == "\\SEEN") f.system |= store::kFlagSeen;
      else if (u == "\\DRAFT") f.system |= store::kFlagDraft;
      else return Error(Errc::Invalid, "Invalid system flag " + n);
      continue;
    }
    if (n.empty() || n.size() > store::kMaxKeywordLength)
      return Error(Errc::Invalid, "Invalid keyword");
    bool dup = std::any_of(f.keywords.begin(), f.keywords.end(),
                           [&](const std::string& k) { return imap::iequals(k, n); });
    if (!dup) f.keywords.push_back(n);
    if (f.keywords.size() > store::kMaxKeywordsPerMessage)
      return Error(Errc::Limit, "Too many keywords");
  }
  return f;
}

std::string format_internal_date(int64_t t) {
  static const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                  "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  std::time_t tt = static_cast<std::time_t>(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[40];
  snprintf(buf, sizeof buf, "%02d-%s-%04d %02d:%02d:%02d +0000", tm.tm_mday, kMonths[tm.tm_mon],
           tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
  return buf;
}

int64_t datetime_to_epoch(const imap::DateTime& dt) {
  std::tm tm{};
  tm.tm_year = dt.date.year - 1900;
  tm.tm_mon = dt.date.month - 1;
  tm.tm_mday = dt.date.day;
  tm.tm_hour = dt.hour;
  tm.tm_min = dt.minute;
  tm.tm_sec = dt.second;
  int64_t t = static_cast<int64_t>(timegm(&tm));
  return t - int64_t(dt.zone_minutes) * 60;
}

std::string filter_header_fields(std::string_view header_block,
                                 const std::vector<std::string>& names, bool exclude) {
  std::string out;
  size_t pos = 0;
  bool keep = false;
  while (pos < header_block.size()) {
    size_t lf = header_block.find('\n', pos);
    size_t end = lf == std::string_view::npos ? header_block.size() : lf + 1;
    std::string_view line = header_block.substr(pos, end - pos);
    pos = end;
    if (line == "\r\n" || line == "\n") break;  // the blank line ending the block
    if (line[0] == ' ' || line[0] == '\t') {    // continuation of the last field
      if (keep) out.append(line);
      continue;
    }
    size_t colon = line.find(':');
    std::string_view name = colon == std::string_view::npos ? line : line.substr(0, colon);
    while (!name.empty() && (name.back() == ' ' || name.back() == '\t')) name.remove_suffix(1);
    bool listed = std::any_of(names.begin(), names.end(),
                              [&](const std::string& n) { return imap::iequals(n, name); });
    keep = colon != std::string_view::npos && (listed != exclude);
    if (keep) out.append(line);
  }
  out += "\r\n";
  return out;
}

std::optional<std::string> extract_section(const mail::MessageStructure& msg,
                                           std::string_view message,
                                           const imap::Section& section) {
  using T = imap::Section::Text;
  std::span<const uint32_t> path(section.part);
  std::optional<mail::ByteRange> range;
  switch (section.text) {
    case T::Full:
      if (path.empty()) range = mail::ByteRange{0, message.size()};
      else range = mail::section_body(msg, path);
      break;
    case T::Header:
    case T::HeaderFields:
    case T::HeaderFieldsNot:
      range = mail::section_header(msg, path);
      break;
    case T::Text:
      range = mail::section_text(msg, path);
      break;
    case T::Mime:
      range = mail::section_mime(msg, path);
      break;
  }
  if (!range) return std::nullopt;
  if (range->offset > message.size()) return std::string();
  std::string_view bytes = message.substr(range->offset, range->size);
  if (section.text == T::HeaderFields || section.text == T::HeaderFieldsNot)
    return filter_header_fields(bytes, section.fields, section.text == T::HeaderFieldsNot);
  return std::string(bytes);
}

BinaryContent extract_binary(const mail::MessageStructure& msg, std::string_view message,
                             const std::vector<uint32_t>& part) {
  BinaryContent out;
  if (part.empty()) {
    out.data = std::string(message.substr(0, std::min<uint64_t>(msg.size, message.size())));
    return out;
  }
  const mail::BodyPart* p = mail::find_section(msg, std::span<const uint32_t>(part));
  if (!p || p->body_offset > message.size()) {
    out.status = BinaryContent::Status::NoSuchPart;
    return out;
  }
  std::string_view body = message.substr(p->body_offset, p->body_size);
  const std::string& enc = p->encoding;
  if (p->is_multipart() || p->is_message() || enc.empty() || enc == "7bit" || enc == "8bit" ||
      enc == "binary") {
    out.data = std::string(body);
  } else if (enc == "base64" || enc == "quoted-printable") {
    out.data = mail::decode_transfer_encoding(body, enc);
  } else {
    out.status = BinaryContent::Status::UnknownCte;
    out.encoding = enc;
  }
  return out;
}

namespace {

bool is_attachment(const mail::BodyPart& part) {
  return part.disposition && *part.disposition == "attachment";
}

// Depth-first, children in order; multipart nesting is bounded by the
// stored structure, and by `depth` here all the same.
const mail::BodyPart* first_text_part(const mail::BodyPart& part, std::string_view subtype,
                                      size_t depth) {
  if (depth > 64) return nullptr;
  if (part.is_multipart()) {
    for (const auto& c : part.children)
      if (const auto* found = first_text_part(c, subtype, depth + 1)) return found;
    return nullptr;
  }
  if (part.type == "text" && part.subtype == subtype && !is_attachment(part)) return &part;
  return nullptr;
}

bool html_space(unsigned char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f'; }

bool starts_with_nocase(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && imap::iequals(s.substr(0, prefix.size()), prefix);
}

// Finds "</name" (any case) at or after `from`; npos if absent.
size_t find_end_tag(std::string_view html, size_t from, std::string_view name) {
  for (size_t i = html.find('<', from); i != std::string_view::npos; i = html.find('<', i + 1)) {
    if (i + 1 < html.size() && html[i + 1] == '/' && starts_with_nocase(html.substr(i + 2), name))
      return i;
  }
  return std::string_view::npos;
}

// Decodes the character reference at html[i] == '&'; appends it and
// returns the index after it, or appends '&' and returns i + 1.
size_t decode_entity(std::string_view html, size_t i, std::string& out) {
  static const std::pair<std::string_view, std::string_view> kNamed[] = {
      {"amp;", "&"}, {"lt;", "<"}, {"gt;", ">"}, {"quot;", "\""}, {"apos;", "'"},
      {"nbsp;", " "},
  };
  std::string_view rest = html.substr(i + 1);
  for (const auto& [name, text] : kNamed)
    if (starts_with_nocase(rest, name)) {
      out += text;
      return i + 1 + name.size();
    }
  if (!rest.empty() && rest[0] == '#') {
    bool hex = rest.size() > 1 && (rest[1] == 'x' || rest[1] == 'X');
    size_t k = hex ? 2 : 1;
    uint32_t cp = 0;
    size_t digits = 0;
    while (k < rest.size() && digits < 8) {
      char c = rest[k];
      int v = c >= '0' && c <= '9' ? c - '0'
              : hex && c >= 'a' && c <= 'f' ? c - 'a' + 10
              : hex && c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
      if (v < 0) break;
      cp = cp * (hex ? 16 : 10) + uint32_t(v);
      ++k, ++digits;
    }
    if (digits > 0 && k < rest.size() && rest[k] == ';') {
      if (cp == 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) cp = 0xFFFD;
      mail::append_utf8(out, cp);
      return i + 1 + k + 1;
    }
  }
  out += '&';
  return i + 1;
}

}  // namespace

std::string html_to_text(std::string_view html) {
  static const std::string_view kSkipContent[] = {"head", "style", "script", "title"};
  static const std::string_view kBlocks[] = {
      "p", "br", "div", "li", "tr", "td", "th", "h1", "h2", "h3", "h4", "h5", "h6",
      "ul", "ol", "table", "blockquote", "hr", "pre", "body"};
  std::string out;
  out.reserve(html.size());
  size_t i = 0;
  while (i < html.size()) {
    char c = html[i];
    if (c == '&') {
      i = decode_entity(html, i, out);
      continue;
    }
    if (c != '<') {
      out += c;
      ++i;
      continue;
    }
    if (html.substr(i, 4) == "<!--") {
      size_t end = html.find("-->", i + 4);
      i = end == std::string_view::npos ? html.size() : end + 3;
      continue;
    }
    size_t close = html.find('>', i + 1);
    if (close == std::string_view::npos) break;  // an unfinished tag at the end
    std::string_view tag = html.substr(i + 1, close - i - 1);
    bool end_tag = !tag.empty() && tag[0] == '/';
    if (end_tag) tag.remove_prefix(1);
    size_t name_len = 0;
    while (name_len < tag.size() && !html_space(static_cast<unsigned char>(tag[name_len])) &&
           tag[name_len] != '/' && tag[name_len] != '>')
      ++name_len;
    std::string name = imap::to_upper(tag.substr(0, name_len));
    i = close + 1;
    auto named = [&](std::string_view n) { return imap::iequals(name, n); };
    if (!end_tag && std::any_of(std::begin(kSkipContent), std::end(kSkipContent), named)) {
      size_t end = find_end_tag(html, i, name);
      if (end == std::string_view::npos) break;
      size_t end_close = html.find('>', end);
      i = end_close == std::string_view::npos ? html.size() : end_close + 1;
      continue;
    }
    if (std::any_of(std::begin(kBlocks), std::end(kBlocks), named)) out += ' ';
  }
  return out;
}

const mail::BodyPart* preview_part(const mail::MessageStructure& msg) {
  if (const auto* plain = first_text_part(msg.root, "plain", 0)) return plain;
  return first_text_part(msg.root, "html", 0);
}

std::string make_preview(const mail::BodyPart& part, std::string_view raw, bool truncated) {
  // A cut body may end inside an encoded unit (a quoted-printable escape, a
  // base64 quantum, a multi-byte character): drop the partial last line.
  if (truncated) {
    size_t lf = raw.rfind('\n');
    if (lf != std::string_view::npos) raw = raw.substr(0, lf + 1);
  }
  std::string text = decoded_part_text(part, raw);
  if (part.subtype == "html") text = html_to_text(text);
  // Bytes in an unknown charset came through as they were: U+FFFD for
  // whatever is not UTF-8, so the preview is always a valid UTF-8 string.
  if (auto valid = mail::convert_to_utf8("utf-8", text)) text = std::move(*valid);
  std::string out;
  size_t chars = 0;
  bool pending_space = false;
  for (size_t i = 0; i < text.size();) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    if (c < 0x80 && (html_space(c) || c == '\v')) {
      pending_space = !out.empty();
      ++i;
      continue;
    }
    if (c < 0x20 || c == 0x7f) {  // other controls: not text
      ++i;
      continue;
    }
    size_t len = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : 4;
    if (pending_space) {
      if (chars + 1 >= kPreviewMaxChars) break;
      out += ' ';
      ++chars;
      pending_space = false;
    }
    if (chars >= kPreviewMaxChars) break;
    out.append(text, i, std::min(len, text.size() - i));
    ++chars;
    i += len;
  }
  return out;
}

std::string section_item_name(const imap::FetchItem& item) {
  using T = imap::Section::Text;
  using K = imap::FetchItem::Kind;
  std::string s = item.kind == K::BinarySection ? "BINARY["
                  : item.kind == K::BinarySize  ? "BINARY.SIZE["
                                                : "BODY[";
  const imap::Section& sec = item.section;
  for (size_t i = 0; i < sec.part.size(); ++i) {
    if (i) s += '.';
    s += std::to_string(sec.part[i]);
  }
  auto sep = [&] { if (!sec.part.empty()) s += '.'; };
  switch (sec.text) {
    case T::Full: break;
    case T::Header: sep(); s += "HEADER"; break;
    case T::Text: sep(); s += "TEXT"; break;
    case T::Mime: sep(); s += "MIME"; break;
    case T::HeaderFields:
    case T::HeaderFieldsNot: {
      sep();
      s += sec.text == T::HeaderFields ? "HEADER.FIELDS (" : "HEADER.FIELDS.NOT (";
      for (size_t i = 0; i < sec.fields.size(); ++i) {
        if (i) s += ' ';
        s += sec.fields[i];
      }
      s += ')';
      break;
    }
  }
  s += ']';
  if (item.partial) s += "<" + std::to_string(item.partial->offset) + ">";
  return s;
}

}  // namespace cyr::imapd
