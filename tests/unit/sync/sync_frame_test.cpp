#include "sync/sync_frame.h"

#include <gtest/gtest.h>
#include <openssl/sha.h>

#include "tests/unit/sync/vectors.h"

namespace cyr::sync {
namespace {

using testing::Exchange;
using testing::load_exchange;

Result<SyncCommand> cmd_of(std::string_view wire) {
  LineFramer f;
  size_t used = f.feed(wire);
  if (!f.line_ready() || used != wire.size()) return Error(Errc::Invalid, "not one line");
  auto line = f.take_line();
  CYR_TRY(line);
  return parse_command(std::move(line.value()));
}

Result<SyncReply> reply_of(std::string_view wire) {
  LineFramer f;
  size_t used = f.feed(wire);
  if (!f.line_ready() || used != wire.size()) return Error(Errc::Invalid, "not one line");
  auto line = f.take_line();
  CYR_TRY(line);
  return parse_reply(std::move(line.value()));
}

// Every line of a recorded stream decodes, and the re-encoded lines are the
// recorded bytes exactly.
void check_exchange(const std::string& name, size_t want_commands, size_t want_replies) {
  Exchange ex;
  ASSERT_TRUE(load_exchange(name, &ex)) << name;
  auto cmds = decode_commands(ex.client);
  ASSERT_TRUE(cmds.ok()) << name << ": " << cmds.error().describe();
  EXPECT_EQ(cmds->size(), want_commands) << name;
  std::string again;
  for (const SyncCommand& c : *cmds) again += *encode_command(c);
  EXPECT_EQ(again, ex.client) << name;

  auto replies = decode_replies(ex.server);
  ASSERT_TRUE(replies.ok()) << name << ": " << replies.error().describe();
  EXPECT_EQ(replies->size(), want_replies) << name;
  again.clear();
  for (const SyncReply& r : *replies) again += *encode_reply(r);
  EXPECT_EQ(again, ex.server) << name;
}

TEST(SyncVectors, RoundTripByteExact) {
  check_exchange("new_user_then_flag.exchange", 7, 10);
  check_exchange("connection.exchange", 7, 12);
  check_exchange("reserve_fetch.exchange", 3, 5);
  check_exchange("items.exchange", 1, 19);
  check_exchange("apply_forms.exchange", 25, 3);
}

TEST(SyncVectors, NewUserExchangeMeansWhatTheReferenceSays) {
  Exchange ex;
  ASSERT_TRUE(load_exchange("new_user_then_flag.exchange", &ex));
  auto cmds = decode_commands(ex.client);
  ASSERT_TRUE(cmds.ok());
  const SyncCommand& get = (*cmds)[0];
  EXPECT_EQ(get.verb, "GET");
  EXPECT_EQ(get.name, "USER");
  EXPECT_EQ(*get.arg.as_str(), "fred");

  const SyncCommand& msg = (*cmds)[1];
  EXPECT_EQ(msg.name, "MESSAGE");
  ASSERT_EQ(msg.arg.items().size(), 1u);
  const FileLiteral& f = msg.arg.items()[0].file_literal();
  EXPECT_EQ(f.partition, "default");
  EXPECT_EQ(f.size, 43u);
  ASSERT_EQ(f.body.size(), 43u);
  // The GUID is the SHA-1 of the file's bytes (reference §5.1).
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(f.body.data()), f.body.size(), digest);
  char hex[41];
  for (int i = 0; i < 20; ++i) snprintf(hex + 2 * i, 3, "%02x", digest[i]);
  EXPECT_EQ(f.guid, std::string(hex, 40));

