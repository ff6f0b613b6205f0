// The device suite, compaction: check_compaction, a fragmented hold compacted in
// parallel by a whole grid into a fresh one (residents/compact_share.hpp), leases
// following, and the old hold's hunks given back.
//
// Included by leases.inl (after its helpers: DeviceBuffer, StackLimit, report and
// the SWIM_MEM_LEASES_* macros), so it is compiled in leases.cu and leases.hip and
// shares their instantiations of the lease types. What a thread does is in
// lease_workers/compaction.hpp (tests/test_device_compaction.cpp runs the same
// functions on host threads); here are the kernels, each a thin call of one step,
// and the launcher, which orders them. A kernel boundary is the barrier the
// protocol needs between the moves (every thread) and the release (one thread).
//
// One run, for a SizeClasses and for a Pool over in-band ExtentHeaps in device memory:
//   setup (1 thread)      both heaps and holds; a short run puts a ballast in the
//                         fresh heap, leaving less room than the survivors need
//   build (grid)          16 leases per thread in the old hold
//   fragment (grid)       three of each four freed: the survivors are scattered
//   move (grid)           round 1: every thread moves its share into the fresh hold
//   [short run: verify (grid; a survivor may be in either hold), release (1 thread),
//    unballast (1 thread)]
//   move (grid)           further rounds while leases stayed (at most kCompactRounds)
//   verify (grid)         every survivor in the fresh hold with its contents
//   release (1 thread)    release_compacted(old): every hunk back to the old heap
//   free (grid), teardown (1 thread)
// A round may stop shares with out_of_memory also when the heap has room: the
// threads of a grid that find a class's hunk full at the same instant each ask the
// heap for a new one, and the later ones can find it dry while the earlier ones'
// spares are still being listed. That is what the rounds are for; the launcher
// only requires that the rounds end with every lease moved, and, in the short run,
// that the first round stopped part way.
#pragma once

namespace swim::mem::device_leases {

// ---- Compaction kernels --------------------------------------------------------------------

template <class Hold>
__global__ void compact_setup_kernel(CompactHeap* heaps, Hold* holds, Block old_region,
                                     Block fresh_region, std::size_t room, CompactState* st) {
  if (global_id() == 0) compact_setup(heaps, holds, old_region, fresh_region, room, st);
}

__global__ void compact_build_kernel(CompactSlots s, HoldRef old, LeaseCounters* c,
                                     CompactCounters* k) {
  const u64 i = global_id();
  if (i < s.n) compact_build(s, old, i, c, k);
}

__global__ void compact_fragment_kernel(CompactSlots s, CompactCounters* k) {
  const u64 i = global_id();
  if (i < s.n) compact_fragment(s, i, k);
}

__global__ void compact_move_kernel(CompactSlots s, HoldRef from, HoldRef to, bool oom_expected,
                                    LeaseCounters* c, CompactCounters* k) {
  const u64 t = global_id();
  if (t < s.n) compact_move(s, t, s.n, from, to, oom_expected, c, k);
}

__global__ void compact_verify_kernel(CompactSlots s, HoldRef old, HoldRef fresh,
                                      bool old_allowed, LeaseCounters* c, CompactCounters* k) {
  const u64 i = global_id();
  if (i < s.n) compact_verify(s, i, old, fresh, old_allowed, c, k);
}

__global__ void compact_free_kernel(CompactSlots s, CompactCounters* k) {
  const u64 i = global_id();
  if (i < s.n) compact_free(s, i, k);
}

template <class Hold>
__global__ void compact_snapshot_kernel(const CompactHeap* heaps, const Hold* holds,
                                        CompactSnapshot* out) {
  if (global_id() == 0) compact_snapshot(heaps, holds, out);
}

template <class Hold>
__global__ void compact_release_kernel(Hold* holds, CompactRelease* out) {
  if (global_id() == 0) compact_release(holds, out);
}

__global__ void compact_unballast_kernel(CompactHeap* heaps, CompactState* st) {
  if (global_id() == 0) compact_unballast(heaps, st);
}

template <class Hold>
__global__ void compact_teardown_kernel(CompactHeap* heaps, Hold* holds, CompactState* st) {
  if (global_id() == 0) compact_teardown(heaps, holds, st);
}

// ---- Compaction launcher -------------------------------------------------------------------

/// Heap room beyond the threads' own (compact_region_bytes) for the hunks a burst
/// makes at once; device memory is plentiful where this runs.
inline constexpr std::size_t kCompactSlack = std::size_t(1) << 30;
/// Rounds of moves at most (the first included).
inline constexpr unsigned kCompactRounds = 4;

/// Element k of a device array, to the host.
template <class T>
inline swim_mem_lease_gpu::error_t element_to_host(const DeviceBuffer<T>& b, std::size_t k,
                                                   T& out) {
  return swim_mem_lease_gpu::to_host(&out, b.get() + k, sizeof(T));
}

/// The device memory of one run.
template <class Hold>
struct DeviceCompaction {
  explicit DeviceCompaction(u64 workers)
      : n(workers),
        bytes(compact_region_bytes(n, kCompactSlack)),
        old_mem(bytes),
        fresh_mem(bytes),
        heaps(2),
        holds(2),
        boxes(n * kPerKind),
        shorts(n * kPerKind),
        longs(n * kPerKind),
        lists(n * kPerKind),
        counters(1),
        phases(8),
        snapshot(1),
        release(1),
        state(1) {}

