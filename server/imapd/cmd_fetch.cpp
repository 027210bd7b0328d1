// FETCH and UID FETCH (with CHANGEDSINCE / VANISHED).
#include "server/imapd/fetch_format.h"
#include "server/imapd/session.h"
#include "store/base/log.h"

namespace cyr::imapd {

using imap::ResponseCode;
using K = imap::FetchItem::Kind;

namespace {

bool needs_structure(const imap::FetchItem& it) {
  return it.kind == K::Envelope || it.kind == K::Body || it.kind == K::BodyStructure ||
         it.kind == K::BodySection || it.kind == K::Rfc822Header || it.kind == K::Rfc822Text ||
         it.kind == K::BinarySection || it.kind == K::BinarySize;
}
bool needs_bytes(const imap::FetchItem& it) {
  return it.kind == K::BodySection || it.kind == K::Rfc822 || it.kind == K::Rfc822Header ||
         it.kind == K::Rfc822Text || it.kind == K::BinarySection || it.kind == K::BinarySize;
}
bool sets_seen(const imap::FetchItem& it) {
  return ((it.kind == K::BodySection || it.kind == K::BinarySection) && !it.peek) ||
         it.kind == K::Rfc822 || it.kind == K::Rfc822Text;
}

std::string apply_partial(const std::string& s, const std::optional<imap::Partial>& p) {
  if (!p) return s;
  if (p->offset >= s.size()) return std::string();
  return s.substr(p->offset, p->length);
}

}  // namespace

awaitable<Reply> Session::cmd_fetch(const imap::FetchArgs& a, bool by_uid) {
  if (a.vanished && (!by_uid || !qresync_ || !a.changed_since))
    co_return Reply::bad("VANISHED needs UID FETCH, QRESYNC and CHANGEDSINCE");
  auto seqs = resolve_set(a.set, by_uid);
  if (!seqs) co_return error_reply(seqs.error(), "FETCH");
  if (a.changed_since) condstore_ = true;
  bool any_structure = false, any_bytes = false, any_seen = false, want_modseq = false;
  bool want_flags = false, want_uid = by_uid;
  for (const auto& it : a.items) {
    any_structure |= needs_structure(it);
    any_bytes |= needs_bytes(it);
    any_seen |= sets_seen(it);
    want_modseq |= it.kind == K::ModSeq;
    want_flags |= it.kind == K::Flags;
    want_uid |= it.kind == K::Uid;
  }
  if (a.changed_since) want_modseq = true;
  const std::string name = selected_->info.name;

  if (a.vanished) {
    store::ModSeq since = *a.changed_since;
    auto ch = co_await blocking([&] { return store_.changes_since(name, since); });
    if (ch) {
      std::vector<uint32_t> gone;
      for (uint32_t u : ch->expunged.to_vector())
        if (a.set.contains(u, selected_->view.max_uid())) gone.push_back(u);
      if (!gone.empty())
        w_.begin_untagged().atom("VANISHED").begin_list().atom("EARLIER").end_list()
            .uid_set(gone).end_line();
    }
  }

  // \Seen first (one store call), so the FETCH responses show it.
  std::vector<uint32_t> todo;
  for (uint32_t s : *seqs) {
    const auto& r = selected_->view.at(s);
    if (a.changed_since && r.modseq <= *a.changed_since) continue;
    todo.push_back(s);
  }
  std::set<uint32_t> seen_now;
  if (any_seen && !selected_->read_only && (selected_->rights & mail::right::kSeen)) {
    store::StoreFlagsRequest req;
    req.op = store::FlagOp::Add;
    req.flags.system = store::kFlagSeen;
    for (uint32_t s : todo)
      if (!(selected_->view.at(s).flags.system & store::kFlagSeen)) req.uids.add(selected_->view.at(s).uid);
    if (!req.uids.empty() && selected_->per_user_seen) {
      for (const auto& [lo, hi] : req.uids.ranges()) selected_->seen_uids.add(lo, hi);
      Status saved = co_await save_seen();
      if (saved) {
        for (uint32_t s : todo)
          if (req.uids.contains(selected_->view.at(s).uid)) {
            selected_->view.at(s).flags.system |= store::kFlagSeen;
            seen_now.insert(s);
          }
      }
    } else if (!req.uids.empty()) {
      auto res = co_await blocking([&] { return store_.store_flags(name, req); });
      if (res) {
        for (const auto& rec : res->changed) {
          selected_->view.update_record(rec);
          if (auto s = selected_->view.seq_of(rec.uid)) seen_now.insert(*s);
        }
      }
    }
  }

  bool any_missing = false;
  // Structures are read a chunk of messages at a time: one blocking call and
  // one snapshot per chunk. One call per message (a thread hop and three
  // queries each) made FETCH 1:* ENVELOPE of 100,000 messages take seconds.
  constexpr size_t kStructureChunk = 1024;
  std::vector<std::optional<std::string>> blobs;
  size_t blobs_from = 0;
  for (size_t k = 0; k < todo.size(); ++k) {
    const uint32_t s = todo[k];
    const store::MessageRecord rec = selected_->view.at(s);
    std::optional<mail::MessageStructure> st;
    std::string bytes;
    if (any_structure || any_bytes) {
      store::Uid uid = rec.uid;
      if (k - blobs_from >= blobs.size()) {
        std::vector<store::Uid> uids;
        for (size_t j = k; j < todo.size() && j < k + kStructureChunk; ++j)
          uids.push_back(selected_->view.at(todo[j]).uid);
        auto got = co_await blocking([&] { return store_.structures(name, uids); });
        blobs_from = k;
        if (got) blobs = std::move(*got);
        else blobs.assign(uids.size(), std::nullopt);
      }
      if (const auto& blob = blobs[k - blobs_from]) {
        auto parsed = mail::MessageStructure::deserialize(*blob);
        if (parsed) st = std::move(*parsed);
      }
      if (any_bytes) {
        auto b = co_await blocking([&] { return store_.read_message(name, uid); });
        if (b) bytes = std::move(*b);
      }
      if (!st) {
        // Expunged by another session meanwhile, or unreadable: RFC 2180 4.1.
        any_missing = true;
        CYR_LOG(Warning, sid_, "FETCH: no structure for %s uid %u", name.c_str(), uid);
        continue;
      }
    }
    // BINARY items are decoded before the response starts: a part in an
    // encoding we cannot undo fails the command (RFC 3516 4.2: NO [UNKNOWN-CTE]).
    std::vector<BinaryContent> binaries(a.items.size());
    for (size_t i = 0; i < a.items.size(); ++i) {
      const auto& it = a.items[i];
      if (it.kind != K::BinarySection && it.kind != K::BinarySize) continue;
      binaries[i] = extract_binary(*st, bytes, it.section.part);
      if (binaries[i].status == BinaryContent::Status::UnknownCte)
        co_return Reply::no("Cannot decode content-transfer-encoding \"" +
                                binaries[i].encoding.substr(0, 60) + "\" of message " +
                                std::to_string(s),
                            ResponseCode::unknown_cte());
    }
    w_.begin_untagged().number(s).atom("FETCH").begin_list();
    if (want_uid) w_.atom("UID").number(rec.uid);
    if (want_flags || seen_now.count(s)) {
      w_.atom("FLAGS").begin_list();
      for (const auto& f : flags_shown(rec)) w_.atom(f);
      w_.end_list();
    }
    if (want_modseq) w_.atom("MODSEQ").begin_list().number(rec.modseq).end_list();
    for (size_t i = 0; i < a.items.size(); ++i) {
      const auto& it = a.items[i];
      switch (it.kind) {
        case K::Uid: case K::Flags: case K::ModSeq: break;
        case K::InternalDate: w_.atom("INTERNALDATE").string(format_internal_date(rec.internaldate)); break;
        case K::Rfc822Size: w_.atom("RFC822.SIZE").number(rec.size); break;
        case K::Envelope: w_.atom("ENVELOPE"); write_envelope(w_, st->envelope); break;
        case K::Body: w_.atom("BODY"); write_body_structure(w_, st->root, false); break;
        case K::BodyStructure: w_.atom("BODYSTRUCTURE"); write_body_structure(w_, st->root, true); break;
        case K::Rfc822: w_.atom("RFC822").literal(bytes); break;
        case K::Rfc822Header: {
          imap::Section sec; sec.text = imap::Section::Text::Header;
          w_.atom("RFC822.HEADER").literal(extract_section(*st, bytes, sec).value_or(""));
          break;
        }
        case K::Rfc822Text: {
          imap::Section sec; sec.text = imap::Section::Text::Text;
          w_.atom("RFC822.TEXT").literal(extract_section(*st, bytes, sec).value_or(""));
          break;
        }
        case K::BodySection: {
          auto data = extract_section(*st, bytes, it.section);
          w_.atom(section_item_name(it));
          if (!data) w_.string("");
          else w_.literal(apply_partial(*data, it.partial));
          break;
        }
        case K::BinarySection: {
          w_.atom(section_item_name(it));
          if (binaries[i].status != BinaryContent::Status::Ok) w_.nil();
          else w_.binary(apply_partial(binaries[i].data, it.partial));
          break;
        }
        case K::BinarySize:
          w_.atom(section_item_name(it));
          // The grammar allows only a number: a part that does not exist is 0.
          w_.number(binaries[i].data.size());
          break;
      }
    }
    w_.end_list().end_line();
    if (out_.size() > (1u << 20)) {
      if (!co_await flush()) co_return Reply::no("Connection lost");
    }
  }
  if (any_missing) co_return Reply::no("Some messages could not be fetched", ResponseCode::expunge_issued());
  co_return Reply::ok("Fetch completed");
}

}  // namespace cyr::imapd
