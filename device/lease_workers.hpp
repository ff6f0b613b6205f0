// The device suite's lease workers: what one thread of the lease kernels does
// (device/leases.inl), as plain SWIM_MEM_API functions with no GPU built-in, so that
// the same code runs inside CUDA/HIP kernels (leases.cu, leases.hip) and on the
// host, on std::threads (tests/test_device_workers.cpp, which CI runs under the
// plain, ASan+UBSan and TSan presets where no GPU exists).
//
// Compiles with g++ (-std=c++20 -Wall -Wextra -Werror), nvcc and hipcc. Nothing
// here may name a runtime API, a kernel built-in (blockIdx, ...) or a host-only
// library: the kernels, launchers and runtime shim stay in leases.inl.
//
// Counters live in memory every worker shares (device memory on a GPU): every
// update goes through swim::mem::atomic_ref, which is std::atomic_ref on the host,
// so ThreadSanitizer sees them as atomics.
//
// Macros defined here: SWIM_MEM_LEASES_NOINLINE, SWIM_MEM_LEASES_EXPECT(cond) and
// SWIM_MEM_LEASES_NOTE(e, short_heap); the last two expect a `LeaseCounters* c` in
// scope. leases.inl #undefs them at its end (it includes this header once per
// translation unit); a host test may simply keep them.
//
// A failed check records its line: a line of this file.
#pragma once

#include <climits>
#include <cstddef>
#include <cstdint>
#include <new>

#include "swim/mem/config.hpp"
#include "swim/mem/heaps/slab.hpp"
#include "swim/mem/holds/hold.hpp"
#include "swim/mem/holds/pack.hpp"
#include "swim/mem/holds/pool.hpp"
#include "swim/mem/leases.hpp"
#include "swim/mem/leases/exclusive.hpp"
#include "swim/mem/leases/stow.hpp"
#include "swim/mem/physical.hpp"
#include "swim/mem/residents/box.hpp"
#include "swim/mem/residents/buf.hpp"
#include "swim/mem/residents/scope.hpp"

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

// ---- 1. Shared pieces ----------------------------------------------------------------------

/// What the workers count, in memory they all share (device memory in the kernels);
/// updated only atomically.
struct LeaseCounters {
  u64 failures;        ///< failed checks
  u64 first_failure;   ///< source line of the first failed check (0: none)
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
    expect(false, c, line);
  }
}
#define SWIM_MEM_LEASES_NOTE(e, short_heap) \
  ::swim::mem::device_leases::note_error((e), (short_heap), c, __LINE__)

/// Bound on retrying an Error::contended (a lost race in a hold; the failed call
/// changed nothing, so trying again is safe), as in kernels.inl.
inline constexpr unsigned kRetries = 1u << 16;
/// Retry budget of the shared family's try_ forms (each retry is one CAS).
inline constexpr unsigned kArcRetries = 1u << 12;

/// A word that names (owner, j); never 0. Same as kernels.inl's stamp().
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
  }
  return e;
}

// ---- 2. Exclusive leases: Raw, Ptr, Box, Buf, stow --------------------------------------------

using BoxLease = Raw<Box<u64>>;
using PtrLease = Ptr<Box<u64, int>>;  // metadata in the object: the handle is one word
using BufLease = Raw<Buf<u32>>;
static_assert(sizeof(BoxLease) == sizeof(void*) && sizeof(PtrLease) == sizeof(void*));

/// Elements pushed into each Buf. The blockers (a Box and a Ptr) are made after
/// kPush / 2 of them, so the growth from 16 to 32 elements finds the buffer no longer
/// on top of its hold and must move it. In a private Pack that is exact: growths to
/// 1 (the first object), then 2, 4, 8, 16 in place, then 32 moved.
inline constexpr u32 kPush = 32;
inline constexpr u64 kInPlace = 4;
inline constexpr u64 kMoved = 1;

/// A singly linked list node: the smallest recursive structure to stow.
struct LeaseNode {
  u64 value = 0;
  Raw<Box<LeaseNode>> next;
};
using NodeLease = Raw<Box<LeaseNode>>;

/// A node of a cycle through a Soft: A -Hard-> B -Soft-> A.
struct CycleNode {
  u64 value = 0;
  Hard<Box<CycleNode>> next;
  Soft<Box<CycleNode>> back;
};
using CycleHard = Hard<Box<CycleNode>>;

