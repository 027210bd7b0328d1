// In-process csync peer through the wire codec. See sync_peer.h.
#include "sync/sync_peer.h"

#include "sync/sync_server.h"

namespace cyr::sync {

const SyncReply& final_reply(const std::vector<SyncReply>& replies) {
  static const SyncReply kMissing{ReplyKind::Bad, "", {}, "", "no final reply"};
  if (replies.empty() || !replies.back().is_final()) return kMissing;
  return replies.back();
}

Status SyncPeer::send(const SyncCommand& cmd) {
  auto r = call(cmd);
  std::lock_guard lk(held_mu_);
  held_.push_back(std::move(r));
  return {};
}

Result<std::vector<SyncReply>> SyncPeer::receive() {
  std::lock_guard lk(held_mu_);
  if (held_.empty()) return Error(Errc::Internal, "no reply outstanding");
  auto r = std::move(held_.front());
  held_.pop_front();
  return r;
}

namespace {
// Feeds `bytes` through a framer and returns each complete line.
Result<std::vector<RawLine>> frame_all(std::string_view bytes, LineFramer& framer) {
  std::vector<RawLine> lines;
  while (!bytes.empty()) {
    size_t n = framer.feed(bytes);
    bytes.remove_prefix(n);
    if (framer.line_ready()) {
      auto l = framer.take_line();
      if (!l.ok()) return l.take_error();
      lines.push_back(std::move(*l));
    } else if (n == 0) {
      break;
    }
  }
  if (framer.in_line()) return Error(Errc::Invalid, "truncated line");
  return lines;
}
}  // namespace

Result<std::vector<SyncReply>> LoopbackPeer::call(const SyncCommand& cmd) {
  auto wire = encode_command(cmd);
  if (!wire.ok()) return wire.take_error();
  sent_ += wire->size();
  if (rec_c_) rec_c_->append(*wire);
  LineFramer server_in(server_.framer_limits(), server_.file_sinks());
  auto lines = frame_all(*wire, server_in);
  std::vector<SyncReply> replies;
  if (!lines.ok() || lines->size() != 1) {
    replies.push_back(SyncReply{ReplyKind::Bad, "", {}, "", "IMAP_PROTOCOL_ERROR Failed to parse line"});
  } else {
    auto parsed = parse_command(std::move(lines->front()));
    if (!parsed.ok())
      replies.push_back(SyncReply{ReplyKind::Bad, "", {}, "", parsed.error().user_message});
    else
      replies = server_.execute(*parsed);
  }
  std::string back;
  for (auto& r : replies) {
    auto b = encode_reply(r);
    if (!b.ok()) return b.take_error();
    back += *b;
  }
  received_ += back.size();
  if (rec_s_) rec_s_->append(back);
  auto decoded = decode_replies(back);
  if (!decoded.ok()) return decoded.take_error();
  return decoded;
}

}  // namespace cyr::sync
