// Adversarial tests of the general-purpose allocation: SizeClasses
// (include/swim/mem/holds/size_classes.hpp: classes, hunks, retirement of empty
// hunks, runs) and try_malloc / try_free (include/swim/mem/holds/process_hold.hpp,
// src/process_hold.cpp) fed bad sizes, bad alignments, double and foreign frees,
// thread exits at odd times and concurrent storms. The comments marked "Found"
// name a defect this review found, fixed since; the test below each guards it.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include "support/arena.hpp"
#include "swim/mem.hpp"

namespace swim::mem::testing {
namespace {

using Table = detail::SizeClassTable;
using Pages = SourceHeap<OsPages, concurrent>;
using Hunk = detail::ClassHunk<concurrent>;
constexpr std::size_t kMax = ~std::size_t(0);

Hunk* hunk_of(const void* object) {
  return static_cast<Hunk*>(
      detail::tag_control(detail::tag_of<concurrent>(const_cast<void*>(object)).load(order::relaxed)));
}

// ---------------------------------------------------------------------------
// try_malloc / try_free: sizes and alignments

TEST(AttackProcessHold, BadSizesAndAlignmentsAreErrorsOrObjects) {
  flush_thread_cache();
  const Stats before = process_hold_stats();
  std::vector<void*> got;
  // Sizes that must give objects with at least that capacity.
  for (std::size_t n : {std::size_t(0), std::size_t(1), std::size_t(7), std::size_t(8), std::size_t(9),
                        std::size_t(1015), std::size_t(1016), std::size_t(1017), std::size_t(1023),
                        std::size_t(1024), std::size_t(1025), std::size_t(1032), std::size_t(1033),
                        Table::max_object - 1, Table::max_object, Table::max_object + 1,
                        Table::max_object + 8, std::size_t(1) << 20}) {
    for (std::size_t a : {std::size_t(1), std::size_t(2), std::size_t(8), std::size_t(16), std::size_t(32),
                          std::size_t(4096)}) {
      const Result<Block> r = try_malloc(n, a);
      ASSERT_TRUE(r) << n << " align " << a;
      EXPECT_GE(r->size, n == 0 ? 1 : n);
      EXPECT_EQ(r->address() % a, 0u) << n << " align " << a;
      EXPECT_EQ(r->address() % 16, 0u);
      std::memset(r->ptr, 0xA5, n == 0 ? 1 : n);
      got.push_back(r->ptr);
    }
  }
  // Alignments that are not powers of two, for every size regime.
  for (std::size_t n : {std::size_t(0), std::size_t(16), std::size_t(1024), std::size_t(1025),
                        Table::max_object + 1}) {
    for (std::size_t a : {std::size_t(0), std::size_t(3), std::size_t(24), std::size_t(48), kMax,
                          (kMax >> 1) + 2}) {
      const Result<Block> r = try_malloc(n, a);
      ASSERT_FALSE(r) << n << " align " << a;
      EXPECT_EQ(r.error(), Error::misaligned) << n << " align " << a;
    }
  }
  // Alignments past Layout::max_align.
  for (std::size_t a : {Layout::max_align << 1, std::size_t(1) << 63}) {
    const Result<Block> r = try_malloc(16, a);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error(), Error::misaligned);
  }
  // Sizes no heap can give: errors, nothing aborts.
  for (std::size_t n : {kMax, kMax - 1, kMax - 7, kMax - 8, kMax - 16, kMax - 64, kMax - 4096,
                        kMax / 2, std::size_t(1) << 62}) {
    for (std::size_t a : {std::size_t(16), std::size_t(4096)}) {
      const Result<Block> r = try_malloc(n, a);
      ASSERT_FALSE(r) << n;
      EXPECT_TRUE(r.error() == Error::oversized || r.error() == Error::out_of_memory) << n;
    }
  }
  for (void* p : got) ASSERT_EQ(try_free(p), Error::none);
  flush_thread_cache();
  const Stats after = process_hold_stats();
  EXPECT_EQ(after.live, before.live);
  EXPECT_EQ(after.bytes_in_use, before.bytes_in_use);
}

// Every size up to past the class table's edge gets its class capacity and
// goes back; the statistics come back exactly.
TEST(AttackProcessHold, EverySizeAroundTheTableEdgeRoundTrips) {
  flush_thread_cache();
  const Stats before = process_hold_stats();
  std::vector<void*> got;
  for (std::size_t n = 0; n <= 1100; ++n) {
    const Result<Block> r = try_malloc(n);
    ASSERT_TRUE(r) << n;
    const std::size_t want = n == 0 ? 1 : n;
    EXPECT_GE(r->size, want);
    EXPECT_EQ(r->size, Table::stride(Table::of_object(want)) - 8) << n;
    std::memset(r->ptr, int(n), r->size);
    got.push_back(r->ptr);
  }
  std::set<void*> distinct(got.begin(), got.end());
  EXPECT_EQ(distinct.size(), got.size());
  for (void* p : got) ASSERT_EQ(try_free(p), Error::none);
  flush_thread_cache();
  EXPECT_EQ(process_hold_stats().live, before.live);
  EXPECT_EQ(process_hold_stats().bytes_in_use, before.bytes_in_use);
}

// ---------------------------------------------------------------------------
// try_free: double and foreign frees

TEST(AttackProcessHold, DoubleFreesAreSeenWhereverTheObjectIs) {
  flush_thread_cache();
  const Stats before = process_hold_stats();
  for (std::size_t n : {std::size_t(1), std::size_t(100), std::size_t(1024), std::size_t(1025),
                        std::size_t(20000), Table::max_object}) {
    // In the cache.
    Result<Block> r = try_malloc(n);
    ASSERT_TRUE(r);
    EXPECT_EQ(try_free(r->ptr), Error::none);
    EXPECT_EQ(try_free(r->ptr), Error::double_free) << n;
    // Back in its hunk (the cache flushed).
    flush_thread_cache();
    EXPECT_EQ(try_free(r->ptr), Error::double_free) << n;
    // Flushed by another thread that freed it.
    r = try_malloc(n);
    ASSERT_TRUE(r);
    void* p = r->ptr;
    Error first = Error::none;
    std::thread([&] { first = try_free(p); }).join();
    EXPECT_EQ(first, Error::none);
    EXPECT_EQ(try_free(p), Error::double_free) << n;
    // Many times over: still reported, the cache not corrupted.
    for (int i = 0; i < 100; ++i) EXPECT_EQ(try_free(p), Error::double_free);
  }
  // The cache still hands out distinct objects.
  std::set<void*> seen;
  std::vector<void*> got;
  for (int i = 0; i < 200; ++i) {
    const Result<Block> r = try_malloc(100);
    ASSERT_TRUE(r);
    EXPECT_TRUE(seen.insert(r->ptr).second);
    got.push_back(r->ptr);
  }
  for (void* p : got) EXPECT_EQ(try_free(p), Error::none);
  flush_thread_cache();
  EXPECT_EQ(process_hold_stats().live, before.live);
  EXPECT_EQ(process_hold_stats().bytes_in_use, before.bytes_in_use);
}

TEST(AttackProcessHold, ForeignPointersAreRefused) {
  flush_thread_cache();
  const Stats before = process_hold_stats();
  // malloc's blocks of many sizes (the word in front is glibc's own chunk
  // header, whose low six bits never read as a ClassHunk kind). Not under the
  // sanitizers: their allocators put other words there (some crash try_free,
  // which reads the word in front and follows it: undefined behaviour, as
  // process_hold.hpp says).
#if !defined(__SANITIZE_THREAD__) && !defined(__SANITIZE_ADDRESS__)
  for (std::size_t n = 1; n < 5000; n += 7) {
    void* m = std::malloc(n);
    ASSERT_NE(m, nullptr);
    EXPECT_EQ(try_free(m), Error::foreign_pointer) << n;
    std::free(m);
  }
#endif
  // A stack buffer whose word in front is zero, or all ones but the kind bits.
  alignas(16) std::uint64_t stack[4] = {0, 0, 0, 0};
  EXPECT_EQ(try_free(&stack[1]), Error::foreign_pointer);
  EXPECT_EQ(try_free(&stack[2]), Error::foreign_pointer);
  // Misaligned pointers into a live object, and an interior one.
  const Result<Block> r = try_malloc(256);
  ASSERT_TRUE(r);
  std::memset(r->ptr, 0, r->size);
  auto* c = static_cast<char*>(r->ptr);
  for (int off : {1, 2, 3, 4, 5, 7}) EXPECT_EQ(try_free(c + off), Error::foreign_pointer) << off;
  EXPECT_EQ(try_free(c + 16), Error::foreign_pointer);
  EXPECT_EQ(try_free(c + 64), Error::foreign_pointer);
  EXPECT_EQ(try_free(r->ptr), Error::none);
  // Objects of another SizeClasses hold, live.
  Arena arena(4 << 20);
  ExtentHeap<concurrent> heap(arena.block(), 4096);
  SizeClasses<ExtentHeap<concurrent>> other(heap);
  for (std::size_t n : {std::size_t(16), std::size_t(1000), std::size_t(40000)}) {
    const Result<Block> o = other.try_allocate(n, 16);
    ASSERT_TRUE(o);
    EXPECT_EQ(try_free(o->ptr), Error::foreign_pointer) << n;
    EXPECT_EQ(other.stats().live, 1u);
    EXPECT_EQ(other.try_deallocate(*o), Error::none);
  }
  // A zero-size object of another hold (its tag names that hold).
  const Result<Block> z = other.try_allocate(0, 16);
  ASSERT_TRUE(z);
  EXPECT_EQ(try_free(z->ptr), Error::foreign_pointer);
  EXPECT_EQ(other.try_deallocate(*z), Error::none);
  flush_thread_cache();
  EXPECT_EQ(process_hold_stats().live, before.live);
  EXPECT_EQ(process_hold_stats().bytes_in_use, before.bytes_in_use);
}

// Found (low): try_free of a *freed* object of another SizeClasses hold says
// double_free, not foreign_pointer: free_slow (src/process_hold.cpp) answers
// double_free for any tag of kind freed before checking whose the hunk is.
TEST(AttackProcessHold, AFreedObjectOfAnotherHoldIsForeign) {
  Arena arena(4 << 20);
  ExtentHeap<concurrent> heap(arena.block(), 4096);
  SizeClasses<ExtentHeap<concurrent>> other(heap);
  const Result<Block> o = other.try_allocate(100, 16);
  ASSERT_TRUE(o);
  ASSERT_EQ(other.try_deallocate(*o), Error::none);
  EXPECT_EQ(try_free(o->ptr), Error::foreign_pointer);
}

// A thread that never allocated frees objects, exits at once: nothing is lost.
TEST(AttackProcessHold, FreeOnlyThreadsThatExitAtOnceLoseNothing) {
  flush_thread_cache();
  const Stats before = process_hold_stats();
  for (int round = 0; round < 20; ++round) {
    std::vector<void*> got;
    for (int i = 0; i < 300; ++i) {
      const Result<Block> r = try_malloc(std::size_t(1) + (i * 37) % 3000);
      ASSERT_TRUE(r);
      got.push_back(r->ptr);
    }
    std::vector<std::thread> ts;
    for (int t = 0; t < 3; ++t) {
      ts.emplace_back([&, t] {
        for (std::size_t i = t; i < got.size(); i += 3) EXPECT_EQ(try_free(got[i]), Error::none);
      });
    }
    for (auto& th : ts) th.join();
  }
  // A thread that flushes at odd times, and one that only flushes.
  std::thread([] {
    flush_thread_cache();
    void* p = try_malloc(10)->ptr;
    flush_thread_cache();
    flush_thread_cache();
    EXPECT_EQ(try_free(p), Error::none);
    flush_thread_cache();
    EXPECT_EQ(try_free(p), Error::double_free);
  }).join();
  std::thread([] { flush_thread_cache(); }).join();
  flush_thread_cache();
  EXPECT_EQ(process_hold_stats().live, before.live);
  EXPECT_EQ(process_hold_stats().bytes_in_use, before.bytes_in_use);
}

// A thread_local object constructed before the thread's first slow path is
// destroyed after the cache's exit flush (CacheOwner); it allocates and frees.
struct LateUser {
  bool active = false;
  ~LateUser() {
    if (!active) return;
    void* p = try_malloc(48)->ptr;
    (void)try_free(p);
    void* q = try_malloc(48)->ptr;
    (void)try_free(q);
  }
};
thread_local LateUser t_late;

// Found (medium): objects allocated in a thread_local destructor that runs
// after the exit flush are lost for good, and the cache's room counters wrap.
// CacheOwner::~CacheOwner (src/process_hold.cpp) sets room to 0 and `exiting`,
// but allocate_slow ignores `exiting`: refill pushes 8 units (room 0 - 8 wraps
// to 65528 in the uint16 counter), and later frees then pass the fast path's
// room check and stay in a cache that nobody flushes again. The hold counts
// those objects live forever (9 here: a run of 8 ... per class touched).
TEST(AttackProcessHold, AllocationsInLateThreadLocalDestructorsAreNotLost) {
  flush_thread_cache();
  const Stats before = process_hold_stats();
  std::thread([] {
    t_late.active = true;  // constructed first: destroyed after CacheOwner
    void* p = try_malloc(48)->ptr;  // arms the cache (registers CacheOwner)
    (void)try_free(p);
  }).join();
  EXPECT_EQ(process_hold_stats().live, before.live);
  EXPECT_EQ(process_hold_stats().bytes_in_use, before.bytes_in_use);
}

// Found (medium, misuse): two threads freeing the same object at once may
// both succeed: process_free's fast path (src/process_hold.cpp) loads the tag and
// stores the flipped one (no CAS), so both push the object into their caches;
// the two lists then share its link word and the process crashes (SIGSEGV in
// ThreadCache::pop under CacheOwner's exit flush, seen within a few rounds).
// A racing double free is the caller's bug, but the contract is "reports a
// double free it sees" and "never a crash". Fixed for checked builds (one CAS on
// the tag); unchecked builds trust the caller, as free() does.
TEST(AttackProcessHold, RacingDoubleFreesAreSeen) {
  if (!SWIM_MEM_CHECKED) GTEST_SKIP() << "unchecked build: a racing double free is undefined, as free()'s";
  std::atomic<int> go{0};
  int both = 0;
  for (int round = 0; round < 2000 && both == 0; ++round) {
    void* p = try_malloc(64)->ptr;
    Error a = Error::none, b = Error::none;
    go.store(0);
    std::thread t1([&] {
      try_free(try_malloc(64)->ptr);  // (arms this thread's cache)
      go.fetch_add(1);
      while (go.load() < 2) {
      }
      a = try_free(p);
    });
    std::thread t2([&] {
      try_free(try_malloc(64)->ptr);
      go.fetch_add(1);
      while (go.load() < 2) {
      }
      b = try_free(p);
    });
    t1.join();
    t2.join();
    if (a == Error::none && b == Error::none) ++both;
  }
  EXPECT_EQ(both, 0) << "a racing double free was accepted twice";
}

// trim_process_hold while nothing else runs, between cycles; objects in this
// thread's cache keep their hunks.
TEST(AttackProcessHold, TrimBetweenCyclesKeepsCachedAndLiveObjects) {
  flush_thread_cache();
  const Stats before = process_hold_stats();
  for (int round = 0; round < 5; ++round) {
    std::vector<void*> got;
    for (int i = 0; i < 2000; ++i) {
      const Result<Block> r = try_malloc(std::size_t(16) + (i * 13) % 2000);
      ASSERT_TRUE(r);
      std::memset(r->ptr, 0x11, 16);
      got.push_back(r->ptr);
    }
    for (std::size_t i = 0; i < got.size(); i += 2) ASSERT_EQ(try_free(got[i]), Error::none);
    (void)trim_process_hold();  // cached and live objects stay
    for (std::size_t i = 1; i < got.size(); i += 2) {
      ASSERT_EQ(*static_cast<unsigned char*>(got[i]), 0x11);
      ASSERT_EQ(try_free(got[i]), Error::none);
    }
    for (std::size_t i = 0; i < got.size(); i += 2) {
      const Result<Block> r = try_malloc(16);  // from the cache, still mapped
      ASSERT_TRUE(r);
      std::memset(r->ptr, 0, r->size);
      ASSERT_EQ(try_free(r->ptr), Error::none);
    }
    flush_thread_cache();
    (void)trim_process_hold();
  }
  EXPECT_EQ(process_hold_stats().live, before.live);
  EXPECT_EQ(process_hold_stats().bytes_in_use, before.bytes_in_use);
}

// ---------------------------------------------------------------------------
// SizeClasses: bad input over small heaps, runs

template <class Hold>
void expect_bad_input_refused(Hold& hold) {
  const Stats before = hold.stats();
  for (std::size_t a : {std::size_t(0), std::size_t(3), std::size_t(24), kMax, Layout::max_align << 1}) {
    const Result<Block> r = hold.try_allocate(Layout{64, a});
    ASSERT_FALSE(r) << a;
    EXPECT_EQ(r.error(), Error::misaligned) << a;
  }
  for (std::size_t n : {kMax, kMax - 7, kMax - 8, kMax - 31, kMax - 32, kMax - 64, kMax / 2}) {
    for (std::size_t a : {std::size_t(1), std::size_t(16), std::size_t(64), std::size_t(4096)}) {
      const Result<Block> r = hold.try_allocate(Layout{n, a});
      ASSERT_FALSE(r) << n << " " << a;
      EXPECT_TRUE(r.error() == Error::oversized || r.error() == Error::out_of_memory ||
                  r.error() == Error::misaligned)
          << n;
    }
  }
  // Foreign and misaligned frees.
  alignas(16) std::uint64_t stack[4] = {0, 0, 0, 0};
  EXPECT_EQ(hold.try_deallocate(Block{&stack[2], 8}), Error::foreign_pointer);
  EXPECT_EQ(hold.try_deallocate(Block{nullptr, 0}), Error::foreign_pointer);
  const Result<Block> r = hold.try_allocate(Layout{100, 16});
  ASSERT_TRUE(r);
  std::memset(r->ptr, 0, r->size);
  auto* c = static_cast<char*>(r->ptr);
  EXPECT_EQ(hold.try_deallocate(Block{c + 3, 8}), Error::foreign_pointer);
  EXPECT_EQ(hold.try_deallocate(Block{c + 16, 8}), Error::foreign_pointer);
  // Larger than the object: refused.
  EXPECT_EQ(hold.try_deallocate(Block{r->ptr, r->size + 1}), Error::foreign_pointer);
  EXPECT_EQ(hold.try_deallocate(Block{r->ptr, kMax}), Error::foreign_pointer);
  EXPECT_EQ(hold.try_deallocate(*r), Error::none);
  EXPECT_EQ(hold.try_deallocate(*r), Error::double_free);
  // A large object: size checks, then double free.
  const Result<Block> big = hold.try_allocate(Layout{Table::max_object + 1, 16});
  if (big) {
    EXPECT_EQ(hold.try_deallocate(Block{big->ptr, big->size + 8}), Error::foreign_pointer);
    EXPECT_EQ(hold.try_deallocate(*big), Error::none);
  }
  // Runs with bad arguments.
  for (auto [k, w] : {std::pair<unsigned, unsigned>{Table::count, 1}, {~0u, 1}, {0, 0}, {0, 65}, {0, ~0u}}) {
    const auto run = hold.try_take_run(k, w);
    ASSERT_FALSE(run) << k << " " << w;
    EXPECT_EQ(run.error(), Error::invalid_argument);
  }
  EXPECT_EQ(hold.stats().live, before.live);
  EXPECT_EQ(hold.stats().bytes_in_use, before.bytes_in_use);
}

TEST(AttackSizeClasses, BadInputOverEveryKindOfHeap) {
  Arena arena(8 << 20);
  ExtentHeap<concurrent> extents(arena.block(), 4096);
  SizeClasses<ExtentHeap<concurrent>, concurrent, true> a(extents);
  expect_bad_input_refused(a);
  Pages pages;
  SizeClasses<Pages, concurrent, true> b(pages);
  expect_bad_input_refused(b);
  SizeClasses<Pages, single_owner, true> c(pages);
  expect_bad_input_refused(c);
  alignas(4096) static unsigned char region[1 << 20];
  SourceHeap<StaticRegion<RegionAccess::host>, concurrent> st(Block{region, sizeof region});
  SizeClasses<SourceHeap<StaticRegion<RegionAccess::host>, concurrent>, concurrent, true> d(st);
  expect_bad_input_refused(d);
}

// Tiny heaps: every class and large objects until out of memory; errors, no
// abort, and the statistics come back exactly.
template <class Heap, class Mode>
void exhaust_and_return(Heap& heap) {
  SizeClasses<Heap, Mode, true> hold(heap);
  for (int round = 0; round < 3; ++round) {
    std::vector<Block> got;
    for (unsigned c = 0; c < Table::count; ++c) {
      for (;;) {
        const Result<Block> r = hold.try_allocate(Table::stride(c) - 8, 16);
        if (!r) {
          // (oversized: the heap can never serve this class's hunk)
          EXPECT_TRUE(r.error() == Error::out_of_memory || r.error() == Error::oversized) << c;
          break;
        }
        got.push_back(*r);
        if (got.size() > 100000) break;
      }
      const auto run = hold.try_take_run(c, 64);
      if (!run) {
        EXPECT_TRUE(run.error() == Error::out_of_memory || run.error() == Error::oversized) << c;
      }
      if (run) {
        for (unsigned i = 0; i < run->count; ++i) got.push_back(decltype(hold)::claim(*run, i));
      }
    }
    for (;;) {
      const Result<Block> r = hold.try_allocate(Table::max_object + 1, 16);
      if (!r) {
        EXPECT_EQ(r.error(), Error::out_of_memory);
        break;
      }
      got.push_back(*r);
    }
    EXPECT_EQ(hold.stats().live, got.size());
    for (const Block& b : got) ASSERT_EQ(hold.try_deallocate(b), Error::none);
    EXPECT_EQ(hold.stats().live, 0u);
    EXPECT_EQ(hold.stats().bytes_in_use, 0u);
    if (round == 1) hold.trim();
  }
}

TEST(AttackSizeClasses, TinyHeapsRunOutWithErrors) {
  {
    Arena arena(256 << 10);
    ExtentHeap<concurrent> heap(arena.block(), 4096);
    exhaust_and_return<ExtentHeap<concurrent>, concurrent>(heap);
  }
  {
    Arena arena(64 << 10);  // one 64 KiB hunk at most, no 256 KiB one
    ExtentHeap<concurrent> heap(arena.block(), 4096);
    exhaust_and_return<ExtentHeap<concurrent>, single_owner>(heap);
  }
  {
    alignas(4096) static unsigned char region[200 << 10];
    SourceHeap<StaticRegion<RegionAccess::host>, concurrent> heap(Block{region, sizeof region});
    SizeClasses<SourceHeap<StaticRegion<RegionAccess::host>, concurrent>, concurrent, true> hold(heap);
    std::size_t n = 0;
    std::vector<Block> got;
    for (;;) {
      const Result<Block> r = hold.try_allocate(8, 16);
      if (!r) {
        EXPECT_EQ(r.error(), Error::out_of_memory);
        break;
      }
      got.push_back(*r);
      ++n;
    }
    for (const Block& b : got) ASSERT_EQ(hold.try_deallocate(b), Error::none);
    EXPECT_EQ(hold.stats().live, 0u);
    EXPECT_EQ(hold.stats().bytes_in_use, 0u);
    EXPECT_GT(n, 0u);
    const Result<Block> big = hold.try_allocate(1 << 20, 16);
    ASSERT_FALSE(big);
    EXPECT_TRUE(big.error() == Error::out_of_memory || big.error() == Error::oversized);
  }
  {
    Arena arena(4096);  // not even one hunk
    ExtentHeap<concurrent> heap(arena.block(), 4096);
    SizeClasses<ExtentHeap<concurrent>> hold(heap);
    const Result<Block> r = hold.try_allocate(16, 16);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error(), Error::out_of_memory);
    const auto run = hold.try_take_run(0, 8);
    ASSERT_FALSE(run);
    EXPECT_EQ(run.error(), Error::out_of_memory);
    EXPECT_EQ(hold.stats().live, 0u);
    EXPECT_EQ(hold.hunk_count(), 0u);
  }
}

