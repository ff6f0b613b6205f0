// StlAllocator (include/swim/mem/integrations/stl_allocator.hpp): standard
// containers on swim-mem heaps and holds. Each test checks that the bytes come
// from the swim-mem allocator (statistics, pointer range), so a fallback to
// operator new fails it.
#include <gtest/gtest.h>

#include <cstddef>
#include <list>
#include <map>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "support/arena.hpp"
#include "swim/mem.hpp"
#include "swim/mem/integrations.hpp"

namespace swim::mem::testing {
namespace {

using Heap = ExtentHeap<>;
template <class T>
using Alloc = StlAllocator<T, Heap>;

// The Allocator requirements, as std::allocator_traits sees them.
using Traits = std::allocator_traits<Alloc<int>>;
static_assert(std::is_same_v<Traits::value_type, int>);
static_assert(std::is_same_v<Traits::rebind_alloc<double>, Alloc<double>>);
static_assert(Traits::propagate_on_container_copy_assignment::value);
static_assert(Traits::propagate_on_container_move_assignment::value);
static_assert(Traits::propagate_on_container_swap::value);
static_assert(!Traits::is_always_equal::value);
static_assert(std::is_nothrow_copy_constructible_v<Alloc<int>>);
static_assert(std::is_convertible_v<Alloc<int>, Alloc<double>>);  // rebinding
static_assert(!std::is_default_constructible_v<Alloc<int>>);      // always names its heap

struct Region {
  explicit Region(std::size_t n) : bytes(n), heap(Block{bytes.data(), bytes.size()}, 64) {}
  Block range() const { return Block{const_cast<std::byte*>(bytes.data()), bytes.size()}; }
  std::vector<std::byte> bytes;
  Heap heap;
};

TEST(StlAllocator, ContainersDrawFromTheHeap) {
  Region r(4 << 20);
  Alloc<int> a(r.heap);
  EXPECT_EQ(&a.upstream(), &r.heap);
  {
    std::vector<int, Alloc<int>> v(a);
    for (int i = 0; i < 1000; ++i) v.push_back(i);
    EXPECT_TRUE(r.range().contains(v.data(), v.size() * sizeof(int)));

    std::list<int, Alloc<int>> l(a);
    for (int i = 0; i < 100; ++i) l.push_back(i);
    EXPECT_TRUE(r.range().contains(&l.back()));

    using Str = std::basic_string<char, std::char_traits<char>, Alloc<char>>;
    Str s(300, 'y', Alloc<char>(a));
    EXPECT_TRUE(r.range().contains(s.data(), s.size()));

    using Pair = std::pair<const int, Str>;
    std::map<int, Str, std::less<int>, Alloc<Pair>> m{Alloc<Pair>(a)};
    for (int i = 0; i < 40; ++i) m.emplace(i, Str(64, 'z', Alloc<char>(a)));
    EXPECT_TRUE(r.range().contains(&*m.begin()));
    EXPECT_TRUE(r.range().contains(m.at(3).data(), m.at(3).size()));

    const Stats s_during = r.heap.stats();
    // vector (at least 1000 ints) + 100 list nodes + 40 map nodes + 41 strings.
    EXPECT_GE(s_during.live, 1u + 100u + 40u + 41u);
    EXPECT_GE(s_during.bytes_in_use, 1000 * sizeof(int) + 300 + 40 * 64);
  }
  EXPECT_EQ(r.heap.stats().live, 0u);
  EXPECT_EQ(r.heap.stats().bytes_in_use, 0u);
}

TEST(StlAllocator, OverAPoolThroughAHoldRef) {
  Arena arena(8 << 20);
  AddrSpace<> pages(arena.block());
  Pool<AddrSpace<>> pool(pages, 64 * 1024);
  StlAllocator<long, HoldRef> a(HoldRef::of(pool));
  {
    std::vector<long, StlAllocator<long, HoldRef>> v(a);
    v.assign(500, 7);
    EXPECT_TRUE(arena.block().contains(v.data(), v.size() * sizeof(long)));
    EXPECT_EQ(pool.stats().live, 1u);
    EXPECT_GE(pool.stats().bytes_in_use, 500 * sizeof(long));
  }
  EXPECT_EQ(pool.stats().live, 0u);
}

TEST(StlAllocator, EqualityIsTheSameHeapWhateverTheValueType) {
  Region r1(64 * 1024), r2(64 * 1024);
  Alloc<int> a(r1.heap), b(r1.heap), c(r2.heap);
  Alloc<double> d(a);
  EXPECT_TRUE(a == b);
  EXPECT_FALSE(a != b);
  EXPECT_TRUE(a != c);
  EXPECT_TRUE(a == d);
  EXPECT_TRUE(d == a);
  // A rebound copy frees what the original allocated.
  int* p = a.allocate(10);
  Alloc<int>(d).deallocate(p, 10);
  EXPECT_EQ(r1.heap.stats().live, 0u);
}

TEST(StlAllocator, AllocationFailuresThrowAndChangeNothing) {
  Region r(64 * 1024);
  Alloc<double> a(r.heap);
  double* held = a.allocate(16);
  const Stats before = r.heap.stats();
  EXPECT_THROW((void)a.allocate(Alloc<double>::max_size() + 1), OutOfMemory);  // n * 8 overflows
  EXPECT_THROW((void)a.allocate(Alloc<double>::max_size()), OutOfMemory);
  EXPECT_THROW((void)a.allocate(1 << 20), OutOfMemory);  // more than the heap
  {
    std::vector<double, Alloc<double>> v(a);
    EXPECT_THROW(v.resize(1 << 20), std::bad_alloc);
  }
  const Stats after = r.heap.stats();
  EXPECT_EQ(after.live, before.live);
  EXPECT_EQ(after.bytes_in_use, before.bytes_in_use);
  EXPECT_EQ(after.bytes_free, before.bytes_free);
  EXPECT_EQ(after.peak_bytes, before.peak_bytes);
  a.deallocate(held, 16);
}

TEST(StlAllocator, OverAlignedTypesAreAligned) {
  struct alignas(256) Wide {
    std::byte b[256];
  };
  // An ExtentHeap aligns beyond its granule only as far as its range's start is
  // aligned: a 4096-aligned arena.
  Arena arena(256 * 1024);
  Heap heap(arena.block(), 64);
  StlAllocator<Wide, Heap> a(heap);
  std::vector<Wide, StlAllocator<Wide, Heap>> v(a);
  v.resize(5);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(v.data()) % 256, 0u);
  EXPECT_TRUE(arena.block().contains(v.data(), 5 * sizeof(Wide)));
}

TEST(StlAllocator, AssignmentAndSwapTakeTheAllocatorAlong) {
  Region r1(256 * 1024), r2(256 * 1024);
  using Vec = std::vector<int, Alloc<int>>;
  Vec x(100, 1, Alloc<int>(r1.heap));
  Vec y(50, 2, Alloc<int>(r2.heap));
  const int* x_data = x.data();
  y = std::move(x);  // propagates: y now uses r1's heap and takes x's buffer
  EXPECT_EQ(y.data(), x_data);
  EXPECT_TRUE(y.get_allocator() == Alloc<int>(r1.heap));
  EXPECT_EQ(r2.heap.stats().live, 0u);  // y's old buffer went back to its own heap

  Vec z(10, 3, Alloc<int>(r2.heap));
  z.swap(y);
  EXPECT_TRUE(z.get_allocator() == Alloc<int>(r1.heap));
  EXPECT_TRUE(r1.range().contains(z.data()));
  EXPECT_TRUE(r2.range().contains(y.data()));

  Vec w(Alloc<int>(r2.heap));
  w = z;  // copy assignment propagates too
  EXPECT_TRUE(r1.range().contains(w.data()));
  EXPECT_EQ(w, z);
}

}  // namespace
}  // namespace swim::mem::testing
