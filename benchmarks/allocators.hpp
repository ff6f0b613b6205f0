// Benchmark adapters: one small class per allocator, all with the same shape, so
// that every workload is written once (workloads/*.cpp).
//
//   Adapter(const Config&)           build the allocator for a workload
//   typename Adapter::Handle h(a)    what one thread uses (a per-thread cache for
//                                    SlabCache, a plain forwarder otherwise)
//   h.alloc(n) -> void*              nullptr on failure
//   h.free(p, n)                     the size is passed because heaps need it
//   a.end_burst()                    after every object of a burst was freed
//                                    (memory_stack unwinds here; others: nothing)
//   a.release()                      give free memory back if the allocator can
//   static name, thread_safe, mixed  name in reports; may be shared by threads;
//                                    serves mixed sizes (else only Config::max_size)
//
// The swim-mem adapters are unchecked (Checked = false), as a Release build of an
// application would use them; requests are 8-byte aligned.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <new>

#include "swim/mem.hpp"
#include "swim/mem/heaps/slab_cache.hpp"
#include "swim/mem/sources/os_pages.hpp"

#if SWIM_BENCH_MALLOC_MIMALLOC
#include <mimalloc.h>
#elif SWIM_BENCH_MALLOC_JEMALLOC
#include <jemalloc/jemalloc.h>
#elif SWIM_BENCH_MALLOC_TCMALLOC
#include <gperftools/malloc_extension_c.h>
#else
#include <malloc.h>
#endif

#if SWIM_BENCH_EXTRA_BASELINES
#include <tbb/scalable_allocator.h>

#include <foonathan/memory/memory_pool.hpp>
#include <foonathan/memory/memory_pool_collection.hpp>
#include <foonathan/memory/memory_stack.hpp>
#endif

