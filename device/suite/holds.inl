// The device suite, holds: the kernels that pack.inl and pool.inl share. Checks
// nothing on its own; each launcher says what its phases expect.
//
// A hold (Pack or Pool) driven through its objects' tags by every thread of the
// grid: hold_alloc (k tagged objects per thread, stamped, aligned, inside the
// region), hold_release (a partner's objects checked and freed newest first, through
// the tag or typed), hold_double_free (a second free through the tag) and hold_churn
// (allocate, stamp, check, free). The request shapes (PackRequests, PoolRequests)
// are in pack.inl and pool.inl.
#pragma once

#include <cstddef>

#include "allocators.inl"
#include "common.inl"
#include "swim/mem/holds/hold.hpp"

namespace swim::mem::device_suite {

/// Each thread takes k tagged objects from a hold (Pack or Pool) and stamps them.
/// Objects (with their tag word) must lie inside `region`.
template <class H, class Requests>
__global__ void hold_alloc(H* h, Block region, Grant* out, u64 n, unsigned k, unsigned oom_retries,
                           u64* failures) {
  const u64 i = global_id();
  if (i >= n) return;
  for (unsigned j = 0; j < k; ++j) {
    const Layout l{Requests::size(i, j), Requests::align(i, j)};
    unsigned tries = 0;
    const Result<Block> r = allocate_bounded(*h, l, oom_retries, tries);
    record(out[i * k + j], r, tries);
    if (!r.ok()) continue;
    void* const tag = r->begin() - detail::tag_size;
    const bool inside = region.contains(tag, r->size + detail::tag_size);
    check(inside && r->size == round8(l.size) && r->address() % l.align == 0, failures);
    if (inside) fill_words(*r, stamp(i, j));
  }
}

/// Thread t checks the objects of thread partner(t) and frees them newest first,
/// through the tag (hold_deallocate) or, with `typed_too`, every other one through the
/// hold's own try_deallocate.
template <class H>
__global__ void hold_release(H* h, const Grant* in, u64 n, unsigned k, bool typed_too,
                             u64* failures) {
  const u64 t = global_id();
  if (t >= n) return;
  const u64 i = partner(t, n);
  for (unsigned j = k; j-- > 0;) {
    const Grant g = in[i * k + j];
    if (g.error != kOk) continue;
    check(words_intact(g.block, stamp(i, j)), failures);
    const bool typed = typed_too && j % 2 == 1;
    check(free_bounded([&] {
            return typed ? h->try_deallocate(g.block) : hold_deallocate(g.block);
          }) == Error::none,
          failures);
  }
}

/// After all objects were freed (and nothing allocates), freeing one again through its
/// tag is a double free: the first free cleared the tag.
__global__ void hold_double_free(const Grant* in, u64 n, unsigned k, u64* failures) {
  const u64 i = global_id();
  if (i >= n) return;
  for (unsigned j = 0; j < k; ++j) {
    const Grant g = in[i * k + j];
    if (g.error == kOk) check(hold_deallocate(g.block) == Error::double_free, failures);
  }
}

/// Allocate, stamp, check, free (through the tag), `rounds` times per thread.
/// Exhaustion is counted, not a failure.
template <class H>
__global__ void hold_churn(H* h, u64 n, unsigned rounds, std::size_t max_size, u64* failures,
                           u64* exhausted) {
  const u64 i = global_id();
  if (i >= n) return;
  for (unsigned r = 0; r < rounds; ++r) {
    const Layout l{1 + static_cast<std::size_t>((i * 31 + r * 17) % max_size),
                   std::size_t(8) << ((i + r) % 4)};
    unsigned tries = 0;
    const Result<Block> b = allocate_bounded(*h, l, kNoOomRetry, tries);
    if (!b.ok()) {
      count_failure(b.error(), exhausted, failures);
      continue;
    }
    const u64 v = stamp(i, r);
    fill_words(*b, v);
    check(words_intact(*b, v), failures);
    check(free_bounded([&] { return hold_deallocate(*b); }) == Error::none, failures);
  }
}

}  // namespace swim::mem::device_suite
