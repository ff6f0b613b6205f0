// Tests of AddrSpace, the lock-free bitmap buddy heap (include/swim/mem/heaps/addr_space.hpp).
#include "swim/mem/heaps/addr_space.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <barrier>
#include <latch>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <map>
#include <random>
#include <thread>
#include <vector>

namespace {

using swim::mem::AddrSpace;
using swim::mem::Block;
using swim::mem::concurrent;
using swim::mem::Error;
using swim::mem::Layout;
using swim::mem::Result;
using swim::mem::single_owner;
using swim::mem::Stats;

/// A heap-allocated, generously aligned byte buffer.
class Arena {
 public:
  explicit Arena(std::size_t size, std::size_t align = std::size_t(1) << 21)
      : size_((size + align - 1) / align * align),
        mem_(static_cast<std::byte*>(std::aligned_alloc(align, size_))) {}
  ~Arena() { std::free(mem_); }
  Arena(const Arena&) = delete;
  Arena& operator=(const Arena&) = delete;
  std::byte* data() const { return mem_; }
  std::size_t size() const { return size_; }

 private:
  std::size_t size_;
  std::byte* mem_;
};

std::uintptr_t addr(const void* p) { return reinterpret_cast<std::uintptr_t>(p); }

template <class Mode, bool Checked>
struct Config {
  using Heap = AddrSpace<Mode, Checked>;
  static constexpr bool checked = Checked;
};

template <class C>
class AddrSpaceTest : public ::testing::Test {};

using Configs = ::testing::Types<Config<concurrent, true>, Config<single_owner, true>,
                                 Config<concurrent, false>, Config<single_owner, false>>;
TYPED_TEST_SUITE(AddrSpaceTest, Configs);

template <class C>
class CheckedAddrSpaceTest : public ::testing::Test {};
using CheckedConfigs = ::testing::Types<Config<concurrent, true>, Config<single_owner, true>>;
TYPED_TEST_SUITE(CheckedAddrSpaceTest, CheckedConfigs);

/// Fill every word of a block's pages at a few positions with a pattern.
void stamp(Block b, std::uint64_t pattern, std::size_t page) {
  for (std::size_t off = 0; off < b.size; off += page) {
    std::memcpy(b.begin() + off, &pattern, sizeof pattern);
    std::memcpy(b.begin() + off + page - sizeof pattern, &pattern, sizeof pattern);
  }
}
bool stamped(Block b, std::uint64_t pattern, std::size_t page) {
  for (std::size_t off = 0; off < b.size; off += page) {
    std::uint64_t a = 0;
    std::uint64_t z = 0;
    std::memcpy(&a, b.begin() + off, sizeof a);
    std::memcpy(&z, b.begin() + off + page - sizeof z, sizeof z);
    if (a != pattern || z != pattern) return false;
  }
  return true;
}

/// Offset from the region start to the managed base (for a page-aligned region).
template <class Heap>
std::size_t base_offset(std::byte* start, std::size_t size, std::size_t page) {
  Heap probe(Block{start, size}, page);
  // The one block of the top order is at the base.
  Result<Block> r = probe.try_allocate(Layout{probe.max_block(), 1});
  EXPECT_TRUE(r.ok());
  const std::size_t off = addr(r->ptr) - addr(start);
  EXPECT_EQ(probe.try_deallocate(*r), Error::none);
  return off;
}

/// Free every block of `v`, check none fails.
template <class Heap>
void free_all(Heap& h, std::vector<Block>& v) {
  for (Block b : v) ASSERT_EQ(h.try_deallocate(b), Error::none);
  v.clear();
}

// ---- Construction ----------------------------------------------------------------

TYPED_TEST(AddrSpaceTest, UnusableRegionsGiveAnEmptyHeap) {
  using Heap = typename TypeParam::Heap;
  Arena a(1 << 20);
  const Block region{a.data(), a.size()};
  for (std::size_t bad_page : {0, 32, 100, 4097}) {
    Heap h(region, bad_page);
    EXPECT_EQ(h.init_error(), Error::invalid_argument) << bad_page;
    EXPECT_EQ(h.capacity(), 0u);
    EXPECT_EQ(h.try_allocate(Layout{64, 8}).error(), Error::out_of_memory);
    EXPECT_EQ(h.try_allocate(Layout{0, 1}).error(), Error::out_of_memory);
  }
  {
    Heap h(Block{nullptr, 1 << 20});
    EXPECT_EQ(h.init_error(), Error::invalid_argument);
  }
  {
    // Room for the metadata but not for one page besides.
    Heap h(Block{a.data(), 4096});
    EXPECT_EQ(h.init_error(), Error::invalid_argument);
    EXPECT_EQ(h.capacity(), 0u);
    EXPECT_EQ(h.try_allocate(Layout{1, 1}).error(), Error::out_of_memory);
    EXPECT_EQ(h.try_deallocate(Block{a.data(), 0}), Error::none);
    EXPECT_EQ(h.try_deallocate(Block{a.data() + 4096, 4096}), Error::foreign_pointer);
  }
  {
    Heap h(Block{a.data(), 8192});  // metadata page + one page
    EXPECT_EQ(h.init_error(), Error::none);
    EXPECT_EQ(h.capacity(), 4096u);
    EXPECT_EQ(h.region(), Block(Block{a.data(), 8192}));
  }
}

TYPED_TEST(AddrSpaceTest, RegionIsTrimmedToPages) {
  using Heap = typename TypeParam::Heap;
  Arena a(1 << 20);
  // An unaligned start and end: every block still lies inside and page-aligned.
  const Block region{a.data() + 3, (64 << 10) - 100};
  Heap h(region, 1024);
  ASSERT_EQ(h.init_error(), Error::none);
  EXPECT_EQ(h.page_size(), 1024u);
  EXPECT_GT(h.capacity(), 0u);
  EXPECT_LE(h.capacity(), region.size);
  std::vector<Block> v;
  for (;;) {
    Result<Block> r = h.try_allocate(Layout{1024, 1});
    if (!r) {
      EXPECT_EQ(r.error(), Error::out_of_memory);
      break;
    }
    EXPECT_EQ(addr(r->ptr) % 1024, 0u);
    EXPECT_TRUE(region.contains(r->ptr, r->size));
    v.push_back(*r);
  }
  EXPECT_EQ(v.size() * 1024, h.capacity());
  free_all(h, v);
}

// ---- Basic allocation ----------------------------------------------------------------

TYPED_TEST(AddrSpaceTest, AllocateFreeReallocate) {
  using Heap = typename TypeParam::Heap;
  Arena a(1 << 20);
  Heap h(Block{a.data(), a.size()});
  ASSERT_EQ(h.init_error(), Error::none);
  Result<Block> r = h.try_allocate(Layout{100, 8});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->size, 4096u);
  EXPECT_EQ(addr(r->ptr) % 4096, 0u);
  EXPECT_TRUE(Block(Block{a.data(), a.size()}).contains(r->ptr, r->size));
  std::memset(r->ptr, 0xAB, r->size);
  EXPECT_EQ(h.stats().live, 1u);
  EXPECT_EQ(h.try_deallocate(*r), Error::none);
  EXPECT_EQ(h.stats().live, 0u);
  // Lowest free block first: the same page comes back.
  Result<Block> again = h.try_allocate(Layout{4096, 4096});
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->ptr, r->ptr);
  // A smaller size that rounds to the same block is accepted.
  EXPECT_EQ(h.try_deallocate(Block{again->ptr, 1}), Error::none);
  EXPECT_EQ(h.stats().bytes_in_use, 0u);
}

