// The command table and one argument parser per command.
//
// Each parse_* reads the tokens after the command name and returns typed
// arguments or an Error whose text goes into the BAD response. Grammar
// references are to RFC 3501 section 9 unless another RFC is named.
#include <algorithm>
#include <array>

#include "server/imap/command_table.h"
#include "server/imap/parser_args.h"

namespace cyr::imap {
namespace {

using Kind = Parser::Token::Kind;

Error invalid(std::string text) { return Error(Errc::Invalid, std::move(text)); }

#define CYR_ASSIGN(var, expr)            \
  auto var##_r_ = (expr);                \
  if (!var##_r_.ok()) return var##_r_.take_error(); \
  auto var = std::move(var##_r_.value())

// ---------------------------------------------------------------- simple ones

Result<CommandArgs> parse_no_args(ArgReader& r, bool) {
  CYR_TRY(r.end());
  return CommandArgs{NoArgs{}};
}

Result<CommandArgs> parse_login(ArgReader& r, bool) {
  CYR_ASSIGN(user, r.astring());
  CYR_ASSIGN(password, r.astring());
  CYR_TRY(r.end());
  return CommandArgs{LoginArgs{std::move(user), std::move(password)}};
}

Result<CommandArgs> parse_authenticate(ArgReader& r, bool) {
  CYR_ASSIGN(mech, r.upper_atom());
  AuthenticateArgs a{std::move(mech), std::nullopt};
  if (!r.at_end()) {  // SASL-IR: initial-response = base64 / "="
    CYR_ASSIGN(ir, r.atom());
    if (ir == "=") {
      a.initial_response = std::string();
    } else {
      bool base64 = std::all_of(ir.begin(), ir.end(), [](char c) {
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
               c == '+' || c == '/' || c == '=';
      });
      if (!base64 || ir.size() % 4 != 0) return invalid("Initial response is not base64");
      a.initial_response = std::move(ir);
    }
  }
  CYR_TRY(r.end());
  return CommandArgs{std::move(a)};
}

Result<CommandArgs> parse_mailbox_only(ArgReader& r, bool) {
  CYR_ASSIGN(mbox, r.mailbox());
  CYR_TRY(r.end());
  return CommandArgs{MailboxArgs{std::move(mbox)}};
}

Result<CommandArgs> parse_select(ArgReader& r, bool) {
  SelectArgs a;
  CYR_ASSIGN(mbox, r.mailbox());
  a.mailbox = std::move(mbox);
  if (r.take_open()) {  // select-params (RFC 4466)
    while (!r.take_close()) {
      CYR_ASSIGN(name, r.upper_atom());
      if (name == "CONDSTORE") {
        a.condstore = true;
      } else if (name == "QRESYNC") {
        if (a.qresync) return invalid("QRESYNC given twice");
        QresyncParams q;
        CYR_TRY(r.open());
        CYR_ASSIGN(uidv, r.nz_number());
        CYR_ASSIGN(modseq, r.number64());
        q.uidvalidity = uidv;
        q.modseq = modseq;
        // known-uids and seq-match-data: sequence sets where "*" is not allowed.
        auto no_star = [](const SequenceSet& set) {
          return std::none_of(set.ranges.begin(), set.ranges.end(), [](const SeqRange& r) {
            return r.first == kSeqStar || r.last == kSeqStar;
          });
        };
        if (!r.peek_close() && !r.peek_open()) {
          CYR_ASSIGN(known, r.sequence_set(false));
          if (!no_star(known)) return invalid("'*' is not allowed in known UIDs");
          q.known_uids = std::move(known);
        }
        if (r.take_open()) {
          CYR_ASSIGN(seqs, r.sequence_set(false));
          CYR_ASSIGN(uids, r.sequence_set(false));
          CYR_TRY(r.close());
          if (!no_star(seqs) || !no_star(uids))
            return invalid("'*' is not allowed in seq-match-data");
          q.seq_match.emplace(std::move(seqs), std::move(uids));
        }
        CYR_TRY(r.close());
        a.qresync = std::move(q);
      } else {
        return invalid("Unknown SELECT parameter " + name);
      }
    }
  }
  CYR_TRY(r.end());
  return CommandArgs{std::move(a)};
}

Result<CommandArgs> parse_create(ArgReader& r, bool) {
  CreateArgs a;
  CYR_ASSIGN(mbox, r.mailbox());
  a.mailbox = std::move(mbox);
  if (!r.at_end() && !r.peek_open()) {  // Cyrus: CREATE mailbox partition
    CYR_ASSIGN(part, r.astring());
    a.partition = std::move(part);
  }
  if (r.take_open()) {  // create-params: USE (special-use ...)  (RFC 6154)
    while (!r.take_close()) {
      CYR_ASSIGN(name, r.upper_atom());
      if (name != "USE") return invalid("Unknown CREATE parameter " + name);
      CYR_ASSIGN(uses, r.flag_list());
      for (auto& u : uses) {
        if (u.empty() || u[0] != '\\') return invalid("Special-use attributes start with '\\'");
        a.special_use.push_back(std::move(u));
      }
    }
  }
  CYR_TRY(r.end());
  return CommandArgs{std::move(a)};
}

Result<CommandArgs> parse_rename(ArgReader& r, bool) {
  CYR_ASSIGN(from, r.mailbox());
  CYR_ASSIGN(to, r.mailbox());
  CYR_TRY(r.end());
  return CommandArgs{RenameArgs{std::move(from), std::move(to)}};
}

// ---------------------------------------------------------------- LIST / LSUB / STATUS

// list-mailbox = 1*list-char / string: an atom may hold the wildcards % and *.
Result<std::string> list_mailbox(ArgReader& r) {
  const auto* t = r.peek();
  if (!t) return invalid("Missing mailbox pattern");
  if (t->kind == Kind::Atom) return r.atom();
  return r.string();
}

Result<std::string> list_reference(ArgReader& r) {
  const auto* t = r.peek();
  if (!t) return invalid("Missing reference name");
  if (t->kind == Kind::Atom) return r.atom();
  return r.string();
}

Result<uint32_t> status_item(ArgReader& r) {
  CYR_ASSIGN(name, r.upper_atom());
  static const std::pair<const char*, uint32_t> kItems[] = {
      {"MESSAGES", kStatusMessages},     {"RECENT", kStatusRecent},
      {"UIDNEXT", kStatusUidNext},       {"UIDVALIDITY", kStatusUidValidity},
      {"UNSEEN", kStatusUnseen},         {"HIGHESTMODSEQ", kStatusHighestModSeq},
      {"SIZE", kStatusSize},             {"APPENDLIMIT", kStatusAppendLimit},
      {"DELETED", kStatusDeleted},       {"MAILBOXID", kStatusMailboxId},
  };
  for (const auto& [n, bit] : kItems)
    if (name == n) return bit;
  return invalid("Unknown status item " + name);
}

Result<uint32_t> status_item_list(ArgReader& r) {
  CYR_TRY(r.open());
  uint32_t items = 0;
  while (!r.take_close()) {
    CYR_ASSIGN(bit, status_item(r));
    items |= bit;
  }
  if (items == 0) return invalid("Empty status item list");
  return items;
}

// The MAXSIZE of a METADATA request: at most once.
Status metadata_maxsize(ArgReader& r, std::optional<uint64_t>& maxsize) {
  if (maxsize) return invalid("MAXSIZE given twice");
  CYR_ASSIGN(n, r.number64());
  maxsize = n;
  return {};
}

// An entry of a METADATA request, counted against kMaxMetadataRequestEntries.
Status metadata_request_entry(ArgReader& r, std::vector<std::string>& entries) {
  if (entries.size() >= kMaxMetadataRequestEntries)
    return invalid("Too many metadata entries (at most " +
                   std::to_string(kMaxMetadataRequestEntries) + ")");
  CYR_ASSIGN(e, r.astring());
  entries.push_back(std::move(e));
  return {};
}

// LIST's METADATA return option (RFC 9590) after the word METADATA: one
// entry, or a list of entries, as Cyrus reads it; MAXSIZE n (RFC 5464's
// option) may stand in the list or right after it. Entries start with '/',
// so an atom MAXSIZE is never an entry.
Status parse_list_metadata_option(ArgReader& r, ListArgs& a) {
  if (r.take_open()) {
    while (!r.take_close()) {
      if (r.take_atom("MAXSIZE")) CYR_TRY(metadata_maxsize(r, a.metadata_maxsize));
      else CYR_TRY(metadata_request_entry(r, a.metadata_entries));
    }
  } else if (!r.peek_close()) {
    CYR_TRY(metadata_request_entry(r, a.metadata_entries));
  }
  if (r.take_atom("MAXSIZE")) CYR_TRY(metadata_maxsize(r, a.metadata_maxsize));
  if (a.metadata_entries.empty()) return invalid("METADATA needs at least one entry");
  return {};
}

Result<CommandArgs> parse_list(ArgReader& r, bool) {
  ListArgs a;
  if (r.take_open()) {  // list-select-opts (RFC 5258)
    a.extended = true;
    while (!r.take_close()) {
      CYR_ASSIGN(opt, r.upper_atom());
      if (opt == "SUBSCRIBED") a.select_options |= kListSelectSubscribed;
      else if (opt == "REMOTE") a.select_options |= kListSelectRemote;
      else if (opt == "RECURSIVEMATCH") a.select_options |= kListSelectRecursiveMatch;
      else if (opt == "SPECIAL-USE") a.select_options |= kListSelectSpecialUse;
      else return invalid("Unknown LIST selection option " + opt);
    }
    // RECURSIVEMATCH alone (or with only REMOTE) is an error (RFC 5258 3.1).
    if ((a.select_options & kListSelectRecursiveMatch) &&
        !(a.select_options & (kListSelectSubscribed | kListSelectSpecialUse)))
      return invalid("RECURSIVEMATCH needs another selection option");
  }
  CYR_ASSIGN(ref, list_reference(r));
  a.reference = std::move(ref);
  if (r.take_open()) {
    a.extended = true;
    while (!r.take_close()) {
      CYR_ASSIGN(p, list_mailbox(r));
      a.patterns.push_back(std::move(p));
    }
    if (a.patterns.empty()) return invalid("Empty pattern list");
  } else {
    CYR_ASSIGN(p, list_mailbox(r));
    a.patterns.push_back(std::move(p));
  }
  if (r.take_atom("RETURN")) {  // list-return-opts
    a.extended = true;
    CYR_TRY(r.open());
    while (!r.take_close()) {
      CYR_ASSIGN(opt, r.upper_atom());
      if (opt == "SUBSCRIBED") {
        a.return_options |= kListReturnSubscribed;
      } else if (opt == "CHILDREN") {
        a.return_options |= kListReturnChildren;
      } else if (opt == "SPECIAL-USE") {
        a.return_options |= kListReturnSpecialUse;
      } else if (opt == "STATUS") {  // RFC 5819
        if (a.return_options & kListReturnStatus) return invalid("STATUS given twice");
        a.return_options |= kListReturnStatus;
        CYR_ASSIGN(items, status_item_list(r));
        a.status_items = items;
      } else if (opt == "MYRIGHTS") {  // RFC 8440; twice is harmless, as in Cyrus
        a.return_options |= kListReturnMyRights;
      } else if (opt == "METADATA") {  // RFC 9590
        // Twice would leave open which entries (and MAXSIZE) apply.
        if (a.return_options & kListReturnMetadata) return invalid("METADATA given twice");
        a.return_options |= kListReturnMetadata;
        CYR_TRY(parse_list_metadata_option(r, a));
      } else {
        return invalid("Unknown LIST return option " + opt);
      }
    }
  }
  CYR_TRY(r.end());
  return CommandArgs{std::move(a)};
}

Result<CommandArgs> parse_lsub(ArgReader& r, bool) {
  ListArgs a;
  CYR_ASSIGN(ref, list_reference(r));
  CYR_ASSIGN(p, list_mailbox(r));
  a.reference = std::move(ref);
  a.patterns.push_back(std::move(p));
  CYR_TRY(r.end());
  return CommandArgs{std::move(a)};
}

Result<CommandArgs> parse_status(ArgReader& r, bool) {
  StatusArgs a;
  CYR_ASSIGN(mbox, r.mailbox());
  CYR_ASSIGN(items, status_item_list(r));
  a.mailbox = std::move(mbox);
  a.items = items;
  CYR_TRY(r.end());
  return CommandArgs{std::move(a)};
}

// ---------------------------------------------------------------- APPEND

// cat-part *(SP cat-part) ")" after "CATENATE (" (RFC 4469 5):
// "TEXT" SP literal / "URL" SP astring. The TEXT literals are message
// literals (the framer streams them); the URLs are checked when the command
// runs, against the store, so here only their length is bounded.
Result<std::vector<CatenatePart>> catenate_parts(ArgReader& r) {
  std::vector<CatenatePart> parts;
  do {
    if (parts.size() >= kMaxCatenateParts)
      return invalid("Too many CATENATE parts (at most " + std::to_string(kMaxCatenateParts) + ")");
    CatenatePart p;
    if (r.take_atom("TEXT")) {
      CYR_ASSIGN(lit, r.message_literal());
      p.kind = CatenatePart::Kind::Text;
      p.size = lit.size;
      p.literal = lit.index;
      p.binary = lit.binary;
    } else if (r.take_atom("URL")) {
      CYR_ASSIGN(url, r.astring());
      if (url.empty()) return invalid("Empty CATENATE URL");
      if (url.size() > kMaxCatenateUrl)
        return invalid("CATENATE URL too long (at most " + std::to_string(kMaxCatenateUrl) + " octets)");
      p.kind = CatenatePart::Kind::Url;
      p.url = std::move(url);
    } else {
      return invalid("Expected TEXT or URL in CATENATE");
    }
    parts.push_back(std::move(p));
  } while (!r.take_close());
  return parts;
}

// append-message (RFC 4466 / 3502): [flag-list] [date-time] followed by a
// literal, a literal8 (RFC 3516) or CATENATE (...) (RFC 4469).
Result<AppendMessage> append_message(ArgReader& r) {
  AppendMessage m;
  if (r.peek_open()) {
    CYR_ASSIGN(flags, r.flag_list());
    m.flags = std::move(flags);
  }
  const auto* t = r.peek();
  if (t && t->kind == Kind::Quoted) {
    CYR_ASSIGN(dt, r.date_time());
    m.internal_date = dt;
  }
  if (r.take_atom("CATENATE")) {
    CYR_TRY(r.open());
    if (r.peek_close()) return invalid("CATENATE needs at least one part");
    CYR_ASSIGN(parts, catenate_parts(r));
    m.catenate = std::move(parts);
    return m;
  }
  CYR_ASSIGN(lit, r.message_literal());
  m.size = lit.size;
  m.literal = lit.index;
  m.binary = lit.binary;
  return m;
}

Result<CommandArgs> parse_append(ArgReader& r, bool) {
  AppendArgs a;
  CYR_ASSIGN(mbox, r.mailbox());
  a.mailbox = std::move(mbox);
  while (!r.at_end()) {  // MULTIAPPEND: one or more messages
    CYR_ASSIGN(m, append_message(r));
    a.messages.push_back(std::move(m));
  }
  if (a.messages.empty()) return invalid("Missing message literal");
  return CommandArgs{std::move(a)};
}

// RFC 8508: REPLACE seq-number mailbox append-message (UID REPLACE: a UID).
Result<CommandArgs> parse_replace(ArgReader& r, bool) {
  ReplaceArgs a;
  CYR_ASSIGN(set, r.sequence_set(/*allow_saved=*/false));
  if (set.ranges.size() != 1 || set.ranges[0].first != set.ranges[0].last)
    return invalid("REPLACE takes one message number");
  a.source = std::move(set);
  CYR_ASSIGN(mbox, r.mailbox());
  a.append.mailbox = std::move(mbox);
  if (r.at_end()) return invalid("Missing message literal");
  CYR_ASSIGN(m, append_message(r));
  a.append.messages.push_back(std::move(m));
  CYR_TRY(r.end());
  return CommandArgs{std::move(a)};
}

// ---------------------------------------------------------------- ENABLE / ID

Result<CommandArgs> parse_enable(ArgReader& r, bool) {
  EnableArgs a;
  while (!r.at_end()) {
    CYR_ASSIGN(cap, r.upper_atom());
    a.capabilities.push_back(std::move(cap));
  }
  if (a.capabilities.empty()) return invalid("Missing capability");
  return CommandArgs{std::move(a)};
}

// RFC 4978 defines DEFLATE only; another mechanism is a BAD (section 3).
Result<CommandArgs> parse_compress(ArgReader& r, bool) {
  CYR_ASSIGN(mech, r.upper_atom());
  CYR_TRY(r.end());
  if (mech != "DEFLATE") return invalid("Unknown compression mechanism");
  return CommandArgs{CompressArgs{std::move(mech)}};
}

Result<CommandArgs> parse_id(ArgReader& r, bool) {
  IdArgs a;
  if (r.take_atom("NIL")) {
    CYR_TRY(r.end());
    return CommandArgs{std::move(a)};
  }
  CYR_TRY(r.open());
  a.params.emplace();
  while (!r.take_close()) {
    // RFC 2971 3.3: at most 30 pairs, field names at most 30 octets, values 1024.
    if (a.params->size() >= 30) return invalid("Too many ID parameters");
    CYR_ASSIGN(field, r.string());
    CYR_ASSIGN(value, r.nstring());
    if (field.size() > 30) return invalid("ID field name too long");
    if (value && value->size() > 1024) return invalid("ID value too long");
    a.params->emplace_back(std::move(field), std::move(value));
  }
  CYR_TRY(r.end());
  return CommandArgs{std::move(a)};
}

// ---------------------------------------------------------------- ACL / QUOTA / METADATA

Result<CommandArgs> parse_setacl(ArgReader& r, bool) {
  SetAclArgs a;
  CYR_ASSIGN(mbox, r.mailbox());
  CYR_ASSIGN(id, r.astring());
  CYR_ASSIGN(rights, r.astring());
  CYR_TRY(r.end());
  a.mailbox = std::move(mbox);
  a.identifier = std::move(id);
  a.rights = std::move(rights);
  return CommandArgs{std::move(a)};
}

Result<CommandArgs> parse_mailbox_identifier(ArgReader& r, bool) {  // DELETEACL LISTRIGHTS
  SetAclArgs a;
  CYR_ASSIGN(mbox, r.mailbox());
  CYR_ASSIGN(id, r.astring());
  CYR_TRY(r.end());
  a.mailbox = std::move(mbox);
  a.identifier = std::move(id);
  return CommandArgs{std::move(a)};
}

Result<CommandArgs> parse_getquota(ArgReader& r, bool) {
  CYR_ASSIGN(root, r.astring());
  CYR_TRY(r.end());
  return CommandArgs{QuotaRootArgs{std::move(root)}};
}

Result<CommandArgs> parse_setquota(ArgReader& r, bool) {
  SetQuotaArgs a;
  CYR_ASSIGN(root, r.astring());
  a.root = std::move(root);
  CYR_TRY(r.open());
  while (!r.take_close()) {
    CYR_ASSIGN(res, r.upper_atom());
    CYR_ASSIGN(limit, r.number64());
    a.limits.emplace_back(std::move(res), limit);
  }
  CYR_TRY(r.end());
  return CommandArgs{std::move(a)};
}

// getmetadata-options after "(": MAXSIZE n / DEPTH 0|1|infinity, up to ")".
Status parse_getmetadata_options(ArgReader& r, GetMetadataArgs& a) {
  while (!r.take_close()) {
    CYR_ASSIGN(opt, r.upper_atom());
    if (opt == "MAXSIZE") {
      CYR_ASSIGN(n, r.number64());
      a.maxsize = n;
    } else if (opt == "DEPTH") {
      CYR_ASSIGN(depth, r.upper_atom());
      std::string_view d = depth;
      if (d == "INFINITY") a.depth = "infinity";
      else if (d == "0" || d == "1") a.depth = std::string(d);
      else return invalid("Invalid DEPTH");
    } else {
      return invalid("Unknown GETMETADATA option " + opt);
    }
  }
  return {};
}

Result<CommandArgs> parse_getmetadata(ArgReader& r, bool) {
  GetMetadataArgs a;
  if (r.take_open()) CYR_TRY(parse_getmetadata_options(r, a));
  CYR_ASSIGN(mbox, r.mailbox());
  a.mailbox = std::move(mbox);
  // Options are accepted after the mailbox too (some clients put them there);
  // an option list starts with MAXSIZE or DEPTH, an entry list never does.
  if (r.peek_open()) {
    (void)r.take_open();
    if (r.peek_atom("MAXSIZE") || r.peek_atom("DEPTH")) {
      CYR_TRY(parse_getmetadata_options(r, a));
    } else {
      while (!r.take_close()) CYR_TRY(metadata_request_entry(r, a.entries));
      if (a.entries.empty()) return invalid("Missing entry");
      CYR_TRY(r.end());
      return CommandArgs{std::move(a)};
    }
  }
  if (r.take_open()) {
    while (!r.take_close()) CYR_TRY(metadata_request_entry(r, a.entries));
  } else {
    CYR_TRY(metadata_request_entry(r, a.entries));
  }
  if (a.entries.empty()) return invalid("Missing entry");
  CYR_TRY(r.end());
  return CommandArgs{std::move(a)};
}

Result<CommandArgs> parse_setmetadata(ArgReader& r, bool) {
  SetMetadataArgs a;
  CYR_ASSIGN(mbox, r.mailbox());
  a.mailbox = std::move(mbox);
  CYR_TRY(r.open());
  while (!r.take_close()) {
    CYR_ASSIGN(entry, r.astring());
    CYR_ASSIGN(value, r.nstring());
    a.entries.emplace_back(std::move(entry), std::move(value));
  }
  if (a.entries.empty()) return invalid("Missing entry");
  CYR_TRY(r.end());
  return CommandArgs{std::move(a)};
}

// ---------------------------------------------------------------- selected state

Result<CommandArgs> parse_expunge(ArgReader& r, bool uid) {
  if (!uid) return parse_no_args(r, uid);
  CYR_ASSIGN(set, r.sequence_set());
  CYR_TRY(r.end());
  return CommandArgs{SequenceArgs{std::move(set)}};
}

Result<CommandArgs> parse_copy(ArgReader& r, bool) {  // COPY and MOVE
  CYR_ASSIGN(set, r.sequence_set());
  CYR_ASSIGN(mbox, r.mailbox());
  CYR_TRY(r.end());
  return CommandArgs{CopyArgs{std::move(set), std::move(mbox)}};
}

// ---- FETCH

Result<uint32_t> parse_u32(std::string_view s) {
  if (s.empty() || s.size() > 10 || !std::all_of(s.begin(), s.end(), [](char c) {
        return c >= '0' && c <= '9';
      }))
    return invalid("Invalid number");
  uint64_t v = 0;
  for (char c : s) v = v * 10 + uint64_t(c - '0');
  if (v > UINT32_MAX) return invalid("Number too big");
  return uint32_t(v);
}

// The header-list of HEADER.FIELDS: "(" astring *(SP astring) ")" inside brackets.
Result<std::vector<std::string>> parse_header_list(std::string_view s, size_t max_items) {
  if (s.size() < 2 || s.front() != '(' || s.back() != ')') return invalid("Invalid header list");
  s = s.substr(1, s.size() - 2);
  std::vector<std::string> fields;
  size_t i = 0;
  while (i < s.size()) {
    if (fields.size() >= max_items) return invalid("Too many header fields");
    std::string name;
    if (s[i] == '"') {
      size_t j = i + 1;
      for (; j < s.size() && s[j] != '"'; ++j) {
        if (s[j] == '\\' && j + 1 < s.size()) ++j;
        name.push_back(s[j]);
      }
      if (j >= s.size()) return invalid("Invalid header list");
      i = j + 1;
    } else {
      size_t j = s.find(' ', i);
      if (j == std::string_view::npos) j = s.size();
      name = std::string(s.substr(i, j - i));
      i = j;
    }
    // field-name: printable ASCII except ":" (RFC 5322 2.2)
    if (name.empty() || !std::all_of(name.begin(), name.end(), [](char c) {
          return c > 0x20 && c < 0x7f && c != ':';
        }))
      return invalid("Invalid header field name");
    fields.push_back(to_upper(name));
    if (i < s.size()) {
      if (s[i] != ' ' || i + 1 == s.size()) return invalid("Invalid header list");
      ++i;
    }
  }
  if (fields.empty()) return invalid("Empty header list");
  return fields;
}

Result<Section> parse_section(std::string_view s, bool binary, size_t max_items) {
  Section sec;
  size_t i = 0;
  // section-part = nz-number *("." nz-number)
  while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
    size_t j = i;
    while (j < s.size() && s[j] >= '0' && s[j] <= '9') ++j;
    CYR_ASSIGN(n, parse_u32(s.substr(i, j - i)));
    if (n == 0) return invalid("Section part numbers start at 1");
    if (sec.part.size() >= 100) return invalid("Section nested too deeply");
    sec.part.push_back(n);
    i = j;
    if (i < s.size()) {
      if (s[i] != '.') return invalid("Invalid section");
      ++i;
      if (i == s.size()) return invalid("Invalid section");
    }
  }
  std::string_view text = s.substr(i);
  if (text.empty()) return sec;
  if (binary) return invalid("BINARY takes only a part number");
  std::string up = to_upper(text.substr(0, text.find(' ')));
  if (up == "HEADER") {
    sec.text = Section::Text::Header;
  } else if (up == "TEXT") {
    sec.text = Section::Text::Text;
  } else if (up == "MIME") {
    if (sec.part.empty()) return invalid("MIME needs a part number");
    sec.text = Section::Text::Mime;
  } else if (up == "HEADER.FIELDS" || up == "HEADER.FIELDS.NOT") {
    sec.text = up == "HEADER.FIELDS" ? Section::Text::HeaderFields : Section::Text::HeaderFieldsNot;
    if (text.size() <= up.size() + 1 || text[up.size()] != ' ')
      return invalid("Missing header list");
    CYR_ASSIGN(fields, parse_header_list(text.substr(up.size() + 1), max_items));
    sec.fields = std::move(fields);
    return sec;
  } else {
    return invalid("Invalid section");
  }
  if (up.size() != text.size()) return invalid("Invalid section");
  return sec;
}

Result<FetchItem> parse_fetch_item(std::string_view atom, size_t max_items) {
  FetchItem it;
  size_t br = atom.find('[');
  std::string name = to_upper(atom.substr(0, br));
  using K = FetchItem::Kind;
  if (br == std::string_view::npos) {
    static const std::pair<const char*, K> kSimple[] = {
        {"ENVELOPE", K::Envelope},         {"FLAGS", K::Flags},
        {"INTERNALDATE", K::InternalDate}, {"RFC822", K::Rfc822},
        {"RFC822.HEADER", K::Rfc822Header}, {"RFC822.SIZE", K::Rfc822Size},
        {"RFC822.TEXT", K::Rfc822Text},    {"BODY", K::Body},
        {"BODYSTRUCTURE", K::BodyStructure}, {"UID", K::Uid},
        {"MODSEQ", K::ModSeq},             {"EMAILID", K::EmailId},
        {"THREADID", K::ThreadId},         {"SAVEDATE", K::SaveDate},
        {"PREVIEW", K::Preview},
    };
    for (const auto& [n, k] : kSimple)
      if (name == n) {
        it.kind = k;
        return it;
      }
    return invalid("Unknown FETCH item " + name);
  }
  bool binary = false;
  if (name == "BODY") {
    it.kind = K::BodySection;
  } else if (name == "BODY.PEEK") {
    it.kind = K::BodySection;
    it.peek = true;
  } else if (name == "BINARY") {
    it.kind = K::BinarySection;
    binary = true;
  } else if (name == "BINARY.PEEK") {
    it.kind = K::BinarySection;
    it.peek = true;
    binary = true;
  } else if (name == "BINARY.SIZE") {
    it.kind = K::BinarySize;
    binary = true;
  } else {
    return invalid("Unknown FETCH item " + name);
  }
  size_t close = atom.find(']', br);
  // A quoted header name may hold "]": find the bracket that ends the section.
  if (atom.find('"', br) != std::string_view::npos) close = atom.rfind(']');
  if (close == std::string_view::npos) return invalid("Missing ']'");
  CYR_ASSIGN(sec, parse_section(atom.substr(br + 1, close - br - 1), binary, max_items));
  it.section = std::move(sec);
  std::string_view rest = atom.substr(close + 1);
  if (!rest.empty()) {
    // "<" number "." nz-number ">"
    if (it.kind == K::BinarySize) return invalid("BINARY.SIZE takes no partial range");
    if (rest.size() < 5 || rest.front() != '<' || rest.back() != '>')
      return invalid("Invalid partial range");
    std::string_view inner = rest.substr(1, rest.size() - 2);
    size_t dot = inner.find('.');
    if (dot == std::string_view::npos) return invalid("Invalid partial range");
    CYR_ASSIGN(off, parse_u32(inner.substr(0, dot)));
    CYR_ASSIGN(len, parse_u32(inner.substr(dot + 1)));
    if (len == 0) return invalid("Partial length must not be zero");
    it.partial = Partial{off, len};
  }
  return it;
}

// True if the next tokens are "(" LAZY: PREVIEW's modifier list (RFC 8970),
// not the fetch-modifiers list (CHANGEDSINCE ...) that may follow the items.
bool preview_modifiers_follow(const ArgReader& r) {
  if (!r.peek_open()) return false;
  ArgReader ahead = r;
  (void)ahead.take_open();
  return ahead.peek_atom("LAZY");
}

// preview-mod list: "(" "LAZY" *(SP "LAZY") ")", if one follows; RFC 8970
// defines only LAZY, anything else is BAD.
Status parse_preview_modifiers(ArgReader& r, FetchItem& item) {
  if (!r.take_open()) return ok_status();
  size_t count = 0;
  while (!r.take_close()) {
    CYR_ASSIGN(mod, r.upper_atom());
    if (mod != "LAZY") return invalid("Unknown PREVIEW modifier " + mod);
    if (++count > 8) return invalid("Too many PREVIEW modifiers");
    item.lazy = true;
  }
  if (count == 0) return invalid("Empty PREVIEW modifier list");
  return ok_status();
}

Result<CommandArgs> parse_fetch(ArgReader& r, bool uid) {
  FetchArgs a;
  CYR_ASSIGN(set, r.sequence_set());
  a.set = std::move(set);
  using K = FetchItem::Kind;
  auto simple = [](K k) {
    FetchItem i;
    i.kind = k;
    return i;
  };
  if (r.take_open()) {
    while (!r.take_close()) {
      CYR_ASSIGN(att, r.atom());
      CYR_ASSIGN(item, parse_fetch_item(att, r.limits().max_items));
      if (item.kind == K::Preview) CYR_TRY(parse_preview_modifiers(r, item));
      a.items.push_back(std::move(item));
    }
    if (a.items.empty()) return invalid("Empty FETCH item list");
  } else {
    CYR_ASSIGN(att, r.atom());
    std::string up = to_upper(att);
    if (up == "ALL" || up == "FAST" || up == "FULL") {
      a.items = {simple(K::Flags), simple(K::InternalDate), simple(K::Rfc822Size)};
      if (up != "FAST") a.items.push_back(simple(K::Envelope));
      if (up == "FULL") a.items.push_back(simple(K::Body));
    } else {
      CYR_ASSIGN(item, parse_fetch_item(att, r.limits().max_items));
      // "FETCH 1 PREVIEW (LAZY)": a list after a lone PREVIEW is its
      // modifiers when it starts with one; otherwise it is the fetch-modifiers.
      if (item.kind == K::Preview && preview_modifiers_follow(r))
        CYR_TRY(parse_preview_modifiers(r, item));
      a.items.push_back(std::move(item));
    }
  }
  if (r.take_open()) {  // fetch-modifiers (RFC 4466, 7162)
    while (!r.take_close()) {
      CYR_ASSIGN(mod, r.upper_atom());
      if (mod == "CHANGEDSINCE") {
        CYR_ASSIGN(n, r.number64());
        a.changed_since = n;
      } else if (mod == "VANISHED") {
        a.vanished = true;
      } else {
        return invalid("Unknown FETCH modifier " + mod);
      }
    }
    if (a.vanished && (!uid || !a.changed_since))
      return invalid("VANISHED needs UID FETCH and CHANGEDSINCE");
  }
  CYR_TRY(r.end());
  return CommandArgs{std::move(a)};
}

// ---- STORE

Result<CommandArgs> parse_store(ArgReader& r, bool) {
  StoreArgs a;
  CYR_ASSIGN(set, r.sequence_set());
  a.set = std::move(set);
  if (r.take_open()) {  // store-modifiers
    while (!r.take_close()) {
      CYR_ASSIGN(mod, r.upper_atom());
      if (mod != "UNCHANGEDSINCE") return invalid("Unknown STORE modifier " + mod);
      CYR_ASSIGN(n, r.number64());
      a.unchanged_since = n;
    }
  }
  CYR_ASSIGN(what, r.upper_atom());
  std::string_view w = what;
  if (!w.empty() && (w[0] == '+' || w[0] == '-')) {
    a.op = w[0] == '+' ? StoreArgs::Op::Add : StoreArgs::Op::Remove;
    w.remove_prefix(1);
  }
  if (w == "FLAGS.SILENT") a.silent = true;
  else if (w != "FLAGS") return invalid("Expected FLAGS, +FLAGS or -FLAGS");
  if (r.peek_open()) {
    CYR_ASSIGN(flags, r.flag_list());
    a.flags = std::move(flags);
  } else {
    while (!r.at_end()) {
      CYR_ASSIGN(f, r.flag());
      a.flags.push_back(std::move(f));
    }
    if (a.flags.empty()) return invalid("Missing flags");
  }
  CYR_TRY(r.end());
  return CommandArgs{std::move(a)};
}

// ---- SEARCH

Result<SearchKey> parse_search_key(ArgReader& r, size_t depth);

Result<SearchKey> search_string_key(ArgReader& r, SearchKey::Kind k) {
  CYR_ASSIGN(s, r.astring());
  SearchKey key;
  key.kind = k;
  key.text = std::move(s);
  return key;
}

Result<SearchKey> parse_search_key(ArgReader& r, size_t depth) {
  using K = SearchKey::Kind;
  if (depth > r.limits().max_depth) return invalid("Search keys nested too deeply");
  SearchKey key;
  if (r.take_open()) {
    key.kind = K::And;
    while (!r.take_close()) {
      CYR_ASSIGN(child, parse_search_key(r, depth + 1));
      key.children.push_back(std::move(child));
    }
    if (key.children.empty()) return invalid("Empty search key list");
    return key;
  }
  const auto* t = r.peek();
  if (!t) return invalid("Missing search key");
  if (t->kind != Kind::Atom) return invalid("Expected a search key");
  std::string name = to_upper(t->text);
  char c0 = name.empty() ? 0 : name[0];
  if ((c0 >= '0' && c0 <= '9') || c0 == '*' || c0 == '$') {
    CYR_ASSIGN(set, r.sequence_set());
    key.kind = K::SequenceSet;
    key.set = std::move(set);
    return key;
  }
  (void)r.atom();
  static const std::pair<const char*, K> kFlagKeys[] = {
      {"ALL", K::All},           {"ANSWERED", K::Answered},     {"DELETED", K::Deleted},
      {"DRAFT", K::Draft},       {"FLAGGED", K::Flagged},       {"NEW", K::New},
      {"OLD", K::Old},           {"RECENT", K::Recent},         {"SEEN", K::Seen},
      {"UNANSWERED", K::Unanswered}, {"UNDELETED", K::Undeleted}, {"UNDRAFT", K::Undraft},
      {"UNFLAGGED", K::Unflagged}, {"UNSEEN", K::Unseen},
  };
  for (const auto& [n, k] : kFlagKeys)
    if (name == n) {
      key.kind = k;
      return key;
    }
  static const std::pair<const char*, K> kStringKeys[] = {
      {"BCC", K::Bcc}, {"BODY", K::Body}, {"CC", K::Cc}, {"FROM", K::From},
      {"SUBJECT", K::Subject}, {"TEXT", K::Text}, {"TO", K::To},
  };
  for (const auto& [n, k] : kStringKeys)
    if (name == n) return search_string_key(r, k);
  static const std::pair<const char*, K> kDateKeys[] = {
      {"BEFORE", K::Before}, {"ON", K::On}, {"SINCE", K::Since},
      {"SENTBEFORE", K::SentBefore}, {"SENTON", K::SentOn}, {"SENTSINCE", K::SentSince},
      {"SAVEDBEFORE", K::SavedBefore}, {"SAVEDON", K::SavedOn}, {"SAVEDSINCE", K::SavedSince},
  };
  for (const auto& [n, k] : kDateKeys)
    if (name == n) {
      CYR_ASSIGN(d, r.date());
      key.kind = k;
      key.date = d;
      return key;
    }
  if (name == "LARGER" || name == "SMALLER" || name == "OLDER" || name == "YOUNGER") {
    CYR_ASSIGN(n, r.number());
    key.kind = name == "LARGER" ? K::Larger
             : name == "SMALLER" ? K::Smaller
             : name == "OLDER" ? K::Older : K::Younger;
    if ((key.kind == K::Older || key.kind == K::Younger) && n == 0)
      return invalid("Interval must not be zero");
    key.number = n;
    return key;
  }
  if (name == "SAVEDATESUPPORTED") {  // RFC 8514
    key.kind = K::SaveDateSupported;
    return key;
  }
  if (name == "EMAILID" || name == "THREADID") {  // RFC 8474: search-key =/ ... SP objectid
    CYR_ASSIGN(id, r.atom());
    if (!is_object_id(id)) return invalid("Invalid " + name + " object id");
    key.kind = name == "EMAILID" ? K::EmailId : K::ThreadId;
    key.text = std::move(id);
    return key;
  }
  if (name == "HEADER") {
    CYR_ASSIGN(field, r.astring());
    CYR_ASSIGN(value, r.astring());
    key.kind = K::Header;
    key.header_name = std::move(field);
    key.text = std::move(value);
    return key;
  }
  if (name == "KEYWORD" || name == "UNKEYWORD") {
    CYR_ASSIGN(f, r.flag());
    if (f[0] == '\\') return invalid("KEYWORD takes a keyword, not a system flag");
    key.kind = name == "KEYWORD" ? K::Keyword : K::Unkeyword;
    key.text = std::move(f);
    return key;
  }
  if (name == "UID") {
    CYR_ASSIGN(set, r.sequence_set());
    key.kind = K::Uid;
    key.set = std::move(set);
    return key;
  }
  if (name == "NOT") {
    CYR_ASSIGN(child, parse_search_key(r, depth + 1));
    key.kind = K::Not;
    key.children.push_back(std::move(child));
    return key;
  }
  if (name == "OR") {
    CYR_ASSIGN(a, parse_search_key(r, depth + 1));
    CYR_ASSIGN(b, parse_search_key(r, depth + 1));
    key.kind = K::Or;
    key.children.push_back(std::move(a));
    key.children.push_back(std::move(b));
    return key;
  }
  if (name == "MODSEQ") {  // MODSEQ [entry-name entry-type-req] mod-sequence-valzer
    key.kind = K::ModSeq;
    const auto* n = r.peek();
    if (n && n->kind == Kind::Quoted) {
      CYR_ASSIGN(entry, r.string());
      CYR_ASSIGN(type, r.upper_atom());
      if (type != "PRIV" && type != "SHARED" && type != "ALL") return invalid("Invalid entry type");
      key.modseq_entry = std::move(entry);
      key.modseq_entry_type = to_upper(type);
    }
    CYR_ASSIGN(v, r.number64());
    key.number = v;
    return key;
  }
  return invalid("Unknown search key " + name);
}

// The search keys that end SEARCH, SORT and THREAD: one or more, to the end
// of the command, as one Kind::And key.
Result<SearchKey> parse_search_program(ArgReader& r) {
  SearchKey all;
  all.kind = SearchKey::Kind::And;
  while (!r.at_end()) {
    CYR_ASSIGN(key, parse_search_key(r, 0));
    all.children.push_back(std::move(key));
  }
  if (all.children.empty()) return invalid("Missing search key");
  return all;
}

// search-return-opts (RFC 4731, 5182) and sort-return-opts (RFC 5267):
// "(" [MIN / MAX / ALL / COUNT / SAVE ...] ")"; RETURN () is RETURN (ALL).
// `command` names the command in the error.
Result<uint32_t> parse_return_options(ArgReader& r, const std::string& command) {
  CYR_TRY(r.open());
  uint32_t opts = 0;
  while (!r.take_close()) {
    CYR_ASSIGN(o, r.upper_atom());
    if (o == "MIN") opts |= kSearchReturnMin;
    else if (o == "MAX") opts |= kSearchReturnMax;
    else if (o == "ALL") opts |= kSearchReturnAll;
    else if (o == "COUNT") opts |= kSearchReturnCount;
    else if (o == "SAVE") opts |= kSearchReturnSave;
    else return invalid("Unknown " + command + " return option " + o);
  }
  return opts == 0 ? uint32_t{kSearchReturnAll} : opts;
}

Result<CommandArgs> parse_search(ArgReader& r, bool) {
  SearchArgs a;
  if (r.take_atom("RETURN")) {
    CYR_ASSIGN(opts, parse_return_options(r, "SEARCH"));
    a.return_options = opts;
  }
  if (r.take_atom("CHARSET")) {
    CYR_ASSIGN(cs, r.astring());
    a.charset = to_upper(cs);
  }
  CYR_ASSIGN(key, parse_search_program(r));
  a.key = std::move(key);
  return CommandArgs{std::move(a)};
}

// ---- SORT and THREAD (RFC 5256; DISPLAYFROM/DISPLAYTO RFC 5957; ESORT RFC 5267)

// sort-criteria: "(" ["REVERSE" SP] sort-key *(SP ["REVERSE" SP] sort-key) ")"
Result<std::vector<SortCriterion>> parse_sort_criteria(ArgReader& r) {
  static const std::pair<const char*, SortKey> kKeys[] = {
      {"ARRIVAL", SortKey::Arrival}, {"CC", SortKey::Cc},         {"DATE", SortKey::Date},
      {"FROM", SortKey::From},       {"SIZE", SortKey::Size},     {"SUBJECT", SortKey::Subject},
      {"TO", SortKey::To},           {"DISPLAYFROM", SortKey::DisplayFrom},
      {"DISPLAYTO", SortKey::DisplayTo},
  };
  CYR_TRY(r.open());
  std::vector<SortCriterion> out;
  while (!r.take_close()) {
    if (out.size() >= kMaxSortCriteria) return invalid("Too many sort criteria");
    SortCriterion c;
    CYR_ASSIGN(name, r.upper_atom());
    if (name == "REVERSE") {
      c.reverse = true;
      CYR_ASSIGN(next, r.upper_atom());
      name = std::move(next);
    }
    bool known = false;
    for (const auto& [n, k] : kKeys)
      if (name == n) {
        c.key = k;
        known = true;
      }
    if (!known) return invalid("Unknown sort key " + name);
    out.push_back(c);
  }
  if (out.empty()) return invalid("Missing sort criteria");
  return out;
}

Result<CommandArgs> parse_sort(ArgReader& r, bool) {
  SortArgs a;
  if (r.take_atom("RETURN")) {
    CYR_ASSIGN(opts, parse_return_options(r, "SORT"));
    a.return_options = opts;
  }
  CYR_ASSIGN(criteria, parse_sort_criteria(r));
  a.criteria = std::move(criteria);
  CYR_ASSIGN(cs, r.astring());
  a.charset = to_upper(cs);
  CYR_ASSIGN(key, parse_search_program(r));
  a.key = std::move(key);
  return CommandArgs{std::move(a)};
}

Result<CommandArgs> parse_thread(ArgReader& r, bool) {
  ThreadArgs a;
  CYR_ASSIGN(alg, r.upper_atom());
  if (alg == "ORDEREDSUBJECT") a.algorithm = ThreadAlgorithm::OrderedSubject;
  else if (alg == "REFERENCES") a.algorithm = ThreadAlgorithm::References;
  else return invalid("Unknown threading algorithm " + alg);
  CYR_ASSIGN(cs, r.astring());
  a.charset = to_upper(cs);
  CYR_ASSIGN(key, parse_search_program(r));
  a.key = std::move(key);
  return CommandArgs{std::move(a)};
}

// SYNC* arguments are captured raw by the framer and never tokenised, so this
// runs only if that capture is bypassed: refuse rather than return nothing.
Result<CommandArgs> parse_raw(ArgReader& r, bool) {
  return Error(Errc::Internal, "Replication arguments were not captured");
}

// ---------------------------------------------------------------- the table

constexpr uint32_t kAuthSel = kAuthenticated | kSelected;

const CommandSpec kCommands[] = {
    {"CAPABILITY", CommandId::Capability, parse_no_args, kAnyState},
    {"NOOP", CommandId::Noop, parse_no_args, kAnyState},
    {"LOGOUT", CommandId::Logout, parse_no_args, kAnyState},
    {"ID", CommandId::Id, parse_id, kAnyState},
    {"STARTTLS", CommandId::StartTls, parse_no_args, kNotAuthenticated},
    {"AUTHENTICATE", CommandId::Authenticate, parse_authenticate, kNotAuthenticated},
    {"LOGIN", CommandId::Login, parse_login, kNotAuthenticated},
    {"ENABLE", CommandId::Enable, parse_enable, kAuthenticated},
    {"COMPRESS", CommandId::Compress, parse_compress, kAuthSel},
    {"SELECT", CommandId::Select, parse_select, kAuthSel | kBreaksSeqs},
    {"EXAMINE", CommandId::Examine, parse_select, kAuthSel | kBreaksSeqs},
    {"CREATE", CommandId::Create, parse_create, kAuthSel | kWrite},
    {"DELETE", CommandId::Delete, parse_mailbox_only, kAuthSel | kWrite},
    {"RENAME", CommandId::Rename, parse_rename, kAuthSel | kWrite},
    {"SUBSCRIBE", CommandId::Subscribe, parse_mailbox_only, kAuthSel | kWrite},
    {"UNSUBSCRIBE", CommandId::Unsubscribe, parse_mailbox_only, kAuthSel | kWrite},
    {"LIST", CommandId::List, parse_list, kAuthSel},
    {"LSUB", CommandId::Lsub, parse_lsub, kAuthSel},
    // XLIST takes LSUB's arguments (reference pattern): the clients that
    // still send it know nothing of LIST-EXTENDED.
    {"XLIST", CommandId::Xlist, parse_lsub, kAuthSel},
    {"NAMESPACE", CommandId::Namespace, parse_no_args, kAuthSel},
    {"STATUS", CommandId::Status, parse_status, kAuthSel},
    {"APPEND", CommandId::Append, parse_append, kAuthSel | kWrite},
    {"IDLE", CommandId::Idle, parse_no_args, kAuthSel | kBreaksSeqs},
    {"UNAUTHENTICATE", CommandId::Unauthenticate, parse_no_args, kAuthSel | kBreaksSeqs},
    {"GETACL", CommandId::GetAcl, parse_mailbox_only, kAuthSel},
    {"SETACL", CommandId::SetAcl, parse_setacl, kAuthSel | kWrite},
    {"DELETEACL", CommandId::DeleteAcl, parse_mailbox_identifier, kAuthSel | kWrite},
    {"LISTRIGHTS", CommandId::ListRights, parse_mailbox_identifier, kAuthSel},
    {"MYRIGHTS", CommandId::MyRights, parse_mailbox_only, kAuthSel},
    {"GETQUOTA", CommandId::GetQuota, parse_getquota, kAuthSel},
    {"GETQUOTAROOT", CommandId::GetQuotaRoot, parse_mailbox_only, kAuthSel},
    {"SETQUOTA", CommandId::SetQuota, parse_setquota, kAuthSel | kWrite},
    {"GETMETADATA", CommandId::GetMetadata, parse_getmetadata, kAuthSel},
    {"SETMETADATA", CommandId::SetMetadata, parse_setmetadata, kAuthSel | kWrite},
    {"CHECK", CommandId::Check, parse_no_args, kSelected},
    {"CLOSE", CommandId::Close, parse_no_args, kSelected | kWrite | kBreaksSeqs},
    {"UNSELECT", CommandId::Unselect, parse_no_args, kSelected | kBreaksSeqs},
    {"EXPUNGE", CommandId::Expunge, parse_expunge,
     kSelected | kWrite | kBreaksSeqs | kAllowsUid},
    {"SEARCH", CommandId::Search, parse_search, kSelected | kUsesSeqs | kAllowsUid},
    {"FETCH", CommandId::Fetch, parse_fetch, kSelected | kUsesSeqs | kAllowsUid},
    {"STORE", CommandId::Store, parse_store, kSelected | kWrite | kUsesSeqs | kAllowsUid},
    {"COPY", CommandId::Copy, parse_copy, kSelected | kWrite | kUsesSeqs | kAllowsUid},
    {"MOVE", CommandId::Move, parse_copy,
     kSelected | kWrite | kUsesSeqs | kBreaksSeqs | kAllowsUid},
    {"REPLACE", CommandId::Replace, parse_replace,
     kSelected | kWrite | kUsesSeqs | kBreaksSeqs | kAllowsUid},
    {"SORT", CommandId::Sort, parse_sort, kSelected | kUsesSeqs | kAllowsUid},
    {"THREAD", CommandId::Thread, parse_thread, kSelected | kUsesSeqs | kAllowsUid},
    {"SYNCAPPLY", CommandId::SyncApply, parse_raw, kAuthSel | kWrite},
    {"SYNCGET", CommandId::SyncGet, parse_raw, kAuthSel},
    {"SYNCRESTART", CommandId::SyncRestart, parse_raw, kAuthSel},
};

}  // namespace

Result<Section> parse_section_spec(std::string_view text, size_t max_items) {
  return parse_section(text, /*binary=*/false, max_items);
}

const CommandSpec* find_command(std::string_view name) {
  for (const CommandSpec& c : kCommands)
    if (iequals(c.name, name)) return &c;
  return nullptr;
}

const CommandSpec& command_spec(CommandId id) {
  for (const CommandSpec& c : kCommands)
    if (c.id == id) return c;
  return kCommands[1];  // unreachable: every id is in the table (tested)
}

bool command_writes(const Command& cmd) {
  if (command_spec(cmd.id).flags & kWrite) return true;
  if (cmd.id == CommandId::Fetch) {
    for (const FetchItem& i : cmd.as<FetchArgs>().items) {
      using K = FetchItem::Kind;
      if (((i.kind == K::BodySection || i.kind == K::BinarySection) && !i.peek) ||
          i.kind == K::Rfc822 || i.kind == K::Rfc822Text)
        return true;
    }
  }
  return false;
}

}  // namespace cyr::imap
