// check_compaction's workers (device/lease_workers/compaction.hpp) on the host.
//
// The compaction kernels (device/lease_compaction.inl) only run where a GPU exists,
// and CI has none. Their per-thread steps are plain SWIM_MEM_API code, so this test
// runs the same worker functions on std::threads, with the launcher's setup
// rebuilt in host memory, and checks what the launcher checks (compaction_run in
// lease_compaction.inl): a kernel boundary is a join here, and a one-thread kernel
// a plain call. Under TSan it also checks the synchronisation of a parallel
// compaction (many threads freeing into the old hold and allocating in the fresh
// one at once), which the GPU run cannot.
//
// Fault injection: a short fresh heap (a ballast extent leaves less room than the
// survivors need) makes the first round stop part way with out_of_memory; the
// moved leases are then in the fresh hold, the rest intact in the old one, and
// nothing is lost or doubled; with the ballast gone a second round finishes.
#include <gtest/gtest.h>

#include <cstddef>
#include <cstdio>
#include <string>
#include <vector>

#include "../device/lease_workers.hpp"
#include "support/arena.hpp"
#include "support/worker_grid.hpp"

namespace {

using namespace swim::mem;
using namespace swim::mem::device_leases;
using swim::mem::testing::Arena;
using swim::mem::testing::run_grid;
using swim::mem::testing::where;

constexpr unsigned kThreads = 8;
constexpr u64 kWorkers = 64;
/// Whole runs per multi-threaded test: more interleavings.
constexpr unsigned kRepeats = 4;
/// Rounds after the first (and the short heap's second) while leases stayed.
constexpr unsigned kExtraRounds = 8;
/// Heap room beyond the workers' own (compact_region_bytes): hunks made at once.
constexpr std::size_t kSlack = std::size_t(8) << 20;

/// The launcher's device memory, in host memory: both heaps' regions, the heaps,
/// the holds, and the grid's lease arrays.
template <class Hold>
struct HostCompaction {
  HostCompaction(u64 workers, std::size_t room)
      : n(workers),
        old_mem(compact_region_bytes(n, kSlack)),
        fresh_mem(compact_region_bytes(n, kSlack)),
        heaps_mem(2 * sizeof(CompactHeap), 64),
        holds_mem(2 * sizeof(Hold), 64),
        boxes_mem(n * kPerKind * sizeof(BoxLease), 64),
        shorts_mem(n * kPerKind * sizeof(BufLease), 64),
        longs_mem(n * kPerKind * sizeof(BufLease), 64),
        lists_mem(n * kPerKind * sizeof(NodeLease), 64) {
    heaps = reinterpret_cast<CompactHeap*>(heaps_mem.ptr);
    holds = reinterpret_cast<Hold*>(holds_mem.ptr);
    slots = CompactSlots{reinterpret_cast<BoxLease*>(boxes_mem.ptr),
                         reinterpret_cast<BufLease*>(shorts_mem.ptr),
                         reinterpret_cast<BufLease*>(longs_mem.ptr),
                         reinterpret_cast<NodeLease*>(lists_mem.ptr), n};
    compact_setup(heaps, holds, old_mem.block(), fresh_mem.block(), room, &state);
  }
  // A test that stopped early still frees what it made before the holds go.
  ~HostCompaction() {
    if (!freed && built) {
      CompactCounters k{};
      for (u64 i = 0; i < n; ++i) compact_free(slots, i, &k);
    }
    if (!torn_down) compact_teardown(heaps, holds, &state);
  }
  HoldRef old() { return HoldRef::of(holds[0]); }
  HoldRef fresh() { return HoldRef::of(holds[1]); }
  CompactSnapshot snapshot() {
    CompactSnapshot s{};
    compact_snapshot(heaps, holds, &s);
    return s;
  }

