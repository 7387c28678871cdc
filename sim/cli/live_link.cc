// The one place that knows how the live engine (sim/live) is called, so main.cc stays the same
// whether or not the live engine is built (K8SLB_SIM_HAVE_LIVE comes from CMake).
#include "sim/engine/engine.h"

#if defined(K8SLB_SIM_HAVE_LIVE)
#include "sim/live/live_engine.h"
#endif

namespace k8slb::sim {

// Returns the live runner, or an empty function when this build has no live engine.
LiveRunner GetLiveRunner() {
#if defined(K8SLB_SIM_HAVE_LIVE)
  return [](const scenario::Scenario& sc, const RunOptions& options, RunRecorder& recorder) {
    return live::RunLive(sc, options, recorder);
  };
#else
  return nullptr;
#endif
}

}  // namespace k8slb::sim
