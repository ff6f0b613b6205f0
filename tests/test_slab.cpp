// Slab-specific behaviour (the shared promises are in tests/conformance/).
#include <gtest/gtest.h>

#include <cstdint>
#include <set>
#include <vector>

#include "swim/mem.hpp"

namespace swim::mem {
namespace {

alignas(4096) std::byte g_arena[4096];

// 4096 bytes in 256-byte units: 16 units; two taken whole, then given back.
TEST(Slab, CrateScenarioCounts) {
  Slab<concurrent, false> slab(Block{g_arena, sizeof g_arena}, 256);
  EXPECT_EQ(slab.block_count(), 16u);
  EXPECT_EQ(slab.stats().bytes_free, 16u * 256);
  const Result<Block> a = slab.try_allocate(Layout{256, 8});
  const Result<Block> b = slab.try_allocate(Layout{256, 8});
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->size, 256u);  // the whole unit
  EXPECT_EQ(slab.stats().live, 2u);
  EXPECT_EQ(slab.stats().bytes_free, 14u * 256);
  EXPECT_EQ(slab.try_deallocate(*b), Error::none);
  EXPECT_EQ(slab.try_deallocate(*a), Error::none);
  EXPECT_EQ(slab.stats().live, 0u);
  EXPECT_EQ(slab.stats().bytes_free, 16u * 256);
}

TEST(Slab, HandsOutLowestAddressFirstAndEveryUnitOnce) {
  Slab<single_owner, false> slab(Block{g_arena, sizeof g_arena}, 256);
  std::set<std::uintptr_t> seen;
  for (std::size_t i = 0; i < slab.block_count(); ++i) {
    const Result<Block> r = slab.try_allocate(Layout{1, 1});
    ASSERT_TRUE(r.ok());
    if (i == 0) {
      EXPECT_EQ(r->ptr, g_arena);
    }
    EXPECT_TRUE(seen.insert(r->address()).second);
  }
  EXPECT_EQ(slab.try_allocate(Layout{1, 1}).error(), Error::out_of_memory);
  for (auto a : seen) EXPECT_EQ(slab.try_deallocate(Block{reinterpret_cast<void*>(a), 256}), Error::none);
}

TEST(Slab, FreedUnitIsReusedFirst) {
  Slab<concurrent, true> slab(Block{g_arena, sizeof g_arena}, 128);
  const Result<Block> a = slab.try_allocate(Layout{8, 8});
  const Result<Block> b = slab.try_allocate(Layout{8, 8});
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_EQ(slab.try_deallocate(*a), Error::none);
  const Result<Block> c = slab.try_allocate(Layout{8, 8});
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->ptr, a->ptr);
  EXPECT_EQ(slab.try_deallocate(*b), Error::none);
  EXPECT_EQ(slab.try_deallocate(*c), Error::none);
}

TEST(Slab, AlignmentGuaranteeFollowsUnitAndBase) {
  Slab<concurrent, false> s96(Block{g_arena, sizeof g_arena}, 96);
  EXPECT_EQ(s96.alignment(), 32u);  // 96 = 3 * 32
  EXPECT_EQ(s96.try_allocate(Layout{8, 64}).error(), Error::misaligned);
  const Result<Block> r = s96.try_allocate(Layout{8, 32});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->address() % 32, 0u);
  EXPECT_EQ(s96.try_deallocate(*r), Error::none);
  // An unaligned hunk is trimmed so that units are still aligned.
  Slab<concurrent, false> off(Block{g_arena + 8, sizeof g_arena - 8}, 256);
  const Result<Block> q = off.try_allocate(Layout{8, 256});
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(q->address() % 256, 0u);
  EXPECT_EQ(off.try_deallocate(*q), Error::none);
}

TEST(Slab, UnusableArgumentsGiveAnEmptySlab) {
  Slab<concurrent, false> tiny_unit(Block{g_arena, sizeof g_arena}, 2);
  EXPECT_EQ(tiny_unit.init_error(), Error::invalid_argument);
  EXPECT_EQ(tiny_unit.try_allocate(Layout{1, 1}).error(), Error::out_of_memory);
  Slab<concurrent, false> null_hunk(Block{nullptr, 4096}, 64);
  EXPECT_EQ(null_hunk.init_error(), Error::invalid_argument);
  Slab<concurrent, false> too_small(Block{g_arena, 100}, 128);
  EXPECT_EQ(too_small.init_error(), Error::invalid_argument);
  EXPECT_EQ(too_small.stats().bytes_free, 0u);
}

