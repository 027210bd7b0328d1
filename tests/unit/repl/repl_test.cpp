// Replication between two in-process stores: SyncClient on the master,
// SyncServerSession on the replica, joined by LoopbackPeer (every command
// and reply goes through the wire codec), plus the reference's recorded
// exchange replayed byte for byte against our server.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <filesystem>

#include "store/mail/guid.h"
#include "store/quota_recompute.h"
#include "sync/dlist_decoder.h"
#include "sync/mailbox_sync.h"
#include "sync/rolling_sync.h"
#include "sync/sync_client.h"
#include "sync/sync_log.h"
#include "sync/sync_peer.h"
#include "sync/sync_server.h"
#include "tests/unit/store/store_test_util.h"
#include "tests/unit/sync/vectors.h"

namespace cyr::sync {
namespace {

using store::Store;
using store::WriteMode;
using store::testing::make_temp_dir;
using store::testing::message;
using store::testing::named;
using store::testing::one_message;
using store::testing::options_for;

using Node = store::testing::TempNode;

class Pair : public ::testing::Test {
 protected:
  Pair()
      : master("repl_m"),
        replica("repl_r"),
        server(*replica.store, SyncServerOptions{replica.dir + "/stage", {}, "test"}),
        peer(server) {
    EXPECT_TRUE(replica.store->set_node_state({store::Role::Replica, 1}).ok());
  }
  SyncClient client(SyncClientOptions o = {}) { return SyncClient(*master.store, peer, std::move(o)); }
  // The options of a failover rejoin's reconcile (failover/sync_link.cpp).
  SyncClient reconcile_client() {
    SyncClientOptions o;
    o.delete_orphans = false;
    o.reconcile = true;
    return client(std::move(o));
  }
  void expect_identical(const std::vector<std::string>& users = {}) {
    auto rep = verify(*master.store, peer, users);
    ASSERT_TRUE(rep.ok()) << rep.error().describe();
    EXPECT_TRUE(rep->identical()) << [&] {
      std::string s;
      for (auto& d : rep->differences) s += d + "\n";
      return s;
    }();
    EXPECT_GT(rep->mailboxes_compared, 0u);
  }
  store::Uid append(Node& n, const std::string& box, const std::string& subject, uint32_t flags = 0) {
    auto r = n.store->append(one_message(box, message(subject), flags));
    EXPECT_TRUE(r.ok()) << r.error().describe();
    return r.ok() ? r->uids[0] : 0;
  }
  Node master, replica;
  SyncServerSession server;
  LoopbackPeer peer;
};

TEST_F(Pair, InitialUserSyncCopiesEverything) {
  Store& m = *master.store;
  ASSERT_TRUE(m.create_mailbox(named("user.fred")).ok());
  ASSERT_TRUE(m.create_mailbox(named("user.fred.Sent")).ok());
  for (int i = 0; i < 5; ++i) append(master, "user.fred", "m" + std::to_string(i), i % 2 ? uint32_t{store::kFlagSeen} : 0u);
  append(master, "user.fred.Sent", "sent1", store::kFlagAnswered);
  ASSERT_TRUE(m.set_acl("user.fred", "fred\tlrswipkxtecdan\tbarney\tlr\t").ok());
  ASSERT_TRUE(m.subscribe("fred", "user.fred.Sent", true).ok());
  ASSERT_TRUE(m.set_quota("user.fred", 10000, 500).ok());
  ASSERT_TRUE(m.set_seen("fred", "user.fred.Sent", store::SeenState{1700000000, 3, 1700000000, "1:3"}).ok());

  auto c = client();
  ASSERT_TRUE(c.sync_user("fred").ok());
  EXPECT_EQ(c.stats().messages_uploaded, 6u);
  expect_identical({"fred"});

  Store& r = *replica.store;
  auto mi = m.lookup("user.fred");
  auto ri = r.lookup("user.fred");
  ASSERT_TRUE(ri.ok());
  EXPECT_EQ(ri->uniqueid, mi->uniqueid);
  EXPECT_EQ(ri->uidvalidity, mi->uidvalidity);
  EXPECT_EQ(ri->last_uid, mi->last_uid);
  EXPECT_EQ(ri->highestmodseq, mi->highestmodseq);
  EXPECT_EQ(ri->acl, mi->acl);
  auto mr = m.records("user.fred");
  auto rr = r.records("user.fred");
  ASSERT_EQ(rr->size(), mr->size());
  for (size_t i = 0; i < mr->size(); ++i) {
    EXPECT_EQ((*rr)[i].uid, (*mr)[i].uid);
    EXPECT_EQ((*rr)[i].guid, (*mr)[i].guid);
    EXPECT_EQ((*rr)[i].modseq, (*mr)[i].modseq);
    EXPECT_EQ((*rr)[i].flags, (*mr)[i].flags);
    EXPECT_EQ(*r.read_message("user.fred", (*rr)[i].uid), *m.read_message("user.fred", (*mr)[i].uid));
  }
  auto q = r.get_quota("user.fred");
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(q->storage_limit_kib, std::optional<uint64_t>(10000));
  EXPECT_EQ(q->message_limit, std::optional<uint64_t>(500));
  EXPECT_EQ(*r.subscriptions("fred"), std::vector<std::string>{"user.fred.Sent"});
  EXPECT_EQ(r.get_seen("fred", "user.fred.Sent")->seenuids, "1:3");

  // Nothing changed: a second sync sends no mailbox.
  auto c2 = client();
  ASSERT_TRUE(c2.sync_user("fred").ok());
  EXPECT_EQ(c2.stats().mailboxes_applied, 0u);
  EXPECT_EQ(c2.stats().mailboxes_unchanged, 2u);
}

TEST_F(Pair, IncrementalFlagsExpungeAppendAndCopyUsesReserve) {
  Store& m = *master.store;
  ASSERT_TRUE(m.create_mailbox(named("user.ann")).ok());
  ASSERT_TRUE(m.create_mailbox(named("user.ann.Archive")).ok());
  for (int i = 0; i < 4; ++i) append(master, "user.ann", "a" + std::to_string(i));
  ASSERT_TRUE(client().sync_user("ann").ok());

  store::StoreFlagsRequest fr;
  fr.uids = store::UidSet::of({1, 2});
  fr.op = store::FlagOp::Add;
  fr.flags.system = store::kFlagFlagged;
  fr.flags.keywords = {"$Label1"};
  ASSERT_TRUE(m.store_flags("user.ann", fr).ok());
  ASSERT_TRUE(m.expunge("user.ann", store::UidSet::of({3})).ok());
  append(master, "user.ann", "new");
  ASSERT_TRUE(m.copy("user.ann", store::UidSet::of({4}), "user.ann.Archive", true).ok());  // MOVE

  auto c = client();
  ASSERT_TRUE(c.sync_user("ann").ok());
  EXPECT_EQ(c.stats().messages_uploaded, 1u);  // only the new message
  EXPECT_EQ(c.stats().messages_reserved, 1u);  // the moved one was found on the replica
  EXPECT_EQ(c.stats().full_syncs, 0u);
  expect_identical({"ann"});
  auto rec = replica.store->record("user.ann", 1);
  ASSERT_TRUE(rec.ok());
  EXPECT_TRUE(rec->flags.system & store::kFlagFlagged);
  EXPECT_EQ(rec->flags.keywords, std::vector<std::string>{"$Label1"});
  auto gone = replica.store->records("user.ann");
  ASSERT_TRUE(gone.ok());
  for (auto& r : *gone) EXPECT_NE(r.uid, 3u);
}

TEST_F(Pair, RenameIsMatchedByUniqueIdAndDeleteRemovesReplicaFolder) {
  Store& m = *master.store;
  ASSERT_TRUE(m.create_mailbox(named("user.bob")).ok());
  ASSERT_TRUE(m.create_mailbox(named("user.bob.Old")).ok());
  ASSERT_TRUE(m.create_mailbox(named("user.bob.Gone")).ok());
  append(master, "user.bob.Old", "x");
  ASSERT_TRUE(client().sync_user("bob").ok());
  std::string uid = m.lookup("user.bob.Old")->uniqueid;

  ASSERT_TRUE(m.rename_mailbox("user.bob.Old", "user.bob.New").ok());
  ASSERT_TRUE(m.delete_mailbox("user.bob.Gone").ok());
  auto c = client();
  ASSERT_TRUE(c.sync_user("bob").ok());
  EXPECT_EQ(c.stats().messages_uploaded, 0u);  // a rename moves no message
  expect_identical({"bob"});
  auto moved = replica.store->lookup("user.bob.New");
  ASSERT_TRUE(moved.ok());
  EXPECT_EQ(moved->uniqueid, uid);
  EXPECT_FALSE(replica.store->lookup("user.bob.Old").ok());
  EXPECT_FALSE(replica.store->lookup("user.bob.Gone").ok());
}

TEST_F(Pair, SplitBrainSameUidDifferentMessagesLosesNothing) {
  Store& m = *master.store;
  ASSERT_TRUE(m.create_mailbox(named("user.eve")).ok());
  append(master, "user.eve", "common");
  ASSERT_TRUE(client().sync_user("eve").ok());
  // Both sides get a different message as UID 2 (the replica acting alone).
  ASSERT_TRUE(replica.store->set_node_state({store::Role::Primary, 2}).ok());
  append(master, "user.eve", "on-master");
  append(replica, "user.eve", "on-replica");
  ASSERT_TRUE(replica.store->set_node_state({store::Role::Replica, 3}).ok());

  auto c = client();
  ASSERT_TRUE(c.sync_user("eve").ok()) ;
  EXPECT_EQ(c.stats().checksum_retries, 1u);
  EXPECT_EQ(c.stats().full_syncs, 1u);
  EXPECT_EQ(c.stats().renumbered, 1u);
  EXPECT_EQ(c.stats().copied_back, 1u);
  expect_identical({"eve"});
  // All three messages live on both nodes.
  std::set<std::string> subjects;
  auto live = m.records("user.eve");
  ASSERT_TRUE(live.ok());
  for (auto& r : *live) {
    auto b = m.read_message("user.eve", r.uid);
    ASSERT_TRUE(b.ok()) << r.uid << " " << b.error().describe();
    subjects.insert(b->substr(b->find("Subject: ") + 9, b->find("\r\n", b->find("Subject: ")) - b->find("Subject: ") - 9));
  }
  EXPECT_EQ(subjects, (std::set<std::string>{"common", "on-master", "on-replica"}));
  EXPECT_EQ(replica.store->records("user.eve")->size(), 3u);
}

TEST_F(Pair, ReplicaAheadIsRefusedWithChecksumAndNoCopybackReportsIt) {
  Store& m = *master.store;
  ASSERT_TRUE(m.create_mailbox(named("user.zed")).ok());
  append(master, "user.zed", "one");
  ASSERT_TRUE(client().sync_user("zed").ok());
  ASSERT_TRUE(replica.store->set_node_state({store::Role::Primary, 2}).ok());
  append(replica, "user.zed", "replica-only");
  ASSERT_TRUE(replica.store->set_node_state({store::Role::Replica, 3}).ok());
  append(master, "user.zed", "two");
  SyncClientOptions o;
  o.no_copyback = true;
  auto c = client(o);
  Status st = c.sync_user("zed");
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(reply_code(st.error()), "IMAP_SYNC_CHECKSUM");
  auto rep = verify(*master.store, peer, {"zed"});
  ASSERT_TRUE(rep.ok());
  EXPECT_FALSE(rep->identical());
  // Without -O the full compare repairs it.
  ASSERT_TRUE(client().sync_user("zed").ok());
  expect_identical({"zed"});
}

TEST_F(Pair, TamperedUploadIsRefused) {
  std::string body = "From: a@example.com\r\nSubject: hi\r\n\r\nhello\r\n";
  std::string guid = mail::MessageGuid::of(body).to_hex();
  std::string tampered = body;
  tampered[body.size() - 3] = 'X';
  FileLiteral f{"default", guid, tampered.size(), true, tampered, ""};
  Value files = Value::list();
  files.push(Value::file(f));
  auto up = peer.call(make_command("APPLY", "MESSAGE", files));
  ASSERT_TRUE(up.ok());
  EXPECT_EQ(final_reply(*up).kind, ReplyKind::Ok);

  MailboxState ms;
  ms.uniqueid = "11111111-2222-3333-4444-555555555555";
  ms.name = "user.mal";
  ms.partition = "default";
  ms.acl = "mal\tlrswipkxtecdan\t";
  ms.uidvalidity = 1650000000;
  ms.last_uid = 1;
  ms.highestmodseq = 2;
  store::MessageRecord rec;
  rec.uid = 1;
  rec.modseq = 2;
  rec.guid = mail::MessageGuid::of(body);
  rec.size = body.size();
  rec.internaldate = rec.last_updated = 1650000000;
  ms.records = {rec};
  ms.crcs = mailbox_crcs(ms.records);
  auto r = peer.call(make_command("APPLY", "MAILBOX", mailbox_to_dlist(ms, true)));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(final_reply(*r).kind, ReplyKind::No);
  EXPECT_EQ(final_reply(*r).code, "IMAP_IOERROR");
  auto recs = replica.store->records("user.mal");
  EXPECT_TRUE(!recs.ok() || recs->empty());

  // The genuine file is accepted.
  f.body = body;
  Value good = Value::list();
  good.push(Value::file(f));
  ASSERT_EQ(final_reply(*peer.call(make_command("APPLY", "MESSAGE", good))).kind, ReplyKind::Ok);
  auto ok = peer.call(make_command("APPLY", "MAILBOX", mailbox_to_dlist(ms, true)));
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(final_reply(*ok).kind, ReplyKind::Ok) << final_reply(*ok).code << " " << final_reply(*ok).text;
  EXPECT_EQ(replica.store->records("user.mal")->size(), 1u);
}

TEST_F(Pair, ProtocolErrorsAnswerWithCyrusCodes) {
  auto r = peer.call(make_command("APPLY", "FROBNICATE", Value::kvlist()));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(final_reply(*r).code, "IMAP_PROTOCOL_ERROR");
  Value missing = Value::kvlist();
  missing.add_str("MBOXNAME", "user.x");
  r = peer.call(make_command("APPLY", "MAILBOX", missing));
  EXPECT_EQ(final_reply(*r).code, "IMAP_PROTOCOL_BAD_PARAMETERS");
  r = peer.call(make_command("GET", "USER", Value::str("nobody")));
  EXPECT_EQ(final_reply(*r).kind, ReplyKind::Ok);
  EXPECT_EQ(r->size(), 1u);
  r = peer.call(SyncCommand{"NOOP", "", {}, ""});
  EXPECT_EQ(final_reply(*r).text, "Noop completed");
  r = peer.call(make_command("APPLY", "UNMAILBOX", Value::str("user.nobody")));
  EXPECT_EQ(final_reply(*r).code, "IMAP_MAILBOX_NONEXISTENT");
}

// The reference's worked exchange (§4.7), replayed into our replica: every
// reply must be the recorded bytes.
TEST(ReplReference, NewUserThenFlagExchangeIsReproducedByteForByte) {
  Node replica("repl_ref");
  ASSERT_TRUE(replica.store->set_node_state({store::Role::Replica, 1}).ok());
  SyncServerSession server(*replica.store, SyncServerOptions{replica.dir + "/stage", {}, "ref"});
  testing::Exchange ex;
  ASSERT_TRUE(testing::load_exchange("new_user_then_flag.exchange", &ex));
  LineFramer framer({}, server.file_sinks());
  std::string_view in = ex.client;
  std::string out;
  while (!in.empty()) {
    size_t n = framer.feed(in);
    in.remove_prefix(n);
    if (!framer.line_ready()) {
      ASSERT_NE(n, 0u);
      continue;
    }
    auto line = framer.take_line();
    ASSERT_TRUE(line.ok()) << line.error().describe();
    auto cmd = parse_command(std::move(*line));
    ASSERT_TRUE(cmd.ok()) << cmd.error().describe();
    for (auto& rep : server.execute(*cmd)) out += *encode_reply(rep);
  }
  // The recording ends with the two failure replies the reference names for
  // the last APPLY MAILBOX; everything before them must match exactly.
  ASSERT_TRUE(ex.server.starts_with(out)) << out;
  EXPECT_EQ(ex.server.substr(out.size()),
            "NO IMAP_SYNC_CHANGED Changed since last sync\r\nNO IMAP_SYNC_CHECKSUM Checksum Failure\r\n");
}

TEST(ReplConversions, FlagBitsRoundTripAndRecordCrcMatchesReference) {
  for (uint32_t bits : std::initializer_list<uint32_t>{0u, store::kFlagSeen, store::kFlagDeleted | store::kFlagAnswered | store::kFlagExpunged,
                        store::kSettableSystemFlags})
    EXPECT_EQ(store_flags_from_wire(wire_flags_from_store(bits)), bits);
  store::MessageRecord r;
  r.uid = 1;
  r.modseq = 4;
  r.last_updated = r.internaldate = r.savedate = 1650000000;
  r.createdmodseq = 4;
  r.flags.system = store::kFlagSeen;
  r.guid = *mail::MessageGuid::from_hex("0bebcde85cb6536dd0c48a93101edfab2dcf5777");
  SyncCrcs c = mailbox_crcs({r});
  EXPECT_EQ(c.basic, 4247692495u);
  EXPECT_EQ(c.annot, 151170125u);
  auto back = record_from_dlist(record_to_dlist(r));
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->uid, r.uid);
  EXPECT_EQ(back->flags, r.flags);
  EXPECT_EQ(back->savedate, r.savedate);
  EXPECT_EQ(back->createdmodseq, r.createdmodseq);
  EXPECT_EQ(options_from_letters(options_to_letters(0xF)), 0xFu);
  EXPECT_EQ(user_inbox_name("j.doe@example.com"), "example.com!user.j^doe");
  EXPECT_EQ(userid_of_inbox("example.com!user.j^doe"), "j.doe@example.com");
  EXPECT_EQ(userid_of_inbox("user.fred.Sent"), "");
}

}  // namespace
}  // namespace cyr::sync