// Double frees after retirement, after trim (over a heap whose memory stays
// readable), and of objects of another hold.
TEST(AttackSizeClasses, DoubleFreesAfterRetirementAndTrim) {
  Pages pages;
  SizeClasses<Pages, concurrent, true> hold(pages);
  hold.set_cushion(0, 0);
  std::vector<Block> got;
  for (int i = 0; i < 63 * 4; ++i) got.push_back(*hold.try_allocate(1000, 16));
  for (const Block& b : got) ASSERT_EQ(hold.try_deallocate(b), Error::none);
  EXPECT_GE(hold.retired_hunks(), 3u);
  for (const Block& b : got) {
    const Error e = hold.try_deallocate(b);
    EXPECT_TRUE(e == Error::double_free || e == Error::foreign_pointer) << int(e);
  }
  EXPECT_EQ(hold.stats().live, 0u);
  EXPECT_EQ(hold.stats().bytes_in_use, 0u);
  // Resize of a retired object: an error.
  EXPECT_NE(hold.try_resize(got[0], Layout{10, 16}).error(), Error::none);

  Arena arena(4 << 20);
  ExtentHeap<concurrent> heap(arena.block(), 4096);
  SizeClasses<ExtentHeap<concurrent>, concurrent, true> other(heap);
  std::vector<Block> mine;
  for (int i = 0; i < 200; ++i) mine.push_back(*other.try_allocate(48, 16));
  for (const Block& b : mine) ASSERT_EQ(other.try_deallocate(b), Error::none);
  EXPECT_GT(other.trim(), 0u);
  for (const Block& b : mine) EXPECT_EQ(other.try_deallocate(b), Error::foreign_pointer);
  // Another hold's objects, live and freed.
  const Result<Block> o = other.try_allocate(48, 16);
  ASSERT_TRUE(o);
  EXPECT_EQ(hold.try_deallocate(*o), Error::foreign_pointer);
  EXPECT_EQ(other.try_deallocate(*o), Error::none);
  EXPECT_EQ(hold.try_deallocate(*o), Error::foreign_pointer);
  EXPECT_EQ(other.stats().live, 0u);
}

