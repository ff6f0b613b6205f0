// Layer 8 (integrations): Kokkos memory spaces backed by swim-mem, and an
// allocator handle for kernels (KOKKOS_LAMBDA). Kokkos 3.4, 4.x and 5.x, one header;
// the code paths differ only where Kokkos' own interface does (KOKKOS_VERSION).
//
//   using Space = swim::mem::kokkos::HostSpace;
//   Kokkos::View<double*, Space> a("a", n);            // from the process hold
//
//   SourceHeap<OsPages> pages;
//   Pool<SourceHeap<OsPages>> pool(pages, 64 << 10);
//   swim::mem::SpaceBinding binding(pool, "solver");   // an instance over `pool`
//   Kokkos::View<double*, Space> b(Kokkos::view_alloc(Space(binding), "b"), n);
//   binding.stats().live;                               // 1 (b)
//
//   auto h = swim::mem::kokkos::Handle::of(size_classes);   // trivially copyable
//   Kokkos::parallel_for(Kokkos::RangePolicy<Kokkos::DefaultHostExecutionSpace>(0, n),
//                        KOKKOS_LAMBDA(int) {              // a host hold: host threads
//     void* p = h.allocate(64);                      // nullptr when exhausted
//     if (p) h.deallocate(p, 64);
//   });
//
// HostSpace: host memory, accessible from every execution space whose memory
// space is Kokkos::HostSpace (Serial, OpenMP, Threads, the host side of a GPU
// build). A default-constructed HostSpace (what View("label", n) makes) draws
// from default_space_binding(), the process-wide try_malloc; a HostSpace made
// from a SpaceBinding draws from that binding's heap or hold, with its counters,
// its leak report and its error when it is gone (integrations/space_binding.hpp).
// View allocations are aligned to 64 bytes, as Kokkos::HostSpace's. Errors
// surface as exceptions from the View's constructor: OutOfMemory (a
// std::bad_alloc) when the allocator is exhausted, MemoryError otherwise
// (Error::cleared: the binding is gone); nothing aborts.
//
// deep_copy to and from Kokkos::HostSpace (and between two HostSpace Views),
// create_mirror_view (the View itself: the memory is host memory), resize,
// realloc, subviews and kokkos_malloc / kokkos_free<HostSpace> work as with
// Kokkos::HostSpace.
//
// Handle: one HoldRef (trivially copyable), so a lambda captures it by value. Its
// allocate / deallocate have Kokkos::MemoryPool's shapes (nullptr on failure; a
// free never fails loudly); try_allocate / try_deallocate return swim-mem's
// Result and Error. The hold must be reachable by the threads that run the
// lambda (host memory for host execution spaces) and concurrent when they run in
// parallel; hold() gives the HoldRef for leases and residents (Box::try_new(h.hold(), ...)).
//
// The Kokkos specialisations below sit in Kokkos::Impl, which Kokkos changes
// between versions (3.4 needs a hand-written SharedAllocationRecord; 4.x a macro
// and the labelled allocate overloads). tests/kokkos/check_prefix.sh builds the
// tests against any installed Kokkos.
#pragma once

#include <Kokkos_Core.hpp>

#if KOKKOS_VERSION >= 40000 && !defined(KOKKOS_IMPL_PUBLIC_INCLUDE)
#define KOKKOS_IMPL_PUBLIC_INCLUDE  // 4.x: the impl/ header below refuses to be included without it
#define SWIM_MEM_KOKKOS_UNDEF_PUBLIC_INCLUDE
#endif
#include <impl/Kokkos_SharedAlloc_timpl.hpp>  // SharedAllocationRecordCommon<>'s member definitions
#ifdef SWIM_MEM_KOKKOS_UNDEF_PUBLIC_INCLUDE
#undef KOKKOS_IMPL_PUBLIC_INCLUDE
#undef SWIM_MEM_KOKKOS_UNDEF_PUBLIC_INCLUDE
#endif

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <type_traits>

