// cyrus.conf parser: a Debian-style file, each key's checks, bounds, garbage.
#include <gtest/gtest.h>

#include <random>
#include <string>

#include "store/config/cyrus_conf.h"

namespace cyr::config {
namespace {

using Sev = Diagnostic::Severity;

// Laid out like the cyrus.conf Debian ships: tabs, comments, commented-out
// entries, absolute and relative commands, named and numeric listeners.
const char kDebianStyle[] = R"(# cyrus.conf: what master runs
# (comments and blank lines are ignored)

START {
	# do not delete this entry!
	recover		cmd="/usr/sbin/cyrus ctl_cyrusdb -r"

	# only needed with idlesocket
	#idled		cmd="idled"
}

# UNIX sockets start with a slash and are put into /run/cyrus/socket
SERVICES {
	# add or remove based on preferences
	imap		cmd="imapd -U 30" listen="imap" prefork=0 maxchild=100
	#imaps		cmd="imapd -s -U 30" listen="imaps" prefork=0 maxchild=100
	pop3		cmd="pop3d -U 30" listen="pop3" prefork=0 maxchild=50
	#nntp		cmd="nntpd -U 30" listen="nntp" prefork=0 maxchild=100

	# At least one form of LMTP is required for delivery
	lmtpunix	cmd="lmtpd" listen="/run/cyrus/socket/lmtp" prefork=0 maxchild=20
	lmtp		cmd="lmtpd -a" listen="localhost:lmtp" proto="tcp4" prefork=0 maxchild=20

	sieve		cmd="timsieved" listen="localhost:sieve" prefork=0 maxchild=100
	notify		cmd="notifyd" listen="/run/cyrus/socket/notify" proto="udp" prefork=1
	csync		cmd="sync_server" listen="[::1]:2005" babysit=true maxfds=1024 maxforkrate=10
}

EVENTS {
	# this is required
	checkpoint	cmd="/usr/sbin/cyrus ctl_cyrusdb -c" period=30

	# this is only necessary if using duplicate delivery suppression
	delprune	cmd="/usr/sbin/cyrus expire -E 3" at=0400

	# this is only necessary if caching TLS sessions
	tlsprune	cmd="/usr/sbin/cyrus tls_prune" at=400
}

DAEMON {
	idled		cmd="idled" wait=n
}
)";

TEST(CyrusConf, ParsesADebianStyleFile) {
  std::vector<Diagnostic> d;
  auto r = CyrusConf::parse(kDebianStyle, "/etc/cyrus.conf", &d);
  ASSERT_TRUE(r.ok()) << r.error().describe();
  EXPECT_TRUE(d.empty()) << d.front().to_string();
  const CyrusConf& c = *r;
  EXPECT_EQ(c.filename, "/etc/cyrus.conf");

  ASSERT_EQ(c.start.size(), 1u);
  EXPECT_EQ(c.start[0].name, "recover");
  EXPECT_EQ(c.start[0].argv, (std::vector<std::string>{"/usr/sbin/cyrus", "ctl_cyrusdb", "-r"}));
  EXPECT_EQ(c.start[0].line, 6);

  ASSERT_EQ(c.services.size(), 7u);
  const CyrusConfEntry* imap = c.find_service("imap");
  ASSERT_NE(imap, nullptr);
  EXPECT_EQ(imap->cmd, "imapd -U 30");
  EXPECT_EQ(imap->argv, (std::vector<std::string>{"imapd", "-U", "30"}));
  EXPECT_EQ(imap->listen, "imap");
  EXPECT_EQ(imap->proto, "tcp");
  EXPECT_EQ(imap->prefork, 0);
  EXPECT_EQ(imap->maxchild, 100);
  EXPECT_EQ(imap->maxfds, 256);
  EXPECT_FALSE(imap->babysit);
  EXPECT_EQ(c.find_service("imaps"), nullptr);  // commented out
  EXPECT_EQ(c.find_service("lmtpunix")->listen, "/run/cyrus/socket/lmtp");
  EXPECT_EQ(c.find_service("lmtp")->proto, "tcp4");
  EXPECT_EQ(c.find_service("notify")->proto, "udp");
  EXPECT_EQ(c.find_service("notify")->prefork, 1);
  const CyrusConfEntry* csync = c.find_service("csync");
  EXPECT_EQ(csync->listen, "[::1]:2005");
  EXPECT_TRUE(csync->babysit);
  EXPECT_EQ(csync->maxfds, 1024);
  EXPECT_EQ(csync->maxforkrate, 10);
  EXPECT_EQ(csync->maxchild, -1);

  ASSERT_EQ(c.events.size(), 3u);
  EXPECT_EQ(c.events[0].period, 30);
  EXPECT_FALSE(c.events[0].at.has_value());
  EXPECT_EQ(c.events[1].at, 400);
  EXPECT_EQ(c.events[2].at, 400);
  EXPECT_EQ(c.events[1].argv.back(), "3");

  ASSERT_EQ(c.daemon.size(), 1u);
  EXPECT_EQ(c.daemon[0].name, "idled");
  EXPECT_FALSE(c.daemon[0].wait);
}

TEST(CyrusConf, ParsesTheOpsTemplate) {
  // The shape ops/conf/cyrus.conf.in writes: spaces, quoted listen, at=0400.
  const char text[] =
      "START {\n  recover   cmd=\"ctl_cyrusdb -r\"\n}\n"
      "SERVICES {\n  imap      cmd=\"imapd\" listen=\"127.0.0.1:1143\" prefork=0 maxchild=1000\n}\n"
      "EVENTS {\n  delprune   cmd=\"cyr_expire -E 3\" at=0400\n}\n";
  std::vector<Diagnostic> d;
  auto r = CyrusConf::parse(text, "cyrus.conf", &d);
  ASSERT_TRUE(r.ok()) << r.error().describe();
  EXPECT_TRUE(d.empty());
  EXPECT_EQ(r->services[0].listen, "127.0.0.1:1143");
}

TEST(SplitCommand, QuotesAreHonoured) {
  auto a = split_command("  sieve-filter -c 'a b'  \"c d\"e  ");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(*a, (std::vector<std::string>{"sieve-filter", "-c", "a b", "c de"}));
  EXPECT_EQ(*split_command("''"), (std::vector<std::string>{""}));
  EXPECT_TRUE(split_command("")->empty());
  EXPECT_FALSE(split_command("imapd 'unterminated").ok());
  std::string many;
  for (size_t i = 0; i <= CyrusConf::kMaxArgs; ++i) many += "x ";
  auto r = split_command(many);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::Limit);
}

