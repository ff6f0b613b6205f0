// Layer 3 (sources): where allocators get their large memory.
//
// A memory source is a small type that hands out and takes back big regions.
// Capabilities are compile-time constants, not base classes:
//   host_accessible   - the CPU may read/write the memory
//   device_accessible - GPU kernels may read/write the memory
// Allocator control blocks live in-band, so an allocator built directly over a
// region can only be *constructed* where that region is accessible (a kernel for
// device-only memory; see device/README.md).
//
// Contract of a source S:
//   Result<Block> s.try_acquire(std::size_t bytes, std::size_t align)
//       A region of at least `bytes`, aligned to `align` (a power of two). Never
//       throws; exhaustion is Error::out_of_memory, no runtime is
//       Error::unsupported. Host-only unless the source says otherwise.
//   Error s.release(Block region)
//       Give back a region obtained from try_acquire, exactly as returned.
#pragma once

#include <concepts>
#include <cstddef>

#include "swim/mem/physical.hpp"

namespace swim::mem {

template <class S>
concept memory_source = requires(S& s, std::size_t n, std::size_t a, Block b) {
  { s.try_acquire(n, a) } -> std::same_as<Result<Block>>;
  { s.release(b) } -> std::same_as<Error>;
  { S::host_accessible } -> std::convertible_to<bool>;
  { S::device_accessible } -> std::convertible_to<bool>;
};

}  // namespace swim::mem
