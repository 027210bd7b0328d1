#include "store/store_config.h"

#include <sstream>

#include "store/config/imapd_conf.h"
#include "store/config/paths.h"

namespace cyr::store {

Result<StoreOptions> options_from_config(const config::ImapdConf& conf) {
  auto paths = config::Paths::from_config(conf);
  if (!paths) return paths.take_error();
  StoreOptions o;
  o.configdirectory = paths->configdirectory;
  for (const auto& [name, root] : paths->partitions) o.partitions[name] = root;
  o.defaultpartition = paths->defaultpartition;
  o.singleinstancestore = conf.get_switch("singleinstancestore");
  o.expunge_mode = conf.get_string("expunge_mode") == "immediate" ? ExpungeMode::Immediate
                                                                  : ExpungeMode::Delayed;
  // defaultacl is "id rights id rights" in imapd.conf, tab-separated in the store.
  std::istringstream in(conf.get_string("defaultacl"));
  std::string word, acl;
  while (in >> word) acl += word + "\t";
  o.defaultacl = acl;
  // Each cached shard keeps its SQLite connection (schema, page cache,
  // prepared statements); reopening an evicted one is most of the CPU of a
  // delivery to a user not seen recently (docs/performance.md, run 8).
  o.max_open_shards = static_cast<size_t>(conf.get_int("store_open_shards"));
  // The replication log, as Cyrus's sync_log: only for a server with a
  // replica (a failover pair replicates whatever sync_log says).
  o.log_changes = conf.get_switch("sync_log") || !conf.get_string("failover_peer").empty();
  // One disk flush per commit instead of three (docs/store.md, Body journal).
  o.journal_max = static_cast<size_t>(conf.get_int("store_journal_max"));
  int64_t maxmsg = conf.get_int("maxmessagesize");
  if (maxmsg > 0) o.max_message_size = static_cast<size_t>(maxmsg);
  return o;
}

mail::NamespaceOptions namespace_options_from_config(const config::ImapdConf& conf, std::string_view service) {
  mail::NamespaceOptions ns;
  ns.altnamespace = conf.get_switch("altnamespace", service);
  ns.unixhierarchysep = conf.get_switch("unixhierarchysep", service);
  ns.virtdomains = conf.get_string("virtdomains", service) != "off";
  ns.userprefix = conf.get_string("userprefix", service);
  ns.sharedprefix = conf.get_string("sharedprefix", service);
  return ns;
}

}  // namespace cyr::store
