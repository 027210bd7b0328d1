// The IMAP server ("imapd" in cyrus.conf SERVICES): how it plugs into
// cyr_master, and the state its sessions share.
//
// ImapdService is built once per SERVICES entry by the factory and shared
// (shared_ptr) by every session of that entry: the configuration read once
// (ImapdSettings), the Authenticator, the per-user login counter and the
// node's one Store (server/node_store.h).
//
// Thread-safety: ImapdService is immutable after construction except
// LoginCounter, which is internally locked, and AppendMemory (atomic).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "server/auth/authenticator.h"
#include "server/service_registry.h"
#include "store/mail/acl.h"
#include "store/mail/mboxname.h"
#include "store/store.h"

namespace cyr::imapd {

// The imapd.conf values a session needs, read once per service.
struct ImapdSettings {
  std::chrono::seconds timeout{32 * 60};   // autologout, at least 30 minutes
  uint64_t max_message = 64ull << 20;      // maxmessagesize (0 in the file: the store's bound)
  int64_t maxlogins_per_user = 0;          // 0: unlimited
  int64_t maxlogins_per_host = 0;          // 0: unlimited; counted by client address
  mail::NamespaceOptions ns;
  mail::Rights implicit_owner_rights = mail::right::kLookup | mail::right::kCreate |
                                       mail::right::kDeleteMbox | mail::right::kAdmin;
  std::string servername;
  bool serverinfo = true;
  bool imapidresponse = true;
  bool specialusealways = true;
  // specialuse_protect: a user may not delete a mailbox with one of these
  // special-use attributes, nor rename it under another parent (admins may).
  std::vector<std::string> specialuse_protect = {"\\Archive", "\\Drafts", "\\Important",
                                                 "\\Junk", "\\Sent", "\\Trash"};
  bool anyoneuseracl = true;
  size_t max_line = 64 * 1024;             // one command line (maxword/maxquoted bound it too)
};

ImapdSettings settings_from_config(const config::ImapdConf& conf, std::string_view service);

// Logged-in sessions per user (maxlogins_per_user) or per client address
// (maxlogins_per_host).
class LoginCounter {
 public:
  // Counts a login; false (and nothing counted) if `limit` > 0 sessions of
  // this user are already logged in.
  bool try_add(const std::string& userid, int64_t limit);
  void remove(const std::string& userid);
  int count(const std::string& userid) const;

 private:
  mutable std::mutex mu_;
  std::map<std::string, int, std::less<>> counts_;
};

// Bytes of APPEND literals the sessions of a service hold in memory
// (Session::receive_message). Past kBudget, further literals are streamed
// to files, so that many sessions appending at once cannot make the
// process hold more than that.
class AppendMemory {
 public:
  static constexpr uint64_t kBudget = 64ull << 20;
  // Takes n bytes of the budget; false (nothing taken) if they do not fit.
  bool try_take(uint64_t n) {
    uint64_t used = used_.load(std::memory_order_relaxed);
    do {
      if (n > kBudget - used) return false;
    } while (!used_.compare_exchange_weak(used, used + n, std::memory_order_relaxed));
    return true;
  }
  void give_back(uint64_t n) { used_.fetch_sub(n, std::memory_order_relaxed); }
  uint64_t used() const { return used_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> used_{0};
};

struct ImapdService {
  std::shared_ptr<const server::ServiceContext> ctx;
  std::shared_ptr<store::Store> store;
  std::shared_ptr<auth::Authenticator> auth;
  ImapdSettings settings;
  LoginCounter logins;
  LoginCounter host_logins;
  AppendMemory append_memory;
};


// The factory cyr_master calls for an "imapd" SERVICES entry. Fails
// (Invalid) when the configuration cannot be used (bad SASL options, no
// partition) or the store cannot be opened.
Result<server::ServiceHandler> make_imapd_handler(
    std::shared_ptr<const server::ServiceContext> ctx);

// As above with an explicit store (tests; a master that owns the store).
Result<server::ServiceHandler> make_imapd_handler(
    std::shared_ptr<const server::ServiceContext> ctx, std::shared_ptr<store::Store> store);

// registry.add("imapd", ...).
void register_imapd_service(server::ServiceRegistry& registry);

}  // namespace cyr::imapd
