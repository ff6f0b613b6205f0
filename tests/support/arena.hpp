// Test support: an aligned, zero-filled arena of host memory that frees itself.
#pragma once

#include <cstddef>
#include <new>

#include "swim/mem/physical.hpp"

namespace swim::mem::testing {

/// An aligned, zero-filled arena that frees itself.
struct Arena {
  explicit Arena(std::size_t bytes, std::size_t align = 4096)
      : ptr(static_cast<std::byte*>(::operator new(bytes, std::align_val_t{align}))),
        size(bytes),
        align_(align) {
    for (std::size_t i = 0; i < bytes; ++i) ptr[i] = std::byte{0};
  }
  ~Arena() { ::operator delete(ptr, std::align_val_t{align_}); }
  Arena(const Arena&) = delete;
  Arena& operator=(const Arena&) = delete;
  Block block() const { return Block{ptr, size}; }

  std::byte* ptr;
  std::size_t size;
  std::size_t align_;
};

}  // namespace swim::mem::testing
