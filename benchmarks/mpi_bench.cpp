// swim_bench_mpi: NodeSlab (integrations/mpi.hpp) allocate+free pairs under
// mpiexec, every figure from one run:
//
//   private/alone       rank 0's own Slab<concurrent> in its own memory (direct
//                       addresses), the other ranks asleep: the baseline, a lock-free
//                       free list no one shares
//   private/all_ranks   every rank on a private Slab of its own, at once
//   node/alone          rank 0 alone on the NodeSlab, the other ranks asleep
//   node/all_ranks      every rank at once on the one NodeSlab (contended head)
//   node/handoff        every rank at once, each unit freed by the next rank (its
//                       offset handed over through a slot in a second window)
//   */all_ranks_cached  every rank at once through a SlabCache<64> of its own over
//                       its private Slab, or over the one NodeSlab
//   pool_private/alone, pool_private/all_ranks
//                       a Pool<Slab<concurrent>> (64 KiB hunks) of rank 0's own, or
//                       of every rank's own: the baseline for the NodePool rows
//   pool_node/alone, pool_node/all_ranks
//                       the one NodePool (integrations/mpi/node_pool.hpp), rank 0
//                       alone or every rank at once: relative tags and hunk words,
//                       hunks reused as they empty
//   pool_node_per_rank/alone, pool_node_per_rank/all_ranks
//                       a NodePool with options.per_rank: a Pool of each rank's own
//                       over the one Slab of hunks in the window
//   sizes_private/*, sizes_node/*, sizes_node_per_rank/*
//                       the same three for the general-purpose hold: a
//                       SizeClasses<Slab<concurrent, false>> of each rank's own (256 KiB
//                       units), a NodeSizeClasses, and one with options.per_rank
//
// Each benchmark is one iteration of `pairs` pairs per working rank; its time is
// the slowest working rank's (MPI_Wtime, manual time), so items_per_second is the
// node's throughput. Ranks that do not work wait without spinning (an Ibarrier
// tested every 200 us), so "alone" has the cores to itself.
//
//   mpiexec -n 4 ./build/release/benchmarks/swim_bench_mpi --benchmark_repetitions=5
//
// Only rank 0 reports. On a machine with fewer cores than ranks (oversubscribed)
// the all-ranks figures measure the scheduler as much as the heap: docs/benchmarks.md.
#include <benchmark/benchmark.h>
#include <mpi.h>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <memory>
#include <new>
#include <vector>

#include "swim/mem.hpp"
#include "mpi_report.hpp"
#include "swim/mem/integrations/mpi.hpp"

namespace sm = swim::mem;

