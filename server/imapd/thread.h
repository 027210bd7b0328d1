// SORT and THREAD (RFC 5256, RFC 5957): the pure algorithms.
//
// cmd_sort.cpp extracts per-message values from the store (envelope fields,
// the References header) into the plain structs below, and these functions
// order or thread them. Nothing here does I/O or knows about the store, so
// every rule of the RFCs is unit-tested on literal values.
//
// Messages are always given in mailbox (sequence number) order, and their
// index in the input vector is what the results refer to: RFC 5256 breaks
// every tie by sequence number, which is then the index.
//
// All functions are O(n log n) in the number of messages (plus the size of
// their strings) and iterative (no recursion over thread depth: a 100,000
// message reply chain is one thread 100,000 deep). Pure and thread-safe.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "server/imap/command.h"

namespace cyr::imapd {

// ---------------------------------------------------------------- subjects

struct BaseSubject {
  std::string text;  // UTF-8, whitespace normalised; not case-folded
  // A "Re:"/"Fw:"/"Fwd:" leader or a "(fwd)" trailer was removed: RFC 5256
  // calls the message a reply or forward (REFERENCES step 6).
  bool reply_or_forward = false;
};

// The base subject of RFC 5256 section 2.1 from a raw Subject value
// (unfolded, RFC 2047 encoded words allowed).
BaseSubject base_subject(std::string_view raw_subject);

// The i;ascii-casemap (RFC 4790) key of a string: a-z mapped to A-Z. Two
// strings compare under the collation as their keys compare octet by octet.
std::string ascii_casemap_key(std::string_view s);

// The message IDs ("<...>") in a Message-ID, In-Reply-To or References
// value, in order, without the angle brackets' content changed except that
// whitespace inside is dropped; empty "<>" and unterminated ones are skipped.
// At most max_ids, the last ones when there are more (a References list
// ends with the parent).
std::vector<std::string> parse_msg_ids(std::string_view value, size_t max_ids);

// ---------------------------------------------------------------- SORT

// What SORT compares, per message. The strings are ascii_casemap_key()s.
struct SortFields {
  int64_t arrival = 0;  // INTERNALDATE
  int64_t sent = 0;     // Date header in UTC, or INTERNALDATE (RFC 5256 2.2)
  uint64_t size = 0;
  std::string cc, from, to;                 // addr-mailbox of the first address
  std::string subject;                      // base subject
  std::string display_from, display_to;     // RFC 5957
};

// Indexes of msgs in sort order; equal messages stay in input order
// (REVERSE reverses a criterion, never the tie-break).
std::vector<uint32_t> sort_messages(const std::vector<SortFields>& msgs,
                                    std::span<const imap::SortCriterion> criteria);

// ---------------------------------------------------------------- THREAD

struct ThreadMessage {
  int64_t sent = 0;          // as SortFields::sent
  std::string subject;       // ascii_casemap_key of the base subject
  bool reply_or_forward = false;
  std::string message_id;    // "" when absent or invalid
  // The References IDs, or the first In-Reply-To ID when References has
  // none (RFC 5256 3 step 1); the last is the parent.
  std::vector<std::string> references;
};

// Threads as a forest. A node is a message (an index into the input) or a
// dummy (a missing parent shared by several threads; only at the top).
struct ThreadForest {
  static constexpr uint32_t kDummy = UINT32_MAX;
  struct Node {
    uint32_t message = kDummy;
    std::vector<uint32_t> children;  // node indexes, in order
  };
  std::vector<Node> nodes;
  std::vector<uint32_t> roots;  // node indexes, in order
};

// ORDEREDSUBJECT: messages grouped by base subject, the first (by sent date)
// the root, the others its children; threads ordered by their root's date.
ThreadForest thread_ordered_subject(const std::vector<ThreadMessage>& msgs);

// REFERENCES (RFC 5256 section 3): parent links from References /
// In-Reply-To, dummies for missing parents, pruning, threads of the same
// base subject merged, siblings ordered by sent date. A link that would
// make a loop is not made; so that a hostile mailbox cannot make the loop
// checks quadratic, they share a budget of steps, and once it is spent a
// link whose check would need a walk up the tree is not made either.
ThreadForest thread_references(const std::vector<ThreadMessage>& msgs);

// The THREAD response data after "THREAD", e.g. "(2)(3 6 (4 23)(44 7 96))";
// numbers[i] is what message i is shown as (sequence number or UID).
std::string format_threads(const ThreadForest& forest, const std::vector<uint32_t>& numbers);

}  // namespace cyr::imapd
