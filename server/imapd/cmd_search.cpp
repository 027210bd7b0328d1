// SEARCH and UID SEARCH, with ESEARCH RETURN (MIN MAX ALL COUNT SAVE).
#include <ctime>

#include "server/imapd/search_eval.h"
#include "server/imapd/session.h"

namespace cyr::imapd {

using imap::ResponseCode;

namespace {
bool uses_modseq(const imap::SearchKey& k) {
  if (k.kind == imap::SearchKey::Kind::ModSeq) return true;
  for (const auto& c : k.children)
    if (uses_modseq(c)) return true;
  return false;
}
}  // namespace

std::vector<uint32_t> Session::matching_records(store::Store& st, const std::string& name,
                                                const std::vector<store::MessageRecord>& records,
                                                const imap::SearchKey& key,
                                                const std::vector<store::Uid>& saved,
                                                const store::UidSet& recent) {
  std::vector<uint32_t> out;
  const bool content = search_needs_content(key);
  int64_t now = static_cast<int64_t>(std::time(nullptr));
  for (size_t i = 0; i < records.size(); ++i) {
    const auto& r = records[i];
    std::optional<mail::MessageStructure> ms;
    std::optional<std::string> bytes;
    bool loaded = false;
    auto load = [&] {
      if (loaded) return;
      loaded = true;
      auto blob = st.structure(name, r.uid);
      if (blob) {
        auto p = mail::MessageStructure::deserialize(*blob);
        if (p) ms = std::move(*p);
      }
      auto b = st.read_message(name, r.uid);
      if (b) bytes = std::move(*b);
    };
    SearchMessage m;
    m.record = &r;
    m.seq = static_cast<uint32_t>(i + 1);
    m.max_seq = static_cast<uint32_t>(records.size());
    m.max_uid = records.empty() ? 0 : records.back().uid;
    m.now = now;
    m.saved = &saved;
    m.recent = recent.contains(r.uid);
    if (content) {
      m.structure = [&]() -> const mail::MessageStructure* { load(); return ms ? &*ms : nullptr; };
      m.bytes = [&]() -> const std::string* { load(); return bytes ? &*bytes : nullptr; };
    }
    if (search_matches(key, m)) out.push_back(static_cast<uint32_t>(i));
  }
  return out;
}

awaitable<Reply> Session::cmd_search(const imap::SearchArgs& a, bool by_uid,
                                     const std::string& tag) {
  if (!search_charset_supported(a.charset))
    co_return Reply::no("Unsupported charset",
                        ResponseCode::bad_charset({"US-ASCII", "UTF-8"}));
  bool modseq = uses_modseq(a.key);
  if (modseq) condstore_ = true;
  const std::string name = selected_->info.name;
  const std::vector<store::MessageRecord> records = selected_->view.records();
  const std::vector<store::Uid> saved = saved_search_;
  const store::UidSet recent = selected_->recent_uids;
  const imap::SearchKey key = a.key;
  store::Store& st = store_;
  struct Hit { uint32_t seq; store::Uid uid; store::ModSeq modseq; };
  auto hits = co_await blocking([&]() -> Result<std::vector<Hit>> {
    std::vector<Hit> out;
    for (uint32_t i : matching_records(st, name, records, key, saved, recent))
      out.push_back(Hit{i + 1, records[i].uid, records[i].modseq});
    return out;
  });
  if (!hits) co_return error_reply(hits.error(), "SEARCH");

  store::ModSeq max_modseq = 0;
  std::vector<uint32_t> nums;
  for (const auto& h : *hits) {
    nums.push_back(by_uid ? h.uid : h.seq);
    max_modseq = std::max(max_modseq, h.modseq);
  }
  const auto answer_modseq = modseq ? std::optional<store::ModSeq>(max_modseq) : std::nullopt;
  if (!a.return_options) {
    write_number_list("SEARCH", nums, answer_modseq);
    co_return Reply::ok("Search completed");
  }
  uint32_t ret = *a.return_options;
  if (ret == 0) ret = imap::kSearchReturnAll;
  if (ret & imap::kSearchReturnSave) {
    saved_search_.clear();
    for (const auto& h : *hits) saved_search_.push_back(h.uid);
    ret &= ~uint32_t(imap::kSearchReturnSave);
    if (ret == 0) co_return Reply::ok("Search completed");  // SAVE alone: no ESEARCH
  }
  write_esearch(tag, by_uid, ret, nums, false, answer_modseq);
  co_return Reply::ok("Search completed");
}

void Session::write_number_list(std::string_view verb, const std::vector<uint32_t>& nums,
                                std::optional<store::ModSeq> modseq) {
  w_.begin_untagged().atom(verb);
  for (uint32_t n : nums) w_.number(n);
  if (modseq && !nums.empty()) w_.begin_list().atom("MODSEQ").number(*modseq).end_list();
  w_.end_line();
}

void Session::write_esearch(const std::string& tag, bool by_uid, uint32_t ret, const std::vector<uint32_t>& nums,
                            bool keep_order, std::optional<store::ModSeq> modseq) {
  w_.begin_untagged().atom("ESEARCH").begin_list().atom("TAG").string(tag).end_list();
  if (by_uid) w_.atom("UID");
  if (!nums.empty()) {
    if (ret & imap::kSearchReturnMin) w_.atom("MIN").number(nums.front());
    if (ret & imap::kSearchReturnMax) w_.atom("MAX").number(nums.back());
    if (ret & imap::kSearchReturnAll) {
      if (keep_order) w_.atom("ALL").atom(imap::format_uid_sequence(nums));
      else w_.atom("ALL").uid_set(nums);
    }
  }
  if (ret & imap::kSearchReturnCount) w_.atom("COUNT").number(nums.size());
  if (modseq && !nums.empty()) w_.atom("MODSEQ").number(*modseq);
  w_.end_line();
}

}  // namespace cyr::imapd
