// Layer 1 (config): device-safe bit and alignment arithmetic.
// No <bit>: its constexpr functions are not device-callable under nvcc without
// --expt-relaxed-constexpr, so the builtins are wrapped here once.
#pragma once

#include <cstddef>
#include <cstdint>

#include "swim/mem/config/macros.hpp"

namespace swim::mem::detail {

SWIM_MEM_API constexpr bool is_pow2(std::size_t x) { return x != 0 && (x & (x - 1)) == 0; }

/// Number of trailing zero bits; x must be non-zero.
SWIM_MEM_API SWIM_MEM_FORCEINLINE unsigned countr_zero(std::uint64_t x) {
#if defined(SWIM_MEM_COMPILER_CUDA)
  unsigned r = 0;
  SWIM_MEM_IF_TARGET((r = static_cast<unsigned>(__builtin_ctzll(x));),
                     (r = static_cast<unsigned>(__ffsll(static_cast<long long>(x)) - 1);))
  return r;
#else
  return static_cast<unsigned>(__builtin_ctzll(x));
#endif
}

/// Number of bits needed to represent x (0 for 0).
SWIM_MEM_API SWIM_MEM_FORCEINLINE unsigned bit_width(std::uint64_t x) {
  if (x == 0) return 0;
#if defined(SWIM_MEM_COMPILER_CUDA)
  unsigned r = 0;
  SWIM_MEM_IF_TARGET((r = 64u - static_cast<unsigned>(__builtin_clzll(x));),
                     (r = 64u - static_cast<unsigned>(__clzll(static_cast<long long>(x)));))
  return r;
#else
  return 64u - static_cast<unsigned>(__builtin_clzll(x));
#endif
}

/// Number of set bits.
SWIM_MEM_API SWIM_MEM_FORCEINLINE unsigned popcount(std::uint64_t x) {
#if defined(SWIM_MEM_COMPILER_CUDA)
  unsigned r = 0;
  SWIM_MEM_IF_TARGET((r = static_cast<unsigned>(__builtin_popcountll(x));),
                     (r = static_cast<unsigned>(__popcll(static_cast<unsigned long long>(x)));))
  return r;
#else
  return static_cast<unsigned>(__builtin_popcountll(x));
#endif
}

/// Smallest k with 2^k >= x (x >= 1).
SWIM_MEM_API SWIM_MEM_FORCEINLINE unsigned ceil_log2(std::uint64_t x) {
  return x <= 1 ? 0u : bit_width(x - 1);
}

/// Round x up to a multiple of the power of two `align`; false on overflow.
SWIM_MEM_API constexpr bool align_up(std::size_t x, std::size_t align, std::size_t& out) {
  const std::size_t mask = align - 1;
  if (x > ~std::size_t(0) - mask) return false;
  out = (x + mask) & ~mask;
  return true;
}

/// x rounded up to a multiple of 64 (the cache line that in-memory layouts keep
/// their parts to); x must be at most SIZE_MAX - 63: callers bound it first.
SWIM_MEM_API constexpr std::size_t round64(std::size_t x) { return (x + 63) & ~std::size_t(63); }

/// Round an address up to a power-of-two alignment (caller guarantees no overflow).
SWIM_MEM_API constexpr std::uintptr_t align_addr(std::uintptr_t x, std::size_t align) {
  return (x + (align - 1)) & ~static_cast<std::uintptr_t>(align - 1);
}

template <class T>
SWIM_MEM_API constexpr T min_of(T a, T b) {
  return b < a ? b : a;
}
template <class T>
SWIM_MEM_API constexpr T max_of(T a, T b) {
  return a < b ? b : a;
}

}  // namespace swim::mem::detail