  const SyncCommand& mbox = (*cmds)[2];
  EXPECT_EQ(mbox.name, "MAILBOX");
  EXPECT_EQ(*mbox.arg.get_str("ACL"), "fred\tlrswipkxtecdan\t");
  EXPECT_EQ(*mbox.arg.get_str("OPTIONS"), "");
  EXPECT_EQ(*mbox.arg.get_num("SYNC_CRC"), 4247692495u);
  auto records = mbox.arg.get_list("RECORD");
  ASSERT_TRUE(records.ok());
  ASSERT_EQ((*records)->items().size(), 1u);
  const Value& rec = (*records)->items()[0];
  EXPECT_EQ(*rec.get_num32("UID"), 1u);
  EXPECT_EQ((*rec.get_list("FLAGS"))->items()[0].bytes(), "\\Seen");

  auto replies = decode_replies(ex.server);
  ASSERT_TRUE(replies.ok());
  const SyncReply& item = (*replies)[4];
  EXPECT_EQ(item.kind, ReplyKind::Item);
  EXPECT_EQ(item.key, "MAILBOX");
  ASSERT_TRUE(item.value().ok());
  EXPECT_FALSE((*item.value())->has("RECORD"));
  const SyncReply& changed = (*replies)[8];
  EXPECT_EQ(changed.kind, ReplyKind::No);
  EXPECT_EQ(changed.code, "IMAP_SYNC_CHANGED");
  EXPECT_EQ(changed.text, "Changed since last sync");
}

TEST(SyncVectors, ByteByByteFeedingGivesTheSameLines) {
  Exchange ex;
  ASSERT_TRUE(load_exchange("new_user_then_flag.exchange", &ex));
  auto whole = decode_commands(ex.client);
  ASSERT_TRUE(whole.ok());
  LineFramer framer;
  std::vector<SyncCommand> cmds;
  for (size_t i = 0; i < ex.client.size(); ++i) {
    ASSERT_EQ(framer.feed(std::string_view(ex.client).substr(i, 1)), 1u);
    if (framer.line_ready()) {
      auto line = framer.take_line();
      ASSERT_TRUE(line.ok());
      auto c = parse_command(std::move(line.value()));
      ASSERT_TRUE(c.ok()) << c.error().describe();
      cmds.push_back(std::move(c.value()));
    } else if (i + 1 < ex.client.size()) {
      EXPECT_TRUE(framer.in_line());
    }
  }
  ASSERT_EQ(cmds.size(), whole->size());
  for (size_t i = 0; i < cmds.size(); ++i) {
    EXPECT_EQ(cmds[i].verb, (*whole)[i].verb);
    EXPECT_EQ(cmds[i].arg, (*whole)[i].arg);
  }
}

TEST(SyncFrame, CommandParsing) {
  auto c = cmd_of("apply mailbox %(A 1)\r\n");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->verb, "APPLY");
  EXPECT_EQ(c->name, "MAILBOX");
  EXPECT_EQ(*c->arg.get_num("A"), 1u);
  EXPECT_TRUE(c->carries_dlist());

  c = cmd_of("GET MAILBOXES (user.fred \"user.fred.Two words\")\n");  // bare LF accepted
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->arg.items()[1].bytes(), "user.fred.Two words");

  c = cmd_of("AUTHENTICATE PLAIN AHJlcGwAc2VjcmV0\r\n");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->verb, "AUTHENTICATE");
  EXPECT_EQ(c->args, "PLAIN AHJlcGwAc2VjcmV0");
  EXPECT_FALSE(c->carries_dlist());

  c = cmd_of("GET ANNOTATION \"\"\r\n");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(*c->arg.as_str(), "");
}

