// The lease workers' shared family within one thread (steps of lease_worker, in
// lease_worker.hpp): a two-node cycle of Hard<Box<CycleNode>> closed by a Soft
// (A -Hard-> B -Soft-> A) stowed into a Pack with room for one node (the stow fails
// after relocating A: the cycle intact, that Pack empty) and into the shared Pool
// (the cycle closes there; refused and intact on a short heap), then dropped with
// nothing left live. Copy-on-write and unwrap: a shared Hard's unique Mut is a
// private copy whose value is taken out, the original keeping its own.
// The shared family under many threads at once is in shared_storm.hpp.
#pragma once

#include "common.hpp"
#include "swim/mem/holds/hold.hpp"
#include "swim/mem/leases.hpp"
#include "swim/mem/leases/stow.hpp"
#include "swim/mem/residents/box.hpp"

namespace swim::mem::device_leases {

/// A node of a cycle through a Soft: A -Hard-> B -Soft-> A.
struct CycleNode {
  u64 value = 0;
  Hard<Box<CycleNode>> next;
  Soft<Box<CycleNode>> back;
};
using CycleHard = Hard<Box<CycleNode>>;

}  // namespace swim::mem::device_leases

template <>
struct swim::mem::stow_traits<swim::mem::device_leases::CycleNode>
    : swim::mem::stow_members<swim::mem::device_leases::CycleNode,
                              &swim::mem::device_leases::CycleNode::value,
                              &swim::mem::device_leases::CycleNode::next,
                              &swim::mem::device_leases::CycleNode::back> {};

namespace swim::mem::device_leases {

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

  const Error into_pool = stow_bounded(a, pool, copy, c);
  if (into_pool == Error::none) {
    SWIM_MEM_LEASES_EXPECT(!a && scratch.stats().live == 0 && cycle_intact(copy, i, pool));
    bump(c->arc_stowed);
  } else {
    SWIM_MEM_LEASES_NOTE(into_pool, short_heap);
    SWIM_MEM_LEASES_EXPECT(cycle_intact(a, i, scratch));
    bump(c->arc_refused);
  }
  // Break the cycle's strong half and drop everything (the Soft does not keep it).
  copy.reset();
  a.reset();
  SWIM_MEM_LEASES_EXPECT(scratch.stats().live == 0);

  unique_step(scratch, i, c);
}

}  // namespace swim::mem::device_leases
