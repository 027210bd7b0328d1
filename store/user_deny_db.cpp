#include "store/user_deny_db.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <system_error>

#include "store/sqlite_db.h"

namespace cyr::store {

namespace fs = std::filesystem;

namespace {

// Version 1 (PRAGMA user_version = 1). WITHOUT ROWID: the user id is the
// table's key, so the login check reads one b-tree path.
constexpr const char* kSchema =
    "CREATE TABLE IF NOT EXISTS user_deny ("
    " userid TEXT PRIMARY KEY NOT NULL, services TEXT NOT NULL, message TEXT NOT NULL)"
    " WITHOUT ROWID";

bool has_control(std::string_view s) {
  for (unsigned char c : s)
    if (c < 0x20 || c == 0x7F) return true;
  return false;
}

Error invalid(std::string what) { return Error(Errc::Invalid, what, "user_deny: " + what); }

// Splits at commas; an empty piece stays (and is refused by the validator).
std::vector<std::string_view> split_patterns(std::string_view list) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (true) {
    size_t comma = list.find(',', start);
    out.push_back(list.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start));
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return out;
}

}  // namespace

bool service_pattern_matches(std::string_view pattern, std::string_view service) {
  // Iterative glob with one backtrack point (the last '*'): linear in
  // practice, and at worst pattern x service steps, both bounded by the
  // callers (kMaxServicesLength, service names of cyrus.conf).
  size_t p = 0, s = 0;
  size_t star_p = std::string_view::npos, star_s = 0;
  while (s < service.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      star_p = p++;
      star_s = s;
      continue;
    }
    if (p < pattern.size()) {
      char want = pattern[p];
      bool escaped = want == '\\' && p + 1 < pattern.size();
      if (escaped) want = pattern[p + 1];
      if ((!escaped && want == '?') || want == service[s]) {
        p += escaped ? 2 : 1;
        ++s;
        continue;
      }
    }
    if (star_p == std::string_view::npos) return false;
    p = star_p + 1;
    s = ++star_s;
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

bool services_deny(std::string_view patterns, std::string_view service) {
  auto list = split_patterns(patterns);
  for (auto it = list.rbegin(); it != list.rend(); ++it) {
    std::string_view pat = *it;
    bool negated = !pat.empty() && pat.front() == '!';
    if (negated) pat.remove_prefix(1);
    if (service_pattern_matches(pat, service)) return !negated;
  }
  return false;
}

Status validate_deny_entry(std::string_view userid, std::string_view services, std::string_view message) {
  if (userid.empty()) return invalid("Empty user name");
  if (userid.size() > UserDenyDb::kMaxUseridLength) return invalid("User name too long");
  if (has_control(userid) || userid.find(' ') != std::string_view::npos)
    return invalid("User name contains spaces or control characters");
  if (services.size() > UserDenyDb::kMaxServicesLength) return invalid("Service list too long");
  if (has_control(services)) return invalid("Service list contains control characters");
  if (!services.empty()) {
    auto list = split_patterns(services);
    if (list.size() > UserDenyDb::kMaxPatterns) return invalid("Too many service patterns");
    for (auto pat : list) {
      if (!pat.empty() && pat.front() == '!') pat.remove_prefix(1);
      if (pat.empty()) return invalid("Empty service pattern");
      if (pat.find(' ') != std::string_view::npos) return invalid("Service pattern contains a space");
    }
  }
  if (message.size() > UserDenyDb::kMaxMessageLength) return invalid("Message too long");
  // The message goes into one protocol line: CR, LF or NUL would end or
  // forge it.
  if (has_control(message)) return invalid("Message contains control characters");
  return {};
}

Result<std::unique_ptr<UserDenyDb>> UserDenyDb::open(const fs::path& path, Mode mode) {
  if (path.empty() || !path.is_absolute())
    return Error(Errc::Invalid, "userdeny_db_path must be an absolute path", path.string());
  std::error_code ec;
  const bool create = mode == Mode::ReadWrite;
  if (!create && !fs::exists(path, ec))
    return Error(Errc::NotFound, "No deny database", path.string());
  if (create && !fs::exists(path, ec)) {
    fs::create_directories(path.parent_path(), ec);
    // Created 0600 before SQLite opens it: user names and messages are the
    // admin's business.
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd >= 0) ::close(fd);
  }
  auto db = sql::Db::open(path.string(), create);
  if (!db.ok()) return db.take_error();
  std::unique_ptr<UserDenyDb> d(new UserDenyDb());
  d->path_ = path;
  d->db_ = std::move(*db);
  if (create) {
    CYR_TRY(d->db_->exec(kSchema));
    CYR_TRY(d->db_->exec("PRAGMA user_version = 1"));
    return d;
  }
  // Read-only (the daemons): no schema write; a file without the table (an
  // SQLite file that is not ours, or one cyr_deny is creating right now)
  // counts as no list yet.
  auto t = d->db_->prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'user_deny'");
  if (!t.ok()) return t.take_error();
  auto row = t->step();
  if (!row.ok()) return row.take_error();
  if (!*row) return Error(Errc::NotFound, "No deny list in the database", path.string());
  return d;
}

