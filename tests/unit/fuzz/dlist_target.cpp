// Fuzz target: csync lines from a replication peer (sync/dlist_decoder.h,
// sync/sync_frame.h).
#include <string>
#include <string_view>

#include "sync/dlist.h"
#include "sync/dlist_decoder.h"
#include "sync/sync_frame.h"
#include "tests/unit/fuzz/targets.h"

namespace cyr::fuzz {

int dlist(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const bool replies = data[0] & 1;
  std::string_view in(reinterpret_cast<const char*>(data + 1), std::min(size - 1, kMaxInput));
  sync::DlistLimits lim;
  lim.max_line_text = 65536;
  lim.max_literal = 4096;
  lim.max_memory_payload = 65536;
  lim.max_file = 65536;
  lim.max_items = 10000;
  sync::LineFramer framer(lim, nullptr);
  std::string_view rest = in;
  for (int lines = 0; lines < 10000 && !rest.empty(); ++lines) {
    size_t used = framer.feed(rest);
    FUZZ_CHECK(used <= rest.size());
    rest.remove_prefix(used);
    if (!framer.line_ready()) {
      FUZZ_CHECK(rest.empty());
      break;
    }
    auto line = framer.take_line();
    if (!line.ok()) continue;
    if (replies) {
      auto reply = sync::parse_reply(std::move(line.value()), lim);
      if (!reply.ok()) continue;
      auto again = sync::encode_reply(*reply);
      FUZZ_CHECK(again.ok());
      auto re = sync::decode_replies(*again, lim);
      FUZZ_CHECK(re.ok());
      FUZZ_CHECK(re->size() == 1);
      auto third = sync::encode_reply((*re)[0]);
      FUZZ_CHECK(third.ok() && *third == *again);
    } else {
      auto cmd = sync::parse_command(std::move(line.value()), lim);
      if (!cmd.ok()) continue;
      auto again = sync::encode_command(*cmd);
      FUZZ_CHECK(again.ok());
      auto re = sync::decode_commands(*again, lim);
      FUZZ_CHECK(re.ok());
      FUZZ_CHECK(re->size() == 1);
      FUZZ_CHECK((*re)[0].verb == cmd->verb && (*re)[0].name == cmd->name && (*re)[0].args == cmd->args);
      auto third = sync::encode_command((*re)[0]);
      FUZZ_CHECK(third.ok() && *third == *again);
    }
  }
  return 0;
}

}  // namespace cyr::fuzz
