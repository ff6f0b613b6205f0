// The device suite for HIP: a thin runtime shim, then the shared kernels.
// Everything else is in kernels.inl, shared with kernels.cu so the two cannot drift.
#include <hip/hip_runtime.h>

#include <cstddef>

#include "swim/mem/sources/hip_memory.hpp"

namespace swim_mem_gpu {
using error_t = hipError_t;
inline constexpr error_t success = hipSuccess;
inline error_t allocate(void** p, std::size_t n) { return hipMalloc(p, n); }
inline error_t release(void* p) { return hipFree(p); }
inline error_t to_host(void* dst, const void* src, std::size_t n) {
  return hipMemcpy(dst, src, n, hipMemcpyDeviceToHost);
}
inline error_t to_device(void* dst, const void* src, std::size_t n) {
  return hipMemcpy(dst, src, n, hipMemcpyHostToDevice);
}
inline error_t zero(void* p, std::size_t n) { return hipMemset(p, 0, n); }
inline error_t synchronize() { return hipDeviceSynchronize(); }
inline error_t launch_error() { return hipGetLastError(); }
inline error_t device_count(int* n) { return hipGetDeviceCount(n); }
inline const char* describe(error_t e) { return hipGetErrorString(e); }
/// The runtime's device memory as a swim-mem source (suite/extent.inl).
using device_source = swim::mem::HipDeviceMemory;
}  // namespace swim_mem_gpu

#define SWIM_MEM_LAUNCHER(name) swim_mem_hip_##name
#include "kernels.inl"
