// HoldRef and HeapRef: reaching a hold (and a Pool's upstream heap) without its
// static type, as leases and stow do.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <vector>

#include "swim/mem.hpp"

namespace swim::mem {
namespace {

alignas(4096) std::byte g_arena[1 << 20];

// A heap of the user's own: not in heaps/heap_kinds.hpp.
struct OutsideHeap {
  SourceHeap<StaticRegion<>> inner;
  explicit OutsideHeap(Block b) : inner(b) {}
  Result<Block> try_allocate(Layout l) { return inner.try_allocate(l); }
  Error try_deallocate(Block b) { return inner.try_deallocate(b); }
  Stats stats() const { return inner.stats(); }
};
static_assert(heap<OutsideHeap> && !heap_ref_supports<OutsideHeap>);

TEST(HeapRef, RefersToEveryKnownHeapAndToNothingElse) {
  Slab<concurrent, true> slab(Block{g_arena, 1 << 16}, 4096);
  HeapRef r = HeapRef::of(slab);
  ASSERT_TRUE(r);
  EXPECT_EQ(r.kind(), (heap_kind_v<Slab<concurrent, true>>));
  const Result<Block> b = r.try_allocate(Layout{100, 8});
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(slab.stats().live, 1u);
  EXPECT_EQ(r.stats().live, 1u);
  EXPECT_EQ(r.try_deallocate(*b), Error::none);

  SourceHeap<OsPages> pages;
  EXPECT_EQ(HeapRef::of(pages).kind(), heap_kind_v<SourceHeap<OsPages>>);

  SourceHeap<StaticRegion<>> region(Block{g_arena + (1 << 16), 1 << 16});
  EXPECT_TRUE(HeapRef::of(region));

  OutsideHeap outside(Block{g_arena + (1 << 17), 1 << 16});
  const HeapRef none = HeapRef::of(outside);
  EXPECT_FALSE(none);
  EXPECT_EQ(none.try_allocate(Layout{8, 8}).error(), Error::unsupported);
  EXPECT_EQ(none.try_deallocate(Block{g_arena, 8}), Error::unsupported);
  EXPECT_EQ(none.stats().live, 0u);
}

template <class Mode>
class HoldRefTest : public ::testing::Test {};
using Modes = ::testing::Types<concurrent, single_owner>;
TYPED_TEST_SUITE(HoldRefTest, Modes);

TYPED_TEST(HoldRefTest, PoolGrowsThroughItsHeapRef) {
  AddrSpace<TypeParam> pages(Block{g_arena, sizeof g_arena});
  Pool<AddrSpace<TypeParam>, TypeParam> pool(pages, 4096);
  const HoldRef h = HoldRef::of(pool);
  std::vector<Block> blocks;
  for (int i = 0; i < 200; ++i) {  // 200 * (128 + 8) bytes: several 4 KiB hunks
    const Result<Block> r = h.try_allocate(Layout{128, 8});
    ASSERT_TRUE(r.ok()) << to_string(r.error());
    EXPECT_EQ(HoldRef::owner_of(r->ptr), h);
    blocks.push_back(*r);
  }
  EXPECT_GT(pool.hunk_count(), 5u);
  EXPECT_EQ(h.stats().live, 200u);
  for (const Block& b : blocks) ASSERT_EQ(h.try_deallocate(b), Error::none);
  EXPECT_EQ(pool.stats().live, 0u);
  if constexpr (!TypeParam::is_concurrent) {
    EXPECT_EQ(pool.hunk_count(), 1u) << "single owner: emptied hunks went back at once";
  }
}

TYPED_TEST(HoldRefTest, ReallocateCopiesWhenItMustMove) {
  Pack<TypeParam> pack(Block{g_arena, 1 << 16});
  const HoldRef h = HoldRef::of(pack);
  Block a = *h.try_allocate(Layout{64, 8});
  std::memset(a.ptr, 0x3C, 64);
  const Block top = *h.try_allocate(Layout{8, 8});  // a is no longer on top
  const Result<Block> grown = HoldRef::owner_of(a.ptr).try_reallocate(a, Layout{1024, 8});
  ASSERT_TRUE(grown.ok());
  EXPECT_NE(grown->ptr, a.ptr) << "not on top: it had to move";
  for (int i = 0; i < 64; ++i) {
    ASSERT_EQ(static_cast<unsigned char*>(grown->ptr)[i], 0x3C) << "byte " << i;
  }
  EXPECT_EQ(pack.stats().live, 2u) << "the old object was freed";
  // On top now: it grows in place.
  const Result<Block> again = h.try_reallocate(*grown, Layout{2048, 8});
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->ptr, grown->ptr);
  // Failure leaves the object untouched.
  EXPECT_EQ(h.try_reallocate(*again, Layout{std::size_t(1) << 40, 8}).error(),
            Error::oversized);
  EXPECT_EQ(static_cast<unsigned char*>(again->ptr)[63], 0x3C);
  EXPECT_EQ(h.try_deallocate(*again), Error::none);
  EXPECT_EQ(h.try_deallocate(top), Error::none);
  EXPECT_EQ(pack.stats().live, 0u);
}

// Given the size that was asked for (not a multiple of 8), a move copies every byte
// of it, not only its whole words.
TYPED_TEST(HoldRefTest, ReallocateCopiesEveryByteOfTheSizeAskedFor) {
  Pack<TypeParam> pack(Block{g_arena, 1 << 16});
  const HoldRef h = HoldRef::of(pack);
  const Block a = *h.try_allocate(Layout{13, 1});
  std::memcpy(a.ptr, "ABCDEFGHIJKLM", 13);
  const Block top = *h.try_allocate(Layout{8, 8});  // a is no longer on top
  const Result<Block> moved = h.try_reallocate(Block{a.ptr, 13}, Layout{100, 1});
  ASSERT_TRUE(moved.ok()) << to_string(moved.error());
  ASSERT_NE(moved->ptr, a.ptr);
  EXPECT_EQ(std::memcmp(moved->ptr, "ABCDEFGHIJKLM", 13), 0);
  EXPECT_EQ(h.try_deallocate(*moved), Error::none);
  EXPECT_EQ(h.try_deallocate(top), Error::none);
}

TEST(HoldRef, ObjectsOfAnotherHoldAreForeign) {
  Pack<> p1(Block{g_arena, 1 << 12});
  Pack<> p2(Block{g_arena + (1 << 12), 1 << 12});
  const Block b = *HoldRef::of(p2).try_allocate(Layout{8, 8});
  EXPECT_EQ(HoldRef::of(p1).try_deallocate(b), Error::foreign_pointer);
  EXPECT_EQ(HoldRef::of(p2).try_deallocate(b), Error::none);
  EXPECT_EQ(HoldRef::of(p2).try_deallocate(b), Error::double_free);
  EXPECT_FALSE(HoldRef::owner_of(b.ptr)) << "a freed object has no owner";
}

TEST(HoldRef, PoolOverAHeapOutsideTheSetCannotGrowThroughATag) {
  OutsideHeap region(Block{g_arena, 1 << 16});
  Pool<OutsideHeap> pool(region, 1024);
  // The typed path grows as usual.
  const Block first = *pool.try_allocate(Layout{512, 8});
  const HoldRef h = HoldRef::of(pool);
  const Result<Block> fits = h.try_allocate(Layout{64, 8});  // room in the head hunk
  ASSERT_TRUE(fits.ok());
  EXPECT_EQ(h.try_allocate(Layout{900, 8}).error(), Error::unsupported);
  EXPECT_EQ(h.try_deallocate(*fits), Error::none);
  EXPECT_EQ(pool.try_deallocate(first), Error::none);
}

}  // namespace
}  // namespace swim::mem
