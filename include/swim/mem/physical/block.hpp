// Layer 2 (physical): Block, an address range.
#pragma once

#include <cstddef>
#include <cstdint>

#include "swim/mem/config/macros.hpp"

namespace swim::mem {

/// An address range [ptr, ptr + size). Trivially copyable, valid on host and device.
/// A Block says nothing about ownership; allocators document who owns what.
struct Block {
  void* ptr = nullptr;
  std::size_t size = 0;

  SWIM_MEM_API constexpr bool empty() const { return size == 0; }
  SWIM_MEM_API constexpr bool is_null() const { return ptr == nullptr; }
  SWIM_MEM_API std::uintptr_t address() const { return reinterpret_cast<std::uintptr_t>(ptr); }
  SWIM_MEM_API std::byte* begin() const { return static_cast<std::byte*>(ptr); }
  SWIM_MEM_API std::byte* end() const { return static_cast<std::byte*>(ptr) + size; }
  /// True when [p, p + n) lies inside this block.
  SWIM_MEM_API bool contains(const void* p, std::size_t n = 0) const {
    const auto a = reinterpret_cast<std::uintptr_t>(p);
    return a >= address() && a - address() <= size && size - (a - address()) >= n;
  }
  SWIM_MEM_API friend constexpr bool operator==(const Block& a, const Block& b) {
    return a.ptr == b.ptr && a.size == b.size;
  }
};

}  // namespace swim::mem
