// The general-purpose hold with relative tags and words (SizeClasses<Slab<concurrent,
// true, relative_address>, concurrent, true, relative_address>) placed with its Slab
// of 256 KiB hunks in one memfd mapped twice at different addresses: class and large
// objects allocated through one mapping are freed, resized and validated through the
// other; the shared scenario (a structure built, read, grown, relocated and freed
// across the mappings) and a forked child with a third mapping; threads of both
// mappings allocating every size and freeing each other's objects; the Slab drawn dry
// and refilled. What an MPI shared window needs for a general-purpose hold, proved
// without MPI.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <cstring>
#include <new>
#include <thread>
#include <vector>

#include "support/relative_structure.hpp"
#include "support/two_mappings.hpp"
#include "swim/mem.hpp"

namespace swim::mem {
namespace {

using testing::Shared;
using testing::within;
using Units = Slab<concurrent, true, relative_address>;
using RClasses = SizeClasses<Units, concurrent, true, relative_address>;
using Mappings = testing::BasicTwoMappings<std::size_t(32) << 20>;

constexpr std::size_t unit = 256 * 1024;  // a hunk, or a large object's block
constexpr std::size_t shared_room = 256;
constexpr std::size_t hold_at = shared_room;
constexpr std::size_t slab_at = hold_at + detail::round64(sizeof(RClasses));
constexpr std::size_t units_at = detail::round64(slab_at + sizeof(Units));
static_assert(sizeof(Shared) <= shared_room);

RClasses& hold_of(std::byte* base) { return *reinterpret_cast<RClasses*>(base + hold_at); }
Units& units_of(std::byte* base) { return *reinterpret_cast<Units*>(base + slab_at); }
HoldRef ref_of(std::byte* base) { return HoldRef::of(hold_of(base)); }
bool in(const void* p, const std::byte* base) { return within(p, base, Mappings::bytes); }

// Shared, the Slab and the hold, once, through one mapping.
void place(std::byte* base) {
  new (base) Shared{};
  auto* slab = new (base + slab_at) Units(Block{base + units_at, Mappings::bytes - units_at}, unit);
  new (base + hold_at) RClasses(*slab);
}
void unplace(std::byte* base) {
  reinterpret_cast<Shared*>(base)->~Shared();
  hold_of(base).~RClasses();
  units_of(base).~Units();
}

class RelativeSizeClasses : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(m.ok());
    place(m.a);
    placed_ = true;
  }
  void TearDown() override {
    if (placed_) unplace(m.a);
  }
  void* in_b(const void* p) const { return m.in_b(p); }
  Mappings m;

 private:
  bool placed_ = false;
};

TEST_F(RelativeSizeClasses, TagsAndRegistryNameTheSameHoldInEveryMapping) {
  RClasses& ha = hold_of(m.a);
  RClasses& hb = hold_of(m.b);
  // A class object and a large one (a Slab unit of its own) through a.
  for (const std::size_t size : {std::size_t(40), std::size_t(3000), std::size_t(100000)}) {
    SCOPED_TRACE(size);
    const Result<Block> x = ha.try_allocate(Layout{size, 8});
    ASSERT_TRUE(x) << to_string(x.error());
    void* xb = in_b(x->ptr);
    EXPECT_EQ(HoldRef::owner_of(x->ptr), HoldRef::of(ha));
    EXPECT_EQ(HoldRef::owner_of(xb), HoldRef::of(hb)) << "through b, b's own address of the hold";
    EXPECT_EQ(detail::peek_tag(x->ptr), detail::peek_tag(xb)) << "one tag, valid in both";
    // The registry (checked frees) is the same in both mappings; the other mapping's
    // address of a class object is foreign to each (its hunk is not at that address).
    if (size < 32768) {
      EXPECT_EQ(ha.try_deallocate(Block{xb, size}), Error::foreign_pointer);
    }
    EXPECT_EQ(hb.try_deallocate(Block{xb, size}), Error::none);
    EXPECT_EQ(ha.try_deallocate(*x), Error::double_free);
    EXPECT_EQ(hold_deallocate(Block{xb, size}), Error::double_free);
    EXPECT_EQ(ha.stats().live, 0u);
  }
  // Resize and zero-size objects through the tag, from either mapping.
  const Result<Block> y = ref_of(m.b).try_allocate(Layout{20, 8});
  ASSERT_TRUE(y);
  EXPECT_TRUE(in(y->ptr, m.b));
  const Result<Block> grown = hold_resize(Block{m.in_a(y->ptr), 20}, Layout{y->size, 8});
  ASSERT_TRUE(grown) << to_string(grown.error());
  EXPECT_EQ(grown->ptr, m.in_a(y->ptr));
  EXPECT_EQ(hold_deallocate(Block{y->ptr, y->size}), Error::none);
  const Result<Block> z = ref_of(m.b).try_allocate(Layout{0, 8});
  ASSERT_TRUE(z);
  EXPECT_EQ(hold_deallocate(Block{m.in_a(z->ptr), 0}), Error::none);
  // Too large for a unit: the heap's oversized passes through.
  EXPECT_EQ(ha.try_allocate(Layout{unit, 8}).error(), Error::oversized);
  EXPECT_EQ(hb.stats().live, 0u);
}

