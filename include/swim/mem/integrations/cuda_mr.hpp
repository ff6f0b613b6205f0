// Layer 8 (integrations), host only: a swim-mem allocator as a CCCL cuda::mr
// memory resource, for CUB, Thrust, RMM and anything else that takes one.
//
//   ExtentArena<CudaDeviceMemory> arena(...);       // device memory, host-side records
//   CudaResource res(arena);                         // device_accessible, from the arena
//   cuda::mr::resource_ref<cuda::mr::device_accessible> ref{res};   // CCCL >= 3.1
//
// Compile with nvcc, or with a host compiler given the CCCL include directory
// (<cuda>/include/cccl) and <cuda>/include; link the CUDA runtime (the CMake
// target SwimMem::cuda_mr carries both). CUDA 13.0 ships CCCL 3.0, where
// <cuda/memory_resource> is still experimental: this header then defines
// LIBCUDACXX_ENABLE_EXPERIMENTAL_MEMORY_RESOURCE, unless the user did, before
// including it; a translation unit that includes <cuda/memory_resource> before
// this header must define it itself.
//
// Both spellings of the interface are provided, since the overloads differ in
// arity or in their first parameter:
//   CCCL 3.0 (CUDA 13.0):  allocate(n, a) / deallocate(p, n, a)            synchronous
//                          allocate_async(n, a, s) / deallocate_async(p, n, a, s)
//   CCCL >= 3.1 (RMM):     allocate_sync(n, a) / deallocate_sync(p, n, a)  synchronous
//                          allocate(s, n, a) / deallocate(s, p, n, a)      stream-ordered
//
// Stream semantics. The allocator is host-synchronous: a block is taken from it
// or given back to it at the call. So
//  - a stream-ordered allocation is made at once: the memory is usable by
//    anything queued on the stream afterwards (and before, which stream order
//    does not promise but costs nothing);
//  - a stream-ordered free first waits for the stream (cudaStreamSynchronize):
//    work queued before the free may still use the block, and the allocator would
//    hand it to the next caller at once. Invariant: a block inside the allocator
//    has no pending stream work. The wait makes the free synchronous for the
//    caller; a free-list that defers the block until the stream passes an event
//    (and needs no wait) is future work.
#pragma once

#include <cuda/std/version>
#if CCCL_VERSION < 3002000 && !defined(LIBCUDACXX_ENABLE_EXPERIMENTAL_MEMORY_RESOURCE)
// CCCL before 3.2 declares nothing of cuda::mr without it.
#define LIBCUDACXX_ENABLE_EXPERIMENTAL_MEMORY_RESOURCE
#endif
#include <cuda/memory_resource>
#include <cuda/stream_ref>
#include <cuda_runtime_api.h>

#include <cstddef>

#include "swim/mem/holds/hold.hpp"
#include "swim/mem/integrations/accessibility.hpp"
#include "swim/mem/integrations/block_allocator.hpp"
#include "swim/mem/integrations/detail/upstream.hpp"
#include "swim/mem/physical.hpp"

namespace swim::mem {

/// A cuda::mr resource (synchronous and stream-ordered, both CCCL spellings, see
/// the file comment) drawing from the swim-mem heap or hold `A`.
///
/// - Properties: cuda::mr::host_accessible when allocator_host_accessible<A>,
///   cuda::mr::device_accessible when allocator_device_accessible<A>
///   (integrations/accessibility.hpp: read from A, else host memory only).
/// - Failure: allocation throws, as cuda::mr resources do: OutOfMemory (a
///   std::bad_alloc) on exhaustion, MemoryError otherwise (Error::misaligned for
///   an alignment that is not a power of two); retryable errors are retried a
///   bounded number of times first; the allocator is unchanged by a failure.
///   Frees never throw: one the allocator refuses goes to the leak handler, as
///   does a stream-ordered free whose stream cannot be waited for (see
///   deallocate_async).
/// - Equality: the same allocator object (for a HoldRef, the same hold).
/// - Refers to the allocator, never owns it (a HoldRef is kept by value); copies
///   refer to the same allocator. Thread-safety: the allocator's.
template <block_allocator A>
class CudaResource {
 public:
  static constexpr bool host_accessible = allocator_host_accessible<A>;
  static constexpr bool device_accessible = allocator_device_accessible<A>;
  /// The alignment when none is given: what cudaMalloc guarantees (256) for
  /// device-accessible memory, else what operator new does.
  static constexpr std::size_t default_alignment =
      device_accessible ? std::size_t(256) : alignof(std::max_align_t);

