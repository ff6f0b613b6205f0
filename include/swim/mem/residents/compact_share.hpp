// Layer 7 (residents): parallel compaction, from one hold into another, by many
// threads at once (a kernel's, or a host thread pool's).
//
// The protocol has two phases, with a barrier over every thread between them (on
// a GPU: the end of the kernel, then a second launch):
//
//  1. Move, every thread: try_compact_share(leases, count, t, threads, from, to)
//     takes the leases t, t + threads, t + 2 threads, ... of an array (consecutive
//     threads, consecutive leases: coalesced on a GPU). Each lease whose object is
//     in `from` is stowed into `to` as one transaction (try_stow): on success the
//     lease points into `to` and its old objects were freed into `from`; on failure
//     it is untouched, still in `from` with its contents, and the share reports the
//     error. Retryable errors (contended; aliased and relocating for shared leases
//     that others borrow) are retried a bounded number of times; the first error
//     that remains stops the share, and the leases after it are counted as stayed.
//     Null leases and leases of other holds are skipped, so a later round with the
//     same arguments moves exactly what an earlier one left. Whether a lease moves
//     is decided by its head object: a structure whose head is in `from` is stowed
//     whole (stow's rule), so members it has in a third hold are freed there and
//     made again in `to` (that hold must then take frees from the movers: be
//     concurrent, or used by nobody else meanwhile); one whose head is elsewhere
//     stays, with any members it has in `from`.
//  2. Release, one thread, when no thread uses `from` any more:
//     release_compacted(from) gives every hunk of `from` with nothing live back to
//     its heap (Pool: retire_head() then trim(); SizeClasses: trim()).
//
// What each phase needs:
//  - Move: `from` and `to` are concurrent holds (every mover frees into `from` and
//    allocates in `to`). Each lease of the array is used by its mover alone while
//    the share runs: no other thread reads, writes or moves it (an exclusive
//    lease's rule anyway; its objects are being copied and freed). A shared lease
//    (Hard) in the array may be borrowed by other threads meanwhile: its relocation
//    waits (bounded) for their Ref/Mut to end, and their new borrows answer
//    relocating until it is published; other Hards and Softs of it follow the
//    forward afterwards. Two Hards of one object may be in different threads'
//    shares: one relocation waits for the other or shares it (one copy in `to`).
//    Other threads may allocate and free in `to`, and free other objects of
//    `from`, throughout.
//  - Release: exclusive use of `from` (no allocation, free or validated free in
//    it, nobody reading its hunks). `to` may be in use by any thread meanwhile.
//
// Bounds: every stow is bounded (the holds' retries, the arc protocol's), and so is
// the number of retries here, each after a backoff() (config/backoff.hpp: a short
// spin, then the host thread yields its core or the GPU thread sleeps, so that a
// preempted lock holder or relocating thread gets to finish); nothing waits
// without bound. A share touches each of
// its leases once, plus once more per retry.
//
// What stays in `from`: leases that failed (reported), objects not reachable from
// the array, and the forwarding stub of a shared object whose other Hards or Softs
// have not yet followed it (refresh()) or gone: release_compacted keeps the hunks
// they live in and reports them.
#pragma once

#include <concepts>
#include <cstddef>

#include "swim/mem/holds.hpp"
#include "swim/mem/leases.hpp"

