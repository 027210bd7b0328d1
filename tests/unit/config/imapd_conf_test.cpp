// imapd.conf parser: typed values, diagnostics with file and line, service
// overrides, durations, partitions, bounds and garbage input.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "store/config/imapd_conf.h"

namespace cyr::config {
namespace {

using Sev = Diagnostic::Severity;

const char kBase[] =
    "configdirectory: /var/lib/cyrus\n"
    "partition-default: /var/spool/cyrus/mail\n";

ImapdConf must_parse(const std::string& text, std::vector<Diagnostic>* diags = nullptr) {
  auto r = ImapdConf::parse(text, "imapd.conf", diags);
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().describe());
  return r.ok() ? std::move(r).value() : ImapdConf::parse_lenient("", "x", nullptr);
}

const Diagnostic* find_diag(const std::vector<Diagnostic>& d, std::string_view option) {
  for (const auto& x : d)
    if (x.option == option) return &x;
  return nullptr;
}

int count(const std::vector<Diagnostic>& d, Sev s) {
  return static_cast<int>(std::count_if(d.begin(), d.end(), [&](auto& x) { return x.severity == s; }));
}

TEST(ImapdConf, ParsesKeysCaseInsensitivelyAndTrimsValues) {
  std::vector<Diagnostic> d;
  auto c = must_parse(std::string(kBase) +
                          "# a comment\n"
                          "\n"
                          "   ServerName  :   mail.example.org   \n"
                          "ADMINS: cyrus  admin\t\n",
                      &d);
  EXPECT_EQ(c.get_string("servername"), "mail.example.org");
  EXPECT_EQ(c.get_list("admins"), (std::vector<std::string>{"cyrus", "admin"}));
  EXPECT_TRUE(d.empty()) << d.front().to_string();
  ASSERT_EQ(c.entries().size(), 4u);
  EXPECT_EQ(c.entries()[2].key, "servername");
  EXPECT_EQ(c.entries()[2].line, 5);
}

TEST(ImapdConf, ValueMayContainColons) {
  auto c = must_parse(std::string(kBase) + "sync_host: [::1]:2005\n");
  EXPECT_EQ(c.get_string("sync_host"), "[::1]:2005");
}

TEST(ImapdConf, UnsetOptionsGiveTableDefaults) {
  auto c = must_parse(kBase);
  EXPECT_EQ(c.get_duration("timeout"), std::chrono::minutes(32));
  EXPECT_EQ(c.get_duration("poptimeout"), std::chrono::minutes(10));
  EXPECT_EQ(c.get_int("maxquoted"), 131072);
  EXPECT_EQ(c.get_int("quotawarn"), 90);
  EXPECT_TRUE(c.get_switch("altnamespace"));
  EXPECT_TRUE(c.get_switch("unixhierarchysep"));
  EXPECT_FALSE(c.get_switch("allowplaintext"));
  EXPECT_EQ(c.get_string("expunge_mode"), "delayed");
  EXPECT_EQ(c.get_string("virtdomains"), "off");
  EXPECT_EQ(c.get_string("defaultacl"), "anyone lrs");
  EXPECT_FALSE(c.is_set("timeout"));
  EXPECT_TRUE(c.is_set("configdirectory"));
}

TEST(ImapdConf, DefaultsRelativeToConfigdirectoryAreExpanded) {
  auto c = must_parse(kBase);
  EXPECT_EQ(c.get_string("lmtpsocket"), "/var/lib/cyrus/socket/lmtp");
  EXPECT_EQ(c.get_string("idlesocket"), "/var/lib/cyrus/socket/idle");
  EXPECT_EQ(c.get_string("notifysocket"), "/var/lib/cyrus/socket/notify");
  auto c2 = must_parse(std::string(kBase) + "lmtpsocket: {configdirectory}/sock/lmtp\n");
  EXPECT_EQ(c2.get_string("lmtpsocket"), "/var/lib/cyrus/sock/lmtp");
}

TEST(ImapdConf, TypedValues) {
  auto c = must_parse(std::string(kBase) +
                      "maxmessagesize: 1048576\n"
                      "autocreate_quota: -1\n"
                      "allowplaintext: On\n"
                      "reject8bit: t\n"
                      "munge8bit: 0\n"
                      "expunge_mode: Immediate\n"
                      "metapartition_files: index HEADER cache\n"
                      "virtdomains: yes\n"
                      "tls_versions: tls1_2 tls1_3\n");
  EXPECT_EQ(c.get_int("maxmessagesize"), 1048576);
  EXPECT_EQ(c.get_int("autocreate_quota"), -1);
  EXPECT_TRUE(c.get_switch("allowplaintext"));
  EXPECT_TRUE(c.get_switch("reject8bit"));
  EXPECT_FALSE(c.get_switch("munge8bit"));
  EXPECT_EQ(c.get_string("expunge_mode"), "immediate");
  // An enum with on/off values takes switch spellings, as old files wrote them.
  EXPECT_EQ(c.get_string("virtdomains"), "on");
  EXPECT_EQ(canonical_value(*find_option("metapartition_files"), "index HEADER cache"),
            "header index cache");
  EXPECT_EQ(c.get_list("tls_versions"), (std::vector<std::string>{"tls1_2", "tls1_3"}));
}

TEST(ImapdConf, ExpungeModeDefaultSpellingMeansDelayed) {
  auto c = must_parse(std::string(kBase) + "expunge_mode: default\n");
  EXPECT_EQ(c.get_string("expunge_mode"), "delayed");
}

struct BadValue {
  const char* line;
  const char* option;
  const char* message_part;
};

class ImapdConfBadValue : public ::testing::TestWithParam<BadValue> {};

TEST_P(ImapdConfBadValue, IsAnErrorNamingFileLineAndOption) {
  const BadValue& b = GetParam();
  std::vector<Diagnostic> d;
  std::string text = std::string(kBase) + "servername: x\n" + b.line + "\n";
  auto r = ImapdConf::parse(text, "/etc/imapd.conf", &d);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::Invalid);
  const Diagnostic* e = find_diag(d, b.option);
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->severity, Sev::Error);
  EXPECT_EQ(e->file, "/etc/imapd.conf");
  EXPECT_EQ(e->line, 4);
  EXPECT_NE(e->message.find(b.message_part), std::string::npos) << e->message;
  std::string s = e->to_string();
  EXPECT_EQ(s.rfind(std::string("/etc/imapd.conf:4: ") + b.option + ": ", 0), 0u) << s;
  // The Result's detail carries the first error, for the log.
  EXPECT_NE(r.error().detail.find(b.option), std::string::npos);
}

