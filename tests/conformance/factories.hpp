// Factories for the conformance suite: one per allocator and mode.
//
// Each factory owns its memory (an aligned arena) and one allocator, and tells
// the suite what the allocator promises: the largest object it can serve, the
// largest alignment it guarantees, and whether its objects are tagged (then they
// can also be freed through hold_deallocate).
#pragma once

#include <cstddef>
#include <cstdlib>
#include <memory>
#include <new>

#include "swim/mem.hpp"

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

template <class Mode>
struct SlabFactory {
  using Alloc = Slab<Mode, true>;
  static constexpr const char* name = Mode::is_concurrent ? "Slab" : "SlabSingleOwner";
  static constexpr bool tagged = false;
  static constexpr bool zero_counts = false;  // heaps do not count zero-size blocks
  static constexpr std::size_t unit = 512;

  Arena arena{256 * 1024};
  Arena other_arena{64 * 1024};
  Alloc alloc{arena.block(), unit};
  Alloc other{other_arena.block(), unit};

  std::size_t max_size() const { return unit; }
  std::size_t max_align() const { return alloc.alignment(); }
};

/// A per-thread SlabCache over a lock-free Slab (the fast front of issue 4).
/// Its peak is the Slab's, which counts the units the cache holds.
struct SlabCacheFactory {
  using Upstream = Slab<concurrent, true>;
  using Alloc = SlabCache<Upstream, 16>;
  static constexpr const char* name = "SlabCache";
  static constexpr bool tagged = false;
  static constexpr bool zero_counts = false;
  static constexpr bool exact_peak = false;
  static constexpr std::size_t unit = 512;

  Arena arena{256 * 1024};
  Arena other_arena{64 * 1024};
  Upstream upstream{arena.block(), unit};
  Upstream other_upstream{other_arena.block(), unit};
  Alloc alloc{upstream};
  Alloc other{other_upstream};

  std::size_t max_size() const { return unit; }
  std::size_t max_align() const { return upstream.alignment(); }
};

template <class Mode>
struct PackFactory {
  using Alloc = Pack<Mode>;
  static constexpr const char* name = Mode::is_concurrent ? "Pack" : "PackSingleOwner";
  static constexpr bool tagged = true;
  static constexpr bool zero_counts = true;

  Arena arena{256 * 1024};
  Arena other_arena{64 * 1024};
  Alloc alloc{arena.block()};
  Alloc other{other_arena.block()};

  std::size_t max_size() const { return 64 * 1024; }
  std::size_t max_align() const { return 4096; }
};

/// Pool over a Slab of 16 KiB hunks.
template <class Mode>
struct PoolSlabFactory {
  using Upstream = Slab<Mode, true>;
  using Alloc = Pool<Upstream, Mode>;
  static constexpr const char* name = Mode::is_concurrent ? "PoolOverSlab" : "PoolOverSlabSingleOwner";
  static constexpr bool tagged = true;
  static constexpr bool zero_counts = true;
  static constexpr std::size_t hunk = 16 * 1024;

  Arena arena{1024 * 1024};
  Arena other_arena{64 * 1024};
  Upstream upstream{arena.block(), hunk};
  Upstream other_upstream{other_arena.block(), hunk};
  Alloc alloc{upstream, hunk};
  Alloc other{other_upstream, hunk};

  // A 4096-aligned object needs its alignment in padding inside a hunk.
  std::size_t max_size() const { return hunk - 2 * 4096; }
  std::size_t max_align() const { return 4096; }
};

template <class Mode>
struct AddrSpaceFactory {
  using Alloc = AddrSpace<Mode, true>;
  static constexpr const char* name = Mode::is_concurrent ? "AddrSpace" : "AddrSpaceSingleOwner";
  static constexpr bool tagged = false;
  static constexpr bool zero_counts = false;

  Arena arena{4 * 1024 * 1024};
  Arena other_arena{256 * 1024};
  Alloc alloc{arena.block(), 4096};
  Alloc other{other_arena.block(), 4096};

  std::size_t max_size() const { return 64 * 1024; }
  std::size_t max_align() const { return alloc.max_align(); }
};

/// Pool over an AddrSpace of 64 KiB hunks (objects larger than a hunk get their own).
template <class Mode>
struct PoolAddrSpaceFactory {
  using Upstream = AddrSpace<Mode, true>;
  using Alloc = Pool<Upstream, Mode>;
  static constexpr const char* name =
      Mode::is_concurrent ? "PoolOverAddrSpace" : "PoolOverAddrSpaceSingleOwner";
  static constexpr bool tagged = true;
  static constexpr bool zero_counts = true;

  Arena arena{4 * 1024 * 1024};
  Arena other_arena{256 * 1024};
  Upstream upstream{arena.block(), 4096};
  Upstream other_upstream{other_arena.block(), 4096};
  Alloc alloc{upstream, 64 * 1024};
  Alloc other{other_upstream, 64 * 1024};

  std::size_t max_size() const { return 256 * 1024; }
  std::size_t max_align() const { return 4096; }
};

}  // namespace swim::mem::testing