namespace cyr::sync {
namespace {

TEST_F(Pair, RollingCycleReplicatesTheChangeLogAndAcknowledgesIt) {
  Store& m = *master.store;
  ASSERT_TRUE(m.create_mailbox(named("user.rol")).ok());
  ASSERT_TRUE(m.create_mailbox(named("user.rol.A")).ok());
  ASSERT_TRUE(m.create_mailbox(named("shared.news")).ok());
  for (int i = 0; i < 20; ++i) append(master, "user.rol", "r" + std::to_string(i));
  append(master, "shared.news", "n1");
  ASSERT_TRUE(m.subscribe("rol", "user.rol.A", true).ok());
  auto c = client();
  auto res = run_rolling_cycle(m, c);
  ASSERT_TRUE(res.ok()) << res.error().describe();
  EXPECT_TRUE(res->failures.empty());
  EXPECT_GT(res->changes, 0u);
  expect_identical();
  // Coalesced: 20 appends to one mailbox are one mailbox sync.
  auto again = m.read_changes(1000);
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(again->records.empty());

  ASSERT_TRUE(m.rename_mailbox("user.rol.A", "user.rol.B").ok());
  ASSERT_TRUE(m.expunge("user.rol", store::UidSet::range(1, 5)).ok());
  ASSERT_TRUE(m.delete_mailbox("shared.news").ok());
  res = run_rolling_cycle(m, c);
  ASSERT_TRUE(res.ok());
  EXPECT_TRUE(res->failures.empty()) << res->failures.front();
  expect_identical();
  EXPECT_TRUE(replica.store->lookup("user.rol.B").ok());
  EXPECT_FALSE(replica.store->lookup("shared.news").ok());
}

TEST(ReplPlan, CoalescesPerMailboxAndPromotesToUsers) {
  std::vector<store::ChangeRecord> ch;
  auto add = [&](store::ChangeKind k, std::string a, std::string b = "") {
    ch.push_back(store::ChangeRecord{ch.size() + 1, 1, k, std::move(a), std::move(b)});
  };
  for (int i = 0; i < 100; ++i) add(store::ChangeKind::Append, "user.a");
  add(store::ChangeKind::Mailbox, "user.b.X");
  add(store::ChangeKind::Rename, "user.b.X", "user.b.Y");
  add(store::ChangeKind::Seen, "c", "uid");
  add(store::ChangeKind::Sub, "b", "user.b.Y");
  add(store::ChangeKind::Unmailbox, "shared.a");
  add(store::ChangeKind::Unmailbox, "shared.a.b");
  RollingPlan p = plan_rolling_cycle(ch);
  EXPECT_EQ(p.mailboxes, (std::set<std::string>{"user.a"}));
  EXPECT_EQ(p.users, (std::set<std::string>{"b"}));
  EXPECT_EQ(p.metas, (std::set<std::string>{"c"}));
  EXPECT_EQ(p.unmailboxes, (std::vector<std::string>{"shared.a.b", "shared.a"}));
}

}  // namespace
}  // namespace cyr::sync

