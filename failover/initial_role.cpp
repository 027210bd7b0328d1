#include "failover/initial_role.h"

#include "store/config/imapd_conf.h"

namespace cyr::failover {

store::Role configured_role(const config::ImapdConf& conf) {
  std::string role = conf.get_string("failover_role");
  if (role == "primary") return store::Role::Primary;
  if (role == "replica") return store::Role::Replica;
  return conf.get_string("failover_peer").empty() ? store::Role::Primary : store::Role::Replica;
}

Result<store::NodeState> apply_initial_role(store::Store& store, const config::ImapdConf& conf) {
  store::NodeState st = store.node_state();
  if (st.epoch != 0) return st;  // a failover decided; the persisted state wins
  store::Role want = configured_role(conf);
  if (st.role == want) return st;
  st.role = want;
  CYR_TRY(store.set_node_state(st));
  return st;
}

}  // namespace cyr::failover
