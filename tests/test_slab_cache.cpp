// SlabCache: a single-owner front over a shared Slab (heaps/slab_cache.hpp).
#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <cstring>
#include <deque>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "swim/mem.hpp"
#include "swim/mem/heaps/slab_cache.hpp"

namespace swim::mem {
namespace {

static_assert(heap<SlabCache<Slab<concurrent, false>, 8>>);
static_assert(heap<SlabCache<Slab<concurrent, true>, 64>>);

/// An aligned, zeroed arena that frees itself.
struct Arena {
  explicit Arena(std::size_t bytes) : size(bytes) {
    ptr = static_cast<std::byte*>(::operator new(bytes, std::align_val_t{4096}));
    std::memset(ptr, 0, bytes);
  }
  ~Arena() { ::operator delete(ptr, std::align_val_t{4096}); }
  Block block() const { return Block{ptr, size}; }
  std::byte* ptr;
  std::size_t size;
};

using Checked = Slab<concurrent, true>;
using Unchecked = Slab<concurrent, false>;

TEST(SlabCache, HandsOutWholeUnitsOfItsSlab) {
  Arena arena(64 * 1024);
  Unchecked slab(arena.block(), 64);
  SlabCache<Unchecked, 8> cache(slab);
  std::set<void*> seen;
  for (int i = 0; i < 100; ++i) {
    const Result<Block> r = cache.try_allocate(Layout{40, 8});
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->size, 64u);
    EXPECT_TRUE(slab.owns(r->ptr));
    EXPECT_EQ(r->address() % 64, 0u);
    EXPECT_TRUE(seen.insert(r->ptr).second);
  }
  EXPECT_EQ(cache.stats().live, 100u);
  for (void* p : seen) EXPECT_EQ(cache.try_deallocate(Block{p, 64}), Error::none);
  EXPECT_EQ(cache.stats().live, 0u);
  EXPECT_EQ(cache.stats().bytes_free, slab.block_count() * 64);
}

TEST(SlabCache, RefillsAndSpillsInHalfBatches) {
  Arena arena(64 * 1024);
  Unchecked slab(arena.block(), 64);
  SlabCache<Unchecked, 8> cache(slab);
  const Result<Block> a = cache.try_allocate(Layout{64, 8});
  ASSERT_TRUE(a.ok());
  // One refill of N/2 = 4 units: the Slab counts them all as out.
  EXPECT_EQ(slab.stats().live, 4u);
  EXPECT_EQ(cache.cached(), 3u);
  EXPECT_EQ(cache.stats().live, 1u);  // the cache counts its own units as free
  std::vector<Block> blocks{*a};
  for (int i = 0; i < 11; ++i) {
    const Result<Block> r = cache.try_allocate(Layout{64, 8});
    ASSERT_TRUE(r.ok());
    blocks.push_back(*r);
  }
  EXPECT_EQ(slab.stats().live, 12u);
  EXPECT_EQ(cache.cached(), 0u);
  for (const Block& b : blocks) ASSERT_EQ(cache.try_deallocate(b), Error::none);
  // 12 frees into 8 slots: one spill of 4, 8 left cached.
  EXPECT_EQ(cache.cached(), 8u);
  EXPECT_EQ(slab.stats().live, 8u);
  EXPECT_EQ(cache.stats().live, 0u);
  EXPECT_EQ(cache.flush(), Error::none);
  EXPECT_EQ(cache.cached(), 0u);
  EXPECT_EQ(slab.stats().live, 0u);
}

TEST(SlabCache, KeepsTheSlabsRulesForLayouts) {
  Arena arena(16 * 1024);
  Unchecked slab(arena.block(), 96);  // units aligned to 32
  SlabCache<Unchecked, 4> cache(slab);
  const Result<Block> zero = cache.try_allocate(Layout{0, 16});
  ASSERT_TRUE(zero.ok());
  EXPECT_EQ(zero->size, 0u);
  EXPECT_NE(zero->ptr, nullptr);
  EXPECT_EQ(cache.try_deallocate(*zero), Error::none);
  EXPECT_EQ(cache.try_allocate(Layout{97, 8}).error(), Error::oversized);
  EXPECT_EQ(cache.try_allocate(Layout{8, 64}).error(), Error::misaligned);
  EXPECT_EQ(cache.cached(), 0u);  // failed requests did not touch the Slab
  EXPECT_EQ(slab.stats().live, 0u);
  const Result<Block> r = cache.try_allocate(Layout{96, 32});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->address() % 32, 0u);
  EXPECT_EQ(cache.try_deallocate(*r), Error::none);
}

