// Layer 3 (sources): CUDA runtime memory, cudaMalloc and cudaMallocManaged.
//
// Header-only and host-only. Include it from a .cu file or from plain C++
// compiled with the CUDA include directory, and link the CUDA runtime
// (CUDA::cudart or CUDA::cudart_static); never the driver stub CUDA::cuda_driver,
// which keeps binaries from starting on machines without a driver.
// Not part of <swim/mem/sources.hpp>, which must not need the CUDA headers.
// The CUDA and HIP runtime headers cannot share a translation unit (both define
// dim3, double2, ...): include cuda_memory.hpp or hip_memory.hpp, not both.
#pragma once
#define SWIM_MEM_CUDA_MEMORY_HPP_INCLUDED 1

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

#include "swim/mem/sources/concept.hpp"
#include "swim/mem/sources/gpu_memory_fwd.hpp"

namespace swim::mem {

namespace detail {

/// An allocation error of the CUDA runtime as a swim-mem Error.
inline Error cuda_error(cudaError_t e) noexcept {
  switch (e) {
    case cudaSuccess: return Error::none;
    case cudaErrorMemoryAllocation: return Error::out_of_memory;
    case cudaErrorInvalidValue: return Error::invalid_argument;
    // No device, no driver, a driver older than the runtime, a device in
    // prohibited mode, ...: there is no CUDA memory to be had here.
    default: return Error::unsupported;
  }
}

/// Make `device` current for the lifetime of the scope and restore the previous
/// one after (allocating on a given device must not change the caller's device).
class CudaDeviceScope {
 public:
  explicit CudaDeviceScope(int device) noexcept {
    if (device < 0) return;
    int current = 0;
    error_ = cudaGetDevice(&current);
    if (error_ == cudaSuccess && current != device) {
      error_ = cudaSetDevice(device);
      if (error_ == cudaSuccess) previous_ = current;
    }
  }
  ~CudaDeviceScope() {
    if (previous_ >= 0) (void)cudaSetDevice(previous_);
  }
  CudaDeviceScope(const CudaDeviceScope&) = delete;
  CudaDeviceScope& operator=(const CudaDeviceScope&) = delete;
  cudaError_t error() const noexcept { return error_; }

 private:
  int previous_ = -1;
  cudaError_t error_ = cudaSuccess;
};

}  // namespace detail

/// Memory from the CUDA runtime (see CudaDeviceMemory / CudaManagedMemory).
///
/// - try_acquire(bytes, align): one runtime allocation of `bytes` (0 counts as 1
///   byte) on the chosen device (-1: the current one). The runtime aligns to at
///   least `guaranteed_align` (256) bytes; a larger alignment is Error::misaligned,
///   because release must hand the runtime the very pointer it returned and there
///   is no host-visible place to remember it. Errors: misaligned, out_of_memory
///   (the device is full), unsupported (no device or no usable driver),
///   invalid_argument (the runtime rejected the request).
/// - release(block): cudaFree. Errors: foreign_pointer (the runtime does not know
///   the pointer), unsupported (no usable runtime).
///
/// A failed call clears the runtime's last-error state, so it does not leak into
/// a later cudaGetLastError check. Thread-safe (the runtime is). Host only.
template <CudaMemoryKind Kind>
class CudaMemory {
 public:
  static constexpr bool host_accessible = Kind != CudaMemoryKind::device;
  static constexpr bool device_accessible = true;
  static constexpr std::size_t guaranteed_align = 256;

  explicit CudaMemory(int device = -1) noexcept : device_(device) {}

  /// True when the runtime reports at least one device.
  static bool available() noexcept {
    int n = 0;  // left unwritten when the call fails
    const cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess) (void)cudaGetLastError();
    return e == cudaSuccess && n > 0;
  }

  int device() const noexcept { return device_; }

  Result<Block> try_acquire(std::size_t bytes, std::size_t align) noexcept {
    if (!detail::is_pow2(align) || align > guaranteed_align) return Error::misaligned;
    detail::CudaDeviceScope scope(device_);
    if (scope.error() != cudaSuccess) return fail(scope.error());
    void* p = nullptr;
    const std::size_t n = bytes == 0 ? 1 : bytes;
    cudaError_t e = cudaSuccess;
    if constexpr (Kind == CudaMemoryKind::pinned) {
      e = cudaMallocHost(&p, n);
    } else if constexpr (Kind == CudaMemoryKind::managed) {
      e = cudaMallocManaged(&p, n, cudaMemAttachGlobal);
    } else {
      e = cudaMalloc(&p, n);
    }
    if (e != cudaSuccess) return fail(e);
    // The alignment is the runtime's promise; check it rather than trust it.
    if (reinterpret_cast<std::uintptr_t>(p) % align != 0) {
      (void)free_region(p);
      return Error::misaligned;
    }
    return Block{p, bytes};
  }

  Error release(Block region) noexcept {
    if (region.ptr == nullptr) return Error::none;
    const cudaError_t e = free_region(region.ptr);
    if (e == cudaSuccess) return Error::none;
    (void)cudaGetLastError();
    return e == cudaErrorInvalidValue || e == cudaErrorInvalidDevicePointer ? Error::foreign_pointer
                                                                            : Error::unsupported;
  }

  /// Copy n bytes between two regions of this memory (or host memory), which
  /// must not overlap, and wait for the copy: on return the source may be reused.
  /// Stream-ordered after work on the default stream. What compaction uses to
  /// move a buffer. Errors: unsupported (the runtime failed the copy).
  Error copy(void* to, const void* from, std::size_t n) noexcept {
    if (n == 0) return Error::none;
    detail::CudaDeviceScope scope(device_);
    if (scope.error() != cudaSuccess) return fail(scope.error());
    cudaError_t e = cudaMemcpyAsync(to, from, n, cudaMemcpyDefault, cudaStreamLegacy);
    if (e == cudaSuccess) e = cudaStreamSynchronize(cudaStreamLegacy);
    if (e == cudaSuccess) return Error::none;
    (void)cudaGetLastError();
    return Error::unsupported;
  }

 private:
  static cudaError_t free_region(void* p) noexcept {
    if constexpr (Kind == CudaMemoryKind::pinned) {
      return cudaFreeHost(p);
    } else {
      return cudaFree(p);
    }
  }

  static Error fail(cudaError_t e) noexcept {
    (void)cudaGetLastError();
    return detail::cuda_error(e);
  }

  int device_;
};

/// cudaMalloc'd device memory: device-accessible only.
using CudaDeviceMemory = CudaMemory<CudaMemoryKind::device>;
/// cudaMallocManaged memory: accessible from host and device (the host must not
/// touch it while a kernel runs unless the device reports concurrentManagedAccess).
using CudaManagedMemory = CudaMemory<CudaMemoryKind::managed>;

static_assert(memory_source<CudaDeviceMemory>);
/// cudaMallocHost'd page-locked host memory: host- and device-accessible
/// (kernels read it over the bus), what staging buffers and fast copies want.
using CudaPinnedMemory = CudaMemory<CudaMemoryKind::pinned>;

static_assert(memory_source<CudaManagedMemory>);
static_assert(memory_source<CudaPinnedMemory>);

}  // namespace swim::mem
