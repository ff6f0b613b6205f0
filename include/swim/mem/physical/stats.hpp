// Layer 2 (physical): allocator statistics, a plain value snapshot.
#pragma once

#include <cstddef>

namespace swim::mem {

/// A snapshot of an allocator's counters. Under concurrency the fields are read
/// one by one (relaxed), so they are individually exact but not a single instant.
struct Stats {
  std::size_t live = 0;          ///< objects (blocks) currently allocated
  std::size_t bytes_in_use = 0;  ///< bytes currently handed out (as returned to callers)
  std::size_t bytes_free = 0;    ///< bytes still available without asking an upstream
  std::size_t peak_bytes = 0;    ///< high-water mark of bytes_in_use
};

}  // namespace swim::mem
