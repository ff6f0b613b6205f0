// Factories for the conformance suite: one per allocator and mode.
//
// Each factory owns its memory (an aligned arena) and one allocator, and tells
// the suite what the allocator promises: the largest object it can serve, the
// largest alignment it guarantees, and whether its objects are tagged (then they
// can also be freed through hold_deallocate). A hold that grows from a heap says
// so with upstream_stats() (that heap's statistics); the others never grow.
#pragma once

#include <cstddef>
#include <cstdlib>
#include <memory>
#include <new>
#include <string>
#include <type_traits>
#include <vector>

#if defined(SWIM_MEM_TEST_HAS_CUDA)
#include "swim/mem/sources/cuda_memory.hpp"
#endif
#include "support/arena.hpp"
#include "support/heap_boxes.hpp"
#include "swim/mem.hpp"

namespace swim::mem::testing {

/// A Slab; with Addr = relative_address, the one that shared memory takes
/// (heaps/slab.hpp, tests/test_relative_slab.cpp), here in one mapping.
template <class Mode, class Addr = direct_address>
struct SlabFactory {
  using Alloc = Slab<Mode, true, Addr>;
  static constexpr bool relative = std::is_same_v<Addr, relative_address>;
  static constexpr const char* name =
      relative ? (Mode::is_concurrent ? "SlabRelative" : "SlabRelativeSingleOwner")
               : (Mode::is_concurrent ? "Slab" : "SlabSingleOwner");
  static constexpr bool tagged = false;
  static constexpr bool zero_counts = false;  // heaps do not count zero-size blocks
  static constexpr std::size_t unit = 512;

  Arena arena{256 * 1024};
  Arena other_arena{64 * 1024};
  Alloc alloc{arena.block(), unit};
  Alloc other{other_arena.block(), unit};

  std::size_t max_size() const { return unit; }
  std::size_t max_align() const { return alloc.alignment(); }
};

/// A per-thread SlabCache over a lock-free Slab.
/// Its peak is the Slab's, which counts the units the cache holds.
struct SlabCacheFactory {
  using Upstream = Slab<concurrent, true>;
  using Alloc = SlabCache<Upstream, 16>;
  static constexpr const char* name = "SlabCache";
  static constexpr bool tagged = false;
  static constexpr bool zero_counts = false;
  static constexpr bool exact_peak = false;
  static constexpr std::size_t unit = 512;

  Arena arena{256 * 1024};
  Arena other_arena{64 * 1024};
  Upstream upstream{arena.block(), unit};
  Upstream other_upstream{other_arena.block(), unit};
  Alloc alloc{upstream};
  Alloc other{other_upstream};

  std::size_t max_size() const { return unit; }
  std::size_t max_align() const { return upstream.alignment(); }
};

/// A Pack; with Addr = relative_address, the one that shared memory takes
/// (holds/pack.hpp, tests/test_relative_pack.cpp), here in one mapping.
template <class Mode, class Addr = direct_address>
struct PackFactory {
  using Alloc = Pack<Mode, Addr>;
  static constexpr const char* name =
      std::is_same_v<Addr, relative_address> ? "PackRelative"
                                             : (Mode::is_concurrent ? "Pack" : "PackSingleOwner");
  static constexpr bool tagged = true;
  static constexpr bool zero_counts = true;

  Arena arena{256 * 1024};
  Arena other_arena{64 * 1024};
  Alloc alloc{arena.block()};
  Alloc other{other_arena.block()};

  std::size_t max_size() const { return 64 * 1024; }
  std::size_t max_align() const { return 4096; }
};

template <class Mode>
struct AddrSpaceFactory {
  using Alloc = AddrSpace<Mode, true>;
  static constexpr const char* name = Mode::is_concurrent ? "AddrSpace" : "AddrSpaceSingleOwner";
  static constexpr bool tagged = false;
  static constexpr bool zero_counts = false;

  Arena arena{4 * 1024 * 1024};
  Arena other_arena{256 * 1024};
  Alloc alloc{arena.block(), 4096};
  Alloc other{other_arena.block(), 4096};

  std::size_t max_size() const { return 64 * 1024; }
  std::size_t max_align() const { return alloc.max_align(); }
};

/// SizeClasses over an ExtentHeap (records in-band) or an AddrSpace: class objects
/// up to 32760 bytes, larger ones (and alignments above 16) whole heap blocks.
template <class Mode, bool OverExtents>
struct SizeClassesFactory {
  using Heap = std::conditional_t<OverExtents, ExtentHeap<Mode>, AddrSpace<Mode, true>>;
  using Alloc = SizeClasses<Heap, Mode, true>;
  // Whole literals: GCC 12's -Warray-bounds misreads the inlined string concatenation
  // under TSan's -O1.
  static const char* name() {
    if constexpr (Mode::is_concurrent) {
      return OverExtents ? "SizeClassesOverExtentHeap" : "SizeClassesOverAddrSpace";
    } else {
      return OverExtents ? "SizeClassesSingleOwnerOverExtentHeap"
                         : "SizeClassesSingleOwnerOverAddrSpace";
    }
  }
  static constexpr bool tagged = true;
  static constexpr bool zero_counts = true;  // a zero-size request is a 1-byte object

  Arena arena{4 * 1024 * 1024};
  Arena other_arena{1024 * 1024};
  Heap heap = make(arena);
  Heap other_heap = make(other_arena);
  Alloc alloc{heap};
  Alloc other{other_heap};

