// Layer 5 (holds): the warp front of SizeClasses: a warp's allocations served
// together, one atomic on a hunk per class the warp asks for.
//
// warp_try_allocate is called by every lane of `among` at once (each with its own
// layout) and gives each lane its own result. Lanes asking for objects of the same
// size class are served in one round: the round's leader (the lowest lane still
// waiting) takes a run of units for all of them from the class's current hunk with
// one atomic on the hunk's bump (ClassCore::try_take_run), broadcasts the run, and
// each lane claims the unit of its rank (writing its own tag). Lanes of other
// classes wait for later rounds: one round per distinct class, so at most
// popcount(among) <= W::size rounds. A lane whose request is not a class object
// (zero size, above SizeClassTable::max_object, aligned above 16, or a bad
// alignment), whose rank falls past a short run, or whose round's leader met
// contention, calls the hold's own try_allocate instead: the same result a thread
// calling it alone would get. The leader's out_of_memory is the answer of every lane
// of its round (a lone call would meet the same heap). Frees need nothing of the
// front: any thread frees any object through try_deallocate or hold_deallocate.
//
// Bounds: no loop here waits for another lane; the rounds are at most the lanes
// of `among`; the leader's try_take_run and a lane's try_allocate are the hold's
// own bounded operations (ClassHunk::max_retries CAS attempts per loop), which
// answer Error::contended when the bound is reached (the caller may call again).
//
// Memory order: a broadcast orders nothing, so after a run is broadcast the lanes
// of the round sync(): what the leader acquired with the run (the hunk's header,
// and the links and tags a freeing thread left in reused units) happens-before
// each lane's claim.
#pragma once

#include <cstdint>

#include "swim/mem/config/warp.hpp"
#include "swim/mem/holds/size_classes.hpp"

namespace swim::mem {

/// What warp_try_allocate did for one lane (for tests and measurements).
struct WarpTrace {
  unsigned round;     ///< the round that served the lane (1..), 0 if it had none
  unsigned asked;     ///< the lanes of that round (units its leader asked for)
  unsigned granted;   ///< units the round's run gave (0: the leader got an error)
  bool per_lane;      ///< the lane's own try_allocate served it
};

namespace detail {

/// Whether a layout is served by a size class (the rest goes to the hold's own path).
SWIM_MEM_API SWIM_MEM_FORCEINLINE bool class_request(Layout layout) {
  return layout.size != 0 && layout.size <= SizeClassTable::max_object && is_pow2(layout.align) &&
         layout.align <= SizeClassTable::align;
}

}  // namespace detail

/// Allocate one object per lane of `among`, every lane of which calls this at once
/// with its own layout (see the file comment); the same result a lone call of
/// hold.try_allocate(layout) could give: an object of at least layout.size bytes,
/// or an Error (contended may be called again; out_of_memory when the heap refuses;
/// invalid_argument, with no exchange, when the calling lane is not in `among`).
/// `trace`, if given, receives what was done for the calling lane.
///
/// - Thread-safety: any number of warps and threads at once (the hold is concurrent).
/// - Host/device: W is Warp on a GPU, or any warp_ops (EmulatedWarp on host threads).
template <warp_ops W, heap Heap, bool Checked>
SWIM_MEM_API Result<Block> warp_try_allocate(const W& warp, SizeClasses<Heap, concurrent, Checked>& hold,
                                             Layout layout, WarpMask among, WarpTrace* trace = nullptr) {
  using Table = detail::SizeClassTable;
  using Run = detail::ClassRun<concurrent>;
  const unsigned lane = warp.lane();
  // A caller outside `among` breaks the contract: answered before any exchange
  // (an exchange over a mask without the caller is undefined on every backend).
  if (lane >= 64 || ((among >> lane) & 1) == 0) {
    if (trace != nullptr) *trace = WarpTrace{0, 0, 0, false};
    return Error::invalid_argument;
  }
  const bool in_class = detail::class_request(layout);
  const std::uint32_t klass = in_class ? Table::of_object(layout.size) : Table::count;
  WarpMask pending = warp.ballot(among, in_class);
  bool per_lane = !in_class;
  bool served = !in_class;
  Result<Block> out = Error::contended;
  WarpTrace t{0, 0, 0, !in_class};
  // One round per distinct class among the lanes still pending; each round ends
  // with at least its leader served, so `round` never passes popcount(among).
  for (unsigned round = 1; in_class && round <= W::size; ++round) {
    if (pending == 0) break;  // (only if a lane broke the contract)
    const unsigned leader = warp_leader(pending);
    const std::uint32_t c = warp.broadcast(pending, klass, leader);
    const WarpMask group = warp.ballot(pending, klass == c);
    if (klass != c) {
      pending &= ~group;
      continue;
    }
    std::uint64_t hunk = 0;
    std::uint64_t info = 0;  // the run's first << 32 | count, or the leader's Error
    if (lane == leader) {
      const Result<Run> run = hold.try_take_run(c, detail::popcount(group));
      if (run) {
        hunk = reinterpret_cast<std::uint64_t>(run->hunk);
        info = std::uint64_t{run->first} << 32 | run->count;
      } else {
        info = static_cast<std::uint64_t>(run.error());
      }
    }
    hunk = warp.broadcast(group, hunk, leader);
    info = warp.broadcast(group, info, leader);
    const unsigned rank = warp_rank(group, lane);
    const auto count = static_cast<std::uint32_t>(info);
    t = WarpTrace{round, detail::popcount(group), hunk != 0 ? count : 0, false};
    if (hunk != 0) {
      warp.sync(group);  // the leader's acquire of the run reaches every lane (file comment)
      if (rank < count) {
        const Run run{reinterpret_cast<detail::ClassHunk<concurrent>*>(hunk),
                      static_cast<std::uint32_t>(info >> 32), count};
        out = detail::ClassCore<concurrent>::claim(run, rank);
      } else {
        per_lane = true;  // past a short run
      }
    } else if (static_cast<Error>(info) == Error::contended) {
      per_lane = true;
    } else {
      out = static_cast<Error>(info);
    }
    served = true;
    break;
  }
  if (!served) per_lane = true;  // (only if a lane broke the contract)
  if (per_lane) out = hold.try_allocate(layout);
  t.per_lane = per_lane;
  if (trace != nullptr) *trace = t;
  return out;
}

/// The same, for the lanes running now (warp.active()); on a GPU, the lanes that
/// reach the call together.
template <warp_ops W, heap Heap, bool Checked>
SWIM_MEM_API Result<Block> warp_try_allocate(const W& warp, SizeClasses<Heap, concurrent, Checked>& hold,
                                             Layout layout) {
  return warp_try_allocate(warp, hold, layout, warp.active());
}

}  // namespace swim::mem
