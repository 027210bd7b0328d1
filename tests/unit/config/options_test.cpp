// The option table: consistency of every row, and the facts the server
// depends on (names, types, defaults, statuses).
#include <gtest/gtest.h>

#include <set>
#include <string>

#include "store/config/imapd_conf.h"

namespace cyr::config {
namespace {

TEST(OptionTable, SortedUniqueAndLarge) {
  auto opts = all_options();
  EXPECT_GE(opts.size(), 150u);
  for (size_t i = 1; i < opts.size(); ++i)
    EXPECT_LT(opts[i - 1].name, opts[i].name) << "not sorted or duplicate at " << opts[i].name;
}

TEST(OptionTable, EveryRowIsConsistent) {
  for (const auto& o : all_options()) {
    SCOPED_TRACE(std::string(o.name));
    // Names are what the parser accepts as keys: lower-case, digits, '_' and '-'.
    for (char c : o.name)
      EXPECT_TRUE((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-');
    EXPECT_EQ(find_option(o.name), &o);
    // A default must pass the option's own type check (or be unset).
    if (!o.default_value.empty()) EXPECT_FALSE(check_value(o, o.default_value).has_value());
    if (o.type == OptionType::Enum || o.type == OptionType::BitField)
      EXPECT_FALSE(o.allowed.empty());
    else
      EXPECT_TRUE(o.allowed.empty());
    if (o.type == OptionType::Duration)
      EXPECT_TRUE(o.default_unit == 's' || o.default_unit == 'm' || o.default_unit == 'h' ||
                  o.default_unit == 'd');
    if (o.status == OptionStatus::Deprecated) {
      ASSERT_FALSE(o.replaced_by.empty());
      const OptionSpec* repl = find_option(o.replaced_by);
      ASSERT_NE(repl, nullptr) << "replacement " << o.replaced_by << " is not in the table";
      EXPECT_NE(repl->status, OptionStatus::Deprecated);
      EXPECT_EQ(repl->type, o.type) << "the alias must read like its replacement";
    }
    if (o.status == OptionStatus::Current) EXPECT_FALSE(o.help.empty());
    EXPECT_LE(o.min_value, o.max_value);
  }
}

TEST(OptionTable, HasEverythingTheSeedsAndTheServerUse) {
  const char* required[] = {
      "configdirectory", "defaultpartition", "metapartition_files", "admins", "allowplaintext",
      "altnamespace", "unixhierarchysep", "virtdomains", "defaultdomain", "servername",
      "syslog_prefix", "timeout", "popminpoll", "poptimeout", "maxmessagesize", "maxquoted",
      "maxword", "maxlogins_per_user", "reject8bit", "munge8bit", "quotawarn", "quota_db",
      "lmtp_over_quota_perm_failure", "lmtp_downcase_rcpt", "lmtpsocket", "idlesocket",
      "notifysocket", "duplicatesuppression", "duplicate_db_path", "statuscache_db_path",
      "ptscache_db_path", "tls_sessions_db_path", "proc_path", "mboxname_lockpath",
      "singleinstancestore", "expunge_mode", "delete_mode", "hashimapspool", "fulldirhash",
      "defaultacl", "sasl_pwcheck_method", "sasl_mech_list", "sasl_saslauthd_path",
      "tls_server_cert", "tls_server_key", "tls_client_ca_file", "tls_client_ca_dir",
      "tls_versions", "tls_ciphers", "tls_prefer_server_ciphers", "postuser", "sync_log",
      "sync_log_channels", "sync_host", "sync_port", "sync_authname", "sync_password",
      "sync_realm", "sync_repeat_interval", "sync_shutdown_file", "sync_try_imap",
      "sync_compress", "sync_timeout", "imapidlepoll", "autocreate_inbox_folders",
      "autocreate_post", "autocreate_quota", "specialusealways", "lmtp_fuzzy_mailbox_match",
      "failover_role", "failover_peer", "failover_witness", "failover_timeout", "failover_hook",
      "failover_secret",
      "sync_mode", "conversations", "annotation_callout", "mupdate_server", "reverseacls",
      "allowanonymouslogin", "sieve_maxscriptsize", "tls_pop3_cert_file"};
  for (const char* name : required) EXPECT_NE(find_option(name), nullptr) << name;
}

struct Fact {
  const char* name;
  OptionType type;
  const char* def;
  OptionStatus status;
};

class OptionFacts : public ::testing::TestWithParam<Fact> {};

TEST_P(OptionFacts, Match) {
  const Fact& f = GetParam();
  const OptionSpec* o = find_option(f.name);
  ASSERT_NE(o, nullptr);
  EXPECT_EQ(o->type, f.type);
  EXPECT_EQ(o->default_value, f.def);
  EXPECT_EQ(o->status, f.status);
}

using OT = OptionType;
using OS = OptionStatus;
INSTANTIATE_TEST_SUITE_P(
    Cyrus3, OptionFacts,
    ::testing::Values(Fact{"timeout", OT::Duration, "32m", OS::Current},
                      Fact{"poptimeout", OT::Duration, "10m", OS::Current},
                      Fact{"imapidlepoll", OT::Duration, "60s", OS::Unsupported},
                      Fact{"sync_timeout", OT::Duration, "30m", OS::Current},
                      Fact{"sync_repeat_interval", OT::Duration, "1s", OS::Unsupported},
                      Fact{"altnamespace", OT::Switch, "yes", OS::Current},
                      Fact{"unixhierarchysep", OT::Switch, "yes", OS::Current},
                      Fact{"allowplaintext", OT::Switch, "no", OS::Current},
                      Fact{"singleinstancestore", OT::Switch, "yes", OS::Current},
                      Fact{"duplicatesuppression", OT::Switch, "yes", OS::Current},
                      Fact{"munge8bit", OT::Switch, "yes", OS::Current},
                      Fact{"lmtp_downcase_rcpt", OT::Switch, "yes", OS::Current},
                      Fact{"specialusealways", OT::Switch, "yes", OS::Current},
                      Fact{"sync_try_imap", OT::Switch, "yes", OS::Current},
                      Fact{"maxquoted", OT::Int, "131072", OS::Unsupported},
                      Fact{"maxword", OT::Int, "131072", OS::Current},
                      Fact{"quotawarn", OT::Int, "90", OS::Current},
                      Fact{"expunge_mode", OT::Enum, "delayed", OS::Current},
                      Fact{"delete_mode", OT::Enum, "delayed", OS::Unsupported},
                      Fact{"virtdomains", OT::Enum, "off", OS::Current},
                      Fact{"defaultdomain", OT::String, "internal", OS::Current},
                      Fact{"defaultacl", OT::String, "anyone lrs", OS::Current},
                      Fact{"lmtpsocket", OT::String, "{configdirectory}/socket/lmtp", OS::Current},
                      Fact{"tls_ciphers", OT::String, "DEFAULT", OS::Current},
                      Fact{"failover_role", OT::Enum, "", OS::Current},
                      Fact{"sync_mode", OT::Enum, "async", OS::Current},
                      Fact{"conversations", OT::Switch, "no", OS::Unsupported},
                      Fact{"mupdate_server", OT::String, "", OS::Unsupported},
                      Fact{"annotation_callout", OT::String, "", OS::Unsupported},
                      Fact{"sync_compress", OT::Switch, "no", OS::Current},
                      Fact{"tls_cert_file", OT::String, "", OS::Deprecated},
                      Fact{"createonpost", OT::Switch, "no", OS::Deprecated}));

TEST(OptionTable, DeprecatedAliases) {
  auto a = deprecated_aliases_of("tls_server_cert");
  ASSERT_EQ(a.size(), 1u);
  EXPECT_EQ(a[0]->name, "tls_cert_file");
  EXPECT_TRUE(deprecated_aliases_of("timeout").empty());
}

TEST(OptionTable, EnumValues) {
  const OptionSpec* e = find_option("expunge_mode");
  std::set<std::string_view> v(e->allowed.begin(), e->allowed.end());
  EXPECT_EQ(v, (std::set<std::string_view>{"default", "immediate", "semidelayed", "delayed"}));
  const OptionSpec* r = find_option("failover_role");
  std::set<std::string_view> roles(r->allowed.begin(), r->allowed.end());
  EXPECT_EQ(roles, (std::set<std::string_view>{"primary", "replica"}));
}

TEST(CheckValue, ByType) {
  EXPECT_FALSE(check_value(*find_option("maxword"), "-5"));
  EXPECT_TRUE(check_value(*find_option("maxword"), "5k"));
  EXPECT_FALSE(check_value(*find_option("tls_versions"), "TLS1_2 tls1_3"));
  EXPECT_TRUE(check_value(*find_option("tls_versions"), "tls1_2 tls9"));
  EXPECT_FALSE(check_value(*find_option("metapartition_files"), ""));
  EXPECT_FALSE(check_value(*find_option("servername"), "anything at all"));
  EXPECT_EQ(canonical_value(*find_option("timeout"), "1h"), "3600");
  EXPECT_EQ(canonical_value(*find_option("allowplaintext"), "ON"), "yes");
  EXPECT_EQ(canonical_value(*find_option("maxword"), "+007"), "7");
}

}  // namespace
}  // namespace cyr::config