namespace swim_bench {

namespace sm = swim::mem;

/// What a workload needs from an allocator.
struct Config {
  std::size_t min_size = 64;       // smallest request
  std::size_t max_size = 64;       // largest request
  std::size_t max_live = 1 << 20;  // most objects live at once
  std::size_t max_bytes = 0;       // most bytes live at once (0: max_live * max_size)
  std::size_t live_bytes() const { return max_bytes ? max_bytes : max_live * max_size; }
};

inline constexpr std::size_t kAlign = 8;

inline std::size_t ceil_pow2(std::size_t n) {
  std::size_t p = 1;
  while (p < n) p <<= 1;
  return p;
}

/// A lazily committed mapping from the OS (through swim-mem's OsPages source).
struct Region {
  sm::Block block;
  explicit Region(std::size_t bytes) {
    const sm::Result<sm::Block> r = sm::OsPages{}.try_acquire(bytes, 4096);
    if (r) block = *r;
  }
  ~Region() {
    if (block.ptr) sm::OsPages{}.release(block);
  }
  Region(const Region&) = delete;
  Region& operator=(const Region&) = delete;
};

/// Forwarding handle for allocators that threads share directly.
template <class A>
struct SharedHandle {
  A& a;
  explicit SharedHandle(A& alloc) : a(alloc) {}
  SWIM_MEM_FORCEINLINE void* alloc(std::size_t n) { return a.alloc(n); }
  SWIM_MEM_FORCEINLINE void free(void* p, std::size_t n) { a.free(p, n); }
};

// ---- The malloc of this binary (glibc, or the allocator linked in to replace it) ----

struct Malloc {
#if SWIM_BENCH_MALLOC_MIMALLOC
  static constexpr const char* name = "mimalloc";
#elif SWIM_BENCH_MALLOC_JEMALLOC
  static constexpr const char* name = "jemalloc";
#elif SWIM_BENCH_MALLOC_TCMALLOC
  static constexpr const char* name = "tcmalloc";
#else
  static constexpr const char* name = "glibc";
#endif
  static constexpr bool thread_safe = true;
  static constexpr bool mixed = true;
  using Handle = SharedHandle<Malloc>;
  explicit Malloc(const Config&) {}
#if SWIM_BENCH_MALLOC_MIMALLOC
  // Explicit calls: the same functions the override exports, minus the PLT hop.
  SWIM_MEM_FORCEINLINE void* alloc(std::size_t n) { return mi_malloc(n); }
  SWIM_MEM_FORCEINLINE void free(void* p, std::size_t) { mi_free(p); }
  void release() { mi_collect(true); }
#else
  SWIM_MEM_FORCEINLINE void* alloc(std::size_t n) { return std::malloc(n); }
  SWIM_MEM_FORCEINLINE void free(void* p, std::size_t) { std::free(p); }
#if SWIM_BENCH_MALLOC_JEMALLOC
  void release() { mallctl("arena.4096.purge", nullptr, nullptr, nullptr, 0); }
#elif SWIM_BENCH_MALLOC_TCMALLOC
  void release() { MallocExtension_ReleaseFreeMemory(); }
#else
  void release() { malloc_trim(0); }
#endif
#endif
  void end_burst() {}
};

/// Proof that the malloc in use is the one the binary is named after.
inline bool malloc_is_replaced() {
#if SWIM_BENCH_MALLOC_MIMALLOC
  auto* p = static_cast<char*>(std::malloc(64));
  if (p == nullptr) return false;
  p[0] = 1;
  const bool ok = mi_is_in_heap_region(p);
  std::free(p);
  return ok;
#elif SWIM_BENCH_MALLOC_JEMALLOC
  const char* v = nullptr;
  std::size_t len = sizeof v;
  return mallctl("version", &v, &len, nullptr, 0) == 0 && v != nullptr;
#elif SWIM_BENCH_MALLOC_TCMALLOC
  std::size_t v = 0;
  return MallocExtension_GetNumericProperty("generic.current_allocated_bytes", &v) != 0;
#else
  return true;
#endif
}

// ---- swim-mem ----------------------------------------------------------------------

/// A heap called directly: what code that holds the Slab (or cache) of its one
/// object size does. The fixed-size workloads use it, so that the class lookup
/// of the mixed-size adapters is not charged to them (malloc's own lookup is
/// part of malloc, a Slab user's is a compile-time choice).
template <class Heap>
struct Direct {
  Heap& heap;
  SWIM_MEM_FORCEINLINE void* alloc(std::size_t n) {
    const sm::Result<sm::Block> r = heap.try_allocate(sm::Layout{n, kAlign});
    return r ? r->ptr : nullptr;
  }
  SWIM_MEM_FORCEINLINE void free(void* p, std::size_t n) { heap.try_deallocate(sm::Block{p, n}); }
};

/// Size classes for the fixed-size heaps: class c serves (2^(c-1), 2^c] bytes.
inline unsigned size_class(std::size_t n) { return sm::detail::ceil_log2(n < 16 ? 16 : n); }

/// One Slab per power-of-two class between Config::min_size and max_size, each
/// with room for max_live units (fixed-size workloads have one class).
template <class SlabT>
struct SlabSet {
  static constexpr unsigned max_classes = 16;
  unsigned lo = 0, hi = 0;
  std::unique_ptr<Region> regions[max_classes];
  alignas(64) unsigned char storage[max_classes][sizeof(SlabT)];

