// End-to-end session tests over a unix socket pair: the real Session,
// Connection, Authenticator and Store, driven by a blocking client. Covers
// what the integration tests cannot set up from outside: the replica write
// fence, and bounds (APPEND TOOBIG) with small limits.
#include <utility>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/local/connect_pair.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>
#include <filesystem>
#include <gtest/gtest.h>
#include <thread>

#include "server/auth/user_db.h"
#include "server/imapd/imapd_service.h"
#include "server/net/connection.h"
#include "store/store_config.h"

namespace cyr::imapd {
namespace {

namespace asio = boost::asio;
namespace fs = std::filesystem;

class SessionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("imapd_session_test." + std::to_string(::getpid()) + "." +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "conf");
    fs::create_directories(dir_ / "spool");
  }
  void TearDown() override {
    if (io_thread_.joinable()) {
      client_.close();
      work_.reset();
      io_.stop();
      io_thread_.join();
    }
    fs::remove_all(dir_);
  }

  void start(const std::string& extra_conf, bool replica) {
    std::string text = "configdirectory: " + (dir_ / "conf").string() + "\npartition-default: " +
                       (dir_ / "spool").string() + "\nallowplaintext: yes\nadmins: admin\n" +
                       extra_conf;
    auto conf = config::ImapdConf::parse(text, "imapd.conf", nullptr);
    ASSERT_TRUE(conf.ok());
    auto db = auth::UserDb::open(dir_ / "conf" / auth::kUserDbFileName, auth::UserDb::Mode::ReadWrite);
    ASSERT_TRUE(db.ok());
    ASSERT_TRUE((*db)->set_password("fred", "secret", 4096).ok());
    auto opts = store::options_from_config(*conf);
    ASSERT_TRUE(opts.ok()) << opts.error().describe();
    auto st = store::Store::open(*opts);
    ASSERT_TRUE(st.ok()) << st.error().describe();
    store_ = std::shared_ptr<store::Store>(std::move(*st));
    store::CreateMailboxRequest req;
    req.name = "user.fred";
    ASSERT_TRUE(store_->create_mailbox(req).ok());
    if (replica) ASSERT_TRUE(store_->set_node_state({store::Role::Replica, 1}).ok());

    auto ctx = std::make_shared<server::ServiceContext>();
    ctx->service_name = "imap";
    ctx->argv = {"imapd"};
    ctx->conf = std::make_shared<config::ImapdConf>(std::move(*conf));
    ctx->blocking = &pool_;
    auto handler = make_imapd_handler(ctx, store_);
    ASSERT_TRUE(handler.ok()) << handler.error().describe();
    handler_ = std::move(*handler);

    asio::local::stream_protocol::socket server(io_);
    asio::local::connect_pair(server, client_);
    auto conn = server::net::Connection::create(std::move(server), "test");
    asio::co_spawn(conn->get_executor(), handler_.run_session(conn), asio::detached);
    io_thread_ = std::thread([this] { io_.run(); });
    std::string greeting = read_line();
    ASSERT_EQ(greeting.rfind("* OK", 0), 0u) << greeting;
  }

  std::string read_line() {
    boost::system::error_code ec;
    size_t n = asio::read_until(client_, buf_, "\r\n", ec);
    if (ec) return "<" + ec.message() + ">";
    std::string line(asio::buffers_begin(buf_.data()), asio::buffers_begin(buf_.data()) + n);
    buf_.consume(n);
    return line.substr(0, line.size() - 2);
  }
  void send(const std::string& s) { asio::write(client_, asio::buffer(s)); }
  // Sends a command; returns every line up to and including the tagged one.
  std::vector<std::string> command(const std::string& tag, const std::string& rest) {
    send(tag + " " + rest + "\r\n");
    std::vector<std::string> lines;
    for (int i = 0; i < 1000; ++i) {
      lines.push_back(read_line());
      if (lines.back().rfind(tag + " ", 0) == 0 || lines.back()[0] == '<') break;
    }
    return lines;
  }

