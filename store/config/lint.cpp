// conf-lint checks. See lint.h.
#include "store/config/lint.h"

#include <cctype>
#include <set>

#include "store/config/paths.h"
#include "store/config/text_util.h"

namespace cyr::config {

std::vector<Diagnostic> lint_config(const ImapdConf& conf, const CyrusConf* cyrus) {
  std::vector<Diagnostic> out;
  if (cyrus) {
    std::set<std::string, std::less<>> services;
    for (const auto& e : cyrus->services) services.insert(e.name);
    std::set<std::string, std::less<>> channels;
    const std::string channel_list = conf.get_string("sync_log_channels");
    for (auto w : text::split_ws(channel_list)) channels.emplace(w);
    std::set<std::string> reported;
    for (const auto& entry : conf.entries()) {
      KeyClass kc = classify_key(entry.key);
      if (kc.prefix.empty() ||
          (kc.kind != KeyClass::Kind::ServiceOption && kc.kind != KeyClass::Kind::Sasl))
        continue;
      if (services.count(kc.prefix)) continue;
      // Cyrus applies a channel prefix to sync_* options only.
      if (kc.spec && kc.spec->name.starts_with("sync_") && channels.count(kc.prefix)) continue;
      if (!reported.insert(entry.key).second) continue;
      std::string msg = "'" + kc.prefix + "' is not a service in " + cyrus->filename;
      if (kc.spec && kc.spec->name.starts_with("sync_")) msg += " nor a channel of sync_log_channels";
      msg += "; this override applies to nothing";
      out.push_back({Diagnostic::Severity::Warning, conf.filename(), entry.line, entry.key, msg});
    }
  }
  auto paths = Paths::from_config(conf);
  if (!paths.ok()) {
    const Error& e = paths.error();
    out.push_back({Diagnostic::Severity::Error, conf.filename(), 0, {}, e.user_message});
  }
  return out;
}

std::string effective_default(const ImapdConf& conf, const OptionSpec& spec) {
  std::string raw(spec.default_value);
  constexpr std::string_view kConfDir = "{configdirectory}";
  if (raw.size() >= kConfDir.size() &&
      text::iequals(std::string_view(raw).substr(0, kConfDir.size()), kConfDir))
    raw = conf.get_string("configdirectory") + raw.substr(kConfDir.size());
  return raw;
}

bool is_secret_option(std::string_view key) {
  std::string k;
  k.reserve(key.size());
  for (char c : key) k += c == '-' ? '_' : static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  // By the end of the name, not a list: a service- or channel-prefixed
  // override ("chan1_sync_password") and options added later are covered.
  for (std::string_view end : {"password", "passwd", "secret"})
    if (k.ends_with(end)) return true;
  return false;
}

std::string shown_value(std::string_view key, std::string value) {
  if (!value.empty() && is_secret_option(key)) return "<hidden>";
  return value;
}

}  // namespace cyr::config
