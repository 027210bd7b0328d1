#include "server/lmtpd/sieve_delivery.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <fstream>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "server/sieve/sieve.h"
#include "store/base/ascii.h"
#include "store/base/log.h"
#include "store/mail/acl.h"
#include "store/mail/guid.h"
#include "store/mail/mboxname.h"

extern char** environ;

namespace cyr::lmtpd {

namespace {

constexpr auto kSendmailTimeout = std::chrono::seconds(60);
// The body test reads the whole message; a spooled one larger than this is
// not read (the test is then false), so a huge message cannot make a script
// hold it in memory.
constexpr uint64_t kMaxBodyTestBytes = 8u << 20;

Reply reply(int code, std::string enhanced, std::string text) {
  return Reply{code, std::move(enhanced), std::move(text)};
}

// An address without its angle brackets.
std::string bare_address(std::string_view a) {
  if (a.size() >= 2 && a.front() == '<' && a.back() == '>') a = a.substr(1, a.size() - 2);
  return std::string(a);
}

// imap4flags names to store flags. evaluate() hands over only valid flag
// names (canonical system flags, keywords that are IMAP atoms); the store's
// bounds on keywords are applied here. \Recent cannot be set.
store::Flags to_store_flags(const std::vector<std::string>& names) {
  static const std::pair<const char*, uint32_t> kSystem[] = {{"\\Seen", store::kFlagSeen},
                                                              {"\\Answered", store::kFlagAnswered},
                                                              {"\\Flagged", store::kFlagFlagged},
                                                              {"\\Deleted", store::kFlagDeleted},
                                                              {"\\Draft", store::kFlagDraft}};
  store::Flags f;
  for (const auto& n : names) {
    if (n.empty()) continue;
    if (n[0] == '\\') {
      for (const auto& [name, bit] : kSystem)
        if (iequals(n, name)) f.system |= bit;
    } else if (n.size() <= store::kMaxKeywordLength && f.keywords.size() < store::kMaxKeywordsPerMessage &&
               std::none_of(f.keywords.begin(), f.keywords.end(), [&](const std::string& k) { return iequals(k, n); })) {
      f.keywords.push_back(n);
    }
  }
  return f;
}

// The whole message for the body test and for redirect: in memory, or read
// from the spool file (bounded).
class MessageBytes {
 public:
  explicit MessageBytes(const SpooledMessage& m) : msg_(m) {}
  std::optional<std::string_view> get(uint64_t limit) {
    if (msg_.path.empty()) return std::string_view(msg_.bytes);
    if (msg_.size > limit) return std::nullopt;
    if (!loaded_) {
      loaded_ = true;
      std::ifstream in(msg_.path, std::ios::binary);
      std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
      if (in.bad()) return std::nullopt;
      data_ = std::move(data);
    }
    return std::string_view(data_);
  }

