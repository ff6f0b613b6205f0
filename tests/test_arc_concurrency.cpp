// The shared leases under concurrency (run under ThreadSanitizer too): Hard clone
// and drop storms, a Soft upgrade racing the last Hard drop, relocation racing Ref
// and Mut borrows, and stows while other threads hold Softs. Payloads are plain
// (non-atomic) data, so a missing happens-before in the protocol is a TSan report,
// and a use after free or a torn copy is a failed check.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <thread>
#include <vector>

#include "swim/mem.hpp"

namespace swim::mem {
namespace {

using S = ArcStatus;

// A payload that knows whether it is alive and whether its two halves agree. While
// `watched` is set and the destructor runs on the thread marked `dropper`, it
// waits (bounded) until the other threads have dropped their Softs of trial `a`
// (`soft_drops` reaches 2 (a + 1)), then checks that its own block, the only object
// of the watched Pack, is still allocated: the block must outlive the destructor
// even when the last Soft goes meanwhile.
struct Twin {
  static inline std::atomic<int> destroyed{0};
  static inline std::atomic<const Pack<>*> watched{nullptr};
  static inline std::atomic<int> freed_early{0}, soft_drops{0}, waited{0};
  static inline thread_local bool dropper = false;
  std::uint64_t a = 0;
  std::uint64_t b = 0;
  std::uint64_t magic = 0x5157494D;
  Twin(std::uint64_t x) : a(x), b(x) {}  // NOLINT
  Twin(const Twin& o) : a(o.a), b(o.b), magic(o.magic) {}
  ~Twin() {
    const Pack<>* p = watched.load();
    if (p != nullptr && dropper && a % 4 != 1) {  // (in trials a % 4 == 1, B waits for A)
      const int want = 2 * static_cast<int>(a + 1);
      for (int i = 0; i < 100000 && soft_drops.load() < want; ++i) std::this_thread::yield();
      if (soft_drops.load() >= want) waited.fetch_add(1);
      if (p->stats().live == 0) freed_early.fetch_add(1);
    }
    EXPECT_EQ(magic, 0x5157494Du) << "destroyed twice";
    magic = 0;
    destroyed.fetch_add(1, std::memory_order_relaxed);
  }
  bool sound() const { return magic == 0x5157494D && a == b; }
};

}  // namespace
}  // namespace swim::mem

// Twin is copied as it is (it owns nothing); unstow destroys the copy.
template <>
struct swim::mem::stow_traits<swim::mem::Twin> {
  static Error stow(const Twin* src, Twin* dst, StowContext&) {
    detail::construct_at(dst, *src);
    return Error::none;
  }
  static void unstow(const Twin*, Twin* dst) { dst->~Twin(); }
};

