// Crash test: a child process appends (and sometimes expunges) in a loop
// from several threads, reporting every acknowledged operation over a pipe;
// the parent kills it with SIGKILL at a random moment, reopens the store and
// checks that nothing acknowledged was lost and that the store is consistent.
//
// The child is this same test binary, re-executed with a gtest filter that
// selects StoreCrashChild.Run and an environment variable that enables it.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <thread>

#include "store/sqlite_db.h"
#include "store_test_util.h"

namespace cyr::store {
namespace {

using testing::make_temp_dir;
using testing::options_for;

constexpr const char* kDirEnv = "CYR_STORE_CRASH_DIR";
constexpr const char* kFdEnv = "CYR_STORE_CRASH_FD";
constexpr const char* kSeedEnv = "CYR_STORE_CRASH_SEED";
constexpr int kMailboxes = 3;

std::string mailbox_name(int i) { return "user.c" + std::to_string(i); }

// The child: runs only when re-executed by the parent.
TEST(StoreCrashChild, Run) {
  const char* dir = ::getenv(kDirEnv);
  if (!dir) GTEST_SKIP() << "only run as the crash test's child";
  int fd = std::atoi(::getenv(kFdEnv));
  unsigned seed = static_cast<unsigned>(std::atoi(::getenv(kSeedEnv)));
  auto s = Store::open(options_for(dir));
  ASSERT_TRUE(s.ok()) << s.error().describe();
  Store& store = **s;
  std::mutex out_mu;
  auto report = [&](const std::string& line) {
    std::lock_guard lk(out_mu);
    // One write per line, < PIPE_BUF: atomic; the parent sees whole lines.
    ssize_t n = ::write(fd, line.data(), line.size());
    (void)n;
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 rng(seed * 31 + static_cast<unsigned>(t));
      for (int i = 0;; ++i) {
        std::string box = mailbox_name(static_cast<int>(rng() % kMailboxes));
        if (rng() % 10 == 0) {
          auto recs = store.records(box);
          if (recs.ok() && !recs->empty()) {
            Uid victim = (*recs)[rng() % recs->size()].uid;
            auto e = store.expunge(box, UidSet::of({victim}));
            if (e.ok() && e->expunged.contains(victim))
              report("X " + box + " " + std::to_string(victim) + "\n");
          }
          continue;
        }
        std::string body = testing::message("s" + std::to_string(seed) + "t" + std::to_string(t) + "i" +
                                            std::to_string(i), 100 + rng() % 6000);
        auto r = store.append(testing::one_message(box, body));
        if (!r.ok()) continue;
        report("A " + box + " " + std::to_string(r->uids[0]) + " " +
               mail::MessageGuid::of(body).to_hex() + "\n");
      }
    });
  }
  for (auto& th : threads) th.join();  // never: the parent kills us
}

// The child of RecordCommittedBeforeItsFlushIsCheckedAtOpen: appends one
// message to user.c0 with every flush of a mailbox directory blocked
// forever, after telling the parent ("F") that the batch's flushes have
// started. The primary commits the index alongside those flushes, so the
// record gets committed while the directory entry is not yet durable - the
// moment a power loss would lose the file. The parent kills it there.
TEST(StoreCrashChild, BlockedFlush) {
  const char* dir = ::getenv(kDirEnv);
  if (!dir || !::getenv("CYR_STORE_CRASH_BLOCK")) GTEST_SKIP() << "only run as the crash test's child";
  int fd = std::atoi(::getenv(kFdEnv));
  // CYR_STORE_CRASH_JOURNAL: the message is journaled, and the late flush
  // of its file and directory (after the commit) is what blocks.
  const bool journal = ::getenv("CYR_STORE_CRASH_JOURNAL") != nullptr;
  std::atomic<bool> armed{false};
  StoreOptions opts = options_for(dir);
  // Otherwise the unsynced marks: the path of messages above store_journal_max.
  if (!journal) opts.journal_max = 0;
  opts.fsync_hook = [&](int f) {
    // Only the directories the batch flushes: the mailbox's, under uuid/
    // (with the journal: its files too).
    char target[512] = {0};
    std::string link = "/proc/self/fd/" + std::to_string(f);
    ssize_t len = ::readlink(link.c_str(), target, sizeof target - 1);
    struct stat st;
    if (armed.load() && len > 0 && std::string(target).find("/spool/uuid/") != std::string::npos &&
        ::fstat(f, &st) == 0 && (journal || S_ISDIR(st.st_mode))) {
      ssize_t n = ::write(fd, "F\n", 2);
      (void)n;
      for (;;) ::pause();
    }
    return ::fsync(f);
  };
  auto s = Store::open(opts);
  ASSERT_TRUE(s.ok()) << s.error().describe();
  ASSERT_TRUE((*s)->records("user.c0").ok());  // the shard is opened and checked first
  // An acknowledged append to another mailbox of the shard first: the
  // blocked batch clears its mark in the same transaction.
  if (const char* other = ::getenv("CYR_STORE_CRASH_FIRST"))
    ASSERT_TRUE((*s)->append(testing::one_message(other, testing::message("other"))).ok());
  armed = true;
  auto second = (*s)->append(testing::one_message("user.c0", testing::message("second")));
  if (journal) {
    // Acknowledged at its commit; the late flush stays blocked until the
    // parent kills us.
    EXPECT_TRUE(second.ok());
    (*s)->flush_journal();
  }
  ADD_FAILURE() << "the append's flush returned although it was blocked";
}

