// Stats::largest_free, fragmentation() and the occupancy walk, per allocator:
// fragmentation is made on purpose (every other block freed, by address) and the
// figures must move as each allocator's stats() documents; the walk must show the
// same pieces.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

#include "support/arena.hpp"
#include "swim/mem.hpp"

namespace swim::mem::testing {
namespace {

template <class A>
std::vector<Region> regions_of(const A& a) {
  std::vector<Region> out;
  a.walk([&](const Region& r) { out.push_back(r); });
  return out;
}

std::size_t count_kind(const std::vector<Region>& rs, RegionKind k) {
  return static_cast<std::size_t>(
      std::count_if(rs.begin(), rs.end(), [&](const Region& r) { return r.kind == k; }));
}

std::size_t bytes_of_kind(const std::vector<Region>& rs, RegionKind k) {
  std::size_t n = 0;
  for (const Region& r : rs) n += r.kind == k ? r.size : 0;
  return n;
}

void sort_by_address(std::vector<Block>& v) {
  std::sort(v.begin(), v.end(), [](const Block& a, const Block& b) { return a.address() < b.address(); });
}

// ---- the figure itself ------------------------------------------------------------------

TEST(Fragmentation, IsOneLessLargestOverFreeAndZeroWhenNothingIsFree) {
  static_assert(fragmentation(Stats{}) == 0.0);
  Stats s;
  s.bytes_free = 4096;
  s.largest_free = 4096;
  EXPECT_EQ(fragmentation(s), 0.0);  // all of it to one request
  s.largest_free = 1024;
  EXPECT_DOUBLE_EQ(fragmentation(s), 0.75);
  s.largest_free = 0;
  EXPECT_EQ(fragmentation(s), 1.0);  // free bytes, but no request with bytes is served
  s.largest_free = 8192;             // (a snapshot a moment apart: clamped)
  EXPECT_EQ(fragmentation(s), 0.0);
  s.bytes_free = 0;
  s.largest_free = 0;
  EXPECT_EQ(fragmentation(s), 0.0);
}

TEST(Fragmentation, RegionKindsHaveNames) {
  EXPECT_STREQ(to_string(RegionKind::live), "live");
  EXPECT_STREQ(to_string(RegionKind::free), "free");
  EXPECT_STREQ(to_string(RegionKind::control), "control");
  EXPECT_STREQ(to_string(RegionKind::unused), "unused");
}

// ---- heaps ----------------------------------------------------------------------------

TEST(AddrSpaceFragmentation, EveryOtherPageFreedLeavesOnePageAndMergesBack) {
  Arena arena(1 << 20);
  AddrSpace<concurrent, true> heap(arena.block(), 4096);
  const Stats fresh = heap.stats();
  // The pages are seeded as maximal power-of-two blocks: the largest is max_block().
  EXPECT_EQ(fresh.largest_free, heap.max_block());
  EXPECT_EQ(fresh.bytes_free, heap.capacity());
  std::vector<Block> pages;
  for (Result<Block> r = heap.try_allocate(Layout{4096, 1}); r; r = heap.try_allocate(Layout{4096, 1})) {
    pages.push_back(*r);
  }
  EXPECT_EQ(heap.stats().largest_free, 0u);
  EXPECT_EQ(fragmentation(heap.stats()), 0.0);
  sort_by_address(pages);
  std::size_t freed = 0;
  for (std::size_t i = 0; i < pages.size(); i += 2, ++freed) ASSERT_EQ(heap.try_deallocate(pages[i]), Error::none);
  const Stats holes = heap.stats();
  // No two buddies are both free: every free block is one page.
  EXPECT_EQ(holes.bytes_free, freed * 4096);
  EXPECT_EQ(holes.largest_free, 4096u);
  EXPECT_DOUBLE_EQ(fragmentation(holes), 1.0 - 1.0 / static_cast<double>(freed));
  EXPECT_FALSE(heap.try_allocate(Layout{4097, 1}).ok());
  const std::vector<Region> rs = regions_of(heap);
  EXPECT_EQ(count_kind(rs, RegionKind::free), freed);
  EXPECT_EQ(count_kind(rs, RegionKind::live), pages.size() - freed);
  EXPECT_EQ(bytes_of_kind(rs, RegionKind::free), holes.bytes_free);
  EXPECT_EQ(rs.back().kind, RegionKind::control);  // the metadata, at the end
  // Free two buddies' pair: one page's buddy goes, a two-page block appears.
  ASSERT_EQ(heap.try_deallocate(pages[1]), Error::none);
  EXPECT_EQ(heap.stats().largest_free, 8192u);
  for (std::size_t i = 3; i < pages.size(); i += 2) ASSERT_EQ(heap.try_deallocate(pages[i]), Error::none);
  const Stats empty = heap.stats();
  EXPECT_EQ(empty.largest_free, fresh.largest_free);
  EXPECT_DOUBLE_EQ(fragmentation(empty), fragmentation(fresh));
}

TEST(ExtentHeapFragmentation, EveryOtherExtentFreedLeavesOneGranuleAndCoalescesBack) {
  Arena arena(1 << 20);
  ExtentHeap<concurrent> heap(arena.block(), 4096);  // records in-band
  EXPECT_EQ(heap.stats().largest_free, heap.capacity());
  EXPECT_EQ(fragmentation(heap.stats()), 0.0);
  std::vector<Block> extents;
  for (Result<Block> r = heap.try_allocate(Layout{4096, 1}); r; r = heap.try_allocate(Layout{4096, 1})) {
    extents.push_back(*r);
  }
  sort_by_address(extents);
  std::size_t freed = 0;
  for (std::size_t i = 0; i < extents.size(); i += 2, ++freed) ASSERT_EQ(heap.try_deallocate(extents[i]), Error::none);
  const Stats holes = heap.stats();
  EXPECT_EQ(holes.bytes_free, freed * 4096);
  EXPECT_EQ(holes.largest_free, 4096u);
  EXPECT_DOUBLE_EQ(fragmentation(holes), 1.0 - 1.0 / static_cast<double>(freed));
  std::vector<Region> rs = regions_of(heap);
  EXPECT_EQ(count_kind(rs, RegionKind::free), freed);
  EXPECT_EQ(count_kind(rs, RegionKind::control), 1u);  // the records, in-band
  EXPECT_EQ(bytes_of_kind(rs, RegionKind::control), extents.size() * sizeof(detail::ExtentRecord));
  // Freeing the extent between two free ones makes three granules of one extent.
  ASSERT_EQ(heap.try_deallocate(extents[1]), Error::none);
  EXPECT_EQ(heap.stats().largest_free, 3u * 4096);
  for (std::size_t i = 3; i < extents.size(); i += 2) ASSERT_EQ(heap.try_deallocate(extents[i]), Error::none);
  EXPECT_EQ(heap.stats().largest_free, heap.capacity());
  EXPECT_EQ(fragmentation(heap.stats()), 0.0);
  rs = regions_of(heap);
  EXPECT_EQ(count_kind(rs, RegionKind::free), 1u);
}

TEST(ExtentHeapFragmentation, RecordsApartAreASecondRange) {
  Arena arena(256 * 1024);
  std::vector<detail::ExtentRecord> records(arena.size / 1024);
  ExtentHeap<single_owner> heap(arena.block(), 1024,
                                Block{records.data(), records.size() * sizeof(detail::ExtentRecord)});
  const Result<Block> b = heap.try_allocate(Layout{3000, 1});
  ASSERT_TRUE(b.ok());
  const std::vector<Region> rs = regions_of(heap);
  ASSERT_EQ(rs.size(), 3u);
  EXPECT_EQ(rs[0].kind, RegionKind::live);
  EXPECT_EQ(rs[0].size, 3072u);
  EXPECT_EQ(rs[1].kind, RegionKind::free);
  EXPECT_EQ(rs[2].base, records.data());
  EXPECT_EQ(rs[2].kind, RegionKind::control);
  EXPECT_EQ(rs[2].size, records.size() * sizeof(detail::ExtentRecord));
  EXPECT_EQ(heap.stats().largest_free, heap.capacity() - 3072);
  ASSERT_EQ(heap.try_deallocate(*b), Error::none);
}

TEST(SlabFragmentation, FreeUnitsAreOneUnitEach) {
  Arena arena(64 * 1024);
  Slab<concurrent, true> slab(arena.block(), 256);
  const std::size_t n = slab.block_count();
  ASSERT_GT(n, 64u);  // the checked bitmap is carved from the hunk
  EXPECT_EQ(slab.stats().largest_free, 256u);
  EXPECT_DOUBLE_EQ(fragmentation(slab.stats()), 1.0 - 1.0 / static_cast<double>(n));
  std::vector<Block> units;
  for (Result<Block> r = slab.try_allocate(Layout{256, 1}); r; r = slab.try_allocate(Layout{256, 1})) {
    units.push_back(*r);
  }
  EXPECT_EQ(slab.stats().largest_free, 0u);
  sort_by_address(units);
  std::size_t freed = 0;
  for (std::size_t i = 0; i < units.size(); i += 2, ++freed) ASSERT_EQ(slab.try_deallocate(units[i]), Error::none);
  EXPECT_EQ(slab.stats().largest_free, 256u);
  EXPECT_DOUBLE_EQ(fragmentation(slab.stats()), 1.0 - 1.0 / static_cast<double>(freed));
  const std::vector<Region> rs = regions_of(slab);
  EXPECT_EQ(rs.front().kind, RegionKind::control);  // the bitmap
  EXPECT_EQ(count_kind(rs, RegionKind::free), freed);
  EXPECT_EQ(count_kind(rs, RegionKind::live), n - freed);
  std::size_t total = 0;
  for (const Region& r : rs) total += r.size;
  EXPECT_EQ(total, arena.size);  // the whole hunk
  for (std::size_t i = 1; i < units.size(); i += 2) ASSERT_EQ(slab.try_deallocate(units[i]), Error::none);
}

TEST(SlabCacheFragmentation, UnitsInTheCacheCountAsFree) {
  Arena arena(64 * 1024);
  Slab<concurrent, true> slab(arena.block(), 256);
  std::vector<Block> units;
  for (Result<Block> r = slab.try_allocate(Layout{256, 1}); r; r = slab.try_allocate(Layout{256, 1})) {
    units.push_back(*r);
  }
  SlabCache<Slab<concurrent, true>, 16> cache(slab);
  EXPECT_EQ(cache.stats().largest_free, 0u);
  ASSERT_EQ(cache.try_deallocate(units.back()), Error::none);  // now held in the cache
  units.pop_back();
  EXPECT_EQ(slab.stats().largest_free, 0u);  // the Slab counts it live
  EXPECT_EQ(cache.stats().largest_free, 256u);
  const Result<Block> again = cache.try_allocate(Layout{256, 1});
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(cache.stats().largest_free, 0u);
  units.push_back(*again);
  for (const Block& b : units) ASSERT_EQ(cache.try_deallocate(b), Error::none);
  ASSERT_EQ(cache.flush(), Error::none);
}

// ---- holds ----------------------------------------------------------------------------

TEST(PackFragmentation, HolesAreNotFreeUntilTheyAreOnTop) {
  Arena arena(64 * 1024);
  Pack<concurrent> pack(arena.block());
  const std::size_t cap = pack.capacity();
  EXPECT_EQ(pack.stats().bytes_free, cap);
  EXPECT_EQ(pack.stats().largest_free, cap - 8);  // the next object's tag
  std::vector<Block> objects;
  for (int i = 0; i < 10; ++i) objects.push_back(*pack.try_allocate(Layout{100, 8}));
  const Stats full = pack.stats();
  EXPECT_EQ(full.bytes_free, cap - 10 * 112);
  EXPECT_EQ(full.largest_free, full.bytes_free - 8);
  for (int i = 0; i < 10; i += 2) ASSERT_EQ(pack.try_deallocate(objects[i]), Error::none);
  // Out of LIFO order: the holes wait for the Pack to empty; nothing became free.
  EXPECT_EQ(pack.stats().bytes_free, full.bytes_free);
  EXPECT_EQ(pack.stats().largest_free, full.largest_free);
  std::vector<Region> rs = regions_of(pack);
  ASSERT_EQ(rs.size(), 2u);
  EXPECT_EQ(rs[0].kind, RegionKind::live);
  EXPECT_EQ(rs[0].size, 10u * 112);
  EXPECT_EQ(rs[1].kind, RegionKind::free);
  EXPECT_EQ(rs[1].size, full.bytes_free);
  ASSERT_EQ(pack.try_deallocate(objects[9]), Error::none);  // on top: its bytes come back
  EXPECT_EQ(pack.stats().largest_free, full.largest_free + 112);
  for (int i = 1; i < 9; i += 2) ASSERT_EQ(pack.try_deallocate(objects[i]), Error::none);
  EXPECT_EQ(pack.stats().largest_free, cap - 8);  // emptied: reset
  rs = regions_of(pack);
  ASSERT_EQ(rs.size(), 1u);
  EXPECT_EQ(rs[0].kind, RegionKind::free);
}

TEST(PoolFragmentation, AnEmptiedHunkIsASpareThatServesWholeAndTheHoldsTailsAreUnused) {
  Arena arena(1 << 20);
  AddrSpace<concurrent, true> pages(arena.block(), 4096);
  constexpr std::size_t hunk = 16 * 1024;
  Pool<AddrSpace<concurrent, true>, concurrent, true> pool(pages, hunk);
  EXPECT_EQ(pool.stats().largest_free, 0u);  // no hunk yet: all of it is the heap's
  std::vector<Block> objects;
  std::size_t second_hunk_starts = 0;  // objects before it are in the first hunk
  while (pool.hunk_count() < 3) {
    objects.push_back(*pool.try_allocate(Layout{1000, 8}));
    if (pool.hunk_count() == 2 && second_hunk_starts == 0) second_hunk_starts = objects.size() - 1;
  }
  objects.push_back(*pool.try_allocate(Layout{1000, 8}));  // two in the head hunk
  const std::size_t head_room = pool.head_free_bytes();
  EXPECT_EQ(pool.stats().largest_free, head_room - 8);
  // Every other object freed, the most recent one kept: holes inside the hunks,
  // nothing more to allocate from.
  const Stats before = pool.stats();
  std::vector<Block> kept;
  for (std::size_t i = 0; i < objects.size(); ++i) {
    if (i % 2 == 0 && i + 1 != objects.size()) {
      ASSERT_EQ(pool.try_deallocate(objects[i]), Error::none);
    } else {
      kept.push_back(objects[i]);
    }
  }
  EXPECT_EQ(pool.stats().largest_free, before.largest_free);
  EXPECT_GT(pool.stats().bytes_free, before.bytes_free);  // the holes count as not handed out
  EXPECT_GT(fragmentation(pool.stats()), fragmentation(before));
  std::vector<Region> rs = regions_of(pool);
  EXPECT_EQ(count_kind(rs, RegionKind::control), 3u);     // one header per hunk
  EXPECT_EQ(count_kind(rs, RegionKind::free), 1u);        // the head's room
  EXPECT_GE(count_kind(rs, RegionKind::unused), 2u);      // the ends of the two full hunks
  // The first hunk's objects all freed: it retires to the spare list, and a spare is
  // used whole, so largest_free is a whole hunk's room.
  std::vector<Block> rest;
  const auto first_hunk_end = objects.begin() + static_cast<long>(second_hunk_starts);
  for (const Block& b : kept) {
    const bool in_first_hunk =
        std::find_if(objects.begin(), first_hunk_end, [&](const Block& o) { return o.ptr == b.ptr; }) !=
        first_hunk_end;
    if (in_first_hunk) {
      ASSERT_EQ(pool.try_deallocate(b), Error::none);
    } else {
      rest.push_back(b);
    }
  }
  const std::size_t spare_room = hunk - 64 - 8;
  EXPECT_EQ(pool.stats().largest_free, spare_room);
  pool.retire_head();  // no head: only the spare serves without the heap
  EXPECT_EQ(pool.stats().largest_free, spare_room);
  const std::size_t heap_live = pages.stats().live;
  const Result<Block> whole = pool.try_allocate(Layout{spare_room, 1});
  ASSERT_TRUE(whole.ok());
  EXPECT_EQ(pages.stats().live, heap_live);  // the spare served it
  ASSERT_EQ(pool.try_deallocate(*whole), Error::none);
  for (const Block& b : rest) ASSERT_EQ(pool.try_deallocate(b), Error::none);
  pool.trim();
}

TEST(SizeClassesFragmentation, FreedUnitsOfOneClassServeOnlyThatClass) {
  Arena arena(4 << 20);
  AddrSpace<concurrent, true> pages(arena.block(), 4096);
  SizeClasses<AddrSpace<concurrent, true>, concurrent, true> hold(pages);
  EXPECT_EQ(hold.stats().largest_free, 0u);
  // Fill one hunk of the 112-byte class (objects of 104 bytes) exactly.
  std::vector<Block> objects;
  objects.push_back(*hold.try_allocate(Layout{100, 8}));
  EXPECT_EQ(objects[0].size, 104u);
  EXPECT_EQ(hold.stats().largest_free, 104u);  // a unit of that class, and nothing larger
  while (hold.hunk_count() == 1) {
    const Result<Block> r = hold.try_allocate(Layout{100, 8});
    ASSERT_TRUE(r.ok());
    objects.push_back(*r);
  }
  ASSERT_EQ(hold.try_deallocate(objects.back()), Error::none);  // (it opened a second hunk)
  objects.pop_back();
  const Stats full = hold.stats();
  std::size_t freed = 0;
  for (std::size_t i = 0; i < objects.size(); i += 2, ++freed) ASSERT_EQ(hold.try_deallocate(objects[i]), Error::none);
  const Stats holes = hold.stats();
  EXPECT_EQ(holes.largest_free, 104u);
  EXPECT_EQ(holes.bytes_free, full.bytes_free + freed * 104);
  EXPECT_GT(fragmentation(holes), fragmentation(full));
  const std::vector<Region> rs = regions_of(hold);
  EXPECT_EQ(count_kind(rs, RegionKind::live), objects.size() - freed);
  EXPECT_EQ(count_kind(rs, RegionKind::control), 2u);  // two hunk headers
  // A large object freed is kept for its bin: the largest request of that bin is
  // then served from it.
  const Result<Block> large = hold.try_allocate(Layout{100000, 8});
  ASSERT_TRUE(large.ok());
  ASSERT_EQ(hold.try_deallocate(*large), Error::none);
  // (its bin is the one of the block the heap gave: 128 KiB of pages for 112 KiB)
  const std::size_t kept = hold.stats().largest_free;
  EXPECT_EQ(kept, 128u * 1024 - 64);
  const std::size_t heap_live = pages.stats().live;
  const Result<Block> again = hold.try_allocate(Layout{kept, 1});
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(pages.stats().live, heap_live);  // from the kept block
  ASSERT_EQ(hold.try_deallocate(*again), Error::none);
  EXPECT_EQ(count_kind(regions_of(hold), RegionKind::free) - count_kind(rs, RegionKind::free), 1u)
      << "the kept block is a free range of its own";
  const Result<Block> more = hold.try_allocate(Layout{kept + 1, 1});  // the next bin: the heap
  ASSERT_TRUE(more.ok());
  EXPECT_EQ(pages.stats().live, heap_live + 1);
  ASSERT_EQ(hold.try_deallocate(*more), Error::none);
  for (std::size_t i = 1; i < objects.size(); i += 2) ASSERT_EQ(hold.try_deallocate(objects[i]), Error::none);
  hold.trim();
  EXPECT_EQ(hold.stats().largest_free, 0u);  // everything went back to the heap
}

TEST(ExtentArenaFragmentation, CompactionMakesTheFreeSpaceOneExtent) {
  ArenaOptions o;
  o.granule = 256;
  o.initial_bytes = o.growth_bytes = o.max_bytes = 2 << 20;
  ExtentArena<OsPages> arena(OsPages{}, o);
  ASSERT_EQ(arena.init_error(), Error::none);
  using Buf = DeviceBuf<float, ExtentArena<OsPages>>;
  std::vector<Buf> bufs;
  for (int i = 0; i < 20; ++i) {
    Result<Buf> b = Buf::try_make(arena, 20000 + 500 * i);
    ASSERT_TRUE(b.ok());
    bufs.push_back(b.take());
  }
  for (std::size_t i = 0; i < bufs.size(); i += 2) bufs[i] = Buf{};
  const Stats before = arena.stats();
  EXPECT_LT(before.largest_free, before.bytes_free);
  EXPECT_GT(fragmentation(before), 0.0);
  EXPECT_EQ(count_kind(regions_of(arena), RegionKind::free), 11u);  // 10 holes and the end
  const Result<ArenaCompaction> c = arena.try_compact();
  ASSERT_TRUE(c.ok());
  const Stats after = arena.stats();
  EXPECT_EQ(after.bytes_free, before.bytes_free);
  EXPECT_EQ(after.largest_free, after.bytes_free);
  EXPECT_EQ(fragmentation(after), 0.0);
  EXPECT_EQ(c->largest_free_after, after.largest_free);
  const std::vector<Region> rs = regions_of(arena);
  EXPECT_EQ(count_kind(rs, RegionKind::free), 1u);
  EXPECT_EQ(count_kind(rs, RegionKind::live), 10u);
  EXPECT_EQ(rs.back().kind, RegionKind::control);  // the records, in host pages
}

TEST(ProcessHoldFragmentation, WaitingAndHeldUnitsAreServedAndTheWalkTiles) {
  Result<Block> b = try_malloc(100);
  ASSERT_TRUE(b.ok());
  const Stats s = process_hold_stats();
  EXPECT_LE(s.largest_free, s.bytes_free);
  EXPECT_GE(s.largest_free, 104u);  // the rest of the hunk that served b
  std::vector<Region> rs;
  walk_process_hold([](const Region& r, void* out) { static_cast<std::vector<Region>*>(out)->push_back(r); },
                    &rs);
  ASSERT_FALSE(rs.empty());
  EXPECT_TRUE(std::any_of(rs.begin(), rs.end(), [&](const Region& r) {
    return r.kind == RegionKind::live && r.address() <= b->address() &&
           b->address() + b->size <= r.address() + r.size;
  }));
  EXPECT_EQ(try_free(b->ptr), Error::none);
}

// ---- stats() while others allocate --------------------------------------------------------

// Two threads allocate and free while a third reads stats(): every snapshot keeps
// largest_free <= bytes_free (stats() clamps), and the reads race with nothing
// (run under ThreadSanitizer by the tsan preset).
template <class A>
void read_stats_while_others_work(A& a, std::size_t size) {
  std::atomic<bool> stop{false};
  auto work = [&](unsigned seed) {
    std::vector<Block> mine;
    std::uint64_t x = seed;
    for (int i = 0; i < 4000; ++i) {
      x ^= x << 13, x ^= x >> 7, x ^= x << 17;
      if (mine.size() < 16 && (x & 1) == 0) {
        const Result<Block> r = a.try_allocate(Layout{size, 8});
        if (r) mine.push_back(*r);
      } else if (!mine.empty()) {
        if (a.try_deallocate(mine.back()) == Error::none) mine.pop_back();
      }
    }
    for (const Block& b : mine) {
      Error e = Error::contended;
      for (int t = 0; t < 1000 && e == Error::contended; ++t) e = a.try_deallocate(b);
      EXPECT_EQ(e, Error::none);
    }
  };
  std::thread reader([&] {
    while (!stop.load(std::memory_order_relaxed)) {
      const Stats s = a.stats();
      EXPECT_LE(s.largest_free, s.bytes_free);
      const double f = fragmentation(s);
      EXPECT_TRUE(f >= 0.0 && f <= 1.0);
    }
  });
  std::thread w1(work, 1u), w2(work, 2u);
  w1.join();
  w2.join();
  stop.store(true, std::memory_order_relaxed);
  reader.join();
  EXPECT_EQ(a.stats().live, 0u);
}

TEST(StatsUnderConcurrency, LargestFreeStaysWithinBytesFree) {
  Arena arena(4 << 20);
  {
    Slab<concurrent, true> slab(Block{arena.ptr, 1 << 20}, 512);
    read_stats_while_others_work(slab, 512);
  }
  {
    AddrSpace<concurrent, true> pages(Block{arena.ptr, 1 << 20}, 4096);
    read_stats_while_others_work(pages, 5000);
  }
  {
    ExtentHeap<concurrent> extents(Block{arena.ptr, 1 << 20}, 1024);
    read_stats_while_others_work(extents, 3000);
  }
  {
    Pack<concurrent> pack(Block{arena.ptr, 1 << 20});
    read_stats_while_others_work(pack, 100);
  }
  {
    AddrSpace<concurrent, true> pages(Block{arena.ptr + (1 << 20), 3 << 20}, 4096);
    {
      Pool<AddrSpace<concurrent, true>, concurrent, true> pool(pages, 16 * 1024);
      read_stats_while_others_work(pool, 1000);
    }
    {
      SizeClasses<AddrSpace<concurrent, true>, concurrent, true> hold(pages);
      read_stats_while_others_work(hold, 700);
    }
  }
}

}  // namespace
}  // namespace swim::mem::testing
