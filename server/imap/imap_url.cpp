// IMAP URL parsing (RFC 5092), for CATENATE. See imap_url.h.
#include "server/imap/imap_url.h"

#include "server/imap/parser_args.h"

namespace cyr::imap {
namespace {

Error invalid(std::string text) { return Error(Errc::Invalid, std::move(text)); }

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// The characters RFC 5092 allows in the path of a URL (bchar, plus the ";"
// and "=" of its parameters): unreserved, sub-delims-sh, "&", "=", ":",
// "@", "/", ";" and "%" of an escape. Everything else (spaces, quotes,
// brackets, 8-bit) must be escaped; "]" in particular would end the
// [BADURL ...] response code that echoes the URL.
bool is_path_char(unsigned char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  switch (c) {
    case '-': case '.': case '_': case '~':
    case '!': case '$': case '\'': case '(': case ')': case '*': case '+': case ',':
    case '&': case '=': case ':': case '@': case '/': case ';': case '%':
      return true;
    default:
      return false;
  }
}

// nz-number / number of at most 32 bits, digits only.
Result<uint32_t> url_number(std::string_view s, bool nonzero, const char* what) {
  if (s.empty() || s.size() > 10) return invalid(std::string("Invalid ") + what);
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return invalid(std::string("Invalid ") + what);
    v = v * 10 + uint64_t(c - '0');
  }
  if (v > UINT32_MAX || (nonzero && v == 0)) return invalid(std::string("Invalid ") + what);
  return static_cast<uint32_t>(v);
}

bool starts_with_nocase(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && iequals(s.substr(0, prefix.size()), prefix);
}

// "//" iserver: [enc-user [";AUTH=" ("*" / enc-auth-type)] "@"] host [":" port]
Status parse_server(std::string_view authority, ImapUrl& out) {
  out.has_server = true;
  size_t at = authority.rfind('@');
  std::string_view hostport = authority;
  if (at != std::string_view::npos) {
    std::string_view userinfo = authority.substr(0, at);
    hostport = authority.substr(at + 1);
    size_t auth = std::string_view::npos;
    for (size_t i = 0; i + 6 <= userinfo.size(); ++i)
      if (iequals(userinfo.substr(i, 6), ";AUTH=")) {
        auth = i;
        break;
      }
    std::string_view user = userinfo.substr(0, auth);
    if (auth != std::string_view::npos && auth + 6 == userinfo.size())
      return invalid("Empty ;AUTH= in URL");
    if (!user.empty()) {
      for (unsigned char c : user)
        if (!is_path_char(c) || c == '/' || c == ';' || c == '@') return invalid("Invalid user in URL");
      auto decoded = percent_decode(user);
      if (!decoded) return decoded.take_error();
      out.user = std::move(*decoded);
    }
  }
  // host [":" port]; an IPv6 literal is bracketed ("[::1]:143").
  std::string_view host = hostport;
  size_t colon = hostport.rfind(':');
  if (colon != std::string_view::npos &&
      (hostport.front() != '[' || (colon > 0 && hostport[colon - 1] == ']'))) {
    std::string_view port = hostport.substr(colon + 1);
    if (!port.empty()) {
      auto p = url_number(port, false, "port in URL");
      if (!p || *p > 65535) return invalid("Invalid port in URL");
    }
    host = hostport.substr(0, colon);
  }
  if (host.empty()) return invalid("Missing host in URL");
  for (unsigned char c : host)
    if (c <= 0x20 || c >= 0x7f || c == '/' || c == '@' || c == '"') return invalid("Invalid host in URL");
  out.host = std::string(host);
  return ok_status();
}

}  // namespace

Result<std::string> percent_decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '%') {
      if (i + 2 >= s.size()) return invalid("Incomplete %-escape in URL");
      int hi = hex_value(s[i + 1]), lo = hex_value(s[i + 2]);
      if (hi < 0 || lo < 0) return invalid("Invalid %-escape in URL");
      c = static_cast<char>(hi * 16 + lo);
      i += 2;
    }
    if (c == '\0' || c == '\r' || c == '\n') return invalid("Invalid character in URL");
    out.push_back(c);
  }
  return out;
}

