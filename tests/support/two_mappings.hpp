// Test support: one memfd mapped twice, at two different addresses, as an MPI shared
// window is mapped by several ranks (tests/test_relative_slab.cpp,
// tests/test_relative_pack.cpp).
#pragma once

#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>

namespace swim::mem::testing {

/// One memfd of `Bytes`, mapped twice (`a` and `b`, never at the same address).
template <std::size_t Bytes>
struct BasicTwoMappings {
  static constexpr std::size_t bytes = Bytes;
  int fd = -1;
  std::byte* a = nullptr;
  std::byte* b = nullptr;

  BasicTwoMappings() {
    fd = static_cast<int>(memfd_create("swim-mem-test", 0));
    if (fd < 0 || ftruncate(fd, bytes) != 0) return;
    a = map();
    b = map();
  }
  /// One more mapping of the same file (a forked child's, say).
  std::byte* map() const {
    void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    return p == MAP_FAILED ? nullptr : static_cast<std::byte*>(p);
  }
  ~BasicTwoMappings() {
    if (a != nullptr) munmap(a, bytes);
    if (b != nullptr) munmap(b, bytes);
    if (fd >= 0) close(fd);
  }
  BasicTwoMappings(const BasicTwoMappings&) = delete;
  BasicTwoMappings& operator=(const BasicTwoMappings&) = delete;
  bool ok() const { return a != nullptr && b != nullptr && a != b; }
  /// The same byte of the file in the other mapping.
  void* in_b(const void* p) const { return b + (static_cast<const std::byte*>(p) - a); }
  void* in_a(const void* p) const { return a + (static_cast<const std::byte*>(p) - b); }
};
using TwoMappings = BasicTwoMappings<std::size_t(1) << 20>;

}  // namespace swim::mem::testing