INSTANTIATE_TEST_SUITE_P(
    All, ImapdConfBadValue,
    ::testing::Values(BadValue{"maxmessagesize: 10MB", "maxmessagesize", "not an integer: '10MB'"},
                      BadValue{"quotawarn: ", "quotawarn", "not an integer"},
                      BadValue{"maxword: 99999999999999999999", "maxword", "not an integer"},
                      BadValue{"allowplaintext: maybe", "allowplaintext", "not a switch"},
                      BadValue{"expunge_mode: later", "expunge_mode", "not one of"},
                      BadValue{"virtdomains: sometimes", "virtdomains", "not one of"},
                      BadValue{"metapartition_files: index bogus", "metapartition_files", "'bogus'"},
                      BadValue{"timeout: 30x", "timeout", "not a duration"},
                      BadValue{"timeout: -", "timeout", "not a duration"},
                      BadValue{"imap_timeout: soon", "imap_timeout", "not a duration"},
                      BadValue{"failover_role: leader", "failover_role", "primary|replica"},
                      BadValue{"sync_mode: semisync", "sync_mode", "async|sync"}));

TEST(ImapdConf, LenientParseKeepsGoingAndReadsBadValuesAsDefaults) {
  std::vector<Diagnostic> d;
  auto c = ImapdConf::parse_lenient(std::string(kBase) + "quotawarn: lots\nservername: m\n",
                                    "imapd.conf", &d);
  EXPECT_EQ(count(d, Sev::Error), 1);
  EXPECT_EQ(c.get_int("quotawarn"), 90);
  EXPECT_EQ(c.get_string("servername"), "m");
}

