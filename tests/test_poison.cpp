// Poisoned arenas and debug fill (include/swim/mem/config/poison.hpp): in every heap
// and hold, memory that no live object owns is poisoned for AddressSanitizer (the
// asan preset) and valgrind memcheck (SWIM_MEM_VALGRIND=1 under valgrind), so a use
// after free or an overflow into a free neighbour inside an arena is reported; and
// checked builds fill fresh and freed memory with recognisable bytes.
//
// Each poisoning test asks the checker itself (ASan's __asan_address_is_poisoned,
// memcheck's VALGRIND_GET_VBITS) about the bytes of a live, a freed and a
// neighbouring block, and is skipped where no checker watches. The death tests
// (ASan only) touch freed arena memory and expect ASan's report.
#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

#include "support/arena.hpp"
#include "swim/mem.hpp"

namespace swim::mem {
namespace {

using testing::Arena;

constexpr bool asan_build =
#if defined(SWIM_MEM_DETAIL_POISON_ASAN)
    true;
#else
    false;
#endif

/// Whether a checker watches arena memory in this run.
bool watching() {
#if defined(SWIM_MEM_DETAIL_POISON_ASAN)
  return true;
#elif defined(SWIM_MEM_DETAIL_POISON_VALGRIND)
  return RUNNING_ON_VALGRIND != 0;
#else
  return false;
#endif
}

/// The checker's view of one byte: true when any access to it is reported.
bool poisoned(const void* p) {
#if defined(SWIM_MEM_DETAIL_POISON_ASAN)
  return __asan_address_is_poisoned(p) != 0;
#elif defined(SWIM_MEM_DETAIL_POISON_VALGRIND)
  unsigned char vbits = 0;
  return VALGRIND_GET_VBITS(p, &vbits, 1) == 3;  // 3: not addressable
#else
  (void)p;
  return false;
#endif
}

#define SKIP_UNLESS_WATCHED() \
  if (!watching()) GTEST_SKIP() << "no memory checker in this build (asan preset, or valgrind with SWIM_MEM_VALGRIND=1)"

/// Every 8-byte granule of [p, p + n) open.
::testing::AssertionResult all_open(const void* p, std::size_t n) {
  const auto* b = static_cast<const std::byte*>(p);
  for (std::size_t i = 0; i < n; i += 8) {
    if (poisoned(b + i)) return ::testing::AssertionFailure() << "byte " << i << " of " << n << " is poisoned";
  }
  return ::testing::AssertionSuccess();
}
/// Every whole granule of [p + from, p + n) poisoned.
::testing::AssertionResult all_poisoned(const void* p, std::size_t from, std::size_t n) {
  const auto* b = static_cast<const std::byte*>(p);
  for (std::size_t i = (from + 7) & ~std::size_t(7); i + 8 <= n; i += 8) {
    if (!poisoned(b + i)) return ::testing::AssertionFailure() << "byte " << i << " of " << n << " is open";
  }
  return ::testing::AssertionSuccess();
}

/// The life of one block of an allocator, checked by the checker: open while live,
/// poisoned (but for `kept` leading bytes: a free list's link) once freed, the
/// live neighbour untouched, open again when handed out anew.
struct Subject {
  std::function<Block()> allocate;
  std::function<void(Block)> free;
  std::size_t kept = 0;
};

void check_life(const Subject& s) {
  const Block a = s.allocate();
  const Block b = s.allocate();
  ASSERT_NE(a.ptr, nullptr);
  ASSERT_NE(b.ptr, nullptr);
  ASSERT_GE(a.size, 16u);
  EXPECT_TRUE(all_open(a.ptr, a.size));
  EXPECT_TRUE(all_open(b.ptr, b.size));
  s.free(a);
  EXPECT_TRUE(all_poisoned(a.ptr, s.kept, a.size));
  EXPECT_TRUE(all_open(b.ptr, b.size)) << "freeing a block poisoned its neighbour";
  const Block c = s.allocate();  // (usually a again: LIFO free lists)
  EXPECT_TRUE(all_open(c.ptr, c.size));
  s.free(c);
  s.free(b);
}

template <class H>
Subject heap_subject(H& heap, std::size_t size, std::size_t kept) {
  return Subject{[&heap, size] { return heap.try_allocate(Layout{size, 8}).take(); },
                 [&heap](Block b) { ASSERT_EQ(heap.try_deallocate(b), Error::none); }, kept};
}

// ---- Heaps ---------------------------------------------------------------------

TEST(Poison, SlabFreedUnitsButTheirLink) {
  SKIP_UNLESS_WATCHED();
  Arena arena(64 * 1024);
  Slab<concurrent, true> checked(arena.block(), 256);
  check_life(heap_subject(checked, 256, 8));
  Arena arena2(64 * 1024);
  Slab<single_owner, false> fast(arena2.block(), 96);
  check_life(heap_subject(fast, 96, 8));
}

TEST(Poison, SlabCacheKeepsItsUnitsPoisonedWhole) {
  SKIP_UNLESS_WATCHED();
  Arena arena(64 * 1024);
  Slab<concurrent, true> slab(arena.block(), 128);
  {
    SlabCache<Slab<concurrent, true>, 8> cache(slab);
    check_life(heap_subject(cache, 128, 0));
  }
  // Flushed to the Slab: every unit free, poisoned but for its link.
  const Block a = slab.try_allocate(Layout{128, 8}).take();
  EXPECT_TRUE(all_open(a.ptr, a.size));
  ASSERT_EQ(slab.try_deallocate(a), Error::none);
  EXPECT_TRUE(all_poisoned(a.ptr, 8, a.size));
}

TEST(Poison, AddrSpaceFreedBlocksWhole) {
  SKIP_UNLESS_WATCHED();
  Arena arena(1024 * 1024);
  AddrSpace<concurrent, true> heap(arena.block(), 4096);
  // Never handed out: poisoned from the start (the pages begin at the region's
  // start; the metadata is at its end).
  EXPECT_TRUE(all_poisoned(arena.ptr, 0, heap.capacity()));
  check_life(heap_subject(heap, 4096, 0));
}

TEST(Poison, ExtentHeapInBandFreedExtents) {
  SKIP_UNLESS_WATCHED();
  Arena arena(1024 * 1024);
  ExtentHeap<concurrent> heap(arena.block(), 4096);
  check_life(heap_subject(heap, 3 * 4096, 0));
}

TEST(Poison, ExtentHeapWithMetadataApartNeverTouchesItsRange) {
  SKIP_UNLESS_WATCHED();
  // The range may be device memory: it is left as it was, live or free.
  Arena range(256 * 1024);
  Arena records(ExtentHeap<>::metadata_bytes(range.size, 4096));
  ExtentHeap<concurrent> heap(range.block(), 4096, records.block());
  const Block a = heap.try_allocate(Layout{4096, 8}).take();
  ASSERT_EQ(heap.try_deallocate(a), Error::none);
  EXPECT_TRUE(all_open(range.ptr, range.size));
}

TEST(Poison, HeapsGiveTheirRegionBackOpen) {
  SKIP_UNLESS_WATCHED();
  Arena arena(1024 * 1024);
  { Slab<concurrent, true> slab(arena.block(), 256); }
  EXPECT_TRUE(all_open(arena.ptr, arena.size));
  { AddrSpace<concurrent, true> heap(arena.block(), 4096); }
  EXPECT_TRUE(all_open(arena.ptr, arena.size));
  { ExtentHeap<concurrent> heap(arena.block(), 4096); }
  EXPECT_TRUE(all_open(arena.ptr, arena.size));
  { Pack<> pack(arena.block()); }
  EXPECT_TRUE(all_open(arena.ptr, arena.size));
}

// ---- Holds ---------------------------------------------------------------------

template <class Hold>
Subject hold_subject(Hold& hold, std::size_t size) {
  return Subject{[&hold, size] { return hold.try_allocate(Layout{size, 8}).take(); },
                 [&hold](Block b) { ASSERT_EQ(hold.try_deallocate(b), Error::none); }, 0};
}

TEST(Poison, PackFreedObjectsButTheirTag) {
  SKIP_UNLESS_WATCHED();
  Arena arena(64 * 1024);
  Pack<> pack(arena.block());
  check_life(hold_subject(pack, 64));
  // The room past the last object was never handed out.
  const Block a = pack.try_allocate(Layout{64, 8}).take();
  EXPECT_TRUE(poisoned(static_cast<std::byte*>(a.ptr) + 64 + 8));
  // A freed object's tag stays readable, so a second free is told as such.
  ASSERT_EQ(pack.try_deallocate(a), Error::none);
  EXPECT_EQ(pack.try_deallocate(a), Error::double_free);
}

TEST(Poison, PoolFreedObjectsAndUnusedRoom) {
  SKIP_UNLESS_WATCHED();
  Arena arena(1024 * 1024);
  AddrSpace<concurrent, true> heap(arena.block(), 4096);
  {
    Pool<AddrSpace<concurrent, true>> pool(heap, 16 * 1024);
    check_life(hold_subject(pool, 48));
    const Block a = pool.try_allocate(Layout{48, 8}).take();
    EXPECT_TRUE(poisoned(static_cast<std::byte*>(a.ptr) + 48 + 8));
    ASSERT_EQ(pool.try_deallocate(a), Error::none);
    EXPECT_EQ(pool.try_deallocate(a), Error::double_free);
  }
  EXPECT_EQ(heap.stats().live, 0u);
}

TEST(Poison, SizeClassesFreedObjectsButTheirLinkAndTag) {
  SKIP_UNLESS_WATCHED();
  Arena arena(4 * 1024 * 1024);
  ExtentHeap<concurrent> heap(arena.block(), 4096);
  {
    SizeClasses<ExtentHeap<concurrent>> hold(heap);
    check_life(Subject{hold_subject(hold, 100).allocate, hold_subject(hold, 100).free, 8});
    // Large objects: kept for reuse, their object poisoned while kept.
    check_life(hold_subject(hold, 100 * 1024));
    // Through a tag, as leases free.
    const Block a = hold.try_allocate(Layout{200, 8}).take();
    ASSERT_EQ(hold_deallocate(a), Error::none);
    EXPECT_TRUE(all_poisoned(a.ptr, 8, a.size));
    EXPECT_EQ(hold_deallocate(a), Error::double_free);
  }
}

TEST(Poison, SingleOwnerSizeClasses) {
  SKIP_UNLESS_WATCHED();
  Arena arena(4 * 1024 * 1024);
  ExtentHeap<single_owner> heap(arena.block(), 4096);
  SizeClasses<ExtentHeap<single_owner>, single_owner> hold(heap);
  check_life(Subject{hold_subject(hold, 24).allocate, hold_subject(hold, 24).free, 8});
}

TEST(Poison, ProcessHoldThreadCacheObjects) {
  SKIP_UNLESS_WATCHED();
  Subject s{[] { return try_malloc(80).take(); },
            [](Block b) { ASSERT_EQ(try_free(b.ptr), Error::none); }, 8};
  check_life(s);
}

TEST(Poison, CheckedFreeOfAPointerIntoFreeMemoryIsAnErrorNotAReport) {
  SKIP_UNLESS_WATCHED();
  // The validating frees read the word in front of any pointer they are given;
  // in a poisoned place that read is no use of freed memory by the program.
  Arena arena(1024 * 1024);
  AddrSpace<concurrent, true> heap(arena.block(), 4096);
  Pool<AddrSpace<concurrent, true>> pool(heap, 16 * 1024);
  const Block a = pool.try_allocate(Layout{64, 8}).take();
  const Block b = pool.try_allocate(Layout{64, 8}).take();
  ASSERT_EQ(pool.try_deallocate(a), Error::none);
  const Block inside{static_cast<std::byte*>(a.ptr) + 16, 32};
  EXPECT_EQ(pool.try_deallocate(inside), Error::foreign_pointer);
  EXPECT_EQ(HoldRef::of(pool).try_deallocate(inside), Error::foreign_pointer);
  Arena arena2(64 * 1024);
  Pack<> pack(arena2.block());
  const Block c = pack.try_allocate(Layout{64, 8}).take();
  const Block past{static_cast<std::byte*>(c.ptr) + 128, 8};  // free room
  EXPECT_EQ(pack.try_deallocate(past), Error::foreign_pointer);
  ASSERT_EQ(pack.try_deallocate(c), Error::none);
  ASSERT_EQ(pool.try_deallocate(b), Error::none);
}

// ---- Death tests: the report a user gets (ASan) ------------------------------------

#if defined(SWIM_MEM_DETAIL_POISON_ASAN)
/// Touch the byte `at` of a freed block: a death test's body.
void touch_after_free(const Subject& s, std::size_t at) {
  const Block a = s.allocate();
  const Block keep = s.allocate();  // keeps a Pack's or Pool's region from resetting
  (void)keep;
  s.free(a);
  *(static_cast<volatile unsigned char*>(a.ptr) + at) = 1;
}

constexpr const char* asan_report = "use-after-poison";

TEST(PoisonDeathTest, UseAfterFreeInsideEachArenaIsReported) {
  ::testing::FLAGS_gtest_death_test_style = "threadsafe";
  Arena a1(64 * 1024), a2(1024 * 1024), a3(1024 * 1024), a4(64 * 1024), a5(4 * 1024 * 1024);
  Slab<concurrent, true> slab(a1.block(), 256);
  EXPECT_DEATH(touch_after_free(heap_subject(slab, 256, 8), 100), asan_report);
  AddrSpace<concurrent, true> space(a2.block(), 4096);
  EXPECT_DEATH(touch_after_free(heap_subject(space, 4096, 0), 0), asan_report);
  ExtentHeap<concurrent> extents(a3.block(), 4096);
  EXPECT_DEATH(touch_after_free(heap_subject(extents, 4096, 0), 0), asan_report);
  Pack<> pack(a4.block());
  EXPECT_DEATH(touch_after_free(hold_subject(pack, 64), 0), asan_report);
  Pool<AddrSpace<concurrent, true>> pool(space, 16 * 1024);
  EXPECT_DEATH(touch_after_free(hold_subject(pool, 64), 0), asan_report);
  ExtentHeap<concurrent> classes_heap(a5.block(), 4096);
  SizeClasses<ExtentHeap<concurrent>> classes(classes_heap);
  EXPECT_DEATH(touch_after_free(hold_subject(classes, 64), 16), asan_report);
  EXPECT_DEATH(
      touch_after_free(Subject{[] { return try_malloc(64).take(); },
                               [](Block b) { (void)try_free(b.ptr); }, 8},
                       16),
      asan_report);
}

TEST(PoisonDeathTest, OverflowIntoAFreeNeighbourIsReported) {
  ::testing::FLAGS_gtest_death_test_style = "threadsafe";
  Arena arena(64 * 1024);
  Slab<concurrent, true> slab(arena.block(), 64);
  EXPECT_DEATH(
      {
        const Block a = slab.try_allocate(Layout{64, 8}).take();
        // The next unit is free: writing past the end of a reaches it.
        static_cast<volatile unsigned char*>(a.ptr)[64 + 16] = 1;
      },
      asan_report);
}
#endif

// ---- Debug fill (checked builds) -------------------------------------------------

/// Read a byte the checker may consider freed: what the test means to inspect.
SWIM_MEM_NO_SANITIZE_ADDRESS unsigned char peek(const void* p) {
  return *static_cast<const volatile unsigned char*>(p);
}

TEST(DebugFill, FreshAndFreedBytes) {
  if (!SWIM_MEM_DEBUG_FILL) GTEST_SKIP() << "debug fill is off in this build (SWIM_MEM_DEBUG_FILL=0)";
  if (watching() && !asan_build) GTEST_SKIP() << "memcheck reports reads of freed memory";
  Arena arena(64 * 1024);
  Slab<single_owner, true> slab(arena.block(), 64);
  Block a = slab.try_allocate(Layout{64, 8}).take();
  for (std::size_t i = 0; i < 64; ++i) ASSERT_EQ(peek(static_cast<std::byte*>(a.ptr) + i), detail::fresh_byte) << i;
  static_cast<unsigned char*>(a.ptr)[10] = 7;
  ASSERT_EQ(slab.try_deallocate(a), Error::none);
  for (std::size_t i = 8; i < 64; ++i) ASSERT_EQ(peek(static_cast<std::byte*>(a.ptr) + i), detail::freed_byte) << i;

  Arena arena2(64 * 1024);
  Pack<single_owner> pack(arena2.block());
  const Block p = pack.try_allocate(Layout{40, 8}).take();
  const Block q = pack.try_allocate(Layout{40, 8}).take();
  for (std::size_t i = 0; i < 40; ++i) ASSERT_EQ(peek(static_cast<std::byte*>(p.ptr) + i), detail::fresh_byte) << i;
  ASSERT_EQ(pack.try_deallocate(p), Error::none);
  for (std::size_t i = 0; i < 40; ++i) ASSERT_EQ(peek(static_cast<std::byte*>(p.ptr) + i), detail::freed_byte) << i;
  ASSERT_EQ(pack.try_deallocate(q), Error::none);

  Arena arena3(4 * 1024 * 1024);
  ExtentHeap<concurrent> heap(arena3.block(), 4096);
  SizeClasses<ExtentHeap<concurrent>> hold(heap);
  const Block o = hold.try_allocate(Layout{100, 8}).take();
  for (std::size_t i = 0; i < o.size; ++i) ASSERT_EQ(peek(static_cast<std::byte*>(o.ptr) + i), detail::fresh_byte) << i;
  ASSERT_EQ(hold.try_deallocate(o), Error::none);
}

}  // namespace
}  // namespace swim::mem
