// The device suite's lease kernels for CUDA: a thin runtime shim, then leases.inl.
// Everything else is in leases.inl, shared with leases.hip so the two cannot drift.
#include <cuda_runtime.h>

#include <cstddef>

namespace swim_mem_lease_gpu {
using error_t = cudaError_t;
inline constexpr error_t success = cudaSuccess;
inline error_t allocate(void** p, std::size_t n) { return cudaMalloc(p, n); }
inline error_t release(void* p) { return cudaFree(p); }
inline error_t to_host(void* dst, const void* src, std::size_t n) {
  return cudaMemcpy(dst, src, n, cudaMemcpyDeviceToHost);
}
inline error_t zero(void* p, std::size_t n) { return cudaMemset(p, 0, n); }
inline error_t synchronize() { return cudaDeviceSynchronize(); }
inline error_t launch_error() { return cudaGetLastError(); }
inline error_t device_count(int* n) { return cudaGetDeviceCount(n); }
inline const char* describe(error_t e) { return cudaGetErrorString(e); }
// Per-thread stack: stow and lease destruction recurse (see leases.inl).
inline error_t stack_size(std::size_t* bytes) {
  return cudaDeviceGetLimit(bytes, cudaLimitStackSize);
}
inline error_t set_stack_size(std::size_t bytes) {
  return cudaDeviceSetLimit(cudaLimitStackSize, bytes);
}
}  // namespace swim_mem_lease_gpu

#define SWIM_MEM_LAUNCHER(name) swim_mem_cuda_##name
#include "leases.inl"