TEST(ImapdConf, UnknownOptionIsAWarningNotAnError) {
  std::vector<Diagnostic> d;
  auto c = must_parse(std::string(kBase) + "frobnicate_level: 11\n", &d);
  const Diagnostic* w = find_diag(d, "frobnicate_level");
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(w->severity, Sev::Warning);
  EXPECT_EQ(w->line, 3);
  EXPECT_NE(w->message.find("unknown"), std::string::npos);
  EXPECT_EQ(c.entries().back().value, "11");
}

TEST(ImapdConf, SaslOptionsAreNotReportedUnknown) {
  std::vector<Diagnostic> d;
  must_parse(std::string(kBase) + "sasl_some_plugin_option: x\nimap_sasl_other: y\n", &d);
  EXPECT_TRUE(d.empty()) << d.front().to_string();
}

TEST(ImapdConf, LineWithoutColonIsAnError) {
  std::vector<Diagnostic> d;
  auto r = ImapdConf::parse(std::string(kBase) + "servername mail\n", "imapd.conf", &d);
  ASSERT_FALSE(r.ok());
  ASSERT_EQ(count(d, Sev::Error), 1);
  EXPECT_EQ(d[0].line, 3);
  EXPECT_NE(d[0].message.find("no ':'"), std::string::npos);
}

TEST(ImapdConf, InvalidOptionNamesAreErrors) {
  for (const char* line : {": value", "bad key: v", "k\x01y: v", "@include: other.conf", "a.b: c"}) {
    std::vector<Diagnostic> d;
    auto r = ImapdConf::parse(std::string(kBase) + line + "\n", "imapd.conf", &d);
    EXPECT_FALSE(r.ok()) << line;
    EXPECT_EQ(count(d, Sev::Error), 1) << line;
  }
}

TEST(ImapdConf, DuplicateKeyLastWinsWithAWarning) {
  std::vector<Diagnostic> d;
  auto c = must_parse(std::string(kBase) + "servername: one\nServerName: two\n", &d);
  EXPECT_EQ(c.get_string("servername"), "two");
  const Diagnostic* w = find_diag(d, "servername");
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(w->severity, Sev::Warning);
  EXPECT_EQ(w->line, 4);
  EXPECT_NE(w->message.find("first on line 3"), std::string::npos);
}

TEST(ImapdConf, ServiceOverrideWinsForThatServiceOnly) {
  std::vector<Diagnostic> d;
  auto c = must_parse(std::string(kBase) +
                          "imaps_timeout: 45\n"  // before the global one: order does not matter
                          "timeout: 40m\n"
                          "pop3_allowplaintext: yes\n"
                          "lmtp_tls_server_cert: /etc/lmtp.pem\n",
                      &d);
  EXPECT_TRUE(d.empty()) << d.front().to_string();
  EXPECT_EQ(c.get_duration("timeout"), std::chrono::minutes(40));
  EXPECT_EQ(c.get_duration("timeout", "imap"), std::chrono::minutes(40));
  EXPECT_EQ(c.get_duration("timeout", "imaps"), std::chrono::minutes(45));
  EXPECT_TRUE(c.get_switch("allowplaintext", "pop3"));
  EXPECT_FALSE(c.get_switch("allowplaintext", "imap"));
  EXPECT_FALSE(c.get_switch("allowplaintext"));
  EXPECT_EQ(c.get_string("tls_server_cert", "lmtp"), "/etc/lmtp.pem");
  EXPECT_EQ(c.get_string("tls_server_cert", "imap"), "");
  EXPECT_TRUE(c.is_set("tls_server_cert", "lmtp"));
  EXPECT_FALSE(c.is_set("tls_server_cert"));
}

