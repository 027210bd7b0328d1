// The libFuzzer entry point of one target (CYR_FUZZ_TARGET, set by
// tests/fuzz/CMakeLists.txt).
#include "tests/unit/fuzz/targets.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return cyr::fuzz::CYR_FUZZ_TARGET(data, size);
}
