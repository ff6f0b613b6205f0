// The shared leases Mut, Ref, Hard and Soft (leases/arc.hpp): the crate's hard box
// tests (memory-model.md §10.9), borrows and conversions, counter overflow,
// relocation and forwarding, stow of DAGs and of cycles through Softs, and fault
// injection at every allocation of stows of 1000-node structures.
#include <gtest/gtest.h>
#include <pthread.h>

#include <cstdint>
#include <functional>
#include <vector>

#include "swim/mem.hpp"

namespace swim::mem {
namespace {

using S = ArcStatus;
using HardBox = Hard<Box<std::size_t>>;
using SoftBox = Soft<Box<std::size_t>>;
using RefBox = Ref<Box<std::size_t>>;
using MutBox = Mut<Box<std::size_t>>;

alignas(4096) std::byte g_a0[4096];
alignas(4096) std::byte g_a1[4096];
alignas(4096) std::byte g_a2[4096];

// Our Pack keeps its control block outside the region: 4096 usable bytes, each
// object costs its size rounded to 8 plus the 8-byte tag. A HardBox<usize> is
// 8 (relocation) + 8 (status) + 8 (payload) = 24 bytes, 32 with the tag.
void expect_empty(const Pack<>& p) {
  EXPECT_EQ(p.stats().live, 0u);
  EXPECT_EQ(p.stats().bytes_in_use, 0u);
  EXPECT_EQ(p.stats().bytes_free, p.capacity());
}

std::uint64_t& status_word(const auto& lease) {
  return detail::ArcAccess::header(lease)->status.raw;
}

template <class L>
std::size_t read(const L& lease) {
  auto r = lease.poll_ref();
  EXPECT_TRUE(r.ok()) << to_string(r.error());
  return r.ok() ? **r : ~std::size_t(0);
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

}  // namespace
}  // namespace swim::mem

namespace swim::mem {
namespace {

TEST(Arc, HandleIsOneWordAndHeaderTwo) {
  EXPECT_EQ(sizeof(HardBox), sizeof(void*));
  EXPECT_EQ(sizeof(SoftBox), sizeof(void*));
  EXPECT_EQ(sizeof(RefBox), sizeof(void*));
  EXPECT_EQ(sizeof(MutBox), sizeof(void*));
  EXPECT_EQ(sizeof(ArcHeader<NoMeta>), 16u);
  // The crate's masks and initial values.
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

// ---- The crate's hard box tests (§10.9) ----------------------------------------------

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

// Crate bug 3: poll_mut set MUT without counting a hard reference.
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
    a = std::move(a);  // self-move keeps it
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

// ---- Counter overflow: an error, and the status is unchanged (§13.4) -------------------

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

// ---- Mut as a dynamic lease: only while unique (crate bug 11) ---------------------------

struct IntsMeta {
  std::size_t cap = 0;
};

// A minimal resident whose layout depends on its metadata, written against the
// resident contract only (as Buf and String are).
struct Ints {
  using value_type = int;
  using meta_type = IntsMeta;
  static Layout layout(const IntsMeta& m) { return Layout{m.cap * sizeof(int), alignof(int)}; }
  static IntsMeta stow_meta(const IntsMeta& m) { return m; }
  static void destroy(int*, IntsMeta&) {}
  static Error stow(const int* src, const IntsMeta& m, int* dst, IntsMeta&, StowContext&) {
    for (std::size_t i = 0; i < m.cap; ++i) dst[i] = src[i];
    return Error::none;
  }
  static void unstow(const int*, const IntsMeta&, int*, IntsMeta&) {}

  template <class L>
  class interface {
   public:
    Error grow(std::size_t cap) {
      L& self = static_cast<L&>(*this);
      const std::size_t old = self.meta().cap;
      const Error e = self.try_regrow(Layout{cap * sizeof(int), alignof(int)}, [&](int* f, int* t) {
        for (std::size_t i = 0; i < old; ++i) t[i] = f[i];
      });
      if (e == Error::none) {
        for (std::size_t i = old; i < cap; ++i) self.data()[i] = static_cast<int>(i);
        self.meta().cap = cap;
      }
      return e;
    }
    bool intact() const {
      const L& self = static_cast<const L&>(*this);
      for (std::size_t i = 0; i < self.meta().cap; ++i) {
        if (self.data()[i] != static_cast<int>(i)) return false;
      }
      return true;
    }
  };
};

Result<Mut<Ints>> make_ints(HoldRef hold, std::size_t n) {
  return Mut<Ints>::try_make(hold, IntsMeta{n}, [n](int* d, IntsMeta&) {
    for (std::size_t i = 0; i < n; ++i) d[i] = static_cast<int>(i);
    return Error::none;
  });
}

TEST(ArcRegrow, InPlaceNewObjectOrRelocation) {
  Pack<> p(Block{g_a0, sizeof g_a0});
  {
    Result<Mut<Ints>> m = make_ints(HoldRef::of(p), 4);
    ASSERT_TRUE(m.ok());
    EXPECT_EQ(m->status(), S::mut_status_init);
    int* const first = m->data();
    ASSERT_EQ(m->grow(8), Error::none);  // on top of the Pack: in place
    EXPECT_EQ(m->data(), first);
    EXPECT_TRUE(m->intact());
    EXPECT_EQ(p.stats().bytes_in_use, sizeof(ArcHeader<IntsMeta>) + 8 * sizeof(int));

    Result<Raw<Box<int>>> blocker = Raw<Box<int>>::try_new(HoldRef::of(p), 1);
    ASSERT_EQ(m->grow(16), Error::none);  // not on top, unique: a new object
    EXPECT_NE(m->data(), first);
    EXPECT_TRUE(m->intact());
    EXPECT_EQ(m->status(), S::mut_status_init);
    EXPECT_EQ(p.stats().live, 2u);

    // Shared, on top: in place (no address changes, the Hard is not affected).
    Result<Hard<Ints>> h = m->to_hard();
    int* const at = m->data();
    ASSERT_EQ(m->grow(32), Error::none);
    EXPECT_EQ(m->data(), at);
    EXPECT_FALSE(h->is_relocated());
    // Shared, not on top: a relocation; the Hard follows the forward.
    Result<Raw<Box<int>>> blocker2 = Raw<Box<int>>::try_new(HoldRef::of(p), 2);
    ASSERT_EQ(m->grow(64), Error::none);
    EXPECT_NE(m->data(), at);
    EXPECT_TRUE(m->intact());
    EXPECT_EQ(m->status(), S::mut_status_init + S::hard_one) << "the Mut and the stub's forward";
    EXPECT_TRUE(h->is_relocated());
    EXPECT_EQ(p.stats().live, 4u) << "blockers, stub, object";
    m->reset();
    {
      Result<Ref<Ints>> r = h->poll_ref();
      ASSERT_TRUE(r.ok());
      EXPECT_EQ(r->meta().cap, 64u);
      EXPECT_TRUE(r->intact());
    }
    EXPECT_EQ(h->refresh(), Error::none);
    EXPECT_EQ(p.stats().live, 3u) << "the stub went";
    Result<Mut<Ints>> again = std::move(*h).try_into_mut();
    ASSERT_TRUE(again.ok());
    EXPECT_EQ(again->status(), S::mut_status_init);
  }
  expect_empty(p);
}

// The other leases can go while the Mut moves its contents (between try_regrow's
// look at the status and the stub's CAS): then no stub is made, and nothing leaks.
// The move callback drops them exactly there, standing in for another thread.
template <bool UseSoft>
void regrow_while_the_others_go() {
  Pack<> p(Block{g_a0, sizeof g_a0});
  {
    Result<Mut<Ints>> m = make_ints(HoldRef::of(p), 4);
    ASSERT_TRUE(m.ok());
    Hard<Ints> other_h;
    Soft<Ints> other_s;
    if (UseSoft) {
      other_s = m->to_soft().take();
    } else {
      other_h = m->to_hard().take();
    }
    Result<Raw<Box<int>>> blocker = Raw<Box<int>>::try_new(HoldRef::of(p), 1);
    const Error e = m->try_regrow(Layout{64 * sizeof(int), alignof(int)}, [&](int* f, int* t) {
      if (UseSoft) {
        other_s.reset();
      } else {
        other_h.reset();
      }
      for (int i = 0; i < 4; ++i) t[i] = f[i];
    });
    ASSERT_EQ(e, Error::none);
    m->meta().cap = 64;
    EXPECT_EQ(m->status(), S::mut_status_init) << "no stub, no forward";
    EXPECT_EQ(p.stats().live, 2u) << "the old object is gone";
  }
  expect_empty(p);
}
TEST(ArcRegrow, TheOtherHardGoesDuringTheMove) { regrow_while_the_others_go<false>(); }
TEST(ArcRegrow, TheOtherSoftGoesDuringTheMove) { regrow_while_the_others_go<true>(); }

// ---- Relocation and forwarding ---------------------------------------------------------

TEST(ArcRelocation, BorrowsFollowForwardsAndRefreshCompressesTheChain) {
  Pack<> p0(Block{g_a0, sizeof g_a0});
  Pack<> p1(Block{g_a1, sizeof g_a1});
  Pack<> p2(Block{g_a2, sizeof g_a2});
  {
    Result<HardBox> x = HardBox::try_new(HoldRef::of(p0), 5u);
    Result<HardBox> y = x->try_clone();
    Result<SoftBox> s = x->to_soft();
    Result<HardBox> x1 = try_stow(*x, HoldRef::of(p1));
    ASSERT_TRUE(x1.ok());
    Result<HardBox> x2 = try_stow(*x1, HoldRef::of(p2));
    ASSERT_TRUE(x2.ok());
    EXPECT_EQ(p1.stats().live, 1u) << "a stub in the middle of the chain";
    // Two hops; the borrow lands on the last arc.
    {
      Result<MutBox> m = y->poll_mut();
      ASSERT_TRUE(m.ok());
      EXPECT_EQ(m->data(), x2->data());
      **m = 6;
      EXPECT_EQ(y->poll_ref().error(), Error::aliased) << "the Mut on the new arc";
    }
    Result<RefBox> r = s->poll_ref();
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->data(), x2->data());
    EXPECT_EQ(**r, 6u);
    r->reset();
    EXPECT_EQ(y->status(), 1u | S::soft_one | S::relocated_flag) << "followers gone";
    // refresh: y moves to the end; the stubs go.
    EXPECT_EQ(y->refresh(), Error::none);
    EXPECT_EQ(y->data(), x2->data());
    EXPECT_FALSE(y->is_relocated());
    EXPECT_EQ(y->hard_count(), 2u);
    EXPECT_EQ(p0.stats().live, 1u) << "the Soft keeps the first stub's block";
    EXPECT_EQ(p1.stats().live, 1u) << "and the first stub's weak forward the second stub";
    // The Soft on a stub with no Hard left follows the weak forwards to its resident.
    {
      Result<RefBox> sr = s->poll_ref();
      ASSERT_TRUE(sr.ok()) << to_string(sr.error());
      EXPECT_EQ(sr->data(), x2->data());
      EXPECT_EQ(**sr, 6u);
    }
    Result<HardBox> up = s->try_upgrade();
    ASSERT_TRUE(up.ok());
    EXPECT_EQ(up->data(), x2->data()) << "the upgrade lands where the resident is";
    up->reset();
    s->reset();
    expect_empty(p0);
    expect_empty(p1);
    EXPECT_EQ(y->refresh(), Error::none) << "nothing to do";
    EXPECT_EQ(read(*y), 6u);
  }
  expect_empty(p2);
}

TEST(ArcRelocation, ConsumingBorrowsThroughAForwardReleaseTheStub) {
  Pack<> p0(Block{g_a0, sizeof g_a0});
  Pack<> p1(Block{g_a1, sizeof g_a1});
  {
    Result<HardBox> x = HardBox::try_new(HoldRef::of(p0), 5u);
    Result<HardBox> y = x->try_clone();
    Result<HardBox> z = x->try_clone();
    Result<HardBox> x1 = try_stow(*x, HoldRef::of(p1));
    Result<MutBox> m = std::move(*y).try_into_mut();
    ASSERT_TRUE(m.ok());
    EXPECT_EQ(m->data(), x1->data());
    EXPECT_EQ(p0.stats().live, 1u);
    m->reset();
    Result<RefBox> r = std::move(*z).try_into_ref();
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->data(), x1->data());
    expect_empty(p0);  // z was the stub's last Hard
    EXPECT_EQ(**r, 5u);
  }
  expect_empty(p1);
}

TEST(ArcRelocation, WaitsForBorrowsThenReportsContendedAndChangesNothing) {
  Pack<> p0(Block{g_a0, sizeof g_a0});
  Pack<> p1(Block{g_a1, sizeof g_a1});
  {
    Result<HardBox> x = HardBox::try_new(HoldRef::of(p0), 5u);
    {
      Result<RefBox> r = x->poll_ref();
      Result<HardBox> moved = try_stow(*x, HoldRef::of(p1));
      EXPECT_EQ(moved.error(), Error::contended);
      EXPECT_TRUE(*x);
      EXPECT_FALSE(x->is_relocated());
      EXPECT_EQ(p1.stats().live, 0u);
    }
    {
      Result<MutBox> m = x->poll_mut();
      EXPECT_EQ(try_stow(*x, HoldRef::of(p1)).error(), Error::contended);
      EXPECT_EQ(x->status(), 2u | S::mut_flag);
    }
    Result<HardBox> moved = try_stow(*x, HoldRef::of(p1));
    ASSERT_TRUE(moved.ok());
    EXPECT_EQ(read(*moved), 5u);
  }
  expect_empty(p0);
  expect_empty(p1);
}

// A Hard left behind by more than arc_max_hops relocations cannot borrow in one
// call (contended), but refresh() always makes progress and then it can.
TEST(ArcRelocation, LongChainsNeedRefreshAndRefreshAlwaysProgresses) {
  constexpr unsigned hops = arc_max_hops + 10;
  std::vector<std::byte> m0(hops * 32 + 4096), m1(hops * 32 + 4096);
  Pack<> q0(Block{m0.data(), m0.size()});
  Pack<> q1(Block{m1.data(), m1.size()});
  {
    Result<HardBox> h = HardBox::try_new(HoldRef::of(q0), 5u);
    HardBox stale = h->try_clone().take();
    HardBox cur = h.take();
    for (unsigned i = 0; i < hops; ++i) {
      Result<HardBox> moved = try_stow(cur, HoldRef::of(i % 2 ? q0 : q1));
      ASSERT_TRUE(moved.ok()) << i;
      cur = moved.take();
    }
    EXPECT_EQ(stale.poll_ref().error(), Error::contended);
    EXPECT_EQ(stale.try_mut().error(), Error::contended);
    std::size_t* const first = stale.data();
    EXPECT_EQ(stale.refresh(), Error::none);
    EXPECT_NE(stale.data(), first) << "progress";
    EXPECT_FALSE(stale.same_arc(cur)) << "not yet at the end";
    EXPECT_EQ(stale.refresh(), Error::none);
    EXPECT_TRUE(stale.same_arc(cur));
    EXPECT_EQ(read(stale), 5u);
    EXPECT_EQ(q0.stats().live + q1.stats().live, 1u) << "every stub went";
  }
  EXPECT_EQ(q0.stats().live + q1.stats().live, 0u);
}

// A payload whose stow runs a hook: it sees the arc while it is being relocated.
struct Probe {
  int v = 0;
};
std::function<Error()> g_probe;

}  // namespace
}  // namespace swim::mem

