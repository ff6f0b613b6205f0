// Layer 2 (physical): Layout, a size and a power-of-two alignment.
//
// All arithmetic is overflow-checked: an operation that would wrap returns
// Error::oversized; a bad alignment returns Error::misaligned.
#pragma once

#include <cstddef>
#include <cstdint>

#include "swim/mem/config/bits.hpp"
#include "swim/mem/config/macros.hpp"
#include "swim/mem/physical/result.hpp"

namespace swim::mem {

struct Layout;

/// Result of Layout::extend: the combined layout and the offset of the appended member.
struct Extended;
/// Result of Layout::repeat: the array layout and the stride between elements.
struct Repeated;

/// Size and alignment of a memory request. Invariant: align is a power of two,
/// align <= max_align, size <= SIZE_MAX - (align - 1) (so padding cannot overflow).
struct Layout {
  static constexpr std::size_t max_align = std::size_t(1) << 31;

  std::size_t size = 0;
  std::size_t align = 1;

  /// Checked construction.
  SWIM_MEM_API static constexpr Result<Layout> from_size_align(std::size_t size,
                                                               std::size_t align) {
    if (!detail::is_pow2(align) || align > max_align) return Error::misaligned;
    if (size > ~std::size_t(0) - (align - 1)) return Error::oversized;
    return Layout{size, align};
  }

  template <class T>
  SWIM_MEM_API static constexpr Layout of() {
    return Layout{sizeof(T), alignof(T)};
  }

  /// Layout of n consecutive T (stride = sizeof(T), which is a multiple of alignof(T)).
  template <class T>
  SWIM_MEM_API static constexpr Result<Layout> array(std::size_t n) {
    if (n != 0 && sizeof(T) > (~std::size_t(0) - (alignof(T) - 1)) / n) return Error::oversized;
    return Layout{sizeof(T) * n, alignof(T)};
  }

  SWIM_MEM_API static constexpr Layout empty() { return Layout{0, 1}; }

  /// Same size, alignment raised to at least `a`.
  SWIM_MEM_API constexpr Result<Layout> aligned_to(std::size_t a) const {
    return from_size_align(size, detail::max_of(align, a));
  }

  /// Size rounded up to a multiple of the alignment (the layout's stride).
  SWIM_MEM_API constexpr Result<Layout> padded() const {
    std::size_t s = 0;
    if (!detail::align_up(size, align, s)) return Error::oversized;
    return from_size_align(s, align);
  }

  /// The layout of a C struct whose first member is *this and second is `next`.
  SWIM_MEM_API constexpr Result<Extended> extend(Layout next) const;

  /// The layout of n copies, each padded to the alignment.
  SWIM_MEM_API constexpr Result<Repeated> repeat(std::size_t n) const;

  SWIM_MEM_API friend constexpr bool operator==(const Layout& a, const Layout& b) {
    return a.size == b.size && a.align == b.align;
  }
};

struct Extended {
  Layout layout;
  std::size_t offset = 0;
};

struct Repeated {
  Layout layout;
  std::size_t stride = 0;
};

SWIM_MEM_API constexpr Result<Extended> Layout::extend(Layout next) const {
  if (!detail::is_pow2(align) || !detail::is_pow2(next.align)) return Error::misaligned;
  std::size_t offset = 0;
  if (!detail::align_up(size, next.align, offset)) return Error::oversized;
  if (offset > ~std::size_t(0) - next.size) return Error::oversized;
  Result<Layout> l = from_size_align(offset + next.size, detail::max_of(align, next.align));
  if (!l) return l.error();
  return Extended{*l, offset};
}

SWIM_MEM_API constexpr Result<Repeated> Layout::repeat(std::size_t n) const {
  if (!detail::is_pow2(align)) return Error::misaligned;
  Result<Layout> p = padded();
  if (!p) return p.error();
  const std::size_t stride = p->size;
  if (n != 0 && stride > ~std::size_t(0) / n) return Error::oversized;
  Result<Layout> l = from_size_align(stride * n, align);
  if (!l) return l.error();
  return Repeated{*l, stride};
}

}  // namespace swim::mem
