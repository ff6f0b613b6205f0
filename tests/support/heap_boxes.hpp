// Test support: a HeapBox<H> for every heap type in heaps/heap_kinds.hpp that
// host code can run: the heap with memory of its own, a name, the hunk size a
// Pool over it should ask for, and whether it can run out (OsPages cannot, here).
//
// The dispatch and conformance tests walk heap_kinds and need a HeapBox for each
// entry, so a heap kind added to the list without one here fails to compile
// them: every kind gets tested.
#pragma once

#include <cstddef>
#include <string>
#include <type_traits>

#include "support/arena.hpp"
#include "swim/mem.hpp"

namespace swim::mem::testing {

template <class Mode>
std::string mode_name() {
  return Mode::is_concurrent ? "Concurrent" : "SingleOwner";
}
inline std::string checked_name(bool checked) { return checked ? "Checked" : "Unchecked"; }

template <class H>
struct HeapBox;

template <class Mode, bool Checked, class Addr>
struct HeapBox<Slab<Mode, Checked, Addr>> {
  using Mode_ = Mode;
  static constexpr std::size_t hunk = 16 * 1024;  // one unit: a Pool's hunk
  // A 4096-aligned object needs its alignment in padding inside a hunk.
  static constexpr std::size_t max_object = hunk - 2 * 4096;
  static constexpr bool bounded = true;
  static std::string name() {
    return std::string(std::is_same_v<Addr, relative_address> ? "RelativeSlab" : "Slab") +
           mode_name<Mode>() + checked_name(Checked);
  }
  Arena arena{1024 * 1024 + hunk};
  Slab<Mode, Checked, Addr> heap{arena.block(), hunk};
};

template <class Mode, bool Checked>
struct HeapBox<AddrSpace<Mode, Checked>> {
  using Mode_ = Mode;
  static constexpr std::size_t hunk = 64 * 1024;
  static constexpr std::size_t max_object = 256 * 1024;
  static constexpr bool bounded = true;
  static std::string name() { return "AddrSpace" + mode_name<Mode>() + checked_name(Checked); }
  Arena arena{4 * 1024 * 1024};
  AddrSpace<Mode, Checked> heap{arena.block(), 4096};
};

template <class Mode>
struct HeapBox<ExtentHeap<Mode>> {
  using Mode_ = Mode;
  static constexpr std::size_t hunk = 64 * 1024;
  static constexpr std::size_t max_object = 256 * 1024;
  static constexpr bool bounded = true;
  static std::string name() { return "ExtentHeap" + mode_name<Mode>(); }
  Arena arena{4 * 1024 * 1024};
  ExtentHeap<Mode> heap{arena.block(), 4096};  // records in-band
};

/// A SlabCache is a single-owner front, whatever its Slab's mode.
template <class S, std::size_t N>
struct HeapBox<SlabCache<S, N>> {
  using Mode_ = single_owner;
  static constexpr std::size_t hunk = HeapBox<S>::hunk;
  static constexpr std::size_t max_object = HeapBox<S>::max_object;
  static constexpr bool bounded = true;
  static std::string name() { return "SlabCacheOver" + HeapBox<S>::name(); }
  HeapBox<S> slab;
  SlabCache<S, N> heap{slab.heap};
};

template <RegionAccess Access, class RegionMode, class Mode>
struct HeapBox<SourceHeap<StaticRegion<Access, RegionMode>, Mode>> {
  using Mode_ = Mode;
  static constexpr std::size_t hunk = 64 * 1024;
  static constexpr std::size_t max_object = 256 * 1024;
  static constexpr bool bounded = true;
  static std::string name() {
    const char* access = Access == RegionAccess::host     ? "Host"
                         : Access == RegionAccess::device ? "Device"
                                                          : "HostAndDevice";
    return std::string("StaticRegion") + access + mode_name<Mode>();
  }
  Arena arena{2 * 1024 * 1024};
  SourceHeap<StaticRegion<Access, RegionMode>, Mode> heap{arena.block()};
};

template <class Mode>
struct HeapBox<SourceHeap<OsPages, Mode>> {
  using Mode_ = Mode;
  static constexpr std::size_t hunk = 64 * 1024;
  static constexpr std::size_t max_object = 256 * 1024;
  static constexpr bool bounded = false;  // it maps pages until the system says no
  static std::string name() { return "OsPages" + mode_name<Mode>(); }
  SourceHeap<OsPages, Mode> heap;
};

#if defined(SWIM_MEM_TEST_HAS_CUDA) && defined(SWIM_MEM_CUDA_MEMORY_HPP_INCLUDED)
/// CUDA managed memory (host-accessible, so a host Pool can live on it); the
/// includer brings swim/mem/sources/cuda_memory.hpp. Tests skip without a device.
template <class Mode>
struct HeapBox<SourceHeap<CudaManagedMemory, Mode>> {
  using Mode_ = Mode;
  static constexpr std::size_t hunk = 64 * 1024;
  static constexpr std::size_t max_object = 256 * 1024;
  static constexpr bool bounded = false;  // the device's whole memory
  static bool available() { return CudaManagedMemory::available(); }
  static std::string name() { return "CudaManaged" + mode_name<Mode>(); }
  SourceHeap<CudaManagedMemory, Mode> heap;
};
#endif

/// The heap kinds whose operations host code runs directly (not host_registered:
/// those need a GPU runtime and are checked where one is linked).
template <class Entry>
inline constexpr bool host_runnable = Entry::route != HeapRoute::host_registered;

/// Apply F<H> to every host-runnable H of heap_kinds, collecting into List<...>.
template <template <class...> class List, template <class> class F, class Kinds,
          class... Done>
struct map_host_heaps;
template <template <class...> class List, template <class> class F, class... Done>
struct map_host_heaps<List, F, detail::type_list<>, Done...> {
  using type = List<Done...>;
};
template <template <class...> class List, template <class> class F, class E, class... Es,
          class... Done>
struct map_host_heaps<List, F, detail::type_list<E, Es...>, Done...> {
  using type = typename std::conditional_t<
      host_runnable<E>, map_host_heaps<List, F, detail::type_list<Es...>, Done..., F<typename E::type>>,
      map_host_heaps<List, F, detail::type_list<Es...>, Done...>>::type;
};

}  // namespace swim::mem::testing