template <>
struct swim::mem::stow_traits<swim::mem::Probe> {
  static Error stow(const Probe* src, Probe* dst, StowContext&) {
    const Error e = g_probe ? g_probe() : Error::none;
    if (e == Error::none) detail::construct_at(dst, *src);
    return e;
  }
  static void unstow(const Probe*, Probe* dst) { dst->~Probe(); }
};

namespace swim::mem {
namespace {

TEST(ArcRelocation, InProgressRefusesBorrowsButNotCounting) {
  Pack<> p0(Block{g_a0, sizeof g_a0});
  Pack<> p1(Block{g_a1, sizeof g_a1});
  using HardProbe = Hard<Box<Probe>>;
  {
    Result<HardProbe> x = HardProbe::try_new(HoldRef::of(p0), Probe{7});
    Result<HardProbe> y = x->try_clone();
    Result<Soft<Box<Probe>>> s = x->to_soft();
    bool ran = false;
    g_probe = [&] {
      ran = true;
      EXPECT_TRUE(y->is_relocated());
      EXPECT_TRUE(y->is_mut()) << "MUT on a relocated arc: relocation running";
      EXPECT_EQ(y->poll_ref().error(), Error::relocating);
      EXPECT_EQ(y->poll_mut().error(), Error::relocating);
      EXPECT_EQ(s->poll_ref().error(), Error::relocating);
      EXPECT_EQ(y->try_ref(8).error(), Error::contended);
      Result<HardProbe> c = y->try_clone();
      EXPECT_TRUE(c.ok());
      Result<Soft<Box<Probe>>> t = y->to_soft();
      EXPECT_TRUE(t.ok());
      Probe* at = y->data();
      EXPECT_EQ(y->refresh(), Error::none);
      EXPECT_EQ(y->data(), at) << "nowhere to go yet";
      return Error::none;
    };
    Result<HardProbe> x1 = try_stow(*x, HoldRef::of(p1));
    g_probe = nullptr;
    ASSERT_TRUE(ran);
    ASSERT_TRUE(x1.ok());
    Result<Ref<Box<Probe>>> r = y->poll_ref();
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->data(), x1->data());
    EXPECT_EQ((*r)->v, 7);
  }
  g_probe = nullptr;
  expect_empty(p0);
  expect_empty(p1);
}

TEST(ArcRelocation, AFailedCopyLeavesTheSourceAsItWas) {
  Pack<> p0(Block{g_a0, sizeof g_a0});
  Pack<> p1(Block{g_a1, sizeof g_a1});
  using HardProbe = Hard<Box<Probe>>;
  {
    Result<HardProbe> x = HardProbe::try_new(HoldRef::of(p0), Probe{7});
    Result<HardProbe> y = x->try_clone();
    g_probe = [] { return Error::out_of_memory; };
    Result<HardProbe> x1 = try_stow(*x, HoldRef::of(p1));
    g_probe = nullptr;
    EXPECT_EQ(x1.error(), Error::out_of_memory);
    EXPECT_EQ(x->status(), 2u);
    EXPECT_EQ(p1.stats().live, 0u);
    Result<Mut<Box<Probe>>> m = y->poll_mut();
    ASSERT_TRUE(m.ok());
    EXPECT_EQ(m->data(), x->data());
  }
  expect_empty(p0);
  expect_empty(p1);
}

// ---- Stow of structures: DAGs, Softs, cycles -------------------------------------------

struct Pair {
  Hard<Box<std::size_t>> a, b;
};

struct Watch {
  Soft<Box<std::size_t>> s;
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
struct swim::mem::stow_traits<swim::mem::Watch>
    : swim::mem::stow_members<swim::mem::Watch, &swim::mem::Watch::s> {};
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

// Softs held outside a structure keep reaching its resident after a stow drops the
// structure's Hards (the usual case: try_stow drops the source), without keeping it
// alive: when the stowed copy's last Hard goes they report cleared, and the stub
// blocks go with the last Soft.
TEST(ArcRelocation, SoftsFollowAStowAfterTheStubsLastHardIsGone) {
  Pack<> p0(Block{g_a0, sizeof g_a0});
  Pack<> p1(Block{g_a1, sizeof g_a1});
  Pack<> p2(Block{g_a2, sizeof g_a2});
  {
    Result<HardBox> x = HardBox::try_new(HoldRef::of(p0), 5u);
    SoftBox s = x->to_soft().take();
    SoftBox t = x->to_soft().take();
    Result<HardBox> x1 = try_stow(*x, HoldRef::of(p1));
    ASSERT_TRUE(x1.ok());
    EXPECT_FALSE(*x) << "try_stow dropped the only old Hard";
    EXPECT_EQ(p0.stats().live, 1u) << "the stub, kept by the Softs";
    EXPECT_EQ(read(s), 5u);
    EXPECT_EQ(x1->hard_count(), 1u) << "the forward is weak: no hard count";
    EXPECT_EQ(x1->soft_count(), 1u) << "the forward's soft";
    // A Soft stowed from the stub follows too: a Soft on the live arc.
    Result<Raw<Box<Watch>>> w = Raw<Box<Watch>>::try_new(HoldRef::of(p2), Watch{t.try_clone().take()});
    Result<Raw<Box<Watch>>> w1 = try_stow(*w, HoldRef::of(p2));
    ASSERT_TRUE(w1.ok());
    EXPECT_EQ((*w1)->s.data(), x1->data());
    // Consuming upgrade: the Soft's count on the stub is given back.
    Result<HardBox> h = std::move(t).try_into_hard();
    ASSERT_TRUE(h.ok());
    EXPECT_FALSE(t);
    EXPECT_EQ(h->data(), x1->data());
    h->reset();
    x1->reset();  // the resident's last Hard
    EXPECT_EQ(s.try_upgrade().error(), Error::cleared);
    EXPECT_EQ(s.poll_ref().error(), Error::cleared);
    EXPECT_EQ((*w1)->s.try_upgrade().error(), Error::cleared);
    EXPECT_EQ(p1.stats().live, 1u) << "the copy's block, kept by the weak forward and a Soft";
    w1->reset();
    s.reset();
  }
  expect_empty(p0);
  expect_empty(p1);
  expect_empty(p2);
}

// A Soft kept across more relocations than a borrow follows hops: its borrows report
// contended (not cleared: the resident lives), refresh() moves it to the end, and
// the stubs it kept go (iteratively: the chain is long).
TEST(ArcRelocation, ASoftAcrossManyRelocationsRefreshes) {
  std::vector<std::byte> m0(1 << 20), m1(1 << 20);
  Pack<> p0(Block{m0.data(), m0.size()}), p1(Block{m1.data(), m1.size()});
  {
    HardBox h = HardBox::try_new(HoldRef::of(p0), 7u).take();
    SoftBox s = h.to_soft().take();
    const unsigned n = arc_max_hops + 5;
    for (unsigned i = 0; i < n; ++i) {
      Result<HardBox> x = try_stow(h, HoldRef::of(i % 2 ? p0 : p1));
      ASSERT_TRUE(x.ok());
      h = x.take();
    }
    EXPECT_EQ(p0.stats().live + p1.stats().live, n + 1) << "the Soft keeps every stub";
    EXPECT_EQ(s.try_upgrade().error(), Error::contended);
    EXPECT_EQ(s.poll_ref().error(), Error::contended);
    {
      // The waiting forms go on from further along the chain each round.
      Result<RefBox> r = s.ref();
      ASSERT_TRUE(r.ok());
      EXPECT_EQ(**r, 7u);
    }
    EXPECT_EQ(p0.stats().live + p1.stats().live, n + 1) << "ref() left the Soft where it was";
    ASSERT_EQ(s.refresh(), Error::none);  // as far as one borrow follows
    EXPECT_NE(s.data(), h.data());
    ASSERT_EQ(s.refresh(), Error::none);  // the rest
    EXPECT_EQ(s.data(), h.data());
    EXPECT_EQ(p0.stats().live + p1.stats().live, 1u) << "the stubs went";
    EXPECT_EQ(read(s), 7u);
    h.reset();
    EXPECT_EQ(s.refresh(), Error::none) << "not relocated: nothing to do";
    EXPECT_EQ(s.try_upgrade().error(), Error::cleared);
  }
  EXPECT_EQ(p0.stats().live + p1.stats().live, 0u);
}

// The same for a stale Hard: its borrows stop at the hop limit (contended), the
// waiting forms and refresh() go on.
TEST(ArcRelocation, AStaleHardAcrossManyRelocations) {
  std::vector<std::byte> m0(1 << 20), m1(1 << 20);
  Pack<> p0(Block{m0.data(), m0.size()}), p1(Block{m1.data(), m1.size()});
  {
    HardBox h = HardBox::try_new(HoldRef::of(p0), 9u).take();
    HardBox stale = h.try_clone().take();
    const unsigned n = arc_max_hops + 5;
    for (unsigned i = 0; i < n; ++i) {
      Result<HardBox> x = try_stow(h, HoldRef::of(i % 2 ? p0 : p1));
      ASSERT_TRUE(x.ok());
      h = x.take();
    }
    EXPECT_EQ(stale.poll_ref().error(), Error::contended);
    {
      Result<MutBox> m = stale.mut();
      ASSERT_TRUE(m.ok());
      **m = 10;
    }
    EXPECT_EQ(read(h), 10u);
    Result<RefBox> r = std::move(stale).into_ref();
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->data(), h.data());
    EXPECT_FALSE(stale);
  }
  EXPECT_EQ(p0.stats().live + p1.stats().live, 0u);
}

// Dropping the last Hard of a long strong chain of stubs (each held by the previous
// one's forward) frees the whole chain in a loop, not by recursion: it fits in a
// thread with a 64 KiB stack.
TEST(ArcRelocation, ALongChainOfStubsGoesWithoutRecursion) {
  std::vector<std::byte> m0(1 << 20), m1(1 << 20);
  Pack<> p0(Block{m0.data(), m0.size()}), p1(Block{m1.data(), m1.size()});
  HardBox h = HardBox::try_new(HoldRef::of(p0), 9u).take();
  HardBox stale = h.try_clone().take();
  const unsigned n = 2 * arc_max_hops;
  for (unsigned i = 0; i < n; ++i) {
    Result<HardBox> x = try_stow(h, HoldRef::of(i % 2 ? p0 : p1));
    ASSERT_TRUE(x.ok());
    h = x.take();
  }
  h.reset();  // the chain's end now lives through the stale Hard's chain only
  ASSERT_EQ(p0.stats().live + p1.stats().live, n + 1);
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, 64 * 1024);
  pthread_t t;
  ASSERT_EQ(pthread_create(&t, &attr, [](void* arg) -> void* {
    static_cast<HardBox*>(arg)->reset();
    return nullptr;
  }, &stale), 0);
  pthread_join(t, nullptr);
  pthread_attr_destroy(&attr);
  EXPECT_EQ(p0.stats().live + p1.stats().live, 0u);
}

