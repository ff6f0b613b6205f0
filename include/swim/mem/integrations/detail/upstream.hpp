// Layer 8 (integrations), host only: the one place where the adapters (pmr,
// STL, cuda::mr, HIP) turn swim-mem's Error values into the exceptions and
// reports their standard interfaces require.
//
// Policy, the same for every adapter:
//  - allocation retries a retryable error (is_retryable: Error::contended from a
//    busy ExtentHeap, say) at most `retries` times, yielding the thread between
//    tries, then throws; Error::out_of_memory and Error::oversized throw
//    OutOfMemory (a std::bad_alloc: the storage cannot be obtained), anything else
//    a MemoryError with its code (a bad alignment is Error::misaligned). Nothing
//    aborts, and a failed allocation leaves the allocator as it was (the heap
//    contract), so the throw is the only effect.
//  - a free cannot throw (containers free in destructors): a retryable error is
//    retried as above; a refused free (foreign pointer, double free, or still
//    contended) goes to the leak handler (physical/leak.hpp, the library's one
//    report channel), with `live` 1 and `bytes_in_use` the block's size, and the
//    allocator is unchanged.
#pragma once

#include <concepts>
#include <cstddef>
#include <thread>
#include <type_traits>

#include "swim/mem/holds/hold.hpp"
#include "swim/mem/integrations/block_allocator.hpp"
#include "swim/mem/physical.hpp"
#include "swim/mem/physical/exceptions.hpp"

namespace swim::mem::detail {

/// A HoldRef (one word naming a hold) is kept by value: a reference to a
/// temporary HoldRef would dangle. Everything else is kept by address, so the
/// adapter never copies, moves or owns the allocator.
template <class A>
inline constexpr bool is_allocator_handle_v = std::same_as<std::remove_cv_t<A>, HoldRef>;

/// The message the leak handler receives for a free the allocator refused.
inline const char* refused_free_kind(Error e) noexcept {
  switch (e) {
    case Error::foreign_pointer: return "adapter: free refused (foreign pointer)";
    case Error::double_free: return "adapter: free refused (double free)";
    case Error::contended: return "adapter: free refused (still contended)";
    default: return "adapter: free refused";
  }
}

/// A reference to the allocator an adapter draws from, with the policy above.
template <block_allocator A>
class Upstream {
 public:
  /// Tries of a retryable error before giving up (bounded: no unbounded loop).
  static constexpr unsigned retries = 64;

  explicit Upstream(A& a) noexcept
    requires(!is_allocator_handle_v<A>)
      : stored_(&a) {}
  explicit Upstream(A a) noexcept
    requires(is_allocator_handle_v<A>)
      : stored_(a) {}

  /// The allocator (for a handle: this adapter's copy of it).
  A& get() const noexcept {
    if constexpr (is_allocator_handle_v<A>) {
      return stored_;
    } else {
      return *stored_;
    }
  }

  /// Same allocator: same object, or equal handles.
  bool same(const Upstream& other) const noexcept {
    return stored_ == other.stored_;
  }

  /// `bytes` aligned to `align`, or throw (see the file comment).
  void* allocate(std::size_t bytes, std::size_t align) const {
    // Zero bytes take one: every allocation returns a distinct pointer, as the
    // standard interfaces promise (a heap's zero-size block is one fixed address).
    if (bytes == 0) bytes = 1;
    const Result<Layout> layout = Layout::from_size_align(bytes, align);
    if (!layout.ok()) throw_for(layout.error());
    Result<Block> r = get().try_allocate(*layout);
    for (unsigned i = 1; !r.ok() && is_retryable(r.error()) && i < retries; ++i) {
      std::this_thread::yield();
      r = get().try_allocate(*layout);
    }
    if (!r.ok()) throw_for(r.error());
    return r->ptr;
  }

  /// Give back what allocate(bytes, align) returned; `who` names the adapter in a
  /// report. Never throws; a refused free is reported and changes nothing.
  void deallocate(void* p, std::size_t bytes, const void* who) const noexcept {
    if (bytes == 0) bytes = 1;  // as allocate
    const Block block{p, bytes};
    Error e = get().try_deallocate(block);
    for (unsigned i = 1; e != Error::none && is_retryable(e) && i < retries; ++i) {
      std::this_thread::yield();
      e = get().try_deallocate(block);
    }
    if (e != Error::none) report_leak(LeakReport{refused_free_kind(e), who, Stats{1, bytes, 0, 0}});
  }

 private:
  [[noreturn]] static void throw_for(Error e) {
    if (e == Error::out_of_memory || e == Error::oversized) throw OutOfMemory();
    throw MemoryError(e);
  }

  // The handle itself, or the allocator's address; never null for an object.
  mutable std::conditional_t<is_allocator_handle_v<A>, A, A*> stored_;
};

}  // namespace swim::mem::detail
