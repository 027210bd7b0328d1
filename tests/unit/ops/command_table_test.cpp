// ops/commands.cmake (which links bin/cyr_<name>) must list exactly the
// commands of the table in ops/main.cpp, or a runbook command is missing.
#include <gtest/gtest.h>

#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>

namespace {

std::string slurp(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

TEST(CommandTable, CmakeListMatchesMainTable) {
  std::string main_cpp = slurp(std::string(CYR_SOURCE_DIR) + "/ops/main.cpp");
  std::string cmake = slurp(std::string(CYR_SOURCE_DIR) + "/ops/commands.cmake");
  ASSERT_FALSE(main_cpp.empty());
  ASSERT_FALSE(cmake.empty());
  std::set<std::string> in_table, in_cmake;
  std::regex entry(R"re(\{"([a-z_0-9]+)",\s*&)re");
  for (std::sregex_iterator it(main_cpp.begin(), main_cpp.end(), entry), end; it != end; ++it)
    in_table.insert((*it)[1]);
  auto open = cmake.find("set(CYR_COMMANDS");
  ASSERT_NE(open, std::string::npos);
  std::istringstream body(cmake.substr(open + 17, cmake.find(')', open) - open - 17));
  for (std::string w; body >> w;) in_cmake.insert(w);
  EXPECT_EQ(in_table, in_cmake);
  for (const char* c : {"quota", "mbexamine", "mbpath", "mboxlist"}) EXPECT_TRUE(in_table.count(c)) << c;
}

}  // namespace