namespace swim::mem {
namespace {

using HardTwin = Hard<Box<Twin>>;
using SoftTwin = Soft<Box<Twin>>;

struct Arena {
  explicit Arena(std::size_t bytes) : mem(bytes), pack(Block{mem.data(), mem.size()}) {}
  std::vector<std::byte> mem;
  Pack<> pack;
  HoldRef ref() { return HoldRef::of(pack); }
};

void spin_until(const std::atomic<int>& v, int value) {
  while (v.load(std::memory_order_acquire) != value) std::this_thread::yield();
}

// A short busy delay of pseudo-random length, to vary interleavings.
inline void jitter(unsigned seed, unsigned range) {
  const unsigned n = (seed * 2654435761u) % range;
  for (unsigned k = 0; k < n; ++k) asm volatile("" ::: "memory");
}

using Clock = std::chrono::steady_clock;

// Wait (yielding) until pred() holds or `seconds` pass; false on timeout.
template <class Pred>
bool wait_for(Pred pred, int seconds = 20) {
  const auto deadline = Clock::now() + std::chrono::seconds(seconds);
  while (!pred()) {
    if (Clock::now() > deadline) return false;
    std::this_thread::yield();
  }
  return true;
}

TEST(ArcConcurrency, HardCloneAndDropStorm) {
  Arena arena(1 << 16);
  Twin::destroyed = 0;
  constexpr int threads = 4;
  constexpr int rounds = 20000;
  {
    Result<HardTwin> root = HardTwin::try_new(arena.ref(), 7u);
    ASSERT_TRUE(root.ok());
    std::vector<HardTwin> mine;
    for (int t = 0; t < threads; ++t) mine.push_back(root->try_clone().take());
    std::atomic<int> bad{0}, started{0};
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) {
      pool.emplace_back([&, t] {
        started.fetch_add(1);
        spin_until(started, threads);  // all at once
        HardTwin& h = mine[static_cast<std::size_t>(t)];
        std::vector<HardTwin> held;
        std::vector<SoftTwin> softs;
        for (int i = 0; i < rounds; ++i) {
          Result<HardTwin> c = h.try_clone();
          if (!c.ok()) {
            bad.fetch_add(1);
            continue;
          }
          held.push_back(c.take());
          if (i % 3 == 0) softs.push_back(held.back().to_soft().take());
          if (i % 5 == 0 && !softs.empty()) {
            Result<HardTwin> up = softs.back().try_upgrade();
            if (!up.ok()) bad.fetch_add(1);
            softs.pop_back();
          }
          if (i % 7 == 0) {
            Result<Ref<Box<Twin>>> r = held.back().try_ref();
            if (!r.ok() || !(*r)->sound()) bad.fetch_add(1);
          }
          // Drop in an order that differs from the clone order.
          if (held.size() > 8) {
            held.erase(held.begin() + (i % 8));
            held.pop_back();
          }
        }
        held.clear();
        softs.clear();
      });
    }
    for (auto& th : pool) th.join();
    EXPECT_EQ(bad.load(), 0);
    EXPECT_EQ(root->status(), static_cast<std::uint64_t>(1 + threads));
    mine.clear();
    EXPECT_EQ(root->status(), S::hard_status_init);
    EXPECT_EQ(Twin::destroyed.load(), 0);
  }
  EXPECT_EQ(Twin::destroyed.load(), 1);
  EXPECT_EQ(arena.pack.stats().live, 0u);
}

// Per trial: thread A drops the last Hard, thread B upgrades (or borrows through)
// its Soft, thread C drops another Soft. B gets a live resident or Cleared; the
// resident is destroyed exactly once and the block freed exactly once. One trial in
// four forces B first, one forces A first (so both outcomes occur); the others race
// with random delays.
TEST(ArcConcurrency, SoftUpgradeRacesTheLastHardDrop) {
  Arena arena(1 << 16);
  Twin::destroyed = 0;
  constexpr int trials = 4000;
  HardTwin slot_a;
  SoftTwin slot_b, slot_c;
  std::atomic<int> go{-1}, done{0}, a_dropped{-1}, b_upgraded{-1};
  std::atomic<int> live_seen{0}, cleared_seen{0}, bad{0};
  std::thread a([&] {
    Twin::dropper = true;
    for (int t = 0; t < trials; ++t) {
      spin_until(go, t);
      if (t % 4 == 0) spin_until(b_upgraded, t);
      jitter(static_cast<unsigned>(t), 512);
      slot_a.reset();
      a_dropped.store(t, std::memory_order_release);
      done.fetch_add(1, std::memory_order_acq_rel);
    }
  });
  std::thread b([&] {
    for (int t = 0; t < trials; ++t) {
      spin_until(go, t);
      if (t % 4 == 1) spin_until(a_dropped, t);
      jitter(static_cast<unsigned>(t) * 7u, 512);
      if (t % 2 == 0) {
        Result<HardTwin> h = slot_b.try_upgrade();
        if (h.ok()) {
          Result<Ref<Box<Twin>>> r = h->try_ref();
          if (!r.ok() || !(*r)->sound()) bad.fetch_add(1);
          live_seen.fetch_add(1);
        } else if (h.error() == Error::cleared) {
          cleared_seen.fetch_add(1);
        } else {
          bad.fetch_add(1);
        }
      } else {
        Result<Ref<Box<Twin>>> r = slot_b.try_ref();
        if (r.ok()) {
          if (!(*r)->sound()) bad.fetch_add(1);
          live_seen.fetch_add(1);
        } else if (r.error() == Error::cleared) {
          cleared_seen.fetch_add(1);
        } else {
          bad.fetch_add(1);
        }
      }
      b_upgraded.store(t, std::memory_order_release);
      slot_b.reset();
      Twin::soft_drops.fetch_add(1);
      done.fetch_add(1, std::memory_order_acq_rel);
    }
  });
  std::thread c([&] {
    for (int t = 0; t < trials; ++t) {
      spin_until(go, t);
      jitter(static_cast<unsigned>(t) * 13u, 512);
      slot_c.reset();
      Twin::soft_drops.fetch_add(1);
      done.fetch_add(1, std::memory_order_acq_rel);
    }
  });
  Twin::watched = &arena.pack;
  Twin::freed_early = 0;
  Twin::soft_drops = 0;
  Twin::waited = 0;
  for (int t = 0; t < trials; ++t) {
    Result<HardTwin> h = HardTwin::try_new(arena.ref(), static_cast<std::uint64_t>(t));
    ASSERT_TRUE(h.ok());
    slot_b = h->to_soft().take();
    slot_c = h->to_soft().take();
    slot_a = h.take();
    go.store(t, std::memory_order_release);
    spin_until(done, 3 * (t + 1));
    ASSERT_EQ(Twin::destroyed.load(), t + 1) << "trial " << t;
    ASSERT_EQ(arena.pack.stats().live, 0u) << "trial " << t;
  }
  a.join();
  b.join();
  c.join();
  Twin::watched = nullptr;
  EXPECT_EQ(bad.load(), 0);
  EXPECT_EQ(Twin::freed_early.load(), 0) << "a block was freed under its destructor";
  EXPECT_GT(Twin::waited.load(), trials / 4) << "Soft drops during destructors";
  EXPECT_EQ(live_seen.load() + cleared_seen.load(), trials);
  EXPECT_GE(live_seen.load(), trials / 4);
  EXPECT_GE(cleared_seen.load(), trials / 4);
}

// The same race through a weak forward: the object was stowed, so the Softs sit on
// a stub with no Hard left and follow its weak forward, while the copy's last Hard
// goes. Each upgrade sees the live object or cleared; both Packs end up empty.
TEST(ArcConcurrency, SoftUpgradeThroughAStubRacesTheLastHardDrop) {
  Arena p0(1 << 16), p1(1 << 16);
  Twin::destroyed = 0;
  constexpr int trials = 2000;
  HardTwin slot_a;
  SoftTwin slot_b, slot_c;
  std::atomic<int> go{-1}, done{0}, a_dropped{-1}, b_tried{-1};
  std::atomic<int> live_seen{0}, cleared_seen{0}, bad{0};
  std::thread a([&] {
    for (int t = 0; t < trials; ++t) {
      spin_until(go, t);
      if (t % 4 == 0) spin_until(b_tried, t);  // both outcomes, whatever the scheduler
      jitter(static_cast<unsigned>(t), 512);
      slot_a.reset();
      a_dropped.store(t, std::memory_order_release);
      done.fetch_add(1, std::memory_order_acq_rel);
    }
  });
  std::thread b([&] {
    for (int t = 0; t < trials; ++t) {
      spin_until(go, t);
      if (t % 4 == 1) spin_until(a_dropped, t);
      jitter(static_cast<unsigned>(t) * 7u, 512);
      Result<HardTwin> h = (t % 2 == 0) ? slot_b.try_upgrade()
                                            : std::move(slot_b).try_into_hard();
      if (h.ok()) {
        Result<Ref<Box<Twin>>> r = h->try_ref();
        if (!r.ok() || !(*r)->sound() || (*r)->a != static_cast<std::uint64_t>(t)) bad.fetch_add(1);
        if (h->hold() != p1.ref()) bad.fetch_add(1);
        live_seen.fetch_add(1);
      } else if (h.error() == Error::cleared) {
        cleared_seen.fetch_add(1);
      } else {
        bad.fetch_add(1);
      }
      if (h.ok()) h->reset();
      b_tried.store(t, std::memory_order_release);
      slot_b.reset();
      done.fetch_add(1, std::memory_order_acq_rel);
    }
  });
  std::thread c([&] {
    for (int t = 0; t < trials; ++t) {
      spin_until(go, t);
      jitter(static_cast<unsigned>(t) * 13u, 512);
      slot_c.reset();
      done.fetch_add(1, std::memory_order_acq_rel);
    }
  });
  for (int t = 0; t < trials; ++t) {
    Result<HardTwin> h = HardTwin::try_new(p0.ref(), static_cast<std::uint64_t>(t));
    ASSERT_TRUE(h.ok());
    slot_b = h->to_soft().take();
    slot_c = h->to_soft().take();
    Result<HardTwin> moved = try_stow(*h, p1.ref());
    ASSERT_TRUE(moved.ok());
    ASSERT_EQ(Twin::destroyed.load(), 2 * t + 1) << "the old copy went with the stub's Hard";
    slot_a = moved.take();
    go.store(t, std::memory_order_release);
    spin_until(done, 3 * (t + 1));
    ASSERT_EQ(Twin::destroyed.load(), 2 * (t + 1)) << "trial " << t;
    ASSERT_EQ(p0.pack.stats().live, 0u) << "trial " << t;
    ASSERT_EQ(p1.pack.stats().live, 0u) << "trial " << t;
  }
  a.join();
  b.join();
  c.join();
  EXPECT_EQ(bad.load(), 0);
  EXPECT_EQ(live_seen.load() + cleared_seen.load(), trials);
  EXPECT_GE(live_seen.load(), trials / 4);
  EXPECT_GE(cleared_seen.load(), trials / 4);
}

// Readers and a writer borrow through their own Hards while a relocator stows the
// object again and again into three Packs. Readers never see a torn value (a != b),
// and no write is lost (writes after a relocation land on the new object).
TEST(ArcConcurrency, RelocationRacesRefAndMutBorrows) {
  Arena p0(1 << 20), p1(1 << 20), p2(1 << 20);
  HoldRef targets[3] = {p0.ref(), p1.ref(), p2.ref()};
  Twin::destroyed = 0;
  constexpr int relocations = 1000;
  constexpr int max_relocations = 5000;
  int done = 0;
  std::atomic<bool> stop{false};
  std::atomic<int> bad{0};
  std::atomic<std::uint64_t> writes{0}, reads{0};
  {
    Result<HardTwin> root = HardTwin::try_new(p0.ref(), 0u);
    HardTwin reader1 = root->try_clone().take();
    HardTwin reader2 = root->try_clone().take();
    HardTwin writer = root->try_clone().take();
    auto read_loop = [&](HardTwin& h, bool polling) {
      for (int i = 0; !stop.load(std::memory_order_relaxed); ++i) {
        {
          Result<Ref<Box<Twin>>> r = polling ? h.poll_ref() : h.try_ref(64);
          if (r.ok()) {
            if (!(*r)->sound()) bad.fetch_add(1);
            reads.fetch_add(1, std::memory_order_relaxed);
          } else if (!is_retryable(r.error())) {
            bad.fetch_add(1);
          }
        }
        if (i % 16 == 0) {
          const Error e = h.refresh();
          if (e != Error::none && !is_retryable(e)) bad.fetch_add(1);
        }
        std::this_thread::yield();
      }
    };
    std::thread t1([&] { read_loop(reader1, true); });
    std::thread t2([&] { read_loop(reader2, false); });
    std::thread t3([&] {
      for (int i = 0; !stop.load(std::memory_order_relaxed); ++i) {
        {
          Result<Mut<Box<Twin>>> m = i % 2 ? writer.poll_mut() : writer.try_mut(64);
          if (m.ok()) {
            if (!(*m)->sound()) bad.fetch_add(1);
            ++(*m)->a;  // a torn state that only the Mut may see
            ++(*m)->b;
            writes.fetch_add(1, std::memory_order_relaxed);
          } else if (!is_retryable(m.error())) {
            bad.fetch_add(1);
          }
        }
        if (i % 32 == 0) (void)writer.refresh();
        std::this_thread::yield();
      }
    });
    HardTwin h = root.take();
    // Relocate at least `relocations` times, and on until the borrowers have done
    // enough work meanwhile (or `max_relocations`).
    ASSERT_TRUE(wait_for([&] { return reads.load() > 0 && writes.load() > 0; }));
    const std::uint64_t reads0 = reads.load(), writes0 = writes.load();
    const auto enough = [&] {
      return done >= relocations && reads.load() >= reads0 + 200 && writes.load() >= writes0 + 200;
    };
    const auto deadline = Clock::now() + std::chrono::seconds(15);
    while (!enough() && done < max_relocations && Clock::now() < deadline) {
      Result<HardTwin> moved = try_stow(h, targets[(done + 1) % 3]);
      if (moved.ok()) {
        h = moved.take();
        ++done;
      } else if (moved.error() != Error::contended) {
        bad.fetch_add(1);
        break;
      }
      std::this_thread::yield();
    }
    EXPECT_GE(done, relocations);
    EXPECT_GT(reads.load(), reads0) << "reads during the relocations";
    EXPECT_GT(writes.load(), writes0) << "writes during the relocations";
    // Let the borrowers run on the last arc for a moment.
    const std::uint64_t r0 = reads.load();
    EXPECT_TRUE(wait_for([&] { return reads.load() >= r0 + 50; }));
    stop = true;
    t1.join();
    t2.join();
    t3.join();
    EXPECT_EQ(bad.load(), 0);
    EXPECT_GT(writes.load(), 0u);
    Result<Ref<Box<Twin>>> r = h.try_ref();
    ASSERT_TRUE(r.ok());
    EXPECT_EQ((*r)->a, writes.load()) << "no write was lost across relocations";
    EXPECT_EQ((*r)->b, writes.load());
  }
  EXPECT_EQ(Twin::destroyed.load(), done + 1) << "every copy destroyed once";
  EXPECT_EQ(p0.pack.stats().live, 0u);
  EXPECT_EQ(p1.pack.stats().live, 0u);
  EXPECT_EQ(p2.pack.stats().live, 0u);
}

struct Watch {
  SoftTwin s;
};

}  // namespace
}  // namespace swim::mem

