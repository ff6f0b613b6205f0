// ExtentArena (include/swim/mem/heaps/extent_arena.hpp): exact extents of a
// source's memory managed from the host with the metadata apart, growth by ranges,
// limits, validation, trim, and many threads.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <numeric>
#include <random>
#include <thread>
#include <vector>

#include "support/guarded_pages.hpp"
#include "swim/mem.hpp"

namespace swim::mem::testing {
namespace {

constexpr std::size_t kMiB = std::size_t(1) << 20;

ArenaOptions small_ranges(std::size_t granule = 256) {
  ArenaOptions o;
  o.granule = granule;
  o.initial_bytes = kMiB;
  o.growth_bytes = kMiB;
  return o;
}

TEST(ExtentArena, ServesExactExtentsFromMemoryItNeverTouches) {
  std::atomic<int> outstanding{0};
  {
    GuardedPages src;
    src.outstanding = &outstanding;
    ExtentArena<GuardedPages> arena(src, small_ranges());
    ASSERT_EQ(arena.init_error(), Error::none);
    EXPECT_EQ(arena.range_count(), 1u);
    EXPECT_EQ(arena.reserved_bytes(), kMiB);
    // 65 granules take 65 granules (a buddy would take 128).
    const Block a = *arena.try_allocate(Layout{65 * 256, 8});
    EXPECT_EQ(a.size, 65u * 256);
    EXPECT_EQ(a.address() % 256, 0u);
    const Block b = *arena.try_allocate(Layout{1, 1});
    EXPECT_EQ(b.size, 256u);
    EXPECT_TRUE(arena.owns(a.ptr));
    EXPECT_EQ(arena.stats().live, 2u);
    EXPECT_EQ(arena.stats().bytes_in_use, 66u * 256);
    EXPECT_EQ(arena.stats().bytes_free, kMiB - 66 * 256);
    // Data round-trips through the copy engine (the arena itself never looks).
    std::vector<std::uint32_t> in(65 * 64), out(65 * 64);
    std::iota(in.begin(), in.end(), 7u);
    GuardedPages::upload(a.ptr, in.data(), a.size);
    GuardedPages::download(out.data(), a.ptr, a.size);
    EXPECT_EQ(in, out);
    EXPECT_EQ(arena.try_deallocate(a), Error::none);
    EXPECT_EQ(arena.try_deallocate(a), Error::double_free);
    EXPECT_EQ(arena.try_deallocate(b), Error::none);
    EXPECT_EQ(*arena.largest_free_extent(), kMiB) << "the two frees coalesced";
    EXPECT_EQ(outstanding.load(), 1);
  }
  EXPECT_EQ(outstanding.load(), 0) << "every range went back to the source";
}

TEST(ExtentArena, GrowsByAddingRangesUpToItsLimit) {
  std::atomic<int> outstanding{0};
  GuardedPages src;
  src.outstanding = &outstanding;
  ArenaOptions o = small_ranges();
  o.max_bytes = 4 * kMiB;
  ExtentArena<GuardedPages> arena(src, o);
  std::vector<Block> blocks;
  for (int i = 0; i < 3; ++i) blocks.push_back(*arena.try_allocate(Layout{kMiB, 256}));
  EXPECT_EQ(arena.range_count(), 3u);
  // A request larger than growth_bytes gets a range of its own size.
  Result<Block> big = arena.try_allocate(Layout{kMiB + 1, 256});
  EXPECT_EQ(big.error(), Error::out_of_memory) << "4 MiB + a granule is over max_bytes";
  const Stats before = arena.stats();
  EXPECT_EQ(arena.range_count(), 3u) << "a refused growth adds nothing";
  blocks.push_back(*arena.try_allocate(Layout{kMiB, 256}));
  EXPECT_EQ(arena.try_allocate(Layout{256, 256}).error(), Error::out_of_memory);
  EXPECT_EQ(arena.stats().live, before.live + 1);
  EXPECT_EQ(outstanding.load(), 4);
  for (const Block& b : blocks) EXPECT_EQ(arena.try_deallocate(b), Error::none);
  EXPECT_EQ(arena.trim(), 4 * kMiB);
  EXPECT_EQ(arena.range_count(), 0u);
  EXPECT_EQ(outstanding.load(), 0);
  // And it grows again after a trim.
  const Block c = *arena.try_allocate(Layout{3 * kMiB, 256});
  EXPECT_EQ(arena.range_count(), 1u);
  EXPECT_EQ(arena.try_deallocate(c), Error::none);
}

TEST(ExtentArena, ASourceFailureIsTheAnswerAndChangesNothing) {
  GuardedPages src;
  src.acquires_left = 1;
  ExtentArena<GuardedPages> arena(src, small_ranges());
  const Block a = *arena.try_allocate(Layout{kMiB, 256});
  const Stats s = arena.stats();
  EXPECT_EQ(arena.try_allocate(Layout{256, 256}).error(), Error::out_of_memory);
  EXPECT_EQ(arena.stats().live, s.live);
  EXPECT_EQ(arena.range_count(), 1u);
  EXPECT_EQ(arena.try_deallocate(a), Error::none);
}

TEST(ExtentArena, LazyFirstRangeAndBadOptions) {
  ArenaOptions o = small_ranges();
  o.initial_bytes = 0;
  ExtentArena<OsPages> lazy(OsPages{}, o);
  EXPECT_EQ(lazy.range_count(), 0u);
  EXPECT_EQ(lazy.stats().live, 0u);
  const Block a = *lazy.try_allocate(Layout{1000, 64});
  EXPECT_EQ(lazy.range_count(), 1u);
  EXPECT_EQ(lazy.try_deallocate(a), Error::none);

  for (std::size_t g : {std::size_t(0), std::size_t(8), std::size_t(300)}) {
    ArenaOptions bad = small_ranges();
    bad.granule = g;
    ExtentArena<OsPages> arena(OsPages{}, bad);
    EXPECT_EQ(arena.init_error(), Error::invalid_argument) << g;
    EXPECT_FALSE(arena.usable());
    EXPECT_EQ(arena.try_allocate(Layout{64, 8}).error(), Error::invalid_argument);
  }
}

TEST(ExtentArena, RejectsBadInputWithoutChange) {
  ExtentArena<OsPages> arena(OsPages{}, small_ranges());
  const Block a = *arena.try_allocate(Layout{4096, 256});
  const Stats s = arena.stats();
  EXPECT_EQ(arena.try_allocate(Layout{64, 3}).error(), Error::misaligned);
  EXPECT_EQ(arena.try_allocate(Layout{~std::size_t(0) - 4096, 256}).error(), Error::oversized);
  int local = 0;
  EXPECT_EQ(arena.try_deallocate(Block{&local, 4}), Error::foreign_pointer);
  EXPECT_EQ(arena.try_deallocate(Block{static_cast<char*>(a.ptr) + 256, 256}),
            Error::foreign_pointer);
  EXPECT_EQ(arena.try_deallocate(Block{a.ptr, 8192}), Error::foreign_pointer) << "wrong size";
  EXPECT_EQ(arena.stats().live, s.live);
  EXPECT_EQ(arena.stats().bytes_in_use, s.bytes_in_use);
  // Zero bytes: a non-null block that counts nowhere.
  const Block z = *arena.try_allocate(Layout{0, 64});
  EXPECT_EQ(z.size, 0u);
  EXPECT_EQ(arena.try_deallocate(z), Error::none);
  EXPECT_EQ(arena.try_deallocate(a), Error::none);
}

TEST(ExtentArena, ReportsExtentsAliveAtDestruction) {
  static int reports = 0;
  reports = 0;
  const leak_handler previous = set_leak_handler([](const LeakReport&) { ++reports; });
  {
    ExtentArena<OsPages> arena(OsPages{}, small_ranges());
    (void)*arena.try_allocate(Layout{512, 256});
  }
  set_leak_handler(previous);
  EXPECT_EQ(reports, 1);
}

TEST(ExtentArena, ManyThreadsAllocateAndFreeWhileItGrows) {
  ArenaOptions o = small_ranges(4096);
  o.initial_bytes = 0;
  o.growth_bytes = 4 * kMiB;
  ExtentArena<OsPages> arena(OsPages{}, o);
  constexpr int kThreads = 4;
  std::atomic<int> failures{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < kThreads; ++t) {
    ts.emplace_back([&, t] {
      std::mt19937 rng(static_cast<unsigned>(t));
      std::vector<Block> mine;
      for (int i = 0; i < 3000; ++i) {
        if (mine.size() < 40 && (rng() % 3 != 0 || mine.empty())) {
          Result<Block> r = arena.try_allocate(Layout{1 + rng() % 65536, 4096});
          if (r) {
            // Host memory here: the owner writes its block; a shared block would race.
            static_cast<unsigned char*>(r->ptr)[0] = static_cast<unsigned char>(t);
            mine.push_back(*r);
          } else if (r.error() != Error::contended) {
            ++failures;
          }
        } else {
          const std::size_t k = rng() % mine.size();
          if (static_cast<unsigned char*>(mine[k].ptr)[0] != static_cast<unsigned char>(t)) ++failures;
          Error e = arena.try_deallocate(mine[k]);
          while (e == Error::contended) e = arena.try_deallocate(mine[k]);
          if (e != Error::none) ++failures;
          mine[k] = mine.back();
          mine.pop_back();
        }
      }
      for (const Block& b : mine) {
        Error e = arena.try_deallocate(b);
        while (e == Error::contended) e = arena.try_deallocate(b);
        if (e != Error::none) ++failures;
      }
    });
  }
  for (auto& t : ts) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(arena.stats().live, 0u);
  EXPECT_GE(arena.range_count(), 1u);
  EXPECT_LE(arena.reserved_bytes(), 8 * 4 * kMiB) << "growth is serialised, not one range per thread per miss";
}

// ---- Found by an adversarial review -----------------------------------------------------

// A source that aligns to exactly what it is asked for (as the CUDA runtime may).
struct ExactPages {
  static constexpr bool host_accessible = true;
  static constexpr bool device_accessible = false;
  static constexpr std::size_t guaranteed_align = 256;
  int* acquired = nullptr;
  Result<Block> try_acquire(std::size_t bytes, std::size_t align) {
    Result<Block> r = OsPages{}.try_acquire(bytes + 4096, 4096);
    if (!r) return r;
    if (acquired) ++*acquired;
    // 256-aligned, never 512-aligned: an alignment above 256 costs slack.
    return Block{static_cast<char*>(r->ptr) + (align == 256 ? 256 : 0), bytes};
  }
  Error release(Block b) {
    const auto a = reinterpret_cast<std::uintptr_t>(b.ptr) & ~std::uintptr_t(4095);
    return OsPages{}.release(Block{reinterpret_cast<void*>(a), b.size + 4096});
  }
};

TEST(ExtentArenaRegressions, LargeAlignmentsAreServedWithoutARangeEachTime) {
  int acquired = 0;
  ExactPages src;
  src.acquired = &acquired;
  ExtentArena<ExactPages> arena(src, small_ranges());
  ASSERT_EQ(acquired, 1);
  std::vector<Block> got;
  for (int i = 0; i < 8; ++i) {
    Result<Block> r = arena.try_allocate(Layout{256, 65536});
    ASSERT_TRUE(r.ok()) << i;
    EXPECT_EQ(r->address() % 65536, 0u);
    got.push_back(*r);
  }
  EXPECT_EQ(acquired, 1) << "the first range holds them all";
  for (const Block& b : got) EXPECT_EQ(arena.try_deallocate(b), Error::none);
}

TEST(ExtentArenaRegressions, AGranuleAboveTheSourceAlignmentStillServesWholeRanges) {
  ArenaOptions o = small_ranges(8192);  // OsPages aligns to 4096
  o.max_bytes = 4 * kMiB;
  ExtentArena<OsPages> arena(OsPages{}, o);
  const Block a = *arena.try_allocate(Layout{kMiB, 8});
  EXPECT_LE(arena.range_count(), 2u);
  EXPECT_EQ(arena.try_deallocate(a), Error::none);
}

TEST(ExtentArenaRegressions, MaxBytesCapsTheRangesInsteadOfRefusingEverything) {
  ArenaOptions o;
  o.max_bytes = 2 * kMiB;  // initial and growth keep their 64 MiB defaults
  ExtentArena<OsPages> arena(OsPages{}, o);
  EXPECT_EQ(arena.init_error(), Error::none);
  EXPECT_EQ(arena.reserved_bytes(), 2 * kMiB);
  const Block a = *arena.try_allocate(Layout{100, 8});
  EXPECT_EQ(arena.try_allocate(Layout{4 * kMiB, 8}).error(), Error::oversized);
  EXPECT_EQ(arena.try_allocate(Layout{2 * kMiB, 8}).error(), Error::out_of_memory);
  EXPECT_EQ(arena.try_deallocate(a), Error::none);

  // The last of the allowance is used: 1 MiB held, growth 2 MiB, max 2 MiB.
  ArenaOptions p = small_ranges();
  p.growth_bytes = 2 * kMiB;
  p.max_bytes = 2 * kMiB;
  ExtentArena<OsPages> tight(OsPages{}, p);
  const Block b = *tight.try_allocate(Layout{kMiB, 8});
  const Result<Block> c = tight.try_allocate(Layout{256, 8});
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(tight.reserved_bytes(), 2 * kMiB);
  EXPECT_EQ(tight.try_deallocate(*c), Error::none);
  EXPECT_EQ(tight.try_deallocate(b), Error::none);
}

}  // namespace
}  // namespace swim::mem::testing