  explicit SlabSet(const Config& c) : lo(size_class(c.min_size)), hi(size_class(c.max_size)) {
    for (unsigned k = lo; k <= hi; ++k) {
      const std::size_t unit = std::size_t(1) << k;
      std::size_t units = c.max_live;
      // Mixed workloads: a class never holds more bytes than the workload's peak.
      if (c.max_bytes && units * unit > c.max_bytes) units = c.max_bytes / unit + 1;
      regions[k - lo] = std::make_unique<Region>(units * unit + 4096);
      new (storage[k - lo]) SlabT(regions[k - lo]->block, unit);
    }
  }
  ~SlabSet() {
    for (unsigned k = lo; k <= hi; ++k) slab(k).~SlabT();
  }
  SlabT& slab(unsigned k) { return *reinterpret_cast<SlabT*>(storage[k - lo]); }
  // One class (the fixed-size workloads): no dispatch, as a caller holding the
  // Slab for its type would have none.
  SlabT* fixed() { return lo == hi ? &slab(lo) : nullptr; }
  SlabT& for_size(std::size_t n) { return slab(size_class(n)); }
};

template <class Mode, const char* Name>
struct SwimSlab {
  static constexpr const char* name = Name;
  static constexpr bool thread_safe = Mode::is_concurrent;
  static constexpr bool mixed = true;
  using SlabT = sm::Slab<Mode, false>;
  using Handle = SharedHandle<SwimSlab>;
  SlabSet<SlabT> set;
  SlabT* const fixed;
  explicit SwimSlab(const Config& c) : set(c), fixed(set.fixed()) {}
  SWIM_MEM_FORCEINLINE SlabT& for_size(std::size_t n) { return fixed ? *fixed : set.for_size(n); }
  Direct<SlabT> direct() { return Direct<SlabT>{*fixed}; }  // one class only
  SWIM_MEM_FORCEINLINE void* alloc(std::size_t n) {
    const sm::Result<sm::Block> r = for_size(n).try_allocate(sm::Layout{n, kAlign});
    return r ? r->ptr : nullptr;
  }
  SWIM_MEM_FORCEINLINE void free(void* p, std::size_t n) {
    for_size(n).try_deallocate(sm::Block{p, n});
  }
  void end_burst() {}
  void release() {}
};

/// A SlabCache per thread over shared lock-free Slabs.
template <std::size_t N, const char* Name>
struct SwimSlabCache {
  static constexpr const char* name = Name;
  static constexpr bool thread_safe = true;
  static constexpr bool mixed = true;
  using SlabT = sm::Slab<sm::concurrent, false>;
  using Cache = sm::SlabCache<SlabT, N>;
  SlabSet<SlabT> set;
  explicit SwimSlabCache(const Config& c) : set(c) {}

