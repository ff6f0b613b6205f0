// Stow of structures holding shared leases: shared Hards stay one object (a DAG), a
// Soft relocates its arc holding only a Soft, and cycles through Softs close in the
// target, also through an older stub.
#include <gtest/gtest.h>

#include "support/arc_env.hpp"
#include "swim/mem.hpp"

namespace swim::mem {
namespace {

// ---- Stow of structures: DAGs, Softs, cycles -------------------------------------------

struct Pair {
  Hard<Box<std::size_t>> a, b;
};

struct NodeB;
struct NodeA {
  int v = 0;
  Hard<Box<NodeB>> b;
};
struct NodeB {
  int v = 0;
  Soft<Box<NodeA>> back;
};

}  // namespace
}  // namespace swim::mem

template <>
struct swim::mem::stow_traits<swim::mem::Pair>
    : swim::mem::stow_members<swim::mem::Pair, &swim::mem::Pair::a, &swim::mem::Pair::b> {};
template <>
struct swim::mem::stow_traits<swim::mem::NodeA>
    : swim::mem::stow_members<swim::mem::NodeA, &swim::mem::NodeA::v, &swim::mem::NodeA::b> {};
template <>
struct swim::mem::stow_traits<swim::mem::NodeB>
    : swim::mem::stow_members<swim::mem::NodeB, &swim::mem::NodeB::v,
                              &swim::mem::NodeB::back> {};

