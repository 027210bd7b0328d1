#include "server/imapd/replication_hook.h"

#include <cctype>

namespace cyr::imapd {
namespace {
ReplicationFactory g_factory;
bool g_installed = false;
}  // namespace

void set_replication_factory(ReplicationFactory factory) {
  g_factory = std::move(factory);
  g_installed = static_cast<bool>(g_factory);
}

const ReplicationFactory* replication_factory() { return g_installed ? &g_factory : nullptr; }

std::string replication_verb_of(std::string_view line) {
  size_t sp = line.find(' ');
  if (sp == std::string_view::npos || sp == 0) return {};
  std::string_view rest = line.substr(sp + 1);
  std::string_view word = rest.substr(0, rest.find(' '));
  if (word.size() < 7 || word.size() > 11) return {};
  std::string up(word);
  for (auto& c : up) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (up == "SYNCAPPLY" || up == "SYNCGET" || up == "SYNCRESTART") return up;
  return {};
}

}  // namespace cyr::imapd
