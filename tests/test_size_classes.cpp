// SizeClasses (include/swim/mem/holds/size_classes.hpp): the class table, lazy
// hunks, large objects, validation, trim, leases and residents over it, and many
// threads freeing each other's objects.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include "support/arena.hpp"
#include "support/last_hunk_race.hpp"
#include "swim/mem.hpp"

namespace swim::mem::testing {
namespace {

using Table = detail::SizeClassTable;

TEST(SizeClassTable, EveryStrideHasTheSmallestClassThatHoldsIt) {
  EXPECT_EQ(Table::stride(0), 16u);
  EXPECT_EQ(Table::stride(Table::count - 1), Table::max_stride);
  for (unsigned c = 1; c < Table::count; ++c) {
    EXPECT_GT(Table::stride(c), Table::stride(c - 1)) << c;
    EXPECT_EQ(Table::stride(c) % 16, 0u) << c;
    EXPECT_EQ(Table::of(Table::stride(c)), c) << c;
  }
  for (std::size_t s = 16; s <= Table::max_stride; ++s) {
    const unsigned c = Table::of(s);
    ASSERT_LT(c, Table::count) << s;
    ASSERT_GE(Table::stride(c), s) << s;
    if (c != 0) {
      ASSERT_LT(Table::stride(c - 1), s) << s;
    }
    // Waste: at most a quarter above 128 bytes, at most 15 bytes below (16-byte steps).
    if (s > 128) {
      ASSERT_LE(Table::stride(c) * 4, s * 5) << s;
    } else {
      ASSERT_LT(Table::stride(c) - s, 16u) << s;
    }
  }
}

// A heap over a region filled with a pattern: what the hold never wrote keeps it.
struct Poisoned {
  static constexpr unsigned char poison = 0xA5;
  Arena arena{8 << 20};
  ExtentHeap<> heap;
  Poisoned() : heap((std::memset(arena.ptr, poison, arena.size), arena.block()), 4096) {}
  // Reads bytes no object owns: poisoned under ASan (config/poison.hpp), read anyway.
  // (memcheck, with SWIM_MEM_VALGRIND, has its reports switched off for the read.)
  SWIM_MEM_NO_SANITIZE_ADDRESS std::size_t untouched(const void* from, std::size_t n) const {
    const auto* p = static_cast<const unsigned char*>(from);
    std::size_t k = 0;
#if defined(SWIM_MEM_DETAIL_POISON_VALGRIND)
    VALGRIND_DISABLE_ERROR_REPORTING;
#endif
    while (k < n && p[k] == poison) ++k;
#if defined(SWIM_MEM_DETAIL_POISON_VALGRIND)
    VALGRIND_ENABLE_ERROR_REPORTING;
    (void)VALGRIND_MAKE_MEM_DEFINED(&k, sizeof k);  // (computed from bytes it calls undefined)
#endif
    return k;
  }
};

TEST(SizeClasses, HunksAreWrittenOnlyWhereUnitsWereHandedOut) {
  Poisoned p;
  SizeClasses<ExtentHeap<>> hold(p.heap);
  const Block a = *hold.try_allocate(40, 16);  // stride 48
  const Block b = *hold.try_allocate(40, 16);
  EXPECT_EQ(a.size, 40u);
  EXPECT_EQ(static_cast<char*>(b.ptr) - static_cast<char*>(a.ptr), 48);
  EXPECT_EQ(hold.hunk_count(), 1u);
  // Past b's unit, the rest of the 64 KiB hunk was never written.
  const auto* end_of_b = static_cast<const char*>(b.ptr) + b.size;
  const std::size_t rest = 64 * 1024 - (end_of_b - static_cast<const char*>(a.ptr)) - 80;
  EXPECT_EQ(p.untouched(end_of_b, rest), rest);
  EXPECT_EQ(hold.try_deallocate(a), Error::none);
  EXPECT_EQ(hold.try_deallocate(b), Error::none);
}

TEST(SizeClasses, ObjectsAreAlignedTaggedAndSizedByClass) {
  Arena arena{8 << 20};
  ExtentHeap<> heap(arena.block(), 4096);
  SizeClasses<ExtentHeap<>> hold(heap);
  std::vector<Block> got;
  for (std::size_t n : {1, 8, 9, 24, 100, 129, 1000, 4096, 30000, 32760}) {
    const Block b = *hold.try_allocate(n, 16);
    EXPECT_EQ(b.address() % 16, 0u) << n;
    EXPECT_GE(b.size, n);
    EXPECT_EQ(b.size + 8, Table::stride(Table::of(std::max<std::size_t>(n + 8, 16)))) << n;
    EXPECT_EQ(HoldRef::owner_of(b.ptr), HoldRef::of(hold));
    std::memset(b.ptr, 0x5A, b.size);
    got.push_back(b);
  }
  EXPECT_EQ(hold.stats().live, got.size());
  for (const Block& b : got) EXPECT_EQ(hold_deallocate(b), Error::none);
  EXPECT_EQ(hold.stats().live, 0u);
  EXPECT_EQ(hold.stats().bytes_in_use, 0u);
}

TEST(SizeClasses, CacheLineAlignedRequestsAreClassObjects) {
  Arena arena{8 << 20};
  ExtentHeap<> heap(arena.block(), 4096);
  SizeClasses<ExtentHeap<>> hold(heap);
  std::vector<Block> got;
  for (std::size_t align : {32, 64}) {
    for (std::size_t n : {1, 8, 40, 100, 150, 200, 1000, 4000, 30000, 32760}) {
      const Block b = *hold.try_allocate(n, align);
      EXPECT_EQ(b.address() % align, 0u) << n << " aligned to " << align;
      EXPECT_GE(b.size, n);
      EXPECT_EQ((b.size + 8) % align, 0u) << "a class whose stride is a multiple of " << align;
      EXPECT_LE(b.size + 8, 2 * Table::stride(Table::of_object(n)) + align);
      std::memset(b.ptr, 0x5A, b.size);
      got.push_back(b);
    }
  }
  const std::size_t heap_live = heap.stats().live;
  EXPECT_EQ(heap_live, hold.hunk_count()) << "no heap block of their own: every one is in a hunk";
  for (const Block& b : got) EXPECT_EQ(hold_deallocate(b), Error::none);
  EXPECT_EQ(hold.stats().live, 0u);
  const Block wide = *hold.try_allocate(Layout{64, 128});
  EXPECT_EQ(wide.address() % 128, 0u);
  EXPECT_EQ(heap.stats().live, heap_live + 1) << "above 64: a heap block of its own";
  EXPECT_EQ(hold_deallocate(wide), Error::none);
}

TEST(SizeClasses, AlignedClassesAreTheSmallestFittingMultiple) {
  for (std::size_t align : {32, 64}) {
    for (std::size_t n = 1; n <= Table::max_object; n += 7) {
      const unsigned c = Table::of_object_aligned(n, align);
      ASSERT_EQ(Table::stride(c) % align, 0u);
      ASSERT_GE(Table::stride(c), n + 8);
      for (unsigned d = Table::of_object(n); d < c; ++d) ASSERT_NE(Table::stride(d) % align, 0u);
    }
  }
}

TEST(SizeClasses, LargeObjectsAreHeapBlocksOfTheirOwn) {
  Arena arena{8 << 20};
  ExtentHeap<> heap(arena.block(), 4096);
  SizeClasses<ExtentHeap<>> hold(heap);
  hold.set_large_cache(0, 0);  // none kept: a freed block goes straight back
  const Stats before = heap.stats();
  const Block big = *hold.try_allocate(Layout{100000, 8});
  EXPECT_GE(big.size, 100000u);
  const Block wide = *hold.try_allocate(Layout{64, 4096});
  EXPECT_EQ(wide.address() % 4096, 0u);
  EXPECT_EQ(heap.stats().live, before.live + 2);
  EXPECT_EQ(hold.try_deallocate(big), Error::none);
  EXPECT_EQ(hold.try_deallocate(big), Error::double_free);
  EXPECT_EQ(hold_deallocate(wide), Error::none);
  EXPECT_EQ(heap.stats().live, before.live) << "large blocks went straight back";
  EXPECT_EQ(hold.stats().live, 0u);
}

TEST(SizeClasses, FreedLargeBlocksAreKeptForTheirBinUpToABound) {
  Arena arena{64 << 20};
  ExtentHeap<> heap(arena.block(), 4096);
  SizeClasses<ExtentHeap<>> hold(heap);
  const std::size_t heap_before = heap.stats().live;
  const Block a = *hold.try_allocate(100000, 64);
  EXPECT_EQ(a.address() % 64, 0u);
  EXPECT_GE(a.size, 100000u);
  EXPECT_LE(a.size, 100000u * 5 / 4 + 64) << "a bin is at most a quarter above the request";
  ASSERT_EQ(hold.try_deallocate(a), Error::none);
  EXPECT_EQ(hold.try_deallocate(a), Error::double_free) << "a kept block reads as freed";
  EXPECT_EQ(hold.stats().live, 0u);
  EXPECT_EQ(hold.kept_large_bytes(), heap.stats().bytes_in_use);
  const Block b = *hold.try_allocate(110000, 16);  // the same bin (112 KiB), another alignment
  EXPECT_EQ(b.ptr, a.ptr) << "the kept block served the next request of its bin";
  EXPECT_EQ(hold.kept_large_bytes(), 0u);
  EXPECT_EQ(heap.stats().live, heap_before + 1);
  const Block c = *hold.try_allocate(300000, 8);  // another bin: a new block
  EXPECT_NE(c.ptr, b.ptr);
  ASSERT_EQ(hold_deallocate(b), Error::none);
  ASSERT_EQ(hold_deallocate(c), Error::none);
  EXPECT_EQ(heap.stats().live, heap_before + 2) << "both kept (8 MiB bound)";
  EXPECT_EQ(hold.trim(), 0u);
  EXPECT_EQ(hold.kept_large_bytes(), 0u);
  EXPECT_EQ(heap.stats().live, heap_before) << "trim gave the kept blocks back";

  hold.set_large_cache(0, 0);  // keep none
  const Block d = *hold.try_allocate(100000, 64);
  ASSERT_EQ(hold.try_deallocate(d), Error::none);
  EXPECT_EQ(heap.stats().live, heap_before);
  hold.set_large_cache(std::size_t(1) << 20, 0);  // 1 MiB: one 5 MiB block is over it
  const Block e = *hold.try_allocate(5 << 20, 64);
  ASSERT_EQ(hold.try_deallocate(e), Error::none);
  EXPECT_EQ(heap.stats().live, heap_before);
  const Block f = *hold.try_allocate(Layout{100000, 4096});  // aligned above 64: never kept
  ASSERT_EQ(hold.try_deallocate(f), Error::none);
  EXPECT_EQ(heap.stats().live, heap_before);
}

TEST(SizeClasses, KeptLargeBlocksGiveWayWhenTheHeapRunsDry) {
  Arena arena{9 << 20};
  ExtentHeap<> heap(arena.block(), 4096);
  SizeClasses<ExtentHeap<>> hold(heap);
  std::vector<Block> got;
  for (int i = 0; i < 7; ++i) got.push_back(*hold.try_allocate(1 << 20, 64));
  for (const Block& b : got) ASSERT_EQ(hold_deallocate(b), Error::none);
  EXPECT_GE(hold.kept_large_bytes(), std::size_t(4) << 20);  // (4 slots: four 1.25 MiB blocks)
  const Result<Block> big = hold.try_allocate(4 << 20, 64);  // fits only if kept ones go
  ASSERT_TRUE(big.ok()) << to_string(big.error());
  EXPECT_LT(hold.kept_large_bytes(), std::size_t(5) << 20);
  ASSERT_EQ(hold_deallocate(*big), Error::none);
  const Result<Block> small = hold.try_allocate(600000, 64);  // a larger bin's kept block serves
  ASSERT_TRUE(small.ok());
  ASSERT_EQ(hold_deallocate(*small), Error::none);
}

TEST(SizeClasses, KeptLargeBytesFallBackUnderTheBoundAsUseFalls) {
  SourceHeap<OsPages, concurrent> pages;
  SizeClasses<SourceHeap<OsPages, concurrent>> hold(pages);
  std::vector<Block> got;
  for (int i = 0; i < 64; ++i) got.push_back(*hold.try_allocate((1 << 20) + 4096 * i, 64));
  for (const Block& b : got) ASSERT_EQ(hold_deallocate(b), Error::none);
  EXPECT_EQ(hold.stats().live, 0u);
  EXPECT_LE(hold.kept_large_bytes(), (std::size_t(8) << 20) + (std::size_t(2) << 20))
      << "at most the floor (8 MiB) once nothing is in use, not a quarter of the peak";
  EXPECT_EQ(pages.stats().bytes_in_use, hold.reserved_bytes());
  // Kept while much else was in use (a quarter of it allowed), then the rest (blocks
  // too large to keep) freed: the bound is met again at those frees.
  std::vector<Block> big;
  for (int i = 0; i < 16; ++i) big.push_back(*hold.try_allocate(std::size_t(40) << 20));
  for (int i = 0; i < 32; ++i) got[i] = *hold.try_allocate((std::size_t(2) + i % 8) << 20, 64);
  for (int i = 0; i < 32; ++i) ASSERT_EQ(hold_deallocate(got[i]), Error::none);
  EXPECT_GT(hold.kept_large_bytes(), std::size_t(16) << 20);
  for (const Block& b : big) ASSERT_EQ(hold_deallocate(b), Error::none);
  EXPECT_LE(hold.kept_large_bytes(), std::size_t(8) << 20);
  hold.trim();
  EXPECT_EQ(pages.stats().live, 0u);
}

TEST(SizeClasses, ThreadsShareKeptLargeBlocksWithoutHandingOneOutTwice) {
  SourceHeap<OsPages, concurrent> pages;
  SizeClasses<SourceHeap<OsPages, concurrent>> hold(pages);
  hold.set_large_cache(std::size_t(4) << 20, 0);  // small: blocks are kept and given back
  std::atomic<int> bad{0};
  std::vector<std::thread> threads;
  for (unsigned t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      std::vector<Block> mine;
      for (unsigned i = 0; i < 400; ++i) {
        const std::size_t n = (std::size_t(40) << 10) + ((i * 7 + t) % 5) * (std::size_t(48) << 10);
        const Block b = *hold.try_allocate(n, 64);
        auto* words = static_cast<std::uint64_t*>(b.ptr);
        for (std::size_t w = 0; w < 64; ++w) words[w] = t * 1000003u + i;
        mine.push_back(b);
        if (mine.size() > 3) {
          const Block old = mine.front();
          mine.erase(mine.begin());
          const auto* seen = static_cast<const std::uint64_t*>(old.ptr);
          for (std::size_t w = 0; w < 64; ++w) bad += seen[w] != seen[0];
          bad += hold_deallocate(old) != Error::none;
        }
      }
      for (const Block& b : mine) bad += hold_deallocate(b) != Error::none;
    });
  }
  for (std::thread& th : threads) th.join();
  EXPECT_EQ(bad.load(), 0) << "a block was written by two owners, or a free was refused";
  EXPECT_EQ(hold.stats().live, 0u);
  EXPECT_LE(hold.kept_large_bytes(), std::size_t(4) << 20);
  hold.trim();
  EXPECT_EQ(pages.stats().live, 0u);
}

