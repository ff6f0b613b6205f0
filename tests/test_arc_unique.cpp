// Copy-on-write (try_to_unique / try_into_unique) and unwrap of the shared leases:
// in place exactly when no other strong lease exists, else on a copy that nobody
// else sees; failures change nothing; a storm of threads each writing through its
// own unique Mut never sees another thread's writes (run under TSan too).
#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <thread>
#include <utility>
#include <vector>

#include "swim/mem.hpp"

namespace swim::mem {
namespace {

using S = ArcStatus;
using HardBox = Hard<Box<std::uint64_t>>;
using SoftBox = Soft<Box<std::uint64_t>>;
using RefBox = Ref<Box<std::uint64_t>>;
using MutBox = Mut<Box<std::uint64_t>>;

struct Arena {
  explicit Arena(std::size_t bytes) : mem(bytes), pack(Block{mem.data(), mem.size()}) {}
  std::vector<std::byte> mem;
  Pack<> pack;
  HoldRef ref() { return HoldRef::of(pack); }
  std::size_t live() const { return pack.stats().live; }
};

template <class L>
std::uint64_t read(const L& lease) {
  Result<RefBox> r = lease.poll_ref();
  EXPECT_TRUE(r.ok()) << to_string(r.error());
  return r.ok() ? **r : ~std::uint64_t(0);
}

// ---- Copy-on-write ---------------------------------------------------------------------

TEST(ArcUnique, AHardAloneGetsAMutInPlace) {
  Arena a(4096);
  HardBox h = HardBox::try_new(a.ref(), 5u).take();
  {
    Result<MutBox> m = h.try_to_unique();
    ASSERT_TRUE(m.ok()) << to_string(m.error());
    EXPECT_EQ(m->data(), h.data()) << "no other strong lease: no copy";
    EXPECT_EQ(h.status(), 2 * S::hard_one | S::mut_flag) << "the Hard and the Mut";
    **m = 6;
  }
  EXPECT_EQ(read(h), 6u) << "this Hard sees its own writes";
  EXPECT_EQ(a.live(), 1u);
  // Softs do not count as owners.
  SoftBox s = h.to_soft().take();
  {
    Result<MutBox> m = h.try_to_unique();
    ASSERT_TRUE(m.ok());
    EXPECT_EQ(m->data(), h.data());
  }
  // Consumed: the Hard's count becomes the Mut's.
  Result<MutBox> m = std::move(h).try_into_unique();
  ASSERT_TRUE(m.ok());
  EXPECT_FALSE(h);
  EXPECT_EQ(m->status(), S::mut_status_init + S::soft_one);
  EXPECT_EQ(a.live(), 1u);
  m->reset();
  EXPECT_EQ(s.try_upgrade().error(), Error::cleared);
  s.reset();
  EXPECT_EQ(a.live(), 0u);
}

TEST(ArcUnique, ASharedHardGetsACopyInTheSameHold) {
  Arena a(4096);
  HardBox h = HardBox::try_new(a.ref(), 5u).take();
  HardBox other = h.try_clone().take();
  {
    Result<MutBox> m = h.try_to_unique();
    ASSERT_TRUE(m.ok());
    EXPECT_NE(m->data(), h.data());
    EXPECT_EQ(m->hold(), h.hold());
    EXPECT_EQ(m->status(), S::mut_status_init);
    EXPECT_EQ(**m, 5u);
    **m = 7;
    EXPECT_EQ(a.live(), 2u);
    EXPECT_EQ(read(other), 5u) << "the other owner does not see the copy's writes";
  }
  EXPECT_EQ(a.live(), 1u) << "the copy went with its Mut";
  EXPECT_EQ(h.status(), 2 * S::hard_one) << "both Hards, no borrow left";
  // Consumed into a copy: this Hard's count is given back.
  Result<MutBox> m = std::move(h).try_into_unique();
  ASSERT_TRUE(m.ok());
  EXPECT_FALSE(h);
  EXPECT_NE(m->data(), other.data());
  EXPECT_EQ(other.status(), S::hard_one);
  m->reset();
  other.reset();
  EXPECT_EQ(a.live(), 0u);
}

TEST(ArcUnique, AStaleHardThatIsTheLastOneIsStillUnique) {
  Arena a(4096), b(4096);
  HardBox h = HardBox::try_new(a.ref(), 5u).take();
  HardBox stale = h.try_clone().take();
  Result<HardBox> moved = try_stow(h, b.ref());
  ASSERT_TRUE(moved.ok());
  moved->reset();  // only the stale Hard (on the stub) is left
  Result<MutBox> m = stale.try_to_unique();
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->data(), stale.data()) << "moved to the new arc first, then in place";
  EXPECT_EQ(m->hold(), b.ref());
  EXPECT_EQ(a.live(), 0u) << "the stub went when the stale Hard left it";
  m->reset();
  stale.reset();
  EXPECT_EQ(b.live(), 0u);
}

TEST(ArcUnique, ARefIsCopiedOrUpgradedInPlace) {
  Arena a(4096);
  HardBox h = HardBox::try_new(a.ref(), 5u).take();
  RefBox r = h.poll_ref().take();
  {
    Result<MutBox> m = r.try_to_unique();  // always a copy
    ASSERT_TRUE(m.ok());
    EXPECT_NE(m->data(), r.data());
    EXPECT_EQ(**m, 5u);
  }
  // The Hard is another owner: into_unique copies and gives the Ref back.
  Result<MutBox> m = std::move(r).try_into_unique();
  ASSERT_TRUE(m.ok());
  EXPECT_FALSE(r);
  EXPECT_NE(m->data(), h.data());
  EXPECT_EQ(h.status(), S::hard_one);
  m->reset();
  // A Ref that is the only strong lease: in place.
  RefBox only = std::move(h).poll_into_ref().take();
  Result<MutBox> in_place = std::move(only).try_into_unique();
  ASSERT_TRUE(in_place.ok());
  EXPECT_EQ(in_place->status(), S::mut_status_init);
  EXPECT_EQ(a.live(), 1u);
  in_place->reset();
  EXPECT_EQ(a.live(), 0u);
}

TEST(ArcUnique, FailuresChangeNothing) {
  Arena a(4096);
  HardBox h = HardBox::try_new(a.ref(), 5u).take();
  HardBox other = h.try_clone().take();
  {
    // A Mut exists: the Hard cannot borrow the Ref it copies from.
    Result<MutBox> held = other.poll_mut();
    ASSERT_TRUE(held.ok());
    Result<MutBox> m = h.try_to_unique(4);
    EXPECT_EQ(m.error(), Error::contended);
    EXPECT_EQ(h.status(), 3 * S::hard_one | S::mut_flag);
  }
  // The copy does not fit: out_of_memory, the Hard kept, nothing left allocated.
  std::vector<std::byte> small(40);
  Pack<> tiny(Block{small.data(), small.size()});
  HardBox t = HardBox::try_new(HoldRef::of(tiny), 9u).take();
  HardBox t2 = t.try_clone().take();
  const Stats before = tiny.stats();
  Result<MutBox> m = std::move(t).try_into_unique();
  EXPECT_EQ(m.error(), Error::out_of_memory);
  ASSERT_TRUE(t) << "a failed consuming conversion keeps the lease";
  EXPECT_EQ(t.status(), 2 * S::hard_one);
  EXPECT_EQ(tiny.stats().live, before.live);
  EXPECT_EQ(tiny.stats().bytes_in_use, before.bytes_in_use);
  EXPECT_EQ(HardBox{}.try_to_unique().error(), Error::cleared);
}

TEST(ArcUnique, AHardBufCopiesOnWrite) {
  Arena a(8192);
  Result<HardBuf<int>> made = HardBuf<int>::try_empty(a.ref());
  ASSERT_TRUE(made.ok());
  HardBuf<int> h = made.take();
  {
    // Alone, consumed: the Mut is the arc's only reference, so the Buf may move.
    Result<Mut<Buf<int>>> m = std::move(h).try_into_unique();
    ASSERT_TRUE(m.ok());
    ASSERT_EQ(m->try_push(1), Error::none);
    ASSERT_EQ(m->try_push(2), Error::none);
    h = std::move(*m).into_hard();
  }
  {
    // Alone, kept: in place, so the Mut shares the arc with the Hard; a growth that
    // must move the Buf (something else is on top of the Pack now) relocates it, and
    // the Hard follows.
    HardBuf<int> blocker = HardBuf<int>::try_empty(a.ref()).take();
    Result<Mut<Buf<int>>> m = h.try_to_unique();
    ASSERT_TRUE(m.ok());
    EXPECT_EQ(m->data(), h.data());
    ASSERT_EQ(m->try_reserve(1000), Error::none);
    EXPECT_NE(m->data(), h.data());
    EXPECT_TRUE(h.is_relocated());
    EXPECT_EQ(m->size(), 2u);
    m->reset();
    EXPECT_EQ(h.refresh(), Error::none);
    EXPECT_EQ(a.live(), 2u) << "the stub went with the refresh";
  }
  HardBuf<int> other = h.try_clone().take();
  Result<Mut<Buf<int>>> m = h.try_to_unique();  // shared: a copy; `other` keeps the original
  ASSERT_TRUE(m.ok());
  ASSERT_EQ(m->try_push(3), Error::none);
  EXPECT_EQ(m->size(), 3u);
  Result<Ref<Buf<int>>> r = other.poll_ref();
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->size(), 2u) << "the original keeps two elements";
  EXPECT_EQ((*r)[0], 1);
  EXPECT_EQ((*r)[1], 2);
  EXPECT_EQ((*m)[0], 1);
  EXPECT_EQ((*m)[2], 3);
}