namespace swim::mem {
namespace {

TEST(ArcStow, SharedHardsEndUpAsOneObject) {
  Pack<> p0(Block{g_a0, sizeof g_a0});
  Pack<> p1(Block{g_a1, sizeof g_a1});
  {
    Result<HardBox> x = HardBox::try_new(HoldRef::of(p0), 5u);
    Result<Raw<Box<Pair>>> pair =
        Raw<Box<Pair>>::try_new(HoldRef::of(p0), Pair{x->try_clone().take(), x->try_clone().take()});
    x->reset();
    EXPECT_EQ((*pair)->a.hard_count(), 2u);
    Result<Raw<Box<Pair>>> moved = try_stow(*pair, HoldRef::of(p1));
    ASSERT_TRUE(moved.ok());
    expect_empty(p0);
    EXPECT_EQ(p1.stats().live, 2u) << "the pair and one shared object";
    EXPECT_EQ((*moved)->a.data(), (*moved)->b.data());
    EXPECT_EQ((*moved)->a.hard_count(), 2u);
    EXPECT_EQ(read((*moved)->b), 5u);
  }
  expect_empty(p1);
  {
    // try_stow_all of two Hards of one arc: one object too.
    Result<HardBox> h1 = HardBox::try_new(HoldRef::of(p0), 8u);
    Result<HardBox> h2 = h1->try_clone();
    ASSERT_EQ(try_stow_all(HoldRef::of(p1), *h1, *h2), Error::none);
    expect_empty(p0);
    EXPECT_EQ(p1.stats().live, 1u);
    EXPECT_EQ(h1->data(), h2->data());
    EXPECT_EQ(h1->hard_count(), 2u);
  }
  expect_empty(p1);
}

TEST(ArcStow, ASoftRelocatesItsArcHoldingOnlyASoft) {
  Pack<> p0(Block{g_a0, sizeof g_a0});
  Pack<> p1(Block{g_a1, sizeof g_a1});
  {
    Result<HardBox> x = HardBox::try_new(HoldRef::of(p0), 5u);
    Result<Raw<Box<Watch>>> w =
        Raw<Box<Watch>>::try_new(HoldRef::of(p0), Watch{x->to_soft().take()});
    Result<Raw<Box<Watch>>> moved = try_stow(*w, HoldRef::of(p1));
    ASSERT_TRUE(moved.ok());
    const SoftBox& s = (*moved)->s;
    EXPECT_TRUE(x->is_relocated());
    EXPECT_EQ(s.hard_count(), 1u) << "only the forward";
    EXPECT_EQ(s.soft_count(), 1u);
    EXPECT_EQ(read(s), 5u);
    EXPECT_EQ(x->refresh(), Error::none);
    EXPECT_EQ(x->data(), s.data());
    expect_empty(p0);
    EXPECT_EQ(s.status(), 1u | S::soft_one);
    x->reset();
    EXPECT_EQ(s.try_upgrade().error(), Error::cleared);
  }
  expect_empty(p0);
  expect_empty(p1);
  {
    // A Soft whose resident is gone stows to a null Soft.
    Result<HardBox> x = HardBox::try_new(HoldRef::of(p0), 5u);
    Result<Raw<Box<Watch>>> w =
        Raw<Box<Watch>>::try_new(HoldRef::of(p0), Watch{x->to_soft().take()});
    x->reset();
    Result<Raw<Box<Watch>>> moved = try_stow(*w, HoldRef::of(p1));
    ASSERT_TRUE(moved.ok());
    EXPECT_FALSE((*moved)->s);
    expect_empty(p0);
    EXPECT_EQ(p1.stats().live, 1u);
  }
  expect_empty(p1);
}

TEST(ArcStow, ACycleThroughSoftsBecomesACycleInTheTarget) {
  Pack<> p0(Block{g_a0, sizeof g_a0});
  Pack<> p1(Block{g_a1, sizeof g_a1});
  using HardA = Hard<Box<NodeA>>;
  using HardB = Hard<Box<NodeB>>;
  {
    Result<HardA> a = HardA::try_new(HoldRef::of(p0), NodeA{1, {}});
    Result<HardB> b = HardB::try_new(HoldRef::of(p0), NodeB{2, a->to_soft().take()});
    {
      Result<Mut<Box<NodeA>>> m = a->poll_mut();
      ASSERT_TRUE(m.ok());
      (*m)->b = b.take();
    }
    Result<HardA> a1 = try_stow(*a, HoldRef::of(p1));
    ASSERT_TRUE(a1.ok());
    expect_empty(p0);
    EXPECT_EQ(p1.stats().live, 2u);
    Result<Ref<Box<NodeA>>> ra = a1->poll_ref();
    ASSERT_TRUE(ra.ok());
    EXPECT_EQ((*ra)->v, 1);
    Result<Ref<Box<NodeB>>> rb = (*ra)->b.poll_ref();
    ASSERT_TRUE(rb.ok());
    EXPECT_EQ((*rb)->v, 2);
    EXPECT_EQ((*rb)->back.data(), a1->data()) << "the cycle closes in the target";
    EXPECT_EQ(a1->hard_count(), 2u) << "a1 and the Ref";
    EXPECT_EQ(a1->soft_count(), 1u) << "B's back";
    EXPECT_EQ((*ra)->b.hard_count(), 2u) << "the Hard in A and the Ref";
  }
  expect_empty(p0);
  expect_empty(p1);
}

// A Soft to an older stub, met while this thread relocates the arc it forwards to,
// lands on the new arc too (not on the stub in between).
TEST(ArcStow, ACycleThroughAnOlderStubClosesOnTheNewArc) {
  Pack<> p0(Block{g_a0, sizeof g_a0});
  Pack<> p1(Block{g_a1, sizeof g_a1});
  Pack<> p2(Block{g_a2, sizeof g_a2});
  using HardA = Hard<Box<NodeA>>;
  using HardB = Hard<Box<NodeB>>;
  {
    Result<HardA> a = HardA::try_new(HoldRef::of(p0), NodeA{1, {}});
    HardA keep = a->try_clone().take();  // keeps the first arc as a live stub
    Result<HardA> a1 = try_stow(*a, HoldRef::of(p1));
    ASSERT_TRUE(a1.ok());
    ASSERT_TRUE(keep.is_relocated());
    {
      Result<Mut<Box<NodeA>>> m = a1->poll_mut();
      ASSERT_TRUE(m.ok());
      (*m)->b = HardB::try_new(HoldRef::of(p1), NodeB{2, keep.to_soft().take()}).take();
    }
    Result<HardA> a2 = try_stow(*a1, HoldRef::of(p2));
    ASSERT_TRUE(a2.ok());
    Result<Ref<Box<NodeA>>> ra = a2->poll_ref();
    Result<Ref<Box<NodeB>>> rb = (*ra)->b.poll_ref();
    ASSERT_TRUE(rb.ok());
    EXPECT_EQ((*rb)->back.data(), a2->data());
    EXPECT_EQ(p2.stats().live, 2u);
  }
  expect_empty(p0);
  expect_empty(p1);
  expect_empty(p2);
}

}  // namespace
}  // namespace swim::mem
