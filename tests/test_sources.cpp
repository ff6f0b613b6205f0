// Layer 3: StaticRegion, OsPages, the GPU runtime sources; layer 4: SourceHeap.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <thread>
#include <vector>

#include "swim/mem/heaps/source_heap.hpp"
#include "swim/mem/sources.hpp"

#if defined(SWIM_MEM_TEST_HAS_CUDA)
#include "swim/mem/sources/cuda_memory.hpp"
#include "support/gpu_arena_checks.hpp"
#endif

namespace {

using swim::mem::Block;
using swim::mem::Error;
using swim::mem::Layout;
using swim::mem::OsPages;
using swim::mem::RegionAccess;
using swim::mem::Result;
using swim::mem::SourceHeap;
using swim::mem::StaticRegion;

constexpr std::size_t kMax = std::numeric_limits<std::size_t>::max();

// ---- Compile-time properties -------------------------------------------------------------

static_assert(swim::mem::memory_source<StaticRegion<>>);
static_assert(swim::mem::memory_source<OsPages>);
static_assert(StaticRegion<>::host_accessible && !StaticRegion<>::device_accessible);
static_assert(!StaticRegion<RegionAccess::device>::host_accessible);
static_assert(StaticRegion<RegionAccess::device>::device_accessible);
static_assert(StaticRegion<RegionAccess::host_and_device>::host_accessible);
static_assert(StaticRegion<RegionAccess::host_and_device>::device_accessible);
static_assert(OsPages::host_accessible && !OsPages::device_accessible);
static_assert(swim::mem::heap<SourceHeap<OsPages>>);
static_assert(swim::mem::heap<SourceHeap<StaticRegion<>>>);
static_assert(swim::mem::heap<SourceHeap<StaticRegion<RegionAccess::host, swim::mem::single_owner>,
                                         swim::mem::single_owner>>);
static_assert(SourceHeap<StaticRegion<RegionAccess::device>>::device_accessible);

// Sorted by address, no two blocks share a byte.
bool disjoint(std::vector<Block> blocks) {
  std::sort(blocks.begin(), blocks.end(),
            [](const Block& a, const Block& b) { return a.address() < b.address(); });
  for (std::size_t i = 1; i < blocks.size(); ++i) {
    if (blocks[i - 1].address() + blocks[i - 1].size > blocks[i].address()) return false;
  }
  return true;
}

// ---- StaticRegion ------------------------------------------------------------------------

struct Arena {
  alignas(4096) unsigned char bytes[1 << 16];
  Block block() { return Block{bytes, sizeof bytes}; }
};

TEST(StaticRegion, BumpsWithAlignment) {
  auto arena = std::make_unique<Arena>();
  StaticRegion<> r(arena->block());
  EXPECT_EQ(r.capacity(), sizeof(Arena::bytes));
  EXPECT_EQ(r.used(), 0u);
  EXPECT_EQ(r.region(), arena->block());

  Result<Block> a = r.try_acquire(3, 1);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->ptr, arena->bytes);
  EXPECT_EQ(a->size, 3u);
  for (std::size_t align = 1; align <= 4096; align *= 2) {
    Result<Block> b = r.try_acquire(5, align);
    ASSERT_TRUE(b.ok()) << align;
    EXPECT_EQ(b->address() % align, 0u) << align;
    EXPECT_EQ(b->size, 5u);
    EXPECT_TRUE(r.region().contains(b->ptr, b->size));
  }
  EXPECT_LE(r.used(), r.capacity());
  EXPECT_EQ(r.remaining(), r.capacity() - r.used());
}

TEST(StaticRegion, ErrorsLeaveTheRegionUnchanged) {
  auto arena = std::make_unique<Arena>();
  StaticRegion<> r(arena->block());
  ASSERT_TRUE(r.try_acquire(100, 8).ok());
  const std::size_t used = r.used();

  EXPECT_EQ(r.try_acquire(8, 0).error(), Error::misaligned);
  EXPECT_EQ(r.try_acquire(8, 3).error(), Error::misaligned);
  EXPECT_EQ(r.try_acquire(r.capacity() + 1, 1).error(), Error::oversized);
  EXPECT_EQ(r.try_acquire(kMax, 1).error(), Error::oversized);
  EXPECT_EQ(r.try_acquire(r.capacity(), 1).error(), Error::out_of_memory);  // 100 bytes gone
  EXPECT_EQ(r.try_acquire(r.remaining() + 1, 1).error(), Error::out_of_memory);
  EXPECT_EQ(r.used(), used);

  // Exactly the rest fits; then nothing does, not even with padding.
  ASSERT_TRUE(r.try_acquire(r.remaining(), 1).ok());
  EXPECT_EQ(r.remaining(), 0u);
  EXPECT_EQ(r.try_acquire(1, 1).error(), Error::out_of_memory);
  EXPECT_TRUE(r.try_acquire(0, 1).ok());  // an empty block still fits
}