template <>
struct swim::mem::stow_traits<swim::mem::Watch>
    : swim::mem::stow_members<swim::mem::Watch, &swim::mem::Watch::s> {};

namespace swim::mem {
namespace {

// Threads hold Softs and borrow through them (following the forwards), and now and
// then move their Soft to the end of the chain (upgrade, refresh, to_soft), while
// the main thread stows the object, and structures holding Softs to it, again and
// again. At the end the last Hard goes and every Soft reports Cleared.
TEST(ArcConcurrency, StowWhileOtherThreadsHoldSofts) {
  Arena p0(1 << 20), p1(1 << 20), p2(1 << 20);
  HoldRef targets[3] = {p0.ref(), p1.ref(), p2.ref()};
  Twin::destroyed = 0;
  constexpr int stows = 800;
  constexpr int max_stows = 4000;
  constexpr int threads = 3;
  std::atomic<bool> stop{false};
  std::atomic<int> bad{0}, finished{0};
  std::atomic<std::uint64_t> reads{0};
  HardTwin h = HardTwin::try_new(p0.ref(), 42u).take();
  HardTwin anchor = h.try_clone().take();  // keeps the first arc's forward alive
  std::vector<SoftTwin> softs;
  for (int t = 0; t < threads; ++t) softs.push_back(h.to_soft().take());
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      SoftTwin& s = softs[static_cast<std::size_t>(t)];
      for (int i = 0;; ++i) {
        const bool stopping = stop.load(std::memory_order_acquire);
        {
          Result<Ref<Box<Twin>>> r = (i % 2) ? s.poll_ref() : s.try_ref(64);
          if (r.ok()) {
            if (!(*r)->sound() || (*r)->a != 42) bad.fetch_add(1);
            reads.fetch_add(1, std::memory_order_relaxed);
          } else if (r.error() == Error::cleared) {
            if (stopping) break;
          } else if (!is_retryable(r.error())) {
            bad.fetch_add(1);
          }
        }
        if (i % 8 == 0) {
          Result<HardTwin> up = s.try_upgrade();
          if (up.ok()) {
            (void)up->refresh();
            Result<SoftTwin> fresh = up->to_soft();
            if (fresh.ok()) s = fresh.take();
          }
        }
        std::this_thread::yield();
      }
      finished.fetch_add(1);
    });
  }
  int done = 0;
  ASSERT_TRUE(wait_for([&] { return reads.load() >= static_cast<std::uint64_t>(threads); }));
  const std::uint64_t reads0 = reads.load();
  const auto deadline = Clock::now() + std::chrono::seconds(15);
  while ((done < stows || reads.load() < reads0 + 300) && done < max_stows &&
         Clock::now() < deadline) {
    HoldRef target = targets[(done + 1) % 3];
    Error e = Error::none;
    if (done % 4 == 3) {
      // A structure with a Soft: the Soft's stow follows or relocates.
      Result<Raw<Box<Watch>>> w = Raw<Box<Watch>>::try_new(target, Watch{h.to_soft().take()});
      Result<Raw<Box<Watch>>> moved = try_stow(*w, targets[done % 3]);
      if (!moved.ok()) e = moved.error();
    } else {
      Result<HardTwin> moved = try_stow(h, target);
      if (moved.ok()) h = moved.take();
      if (!moved.ok()) e = moved.error();
    }
    if (e == Error::none) {
      ++done;
    } else if (e != Error::contended) {
      bad.fetch_add(1);
      break;
    }
    std::this_thread::yield();
  }
  EXPECT_GE(done, stows);
  EXPECT_GT(reads.load(), reads0) << "reads during the stows";
  const std::uint64_t r0 = reads.load();
  EXPECT_TRUE(wait_for([&] { return reads.load() >= r0 + 30; }));
  anchor.reset();
  h.reset();  // the last strong reference (the threads' upgrades are transient)
  stop.store(true, std::memory_order_release);
  for (auto& th : pool) th.join();
  EXPECT_EQ(finished.load(), threads);
  EXPECT_EQ(bad.load(), 0);
  for (SoftTwin& s : softs) EXPECT_EQ(s.try_upgrade().error(), Error::cleared);
  softs.clear();
  EXPECT_EQ(p0.pack.stats().live, 0u);
  EXPECT_EQ(p1.pack.stats().live, 0u);
  EXPECT_EQ(p2.pack.stats().live, 0u);
}