TYPED_TEST(AddrSpaceTest, SplittingHandsOutBuddies) {
  using Heap = typename TypeParam::Heap;
  Arena a(1 << 20);
  const std::size_t page = 256;
  // Exactly 64 pages before the metadata (which sits at the end), so that there is
  // a single top block.
  std::size_t size = 64 * page;
  while (Heap(Block{a.data(), size}, page).capacity() < 64 * page) size += 64;
  const std::size_t off = base_offset<Heap>(a.data(), size, page);
  EXPECT_EQ(off, 0u) << "the pages start at the (aligned) start of the region";
  Heap h(Block{a.data(), size}, page);
  ASSERT_EQ(h.init_error(), Error::none);
  ASSERT_EQ(h.capacity(), 64 * page);
  const std::size_t top = h.max_block() / page;
  ASSERT_EQ(top, 64u);
  std::byte* base = a.data() + off;

  // One page splits the top block all the way down; the buddies follow in order.
  Result<Block> p0 = h.try_allocate(Layout{1, 1});
  ASSERT_TRUE(p0.ok());
  EXPECT_EQ(p0->ptr, base);
  Result<Block> p1 = h.try_allocate(Layout{page, 1});
  ASSERT_TRUE(p1.ok());
  EXPECT_EQ(p1->ptr, base + page);
  Result<Block> p2 = h.try_allocate(Layout{2 * page, 1});
  ASSERT_TRUE(p2.ok());
  EXPECT_EQ(p2->ptr, base + 2 * page);
  EXPECT_EQ(p2->size, 2 * page);
  Result<Block> p4 = h.try_allocate(Layout{3 * page, 1});  // rounds up to 4 pages
  ASSERT_TRUE(p4.ok());
  EXPECT_EQ(p4->ptr, base + 4 * page);
  EXPECT_EQ(p4->size, 4 * page);
  Result<Block> half = h.try_allocate(Layout{top / 2 * page, 1});
  ASSERT_TRUE(half.ok());
  EXPECT_EQ(half->ptr, base + top / 2 * page);
  EXPECT_EQ(h.stats().live, 5u);
  EXPECT_EQ(h.stats().bytes_in_use, (1 + 1 + 2 + 4 + top / 2) * page);
  for (Result<Block> r : {p0, p1, p2, p4, half}) EXPECT_EQ(h.try_deallocate(*r), Error::none);
  // Everything merged back: the top block is whole again.
  Result<Block> whole = h.try_allocate(Layout{h.max_block(), 1});
  ASSERT_TRUE(whole.ok());
  EXPECT_EQ(whole->ptr, base);
  EXPECT_EQ(h.try_deallocate(*whole), Error::none);
}