TEST(StaticRegion, AlignmentPaddingCountsAgainstCapacity) {
  alignas(64) unsigned char bytes[128];
  StaticRegion<> r(Block{bytes, sizeof bytes});
  ASSERT_TRUE(r.try_acquire(1, 1).ok());
  // 63 bytes of padding + 64 = 127 <= 127 left.
  Result<Block> b = r.try_acquire(64, 64);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->ptr, bytes + 64);
  EXPECT_EQ(r.used(), 128u);
  r.reset();
  ASSERT_TRUE(r.try_acquire(1, 1).ok());
  EXPECT_EQ(r.try_acquire(65, 64).error(), Error::out_of_memory);  // needs 63 + 65
}

TEST(StaticRegion, ReleaseOfTheLatestRollsBack) {
  auto arena = std::make_unique<Arena>();
  StaticRegion<> r(arena->block());
  Result<Block> a = r.try_acquire(32, 8);
  Result<Block> b = r.try_acquire(64, 8);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(r.used(), 96u);

  // Not the most recent: accepted, bytes stay used until reset.
  EXPECT_EQ(r.release(*a), Error::none);
  EXPECT_EQ(r.used(), 96u);
  // The most recent: rolled back, and the same bytes come again.
  EXPECT_EQ(r.release(*b), Error::none);
  EXPECT_EQ(r.used(), 32u);
  Result<Block> c = r.try_acquire(64, 8);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->ptr, b->ptr);

  // Padding before a rolled-back region stays used.
  Result<Block> d = r.try_acquire(8, 1024);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(r.release(*d), Error::none);
  EXPECT_EQ(r.used(), d->address() - arena->block().address());

  r.reset();
  EXPECT_EQ(r.used(), 0u);
  Result<Block> e = r.try_acquire(16, 1);
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->ptr, arena->bytes);
}

TEST(StaticRegion, BadReleasesAreRefusedAndChangeNothing) {
  auto arena = std::make_unique<Arena>();
  StaticRegion<> r(Block{arena->bytes + 4096, 4096});
  Result<Block> a = r.try_acquire(100, 1);
  ASSERT_TRUE(a.ok());
  const std::size_t used = r.used();

  EXPECT_EQ(r.release(Block{arena->bytes, 16}), Error::foreign_pointer);         // before
  EXPECT_EQ(r.release(Block{arena->bytes + 8192, 16}), Error::foreign_pointer);  // after
  EXPECT_EQ(r.release(Block{arena->bytes + 8000, 500}), Error::foreign_pointer);  // straddles
  EXPECT_EQ(r.release(Block{a->begin() + 50, 200}), Error::invalid_argument);    // beyond the bump
  EXPECT_EQ(r.release(Block{}), Error::none);                                    // nothing to give back
  EXPECT_EQ(r.used(), used);

  // A double release of the latest region: the second one ends beyond the bump.
  EXPECT_EQ(r.release(*a), Error::none);
  EXPECT_EQ(r.release(*a), Error::invalid_argument);
  EXPECT_EQ(r.used(), 0u);
}

TEST(StaticRegion, NullRegionServesNothing) {
  StaticRegion<> r(Block{nullptr, 4096});
  EXPECT_EQ(r.capacity(), 0u);
  EXPECT_EQ(r.try_acquire(1, 1).error(), Error::oversized);
}

TEST(StaticRegion, SingleOwnerMode) {
  auto arena = std::make_unique<Arena>();
  StaticRegion<RegionAccess::host, swim::mem::single_owner> r(arena->block());
  Result<Block> a = r.try_acquire(10, 16);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->address() % 16, 0u);
  EXPECT_EQ(r.release(*a), Error::none);
  EXPECT_EQ(r.used(), 0u);
}