TEST(SizeClasses, MisuseIsReportedAndChangesNothing) {
  Arena arena{8 << 20};
  ExtentHeap<> heap(arena.block(), 4096);
  SizeClasses<ExtentHeap<>> hold(heap);
  const Block a = *hold.try_allocate(64, 16);
  const Block b = *hold.try_allocate(64, 16);
  const Stats s = hold.stats();
  alignas(16) std::uint64_t fake[4] = {0, 0, 0, 0};
  EXPECT_EQ(hold.try_deallocate(Block{&fake[2], 8}), Error::foreign_pointer);
  EXPECT_EQ(HoldRef::of(hold).try_deallocate(Block{&fake[2], 8}), Error::foreign_pointer);
  // A forged tag naming a hunk address that is not one of ours.
  fake[1] = detail::make_tag(&fake[0], detail::ClassHunk<concurrent>::kind);
  EXPECT_EQ(HoldRef::of(hold).try_deallocate(Block{&fake[2], 8}), Error::foreign_pointer);
  EXPECT_EQ(hold.try_deallocate(Block{static_cast<char*>(a.ptr) + 16, 8}), Error::foreign_pointer);
  EXPECT_EQ(hold.try_deallocate(Block{a.ptr, 4096}), Error::foreign_pointer) << "larger than its unit";
  EXPECT_EQ(hold.stats().live, s.live);
  EXPECT_EQ(hold.try_deallocate(a), Error::none);
  EXPECT_EQ(hold.try_deallocate(a), Error::double_free);
  EXPECT_EQ(HoldRef::of(hold).try_deallocate(a), Error::double_free);
  EXPECT_EQ(hold_deallocate(a), Error::double_free);
  EXPECT_EQ(hold.try_allocate(Layout{8, 3}).error(), Error::misaligned);
  EXPECT_EQ(hold.try_deallocate(b), Error::none);
}