 private:
  const SpooledMessage& msg_;
  bool loaded_ = false;
  std::string data_;
};

// A fileinto name (as the script wrote it) to an internal mailbox of this
// user, in their namespace. Errors: not a name, or not one of the user's own
// mailboxes (a script files into its owner's mailboxes; shared folders and
// other users' need the p right, checked by the caller).
Result<std::string> fileinto_internal(const DeliverySettings& s, const std::string& userid, const std::string& name) {
  std::string external = name;
  if (s.sieve_utf8fileinto) {
    auto m = mail::utf8_to_mutf7(name);
    if (!m) return m.take_error();
    external = std::move(*m);
  }
  mail::Namespace ns(s.ns, userid, false);
  return ns.to_internal(external);
}

// May a fileinto that names a missing mailbox create it? :create (RFC 5490),
// anysievefolder, or a name in autocreate_sieve_folders; only below the
// user's own INBOX.
bool may_create(const DeliverySettings& s, const std::string& inbox, const std::string& internal, bool create_tag) {
  if (!mail::mboxname_is_same_or_below(internal, inbox) || internal == inbox) return false;
  if (create_tag || s.any_sieve_folder) return true;
  std::string rel = internal.substr(inbox.size() + 1);
  for (const auto& f : s.sieve_autocreate) {
    auto sub = detail_to_internal(f, s.unixhierarchysep);
    if (sub && *sub == rel) return true;
  }
  return false;
}

bool may_insert(const std::string& acl_text, const std::string& userid) {
  auto acl = mail::Acl::parse(acl_text);
  if (!acl) return false;
  mail::AclSubject who;
  who.userid = userid;
  auto r = mail::effective_rights(*acl, who);
  return (r & (mail::right::kPost | mail::right::kInsert)) != 0;
}

// Compiled scripts, shared by every delivery of the process: compiling a
// 3 KB script of 20 rules takes about 95 us here, running it 25 us, so a
// user with a script would otherwise pay mostly for the compile. Keyed by
// the script's bytes and the extensions the site allows (a reload may
// change them); a Script is immutable, so threads share one. Bounded in
// entries and in the bytes of script text it keeps; least recently used
// entries go first. Thread-safe.
class CompiledScripts {
 public:
  Result<std::shared_ptr<const sieve::Script>> get(const std::string& text, const sieve::CompileOptions& options) {
    std::string key = text;
    key += '\0';
    if (options.allowed)
      for (const auto& e : *options.allowed) key += e + ' ';
    {
      std::lock_guard lk(mu_);
      auto it = index_.find(key);
      if (it != index_.end() && ++it->second->uses <= kMaxUses) {
        lru_.splice(lru_.begin(), lru_, it->second);
        return it->second->script;
      }
      if (it != index_.end()) {
        // Compiled again now and then: glibc's regexec keeps the matcher
        // states it builds inside the compiled pattern, so a script with
        // :regex tests that lives for ever would keep growing.
        bytes_ -= it->second->key.size();
        lru_.erase(it->second);
        index_.erase(it);
      }
    }
    auto compiled = sieve::compile(text, options);
    if (!compiled.ok()) return compiled.take_error();  // not cached: it is logged each time, as it should be
    std::lock_guard lk(mu_);
    if (index_.count(key)) return *compiled;
    bytes_ += key.size();
    lru_.push_front(Entry{key, *compiled, 0});
    index_.emplace(std::move(key), lru_.begin());
    while (!lru_.empty() && (lru_.size() > kMaxEntries || bytes_ > kMaxBytes)) {
      bytes_ -= lru_.back().key.size();
      index_.erase(lru_.back().key);
      lru_.pop_back();
    }
    return *compiled;
  }

 private:
  static constexpr size_t kMaxEntries = 1024;
  static constexpr size_t kMaxBytes = 8u << 20;
  static constexpr uint64_t kMaxUses = 1000;  // runs of one compiled script before it is compiled again
  struct Entry {
    std::string key;
    std::shared_ptr<const sieve::Script> script;
    uint64_t uses = 0;
  };
  std::mutex mu_;
  std::list<Entry> lru_;
  std::unordered_map<std::string, std::list<Entry>::iterator> index_;
  size_t bytes_ = 0;
};

CompiledScripts& compiled_scripts() {
  static CompiledScripts cache;
  return cache;
}

// include (RFC 6609): the scripts a recipient's script may include. Their
// own come from their shard, read once per delivery and only when a script
// includes one; the site's are files, sievedir/global/NAME.script, as
// Cyrus keeps them. Both compile through the shared cache with the options
// of the including script.
class IncludedScripts {
 public:
  IncludedScripts(store::Store& store, const DeliverySettings& s, const std::string& userid,
                  const sieve::CompileOptions& options)
      : store_(store), s_(s), userid_(userid), options_(options) {}

  Result<std::shared_ptr<const sieve::Script>> load(sieve::IncludeScope scope, const std::string& name) {
    if (Status valid = store::validate_sieve_script_name(name); !valid.ok())
      return Error(Errc::NotFound, "no script named \"" + name + "\"");
    auto text = scope == sieve::IncludeScope::Personal ? personal(name) : global(name);
    if (!text.ok()) return text.take_error();
    auto compiled = compiled_scripts().get(*text, options_);
    if (!compiled.ok())
      return Error(Errc::Invalid, "included script \"" + name + "\" does not compile: " +
                                      compiled.error().user_message);
    return *compiled;
  }

