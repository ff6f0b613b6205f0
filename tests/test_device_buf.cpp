// DeviceBuf (include/swim/mem/residents/device_buf.hpp) and compaction
// (ExtentArena::try_compact): borrowed buffers never move, unborrowed ones keep
// their contents, free space becomes one extent, a failed copy or allocation at
// any step leaves every buffer valid, and buffers alive at the arena's end.
// The arena runs over GuardedPages (PROT_NONE memory reached only through its
// copy engine, as device memory is), so the arena provably never touches it.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <random>
#include <stdexcept>
#include <thread>
#include <vector>

#include "support/guarded_pages.hpp"
#include "swim/mem.hpp"

#if defined(__SANITIZE_ADDRESS__) && __has_include(<sanitizer/lsan_interface.h>)
#include <sanitizer/lsan_interface.h>
#define SWIM_MEM_TEST_LSAN_DISABLE __lsan::ScopedDisabler lsan_off
#else
#define SWIM_MEM_TEST_LSAN_DISABLE (void)0
#endif

namespace swim::mem::testing {
namespace {

constexpr std::size_t kGranule = 256;
using Arena = ExtentArena<GuardedPages>;
using Buf = DeviceBuf<std::uint32_t, Arena>;

ArenaOptions one_range(std::size_t bytes) {
  ArenaOptions o;
  o.granule = kGranule;
  o.initial_bytes = bytes;
  o.growth_bytes = bytes;
  o.max_bytes = bytes;  // one range: compaction's effect is visible in it
  return o;
}

// Fill a buffer with a pattern of its own, through the copy engine.
void fill(Buf& b, std::uint32_t seed) {
  std::vector<std::uint32_t> v(b.size());
  for (std::size_t i = 0; i < v.size(); ++i) v[i] = seed * 2654435761u + static_cast<std::uint32_t>(i);
  auto m = b.try_borrow_mut();
  ASSERT_TRUE(m.ok());
  GuardedPages::upload(m->data(), v.data(), b.size_bytes());
}

bool holds_pattern(const Buf& b, std::uint32_t seed) {
  std::vector<std::uint32_t> v(b.size());
  auto r = b.try_borrow();
  if (!r.ok()) return false;
  GuardedPages::download(v.data(), r->data(), b.size_bytes());
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (v[i] != seed * 2654435761u + static_cast<std::uint32_t>(i)) return false;
  }
  return true;
}

const void* where(const Buf& b) { return b.try_borrow()->data(); }

// Buffers of mixed sizes with every other one freed: a fragmented range.
struct Fragmented {
  explicit Fragmented(Arena& arena, int n = 24) {
    std::mt19937 rng(5);
    std::vector<Buf> all;
    for (int i = 0; i < n; ++i) {
      Result<Buf> b = Buf::try_make(arena, 1 + rng() % 3000);
      EXPECT_TRUE(b.ok());
      all.push_back(b.take());
    }
    for (int i = 0; i < n; ++i) {
      if (i % 2 == 0) {
        kept.push_back(std::move(all[i]));
        seeds.push_back(static_cast<std::uint32_t>(i + 1));
        fill(kept.back(), seeds.back());
      }
    }
  }
  bool all_intact() const {
    for (std::size_t i = 0; i < kept.size(); ++i) {
      if (!holds_pattern(kept[i], seeds[i])) return false;
    }
    return true;
  }
  std::vector<Buf> kept;
  std::vector<std::uint32_t> seeds;
};

TEST(DeviceBuf, BorrowsAreExclusiveOrShared) {
  Arena arena(GuardedPages{}, one_range(1 << 20));
  Buf b = Buf::try_make(arena, 1000).take();
  EXPECT_EQ(b.size(), 1000u);
  EXPECT_EQ(b.capacity_bytes(), 4096u) << "4000 bytes take 16 granules of 256";
  {
    auto r1 = b.try_borrow();
    auto r2 = b.try_borrow();
    ASSERT_TRUE(r1.ok() && r2.ok());
    EXPECT_EQ(r1->data(), r2->data());
    EXPECT_EQ(b.try_borrow_mut().error(), Error::aliased);
    EXPECT_EQ(b.try_release(), Error::aliased) << "a borrowed buffer is not freed";
  }
  {
    auto m = b.try_borrow_mut();
    ASSERT_TRUE(m.ok());
    EXPECT_EQ(b.try_borrow().error(), Error::aliased);
    EXPECT_EQ(b.try_borrow_mut().error(), Error::aliased);
  }
  EXPECT_FALSE(b.borrowed());
  Buf empty;
  EXPECT_EQ(empty.try_borrow().error(), Error::invalid_argument);
  EXPECT_EQ(Buf::try_make(arena, ~std::size_t(0) / 2).error(), Error::oversized);
  EXPECT_EQ(Buf::try_make(arena, (1 << 20) / 4 + 1).error(), Error::oversized)
      << "more than the arena may ever hold";
  EXPECT_EQ(Buf::try_make(arena, (1 << 20) / 4).error(), Error::out_of_memory)
      << "the whole range, while a buffer is in it";
  EXPECT_EQ(arena.stats().live, 1u) << "failed makes left nothing behind";
  EXPECT_EQ(b.try_release(), Error::none);
  EXPECT_FALSE(b);
  EXPECT_EQ(arena.stats().live, 0u);
}

TEST(DeviceBuf, CompactionMovesUnborrowedBuffersAndKeepsTheirContents) {
  Arena arena(GuardedPages{}, one_range(4 << 20));
  Fragmented f(arena);
  const Stats s = arena.stats();
  const std::size_t free_before = *arena.largest_free_extent();
  ASSERT_LT(free_before, s.bytes_free) << "the set-up is fragmented";
  const void* first = where(f.kept[0]);
  Result<ArenaCompaction> c = arena.try_compact();
  ASSERT_TRUE(c.ok()) << static_cast<int>(c.error());
  EXPECT_GT(c->buffers_moved, 0u);
  EXPECT_GT(c->bytes_copied, 0u);
  EXPECT_EQ(c->buffers_borrowed, 0u);
  EXPECT_TRUE(f.all_intact());
  EXPECT_EQ(first, where(f.kept[0])) << "the lowest buffer had nowhere lower to go";
  EXPECT_EQ(c->largest_free_after, s.bytes_free) << "free space is one extent";
  EXPECT_EQ(*arena.largest_free_extent(), arena.stats().bytes_free);
  EXPECT_EQ(arena.stats().live, s.live);
  EXPECT_EQ(arena.stats().bytes_in_use, s.bytes_in_use);
  // A second compaction has nothing to do.
  Result<ArenaCompaction> again = arena.try_compact();
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->buffers_moved, 0u);
}

