// Vacation (RFC 5230): whether to answer, and the answer itself.
#include <algorithm>

#include "server/sieve/sieve.h"
#include "server/sieve/support.h"
#include "server/sieve/text.h"
#include "store/base/ascii.h"
#include "store/mail/guid.h"
#include "store/mail/message.h"

namespace cyr::sieve {

namespace {

constexpr size_t kFoldWidth = 78;

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n'))
    s.remove_suffix(1);
  return s;
}

bool starts_with_ci(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && iequals(s.substr(0, prefix.size()), prefix);
}

bool ends_with_ci(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && iequals(s.substr(s.size() - suffix.size()), suffix);
}

// normalized_address() of "local@domain" or "Name <local@domain>"; "" if
// it is not an address.
std::string normalized(std::string_view written) {
  auto addr = mail_address(written);
  if (!addr) return {};
  size_t at = addr->rfind('@');
  return normalized_address(std::string_view(*addr).substr(0, at), std::string_view(*addr).substr(at + 1));
}

bool is_ascii_text(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) {
    unsigned char u = static_cast<unsigned char>(c);
    return u < 0x80 && (u >= 0x20 || c == '\t');
  });
}

// Lone CR or LF to CRLF.
std::string crlf(std::string_view s) {
  std::string out;
  out.reserve(s.size() + s.size() / 32);
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '\r') {
      out += "\r\n";
      if (i + 1 < s.size() && s[i + 1] == '\n') ++i;
    } else if (c == '\n') {
      out += "\r\n";
    } else {
      out += c;
    }
  }
  return out;
}

// A value taken from the original message (its Message-ID, References)
// that may go into the answer's header: no line break or other control
// character, which would end the field early (a bare CR or LF) or make the
// answer no RFC 5322 message.
bool usable_in_header(std::string_view s) {
  return std::none_of(s.begin(), s.end(), [](char c) {
    unsigned char u = static_cast<unsigned char>(c);
    return (u < 0x20 && c != '\t') || u == 0x7f;
  });
}

// "Name: value" CRLF, folded at white space so lines stay within 78
// characters where the value allows it. A fold goes before the white space
// that precedes a word, never between white space and white space, so that
// no line is only white space (which would read as the end of the header).
std::string header(std::string_view name, std::string_view value) {
  value = trim(value);
  std::string out(name);
  out += ':';
  size_t line_length = out.size();
  size_t i = 0;
  while (i < value.size()) {
    // The white space before a word, and the word (value is trimmed, so
    // there is one).
    size_t start = value.find_first_not_of(" \t", i);
    size_t end = value.find(' ', start);
    if (end == std::string_view::npos) end = value.size();
    std::string_view word = value.substr(i, end - i);
    if (i == 0) {
      out += ' ';
      ++line_length;
    } else if (line_length + word.size() > kFoldWidth) {
      out += "\r\n";
      line_length = 0;
    }
    out += word;
    line_length += word.size();
    i = end;
  }
  out += "\r\n";
  return out;
}