namespace swim::mem {

/// A lease that a share can move: stowable, null-testable, and able to say which
/// hold its object is in (Raw, Ptr, Hard, and user types that provide hold()).
template <class L>
concept compactable_lease = stowable<L> && requires(const L& l) {
  static_cast<bool>(l);
  { l.hold() } -> std::same_as<HoldRef>;
};

/// Retries of a retryable error per lease, by default.
inline constexpr unsigned compact_share_retries = 1u << 10;

/// What one thread's share of a parallel compaction did.
struct CompactShareReport {
  std::size_t moved = 0;    ///< leases now in `to`, their old objects freed
  std::size_t stayed = 0;   ///< leases of `from` left where they were (after `error`)
  std::size_t skipped = 0;  ///< null leases and leases of other holds, untouched
  std::size_t retried = 0;  ///< retryable errors that were tried again
  Error error = Error::none; ///< what stopped the share (none: every lease of `from` moved)
};

/// Thread `thread` of `threads` moves its share of `leases[0, count)` from `from`
/// into `to` (see the file comment for the protocol). Errors: invalid_argument
/// (nothing touched) for threads == 0, thread >= threads, a null array with a
/// count, a null hold, or from == to; otherwise the first error that stopped the
/// share (out_of_memory, or a retryable error after `retries` retries), every
/// lease not moved being left intact in `from`. Host and device.
template <compactable_lease L>
SWIM_MEM_API CompactShareReport try_compact_share(L* leases, std::size_t count,
                                                  std::size_t thread, std::size_t threads,
                                                  HoldRef from, HoldRef to,
                                                  unsigned retries = compact_share_retries) {
  CompactShareReport r;
  if (threads == 0 || thread >= threads || (leases == nullptr && count != 0) || !from || !to ||
      from == to) {
    r.error = Error::invalid_argument;
    return r;
  }
  for (std::size_t i = thread; i < count;) {
    L& lease = leases[i];
    if (!lease || lease.hold() != from) {
      ++r.skipped;
    } else if (r.error != Error::none) {
      ++r.stayed;  // the share stopped: the rest stays for a later round
    } else {
      Error e = Error::none;
      for (unsigned attempt = 0;; ++attempt) {
        Result<L> copy = try_stow(lease, to);  // one transaction: all or nothing
        if (copy) {
          lease = copy.take();
          e = Error::none;  // (an earlier attempt's error is not this lease's outcome)
          break;
        }
        e = copy.error();
        if (!is_retryable(e) || attempt >= retries) break;
        ++r.retried;
        backoff(attempt);  // let the thread it waits for run (config/backoff.hpp)
      }
      if (e == Error::none) {
        ++r.moved;
      } else {
        ++r.stayed;
        r.error = e;
      }
    }
    if (count - i <= threads) break;  // (i + threads would reach count, or overflow)
    i += threads;
  }
  return r;
}

/// What release_compacted did to the old hold.
struct CompactRelease {
  std::size_t hunks_released = 0;  ///< hunks given back to the heap
  std::size_t bytes_released = 0;  ///< their bytes
  std::size_t hunks_kept = 0;      ///< hunks still held (something live, or the heap busy)
  std::size_t live = 0;            ///< objects still in the hold
};

namespace detail {
template <class Hold>
SWIM_MEM_API CompactRelease compact_release_report(const Hold& hold, std::size_t hunks,
                                                   std::size_t bytes) {
  CompactRelease r;
  r.hunks_kept = hold.hunk_count();
  r.hunks_released = hunks > r.hunks_kept ? hunks - r.hunks_kept : 0;
  r.bytes_released = bytes > hold.reserved_bytes() ? bytes - hold.reserved_bytes() : 0;
  r.live = hold.stats().live;
  return r;
}
}  // namespace detail

/// Phase 2 of a parallel compaction out of a Pool: its head stops being bumped
/// (retire_head: an empty head retires at once), then every empty hunk goes back
/// to the heap (trim). Needs exclusive use of the pool. Host and device.
template <class Heap, concurrency_mode Mode, bool Checked>
SWIM_MEM_API CompactRelease release_compacted(Pool<Heap, Mode, Checked>& from) {
  const std::size_t hunks = from.hunk_count();
  const std::size_t bytes = from.reserved_bytes();
  from.retire_head();
  from.trim();
  return detail::compact_release_report(from, hunks, bytes);
}

/// Phase 2 of a parallel compaction out of a SizeClasses hold: every hunk with
/// nothing live goes back to the heap (trim). Needs exclusive use of the hold.
/// Host and device.
template <class Heap, concurrency_mode Mode, bool Checked>
SWIM_MEM_API CompactRelease release_compacted(SizeClasses<Heap, Mode, Checked>& from) {
  const std::size_t hunks = from.hunk_count();
  const std::size_t bytes = from.reserved_bytes();
  (void)from.trim();
  return detail::compact_release_report(from, hunks, bytes);
}

}  // namespace swim::mem