namespace {

constexpr std::size_t unit = 64;
constexpr std::size_t units = 1 << 16;
constexpr std::int64_t pairs = 1 << 20;

MPI_Comm g_node = MPI_COMM_NULL;
int g_rank = 0;
int g_ranks = 1;

void quiet_barrier() {
  MPI_Request req;
  MPI_Ibarrier(g_node, &req);
  int done = 0;
  timespec nap{0, 200000};
  for (MPI_Test(&req, &done, MPI_STATUS_IGNORE); done == 0;
       MPI_Test(&req, &done, MPI_STATUS_IGNORE)) {
    nanosleep(&nap, nullptr);
  }
}

// Times body() on the working ranks; the iteration time is the slowest one's.
template <class Body>
void timed(benchmark::State& state, bool works, Body body) {
  for (auto _ : state) {
    quiet_barrier();
    const double t0 = MPI_Wtime();
    std::int64_t done = works ? body() : 0;
    const double mine = works ? MPI_Wtime() - t0 : 0.0;
    double slowest = 0;
    std::int64_t total = 0;
    quiet_barrier();
    MPI_Allreduce(&mine, &slowest, 1, MPI_DOUBLE, MPI_MAX, g_node);
    MPI_Allreduce(&done, &total, 1, MPI_INT64_T, MPI_SUM, g_node);
    state.SetIterationTime(slowest);
    state.SetItemsProcessed(total);
    int working = works ? 1 : 0, all = 0;
    MPI_Allreduce(&working, &all, 1, MPI_INT, MPI_SUM, g_node);
    state.counters["working_ranks"] = all;
  }
}

// n allocate+free pairs, `batch` units held at a time (a burst, then freed).
template <class Alloc, class Free>
std::int64_t pairs_of(Alloc alloc, Free free) {
  constexpr int batch = 16;
  void* held[batch];
  std::int64_t n = 0;
  while (n < pairs) {
    for (int k = 0; k < batch; ++k) held[k] = alloc();
    for (int k = 0; k < batch; ++k) free(held[k]);
    n += batch;
  }
  return n;
}

void private_slab(benchmark::State& state, bool everyone) {
  auto arena = std::make_unique<std::byte[]>(units * unit + 4096);
  sm::Slab<sm::concurrent, false> slab(sm::Block{arena.get(), units * unit + 4096}, unit);
  timed(state, everyone || g_rank == 0, [&] {
    return pairs_of([&] { return slab.try_allocate(sm::Layout{unit, 8})->ptr; },
                    [&](void* p) { (void)slab.try_deallocate(sm::Block{p, unit}); });
  });
}

void private_alone(benchmark::State& state) { private_slab(state, false); }
void private_all_ranks(benchmark::State& state) { private_slab(state, true); }

sm::mpi::NodeSlab<false>* g_slab = nullptr;

void node(benchmark::State& state, bool everyone) {
  sm::mpi::NodeSlab<false>& s = *g_slab;
  timed(state, everyone || g_rank == 0, [&] {
    return pairs_of([&] { return s.try_allocate(sm::Layout{unit, 8})->ptr; },
                    [&](void* p) { (void)s.try_deallocate(sm::Block{p, unit}); });
  });
}
// Every rank through a SlabCache over the NodeSlab's Slab: a batch of 32 units per
// CAS on the shared head.
void node_all_ranks_cached(benchmark::State& state) {
  sm::SlabCache<sm::mpi::NodeSlab<false>::slab_type, 64> cache(g_slab->slab());
  timed(state, true, [&] {
    return pairs_of([&] { return cache.try_allocate(sm::Layout{unit, 8})->ptr; },
                    [&](void* p) { (void)cache.try_deallocate(sm::Block{p, unit}); });
  });
}
void private_all_ranks_cached(benchmark::State& state) {
  auto arena = std::make_unique<std::byte[]>(units * unit + 4096);
  sm::Slab<sm::concurrent, false> slab(sm::Block{arena.get(), units * unit + 4096}, unit);
  sm::SlabCache<sm::Slab<sm::concurrent, false>, 64> cache(slab);
  timed(state, true, [&] {
    return pairs_of([&] { return cache.try_allocate(sm::Layout{unit, 8})->ptr; },
                    [&](void* p) { (void)cache.try_deallocate(sm::Block{p, unit}); });
  });
}
// A Pool over a Slab of 64 KiB hunks, in this rank's own memory.
void private_pool(benchmark::State& state, bool everyone) {
  using Hunks = sm::Slab<sm::concurrent, false>;
  auto arena = std::make_unique<std::byte[]>(16 << 20);
  Hunks hunks(sm::Block{arena.get(), 16 << 20}, 64 * 1024);
  sm::Pool<Hunks, sm::concurrent, false> pool(hunks, 64 * 1024);
  timed(state, everyone || g_rank == 0, [&] {
    return pairs_of([&] { return pool.try_allocate(sm::Layout{unit, 8})->ptr; },
                    [&](void* p) { (void)pool.try_deallocate(sm::Block{p, unit}); });
  });
}
void pool_private_alone(benchmark::State& state) { private_pool(state, false); }
void pool_private_all_ranks(benchmark::State& state) { private_pool(state, true); }

sm::mpi::NodePool<int, false>* g_pool = nullptr;
sm::mpi::NodePool<int, false>* g_pool_per_rank = nullptr;
void node_pool(benchmark::State& state, bool everyone, sm::mpi::NodePool<int, false>* np = g_pool) {
  auto& pool = *np->get();
  timed(state, everyone || g_rank == 0, [&] {
    return pairs_of([&] { return pool.try_allocate(sm::Layout{unit, 8})->ptr; },
                    [&](void* p) { (void)pool.try_deallocate(sm::Block{p, unit}); });
  });
}
void pool_node_alone(benchmark::State& state) { node_pool(state, false); }
void pool_node_all_ranks(benchmark::State& state) { node_pool(state, true); }
void pool_node_per_rank_alone(benchmark::State& state) { node_pool(state, false, g_pool_per_rank); }

// The general-purpose hold, in this rank's own memory: a SizeClasses over a Slab of
// 256 KiB units (a hunk each).
void private_sizes(benchmark::State& state, bool everyone) {
  using Units = sm::Slab<sm::concurrent, false>;
  auto arena = std::make_unique<std::byte[]>(32 << 20);
  Units units(sm::Block{arena.get(), 32 << 20}, 256 * 1024);
  sm::SizeClasses<Units, sm::concurrent, false> hold(units);
  timed(state, everyone || g_rank == 0, [&] {
    return pairs_of([&] { return hold.try_allocate(sm::Layout{unit, 8})->ptr; },
                    [&](void* p) { (void)hold.try_deallocate(sm::Block{p, unit}); });
  });
}
void sizes_private_alone(benchmark::State& state) { private_sizes(state, false); }
void sizes_private_all_ranks(benchmark::State& state) { private_sizes(state, true); }

sm::mpi::NodeSizeClasses<int, false>* g_sizes = nullptr;
sm::mpi::NodeSizeClasses<int, false>* g_sizes_per_rank = nullptr;
void node_sizes(benchmark::State& state, bool everyone, sm::mpi::NodeSizeClasses<int, false>* ns) {
  auto& hold = *ns->get();
  timed(state, everyone || g_rank == 0, [&] {
    return pairs_of([&] { return hold.try_allocate(sm::Layout{unit, 8})->ptr; },
                    [&](void* p) { (void)hold.try_deallocate(sm::Block{p, unit}); });
  });
}
void sizes_node_alone(benchmark::State& state) { node_sizes(state, false, g_sizes); }
void sizes_node_all_ranks(benchmark::State& state) { node_sizes(state, true, g_sizes); }
void sizes_node_per_rank_alone(benchmark::State& state) { node_sizes(state, false, g_sizes_per_rank); }
void sizes_node_per_rank_all_ranks(benchmark::State& state) {
  node_sizes(state, true, g_sizes_per_rank);
}
void pool_node_per_rank_all_ranks(benchmark::State& state) {
  node_pool(state, true, g_pool_per_rank);
}

void node_alone(benchmark::State& state) { node(state, false); }
void node_all_ranks(benchmark::State& state) { node(state, true); }

// Each unit is freed by the next rank: offsets pass through one slot per rank.
void node_handoff(benchmark::State& state) {
  sm::mpi::NodeSlab<false>& s = *g_slab;
  auto ring = sm::mpi::SharedWindow::try_create(g_node, 64 * std::size_t(g_ranks));
  if (!ring) {
    state.SkipWithError("ring window");
    return;
  }
  auto slot = [&](int r) { return reinterpret_cast<std::atomic<std::uint64_t>*>(
                               static_cast<std::byte*>(ring->block().ptr) + 64 * r); };
  constexpr std::uint64_t empty = ~std::uint64_t(0);
  if (g_rank == 0) {
    for (int r = 0; r < g_ranks; ++r) new (slot(r)) std::atomic<std::uint64_t>(empty);
  }
  (void)ring->sync();
  std::atomic<std::uint64_t>* next = slot((g_rank + 1) % g_ranks);
  timed(state, true, [&] {
    std::int64_t n = 0;
    while (n < pairs) {
      const sm::Result<sm::Block> b = s.try_allocate(sm::Layout{unit, 8});
      if (!b) continue;
      const std::uint64_t got = next->exchange(s.offset_of(b->ptr), std::memory_order_acq_rel);
      if (got != empty) (void)s.try_deallocate(s.block_at(got));
      ++n;
    }
    return n;
  });
  // What is left in the slots goes back before the next benchmark.
  (void)ring->sync();
  if (g_rank == 0) {
    for (int r = 0; r < g_ranks; ++r) {
      const std::uint64_t got = slot(r)->exchange(empty);
      if (got != empty) (void)s.try_deallocate(s.block_at(got));
    }
  }
  (void)ring->sync();
}

}  // namespace

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &g_node);
  MPI_Comm_rank(g_node, &g_rank);
  MPI_Comm_size(g_node, &g_ranks);
  int status = 0;
  {
    auto made = sm::mpi::NodeSlab<false>::try_create(g_node, unit, units);
    auto pool = sm::mpi::NodePool<int, false>::try_create(g_node, 16 << 20);
    sm::mpi::NodePool<int, false>::options_type each;
    each.per_rank = true;
    auto pool_per_rank = sm::mpi::NodePool<int, false>::try_create(g_node, 16 << 20, each);
    auto sizes = sm::mpi::NodeSizeClasses<int, false>::try_create(g_node, 32 << 20);
    sm::mpi::NodeSizeClasses<int, false>::options_type sizes_each;
    sizes_each.per_rank = true;
    auto sizes_per_rank = sm::mpi::NodeSizeClasses<int, false>::try_create(g_node, 32 << 20, sizes_each);
    if (!made || !pool || !pool_per_rank || !sizes || !sizes_per_rank) {
      if (g_rank == 0) {
        std::printf("NodeSlab: %s, NodePool: %s, per rank: %s\n",
                    made ? "ok" : sm::to_string(made.error()),
                    pool ? "ok" : sm::to_string(pool.error()),
                    pool_per_rank ? "ok" : sm::to_string(pool_per_rank.error()));
        std::printf("NodeSizeClasses: %s, per rank: %s\n",
                    sizes ? "ok" : sm::to_string(sizes.error()),
                    sizes_per_rank ? "ok" : sm::to_string(sizes_per_rank.error()));
      }
      status = 1;
    } else {
      g_slab = &*made;
      g_pool = &*pool;
      g_pool_per_rank = &*pool_per_rank;
      g_sizes = &*sizes;
      g_sizes_per_rank = &*sizes_per_rank;
      benchmark::Initialize(&argc, argv);
      for (auto* b : {benchmark::RegisterBenchmark("private/alone", private_alone),
                      benchmark::RegisterBenchmark("private/all_ranks", private_all_ranks),
                      benchmark::RegisterBenchmark("node/alone", node_alone),
                      benchmark::RegisterBenchmark("node/all_ranks", node_all_ranks),
                      benchmark::RegisterBenchmark("node/handoff", node_handoff),
                      benchmark::RegisterBenchmark("private/all_ranks_cached", private_all_ranks_cached),
                      benchmark::RegisterBenchmark("node/all_ranks_cached", node_all_ranks_cached),
                      benchmark::RegisterBenchmark("pool_private/alone", pool_private_alone),
                      benchmark::RegisterBenchmark("pool_node/alone", pool_node_alone),
                      benchmark::RegisterBenchmark("pool_private/all_ranks", pool_private_all_ranks),
                      benchmark::RegisterBenchmark("pool_node/all_ranks", pool_node_all_ranks),
                      benchmark::RegisterBenchmark("pool_node_per_rank/alone", pool_node_per_rank_alone),
                      benchmark::RegisterBenchmark("pool_node_per_rank/all_ranks",
                                                   pool_node_per_rank_all_ranks),
                      benchmark::RegisterBenchmark("sizes_private/alone", sizes_private_alone),
                      benchmark::RegisterBenchmark("sizes_node/alone", sizes_node_alone),
                      benchmark::RegisterBenchmark("sizes_node_per_rank/alone", sizes_node_per_rank_alone),
                      benchmark::RegisterBenchmark("sizes_private/all_ranks", sizes_private_all_ranks),
                      benchmark::RegisterBenchmark("sizes_node/all_ranks", sizes_node_all_ranks),
                      benchmark::RegisterBenchmark("sizes_node_per_rank/all_ranks",
                                                   sizes_node_per_rank_all_ranks)}) {
        b->Iterations(1)->UseManualTime()->Unit(benchmark::kMillisecond);
      }
      benchmark::AddCustomContext("ranks_on_node", std::to_string(g_ranks));
      swim_bench::run_reporting_on_rank0(g_rank);
      g_slab = nullptr;
      g_pool = nullptr;
      g_pool_per_rank = nullptr;
      g_sizes = g_sizes_per_rank = nullptr;
    }
  }
  MPI_Comm_free(&g_node);
  MPI_Finalize();
  return status;
}
