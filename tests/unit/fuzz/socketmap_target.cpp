// Fuzz target: socketmap requests from whoever reaches the smmapd port
// (server/smmapd/socketmap.h). The session reads netstrings from the bytes
// in whatever pieces the socket delivers, so a scan of a prefix must agree
// with the scan of the whole (NeedMore only while the netstring is not
// complete, the same verdict once it is), a request's body stays inside the
// input within kMaxRequest, and what the server frames reads back the same.
#include <string>
#include <string_view>

#include "server/smmapd/socketmap.h"
#include "tests/unit/fuzz/targets.h"

namespace cyr::fuzz {

int socketmap(const uint8_t* data, size_t size) {
  using smmapd::NetstringScan;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  size_t pos = 0;
  for (int requests = 0; requests < 1000 && pos < in.size(); ++requests) {
    std::string_view rest = in.substr(pos);
    NetstringScan whole = smmapd::scan_netstring(rest);
    // Every shorter prefix: NeedMore, or the same verdict as the whole.
    for (size_t cut = 0; cut < rest.size() && cut < 64; ++cut) {
      NetstringScan part = smmapd::scan_netstring(rest.substr(0, cut));
      if (part.state == NetstringScan::State::NeedMore) continue;
      FUZZ_CHECK(part.state == whole.state);
      if (part.state == NetstringScan::State::Done) FUZZ_CHECK(part.used == whole.used);
    }
    if (whole.state != NetstringScan::State::Done) break;
    FUZZ_CHECK(whole.used <= rest.size());
    FUZZ_CHECK(whole.body.size() <= smmapd::kMaxRequest);
    FUZZ_CHECK(whole.body.data() >= rest.data() && whole.body.data() + whole.body.size() <= rest.data() + rest.size());
    std::string framed = smmapd::netstring(whole.body);
    NetstringScan again = smmapd::scan_netstring(framed);
    FUZZ_CHECK(again.state == NetstringScan::State::Done && again.body == whole.body && again.used == framed.size());
    auto req = smmapd::parse_request(whole.body);
    if (req.ok()) {
      FUZZ_CHECK(!req->map.empty() && !req->key.empty());
      FUZZ_CHECK(req->map.size() + 1 + req->key.size() == whole.body.size());
    }
    pos += whole.used;
  }
  return 0;
}

}  // namespace cyr::fuzz
