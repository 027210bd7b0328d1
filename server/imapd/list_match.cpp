#include "server/imapd/list_match.h"

#include "server/imap/parser_args.h"

namespace cyr::imapd {

std::string list_full_pattern(std::string_view reference, std::string_view pattern) {
  std::string full(reference);
  full += pattern;
  if (full.size() >= 5 && imap::iequals(full.substr(0, 5), "INBOX") &&
      (full.size() == 5 || full[5] == '/' || full[5] == '.' || full[5] == '*' || full[5] == '%'))
    full.replace(0, 5, "INBOX");
  return full;
}

}  // namespace cyr::imapd