// ---------------------------------------------------------------------------
// Storms: hunks that empty and refill constantly, retirement racing
// allocations, runs and frees from other threads.

template <class Hold>
void storm(Hold& hold, unsigned threads, unsigned rounds, bool runs) {
  // Objects go between threads through per-thread mailboxes (one slot each).
  constexpr unsigned slots = 256;
  struct Mail {
    std::atomic<void*> slot[slots];
  };
  std::vector<Mail> mail(threads);
  for (auto& m : mail) {
    for (auto& s : m.slot) s.store(nullptr);
  }
  std::atomic<bool> bad{false};
  auto body = [&](unsigned t) {
    std::vector<Block> mine;
    std::uint64_t x = 0x9E3779B97F4A7C15ull * (t + 1);
    for (unsigned r = 0; r < rounds; ++r) {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      const unsigned k = static_cast<unsigned>(x % 3);  // few classes: hunks empty often
      const std::size_t size = k == 0 ? 24 : k == 1 ? 1000 : 3000;
      if (runs && (x >> 8) % 4 == 0) {
        const auto run = hold.try_take_run(Table::of_object(size), 1 + static_cast<unsigned>((x >> 16) % 16));
        if (run) {
          for (unsigned i = 0; i < run->count; ++i) {
            const Block b = Hold::claim(*run, i);
            *static_cast<std::uint64_t*>(b.ptr) = (std::uint64_t(t) << 32) | r;
            mine.push_back(b);
          }
        } else if (run.error() != Error::contended) {
          bad = true;
        }
      } else {
        const Result<Block> b = hold.try_allocate(size, 16);
        if (b) {
          *static_cast<std::uint64_t*>(b->ptr) = (std::uint64_t(t) << 32) | r;
          mine.push_back(*b);
        } else if (b.error() != Error::contended) {
          bad = true;
        }
      }
      // Check ownership, then free most of them, some through other threads.
      if (mine.size() > 48 || (x >> 24) % 8 == 0) {
        for (const Block& b : mine) {
          if ((*static_cast<std::uint64_t*>(b.ptr) >> 32) != t) bad = true;  // handed out twice
          void* old = mail[(t + 1 + (reinterpret_cast<std::uintptr_t>(b.ptr) >> 4) % (threads - 1)) % threads]
                          .slot[(reinterpret_cast<std::uintptr_t>(b.ptr) >> 4) % slots]
                          .exchange(b.ptr);
          if (old != nullptr) {
            Error e = hold.try_deallocate(Block{old, 0});
            while (e == Error::contended) e = hold.try_deallocate(Block{old, 0});
            if (e != Error::none) bad = true;
          }
        }
        mine.clear();
      }
      // Drain some of our own mailbox.
      if ((x >> 32) % 4 == 0) {
        for (auto& s : mail[t].slot) {
          void* p = s.exchange(nullptr);
          if (p != nullptr) {
            *static_cast<std::uint64_t*>(p) = 0;
            Error e = hold.try_deallocate(Block{p, 0});
            while (e == Error::contended) e = hold.try_deallocate(Block{p, 0});
            if (e != Error::none) bad = true;
          }
        }
      }
    }
    for (const Block& b : mine) {
      if (hold.try_deallocate(b) != Error::none) bad = true;
    }
  };
  std::vector<std::thread> ts;
  for (unsigned t = 0; t < threads; ++t) ts.emplace_back(body, t);
  for (auto& th : ts) th.join();
  for (auto& m : mail) {
    for (auto& s : m.slot) {
      void* p = s.exchange(nullptr);
      if (p != nullptr) {
        EXPECT_EQ(hold.try_deallocate(Block{p, 0}), Error::none);
      }
    }
  }
  EXPECT_FALSE(bad.load());
  EXPECT_EQ(hold.stats().live, 0u);
  EXPECT_EQ(hold.stats().bytes_in_use, 0u);
  EXPECT_LE(hold.cushion_bytes(), hold.reserved_bytes());
}

