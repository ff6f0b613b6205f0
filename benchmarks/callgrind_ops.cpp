// Workload (f): loops whose instructions benchmarks/callgrind.sh counts with
// `valgrind --tool=callgrind --toggle-collect=cg_measure_*`.
//
//   swim_callgrind <op> <n>
//
// Each op is an extern "C" noinline function cg_measure_<op>(n) that performs the
// operation n times; everything else (building the allocator, the region) runs
// outside those functions and is not counted. callgrind.sh runs n and 2n and
// divides the difference by n, which also removes one-time costs inside the
// function (a first call that initialises malloc, say), then subtracts the `empty`
// loop (the same loop around nothing) to give instructions per operation.
//
// The size (64 bytes) is a compile-time constant, as at a typical call site
// (Layout::of<T>()). In swim_callgrind_{mimalloc,jemalloc,tcmalloc}, malloc is the
// allocator named; swim_callgrind (glibc malloc) also has the swim-mem loops, the
// trivial free list and, where their packages are installed, oneTBB's
// scalable_malloc and foonathan's memory_pool.
//
// Pairs are counted two ways where it matters:
//   <op>_pair           allocate+free with nothing else of the size live: a malloc
//                       that empties its page at the last free pays for that at every
//                       pair (for mimalloc this is checked: the program refuses to
//                       count when its heap holds another 64-byte object);
//   <op>_pair_one_live  the same with one more 64-byte object allocated before the
//                       loop and kept live through it (a Pack or Pool then gives the
//                       pair's bytes back LIFO instead of resetting).
// <op>_alloc counts an allocation alone (the objects stay live).
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "allocators.hpp"

namespace sm = swim::mem;

namespace {

constexpr std::size_t kSize = 64;
constexpr sm::Layout kLayout{kSize, 8};

// Keeps a pointer alive and memory "touched", so that nothing is optimised away.
inline void keep(void* p) { asm volatile("" : : "r"(p) : "memory"); }

struct Setup {
  std::size_t n;
  std::unique_ptr<swim_bench::Region> region;
  explicit Setup(std::size_t count, std::size_t bytes)
      : n(count), region(std::make_unique<swim_bench::Region>(bytes)) {
    std::memset(region->block.ptr, 0, region->block.size);  // fault the pages in now
  }
};

}  // namespace

#define CG_NOINLINE extern "C" __attribute__((noinline))
#define CG_NOINLINE_T __attribute__((always_inline)) inline

#if SWIM_BENCH_SWIM
namespace {
// A heap of large blocks filled with `live` blocks of 1..16 granules (256 B), and
// the random steps of the measured loop: free a live slot, allocate a new size.
constexpr std::size_t kGranule = 256;
struct ExtentSetup {
  std::vector<sm::Block> blocks;
  std::vector<std::uint32_t> slot, size;
  ExtentSetup(std::size_t live, std::size_t steps) : blocks(live), slot(steps), size(steps) {
    std::uint64_t x = 88172645463325252ull;  // xorshift: the same steps every run
    auto next = [&x] {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      return x;
    };
    // The live blocks first: runs of n and 2n steps start from the same heap.
    for (auto& b : blocks) b.size = (1 + next() % 16) * kGranule;
    for (std::size_t i = 0; i < steps; ++i) {
      slot[i] = static_cast<std::uint32_t>(next() % live);
      size[i] = static_cast<std::uint32_t>((1 + next() % 16) * kGranule);
    }
  }
};
}  // namespace

template <class H>
__attribute__((always_inline)) inline void extent_steps(H& heap, ExtentSetup& s, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) {
    sm::Block& b = s.blocks[s.slot[i]];
    (void)heap.try_deallocate(b);
    const sm::Result<sm::Block> r = heap.try_allocate(sm::Layout{s.size[i], 8});
    b = r ? *r : *heap.try_allocate(sm::Layout{kGranule, 8});
    keep(b.ptr);
  }
}
CG_NOINLINE void cg_measure_extent_so_pair(sm::ExtentHeap<sm::single_owner>& heap, ExtentSetup& s,
                                           std::size_t n) {
  extent_steps(heap, s, n);
}
CG_NOINLINE void cg_measure_buddy_so_pair(sm::AddrSpace<sm::single_owner, false>& heap,
                                          ExtentSetup& s, std::size_t n) {
  extent_steps(heap, s, n);
}
#endif

CG_NOINLINE void cg_measure_empty(std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) keep(&n);
}