/// Nodes per list. Stow and destruction recurse once per node, on a GPU thread's
/// small stack, so the list is short (the launcher raises the CUDA stack limit).
inline constexpr unsigned kNodes = 3;
/// Bytes of device memory per thread: a private scratch Pack (a Buf's growth chain,
/// two blockers and a list, with their tags, fit several times over) and, in the
/// last kTiny bytes, a Pack with room for two list nodes (24 bytes each with the
/// tag) but not three, into which a stow must fail part way.
inline constexpr std::size_t kSlice = 1024;
inline constexpr std::size_t kTiny = 64;

}  // namespace swim::mem::device_leases

template <>
struct swim::mem::stow_traits<swim::mem::device_leases::LeaseNode>
    : swim::mem::stow_members<swim::mem::device_leases::LeaseNode,
                              &swim::mem::device_leases::LeaseNode::value,
                              &swim::mem::device_leases::LeaseNode::next> {};

template <>
struct swim::mem::stow_traits<swim::mem::device_leases::CycleNode>
    : swim::mem::stow_members<swim::mem::device_leases::CycleNode,
                              &swim::mem::device_leases::CycleNode::value,
                              &swim::mem::device_leases::CycleNode::next,
                              &swim::mem::device_leases::CycleNode::back> {};

namespace swim::mem::device_leases {

/// Push, retrying Error::contended; a failed push leaves the Buf as it was.
SWIM_MEM_API inline Error push_bounded(BufLease& buf, u32 v, LeaseCounters* c) {
  Error e = Error::contended;
  for (unsigned t = 0; t < kRetries; ++t) {
    e = buf.try_push(v);
    if (e != Error::contended) break;
    bump(c->retried);
  }
  return e;
}

/// Raw<Box<u64>>, Ptr<Box<u64, int>> and Raw<Buf<u32>> in hold `h`, by thread i.
/// `exact`: h is this thread's private Pack, so growth in place or by moving is
/// predictable and the hold's statistics are this thread's alone. `short_heap`:
/// out_of_memory is expected (the shared Pool's heap is small on purpose).
SWIM_MEM_LEASES_NOINLINE SWIM_MEM_API inline void exclusive_step(HoldRef h, u64 i, bool exact,
                                                                 bool short_heap,
                                                                 LeaseCounters* c) {
  const Stats before = h.stats();
  BufLease buf;
  Error e = make_bounded(buf, c, [&] { return BufLease::try_empty(h); });
  if (e != Error::none) {
    SWIM_MEM_LEASES_NOTE(e, short_heap);
    return;
  }
  SWIM_MEM_LEASES_EXPECT(buf.size() == 0 && buf.capacity() == 0);

  BoxLease box;
  PtrLease ptr;
  u64 first = 0, in_place = 0, moved = 0;
  bool full = true;
  for (u32 v = 1; v <= kPush; ++v) {
    if (v == kPush / 2 + 1) {
      e = make_bounded(box, c, [&] { return BoxLease::try_new(h, stamp(i, 1)); });
      if (e != Error::none) SWIM_MEM_LEASES_NOTE(e, short_heap);
      e = make_bounded(ptr, c, [&] {
        return PtrLease::try_new_with_meta(h, static_cast<int>(i % INT_MAX), stamp(i, 2));
      });
      if (e != Error::none) SWIM_MEM_LEASES_NOTE(e, short_heap);
    }
    const u32* old = buf.data();
    const std::size_t cap = buf.capacity();
    e = push_bounded(buf, v, c);
    if (e != Error::none) {
      // Nothing changed: same length, capacity and buffer.
      SWIM_MEM_LEASES_NOTE(e, short_heap);
      SWIM_MEM_LEASES_EXPECT(buf.size() == v - 1 && buf.capacity() == cap && buf.data() == old);
      full = false;
      break;
    }
    if (buf.capacity() != cap) {
      if (cap == 0) {
        ++first;
      } else if (buf.data() == old) {
        ++in_place;
      } else {
        ++moved;
      }
    }
  }
  const std::size_t len = buf.size();
  for (std::size_t j = 0; j < len; ++j) SWIM_MEM_LEASES_EXPECT(buf[j] == j + 1);

  // The blockers: write through them and read back; the hold is h; Ptr keeps its
  // metadata in the object, in front of the value.
  if (box) {
    SWIM_MEM_LEASES_EXPECT(*box == stamp(i, 1) && box.hold() == h && box.block().size == 8);
    *box = ~stamp(i, 1);
    SWIM_MEM_LEASES_EXPECT(*box.data() == ~stamp(i, 1));
    bump(c->leases);
    // A clone is a separate object of h; unwrapping it gives the value and frees it.
    BoxLease twin;
    e = make_bounded(twin, c, [&] { return box.try_clone(); });
    if (e == Error::none) {
      SWIM_MEM_LEASES_EXPECT(twin.data() != box.data() && twin.hold() == h);
      Result<u64> v = detail::move(twin).try_unwrap();
      SWIM_MEM_LEASES_EXPECT(v.ok() && *v == ~stamp(i, 1) && !twin);
    } else {
      SWIM_MEM_LEASES_NOTE(e, short_heap);
    }
  }
  if (ptr) {
    const Block b = ptr.block();
    SWIM_MEM_LEASES_EXPECT(*ptr == stamp(i, 2) && ptr.metadata() == static_cast<int>(i % INT_MAX));
    SWIM_MEM_LEASES_EXPECT(ptr.hold() == h && b.size == 16 &&
                           reinterpret_cast<std::byte*>(ptr.data()) == b.begin() + 8);
    *ptr = ~stamp(i, 2);
    ptr.metadata() = -1;
    SWIM_MEM_LEASES_EXPECT(*ptr.data() == ~stamp(i, 2) && ptr.metadata() == -1);
    bump(c->leases);
  }
  if (exact) {
    SWIM_MEM_LEASES_EXPECT(full && box && ptr);
    SWIM_MEM_LEASES_EXPECT(first == 1 && in_place == kInPlace && moved == kMoved);
    bump(c->grown_in_place, in_place);
    bump(c->moved, moved);
  }

  // Pop everything, newest first; popping an empty Buf is an error that changes nothing.
  for (std::size_t j = len; j > 0; --j) {
    Result<u32> p = buf.pop();
    SWIM_MEM_LEASES_EXPECT(p.ok() && *p == j);
  }
  SWIM_MEM_LEASES_EXPECT(buf.pop().error() == Error::invalid_argument && buf.empty());
  if (full) bump(c->bufs);

  box.reset();
  ptr.reset();
  buf.reset();
  SWIM_MEM_LEASES_EXPECT(!box && !ptr && !buf);
  if (exact) {
    const Stats after = h.stats();
    SWIM_MEM_LEASES_EXPECT(after.live == before.live && after.bytes_in_use == before.bytes_in_use);
  }
}

/// Free a list node by node (a long list would recurse in the destructors).
SWIM_MEM_API inline void free_list(NodeLease& head) {
  for (unsigned k = 0; k <= kNodes && head; ++k) {
    NodeLease next = detail::move(head->next);
    head = detail::move(next);
  }
}

/// Whether `head` is thread i's list (values in order, kNodes of them) in hold `h`.
SWIM_MEM_API inline bool list_intact(const NodeLease& head, u64 i, HoldRef h) {
  const NodeLease* p = &head;
  unsigned k = 0;
  for (; k <= kNodes && *p; ++k, p = &(*p)->next) {
    if ((*p)->value != stamp(i, 16 + k) || p->hold() != h) return false;
  }
  return k == kNodes && !*p;
}

/// try_stow, retrying Error::contended (a failed stow leaves everything as it was).
SWIM_MEM_API inline Error stow_bounded(NodeLease& head, HoldRef target, NodeLease& copy,
                                       LeaseCounters* c) {
  Error e = Error::contended;
  for (unsigned t = 0; t < kRetries; ++t) {
    Result<NodeLease> o = try_stow(head, target);
    e = o.error();
    if (o) copy = o.take();
    if (e != Error::contended) break;
    bump(c->retried);
  }
  return e;
}

/// Thread i builds a list in its private Pack `scratch`, stows it into `tiny` (which
/// runs out at the third node: the stow fails, the list is untouched, `tiny` holds
/// nothing), then into `pool`: on success the source list is gone and the scratch
/// Pack is empty (reset), the copy is in the pool with the same values; on failure
/// (a short heap) the list is untouched where it was. Everything is freed.
SWIM_MEM_LEASES_NOINLINE SWIM_MEM_API inline void stow_step(HoldRef scratch, HoldRef tiny,
                                                            HoldRef pool, u64 i, bool short_heap,
                                                            LeaseCounters* c) {
  NodeLease head;
  for (unsigned k = kNodes; k-- > 0;) {
    NodeLease node;
    const Error e = make_bounded(node, c, [&] { return NodeLease::try_new(scratch); });
    if (e != Error::none) {
      SWIM_MEM_LEASES_NOTE(e, false);  // the private Pack has room for it
      free_list(head);
      return;
    }
    node->value = stamp(i, 16 + k);
    node->next = detail::move(head);
    head = detail::move(node);
  }
  SWIM_MEM_LEASES_EXPECT(list_intact(head, i, scratch) && scratch.stats().live == kNodes);

  NodeLease copy;
  Error e = stow_bounded(head, tiny, copy, c);
  const Stats t = tiny.stats();
  SWIM_MEM_LEASES_EXPECT(e == Error::out_of_memory && !copy && t.live == 0 &&
                         t.bytes_in_use == 0);
  if (e == Error::out_of_memory && list_intact(head, i, scratch) &&
      scratch.stats().live == kNodes) {
    bump(c->rolled_back);
  } else {
    SWIM_MEM_LEASES_EXPECT(false);
  }
  free_list(copy);  // only if the stow wrongly succeeded

  e = stow_bounded(head, pool, copy, c);
  if (e == Error::none) {
    const Stats s = scratch.stats();
    SWIM_MEM_LEASES_EXPECT(!head && s.live == 0 && s.bytes_in_use == 0);
    SWIM_MEM_LEASES_EXPECT(list_intact(copy, i, pool));
    bump(c->stowed);
  } else {
    SWIM_MEM_LEASES_NOTE(e, short_heap);
    SWIM_MEM_LEASES_EXPECT(!copy && list_intact(head, i, scratch) &&
                           scratch.stats().live == kNodes);
    bump(c->stow_refused);
  }
  free_list(copy);
  free_list(head);
  SWIM_MEM_LEASES_EXPECT(scratch.stats().live == 0);
}

/// Whether `a` is thread i's cycle A -> B -> back to A, both in hold `h`, with the
/// counts of an untouched cycle (A: one hard, one soft; B: one hard).
SWIM_MEM_API inline bool cycle_intact(const CycleHard& a, u64 i, HoldRef h) {
  using S = ArcStatus;
  if (!a || a.hold() != h || a.status() != S::hard_one + S::soft_one) return false;
  Result<Ref<Box<CycleNode>>> ra = a.try_ref(kArcRetries);
  if (!ra || (*ra)->value != stamp(i, 40)) return false;
  const CycleHard& b = (*ra)->next;
  if (!b || b.hold() != h || b.status() != S::hard_one) return false;
  Result<Ref<Box<CycleNode>>> rb = b.try_ref(kArcRetries);
  return rb && (*rb)->value == stamp(i, 41) && (*rb)->back.data() == a.data();
}

/// Copy-on-write and unwrap: a shared Hard's unique Mut is a private copy, whose
/// value is then taken out; the original keeps its value.
SWIM_MEM_LEASES_NOINLINE SWIM_MEM_API inline void unique_step(HoldRef scratch, u64 i,
                                                              LeaseCounters* c) {
  Hard<Box<u64>> h;
  const Error e =
      make_bounded(h, c, [&] { return Hard<Box<u64>>::try_new(scratch, stamp(i, 50)); });
  if (e != Error::none) {
    SWIM_MEM_LEASES_NOTE(e, false);
    return;
  }
  Result<Hard<Box<u64>>> other = h.try_clone(kArcRetries);
  Result<Mut<Box<u64>>> unique = h.try_to_unique(kArcRetries);
  SWIM_MEM_LEASES_EXPECT(other.ok() && unique.ok() && unique->data() != h.data());
  if (unique.ok()) {
    **unique = stamp(i, 51);
    Result<u64> v = detail::move(*unique).try_unwrap();
    SWIM_MEM_LEASES_EXPECT(v.ok() && *v == stamp(i, 51));
  }
  Result<Ref<Box<u64>>> r = h.try_ref(kArcRetries);
  SWIM_MEM_LEASES_EXPECT(r.ok() && **r == stamp(i, 50));
}

/// Thread i builds the cycle in `scratch`, stows it into `tiny` (room for one node:
/// the stow fails after relocating A, inside the transaction; the cycle must be as
/// before and `tiny` empty), then into `pool` (the cycle closes in the pool; the
/// scratch Pack empties) or, on a short heap, is refused and left intact.
SWIM_MEM_LEASES_NOINLINE SWIM_MEM_API inline void arc_stow_step(HoldRef scratch, HoldRef tiny,
                                                                HoldRef pool, u64 i,
                                                                bool short_heap,
                                                                LeaseCounters* c) {
  CycleHard a, b;
  Error e = make_bounded(a, c, [&] { return CycleHard::try_new(scratch); });
  if (e == Error::none) e = make_bounded(b, c, [&] { return CycleHard::try_new(scratch); });
  if (e != Error::none) {
    SWIM_MEM_LEASES_NOTE(e, false);
    return;
  }
  {
    Result<Mut<Box<CycleNode>>> mb = b.try_mut(kArcRetries);
    Result<Soft<Box<CycleNode>>> back = a.to_soft(kArcRetries);
    SWIM_MEM_LEASES_EXPECT(mb.ok() && back.ok());
    if (!mb.ok() || !back.ok()) return;
    (*mb)->value = stamp(i, 41);
    (*mb)->back = back.take();
  }
  {
    Result<Mut<Box<CycleNode>>> ma = a.try_mut(kArcRetries);
    SWIM_MEM_LEASES_EXPECT(ma.ok());
    if (!ma.ok()) return;
    (*ma)->value = stamp(i, 40);
    (*ma)->next = detail::move(b);
  }
  SWIM_MEM_LEASES_EXPECT(cycle_intact(a, i, scratch));

  Result<CycleHard> moved = try_stow(a, tiny);
  SWIM_MEM_LEASES_EXPECT(moved.error() == Error::out_of_memory && tiny.stats().live == 0 &&
                         tiny.stats().bytes_in_use == 0);
  if (moved.error() == Error::out_of_memory && cycle_intact(a, i, scratch)) {
    bump(c->arc_rolled_back);
  } else {
    SWIM_MEM_LEASES_EXPECT(false);
  }
  CycleHard copy;
  if (moved.ok()) copy = moved.take();  // only if the stow wrongly succeeded
  copy.reset();

  Result<CycleHard> into_pool = try_stow(a, pool);
  if (into_pool.ok()) {
    copy = into_pool.take();
    SWIM_MEM_LEASES_EXPECT(!a && scratch.stats().live == 0 && cycle_intact(copy, i, pool));
    bump(c->arc_stowed);
  } else {
    SWIM_MEM_LEASES_NOTE(into_pool.error(), short_heap);
    SWIM_MEM_LEASES_EXPECT(cycle_intact(a, i, scratch));
    bump(c->arc_refused);
  }
  // Break the cycle's strong half and drop everything (the Soft does not keep it).
  copy.reset();
  a.reset();
  SWIM_MEM_LEASES_EXPECT(scratch.stats().live == 0);

  unique_step(scratch, i, c);
}

using LeaseHeap = Slab<concurrent, true>;
using LeasePool = Pool<LeaseHeap, concurrent>;

/// Bytes of the shared Pool's hunks (and of its Slab's units): small, so that the
/// pool grows, retires and reuses hunks often under many threads.
inline constexpr std::size_t kHunk = 256;

/// Everything thread i does: its two private Packs on its own slice (packs[2i],
/// packs[2i + 1]), exclusive leases in the shared pool and in its Pack, stows from
/// its Pack; it frees all of it and destroys the Packs.
/// Thread i in a LocalScope (the device form of a scope: an explicit handle) over the
/// `bytes` at `slice`: a list built in it is kept into `pool` (one transaction), the
/// garbage built beside it goes with the scope, which ends with nothing live.
SWIM_MEM_LEASES_NOINLINE SWIM_MEM_API inline void scope_step(unsigned char* slice,
                                                             std::size_t bytes, HoldRef pool,
                                                             u64 i, bool short_heap,
                                                             LeaseCounters* c) {
  NodeLease kept;
  {
    LocalScope<Pack<single_owner>> scope(pool, &c->scope_leaks, Block{slice, bytes});
    NodeLease garbage;
    for (unsigned k = kNodes; k-- > 0;) {
      NodeLease node, junk;
      Error e = make_bounded(node, c, [&] { return NodeLease::try_new(scope.ref()); });
      if (e == Error::none) e = make_bounded(junk, c, [&] { return NodeLease::try_new(scope.ref()); });
      if (e != Error::none) {
        SWIM_MEM_LEASES_NOTE(e, false);  // the slice has room for it
        free_list(kept);
        free_list(garbage);
        return;
      }
      node->value = stamp(i, 60 + k);
      node->next = detail::move(kept);
      kept = detail::move(node);
      junk->next = detail::move(garbage);
      garbage = detail::move(junk);
    }
    free_list(garbage);
    const Error e = scope.try_keep(kept);
    if (e == Error::none) {
      SWIM_MEM_LEASES_EXPECT(scope.hold().stats().live == 0 && kept.hold() == pool);
      bump(c->scoped);
    } else {
      SWIM_MEM_LEASES_NOTE(e, short_heap);
      SWIM_MEM_LEASES_EXPECT(kept.hold() == scope.ref());
      free_list(kept);  // still in the scope: free it before the scope ends
      bump(c->scope_refused);
    }
  }
  free_list(kept);
}

SWIM_MEM_API inline void lease_worker(LeasePool* pool, Pack<single_owner>* packs,
                                      unsigned char* slices, u64 i, bool short_heap,
                                      LeaseCounters* c) {
  unsigned char* slice = slices + i * kSlice;
  Pack<single_owner>* pack = detail::construct_at(packs + 2 * i, Block{slice, kSlice - kTiny});
  Pack<single_owner>* tiny =
      detail::construct_at(packs + 2 * i + 1, Block{slice + kSlice - kTiny, kTiny});
  SWIM_MEM_LEASES_EXPECT(pack->init_error() == Error::none && tiny->init_error() == Error::none);
  const HoldRef shared = HoldRef::of(*pool);
  const HoldRef mine = HoldRef::of(*pack);
  exclusive_step(shared, i, false, short_heap, c);
  exclusive_step(mine, i, true, false, c);
  stow_step(mine, HoldRef::of(*tiny), shared, i, short_heap, c);
  arc_stow_step(mine, HoldRef::of(*tiny), shared, i, short_heap, c);
  const Stats s = pack->stats();
  SWIM_MEM_LEASES_EXPECT(s.live == 0 && s.bytes_in_use == 0 && s.bytes_free == pack->capacity());
  SWIM_MEM_LEASES_EXPECT(tiny->stats().live == 0 && tiny->stats().bytes_free == kTiny);
  tiny->~Pack();
  pack->~Pack();
  scope_step(slice, kSlice, shared, i, short_heap, c);  // the slice is free again
}

// ---- 3. The shared family: Hard, Soft, Ref, Mut (try forms) -----------------------------------

using HardBox = Hard<Box<u64>>;
using SoftBox = Soft<Box<u64>>;
using RefBox = Ref<Box<u64>>;
using MutBox = Mut<Box<u64>>;

/// Every kMutEvery-th thread takes a Mut and increments the value; the others read.
inline constexpr u64 kMutEvery = 8;

/// One thread: the shared Hard, in device memory (`slot` is raw memory).
SWIM_MEM_API inline void arc_make(LeasePool* pool, HardBox* slot, u64 value, LeaseCounters* c) {
  HardBox h;
  const Error e = make_bounded(h, c, [&] { return HardBox::try_new(HoldRef::of(*pool), value); });
  if (e != Error::none) SWIM_MEM_LEASES_NOTE(e, false);
  if (h) bump(c->made);
  detail::construct_at(slot, detail::move(h));
}

/// Thread i of n, while `shared` lives: clone it, borrow a Ref (one poll, then
/// bounded retries) or, every kMutEvery-th thread, a Mut that increments the value;
/// keep a Soft in softs[i] (raw memory) and check that it upgrades while a Hard lives.
SWIM_MEM_LEASES_NOINLINE SWIM_MEM_API inline void arc_share(const HardBox* shared, SoftBox* softs,
                                                            u64 i, u64 n, u64 value,
                                                            LeaseCounters* c) {
  HardBox mine;
  {
    Result<HardBox> o = shared->try_clone(kArcRetries);
    if (o) {
      mine = o.take();
      bump(c->cloned);
    } else {
      SWIM_MEM_LEASES_EXPECT(o.error() == Error::contended);
      bump(c->clone_contended);
    }
  }
  if (mine) {
    SWIM_MEM_LEASES_EXPECT(mine.same_arc(*shared) && mine.hard_count() >= 2);
    if (i % kMutEvery == 0) {
      Result<MutBox> m = mine.try_mut(kArcRetries);
      if (m) {
        *m.value() += 1;  // exclusive: a lost update would show in the final value
        bump(c->muts);
      } else {
        SWIM_MEM_LEASES_EXPECT(is_retryable(m.error()));
        bump(c->mut_contended);
      }
    } else {
      RefBox r;
      {
        Result<RefBox> p = mine.poll_ref();
        if (p) {
          r = p.take();
          bump(c->polled);
        } else {
          SWIM_MEM_LEASES_EXPECT(is_retryable(p.error()));
          bump(c->poll_busy);
        }
      }
      if (!r) {
        Result<RefBox> t = mine.try_ref(kArcRetries);
        if (t) {
          r = t.take();
        } else {
          SWIM_MEM_LEASES_EXPECT(is_retryable(t.error()));
          bump(c->ref_contended);
        }
      }
      if (r) {
        const u64 seen = *r;
        SWIM_MEM_LEASES_EXPECT(seen >= value && seen <= value + n && r.ref_count() >= 1);
        bump(c->refs);
      }
    }
  }
  SoftBox soft;
  {
    Result<SoftBox> s = mine ? mine.to_soft(kArcRetries) : shared->to_soft(kArcRetries);
    if (s) {
      soft = s.take();
    } else {
      SWIM_MEM_LEASES_EXPECT(s.error() == Error::contended);
    }
  }
  if (soft) {
    Result<HardBox> up = soft.try_upgrade(kArcRetries);
    if (up) {
      bump(c->upgraded);
    } else {
      SWIM_MEM_LEASES_EXPECT(up.error() == Error::contended);
    }
    bump(c->softs);
  }
  detail::construct_at(softs + i, detail::move(soft));
}

/// Thread i, after the last Hard was dropped: its Soft no longer upgrades nor lends
/// a Ref (cleared); dropping the last Soft frees the block.
SWIM_MEM_LEASES_NOINLINE SWIM_MEM_API inline void arc_after(SoftBox* softs, u64 i,
                                                            LeaseCounters* c) {
  SoftBox& soft = softs[i];
  if (soft) {
    Result<HardBox> up = soft.try_upgrade(kArcRetries);
    Result<RefBox> r = soft.try_ref(kArcRetries);
    SWIM_MEM_LEASES_EXPECT(!up && up.error() == Error::cleared);
    SWIM_MEM_LEASES_EXPECT(!r && r.error() == Error::cleared);
    if (!up && up.error() == Error::cleared) bump(c->cleared);
  }
  soft.~SoftBox();
}

/// The shared arc between phases (quiescent).
struct ArcSnapshot {
  u64 status;   ///< the status word of the shared Hard's arc
  u64 value;    ///< read through a Ref
  u64 read_ok;  ///< whether that Ref was granted
};

SWIM_MEM_API inline void arc_snapshot(const HardBox* shared, ArcSnapshot* out) {
  out->status = shared->status();
  Result<RefBox> r = shared->try_ref(kArcRetries);
  out->read_ok = r.ok();
  out->value = r ? *r.value() : 0;
}

/// Bytes a Slab needs for `units` units of `unit` bytes, and no more (a checked
/// Slab of more than 64 units carves its bitmap from the front; up to `unit` - 1
/// bytes go to aligning the first unit): what the launchers (and the host test)
/// give the shared Pool's heap.
inline std::size_t slab_bytes(u64 units, std::size_t unit) {
  const std::size_t bitmap = units > 64 ? static_cast<std::size_t>((units + 63) / 64) * 8 : 0;
  return static_cast<std::size_t>(units) * unit + bitmap + unit - 1;
}

}  // namespace swim::mem::device_leases
