// The host benchmark binaries, one Google Benchmark program per malloc: this file
// (main, and which workloads run for which allocator, in what order) and the
// workloads in benchmarks/workloads/ are compiled, as one translation unit
// (benchmarks/CMakeLists.txt says why), into swim_bench (glibc malloc, swim-mem,
// oneTBB, foonathan::memory) and into swim_bench_{mimalloc,jemalloc,tcmalloc}, where
// the named allocator replaces malloc and is the only one measured.
//
//   workloads/pair.cpp            (a) single-thread allocate/free pairs (nothing else
//                                     live, and 64 B with one object kept live)
//   workloads/burst.cpp           (b) bursts, freed in LIFO or random order
//   workloads/xthread.cpp         (c) producer/consumer, cross-thread frees
//   workloads/latency.cpp         (d) latency per operation on a fragmented heap
//   workloads/overhead.cpp        (e) bytes of overhead per object
//   workloads/fragmentation.cpp   (e) fragmentation after churn
//   workloads/compaction.cpp      (e) the same for a leased tree, then compaction or stow
//   workloads/lease_overhead.cpp  (e) bytes of overhead per leased object
//   workloads/stow.cpp            (e') stow throughput
//   workloads/mixed.cpp           (g) mixed sizes 16 B..4 KiB, time and resident memory
//
// Benchmark names are <workload>/<parameter>/<allocator>; run.sh and summarize.py
// rely on that. SWIM_BENCH_QUICK=1 in the environment shrinks the workloads (smoke
// runs); the full sizes are those docs/benchmarks.md reports.
#include <cstdio>

#include "workload_support.hpp"

namespace swim_bench {
namespace {

/// The workloads of one allocator, in the order they run.
template <class A>
void register_all(Suits suits) {
  register_pair<A>(suits);
  register_burst<A>(suits);
  register_xthread<A>(suits);
  register_latency<A>(suits);
  register_overhead<A>(suits);
  register_fragmentation<A>(suits);
  register_mixed<A>(suits);
}

}  // namespace
}  // namespace swim_bench

int main(int argc, char** argv) {
  using namespace swim_bench;
  if (!malloc_is_replaced()) {
    std::fprintf(stderr, "%s: malloc is not %s; check how the binary was linked\n", argv[0],
                 Malloc::name);
    return 1;
  }
  // Bump allocators (Pack, memory_stack) reclaim only when everything is freed,
  // so an endless churn of random frees would exhaust them: they skip latency,
  // xthread and fragmentation. Slabs are fixed regions whose footprint is their
  // provisioning, not their fragmentation: they skip the fragmentation workload
  // (see docs/benchmarks.md).
  [[maybe_unused]] constexpr Suits all{};
  [[maybe_unused]] constexpr Suits no_frag{true, false};
  [[maybe_unused]] constexpr Suits bump{false, false};
  register_all<Malloc>(all);
#if SWIM_BENCH_SWIM
  register_all<SlabCache64>(no_frag);
  register_all<SlabSo>(no_frag);
  register_all<SlabLf>(no_frag);
  register_all<PackSo>(bump);
  register_all<PackLf>(bump);
  register_all<PoolSo>(all);
  register_all<PoolLf>(all);
  register_all<AddrLf>(all);
  register_all<ClassesSo>(all);
  register_all<ClassesLf>(all);
  register_all<SwimMalloc>(all);
  // The physical limit of the fixed-size paths (a baseline, not swim-mem): single
  // thread, so no xthread; a fixed region, so no fragmentation or mixed workload.
  register_all<FreeListBaseline>(no_frag);
  // (e) compaction and lease overhead, (e') stow: swim-mem only (nothing else relocates).
  register_compaction();
  register_stow();
  register_lease_overhead();
#endif
#if SWIM_BENCH_EXTRA_BASELINES
  register_all<TbbMalloc>(all);
  register_all<FoonathanPool>(all);
  register_all<FoonathanStack>(bump);
#endif
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::AddCustomContext("malloc", Malloc::name);
  benchmark::AddCustomContext("quick", quick() ? "1" : "0");
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
