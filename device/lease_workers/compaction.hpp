// The lease workers' compaction family (check_compaction, in device/leases.inl's
// compaction section, lease_compaction.inl): a fragmented hold compacted in
// parallel into a fresh one with residents/compact_share.hpp, leases following.
//
// Every worker i owns kPerKind slots of each of four kinds, in arrays shared by the
// grid (CompactSlots): a Raw<Box<u64>>, a short Raw<Buf<u32>> (1..24 elements), a
// long one (240..255 elements: about 1 KiB) and a 3-node list (exclusive.hpp's
// LeaseNode). compact_build makes all of them in the old hold; after a barrier,
// compact_fragment frees all but one of each kind (a different slot per kind and
// worker), so that a quarter of the objects survive, scattered over every hunk
// (with no barrier, later builds would reuse the freed units). compact_move is one
// thread's share of the compaction (try_compact_share over each array: thread t
// moves leases t, t + threads, ..., made by other workers); compact_verify checks
// a worker's slots (survivors intact, in the fresh hold or, between rounds, in the
// old one; the rest null); compact_free frees them. The one-thread steps
// (compact_setup, compact_snapshot, compact_release, compact_unballast,
// compact_teardown) build, measure, trim and destroy the two holds and their heaps.
//
// The old and the fresh hold each draw from their own ExtentHeap (in-band records,
// 1 KiB granules), so that what trim gives back shows in the old heap. A short
// fresh heap (fault injection) is the same heap with a ballast extent taking all
// but `room` bytes: too little for the survivors of even one worker (SizeClasses:
// two 64 KiB hunks for at least three classes; Pool: one 1 KiB hunk, and a long
// Buf needs a 2 KiB one), but enough for some of them. The ballast goes back
// before the second round.
#pragma once

#include <cstddef>
#include <type_traits>

#include "common.hpp"
#include "exclusive.hpp"
#include "swim/mem/heaps/extent_heap.hpp"
#include "swim/mem/holds/hold.hpp"
#include "swim/mem/holds/pool.hpp"
#include "swim/mem/holds/size_classes.hpp"
#include "swim/mem/residents/box.hpp"
#include "swim/mem/residents/buf.hpp"
#include "swim/mem/residents/compact_share.hpp"

