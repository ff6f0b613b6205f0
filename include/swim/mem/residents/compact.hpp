// Layer 7 (residents): compaction of a Pool.
//
// Every live resident reachable from the given roots is stowed into fresh hunks
// of the same Pool; the old copies are destroyed, the hunks they leave empty
// retire, and trim() gives them back. What is left is dense: the bytes in use
// over the bytes held from the heap.
#pragma once

#include "swim/mem/leases.hpp"

namespace swim::mem {

/// Fragmentation of a Pool, in [0, 1]: the share of the memory it has consumed
/// (held from its heap, less the untouched end of the head hunk, which the next
/// objects will use) that is neither an object, its tag, nor a hunk header: the
/// holes left by objects freed out of LIFO order, the unusable ends of full hunks,
/// and alignment padding.
template <class Heap, class Mode, bool Checked>
SWIM_MEM_API double pool_fragmentation(const Pool<Heap, Mode, Checked>& pool) {
  const Stats s = pool.stats();
  const std::size_t consumed = pool.reserved_bytes() - pool.head_free_bytes();
  const std::size_t useful = s.bytes_in_use + s.live * detail::tag_size +
                             pool.hunk_count() * sizeof(detail::PoolHunk<Mode>);
  if (consumed == 0 || useful >= consumed) return 0.0;
  return 1.0 - static_cast<double>(useful) / static_cast<double>(consumed);
}

/// What a compaction did (fragmentation as pool_fragmentation).
struct CompactionReport {
  std::size_t bytes_moved = 0;      ///< bytes of the copies made
  std::size_t reserved_before = 0;  ///< bytes the pool held from its heap
  std::size_t reserved_after = 0;
  std::size_t in_use_before = 0;
  std::size_t in_use_after = 0;
  double fragmentation_before = 0;
  double fragmentation_after = 0;
};

/// Compact `pool` around `roots` (leases whose structures live in the pool), as one
/// transaction: on failure (the heap could not supply fresh hunks) every root is
/// untouched. Live objects not reachable from the roots stay where they are (and
/// keep their hunks). Needs exclusive use of the pool: no concurrent allocation.
template <class Heap, class Mode, bool Checked, stowable... L>
SWIM_MEM_API Result<CompactionReport> try_compact(Pool<Heap, Mode, Checked>& pool, L&... roots) {
  CompactionReport report;
  report.reserved_before = pool.reserved_bytes();
  report.in_use_before = pool.stats().bytes_in_use;
  report.fragmentation_before = pool_fragmentation(pool);
  pool.retire_head();  // copies go to fresh hunks, never between the old objects
  auto measure = [&] { report.bytes_moved = pool.stats().bytes_in_use - report.in_use_before; };
  const Error e = detail::stow_transaction(HoldRef::of(pool), measure, roots...);
  if (e != Error::none) return e;
  pool.trim();
  report.reserved_after = pool.reserved_bytes();
  report.in_use_after = pool.stats().bytes_in_use;
  report.fragmentation_after = pool_fragmentation(pool);
  return report;
}

}  // namespace swim::mem
