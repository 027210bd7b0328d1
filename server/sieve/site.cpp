// Which extensions scripts may require at a site (imapd.conf sieve_extensions).
#include <algorithm>
#include <map>
#include <set>

#include "server/sieve/sieve.h"
#include "store/base/ascii.h"
#include "store/config/imapd_conf.h"

namespace cyr::sieve {

std::vector<std::string> site_extensions(const std::vector<std::string>& implemented,
                                         const std::vector<std::string>& switchable,
                                         const std::vector<std::string>& enabled) {
  // The sieve_extensions names that stand for other "require" names (as
  // Cyrus reads them); every other name stands for itself.
  static const std::map<std::string, std::vector<std::string>, std::less<>> kStandsFor = {
      {"imapflags", {"imap4flags"}},
      {"notify", {"enotify", "notify"}},
      {"reject", {"reject", "ereject"}},
      {"snooze", {"snooze", "vnd.cyrus.snooze"}},
      {"vnd.cyrus.snooze", {"snooze", "vnd.cyrus.snooze"}},
      {"x-cyrus-snooze", {"snooze", "vnd.cyrus.snooze"}},
      {"x-cyrus-log", {"vnd.cyrus.log"}},
      {"x-cyrus-jmapquery", {"vnd.cyrus.jmapquery"}},
  };
  auto expand = [](const std::vector<std::string>& names) {
    std::set<std::string, std::less<>> out;
    for (const auto& n : names) {
      std::string l = ascii_lower(n);
      if (auto it = kStandsFor.find(l); it != kStandsFor.end()) out.insert(it->second.begin(), it->second.end());
      out.insert(std::move(l));
    }
    return out;
  };
  const auto gated = expand(switchable);
  const auto on = expand(enabled);
  std::vector<std::string> out;
  for (const auto& e : implemented)
    if (!gated.contains(e) || on.contains(e)) out.push_back(e);
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

std::vector<std::string> configured_extensions(const config::ImapdConf& conf, std::string_view service) {
  std::vector<std::string> switchable;
  if (const config::OptionSpec* spec = config::find_option("sieve_extensions"))
    for (auto name : spec->allowed) switchable.emplace_back(name);
  return site_extensions(supported_extensions(), switchable, conf.get_list("sieve_extensions", service));
}

}  // namespace cyr::sieve
