// Regressions: bad input that the allocators once answered wrongly or crashed on.
// Each test names the defect it guards against; every one of them failed (or
// crashed the process) before its fix.
#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <cstring>
#include <new>
#include <vector>

#include "support/lease_env.hpp"
#include "swim/mem.hpp"

namespace swim::mem {
namespace {

alignas(4096) std::byte g_arena[1 << 20];

template <class Mode>
class RegressionTest : public ::testing::Test {};
using Modes = ::testing::Types<concurrent, single_owner>;
TYPED_TEST_SUITE(RegressionTest, Modes);

// Counts leak reports while it lives.
struct LeakCounter {
  static inline int reports = 0;
  leak_handler previous;
  LeakCounter() : previous(set_leak_handler([](const LeakReport&) { ++reports; })) {
    reports = 0;
  }
  ~LeakCounter() { set_leak_handler(previous); }
};

bool overlap(Block a, Block b) {
  return a.address() < b.address() + b.size && b.address() < a.address() + a.size;
}

// Words that might sit in front of a pointer no hold handed out: zero, every kind
// with a null control block, and every kind with control blocks that are not
// control blocks (a low address, a stack address, an address inside a live block).
std::vector<std::uint64_t> forged_words(const void* inside_live_block) {
  alignas(64) static std::uint64_t not_a_control_block[16] = {};
  std::vector<std::uint64_t> words;
  for (std::uint64_t kind = 0; kind < 64; ++kind) {
    words.push_back(kind);
    words.push_back(0x1000 | kind);
    words.push_back(reinterpret_cast<std::uintptr_t>(&not_a_control_block) | kind);
    words.push_back((reinterpret_cast<std::uintptr_t>(inside_live_block) & ~std::uint64_t(63)) |
                    kind);
    words.push_back(~std::uint64_t(63) | kind);
  }
  return words;
}

// Defect 1: a Pack's zero-size object freed twice reset the Pack under a live
// object, and the next allocation overlapped it.
TYPED_TEST(RegressionTest, PackZeroSizeDoubleFreeIsDetected) {
  Pack<TypeParam> pack(Block{g_arena, 4096});
  const Block z = *pack.try_allocate(Layout{0, 1});
  const Block b = *pack.try_allocate(Layout{64, 8});
  std::memset(b.ptr, 0x5A, 64);
  EXPECT_EQ(pack.try_deallocate(z), Error::none);
  EXPECT_EQ(pack.try_deallocate(z), Error::double_free);
  EXPECT_EQ(hold_deallocate(z), Error::double_free);
  EXPECT_EQ(pack.stats().live, 1u);
  const Block c = *pack.try_allocate(Layout{64, 8});
  EXPECT_FALSE(overlap(b, c)) << "the Pack was reset under a live object";
  for (int i = 0; i < 64; ++i) ASSERT_EQ(static_cast<unsigned char*>(b.ptr)[i], 0x5A);
  EXPECT_EQ(pack.try_deallocate(c), Error::none);
  EXPECT_EQ(pack.try_deallocate(b), Error::none);
  EXPECT_EQ(pack.stats().live, 0u);
}

// Defect 2: the same for a Pool: live wrapped to 2^64 - 1, and destruction then
// reported a leak and kept its hunk.
TYPED_TEST(RegressionTest, PoolZeroSizeDoubleFreeIsDetected) {
  AddrSpace<TypeParam> pages(Block{g_arena, sizeof g_arena});
  LeakCounter leaks;
  {
    Pool<AddrSpace<TypeParam>, TypeParam, true> pool(pages, 4096);
    const Block z = *pool.try_allocate(Layout{0, 1});
    const Block b = *pool.try_allocate(Layout{64, 8});
    EXPECT_EQ(pool.try_deallocate(z), Error::none);
    EXPECT_EQ(pool.try_deallocate(z), Error::double_free);
    EXPECT_EQ(hold_deallocate(z), Error::double_free);
    EXPECT_EQ(HoldRef::of(pool).try_deallocate(z), Error::double_free);
    EXPECT_EQ(pool.stats().live, 1u);
    EXPECT_EQ(pool.try_deallocate(b), Error::none);
    EXPECT_EQ(pool.stats().live, 0u);
  }
  EXPECT_EQ(LeakCounter::reports, 0);
  EXPECT_EQ(pages.stats().live, 0u) << "the pool kept a hunk";
}

// Defect 3: a checked Slab over a region of exactly one unit put its bitmap in
// that unit: the user's writes flipped its bits, and the free then answered
// double_free and lost the unit.
TYPED_TEST(RegressionTest, CheckedSlabOfOneUnitKeepsItsBitmapOutOfTheUnit) {
  Slab<TypeParam, true> slab(Block{g_arena, 4096}, 4096);
  ASSERT_EQ(slab.init_error(), Error::none);
  ASSERT_EQ(slab.block_count(), 1u);
  for (int round = 0; round < 3; ++round) {
    const Result<Block> r = slab.try_allocate(Layout{4096, 4096});
    ASSERT_TRUE(r.ok()) << to_string(r.error());
    std::memset(r->ptr, 0xFF, 4096);
    EXPECT_EQ(slab.try_allocate(Layout{8, 8}).error(), Error::out_of_memory);
    // A rejected free flips nothing in the user's memory.
    EXPECT_EQ(slab.try_deallocate(Block{r->begin() + 8, 8}), Error::foreign_pointer);
    for (int i = 0; i < 4096; ++i) ASSERT_EQ(static_cast<unsigned char*>(r->ptr)[i], 0xFF);
    EXPECT_EQ(slab.try_deallocate(*r), Error::none);
    EXPECT_EQ(slab.try_deallocate(*r), Error::double_free);
  }
  EXPECT_EQ(slab.stats().live, 0u);
  // The same holds for every count that fits in the Slab object's own bitmap word.
  Slab<TypeParam, true> four(Block{g_arena, 4 * 1024}, 1024);
  EXPECT_EQ(four.block_count(), 4u);
}

// Defect 4: a Pool given a pointer whose preceding word read as a hunk tag (a
// stack buffer, or an interior pointer into a live block) dereferenced it.
TYPED_TEST(RegressionTest, PoolRejectsForgedHunkTagsWithoutReadingThem) {
  AddrSpace<TypeParam> pages(Block{g_arena, sizeof g_arena});
  Pool<AddrSpace<TypeParam>, TypeParam, true> pool(pages, 4096);
  const Block live = *pool.try_allocate(Layout{256, 8});
  std::memset(live.ptr, 0, 256);
  const Stats before = pool.stats();
  alignas(64) std::uint64_t stack[8] = {};
  for (const std::uint64_t word : forged_words(live.ptr)) {
    stack[3] = word;
    EXPECT_EQ(pool.try_deallocate(Block{&stack[4], 8}), Error::foreign_pointer) << word;
    EXPECT_EQ(HoldRef::of(pool).try_deallocate(Block{&stack[4], 8}), Error::foreign_pointer)
        << word;
    auto* inner = static_cast<std::uint64_t*>(live.ptr);
    inner[7] = word;
    EXPECT_EQ(pool.try_deallocate(Block{&inner[8], 16}), Error::foreign_pointer) << word;
    EXPECT_EQ(HoldRef::of(pool).try_deallocate(Block{&inner[8], 16}), Error::foreign_pointer)
        << word;
    inner[7] = 0;
  }
  const Stats after = pool.stats();
  EXPECT_EQ(after.live, before.live);
  EXPECT_EQ(after.bytes_in_use, before.bytes_in_use);
  EXPECT_EQ(pool.try_deallocate(live), Error::none);
}

// Defect 5: HoldRef::try_deallocate with a foreign pointer crashed; it answers
// foreign_pointer, for every kind of hold.
TYPED_TEST(RegressionTest, HoldRefRejectsForeignPointers) {
  Pack<TypeParam> pack(Block{g_arena, 4096});
  AddrSpace<TypeParam> pages(Block{g_arena + 65536, 65536});
  Pool<AddrSpace<TypeParam>, TypeParam, true> pool(pages, 4096);
  const Block in_pack = *pack.try_allocate(Layout{64, 8});
  const Block in_pool = *pool.try_allocate(Layout{64, 8});
  alignas(64) std::uint64_t stack[8] = {};
  for (const HoldRef h : {HoldRef::of(pack), HoldRef::of(pool)}) {
    for (const std::uint64_t word : forged_words(in_pool.ptr)) {
      stack[3] = word;
      EXPECT_EQ(h.try_deallocate(Block{&stack[4], 8}), Error::foreign_pointer) << word;
    }
  }
  EXPECT_EQ(HoldRef::of(pack).try_deallocate(in_pool), Error::foreign_pointer);
  EXPECT_EQ(HoldRef::of(pool).try_deallocate(in_pack), Error::foreign_pointer);
  EXPECT_EQ(HoldRef::of(pool).try_deallocate(Block{nullptr, 8}), Error::foreign_pointer);
  EXPECT_EQ(pack.stats().live, 1u);
  EXPECT_EQ(pool.stats().live, 1u);
  EXPECT_EQ(HoldRef::of(pack).try_deallocate(in_pack), Error::none);
  EXPECT_EQ(HoldRef::of(pool).try_deallocate(in_pool), Error::none);
}

// Defect 6: wrong codes for pointers preceded by a zero word: a foreign pointer
// given to a Pool, an interior pointer of a live, zeroed block given to a Pack.
TYPED_TEST(RegressionTest, ZeroWordsInFrontOfForeignPointersAreNotDoubleFrees) {
  AddrSpace<TypeParam> pages(Block{g_arena, 65536});
  Pool<AddrSpace<TypeParam>, TypeParam, true> pool(pages, 4096);
  alignas(64) std::uint64_t stack[8] = {};
  EXPECT_EQ(pool.try_deallocate(Block{&stack[4], 8}), Error::foreign_pointer);
  const Block in_pool = *pool.try_allocate(Layout{256, 8});
  std::memset(in_pool.ptr, 0, 256);
  EXPECT_EQ(pool.try_deallocate(Block{in_pool.begin() + 64, 8}), Error::foreign_pointer);

  Pack<TypeParam> pack(Block{g_arena + 65536, 4096});
  const Block b = *pack.try_allocate(Layout{256, 8});
  std::memset(b.ptr, 0, 256);
  EXPECT_EQ(pack.try_deallocate(Block{b.begin() + 64, 8}), Error::foreign_pointer);
  EXPECT_EQ(hold_deallocate(Block{b.begin() + 64, 8}), Error::foreign_pointer);
  EXPECT_EQ(pack.stats().live, 1u);
  // A real double free is still told apart.
  EXPECT_EQ(pack.try_deallocate(b), Error::none);
  EXPECT_EQ(pack.try_deallocate(b), Error::double_free);
  EXPECT_EQ(pool.try_deallocate(in_pool), Error::none);
  EXPECT_EQ(pool.try_deallocate(in_pool), Error::double_free);
}

// Defect 7: a Slab with no units answered an aligned request with misaligned.
TYPED_TEST(RegressionTest, SlabWithNoUnitsIsOutOfMemory) {
  Slab<TypeParam, true> checked(Block{g_arena, 16}, 64);
  Slab<TypeParam, false> unchecked(Block{g_arena, 16}, 64);
  EXPECT_EQ(checked.block_count(), 0u);
  EXPECT_EQ(checked.try_allocate(Layout{8, 64}).error(), Error::out_of_memory);
  EXPECT_EQ(checked.try_allocate(Layout{8, 8}).error(), Error::out_of_memory);
  EXPECT_EQ(unchecked.try_allocate(Layout{8, 64}).error(), Error::out_of_memory);
  Slab<TypeParam, true> null_hunk(Block{nullptr, 4096}, 64);
  EXPECT_EQ(null_hunk.try_allocate(Layout{8, 16}).error(), Error::out_of_memory);
}

// ---- Found by an adversarial review of the fixes above --------------------------------

// A HoldRef kept in an object is never read as the tag of what follows it: a Pack's
// HoldRef once equalled its objects' tag, so a free of the pointer after it was
// accepted and reset the Pack under live objects.
TYPED_TEST(RegressionTest, AStoredHoldRefIsNotATag) {
  Pack<TypeParam> pack(Block{g_arena, 4096});
  const HoldRef ref = HoldRef::of(pack);
  struct Node {
    HoldRef home;
    std::uint64_t payload[3];
  };
  const Block nb = *ref.try_allocate(Layout::of<Node>());
  Node* n = new (nb.ptr) Node{ref, {1, 2, 3}};
  const Block other = *ref.try_allocate(Layout{64, 8});
  EXPECT_EQ(ref.try_deallocate(Block{&n->payload[0], 8}), Error::foreign_pointer);
  EXPECT_EQ(pack.try_deallocate(Block{&n->payload[0], 8}), Error::foreign_pointer);
  EXPECT_EQ(n->home, ref) << "the user's field is untouched";
  EXPECT_EQ(pack.stats().live, 2u);
  EXPECT_EQ(ref.try_deallocate(nb), Error::none);
  EXPECT_EQ(ref.try_deallocate(other), Error::none);
}

// A Pack and a Pool (with hunks of `hunk` bytes) side by side, and HoldRefs to both.
template <class Mode>
struct PackAndPool {
  explicit PackAndPool(std::size_t hunk) : pool(pages, hunk) {}
  std::array<HoldRef, 2> refs() { return {HoldRef::of(pack), HoldRef::of(pool)}; }
  Pack<Mode> pack{Block{g_arena, 4096}};
  AddrSpace<Mode> pages{Block{g_arena + 65536, 65536}};
  Pool<AddrSpace<Mode>, Mode> pool;
};

// A resize or reallocation to an alignment of 0 divided by it.
TYPED_TEST(RegressionTest, ResizingToAlignmentZeroIsMisaligned) {
  PackAndPool<TypeParam> holds(4096);
  auto& pool = holds.pool;
  for (const HoldRef h : holds.refs()) {
    const Block b = *h.try_allocate(Layout{16, 8});
    EXPECT_EQ(hold_resize(b, Layout{32, 0}).error(), Error::misaligned);
    EXPECT_EQ(h.try_reallocate(b, Layout{32, 0}).error(), Error::misaligned);
    EXPECT_EQ(h.try_allocate(Layout{16, 0}).error(), Error::misaligned);
    EXPECT_EQ(h.stats().live, 1u);
    EXPECT_EQ(h.try_deallocate(b), Error::none);
  }
  EXPECT_EQ(pool.try_resize(*pool.try_allocate(Layout{8, 8}), Layout{8, 0}).error(),
            Error::misaligned);
}

// Reallocating a freed block allocated first and then freed what it had just made
// (the new object took the freed one's place), returning a dangling "success".
TYPED_TEST(RegressionTest, ReallocatingAFreedBlockAllocatesNothing) {
  PackAndPool<TypeParam> holds(1024);
  auto& pages = holds.pages;
  for (const HoldRef h : holds.refs()) {
    const Block keep = *h.try_allocate(Layout{16, 8});
    const Block a = *h.try_allocate(Layout{16, 8});
    ASSERT_EQ(h.try_deallocate(a), Error::none);
    const Stats before = h.stats();
    const std::size_t pages_before = pages.stats().live;
    EXPECT_EQ(h.try_reallocate(a, Layout{4096, 8}).error(), Error::double_free);
    EXPECT_EQ(h.stats().live, before.live);
    EXPECT_EQ(h.stats().bytes_in_use, before.bytes_in_use);
    EXPECT_EQ(h.stats().bytes_free, before.bytes_free);
    EXPECT_EQ(pages.stats().live, pages_before) << "no hunk drawn for a freed block";
    EXPECT_EQ(h.try_deallocate(keep), Error::none);
  }
}

// A zero-size request aligned past 64 gets a real 8-byte object; a lease frees it
// as the size-0 block it asked for, which was refused, and the object leaked.
struct alignas(128) Wide {
  double v[16];
};
TYPED_TEST(RegressionTest, ZeroSizeObjectsAlignedPast64AreFreedAsSizeZero) {
  Pack<TypeParam> pack(Block{g_arena, 1 << 16});
  AddrSpace<TypeParam> pages(Block{g_arena + (1 << 16), 1 << 18});
  Pool<AddrSpace<TypeParam>, TypeParam> pool(pages, 4096);
  for (const HoldRef h : {HoldRef::of(pack), HoldRef::of(pool)}) {
    {
      auto empty = Raw<Buf<Wide>>::try_empty(h);
      ASSERT_TRUE(empty.ok());
      EXPECT_EQ(h.stats().live, 1u);
      auto grown = Raw<Buf<Wide>>::try_empty(h);
      ASSERT_TRUE(grown.ok());
      ASSERT_EQ(grown->try_push(Wide{}), Error::none);  // moves out of its size-0 object
    }
    EXPECT_EQ(h.stats().live, 0u) << "every object was freed";
    const Block z = *h.try_allocate(Layout{0, 128});
    EXPECT_EQ(z.address() % 128, 0u);
    EXPECT_EQ(hold_deallocate(Block{z.ptr, 0}), Error::none);
    EXPECT_EQ(hold_deallocate(Block{z.ptr, 0}), Error::double_free);
  }
}

// Pointers that are not 8-aligned cannot be objects: the word in front of them was
// read (a misaligned atomic load) before anything checked that.
TYPED_TEST(RegressionTest, UnalignedPointersAreForeign) {
  AddrSpace<TypeParam> pages(Block{g_arena, 65536});
  Pool<AddrSpace<TypeParam>, TypeParam, true> pool(pages, 4096);
  Pack<TypeParam> pack(Block{g_arena + 65536, 4096});
  const Block a = *pool.try_allocate(Layout{64, 8});
  const Block b = *pack.try_allocate(Layout{64, 8});
  for (const Block x : {a, b}) {
    const Block odd{x.begin() + 1, 8};
    EXPECT_EQ(hold_deallocate(odd), Error::foreign_pointer);
    EXPECT_EQ(hold_resize(odd, Layout{8, 8}).error(), Error::foreign_pointer);
    EXPECT_EQ(HoldRef::of(pool).try_deallocate(odd), Error::foreign_pointer);
    EXPECT_EQ(HoldRef::of(pack).try_deallocate(odd), Error::foreign_pointer);
  }
  EXPECT_EQ(pool.try_deallocate(Block{a.begin() + 4, 8}), Error::foreign_pointer);
  EXPECT_EQ(pool.try_resize(Block{a.begin() + 4, 8}, Layout{8, 8}).error(),
            Error::foreign_pointer);
  EXPECT_EQ(pool.try_deallocate(a), Error::none);
  EXPECT_EQ(pack.try_deallocate(b), Error::none);
}

// Units that are not a multiple of 4 put the free list's 32-bit links at
// misaligned addresses.
TYPED_TEST(RegressionTest, SlabUnitsAreMultiplesOfFour) {
  for (const std::size_t unit : {std::size_t(5), std::size_t(6), std::size_t(1023)}) {
    Slab<TypeParam, true> slab(Block{g_arena, 4096}, unit);
    EXPECT_EQ(slab.init_error(), Error::invalid_argument) << unit;
    EXPECT_EQ(slab.block_count(), 0u);
    EXPECT_EQ(slab.try_allocate(Layout{4, 4}).error(), Error::out_of_memory);
  }
  Slab<TypeParam, true> twelve(Block{g_arena, 4096}, 12);
  EXPECT_EQ(twelve.init_error(), Error::none);
}

// A SourceHeap with nothing out refused nothing: its counters wrapped and OsPages
// unmapped whatever it was given.
TEST(Regression, SourceHeapRefusesAFreeWhenNothingIsOut) {
  SourceHeap<OsPages> heap;
  const Block b = *heap.try_allocate(Layout{4096, 8});
  EXPECT_EQ(heap.try_deallocate(b), Error::none);
  EXPECT_EQ(heap.try_deallocate(b), Error::foreign_pointer);
  alignas(4096) static std::byte not_from_heap[4096];
  EXPECT_EQ(heap.try_deallocate(Block{not_from_heap, 4096}), Error::foreign_pointer);
  not_from_heap[0] = std::byte{1};  // still mapped
  EXPECT_EQ(heap.stats().live, 0u);
}

// Layout arithmetic with an alignment of 0 said oversized.
TEST(Regression, LayoutArithmeticRefusesBadAlignments) {
  EXPECT_EQ(Layout({1, 8}).extend(Layout{1, 0}).error(), Error::misaligned);
  EXPECT_EQ(Layout({8, 0}).repeat(2).error(), Error::misaligned);
  EXPECT_EQ(Layout({8, 3}).extend(Layout{1, 1}).error(), Error::misaligned);
}

// The hold and block of a null lease dereferenced null.
TEST(Regression, NullLeasesHaveNoHoldAndNoBlock) {
  EXPECT_FALSE(Raw<Box<int>>().hold());
  EXPECT_TRUE(Raw<Box<int>>().block().is_null());
  EXPECT_FALSE((Ptr<Box<int, int>>().hold()));
  EXPECT_TRUE((Ptr<Box<int, int>>().block().is_null()));
  EXPECT_FALSE(Hard<Box<int>>().hold());
  EXPECT_TRUE(Hard<Box<int>>().block().is_null());
  EXPECT_FALSE(Soft<Box<int>>().hold());
}

// A move assignment from a lease inside the object the target owns (`list =
// move(list->next)`, dropping a list's head) destroyed the old object first: its
// `next` member, the source, went with it (freeing the whole rest of the list), and
// the assignment then read the source from freed memory (ASan's poisoned arena
// reported it).
// The lease is chosen by a kind (tests/support/lease_env.hpp): a template template
// parameter would not match Raw's defaulted address parameter on clang 14.
template <class Kind>
struct Chain {
  template <class T>
  using L = typename Kind::template Lease<T>;
  struct Node {
    std::uint64_t value = 0;
    L<Box<Node>> next;
  };
  static void drop_heads() {
    Pack<> pack(Block{g_arena, sizeof g_arena});
    L<Box<Node>> head;
    for (std::uint64_t v = 3; v >= 1; --v) {
      L<Box<Node>> n = L<Box<Node>>::try_new(HoldRef::of(pack), Node{v, {}}).take();
      mut_of(n).next = static_cast<L<Box<Node>>&&>(head);
      head = static_cast<L<Box<Node>>&&>(n);
    }
    for (std::uint64_t v = 1; v <= 3; ++v) {
      ASSERT_TRUE(static_cast<bool>(head));
      EXPECT_EQ(value_of(head), v);
      EXPECT_EQ(pack.stats().live, 4 - v) << "only the head goes";
      head = static_cast<L<Box<Node>>&&>(mut_of(head).next);
    }
    EXPECT_FALSE(static_cast<bool>(head));
    EXPECT_EQ(pack.stats().live, 0u);
  }
  static Node& mut_of(L<Box<Node>>& l) { return *l; }
  static std::uint64_t value_of(L<Box<Node>>& l) { return l->value; }
};

TEST(Regression, MoveAssignFromInsideTheOwnedObject) {
  Chain<testing::RawKind>::drop_heads();
  Chain<testing::PtrKind>::drop_heads();
}

}  // namespace
}  // namespace swim::mem