// ---- Unwrap ----------------------------------------------------------------------------

TEST(ArcUnwrap, TheOnlyStrongLeaseTakesTheValueOut) {
  Arena a(4096);
  {
    HardBox h = HardBox::try_new(a.ref(), 5u).take();
    Result<std::uint64_t> v = std::move(h).try_unwrap();
    ASSERT_TRUE(v.ok());
    EXPECT_EQ(*v, 5u);
    EXPECT_FALSE(h);
    EXPECT_EQ(a.live(), 0u);
  }
  {
    MutBox m = HardBox::try_new(a.ref(), 6u).take().poll_into_mut().take();
    Result<std::uint64_t> v = std::move(m).try_unwrap();
    ASSERT_TRUE(v.ok());
    EXPECT_EQ(*v, 6u);
    EXPECT_EQ(a.live(), 0u);
  }
  {
    RefBox r = HardBox::try_new(a.ref(), 7u).take().poll_into_ref().take();
    Result<std::uint64_t> v = std::move(r).try_unwrap();
    ASSERT_TRUE(v.ok());
    EXPECT_EQ(*v, 7u);
    EXPECT_EQ(a.live(), 0u);
  }
}

TEST(ArcUnwrap, SoftsKeepTheBlockAndReportCleared) {
  Arena a(4096);
  HardBox h = HardBox::try_new(a.ref(), 5u).take();
  SoftBox s = h.to_soft().take();
  Result<std::uint64_t> v = std::move(h).try_unwrap();
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(*v, 5u);
  EXPECT_EQ(a.live(), 1u) << "the Soft keeps the block";
  EXPECT_EQ(s.try_upgrade().error(), Error::cleared);
  s.reset();
  EXPECT_EQ(a.live(), 0u);
}

