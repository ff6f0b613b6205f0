// Layer 3 (sources): the names of the GPU runtime sources, without the runtime
// headers they need (sources/cuda_memory.hpp and sources/hip_memory.hpp define
// them).
//
// The heap list (heaps/heap_kinds.hpp) names SourceHeap over these sources so
// that a Pool over CUDA or HIP memory grows through a tag like any other; that
// list is seen by every translation unit, most of which cannot include a GPU
// runtime's headers.
#pragma once

namespace swim::mem {

/// The kinds of memory the CUDA runtime hands out.
enum class CudaMemoryKind {
  device,   ///< cudaMalloc: device memory, not host-accessible
  managed,  ///< cudaMallocManaged(cudaMemAttachGlobal): migrates between host and device
  pinned,   ///< cudaMallocHost: page-locked host memory, also mapped for the device
};

/// The kinds of memory the HIP runtime hands out.
enum class HipMemoryKind {
  device,   ///< hipMalloc: device memory, not host-accessible
  managed,  ///< hipMallocManaged(hipMemAttachGlobal): accessible from host and device
  pinned,   ///< hipHostMalloc: page-locked host memory, also mapped for the device
};

template <CudaMemoryKind Kind>
class CudaMemory;
template <HipMemoryKind Kind>
class HipMemory;

}  // namespace swim::mem
