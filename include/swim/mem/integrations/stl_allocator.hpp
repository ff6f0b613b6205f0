// Layer 8 (integrations), host only: swim-mem as a standard Allocator.
//
//   Pool<AddrSpace<>> pool(pages, 64 * 1024);
//   std::vector<int, StlAllocator<int, Pool<AddrSpace<>>>> v{StlAllocator<int, Pool<AddrSpace<>>>(pool)};
//
// Like MemoryResource (integrations/pmr.hpp) without the virtual call: the
// allocator's type is part of the container's. It refers to a heap or hold and
// never owns it (a HoldRef is kept by value).
#pragma once

#include <cstddef>
#include <limits>
#include <type_traits>

#include "swim/mem/integrations/block_allocator.hpp"
#include "swim/mem/integrations/detail/upstream.hpp"
#include "swim/mem/physical.hpp"
#include "swim/mem/physical/exceptions.hpp"

namespace swim::mem {

/// A standard Allocator of T drawing from the swim-mem heap or hold `A`.
///
/// - allocate(n): n objects' bytes, aligned to alignof(T); throws OutOfMemory when
///   n * sizeof(T) overflows or the allocator is exhausted, MemoryError for
///   another refusal (see integrations/detail/upstream.hpp: bounded retries of
///   Error::contended); never aborts, and a failure leaves the allocator unchanged.
/// - deallocate(p, n): gives the block back; a refused free goes to the leak
///   handler and changes nothing (never throws: containers free in destructors).
/// - Equality: the same allocator object (for a HoldRef, the same hold), whatever
///   T: memory from one may be freed through any equal one.
/// - Propagation: a container's memory stays with the allocator that made it, so
///   copy and move assignment and swap take the other container's allocator
///   along (propagate_on_container_* are true). Move assignment and swap then
///   never copy elements, and swapping containers over different allocators is
///   valid. Copy construction copies the allocator (the default).
template <class T, block_allocator A>
class StlAllocator {
 public:
  using value_type = T;
  using size_type = std::size_t;
  using difference_type = std::ptrdiff_t;
  using propagate_on_container_copy_assignment = std::true_type;
  using propagate_on_container_move_assignment = std::true_type;
  using propagate_on_container_swap = std::true_type;
  using is_always_equal = std::false_type;

  template <class U>
  struct rebind {
    using other = StlAllocator<U, A>;
  };

  /// Over `upstream`, which must outlive every container using this allocator.
  explicit StlAllocator(A& upstream) noexcept
    requires(!detail::is_allocator_handle_v<A>)
      : upstream_(upstream) {}
  /// Over the hold that `handle` names (kept by value).
  explicit StlAllocator(A handle) noexcept
    requires(detail::is_allocator_handle_v<A>)
      : upstream_(handle) {}
  /// Rebinding: the same allocator for another value type.
  template <class U>
  StlAllocator(const StlAllocator<U, A>& other) noexcept : upstream_(other.upstream_) {}

  /// Memory for n objects of T (uninitialised).
  T* allocate(std::size_t n) {
    if (n > max_size()) throw OutOfMemory();  // n * sizeof(T) would overflow
    return static_cast<T*>(upstream_.allocate(n * sizeof(T), alignof(T)));
  }

  /// Give back what allocate(n) returned.
  void deallocate(T* p, std::size_t n) noexcept { upstream_.deallocate(p, n * sizeof(T), this); }

  /// The largest n for which n * sizeof(T) does not overflow.
  static constexpr std::size_t max_size() noexcept {
    return std::numeric_limits<std::size_t>::max() / sizeof(T);
  }

  /// The allocator this one draws from.
  A& upstream() const noexcept { return upstream_.get(); }

  template <class U>
  friend bool operator==(const StlAllocator& a, const StlAllocator<U, A>& b) noexcept {
    return a.same_upstream(b);
  }

 private:
  template <class U>
  bool same_upstream(const StlAllocator<U, A>& other) const noexcept {
    return upstream_.same(other.upstream_);
  }

  template <class U, block_allocator B>
  friend class StlAllocator;

  detail::Upstream<A> upstream_;
};

}  // namespace swim::mem
