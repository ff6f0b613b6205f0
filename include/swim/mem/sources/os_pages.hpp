// Layer 3 (sources): OsPages, anonymous private page mappings from the OS.
//
// Host only: the functions are compiled in src/os_pages.cpp (mmap/munmap), not
// marked SWIM_MEM_API, and the memory is not device-accessible.
#pragma once

#include <cstddef>

#include "swim/mem/physical.hpp"
#include "swim/mem/sources/concept.hpp"

namespace swim::mem {

/// Whole pages straight from the kernel (mmap, MAP_ANONYMOUS | MAP_PRIVATE).
///
/// - try_acquire(bytes, align): bytes rounded up to whole pages (0 counts as 1
///   byte, so the block is never empty); the Block reports the rounded size.
///   Alignment up to the page size is free; larger alignments (huge-page or
///   arena alignment) are served by over-reserving align - page_size() bytes and
///   unmapping the slack on both sides. Errors: misaligned (align not a power of
///   two or above Layout::max_align), oversized (rounding would overflow),
///   out_of_memory (the mapping failed).
/// - release(block): unmaps; the size is rounded up to pages, so a block whose
///   size rounds to the same pages is accepted. Errors: foreign_pointer (not
///   page-aligned), invalid_argument (munmap refused the range).
///
/// - discard(block): gives the whole pages inside the block back to the kernel
///   (madvise MADV_DONTNEED) while the mapping stays: they read as zero and take
///   no memory until written again. Errors: invalid_argument (madvise refused).
///
/// The memory is zero-filled. Stateless: every OsPages object is interchangeable,
/// and releasing through another object is fine. Thread-safe. Host only.
class OsPages {
 public:
  static constexpr bool host_accessible = true;
  static constexpr bool device_accessible = false;

  /// The system page size (sysconf(_SC_PAGESIZE)), read once.
  static std::size_t page_size() noexcept;

  Result<Block> try_acquire(std::size_t bytes, std::size_t align) noexcept;
  Error release(Block region) noexcept;
  Error discard(Block region) noexcept;
};

static_assert(memory_source<OsPages>);

}  // namespace swim::mem