// ---- Growth of a shared Buf by relocation ----------------------------------------------
// A writer borrows a Mut through its Hard and pushes; whenever the Buf cannot grow in
// place the arc relocates. Readers borrow through their own Hards and Softs (some
// refresh now and then) and must always see a prefix 0, 1, 2, ... of the pushes.
// At the end everything is freed (stubs included).
TEST(ArcConcurrency, ASharedBufGrowsByRelocationUnderReaders) {
  Arena p0(1 << 22);
  constexpr int threads = 3;
  constexpr std::uint64_t pushes = 3000;
  Hard<Buf<std::uint64_t>> writer =
      Hard<Buf<std::uint64_t>>::try_with_capacity(p0.ref(), 1).take();
  std::vector<Hard<Buf<std::uint64_t>>> hards;
  std::vector<Soft<Buf<std::uint64_t>>> softs;
  for (int t = 0; t < threads; ++t) {
    hards.push_back(writer.try_clone().take());
    softs.push_back(writer.to_soft().take());
  }
  std::atomic<bool> stop{false};
  std::atomic<int> bad{0};
  std::atomic<std::uint64_t> reads{0};
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      auto& h = hards[static_cast<std::size_t>(t)];
      auto& s = softs[static_cast<std::size_t>(t)];
      for (int i = 0; !stop.load(std::memory_order_acquire); ++i) {
        {
          Result<Ref<Buf<std::uint64_t>>> r =
              (i % 2 == 0) ? h.try_ref(256) : s.try_ref(256);
          if (r.ok()) {
            for (std::size_t k = 0; k < r->size(); ++k) {
              if ((*r)[k] != k) bad.fetch_add(1);
            }
            reads.fetch_add(1, std::memory_order_relaxed);
          } else if (!is_retryable(r.error())) {
            bad.fetch_add(1);
          }
        }
        if (i % 16 == 0) (void)h.refresh();
        // Refs are preferred over a waiting Mut: leave the writer gaps.
        std::this_thread::sleep_for(std::chrono::microseconds(5));
      }
    });
  }
  Raw<Box<int>> blocker;
  for (std::uint64_t k = 0; k < pushes; ++k) {
    Result<Mut<Buf<std::uint64_t>>> m = writer.mut();  // (waits: readers come and go)
    ASSERT_TRUE(m.ok()) << to_string(m.error());
    // Keep something on top now and then so that growth cannot stay in place.
    if (k % 64 == 0) blocker = Raw<Box<int>>::try_new(p0.ref(), 1).take();
    ASSERT_EQ(m->try_push(k), Error::none);
    if (k % 256 == 0) (void)writer.refresh();
  }
  ASSERT_TRUE(wait_for([&] { return reads.load() >= 100; }));
  stop.store(true, std::memory_order_release);
  for (auto& th : pool) th.join();
  EXPECT_EQ(bad.load(), 0);
  {
    Result<Ref<Buf<std::uint64_t>>> r = hards[0].try_ref();
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->size(), pushes);
  }
  hards.clear();
  writer.reset();
  for (auto& s : softs) EXPECT_EQ(s.try_upgrade().error(), Error::cleared);
  softs.clear();
  blocker.reset();
  EXPECT_EQ(p0.pack.stats().live, 0u) << "every stub and object freed";
}