namespace swim::mem::device_leases {

using CompactHeap = ExtentHeap<concurrent>;
using CompactClasses = SizeClasses<CompactHeap, concurrent, true>;
using CompactPool = Pool<CompactHeap, concurrent, true>;

/// Granule of both heaps, and a Pool's hunk (a long Buf needs a hunk of two).
inline constexpr std::size_t kCompactGranule = 1024;
inline constexpr std::size_t kCompactPoolHunk = 1024;
/// Slots per kind per worker; one of each kind survives the build.
inline constexpr u64 kPerKind = 4;
/// Objects of one worker's survivors: a box, two Bufs and a list's nodes.
inline constexpr u64 kSurvivorObjects = 3 + kNodes;
/// Leases per worker (four kinds).
inline constexpr u64 kCompactLeases = 4 * kPerKind;
/// Bound on retrying a transient out_of_memory while building: a hold under a burst
/// of new hunks (every thread that found its class's hunk full asked the heap at
/// once) may run the heap dry while the spare hunks are still being listed.
inline constexpr unsigned kBuildOomRetries = 64;

/// Bytes of each heap's region for n workers (a worker builds about 10 KiB in a
/// Pool of 1 KiB hunks, less in SizeClasses), plus `slack` for hunks made in a burst.
SWIM_MEM_API inline std::size_t compact_region_bytes(u64 n, std::size_t slack) {
  return static_cast<std::size_t>(n) * 16 * 1024 + slack;
}

/// Room left in a short fresh heap: less than one worker's survivors need.
template <class Hold>
SWIM_MEM_API constexpr std::size_t compact_short_room() {
  if constexpr (std::is_same_v<Hold, CompactPool>) {
    return kCompactPoolHunk;  // one hunk, and a long Buf needs more
  } else {
    return 2 * detail::SizeClassTable::hunk_bytes(0);  // two class hunks, for 3+ classes
  }
}

/// The grid's lease arrays (worker i's slots of a kind: [i * kPerKind, (i + 1) * kPerKind)).
struct CompactSlots {
  BoxLease* boxes;
  BufLease* shorts;
  BufLease* longs;
  NodeLease* lists;
  u64 n;  ///< workers
};

/// What the compaction workers count (besides LeaseCounters' failures, retries and
/// expected out_of_memory results).
struct CompactCounters {
  u64 built;     ///< leases made by compact_build
  u64 kept;      ///< of them, left alive (the survivors)
  u64 moved;     ///< leases moved by the shares
  u64 stayed;    ///< leases of the old hold a share left (after its error)
  u64 skipped;   ///< slots a share passed over (null, or already in the fresh hold)
  u64 stopped;   ///< shares stopped by an error
  u64 in_fresh;  ///< survivors compact_verify found in the fresh hold
  u64 in_old;    ///< and in the old one (allowed between rounds only)
  u64 freed;     ///< survivors freed by compact_free
  u64 contended; ///< of the stopped shares, those whose bounded retries ran out
};

/// The two holds and heaps at one instant (one thread, between kernels).
struct CompactSnapshot {
  Stats old_hold, fresh_hold, old_heap, fresh_heap;
  u64 old_hunks, fresh_hunks, old_reserved, fresh_reserved;
};

/// What the one-thread steps leave for the launcher.
struct CompactState {
  u64 setup_error;    ///< heaps' init_error, or the ballast's allocation error
  HoldRef old_hold;   ///< HoldRef::of the two holds (made on the device: the word is
  HoldRef fresh_hold; ///< read from the hold), passed by value to the worker kernels
  Block ballast;      ///< the short fresh heap's ballast extent (empty: none)
  Stats heaps_after;  ///< the two heaps summed, once both holds were destroyed
};

// ---- The slots' contents ------------------------------------------------------------

/// Whether worker i's slot q of kind k (0 box, 1 short, 2 long, 3 list) survives.
SWIM_MEM_API inline bool compact_survives(u64 i, u64 q, u64 kind) {
  return q == (i + kind) % kPerKind;
}
SWIM_MEM_API inline std::size_t compact_short_len(u64 i, u64 q) {
  return 1 + static_cast<std::size_t>((i * 7 + q * 5) % 24);
}
/// 240..255 elements: more than a 1 KiB Pool hunk holds after its header.
SWIM_MEM_API inline std::size_t compact_long_len(u64 i, u64 q) {
  return 240 + static_cast<std::size_t>((i * 13 + q * 29) % 16);
}
SWIM_MEM_API inline u32 compact_elem(u64 slot, std::size_t e) {
  return static_cast<u32>(stamp(slot, e) >> 32);
}

/// A Buf of `len` elements, capacity exactly `len`, each compact_elem(slot, e).
SWIM_MEM_API inline bool compact_buf_intact(const BufLease& b, u64 slot, std::size_t len) {
  if (!b || b.size() != len || b.capacity() != len) return false;
  for (std::size_t e = 0; e < len; ++e) {
    if (b[e] != compact_elem(slot, e)) return false;
  }
  return true;
}

/// make_bounded, also retrying a transient out_of_memory (kBuildOomRetries).
template <class L, class Make>
SWIM_MEM_API Error make_retrying(L& out, LeaseCounters* c, Make&& make) {
  Error e = Error::out_of_memory;
  for (unsigned t = 0; t < kBuildOomRetries && e == Error::out_of_memory; ++t) {
    e = make_bounded(out, c, make);
  }
  return e;
}

// ---- Per-worker steps ------------------------------------------------------------------

/// Worker i constructs its slots and makes its 16 leases in `old` (a box, a short
/// and a long Buf and a list, q after q).
SWIM_MEM_LEASES_NOINLINE SWIM_MEM_API inline void compact_build(const CompactSlots& s, HoldRef old,
                                                                u64 i, LeaseCounters* c,
                                                                CompactCounters* k) {
  for (u64 q = 0; q < kPerKind; ++q) {
    const u64 slot = i * kPerKind + q;
    detail::construct_at(s.boxes + slot);
    detail::construct_at(s.shorts + slot);
    detail::construct_at(s.longs + slot);
    detail::construct_at(s.lists + slot);
  }
  for (u64 q = 0; q < kPerKind; ++q) {
    const u64 slot = i * kPerKind + q;
    BoxLease& box = s.boxes[slot];
    Error e = make_retrying(box, c, [&] { return BoxLease::try_new(old, stamp(slot, 1)); });
    if (e == Error::none) bump(k->built);
    else SWIM_MEM_LEASES_NOTE(e, false);  // the old heap has room for everything

    const std::size_t lens[2] = {compact_short_len(i, q), compact_long_len(i, q)};
    BufLease* bufs[2] = {s.shorts + slot, s.longs + slot};
    for (unsigned b = 0; b < 2; ++b) {
      e = make_retrying(*bufs[b], c, [&] { return BufLease::try_filled(old, lens[b], 0u); });
      if (e != Error::none) {
        SWIM_MEM_LEASES_NOTE(e, false);
        continue;
      }
      for (std::size_t x = 0; x < lens[b]; ++x) (*bufs[b])[x] = compact_elem(slot, x);
      bump(k->built);
    }

    NodeLease& head = s.lists[slot];
    bool whole = true;
    for (unsigned n = kNodes; n-- > 0 && whole;) {
      NodeLease node;
      e = make_retrying(node, c, [&] { return NodeLease::try_new(old); });
      if (e != Error::none) {
        SWIM_MEM_LEASES_NOTE(e, false);
        free_list(head);
        whole = false;
        break;
      }
      node->value = stamp(slot, 16 + n);
      node->next = detail::move(head);
      head = detail::move(node);
    }
    if (whole) bump(k->built);
  }
}

/// Worker i frees three of each four of its leases, a different one kept per kind
/// and worker: run after every worker's build (a barrier between), so that no
/// build reuses the units freed here and the survivors stay scattered.
SWIM_MEM_LEASES_NOINLINE SWIM_MEM_API inline void compact_fragment(const CompactSlots& s, u64 i,
                                                                   CompactCounters* k) {
  for (u64 q = 0; q < kPerKind; ++q) {
    const u64 slot = i * kPerKind + q;
    if (!compact_survives(i, q, 0)) s.boxes[slot].reset();
    if (!compact_survives(i, q, 1)) s.shorts[slot].reset();
    if (!compact_survives(i, q, 2)) s.longs[slot].reset();
    if (!compact_survives(i, q, 3)) free_list(s.lists[slot]);
    bump(k->kept, static_cast<u64>(compact_survives(i, q, 0) && s.boxes[slot]) +
                      static_cast<u64>(compact_survives(i, q, 1) && s.shorts[slot]) +
                      static_cast<u64>(compact_survives(i, q, 2) && s.longs[slot]) +
                      static_cast<u64>(compact_survives(i, q, 3) && s.lists[slot]));
  }
}

/// Add one share's report to the counters. The errors that may stop a share:
/// out_of_memory where `oom_expected` (a short fresh heap, or a GPU grid whose
/// burst of new hunks may run the heap dry for a round), and Error::contended
/// anywhere: its retries are bounded, and whether a bound runs out is a matter of
/// timing (a busy heap's lock holder off its core on an oversubscribed host), not
/// of correctness; the share left the rest intact, and a later round moves it.
SWIM_MEM_API inline void compact_tally(const CompactShareReport& r, bool oom_expected,
                                       LeaseCounters* c, CompactCounters* k) {
  bump(k->moved, r.moved);
  bump(k->stayed, r.stayed);
  bump(k->skipped, r.skipped);
  bump(c->retried, r.retried);
  if (r.error != Error::none) {
    bump(k->stopped);
    if (r.error == Error::contended) {
      bump(k->contended);
    } else {
      SWIM_MEM_LEASES_NOTE(r.error, oom_expected);
    }
    SWIM_MEM_LEASES_EXPECT(r.stayed != 0);  // a share that stopped left its lease
  } else {
    SWIM_MEM_LEASES_EXPECT(r.stayed == 0);
  }
}

/// Thread t of `threads`: its share of every array, from `from` into `to` (one
/// round; what a share leaves is moved by the next).
SWIM_MEM_LEASES_NOINLINE SWIM_MEM_API inline void compact_move(const CompactSlots& s, u64 t,
                                                               u64 threads, HoldRef from,
                                                               HoldRef to, bool oom_expected,
                                                               LeaseCounters* c,
                                                               CompactCounters* k) {
  const std::size_t count = static_cast<std::size_t>(s.n * kPerKind);
  const auto share = [&](auto* leases) {
    compact_tally(try_compact_share(leases, count, t, threads, from, to, kRetries), oom_expected,
                  c, k);
  };
  share(s.boxes);
  share(s.shorts);
  share(s.longs);
  share(s.lists);
}

/// Where a survivor is: counted in_fresh or (when `old_allowed`) in_old; anywhere
/// else is a failure.
SWIM_MEM_API inline void compact_where(HoldRef where, HoldRef old, HoldRef fresh, bool old_allowed,
                                       LeaseCounters* c, CompactCounters* k) {
  if (where == fresh) {
    bump(k->in_fresh);
  } else if (where == old && old_allowed) {
    bump(k->in_old);
  } else {
    SWIM_MEM_LEASES_EXPECT(false);
  }
}

/// Worker i's slots: every survivor has its contents and lives in `fresh` (or in
/// `old`, when `old_allowed`: between rounds), a list with all its nodes in one
/// hold; every other slot is null.
SWIM_MEM_LEASES_NOINLINE SWIM_MEM_API inline void compact_verify(const CompactSlots& s, u64 i,
                                                                 HoldRef old, HoldRef fresh,
                                                                 bool old_allowed,
                                                                 LeaseCounters* c,
                                                                 CompactCounters* k) {
  for (u64 q = 0; q < kPerKind; ++q) {
    const u64 slot = i * kPerKind + q;
    const BoxLease& box = s.boxes[slot];
    if (compact_survives(i, q, 0)) {
      SWIM_MEM_LEASES_EXPECT(box && *box == stamp(slot, 1));
      if (box) compact_where(box.hold(), old, fresh, old_allowed, c, k);
    } else {
      SWIM_MEM_LEASES_EXPECT(!box);
    }
    const BufLease* bufs[2] = {s.shorts + slot, s.longs + slot};
    const std::size_t lens[2] = {compact_short_len(i, q), compact_long_len(i, q)};
    for (unsigned b = 0; b < 2; ++b) {
      if (compact_survives(i, q, 1 + b)) {
        SWIM_MEM_LEASES_EXPECT(compact_buf_intact(*bufs[b], slot, lens[b]));
        if (*bufs[b]) compact_where(bufs[b]->hold(), old, fresh, old_allowed, c, k);
      } else {
        SWIM_MEM_LEASES_EXPECT(!*bufs[b]);
      }
    }
    const NodeLease& head = s.lists[slot];
    if (compact_survives(i, q, 3)) {
      SWIM_MEM_LEASES_EXPECT(head && list_intact(head, slot, head.hold()));
      if (head) compact_where(head.hold(), old, fresh, old_allowed, c, k);
    } else {
      SWIM_MEM_LEASES_EXPECT(!head);
    }
  }
}

/// Worker i frees its survivors (wherever they are) and ends its slots.
SWIM_MEM_LEASES_NOINLINE SWIM_MEM_API inline void compact_free(const CompactSlots& s, u64 i,
                                                               CompactCounters* k) {
  for (u64 q = 0; q < kPerKind; ++q) {
    const u64 slot = i * kPerKind + q;
    bump(k->freed, static_cast<u64>(static_cast<bool>(s.boxes[slot])) +
                       static_cast<u64>(static_cast<bool>(s.shorts[slot])) +
                       static_cast<u64>(static_cast<bool>(s.longs[slot])) +
                       static_cast<u64>(static_cast<bool>(s.lists[slot])));
    free_list(s.lists[slot]);
    s.boxes[slot].~BoxLease();
    s.shorts[slot].~BufLease();
    s.longs[slot].~BufLease();
    s.lists[slot].~NodeLease();
  }
}

// ---- One-thread steps (heaps[0], holds[0]: old; heaps[1], holds[1]: fresh) ---------------

SWIM_MEM_API inline void compact_make_hold(CompactClasses* at, CompactHeap& heap) {
  detail::construct_at(at, heap);
}
SWIM_MEM_API inline void compact_make_hold(CompactPool* at, CompactHeap& heap) {
  const std::size_t hunk = kCompactPoolHunk;  // (a copy: nvcc has no device address of it)
  detail::construct_at(at, heap, hunk);
}

/// Build both heaps over their regions and a hold on each; a non-zero `room`
/// leaves only that many bytes of the fresh heap free (the rest is ballast).
template <class Hold>
SWIM_MEM_API void compact_setup(CompactHeap* heaps, Hold* holds, Block old_region,
                                Block fresh_region, std::size_t room, CompactState* st) {
  const std::size_t granule = kCompactGranule;  // (as above)
  CompactHeap* old_heap = detail::construct_at(heaps, old_region, granule);
  CompactHeap* fresh_heap = detail::construct_at(heaps + 1, fresh_region, granule);
  st->setup_error = static_cast<u64>(old_heap->init_error());
  if (st->setup_error == 0) st->setup_error = static_cast<u64>(fresh_heap->init_error());
  st->ballast = Block{};
  if (st->setup_error == 0 && room != 0) {
    const std::size_t capacity = fresh_heap->capacity();
    const Result<Block> b =
        capacity > room ? fresh_heap->try_allocate(Layout{capacity - room, kCompactGranule})
                        : Result<Block>(Error::invalid_argument);
    if (b) st->ballast = *b;
    else st->setup_error = static_cast<u64>(b.error());
  }
  compact_make_hold(holds, *old_heap);
  compact_make_hold(holds + 1, *fresh_heap);
  st->old_hold = HoldRef::of(holds[0]);
  st->fresh_hold = HoldRef::of(holds[1]);
}

template <class Hold>
SWIM_MEM_API void compact_snapshot(const CompactHeap* heaps, const Hold* holds,
                                   CompactSnapshot* out) {
  out->old_hold = holds[0].stats();
  out->fresh_hold = holds[1].stats();
  out->old_heap = heaps[0].stats();
  out->fresh_heap = heaps[1].stats();
  out->old_hunks = holds[0].hunk_count();
  out->fresh_hunks = holds[1].hunk_count();
  out->old_reserved = holds[0].reserved_bytes();
  out->fresh_reserved = holds[1].reserved_bytes();
}

/// Phase 2: the old hold's empty hunks go back to its heap (exclusive use: no
/// worker runs).
template <class Hold>
SWIM_MEM_API void compact_release(Hold* holds, CompactRelease* out) {
  *out = release_compacted(holds[0]);
}

/// The short fresh heap gets its ballast back (between the rounds).
SWIM_MEM_API inline void compact_unballast(CompactHeap* heaps, CompactState* st) {
  if (st->ballast.ptr == nullptr) return;
  Error e = Error::contended;
  for (unsigned t = 0; t < kRetries && e == Error::contended; ++t) {
    e = heaps[1].try_deallocate(st->ballast);
  }
  if (e != Error::none) st->setup_error = static_cast<u64>(e);
  st->ballast = Block{};
}

/// Destroy both holds (every hunk back: nothing is live by then), note what the
/// heaps still hold, destroy the heaps.
template <class Hold>
SWIM_MEM_API void compact_teardown(CompactHeap* heaps, Hold* holds, CompactState* st) {
  compact_unballast(heaps, st);
  holds[1].~Hold();
  holds[0].~Hold();
  const Stats a = heaps[0].stats();
  const Stats b = heaps[1].stats();
  st->heaps_after = Stats{a.live + b.live, a.bytes_in_use + b.bytes_in_use,
                          a.bytes_free + b.bytes_free, 0};
  heaps[1].~CompactHeap();
  heaps[0].~CompactHeap();
}

}  // namespace swim::mem::device_leases