struct Acked {
  std::string guid;
  bool expunged = false;
};

TEST(StoreCrash, KillAtRandomPointsLosesNothingAcknowledged) {
  std::string dir = make_temp_dir("crash");
  StoreOptions opts = options_for(dir);
  {
    auto s = Store::open(opts);
    ASSERT_TRUE(s.ok());
    for (int i = 0; i < kMailboxes; ++i) {
      CreateMailboxRequest r;
      r.name = mailbox_name(i);
      ASSERT_TRUE((*s)->create_mailbox(r).ok());
    }
    ASSERT_TRUE((*s)->set_quota(mailbox_name(0), 1u << 30, std::nullopt).ok());
  }
  std::map<std::pair<std::string, Uid>, Acked> acked;
  std::mt19937 rng(20261123);
  const int iterations = 30;
  size_t total_acks = 0;
  for (int it = 0; it < iterations; ++it) {
    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      ::close(fds[0]);
      int devnull = ::open("/dev/null", O_WRONLY);
      if (devnull >= 0) {
        ::dup2(devnull, 1);
        ::dup2(devnull, 2);
      }
      std::string seed = std::to_string(it + 1);
      std::string fd = std::to_string(fds[1]);
      ::setenv(kDirEnv, dir.c_str(), 1);
      ::setenv(kFdEnv, fd.c_str(), 1);
      ::setenv(kSeedEnv, seed.c_str(), 1);
      ::execl("/proc/self/exe", "unit_store", "--gtest_filter=StoreCrashChild.Run", nullptr);
      ::_exit(127);
    }
    ::close(fds[1]);
    // Let it run a random while (startup takes part of it), then kill.
    ::usleep(100000 + rng() % 400000);
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    ASSERT_TRUE(WIFSIGNALED(status)) << "child exited by itself, status " << status;
    std::string data;
    char buf[65536];
    for (;;) {
      ssize_t n = ::read(fds[0], buf, sizeof buf);
      if (n <= 0) break;
      data.append(buf, static_cast<size_t>(n));
    }
    ::close(fds[0]);
    std::istringstream in(data);
    std::string line;
    while (std::getline(in, line)) {
      if (in.eof()) break;  // an incomplete last line was not fully reported
      std::istringstream ls(line);
      std::string kind, box;
      Uid uid = 0;
      ls >> kind >> box >> uid;
      if (kind == "A") {
        std::string guid;
        ls >> guid;
        acked[{box, uid}] = Acked{guid, false};
      } else if (kind == "X") {
        acked[{box, uid}].expunged = true;
      }
      ++total_acks;
    }

    // Reopen as after a crash and check everything acknowledged.
    auto s = Store::open(opts);
    ASSERT_TRUE(s.ok()) << "iteration " << it << ": " << s.error().describe();
    Store& store = **s;
    uint64_t live_bytes_total = 0, live_total = 0;
    for (int i = 0; i < kMailboxes; ++i) {
      std::string box = mailbox_name(i);
      auto info = store.lookup(box);
      ASSERT_TRUE(info.ok());
      auto recs = store.records(box, true);
      ASSERT_TRUE(recs.ok()) << recs.error().describe();
      std::map<Uid, MessageRecord> by_uid;
      uint64_t live = 0, bytes = 0;
      for (auto& r : *recs) {
        by_uid[r.uid] = r;
        EXPECT_LE(r.uid, info->last_uid);
        EXPECT_LE(r.modseq, info->highestmodseq);
        if (r.expunged()) continue;
        ++live;
        bytes += r.size;
        // No record without its file, and the file is the message.
        auto bytes_on_disk = store.read_message(box, r.uid);
        ASSERT_TRUE(bytes_on_disk.ok()) << box << " uid " << r.uid << " has no file";
        EXPECT_EQ(mail::MessageGuid::of(*bytes_on_disk), r.guid) << box << " uid " << r.uid;
        EXPECT_EQ(bytes_on_disk->size(), r.size);
      }
      EXPECT_EQ(info->exists, live) << box;
      EXPECT_EQ(info->total_size, bytes) << box;
      if (i == 0) {
        auto q = store.get_quota(box);
        ASSERT_TRUE(q.ok());
        EXPECT_EQ(q->message_used, live);
        EXPECT_EQ(q->storage_used_bytes, bytes);
      }
      live_total += live;
      live_bytes_total += bytes;
    }
    for (auto& [key, a] : acked) {
      auto rec = store.record(key.first, key.second);
      ASSERT_TRUE(rec.ok()) << "acknowledged " << key.first << " uid " << key.second << " lost";
      if (!a.guid.empty()) {
        EXPECT_EQ(rec->guid.to_hex(), a.guid);
      }
      if (a.expunged) {
        EXPECT_TRUE(rec->expunged());
      }
    }
    (void)live_total;
    (void)live_bytes_total;
  }
  std::printf("crash test: %d kills, %zu acknowledged operations checked\n", iterations, total_acks);
  EXPECT_GT(total_acks, 100u) << "the child did too little work for the test to mean much";
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}