 private:
  Result<std::string> personal(const std::string& name) {
    if (!scripts_) {
      auto all = store_.sieve_scripts(userid_);
      if (!all.ok()) return all.take_error();
      scripts_ = std::move(*all);
    }
    for (const auto& sc : *scripts_)
      if (sc.name == name) return sc.content;
    return Error(Errc::NotFound, "no personal script named \"" + name + "\"");
  }

  Result<std::string> global(const std::string& name) {
    if (s_.sieve_global_dir.empty()) return Error(Errc::NotFound, "no global scripts (sievedir is empty)");
    std::string path = s_.sieve_global_dir + "/" + name + ".script";
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
      int e = errno;
      if (e == ENOENT) return Error(Errc::NotFound, "no global script named \"" + name + "\"");
      return Error(Errc::Io, "cannot read global script \"" + name + "\"", path + ": " + std::strerror(e));
    }
    std::string text;
    char buf[8192];
    Status st;
    for (;;) {
      ssize_t n = ::read(fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        st = Error(Errc::Io, "cannot read global script \"" + name + "\"", path + ": " + std::strerror(errno));
        break;
      }
      if (n == 0) break;
      if (text.size() + static_cast<size_t>(n) > s_.sieve_max_script_bytes) {
        st = Error(Errc::TooBig, "global script \"" + name + "\" is larger than sieve_maxscriptsize");
        break;
      }
      text.append(buf, static_cast<size_t>(n));
    }
    ::close(fd);
    if (!st.ok()) return st.error();
    return text;
  }