#if defined(__SANITIZE_THREAD__) || defined(__SANITIZE_ADDRESS__)
constexpr unsigned kRounds = 20000;
#else
constexpr unsigned kRounds = 100000;
#endif

TEST(AttackSizeClasses, StormOverPagesThatRetireWithNoCushion) {
  Pages pages;
  SizeClasses<Pages, concurrent, true> hold(pages);
  hold.set_cushion(0, 0);
  storm(hold, 4, kRounds, true);
  EXPECT_GT(hold.retired_hunks(), 0u);
  // Afterwards, a single thread still gets distinct, writable objects.
  std::set<void*> seen;
  std::vector<Block> got;
  for (int i = 0; i < 3000; ++i) {
    const Result<Block> r = hold.try_allocate(1000, 16);
    ASSERT_TRUE(r);
    std::memset(r->ptr, 0x3C, r->size);
    ASSERT_TRUE(seen.insert(r->ptr).second);
    got.push_back(*r);
  }
  for (const Block& b : got) ASSERT_EQ(hold.try_deallocate(b), Error::none);
  EXPECT_EQ(hold.stats().live, 0u);
  hold.trim();
  EXPECT_EQ(hold.hunk_count(), 0u) << "every hunk is empty, trim gives all back";
}

TEST(AttackSizeClasses, StormOverPagesUnchecked) {
  Pages pages;
  SizeClasses<Pages, concurrent, false> hold(pages);
  hold.set_cushion(64 << 10, 0);
  storm(hold, 3, kRounds, true);
}

