// SORT and UID SORT (RFC 5256; DISPLAYFROM/DISPLAYTO, RFC 5957; ESORT's
// RETURN (MIN MAX ALL COUNT SAVE), RFC 5267) and THREAD and UID THREAD
// (ORDEREDSUBJECT, REFERENCES).
//
// Both search first, exactly as SEARCH does (Session::matching_records),
// then read what they compare for the matching messages only: size and
// INTERNALDATE are in the index records; Date, Subject, From, To, Cc,
// Message-ID and In-Reply-To come from the envelopes stored at append,
// 1,024 per store read, decoded as views (mail::decode_envelope) as FETCH
// ENVELOPE does, so no message file is opened. Only THREAD=REFERENCES opens
// the files, for the References header, which the envelope lacks: it reads
// at most the first 64 KiB of each. The ordering and threading are the pure
// functions of thread.h. All of it runs on the blocking pool.
#include <algorithm>

#include "server/imap/response.h"
#include "server/imapd/search_eval.h"
#include "server/imapd/session.h"
#include "server/imapd/thread.h"

namespace cyr::imapd {

using imap::ResponseCode;

namespace {

constexpr size_t kEnvelopeChunk = 1024;
// A header longer than this is cut for finding References: it is long only
// with many Received/DKIM fields, and References is near the top in
// practice; the bound keeps THREAD's reads proportional to the mailbox.
constexpr uint64_t kMaxHeaderRead = 64 * 1024;
// Longer References lists keep their last IDs (the last is the parent).
constexpr size_t kMaxReferences = 256;

bool uses_modseq(const imap::SearchKey& k) {
  if (k.kind == imap::SearchKey::Kind::ModSeq) return true;
  for (const auto& c : k.children)
    if (uses_modseq(c)) return true;
  return false;
}

bool needs_envelope(const std::vector<imap::SortCriterion>& criteria) {
  return std::any_of(criteria.begin(), criteria.end(), [](const imap::SortCriterion& c) {
    return c.key != imap::SortKey::Arrival && c.key != imap::SortKey::Size;
  });
}

bool sorts_by(const std::vector<imap::SortCriterion>& criteria, imap::SortKey key) {
  return std::any_of(criteria.begin(), criteria.end(),
                     [&](const imap::SortCriterion& c) { return c.key == key; });
}

// addr-mailbox of the first address (RFC 5256 section 3: FROM, TO, CC).
std::string first_mailbox(const std::vector<mail::AddressView>& list) {
  if (list.empty() || !list.front().mailbox) return {};
  return ascii_casemap_key(*list.front().mailbox);
}

std::string trim(std::string s) {
  size_t b = s.find_first_not_of(" \t");
  if (b == std::string::npos) return {};
  size_t e = s.find_last_not_of(" \t");
  return s.substr(b, e - b + 1);
}

// RFC 5957: the decoded display name of the first address, or its
// addr-spec when it has none (a group: its name).
std::string display_address(const std::vector<mail::AddressView>& list) {
  if (list.empty()) return {};
  const mail::AddressView& a = list.front();
  if (a.name) {
    std::string name = trim(mail::decode_rfc2047(*a.name));
    if (!name.empty()) return ascii_casemap_key(name);
  }
  std::string spec = a.mailbox ? std::string(*a.mailbox) : std::string();
  if (a.host) spec += "@" + std::string(*a.host);
  return ascii_casemap_key(spec);
}

int64_t sent_date(const mail::EnvelopeView& env, int64_t internaldate) {
  if (!env.date) return internaldate;
  auto t = mail::parse_rfc5322_date(*env.date);
  return t ? static_cast<int64_t>(*t) : internaldate;
}

// Calls fn(k, envelope) for each hits[k] whose stored structure can be
// read; a message expunged meanwhile or with a bad blob is left out (its
// fields stay empty and its date INTERNALDATE).
template <class Fn>
Status for_each_envelope(store::Store& st, const std::string& name,
                         const std::vector<store::MessageRecord>& records,
                         const std::vector<uint32_t>& hits, Fn&& fn) {
  mail::EnvelopeView env;
  std::vector<store::Uid> uids;
  for (size_t start = 0; start < hits.size(); start += kEnvelopeChunk) {
    size_t end = std::min(hits.size(), start + kEnvelopeChunk);
    uids.clear();
    for (size_t k = start; k < end; ++k) uids.push_back(records[hits[k]].uid);
    auto blobs = st.structures(name, uids);
    if (!blobs) return blobs.take_error();
    for (size_t k = start; k < end; ++k) {
      const auto& blob = (*blobs)[k - start];
      if (blob && mail::decode_envelope(*blob, env).ok()) fn(k, env);
    }
  }
  return ok_status();
}

// The References header of a message (from its first kMaxHeaderRead
// octets), or "" when it has none or cannot be read.
std::string read_references(store::Store& st, const std::string& name,
                            const store::MessageRecord& r) {
  uint64_t len = std::min<uint64_t>(r.size, kMaxHeaderRead);
  if (len == 0) return {};
  auto bytes = st.read_message(name, r.uid, 0, len);
  if (!bytes) return {};
  std::string_view head(*bytes);
  head = head.substr(0, mail::header_block_size(head));
  auto refs = mail::find_header(head, "References");
  return refs ? std::move(*refs) : std::string();
}

}  // namespace

awaitable<Reply> Session::cmd_sort(const imap::SortArgs& a, bool by_uid, const std::string& tag) {
  if (!search_charset_supported(a.charset))
    co_return Reply::no("Unsupported charset", ResponseCode::bad_charset({"US-ASCII", "UTF-8"}));
  bool modseq = uses_modseq(a.key);
  if (modseq) condstore_ = true;
  const std::string name = selected_->info.name;
  const std::vector<store::MessageRecord> records = selected_->view.records();
  const std::vector<store::Uid> saved = saved_search_;
  const store::UidSet recent = selected_->recent_uids;
  const imap::SearchKey key = a.key;
  const std::vector<imap::SortCriterion> criteria = a.criteria;
  store::Store& st = store_;
  // Indexes into records, in sort order.
  auto sorted = co_await blocking([&]() -> Result<std::vector<uint32_t>> {
    std::vector<uint32_t> hits = matching_records(st, name, records, key, saved, recent);
    std::vector<SortFields> fields(hits.size());
    for (size_t k = 0; k < hits.size(); ++k) {
      const store::MessageRecord& r = records[hits[k]];
      fields[k].arrival = r.internaldate;
      fields[k].sent = r.internaldate;
      fields[k].size = r.size;
    }
    if (needs_envelope(criteria)) {
      using imap::SortKey;
      const bool want_subject = sorts_by(criteria, SortKey::Subject);
      const bool want_from = sorts_by(criteria, SortKey::From);
      const bool want_to = sorts_by(criteria, SortKey::To);
      const bool want_cc = sorts_by(criteria, SortKey::Cc);
      const bool want_dfrom = sorts_by(criteria, SortKey::DisplayFrom);
      const bool want_dto = sorts_by(criteria, SortKey::DisplayTo);
      Status read = for_each_envelope(st, name, records, hits, [&](size_t k, const mail::EnvelopeView& env) {
        SortFields& f = fields[k];
        f.sent = sent_date(env, f.arrival);
        if (want_subject && env.subject) f.subject = ascii_casemap_key(base_subject(*env.subject).text);
        if (want_from) f.from = first_mailbox(env.from);
        if (want_to) f.to = first_mailbox(env.to);
        if (want_cc) f.cc = first_mailbox(env.cc);
        if (want_dfrom) f.display_from = display_address(env.from);
        if (want_dto) f.display_to = display_address(env.to);
      });
      if (!read) return read.take_error();
    }
    std::vector<uint32_t> order = sort_messages(fields, criteria);
    for (uint32_t& i : order) i = hits[i];
    return order;
  });
  if (!sorted) co_return error_reply(sorted.error(), "SORT");

  std::vector<uint32_t> nums;
  store::ModSeq max_modseq = 0;
  for (uint32_t i : *sorted) {
    nums.push_back(by_uid ? records[i].uid : i + 1);
    max_modseq = std::max(max_modseq, records[i].modseq);
  }
  const auto answer_modseq = modseq ? std::optional<store::ModSeq>(max_modseq) : std::nullopt;
  if (!a.return_options) {
    write_number_list("SORT", nums, answer_modseq);
    co_return Reply::ok("Sort completed");
  }
  // ESORT: MIN and MAX are the first and last in sort order, ALL keeps the
  // order (RFC 5267 section 3.2).
  uint32_t ret = *a.return_options;
  if (ret & imap::kSearchReturnSave) {  // RFC 5182: the set, in UID order
    saved_search_.clear();
    for (uint32_t i : *sorted) saved_search_.push_back(records[i].uid);
    std::sort(saved_search_.begin(), saved_search_.end());
    ret &= ~uint32_t(imap::kSearchReturnSave);
    if (ret == 0) co_return Reply::ok("Sort completed");
  }
  write_esearch(tag, by_uid, ret, nums, true, answer_modseq);
  co_return Reply::ok("Sort completed");
}

awaitable<Reply> Session::cmd_thread(const imap::ThreadArgs& a, bool by_uid) {
  if (!search_charset_supported(a.charset))
    co_return Reply::no("Unsupported charset", ResponseCode::bad_charset({"US-ASCII", "UTF-8"}));
  if (uses_modseq(a.key)) condstore_ = true;
  const std::string name = selected_->info.name;
  const std::vector<store::MessageRecord> records = selected_->view.records();
  const std::vector<store::Uid> saved = saved_search_;
  const store::UidSet recent = selected_->recent_uids;
  const imap::SearchKey key = a.key;
  const bool references = a.algorithm == imap::ThreadAlgorithm::References;
  store::Store& st = store_;
  auto threads = co_await blocking([&]() -> Result<std::string> {
    std::vector<uint32_t> hits = matching_records(st, name, records, key, saved, recent);
    std::vector<ThreadMessage> msgs(hits.size());
    for (size_t k = 0; k < hits.size(); ++k) msgs[k].sent = records[hits[k]].internaldate;
    Status read = for_each_envelope(st, name, records, hits, [&](size_t k, const mail::EnvelopeView& env) {
      ThreadMessage& m = msgs[k];
      m.sent = sent_date(env, m.sent);
      if (env.subject) {
        BaseSubject b = base_subject(*env.subject);
        m.subject = ascii_casemap_key(b.text);
        m.reply_or_forward = b.reply_or_forward;
      }
      if (!references) return;
      if (env.message_id) {
        auto ids = parse_msg_ids(*env.message_id, 1);
        if (!ids.empty()) m.message_id = std::move(ids.front());
      }
      // In-Reply-To stands in only when References has no valid ID.
      if (env.in_reply_to) {
        auto ids = parse_msg_ids(*env.in_reply_to, SIZE_MAX);
        if (!ids.empty()) m.references.push_back(std::move(ids.front()));
      }
    });
    if (!read) return read.take_error();
    if (references)
      for (size_t k = 0; k < hits.size(); ++k) {
        std::string refs = read_references(st, name, records[hits[k]]);
        auto ids = parse_msg_ids(refs, kMaxReferences);
        if (!ids.empty()) msgs[k].references = std::move(ids);
      }
    ThreadForest forest = references ? thread_references(msgs) : thread_ordered_subject(msgs);
    std::vector<uint32_t> numbers(hits.size());
    for (size_t k = 0; k < hits.size(); ++k)
      numbers[k] = by_uid ? records[hits[k]].uid : hits[k] + 1;
    return format_threads(forest, numbers);
  });
  if (!threads) co_return error_reply(threads.error(), "THREAD");
  w_.begin_untagged().atom("THREAD");
  if (!threads->empty()) w_.raw(*threads);
  w_.end_line();
  co_return Reply::ok("Thread completed");
}

}  // namespace cyr::imapd
