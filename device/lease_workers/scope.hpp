// The lease workers' scope step (the last step of lease_worker, in
// lease_worker.hpp): a LocalScope<Pack<single_owner>> over the thread's slice, a
// list (exclusive.hpp's LeaseNode) built in it and kept into the shared Pool in one
// transaction (refused on a short heap: the list freed inside the scope), garbage
// built beside it left to the scope, which must end with nothing live.
#pragma once

#include <cstddef>

#include "common.hpp"
#include "exclusive.hpp"
#include "swim/mem/holds/hold.hpp"
#include "swim/mem/holds/pack.hpp"
#include "swim/mem/residents/scope.hpp"

namespace swim::mem::device_leases {

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
    Error e = Error::contended;
    for (unsigned t = 0; t < kRetries && e == Error::contended; ++t) {
      e = scope.try_keep(kept);  // (a failed keep leaves the list where it was)
      if (e == Error::contended) {
        bump(c->retried);
        backoff(t);
      }
    }
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

}  // namespace swim::mem::device_leases