  std::size_t max_size() const { return 64 * 1024; }
  std::size_t max_align() const { return 4096; }
  /// The heap the hold grows from (the suite checks what stats() says is served
  /// without asking it).
  Stats upstream_stats() const { return heap.stats(); }

 private:
  static Heap make(Arena& a) {
    if constexpr (OverExtents) {
      return Heap(a.block(), 4096);
    } else {
      return Heap(a.block(), 4096);
    }
  }
};

/// The SizeClasses that shared memory takes (holds/size_classes.hpp with
/// relative_address, tests/test_relative_size_classes.cpp), here in one mapping:
/// over a relative Slab of 256 KiB units, each a hunk or a large object.
struct SizeClassesRelativeFactory {
  using Heap = Slab<concurrent, true, relative_address>;
  using Alloc = SizeClasses<Heap, concurrent, true, relative_address>;
  static constexpr const char* name = "SizeClassesRelativeOverRelativeSlab";
  static constexpr bool tagged = true;
  static constexpr bool zero_counts = true;  // a zero-size request is a 1-byte object
  static constexpr std::size_t unit = 256 * 1024;

  // Room for a hunk of every class (40) and large objects besides.
  Arena arena{64 * unit};
  Arena other_arena{8 * unit};
  Heap heap{arena.block(), unit};
  Heap other_heap{other_arena.block(), unit};
  Alloc alloc{heap};
  Alloc other{other_heap};

  std::size_t max_size() const { return 64 * 1024; }
  std::size_t max_align() const { return 4096; }
  Stats upstream_stats() const { return heap.stats(); }
};

/// ExtentArena over OS pages: one range of 1 MiB, never more (bounded), records in
/// host pages apart from it.
struct ExtentArenaFactory {
  using Alloc = ExtentArena<OsPages>;
  static constexpr const char* name = "ExtentArena";
  static constexpr bool tagged = false;
  static constexpr bool zero_counts = false;
  static ArenaOptions options(std::size_t bytes) {
    ArenaOptions o;
    o.granule = 1024;
    o.initial_bytes = bytes;
    o.growth_bytes = bytes;
    o.max_bytes = bytes;
    return o;
  }
  Alloc alloc{OsPages{}, options(1024 * 1024)};
  Alloc other{OsPages{}, options(256 * 1024)};

  std::size_t max_size() const { return 64 * 1024; }
  std::size_t max_align() const { return 4096; }
};

/// ExtentHeap with its records in-band, or apart from the range (InBand = false).
template <class Mode, bool InBand>
struct ExtentHeapFactory {
  using Alloc = ExtentHeap<Mode>;
  static const char* name() {  // (whole literals: see SizeClassesFactory::name)
    if constexpr (Mode::is_concurrent) {
      return InBand ? "ExtentHeapInBand" : "ExtentHeapOutOfBand";
    } else {
      return InBand ? "ExtentHeapSingleOwnerInBand" : "ExtentHeapSingleOwnerOutOfBand";
    }
  }
  static constexpr bool tagged = false;
  static constexpr bool zero_counts = false;
  static constexpr std::size_t granule = 1024;

  Arena arena{1024 * 1024};
  Arena other_arena{256 * 1024};
  std::vector<detail::ExtentRecord> records =
      std::vector<detail::ExtentRecord>(arena.size / granule);
  std::vector<detail::ExtentRecord> other_records =
      std::vector<detail::ExtentRecord>(other_arena.size / granule);
  Alloc alloc = make(arena, records);
  Alloc other = make(other_arena, other_records);

  std::size_t max_size() const { return 64 * 1024; }
  std::size_t max_align() const { return 4096; }

 private:
  static Alloc make(Arena& a, std::vector<detail::ExtentRecord>& r) {
    if constexpr (InBand) {
      (void)r;
      return Alloc(a.block(), granule);
    } else {
      return Alloc(a.block(), granule, Block{r.data(), r.size() * sizeof(detail::ExtentRecord)});
    }
  }
};

/// A Pool over heap H, in the heap's mode; with Addr = relative_address, the one
/// that shared memory takes (holds/pool.hpp, tests/test_relative_pool.cpp), here
/// in one mapping.
template <class H, class Addr = direct_address>
struct PoolFactoryOf {
  using Box = HeapBox<H>;
  // Checked: foreign pointers are tested.
  using Alloc = Pool<H, typename Box::Mode_, true, Addr>;
  static std::string name() {
    return (std::is_same_v<Addr, relative_address> ? "PoolRelativeOver" : "PoolOver") +
           Box::name();
  }
  static constexpr bool tagged = true;
  static constexpr bool zero_counts = true;
  static constexpr bool bounded = Box::bounded;

  Box box;
  Box other_box;
  Alloc alloc{box.heap, Box::hunk};
  Alloc other{other_box.heap, Box::hunk};

  std::size_t max_size() const { return Box::max_object; }
  std::size_t max_align() const { return 4096; }
  /// The heap the pool grows from.
  Stats upstream_stats() const { return box.heap.stats(); }
  /// False where the heap's memory is missing here (a GPU runtime without a device).
  static bool available() {
    if constexpr (requires { Box::available(); }) {
      return Box::available();
    } else {
      return true;
    }
  }
};

/// A Pool over a heap of heaps/heap_kinds.hpp (every host-runnable kind gets one:
/// see conformance_pools.cpp).
template <class H>
struct PoolOverFactory : PoolFactoryOf<H> {};

}  // namespace swim::mem::testing