// ---- A failed stow is invisible to other threads ------------------------------------
// A tree whose every node other threads hold Hards to and borrow from all the time.
// The main thread stows it into targets that run out part way, again and again, so
// that a failure often comes after whole subtrees were copied: the readers must
// never reach a copy (the relocations are published only when the whole stow
// succeeds), so each failed stow leaves the target empty and the tree as it was.
// Then a stow with room succeeds while they read, and they follow it.

struct QNode {
  std::uint64_t a = 0, b = 0;
  Hard<Box<QNode>> left, right;
};

}  // namespace
}  // namespace swim::mem

template <>
struct swim::mem::stow_traits<swim::mem::QNode>
    : swim::mem::stow_members<swim::mem::QNode, &swim::mem::QNode::a, &swim::mem::QNode::b,
                              &swim::mem::QNode::left, &swim::mem::QNode::right> {};

namespace swim::mem {
namespace {

using HardQ = Hard<Box<QNode>>;

// A full binary tree of `depth` levels, values in preorder from `next`; a clone of
// every node's Hard goes to `held`, at index value - 1.
HardQ make_qtree(HoldRef hold, int depth, std::uint64_t& next, std::vector<HardQ>& held) {
  if (depth == 0) return {};
  HardQ n = HardQ::try_new(hold).take();
  const std::uint64_t v = next++;
  held[v - 1] = n.try_clone().take();
  HardQ l = make_qtree(hold, depth - 1, next, held);
  HardQ r = make_qtree(hold, depth - 1, next, held);
  Result<Mut<Box<QNode>>> m = n.poll_mut();
  (*m)->a = (*m)->b = v;
  (*m)->left = std::move(l);
  (*m)->right = std::move(r);
  m->reset();
  return n;
}

TEST(ArcConcurrency, AFailedStowIsInvisibleToOtherThreads) {
  constexpr int depth = 6, nodes = (1 << depth) - 1;
  constexpr int threads = 3;
  constexpr std::size_t node_bytes = 8 + sizeof(ArcHeader<NoMeta>) + sizeof(QNode);
  Arena source(nodes * node_bytes + 64);
  std::vector<std::byte> dst(nodes * node_bytes + 64);
  std::vector<HardQ> held(nodes);  // a Hard to every node, for the readers
  std::uint64_t next = 1;
  HardQ root = make_qtree(source.ref(), depth, next, held);
  const std::byte* lo = dst.data();
  const std::byte* hi = dst.data() + dst.size();
  std::atomic<bool> stop{false}, in_failure_phase{true};
  std::atomic<int> bad{0}, seen_copy_early{0};
  std::atomic<std::uint64_t> reads{0}, reads_in_target{0};
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      unsigned x = 77u + static_cast<unsigned>(t);
      while (!stop.load(std::memory_order_acquire)) {
        x = x * 1103515245u + 12345u;
        const std::size_t k = (x >> 8) % held.size();
        Result<Ref<Box<QNode>>> r = held[k].poll_ref();
        if (!r.ok()) {
          if (!is_retryable(r.error())) bad.fetch_add(1);
          continue;
        }
        // Still failing after the Ref was taken: the successful stow had not begun.
        const bool failing = in_failure_phase.load(std::memory_order_acquire);
        const std::uint64_t want = k + 1;
        if ((*r)->a != want || (*r)->b != want) bad.fetch_add(1);
        const auto* p = reinterpret_cast<const std::byte*>(r->data());
        if (p >= lo && p < hi) {
          reads_in_target.fetch_add(1, std::memory_order_relaxed);
          if (failing) seen_copy_early.fetch_add(1);
        }
        reads.fetch_add(1, std::memory_order_relaxed);
      }
    });
  }
  ASSERT_TRUE(wait_for([&] { return reads.load() >= 100; }));
  int failed = 0;
  for (int round = 0; round < 20; ++round) {
    for (int n = 1 + round % 3; n < nodes; n += 3) {
      Pack<> target(Block{dst.data(), n * node_bytes + node_bytes - 8});
      Result<HardQ> r = try_stow(root, HoldRef::of(target));
      ASSERT_TRUE(r.error() == Error::out_of_memory || r.error() == Error::contended)
          << to_string(r.error());
      ASSERT_EQ(target.stats().live, 0u) << "n = " << n;
      ASSERT_EQ(source.pack.stats().live, static_cast<std::size_t>(nodes));
      ASSERT_FALSE(root.is_relocated());
      ++failed;
    }
  }
  const std::uint64_t reads_before = reads.load();
  in_failure_phase.store(false, std::memory_order_release);
  Pack<> target(Block{dst.data(), dst.size()});
  auto stow_retrying = [&]() -> Result<HardQ> {
    for (int i = 0;; ++i) {  // the readers' Refs may hold the lock off (contended)
      Result<HardQ> r = try_stow(root, HoldRef::of(target));
      if (r.ok() || r.error() != Error::contended || i == 1000) return r;
    }
  };
  Result<HardQ> moved = stow_retrying();
  ASSERT_TRUE(moved.ok()) << to_string(moved.error());
  EXPECT_TRUE(wait_for([&] { return reads_in_target.load() >= 100; }));
  stop.store(true, std::memory_order_release);
  for (auto& th : pool) th.join();
  EXPECT_EQ(bad.load(), 0);
  EXPECT_EQ(seen_copy_early.load(), 0) << "a reader reached a copy of a failed stow";
  EXPECT_GT(reads_before, 100u);
  EXPECT_GT(failed, 0);
  EXPECT_EQ(target.stats().live, static_cast<std::size_t>(nodes));
  held.clear();
  EXPECT_EQ(source.pack.stats().live, 0u) << "the stubs go with the last stale Hards";
  moved->reset();
  EXPECT_EQ(target.stats().live, 0u);
}

}  // namespace
}  // namespace swim::mem