TEST(DeviceBuf, BorrowedBuffersNeverMove) {
  Arena arena(GuardedPages{}, one_range(4 << 20));
  Fragmented f(arena);
  std::vector<const void*> before;
  for (const Buf& b : f.kept) before.push_back(where(b));
  {
    auto pinned = f.kept[3].try_borrow();  // a reader (a kernel) is using it
    auto writer = f.kept[7].try_borrow_mut();
    Result<ArenaCompaction> c = arena.try_compact();
    ASSERT_TRUE(c.ok());
    EXPECT_EQ(c->buffers_borrowed, 2u);
    EXPECT_EQ(pinned->data(), before[3]);
    EXPECT_EQ(writer->data(), before[7]);
    EXPECT_EQ(where(f.kept[3]), before[3]);
  }
  EXPECT_TRUE(f.all_intact());
  // Unpinned now: a later compaction finishes the job.
  Result<ArenaCompaction> c = arena.try_compact();
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(*arena.largest_free_extent(), arena.stats().bytes_free);
  EXPECT_TRUE(f.all_intact());
}

TEST(DeviceBuf, PlainExtentsStayPutAndBoundTheSlide) {
  Arena arena(GuardedPages{}, one_range(1 << 20));
  Buf a = Buf::try_make(arena, 64).take();        // 256 bytes at the start
  const Block wall = *arena.try_allocate(Layout{kGranule, kGranule});
  Buf b = Buf::try_make(arena, 64).take();
  Buf c = Buf::try_make(arena, 64).take();
  fill(c, 9);
  ASSERT_EQ(a.try_release(), Error::none);
  ASSERT_EQ(b.try_release(), Error::none);
  const void* c_before = where(c);
  ASSERT_TRUE(arena.try_compact().ok());
  EXPECT_NE(where(c), c_before);
  EXPECT_EQ(static_cast<const char*>(where(c)), static_cast<const char*>(wall.ptr) + kGranule)
      << "c slides down to the plain extent, not past it";
  EXPECT_TRUE(holds_pattern(c, 9));
  EXPECT_EQ(arena.try_deallocate(wall), Error::none);
}

