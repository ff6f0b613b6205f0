// Pool-specific behaviour (the shared promises are in tests/conformance/).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <stdexcept>
#include <thread>
#include <vector>

#include "swim/mem.hpp"
#include "support/last_hunk_race.hpp"

namespace swim::mem {
namespace {

alignas(4096) std::byte g_arena[64 * 1024];

template <class Mode>
class PoolTest : public ::testing::Test {
 protected:
  using Upstream = Slab<Mode, true>;
  // 1 KiB hunks: a 64-byte header, then 960 bytes of objects.
  Upstream slab{Block{g_arena, sizeof g_arena}, 1024};
};
using Modes = ::testing::Types<concurrent, single_owner>;
TYPED_TEST_SUITE(PoolTest, Modes);

// A Slab feeding a Pool: two objects in one hunk; the hunk goes back on destruction.
TYPED_TEST(PoolTest, CrateBoxScenario) {
  {
    Pool<typename TestFixture::Upstream, TypeParam> pool(this->slab, 1024);
    const Block x = *pool.try_allocate(Layout::of<std::size_t>());
    *static_cast<std::size_t*>(x.ptr) = 5;
    EXPECT_EQ(pool.stats().live, 1u);
    EXPECT_EQ(pool.stats().bytes_in_use, 8u);
    EXPECT_EQ(pool.hunk_count(), 1u);
    EXPECT_EQ(this->slab.stats().live, 1u);
    const Block y = *pool.try_allocate(Layout::of<std::size_t>());
    *static_cast<std::size_t*>(y.ptr) = 9;
    EXPECT_EQ(pool.stats().live, 2u);
    EXPECT_EQ(pool.stats().bytes_in_use, 16u);
    EXPECT_EQ(hold_deallocate(y), Error::none);
    EXPECT_EQ(*static_cast<std::size_t*>(x.ptr), 5u);
    EXPECT_EQ(pool.try_deallocate(x), Error::none);
    EXPECT_EQ(pool.stats().live, 0u);
    EXPECT_EQ(pool.stats().bytes_in_use, 0u);
    EXPECT_EQ(pool.reserved_bytes(), 1024u);
  }
  EXPECT_EQ(this->slab.stats().live, 0u) << "the pool gives its hunks back on destruction";
}

TYPED_TEST(PoolTest, GrowsOnDemandAndRetiresEmptiedHunks) {
  Pool<typename TestFixture::Upstream, TypeParam> pool(this->slab, 1024);
  // 8-byte tag + 112 bytes: 8 objects per 960-byte hunk.
  std::vector<Block> first, rest;
  for (int i = 0; i < 8; ++i) first.push_back(*pool.try_allocate(Layout{112, 8}));
  EXPECT_EQ(pool.hunk_count(), 1u);
  for (int i = 0; i < 12; ++i) rest.push_back(*pool.try_allocate(Layout{112, 8}));
  EXPECT_EQ(pool.hunk_count(), 3u);
  EXPECT_EQ(this->slab.stats().live, 3u);
  // Empty the first hunk, which is no longer the head.
  for (const Block& b : first) ASSERT_EQ(pool.try_deallocate(b), Error::none);
  if constexpr (TypeParam::is_concurrent) {
    // Retired to the spare list: kept, and reused before the heap is asked.
    EXPECT_EQ(pool.hunk_count(), 3u);
    for (int i = 0; i < 4; ++i) rest.push_back(*pool.try_allocate(Layout{112, 8}));
    for (int i = 0; i < 4; ++i) rest.push_back(*pool.try_allocate(Layout{112, 8}));
    EXPECT_EQ(this->slab.stats().live, 3u) << "the spare hunk was reused";
  } else {
    // Single owner: an emptied hunk goes back to the heap at once.
    EXPECT_EQ(pool.hunk_count(), 2u);
    EXPECT_EQ(this->slab.stats().live, 2u);
  }
  for (const Block& b : rest) ASSERT_EQ(hold_deallocate(b), Error::none);
  EXPECT_EQ(pool.stats().live, 0u);
  pool.trim();
  EXPECT_EQ(pool.hunk_count(), 1u) << "only the (reset) head remains after trim";
  EXPECT_EQ(this->slab.stats().live, 1u);
  EXPECT_EQ(pool.reserved_bytes(), 1024u);
}

TYPED_TEST(PoolTest, HeadHunkResetsWhenItEmpties) {
  Pool<typename TestFixture::Upstream, TypeParam> pool(this->slab, 1024);
  for (int round = 0; round < 100; ++round) {
    std::vector<Block> blocks;
    for (int i = 0; i < 8; ++i) blocks.push_back(*pool.try_allocate(Layout{112, 8}));
    for (const Block& b : blocks) ASSERT_EQ(pool.try_deallocate(b), Error::none);
  }
  EXPECT_EQ(pool.hunk_count(), 1u);
  EXPECT_EQ(this->slab.stats().live, 1u);
}

TYPED_TEST(PoolTest, UpstreamExhaustionIsRecoverable) {
  Pool<typename TestFixture::Upstream, TypeParam> pool(this->slab, 1024);
  std::vector<Block> blocks;
  Result<Block> r = pool.try_allocate(Layout{400, 8});
  while (r.ok()) {
    blocks.push_back(*r);
    r = pool.try_allocate(Layout{400, 8});
  }
  EXPECT_EQ(r.error(), Error::out_of_memory);
  EXPECT_EQ(this->slab.stats().bytes_free, 0u);
  const Stats full = pool.stats();
  EXPECT_FALSE(pool.try_allocate(Layout{400, 8}).ok());
  EXPECT_EQ(pool.stats().live, full.live);
  EXPECT_EQ(pool.stats().bytes_in_use, full.bytes_in_use);
  EXPECT_EQ(pool.reserved_bytes(), 64u * 1024);  // every unit: the bitmap is in the Slab
  // Objects larger than any hunk the heap can give are oversized, not a crash.
  EXPECT_EQ(pool.try_allocate(Layout{4096, 8}).error(), Error::oversized);
  for (const Block& b : blocks) ASSERT_EQ(pool.try_deallocate(b), Error::none);
  EXPECT_EQ(pool.stats().live, 0u);
  const Result<Block> again = pool.try_allocate(Layout{400, 8});
  ASSERT_TRUE(again.ok()) << to_string(again.error());
  EXPECT_EQ(pool.try_deallocate(*again), Error::none);
}

TYPED_TEST(PoolTest, ZeroSizeAndResize) {
  Pool<typename TestFixture::Upstream, TypeParam> pool(this->slab, 1024);
  const Block z = *pool.try_allocate(Layout{0, 16});
  EXPECT_EQ(z.size, 0u);
  EXPECT_EQ(pool.stats().live, 1u);
  const Block a = *pool.try_allocate(Layout{16, 8});
  const Result<Block> grown = hold_resize(a, Layout{200, 8});
  ASSERT_TRUE(grown.ok());
  EXPECT_EQ(grown->ptr, a.ptr);
  EXPECT_EQ(pool.stats().bytes_in_use, 200u);
  EXPECT_EQ(hold_resize(*grown, Layout{2000, 8}).error(), Error::out_of_memory);
  EXPECT_EQ(hold_deallocate(*grown), Error::none);
  EXPECT_EQ(hold_deallocate(z), Error::none);
  EXPECT_EQ(hold_deallocate(z), Error::double_free);
  EXPECT_EQ(pool.stats().live, 0u);
}

// A hunk retired, reused as head and emptied there must reset, not retire: a
// "retire if empty" step separate from the free once put the head on the spare
// list, and trim() then gave the head back to the heap (found by test_stress).
TEST(Pool, ARecycledHeadIsNeverRetired) {
  Slab<> slab(Block{g_arena, sizeof g_arena}, 128);
  Pool<Slab<>> pool(slab, 128);  // 64 bytes of objects per hunk: one 48-byte object
  const Layout one{48, 8};
  const Block a = *pool.try_allocate(one);   // hunk 1 (head)
  const Block b = *pool.try_allocate(one);   // hunk 2 becomes head
  ASSERT_EQ(pool.try_deallocate(a), Error::none);  // hunk 1 empties: retired
  EXPECT_EQ(pool.hunk_count(), 2u);
  const Block c = *pool.try_allocate(one);   // hunk 1 comes back from the spares as head
  EXPECT_EQ(static_cast<std::byte*>(c.ptr), static_cast<std::byte*>(a.ptr));
  EXPECT_EQ(pool.hunk_count(), 2u) << "the spare was reused, the heap not asked";
  ASSERT_EQ(pool.try_deallocate(c), Error::none);  // the head empties: it resets
  ASSERT_EQ(pool.try_deallocate(b), Error::none);  // hunk 2, no longer head: retired
  pool.trim();
  EXPECT_EQ(pool.hunk_count(), 1u) << "only the spare goes back; the head stays";
  EXPECT_EQ(slab.stats().live, 1u);
  const Block d = *pool.try_allocate(one);
  EXPECT_EQ(d.ptr, a.ptr) << "the head is still in service";
  ASSERT_EQ(pool.try_deallocate(d), Error::none);
}

// A heap that returns exactly the bytes asked for: a hunk for an object larger than
// the hunk size must include the alignment padding (found by test_stress).
TEST(Pool, OversizedObjectsGetHunksWithRoomForTheirAlignment) {
  SourceHeap<StaticRegion<>> exact(Block{g_arena, sizeof g_arena});
  Pool<SourceHeap<StaticRegion<>>> pool(exact, 256);
  for (std::size_t align = 8; align <= 256; align *= 2) {
    const Result<Block> r = pool.try_allocate(Layout{1000, align});
    ASSERT_TRUE(r.ok()) << "align " << align << ": " << to_string(r.error());
    EXPECT_EQ(r->address() % align, 0u);
    ASSERT_EQ(pool.try_deallocate(*r), Error::none);
  }
}

TEST(Pool, DestructionWithLiveObjectsReportsALeakAndKeepsTheirHunk) {
  static std::size_t leaked_pools = 0, leaked_objects = 0;
  leaked_pools = leaked_objects = 0;
  const leak_handler previous = set_leak_handler([](const LeakReport& r) {
    if (std::string(r.allocator) == "Pool") {
      ++leaked_pools;
      leaked_objects = r.stats.live;
    }
  });
  Slab<> slab(Block{g_arena, sizeof g_arena}, 1024);
  Block kept{};
  {
    Pool<Slab<>> pool(slab, 1024);
    kept = *pool.try_allocate(Layout{64, 8});
    ASSERT_TRUE(pool.try_allocate(Layout{64, 8}).ok());
  }
  EXPECT_EQ(leaked_pools, 1u);
  EXPECT_EQ(leaked_objects, 2u);
  EXPECT_EQ(slab.stats().live, 1u) << "the hunk holding leaked objects is not given back";
  EXPECT_EQ(slab.try_deallocate(Block{static_cast<std::byte*>(kept.ptr) - 72, 1024}),
            Error::none);
  set_leak_handler(previous);
}

// Threads racing for the first object of a Pool whose heap holds one hunk: one
// draws it and installs it as head, the others find the heap dry. They must look at
// the new head before calling it out_of_memory: every object fits in that hunk.
bool inside(const void* p, const std::byte* base, std::size_t bytes) {
  const auto a = reinterpret_cast<std::uintptr_t>(p);
  const auto b = reinterpret_cast<std::uintptr_t>(base);
  return a >= b && a < b + bytes;
}

// Four threads race for a Pool whose heap holds one hunk: one draws it, the others
// find the heap dry while its grow is in flight. None is told out_of_memory (the
// hunk has room for all four); one that waits past its bound is told contended.
TEST(Pool, ThreadsRacingForTheLastHunkAreNeverToldOutOfMemory) {
  alignas(4096) static std::byte one_hunk[4096];
  const testing::LastHunkRace race =
      testing::race_for_the_last_hunk<Pool<Slab<concurrent, false>, concurrent, false>>(
          one_hunk, sizeof one_hunk, Layout{64, 8}, 300, std::size_t(4096));
  EXPECT_EQ(race.out_of_memory, 0) << "allocations told out_of_memory while the last hunk had room";
  RecordProperty("contended", race.contended);  // a wait past its bound: legitimate, rare
}

// A Slab that calls the test's hooks before and after each draw (or dry answer): to
// hold one thread between its draw and its install, or one that found the Slab dry,
// or to throw.
struct HookedSlab {
  Slab<concurrent, false> inner;
  std::function<void(const Result<Block>&)> after;
  std::function<void()> before = nullptr;
  Result<Block> try_allocate(Layout l) {
    if (before) before();
    const Result<Block> r = inner.try_allocate(l);
    if (after) after(r);
    return r;
  }
  Error try_deallocate(Block b) { return inner.try_deallocate(b); }
  Stats stats() const { return inner.stats(); }
};

// Wait for a flag another thread of the test sets; false after 30 s (a hang is a failure).
bool wait_for(const std::atomic<bool>& flag) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!flag.load()) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::yield();
  }
  return true;
}

