// ExtentHeap (include/swim/mem/heaps/extent_heap.hpp): exact extents, coalescing,
// alignment, exact validation, metadata apart from a range that is never touched
// (the range is mprotect'ed PROT_NONE), and many threads through the try-lock.
#include <gtest/gtest.h>

#include <sys/mman.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <map>
#include <random>
#include <thread>
#include <vector>

#include "support/arena.hpp"
#include "swim/mem.hpp"

namespace swim::mem::testing {
namespace {

constexpr std::size_t kGranule = 4096;

template <class Mode>
class ExtentHeapTest : public ::testing::Test {};
using Modes = ::testing::Types<concurrent, single_owner>;
TYPED_TEST_SUITE(ExtentHeapTest, Modes);

// A range of `bytes` that faults on any touch, with out-of-band records beside it.
struct Untouchable {
  explicit Untouchable(std::size_t bytes)
      : size(bytes),
        ptr(::mmap(nullptr, bytes, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)),
        records(ExtentHeap<>::metadata_bytes(bytes, kGranule) / 16 + 1) {}
  ~Untouchable() { ::munmap(ptr, size); }
  Block range() const { return Block{ptr, size}; }
  Block metadata() { return Block{records.data(), records.size() * 16}; }
  std::size_t size;
  void* ptr;
  std::vector<detail::ExtentRecord> records;
};

TYPED_TEST(ExtentHeapTest, ExtentsAreExactAndCoalesce) {
  Untouchable u(256 * kGranule);
  ASSERT_NE(u.ptr, MAP_FAILED);
  ExtentHeap<TypeParam> heap(u.range(), kGranule, u.metadata());
  ASSERT_EQ(heap.init_error(), Error::none);
  EXPECT_FALSE(heap.in_band());
  EXPECT_EQ(heap.capacity(), 256 * kGranule);
  // 65 granules take 65 granules, not 128; a byte over a granule takes two.
  const Block a = *heap.try_allocate(Layout{65 * kGranule, 8});
  EXPECT_EQ(a.size, 65 * kGranule);
  const Block b = *heap.try_allocate(Layout{kGranule + 1, 8});
  EXPECT_EQ(b.size, 2 * kGranule);
  const Block c = *heap.try_allocate(Layout{10, 8});
  EXPECT_EQ(c.size, kGranule);
  EXPECT_EQ(heap.stats().live, 3u);
  EXPECT_EQ(heap.stats().bytes_in_use, 68 * kGranule);
  EXPECT_EQ(heap.stats().bytes_free, 188 * kGranule);
  EXPECT_EQ(*heap.largest_free_extent(), 188 * kGranule);
  // Free the middle, then its neighbours: one extent again, whatever the order.
  EXPECT_EQ(heap.try_deallocate(b), Error::none);
  EXPECT_EQ(*heap.largest_free_extent(), 188 * kGranule) << "b is not next to the tail";
  EXPECT_EQ(heap.try_deallocate(a), Error::none);
  EXPECT_EQ(*heap.largest_free_extent(), 188 * kGranule);
  EXPECT_EQ(heap.try_deallocate(c), Error::none);
  EXPECT_EQ(*heap.largest_free_extent(), 256 * kGranule) << "all coalesced";
  const Block all = *heap.try_allocate(Layout{256 * kGranule, 8});
  EXPECT_EQ(all.ptr, u.ptr);
  EXPECT_EQ(heap.try_allocate(Layout{1, 1}).error(), Error::out_of_memory);
  EXPECT_EQ(heap.try_deallocate(all), Error::none);
  EXPECT_EQ(heap.stats().peak_bytes, 256 * kGranule);
}

// Of the free extents that fit, the shortest is taken (among the first 16 of the
// request's list), so that longer ones stay whole for longer requests.
TYPED_TEST(ExtentHeapTest, TheShortestFitIsTaken) {
  Untouchable u(4096 * kGranule);
  ExtentHeap<TypeParam> heap(u.range(), kGranule, u.metadata());
  // [1000 free][used][1020 free][used][rest free]: 1000 and 1020 share a list.
  const Block a = *heap.try_allocate(Layout{1000 * kGranule, 8});
  const Block s1 = *heap.try_allocate(Layout{kGranule, 8});
  const Block b = *heap.try_allocate(Layout{1020 * kGranule, 8});
  const Block s2 = *heap.try_allocate(Layout{kGranule, 8});
  ASSERT_EQ(heap.try_deallocate(a), Error::none);
  ASSERT_EQ(heap.try_deallocate(b), Error::none);  // now first on the shared list
  const Block c = *heap.try_allocate(Layout{995 * kGranule, 8});
  EXPECT_EQ(c.ptr, a.ptr) << "the 1000-granule extent, not the 1020 one";
  const Block d = *heap.try_allocate(Layout{1010 * kGranule, 8});
  EXPECT_EQ(d.ptr, b.ptr) << "which still fits 1010";
  for (const Block x : {c, d, s1, s2}) ASSERT_EQ(heap.try_deallocate(x), Error::none);
  EXPECT_EQ(*heap.largest_free_extent(), heap.capacity());
}

TYPED_TEST(ExtentHeapTest, AlignmentsAboveTheGranule) {
  Untouchable u(1024 * kGranule);
  ExtentHeap<TypeParam> heap(u.range(), kGranule, u.metadata());
  const Block one = *heap.try_allocate(Layout{kGranule, 8});  // the range is now odd
  for (std::size_t align = kGranule; align <= 128 * kGranule; align *= 2) {
    const Result<Block> r = heap.try_allocate(Layout{3 * kGranule, align});
    ASSERT_TRUE(r.ok()) << align << ": " << to_string(r.error());
    EXPECT_EQ(r->address() % align, 0u) << align;
    EXPECT_EQ(r->size, 3 * kGranule) << "the lead went back free";
    EXPECT_EQ(heap.try_deallocate(*r), Error::none);
  }
  EXPECT_EQ(heap.try_deallocate(one), Error::none);
  EXPECT_EQ(*heap.largest_free_extent(), 1024 * kGranule);
  EXPECT_EQ(heap.try_allocate(Layout{kGranule, 3}).error(), Error::misaligned);
  EXPECT_EQ(heap.try_allocate(Layout{kGranule, 0}).error(), Error::misaligned);
}

TYPED_TEST(ExtentHeapTest, EveryBadFreeIsRefusedAndChangesNothing) {
  Untouchable u(64 * kGranule);
  ExtentHeap<TypeParam> heap(u.range(), kGranule, u.metadata());
  const Block a = *heap.try_allocate(Layout{4 * kGranule, 8});
  const Block b = *heap.try_allocate(Layout{2 * kGranule, 8});
  const Stats before = heap.stats();
  auto* base = static_cast<std::byte*>(a.ptr);
  EXPECT_EQ(heap.try_deallocate(Block{base + kGranule, kGranule}), Error::foreign_pointer)
      << "interior";
  EXPECT_EQ(heap.try_deallocate(Block{base + 8, 8}), Error::foreign_pointer) << "unaligned";
  EXPECT_EQ(heap.try_deallocate(Block{a.ptr, 2 * kGranule}), Error::foreign_pointer)
      << "wrong size (too small)";
  EXPECT_EQ(heap.try_deallocate(Block{a.ptr, 6 * kGranule}), Error::foreign_pointer)
      << "wrong size (covers b)";
  alignas(4096) static std::byte elsewhere[kGranule];
  EXPECT_EQ(heap.try_deallocate(Block{elsewhere, kGranule}), Error::foreign_pointer);
  EXPECT_EQ(heap.try_deallocate(Block{base + 60 * kGranule, kGranule}), Error::foreign_pointer)
      << "inside the free tail";
  const Stats after = heap.stats();
  EXPECT_EQ(after.live, before.live);
  EXPECT_EQ(after.bytes_in_use, before.bytes_in_use);
  EXPECT_EQ(after.bytes_free, before.bytes_free);
  EXPECT_EQ(heap.try_deallocate(Block{a.ptr, 4 * kGranule - 100}), Error::none)
      << "the size asked for is the same granules";
  EXPECT_EQ(heap.try_deallocate(a), Error::double_free);
  EXPECT_EQ(heap.try_deallocate(b), Error::none);
  EXPECT_EQ(heap.try_deallocate(b), Error::double_free);
  EXPECT_EQ(heap.stats().live, 0u);
}

TYPED_TEST(ExtentHeapTest, BadConstructionsGiveAnEmptyHeap) {
  Untouchable u(16 * kGranule);
  std::vector<detail::ExtentRecord> small(4);
  const Block none_meta{};
  for (const ExtentHeap<TypeParam>* h :
       {new ExtentHeap<TypeParam>(u.range(), kGranule, Block{small.data(), small.size() * 16}),
        new ExtentHeap<TypeParam>(u.range(), 3000, u.metadata()),
        new ExtentHeap<TypeParam>(u.range(), 8, u.metadata()),
        new ExtentHeap<TypeParam>(Block{nullptr, 4096}, kGranule, u.metadata()),
        new ExtentHeap<TypeParam>(u.range(), kGranule, none_meta),
        // the records inside the range itself
        new ExtentHeap<TypeParam>(u.range(), kGranule, u.range())}) {
    EXPECT_EQ(h->init_error(), Error::invalid_argument);
    EXPECT_EQ(h->capacity(), 0u);
    auto* heap = const_cast<ExtentHeap<TypeParam>*>(h);
    EXPECT_EQ(heap->try_allocate(Layout{8, 8}).error(), Error::out_of_memory);
    EXPECT_EQ(heap->try_deallocate(Block{u.ptr, kGranule}), Error::foreign_pointer);
    delete h;
  }
}

TYPED_TEST(ExtentHeapTest, InBandRecordsSitAtTheEnd) {
  Arena arena(1 << 20);
  ExtentHeap<TypeParam> heap(arena.block(), kGranule);
  ASSERT_EQ(heap.init_error(), Error::none);
  EXPECT_TRUE(heap.in_band());
  EXPECT_EQ(heap.capacity(), ((1u << 20) / (kGranule + 16)) * kGranule);
  const Block all = *heap.try_allocate(Layout{heap.capacity(), 8});
  EXPECT_EQ(all.ptr, arena.ptr);
  std::memset(all.ptr, 0xEE, all.size);  // the records are past it
  EXPECT_EQ(heap.try_deallocate(all), Error::none);
  EXPECT_EQ(*heap.largest_free_extent(), heap.capacity());
}

// Random sequences against a model of the granules, over a range that faults on any
// touch: the heap never reads or writes it.
TYPED_TEST(ExtentHeapTest, RandomSequencesNeverTouchTheRange) {
  constexpr std::size_t kGranules = 4096;
  Untouchable u(kGranules * kGranule);
  ExtentHeap<TypeParam> heap(u.range(), kGranule, u.metadata());
  std::vector<bool> used(kGranules, false);
  std::map<std::uintptr_t, Block> live;
  std::mt19937_64 rng(11);
  std::size_t in_use = 0;
  for (int step = 0; step < 200000; ++step) {
    if (live.empty() || rng() % 100 < 52) {
      const std::size_t size = 1 + rng() % (rng() % 8 == 0 ? 64 * kGranule : 4 * kGranule);
      const std::size_t align = kGranule << (rng() % 4 == 0 ? rng() % 5 : 0);
      const Stats before = heap.stats();
      const Result<Block> r = heap.try_allocate(Layout{size, align});
      if (!r) {
        ASSERT_EQ(r.error(), Error::out_of_memory) << step;
        ASSERT_EQ(heap.stats().bytes_in_use, before.bytes_in_use);
        continue;
      }
      ASSERT_EQ(r->address() % align, 0u);
      ASSERT_EQ(r->size, (size + kGranule - 1) / kGranule * kGranule);
      const std::size_t g = (r->address() - reinterpret_cast<std::uintptr_t>(u.ptr)) / kGranule;
      for (std::size_t i = g; i < g + r->size / kGranule; ++i) {
        ASSERT_FALSE(used[i]) << "overlap at granule " << i << ", step " << step;
        used[i] = true;
      }
      live.emplace(r->address(), *r);
      in_use += r->size;
    } else {
      auto it = live.begin();
      std::advance(it, static_cast<long>(rng() % live.size()));
      const Block b = it->second;
      ASSERT_EQ(heap.try_deallocate(b), Error::none) << step;
      const std::size_t g = (b.address() - reinterpret_cast<std::uintptr_t>(u.ptr)) / kGranule;
      for (std::size_t i = g; i < g + b.size / kGranule; ++i) used[i] = false;
      in_use -= b.size;
      live.erase(it);
    }
    ASSERT_EQ(heap.stats().live, live.size());
    ASSERT_EQ(heap.stats().bytes_in_use, in_use);
    ASSERT_EQ(heap.stats().bytes_free, heap.capacity() - in_use);
  }
  for (auto& [addr, b] : live) ASSERT_EQ(heap.try_deallocate(b), Error::none);
  EXPECT_EQ(*heap.largest_free_extent(), heap.capacity()) << "everything coalesced back";
}

TEST(ExtentHeapThreads, ConcurrentAllocateAndFreeNeverOverlap) {
  constexpr std::size_t kGranules = 2048;
  constexpr unsigned kThreads = 4;
  Untouchable u(kGranules * kGranule);
  ExtentHeap<concurrent> heap(u.range(), kGranule, u.metadata());
  std::vector<std::atomic<unsigned>> owner(kGranules);
  for (auto& o : owner) o.store(0);
  std::atomic<int> bad{0};
  std::vector<std::thread> threads;
  for (unsigned t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937_64 rng(t + 1);
      std::vector<Block> mine;
      for (int i = 0; i < 20000; ++i) {
        if (mine.size() < 8 && rng() % 2 == 0) {
          const Result<Block> r = heap.try_allocate(Layout{1 + rng() % (16 * kGranule), 8});
          if (!r) {
            if (r.error() != Error::out_of_memory && r.error() != Error::contended) ++bad;
            continue;
          }
          const std::size_t g = (r->address() - reinterpret_cast<std::uintptr_t>(u.ptr)) / kGranule;
          for (std::size_t k = g; k < g + r->size / kGranule; ++k) {
            unsigned expected = 0;
            if (!owner[k].compare_exchange_strong(expected, t + 1)) ++bad;
          }
          mine.push_back(*r);
        } else if (!mine.empty()) {
          const Block b = mine.back();
          const std::size_t g = (b.address() - reinterpret_cast<std::uintptr_t>(u.ptr)) / kGranule;
          for (std::size_t k = g; k < g + b.size / kGranule; ++k) owner[k].store(0);
          Error e = Error::contended;
          while (e == Error::contended) e = heap.try_deallocate(b);
          if (e != Error::none) ++bad;
          mine.pop_back();
        }
      }
      for (const Block& b : mine) {
        const std::size_t g = (b.address() - reinterpret_cast<std::uintptr_t>(u.ptr)) / kGranule;
        for (std::size_t k = g; k < g + b.size / kGranule; ++k) owner[k].store(0);
        Error e = Error::contended;
        while (e == Error::contended) e = heap.try_deallocate(b);
        if (e != Error::none) ++bad;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(bad.load(), 0);
  EXPECT_EQ(heap.stats().live, 0u);
  EXPECT_EQ(*heap.largest_free_extent(), heap.capacity());
}

// Found by an adversarial review: an aligned request was searched as n + a - 1
// granules, so an aligned extent that fit exactly was not found.
TYPED_TEST(ExtentHeapTest, AnAlignedExtentThatFitsExactlyIsFound) {
  constexpr std::size_t kSmall = 64;  // granule; pages of 4096 are 64 granules
  Untouchable u(16 * 4096);           // page-aligned (mmap)
  std::vector<detail::ExtentRecord> records(16 * 4096 / kSmall);
  ExtentHeap<TypeParam> heap(u.range(), kSmall, Block{records.data(), records.size() * 16});
  const Result<Block> all = heap.try_allocate(Layout{16 * 4096, 4096});
  ASSERT_TRUE(all.ok()) << to_string(all.error());
  ASSERT_EQ(heap.try_deallocate(*all), Error::none);
  std::vector<Block> pages;
  for (int i = 0; i < 16; ++i) {
    const Result<Block> p = heap.try_allocate(Layout{4096, 4096});
    ASSERT_TRUE(p.ok()) << "page " << i << ": " << to_string(p.error());
    pages.push_back(*p);
  }
  ASSERT_EQ(heap.try_deallocate(pages[5]), Error::none);
  const Result<Block> again = heap.try_allocate(Layout{4096, 4096});
  ASSERT_TRUE(again.ok()) << to_string(again.error());
  EXPECT_EQ(again->ptr, pages[5].ptr);
  pages[5] = *again;
  for (const Block& p : pages) ASSERT_EQ(heap.try_deallocate(p), Error::none);
}

// Found by an adversarial review: a region whose start rounds up past the end of
// the address space gave a heap over address 0 (the in-band form wrote there).
TYPED_TEST(ExtentHeapTest, ARegionThatWrapsIsRefused) {
  ExtentHeap<TypeParam> in_band(Block{reinterpret_cast<void*>(~std::uintptr_t(0) - 4094), 0xffe},
                                4096);
  EXPECT_EQ(in_band.init_error(), Error::invalid_argument);
  std::vector<detail::ExtentRecord> records(16);
  ExtentHeap<TypeParam> apart(Block{reinterpret_cast<void*>(~std::uintptr_t(0) - 4094), 0xffe},
                              4096, Block{records.data(), records.size() * 16});
  EXPECT_EQ(apart.init_error(), Error::invalid_argument);
}

// A heap behind a try-lock can answer a free with contended; a Pool that then
// dropped the hunk leaked it silently (found by an adversarial review).
struct FlakyHeap {
  SourceHeap<StaticRegion<>> inner;
  int refusals_per_free;
  bool refuse_forever = false;
  explicit FlakyHeap(Block b, int refusals) : inner(b), refusals_per_free(refusals) {}
  Result<Block> try_allocate(Layout l) { return inner.try_allocate(l); }
  Error try_deallocate(Block b) {
    if (refuse_forever) return Error::contended;
    if (left_ == 0) {
      left_ = refusals_per_free;
      return inner.try_deallocate(b);
    }
    --left_;
    return Error::contended;
  }
  Stats stats() const { return inner.stats(); }

 private:
  int left_ = 0;
};

TEST(ExtentHeapPool, HunksAreNeverDroppedWhenTheHeapIsBusy) {
  Arena arena(1 << 20);
  FlakyHeap heap(arena.block(), 100);
  {
    Pool<FlakyHeap, single_owner> pool(heap, 4096);
    std::vector<Block> objects;
    for (int i = 0; i < 20; ++i) objects.push_back(*pool.try_allocate(Layout{1000, 8}));
    EXPECT_GE(pool.hunk_count(), 4u);
    for (const Block& o : objects) ASSERT_EQ(pool.try_deallocate(o), Error::none);
  }
  EXPECT_EQ(heap.stats().live, 0u) << "every hunk went back, after the retries";
  int reports = 0;
  static int* counter = nullptr;
  counter = &reports;
  const leak_handler previous = set_leak_handler([](const LeakReport&) { ++*counter; });
  FlakyHeap stubborn(arena.block(), 0);
  {
    Pool<FlakyHeap, concurrent> pool(stubborn, 4096);
    const Block o = *pool.try_allocate(Layout{100, 8});
    ASSERT_EQ(pool.try_deallocate(o), Error::none);
    stubborn.refuse_forever = true;
  }
  set_leak_handler(previous);
  EXPECT_EQ(reports, 1) << "a hunk the heap refused is reported, not lost silently";
  EXPECT_EQ(stubborn.stats().live, 1u);
}

TYPED_TEST(ExtentHeapTest, PlacedExtentsOwnersAndAWalkInAddressOrder) {
  Untouchable u(64 * kGranule);
  ASSERT_NE(u.ptr, MAP_FAILED);
  ExtentHeap<TypeParam> heap(u.range(), kGranule, u.metadata());
  auto* base = static_cast<char*>(heap.base());
  EXPECT_EQ(base, u.ptr);
  // Placed at the start of the free extent: the rest stays free after it.
  const Block a = *heap.try_allocate_at(base, 3 * kGranule);
  EXPECT_EQ(a.ptr, base);
  EXPECT_EQ(a.size, 3 * kGranule);
  const Block b = *heap.try_allocate_at(base + 3 * kGranule, kGranule + 1);
  EXPECT_EQ(b.size, 2 * kGranule);
  EXPECT_EQ(heap.try_allocate_at(base, kGranule).error(), Error::foreign_pointer) << "live";
  EXPECT_EQ(heap.try_allocate_at(base + 6 * kGranule, kGranule).error(), Error::foreign_pointer)
      << "inside a free extent, not its start";
  EXPECT_EQ(heap.try_allocate_at(base + 5 * kGranule, 60 * kGranule).error(), Error::out_of_memory);
  EXPECT_EQ(heap.try_allocate_at(base + 1, kGranule).error(), Error::foreign_pointer);
  EXPECT_EQ(heap.try_allocate_at(base + 5 * kGranule, 0).error(), Error::invalid_argument);
  // Owners: a word per live extent, cleared by the next allocation there.
  EXPECT_EQ(heap.set_owner(a, 0x1234567890abcdefull), Error::none);
  EXPECT_EQ(heap.set_owner(Block{base + 5 * kGranule, kGranule}, 1), Error::foreign_pointer);
  EXPECT_EQ(heap.set_owner(Block{a.ptr, kGranule}, 1), Error::foreign_pointer) << "wrong size";
  // The walk: a (owned), b (no owner), then one free extent to the end.
  Result<typename ExtentHeap<TypeParam>::Extent> x = heap.extent_at(base);
  ASSERT_TRUE(x.ok());
  EXPECT_FALSE(x->free);
  EXPECT_EQ(x->owner, 0x1234567890abcdefull);
  EXPECT_EQ(x->block.size, 3 * kGranule);
  x = heap.extent_at(base + 3 * kGranule);
  EXPECT_EQ(x->owner, 0u);
  x = heap.extent_at(base + 5 * kGranule);
  EXPECT_TRUE(x->free);
  EXPECT_EQ(x->block.size, 59 * kGranule);
  EXPECT_EQ(heap.extent_at(base + 6 * kGranule).error(), Error::foreign_pointer);
  // Freed and merged: a's start is no extent start any more, then a fresh one clears the owner.
  ASSERT_EQ(heap.try_deallocate(b), Error::none);
  // An owned extent is freed only with its owner word: a plain free is refused.
  EXPECT_EQ(heap.try_deallocate(a), Error::foreign_pointer);
  EXPECT_EQ(heap.try_deallocate(a, 0x1234567890abcdeeull), Error::foreign_pointer);
  ASSERT_EQ(heap.try_deallocate(a, 0x1234567890abcdefull), Error::none);
  EXPECT_EQ(heap.extent_at(base + 3 * kGranule).error(), Error::foreign_pointer);
  // Owners given at allocation, in one step.
  const Block o = *heap.try_allocate(Layout{kGranule, 8}, 77);
  EXPECT_EQ(heap.extent_at(o.ptr)->owner, 77u);
  EXPECT_EQ(heap.try_deallocate(o), Error::foreign_pointer);
  ASSERT_EQ(heap.try_deallocate(o, 77), Error::none);
  const Block p = *heap.try_allocate_at(base + 7 * kGranule, kGranule, base, 78);
  EXPECT_EQ(heap.extent_at(p.ptr)->owner, 78u);
  ASSERT_EQ(heap.try_deallocate(p, 78), Error::none);
  const Block c = *heap.try_allocate_at(base, kGranule);
  EXPECT_EQ(heap.extent_at(base)->owner, 0u);
  EXPECT_EQ(heap.stats().live, 1u);
  // Inside a free extent given by its start: the lead and the tail stay free.
  const Block d = *heap.try_allocate_at(base + 10 * kGranule, 2 * kGranule, base + kGranule);
  EXPECT_EQ(d.ptr, base + 10 * kGranule);
  EXPECT_TRUE(heap.extent_at(base + kGranule)->free);
  EXPECT_EQ(heap.extent_at(base + kGranule)->block.size, 9 * kGranule);
  EXPECT_EQ(heap.extent_at(base + 12 * kGranule)->block.size, 52 * kGranule);
  EXPECT_EQ(heap.try_allocate_at(base + 5 * kGranule, kGranule, base + 12 * kGranule).error(),
            Error::out_of_memory) << "before the free extent";
  EXPECT_EQ(heap.try_allocate_at(base + 60 * kGranule, 5 * kGranule, base + 12 * kGranule).error(),
            Error::out_of_memory) << "past its end";
  EXPECT_EQ(heap.try_allocate_at(base + 20 * kGranule, kGranule, base + 13 * kGranule).error(),
            Error::foreign_pointer) << "not a free extent's start";
  EXPECT_EQ(heap.try_deallocate(d), Error::none);
  EXPECT_EQ(heap.try_deallocate(c), Error::none);
  EXPECT_EQ(*heap.largest_free_extent(), 64 * kGranule);
}

}  // namespace
}  // namespace swim::mem::testing
