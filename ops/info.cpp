#include <cstdio>

#include "ops/commands.h"

namespace cyr::ops {

// Replaced by the real conf-lint / conf-all implementation (config work).
int info_main(int argc, char** argv) {
  fprintf(stderr, "cyr_info: not implemented yet\n");
  return 1;
}

}  // namespace cyr::ops