  fs::path dir_;
  server::BlockingPool pool_{2};
  asio::io_context io_;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work_{io_.get_executor()};
  asio::local::stream_protocol::socket client_{io_};
  asio::streambuf buf_;
  std::thread io_thread_;
  std::shared_ptr<store::Store> store_;
  server::ServiceHandler handler_;
};

TEST_F(SessionTest, ReplicaRefusesWritesButServesReads) {
  start("", /*replica=*/true);
  EXPECT_EQ(command("a", "LOGIN fred secret").back().rfind("a OK", 0), 0u);
  auto create = command("b", "CREATE Junk").back();
  EXPECT_EQ(create.rfind("b NO [UNAVAILABLE]", 0), 0u) << create;
  auto append = command("c", "APPEND INBOX {5+}\r\nhello").back();
  EXPECT_EQ(append.rfind("c NO [UNAVAILABLE]", 0), 0u) << append;
  auto sel = command("d", "SELECT INBOX");
  EXPECT_EQ(sel.back().rfind("d OK [READ-ONLY]", 0), 0u) << sel.back();
  auto list = command("e", "LIST \"\" *");
  EXPECT_EQ(list.back().rfind("e OK", 0), 0u);
  EXPECT_EQ(list.front(), "* LIST (\\HasNoChildren) \"/\" INBOX");
  auto store = command("f", "STORE 1:* +FLAGS (\\Seen)").back();
  EXPECT_EQ(store.rfind("f NO [UNAVAILABLE]", 0), 0u) << store;
  // REPLACE (RFC 8508) and a CATENATE APPEND (RFC 4469) are writes too; the
  // staged literal is dropped and the session goes on.
  auto replace = command("g", "UID REPLACE 1 INBOX {5+}\r\nhello").back();
  EXPECT_EQ(replace.rfind("g NO [UNAVAILABLE]", 0), 0u) << replace;
  auto catenate = command("h", "APPEND INBOX CATENATE (TEXT {5+}\r\nhello URL \"/INBOX/;UID=1\")").back();
  EXPECT_EQ(catenate.rfind("h NO [UNAVAILABLE]", 0), 0u) << catenate;
  EXPECT_EQ(command("i", "NOOP").back().rfind("i OK", 0), 0u);
}

TEST_F(SessionTest, AppendTooBigIsRefusedAndSessionContinues) {
  start("maxmessagesize: 100\n", false);
  EXPECT_EQ(command("a", "LOGIN fred secret").back().rfind("a OK", 0), 0u);
  send("b APPEND INBOX {200}\r\n");
  std::string refusal = read_line();
  EXPECT_EQ(refusal.rfind("b NO [TOOBIG]", 0), 0u) << refusal;
  // A small one goes through, with APPENDUID.
  send("c APPEND INBOX (\\Seen) {7}\r\n");
  EXPECT_EQ(read_line().rfind("+", 0), 0u);
  send("Hi\r\n\r\nx\r\n");
  std::string ok = read_line();
  EXPECT_EQ(ok.rfind("c OK [APPENDUID ", 0), 0u) << ok;
  auto status = command("d", "STATUS INBOX (MESSAGES UNSEEN APPENDLIMIT)");
  EXPECT_EQ(status.front(), "* STATUS INBOX (MESSAGES 1 UNSEEN 0 APPENDLIMIT 100)");
}

TEST_F(SessionTest, StateChecksAndLogout) {
  start("", false);
  EXPECT_EQ(command("a", "SELECT INBOX").back().rfind("a BAD", 0), 0u);
  EXPECT_EQ(command("b", "FETCH 1 FLAGS").back().rfind("b BAD", 0), 0u);
  EXPECT_EQ(command("c", "LOGIN fred wrong").back().rfind("c NO [AUTHENTICATIONFAILED]", 0), 0u);
  auto logout = command("d", "LOGOUT");
  ASSERT_EQ(logout.size(), 2u);
  EXPECT_EQ(logout[0].rfind("* BYE", 0), 0u);
  EXPECT_EQ(logout[1], "d OK Logout completed");
}