TEST(Slab, CheckedSlabDetectsDoubleFreeAfterReuseOfOthers) {
  Slab<single_owner, true> slab(Block{g_arena, sizeof g_arena}, 64);
  std::vector<Block> blocks;
  for (int i = 0; i < 10; ++i) blocks.push_back(*slab.try_allocate(Layout{64, 8}));
  EXPECT_EQ(slab.try_deallocate(blocks[3]), Error::none);
  EXPECT_EQ(slab.try_deallocate(blocks[5]), Error::none);
  EXPECT_EQ(slab.try_deallocate(blocks[3]), Error::double_free);
  EXPECT_EQ(slab.stats().live, 8u);
  // A misaligned pointer inside the slab is foreign.
  EXPECT_EQ(slab.try_deallocate(Block{blocks[0].begin() + 4, 4}), Error::foreign_pointer);
  for (int i : {0, 1, 2, 4, 6, 7, 8, 9}) EXPECT_EQ(slab.try_deallocate(blocks[i]), Error::none);
  EXPECT_EQ(slab.stats().live, 0u);
}

struct LeakLog {
  static inline int calls = 0;
  static inline std::size_t live = 0;
  static void handler(const LeakReport& r) {
    ++calls;
    live = r.stats.live;
  }
};

TEST(Slab, DestructionWithLiveUnitsReportsALeak) {
  LeakLog::calls = 0;
  const leak_handler previous = set_leak_handler(&LeakLog::handler);
  {
    Slab<concurrent, false> slab(Block{g_arena, sizeof g_arena}, 256);
    ASSERT_TRUE(slab.try_allocate(Layout{8, 8}).ok());
    ASSERT_TRUE(slab.try_allocate(Layout{8, 8}).ok());
  }
  set_leak_handler(previous);
  EXPECT_EQ(LeakLog::calls, 1);
  EXPECT_EQ(LeakLog::live, 2u);
}

}  // namespace
}  // namespace swim::mem

namespace swim::mem {
namespace {

// hunk_size_for(unit, count) bytes give at least `count` units wherever the hunk
// starts (8-aligned), its checked bitmap and the first unit's padding included
// (a NodeSlab sizes its window with it: integrations/mpi/node_slab.hpp).
template <bool Checked>
void hunk_size_for_gives_count() {
  using S = Slab<single_owner, Checked>;
  for (std::size_t unit : {4u, 8u, 12u, 64u, 100u, 4096u, 8192u}) {
    for (std::size_t count : {1u, 63u, 64u, 65u, 1000u, 300000u, 2000000u}) {
      if (unit * count > (std::size_t(64) << 20)) continue;
      if (count > 300000 && unit != 4) continue;  // (kept short under valgrind)
      const std::size_t size = S::hunk_size_for(unit, count);
      ASSERT_GT(size, 0u);
      EXPECT_LE(size, unit * count + 4096 + (count + 63) / 64 * 8 * 2 + 64) << unit << " x " << count;
      std::vector<std::uint64_t> memory(size / 8 + 4096 / 8 + 1);
      for (std::size_t shift : {0u, 8u, 24u, 4088u}) {
        auto* at = reinterpret_cast<std::byte*>(memory.data()) + shift;
        S slab(Block{at, size}, unit);
        ASSERT_EQ(slab.init_error(), Error::none);
        EXPECT_GE(slab.block_count(), count) << unit << " x " << count << " at +" << shift;
      }
    }
  }
  EXPECT_EQ(S::hunk_size_for(6, 10), 0u);
  EXPECT_EQ(S::hunk_size_for(0, 10), 0u);
  EXPECT_EQ(S::hunk_size_for(64, 0), 0u);
  EXPECT_EQ(S::hunk_size_for(64, S::max_units + 1), 0u);
  EXPECT_EQ(S::hunk_size_for(std::size_t(1) << 62, 4), 0u) << "overflow";
}

TEST(Slab, HunkSizeForGivesTheCountChecked) { hunk_size_for_gives_count<true>(); }
TEST(Slab, HunkSizeForGivesTheCountUnchecked) { hunk_size_for_gives_count<false>(); }

}  // namespace
}  // namespace swim::mem
