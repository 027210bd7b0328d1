#include <cstdio>

#include "ops/commands.h"

namespace cyr::ops {

// Replaced by the daemon (server/master) wiring.
int master_main(int argc, char** argv) {
  fprintf(stderr, "cyr_master: not implemented yet\n");
  return 1;
}

}  // namespace cyr::ops
