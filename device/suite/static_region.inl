// The device suite, StaticRegion: check_static_region.
//
// A StaticRegion<RegionAccess::device>, built in device memory by a one-thread
// kernel, bumped by every thread of the grid at once. Phase 1 (room for every
// request with worst-case padding): every thread served, blocks aligned, inside the
// region, disjoint by address (host) and by content (a later launch). Phase 2 (half
// the bytes): granted or out_of_memory, never overlapping, and the region ends
// nearly full. Phase 3: acquire/write/release churn, where rollbacks race with bumps.
#pragma once

#include <cstddef>
#include <new>
#include <vector>

#include "common.inl"
#include "swim/mem/sources/static_region.hpp"

namespace swim::mem::device_suite {

using DeviceRegion = StaticRegion<RegionAccess::device>;

SWIM_MEM_API inline std::size_t request_size(u64 i) { return 1 + static_cast<std::size_t>((i * 37) % 64); }
SWIM_MEM_API inline std::size_t request_align(u64 i) { return std::size_t(1) << (i % 8); }
SWIM_MEM_API inline unsigned char pattern(u64 i) { return static_cast<unsigned char>(i * 131 + 7); }

// The control block lives in device memory and is built there: StaticRegion is
// not copyable, so it is never memcpy'd from the host.
__global__ void region_init(DeviceRegion* r, Block region, unsigned retries) {
  if (global_id() == 0) ::new (static_cast<void*>(r)) DeviceRegion(region, retries);
}

__global__ void region_used(const DeviceRegion* r, u64* used) {
  if (global_id() == 0) *used = r->used();
}

__global__ void region_acquire(DeviceRegion* r, Grant* out, u64 n, unsigned outer_retries) {
  const u64 i = global_id();
  if (i >= n) return;
  Result<Block> b = Error::contended;
  unsigned k = 0;
  for (; k < outer_retries; ++k) {
    b = r->try_acquire(request_size(i), request_align(i));
    if (b.error() != Error::contended) break;
  }
  out[i] = Grant{b.ok() ? *b : Block{}, static_cast<unsigned>(b.error()), k};
  if (b.ok()) {
    unsigned char* p = static_cast<unsigned char*>(b->ptr);
    for (std::size_t j = 0; j < b->size; ++j) p[j] = pattern(i);
  }
}

// A separate launch: every write of region_acquire is visible, so an overlap shows
// as a byte with another thread's pattern.
__global__ void region_verify(const Grant* in, u64 n, Block region, u64* failures) {
  const u64 i = global_id();
  if (i >= n) return;
  const Grant g = in[i];
  if (g.error != static_cast<unsigned>(Error::none)) return;
  check(g.block.size == request_size(i), failures);
  check(g.block.address() % request_align(i) == 0, failures);
  check(region.contains(g.block.ptr, g.block.size), failures);
  const unsigned char* p = static_cast<const unsigned char*>(g.block.ptr);
  bool intact = true;
  for (std::size_t j = 0; j < g.block.size; ++j) intact = intact && p[j] == pattern(i);
  check(intact, failures);
}

// Acquire, write, check, release, over and over: rollbacks race with bumps.
__global__ void region_churn(DeviceRegion* r, u64 n, unsigned rounds, u64* failures) {
  const u64 i = global_id();
  if (i >= n) return;
  for (unsigned k = 0; k < rounds; ++k) {
    const Result<Block> b = r->try_acquire(8, 8);
    if (!b.ok()) {
      check(b.error() == Error::contended || b.error() == Error::out_of_memory, failures);
      continue;
    }
    const u64 mark = (i << 20) | k;
    atomic_ref<u64> word(*static_cast<u64*>(b->ptr));
    word.store(mark, order::relaxed);
    check(word.load(order::relaxed) == mark, failures);
    check(r->release(*b) == Error::none, failures);
  }
}

}  // namespace swim::mem::device_suite