TEST(ImapdConf, ServicePrefixedKnownOptionIsNotUnknownAndIsTypeChecked) {
  KeyClass k = classify_key("imap_timeout");
  EXPECT_EQ(k.kind, KeyClass::Kind::ServiceOption);
  EXPECT_EQ(k.prefix, "imap");
  ASSERT_NE(k.spec, nullptr);
  EXPECT_EQ(k.spec->name, "timeout");
  // An option whose own name has an underscore is itself, not an override.
  EXPECT_EQ(classify_key("lmtp_downcase_rcpt").kind, KeyClass::Kind::Option);
  EXPECT_EQ(classify_key("sieve_maxscripts").kind, KeyClass::Kind::Option);
  KeyClass k2 = classify_key("lmtpunix_lmtp_downcase_rcpt");
  EXPECT_EQ(k2.kind, KeyClass::Kind::ServiceOption);
  EXPECT_EQ(k2.prefix, "lmtpunix");
  EXPECT_EQ(classify_key("imap_nosuchoption").kind, KeyClass::Kind::Unknown);

  std::vector<Diagnostic> d;
  auto r = ImapdConf::parse(std::string(kBase) + "pop3_poptimeout: never\n", "imapd.conf", &d);
  EXPECT_FALSE(r.ok());
  ASSERT_NE(find_diag(d, "pop3_poptimeout"), nullptr);
}

TEST(ImapdConf, DeprecatedOptionIsHonouredWithAWarning) {
  std::vector<Diagnostic> d;
  auto c = must_parse(std::string(kBase) + "tls_cert_file: /etc/old.pem\nautocreatequota: 1000\n", &d);
  EXPECT_EQ(c.get_string("tls_server_cert"), "/etc/old.pem");
  EXPECT_EQ(c.get_int("autocreate_quota"), 1000);
  const Diagnostic* w = find_diag(d, "tls_cert_file");
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(w->severity, Sev::Warning);
  EXPECT_NE(w->message.find("use tls_server_cert"), std::string::npos);
  // The current name wins over the deprecated one, wherever it is written.
  auto c2 = must_parse(std::string(kBase) + "tls_server_cert: /new.pem\ntls_cert_file: /old.pem\n");
  EXPECT_EQ(c2.get_string("tls_server_cert"), "/new.pem");
  // A deprecated name in a service override is honoured for that service.
  auto c3 = must_parse(std::string(kBase) + "imap_tls_cert_file: /imap.pem\n");
  EXPECT_EQ(c3.get_string("tls_server_cert", "imap"), "/imap.pem");
}

TEST(ImapdConf, UnsupportedOptionWarnsOnlyWhenItWouldChangeSomething) {
  std::vector<Diagnostic> d;
  must_parse(std::string(kBase) + "conversations: no\nmupdate_port: 3905\n", &d);
  EXPECT_TRUE(d.empty()) << d.front().to_string();
  must_parse(std::string(kBase) + "conversations: yes\n", &d);
  const Diagnostic* w = find_diag(d, "conversations");
  ASSERT_NE(w, nullptr);
  EXPECT_NE(w->message.find("not supported"), std::string::npos);
}

TEST(ImapdConf, ObsoleteOptionWarns) {
  std::vector<Diagnostic> d;
  auto c = must_parse(std::string(kBase) + "flushseenstate: yes\ntls_pop3_cert_file: disabled\n", &d);
  ASSERT_NE(find_diag(d, "flushseenstate"), nullptr);
  const Diagnostic* w = find_diag(d, "tls_pop3_cert_file");
  ASSERT_NE(w, nullptr);
  EXPECT_NE(w->message.find("pop3_tls_server_cert"), std::string::npos);
}