TEST(AttackSizeClasses, StormOverAHeapThatCannotDiscard) {
  Arena arena(32 << 20);
  ExtentHeap<concurrent> heap(arena.block(), 4096);
  SizeClasses<ExtentHeap<concurrent>, concurrent, true> hold(heap);
  ASSERT_FALSE(hold.retires_hunks());
  storm(hold, 4, kRounds, true);
  EXPECT_EQ(hold.retired_hunks(), 0u);
}

// At rest, every empty hunk must be findable again: on its class's partial
// stack, or its class's current hunk (at most one per class). A hunk neither is
// never reused (only trim() finds it).
template <class Hold>
std::map<unsigned, unsigned> lost_hunks(Hold& hold, const std::set<Hunk*>& hunks) {
  std::map<unsigned, unsigned> unlisted;  // class -> empty unlisted hunks
  for (Hunk* h : hunks) {
    if (h->live.raw == 0 && (h->flags.raw & Hunk::listed_flag) == 0) ++unlisted[h->klass];
  }
  (void)hold;
  return unlisted;
}

// Found (medium, a race; intermittent, failed in 3 of 6 runs here): a hunk can be retired just after another
// thread popped it from the partial stack and made it current. Then an
// allocation that announced on it sees `retiring`, withdraws and advance()
// replaces it; advance lists the old hunk only when its free stack is
// non-empty, but a retired hunk has an empty stack and fresh == 0, so the
// hunk is neither current nor listed: it is never used again until trim()
// (its header page stays resident, its 64 KiB stay reserved). Seen here as
// more than one empty, unlisted hunk in one class once everything is freed
// (14 of 18 hunks in one run). The process hold (over OsPages) retires, so it is
// exposed. A fix: advance() should also list the old hunk when fresh < count.
TEST(AttackSizeClasses, NoEmptyHunkIsLostAfterARetirementStorm) {
  Pages pages;
  SizeClasses<Pages, concurrent, true> hold(pages);
  hold.set_cushion(0, 0);
  std::set<Hunk*> hunks;
  std::mutex mu;
  std::vector<std::size_t> hunk_counts;  // after each phase: grows while hunks are lost
  for (int phase = 0; phase < 4; ++phase) {
  std::vector<std::thread> ts;
  for (unsigned t = 0; t < 4; ++t) {
    ts.emplace_back([&] {
      std::set<Hunk*> seen;
      std::vector<Block> mine;
      for (unsigned r = 0; r < kRounds; ++r) {
        const Result<Block> b = hold.try_allocate(3000, 16);  // stride 3072: 21 units a hunk
        if (b) {
          seen.insert(hunk_of(b->ptr));
          mine.push_back(*b);
        }
        if (mine.size() >= 30) {
          for (const Block& m : mine) (void)hold.try_deallocate(m);
          mine.clear();
        }
      }
      for (const Block& m : mine) (void)hold.try_deallocate(m);
      std::lock_guard<std::mutex> g(mu);
      hunks.insert(seen.begin(), seen.end());
    });
  }
  for (auto& th : ts) th.join();
  hunk_counts.push_back(hold.hunk_count());
  }
  EXPECT_EQ(hold.stats().live, 0u);
  for (std::size_t i = 0; i < hunk_counts.size(); ++i) std::printf("hunks after phase %zu: %zu\n", i, hunk_counts[i]);
  for (auto [klass, n] : lost_hunks(hold, hunks)) {
    EXPECT_LE(n, 1u) << "class " << klass << ": " << n << " empty hunks neither listed nor (all) current; "
                     << hold.hunk_count() << " hunks, " << hold.retired_hunks() << " retirements";
  }
}