TYPED_TEST(AddrSpaceTest, ExhaustionThenRecovery) {
  using Heap = typename TypeParam::Heap;
  Arena a(1 << 20);
  const std::size_t page = 512;
  Heap h(Block{a.data(), 200 * page}, page);
  ASSERT_EQ(h.init_error(), Error::none);
  const std::size_t pages = h.capacity() / page;
  std::vector<Block> v;
  for (std::size_t i = 0; i < pages; ++i) {
    Result<Block> r = h.try_allocate(Layout{page, 1});
    ASSERT_TRUE(r.ok()) << i;
    v.push_back(*r);
  }
  const Stats full = h.stats();
  EXPECT_EQ(full.bytes_free, 0u);
  EXPECT_EQ(full.live, pages);
  EXPECT_EQ(h.try_allocate(Layout{1, 1}).error(), Error::out_of_memory);
  EXPECT_EQ(h.try_allocate(Layout{2 * page, 1}).error(), Error::out_of_memory);
  // A failed allocation changes nothing.
  const Stats after = h.stats();
  EXPECT_EQ(after.live, full.live);
  EXPECT_EQ(after.bytes_in_use, full.bytes_in_use);
  // Free two buddies: a two-page block is available again.
  ASSERT_EQ(h.try_deallocate(v[6]), Error::none);
  ASSERT_EQ(h.try_deallocate(v[7]), Error::none);
  Result<Block> two = h.try_allocate(Layout{2 * page, 1});
  ASSERT_TRUE(two.ok());
  EXPECT_EQ(two->ptr, v[6].ptr);
  EXPECT_EQ(h.try_allocate(Layout{1, 1}).error(), Error::out_of_memory);
  ASSERT_EQ(h.try_deallocate(*two), Error::none);
  v.erase(v.begin() + 6, v.begin() + 8);
  free_all(h, v);
  EXPECT_EQ(h.stats().bytes_free, h.capacity());
  Result<Block> whole = h.try_allocate(Layout{h.max_block(), 1});
  ASSERT_TRUE(whole.ok());
  EXPECT_EQ(h.try_deallocate(*whole), Error::none);
}

TYPED_TEST(AddrSpaceTest, CoalescesAfterShuffledFrees) {
  using Heap = typename TypeParam::Heap;
  Arena a(4 << 20);
  const std::size_t page = 256;
  Heap h(Block{a.data(), 4096 * page + 16384}, page);  // 4096 pages, after metadata
  ASSERT_EQ(h.init_error(), Error::none);
  const std::size_t pages = h.capacity() / page;
  std::vector<Block> v;
  for (std::size_t i = 0; i < pages; ++i) {
    Result<Block> r = h.try_allocate(Layout{page, 1});
    ASSERT_TRUE(r.ok()) << i;
    v.push_back(*r);
  }
  EXPECT_EQ(h.try_allocate(Layout{1, 1}).error(), Error::out_of_memory);
  std::mt19937_64 rng(12345);
  std::shuffle(v.begin(), v.end(), rng);
  free_all(h, v);
  const Stats s = h.stats();
  EXPECT_EQ(s.live, 0u);
  EXPECT_EQ(s.bytes_in_use, 0u);
  EXPECT_EQ(s.bytes_free, h.capacity());
  EXPECT_EQ(s.peak_bytes, h.capacity());
  // Every seeded block can be had whole again, largest first.
  std::size_t left = pages;
  while (left != 0) {
    std::size_t block = std::size_t(1) << (63 - __builtin_clzll(left));
    Result<Block> r = h.try_allocate(Layout{block * page, 1});
    ASSERT_TRUE(r.ok()) << block;
    v.push_back(*r);
    left -= block;
  }
  EXPECT_EQ(h.try_allocate(Layout{1, 1}).error(), Error::out_of_memory);
  free_all(h, v);
}

