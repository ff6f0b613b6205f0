// MemoryResource (include/swim/mem/integrations/pmr.hpp): std::pmr containers on
// swim-mem heaps and holds. Every test checks that the bytes come from the
// swim-mem allocator (its statistics move, the pointers lie in its range), so an
// adapter that fell back to operator new would fail; and that failures throw or
// report without changing the allocator.
#include <gtest/gtest.h>

#include <cstddef>
#include <cstring>
#include <map>
#include <memory_resource>
#include <string>
#include <unordered_map>
#include <vector>

#include "support/arena.hpp"
#include "swim/mem.hpp"
#include "swim/mem/integrations.hpp"

namespace swim::mem::testing {
namespace {

void expect_same_stats(const Stats& a, const Stats& b) {
  EXPECT_EQ(a.live, b.live);
  EXPECT_EQ(a.bytes_in_use, b.bytes_in_use);
  EXPECT_EQ(a.bytes_free, b.bytes_free);
  EXPECT_EQ(a.peak_bytes, b.peak_bytes);
}

bool inside(const Block& range, const void* p, std::size_t n = 1) { return range.contains(p, n); }

// Fills a vector, a long string, a map and an unordered_map through `res`;
// checks that every container's storage lies in `range` and that the allocator's
// statistics (`stats`) count it; and that everything goes back at the end.
template <class StatsFn>
void exercise_containers(std::pmr::memory_resource& res, const Block& range, StatsFn stats) {
  const Stats before = stats();
  {
    std::pmr::vector<int> v(&res);
    for (int i = 0; i < 1000; ++i) v.push_back(i);
    EXPECT_TRUE(inside(range, v.data(), v.size() * sizeof(int)));

    std::pmr::string s(&res);
    s.assign(500, 'x');  // well beyond the small-string buffer
    EXPECT_TRUE(inside(range, s.data(), s.size()));

    std::pmr::map<int, std::pmr::string> m(&res);
    for (int i = 0; i < 50; ++i) m.emplace(i, std::pmr::string(100, char('a' + i % 26), &res));
    EXPECT_TRUE(inside(range, &*m.begin()));
    EXPECT_TRUE(inside(range, m.at(7).data(), m.at(7).size()));
    EXPECT_EQ(m.get_allocator().resource(), &res);  // nested strings use it too
    EXPECT_EQ(m.at(7).get_allocator().resource(), &res);

    std::pmr::unordered_map<int, int> u(&res);
    for (int i = 0; i < 200; ++i) u[i] = i * i;
    EXPECT_TRUE(inside(range, &*u.find(100)));
    EXPECT_EQ(u.at(100), 10000);

    const Stats during = stats();
    EXPECT_GT(during.live, before.live);
    EXPECT_GE(during.bytes_in_use, before.bytes_in_use + 1000 * sizeof(int) + 500 + 50 * 100);
    int sum = 0;
    for (int x : v) sum += x;
    EXPECT_EQ(sum, 999 * 1000 / 2);
  }
  const Stats after = stats();
  EXPECT_EQ(after.live, before.live);
  EXPECT_EQ(after.bytes_in_use, before.bytes_in_use);
}

TEST(Pmr, ContainersOnAnInBandExtentHeap) {
  std::vector<std::byte> region(4 << 20);
  ExtentHeap<> heap(Block{region.data(), region.size()}, 64);
  ASSERT_EQ(heap.init_error(), Error::none);
  MemoryResource res(heap);
  static_assert(std::is_same_v<decltype(res), MemoryResource<ExtentHeap<>>>);
  EXPECT_EQ(&res.upstream(), &heap);
  exercise_containers(res, Block{region.data(), region.size()}, [&] { return heap.stats(); });
  EXPECT_EQ(heap.stats().live, 0u);
}

TEST(Pmr, ContainersOnAnAddrSpace) {
  Arena arena(16 << 20);
  AddrSpace<> pages(arena.block());
  MemoryResource res(pages);
  exercise_containers(res, arena.block(), [&] { return res.stats(); });
  EXPECT_EQ(pages.stats().live, 0u);
}

TEST(Pmr, ContainersOnAPool) {
  Arena arena(16 << 20);
  AddrSpace<> pages(arena.block());
  Pool<AddrSpace<>> pool(pages, 64 * 1024);
  MemoryResource res(pool);
  exercise_containers(res, arena.block(), [&] { return pool.stats(); });
  EXPECT_GT(pages.stats().live, 0u);  // the pool's hunks: its bytes came from the pages
}

TEST(Pmr, ContainersOnAHoldRefKeptByValue) {
  Arena arena(16 << 20);
  AddrSpace<> pages(arena.block());
  Pool<AddrSpace<>> pool(pages, 64 * 1024);
  Pack<> pack(Block{arena.ptr, 0});  // a second hold, to tell them apart
  MemoryResource res(HoldRef::of(pool));  // from a temporary handle
  static_assert(std::is_same_v<decltype(res), MemoryResource<HoldRef>>);
  EXPECT_TRUE(res.upstream() == HoldRef::of(pool));
  exercise_containers(res, arena.block(), [&] { return pool.stats(); });

  MemoryResource<HoldRef> same = memory_resource_of(pool);
  MemoryResource<HoldRef> other = memory_resource_of(pack);
  EXPECT_TRUE(res.is_equal(same));
  EXPECT_FALSE(res.is_equal(other));
}

TEST(Pmr, BytesComeFromTheHeapNotOperatorNew) {
  std::vector<std::byte> region(1 << 20);
  ExtentHeap<> heap(Block{region.data(), region.size()}, 64);
  MemoryResource res(heap);
  void* p = res.allocate(1000, 32);
  EXPECT_TRUE(inside(Block{region.data(), region.size()}, p, 1000));
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(p) % 32, 0u);
  EXPECT_EQ(heap.stats().live, 1u);
  EXPECT_EQ(heap.stats().bytes_in_use, 1024u);  // 16 granules of 64 bytes
  std::memset(p, 0xab, 1000);
  res.deallocate(p, 1000, 32);
  EXPECT_EQ(heap.stats().live, 0u);
  EXPECT_EQ(heap.stats().bytes_in_use, 0u);
}

TEST(Pmr, ExhaustionThrowsOutOfMemoryAndChangesNothing) {
  std::vector<std::byte> region(64 * 1024);
  ExtentHeap<> heap(Block{region.data(), region.size()}, 64);
  MemoryResource res(heap);
  void* held = res.allocate(1024, 8);
  const Stats before = heap.stats();
  EXPECT_THROW((void)res.allocate(1 << 20, 8), OutOfMemory);
  expect_same_stats(heap.stats(), before);
  try {
    (void)res.allocate(std::size_t(1) << 40, 8);
    ADD_FAILURE() << "no exception";
  } catch (const std::bad_alloc&) {  // what pmr code catches
  }
  expect_same_stats(heap.stats(), before);
  {
    std::pmr::vector<double> v(&res);
    EXPECT_THROW(v.reserve(1 << 20), std::bad_alloc);
    EXPECT_TRUE(v.empty());
  }
  expect_same_stats(heap.stats(), before);
  res.deallocate(held, 1024, 8);
}

TEST(Pmr, BadAlignmentIsRefused) {
  std::vector<std::byte> region(64 * 1024);
  ExtentHeap<> heap(Block{region.data(), region.size()}, 64);
  MemoryResource res(heap);
  const Stats before = heap.stats();
  for (std::size_t align : {std::size_t(0), std::size_t(3), std::size_t(48)}) {
    try {
      (void)res.allocate(64, align);
      ADD_FAILURE() << "alignment " << align << " accepted";
    } catch (const MemoryError& e) {
      EXPECT_EQ(e.code(), Error::misaligned);
    }
  }
  expect_same_stats(heap.stats(), before);
}

TEST(Pmr, IsEqualMeansTheSameAllocatorObject) {
  std::vector<std::byte> r1(64 * 1024), r2(64 * 1024);
  ExtentHeap<> h1(Block{r1.data(), r1.size()}, 64), h2(Block{r2.data(), r2.size()}, 64);
  MemoryResource a(h1), b(h1), c(h2);
  EXPECT_TRUE(a.is_equal(a));
  EXPECT_TRUE(a.is_equal(b));
  EXPECT_TRUE(a == b);  // std::pmr's operator==
  EXPECT_FALSE(a.is_equal(c));
  EXPECT_FALSE(a.is_equal(*std::pmr::new_delete_resource()));
  std::pmr::monotonic_buffer_resource mono(r2.data(), r2.size());
  EXPECT_FALSE(a.is_equal(mono));
  // Equal resources free each other's memory.
  void* p = a.allocate(100, 8);
  b.deallocate(p, 100, 8);
  EXPECT_EQ(h1.stats().live, 0u);
  std::pmr::polymorphic_allocator<int> pa(&a), pb(&b), pc(&c);
  EXPECT_TRUE(pa == pb);
  EXPECT_FALSE(pa == pc);
}

// The leak handler's reports during a test, and the handler restored after it.
struct Reports {
  static inline std::vector<LeakReport> seen;
  static void record(const LeakReport& r) noexcept { seen.push_back(r); }
  Reports() : previous(set_leak_handler(&record)) { seen.clear(); }
  ~Reports() { set_leak_handler(previous); }
  leak_handler previous;
};

TEST(Pmr, ARefusedFreeIsReportedAndChangesNothing) {
  std::vector<std::byte> region(64 * 1024);
  ExtentHeap<> heap(Block{region.data(), region.size()}, 64);
  MemoryResource res(heap);
  Reports reports;
  void* kept = res.allocate(256, 8);
  const Stats before = heap.stats();

  alignas(64) static std::byte foreign[128];
  res.deallocate(foreign, sizeof foreign, 8);  // never from this heap
  ASSERT_EQ(Reports::seen.size(), 1u);
  EXPECT_STREQ(Reports::seen[0].allocator, "adapter: free refused (foreign pointer)");
  EXPECT_EQ(Reports::seen[0].control, static_cast<const void*>(&res));
  EXPECT_EQ(Reports::seen[0].stats.bytes_in_use, sizeof foreign);
  expect_same_stats(heap.stats(), before);

  void* p = res.allocate(64, 8);
  res.deallocate(p, 64, 8);
  const Stats after_free = heap.stats();
  res.deallocate(p, 64, 8);  // twice
  ASSERT_EQ(Reports::seen.size(), 2u);
  EXPECT_STREQ(Reports::seen[1].allocator, "adapter: free refused (double free)");
  expect_same_stats(heap.stats(), after_free);

  res.deallocate(kept, 256, 8);
  EXPECT_EQ(heap.stats().live, 0u);
  EXPECT_EQ(Reports::seen.size(), 2u);
}

// An allocator that answers Error::contended a given number of times before it
// does what it is asked, counting the calls.
struct Busy {
  int busy_allocs = 0, busy_frees = 0;
  int allocs = 0, frees = 0;
  alignas(64) std::byte storage[256];
  Result<Block> try_allocate(Layout l) {
    ++allocs;
    if (busy_allocs-- > 0) return Error::contended;
    return Block{storage, l.size};
  }
  Error try_deallocate(Block) {
    ++frees;
    return busy_frees-- > 0 ? Error::contended : Error::none;
  }
};

TEST(Pmr, ContendedIsRetriedABoundedNumberOfTimes) {
  constexpr unsigned retries = detail::Upstream<Busy>::retries;
  Busy busy;
  MemoryResource res(busy);
  busy.busy_allocs = 5;
  EXPECT_EQ(res.allocate(64, 8), busy.storage);
  EXPECT_EQ(busy.allocs, 6);

  busy.allocs = 0;
  busy.busy_allocs = 1 << 30;  // forever
  try {
    (void)res.allocate(64, 8);
    ADD_FAILURE() << "no exception";
  } catch (const MemoryError& e) {
    EXPECT_EQ(e.code(), Error::contended);
  }
  EXPECT_EQ(busy.allocs, static_cast<int>(retries));

  Reports reports;
  busy.busy_frees = 3;
  res.deallocate(busy.storage, 64, 8);
  EXPECT_EQ(busy.frees, 4);
  EXPECT_TRUE(Reports::seen.empty());
  busy.frees = 0;
  busy.busy_frees = 1 << 30;
  res.deallocate(busy.storage, 64, 8);
  EXPECT_EQ(busy.frees, static_cast<int>(retries));
  ASSERT_EQ(Reports::seen.size(), 1u);
  EXPECT_STREQ(Reports::seen[0].allocator, "adapter: free refused (still contended)");
}

}  // namespace
}  // namespace swim::mem::testing