// single_owner over pages that discard: hunks empty and refill in one thread,
// runs in between, the statistics exact.
TEST(AttackSizeClasses, SingleOwnerRetiresAndRefillsExactly) {
  Pages pages;
  SizeClasses<Pages, single_owner, true> hold(pages);
  hold.set_cushion(0, 0);
  std::vector<Block> got;
  for (int cycle = 0; cycle < 20; ++cycle) {
    for (int i = 0; i < 63 * 3; ++i) got.push_back(*hold.try_allocate(1000, 16));
    const auto run = hold.try_take_run(Table::of_object(1000), 64);
    ASSERT_TRUE(run);
    for (unsigned i = 0; i < run->count; ++i) {
      const Block b = decltype(hold)::claim(*run, i);
      std::memset(b.ptr, 0x77, b.size);
      got.push_back(b);
    }
    std::set<void*> distinct;
    for (const Block& b : got) ASSERT_TRUE(distinct.insert(b.ptr).second);
    EXPECT_EQ(hold.stats().live, got.size());
    EXPECT_EQ(hold.stats().bytes_in_use, got.size() * 1016);
    for (const Block& b : got) ASSERT_EQ(hold.try_deallocate(b), Error::none);
    got.clear();
    EXPECT_EQ(hold.stats().live, 0u);
    EXPECT_EQ(hold.stats().bytes_in_use, 0u);
  }
  EXPECT_GT(hold.retired_hunks(), 0u);
  EXPECT_LE(hold.hunk_count(), 6u) << "retired hunks are reused";
}

