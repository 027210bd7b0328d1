// Sieve at delivery: runs a recipient's active script (ManageSieve stores
// it in the user's shard) and carries out what it decides, as Cyrus's lmtpd
// does (docs/sieve.md):
//   keep / implicit keep -> the recipient's mailbox (INBOX, or the +detail
//                           folder the address named)
//   fileinto             -> a mailbox in the user's namespace; one that does
//                           not exist, or where the user may not post, gets
//                           the message in the INBOX instead (and a log line)
//   discard              -> 250, nothing stored
//   reject / ereject     -> 550 5.7.1 with the script's reason, for this
//                           recipient only
//   redirect             -> the message handed to `sendmail` for the address
//   vacation             -> an answer through `sendmail` with the null
//                           sender, at most once per sender and :days, kept
//                           in the duplicate database
// A script that does not compile any more, or a runtime error, means the
// implicit keep: mail is never lost to a broken script.
//
// Blocking (store, duplicate database, sendmail): call on the blocking pool.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "server/lmtpd/delivery.h"
#include "store/base/result.h"
#include "store/duplicate_db.h"
#include "store/store.h"

namespace cyr::lmtpd {

// nullopt: the recipient has no active script (Target::sieve, read by
// resolve_recipient), or Sieve is off; deliver as usual. Otherwise the one
// reply for this recipient, after every action ran.
std::optional<Reply> deliver_with_sieve(store::Store& store, store::DuplicateDb* dupdb, const DeliverySettings& s,
                                        const SpooledMessage& msg, const Target& t, const std::string& sid);

// Runs `sendmail -i -f <from> -- <to>` (imapd.conf sendmail; "<>" as from
// for the null sender) with `message` on its standard input. An error if it
// cannot be started, exits non-zero, or takes longer than `timeout` (it is
// then killed).
Status run_sendmail(const std::string& sendmail, const std::string& from, const std::string& to,
                    std::string_view message, std::chrono::seconds timeout);

}  // namespace cyr::lmtpd
