#include "store/spool.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string_view>
#include <optional>
#include <system_error>
#include <thread>

#include "store/base/thread_name.h"
#include "store/mail/message.h"

namespace cyr::store {

namespace fs = std::filesystem;

namespace {

Error io_error(const char* what, const std::string& path, int err) {
  // Out of file descriptors (this process's limit or the system's) is a
  // shortage that passes, not a failing disk: Temp, which the caller reports
  // as a temporary failure, where Io would fence the store and hand over.
  if (err == EMFILE || err == ENFILE)
    return Error(Errc::Temp, "Too many open files, try again later",
                 std::string(what) + " " + path + ": " + std::strerror(err));
  // A full disk refuses a write or a create cleanly: nothing reached the
  // store, and the next write may succeed once space is freed, so it does
  // not fence. A flush that fails for lack of space lost data the kernel
  // had accepted (delayed allocation): that stays Io, and fences.
  if ((err == ENOSPC || err == EDQUOT) && std::string_view(what).find("sync") == std::string_view::npos)
    return Error(Errc::NoSpace, kNoSpaceMessage, std::string(what) + " " + path + ": " + std::strerror(err));
  return Error(Errc::Io, "Mailbox store I/O error",
               std::string(what) + " " + path + ": " + std::strerror(err));
}

std::atomic<uint64_t> g_stage_counter{0};

// Staging files go to {partition}/stage./<pid>-<generation>/<n>, a new
// generation directory every kFilesPerStageDir files. `stage.` carries
// ext4's top-directory flag (spread_subdirectories), so each generation is
// placed like a top-level directory, in a block group of its own, and a new
// file's inode is allocated there. In one fixed directory every append's
// inode came from the same group; after a mass deletion near it (cyr_expire,
// a deleted mailbox, a replica's cleanup) each creation scanned the group's
// recently freed inodes (ext4 without a journal; docs/performance.md).
constexpr uint64_t kFilesPerStageDir = 4096;

std::string stage_generation_name(uint64_t generation) {
  return std::to_string(::getpid()) + "-" + std::to_string(generation);
}

// Makes a generation directory (and `stage.` with its flag, the first
// time), and removes the one two generations back: its files were linked
// or removed long ago. Best effort for the flag and the removal.
Status make_stage_dir(const fs::path& dir, uint64_t generation) {
  if (::mkdir(dir.c_str(), 0750) != 0) {
    if (errno == EEXIST) return {};
    if (errno != ENOENT) return io_error("mkdir", dir.string(), errno);
    (void)spread_subdirectories(dir.parent_path());  // creates it; the flag only helps ext4
    if (::mkdir(dir.c_str(), 0750) != 0 && errno != EEXIST) return io_error("mkdir", dir.string(), errno);
  }
  if (generation >= 2) (void)::rmdir((dir.parent_path() / stage_generation_name(generation - 2)).c_str());
  return {};
}

// Reads a whole file (bounded by max) into memory.
Result<std::string> read_file(int fd, const std::string& path, size_t max) {
  struct stat st;
  if (fstat(fd, &st) != 0) return io_error("fstat", path, errno);
  if (static_cast<uint64_t>(st.st_size) > max)
    return Error(Errc::TooBig, "Message too large", path);
  std::string out(static_cast<size_t>(st.st_size), '\0');
  size_t got = 0;
  while (got < out.size()) {
    ssize_t n = ::pread(fd, out.data() + got, out.size() - got, static_cast<off_t>(got));
    if (n < 0) {
      if (errno == EINTR) continue;
      return io_error("read", path, errno);
    }
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  out.resize(got);
  return out;
}

Status write_all(int fd, std::string_view data, const std::string& path) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return io_error("write", path, errno);
    }
    done += static_cast<size_t>(n);
  }
  return {};
}

}  // namespace

Status fsync_path(const fs::path& p) {
  int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return io_error("open", p.string(), errno);
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  if (rc != 0) return io_error("fsync", p.string(), err);
  return {};
}