#include "swim/mem/holds.hpp"
#include "swim/mem/holds/process_hold.hpp"
#include "swim/mem/integrations/space_binding.hpp"

namespace swim::mem::kokkos {

namespace detail {

/// What every swim-mem Kokkos space does: Kokkos' allocate / deallocate calls,
/// plain and labelled (4.x's allocation record calls the labelled ones, with the
/// execution space or without; 3.4's record here calls them too), through the
/// space's binding at `Alignment`, and the binding's counters. As Kokkos' own
/// spaces do:
/// - a free first fences (Kokkos::fence), so that memory a kernel still uses is
///   not handed out again before the kernel is done;
/// - with a Kokkos Tools library loaded (or callbacks set), every labelled
///   allocation and free is reported (allocateData / deallocateData, with the
///   space's name, the label, the pointer and the logical size when Kokkos gives
///   one), so Kokkos' memory tools see Views in swim-mem spaces.
/// `Space` is the derived space (its name() names the space to the tools).
template <class Space, std::size_t Alignment>
class BoundSpace {
 public:
  /// Alignment of every allocation.
  static constexpr std::size_t alignment = Alignment;

  void* allocate(std::size_t bytes) const { return ref_.allocate(bytes, alignment); }
  void deallocate(void* p, std::size_t bytes) const noexcept {
    fence_before_free(p);
    ref_.deallocate(p, bytes);
  }
  void* allocate(const char* label, std::size_t bytes, std::size_t logical = 0) const {
    void* p = allocate(bytes);
    if (Kokkos::Profiling::profileLibraryLoaded()) {
      Kokkos::Profiling::allocateData(Kokkos::Profiling::make_space_handle(Space::name()), label,
                                      p, logical != 0 ? logical : bytes);
    }
    return p;
  }
  template <class Exec>
  void* allocate(const Exec& /*exec*/, const char* label, std::size_t bytes,
                 std::size_t logical = 0) const {
    return allocate(label, bytes, logical);
  }
  void deallocate(const char* label, void* p, std::size_t bytes,
                  std::size_t logical = 0) const noexcept {
    if (p != nullptr && Kokkos::Profiling::profileLibraryLoaded()) {
      Kokkos::Profiling::deallocateData(Kokkos::Profiling::make_space_handle(Space::name()), label,
                                        p, logical != 0 ? logical : bytes);
    }
    deallocate(p, bytes);
  }

  /// The binding's counters (allocations here count the View's header too).
  SpaceStats stats() const noexcept { return ref_.stats(); }
  /// The binding this space draws from.
  const SpaceRef& binding() const noexcept { return ref_; }

 protected:
  explicit BoundSpace(SpaceRef ref) : ref_(static_cast<SpaceRef&&>(ref)) {}

 private:
  static void fence_before_free(void* p) noexcept {
    if (p != nullptr && Kokkos::is_initialized()) Kokkos::fence();
  }

  SpaceRef ref_;
};

}  // namespace detail

/// A Kokkos memory space of host memory from a swim-mem binding (see the file
/// comment); 64-byte alignment, as Kokkos::HostSpace's.
class HostSpace : public detail::BoundSpace<HostSpace, 64> {
 public:
  using memory_space = HostSpace;
  using execution_space = Kokkos::DefaultHostExecutionSpace;
  using device_type = Kokkos::Device<execution_space, memory_space>;
  using size_type = std::size_t;

  /// Over this thread's default binding (the process-wide one: try_malloc).
  HostSpace() : BoundSpace(SpaceRef()) {}
  /// Over `binding`; the binding should outlive every View made through this space.
  explicit HostSpace(const SpaceBinding& binding) : BoundSpace(binding.ref()) {}
  /// Over the binding `ref` refers to.
  explicit HostSpace(SpaceRef ref) : BoundSpace(static_cast<SpaceRef&&>(ref)) {}

