// store_bench: durable append throughput, record read time, mailbox-list
// scale. Prints measured numbers; run with --quick for a small run. Numbers
// are noisy on a shared machine.
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "store/store.h"

using namespace cyr::store;
using Clock = std::chrono::steady_clock;

namespace {

// The 1-minute load average, printed beside each figure: the machine is
// shared, and a figure means little without the load it was taken under.
std::string load_note() {
  double l[1] = {0};
  if (::getloadavg(l, 1) != 1) return "";
  char buf[32];
  std::snprintf(buf, sizeof buf, "  [load %.2f]", l[0]);
  return buf;
}

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

StoreOptions options_for(const std::string& dir) {
  StoreOptions o;
  o.configdirectory = std::filesystem::path(dir) / "conf";
  o.partitions["default"] = std::filesystem::path(dir) / "spool";
  return o;
}

std::string message_4k(int n) {
  std::string m = "From: bench@example.com\r\nTo: u@example.com\r\nSubject: bench " + std::to_string(n) +
                  "\r\n\r\n";
  while (m.size() < 4096) m += "0123456789 abcdefghijklmnopqrstuvwxyz 0123456789 ABCDEFGHIJKLMN\r\n";
  m.resize(4094);
  m += "\r\n";
  return m;
}

void die(const char* what, const cyr::Error& e) {
  std::fprintf(stderr, "store_bench: %s: %s\n", what, e.describe().c_str());
  std::exit(1);
}

void create(Store& s, const std::string& name) {
  CreateMailboxRequest r;
  r.name = name;
  auto m = s.create_mailbox(r);
  if (!m.ok()) die("create", m.error());
}

// Appends `per_writer` messages from each of `writers` threads; mailbox(t)
// names the target of thread t.
double append_rate(Store& s, int writers, int per_writer,
                   const std::function<std::string(int)>& mailbox) {
  std::atomic<int> failures{0};
  auto t0 = Clock::now();
  std::vector<std::thread> ts;
  for (int t = 0; t < writers; ++t) {
    ts.emplace_back([&, t] {
      for (int i = 0; i < per_writer; ++i) {
        AppendRequest r;
        r.mailbox = mailbox(t);
        r.messages.push_back(AppendMessage{MessageSource::memory(message_4k(i)), {}, 0});
        if (!s.append(r).ok()) failures++;
      }
    });
  }
  for (auto& t : ts) t.join();
  double secs = seconds_since(t0);
  if (failures) std::fprintf(stderr, "  %d appends failed\n", failures.load());
  return writers * per_writer / secs;
}

}  // namespace

