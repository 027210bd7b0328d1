// The one table of the multi-call binary's commands. Each is installed as
// bin/cyr_<name> (a link to bin/cyrus) and can also be run as
// "cyrus <name> args...". Keep ops/commands.cmake in step.
#pragma once

#include <span>
#include <string_view>

#include <memory>
#include <string>

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
int reconstruct_main(int argc, char** argv);
int chk_cyrus_main(int argc, char** argv);
int cyrusdb_main(int argc, char** argv);
int dbtool_main(int argc, char** argv);
int cvt_cyrusdb_main(int argc, char** argv);
int failover_main(int argc, char** argv);
int adm_main(int argc, char** argv);
int expire_main(int argc, char** argv);
int ipurge_main(int argc, char** argv);
int unexpunge_main(int argc, char** argv);
int df_main(int argc, char** argv);
int userseen_main(int argc, char** argv);
int tls_prune_main(int argc, char** argv);
int deny_main(int argc, char** argv);
int synclog_main(int argc, char** argv);
int ctl_deliver_main(int argc, char** argv);


// Adds the csync service ("sync_server") to the master's registry (ops/register_sync.cpp).
void register_sync_services(server::ServiceRegistry& registry);
// With sync_log on and sync_host set, starts the rolling sync client in this
// process - unless cyrus_conf_path's DAEMON section runs `sync_client -r`,
// which then replaces it; the handle stops it when destroyed (null when not
// configured or not ours).
std::shared_ptr<void> start_replication(const config::ImapdConf& conf,
                                        const std::string& cyrus_conf_path = {});
// The "failover" service (cyrus.conf cmd="failover"): the controller's
// heartbeat and admin requests (ops/failover.cpp).
void register_failover_service(server::ServiceRegistry& registry);
// With failover_peer set, starts this node's failover controller, which then
// owns rolling replication (start_replication() does nothing); the handle
// stops it when destroyed (null when not configured).
std::shared_ptr<void> start_failover(const config::ImapdConf& conf);
}  // namespace cyr::ops
