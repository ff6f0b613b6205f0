// The device suite, AddrSpace: check_addr_space.
//
// AddrSpace<concurrent, true> with 4096- and 256-byte pages, shared by every thread
// of the grid. Phase 1 (plenty of room): 1..16 pages per thread, the whole
// power-of-two block, aligned, inside, disjoint, every page stamped; partners free
// them; double frees and foreign pointers are reported; afterwards the largest
// block can be allocated again (coalescing). Phase 2 (a third of the demand):
// granted or out_of_memory, never overlapping, coalesced again after the frees.
// Phase 3: churn, where splits race with merges. Phase 4: AddrSpace<single_owner,
// true/false> by one thread.
#pragma once

#include <cstddef>
#include <new>
#include <vector>

#include "allocators.inl"
#include "common.inl"
#include "swim/mem/heaps/addr_space.hpp"

namespace swim::mem::device_suite {

/// Pages per request: 1..16, rounded up by the heap to a power of two.
SWIM_MEM_API inline std::size_t request_pages(u64 i, unsigned j) {
  return 1 + static_cast<std::size_t>((i * 7 + j * 3) % 16);
}

/// Each thread takes k page blocks: the whole power-of-two block, aligned to its size
/// (up to max_align), inside the region, every page stamped.
template <class A>
__global__ void as_alloc(A* a, Block region, Grant* out, u64 n, unsigned k, unsigned oom_retries,
                         u64* failures) {
  const u64 i = global_id();
  if (i >= n) return;
  const std::size_t page = a->page_size();
  const std::size_t max_align = a->max_align();
  for (unsigned j = 0; j < k; ++j) {
    const std::size_t pages = request_pages(i, j);
    unsigned tries = 0;
    const Result<Block> r = allocate_bounded(*a, Layout{pages * page, 8}, oom_retries, tries);
    record(out[i * k + j], r, tries);
    if (!r.ok()) continue;
    const std::size_t bytes = pow2_at_least(pages) * page;
    const bool inside = region.contains(r->ptr, r->size);
    check(inside && r->size == bytes && r->address() % detail::min_of(bytes, max_align) == 0,
          failures);
    if (inside) fill_pages(*r, page, stamp(i, j));
  }
}

/// Thread t checks and frees the blocks of thread partner(t).
template <class A>
__global__ void as_release(A* a, Block region, const Grant* in, u64 n, unsigned k,
                           u64* failures) {
  const u64 t = global_id();
  if (t >= n) return;
  const u64 i = partner(t, n);
  for (unsigned j = 0; j < k; ++j) {
    const Grant g = in[i * k + j];
    if (g.error != kOk || !region.contains(g.block.ptr, g.block.size)) continue;
    check(pages_intact(g.block, a->page_size(), stamp(i, j)), failures);
    check(free_bounded([&] { return a->try_deallocate(g.block); }) == Error::none, failures);
  }
}

/// After every block was freed (and nothing allocates): a second free is a double
/// free (checked), a pointer that is not page-aligned is foreign; nothing changes.
template <class A>
__global__ void as_misuse(A* a, const Grant* in, u64 n, unsigned k, bool checked, u64* failures) {
  const u64 i = global_id();
  if (i >= n) return;
  for (unsigned j = 0; j < k; ++j) {
    const Grant g = in[i * k + j];
    if (g.error != kOk) continue;
    if (checked) check(a->try_deallocate(g.block) == Error::double_free, failures);
    check(a->try_deallocate(Block{g.block.begin() + 64, g.block.size - 64}) ==
              Error::foreign_pointer,
          failures);
  }
}

/// One thread, on a quiescent heap with nothing live: free blocks have coalesced, so
/// the largest block there is can be allocated (and freed) again.
template <class A>
__global__ void as_whole(A* a, u64* failures) {
  if (global_id() != 0) return;
  const Stats before = a->stats();
  const Result<Block> r = a->try_allocate(Layout{a->max_block(), 8});
  check(r.ok() && r->size == a->max_block(), failures);
  if (r.ok()) check(a->try_deallocate(*r) == Error::none, failures);
  const Stats after = a->stats();
  check(before.live == 0 && after.live == 0 && after.bytes_in_use == 0 &&
            after.bytes_free == a->capacity(),
        failures);
}

/// Allocate 1..4 pages, stamp, check, free, `rounds` times per thread on a small heap.
/// Splits race with merges. Exhaustion is counted, not a failure.
template <class A>
__global__ void as_churn(A* a, Block region, u64 n, unsigned rounds, u64* failures,
                         u64* exhausted) {
  const u64 i = global_id();
  if (i >= n) return;
  const std::size_t page = a->page_size();
  for (unsigned r = 0; r < rounds; ++r) {
    const std::size_t pages = 1 + static_cast<std::size_t>((i + r) % 4);
    unsigned tries = 0;
    const Result<Block> b = allocate_bounded(*a, Layout{pages * page, 8}, kNoOomRetry, tries);
    if (!b.ok()) {
      count_failure(b.error(), exhausted, failures);
      continue;
    }
    if (!region.contains(b->ptr, b->size)) {
      check(false, failures);
      continue;
    }
    const u64 v = stamp(i, r);
    fill_pages(*b, page, v);
    check(pages_intact(*b, page, v), failures);
    check(free_bounded([&] { return a->try_deallocate(*b); }) == Error::none, failures);
  }
}

/// One thread, an AddrSpace of either mode: argument errors, fill until out_of_memory
/// (which changes nothing), disjoint blocks, every byte back, the largest block after
/// coalescing, double frees (checked) and foreign pointers.
template <class A>
__global__ void as_single(A* at, Block region, std::size_t page, Block* scratch, u64 scratch_n,
                          bool checked, u64* failures) {
  if (global_id() != 0) return;  // one thread, whatever the mode
  A* a = ::new (static_cast<void*>(at)) A(region, page);
  check(a->init_error() == Error::none, failures);
  const std::size_t cap = a->capacity();
  const std::size_t top = a->max_block();
  if (cap == 0 || cap / page + 1 > scratch_n) {
    check(false, failures);
    a->~A();
    return;
  }
  check(a->try_allocate(Layout{top + 1, 8}).error() == Error::oversized, failures);
  check(a->try_allocate(Layout{page, a->max_align() * 2}).error() == Error::misaligned, failures);
  const Result<Block> z = a->try_allocate(Layout{0, 8});
  check(z.ok() && z->size == 0 && a->stats().live == 0, failures);

  u64 count = 0;
  std::size_t used = 0;
  bool exhausted = false;
  for (; count < scratch_n; ++count) {
    const Result<Block> r = a->try_allocate(Layout{(1 + count % 3) * page, 8});
    if (!r.ok()) {
      check(r.error() == Error::out_of_memory, failures);
      exhausted = true;
      break;
    }
    check(region.contains(r->ptr, r->size), failures);
    scratch[count] = *r;
    used += r->size;
    fill_pages(*r, page, stamp(count, 0));
  }
  Stats s = a->stats();
  check(exhausted && s.live == count && s.bytes_in_use == used && used <= cap, failures);
  for (u64 q = 0; q < count; ++q) check(pages_intact(scratch[q], page, stamp(q, 0)), failures);
  // Odd blocks first, then even ones: merges happen in both directions.
  for (u64 parity = 1; parity < 3; ++parity) {
    for (u64 q = parity % 2; q < count; q += 2) {
      check(a->try_deallocate(scratch[q]) == Error::none, failures);
    }
  }
  s = a->stats();
  check(s.live == 0 && s.bytes_in_use == 0 && s.bytes_free == cap, failures);
  const Result<Block> whole = a->try_allocate(Layout{top, 8});
  check(whole.ok() && whole->size == top, failures);
  if (whole.ok()) {
    fill_pages(*whole, page, stamp(1, 1));
    check(pages_intact(*whole, page, stamp(1, 1)), failures);
    check(a->try_deallocate(*whole) == Error::none, failures);
    if (checked) check(a->try_deallocate(*whole) == Error::double_free, failures);
    check(a->try_deallocate(Block{whole->begin() + 64, page}) == Error::foreign_pointer, failures);
  }
  check(a->stats().live == 0, failures);
  a->~A();
}

/// Host: the AddrSpace phases with pages of `page` bytes.
inline int addr_space_suite(unsigned blocks, unsigned threads, std::size_t page, u64& failed) {
  using A = AddrSpace<concurrent, true>;
  constexpr unsigned k = 1;
  const u64 n = static_cast<u64>(blocks) * threads;
  const u64 want = n * k;
  u64 demand = 0;  // pages, as the heap rounds them
  for (u64 i = 0; i < n; ++i) {
    for (unsigned j = 0; j < k; ++j) demand += pow2_at_least(request_pages(i, j));
  }
  // Twice the demand: concurrent splits may take a larger block than a sequential
  // best fit would, so the room is generous; transient out_of_memory is retried.
  const std::size_t plenty = addr_space_bytes(2 * demand + 64, page);
  const std::size_t short_of = addr_space_bytes(demand / 3 + 16, page);
  const std::size_t churn_bytes = addr_space_bytes(256, page);
  constexpr u64 single_pages = 64;
  const std::size_t single_bytes = addr_space_bytes(single_pages, page);
  DeviceArray<A> heap(1);
  DeviceArray<HeapInfo> info(1);
  DeviceArray<unsigned char> memory(plenty);
  DeviceArray<Grant> grants(want);
  DeviceArray<u64> failures(1);
  DeviceArray<u64> exhausted(1);
  DeviceArray<Stats> stats(1);
  DeviceArray<AddrSpace<single_owner, true>> single(1);
  DeviceArray<AddrSpace<single_owner, false>> single_unchecked(1);
  DeviceArray<Block> scratch(single_bytes / page + 2);
  SWIM_MEM_GPU_TRY(heap.status());
  SWIM_MEM_GPU_TRY(info.status());
  SWIM_MEM_GPU_TRY(memory.status());
  SWIM_MEM_GPU_TRY(grants.status());
  SWIM_MEM_GPU_TRY(failures.status());
  SWIM_MEM_GPU_TRY(exhausted.status());
  SWIM_MEM_GPU_TRY(stats.status());
  SWIM_MEM_GPU_TRY(single.status());
  SWIM_MEM_GPU_TRY(single_unchecked.status());
  SWIM_MEM_GPU_TRY(scratch.status());
  std::vector<Grant> got;
  HeapInfo in{};
  Stats st{};

  // Phase 1: plenty of room. All granted, disjoint, stamped; partners free them; then
  // misuse is reported, and the largest block is whole again.
  const Block all{memory.get(), plenty};
  heap_init<A><<<1, 1>>>(heap.get(), all, page, info.get());
  SWIM_MEM_GPU_LAUNCHED();
  SWIM_MEM_GPU_TRY(info.to_host(in));
  failed += in.error != kOk || in.count < 2 * demand || in.max_block < 16 * page;
  as_alloc<A><<<blocks, threads>>>(heap.get(), all, grants.get(), n, k, kOomRetries,
                                   failures.get());
  SWIM_MEM_GPU_LAUNCHED();
  SWIM_MEM_GPU_TRY(grants.to_host(got));
  Tally t = tally(got, 0);
  failed += t.granted != want;
  failed += t.overlaps;
  failed += t.bytes != demand * page;
  SWIM_MEM_GPU_STEP(read_stats(heap.get(), stats, st));
  failed += st.live != want || st.bytes_in_use != demand * page ||
            st.bytes_free != in.capacity - demand * page;
  as_release<A><<<blocks, threads>>>(heap.get(), all, grants.get(), n, k, failures.get());
  SWIM_MEM_GPU_LAUNCHED();
  SWIM_MEM_GPU_STEP(read_stats(heap.get(), stats, st));
  failed += st.live != 0 || st.bytes_in_use != 0 || st.bytes_free != in.capacity;
  as_misuse<A><<<blocks, threads>>>(heap.get(), grants.get(), n, k, true, failures.get());
  SWIM_MEM_GPU_LAUNCHED();
  as_whole<A><<<1, 1>>>(heap.get(), failures.get());
  SWIM_MEM_GPU_LAUNCHED();
  destroy_kernel<A><<<1, 1>>>(heap.get());
  SWIM_MEM_GPU_LAUNCHED();

  // Phase 2: a third of the demand. Granted or out_of_memory, disjoint, within the
  // capacity; after the frees everything has coalesced again.
  const Block few{memory.get(), short_of};
  heap_init<A><<<1, 1>>>(heap.get(), few, page, info.get());
  SWIM_MEM_GPU_LAUNCHED();
  SWIM_MEM_GPU_TRY(info.to_host(in));
  failed += in.error != kOk;
  as_alloc<A><<<blocks, threads>>>(heap.get(), few, grants.get(), n, k, kSomeOomRetries,
                                   failures.get());
  SWIM_MEM_GPU_LAUNCHED();
  SWIM_MEM_GPU_TRY(grants.to_host(got));
  t = tally(got, 0);
  failed += t.overlaps;
  failed += t.other;
  failed += t.granted + t.out_of_memory != want;
  failed += t.bytes > in.capacity;
  SWIM_MEM_GPU_STEP(read_stats(heap.get(), stats, st));
  failed += st.live != t.granted || st.bytes_in_use != t.bytes;
  as_release<A><<<blocks, threads>>>(heap.get(), few, grants.get(), n, k, failures.get());
  SWIM_MEM_GPU_LAUNCHED();
  as_whole<A><<<1, 1>>>(heap.get(), failures.get());
  SWIM_MEM_GPU_LAUNCHED();
  destroy_kernel<A><<<1, 1>>>(heap.get());
  SWIM_MEM_GPU_LAUNCHED();

  // Phase 3: churn on 256 pages. Afterwards nothing is live and every byte is free
  // (a merge that lost too many races may leave a pair of buddies unmerged, so the
  // largest block is not asked for here).
  const Block churn{memory.get(), churn_bytes};
  heap_init<A><<<1, 1>>>(heap.get(), churn, page, info.get());
  SWIM_MEM_GPU_LAUNCHED();
  SWIM_MEM_GPU_TRY(info.to_host(in));
  failed += in.error != kOk;
  as_churn<A><<<blocks, threads>>>(heap.get(), churn, n, 8, failures.get(), exhausted.get());
  SWIM_MEM_GPU_LAUNCHED();
  SWIM_MEM_GPU_STEP(read_stats(heap.get(), stats, st));
  failed += st.live != 0 || st.bytes_in_use != 0 || st.bytes_free != in.capacity;
  destroy_kernel<A><<<1, 1>>>(heap.get());
  SWIM_MEM_GPU_LAUNCHED();

  // Phase 4: single_owner AddrSpaces (checked and not), by one thread.
  const Block small{memory.get(), single_bytes};
  as_single<AddrSpace<single_owner, true>><<<blocks, threads>>>(
      single.get(), small, page, scratch.get(), single_bytes / page + 2, true, failures.get());
  SWIM_MEM_GPU_LAUNCHED();
  as_single<AddrSpace<single_owner, false>><<<blocks, threads>>>(
      single_unchecked.get(), small, page, scratch.get(), single_bytes / page + 2, false,
      failures.get());
  SWIM_MEM_GPU_LAUNCHED();

  u64 device_failed = 0;
  SWIM_MEM_GPU_TRY(failures.to_host(device_failed));
  failed += device_failed;
  return SWIM_MEM_GPU_OK;
}

}  // namespace swim::mem::device_suite

extern "C" int SWIM_MEM_LAUNCHER(check_addr_space)(unsigned blocks, unsigned threads) {
  using namespace swim::mem::device_suite;
  if (const int s = no_device_or_zero(); s != SWIM_MEM_GPU_OK) return s;
  u64 failed = 0;
  SWIM_MEM_GPU_STEP(addr_space_suite(blocks, threads, 4096, failed));
  SWIM_MEM_GPU_STEP(addr_space_suite(blocks, threads, 256, failed));
  return failures_status(failed);
}