std::string base64(std::string_view in) {
  static const char* kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    uint32_t n = static_cast<unsigned char>(in[i]) << 16 | static_cast<unsigned char>(in[i + 1]) << 8 |
                 static_cast<unsigned char>(in[i + 2]);
    out += kAlphabet[n >> 18];
    out += kAlphabet[(n >> 12) & 63];
    out += kAlphabet[(n >> 6) & 63];
    out += kAlphabet[n & 63];
  }
  if (i < in.size()) {
    uint32_t n = static_cast<unsigned char>(in[i]) << 16;
    if (i + 1 < in.size()) n |= static_cast<unsigned char>(in[i + 1]) << 8;
    out += kAlphabet[n >> 18];
    out += kAlphabet[(n >> 12) & 63];
    out += i + 1 < in.size() ? kAlphabet[(n >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

// RFC 2047 "B" encoded words of at most 39 octets each (64 characters, so
// that "Subject: " and a word fit in 78), never splitting a UTF-8
// character, separated by folding white space.
std::string encoded_words(std::string_view text) {
  constexpr size_t kChunk = 39;
  std::string out;
  size_t i = 0;
  while (i < text.size()) {
    size_t end = i;
    while (end < text.size()) {
      size_t len = utf8_char_length(text, end);
      if (end + len - i > kChunk) break;
      end += len;
    }
    if (end == i) end = i + 1;
    if (!out.empty()) out += "\r\n ";
    out += "=?utf-8?B?" + base64(text.substr(i, end - i)) + "?=";
    i = end;
  }
  return out;
}

std::string quoted_printable(std::string_view text) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  size_t line_length = 0;
  auto emit = [&](std::string_view piece) {
    if (line_length + piece.size() > 75) {
      out += "=\r\n";
      line_length = 0;
    }
    out += piece;
    line_length += piece.size();
  };
  for (size_t i = 0; i < text.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') {
      out += "\r\n";
      line_length = 0;
      ++i;
      continue;
    }
    bool at_line_end = i + 1 == text.size() || text[i + 1] == '\r';
    bool literal = (c >= 33 && c <= 126 && c != '=') || ((c == ' ' || c == '\t') && !at_line_end);
    if (literal) {
      char one[1] = {static_cast<char>(c)};
      emit(std::string_view(one, 1));
    } else {
      char enc[3] = {'=', kHex[c >> 4], kHex[c & 15]};
      emit(std::string_view(enc, 3));
    }
  }
  return out;
}

}  // namespace

std::string script_header_field(std::string_view name, std::string_view value) {
  // A line break in the value is white space: the field is folded anew.
  std::string flat;
  flat.reserve(value.size());
  for (size_t i = 0; i < value.size(); ++i) {
    char c = value[i];
    if (c != '\r' && c != '\n') {
      flat += c;
      continue;
    }
    while (i + 1 < value.size() && (value[i + 1] == '\r' || value[i + 1] == '\n')) ++i;
    bool space_follows = i + 1 < value.size() && (value[i + 1] == ' ' || value[i + 1] == '\t');
    if (!space_follows) flat += ' ';
  }
  bool plain = std::all_of(flat.begin(), flat.end(), [](char c) {
    unsigned char u = static_cast<unsigned char>(c);
    return u < 0x7f && (u >= 0x20 || c == '\t');
  });
  if (plain) return header(name, flat);
  // RFC 2047 words, each its own folding point.
  std::string words = encoded_words(flat);
  std::string spaced;
  for (size_t i = 0; i < words.size(); ++i) {
    if (words.compare(i, 3, "\r\n ") == 0) {
      spaced += ' ';
      i += 2;
      continue;
    }
    spaced += words[i];
  }
  return header(name, spaced);
}

std::string normalized_address(std::string_view local, std::string_view domain) {
  return ascii_lowercase(local.substr(0, local.find('+'))) + "@" + ascii_lowercase(domain);
}

std::string default_vacation_handle(std::string_view reason, std::string_view subject, std::string_view from,
                                    bool mime) {
  std::string key;
  key.append(reason).append(1, '\0').append(subject).append(1, '\0').append(from).append(mime ? "\1" : "\0", 1);
  return mail::MessageGuid::of(key).to_hex();
}