  static constexpr const char* name() { return "SwimMemHostSpace"; }
};

/// An allocator handle for kernels: Kokkos::MemoryPool's allocate / deallocate
/// over a swim-mem hold (see the file comment). Trivially copyable.
class Handle {
 public:
  /// Retries of Error::contended in try_allocate / try_deallocate, by default.
  static constexpr unsigned default_retries = 64;
  /// Alignment of allocate()'s blocks.
  static constexpr std::size_t alignment = 16;

  Handle() = default;
  SWIM_MEM_API explicit Handle(HoldRef hold) : hold_(hold) {}
  /// A handle over `hold` (a Pack, Pool or SizeClasses).
  template <class Hold>
  SWIM_MEM_API static Handle of(Hold& hold) {
    return Handle(HoldRef::of(hold));
  }
  /// A handle over the process hold through try_malloc / try_free: each host
  /// thread's own cache first (holds/process_hold.hpp). Host execution spaces
  /// only: in device code its calls answer Error::unsupported (nullptr).
  static Handle process() noexcept {
    Handle h(process_hold());
    h.process_ = true;
    return h;
  }

  /// `bytes` (0 takes 1) aligned to `align`; Error::invalid_argument for a null
  /// handle, the hold's error otherwise (Error::contended retried `retries` times,
  /// with backoff()).
  SWIM_MEM_API Result<Block> try_allocate(std::size_t bytes, std::size_t align = alignment,
                                          unsigned retries = default_retries) const {
    if (!hold_) return Error::invalid_argument;
    if (process_) {
      SWIM_MEM_IF_TARGET((return try_malloc(bytes, align);), (return Error::unsupported;))
    }
    const Result<Layout> layout = Layout::from_size_align(bytes == 0 ? 1 : bytes, align);
    if (!layout.ok()) return layout.error();
    Result<Block> r = hold_.try_allocate(*layout);
    for (unsigned i = 0; !r.ok() && r.error() == Error::contended && i < retries; ++i) {
      backoff(i);
      r = hold_.try_allocate(*layout);
    }
    return r;
  }

  /// Free what try_allocate(bytes, ...) or allocate(bytes) gave. Validated by the
  /// hold (HoldRef::try_deallocate): a foreign pointer or a double free is an
  /// Error, not a crash.
  SWIM_MEM_API Error try_deallocate(void* p, std::size_t bytes,
                                    unsigned retries = default_retries) const {
    if (!hold_) return Error::invalid_argument;
    if (p == nullptr) return Error::none;
    if (process_) {
      SWIM_MEM_IF_TARGET((return try_free_checked(p);), (return Error::unsupported;))
    }
    const Block block{p, bytes == 0 ? 1 : bytes};
    Error e = hold_.try_deallocate(block);
    for (unsigned i = 0; e == Error::contended && i < retries; ++i) {
      backoff(i);
      e = hold_.try_deallocate(block);
    }
    return e;
  }

  /// Kokkos::MemoryPool's form: a block of `bytes`, or nullptr; `attempt_limit`
  /// calls of try_allocate at most (at least one).
  SWIM_MEM_API void* allocate(std::size_t bytes, std::int32_t attempt_limit = 1) const noexcept {
    for (std::int32_t k = 0; k < attempt_limit || k == 0; ++k) {
      const Result<Block> r = try_allocate(bytes);
      if (r.ok()) return r->ptr;
      if (r.error() != Error::contended) break;
    }
    return nullptr;
  }
  /// Kokkos::MemoryPool's form: never reports; use try_deallocate to see errors.
  SWIM_MEM_API void deallocate(void* p, std::size_t bytes) const noexcept {
    (void)try_deallocate(p, bytes);
  }

  /// The hold, for leases and residents.
  SWIM_MEM_API HoldRef hold() const { return hold_; }
  SWIM_MEM_API explicit operator bool() const { return static_cast<bool>(hold_); }