  u64 n;
  Arena old_mem, fresh_mem, heaps_mem, holds_mem, boxes_mem, shorts_mem, longs_mem, lists_mem;
  CompactHeap* heaps;
  Hold* holds;
  CompactSlots slots;
  CompactState state{};
  bool built = false, freed = false, torn_down = false;
};

/// compaction_run (lease_compaction.inl) on the host: build, one round (or, with a
/// short fresh heap, a round that stops part way, a check between, and a second
/// round), verify, release, free, tear down; the launcher's checks as gtest
/// expectations. One OS thread makes the run deterministic, and then the fresh
/// hold must also be denser than the old one was.
template <class Hold>
void compaction_run(u64 n, bool short_heap, unsigned threads) {
  HostCompaction<Hold> h(n, short_heap ? compact_short_room<Hold>() : 0);
  ASSERT_EQ(h.state.setup_error, 0u) << to_string(static_cast<Error>(h.state.setup_error));
  ASSERT_EQ(h.state.ballast.ptr != nullptr, short_heap);
  const HoldRef old = h.old(), fresh = h.fresh();
  LeaseCounters c{};

  // Build: 16 leases per worker; then (a barrier later) a quarter of them left alive.
  CompactCounters built{};
  run_grid(n, threads, [&](u64 i) { compact_build(h.slots, old, i, &c, &built); });
  h.built = true;
  ASSERT_EQ(c.failures, 0u) << where(c);
  run_grid(n, threads, [&](u64 i) { compact_fragment(h.slots, i, &built); });
  EXPECT_EQ(built.built, kCompactLeases * n);
  EXPECT_EQ(built.kept, 4 * n);
  const CompactSnapshot before = h.snapshot();
  EXPECT_EQ(before.old_hold.live, kSurvivorObjects * n);
  EXPECT_EQ(before.fresh_hold.live, 0u);

  // Round 1: every thread moves its share into the fresh hold.
  CompactCounters round1{};
  run_grid(n, threads, [&](u64 t) {
    compact_move(h.slots, t, n, old, fresh, short_heap, &c, &round1);
  });
  EXPECT_EQ(c.failures, 0u) << where(c);
  EXPECT_EQ(round1.moved + round1.stayed, 4 * n);
  EXPECT_EQ(round1.skipped, (kCompactLeases - 4) * n);
  u64 stayed = round1.stayed;
  if (!short_heap) {
    // With room, only a share whose bounded retries ran out may stop (timing).
    EXPECT_EQ(round1.stopped, round1.contended);
    EXPECT_EQ(c.exhausted, 0u);
  } else {
    // The fault: out of memory part way. Every survivor is in one hold or the
    // other, intact; the two holds together hold each object once.
    EXPECT_GT(round1.moved, 0u);
    EXPECT_GT(round1.stayed, 0u);
    EXPECT_GT(c.exhausted, 0u);
    EXPECT_EQ(c.exhausted + round1.contended, round1.stopped);
    CompactCounters mid{};
    run_grid(n, threads, [&](u64 i) { compact_verify(h.slots, i, old, fresh, true, &c, &mid); });
    EXPECT_EQ(c.failures, 0u) << where(c);
    EXPECT_EQ(mid.in_fresh, round1.moved);
    EXPECT_EQ(mid.in_old, round1.stayed);
    const CompactSnapshot between = h.snapshot();
    EXPECT_EQ(between.old_hold.live + between.fresh_hold.live, kSurvivorObjects * n);
    EXPECT_EQ(between.old_hold.bytes_in_use + between.fresh_hold.bytes_in_use,
              before.old_hold.bytes_in_use);
    // What emptied may go back between rounds; the rest stays for round 2.
    CompactRelease r{};
    compact_release(h.holds, &r);
    EXPECT_EQ(r.live, between.old_hold.live);
    EXPECT_GT(r.hunks_kept, 0u);
    compact_unballast(h.heaps, &h.state);
    ASSERT_EQ(h.state.setup_error, 0u);
    CompactCounters round2{};
    run_grid(n, threads, [&](u64 t) {
      compact_move(h.slots, t, n, old, fresh, false, &c, &round2);
    });
    EXPECT_EQ(c.failures, 0u) << where(c);
    EXPECT_EQ(round2.moved + round2.stayed, round1.stayed);
    EXPECT_EQ(round2.stopped, round2.contended);
    EXPECT_EQ(round2.skipped, kCompactLeases * n - round1.stayed);
    stayed = round2.stayed;
  }
  // Further rounds while leases stayed (as the launcher, device/lease_compaction.inl):
  // each moves exactly what the last one left.
  for (unsigned r = 0; r < kExtraRounds && stayed != 0; ++r) {
    CompactCounters more{};
    run_grid(n, threads, [&](u64 t) {
      compact_move(h.slots, t, n, old, fresh, false, &c, &more);
    });
    EXPECT_EQ(c.failures, 0u) << where(c);
    EXPECT_EQ(more.moved + more.stayed, stayed);
    EXPECT_EQ(more.stopped, more.contended);
    stayed = more.stayed;
  }
  EXPECT_EQ(stayed, 0u) << "every lease moved within " << kExtraRounds + 2 << " rounds";

  // Every survivor is in the fresh hold with its contents.
  CompactCounters after{};
  run_grid(n, threads, [&](u64 i) { compact_verify(h.slots, i, old, fresh, false, &c, &after); });
  EXPECT_EQ(c.failures, 0u) << where(c);
  EXPECT_EQ(after.in_fresh, 4 * n);
  EXPECT_EQ(after.in_old, 0u);
  const CompactSnapshot moved = h.snapshot();
  EXPECT_EQ(moved.fresh_hold.live, kSurvivorObjects * n);
  EXPECT_EQ(moved.fresh_hold.bytes_in_use, before.old_hold.bytes_in_use);
  EXPECT_EQ(moved.old_hold.live, 0u);
  EXPECT_EQ(moved.old_hold.bytes_in_use, 0u);
  if (!short_heap) {
    EXPECT_EQ(moved.old_hunks, before.old_hunks);  // nothing went back yet
  }

  // Phase 2: the old hold gives every hunk back.
  CompactRelease rel{};
  compact_release(h.holds, &rel);
  EXPECT_EQ(rel.live, 0u);
  EXPECT_EQ(rel.hunks_kept, 0u);
  EXPECT_EQ(rel.hunks_released, moved.old_hunks);
  EXPECT_EQ(rel.bytes_released, moved.old_reserved);
  if (!short_heap) {
    EXPECT_GT(rel.hunks_released, 0u);
  }
  const CompactSnapshot released = h.snapshot();
  EXPECT_EQ(released.old_hunks, 0u);
  EXPECT_EQ(released.old_reserved, 0u);
  EXPECT_EQ(released.old_heap.live, 0u) << "the old heap has every hunk back";
  EXPECT_EQ(released.old_heap.bytes_in_use, 0u);
  if (threads == 1) {
    EXPECT_LT(moved.fresh_hunks, before.old_hunks);
    EXPECT_LT(moved.fresh_reserved, before.old_reserved);
    std::printf("  %llu workers: old hold %llu hunks, %llu bytes (%.1f %% in use) -> fresh %llu "
                "hunks, %llu bytes (%.1f %% in use)\n",
                static_cast<unsigned long long>(n),
                static_cast<unsigned long long>(before.old_hunks),
                static_cast<unsigned long long>(before.old_reserved),
                100.0 * static_cast<double>(before.old_hold.bytes_in_use) /
                    static_cast<double>(before.old_reserved),
                static_cast<unsigned long long>(moved.fresh_hunks),
                static_cast<unsigned long long>(moved.fresh_reserved),
                100.0 * static_cast<double>(moved.fresh_hold.bytes_in_use) /
                    static_cast<double>(moved.fresh_reserved));
  }

  // Free everything from every worker; then the holds and heaps go.
  CompactCounters gone{};
  run_grid(n, threads, [&](u64 i) { compact_free(h.slots, i, &gone); });
  h.freed = true;
  EXPECT_EQ(gone.freed, 4 * n);
  EXPECT_EQ(h.snapshot().fresh_hold.live, 0u);
  compact_teardown(h.heaps, h.holds, &h.state);
  h.torn_down = true;
  EXPECT_EQ(h.state.setup_error, 0u);
  EXPECT_EQ(h.state.heaps_after.live, 0u);
  EXPECT_EQ(h.state.heaps_after.bytes_in_use, 0u);
}

TEST(DeviceCompactionWorkers, SizeClassesWithRoom) {
  for (unsigned r = 0; r < kRepeats && !HasFailure(); ++r) {
    compaction_run<CompactClasses>(kWorkers, false, kThreads);
  }
}

TEST(DeviceCompactionWorkers, PoolWithRoom) {
  for (unsigned r = 0; r < kRepeats && !HasFailure(); ++r) {
    compaction_run<CompactPool>(kWorkers, false, kThreads);
  }
}

// Fault injection: out_of_memory part way, then a second round.
TEST(DeviceCompactionWorkers, SizeClassesShortFreshHeapThenSecondRound) {
  for (unsigned r = 0; r < kRepeats && !HasFailure(); ++r) {
    compaction_run<CompactClasses>(kWorkers, true, kThreads);
  }
}

TEST(DeviceCompactionWorkers, PoolShortFreshHeapThenSecondRound) {
  for (unsigned r = 0; r < kRepeats && !HasFailure(); ++r) {
    compaction_run<CompactPool>(kWorkers, true, kThreads);
  }
}

// The launcher's smallest shape: the short room is too little even for one worker.
TEST(DeviceCompactionWorkers, OneWorker) {
  compaction_run<CompactClasses>(1, false, 1);
  compaction_run<CompactPool>(1, false, 1);
  compaction_run<CompactClasses>(1, true, 1);
  compaction_run<CompactPool>(1, true, 1);
}

// One OS thread: the fresh hold needs fewer hunks and fewer bytes than the old one
// held (printed: what compaction saved).
TEST(DeviceCompactionWorkers, FreshHoldIsDenser) {
  compaction_run<CompactClasses>(512, false, 1);
  compaction_run<CompactPool>(512, false, 1);
}

}  // namespace