// An exhausted Pool: A's draw from the dry heap is slow to fail (it is held inside
// the heap until B has answered). B, which finds the heap dry meanwhile, is told
// out_of_memory after a short wait: a grow still looking is as likely to fail as
// B's own, and only a grow that found a hunk is waited for (and contended if it
// does not come). Exhaustion stays out_of_memory however many threads probe it.
TEST(Pool, AnExhaustedPoolIsOutOfMemoryWhileAnotherThreadsDrawIsSlowToFail) {
  alignas(4096) static std::byte one_hunk[4096];
  HookedSlab heap{Slab<concurrent, false>(Block{one_hunk, sizeof one_hunk}, 4096), {}};
  Pool<HookedSlab, concurrent, false> pool(heap, 4096);
  std::vector<Block> fill;
  Result<Block> r = Error::none;
  while ((r = pool.try_allocate(Layout{512, 8}))) fill.push_back(*r);
  ASSERT_EQ(r.error(), Error::out_of_memory) << to_string(r.error());
  std::atomic<bool> a_drawing{false}, b_answered{false}, a_waited{true};
  std::atomic<std::thread::id> slow{};
  heap.after = [&](const Result<Block>&) {
    if (std::this_thread::get_id() != slow.load()) return;
    a_drawing.store(true);
    a_waited.store(wait_for(b_answered));
  };
  Result<Block> a = Error::none;
  std::thread grower([&] {
    slow.store(std::this_thread::get_id());
    a = pool.try_allocate(Layout{512, 8});
  });
  ASSERT_TRUE(wait_for(a_drawing));
  const Result<Block> b = pool.try_allocate(Layout{512, 8});
  b_answered.store(true);
  grower.join();
  ASSERT_TRUE(a_waited.load());
  ASSERT_FALSE(b);
  EXPECT_EQ(b.error(), Error::out_of_memory) << to_string(b.error());
  ASSERT_FALSE(a);
  EXPECT_EQ(a.error(), Error::out_of_memory) << to_string(a.error());
  for (const Block& f : fill) EXPECT_EQ(pool.try_deallocate(f), Error::none);
}

