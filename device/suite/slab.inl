// The device suite, Slab: check_slab.
//
// Slab<concurrent, true> and Slab<concurrent, false>, built in device memory and
// shared by every thread of the grid. Phase 1: k units per thread, every unit owned
// by one thread at a time (an owner word claimed with a CAS), stamps intact, half
// the frees by another thread, live == 0 afterwards; on the checked Slab, double
// frees and foreign pointers are reported and change nothing. Phase 2: about half
// the units needed; each unit goes to one thread, and out_of_memory only once every
// unit is handed out. Phase 3: alloc/free churn on fewer units than threads (pops
// race with pushes of the same units). Phase 4: Slab<single_owner, *> by one thread.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <new>
#include <vector>

#include "allocators.inl"
#include "common.inl"
#include "swim/mem/heaps/slab.hpp"

namespace swim::mem::device_suite {

/// The owner word of the unit at `p`. Units are `unit` bytes apart from a base at or
/// after the hunk's start, so (p - hunk start) / unit is one index per unit.
SWIM_MEM_DEVICE inline atomic_ref<u64> owner_of(u64* owners, Block hunk, const void* p,
                                                std::size_t unit) {
  return atomic_ref<u64>(owners[(reinterpret_cast<std::uintptr_t>(p) - hunk.address()) / unit]);
}

/// Each thread takes k units (sizes 1..unit, alignments 1..the Slab's guarantee),
/// claims each unit's owner word (a unit with two owners fails the CAS) and stamps it.
template <class S>
__global__ void slab_alloc(S* s, Block hunk, Grant* out, u64 n, unsigned k, u64* owners,
                           u64* failures) {
  const u64 i = global_id();
  if (i >= n) return;
  const std::size_t unit = s->unit();
  const unsigned align_bits = detail::countr_zero(s->alignment()) + 1;
  for (unsigned j = 0; j < k; ++j) {
    const Layout l{1 + static_cast<std::size_t>((i * 13 + j * 7) % unit),
                   std::size_t(1) << ((i + j) % align_bits)};
    unsigned tries = 0;
    const Result<Block> r = allocate_bounded(*s, l, kNoOomRetry, tries);
    record(out[i * k + j], r, tries);
    if (!r.ok()) continue;
    const bool inside = hunk.contains(r->ptr, r->size);
    check(inside && r->size == unit && r->address() % l.align == 0, failures);
    if (!inside) continue;
    u64 unowned = 0;
    check(owner_of(owners, hunk, r->ptr, unit).compare_exchange(unowned, i + 1, order::relaxed),
          failures);
    fill_words(*r, stamp(i, j));
  }
}

/// Thread t checks and frees the units of thread partner(t): intact stamps, the owner
/// word still names that thread, the free succeeds.
template <class S>
__global__ void slab_release(S* s, Block hunk, const Grant* in, u64 n, unsigned k, u64* owners,
                             u64* failures) {
  const u64 t = global_id();
  if (t >= n) return;
  const u64 i = partner(t, n);
  const std::size_t unit = s->unit();
  for (unsigned j = 0; j < k; ++j) {
    const Grant g = in[i * k + j];
    if (g.error != kOk || !hunk.contains(g.block.ptr, g.block.size)) continue;
    check(words_intact(g.block, stamp(i, j)), failures);
    // Cleared before the free: the unit's next owner claims it after the free.
    check(owner_of(owners, hunk, g.block.ptr, unit).exchange(0, order::relaxed) == i + 1,
          failures);
    check(free_bounded([&] { return s->try_deallocate(g.block); }) == Error::none, failures);
  }
}

/// After every unit was freed (and nothing allocates), checked Slabs only: a second
/// free of each is a double free; pointers inside a unit or blocks larger than a unit
/// are foreign. None of it may change the Slab. (An unchecked Slab trusts the blocks
/// it is given back: misuse there is a precondition violation, heaps/slab.hpp.)
template <class S>
__global__ void slab_misuse(S* s, const Grant* in, u64 n, unsigned k, bool checked,
                            u64* failures) {
  const u64 i = global_id();
  if (i >= n || !checked) return;
  for (unsigned j = 0; j < k; ++j) {
    const Grant g = in[i * k + j];
    if (g.error != kOk) continue;
    check(s->try_deallocate(g.block) == Error::double_free, failures);
    check(s->try_deallocate(Block{g.block.begin() + 8, 8}) == Error::foreign_pointer, failures);
    check(s->try_deallocate(Block{g.block.ptr, g.block.size + 1}) == Error::foreign_pointer,
          failures);
  }
}

/// Allocate, claim, stamp, check, unclaim, free, `rounds` times per thread on a Slab
/// with fewer units than threads: pops race with pushes of the same units (the ABA
/// case the head's counter guards against). Exhaustion is counted, not a failure.
template <class S>
__global__ void slab_churn(S* s, Block hunk, u64 n, unsigned rounds, u64* owners, u64* failures,
                           u64* exhausted) {
  const u64 i = global_id();
  if (i >= n) return;
  const std::size_t unit = s->unit();
  for (unsigned r = 0; r < rounds; ++r) {
    unsigned tries = 0;
    const Result<Block> b = allocate_bounded(*s, Layout{8, 8}, kNoOomRetry, tries);
    if (!b.ok()) {
      count_failure(b.error(), exhausted, failures);
      continue;
    }
    if (!hunk.contains(b->ptr, b->size)) {
      check(false, failures);
      continue;
    }
    const atomic_ref<u64> owner = owner_of(owners, hunk, b->ptr, unit);
    u64 unowned = 0;
    check(owner.compare_exchange(unowned, i + 1, order::relaxed), failures);
    const u64 v = stamp(i, r);
    fill_words(*b, v);
    check(words_intact(*b, v), failures);
    // Relaxed is enough: the free's release CAS orders this before the next pop.
    check(owner.exchange(0, order::relaxed) == i + 1, failures);
    check(free_bounded([&] { return s->try_deallocate(*b); }) == Error::none, failures);
  }
}

/// A single_owner Slab, built, used and destroyed by thread 0 alone: every unit is
/// handed out once per round (then out_of_memory, leaving the Slab unchanged), the
/// units are disjoint, they all come back, and misuse is reported.
template <class S>
__global__ void slab_single(S* at, Block hunk, std::size_t unit, Block* scratch, u64 scratch_n,
                            bool checked, u64* failures) {
  if (global_id() != 0) return;  // single_owner: exactly one thread ever touches it
  S* s = ::new (static_cast<void*>(at)) S(hunk, unit);
  check(s->init_error() == Error::none, failures);
  const u64 count = s->block_count();
  if (count == 0 || count > scratch_n) {
    check(false, failures);
    s->~S();
    return;
  }
  check(s->try_allocate(Layout{unit + 1, 1}).error() == Error::oversized, failures);
  check(s->try_allocate(Layout{8, s->alignment() * 2}).error() == Error::misaligned, failures);
  const Result<Block> z = s->try_allocate(Layout{0, 8});
  check(z.ok() && z->size == 0 && s->stats().live == 0, failures);
  for (unsigned round = 0; round < 2; ++round) {
    for (u64 q = 0; q < count; ++q) {
      const Result<Block> r = s->try_allocate(Layout{unit, 8});
      check(r.ok() && hunk.contains(r->ptr, r->size), failures);
      scratch[q] = r.ok() && hunk.contains(r->ptr, r->size) ? *r : Block{};
      if (!scratch[q].is_null()) fill_words(scratch[q], stamp(q, round));
    }
    const Stats full = s->stats();
    check(s->try_allocate(Layout{1, 1}).error() == Error::out_of_memory, failures);
    const Stats after = s->stats();
    check(full.live == count && full.bytes_free == 0 && full.bytes_in_use == count * unit,
          failures);
    check(after.live == full.live && after.bytes_free == full.bytes_free, failures);
    for (u64 q = 0; q < count; ++q) {
      if (!scratch[q].is_null()) check(words_intact(scratch[q], stamp(q, round)), failures);
    }
    // Even units first, then odd ones: the free list comes out shuffled.
    for (u64 parity = 0; parity < 2; ++parity) {
      for (u64 q = parity; q < count; q += 2) {
        if (!scratch[q].is_null()) check(s->try_deallocate(scratch[q]) == Error::none, failures);
      }
    }
    const Stats empty = s->stats();
    check(empty.live == 0 && empty.bytes_in_use == 0 && empty.bytes_free == count * unit &&
              empty.peak_bytes == count * unit,
          failures);
  }
  if (!scratch[0].is_null() && checked) {  // unchecked Slabs do not validate frees
    check(s->try_deallocate(scratch[0]) == Error::double_free, failures);
    check(s->try_deallocate(Block{scratch[0].begin() + 8, 8}) == Error::foreign_pointer,
          failures);
  }
  check(s->stats().live == 0, failures);
  s->~S();
}

/// The concurrent Slab<concurrent, Checked> phases on blocks x threads.
template <bool Checked>
int slab_suite(unsigned blocks, unsigned threads, u64& failed) {
  using S = Slab<concurrent, Checked>;
  constexpr unsigned k = 4;
  constexpr std::size_t unit = 64;
  const u64 n = static_cast<u64>(blocks) * threads;
  const u64 want = n * k;
  constexpr u64 units = 256;  // of the single_owner Slab (phase 4)
  const std::size_t bytes = std::max(slab_bytes(want, unit), slab_bytes(units, unit));
  DeviceArray<S> slab(1);
  DeviceArray<HeapInfo> info(1);
  DeviceArray<unsigned char> memory(bytes);
  DeviceArray<Grant> grants(want);
  DeviceArray<u64> owners(bytes / unit + 1);
  DeviceArray<u64> failures(1);
  DeviceArray<u64> exhausted(1);
  DeviceArray<Stats> stats(1);
  SWIM_MEM_GPU_TRY(slab.status());
  SWIM_MEM_GPU_TRY(info.status());
  SWIM_MEM_GPU_TRY(memory.status());
  SWIM_MEM_GPU_TRY(grants.status());
  SWIM_MEM_GPU_TRY(owners.status());
  SWIM_MEM_GPU_TRY(failures.status());
  SWIM_MEM_GPU_TRY(exhausted.status());
  SWIM_MEM_GPU_TRY(stats.status());
  std::vector<Grant> got;
  HeapInfo in{};
  Stats st{};

  // Phase 1: a unit for every request. All granted, disjoint, stamped; partners free
  // them; everything comes back; misuse is reported and changes nothing.
  const Block all{memory.get(), bytes};
  heap_init<S><<<1, 1>>>(slab.get(), all, unit, info.get());
  SWIM_MEM_GPU_LAUNCHED();
  SWIM_MEM_GPU_TRY(info.to_host(in));
  failed += in.error != kOk || in.count < want;
  slab_alloc<S><<<blocks, threads>>>(slab.get(), all, grants.get(), n, k, owners.get(),
                                     failures.get());
  SWIM_MEM_GPU_LAUNCHED();
  SWIM_MEM_GPU_TRY(grants.to_host(got));
  Tally t = tally(got, 0);
  failed += t.granted != want;
  failed += t.overlaps;
  SWIM_MEM_GPU_STEP(read_stats(slab.get(), stats, st));
  failed += st.live != want || st.bytes_in_use != want * unit || st.peak_bytes != want * unit ||
            st.bytes_free != (in.count - want) * unit;
  slab_release<S><<<blocks, threads>>>(slab.get(), all, grants.get(), n, k, owners.get(),
                                       failures.get());
  SWIM_MEM_GPU_LAUNCHED();
  SWIM_MEM_GPU_STEP(read_stats(slab.get(), stats, st));
  failed += st.live != 0 || st.bytes_in_use != 0 || st.bytes_free != in.count * unit;
  slab_misuse<S><<<blocks, threads>>>(slab.get(), grants.get(), n, k, Checked, failures.get());
  SWIM_MEM_GPU_LAUNCHED();
  SWIM_MEM_GPU_STEP(read_stats(slab.get(), stats, st));
  failed += st.live != 0 || st.bytes_free != in.count * unit;
  destroy_kernel<S><<<1, 1>>>(slab.get());
  SWIM_MEM_GPU_LAUNCHED();

  // Phase 2: about half the units needed. Each unit goes to exactly one thread; once
  // one request got out_of_memory, every unit was handed out (nothing is freed here).
  const u64 few = want / 2 + 1;
  const Block part{memory.get(), static_cast<std::size_t>(few) * unit +
                                     static_cast<std::size_t>((few + 63) / 64) * 8};
  SWIM_MEM_GPU_TRY(swim_mem_gpu::zero(owners.get(), owners.bytes()));
  heap_init<S><<<1, 1>>>(slab.get(), part, unit, info.get());
  SWIM_MEM_GPU_LAUNCHED();
  SWIM_MEM_GPU_TRY(info.to_host(in));
  failed += in.error != kOk || in.count == 0;
  slab_alloc<S><<<blocks, threads>>>(slab.get(), part, grants.get(), n, k, owners.get(),
                                     failures.get());
  SWIM_MEM_GPU_LAUNCHED();
  SWIM_MEM_GPU_TRY(grants.to_host(got));
  t = tally(got, 0);
  failed += t.overlaps;
  failed += t.other;
  failed += t.granted != std::min<u64>(want, in.count);
  failed += t.granted + t.out_of_memory != want;
  SWIM_MEM_GPU_STEP(read_stats(slab.get(), stats, st));
  failed += st.live != t.granted;
  slab_release<S><<<blocks, threads>>>(slab.get(), part, grants.get(), n, k, owners.get(),
                                       failures.get());
  SWIM_MEM_GPU_LAUNCHED();
  SWIM_MEM_GPU_STEP(read_stats(slab.get(), stats, st));
  failed += st.live != 0 || st.bytes_free != in.count * unit;
  destroy_kernel<S><<<1, 1>>>(slab.get());
  SWIM_MEM_GPU_LAUNCHED();

  // Phase 3: churn on a quarter as many units as threads.
  const u64 quarter = n / 4 + 1;
  const Block churn{memory.get(), slab_bytes(quarter, unit)};
  SWIM_MEM_GPU_TRY(swim_mem_gpu::zero(owners.get(), owners.bytes()));
  heap_init<S><<<1, 1>>>(slab.get(), churn, unit, info.get());
  SWIM_MEM_GPU_LAUNCHED();
  SWIM_MEM_GPU_TRY(info.to_host(in));
  failed += in.error != kOk || in.count == 0;
  slab_churn<S><<<blocks, threads>>>(slab.get(), churn, n, 16, owners.get(), failures.get(),
                                     exhausted.get());
  SWIM_MEM_GPU_LAUNCHED();
  SWIM_MEM_GPU_STEP(read_stats(slab.get(), stats, st));
  failed += st.live != 0 || st.bytes_in_use != 0 || st.bytes_free != in.count * unit;
  destroy_kernel<S><<<1, 1>>>(slab.get());
  SWIM_MEM_GPU_LAUNCHED();

  // Phase 4: the single_owner Slab of the same configuration, by one thread.
  using Single = Slab<single_owner, Checked>;
  const Block single_hunk{memory.get(), slab_bytes(units, unit)};
  DeviceArray<Single> single(1);
  DeviceArray<Block> scratch(units + 2);
  SWIM_MEM_GPU_TRY(single.status());
  SWIM_MEM_GPU_TRY(scratch.status());
  slab_single<Single><<<blocks, threads>>>(single.get(), single_hunk, unit, scratch.get(),
                                           units + 2, Checked, failures.get());
  SWIM_MEM_GPU_LAUNCHED();

  u64 device_failed = 0;
  SWIM_MEM_GPU_TRY(failures.to_host(device_failed));
  failed += device_failed;
  return SWIM_MEM_GPU_OK;
}

}  // namespace swim::mem::device_suite

extern "C" int SWIM_MEM_LAUNCHER(check_slab)(unsigned blocks, unsigned threads) {
  using namespace swim::mem::device_suite;
  if (const int s = no_device_or_zero(); s != SWIM_MEM_GPU_OK) return s;
  u64 failed = 0;
  SWIM_MEM_GPU_STEP(slab_suite<true>(blocks, threads, failed));
  SWIM_MEM_GPU_STEP(slab_suite<false>(blocks, threads, failed));
  return failures_status(failed);
}
