// The device suite's lease kernels for HIP: a thin runtime shim, then leases.inl.
// Everything else is in leases.inl, shared with leases.cu so the two cannot drift.
#include <hip/hip_runtime.h>

#include <cstddef>

namespace swim_mem_lease_gpu {
using error_t = hipError_t;
inline constexpr error_t success = hipSuccess;
inline error_t allocate(void** p, std::size_t n) { return hipMalloc(p, n); }
inline error_t release(void* p) { return hipFree(p); }
inline error_t to_host(void* dst, const void* src, std::size_t n) {
  return hipMemcpy(dst, src, n, hipMemcpyDeviceToHost);
}
inline error_t zero(void* p, std::size_t n) { return hipMemset(p, 0, n); }
inline error_t synchronize() { return hipDeviceSynchronize(); }
inline error_t launch_error() { return hipGetLastError(); }
inline error_t device_count(int* n) { return hipGetDeviceCount(n); }
inline const char* describe(error_t e) { return hipGetErrorString(e); }
// HIP 5.2 has no stack limit to set (hipDeviceSetLimit knows only the malloc heap).
// None is needed: clang gives a kernel that may recurse a fixed private segment of
// 16 KiB per work-item (.amdhsa_private_segment_fixed_size in the code object).
inline error_t stack_size(std::size_t* bytes) {
  *bytes = 0;
  return hipSuccess;
}
inline error_t set_stack_size(std::size_t) { return hipSuccess; }
}  // namespace swim_mem_lease_gpu

#define SWIM_MEM_LAUNCHER(name) swim_mem_hip_##name
#include "leases.inl"
