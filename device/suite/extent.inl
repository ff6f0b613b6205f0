// The device suite, exact extents: check_extent_heap and check_device_buffers.
//
// check_extent_heap: an ExtentHeap<concurrent> with its records in-band, built in
// device memory and shared by every thread of the grid (through its bounded
// try-lock: contended is retried). Each thread takes 1..8 granules, exact (never
// rounded to a power of two), inside, disjoint, every granule stamped; partners
// check and free them; afterwards the whole capacity is one extent again
// (coalescing), and misuse (double free, foreign pointer) is reported.
//
// check_device_buffers: host code manages device memory through an
// ExtentArena<device_source> (records in host memory) with DeviceBufs; kernels
// fill them through DeviceMut borrows; half are freed, one stays borrowed; a
// compaction with the runtime's device copies moves the others down: the borrowed
// one has not moved, every buffer keeps its contents (checked by kernels through
// DeviceRef borrows), and the free space is one extent.
#pragma once

#include <cstddef>
#include <cstdint>
#include <new>
#include <vector>

#include "allocators.inl"
#include "common.inl"
#include "swim/mem/heaps/extent_arena.hpp"
#include "swim/mem/heaps/extent_heap.hpp"
#include "swim/mem/residents/device_buf.hpp"

namespace swim::mem::device_suite {

using ExtentC = ExtentHeap<concurrent>;

__global__ void eh_init(ExtentC* at, Block region, std::size_t granule, HeapInfo* info) {
  if (global_id() != 0) return;
  ExtentC* h = ::new (static_cast<void*>(at)) ExtentC(region, granule);
  info->error = static_cast<unsigned>(h->init_error());
  info->capacity = h->capacity();
  info->count = h->capacity() / granule;
  info->max_block = h->capacity();
}

SWIM_MEM_API inline std::size_t extent_granules(u64 i) { return 1 + static_cast<std::size_t>((i * 5) % 8); }

__global__ void eh_alloc(ExtentC* h, Block region, Grant* out, u64 n, u64* failures) {
  const u64 i = global_id();
  if (i >= n) return;
  const std::size_t g = h->granule();
  unsigned tries = 0;
  const Result<Block> r = allocate_bounded(*h, Layout{extent_granules(i) * g - 7, 8}, kOomRetries, tries);
  record(out[i], r, tries);
  if (!r.ok()) return;
  const bool inside = region.contains(r->ptr, r->size);
  check(inside && r->size == extent_granules(i) * g && r->address() % g == 0, failures);
  if (inside) fill_pages(*r, g, stamp(i, 0));
}

__global__ void eh_release(ExtentC* h, Block region, const Grant* in, u64 n, u64* failures) {
  const u64 t = global_id();
  if (t >= n) return;
  const u64 i = partner(t, n);
  const Grant g = in[i];
  if (g.error != kOk || !region.contains(g.block.ptr, g.block.size)) return;
  check(pages_intact(g.block, h->granule(), stamp(i, 0)), failures);
  check(free_bounded([&] { return h->try_deallocate(g.block); }) == Error::none, failures);
}

__global__ void eh_after(ExtentC* h, const Grant* in, u64 n, u64* failures) {
  if (global_id() != 0) return;
  const Stats s = h->stats();
  check(s.live == 0 && s.bytes_in_use == 0 && s.bytes_free == h->capacity(), failures);
  const Result<std::size_t> largest = h->largest_free_extent();
  check(largest.ok() && *largest == h->capacity(), failures);
  const Result<Block> whole = h->try_allocate(Layout{h->capacity(), 8});
  check(whole.ok(), failures);
  if (whole.ok()) check(h->try_deallocate(*whole) == Error::none, failures);
  for (u64 i = 0; i < n && i < 64; ++i) {
    if (in[i].error != kOk) continue;
    check(h->try_deallocate(in[i].block) == Error::double_free, failures);
    check(h->try_deallocate(Block{in[i].block.begin() + 8, 8}) == Error::foreign_pointer, failures);
  }
  h->~ExtentC();
}

inline int extent_heap_suite(unsigned blocks, unsigned threads, u64& failed) {
  constexpr std::size_t granule = 256;
  const u64 n = static_cast<u64>(blocks) * threads;
  u64 demand = 0;
  for (u64 i = 0; i < n; ++i) demand += extent_granules(i);
  // Room for everyone (each granule also costs a 16-byte record in-band).
  const std::size_t bytes = static_cast<std::size_t>(demand + 64) * (granule + 16) + granule;
  DeviceArray<ExtentC> heap(1);
  DeviceArray<HeapInfo> info(1);
  DeviceArray<unsigned char> memory(bytes);
  DeviceArray<Grant> grants(n);
  DeviceArray<u64> failures(1);
  SWIM_MEM_GPU_TRY(heap.status());
  SWIM_MEM_GPU_TRY(info.status());
  SWIM_MEM_GPU_TRY(memory.status());
  SWIM_MEM_GPU_TRY(grants.status());
  SWIM_MEM_GPU_TRY(failures.status());
  const Block all{memory.get(), bytes};
  eh_init<<<1, 1>>>(heap.get(), all, granule, info.get());
  SWIM_MEM_GPU_LAUNCHED();
  HeapInfo in{};
  SWIM_MEM_GPU_TRY(info.to_host(in));
  failed += in.error != kOk || in.count < demand;
  eh_alloc<<<blocks, threads>>>(heap.get(), all, grants.get(), n, failures.get());
  SWIM_MEM_GPU_LAUNCHED();
  std::vector<Grant> got;
  SWIM_MEM_GPU_TRY(grants.to_host(got));
  const Tally t = tally(got, 0);
  failed += t.granted != n;
  failed += t.overlaps;
  failed += t.bytes != demand * granule;
  eh_release<<<blocks, threads>>>(heap.get(), all, grants.get(), n, failures.get());
  SWIM_MEM_GPU_LAUNCHED();
  eh_after<<<1, 1>>>(heap.get(), grants.get(), n, failures.get());
  SWIM_MEM_GPU_LAUNCHED();
  u64 f = 0;
  SWIM_MEM_GPU_TRY(failures.to_host(f));
  failed += f;
  return SWIM_MEM_GPU_OK;
}

// ---- Device buffers managed from the host ------------------------------------------------

__global__ void db_fill(std::uint32_t* p, std::size_t n, std::uint32_t seed) {
  for (u64 i = global_id(); i < n; i += static_cast<u64>(gridDim.x) * blockDim.x) {
    p[i] = seed * 2654435761u + static_cast<std::uint32_t>(i);
  }
}

__global__ void db_check(const std::uint32_t* p, std::size_t n, std::uint32_t seed, u64* failures) {
  for (u64 i = global_id(); i < n; i += static_cast<u64>(gridDim.x) * blockDim.x) {
    check(p[i] == seed * 2654435761u + static_cast<std::uint32_t>(i), failures);
  }
}

inline int device_buffers_suite(unsigned count, u64& failed) {
  using Arena = ExtentArena<swim_mem_gpu::device_source>;
  using Buf = DeviceBuf<std::uint32_t, Arena>;
  ArenaOptions o;
  o.granule = 256;
  o.initial_bytes = std::size_t(64) << 20;
  o.growth_bytes = o.initial_bytes;
  o.max_bytes = o.initial_bytes;  // one range: the compaction's effect is visible in it
  Arena arena(swim_mem_gpu::device_source{}, o);
  if (arena.init_error() != Error::none) {
    g_last_error = "the arena could not get device memory";
    return SWIM_MEM_GPU_RUNTIME;
  }
  DeviceArray<u64> failures(1);
  SWIM_MEM_GPU_TRY(failures.status());
  std::vector<Buf> all;
  for (unsigned i = 0; i < count; ++i) {
    Result<Buf> b = Buf::try_make(arena, 1 + (static_cast<std::size_t>(i) * 7919) % 20000);
    if (!b.ok()) {
      ++failed;
      continue;
    }
    all.push_back(b.take());
  }
  std::vector<Buf> kept;
  std::vector<std::uint32_t> seeds;
  for (std::size_t i = 0; i < all.size(); ++i) {
    if (i % 2 != 0) continue;
    auto m = all[i].try_borrow_mut();
    if (!m.ok()) {
      ++failed;
      continue;
    }
    db_fill<<<16, 256>>>(m->data(), m->size(), static_cast<std::uint32_t>(i + 1));
    SWIM_MEM_GPU_LAUNCHED();  // the kernel is done before the borrow ends
    seeds.push_back(static_cast<std::uint32_t>(i + 1));
  }
  for (std::size_t i = 0; i < all.size(); ++i) {
    if (i % 2 == 0) kept.push_back(std::move(all[i]));
  }
  all.clear();  // frees the odd ones: the range is fragmented
  if (kept.size() < 4) return failures_status(failed + 1);
  const Stats before = arena.stats();
  const Result<std::size_t> largest_before = arena.largest_free_extent();
  failed += !largest_before.ok() || *largest_before >= before.bytes_free;
  {
    auto pinned = kept[2].try_borrow();  // in use by "a kernel": must not move
    const void* at = pinned->data();
    const Result<ArenaCompaction> c = arena.try_compact();
    failed += !c.ok();
    if (c.ok()) failed += c->buffers_borrowed != 1 || c->buffers_moved == 0;
    failed += pinned->data() != at;
  }
  const Result<ArenaCompaction> c = arena.try_compact();  // now with nothing borrowed
  failed += !c.ok();
  const Result<std::size_t> largest_after = arena.largest_free_extent();
  failed += !largest_after.ok() || *largest_after != arena.stats().bytes_free;
  failed += arena.stats().live != before.live;
  for (std::size_t i = 0; i < kept.size(); ++i) {
    auto r = kept[i].try_borrow();
    if (!r.ok()) {
      ++failed;
      continue;
    }
    db_check<<<16, 256>>>(r->data(), r->size(), seeds[i], failures.get());
    SWIM_MEM_GPU_LAUNCHED();
  }
  u64 f = 0;
  SWIM_MEM_GPU_TRY(failures.to_host(f));
  failed += f;
  kept.clear();
  failed += arena.stats().live != 0;
  return SWIM_MEM_GPU_OK;
}

}  // namespace swim::mem::device_suite

extern "C" int SWIM_MEM_LAUNCHER(check_extent_heap)(unsigned blocks, unsigned threads) {
  using namespace swim::mem::device_suite;
  if (const int s = no_device_or_zero(); s != SWIM_MEM_GPU_OK) return s;
  u64 failed = 0;
  SWIM_MEM_GPU_STEP(extent_heap_suite(blocks, threads, failed));
  return failures_status(failed);
}

extern "C" int SWIM_MEM_LAUNCHER(check_device_buffers)(unsigned buffers) {
  using namespace swim::mem::device_suite;
  if (const int s = no_device_or_zero(); s != SWIM_MEM_GPU_OK) return s;
  u64 failed = 0;
  SWIM_MEM_GPU_STEP(device_buffers_suite(buffers, failed));
  return failures_status(failed);
}
