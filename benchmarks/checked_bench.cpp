// What the checks of checked builds cost: each allocator with the checks of its
// `Checked` parameter on and off, in the same run (docs/hardening.md has the ratios).
//
//   checked_pair/<allocator>/<checked|fast>
//       free one of 256 live blocks of 64 bytes and allocate one in its place, in a
//       ring: one allocate + free pair per iteration, single-threaded, the
//       allocator's own size (a Slab unit of 64 bytes; the holds' 64-byte objects).
//
// Built twice (benchmarks/CMakeLists.txt): swim_bench_checked with the build's
// default debug fill (off in Release), and swim_bench_checked_fill with
// SWIM_MEM_DEBUG_FILL=1, whose numbers against the first give the fill's cost.
#include <benchmark/benchmark.h>

#include <array>
#include <cstddef>
#include <memory>
#include <new>

#include "swim/mem.hpp"

namespace sm = swim::mem;

namespace {

constexpr std::size_t kLive = 256;
constexpr std::size_t kSize = 64;

struct Region {
  explicit Region(std::size_t bytes)
      : ptr(static_cast<std::byte*>(::operator new(bytes, std::align_val_t{4096}))), size(bytes) {}
  ~Region() { ::operator delete(ptr, std::align_val_t{4096}); }
  sm::Block block() const { return sm::Block{ptr, size}; }
  std::byte* ptr;
  std::size_t size;
};

/// The ring: kLive blocks live, each iteration frees the oldest and allocates anew.
template <class A>
void run_ring(benchmark::State& state, A& a) {
  std::array<sm::Block, kLive> live{};
  for (auto& b : live) b = a.try_allocate(sm::Layout{kSize, 8}).take();
  std::size_t i = 0;
  for (auto _ : state) {
    if (a.try_deallocate(live[i]) != sm::Error::none) state.SkipWithError("free failed");
    sm::Result<sm::Block> r = a.try_allocate(sm::Layout{kSize, 8});
    if (!r) {
      state.SkipWithError("allocation failed");
      break;
    }
    live[i] = *r;
    benchmark::DoNotOptimize(live[i].ptr);
    i = (i + 1) % kLive;
  }
  for (auto& b : live) (void)a.try_deallocate(b);
  state.SetItemsProcessed(state.iterations());
}

template <bool Checked>
void slab_pair(benchmark::State& state) {
  Region r(1 << 20);
  sm::Slab<sm::concurrent, Checked> slab(r.block(), kSize);
  run_ring(state, slab);
}

template <bool Checked>
void slab_cache_pair(benchmark::State& state) {
  Region r(1 << 20);
  sm::Slab<sm::concurrent, Checked> slab(r.block(), kSize);
  sm::SlabCache<sm::Slab<sm::concurrent, Checked>, 64> cache(slab);
  run_ring(state, cache);
}

template <bool Checked>
void addr_space_pair(benchmark::State& state) {
  Region r(8 << 20);
  sm::AddrSpace<sm::concurrent, Checked> space(r.block(), 4096);
  run_ring(state, space);
}

template <bool Checked>
void pool_pair(benchmark::State& state) {
  Region r(8 << 20);
  sm::AddrSpace<sm::concurrent, false> space(r.block(), 4096);
  sm::Pool<sm::AddrSpace<sm::concurrent, false>, sm::concurrent, Checked> pool(space);
  run_ring(state, pool);
}

template <bool Checked>
void size_classes_pair(benchmark::State& state) {
  Region r(16 << 20);
  sm::ExtentHeap<sm::concurrent> heap(r.block(), 4096);
  sm::SizeClasses<sm::ExtentHeap<sm::concurrent>, sm::concurrent, Checked> hold(heap);
  run_ring(state, hold);
}

BENCHMARK(slab_pair<true>)->Name("checked_pair/Slab/checked");
BENCHMARK(slab_pair<false>)->Name("checked_pair/Slab/fast");
BENCHMARK(slab_cache_pair<true>)->Name("checked_pair/SlabCache/checked");
BENCHMARK(slab_cache_pair<false>)->Name("checked_pair/SlabCache/fast");
BENCHMARK(addr_space_pair<true>)->Name("checked_pair/AddrSpace/checked");
BENCHMARK(addr_space_pair<false>)->Name("checked_pair/AddrSpace/fast");
BENCHMARK(pool_pair<true>)->Name("checked_pair/Pool/checked");
BENCHMARK(pool_pair<false>)->Name("checked_pair/Pool/fast");
BENCHMARK(size_classes_pair<true>)->Name("checked_pair/SizeClasses/checked");
BENCHMARK(size_classes_pair<false>)->Name("checked_pair/SizeClasses/fast");

}  // namespace

BENCHMARK_MAIN();
