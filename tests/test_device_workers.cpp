// The device suite's lease workers (device/lease_workers.hpp, which includes
// device/lease_workers/*.hpp) on the host.
//
// The lease kernels (device/leases.inl) only run where a GPU exists, and CI has
// none. Their per-thread logic is plain SWIM_MEM_API code, so this test runs the
// very same worker functions on std::threads, with the launchers' setup rebuilt
// in ordinary memory (a Slab + Pool heap, per-thread Packs on slices, shared
// counters), and checks what the launchers check (lease_run and shared_run in
// leases.inl). A kernel launch boundary is a join here. Under TSan this also
// checks the workers' (and the library's) synchronisation, which the GPU run
// cannot.
//
// Only the header is included: this file builds without CUDA or HIP.
#include <gtest/gtest.h>

#include <cstddef>
#include <cstring>
#include <new>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "../device/lease_workers.hpp"
#include "support/worker_grid.hpp"

namespace {

using namespace swim::mem;
using namespace swim::mem::device_leases;
using swim::mem::testing::where;

/// OS threads, and logical workers per OS thread (worker i runs on thread
/// i % kThreads, one after the other), as a grid of kThreads x kRounds.
constexpr unsigned kThreads = 8;
constexpr unsigned kRounds = 8;
constexpr u64 kWorkers = u64{kThreads} * kRounds;
/// Whole runs per test: more interleavings, still well under a second with TSan.
constexpr unsigned kRepeats = 8;

/// Zero-filled raw memory aligned like cudaMalloc's (what DeviceBuffer gives).
class HostBuffer {
 public:
  explicit HostBuffer(std::size_t bytes)
      : bytes_(bytes == 0 ? 1 : bytes),
        p_(static_cast<unsigned char*>(::operator new(bytes_, kAlign))) {
    std::memset(p_, 0, bytes_);
  }
  ~HostBuffer() { ::operator delete(p_, kAlign); }
  HostBuffer(const HostBuffer&) = delete;
  HostBuffer& operator=(const HostBuffer&) = delete;

  template <class T>
  T* as() const {
    return reinterpret_cast<T*>(p_);
  }
  std::size_t size() const { return bytes_; }

 private:
  static constexpr std::align_val_t kAlign{256};
  std::size_t bytes_;
  unsigned char* p_;
};

/// Runs work(i) for i in [0, n) on kThreads threads released together; returns
/// once all are joined (the end of a kernel).
template <class Work>
void run_workers(u64 n, Work work) {
  swim::mem::testing::run_grid(n, kThreads, work);
}

/// The shared Pool over a Slab of `units` units of kHunk bytes, as DevicePool
/// builds it (pool_init), in host memory.
struct HostPool {
  explicit HostPool(u64 units) : memory(slab_bytes(units, kHunk)) {
    heap.emplace(Block{memory.as<std::byte>(), memory.size()}, kHunk);
    pool.emplace(*heap, kHunk);
  }
  ~HostPool() {
    pool.reset();
    heap.reset();
  }
  /// pool_destroy: the Pool gives every hunk back; the Slab's stats after that.
  Stats destroy() {
    pool.reset();
    return heap->stats();
  }