TEST(SizeClasses, ExhaustionIsAnErrorAndFreedUnitsAreReused) {
  Arena arena{1 << 20};
  ExtentHeap<> heap(arena.block(), 4096);
  SizeClasses<ExtentHeap<>> hold(heap);
  std::vector<Block> got;
  for (;;) {
    const Result<Block> r = hold.try_allocate(1000, 16);
    if (!r) {
      EXPECT_EQ(r.error(), Error::out_of_memory);
      break;
    }
    got.push_back(*r);
  }
  ASSERT_GT(got.size(), 100u);
  const Stats full = hold.stats();
  EXPECT_EQ(hold.try_allocate(1000, 16).error(), Error::out_of_memory);
  EXPECT_EQ(hold.stats().live, full.live) << "a failure changes nothing";
  // Free some in every hunk: the same units come back, no new hunk is needed.
  std::vector<Block> freed;
  for (std::size_t i = 0; i < got.size(); i += 3) {
    ASSERT_EQ(hold.try_deallocate(got[i]), Error::none);
    freed.push_back(got[i]);
  }
  const std::size_t hunks = hold.hunk_count();
  for (std::size_t i = 0; i < freed.size(); ++i) {
    const Result<Block> r = hold.try_allocate(1000, 16);
    ASSERT_TRUE(r.ok()) << i;
    EXPECT_TRUE(std::any_of(freed.begin(), freed.end(), [&](const Block& f) { return f.ptr == r->ptr; }));
    got[i * 3] = *r;
  }
  EXPECT_EQ(hold.hunk_count(), hunks);
  for (const Block& b : got) ASSERT_EQ(hold.try_deallocate(b), Error::none);
  EXPECT_GT(hold.trim(), 0u);
  EXPECT_EQ(heap.stats().live, 0u) << "every hunk went back";
  EXPECT_EQ(hold.reserved_bytes(), 0u);
}

