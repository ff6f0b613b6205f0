// Layer 4 (heaps): SlabCache, a single-owner front over a shared Slab.
//
// The lock-free Slab pays one CAS per allocation and per free, plus its shared
// counters. A SlabCache keeps up to N of the Slab's units in a local array, so
// that allocation and free are a few plain loads and stores: no atomics, no
// shared cache lines. When the array runs empty it takes N/2 units from the Slab,
// when it runs full it gives N/2 back, each batch with one CAS on the Slab's
// head (Slab::pop_batch / push_batch). A unit freed into a cache may have been
// allocated by another cache over the same Slab (a cross-thread free): units
// belong to the Slab, not to a cache, so nothing has to be sent back to an owner.
//
// One cache per thread (host) or per warp leader (device); the caller owns it.
// There is no global state and no thread_local: where the cache lives is the
// caller's choice (a thread's stack, a thread_local in the application, shared
// memory in a kernel).
#pragma once

#include <cstddef>
#include <cstdint>

#include "swim/mem/heaps/concept.hpp"
#include "swim/mem/heaps/slab.hpp"
#include "swim/mem/physical.hpp"

namespace swim::mem {

/// A per-thread cache of up to N units of a Slab (usually a concurrent one).
///
/// - Thread-safety: the cache itself is single-owner: one caller at a time. Any
///   number of caches (and direct users) may share one concurrent Slab, and a
///   unit may be freed into any cache over the Slab it came from.
/// - Host/device: every member is valid on both; the cache, the Slab and its hunk
///   must be accessible where the cache is used.
/// - Heap concept: try_allocate / try_deallocate / stats, with the Slab's rules
///   (oversized, misaligned). Over a checked Slab, frees are validated as the
///   Slab validates them (foreign_pointer, double_free) and every allocation and
///   free also flips the unit's bit in the Slab's bitmap, one atomic operation
///   each. Over an unchecked Slab (the NDEBUG default) a free is a store into the
///   local array and nothing else: the block must be a live unit of the Slab
///   (from any cache over it, or the Slab itself); anything else is undefined
///   behaviour that surfaces later, in the Slab's free list.
/// - Failure: Error values, the cache and the Slab unchanged. A refill that finds
///   the Slab empty gives out_of_memory (units cached elsewhere are not reclaimed);
///   a refill or flush that loses max_retries races gives contended.
/// - Statistics: those of the Slab, with the units held in *this* cache counted as
///   free rather than live. Units held in other caches count as live until those
///   caches give them back; peak_bytes is the Slab's (cached units included).
/// - The destructor gives every cached unit back (flush). Destroy the caches
///   before their Slab. A cache points into itself: construct it where it is used
///   (a thread's stack, a kernel's local or shared memory), never copy its bytes.
template <class SlabType, std::size_t N = 64>
class SlabCache {
  static_assert(N >= 2 && N <= 65536, "a SlabCache holds between 2 and 65536 units");

 public:
  using slab_type = SlabType;
  static constexpr std::size_t capacity = N;
  /// Units moved per refill or flush.
  static constexpr std::size_t batch = N / 2;

  SWIM_MEM_API explicit SlabCache(SlabType& slab)
      : slab_(&slab),
        base_(reinterpret_cast<std::uintptr_t>(slab.base())),
        bytes_(slab.bytes_),
        unit_(slab.unit_),
        align_(slab.align_),
        unit_mask_(slab.unit_mask_) {}

  SlabCache(const SlabCache&) = delete;
  SlabCache& operator=(const SlabCache&) = delete;

  SWIM_MEM_API ~SlabCache() {
    // Host forms may wait: keep trying while other threads win the races.
    for (unsigned i = 0; i < 1024 && top_ != slots_; ++i) flush();
  }

  /// One unit, as Slab::try_allocate gives it (the whole unit).
  SWIM_MEM_API SWIM_MEM_FORCEINLINE Result<Block> try_allocate(Layout layout) {
    if (!detail::is_pow2(layout.align)) return Error::misaligned;
    if (layout.size - 1 >= unit_) {  // 0 wraps around: both rare cases in one test
      if (layout.size == 0) return Block{reinterpret_cast<void*>(layout.align), 0};
      return Error::oversized;
    }
    if (layout.align > align_) return bytes_ == 0 ? Error::out_of_memory : Error::misaligned;
    if (detail::fault_point()) return Error::out_of_memory;
    if (SWIM_MEM_UNLIKELY(top_ == slots_)) {
      const Error e = refill();
      if (e != Error::none) return e;
    }
    void* p = *--top_;
    if constexpr (checked) slab_->flip_bit(index_of_valid(p), true);
    detail::unpoison(p, unit_);
    detail::fill_fresh(p, unit_);
    return Block{p, unit_};
  }