  struct Handle {
    SlabSet<SlabT>& set;
    Cache* fixed = nullptr;  // the only cache when there is one class
    alignas(64) unsigned char storage[SlabSet<SlabT>::max_classes][sizeof(Cache)];
    explicit Handle(SwimSlabCache& a) : set(a.set) {
      for (unsigned k = set.lo; k <= set.hi; ++k) new (storage[k - set.lo]) Cache(set.slab(k));
      if (set.lo == set.hi) fixed = &cache(set.lo);
    }
    ~Handle() {
      for (unsigned k = set.lo; k <= set.hi; ++k) cache(k).~Cache();
    }
    Cache& cache(unsigned k) { return *reinterpret_cast<Cache*>(storage[k - set.lo]); }
    SWIM_MEM_FORCEINLINE Cache& for_size(std::size_t n) { return fixed ? *fixed : cache(size_class(n)); }
    Direct<Cache> direct() { return Direct<Cache>{*fixed}; }  // one class only
    SWIM_MEM_FORCEINLINE void* alloc(std::size_t n) {
      const sm::Result<sm::Block> r = for_size(n).try_allocate(sm::Layout{n, kAlign});
      return r ? r->ptr : nullptr;
    }
    SWIM_MEM_FORCEINLINE void free(void* p, std::size_t n) {
      for_size(n).try_deallocate(sm::Block{p, n});
    }
  };
  void end_burst() {}
  void release() {}
};

inline std::size_t tagged_bytes(const Config& c) {
  // Each object: its size rounded to 8, plus the 8-byte tag; then slack.
  return (c.live_bytes() + 8 * c.max_live) * 2 + (1 << 20);
}

template <class Mode, const char* Name>
struct SwimPack {
  static constexpr const char* name = Name;
  static constexpr bool thread_safe = Mode::is_concurrent;
  static constexpr bool mixed = true;
  using Handle = SharedHandle<SwimPack>;
  Region region;
  sm::Pack<Mode> pack;
  explicit SwimPack(const Config& c) : region(tagged_bytes(c)), pack(region.block) {}
  SWIM_MEM_FORCEINLINE void* alloc(std::size_t n) {
    const sm::Result<sm::Block> r = pack.try_allocate(sm::Layout{n, kAlign});
    return r ? r->ptr : nullptr;
  }
  SWIM_MEM_FORCEINLINE void free(void* p, std::size_t n) { pack.try_deallocate(sm::Block{p, n}); }
  void end_burst() {}
  void release() {}
};

/// A Pool of 64 KiB hunks over an AddrSpace of 4 KiB pages over one OS mapping.
template <class Mode, const char* Name>
struct SwimPool {
  static constexpr const char* name = Name;
  static constexpr bool thread_safe = Mode::is_concurrent;
  static constexpr bool mixed = true;
  using Space = sm::AddrSpace<Mode, false>;
  using Handle = SharedHandle<SwimPool>;
  Region region;
  Space space;
  sm::Pool<Space, Mode> pool;
  explicit SwimPool(const Config& c)
      : region(std::size_t(4) << 30), space(region.block, 4096), pool(space, 64 * 1024) {
    (void)c;
  }
  SWIM_MEM_FORCEINLINE void* alloc(std::size_t n) {
    const sm::Result<sm::Block> r = pool.try_allocate(sm::Layout{n, kAlign});
    return r ? r->ptr : nullptr;
  }
  SWIM_MEM_FORCEINLINE void free(void* p, std::size_t n) { pool.try_deallocate(sm::Block{p, n}); }
  void end_burst() {}
  void release() { pool.trim(); }
};

/// The buddy page heap used directly as a general heap, with 64-byte pages.
template <class Mode, const char* Name>
struct SwimAddrSpace {
  static constexpr const char* name = Name;
  static constexpr bool thread_safe = Mode::is_concurrent;
  static constexpr bool mixed = true;
  using Space = sm::AddrSpace<Mode, false>;
  using Handle = SharedHandle<SwimAddrSpace>;
  Region region;
  Space space;
  explicit SwimAddrSpace(const Config& c)
      : region(ceil_pow2(c.live_bytes() + 64 * c.max_live) * 2 + (1 << 20)), space(region.block, 64) {}
  SWIM_MEM_FORCEINLINE void* alloc(std::size_t n) {
    const sm::Result<sm::Block> r = space.try_allocate(sm::Layout{n, kAlign});
    return r ? r->ptr : nullptr;
  }
  SWIM_MEM_FORCEINLINE void free(void* p, std::size_t n) { space.try_deallocate(sm::Block{p, n}); }
  void end_burst() {}
  void release() {}
};

/// SizeClasses (the any-size hold) over an ExtentHeap of 64 KiB granules (one per
/// small-object hunk) on a lazily committed 4 GiB mapping.
template <class Mode, const char* Name>
struct SwimSizeClasses {
  static constexpr const char* name = Name;
  static constexpr bool thread_safe = Mode::is_concurrent;
  static constexpr bool mixed = true;
  using Extents = sm::ExtentHeap<Mode>;
  using Handle = SharedHandle<SwimSizeClasses>;
  Region region;
  Extents extents;
  sm::SizeClasses<Extents, Mode, false> classes;
  explicit SwimSizeClasses(const Config& c)
      : region(std::size_t(4) << 30), extents(region.block, 64 * 1024), classes(extents) {
    (void)c;
  }
  SWIM_MEM_FORCEINLINE void* alloc(std::size_t n) {
    const sm::Result<sm::Block> r = classes.try_allocate(sm::Layout{n, kAlign});
    return r ? r->ptr : nullptr;
  }
  SWIM_MEM_FORCEINLINE void free(void* p, std::size_t n) { classes.try_deallocate(sm::Block{p, n}); }
  void end_burst() {}
  void release() { classes.trim(); }
};

/// The one-call form: try_malloc / try_free (the process hold and its per-thread caches).
struct SwimMalloc {
  static constexpr const char* name = "swim-try_malloc";
  static constexpr bool thread_safe = true;
  static constexpr bool mixed = true;
  using Handle = SharedHandle<SwimMalloc>;
  explicit SwimMalloc(const Config&) {}
  SWIM_MEM_FORCEINLINE void* alloc(std::size_t n) {
    const sm::Result<sm::Block> r = sm::try_malloc(n, kAlign);
    return r ? r->ptr : nullptr;
  }
  SWIM_MEM_FORCEINLINE void free(void* p, std::size_t) { sm::try_free(p); }
  void end_burst() {}
  void release() {
    sm::flush_thread_cache();
    sm::trim_process_hold();
  }
};

// ---- The physical limit of a fixed-size allocator ---------------------------------

/// A trivial free list: an intrusive singly linked list of equal units threaded
/// through one region when it is built. Allocation pops the head (one load of the
/// unit's link, one store of the head), a free pushes (a store of the link, a store
/// of the head). One thread, no checks, no statistics, no growth: what no fixed-size
/// allocator can beat, the baseline the Slab paths are measured against. Not a
/// swim-mem feature; it lives here, in benchmarks/.
class TrivialFreeList {
 public:
  /// Threads every whole unit of `region` (unit: at least a pointer, a multiple of
  /// 8), in address order, so that the first allocations walk the region forwards.
  TrivialFreeList(sm::Block region, std::size_t unit) {
    auto* base = static_cast<unsigned char*>(region.ptr);
    const std::size_t units = base == nullptr ? 0 : region.size / unit;
    for (std::size_t i = units; i-- > 0;) push(base + i * unit);
  }
  SWIM_MEM_FORCEINLINE void* pop() {
    void* p = head_;
    if (p != nullptr) head_ = *static_cast<void**>(p);
    return p;
  }
  SWIM_MEM_FORCEINLINE void push(void* p) {
    *static_cast<void**>(p) = head_;
    head_ = p;
  }

