// The misuse the library detects, one test per row of docs/misuse.md (rows backed
// by an older test elsewhere name that one there too). Each test makes the misuse,
// checks the answer (an Error value, a report, an out_of_memory at a counter's
// bound) and that nothing changed, and then that ordinary use still works.
// Where the behaviour is defined in both builds, both instantiations are tried
// (Checked = true and false); where the fast build leaves it undefined, only the
// checked one is (docs/misuse.md says which).
#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory_resource>
#include <type_traits>
#include <utility>
#include <vector>

#include "support/arena.hpp"
#include "support/leak_capture.hpp"
#include "swim/mem.hpp"
#include "swim/mem/integrations.hpp"
#include "swim/mem/residents/device_buf.hpp"

namespace swim::mem {
namespace {

using testing::Arena;
using testing::LeakCapture;

void expect_same(const Stats& a, const Stats& b) {
  EXPECT_EQ(a.live, b.live);
  EXPECT_EQ(a.bytes_in_use, b.bytes_in_use);
  EXPECT_EQ(a.bytes_free, b.bytes_free);
}

/// An 8-byte-aligned pointer into a stack buffer whose word in front is zero:
/// memory no allocator handed out.
struct StackBlock {
  alignas(64) std::uint64_t words[8] = {};
  Block block(std::size_t size = 8) { return Block{&words[4], size}; }
};

// ---- Slab (checked; the fast Slab trusts every free) -------------------------------------

template <class S>
void slab_double_free() {
  Arena mem(64 * 1024);
  S slab(mem.block(), 256);
  const Block b = *slab.try_allocate(Layout{200, 8});
  ASSERT_EQ(slab.try_deallocate(b), Error::none);
  const Stats before = slab.stats();
  EXPECT_EQ(slab.try_deallocate(b), Error::double_free);
  EXPECT_EQ(slab.try_deallocate(Block{b.ptr, 8}), Error::double_free) << "any size within the unit";
  expect_same(slab.stats(), before);
  // The free list is intact: every unit can be had once, no unit twice.
  std::vector<Block> all;
  while (true) {
    Result<Block> r = slab.try_allocate(Layout{8, 8});
    if (!r) break;
    all.push_back(*r);
  }
  EXPECT_EQ(all.size(), slab.block_count());
  for (const Block& x : all) EXPECT_EQ(slab.try_deallocate(x), Error::none);
}
TEST(MisuseSlab, DoubleFreeIsReported) {
  slab_double_free<Slab<concurrent, true>>();
  slab_double_free<Slab<single_owner, true>>();
}

template <class S>
void slab_foreign() {
  Arena mem(64 * 1024);
  S slab(mem.block(), 256);
  const Block live = *slab.try_allocate(Layout{256, 8});
  const Stats before = slab.stats();
  StackBlock stack;
  EXPECT_EQ(slab.try_deallocate(stack.block()), Error::foreign_pointer);
  EXPECT_EQ(slab.try_deallocate(Block{mem.ptr + mem.size, 8}), Error::foreign_pointer);
  EXPECT_EQ(slab.try_deallocate(Block{nullptr, 8}), Error::foreign_pointer);
  // Interior pointers of a live unit: not a unit start.
  EXPECT_EQ(slab.try_deallocate(Block{live.begin() + 8, 8}), Error::foreign_pointer);
  EXPECT_EQ(slab.try_deallocate(Block{live.begin() + 128, 8}), Error::foreign_pointer);
  // More than a unit.
  EXPECT_EQ(slab.try_deallocate(Block{live.ptr, 257}), Error::foreign_pointer);
  expect_same(slab.stats(), before);
  EXPECT_EQ(slab.try_deallocate(live), Error::none);
}
TEST(MisuseSlab, ForeignInteriorAndOversizedBlocksAreRefused) {
  slab_foreign<Slab<concurrent, true>>();
  slab_foreign<Slab<single_owner, true>>();
}

TEST(MisuseSlab, AnotherSlabsUnitIsForeign) {
  Arena mem(128 * 1024);
  Slab<concurrent, true> a(Block{mem.ptr, 64 * 1024}, 256);
  Slab<concurrent, true> b(Block{mem.ptr + 64 * 1024, 64 * 1024}, 256);
  const Block x = *a.try_allocate(Layout{64, 8});
  EXPECT_EQ(b.try_deallocate(x), Error::foreign_pointer);
  EXPECT_EQ(a.stats().live, 1u);
  EXPECT_EQ(b.stats().live, 0u);
  EXPECT_EQ(a.try_deallocate(x), Error::none);
}

// ---- SlabCache (over a checked Slab) ------------------------------------------------------

TEST(MisuseSlabCache, DoubleFreeIsReportedInTheCacheAndInTheSlab) {
  Arena mem(64 * 1024);
  Slab<concurrent, true> slab(mem.block(), 256);
  SlabCache<Slab<concurrent, true>> cache(slab), other(slab);
  const Block b = *cache.try_allocate(Layout{64, 8});
  ASSERT_EQ(cache.try_deallocate(b), Error::none);  // now in the cache
  EXPECT_EQ(cache.try_deallocate(b), Error::double_free);
  EXPECT_EQ(other.try_deallocate(b), Error::double_free) << "through another cache";
  EXPECT_EQ(slab.try_deallocate(b), Error::double_free) << "through the Slab";
  ASSERT_EQ(cache.flush(), Error::none);  // now in the Slab
  EXPECT_EQ(cache.try_deallocate(b), Error::double_free);
  EXPECT_EQ(slab.stats().live, 0u);
}

TEST(MisuseSlabCache, ForeignInteriorAndOtherSlabsPointersAreRefused) {
  Arena mem(128 * 1024);
  Slab<concurrent, true> slab(Block{mem.ptr, 64 * 1024}, 256);
  Slab<concurrent, true> second(Block{mem.ptr + 64 * 1024, 64 * 1024}, 256);
  SlabCache<Slab<concurrent, true>> cache(slab);
  const Block live = *cache.try_allocate(Layout{64, 8});
  const Block elsewhere = *second.try_allocate(Layout{64, 8});
  const Stats before = cache.stats();
  StackBlock stack;
  EXPECT_EQ(cache.try_deallocate(stack.block()), Error::foreign_pointer);
  EXPECT_EQ(cache.try_deallocate(Block{live.begin() + 8, 8}), Error::foreign_pointer);
  EXPECT_EQ(cache.try_deallocate(Block{live.ptr, 257}), Error::foreign_pointer);
  EXPECT_EQ(cache.try_deallocate(elsewhere), Error::foreign_pointer);
  expect_same(cache.stats(), before);
  EXPECT_EQ(second.stats().live, 1u);
  EXPECT_EQ(cache.try_deallocate(live), Error::none);
  EXPECT_EQ(second.try_deallocate(elsewhere), Error::none);
}

// ---- AddrSpace ---------------------------------------------------------------------------------

TEST(MisuseAddrSpace, DoubleFreeIsReportedWhenChecked) {
  Arena mem(1 << 20);
  AddrSpace<concurrent, true> pages(mem.block());
  const Block b = *pages.try_allocate(Layout{16384, 8});
  ASSERT_EQ(pages.try_deallocate(b), Error::none);
  const Stats before = pages.stats();
  EXPECT_EQ(pages.try_deallocate(b), Error::double_free);
  expect_same(pages.stats(), before);
}

// Outside the range, off a page, or off the alignment of the block size given:
// refused in both builds, before any tag is read.
template <bool Checked>
void addr_space_outside() {
  Arena mem(1 << 20), elsewhere(1 << 20);
  AddrSpace<concurrent, Checked> pages(mem.block()), other(elsewhere.block());
  const Block b = *pages.try_allocate(Layout{16384, 8});
  const Block o = *other.try_allocate(Layout{4096, 8});
  const Stats before = pages.stats();
  StackBlock stack;
  EXPECT_EQ(pages.try_deallocate(stack.block()), Error::foreign_pointer);
  EXPECT_EQ(pages.try_deallocate(Block{mem.ptr + mem.size, 4096}), Error::foreign_pointer);
  EXPECT_EQ(pages.try_deallocate(Block{b.begin() + 8, 4096}), Error::foreign_pointer);
  EXPECT_EQ(pages.try_deallocate(Block{b.begin() + 4096, 8192}), Error::foreign_pointer)
      << "not aligned to an 8 KiB block";
  EXPECT_EQ(pages.try_deallocate(o), Error::foreign_pointer) << "another AddrSpace's block";
  expect_same(pages.stats(), before);
  EXPECT_EQ(pages.try_deallocate(b), Error::none);
  EXPECT_EQ(other.try_deallocate(o), Error::none);
}
TEST(MisuseAddrSpace, PointersOutsideOrOffTheirBlockAreForeignInEveryBuild) {
  addr_space_outside<true>();
  addr_space_outside<false>();
}

// Page-aligned pointers that are not the start of a live block of that size: only
// the checked build's page tags tell.
TEST(MisuseAddrSpace, InteriorPagesAndWrongSizesAreForeignWhenChecked) {
  Arena mem(1 << 20);
  AddrSpace<concurrent, true> pages(mem.block());
  // A block of 4 pages: its start is aligned to 4 pages, so every pointer below is
  // aligned to the block size it is given with, and only the tags tell.
  const Block b = *pages.try_allocate(Layout{16384, 8});
  const Stats before = pages.stats();
  EXPECT_EQ(pages.try_deallocate(Block{b.begin() + 4096, 4096}), Error::foreign_pointer);
  EXPECT_EQ(pages.try_deallocate(Block{b.begin() + 8192, 8192}), Error::foreign_pointer);
  EXPECT_EQ(pages.try_deallocate(Block{b.ptr, 4096}), Error::foreign_pointer) << "too small";
  EXPECT_EQ(pages.try_deallocate(Block{b.ptr, 8192}), Error::foreign_pointer) << "too small";
  EXPECT_EQ(pages.try_deallocate(Block{b.begin() + 65536, 4096}), Error::foreign_pointer)
      << "a page never handed out";
  expect_same(pages.stats(), before);
  EXPECT_EQ(pages.try_deallocate(Block{b.ptr, 16384 - 100}), Error::none)
      << "a smaller size of the same block size is the block";
}

// ---- ExtentHeap and ExtentArena: every free validated, in every build -----------------------

template <class Mode>
void extent_heap_misuse() {
  Arena mem(1 << 20), elsewhere(1 << 20);
  ExtentHeap<Mode> heap(mem.block(), 256), other(elsewhere.block(), 256);
  const Block a = *heap.try_allocate(Layout{1024, 8});
  const Block owned = *heap.try_allocate(Layout{512, 8}, 7);
  const Block o = *other.try_allocate(Layout{256, 8});
  const Block gone = *heap.try_allocate(Layout{256, 8});
  ASSERT_EQ(heap.try_deallocate(gone), Error::none);
  const Stats before = heap.stats();
  EXPECT_EQ(heap.try_deallocate(gone), Error::double_free);
  StackBlock stack;
  EXPECT_EQ(heap.try_deallocate(stack.block()), Error::foreign_pointer);
  EXPECT_EQ(heap.try_deallocate(Block{a.begin() + 8, 8}), Error::foreign_pointer);
  EXPECT_EQ(heap.try_deallocate(Block{a.begin() + 256, 256}), Error::foreign_pointer)
      << "a granule inside a live extent";
  EXPECT_EQ(heap.try_deallocate(Block{a.ptr, 512}), Error::foreign_pointer) << "wrong size";
  EXPECT_EQ(heap.try_deallocate(owned), Error::foreign_pointer) << "another owner's";
  EXPECT_EQ(heap.try_deallocate(o), Error::foreign_pointer) << "another heap's";
  expect_same(heap.stats(), before);
  EXPECT_EQ(heap.try_deallocate(a), Error::none);
  EXPECT_EQ(heap.try_deallocate(owned, 7), Error::none);
  EXPECT_EQ(other.try_deallocate(o), Error::none);
}
TEST(MisuseExtentHeap, EveryFreeIsValidated) {
  extent_heap_misuse<concurrent>();
  extent_heap_misuse<single_owner>();
}

TEST(MisuseExtentArena, DoubleForeignInteriorAndWrongSizeAreRefused) {
  ArenaOptions o;
  o.granule = 256;
  o.initial_bytes = 1 << 20;
  ExtentArena<OsPages> arena(OsPages{}, o), other(OsPages{}, o);
  const Block a = *arena.try_allocate(Layout{1024, 8});
  const Block x = *other.try_allocate(Layout{1024, 8});
  const Block gone = *arena.try_allocate(Layout{256, 8});
  ASSERT_EQ(arena.try_deallocate(gone), Error::none);
  const Stats before = arena.stats();
  EXPECT_EQ(arena.try_deallocate(gone), Error::double_free);
  StackBlock stack;
  EXPECT_EQ(arena.try_deallocate(stack.block()), Error::foreign_pointer);
  EXPECT_EQ(arena.try_deallocate(Block{a.begin() + 256, 256}), Error::foreign_pointer);
  EXPECT_EQ(arena.try_deallocate(Block{a.ptr, 4096}), Error::foreign_pointer);
  EXPECT_EQ(arena.try_deallocate(x), Error::foreign_pointer);
  expect_same(arena.stats(), before);
  EXPECT_EQ(arena.try_deallocate(a), Error::none);
  EXPECT_EQ(other.try_deallocate(x), Error::none);
}

// ---- SourceHeap: only a free with nothing out is refused -----------------------------------

TEST(MisuseSourceHeap, AFreeWithNothingOutIsForeign) {
  SourceHeap<OsPages> heap;
  StackBlock stack;
  EXPECT_EQ(heap.try_deallocate(stack.block()), Error::foreign_pointer);
  const Block b = *heap.try_allocate(Layout{4096, 8});
  ASSERT_EQ(heap.try_deallocate(b), Error::none);
  EXPECT_EQ(heap.try_deallocate(b), Error::foreign_pointer) << "nothing is out any more";
  EXPECT_EQ(heap.stats().live, 0u);
}

// ---- Pack: always validated --------------------------------------------------------------------

template <class Mode>
void pack_misuse() {
  Arena mem(64 * 1024);
  Pack<Mode> pack(Block{mem.ptr, 32 * 1024}), other(Block{mem.ptr + 32 * 1024, 32 * 1024});
  const Block a = *pack.try_allocate(Layout{256, 8});
  std::memset(a.ptr, 0, 256);
  const Block x = *other.try_allocate(Layout{64, 8});
  const Block gone = *pack.try_allocate(Layout{64, 8});
  const Block top = *pack.try_allocate(Layout{64, 8});
  ASSERT_EQ(pack.try_deallocate(gone), Error::none);
  const Stats before = pack.stats();
  EXPECT_EQ(pack.try_deallocate(gone), Error::double_free);
  StackBlock stack;
  EXPECT_EQ(pack.try_deallocate(stack.block()), Error::foreign_pointer);
  EXPECT_EQ(pack.try_deallocate(Block{a.begin() + 64, 8}), Error::foreign_pointer);
  EXPECT_EQ(pack.try_deallocate(Block{a.begin() + 3, 8}), Error::foreign_pointer);
  EXPECT_EQ(pack.try_deallocate(x), Error::foreign_pointer) << "another Pack's object";
  expect_same(pack.stats(), before);
  EXPECT_EQ(other.stats().live, 1u);
  EXPECT_EQ(pack.try_deallocate(top), Error::none);
  EXPECT_EQ(pack.try_deallocate(a), Error::none);
  EXPECT_EQ(other.try_deallocate(x), Error::none);
}
TEST(MisusePack, DoubleForeignInteriorAndOtherPacksObjectsAreRefused) {
  pack_misuse<concurrent>();
  pack_misuse<single_owner>();
}

// Zero-size objects share one address and are only counted: a free that would take
// the count below zero is a double free; while another lives, it is not seen.
template <class Hold>
void zero_size_double_free(Hold& hold) {
  const Block z1 = *hold.try_allocate(Layout{0, 8});
  const Block z2 = *hold.try_allocate(Layout{0, 8});
  EXPECT_EQ(z1.ptr, z2.ptr);
  EXPECT_EQ(hold.try_deallocate(z1), Error::none);
  EXPECT_EQ(hold.try_deallocate(z1), Error::none) << "indistinguishable from z2's free";
  EXPECT_EQ(hold.stats().live, 0u);
  EXPECT_EQ(hold.try_deallocate(z2), Error::double_free);
  EXPECT_EQ(hold_deallocate(z2), Error::double_free);
  EXPECT_EQ(HoldRef::of(hold).try_deallocate(z2), Error::double_free);
  EXPECT_EQ(hold.stats().live, 0u);
}
TEST(MisuseZeroSize, DoubleFreeIsSeenWhenNoneIsLive) {
  Arena mem(1 << 20);
  Pack<> pack(Block{mem.ptr, 64 * 1024});
  zero_size_double_free(pack);
  AddrSpace<> pages(Block{mem.ptr + (256 << 10), 512 << 10});
  {
    Pool<AddrSpace<>, concurrent, true> checked(pages, 4096);
    zero_size_double_free(checked);
    Pool<AddrSpace<>, concurrent, false> fast(pages, 4096);
    zero_size_double_free(fast);
    SizeClasses<AddrSpace<>, concurrent, true> classes(pages);
    zero_size_double_free(classes);
    SizeClasses<AddrSpace<>, concurrent, false> fast_classes(pages);
    zero_size_double_free(fast_classes);
  }
  EXPECT_EQ(pages.stats().live, 0u);
}

// ---- Pool -------------------------------------------------------------------------------------

template <bool Checked>
void pool_double_free() {
  Arena mem(1 << 20);
  AddrSpace<> pages(mem.block());
  {
    Pool<AddrSpace<>, concurrent, Checked> pool(pages, 4096);
    const Block keep = *pool.try_allocate(Layout{64, 8});
    const Block b = *pool.try_allocate(Layout{64, 8});
    ASSERT_EQ(pool.try_deallocate(b), Error::none);
    const Stats before = pool.stats();
    EXPECT_EQ(pool.try_deallocate(b), Error::double_free);
    EXPECT_EQ(hold_deallocate(b), Error::double_free);
    EXPECT_EQ(HoldRef::of(pool).try_deallocate(b), Error::double_free);
    expect_same(pool.stats(), before);
    EXPECT_EQ(pool.try_deallocate(keep), Error::none);
  }
  EXPECT_EQ(pages.stats().live, 0u);
}
TEST(MisusePool, DoubleFreeIsReportedInEveryBuild) {
  pool_double_free<true>();
  pool_double_free<false>();
}

// Only the checked Pool looks a tag up in its registry before following it; the
// fast one follows whatever word is in front (undefined for memory no hold tagged).
TEST(MisusePool, ForeignAndInteriorPointersAreRefusedWhenChecked) {
  Arena mem(1 << 20);
  AddrSpace<> pages(mem.block());
  {
    Pool<AddrSpace<>, concurrent, true> pool(pages, 4096);
    const Block a = *pool.try_allocate(Layout{256, 8});
    std::memset(a.ptr, 0xC3, 256);  // whatever the program wrote
    const Stats before = pool.stats();
    StackBlock stack;
    EXPECT_EQ(pool.try_deallocate(stack.block()), Error::foreign_pointer);
    stack.words[3] = ~std::uint64_t(0);
    EXPECT_EQ(pool.try_deallocate(stack.block()), Error::foreign_pointer);
    EXPECT_EQ(pool.try_deallocate(Block{a.begin() + 64, 8}), Error::foreign_pointer);
    EXPECT_EQ(pool.try_deallocate(Block{a.begin() + 4, 8}), Error::foreign_pointer);
    expect_same(pool.stats(), before);
    EXPECT_EQ(pool.try_deallocate(a), Error::none);
  }
  EXPECT_EQ(pages.stats().live, 0u);
}

// An object of another hold carries that hold's tag: both builds refuse it (the
// fast one compares the hunk's pool with itself).
template <bool Checked>
void pool_other_holds() {
  Arena mem(1 << 20);
  AddrSpace<> pages(Block{mem.ptr, 512 << 10});
  Pack<> pack(Block{mem.ptr + (512 << 10), 64 * 1024});
  {
    Pool<AddrSpace<>, concurrent, Checked> pool(pages, 4096), other(pages, 4096);
    const Block mine = *pool.try_allocate(Layout{64, 8});
    const Block theirs = *other.try_allocate(Layout{64, 8});
    const Block packed = *pack.try_allocate(Layout{64, 8});
    const Stats before = pool.stats();
    EXPECT_EQ(pool.try_deallocate(theirs), Error::foreign_pointer);
    EXPECT_EQ(pool.try_deallocate(packed), Error::foreign_pointer);
    expect_same(pool.stats(), before);
    EXPECT_EQ(other.stats().live, 1u);
    EXPECT_EQ(pack.stats().live, 1u);
    EXPECT_EQ(pool.try_deallocate(mine), Error::none);
    EXPECT_EQ(other.try_deallocate(theirs), Error::none);
    EXPECT_EQ(pack.try_deallocate(packed), Error::none);
  }
  EXPECT_EQ(pages.stats().live, 0u);
}
TEST(MisusePool, ObjectsOfOtherHoldsAreForeignInEveryBuild) {
  pool_other_holds<true>();
  pool_other_holds<false>();
}

// ---- SizeClasses --------------------------------------------------------------------------------

template <bool Checked>
void size_classes_double_free() {
  Arena mem(4 << 20);
  AddrSpace<> pages(mem.block());
  {
    SizeClasses<AddrSpace<>, concurrent, Checked> hold(pages);
    const Block keep = *hold.try_allocate(100);
    const Block b = *hold.try_allocate(100);
    ASSERT_EQ(hold.try_deallocate(b), Error::none);
    const Stats before = hold.stats();
    EXPECT_EQ(hold.try_deallocate(b), Error::double_free);
    EXPECT_EQ(hold_deallocate(b), Error::double_free);
    EXPECT_EQ(HoldRef::of(hold).try_deallocate(b), Error::double_free);
    expect_same(hold.stats(), before);
    EXPECT_EQ(hold.try_deallocate(keep), Error::none);
  }
  EXPECT_EQ(pages.stats().live, 0u);
}
TEST(MisuseSizeClasses, DoubleFreeOfAClassObjectIsReportedInEveryBuild) {
  size_classes_double_free<true>();
  size_classes_double_free<false>();
}

TEST(MisuseSizeClasses, ForeignAndInteriorPointersAreRefusedWhenChecked) {
  Arena mem(4 << 20);
  AddrSpace<> pages(mem.block());
  {
    SizeClasses<AddrSpace<>, concurrent, true> hold(pages);
    const Block a = *hold.try_allocate(1000);
    const Block big = *hold.try_allocate(100000);
    std::memset(a.ptr, 0xC3, a.size);
    std::memset(big.ptr, 0, 4096);
    const Stats before = hold.stats();
    StackBlock stack;
    EXPECT_EQ(hold.try_deallocate(stack.block()), Error::foreign_pointer);
    EXPECT_EQ(hold.try_deallocate(Block{a.begin() + 64, 8}), Error::foreign_pointer);
    EXPECT_EQ(hold.try_deallocate(Block{big.begin() + 64, 8}), Error::foreign_pointer);
    expect_same(hold.stats(), before);
    EXPECT_EQ(hold.try_deallocate(a), Error::none);
    EXPECT_EQ(hold.try_deallocate(big), Error::none);
  }
  EXPECT_EQ(pages.stats().live, 0u);
}

// Another SizeClasses hold's class object: the checked hold refuses it (its hunk is
// not in the registry); the fast one trusts the tag, but its hunk names another
// hold, so it refuses it too, as a Pool does. Another hold's large object is
// foreign to both.
TEST(MisuseSizeClasses, AnotherHoldsObject) {
  Arena mem(8 << 20);
  AddrSpace<> pages(mem.block());
  {
    SizeClasses<AddrSpace<>, concurrent, true> checked(pages);
    SizeClasses<AddrSpace<>, concurrent, false> fast(pages);
    SizeClasses<AddrSpace<>, concurrent, true> owner(pages);
    const Block small = *owner.try_allocate(100);
    const Block large = *owner.try_allocate(100000);
    EXPECT_EQ(checked.try_deallocate(small), Error::foreign_pointer);
    EXPECT_EQ(checked.try_deallocate(large), Error::foreign_pointer);
    EXPECT_EQ(fast.try_deallocate(large), Error::foreign_pointer);
    EXPECT_EQ(fast.try_deallocate(small), Error::foreign_pointer);
    EXPECT_EQ(owner.stats().live, 2u);
    EXPECT_EQ(fast.stats().live, 0u);
    EXPECT_EQ(owner.try_deallocate(small), Error::none);
    EXPECT_EQ(owner.try_deallocate(large), Error::none);
  }
  EXPECT_EQ(pages.stats().live, 0u);
}

template <bool Checked>
void size_classes_too_large() {
  Arena mem(4 << 20);
  AddrSpace<> pages(mem.block());
  {
    SizeClasses<AddrSpace<>, concurrent, Checked> hold(pages);
    const Block a = *hold.try_allocate(100);
    const Block big = *hold.try_allocate(100000);
    const Stats before = hold.stats();
    EXPECT_EQ(hold.try_deallocate(Block{a.ptr, a.size + 1}), Error::foreign_pointer);
    EXPECT_EQ(hold.try_deallocate(Block{big.ptr, big.size + 4096}), Error::foreign_pointer);
    expect_same(hold.stats(), before);
    EXPECT_EQ(hold.try_deallocate(a), Error::none);
    EXPECT_EQ(hold.try_deallocate(big), Error::none);
  }
  EXPECT_EQ(pages.stats().live, 0u);
}
TEST(MisuseSizeClasses, ABlockLargerThanItsObjectIsForeignInEveryBuild) {
  size_classes_too_large<true>();
  size_classes_too_large<false>();
}

// ---- Through a tag: HoldRef::try_deallocate (validated) and hold_deallocate (trusted) ----------

TEST(MisuseHoldRef, EveryFreeIsValidated) {
  Arena mem(4 << 20);
  AddrSpace<> pages(Block{mem.ptr, 2 << 20});
  Pack<> pack(Block{mem.ptr + (2 << 20), 64 * 1024});
  {
    Pool<AddrSpace<>, concurrent, false> pool(pages, 4096);  // even over fast holds
    SizeClasses<AddrSpace<>, concurrent, false> classes(pages);
    const HoldRef refs[] = {HoldRef::of(pack), HoldRef::of(pool), HoldRef::of(classes)};
    Block objects[3];
    for (int i = 0; i < 3; ++i) {
      objects[i] = *refs[i].try_allocate(Layout{256, 8});
      std::memset(objects[i].ptr, 0xC3, 256);
    }
    for (int i = 0; i < 3; ++i) {
      const HoldRef h = refs[i];
      const Stats before = h.stats();
      StackBlock stack;
      EXPECT_EQ(h.try_deallocate(stack.block()), Error::foreign_pointer) << i;
      EXPECT_EQ(h.try_deallocate(Block{objects[i].begin() + 64, 8}), Error::foreign_pointer) << i;
      EXPECT_EQ(h.try_deallocate(objects[(i + 1) % 3]), Error::foreign_pointer) << i;
      EXPECT_EQ(h.try_deallocate(Block{nullptr, 8}), Error::foreign_pointer) << i;
      expect_same(h.stats(), before);
      const Block gone = *h.try_allocate(Layout{64, 8});
      ASSERT_EQ(h.try_deallocate(gone), Error::none);
      EXPECT_EQ(h.try_deallocate(gone), Error::double_free) << i;
    }
    for (int i = 0; i < 3; ++i) EXPECT_EQ(refs[i].try_deallocate(objects[i]), Error::none);
  }
  EXPECT_EQ(pages.stats().live, 0u);
}

TEST(MisuseHoldDeallocate, DoubleFreeNullAndUnalignedPointers) {
  Arena mem(4 << 20);
  AddrSpace<> pages(Block{mem.ptr, 2 << 20});
  Pack<> pack(Block{mem.ptr + (2 << 20), 64 * 1024});
  {
    Pool<AddrSpace<>, concurrent, false> pool(pages, 4096);
    SizeClasses<AddrSpace<>, concurrent, false> classes(pages);
    for (const HoldRef h : {HoldRef::of(pack), HoldRef::of(pool), HoldRef::of(classes)}) {
      const Block keep = *h.try_allocate(Layout{64, 8});
      const Block b = *h.try_allocate(Layout{64, 8});
      EXPECT_EQ(hold_deallocate(Block{b.begin() + 1, 8}), Error::foreign_pointer);
      ASSERT_EQ(hold_deallocate(b), Error::none);
      const Stats before = h.stats();
      EXPECT_EQ(hold_deallocate(b), Error::double_free);
      expect_same(h.stats(), before);
      EXPECT_EQ(hold_deallocate(keep), Error::none);
    }
    EXPECT_EQ(hold_deallocate(Block{nullptr, 8}), Error::foreign_pointer);
  }
  EXPECT_EQ(pages.stats().live, 0u);
}

// ---- try_free and try_free_checked (the process hold) -------------------------------------------

TEST(MisuseProcessHold, DoubleFreeOfAClassObjectIsReported) {
  flush_thread_cache();
  const Stats before = process_hold_stats();
  const Block b = *try_malloc(100);
  ASSERT_EQ(try_free(b.ptr), Error::none);  // into this thread's cache
  EXPECT_EQ(try_free(b.ptr), Error::double_free);
  EXPECT_EQ(try_free_checked(b.ptr), Error::double_free);
  flush_thread_cache();  // back in its hunk
  EXPECT_EQ(try_free(b.ptr), Error::double_free);
  EXPECT_EQ(try_free_checked(b.ptr), Error::double_free);
  EXPECT_EQ(process_hold_stats().live, before.live);
}

TEST(MisuseProcessHold, ObjectsOfOtherHoldsAndBadPointersAreForeign) {
  Arena mem(1 << 20);
  Pack<> pack(Block{mem.ptr, 64 * 1024});
  const Block other = *pack.try_allocate(Layout{64, 8});
  EXPECT_EQ(try_free(other.ptr), Error::foreign_pointer);
  EXPECT_EQ(try_free_checked(other.ptr), Error::foreign_pointer);
  EXPECT_EQ(pack.stats().live, 1u);
  const Block mine = *try_malloc(100);
  EXPECT_EQ(try_free(static_cast<char*>(mine.ptr) + 4), Error::foreign_pointer);
  EXPECT_EQ(try_free(nullptr), Error::none);
  EXPECT_EQ(try_free(mine.ptr), Error::none);
  EXPECT_EQ(pack.try_deallocate(other), Error::none);
}

// try_free_checked follows a word only once the registry says it is a hunk of the
// process hold: anything readable is answered.
TEST(MisuseProcessHold, CheckedFreeRefusesAnyReadablePointer) {
  StackBlock stack;
  EXPECT_EQ(try_free_checked(stack.block().ptr), Error::foreign_pointer);
  stack.words[3] = ~std::uint64_t(0);
  EXPECT_EQ(try_free_checked(stack.block().ptr), Error::foreign_pointer);
  const Block mine = *try_malloc(1000);
  std::memset(mine.ptr, 0xC3, mine.size);
  EXPECT_EQ(try_free_checked(static_cast<char*>(mine.ptr) + 64), Error::foreign_pointer);
  // malloc's block: the word in front is its chunk header (not under the
  // sanitizers, whose allocators keep that word unreadable).
#if !defined(__SANITIZE_THREAD__) && !defined(__SANITIZE_ADDRESS__)
  void* m = std::malloc(100);
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(try_free_checked(m), Error::foreign_pointer);
  std::free(m);
#endif
  EXPECT_EQ(try_free_checked(mine.ptr), Error::none);
}

// ---- The std adapters: a refused free is a report, never an exception -----------------------

TEST(MisuseAdapters, RefusedFreesAreReportedNotThrown) {
  Arena mem(64 * 1024);
  ExtentHeap<> heap(mem.block(), 64);
  StlAllocator<std::uint64_t, ExtentHeap<>> alloc(heap);
  std::pmr::memory_resource* res = nullptr;
  MemoryResource<ExtentHeap<>> resource(heap);
  res = &resource;
  LeakCapture leaks;
  std::uint64_t* p = alloc.allocate(8);
  alloc.deallocate(p, 8);
  const Stats before = heap.stats();
  alloc.deallocate(p, 8);  // twice
  EXPECT_EQ(LeakCapture::reports, 1);
  EXPECT_STREQ(LeakCapture::last.allocator, "adapter: free refused (double free)");
  StackBlock stack;
  res->deallocate(stack.block().ptr, 8, 8);  // never from this heap
  EXPECT_EQ(LeakCapture::reports, 2);
  EXPECT_STREQ(LeakCapture::last.allocator, "adapter: free refused (foreign pointer)");
  expect_same(heap.stats(), before);
}

// ---- Moved-from (null) leases ---------------------------------------------------------------

TEST(MisuseLease, MovedFromExclusiveLeases) {
  Arena mem(64 * 1024);
  Pack<> pack(mem.block());
  const HoldRef h = HoldRef::of(pack);
  {
    Raw<Box<int>> a = Raw<Box<int>>::try_new(h, 5).take();
    Raw<Box<int>> b = std::move(a);
    EXPECT_FALSE(a);
    EXPECT_EQ(a.data(), nullptr);
    EXPECT_EQ(a.try_clone().error(), Error::invalid_argument);
    EXPECT_EQ(a.try_clone_into(h).error(), Error::invalid_argument);
    EXPECT_FALSE(a.hold());
    EXPECT_TRUE(a.block().is_null());
    a.reset();
    EXPECT_EQ(std::move(a).try_unwrap().error(), Error::invalid_argument);
    EXPECT_EQ(*b, 5);
    EXPECT_EQ(pack.stats().live, 1u);
  }
  {
    Ptr<Box<int, std::uint64_t>> a =
        Ptr<Box<int, std::uint64_t>>::try_new_with_meta(h, 9u, 5).take();
    Ptr<Box<int, std::uint64_t>> b = std::move(a);
    EXPECT_FALSE(a);
    EXPECT_EQ(a.try_clone().error(), Error::invalid_argument);
    EXPECT_FALSE(a.hold());
    EXPECT_TRUE(a.block().is_null());
    EXPECT_EQ(std::move(a).try_unwrap().error(), Error::invalid_argument);
    EXPECT_EQ(b.metadata(), 9u);
  }
  EXPECT_EQ(pack.stats().live, 0u);
}

template <class L>
void moved_from_buf(HoldRef h) {
  L a = L::try_with_capacity(h, 4).take();
  ASSERT_EQ(a.try_push(1), Error::none);
  L b = std::move(a);
  EXPECT_EQ(a.size(), 0u);
  EXPECT_EQ(a.capacity(), 0u);
  EXPECT_TRUE(a.empty());
  EXPECT_EQ(a.try_push(2), Error::invalid_argument);
  EXPECT_EQ(a.try_emplace(2), Error::invalid_argument);
  EXPECT_EQ(a.try_insert(0, 2), Error::invalid_argument);
  EXPECT_EQ(a.try_reserve(10), Error::invalid_argument);
  EXPECT_EQ(a.try_reserve_exact(10), Error::invalid_argument);
  EXPECT_EQ(a.try_resize(10), Error::invalid_argument);
  EXPECT_EQ(a.try_resize(10, 3), Error::invalid_argument);
  EXPECT_EQ(a.try_shrink_to_fit(), Error::invalid_argument);
  EXPECT_EQ(a.pop().error(), Error::invalid_argument);
  EXPECT_EQ(a.remove(0).error(), Error::invalid_argument);
  a.truncate(0);
  a.clear();
  EXPECT_EQ(b.size(), 1u);
}
template <class L>
void moved_from_string(HoldRef h) {
  L a = L::try_from(h, "text").take();
  L b = std::move(a);
  EXPECT_EQ(a.size(), 0u);
  EXPECT_TRUE(a.view().empty());
  EXPECT_EQ(a.try_append("more"), Error::invalid_argument);
  EXPECT_EQ(a.try_push(U'x'), Error::invalid_argument);
  EXPECT_EQ(a.try_insert(0, "x"), Error::invalid_argument);
  EXPECT_EQ(a.try_reserve(10), Error::invalid_argument);
  EXPECT_EQ(a.try_shrink_to_fit(), Error::invalid_argument);
  EXPECT_EQ(a.pop().error(), Error::invalid_argument);
  EXPECT_EQ(a.truncate(0), Error::none);
  a.clear();
  EXPECT_TRUE(b == "text");
}
TEST(MisuseLease, MovedFromBufsAndStringsRefuseChanges) {
  Arena mem(64 * 1024);
  Pack<> pack(mem.block());
  const HoldRef h = HoldRef::of(pack);
  moved_from_buf<Raw<Buf<int>>>(h);
  moved_from_buf<Ptr<Buf<int, std::uint64_t>>>(h);
  moved_from_buf<Mut<Buf<int>>>(h);
  moved_from_string<Raw<String<>>>(h);
  moved_from_string<Ptr<String<std::uint64_t>>>(h);
  moved_from_string<Mut<String<>>>(h);
  EXPECT_EQ(pack.stats().live, 0u);
}

TEST(MisuseLease, MovedFromSharedLeasesAreCleared) {
  Arena mem(64 * 1024);
  Pack<> pack(mem.block());
  const HoldRef h = HoldRef::of(pack);
  {
    Hard<Box<int>> a = Hard<Box<int>>::try_new(h, 5).take();
    Soft<Box<int>> s = a.to_soft().take();
    Hard<Box<int>> b = std::move(a);
    Soft<Box<int>> t = std::move(s);
    EXPECT_FALSE(a);
    EXPECT_EQ(a.status(), 0u);
    EXPECT_EQ(a.poll_ref().error(), Error::cleared);
    EXPECT_EQ(a.try_ref().error(), Error::cleared);
    EXPECT_EQ(a.poll_mut().error(), Error::cleared);
    EXPECT_EQ(a.try_clone().error(), Error::cleared);
    EXPECT_EQ(a.to_soft().error(), Error::cleared);
    EXPECT_EQ(a.refresh(), Error::cleared);
    EXPECT_EQ(a.try_to_unique().error(), Error::cleared);
    EXPECT_EQ(std::move(a).try_unwrap().error(), Error::invalid_argument);
    EXPECT_EQ(s.try_upgrade().error(), Error::cleared);
    EXPECT_EQ(s.try_clone().error(), Error::cleared);
    EXPECT_EQ(std::move(s).try_into_hard().error(), Error::cleared);
    Ref<Box<int>> r = b.poll_ref().take();
    Ref<Box<int>> r2 = std::move(r);
    EXPECT_EQ(r.try_clone().error(), Error::cleared);
    EXPECT_EQ(r.try_to_unique().error(), Error::cleared);
    EXPECT_EQ(*r2, 5);
    EXPECT_EQ(t.try_upgrade().ok(), true);
  }
  {
    Mut<Box<int>> m = Mut<Box<int>>::try_new(h, 5).take();
    Mut<Box<int>> n = std::move(m);
    EXPECT_EQ(m.to_hard().error(), Error::cleared);
    EXPECT_EQ(std::move(m).try_unwrap().error(), Error::invalid_argument);
    EXPECT_EQ(*n, 5);
  }
  EXPECT_EQ(pack.stats().live, 0u);
}

#if !defined(NDEBUG) && !defined(SWIM_MEM_NO_ASSERT)
void index_a_null_buf() {
  Raw<Buf<int>> none;
  (void)none[0];
}
void read_a_null_ptrs_metadata() {
  Ptr<Box<int, std::uint64_t>> none;
  (void)none.meta();
}
#endif

// Element access through a null lease is a precondition violation: debug builds
// stop at SWIM_MEM_ASSERT, release builds have undefined behaviour.
TEST(MisuseLease, IndexingANullBufStopsDebugBuilds) {
#if defined(NDEBUG) || defined(SWIM_MEM_NO_ASSERT)
  GTEST_SKIP() << "undefined behaviour without assertions";
#else
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(index_a_null_buf(), "");
  EXPECT_DEATH(read_a_null_ptrs_metadata(), "");
#endif
}

// ---- DeviceBuf (host code over an ExtentArena) --------------------------------------------

using HostArena = ExtentArena<OsPages>;
using HostBuf = DeviceBuf<std::uint32_t, HostArena>;

ArenaOptions small_arena() {
  ArenaOptions o;
  o.granule = 256;
  o.initial_bytes = 1 << 20;
  return o;
}

TEST(MisuseLease, MovedFromDeviceBufIsInvalidArgument) {
  HostArena arena(OsPages{}, small_arena());
  HostBuf a = HostBuf::try_make(arena, 100).take();
  HostBuf b = std::move(a);
  EXPECT_FALSE(a);
  EXPECT_EQ(a.try_borrow().error(), Error::invalid_argument);
  EXPECT_EQ(a.try_borrow_mut().error(), Error::invalid_argument);
  EXPECT_EQ(a.try_release(), Error::none);
  EXPECT_EQ(arena.stats().live, 1u);
  EXPECT_EQ(b.try_release(), Error::none);
  EXPECT_EQ(arena.stats().live, 0u);
}

// ---- Counters at their bounds ----------------------------------------------------------------

// The live count of a bump region (a Pack, a Pool hunk) is 24 bits: at 2^24 - 1
// objects the region answers out_of_memory, unchanged. (Forged: 16.7 M objects
// take 256 MiB.)
TEST(MisuseCounters, BumpLiveCountSaturatesAsOutOfMemory) {
  using B = detail::Bump<single_owner>;
  alignas(64) static std::byte mem[4096];
  B bump;
  bump.init(reinterpret_cast<std::uintptr_t>(mem), sizeof mem, B::head);
  bump.state.raw = B::head | (B::live_mask - 1);
  const Result<Block> last = bump.bump(8, 8, 0x40);
  ASSERT_TRUE(last.ok());
  EXPECT_EQ(bump.live(), B::live_mask);
  const std::uint64_t full = bump.state.raw;
  EXPECT_EQ(bump.bump(8, 8, 0x40).error(), Error::out_of_memory);
  EXPECT_EQ(bump.state.raw, full) << "unchanged";
  ASSERT_TRUE(bump.release(last->address(), 8).ok());
  EXPECT_TRUE(bump.bump(8, 8, 0x40).ok()) << "one below the bound again";
}

// A Pool whose head hunk's count is saturated takes a new hunk instead.
struct SpyPool : Pool<AddrSpace<>, concurrent, true> {
  using Pool::Pool;
  detail::PoolHunk<concurrent>* head() {
    return reinterpret_cast<detail::PoolHunk<concurrent>*>(this->head_.load(order::acquire));
  }
};
TEST(MisuseCounters, APoolGrowsPastASaturatedHunk) {
  Arena mem(1 << 20);
  AddrSpace<> pages(mem.block());
  {
    SpyPool pool(pages, 4096);
    const Block first = *pool.try_allocate(Layout{8, 8});
    auto* h = pool.head();
    using B = detail::Bump<concurrent>;
    const std::uint64_t real = h->bump.state.load(order::relaxed);
    h->bump.state.store((real & ~B::live_mask) | B::live_mask, order::relaxed);
    const Block second = *pool.try_allocate(Layout{8, 8});
    EXPECT_NE(pool.head(), h) << "a new head hunk";
    EXPECT_EQ(pool.hunk_count(), 2u);
    // Back to the truth: its one object, no longer the head.
    h->bump.state.store(real & ~B::head, order::relaxed);
    EXPECT_EQ(pool.try_deallocate(second), Error::none);
    EXPECT_EQ(pool.try_deallocate(first), Error::none);
  }
  EXPECT_EQ(pages.stats().live, 0u);
}

// Zero-size objects are counted in 64 bits: the count cannot overflow in practice;
// its underflow is the double free above.
TEST(MisuseCounters, ZeroSizeCountsAre64Bits) {
  static_assert(sizeof(detail::ZeroCount<concurrent>::live) == 8);
  static_assert(sizeof(detail::ZeroCount<single_owner>::live) == 8);
  detail::ZeroCount<single_owner> z{};
  z.live.raw = 0xFFFFFFFFull;
  z.add();
  EXPECT_EQ(z.count(), 0x100000000ull) << "no wrap at 32 bits";
  z.live.raw = 0;
  EXPECT_EQ(z.remove(), Error::double_free);
  EXPECT_EQ(z.count(), 0u);
}

// A DeviceBuf's shared borrows are counted in 30 bits: at the bound a borrow is
// ref_count_overflow, the count unchanged. (Forged through the buffer's header,
// its first member.)
TEST(MisuseCounters, DeviceBufSharedBorrowsAtTheirBound) {
  static_assert(std::is_standard_layout_v<HostBuf>);
  HostArena arena(OsPages{}, small_arena());
  HostBuf buf = HostBuf::try_make(arena, 100).take();
  detail::MovableHeader* header = *reinterpret_cast<detail::MovableHeader* const*>(&buf);
  using H = detail::MovableHeader;
  header->state.store(H::mut_bit - 2);
  {
    Result<DeviceRef<std::uint32_t>> last = buf.try_borrow();
    ASSERT_TRUE(last.ok());
    EXPECT_EQ(header->state.load(), H::mut_bit - 1);
    EXPECT_EQ(buf.try_borrow().error(), Error::ref_count_overflow);
    EXPECT_EQ(header->state.load(), H::mut_bit - 1) << "unchanged";
    EXPECT_EQ(buf.try_borrow_mut().error(), Error::aliased);
  }
  EXPECT_EQ(header->state.load(), H::mut_bit - 2);
  header->state.store(0);  // back to the truth
  EXPECT_EQ(buf.try_release(), Error::none);
}

// ---- Destroying an allocator with live objects ------------------------------------------------

TEST(MisuseLeaks, AllocatorsDestroyedWithLiveObjectsReportThem) {
  Arena mem(2 << 20);
  LeakCapture leaks;
  {
    Slab<> slab(Block{mem.ptr, 64 * 1024}, 64);
    (void)*slab.try_allocate(Layout{8, 8});
  }
  EXPECT_EQ(LeakCapture::reports, 1);
  EXPECT_STREQ(LeakCapture::last.allocator, "Slab");
  {
    ExtentHeap<> heap(Block{mem.ptr, 64 * 1024}, 256);
    (void)*heap.try_allocate(Layout{8, 8});
  }
  EXPECT_EQ(LeakCapture::reports, 2);
  EXPECT_STREQ(LeakCapture::last.allocator, "ExtentHeap");
  {
    Pack<> pack(Block{mem.ptr, 64 * 1024});
    (void)*pack.try_allocate(Layout{0, 8});  // a zero-size object counts too
  }
  EXPECT_EQ(LeakCapture::reports, 3);
  EXPECT_STREQ(LeakCapture::last.allocator, "Pack");
  {
    AddrSpace<> pages(Block{mem.ptr, 1 << 20});
    {
      SizeClasses<AddrSpace<>> classes(pages);
      (void)*classes.try_allocate(100);
    }
    EXPECT_EQ(LeakCapture::reports, 4);
    EXPECT_STREQ(LeakCapture::last.allocator, "SizeClasses");
    {
      Pool<AddrSpace<>> pool(pages, 4096);
      (void)*pool.try_allocate(Layout{8, 8});
    }
    EXPECT_EQ(LeakCapture::reports, 5);
    EXPECT_STREQ(LeakCapture::last.allocator, "Pool");
  }  // the pages the holds kept for their live objects
  EXPECT_EQ(LeakCapture::reports, 6);
  EXPECT_STREQ(LeakCapture::last.allocator, "AddrSpace");
}

}  // namespace
}  // namespace swim::mem
