// Cross-process change notification: how the store's watchers (IMAP IDLE,
// NOOP) learn of a commit made by another process on the same store
// directory (an ops command with a Secondary store, a repair tool), which
// the in-process watcher calls of the committing store cannot reach.
//
// The Primary store binds a unix datagram socket,
// {configdirectory}/store-notify.sock, and runs one thread that sleeps in
// poll() on it: nothing costs anything while no other process writes. A
// Secondary store, after each commit that announces events to watchers,
// sends one small datagram per changed mailbox to that socket, without
// blocking (nobody listening, or a full queue, drops the wake-up: a session
// still sees the change at its next own read of the mailbox).
//
// Wire format, one datagram: "CYRN1 <what> <uniqueid>" (what: the
// ChangeWhat bits in decimal). The receiver accepts only that shape, at
// most kMaxDatagram bytes, a uniqueid of letters, digits and '-'; anything
// else is dropped. The listener's callback gets a MailboxEvent with
// uniqueid and what set (name and counters empty: watchers re-read).
//
// Thread-safety: notify_primary() may be called from any thread. A
// NotifyListener calls its callback on its own thread, one event at a time;
// its destructor stops and joins that thread (no callback after it returns).
#pragma once

#include <sys/types.h>

#include <atomic>
#include <filesystem>
#include <functional>
#include <memory>
#include <string_view>
#include <thread>
#include <vector>

#include "store/base/result.h"
#include "store/types.h"

namespace cyr::store {

inline constexpr size_t kMaxNotifyDatagram = 256;

// {configdirectory}/store-notify.sock
std::filesystem::path notify_socket_path(const std::filesystem::path& configdirectory);

class NotifyListener {
 public:
  // Binds the socket (replacing a stale one left by a dead primary) and
  // starts the thread. Errc::Io if the socket cannot be made.
  static Result<std::unique_ptr<NotifyListener>> start(const std::filesystem::path& configdirectory,
                                                       std::function<void(const MailboxEvent&)> on_event);
  ~NotifyListener();
  NotifyListener(const NotifyListener&) = delete;
  NotifyListener& operator=(const NotifyListener&) = delete;

 private:
  NotifyListener() = default;
  void run();

  std::filesystem::path path_;
  int sock_ = -1;
  int stop_fd_ = -1;  // eventfd: written by the destructor to end poll()
  dev_t file_dev_ = 0;  // the socket file we bound, removed at the end if still there
  ino_t file_ino_ = 0;
  std::function<void(const MailboxEvent&)> on_event_;
  std::thread thread_;
};

// Sends one datagram per event to the primary of this store directory, if
// one listens; never blocks and never fails (see above).
void notify_primary(const std::filesystem::path& configdirectory, const std::vector<MailboxEvent>& events);

// Parses one datagram; false if it is not exactly the format above.
bool parse_notify_datagram(std::string_view d, MailboxEvent& out);

}  // namespace cyr::store
