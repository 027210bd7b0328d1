#include "store/base/result.h"

namespace cyr {

const char* errc_name(Errc c) {
  switch (c) {
    case Errc::Temp: return "Temp";
    case Errc::Unavailable: return "Unavailable";
    case Errc::NotFound: return "NotFound";
    case Errc::Exists: return "Exists";
    case Errc::Perm: return "Perm";
    case Errc::NoQuota: return "NoQuota";
    case Errc::InUse: return "InUse";
    case Errc::Limit: return "Limit";
    case Errc::TooBig: return "TooBig";
    case Errc::Corrupted: return "Corrupted";
    case Errc::Fenced: return "Fenced";
    case Errc::NoSpace: return "NoSpace";
    case Errc::Invalid: return "Invalid";
    case Errc::Io: return "Io";
    case Errc::Internal: return "Internal";
  }
  return "Unknown";
}

std::string Error::describe() const {
  std::string s = errc_name(code);
  s += ": ";
  s += user_message;
  if (!detail.empty()) {
    s += " (";
    s += detail;
    s += ")";
  }
  return s;
}

}  // namespace cyr