// What the parent does to the message file before "power comes back".
enum class FileFate { Lost, Damaged, Intact };

// One crash between the index commit and the end of the flushes, then the
// open after it: a record whose file is missing or damaged is expunged (its
// append was never acknowledged) with counters, quota and the mailbox's
// unsynced mark consistent; an intact one is kept. Either way its UID stays used.
// Runs StoreCrashChild.BlockedFlush on `dir` and waits (bounded) until its
// append to user.c0 is committed while its directory flush is blocked, as
// `committed_sql` (a count that is 1 then, on the shard database) shows.
// The returned reaper kills the child on every way out. `first`: a mailbox
// the child appends to (acknowledged) before the blocked append.
struct BlockedChild {
  pid_t pid = -1;
  bool done = false;
  void kill() {
    if (done || pid <= 0) return;
    done = true;
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
  }
  ~BlockedChild() { kill(); }
};

void start_blocked_child(const std::string& dir, const char* first, const std::string& committed_sql,
                         BlockedChild* child, std::string* shard_db, bool journal = false) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::close(fds[0]);
    int devnull = ::open("/dev/null", O_WRONLY);
    if (devnull >= 0) {
      ::dup2(devnull, 1);
      ::dup2(devnull, 2);
    }
    std::string fd = std::to_string(fds[1]);
    ::setenv(kDirEnv, dir.c_str(), 1);
    ::setenv(kFdEnv, fd.c_str(), 1);
    ::setenv("CYR_STORE_CRASH_BLOCK", "1", 1);
    if (first) ::setenv("CYR_STORE_CRASH_FIRST", first, 1);
    if (journal) ::setenv("CYR_STORE_CRASH_JOURNAL", "1", 1);
    ::execl("/proc/self/exe", "unit_store", "--gtest_filter=StoreCrashChild.BlockedFlush", nullptr);
    ::_exit(127);
  }
  ::close(fds[1]);
  // Killed on every way out, failed assertions included: the child blocks
  // forever by design.
  child->pid = pid;
  // Wait (bounded) for the child's batch to reach its flushes.
  struct pollfd pfd{fds[0], POLLIN, 0};
  char c = 0;
  const bool flushing = ::poll(&pfd, 1, 60000) == 1 && ::read(fds[0], &c, 1) == 1 && c == 'F';
  ::close(fds[0]);
  ASSERT_TRUE(flushing) << "the child never reached its flush";
  // Then for its commit, which runs alongside the blocked flush.
  for (auto& e : std::filesystem::recursive_directory_iterator(std::filesystem::path(dir) / "conf" / "shards"))
    if (e.path().extension() == ".db") *shard_db = e.path().string();
  ASSERT_FALSE(shard_db->empty());
  bool committed = false;
  {
    auto db = sql::Db::open(*shard_db, false);
    ASSERT_TRUE(db.ok()) << db.error().describe();
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (!committed && std::chrono::steady_clock::now() < deadline) {
      auto q = (*db)->prepare(committed_sql);
      ASSERT_TRUE(q.ok()) << q.error().describe();
      auto r = q->step();
      committed = r.ok() && *r && q->i64(0) == 1;
      if (!committed) ::usleep(10000);
    }
  }
  ASSERT_TRUE(committed) << "the child's commit never became visible";
}