template <class A>
CG_NOINLINE_T void adapter_pairs(A& a, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) {
    void* p = a.alloc(kSize);
    keep(p);
    a.free(p, kSize);
  }
}

CG_NOINLINE void cg_measure_malloc_pair(std::size_t n) {
  swim_bench::Malloc m{swim_bench::Config{}};
  adapter_pairs(m, n);
}
CG_NOINLINE void cg_measure_malloc_pair_one_live(std::size_t n) {
  swim_bench::Malloc m{swim_bench::Config{}};
  adapter_pairs(m, n);
}

CG_NOINLINE void cg_measure_malloc_alloc(std::size_t n, void** out) {
  for (std::size_t i = 0; i < n; ++i) {
    out[i] = swim_bench::Malloc(swim_bench::Config{}).alloc(kSize);
    keep(out[i]);
  }
}

/// How many 64-byte objects the malloc holds live (mimalloc only: it can say;
/// -1 elsewhere).
long malloc_class_live() {
#if SWIM_BENCH_MALLOC_MIMALLOC
  struct Count {
    std::size_t live;
  } c{0};
  mi_heap_visit_blocks(
      mi_heap_get_default(), false,
      [](const mi_heap_t*, const mi_heap_area_t* area, void*, std::size_t, void* arg) {
        if (area->block_size == kSize) static_cast<Count*>(arg)->live += area->used;
        return true;
      },
      &c);
  return static_cast<long>(c.live);
#else
  return -1;
#endif
}

// The trivial free list (allocators.hpp): the physical limit of a fixed-size pair.
CG_NOINLINE void cg_measure_freelist_pair(swim_bench::TrivialFreeList& list, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) {
    void* p = list.pop();
    keep(p);
    list.push(p);
  }
}

#if SWIM_BENCH_EXTRA_BASELINES
CG_NOINLINE void cg_measure_foonathan_pool_pair(
    foonathan::memory::memory_pool<foonathan::memory::node_pool>& pool, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) {
    void* p = pool.allocate_node();
    keep(p);
    pool.deallocate_node(p);
  }
}
CG_NOINLINE void cg_measure_tbb_pair(std::size_t n) {
  swim_bench::TbbMalloc m{swim_bench::Config{}};
  adapter_pairs(m, n);
}
CG_NOINLINE void cg_measure_tbb_pair_one_live(std::size_t n) {
  swim_bench::TbbMalloc m{swim_bench::Config{}};
  adapter_pairs(m, n);
}
#endif

#if SWIM_BENCH_SWIM
template <class S>
__attribute__((always_inline)) inline void slab_pairs(S& s, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) {
    const sm::Result<sm::Block> r = s.try_allocate(kLayout);
    if (!r) continue;  // as a caller would: use the block only when there is one
    const sm::Block b = r.value();
    keep(b.ptr);
    s.try_deallocate(sm::Block{b.ptr, kSize});
  }
}

CG_NOINLINE void cg_measure_slab_so_pair(sm::Slab<sm::single_owner, false>& s, std::size_t n) {
  slab_pairs(s, n);
}
CG_NOINLINE void cg_measure_slab_lf_pair(sm::Slab<sm::concurrent, false>& s, std::size_t n) {
  slab_pairs(s, n);
}
CG_NOINLINE void cg_measure_slabcache_pair(sm::SlabCache<sm::Slab<sm::concurrent, false>, 64>& c,
                                           std::size_t n) {
  slab_pairs(c, n);
}

template <class H>
__attribute__((always_inline)) inline void hold_allocs(H& h, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) {
    const sm::Result<sm::Block> r = h.try_allocate(kLayout);
    if (!r) continue;
    const sm::Block b = r.value();
    keep(b.ptr);
  }
}

CG_NOINLINE void cg_measure_pack_so_alloc(sm::Pack<sm::single_owner>& p, std::size_t n) {
  hold_allocs(p, n);
}
CG_NOINLINE void cg_measure_pack_lf_alloc(sm::Pack<sm::concurrent>& p, std::size_t n) {
  hold_allocs(p, n);
}
template <class P>
__attribute__((always_inline)) inline void pack_pairs(P& p, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) {
    const sm::Result<sm::Block> r = p.try_allocate(kLayout);
    if (!r) continue;
    const sm::Block b = r.value();
    keep(b.ptr);
    p.try_deallocate(b);
  }
}
CG_NOINLINE void cg_measure_pack_so_pair(sm::Pack<sm::single_owner>& p, std::size_t n) {
  pack_pairs(p, n);
}
CG_NOINLINE void cg_measure_pack_lf_pair(sm::Pack<sm::concurrent>& p, std::size_t n) {
  pack_pairs(p, n);
}
CG_NOINLINE void cg_measure_pack_so_pair_one_live(sm::Pack<sm::single_owner>& p, std::size_t n) {
  pack_pairs(p, n);
}
CG_NOINLINE void cg_measure_pack_lf_pair_one_live(sm::Pack<sm::concurrent>& p, std::size_t n) {
  pack_pairs(p, n);
}

