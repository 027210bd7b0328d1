// Result<T>: a value or an Error, the way errors cross module boundaries.
//
// Errors are values (no exceptions cross a module boundary or a session loop).
// An Error carries a protocol-neutral code, a message that is safe to show a
// client, and an internal detail for the log only. Each protocol (IMAP, POP3,
// LMTP, csync) maps the code to its own wire form in one place.
#pragma once

#include <cassert>
#include <string>
#include <utility>
#include <variant>

namespace cyr {

enum class Errc {
  Temp,         // transient failure; retrying later may work
  Unavailable,  // this node does not take writes (replica, fenced)
  NotFound,
  Exists,
  Perm,         // permission denied by ACL or policy
  NoQuota,      // over quota
  InUse,        // locked or busy
  Limit,        // a configured bound was exceeded (counts, nesting, length)
  TooBig,       // message or literal larger than allowed
  Corrupted,    // on-disk data failed a check
  Fenced,       // a failed fsync or store error: this node stopped writing
  NoSpace,      // the disk (or the user's filesystem quota) is full; nothing was written
  Invalid,      // malformed input or argument
  Io,           // operating system error
  Internal,     // a bug; should not happen
};

const char* errc_name(Errc c);

// The user_message of a NoSpace error.
inline constexpr const char* kNoSpaceMessage = "Not enough disk space on the server; try again later";

struct Error {
  Errc code = Errc::Internal;
  std::string user_message;  // safe to show a client
  std::string detail;        // for the log only; may name paths

  Error() = default;
  Error(Errc c, std::string user, std::string internal = {})
      : code(c), user_message(std::move(user)), detail(std::move(internal)) {}

  // "NotFound: Mailbox does not exist (detail)" for logs.
  std::string describe() const;
};

template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}
  Result(Error err) : v_(std::move(err)) {}

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & { assert(ok()); return std::get<0>(v_); }
  const T& value() const& { assert(ok()); return std::get<0>(v_); }
  T&& value() && { assert(ok()); return std::get<0>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  const Error& error() const { assert(!ok()); return std::get<1>(v_); }
  Error&& take_error() { assert(!ok()); return std::get<1>(std::move(v_)); }

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error err) : err_(std::move(err)), ok_(false) {}

  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error& error() const { assert(!ok_); return err_; }
  Error&& take_error() { assert(!ok_); return std::move(err_); }

 private:
  Error err_;
  bool ok_ = true;
};

using Status = Result<void>;

inline Status ok_status() { return {}; }

}  // namespace cyr

// Propagate an error from an expression returning Result<...>.
#define CYR_TRY(expr)                                  \
  do {                                                 \
    auto cyr_try_r_ = (expr);                          \
    if (!cyr_try_r_.ok()) return cyr_try_r_.take_error(); \
  } while (0)
