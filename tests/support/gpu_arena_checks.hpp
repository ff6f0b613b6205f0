// ExtentArena and DeviceBuf over a GPU runtime's memory (CUDA or HIP), written
// once: tests/test_sources.cpp instantiates them for CUDA, tests/hip_sources.cpp
// for HIP (the two runtimes' headers cannot share a translation unit). Include
// after the runtime's source header. Without a device, the first check says the
// arena answers unsupported; the second is then skipped by its caller.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <vector>

#include "swim/mem/heaps/extent_arena.hpp"
#include "swim/mem/residents/device_buf.hpp"

namespace swim::mem::testing {

inline ArenaOptions gpu_arena_options() {
  ArenaOptions o;
  o.granule = 256;
  o.initial_bytes = std::size_t(8) << 20;
  o.growth_bytes = std::size_t(8) << 20;
  o.max_bytes = std::size_t(8) << 20;
  return o;
}

/// No device: nothing to be had, nothing changed, no crash.
template <class Source>
void check_arena_without_device() {
  ExtentArena<Source> arena(Source{}, gpu_arena_options());
  EXPECT_EQ(arena.init_error(), Error::unsupported);
  EXPECT_EQ(arena.range_count(), 0u);
  EXPECT_EQ(arena.try_allocate(Layout{1024, 256}).error(), Error::unsupported);
  EXPECT_EQ((DeviceBuf<float, ExtentArena<Source>>::try_make(arena, 100).error()),
            Error::unsupported);
  EXPECT_EQ(arena.stats().live, 0u);
  EXPECT_EQ(arena.range_count(), 0u);
}

/// On a device: buffers filled from the host through the source's copy, half of
/// them freed, a compaction with the runtime's copies, contents read back.
template <class Source>
void check_arena_on_device() {
  using Arena = ExtentArena<Source>;
  using Buf = DeviceBuf<std::uint32_t, Arena>;
  Arena arena(Source{}, gpu_arena_options());
  ASSERT_EQ(arena.init_error(), Error::none);
  std::vector<Buf> all;
  for (int i = 0; i < 40; ++i) all.push_back(Buf::try_make(arena, 1 + (i * 7919) % 9000).take());
  std::vector<Buf> kept;
  std::vector<std::vector<std::uint32_t>> want;
  for (std::size_t i = 0; i < all.size(); i += 2) {
    std::vector<std::uint32_t> v(all[i].size());
    for (std::size_t k = 0; k < v.size(); ++k) v[k] = static_cast<std::uint32_t>(i * 100000 + k);
    auto m = all[i].try_borrow_mut();
    ASSERT_TRUE(m.ok());
    ASSERT_EQ(arena.source_copy(m->data(), v.data(), v.size() * 4), Error::none);
    want.push_back(std::move(v));
  }
  for (std::size_t i = 0; i < all.size(); i += 2) kept.push_back(std::move(all[i]));
  all.clear();
  const Result<ArenaCompaction> c = arena.try_compact();
  ASSERT_TRUE(c.ok());
  EXPECT_GT(c->buffers_moved, 0u);
  EXPECT_EQ(*arena.largest_free_extent(), arena.stats().bytes_free);
  for (std::size_t i = 0; i < kept.size(); ++i) {
    std::vector<std::uint32_t> got(kept[i].size());
    auto r = kept[i].try_borrow();
    ASSERT_TRUE(r.ok());
    ASSERT_EQ(arena.source_copy(got.data(), r->data(), got.size() * 4), Error::none);
    EXPECT_EQ(got, want[i]) << "buffer " << i;
  }
}

}  // namespace swim::mem::testing