namespace cyr::sync {
namespace {

TEST_F(Pair, LargeAppendsTravelInBatchesOfConsistentStates) {
  Store& m = *master.store;
  ASSERT_TRUE(m.create_mailbox(named("user.big")).ok());
  for (int i = 0; i < 12; ++i) append(master, "user.big", "b" + std::to_string(i));
  ASSERT_TRUE(client().sync_user("big").ok());
  // Flag an old message, then 35 new ones: 3 partial states + the final one.
  store::StoreFlagsRequest fr;
  fr.uids = store::UidSet::of({2});
  fr.flags.system = store::kFlagFlagged;
  ASSERT_TRUE(m.store_flags("user.big", fr).ok());
  for (int i = 0; i < 35; ++i) append(master, "user.big", "n" + std::to_string(i));
  SyncClientOptions o;
  o.batch_size = 10;
  std::string sent;
  LoopbackPeer recording(server, &sent);
  SyncClient c(*master.store, recording, o);
  ASSERT_TRUE(c.sync_user("big").ok());
  size_t applies = 0;
  for (size_t p = sent.find("APPLY MAILBOX"); p != std::string::npos; p = sent.find("APPLY MAILBOX", p + 1)) ++applies;
  EXPECT_EQ(applies, 4u);
  EXPECT_EQ(c.stats().messages_uploaded, 35u);
  EXPECT_EQ(c.stats().full_syncs, 0u);
  expect_identical({"big"});
}

}  // namespace
}  // namespace cyr::sync

