// APPEND (with MULTIAPPEND and CATENATE) and REPLACE: the messages were read
// into memory or streamed to temporary files while the command was read
// (Session::receive_message); here CATENATE parts are assembled into a
// staged file and the messages go into the store in one transaction.
#include <fcntl.h>
#include <unistd.h>

#include <optional>

#include "server/imap/imap_url.h"
#include "server/imapd/fetch_format.h"
#include "server/imapd/session.h"
#include "store/base/ascii.h"
#include "store/base/log.h"

namespace cyr::imapd {

using imap::ResponseCode;

namespace {

constexpr size_t kCopyChunk = 256 * 1024;

bool write_all(int fd, std::string_view bytes) {
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

// Appends `length` octets of `in` from `offset` (length 0: to its end) to
// `out`, a chunk at a time: a large literal or message is never in memory.
Status copy_range(int in, uint64_t offset, uint64_t length, int out) {
  std::string buf(kCopyChunk, '\0');
  uint64_t left = length;
  while (length == 0 || left > 0) {
    size_t want = length == 0 ? buf.size() : static_cast<size_t>(std::min<uint64_t>(left, buf.size()));
    ssize_t n = ::pread(in, buf.data(), want, static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Error(Errc::Io, "Cannot read a CATENATE part", strerror(errno));
    if (n == 0) break;
    if (!write_all(out, std::string_view(buf.data(), static_cast<size_t>(n))))
      return Error(Errc::Io, "Cannot write a CATENATE message", strerror(errno));
    offset += static_cast<uint64_t>(n);
    if (length != 0) left -= static_cast<uint64_t>(n);
  }
  return ok_status();
}

struct FdGuard {
  int fd = -1;
  ~FdGuard() {
    if (fd >= 0) ::close(fd);
  }
};

// Appends the staged file `path` to fd.
Status copy_file_into(const std::string& path, int fd) {
  FdGuard in{::open(path.c_str(), O_RDONLY | O_CLOEXEC)};
  if (in.fd < 0) return Error(Errc::Io, "Cannot read a staged literal", path + ": " + strerror(errno));
  return copy_range(in.fd, 0, 0, fd);
}

}  // namespace

// One URL part of a CATENATE: its data, or the NO [BADURL] to answer. Runs
// on the blocking pool (the session is suspended meanwhile, so it reads the
// session's identity and namespace safely).
Result<Session::UrlData> Session::read_catenate_url(const std::string& text) {
  UrlData d;
  auto bad = [&](const std::string& why) {
    d.refusal = Reply::no("CATENATE: " + why, ResponseCode::bad_url(text));
    return d;
  };
  auto url = imap::parse_imap_url(text);
  if (!url) return bad(url.error().user_message);
  // A full URL must name this session's user on this server: the data of
  // another user's URL would need URLAUTH (RFC 4467), which is not offered.
  if (url->has_server) {
    if (!url->user || !identity_ || *url->user != identity_->userid)
      return bad("URL names another user");
    if (!iequals(url->host, settings_.servername)) return bad("URL names another server");
  }
  // Mailbox names in URLs are UTF-8 (RFC 5092 3.3); IMAP's are modified UTF-7.
  auto external = mail::utf8_to_mutf7(url->mailbox);
  if (!external) return bad("Invalid mailbox name");
  auto internal = to_internal(*external);
  if (!internal) return bad("Invalid mailbox name");
  auto info = store_.lookup(*internal);
  if (!info) {
    if (info.error().code == Errc::NotFound) return bad("No such mailbox");
    return info.take_error();
  }
  // Reading the data needs 'r' (RFC 4469 5); without 'l' either the mailbox
  // does not exist as far as this user knows (RFC 4314 4).
  mail::Rights rights = rights_on(*info);
  if (!(rights & mail::right::kRead))
    return bad(rights & mail::right::kLookup ? "Permission denied" : "No such mailbox");
  if (url->uidvalidity && *url->uidvalidity != info->uidvalidity)
    return bad("UIDVALIDITY of the mailbox has changed");
  auto rec = store_.record(*internal, url->uid);
  if (!rec) {
    if (rec.error().code == Errc::NotFound) return bad("No such message");
    return rec.take_error();
  }
  if (rec->expunged()) return bad("No such message");
  if (!url->section) {
    // The whole message, or ;PARTIAL= of it: copied from its file, which
    // may be as large as APPENDLIMIT, by the caller (never read whole).
    d.from_file = true;
    d.offset = std::min<uint64_t>(url->partial ? url->partial->offset : 0, rec->size);
    d.length = rec->size - d.offset;
    if (url->partial && url->partial->length) d.length = std::min<uint64_t>(d.length, *url->partial->length);
    d.mailbox = *internal;
    d.uid = url->uid;
    return d;
  }
  auto bytes = store_.read_message(*internal, url->uid);
  if (!bytes) {
    if (bytes.error().code == Errc::NotFound) return bad("No such message");
    return bytes.take_error();
  }
  {
    // The same extraction as FETCH BODY[section] (fetch_format.h).
    auto blob = store_.structure(*internal, url->uid);
    if (!blob) {
      if (blob.error().code == Errc::NotFound) return bad("No such message");
      return blob.take_error();
    }
    auto st = mail::MessageStructure::deserialize(*blob);
    if (!st) return st.take_error();
    auto data = extract_section(*st, *bytes, *url->section);
    if (!data) return bad("No such section");
    d.bytes = std::move(*data);
  }
  if (url->partial) {
    // RFC 5092 ;PARTIAL=offset[.length] of the data named so far; past the
    // end is empty, as FETCH's <partial> is.
    uint64_t off = url->partial->offset;
    if (off >= d.bytes.size()) d.bytes.clear();
    else d.bytes = d.bytes.substr(off, url->partial->length ? *url->partial->length : std::string::npos);
  }
  return d;
}

awaitable<std::variant<Reply, Session::Appended>> Session::append_received(const imap::AppendArgs& a,
                                                                          const char* what) {
  std::vector<AppendBody> bodies = std::move(append_bodies_);
  append_bodies_.clear();
  append_memory_ = 0;
  std::vector<bool> has_nul = std::move(append_has_nul_);
  append_has_nul_.clear();
  // The CATENATE results, staged files of their own.
  std::vector<std::string> assembled;
  struct Cleanup {
    std::vector<AppendBody>& b;
    std::vector<std::string>& files;
    ~Cleanup() {
      for (const auto& x : b)
        if (!x.file.empty()) ::unlink(x.file.c_str());
      for (const auto& f : files) ::unlink(f.c_str());
    }
  } cleanup{bodies, assembled};
  // One MessageLiteral per plain message and per CATENATE TEXT part, each
  // at the index the parser gave it.
  size_t literals = 0;
  for (const auto& m : a.messages) {
    if (m.catenate.empty()) {
      ++literals;
      continue;
    }
    for (const auto& p : m.catenate)
      if (p.kind == imap::CatenatePart::Kind::Text) ++literals;
  }
  auto literal_ok = [&](uint32_t i) { return i < bodies.size(); };
  bool indexes_ok = bodies.size() == literals;
  for (const auto& m : a.messages) {
    if (m.catenate.empty()) indexes_ok = indexes_ok && literal_ok(m.literal);
    for (const auto& p : m.catenate)
      if (p.kind == imap::CatenatePart::Kind::Text) indexes_ok = indexes_ok && literal_ok(p.literal);
  }
  if (!indexes_ok) co_return Reply::no("Message data was not received", ResponseCode::server_bug());
  // A NUL may only arrive in a literal8 (RFC 3516 4.4; RFC 3501's CHAR8
  // excludes it), as Cyrus refuses such a message sent as a plain literal.
  // A CATENATE TEXT part is a literal too (RFC 4469 5: "TEXT" SP literal).
  for (const auto& m : a.messages) {
    if (m.catenate.empty()) {
      if (m.literal < has_nul.size() && has_nul[m.literal] && !m.binary)
        co_return Reply::no("Message contains NUL characters; send it as a literal8 (~{n})");
      continue;
    }
    for (const auto& p : m.catenate)
      if (p.kind == imap::CatenatePart::Kind::Text && p.literal < has_nul.size() &&
          has_nul[p.literal] && !p.binary)
        co_return Reply::no("CATENATE TEXT part contains NUL characters; send it as a literal8 (~{n})");
  }

  auto internal = to_internal(a.mailbox);
  if (!internal) co_return error_reply(internal.error(), what);
  const std::filesystem::path dir = staging_dir();
  const uint64_t max_message = settings_.max_message;
  // The lookup, the rights check, the CATENATE assembly and the append run
  // in one blocking-pool hop: each hop is a switch to a pool thread and
  // back, and with one connection an APPEND waits for every one of them in
  // turn. The session is suspended meanwhile, so rights_on() reads its
  // state safely there.
  struct Outcome {
    std::optional<Reply> refusal;  // refused before the store was asked to append
    store::AppendResult res;
  };
  auto out = co_await blocking([&]() -> Result<Outcome> {
    Outcome o;
    // The rights need only the mailbox list's entry (its ACL), not the
    // mailbox's own database: the append reads that anyway.
    auto acl = store_.get_acl(*internal);
    if (!acl) {
      if (acl.error().code != Errc::NotFound) return acl.take_error();
      o.refusal = Reply::no("Mailbox does not exist", missing_target_code(*internal));
      return o;
    }
    store::MailboxInfo listed;
    listed.name = *internal;
    listed.acl = std::move(*acl);
    mail::Rights rights = rights_on(listed);
    if (!(rights & (mail::right::kLookup | mail::right::kRead))) {
      o.refusal = Reply::no("Mailbox does not exist", missing_target_code(*internal));
      return o;
    }
    if (!(rights & mail::right::kInsert)) {
      o.refusal = Reply::no("Permission denied", ResponseCode::no_perm());
      return o;
    }
    // CATENATE: each message's parts, in order, into a staged file of its
    // own, before anything is appended, so that one bad URL (or a result
    // over APPENDLIMIT) appends none of the command's messages (RFC 4469 5,
    // RFC 3502 6.3.11).
    std::vector<std::string> sources(a.messages.size());
    for (size_t i = 0; i < a.messages.size(); ++i) {
      const imap::AppendMessage& m = a.messages[i];
      if (m.catenate.empty()) continue;
      auto made = create_staging_file(dir);
      if (!made) return made.take_error();
      int fd = made->first;
      assembled.push_back(made->second);
      sources[i] = made->second;
      FdGuard guard{fd};
      uint64_t total = 0;
      auto too_big = [&] {
        o.refusal = Reply::no("CATENATE result too big (APPENDLIMIT " + std::to_string(max_message) + ")",
                              ResponseCode::too_big());
      };
      for (const imap::CatenatePart& p : m.catenate) {
        if (p.kind == imap::CatenatePart::Kind::Text) {
          AppendBody& b = bodies[p.literal];
          total += p.size;
          if (total > max_message) {
            too_big();
            return o;
          }
          if (b.file.empty()) {
            if (!write_all(fd, b.bytes))
              return Error(Errc::Io, "Cannot write a CATENATE message", strerror(errno));
          } else {
            CYR_TRY(copy_file_into(b.file, fd));
          }
          continue;
        }
        auto data = read_catenate_url(p.url);
        if (!data) return data.take_error();
        if (data->refusal) {
          o.refusal = std::move(data->refusal);
          return o;
        }
        total += data->from_file ? data->length : data->bytes.size();
        if (total > max_message) {
          too_big();
          return o;
        }
        if (data->from_file) {
          auto opened = store_.open_message(data->mailbox, data->uid);
          if (!opened) {
            if (opened.error().code != Errc::NotFound) return opened.take_error();
            o.refusal = Reply::no("CATENATE: No such message", ResponseCode::bad_url(p.url));
            return o;
          }
          FdGuard in{*opened};
          if (data->length > 0) CYR_TRY(copy_range(in.fd, data->offset, data->length, fd));
        } else if (!write_all(fd, data->bytes)) {
          return Error(Errc::Io, "Cannot write a CATENATE message", strerror(errno));
        }
      }
      if (total == 0) {
        o.refusal = Reply::no("CATENATE result is empty");
        return o;
      }
    }
    store::AppendRequest req;
    req.mailbox = *internal;
    for (size_t i = 0; i < a.messages.size(); ++i) {
      const imap::AppendMessage& m = a.messages[i];
      auto flags = parse_flag_names(m.flags);
      if (!flags) return flags.take_error();
      store::AppendMessage sm;
      if (!m.catenate.empty()) {
        sm.source = store::MessageSource::file(sources[i]);
      } else {
        // Moved out: the store is done with the message when append() returns.
        AppendBody& b = bodies[m.literal];
        sm.source = b.file.empty() ? store::MessageSource::memory(std::move(b.bytes))
                                   : store::MessageSource::file(b.file);
      }
      sm.flags = std::move(*flags);
      // Flags the user has no right to set are dropped, as Cyrus does.
      if (!(rights & mail::right::kSeen)) sm.flags.system &= ~store::kFlagSeen;
      if (!(rights & mail::right::kDeleteMsg)) sm.flags.system &= ~store::kFlagDeleted;
      if (!(rights & mail::right::kWrite)) {
        sm.flags.system &= (store::kFlagSeen | store::kFlagDeleted);
        sm.flags.keywords.clear();
      }
      if (m.internal_date) sm.internaldate = datetime_to_epoch(*m.internal_date);
      req.messages.push_back(std::move(sm));
    }
    auto res = store_.append(req);
    if (!res) return res.take_error();
    o.res = std::move(*res);
    return o;
  });
  if (!out) co_return error_reply(out.error(), what);
  if (out->refusal) co_return std::move(*out->refusal);
  if (selected_ && selected_->info.name == *internal) dirty_->store(true);
  co_return Appended{*internal, std::move(out->res)};
}

awaitable<Reply> Session::cmd_append(const imap::AppendArgs& a) {
  auto done = co_await append_received(a, "APPEND");
  if (auto* refusal = std::get_if<Reply>(&done)) co_return std::move(*refusal);
  const store::AppendResult& res = std::get<Appended>(done).res;
  co_return Reply::ok("Append completed", ResponseCode::append_uid(res.uidvalidity, res.uids));
}

// RFC 8508: the new message goes in first; only once it is stored is the
// old one expunged, so a failed append loses nothing. Answered as MOVE is
// (RFC 6851): the APPENDUID in an untagged OK, the EXPUNGE (or VANISHED),
// then the tagged OK.
awaitable<Reply> Session::cmd_replace(const imap::ReplaceArgs& a, bool by_uid) {
  const char* what = by_uid ? "UID REPLACE" : "REPLACE";
  if (selected_->read_only) co_return Reply::no("Mailbox is read-only", ResponseCode::cannot());
  // Expunging the replaced message needs what MOVE's expunge needs.
  if (!(selected_->rights & mail::right::kDeleteMsg) || !(selected_->rights & mail::right::kExpunge))
    co_return Reply::no("Permission denied", ResponseCode::no_perm());
  auto seqs = resolve_set(a.source, by_uid);
  if (!seqs) co_return error_reply(seqs.error(), what);
  if (seqs->empty()) co_return Reply::no("No such message to replace");
  const store::Uid old_uid = selected_->view.at(seqs->front()).uid;
  auto done = co_await append_received(a.append, what);
  if (auto* refusal = std::get_if<Reply>(&done)) co_return std::move(*refusal);
  const store::AppendResult& res = std::get<Appended>(done).res;
  w_.untagged_status(imap::StatusKind::Ok, ResponseCode::append_uid(res.uidvalidity, res.uids),
                     "Replacement message stored");
  const std::string name = selected_->info.name;
  store::UidSet uids;
  uids.add(old_uid);
  auto expunged = co_await blocking([&] { return store_.expunge(name, uids); });
  if (!expunged) co_return error_reply(expunged.error(), what);
  // The selection may have ended meanwhile only through this session, which
  // is here: the view is still the one resolve_set() read.
  write_expunges(selected_->view.remove(expunged->expunged));
  co_return Reply::ok("Replace completed");
}

}  // namespace cyr::imapd
