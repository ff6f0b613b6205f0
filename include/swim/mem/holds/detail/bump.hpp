// Layer 5 (holds), internal: the bump region shared by Pack and Pool hunks.
//
// All of a region's state is one 64-bit word, changed only by CAS:
//   bits 63..26  mark: offset of the first free byte, in 8-byte granules (2 TiB max)
//   bit  25      head: the region is in service (a Pack always; a Pool's head hunk)
//   bit  24      retired: the region is out of service (a Pool's spare hunk)
//   bits 23..0   live: objects allocated and not yet freed (16.7 M max)
// Keeping live, mark and the flags in one word makes the fate of a region whose
// last object is freed atomic with the free itself: a head resets (mark 0), any
// other region retires. No allocation can slip in between, and no second thread
// can retire a region that was meanwhile put back in service.
// The region's start is stored through an address policy (physical/address.hpp):
// relative for a region that processes map at different addresses (a relative
// Pack), which is then never poisoned (poison belongs to one virtual address).
#pragma once

#include <cstddef>
#include <cstdint>

#include "swim/mem/holds/tag.hpp"
#include "swim/mem/physical.hpp"
#include "swim/mem/physical/address.hpp"

namespace swim::mem::detail {

template <concurrency_mode Mode, class Addr = direct_address>
struct Bump {
  static constexpr unsigned live_bits = 24;
  static constexpr std::uint64_t live_mask = (std::uint64_t(1) << live_bits) - 1;
  static constexpr std::uint64_t retired = std::uint64_t(1) << live_bits;
  static constexpr std::uint64_t head = std::uint64_t(1) << (live_bits + 1);
  static constexpr std::uint64_t flags = retired | head;
  static constexpr unsigned mark_shift = live_bits + 2;
  static constexpr std::size_t granule = 8;
  static constexpr std::size_t max_capacity = (std::size_t(1) << (64 - mark_shift)) * granule;
  static constexpr unsigned max_retries = 1u << 16;

  static constexpr bool poisoned = std::is_same_v<Addr, direct_address>;

  cell<std::uint64_t, Mode> state;
  typename Addr::template pointer<std::byte> start;  // granule-aligned
  std::size_t capacity;   // multiple of the granule

  /// The region's first byte, at this mapping's address.
  SWIM_MEM_API std::uintptr_t base() const { return reinterpret_cast<std::uintptr_t>(start.get()); }

  /// Use [begin, begin + size) trimmed to granules; state as given.
  SWIM_MEM_API void init(std::uintptr_t begin, std::size_t size, std::uint64_t initial) {
    const std::uintptr_t base = align_addr(begin, granule);
    start.set(reinterpret_cast<std::byte*>(base));
    const std::size_t lost = static_cast<std::size_t>(base - begin);
    std::size_t cap = size > lost ? (size - lost) & ~(granule - 1) : 0;
    capacity = cap > max_capacity ? max_capacity : cap;
    state.raw = initial;
    if constexpr (poisoned) poison(reinterpret_cast<void*>(base), capacity);  // nothing bumped yet
  }