  store::Store& store_;
  const DeliverySettings& s_;
  const std::string& userid_;
  const sieve::CompileOptions& options_;
  std::optional<std::vector<store::SieveScript>> scripts_;
};

// duplicate (RFC 7352) records live in the duplicate database beside the
// deliveries' own, under a per-user pseudo mailbox; what is stored is the
// record's expiry time, so cyr_expire -E prunes a record only that many
// days after it expired.
std::string duplicate_box(const std::string& userid) { return ".sieve-duplicate." + userid; }

// The id Sieve's records (vacation, duplicate) keep in the duplicate
// database: "kind<US>key", or "kind<US>" and the SHA-1 of that when it is
// longer than the database takes.
std::string sieve_record_id(std::string_view kind, std::string_view key) {
  std::string id = std::string(kind) + '\x1f' + std::string(key);
  if (id.size() > store::DuplicateDb::kMaxIdLength)
    id = std::string(kind) + '\x1f' + mail::MessageGuid::of(id).to_hex();
  return id;
}

// editheader: where the header Sieve read sits in the stored message: after
// lmtpd's own fields (Return-Path, Received: SpooledMessage::
// added_header_bytes), then the header block the script saw
// (SpooledMessage::header), then the body. Nothing when that does not hold
// (a header longer than lmtpd keeps for Sieve, or one without its closing
// empty line): the edits are then not applied.
struct HeaderSpan {
  size_t begin = 0;  // after lmtpd's fields
  size_t end = 0;    // where the body begins
};

std::optional<HeaderSpan> header_span(std::string_view stored_start, const SpooledMessage& msg) {
  const std::string& header = msg.header;
  bool closed = header.ends_with("\r\n\r\n") || header.ends_with("\n\n") || header == "\r\n" || header == "\n";
  if (!closed) return std::nullopt;
  HeaderSpan span{msg.added_header_bytes, msg.added_header_bytes + header.size()};
  if (stored_start.size() < span.end || stored_start.substr(span.begin, header.size()) != header) return std::nullopt;
  return span;
}

// The message with editheader's header in place of the received one.
Result<std::string> edited_message(std::string_view whole, const SpooledMessage& msg, const std::string& header) {
  auto span = header_span(whole, msg);
  if (!span) return Error(Errc::Invalid, "the received header could not be located");
  std::string out;
  out.reserve(whole.size() - (span->end - span->begin) + header.size());
  out.append(whole.substr(0, span->begin));
  out.append(header);
  out.append(whole.substr(span->end));
  return out;
}

// The message to store for keep and fileinto when editheader changed its
// header. In memory for a message held in memory, otherwise a file beside
// the spool file (`made_file`, removed by the caller).
Result<store::MessageSource> edited_source(const SpooledMessage& msg, const std::string& header,
                                           std::string* made_file) {
  if (msg.path.empty()) {
    auto edited = edited_message(msg.bytes, msg, header);
    if (!edited.ok()) return edited.take_error();
    return store::MessageSource::memory(std::move(*edited));
  }
  int in = ::open(msg.path.c_str(), O_RDONLY | O_CLOEXEC);
  if (in < 0) return Error(Errc::Io, "cannot read the spooled message", std::strerror(errno));
  struct CloseIn {
    int fd;
    ~CloseIn() { ::close(fd); }
  } close_in{in};
  // lmtpd's fields and the header block, to find where the body begins.
  std::string start(msg.added_header_bytes + msg.header.size(), '\0');
  size_t got = 0;
  while (got < start.size()) {
    ssize_t n = ::read(in, start.data() + got, start.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Error(Errc::Io, "cannot read the spooled message", std::strerror(errno));
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  start.resize(got);
  auto span = header_span(start, msg);
  if (!span) return Error(Errc::Invalid, "the received header could not be located");

  std::string path = msg.path + ".edited";
  int out = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (out < 0) return Error(Errc::Io, "cannot write the edited message", std::strerror(errno));
  *made_file = path;
  auto write_all = [&](std::string_view data) {
    while (!data.empty()) {
      ssize_t w = ::write(out, data.data(), data.size());
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) return false;
      data.remove_prefix(static_cast<size_t>(w));
    }
    return true;
  };
  std::string_view first(start);
  bool ok = write_all(first.substr(0, span->begin)) && write_all(header) && write_all(first.substr(span->end));
  char buf[65536];
  while (ok) {
    ssize_t n = ::read(in, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) ok = false;
    if (n <= 0) break;
    ok = write_all(std::string_view(buf, static_cast<size_t>(n)));
  }
  int saved = errno;
  if (::close(out) != 0) ok = false;
  if (!ok) return Error(Errc::Io, "cannot write the edited message", std::strerror(saved));
  return store::MessageSource::file(path);
}

}  // namespace

Status run_sendmail(const std::string& sendmail, const std::string& from, const std::string& to,
                    std::string_view message, std::chrono::seconds timeout) {
  if (sendmail.empty()) return Error(Errc::Invalid, "no sendmail configured");
  if (to.empty() || to[0] == '-') return Error(Errc::Invalid, "bad recipient address");
  // The child's standard input is one end of a socket pair, not a pipe: a
  // sendmail that exits without reading must give us EPIPE from send() with
  // MSG_NOSIGNAL, not a SIGPIPE (a process that embeds the delivery code,
  // such as a test, need not ignore SIGPIPE).
  int fds[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0)
    return Error(Errc::Io, "socketpair", std::strerror(errno));
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, fds[0], 0);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  std::string f = from.empty() ? "<>" : from;
  std::vector<std::string> args = {sendmail, "-i", "-f", f, "--", to};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  int rc = posix_spawn(&pid, sendmail.c_str(), &fa, &attr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  ::close(fds[0]);
  if (rc != 0) {
    ::close(fds[1]);
    return Error(Errc::Io, "sendmail could not run", sendmail + ": " + std::strerror(rc));
  }
  auto deadline = std::chrono::steady_clock::now() + timeout;
  auto left_ms = [&] {
    auto d = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    return static_cast<int>(std::max<int64_t>(0, d.count()));
  };
  // Write with a deadline: a sendmail that stops reading must not hold a
  // pool thread for ever.
  Status written;
  size_t off = 0;
  while (off < message.size()) {
    ssize_t n = ::send(fds[1], message.data() + off, message.size() - off, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      off += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      pollfd p{fds[1], POLLOUT, 0};
      if (left_ms() == 0 || ::poll(&p, 1, left_ms()) < 0) {
        written = Error(Errc::Io, "sendmail timed out");
        break;
      }
      continue;
    }
    written = Error(Errc::Io, "writing to sendmail", std::strerror(errno));
    break;
  }
  ::close(fds[1]);
  int status = 0;
  for (;;) {
    pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) break;
    if (r < 0 && errno != EINTR) return Error(Errc::Io, "sendmail", std::strerror(errno));
    if (left_ms() == 0) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      return Error(Errc::Temp, "sendmail timed out");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  if (!written.ok()) return written;
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    return Error(Errc::Temp, "sendmail failed", "status " + std::to_string(status));
  return {};
}

std::optional<Reply> deliver_with_sieve(store::Store& store, store::DuplicateDb* dupdb, const DeliverySettings& s,
                                        const SpooledMessage& msg, const Target& t, const std::string& sid) {
  if (!s.sieve || t.userid.empty() || !t.sieve) return std::nullopt;
  const store::SieveScript* active = &*t.sieve;

  sieve::CompileOptions copts;
  copts.limits.max_script_bytes = std::max<size_t>(copts.limits.max_script_bytes, active->content.size());
  copts.allowed = s.sieve_extensions;
  auto script = compiled_scripts().get(active->content, copts);
  if (!script.ok()) {
    // Stored when it compiled; the site's sieve_extensions may have changed since.
    CYR_LOG(Warning, sid, "sieve: script \"%s\" of %s does not compile (%s); keeping the message",
            active->name.c_str(), t.userid.c_str(), script.error().user_message.c_str());
    return std::nullopt;
  }

  auto inbox = mail::user_inbox_name(t.userid, s.virtdomains);
  if (!inbox.ok()) return std::nullopt;
  MessageBytes bytes(msg);
  sieve::MessageInput in;
  in.header = msg.header;
  in.size = msg.size;
  in.envelope.from = msg.envelope_from;
  in.envelope.to = bare_address(t.address);
  in.envelope.auth = msg.auth;
  in.whole_message = [&bytes] { return bytes.get(kMaxBodyTestBytes); };
  in.mailbox_exists = [&](const std::string& name) {
    auto internal = fileinto_internal(s, t.userid, name);
    return internal.ok() && store.lookup(*internal).ok();
  };
  if (!s.servername.empty() && t.userid.find('@') == std::string::npos)
    in.own_addresses.push_back(t.userid + "@" + s.servername);
  in.now = ::time(nullptr);
  IncludedScripts included(store, s, t.userid, copts);
  in.load_script = [&included](sieve::IncludeScope scope, const std::string& name) {
    return included.load(scope, name);
  };
  in.duplicate_seen = [&](const std::string& key) {
    if (!dupdb) return false;
    auto expires = dupdb->marked_at(sieve_record_id("duplicate", key), duplicate_box(t.userid));
    return expires.ok() && *expires && **expires > in.now;
  };
  if (!s.servername.empty()) {
    in.environment.emplace_back("host", s.servername);
    if (auto dot = s.servername.find('.'); dot != std::string::npos)
      in.environment.emplace_back("domain", s.servername.substr(dot + 1));
  }
  in.environment.emplace_back("name", "Cyrus IMAP (HA)");
  sieve::Outcome out = sieve::evaluate(**script, in, copts.limits);
  for (const auto& e : out.errors)
    CYR_LOG(Notice, sid, "sieve: %s, script \"%s\": %s", t.userid.c_str(), active->name.c_str(), e.c_str());

  // Copies to store, one per mailbox (a keep and a fileinto "INBOX", or a
  // fileinto that fell back to the INBOX, are one copy), with the flags of
  // every action that put it there.
  std::map<std::string, std::vector<std::string>> copies;
  std::vector<std::string> order;
  auto add_copy = [&](const std::string& mailbox, const std::vector<std::string>& flags) {
    auto [it, added] = copies.try_emplace(mailbox);
    if (added) order.push_back(mailbox);
    it->second.insert(it->second.end(), flags.begin(), flags.end());
  };
  std::optional<Reply> rejected;
  for (const auto& a : out.actions) {
    switch (a.kind) {
      case sieve::Action::Kind::Keep:
        add_copy(t.mailbox, a.flags);
        break;
      case sieve::Action::Kind::FileInto: {
        auto internal = fileinto_internal(s, t.userid, a.mailbox);
        if (!internal.ok()) {
          CYR_LOG(Notice, sid, "sieve: %s: fileinto \"%s\": %s; kept in INBOX", t.userid.c_str(), a.mailbox.c_str(),
                  internal.error().describe().c_str());
          add_copy(*inbox, a.flags);
          break;
        }
        auto info = store.lookup(*internal);
        if (!info.ok() && info.error().code == Errc::NotFound && may_create(s, *inbox, *internal, a.create)) {
          store::CreateMailboxRequest req;
          req.name = *internal;
          Status st = store.create_mailboxes({req});
          if (st.ok() || st.error().code == Errc::Exists) {
            CYR_LOG(Notice, sid, "sieve: %s: created %s for fileinto", t.userid.c_str(), internal->c_str());
            info = store.lookup(*internal);
          }
        }
        if (!info.ok() || !may_insert(info->acl, t.userid)) {
          CYR_LOG(Notice, sid, "sieve: %s: fileinto \"%s\": %s; kept in INBOX", t.userid.c_str(), a.mailbox.c_str(),
                  info.ok() ? "no right to post there" : info.error().describe().c_str());
          add_copy(*inbox, a.flags);
          break;
        }
        add_copy(info->name, a.flags);
        break;
      }
      case sieve::Action::Kind::Discard:
        CYR_LOG(Info, sid, "sieve: %s: discarded message %s", t.userid.c_str(),
                msg.message_id.empty() ? "-" : msg.message_id.c_str());
        break;
      case sieve::Action::Kind::Reject: {
        // One line of the reason, without control characters, in the 550.
        std::string text;
        for (char c : a.reason) {
          if (c == '\r' || c == '\n') break;
          if (static_cast<unsigned char>(c) >= 0x20) text += c;
        }
        if (text.size() > 400) text.resize(400);
        if (text.empty()) text = "Message rejected by the recipient's filter";
        rejected = reply(550, "5.7.1", text);
        CYR_LOG(Info, sid, "sieve: %s: rejected message %s", t.userid.c_str(),
                msg.message_id.empty() ? "-" : msg.message_id.c_str());
        break;
      }
      case sieve::Action::Kind::Redirect: {
        auto whole = bytes.get(UINT64_MAX);
        // editheader's changes go with the redirected copy (RFC 5293 4).
        std::string edited;
        if (whole && out.edited_header) {
          if (auto e = edited_message(*whole, msg, *out.edited_header); e.ok()) {
            edited = std::move(*e);
            whole = std::string_view(edited);
          }
        }
        Status st = whole ? run_sendmail(s.sendmail, msg.envelope_from, a.address, *whole, kSendmailTimeout)
                          : Status(Error(Errc::Io, "cannot read the message"));
        if (st.ok()) {
          CYR_LOG(Info, sid, "sieve: %s: redirected message %s to %s", t.userid.c_str(),
                  msg.message_id.empty() ? "-" : msg.message_id.c_str(), a.address.c_str());
        } else {
          // RFC 5228 2.10.6: an action that fails keeps the message.
          CYR_LOG(Warning, sid, "sieve: %s: redirect to %s failed (%s); kept in INBOX", t.userid.c_str(),
                  a.address.c_str(), st.error().describe().c_str());
          add_copy(t.mailbox, {});
        }
        break;
      }
      case sieve::Action::Kind::Vacation: {
        if (!a.vacation) break;
        const auto& v = *a.vacation;
        int64_t interval = std::clamp<int64_t>(v.seconds, s.vacation_min_seconds, s.vacation_max_seconds);
        std::string who = v.reply_to;
        for (auto& c : who) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        // One answer per sender, handle and interval, remembered where
        // duplicate deliveries are (Cyrus keeps it in deliver.db too).
        std::string key = sieve_record_id("vacation", v.handle + "\x1f" + who);
        std::string box = ".vacation." + t.userid;
        if (dupdb) {
          auto when = dupdb->marked_at(key, box);
          if (when.ok() && *when && in.now - **when < interval) break;
        }
        std::string from = v.from.empty() ? bare_address(t.address) : v.from;
        std::string answer = sieve::compose_vacation(v, in, from, s.servername.empty() ? "localhost" : s.servername);
        Status st = run_sendmail(s.sendmail, "", v.reply_to, answer, kSendmailTimeout);
        if (!st.ok()) {
          CYR_LOG(Warning, sid, "sieve: %s: vacation answer to %s failed: %s", t.userid.c_str(), v.reply_to.c_str(),
                  st.error().describe().c_str());
          break;
        }
        CYR_LOG(Info, sid, "sieve: %s: vacation answer sent to %s", t.userid.c_str(), v.reply_to.c_str());
        if (dupdb) (void)dupdb->mark(key, box, in.now);
        break;
      }
    }
  }
  if (rejected) return rejected;

  store::AppendMessage am;
  am.source = msg.path.empty() ? store::MessageSource::memory(msg.bytes) : store::MessageSource::file(msg.path);
  std::string edited_file;
  struct RemoveEdited {
    std::string& path;
    ~RemoveEdited() {
      if (!path.empty()) ::unlink(path.c_str());
    }
  } remove_edited{edited_file};
  if (out.edited_header && !order.empty()) {
    auto edited = edited_source(msg, *out.edited_header, &edited_file);
    if (edited.ok()) {
      am.source = std::move(*edited);
    } else {
      // The edits are lost, the message is not: store it as received.
      CYR_LOG(Warning, sid, "sieve: %s: editheader: %s; storing the message unchanged", t.userid.c_str(),
              edited.error().describe().c_str());
    }
  }
  std::optional<Reply> failure;
  for (const auto& mailbox : order) {
    am.flags = to_store_flags(copies[mailbox]);
    auto results = store.deliver({mailbox}, am, s.strict_quota);
    if (!results.empty() && results[0].ok()) {
      CYR_LOG(Info, sid, "delivered: %s uid=%u size=%llu id=%s (sieve)", mailbox.c_str(),
              results[0]->uids.empty() ? 0u : results[0]->uids.front(), static_cast<unsigned long long>(msg.size),
              msg.message_id.empty() ? "-" : msg.message_id.c_str());
      continue;
    }
    Error e = results.empty() ? Error(Errc::Internal, "no result") : results[0].error();
    CYR_LOG(Notice, sid, "sieve: %s: storing into %s failed: %s", t.userid.c_str(), mailbox.c_str(), e.describe().c_str());
    if (!failure) failure = reply_for_store_error(e, s);
  }
  if (failure) return failure;
  // duplicate: only a delivery that succeeded is remembered, so the MTA's
  // retry of a failed one is not taken for a duplicate.
  if (dupdb) {
    for (const auto& d : out.duplicates) {
      int64_t seconds = std::clamp<int64_t>(d.seconds, 0, s.sieve_duplicate_max_seconds);
      Status st = dupdb->mark(sieve_record_id("duplicate", d.key), duplicate_box(t.userid), in.now + seconds);
      if (!st.ok())
        CYR_LOG(Warning, sid, "sieve: %s: recording a duplicate id failed: %s", t.userid.c_str(),
                st.error().describe().c_str());
    }
  }
  return reply(250, "2.1.5", "Ok");
}

}  // namespace cyr::lmtpd