  HostBuffer memory;
  std::optional<LeaseHeap> heap;
  std::optional<LeasePool> pool;
};


/// lease_run (leases.inl) on the host: lease_worker for kWorkers workers, then
/// the launcher's checks, as gtest expectations.
void lease_run(bool short_heap) {
  const u64 n = kWorkers;
  HostPool hp(short_heap ? 1 : n * 16 + 64);
  ASSERT_EQ(hp.heap->init_error(), Error::none);
  ASSERT_NE(hp.heap->block_count(), 0u);
  HostBuffer packs(2 * n * sizeof(Pack<single_owner>));
  HostBuffer slices(n * kSlice);
  LeaseCounters got{};

  LeasePool* pool = &*hp.pool;
  run_workers(n, [&](u64 i) {
    lease_worker(pool, packs.as<Pack<single_owner>>(), slices.as<unsigned char>(), i, short_heap,
                 &got);
  });

  EXPECT_EQ(got.failures, 0u) << where(got);
  // Every worker's Bufs went through the same growths in its private Pack, and
  // its private work never runs short.
  EXPECT_EQ(got.grown_in_place, kInPlace * n);
  EXPECT_EQ(got.moved, kMoved * n);
  EXPECT_EQ(got.stowed + got.stow_refused, n);
  EXPECT_EQ(got.rolled_back, n);
  EXPECT_EQ(got.arc_stowed + got.arc_refused, n);
  EXPECT_EQ(got.arc_rolled_back, n);
  EXPECT_EQ(got.scoped + got.scope_refused, n);
  EXPECT_EQ(got.scope_leaks, 0u);
  if (short_heap) {
    EXPECT_GE(got.exhausted, n);  // every worker meets out_of_memory at least once
  } else {
    EXPECT_EQ(got.exhausted, 0u);
    EXPECT_EQ(got.stow_refused, 0u);
    EXPECT_EQ(got.arc_refused, 0u);
    EXPECT_EQ(got.scope_refused, 0u);
    EXPECT_EQ(got.leases, 4 * n);
    EXPECT_EQ(got.bufs, 2 * n);
  }

  // Everything was freed: nothing live in the pool; the heap holds just its
  // hunks; destroying the pool gives them all back.
  const Stats pool_stats = hp.pool->stats();
  EXPECT_EQ(pool_stats.live, 0u);
  EXPECT_EQ(pool_stats.bytes_in_use, 0u);
  EXPECT_EQ(hp.heap->stats().live, hp.pool->hunk_count());
  EXPECT_EQ(hp.destroy().live, 0u);
}

/// shared_run (leases.inl) on the host, with n workers.
void shared_run(u64 n) {
  using S = ArcStatus;
  constexpr u64 value = 1000;
  HostPool hp(64);
  ASSERT_EQ(hp.heap->init_error(), Error::none);
  HostBuffer shared(sizeof(HardBox));
  HostBuffer softs(n * sizeof(SoftBox));
  HardBox* slot = shared.as<HardBox>();
  SoftBox* soft_slots = softs.as<SoftBox>();
  LeaseCounters got{};

  // One Hard, made by one thread.
  arc_make(&*hp.pool, slot, value, &got);
  if (got.made != 1) {
    slot->~HardBox();
    FAIL() << "arc_make made no Hard; " << where(got);
  }

  // Every worker clones it, borrows, keeps a Soft, and drops the rest.
  run_workers(n, [&](u64 i) { arc_share(slot, soft_slots, i, n, value, &got); });
  ArcSnapshot as{};
  arc_snapshot(slot, &as);
  EXPECT_EQ(got.failures, 0u) << where(got);
  EXPECT_EQ(got.cloned + got.clone_contended, n);
  EXPECT_EQ(got.muts + got.mut_contended + got.refs + got.ref_contended, got.cloned);
  EXPECT_LE(got.polled, got.refs);
  // Softs taken while a Hard lives upgrade (a bounded try may lose every race, but
  // not every thread's).
  EXPECT_LE(got.upgraded, got.softs);
  if (got.softs != 0) {
    EXPECT_GT(got.upgraded, 0u);
  }
  if (n == 1) {
    EXPECT_EQ(got.cloned, 1u);
    EXPECT_EQ(got.polled + got.muts, 1u);
    EXPECT_EQ(got.softs, 1u);
    EXPECT_EQ(got.upgraded, 1u);
    EXPECT_EQ(got.poll_busy, 0u);
  }
  // Back to one Hard, no borrow, a Soft per worker; every Mut's increment is there.
  EXPECT_EQ(S::hard(as.status), 1u);
  EXPECT_EQ(S::ref(as.status), 0u);
  EXPECT_EQ(S::soft(as.status), got.softs);
  EXPECT_EQ(as.status & (S::mut_flag | S::relocated_flag), 0u);
  EXPECT_EQ(as.read_ok, 1u);
  EXPECT_EQ(as.value, value + got.muts);

  // The last Hard goes: the block stays for the Softs, which now report cleared.
  slot->~HardBox();
  EXPECT_EQ(hp.pool->stats().live, got.softs != 0 ? 1u : 0u);
  run_workers(n, [&](u64 i) { arc_after(soft_slots, i, &got); });
  EXPECT_EQ(got.failures, 0u) << where(got);
  EXPECT_EQ(got.cleared, got.softs);

  // The last Soft freed the block.
  const Stats pool_stats = hp.pool->stats();
  EXPECT_EQ(pool_stats.live, 0u);
  EXPECT_EQ(pool_stats.bytes_in_use, 0u);
  EXPECT_EQ(hp.destroy().live, 0u);
}

// The counting the workers rely on: a failed check is counted, and the first
// one's line is kept (a worker check that counted nothing would pass silently).
TEST(DeviceLeaseWorkers, FailedChecksAreCounted) {
  LeaseCounters c{};
  expect(true, &c, 7);
  EXPECT_EQ(c.failures, 0u);
  expect(false, &c, 11);
  expect(false, &c, 12);
  EXPECT_EQ(c.failures, 2u);
  EXPECT_EQ(c.first_failure, 11u);
  note_error(Error::out_of_memory, true, &c, 13);
  EXPECT_EQ(c.exhausted, 1u);
  EXPECT_EQ(c.failures, 2u);
  note_error(Error::out_of_memory, false, &c, 14);
  note_error(Error::contended, true, &c, 15);
  EXPECT_EQ(c.failures, 4u);
  EXPECT_EQ(c.first_failure, 11u);
}

// check_leases, first run: plenty of heap, no error allowed.
TEST(DeviceLeaseWorkers, LeasesWithPlentyOfHeap) {
  for (unsigned r = 0; r < kRepeats && !HasFailure(); ++r) lease_run(false);
}

// check_leases, second run: one hunk for all workers; out_of_memory everywhere,
// nothing leaks.
TEST(DeviceLeaseWorkers, LeasesWithShortHeap) {
  for (unsigned r = 0; r < kRepeats && !HasFailure(); ++r) lease_run(true);
}

// check_shared_leases on kWorkers workers.
TEST(DeviceLeaseWorkers, SharedFamily) {
  for (unsigned r = 0; r < kRepeats && !HasFailure(); ++r) shared_run(kWorkers);
}

// check_shared_leases on one worker, where the counts are exact.
TEST(DeviceLeaseWorkers, SharedFamilyOneWorker) { shared_run(1); }

}  // namespace
