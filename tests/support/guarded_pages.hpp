// A memory source whose memory the host cannot touch: pages mapped PROT_NONE,
// opened only inside its own copy / upload / download (as a GPU's copy engine
// reaches device memory the host cannot). An arena over it proves that it never
// reads or writes the memory it manages: any touch faults.
#pragma once

#include <sys/mman.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "swim/mem/physical.hpp"

namespace swim::mem::testing {

struct GuardedPages {
  static constexpr bool host_accessible = false;  // as device memory
  static constexpr bool device_accessible = true;
  static constexpr std::size_t guaranteed_align = 4096;

  /// Regions acquired and not released (shared by copies of the source).
  std::atomic<int>* outstanding = nullptr;
  /// Fail the acquire when this many more have been made (negative: never).
  int acquires_left = -1;

  Result<Block> try_acquire(std::size_t bytes, std::size_t align) {
    if (align > guaranteed_align) return Error::misaligned;
    if (acquires_left == 0) return Error::out_of_memory;
    if (acquires_left > 0) --acquires_left;
    const std::size_t n = (bytes + 4095) / 4096 * 4096;
    void* p = mmap(nullptr, n, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return Error::out_of_memory;
    if (outstanding) ++*outstanding;
    return Block{p, n};
  }
  Error release(Block b) {
    if (outstanding) --*outstanding;
    return munmap(b.ptr, b.size) == 0 ? Error::none : Error::invalid_argument;
  }

  /// The pages that hold [p, p + n), opened for reading and writing or closed.
  static void open(const void* p, std::size_t n, bool rw) {
    const std::uintptr_t a = reinterpret_cast<std::uintptr_t>(p) & ~std::uintptr_t(4095);
    const std::uintptr_t e = (reinterpret_cast<std::uintptr_t>(p) + n + 4095) & ~std::uintptr_t(4095);
    (void)mprotect(reinterpret_cast<void*>(a), e - a, rw ? PROT_READ | PROT_WRITE : PROT_NONE);
  }
  /// The copy engine: what compaction calls (non-overlapping ranges).
  Error copy(void* to, const void* from, std::size_t n) {
    open(to, n, true);
    open(from, n, true);
    std::memcpy(to, from, n);
    open(to, n, false);
    open(from, n, false);
    return Error::none;
  }
  static void upload(void* to, const void* from, std::size_t n) {
    open(to, n, true);
    std::memcpy(to, from, n);
    open(to, n, false);
  }
  static void download(void* to, const void* from, std::size_t n) {
    open(from, n, true);
    std::memcpy(to, from, n);
    open(from, n, false);
  }
};

}  // namespace swim::mem::testing
