// FETCH and UID FETCH (with CHANGEDSINCE / VANISHED).
#include <utility>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "server/imapd/fetch_format.h"
#include "server/imapd/search_eval.h"
#include "server/imapd/session.h"
#include "store/base/log.h"

namespace cyr::imapd {

namespace asio = boost::asio;
using imap::ResponseCode;
using K = imap::FetchItem::Kind;

namespace {

// One chunk of stored structures being read on the blocking pool while the
// session formats the previous chunk: on two cores the SQLite reads and
// the response formatting of a large FETCH overlap instead of alternating.
// Shared by the session and the read in flight (which may outlive the
// command if the connection drops; it touches only this state, the pool
// and the store, which outlive every session). Used on the session's
// strand only.
struct StructureChunk {
  explicit StructureChunk(const asio::any_io_executor& ex) : ready(ex) {}
  size_t count = 0;  // uids asked for
  bool done = false;
  Result<std::vector<std::optional<std::string>>> got = std::vector<std::optional<std::string>>{};
  asio::steady_timer ready;  // cancelled when done
};

std::shared_ptr<StructureChunk> start_structure_read(const asio::any_io_executor& ex,
                                                     server::BlockingPool* pool, store::Store* store,
                                                     std::string name, std::vector<store::Uid> uids) {
  auto chunk = std::make_shared<StructureChunk>(ex);
  chunk->count = uids.size();
  asio::co_spawn(
      ex,
      [chunk, pool, store, name = std::move(name), uids = std::move(uids)]() -> awaitable<void> {
        chunk->got = co_await pool->run([&] { return store->structures(name, uids); });
        chunk->done = true;
        chunk->ready.cancel();
      },
      asio::detached);
  return chunk;
}

// Waits until the read has finished. Each wait ends when the read cancels
// the timer (or after an hour, and the flag is checked again).
awaitable<void> finish_structure_read(StructureChunk& chunk) {
  while (!chunk.done) {
    chunk.ready.expires_after(std::chrono::hours(1));
    boost::system::error_code ec;
    co_await chunk.ready.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
}

bool needs_structure(const imap::FetchItem& it) {
  return it.kind == K::Envelope || it.kind == K::Body || it.kind == K::BodyStructure ||
         it.kind == K::BodySection || it.kind == K::Rfc822Header || it.kind == K::Rfc822Text ||
         it.kind == K::BinarySection || it.kind == K::BinarySize || it.kind == K::Preview;
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
  bool want_preview = false;
  bool want_flags = false, want_uid = by_uid || qresync_;  // with QRESYNC every FETCH carries the UID (RFC 7162)
  // ENVELOPE is the only item that needs the structure: then only the
  // envelope is decoded, as views into the stored blob (no body parts, no
  // string copies), the common FETCH of mail clients' message lists.
  bool envelope_only = true;
  for (const auto& it : a.items) {
    if (needs_structure(it) && it.kind != K::Envelope) envelope_only = false;
    any_structure |= needs_structure(it);
    any_bytes |= needs_bytes(it);
    any_seen |= sets_seen(it);
    want_modseq |= it.kind == K::ModSeq;
    want_flags |= it.kind == K::Flags;
    want_uid |= it.kind == K::Uid;
    want_preview |= it.kind == K::Preview;
  }
  if (a.changed_since) want_modseq = true;
  envelope_only = envelope_only && any_structure && !any_bytes;
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
  // The next chunk is read while this one is formatted.
  constexpr size_t kStructureChunk = 1024;
  auto read_chunk_at = [&](size_t from) {
    std::vector<store::Uid> uids;
    for (size_t j = from; j < todo.size() && j < from + kStructureChunk; ++j)
      uids.push_back(selected_->view.at(todo[j]).uid);
    return start_structure_read(conn_->get_executor(), service_->ctx->blocking, &store_, name,
                                std::move(uids));
  };
  std::shared_ptr<StructureChunk> next_chunk;
  if ((any_structure || any_bytes) && !todo.empty()) next_chunk = read_chunk_at(0);
  std::vector<std::optional<std::string>> blobs;
  size_t blobs_from = 0;
  mail::EnvelopeView envelope;  // reused: its vectors keep their capacity
  std::string preview;
  for (size_t k = 0; k < todo.size(); ++k) {
    const uint32_t s = todo[k];
    std::optional<mail::MessageStructure> st;
    bool have_envelope = false;
    std::string bytes;
    if (any_structure || any_bytes) {
      const store::Uid uid = selected_->view.at(s).uid;
      if (k - blobs_from >= blobs.size()) {
        co_await finish_structure_read(*next_chunk);
        blobs_from = k;
        if (next_chunk->got && next_chunk->got->size() == next_chunk->count)
          blobs = std::move(*next_chunk->got);
        else
          blobs.assign(next_chunk->count, std::nullopt);
        next_chunk = k + blobs.size() < todo.size() ? read_chunk_at(k + blobs.size()) : nullptr;
      }
      if (const auto& blob = blobs[k - blobs_from]) {
        if (envelope_only) {
          have_envelope = mail::decode_envelope(*blob, envelope).ok();
        } else {
          auto parsed = mail::MessageStructure::deserialize(*blob);
          if (parsed) st = std::move(*parsed);
        }
      }
      if (any_bytes) {
        auto b = co_await blocking([&] { return store_.read_message(name, uid); });
        if (b) bytes = std::move(*b);
      }
      if (!st && !have_envelope) {
        // Expunged by another session meanwhile, or unreadable: RFC 2180 4.1.
        any_missing = true;
        CYR_LOG(Warning, sid_, "FETCH: no structure for %s uid %u", name.c_str(), uid);
        continue;
      }
      if (want_preview) {
        // Only the start of the one part the preview is made of is read
        // (kPreviewMaxRawBytes), unless the whole message is here anyway.
        preview.clear();
        if (const mail::BodyPart* part = preview_part(*st); part && part->body_size > 0) {
          const uint64_t want = std::min<uint64_t>(part->body_size, kPreviewMaxRawBytes);
          const bool truncated = want < part->body_size;
          if (any_bytes) {
            if (part->body_offset < bytes.size())
              preview = make_preview(
                  *part, std::string_view(bytes).substr(part->body_offset, want), truncated);
          } else {
            auto raw = co_await blocking(
                [&] { return store_.read_message(name, uid, part->body_offset, want); });
            if (raw) preview = make_preview(*part, *raw, truncated);
          }
        }
      }
    }
    // After the awaits: the view does not change during this command, and a
    // reference spares a copy of every record.
    const store::MessageRecord& rec = selected_->view.at(s);
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
      write_flags_shown(rec);
      w_.end_list();
    }
    if (want_modseq) w_.atom("MODSEQ").begin_list().number(rec.modseq).end_list();
    for (size_t i = 0; i < a.items.size(); ++i) {
      const auto& it = a.items[i];
      switch (it.kind) {
        case K::Uid: case K::Flags: case K::ModSeq: break;
        case K::InternalDate: w_.atom("INTERNALDATE").string(format_internal_date(rec.internaldate)); break;
        case K::Rfc822Size: w_.atom("RFC822.SIZE").number(rec.size); break;
        case K::Envelope:
          w_.atom("ENVELOPE");
          if (envelope_only) write_envelope(w_, envelope);
          else write_envelope(w_, st->envelope);
          break;
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
        case K::EmailId: {
          std::string id = email_id(rec.guid);
          w_.atom("EMAILID");
          if (id.empty()) w_.nil();
          else w_.begin_list().atom(id).end_list();
          break;
        }
        // No conversations database, so no thread ids: RFC 8474 section 5.2
        // allows NIL.
        case K::ThreadId: w_.atom("THREADID").nil(); break;
        case K::SaveDate:
          w_.atom("SAVEDATE");
          if (rec.savedate == 0) w_.nil();
          else w_.string(format_internal_date(rec.savedate));
          break;
        // LAZY changes nothing: the preview is computed from at most
        // kPreviewMaxRawBytes, cheap enough to answer every time.
        case K::Preview: w_.atom("PREVIEW").string(preview); break;
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