// Only over a checked Slab: an unchecked one trusts the blocks it is given back
// (heaps/slab.hpp), so a foreign pointer there is a precondition violation.
TEST(SlabCache, CheckedRejectsForeignPointersWithoutChange) {
  Arena arena(16 * 1024);
  Arena other(4096);
  for (std::size_t unit : {std::size_t(64), std::size_t(96)}) {
    Checked slab(arena.block(), unit);
    SlabCache<Checked, 4> cache(slab);
    const Result<Block> r = cache.try_allocate(Layout{8, 8});
    ASSERT_TRUE(r.ok());
    const std::size_t cached = cache.cached();
    EXPECT_EQ(cache.try_deallocate(Block{other.ptr, 8}), Error::foreign_pointer);
    EXPECT_EQ(cache.try_deallocate(Block{arena.ptr + arena.size + 64, 8}), Error::foreign_pointer);
    EXPECT_EQ(cache.try_deallocate(Block{r->begin() + 8, 8}), Error::foreign_pointer);
    EXPECT_EQ(cache.try_deallocate(Block{r->ptr, unit + 1}), Error::foreign_pointer);
    EXPECT_EQ(cache.cached(), cached);
    EXPECT_EQ(cache.try_deallocate(*r), Error::none);
    EXPECT_EQ(cache.cached(), cached + 1);
  }
}

TEST(SlabCache, NonPowerOfTwoUnitsGoRoundTrip) {
  Arena arena(64 * 1024);
  Unchecked slab(arena.block(), 96);
  std::vector<Block> blocks;
  {
    SlabCache<Unchecked, 16> cache(slab);
    for (std::size_t i = 0; i < slab.block_count(); ++i) {
      const Result<Block> r = cache.try_allocate(Layout{96, 8});
      ASSERT_TRUE(r.ok());
      blocks.push_back(*r);
    }
    EXPECT_EQ(cache.try_allocate(Layout{96, 8}).error(), Error::out_of_memory);
    for (const Block& b : blocks) ASSERT_EQ(cache.try_deallocate(b), Error::none);
  }
  EXPECT_EQ(slab.stats().live, 0u);  // the destructor flushed
  // Every unit is on the Slab's list again, exactly once.
  std::set<void*> again;
  for (std::size_t i = 0; i < slab.block_count(); ++i) {
    const Result<Block> r = slab.try_allocate(Layout{96, 8});
    ASSERT_TRUE(r.ok());
    EXPECT_TRUE(again.insert(r->ptr).second);
  }
  EXPECT_EQ(slab.try_allocate(Layout{96, 8}).error(), Error::out_of_memory);
  for (void* p : again) EXPECT_EQ(slab.try_deallocate(Block{p, 96}), Error::none);
}

TEST(SlabCache, ExhaustionIsAnErrorAndChangesNothing) {
  Arena arena(4096);
  Unchecked slab(arena.block(), 512);  // 8 units
  SlabCache<Unchecked, 64> cache(slab);
  std::vector<Block> blocks;
  for (int i = 0; i < 8; ++i) {
    const Result<Block> r = cache.try_allocate(Layout{512, 8});
    ASSERT_TRUE(r.ok());
    blocks.push_back(*r);
  }
  const Stats before = cache.stats();
  EXPECT_EQ(cache.try_allocate(Layout{512, 8}).error(), Error::out_of_memory);
  const Stats after = cache.stats();
  EXPECT_EQ(before.live, after.live);
  EXPECT_EQ(before.bytes_free, after.bytes_free);
  EXPECT_EQ(before.peak_bytes, after.peak_bytes);
  for (const Block& b : blocks) EXPECT_EQ(cache.try_deallocate(b), Error::none);
}

TEST(SlabCache, CheckedSlabSeesDoubleFreesIntoAnyCache) {
  Arena arena(16 * 1024);
  Checked slab(arena.block(), 64);
  SlabCache<Checked, 8> a(slab);
  SlabCache<Checked, 8> b(slab);
  const Result<Block> r = a.try_allocate(Layout{64, 8});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(b.try_deallocate(*r), Error::none);  // a cross-cache free is fine
  const std::size_t cached = b.cached();
  EXPECT_EQ(b.try_deallocate(*r), Error::double_free);
  EXPECT_EQ(a.try_deallocate(*r), Error::double_free);
  EXPECT_EQ(slab.try_deallocate(*r), Error::double_free);
  EXPECT_EQ(b.cached(), cached);
  // The unit comes back out exactly once.
  std::set<void*> seen;
  for (int i = 0; i < 16; ++i) {
    const Result<Block> q = b.try_allocate(Layout{64, 8});
    ASSERT_TRUE(q.ok());
    EXPECT_TRUE(seen.insert(q->ptr).second);
  }
  for (void* p : seen) EXPECT_EQ(a.try_deallocate(Block{p, 64}), Error::none);
}

