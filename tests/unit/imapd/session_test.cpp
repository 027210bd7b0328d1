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

}  // namespace
}  // namespace cyr::imapd