bool vacation_may_answer(const MessageInput& msg, const VacationRequest& v) {
  // RFC 5230 4.5 / 5.x: never answer bounces, lists or other robots.
  std::string_view sender = msg.envelope.from;
  if (sender.empty() || sender == "<>") return false;
  std::string_view sender_local = sender.substr(0, sender.rfind('@'));
  if (iequals(sender_local, "MAILER-DAEMON") || iequals(sender_local, "LISTSERV") ||
      iequals(sender_local, "majordomo") || starts_with_ci(sender_local, "owner-") ||
      ends_with_ci(sender_local, "-request"))
    return false;

  std::vector<std::string> own;
  if (size_t at = msg.envelope.to.rfind('@'); at != std::string::npos)
    own.push_back(normalized_address(std::string_view(msg.envelope.to).substr(0, at),
                                     std::string_view(msg.envelope.to).substr(at + 1)));
  for (const auto& a : msg.own_addresses) own.push_back(normalized(a));
  for (const auto& a : v.addresses) own.push_back(normalized(a));
  std::erase_if(own, [](const std::string& a) { return a.empty(); });
  // Answering ourselves would only start a loop.
  if (std::find(own.begin(), own.end(), normalized(sender)) != own.end()) return false;

  bool addressed_to_us = false;
  static const char* const kRecipientFields[] = {"To", "Cc", "Bcc", "Resent-To", "Resent-Cc"};
  for (const auto& field : mail::parse_header_fields(msg.header)) {
    std::string value = mail::unfold_header_value(field.raw_value);
    if (iequals(field.name, "Auto-Submitted")) {
      std::string_view token = trim(std::string_view(value).substr(0, value.find(';')));
      if (!iequals(token, "no")) return false;
    } else if (starts_with_ci(field.name, "List-")) {
      return false;
    } else if (iequals(field.name, "Precedence")) {
      std::string_view p = trim(value);
      if (iequals(p, "bulk") || iequals(p, "junk") || iequals(p, "list")) return false;
    } else if (!addressed_to_us) {
      bool recipient_field = std::any_of(std::begin(kRecipientFields), std::end(kRecipientFields),
                                         [&](const char* n) { return iequals(field.name, n); });
      if (!recipient_field) continue;
      for (const auto& a : mail::parse_address_list(value)) {
        if (a.kind != mail::Address::Kind::Mailbox || !a.mailbox || !a.host) continue;
        std::string n = normalized_address(*a.mailbox, *a.host);
        if (std::find(own.begin(), own.end(), n) != own.end()) addressed_to_us = true;
      }
    }
  }
  return addressed_to_us;
}

std::string compose_vacation(const VacationRequest& v, const MessageInput& original, const std::string& from,
                             const std::string& message_id_domain) {
  std::string out;
  out += header("From", from.empty() ? v.from : from);
  out += header("To", v.reply_to.empty() ? std::string("undisclosed-recipients:;") : "<" + v.reply_to + ">");
  if (is_ascii_text(v.subject)) {
    out += header("Subject", v.subject);
  } else {
    out += "Subject: " + encoded_words(v.subject) + "\r\n";
  }
  out += header("Date", rfc5322_date(ZonedTime{original.now, original.local_zone_minutes}));

  auto original_id = mail::find_header(original.header, "Message-ID");
  std::string id_seed =
      std::to_string(original.now) + '\0' + v.reply_to + '\0' + v.handle + '\0' + original_id.value_or("");
  out += header("Message-ID",
                "<" + mail::MessageGuid::of(id_seed).to_hex().substr(0, 32) + ".vacation@" + message_id_domain + ">");
  if (original_id && !original_id->empty() && usable_in_header(*original_id)) {
    out += header("In-Reply-To", *original_id);
    std::string references = mail::find_header(original.header, "References").value_or("");
    if (references.empty()) references = mail::find_header(original.header, "In-Reply-To").value_or("");
    if (!usable_in_header(references)) references.clear();
    out += header("References", references.empty() ? *original_id : references + " " + *original_id);
  }
  out += header("Auto-Submitted", "auto-replied");
  out += header("MIME-Version", "1.0");
  if (v.mime) {
    // The reason is a whole MIME entity: its own header, blank line, body.
    out += crlf(v.reason);
    return out;
  }
  std::string body = crlf(v.reason);
  // 7bit data holds no NUL (RFC 2045 2.7; RFC 5322 has no NUL at all), and
  // a script's string may: such a reason goes quoted-printable (=00).
  bool plain = std::all_of(body.begin(), body.end(),
                           [](char c) { return c != '\0' && static_cast<unsigned char>(c) < 0x80; });
  for (size_t start = 0; plain && start < body.size();) {
    size_t end = body.find("\r\n", start);
    if ((end == std::string::npos ? body.size() : end) - start > 998) plain = false;
    start = end == std::string::npos ? body.size() : end + 2;
  }
  out += header("Content-Type", "text/plain; charset=utf-8");
  out += header("Content-Transfer-Encoding", plain ? "7bit" : "quoted-printable");
  out += "\r\n";
  out += plain ? body : quoted_printable(body);
  if (out.size() < 2 || out.compare(out.size() - 2, 2, "\r\n") != 0) out += "\r\n";
  return out;
}

}  // namespace cyr::sieve