 private:
  HoldRef hold_{};
  bool process_ = false;  // process(): try_malloc / try_free on the host
};

static_assert(std::is_trivially_copyable_v<Handle>);

}  // namespace swim::mem::kokkos

// ---- Kokkos' view of the space ------------------------------------------------------

namespace Kokkos::Impl {

// Every host execution space (its memory space is Kokkos::HostSpace) reaches the
// memory; the two spaces' Views are not assignable to each other.
template <>
struct MemorySpaceAccess<Kokkos::HostSpace, swim::mem::kokkos::HostSpace> {
  enum : bool { assignable = false };
  enum : bool { accessible = true };
  enum : bool { deepcopy = true };
};

template <>
struct MemorySpaceAccess<swim::mem::kokkos::HostSpace, Kokkos::HostSpace> {
  enum : bool { assignable = false };
  enum : bool { accessible = true };
  enum : bool { deepcopy = true };
};

}  // namespace Kokkos::Impl

#if KOKKOS_VERSION >= 40000
KOKKOS_IMPL_SHARED_ALLOCATION_SPECIALIZATION(swim::mem::kokkos::HostSpace);
#else
namespace Kokkos::Impl {
// 3.4: the allocation record of a View in the space (4.x's macro writes the same).
template <>
class SharedAllocationRecord<swim::mem::kokkos::HostSpace, void>
    : public SharedAllocationRecordCommon<swim::mem::kokkos::HostSpace> {
  friend class SharedAllocationRecordCommon<swim::mem::kokkos::HostSpace>;
  using base_t = SharedAllocationRecordCommon<swim::mem::kokkos::HostSpace>;
  using RecordBase = SharedAllocationRecord<void, void>;
  const swim::mem::kokkos::HostSpace m_space;

 protected:
  ~SharedAllocationRecord() override {
    m_space.deallocate(RecordBase::m_alloc_ptr->label(), RecordBase::m_alloc_ptr,
                       RecordBase::m_alloc_size, RecordBase::m_alloc_size - sizeof(SharedAllocationHeader));
  }

 public:
  SharedAllocationRecord(const swim::mem::kokkos::HostSpace& space, const std::string& label,
                         std::size_t bytes,
                         RecordBase::function_type dealloc = &base_t::deallocate)
      : base_t(static_cast<SharedAllocationHeader*>(
                   space.allocate(label.c_str(), with_header(bytes), bytes)),
               with_header(bytes), dealloc),
        m_space(space) {
    this->base_t::_fill_host_accessible_header_info(*RecordBase::m_alloc_ptr, label);
  }

 private:
  /// The allocation's size with Kokkos' header; a View too large to add it to
  /// (an extent times the element size that wrapped, say) is exhaustion.
  static std::size_t with_header(std::size_t bytes) {
    if (bytes > ~std::size_t(0) - sizeof(SharedAllocationHeader)) throw swim::mem::OutOfMemory();
    return sizeof(SharedAllocationHeader) + bytes;
  }
};
}  // namespace Kokkos::Impl
#endif

namespace Kokkos::Impl {

// deep_copy: the memory is host memory on both sides.
template <class Exec>
struct DeepCopy<swim::mem::kokkos::HostSpace, swim::mem::kokkos::HostSpace, Exec> {
  DeepCopy(void* dst, const void* src, std::size_t n) {
    if (n != 0) std::memcpy(dst, src, n);
  }
  DeepCopy(const Exec& exec, void* dst, const void* src, std::size_t n) {
    exec.fence();
    if (n != 0) std::memcpy(dst, src, n);
  }
};
template <class Exec>
struct DeepCopy<Kokkos::HostSpace, swim::mem::kokkos::HostSpace, Exec>
    : DeepCopy<swim::mem::kokkos::HostSpace, swim::mem::kokkos::HostSpace, Exec> {
  using DeepCopy<swim::mem::kokkos::HostSpace, swim::mem::kokkos::HostSpace, Exec>::DeepCopy;
};
template <class Exec>
struct DeepCopy<swim::mem::kokkos::HostSpace, Kokkos::HostSpace, Exec>
    : DeepCopy<swim::mem::kokkos::HostSpace, swim::mem::kokkos::HostSpace, Exec> {
  using DeepCopy<swim::mem::kokkos::HostSpace, swim::mem::kokkos::HostSpace, Exec>::DeepCopy;
};

}  // namespace Kokkos::Impl

