// UserDenyDb: the node's list of users denied access to services (Cyrus
// user_deny.db, written by cyr_deny, read after each successful login).
//
// One entry per user: a comma-separated list of service patterns (the
// cyrus.conf service names: "imap", "pop3s", "sieve", "*"; '*' and '?' are
// wildcards, a leading '!' negates) and the message shown to the refused
// client. As in Cyrus, the patterns are read right to left and the first one
// that matches the service decides: "*,!pop3" denies everything but pop3.
// A user without an entry, or whose patterns match nothing, is allowed.
//
// An SQLite file, by default {configdirectory}/user_deny.db
// (userdeny_db_path), one row per user keyed by the user id, so the login
// check is one indexed lookup. It is per node and not replicated (Cyrus does
// not replicate user_deny.db either): deny a user on each node that serves
// them (docs/runbook.md).
//
// Several processes open the file (cyr_deny beside the daemon): SQLite's
// locking serialises writers and every read sees the last commit, so a deny
// takes effect at the next login without a restart. Thread-safe (one mutex
// around the connection). Methods block on disk: call them off I/O threads.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "store/base/result.h"

namespace cyr::store {

namespace sql {
class Db;
}

// Whether `service` matches one pattern: '*' any run of characters, '?' one
// character, '\' makes the next character literal; everything else compares
// exactly (service names are case-sensitive, as in cyrus.conf).
bool service_pattern_matches(std::string_view pattern, std::string_view service);

// Whether a comma-separated pattern list denies `service` (see above).
bool services_deny(std::string_view patterns, std::string_view service);

class UserDenyDb {
 public:
  static constexpr size_t kMaxUseridLength = 255;
  static constexpr size_t kMaxServicesLength = 1024;  // the whole pattern list
  static constexpr size_t kMaxPatterns = 64;
  static constexpr size_t kMaxMessageLength = 512;  // one protocol line with room to spare
  static constexpr std::string_view kDefaultServices = "*";
  static constexpr std::string_view kDefaultMessage = "Access to this service has been blocked";

  struct Entry {
    std::string userid;
    std::string services;  // the pattern list as given
    std::string message;
    friend bool operator==(const Entry&, const Entry&) = default;
  };

  enum class Mode { ReadOnly, ReadWrite };  // ReadWrite creates the file (mode 0600) if missing

  // Fails with NotFound in ReadOnly mode (which writes nothing) when the
  // file or its table does not exist, and
  // with Corrupted when it is not a deny database (a Cyrus flat or twoskip
  // user_deny.db copied over: enter its entries again with cyr_deny, see
  // docs/migrating-from-cyrus.md).
  static Result<std::unique_ptr<UserDenyDb>> open(const std::filesystem::path& path, Mode mode);
  ~UserDenyDb();
  UserDenyDb(const UserDenyDb&) = delete;
  UserDenyDb& operator=(const UserDenyDb&) = delete;

  // Denies `userid` the services matching `services` (empty: "*") with
  // `message` (empty: kDefaultMessage), replacing any earlier entry.
  // Invalid for an empty or over-long user id, pattern list or message, an
  // empty pattern, more than kMaxPatterns patterns, or control characters.
  Status deny(std::string_view userid, std::string_view services, std::string_view message);
  // Removes userid's entry; true if there was one.
  Result<bool> allow(std::string_view userid);
  Result<std::optional<Entry>> lookup(std::string_view userid);
  // Every entry, by user id.
  Result<std::vector<Entry>> list();

  // The login check: the message to refuse `userid` with on `service`, or
  // nullopt when the user may use it. One lookup by primary key.
  Result<std::optional<std::string>> denied(std::string_view userid, std::string_view service);

  const std::filesystem::path& path() const { return path_; }

 private:
  UserDenyDb() = default;

  std::mutex mu_;
  std::filesystem::path path_;
  std::unique_ptr<sql::Db> db_;
};

// Checks what deny() would refuse, without a database (cyr_deny's argument
// check, before anything is opened).
Status validate_deny_entry(std::string_view userid, std::string_view services, std::string_view message);

}  // namespace cyr::store
