// Loads the recorded csync exchanges in tests/unit/sync/vectors/ (format in
// vectors/README.md) into the client and server byte streams.
#pragma once

#include <fstream>
#include <sstream>
#include <string>

namespace cyr::sync::testing {

struct Exchange {
  std::string client;  // every "C: " line, CRLF-terminated
  std::string server;  // every "S: " line, CRLF-terminated
};

inline std::string vector_path(const std::string& name) {
  return std::string(CYR_SOURCE_DIR) + "/tests/unit/sync/vectors/" + name;
}

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline std::string expand_tabs(std::string s) {
  const std::string tab = "<TAB>";
  for (size_t p = s.find(tab); p != std::string::npos; p = s.find(tab, p + 1)) s.replace(p, tab.size(), "\t");
  return s;
}

// Returns false if the file is missing or a line has no direction prefix.
inline bool load_exchange(const std::string& name, Exchange* out) {
  std::ifstream in(vector_path(name), std::ios::binary);
  if (!in) return false;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    if (line.size() < 2 || (line[0] != 'C' && line[0] != 'S') || line[1] != ':') return false;
    std::string wire = line.size() > 3 ? line.substr(3) : std::string();
    wire = expand_tabs(wire) + "\r\n";
    (line[0] == 'C' ? out->client : out->server) += wire;
  }
  return true;
}

}  // namespace cyr::sync::testing
