// The device suite for CUDA: a thin runtime shim, then the shared kernels.
// Everything else is in kernels.inl, shared with kernels.hip so the two cannot drift.
#include <cuda_runtime.h>

#include <cstddef>

#include "swim/mem/sources/cuda_memory.hpp"

namespace swim_mem_gpu {
using error_t = cudaError_t;
inline constexpr error_t success = cudaSuccess;
inline error_t allocate(void** p, std::size_t n) { return cudaMalloc(p, n); }
inline error_t release(void* p) { return cudaFree(p); }
inline error_t to_host(void* dst, const void* src, std::size_t n) {
  return cudaMemcpy(dst, src, n, cudaMemcpyDeviceToHost);
}
inline error_t to_device(void* dst, const void* src, std::size_t n) {
  return cudaMemcpy(dst, src, n, cudaMemcpyHostToDevice);
}
inline error_t zero(void* p, std::size_t n) { return cudaMemset(p, 0, n); }
inline error_t synchronize() { return cudaDeviceSynchronize(); }
inline error_t launch_error() { return cudaGetLastError(); }
inline error_t device_count(int* n) { return cudaGetDeviceCount(n); }
inline const char* describe(error_t e) { return cudaGetErrorString(e); }
/// The runtime's device memory as a swim-mem source (suite/extent.inl).
using device_source = swim::mem::CudaDeviceMemory;
}  // namespace swim_mem_gpu

#define SWIM_MEM_LAUNCHER(name) swim_mem_cuda_##name
#include "kernels.inl"
