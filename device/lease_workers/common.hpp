// The lease workers' shared pieces (device/lease_workers.hpp includes them with the
// families): the counters every worker updates (LeaseCounters), how a check is
// counted (expect, note_error and their macros), the retry bounds and the bounded
// make helper, stamp(), and the shared Pool the launchers build (LeaseHeap,
// LeasePool, kHunk, slab_bytes). No check of its own.
//
// Like every header under device/lease_workers/, plain SWIM_MEM_API code that
// compiles with g++ (-std=c++20 -Wall -Wextra -Werror), nvcc and hipcc. Nothing
// there may name a runtime API, a kernel built-in (blockIdx, ...) or a host-only
// library: the kernels, launchers and runtime shim stay in device/leases.inl.
//
// Counters live in memory every worker shares (device memory on a GPU): every
// update goes through swim::mem::atomic_ref, which is std::atomic_ref on the host,
// so ThreadSanitizer sees them as atomics.
//
// Macros defined here: SWIM_MEM_LEASES_NOINLINE, SWIM_MEM_LEASES_EXPECT(cond) and
// SWIM_MEM_LEASES_NOTE(e, short_heap); the last two expect a `LeaseCounters* c` in
// scope. leases.inl #undefs them at its end (it includes device/lease_workers.hpp
// once per translation unit); a host test may simply keep them.
//
// A failed check records its line (__LINE__ only, not the file): a line of one of
// the family headers beside this one.
#pragma once

#include <cstddef>

#include "swim/mem/config.hpp"
#include "swim/mem/heaps/slab.hpp"
#include "swim/mem/holds/hold.hpp"
#include "swim/mem/holds/pool.hpp"
#include "swim/mem/leases/stow.hpp"
#include "swim/mem/physical.hpp"

// The per-thread steps are kept out of line so that each is compiled once (see
// leases.inl on compile time). Both nvcc and clang honour it on host and device
// functions (clang's -amdgpu-early-inline-all leaves noinline functions alone).
#if defined(SWIM_MEM_NOINLINE)
#define SWIM_MEM_LEASES_NOINLINE SWIM_MEM_NOINLINE
#else
#define SWIM_MEM_LEASES_NOINLINE __attribute__((noinline))
#endif

