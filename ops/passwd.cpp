#include <cstdio>

#include "ops/commands.h"

namespace cyr::ops {

// Replaced by the user database's command (server/auth).
int passwd_main(int argc, char** argv) {
  fprintf(stderr, "cyr_passwd: not implemented yet\n");
  return 1;
}

}  // namespace cyr::ops