UserDenyDb::~UserDenyDb() = default;

Status UserDenyDb::deny(std::string_view userid, std::string_view services, std::string_view message) {
  CYR_TRY(validate_deny_entry(userid, services, message));
  if (services.empty()) services = kDefaultServices;
  if (message.empty()) message = kDefaultMessage;
  std::lock_guard lk(mu_);
  auto s = db_->cached(
      "INSERT INTO user_deny(userid, services, message) VALUES (?1, ?2, ?3)"
      " ON CONFLICT(userid) DO UPDATE SET services = excluded.services, message = excluded.message");
  if (!s.ok()) return s.take_error();
  (*s)->bind(1, userid).bind(2, services).bind(3, message);
  Status st = (*s)->run();
  (*s)->reset();
  return st;
}

Result<bool> UserDenyDb::allow(std::string_view userid) {
  if (userid.empty() || userid.size() > kMaxUseridLength) return invalid("Bad user name");
  std::lock_guard lk(mu_);
  auto s = db_->cached("DELETE FROM user_deny WHERE userid = ?1");
  if (!s.ok()) return s.take_error();
  (*s)->bind(1, userid);
  Status st = (*s)->run();
  (*s)->reset();
  if (!st.ok()) return st.take_error();
  return db_->changes() > 0;
}

Result<std::optional<UserDenyDb::Entry>> UserDenyDb::lookup(std::string_view userid) {
  // A name no entry can have: no read (login names are bounded elsewhere too).
  if (userid.empty() || userid.size() > kMaxUseridLength) return std::optional<Entry>{};
  std::lock_guard lk(mu_);
  auto s = db_->cached("SELECT services, message FROM user_deny WHERE userid = ?1");
  if (!s.ok()) return s.take_error();
  (*s)->bind(1, userid);
  auto row = (*s)->step();
  std::optional<Entry> e;
  if (row.ok() && *row) e = Entry{std::string(userid), (*s)->text(0), (*s)->text(1)};
  (*s)->reset();
  if (!row.ok()) return row.take_error();
  return e;
}

Result<std::vector<UserDenyDb::Entry>> UserDenyDb::list() {
  std::lock_guard lk(mu_);
  auto s = db_->cached("SELECT userid, services, message FROM user_deny ORDER BY userid");
  if (!s.ok()) return s.take_error();
  std::vector<Entry> out;
  while (true) {
    auto row = (*s)->step();
    if (!row.ok()) {
      (*s)->reset();
      return row.take_error();
    }
    if (!*row) break;
    out.push_back(Entry{(*s)->text(0), (*s)->text(1), (*s)->text(2)});
  }
  (*s)->reset();
  return out;
}

Result<std::optional<std::string>> UserDenyDb::denied(std::string_view userid, std::string_view service) {
  auto e = lookup(userid);
  if (!e.ok()) return e.take_error();
  if (!*e || !services_deny((*e)->services, service)) return std::optional<std::string>{};
  std::string msg = (*e)->message.empty() ? std::string(kDefaultMessage) : (*e)->message;
  return std::optional<std::string>(std::move(msg));
}

}  // namespace cyr::store
