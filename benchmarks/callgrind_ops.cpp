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
// (Layout::of<T>()). In swim_callgrind_mimalloc, malloc is mimalloc.
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

CG_NOINLINE void cg_measure_malloc_pair(std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) {
    swim_bench::Malloc m{swim_bench::Config{}};
    void* p = m.alloc(kSize);
    keep(p);
    m.free(p, kSize);
  }
}

CG_NOINLINE void cg_measure_malloc_alloc(std::size_t n, void** out) {
  for (std::size_t i = 0; i < n; ++i) {
    out[i] = swim_bench::Malloc(swim_bench::Config{}).alloc(kSize);
    keep(out[i]);
  }
}

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

using Space = sm::AddrSpace<sm::concurrent, false>;
using SpaceSo = sm::AddrSpace<sm::single_owner, false>;
CG_NOINLINE void cg_measure_pool_so_alloc(sm::Pool<SpaceSo, sm::single_owner>& p, std::size_t n) {
  hold_allocs(p, n);
}
CG_NOINLINE void cg_measure_pool_lf_alloc(sm::Pool<Space, sm::concurrent>& p, std::size_t n) {
  hold_allocs(p, n);
}

// SizeClasses (unchecked) over an ExtentHeap, and the one-call try_malloc / try_free:
// allocate+free pairs of 64 bytes, one object kept live beside them (so that no
// allocator can get away with resetting an emptied page).
using Extents = sm::ExtentHeap<sm::single_owner>;
template <class H>
CG_NOINLINE_T void classes_pairs(H& h, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) {
    const sm::Result<sm::Block> r = h.try_allocate(kLayout);
    keep(r->ptr);
    (void)h.try_deallocate(*r);
  }
}
CG_NOINLINE void cg_measure_classes_so_pair(sm::SizeClasses<Extents, sm::single_owner, false>& h,
                                            std::size_t n) {
  classes_pairs(h, n);
}
CG_NOINLINE void cg_measure_classes_lf_pair(
    sm::SizeClasses<sm::ExtentHeap<sm::concurrent>, sm::concurrent, false>& h, std::size_t n) {
  classes_pairs(h, n);
}
CG_NOINLINE void cg_measure_try_malloc_pair(std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) {
    const sm::Result<sm::Block> r = sm::try_malloc(kSize, 8);
    keep(r->ptr);
    (void)sm::try_free(r->ptr);
  }
}
#endif

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s <op> <n>\n", argv[0]);
    return 2;
  }
  const std::string op = argv[1];
  const std::size_t n = std::strtoull(argv[2], nullptr, 10);
  if (op == "empty") {
    cg_measure_empty(n);
  } else if (op == "malloc_pair") {
    cg_measure_malloc_pair(n);
  } else if (op == "malloc_alloc") {
    std::unique_ptr<void*[]> out(new void*[n]);
    cg_measure_malloc_alloc(n, out.get());
    for (std::size_t i = 0; i < n; ++i) std::free(out[i]);
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
  } else if (op == "pack_so_alloc" || op == "pack_lf_alloc" || op == "pack_so_pair") {
    Setup s(n, n * (kSize + 8) + (1 << 20));
    if (op == "pack_lf_alloc") {
      sm::Pack<sm::concurrent> pack(s.region->block);
      cg_measure_pack_lf_alloc(pack, n);
      std::printf("live %zu\n", pack.stats().live);
      std::exit(0);  // the objects stay live: skip the leak report
    }
    sm::Pack<sm::single_owner> pack(s.region->block);
    if (op == "pack_so_pair") {
      cg_measure_pack_so_pair(pack, n);
    } else {
      cg_measure_pack_so_alloc(pack, n);
      std::printf("live %zu\n", pack.stats().live);
      std::exit(0);
    }
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
  } else if (op == "classes_so_pair") {
    Setup s(n, 16 << 20);
    Extents heap(s.region->block, 4096);
    sm::SizeClasses<Extents, sm::single_owner, false> h(heap);
    const sm::Block kept = *h.try_allocate(kLayout);
    cg_measure_classes_so_pair(h, n);
    (void)h.try_deallocate(kept);
  } else if (op == "classes_lf_pair") {
    Setup s(n, 16 << 20);
    sm::ExtentHeap<sm::concurrent> heap(s.region->block, 4096);
    sm::SizeClasses<sm::ExtentHeap<sm::concurrent>, sm::concurrent, false> h(heap);
    const sm::Block kept = *h.try_allocate(kLayout);
    cg_measure_classes_lf_pair(h, n);
    (void)h.try_deallocate(kept);
  } else if (op == "try_malloc_pair") {
    const sm::Block kept = *sm::try_malloc(kSize, 8);
    cg_measure_try_malloc_pair(n);
    (void)sm::try_free(kept.ptr);
  } else if (op == "pool_lf_alloc") {
    Setup s(n, n * (kSize + 8) * 2 + (8 << 20));
    Space space(s.region->block, 4096);
    sm::Pool<Space, sm::concurrent> pool(space);
    cg_measure_pool_lf_alloc(pool, n);
    std::printf("live %zu hunks %zu\n", pool.stats().live, pool.hunk_count());
    std::exit(0);
#endif
  } else {
    std::fprintf(stderr, "unknown op %s\n", op.c_str());
    return 2;
  }
  return 0;
}