TEST(AddrSpaceLarge, DeepSummaryHierarchy) {
  // Over 2^18 pages: order 0 has four bitmap levels. Fill page by page, free in a
  // shuffled order, and every seeded block must be whole again.
  using Heap = AddrSpace<single_owner, true>;
  const std::size_t page = 64;
  const std::size_t want = (std::size_t(1) << 18) + 3000;
  Arena a(want * page + (2 << 20));
  Heap h(Block{a.data(), want * page + want * 5}, page);
  ASSERT_EQ(h.init_error(), Error::none);
  const std::size_t pages = h.capacity() / page;
  ASSERT_GT(pages, std::size_t(1) << 18);
  std::vector<Block> v;
  v.reserve(pages);
  for (std::size_t i = 0; i < pages; ++i) {
    Result<Block> r = h.try_allocate(Layout{page, 1});
    ASSERT_TRUE(r.ok()) << i;
    v.push_back(*r);
  }
  EXPECT_EQ(h.try_allocate(Layout{1, 1}).error(), Error::out_of_memory);
  // Every page exactly once.
  std::vector<Block> sorted = v;
  std::sort(sorted.begin(), sorted.end(),
            [](Block x, Block y) { return x.address() < y.address(); });
  for (std::size_t i = 1; i < sorted.size(); ++i) {
    ASSERT_EQ(sorted[i].address(), sorted[i - 1].address() + page);
  }
  std::mt19937_64 rng(99);
  std::shuffle(v.begin(), v.end(), rng);
  free_all(h, v);
  std::size_t left = pages;
  while (left != 0) {
    const std::size_t block = std::size_t(1) << (63 - __builtin_clzll(left));
    Result<Block> r = h.try_allocate(Layout{block * page, 1});
    ASSERT_TRUE(r.ok()) << block;
    v.push_back(*r);
    left -= block;
  }
  free_all(h, v);
}

TYPED_TEST(AddrSpaceTest, NonPowerOfTwoRegion) {
  using Heap = typename TypeParam::Heap;
  Arena a(1 << 20);
  const std::size_t page = 128;
  Heap h(Block{a.data(), 1000 * page + 77}, page);
  ASSERT_EQ(h.init_error(), Error::none);
  const std::size_t pages = h.capacity() / page;
  ASSERT_GT(pages, 512u);
  ASSERT_LT(pages, 1024u);
  EXPECT_EQ(h.max_block(), 512 * page);
  EXPECT_EQ(h.try_allocate(Layout{1024 * page, 1}).error(), Error::oversized);
  // Fill with random sizes until nothing fits, then free in random order.
  std::mt19937_64 rng(7);
  std::vector<Block> v;
  std::size_t bytes = 0;
  for (int i = 0; i < 2000; ++i) {
    Result<Block> r = h.try_allocate(Layout{1 + rng() % (8 * page), 1});
    if (!r) {
      ASSERT_EQ(r.error(), Error::out_of_memory);
      continue;
    }
    bytes += r->size;
    v.push_back(*r);
  }
  EXPECT_EQ(h.stats().bytes_in_use, bytes);
  std::shuffle(v.begin(), v.end(), rng);
  free_all(h, v);
  Result<Block> whole = h.try_allocate(Layout{512 * page, 1});
  ASSERT_TRUE(whole.ok());
  // The rest of the range is still there as smaller blocks.
  Result<Block> rest = h.try_allocate(Layout{(pages - 512) * page / 2, 1});
  EXPECT_TRUE(rest.ok());
  if (rest) {
    EXPECT_EQ(h.try_deallocate(*rest), Error::none);
  }
  EXPECT_EQ(h.try_deallocate(*whole), Error::none);
}

// ---- Alignment, size limits, zero size -------------------------------------------------

