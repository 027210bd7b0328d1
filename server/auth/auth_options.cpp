// AuthOptions from imapd.conf. Kept apart from authenticator.cpp so that code
// which builds AuthOptions by hand (tests, tools) does not need the config
// module.
#include <algorithm>
#include <charconv>

#include "server/auth/authenticator.h"
#include "store/config/imapd_conf.h"

namespace cyr::auth {
namespace {

using config::ImapdConf;

// The raw value of an option that may be missing from the option table (the
// sasl_* options are passed through to the SASL layer in Cyrus, and the table
// lists only some of them). "<service>_<key>" wins over "<key>".
std::string raw_value(const ImapdConf& conf, std::string_view key, std::string_view service) {
  if (config::find_option(key)) return conf.get_string(key, service);
  const ImapdConf::Entry* e = conf.find_entry(key, service);
  return e ? e->value : std::string();
}

std::vector<std::string> split_list(std::string_view s) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == ',')) ++i;
    size_t j = i;
    while (j < s.size() && s[j] != ' ' && s[j] != '\t' && s[j] != ',') ++j;
    if (j > i) out.emplace_back(s.substr(i, j - i));
    i = j;
  }
  return out;
}

Error bad_option(const std::string& what) {
  return Error(Errc::Invalid, "Invalid authentication configuration", "imapd.conf: " + what);
}

}  // namespace

Result<AuthOptions> auth_options_from_config(const ImapdConf& conf, std::string_view config_service,
                                             std::string_view sasl_service) {
  AuthOptions o;
  o.sasl_service = std::string(sasl_service);

  std::string methods = raw_value(conf, "sasl_pwcheck_method", config_service);
  if (!methods.empty()) {
    o.pwcheck.clear();
    for (const auto& m : split_list(methods)) {
      if (m == "auxprop") o.pwcheck.push_back(PwcheckMethod::Auxprop);
      else if (m == "saslauthd") o.pwcheck.push_back(PwcheckMethod::Saslauthd);
      else return bad_option("sasl_pwcheck_method: unsupported method '" + m + "' (auxprop, saslauthd)");
    }
  }

  std::string confdir = conf.get_string("configdirectory");
  if (!confdir.empty()) o.user_db_path = std::filesystem::path(confdir) / kUserDbFileName;
  // The same default as config::Paths (cyr_deny writes where this reads).
  std::string deny_path = conf.get_string("userdeny_db_path");
  if (!deny_path.empty()) o.userdeny_db_path = deny_path;
  else if (!confdir.empty()) o.userdeny_db_path = std::filesystem::path(confdir) / "user_deny.db";
  o.deny_service = std::string(config_service);
  o.deny_exempts_admins = sasl_service == "imap";

  std::string sock = raw_value(conf, "sasl_saslauthd_path", config_service);
  if (!sock.empty()) o.saslauthd_path = sock;

  auto supported = supported_mechanisms();
  for (const auto& m : split_list(raw_value(conf, "sasl_mech_list", config_service))) {
    std::string upper = m;
    for (char& c : upper)
      if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
    // Cyrus lists mechanisms the SASL library may lack (CRAM-MD5, GSSAPI);
    // those are simply not offered, as with a missing plugin.
    if (std::find(supported.begin(), supported.end(), upper) != supported.end()) o.mech_list.push_back(upper);
  }
  // Every listed mechanism unavailable: offering nothing would lock all users
  // out, which is a configuration error to report, not to obey.
  if (o.mech_list.empty() && !split_list(raw_value(conf, "sasl_mech_list", config_service)).empty())
    return bad_option("sasl_mech_list: none of the listed mechanisms is supported (SCRAM-SHA-256 PLAIN LOGIN)");

  o.allow_plaintext = conf.get_switch("allowplaintext", config_service);
  o.tls_required = conf.get_switch("tls_required", config_service);
  o.admins = split_list(conf.get_string("admins", config_service));
  o.username_tolower = conf.get_switch("username_tolower", config_service);
  o.failed_login_pause = std::chrono::duration_cast<std::chrono::milliseconds>(
      conf.get_duration("failedloginpause", config_service));

  std::string iters = raw_value(conf, "sasl_scram_iteration_counter", config_service);
  if (!iters.empty()) {
    uint32_t v = 0;
    auto [p, ec] = std::from_chars(iters.data(), iters.data() + iters.size(), v);
    if (ec != std::errc() || p != iters.data() + iters.size() || v < kMinIterations || v > kMaxIterations)
      return bad_option("sasl_scram_iteration_counter: not an integer in 1..10000000: '" + iters + "'");
    o.iterations = v;
  }
  return o;
}

}  // namespace cyr::auth