// The number of mailboxes of a shard with an unsynced mark.
int64_t marked_mailboxes(const std::string& shard_db) {
  auto db = sql::Db::open(shard_db, false);
  if (!db.ok()) return -1;
  auto n = (*db)->prepare("SELECT count(*) FROM mailbox WHERE unsynced_uid IS NOT NULL");
  if (!n.ok()) return -1;
  auto r = n->step();
  return r.ok() && *r ? n->i64(0) : -1;
}

// A store in `dir` with user.c0 (quota 1 MiB) holding `first` as UID 1.
void create_c0_with(const StoreOptions& opts, const std::string& first) {
  auto s = Store::open(opts);
  ASSERT_TRUE(s.ok());
  ASSERT_TRUE((*s)->create_mailbox(testing::named("user.c0")).ok());
  ASSERT_TRUE((*s)->set_quota("user.c0", 1u << 20, std::nullopt).ok());
  ASSERT_TRUE((*s)->append(testing::one_message("user.c0", first)).ok());
}

// Leaves user.c0's message file "2." (holding `second`) as a power loss
// could leave it.
void leave_second_file(const std::string& dir, FileFate fate, const std::string& second) {
  std::filesystem::path file;
  for (auto& e : std::filesystem::recursive_directory_iterator(std::filesystem::path(dir) / "spool" / "uuid"))
    if (e.path().filename() == "2.") file = e.path();
  ASSERT_FALSE(file.empty());
  if (fate == FileFate::Lost) {
    std::filesystem::remove(file);
  } else if (fate == FileFate::Damaged) {
    // Same size, other bytes: blocks allocated but never written.
    std::string zeros(second.size(), '\0');
    std::filesystem::remove(file);
    std::ofstream(file, std::ios::binary) << zeros;
  }
}

// The common part of the single-crash tests: user.c0 holds `first` (UID 1);
// the blocked child appends `second` (UID 2) until `committed_sql` shows
// its commit; the file is left as `fate` and the child killed.
struct CrashedC0 {
  std::string dir, shard_db;
  StoreOptions opts;
  std::string first = testing::message("first"), second = testing::message("second");
  std::filesystem::path file;  // UID 2's file
};
void crash_c0(const char* tag, FileFate fate, const std::string& committed_sql, bool journal, CrashedC0& c) {
  c.dir = make_temp_dir(tag);
  c.opts = options_for(c.dir);
  create_c0_with(c.opts, c.first);
  if (::testing::Test::HasFatalFailure()) return;
  BlockedChild kill_child;
  start_blocked_child(c.dir, nullptr, committed_sql, &kill_child, &c.shard_db, journal);
  if (::testing::Test::HasFatalFailure()) return;
  for (auto& e : std::filesystem::recursive_directory_iterator(std::filesystem::path(c.dir) / "spool" / "uuid"))
    if (e.path().filename() == "2.") c.file = e.path();
  leave_second_file(c.dir, fate, c.second);
}