TEST(SlabCache, FreesOfUnitsTakenFromTheSlabDirectly) {
  Arena arena(16 * 1024);
  Checked slab(arena.block(), 128);
  const Result<Block> direct = slab.try_allocate(Layout{128, 8});
  ASSERT_TRUE(direct.ok());
  {
    SlabCache<Checked, 4> cache(slab);
    EXPECT_EQ(cache.try_deallocate(*direct), Error::none);
    const Result<Block> again = cache.try_allocate(Layout{128, 8});
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(again->ptr, direct->ptr);  // the warmest unit first
    EXPECT_EQ(slab.try_deallocate(*again), Error::none);
  }
  EXPECT_EQ(slab.stats().live, 0u);
}

// Four threads, each with its own cache over one lock-free Slab. Every block is
// stamped with its allocator's (thread, sequence) and handed to the next thread,
// which checks the stamp and frees it into its own cache: every free is a
// cross-thread free. Small caches and a small Slab make refills, spills and
// exhaustion frequent. A unit handed out twice would show as a broken stamp.
template <class SlabT>
void cross_thread_frees() {
  constexpr int threads = 4;
  constexpr std::size_t unit = 64;
  constexpr int per_thread = 60000;
  Arena arena(512 * unit);
  SlabT slab(arena.block(), unit);
  struct Mailbox {
    std::mutex m;
    std::deque<Block> q;
  };
  Mailbox boxes[threads];
  std::atomic<int> bad{0}, out_of_memory{0};
  std::atomic<int> done{0};
  auto stamp = [](int t, int seq) { return (std::uint64_t(t) << 32) | std::uint32_t(seq); };
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      SlabCache<SlabT, 8> cache(slab);
      auto drain = [&](bool all) {
        for (;;) {
          Block b;
          {
            std::lock_guard<std::mutex> lock(boxes[t].m);
            if (boxes[t].q.empty()) return;
            b = boxes[t].q.front();
            boxes[t].q.pop_front();
          }
          const auto* w = static_cast<const std::uint64_t*>(b.ptr);
          const std::uint64_t s = w[1];
          for (std::size_t i = 1; i < unit / 8; ++i) {
            if (w[i] != s) bad.fetch_add(1);
          }
          Error e;
          do {
            e = cache.try_deallocate(b);
          } while (e == Error::contended);
          if (e != Error::none) bad.fetch_add(1);
          if (!all) return;
        }
      };
      for (int seq = 0; seq < per_thread; ++seq) {
        Result<Block> r = cache.try_allocate(Layout{unit, 8});
        while (!r.ok()) {
          if (r.error() == Error::out_of_memory) out_of_memory.fetch_add(1);
          drain(true);
          std::this_thread::yield();
          r = cache.try_allocate(Layout{unit, 8});
        }
        auto* w = static_cast<std::uint64_t*>(r->ptr);
        for (std::size_t i = 1; i < unit / 8; ++i) w[i] = stamp(t, seq);
        {
          std::lock_guard<std::mutex> lock(boxes[(t + 1) % threads].m);
          boxes[(t + 1) % threads].q.push_back(*r);
        }
        drain(false);
      }
      done.fetch_add(1);
      while (done.load() < threads) {
        drain(true);
        std::this_thread::yield();
      }
      drain(true);
    });
  }
  for (auto& th : pool) th.join();
  EXPECT_EQ(bad.load(), 0);
  for (auto& b : boxes) EXPECT_TRUE(b.q.empty());
  EXPECT_EQ(slab.stats().live, 0u);  // every cache flushed on destruction
  // And the list is whole: every unit once.
  std::set<void*> seen;
  for (std::size_t i = 0; i < slab.block_count(); ++i) {
    const Result<Block> r = slab.try_allocate(Layout{unit, 8});
    ASSERT_TRUE(r.ok());
    EXPECT_TRUE(seen.insert(r->ptr).second);
  }
  EXPECT_EQ(slab.try_allocate(Layout{unit, 8}).error(), Error::out_of_memory);
  for (void* p : seen) EXPECT_EQ(slab.try_deallocate(Block{p, unit}), Error::none);
}

TEST(SlabCache, FourThreadsCrossThreadFreesUnchecked) { cross_thread_frees<Unchecked>(); }
TEST(SlabCache, FourThreadsCrossThreadFreesChecked) { cross_thread_frees<Checked>(); }

}  // namespace
}  // namespace swim::mem
