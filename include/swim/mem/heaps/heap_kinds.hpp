// Layer 4 (heaps): the closed list of heap kinds a HeapRef can refer to, so that
// a Pool reached only through an object's tag (a lease growing a buffer, a stow
// into "the same hold") can still grow from its upstream heap.
//
// Every heap swim-mem provides is here, each in both modes and both checking
// levels, and SlabCache with its default size. A kind is the heap's 1-based
// position in heap_kinds; HeapRef's operations are generated from the list
// (heaps/heap_ref.hpp). Adding a heap kind is adding one line to the list.
//
// Each entry says where its operations can run:
//   anywhere         host and device code (the lock-free heaps, static regions);
//   host             host code only; device code gets Error::unsupported (OsPages:
//                    a kernel cannot map pages);
//   host_registered  host code only, and the heap's code needs a GPU runtime's
//                    headers, which most translation units cannot include. Its
//                    operations are registered (src/heap_registry.cpp) by the typed
//                    code that first makes a HeapRef to one (every Pool does, in its
//                    constructor), so the dispatch never instantiates it.
#pragma once

#include <cstdint>

#include "swim/mem/config.hpp"
#include "swim/mem/heaps/addr_space.hpp"
#include "swim/mem/heaps/extent_heap.hpp"
#include "swim/mem/heaps/slab.hpp"
#include "swim/mem/heaps/slab_cache.hpp"
#include "swim/mem/heaps/source_heap.hpp"
#include "swim/mem/sources/gpu_memory_fwd.hpp"
#include "swim/mem/sources/os_pages.hpp"
#include "swim/mem/sources/static_region.hpp"

namespace swim::mem {

/// Where a heap kind's operations can run (see the file comment).
enum class HeapRoute : std::uint8_t { anywhere, host, host_registered };

/// One entry of heap_kinds.
template <class H, HeapRoute Route = HeapRoute::anywhere>
struct HeapEntry {
  using type = H;
  static constexpr HeapRoute route = Route;
};

namespace detail {
template <class Source, HeapRoute Route = HeapRoute::anywhere>
using SourceEntryC = HeapEntry<SourceHeap<Source, concurrent>, Route>;
template <class Source, HeapRoute Route = HeapRoute::anywhere>
using SourceEntryS = HeapEntry<SourceHeap<Source, single_owner>, Route>;
}  // namespace detail

/// Every heap kind, in kind order (kind = position + 1).
using heap_kinds = detail::type_list<
    HeapEntry<Slab<concurrent, true>>,
    HeapEntry<Slab<concurrent, false>>,
    HeapEntry<Slab<single_owner, true>>,
    HeapEntry<Slab<single_owner, false>>,
    HeapEntry<AddrSpace<concurrent, true>>,
    HeapEntry<AddrSpace<concurrent, false>>,
    HeapEntry<AddrSpace<single_owner, true>>,
    HeapEntry<AddrSpace<single_owner, false>>,
    HeapEntry<SlabCache<Slab<concurrent, true>>>,
    HeapEntry<SlabCache<Slab<concurrent, false>>>,
    HeapEntry<SlabCache<Slab<single_owner, true>>>,
    HeapEntry<SlabCache<Slab<single_owner, false>>>,
    HeapEntry<ExtentHeap<concurrent>>,
    HeapEntry<ExtentHeap<single_owner>>,
    detail::SourceEntryC<StaticRegion<RegionAccess::host, concurrent>>,
    detail::SourceEntryS<StaticRegion<RegionAccess::host, single_owner>>,
    detail::SourceEntryC<StaticRegion<RegionAccess::device, concurrent>>,
    detail::SourceEntryS<StaticRegion<RegionAccess::device, single_owner>>,
    detail::SourceEntryC<StaticRegion<RegionAccess::host_and_device, concurrent>>,
    detail::SourceEntryS<StaticRegion<RegionAccess::host_and_device, single_owner>>,
    detail::SourceEntryC<OsPages, HeapRoute::host>,
    detail::SourceEntryS<OsPages, HeapRoute::host>,
    detail::SourceEntryC<CudaMemory<CudaMemoryKind::device>, HeapRoute::host_registered>,
    detail::SourceEntryS<CudaMemory<CudaMemoryKind::device>, HeapRoute::host_registered>,
    detail::SourceEntryC<CudaMemory<CudaMemoryKind::managed>, HeapRoute::host_registered>,
    detail::SourceEntryS<CudaMemory<CudaMemoryKind::managed>, HeapRoute::host_registered>,
    detail::SourceEntryC<CudaMemory<CudaMemoryKind::pinned>, HeapRoute::host_registered>,
    detail::SourceEntryS<CudaMemory<CudaMemoryKind::pinned>, HeapRoute::host_registered>,
    detail::SourceEntryC<HipMemory<HipMemoryKind::device>, HeapRoute::host_registered>,
    detail::SourceEntryS<HipMemory<HipMemoryKind::device>, HeapRoute::host_registered>,
    detail::SourceEntryC<HipMemory<HipMemoryKind::managed>, HeapRoute::host_registered>,
    detail::SourceEntryS<HipMemory<HipMemoryKind::managed>, HeapRoute::host_registered>,
    detail::SourceEntryC<HipMemory<HipMemoryKind::pinned>, HeapRoute::host_registered>,
    detail::SourceEntryS<HipMemory<HipMemoryKind::pinned>, HeapRoute::host_registered>,
    // In memory several processes map (a relative Pool's heap, holds/pool.hpp).
    HeapEntry<Slab<concurrent, true, relative_address>>,
    HeapEntry<Slab<concurrent, false, relative_address>>>;

/// A heap kind: a position in heap_kinds, or none.
enum class HeapKind : std::uint8_t { none = 0 };

namespace detail {
template <class H, class List>
struct heap_entry_index;
template <class H, class... Es>
struct heap_entry_index<H, type_list<Es...>> {
  static constexpr unsigned value = list_index<H, type_list<typename Es::type...>>::value;
  static constexpr HeapRoute route() {
    HeapRoute r = HeapRoute::anywhere;
    ((r = std::is_same_v<H, typename Es::type> ? Es::route : r), ...);
    return r;
  }
};
}  // namespace detail

/// The kind of heap type H (HeapKind::none when H is not in heap_kinds).
template <class H>
inline constexpr HeapKind heap_kind_v =
    static_cast<HeapKind>(detail::heap_entry_index<H, heap_kinds>::value);

/// Where the operations of heap type H (in heap_kinds) can run.
template <class H>
inline constexpr HeapRoute heap_route_v = detail::heap_entry_index<H, heap_kinds>::route();

/// True when HeapRef can refer to a heap of type H.
template <class H>
inline constexpr bool heap_ref_supports = heap_kind_v<H> != HeapKind::none;

static_assert(heap_kinds::size < 256, "HeapKind is one byte");

}  // namespace swim::mem