  /// Over `upstream`, which must outlive this resource and its copies.
  explicit CudaResource(A& upstream) noexcept
    requires(!detail::is_allocator_handle_v<A>)
      : upstream_(upstream) {}
  /// Over the hold that `handle` names (kept by value).
  explicit CudaResource(A handle) noexcept
    requires(detail::is_allocator_handle_v<A>)
      : upstream_(handle) {}

  /// The allocator this resource draws from.
  A& upstream() const noexcept { return upstream_.get(); }

  // ---- Synchronous ------------------------------------------------------------------
  /// `bytes` aligned to `align`, now (CCCL 3.0 spelling).
  void* allocate(std::size_t bytes, std::size_t align = default_alignment) {
    return upstream_.allocate(bytes, align);
  }
  /// Give `p` back now: the caller guarantees nothing uses it any more.
  void deallocate(void* p, std::size_t bytes, std::size_t /*align*/ = default_alignment) noexcept {
    upstream_.deallocate(p, bytes, this);
  }
  /// allocate(bytes, align) (CCCL >= 3.1 spelling).
  void* allocate_sync(std::size_t bytes, std::size_t align = default_alignment) {
    return allocate(bytes, align);
  }
  /// deallocate(p, bytes, align) (CCCL >= 3.1 spelling).
  void deallocate_sync(void* p, std::size_t bytes, std::size_t align = default_alignment) noexcept {
    deallocate(p, bytes, align);
  }

  // ---- Stream-ordered ----------------------------------------------------------------
  /// `bytes` aligned to `align`, allocated now, so usable in `stream`'s order
  /// (CCCL 3.0 spelling).
  void* allocate_async(std::size_t bytes, std::size_t align, cuda::stream_ref /*stream*/) {
    return allocate(bytes, align);
  }
  /// Give `p` back once the work queued on `stream` so far has finished: waits
  /// for the stream, then frees (CCCL 3.0 spelling). If the wait fails while a
  /// device is present, the block may still be in use: it is reported to the leak
  /// handler and never given back. (Without a device or driver nothing can have
  /// been queued, and the block is freed.)
  void deallocate_async(void* p, std::size_t bytes, std::size_t align,
                        cuda::stream_ref stream) noexcept {
    if (cudaStreamSynchronize(stream.get()) == cudaSuccess || !any_device()) {
      deallocate(p, bytes, align);
    } else {
      report_leak(LeakReport{"CudaResource: stream wait failed, block kept", this,
                             Stats{1, bytes, 0, 0}});
    }
  }
  /// allocate_async(bytes, align, stream) (CCCL >= 3.1 spelling: stream first).
  void* allocate(cuda::stream_ref stream, std::size_t bytes, std::size_t align) {
    return allocate_async(bytes, align, stream);
  }
  /// deallocate_async(p, bytes, align, stream) (CCCL >= 3.1 spelling).
  void deallocate(cuda::stream_ref stream, void* p, std::size_t bytes, std::size_t align) noexcept {
    deallocate_async(p, bytes, align, stream);
  }

  friend bool operator==(const CudaResource& a, const CudaResource& b) noexcept {
    return a.upstream_.same(b.upstream_);
  }
  friend bool operator!=(const CudaResource& a, const CudaResource& b) noexcept {
    return !(a == b);
  }

  // Properties, declared only where A's memory has them: cuda::mr refuses to
  // convert a resource to a ref that promises more.
  friend void get_property(const CudaResource&, cuda::mr::host_accessible) noexcept
    requires(host_accessible)
  {}
  friend void get_property(const CudaResource&, cuda::mr::device_accessible) noexcept
    requires(device_accessible)
  {}

 private:
  // Without a device (or driver) no work can have been queued on any stream.
  static bool any_device() noexcept {
    int n = 0;  // left unwritten by a failing call
    const bool any = cudaGetDeviceCount(&n) == cudaSuccess && n > 0;
    // "No device" is no error of the caller's work: leave no last error behind.
    if (!any) (void)cudaGetLastError();
    return any;
  }

  detail::Upstream<A> upstream_;
};

// Deduction: CudaResource(heap) refers to the heap, CudaResource(HoldRef) keeps the handle.
// (Spelled out: clang before 16 ignores the constructors' constraints when it
// deduces from them, and finds the two constructors ambiguous.)
template <block_allocator A>
CudaResource(A&) -> CudaResource<A>;
CudaResource(HoldRef) -> CudaResource<HoldRef>;

}  // namespace swim::mem