TEST(SizeClasses, LeasesAndResidentsLiveInIt) {
  Arena arena{8 << 20};
  ExtentHeap<> heap(arena.block(), 4096);
  SizeClasses<ExtentHeap<>> hold(heap);
  const HoldRef h = HoldRef::of(hold);
  {
    Raw<Buf<std::size_t>> v = Raw<Buf<std::size_t>>::try_empty(h).take();
    for (std::size_t i = 0; i < 5000; ++i) ASSERT_EQ(v.try_push(i), Error::none);  // grows through classes, then large
    for (std::size_t i = 0; i < 5000; ++i) ASSERT_EQ(v[i], i);
    Raw<String<>> s = Raw<String<>>::try_from(h, "size").take();
    ASSERT_EQ(s.try_append(" classes"), Error::none);
    EXPECT_EQ(std::string(s.data(), s.size()), "size classes");
    EXPECT_EQ(hold.stats().live, 2u);
    // Stow the Buf into a Pack and back again.
    Arena pack_arena{1 << 20};
    Pack<> pack(pack_arena.block());
    Result<Raw<Buf<std::size_t>>> moved = try_stow(v, HoldRef::of(pack));
    ASSERT_TRUE(moved.ok()) << to_string(moved.error());
    EXPECT_EQ((*moved)[4999], 4999u);
    Result<Raw<Buf<std::size_t>>> back = try_stow(*moved, h);
    ASSERT_TRUE(back.ok()) << to_string(back.error());
    EXPECT_EQ((*back)[1234], 1234u);
    EXPECT_EQ(hold.stats().live, 2u) << "the string and the Buf back (stow moved the original)";
    EXPECT_EQ(pack.stats().live, 0u);
  }
  EXPECT_EQ(hold.stats().live, 0u);
}

