// The lease workers of check_shared_leases (the arc_* kernels of device/leases.inl):
// the shared family's try forms on one Hard<Box<u64>> shared by every thread.
// arc_make makes it (one thread); arc_share clones it (bounded), borrows a Ref
// (poll_ref, then try_ref) and reads, or on every kMutEvery-th thread takes a Mut
// and increments, and keeps a Soft that must upgrade while a Hard lives; arc_after,
// once the last Hard is gone, finds every Soft cleared and drops it; arc_snapshot
// reads the arc's status and value between phases. One thread's own arcs are in
// shared.hpp.
#pragma once

#include <new>

#include "common.hpp"
#include "swim/mem/holds/hold.hpp"
#include "swim/mem/leases.hpp"
#include "swim/mem/residents/box.hpp"

namespace swim::mem::device_leases {

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

}  // namespace swim::mem::device_leases