Result<ImapUrl> parse_imap_url(std::string_view url) {
  ImapUrl out;
  std::string_view path;
  if (starts_with_nocase(url, "imap://")) {
    std::string_view rest = url.substr(7);
    size_t slash = rest.find('/');
    if (slash == std::string_view::npos) return invalid("URL names no message");
    CYR_TRY(parse_server(rest.substr(0, slash), out));
    path = rest.substr(slash);
  } else if (!url.empty() && url.front() == '/') {
    if (url.size() > 1 && url[1] == '/') return invalid("URL without a scheme");
    path = url;
  } else {
    return invalid("Only absolute IMAP URLs are supported");
  }
  for (unsigned char c : path)
    if (!is_path_char(c)) return invalid("Invalid character in URL");

  // "/" enc-mailbox [";UIDVALIDITY=" nz-number] "/;UID=" nz-number
  //     ["/;SECTION=" enc-section] ["/;PARTIAL=" number ["." nz-number]]
  // ";" is not a mailbox character, so the mailbox ends at the first one.
  path.remove_prefix(1);
  size_t semi = path.find(';');
  if (semi == std::string_view::npos) return invalid("URL names no message (;UID= missing)");
  std::string_view mailbox = path.substr(0, semi);
  std::string_view params = path.substr(semi);
  bool slash_before = !mailbox.empty() && mailbox.back() == '/';
  if (slash_before) mailbox.remove_suffix(1);
  if (mailbox.empty()) return invalid("URL names no mailbox");
  auto decoded = percent_decode(mailbox);
  if (!decoded) return decoded.take_error();
  out.mailbox = std::move(*decoded);
  // As a mailbox argument's: any case of INBOX is INBOX (RFC 3501 5.1).
  if (iequals(out.mailbox, "INBOX")) out.mailbox = "INBOX";

  // The parameters in order; each but ;UIDVALIDITY= follows a "/".
  enum Step { kUidValidity, kUid, kSection, kPartial, kDone };
  int next = kUidValidity;
  bool have_uid = false;
  while (!params.empty()) {
    // params starts with ";": key "=" value, up to the next "/;" or the end.
    size_t eq = params.find('=');
    if (eq == std::string_view::npos) return invalid("Invalid URL parameter");
    std::string key = to_upper(params.substr(1, eq - 1));
    size_t end = params.find(';', eq);
    std::string_view value = params.substr(eq + 1, end == std::string_view::npos ? end : end - eq - 1);
    bool slash_after = false;
    if (end != std::string_view::npos) {
      if (value.empty() || value.back() != '/') return invalid("Missing '/' between URL parameters");
      value.remove_suffix(1);
      slash_after = true;
    }
    if (key == "UIDVALIDITY") {
      if (next > kUidValidity || slash_before) return invalid("Misplaced ;UIDVALIDITY= in URL");
      auto v = url_number(value, true, "UIDVALIDITY in URL");
      if (!v) return v.take_error();
      out.uidvalidity = *v;
      next = kUid;
    } else if (key == "UID") {
      if (next > kUid || !slash_before) return invalid("Misplaced ;UID= in URL");
      auto v = url_number(value, true, "UID in URL");
      if (!v) return v.take_error();
      out.uid = *v;
      have_uid = true;
      next = kSection;
    } else if (key == "SECTION") {
      if (!have_uid || next > kSection || !slash_before) return invalid("Misplaced ;SECTION= in URL");
      auto text = percent_decode(value);
      if (!text) return text.take_error();
      if (text->empty()) return invalid("Empty ;SECTION= in URL");
      auto sec = parse_section_spec(*text, 100);
      if (!sec) return invalid("Invalid ;SECTION= in URL");
      out.section = std::move(*sec);
      next = kPartial;
    } else if (key == "PARTIAL") {
      if (!have_uid || next > kPartial || !slash_before) return invalid("Misplaced ;PARTIAL= in URL");
      size_t dot = value.find('.');
      auto off = url_number(value.substr(0, dot), false, "PARTIAL offset in URL");
      if (!off) return off.take_error();
      ImapUrlPartial p{*off, std::nullopt};
      if (dot != std::string_view::npos) {
        auto len = url_number(value.substr(dot + 1), true, "PARTIAL length in URL");
        if (!len) return len.take_error();
        p.length = *len;
      }
      out.partial = p;
      next = kDone;
    } else if (key == "EXPIRE" || key == "URLAUTH") {
      return invalid("URLAUTH is not supported");
    } else {
      return invalid("Unknown URL parameter ;" + key + "=");
    }
    slash_before = slash_after;
    params = end == std::string_view::npos ? std::string_view() : params.substr(end);
  }
  if (!have_uid) return invalid("URL names no message (;UID= missing)");
  if (slash_before) return invalid("Trailing '/' in URL");
  return out;
}

}  // namespace cyr::imap