// ---- The CUDA device space (Kokkos 4 and newer, built with CUDA) -----------------------
//
// swim::mem::kokkos::CudaSpace: device memory allocated from host code through an
// ExtentArena<CudaDeviceMemory> (exact extents, metadata in host memory), by
// default a process-wide arena that grows in 64 MiB ranges; a CudaSpace made from
// a SpaceBinding over an ExtentArena of the program's own (its device, options,
// limit) draws from that one. Kokkos::Cuda kernels reach it; the host does not
// (deep_copy and create_mirror_view go through cudaMemcpy, as with
// Kokkos::CudaSpace, to which it deep-copies in both directions too).
// Allocations are aligned to 256 bytes, as cudaMalloc's. Kokkos 3.x with CUDA is
// not supported (its record for host-inaccessible memory is hand-written per
// space); neither is Kokkos' HIP backend yet.
#if defined(KOKKOS_ENABLE_CUDA) && KOKKOS_VERSION >= 40000
#include <stdexcept>

#include "swim/mem/heaps/extent_arena.hpp"
#include "swim/mem/sources/cuda_memory.hpp"

namespace swim::mem::kokkos {

namespace detail {
/// The process-wide default CudaSpace's binding: an arena over the current device,
/// never destroyed (src/space_binding.cpp keeps it).
inline ::swim::mem::detail::SpaceControl* make_cuda_default_binding() {
  using Arena = ExtentArena<CudaDeviceMemory>;
  auto* c = new ::swim::mem::detail::SpaceControl;
  c->allocator = new Arena();
  c->do_allocate = [](void* a, Layout l) { return static_cast<Arena*>(a)->try_allocate(l); };
  c->do_deallocate = [](void* a, Block b) { return static_cast<Arena*>(a)->try_deallocate(b); };
  c->name = "swim-mem CUDA device arena";
  c->immortal = true;
  return c;
}

/// cudaMemcpy for deep_copy, after `fence` (the copy is ordered after the work
/// that wrote the source); a runtime error throws (Kokkos' own spaces throw too).
template <class Fence>
void cuda_copy(void* dst, const void* src, std::size_t n, Fence&& fence) {
  fence();
  if (n == 0) return;
  const cudaError_t e = cudaMemcpy(dst, src, n, cudaMemcpyDefault);
  if (e != cudaSuccess) {
    throw std::runtime_error(std::string("swim::mem::kokkos::CudaSpace deep_copy: ") +
                             cudaGetErrorString(e));
  }
}
}  // namespace detail

/// A Kokkos memory space of CUDA device memory from a swim-mem binding; 256-byte
/// alignment, as cudaMalloc's.
class CudaSpace : public detail::BoundSpace<CudaSpace, 256> {
 public:
  using memory_space = CudaSpace;
  using execution_space = Kokkos::Cuda;
  using device_type = Kokkos::Device<execution_space, memory_space>;
  using size_type = std::size_t;

  /// Over the process-wide device arena.
  CudaSpace()
      : BoundSpace(default_space_binding(DefaultSpace::cuda_device,
                                         &detail::make_cuda_default_binding)) {}
  /// Over `binding` (an ExtentArena<CudaDeviceMemory> or another heap of device memory).
  explicit CudaSpace(const SpaceBinding& binding) : BoundSpace(binding.ref()) {}
  explicit CudaSpace(SpaceRef ref) : BoundSpace(static_cast<SpaceRef&&>(ref)) {}

  static constexpr const char* name() { return "SwimMemCudaSpace"; }
};

}  // namespace swim::mem::kokkos

