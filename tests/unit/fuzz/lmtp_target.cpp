// Fuzz target: an LMTP client's command lines and DATA stream
// (server/lmtpd/lmtp_protocol.h).
#include <string>
#include <string_view>

#include "server/lmtpd/lmtp_protocol.h"
#include "tests/unit/fuzz/targets.h"

namespace cyr::fuzz {
namespace {

struct Decoded {
  std::string out;
  size_t used = 0;
  bool finished = false, bare_lf = false, nul = false, header_8bit = false;
  size_t munged = 0;
  std::string header;
  bool operator==(const Decoded&) const = default;
};

// Reads DATA the way the session does: never more than min_bytes_to_end()
// at a time (or `piece`, if smaller), so that it never reads past the end
// line into a pipelined command.
Decoded decode(std::string_view in, size_t piece, bool munge) {
  lmtpd::DataDecoder d(munge);
  Decoded r;
  while (!d.finished() && r.used < in.size()) {
    size_t want = d.min_bytes_to_end();
    FUZZ_CHECK(want >= 1);
    if (piece) want = std::min(want, piece);
    std::string_view chunk = in.substr(r.used, want);
    size_t used = d.feed(chunk, r.out);
    FUZZ_CHECK(used <= chunk.size());
    // Only the chunk that holds the end line may be left partly unused.
    FUZZ_CHECK(used == chunk.size() || d.finished());
    r.used += used;
  }
  r.finished = d.finished();
  r.bare_lf = d.bare_lf();
  r.nul = d.has_nul();
  r.header_8bit = d.header_8bit();
  r.munged = d.munged();
  r.header = d.header();
  FUZZ_CHECK(d.size() == r.out.size());
  FUZZ_CHECK(r.out.size() <= r.used);
  FUZZ_CHECK(r.header.size() <= lmtpd::DataDecoder::kMaxKeptHeader);
  if (munge) {
    for (unsigned char c : r.header) FUZZ_CHECK(c < 0x80);
  }
  return r;
}

}  // namespace

int lmtp(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  size_t piece = 1 + data[0] % 32;
  std::string_view in(reinterpret_cast<const char*>(data + 1), std::min(size - 1, kMaxInput));

  // As command lines.
  for (std::string_view line : command_lines(in)) {
    if (line.size() > lmtpd::kMaxCommandLine) continue;
    auto cmd = lmtpd::parse_command(line);
    if (!cmd.ok()) {
      // The error text is the reply: one line.
      FUZZ_CHECK(cmd.error().user_message.find_first_of("\r\n") == std::string::npos);
      continue;
    }
    FUZZ_CHECK(cmd->params.size() <= lmtpd::kMaxParams);
    if (cmd->verb == lmtpd::Verb::Mail) (void)lmtpd::parse_mail_params(cmd->params);
    for (auto& p : cmd->params) (void)lmtpd::decode_xtext(p.value);
    if (cmd->verb == lmtpd::Verb::Rcpt) {
      for (bool down : {false, true}) {
        auto rcpt = lmtpd::split_recipient(cmd->path, down);
        if (!rcpt.ok()) continue;
        FUZZ_CHECK(!rcpt->user.empty() || rcpt->detail.has_value());
        for (unsigned char c : rcpt->user) FUZZ_CHECK(c >= 0x20 && c < 0x80);
      }
    }
  }

  // As a DATA stream: read in any pieces, the same message comes out.
  for (bool munge : {false, true}) {
    Decoded whole = decode(in, 0, munge);
    Decoded cut = decode(in, piece, munge);
    FUZZ_CHECK(whole == cut);
  }
  return 0;
}

}  // namespace cyr::fuzz
