// GETMETADATA and SETMETADATA (RFC 5464) on mailboxes and the server ("").
//
// Values live in the store's annotations (see metadata.h for the mapping),
// so they replicate like Cyrus's. Rights follow Cyrus's annotate.c: reading
// mailbox metadata needs "l" and "r"; writing a private entry needs "l";
// writing a shared one "l", "r" and "w"; server metadata is readable by
// everyone, its shared entries writable by admins only. Besides what
// clients set, the read-only Cyrus vendor entries below are computed from
// the mailbox, and /private/specialuse is the mailbox's special-use
// attribute (RFC 6154 4).
#include <algorithm>
#include <map>
#include <set>

#include "server/imapd/metadata.h"
#include "server/imapd/session.h"

namespace cyr::imapd {

using imap::ResponseCode;
namespace right = mail::right;

namespace {

constexpr std::string_view kCyrusVendor = "/vendor/cmu/cyrus-imapd/";
constexpr std::string_view kSpecialUse = "/specialuse";  // the store's (shared) entry

bool is_cyrus_vendor(const MetadataEntry& e) {
  return e.shared && e.name.rfind(kCyrusVendor, 0) == 0;
}

// The vendor entries an administrator sets, as with cyradm's mboxconfig:
// "expire" (days after which cyr_expire expunges messages; 0 = never;
// inherited by the mailboxes below). The others are computed, read-only.
bool is_settable_cyrus_vendor(const MetadataEntry& e) {
  return is_cyrus_vendor(e) && e.name == std::string(kCyrusVendor) + "expire";
}

bool valid_expire_days(const std::optional<std::string>& v) {
  if (!v || v->empty()) return true;  // NIL / "": remove
  if (v->size() > 9) return false;
  return std::all_of(v->begin(), v->end(), [](char c) { return c >= '0' && c <= '9'; });
}

bool valid_special_use(std::string_view v) {
  static const char* kUses[] = {"\\all", "\\archive", "\\drafts", "\\flagged",
                                "\\junk", "\\sent", "\\trash", "\\important"};
  size_t i = 0;
  bool any = false;
  while (i < v.size()) {
    size_t sp = v.find(' ', i);
    std::string word(v.substr(i, sp == std::string_view::npos ? std::string_view::npos : sp - i));
    for (char& c : word)
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (std::none_of(std::begin(kUses), std::end(kUses), [&](const char* u) { return word == u; }))
      return false;
    any = true;
    if (sp == std::string_view::npos) break;
    i = sp + 1;
  }
  return any;
}

struct Candidate {
  MetadataEntry entry;
  std::string value;
};

}  // namespace

awaitable<Result<MetadataAnswer>> Session::collect_metadata(const store::MailboxInfo* info,
                                                            const std::vector<MetadataEntry>& wanted,
                                                            const std::string& depth,
                                                            std::optional<uint64_t> maxsize) {
  const std::string user = identity_->userid;
  const std::string internal = info ? info->name : std::string();
  auto stored = co_await blocking([&] { return store_.annotations(internal); });
  if (!stored) co_return stored.take_error();

  // Everything this user may see, in one list.
  std::vector<Candidate> all;
  for (auto& an : *stored) {
    if (info && an.userid.empty() && an.entry == kSpecialUse) {
      all.push_back({MetadataEntry{false, std::string(kSpecialUse)}, std::move(an.value)});
      continue;
    }
    if (!an.userid.empty() && an.userid != user) continue;  // someone else's private value
    all.push_back({MetadataEntry{an.userid.empty(), an.entry}, std::move(an.value)});
  }
  if (info) {
    auto vendor = [&](std::string_view name, std::string value) {
      all.push_back({MetadataEntry{true, std::string(kCyrusVendor) + std::string(name)},
                     std::move(value)});
    };
    if (identity_->is_admin) vendor("partition", info->partition);
    if (!settings_.servername.empty()) vendor("server", settings_.servername);
    vendor("size", std::to_string(info->total_size));
    vendor("uniqueid", info->uniqueid);
  }

  MetadataAnswer answer;
  std::set<std::string> sent;
  for (const auto& w : wanted) {
    bool any = false;
    for (const auto& c : all) {
      if (c.entry.shared != w.shared || !metadata_depth_matches(w.name, c.entry.name, depth))
        continue;
      any = true;
      std::string name = c.entry.imap();
      if (!sent.insert(name).second) continue;
      if (maxsize && c.value.size() > *maxsize) {
        answer.longest_omitted = std::max<uint64_t>(answer.longest_omitted, c.value.size());
        continue;
      }
      answer.entries.emplace_back(std::move(name), c.value);
    }
    // An entry that does not exist is answered with NIL, as Cyrus does.
    if (!any && !w.name.empty() && sent.insert(w.imap()).second)
      answer.entries.emplace_back(w.imap(), std::nullopt);
  }
  co_return answer;
}

awaitable<Reply> Session::cmd_getmetadata(const imap::GetMetadataArgs& a) {
  std::vector<MetadataEntry> wanted;
  const bool deep = a.depth && *a.depth != "0";
  for (const auto& e : a.entries) {
    auto parsed = parse_metadata_entry(e, deep);
    if (!parsed) co_return Reply::bad(parsed.error().user_message);
    wanted.push_back(std::move(*parsed));
  }
  const std::string depth = a.depth.value_or("0");

  std::optional<store::MailboxInfo> info;
  if (!a.mailbox.empty()) {
    auto in = to_internal(a.mailbox);
    if (!in) co_return error_reply(in.error(), "GETMETADATA");
    auto found = co_await lookup_visible(*in);
    if (!found) co_return error_reply(found.error(), "GETMETADATA");
    mail::Rights r = rights_on(*found);
    // Administrators may read any mailbox's entries, as in Cyrus (whose
    // admin holds only the implicit 'a' on user folders): an admin comparing
    // or auditing two servers must see the same annotations on both.
    if (!identity_->is_admin && (r & (right::kLookup | right::kRead)) != (right::kLookup | right::kRead))
      co_return Reply::no("Permission denied", ResponseCode::no_perm());
    info = std::move(*found);
  }
  auto answer = co_await collect_metadata(info ? &*info : nullptr, wanted, depth, a.maxsize);
  if (!answer) co_return error_reply(answer.error(), "GETMETADATA");
  if (!answer->entries.empty()) write_metadata_response(w_, a.mailbox, answer->entries);
  if (answer->longest_omitted)
    co_return Reply::ok("Getmetadata completed",
                        ResponseCode::metadata_long_entries(answer->longest_omitted));
  co_return Reply::ok("Getmetadata completed");
}

awaitable<Reply> Session::cmd_setmetadata(const imap::SetMetadataArgs& a) {
  const std::string user = identity_->userid;
  std::string internal;
  mail::Rights rights = 0;
  bool owner = false;
  if (!a.mailbox.empty()) {
    auto in = to_internal(a.mailbox);
    if (!in) co_return error_reply(in.error(), "SETMETADATA");
    internal = *in;
    auto found = co_await lookup_visible(internal);
    if (!found) co_return error_reply(found.error(), "SETMETADATA");
    rights = rights_on(*found);
    owner = owns(internal);
  }

  // Check everything first: a refused entry changes nothing (RFC 5464 4.3).
  std::vector<store::Annotation> changes;
  std::set<std::string> seen_names;
  for (const auto& [raw, value] : a.entries) {
    auto e = parse_metadata_entry(raw, false);
    if (!e) co_return Reply::bad(e.error().user_message);
    if (!seen_names.insert(e->imap()).second) co_return Reply::bad("Entry given twice: " + e->imap());
    if (value && value->size() > kMaxMetadataValue)
      co_return Reply::no("Metadata value too large",
                          ResponseCode::metadata_max_size(kMaxMetadataValue));
    if (is_settable_cyrus_vendor(*e)) {
      if (!identity_->is_admin || a.mailbox.empty())
        co_return Reply::no("Only administrators may set " + e->imap() + " on a mailbox",
                            ResponseCode::no_perm());
      if (!valid_expire_days(value))
        co_return Reply::bad("Entry " + e->imap() + " takes a number of days");
    } else if (is_cyrus_vendor(*e)) {
      co_return Reply::no("Entry " + e->imap() + " is read-only", ResponseCode::no_perm());
    }
    store::Annotation an;
    an.mailbox = internal;
    an.entry = e->name;
    an.userid = e->shared ? "" : user;
    an.value = value.value_or("");
    if (a.mailbox.empty()) {
      // Server metadata: anyone may keep private values; shared ones are the
      // administrators' (the RFC leaves it open; Cyrus does the same).
      if (e->shared && !identity_->is_admin)
        co_return Reply::no("Only administrators may set shared server metadata",
                            ResponseCode::no_perm());
    } else if (!e->shared && e->name == kSpecialUse) {
      // The mailbox's special use: its owner's (or an admin's) to change.
      if (!owner && !identity_->is_admin)
        co_return Reply::no("Permission denied", ResponseCode::no_perm());
      if (!an.value.empty() && !valid_special_use(an.value))
        co_return Reply::no("Unknown special-use attribute", ResponseCode::use_attr());
      an.userid.clear();
    } else {
      mail::Rights need = right::kLookup;
      if (e->shared) need |= right::kRead | right::kWrite;
      // Administrators may set any mailbox's entries, as in Cyrus, whose
      // admin holds only the implicit 'a' on user folders.
      if (!identity_->is_admin && (rights & need) != need)
        co_return Reply::no("Permission denied", ResponseCode::no_perm());
    }
    changes.push_back(std::move(an));
  }

  // TOOMANY: new entries may not push one owner's count past the bound.
  auto stored = co_await blocking([&] { return store_.annotations(internal); });
  if (!stored) co_return error_reply(stored.error(), "SETMETADATA");
  std::map<std::string, std::set<std::string>> have;  // userid -> entries
  for (const auto& an : *stored) have[an.userid].insert(an.entry);
  for (const auto& c : changes) {
    if (c.value.empty()) have[c.userid].erase(c.entry);
    else have[c.userid].insert(c.entry);
    if (have[c.userid].size() > kMaxMetadataEntries)
      co_return Reply::no("Too many metadata entries (at most " +
                              std::to_string(kMaxMetadataEntries) + ")",
                          ResponseCode::metadata_too_many());
  }

  for (const auto& c : changes) {
    auto st = co_await blocking([&] { return store_.set_annotation(c); });
    if (!st) co_return error_reply(st.error(), "SETMETADATA");
  }
  co_return Reply::ok("Setmetadata completed");
}

}  // namespace cyr::imapd
