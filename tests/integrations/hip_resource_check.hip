// HipResource (include/swim/mem/integrations/hip_resource.hpp) under the HIP
// compiler itself (clang -x hip), as a .hip file of a user's would include it:
// instantiated over a host heap and over a HoldRef. Compile-only (object library
// swim_mem_hip_resource_check): HIP with gtest crashes clang-15, and the runtime
// behaviour is tested by integrations/hip_resource.cpp.
#include <hip/hip_runtime.h>

#include "swim/mem/integrations/hip_resource.hpp"
#include "swim/mem.hpp"

template class swim::mem::HipResource<swim::mem::ExtentHeap<>>;
template class swim::mem::HipResource<swim::mem::HoldRef>;

static_assert(swim::mem::HipResource<swim::mem::ExtentHeap<>>::host_accessible);
static_assert(!swim::mem::HipResource<swim::mem::ExtentHeap<>>::device_accessible);

// One symbol, so that the object is not empty.
void swim_mem_hip_resource_check() {}
