// Layer 8 (integrations), host only: a swim-mem allocator as a HIP memory
// resource.
//
// HIP has no cuda::mr: hipCUB and rocThrust take allocators of their own shape,
// and RMM-like code wraps a class with allocate/deallocate members. HipResource
// has the members of CudaResource (integrations/cuda_mr.hpp) with hipStream_t in
// place of cuda::stream_ref, so one wrapper serves both platforms:
//   allocate(n, a) / deallocate(p, n, a)                   synchronous
//   allocate_sync(n, a) / deallocate_sync(p, n, a)         the same, CCCL >= 3.1 names
//   allocate_async(n, a, s) / deallocate_async(p, n, a, s) stream-ordered
//   allocate(s, n, a) / deallocate(s, p, n, a)             the same, stream first
// plus host_accessible / device_accessible (read from the allocator, see
// integrations/accessibility.hpp).
//
// Include it from a .hip file or from plain C++ compiled against the HIP
// runtime headers with a platform macro (CMake: link hip::host), and link the
// HIP runtime. The CUDA and HIP runtime headers cannot share a translation unit.
//
// Stream semantics, as for CudaResource: the allocator is host-synchronous, so a
// stream-ordered allocation is made at once, and a stream-ordered free first
// waits for the stream (hipStreamSynchronize), keeping the invariant that a block
// inside the allocator has no pending stream work.
#pragma once

#include <hip/hip_runtime_api.h>

#include <cstddef>

#include "swim/mem/holds/hold.hpp"
#include "swim/mem/integrations/accessibility.hpp"
#include "swim/mem/integrations/block_allocator.hpp"
#include "swim/mem/integrations/detail/upstream.hpp"
#include "swim/mem/physical.hpp"

namespace swim::mem {

/// A HIP memory resource drawing from the swim-mem heap or hold `A`: the member
/// shape of CudaResource (see the file comment), with its failure policy
/// (allocation throws OutOfMemory or MemoryError after bounded retries of a
/// retryable error; frees never throw, a refused one goes to the leak handler),
/// its equality (the same allocator object) and its lifetime rule (refers to the
/// allocator, never owns it; a HoldRef is kept by value).
template <block_allocator A>
class HipResource {
 public:
  static constexpr bool host_accessible = allocator_host_accessible<A>;
  static constexpr bool device_accessible = allocator_device_accessible<A>;
  /// The alignment when none is given: what hipMalloc guarantees (256) for
  /// device-accessible memory, else what operator new does.
  static constexpr std::size_t default_alignment =
      device_accessible ? std::size_t(256) : alignof(std::max_align_t);

  /// Over `upstream`, which must outlive this resource and its copies.
  explicit HipResource(A& upstream) noexcept
    requires(!detail::is_allocator_handle_v<A>)
      : upstream_(upstream) {}
  /// Over the hold that `handle` names (kept by value).
  explicit HipResource(A handle) noexcept
    requires(detail::is_allocator_handle_v<A>)
      : upstream_(handle) {}

  /// The allocator this resource draws from.
  A& upstream() const noexcept { return upstream_.get(); }

  // ---- Synchronous ------------------------------------------------------------------
  /// `bytes` aligned to `align`, now.
  void* allocate(std::size_t bytes, std::size_t align = default_alignment) {
    return upstream_.allocate(bytes, align);
  }
  /// Give `p` back now: the caller guarantees nothing uses it any more.
  void deallocate(void* p, std::size_t bytes, std::size_t /*align*/ = default_alignment) noexcept {
    upstream_.deallocate(p, bytes, this);
  }
  void* allocate_sync(std::size_t bytes, std::size_t align = default_alignment) {
    return allocate(bytes, align);
  }
  void deallocate_sync(void* p, std::size_t bytes, std::size_t align = default_alignment) noexcept {
    deallocate(p, bytes, align);
  }

  // ---- Stream-ordered ----------------------------------------------------------------
  /// `bytes` aligned to `align`, allocated now, so usable in `stream`'s order.
  void* allocate_async(std::size_t bytes, std::size_t align, hipStream_t /*stream*/) {
    return allocate(bytes, align);
  }
  /// Give `p` back once the work queued on `stream` so far has finished: waits
  /// for the stream, then frees. If the wait fails while a device is present,
  /// the block may still be in use: it is reported to the leak handler and never
  /// given back. (Without a device or driver nothing can have been queued, and the
  /// block is freed.)
  void deallocate_async(void* p, std::size_t bytes, std::size_t align, hipStream_t stream) noexcept {
    if (hipStreamSynchronize(stream) == hipSuccess || !any_device()) {
      deallocate(p, bytes, align);
    } else {
      report_leak(LeakReport{"HipResource: stream wait failed, block kept", this,
                             Stats{1, bytes, 0, 0}});
    }
  }
  void* allocate(hipStream_t stream, std::size_t bytes, std::size_t align) {
    return allocate_async(bytes, align, stream);
  }
  void deallocate(hipStream_t stream, void* p, std::size_t bytes, std::size_t align) noexcept {
    deallocate_async(p, bytes, align, stream);
  }

  friend bool operator==(const HipResource& a, const HipResource& b) noexcept {
    return a.upstream_.same(b.upstream_);
  }

 private:
  // Without a device (or driver) no work can have been queued on any stream.
  static bool any_device() noexcept {
    int n = 0;  // left unwritten by a failing call
    const bool any = hipGetDeviceCount(&n) == hipSuccess && n > 0;
    // "No device" is no error of the caller's work: leave no last error behind.
    if (!any) (void)hipGetLastError();
    return any;
  }

  detail::Upstream<A> upstream_;
};

// Deduction: HipResource(heap) refers to the heap, HipResource(HoldRef) keeps the handle.
// (Spelled out: clang before 16 ignores the constructors' constraints when it
// deduces from them, and finds the two constructors ambiguous.)
template <block_allocator A>
HipResource(A&) -> HipResource<A>;
HipResource(HoldRef) -> HipResource<HoldRef>;

}  // namespace swim::mem
