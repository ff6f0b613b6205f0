// Borrows of the shared leases: poll and bounded try forms, conversions between Mut,
// Ref, Hard and Soft, null leases, failed inits, user metadata, and counter overflow
// (an error, with the status unchanged).
#include <gtest/gtest.h>

#include <cstdint>

#include "support/arc_env.hpp"
#include "swim/mem.hpp"

namespace swim::mem {
namespace {

std::uint64_t& status_word(const auto& lease) {
  return detail::ArcAccess::header(lease)->status.raw;
}

struct Counted {
  static inline int destroyed = 0;
  int v = 0;
  bool alive = true;
  explicit Counted(int x) : v(x) {}
  Counted(const Counted& o) : v(o.v) {}
  ~Counted() {
    alive = false;
    ++destroyed;
  }
};

// ---- Borrow rules ----------------------------------------------------------------------

TEST(ArcBorrow, PollReportsConflictsInsteadOfWaiting) {
  Pack<> p(Block{g_a0, sizeof g_a0});
  {
    Result<HardBox> x = HardBox::try_new(HoldRef::of(p), 5u);
    Result<SoftBox> s = x->to_soft();
    {
      Result<MutBox> m = x->poll_mut();
      ASSERT_TRUE(m.ok());
      const std::uint64_t before = x->status();
      EXPECT_EQ(x->poll_ref().error(), Error::aliased);
      EXPECT_EQ(x->poll_mut().error(), Error::aliased);
      EXPECT_EQ(s->poll_ref().error(), Error::aliased);
      EXPECT_EQ(x->try_ref(16).error(), Error::contended) << "bound used up";
      EXPECT_EQ(x->try_mut(16).error(), Error::contended);
      EXPECT_EQ(x->status(), before) << "failed borrows change nothing";
      // Counting still works beside a Mut.
      Result<HardBox> c = x->try_clone();
      EXPECT_TRUE(c.ok());
    }
    {
      Result<RefBox> r = x->poll_ref();
      Result<RefBox> r2 = s->poll_ref();
      ASSERT_TRUE(r.ok() && r2.ok());
      EXPECT_EQ(x->ref_count(), 2u);
      EXPECT_EQ(x->poll_mut().error(), Error::aliased);
      EXPECT_EQ(s->poll_mut().error(), Error::aliased);
      EXPECT_EQ(r->data(), r2->data());
    }
    EXPECT_EQ(x->status(), S::hard_status_init | S::soft_one);
  }
  expect_empty(p);
}

// A Mut takes a hard reference besides MUT, so the resident cannot be destroyed under
// it (also when it was borrowed through a Soft).
TEST(ArcBorrow, PollMutCountsAHardReference) {
  Pack<> p(Block{g_a0, sizeof g_a0});
  {
    Result<HardBox> x = HardBox::try_new(HoldRef::of(p), 5u);
    {
      Result<MutBox> m = x->poll_mut();
      ASSERT_TRUE(m.ok());
      EXPECT_EQ(x->status(), 2u | S::mut_flag);
    }
    EXPECT_EQ(x->status(), S::hard_status_init);
    {
      Result<SoftBox> s = x->to_soft();
      Result<MutBox> m = s->poll_mut();
      ASSERT_TRUE(m.ok());
      EXPECT_EQ(x->hard_count(), 2u);
    }
    EXPECT_EQ(x->status(), S::hard_status_init);
    EXPECT_EQ(read(*x), 5u);
  }
  expect_empty(p);
}

TEST(ArcBorrow, Conversions) {
  Pack<> p(Block{g_a0, sizeof g_a0});
  {
    Result<HardBox> x = HardBox::try_new(HoldRef::of(p), 5u);
    // Mut -> Ref -> Mut (only while the Ref is the only one) -> Hard.
    Result<MutBox> m = x->try_mut();
    RefBox r = std::move(*m).into_ref();
    EXPECT_EQ(x->status(), 2u | S::ref_one);
    Result<RefBox> r2 = r.try_clone();
    ASSERT_TRUE(r2.ok());
    EXPECT_EQ(x->status(), 3u | 2 * S::ref_one);
    EXPECT_EQ(std::move(r).poll_into_mut().error(), Error::aliased);
    EXPECT_TRUE(r) << "a failed conversion leaves the lease";
    r2->reset();
    Result<MutBox> m2 = std::move(r).poll_into_mut();
    ASSERT_TRUE(m2.ok());
    EXPECT_FALSE(r);
    EXPECT_EQ(x->status(), 2u | S::mut_flag);
    // Mut -> Hard and Soft; Ref -> Hard and Soft.
    Result<HardBox> h = m2->to_hard();
    Result<SoftBox> s = m2->to_soft();
    EXPECT_EQ(x->status(), 3u | S::mut_flag | S::soft_one);
    Result<SoftBox> s2 = std::move(*m2).into_soft();
    ASSERT_TRUE(s2.ok());
    EXPECT_EQ(x->status(), 2u | 2 * S::soft_one);
    Result<RefBox> r3 = h->try_ref();
    Result<HardBox> h2 = r3->to_hard();
    Result<SoftBox> s3 = r3->to_soft();
    EXPECT_EQ(x->status(), 4u | S::ref_one | 3 * S::soft_one);
    Result<SoftBox> s4 = std::move(*r3).into_soft();
    EXPECT_EQ(x->status(), 3u | 4 * S::soft_one);
    // Soft -> Hard consuming the Soft; Hard -> Soft consuming the Hard.
    Result<HardBox> h3 = std::move(*s4).try_into_hard();
    ASSERT_TRUE(h3.ok());
    EXPECT_FALSE(*s4);
    EXPECT_EQ(x->status(), 4u | 3 * S::soft_one);
    Result<SoftBox> s5 = std::move(*h3).into_soft();
    EXPECT_EQ(x->status(), 3u | 4 * S::soft_one);
    EXPECT_EQ(read(*s5), 5u);
  }
  expect_empty(p);
}

TEST(ArcBorrow, SoftKeepsTheBlockNotTheResident) {
  Pack<> p(Block{g_a0, sizeof g_a0});
  Counted::destroyed = 0;
  {
    Result<Hard<Box<Counted>>> x = Hard<Box<Counted>>::try_new(HoldRef::of(p), 7);
    Result<Soft<Box<Counted>>> s = x->to_soft();
    Result<Soft<Box<Counted>>> s2 = s->try_clone();
    ASSERT_TRUE(s2.ok());
    {
      Result<Ref<Box<Counted>>> r = s->poll_ref();
      ASSERT_TRUE(r.ok());
      EXPECT_EQ((*r)->v, 7);
      EXPECT_TRUE((*r)->alive);
    }
    x->reset();  // the last hard reference, softs remain
    EXPECT_EQ(Counted::destroyed, 1);
    EXPECT_EQ(p.stats().live, 1u);
    EXPECT_EQ(s->status(), 2 * S::soft_one) << "no keep-alive left behind";
    EXPECT_EQ(s->try_upgrade().error(), Error::cleared);
    EXPECT_EQ(s->poll_mut().error(), Error::cleared);
    EXPECT_EQ(std::move(*s).try_into_hard().error(), Error::cleared);
    s->reset();
    EXPECT_EQ(p.stats().live, 1u);
  }
  EXPECT_EQ(Counted::destroyed, 1);
  expect_empty(p);
}

TEST(ArcBorrow, NullLeasesAreSafe) {
  Pack<> p(Block{g_a0, sizeof g_a0});
  HardBox empty;
  EXPECT_FALSE(empty);
  EXPECT_EQ(empty.poll_ref().error(), Error::cleared);
  EXPECT_EQ(empty.try_clone().error(), Error::cleared);
  EXPECT_EQ(empty.refresh(), Error::cleared);
  EXPECT_EQ(SoftBox{}.try_upgrade().error(), Error::cleared);
  empty.reset();
  {
    Result<HardBox> x = HardBox::try_new(HoldRef::of(p), 5u);
    HardBox a = x.take();
    EXPECT_FALSE(*x);
    HardBox b = std::move(a);
    EXPECT_FALSE(a);
    EXPECT_EQ(a.status(), 0u);
    a = std::move(b);
    HardBox& same = a;  // (through a reference: clang warns of a literal self-move)
    a = std::move(same);  // self-move keeps it
    EXPECT_TRUE(a);
    EXPECT_EQ(read(a), 5u);
  }
  expect_empty(p);
}

TEST(ArcBorrow, AFailedInitFreesTheObject) {
  Pack<> p(Block{g_a0, sizeof g_a0});
  Result<HardBox> x = HardBox::try_make(HoldRef::of(p), NoMeta{}, [](std::size_t*, NoMeta&) {
    return Error::invalid_argument;
  });
  EXPECT_EQ(x.error(), Error::invalid_argument);
  expect_empty(p);
  Pack<> tiny(Block{g_a0, 24});  // the object fits, its tag does not
  EXPECT_EQ(HardBox::try_new(HoldRef::of(tiny), 1u).error(), Error::out_of_memory);
  EXPECT_EQ(tiny.stats().live, 0u);
}

TEST(ArcBorrow, UserMetadataLivesInTheHeader) {
  Pack<> p(Block{g_a0, sizeof g_a0});
  {
    auto x = Hard<Box<int, std::uint64_t>>::try_new_with_meta(HoldRef::of(p), 42u, 3);
    ASSERT_TRUE(x.ok());
    EXPECT_EQ(x->metadata(), 42u);
    EXPECT_EQ(p.stats().bytes_in_use, 32u);  // 16 + 8 meta + 4 int, rounded up
    auto r = x->poll_ref();
    EXPECT_EQ(**r, 3);
    EXPECT_EQ(r->metadata(), 42u);
  }
  expect_empty(p);
}

// ---- Counter overflow: an error, and the status is unchanged ----------------------------

TEST(ArcOverflow, HardCount) {
  Pack<> p(Block{g_a0, sizeof g_a0});
  {
    Result<HardBox> x = HardBox::try_new(HoldRef::of(p), 5u);
    Result<SoftBox> s = x->to_soft();
    std::uint64_t& word = status_word(*x);
    const std::uint64_t real = word;
    const std::uint64_t forged = S::hard_count_max | S::soft_one;
    word = forged;
    EXPECT_EQ(x->try_clone().error(), Error::hard_count_overflow);
    EXPECT_EQ(x->poll_ref().error(), Error::hard_count_overflow);
    EXPECT_EQ(x->try_ref().error(), Error::hard_count_overflow);
    EXPECT_EQ(x->poll_mut().error(), Error::hard_count_overflow);
    EXPECT_EQ(s->try_upgrade().error(), Error::hard_count_overflow);
    EXPECT_EQ(std::move(*s).try_into_hard().error(), Error::hard_count_overflow);
    EXPECT_EQ(word, forged);
    EXPECT_TRUE(*x);
    EXPECT_TRUE(*s);
    // One below the maximum: one more fits, then no more.
    word = (S::hard_count_max - 1) | S::soft_one;
    Result<HardBox> last = x->try_clone();
    ASSERT_TRUE(last.ok());
    EXPECT_EQ(word, S::hard_count_max | S::soft_one);
    EXPECT_EQ(x->try_clone().error(), Error::hard_count_overflow);
    word = real + 1;  // back to the truth (with `last`)
  }
  expect_empty(p);
}

TEST(ArcOverflow, SoftCount) {
  Pack<> p(Block{g_a0, sizeof g_a0});
  {
    Result<HardBox> x = HardBox::try_new(HoldRef::of(p), 5u);
    Result<SoftBox> s = x->to_soft();
    Result<RefBox> r = x->try_ref();
    std::uint64_t& word = status_word(*x);
    const std::uint64_t real = word;
    const std::uint64_t forged = (real & ~S::soft_mask) | S::soft_mask;
    word = forged;
    EXPECT_EQ(x->to_soft().error(), Error::soft_count_overflow);
    EXPECT_EQ(s->try_clone().error(), Error::soft_count_overflow);
    EXPECT_EQ(r->to_soft().error(), Error::soft_count_overflow);
    EXPECT_EQ(std::move(*x).into_soft().error(), Error::soft_count_overflow);
    EXPECT_EQ(std::move(*r).into_soft().error(), Error::soft_count_overflow);
    EXPECT_EQ(word, forged);
    EXPECT_TRUE(*x);
    EXPECT_TRUE(*r);
    word = real;
  }
  expect_empty(p);
}

TEST(ArcOverflow, RefCount) {
  Pack<> p(Block{g_a0, sizeof g_a0});
  {
    Result<HardBox> x = HardBox::try_new(HoldRef::of(p), 5u);
    Result<HardBox> y = x->try_clone();
    Result<RefBox> r = x->try_ref();
    std::uint64_t& word = status_word(*x);
    const std::uint64_t real = word;
    const std::uint64_t forged = (real & ~S::ref_mask) | S::ref_mask;
    word = forged;
    EXPECT_EQ(x->poll_ref().error(), Error::ref_count_overflow);
    EXPECT_EQ(x->try_ref().error(), Error::ref_count_overflow);
    EXPECT_EQ(r->try_clone().error(), Error::ref_count_overflow);
    EXPECT_EQ(std::move(*y).try_into_ref().error(), Error::ref_count_overflow);
    EXPECT_EQ(word, forged);
    EXPECT_TRUE(*y);
    word = real;
  }
  expect_empty(p);
}

}  // namespace
}  // namespace swim::mem
