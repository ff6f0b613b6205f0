// The device suite, Pool: check_pool.
//
// Pool<Slab<concurrent, true>, concurrent> and Pool<AddrSpace<concurrent, true>,
// concurrent>, their upstream heap in device memory. Phase 1: objects of 16..512
// bytes from every thread, the Pool grows hunk by hunk; all granted, aligned,
// disjoint; partners free them through the tag (emptied hunks are retired, not
// given back); double frees; trim() in a one-thread kernel leaves at most the head
// hunk upstream. Phase 2: churn, then trim() again. Destroying the Pool in a kernel
// returns every hunk. Then single_owner Pools over single_owner heaps by one
// thread. The kernels of phases 1-2 are in holds.inl.
#pragma once

#include <cstddef>
#include <new>
#include <vector>

#include "allocators.inl"
#include "common.inl"
#include "holds.inl"
#include "swim/mem/heaps/addr_space.hpp"
#include "swim/mem/heaps/slab.hpp"
#include "swim/mem/holds/hold.hpp"
#include "swim/mem/holds/pool.hpp"

namespace swim::mem::device_suite {

/// Request shapes of the Pool phases: sizes and alignments per (thread, j).
struct PoolRequests {
  SWIM_MEM_API static std::size_t size(u64 i, unsigned j) {
    return 16 + static_cast<std::size_t>((i * 131 + j * 71) % 497);  // 16 .. 512
  }
  SWIM_MEM_API static std::size_t align(u64 i, unsigned j) {
    return std::size_t(8) << ((i + j) % 4);  // 8 .. 64
  }
};

/// A Pool and its upstream heap at one instant (quiescent: between kernels).
struct PoolSnapshot {
  Stats pool;
  Stats upstream;
  u64 hunks;
  u64 reserved;
};

template <class P, class H>
__global__ void pool_snapshot(const P* p, const H* h, PoolSnapshot* out) {
  if (global_id() != 0) return;
  *out = PoolSnapshot{p->stats(), h->stats(), p->hunk_count(), p->reserved_bytes()};
}

/// trim() needs no concurrent allocation: one thread, in a launch of its own.
template <class P>
__global__ void pool_trim(P* p) {
  if (global_id() == 0) p->trim();
}

/// One thread, a single_owner Pool over a single_owner heap H (built here from
/// `region` with units/pages of `hunk` bytes): hunks grow; after frees through the
/// tag (round 0, then trim()) or typed (round 1) only the head hunk is held; zero-size
/// objects; double frees; destroying the Pool returns every hunk.
template <class P, class H>
__global__ void pool_single(P* pool_at, H* heap_at, Block region, std::size_t hunk, Block* scratch,
                            u64 scratch_n, u64* failures) {
  if (global_id() != 0) return;  // single_owner: exactly one thread ever touches them
  H* h = ::new (static_cast<void*>(heap_at)) H(region, hunk);
  check(h->init_error() == Error::none, failures);
  P* p = ::new (static_cast<void*>(pool_at)) P(*h, hunk);
  for (unsigned round = 0; round < 2; ++round) {
    for (u64 q = 0; q < scratch_n; ++q) {
      const Layout l{PoolRequests::size(q, round), PoolRequests::align(q, round)};
      const Result<Block> r = p->try_allocate(l);
      check(r.ok() && r->size == round8(l.size) && r->address() % l.align == 0, failures);
      scratch[q] = r.ok() ? *r : Block{};
      if (r.ok()) fill_words(*r, stamp(q, round));
    }
    check(p->hunk_count() >= 2 && h->stats().live == p->hunk_count() &&
              p->reserved_bytes() == p->hunk_count() * hunk && p->stats().live == scratch_n,
          failures);
    for (u64 q = 0; q < scratch_n; ++q) {
      if (!scratch[q].is_null()) check(words_intact(scratch[q], stamp(q, round)), failures);
    }
    for (u64 q = 0; q < scratch_n; ++q) {
      if (scratch[q].is_null()) continue;
      check((round == 0 ? hold_deallocate(scratch[q]) : p->try_deallocate(scratch[q])) ==
                Error::none,
            failures);
    }
    const Stats s = p->stats();
    check(s.live == 0 && s.bytes_in_use == 0, failures);
    // The newest object sits in the head hunk, which is never given back, so its
    // tag is still readable (and cleared).
    const Block last = scratch[scratch_n - 1];
    if (!last.is_null()) {
      check((round == 0 ? hold_deallocate(last) : p->try_deallocate(last)) == Error::double_free,
            failures);
    }
    // A single_owner Pool may give an emptied hunk back at once; trim() returns any
    // spare that is left. Either way only the (reset) head hunk remains.
    if (round == 0) p->trim();
    // Only the head hunk (reset) is left.
    check(h->stats().live <= 1 && h->stats().live == p->hunk_count(), failures);
  }
  const Result<Block> z = p->try_allocate(Layout{0, 8});
  check(z.ok() && z->size == 0 && p->stats().live == 1, failures);
  if (z.ok()) {
    check(hold_deallocate(*z) == Error::none, failures);
    check(hold_deallocate(*z) == Error::double_free, failures);
  }
  check(p->stats().live == 0, failures);
  p->~P();
  check(h->stats().live == 0 && h->stats().bytes_in_use == 0, failures);
  h->~H();
}

/// Host: the concurrent Pool phases over an upstream heap H (Slab or AddrSpace, both
/// built as H(region, 4096) and concurrent) in device memory.
template <class H>
int pool_suite(unsigned blocks, unsigned threads, std::size_t region_bytes, u64& failed) {
  using P = Pool<H, concurrent>;
  constexpr unsigned k = 4;
  constexpr std::size_t hunk = 4096;
  constexpr std::size_t header = 64;  // a hunk's in-band header
  const u64 n = static_cast<u64>(blocks) * threads;
  const u64 want = n * k;
  std::size_t plain = 0, tagged = 0;
  for (u64 i = 0; i < n; ++i) {
    for (unsigned j = 0; j < k; ++j) {
      plain += round8(PoolRequests::size(i, j));
      tagged += round8(PoolRequests::size(i, j)) + detail::tag_size;
    }
  }
  // No hunk can serve more than this, so at least this many hunks are needed.
  const u64 min_hunks = (tagged + (hunk - header) - 1) / (hunk - header);
  DeviceArray<H> heap(1);
  DeviceArray<P> pool(1);
  DeviceArray<HeapInfo> info(1);
  DeviceArray<unsigned char> memory(region_bytes);
  DeviceArray<Grant> grants(want);
  DeviceArray<u64> failures(1);
  DeviceArray<u64> exhausted(1);
  DeviceArray<Stats> stats(1);
  DeviceArray<PoolSnapshot> snap(1);
  SWIM_MEM_GPU_TRY(heap.status());
  SWIM_MEM_GPU_TRY(pool.status());
  SWIM_MEM_GPU_TRY(info.status());
  SWIM_MEM_GPU_TRY(memory.status());
  SWIM_MEM_GPU_TRY(grants.status());
  SWIM_MEM_GPU_TRY(failures.status());
  SWIM_MEM_GPU_TRY(exhausted.status());
  SWIM_MEM_GPU_TRY(stats.status());
  SWIM_MEM_GPU_TRY(snap.status());
  std::vector<Grant> got;
  HeapInfo in{};
  PoolSnapshot ps{};
  Stats st{};
  auto snapshot = [&]() -> int {
    pool_snapshot<P, H><<<1, 1>>>(pool.get(), heap.get(), snap.get());
    SWIM_MEM_GPU_LAUNCHED();
    SWIM_MEM_GPU_TRY(snap.to_host(ps));
    return SWIM_MEM_GPU_OK;
  };

  const Block region{memory.get(), region_bytes};
  heap_init<H><<<1, 1>>>(heap.get(), region, hunk, info.get());
  SWIM_MEM_GPU_LAUNCHED();
  SWIM_MEM_GPU_TRY(info.to_host(in));
  // The region holds a hunk for every object: even if every allocation had to start
  // its own hunk, the upstream could not run out.
  failed += in.error != kOk || in.capacity < (want + 1) * hunk;
  pool_init<P, H><<<1, 1>>>(pool.get(), heap.get(), hunk);
  SWIM_MEM_GPU_LAUNCHED();

  // Phase 1: every thread allocates k objects of 16..512 bytes; the pool grows hunk by
  // hunk; all granted, aligned, disjoint; partners free them through the tag.
  hold_alloc<P, PoolRequests><<<blocks, threads>>>(pool.get(), region, grants.get(), n, k,
                                                   kOomRetries, failures.get());
  SWIM_MEM_GPU_LAUNCHED();
  SWIM_MEM_GPU_TRY(grants.to_host(got));
  Tally t = tally(got, detail::tag_size);
  failed += t.granted != want;
  failed += t.overlaps;
  failed += t.bytes != plain;
  SWIM_MEM_GPU_STEP(snapshot());
  failed += ps.pool.live != want || ps.pool.bytes_in_use != plain;
  failed += ps.hunks < min_hunks || ps.upstream.live != ps.hunks || ps.reserved != ps.hunks * hunk;
  const u64 grown = ps.hunks;
  hold_release<P><<<blocks, threads>>>(pool.get(), grants.get(), n, k, false, failures.get());
  SWIM_MEM_GPU_LAUNCHED();
  SWIM_MEM_GPU_STEP(snapshot());
  // Emptied hunks are retired, not yet given back.
  failed += ps.pool.live != 0 || ps.pool.bytes_in_use != 0 || ps.hunks != grown ||
            ps.upstream.live != grown;
  hold_double_free<<<blocks, threads>>>(grants.get(), n, k, failures.get());
  SWIM_MEM_GPU_LAUNCHED();
  SWIM_MEM_GPU_STEP(snapshot());
  failed += ps.pool.live != 0 || ps.pool.bytes_in_use != 0;
  // trim() gives every spare hunk back: only the (reset) head is left.
  pool_trim<P><<<1, 1>>>(pool.get());
  SWIM_MEM_GPU_LAUNCHED();
  SWIM_MEM_GPU_STEP(snapshot());
  failed += ps.hunks > 1 || ps.upstream.live != ps.hunks || ps.reserved != ps.hunks * hunk;

  // Phase 2: churn (allocate, stamp, check, free through the tag), then trim again.
  hold_churn<P><<<blocks, threads>>>(pool.get(), n, 8, 512, failures.get(), exhausted.get());
  SWIM_MEM_GPU_LAUNCHED();
  pool_trim<P><<<1, 1>>>(pool.get());
  SWIM_MEM_GPU_LAUNCHED();
  SWIM_MEM_GPU_STEP(snapshot());
  failed += ps.pool.live != 0 || ps.pool.bytes_in_use != 0 || ps.hunks > 1 ||
            ps.upstream.live != ps.hunks;

  // Destroyed in a kernel, the Pool gives its last hunk back.
  destroy_kernel<P><<<1, 1>>>(pool.get());
  SWIM_MEM_GPU_LAUNCHED();
  SWIM_MEM_GPU_STEP(read_stats(heap.get(), stats, st));
  failed += st.live != 0 || st.bytes_in_use != 0;
  destroy_kernel<H><<<1, 1>>>(heap.get());
  SWIM_MEM_GPU_LAUNCHED();

  u64 device_failed = 0;
  SWIM_MEM_GPU_TRY(failures.to_host(device_failed));
  failed += device_failed;
  return SWIM_MEM_GPU_OK;
}

/// Host: a single_owner Pool over a single_owner heap, by one thread.
template <class H>
int pool_single_suite(unsigned blocks, unsigned threads, std::size_t region_bytes, u64& failed) {
  using P = Pool<H, single_owner>;
  constexpr u64 objects = 64;  // about 19 KiB with tags: several 4 KiB hunks
  DeviceArray<H> heap(1);
  DeviceArray<P> pool(1);
  DeviceArray<unsigned char> memory(region_bytes);
  DeviceArray<Block> scratch(objects);
  DeviceArray<u64> failures(1);
  SWIM_MEM_GPU_TRY(heap.status());
  SWIM_MEM_GPU_TRY(pool.status());
  SWIM_MEM_GPU_TRY(memory.status());
  SWIM_MEM_GPU_TRY(scratch.status());
  SWIM_MEM_GPU_TRY(failures.status());
  pool_single<P, H><<<blocks, threads>>>(pool.get(), heap.get(), Block{memory.get(), region_bytes},
                                         4096, scratch.get(), objects, failures.get());
  SWIM_MEM_GPU_LAUNCHED();
  u64 device_failed = 0;
  SWIM_MEM_GPU_TRY(failures.to_host(device_failed));
  failed += device_failed;
  return SWIM_MEM_GPU_OK;
}

}  // namespace swim::mem::device_suite

extern "C" int SWIM_MEM_LAUNCHER(check_pool)(unsigned blocks, unsigned threads) {
  using namespace swim::mem::device_suite;
  using swim::mem::AddrSpace;
  using swim::mem::Slab;
  using swim::mem::concurrent;
  using swim::mem::single_owner;
  if (const int s = no_device_or_zero(); s != SWIM_MEM_GPU_OK) return s;
  const u64 hunks = static_cast<u64>(blocks) * threads * 4 + 2;
  u64 failed = 0;
  SWIM_MEM_GPU_STEP(pool_suite<Slab<concurrent, true>>(blocks, threads, slab_bytes(hunks, 4096),
                                                       failed));
  SWIM_MEM_GPU_STEP(pool_suite<AddrSpace<concurrent, true>>(
      blocks, threads, addr_space_bytes(hunks, 4096), failed));
  SWIM_MEM_GPU_STEP(pool_single_suite<Slab<single_owner, true>>(blocks, threads,
                                                                slab_bytes(64, 4096), failed));
  SWIM_MEM_GPU_STEP(pool_single_suite<AddrSpace<single_owner, true>>(
      blocks, threads, addr_space_bytes(64, 4096), failed));
  return failures_status(failed);
}
