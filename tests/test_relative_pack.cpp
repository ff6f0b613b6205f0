// A Pack with relative tags and region (Pack<concurrent, relative_address>) placed
// in one memfd mapped twice at different addresses, with leases whose addresses are
// relative (Raw<..., relative_address>) placed there too: a structure built through
// one mapping is read, grown, relocated (stowed), and freed through the other, by a
// forked child through a third mapping, and by threads of both at once. What an MPI
// shared window needs for leases and residents (integrations/mpi/node_pack.hpp),
// proved without MPI.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <cstring>
#include <new>
#include <string>
#include <thread>
#include <vector>

#include "support/relative_structure.hpp"
#include "support/two_mappings.hpp"
#include "swim/mem.hpp"

namespace swim::mem {
namespace {

using testing::RNode;
using testing::RRaw;
using testing::Shared;
using testing::TwoMappings;
using testing::checked_count;
using testing::tree_of;
using testing::within;
using RPack = Pack<concurrent, relative_address>;

constexpr std::size_t shared_room = 256;
constexpr std::size_t pack_room = detail::round64(sizeof(RPack));
constexpr std::size_t region_at = shared_room + pack_room;
constexpr std::size_t scratch = 4096;  // the end of the file: the tests' own notes

// Through mapping `base`: the Shared structure and the Pack.
Shared& shared_at(std::byte* base) { return *reinterpret_cast<Shared*>(base); }
RPack& pack_at(std::byte* base) { return *reinterpret_cast<RPack*>(base + shared_room); }

// Make both, once, through one mapping.
void place(std::byte* base) {
  new (base) Shared{};
  new (base + shared_room) RPack(Block{base + region_at, TwoMappings::bytes - region_at - scratch});
}

TEST(RelativePack, RelativeTagsNameTheSamePackInEveryMapping) {
  TwoMappings m;
  ASSERT_TRUE(m.ok());
  place(m.a);
  RPack& pa = pack_at(m.a);
  RPack& pb = pack_at(m.b);
  const Result<Block> x = HoldRef::of(pa).try_allocate(Layout{40, 8});
  ASSERT_TRUE(x);
  void* xb = m.in_b(x->ptr);
  EXPECT_EQ(HoldRef::owner_of(x->ptr), HoldRef::of(pa));
  EXPECT_EQ(HoldRef::owner_of(xb), HoldRef::of(pb)) << "through b, b's own address of the Pack";
  EXPECT_EQ(detail::peek_tag(x->ptr), detail::peek_tag(xb)) << "one tag, valid in both";
  // Any mapping frees, through the tag or its own HoldRef; the other's address of the
  // object is foreign to it; a second free is a double free through either.
  EXPECT_EQ(HoldRef::of(pa).try_deallocate(Block{xb, 40}), Error::foreign_pointer);
  EXPECT_EQ(hold_deallocate(Block{xb, 40}), Error::none);
  EXPECT_EQ(HoldRef::of(pa).try_deallocate(*x), Error::double_free);
  EXPECT_EQ(hold_deallocate(*x), Error::double_free);
  EXPECT_EQ(pa.stats().live, 0u);
  // Zero-size objects and in-place resizes, across mappings.
  const Result<Block> z = HoldRef::of(pb).try_allocate(Layout{0, 8});
  ASSERT_TRUE(z);
  EXPECT_TRUE(within(z->ptr, m.b));
  EXPECT_EQ(pa.stats().live, 1u);
  EXPECT_EQ(hold_deallocate(Block{m.in_a(z->ptr), 0}), Error::none);
  const Result<Block> y = HoldRef::of(pb).try_allocate(Layout{16, 8});
  ASSERT_TRUE(y);
  const Result<Block> grown = hold_resize(Block{m.in_a(y->ptr), 16}, Layout{64, 8});
  ASSERT_TRUE(grown);
  EXPECT_EQ(grown->ptr, m.in_a(y->ptr));
  EXPECT_EQ(hold_deallocate(Block{y->ptr, 64}), Error::none);
  EXPECT_EQ(pb.stats().live, 0u);
  pa.~RPack();
}

TEST(RelativePack, AStructureBuiltThroughOneMappingIsReadGrownRelocatedAndFreedThroughTheOther) {
  TwoMappings m;
  ASSERT_TRUE(m.ok());
  place(m.a);
  testing::expect_built_read_grown_relocated_and_freed(
      m, [](std::byte* c) { return HoldRef::of(pack_at(c)); }, 5000, 500);
  // Everything freed through b: the Pack, seen through a, is empty.
  EXPECT_EQ(pack_at(m.a).stats().live, 0u);
  EXPECT_EQ(pack_at(m.a).stats().bytes_in_use, 0u);
  shared_at(m.a).~Shared();
  pack_at(m.a).~RPack();
}

// Threads allocating through both mappings at once and freeing each other's objects
// through the other mapping (lock-free: one CAS each).
TEST(RelativePack, ThreadsOnTwoMappingsFreeEachOthersObjects) {
  TwoMappings m;
  ASSERT_TRUE(m.ok());
  place(m.a);
  const int failures = testing::storm_on_two_mappings(
      m, [](std::byte* c) { return HoldRef::of(pack_at(c)); },
      [](unsigned x) { return std::size_t(8) + (x >> 20) % 120; }, 32, true);
  EXPECT_EQ(failures, 0);
  EXPECT_EQ(pack_at(m.b).stats().live, 0u);
  pack_at(m.a).~RPack();
}

// A forked child maps the file a third time, grows the Buf and adds to the tree; the
// parent reads what it did.
TEST(RelativePack, AForkedChildGrowsTheStructureTheParentReads) {
  TwoMappings m;
  ASSERT_TRUE(m.ok());
  place(m.a);
  testing::expect_a_forked_child_grows_what_the_parent_reads(
      m, [](std::byte* c) { return HoldRef::of(pack_at(c)); }, 20);
  EXPECT_EQ(pack_at(m.a).stats().live, 0u);
  pack_at(m.a).~RPack();
}

}  // namespace
}  // namespace swim::mem