void crash_between_commit_and_flush(FileFate fate) {
  CrashedC0 c;
  crash_c0("crashflush", fate,
           "SELECT count(*) FROM record r JOIN mailbox m ON m.mbid = r.mbid WHERE r.uid = 2 AND m.unsynced_uid = 2",
           /*journal=*/false, c);
  if (::testing::Test::HasFatalFailure()) return;
  const std::string &dir = c.dir, &shard_db = c.shard_db, &first = c.first, &second = c.second;
  const std::filesystem::path& file = c.file;
  const StoreOptions& opts = c.opts;

  auto s = Store::open(opts);
  ASSERT_TRUE(s.ok()) << s.error().describe();
  Store& store = **s;
  auto info = store.lookup("user.c0");
  ASSERT_TRUE(info.ok());
  auto recs = store.records("user.c0", true);
  ASSERT_TRUE(recs.ok()) << recs.error().describe();
  const bool kept = fate == FileFate::Intact;
  // A removed record stays as a tombstone with a new modseq: a session may
  // have seen it before the crash, and QRESYNC must report it as vanished.
  ASSERT_EQ(recs->size(), 2u);
  EXPECT_EQ((*recs)[0].uid, 1u);
  EXPECT_EQ((*recs)[1].uid, 2u);
  EXPECT_EQ((*recs)[1].expunged(), !kept);
  EXPECT_EQ(*store.read_message("user.c0", 1), first);
  if (kept) EXPECT_EQ(*store.read_message("user.c0", 2), second);
  if (!kept) {
    EXPECT_GT((*recs)[1].modseq, (*recs)[0].modseq);
    EXPECT_EQ(info->highestmodseq, (*recs)[1].modseq);
    auto ch = store.changes_since("user.c0", (*recs)[0].modseq);
    ASSERT_TRUE(ch.ok());
    EXPECT_TRUE(ch->expunged.contains(2));
  }
  EXPECT_EQ(info->exists, kept ? 2u : 1u);
  EXPECT_EQ(info->total_size, first.size() + (kept ? second.size() : 0));
  EXPECT_EQ(info->last_uid, 2u);
  auto q = store.get_quota("user.c0");
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(q->message_used, kept ? 2u : 1u);
  EXPECT_EQ(q->storage_used_bytes, first.size() + (kept ? second.size() : 0));
  if (!kept) EXPECT_FALSE(std::filesystem::exists(file));
  // The mark was settled, and the UID is not handed out again.
  EXPECT_EQ(marked_mailboxes(shard_db), 0);
  auto next = store.append(testing::one_message("user.c0", testing::message("third")));
  ASSERT_TRUE(next.ok()) << next.error().describe();
  EXPECT_EQ(next->uids[0], 3u);
  s->reset();
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}

// The mark's own cases: the blocked batch cleared another mailbox's mark
// (its append acknowledged just before) in the transaction that set this
// one, and a secondary process (which checked the shard before the mark was
// set) added a record above the mark, in strict order, before the crash.
// After it: the lost record is a tombstone, the record above it and the
// other mailbox's are kept with their bytes, and no mark is left.
TEST(StoreCrash, MarkCoversOnlyUnflushedRecordsAndKeepsAStrictWriteAboveIt) {
  std::string dir = make_temp_dir("crashmark");
  StoreOptions opts = options_for(dir);
  const std::string first = testing::message("first"), other = testing::message("other"),
                    second = testing::message("second"), third = testing::message("third", 300);
  {
    auto s = Store::open(opts);
    ASSERT_TRUE(s.ok());
    ASSERT_TRUE((*s)->create_mailbox(testing::named("user.c0")).ok());
    ASSERT_TRUE((*s)->create_mailbox(testing::named("user.c0.Sent")).ok());
    ASSERT_TRUE((*s)->append(testing::one_message("user.c0", first)).ok());
  }
  StoreOptions sopts = opts;
  sopts.open_mode = OpenMode::Secondary;
  auto secondary = Store::open(sopts);
  ASSERT_TRUE(secondary.ok()) << secondary.error().describe();
  ASSERT_TRUE((*secondary)->records("user.c0").ok());  // its check of the shard: nothing marked
  BlockedChild kill_child;
  std::string shard_db;
  start_blocked_child(dir, "user.c0.Sent",
                      "SELECT (SELECT count(*) FROM record r JOIN mailbox m ON m.mbid = r.mbid"
                      " WHERE m.name = 'user.c0' AND r.uid = 2 AND m.unsynced_uid = 2) *"
                      " (SELECT count(*) FROM mailbox WHERE name = 'user.c0.Sent' AND unsynced_uid IS NULL)",
                      &kill_child, &shard_db);
  if (::testing::Test::HasFatalFailure()) return;
  EXPECT_EQ(marked_mailboxes(shard_db), 1);
  auto third_uid = (*secondary)->append(testing::one_message("user.c0", third));
  ASSERT_TRUE(third_uid.ok()) << third_uid.error().describe();
  EXPECT_EQ(third_uid->uids[0], 3u);
  std::filesystem::path lost;
  for (auto& e : std::filesystem::recursive_directory_iterator(std::filesystem::path(dir) / "spool" / "uuid"))
    if (e.path().filename() == "2.") lost = e.path();
  ASSERT_FALSE(lost.empty());
  std::filesystem::remove(lost);
  kill_child.kill();
  secondary->reset();

  auto s = Store::open(opts);
  ASSERT_TRUE(s.ok()) << s.error().describe();
  Store& store = **s;
  auto recs = store.records("user.c0", true);
  ASSERT_TRUE(recs.ok()) << recs.error().describe();
  ASSERT_EQ(recs->size(), 3u);
  EXPECT_FALSE((*recs)[0].expunged());
  EXPECT_TRUE((*recs)[1].expunged());
  EXPECT_FALSE((*recs)[2].expunged());
  EXPECT_EQ(*store.read_message("user.c0", 1), first);
  EXPECT_EQ(*store.read_message("user.c0", 3), third);
  auto info = store.lookup("user.c0");
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->exists, 2u);
  EXPECT_EQ(info->total_size, first.size() + third.size());
  EXPECT_EQ(info->last_uid, 3u);
  auto sent = store.records("user.c0.Sent", true);
  ASSERT_TRUE(sent.ok());
  ASSERT_EQ(sent->size(), 1u);
  EXPECT_FALSE((*sent)[0].expunged());
  EXPECT_EQ(*store.read_message("user.c0.Sent", 1), other);
  EXPECT_EQ(marked_mailboxes(shard_db), 0);
  auto next = store.append(testing::one_message("user.c0", testing::message("fourth")));
  ASSERT_TRUE(next.ok()) << next.error().describe();
  EXPECT_EQ(next->uids[0], 4u);
  s->reset();
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}

