// Layer 8 (integrations), host only: swim-mem as a std::pmr::memory_resource.
//
//   ExtentHeap<> heap(Block{buffer, bytes});
//   MemoryResource res(heap);                       // MemoryResource<ExtentHeap<>>
//   std::pmr::vector<int> v(&res);                  // v's bytes come from the heap
//
// The resource refers to the allocator and never owns it: the allocator must
// outlive the resource and everything allocated through it. A HoldRef is the
// exception that is kept by value (MemoryResource<HoldRef>, made by
// MemoryResource(HoldRef::of(pool)) or memory_resource_of(pool)), so that a
// resource over a temporary handle does not dangle.
#pragma once

#include <cstddef>
#include <memory_resource>

#include "swim/mem/holds/hold.hpp"
#include "swim/mem/integrations/block_allocator.hpp"
#include "swim/mem/integrations/detail/upstream.hpp"
#include "swim/mem/physical.hpp"

namespace swim::mem {

/// A std::pmr::memory_resource drawing from a swim-mem heap or hold `A`.
///
/// - allocate: the Layout is checked (an alignment that is not a power of two
///   throws MemoryError(Error::misaligned)); a retryable error is retried a
///   bounded number of times; exhaustion throws OutOfMemory (a std::bad_alloc),
///   and the allocator is then unchanged. Never aborts.
/// - deallocate: gives back Block{p, bytes}. A free the allocator refuses
///   (foreign pointer, double free) is reported to the leak handler
///   (set_leak_handler) and changes nothing; it never throws or crashes, as far as
///   the allocator validates (ExtentHeap and HoldRef always; Pool, Slab and
///   SlabCache in checked builds only, see their headers).
/// - is_equal: another MemoryResource<A> over the same allocator (same object; for
///   a HoldRef, the same hold): memory from one may be freed through the other.
/// - Thread-safety: the allocator's (a concurrent heap or hold may be shared).
template <block_allocator A>
class MemoryResource : public std::pmr::memory_resource {
 public:
  /// Over `upstream`, which must outlive this resource.
  explicit MemoryResource(A& upstream) noexcept
    requires(!detail::is_allocator_handle_v<A>)
      : upstream_(upstream) {}
  /// Over the hold that `handle` names (kept by value).
  explicit MemoryResource(A handle) noexcept
    requires(detail::is_allocator_handle_v<A>)
      : upstream_(handle) {}

  /// The allocator this resource draws from.
  A& upstream() const noexcept { return upstream_.get(); }

  /// The allocator's statistics.
  Stats stats() const
    requires requires(const A& a) { { a.stats() } -> std::same_as<Stats>; }
  {
    return upstream_.get().stats();
  }

 private:
  void* do_allocate(std::size_t bytes, std::size_t alignment) override {
    return upstream_.allocate(bytes, alignment);
  }

  void do_deallocate(void* p, std::size_t bytes, std::size_t /*alignment*/) override {
    upstream_.deallocate(p, bytes, this);
  }

  bool do_is_equal(const std::pmr::memory_resource& other) const noexcept override {
    const auto* same_type = dynamic_cast<const MemoryResource*>(&other);
    return same_type != nullptr && upstream_.same(same_type->upstream_);
  }

  detail::Upstream<A> upstream_;
};

// Deduction: MemoryResource(heap) refers to the heap, MemoryResource(HoldRef) keeps the handle.
// (Spelled out: clang before 16 ignores the constructors' constraints when it
// deduces from them, and finds the two constructors ambiguous.)
template <block_allocator A>
MemoryResource(A&) -> MemoryResource<A>;
MemoryResource(HoldRef) -> MemoryResource<HoldRef>;

/// A resource over the hold `hold` (a Pack or Pool), kept as a HoldRef: the same
/// type whatever the hold's type, so one function can take any of them.
template <class Hold>
MemoryResource<HoldRef> memory_resource_of(Hold& hold) noexcept {
  return MemoryResource<HoldRef>(HoldRef::of(hold));
}

}  // namespace swim::mem
