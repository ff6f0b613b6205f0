// The device suite, the warp front of SizeClasses: check_warp_front.
//
// A SizeClasses<ExtentHeap<concurrent>, concurrent, true> built in device memory
// over an in-band ExtentHeap (as size_classes.inl builds it), served to every
// thread of the grid through warp_try_allocate with swim::mem::Warp: lanes of a
// warp ask for objects of a few shared classes (one run per class and warp call),
// a few for large or over-aligned ones (their own try_allocate). The lane work is
// device/warp_workers.hpp's, the same that tests/test_warp_front.cpp runs on
// emulated warps on the host. Two phases:
//   roomy: k objects per thread, all granted, disjoint (by address, on the host)
//          and stamped; freed by partners (half by another warp) through
//          hold_deallocate; the hold is empty, double frees through the tag are
//          reported; trim() gives hunks back;
//   short: 4k objects per thread from 256 KiB + 64 bytes per thread (far less
//          than that needs, even for one thread): every failure is out_of_memory,
//          what was granted is disjoint, everything comes back.
// The largest round, re-call count and run seen are passed to the caller.
#pragma once

#include <cstddef>
#include <new>
#include <vector>

#include "../warp_workers.hpp"
#include "allocators.inl"
#include "common.inl"

namespace swim::mem::device_suite {

using warp_workers::WarpCounters;
using warp_workers::WarpGrant;
using warp_workers::WfHeap;
using warp_workers::WfHold;

__global__ void wf_init(WfHeap* heap_at, WfHold* hold_at, Block region, u64* failures) {
  if (global_id() != 0) return;
  WfHeap* heap = ::new (static_cast<void*>(heap_at)) WfHeap(region, 4096);
  check(heap->init_error() == Error::none, failures);
  ::new (static_cast<void*>(hold_at)) WfHold(*heap);
}

__global__ void wf_alloc_kernel(WfHold* hold, WarpGrant* out, u64 n, unsigned k, bool short_heap,
                         WarpCounters* c) {
  const u64 i = global_id();
  const Warp warp;
  // The lanes that take part: those below n (the grid's last warps may have fewer).
  const WarpMask among = warp.ballot(warp.active(), i < n);
  if (i >= n) return;
  warp_workers::wf_allocate(warp, *hold, among, i, k, short_heap, out, c);
}

__global__ void wf_release_kernel(const WarpGrant* in, u64 n, unsigned k, WarpCounters* c) {
  const u64 t = global_id();
  if (t < n) warp_workers::wf_release(in, warp_workers::wf_partner(t, n), k, c);
}

__global__ void wf_after_kernel(WfHold* hold, const WarpGrant* in, u64 n, unsigned k, WarpCounters* c,
                         u64* failures) {
  if (global_id() != 0) return;
  warp_workers::wf_after(*hold, in, n, k, 16, c);
  check(hold->trim() > 0, failures);
  hold->~WfHold();
}

inline void add_figures(const WarpCounters& c, swim_mem_warp_front_figures& f) {
  f.max_round = std::max<unsigned long long>(f.max_round, c.max_round.raw);
  f.max_recalls = std::max<unsigned long long>(f.max_recalls, c.max_recalls.raw);
  f.largest_run = std::max<unsigned long long>(f.largest_run, c.largest_run.raw);
  f.aggregated += c.aggregated.raw;
  f.per_lane += c.per_lane.raw;
}

/// One phase: build, allocate (k per thread), check on the host, free, check, destroy.
inline int warp_front_phase(unsigned blocks, unsigned threads, u64 n, unsigned k, std::size_t bytes,
                            bool short_heap, swim_mem_warp_front_figures& figures, u64& failed) {
  DeviceArray<WfHeap> heap(1);
  DeviceArray<WfHold> hold(1);
  DeviceArray<unsigned char> memory(bytes);
  DeviceArray<WarpGrant> grants(n * k);
  DeviceArray<WarpCounters> counters(1);
  DeviceArray<u64> failures(1);
  SWIM_MEM_GPU_TRY(heap.status());
  SWIM_MEM_GPU_TRY(hold.status());
  SWIM_MEM_GPU_TRY(memory.status());
  SWIM_MEM_GPU_TRY(grants.status());
  SWIM_MEM_GPU_TRY(counters.status());
  SWIM_MEM_GPU_TRY(failures.status());
  wf_init<<<1, 1>>>(heap.get(), hold.get(), Block{memory.get(), bytes}, failures.get());
  SWIM_MEM_GPU_LAUNCHED();
  wf_alloc_kernel<<<blocks, threads>>>(hold.get(), grants.get(), n, k, short_heap, counters.get());
  SWIM_MEM_GPU_LAUNCHED();
  std::vector<WarpGrant> got;
  SWIM_MEM_GPU_TRY(grants.to_host(got));
  std::vector<Grant> as_grants;
  as_grants.reserve(got.size());
  for (const WarpGrant& g : got) as_grants.push_back(Grant{g.block, g.error, 0});
  const Tally t = tally(as_grants, 8);
  failed += t.overlaps;
  failed += t.other;
  failed += short_heap ? (t.out_of_memory == 0 || t.granted == 0) : (t.granted != n * k);
  wf_release_kernel<<<blocks, threads>>>(grants.get(), n, k, counters.get());
  SWIM_MEM_GPU_LAUNCHED();
  wf_after_kernel<<<1, 1>>>(hold.get(), grants.get(), n, k, counters.get(), failures.get());
  SWIM_MEM_GPU_LAUNCHED();
  WarpCounters c{};
  SWIM_MEM_GPU_TRY(counters.to_host(c));
  failed += c.failures.raw;
  failed += c.granted.raw != t.granted;
  failed += c.freed.raw != t.granted;
  if (c.failures.raw != 0) g_last_error = "a warp_workers.hpp check failed (WarpCounters::first_failure)";
  add_figures(c, figures);
  u64 f = 0;
  SWIM_MEM_GPU_TRY(failures.to_host(f));
  failed += f;
  return SWIM_MEM_GPU_OK;
}

}  // namespace swim::mem::device_suite

extern "C" int SWIM_MEM_LAUNCHER(check_warp_front)(unsigned blocks, unsigned threads,
                                                   struct swim_mem_warp_front_figures* figures) {
  using namespace swim::mem::device_suite;
  if (const int s = no_device_or_zero(); s != SWIM_MEM_GPU_OK) return s;
  swim_mem_warp_front_figures measured{};
  u64 failed = 0;
  const u64 total = static_cast<u64>(blocks) * threads;
  // Some lanes of the last warp sit out (the ballot on i < n).
  const u64 n = total > 32 ? total - 3 : total;
  constexpr unsigned k = 4;
  // Roomy: every object's class share of a hunk, generously, and the large ones.
  const std::size_t roomy = static_cast<std::size_t>(n) * k * 4096 + (std::size_t(64) << 20);
  SWIM_MEM_GPU_STEP(warp_front_phase(blocks, threads, n, k, roomy, false, measured, failed));
  const std::size_t short_heap = (std::size_t(256) << 10) + static_cast<std::size_t>(n) * 64;
  SWIM_MEM_GPU_STEP(warp_front_phase(blocks, threads, n, 4 * k, short_heap, true, measured, failed));
  if (figures != nullptr) *figures = measured;
  return failures_status(failed);
}