// B finds the heap dry while A's grow is in flight and is held until A's allocation
// has returned: B then takes A's new head, it is not told out_of_memory.
TEST(Pool, ADryHeapAfterAnotherThreadsGrowIsServedFromItsNewHead) {
  alignas(4096) static std::byte one_hunk[4096];
  HookedSlab heap{Slab<concurrent, false>(Block{one_hunk, sizeof one_hunk}, 4096), {}};
  Pool<HookedSlab, concurrent, false> pool(heap, 4096);
  std::atomic<bool> a_drew{false}, b_dry{false}, a_done{false}, waits_ok{true};
  heap.after = [&](const Result<Block>& r) {
    if (r) {
      a_drew.store(true);
      if (!wait_for(b_dry)) waits_ok.store(false);
    } else {
      b_dry.store(true);
      if (!wait_for(a_done)) waits_ok.store(false);
    }
  };
  Result<Block> a = Error::none;
  std::thread grower([&] {
    a = pool.try_allocate(Layout{64, 8});
    a_done.store(true);
  });
  ASSERT_TRUE(wait_for(a_drew));
  const Result<Block> b = pool.try_allocate(Layout{64, 8});
  grower.join();
  ASSERT_TRUE(waits_ok.load());
  ASSERT_TRUE(a) << to_string(a.error());
  ASSERT_TRUE(b) << to_string(b.error());
  EXPECT_TRUE(inside(b->ptr, one_hunk, sizeof one_hunk));
  EXPECT_NE(a->ptr, b->ptr);
  EXPECT_EQ(pool.hunk_count(), 1u);
  // Both freed; a third allocation alone, with the heap dry and nobody growing,
  // still fits in the hunk; then fill it: the one that does not fit is out_of_memory.
  EXPECT_EQ(pool.try_deallocate(*a), Error::none);
  EXPECT_EQ(pool.try_deallocate(*b), Error::none);
  heap.after = nullptr;
  std::vector<Block> fill;
  Result<Block> r = Error::none;
  while ((r = pool.try_allocate(Layout{512, 8}))) fill.push_back(*r);
  EXPECT_EQ(r.error(), Error::out_of_memory) << to_string(r.error());
  EXPECT_FALSE(fill.empty());
  for (const Block& f : fill) EXPECT_EQ(pool.try_deallocate(f), Error::none);
}