TEST(SyncFrame, CommandErrorsUseCyrusTexts) {
  struct Case {
    const char* wire;
    const char* user_message;
  } cases[] = {
      {"\r\n", "Null command"},
      {"APPLY\r\n", "Missing required argument to Apply"},
      {"GET USER\r\n", "Missing required argument to Get"},
      {"APPLY MAILBOX %(A 1) junk\r\n", "Unexpected extra arguments to Apply"},
      {"APPLY MAILBOX %(A\r\n", "IMAP_PROTOCOL_ERROR Failed to parse APPLY line"},
      {"RESTORE MAILBOX %(A 1 B)\r\n", "IMAP_PROTOCOL_ERROR Failed to parse RESTORE line"},
      {"NOOP {3+}\r\nabc\r\n", "IMAP_PROTOCOL_ERROR Bad arguments"},
  };
  for (const Case& k : cases) {
    auto c = cmd_of(k.wire);
    ASSERT_FALSE(c.ok()) << k.wire;
    EXPECT_EQ(c.error().code, Errc::Invalid);
    EXPECT_EQ(c.error().user_message, k.user_message) << k.wire;
  }
  // The detail says what exactly was wrong, for the log.
  auto c = cmd_of("APPLY MAILBOX %(A 1 B)\r\n");
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().detail.find("unexpected ')'"), std::string::npos) << c.error().detail;
}

TEST(SyncFrame, ReplyParsing) {
  auto r = reply_of("NO IMAP_SYNC_CHECKSUM Checksum Failure\r\n");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->kind, ReplyKind::No);
  EXPECT_EQ(r->code, "IMAP_SYNC_CHECKSUM");
  EXPECT_EQ(r->text, "Checksum Failure");
  EXPECT_TRUE(r->is_final());

  r = reply_of("* MISSING (5d41402abc4b2a76b9719d911017c592aaaaaaaa)\r\n");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->kind, ReplyKind::Item);
  EXPECT_EQ(r->key, "MISSING");
  ASSERT_TRUE(r->value().ok());
  EXPECT_EQ((*r->value())->items().size(), 1u);

  r = reply_of("* OK replica.example.org Cyrus sync server 3.6.1\r\n");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->key, "OK");
  EXPECT_EQ(r->text, "replica.example.org Cyrus sync server 3.6.1");
  EXPECT_FALSE(r->value().ok());

  r = reply_of("* Fatal error: can't \"open\" (x\r\n");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->text, "error: can't \"open\" (x");

  r = reply_of("* SASL SCRAM-SHA-1 PLAIN\r\n");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->values.size(), 2u);

  r = reply_of("BYE shutting down\r\n");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->kind, ReplyKind::Bye);

  // Anything else is what Cyrus's client calls a bad response.
  r = reply_of("+ go ahead\r\n");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().user_message, "received bad response");
  EXPECT_FALSE(reply_of("* MAILBOX %(A\r\n").ok());
  EXPECT_FALSE(reply_of("* \r\n").ok());
}

TEST(SyncFrame, BuildersEncodeLikeCyrus) {
  Value guids = Value::list();
  guids.push(Value::guid("5d41402abc4b2a76b9719d911017c592aaaaaaaa"));
  EXPECT_EQ(*encode_reply(make_item("MISSING", guids)),
            "* MISSING (5d41402abc4b2a76b9719d911017c592aaaaaaaa)\r\n");
  EXPECT_EQ(*encode_reply(make_ok()), "OK success\r\n");
  EXPECT_EQ(*encode_reply(make_no("IMAP_SYNC_CHECKSUM", "Checksum Failure")),
            "NO IMAP_SYNC_CHECKSUM Checksum Failure\r\n");
  EXPECT_EQ(*encode_reply(make_no("IMAP_PROTOCOL_BAD_PARAMETERS", "")),
            "NO IMAP_PROTOCOL_BAD_PARAMETERS\r\n");
  EXPECT_EQ(*encode_command(make_command("APPLY", "FORCE", Value::kvlist())), "APPLY FORCE %()\r\n");
  EXPECT_EQ(*encode_command(make_command("GET", "USER", Value::str("fred"))), "GET USER fred\r\n");
  SyncCommand noop;
  noop.verb = "NOOP";
  EXPECT_EQ(*encode_command(noop), "NOOP\r\n");
}

}  // namespace
}  // namespace cyr::sync