template <class Mode>
void threads_free_each_others_objects(unsigned threads, unsigned rounds) {
  Arena arena{64 << 20};
  ExtentHeap<concurrent> heap(arena.block(), 4096);
  SizeClasses<ExtentHeap<concurrent>, Mode> hold(heap);
  std::mutex m;
  std::vector<std::pair<Block, std::uint64_t>> shared;  // handed between threads
  std::atomic<int> bad{0};
  auto stamp = [](const Block& b, std::uint64_t v) {
    auto* w = static_cast<std::uint64_t*>(b.ptr);
    for (std::size_t i = 0; i < b.size / 8; ++i) w[i] = v + i;
  };
  auto intact = [](const Block& b, std::uint64_t v) {
    const auto* w = static_cast<const std::uint64_t*>(b.ptr);
    for (std::size_t i = 0; i < b.size / 8; ++i) {
      if (w[i] != v + i) return false;
    }
    return true;
  };
  std::vector<std::thread> ts;
  for (unsigned t = 0; t < threads; ++t) {
    ts.emplace_back([&, t] {
      std::mt19937_64 rng(t + 1);
      std::vector<std::pair<Block, std::uint64_t>> mine;
      for (unsigned r = 0; r < rounds; ++r) {
        const unsigned op = static_cast<unsigned>(rng() % 10);
        if (op < 5 || mine.empty()) {
          const std::size_t n = rng() % 8 == 0 ? 1 + rng() % 40000 : 1 + rng() % 600;
          Result<Block> b = hold.try_allocate(n, 16);
          while (!b && b.error() == Error::contended) b = hold.try_allocate(n, 16);
          if (!b) {
            ++bad;
            continue;
          }
          const std::uint64_t v = rng();
          stamp(*b, v);
          mine.emplace_back(*b, v);
        } else if (op < 7) {  // hand one to another thread
          std::lock_guard<std::mutex> g(m);
          shared.push_back(mine.back());
          mine.pop_back();
        } else {
          std::pair<Block, std::uint64_t> x;
          {
            std::lock_guard<std::mutex> g(m);
            if (!shared.empty() && rng() % 2 == 0) {
              x = shared.back();
              shared.pop_back();
            } else {
              x = mine.back();
              mine.pop_back();
            }
          }
          if (!intact(x.first, x.second)) ++bad;
          Error e = hold_deallocate(x.first);
          while (e == Error::contended) e = hold_deallocate(x.first);
          if (e != Error::none) ++bad;
        }
      }
      std::lock_guard<std::mutex> g(m);
      for (auto& x : mine) shared.push_back(x);
    });
  }
  for (auto& t : ts) t.join();
  for (auto& [b, v] : shared) {
    if (!intact(b, v)) ++bad;
    if (hold.try_deallocate(b) != Error::none) ++bad;
  }
  EXPECT_EQ(bad.load(), 0);
  EXPECT_EQ(hold.stats().live, 0u);
  EXPECT_GT(hold.trim(), 0u);
  EXPECT_EQ(heap.stats().live, 0u);
}