TEST(StoreCrash, RecordCommittedBeforeItsFileReachedTheDiskIsRemovedAtOpen) {
  crash_between_commit_and_flush(FileFate::Lost);
}

TEST(StoreCrash, RecordCommittedBeforeItsFlushWithDamagedFileIsRemovedAtOpen) {
  crash_between_commit_and_flush(FileFate::Damaged);
}

TEST(StoreCrash, RecordCommittedBeforeItsFlushWithIntactFileIsKeptAtOpen) {
  crash_between_commit_and_flush(FileFate::Intact);
}

// A journaled message (at most store_journal_max bytes) is acknowledged at
// its commit, before its file and directory entry are flushed. A crash
// before the late flush, whatever it leaves of the file, loses nothing:
// the open restores the file from the shard's body journal.
void crash_before_late_flush(FileFate fate) {
  CrashedC0 c;
  crash_c0("crashjournal", fate,
           "SELECT (SELECT count(*) FROM record WHERE uid = 2) * (SELECT count(*) FROM body_journal)",
           /*journal=*/true, c);
  if (::testing::Test::HasFatalFailure()) return;
  const std::string &dir = c.dir, &shard_db = c.shard_db, &first = c.first, &second = c.second;
  const StoreOptions& opts = c.opts;

  auto s = Store::open(opts);
  ASSERT_TRUE(s.ok()) << s.error().describe();
  Store& store = **s;
  auto recs = store.records("user.c0", true);
  ASSERT_TRUE(recs.ok()) << recs.error().describe();
  ASSERT_EQ(recs->size(), 2u);
  EXPECT_FALSE((*recs)[1].expunged());
  EXPECT_EQ(*store.read_message("user.c0", 1), first);
  EXPECT_EQ(*store.read_message("user.c0", 2), second);
  auto info = store.lookup("user.c0");
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->exists, 2u);
  EXPECT_EQ(info->total_size, first.size() + second.size());
  auto q = store.get_quota("user.c0");
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(q->message_used, 2u);
  // The journal is settled at the first use, and nothing is marked.
  {
    auto db = sql::Db::open(shard_db, false);
    ASSERT_TRUE(db.ok());
    auto n = (*db)->prepare("SELECT count(*) FROM body_journal");
    ASSERT_TRUE(n.ok());
    auto r = n->step();
    ASSERT_TRUE(r.ok() && *r);
    EXPECT_EQ(n->i64(0), 0);
  }
  EXPECT_EQ(marked_mailboxes(shard_db), 0);
  auto next = store.append(testing::one_message("user.c0", testing::message("third")));
  ASSERT_TRUE(next.ok()) << next.error().describe();
  EXPECT_EQ(next->uids[0], 3u);
  s->reset();
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}

TEST(StoreCrash, JournaledMessageWhoseFileWasLostIsRestoredAtOpen) { crash_before_late_flush(FileFate::Lost); }

TEST(StoreCrash, JournaledMessageWhoseFileWasDamagedIsRestoredAtOpen) {
  crash_before_late_flush(FileFate::Damaged);
}

TEST(StoreCrash, JournaledMessageWithIntactFileIsKeptAtOpen) { crash_before_late_flush(FileFate::Intact); }

}  // namespace
}  // namespace cyr::store