TEST(ImapdConf, MinimumsClampWithAWarning) {
  std::vector<Diagnostic> d;
  auto c = must_parse(std::string(kBase) + "timeout: 5\npoptimeout: 1m\nsync_timeout: 1\n", &d);
  EXPECT_EQ(c.get_duration("timeout"), std::chrono::minutes(30));
  EXPECT_EQ(c.get_duration("poptimeout"), std::chrono::minutes(10));
  EXPECT_EQ(c.get_duration("sync_timeout"), std::chrono::seconds(3));
  const Diagnostic* w = find_diag(d, "timeout");
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(w->severity, Sev::Warning);
  EXPECT_NE(w->message.find("30m"), std::string::npos) << w->message;
  auto c2 = must_parse(std::string(kBase) + "tls_session_timeout: 2d\n");
  EXPECT_EQ(c2.get_duration("tls_session_timeout"), std::chrono::hours(24));
}

TEST(ImapdConf, DurationsUseTheOptionsDefaultUnit) {
  auto c = must_parse(std::string(kBase) +
                      "timeout: 45\n"              // minutes
                      "imapidlepoll: 30\n"         // seconds
                      "popexpiretime: 2\n"         // days
                      "sync_repeat_interval: 1m30s\n");
  EXPECT_EQ(c.get_duration("timeout"), std::chrono::minutes(45));
  EXPECT_EQ(c.get_duration("imapidlepoll"), std::chrono::seconds(30));
  EXPECT_EQ(c.get_duration("popexpiretime"), std::chrono::hours(48));
  EXPECT_EQ(c.get_duration("sync_repeat_interval"), std::chrono::seconds(90));
  EXPECT_EQ(c.get_duration("popexpiretime", "pop3"), std::chrono::hours(48));
  auto d = must_parse(kBase);
  EXPECT_EQ(d.get_duration("popexpiretime"), std::chrono::hours(-24));  // "-1" days: never
  EXPECT_EQ(d.get_duration("popminpoll"), std::chrono::seconds(0));      // unset, no default
}

TEST(ParseDuration, Forms) {
  using std::chrono::seconds;
  EXPECT_EQ(parse_duration("30", 'm'), seconds(1800));
  EXPECT_EQ(parse_duration("30", 's'), seconds(30));
  EXPECT_EQ(parse_duration("30", 0), seconds(30));
  EXPECT_EQ(parse_duration("30m", 's'), seconds(1800));
  EXPECT_EQ(parse_duration("1h30m", 's'), seconds(5400));
  EXPECT_EQ(parse_duration("1d2h3m4s", 's'), seconds(86400 + 7200 + 180 + 4));
  EXPECT_EQ(parse_duration("1H", 's'), seconds(3600));
  EXPECT_EQ(parse_duration("2m30", 's'), seconds(150));  // a trailing bare number takes the unit
  EXPECT_EQ(parse_duration("-1", 'd'), seconds(-86400));
  EXPECT_EQ(parse_duration("0", 'm'), seconds(0));
  for (const char* bad : {"", "-", "m", "30x", "1.5h", " 30", "30 m", "1h-5m", "+5",
                          "9999999999999d", "99999999999999999999"})
    EXPECT_FALSE(parse_duration(bad, 's').has_value()) << bad;
  EXPECT_EQ(format_duration(5400), "1h30m");
  EXPECT_EQ(format_duration(0), "0s");
  EXPECT_EQ(format_duration(-86400), "-1d");
}

TEST(ParseSwitch, Spellings) {
  for (const char* on : {"yes", "YES", "y", "on", "t", "true", "True", "1"})
    EXPECT_EQ(parse_switch(on), true) << on;
  for (const char* off : {"no", "n", "off", "OFF", "f", "false", "0"})
    EXPECT_EQ(parse_switch(off), false) << off;
  for (const char* bad : {"", "2", "yess", "enable", "nope", "o"})
    EXPECT_FALSE(parse_switch(bad).has_value()) << bad;
}