// A copy engine that fails at its k-th call (and counts its calls).
struct FailingCopy {
  GuardedPages* engine;
  int fail_at;
  int calls = 0;
  Error operator()(void* to, const void* from, std::size_t n) {
    if (++calls == fail_at) return Error::unsupported;
    return engine->copy(to, from, n);
  }
};

TEST(DeviceBuf, AFailedCopyAtAnyStepLeavesEveryBufferValid) {
  // Count the copies of a full compaction, then fail each one in turn.
  int total = 0;
  {
    Arena arena(GuardedPages{}, one_range(4 << 20));
    Fragmented f(arena);
    GuardedPages engine;
    FailingCopy counting{&engine, -1};
    ASSERT_TRUE(arena.try_compact(counting).ok());
    total = counting.calls;
  }
  ASSERT_GT(total, 3);
  for (int k = 1; k <= total; ++k) {
    Arena arena(GuardedPages{}, one_range(4 << 20));
    Fragmented f(arena);
    const Stats s = arena.stats();
    GuardedPages engine;
    FailingCopy failing{&engine, k};
    Result<ArenaCompaction> c = arena.try_compact(failing);
    EXPECT_EQ(c.error(), Error::unsupported) << "copy " << k;
    EXPECT_TRUE(f.all_intact()) << "copy " << k;
    EXPECT_EQ(arena.stats().live, s.live) << "copy " << k << ": no extent leaked or lost";
    EXPECT_EQ(arena.stats().bytes_in_use, s.bytes_in_use) << "copy " << k;
    // The arena is consistent: a clean compaction completes the job.
    ASSERT_TRUE(arena.try_compact().ok()) << "copy " << k;
    EXPECT_EQ(*arena.largest_free_extent(), arena.stats().bytes_free) << "copy " << k;
    EXPECT_TRUE(f.all_intact()) << "copy " << k;
  }
}

// A buffer whose hole below is shorter than itself (the move would overlap) and a
// range with no free extent to stage it in: [hole of 1][big 40][filler 87].
struct NearlyFull {
  explicit NearlyFull(bool host_staging)
      : arena(GuardedPages{}, options(host_staging)),
        small(Buf::try_make(arena, 64).take()),
        big(Buf::try_make(arena, 64 * 40).take()),
        filler(Buf::try_make(arena, 64 * 87).take()) {
    fill(big, 3);
    EXPECT_EQ(small.try_release(), Error::none);
    at = where(big);
  }
  static ArenaOptions options(bool host_staging) {
    ArenaOptions o = one_range(128 * kGranule);
    o.host_staging = host_staging;
    return o;
  }
  Arena arena;
  Buf small, big, filler;
  const void* at = nullptr;
};

TEST(DeviceBuf, WithoutStagingRoomABufferStaysWhereItIs) {
  NearlyFull f(false);
  Result<ArenaCompaction> c = f.arena.try_compact();
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->buffers_unstaged, 1u);
  EXPECT_EQ(where(f.big), f.at);
  EXPECT_TRUE(holds_pattern(f.big, 3));
  EXPECT_EQ(f.arena.stats().live, 2u);
  // With room to stage it in the arena it moves: two copies, then one free extent.
  ASSERT_EQ(f.filler.try_release(), Error::none);
  c = f.arena.try_compact();
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->buffers_moved, 2u) << "staged, then down";
  EXPECT_EQ(*f.arena.largest_free_extent(), f.arena.stats().bytes_free);
  EXPECT_TRUE(holds_pattern(f.big, 3));
}