TEST(ArcUnwrap, OtherOwnersRefuseAndNothingChanges) {
  Arena a(4096);
  HardBox h = HardBox::try_new(a.ref(), 5u).take();
  HardBox other = h.try_clone().take();
  Result<std::uint64_t> v = std::move(h).try_unwrap();
  EXPECT_EQ(v.error(), Error::aliased) << "other strong owners";
  ASSERT_TRUE(h);
  EXPECT_EQ(h.status(), 2 * S::hard_one);
  EXPECT_EQ(read(h), 5u);
  other.reset();
  // A stale Hard that is the last one follows the forward and unwraps there.
  Arena b(4096);
  HardBox stale = h.try_clone().take();
  Result<HardBox> moved = try_stow(h, b.ref());
  ASSERT_TRUE(moved.ok());
  moved->reset();
  Result<std::uint64_t> w = std::move(stale).try_unwrap();
  ASSERT_TRUE(w.ok());
  EXPECT_EQ(*w, 5u);
  EXPECT_EQ(a.live(), 0u);
  EXPECT_EQ(b.live(), 0u);
  EXPECT_EQ(std::move(HardBox{}).try_unwrap().error(), Error::invalid_argument);
}

// A non-trivial value moves out whole and is destroyed exactly once.
struct Tracked {
  static inline std::atomic<int> alive{0};
  std::vector<int> v;
  explicit Tracked(std::vector<int> x) : v(std::move(x)) { ++alive; }
  Tracked(Tracked&& o) noexcept : v(std::move(o.v)) { ++alive; }
  Tracked(const Tracked& o) : v(o.v) { ++alive; }
  ~Tracked() { --alive; }
};

