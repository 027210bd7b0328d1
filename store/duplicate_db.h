// DuplicateDb: the duplicate-delivery database (Cyrus deliver.db).
//
// LMTP records "message <Message-ID> was delivered to mailbox <name> at
// <time>" after each successful delivery and, with duplicatesuppression on,
// asks before delivering whether that pair was seen already, so an MTA that
// retries a transaction (or a list that sends the same message twice) does
// not put two copies in one mailbox. Entries expire: prune() removes those
// older than a cut-off (cyr_expire -E).
//
// The data is disposable by design (seed 000: it may live on an ephemeral
// path such as /run): open() creates the file and its directory when they
// are missing, and replaces a file that SQLite cannot read, instead of
// refusing to start. Losing it only risks one duplicate copy, so writes are
// not fsync'd (synchronous=OFF); a crash may forget the last marks.
//
// Thread-safety: every method may be called from any thread; one internal
// mutex serialises access to the single SQLite connection. Calls block
// (disk): run them on the blocking pool. Ownership: open() returns a
// unique_ptr; shared by the services of one process.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "store/base/result.h"

namespace cyr::store {

namespace sql {
class Db;
}

class DuplicateDb {
 public:
  // Bounds on what is recorded; longer keys are refused with Errc::Limit
  // (the caller then delivers without suppression).
  static constexpr size_t kMaxIdLength = 998;        // one header line (RFC 5322)
  static constexpr size_t kMaxMailboxLength = 1024;

  // Opens or creates the database at `path`, creating missing parent
  // directories. A corrupt or foreign file is moved aside ("<path>.corrupt")
  // and a new one created.
  static Result<std::unique_ptr<DuplicateDb>> open(const std::filesystem::path& path);
  ~DuplicateDb();

  // True if (id, mailbox) was marked and not yet pruned.
  Result<bool> seen(std::string_view id, std::string_view mailbox);
  // When (id, mailbox) was last marked; nullopt if it was not (Sieve
  // vacation: has this sender had an answer within the interval?).
  Result<std::optional<int64_t>> marked_at(std::string_view id, std::string_view mailbox);
  // Records (id, mailbox) at `when` (seconds since the epoch); a second mark
  // of the same pair updates the time.
  Status mark(std::string_view id, std::string_view mailbox, int64_t when);
  // Removes entries marked before `older_than`; returns how many.
  Result<uint64_t> prune(int64_t older_than);
  // Number of entries (tests, cyr_info).
  Result<uint64_t> count();
  // Every entry, ordered by id then mailbox (cyr_ctl_deliver -d). Holds the
  // database's mutex throughout: for admin tools, not the delivery path.
  Status for_each(const std::function<void(std::string_view id, std::string_view mailbox, int64_t mark)>& fn);

  const std::filesystem::path& path() const { return path_; }

 private:
  DuplicateDb() = default;
  // The file may have been removed under us (an ephemeral /run wiped by an
  // operator): reopen it before the next statement.
  Status reopen_if_missing();
  Status open_locked();

  std::mutex mu_;
  std::filesystem::path path_;
  std::unique_ptr<sql::Db> db_;
};

}  // namespace cyr::store
