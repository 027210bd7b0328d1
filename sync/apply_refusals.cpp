#include "sync/apply_refusals.h"

#include <charconv>
#include <ctime>
#include <fstream>
#include <map>
#include <sstream>

#include "store/base/log.h"

namespace cyr::sync {

namespace {

constexpr size_t kMaxStatusFile = 64 * 1024;
constexpr size_t kMaxLast = 1024;  // the last refusal's text, as kept and written

// One line: control characters (a hostile mailbox name could carry a CR/LF)
// become '?', and the text is cut to kMaxLast.
std::string one_line(std::string_view s) {
  std::string out;
  for (char c : s.substr(0, kMaxLast)) out.push_back(static_cast<unsigned char>(c) < 0x20 || c == 0x7f ? '?' : c);
  return out;
}

}  // namespace

std::filesystem::path refusal_status_file(const std::filesystem::path& sync_log_dir) {
  return sync_log_dir / "received";
}

Result<RefusalStatus> read_refusal_status(const std::filesystem::path& status_file) {
  RefusalStatus st;
  std::ifstream in(status_file, std::ios::binary);
  if (!in) {
    std::error_code ec;
    if (!std::filesystem::exists(status_file, ec)) return st;
    return Error(Errc::Io, "Cannot read the replication status file", status_file.string());
  }
  std::string text(kMaxStatusFile + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<size_t>(in.gcount()));
  if (text.size() > kMaxStatusFile)
    return Error(Errc::Invalid, "Replication status file too large", status_file.string());
  std::istringstream lines(text);
  std::string line;
  bool have_count = false;
  while (std::getline(lines, line)) {
    if (line.starts_with("refused ")) {
      std::string_view digits = std::string_view(line).substr(8);
      auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), st.refused);
      if (digits.empty() || ec != std::errc() || end != digits.data() + digits.size() || digits[0] == '-' ||
          digits[0] == '+')
        return Error(Errc::Invalid, "Malformed replication status file", status_file.string() + ": " + line);
      have_count = true;
    } else if (line.starts_with("last_refused ")) {
      st.last = line.substr(13);
    } else if (!line.empty()) {
      return Error(Errc::Invalid, "Malformed replication status file", status_file.string() + ": " + line);
    }
  }
  if (!have_count && !text.empty())
    return Error(Errc::Invalid, "Malformed replication status file", status_file.string() + ": no count");
  return st;
}

ApplyRefusals::ApplyRefusals(std::filesystem::path status_file) : file_(std::move(status_file)) {
  if (file_.empty()) return;
  auto st = read_refusal_status(file_);
  if (st.ok()) {
    status_ = std::move(*st);
  } else {
    // Counting starts again from zero rather than refusing to replicate.
    CYR_LOG(Warning, "sync_server", "%s; the refused-items count restarts at 0", st.error().describe().c_str());
  }
}

uint64_t ApplyRefusals::record(std::string_view item, std::string_view reason) {
  std::lock_guard lk(mu_);
  ++status_.refused;
  status_.last = one_line(std::to_string(static_cast<long long>(::time(nullptr))) + " " + std::string(item) +
                          ": " + std::string(reason));
  if (!file_.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(file_.parent_path(), ec);
    std::filesystem::path tmp = file_;
    tmp += ".tmp";
    {
      std::ofstream out(tmp, std::ios::trunc | std::ios::binary);
      out << "refused " << status_.refused << "\n"
          << "last_refused " << status_.last << "\n";
    }
    // A status display, not acknowledged data: no fsync; a crash loses at
    // most the last increments, never the replicated mail.
    std::filesystem::rename(tmp, file_, ec);
    if (ec)
      CYR_LOG(Warning, "sync_server", "cannot write %s: %s", file_.string().c_str(), ec.message().c_str());
  }
  return status_.refused;
}

RefusalStatus ApplyRefusals::status() const {
  std::lock_guard lk(mu_);
  return status_;
}

std::shared_ptr<ApplyRefusals> apply_refusals_for(const std::filesystem::path& status_file) {
  static std::mutex mu;
  static std::map<std::filesystem::path, std::weak_ptr<ApplyRefusals>> live;
  std::lock_guard lk(mu);
  auto& slot = live[status_file];
  if (auto p = slot.lock()) return p;
  auto p = std::make_shared<ApplyRefusals>(status_file);
  slot = p;
  return p;
}

}  // namespace cyr::sync
