// The one table of the multi-call binary's commands. Each is installed as
// bin/cyr_<name> (a link to bin/cyrus) and can also be run as
// "cyrus <name> args...". Keep ops/commands.cmake in step.
#pragma once

#include <span>
#include <string_view>

#include <memory>

namespace cyr::server {
class ServiceRegistry;
}
namespace cyr::config {
class ImapdConf;
}

namespace cyr::ops {

using CommandMain = int (*)(int argc, char** argv);

struct CommandSpec {
  std::string_view name;     // without the cyr_ prefix
  CommandMain main;
  std::string_view summary;  // one line for "cyrus --help"
};

std::span<const CommandSpec> commands();
const CommandSpec* find_command(std::string_view name);

// Each command's entry point, defined in its own file under ops/ (or wired
// there from the module that implements it).
int master_main(int argc, char** argv);
int info_main(int argc, char** argv);
int passwd_main(int argc, char** argv);
int deliver_main(int argc, char** argv);
int sync_client_main(int argc, char** argv);
int sync_reset_main(int argc, char** argv);
int quota_main(int argc, char** argv);
int mbexamine_main(int argc, char** argv);
int mbpath_main(int argc, char** argv);
int mboxlist_main(int argc, char** argv);


// Adds the csync service ("sync_server") to the master's registry (ops/register_sync.cpp).
void register_sync_services(server::ServiceRegistry& registry);
// With sync_log on and sync_host set, starts the rolling sync client in this
// process; the handle stops it when destroyed (null when not configured).
std::shared_ptr<void> start_replication(const config::ImapdConf& conf);
}  // namespace cyr::ops