// Many threads bump one region: every block is inside, aligned and disjoint
// from the others (checked by address and by the bytes each thread wrote), and
// exhaustion is reported as out_of_memory, never as an overlap.
TEST(StaticRegion, ConcurrentAcquiresAreDisjoint) {
  constexpr int kThreads = 4;
  auto arena = std::make_unique<Arena>();
  StaticRegion<> r(arena->block(), /*max_retries=*/4);  // few retries: exercise contended
  std::vector<std::vector<Block>> got(kThreads);
  std::vector<int> oom(kThreads, 0), contended(kThreads, 0), other(kThreads, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; oom[t] == 0 && i < 100000; ++i) {
        const std::size_t size = 1 + static_cast<std::size_t>((i * 7 + t) % 61);
        const std::size_t align = std::size_t(1) << ((i + t) % 7);
        Result<Block> b = r.try_acquire(size, align);
        if (b.ok()) {
          if (b->address() % align != 0) ++other[t];
          std::memset(b->ptr, t + 1, b->size);
          got[t].push_back(*b);
        } else if (b.error() == Error::out_of_memory) {
          ++oom[t];
        } else if (b.error() == Error::contended) {
          ++contended[t];
        } else {
          ++other[t];
        }
      }
    });
  }
  for (auto& th : threads) th.join();

  std::vector<Block> all;
  std::size_t bytes = 0;
  for (int t = 0; t < kThreads; ++t) {
    EXPECT_EQ(other[t], 0) << "thread " << t;
    EXPECT_EQ(oom[t], 1) << "thread " << t << " never ran out";
    for (const Block& b : got[t]) {
      EXPECT_TRUE(r.region().contains(b.ptr, b.size));
      const auto* p = static_cast<const unsigned char*>(b.ptr);
      for (std::size_t k = 0; k < b.size; ++k) {
        ASSERT_EQ(p[k], t + 1) << "bytes of thread " << t << " overwritten";
      }
      bytes += b.size;
      all.push_back(b);
    }
  }
  EXPECT_TRUE(disjoint(all));
  EXPECT_LE(bytes, r.used());
  EXPECT_LE(r.used(), r.capacity());
  // Nearly full: the last failures were for want of at most 61 + 63 bytes.
  EXPECT_GE(r.used() + 61 + 63, r.capacity());
}