TEST(SizeClasses, ManyThreadsFreeEachOthersObjects) {
  threads_free_each_others_objects<concurrent>(4, 20000);
}

// ---- Found by an adversarial review -----------------------------------------------------

TEST(SizeClassesRegressions, TrimOverUnmappingPagesReadsNoHunkItGaveBack) {
  SourceHeap<OsPages, concurrent> pages;
  SizeClasses<SourceHeap<OsPages, concurrent>> hold(pages);
  const Block a = *hold.try_allocate(16, 16);
  ASSERT_EQ(hold.try_deallocate(a), Error::none);
  EXPECT_EQ(hold.trim(), 1u);
  EXPECT_EQ(pages.stats().live, 0u);
}

TEST(SizeClassesRegressions, ALargeObjectIsWholeWordsAndReallocationKeepsItAll) {
  alignas(64) static std::byte region[1 << 20];
  SourceHeap<StaticRegion<RegionAccess::host>, concurrent> heap(Block{region, sizeof region});
  SizeClasses<SourceHeap<StaticRegion<RegionAccess::host>, concurrent>> hold(heap);
  const Block a = *hold.try_allocate(40001, 16);
  EXPECT_GE(a.size, 40001u);
  EXPECT_EQ(a.size % 8, 0u);
  std::memset(a.ptr, 0x5A, a.size);
  const Result<Block> b = HoldRef::of(hold).try_reallocate(a, Layout{50000, 8});
  ASSERT_TRUE(b.ok()) << to_string(b.error());
  const auto* p = static_cast<const unsigned char*>(b->ptr);
  for (std::size_t i = 0; i < 40001; ++i) ASSERT_EQ(p[i], 0x5A) << i;
  EXPECT_EQ(hold_deallocate(*b), Error::none);
}