TEST(DeviceBuf, ANearlyFullArenaStagesThroughTheHost) {
  NearlyFull f(true);
  Result<ArenaCompaction> c = f.arena.try_compact();
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->buffers_unstaged, 0u);
  EXPECT_EQ(c->buffers_moved, 2u) << "big down by one granule, then filler";
  EXPECT_EQ(static_cast<const char*>(where(f.big)), static_cast<const char*>(f.at) - kGranule);
  EXPECT_TRUE(holds_pattern(f.big, 3));
  EXPECT_EQ(*f.arena.largest_free_extent(), f.arena.stats().bytes_free);
  EXPECT_EQ(f.arena.stats().bytes_free, kGranule);
}

TEST(DeviceBuf, AFailedCopyThroughTheHostLeavesTheBufferValid) {
  // Copies of the host path: out, in (then filler's slide). Fail each, and fail
  // the copy in twice running (the buffer then goes back to its old extent).
  for (int k = 1; k <= 3; ++k) {
    for (bool twice : {false, true}) {
      NearlyFull f(true);
      GuardedPages engine;
      int calls = 0;
      auto failing = [&](void* to, const void* from, std::size_t n) {
        ++calls;
        if (calls == k || (twice && calls == k + 1)) return Error::unsupported;
        return engine.copy(to, from, n);
      };
      Result<ArenaCompaction> c = f.arena.try_compact(failing);
      // A single failed copy in is retried from the host copy and succeeds.
      EXPECT_EQ(c.ok(), k == 2 && !twice) << k << " " << twice;
      EXPECT_TRUE(holds_pattern(f.big, 3)) << k << " " << twice;
      EXPECT_EQ(f.arena.stats().live, 2u) << k << " " << twice;
      ASSERT_TRUE(f.arena.try_compact().ok()) << k << " " << twice;
      EXPECT_TRUE(holds_pattern(f.big, 3)) << k << " " << twice;
      EXPECT_EQ(*f.arena.largest_free_extent(), f.arena.stats().bytes_free) << k << " " << twice;
    }
  }
}

TEST(DeviceBuf, BuffersOutlivingTheArenaAreReportedAndOrphaned) {
  static int reports = 0;
  reports = 0;
  const leak_handler previous = set_leak_handler([](const LeakReport&) { ++reports; });
  Buf survivor;
  {
    Arena arena(GuardedPages{}, one_range(1 << 20));
    survivor = Buf::try_make(arena, 100).take();
  }
  EXPECT_EQ(reports, 1) << "the arena reported the live extent";
  EXPECT_EQ(survivor.arena(), nullptr);
  EXPECT_EQ(survivor.try_borrow().error(), Error::cleared);
  EXPECT_EQ(survivor.try_borrow_mut().error(), Error::cleared);
  EXPECT_EQ(survivor.try_release(), Error::none) << "frees its header only";
  set_leak_handler(previous);
}

TEST(DeviceBuf, DestroyedWhileBorrowedIsReportedNotFreed) {
  static int reports = 0;
  reports = 0;
  const leak_handler previous = set_leak_handler([](const LeakReport&) { ++reports; });
  {
    Arena arena(GuardedPages{}, one_range(1 << 20));
    Buf* b = nullptr;
    {
      // The header is leaked on purpose below: keep LeakSanitizer's exit check quiet.
      SWIM_MEM_TEST_LSAN_DISABLE;
      b = new Buf(Buf::try_make(arena, 100).take());
    }
    auto m = b->try_borrow_mut();
    ASSERT_TRUE(m.ok());
    void* p = m->data();
    delete b;  // misuse: the borrow is still alive
    EXPECT_EQ(reports, 1);
    EXPECT_EQ(arena.stats().live, 1u) << "memory in use by a borrow is not handed out again";
    EXPECT_EQ(m->data(), p) << "the borrow stays valid";
  }
  set_leak_handler(previous);
  EXPECT_EQ(reports, 2) << "and the arena reports the extent at its end";
}

