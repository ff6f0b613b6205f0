// Layer 4 (heaps): the Heap concept. A heap hands out *untagged* blocks; the
// caller must remember which heap a block came from and its size.
//
// Contract of a heap H (all members valid on host and device unless H says not):
//   Result<Block> h.try_allocate(Layout)
//       A block of at least layout.size bytes aligned to layout.align, or an
//       Error (out_of_memory, oversized, misaligned, contended). On failure the
//       heap is exactly as it was.
//   Error h.try_deallocate(Block)
//       Give back a block exactly as try_allocate returned it (a smaller size that
//       rounds to the same block is accepted). Error::foreign_pointer /
//       Error::double_free in checked configurations; the heap is then unchanged.
//       An unchecked configuration may trust its argument (the Slab and SlabCache
//       do): giving it back anything but a live block of its own is then a
//       precondition violation (undefined behaviour), not an error value.
//   Stats h.stats() const
#pragma once

#include <concepts>

#include "swim/mem/physical.hpp"

namespace swim::mem {

/// Whether heap H can reuse a block given back in any order. True unless H says
/// otherwise with `static constexpr bool reuses_freed_blocks = false` (a bump
/// source: a StaticRegion reuses only its most recent region until reset). A
/// single-owner Pool gives emptied hunks back at once only to heaps that reuse them.
template <class H>
inline constexpr bool heap_reuses_freed = [] {
  if constexpr (requires { H::reuses_freed_blocks; }) {
    return static_cast<bool>(H::reuses_freed_blocks);
  } else {
    return true;
  }
}();

template <class H>
concept heap = requires(H& h, const H& ch, Layout l, Block b) {
  { h.try_allocate(l) } -> std::same_as<Result<Block>>;
  { h.try_deallocate(b) } -> std::same_as<Error>;
  { ch.stats() } -> std::same_as<Stats>;
};

}  // namespace swim::mem
