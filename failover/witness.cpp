#include "failover/witness.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "store/base/log.h"

namespace cyr::failover {
namespace {

using std::chrono::milliseconds;

long long ms_left(WitnessState::Clock::time_point until, WitnessState::Clock::time_point now) {
  auto d = std::chrono::duration_cast<milliseconds>(until - now).count();
  return d > 0 ? d : 0;
}

Status write_file_durably(const std::filesystem::path& path, const std::string& text) {
  std::filesystem::path tmp = path;
  tmp += ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Error(Errc::Io, "cannot write the witness state", strerror(errno));
  bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) && ::fsync(fd) == 0;
  int e = errno;
  ::close(fd);
  if (!ok) return Error(Errc::Io, "cannot write the witness state", strerror(e));
  if (::rename(tmp.c_str(), path.c_str()) != 0)
    return Error(Errc::Io, "cannot write the witness state", strerror(errno));
  int dfd = ::open(path.parent_path().empty() ? "." : path.parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    int r = ::fsync(dfd);
    ::close(dfd);
    if (r != 0) return Error(Errc::Io, "cannot write the witness state", strerror(errno));
  }
  return {};
}

}  // namespace

Result<std::unique_ptr<WitnessState>> WitnessState::open(const std::filesystem::path& state_file,
                                                         Clock::time_point now) {
  std::unique_ptr<WitnessState> w(new WitnessState(state_file));
  std::error_code ec;
  if (!state_file.parent_path().empty()) std::filesystem::create_directories(state_file.parent_path(), ec);
  std::ifstream in(state_file);
  if (in) {
    // "epoch <n>\nholder <node>\nttl_ms <n>\n"; holder "-" = released.
    std::string line;
    int seen = 0;
    while (std::getline(in, line) && seen < 16) {
      ++seen;
      auto words = split_words(line);
      if (words.size() != 2) return Error(Errc::Corrupted, "witness state file is damaged", state_file.string());
      if (words[0] == "epoch") {
        auto v = parse_u64(words[1]);
        if (!v) return Error(Errc::Corrupted, "witness state file is damaged", state_file.string());
        w->epoch_ = *v;
      } else if (words[0] == "holder") {
        w->last_holder_ = words[1] == "-" ? "" : words[1];
        w->holder_ = w->last_holder_;
      } else if (words[0] == "last") {
        w->last_holder_ = words[1] == "-" ? "" : words[1];
      } else if (words[0] == "ttl_ms") {
        auto v = parse_u64(words[1]);
        if (!v || *v > static_cast<uint64_t>(kMaxTtl.count()))
          return Error(Errc::Corrupted, "witness state file is damaged", state_file.string());
        w->ttl_ = milliseconds(*v);
      }
    }
    // The holder may still be using the lease it had before we restarted.
    if (!w->holder_.empty()) w->expires_ = now + w->ttl_;
  }
  return w;
}

Status WitnessState::persist() {
  std::ostringstream o;
  o << "epoch " << epoch_ << "\nholder " << (holder_.empty() ? "-" : holder_) << "\nlast "
    << (last_holder_.empty() ? "-" : last_holder_) << "\nttl_ms " << ttl_.count() << "\n";
  return write_file_durably(file_, o.str());
}

WitnessState::Snapshot WitnessState::snapshot(Clock::time_point now) const {
  std::lock_guard lk(mu_);
  Snapshot s;
  s.epoch = epoch_;
  s.holder = holder_;
  s.remaining = milliseconds(holder_.empty() ? 0 : ms_left(expires_, now));
  return s;
}