TYPED_TEST(AddrSpaceTest, Alignments) {
  using Heap = typename TypeParam::Heap;
  const std::size_t page = 4096;
  const std::size_t size = 512 * page;
  Arena a(size + (8 << 20), std::size_t(1) << 22);
  // Place the region so that the managed base is aligned to 1 MiB.
  const std::size_t off = base_offset<Heap>(a.data(), size, page);
  const std::uintptr_t mib = std::uintptr_t(1) << 20;
  const std::uintptr_t want = (addr(a.data()) + off + mib - 1) & ~(mib - 1);
  std::byte* start = reinterpret_cast<std::byte*>(want - off);
  {
    Heap h(Block{start, size}, page);
    ASSERT_EQ(h.init_error(), Error::none);
    ASSERT_GE(h.max_align(), 64 * page);
    std::vector<Block> v;
    // A few small blocks first, so that aligned requests must skip over them.
    for (int i = 0; i < 3; ++i) v.push_back(*h.try_allocate(Layout{1, 1}));
    for (std::size_t align = 1; align <= 64 * page; align *= 2) {
      for (std::size_t sz : {std::size_t(1), page, 3 * page}) {
        Result<Block> r = h.try_allocate(Layout{sz, align});
        ASSERT_TRUE(r.ok()) << align << " " << sz;
        EXPECT_EQ(addr(r->ptr) % align, 0u) << align;
        EXPECT_GE(r->size, sz);
        EXPECT_GE(r->size, align > page ? align : page);
        v.push_back(*r);
      }
    }
    EXPECT_EQ(h.try_allocate(Layout{1, 3}).error(), Error::misaligned);
    EXPECT_EQ(h.try_allocate(Layout{1, 2 * h.max_align()}).error(), Error::misaligned);
    free_all(h, v);
    EXPECT_EQ(h.stats().live, 0u);
  }

  // A base aligned only to one page: larger alignments are refused, not faked.
  Heap low(Block{start + page, size}, page);
  ASSERT_EQ(low.init_error(), Error::none);
  EXPECT_EQ(low.max_align(), page);
  EXPECT_EQ(low.try_allocate(Layout{1, 2 * page}).error(), Error::misaligned);
  Result<Block> ok = low.try_allocate(Layout{1, page});
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(low.try_deallocate(*ok), Error::none);
}

TYPED_TEST(AddrSpaceTest, Oversized) {
  using Heap = typename TypeParam::Heap;
  Arena a(1 << 20);
  Heap h(Block{a.data(), a.size()});
  ASSERT_EQ(h.init_error(), Error::none);
  EXPECT_EQ(h.try_allocate(Layout{h.max_block() + 1, 1}).error(), Error::oversized);
  EXPECT_EQ(h.try_allocate(Layout{h.capacity() * 2, 1}).error(), Error::oversized);
  EXPECT_EQ(h.try_allocate(Layout{~std::size_t(0), 1}).error(), Error::oversized);
  EXPECT_EQ(h.stats().live, 0u);
  Result<Block> r = h.try_allocate(Layout{h.max_block(), 1});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(h.try_deallocate(*r), Error::none);
}

TYPED_TEST(AddrSpaceTest, ZeroSize) {
  using Heap = typename TypeParam::Heap;
  Arena a(1 << 20);
  Heap h(Block{a.data(), a.size()});
  for (std::size_t align : {std::size_t(1), std::size_t(16), std::size_t(8192)}) {
    Result<Block> r = h.try_allocate(Layout{0, align});
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->ptr, reinterpret_cast<void*>(align));
    EXPECT_EQ(r->size, 0u);
    EXPECT_EQ(h.try_deallocate(*r), Error::none);
  }
  const Stats s = h.stats();
  EXPECT_EQ(s.live, 0u);
  EXPECT_EQ(s.bytes_in_use, 0u);
  EXPECT_EQ(s.peak_bytes, 0u);
}

// ---- Misuse ------------------------------------------------------------------------