  /// Return a unit of the Slab (allocated through any cache or the Slab itself).
  /// Checked Slab: foreign pointers and double frees are errors. Unchecked: the
  /// block is trusted (see the class comment).
  SWIM_MEM_API SWIM_MEM_FORCEINLINE Error try_deallocate(Block block) {
    if (block.size == 0) return Error::none;
    if constexpr (checked) {
      const std::uintptr_t off = block.address() - base_;  // below the base wraps around
      if (off >= bytes_ || block.size > unit_) return Error::foreign_pointer;
      if (SWIM_MEM_UNLIKELY((off & unit_mask_) != 0)) {
        // Not a unit start, or a unit that is not a power of two (mask all ones).
        if (unit_mask_ != SlabType::all_ones || off % unit_ != 0) return Error::foreign_pointer;
      }
      if (!slab_->flip_bit(index_of_valid(block.ptr), false)) return Error::double_free;
    }
    if (SWIM_MEM_UNLIKELY(top_ == slots_ + N)) {
      const Error e = spill();
      if (e != Error::none) {
        if constexpr (checked) slab_->flip_bit(index_of_valid(block.ptr), true);
        return e;
      }
    }
    // Cached units are free: filled and poisoned whole (the links live in slots_),
    // unless the Slab never poisons (relative addresses: poison belongs to this
    // process's address, and the unit may be another process's next). Such a Slab's
    // unit is opened first: this process may have poisoned it once, and it may have
    // been another's since (a direct Slab's live unit is open already).
    if constexpr (!SlabType::poison_units) detail::unpoison(block.ptr, unit_);
    detail::fill_freed(block.ptr, unit_);
    if constexpr (SlabType::poison_units) detail::poison(block.ptr, unit_);
    *top_++ = block.ptr;
    return Error::none;
  }

  /// Give every cached unit back to the Slab (one CAS). Error: contended.
  SWIM_MEM_API Error flush() {
    if (top_ == slots_) return Error::none;
    const Error e = slab_->push_batch(slots_, cached());
    if (e == Error::none) top_ = slots_;
    return e;
  }

  /// The Slab's, with the units this cache holds counted free: largest_free is one
  /// unit while this cache or the Slab's free list has one (an allocation takes it
  /// from here, or refills from there). O(1).
  SWIM_MEM_API Stats stats() const {
    Stats s = slab_->stats();
    const std::size_t held = cached() <= s.live ? cached() : s.live;
    s.live -= held;
    s.bytes_in_use -= held * unit_;
    s.bytes_free += held * unit_;
    s.largest_free = s.bytes_free != 0 ? unit_ : 0;
    return s;
  }

  /// The Slab's walk (quiescent only; checked Slabs): units held in any cache read
  /// free, as the Slab's bitmap has them.
  SWIM_MEM_EXEC_CHECK_DISABLE
  template <class F>
    requires SlabType::checked
  SWIM_MEM_API void walk(F&& f) const {
    slab_->walk(static_cast<F&&>(f));
  }

  /// Units held in this cache now.
  SWIM_MEM_API std::size_t cached() const { return static_cast<std::size_t>(top_ - slots_); }
  SWIM_MEM_API SlabType& slab() const { return *slab_; }
  SWIM_MEM_API std::size_t unit() const { return unit_; }
  SWIM_MEM_API std::size_t alignment() const { return align_; }
  SWIM_MEM_API Error init_error() const { return slab_->init_error(); }
  SWIM_MEM_API bool owns(const void* p) const {
    return reinterpret_cast<std::uintptr_t>(p) - base_ < bytes_;
  }

 private:
  static constexpr bool checked = SlabType::checked;

  SWIM_MEM_API std::uint32_t index_of_valid(const void* p) const {
    return slab_->unit_number(p) - 1u;
  }

  // Empty cache: take up to `batch` units in one CAS.
  SWIM_MEM_API Error refill() {
    const Result<std::size_t> r = slab_->pop_batch(slots_, batch);
    if (!r) return r.error();
    // pop_batch hands out the list's top first; reverse so the next allocation
    // takes it (the most recently freed unit: the warmest in cache).
    std::size_t k = *r;
    for (std::size_t i = 0; i < k / 2; ++i) {
      void* t = slots_[i];
      slots_[i] = slots_[k - 1 - i];
      slots_[k - 1 - i] = t;
    }
    top_ = slots_ + k;
    return Error::none;
  }

  // Full cache: give the older half back in one CAS, keep the warmer half.
  SWIM_MEM_API Error spill() {
    const Error e = slab_->push_batch(slots_, batch);
    if (e != Error::none) return e;
    for (std::size_t i = batch; i < N; ++i) slots_[i - batch] = slots_[i];
    top_ = slots_ + (N - batch);
    return Error::none;
  }

  SlabType* slab_;
  std::uintptr_t base_;
  std::size_t bytes_;
  std::size_t unit_;
  std::size_t align_;
  std::size_t unit_mask_;  // the Slab's: unit - 1, or all ones for other units
  void** top_ = slots_;  // one past the most recently cached unit
  void* slots_[N];
};

}  // namespace swim::mem