namespace swim::mem::device_leases {

using u64 = unsigned long long;
using u32 = unsigned;

/// What the workers count, in memory they all share (device memory in the kernels);
/// updated only atomically.
struct LeaseCounters {
  u64 failures;        ///< failed checks
  u64 first_failure;   ///< source line of the first failed check (0: none)
  u64 first_error;     ///< the first Error that note_error found where none may be (0: none)
  u64 exhausted;       ///< out_of_memory results where the heap is short on purpose
  u64 retried;         ///< Error::contended results that were retried
  u64 leases;          ///< Raw<Box> and Ptr<Box> leases made, written and read back
  u64 bufs;            ///< Bufs filled with 1..kPush, checked and emptied
  u64 grown_in_place;  ///< Buf growths that kept the buffer (private Packs)
  u64 moved;           ///< Buf growths that moved it to a new object (private Packs)
  u64 stowed;          ///< lists stowed from a private Pack into the shared Pool
  u64 stow_refused;    ///< stows into the pool that failed (short heap) and left the list
  u64 arc_stowed;      ///< two-node cycles (Hard next, Soft back) stowed into the Pool
  u64 arc_refused;     ///< the same stow refused by the Pool (short heap), cycle intact
  u64 scoped;          ///< lists built in a LocalScope and kept into the shared Pool
  u64 scope_refused;   ///< the same keep refused by the Pool (short heap), list freed
  u64 scope_leaks;     ///< LocalScopes that ended with live objects (must stay 0)
  u64 arc_rolled_back; ///< the same stow into a too small Pack: failed after the first
                       ///< relocation, cycle intact, Pack empty
  u64 rolled_back;     ///< stows into a too small Pack that failed part way and left
                       ///< the list where it was and the Pack empty
  // The shared family.
  u64 made;            ///< Hard made
  u64 cloned;          ///< try_clone succeeded
  u64 clone_contended; ///< try_clone ran out of retries
  u64 polled;          ///< poll_ref succeeded at the first attempt
  u64 poll_busy;       ///< poll_ref reported aliased / relocating / contended
  u64 refs;            ///< Refs taken (poll_ref or try_ref) and read
  u64 ref_contended;   ///< try_ref ran out of retries
  u64 muts;            ///< Muts taken (try_mut) that incremented the value
  u64 mut_contended;   ///< try_mut ran out of retries
  u64 softs;           ///< Softs kept for the phase after the last Hard
  u64 upgraded;        ///< Soft upgrades while a Hard lived
  u64 cleared;         ///< Soft upgrades after the last Hard that reported cleared
};

SWIM_MEM_API inline void bump(u64& counter, u64 by = 1) {
  atomic_ref<u64>(counter).fetch_add(by, order::relaxed);
}

/// Count a failed check and remember the first one's line (for the launcher's message).
SWIM_MEM_API inline void expect(bool ok, LeaseCounters* c, unsigned line) {
  if (ok) return;
  bump(c->failures);
  u64 none = 0;
  atomic_ref<u64>(c->first_failure).compare_exchange(none, line, order::relaxed);
}
#define SWIM_MEM_LEASES_EXPECT(cond) ::swim::mem::device_leases::expect((cond), c, __LINE__)

/// An error where none may happen is a failure; out_of_memory is counted instead
/// where the heap is short on purpose.
SWIM_MEM_API inline void note_error(Error e, bool short_heap, LeaseCounters* c, unsigned line) {
  if (e == Error::out_of_memory && short_heap) {
    bump(c->exhausted);
  } else {
    u64 none = 0;
    atomic_ref<u64>(c->first_error).compare_exchange(none, static_cast<u64>(e), order::relaxed);
    expect(false, c, line);
  }
}
#define SWIM_MEM_LEASES_NOTE(e, short_heap) \
  ::swim::mem::device_leases::note_error((e), (short_heap), c, __LINE__)

/// Bound on retrying an Error::contended (a lost race in a hold; the failed call
/// changed nothing, so trying again is safe), as in device/suite/allocators.inl.
inline constexpr unsigned kRetries = 1u << 16;
/// Retry budget of the shared family's try_ forms (each retry is one CAS).
inline constexpr unsigned kArcRetries = 1u << 12;

/// A word that names (owner, j); never 0. Same as device/suite/allocators.inl's stamp().
SWIM_MEM_API inline u64 stamp(u64 owner, u64 j) {
  return (((owner << 8) | (j & 0xFF)) + 1) * 0x9e3779b97f4a7c15ull;
}

/// `make()` returns Result<L>; on success the lease goes to `out`. Retries
/// Error::contended, boundedly.
template <class L, class Make>
SWIM_MEM_API Error make_bounded(L& out, LeaseCounters* c, Make&& make) {
  Error e = Error::contended;
  for (unsigned t = 0; t < kRetries; ++t) {
    Result<L> o = make();
    e = o.error();
    if (o) out = o.take();
    if (e != Error::contended) break;
    bump(c->retried);
    backoff(t);
  }
  return e;
}

using LeaseHeap = Slab<concurrent, true>;
using LeasePool = Pool<LeaseHeap, concurrent>;

/// Bytes of the shared Pool's hunks (and of its Slab's units): small, so that the
/// pool grows, retires and reuses hunks often under many threads.
inline constexpr std::size_t kHunk = 256;

/// Bytes a Slab needs for `units` units of `unit` bytes, and no more (a checked
/// Slab of more than 64 units carves its bitmap from the front; up to `unit` - 1
/// bytes go to aligning the first unit): what the launchers (and the host test)
/// give the shared Pool's heap.
inline std::size_t slab_bytes(u64 units, std::size_t unit) {
  const std::size_t bitmap = units > 64 ? static_cast<std::size_t>((units + 63) / 64) * 8 : 0;
  return static_cast<std::size_t>(units) * unit + bitmap + unit - 1;
}

/// try_stow, retrying Error::contended (a failed stow leaves everything as it was).
template <class L>
SWIM_MEM_API inline Error stow_bounded(L& head, HoldRef target, L& copy, LeaseCounters* c) {
  Error e = Error::contended;
  for (unsigned t = 0; t < kRetries; ++t) {
    Result<L> o = try_stow(head, target);
    e = o.error();
    if (o) copy = o.take();
    if (e != Error::contended) break;
    bump(c->retried);
    backoff(t);
  }
  return e;
}

}  // namespace swim::mem::device_leases