// An unchecked free (or resize) of another hold's object trusts the tag, which names
// the other hold's hunk: it is refused (as an unchecked Pool refuses one), and
// neither hold's count moves.
TEST(SizeClassesRegressions, AnUncheckedFreeOfAnotherHoldsObjectIsRefused) {
  Arena arena{4 << 20};
  ExtentHeap<> heap(arena.block(), 4096);
  SizeClasses<ExtentHeap<>, concurrent, false> a(heap), b(heap);
  const Block mine = *a.try_allocate(40, 16);
  const Block theirs = *b.try_allocate(40, 16);
  EXPECT_EQ(a.try_deallocate(theirs), Error::foreign_pointer);
  EXPECT_EQ(a.try_resize(theirs, Layout{8, 8}).error(), Error::foreign_pointer);
  EXPECT_EQ(a.stats().live, 1u);
  EXPECT_EQ(b.stats().live, 1u);
  EXPECT_EQ(b.try_deallocate(theirs), Error::none);
  EXPECT_EQ(a.try_deallocate(mine), Error::none);
}

TEST(SizeClassesRegressions, ResizeRefusesABlockLargerThanItsObject) {
  Arena arena{4 << 20};
  ExtentHeap<> heap(arena.block(), 4096);
  SizeClasses<ExtentHeap<>> hold(heap);
  const Block x = *hold.try_allocate(40, 16);
  EXPECT_EQ(hold_resize(Block{x.ptr, 1000}, Layout{8, 8}).error(), Error::foreign_pointer);
  EXPECT_EQ(hold.try_resize(Block{x.ptr, 1000}, Layout{8, 8}).error(), Error::foreign_pointer);
  const Block big = *hold.try_allocate(50000, 16);
  EXPECT_EQ(hold_resize(Block{big.ptr, big.size + 4096}, Layout{8, 8}).error(), Error::foreign_pointer);
  EXPECT_EQ(hold.try_deallocate(x), Error::none);
  EXPECT_EQ(hold.try_deallocate(big), Error::none);
}

// Four threads race for the first objects of one class, with a heap that holds one
// hunk: one draws it, the others find the heap dry while its advance is in flight.
// None is told out_of_memory (the hunk has room for all); one that waits past its
// bound is told contended.
TEST(SizeClassesRegressions, ThreadsRacingForTheLastHunkAreNeverToldOutOfMemory) {
  constexpr std::size_t hunk = std::size_t(64) << 10;  // Table::hunk_bytes of the 16-byte class
  static_assert(Table::hunk_bytes(0) == hunk);
  alignas(4096) static std::byte one_hunk[hunk];
  const LastHunkRace race = race_for_the_last_hunk<SizeClasses<Slab<concurrent, false>>>(
      one_hunk, sizeof one_hunk, Layout{16, 8}, 300);
  EXPECT_EQ(race.out_of_memory, 0) << "allocations told out_of_memory while the last hunk had room";
  RecordProperty("contended", race.contended);  // a wait past its bound: legitimate, rare
}

}  // namespace
}  // namespace swim::mem::testing
