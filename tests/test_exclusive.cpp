// The exclusive leases Raw and Ptr with the Box resident, and stow of them.
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "support/list.hpp"
#include "swim/mem.hpp"

namespace swim::mem {
namespace {

alignas(4096) std::byte g_a0[4096];
alignas(4096) std::byte g_a1[4096];

struct Counted {
  static inline int live = 0;
  int v;
  explicit Counted(int x) : v(x) { ++live; }
  Counted(const Counted& o) : v(o.v) { ++live; }
  ~Counted() { --live; }
};

TEST(Raw, IsOneWordAndBehavesLikeAUniquePointer) {
  static_assert(sizeof(Raw<Box<std::size_t>>) == sizeof(void*));
  static_assert(sizeof(Ptr<Box<double, int>>) == sizeof(void*));
  Pack<> pack(Block{g_a0, sizeof g_a0});
  {
    Result<Raw<Box<Counted>>> x = Raw<Box<Counted>>::try_new(HoldRef::of(pack), 5);
    ASSERT_TRUE(x.ok());
    EXPECT_EQ(Counted::live, 1);
    EXPECT_EQ((*x)->v, 5);
    Raw<Box<Counted>> y = x.take();  // moved: x's lease is null now
    EXPECT_FALSE(*x);
    EXPECT_EQ(y->v, 5);
    EXPECT_EQ(y.hold(), HoldRef::of(pack));
    y = Raw<Box<Counted>>{};  // reset by assignment
    EXPECT_EQ(Counted::live, 0);
    EXPECT_EQ(pack.stats().live, 0u);
  }
  EXPECT_EQ(Counted::live, 0);
}

// Two Raw<Box<size_t>> in a Pack: live objects and bytes as they are made and dropped.
TEST(Raw, CrateBoxScenario) {
  Pack<> pack(Block{g_a0, sizeof g_a0});
  {
    auto x = Raw<Box<std::size_t>>::try_new(HoldRef::of(pack), std::size_t{5});
    EXPECT_EQ(pack.stats().live, 1u);
    EXPECT_EQ(pack.stats().bytes_in_use, 8u);
    EXPECT_EQ(pack.stats().bytes_free, 4080u);
    {
      auto y = Raw<Box<std::size_t>>::try_new(HoldRef::of(pack), std::size_t{9});
      EXPECT_EQ(pack.stats().live, 2u);
      EXPECT_EQ(pack.stats().bytes_in_use, 16u);
      EXPECT_EQ(pack.stats().bytes_free, 4064u);
    }
    EXPECT_EQ(pack.stats().live, 1u);
    EXPECT_EQ(pack.stats().bytes_free, 4080u);
    EXPECT_EQ(**x, 5u);
  }
  EXPECT_EQ(pack.stats().live, 0u);
  EXPECT_EQ(pack.stats().bytes_free, 4096u);
}

TEST(Ptr, KeepsUserMetadataInTheObject) {
  Pack<> pack(Block{g_a0, sizeof g_a0});
  auto p = Ptr<Box<double, int>>::try_new_with_meta(HoldRef::of(pack), 42, 2.5);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(**p, 2.5);
  EXPECT_EQ(p->metadata(), 42);
  p->metadata() = 7;
  EXPECT_EQ(p->metadata(), 7);
  // [tag 8][int meta, padded to 8][double 8]
  EXPECT_EQ(pack.stats().bytes_in_use, 16u);
  EXPECT_EQ(p->block().size, 16u);
}

struct Four {
  std::uint64_t w[4];
};

TEST(Raw, OutOfMemoryIsAnErrorAndChangesNothing) {
  Pack<> pack(Block{g_a0, 64});
  auto a = Raw<Box<Four>>::try_new(HoldRef::of(pack));
  ASSERT_TRUE(a.ok());
  const Stats before = pack.stats();
  auto b = Raw<Box<Four>>::try_new(HoldRef::of(pack));
  EXPECT_EQ(b.error(), Error::out_of_memory);
  EXPECT_EQ(pack.stats().live, before.live);
  EXPECT_EQ(pack.stats().bytes_free, before.bytes_free);
}

// Stow of Raw<Box<size_t>>s between two Packs, from the inner (P1) into the outer
// (P0): each source is consumed, its bytes come back to P1, the values arrive in P0.
TEST(Stow, CrateRawBoxScenario) {
  Pack<> p0(Block{g_a0, sizeof g_a0});
  Pack<> p1(Block{g_a1, sizeof g_a1});
  {
    auto x1 = Raw<Box<std::size_t>>::try_new(HoldRef::of(p1), std::size_t{5});
    auto y1 = Raw<Box<std::size_t>>::try_new(HoldRef::of(p1), std::size_t{9});
    Result<Raw<Box<std::size_t>>> y0 = try_stow(*y1, HoldRef::of(p0));
    ASSERT_TRUE(y0.ok());
    EXPECT_FALSE(*y1) << "the source is consumed";
    EXPECT_EQ(p0.stats().live, 1u);
    EXPECT_EQ(p0.stats().bytes_in_use, 8u);
    EXPECT_EQ(p1.stats().live, 1u);
    EXPECT_EQ(p1.stats().bytes_free, 4080u) << "y1 was the top of P1";
    EXPECT_EQ(**x1, 5u);
    EXPECT_EQ(**y0, 9u);
    Result<Raw<Box<std::size_t>>> x0 = try_stow(*x1, HoldRef::of(p0));
    ASSERT_TRUE(x0.ok());
    EXPECT_EQ(p0.stats().live, 2u);
    EXPECT_EQ(p0.stats().bytes_in_use, 16u);
    EXPECT_EQ(p1.stats().live, 0u);
    EXPECT_EQ(p1.stats().bytes_free, 4096u);
    EXPECT_EQ(**x0, 5u);
  }
  EXPECT_EQ(p0.stats().live, 0u);
}

}  // namespace
}  // namespace swim::mem

