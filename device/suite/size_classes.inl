// The device suite, SizeClasses: check_size_classes.
//
// A SizeClasses<ExtentHeap<concurrent>, concurrent> built in device memory over an
// ExtentHeap whose records are in-band, shared by every thread of the grid. Each
// thread allocates objects of mixed sizes (16 B .. 600 B, and every 16th one of
// 40 KB: a heap block of its own), stamps them; partners check the stamps and free
// them through hold_deallocate (the tag); the hold is then empty, and a double free
// through the tag is reported.
#pragma once

#include <cstddef>
#include <new>

#include "allocators.inl"
#include "common.inl"
#include "swim/mem/heaps/extent_heap.hpp"
#include "swim/mem/holds/hold.hpp"

namespace swim::mem::device_suite {

using ScExtents = ExtentHeap<concurrent>;
using ScHold = SizeClasses<ScExtents, concurrent, true>;

SWIM_MEM_API inline std::size_t sc_size(u64 i, unsigned j) {
  return (i + j) % 16 == 15 ? 40000 : 1 + static_cast<std::size_t>((i * 37 + j * 11) % 600);
}

__global__ void sc_init(ScExtents* heap_at, ScHold* hold_at, Block region, u64* failures) {
  if (global_id() != 0) return;
  ScExtents* heap = ::new (static_cast<void*>(heap_at)) ScExtents(region, 4096);
  check(heap->init_error() == Error::none, failures);
  ::new (static_cast<void*>(hold_at)) ScHold(*heap);
}

__global__ void sc_alloc(ScHold* hold, Grant* out, u64 n, unsigned k, u64* failures) {
  const u64 i = global_id();
  if (i >= n) return;
  for (unsigned j = 0; j < k; ++j) {
    const std::size_t size = sc_size(i, j);
    unsigned tries = 0;
    const Result<Block> r = allocate_bounded(*hold, Layout{size, 8}, kOomRetries, tries);
    record(out[i * k + j], r, tries);
    if (!r.ok()) continue;
    check(r->size >= size && r->address() % 8 == 0, failures);
    fill_words(Block{r->ptr, size / 8 * 8}, stamp(i, j));
  }
}

__global__ void sc_release(const Grant* in, u64 n, unsigned k, u64* failures) {
  const u64 t = global_id();
  if (t >= n) return;
  const u64 i = partner(t, n);
  for (unsigned j = 0; j < k; ++j) {
    const Grant g = in[i * k + j];
    if (g.error != kOk) continue;
    check(words_intact(Block{g.block.ptr, sc_size(i, j) / 8 * 8}, stamp(i, j)), failures);
    check(free_bounded([&] { return hold_deallocate(g.block); }) == Error::none, failures);
  }
}

__global__ void sc_after(ScHold* hold, const Grant* in, u64 n, unsigned k, u64* failures) {
  if (global_id() != 0) return;
  check(hold->stats().live == 0, failures);
  for (u64 i = 0; i < n * k && i < 64; ++i) {
    if (in[i].error == kOk) check(hold_deallocate(in[i].block) == Error::double_free, failures);
  }
  check(hold->trim() > 0, failures);
  hold->~ScHold();
}

inline int size_classes_suite(unsigned blocks, unsigned threads, u64& failed) {
  constexpr unsigned k = 2;
  const u64 n = static_cast<u64>(blocks) * threads;
  // Room: every object's class share of a hunk, generously, and the large ones.
  const std::size_t bytes = static_cast<std::size_t>(n) * k * 4096 + (std::size_t(64) << 20);
  DeviceArray<ScExtents> heap(1);
  DeviceArray<ScHold> hold(1);
  DeviceArray<unsigned char> memory(bytes);
  DeviceArray<Grant> grants(n * k);
  DeviceArray<u64> failures(1);
  SWIM_MEM_GPU_TRY(heap.status());
  SWIM_MEM_GPU_TRY(hold.status());
  SWIM_MEM_GPU_TRY(memory.status());
  SWIM_MEM_GPU_TRY(grants.status());
  SWIM_MEM_GPU_TRY(failures.status());
  sc_init<<<1, 1>>>(heap.get(), hold.get(), Block{memory.get(), bytes}, failures.get());
  SWIM_MEM_GPU_LAUNCHED();
  sc_alloc<<<blocks, threads>>>(hold.get(), grants.get(), n, k, failures.get());
  SWIM_MEM_GPU_LAUNCHED();
  std::vector<Grant> got;
  SWIM_MEM_GPU_TRY(grants.to_host(got));
  const Tally t = tally(got, 8);
  failed += t.granted != n * k;
  failed += t.overlaps;
  sc_release<<<blocks, threads>>>(grants.get(), n, k, failures.get());
  SWIM_MEM_GPU_LAUNCHED();
  sc_after<<<1, 1>>>(hold.get(), grants.get(), n, k, failures.get());
  SWIM_MEM_GPU_LAUNCHED();
  u64 f = 0;
  SWIM_MEM_GPU_TRY(failures.to_host(f));
  failed += f;
  return SWIM_MEM_GPU_OK;
}

}  // namespace swim::mem::device_suite

extern "C" int SWIM_MEM_LAUNCHER(check_size_classes)(unsigned blocks, unsigned threads) {
  using namespace swim::mem::device_suite;
  if (const int s = no_device_or_zero(); s != SWIM_MEM_GPU_OK) return s;
  u64 failed = 0;
  SWIM_MEM_GPU_STEP(size_classes_suite(blocks, threads, failed));
  return failures_status(failed);
}