// ---- Fault injection: every allocation of a 1000-node stow fails once -------------------

struct TNode {
  std::uint64_t v = 0;
  Hard<Box<TNode>> a, b, shared;
};

}  // namespace
}  // namespace swim::mem

template <>
struct swim::mem::stow_traits<swim::mem::TNode>
    : swim::mem::stow_members<swim::mem::TNode, &swim::mem::TNode::v, &swim::mem::TNode::a,
                              &swim::mem::TNode::b, &swim::mem::TNode::shared> {};

namespace swim::mem {
namespace {

using HardNode = Hard<Box<TNode>>;
constexpr std::size_t node_bytes = 8 + sizeof(ArcHeader<NoMeta>) + sizeof(TNode);

HardNode make_node(HoldRef hold, std::uint64_t v, HardNode a, HardNode b, const HardNode* shared) {
  Result<HardNode> n = HardNode::try_new(hold);
  EXPECT_TRUE(n.ok());
  Result<Mut<Box<TNode>>> m = n->poll_mut();
  (*m)->v = v;
  (*m)->a = std::move(a);
  (*m)->b = std::move(b);
  if (shared != nullptr) (*m)->shared = shared->try_clone().take();
  return n.take();
}

HardNode make_chain(HoldRef hold, int n) {
  HardNode head;
  for (int i = n; i >= 1; --i) head = make_node(hold, i, std::move(head), {}, nullptr);
  return head;
}

// A full binary tree in preorder numbering from `first`.
HardNode make_tree(HoldRef hold, int depth, std::uint64_t& next, const HardNode* shared) {
  if (depth == 0) return {};
  const std::uint64_t v = next++;
  HardNode a = make_tree(hold, depth - 1, next, shared);
  HardNode b = make_tree(hold, depth - 1, next, shared);
  return make_node(hold, v, std::move(a), std::move(b), shared);
}

// Walk a structure in preorder: every node has its number, exactly one hard
// reference, and is neither relocated nor borrowed; the shared node (if any) has
// status `shared_status`.
int walk(const HardNode& h, std::uint64_t& next, std::uint64_t shared_status) {
  if (!h) return 0;
  if (h.status() != S::hard_status_init) {
    ADD_FAILURE() << "node " << next << " status " << std::hex << h.status();
    return 0;
  }
  Result<Ref<Box<TNode>>> r = h.poll_ref();
  if (!r.ok() || (*r)->v != next) {
    ADD_FAILURE() << "node " << next;
    return 0;
  }
  ++next;
  if ((*r)->shared && (*r)->shared.status() != shared_status) {
    ADD_FAILURE() << "shared status " << std::hex << (*r)->shared.status();
  }
  const int in_a = walk((*r)->a, next, shared_status);
  return 1 + in_a + walk((*r)->b, next, shared_status);
}

int walk(const HardNode& h, std::uint64_t shared_status = 0) {
  std::uint64_t next = 1;
  return walk(h, next, shared_status);
}

// Iteratively, so that a long chain does not recurse in destructors.
// (`Next`: the member that holds the rest of the chain.)
template <auto Next, class T>
void free_iteratively(Hard<Box<T>>& head) {
  while (head) {
    Hard<Box<T>> next;
    {
      Result<Mut<Box<T>>> m = head.poll_mut();
      ASSERT_TRUE(m.ok());
      next = std::move((*m).operator->()->*Next);
    }
    head = std::move(next);
  }
}
void free_chain(HardNode& head) { free_iteratively<&TNode::a>(head); }

// A target that runs out at its (n+1)-th allocation, for every n along the stow of
// `root` (`objects` allocations, all node_bytes): each time the stow fails with
// out_of_memory, the target is empty, the source hold has all its objects and the
// structure walks as before. Then a stow with room succeeds.
Result<HardNode> stow_with_faults(HardNode& root, const Pack<>& source, std::size_t objects,
                                   int nodes, std::uint64_t shared_status) {
  std::vector<std::byte> dst(objects * node_bytes + 64);
  for (std::size_t n = 0; n < objects; ++n) {
    Pack<> target(Block{dst.data(), n * node_bytes + node_bytes - 8});
    Result<HardNode> r = try_stow(root, HoldRef::of(target));
    EXPECT_EQ(r.error(), Error::out_of_memory) << "n = " << n;
    EXPECT_EQ(target.stats().live, 0u) << "n = " << n;
    EXPECT_EQ(source.stats().live, objects) << "n = " << n;
    EXPECT_EQ(walk(root, shared_status), nodes) << "n = " << n;
    if (r.ok() || target.stats().live != 0 || ::testing::Test::HasFailure()) {
      ADD_FAILURE() << "stopping at n = " << n;
      return Error::invalid_argument;
    }
  }
  return Error::none;
}

TEST(ArcFaultInjection, AChainOf1000) {
  constexpr int nodes = 1000;
  std::vector<std::byte> src(nodes * node_bytes + 64), dst(nodes * node_bytes + 64);
  Pack<> source(Block{src.data(), src.size()});
  HardNode root = make_chain(HoldRef::of(source), nodes);
  ASSERT_EQ(walk(root), nodes);
  (void)stow_with_faults(root, source, nodes, nodes, 0);
  Pack<> target(Block{dst.data(), dst.size()});
  Result<HardNode> moved = try_stow(root, HoldRef::of(target));
  ASSERT_TRUE(moved.ok());
  EXPECT_EQ(source.stats().live, 0u);
  EXPECT_EQ(target.stats().live, static_cast<std::size_t>(nodes));
  EXPECT_EQ(walk(*moved), nodes);
  free_chain(*moved);
  EXPECT_EQ(target.stats().live, 0u);
}

// A tree: failures in a right subtree revert the relocations of the left one.
TEST(ArcFaultInjection, ATreeOf1023) {
  constexpr int nodes = 1023;
  std::vector<std::byte> src(nodes * node_bytes + 64), dst(nodes * node_bytes + 64);
  Pack<> source(Block{src.data(), src.size()});
  std::uint64_t next = 1;
  HardNode root = make_tree(HoldRef::of(source), 10, next, nullptr);
  ASSERT_EQ(walk(root), nodes);
  (void)stow_with_faults(root, source, nodes, nodes, 0);
  Pack<> target(Block{dst.data(), dst.size()});
  Result<HardNode> moved = try_stow(root, HoldRef::of(target));
  ASSERT_TRUE(moved.ok());
  EXPECT_EQ(source.stats().live, 0u);
  EXPECT_EQ(target.stats().live, static_cast<std::size_t>(nodes));
  EXPECT_EQ(walk(*moved), nodes);
  moved->reset();
  EXPECT_EQ(target.stats().live, 0u);
}

// A DAG: every node of the tree also holds a Hard to one shared node, which is
// relocated at its first visit and shared by the later ones; failures undo the
// shares (last first) and then the relocation.
TEST(ArcFaultInjection, ADagOf1024) {
  constexpr int nodes = 1023;
  constexpr std::size_t objects = nodes + 1;
  std::vector<std::byte> src(objects * node_bytes + 64), dst(objects * node_bytes + 64);
  Pack<> source(Block{src.data(), src.size()});
  HardNode root;
  {
    HardNode shared = make_node(HoldRef::of(source), 0, {}, {}, nullptr);
    std::uint64_t next = 1;
    root = make_tree(HoldRef::of(source), 10, next, &shared);
  }
  ASSERT_EQ(walk(root, nodes), nodes);
  (void)stow_with_faults(root, source, objects, nodes, nodes);
  Pack<> target(Block{dst.data(), dst.size()});
  Result<HardNode> moved = try_stow(root, HoldRef::of(target));
  ASSERT_TRUE(moved.ok());
  EXPECT_EQ(source.stats().live, 0u);
  EXPECT_EQ(target.stats().live, objects) << "the shared node once";
  EXPECT_EQ(walk(*moved, nodes), nodes);
  moved->reset();
  EXPECT_EQ(target.stats().live, 0u);
}


// ---- Fault injection with cycles through Softs ------------------------------------------
// A doubly linked list: Hard next, Soft prev, so every node but the first closes a
// cycle back into the part of the structure being stowed.

struct CNode {
  std::uint64_t v = 0;
  Hard<Box<CNode>> next;
  Soft<Box<CNode>> prev;
};

}  // namespace
}  // namespace swim::mem