TEST(CyrusConf, UnknownKeysAreKeptWithAWarning) {
  std::vector<Diagnostic> d;
  auto r = CyrusConf::parse("SERVICES {\n imap cmd=\"imapd\" listen=143 color=blue\n}\n", "c", &d);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->services[0].other.at("color"), "blue");
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].severity, Sev::Warning);
  EXPECT_EQ(d[0].line, 2);
  EXPECT_NE(d[0].option.find("color"), std::string::npos);
}

struct BadConf {
  const char* text;
  int line;
  const char* message_part;
};

class CyrusConfBad : public ::testing::TestWithParam<BadConf> {};

TEST_P(CyrusConfBad, IsAnErrorWithItsLine) {
  const BadConf& b = GetParam();
  std::vector<Diagnostic> d;
  auto r = CyrusConf::parse(b.text, "cyrus.conf", &d);
  ASSERT_FALSE(r.ok()) << b.text;
  bool found = false;
  for (const auto& x : d)
    if (x.severity == Sev::Error && x.line == b.line &&
        x.to_string().find(b.message_part) != std::string::npos)
      found = true;
  EXPECT_TRUE(found) << b.text << "\n" << (d.empty() ? "" : d[0].to_string());
}

INSTANTIATE_TEST_SUITE_P(
    All, CyrusConfBad,
    ::testing::Values(
        BadConf{"SERVICES {\n imap cmd=\"imapd\"\n}\n", 2, "missing listen="},
        BadConf{"EVENTS {\n e period=5\n}\n", 2, "missing cmd="},
        BadConf{"EVENTS {\n e cmd=\"x\" at=2400\n}\n", 2, "HHMM"},
        BadConf{"EVENTS {\n e cmd=\"x\" at=1260\n}\n", 2, "HHMM"},
        BadConf{"EVENTS {\n e cmd=\"x\" at=12:00\n}\n", 2, "HHMM"},
        BadConf{"EVENTS {\n e cmd=\"x\" at=00400\n}\n", 2, "HHMM"},
        BadConf{"EVENTS {\n e cmd=\"x\" period=-1\n}\n", 2, "period"},
        BadConf{"EVENTS {\n e cmd=\"x\" period=often\n}\n", 2, "period"},
        BadConf{"SERVICES {\n s cmd=\"x\" listen=1 prefork=-1\n}\n", 2, "prefork"},
        BadConf{"SERVICES {\n s cmd=\"x\" listen=1 maxchild=-2\n}\n", 2, "maxchild"},
        BadConf{"SERVICES {\n s cmd=\"x\" listen=1 maxfds=0\n}\n", 2, "maxfds"},
        BadConf{"SERVICES {\n s cmd=\"x\" listen=1 babysit=perhaps\n}\n", 2, "babysit"},
        BadConf{"SERVICES {\n s cmd=\"x\" listen=1 proto=sctp\n}\n", 2, "proto"},
        BadConf{"SERVICES {\n s cmd=\"x\" listen=1\n s cmd=\"y\" listen=2\n}\n", 3, "already defined"},
        BadConf{"SERVICES {\n s cmd=\"x listen=1\n}\n", 2, "unterminated"},
        BadConf{"SERVICES {\n s cmd=\"'x\" listen=1\n}\n", 2, "unterminated"},
        BadConf{"SERVICES {\n s cmd=\"\" listen=1\n}\n", 2, "empty command"},
        BadConf{"SERVICES {\n s cmd=\"x\" listen\n}\n", 2, "expected key=value"},
        BadConf{"SERVICES {\n =x cmd=\"x\"\n}\n", 2, "without a key"},
        BadConf{"SERVICES {\n s!x cmd=\"x\" listen=1\n}\n", 2, "invalid entry name"},
        BadConf{"SERVICES {\n s cmd=\"x\" listen=1\n", 1, "not closed"},
        BadConf{"SERVICES {\n s cmd=\"x\" listen=1\nEVENTS {\n}\n", 3, "(line 1) is not closed"},
        BadConf{"SERVICE {\n s cmd=\"x\" listen=1\n}\n", 1, "unknown section"},
        BadConf{"imap cmd=\"imapd\"\n", 1, "expected 'SECTION {'"}));

