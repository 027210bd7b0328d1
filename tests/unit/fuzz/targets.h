// Fuzz targets for the parsers that read what other people send: message
// bytes (any mail sender), IMAP commands (any client), LMTP commands (the
// MTA, and whoever reaches an lmtp port), csync lines (the replication
// peer), mailbox names and ACLs (any logged-in client) and SASL exchanges
// (anyone, before logging in); and what FETCH writes about a message, which
// must stay valid IMAP whatever the message's headers hold, and what POP3
// sends of one (and the POP3 commands any client sends); Sieve scripts (any
// user, through ManageSieve; lmtpd runs them on anyone's mail) and
// ManageSieve commands (anyone on the sieve port); socketmap requests
// (anyone on the smmapd port). Each takes arbitrary
// bytes, must not crash, hang or grow without bound, and checks what its
// parser promises in its header (a round trip that gives back the same
// value, ranges inside the input, output sizes); a failed check aborts,
// which libFuzzer reports like a crash.
//
// Built twice: as libFuzzer programs (tests/fuzz, clang only, cmake
// -DCYR_FUZZ=ON; docs/fuzzing.md), and into unit_fuzz, whose test replays
// every input kept under tests/fuzz/corpus/<target>/, so that an input that
// once broke a parser stays a regression test in every build.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>
#include <vector>

namespace cyr::fuzz {

int message(const uint8_t* data, size_t size);
int imap_parser(const uint8_t* data, size_t size);
int lmtp(const uint8_t* data, size_t size);
int dlist(const uint8_t* data, size_t size);
int names(const uint8_t* data, size_t size);
int sasl(const uint8_t* data, size_t size);
int fetch(const uint8_t* data, size_t size);
int pop3(const uint8_t* data, size_t size);
int sieve(const uint8_t* data, size_t size);
int managesieve(const uint8_t* data, size_t size);
int socketmap(const uint8_t* data, size_t size);

struct Target {
  const char* name;  // also the corpus directory's name
  int (*run)(const uint8_t* data, size_t size);
};
inline constexpr Target kTargets[] = {
    {"message", &message},
    {"imap_parser", &imap_parser},
    {"lmtp", &lmtp},
    {"dlist", &dlist},
    {"names", &names},
    {"sasl", &sasl},
    {"fetch", &fetch},
    {"pop3", &pop3},
    {"sieve", &sieve},
    {"managesieve", &managesieve},
    {"socketmap", &socketmap},
};

// Inputs larger than this are cut: the targets look for logic errors, and
// the parsers' own size bounds are tested by the unit tests.
inline constexpr size_t kMaxInput = 256 * 1024;

// The input's lines (at most 1000, without their CR LF or LF), as a server
// reads command lines.
inline std::vector<std::string_view> command_lines(std::string_view in) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (out.size() < 1000 && start < in.size()) {
    size_t nl = in.find('\n', start);
    std::string_view line = in.substr(start, nl == std::string_view::npos ? std::string_view::npos : nl - start);
    start = nl == std::string_view::npos ? in.size() : nl + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    out.push_back(line);
  }
  return out;
}

// The bounds the message-reading targets parse with: tighter than the
// store's, so that a run spends its time on shapes rather than sizes.
inline constexpr size_t kMessageMaxDepth = 16, kMessageMaxParts = 300, kMessageMaxHeaderBytes = 64 * 1024,
                        kMessageMaxHeaderFields = 1000, kMessageMaxAddresses = 200;

// Strict UTF-8 (no overlong forms, surrogates or code points past
// U+10FFFF), written apart from the parsers' own checks so that a target can
// hold them to it.
inline bool valid_utf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    size_t len = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 : (c & 0xf8) == 0xf0 ? 4 : 0;
    if (len == 0 || i + len > s.size()) return false;
    uint32_t cp = len == 1 ? c : len == 2 ? (c & 0x1f) : len == 3 ? (c & 0x0f) : (c & 0x07);
    for (size_t k = 1; k < len; ++k) {
      unsigned char d = static_cast<unsigned char>(s[i + k]);
      if ((d & 0xc0) != 0x80) return false;
      cp = cp << 6 | (d & 0x3f);
    }
    static const uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    i += len;
  }
  return true;
}

}  // namespace cyr::fuzz

#define FUZZ_CHECK(cond)                                                                      \
  do {                                                                                        \
    if (!(cond)) {                                                                            \
      std::fprintf(stderr, "fuzz check failed: %s (%s:%d)\n", #cond, __FILE__, __LINE__);    \
      std::abort();                                                                           \
    }                                                                                         \
  } while (0)