TEST_F(SessionTest, CondstoreUnchangedSince) {
  start("", false);
  command("a", "LOGIN fred secret");
  send("b APPEND INBOX {7+}\r\nHi\r\n\r\nx\r\n");
  read_line();
  auto sel = command("c", "SELECT INBOX (CONDSTORE)");
  EXPECT_EQ(sel.back().rfind("c OK [READ-WRITE]", 0), 0u);
  auto fetch = command("d", "FETCH 1 (MODSEQ)");
  ASSERT_GE(fetch.size(), 2u);
  auto pos = fetch[0].find("MODSEQ (");
  ASSERT_NE(pos, std::string::npos) << fetch[0];
  uint64_t modseq = std::stoull(fetch[0].substr(pos + 8));
  auto stale = command("e", "STORE 1 (UNCHANGEDSINCE " + std::to_string(modseq - 1) +
                                 ") +FLAGS (\\Flagged)");
  EXPECT_EQ(stale.back().rfind("e OK [MODIFIED 1]", 0), 0u) << stale.back();
  auto fresh = command("f", "STORE 1 (UNCHANGEDSINCE " + std::to_string(modseq) +
                                ") +FLAGS (\\Flagged)");
  EXPECT_NE(fresh[0].find("\\Flagged"), std::string::npos) << fresh[0];
  EXPECT_EQ(fresh.back().rfind("f OK", 0), 0u);
}

TEST_F(SessionTest, QresyncReportsVanishedAndChangedFlags) {
  start("", false);
  command("a", "LOGIN fred secret");
  for (int i = 0; i < 3; ++i) {
    send("b" + std::to_string(i) + " APPEND INBOX {7+}\r\nHi\r\n\r\nx\r\n");
    read_line();
  }
  EXPECT_EQ(command("c", "ENABLE QRESYNC").front(), "* ENABLED QRESYNC");
  auto sel = command("d", "SELECT INBOX");
  std::string uidvalidity, modseq;
  for (const auto& l : sel) {
    if (l.find("[UIDVALIDITY ") != std::string::npos)
      uidvalidity = l.substr(l.find("[UIDVALIDITY ") + 13, l.find(']') - l.find("[UIDVALIDITY ") - 13);
    if (l.find("[HIGHESTMODSEQ ") != std::string::npos)
      modseq = l.substr(l.find("[HIGHESTMODSEQ ") + 15, l.find(']') - l.find("[HIGHESTMODSEQ ") - 15);
  }
  ASSERT_FALSE(uidvalidity.empty());
  ASSERT_FALSE(modseq.empty());
  command("e", "STORE 2 +FLAGS.SILENT (\\Deleted)");
  auto expunge = command("f", "EXPUNGE");
  EXPECT_EQ(expunge.front(), "* VANISHED 2");  // QRESYNC: VANISHED instead of EXPUNGE
  command("g", "STORE 1 +FLAGS.SILENT (\\Flagged)");
  auto resel = command("h", "SELECT INBOX (QRESYNC (" + uidvalidity + " " + modseq + "))");
  bool vanished = false, fetched = false;
  for (const auto& l : resel) {
    if (l == "* VANISHED (EARLIER) 2") vanished = true;
    if (l.rfind("* 1 FETCH (UID 1 FLAGS (\\Flagged) MODSEQ (", 0) == 0) fetched = true;
  }
  EXPECT_TRUE(vanished);
  EXPECT_TRUE(fetched);
  EXPECT_EQ(resel.back().rfind("h OK [READ-WRITE]", 0), 0u);
}