// Two hunks, the head full, the other retired to the spare list, the heap dry: four
// threads race, one pops the spare and installs it, the others find no spare and
// the heap dry while it does. None is told out_of_memory (the spare has room).
TEST(Pool, ThreadsRacingForTheLastSpareAreNeverToldOutOfMemory) {
  alignas(4096) static std::byte two_hunks[2 * 4096];
  int out_of_memory = 0;
  int contended = 0;
  for (int round = 0; round < 1000; ++round) {
    Slab<concurrent, false> slab(Block{two_hunks, sizeof two_hunks}, 4096);
    Pool<Slab<concurrent, false>, concurrent, false> pool(slab, 4096);
    std::vector<Block> live;
    Result<Block> r = Error::none;
    while ((r = pool.try_allocate(Layout{64, 8}))) live.push_back(*r);
    ASSERT_EQ(r.error(), Error::out_of_memory);
    ASSERT_EQ(pool.hunk_count(), 2u);
    // Free every object of the first hunk (not the head): it retires to the spares.
    const auto first_hunk = reinterpret_cast<const std::byte*>(
        reinterpret_cast<std::uintptr_t>(live.front().ptr) & ~std::uintptr_t(4095));
    std::vector<Block> rest;
    for (const Block& b : live) {
      if (inside(b.ptr, first_hunk, 4096)) {
        ASSERT_EQ(pool.try_deallocate(b), Error::none);
      } else {
        rest.push_back(b);
      }
    }
    for (const Result<Block>& b : testing::four_racers(pool, Layout{64, 8})) {
      if (b) {
        EXPECT_TRUE(inside(b->ptr, first_hunk, 4096));
        rest.push_back(*b);
      } else {
        out_of_memory += b.error() == Error::out_of_memory;
        contended += b.error() == Error::contended;
      }
    }
    for (const Block& b : rest) EXPECT_EQ(pool.try_deallocate(b), Error::none);
  }
  EXPECT_EQ(out_of_memory, 0) << "told out_of_memory while a spare with room was being installed";
  RecordProperty("contended", contended);
}

// A heap that throws from try_allocate (the heap concept does not forbid it): the
// grow it interrupted is no longer counted, so a later exhaustion, with nobody
// growing, is out_of_memory at once, not contended after a wait.
TEST(Pool, AHeapThatThrowsLeavesNoGrowCounted) {
  alignas(4096) static std::byte one_hunk[4096];
  HookedSlab heap{Slab<concurrent, false>(Block{one_hunk, sizeof one_hunk}, 4096), {}};
  Pool<HookedSlab, concurrent, false> pool(heap, 4096);
  heap.before = [] { throw std::runtime_error("the heap's own failure"); };
  EXPECT_THROW((void)pool.try_allocate(Layout{64, 8}), std::runtime_error);
  heap.before = nullptr;
  std::vector<Block> fill;
  Result<Block> r = Error::none;
  while ((r = pool.try_allocate(Layout{512, 8}))) fill.push_back(*r);
  EXPECT_EQ(r.error(), Error::out_of_memory) << to_string(r.error());
  for (const Block& f : fill) EXPECT_EQ(pool.try_deallocate(f), Error::none);
}

}  // namespace
}  // namespace swim::mem