using Space = sm::AddrSpace<sm::concurrent, false>;
using SpaceSo = sm::AddrSpace<sm::single_owner, false>;
CG_NOINLINE void cg_measure_pool_so_alloc(sm::Pool<SpaceSo, sm::single_owner>& p, std::size_t n) {
  hold_allocs(p, n);
}
CG_NOINLINE void cg_measure_pool_lf_alloc(sm::Pool<Space, sm::concurrent>& p, std::size_t n) {
  hold_allocs(p, n);
}
CG_NOINLINE void cg_measure_pool_so_pair(sm::Pool<SpaceSo, sm::single_owner>& p, std::size_t n) {
  pack_pairs(p, n);
}
CG_NOINLINE void cg_measure_pool_lf_pair(sm::Pool<Space, sm::concurrent>& p, std::size_t n) {
  pack_pairs(p, n);
}
CG_NOINLINE void cg_measure_pool_so_pair_one_live(sm::Pool<SpaceSo, sm::single_owner>& p,
                                                  std::size_t n) {
  pack_pairs(p, n);
}
CG_NOINLINE void cg_measure_pool_lf_pair_one_live(sm::Pool<Space, sm::concurrent>& p, std::size_t n) {
  pack_pairs(p, n);
}

// SizeClasses (unchecked) over an ExtentHeap, and the one-call try_malloc / try_free:
// allocate+free pairs of 64 bytes, with nothing else live and with one object kept
// live beside them (so that no allocator can get away with resetting an emptied
// page).
using Extents = sm::ExtentHeap<sm::single_owner>;
template <class H>
CG_NOINLINE_T void classes_pairs(H& h, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) {
    const sm::Result<sm::Block> r = h.try_allocate(kLayout);
    keep(r->ptr);
    (void)h.try_deallocate(*r);
  }
}
using ClassesSo = sm::SizeClasses<Extents, sm::single_owner, false>;
using ClassesLf = sm::SizeClasses<sm::ExtentHeap<sm::concurrent>, sm::concurrent, false>;
CG_NOINLINE void cg_measure_classes_so_pair(ClassesSo& h, std::size_t n) { classes_pairs(h, n); }
CG_NOINLINE void cg_measure_classes_lf_pair(ClassesLf& h, std::size_t n) { classes_pairs(h, n); }
CG_NOINLINE void cg_measure_classes_so_pair_one_live(ClassesSo& h, std::size_t n) {
  classes_pairs(h, n);
}
CG_NOINLINE void cg_measure_classes_lf_pair_one_live(ClassesLf& h, std::size_t n) {
  classes_pairs(h, n);
}
CG_NOINLINE_T void try_malloc_pairs(std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) {
    const sm::Result<sm::Block> r = sm::try_malloc(kSize, 8);
    keep(r->ptr);
    (void)sm::try_free(r->ptr);
  }
}
CG_NOINLINE void cg_measure_try_malloc_pair(std::size_t n) { try_malloc_pairs(n); }
CG_NOINLINE void cg_measure_try_malloc_pair_one_live(std::size_t n) { try_malloc_pairs(n); }
#endif