Status spread_subdirectories(const fs::path& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return io_error("mkdir", dir.string(), ec.value());
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return io_error("open dir", dir.string(), errno);
  // The ioctl's argument is an int for every file system that implements it,
  // despite the "long" in its definition.
  int flags = 0;
  int rc = ::ioctl(fd, FS_IOC_GETFLAGS, &flags);
  if (rc == 0 && !(flags & FS_TOPDIR_FL)) {
    flags |= FS_TOPDIR_FL;
    rc = ::ioctl(fd, FS_IOC_SETFLAGS, &flags);
  }
  int err = errno;
  ::close(fd);
  if (rc != 0)
    return Error(Errc::Invalid, "Directory placement flag not supported",
                 dir.string() + ": " + std::strerror(err));
  return {};
}

std::string parse_structure_blob(std::string_view bytes) {
  return mail::parse_message(bytes).serialize();
}

// A fixed set of threads that run fsyncs handed to them by fsync_many. The
// calls are short and many (two per delivery), so threads are kept rather
// than started per call. Workers never wait for each other, only for work.
class Spool::SyncWorkers {
 public:
  explicit SyncWorkers(size_t n) {
    for (size_t i = 0; i < n; ++i) {
      try {
        threads_.emplace_back([this] {
          set_thread_name("fsync");
          loop();
        });
      } catch (const std::system_error&) {
        break;  // out of threads: fewer workers; the caller runs the rest
      }
    }
  }
  ~SyncWorkers() {
    {
      std::lock_guard lk(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    for (auto& t : threads_) t.join();
  }
  size_t size() const { return threads_.size(); }

  // Runs every task, some on the workers and the rest on the calling thread;
  // returns when all have finished.
  void run(std::vector<std::function<void()>>& tasks) {
    if (tasks.empty()) return;
    Call call;
    call.left = tasks.size();
    {
      std::lock_guard lk(mu_);
      for (size_t i = 1; i < tasks.size(); ++i) queue_.push_back({&tasks[i], &call});
    }
    // One worker per queued task: notify_all woke all 15 workers for the
    // one task of a single append (file + directory), and on two cores the
    // 14 that found nothing to do cost more than the fsync they raced for.
    for (size_t i = 1; i < tasks.size(); ++i) cv_.notify_one();
    tasks[0]();
    finish(call);
    // Take back what no worker has started yet (all busy, or none started).
    for (;;) {
      std::function<void()>* fn = nullptr;
      {
        std::lock_guard lk(mu_);
        for (auto it = queue_.begin(); it != queue_.end(); ++it) {
          if (it->second == &call) {
            fn = it->first;
            queue_.erase(it);
            break;
          }
        }
      }
      if (!fn) break;
      (*fn)();
      finish(call);
    }
    std::unique_lock lk(call.mu);
    call.cv.wait(lk, [&] { return call.left == 0; });
  }

 private:
  struct Call {
    std::mutex mu;
    std::condition_variable cv;
    size_t left = 0;
  };
  static void finish(Call& c) {
    std::lock_guard lk(c.mu);
    if (--c.left == 0) c.cv.notify_all();
  }
  void loop() {
    for (;;) {
      std::pair<std::function<void()>*, Call*> job;
      {
        std::unique_lock lk(mu_);
        cv_.wait(lk, [&] { return stop_ || !queue_.empty(); });
        if (queue_.empty()) return;  // stopping, nothing left
        job = queue_.front();
        queue_.pop_front();
      }
      (*job.first)();
      finish(*job.second);
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::deque<std::pair<std::function<void()>*, Call*>> queue_;
  std::vector<std::thread> threads_;
};

Spool::Spool(std::map<std::string, fs::path> partitions, std::function<int(int)> fsync_hook,
             size_t max_message_size, size_t journal_max)
    : partitions_(std::move(partitions)),
      fsync_hook_(std::move(fsync_hook)),
      max_message_size_(max_message_size),
      journal_max_(journal_max) {}

Spool::~Spool() = default;

Status Spool::fsync_many(const std::vector<std::string>& files, const std::vector<std::string>& dirs,
                         bool missing_ok) const {
  return fsync_many_alongside(files, dirs, nullptr, missing_ok);
}

Status Spool::sync_partitions(const std::set<std::string>& partitions) const {
  for (const auto& name : partitions) {
    auto r = root(name);
    if (!r.ok()) return r.take_error();
    int fd = ::open(r->c_str(), O_RDONLY | O_CLOEXEC | O_DIRECTORY);
    if (fd < 0) return io_error("open dir", r->string(), errno);
    int rc = ::syncfs(fd);
    int err = errno;
    ::close(fd);
    if (rc != 0) return io_error("syncfs", r->string(), err);
  }
  return {};
}

Status Spool::fsync_many_alongside(const std::vector<std::string>& files, const std::vector<std::string>& dirs,
                                   const std::function<void()>& alongside, bool missing_ok) const {
  const size_t n = files.size() + dirs.size();
  if (n == 0) {
    if (alongside) alongside();
    return {};
  }
  std::vector<std::optional<Error>> errors(n);
  std::vector<std::function<void()>> tasks;
  tasks.reserve(n + 1);
  // The caller's own work is task 0, which SyncWorkers::run runs on this
  // thread; every fsync then goes to a worker.
  if (alongside) tasks.emplace_back(alongside);
  for (size_t i = 0; i < n; ++i) {
    const bool dir = i >= files.size();
    const std::string& p = dir ? dirs[i - files.size()] : files[i];
    tasks.emplace_back([this, &errors, i, dir, &p, missing_ok] {
      // Read-only is enough: fsync flushes the file, not the descriptor.
      int fd = ::open(p.c_str(), O_RDONLY | O_CLOEXEC | (dir ? O_DIRECTORY : 0));
      if (fd < 0 && errno == ENOENT && missing_ok) return;
      if (fd < 0) {
        errors[i] = io_error(dir ? "open dir" : "open", p, errno);
        return;
      }
      int rc = fsync_fd(fd);
      int err = errno;
      ::close(fd);
      if (rc != 0) errors[i] = io_error(dir ? "fsync dir" : "fsync", p, err);
    });
  }
  if (tasks.size() == 1) {
    tasks[0]();
  } else {
    SyncWorkers* w;
    {
      std::lock_guard lk(workers_mu_);
      if (!workers_) workers_ = std::make_unique<SyncWorkers>(kMaxStageThreads - 1);
      w = workers_.get();
    }
    w->run(tasks);
  }
  for (auto& e : errors)
    if (e) return *e;
  return {};
}

Result<bool> Spool::restore(const fs::path& to, std::string_view data, std::set<std::string>& dirs_to_sync) const {
  const std::string path = to.string();
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    // One byte more than expected tells a longer file from an equal one.
    auto have = read_file(fd, path, data.size() + 1);
    ::close(fd);
    if (have.ok() && *have == data) return false;
  } else if (errno != ENOENT) {
    return io_error("open", path, errno);
  }
  CYR_TRY(make_dirs(to.parent_path(), dirs_to_sync));
  dirs_to_sync.insert(to.parent_path().string());
  fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0640);
  if (fd < 0) return io_error("create", path, errno);
  Status st = write_all(fd, data, path);
  if (st.ok() && ::ftruncate(fd, static_cast<off_t>(data.size())) != 0) st = io_error("truncate", path, errno);
  ::close(fd);
  if (!st.ok()) return st.take_error();
  return true;
}

int Spool::fsync_fd(int fd) const {
  if (fsync_hook_) return fsync_hook_(fd);
  return ::fsync(fd);
}

Result<fs::path> Spool::root(const std::string& partition) const {
  auto it = partitions_.find(partition);
  if (it == partitions_.end())
    return Error(Errc::Invalid, "Unknown partition", "partition " + partition);
  return it->second;
}

Result<fs::path> Spool::mailbox_dir(const std::string& partition,
                                    const std::string& uniqueid) const {
  auto r = root(partition);
  if (!r.ok()) return r.take_error();
  // The uniqueid is generated by us or validated on input: [0-9a-f-] only,
  // so the path cannot leave the partition.
  if (uniqueid.size() < 2) return Error(Errc::Invalid, "Invalid unique id", uniqueid);
  return *r / "uuid" / uniqueid.substr(0, 1) / uniqueid.substr(1, 1) / uniqueid;
}

Result<fs::path> Spool::message_path(const std::string& partition, const std::string& uniqueid,
                                     Uid uid) const {
  auto d = mailbox_dir(partition, uniqueid);
  if (!d.ok()) return d.take_error();
  return *d / (std::to_string(uid) + ".");
}

Result<std::string> Spool::new_stage_path(const std::string& partition) const {
  auto r = root(partition);
  if (!r.ok()) return r.take_error();
  // The directory is created by stage() when the first create finds it
  // missing: a mkdir per message cost a syscall on every append.
  uint64_t n = ++g_stage_counter;
  return (*r / "stage." / stage_generation_name(n / kFilesPerStageDir) / std::to_string(n)).string();
}

Result<StagedMessage> Spool::stage(const std::string& partition, const MessageSource& src,
                                   bool defer_sync) const {
  StagedMessage m;
  m.partition = partition;
  std::string bytes_storage;
  std::string_view bytes;
  if (src.kind == MessageSource::Kind::Memory) {
    if (src.bytes.size() > max_message_size_) return Error(Errc::TooBig, "Message too large");
    auto p = new_stage_path(partition);
    if (!p.ok()) return p.take_error();
    int fd = ::open(p->c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
    if (fd < 0 && errno == ENOENT) {
      fs::path file(*p);
      CYR_TRY(make_stage_dir(file.parent_path(), std::stoull(file.filename().string()) / kFilesPerStageDir));
      fd = ::open(p->c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
    }
    if (fd < 0) return io_error("create", *p, errno);
    Status st = write_all(fd, src.bytes, *p);
    if (st.ok() && !defer_sync && fsync_fd(fd) != 0) st = io_error("fsync", *p, errno);
    ::close(fd);
    if (!st.ok()) {
      ::unlink(p->c_str());
      return st.take_error();
    }
    m.path = *p;
    m.owned = true;
    m.synced = !defer_sync;
    bytes = src.bytes;
  } else {
    int fd = ::open(src.path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return Error(errno == ENOENT ? Errc::NotFound : Errc::Io, "Cannot read message",
                             src.path + ": " + std::strerror(errno));
    auto data = read_file(fd, src.path, max_message_size_);
    // The caller wrote the file; we make sure it is durable before indexing
    // it: here, or (defer_sync) in the commit that links it.
    int rc = data.ok() && !defer_sync ? fsync_fd(fd) : 0;
    int err = errno;
    ::close(fd);
    if (!data.ok()) return data.take_error();
    if (rc != 0) return io_error("fsync", src.path, err);
    bytes_storage = std::move(*data);
    bytes = bytes_storage;
    m.path = src.path;
    m.owned = false;
    m.synced = !defer_sync;
    // A caller's file on another file system cannot be hard-linked: copy it.
    auto r = root(partition);
    if (!r.ok()) return r.take_error();
    struct stat a, b;
    if (::stat(src.path.c_str(), &a) != 0 || ::stat(r->c_str(), &b) != 0 || a.st_dev != b.st_dev) {
      auto copy = stage(partition, MessageSource::memory(bytes_storage));
      return copy;
    }
  }
  m.size = bytes.size();
  m.guid = mail::MessageGuid::of(bytes);
  m.structure = parse_structure_blob(bytes);
  if (!m.synced && m.size > 0 && m.size <= journal_max_)
    m.bytes = bytes_storage.empty() ? std::string(bytes) : std::move(bytes_storage);
  return m;
}

Result<std::vector<StagedMessage>> Spool::stage_many(
    const std::string& partition, const std::vector<const MessageSource*>& srcs, bool defer_sync) const {
  // done[i] stays empty for a message skipped after another one failed.
  std::vector<std::optional<Result<StagedMessage>>> done(srcs.size());
  // Threads are for overlapping fsyncs. Files staged with defer_sync are
  // only written or read, hashed and parsed here: for a few messages that
  // is less work than starting a thread (a replica's round usually carries
  // one to three, an APPEND one), so they are staged on this thread.
  const size_t threads = defer_sync && srcs.size() <= kInlineStageMax ? 1 : std::min(srcs.size(), kMaxStageThreads);
  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
  // Workers take the next index; each message is written, fsync'd, hashed
  // and parsed by one worker. Fsync is where a worker waits, so more
  // workers than cores is the point: their fsyncs overlap.
  auto work = [&] {
    for (size_t i; (i = next.fetch_add(1)) < srcs.size();) {
      if (failed.load(std::memory_order_relaxed)) continue;
      done[i].emplace(stage(partition, *srcs[i], defer_sync));
      if (!done[i]->ok()) failed = true;
    }
  };
  std::vector<std::thread> pool;
  if (threads > 1) pool.reserve(threads - 1);
  for (size_t t = 1; t < threads; ++t) {
    // Out of threads (a process limit): the workers already started, and
    // this thread, still stage everything, only with fewer fsyncs in flight.
    try {
      pool.emplace_back(work);
    } catch (const std::system_error&) {
      break;
    }
  }
  work();
  for (auto& t : pool) t.join();
  if (failed) {
    std::optional<Error> first_error;
    for (auto& d : done) {
      if (!d) continue;
      if (d->ok()) discard(**d);
      else if (!first_error) first_error = d->error();
    }
    return *first_error;
  }
  std::vector<StagedMessage> out;
  out.reserve(srcs.size());
  for (auto& d : done) out.push_back(std::move(**d));
  return out;
}

Result<StagedMessage> Spool::stage_copy(const std::string& partition, const std::string& from) const {
  int fd = ::open(from.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return io_error("open", from, errno);
  auto data = read_file(fd, from, max_message_size_);
  ::close(fd);
  if (!data.ok()) return data.take_error();
  return stage(partition, MessageSource::memory(std::move(*data)));
}

void Spool::discard(const StagedMessage& m) const {
  if (m.owned && !m.path.empty()) ::unlink(m.path.c_str());
}

Status Spool::make_dirs(const fs::path& dir, std::set<std::string>& dirs_to_sync) const {
  // Create missing directories top-down; each new entry must reach the disk,
  // so its parent is synced by the caller.
  std::vector<fs::path> missing;
  for (fs::path d = dir; !d.empty() && d != d.root_path(); d = d.parent_path()) {
    struct stat st;
    if (::stat(d.c_str(), &st) == 0) break;
    missing.push_back(d);
  }
  for (auto it = missing.rbegin(); it != missing.rend(); ++it) {
    if (::mkdir(it->c_str(), 0750) != 0 && errno != EEXIST) return io_error("mkdir", *it, errno);
    dirs_to_sync.insert(it->parent_path().string());
  }
  return {};
}

Status Spool::link(const std::string& from, const fs::path& to,
                   std::set<std::string>& dirs_to_sync) const {
  fs::path dir = to.parent_path();
  // Normally made at CREATE (StoreImpl::create_mailbox); a mailbox created
  // before that, or whose directory was removed, gets it here.
  CYR_TRY(make_dirs(dir, dirs_to_sync));
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (::link(from.c_str(), to.c_str()) == 0) {
      dirs_to_sync.insert(dir.string());
      return {};
    }
    if (errno != EEXIST || attempt == 1) return io_error("link", to.string(), errno);
    // A stale file with this uid: linked before a crash, never committed.
    ::unlink(to.c_str());
  }
  return io_error("link", to.string(), EEXIST);
}

Status Spool::fsync_dir(const std::string& dir) const {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return io_error("open dir", dir, errno);
  int rc = fsync_fd(fd);
  int err = errno;
  ::close(fd);
  if (rc != 0) return io_error("fsync dir", dir, err);
  return {};
}

size_t Spool::remove_orphans(const fs::path& dir, Uid last_uid) const {
  DIR* d = ::opendir(dir.c_str());
  if (!d) return 0;
  size_t removed = 0;
  while (struct dirent* e = ::readdir(d)) {
    std::string_view n = e->d_name;
    if (n.size() < 2 || n.back() != '.') continue;
    uint64_t uid = 0;
    bool digits = true;
    for (char c : n.substr(0, n.size() - 1)) {
      if (c < '0' || c > '9' || uid > UINT32_MAX) { digits = false; break; }
      uid = uid * 10 + static_cast<uint64_t>(c - '0');
    }
    if (digits && uid > last_uid) {
      if (::unlink((dir / std::string(n)).c_str()) == 0) ++removed;
    }
  }
  ::closedir(d);
  return removed;
}

void Spool::clear_staging() const {
  for (auto& [name, root] : partitions_) {
    std::error_code ec;
    fs::path dir = root / "stage.";
    for (auto& e : fs::directory_iterator(dir, ec)) {
      // Leftovers only: staging files are never linked from a committed
      // record (links are separate names of the same inode). A generation
      // directory "<pid>-<n>" (a file, as earlier versions staged) whose
      // process still runs belongs to a store opened beside us
      // (OpenMode::Secondary) in the middle of an append: keep it.
      std::string n = e.path().filename().string();
      auto dash = n.find('-');
      if (dash != std::string::npos && dash > 0) {
        long pid = std::strtol(n.substr(0, dash).c_str(), nullptr, 10);
        if (pid > 0 && pid != ::getpid() && (::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM))
          continue;
      }
      fs::remove_all(e.path(), ec);
    }
  }
}

}  // namespace cyr::store