TEST_F(SessionTest, SearchAndFetchSections) {
  start("", false);
  command("a", "LOGIN fred secret");
  std::string msg = "Subject: Hello there\r\nFrom: a@b.c\r\n\r\nbody text\r\n";
  send("b APPEND INBOX {" + std::to_string(msg.size()) + "+}\r\n" + msg + "\r\n");
  read_line();
  command("c", "SELECT INBOX");
  EXPECT_EQ(command("d", "SEARCH SUBJECT hello").front(), "* SEARCH 1");
  EXPECT_EQ(command("e", "SEARCH BODY nothere").front(), "* SEARCH");
  EXPECT_EQ(command("f", "UID SEARCH RETURN (SAVE) ALL").front().rfind("f OK", 0), 0u);
  auto saved = command("g", "FETCH $ (UID)");
  EXPECT_EQ(saved.front(), "* 1 FETCH (UID 1)");
  auto f = command("h", "FETCH 1 (BODY.PEEK[HEADER.FIELDS (SUBJECT)])");
  EXPECT_EQ(f[0], "* 1 FETCH (BODY[HEADER.FIELDS (SUBJECT)] {24}");
  EXPECT_EQ(f[1], "Subject: Hello there");
  auto bad = command("i", "SEARCH CHARSET KOI8-R ALL").back();
  EXPECT_EQ(bad.rfind("i NO [BADCHARSET", 0), 0u) << bad;
  EXPECT_EQ(command("j", "FETCH 5 FLAGS").back().rfind("j BAD", 0), 0u);
}

TEST_F(SessionTest, RecentIsClaimedBySelectNotByExamine) {
  start("", false);
  command("a", "LOGIN fred secret");
  std::string msg = "Subject: one\r\n\r\nx\r\n";
  for (const char* t : {"b1", "b2"})
    command(t, std::string("APPEND INBOX {") + std::to_string(msg.size()) + "+}\r\n" + msg);
  auto st = command("c", "STATUS INBOX (RECENT MESSAGES)");
  EXPECT_EQ(st.front(), "* STATUS INBOX (MESSAGES 2 RECENT 2)");
  // EXAMINE shows \Recent but does not take it away.
  auto ex = command("d", "EXAMINE INBOX");
  EXPECT_NE(std::find(ex.begin(), ex.end(), "* 2 RECENT"), ex.end());
  auto sel = command("e", "SELECT INBOX");
  EXPECT_NE(std::find(sel.begin(), sel.end(), "* 2 RECENT"), sel.end());
  EXPECT_EQ(command("f", "FETCH 1 FLAGS").front(), "* 1 FETCH (FLAGS (\\Recent))");
  EXPECT_EQ(command("g", "SEARCH RECENT").front(), "* SEARCH 1 2");
  EXPECT_EQ(command("h", "SEARCH NEW").front(), "* SEARCH 1 2");
  EXPECT_EQ(command("i", "SEARCH OLD").front(), "* SEARCH");
  // A new message arriving while selected is \Recent in this session too.
  auto app = command("j", std::string("APPEND INBOX {") + std::to_string(msg.size()) + "+}\r\n" + msg);
  EXPECT_NE(std::find(app.begin(), app.end(), "* 3 EXISTS"), app.end());
  EXPECT_NE(std::find(app.begin(), app.end(), "* 3 RECENT"), app.end());
  // The SELECT claimed them: the next selection sees none.
  auto again = command("k", "SELECT INBOX");
  EXPECT_NE(std::find(again.begin(), again.end(), "* 0 RECENT"), again.end());
  EXPECT_EQ(command("l", "FETCH 1 FLAGS").front(), "* 1 FETCH (FLAGS ())");
  EXPECT_EQ(command("m", "STATUS INBOX (RECENT)").front(), "* STATUS INBOX (RECENT 0)");
  EXPECT_EQ(command("n", "SEARCH OLD").front(), "* SEARCH 1 2 3");
  EXPECT_EQ(command("o", "STORE 1 +FLAGS (\\Recent)").back().rfind("o BAD", 0), 0u);
}

