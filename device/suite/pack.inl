// The device suite, Pack: check_pack.
//
// Pack<concurrent> bumped by every thread of the grid (alignments 8..256). Phase 1:
// all granted, aligned, disjoint (tags included), intact; partners free them newest
// first, half through the tag and half typed; the last free resets the Pack; a
// second free through the tag is a double free. Phase 2: a third of the room,
// granted or out_of_memory, never overlapping. Phase 3: churn, after which the Pack
// is reset. Phase 4: exact LIFO/reset arithmetic, zero-size objects, double frees,
// foreign pointers and exhaustion by one thread, on Pack<concurrent> and
// Pack<single_owner>. The kernels of phases 1-3 are in holds.inl.
#pragma once

#include <algorithm>
#include <cstddef>
#include <new>
#include <vector>

#include "allocators.inl"
#include "common.inl"
#include "holds.inl"
#include "swim/mem/holds/hold.hpp"
#include "swim/mem/holds/pack.hpp"

namespace swim::mem::device_suite {

/// Request shapes of the Pack phases: sizes and alignments per (thread, j).
struct PackRequests {
  SWIM_MEM_API static std::size_t size(u64 i, unsigned j) {
    return 1 + static_cast<std::size_t>((i * 53 + j * 29) % 96);
  }
  SWIM_MEM_API static std::size_t align(u64 i, unsigned j) {
    return std::size_t(8) << ((i + j) % 6);  // 8 .. 256
  }
};

/// One thread, one Pack (either mode): exact LIFO arithmetic, alignment, reset on the
/// last free, double frees and foreign pointers, zero-size objects, exhaustion.
/// `region` is granule-aligned and `scratch` holds region.size / 72 + 2 blocks.
template <class P>
__global__ void pack_single(P* at, Block region, Block* scratch, u64 scratch_n, u64* failures) {
  if (global_id() != 0) return;  // one thread, whatever the mode
  P* p = ::new (static_cast<void*>(at)) P(region);
  check(p->init_error() == Error::none, failures);
  const std::size_t cap = p->capacity();
  check(cap == region.size && p->stats().bytes_free == cap, failures);

  // Bump: each object costs its tag plus its size, rounded to 8.
  const Result<Block> a = p->try_allocate(Layout{24, 8});
  const std::size_t free_a = p->stats().bytes_free;
  const Result<Block> b = p->try_allocate(Layout{100, 8});
  if (!a.ok() || !b.ok()) {
    check(false, failures);
    return;
  }
  check(a->size == 24 && free_a == cap - 32, failures);
  check(b->size == 104 && b->address() == a->address() + 24 + detail::tag_size, failures);
  check(p->stats().bytes_free == free_a - 112 && p->stats().live == 2, failures);
  // LIFO: freeing the newest object gives its bytes back.
  check(hold_deallocate(*b) == Error::none, failures);
  check(p->stats().bytes_free == free_a && p->stats().live == 1, failures);
  const Result<Block> c = p->try_allocate(Layout{40, 256});
  if (!c.ok()) {
    check(false, failures);
    return;
  }
  check(c->size == 40 && c->address() % 256 == 0, failures);
  fill_words(*a, stamp(1, 0));
  fill_words(*c, stamp(3, 0));
  check(words_intact(*a, stamp(1, 0)) && words_intact(*c, stamp(3, 0)), failures);
  // Not the newest: it only counts; the last free resets the whole region.
  const std::size_t free_c = p->stats().bytes_free;
  check(p->try_deallocate(*a) == Error::none, failures);
  check(p->stats().bytes_free == free_c && p->stats().live == 1, failures);
  check(words_intact(*c, stamp(3, 0)), failures);
  check(hold_deallocate(*c) == Error::none, failures);
  Stats s = p->stats();
  check(s.live == 0 && s.bytes_in_use == 0 && s.bytes_free == cap, failures);
  // Double frees, through the tag and typed; a foreign pointer.
  check(hold_deallocate(*a) == Error::double_free, failures);
  check(hold_deallocate(*c) == Error::double_free, failures);
  check(p->try_deallocate(*b) == Error::double_free, failures);
  check(p->try_deallocate(Block{reinterpret_cast<void*>(region.address() + region.size + 64), 8}) ==
            Error::foreign_pointer,
        failures);
  // Zero-size objects count but take no bytes; they are freed through the tag too.
  const Result<Block> z = p->try_allocate(Layout{0, 8});
  check(z.ok() && z->size == 0 && p->stats().live == 1 && p->stats().bytes_free == cap, failures);
  if (z.ok()) {
    check(hold_deallocate(*z) == Error::none, failures);
    check(p->try_deallocate(*z) == Error::double_free, failures);
  }
  check(p->try_allocate(Layout{cap + 8, 8}).error() == Error::oversized, failures);
  // Exhaustion: 72 bytes per object; the failure changes nothing.
  u64 count = 0;
  bool exhausted = false;
  for (; count < scratch_n; ++count) {
    const Result<Block> r = p->try_allocate(Layout{64, 8});
    if (!r.ok()) {
      check(r.error() == Error::out_of_memory, failures);
      exhausted = true;
      break;
    }
    scratch[count] = *r;
    fill_words(*r, stamp(count, 1));
  }
  s = p->stats();
  check(exhausted && count == cap / 72 && s.live == count && s.bytes_free == cap - count * 72,
        failures);
  // Newest first: every free gives its bytes back.
  for (u64 q = count; q-- > 0;) {
    check(words_intact(scratch[q], stamp(q, 1)), failures);
    check(hold_deallocate(scratch[q]) == Error::none, failures);
    check(p->stats().bytes_free == cap - q * 72, failures);
  }
  s = p->stats();
  check(s.live == 0 && s.bytes_in_use == 0 && s.bytes_free == cap, failures);
  p->~P();
}

/// Host: the Pack phases.
inline int pack_suite(unsigned blocks, unsigned threads, u64& failed) {
  using P = Pack<concurrent>;
  constexpr unsigned k = 4;
  const u64 n = static_cast<u64>(blocks) * threads;
  const u64 want = n * k;
  // Room for every request with worst-case padding (tag + alignment), and their bytes.
  std::size_t worst = 64, plain = 0;
  for (u64 i = 0; i < n; ++i) {
    for (unsigned j = 0; j < k; ++j) {
      worst += round8(PackRequests::size(i, j)) + PackRequests::align(i, j);
      plain += round8(PackRequests::size(i, j));
    }
  }
  constexpr std::size_t single_bytes = 4096;
  constexpr std::size_t churn_bytes = 64 * 1024;
  const std::size_t bytes = std::max(worst, churn_bytes);
  DeviceArray<P> pack(1);
  DeviceArray<HeapInfo> info(1);
  DeviceArray<unsigned char> memory(bytes);
  DeviceArray<Grant> grants(want);
  DeviceArray<u64> failures(1);
  DeviceArray<u64> exhausted(1);
  DeviceArray<Stats> stats(1);
  DeviceArray<Pack<single_owner>> single(1);
  DeviceArray<Block> scratch(single_bytes / 72 + 2);
  SWIM_MEM_GPU_TRY(pack.status());
  SWIM_MEM_GPU_TRY(info.status());
  SWIM_MEM_GPU_TRY(memory.status());
  SWIM_MEM_GPU_TRY(grants.status());
  SWIM_MEM_GPU_TRY(failures.status());
  SWIM_MEM_GPU_TRY(exhausted.status());
  SWIM_MEM_GPU_TRY(stats.status());
  SWIM_MEM_GPU_TRY(single.status());
  SWIM_MEM_GPU_TRY(scratch.status());
  std::vector<Grant> got;
  HeapInfo in{};
  Stats st{};

  // Phase 1: room for everyone. All granted, aligned, disjoint (tags included);
  // partners free them newest first (half through the tag, half typed); the last free
  // resets the Pack; a second free through the tag is a double free.
  const Block all{memory.get(), worst};
  pack_init<P><<<1, 1>>>(pack.get(), all, info.get());
  SWIM_MEM_GPU_LAUNCHED();
  SWIM_MEM_GPU_TRY(info.to_host(in));
  failed += in.error != kOk || in.capacity != worst;
  hold_alloc<P, PackRequests><<<blocks, threads>>>(pack.get(), all, grants.get(), n, k,
                                                   kNoOomRetry, failures.get());
  SWIM_MEM_GPU_LAUNCHED();
  SWIM_MEM_GPU_TRY(grants.to_host(got));
  Tally t = tally(got, detail::tag_size);
  failed += t.granted != want;
  failed += t.overlaps;
  failed += t.bytes != plain;
  SWIM_MEM_GPU_STEP(read_stats(pack.get(), stats, st));
  failed += st.live != want || st.bytes_in_use != plain || st.peak_bytes != plain;
  hold_release<P><<<blocks, threads>>>(pack.get(), grants.get(), n, k, true, failures.get());
  SWIM_MEM_GPU_LAUNCHED();
  SWIM_MEM_GPU_STEP(read_stats(pack.get(), stats, st));
  failed += st.live != 0 || st.bytes_in_use != 0 || st.bytes_free != in.capacity;
  hold_double_free<<<blocks, threads>>>(grants.get(), n, k, failures.get());
  SWIM_MEM_GPU_LAUNCHED();
  SWIM_MEM_GPU_STEP(read_stats(pack.get(), stats, st));
  failed += st.live != 0 || st.bytes_free != in.capacity;
  destroy_kernel<P><<<1, 1>>>(pack.get());
  SWIM_MEM_GPU_LAUNCHED();

  // Phase 2: a third of the room. Granted or out_of_memory, disjoint; no frees, so the
  // mark only grows: after a failure less than the largest need (352 bytes) is left.
  const Block third{memory.get(), round8(std::max<std::size_t>(worst / 3, 512))};
  pack_init<P><<<1, 1>>>(pack.get(), third, info.get());
  SWIM_MEM_GPU_LAUNCHED();
  SWIM_MEM_GPU_TRY(info.to_host(in));
  failed += in.error != kOk;
  hold_alloc<P, PackRequests><<<blocks, threads>>>(pack.get(), third, grants.get(), n, k,
                                                   kNoOomRetry, failures.get());
  SWIM_MEM_GPU_LAUNCHED();
  SWIM_MEM_GPU_TRY(grants.to_host(got));
  t = tally(got, detail::tag_size);
  failed += t.overlaps;
  failed += t.other;
  failed += t.granted + t.out_of_memory != want;
  SWIM_MEM_GPU_STEP(read_stats(pack.get(), stats, st));
  failed += st.live != t.granted || st.bytes_in_use != t.bytes || t.bytes > in.capacity;
  if (t.out_of_memory > 0) failed += st.bytes_free >= 352;
  hold_release<P><<<blocks, threads>>>(pack.get(), grants.get(), n, k, false, failures.get());
  SWIM_MEM_GPU_LAUNCHED();
  SWIM_MEM_GPU_STEP(read_stats(pack.get(), stats, st));
  failed += st.live != 0 || st.bytes_in_use != 0 || st.bytes_free != in.capacity;
  destroy_kernel<P><<<1, 1>>>(pack.get());
  SWIM_MEM_GPU_LAUNCHED();

  // Phase 3: churn on 64 KiB. Whatever the interleaving, once every object is freed
  // the Pack is reset (the last free resets it in the same CAS).
  const Block churn{memory.get(), churn_bytes};
  pack_init<P><<<1, 1>>>(pack.get(), churn, info.get());
  SWIM_MEM_GPU_LAUNCHED();
  SWIM_MEM_GPU_TRY(info.to_host(in));
  failed += in.error != kOk;
  hold_churn<P><<<blocks, threads>>>(pack.get(), n, 16, 200, failures.get(), exhausted.get());
  SWIM_MEM_GPU_LAUNCHED();
  SWIM_MEM_GPU_STEP(read_stats(pack.get(), stats, st));
  failed += st.live != 0 || st.bytes_in_use != 0 || st.bytes_free != in.capacity;
  destroy_kernel<P><<<1, 1>>>(pack.get());
  SWIM_MEM_GPU_LAUNCHED();

  // Phase 4: deterministic single-thread checks, on a concurrent Pack (used by one
  // thread) and on a single_owner Pack.
  const Block small{memory.get(), single_bytes};
  pack_single<P><<<blocks, threads>>>(pack.get(), small, scratch.get(), single_bytes / 72 + 2,
                                      failures.get());
  SWIM_MEM_GPU_LAUNCHED();
  pack_single<Pack<single_owner>><<<blocks, threads>>>(single.get(), small, scratch.get(),
                                                       single_bytes / 72 + 2, failures.get());
  SWIM_MEM_GPU_LAUNCHED();

  u64 device_failed = 0;
  SWIM_MEM_GPU_TRY(failures.to_host(device_failed));
  failed += device_failed;
  return SWIM_MEM_GPU_OK;
}

}  // namespace swim::mem::device_suite

extern "C" int SWIM_MEM_LAUNCHER(check_pack)(unsigned blocks, unsigned threads) {
  using namespace swim::mem::device_suite;
  if (const int s = no_device_or_zero(); s != SWIM_MEM_GPU_OK) return s;
  u64 failed = 0;
  SWIM_MEM_GPU_STEP(pack_suite(blocks, threads, failed));
  return failures_status(failed);
}