int main(int argc, char** argv) {
  bool quick = false;
  std::string base = "/tmp";
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--quick")) quick = true;
    else if (!std::strcmp(argv[i], "--dir") && i + 1 < argc) base = argv[++i];
    else {
      std::fprintf(stderr, "usage: store_bench [--quick] [--dir DIR]\n");
      return 2;
    }
  }
  std::string tmpl = base + "/store_bench_XXXXXX";
  if (!::mkdtemp(tmpl.data())) {
    std::perror("mkdtemp");
    return 1;
  }
  const std::string dir = tmpl;
  const int per_writer_1 = quick ? 200 : 2000;
  const int per_writer_16 = quick ? 50 : 500;
  const int big_mailbox = quick ? 10000 : 100000;
  const int users = quick ? 10000 : 100000;
  const int folders_per_user = 10;
  // Line-buffered so that each figure is visible as soon as it is measured.
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  std::printf("store_bench (%s) in %s\n", quick ? "quick" : "full", dir.c_str());

  {
    auto s = Store::open(options_for(dir + "/a"));
    if (!s.ok()) die("open", s.error());
    Store& st = **s;
    create(st, "user.one");
    for (int u = 0; u < 16; ++u) create(st, "user.w" + std::to_string(u));
    double r1 = append_rate(st, 1, per_writer_1, [](int) { return std::string("user.one"); });
    std::printf("durable 4 KiB appends/s, 1 writer, 1 mailbox:        %8.0f%s\n", r1, load_note().c_str());
    double r16 = append_rate(st, 16, per_writer_16, [](int) { return std::string("user.one"); });
    std::printf("durable 4 KiB appends/s, 16 writers, 1 mailbox:      %8.0f%s\n", r16, load_note().c_str());
    double r16u = append_rate(st, 16, per_writer_16, [](int t) { return "user.w" + std::to_string(t); });
    std::printf("durable 4 KiB appends/s, 16 writers, 16 users:       %8.0f%s\n", r16u, load_note().c_str());
  }

  {
    // A big mailbox, filled with batched appends (100 messages per call).
    std::string sdir = dir + "/b";
    {
      auto s = Store::open(options_for(sdir));
      if (!s.ok()) die("open", s.error());
      create(**s, "user.big");
      auto t0 = Clock::now();
      for (int done = 0; done < big_mailbox; done += 100) {
        AppendRequest r;
        r.mailbox = "user.big";
        for (int i = 0; i < 100; ++i)
          r.messages.push_back(AppendMessage{MessageSource::memory(message_4k(done + i)), {}, 0});
        auto a = (*s)->append(r);
        if (!a.ok()) die("append", a.error());
      }
      std::printf("fill %d-message mailbox (batches of 100):      %8.2f s%s\n", big_mailbox, seconds_since(t0),
                  load_note().c_str());
    }
    auto t0 = Clock::now();
    auto s = Store::open(options_for(sdir));
    if (!s.ok()) die("open", s.error());
    auto recs = (*s)->records("user.big");
    if (!recs.ok()) die("records", recs.error());
    uint64_t sum = 0;
    for (auto& r : *recs) sum += r.uid + r.flags.system + r.size;
    double ms = seconds_since(t0) * 1000;
    std::printf("open store + read %zu records (uid, flags, size): %8.1f ms (checksum %llu)%s\n",
                recs->size(), ms, static_cast<unsigned long long>(sum), load_note().c_str());
    auto t1 = Clock::now();
    auto again = (*s)->records("user.big");
    std::printf("read %zu records again (warm):                   %8.1f ms%s\n", again->size(),
                seconds_since(t1) * 1000, load_note().c_str());
  }

  {
    auto s = Store::open(options_for(dir + "/c"));
    if (!s.ok()) die("open", s.error());
    auto t0 = Clock::now();
    std::vector<CreateMailboxRequest> batch;
    for (int u = 0; u < users; ++u) {
      std::string top = "user.u" + std::to_string(u);
      CreateMailboxRequest r;
      r.name = top;
      batch.push_back(r);
      for (int f = 1; f < folders_per_user; ++f) {
        r.name = top + ".folder" + std::to_string(f);
        batch.push_back(r);
      }
      if (batch.size() >= 10000) {
        auto st = (*s)->create_mailboxes(batch);
        if (!st.ok()) die("create_mailboxes", st.error());
        batch.clear();
      }
    }
    if (!batch.empty()) {
      auto st = (*s)->create_mailboxes(batch);
      if (!st.ok()) die("create_mailboxes", st.error());
    }
    std::printf("create %d mailboxes (%d users x %d, batches of 10000): %6.2f s%s\n",
                users * folders_per_user, users, folders_per_user, seconds_since(t0), load_note().c_str());
    std::string who = "user.u" + std::to_string(users / 2);
    auto t1 = Clock::now();
    auto l = (*s)->list(who + "*");
    double ms = seconds_since(t1) * 1000;
    if (!l.ok()) die("list", l.error());
    std::printf("list one user's folders (%zu) among %d:        %8.3f ms%s\n", l->size(),
                users * folders_per_user, ms, load_note().c_str());
  }

  struct rusage ru;
  ::getrusage(RUSAGE_SELF, &ru);
  std::printf("peak RSS: %ld MiB\n", ru.ru_maxrss / 1024);
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  return 0;
}
