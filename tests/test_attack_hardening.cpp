// Adversarial probes of the hardening work: poisoned arenas, checked frees of
// garbage, walk()/stats() in odd states.
#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <map>
#include <thread>
#include <vector>

#include "support/arena.hpp"
#include "swim/mem.hpp"

namespace swim::mem {
namespace {

using testing::Arena;

void scribble(Block b, std::size_t n) {
  auto* p = static_cast<volatile unsigned char*>(b.ptr);
  for (std::size_t i = 0; i < n; ++i) p[i] = static_cast<unsigned char>(i);
}
void scribble(Block b) { scribble(b, b.size); }

/// Regions of one walk tile each base contiguously, none empty.
template <class A>
::testing::AssertionResult tiles(const A& a) {
  std::map<const void*, std::size_t> next;
  std::string err;
  a.walk([&](const Region& r) {
    if (r.size == 0) err += "empty region; ";
    auto it = next.find(r.base);
    const std::size_t want = it == next.end() ? 0 : it->second;
    if (r.offset != want && err.empty()) {
      err += "gap/overlap at offset " + std::to_string(r.offset) + " want " + std::to_string(want) + "; ";
    }
    next[r.base] = r.offset + r.size;
  });
  if (!err.empty()) return ::testing::AssertionFailure() << err;
  return ::testing::AssertionSuccess();
}

// ---- 1. false positives --------------------------------------------------------

TEST(AttackHardening, SlabOddUnitsFullUse) {
  for (std::size_t unit : {4u, 12u, 20u, 28u, 36u, 44u}) {
    Arena arena(4096 + 3);
    Slab<concurrent, true> slab(Block{arena.ptr + 4, 4000}, unit);
    ASSERT_EQ(slab.init_error(), Error::none) << unit;
    std::vector<Block> v;
    for (;;) {
      auto r = slab.try_allocate(Layout{unit, 4});
      if (!r) break;
      scribble(*r);
      v.push_back(*r);
    }
    for (std::size_t i = 0; i < v.size(); i += 2) ASSERT_EQ(slab.try_deallocate(v[i]), Error::none);
    for (std::size_t i = 1; i < v.size(); i += 2) scribble(v[i]);
    for (std::size_t i = 0; i < v.size(); i += 2) {
      v[i] = slab.try_allocate(Layout{unit, 4}).take();
      scribble(v[i]);
    }
    EXPECT_TRUE(tiles(slab));
    for (auto& b : v) ASSERT_EQ(slab.try_deallocate(b), Error::none);
  }
}

TEST(AttackHardening, SlabCacheOverSingleOwnerSlabOddUnit) {
  Arena arena(8192);
  Slab<single_owner, true> slab(arena.block(), 20);
  {
    SlabCache<Slab<single_owner, true>, 8> cache(slab);
    std::vector<Block> v;
    for (int i = 0; i < 50; ++i) {
      v.push_back(cache.try_allocate(Layout{20, 4}).take());
      scribble(v.back());
    }
    for (std::size_t i = 0; i < v.size(); i += 2) ASSERT_EQ(cache.try_deallocate(v[i]), Error::none);
    for (std::size_t i = 1; i < v.size(); i += 2) scribble(v[i]);
    for (std::size_t i = 1; i < v.size(); i += 2) ASSERT_EQ(slab.try_deallocate(v[i]), Error::none);
  }
  auto b = slab.try_allocate(Layout{20, 4}).take();
  scribble(b);
  ASSERT_EQ(slab.try_deallocate(b), Error::none);
}

TEST(AttackHardening, PackAndPoolAlignedAndResized) {
  Arena arena(1 << 20);
  Pack<> pack(Block{arena.ptr, 256 * 1024});
  for (std::size_t align = 16; align <= 4096; align *= 2) {
    Block a = pack.try_allocate(Layout{24, align}).take();
    scribble(a);
    auto g = pack.try_resize(a, Layout{200, 8});
    ASSERT_TRUE(g);
    scribble(*g);
    auto s = pack.try_resize(*g, Layout{12, 8});
    ASSERT_TRUE(s);
    scribble(*s);
    auto g2 = pack.try_resize(*s, Layout{64, 8});
    ASSERT_TRUE(g2);
    scribble(*g2);
    // zero-size aligned past 64
    Block z = pack.try_allocate(Layout{0, align}).take();
    ASSERT_EQ(pack.try_deallocate(z), Error::none);
    ASSERT_EQ(pack.try_deallocate(*g2), Error::none);
  }
  AddrSpace<concurrent, true> heap(Block{arena.ptr + 256 * 1024, 512 * 1024}, 4096);
  Pool<AddrSpace<concurrent, true>> pool(heap, 16 * 1024);
  std::vector<Block> keep;
  for (std::size_t align = 8; align <= 4096; align *= 2) {
    Block a = pool.try_allocate(Layout{40, align}).take();
    scribble(a);
    auto g = pool.try_resize(a, Layout{300, 8});
    if (g) { scribble(*g); a = *g; }
    auto s = pool.try_resize(a, Layout{16, 8});
    ASSERT_TRUE(s);
    scribble(*s);
    keep.push_back(*s);
    Block z = pool.try_allocate(Layout{0, align}).take();
    keep.push_back(z);
  }
  for (auto& b : keep) ASSERT_EQ(pool.try_deallocate(b), Error::none);
  pool.trim();
  EXPECT_TRUE(tiles(pool));
  Block again = pool.try_allocate(Layout{100, 8}).take();
  scribble(again);
  ASSERT_EQ(pool.try_deallocate(again), Error::none);
}

TEST(AttackHardening, SizeClassesAlignedReallocateAndTrim) {
  Arena arena(8 << 20);
  ExtentHeap<concurrent> heap(arena.block(), 4096);
  SizeClasses<ExtentHeap<concurrent>> hold(heap);
  std::vector<Block> v;
  for (std::size_t align = 8; align <= 4096; align *= 2) {
    for (std::size_t size : {1u, 24u, 100u, 3000u, 40000u}) {
      auto r = hold.try_allocate(Layout{size, align});
      ASSERT_TRUE(r) << size << " " << align;
      scribble(*r);
      v.push_back(*r);
    }
  }
  HoldRef ref = HoldRef::of(hold);
  for (auto& b : v) {
    auto r = ref.try_reallocate(b, Layout{b.size * 2 + 8, 8});
    ASSERT_TRUE(r);
    scribble(*r);
    auto s = ref.try_reallocate(*r, Layout{8, 8});
    ASSERT_TRUE(s);
    scribble(*s);
    b = *s;
  }
  for (auto& b : v) ASSERT_EQ(hold.try_deallocate(b), Error::none);
  hold.trim();
  EXPECT_TRUE(tiles(hold));
  for (int i = 0; i < 3; ++i) {
    Block b = hold.try_allocate(Layout{50000, 8}).take();
    scribble(b);
    ASSERT_EQ(hold.try_deallocate(b), Error::none);
  }
}

TEST(AttackHardening, TryMallocAcrossThreads) {
  std::vector<void*> ps;
  std::thread t([&] {
    for (int i = 0; i < 200; ++i) {
      Block b = try_malloc(24 + (i % 7) * 40).take();
      scribble(b, 24 + (i % 7) * 40);
      ps.push_back(b.ptr);
    }
  });
  t.join();
  std::thread u([&] {
    for (void* p : ps) ASSERT_EQ(try_free(p), Error::none);
    for (int i = 0; i < 200; ++i) {
      Block b = try_malloc(24 + (i % 7) * 40).take();
      scribble(b, 24 + (i % 7) * 40);
      ASSERT_EQ(try_free_checked(b.ptr), Error::none);
    }
  });
  u.join();
  for (int i = 0; i < 400; ++i) {
    Block b = try_malloc(24 + (i % 7) * 40).take();
    scribble(b, 24 + (i % 7) * 40);
    ASSERT_EQ(try_free(b.ptr), Error::none);
  }
}

TEST(AttackHardening, HeapReusedAfterAnother) {
  Arena arena(1 << 20);
  {
    Pack<> pack(arena.block());
    Block b = pack.try_allocate(Layout{64, 8}).take();
    ASSERT_EQ(pack.try_deallocate(b), Error::none);
  }
  {
    AddrSpace<concurrent, true> s(arena.block(), 4096);
  }
  {
    ExtentHeap<concurrent> e(Block{arena.ptr + 8, arena.size - 8}, 4096);
  }
  scribble(arena.block());
}

// ---- 3. checked frees of garbage -----------------------------------------------

struct Garbage {
  Arena arena{4 << 20};
  ExtentHeap<concurrent> heap{Block{arena.ptr, 2 << 20}, 4096};
  SizeClasses<ExtentHeap<concurrent>> hold{heap};
  AddrSpace<concurrent, true> space{Block{arena.ptr + (2 << 20), 1 << 20}, 4096};
  Pool<AddrSpace<concurrent, true>> pool{space, 16 * 1024};
  Pack<> pack{Block{arena.ptr + (3 << 20), 1 << 20}};
  Block hb, hl, pb, kb;
  std::vector<Block> garbage;
  Garbage() {
    hb = hold.try_allocate(Layout{100, 8}).take();
    hl = hold.try_allocate(Layout{50000, 8}).take();
    pb = pool.try_allocate(Layout{100, 8}).take();
    kb = pack.try_allocate(Layout{100, 8}).take();
    for (Block b : {hb, hl, pb, kb}) {
      auto* c = static_cast<std::byte*>(b.ptr);
      for (std::ptrdiff_t d : {8, 16, 3, 4, -8, 4096, 64 * 1024}) garbage.push_back(Block{c + d, 8});
      garbage.push_back(Block{c + b.size + 8, 8});
      garbage.push_back(Block{c + b.size + 64, 8});
    }
  }
  ~Garbage() {
    EXPECT_EQ(hold.try_deallocate(hb), Error::none);
    EXPECT_EQ(hold.try_deallocate(hl), Error::none);
    EXPECT_EQ(pool.try_deallocate(pb), Error::none);
    EXPECT_EQ(pack.try_deallocate(kb), Error::none);
  }
};

#define GARBAGE_TEST(Name, expr)                                     \
  TEST(AttackHardening, GarbageFree##Name) {                        \
    Garbage G;                                                      \
    for (const Block& g : G.garbage) EXPECT_NE((expr), Error::none); \
  }
GARBAGE_TEST(SizeClasses, G.hold.try_deallocate(g))
GARBAGE_TEST(Pool, G.pool.try_deallocate(g))
GARBAGE_TEST(Pack, G.pack.try_deallocate(g))
GARBAGE_TEST(HoldRefSizeClasses, HoldRef::of(G.hold).try_deallocate(g))
GARBAGE_TEST(HoldRefPool, HoldRef::of(G.pool).try_deallocate(g))
GARBAGE_TEST(HoldRefPack, HoldRef::of(G.pack).try_deallocate(g))

// docs/misuse.md: try_free_checked answers foreign_pointer "for any pointer whose
// preceding word is readable". A pointer into another hold's free (poisoned) room
// is readable program memory, yet src/process_hold.cpp:412 reads the word in
// front with an ordinary (instrumented) load instead of detail::peek_tag, so ASan
// reports use-after-poison. The process hold must exist (one try_malloc) for the
// read to happen at all.
TEST(AttackHardening, TryFreeCheckedOfAPointerIntoAnotherHoldsFreeRoomIsForeign) {
  ASSERT_EQ(try_free(try_malloc(32).take().ptr), Error::none);
  Arena arena(1 << 20);
  Pack<> pack(arena.block());
  const Block a = pack.try_allocate(Layout{64, 8}).take();
  // 128 bytes past a: free room of the Pack, never handed out (poisoned).
  EXPECT_EQ(try_free_checked(static_cast<std::byte*>(a.ptr) + 128), Error::foreign_pointer);
  ASSERT_EQ(pack.try_deallocate(a), Error::none);
}
GARBAGE_TEST(TryFreeChecked, (try_free(try_malloc(32).take().ptr), try_free_checked(g.ptr)))
GARBAGE_TEST(PoolResize, G.pool.try_resize(g, Layout{16, 8}).error())
GARBAGE_TEST(PackResize, G.pack.try_resize(g, Layout{16, 8}).error())
GARBAGE_TEST(SizeClassesResize, G.hold.try_resize(g, Layout{16, 8}).error())

TEST(AttackHardening, FreedObjectsAgainAreErrors) {
  Garbage G;
  Block hl = G.hl, hb = G.hb, pb = G.pb;
  ASSERT_EQ(G.hold.try_deallocate(hl), Error::none);
  ASSERT_EQ(G.hold.try_deallocate(hb), Error::none);
  ASSERT_EQ(G.pool.try_deallocate(pb), Error::none);
  EXPECT_NE(G.hold.try_deallocate(hl), Error::none);
  EXPECT_NE(HoldRef::of(G.hold).try_deallocate(hl), Error::none);
  EXPECT_NE(HoldRef::of(G.hold).try_reallocate(hl, Layout{8, 8}).error(), Error::none);
  EXPECT_NE(HoldRef::of(G.hold).try_reallocate(hb, Layout{8, 8}).error(), Error::none);
  EXPECT_NE(HoldRef::of(G.pool).try_reallocate(pb, Layout{8, 8}).error(), Error::none);
  EXPECT_NE(try_free_checked(hl.ptr), Error::none);
  EXPECT_NE(try_free_checked(hb.ptr), Error::none);
  G.hl = G.hold.try_allocate(Layout{50000, 8}).take();
  G.hb = G.hold.try_allocate(Layout{100, 8}).take();
  G.pb = G.pool.try_allocate(Layout{100, 8}).take();
}

// ---- 4. walk()/stats() in odd states -------------------------------------------

TEST(AttackHardening, WalksInOddStates) {
  Arena arena(1 << 20);
  {
    Slab<concurrent, true> bad(arena.block(), 3);
    EXPECT_NE(bad.init_error(), Error::none);
    EXPECT_TRUE(tiles(bad));
    (void)bad.stats();
  }
  {
    Slab<concurrent, true> tiny(Block{arena.ptr, 2}, 4);
    EXPECT_TRUE(tiles(tiny));
    (void)tiny.stats();
  }
  {
    AddrSpace<concurrent, true> bad(Block{arena.ptr, 100}, 4096);
    EXPECT_TRUE(tiles(bad));
    (void)fragmentation(bad.stats());
  }
  {
    ExtentHeap<concurrent> bad(Block{arena.ptr, 100}, 4096);
    EXPECT_TRUE(tiles(bad));
    (void)fragmentation(bad.stats());
  }
  {
    Pack<> bad(Block{arena.ptr + 1, 6});
    EXPECT_TRUE(tiles(bad));
    (void)fragmentation(bad.stats());
  }
  {
    ExtentHeap<concurrent> heap(Block{arena.ptr, 64 * 1024}, 4096);
    std::vector<Block> v;
    for (;;) {
      auto r = heap.try_allocate(Layout{4096, 8});
      if (!r) break;
      v.push_back(*r);
    }
    EXPECT_TRUE(tiles(heap));
    EXPECT_EQ(heap.stats().largest_free, 0u);
    for (auto& b : v) ASSERT_EQ(heap.try_deallocate(b), Error::none);
  }
  {
    AddrSpace<concurrent, true> heap(Block{arena.ptr, 256 * 1024}, 4096);
    Pool<AddrSpace<concurrent, true>> pool(heap, 16 * 1024);
    EXPECT_TRUE(tiles(pool));
    (void)fragmentation(pool.stats());
    SizeClasses<AddrSpace<concurrent, true>> sc(heap);
    EXPECT_TRUE(tiles(sc));
    (void)fragmentation(sc.stats());
    std::vector<Block> v;
    for (;;) {
      auto r = pool.try_allocate(Layout{1000, 8});
      if (!r) break;
      v.push_back(*r);
    }
    EXPECT_TRUE(tiles(pool));
    EXPECT_TRUE(tiles(sc));
    EXPECT_TRUE(tiles(heap));
    for (auto& b : v) ASSERT_EQ(pool.try_deallocate(b), Error::none);
    pool.trim();
    sc.trim();
    EXPECT_TRUE(tiles(pool));
    EXPECT_TRUE(tiles(heap));
  }
}

}  // namespace
}  // namespace swim::mem
