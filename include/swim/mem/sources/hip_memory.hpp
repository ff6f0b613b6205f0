// Layer 3 (sources): HIP runtime memory, hipMalloc and hipMallocManaged.
//
// Header-only and host-only. Include it from a .hip file or from plain C++
// compiled against the HIP runtime headers with a platform macro (CMake:
// link hip::host from find_package(hip), which defines __HIP_PLATFORM_AMD__),
// and link the HIP runtime (libamdhip64).
// Not part of <swim/mem/sources.hpp>, which must not need the HIP headers.
// The CUDA and HIP runtime headers cannot share a translation unit (both define
// dim3, double2, ...): include cuda_memory.hpp or hip_memory.hpp, not both.
#pragma once

#include <hip/hip_runtime_api.h>

#include <cstddef>
#include <cstdint>

#include "swim/mem/sources/concept.hpp"
#include "swim/mem/sources/gpu_memory_fwd.hpp"

namespace swim::mem {

namespace detail {

/// An allocation error of the HIP runtime as a swim-mem Error.
inline Error hip_error(hipError_t e) noexcept {
  switch (e) {
    case hipSuccess: return Error::none;
    case hipErrorOutOfMemory: return Error::out_of_memory;
    case hipErrorInvalidValue: return Error::invalid_argument;
    // No device (hipErrorNoDevice), no driver, ...: no HIP memory to be had here.
    default: return Error::unsupported;
  }
}

/// Make `device` current for the scope and restore the previous one after.
class HipDeviceScope {
 public:
  explicit HipDeviceScope(int device) noexcept {
    if (device < 0) return;
    int current = 0;
    error_ = hipGetDevice(&current);
    if (error_ == hipSuccess && current != device) {
      error_ = hipSetDevice(device);
      if (error_ == hipSuccess) previous_ = current;
    }
  }
  ~HipDeviceScope() {
    if (previous_ >= 0) (void)hipSetDevice(previous_);
  }
  HipDeviceScope(const HipDeviceScope&) = delete;
  HipDeviceScope& operator=(const HipDeviceScope&) = delete;
  hipError_t error() const noexcept { return error_; }

 private:
  int previous_ = -1;
  hipError_t error_ = hipSuccess;
};

}  // namespace detail

/// Memory from the HIP runtime (see HipDeviceMemory / HipManagedMemory); the
/// same contract as CudaMemory in cuda_memory.hpp:
///
/// - try_acquire(bytes, align): one runtime allocation of `bytes` (0 counts as 1
///   byte) on the chosen device (-1: the current one), aligned to at least
///   `guaranteed_align`; a larger alignment is Error::misaligned (release must get
///   the runtime's own pointer back). Errors: misaligned, out_of_memory,
///   unsupported (no device or driver), invalid_argument.
/// - release(block): hipFree. Errors: foreign_pointer, unsupported.
///
/// A failed call clears the runtime's last-error state. Thread-safe. Host only.
template <HipMemoryKind Kind>
class HipMemory {
 public:
  static constexpr bool host_accessible = Kind != HipMemoryKind::device;
  static constexpr bool device_accessible = true;
  static constexpr std::size_t guaranteed_align = 256;

  explicit HipMemory(int device = -1) noexcept : device_(device) {}

  /// True when the runtime reports at least one device.
  static bool available() noexcept {
    int n = 0;
    const hipError_t e = hipGetDeviceCount(&n);
    if (e != hipSuccess) (void)hipGetLastError();
    return e == hipSuccess && n > 0;
  }

  int device() const noexcept { return device_; }

  Result<Block> try_acquire(std::size_t bytes, std::size_t align) noexcept {
    if (!detail::is_pow2(align) || align > guaranteed_align) return Error::misaligned;
    detail::HipDeviceScope scope(device_);
    if (scope.error() != hipSuccess) return fail(scope.error());
    void* p = nullptr;
    const std::size_t n = bytes == 0 ? 1 : bytes;
    hipError_t e = hipSuccess;
    if constexpr (Kind == HipMemoryKind::pinned) {
      e = hipHostMalloc(&p, n, hipHostMallocDefault);
    } else if constexpr (Kind == HipMemoryKind::managed) {
      e = hipMallocManaged(&p, n, hipMemAttachGlobal);
    } else {
      e = hipMalloc(&p, n);
    }
    if (e != hipSuccess) return fail(e);
    // The alignment is the runtime's promise; check it rather than trust it.
    if (reinterpret_cast<std::uintptr_t>(p) % align != 0) {
      (void)free_region(p);
      return Error::misaligned;
    }
    return Block{p, bytes};
  }

  Error release(Block region) noexcept {
    if (region.ptr == nullptr) return Error::none;
    const hipError_t e = free_region(region.ptr);
    if (e == hipSuccess) return Error::none;
    (void)hipGetLastError();
    return e == hipErrorInvalidValue || e == hipErrorInvalidDevicePointer ? Error::foreign_pointer
                                                                          : Error::unsupported;
  }

  /// Copy n bytes between two regions of this memory (or host memory), which
  /// must not overlap, and wait for the copy: on return the source may be reused.
  /// Stream-ordered after work on the default stream. What compaction uses to
  /// move a buffer. Errors: unsupported (the runtime failed the copy).
  Error copy(void* to, const void* from, std::size_t n) noexcept {
    if (n == 0) return Error::none;
    detail::HipDeviceScope scope(device_);
    if (scope.error() != hipSuccess) return fail(scope.error());
    hipError_t e = hipMemcpyAsync(to, from, n, hipMemcpyDefault, nullptr);
    if (e == hipSuccess) e = hipStreamSynchronize(nullptr);
    if (e == hipSuccess) return Error::none;
    (void)hipGetLastError();
    return Error::unsupported;
  }

 private:
  static hipError_t free_region(void* p) noexcept {
    if constexpr (Kind == HipMemoryKind::pinned) {
      return hipHostFree(p);
    } else {
      return hipFree(p);
    }
  }

  static Error fail(hipError_t e) noexcept {
    (void)hipGetLastError();
    return detail::hip_error(e);
  }

  int device_;
};

/// hipMalloc'd device memory: device-accessible only.
using HipDeviceMemory = HipMemory<HipMemoryKind::device>;
/// hipMallocManaged memory: accessible from host and device.
using HipManagedMemory = HipMemory<HipMemoryKind::managed>;

static_assert(memory_source<HipDeviceMemory>);
/// hipHostMalloc'd page-locked host memory: host- and device-accessible
/// (kernels read it over the bus), what staging buffers and fast copies want.
using HipPinnedMemory = HipMemory<HipMemoryKind::pinned>;

static_assert(memory_source<HipManagedMemory>);
static_assert(memory_source<HipPinnedMemory>);

}  // namespace swim::mem
