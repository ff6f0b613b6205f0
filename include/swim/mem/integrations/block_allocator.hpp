// Layer 8 (integrations), host only: what the adapters of this layer accept.
//
// Every swim-mem heap and hold allocates and frees Blocks through the same two
// members (heaps/concept.hpp, holds/hold.hpp), so one concept covers ExtentHeap,
// ExtentArena, AddrSpace, Slab, SlabCache, SourceHeap, Pack, Pool, HoldRef and
// HeapRef alike.
#pragma once

#include <concepts>

#include "swim/mem/physical.hpp"

namespace swim::mem {

/// Anything that hands out and takes back Blocks: `try_allocate(Layout)` gives a
/// Result<Block>, `try_deallocate(Block)` an Error, and on failure both leave the
/// allocator as it was. A heap or a hold, or a handle to one.
template <class A>
concept block_allocator = requires(A& a, Layout l, Block b) {
  { a.try_allocate(l) } -> std::same_as<Result<Block>>;
  { a.try_deallocate(b) } -> std::same_as<Error>;
};

}  // namespace swim::mem