TEST(CyrusConf, UnknownSectionBodyIsSkippedQuietly) {
  std::vector<Diagnostic> d;
  auto r = CyrusConf::parse("FOO {\n a b c\n d e f\n}\nSTART {\n r cmd=\"x\"\n}\n", "c", &d);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(d.size(), 1u);  // one error for the section, none for its lines
}

TEST(CyrusConf, Bounds) {
  std::string long_line = "START {\n r cmd=\"" + std::string(CyrusConf::kMaxLineLength, 'x') + "\"\n}\n";
  std::vector<Diagnostic> d;
  EXPECT_FALSE(CyrusConf::parse(long_line, "c", &d).ok());

  std::string many = "START {\n";
  for (size_t i = 0; i <= CyrusConf::kMaxEntriesPerSection; ++i)
    many += " e" + std::to_string(i) + " cmd=\"x\"\n";
  many += "}\n";
  d.clear();
  auto r = CyrusConf::parse(many, "c", &d);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(d.back().message.find("more than"), std::string::npos);

  std::string keys = "START {\n r cmd=\"x\"";
  for (size_t i = 0; i <= CyrusConf::kMaxKeysPerEntry; ++i) keys += " k" + std::to_string(i) + "=1";
  keys += "\n}\n";
  d.clear();
  EXPECT_FALSE(CyrusConf::parse(keys, "c", &d).ok());

  std::string lines;
  for (size_t i = 0; i <= CyrusConf::kMaxLines; ++i) lines += "#\n";
  d.clear();
  EXPECT_FALSE(CyrusConf::parse(lines, "c", &d).ok());
}

TEST(CyrusConf, RandomBytesNeverCrash) {
  std::mt19937 rng(4242);
  static const char kAlphabet[] = "SERVICESTARTEVNDMOab cdmlnpr=\"'{}#\n\t0123459:/";
  int ok = 0;
  for (int iter = 0; iter < 3000; ++iter) {
    std::string text(rng() % 1024, '\0');
    for (char& ch : text)
      ch = (rng() % 4 == 0) ? static_cast<char>(rng() % 256) : kAlphabet[rng() % (sizeof(kAlphabet) - 1)];
    if (iter % 2 == 0) text = "SERVICES {\n" + text + "\n}\n";
    std::vector<Diagnostic> d;
    auto r = CyrusConf::parse(text, "fuzz", &d);
    bool has_error = false;
    for (const auto& x : d) {
      has_error = has_error || x.severity == Sev::Error;
      for (char ch : x.to_string()) ASSERT_FALSE(static_cast<unsigned char>(ch) < 0x20);
    }
    ASSERT_EQ(r.ok(), !has_error) << iter;
    if (r.ok()) {
      ++ok;
      for (const auto& e : r->services) {
        ASSERT_FALSE(e.argv.empty());
        ASSERT_FALSE(e.listen.empty());
      }
    }
  }
  EXPECT_LT(ok, 3000);
}

}  // namespace
}  // namespace cyr::config
