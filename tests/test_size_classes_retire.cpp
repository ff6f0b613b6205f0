// SizeClasses (include/swim/mem/holds/size_classes.hpp): hunks that empty are
// retired (their pages given back, the hunk kept) past a cushion, concurrently
// with allocations from them; and runs of units taken with one atomic
// (try_take_run / claim), which the warp front builds on.
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <set>
#include <thread>
#include <vector>

#include "support/arena.hpp"
#include "swim/mem.hpp"

namespace swim::mem::testing {
namespace {

using Table = detail::SizeClassTable;
using Pages = SourceHeap<OsPages, concurrent>;
using Hunk = detail::ClassHunk<concurrent>;

const void* hunk_of(const void* object) {
  return detail::tag_control(detail::tag_of<concurrent>(const_cast<void*>(object)).load(order::relaxed));
}

// Resident pages of [p, p + n) (whole pages), by mincore.
std::size_t resident_pages(const void* p, std::size_t n) {
  const auto page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
  const std::uintptr_t first = reinterpret_cast<std::uintptr_t>(p) & ~(page - 1);
  const std::uintptr_t end = (reinterpret_cast<std::uintptr_t>(p) + n + page - 1) & ~(page - 1);
  std::vector<unsigned char> v((end - first) / page);
  if (::mincore(reinterpret_cast<void*>(first), end - first, v.data()) != 0) return ~std::size_t(0);
  return static_cast<std::size_t>(std::count_if(v.begin(), v.end(), [](unsigned char c) { return (c & 1) != 0; }));
}

TEST(SizeClassesRetire, EmptyHunksPastTheCushionGiveTheirPagesBack) {
  Pages pages;
  SizeClasses<Pages> hold(pages);
  ASSERT_TRUE(hold.retires_hunks());
  constexpr std::size_t size = 1000;  // stride 1024: 63 units per 64 KiB hunk
  constexpr std::size_t n = 63 * 64;  // 64 hunks, 4 MiB
  std::vector<Block> blocks;
  std::set<const void*> hunks;
  for (std::size_t i = 0; i < n; ++i) {
    const Result<Block> r = hold.try_allocate(size, 16);
    ASSERT_TRUE(r) << i;
    std::memset(r->ptr, 0x5C, r->size);
    blocks.push_back(*r);
    hunks.insert(hunk_of(r->ptr));
  }
  ASSERT_EQ(hunks.size(), 64u);
  std::size_t resident_before = 0;
  for (const void* h : hunks) resident_before += resident_pages(h, 64 << 10);
  EXPECT_GE(resident_before, 64u * 15);  // every unit was written

  for (const Block& b : blocks) ASSERT_EQ(hold.try_deallocate(b), Error::none);
  EXPECT_EQ(hold.stats().live, 0u);
  // Kept committed: the class's current hunk and a cushion that grew while the
  // bytes in use allowed (an eighth of 4 MiB: 8 hunks); every other hunk was
  // retired.
  const std::size_t kept = hold.cushion_bytes() >> 16;
  EXPECT_LE(kept, 8u);
  EXPECT_EQ(hold.retired_hunks(), 64u - 1 - kept);
  std::size_t resident_after = 0;
  for (const void* h : hunks) resident_after += resident_pages(h, 64 << 10);
  // A retired hunk keeps its first page (the header).
  EXPECT_LE(resident_after, (64u - 1 - kept) + (kept + 1) * 16u) << "before: " << resident_before;

  // A stale free of a retired unit is an error, never a crash.
  EXPECT_NE(hold.try_deallocate(blocks[0]), Error::none);

  // The retired hunks serve again, from fresh units.
  std::vector<Block> again;
  std::set<const void*> seen;
  for (std::size_t i = 0; i < n; ++i) {
    const Result<Block> r = hold.try_allocate(size, 16);
    ASSERT_TRUE(r) << i;
    ASSERT_TRUE(seen.insert(r->ptr).second) << "handed out twice";
    std::memset(r->ptr, static_cast<int>(i & 0x7F), r->size);
    again.push_back(*r);
  }
  EXPECT_EQ(hold.hunk_count(), 64u) << "retired hunks are reused, not replaced";
  for (std::size_t i = 0; i < n; ++i) {
    const auto* p = static_cast<const unsigned char*>(again[i].ptr);
    ASSERT_EQ(p[0], static_cast<unsigned char>(i & 0x7F));
    ASSERT_EQ(p[again[i].size - 1], static_cast<unsigned char>(i & 0x7F));
    ASSERT_EQ(hold.try_deallocate(again[i]), Error::none);
  }
  EXPECT_EQ(hold.trim(), 64u);
  EXPECT_EQ(hold.cushion_bytes(), 0u);
}

TEST(SizeClassesRetire, TheCushionIsSettable) {
  Pages pages;
  SizeClasses<Pages> hold(pages);
  hold.set_cushion(std::size_t(1) << 20, 0);  // 1 MiB, whatever is in use
  std::vector<Block> blocks;
  for (int i = 0; i < 63 * 32; ++i) blocks.push_back(*hold.try_allocate(1000, 16));
  for (const Block& b : blocks) ASSERT_EQ(hold.try_deallocate(b), Error::none);
  EXPECT_EQ(hold.cushion_bytes(), std::size_t(1) << 20);
  EXPECT_EQ(hold.retired_hunks(), 32u - 1 - 16);
  hold.trim();
  EXPECT_EQ(pages.stats().live, 0u);
}

TEST(SizeClassesRetire, TheCushionGrowsWithTheBytesInUse) {
  Pages pages;
  SizeClasses<Pages> hold(pages);
  // 32 MiB live in one class keeps up to 4 MiB of emptied hunks committed.
  std::vector<Block> keep, drop;
  for (std::size_t i = 0; i < 32 * 1024; ++i) keep.push_back(*hold.try_allocate(1000, 16));
  for (std::size_t i = 0; i < 63 * 16; ++i) drop.push_back(*hold.try_allocate(1000, 16));
  const std::size_t retired = hold.retired_hunks();
  for (const Block& b : drop) ASSERT_EQ(hold.try_deallocate(b), Error::none);
  EXPECT_EQ(hold.retired_hunks(), retired) << "16 hunks fit in a 4 MiB cushion";
  EXPECT_GE(hold.cushion_bytes(), std::size_t(15) << 16);
  // Freeing the rest: the cushion never grows past an eighth of the bytes in use
  // when a hunk empties (36 MiB at most here), so at most 4.5 MiB stay committed.
  for (const Block& b : keep) ASSERT_EQ(hold.try_deallocate(b), Error::none);
  EXPECT_LE(hold.cushion_bytes(), std::size_t(9) << 19);
  EXPECT_GT(hold.retired_hunks(), retired + 400);
  EXPECT_EQ(hold.stats().live, 0u);
}

TEST(SizeClassesRetire, HeapsThatCannotDiscardKeepTheirHunks) {
  Arena arena(8 << 20);
  ExtentHeap<> heap(arena.block(), 4096);
  SizeClasses<ExtentHeap<>> hold(heap);
  EXPECT_FALSE(hold.retires_hunks());
  std::vector<Block> blocks;
  for (int i = 0; i < 63 * 8; ++i) blocks.push_back(*hold.try_allocate(1000, 16));
  for (const Block& b : blocks) ASSERT_EQ(hold.try_deallocate(b), Error::none);
  EXPECT_EQ(hold.retired_hunks(), 0u);
  EXPECT_EQ(hold.trim(), 8u);
}

TEST(SizeClassesRetire, SingleOwnerRetiresToo) {
  SourceHeap<OsPages, single_owner> pages;
  SizeClasses<SourceHeap<OsPages, single_owner>, single_owner> hold(pages);
  std::vector<Block> blocks;
  for (int i = 0; i < 63 * 16; ++i) blocks.push_back(*hold.try_allocate(1000, 16));
  for (const Block& b : blocks) ASSERT_EQ(hold.try_deallocate(b), Error::none);
  EXPECT_GE(hold.retired_hunks(), 16u - 1 - 4);
  for (int i = 0; i < 63 * 16; ++i) {
    const Result<Block> r = hold.try_allocate(1000, 16);
    ASSERT_TRUE(r);
    blocks[static_cast<std::size_t>(i)] = *r;
  }
  EXPECT_EQ(hold.hunk_count(), 16u);
  for (const Block& b : blocks) ASSERT_EQ(hold.try_deallocate(b), Error::none);
}

// Threads fill and empty hunks over and over (8 KiB units: 7 to a hunk, each
// thread keeping its last few objects), so that retirements race with
// allocations from the same hunks: a unit handed out twice, or retired while
// live, shows as a stamp overwritten or zeroed.
TEST(SizeClassesRetire, RetirementRacesNeverHandAUnitOutTwice) {
  Pages pages;
  SizeClasses<Pages> hold(pages);
  hold.set_cushion(0, 0);  // no cushion: every hunk that empties is retired
  constexpr unsigned threads = 4;
  constexpr unsigned rounds = 1500;
  constexpr unsigned burst = 10;
  constexpr std::size_t size = 8000;
  std::atomic<int> bad{0};
  std::vector<std::thread> pool;
  for (unsigned t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      Block mine[burst] = {};
      auto check_and_free = [&](const Block& b) {
        const auto* w = static_cast<const std::uint64_t*>(b.ptr);
        const std::uint64_t stamp = w[0];
        if ((stamp >> 48) != t + 1) bad.fetch_add(1);
        for (std::size_t k = 1; k < size / 8; k += 97) {
          if (w[k] != stamp) bad.fetch_add(1);
        }
        Error e = hold.try_deallocate(b);
        while (e == Error::contended) e = hold.try_deallocate(b);
        if (e != Error::none) bad.fetch_add(1);
      };
      for (unsigned round = 0; round < rounds; ++round) {
        for (unsigned i = 0; i < burst; ++i) {
          Result<Block> r = hold.try_allocate(size, 16);
          while (!r && r.error() == Error::contended) r = hold.try_allocate(size, 16);
          if (!r) {
            bad.fetch_add(1);
            mine[i] = Block{};
            continue;
          }
          const std::uint64_t stamp = (std::uint64_t(t + 1) << 48) | (round * burst + i);
          auto* w = static_cast<std::uint64_t*>(r->ptr);
          w[0] = stamp;
          for (std::size_t k = 1; k < size / 8; k += 97) w[k] = stamp;
          mine[i] = *r;
        }
        for (const Block& b : mine) {
          if (b.ptr != nullptr) check_and_free(b);
        }
      }
    });
  }
  for (auto& th : pool) th.join();
  EXPECT_EQ(bad.load(), 0);
  EXPECT_EQ(hold.stats().live, 0u);
  EXPECT_GT(hold.retired_hunks(), 100u);
  hold.trim();
  EXPECT_EQ(pages.stats().live, 0u);
}