// Many readers borrow (host memory here, read directly) while one thread makes,
// frees and compacts: a borrowed buffer is never moved under its reader, and an
// unborrowed one is read only after its move completed.
TEST(DeviceBuf, ReadersBorrowWhileAnotherThreadCompacts) {
  using HostArena = ExtentArena<OsPages>;
  using HostBuf = DeviceBuf<std::uint32_t, HostArena>;
  HostArena arena(OsPages{}, one_range(8 << 20));
  std::vector<HostBuf> kept;
  std::mt19937 rng(5);
  for (int i = 0; i < 40; ++i) {
    HostBuf b = HostBuf::try_make(arena, 1 + rng() % 3000).take();
    if (i % 2 == 0) {
      auto m = b.try_borrow_mut();
      for (std::size_t k = 0; k < b.size(); ++k) m->data()[k] = static_cast<std::uint32_t>(i * 100000 + k);
    }
    if (i % 2 == 0) kept.push_back(std::move(b));
  }
  std::atomic<bool> stop{false};
  std::atomic<int> bad{0}, borrowed{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 2; ++t) {
    readers.emplace_back([&, t] {
      std::mt19937 r2(static_cast<unsigned>(t));
      while (!stop.load()) {
        const std::size_t i = r2() % kept.size();
        auto r = kept[i].try_borrow();
        if (!r.ok()) {
          if (r.error() != Error::relocating && r.error() != Error::contended) ++bad;
          continue;
        }
        ++borrowed;
        const std::size_t last = r->size() - 1;
        if (r->data()[0] != i * 2 * 100000 || r->data()[last] != i * 2 * 100000 + last) ++bad;
      }
    });
  }
  std::vector<HostBuf> churn;
  // At least 300 rounds, and on until the readers have borrowed a good many times
  // (threads start late on a busy machine), within a bound.
  for (int round = 0; round < 300 || (borrowed.load() < 1000 && round < 1000000); ++round) {
    if (churn.size() < 8) {
      Result<HostBuf> b = HostBuf::try_make(arena, 1 + rng() % 2000);
      if (b.ok()) churn.push_back(b.take());
    } else {
      churn.erase(churn.begin() + static_cast<long>(rng() % churn.size()));
    }
    if (!arena.try_compact().ok()) ++bad;
  }
  stop = true;
  for (auto& t : readers) t.join();
  EXPECT_EQ(bad.load(), 0);
  EXPECT_GT(borrowed.load(), 0);
}

// ---- Found by an adversarial review -----------------------------------------------------

TEST(DeviceBufRegressions, ABorrowOutlivingBothTheArenaAndTheBufferIsSafe) {
  static int reports = 0;
  reports = 0;
  const leak_handler previous = set_leak_handler([](const LeakReport&) { ++reports; });
  auto* arena = new Arena(GuardedPages{}, one_range(1 << 20));
  Buf* b = nullptr;
  {
    SWIM_MEM_TEST_LSAN_DISABLE;  // the header stays with the borrow, then leaks
    b = new Buf(Buf::try_make(*arena, 100).take());
  }
  {
    auto ref = b->try_borrow();
    ASSERT_TRUE(ref.ok());
    delete arena;  // orphans the buffer (reported: one live extent)
    EXPECT_EQ(b->try_release(), Error::aliased) << "still borrowed: the header stays";
    delete b;      // reported, header left to the borrow
  }                // the borrow ends on a live header
  set_leak_handler(previous);
  EXPECT_EQ(reports, 2);
}