namespace {

/// Runs `measure` with one 64-byte object of `alloc`/`free` kept live around it when
/// the op ends in _pair_one_live, with none otherwise.
bool one_live(const std::string& op) {
  const std::string suffix = "_pair_one_live";
  return op.size() > suffix.size() && op.compare(op.size() - suffix.size(), suffix.size(), suffix) == 0;
}

/// The malloc pairs: with mimalloc, refuse to count when the heap does not hold
/// exactly what the op claims (no other 64-byte object, or exactly the kept one).
int malloc_pairs(bool keep_one, std::size_t n) {
  void* kept = keep_one ? std::malloc(kSize) : nullptr;
  keep(kept);
  const long live = malloc_class_live();
  if (live >= 0 && live != (keep_one ? 1 : 0)) {
    std::fprintf(stderr, "malloc holds %ld live %zu-byte objects before the loop, expected %d\n", live,
                 kSize, keep_one ? 1 : 0);
    return 3;
  }
  if (keep_one) {
    cg_measure_malloc_pair_one_live(n);
  } else {
    cg_measure_malloc_pair(n);
  }
  std::free(kept);
  return 0;
}

#if SWIM_BENCH_SWIM
/// Pack and Pool pairs, with nothing else live or one object kept live.
template <class H, class F>
void hold_pairs(H& h, bool keep_one, F measure) {
  sm::Block kept{};
  if (keep_one) kept = *h.try_allocate(kLayout);
  measure();
  if (keep_one) (void)h.try_deallocate(kept);
}
#endif

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s <op> <n>\n", argv[0]);
    return 2;
  }
  const std::string op = argv[1];
  const std::size_t n = std::strtoull(argv[2], nullptr, 10);
  const bool keep_one = one_live(op);
  if (op == "empty") {
    cg_measure_empty(n);
  } else if (op == "malloc_pair" || op == "malloc_pair_one_live") {
    return malloc_pairs(keep_one, n);
  } else if (op == "malloc_alloc") {
    std::unique_ptr<void*[]> out(new void*[n]);
    cg_measure_malloc_alloc(n, out.get());
    for (std::size_t i = 0; i < n; ++i) std::free(out[i]);
  } else if (op == "freelist_pair") {
    Setup s(n, 1 << 20);
    swim_bench::TrivialFreeList list(s.region->block, kSize);
    cg_measure_freelist_pair(list, n);
#if SWIM_BENCH_EXTRA_BASELINES
  } else if (op == "foonathan_pool_pair") {
    foonathan::memory::memory_pool<foonathan::memory::node_pool> pool(kSize, 1 << 20);
    cg_measure_foonathan_pool_pair(pool, n);
  } else if (op == "tbb_pair" || op == "tbb_pair_one_live") {
    void* kept = keep_one ? scalable_malloc(kSize) : nullptr;
    keep(kept);
    if (keep_one) {
      cg_measure_tbb_pair_one_live(n);
    } else {
      cg_measure_tbb_pair(n);
    }
    scalable_free(kept);
#endif
#if SWIM_BENCH_SWIM
  } else if (op == "slab_so_pair") {
    Setup s(n, 1 << 20);
    sm::Slab<sm::single_owner, false> slab(s.region->block, kSize);
    cg_measure_slab_so_pair(slab, n);
  } else if (op == "slab_lf_pair") {
    Setup s(n, 1 << 20);
    sm::Slab<sm::concurrent, false> slab(s.region->block, kSize);
    cg_measure_slab_lf_pair(slab, n);
  } else if (op == "slabcache_pair") {
    Setup s(n, 1 << 20);
    sm::Slab<sm::concurrent, false> slab(s.region->block, kSize);
    {
      sm::SlabCache<sm::Slab<sm::concurrent, false>, 64> cache(slab);
      cg_measure_slabcache_pair(cache, n);
    }
  } else if (op == "pack_so_alloc" || op == "pack_lf_alloc") {
    Setup s(n, n * (kSize + 8) + (1 << 20));
    // The objects stay live: std::exit skips the Packs' leak report.
    if (op == "pack_lf_alloc") {
      sm::Pack<sm::concurrent> pack(s.region->block);
      cg_measure_pack_lf_alloc(pack, n);
      std::printf("live %zu\n", pack.stats().live);
      std::exit(0);
    }
    sm::Pack<sm::single_owner> pack(s.region->block);
    cg_measure_pack_so_alloc(pack, n);
    std::printf("live %zu\n", pack.stats().live);
    std::exit(0);
  } else if (op.rfind("pack_so_pair", 0) == 0) {
    Setup s(n, 1 << 20);
    sm::Pack<sm::single_owner> pack(s.region->block);
    hold_pairs(pack, keep_one, [&] {
      keep_one ? cg_measure_pack_so_pair_one_live(pack, n) : cg_measure_pack_so_pair(pack, n);
    });
  } else if (op.rfind("pack_lf_pair", 0) == 0) {
    Setup s(n, 1 << 20);
    sm::Pack<sm::concurrent> pack(s.region->block);
    hold_pairs(pack, keep_one, [&] {
      keep_one ? cg_measure_pack_lf_pair_one_live(pack, n) : cg_measure_pack_lf_pair(pack, n);
    });
  } else if (op.rfind("extent_so_pair_", 0) == 0 || op.rfind("buddy_so_pair_", 0) == 0) {
    // <heap>_so_pair_<live>: a free and an allocation of 1..16 granules, <live> live.
    const std::size_t live = std::strtoull(op.c_str() + op.rfind('_') + 1, nullptr, 10);
    ExtentSetup s(live, n);
    const std::size_t bytes = live * 17 * kGranule + (64 << 20);
    swim_bench::Region region(bytes + bytes / 8 + (1 << 20));
    if (op[0] == 'e') {
      std::vector<sm::detail::ExtentRecord> records(bytes / kGranule);
      sm::ExtentHeap<sm::single_owner> heap(sm::Block{region.block.ptr, bytes}, kGranule,
                                            sm::Block{records.data(), records.size() * 16});
      for (auto& b : s.blocks) b = *heap.try_allocate(sm::Layout{b.size, 8});
      cg_measure_extent_so_pair(heap, s, n);
      for (auto& b : s.blocks) (void)heap.try_deallocate(b);
    } else {
      sm::AddrSpace<sm::single_owner, false> heap(region.block, kGranule);
      for (auto& b : s.blocks) b = *heap.try_allocate(sm::Layout{b.size, 8});
      cg_measure_buddy_so_pair(heap, s, n);
      for (auto& b : s.blocks) (void)heap.try_deallocate(b);
    }
  } else if (op == "pool_so_alloc") {
    Setup s(n, n * (kSize + 8) * 2 + (8 << 20));
    SpaceSo space(s.region->block, 4096);
    sm::Pool<SpaceSo, sm::single_owner> pool(space);
    cg_measure_pool_so_alloc(pool, n);
    std::printf("live %zu hunks %zu\n", pool.stats().live, pool.hunk_count());
    std::exit(0);
  } else if (op == "pool_lf_alloc") {
    Setup s(n, n * (kSize + 8) * 2 + (8 << 20));
    Space space(s.region->block, 4096);
    sm::Pool<Space, sm::concurrent> pool(space);
    cg_measure_pool_lf_alloc(pool, n);
    std::printf("live %zu hunks %zu\n", pool.stats().live, pool.hunk_count());
    std::exit(0);
  } else if (op.rfind("pool_so_pair", 0) == 0) {
    Setup s(n, 8 << 20);
    SpaceSo space(s.region->block, 4096);
    sm::Pool<SpaceSo, sm::single_owner> pool(space);
    hold_pairs(pool, keep_one, [&] {
      keep_one ? cg_measure_pool_so_pair_one_live(pool, n) : cg_measure_pool_so_pair(pool, n);
    });
  } else if (op.rfind("pool_lf_pair", 0) == 0) {
    Setup s(n, 8 << 20);
    Space space(s.region->block, 4096);
    sm::Pool<Space, sm::concurrent> pool(space);
    hold_pairs(pool, keep_one, [&] {
      keep_one ? cg_measure_pool_lf_pair_one_live(pool, n) : cg_measure_pool_lf_pair(pool, n);
    });
  } else if (op.rfind("classes_so_pair", 0) == 0) {
    Setup s(n, 16 << 20);
    Extents heap(s.region->block, 4096);
    ClassesSo h(heap);
    hold_pairs(h, keep_one, [&] {
      keep_one ? cg_measure_classes_so_pair_one_live(h, n) : cg_measure_classes_so_pair(h, n);
    });
  } else if (op.rfind("classes_lf_pair", 0) == 0) {
    Setup s(n, 16 << 20);
    sm::ExtentHeap<sm::concurrent> heap(s.region->block, 4096);
    ClassesLf h(heap);
    hold_pairs(h, keep_one, [&] {
      keep_one ? cg_measure_classes_lf_pair_one_live(h, n) : cg_measure_classes_lf_pair(h, n);
    });
  } else if (op == "try_malloc_pair" || op == "try_malloc_pair_one_live") {
    const sm::Block kept = keep_one ? *sm::try_malloc(kSize, 8) : sm::Block{};
    if (keep_one) {
      cg_measure_try_malloc_pair_one_live(n);
    } else {
      cg_measure_try_malloc_pair(n);
    }
    if (keep_one) (void)sm::try_free(kept.ptr);
#endif
  } else {
    std::fprintf(stderr, "unknown op %s\n", op.c_str());
    return 2;
  }
  return 0;
}