namespace swim::mem {
namespace {

using testing::free_list;
using testing::make_list;
using testing::Node;

int walk(const Raw<Box<Node>>& head) {
  const std::vector<std::uint64_t> v = testing::values(head);
  for (std::size_t i = 0; i < v.size(); ++i) EXPECT_EQ(v[i], i + 1);
  return static_cast<int>(v.size());
}

TEST(Stow, ARecursiveStructureMovesWholeAndTheSourceHoldEmpties) {
  std::vector<std::byte> scratch_mem(64 * 1024), home_mem(64 * 1024);
  Pack<> scratch(Block{scratch_mem.data(), scratch_mem.size()});
  Pack<> home(Block{home_mem.data(), home_mem.size()});
  Raw<Box<Node>> list = make_list(HoldRef::of(scratch), 100);
  EXPECT_EQ(scratch.stats().live, 100u);
  Result<Raw<Box<Node>>> moved = try_stow(list, HoldRef::of(home));
  ASSERT_TRUE(moved.ok());
  EXPECT_EQ(walk(*moved), 100);
  EXPECT_EQ(scratch.stats().live, 0u);
  EXPECT_EQ(scratch.stats().bytes_free, scratch.capacity()) << "the scratch Pack reset";
  EXPECT_EQ(home.stats().live, 100u);
  free_list(*moved);
  EXPECT_EQ(home.stats().live, 0u);
}

// Fault injection: a target that runs out at its N-th allocation, for every N along
// the stow of a 1000-node list. Each time: source intact, target empty.
TEST(Stow, IsTransactionalAtEveryFailurePoint) {
  constexpr int nodes = 1000;
  constexpr std::size_t per_node = 8 + sizeof(Node);  // tag + node, both multiples of 8
  std::vector<std::byte> src_mem(nodes * per_node + 64);
  std::vector<std::byte> dst_mem(nodes * per_node + 64);
  Pack<> source(Block{src_mem.data(), src_mem.size()});
  Raw<Box<Node>> list = make_list(HoldRef::of(source), nodes);
  for (int n = 1; n <= nodes; ++n) {
    // Room for n - 1 nodes and almost one more: the n-th allocation fails.
    Pack<> target(Block{dst_mem.data(), n * per_node - 8});
    Result<Raw<Box<Node>>> r = try_stow(list, HoldRef::of(target));
    ASSERT_FALSE(r.ok()) << "n = " << n;
    ASSERT_EQ(r.error(), Error::out_of_memory);
    ASSERT_EQ(target.stats().live, 0u) << "n = " << n;
    ASSERT_EQ(source.stats().live, static_cast<std::size_t>(nodes));
    ASSERT_EQ(walk(list), nodes) << "n = " << n;
  }
  Pack<> target(Block{dst_mem.data(), dst_mem.size()});
  Result<Raw<Box<Node>>> r = try_stow(list, HoldRef::of(target));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(walk(*r), nodes);
  EXPECT_EQ(source.stats().live, 0u);
  free_list(*r);
}

TEST(Stow, PtrWithMetadataKeepsItsMetadata) {
  Pack<> p0(Block{g_a0, sizeof g_a0});
  Pack<> p1(Block{g_a1, sizeof g_a1});
  auto p = Ptr<Box<double, int>>::try_new_with_meta(HoldRef::of(p1), 42, 2.5);
  Result<Ptr<Box<double, int>>> q = try_stow(*p, HoldRef::of(p0));
  ASSERT_TRUE(q.ok());
  EXPECT_EQ(**q, 2.5);
  EXPECT_EQ(q->metadata(), 42);
  EXPECT_EQ(p1.stats().live, 0u);
  EXPECT_EQ(p0.stats().live, 1u);
}

}  // namespace
}  // namespace swim::mem
