// METADATA entry names and responses. See metadata.h.
#include "server/imapd/metadata.h"

#include <algorithm>

#include "store/base/ascii.h"

namespace cyr::imapd {

Result<MetadataEntry> parse_metadata_entry(std::string_view entry, bool allow_prefix) {
  if (entry.empty()) return Error(Errc::Invalid, "Empty metadata entry");
  if (entry.size() > kMaxMetadataEntryLength) return Error(Errc::Invalid, "Metadata entry too long");
  for (unsigned char c : entry) {
    if (c <= 0x20 || c >= 0x7f) return Error(Errc::Invalid, "Invalid character in metadata entry");
    if (c == '*' || c == '%') return Error(Errc::Invalid, "Wildcards are not allowed in metadata entries");
  }
  if (entry.front() != '/') return Error(Errc::Invalid, "Metadata entries start with /private or /shared");
  if (entry.back() == '/') return Error(Errc::Invalid, "Metadata entries do not end with '/'");
  if (entry.find("//") != std::string_view::npos)
    return Error(Errc::Invalid, "Empty component in metadata entry");
  std::string l = ascii_lower(entry);
  MetadataEntry out;
  std::string_view rest;
  if (l.rfind("/shared", 0) == 0 && (l.size() == 7 || l[7] == '/')) {
    out.shared = true;
    rest = std::string_view(l).substr(7);
  } else if (l.rfind("/private", 0) == 0 && (l.size() == 8 || l[8] == '/')) {
    rest = std::string_view(l).substr(8);
  } else {
    return Error(Errc::Invalid, "Metadata entries start with /private or /shared");
  }
  if (rest.empty() && !allow_prefix) return Error(Errc::Invalid, "Metadata entry has no name");
  out.name = std::string(rest);
  return out;
}

bool metadata_depth_matches(std::string_view requested, std::string_view candidate,
                            std::string_view depth) {
  if (candidate == requested) return true;
  if (depth == "0") return false;
  // A descendant: requested + "/" + more.
  if (candidate.size() <= requested.size() + 1 || candidate.substr(0, requested.size()) != requested ||
      candidate[requested.size()] != '/')
    return false;
  if (depth == "infinity") return true;
  return candidate.find('/', requested.size() + 1) == std::string_view::npos;  // depth 1
}

void write_metadata_response(
    imap::ResponseWriter& w, std::string_view mailbox,
    const std::vector<std::pair<std::string, std::optional<std::string>>>& entries) {
  w.begin_untagged().atom("METADATA");
  if (mailbox.empty()) w.string("");
  else w.mailbox(mailbox);
  w.begin_list();
  for (const auto& [name, value] : entries) {
    w.astring(name);
    if (!value) w.nil();
    else if (value->find('\0') != std::string::npos) w.binary(*value);
    else w.string(*value);
  }
  w.end_list().end_line();
}

}  // namespace cyr::imapd
