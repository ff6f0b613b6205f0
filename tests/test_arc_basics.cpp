// The shared leases Mut, Ref, Hard and Soft over Box: the one-word handles, the
// two-word header and the status masks, and a HardBox's life cycle with its
// counts and bytes at each step (new, to and into Soft, Ref and Mut, stow into
// another hold).
#include <gtest/gtest.h>

#include "support/arc_env.hpp"
#include "swim/mem.hpp"

namespace swim::mem {
namespace {

TEST(Arc, HandleIsOneWordAndHeaderTwo) {
  EXPECT_EQ(sizeof(HardBox), sizeof(void*));
  EXPECT_EQ(sizeof(SoftBox), sizeof(void*));
  EXPECT_EQ(sizeof(RefBox), sizeof(void*));
  EXPECT_EQ(sizeof(MutBox), sizeof(void*));
  EXPECT_EQ(sizeof(ArcHeader<NoMeta>), 16u);
  // The status word's layout (hard 0-23, soft 24-47, ref 48-61, MUT 62, RELOCATED 63),
  // its masks and initial values.
  EXPECT_EQ(S::hard_mask, 0x0000'0000'00FF'FFFFull);
  EXPECT_EQ(S::soft_mask, 0x0000'FFFF'FF00'0000ull);
  EXPECT_EQ(S::ref_mask, 0x3FFF'0000'0000'0000ull);
  EXPECT_EQ(S::mut_flag, 0x4000'0000'0000'0000ull);
  EXPECT_EQ(S::relocated_flag, 0x8000'0000'0000'0000ull);
  EXPECT_EQ(S::aliased_mask, 0x7FFF'0000'0000'0000ull);
  EXPECT_EQ(S::referenced_mask, 0x7FFF'FFFF'FFFF'FFFFull);
  EXPECT_EQ(S::read_locked_mask, 0xFFFF'0000'0000'0000ull);
  EXPECT_EQ(S::write_locked_mask, 0xC000'0000'0000'0000ull);
  EXPECT_EQ(S::unique_status, 1u);
  EXPECT_EQ(S::ref_status_init, 1u | (1ull << 48));
  EXPECT_EQ(S::mut_status_init, 1u | S::mut_flag);
}

// ---- A HardBox's life cycle: counts, status and bytes at each step --------------------

TEST(CrateHardBox, HoldNew) {
  Pack<> p(Block{g_a0, sizeof g_a0});
  {
    Result<HardBox> x = HardBox::try_new(HoldRef::of(p), 5u);
    ASSERT_TRUE(x.ok());
    EXPECT_EQ(p.stats().bytes_in_use, 24u);
    EXPECT_EQ(p.stats().bytes_free, 4064u);
    EXPECT_EQ(x->hard_count(), 1u);
    EXPECT_EQ(x->soft_count(), 0u);
    EXPECT_EQ(x->ref_count(), 0u);
    EXPECT_FALSE(x->is_mut());
    EXPECT_FALSE(x->is_relocated());
    EXPECT_FALSE(x->is_aliased());
    EXPECT_EQ(x->status(), S::hard_status_init);
    EXPECT_EQ(read(*x), 5u);
  }
  expect_empty(p);
}

TEST(CrateHardBox, ToSoft) {
  Pack<> p(Block{g_a0, sizeof g_a0});
  {
    Result<HardBox> x = HardBox::try_new(HoldRef::of(p), 5u);
    EXPECT_EQ(p.stats().bytes_in_use, 24u);
    EXPECT_EQ(p.stats().bytes_free, 4064u);
    Result<SoftBox> y = x->to_soft();
    ASSERT_TRUE(y.ok());
    EXPECT_EQ(x->hard_count(), 1u);
    EXPECT_EQ(x->soft_count(), 1u);
    EXPECT_EQ(y->hard_count(), 1u);
    EXPECT_EQ(y->soft_count(), 1u);
    EXPECT_EQ(x->data(), y->data());
    Result<HardBox> z = y->try_upgrade();
    ASSERT_TRUE(z.ok());
    x->reset();
    y->reset();
    EXPECT_EQ(z->hard_count(), 1u);
    EXPECT_EQ(z->soft_count(), 0u);
    EXPECT_EQ(read(*z), 5u);
  }
  expect_empty(p);
}

TEST(CrateHardBox, IntoSoft) {
  Pack<> p(Block{g_a0, sizeof g_a0});
  {
    Result<HardBox> x = HardBox::try_new(HoldRef::of(p), 5u);
    EXPECT_EQ(p.stats().bytes_in_use, 24u);
    EXPECT_EQ(p.stats().bytes_free, 4064u);
    Result<SoftBox> y = std::move(*x).into_soft();
    ASSERT_TRUE(y.ok());
    EXPECT_FALSE(*x) << "consumed";
    EXPECT_EQ(y->hard_count(), 0u);
    EXPECT_EQ(y->soft_count(), 1u);
    EXPECT_EQ(y->try_upgrade().error(), Error::cleared);
    EXPECT_EQ(y->poll_ref().error(), Error::cleared);
    EXPECT_EQ(p.stats().bytes_in_use, 24u) << "the Soft keeps the block";
    EXPECT_EQ(p.stats().live, 1u);
  }
  expect_empty(p);
}

TEST(CrateHardBox, ToRef) {
  Pack<> p(Block{g_a0, sizeof g_a0});
  {
    Result<HardBox> x = HardBox::try_new(HoldRef::of(p), 5u);
    EXPECT_EQ(p.stats().bytes_in_use, 24u);
    Result<RefBox> y = x->try_ref();
    ASSERT_TRUE(y.ok());
    EXPECT_EQ(x->hard_count(), 2u);
    EXPECT_EQ(x->ref_count(), 1u);
    EXPECT_TRUE(x->is_aliased());
    EXPECT_EQ(**y, 5u);
    y->reset();
    EXPECT_EQ(x->hard_count(), 1u);
    EXPECT_FALSE(x->is_aliased());
  }
  expect_empty(p);
}

TEST(CrateHardBox, IntoRef) {
  Pack<> p(Block{g_a0, sizeof g_a0});
  {
    Result<HardBox> x = HardBox::try_new(HoldRef::of(p), 5u);
    EXPECT_EQ(p.stats().bytes_in_use, 24u);
    Result<RefBox> y = std::move(*x).try_into_ref();
    ASSERT_TRUE(y.ok());
    EXPECT_FALSE(*x);
    EXPECT_EQ(y->hard_count(), 1u);
    EXPECT_EQ(y->ref_count(), 1u);
    EXPECT_EQ(**y, 5u);
    HardBox z = std::move(*y).into_hard();
    EXPECT_EQ(z.hard_count(), 1u);
    EXPECT_EQ(z.ref_count(), 0u);
  }
  expect_empty(p);
}

TEST(CrateHardBox, ToMut) {
  Pack<> p(Block{g_a0, sizeof g_a0});
  {
    Result<HardBox> x = HardBox::try_new(HoldRef::of(p), 5u);
    EXPECT_EQ(p.stats().bytes_in_use, 24u);
    Result<MutBox> y = x->try_mut();
    ASSERT_TRUE(y.ok());
    EXPECT_EQ(x->hard_count(), 2u);
    EXPECT_TRUE(x->is_mut());
    EXPECT_TRUE(x->is_aliased());
    **y = 9;
    y->reset();
    EXPECT_EQ(x->hard_count(), 1u);
    EXPECT_FALSE(x->is_mut());
    EXPECT_EQ(read(*x), 9u);
  }
  expect_empty(p);
}

TEST(CrateHardBox, IntoMut) {
  Pack<> p(Block{g_a0, sizeof g_a0});
  {
    Result<HardBox> x = HardBox::try_new(HoldRef::of(p), 5u);
    EXPECT_EQ(p.stats().bytes_in_use, 24u);
    Result<MutBox> y = std::move(*x).try_into_mut();
    ASSERT_TRUE(y.ok());
    EXPECT_EQ(y->hard_count(), 1u);
    EXPECT_EQ(y->status(), S::mut_status_init);
    **y = 9;
    HardBox z = std::move(*y).into_hard();
    EXPECT_EQ(z.hard_count(), 1u);
    EXPECT_FALSE(z.is_mut());
    EXPECT_EQ(read(z), 9u);
  }
  expect_empty(p);
}

TEST(CrateHardBox, StowInto) {
  Pack<> p0(Block{g_a0, sizeof g_a0});
  Pack<> p1(Block{g_a1, sizeof g_a1});
  {
    Result<HardBox> x = HardBox::try_new(HoldRef::of(p0), 5u);
    EXPECT_EQ(p0.stats().bytes_in_use, 24u);
    EXPECT_EQ(p0.stats().bytes_free, 4064u);
    Result<HardBox> y = x->try_clone();
    ASSERT_TRUE(y.ok());
    EXPECT_EQ(x->hard_count(), 2u);

    Result<HardBox> x1 = try_stow(*x, HoldRef::of(p1));
    ASSERT_TRUE(x1.ok());
    EXPECT_FALSE(*x);
    EXPECT_EQ(p0.stats().live, 1u) << "the old arc stays as a stub";
    EXPECT_EQ(p0.stats().bytes_in_use, 24u);
    EXPECT_EQ(p1.stats().live, 1u);
    EXPECT_EQ(p1.stats().bytes_in_use, 24u);
    EXPECT_EQ(x1->hard_count(), 2u) << "its own plus the stub's forward";
    EXPECT_FALSE(x1->is_relocated());
    EXPECT_EQ(y->hard_count(), 1u);
    EXPECT_TRUE(y->is_relocated());
    EXPECT_NE(x1->data(), y->data());
    EXPECT_EQ(read(*y), 5u) << "through the forward";

    Result<HardBox> y1 = try_stow(*y, HoldRef::of(p1));
    ASSERT_TRUE(y1.ok());
    expect_empty(p0);
    EXPECT_EQ(p1.stats().live, 1u);
    EXPECT_EQ(p1.stats().bytes_in_use, 24u);
    EXPECT_EQ(x1->data(), y1->data()) << "sharing is preserved";
    EXPECT_EQ(y1->hard_count(), 2u);
    EXPECT_EQ(read(*y1), 5u);
  }
  expect_empty(p0);
  expect_empty(p1);
}

}  // namespace
}  // namespace swim::mem