TYPED_TEST(AddrSpaceTest, ForeignRangesAreRejected) {
  using Heap = typename TypeParam::Heap;
  Arena a(1 << 20);
  Arena other(1 << 16);
  Heap h(Block{a.data(), 256 << 10});
  ASSERT_EQ(h.init_error(), Error::none);
  Result<Block> r = h.try_allocate(Layout{4096, 1});
  ASSERT_TRUE(r.ok());
  const Stats before = h.stats();
  EXPECT_EQ(h.try_deallocate(Block{other.data(), 4096}), Error::foreign_pointer);
  // The metadata, at the end of the region.
  EXPECT_EQ(h.try_deallocate(Block{a.data() + (256 << 10) - 4096, 4096}), Error::foreign_pointer);
  EXPECT_EQ(h.try_deallocate(Block{a.data() + (256 << 10), 4096}), Error::foreign_pointer);
  EXPECT_EQ(h.try_deallocate(Block{r->begin() + 8, 4096}), Error::foreign_pointer);
  EXPECT_EQ(h.try_deallocate(Block{r->ptr, h.capacity() * 2}), Error::foreign_pointer);
  // A page-aligned pointer that is not at a block start for its size.
  EXPECT_EQ(h.try_deallocate(Block{r->begin() + 4096, 8192}), Error::foreign_pointer);
  const Stats after = h.stats();
  EXPECT_EQ(after.live, before.live);
  EXPECT_EQ(after.bytes_in_use, before.bytes_in_use);
  EXPECT_EQ(h.try_deallocate(*r), Error::none);
}

TYPED_TEST(CheckedAddrSpaceTest, DoubleFreeAndForeignPointerLeaveHeapUnchanged) {
  using Heap = typename TypeParam::Heap;
  Arena a(1 << 20);
  const std::size_t page = 4096;
  Heap h(Block{a.data(), 128 * page});
  ASSERT_EQ(h.init_error(), Error::none);
  Result<Block> x = h.try_allocate(Layout{page, 1});
  Result<Block> y = h.try_allocate(Layout{4 * page, 1});
  Result<Block> z = h.try_allocate(Layout{page, 1});
  ASSERT_TRUE(x.ok() && y.ok() && z.ok());
  ASSERT_EQ(h.try_deallocate(*x), Error::none);
  const Stats before = h.stats();

  EXPECT_EQ(h.try_deallocate(*x), Error::double_free);
  // Interior page of a live block, never itself a block start.
  EXPECT_EQ(h.try_deallocate(Block{y->begin() + page, page}), Error::foreign_pointer);
  // Right start, wrong size class.
  EXPECT_EQ(h.try_deallocate(Block{y->ptr, page}), Error::foreign_pointer);
  EXPECT_EQ(h.try_deallocate(Block{y->ptr, 8 * page}), Error::foreign_pointer);
  // A free block that was never handed out.
  const Stats mid = h.stats();
  Result<Block> far = h.try_allocate(Layout{page, 1});
  ASSERT_TRUE(far.ok());
  ASSERT_EQ(h.try_deallocate(*far), Error::none);
  EXPECT_EQ(h.try_deallocate(Block{far->begin() + 16 * page, page}), Error::foreign_pointer);
  EXPECT_EQ(h.try_deallocate(*far), Error::double_free);

  const Stats after = h.stats();
  EXPECT_EQ(after.live, before.live);
  EXPECT_EQ(after.bytes_in_use, before.bytes_in_use);
  EXPECT_EQ(after.bytes_free, before.bytes_free);
  EXPECT_EQ(mid.live, before.live);
  // The heap still works, and the misused blocks are intact.
  EXPECT_EQ(h.try_deallocate(*y), Error::none);
  EXPECT_EQ(h.try_deallocate(*y), Error::double_free);
  EXPECT_EQ(h.try_deallocate(*z), Error::none);
  EXPECT_EQ(h.stats().live, 0u);
  Result<Block> whole = h.try_allocate(Layout{h.max_block(), 1});
  ASSERT_TRUE(whole.ok());
  EXPECT_EQ(h.try_deallocate(*whole), Error::none);
}

// ---- Statistics and leaks -------------------------------------------------------------

TYPED_TEST(AddrSpaceTest, StatsAreConsistent) {
  using Heap = typename TypeParam::Heap;
  Arena a(1 << 20);
  Heap h(Block{a.data(), a.size()});
  ASSERT_EQ(h.init_error(), Error::none);
  Stats s = h.stats();
  EXPECT_EQ(s.live, 0u);
  EXPECT_EQ(s.bytes_in_use, 0u);
  EXPECT_EQ(s.bytes_free, h.capacity());
  EXPECT_EQ(s.peak_bytes, 0u);
  Result<Block> a1 = h.try_allocate(Layout{5000, 1});  // 2 pages
  Result<Block> a2 = h.try_allocate(Layout{1, 1});     // 1 page
  ASSERT_TRUE(a1.ok() && a2.ok());
  s = h.stats();
  EXPECT_EQ(s.live, 2u);
  EXPECT_EQ(s.bytes_in_use, 3 * 4096u);
  EXPECT_EQ(s.bytes_free, h.capacity() - 3 * 4096u);
  EXPECT_EQ(s.peak_bytes, 3 * 4096u);
  ASSERT_EQ(h.try_deallocate(*a1), Error::none);
  s = h.stats();
  EXPECT_EQ(s.live, 1u);
  EXPECT_EQ(s.bytes_in_use, 4096u);
  EXPECT_EQ(s.peak_bytes, 3 * 4096u);
  ASSERT_EQ(h.try_deallocate(*a2), Error::none);
  EXPECT_EQ(h.stats().bytes_free, h.capacity());
}

