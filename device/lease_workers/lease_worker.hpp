// One thread of check_leases (lease_worker, run by the lease_work kernel of
// device/leases.inl): its slice of memory split into a private Pack and a tiny one,
// the exclusive family (exclusive.hpp) in the shared Pool and in its Pack, the
// list and cycle stows (exclusive.hpp, shared.hpp), then the scope step (scope.hpp)
// on the same slice; both Packs end empty.
#pragma once

#include <cstddef>
#include <new>

#include "common.hpp"
#include "exclusive.hpp"
#include "scope.hpp"
#include "shared.hpp"
#include "swim/mem/holds/hold.hpp"
#include "swim/mem/holds/pack.hpp"

namespace swim::mem::device_leases {

/// Bytes of device memory per thread: a private scratch Pack (a Buf's growth chain,
/// two blockers and a list, with their tags, fit several times over) and, in the
/// last kTiny bytes, a Pack with room for two list nodes (24 bytes each with the
/// tag) but not three, into which a stow must fail part way.
inline constexpr std::size_t kSlice = 1024;
inline constexpr std::size_t kTiny = 64;

/// Everything thread i does: its two private Packs on its own slice (packs[2i],
/// packs[2i + 1]), exclusive leases in the shared pool and in its Pack, stows from
/// its Pack; it frees all of it and destroys the Packs.
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

}  // namespace swim::mem::device_leases
