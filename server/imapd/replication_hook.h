// Replication through IMAP, as Cyrus 3.x imapd offers it to admins: the
// capability X-REPLICATION, and the tagged commands SYNCAPPLY, SYNCGET and
// SYNCRESTART, whose payloads are csync's ("<tag> SYNCAPPLY MAILBOX %(...)"
// is csync's "APPLY MAILBOX %(...)"; untagged replies are the same, the final
// one carries the tag). A Cyrus sync_client with `sync_try_imap: yes` (the
// 3.x default) uses this when it finds X-REPLICATION after logging in.
//
// The server library does not depend on sync/: the replication engine is
// installed from outside (ops/register_sync.cpp calls set_replication_factory
// with sync/csync_service.h's factory). Without a factory, imapd neither
// advertises nor accepts the commands.
//
// Thread-safety: set_replication_factory() is called once at start-up,
// before any session; replication_factory() may then be read from anywhere.
// A ReplicationChannel belongs to one IMAP session (one strand).
#pragma once

#include <boost/asio/awaitable.hpp>
#include <functional>
#include <memory>
#include <string>

#include "server/net/connection.h"
#include "server/service_registry.h"
#include "store/store.h"

namespace cyr::imapd {

class ReplicationChannel {
 public:
  virtual ~ReplicationChannel() = default;
  // Runs one command. `verb` is SYNCAPPLY, SYNCGET or SYNCRESTART (upper
  // case); `rest` is what followed the verb on the command's first line,
  // without the line end - a literal it announces is still unread on `conn`.
  // Reads the rest of the command, executes it and queues the replies, the
  // last one tagged. False when the connection must close.
  virtual boost::asio::awaitable<bool> run(const std::string& tag, const std::string& verb,
                                           std::string rest, server::net::Connection& conn) = 0;
};

// Makes the channel of one admin session, at its first replication command.
using ReplicationFactory = std::function<std::unique_ptr<ReplicationChannel>(
    std::shared_ptr<const server::ServiceContext> ctx, store::Store& store, const std::string& sid)>;

void set_replication_factory(ReplicationFactory factory);
// The installed factory, or null.
const ReplicationFactory* replication_factory();

// "SYNCAPPLY" for "<tag> SyncApply ..." (any case), if the line's second word
// is one of the three replication verbs; "" otherwise.
std::string replication_verb_of(std::string_view line);

}  // namespace cyr::imapd
