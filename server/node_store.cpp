#include "server/node_store.h"

#include <mutex>

#include "store/store_config.h"

namespace cyr::server {
namespace {
std::mutex g_store_mu;
std::shared_ptr<store::Store> g_store;
}  // namespace

void set_node_store(std::shared_ptr<store::Store> s) {
  std::lock_guard lk(g_store_mu);
  g_store = std::move(s);
}

Result<std::shared_ptr<store::Store>> node_store(const config::ImapdConf& conf, store::OpenMode mode) {
  std::lock_guard lk(g_store_mu);
  if (g_store) return g_store;
  auto opts = store::options_from_config(conf);
  if (!opts) return opts.take_error();
  opts->open_mode = mode;
  auto s = store::Store::open(*opts);
  if (!s) return s.take_error();
  g_store = std::shared_ptr<store::Store>(std::move(*s));
  return g_store;
}

}  // namespace cyr::server