extern "C" int SWIM_MEM_LAUNCHER(check_static_region)(unsigned blocks, unsigned threads) {
  using namespace swim::mem::device_suite;
  using swim::mem::Block;
  if (const int s = no_device_or_zero(); s != SWIM_MEM_GPU_OK) return s;
  const u64 n = static_cast<u64>(blocks) * threads;
  u64 worst = 0, plain = 0;  // bytes for every request with worst-case padding / with none
  for (u64 i = 0; i < n; ++i) {
    worst += request_size(i) + request_align(i) - 1;
    plain += request_size(i);
  }
  constexpr unsigned kOuterRetries = 1u << 16;
  u64 failed = 0;

  DeviceArray<DeviceRegion> region(1);
  DeviceArray<Grant> grants(n);
  DeviceArray<u64> failures(1);
  DeviceArray<u64> used(1);
  DeviceArray<unsigned char> memory(worst + 256);  // phase 2 needs >= 191 bytes
  DeviceArray<unsigned char> churn_memory(4096);
  SWIM_MEM_GPU_TRY(region.status());
  SWIM_MEM_GPU_TRY(grants.status());
  SWIM_MEM_GPU_TRY(failures.status());
  SWIM_MEM_GPU_TRY(used.status());
  SWIM_MEM_GPU_TRY(memory.status());
  SWIM_MEM_GPU_TRY(churn_memory.status());
  std::vector<Grant> got;
  u64 used_bytes = 0;

  // Phase 1: room for everyone, whatever the order: every thread is served.
  const Block all{memory.get(), static_cast<std::size_t>(worst)};
  region_init<<<1, 1>>>(region.get(), all, DeviceRegion::default_retries);
  SWIM_MEM_GPU_LAUNCHED();
  region_acquire<<<blocks, threads>>>(region.get(), grants.get(), n, kOuterRetries);
  SWIM_MEM_GPU_LAUNCHED();
  region_verify<<<blocks, threads>>>(grants.get(), n, all, failures.get());
  SWIM_MEM_GPU_LAUNCHED();
  region_used<<<1, 1>>>(region.get(), used.get());
  SWIM_MEM_GPU_LAUNCHED();
  SWIM_MEM_GPU_TRY(grants.to_host(got));
  SWIM_MEM_GPU_TRY(used.to_host(used_bytes));
  Tally t = tally(got);
  failed += t.granted != n;
  failed += t.overlaps;
  failed += used_bytes > worst || used_bytes < plain;

  // Phase 2: room for half the bytes (at least one worst-case request, so that
  // nothing is oversized): some run out, none overlap, and the region ends nearly
  // full (a thread fails only when less than its need, <= 64 + 127, is left).
  const Block half{memory.get(), static_cast<std::size_t>(plain / 2 > 191 ? plain / 2 : 191)};
  region_init<<<1, 1>>>(region.get(), half, DeviceRegion::default_retries);
  SWIM_MEM_GPU_LAUNCHED();
  region_acquire<<<blocks, threads>>>(region.get(), grants.get(), n, kOuterRetries);
  SWIM_MEM_GPU_LAUNCHED();
  region_verify<<<blocks, threads>>>(grants.get(), n, half, failures.get());
  SWIM_MEM_GPU_LAUNCHED();
  region_used<<<1, 1>>>(region.get(), used.get());
  SWIM_MEM_GPU_LAUNCHED();
  SWIM_MEM_GPU_TRY(grants.to_host(got));
  SWIM_MEM_GPU_TRY(used.to_host(used_bytes));
  t = tally(got);
  failed += t.overlaps;
  failed += t.other;
  failed += t.granted + t.out_of_memory != n;
  failed += used_bytes > half.size || t.bytes > used_bytes;
  if (t.out_of_memory > 0) failed += used_bytes + 64 + 127 < half.size;

  // Phase 3: acquire/release churn on a small region.
  const Block small{churn_memory.get(), 4096};
  region_init<<<1, 1>>>(region.get(), small, DeviceRegion::default_retries);
  SWIM_MEM_GPU_LAUNCHED();
  region_churn<<<blocks, threads>>>(region.get(), n, 64, failures.get());
  SWIM_MEM_GPU_LAUNCHED();
  region_used<<<1, 1>>>(region.get(), used.get());
  SWIM_MEM_GPU_LAUNCHED();
  SWIM_MEM_GPU_TRY(used.to_host(used_bytes));
  failed += used_bytes > small.size;

  u64 device_failed = 0;
  SWIM_MEM_GPU_TRY(failures.to_host(device_failed));
  return failures_status(failed + device_failed);
}
