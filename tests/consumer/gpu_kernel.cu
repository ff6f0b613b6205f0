// A .cu file of an outside project that includes swim-mem (needs nvcc in C++20:
// the package, or the source tree's add_subdirectory, teaches CMake 3.25 the flag)
// and runs swim-mem code in a kernel. Called by gpu.cpp when a GPU is there.
#include <cstddef>

#include <cuda_runtime_api.h>

#include <swim/mem.hpp>

namespace {

__global__ void layout_kernel(std::size_t* out) {
  const swim::mem::Result<swim::mem::Layout> layout = swim::mem::Layout::array<double>(100);
  *out = layout ? layout->size : 0;
}

}  // namespace

/// The size of Layout::array<double>(100) as a kernel computes it, or 0 when a
/// runtime call fails.
std::size_t consumer_kernel_layout_size() {
  std::size_t* d = nullptr;
  if (cudaMalloc(&d, sizeof *d) != cudaSuccess) return 0;
  layout_kernel<<<1, 1>>>(d);
  std::size_t h = 0;
  const bool ok = cudaMemcpy(&h, d, sizeof h, cudaMemcpyDeviceToHost) == cudaSuccess;
  (void)cudaFree(d);
  return ok ? h : 0;
}