  int status() const {
    SWIM_MEM_LEASES_TRY(old_mem.status());
    SWIM_MEM_LEASES_TRY(fresh_mem.status());
    SWIM_MEM_LEASES_TRY(heaps.status());
    SWIM_MEM_LEASES_TRY(holds.status());
    SWIM_MEM_LEASES_TRY(boxes.status());
    SWIM_MEM_LEASES_TRY(shorts.status());
    SWIM_MEM_LEASES_TRY(longs.status());
    SWIM_MEM_LEASES_TRY(lists.status());
    SWIM_MEM_LEASES_TRY(counters.status());
    SWIM_MEM_LEASES_TRY(phases.status());
    SWIM_MEM_LEASES_TRY(snapshot.status());
    SWIM_MEM_LEASES_TRY(release.status());
    SWIM_MEM_LEASES_TRY(state.status());
    return SWIM_MEM_GPU_OK;
  }
  CompactSlots slots() const {
    return CompactSlots{boxes.get(), shorts.get(), longs.get(), lists.get(), n};
  }
  int read_snapshot(CompactSnapshot& out) {
    compact_snapshot_kernel<Hold><<<1, 1>>>(heaps.get(), holds.get(), snapshot.get());
    SWIM_MEM_LEASES_LAUNCHED();
    SWIM_MEM_LEASES_TRY(snapshot.to_host(out));
    return SWIM_MEM_GPU_OK;
  }
  int release_old(CompactRelease& out) {
    compact_release_kernel<Hold><<<1, 1>>>(holds.get(), release.get());
    SWIM_MEM_LEASES_LAUNCHED();
    SWIM_MEM_LEASES_TRY(release.to_host(out));
    return SWIM_MEM_GPU_OK;
  }