TEST_F(RelativeSizeClasses, AStructureBuiltThroughOneMappingIsReadGrownRelocatedAndFreedThroughTheOther) {
  // A Buf of 15,000 numbers (a large object, moved as it doubles up to 128 KiB: the
  // next doubling would not fit a unit) and a tree of 3000 nodes: class objects in
  // several hunks.
  testing::expect_built_read_grown_relocated_and_freed(m, ref_of, 15000, 3000);
  EXPECT_EQ(hold_of(m.a).stats().live, 0u);
  EXPECT_EQ(hold_of(m.a).stats().bytes_in_use, 0u);
}

TEST_F(RelativeSizeClasses, AForkedChildGrowsTheStructureTheParentReads) {
  testing::expect_a_forked_child_grows_what_the_parent_reads(m, ref_of, 1000);
  EXPECT_EQ(hold_of(m.a).stats().live, 0u);
}

// Threads allocating every size (class objects, and large ones now and then) through
// both mappings at once, freeing each other's objects through the other mapping.
TEST_F(RelativeSizeClasses, ThreadsOnTwoMappingsFreeEachOthersObjects) {
  const int failures = testing::storm_on_two_mappings(
      m, ref_of,
      [](unsigned x) {
        return (x >> 20) % 64 == 0 ? 40000 + (x >> 8) % 60000 : std::size_t(1) + (x >> 20) % 3000;
      },
      64, false);
  EXPECT_EQ(failures, 0);
  EXPECT_EQ(hold_of(m.b).stats().live, 0u);
  EXPECT_EQ(hold_of(m.a).stats().bytes_in_use, 0u);
  hold_of(m.a).trim();
  EXPECT_EQ(units_of(m.a).stats().live, 0u) << "every hunk and kept block back in the Slab";
}

// The Slab drawn dry through both mappings (class objects and large ones): the
// exhaustion is recoverable, and after the frees and a trim every unit is back.
TEST_F(RelativeSizeClasses, TheSlabDrawnDryThroughBothMappingsComesBackWhole) {
  std::vector<Block> in_a;  // as addresses of a
  for (int i = 0;; ++i) {
    const std::size_t size = i % 5 == 0 ? 120000 : 2000;
    const HoldRef h = ref_of(i % 2 == 0 ? m.a : m.b);
    const Result<Block> r = h.try_allocate(Layout{size, 16});
    if (!r) {
      EXPECT_EQ(r.error(), Error::out_of_memory);
      break;
    }
    in_a.push_back(Block{i % 2 == 0 ? r->ptr : m.in_a(r->ptr), size});
    std::memset(in_a.back().ptr, i & 0xFF, size);
    ASSERT_LT(in_a.size(), 100000u);
  }
  EXPECT_EQ(units_of(m.b).stats().live, units_of(m.a).block_count()) << "every unit in use";
  for (std::size_t i = 0; i < in_a.size(); ++i) {
    const auto* bytes = static_cast<const unsigned char*>(m.in_b(in_a[i].ptr));
    ASSERT_EQ(bytes[in_a[i].size - 1], i & 0xFF) << i;
  }
  for (std::size_t i = 0; i < in_a.size(); ++i) {
    const Block b = i % 2 == 0 ? in_a[i] : Block{m.in_b(in_a[i].ptr), in_a[i].size};
    ASSERT_EQ((i % 2 == 0 ? hold_of(m.a) : hold_of(m.b)).try_deallocate(b), Error::none) << i;
  }
  EXPECT_EQ(hold_of(m.a).stats().live, 0u);
  const Result<Block> again = ref_of(m.b).try_allocate(Layout{120000, 16});
  ASSERT_TRUE(again) << to_string(again.error());
  EXPECT_EQ(hold_deallocate(Block{m.in_a(again->ptr), 120000}), Error::none);
  hold_of(m.b).trim();
  EXPECT_EQ(units_of(m.a).stats().live, 0u);
}

}  // namespace
}  // namespace swim::mem