namespace Kokkos::Impl {

// Kokkos::Cuda (memory space Kokkos::CudaSpace) reaches it; the host does not.
template <>
struct MemorySpaceAccess<Kokkos::CudaSpace, swim::mem::kokkos::CudaSpace> {
  enum : bool { assignable = false };
  enum : bool { accessible = true };
  enum : bool { deepcopy = true };
};
template <>
struct MemorySpaceAccess<swim::mem::kokkos::CudaSpace, Kokkos::CudaSpace> {
  enum : bool { assignable = false };
  enum : bool { accessible = true };
  enum : bool { deepcopy = true };
};
template <>
struct MemorySpaceAccess<Kokkos::HostSpace, swim::mem::kokkos::CudaSpace> {
  enum : bool { assignable = false };
  enum : bool { accessible = false };
  enum : bool { deepcopy = true };
};
template <>
struct MemorySpaceAccess<swim::mem::kokkos::CudaSpace, Kokkos::HostSpace> {
  enum : bool { assignable = false };
  enum : bool { accessible = false };
  enum : bool { deepcopy = true };
};

}  // namespace Kokkos::Impl

KOKKOS_IMPL_HOST_INACCESSIBLE_SHARED_ALLOCATION_SPECIALIZATION(swim::mem::kokkos::CudaSpace);

namespace Kokkos::Impl {

template <class Exec>
struct DeepCopy<swim::mem::kokkos::CudaSpace, swim::mem::kokkos::CudaSpace, Exec> {
  DeepCopy(void* dst, const void* src, std::size_t n) {
    swim::mem::kokkos::detail::cuda_copy(dst, src, n, [] { Kokkos::fence(); });
  }
  DeepCopy(const Exec& exec, void* dst, const void* src, std::size_t n) {
    swim::mem::kokkos::detail::cuda_copy(dst, src, n, [&] { exec.fence(); });
  }
};
#define SWIM_MEM_KOKKOS_CUDA_COPY(DST, SRC)                                                 \
  template <class Exec>                                                                      \
  struct DeepCopy<DST, SRC, Exec>                                                            \
      : DeepCopy<swim::mem::kokkos::CudaSpace, swim::mem::kokkos::CudaSpace, Exec> {         \
    using DeepCopy<swim::mem::kokkos::CudaSpace, swim::mem::kokkos::CudaSpace, Exec>::DeepCopy; \
  };
SWIM_MEM_KOKKOS_CUDA_COPY(Kokkos::HostSpace, swim::mem::kokkos::CudaSpace)
SWIM_MEM_KOKKOS_CUDA_COPY(swim::mem::kokkos::CudaSpace, Kokkos::HostSpace)
SWIM_MEM_KOKKOS_CUDA_COPY(Kokkos::CudaSpace, swim::mem::kokkos::CudaSpace)
SWIM_MEM_KOKKOS_CUDA_COPY(swim::mem::kokkos::CudaSpace, Kokkos::CudaSpace)
// swim-mem's HostSpace and CUDA device memory, ours or Kokkos' (cudaMemcpyDefault:
// the runtime tells pageable host memory from device memory by address).
SWIM_MEM_KOKKOS_CUDA_COPY(swim::mem::kokkos::HostSpace, swim::mem::kokkos::CudaSpace)
SWIM_MEM_KOKKOS_CUDA_COPY(swim::mem::kokkos::CudaSpace, swim::mem::kokkos::HostSpace)
SWIM_MEM_KOKKOS_CUDA_COPY(swim::mem::kokkos::HostSpace, Kokkos::CudaSpace)
SWIM_MEM_KOKKOS_CUDA_COPY(Kokkos::CudaSpace, swim::mem::kokkos::HostSpace)
#undef SWIM_MEM_KOKKOS_CUDA_COPY

}  // namespace Kokkos::Impl
#endif  // KOKKOS_ENABLE_CUDA && KOKKOS_VERSION >= 40000
