// Relocation and forwarding of the shared leases: borrows follow the forwards, refresh()
// shortens the chain, a relocation in progress refuses borrows, a failed copy changes
// nothing, Softs follow a stow, and long chains of stubs (past arc_max_hops) go.
#include <gtest/gtest.h>
#include <pthread.h>

#include <functional>
#include <vector>

#include "support/arc_env.hpp"
#include "swim/mem.hpp"

namespace swim::mem {
namespace {

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
  ASSERT_EQ(pthread_attr_setstacksize(&attr, 64 * 1024), 0) << "the small stack is the test";
  pthread_t t;
  ASSERT_EQ(pthread_create(&t, &attr, [](void* arg) -> void* {
    static_cast<HardBox*>(arg)->reset();
    return nullptr;
  }, &stale), 0);
  ASSERT_EQ(pthread_join(t, nullptr), 0);
  pthread_attr_destroy(&attr);
  EXPECT_EQ(p0.stats().live + p1.stats().live, 0u);
}

}  // namespace
}  // namespace swim::mem