TEST_F(SessionTest, BinaryFetchAndLiteral8Append) {
  start("", false);
  command("a", "LOGIN fred secret");
  auto caps = command("c0", "CAPABILITY").front();
  EXPECT_NE(caps.find(" BINARY"), std::string::npos) << caps;
  EXPECT_NE(caps.find(" METADATA METADATA-SERVER"), std::string::npos) << caps;
  std::string msg =
      "Subject: b\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"B\"\r\n\r\n"
      "--B\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n"
      "AGFi\r\n--B\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: x-unknown\r\n\r\n"
      "zz\r\n--B--\r\n";
  command("b", "APPEND INBOX {" + std::to_string(msg.size()) + "+}\r\n" + msg);
  command("c", "SELECT INBOX");
  auto size = command("d", "FETCH 1 (BINARY.SIZE[1])");
  EXPECT_EQ(size.front(), "* 1 FETCH (BINARY.SIZE[1] 3)");
  auto peek = command("e", "FETCH 1 (BINARY.PEEK[1])");
  EXPECT_EQ(peek[0], "* 1 FETCH (BINARY[1] ~{3}");
  EXPECT_EQ(peek[1], std::string("") + '\0' + "ab)");
  auto part = command("f", "FETCH 1 (BINARY.PEEK[1]<1.5>)");
  EXPECT_EQ(part[0], "* 1 FETCH (BINARY[1]<1> {2}");
  EXPECT_EQ(part[1], "ab)");
  auto cte = command("g", "FETCH 1 (BINARY.PEEK[2])").back();
  EXPECT_EQ(cte.rfind("g NO [UNKNOWN-CTE]", 0), 0u) << cte;
  // BINARY without .PEEK sets \Seen.
  auto seen = command("h", "FETCH 1 (BINARY[1])");
  EXPECT_NE(seen[0].find("\\Seen)"), std::string::npos) << seen[0];

  // A NUL is accepted in a literal8, refused in a plain literal.
  std::string bin = std::string("Subject: nul\r\n\r\na") + '\0' + "b\r\n";
  auto ok = command("i", "APPEND INBOX ~{" + std::to_string(bin.size()) + "+}\r\n" + bin).back();
  EXPECT_EQ(ok.rfind("i OK [APPENDUID", 0), 0u) << ok;
  auto no = command("j", "APPEND INBOX {" + std::to_string(bin.size()) + "+}\r\n" + bin).back();
  EXPECT_EQ(no.rfind("j NO", 0), 0u) << no;
  auto back = command("k", "UID FETCH 2 (BINARY.PEEK[])");
  EXPECT_EQ(back[0].rfind("* 2 FETCH (UID 2 BINARY[] ~{", 0), 0u) << back[0];
}