 private:
  void* head_ = nullptr;
};

/// The trivial free list as a benchmark adapter: one list per power-of-two class
/// (the same classes and regions as the Slab adapters, SlabSet), called directly when
/// there is one class.
struct FreeListBaseline {
  static constexpr const char* name = "trivial-freelist";
  static constexpr bool thread_safe = false;
  static constexpr bool mixed = true;
  using Handle = SharedHandle<FreeListBaseline>;
  SlabSet<TrivialFreeList> lists;
  TrivialFreeList* const fixed;
  explicit FreeListBaseline(const Config& c) : lists(c), fixed(lists.fixed()) {}
  SWIM_MEM_FORCEINLINE TrivialFreeList& for_size(std::size_t n) {
    return fixed ? *fixed : lists.for_size(n);
  }
  struct Direct {  // one class only: the list itself, no class lookup
    TrivialFreeList& list;
    SWIM_MEM_FORCEINLINE void* alloc(std::size_t) { return list.pop(); }
    SWIM_MEM_FORCEINLINE void free(void* p, std::size_t) { list.push(p); }
  };
  Direct direct() { return Direct{*fixed}; }
  SWIM_MEM_FORCEINLINE void* alloc(std::size_t n) { return for_size(n).pop(); }
  SWIM_MEM_FORCEINLINE void free(void* p, std::size_t n) { for_size(n).push(p); }
  void end_burst() {}
  void release() {}
};

inline constexpr char kSlabSo[] = "swim-Slab(so)";
inline constexpr char kSlabLf[] = "swim-Slab(lf)";
inline constexpr char kSlabCache[] = "swim-SlabCache";
inline constexpr char kPackSo[] = "swim-Pack(so)";
inline constexpr char kPackLf[] = "swim-Pack(lf)";
inline constexpr char kPoolSo[] = "swim-Pool(so)";
inline constexpr char kPoolLf[] = "swim-Pool(lf)";
inline constexpr char kAddrLf[] = "swim-AddrSpace(lf)";
inline constexpr char kClassesSo[] = "swim-SizeClasses(so)";
inline constexpr char kClassesLf[] = "swim-SizeClasses(lf)";

using SlabSo = SwimSlab<sm::single_owner, kSlabSo>;
using SlabLf = SwimSlab<sm::concurrent, kSlabLf>;
using SlabCache64 = SwimSlabCache<64, kSlabCache>;
using PackSo = SwimPack<sm::single_owner, kPackSo>;
using PackLf = SwimPack<sm::concurrent, kPackLf>;
using PoolSo = SwimPool<sm::single_owner, kPoolSo>;
using PoolLf = SwimPool<sm::concurrent, kPoolLf>;
using AddrLf = SwimAddrSpace<sm::concurrent, kAddrLf>;
using ClassesSo = SwimSizeClasses<sm::single_owner, kClassesSo>;
using ClassesLf = SwimSizeClasses<sm::concurrent, kClassesLf>;

// ---- Other baselines (the glibc binary only: they do not replace malloc) ----------

#if SWIM_BENCH_EXTRA_BASELINES
namespace fm = foonathan::memory;

struct TbbMalloc {
  static constexpr const char* name = "tbbmalloc";
  static constexpr bool thread_safe = true;
  static constexpr bool mixed = true;
  using Handle = SharedHandle<TbbMalloc>;
  explicit TbbMalloc(const Config&) {}
  SWIM_MEM_FORCEINLINE void* alloc(std::size_t n) { return scalable_malloc(n); }
  SWIM_MEM_FORCEINLINE void free(void* p, std::size_t) { scalable_free(p); }
  void end_burst() {}
  void release() { scalable_allocation_command(TBBMALLOC_CLEAN_ALL_BUFFERS, nullptr); }
};

/// foonathan::memory_pool (one node size) or, for mixed sizes, its
/// memory_pool_collection with power-of-two buckets. Single-threaded.
struct FoonathanPool {
  static constexpr const char* name = "foonathan-pool";
  static constexpr bool thread_safe = false;
  static constexpr bool mixed = true;
  using Handle = SharedHandle<FoonathanPool>;
  using Collection = fm::memory_pool_collection<fm::node_pool, fm::log2_buckets>;
  std::unique_ptr<fm::memory_pool<fm::node_pool>> pool;
  std::unique_ptr<Collection> collection;
  explicit FoonathanPool(const Config& c) {
    if (c.min_size == c.max_size) {
      pool = std::make_unique<fm::memory_pool<fm::node_pool>>(c.max_size, 1 << 20);
    } else {
      collection = std::make_unique<Collection>(c.max_size, 4 << 20);
    }
  }
  SWIM_MEM_FORCEINLINE void* alloc(std::size_t n) {
    return pool ? pool->allocate_node() : collection->allocate_node(n);
  }
  SWIM_MEM_FORCEINLINE void free(void* p, std::size_t n) {
    if (pool) {
      pool->deallocate_node(p);
    } else {
      collection->deallocate_node(p, n);
    }
  }
  void end_burst() {}
  void release() {}
};

/// foonathan::memory_stack: frees are no-ops; a burst ends with an unwind to the
/// marker taken at construction (its natural use: scratch memory for a scope).
struct FoonathanStack {
  static constexpr const char* name = "foonathan-stack";
  static constexpr bool thread_safe = false;
  static constexpr bool mixed = true;
  using Handle = SharedHandle<FoonathanStack>;
  fm::memory_stack<> stack;
  fm::memory_stack<>::marker start;
  explicit FoonathanStack(const Config&) : stack(1 << 20), start(stack.top()) {}
  SWIM_MEM_FORCEINLINE void* alloc(std::size_t n) { return stack.allocate(n, kAlign); }
  SWIM_MEM_FORCEINLINE void free(void*, std::size_t) {}
  void end_pair() { stack.unwind(start); }  // a pair: allocate, then unwind
  void end_burst() { stack.unwind(start); }
  void release() { stack.shrink_to_fit(); }
};
#endif

}  // namespace swim_bench