TEST(ImapdConf, Partitions) {
  std::vector<Diagnostic> d;
  auto c = must_parse(
      "configdirectory: /var/lib/cyrus\n"
      "defaultpartition: main\n"
      "partition-main: /srv/mail/main\n"
      "partition-Archive2: /srv/mail/a2\n"
      "metapartition-main: /ssd/meta/main\n"
      "metapartition_files: header index cache\n",
      &d);
  EXPECT_TRUE(d.empty()) << d.front().to_string();
  ASSERT_EQ(c.partitions().size(), 2u);
  EXPECT_EQ(c.partitions().at("main"), "/srv/mail/main");
  EXPECT_EQ(c.partitions().at("archive2"), "/srv/mail/a2");  // keys are case-insensitive
  ASSERT_EQ(c.metapartitions().size(), 1u);
  EXPECT_EQ(c.metapartitions().at("main"), "/ssd/meta/main");
}

TEST(ImapdConf, PartitionProblems) {
  std::vector<Diagnostic> d;
  EXPECT_FALSE(ImapdConf::parse("partition-x: relative/path\n", "f", &d).ok());
  d.clear();
  EXPECT_FALSE(ImapdConf::parse("partition-x:\n", "f", &d).ok());
  d.clear();
  // partition- with no name is not a partition: an unknown key.
  auto c = must_parse(std::string(kBase) + "partition-: /x\nmetapartition-other: /m\n", &d);
  ASSERT_NE(find_diag(d, "partition-"), nullptr);
  const Diagnostic* w = find_diag(d, "metapartition-other");
  ASSERT_NE(w, nullptr);
  EXPECT_NE(w->message.find("no partition-other"), std::string::npos);
}

TEST(ImapdConf, OtherCyrusPatterns) {
  std::vector<Diagnostic> d;
  must_parse(std::string(kBase) + "xlist-junk: Spam\n", &d);
  EXPECT_TRUE(d.empty());
  must_parse(std::string(kBase) + "archivepartition-default: /arch\n", &d);
  ASSERT_NE(find_diag(d, "archivepartition-default"), nullptr);
  EXPECT_EQ(classify_key("tier1searchpartition-default").kind, KeyClass::Kind::OtherPattern);
}

TEST(ImapdConf, ContinuationLinesAndCrlf) {
  auto c = must_parse(std::string(kBase) +
                      "admins: alice \\\n"
                      " bob \\\n"
                      "carol\r\n"
                      "servername: m\r\n");
  EXPECT_EQ(c.get_list("admins"), (std::vector<std::string>{"alice", "bob", "carol"}));
  EXPECT_EQ(c.get_string("servername"), "m");
  EXPECT_EQ(c.entries()[3].line, 6);  // after the three physical lines of admins
}

TEST(ImapdConf, OverlongLineIsAnErrorAndTheRestIsRead) {
  std::string text = std::string(kBase) + "admins: " + std::string(ImapdConf::kMaxLineLength, 'a') +
                     "\nservername: m\n";
  std::vector<Diagnostic> d;
  auto r = ImapdConf::parse(text, "imapd.conf", &d);
  ASSERT_FALSE(r.ok());
  ASSERT_EQ(count(d, Sev::Error), 1);
  EXPECT_EQ(d[0].line, 3);
  EXPECT_NE(d[0].message.find("longer than"), std::string::npos);
  auto c = ImapdConf::parse_lenient(text, "imapd.conf", nullptr);
  EXPECT_EQ(c.get_string("servername"), "m");
  EXPECT_FALSE(c.is_set("admins"));
  // A line of exactly the maximum is accepted.
  std::string key = "admins: ";
  std::string ok_text = key + std::string(ImapdConf::kMaxLineLength - key.size(), 'b') + "\n";
  EXPECT_TRUE(ImapdConf::parse(ok_text, "f", nullptr).ok());
}