  /// Reserve a tag word plus `size8` bytes (a granule multiple) aligned to `align`
  /// (>= granule), and write `tag` in front. out_of_memory when it does not fit, the
  /// region is retired, or the live count is saturated.
  SWIM_MEM_API SWIM_MEM_FORCEINLINE Result<Block> bump(std::size_t size8, std::size_t align,
                                                      std::uint64_t tag) {
    return bump_tagged(size8, align, [tag](std::uintptr_t) { return tag; });
  }
  /// The same, the tag of the object at `at` being tag_for(at) (a relative tag).
  template <class TagFor>
  SWIM_MEM_API SWIM_MEM_FORCEINLINE Result<Block> bump_tagged(std::size_t size8,
                                                             std::size_t align, TagFor tag_for) {
    const std::uintptr_t base = this->base();
    std::uint64_t s = state.load(order::relaxed);
    for (unsigned attempt = 0; attempt < max_retries; ++attempt) {
      // Retired (bit 24) or live saturated (bits 0..23 all ones), in one compare.
      if ((s & (retired | live_mask)) >= live_mask) return Error::out_of_memory;
      const std::uint64_t mark = s >> mark_shift;
      std::uintptr_t at;
      std::uint64_t desired;
      if (align <= granule) {
        // The common case, a constant at most call sites: the object follows its
        // tag at the mark, and the new state is the old one plus a constant (mark
        // forward, one more live object, the flags kept). Callers guarantee
        // size8 <= max_capacity and the mark never passes capacity, so
        // (mark + step) * granule stays far below 2^64.
        const std::uint64_t step = (tag_size + size8) / granule;
        if ((mark + step) * granule > capacity) return Error::out_of_memory;
        at = base + static_cast<std::uintptr_t>(mark * granule) + tag_size;
        desired = s + (step << mark_shift) + 1;
      } else {
        at = align_addr(base + static_cast<std::uintptr_t>(mark * granule) + tag_size, align);
        const std::size_t offset = static_cast<std::size_t>(at - base);
        if (offset > capacity || capacity - offset < size8) return Error::out_of_memory;
        desired = static_cast<std::uint64_t>((offset + size8) / granule) << mark_shift |
                  (s & head) | ((s & live_mask) + 1);
      }
      // Acquire pairs with the release of a LIFO free or reset: the previous
      // owner's writes to these bytes happen-before ours.
      if (state.compare_exchange(s, desired, order::acq_rel)) {
        // Past the mark everything is poisoned (config/poison.hpp): open the tag
        // word and the object, now ours.
        if constexpr (poisoned) {
          unpoison_meta(reinterpret_cast<void*>(at - tag_size), tag_size);
          unpoison(reinterpret_cast<void*>(at), size8);
        }
        fill_fresh(reinterpret_cast<void*>(at), size8);
        tag_of<Mode>(reinterpret_cast<void*>(at)).store(tag_for(at), order::relaxed);
        return Block{reinterpret_cast<void*>(at), size8};
      }
    }
    return Error::contended;
  }

  /// The state a region takes when its last object goes: a head resets, any other
  /// region retires.
  SWIM_MEM_API static constexpr std::uint64_t emptied(std::uint64_t s) {
    return (s & head) != 0 ? head : retired;
  }

  /// Account one object freed (its tag already cleared by the caller). The most
  /// recent object gives its bytes back; the last one resets a head region and
  /// retires any other. Returns the new state word.
  SWIM_MEM_API Result<std::uint64_t> release(std::uintptr_t at, std::size_t size8) {
    const std::uintptr_t base = this->base();
    const std::uint64_t tag_mark = (at - tag_size - base) / granule;
    const std::uint64_t end_mark = (at + size8 - base) / granule;
    // Poisoned while still ours: once the CAS below has moved the mark back, another
    // thread may bump these bytes and open them. The tag word stays readable, so
    // that a second free finds the freed tag. A failed release opens them again.
    if constexpr (!Mode::is_concurrent) fill_freed(reinterpret_cast<void*>(at), size8);
    if constexpr (poisoned) poison(reinterpret_cast<void*>(at), size8);
    std::uint64_t s = state.load(order::relaxed);
    for (unsigned attempt = 0; attempt < max_retries; ++attempt) {
      const std::uint64_t live = s & live_mask;
      if (live == 0 || (s & retired) != 0) {
        if constexpr (poisoned) unpoison(reinterpret_cast<void*>(at), size8);
        return Error::double_free;
      }
      const std::uint64_t mark = s >> mark_shift;
      std::uint64_t desired =
          (mark == end_mark ? tag_mark : mark) << mark_shift | (s & head) | (live - 1);
      if (live == 1) desired = emptied(s);
      // Release: our writes to the freed bytes happen-before their next owner's.
      if (state.compare_exchange(s, desired, order::acq_rel)) return desired;
    }
    if constexpr (poisoned) unpoison(reinterpret_cast<void*>(at), size8);
    return Error::contended;
  }

