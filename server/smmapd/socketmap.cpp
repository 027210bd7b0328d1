#include "server/smmapd/socketmap.h"

namespace cyr::smmapd {

NetstringScan scan_netstring(std::string_view in, size_t max_len) {
  NetstringScan s;
  size_t i = 0, len = 0;
  while (i < in.size() && in[i] >= '0' && in[i] <= '9') {
    if (i == 5) {
      s.state = NetstringScan::State::Bad;
      s.why = "netstring length has more than 5 digits";
      return s;
    }
    len = len * 10 + static_cast<size_t>(in[i] - '0');
    ++i;
  }
  if (i == in.size()) return s;  // more digits or the ':' may follow
  if (i == 0 || in[i] != ':' || (i > 1 && in[0] == '0')) {
    s.state = NetstringScan::State::Bad;
    s.why = "not a netstring length";
    return s;
  }
  if (len > max_len) {
    s.state = NetstringScan::State::Bad;
    s.why = "request of " + std::to_string(len) + " bytes (at most " + std::to_string(max_len) + ")";
    return s;
  }
  const size_t start = i + 1;
  if (in.size() < start + len + 1) return s;
  if (in[start + len] != ',') {
    s.state = NetstringScan::State::Bad;
    s.why = "netstring does not end with ','";
    return s;
  }
  s.state = NetstringScan::State::Done;
  s.body = in.substr(start, len);
  s.used = start + len + 1;
  return s;
}

std::string netstring(std::string_view payload) {
  std::string out = std::to_string(payload.size());
  out += ':';
  out.append(payload);
  out += ',';
  return out;
}

Result<SocketmapRequest> parse_request(std::string_view payload) {
  for (char c : payload)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
      return Error(Errc::Invalid, "control character in the request");
  size_t sp = payload.find(' ');
  if (sp == std::string_view::npos || sp == 0 || sp + 1 >= payload.size())
    return Error(Errc::Invalid, "request is not \"<map> <key>\"");
  return SocketmapRequest{std::string(payload.substr(0, sp)), std::string(payload.substr(sp + 1))};
}

}  // namespace cyr::smmapd