TEST_F(SessionTest, MetadataOnMailboxAndServer) {
  start("", false);
  command("a", "LOGIN fred secret");
  EXPECT_EQ(command("b", "SETMETADATA INBOX (/private/comment \"My own\" /shared/comment {6+}\r\nShared)")
                .back(), "b OK Setmetadata completed");
  auto get = command("c", "GETMETADATA INBOX (/private/comment /shared/comment /shared/none)");
  EXPECT_EQ(get.front(),
            "* METADATA INBOX (/private/comment \"My own\" /shared/comment \"Shared\" /shared/none NIL)");
  auto small = command("d", "GETMETADATA (MAXSIZE 4) INBOX (/private/comment /shared/comment)");
  EXPECT_EQ(small.back(), "d OK [METADATA LONGENTRIES 6] Getmetadata completed");
  auto deep = command("e", "GETMETADATA (DEPTH infinity) INBOX /shared");
  EXPECT_NE(deep.front().find("/shared/comment \"Shared\""), std::string::npos) << deep.front();
  EXPECT_NE(deep.front().find("/shared/vendor/cmu/cyrus-imapd/uniqueid"), std::string::npos);
  EXPECT_EQ(deep.front().find("/private/comment"), std::string::npos);
  // NIL removes; read-only and malformed entries are refused and change nothing.
  EXPECT_EQ(command("f", "SETMETADATA INBOX (/private/comment NIL)").back().rfind("f OK", 0), 0u);
  EXPECT_EQ(command("g", "GETMETADATA INBOX /private/comment").front(),
            "* METADATA INBOX (/private/comment NIL)");
  auto ro = command("h", "SETMETADATA INBOX (/shared/comment \"x\" /shared/vendor/cmu/cyrus-imapd/size \"1\")");
  EXPECT_EQ(ro.back().rfind("h NO [NOPERM]", 0), 0u) << ro.back();
  EXPECT_EQ(command("i", "GETMETADATA INBOX /shared/comment").front(),
            "* METADATA INBOX (/shared/comment \"Shared\")");
  EXPECT_EQ(command("j", "SETMETADATA INBOX (/comment \"x\")").back().rfind("j BAD", 0), 0u);
  auto big = command("k", "SETMETADATA INBOX (/private/big {40000+}\r\n" + std::string(40000, 'x') + ")");
  EXPECT_EQ(big.back().rfind("k NO [METADATA MAXSIZE 32768]", 0), 0u) << big.back();
  // Server metadata: shared entries are the admins'; private ones anyone's.
  EXPECT_EQ(command("l", "SETMETADATA \"\" (/shared/motd \"hi\")").back().rfind("l NO [NOPERM]", 0), 0u);
  EXPECT_EQ(command("m", "SETMETADATA \"\" (/private/note \"mine\")").back().rfind("m OK", 0), 0u);
  EXPECT_EQ(command("n", "GETMETADATA \"\" /private/note").front(),
            "* METADATA \"\" (/private/note \"mine\")");
  // Too many entries: refused as a whole before anything is written.
  std::string many = "SETMETADATA INBOX (";
  for (int i = 0; i < 257; ++i) many += (i ? " /private/e" : "/private/e") + std::to_string(i) + " \"v\"";
  auto toomany = command("n2", many + ")").back();
  EXPECT_EQ(toomany.rfind("n2 NO [METADATA TOOMANY]", 0), 0u) << toomany;
  EXPECT_EQ(command("n3", "GETMETADATA INBOX /private/e0").front(),
            "* METADATA INBOX (/private/e0 NIL)");
  EXPECT_EQ(command("n4", "SETMETADATA INBOX (/private/a \"1\" /PRIVATE/A \"2\")").back().rfind(
                "n4 BAD", 0),
            0u);
  // Special use shows up as /private/specialuse and can be set.
  command("o", "CREATE Sent (USE (\\Sent))");
  EXPECT_EQ(command("p", "GETMETADATA Sent /private/specialuse").front(),
            "* METADATA Sent (/private/specialuse \"\\\\Sent\")");
  EXPECT_EQ(command("q", "SETMETADATA Sent (/private/specialuse \"\\\\Bogus\")").back().rfind(
                "q NO [USEATTR]", 0),
            0u);
}

}  // namespace
}  // namespace cyr::imapd

namespace cyr::imapd {
namespace {

// The budget of APPEND literals held in memory by all sessions of a
// service: never more than kBudget taken, however many take at once.
TEST(AppendMemory, NeverHandsOutMoreThanTheBudget) {
  AppendMemory m;
  EXPECT_TRUE(m.try_take(AppendMemory::kBudget - 10));
  EXPECT_FALSE(m.try_take(11));
  EXPECT_TRUE(m.try_take(10));
  EXPECT_FALSE(m.try_take(1));
  m.give_back(AppendMemory::kBudget);
  EXPECT_EQ(m.used(), 0u);
  EXPECT_FALSE(m.try_take(AppendMemory::kBudget + 1));
  EXPECT_EQ(m.used(), 0u);

  // Eight threads take 256 KiB at a time until refused, then check the sum.
  constexpr uint64_t kPiece = 256 * 1024;
  std::atomic<uint64_t> taken{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&] {
      while (m.try_take(kPiece)) taken += kPiece;
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(taken.load(), AppendMemory::kBudget / kPiece * kPiece);
  EXPECT_EQ(m.used(), taken.load());
}

}  // namespace
}  // namespace cyr::imapd