TEST(DeviceBufRegressions, AThrowingCopyIsAnErrorAndUnpinsTheBuffer) {
  Arena arena(GuardedPages{}, one_range(4 << 20));
  Fragmented f(arena);
  const Stats s = arena.stats();
  Result<ArenaCompaction> c = arena.try_compact([](void*, const void*, std::size_t) -> Error {
    throw std::runtime_error("copy engine on fire");
  });
  EXPECT_EQ(c.error(), Error::unsupported);
  for (const Buf& b : f.kept) EXPECT_FALSE(b.borrowed());
  EXPECT_EQ(arena.stats().live, s.live) << "the new extent was given back";
  EXPECT_TRUE(f.all_intact());
  ASSERT_TRUE(arena.try_compact().ok());
  EXPECT_TRUE(f.all_intact());
}

TEST(DeviceBufRegressions, ACopyErrorIsReturnedWhateverItsCode) {
  // A copy failing with out_of_memory is the copy's failure, not "no staging room".
  NearlyFull f(true);
  Result<ArenaCompaction> c = f.arena.try_compact(
      [](void*, const void*, std::size_t) { return Error::out_of_memory; });
  EXPECT_EQ(c.error(), Error::out_of_memory);
  EXPECT_EQ(where(f.big), f.at);
  EXPECT_TRUE(holds_pattern(f.big, 3));
}

struct alignas(1024) Wide {
  std::uint32_t v[256];
};

TEST(DeviceBufRegressions, MovesKeepTheElementAlignment) {
  using WideBuf = DeviceBuf<Wide, Arena>;
  Arena arena(GuardedPages{}, one_range(1 << 20));
  const Block plain = *arena.try_allocate(Layout{kGranule, kGranule});  // base + 0
  WideBuf gone = WideBuf::try_make(arena, 1).take();
  WideBuf b = WideBuf::try_make(arena, 3).take();
  ASSERT_EQ(gone.try_release(), Error::none);
  ASSERT_TRUE(arena.try_compact().ok());
  auto r = b.try_borrow();
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(r->data()) % alignof(Wide), 0u);
  EXPECT_EQ(arena.try_deallocate(plain), Error::none);
}

TEST(DeviceBufRegressions, AMovableExtentIsNotFreedAsAPlainOne) {
  Arena arena(GuardedPages{}, one_range(1 << 20));
  Buf b = Buf::try_make(arena, 64).take();
  const void* p = where(b);
  EXPECT_EQ(arena.try_deallocate(Block{const_cast<void*>(p), kGranule}), Error::foreign_pointer);
  EXPECT_EQ(arena.stats().live, 1u);
  EXPECT_EQ(b.try_release(), Error::none);
}

TEST(DeviceBufRegressions, MoveAssigningOverABorrowedBufferIsReported) {
  static int reports = 0;
  reports = 0;
  const leak_handler previous = set_leak_handler([](const LeakReport&) { ++reports; });
  {
    Arena arena(GuardedPages{}, one_range(1 << 20));
    Buf a;
    {
      SWIM_MEM_TEST_LSAN_DISABLE;  // a's old header is kept for its borrow, then leaks
      a = Buf::try_make(arena, 10).take();
    }
    Buf b = Buf::try_make(arena, 20).take();
    {
      auto ref = a.try_borrow();
      ASSERT_TRUE(ref.ok());
      a = std::move(b);
      EXPECT_EQ(reports, 1) << "the replaced buffer is reported, not dropped silently";
    }
    EXPECT_EQ(a.size(), 20u);
  }
  set_leak_handler(previous);
  EXPECT_EQ(reports, 2) << "and its extent at the arena's end";
}

TEST(DeviceBufRegressions, AnEmptyBufferIsOrphanedLikeAnyOther) {
  static int reports = 0;
  reports = 0;
  const leak_handler previous = set_leak_handler([](const LeakReport&) { ++reports; });
  Buf empty;
  {
    Arena arena(GuardedPages{}, one_range(1 << 20));
    empty = Buf::try_make(arena, 0).take();
    EXPECT_EQ(empty.size(), 0u);
    EXPECT_TRUE(empty.try_borrow().ok());
  }
  set_leak_handler(previous);
  EXPECT_EQ(empty.arena(), nullptr);
  EXPECT_EQ(empty.try_borrow().error(), Error::cleared);
  EXPECT_EQ(empty.try_release(), Error::none);
}

}  // namespace
}  // namespace swim::mem::testing
