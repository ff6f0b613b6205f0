// A Mut as a dynamic lease (try_regrow): in place on top of the hold, to a new object
// while unique, by relocation while shared (the others follow the forward); and Buf
// under the shared leases, growing and stowing.
#include <gtest/gtest.h>

#include "support/arc_env.hpp"
#include "swim/mem.hpp"

namespace swim::mem {
namespace {

// ---- Mut as a dynamic lease: a move while shared is a relocation the others follow ------

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