namespace cyr::sync {
namespace {

// Timing of an initial sync in process (no network): run with
// CYR_REPL_BENCH=<messages>. Skipped otherwise.
TEST_F(Pair, BenchInitialSync) {
  const char* n_env = ::getenv("CYR_REPL_BENCH");
  if (!n_env) GTEST_SKIP() << "set CYR_REPL_BENCH=<messages> to run";
  int n = std::atoi(n_env);
  Store& m = *master.store;
  ASSERT_TRUE(m.create_mailbox(named("user.bench")).ok());
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < n; i += 500) {
    store::AppendRequest req;
    req.mailbox = "user.bench";
    for (int j = i; j < std::min(n, i + 500); ++j) {
      store::AppendMessage msg;
      msg.source = store::MessageSource::memory(message("bench" + std::to_string(j), 4000));
      req.messages.push_back(std::move(msg));
    }
    ASSERT_TRUE(m.append(req).ok());
  }
  auto t1 = std::chrono::steady_clock::now();
  auto c = client();
  ASSERT_TRUE(c.sync_user("bench").ok());
  auto t2 = std::chrono::steady_clock::now();
  double secs = std::chrono::duration<double>(t2 - t1).count();
  printf("populate %.2fs; initial sync of %d messages: %.2fs (%.0f msg/s, %.1f MB/s)\n",
         std::chrono::duration<double>(t1 - t0).count(), n, secs, n / secs, c.stats().bytes_uploaded / secs / 1e6);
}


// Steady-state rounds on a large mailbox, one new message each: the full
// path (GET MAILBOXES, every record read and CRC'd here, RESERVE, APPLY
// MESSAGE, APPLY MAILBOX, RESTART) against a known round (APPLY MESSAGE +
// APPLY MAILBOX, the new records only). In-process, so it shows the work per
// round, not the round trips. Alternates the two; prints ms per round.
TEST_F(Pair, BenchSteadyRounds) {
  const char* n_env = ::getenv("CYR_REPL_ROUNDS_BENCH");
  if (!n_env) GTEST_SKIP() << "set CYR_REPL_ROUNDS_BENCH=<messages in the mailbox> to run";
  int n = std::max(1, std::atoi(n_env));
  Store& m = *master.store;
  ASSERT_TRUE(m.create_mailbox(named("user.steady")).ok());
  for (int i = 0; i < n; i += 500) {
    store::AppendRequest req;
    req.mailbox = "user.steady";
    for (int j = i; j < std::min(n, i + 500); ++j) {
      store::AppendMessage msg;
      msg.source = store::MessageSource::memory(message("s" + std::to_string(j), 2000));
      req.messages.push_back(std::move(msg));
    }
    ASSERT_TRUE(m.append(req).ok());
  }
  ReplicaStates states;
  auto c = client();
  c.set_replica_states(&states);
  ASSERT_TRUE(c.sync_mailboxes({"user.steady"}).ok());
  using clock = std::chrono::steady_clock;
  double full = 0, known = 0;
  const int rounds = 40;
  for (int i = 0; i < rounds; ++i) {
    append(master, "user.steady", "r" + std::to_string(i));
    auto t0 = clock::now();
    if (i % 2 == 0) {
      ASSERT_TRUE(c.sync_mailboxes({"user.steady"}).ok());
      ASSERT_TRUE(c.restart().ok());
      full += std::chrono::duration<double, std::milli>(clock::now() - t0).count();
    } else {
      auto r = c.send_known_round({"user.steady"});
      ASSERT_TRUE(r.ok() && r->has_value());
      bool lost = false;
      ASSERT_TRUE(c.receive_round(**r, lost).ok());
      known += std::chrono::duration<double, std::milli>(clock::now() - t0).count();
    }
  }
  printf("mailbox of %d messages: full path %.2f ms/round, known round %.2f ms/round (%d rounds each)\n", n,
         full / (rounds / 2), known / (rounds / 2), rounds / 2);
  expect_identical({"steady"});
}


// Rolling replication's steady state: once a mailbox's replica state is
// recorded, a round goes out without asking (no GET), pipelined, and the
// replica ends up identical; a flag change on an old record takes the same
// kind of round, an expunge the full path.
TEST_F(Pair, KnownRoundsArePipelinedWithoutAskingAndMatchTheFullPath) {
  Store& m = *master.store;
  ASSERT_TRUE(m.create_mailbox(named("user.pip")).ok());
  for (int i = 0; i < 3; ++i) append(master, "user.pip", "p" + std::to_string(i));
  ReplicaStates states;
  std::string sent;
  LoopbackPeer recording(server, &sent);
  SyncClient c(*master.store, recording);
  c.set_replica_states(&states);
  ASSERT_TRUE(c.sync_mailboxes({"user.pip"}).ok());
  ASSERT_TRUE(states.get("user.pip").has_value()) << "the full path records what the replica holds";

  // Two rounds on the wire before either reply is read.
  append(master, "user.pip", "p3");
  append(master, "user.pip", "p4");
  sent.clear();
  auto r1 = c.send_known_round({"user.pip"});
  ASSERT_TRUE(r1.ok()) << r1.error().describe();
  ASSERT_TRUE(r1->has_value());
  append(master, "user.pip", "p5");
  store::StoreFlagsRequest fr;
  fr.uids = store::UidSet::of({1});
  fr.op = store::FlagOp::Add;
  fr.flags.system = store::kFlagFlagged;
  ASSERT_TRUE(m.store_flags("user.pip", fr).ok());
  auto r2 = c.send_known_round({"user.pip"});
  ASSERT_TRUE(r2.ok()) << r2.error().describe();
  ASSERT_TRUE(r2->has_value());
  bool lost = true;
  EXPECT_TRUE(c.receive_round(**r1, lost).ok());
  EXPECT_FALSE(lost);
  auto second = c.receive_round(**r2, lost);
  EXPECT_TRUE(second.ok()) << second.error().describe();
  EXPECT_EQ(sent.find("GET"), std::string::npos) << "no question before a known round";
  EXPECT_EQ(sent.find("RESERVE"), std::string::npos);
  EXPECT_EQ(sent.find("RESTART"), std::string::npos) << "staged files stay for later rounds, dropped in bulk";
  expect_identical({"pip"});
  auto known = states.get("user.pip");
  auto info = m.lookup("user.pip");
  ASSERT_TRUE(known && info.ok());
  EXPECT_EQ(known->highestmodseq, info->highestmodseq);
  EXPECT_EQ(known->last_uid, info->last_uid);
  // A tombstone travels by the full path.
  ASSERT_TRUE(m.expunge("user.pip", store::UidSet::of({2})).ok());
  auto r3 = c.send_known_round({"user.pip"});
  ASSERT_TRUE(r3.ok());
  EXPECT_FALSE(r3->has_value());
  ASSERT_TRUE(c.sync_mailboxes({"user.pip"}).ok());
  expect_identical({"pip"});
}

// Known rounds leave the replica's staged files in place and drop them
// with one RESTART once SyncClient::kRestartAfterFiles have gathered; the
// replica stays identical throughout.
TEST_F(Pair, KnownRoundsDropStagedFilesInBulk) {
  Store& m = *master.store;
  ASSERT_TRUE(m.create_mailbox(named("user.bulk")).ok());
  append(master, "user.bulk", "b");
  ReplicaStates states;
  std::string sent;
  LoopbackPeer recording(server, &sent);
  SyncClient c(*master.store, recording);
  c.set_replica_states(&states);
  ASSERT_TRUE(c.sync_mailboxes({"user.bulk"}).ok());
  const size_t per_round = 100;
  size_t staged = 0;
  bool restarted = false;
  for (int round = 0; round < 4 && !restarted; ++round) {
    for (size_t i = 0; i < per_round; ++i) append(master, "user.bulk", "b" + std::to_string(round) + "-" + std::to_string(i));
    sent.clear();
    auto r = c.send_known_round({"user.bulk"});
    ASSERT_TRUE(r.ok()) << r.error().describe();
    ASSERT_TRUE(r->has_value()) << "round " << round;
    bool lost = false;
    ASSERT_TRUE(c.receive_round(**r, lost).ok());
    restarted = sent.find("RESTART") != std::string::npos;
    if (!restarted) {
      staged += per_round;
      EXPECT_LT(staged, SyncClient::kRestartAfterFiles + per_round);
    } else {
      EXPECT_GE(staged, SyncClient::kRestartAfterFiles) << "dropped only once the bound is reached";
    }
    expect_identical({"bulk"});
  }
  EXPECT_TRUE(restarted) << "a RESTART once " << SyncClient::kRestartAfterFiles << " files were staged";
}

// A recorded state that is wrong (someone else wrote to the replica): the
// replica refuses the round (SINCE_MODSEQ/SINCE_CRC), the state is
// forgotten, and the full path repairs; nothing is lost.
TEST_F(Pair, StaleKnownStateIsRefusedForgottenAndRepairedByTheFullPath) {
  Store& m = *master.store;
  ASSERT_TRUE(m.create_mailbox(named("user.st")).ok());
  append(master, "user.st", "s0");
  ReplicaStates states;
  auto c = client();
  c.set_replica_states(&states);
  ASSERT_TRUE(c.sync_mailboxes({"user.st"}).ok());
  // Another client changes the replica (a flag change arrives by the full path).
  store::StoreFlagsRequest fr;
  fr.uids = store::UidSet::of({1});
  fr.op = store::FlagOp::Add;
  fr.flags.system = store::kFlagSeen;
  ASSERT_TRUE(m.store_flags("user.st", fr).ok());
  ASSERT_TRUE(client().sync_mailboxes({"user.st"}).ok());
  append(master, "user.st", "s1");
  auto r = c.send_known_round({"user.st"});
  ASSERT_TRUE(r.ok() && r->has_value());
  bool lost = false;
  auto st = c.receive_round(**r, lost);
  ASSERT_FALSE(st.ok()) << "the replica must notice the stale SINCE_MODSEQ";
  EXPECT_FALSE(lost);
  EXPECT_EQ(reply_code(st.error()), "IMAP_SYNC_CHANGED");
  EXPECT_FALSE(states.get("user.st").has_value());
  auto again = c.send_known_round({"user.st"});
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(again->has_value()) << "a forgotten mailbox goes the full path";
  ASSERT_TRUE(c.sync_mailboxes({"user.st"}).ok());
  expect_identical({"st"});
}

// A recorded state whose SYNC_CRC is wrong (HIGHESTMODSEQ right): the
// replica compares SINCE_CRC with its own records and refuses the round.
TEST_F(Pair, KnownRoundWithAWrongCrcIsRefused) {
  Store& m = *master.store;
  ASSERT_TRUE(m.create_mailbox(named("user.crc")).ok());
  append(master, "user.crc", "c0");
  ReplicaStates states;
  auto c = client();
  c.set_replica_states(&states);
  ASSERT_TRUE(c.sync_mailboxes({"user.crc"}).ok());
  auto known = states.get("user.crc");
  ASSERT_TRUE(known);
  // The right SINCE_MODSEQ with a wrong SINCE_CRC: refused before applying.
  ReplicaMailbox wrong = *known;
  wrong.crcs.basic ^= 0x5a5a5a5au;
  states.put("user.crc", wrong);
  append(master, "user.crc", "c1");
  auto r = c.send_known_round({"user.crc"});
  ASSERT_TRUE(r.ok() && r->has_value());
  bool lost = false;
  auto st = c.receive_round(**r, lost);
  ASSERT_FALSE(st.ok());
  EXPECT_FALSE(states.get("user.crc").has_value());
  ASSERT_TRUE(c.sync_mailboxes({"user.crc"}).ok());
  expect_identical({"crc"});
}

// A replica whose stored SYNC_CRC pair is wrong (damage, a bug) while its
// records are right still takes known rounds: before refusing SINCE_CRC or
// the CRC after applying, it compares the pair computed from its records.
// Without that, every round and the full path too would be refused until
// cyr_reconstruct ran on the replica.
TEST_F(Pair, AKnownRoundIsTakenWhenOnlyTheReplicasStoredCrcIsWrong) {
  ASSERT_TRUE(master.store->create_mailbox(named("user.kc")).ok());
  for (int i = 0; i < 3; ++i) append(master, "user.kc", "kc" + std::to_string(i));
  ReplicaStates states;
  auto c = client();
  c.set_replica_states(&states);
  ASSERT_TRUE(c.sync_mailboxes({"user.kc"}).ok());
  ASSERT_TRUE(states.get("user.kc").has_value());

  // Off by one in the basic CRC, stamp left valid: only a recomputation
  // can tell.
  auto db = store::shard_db_path(options_for(replica.dir).configdirectory, "user.kc");
  ASSERT_TRUE(db.ok());
  sqlite3* h = nullptr;
  ASSERT_EQ(sqlite3_open(db->c_str(), &h), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(h, "UPDATE mailbox SET sync_crc = (sync_crc + 1) % 4294967296 WHERE name='user.kc'",
                         nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(h);
  auto before = replica.store->lookup("user.kc");
  auto recs = replica.store->records("user.kc", true);
  ASSERT_TRUE(before.ok() && recs.ok());
  ASSERT_NE(before->sync_crc, mailbox_crcs(*recs).basic) << "the test damaged the stored pair";

  append(master, "user.kc", "kc3");
  auto r = c.send_known_round({"user.kc"});
  ASSERT_TRUE(r.ok() && r->has_value());
  bool lost = false;
  Status st = c.receive_round(**r, lost);
  EXPECT_TRUE(st.ok()) << st.error().describe();
  EXPECT_FALSE(lost);
  expect_identical({"kc"});
}

}  // namespace
}  // namespace cyr::sync

namespace cyr::sync {
namespace {

std::string active_script(Store& s, const std::string& user) {
  auto v = s.sieve_scripts(user);
  if (!v.ok()) return "?";
  for (auto& sc : *v)
    if (sc.active) return sc.name;
  return "";
}

// Sieve scripts travel as Cyrus sends them without SIEVE-MAILBOX (reference
// 3.8): APPLY SIEVE for what differs by GUID, UNSIEVE for what is gone,
// ACTIVATE_SIEVE / UNACTIVATE_SIEVE for the active one; the rolling log
// carries a SIEVE change as a META sync.
TEST_F(Pair, SieveScriptsReplicateThroughTheRollingLog) {
  Store& m = *master.store;
  Store& r = *replica.store;
  ASSERT_TRUE(m.create_mailbox(named("user.sv")).ok());
  ASSERT_TRUE(m.put_sieve_script("sv", "main", "require \"fileinto\";\r\nfileinto \"INBOX.x\";\r\n").ok());
  ASSERT_TRUE(m.put_sieve_script("sv", "away", "keep;\r\n").ok());
  ASSERT_TRUE(m.activate_sieve_script("sv", "main").ok());
  auto c = client();
  auto res = run_rolling_cycle(m, c);
  ASSERT_TRUE(res.ok()) << res.error().describe();
  EXPECT_TRUE(res->failures.empty());
  expect_identical({"sv"});
  auto rv = r.sieve_scripts("sv");
  ASSERT_TRUE(rv.ok());
  ASSERT_EQ(rv->size(), 2u);
  EXPECT_EQ((*rv)[1].name, "main");
  EXPECT_EQ((*rv)[1].content, "require \"fileinto\";\r\nfileinto \"INBOX.x\";\r\n");
  EXPECT_EQ(active_script(r, "sv"), "main");
  EXPECT_EQ((*rv)[1].last_update, (*m.sieve_scripts("sv"))[1].last_update);

  // A change of content, another active script, a deletion.
  ASSERT_TRUE(m.put_sieve_script("sv", "away", "discard;\r\n").ok());
  ASSERT_TRUE(m.activate_sieve_script("sv", "away").ok());
  ASSERT_TRUE(m.delete_sieve_script("sv", "main").ok());
  res = run_rolling_cycle(m, c);
  ASSERT_TRUE(res.ok());
  EXPECT_TRUE(res->failures.empty());
  expect_identical({"sv"});
  rv = r.sieve_scripts("sv");
  ASSERT_EQ(rv->size(), 1u);
  EXPECT_EQ((*rv)[0].content, "discard;\r\n");
  EXPECT_EQ(active_script(r, "sv"), "away");

  // Deactivation, and the verifier sees a difference made behind its back.
  ASSERT_TRUE(m.activate_sieve_script("sv", "").ok());
  res = run_rolling_cycle(m, c);
  ASSERT_TRUE(res.ok());
  EXPECT_EQ(active_script(r, "sv"), "");
  ASSERT_TRUE(r.put_sieve_script("sv", "stray", "keep;", WriteMode::Replication).ok());
  auto rep = verify(m, peer, {"sv"});
  ASSERT_TRUE(rep.ok());
  EXPECT_FALSE(rep->identical());
  // A user sync removes it again.
  ASSERT_TRUE(c.sync_user("sv").ok());
  expect_identical({"sv"});
}

TEST_F(Pair, SieveApplyTakesOnlyScriptFilesAndCheckedFields) {
  Store& r = *replica.store;
  auto apply = [&](const char* what, Value v) {
    SyncCommand cmd{"APPLY", what, std::move(v), ""};
    auto out = server.execute(cmd);
    return out.empty() ? ReplyKind::Bad : out.back().kind;
  };
  Value bc = Value::kvlist();
  bc.add_str("USERID", "cy");
  bc.add_str("FILENAME", "main.bc");
  bc.add_date("LAST_UPDATE", 1);
  bc.add_str("CONTENT", "x");
  EXPECT_EQ(apply("SIEVE", bc), ReplyKind::Ok);  // bytecode: answered OK, ignored
  EXPECT_TRUE(r.sieve_scripts("cy")->empty());
  Value sc = Value::kvlist();
  sc.add_str("USERID", "cy");
  sc.add_str("FILENAME", "main.script");
  sc.add_date("LAST_UPDATE", 1650000000);
  sc.add_str("CONTENT", "keep;");
  EXPECT_EQ(apply("SIEVE", sc), ReplyKind::Ok);
  Value act = Value::kvlist();
  act.add_str("USERID", "cy");
  act.add_str("FILENAME", "main.bc");
  EXPECT_EQ(apply("ACTIVATE_SIEVE", act), ReplyKind::Ok);
  EXPECT_EQ(active_script(r, "cy"), "main");
  Value missing = Value::kvlist();
  missing.add_str("USERID", "cy");
  missing.add_str("FILENAME", "x.script");
  EXPECT_NE(apply("SIEVE", missing), ReplyKind::Ok);  // no CONTENT
  Value bad = Value::kvlist();
  bad.add_str("USERID", "cy");
  bad.add_str("FILENAME", "a/b.script");
  bad.add_str("CONTENT", "keep;");
  EXPECT_NE(apply("SIEVE", bad), ReplyKind::Ok);  // a name the store refuses
  Value un = Value::kvlist();
  un.add_str("USERID", "cy");
  un.add_str("FILENAME", "main.script");
  EXPECT_EQ(apply("UNSIEVE", un), ReplyKind::Ok);  // the active one too
  EXPECT_TRUE(r.sieve_scripts("cy")->empty());
  EXPECT_EQ(apply("UNSIEVE", un), ReplyKind::Ok);  // already gone: fine
}


// A failover rejoin (SyncClientOptions::reconcile) after the replica acted
// as a primary on its own: what only it changed comes back instead of being
// overwritten, and both nodes end identical.
TEST_F(Pair, ReconcileCopiesBackTheOldPrimarysUserChanges) {
  Store& m = *master.store;
  Store& r = *replica.store;
  ASSERT_TRUE(m.create_mailbox(named("user.sb")).ok());
  ASSERT_TRUE(m.create_mailbox(named("user.sb.Lists")).ok());
  ASSERT_TRUE(m.put_sieve_script("sb", "main", "keep;\r\n", WriteMode::Normal, 1000).ok());
  ASSERT_TRUE(m.put_sieve_script("sb", "both", "discard;\r\n", WriteMode::Normal, 1000).ok());
  ASSERT_TRUE(m.put_sieve_script("sb", "oursnewer", "keep;\r\n", WriteMode::Normal, 1000).ok());
  ASSERT_TRUE(m.activate_sieve_script("sb", "main").ok());
  ASSERT_TRUE(m.set_seen("sb", "user.sb.Lists", store::SeenState{1000, 2, 1000, "1:2"}).ok());
  ASSERT_TRUE(m.set_seen("sb", "user.sb", store::SeenState{1000, 1, 1000, "1"}).ok());
  ASSERT_TRUE(client().sync_user("sb").ok());
  expect_identical({"sb"});

  // Split brain: the old primary (our replica) takes writes on its own.
  ASSERT_TRUE(r.set_node_state({store::Role::Primary, 2}).ok());
  ASSERT_TRUE(r.subscribe("sb", "user.sb.Lists", true).ok());
  ASSERT_TRUE(r.put_sieve_script("sb", "fromold", "stop;\r\n", WriteMode::Normal, 3000).ok());
  ASSERT_TRUE(r.put_sieve_script("sb", "both", "fileinto \"x\";\r\n", WriteMode::Normal, 3000).ok());
  ASSERT_TRUE(r.put_sieve_script("sb", "oursnewer", "discard;\r\n", WriteMode::Normal, 2000).ok());
  ASSERT_TRUE(r.activate_sieve_script("sb", "fromold").ok());
  ASSERT_TRUE(r.set_seen("sb", "user.sb.Lists", store::SeenState{3000, 3, 3000, "1:3"}).ok());
  ASSERT_TRUE(r.set_seen("sb", "user.sb", store::SeenState{2000, 1, 2000, ""}).ok());
  // Meanwhile on the new primary:
  ASSERT_TRUE(m.put_sieve_script("sb", "oursnewer", "stop;\r\n", WriteMode::Normal, 2500).ok());
  ASSERT_TRUE(m.set_seen("sb", "user.sb", store::SeenState{2500, 1, 2500, "1"}).ok());
  // Back as a replica with the rejoin pending: ordinary replication is held
  // off (it would overwrite all of the above), only the reconcile writes.
  ASSERT_TRUE(r.set_node_state({store::Role::Replica, 3, true}).ok());
  auto held = client().sync_user("sb");
  ASSERT_FALSE(held.ok());
  EXPECT_EQ(held.error().code, Errc::InUse);  // IMAP_MAILBOX_LOCKED: try again later
  EXPECT_EQ(*r.subscriptions("sb"), std::vector<std::string>{"user.sb.Lists"});

  auto c = reconcile_client();
  ASSERT_TRUE(c.sync_all().ok());
  // The subscription, the new script, the later edit of "both", the later
  // seen state on Lists: 4 things taken back.
  EXPECT_EQ(c.stats().meta_copied_back, 4u);
  expect_identical({"sb"});
  EXPECT_EQ(*m.subscriptions("sb"), std::vector<std::string>{"user.sb.Lists"});
  std::map<std::string, std::string> content;
  auto scripts = m.sieve_scripts("sb");
  ASSERT_TRUE(scripts.ok());
  for (auto& sc : *scripts) content[sc.name] = sc.content;
  EXPECT_EQ(content["fromold"], "stop;\r\n");
  EXPECT_EQ(content["both"], "fileinto \"x\";\r\n");
  EXPECT_EQ(content["oursnewer"], "stop;\r\n");  // ours was the later edit
  EXPECT_EQ(content["main"], "keep;\r\n");
  // The active script stays the new primary's (see sync_sieve).
  EXPECT_EQ(active_script(m, "sb"), "main");
  EXPECT_EQ(active_script(r, "sb"), "main");
  EXPECT_EQ(m.get_seen("sb", "user.sb.Lists")->seenuids, "1:3");
  EXPECT_EQ(m.get_seen("sb", "user.sb")->seenuids, "1");  // ours was later

  // Once the rejoin is done, an ordinary user sync makes the replica follow
  // again (it would have overwritten all of the above).
  ASSERT_TRUE(r.set_node_state({store::Role::Replica, 3, false}).ok());
  ASSERT_TRUE(r.subscribe("sb", "user.sb", true, WriteMode::Replication).ok());
  ASSERT_TRUE(client().sync_user("sb").ok());
  EXPECT_EQ(*r.subscriptions("sb"), std::vector<std::string>{"user.sb.Lists"});
  EXPECT_EQ(*m.subscriptions("sb"), std::vector<std::string>{"user.sb.Lists"});
}

// Folders the old primary created while it was cut off exist only there.
// The reconcile copies them here, mail and all (before, they stayed on the
// replica, where the next ordinary user sync deleted them); a folder both
// created under the same name comes back beside ours.
TEST_F(Pair, ReconcileCopiesBackMailboxesOnlyTheOldPrimaryHas) {
  Store& m = *master.store;
  Store& r = *replica.store;
  ASSERT_TRUE(m.create_mailbox(named("user.sc")).ok());
  append(master, "user.sc", "before");
  ASSERT_TRUE(client().sync_user("sc").ok());

  ASSERT_TRUE(r.set_node_state({store::Role::Primary, 2}).ok());
  ASSERT_TRUE(r.create_mailbox(named("user.sc.New")).ok());
  ASSERT_TRUE(r.create_mailbox(named("user.sc.New.Sub")).ok());
  ASSERT_TRUE(r.create_mailbox(named("user.sc.Clash")).ok());
  append(replica, "user.sc.New", "one");
  store::Uid flagged = append(replica, "user.sc.New", "two", store::kFlagFlagged);
  store::Uid gone = append(replica, "user.sc.New", "three");
  ASSERT_TRUE(r.expunge("user.sc.New", store::UidSet::of({gone})).ok());
  append(replica, "user.sc.New.Sub", "four");
  append(replica, "user.sc.Clash", "theirs");
  ASSERT_TRUE(r.set_annotation(store::Annotation{"user.sc.New", "/comment", "", "from the split", 0}).ok());
  // The new primary made a folder of the same name meanwhile.
  ASSERT_TRUE(m.create_mailbox(named("user.sc.Clash")).ok());
  append(master, "user.sc.Clash", "ours");
  std::string new_id = r.lookup("user.sc.New")->uniqueid;
  std::string clash_id = r.lookup("user.sc.Clash")->uniqueid;

  ASSERT_TRUE(r.set_node_state({store::Role::Replica, 3, true}).ok());
  auto c = reconcile_client();
  auto st = c.sync_all();
  ASSERT_TRUE(st.ok()) << st.error().describe();
  EXPECT_EQ(c.stats().mailboxes_copied_back, 3u);
  EXPECT_EQ(c.stats().copied_back, 4u);  // the expunged one travels as a tombstone
  ASSERT_TRUE(r.set_node_state({store::Role::Replica, 3, false}).ok());
  expect_identical({"sc"});

  auto here = m.lookup("user.sc.New");
  ASSERT_TRUE(here.ok());
  EXPECT_EQ(here->uniqueid, new_id);  // the same mailbox, not a copy
  auto recs = m.records("user.sc.New", false);
  ASSERT_TRUE(recs.ok());
  ASSERT_EQ(recs->size(), 2u);
  EXPECT_EQ((*recs)[1].uid, flagged);
  EXPECT_TRUE((*recs)[1].flags.system & store::kFlagFlagged);
  EXPECT_EQ(m.records("user.sc.New.Sub", false)->size(), 1u);
  auto notes = m.annotations("user.sc.New");
  ASSERT_TRUE(notes.ok());
  ASSERT_EQ(notes->size(), 1u);
  EXPECT_EQ((*notes)[0].value, "from the split");
  // Ours keeps the name; theirs sits beside it, on both nodes.
  std::string aside = "user.sc.Clash-" + clash_id.substr(0, 8);
  EXPECT_EQ(m.records("user.sc.Clash", false)->size(), 1u);
  EXPECT_NE(m.lookup("user.sc.Clash")->uniqueid, clash_id);
  EXPECT_EQ(m.lookup(aside)->uniqueid, clash_id);
  EXPECT_EQ(r.lookup(aside)->uniqueid, clash_id);
  EXPECT_EQ(m.read_message(aside, 1)->find("theirs") != std::string::npos, true);

  // An ordinary user sync afterwards deletes nothing.
  ASSERT_TRUE(client().sync_user("sc").ok());
  expect_identical({"sc"});
  EXPECT_EQ(r.records("user.sc.New", false)->size(), 2u);
}

// A user the old primary created while cut off (or never replicated)
// exists only there. The reconcile asks it for its users (GET X-USERS) and
// creates this one here whole: mailboxes, mail, subscriptions, scripts
// (the active one stays active: nothing chose otherwise here), seen state
// and quota.
TEST_F(Pair, ReconcileCopiesBackUsersOnlyTheOldPrimaryHas) {
  Store& m = *master.store;
  Store& r = *replica.store;
  ASSERT_TRUE(m.create_mailbox(named("user.se")).ok());
  ASSERT_TRUE(client().sync_user("se").ok());

  ASSERT_TRUE(r.set_node_state({store::Role::Primary, 2}).ok());
  ASSERT_TRUE(r.create_mailbox(named("user.sf")).ok());
  ASSERT_TRUE(r.create_mailbox(named("user.sf.Work")).ok());
  append(replica, "user.sf", "welcome");
  append(replica, "user.sf.Work", "report");
  ASSERT_TRUE(r.subscribe("sf", "user.sf.Work", true).ok());
  ASSERT_TRUE(r.put_sieve_script("sf", "vacation", "keep;\r\n", WriteMode::Normal, 3000).ok());
  ASSERT_TRUE(r.activate_sieve_script("sf", "vacation").ok());
  ASSERT_TRUE(r.set_seen("sf", "user.sf", store::SeenState{3000, 1, 3000, "1"}).ok());
  ASSERT_TRUE(r.set_quota("user.sf", 2048, std::nullopt).ok());
  ASSERT_TRUE(r.create_mailbox(named("team")).ok());
  append(replica, "team", "shared news");

  ASSERT_TRUE(r.set_node_state({store::Role::Replica, 3, true}).ok());
  auto c = reconcile_client();
  auto st = c.sync_all();
  ASSERT_TRUE(st.ok()) << st.error().describe();
  EXPECT_EQ(c.stats().mailboxes_copied_back, 3u);
  EXPECT_EQ(c.stats().copied_back, 3u);
  ASSERT_TRUE(r.set_node_state({store::Role::Replica, 3, false}).ok());
  expect_identical({"se", "sf"});
  expect_identical();  // and the shared mailbox
  EXPECT_EQ(m.records("team", false)->size(), 1u);

  EXPECT_EQ(m.records("user.sf", false)->size(), 1u);
  EXPECT_EQ(m.records("user.sf.Work", false)->size(), 1u);
  EXPECT_EQ(*m.subscriptions("sf"), std::vector<std::string>{"user.sf.Work"});
  EXPECT_EQ(active_script(m, "sf"), "vacation");
  EXPECT_EQ(active_script(r, "sf"), "vacation");
  EXPECT_EQ(m.get_seen("sf", "user.sf")->seenuids, "1");
  auto q = m.get_quota("user.sf");
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(q->storage_limit_kib, std::optional<uint64_t>(2048));
  ASSERT_TRUE(r.get_quota("user.sf").ok());  // not removed on the old primary
  // A second reconcile finds nothing to take.
  ASSERT_TRUE(r.set_node_state({store::Role::Replica, 3, true}).ok());
  auto again = reconcile_client();
  ASSERT_TRUE(again.sync_all().ok());
  EXPECT_EQ(again.stats().mailboxes_copied_back, 0u);
  EXPECT_EQ(again.stats().meta_copied_back, 0u);
}

// Both nodes created the same user's INBOX while apart (a delivery with
// autocreate on each). The old primary's messages join the new primary's
// INBOX, its folders and user data come over, and its INBOX is replaced.
TEST_F(Pair, ReconcileMergesAnInboxBothNodesCreated) {
  Store& m = *master.store;
  Store& r = *replica.store;
  ASSERT_TRUE(m.create_mailbox(named("user.sg")).ok());
  append(master, "user.sg", "on the new primary");
  ASSERT_TRUE(r.set_node_state({store::Role::Primary, 2}).ok());
  ASSERT_TRUE(r.create_mailbox(named("user.sg")).ok());
  ASSERT_TRUE(r.create_mailbox(named("user.sg.Sub")).ok());
  append(replica, "user.sg", "old one");
  append(replica, "user.sg", "old two", store::kFlagFlagged);
  append(replica, "user.sg.Sub", "old three");
  ASSERT_TRUE(r.put_sieve_script("sg", "s", "keep;\r\n", WriteMode::Normal, 3000).ok());
  ASSERT_TRUE(r.subscribe("sg", "user.sg.Sub", true).ok());
  ASSERT_NE(m.lookup("user.sg")->uniqueid, r.lookup("user.sg")->uniqueid);

  ASSERT_TRUE(r.set_node_state({store::Role::Replica, 3, true}).ok());
  auto c = reconcile_client();
  auto st = c.sync_all();
  ASSERT_TRUE(st.ok()) << st.error().describe();
  ASSERT_TRUE(r.set_node_state({store::Role::Replica, 3, false}).ok());
  expect_identical({"sg"});
  auto recs = m.records("user.sg", false);
  ASSERT_TRUE(recs.ok());
  ASSERT_EQ(recs->size(), 3u);
  EXPECT_TRUE((*recs)[2].flags.system & store::kFlagFlagged);
  EXPECT_NE(m.read_message("user.sg", (*recs)[1].uid)->find("old one"), std::string::npos);
  EXPECT_EQ(r.lookup("user.sg")->uniqueid, m.lookup("user.sg")->uniqueid);
  EXPECT_EQ(m.records("user.sg.Sub", false)->size(), 1u);
  EXPECT_EQ(r.records("user.sg.Sub", false)->size(), 1u);
  EXPECT_EQ(m.sieve_scripts("sg")->size(), 1u);
  EXPECT_EQ(r.sieve_scripts("sg")->size(), 1u);
  EXPECT_EQ(*m.subscriptions("sg"), std::vector<std::string>{"user.sg.Sub"});
}

// A reconcile that stops after merging the INBOX (the link fails) and runs
// again copies nothing twice.
TEST_F(Pair, AnInboxMergeRunTwiceCopiesNothingTwice) {
  Store& m = *master.store;
  Store& r = *replica.store;
  ASSERT_TRUE(m.create_mailbox(named("user.sh")).ok());
  append(master, "user.sh", "ours");
  ASSERT_TRUE(r.set_node_state({store::Role::Primary, 2}).ok());
  ASSERT_TRUE(r.create_mailbox(named("user.sh")).ok());
  append(replica, "user.sh", "theirs one");
  append(replica, "user.sh", "theirs two");
  ASSERT_TRUE(r.set_node_state({store::Role::Replica, 3, true}).ok());
  {
    SyncClientOptions o;
    o.reconcile = true;
    SyncClient c(m, peer, o);
    ASSERT_TRUE(c.merge_remote_inbox("user.sh").ok());  // then the link fails
  }
  EXPECT_EQ(m.records("user.sh", false)->size(), 3u);
  auto c = reconcile_client();
  auto st = c.sync_all();
  ASSERT_TRUE(st.ok()) << st.error().describe();
  EXPECT_EQ(c.stats().copied_back, 0u);
  EXPECT_EQ(m.records("user.sh", false)->size(), 3u);
  ASSERT_TRUE(r.set_node_state({store::Role::Replica, 3, false}).ok());
  expect_identical({"sh"});
}

// The verifier of everything also reports users and shared mailboxes only
// the replica has, which a walk of this node's list cannot see.
TEST_F(Pair, VerifyReportsUsersAndSharedMailboxesOnlyOnTheReplica) {
  Store& m = *master.store;
  Store& r = *replica.store;
  ASSERT_TRUE(m.create_mailbox(named("user.va")).ok());
  ASSERT_TRUE(client().sync_user("va").ok());
  expect_identical();
  ASSERT_TRUE(r.create_mailbox(named("user.vb"), WriteMode::Replication).ok());
  ASSERT_TRUE(r.create_mailbox(named("board"), WriteMode::Replication).ok());
  auto rep = verify(m, peer, {});
  ASSERT_TRUE(rep.ok());
  EXPECT_EQ(rep->differences, (std::vector<std::string>{"board: only on the replica", "user vb: only on the replica"}));
  auto named_only = verify(m, peer, {"va"});  // a verify of named users looks at those only
  ASSERT_TRUE(named_only.ok());
  EXPECT_TRUE(named_only->identical());
}

TEST_F(Pair, GetXUsersListsEveryUserAndSharedMailbox) {
  Store& r = *replica.store;
  ASSERT_TRUE(r.create_mailbox(named("user.ua"), WriteMode::Replication).ok());
  ASSERT_TRUE(r.create_mailbox(named("user.ua.Sub"), WriteMode::Replication).ok());
  ASSERT_TRUE(r.create_mailbox(named("example.com!user.j^b"), WriteMode::Replication).ok());
  ASSERT_TRUE(r.create_mailbox(named("shared"), WriteMode::Replication).ok());
  auto out = server.execute(SyncCommand{"GET", "X-USERS", Value::list(), ""});
  ASSERT_FALSE(out.empty());
  EXPECT_EQ(out.back().kind, ReplyKind::Ok);
  std::set<std::string> users, shared;
  for (auto& item : out) {
    if (item.key == "USER") users.insert(std::string(*(*item.value())->as_str()));
    if (item.key == "SHARED") shared.insert(std::string(*(*item.value())->as_str()));
  }
  EXPECT_EQ(users, (std::set<std::string>{"ua", "j.b@example.com"}));
  EXPECT_EQ(shared, (std::set<std::string>{"shared"}));
}

TEST_F(Pair, GetFetchSieveAnswersOneScriptOrNo) {
  Store& r = *replica.store;
  ASSERT_TRUE(r.put_sieve_script("fs", "main", "keep;\r\n", WriteMode::Replication, 1234).ok());
  auto get = [&](const std::string& file) {
    Value v = Value::kvlist();
    v.add_str("USERID", "fs");
    v.add_str("FILENAME", file);
    return server.execute(SyncCommand{"GET", "FETCH_SIEVE", std::move(v), ""});
  };
  auto out = get("main.script");
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].key, "SIEVE");
  auto v = out[0].value();
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(*(*v)->get_str("CONTENT"), "keep;\r\n");
  EXPECT_EQ(*(*v)->get_date("LAST_UPDATE"), 1234);
  EXPECT_EQ(out[1].kind, ReplyKind::Ok);
  out = get("other.script");
  ASSERT_FALSE(out.empty());
  EXPECT_EQ(out.back().kind, ReplyKind::No);
  EXPECT_EQ(out.back().code, "IMAP_MAILBOX_NONEXISTENT");
  out = get("main.bc");
  ASSERT_FALSE(out.empty());
  EXPECT_EQ(out.back().kind, ReplyKind::No);
}

}  // namespace
}  // namespace cyr::sync
