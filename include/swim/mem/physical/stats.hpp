// Layer 2 (physical): allocator statistics, a plain value snapshot.
#pragma once

#include <cstddef>

#include "swim/mem/config/macros.hpp"

namespace swim::mem {

/// A snapshot of an allocator's counters. Under concurrency the fields are read
/// one by one (relaxed), so they are individually exact but not a single instant.
struct Stats {
  std::size_t live = 0;          ///< objects (blocks) currently allocated
  std::size_t bytes_in_use = 0;  ///< bytes currently handed out (as returned to callers)
  std::size_t bytes_free = 0;    ///< bytes still available without asking an upstream
  std::size_t peak_bytes = 0;    ///< high-water mark of bytes_in_use
  /// The largest request that one allocation could be served now from memory the
  /// allocator already holds, without asking an upstream (heap or source): a
  /// try_allocate(Layout{largest_free, 1}) succeeds, when nothing else runs, and
  /// hands out a block of at least that size. 0 when no request with bytes can be
  /// served so. Never above bytes_free (stats() clamps it). Exact when quiescent;
  /// each allocator's stats() says what it is under concurrency and what it costs.
  /// For tagged holds it is an object's size, so the tag word in front of it is
  /// free memory it does not count.
  std::size_t largest_free = 0;
};

/// The share of the free bytes that one allocation cannot reach, in [0, 1]:
/// 1 - largest_free / bytes_free, and 0 when nothing is free. 0 means that all the
/// free memory could go to one request; near 1, that it lies in pieces much
/// smaller than the total (free units of a full slab of small objects, holes
/// between live extents). It measures the free memory only: memory lost inside
/// live blocks (rounding, holes in bump hunks that a hold cannot reuse until they
/// empty) is not free and does not count. A tagged hold with all its free memory
/// in one piece reads 8 / bytes_free (the tag word its next object needs).
SWIM_MEM_API constexpr double fragmentation(const Stats& s) {
  if (s.bytes_free == 0 || s.largest_free >= s.bytes_free) return 0.0;
  return 1.0 - static_cast<double>(s.largest_free) / static_cast<double>(s.bytes_free);
}

}  // namespace swim::mem
