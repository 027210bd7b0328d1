// Replays the fuzz corpus (tests/fuzz/corpus/<target>/) through each target,
// then a bounded number of random mutations of each input: every build runs
// the inputs that once broke a parser, and a little fuzzing of its own
// (without libFuzzer's coverage guidance; see docs/fuzzing.md for that).
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "tests/unit/fuzz/targets.h"

namespace cyr::fuzz {
namespace {

namespace fs = std::filesystem;

std::vector<std::string> corpus(const std::string& target) {
  std::vector<fs::path> files;
  fs::path dir = fs::path(CYR_SOURCE_DIR) / "tests" / "fuzz" / "corpus" / target;
  std::error_code ec;
  for (auto it = fs::directory_iterator(dir, ec); !ec && it != fs::directory_iterator(); it.increment(ec))
    if (it->is_regular_file()) files.push_back(it->path());
  std::sort(files.begin(), files.end());
  std::vector<std::string> out;
  for (auto& f : files) {
    std::ifstream in(f, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    out.push_back(s.str());
  }
  return out;
}

int run(const Target& t, const std::string& input) {
  return t.run(reinterpret_cast<const uint8_t*>(input.data()), input.size());
}

class FuzzCorpus : public ::testing::TestWithParam<Target> {};

TEST_P(FuzzCorpus, KeptInputsPass) {
  auto inputs = corpus(GetParam().name);
  ASSERT_FALSE(inputs.empty()) << "no seed inputs for " << GetParam().name;
  for (auto& in : inputs) EXPECT_EQ(run(GetParam(), in), 0);
}

// Byte flips, insertions of syntax characters, cuts and splices of two
// inputs: a fixed seed, so a failure here is reproducible.
TEST_P(FuzzCorpus, MutationsPass) {
  auto inputs = corpus(GetParam().name);
  ASSERT_FALSE(inputs.empty());
  std::mt19937 rng(20261124);
  static const char kSpecials[] = "(){}[]<>\"\\%*~+-.:;=?@\r\n \t\x80\xff\0" "0123456789";
  const std::string special_chars(kSpecials, sizeof kSpecials - 1);
  for (int round = 0; round < 300; ++round) {
    std::string s = inputs[rng() % inputs.size()];
    for (int k = 0, edits = 1 + rng() % 8; k < edits && !s.empty(); ++k) {
      size_t at = rng() % s.size();
      switch (rng() % 5) {
        case 0: s[at] = static_cast<char>(rng()); break;
        case 1: s.insert(at, 1, special_chars[rng() % special_chars.size()]); break;
        case 2: s.erase(at, 1 + rng() % 16); break;
        case 3: s.insert(at, s.substr(rng() % s.size(), 1 + rng() % 64)); break;
        case 4: {
          const std::string& other = inputs[rng() % inputs.size()];
          s = s.substr(0, at) + other.substr(std::min<size_t>(rng() % (other.size() + 1), other.size()));
          break;
        }
      }
    }
    ASSERT_EQ(run(GetParam(), s), 0);
  }
}

INSTANTIATE_TEST_SUITE_P(Targets, FuzzCorpus, ::testing::ValuesIn(kTargets),
                         [](const ::testing::TestParamInfo<Target>& i) { return std::string(i.param.name); });

}  // namespace
}  // namespace cyr::fuzz
