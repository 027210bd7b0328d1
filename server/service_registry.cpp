#include "server/service_registry.h"

#include <algorithm>

#include "server/imapd/imapd_service.h"
#include "server/lmtpd/lmtpd_service.h"
#include "server/managesieve/managesieve_service.h"
#include "server/pop3d/pop3d_service.h"
#include "server/smmapd/smmapd_service.h"

namespace cyr::server {

bool ServiceContext::has_flag(std::string_view flag) const {
  return argv.size() > 1 && std::find(argv.begin() + 1, argv.end(), flag) != argv.end();
}

void ServiceRegistry::add(std::string name, ServiceFactory factory) {
  factories_[std::move(name)] = std::move(factory);
}

const ServiceFactory* ServiceRegistry::find(std::string_view name) const {
  auto it = factories_.find(name);
  return it == factories_.end() ? nullptr : &it->second;
}

std::vector<std::string> ServiceRegistry::names() const {
  std::vector<std::string> out;
  for (const auto& [name, f] : factories_) out.push_back(name);
  return out;
}

void register_protocol_services(ServiceRegistry& registry) {
  // One line per protocol server, keyed by the Cyrus program name its
  // cyrus.conf entries use. A program without a line here is not served:
  // cyr_master says so, once per entry.
  imapd::register_imapd_service(registry);  // "imapd"
  lmtpd::register_lmtpd_service(registry);  // "lmtpd"
  pop3d::register_pop3d_service(registry);  // "pop3d"
  managesieve::register_managesieve_service(registry);  // "timsieved"
  smmapd::register_smmapd_service(registry);  // "smmapd"
}

bool SessionSlots::try_acquire() {
  std::lock_guard lk(mu_);
  if (limit_ > 0 && in_use_ >= limit_) return false;
  ++in_use_;
  return true;
}

void SessionSlots::release() {
  std::lock_guard lk(mu_);
  if (in_use_ > 0) --in_use_;
}

int SessionSlots::in_use() const {
  std::lock_guard lk(mu_);
  return in_use_;
}

}  // namespace cyr::server
