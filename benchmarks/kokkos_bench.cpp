// Kokkos: Views in swim-mem's HostSpace against Kokkos::HostSpace, and the
// allocator Handle against Kokkos::MemoryPool inside parallel_for, in one run.
//
//   view/<space>/<bytes>        create and destroy one View of <bytes> (64 B .. 64 MiB),
//                               WithoutInitializing: the space's allocation and free
//                               and Kokkos' allocation record, not the zero fill
//   view_init/<space>/<bytes>   the same with Kokkos' default zero fill (what
//                               View("label", n) costs a user)
//   pool/<allocator>/<bytes>    parallel_for over 2^16 iterations on the default host
//                               execution space, each allocating <bytes> and freeing
//                               it (16 B .. 4 KiB); items/s are allocate+free pairs
//
// Spaces: Kokkos::HostSpace; swim::mem::kokkos::HostSpace over the process hold
// (the default instance) and over a SpaceBinding to a SizeClasses hold.
// Allocators: Kokkos::MemoryPool<DefaultHostExecutionSpace> (blocks of 16 B .. 4 KiB
// in 1 MiB superblocks, 64 MiB in all) and Handle over a SizeClasses hold and over
// the process hold. docs/benchmarks.md has the figures and ratios.
#include <benchmark/benchmark.h>

#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "swim/mem/integrations/kokkos.hpp"
#include "swim/mem/sources.hpp"

namespace {

namespace sm = swim::mem;
using Exec = Kokkos::DefaultHostExecutionSpace;
using Classes = sm::SizeClasses<sm::SourceHeap<sm::OsPages, sm::concurrent>>;

/// The hold that the bound spaces and handles draw from, for the whole run.
struct Holds {
  sm::SourceHeap<sm::OsPages, sm::concurrent> pages;
  Classes classes{pages};
  sm::SpaceBinding binding{classes, "bench size classes"};
};
Holds* g_holds = nullptr;

/// Marks the swim-mem HostSpace bound to the SizeClasses hold.
struct BoundSpace {};
template <class Space>
using space_type =
    std::conditional_t<std::is_same_v<Space, BoundSpace>, sm::kokkos::HostSpace, Space>;

template <class Space>
space_type<Space> space_for() {
  if constexpr (std::is_same_v<Space, BoundSpace>) {
    return sm::kokkos::HostSpace(g_holds->binding);
  } else {
    return Space();
  }
}

template <class Space, bool Init>
void view(benchmark::State& state) {
  const auto bytes = static_cast<std::size_t>(state.range(0));
  const space_type<Space> space = space_for<Space>();
  for (auto _ : state) {
    if constexpr (Init) {
      Kokkos::View<char*, space_type<Space>> v(Kokkos::view_alloc(space, "v"), bytes);
      benchmark::DoNotOptimize(v.data());
    } else {
      Kokkos::View<char*, space_type<Space>> v(
          Kokkos::view_alloc(space, Kokkos::WithoutInitializing, "v"), bytes);
      benchmark::DoNotOptimize(v.data());
    }
  }
  state.SetItemsProcessed(state.iterations());
}

constexpr int kPairs = 1 << 16;

/// Each iteration of a parallel_for allocates `bytes` from `a`, touches it and frees it.
template <class Allocator>
void pairs(benchmark::State& state, const Allocator& a) {
  const auto bytes = static_cast<std::size_t>(state.range(0));
  long failed = 0;
  for (auto _ : state) {
    long bad = 0;
    Kokkos::parallel_reduce(
        Kokkos::RangePolicy<Exec>(0, kPairs),
        KOKKOS_LAMBDA(int i, long& b) {
          auto* p = static_cast<unsigned char*>(a.allocate(bytes));
          if (p == nullptr) {
            ++b;
            return;
          }
          p[0] = static_cast<unsigned char>(i);
          a.deallocate(p, bytes);
        },
        bad);
    failed += bad;
  }
  state.SetItemsProcessed(state.iterations() * kPairs);
  state.counters["failed"] = static_cast<double>(failed);
}

void pool_kokkos(benchmark::State& state) {
  const Kokkos::MemoryPool<Exec> pool(Kokkos::HostSpace(), std::size_t(64) << 20, 16, 4096,
                                      std::size_t(1) << 20);
  pairs(state, pool);
}
void pool_handle_classes(benchmark::State& state) {
  pairs(state, sm::kokkos::Handle::of(g_holds->classes));
}
void pool_handle_process(benchmark::State& state) {
  pairs(state, sm::kokkos::Handle::process());
}

void view_sizes(benchmark::internal::Benchmark* b) {
  for (std::int64_t bytes : {64, 1024, 4096, 65536, 1 << 20, 64 << 20}) b->Arg(bytes);
}
void pool_sizes(benchmark::internal::Benchmark* b) {
  for (std::int64_t bytes : {16, 64, 256, 1024, 4096}) b->Arg(bytes);
}

}  // namespace

int main(int argc, char** argv) {
  Kokkos::ScopeGuard kokkos(argc, argv);
  Holds holds;
  g_holds = &holds;
  benchmark::RegisterBenchmark("view/Kokkos::HostSpace", view<Kokkos::HostSpace, false>)->Apply(view_sizes);
  benchmark::RegisterBenchmark("view/swim-HostSpace", view<sm::kokkos::HostSpace, false>)->Apply(view_sizes);
  benchmark::RegisterBenchmark("view/swim-HostSpace-SizeClasses", view<BoundSpace, false>)->Apply(view_sizes);
  benchmark::RegisterBenchmark("view_init/Kokkos::HostSpace", view<Kokkos::HostSpace, true>)->Apply(view_sizes);
  benchmark::RegisterBenchmark("view_init/swim-HostSpace", view<sm::kokkos::HostSpace, true>)->Apply(view_sizes);
  benchmark::RegisterBenchmark("pool/Kokkos::MemoryPool", pool_kokkos)->Apply(pool_sizes)->UseRealTime();
  benchmark::RegisterBenchmark("pool/swim-Handle-SizeClasses", pool_handle_classes)->Apply(pool_sizes)->UseRealTime();
  benchmark::RegisterBenchmark("pool/swim-Handle-process", pool_handle_process)->Apply(pool_sizes)->UseRealTime();
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  g_holds = nullptr;
  return 0;
}