  /// Grow or shrink an object in place. Growth needs the object to be the most
  /// recent one and room up to capacity (checked, so a resize never runs past the end).
  SWIM_MEM_API Error resize(std::uintptr_t at, std::size_t old8, std::size_t new8) {
    const std::uintptr_t base = this->base();
    const std::uint64_t old_end = (at + old8 - base) / granule;
    const std::size_t offset = static_cast<std::size_t>(at - base);
    if (new8 > capacity - offset) return Error::out_of_memory;
    const std::uint64_t new_end = (offset + new8) / granule;
    // A tail given up is poisoned while still ours (as in release); growth opens
    // the new bytes once the CAS has made them ours.
    if constexpr (poisoned) {
      if (new8 < old8) poison(reinterpret_cast<void*>(at + new8), old8 - new8);
    }
    std::uint64_t s = state.load(order::relaxed);
    for (unsigned attempt = 0; attempt < max_retries; ++attempt) {
      if ((s >> mark_shift) != old_end) {
        // Not on top: only shrinking works, and its tail stays unusable.
        return new8 <= old8 ? Error::none : Error::out_of_memory;
      }
      const std::uint64_t desired = new_end << mark_shift | (s & (live_mask | flags));
      if (state.compare_exchange(s, desired, order::acq_rel)) {
        if (new8 > old8) {
          if constexpr (poisoned) unpoison(reinterpret_cast<void*>(at + old8), new8 - old8);
          fill_fresh(reinterpret_cast<void*>(at + old8), new8 - old8);
        }
        return Error::none;
      }
    }
    if constexpr (poisoned) {
      if (new8 < old8) unpoison(reinterpret_cast<void*>(at + new8), old8 - new8);
    }
    return Error::contended;
  }

  SWIM_MEM_API std::size_t live() const {
    return static_cast<std::size_t>(state.load(order::relaxed) & live_mask);
  }
  SWIM_MEM_API std::size_t free_bytes() const {
    const std::uint64_t s = state.load(order::relaxed);
    if ((s & retired) != 0) return 0;
    return capacity - static_cast<std::size_t>(s >> mark_shift) * granule;
  }
  /// The largest object a bump would place now (a tag word and the object at the
  /// mark, granule alignment): the room above the mark less the tag, 0 when no
  /// object with bytes fits, the region is retired or its live count is saturated.
  SWIM_MEM_API std::size_t largest_object() const {
    const std::uint64_t s = state.load(order::relaxed);
    if ((s & (retired | live_mask)) >= live_mask) return 0;
    const std::size_t room = capacity - static_cast<std::size_t>(s >> mark_shift) * granule;
    return room >= tag_size + granule ? room - tag_size : 0;
  }

  /// The occupancy walk of the region (holds/pack.hpp, holds/pool.hpp; quiescent
  /// only), as regions of the range that starts at `range` with the region at
  /// `offset` in it: the part below the mark (live: objects, their tags, and the
  /// holes of objects freed out of LIFO order, which no record tells apart), then
  /// the room above it as `rest` (free where allocations still bump here).
  SWIM_MEM_EXEC_CHECK_DISABLE
  template <class F>
  SWIM_MEM_API void walk(const void* range, std::size_t offset, RegionKind rest, F& f) const {
    const std::uint64_t s = state.load(order::relaxed);
    std::size_t mark = static_cast<std::size_t>(s >> mark_shift) * granule;
    if (mark > capacity) mark = capacity;
    if (mark != 0) f(Region{range, offset, mark, RegionKind::live});
    if (mark < capacity) f(Region{range, offset + mark, capacity - mark, rest});
  }

  SWIM_MEM_API bool contains(std::uintptr_t at, std::size_t size8) const {
    const std::uintptr_t base = this->base();
    return at >= base + tag_size && at - base <= capacity && size8 <= capacity - (at - base) &&
           (at - base) % granule == 0;
  }
};

/// Bytes a request occupies in a bump region (size rounded up to the granule), or
/// 0 with `ok` false when that overflows.
SWIM_MEM_API inline std::size_t granule_size(std::size_t size, bool& ok) {
  std::size_t out = 0;
  ok = align_up(size, 8, out);
  return out;
}

}  // namespace swim::mem::detail