int g_leaks = 0;
std::size_t g_leaked_live = 0;
void count_leak(const swim::mem::LeakReport& r) {
  ++g_leaks;
  g_leaked_live = r.stats.live;
}

TYPED_TEST(AddrSpaceTest, DestructorReportsLeaks) {
  using Heap = typename TypeParam::Heap;
  Arena a(1 << 20);
  auto* previous = swim::mem::set_leak_handler(&count_leak);
  g_leaks = 0;
  {
    Heap h(Block{a.data(), a.size()});
    Result<Block> r = h.try_allocate(Layout{1, 1});
    ASSERT_TRUE(r.ok());
    ASSERT_EQ(h.try_deallocate(*r), Error::none);
  }
  EXPECT_EQ(g_leaks, 0);
  {
    Heap h(Block{a.data(), a.size()});
    ASSERT_TRUE(h.try_allocate(Layout{1, 1}).ok());
    ASSERT_TRUE(h.try_allocate(Layout{1, 1}).ok());
  }
  EXPECT_EQ(g_leaks, 1);
  EXPECT_EQ(g_leaked_live, 2u);
  swim::mem::set_leak_handler(previous);
}

// ---- Randomized against a reference model --------------------------------------------

TYPED_TEST(AddrSpaceTest, RandomSequencesMatchAReferenceModel) {
  using Heap = typename TypeParam::Heap;
  const std::size_t page = 256;
  Arena a(3 << 20);
  for (std::uint64_t seed : {1u, 2u, 3u}) {
    // A different, non-power-of-two page count for each seed.
    const std::size_t size = (1500 + 300 * seed) * page + 40;
    Heap h(Block{a.data() + seed * page, size}, page);
    ASSERT_EQ(h.init_error(), Error::none);
    std::mt19937_64 rng(seed);
    std::map<std::uintptr_t, std::pair<Block, std::uint64_t>> live;  // by address
    std::size_t bytes = 0;
    std::size_t peak = 0;
    for (int step = 0; step < 6000; ++step) {
      const bool alloc = live.empty() || rng() % 100 < 55;
      if (alloc) {
        const std::size_t sz = rng() % 4 == 0 ? 1 + rng() % (32 * page) : 1 + rng() % (2 * page);
        const std::size_t align = std::size_t(1) << (rng() % 11);  // up to 4 pages
        Result<Block> r = h.try_allocate(Layout{sz, align});
        if (!r) {
          ASSERT_TRUE(r.error() == Error::out_of_memory || r.error() == Error::misaligned)
              << swim::mem::to_string(r.error());
          continue;
        }
        ASSERT_GE(r->size, sz);
        ASSERT_EQ(addr(r->ptr) % align, 0u);
        // No overlap with the neighbours in address order.
        auto next = live.lower_bound(r->address());
        if (next != live.end()) {
          ASSERT_LE(r->address() + r->size, next->first);
        }
        if (next != live.begin()) {
          auto prev = std::prev(next);
          ASSERT_LE(prev->first + prev->second.first.size, r->address());
        }
        const std::uint64_t pattern = rng();
        stamp(*r, pattern, page);
        live.emplace(r->address(), std::make_pair(*r, pattern));
        bytes += r->size;
        peak = std::max(peak, bytes);
      } else {
        auto it = live.begin();
        std::advance(it, static_cast<long>(rng() % live.size()));
        ASSERT_TRUE(stamped(it->second.first, it->second.second, page));
        ASSERT_EQ(h.try_deallocate(it->second.first), Error::none);
        bytes -= it->second.first.size;
        live.erase(it);
      }
      const Stats s = h.stats();
      ASSERT_EQ(s.live, live.size());
      ASSERT_EQ(s.bytes_in_use, bytes);
      ASSERT_EQ(s.bytes_free, h.capacity() - bytes);
      ASSERT_EQ(s.peak_bytes, peak);
    }
    for (auto& [p, e] : live) {
      ASSERT_TRUE(stamped(e.first, e.second, page));
      ASSERT_EQ(h.try_deallocate(e.first), Error::none);
    }
    Result<Block> whole = h.try_allocate(Layout{h.max_block(), 1});
    ASSERT_TRUE(whole.ok()) << seed;
    ASSERT_EQ(h.try_deallocate(*whole), Error::none);
  }
}