TEST(ImapdConf, ContinuationCannotBuildAnOverlongLine) {
  std::string chunk = std::string(40000, 'x') + "\\\n";
  std::vector<Diagnostic> d;
  auto r = ImapdConf::parse("admins: " + chunk + chunk + "y\n", "imapd.conf", &d);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(d[0].line, 1);
}

TEST(ImapdConf, TooManyLinesIsAnError) {
  std::string text;
  text.reserve(ImapdConf::kMaxLines * 2 + 10);
  for (size_t i = 0; i < ImapdConf::kMaxLines + 5; ++i) text += "#\n";
  std::vector<Diagnostic> d;
  auto r = ImapdConf::parse(text, "imapd.conf", &d);
  ASSERT_FALSE(r.ok());
  ASSERT_EQ(count(d, Sev::Error), 1);
  EXPECT_EQ(d[0].line, static_cast<int>(ImapdConf::kMaxLines) + 1);
  std::string exact;
  for (size_t i = 0; i < ImapdConf::kMaxLines; ++i) exact += "#\n";
  EXPECT_TRUE(ImapdConf::parse(exact, "f", nullptr).ok());
}

TEST(ImapdConf, RandomBytesNeverCrashAndErrorsMatchTheResult) {
  std::mt19937 rng(20261123);
  int failures = 0;
  for (int iter = 0; iter < 3000; ++iter) {
    std::string text(rng() % 2048, '\0');
    // Mix printable structure in, so that many inputs get past the first checks.
    static const char kAlphabet[] = "abcdefgimnoprstuy_-:#\\ \t\r\n01239{}=\"'";
    for (char& ch : text)
      ch = (rng() % 3 == 0) ? static_cast<char>(rng() % 256)
                            : kAlphabet[rng() % (sizeof(kAlphabet) - 1)];
    std::vector<Diagnostic> d;
    auto r = ImapdConf::parse(text, "fuzz.conf", &d);
    bool has_error = count(d, Sev::Error) > 0;
    ASSERT_EQ(r.ok(), !has_error) << "iteration " << iter;
    if (!r.ok()) ++failures;
    for (const auto& diag : d) {
      ASSERT_EQ(diag.file, "fuzz.conf");
      ASSERT_GE(diag.line, 0);
      // Messages quote input safely: no raw control bytes reach a terminal.
      for (char ch : diag.to_string())
        ASSERT_FALSE(static_cast<unsigned char>(ch) < 0x20) << "iteration " << iter;
    }
    if (r.ok()) {
      // Whatever was accepted can be read back through every typed getter.
      for (const auto& spec : all_options()) {
        (void)r->get_string(spec.name, "imap");
        if (spec.type == OptionType::Int) (void)r->get_int(spec.name);
        if (spec.type == OptionType::Duration) (void)r->get_duration(spec.name);
        if (spec.type == OptionType::Switch) (void)r->get_switch(spec.name);
      }
    }
  }
  EXPECT_GT(failures, 100);  // the generator does produce bad input
}

TEST(Diagnostic, Format) {
  Diagnostic e{Sev::Error, "imapd.conf", 12, "timeout", "not an integer: 'x'"};
  EXPECT_EQ(e.to_string(), "imapd.conf:12: timeout: not an integer: 'x'");
  Diagnostic w{Sev::Warning, "/etc/imapd.conf", 3, "bogus", "unknown option; ignored"};
  EXPECT_EQ(w.to_string(), "/etc/imapd.conf:3: warning: bogus: unknown option; ignored");
  Diagnostic n{Sev::Error, "c.conf", 0, "", "configdirectory is not set"};
  EXPECT_EQ(n.to_string(), "c.conf: configdirectory is not set");
}

}  // namespace
}  // namespace cyr::config