TEST(SizeClassesRuns, ARunIsConsecutiveUnitsTakenAtOnce) {
  Arena arena(4 << 20);
  ExtentHeap<> heap(arena.block(), 4096);
  SizeClasses<ExtentHeap<>> hold(heap);
  const unsigned c = Table::of_object(64);
  const Result<detail::ClassRun<concurrent>> run = hold.try_take_run(c, 32);
  ASSERT_TRUE(run);
  ASSERT_EQ(run->count, 32u);
  EXPECT_EQ(hold.stats().live, 32u);
  EXPECT_EQ(hold.stats().bytes_in_use, 32 * (Table::stride(c) - 8));
  std::vector<Block> blocks;
  for (unsigned i = 0; i < run->count; ++i) {
    const Block b = detail::ClassCore<concurrent>::claim(*run, i);
    EXPECT_EQ(b.size, Table::stride(c) - 8);
    EXPECT_EQ(b.address() % 16, 0u);
    if (i != 0) {
      EXPECT_EQ(b.address() - blocks.back().address(), Table::stride(c));
    }
    std::memset(b.ptr, 0x11, b.size);
    blocks.push_back(b);
  }
  // A run never crosses a hunk: near its end it is shorter.
  const std::size_t units = (Table::hunk_bytes(c) - (Hunk::first_object - 8)) / Table::stride(c);
  std::size_t taken = 32;
  while (taken < units) {
    const Result<detail::ClassRun<concurrent>> r = hold.try_take_run(c, 64);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->count, std::min<std::size_t>(64, units - taken));
    for (unsigned i = 0; i < r->count; ++i) blocks.push_back(detail::ClassCore<concurrent>::claim(*r, i));
    taken += r->count;
  }
  // Then from the free stack, one at a time, once units are freed.
  ASSERT_EQ(hold.try_deallocate(blocks[3]), Error::none);
  ASSERT_EQ(hold.try_deallocate(blocks[5]), Error::none);
  const Result<detail::ClassRun<concurrent>> next = hold.try_take_run(c, 8);
  ASSERT_TRUE(next);
  EXPECT_GE(next->count, 1u);
  for (unsigned i = 0; i < next->count; ++i) blocks.push_back(detail::ClassCore<concurrent>::claim(*next, i));
  blocks.erase(blocks.begin() + 5);
  blocks.erase(blocks.begin() + 3);
  for (const Block& b : blocks) ASSERT_EQ(hold.try_deallocate(b), Error::none);
  EXPECT_EQ(hold.stats().live, 0u);
  EXPECT_EQ(hold.stats().bytes_in_use, 0u);

  EXPECT_EQ(hold.try_take_run(Table::count, 1).error(), Error::invalid_argument);
  EXPECT_EQ(hold.try_take_run(c, 0).error(), Error::invalid_argument);
  EXPECT_EQ(hold.try_take_run(c, 65).error(), Error::invalid_argument);
}

TEST(SizeClassesRuns, ExhaustionIsOutOfMemoryAndChangesNothing) {
  Arena arena(128 << 10);
  ExtentHeap<> heap(arena.block(), 4096);
  SizeClasses<ExtentHeap<>> hold(heap);
  const unsigned c = Table::of_object(100);
  std::vector<Block> blocks;
  for (;;) {
    const Result<detail::ClassRun<concurrent>> r = hold.try_take_run(c, 64);
    if (!r) {
      EXPECT_EQ(r.error(), Error::out_of_memory);
      break;
    }
    for (unsigned i = 0; i < r->count; ++i) blocks.push_back(detail::ClassCore<concurrent>::claim(*r, i));
  }
  EXPECT_EQ(hold.stats().live, blocks.size());
  for (const Block& b : blocks) ASSERT_EQ(hold.try_deallocate(b), Error::none);
  EXPECT_EQ(hold.stats().live, 0u);
}

}  // namespace
}  // namespace swim::mem::testing