TEST(StaticRegion, ConcurrentAcquireAndRollback) {
  constexpr int kThreads = 4;
  auto arena = std::make_unique<Arena>();
  StaticRegion<> r(arena->block());
  std::vector<int> failures(kThreads, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 20000; ++i) {
        Result<Block> b = r.try_acquire(8, 8);
        if (!b.ok()) {
          if (b.error() != Error::contended && b.error() != Error::out_of_memory) ++failures[t];
          continue;
        }
        // The bytes are ours until released, even when someone rolls back.
        auto* p = static_cast<std::uint64_t*>(b->ptr);
        *p = static_cast<std::uint64_t>(t) << 32 | static_cast<std::uint64_t>(i);
        if (*p != (static_cast<std::uint64_t>(t) << 32 | static_cast<std::uint64_t>(i))) {
          ++failures[t];
        }
        if (r.release(*b) != Error::none) ++failures[t];
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(failures[t], 0) << "thread " << t;
  EXPECT_LE(r.used(), r.capacity());
}

// ---- OsPages ---------------------------------------------------------------------------------

TEST(OsPages, PageSize) {
  const std::size_t page = OsPages::page_size();
  EXPECT_GE(page, 4096u);
  EXPECT_EQ(page & (page - 1), 0u);
}

TEST(OsPages, WholeZeroedPages) {
  OsPages os;
  const std::size_t page = OsPages::page_size();
  for (std::size_t bytes : {std::size_t(0), std::size_t(1), page - 1, page, page + 1, 10 * page}) {
    Result<Block> b = os.try_acquire(bytes, 1);
    ASSERT_TRUE(b.ok()) << bytes;
    EXPECT_EQ(b->address() % page, 0u);
    EXPECT_GE(b->size, bytes);
    EXPECT_GT(b->size, 0u);
    EXPECT_EQ(b->size % page, 0u);
    EXPECT_LT(b->size - (bytes == 0 ? 1 : bytes), page);
    const auto* p = static_cast<const unsigned char*>(b->ptr);
    EXPECT_TRUE(std::all_of(p, p + b->size, [](unsigned char c) { return c == 0; }));
    std::memset(b->ptr, 0xAB, b->size);
    EXPECT_EQ(os.release(*b), Error::none);
  }
}

TEST(OsPages, LargeAlignments) {
  OsPages os;
  for (std::size_t align : {OsPages::page_size() * 2, std::size_t(1) << 20, std::size_t(1) << 21,
                            std::size_t(1) << 26}) {
    Result<Block> b = os.try_acquire(3 * OsPages::page_size() + 5, align);
    ASSERT_TRUE(b.ok()) << align;
    EXPECT_EQ(b->address() % align, 0u) << align;
    std::memset(b->ptr, 0x5A, b->size);  // every byte is mapped
    EXPECT_EQ(os.release(*b), Error::none);
  }
}

TEST(OsPages, Errors) {
  OsPages os;
  EXPECT_EQ(os.try_acquire(64, 0).error(), Error::misaligned);
  EXPECT_EQ(os.try_acquire(64, 48).error(), Error::misaligned);
  EXPECT_EQ(os.try_acquire(64, Layout::max_align * 2).error(), Error::misaligned);
  EXPECT_EQ(os.try_acquire(kMax, 1).error(), Error::oversized);
  EXPECT_EQ(os.try_acquire(kMax - (std::size_t(1) << 21), std::size_t(1) << 30).error(),
            Error::oversized);
  // More than the address space: the mapping fails.
  EXPECT_EQ(os.try_acquire(std::size_t(1) << 62, 1).error(), Error::out_of_memory);
  EXPECT_EQ(os.try_acquire(std::size_t(1) << 62, std::size_t(1) << 21).error(),
            Error::out_of_memory);

  Result<Block> b = os.try_acquire(100, 1);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(os.release(Block{b->begin() + 1, 10}), Error::foreign_pointer);
  EXPECT_EQ(os.release(Block{nullptr, 10}), Error::foreign_pointer);
  EXPECT_EQ(os.release(Block{}), Error::none);
  // A size that rounds to the same pages is accepted.
  EXPECT_EQ(os.release(Block{b->ptr, 100}), Error::none);
}

TEST(OsPages, ConcurrentUse) {
  std::vector<std::thread> threads;
  std::vector<int> failures(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      OsPages os;
      for (int i = 0; i < 200; ++i) {
        Result<Block> b = os.try_acquire(static_cast<std::size_t>(i + 1) * 1000,
                                         std::size_t(1) << (12 + i % 6));
        if (!b.ok()) {
          ++failures[t];
          continue;
        }
        static_cast<unsigned char*>(b->ptr)[b->size - 1] = 1;
        if (os.release(*b) != Error::none) ++failures[t];
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int f : failures) EXPECT_EQ(f, 0);
}

// ---- SourceHeap -------------------------------------------------------------------------------

TEST(SourceHeap, OverOsPagesCountsBlocks) {
  SourceHeap<OsPages> heap;
  const std::size_t page = OsPages::page_size();
  Result<Block> a = heap.try_allocate(Layout{100, 64});
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->size, page);  // the source's rounding shows
  Result<Block> b = heap.try_allocate(Layout{page + 1, std::size_t(1) << 20});
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->address() % (std::size_t(1) << 20), 0u);

  swim::mem::Stats s = heap.stats();
  EXPECT_EQ(s.live, 2u);
  EXPECT_EQ(s.bytes_in_use, 3 * page);
  EXPECT_EQ(s.peak_bytes, 3 * page);
  EXPECT_EQ(s.bytes_free, 0u);

  EXPECT_EQ(heap.try_deallocate(*a), Error::none);
  EXPECT_EQ(heap.try_deallocate(*b), Error::none);
  s = heap.stats();
  EXPECT_EQ(s.live, 0u);
  EXPECT_EQ(s.bytes_in_use, 0u);
  EXPECT_EQ(s.peak_bytes, 3 * page);
}

TEST(SourceHeap, ErrorsPassThroughAndChangeNothing) {
  auto arena = std::make_unique<Arena>();
  SourceHeap<StaticRegion<>> heap(arena->block());
  Result<Block> a = heap.try_allocate(Layout{1000, 8});
  ASSERT_TRUE(a.ok());
  const swim::mem::Stats before = heap.stats();

  EXPECT_EQ(heap.try_allocate(Layout{8, 3}).error(), Error::misaligned);
  EXPECT_EQ(heap.try_allocate(Layout{sizeof(Arena::bytes) + 1, 1}).error(), Error::oversized);
  EXPECT_EQ(heap.try_allocate(Layout{sizeof(Arena::bytes), 1}).error(), Error::out_of_memory);
  EXPECT_EQ(heap.try_deallocate(Block{arena->bytes + sizeof(Arena::bytes), 8}),
            Error::foreign_pointer);

  const swim::mem::Stats after = heap.stats();
  EXPECT_EQ(after.live, before.live);
  EXPECT_EQ(after.bytes_in_use, before.bytes_in_use);
  EXPECT_EQ(heap.source().used(), 1000u);

  EXPECT_EQ(heap.try_deallocate(*a), Error::none);
  EXPECT_EQ(heap.stats().live, 0u);
  EXPECT_EQ(heap.source().used(), 0u);  // it was the latest: rolled back
}

