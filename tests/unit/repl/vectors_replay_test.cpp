// Recorded exchanges (tests/unit/sync/vectors/) replayed into our replica:
// every reply byte must be what was recorded, so a change to the server
// cannot silently break an older peer that relies on it.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>

#include "store/store.h"
#include "sync/dlist_decoder.h"
#include "sync/sync_frame.h"
#include "sync/sync_server.h"
#include "tests/unit/sync/vectors.h"

namespace cyr::sync {
namespace {

// Feeds the recorded client stream to a fresh replica and returns its replies.
std::string replay(const std::string& vector, const std::string& tag) {
  std::string tmpl = "/tmp/cyr_vectors_" + tag + "_XXXXXX";
  char* dir = ::mkdtemp(tmpl.data());
  EXPECT_NE(dir, nullptr);
  store::StoreOptions o;
  o.configdirectory = std::filesystem::path(tmpl) / "conf";
  o.partitions["default"] = std::filesystem::path(tmpl) / "spool";
  auto st = store::Store::open(o);
  EXPECT_TRUE(st.ok());
  if (!st.ok()) return {};
  EXPECT_TRUE((*st)->set_node_state({store::Role::Replica, 1}).ok());
  std::string out;
  {
    SyncServerSession server(**st, SyncServerOptions{tmpl + "/stage", {}, tag});
    testing::Exchange ex;
    EXPECT_TRUE(testing::load_exchange(vector, &ex)) << vector;
    LineFramer framer({}, server.file_sinks());
    std::string_view in = ex.client;
    while (!in.empty()) {
      size_t n = framer.feed(in);
      in.remove_prefix(n);
      if (!framer.line_ready()) {
        if (n == 0) break;
        continue;
      }
      auto line = framer.take_line();
      EXPECT_TRUE(line.ok());
      if (!line.ok()) break;
      auto cmd = parse_command(std::move(*line));
      EXPECT_TRUE(cmd.ok());
      if (!cmd.ok()) break;
      for (auto& rep : server.execute(*cmd)) out += *encode_reply(rep);
    }
  }
  st->reset();
  std::error_code ec;
  std::filesystem::remove_all(tmpl, ec);
  return out;
}

TEST(ReplVectors, OurVersion1SessionRepliesAreUnchanged) {
  testing::Exchange ex;
  ASSERT_TRUE(testing::load_exchange("ours_v1_session.exchange", &ex));
  std::string out = replay("ours_v1_session.exchange", "v1");
  EXPECT_EQ(out, ex.server);
}

}  // namespace
}  // namespace cyr::sync