  u64 n;
  std::size_t bytes;
  DeviceBuffer<unsigned char> old_mem, fresh_mem;
  DeviceBuffer<CompactHeap> heaps;
  DeviceBuffer<Hold> holds;
  DeviceBuffer<BoxLease> boxes;
  DeviceBuffer<BufLease> shorts, longs;
  DeviceBuffer<NodeLease> lists;
  DeviceBuffer<LeaseCounters> counters;
  DeviceBuffer<CompactCounters> phases;  // one per phase (CompactPhase), zero-filled
  DeviceBuffer<CompactSnapshot> snapshot;
  DeviceBuffer<CompactRelease> release;
  DeviceBuffer<CompactState> state;
};

/// Phases' counters (DeviceCompaction::phases).
enum CompactPhase : unsigned { kBuilt = 0, kMid = 1, kAfter = 2, kFreed = 3, kRound = 4 };

/// One run on blocks x threads for Hold (see the file comment). `failed` counts the
/// launcher's own checks; the workers' are in `c`.
template <class Hold>
inline int compaction_run(unsigned blocks, unsigned threads, bool short_heap, u64& failed,
                          LeaseCounters& c) {
  const u64 n = static_cast<u64>(blocks) * threads;
  DeviceCompaction<Hold> d(n);
  SWIM_MEM_LEASES_STEP(d.status());
  const CompactSlots s = d.slots();
  CompactState st{};
  compact_setup_kernel<Hold><<<1, 1>>>(d.heaps.get(), d.holds.get(), Block{d.old_mem.get(), d.bytes},
                                       Block{d.fresh_mem.get(), d.bytes},
                                       short_heap ? compact_short_room<Hold>() : 0, d.state.get());
  SWIM_MEM_LEASES_LAUNCHED();
  SWIM_MEM_LEASES_TRY(d.state.to_host(st));
  if (st.setup_error != 0 || (st.ballast.ptr != nullptr) != short_heap) {
    failed += 1;
    compact_teardown_kernel<Hold><<<1, 1>>>(d.heaps.get(), d.holds.get(), d.state.get());
    SWIM_MEM_LEASES_LAUNCHED();
    return SWIM_MEM_GPU_OK;
  }
  const HoldRef old = st.old_hold, fresh = st.fresh_hold;
  CompactCounters* phase = d.phases.get();

  compact_build_kernel<<<blocks, threads>>>(s, old, d.counters.get(), phase + kBuilt);
  SWIM_MEM_LEASES_LAUNCHED();
  compact_fragment_kernel<<<blocks, threads>>>(s, phase + kBuilt);
  SWIM_MEM_LEASES_LAUNCHED();
  CompactCounters built{};
  CompactSnapshot before{};
  SWIM_MEM_LEASES_TRY(element_to_host(d.phases, kBuilt, built));
  SWIM_MEM_LEASES_STEP(d.read_snapshot(before));
  failed += built.built != kCompactLeases * n || built.kept != 4 * n;
  failed += before.old_hold.live != kSurvivorObjects * n || before.fresh_hold.live != 0;

  // Round 1: every thread moves its share.
  compact_move_kernel<<<blocks, threads>>>(s, old, fresh, true, d.counters.get(), phase + kRound);
  SWIM_MEM_LEASES_LAUNCHED();
  CompactCounters round{};
  SWIM_MEM_LEASES_TRY(element_to_host(d.phases, kRound, round));
  failed += round.moved + round.stayed != 4 * n;
  failed += round.skipped != (kCompactLeases - 4) * n;
  u64 moved = round.moved, stayed = round.stayed;
  if (short_heap) {
    // Out of memory part way; every survivor intact in one hold or the other, each
    // object once; what emptied goes back; the ballast goes.
    failed += round.moved == 0 || round.stayed == 0 || round.stopped == 0;
    compact_verify_kernel<<<blocks, threads>>>(s, old, fresh, true, d.counters.get(), phase + kMid);
    SWIM_MEM_LEASES_LAUNCHED();
    CompactCounters mid{};
    CompactSnapshot between{};
    CompactRelease r{};
    SWIM_MEM_LEASES_TRY(element_to_host(d.phases, kMid, mid));
    SWIM_MEM_LEASES_STEP(d.read_snapshot(between));
    failed += mid.in_fresh != round.moved || mid.in_old != round.stayed;
    failed += between.old_hold.live + between.fresh_hold.live != kSurvivorObjects * n;
    failed += between.old_hold.bytes_in_use + between.fresh_hold.bytes_in_use !=
              before.old_hold.bytes_in_use;
    SWIM_MEM_LEASES_STEP(d.release_old(r));
    failed += r.live != between.old_hold.live || r.hunks_kept == 0;
    compact_unballast_kernel<<<1, 1>>>(d.heaps.get(), d.state.get());
    SWIM_MEM_LEASES_LAUNCHED();
    SWIM_MEM_LEASES_TRY(d.state.to_host(st));
    failed += st.setup_error != 0;
  }
  // Further rounds while leases stayed: each moves what the last one left.
  for (unsigned r = 1; r < kCompactRounds && stayed != 0; ++r) {
    compact_move_kernel<<<blocks, threads>>>(s, old, fresh, true, d.counters.get(),
                                             phase + kRound + r);
    SWIM_MEM_LEASES_LAUNCHED();
    SWIM_MEM_LEASES_TRY(element_to_host(d.phases, kRound + r, round));
    failed += round.moved + round.stayed != stayed;  // exactly what was left
    moved += round.moved;
    stayed = round.stayed;
  }
  failed += moved != 4 * n || stayed != 0;

  // Every survivor in the fresh hold with its contents; the fresh hold holds what
  // the old one did; the old one is empty and gives every hunk back.
  compact_verify_kernel<<<blocks, threads>>>(s, old, fresh, false, d.counters.get(), phase + kAfter);
  SWIM_MEM_LEASES_LAUNCHED();
  CompactCounters after{};
  CompactSnapshot done{}, released{};
  CompactRelease rel{};
  SWIM_MEM_LEASES_TRY(element_to_host(d.phases, kAfter, after));
  SWIM_MEM_LEASES_STEP(d.read_snapshot(done));
  failed += after.in_fresh != 4 * n || after.in_old != 0;
  failed += done.fresh_hold.live != kSurvivorObjects * n;
  failed += done.fresh_hold.bytes_in_use != before.old_hold.bytes_in_use;
  failed += done.old_hold.live != 0 || done.old_hold.bytes_in_use != 0;
  SWIM_MEM_LEASES_STEP(d.release_old(rel));
  SWIM_MEM_LEASES_STEP(d.read_snapshot(released));
  failed += rel.live != 0 || rel.hunks_kept != 0 || rel.hunks_released != done.old_hunks;
  failed += rel.bytes_released != done.old_reserved;
  failed += !short_heap && rel.hunks_released == 0;
  failed += released.old_hunks != 0 || released.old_reserved != 0;
  failed += released.old_heap.live != 0 || released.old_heap.bytes_in_use != 0;

  // Free from every thread; then the holds and the heaps go, with nothing left.
  compact_free_kernel<<<blocks, threads>>>(s, phase + kFreed);
  SWIM_MEM_LEASES_LAUNCHED();
  CompactCounters gone{};
  SWIM_MEM_LEASES_TRY(element_to_host(d.phases, kFreed, gone));
  SWIM_MEM_LEASES_STEP(d.read_snapshot(done));
  failed += gone.freed != 4 * n || done.fresh_hold.live != 0;
  compact_teardown_kernel<Hold><<<1, 1>>>(d.heaps.get(), d.holds.get(), d.state.get());
  SWIM_MEM_LEASES_LAUNCHED();
  SWIM_MEM_LEASES_TRY(d.state.to_host(st));
  failed += st.setup_error != 0 || st.heaps_after.live != 0 || st.heaps_after.bytes_in_use != 0;
  SWIM_MEM_LEASES_TRY(d.counters.to_host(c));
  failed += c.failures;
  return SWIM_MEM_GPU_OK;
}

}  // namespace swim::mem::device_leases

extern "C" int SWIM_MEM_LAUNCHER(check_compaction)(unsigned blocks, unsigned threads) {
  using namespace swim::mem::device_leases;
  if (const int s = no_device(); s != SWIM_MEM_GPU_OK) return s;
  const StackLimit stack;
  SWIM_MEM_LEASES_TRY(stack.status());
  struct Run {
    bool pool, short_heap;
    const char* what;
  };
  constexpr Run runs[] = {{false, false, "check_compaction (SizeClasses)"},
                          {true, false, "check_compaction (Pool)"},
                          {false, true, "check_compaction (SizeClasses, short fresh heap)"},
                          {true, true, "check_compaction (Pool, short fresh heap)"}};
  for (const Run& r : runs) {
    u64 failed = 0;
    LeaseCounters c{};
    if (r.pool) {
      SWIM_MEM_LEASES_STEP(compaction_run<CompactPool>(blocks, threads, r.short_heap, failed, c));
    } else {
      SWIM_MEM_LEASES_STEP(compaction_run<CompactClasses>(blocks, threads, r.short_heap, failed, c));
    }
    if (failed != 0) return report(failed, c, r.what);
  }
  return SWIM_MEM_GPU_OK;
}