// ---- Concurrency ---------------------------------------------------------------------

TEST(AddrSpaceConcurrent, StressThenCoalescesToFullCapacity) {
  using Heap = AddrSpace<concurrent, true>;
  const std::size_t page = 256;
  Arena a(4 << 20);
  Heap h(Block{a.data(), 4096 * page + 32768}, page);
  ASSERT_EQ(h.init_error(), Error::none);
  const int threads = 4;
  const int ops = 100000;  // per thread: 400k allocations and frees in total
  std::atomic<int> failures{0};
  std::atomic<long> served{0};
  std::vector<std::thread> pool;
  std::latch start(threads);
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      start.arrive_and_wait();  // maximise the overlap
      std::mt19937_64 rng(1000 + t);
      std::vector<std::pair<Block, std::uint64_t>> mine;
      long ok = 0;
      for (int i = 0; i < ops; ++i) {
        if (mine.size() < 24 && (mine.empty() || rng() % 2 == 0)) {
          const std::size_t sz = rng() % 8 == 0 ? 1 + rng() % (16 * page) : 1 + rng() % (2 * page);
          Result<Block> r = h.try_allocate(Layout{sz, 1});
          if (!r) {
            if (r.error() != Error::out_of_memory && r.error() != Error::contended) ++failures;
            continue;
          }
          const std::uint64_t pattern = (std::uint64_t(t) << 56) ^ rng();
          stamp(*r, pattern, page);
          mine.emplace_back(*r, pattern);
          ++ok;
        } else {
          const std::size_t k = rng() % mine.size();
          if (!stamped(mine[k].first, mine[k].second, page)) ++failures;
          if (h.try_deallocate(mine[k].first) != Error::none) ++failures;
          mine[k] = mine.back();
          mine.pop_back();
        }
      }
      for (auto& [b, pattern] : mine) {
        if (!stamped(b, pattern, page)) ++failures;
        if (h.try_deallocate(b) != Error::none) ++failures;
      }
      served += ok;
    });
  }
  for (auto& th : pool) th.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_GT(served.load(), threads * ops / 4);
  const Stats s = h.stats();
  EXPECT_EQ(s.live, 0u);
  EXPECT_EQ(s.bytes_in_use, 0u);
  EXPECT_EQ(s.bytes_free, h.capacity());
  // Everything merged back.
  Result<Block> whole = h.try_allocate(Layout{h.max_block(), 1});
  ASSERT_TRUE(whole.ok());
  EXPECT_EQ(h.try_deallocate(*whole), Error::none);
}

TEST(AddrSpaceConcurrent, RacingBuddyFreesAlwaysMerge) {
  // Two threads free the two halves of one block at the same moment, round after
  // round; whoever frees second must merge, so the top block is whole afterwards.
  using Heap = AddrSpace<concurrent, true>;
  const std::size_t page = 64;
  Arena a(1 << 20);
  Heap h(Block{a.data(), 64 * page + 4096}, page);
  ASSERT_EQ(h.init_error(), Error::none);
  const int rounds = 2000;
  Block halves[2];
  std::barrier sync(3);
  std::atomic<int> failures{0};
  auto worker = [&](int which) {
    for (int round = 0; round < rounds; ++round) {
      sync.arrive_and_wait();  // halves are ready
      if (h.try_deallocate(halves[which]) != Error::none) ++failures;
      sync.arrive_and_wait();  // both freed
    }
  };
  std::thread t0(worker, 0);
  std::thread t1(worker, 1);
  int unmerged = 0;
  for (int round = 0; round < rounds; ++round) {
    Result<Block> x = h.try_allocate(Layout{page, 1});
    Result<Block> y = h.try_allocate(Layout{page, 1});
    if (!x.ok() || !y.ok() || y->address() != x->address() + page) ++unmerged;
    halves[0] = *x;
    halves[1] = *y;
    sync.arrive_and_wait();
    sync.arrive_and_wait();
    Result<Block> whole = h.try_allocate(Layout{h.max_block(), 1});
    if (!whole.ok() || h.try_deallocate(*whole) != Error::none) ++unmerged;
  }
  t0.join();
  t1.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(unmerged, 0);
  EXPECT_EQ(h.stats().live, 0u);
}

}  // namespace