Reply WitnessState::acquire(const std::string& node, uint64_t epoch, milliseconds ttl, Clock::time_point now) {
  if (ttl > kMaxTtl) ttl = kMaxTtl;
  auto denied = [&](const char* why) {
    return Reply{false, std::string("DENIED ") + std::to_string(epoch_) + " " + (holder_.empty() ? "-" : holder_) +
                            " " + std::to_string(holder_.empty() ? 0 : ms_left(expires_, now)) + " " + why,
                 {}};
  };
  if (epoch < epoch_) return denied("stale-epoch");
  bool expired = holder_.empty() || now >= expires_;
  if (epoch == epoch_) {
    // Only the node that held this epoch may (re)take it: one primary per epoch.
    bool mine = holder_ == node || (holder_.empty() && (last_holder_ == node || last_holder_.empty()));
    if (!mine) return denied("epoch-taken");
    bool changed = holder_ != node || ttl != ttl_;
    holder_ = node;
    last_holder_ = node;
    ttl_ = ttl;
    if (changed)
      if (Status st = persist(); !st.ok()) return Reply{false, "ERROR cannot persist state", {}};
    expires_ = now + ttl;
    return Reply{true, "GRANTED " + std::to_string(epoch_) + " " + std::to_string(ttl.count()), {}};
  }
  if (!expired && holder_ != node) return denied("lease-held");
  uint64_t old_epoch = epoch_;
  std::string old_holder = holder_;
  epoch_ = epoch;
  holder_ = node;
  last_holder_ = node;
  ttl_ = ttl;
  if (Status st = persist(); !st.ok()) {
    epoch_ = old_epoch;
    holder_ = old_holder;
    CYR_LOG(Error, "witness", "cannot persist the lease: %s", st.error().describe().c_str());
    return Reply{false, "ERROR cannot persist state", {}};
  }
  expires_ = now + ttl;
  CYR_LOG(Notice, "witness", "lease for epoch %llu granted to %s (was epoch %llu, %s)",
          static_cast<unsigned long long>(epoch), node.c_str(), static_cast<unsigned long long>(old_epoch),
          old_holder.empty() ? "no holder" : old_holder.c_str());
  return Reply{true, "GRANTED " + std::to_string(epoch_) + " " + std::to_string(ttl.count()), {}};
}

Reply WitnessState::release(const std::string& node, uint64_t epoch) {
  if (epoch != epoch_ || holder_ != node) return Reply{false, "NOT-HOLDER", {}};
  holder_.clear();
  if (Status st = persist(); !st.ok()) {
    holder_ = node;
    return Reply{false, "ERROR cannot persist state", {}};
  }
  CYR_LOG(Notice, "witness", "lease for epoch %llu released by %s", static_cast<unsigned long long>(epoch),
          node.c_str());
  return Reply{true, "RELEASED " + std::to_string(epoch), {}};
}

std::string WitnessState::handle(const std::string& line, Clock::time_point now) {
  auto req = parse_request(line);
  if (!req.ok()) return format_reply({false, "BAD " + req.error().user_message, {}});
  std::lock_guard lk(mu_);
  const auto& a = req->args;
  if (req->verb == "ACQUIRE" && a.size() == 3 && valid_token(a[0])) {
    auto epoch = parse_u64(a[1]);
    auto ttl = parse_u64(a[2]);
    if (!epoch || !ttl || *ttl == 0) return format_reply({false, "BAD epoch or ttl", {}});
    return format_reply(acquire(a[0], *epoch, milliseconds(std::min<uint64_t>(*ttl, kMaxTtl.count())), now));
  }
  if (req->verb == "RELEASE" && a.size() == 2 && valid_token(a[0])) {
    auto epoch = parse_u64(a[1]);
    if (!epoch) return format_reply({false, "BAD epoch", {}});
    return format_reply(release(a[0], *epoch));
  }
  if (req->verb == "QUERY" && a.empty()) {
    return format_reply({true,
                         "STATE " + std::to_string(epoch_) + " " + (holder_.empty() ? "-" : holder_) + " " +
                             std::to_string(holder_.empty() ? 0 : ms_left(expires_, now)),
                         {}});
  }
  return format_reply({false, "BAD unknown request or wrong arguments", {}});
}

}  // namespace cyr::failover
