// Layer 3 (sources): StaticRegion, a lock-free bump source over a caller-provided Block.
//
// The bare-metal source: it never calls a system allocator, so it works inside
// kernels, before main, in a replaced global operator new, or over a __device__
// array, a cudaMalloc'd buffer, an MPI window or a linker-script section.
#pragma once

#include <cstddef>
#include <cstdint>

#include "swim/mem/config.hpp"
#include "swim/mem/physical.hpp"
#include "swim/mem/sources/concept.hpp"

namespace swim::mem {

/// Who may touch the bytes of a region.
///
/// This is a template parameter of StaticRegion rather than a constructor
/// argument: the memory_source concept, and every layer that constrains on it
/// (a lease that must be dereferenced in a kernel, a resident shipped to the
/// device), needs accessibility as a compile-time constant, and a pointer alone
/// cannot tell host memory from device memory. The caller knows what the region
/// is, so the caller states it in the type.
enum class RegionAccess : unsigned {
  host = 1,             ///< ordinary host memory (a static array, a mapping)
  device = 2,           ///< device-only memory (cudaMalloc, a __device__ array)
  host_and_device = 3,  ///< managed memory, or host memory mapped for the device
};

/// A bump source over one fixed region.
///
/// - try_acquire: lock-free bump of an offset with a bounded number of
///   compare-exchange attempts (Error::contended when they are used up; the
///   caller may retry). Alignment is honoured on the absolute address. A failed
///   call changes nothing.
/// - release: of the most recently acquired region rolls the bump back (its
///   leading alignment padding stays used); any other region of this source is
///   accepted but its bytes come back only on reset().
/// - reset: forget every region. Not thread-safe: the caller guarantees that no
///   other thread uses the source and that no acquired region is used again.
///
/// The bump offset lives in this object, not in the region, so the object may be
/// constructed on the host over device memory; but it is not copyable (two copies
/// would hand out the same bytes). Put it where every user can reach it: for
/// kernels, in device-accessible memory, constructed there with placement new
/// (see device/suite/static_region.inl). Thread-safety: that of Mode. Valid on
/// host and device.
template <RegionAccess Access = RegionAccess::host, concurrency_mode Mode = concurrent>
class StaticRegion {
 public:
  static constexpr bool host_accessible = (static_cast<unsigned>(Access) & 1u) != 0;
  static constexpr bool device_accessible = (static_cast<unsigned>(Access) & 2u) != 0;
  /// Only the most recent region comes back before reset() (see release).
  static constexpr bool reuses_released = false;

  /// Compare-exchange attempts per try_acquire before Error::contended.
  static constexpr unsigned default_retries = 256;

  /// A source over `region`. A null region has capacity 0 (every non-empty
  /// request fails with Error::oversized). `max_retries` of 0 is taken as 1.
  SWIM_MEM_API explicit StaticRegion(Block region, unsigned max_retries = default_retries)
      : base_(region.address()),
        capacity_(region.ptr == nullptr ? 0 : clamp_size(region.address(), region.size)),
        retries_(max_retries == 0 ? 1u : max_retries),
        top_{0} {}

  StaticRegion(const StaticRegion&) = delete;
  StaticRegion& operator=(const StaticRegion&) = delete;

  /// At least `bytes` (exactly `bytes`) aligned to `align`.
  /// Errors: misaligned (align not a power of two), oversized (bytes > capacity()),
  /// out_of_memory (not enough left), contended (retries used up).
  SWIM_MEM_API Result<Block> try_acquire(std::size_t bytes, std::size_t align) {
    if (!detail::is_pow2(align)) return Error::misaligned;
    if (bytes > capacity_) return Error::oversized;
    std::size_t top = top_.load(order::relaxed);
    for (unsigned attempt = 0; attempt < retries_; ++attempt) {
      const std::uintptr_t at = base_ + top;
      const std::size_t pad = static_cast<std::size_t>((std::uintptr_t(0) - at) & (align - 1));
      const std::size_t left = capacity_ - top;
      if (pad > left || bytes > left - pad) return Error::out_of_memory;
      // acquire: pairs with the release of a rollback, so bytes that another
      // thread wrote before giving them back are not raced with by our writes.
      if (top_.compare_exchange(top, top + pad + bytes, order::acquire)) {
        return Block{reinterpret_cast<void*>(at + pad), bytes};
      }
    }
    return Error::contended;
  }

  /// Give back a region from try_acquire. Errors: foreign_pointer (not inside this
  /// source's region), invalid_argument (a region of bytes that ends beyond the
  /// bump: never handed out, or already rolled back). A zero-size region holds no
  /// bytes and is accepted anywhere inside the source's region: the rollback of the
  /// region just before it may have left it beyond the bump. On error nothing changes.
  SWIM_MEM_API Error release(Block region) {
    if (region.ptr == nullptr && region.size == 0) return Error::none;
    const std::uintptr_t a = region.address();
    if (a < base_ || a - base_ > capacity_ || region.size > capacity_ - (a - base_)) {
      return Error::foreign_pointer;
    }
    // A zero-size region never moved the bump (beyond its padding), so it is not
    // rolled back, and a region acquired before it may since have been: its place
    // can lie beyond the bump, and it must still be accepted.
    if (region.size == 0) return Error::none;
    const std::size_t start = static_cast<std::size_t>(a - base_);
    std::size_t end = start + region.size;
    if (end > top_.load(order::relaxed)) return Error::invalid_argument;
    // One attempt: if someone bumped past us meanwhile, the region is no longer
    // the most recent one and waits for reset(). release: see try_acquire.
    (void)top_.compare_exchange(end, start, order::release);
    return Error::none;
  }

  /// Forget every region (see the class comment: not thread-safe).
  SWIM_MEM_API void reset() { top_.store(0, order::release); }

  SWIM_MEM_API std::size_t capacity() const { return capacity_; }
  /// Bytes consumed so far, alignment padding included.
  SWIM_MEM_API std::size_t used() const { return top_.load(order::relaxed); }
  SWIM_MEM_API std::size_t remaining() const { return capacity_ - used(); }
  /// The whole region this source carves.
  SWIM_MEM_API Block region() const { return Block{reinterpret_cast<void*>(base_), capacity_}; }

  /// The occupancy walk (physical/region.hpp; quiescent only). One range, the
  /// region: what the bump has passed (live: every region handed out and not
  /// rolled back, with its alignment padding and the released ones that wait for
  /// reset()), then the rest (free).
  SWIM_MEM_EXEC_CHECK_DISABLE
  template <class F>
  SWIM_MEM_API void walk(F&& f) const {
    const std::size_t top = top_.load(order::relaxed);
    const auto* base = reinterpret_cast<const void*>(base_);
    if (top != 0) f(Region{base, 0, top, RegionKind::live});
    if (top < capacity_) f(Region{base, top, capacity_ - top, RegionKind::free});
  }

 private:
  // A region that would wrap the address space is cut where it wraps, so that
  // base_ + offset never overflows.
  SWIM_MEM_API static constexpr std::size_t clamp_size(std::uintptr_t base, std::size_t size) {
    const std::uintptr_t room = ~std::uintptr_t(0) - base;
    return size > room ? static_cast<std::size_t>(room) : size;
  }

  std::uintptr_t base_;
  std::size_t capacity_;
  unsigned retries_;
  cell<std::size_t, Mode> top_;  // offset of the first free byte
};

static_assert(memory_source<StaticRegion<>>);
static_assert(memory_source<StaticRegion<RegionAccess::device, single_owner>>);

}  // namespace swim::mem
