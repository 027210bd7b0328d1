#include "failover/witness.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>

namespace cyr::failover {
namespace {

using std::chrono::milliseconds;

class Witness : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("cyr_witness_test." + std::to_string(std::random_device{}()));
    std::filesystem::create_directories(dir_);
    open();
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  void open() {
    auto w = WitnessState::open(dir_ / "w" / "state", now_);
    ASSERT_TRUE(w.ok()) << w.error().describe();
    w_ = std::move(*w);
  }
  Reply ask(const std::string& line) {
    auto r = parse_reply(w_->handle(line, now_));
    EXPECT_TRUE(r.ok());
    return r.ok() ? *r : Reply{};
  }

  std::filesystem::path dir_;
  WitnessState::Clock::time_point now_{std::chrono::hours(1)};
  std::unique_ptr<WitnessState> w_;
};

TEST_F(Witness, GrantsOnePrimaryPerEpoch) {
  EXPECT_TRUE(ask("ACQUIRE a 0 1000").ok);   // the configured primary of a fresh pair
  EXPECT_FALSE(ask("ACQUIRE b 0 1000").ok);  // the same epoch never goes to a second node
  EXPECT_FALSE(ask("ACQUIRE b 1 1000").ok);  // a later one not while a's lease runs
  now_ += milliseconds(900);
  EXPECT_TRUE(ask("ACQUIRE a 0 1000").ok);   // renewal
  now_ += milliseconds(900);
  auto held = ask("ACQUIRE b 1 1000");
  EXPECT_FALSE(held.ok);
  EXPECT_EQ(held.text.rfind("DENIED 0 a ", 0), 0u) << held.text;
  now_ += milliseconds(101);
  EXPECT_TRUE(ask("ACQUIRE b 1 1000").ok);   // a's lease ran out
  EXPECT_FALSE(ask("ACQUIRE a 0 1000").ok);  // stale epoch
  auto stale = ask("ACQUIRE a 1 1000");
  EXPECT_FALSE(stale.ok);
  EXPECT_NE(stale.text.find("epoch-taken"), std::string::npos);
}

TEST_F(Witness, ReleaseLetsThePeerTakeTheNextEpochAtOnce) {
  EXPECT_TRUE(ask("ACQUIRE a 4 60000").ok);
  EXPECT_FALSE(ask("RELEASE b 4").ok);  // only the holder may
  EXPECT_FALSE(ask("RELEASE a 3").ok);
  EXPECT_TRUE(ask("RELEASE a 4").ok);
  EXPECT_FALSE(ask("ACQUIRE b 4 60000").ok);  // still one node per epoch
  EXPECT_TRUE(ask("ACQUIRE b 5 60000").ok);
}

TEST_F(Witness, StateSurvivesARestartAndTheLeaseCountsAsHeld) {
  EXPECT_TRUE(ask("ACQUIRE a 7 2000").ok);
  open();  // restart
  auto q = ask("QUERY");
  EXPECT_EQ(q.text, "STATE 7 a 2000");
  EXPECT_FALSE(ask("ACQUIRE b 8 2000").ok);  // a may still be using its lease
  now_ += milliseconds(2001);
  EXPECT_TRUE(ask("ACQUIRE b 8 2000").ok);
  open();
  EXPECT_FALSE(ask("ACQUIRE a 8 2000").ok);  // epoch 8 was given to b, durably
}

TEST_F(Witness, RefusesBadRequestsAndDamagedState) {
  EXPECT_FALSE(ask("ACQUIRE a x 100").ok);
  EXPECT_FALSE(ask("ACQUIRE a 1 0").ok);
  EXPECT_FALSE(ask("ACQUIRE a 1").ok);
  EXPECT_FALSE(ask("ACQUIRE a%b 1 100").ok);
  EXPECT_FALSE(ask("HELLO").ok);
  EXPECT_EQ(ask("QUERY").text, "STATE 0 - 0");  // nothing changed
  std::ofstream(dir_ / "w" / "state") << "epoch banana\n";
  auto w = WitnessState::open(dir_ / "w" / "state", now_);
  ASSERT_FALSE(w.ok());
  EXPECT_EQ(w.error().code, Errc::Corrupted);
}

TEST_F(Witness, LongLeasesAreCut) {
  EXPECT_TRUE(ask("ACQUIRE a 1 99999999999").ok);
  now_ += WitnessState::kMaxTtl + milliseconds(1);
  EXPECT_TRUE(ask("ACQUIRE b 2 1000").ok);
}

}  // namespace
}  // namespace cyr::failover