// try_malloc storms: cross-thread frees, threads that come and go.
TEST(AttackProcessHold, StormOfShortLivedThreads) {
  flush_thread_cache();
  const Stats before = process_hold_stats();
  std::atomic<void*> box[64];
  for (auto& b : box) b.store(nullptr);
  std::atomic<bool> bad{false};
  for (int wave = 0; wave < 10; ++wave) {
    std::vector<std::thread> ts;
    for (int t = 0; t < 4; ++t) {
      ts.emplace_back([&, t] {
        std::uint64_t x = 0x2545F4914F6CDD1Dull * (wave * 4 + t + 1);
        for (int i = 0; i < 3000; ++i) {
          x ^= x << 13;
          x ^= x >> 7;
          x ^= x << 17;
          const std::size_t n = (x & 1) ? (x >> 8) % 1100 : (x >> 8) % 40000;
          const Result<Block> r = try_malloc(n);
          if (!r) {
            bad = true;
            continue;
          }
          *static_cast<unsigned char*>(r->ptr) = 1;
          void* old = box[(x >> 40) % 64].exchange(r->ptr);
          if (old != nullptr && try_free(old) != Error::none) bad = true;
          if (i % 500 == 0) flush_thread_cache();
        }
      });
    }
    for (auto& th : ts) th.join();
  }
  for (auto& b : box) {
    void* p = b.exchange(nullptr);
    if (p != nullptr) {
      EXPECT_EQ(try_free(p), Error::none);
    }
  }
  flush_thread_cache();
  EXPECT_FALSE(bad.load());
  EXPECT_EQ(process_hold_stats().live, before.live);
  EXPECT_EQ(process_hold_stats().bytes_in_use, before.bytes_in_use);
}

}  // namespace
}  // namespace swim::mem::testing
