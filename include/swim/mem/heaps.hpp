// Umbrella header of layer 4 (heaps: untagged blocks): Slab, AddrSpace, ExtentHeap,
// SlabCache, SourceHeap, the heap kinds and HeapRef.
#pragma once
#include "swim/mem/heaps/addr_space.hpp"
#include "swim/mem/heaps/concept.hpp"
#include "swim/mem/heaps/extent_heap.hpp"
#include "swim/mem/heaps/heap_ref.hpp"
#include "swim/mem/heaps/slab.hpp"
#include "swim/mem/heaps/slab_cache.hpp"
#include "swim/mem/heaps/source_heap.hpp"