template <>
struct swim::mem::stow_traits<swim::mem::CNode>
    : swim::mem::stow_members<swim::mem::CNode, &swim::mem::CNode::v, &swim::mem::CNode::next,
                              &swim::mem::CNode::prev> {};

namespace swim::mem {
namespace {

using HardC = Hard<Box<CNode>>;
constexpr std::size_t cnode_bytes = 8 + sizeof(ArcHeader<NoMeta>) + sizeof(CNode);

HardC make_dlist(HoldRef hold, int n) {
  HardC head;
  for (int i = n; i >= 1; --i) {
    Result<HardC> node = HardC::try_new(hold);
    EXPECT_TRUE(node.ok());
    Result<Mut<Box<CNode>>> m = node->poll_mut();
    (*m)->v = static_cast<std::uint64_t>(i);
    if (head) {
      Result<Mut<Box<CNode>>> hm = head.poll_mut();
      (*hm)->prev = node->to_soft().take();
    }
    (*m)->next = std::move(head);
    m->reset();
    head = node.take();
  }
  return head;
}

// Every node: its number, one hard reference (`first_hards` for the first), one soft
// (none for the last), not relocated, not borrowed; prev leads back. Returns the count.
int walk_dlist(const HardC& head, std::size_t first_hards = 1) {
  int n = 0;
  const HardC* cur = &head;
  const void* prev = nullptr;
  while (*cur) {
    Result<Ref<Box<CNode>>> r = cur->poll_ref();
    if (!r.ok() || (*r)->v != static_cast<std::uint64_t>(n + 1) || (*r)->prev.data() != prev) {
      ADD_FAILURE() << "node " << n + 1;
      return -1;
    }
    // (the Ref adds one hard and one ref)
    const std::uint64_t want = ((n == 0 ? first_hards : 1) + 1) * S::hard_one + S::ref_one +
                               ((*r)->next ? S::soft_one : 0);
    if (cur->status() != want) {
      ADD_FAILURE() << "node " << n + 1 << " status " << std::hex << cur->status();
      return -1;
    }
    ++n;
    prev = cur->data();
    cur = &(*r)->next;  // stays valid: the node is held by the previous one
  }
  return n;
}

void free_dlist(HardC& head) { free_iteratively<&CNode::next>(head); }

TEST(ArcFaultInjection, ADoublyLinkedListOf1000) {
  constexpr int nodes = 1000;
  std::vector<std::byte> src(nodes * cnode_bytes + 64), dst(nodes * cnode_bytes + 64);
  Pack<> source(Block{src.data(), src.size()});
  HardC root = make_dlist(HoldRef::of(source), nodes);
  ASSERT_EQ(walk_dlist(root), nodes);
  for (int n = 0; n < nodes; ++n) {
    Pack<> target(Block{dst.data(), n * cnode_bytes + cnode_bytes - 8});
    Result<HardC> r = try_stow(root, HoldRef::of(target));
    ASSERT_EQ(r.error(), Error::out_of_memory) << "n = " << n;
    ASSERT_EQ(target.stats().live, 0u) << "n = " << n;
    ASSERT_EQ(source.stats().live, static_cast<std::size_t>(nodes)) << "n = " << n;
    ASSERT_EQ(walk_dlist(root), nodes) << "n = " << n;
  }
  Pack<> target(Block{dst.data(), dst.size()});
  Result<HardC> moved = try_stow(root, HoldRef::of(target));
  ASSERT_TRUE(moved.ok());
  EXPECT_EQ(source.stats().live, 0u);
  EXPECT_EQ(target.stats().live, static_cast<std::size_t>(nodes));
  EXPECT_EQ(walk_dlist(*moved), nodes);
  free_dlist(*moved);
  EXPECT_EQ(target.stats().live, 0u);
}

// The cycles are complete (every relocation of the list succeeded) when a later root
// of the same transaction fails: the whole list must still go back. Also a second
// Hard to the list's head, held outside and stowed as a third root, shares the
// relocation (one copy), and is undone with it.
TEST(ArcFaultInjection, CompletedCyclesAreUndoneWhenALaterRootFails) {
  constexpr int nodes = 300, chain = 200;
  constexpr std::size_t list_bytes = nodes * cnode_bytes;
  std::vector<std::byte> src(list_bytes + chain * node_bytes + 128);
  std::vector<std::byte> dst(list_bytes + chain * node_bytes + 128);
  Pack<> source(Block{src.data(), src.size()});
  HardC list = make_dlist(HoldRef::of(source), nodes);
  HardNode tail = make_chain(HoldRef::of(source), chain);
  HardC again = list.try_clone().take();
  ASSERT_EQ(walk_dlist(list, 2), nodes);
  for (int n = 0; n < chain; ++n) {
    // Room for the whole list and n nodes of the chain.
    Pack<> target(Block{dst.data(), list_bytes + n * node_bytes + node_bytes - 8});
    ASSERT_EQ(try_stow_all(HoldRef::of(target), list, tail, again), Error::out_of_memory)
        << "n = " << n;
    ASSERT_EQ(target.stats().live, 0u) << "n = " << n;
    ASSERT_EQ(source.stats().live, static_cast<std::size_t>(nodes + chain));
    ASSERT_EQ(walk_dlist(list, 2), nodes) << "n = " << n;
    ASSERT_EQ(walk(tail), chain) << "n = " << n;
  }
  Pack<> target(Block{dst.data(), dst.size()});
  ASSERT_EQ(try_stow_all(HoldRef::of(target), list, tail, again), Error::none);
  EXPECT_EQ(source.stats().live, 0u);
  EXPECT_EQ(target.stats().live, static_cast<std::size_t>(nodes + chain)) << "one list";
  EXPECT_TRUE(list.same_arc(again));
  EXPECT_EQ(walk_dlist(list, 2), nodes);
  EXPECT_EQ(walk(tail), chain);
  again.reset();
  free_dlist(list);
  free_chain(tail);
  EXPECT_EQ(target.stats().live, 0u);
}

// ---- With Buf (written against the resident contract only, like Box) -------------------
#if __has_include("swim/mem/residents/buf.hpp")

TEST(ArcWithBuf, AMutGrowsWhileUniqueAndStowShrinksToFit) {
  Pack<> p0(Block{g_a0, sizeof g_a0});
  Pack<> p1(Block{g_a1, sizeof g_a1});
  {
    Result<Mut<Buf<int>>> m = Mut<Buf<int>>::try_with_capacity(HoldRef::of(p0), 2);
    ASSERT_TRUE(m.ok());
    ASSERT_EQ(m->try_push(0), Error::none);
    ASSERT_EQ(m->try_push(1), Error::none);
    Result<Raw<Box<int>>> blocker = Raw<Box<int>>::try_new(HoldRef::of(p0), 1);
    for (int i = 2; i < 20; ++i) ASSERT_EQ(m->try_push(i), Error::none);  // moves
    Result<Hard<Buf<int>>> h = m->to_hard();
    const std::size_t cap = m->capacity();
    while (m->size() < cap) ASSERT_EQ(m->try_push(static_cast<int>(m->size())), Error::none);
    m->reset();
    Result<Hard<Buf<int>>> moved = try_stow(*h, HoldRef::of(p1));
    ASSERT_TRUE(moved.ok());
    Result<Ref<Buf<int>>> r = moved->poll_ref();
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->size(), cap);
    EXPECT_EQ(r->capacity(), cap) << "shrunk to fit";
    for (std::size_t i = 0; i < cap; ++i) EXPECT_EQ((*r)[i], static_cast<int>(i));
  }
  expect_empty(p0);
  expect_empty(p1);
}

// A Mut that is not the only reference grows by relocating: the old object becomes a
// stub the other leases follow; its moved-out elements are destroyed exactly once
// (by the new object); nothing leaks.
struct Elem {
  static inline int alive = 0;
  int v;
  explicit Elem(int x) : v(x) { ++alive; }
  Elem(Elem&& o) noexcept : v(o.v) { ++alive; }
  Elem(const Elem& o) : v(o.v) { ++alive; }
  ~Elem() {
    EXPECT_NE(v, -999) << "destroyed twice";
    v = -999;
    --alive;
  }
};

TEST(ArcWithBuf, ASharedMutGrowsByRelocatingAndOthersFollow) {
  Pack<> p0(Block{g_a0, sizeof g_a0});
  Elem::alive = 0;
  {
    Mut<Buf<Elem>> m = Mut<Buf<Elem>>::try_with_capacity(HoldRef::of(p0), 2).take();
    ASSERT_EQ(m.try_push(Elem(0)), Error::none);
    ASSERT_EQ(m.try_push(Elem(1)), Error::none);
    Hard<Buf<Elem>> h = m.to_hard().take();
    Soft<Buf<Elem>> s = m.to_soft().take();
    Raw<Box<int>> blocker = Raw<Box<int>>::try_new(HoldRef::of(p0), 1).take();  // not on top
    const void* before = m.data();
    for (int i = 2; i < 40; ++i) ASSERT_EQ(m.try_push(Elem(i)), Error::none);
    EXPECT_NE(m.data(), before) << "moved";
    EXPECT_EQ(Elem::alive, 40) << "moved, not copied: the old elements are gone";
    EXPECT_TRUE(h.is_relocated());
    EXPECT_EQ(h.data(), before) << "the Hard still points at the stub";
    m.reset();
    {
      Result<Ref<Buf<Elem>>> r = h.poll_ref();
      ASSERT_TRUE(r.ok());
      ASSERT_EQ(r->size(), 40u);
      for (int i = 0; i < 40; ++i) EXPECT_EQ((*r)[static_cast<std::size_t>(i)].v, i);
      Result<Ref<Buf<Elem>>> rs = s.poll_ref();
      ASSERT_TRUE(rs.ok());
      EXPECT_EQ(rs->data(), r->data()) << "the Soft follows too";
    }
    EXPECT_EQ(p0.stats().live, 3u) << "stub, new object, blocker";
    h.reset();  // the stub's last Hard: its moved-out payload is not destroyed again
    EXPECT_EQ(Elem::alive, 0) << "the resident's last Hard";
    EXPECT_EQ(s.try_upgrade().error(), Error::cleared);
    s.reset();
    EXPECT_EQ(p0.stats().live, 1u) << "only the blocker";
  }
  expect_empty(p0);
  {
    // Only Softs besides the Mut: the stub forwards weakly; the Mut's object is the
    // resident's only owner and its drop clears the Soft.
    Mut<Buf<Elem>> m = Mut<Buf<Elem>>::try_with_capacity(HoldRef::of(p0), 1).take();
    ASSERT_EQ(m.try_push(Elem(7)), Error::none);
    Soft<Buf<Elem>> s = m.to_soft().take();
    Raw<Box<int>> blocker = Raw<Box<int>>::try_new(HoldRef::of(p0), 1).take();
    ASSERT_EQ(m.try_push(Elem(8)), Error::none);  // moves
    EXPECT_EQ(m.hard_count(), 1u) << "the weak forward holds no hard count";
    EXPECT_EQ(m.soft_count(), 1u) << "the weak forward's soft";
    Result<Hard<Buf<Elem>>> up = s.try_upgrade();
    ASSERT_TRUE(up.ok());
    EXPECT_EQ(up->data(), m.data());
    up->reset();
    m.reset();
    EXPECT_EQ(Elem::alive, 0);
    EXPECT_EQ(s.poll_ref().error(), Error::cleared);
    s.reset();
  }
  expect_empty(p0);
}

TEST(ArcWithBuf, ABufOfHardsStowsAsADag) {
  Pack<> p0(Block{g_a0, sizeof g_a0});
  Pack<> p1(Block{g_a1, sizeof g_a1});
  {
    Result<HardBox> x = HardBox::try_new(HoldRef::of(p0), 7u);
    Result<Mut<Buf<HardBox>>> m = Mut<Buf<HardBox>>::try_with_capacity(HoldRef::of(p0), 4);
    for (int i = 0; i < 4; ++i) ASSERT_EQ(m->try_push(x->try_clone().take()), Error::none);
    x->reset();
    Hard<Buf<HardBox>> h = std::move(*m).into_hard();
    Result<Hard<Buf<HardBox>>> moved = try_stow(h, HoldRef::of(p1));
    ASSERT_TRUE(moved.ok());
    expect_empty(p0);
    EXPECT_EQ(p1.stats().live, 2u);
    Result<Ref<Buf<HardBox>>> r = moved->poll_ref();
    EXPECT_TRUE((*r)[0].same_arc((*r)[3]));
    EXPECT_EQ((*r)[0].hard_count(), 4u);
    EXPECT_EQ(read((*r)[2]), 7u);
  }
  expect_empty(p1);
}

#endif  // Buf

}  // namespace
}  // namespace swim::mem