TEST(SourceHeap, ConcurrentCountersAreExact) {
  auto arena = std::make_unique<Arena>();
  SourceHeap<StaticRegion<>> heap(arena->block());
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&heap] {
      std::vector<Block> mine;
      for (int i = 0; i < 5000; ++i) {
        Result<Block> b = heap.try_allocate(Layout{16, 16});
        if (b.ok()) mine.push_back(*b);
        if (mine.size() > 8) {
          (void)heap.try_deallocate(mine.back());
          mine.pop_back();
        }
      }
      for (const Block& b : mine) (void)heap.try_deallocate(b);
    });
  }
  for (auto& th : threads) th.join();
  const swim::mem::Stats s = heap.stats();
  EXPECT_EQ(s.live, 0u);
  EXPECT_EQ(s.bytes_in_use, 0u);
  EXPECT_GE(s.peak_bytes, 16u);
  EXPECT_LE(s.peak_bytes, 4u * 9u * 16u);
}

// ---- GPU runtime sources ------------------------------------------------------------------------
// Built when the library is configured with CUDA. Without a device (this CI
// machine has none, nor a driver) they must say Error::unsupported, cleanly.

#if defined(SWIM_MEM_TEST_HAS_CUDA)
TEST(CudaSources, UnsupportedWithoutADeviceElseWorking) {
  using swim::mem::CudaDeviceMemory;
  using swim::mem::CudaManagedMemory;
  static_assert(!CudaDeviceMemory::host_accessible && CudaDeviceMemory::device_accessible);
  static_assert(CudaManagedMemory::host_accessible && CudaManagedMemory::device_accessible);

  CudaDeviceMemory device;
  CudaManagedMemory managed;
  EXPECT_EQ(device.try_acquire(64, 512).error(), Error::misaligned);  // before any runtime call
  EXPECT_EQ(device.try_acquire(64, 3).error(), Error::misaligned);

  SourceHeap<CudaDeviceMemory> heap;
  if (!CudaDeviceMemory::available()) {
    EXPECT_EQ(device.try_acquire(1024, 256).error(), Error::unsupported);
    EXPECT_EQ(managed.try_acquire(1024, 8).error(), Error::unsupported);
    EXPECT_EQ(heap.try_allocate(Layout{1024, 8}).error(), Error::unsupported);
    EXPECT_EQ(heap.stats().live, 0u);
    EXPECT_EQ(CudaDeviceMemory(3).try_acquire(8, 8).error(), Error::unsupported);
    return;
  }
  Result<Block> d = device.try_acquire(1024, 256);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->address() % 256, 0u);
  EXPECT_EQ(device.release(*d), Error::none);
  Result<Block> m = managed.try_acquire(1024, 8);
  ASSERT_TRUE(m.ok());
  std::memset(m->ptr, 1, m->size);  // host-accessible
  EXPECT_EQ(managed.release(*m), Error::none);
  Result<Block> h = heap.try_allocate(Layout{4096, 128});
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(heap.stats().live, 1u);
  EXPECT_EQ(heap.try_deallocate(*h), Error::none);
}
#endif

#if defined(SWIM_MEM_TEST_HAS_CUDA)
TEST(CudaSources, PinnedMemoryIsHostAndDeviceAccessible) {
  using swim::mem::CudaPinnedMemory;
  static_assert(CudaPinnedMemory::host_accessible && CudaPinnedMemory::device_accessible);
  CudaPinnedMemory pinned;
  if (!CudaPinnedMemory::available()) {
    EXPECT_EQ(pinned.try_acquire(1024, 8).error(), Error::unsupported);
    return;
  }
  Result<Block> p = pinned.try_acquire(1024, 8);
  ASSERT_TRUE(p.ok());
  std::memset(p->ptr, 1, p->size);  // host memory
  EXPECT_EQ(pinned.release(*p), Error::none);
}

TEST(CudaArena, NoDeviceMeansUnsupported) {
  if (swim::mem::CudaDeviceMemory::available()) GTEST_SKIP() << "a device is present";
  swim::mem::testing::check_arena_without_device<swim::mem::CudaDeviceMemory>();
  swim::mem::testing::check_arena_without_device<swim::mem::CudaPinnedMemory>();
}

TEST(CudaArena, DeviceBuffersCompactWithDeviceCopies) {
  if (!swim::mem::CudaDeviceMemory::available()) GTEST_SKIP() << "no CUDA device";
  swim::mem::testing::check_arena_on_device<swim::mem::CudaDeviceMemory>();
  swim::mem::testing::check_arena_on_device<swim::mem::CudaPinnedMemory>();
  swim::mem::testing::check_arena_on_device<swim::mem::CudaManagedMemory>();
}
#endif

// The HIP sources are tested in hip_sources.cpp: the CUDA and HIP runtime headers
// cannot be included in the same translation unit.


}  // namespace
