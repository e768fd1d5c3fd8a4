// libFuzzer target: the whole loader, the validating checks and then libtorch's own
// torch::jit::load, as ModelCore::loadBuffer does it for Model.load. An input may be
// refused (torchloop::Error) or load; a crash, a hang or an abort is a finding.
#include <cstddef>
#include <cstdint>

#include "core/errors.h"
#include "core/model.h"
#include "core/runtime.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static bool once = (torchloop::applyRealtimeDefaults(), true);
  (void)once;
  try {
    auto model = torchloop::ModelCore::loadBuffer(reinterpret_cast<const char*>(data), size, "cpu");
    model->parameters();
    model->buffers();
  } catch (const torchloop::Error&) {
  }
  return 0;
}