TEST(ArcUnwrap, ANonTrivialValueMovesOut) {
  Arena a(4096);
  Tracked::alive = 0;
  {
    Hard<Box<Tracked>> h =
        Hard<Box<Tracked>>::try_new(a.ref(), std::vector<int>{1, 2, 3}).take();
    Hard<Box<Tracked>> other = h.try_clone().take();
    Result<Mut<Box<Tracked>>> m = h.try_to_unique();  // a copy: two alive
    ASSERT_TRUE(m.ok());
    EXPECT_EQ(Tracked::alive.load(), 2);
    (*m)->v.push_back(4);
    Result<Tracked> t = std::move(*m).try_unwrap();
    ASSERT_TRUE(t.ok());
    EXPECT_EQ(t->v, (std::vector<int>{1, 2, 3, 4}));
    EXPECT_EQ(Tracked::alive.load(), 2) << "the copy's value moved out, its shell destroyed";
  }
  EXPECT_EQ(Tracked::alive.load(), 0);
  EXPECT_EQ(a.live(), 0u);
}

// ---- Concurrency -----------------------------------------------------------------------
// Threads share one resident through Hards; each repeatedly gets a unique Mut,
// writes its own stamp, checks it reads back only its stamp, and then sometimes
// drops its Hard and takes a new one (so in-place upgrades happen when a thread is
// alone). A Mut that another owner could also write would show a foreign stamp.
TEST(ArcUnique, EveryUniqueMutIsPrivate) {
  constexpr int threads = 4, rounds = 3000;
  Arena a(1 << 20);
  HardBox root = HardBox::try_new(a.ref(), 0u).take();
  std::vector<HardBox> hards;
  for (int t = 0; t < threads; ++t) hards.push_back(root.try_clone().take());
  std::atomic<int> bad{0}, copies{0}, in_place{0}, refused{0};
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      HardBox& mine = hards[static_cast<std::size_t>(t)];
      for (int i = 0; i < rounds; ++i) {
        const std::uint64_t stamp = (static_cast<std::uint64_t>(t) << 32) | static_cast<unsigned>(i);
        const void* before = mine.data();
        Result<MutBox> m = mine.try_to_unique(64);
        if (!m.ok()) {
          if (!is_retryable(m.error())) bad.fetch_add(1);
          refused.fetch_add(1);
          continue;
        }
        (m->data() == mine.data() ? in_place : copies).fetch_add(1);
        **m = stamp;
        for (int k = 0; k < 8; ++k) {
          if (**m != stamp) bad.fetch_add(1);
        }
        if (m->data() != mine.data() && i % 2 == 0) {
          // Keep the private copy as this thread's resident from now on.
          HardBox next = std::move(*m).into_hard();
          mine = std::move(next);
        }
        (void)before;
      }
    });
  }
  for (auto& th : pool) th.join();
  EXPECT_EQ(bad.load(), 0);
  EXPECT_GT(copies.load(), 0);
  EXPECT_GT(in_place.load(), 0) << "once a thread holds its own copy it upgrades in place";
  root.reset();
  hards.clear();
  EXPECT_EQ(a.live(), 0u);
}

}  // namespace
}  // namespace swim::mem
